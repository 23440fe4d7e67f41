/* CUnit suite "cache": configuration errors, swarms, insert/lookup, eviction, pinning,
 * references, purges, statistics, readers, caller memory and the memb flavour. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>

#include "cache.h"
#include "cache_test_util.h"

static uint8_t buf[16384] __attribute__((aligned(64)));

static void small_conf(struct cache_conf *conf, uint32_t n1k, uint32_t n8k)
{
	cache_conf_init(conf);
	conf->classes[0].nslots = n1k;
	conf->classes[1].nslots = n8k;
	conf->max_swarms = 8;
	conf->meta_bytes = 64 * 1024;
	conf->max_readers = 4;
	conf->no_hugepages = true;
}

static cache_swarm_t add_swarm(struct cache *c, const char *id, bool pinned)
{
	struct cache_swarm_conf sc = { .id = (const uint8_t *)id, .id_len = strlen(id),
				       .content_len = 1 << 20, .chunk_size = 1024, .hash_id = 0,
				       .pinned = pinned };
	cache_swarm_t s = 0;

	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &sc, &s), 0);
	CU_ASSERT_NOT_EQUAL(s, 0);
	return s;
}

static int put(struct cache *c, cache_swarm_t s, uint64_t chunk, uint32_t len, unsigned flags)
{
	struct cache_key k = { s, chunk };

	test_fill(test_seed((uint32_t)s, chunk), buf, len);
	return cache_insert(c, &k, buf, len, flags);
}

/* 1 present with the right bytes, 0 absent, -1 present with wrong bytes */
static int probe(struct cache_reader *r, cache_swarm_t s, uint64_t chunk, uint32_t len)
{
	struct cache_key k = { s, chunk };
	struct cache_hit h;

	if (cache_lookup(r, &k, &h) < 0)
		return 0;
	if (h.len != len || test_check(test_seed((uint32_t)s, chunk), h.data, len) != 0)
		return -1;
	return 1;
}

static void test_conf_errors(void)
{
	struct cache_conf conf;
	struct cache *c;

	small_conf(&conf, 16, 4);
	CU_ASSERT(cache_region_size(&conf) > 0);
	CU_ASSERT_EQUAL(cache_region_size(NULL), 0);

	conf.nclasses = 0;
	errno = 0;
	CU_ASSERT_EQUAL(cache_region_size(&conf), 0);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EINVAL);

	small_conf(&conf, 16, 4);
	conf.classes[0].slot_size = 1000; /* not a multiple of 64 */
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EINVAL);

	small_conf(&conf, 16, 4);
	conf.classes[1].slot_size = 512; /* not increasing */
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 0, 4);
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 16, 4);
	conf.small_percent = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 16, 4);
	conf.max_readers = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 16, 4);
	conf.max_swarms = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 16, 4);
	conf.flavour = (enum cache_flavour)7;
	CU_ASSERT_PTR_NULL(cache_create(&conf));

	small_conf(&conf, 16, 4);
	conf.file = "/nonexistent-dir/x";
	conf.region = buf;
	conf.region_len = sizeof(buf);
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EINVAL);

	small_conf(&conf, 16, 4);
	conf.region = buf;
	conf.region_len = sizeof(buf); /* far too small */
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, ENOSPC);

	small_conf(&conf, 16, 4);
	conf.file = "/nonexistent-dir/cache";
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, ENOENT);

	small_conf(&conf, 16, 4);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_FALSE(cache_uses_hugepages(c));
	CU_ASSERT(cache_region_len(c) >= cache_region_size(&conf));
	cache_destroy(c);
	cache_destroy(NULL);
}

