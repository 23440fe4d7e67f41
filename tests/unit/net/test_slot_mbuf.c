/* pcdn-cacherd's per-slot mbufs (app/pcdn-cacherd/slot_mbuf.c) over a real lib/cache: the slot's
 * own mbuf and, with cache.slot_headroom, its frame view (the payload with the headroom in front,
 * for a DATA sent in place); a slot held by a datagram through either is never reused. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "cache.h"
#include "net.h"
#include "pcdn_common.h"
#include "slot_mbuf.h"
#include "ut_eal.h"

#define ROOM  128
#define SLOTS 4

static uint8_t chunk[1024];

struct rig {
	struct cacherd_slots *s;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t sw;
};

static void rig_make(struct rig *g, uint16_t room)
{
	struct cache_conf cc;
	struct cache_swarm_conf sc = {.id = (const uint8_t *)"slots",
				      .id_len = 5,
				      .content_len = 1 << 20,
				      .chunk_size = 1024};

	cache_conf_init(&cc);
	cc.flavour = CACHE_RCU_MEMB;
	cc.nclasses = 1;
	cc.classes[0] = (struct cache_class_conf){.slot_size = 1024, .nslots = SLOTS};
	cc.max_swarms = 2;
	cc.meta_bytes = 64 * 1024;
	cc.max_readers = 2;
	cc.no_hugepages = true;
	cc.slot_headroom = room;
	g->s = cacherd_slots_create(SLOTS, room, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->s);
	cacherd_slots_hook(g->s, &cc);
	g->c = cache_create(&cc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->c);
	/* IOVA as VA (--no-huge, no PCI): the region is one range */
	cacherd_slots_set_iova(g->s, cache_region_base(g->c),
			       (rte_iova_t)(uintptr_t)cache_region_base(g->c), true);
	g->r = cache_reader_register(g->c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->r);
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(g->c, &sc, &g->sw), 0);
}

static void rig_free(struct rig *g)
{
	cache_reader_unregister(g->r);
	cache_destroy(g->c);
	cacherd_slots_destroy(g->s);
}

static int put(struct rig *g, uint64_t k, uint32_t len)
{
	memset(chunk, (int)(k + 1), len);
	return cache_insert(g->c, &(struct cache_key){g->sw, k}, chunk, len, 0);
}

/* Both views describe the chunk's bytes; the frame view's buffer starts the headroom before
 * them; each carries the payload's sum; cacherd_slot_frame hands the slot mbuf without either
 * being asked again. */
static void test_views(void)
{
	struct rig g;
	struct cache_hit h;
	struct rte_mbuf *m, *f, *seg = NULL;
	uint16_t room = 0, sum;
	uint32_t s32;

	rig_make(&g, ROOM);
	CU_ASSERT_EQUAL(put(&g, 0, 1000), 0);
	CU_ASSERT_EQUAL_FATAL(cache_lookup(g.r, &(struct cache_key){g.sw, 0}, &h), 0);
	m = cacherd_slot_mbuf(g.s, h.slot);
	f = cacherd_slot_frame(g.s, h.slot, &seg, &room);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_EQUAL(seg, m);
	CU_ASSERT_EQUAL(room, ROOM);
	CU_ASSERT_PTR_EQUAL(rte_pktmbuf_mtod(m, const uint8_t *), h.data);
	CU_ASSERT_EQUAL(m->data_len, 1000);
	CU_ASSERT_PTR_EQUAL((const uint8_t *)f->buf_addr + ROOM, h.data);
	CU_ASSERT_EQUAL(f->buf_len, ROOM + 1000);
	CU_ASSERT_EQUAL(f->buf_iova + ROOM, m->buf_iova);
	CU_ASSERT_PTR_EQUAL(rte_pktmbuf_mtod(f, const uint8_t *), h.data);
	CU_ASSERT_EQUAL(f->nb_segs, 1);
	CU_ASSERT_PTR_NULL(f->next);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(f), 1);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(m), 1);
	s32 = net_csum_add(0, h.data, 1000, false);
	s32 = (s32 & 0xffff) + (s32 >> 16);
	CU_ASSERT_TRUE(cacherd_slot_sum(f, &sum));
	CU_ASSERT_EQUAL(sum, (uint16_t)((s32 & 0xffff) + (s32 >> 16)));
	CU_ASSERT_TRUE(cacherd_slot_sum(m, &sum));
	CU_ASSERT_EQUAL(g.s->frames_built, 1);
	rig_free(&g);

	/* no headroom: no frame views, the slot mbuf as before */
	rig_make(&g, 0);
	CU_ASSERT_EQUAL(put(&g, 0, 1000), 0);
	CU_ASSERT_EQUAL_FATAL(cache_lookup(g.r, &(struct cache_key){g.sw, 0}, &h), 0);
	CU_ASSERT_PTR_NOT_NULL(cacherd_slot_mbuf(g.s, h.slot));
	CU_ASSERT_PTR_NULL(cacherd_slot_frame(g.s, h.slot, &seg, &room));
	rig_free(&g);
	/* a headroom that is not whole lines */
	CU_ASSERT_PTR_NULL(cacherd_slots_create(SLOTS, 100, SOCKET_ID_ANY));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

