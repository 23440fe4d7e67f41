/* Writer side of the chunk index: insert, remove, pin, purge, deferred slot reuse, and the
 * rebuild of the index from slot records when a cache file is opened.
 *
 * Crash consistency (warm restart): a slot's commit word is cleared before anything else when
 * its chunk leaves the cache, and set (release) only after payload, key, length and checksum
 * are written. A kill at any point therefore leaves either a committed, complete record or an
 * uncommitted one; the checksum also catches payload pages the kernel never wrote back (power
 * loss), so a torn chunk is dropped on open instead of served. */
#include <errno.h>
#include <string.h>

#include "cache_internal.h"

static void stat_add(_Atomic uint64_t *v, int64_t d)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + (uint64_t)d,
			      memory_order_relaxed);
}

static bool slot_live(const struct cache *c, uint32_t slot)
{
	uint8_t q = c->queue[slot];

	return q == Q_SMALL || q == Q_MAIN || q == Q_PINNED;
}

/* Adds (sign 1) or removes (sign -1) a live chunk from the figures. */
static void account(struct cache *c, uint32_t slot, int sign)
{
	const struct cache_slot *s = &c->slots[slot];
	struct cache_sw_stats *w = &c->sw_stats[cache_swarm_index(s->swarm)];
	int64_t len = (int64_t)s->len * sign;

	stat_add(&w->chunks, sign);
	stat_add(&w->bytes, len);
	stat_add(&c->total.chunks, sign);
	stat_add(&c->total.bytes, len);
	if (c->queue[slot] == Q_PINNED) {
		stat_add(&w->pinned_chunks, sign);
		stat_add(&w->pinned_bytes, len);
		stat_add(&c->total.pinned_chunks, sign);
		stat_add(&c->total.pinned_bytes, len);
	}
}

uint32_t cache_chunk_find(const struct cache *c, uint64_t swarm, uint64_t chunk, uint64_t hash)
{
	uint32_t len;

	return cache_index_lookup(&c->chunk_idx, hash, swarm, chunk, &len, NULL);
}

/* Takes a live chunk (already out of the FIFOs) out of the index and queues its slot for reuse
 * after a grace period. */
static void chunk_retire(struct cache *c, uint32_t slot, bool evicted)
{
	struct cache_slot *s = &c->slots[slot];
	struct cache_sw_stats *w = &c->sw_stats[cache_swarm_index(s->swarm)];

	atomic_store_explicit(&s->commit, 0, memory_order_release);
	cache_cmap_clear(c, s->swarm, s->chunk, slot);
	cache_index_remove(&c->chunk_idx, cache_key_hash(s->swarm, s->chunk), slot);
	account(c, slot, -1);
	if (evicted) {
		stat_add(&w->evictions, 1);
		stat_add(&c->total.evictions, 1);
	} else {
		stat_add(&w->purged, 1);
		stat_add(&c->total.purged, 1);
	}
	c->queue[slot] = Q_RETIRED;
	c->retired[c->nretired++] = slot;
	c->cls[c->slot_class[slot]].nretired++;
}

void cache_chunk_evicted(struct cache *c, uint32_t slot)
{
	chunk_retire(c, slot, true);
}

static void chunk_drop(struct cache *c, uint32_t slot)
{
	cache_fifo_unlink(c, slot);
	chunk_retire(c, slot, false);
}

/* Moves a live chunk in or out of the pinned set. */
static void set_effective_pin(struct cache *c, uint32_t slot, bool pinned)
{
	if (pinned == (c->queue[slot] == Q_PINNED))
		return;
	account(c, slot, -1);
	if (pinned) {
		cache_fifo_unlink(c, slot);
		c->queue[slot] = Q_PINNED;
	} else {
		/* Unpinned content has proven its worth: it joins the main queue. */
		c->queue[slot] = Q_FREE;
		atomic_store_explicit(cache_index_freq(c, slot), 0, memory_order_relaxed);
		cache_fifo_push_head(c, &c->cls[c->slot_class[slot]].main, Q_MAIN, slot);
	}
	account(c, slot, 1);
}

long cache_reclaim(struct cache *c)
{
	uint32_t nr, nsw, nmeta, keep = 0;
	long freed = 0;

	if (!c)
		return -EINVAL;
	nr = c->nretired;
	nsw = c->nretired_swarms;
	nmeta = c->nretired_meta;
	if (nr == 0 && nsw == 0 && nmeta == 0)
		return 0;
	cache_grace_period(c);
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t slot = c->retired[i];
		struct cache_class *k = &c->cls[c->slot_class[slot]];

		if (atomic_load_explicit(&c->refcnt[slot], memory_order_acquire) != 0 ||
		    (c->conf.slot_busy && c->conf.slot_busy(c->conf.hook_ctx, slot))) {
			c->retired[keep++] = slot; /* still on a NIC queue: later */
			continue;
		}
		c->queue[slot] = Q_FREE;
		k->free_stack[k->nfree++] = slot;
		k->nretired--;
		freed++;
	}
	c->nretired = keep;
	cache_swarm_reclaim(c, nsw, nmeta);
	return freed;
}