static void test_hugepage_attempt(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t s;

	/* Hugepages if the machine has them, normal pages with a warning otherwise: both work. */
	small_conf(&conf, 16, 4);
	conf.no_hugepages = false;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	s = add_swarm(c, "huge", false);
	CU_ASSERT_EQUAL(put(c, s, 1, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 1, 1024), 1);
	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_insert_lookup(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	struct cache_stats st;
	struct cache_key keys[150];
	struct cache_hit hits[150];
	cache_swarm_t s, s2;

	small_conf(&conf, 64, 8);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	s = add_swarm(c, "swarm-a", false);
	s2 = add_swarm(c, "swarm-b", false);

	CU_ASSERT_EQUAL(put(c, s, 0, 1024, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 1, 700, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 2, 5000, 0), 0); /* 8 KiB class */
	CU_ASSERT_EQUAL(put(c, s, 3, 8192, 0), 0);
	CU_ASSERT_EQUAL(put(c, s2, 0, 100, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 0, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 1, 700), 1);
	CU_ASSERT_EQUAL(probe(r, s, 2, 5000), 1);
	CU_ASSERT_EQUAL(probe(r, s, 3, 8192), 1);
	CU_ASSERT_EQUAL(probe(r, s2, 0, 100), 1);
	CU_ASSERT_EQUAL(probe(r, s2, 1, 100), 0);
	CU_ASSERT_EQUAL(probe(r, s, 4, 100), 0);

	/* error paths */
	CU_ASSERT_EQUAL(put(c, s, 0, 1024, 0), -EEXIST);
	CU_ASSERT_EQUAL(put(c, s, 9, 8193, 0), -EMSGSIZE);
	CU_ASSERT_EQUAL(put(c, s, 9, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(put(c, s, 9, 10, 0x80), -EINVAL);
	CU_ASSERT_EQUAL(put(c, 12345, 9, 10, 0), -ENOENT);
	CU_ASSERT_EQUAL(put(c, 0, 9, 10, 0), -ENOENT);
	CU_ASSERT_EQUAL(cache_insert(c, &(struct cache_key){ s, 9 }, NULL, 10, 0), -EINVAL);
	CU_ASSERT_EQUAL(cache_insert(NULL, &(struct cache_key){ s, 9 }, buf, 10, 0), -EINVAL);

	/* a burst longer than one pipeline pass, hits and misses mixed */
	unsigned expect = 0, expect_s2 = 0;
	for (unsigned i = 0; i < 150; i++) {
		keys[i] = (struct cache_key){ i % 2 ? s : s2, i % 7 };
		if ((i % 2 && i % 7 < 4) || (!(i % 2) && i % 7 == 0))
			expect++;
		if (!(i % 2) && i % 7 == 0)
			expect_s2++;
	}
	CU_ASSERT_EQUAL(cache_lookup_burst(r, keys, 150, hits), expect);
	for (unsigned i = 0; i < 150; i++) {
		bool want = (keys[i].swarm == s && keys[i].chunk < 4) ||
			    (keys[i].swarm == s2 && keys[i].chunk == 0);

		CU_ASSERT_EQUAL(hits[i].data != NULL, want);
		if (hits[i].data)
			CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)keys[i].swarm,
							     keys[i].chunk),
						   hits[i].data, hits[i].len),
					0);
	}

	/* writer lookup needs no registration */
	struct cache_hit h;
	CU_ASSERT_EQUAL(cache_writer_lookup(c, &(struct cache_key){ s, 2 }, &h), 0);
	CU_ASSERT_EQUAL(h.len, 5000);
	CU_ASSERT_EQUAL(cache_writer_lookup(c, &(struct cache_key){ s, 99 }, &h), -ENOENT);
	CU_ASSERT_PTR_NULL(h.data);

	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.inserts, 5);
	CU_ASSERT_EQUAL(st.chunks, 5);
	CU_ASSERT_EQUAL(st.bytes, 1024 + 700 + 5000 + 8192 + 100);
	CU_ASSERT_EQUAL(st.hits + st.misses, 7 + 150);
	CU_ASSERT_EQUAL(st.evictions, 0);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, s2, &st), 0);
	CU_ASSERT_EQUAL(st.chunks, 1);
	CU_ASSERT_EQUAL(st.bytes, 100);
	CU_ASSERT_EQUAL(st.hits, 1 + expect_s2);
	CU_ASSERT_EQUAL(st.misses, 1 + 75 - expect_s2);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, 777, &st), -ENOENT);

	CU_ASSERT_EQUAL(cache_remove(c, &(struct cache_key){ s, 1 }), 0);
	CU_ASSERT_EQUAL(cache_remove(c, &(struct cache_key){ s, 1 }), -ENOENT);
	CU_ASSERT_EQUAL(probe(r, s, 1, 700), 0);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.purged, 1);
	CU_ASSERT_EQUAL(st.chunks, 4);

	cache_reader_unregister(r);
	cache_destroy(c);
}

/* Each chunk's RFC 1071 sum, kept from the insert (a UDP sender adds it instead of reading the
 * payload), for even and odd lengths in both classes. */
static void test_payload_sums(void)
{
	static const uint32_t lens[] = { 1, 2, 3, 333, 700, 1023, 1024, 5001, 8192 };
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t s;

	small_conf(&conf, 64, 8);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	s = add_swarm(c, "swarm-sum", false);
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		CU_ASSERT_EQUAL(put(c, s, i, lens[i], 0), 0);
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct cache_hit h;

		CU_ASSERT_EQUAL_FATAL(cache_lookup(r, &(struct cache_key){ s, i }, &h), 0);
		CU_ASSERT_EQUAL(h.len, lens[i]);
		CU_ASSERT_EQUAL(cache_chunk_sum16(c, h.slot), test_sum16(h.data, h.len));
	}
	CU_ASSERT_EQUAL(cache_chunk_sum16(c, CACHE_NO_SLOT), 0);
	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_swarms(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_swarm_info info;
	uint8_t meta[3000], id[CACHE_SWARM_ID_MAX + 1];
	cache_swarm_t s, s2, t;

	small_conf(&conf, 16, 4);
	conf.max_swarms = 4;
	conf.meta_bytes = 8192;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	test_fill(42, meta, sizeof(meta));
	memset(id, 'x', sizeof(id));

	struct cache_swarm_conf sc = { .id = id, .id_len = 32, .content_len = 123456,
				       .chunk_size = 1024, .hash_id = 2, .meta = meta,
				       .meta_len = sizeof(meta) };
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &s), 0);
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -EEXIST);
	CU_ASSERT_EQUAL(cache_swarm_find(c, id, 32, &info), 0);
	CU_ASSERT_EQUAL(info.handle, s);
	CU_ASSERT_EQUAL(info.content_len, 123456);
	CU_ASSERT_EQUAL(info.chunk_size, 1024);
	CU_ASSERT_EQUAL(info.hash_id, 2);
	CU_ASSERT_EQUAL(info.meta_len, sizeof(meta));
	CU_ASSERT_EQUAL(memcmp(info.meta, meta, sizeof(meta)), 0);
	CU_ASSERT_EQUAL(info.id_len, 32);
	CU_ASSERT_FALSE(info.pinned);
	CU_ASSERT_EQUAL(cache_swarm_find(c, id, 31, &info), -ENOENT);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), 0);
	CU_ASSERT_EQUAL(info.content_len, 123456);

	/* argument errors */
	sc.id_len = 0;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -EINVAL);
	sc.id_len = CACHE_SWARM_ID_MAX + 1;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -EINVAL);
	CU_ASSERT_EQUAL(cache_swarm_find(c, id, CACHE_SWARM_ID_MAX + 1, &info), -EINVAL);
	sc.id_len = 20;
	sc.meta = NULL;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -EINVAL);

	/* metadata heap full: 3000 + 3000 + 3000 > 8192 */
	sc.meta = meta;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &s2), 0);
	sc.id_len = 21;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -ENOSPC);
	/* without metadata it fits */
	sc.meta = NULL;
	sc.meta_len = 0;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, t, &info), 0);
	CU_ASSERT_PTR_NULL(info.meta);
	sc.id_len = 22;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), 0);
	/* swarm table full */
	sc.id_len = 23;
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), -ENOSPC);

	/* update: new blob replaces the old one */
	CU_ASSERT_EQUAL(cache_swarm_update(c, s, 999, meta + 1, 100), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), 0);
	CU_ASSERT_EQUAL(info.content_len, 999);
	CU_ASSERT_EQUAL(info.meta_len, 100);
	CU_ASSERT_EQUAL(memcmp(info.meta, meta + 1, 100), 0);
	CU_ASSERT_EQUAL(cache_swarm_update(c, s, 1, NULL, 5), -EINVAL);
	CU_ASSERT_EQUAL(cache_swarm_update(c, 555, 1, NULL, 0), -ENOENT);
	CU_ASSERT_EQUAL(cache_swarm_update(c, s, 1, meta, 6000), -ENOSPC);

	/* remove: the handle dies, chunks go, the id can come back with a new handle */
	CU_ASSERT_EQUAL(put(c, s, 7, 512, 0), 0);
	CU_ASSERT_EQUAL(cache_swarm_remove(c, s), 0);
	CU_ASSERT_EQUAL(cache_swarm_remove(c, s), -ENOENT);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), -ENOENT);
	CU_ASSERT_EQUAL(cache_swarm_find(c, id, 32, &info), -ENOENT);
	CU_ASSERT_EQUAL(put(c, s, 8, 512, 0), -ENOENT);
	CU_ASSERT_EQUAL(cache_swarm_pin(c, s, true), -ENOENT);
	CU_ASSERT_EQUAL(cache_purge_swarm(c, s), -ENOENT);
	sc.id_len = 32;
	sc.meta = meta;
	sc.meta_len = sizeof(meta);
	CU_ASSERT_EQUAL(cache_swarm_add(c, &sc, &t), 0); /* reclaims the old slot and blob */
	CU_ASSERT_NOT_EQUAL(t, s);
	CU_ASSERT_EQUAL(cache_writer_lookup(c, &(struct cache_key){ t, 7 }, &(struct cache_hit){ 0 }),
			-ENOENT);
	cache_destroy(c);
}