/* The slot a chunk landed in (lookup), or UINT32_MAX when it is not cached. */
static uint32_t slot_of(struct rig *g, uint64_t k)
{
	struct cache_hit h;

	return cache_lookup(g->r, &(struct cache_key){g->sw, k}, &h) == 0 ? h.slot : UINT32_MAX;
}

/* Inserts n new chunks from *next (evicting as the cache must); true when one of them landed in
 * slot. */
static bool fill_lands_in(struct rig *g, uint64_t *next, unsigned n, uint32_t slot)
{
	bool hit = false;

	for (unsigned i = 0; i < n; i++, (*next)++) {
		cache_reader_quiescent(g->r);
		if (put(g, *next, 1024) == 0 && slot_of(g, *next) == slot)
			hit = true;
	}
	cache_reader_quiescent(g->r);
	return hit;
}

/* A removed chunk's slot is not reused while a datagram holds its frame view (claimed: count 2),
 * nor while one holds its mbuf, however many chunks come after; once given back, it is. */
static void test_busy(void)
{
	struct rig g;
	struct cache_hit h[SLOTS];
	struct rte_mbuf *f, *seg, *m;
	uint16_t room;
	uint64_t next = 100;

	rig_make(&g, ROOM);
	for (uint64_t k = 0; k < SLOTS; k++) {
		CU_ASSERT_EQUAL(put(&g, k, 1024), 0);
		CU_ASSERT_EQUAL_FATAL(cache_lookup(g.r, &(struct cache_key){g.sw, k}, &h[k]), 0);
	}
	cache_reader_quiescent(g.r);
	f = cacherd_slot_frame(g.s, h[0].slot, &seg, &room);
	m = cacherd_slot_mbuf(g.s, h[1].slot);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	rte_mbuf_refcnt_update(f, 1); /* chunk 0 in place on a NIC queue */
	rte_mbuf_refcnt_update(m, 1); /* chunk 1 chained on another */
	for (uint64_t k = 0; k < SLOTS; k++)
		CU_ASSERT_EQUAL(cache_remove(g.c, &(struct cache_key){g.sw, k}), 0);
	CU_ASSERT_FALSE(fill_lands_in(&g, &next, 4 * SLOTS, h[0].slot));
	CU_ASSERT_FALSE(fill_lands_in(&g, &next, 4 * SLOTS, h[1].slot));
	/* what the NIC reads is still chunk 0's and chunk 1's */
	for (unsigned i = 0; i < 1024; i++) {
		if (((const uint8_t *)h[0].data)[i] != 1 || ((const uint8_t *)h[1].data)[i] != 2) {
			CU_FAIL("a held slot was overwritten");
			break;
		}
	}
	rte_pktmbuf_free(f); /* the NIC is done: 2 -> 1, the view stays */
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(f), 1);
	CU_ASSERT_TRUE(fill_lands_in(&g, &next, 4 * SLOTS, h[0].slot));
	CU_ASSERT_FALSE(fill_lands_in(&g, &next, 4 * SLOTS, h[1].slot));
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(m), 1);
	CU_ASSERT_TRUE(fill_lands_in(&g, &next, 4 * SLOTS, h[1].slot));
	rig_free(&g);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned fails;

	(void)argc;
	if (ut_eal_init(argv[0], "pcdn_slot_ut", "256") < 0)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("slot_mbuf", NULL, NULL);
	CU_add_test(s, "slot_and_frame_views", test_views);
	CU_add_test(s, "held_slots_not_reused", test_busy);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	ut_eal_done("pcdn_slot_ut");
	return fails ? 1 : 0;
}