static int take_free(struct cache *c, struct cache_class *k, uint32_t *slot)
{
	for (;;) {
		uint32_t evicted;

		if (k->nfree == 0 && k->nretired > 0)
			cache_reclaim(c); /* removed chunks first: evicting would lose a live one */
		if (k->nfree) {
			*slot = k->free_stack[--k->nfree];
			return 0;
		}
		evicted = cache_policy_evict(c, k);
		if (evicted == 0 && k->nretired == 0)
			return -ENOSPC; /* everything in the class is pinned */
		cache_reclaim(c);
		if (k->nfree)
			continue;
		if (evicted == 0)
			return -EBUSY; /* the rest is held by in-flight references */
	}
}

int cache_insert(struct cache *c, const struct cache_key *key, const void *data, uint32_t len,
		 unsigned flags)
{
	struct cache_class *k = NULL;
	struct cache_slot *s;
	uint64_t h;
	uint32_t slot;
	bool pinned;
	int rc;

	if (!c || !key || !data || len == 0 || (flags & ~CACHE_INSERT_PIN))
		return -EINVAL;
	for (unsigned i = 0; i < c->nclasses; i++) {
		if (len <= c->cls[i].slot_size) {
			k = &c->cls[i];
			break;
		}
	}
	if (!k)
		return -EMSGSIZE;
	if (cache_swarm_check(c, key->swarm) < 0)
		return -ENOENT;
	h = cache_key_hash(key->swarm, key->chunk);
	if (cache_chunk_find(c, key->swarm, key->chunk, h) != CACHE_NO_SLOT)
		return -EEXIST;
	rc = take_free(c, k, &slot);
	if (rc < 0)
		return rc;

	s = &c->slots[slot];
	memcpy(cache_slot_data(c, slot), data, len);
	s->swarm = key->swarm;
	s->chunk = key->chunk;
	s->len = len;
	s->crc = cache_slot_crc(s, data);
	s->sum16 = cache_payload_sum16(data, len);
	atomic_store_explicit(&s->commit,
			      (flags & CACHE_INSERT_PIN) ? CACHE_COMMIT_PINNED : CACHE_COMMIT_VALID,
			      memory_order_release);
	if (c->conf.slot_filled)
		c->conf.slot_filled(c->conf.hook_ctx, slot, cache_slot_data(c, slot), len,
				    (uint16_t)s->sum16);
	cache_index_insert(&c->chunk_idx, h, key->swarm, key->chunk, slot, len);
	cache_cmap_set(c, key->swarm, key->chunk, slot, len);

	pinned = (flags & CACHE_INSERT_PIN) || c->swarm_pinned[cache_swarm_index(key->swarm)];
	if (pinned)
		c->queue[slot] = Q_PINNED;
	else
		cache_policy_admit(c, k, slot, h);
	account(c, slot, 1);
	stat_add(&c->sw_stats[cache_swarm_index(key->swarm)].inserts, 1);
	stat_add(&c->total.inserts, 1);
	return 0;
}

int cache_writer_lookup(struct cache *c, const struct cache_key *key, struct cache_hit *hit)
{
	uint32_t slot;

	if (!c || !key || !hit)
		return -EINVAL;
	slot = cache_chunk_find(c, key->swarm, key->chunk, cache_key_hash(key->swarm, key->chunk));
	if (slot == CACHE_NO_SLOT) {
		hit->data = NULL;
		hit->len = 0;
		hit->slot = CACHE_NO_SLOT;
		return -ENOENT;
	}
	hit->data = cache_slot_data(c, slot);
	hit->len = c->slots[slot].len;
	hit->slot = slot;
	return 0;
}

int cache_remove(struct cache *c, const struct cache_key *key)
{
	uint32_t slot;

	if (!c || !key)
		return -EINVAL;
	slot = cache_chunk_find(c, key->swarm, key->chunk, cache_key_hash(key->swarm, key->chunk));
	if (slot == CACHE_NO_SLOT)
		return -ENOENT;
	chunk_drop(c, slot);
	return 0;
}

