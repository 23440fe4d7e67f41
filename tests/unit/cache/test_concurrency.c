/* Concurrency stress for the chunk cache: reader threads look up bursts of keys and check the
 * exact bytes (and length) of every hit, hold some hits with cache_ref() across quiescent states
 * and check them again before cache_unref(), and resolve swarms by ID and check their metadata
 * blob; meanwhile the writer inserts, evicts (small classes, so nearly every insert evicts),
 * pins, removes, purges ranges, swarms and everything, updates metadata and removes and re-adds
 * swarms, as fast as it can. Run length: PCDN_CACHE_STRESS_SECONDS (default 10), longer if the
 * machine is so slow that some kind of event has not happened yet. Also run under
 * ThreadSanitizer (suite tsan) and ASan.
 *
 * usage: test_cache_concurrency qsbr|memb */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cache_test_util.h"

#define NSWARMS 6
#define NCHUNKS 3000
#define NREADERS 3
#define BURST 32
#define HOLD 6

static struct cache *cache;
static enum cache_flavour flavour;
static atomic_bool stop;
static atomic_ulong failures;
static atomic_bool saw_ref, saw_find;

struct reader_stats {
	unsigned long lookups, hits, checked_bytes, refs, swarm_finds;
};

static void swarm_id(unsigned tag, uint8_t id[20])
{
	memset(id, 0, 20);
	snprintf((char *)id, 20, "stress-swarm-%u", tag);
}

static uint32_t len_of(unsigned tag, uint64_t chunk)
{
	uint64_t x = test_seed(tag, chunk);

	/* mostly 1 KiB class, some 8 KiB class */
	return x % 5 == 0 ? 1025 + (uint32_t)(x >> 20) % 7167 : 1 + (uint32_t)(x >> 20) % 1024;
}

/* Metadata blob: 8-byte version, then bytes derived from (tag, version). */
static void meta_make(unsigned tag, uint64_t version, uint8_t *blob, size_t len)
{
	memcpy(blob, &version, 8);
	test_fill(test_seed(tag + 1000, version), blob + 8, (uint32_t)(len - 8));
}

static size_t meta_len(unsigned tag, uint64_t version)
{
	return 64 + (size_t)((tag * 131 + version * 17) % 900);
}

static void fail(const char *what, unsigned tag, uint64_t chunk)
{
	fprintf(stderr, "FAIL: %s (swarm %u chunk %llu)\n", what, tag,
		(unsigned long long)chunk);
	atomic_fetch_add(&failures, 1);
}

struct held {
	uint32_t slot;
	const uint8_t *data;
	uint32_t len;
	unsigned tag;
	uint64_t chunk;
	int age;
};

static void *reader_main(void *arg)
{
	struct reader_stats *rs = arg;
	struct cache_reader *r = cache_reader_register(cache);
	struct cache_key keys[BURST];
	struct cache_hit hits[BURST];
	unsigned tags[BURST];
	struct held held[HOLD];
	unsigned nheld = 0;
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull | 1;

	if (!r) {
		fail("reader registration", 0, 0);
		return NULL;
	}
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct cache_swarm_info info[NSWARMS];
		bool present[NSWARMS];

		cache_read_begin(r);
		for (unsigned t = 0; t < NSWARMS; t++) {
			uint8_t id[20];

			swarm_id(t, id);
			present[t] = cache_swarm_find(cache, id, 20, &info[t]) == 0;
			if (!present[t])
				continue;
			rs->swarm_finds++;
			if (!atomic_load_explicit(&saw_find, memory_order_relaxed))
				atomic_store(&saw_find, true);
			if (info[t].meta_len < 8) {
				fail("metadata missing", t, 0);
				continue;
			}
			uint64_t version;
			memcpy(&version, info[t].meta, 8);
			uint8_t expect[1024];
			if (info[t].meta_len != meta_len(t, version)) {
				fail("metadata length", t, version);
				continue;
			}
			meta_make(t, version, expect, info[t].meta_len);
			if (memcmp(expect, info[t].meta, info[t].meta_len) != 0)
				fail("metadata bytes", t, version);
		}
		for (unsigned i = 0; i < BURST; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			tags[i] = (unsigned)(x % NSWARMS);
			keys[i].swarm = present[tags[i]] ? info[tags[i]].handle : 0;
			keys[i].chunk = (x >> 16) % NCHUNKS;
		}
		unsigned n = cache_lookup_burst(r, keys, BURST, hits), seen = 0;

		rs->lookups += BURST;
		rs->hits += n;
		for (unsigned i = 0; i < BURST; i++) {
			if (!hits[i].data)
				continue;
			seen++;
			if (hits[i].len != len_of(tags[i], keys[i].chunk) ||
			    test_check(test_seed(tags[i], keys[i].chunk), hits[i].data,
				       hits[i].len) != 0) {
				fail("hit with wrong bytes", tags[i], keys[i].chunk);
				continue;
			}
			rs->checked_bytes += hits[i].len;
			if (nheld < HOLD && (x >> 40) % 16 == 0) {
				cache_ref(cache, hits[i].slot);
				held[nheld++] = (struct held){ hits[i].slot, hits[i].data, hits[i].len,
							       tags[i], keys[i].chunk, 0 };
				rs->refs++;
				if (!atomic_load_explicit(&saw_ref, memory_order_relaxed))
					atomic_store(&saw_ref, true);
			}
		}
		if (seen != n)
			fail("hit count", 0, n);
		cache_read_end(r);
		cache_reader_quiescent(r);

		/* held chunks must stay intact across quiescent states, whatever the writer did */
		for (unsigned i = 0; i < nheld;) {
			if (++held[i].age < 20) {
				i++;
				continue;
			}
			if (test_check(test_seed(held[i].tag, held[i].chunk), held[i].data,
				       held[i].len) != 0)
				fail("referenced chunk changed", held[i].tag, held[i].chunk);
			cache_unref(cache, held[i].slot);
			held[i] = held[--nheld];
		}
		if ((x & 0xff) == 0) {
			/* a reader may go idle; the writer must not wait for it meanwhile */
			cache_reader_offline(r);
			cache_reader_online(r);
		}
	}
	for (unsigned i = 0; i < nheld; i++) {
		if (test_check(test_seed(held[i].tag, held[i].chunk), held[i].data, held[i].len))
			fail("referenced chunk changed", held[i].tag, held[i].chunk);
		cache_unref(cache, held[i].slot);
	}
	cache_reader_unregister(r);
	return NULL;
}

