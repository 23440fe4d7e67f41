/* Per-swarm dense chunk maps: chunk number -> slot and length, for swarms whose size is known.
 * A sender serves a swarm's chunks in order, and in the index consecutive chunks sit in
 * unrelated buckets: one cache line per chunk looked up. In a swarm's map they sit side by
 * side, eight to a line. A map mirrors the index exactly for the chunks it covers (every insert
 * and every removal of such a chunk goes through both), so its empty entry is a miss and a
 * covered chunk never needs the index. Maps live in process memory, up to a byte budget
 * (conf.chunk_map_bytes); swarms beyond it, or of unknown size, use the index alone.
 *
 * Publication: the writer fills e and n, then stores the swarm's handle (release); a reader
 * that loads the handle (acquire) and finds its key's swarm sees e and n. Removal clears the
 * handle first; the array is freed with the swarm's index, after a grace period. Entries are
 * (len << 32 | slot + 1), written with release after the slot's bytes and record. */
#include <errno.h>
#include <stdlib.h>

#include "cache_internal.h"

/* fill: enter the swarm's live chunks first (a swarm whose size became known later). */
void cache_cmap_create(struct cache *c, uint32_t idx, bool fill)
{
	struct cache_cmap *m = &c->cmap[idx];
	const struct cache_swarm_rec *r = &c->swarms[idx];
	uint64_t len = atomic_load_explicit(&r->content_len, memory_order_relaxed);
	uint64_t n = r->chunk_size ? (len + r->chunk_size - 1) / r->chunk_size : 0;

	if (m->e || n == 0 || n > c->cmap_budget / sizeof(uint64_t))
		return;
	_Atomic uint64_t *e = calloc(n, sizeof(*e));
	if (!e)
		return; /* the index alone serves it */
	uint64_t handle = (uint64_t)r->gen << 32 | idx;
	c->cmap_budget -= n * sizeof(uint64_t);
	for (uint32_t slot = 0; fill && slot < c->nslots; slot++) {
		const struct cache_slot *s = &c->slots[slot];
		if (s->swarm == handle && s->chunk < n && c->queue[slot] != Q_FREE &&
		    c->queue[slot] != Q_RETIRED)
			atomic_store_explicit(&e[s->chunk], (uint64_t)s->len << 32 | (slot + 1u),
					      memory_order_relaxed);
	}
	m->e = e;
	atomic_store_explicit(&m->n, n, memory_order_relaxed);
	atomic_store_explicit(&m->handle, handle, memory_order_release);
}

void cache_cmap_unpublish(struct cache *c, uint32_t idx)
{
	atomic_store_explicit(&c->cmap[idx].handle, 0, memory_order_release);
}

void cache_cmap_free(struct cache *c, uint32_t idx)
{
	struct cache_cmap *m = &c->cmap[idx];

	if (!m->e)
		return;
	c->cmap_budget += atomic_load_explicit(&m->n, memory_order_relaxed) * sizeof(uint64_t);
	free((void *)m->e);
	m->e = NULL;
	atomic_store_explicit(&m->n, 0, memory_order_relaxed);
}

/* The map entry for (swarm, chunk) when a map covers it, else NULL. Writer side. */
static _Atomic uint64_t *entry(struct cache *c, uint64_t swarm, uint64_t chunk)
{
	uint32_t idx = cache_swarm_index(swarm);

	if (idx >= c->conf.max_swarms)
		return NULL;
	struct cache_cmap *m = &c->cmap[idx];
	if (atomic_load_explicit(&m->handle, memory_order_relaxed) != swarm ||
	    chunk >= atomic_load_explicit(&m->n, memory_order_relaxed))
		return NULL;
	return &m->e[chunk];
}

void cache_cmap_set(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot, uint32_t len)
{
	_Atomic uint64_t *e = entry(c, swarm, chunk);

	if (e)
		atomic_store_explicit(e, (uint64_t)len << 32 | (slot + 1u), memory_order_release);
}

void cache_cmap_clear(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot)
{
	_Atomic uint64_t *e = entry(c, swarm, chunk);

	if (e && (uint32_t)atomic_load_explicit(e, memory_order_relaxed) == slot + 1u)
		atomic_store_explicit(e, 0, memory_order_release);
}
