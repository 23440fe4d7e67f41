/* Swarm table: swarm ID -> content length, chunk size, hash function, pinned flag and an opaque
 * metadata blob (the serialised Merkle tree the data plane needs for RFC 7574 §5.4 peak and
 * uncle hashes). Records and blobs live in the region, so they survive a warm restart; the
 * blobs come from a first-fit heap whose free-space map is rebuilt on open. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"

uint64_t cache_swarm_id_hash(const uint8_t *id, size_t len)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ len;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, id, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		id += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;

		memcpy(&w, id, len);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	}
	return cache_mix64(h);
}

static bool commit_valid(uint32_t v)
{
	return v == CACHE_COMMIT_VALID || v == CACHE_COMMIT_PINNED;
}

static uint32_t rec_crc(const struct cache_swarm_rec *r)
{
	uint32_t crc = cache_crc32c(0, &r->gen, sizeof(r->gen));

	crc = cache_crc32c(crc, &r->id_len, sizeof(r->id_len));
	crc = cache_crc32c(crc, &r->hash_id, sizeof(r->hash_id));
	crc = cache_crc32c(crc, &r->chunk_size, sizeof(r->chunk_size));
	return cache_crc32c(crc, r->id, r->id_len);
}

static uint32_t blob_crc(const struct cache_blob *b)
{
	uint32_t crc = cache_crc32c(0, &b->len, sizeof(b->len));

	crc = cache_crc32c(crc, &b->owner, sizeof(b->owner));
	return cache_crc32c(crc, b + 1, b->len);
}

int cache_swarm_check(const struct cache *c, cache_swarm_t s)
{
	uint32_t idx = cache_swarm_index(s);
	const struct cache_swarm_rec *r;

	if (idx >= c->conf.max_swarms)
		return -ENOENT;
	r = &c->swarms[idx];
	if (!commit_valid(atomic_load_explicit(&r->commit, memory_order_acquire)))
		return -ENOENT;
	if (__atomic_load_n(&r->gen, __ATOMIC_RELAXED) != cache_swarm_gen(s))
		return -ENOENT;
	return 0;
}

/* ---- metadata heap ------------------------------------------------------------------------ */

static int extent_insert(struct cache *c, uint64_t off, uint64_t len)
{
	uint32_t i = 0;

	if (c->nextents == c->max_extents)
		return -ENOSPC;
	while (i < c->nextents && c->extents[i].off < off)
		i++;
	memmove(&c->extents[i + 1], &c->extents[i], (c->nextents - i) * sizeof(c->extents[0]));
	c->extents[i] = (struct cache_extent){ .off = off, .len = len };
	c->nextents++;
	return 0;
}

static void extent_free(struct cache *c, uint64_t off)
{
	for (uint32_t i = 0; i < c->nextents; i++) {
		if (c->extents[i].off == off) {
			memmove(&c->extents[i], &c->extents[i + 1],
				(c->nextents - i - 1) * sizeof(c->extents[0]));
			c->nextents--;
			return;
		}
	}
	PCDN_LOG(cache_log, ERR, "metadata extent %llu missing on free", (unsigned long long)off);
	abort();
}

static int heap_alloc(struct cache *c, uint64_t need, uint64_t *out)
{
	uint64_t prev_end = 0;

	need = (need + 63) & ~63ull;
	if (c->nextents == c->max_extents)
		return -ENOSPC;
	for (uint32_t i = 0; i <= c->nextents; i++) {
		uint64_t next = i < c->nextents ? c->extents[i].off : c->conf.meta_bytes;

		if (next >= prev_end && next - prev_end >= need) {
			*out = prev_end;
			return extent_insert(c, prev_end, need);
		}
		if (i < c->nextents)
			prev_end = c->extents[i].off + c->extents[i].len;
	}
	return -ENOSPC;
}

/* Writes a blob for swarm idx; *off gets its offset (CACHE_NO_META for an empty blob). */
static int blob_write(struct cache *c, uint32_t idx, const void *meta, size_t len, uint64_t *off)
{
	struct cache_blob *b;
	int rc;

	*off = CACHE_NO_META;
	if (len == 0)
		return 0;
	rc = heap_alloc(c, sizeof(*b) + len, off);
	if (rc == -ENOSPC && (c->nretired_meta > 0)) {
		cache_reclaim(c);
		rc = heap_alloc(c, sizeof(*b) + len, off);
	}
	if (rc < 0) {
		*off = CACHE_NO_META;
		return rc;
	}
	b = (struct cache_blob *)(c->meta_heap + *off);
	b->len = len;
	b->owner = idx;
	memcpy(b + 1, meta, len);
	b->crc = blob_crc(b);
	return 0;
}

