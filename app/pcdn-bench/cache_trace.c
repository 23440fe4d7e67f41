/* Miss-ratio part of the cache benchmark: generated request traces (Zipf, and Zipf with long
 * one-time scans), an exact LRU baseline, and the real cache (S3-FIFO) replaying the same
 * trace: lookup through a registered reader (which is what marks a chunk as accessed), insert
 * on a miss. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cache.h"

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Zipf sampler over ranks 0..n-1 by Vose's alias method: O(1) per request. Ranks are mapped
 * to object ids through a random permutation so popularity is not tied to id order. */
struct zipf {
	uint32_t n;
	double *prob;
	uint32_t *alias;
	uint32_t *perm;
};

static int zipf_init(struct zipf *z, uint32_t n, double alpha, uint64_t *seed)
{
	double *p = malloc(sizeof(double) * n), sum = 0;
	uint32_t *small = malloc(sizeof(uint32_t) * n), *large = malloc(sizeof(uint32_t) * n);
	uint32_t ns = 0, nl = 0;

	z->n = n;
	z->prob = malloc(sizeof(double) * n);
	z->alias = malloc(sizeof(uint32_t) * n);
	z->perm = malloc(sizeof(uint32_t) * n);
	if (!p || !small || !large || !z->prob || !z->alias || !z->perm) {
		free(p);
		free(small);
		free(large);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		sum += p[i] = 1.0 / pow((double)(i + 1), alpha);
	for (uint32_t i = 0; i < n; i++) {
		p[i] = p[i] / sum * n;
		if (p[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[nl - 1];

		z->prob[s] = p[s];
		z->alias[s] = l;
		p[l] = p[l] + p[s] - 1.0;
		if (p[l] < 1.0) {
			nl--;
			small[ns++] = l;
		}
	}
	while (nl) {
		uint32_t l = large[--nl];

		z->prob[l] = 1.0;
		z->alias[l] = l;
	}
	while (ns) {
		uint32_t s = small[--ns];

		z->prob[s] = 1.0;
		z->alias[s] = s;
	}
	for (uint32_t i = 0; i < n; i++)
		z->perm[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng_next(seed) % (i + 1)), t = z->perm[i];

		z->perm[i] = z->perm[j];
		z->perm[j] = t;
	}
	free(p);
	free(small);
	free(large);
	return 0;
}

static uint32_t zipf_sample(const struct zipf *z, uint64_t *seed)
{
	uint64_t r = rng_next(seed);
	uint32_t i = (uint32_t)((r >> 32) * z->n >> 32);
	double u = (double)(r & 0xffffffffu) / 4294967296.0;

	return z->perm[u < z->prob[i] ? i : z->alias[i]];
}

static void zipf_free(struct zipf *z)
{
	free(z->prob);
	free(z->alias);
	free(z->perm);
}

int bench_trace_zipf(struct bench_trace *t, uint32_t objects, double alpha, uint64_t requests,
		     uint64_t seed)
{
	struct zipf z;

	t->req = malloc(sizeof(uint32_t) * requests);
	if (!t->req || zipf_init(&z, objects, alpha, &seed) < 0) {
		free(t->req);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < requests; i++)
		t->req[i] = zipf_sample(&z, &seed);
	t->n = requests;
	t->max_id = objects;
	zipf_free(&z);
	return 0;
}

/* Scan-heavy: Zipf traffic in which every 400 000 requests a burst of 100 000 requests reads
 * objects no one asks for again, in order (a crawler, a backup, a VoD catalogue prefetch):
 * a quarter of all requests are one-time scans. */
int bench_trace_scan(struct bench_trace *t, uint32_t objects, double alpha, uint64_t requests,
		     uint64_t seed)
{
	struct zipf z;
	uint32_t next_scan = objects;

	t->req = malloc(sizeof(uint32_t) * requests);
	if (!t->req || zipf_init(&z, objects, alpha, &seed) < 0) {
		free(t->req);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < requests; i++) {
		if (i % 400000 >= 300000)
			t->req[i] = next_scan++;
		else
			t->req[i] = zipf_sample(&z, &seed);
	}
	t->n = requests;
	t->max_id = next_scan;
	zipf_free(&z);
	return 0;
}

void bench_trace_free(struct bench_trace *t)
{
	free(t->req);
	t->req = NULL;
}

/* Exact LRU: id -> node through a direct table, nodes in a doubly linked list. */
double bench_miss_lru(const struct bench_trace *t, uint32_t capacity)
{
	uint32_t *where = malloc(sizeof(uint32_t) * t->max_id);
	uint32_t *prev = malloc(sizeof(uint32_t) * capacity), *next = malloc(sizeof(uint32_t) * capacity);
	uint32_t *id = malloc(sizeof(uint32_t) * capacity);
	uint32_t head = UINT32_MAX, tail = UINT32_MAX, used = 0;
	uint64_t misses = 0;

	if (!where || !prev || !next || !id) {
		free(where);
		free(prev);
		free(next);
		free(id);
		return -1;
	}
	memset(where, 0xff, sizeof(uint32_t) * t->max_id);
	for (uint64_t i = 0; i < t->n; i++) {
		uint32_t o = t->req[i], n = where[o];

		if (n != UINT32_MAX) {
			if (n == head)
				continue;
			/* unlink, then move to the head */
			next[prev[n]] = next[n];
			if (next[n] != UINT32_MAX)
				prev[next[n]] = prev[n];
			else
				tail = prev[n];
		} else {
			misses++;
			if (used < capacity) {
				n = used++;
			} else {
				n = tail;
				where[id[n]] = UINT32_MAX;
				tail = prev[n];
				next[tail] = UINT32_MAX;
			}
			id[n] = o;
			where[o] = n;
		}
		prev[n] = UINT32_MAX;
		next[n] = head;
		if (head != UINT32_MAX)
			prev[head] = n;
		head = n;
		if (tail == UINT32_MAX)
			tail = n;
	}
	free(where);
	free(prev);
	free(next);
	free(id);
	return (double)misses / (double)t->n;
}

/* The real cache: one 64-byte class of `capacity` slots (payload size does not change the
 * policy), lookups through a registered QSBR reader, insert on every miss. */
double bench_miss_cache(const struct bench_trace *t, uint32_t capacity)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_reader *r;
	struct cache_stats st;
	cache_swarm_t s;
	uint8_t payload[64] = { 0 };
	uint64_t misses = 0;

	cache_conf_init(&conf);
	conf.nclasses = 1;
	conf.classes[0] = (struct cache_class_conf){ .slot_size = 64, .nslots = capacity };
	conf.max_swarms = 4;
	conf.meta_bytes = 4096;
	conf.max_readers = 2;
	c = cache_create(&conf);
	if (!c)
		return -1;
	r = cache_reader_register(c);
	struct cache_swarm_conf sc = { .id = (const uint8_t *)"trace", .id_len = 5 };
	if (!r || cache_swarm_add(c, &sc, &s) < 0) {
		cache_destroy(c);
		return -1;
	}
	for (uint64_t i = 0; i < t->n; i++) {
		struct cache_key k = { s, t->req[i] };
		struct cache_hit h;

		if (cache_lookup(r, &k, &h) == 0)
			continue;
		misses++;
		if (cache_insert(c, &k, payload, sizeof(payload), 0) < 0) {
			misses = UINT64_MAX;
			break;
		}
		if ((i & 63) == 0)
			cache_reader_quiescent(r);
	}
	cache_stats_get(c, &st);
	cache_reader_unregister(r);
	cache_destroy(c);
	if (misses == UINT64_MAX || st.misses != misses)
		return -1;
	return (double)misses / (double)t->n;
}
