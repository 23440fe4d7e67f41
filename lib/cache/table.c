/* The open-addressing index shared by the chunk and swarm tables. One writer; readers never
 * lock. Entries never move: an insert takes the first empty entry from the home bucket on, and
 * raises the overflow count of every bucket it passed, so a reader knows where a probe may stop
 * without tombstones. An entry is one 64-bit word (tag, value) published with a release store
 * after the record it names is complete; the value stays meaningful for a reader until the next
 * grace period, so a reader that sees a stale entry checks the record's key and finds either the
 * right chunk or a mismatch, never a half-written one. */
#include <stdlib.h>

#include "cache_internal.h"

uint32_t cache_table_buckets_for(uint32_t entries)
{
	/* At most half the entries used (3.5 per bucket on average): 97% of buckets hold all
	 * their keys, so nearly every lookup reads one bucket line and one slot record. */
	uint64_t n = ((uint64_t)entries * 2 + CACHE_BUCKET_ENTRIES - 1) / CACHE_BUCKET_ENTRIES;

	return (uint32_t)(n < 2 ? 2 : n + 1);
}

void cache_table_insert(struct cache_table *t, uint64_t hash, uint32_t value)
{
	uint64_t ent = (uint64_t)cache_hash_tag(hash) << 32 | value;
	uint32_t home = cache_hash_bucket(t, hash), b = home;

	/* The table always has more entries than values (sized at creation), so this ends. */
	for (;;) {
		struct cache_bucket *bk = &t->b[b];

		for (int i = 0; i < CACHE_BUCKET_ENTRIES; i++) {
			if (atomic_load_explicit(&bk->ent[i], memory_order_relaxed) == 0) {
				/* Overflow counts first: a reader that finds the entry must be able
				 * to reach it. */
				for (uint32_t p = home; p != b; p = p + 1 == t->nbuckets ? 0 : p + 1)
					atomic_store_explicit(
						&t->b[p].over,
						atomic_load_explicit(&t->b[p].over,
								     memory_order_relaxed) + 1,
						memory_order_release);
				atomic_store_explicit(&bk->ent[i], ent, memory_order_release);
				return;
			}
		}
		b = b + 1 == t->nbuckets ? 0 : b + 1;
	}
}

void cache_table_remove(struct cache_table *t, uint64_t hash, uint32_t value)
{
	uint64_t ent = (uint64_t)cache_hash_tag(hash) << 32 | value;
	uint32_t home = cache_hash_bucket(t, hash), b = home;

	for (uint32_t n = 0; n < t->nbuckets; n++) {
		struct cache_bucket *bk = &t->b[b];

		for (int i = 0; i < CACHE_BUCKET_ENTRIES; i++) {
			if (atomic_load_explicit(&bk->ent[i], memory_order_relaxed) == ent) {
				atomic_store_explicit(&bk->ent[i], 0, memory_order_release);
				for (uint32_t p = home; p != b; p = p + 1 == t->nbuckets ? 0 : p + 1)
					atomic_store_explicit(
						&t->b[p].over,
						atomic_load_explicit(&t->b[p].over,
								     memory_order_relaxed) - 1,
						memory_order_release);
				return;
			}
		}
		if (atomic_load_explicit(&bk->over, memory_order_relaxed) == 0)
			break;
		b = b + 1 == t->nbuckets ? 0 : b + 1;
	}
	/* Broken invariant: the writer removes only what it inserted. */
	PCDN_LOG(cache_log, ERR, "index entry %016llx missing on remove",
		 (unsigned long long)ent);
	abort();
}