/* map_bytes 0: the default budget, too small for this swarm's chunk map (the index keeps the
 * access counts); else a map covers chunks 0..1023 and keeps theirs. */
static void eviction_run(uint64_t map_bytes)
{
	struct cache_conf conf;
	struct cache_swarm_info info;
	struct cache *c;
	struct cache_reader *r;
	struct cache_stats st;
	cache_swarm_t s;

	small_conf(&conf, 64, 4);
	conf.chunk_map_bytes = map_bytes;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	s = add_swarm(c, "evict", false);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, map_bytes ? 1024 : 0);

	/* a hot set read repeatedly survives a long stream of one-hit chunks */
	for (uint64_t i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
	for (int round = 0; round < 3; round++)
		for (uint64_t i = 0; i < 32; i++)
			CU_ASSERT_EQUAL(probe(r, s, i, 1024), 1);
	for (uint64_t i = 1000; i < 2000; i++) {
		CU_ASSERT_EQUAL_FATAL(put(c, s, i, 1024, 0), 0);
		cache_reader_quiescent(r);
	}
	for (uint64_t i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(probe(r, s, i, 1024), 1);
	cache_stats_get(c, &st);
	CU_ASSERT(st.chunks <= 64);
	CU_ASSERT(st.chunks >= 63);
	CU_ASSERT_EQUAL(st.inserts, 1032);
	CU_ASSERT_EQUAL(st.evictions, st.inserts - st.chunks);
	/* the most recent one-hit chunk is still there, the oldest are gone */
	CU_ASSERT_EQUAL(probe(r, s, 1999, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 1000, 1024), 0);

	/* a chunk evicted from the small queue and requested again goes to the main queue
	 * (ghost hit), where it outlives newer one-hit chunks */
	CU_ASSERT_EQUAL(probe(r, s, 1950, 1024), 0);
	CU_ASSERT_EQUAL(put(c, s, 1950, 1024, 0), 0);
	for (uint64_t i = 3000; i < 3040; i++)
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 1950, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 3000, 1024), 0);

	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_eviction(void)
{
	eviction_run(0);
	eviction_run(1 << 20);
}

