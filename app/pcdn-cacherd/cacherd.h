/* pcdn-cacherd's context: what the control thread (main lcore, a libevent loop) and the workers
 * (poll-mode lcores) share, and the seams between the daemon's files.
 *
 * Threads and ownership
 * - The control thread owns everything in struct cacherd except the workers' engines: it is the
 *   cache's one writer, owns the swarm table, the upstream client (a lib/ppspp engine on kernel
 *   UDP sockets), the fetch table and every libevent event. The operator surface (ctl_*.c) runs
 *   on that same thread, inside d->base: it may read anything here without locks.
 * - A worker owns its struct cacherd_worker's engine, glue, pending table and counters. The
 *   control thread talks to it only through rings (miss_ring: worker -> control, fill_ring:
 *   control -> worker); readers of its counters (stats, telemetry, CLI) load them relaxed.
 * - A swarm in d->swarms[] is published to the workers (state CACHERD_SWARM_READY, a message on
 *   every fill_ring) only after its fixed fields and its tree's peaks and chunk count are set;
 *   from then on workers read the tree's verified nodes while the control thread keeps verifying
 *   more (ppspp_merkle.h: one writer, concurrent readers of verified nodes). Swarms are never
 *   removed while the daemon runs (the trees stay valid for the workers until shutdown).
 *
 * The operator surface plugs in through cacherd_ctl_start/stop (ctl_main.c, built when present:
 * CACHERD_HAVE_CTL). */
#ifndef CACHERD_H
#define CACHERD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "cache.h"
#include "cacherd_config.h"
#include "net.h"
#include "ppspp.h"
#include "ppspp_glue.h"
#include "slot_mbuf.h"

struct event_base;
struct event;
struct udp_io;

/* ---- per-worker serving counters ------------------------------------------------------------ *
 * One X-macro list: names, enum and strings never drift apart. Summed on read. */
#define CACHERD_FOREACH_SERVE_COUNTER(X)                                                           \
	X(hits)			 /* get_chunk found the chunk in the cache */                      \
	X(misses)		 /* get_chunk did not: a miss went to the control thread */        \
	X(fills_ok)		 /* fill-done: the chunk arrived, waiting requests served */       \
	X(fills_failed)		 /* fill-done: it will not (timeout, upstream gone, cache full) */ \
	X(unknown_swarms)	 /* handshakes for a swarm not served yet, reported */             \
	X(swarms_added)		 /* swarms published to this worker */                             \
	X(chokes)		 /* peers choked: over the per-worker peer budget */               \
	X(unchokes)		 /* choked peers let in when others left */                        \
	X(drop_miss_ring_full)	 /* a miss not reported (ring full): the request is dropped */     \
	X(drop_report_ring_full) /* an unknown swarm not reported (ring full) */                   \
	X(drop_swarm_add) /* a published swarm the engine refused (its swarm table is full) */     \
	X(drop_no_swarm)  /* a miss or fill for a swarm this worker does not serve */              \
	X(drop_draining)  /* a handshake refused while draining */

enum cacherd_serve_counter {
#define CACHERD_CTR_ENUM(name) CACHERD_CTR_##name,
	CACHERD_FOREACH_SERVE_COUNTER(CACHERD_CTR_ENUM)
#undef CACHERD_CTR_ENUM
	    CACHERD_CTR_MAX
};
const char *cacherd_serve_counter_name(unsigned i);

struct cacherd_serve_counters {
	uint64_t ctr[CACHERD_CTR_MAX];
} __attribute__((aligned(64)));

/* ---- rings ---------------------------------------------------------------------------------- */

enum cacherd_msg_type {
	CACHERD_MSG_MISS = 1,	   /* worker -> control: (swarm, chunk) not in the cache */
	CACHERD_MSG_UNKNOWN_SWARM, /* worker -> control: a handshake named a swarm not served */
	CACHERD_MSG_FILL,	   /* control -> worker: (swarm, chunk) arrived (ok) or will not */
	CACHERD_MSG_SWARM,	   /* control -> worker: serve d->swarms[swarm] from now on */
	CACHERD_MSG_DRAIN,	   /* control -> worker: close every channel politely */
};