static void blob_retire(struct cache *c, uint64_t off)
{
	if (off == CACHE_NO_META)
		return;
	c->retired_meta[c->nretired_meta++] = (struct cache_extent){ .off = off };
}

void cache_swarm_reclaim(struct cache *c, uint32_t nswarms, uint32_t nmeta)
{
	for (uint32_t i = 0; i < nswarms; i++) {
		cache_cmap_free(c, c->retired_swarms[i]); /* readers are past it */
		c->free_swarms[c->nfree_swarms++] = c->retired_swarms[i];
	}
	memmove(c->retired_swarms, c->retired_swarms + nswarms,
		(c->nretired_swarms - nswarms) * sizeof(uint32_t));
	c->nretired_swarms -= nswarms;
	for (uint32_t i = 0; i < nmeta; i++)
		extent_free(c, c->retired_meta[i].off);
	memmove(c->retired_meta, c->retired_meta + nmeta,
		(c->nretired_meta - nmeta) * sizeof(c->retired_meta[0]));
	c->nretired_meta -= nmeta;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static void info_fill(struct cache *c, uint32_t idx, struct cache_swarm_info *info)
{
	const struct cache_swarm_rec *r = &c->swarms[idx];
	uint64_t off = atomic_load_explicit(&r->meta, memory_order_acquire);
	uint32_t commit = atomic_load_explicit(&r->commit, memory_order_relaxed);

	info->handle = (uint64_t)__atomic_load_n(&r->gen, __ATOMIC_RELAXED) << 32 | idx;
	info->id = r->id;
	info->id_len = r->id_len;
	info->content_len = atomic_load_explicit(&r->content_len, memory_order_relaxed);
	info->chunk_size = r->chunk_size;
	info->hash_id = r->hash_id;
	info->pinned = commit == CACHE_COMMIT_PINNED;
	info->chunk_map = atomic_load_explicit(&c->cmap[idx].handle, memory_order_relaxed) ==
				  info->handle
			      ? atomic_load_explicit(&c->cmap[idx].n, memory_order_relaxed)
			      : 0;
	if (off == CACHE_NO_META) {
		info->meta = NULL;
		info->meta_len = 0;
	} else {
		const struct cache_blob *b = (const struct cache_blob *)(c->meta_heap + off);

		info->meta = b + 1;
		info->meta_len = b->len;
	}
}

static int find_index(struct cache *c, const uint8_t *id, size_t len, uint32_t *out)
{
	uint64_t h = cache_swarm_id_hash(id, len);
	uint32_t tag = cache_hash_tag(h), b = cache_hash_bucket(&c->swarm_tab, h);

	for (uint32_t n = 0; n < c->swarm_tab.nbuckets; n++) {
		const struct cache_bucket *bk = &c->swarm_tab.b[b];

		for (int i = 0; i < CACHE_BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&bk->ent[i], memory_order_acquire);
			const struct cache_swarm_rec *r;

			if ((uint32_t)(e >> 32) != tag)
				continue;
			r = &c->swarms[(uint32_t)e];
			if (!commit_valid(atomic_load_explicit(&r->commit, memory_order_acquire)))
				continue;
			if (r->id_len == len && memcmp(r->id, id, len) == 0) {
				*out = (uint32_t)e;
				return 0;
			}
		}
		if (atomic_load_explicit(&bk->over, memory_order_acquire) == 0)
			break;
		b = b + 1 == c->swarm_tab.nbuckets ? 0 : b + 1;
	}
	return -ENOENT;
}

int cache_swarm_find(struct cache *c, const uint8_t *id, size_t id_len,
		     struct cache_swarm_info *info)
{
	uint32_t idx;
	int rc;

	if (!c || !id || id_len == 0 || id_len > CACHE_SWARM_ID_MAX || !info)
		return -EINVAL;
	rc = find_index(c, id, id_len, &idx);
	if (rc < 0)
		return rc;
	info_fill(c, idx, info);
	return 0;
}

int cache_swarm_get(struct cache *c, cache_swarm_t s, struct cache_swarm_info *info)
{
	if (!c || !info)
		return -EINVAL;
	if (cache_swarm_check(c, s) < 0)
		return -ENOENT;
	info_fill(c, cache_swarm_index(s), info);
	return 0;
}

/* ---- writer ------------------------------------------------------------------------------- */

