/* One DPDK mbuf per cache slot, so that a zero-copy DATA is two mbufs' worth of work less: the
 * header mbuf of each datagram is chained to the slot's own mbuf (one more reference on it)
 * instead of to a freshly allocated external-buffer mbuf with its shared info and free callback.
 *
 * The slot's mbuf is built by lib/cache's slot_filled hook when a chunk lands in the slot (after
 * its bytes are written, before the index publishes it: a worker that finds the chunk finds the
 * mbuf ready), and the cache holds one reference on it for good. A datagram adds one (lib/net,
 * net_payload.seg); the NIC's free drops it. lib/cache's slot_busy hook keeps a removed or evicted
 * slot from being reused while any datagram still holds its mbuf (a count above 1). The mbufs
 * never go back to a mempool: their pool exists only to give them one.
 *
 * With lib/cache's slot headroom (cache_conf.slot_headroom), each slot has a second mbuf, its
 * frame view: the same payload with the headroom in front of it, for a DATA sent in place as one
 * segment (net_payload.frame: lib/net writes the headers into the headroom and sends the frame
 * view alone). One datagram at a time holds it (lib/net claims it by moving its count from 1 to
 * 2); the slot's mbuf stays what concurrent datagrams of the same chunk chain. slot_busy counts
 * both. */
#ifndef CACHERD_SLOT_MBUF_H
#define CACHERD_SLOT_MBUF_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "cache.h"
#include "slot_sum.h"

struct cacherd_slots {
	struct rte_mbuf *m; /* n, one per cache slot (lib/cache's slot numbers) */
	struct rte_mbuf *f; /* n frame views when headroom, else NULL */
	uint32_t n;
	uint16_t headroom; /* lib/cache's slot headroom, bytes in front of each slot's data */
	struct rte_mempool *pool;
	/* the cache region's IOVA: base + offset when linear, else looked up at each fill */
	const uint8_t *region;
	rte_iova_t iova_base;
	bool iova_linear;
	uint64_t built, refilled;
	uint64_t frames_built; /* frame views made (fewer than built: a slot whose headroom is not
				* IOVA-contiguous with its payload has none) */
};

/* n: the cache's slot count (every class); headroom: the cache's slot_headroom (0: no frame
 * views). NULL and errno on failure. */
struct cacherd_slots *cacherd_slots_create(uint32_t n, uint16_t headroom, int socket_id);
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

/* The slot's frame view, or NULL (no headroom, or none for this slot); *seg is then set to the
 * slot's mbuf, which is ready whenever its frame view is (built first), without reading it: a
 * DATA sent in place never touches the slot mbuf's lines. *room: the headroom. */
static inline struct rte_mbuf *cacherd_slot_frame(const struct cacherd_slots *s, uint32_t slot,
						  struct rte_mbuf **seg, uint16_t *room)
{
	if (!s || !s->f || slot >= s->n || !s->f[slot].buf_addr)
		return NULL;
	*seg = &s->m[slot];
	*room = s->headroom;
	return &s->f[slot];
}

#endif
