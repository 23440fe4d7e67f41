/* One DPDK mbuf per cache slot, so that a zero-copy DATA is two mbufs' worth of work less: the
 * header mbuf of each datagram is chained to the slot's own mbuf (one more reference on it)
 * instead of to a freshly allocated external-buffer mbuf with its shared info and free callback.
 *
 * The slot's mbuf is built by lib/cache's slot_filled hook when a chunk lands in the slot (after
 * its bytes are written, before the index publishes it: a worker that finds the chunk finds the
 * mbuf ready), and the cache holds one reference on it for good. A datagram adds one (lib/net,
 * net_payload.seg); the NIC's free drops it. lib/cache's slot_busy hook keeps a removed or evicted
 * slot from being reused while any datagram still holds its mbuf (a count above 1). The mbufs
 * never go back to a mempool: their pool exists only to give them one. */
#ifndef CACHERD_SLOT_MBUF_H
#define CACHERD_SLOT_MBUF_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "cache.h"
#include "slot_sum.h"

struct cacherd_slots {
	struct rte_mbuf *m; /* n, one per cache slot (lib/cache's slot numbers) */
	uint32_t n;
	struct rte_mempool *pool;
	/* the cache region's IOVA: base + offset when linear, else looked up at each fill */
	const uint8_t *region;
	rte_iova_t iova_base;
	bool iova_linear;
	uint64_t built, refilled;
};

/* n: the cache's slot count (every class). NULL and errno on failure. */
struct cacherd_slots *cacherd_slots_create(uint32_t n, int socket_id);
void cacherd_slots_destroy(struct cacherd_slots *s);
/* Before cache_create: the hooks into cc (hook_ctx = s). */
void cacherd_slots_hook(struct cacherd_slots *s, struct cache_conf *cc);
/* The region's IOVA (before the first insert; until then, fills look it up). */
void cacherd_slots_set_iova(struct cacherd_slots *s, const void *region, rte_iova_t iova_base,
			    bool linear);

/* The slot's mbuf, or NULL when the slot has none yet (then: an external-buffer mbuf). */
static inline struct rte_mbuf *cacherd_slot_mbuf(const struct cacherd_slots *s, uint32_t slot)
{
	if (!s || slot >= s->n || !s->m[slot].buf_addr)
		return NULL;
	return &s->m[slot];
}

#endif