int cache_swarm_add(struct cache *c, const struct cache_swarm_conf *sc, cache_swarm_t *out)
{
	struct cache_swarm_rec *r;
	uint64_t off, hits, misses;
	uint32_t idx, gen;
	int rc;

	if (!c || !sc || !out || !sc->id || sc->id_len == 0 || sc->id_len > CACHE_SWARM_ID_MAX ||
	    (sc->meta_len && !sc->meta))
		return -EINVAL;
	if (find_index(c, sc->id, sc->id_len, &idx) == 0)
		return -EEXIST;
	if (c->nfree_swarms == 0 && c->nretired_swarms > 0)
		cache_reclaim(c);
	if (c->nfree_swarms == 0)
		return -ENOSPC;
	idx = c->free_swarms[--c->nfree_swarms];
	rc = blob_write(c, idx, sc->meta, sc->meta_len, &off);
	if (rc < 0) {
		c->free_swarms[c->nfree_swarms++] = idx;
		return rc;
	}

	r = &c->swarms[idx];
	gen = r->gen + 1;
	if (gen == 0)
		gen = 1;
	__atomic_store_n(&r->gen, gen, __ATOMIC_RELAXED);
	r->id_len = (uint32_t)sc->id_len;
	memset(r->id, 0, sizeof(r->id));
	memcpy(r->id, sc->id, sc->id_len);
	r->hash_id = sc->hash_id;
	r->chunk_size = sc->chunk_size;
	r->crc = rec_crc(r);
	atomic_store_explicit(&r->content_len, sc->content_len, memory_order_relaxed);
	atomic_store_explicit(&r->meta, off, memory_order_relaxed);
	atomic_store_explicit(&r->commit, sc->pinned ? CACHE_COMMIT_PINNED : CACHE_COMMIT_VALID,
			      memory_order_release);
	cache_table_insert(&c->swarm_tab, cache_swarm_id_hash(sc->id, sc->id_len), idx);
	cache_cmap_create(c, idx, false);

	c->swarm_pinned[idx] = sc->pinned;
	struct cache_sw_stats *w = &c->sw_stats[idx];
	atomic_store_explicit(&w->inserts, 0, memory_order_relaxed);
	atomic_store_explicit(&w->evictions, 0, memory_order_relaxed);
	atomic_store_explicit(&w->purged, 0, memory_order_relaxed);
	atomic_store_explicit(&w->chunks, 0, memory_order_relaxed);
	atomic_store_explicit(&w->bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&w->pinned_chunks, 0, memory_order_relaxed);
	atomic_store_explicit(&w->pinned_bytes, 0, memory_order_relaxed);
	cache_reader_swarm_sums(c, idx, &hits, &misses);
	atomic_store_explicit(&w->base_hits, hits, memory_order_relaxed);
	atomic_store_explicit(&w->base_misses, misses, memory_order_relaxed);
	*out = (uint64_t)gen << 32 | idx;
	return 0;
}

int cache_swarm_update(struct cache *c, cache_swarm_t s, uint64_t content_len, const void *meta,
		       size_t meta_len)
{
	struct cache_swarm_rec *r;
	uint64_t off, old;
	int rc;

	if (!c || (meta_len && !meta))
		return -EINVAL;
	if (cache_swarm_check(c, s) < 0)
		return -ENOENT;
	r = &c->swarms[cache_swarm_index(s)];
	if (c->nretired_meta == c->max_extents)
		cache_reclaim(c);
	rc = blob_write(c, cache_swarm_index(s), meta, meta_len, &off);
	if (rc < 0)
		return rc;
	atomic_store_explicit(&r->content_len, content_len, memory_order_relaxed);
	/* its size now known: a map, with the chunks it already has (a map that exists keeps
	 * its size; chunks past it use the index) */
	cache_cmap_create(c, cache_swarm_index(s), true);
	old = atomic_load_explicit(&r->meta, memory_order_relaxed);
	atomic_store_explicit(&r->meta, off, memory_order_release);
	blob_retire(c, old);
	return 0;
}

int cache_swarm_remove(struct cache *c, cache_swarm_t s)
{
	struct cache_swarm_rec *r;
	uint32_t idx = cache_swarm_index(s);

	if (!c || cache_swarm_check(c, s) < 0)
		return -ENOENT;
	cache_purge_swarm(c, s);
	cache_cmap_unpublish(c, idx);
	r = &c->swarms[idx];
	atomic_store_explicit(&r->commit, 0, memory_order_release);
	cache_table_remove(&c->swarm_tab, cache_swarm_id_hash(r->id, r->id_len), idx);
	blob_retire(c, atomic_load_explicit(&r->meta, memory_order_relaxed));
	c->retired_swarms[c->nretired_swarms++] = idx;
	c->swarm_pinned[idx] = false;
	return 0;
}

