/* Reader side: burst lookups and references. No locks, no allocation, no system calls.
 *
 * Chunks of a swarm with a chunk map (cmap.c) are found there, seven to a cache line; the
 * others in the index. A burst walks its keys twice so that DRAM latency overlaps (VPP's
 * dual-loop idea stretched over the whole burst): hash every key and prefetch its bucket (or
 * its map line), then match every key in its bucket, where the full key, slot and length sit
 * together, so a hit costs one cache line.
 * Keys whose home bucket overflowed get the next bucket prefetched and a full probe at the
 * end, so a present key is never reported missing. */
#include <errno.h>

#include "cache_internal.h"

static inline void count(_Atomic uint64_t *v, uint64_t d)
{
	/* Only the owning reader writes: a load and a store, no locked instruction. */
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static inline void freq_bump(_Atomic uint8_t *freq)
{
	uint8_t f = atomic_load_explicit(freq, memory_order_relaxed);

	/* S3-FIFO needs "read since it last reached a queue tail", capped at 3: once a hot
	 * chunk is saturated its readers stop writing to the shared line. */
	if (f < CACHE_FREQ_MAX)
		atomic_store_explicit(freq, (uint8_t)(f + 1), memory_order_relaxed);
}

/* cand[] markers */
#define CAND_MISS 0u
#define CAND_HIT 1u
#define CAND_PROBE 2u /* home bucket overflowed: finish with a full probe */
#define CAND_MAP 3u   /* covered by its swarm's chunk map (cmap.c) */

static unsigned burst(struct cache_reader *r, const struct cache_key *keys, unsigned n,
		      struct cache_hit *hits)
{
	struct cache *c = r->c;
	const struct cache_index *x = &c->chunk_idx;
	uint64_t h[CACHE_BURST_MAX];
	struct cache_cmap_line *ml[CACHE_BURST_MAX];
	uint8_t mp[CACHE_BURST_MAX];
	uint8_t cand[CACHE_BURST_MAX];
	unsigned nhit = 0;
	uint32_t max_swarms = c->conf.max_swarms;

	for (unsigned i = 0; i < n; i++) {
		ml[i] = cache_cmap_find(c, keys[i].swarm, keys[i].chunk, &mp[i]);
		if (ml[i]) {
			__builtin_prefetch(ml[i]);
			continue;
		}
		h[i] = cache_key_hash(keys[i].swarm, keys[i].chunk);
		__builtin_prefetch(&x->b[cache_index_bucket(x, h[i])]);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct cache_key *k = &keys[i];
		uint32_t slot, len;
		int e;

		cand[i] = CAND_MISS;
		if (ml[i]) {
			cand[i] = CAND_MAP;
			continue;
		}
		if (k->swarm == 0)
			continue;
		const struct cache_cbucket *bk = &x->b[cache_index_bucket(x, h[i])];
		for (e = 0; e < 2; e++)
			if (cache_centry_match(bk, e, k->swarm, k->chunk, &slot, &len))
				break;
		if (e < 2) {
			freq_bump((_Atomic uint8_t *)&bk->freq[e]);
			hits[i].data = cache_slot_data(c, slot);
			hits[i].len = len;
			hits[i].slot = slot;
			cand[i] = CAND_HIT;
		} else if (atomic_load_explicit(&bk->over, memory_order_acquire) != 0) {
			uint32_t b = cache_index_bucket(x, h[i]) + 1;

			__builtin_prefetch(&x->b[b == x->nbuckets ? 0 : b]);
			cand[i] = CAND_PROBE;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t sw = cache_swarm_index(keys[i].swarm);

		if (cand[i] == CAND_MAP) {
			/* acquire: the slot's bytes were written before the entry */
			uint64_t v = atomic_load_explicit(&ml[i]->e[mp[i]], memory_order_acquire);
			cand[i] = CAND_MISS;
			if (v) {
				uint32_t slot = (uint32_t)v - 1u;
				freq_bump(&ml[i]->freq[mp[i]]);
				hits[i].data = cache_slot_data(c, slot);
				hits[i].len = (uint32_t)(v >> 32);
				hits[i].slot = slot;
				cand[i] = CAND_HIT;
			}
		} else if (cand[i] == CAND_PROBE) {
			_Atomic uint8_t *freq;
			uint32_t len, slot = cache_index_lookup(x, h[i], keys[i].swarm,
								keys[i].chunk, &len, &freq);

			if (slot != CACHE_NO_SLOT) {
				freq_bump(freq);
				hits[i].data = cache_slot_data(c, slot);
				hits[i].len = len;
				hits[i].slot = slot;
				cand[i] = CAND_HIT;
			}
		}
		if (cand[i] == CAND_HIT) {
			nhit++;
		} else {
			hits[i].data = NULL;
			hits[i].len = 0;
			hits[i].slot = CACHE_NO_SLOT;
		}
		if (sw < max_swarms)
			count(&r->swarm_hm[2 * sw + (cand[i] != CAND_HIT)], 1);
	}
	count(&r->hits, nhit);
	count(&r->misses, n - nhit);
	return nhit;
}

unsigned cache_lookup_burst(struct cache_reader *r, const struct cache_key *keys, unsigned n,
			    struct cache_hit *hits)
{
	unsigned nhit = 0;

	while (n > 0) {
		unsigned m = n < CACHE_BURST_MAX ? n : CACHE_BURST_MAX;

		nhit += burst(r, keys, m, hits);
		keys += m;
		hits += m;
		n -= m;
	}
	return nhit;
}

int cache_lookup(struct cache_reader *r, const struct cache_key *key, struct cache_hit *hit)
{
	return burst(r, key, 1, hit) ? 0 : -ENOENT;
}

void cache_ref(struct cache *c, uint32_t slot)
{
	if (slot < c->nslots)
		atomic_fetch_add_explicit(&c->refcnt[slot], 1, memory_order_relaxed);
}

void cache_unref(struct cache *c, uint32_t slot)
{
	/* Release: the NIC's (or thread's) reads of the payload happen before the writer, which
	 * loads the count with acquire, may reuse the slot. */
	if (slot < c->nslots)
		atomic_fetch_sub_explicit(&c->refcnt[slot], 1, memory_order_release);
}

void cache_slot_prefetch(const struct cache *c, uint32_t slot)
{
	if (slot < c->nslots)
		__builtin_prefetch(&c->slots[slot]);
}

uint16_t cache_chunk_sum16(const struct cache *c, uint32_t slot)
{
	return slot < c->nslots ? (uint16_t)c->slots[slot].sum16 : 0;
}
