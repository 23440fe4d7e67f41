/* S3-FIFO eviction (Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23),
 * one instance per size class. New chunks enter a small FIFO (S, small_percent of the class);
 * at its tail a chunk read at least S3_MOVE_THRESHOLD times since insertion moves to the main
 * FIFO (M), the others leave and their fingerprint enters a ghost FIFO (G). A chunk whose
 * fingerprint is in G when it is inserted again goes straight to M: S and G together are the
 * admission filter that keeps one-hit wonders and scans out of M. M is a FIFO with reinsertion:
 * a chunk read since it last reached the tail goes back to the head with its count lowered.
 * Readers raise the 2-bit count with a plain store when it is below 3, so a hot chunk costs
 * them no writes once saturated. Pinned chunks are in no queue, so eviction never meets them,
 * and a class whose chunks are all pinned has nothing to evict (-ENOSPC, never a loop). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"

#define S3_MOVE_THRESHOLD 1

static uint64_t fp_of(uint64_t hash)
{
	return hash | 1;
}

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 16;

	while (p < v)
		p <<= 1;
	return p;
}

int cache_policy_init(struct cache *c)
{
	for (unsigned i = 0; i < c->nclasses; i++) {
		struct cache_class *k = &c->cls[i];
		struct cache_ghost *g = &k->ghost;
		uint32_t size;

		k->small = k->main = (struct cache_fifo){ CACHE_NO_SLOT, CACHE_NO_SLOT, 0 };
		k->small_cap = (uint32_t)((uint64_t)k->nslots * c->conf.small_percent / 100);
		if (k->small_cap == 0)
			k->small_cap = 1;
		/* Evicting ahead amortises one grace period over a batch, at the price of a few
		 * empty slots (at most 1/64 of the class, and never more than 64). */
		k->evict_batch = k->nslots / 64;
		if (k->evict_batch < 1)
			k->evict_batch = 1;
		if (k->evict_batch > 64)
			k->evict_batch = 64;
		/* The ghost remembers as many chunks as M holds. */
		g->cap = k->nslots - (k->small_cap < k->nslots ? k->small_cap : 0);
		if (g->cap == 0)
			g->cap = 1;
		size = pow2_at_least((uint64_t)g->cap * 2);
		g->set_mask = size - 1;
		g->ring = calloc(g->cap, sizeof(uint64_t));
		g->set_fp = calloc(size, sizeof(uint64_t));
		g->set_pos = calloc(size, sizeof(uint32_t));
		if (!g->ring || !g->set_fp || !g->set_pos)
			return -ENOMEM;
	}
	return 0;
}

void cache_policy_free(struct cache *c)
{
	for (unsigned i = 0; i < c->nclasses; i++) {
		free(c->cls[i].ghost.ring);
		free(c->cls[i].ghost.set_fp);
		free(c->cls[i].ghost.set_pos);
	}
}

/* ---- FIFOs (doubly linked through the per-slot prev/next arrays) -------------------------- */

void cache_fifo_push_head(struct cache *c, struct cache_fifo *q, uint8_t qid, uint32_t slot)
{
	c->prev[slot] = CACHE_NO_SLOT;
	c->next[slot] = q->head;
	if (q->head != CACHE_NO_SLOT)
		c->prev[q->head] = slot;
	q->head = slot;
	if (q->tail == CACHE_NO_SLOT)
		q->tail = slot;
	q->size++;
	c->queue[slot] = qid;
}

void cache_fifo_unlink(struct cache *c, uint32_t slot)
{
	struct cache_class *k = &c->cls[c->slot_class[slot]];
	struct cache_fifo *q;

	if (c->queue[slot] == Q_SMALL)
		q = &k->small;
	else if (c->queue[slot] == Q_MAIN)
		q = &k->main;
	else
		return;
	if (c->prev[slot] != CACHE_NO_SLOT)
		c->next[c->prev[slot]] = c->next[slot];
	else
		q->head = c->next[slot];
	if (c->next[slot] != CACHE_NO_SLOT)
		c->prev[c->next[slot]] = c->prev[slot];
	else
		q->tail = c->prev[slot];
	q->size--;
	c->queue[slot] = Q_FREE;
}