int cache_pin(struct cache *c, const struct cache_key *key, bool pinned)
{
	uint32_t slot;

	if (!c || !key)
		return -EINVAL;
	slot = cache_chunk_find(c, key->swarm, key->chunk, cache_key_hash(key->swarm, key->chunk));
	if (slot == CACHE_NO_SLOT)
		return -ENOENT;
	atomic_store_explicit(&c->slots[slot].commit,
			      pinned ? CACHE_COMMIT_PINNED : CACHE_COMMIT_VALID,
			      memory_order_release);
	set_effective_pin(c, slot, pinned || c->swarm_pinned[cache_swarm_index(key->swarm)]);
	return 0;
}

void cache_chunks_swarm_pin(struct cache *c, cache_swarm_t sw, bool pinned)
{
	for (uint32_t slot = 0; slot < c->nslots; slot++) {
		const struct cache_slot *s = &c->slots[slot];

		if (!slot_live(c, slot) || s->swarm != sw)
			continue;
		set_effective_pin(c, slot,
				  pinned || atomic_load_explicit(&s->commit, memory_order_relaxed) ==
						    CACHE_COMMIT_PINNED);
	}
}

long cache_purge_range(struct cache *c, cache_swarm_t sw, uint64_t first, uint64_t last)
{
	long n = 0;

	if (!c || first > last)
		return -EINVAL;
	if (cache_swarm_check(c, sw) < 0)
		return -ENOENT;
	if (last - first < c->nslots / 4) {
		for (uint64_t ch = first;; ch++) {
			uint32_t slot = cache_chunk_find(c, sw, ch, cache_key_hash(sw, ch));

			if (slot != CACHE_NO_SLOT) {
				chunk_drop(c, slot);
				n++;
			}
			if (ch == last)
				break;
		}
		return n;
	}
	for (uint32_t slot = 0; slot < c->nslots; slot++) {
		const struct cache_slot *s = &c->slots[slot];

		if (slot_live(c, slot) && s->swarm == sw && s->chunk >= first && s->chunk <= last) {
			chunk_drop(c, slot);
			n++;
		}
	}
	return n;
}

long cache_purge_swarm(struct cache *c, cache_swarm_t sw)
{
	return cache_purge_range(c, sw, 0, UINT64_MAX);
}

long cache_purge_all(struct cache *c)
{
	long n = 0;

	if (!c)
		return -EINVAL;
	for (uint32_t slot = 0; slot < c->nslots; slot++) {
		if (slot_live(c, slot)) {
			chunk_drop(c, slot);
			n++;
		}
	}
	return n;
}

/* Rebuilds the index, the FIFOs and the free lists from the slot records. */
void cache_chunk_recover(struct cache *c)
{
	for (unsigned ki = 0; ki < c->nclasses; ki++) {
		struct cache_class *k = &c->cls[ki];

		for (uint32_t i = k->nslots; i-- > 0;) {
			uint32_t slot = k->first + i;
			struct cache_slot *s = &c->slots[slot];
			uint32_t commit = atomic_load_explicit(&s->commit, memory_order_relaxed);
			uint64_t h;

			c->slot_class[slot] = (uint8_t)ki;
			c->queue[slot] = Q_FREE;
			if (commit != CACHE_COMMIT_VALID && commit != CACHE_COMMIT_PINNED) {
				if (commit != 0) {
					c->dropped++;
					atomic_store_explicit(&s->commit, 0, memory_order_relaxed);
				}
				k->free_stack[k->nfree++] = slot;
				continue;
			}
			h = cache_key_hash(s->swarm, s->chunk);
			if (s->len == 0 || s->len > k->slot_size ||
			    cache_swarm_check(c, s->swarm) < 0 ||
			    s->crc != cache_slot_crc(s, cache_slot_data(c, slot)) ||
			    cache_chunk_find(c, s->swarm, s->chunk, h) != CACHE_NO_SLOT) {
				c->dropped++;
				atomic_store_explicit(&s->commit, 0, memory_order_relaxed);
				k->free_stack[k->nfree++] = slot;
				continue;
			}
			s->sum16 = cache_payload_sum16(cache_slot_data(c, slot), s->len);
			if (c->conf.slot_filled)
				c->conf.slot_filled(c->conf.hook_ctx, slot, cache_slot_data(c, slot),
						    s->len, (uint16_t)s->sum16);
			cache_index_insert(&c->chunk_idx, h, s->swarm, s->chunk, slot, s->len);
			cache_cmap_set(c, s->swarm, s->chunk, slot, s->len);
			if (commit == CACHE_COMMIT_PINNED || c->swarm_pinned[cache_swarm_index(s->swarm)])
				c->queue[slot] = Q_PINNED;
			else
				cache_fifo_push_head(c, &k->main, Q_MAIN, slot);
			account(c, slot, 1);
			c->recovered_chunks++;
		}
	}
}
