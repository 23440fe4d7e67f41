/* The cacher side of the data-plane bench: one swarm pinned in lib/cache (its memory a DPDK
 * memzone), published to pcdn-cacherd's own workers (app/pcdn-cacherd/serve.c, compiled from
 * there: per-worker lib/ppspp engine on a lib/net worker through ppspp_glue.c, chunks served
 * zero-copy from the cache under QSBR, cache_ref for the NIC, cache_unref when the mbuf is
 * freed). The bench replaces only the daemon's control thread and its lcore entry (to count
 * busy and idle iterations). */
#ifndef PCDN_BENCH_DP_CACHER_H
#define PCDN_BENCH_DP_CACHER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_memzone.h>

#include "cache.h"
#include "cacherd.h"
#include "net.h"
#include "ppspp.h"

struct dp_swarm_conf {
	uint64_t content_len;
	uint32_t chunk_size;
	uint8_t hash_fn;
	uint64_t seed;
	/* lib/cache's slot headroom, as pcdn-cacherd's cache.slot_headroom (0: every DATA is a
	 * header mbuf chained to the slot's mbuf) */
	uint16_t slot_headroom;
};

struct dp_cacher;

/* Per worker lcore; written by the worker, read by the main lcore for statistics. */
struct dp_worker {
	struct dp_cacher *dc;
	unsigned idx;
	struct cacherd_worker *wk; /* the daemon's worker */
	/* frames the far end of a net_ring read and hands back: freed here, on the worker's lcore,
	 * as a NIC PMD frees completed TX mbufs in tx_burst (NULL: the far end frees them) */
	struct rte_ring *done;
	volatile pid_t tid;
	/* ns of iterations that received or sent (wall, preemption included) and of idle
	 * iterations (preempted ones left out) */
	volatile uint64_t busy_ns, idle_ns, loops;
	/* busy iterations under 2 ms (not preempted) and the DATA they sent */
	volatile uint64_t clean_busy_ns, clean_busy_data;
	volatile int state; /* 0 starting, 1 running, 2 done, <0 set-up error */
} __attribute__((aligned(64)));

struct dp_cacher {
	struct cache *cache;
	struct cacherd_slots *slots;
	const struct rte_memzone *mz;
	cache_swarm_t swarm;
	uint64_t chunks;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	size_t root_len;
	struct ppspp_merkle *tree; /* the "control thread's" tree, read by the workers */
	struct net_dataplane *dp;
	unsigned n_workers;
	unsigned max_channels;
	uint16_t ppspp_port;
	struct cacherd_config conf;
	struct cacherd *d;
	struct dp_worker w[NET_MAX_WORKERS];
};

/* Builds the swarm from conf (content from the seed, Merkle tree, every chunk inserted and
 * pinned; the exported tree is the swarm's metadata blob). Main lcore. */
int dp_cacher_create(struct dp_cacher *dc, const struct dp_swarm_conf *conf, unsigned max_readers);
/* The root hash alone (a client process of the two-process set-up): same content, same tree. */
int dp_swarm_root(const struct dp_swarm_conf *conf, uint8_t *root, size_t *root_len);
/* The daemon's workers on dc->dp (created, not started yet), the swarm published to them. */
int dp_cacher_workers(struct dp_cacher *dc, const unsigned *lcores);
/* Lcore entry, arg: struct dp_worker (dc->dp started). */
int dp_cacher_worker_main(void *arg);
struct ppspp_engine *dp_cacher_engine(const struct dp_cacher *dc, unsigned i);
void dp_cacher_destroy(struct dp_cacher *dc);

/* Thread CPU time (ns) from /proc/self/task/TID/schedstat; 0 if unknown. */
uint64_t dp_thread_cpu_ns(pid_t tid);

#endif