/* worker -> control (miss_ring element) */
struct cacherd_up_msg {
	uint32_t type;
	uint32_t swarm; /* index in d->swarms (MISS) */
	uint64_t chunk;
	/* UNKNOWN_SWARM: the handshake's options (present: PPSPP_OPT_BIT of each given) */
	uint32_t present;
	uint32_t chunk_size;
	uint8_t hash_fn;
	uint8_t cam;
	uint8_t id_len;
	uint8_t pad;
	uint8_t id[PPSPP_HASH_MAX_LEN];
};

/* control -> worker (fill_ring element) */
struct cacherd_down_msg {
	uint32_t type;
	uint32_t swarm;
	uint64_t chunk;
	uint32_t ok;
	uint32_t pad;
};

/* ---- swarms (control thread's table, published read-only to workers) ------------------------ */

#define CACHERD_MAX_SWARMS 1024 /* upper bound of serve.max_swarms */

enum cacherd_swarm_state {
	CACHERD_SWARM_FREE = 0,
	CACHERD_SWARM_PEAKS,  /* created on a worker's report: fetching the peaks upstream */
	CACHERD_SWARM_READY,  /* peaks known, published to the workers */
	CACHERD_SWARM_FAILED, /* no upstream answered in time; retried on the next report */
};
const char *cacherd_swarm_state_name(int state);

struct cacherd;

struct cacherd_swarm {
	struct cacherd *d;
	int state; /* enum cacherd_swarm_state */
	uint8_t id[PPSPP_HASH_MAX_LEN];
	uint8_t id_len;
	uint8_t hash_fn;
	uint8_t cam; /* chunk addressing of the upstream channels */
	uint32_t chunk_size;
	uint64_t chunk_count; /* set before READY */
	cache_swarm_t cache_swarm;
	struct ppspp_merkle *tree; /* the control thread verifies into it; workers read */
	int up_swarm;		   /* index in the upstream engine, -1 when none */
	uint64_t created_us, state_us;
	uint64_t fetched;     /* chunks inserted from upstream */
	uint64_t misses;      /* misses reported for it (all workers) */
	unsigned up_channels; /* upstream channels open for it */
	bool background;      /* whole-swarm fill running */
};

/* ---- fetches: misses collapsed into one upstream request each ------------------------------- */

struct cacherd_fetch {
	bool used;
	uint32_t swarm;
	uint64_t chunk;
	uint64_t deadline_us;
	uint32_t waiters; /* bit w: worker w waits for it */
};

/* ---- workers -------------------------------------------------------------------------------- */

struct cacherd;
struct cacherd_worker;

/* The storage context of one swarm on one worker (ppspp_storage.ctx). */
struct cacherd_serve_swarm {
	struct cacherd_worker *wk;
	uint32_t swarm; /* d->swarms index */
	cache_swarm_t cache_swarm;
};

struct cacherd_worker {
	struct cacherd *d;
	unsigned index;
	unsigned lcore;
	struct net_worker *w;
	struct cacherd_ppspp glue;
	struct ppspp_engine *engine;
	struct cache_reader *reader;	   /* registered on the worker's own lcore */
	struct rte_ring *miss_ring;	   /* SP/SC, struct cacherd_up_msg */
	struct rte_ring *fill_ring;	   /* SP/SC, struct cacherd_down_msg */
	struct cacherd_serve_swarm *slots; /* serve.max_swarms, by d->swarms index */
	int16_t *engine_swarm; /* d->swarms index -> engine swarm index (-1: not served) */
	uint8_t *chan_state;   /* per engine channel: 0 not up, 1 up, 2 up and choked */
	struct cacherd_serve_counters ctr;
	uint32_t peers_up; /* established channels */
	uint32_t peers_choked;
	bool drained; /* DRAIN handled (written by the worker, read by control) */
	uint64_t last_qs_ns; /* loop clock of the last quiescent state */
};

/* ---- the daemon ----------------------------------------------------------------------------- */

