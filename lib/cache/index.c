/* The chunk index: (swarm, chunk) -> slot and length, open addressing over one-line buckets of
 * two entries with inline keys (see struct cache_cbucket). One writer; readers never lock and
 * never wait. Entries never move: an insert takes the first empty entry from the home bucket
 * on and raises the overflow count of every bucket it passed, so a probe stops at the first
 * bucket whose count is zero, with no tombstones. The table holds at most 0.6 keys per bucket
 * on average (sized at creation for every slot), so about 95% of keys sit in their home bucket
 * and a lookup reads one cache line. */
#include <stdlib.h>

#include "cache_internal.h"

uint32_t cache_index_buckets_for(uint32_t entries)
{
	return (uint32_t)((uint64_t)entries * 5 / 3 + 2);
}

static uint32_t next_bucket(const struct cache_index *x, uint32_t b)
{
	return b + 1 == x->nbuckets ? 0 : b + 1;
}

static void over_add(struct cache_index *x, uint32_t from, uint32_t to, int d)
{
	for (uint32_t p = from; p != to; p = next_bucket(x, p))
		atomic_store_explicit(&x->b[p].over,
				      atomic_load_explicit(&x->b[p].over, memory_order_relaxed) +
					      (uint32_t)d,
				      memory_order_release);
}

/* Seqlock write side: odd while the fields change, even (release) when they are whole. Each
 * field store is a release so the odd sequence is visible before it (see
 * cache_centry_match). */
static void entry_write(struct cache_cbucket *bk, int i, uint64_t swarm, uint64_t chunk,
			uint32_t slot, uint32_t len)
{
	uint32_t seq = atomic_load_explicit(&bk->seq[i], memory_order_relaxed);

	atomic_store_explicit(&bk->seq[i], seq + 1, memory_order_relaxed);
	atomic_store_explicit(&bk->e[i].chunk, chunk, memory_order_release);
	atomic_store_explicit(&bk->e[i].slot, slot, memory_order_release);
	atomic_store_explicit(&bk->e[i].len, len, memory_order_release);
	atomic_store_explicit(&bk->freq[i], 0, memory_order_relaxed);
	atomic_store_explicit(&bk->e[i].swarm, swarm, memory_order_release);
	atomic_store_explicit(&bk->seq[i], seq + 2, memory_order_release);
}

void cache_index_insert(struct cache_index *x, uint64_t hash, uint64_t swarm, uint64_t chunk,
			uint32_t slot, uint32_t len)
{
	uint32_t home = cache_index_bucket(x, hash), b = home;

	/* There are more entries than slots, so an empty one exists. */
	for (;;) {
		struct cache_cbucket *bk = &x->b[b];

		for (int i = 0; i < 2; i++) {
			if (atomic_load_explicit(&bk->e[i].swarm, memory_order_relaxed) == 0) {
				/* overflow counts first: a reader that finds the entry must be
				 * able to reach it */
				over_add(x, home, b, 1);
				entry_write(bk, i, swarm, chunk, slot, len);
				return;
			}
		}
		b = next_bucket(x, b);
	}
}

void cache_index_remove(struct cache_index *x, uint64_t hash, uint32_t slot)
{
	uint32_t home = cache_index_bucket(x, hash), b = home;

	for (uint32_t n = 0; n < x->nbuckets; n++) {
		struct cache_cbucket *bk = &x->b[b];

		for (int i = 0; i < 2; i++) {
			if (atomic_load_explicit(&bk->e[i].swarm, memory_order_relaxed) != 0 &&
			    atomic_load_explicit(&bk->e[i].slot, memory_order_relaxed) == slot) {
				entry_write(bk, i, 0, 0, CACHE_NO_SLOT, 0);
				over_add(x, home, b, -1);
				return;
			}
		}
		if (atomic_load_explicit(&bk->over, memory_order_relaxed) == 0)
			break;
		b = next_bucket(x, b);
	}
	/* Broken invariant: the writer removes only what it inserted. */
	PCDN_LOG(cache_log, ERR, "chunk index: slot %u missing on remove", slot);
	abort();
}

uint32_t cache_index_lookup(const struct cache_index *x, uint64_t hash, uint64_t swarm,
			    uint64_t chunk, uint32_t *len, _Atomic uint8_t **freq)
{
	uint32_t b = cache_index_bucket(x, hash), slot;

	if (swarm == 0)
		return CACHE_NO_SLOT;
	for (uint32_t n = 0; n < x->nbuckets; n++) {
		const struct cache_cbucket *bk = &x->b[b];

		for (int i = 0; i < 2; i++) {
			if (cache_centry_match(bk, i, swarm, chunk, &slot, len)) {
				if (freq)
					*freq = (_Atomic uint8_t *)&bk->freq[i];
				return slot;
			}
		}
		if (atomic_load_explicit(&bk->over, memory_order_acquire) == 0)
			break;
		b = next_bucket(x, b);
	}
	return CACHE_NO_SLOT;
}

_Atomic uint8_t *cache_index_freq(struct cache *c, uint32_t slot)
{
	const struct cache_slot *s = &c->slots[slot];
	_Atomic uint8_t *freq = cache_cmap_freq(c, s->swarm, s->chunk);
	uint32_t len;

	if (freq)
		return freq;
	if (cache_index_lookup(&c->chunk_idx, cache_key_hash(s->swarm, s->chunk), s->swarm,
			       s->chunk, &len, &freq) != slot) {
		PCDN_LOG(cache_log, ERR, "chunk index: slot %u not indexed", slot);
		abort();
	}
	return freq;
}