int cache_swarm_pin(struct cache *c, cache_swarm_t s, bool pinned)
{
	uint32_t idx = cache_swarm_index(s);

	if (!c || cache_swarm_check(c, s) < 0)
		return -ENOENT;
	if (c->swarm_pinned[idx] == pinned)
		return 0;
	c->swarm_pinned[idx] = pinned;
	atomic_store_explicit(&c->swarms[idx].commit,
			      pinned ? CACHE_COMMIT_PINNED : CACHE_COMMIT_VALID,
			      memory_order_release);
	cache_chunks_swarm_pin(c, s, pinned);
	return 0;
}

/* ---- recovery ----------------------------------------------------------------------------- */

static int extent_cmp(const void *a, const void *b)
{
	const struct cache_extent *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static bool rec_recoverable(struct cache *c, uint32_t idx)
{
	struct cache_swarm_rec *r = &c->swarms[idx];
	uint64_t off = atomic_load_explicit(&r->meta, memory_order_relaxed);
	const struct cache_blob *b;

	if (r->id_len == 0 || r->id_len > CACHE_SWARM_ID_MAX || r->crc != rec_crc(r) ||
	    r->gen == 0)
		return false;
	if (off == CACHE_NO_META)
		return true;
	if (off > c->conf.meta_bytes || c->conf.meta_bytes - off < sizeof(*b) || off % 64)
		return false;
	b = (const struct cache_blob *)(c->meta_heap + off);
	if (b->len == 0 || b->len > c->conf.meta_bytes - off - sizeof(*b) || b->owner != idx ||
	    b->crc != blob_crc(b))
		return false;
	if (find_index(c, r->id, r->id_len, &(uint32_t){ 0 }) == 0)
		return false; /* duplicate id: keep the first */
	return true;
}

void cache_swarm_recover(struct cache *c)
{
	for (uint32_t idx = 0; idx < c->conf.max_swarms; idx++) {
		struct cache_swarm_rec *r = &c->swarms[idx];
		uint32_t commit = atomic_load_explicit(&r->commit, memory_order_relaxed);
		uint64_t off;

		if (!commit_valid(commit)) {
			if (commit != 0) {
				c->dropped++;
				atomic_store_explicit(&r->commit, 0, memory_order_relaxed);
			}
			continue;
		}
		if (!rec_recoverable(c, idx)) {
			c->dropped++;
			atomic_store_explicit(&r->commit, 0, memory_order_relaxed);
			continue;
		}
		off = atomic_load_explicit(&r->meta, memory_order_relaxed);
		if (off != CACHE_NO_META) {
			const struct cache_blob *b = (const struct cache_blob *)(c->meta_heap + off);

			c->extents[c->nextents++] = (struct cache_extent){
				.off = off, .len = (sizeof(*b) + b->len + 63) & ~63ull
			};
		}
		cache_table_insert(&c->swarm_tab, cache_swarm_id_hash(r->id, r->id_len), idx);
		c->swarm_pinned[idx] = commit == CACHE_COMMIT_PINNED;
		c->recovered_swarms++;
	}
	qsort(c->extents, c->nextents, sizeof(c->extents[0]), extent_cmp);
	/* Overlapping extents mean a corrupt heap: drop the later owner's swarm. */
	for (uint32_t i = 1; i < c->nextents; i++) {
		if (c->extents[i - 1].off + c->extents[i - 1].len > c->extents[i].off) {
			const struct cache_blob *b =
				(const struct cache_blob *)(c->meta_heap + c->extents[i].off);
			struct cache_swarm_rec *r = &c->swarms[b->owner];

			atomic_store_explicit(&r->commit, 0, memory_order_relaxed);
			cache_table_remove(&c->swarm_tab, cache_swarm_id_hash(r->id, r->id_len),
					   b->owner);
			c->swarm_pinned[b->owner] = false;
			c->recovered_swarms--;
			c->dropped++;
			memmove(&c->extents[i], &c->extents[i + 1],
				(c->nextents - i - 1) * sizeof(c->extents[0]));
			c->nextents--;
			i--;
		}
	}
	for (uint32_t idx = c->conf.max_swarms; idx-- > 0;)
		if (!commit_valid(atomic_load_explicit(&c->swarms[idx].commit,
						       memory_order_relaxed)))
			c->free_swarms[c->nfree_swarms++] = idx;
	/* before the chunks are recovered: each recovered chunk enters its swarm's map */
	for (uint32_t idx = 0; idx < c->conf.max_swarms; idx++)
		if (commit_valid(atomic_load_explicit(&c->swarms[idx].commit,
						      memory_order_relaxed)))
			cache_cmap_create(c, idx, false);
}
