/* Per-slot mbufs for zero-copy DATA; see slot_mbuf.h. */
#include "slot_mbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "net.h"

struct cacherd_slots *cacherd_slots_create(uint32_t n, uint16_t headroom, int socket_id)
{
	static unsigned seq;
	char name[RTE_MEMPOOL_NAMESIZE];
	struct cacherd_slots *s;

	if (n == 0 || headroom % RTE_CACHE_LINE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	s = rte_zmalloc_socket("cacherd_slots", sizeof(*s), RTE_CACHE_LINE_SIZE, socket_id);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->n = n;
	s->m = rte_zmalloc_socket("cacherd_slot_mbufs", (size_t)n * sizeof(struct rte_mbuf),
				  RTE_CACHE_LINE_SIZE, socket_id);
	s->headroom = headroom;
	if (headroom) {
		s->f =
		    rte_zmalloc_socket("cacherd_slot_frames", (size_t)n * sizeof(struct rte_mbuf),
				       RTE_CACHE_LINE_SIZE, socket_id);
		if (!s->f) {
			cacherd_slots_destroy(s);
			errno = ENOMEM;
			return NULL;
		}
	}
	/* Only an identity for the mbufs' pool field: with the cache's own reference held for
	 * good, no slot mbuf ever reaches a count of 0 and goes back to a pool. */
	snprintf(name, sizeof(name), "cacherd_slots%u", seq++);
	s->pool = rte_pktmbuf_pool_create(name, 63, 0, 0, 0, socket_id);
	if (!s->m || !s->pool) {
		int err = s->pool ? ENOMEM : rte_errno;

		cacherd_slots_destroy(s);
		errno = err;
		return NULL;
	}
	return s;
}

void cacherd_slots_destroy(struct cacherd_slots *s)
{
	if (!s)
		return;
	rte_mempool_free(s->pool);
	rte_free(s->f);
	rte_free(s->m);
	rte_free(s);
}

void cacherd_slots_set_iova(struct cacherd_slots *s, const void *region, rte_iova_t iova_base,
			    bool linear)
{
	s->region = region;
	s->iova_base = iova_base;
	s->iova_linear = linear && iova_base != RTE_BAD_IOVA;
}

/* lib/cache, writer thread: a chunk of len bytes was written at data in slot. The slot is not
 * in use (a new slot, or one slot_busy let go), so its mbuf has the cache's reference only. */
static rte_iova_t slot_iova(const struct cacherd_slots *s, const void *p)
{
	return s->iova_linear && s->region
		   ? s->iova_base + (rte_iova_t)((const uint8_t *)p - s->region)
		   : net_payload_iova(p);
}

/* m made a one-segment mbuf over buf that never goes back to a pool (a count of 1, the cache's,
 * for good), its address published last: cacherd_slot_mbuf() and cacherd_slot_frame() treat a
 * NULL buf_addr as "none". */
static void slot_mbuf_init(const struct cacherd_slots *s, struct rte_mbuf *m, const void *buf,
			   rte_iova_t iova)
{
	memset(m, 0, sizeof(*m));
	m->buf_iova = iova;
	m->pool = s->pool;
	m->nb_segs = 1;
	m->port = RTE_MBUF_PORT_INVALID;
	rte_mbuf_refcnt_set(m, 1);
	__atomic_store_n(&m->buf_addr, (void *)(uintptr_t)buf, __ATOMIC_RELEASE);
}

/* The frame view over the headroom and the payload (slot_filled's, after the slot's mbuf). A
 * NIC reads the frame as one buffer: without one IOVA range over both (a page boundary between
 * them in physical-address mode), the slot has no frame view and its DATA are chained. */
static void frame_filled(struct cacherd_slots *s, uint32_t slot, const uint8_t *data, uint32_t len,
			 uint16_t sum16, rte_iova_t iova)
{
	struct rte_mbuf *f = &s->f[slot];
	const uint8_t *room = data - s->headroom;

	if ((uint32_t)s->headroom + len > UINT16_MAX)
		return;
	if (f->buf_addr != room) {
		rte_iova_t riova = slot_iova(s, room);

		if (riova == RTE_BAD_IOVA || iova == RTE_BAD_IOVA || riova + s->headroom != iova) {
			__atomic_store_n(&f->buf_addr, NULL, __ATOMIC_RELEASE);
			return;
		}
		slot_mbuf_init(s, f, room, riova);
		s->frames_built++;
	}
	f->buf_len = (uint16_t)(s->headroom + len);
	f->data_off = s->headroom;
	f->data_len = (uint16_t)len;
	f->pkt_len = len;
	f->hash.usr = CACHERD_SLOT_SUM_SET | sum16;
}

static void slot_filled(void *ctx, uint32_t slot, const void *data, uint32_t len, uint16_t sum16)
{
	struct cacherd_slots *s = ctx;
	struct rte_mbuf *m;

	if (slot >= s->n || len > UINT16_MAX)
		return; /* never sent from its own mbuf: the external-buffer path stays */
	m = &s->m[slot];
	if (m->buf_addr != data) {
		slot_mbuf_init(s, m, data, slot_iova(s, data));
		s->built++;
	} else {
		s->refilled++;
	}
	m->buf_len = (uint16_t)len;
	m->data_off = 0;
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	m->hash.usr = CACHERD_SLOT_SUM_SET | sum16; /* lib/cache's, taken at the insert */
	if (s->f)
		frame_filled(s, slot, data, len, sum16, m->buf_iova);
}

/* lib/cache, writer thread, before reusing a slot: any count above the cache's own reference is
 * a datagram still on a NIC queue. Acquire: the NIC's reads of the payload come before reuse. */
static bool slot_busy(void *ctx, uint32_t slot)
{
	struct cacherd_slots *s = ctx;

	if (slot >= s->n)
		return false;
	if (s->f && s->f[slot].buf_addr &&
	    __atomic_load_n(&s->f[slot].refcnt, __ATOMIC_ACQUIRE) > 1)
		return true;
	if (!s->m[slot].buf_addr)
		return false;
	return __atomic_load_n(&s->m[slot].refcnt, __ATOMIC_ACQUIRE) > 1;
}

void cacherd_slots_hook(struct cacherd_slots *s, struct cache_conf *cc)
{
	cc->slot_filled = slot_filled;
	cc->slot_busy = slot_busy;
	cc->hook_ctx = s;
}
