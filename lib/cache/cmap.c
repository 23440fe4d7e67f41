/* Per-swarm dense chunk maps: chunk number -> slot and length, for swarms whose size is known.
 * A sender serves a swarm's chunks in order, and in the index consecutive chunks sit in
 * unrelated buckets: one cache line per chunk looked up. In a swarm's map they sit side by
 * side, seven to a line with their S3-FIFO access counts (a random lookup still reads one
 * line). A map mirrors the index exactly for the chunks it covers (every insert and every
 * removal of such a chunk goes through both), so its empty entry is a miss and a covered chunk
 * never needs the index; its access count is kept in the map, where readers raise it. Maps live
 * in one arena of process memory (conf.chunk_map_bytes); a swarm whose map does not fit, or of
 * unknown size, uses the index alone.
 *
 * Publication: the writer fills l and n, then stores the swarm's handle (release); a reader
 * that loads the handle (acquire) and finds its key's swarm sees l and n. Removal clears the
 * handle first; the lines are freed with the swarm's index, after a grace period. Entries are
 * (len << 32 | slot + 1), written with release after the slot's bytes and record. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cache_internal.h"

#define CMAP_HUGE (2u << 20)

/* The per-swarm map records, and the arena: conf.chunk_map_bytes (default 16 per slot),
 * 2 MiB-aligned and offered to the kernel for transparent huge pages, because random lookups
 * over megabytes of maps in 4 KiB pages would miss the TLB (the index lives in the region, on
 * huge pages when it has them). Memory is committed as maps are written. */
