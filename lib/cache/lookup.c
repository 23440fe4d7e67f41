/* Reader side: burst lookups and references. No locks, no allocation, no system calls.
 *
 * A burst walks its keys three times so that DRAM latency overlaps (VPP's dual-loop idea
 * stretched over the whole burst): hash every key and prefetch its bucket; match tags in every
 * bucket and prefetch the candidate slot record; compare full keys and fill the results. With
 * a 75%-full table nearly every probe ends in its home bucket; the rest take the complete
 * probe (slow_find), so a present key is never reported missing. */
#include <errno.h>

#include "cache_internal.h"

/* cand[] marker: not in the home bucket, which overflowed */
#define CACHE_CHECK_NEXT (CACHE_NO_SLOT - 1)

static inline void count(_Atomic uint64_t *v, uint64_t d)
{
	/* Only the owning reader writes: a load and a store, no locked instruction. */
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static inline void hit_fill(struct cache *c, uint32_t slot, struct cache_hit *hit)
{
	struct cache_slot *s = &c->slots[slot];
	uint8_t f = atomic_load_explicit(&s->freq, memory_order_relaxed);

	if (f < CACHE_FREQ_MAX)
		atomic_store_explicit(&s->freq, (uint8_t)(f + 1), memory_order_relaxed);
	hit->data = cache_slot_data(c, slot);
	hit->len = s->len;
	hit->slot = slot;
}

static unsigned burst(struct cache_reader *r, const struct cache_key *keys, unsigned n,
		      struct cache_hit *hits)
{
	struct cache *c = r->c;
	const struct cache_table *t = &c->chunk_tab;
	uint64_t h[CACHE_BURST_MAX];
	uint32_t cand[CACHE_BURST_MAX];
	unsigned nhit = 0;
	uint32_t max_swarms = c->conf.max_swarms;

	for (unsigned i = 0; i < n; i++) {
		h[i] = cache_key_hash(keys[i].swarm, keys[i].chunk);
		__builtin_prefetch(&t->b[cache_hash_bucket(t, h[i])]);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct cache_bucket *bk = &t->b[cache_hash_bucket(t, h[i])];
		uint32_t tag = cache_hash_tag(h[i]);

		cand[i] = CACHE_NO_SLOT;
		for (int e = 0; e < CACHE_BUCKET_ENTRIES; e++) {
			uint64_t ent = atomic_load_explicit(&bk->ent[e], memory_order_acquire);

			if ((uint32_t)(ent >> 32) == tag) {
				cand[i] = (uint32_t)ent;
				__builtin_prefetch(&c->slots[cand[i]]);
				break;
			}
		}
		/* Not in its home bucket but the bucket overflowed: the key may be in the next
		 * one, fetch it now rather than in the slow path. */
		if (cand[i] == CACHE_NO_SLOT &&
		    atomic_load_explicit(&bk->over, memory_order_relaxed) != 0) {
			uint32_t b = cache_hash_bucket(t, h[i]) + 1;

			__builtin_prefetch(&t->b[b == t->nbuckets ? 0 : b]);
			cand[i] = CACHE_CHECK_NEXT;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct cache_key *k = &keys[i];
		uint32_t slot = cand[i];
		uint32_t sw = cache_swarm_index(k->swarm);

		if (slot < CACHE_CHECK_NEXT) {
			const struct cache_slot *s = &c->slots[slot];

			if (s->swarm != k->swarm || s->chunk != k->chunk)
				slot = cache_chunk_find(c, k->swarm, k->chunk, h[i]);
		} else if (slot == CACHE_CHECK_NEXT) {
			slot = cache_chunk_find(c, k->swarm, k->chunk, h[i]);
		}
		if (slot != CACHE_NO_SLOT) {
			hit_fill(c, slot, &hits[i]);
			nhit++;
		} else {
			hits[i].data = NULL;
			hits[i].len = 0;
			hits[i].slot = CACHE_NO_SLOT;
		}
		if (sw < max_swarms)
			count(&r->swarm_hm[2 * sw + (slot == CACHE_NO_SLOT)], 1);
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
	atomic_fetch_add_explicit(&c->refcnt[slot], 1, memory_order_relaxed);
}

void cache_unref(struct cache *c, uint32_t slot)
{
	/* Release: the NIC's (or thread's) reads of the payload happen before the writer, which
	 * loads the count with acquire, may reuse the slot. */
	atomic_fetch_sub_explicit(&c->refcnt[slot], 1, memory_order_release);
}