struct cacherd_upstream {
	struct ppspp_peer_addr addr;
	char text[64];
};

struct cacherd {
	struct cacherd_config *conf;
	const char *config_path;
	const char *stats_file;
	unsigned stats_interval_ms;
	uint64_t start_ms;

	struct net_dataplane *dp;
	struct cache *cache;
	rte_iova_t cache_iova_base; /* IOVA of cache_region_base() */
	bool cache_iova_linear;	    /* the region is IOVA-contiguous (else net_payload_iova) */
	struct cacherd_slots *slots; /* one mbuf per cache slot (slot_mbuf.h); NULL: ext mbufs */

	unsigned n_workers;
	struct cacherd_worker workers[CACHERD_MAX_WORKERS];

	/* swarm table; n_swarms = slots ever used (each is FREE or not) */
	struct cacherd_swarm *swarms; /* conf->serve_max_swarms entries */
	unsigned n_swarms;

	/* upstream client (control thread) */
	unsigned n_upstreams;
	struct cacherd_upstream upstreams[CACHERD_MAX_UPSTREAMS];
	struct ppspp_engine *up;
	struct udp_io *up_io;
	struct event *up_read_ev, *up_timer_ev;
	uint64_t up_next_us;
	int32_t *up_to_swarm; /* upstream engine swarm index -> d->swarms index */

	struct cacherd_fetch *fetches; /* conf->fill_max_outstanding */
	unsigned n_fetches;
	uint64_t fetch_started, fetch_done, fetch_failed, fetch_timeouts, fetch_busy;
	uint64_t fetch_collapsed, insert_errors, swarm_failures;
	uint64_t fetch_readahead; /* chunks asked upstream ahead of a miss */

	/* control thread */
	struct event_base *base;
	struct event *sig_int_ev, *sig_term_ev, *poll_ev, *stats_ev;
	int stop_signal;
	/* Set by the control thread when shutting down (or by the CLI's drain); workers read it
	 * relaxed and answer no new handshake (serve.drop_draining), established channels are
	 * still served. At shutdown a DRAIN message then makes them close every channel. */
	atomic_bool draining;
	void *ctl; /* the operator surface's own state (ctl_main.c) */
};

/* Operator surface (ctl_main.c): started on the control thread once workers run and d->base
 * exists, stopped before the loop's resources go. 0 or a negative errno (start failure is logged
 * and the daemon runs without it). */
int cacherd_ctl_start(struct cacherd *d);
void cacherd_ctl_stop(struct cacherd *d);

/* serve.c (worker side) */
int cacherd_workers_create(struct cacherd *d);	 /* engines, glues, rings (before launch) */
int cacherd_worker_main(void *arg);		 /* lcore entry, arg: struct cacherd_worker */
void cacherd_workers_destroy(struct cacherd *d); /* after the workers returned */
/* Sum of the workers' serving counters; per (n_workers entries) may be NULL. */
void cacherd_serve_counters(const struct cacherd *d, struct cacherd_serve_counters *sum,
			    struct cacherd_serve_counters *per);
/* Sum of the workers' engine counters; per may be NULL. */
void cacherd_engine_counters(const struct cacherd *d, struct ppspp_engine_counters *sum,
			     struct ppspp_engine_counters *per);

/* fill.c (control thread): upstream client, swarm table, misses */
int cacherd_fill_start(struct cacherd *d);
/* Drains the workers' miss rings and times out fetches; called from the control loop. */
void cacherd_fill_poll(struct cacherd *d, uint64_t now_us);
/* Fetches every chunk of a READY swarm (with an upstream swarm and upstream peers) that is not
 * in the cache; *missing: how many were missing. 0 or a negative errno. */
int cacherd_fill_prefetch(struct cacherd *d, struct cacherd_swarm *sw, uint64_t *missing);
void cacherd_fill_stop(struct cacherd *d);
/* Finds a swarm by ID; index or -1. */
int cacherd_swarm_find(const struct cacherd *d, const uint8_t *id, size_t id_len);

static inline uint64_t cacherd_serve_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

#endif