struct writer_state {
	cache_swarm_t handle[NSWARMS];
	uint64_t version[NSWARMS];
	unsigned long ops, inserts, busy, full;
	int pinned_swarm; /* at most one swarm pinned at a time, or -1 */
};

static int add_swarm(struct writer_state *w, unsigned t, bool pinned)
{
	uint8_t id[20], blob[1024];
	size_t len = meta_len(t, w->version[t]);

	swarm_id(t, id);
	meta_make(t, w->version[t], blob, len);
	struct cache_swarm_conf sc = { .id = id, .id_len = 20, .content_len = NCHUNKS * 1024ull,
				       .chunk_size = 1024, .meta = blob, .meta_len = len,
				       .pinned = pinned };
	return cache_swarm_add(cache, &sc, &w->handle[t]);
}

static void writer_run(struct writer_state *w, double seconds)
{
	uint8_t data[8192];
	uint64_t x = 0x2545f4914f6cdd1dull;
	struct timespec t0, now;

	for (unsigned t = 0; t < NSWARMS; t++)
		if (add_swarm(w, t, false) != 0)
			fail("swarm add", t, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((w->ops & 1023) == 0) {
			struct cache_stats st;
			double el;

			clock_gettime(CLOCK_MONOTONIC, &now);
			el = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
			cache_stats_get(cache, &st);
			/* At least `seconds`, and on a slow (sanitised, shared) machine until every
			 * kind of event has happened, within 20 times that. */
			if (el >= seconds &&
			    ((st.hits && st.evictions && st.purged && atomic_load(&saw_ref) &&
			      atomic_load(&saw_find)) ||
			     el >= 20 * seconds))
				break;
		}
		w->ops++;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned t = (unsigned)(x % NSWARMS), op = (unsigned)((x >> 8) % 100000);
		uint64_t chunk = (x >> 24) % NCHUNKS;
		struct cache_key k = { w->handle[t], chunk };
		struct cache_stats st;
		int rc;

		if (op < 90000) {
			uint32_t len = len_of(t, chunk);
			unsigned flags = 0;

			if (op < 200) {
				cache_stats_get(cache, &st);
				if (st.pinned_chunks < 100)
					flags = CACHE_INSERT_PIN;
			}
			test_fill(test_seed(t, chunk), data, len);
			rc = cache_insert(cache, &k, data, len, flags);
			if (rc == 0)
				w->inserts++;
			else if (rc == -EBUSY)
				w->busy++;
			else if (rc == -ENOSPC && w->pinned_swarm >= 0) {
				/* a pinned swarm filled a class: what an operator would do */
				w->full++;
				if (cache_swarm_pin(cache, w->handle[w->pinned_swarm], false) != 0)
					fail("swarm unpin", t, 0);
				w->pinned_swarm = -1;
			} else if (rc != -EEXIST)
				fail("insert", t, (uint64_t)-rc);
		} else if (op < 93000) {
			rc = cache_pin(cache, &k, false);
			if (rc != 0 && rc != -ENOENT)
				fail("unpin", t, chunk);
		} else if (op < 97000) {
			rc = cache_remove(cache, &k);
			if (rc != 0 && rc != -ENOENT)
				fail("remove", t, chunk);
		} else if (op < 99800) {
			if (cache_purge_range(cache, k.swarm, chunk, chunk + (x >> 50) % 64) < 0)
				fail("purge range", t, chunk);
		} else if (op < 99950) {
			uint8_t blob[1024];
			size_t len = meta_len(t, ++w->version[t]);

			meta_make(t, w->version[t], blob, len);
			if (cache_swarm_update(cache, k.swarm, chunk * 1024, blob, len) != 0)
				fail("swarm update", t, 0);
		} else if (op < 99965) {
			if (cache_purge_swarm(cache, k.swarm) < 0)
				fail("purge swarm", t, 0);
		} else if (op < 99980) {
			if (cache_swarm_remove(cache, k.swarm) != 0)
				fail("swarm remove", t, 0);
			if (w->pinned_swarm == (int)t)
				w->pinned_swarm = -1;
			if (add_swarm(w, t, false) != 0)
				fail("swarm re-add", t, 0);
		} else if (op < 99995) {
			int p = w->pinned_swarm;

			if (cache_swarm_pin(cache, p >= 0 ? w->handle[p] : k.swarm, p < 0) != 0)
				fail("swarm pin", t, 0);
			w->pinned_swarm = p >= 0 ? -1 : (int)t;
		} else {
			if (cache_purge_all(cache) < 0)
				fail("purge all", t, 0);
		}
		if ((w->ops & 4095) == 0)
			cache_reclaim(cache);
	}
}

