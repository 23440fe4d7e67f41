/* lib/net private types shared by dataplane.c (control path) and worker.c (data path). */
#ifndef NET_INTERNAL_H
#define NET_INTERNAL_H

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "net_dataplane.h"

#define NET_TXBUF    64	  /* datagrams handed to the PMD per burst */
#define NET_TX_HOLD  4096 /* default net_dataplane_config.tx_hold */
#define NET_TIMER_NS (50ull * 1000 * 1000) /* neighbour timers */

/* A neighbour learned by one worker, told to the others. */
struct net_neigh_share {
	uint8_t port_idx;
	uint8_t create;
	uint8_t mac[NET_ETH_ALEN];
	struct net_ipaddr ip;
	uint8_t pad[3];
};

/* Private area of an external-payload mbuf, used when the shared info cannot be in the mbuf's
 * dynamic fields (no room, or more release pairs than NET_REL_MAX): the DPDK shared info (valid
 * until the mbuf is detached, after the callback) and the caller's release callback. */
struct net_ext_priv {
	struct rte_mbuf_ext_shared_info sh;
	void (*release)(void *release_ctx, void *ref);
	void *release_ctx;
	void *ref;
};

/* A payload release callback and its context, bound to one shared-info free callback: the
 * shared info then needs only the payload's ref (as fcb_opaque) and fits in the mbuf's dynamic
 * field area. Entries are never removed (process-wide, published by `ready`). */
#define NET_REL_MAX 8
struct net_rel {
	void (*fn)(void *release_ctx, void *ref);
	void *ctx;
	uint32_t ready;
};

/* Fresh mbufs taken from a pool in bulk (one mempool-cache access per NET_MSTASH datagrams,
 * the next one's header prefetched while the current one is written). */
#define NET_MSTASH 32
struct net_mstash {
	uint16_t n, next;
	struct rte_mbuf *m[NET_MSTASH];
};

/* A worker's datagrams for one port, a ring oldest first from head: the first `held` are what
 * the PMD's queue could not take at the last flush (kept for the next one, never dropped while
 * there is room); a flush is due once NET_TXBUF more have come. len[] keeps each frame's length
 * from when it was queued: what the PMD took may already be freed on its core, and what it
 * refused is not read again for the byte count. */
struct net_txbuf {
	uint16_t head, n, held, cap;
	struct rte_mbuf **m; /* cap entries (dp->cfg.tx_hold) */
	uint16_t *len;	     /* cap entries */
};

struct net_worker {
	struct net_counters ctr; /* first: cache-line aligned, written by this worker only */
	struct net_dataplane *dp;
	unsigned idx;
	uint16_t ip_id;
	net_udp_hook_fn udp_hook;
	void *udp_ctx;
	net_loop_hook_fn loop_hook;
	void *loop_ctx;
	uint64_t next_timer_ns;
	uint64_t now_ns;		/* start of the current poll iteration */
	bool in_poll;			/* inside net_worker_poll: now_ns is the clock */
	struct rte_ring *dispatch_ring; /* mbufs of this worker's flows, from worker 0 */
	struct rte_ring *share_ring;	/* struct net_neigh_share from other workers */
	struct net_neigh_table *neigh[NET_MAX_PORTS];
	struct net_txbuf tx[NET_MAX_PORTS];
	void *tx_mem; /* the ports' holds: NET_MAX_PORTS * cfg.tx_hold mbufs, then their lengths */
	struct net_mstash hdr_stash;	/* from dp->hdr_pool: datagram headers */
	struct net_mstash ext_stash;	/* from dp->ext_pool: zero-copy payloads */
	const struct net_rel *rel_last; /* the release pair of the last payload (NULL: none yet) */
} __rte_cache_aligned;

struct net_port {
	struct net_port_info info;
	uint16_t mtu;
	uint64_t tx_offloads;
};

struct net_dataplane {
	struct net_dataplane_config cfg;
	struct rte_mempool *pool;     /* packet mbufs */
	struct rte_mempool *hdr_pool; /* TX header mbufs: frame right after the mbuf, no headroom */
	struct rte_mempool *ext_pool; /* mbufs for external payloads; shinfo in the private area */
	/* Offset of an external mbuf's shared info in its dynamic fields (the mbuf's second line,
	 * read at free anyway), or -1: in the private area (a third line). */
	int ext_shinfo_off;
	unsigned n_ports;
	struct net_port ports[NET_MAX_PORTS];
	int8_t port_idx[RTE_MAX_ETHPORTS]; /* ethdev port id -> index in ports, -1 if not ours */
	bool started;
	uint32_t stop;
	double ns_per_tsc;
	struct net_worker *workers; /* n_workers, cache-line aligned */
};

uint64_t net_now_ns(const struct net_dataplane *dp);

#endif