static void test_pinning(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	struct cache_stats st;
	cache_swarm_t s, p;

	small_conf(&conf, 16, 4);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	s = add_swarm(c, "normal", false);

	CU_ASSERT_EQUAL(put(c, s, 0, 1000, CACHE_INSERT_PIN), 0);
	for (uint64_t i = 1; i < 100; i++)
		CU_ASSERT_EQUAL(put(c, s, i, 1000, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 0, 1000), 1);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.pinned_chunks, 1);
	CU_ASSERT_EQUAL(st.pinned_bytes, 1000);

	/* pin everything in the 1 KiB class: the next insert fails cleanly */
	CU_ASSERT_EQUAL(cache_purge_all(c), 16);
	for (uint64_t i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(put(c, s, 200 + i, 1024, CACHE_INSERT_PIN), 0);
	CU_ASSERT_EQUAL(put(c, s, 300, 1024, 0), -ENOSPC);
	CU_ASSERT_EQUAL(put(c, s, 300, 1024, CACHE_INSERT_PIN), -ENOSPC);
	/* the 8 KiB class is independent */
	CU_ASSERT_EQUAL(put(c, s, 301, 4096, 0), 0);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.pinned_chunks, 16);
	CU_ASSERT_EQUAL(st.pinned_bytes, 16 * 1024);
	CU_ASSERT_EQUAL(cache_pin(c, &(struct cache_key){ s, 999 }, false), -ENOENT);
	CU_ASSERT_EQUAL(cache_pin(c, &(struct cache_key){ s, 205 }, false), 0);
	CU_ASSERT_EQUAL(put(c, s, 300, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 205, 1024), 0);
	CU_ASSERT_EQUAL(probe(r, s, 300, 1024), 1);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.pinned_chunks, 15);

	/* a pinned swarm keeps all its chunks, present and future */
	CU_ASSERT_EQUAL(cache_purge_all(c), 17);
	p = add_swarm(c, "pushed", true);
	for (uint64_t i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(put(c, p, i, 1024, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 0, 1024, 0), -ENOSPC);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, p, &st), 0);
	CU_ASSERT_EQUAL(st.pinned_chunks, 16);
	CU_ASSERT_EQUAL(cache_swarm_pin(c, p, false), 0);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, p, &st), 0);
	CU_ASSERT_EQUAL(st.pinned_chunks, 0);
	CU_ASSERT_EQUAL(put(c, s, 0, 1024, 0), 0);
	CU_ASSERT_EQUAL(cache_swarm_pin(c, p, true), 0);
	CU_ASSERT_EQUAL(cache_swarm_pin(c, p, true), 0);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, p, &st), 0);
	CU_ASSERT_EQUAL(st.pinned_chunks, 15);
	struct cache_swarm_info info;
	CU_ASSERT_EQUAL(cache_swarm_get(c, p, &info), 0);
	CU_ASSERT_TRUE(info.pinned);
	/* removing a pinned swarm frees its slots */
	CU_ASSERT_EQUAL(cache_swarm_remove(c, p), 0);
	for (uint64_t i = 1; i < 16; i++)
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.pinned_chunks, 0);
	CU_ASSERT_EQUAL(st.pinned_bytes, 0);

	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_references(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	struct cache_hit held[16];
	cache_swarm_t s;

	small_conf(&conf, 16, 4);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	s = add_swarm(c, "refs", false);
	for (uint64_t i = 0; i < 16; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(cache_lookup(r, &(struct cache_key){ s, i }, &held[i]), 0);
		cache_ref(c, held[i].slot);
	}
	cache_reader_quiescent(r);
	/* every slot is on a (pretend) NIC queue: purged, but not reusable */
	CU_ASSERT_EQUAL(cache_purge_all(c), 16);
	CU_ASSERT_EQUAL(cache_reclaim(c), 0);
	CU_ASSERT_EQUAL(put(c, s, 100, 1024, 0), -EBUSY);
	for (uint64_t i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)s, i), held[i].data, 1024), 0);
	cache_unref(c, held[3].slot);
	CU_ASSERT_EQUAL(put(c, s, 100, 1024, CACHE_INSERT_PIN), 0);
	CU_ASSERT_EQUAL(put(c, s, 101, 1024, 0), -EBUSY);
	for (uint64_t i = 0; i < 16; i++)
		if (i != 3)
			CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)s, i), held[i].data, 1024),
					0);
	for (uint64_t i = 0; i < 16; i++)
		if (i != 3)
			cache_unref(c, held[i].slot);
	CU_ASSERT_EQUAL(cache_reclaim(c), 15);
	CU_ASSERT_EQUAL(put(c, s, 101, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 100, 1024), 1);
	CU_ASSERT_EQUAL(cache_reclaim(NULL), -EINVAL);
	/* a miss's slot number is harmless to ref/unref */
	cache_ref(c, CACHE_NO_SLOT);
	cache_unref(c, CACHE_NO_SLOT);
	CU_ASSERT_EQUAL(cache_reclaim(c), 0);
	cache_reader_unregister(r);
	cache_destroy(c);
}

/* The slot hooks: what a zero-copy sender with its own per-slot descriptors relies on. */
struct hook_log {
	struct cache *c; /* set after cache_create */
	struct cache_reader *r;
	unsigned filled;
	uint32_t last_slot, last_len;
	const void *last_data;
	bool visible_at_fill; /* a reader could already find the chunk when filled ran */
	cache_swarm_t swarm;
	uint64_t chunk;
	bool busy[32];
	unsigned busy_asked;
};

static void hook_filled(void *ctx, uint32_t slot, const void *data, uint32_t len, uint16_t sum16)
{
	struct hook_log *h = ctx;
	struct cache_hit hit;

	CU_ASSERT_EQUAL(sum16, cache_chunk_sum16(h->c, slot));
	h->filled++;
	h->last_slot = slot;
	h->last_len = len;
	h->last_data = data;
	if (h->r && cache_lookup(h->r, &(struct cache_key){h->swarm, h->chunk}, &hit) == 0)
		h->visible_at_fill = true;
}

static bool hook_busy(void *ctx, uint32_t slot)
{
	struct hook_log *h = ctx;

	h->busy_asked++;
	return slot < 32 && h->busy[slot];
}

static void test_slot_hooks(void)
{
	struct cache_conf conf;
	struct hook_log h = {0};
	struct cache *c;
	struct cache_hit hit[16];
	cache_swarm_t s;

	small_conf(&conf, 16, 4);
	conf.slot_filled = hook_filled;
	conf.slot_busy = hook_busy;
	conf.hook_ctx = &h;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	h.c = c;
	h.r = cache_reader_register(c);
	s = add_swarm(c, "hooks", false);
	h.swarm = s;
	for (uint64_t i = 0; i < 16; i++) {
		h.chunk = i;
		CU_ASSERT_EQUAL(put(c, s, i, 1000 + (uint32_t)i, 0), 0);
		CU_ASSERT_EQUAL(h.filled, i + 1);
		CU_ASSERT_EQUAL_FATAL(cache_lookup(h.r, &(struct cache_key){s, i}, &hit[i]), 0);
		/* told the slot, its bytes (already written) and length, before publication */
		CU_ASSERT_EQUAL(h.last_slot, hit[i].slot);
		CU_ASSERT_PTR_EQUAL(h.last_data, hit[i].data);
		CU_ASSERT_EQUAL(h.last_len, 1000 + i);
		CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)s, i), h.last_data, h.last_len), 0);
	}
	CU_ASSERT_FALSE(h.visible_at_fill);
	cache_reader_quiescent(h.r);
	/* every slot "on a NIC queue" per the hook (no cache_ref): purged but never reused */
	for (unsigned i = 0; i < 16; i++)
		h.busy[hit[i].slot] = true;
	CU_ASSERT_EQUAL(cache_purge_all(c), 16);
	CU_ASSERT_EQUAL(cache_reclaim(c), 0);
	CU_ASSERT(h.busy_asked >= 16);
	CU_ASSERT_EQUAL(put(c, s, 100, 1024, 0), -EBUSY);
	for (uint64_t i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)s, i), hit[i].data, 1000 + (uint32_t)i),
				0);
	/* one sent: that slot, and only that one, comes back */
	h.busy[hit[5].slot] = false;
	CU_ASSERT_EQUAL(cache_reclaim(c), 1);
	h.chunk = 100;
	CU_ASSERT_EQUAL(put(c, s, 100, 1024, CACHE_INSERT_PIN), 0);
	CU_ASSERT_EQUAL(h.last_slot, hit[5].slot);
	CU_ASSERT_EQUAL(put(c, s, 101, 1024, 0), -EBUSY);
	for (unsigned i = 0; i < 32; i++)
		h.busy[i] = false;
	CU_ASSERT_EQUAL(cache_reclaim(c), 15);
	CU_ASSERT_EQUAL(put(c, s, 101, 1024, 0), 0);
	cache_reader_unregister(h.r);
	cache_destroy(c);
}