int main(int argc, char **argv)
{
	struct cache_conf conf;
	struct reader_stats rs[NREADERS];
	struct writer_state w;
	pthread_t th[NREADERS];
	struct cache_stats st;
	const char *env = getenv("PCDN_CACHE_STRESS_SECONDS");
	double seconds = env ? atof(env) : 10.0;
	unsigned long lookups = 0, hits = 0, refs = 0, finds = 0;

	if (argc != 2 || (strcmp(argv[1], "qsbr") != 0 && strcmp(argv[1], "memb") != 0)) {
		fprintf(stderr, "usage: %s qsbr|memb\n", argv[0]);
		return 2;
	}
	flavour = strcmp(argv[1], "qsbr") == 0 ? CACHE_RCU_QSBR : CACHE_RCU_MEMB;
	cache_conf_init(&conf);
	conf.flavour = flavour;
	conf.classes[0].nslots = 2048;
	conf.classes[1].nslots = 256;
	conf.max_swarms = NSWARMS + 2;
	conf.meta_bytes = 64 * 1024;
	conf.max_readers = NREADERS;
	conf.no_hugepages = true;
	cache = cache_create(&conf);
	if (!cache) {
		perror("cache_create");
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.pinned_swarm = -1;
	memset(rs, 0, sizeof(rs));
	for (unsigned i = 0; i < NREADERS; i++)
		pthread_create(&th[i], NULL, reader_main, &rs[i]);
	writer_run(&w, seconds);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NREADERS; i++) {
		pthread_join(th[i], NULL);
		lookups += rs[i].lookups;
		hits += rs[i].hits;
		refs += rs[i].refs;
		finds += rs[i].swarm_finds;
	}
	cache_reclaim(cache);
	cache_stats_get(cache, &st);
	printf("%s: %.0f s, writer %lu ops (%lu inserts, %lu busy, %lu full), readers %lu lookups, %lu hits "
	       "checked, %lu refs, %lu swarm finds; cache %llu chunks, %llu evictions, %llu purged\n",
	       argv[1], seconds, w.ops, w.inserts, w.busy, w.full, lookups, hits, refs, finds,
	       (unsigned long long)st.chunks, (unsigned long long)st.evictions,
	       (unsigned long long)st.purged);
	if (st.hits + st.misses != lookups)
		fail("hit/miss counters", 0, st.hits + st.misses);
	if (st.inserts != w.inserts)
		fail("insert counter", 0, st.inserts);
	if (st.inserts != st.chunks + st.evictions + st.purged)
		fail("inserts != chunks + evictions + purged", 0, st.inserts);
	/* the run must have exercised what it claims to */
	if (hits == 0 || st.evictions == 0 || st.purged == 0 || refs == 0 || finds == 0)
		fail("stress did not exercise hits, evictions, purges, refs and finds", 0, 0);
	cache_destroy(cache);
	if (atomic_load(&failures)) {
		fprintf(stderr, "%lu failures\n", atomic_load(&failures));
		return 1;
	}
	return 0;
}