int cache_cmap_init(struct cache *c)
{
	uint64_t want = c->conf.chunk_map_bytes ? c->conf.chunk_map_bytes : 16ull * c->nslots;
	size_t bytes = (size_t)(want + CMAP_HUGE - 1) / CMAP_HUGE * CMAP_HUGE;
	void *p;

	c->cmap_free = calloc(c->conf.max_swarms + 1, sizeof(*c->cmap_free));
	if (!c->cmap_free || posix_memalign(&p, 64, sizeof(*c->cmap) * c->conf.max_swarms) != 0)
		return -ENOMEM;
	c->cmap = p;
	memset(c->cmap, 0, sizeof(*c->cmap) * c->conf.max_swarms);
	if (posix_memalign(&p, CMAP_HUGE, bytes) != 0)
		return -ENOMEM;
	(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
	c->cmap_arena = p;
	c->cmap_arena_bytes = bytes;
	c->cmap_free[0] = (struct cache_extent){.off = 0, .len = want / sizeof(*c->cmap_arena)};
	c->cmap_nfree = c->cmap_free[0].len ? 1 : 0;
	return 0;
}

void cache_cmap_fini(struct cache *c)
{
	free(c->cmap_arena);
	free(c->cmap_free);
	free(c->cmap);
	c->cmap_arena = NULL;
	c->cmap_free = NULL;
	c->cmap = NULL;
}

/* First fit, in lines; NULL when no free extent is long enough. */
static struct cache_cmap_line *lines_alloc(struct cache *c, uint64_t nl)
{
	for (uint32_t i = 0; i < c->cmap_nfree; i++) {
		struct cache_extent *f = &c->cmap_free[i];
		if (f->len < nl)
			continue;
		struct cache_cmap_line *l = c->cmap_arena + f->off;
		f->off += nl;
		f->len -= nl;
		if (f->len == 0) {
			memmove(f, f + 1, (c->cmap_nfree - i - 1) * sizeof(*f));
			c->cmap_nfree--;
		}
		memset(l, 0, nl * sizeof(*l));
		return l;
	}
	return NULL;
}

/* Back to the free extents, merged with its neighbours (at most max_swarms + 1 extents: maps
 * and the gaps between them alternate). */
static void lines_free(struct cache *c, struct cache_cmap_line *l, uint64_t nl)
{
	uint64_t off = (uint64_t)(l - c->cmap_arena);
	uint32_t i = 0;

	while (i < c->cmap_nfree && c->cmap_free[i].off < off)
		i++;
	bool left = i > 0 && c->cmap_free[i - 1].off + c->cmap_free[i - 1].len == off;
	bool right = i < c->cmap_nfree && off + nl == c->cmap_free[i].off;
	if (left && right) {
		c->cmap_free[i - 1].len += nl + c->cmap_free[i].len;
		memmove(&c->cmap_free[i], &c->cmap_free[i + 1],
			(c->cmap_nfree - i - 1) * sizeof(c->cmap_free[0]));
		c->cmap_nfree--;
	} else if (left) {
		c->cmap_free[i - 1].len += nl;
	} else if (right) {
		c->cmap_free[i].off = off;
		c->cmap_free[i].len += nl;
	} else {
		memmove(&c->cmap_free[i + 1], &c->cmap_free[i],
			(c->cmap_nfree - i) * sizeof(c->cmap_free[0]));
		c->cmap_free[i] = (struct cache_extent){.off = off, .len = nl};
		c->cmap_nfree++;
	}
}

/* fill: enter the swarm's live chunks first, with their access counts (a swarm whose size
 * became known after it had chunks). */
void cache_cmap_create(struct cache *c, uint32_t idx, bool fill)
{
	struct cache_cmap *m = &c->cmap[idx];
	const struct cache_swarm_rec *r = &c->swarms[idx];
	uint64_t len = atomic_load_explicit(&r->content_len, memory_order_relaxed);
	uint64_t n = r->chunk_size ? (len + r->chunk_size - 1) / r->chunk_size : 0;
	uint64_t nl = (n + CACHE_CMAP_PER_LINE - 1) / CACHE_CMAP_PER_LINE;
	struct cache_cmap_line *l;

	if (m->l || n == 0 || !(l = lines_alloc(c, nl)))
		return; /* the index alone serves it */
	uint64_t handle = (uint64_t)r->gen << 32 | idx;
	for (uint32_t slot = 0; fill && slot < c->nslots; slot++) {
		const struct cache_slot *s = &c->slots[slot];
		if (s->swarm != handle || s->chunk >= n || c->queue[slot] == Q_FREE ||
		    c->queue[slot] == Q_RETIRED)
			continue;
		struct cache_cmap_line *ln = &l[s->chunk / CACHE_CMAP_PER_LINE];
		unsigned i = (unsigned)(s->chunk % CACHE_CMAP_PER_LINE);
		atomic_store_explicit(
		    &ln->freq[i],
		    atomic_load_explicit(cache_index_freq(c, slot), memory_order_relaxed),
		    memory_order_relaxed);
		atomic_store_explicit(&ln->e[i], (uint64_t)s->len << 32 | (slot + 1u),
				      memory_order_relaxed);
	}
	m->l = l;
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
	uint64_t n = atomic_load_explicit(&m->n, memory_order_relaxed);

	if (!m->l)
		return;
	lines_free(c, m->l, (n + CACHE_CMAP_PER_LINE - 1) / CACHE_CMAP_PER_LINE);
	m->l = NULL;
	atomic_store_explicit(&m->n, 0, memory_order_relaxed);
}

void cache_cmap_set(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot, uint32_t len)
{
	uint8_t i;
	struct cache_cmap_line *l = cache_cmap_find(c, swarm, chunk, &i);

	if (!l)
		return;
	atomic_store_explicit(&l->freq[i], 0, memory_order_relaxed);
	atomic_store_explicit(&l->e[i], (uint64_t)len << 32 | (slot + 1u), memory_order_release);
}

void cache_cmap_clear(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot)
{
	uint8_t i;
	struct cache_cmap_line *l = cache_cmap_find(c, swarm, chunk, &i);

	if (l && (uint32_t)atomic_load_explicit(&l->e[i], memory_order_relaxed) == slot + 1u)
		atomic_store_explicit(&l->e[i], 0, memory_order_release);
}

_Atomic uint8_t *cache_cmap_freq(struct cache *c, uint64_t swarm, uint64_t chunk)
{
	uint8_t i;
	struct cache_cmap_line *l = cache_cmap_find(c, swarm, chunk, &i);

	return l ? &l->freq[i] : NULL;
}