static void test_purge(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	struct cache_stats st;
	cache_swarm_t a, b;

	small_conf(&conf, 256, 4);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	a = add_swarm(c, "a", false);
	b = add_swarm(c, "b", false);
	for (uint64_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(put(c, a, i, 256, i == 15 ? CACHE_INSERT_PIN : 0), 0);
	for (uint64_t i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(put(c, b, i, 256, 0), 0);

	CU_ASSERT_EQUAL(cache_purge_range(c, a, 10, 19), 10); /* pinned 15 included */
	CU_ASSERT_EQUAL(probe(r, a, 9, 256), 1);
	CU_ASSERT_EQUAL(probe(r, a, 15, 256), 0);
	CU_ASSERT_EQUAL(probe(r, a, 20, 256), 1);
	CU_ASSERT_EQUAL(cache_purge_range(c, a, 10, 19), 0);
	CU_ASSERT_EQUAL(cache_purge_range(c, a, 5, 4), -EINVAL);
	CU_ASSERT_EQUAL(cache_purge_range(c, 4242, 0, 1), -ENOENT);
	/* a wide range takes the scan path */
	CU_ASSERT_EQUAL(cache_purge_range(c, a, 90, UINT64_MAX - 1), 10);
	CU_ASSERT_EQUAL(probe(r, a, 89, 256), 1);
	CU_ASSERT_EQUAL(probe(r, a, 95, 256), 0);
	CU_ASSERT_EQUAL(cache_purge_swarm(c, b), 10);
	CU_ASSERT_EQUAL(probe(r, b, 0, 256), 0);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, b, &st), 0);
	CU_ASSERT_EQUAL(st.chunks, 0);
	CU_ASSERT_EQUAL(st.purged, 10);
	CU_ASSERT_EQUAL(cache_swarm_stats_get(c, a, &st), 0);
	CU_ASSERT_EQUAL(st.chunks, 80);
	CU_ASSERT_EQUAL(st.pinned_chunks, 0);
	CU_ASSERT_EQUAL(cache_purge_all(c), 80);
	CU_ASSERT_EQUAL(cache_purge_all(c), 0);
	CU_ASSERT_EQUAL(cache_purge_all(NULL), -EINVAL);
	CU_ASSERT_EQUAL(probe(r, a, 50, 256), 0);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.chunks, 0);
	CU_ASSERT_EQUAL(st.bytes, 0);
	CU_ASSERT_EQUAL(st.purged, 110);
	/* slots come back after the grace period */
	for (uint64_t i = 0; i < 256; i++)
		CU_ASSERT_EQUAL(put(c, a, 1000 + i, 256, 0), 0);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.evictions, 0);
	cache_reader_unregister(r);
	cache_destroy(c);
}

struct holder {
	struct cache *c;
	pthread_barrier_t *registered, *release;
	struct cache_reader *r;
};

static void *hold_reader(void *arg)
{
	struct holder *h = arg;

	h->r = cache_reader_register(h->c);
	pthread_barrier_wait(h->registered);
	pthread_barrier_wait(h->release);
	cache_reader_unregister(h->r);
	return NULL;
}

/* Every chunk of 0..n: the burst lookup (chunk maps where they cover, else the index) and the
 * writer's index lookup agree on presence, slot and length. */
static void agree(struct cache *c, struct cache_reader *r, cache_swarm_t s, uint64_t n)
{
	for (uint64_t base = 0; base < n; base += 16) {
		struct cache_key k[16];
		struct cache_hit h[16];
		unsigned m = n - base < 16 ? (unsigned)(n - base) : 16;

		for (unsigned i = 0; i < m; i++)
			k[i] = (struct cache_key){s, base + i};
		cache_lookup_burst(r, k, m, h);
		for (unsigned i = 0; i < m; i++) {
			struct cache_hit w;
			int rc = cache_writer_lookup(c, &k[i], &w);

			CU_ASSERT_EQUAL(rc == 0, h[i].data != NULL);
			if (rc == 0 && h[i].data) {
				CU_ASSERT_EQUAL(h[i].slot, w.slot);
				CU_ASSERT_EQUAL(h[i].len, w.len);
				CU_ASSERT_PTR_EQUAL(h[i].data, w.data);
			}
		}
	}
}