/* ---- ghost -------------------------------------------------------------------------------- */

static uint32_t ghost_find(const struct cache_ghost *g, uint64_t fp)
{
	for (uint32_t i = (uint32_t)(fp >> 17) & g->set_mask;; i = (i + 1) & g->set_mask) {
		if (g->set_fp[i] == fp)
			return i;
		if (g->set_fp[i] == 0)
			return UINT32_MAX;
	}
}

static void ghost_delete_at(struct cache_ghost *g, uint32_t i)
{
	/* Backward-shift deletion keeps linear probing free of tombstones. */
	for (uint32_t j = (i + 1) & g->set_mask; g->set_fp[j]; j = (j + 1) & g->set_mask) {
		uint32_t home = (uint32_t)(g->set_fp[j] >> 17) & g->set_mask;

		if (((j - home) & g->set_mask) >= ((j - i) & g->set_mask)) {
			g->set_fp[i] = g->set_fp[j];
			g->set_pos[i] = g->set_pos[j];
			i = j;
		}
	}
	g->set_fp[i] = 0;
}

static bool ghost_take(struct cache_ghost *g, uint64_t fp)
{
	uint32_t i = ghost_find(g, fp);

	if (i == UINT32_MAX)
		return false;
	ghost_delete_at(g, i);
	return true;
}

static void ghost_add(struct cache_ghost *g, uint64_t fp)
{
	uint32_t i;

	if (g->count == g->cap) {
		/* The oldest fingerprint leaves, unless it was taken or re-added since. */
		i = ghost_find(g, g->ring[g->pos]);
		if (i != UINT32_MAX && g->set_pos[i] == g->pos)
			ghost_delete_at(g, i);
	} else {
		g->count++;
	}
	g->ring[g->pos] = fp;
	i = ghost_find(g, fp);
	if (i == UINT32_MAX)
		for (i = (uint32_t)(fp >> 17) & g->set_mask; g->set_fp[i];
		     i = (i + 1) & g->set_mask)
			;
	g->set_fp[i] = fp;
	g->set_pos[i] = g->pos;
	g->pos = g->pos + 1 == g->cap ? 0 : g->pos + 1;
}

/* ---- policy ------------------------------------------------------------------------------- */

void cache_policy_admit(struct cache *c, struct cache_class *k, uint32_t slot, uint64_t hash)
{
	if (ghost_take(&k->ghost, fp_of(hash)))
		cache_fifo_push_head(c, &k->main, Q_MAIN, slot);
	else
		cache_fifo_push_head(c, &k->small, Q_SMALL, slot);
}

uint32_t cache_policy_evict(struct cache *c, struct cache_class *k)
{
	uint32_t n = 0;

	while (n < k->evict_batch && k->small.size + k->main.size > 0) {
		if (k->small.size >= k->small_cap || k->main.size == 0) {
			uint32_t t = k->small.tail;
			struct cache_slot *s = &c->slots[t];
			_Atomic uint8_t *freq = cache_index_freq(c, t);

			cache_fifo_unlink(c, t);
			if (atomic_load_explicit(freq, memory_order_relaxed) >= S3_MOVE_THRESHOLD) {
				atomic_store_explicit(freq, 0, memory_order_relaxed);
				cache_fifo_push_head(c, &k->main, Q_MAIN, t);
			} else {
				ghost_add(&k->ghost, fp_of(cache_key_hash(s->swarm, s->chunk)));
				cache_chunk_evicted(c, t);
				n++;
			}
		} else {
			uint32_t t = k->main.tail;
			_Atomic uint8_t *freq = cache_index_freq(c, t);
			uint8_t f = atomic_load_explicit(freq, memory_order_relaxed);

			cache_fifo_unlink(c, t);
			if (f > 0) {
				atomic_store_explicit(freq, (uint8_t)(f - 1), memory_order_relaxed);
				cache_fifo_push_head(c, &k->main, Q_MAIN, t);
			} else {
				cache_chunk_evicted(c, t);
				n++;
			}
		}
	}
	return n;
}
