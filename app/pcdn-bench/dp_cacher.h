/* The cacher side of the data-plane bench: one swarm pinned in lib/cache (its memory a DPDK
 * memzone), and per worker lcore pcdn-cacherd's own worker code: a lib/net worker, a lib/ppspp
 * engine attached through app/pcdn-cacherd/ppspp_glue.c, chunks served zero-copy from the cache
 * (lookup under QSBR, cache_ref for the NIC, cache_unref when the mbuf is freed). */
#ifndef PCDN_BENCH_DP_CACHER_H
#define PCDN_BENCH_DP_CACHER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_memzone.h>

#include "cache.h"
#include "net.h"
#include "ppspp.h"
#include "ppspp_glue.h"

struct dp_swarm_conf {
	uint64_t content_len;
	uint32_t chunk_size;
	uint8_t hash_fn;
	uint64_t seed;
};

struct dp_cacher;

/* Per worker lcore; written by the worker, read by the main lcore for statistics. */
struct dp_worker {
	struct dp_cacher *dc;
	unsigned idx;
	struct cacherd_ppspp g;
	struct cache_reader *reader;
	struct ppspp_merkle *tree; /* imported from the cache's swarm metadata */
	struct ppspp_storage st;
	volatile pid_t tid;
	/* ns of iterations that received or sent (wall, preemption included) and of idle
	 * iterations (preempted ones left out) */
	volatile uint64_t busy_ns, idle_ns, loops;
	volatile int state; /* 0 starting, 1 running, 2 done, <0 set-up error */
} __attribute__((aligned(64)));

struct dp_cacher {
	struct cache *cache;
	const struct rte_memzone *mz;
	cache_swarm_t swarm;
	uint64_t chunks;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	size_t root_len;
	struct net_dataplane *dp;
	unsigned n_workers;
	unsigned max_channels;
	uint16_t ppspp_port;
	struct dp_worker w[NET_MAX_WORKERS];
};

/* Builds the swarm from conf (content from the seed, Merkle tree, every chunk inserted and
 * pinned; the exported tree is the swarm's metadata blob). Main lcore. */
int dp_cacher_create(struct dp_cacher *dc, const struct dp_swarm_conf *conf, unsigned max_readers);
/* The root hash alone (a client process of the two-process set-up): same content, same tree. */
int dp_swarm_root(const struct dp_swarm_conf *conf, uint8_t *root, size_t *root_len);
/* Workers: dc->dp must be started; lcore entry takes a struct dp_worker. */
int dp_cacher_worker_main(void *arg);
void dp_cacher_destroy(struct dp_cacher *dc);

/* Thread CPU time (ns) from /proc/self/task/TID/schedstat; 0 if unknown. */
uint64_t dp_thread_cpu_ns(pid_t tid);

#endif