static void test_chunk_maps(void)
{
	struct cache_conf conf;
	struct cache_swarm_info info;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t s, u, v;

	small_conf(&conf, 64, 4);
	conf.chunk_map_bytes = 1 << 20; /* the default, 16 bytes per slot, is 119 chunks here */
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);

	/* a swarm of known size: a map of its 1024 chunks; the last one is short */
	struct cache_swarm_conf sc = {.id = (const uint8_t *)"mapped", .id_len = 6,
				      .content_len = 1023 * 1024 + 100, .chunk_size = 1024};
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &sc, &s), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 1024);
	CU_ASSERT_EQUAL(put(c, s, 0, 1024, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 1, 1024, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 1023, 100, 0), 0);
	CU_ASSERT_EQUAL(put(c, s, 5000, 512, 0), 0); /* past the map: the index */
	CU_ASSERT_EQUAL(probe(r, s, 0, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 1, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 2, 1024), 0);
	CU_ASSERT_EQUAL(probe(r, s, 1023, 100), 1);
	CU_ASSERT_EQUAL(probe(r, s, 5000, 512), 1);
	CU_ASSERT_EQUAL(probe(r, s, 5001, 512), 0);

	/* eviction and purge go through the map: many more chunks than slots, then a check of
	 * every chunk against the index, then a purge */
	for (uint64_t i = 2; i < 1023; i++) {
		CU_ASSERT_EQUAL_FATAL(put(c, s, i, 1024, 0), 0);
		if (i % 7 == 0)
			CU_ASSERT_EQUAL(probe(r, s, i - 3, 1024) >= 0, 1);
		cache_reader_quiescent(r);
	}
	agree(c, r, s, 1030);
	CU_ASSERT_EQUAL(probe(r, s, 1022, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 0, 1024), 0); /* evicted long ago */
	cache_purge_swarm(c, s);
	cache_reader_quiescent(r);
	agree(c, r, s, 1030);
	CU_ASSERT_EQUAL(probe(r, s, 1022, 1024), 0);

	/* a swarm of unknown size has none until its size is known; then its chunks enter */
	struct cache_swarm_conf uc = {.id = (const uint8_t *)"live", .id_len = 4,
				      .chunk_size = 1024};
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &uc, &u), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, u, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 0);
	for (uint64_t i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(put(c, u, i, 1024, 0), 0);
	CU_ASSERT_EQUAL(cache_swarm_update(c, u, 64 * 1024, NULL, 0), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, u, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 64);
	for (uint64_t i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(probe(r, u, i, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, u, 20, 1024), 0);
	agree(c, r, u, 70);

	/* removed and added again: the old handle finds nothing, the new one its own chunks */
	CU_ASSERT_EQUAL(cache_swarm_remove(c, u), 0);
	cache_reader_quiescent(r);
	CU_ASSERT_EQUAL(probe(r, u, 3, 1024), 0);
	cache_reader_offline(r);
	CU_ASSERT(cache_reclaim(c) >= 0);
	cache_reader_online(r);
	uc.content_len = 64 * 1024;
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &uc, &v), 0);
	CU_ASSERT_NOT_EQUAL(u, v);
	CU_ASSERT_EQUAL(put(c, v, 3, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, v, 3, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, u, 3, 1024), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, v, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 64);
	cache_reader_unregister(r);
	cache_destroy(c);

	/* past the byte budget: no map, the index serves every chunk */
	small_conf(&conf, 64, 4);
	conf.chunk_map_bytes = 800; /* 12 lines: 84 chunks */
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &sc, &s), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, s, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 0);
	uc.content_len = 50 * 1024;
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &uc, &u), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, u, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 50); /* fits what is left */
	for (uint64_t i = 0; i < 30; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(put(c, u, i, 1024, 0), 0);
	}
	agree(c, r, s, 40);
	agree(c, r, u, 60);
	CU_ASSERT_EQUAL(probe(r, s, 29, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, u, 29, 1024), 1);
	/* a map's lines go back to the arena with its swarm: 84 chunks fit only once the
	 * 50-chunk map's 8 lines are joined again with the 4 after them */
	struct cache_swarm_conf wc = {.id = (const uint8_t *)"whole", .id_len = 5,
				      .content_len = 84 * 1024, .chunk_size = 1024};
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &wc, &v), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, v, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 0);
	CU_ASSERT_EQUAL(cache_swarm_remove(c, v), 0);
	CU_ASSERT_EQUAL(cache_swarm_remove(c, u), 0);
	cache_reader_offline(r);
	CU_ASSERT(cache_reclaim(c) >= 0);
	cache_reader_online(r);
	CU_ASSERT_EQUAL_FATAL(cache_swarm_add(c, &wc, &v), 0);
	CU_ASSERT_EQUAL(cache_swarm_get(c, v, &info), 0);
	CU_ASSERT_EQUAL(info.chunk_map, 84);
	CU_ASSERT_EQUAL(put(c, v, 83, 1024, 0), 0);
	CU_ASSERT_EQUAL(probe(r, v, 83, 1024), 1);
	agree(c, r, v, 90);
	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_reader_limit(void)
{
	struct cache_conf conf;
	struct cache *c;
	pthread_barrier_t b1, b2;
	pthread_t th;
	struct cache_reader *r;

	small_conf(&conf, 16, 4);
	conf.max_readers = 1;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	pthread_barrier_init(&b1, NULL, 2);
	pthread_barrier_init(&b2, NULL, 2);
	struct holder h = { .c = c, .registered = &b1, .release = &b2 };
	pthread_create(&th, NULL, hold_reader, &h);
	pthread_barrier_wait(&b1);
	CU_ASSERT_PTR_NOT_NULL(h.r);
	errno = 0;
	CU_ASSERT_PTR_NULL(cache_reader_register(c));
	CU_ASSERT_EQUAL(errno, ENOSPC);
	pthread_barrier_wait(&b2);
	pthread_join(th, NULL);
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL(r);
	cache_reader_offline(r);
	cache_reader_online(r);
	cache_reader_unregister(r);
	pthread_barrier_destroy(&b1);
	pthread_barrier_destroy(&b2);
	cache_destroy(c);
}

static void test_caller_region(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	size_t len;
	void *mem;
	cache_swarm_t s;

	small_conf(&conf, 32, 4);
	len = cache_region_size(&conf);
	mem = aligned_alloc(4096, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
	memset(mem, 0xa5, len); /* a memzone is not zeroed for us */
	conf.region = mem;
	conf.region_len = len;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_EQUAL(cache_region_base(c), mem);
	r = cache_reader_register(c);
	s = add_swarm(c, "memzone", false);
	for (uint64_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(put(c, s, i, 900, 0), 0);
	CU_ASSERT_EQUAL(probe(r, s, 99, 900), 1);
	struct cache_hit h;
	CU_ASSERT_EQUAL(cache_lookup(r, &(struct cache_key){ s, 99 }, &h), 0);
	CU_ASSERT((const uint8_t *)h.data >= (uint8_t *)mem &&
		  (const uint8_t *)h.data + h.len <= (uint8_t *)mem + len);
	cache_reader_unregister(r);
	cache_destroy(c);
	free(mem);
}

static void test_memb_flavour(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t s;
	struct cache_hit h;

	small_conf(&conf, 16, 4);
	conf.flavour = CACHE_RCU_MEMB;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	s = add_swarm(c, "memb", false);
	for (uint64_t i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
		cache_read_begin(r);
		CU_ASSERT_EQUAL(probe(r, s, i, 1024), 1);
		cache_read_end(r);
	}
	cache_read_begin(r);
	CU_ASSERT_EQUAL(cache_lookup(r, &(struct cache_key){ s, 63 }, &h), 0);
	cache_ref(c, h.slot);
	cache_read_end(r);
	cache_reader_quiescent(r); /* no-op under memb */
	CU_ASSERT_EQUAL(cache_purge_all(c), 16);
	CU_ASSERT_EQUAL(cache_reclaim(c), 15);
	CU_ASSERT_EQUAL(test_check(test_seed((uint32_t)s, 63), h.data, 1024), 0);
	cache_unref(c, h.slot);
	CU_ASSERT_EQUAL(cache_reclaim(c), 1);
	cache_reader_unregister(r);
	cache_destroy(c);
}

static void test_two_caches_one_thread(void)
{
	struct cache_conf conf;
	struct cache *c1, *c2;
	struct cache_reader *r1, *r2;
	cache_swarm_t s1, s2;

	small_conf(&conf, 16, 4);
	c1 = cache_create(&conf);
	c2 = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	r1 = cache_reader_register(c1);
	r2 = cache_reader_register(c2); /* same thread: liburcu registration is shared */
	CU_ASSERT_PTR_NOT_NULL_FATAL(r1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	s1 = add_swarm(c1, "one", false);
	s2 = add_swarm(c2, "two", false);
	for (uint64_t i = 0; i < 40; i++) { /* both evict: grace periods with this reader online */
		CU_ASSERT_EQUAL(put(c1, s1, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(put(c2, s2, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(probe(r1, s1, i, 1024), 1);
		CU_ASSERT_EQUAL(probe(r2, s2, i, 1024), 1);
		cache_reader_quiescent(r1);
	}
	cache_reader_unregister(r1);
	CU_ASSERT_EQUAL(probe(r2, s2, 39, 1024), 1); /* still registered for c2 */
	CU_ASSERT_EQUAL(put(c2, s2, 100, 1024, 0), 0);
	cache_reader_unregister(r2);
	cache_destroy(c1);
	cache_destroy(c2);
}

static void test_threads_registered(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	cache_swarm_t s;

	/* the application owns the liburcu registration of its threads */
	small_conf(&conf, 16, 4);
	conf.threads_registered = true;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	urcu_qsbr_register_thread();
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	s = add_swarm(c, "app", false);
	for (uint64_t i = 0; i < 40; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(probe(r, s, i, 1024), 1);
		cache_reader_quiescent(r);
	}
	cache_reader_unregister(r);
	urcu_qsbr_unregister_thread();
	cache_destroy(c);
}

static size_t align4k(size_t v)
{
	return (v + 4095) / 4096 * 4096;
}

static void test_headroom_conf(void)
{
	static const uint32_t bad[] = { 100, 8192, 32, 4160 };
	static const uint32_t good[] = { 0, 64, 4096 };
	struct cache_conf conf;
	struct cache *c;
	size_t plain, more;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		small_conf(&conf, 16, 4);
		conf.slot_headroom = bad[i];
		errno = 0;
		CU_ASSERT_EQUAL(cache_region_size(&conf), 0);
		CU_ASSERT_EQUAL(errno, EINVAL);
		errno = 0;
		CU_ASSERT_PTR_NULL(cache_create(&conf));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		small_conf(&conf, 16, 4);
		conf.slot_headroom = good[i];
		CU_ASSERT(cache_region_size(&conf) > 0);
		c = cache_create(&conf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_EQUAL(cache_slot_headroom(c), good[i]);
		cache_destroy(c);
	}
	cache_conf_init(&conf);
	CU_ASSERT_EQUAL(conf.slot_headroom, 0);

	/* only the slot areas grow, each by nslots * headroom rounded to its 4 KiB alignment */
	small_conf(&conf, 16, 4);
	plain = cache_region_size(&conf);
	conf.slot_headroom = 128;
	more = cache_region_size(&conf);
	CU_ASSERT_EQUAL(more - plain, align4k(16 * (1024 + 128)) - align4k(16 * 1024) +
				      align4k(4 * (8192 + 128)) - align4k(4 * 8192));
	CU_ASSERT_EQUAL(more - plain, 8192);
	small_conf(&conf, 100, 10);
	plain = cache_region_size(&conf);
	conf.slot_headroom = 128;
	CU_ASSERT_EQUAL(cache_region_size(&conf) - plain,
			align4k(100 * (1024 + 128)) - align4k(100 * 1024) +
				align4k(10 * (8192 + 128)) - align4k(10 * 8192));
}

#define HR 128
#define HR_SLOTS (8 + 4)

/* The headroom of every slot holds 0xA5 and nothing else. */
static int headroom_intact(uint8_t *const *slot_data)
{
	for (unsigned i = 0; i < HR_SLOTS; i++)
		for (unsigned j = 1; j <= HR; j++)
			if (slot_data[i][-(int)j] != 0xa5)
				return 0;
	return 1;
}

static void test_headroom_slots(void)
{
	struct cache_conf conf;
	struct hook_log h = {0};
	struct cache *c;
	struct cache_reader *r;
	struct cache_hit hit;
	uint8_t *slot_data[HR_SLOTS] = {0};
	uint8_t *base, *end;
	cache_swarm_t s;

	/* 8 small slots so churn evicts; full-size chunks so a copy reaches the next slot's
	 * headroom if the stride were wrong */
	small_conf(&conf, 8, 4);
	conf.slot_headroom = HR;
	conf.slot_filled = hook_filled;
	conf.hook_ctx = &h;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	h.c = c;
	r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	s = add_swarm(c, "headroom", false);
	base = cache_region_base(c);
	end = base + cache_region_len(c);

	/* chunks 0..7 fill the 1 KiB class, 100..103 the 8 KiB class; 0, 1, 100, 101 pinned */
	for (uint64_t i = 0; i < HR_SLOTS; i++) {
		uint64_t chunk = i < 8 ? i : 100 + i - 8;
		uint32_t len = i < 8 ? 1024 : 8192;

		CU_ASSERT_EQUAL(put(c, s, chunk, len, chunk % 100 < 2 ? CACHE_INSERT_PIN : 0), 0);
		CU_ASSERT_EQUAL_FATAL(cache_lookup(r, &(struct cache_key){ s, chunk }, &hit), 0);
		CU_ASSERT_PTR_EQUAL(h.last_data, hit.data);
		CU_ASSERT_EQUAL((uintptr_t)hit.data % 64, 0);
		CU_ASSERT_FATAL(hit.slot < HR_SLOTS && !slot_data[hit.slot]);
		CU_ASSERT_FATAL((const uint8_t *)hit.data - HR >= base &&
				(const uint8_t *)hit.data + len <= end);
		slot_data[hit.slot] = (uint8_t *)hit.data;
		memset(slot_data[hit.slot] - HR, 0xa5, HR);
	}
	/* consecutive slots of a class lie slot_size + headroom apart; no headroom overlaps any
	 * other slot's data or headroom */
	for (unsigned i = 1; i < HR_SLOTS; i++)
		if (i != 8)
			CU_ASSERT_EQUAL(slot_data[i] - slot_data[i - 1], (i < 8 ? 1024 : 8192) + HR);
	for (unsigned i = 0; i < HR_SLOTS; i++)
		for (unsigned j = 0; j < HR_SLOTS; j++) {
			uint32_t size_i = i < 8 ? 1024 : 8192;

			if (i != j)
				CU_ASSERT(slot_data[i] + size_i <= slot_data[j] - HR ||
					  slot_data[j] + (j < 8 ? 1024 : 8192) <=
						  slot_data[i] - HR);
		}

	/* churn both classes: evictions, removals, re-inserts */
	for (uint64_t i = 8; i < 60; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 1024, 0), 0);
		CU_ASSERT_EQUAL(cache_lookup(r, &(struct cache_key){ s, i }, &hit), 0);
		CU_ASSERT_PTR_EQUAL(hit.data, slot_data[hit.slot]);
		CU_ASSERT_PTR_EQUAL(h.last_data, hit.data);
		cache_reader_quiescent(r);
	}
	for (uint64_t i = 104; i < 120; i++) {
		CU_ASSERT_EQUAL(put(c, s, i, 8192, 0), 0);
		cache_reader_quiescent(r);
	}
	CU_ASSERT_EQUAL(cache_remove(c, &(struct cache_key){ s, 119 }), 0);
	cache_reader_quiescent(r);
	CU_ASSERT(cache_reclaim(c) >= 1);
	CU_ASSERT_EQUAL(put(c, s, 119, 8000, 0), 0);

	CU_ASSERT_TRUE(headroom_intact(slot_data));
	CU_ASSERT_EQUAL(probe(r, s, 0, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 1, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 100, 8192), 1);
	CU_ASSERT_EQUAL(probe(r, s, 101, 8192), 1);
	CU_ASSERT_EQUAL(probe(r, s, 59, 1024), 1);
	CU_ASSERT_EQUAL(probe(r, s, 119, 8000), 1);
	for (uint64_t i = 2; i < 60; i++) /* whatever survived is exact */
		CU_ASSERT_NOT_EQUAL(probe(r, s, i, 1024), -1);
	for (uint64_t i = 102; i < 119; i++)
		CU_ASSERT_NOT_EQUAL(probe(r, s, i, 8192), -1);
	cache_reader_unregister(r);
	cache_destroy(c);
}

int main(void)
{
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cache", NULL, NULL);
	CU_add_test(s, "configuration errors", test_conf_errors);
	CU_add_test(s, "hugepages or fallback", test_hugepage_attempt);
	CU_add_test(s, "insert and lookup", test_insert_lookup);
	CU_add_test(s, "payload sums", test_payload_sums);
	CU_add_test(s, "swarms", test_swarms);
	CU_add_test(s, "eviction", test_eviction);
	CU_add_test(s, "pinning", test_pinning);
	CU_add_test(s, "references", test_references);
	CU_add_test(s, "slot hooks (filled before publication, busy keeps a slot)", test_slot_hooks);
	CU_add_test(s, "purge", test_purge);
	CU_add_test(s, "chunk maps (agree with the index; unknown size, removal, budget)",
		    test_chunk_maps);
	CU_add_test(s, "reader limit", test_reader_limit);
	CU_add_test(s, "caller region", test_caller_region);
	CU_add_test(s, "memb flavour", test_memb_flavour);
	CU_add_test(s, "two caches, one thread", test_two_caches_one_thread);
	CU_add_test(s, "threads registered by the application", test_threads_registered);
	CU_add_test(s, "slot headroom: configuration and region size", test_headroom_conf);
	CU_add_test(s, "slot headroom: aligned, disjoint, never written", test_headroom_slots);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
