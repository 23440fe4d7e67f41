/* Cache creation: configuration, the region layout, hugepage/file/caller memory, the on-media
 * header, recovery on open, reader registration and statistics. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_internal.h"

PCDN_LOG_COMPONENT(cache_log, "cache")

#define HUGE_2M (2u << 20)

struct layout {
	size_t swarms, swarm_tab, chunk_tab, slots, refcnt, meta, data[CACHE_MAX_CLASSES], total;
	uint32_t swarm_nb, chunk_nb, nslots;
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

void cache_conf_init(struct cache_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->flavour = CACHE_RCU_QSBR;
	conf->nclasses = 2;
	conf->classes[0] = (struct cache_class_conf){ .slot_size = 1024, .nslots = 65536 };
	conf->classes[1] = (struct cache_class_conf){ .slot_size = 8192, .nslots = 8192 };
	conf->max_swarms = 1024;
	conf->meta_bytes = 16u << 20;
	conf->max_readers = 16;
	conf->small_percent = 10;
}

static int conf_check(const struct cache_conf *conf)
{
	uint64_t total = 0;

	if (conf->flavour != CACHE_RCU_QSBR && conf->flavour != CACHE_RCU_MEMB)
		return -EINVAL;
	if (conf->nclasses < 1 || conf->nclasses > CACHE_MAX_CLASSES)
		return -EINVAL;
	for (unsigned i = 0; i < conf->nclasses; i++) {
		const struct cache_class_conf *k = &conf->classes[i];

		if (k->slot_size < 64 || k->slot_size % 64 || k->slot_size > (64u << 20) ||
		    k->nslots < 1)
			return -EINVAL;
		if (i > 0 && k->slot_size <= conf->classes[i - 1].slot_size)
			return -EINVAL;
		total += k->nslots;
	}
	if (total >= CACHE_NO_SLOT)
		return -EINVAL;
	if (conf->max_swarms < 1 || conf->max_swarms > (1u << 24))
		return -EINVAL;
	if (conf->max_readers < 1 || conf->max_readers > 4096)
		return -EINVAL;
	if (conf->small_percent < 1 || conf->small_percent > 50)
		return -EINVAL;
	if (conf->meta_bytes > (1ull << 40))
		return -EINVAL;
	if (conf->file && conf->region)
		return -EINVAL;
	if (conf->region && ((uintptr_t)conf->region % 64))
		return -EINVAL;
	if (conf->slot_headroom % 64 || conf->slot_headroom > 4096)
		return -EINVAL;
	return 0;
}

static void layout_compute(const struct cache_conf *conf, struct layout *L)
{
	size_t off = CACHE_HDR_SIZE;

	memset(L, 0, sizeof(*L));
	for (unsigned i = 0; i < conf->nclasses; i++)
		L->nslots += conf->classes[i].nslots;
	L->swarm_nb = cache_table_buckets_for(conf->max_swarms);
	L->chunk_nb = cache_index_buckets_for(L->nslots);
	L->swarms = off;
	off = align_up(off + (size_t)conf->max_swarms * sizeof(struct cache_swarm_rec), 64);
	L->swarm_tab = off;
	off += (size_t)L->swarm_nb * sizeof(struct cache_bucket);
	L->chunk_tab = off;
	off += (size_t)L->chunk_nb * sizeof(struct cache_cbucket);
	L->slots = off;
	off = align_up(off + (size_t)L->nslots * sizeof(struct cache_slot), 64);
	L->refcnt = off;
	off = align_up(off + (size_t)L->nslots * sizeof(uint32_t), 64);
	L->meta = off;
	off = align_up(off + conf->meta_bytes, 4096);
	for (unsigned i = 0; i < conf->nclasses; i++) {
		size_t stride = (size_t)conf->classes[i].slot_size + conf->slot_headroom;

		L->data[i] = off;
		off = align_up(off + (size_t)conf->classes[i].nslots * stride, 4096);
	}
	L->total = off;
}

size_t cache_region_size(const struct cache_conf *conf)
{
	struct layout L;

	if (!conf || conf_check(conf) < 0) {
		errno = EINVAL;
		return 0;
	}
	layout_compute(conf, &L);
	return L.total;
}

static void hdr_fill(struct cache_hdr *h, const struct cache_conf *conf, size_t total)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CACHE_MAGIC, sizeof(h->magic));
	h->version = CACHE_VERSION;
	h->nclasses = conf->nclasses;
	h->region_size = total;
	h->meta_bytes = conf->meta_bytes;
	h->max_swarms = conf->max_swarms;
	h->slot_headroom = conf->slot_headroom;
	memcpy(h->classes, conf->classes, sizeof(h->classes[0]) * conf->nclasses);
	h->initialised = CACHE_COMMIT_VALID;
	h->crc = cache_crc32c(0, h, offsetof(struct cache_hdr, crc));
}

/* 1: same version and geometry; 0: never initialised (empty or interrupted first start);
 * -EPROTO: something else. */
static int hdr_check(const struct cache_hdr *h, const struct cache_conf *conf, size_t total)
{
	struct cache_hdr want;

	if (h->initialised != CACHE_COMMIT_VALID)
		return 0;
	hdr_fill(&want, conf, total);
	if (memcmp(h->magic, CACHE_MAGIC, sizeof(h->magic)) != 0) {
		PCDN_LOG(cache_log, ERR, "cache file: not a pcdn cache (bad magic)");
		return -EPROTO;
	}
	if (h->crc != cache_crc32c(0, h, offsetof(struct cache_hdr, crc))) {
		PCDN_LOG(cache_log, ERR, "cache file: header checksum mismatch");
		return -EPROTO;
	}
	if (h->version != CACHE_VERSION) {
		PCDN_LOG(cache_log, ERR, "cache file: format version %u, this build reads %u",
			 h->version, CACHE_VERSION);
		return -EPROTO;
	}
	if (memcmp(h, &want, sizeof(want)) != 0) {
		PCDN_LOG(cache_log, ERR,
			 "cache file: geometry differs from the configuration (classes, swarms, "
			 "metadata size or slot headroom: %u configured, %u in the file)",
			 conf->slot_headroom, h->slot_headroom);
		return -EPROTO;
	}
	return 1;
}

/* Returns 1 when the file holds a cache to recover, 0 when it must be initialised. */
static int map_file(struct cache *c, const struct cache_conf *conf, size_t total)
{
	struct cache_hdr h;
	struct stat st;
	int fd, rc, existing = 0;

	fd = open(conf->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		PCDN_LOG(cache_log, ERR, "cache file %s: %s", conf->file, pcdn_strerror(rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		PCDN_LOG(cache_log, ERR, "cache file %s: in use by another process", conf->file);
		close(fd);
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (st.st_size > 0) {
		memset(&h, 0, sizeof(h));
		if (pread(fd, &h, sizeof(h), 0) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		rc = hdr_check(&h, conf, total);
		if (rc == 1 && (size_t)st.st_size != total) {
			PCDN_LOG(cache_log, ERR, "cache file %s: size %lld, expected %zu", conf->file,
				 (long long)st.st_size, total);
			rc = -EPROTO;
		}
		if (rc < 0 && !conf->reinit_on_mismatch) {
			PCDN_LOG(cache_log, ERR,
				 "cache file %s: incompatible; remove it or set reinit_on_mismatch",
				 conf->file);
			close(fd);
			return rc;
		}
		if (rc < 0)
			PCDN_LOG(cache_log, WARNING, "cache file %s: incompatible, starting empty",
				 conf->file);
		existing = rc == 1;
	}
	if (!existing && ftruncate(fd, 0) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (ftruncate(fd, (off_t)total) < 0) {
		rc = -errno;
		PCDN_LOG(cache_log, ERR, "cache file %s: cannot size to %zu bytes: %s", conf->file,
			 total, pcdn_strerror(rc));
		close(fd);
		return rc;
	}
	c->base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->base == MAP_FAILED) {
		rc = -errno;
		close(fd);
		c->base = NULL;
		return rc;
	}
	c->fd = fd;
	c->len = total;
	c->owns_mapping = true;
	return existing;
}

static int map_anon(struct cache *c, const struct cache_conf *conf, size_t total)
{
	size_t len = align_up(total, HUGE_2M);
	void *p = MAP_FAILED;

	if (!conf->no_hugepages) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED)
			PCDN_LOG(cache_log, WARNING,
				 "no hugepages for %zu MiB (%s): using normal pages, expect more "
				 "TLB misses",
				 len >> 20, pcdn_strerror(-errno));
		else
			c->hugepages = true;
	}
	if (p == MAP_FAILED) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		madvise(p, len, MADV_HUGEPAGE);
	}
	c->base = p;
	c->len = len;
	c->owns_mapping = true;
	return 0;
}

static void *xcalloc(size_t n, size_t size, int *failed)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		*failed = 1;
	return p;
}

static int alloc_private(struct cache *c)
{
	const struct cache_conf *conf = &c->conf;
	size_t hm = (size_t)conf->max_readers * conf->max_swarms * 2;
	int failed = 0;

	c->prev = xcalloc(c->nslots, sizeof(uint32_t), &failed);
	c->next = xcalloc(c->nslots, sizeof(uint32_t), &failed);
	c->queue = xcalloc(c->nslots, 1, &failed);
	c->slot_class = xcalloc(c->nslots, 1, &failed);
	c->retired = xcalloc(c->nslots, sizeof(uint32_t), &failed);
	c->retired_swarms = xcalloc(conf->max_swarms, sizeof(uint32_t), &failed);
	c->max_extents = conf->max_swarms * 2 + 2;
	c->retired_meta = xcalloc(c->max_extents, sizeof(struct cache_extent), &failed);
	c->extents = xcalloc(c->max_extents, sizeof(struct cache_extent), &failed);
	c->free_swarms = xcalloc(conf->max_swarms, sizeof(uint32_t), &failed);
	c->swarm_pinned = xcalloc(conf->max_swarms, sizeof(bool), &failed);
	c->sw_stats = xcalloc(conf->max_swarms, sizeof(struct cache_sw_stats), &failed);
	c->reader_hm = xcalloc(hm, sizeof(uint64_t), &failed);
	if (posix_memalign((void **)&c->readers, 64,
			   sizeof(struct cache_reader) * conf->max_readers) != 0) {
		c->readers = NULL;
		failed = 1;
	} else {
		memset(c->readers, 0, sizeof(struct cache_reader) * conf->max_readers);
	}
	for (unsigned i = 0; i < c->nclasses; i++)
		c->cls[i].free_stack = xcalloc(c->cls[i].nslots, sizeof(uint32_t), &failed);
	if (failed || cache_cmap_init(c) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < conf->max_readers; i++) {
		c->readers[i].c = c;
		c->readers[i].swarm_hm = c->reader_hm + (size_t)i * conf->max_swarms * 2;
	}
	return cache_policy_init(c);
}

static void free_private(struct cache *c)
{
	cache_policy_free(c);
	for (unsigned i = 0; i < c->nclasses; i++)
		free(c->cls[i].free_stack);
	free(c->prev);
	free(c->next);
	free(c->queue);
	free(c->slot_class);
	free(c->retired);
	free(c->retired_swarms);
	free(c->retired_meta);
	free(c->extents);
	free(c->free_swarms);
	free(c->swarm_pinned);
	free(c->sw_stats);
	free(c->reader_hm);
	free(c->readers);
	cache_cmap_fini(c);
}

struct cache *cache_create(const struct cache_conf *conf)
{
	struct cache *c;
	struct layout L;
	int rc, existing = 0;

	if (!conf || conf_check(conf) < 0) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->conf = *conf;
	c->conf.file = NULL; /* the caller's string is not kept */
	c->fd = -1;
	layout_compute(conf, &L);
	if (conf->region) {
		if (conf->region_len < L.total) {
			PCDN_LOG(cache_log, ERR, "region of %zu bytes, the cache needs %zu",
				 conf->region_len, L.total);
			free(c);
			errno = ENOSPC;
			return NULL;
		}
		c->base = conf->region;
		c->len = conf->region_len;
	} else if (conf->file) {
		existing = map_file(c, conf, L.total);
		if (existing < 0) {
			free(c);
			errno = -existing;
			return NULL;
		}
	} else if ((rc = map_anon(c, conf, L.total)) < 0) {
		free(c);
		errno = -rc;
		return NULL;
	}

	c->hdr = (struct cache_hdr *)c->base;
	c->swarms = (struct cache_swarm_rec *)(c->base + L.swarms);
	c->swarm_tab.b = (struct cache_bucket *)(c->base + L.swarm_tab);
	c->swarm_tab.nbuckets = L.swarm_nb;
	c->chunk_idx.b = (struct cache_cbucket *)(c->base + L.chunk_tab);
	c->chunk_idx.nbuckets = L.chunk_nb;
	c->slots = (struct cache_slot *)(c->base + L.slots);
	c->refcnt = (_Atomic uint32_t *)(c->base + L.refcnt);
	c->meta_heap = c->base + L.meta;
	c->nslots = L.nslots;
	c->nclasses = conf->nclasses;
	for (unsigned i = 0, first = 0; i < conf->nclasses; i++) {
		c->cls[i].slot_size = conf->classes[i].slot_size;
		c->cls[i].nslots = conf->classes[i].nslots;
		c->cls[i].first = first;
		c->cls[i].stride = conf->classes[i].slot_size + conf->slot_headroom;
		c->cls[i].data = c->base + L.data[i] + conf->slot_headroom;
		first += conf->classes[i].nslots;
	}

	/* Indexes and reference counts are rebuilt, never trusted from the file; records are
	 * zeroed only for a fresh cache. Payload memory is left alone (it is never read before
	 * being written). */
	memset(c->base + L.swarm_tab, 0, L.slots - L.swarm_tab);
	memset(c->base + L.refcnt, 0, L.meta - L.refcnt);
	if (!existing) {
		memset(c->base, 0, L.swarm_tab);
		memset(c->base + L.slots, 0, L.refcnt - L.slots);
	}

	rc = alloc_private(c);
	if (rc < 0) {
		free_private(c);
		if (c->owns_mapping)
			munmap(c->base, c->len);
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		errno = -rc;
		return NULL;
	}
	cache_swarm_recover(c);
	cache_chunk_recover(c);
	if (existing)
		PCDN_LOG(cache_log, NOTICE,
			 "cache file: recovered %llu chunks and %llu swarms, dropped %llu records",
			 (unsigned long long)c->recovered_chunks,
			 (unsigned long long)c->recovered_swarms, (unsigned long long)c->dropped);
	if (!existing) {
		/* Written last: a first start interrupted before this point starts empty again. */
		struct cache_hdr h;

		hdr_fill(&h, conf, L.total);
		memcpy(c->hdr, &h, sizeof(h));
	}
	return c;
}

void cache_destroy(struct cache *c)
{
	if (!c)
		return;
	if (c->fd >= 0) {
		if (msync(c->base, c->len, MS_SYNC) < 0)
			PCDN_LOG(cache_log, WARNING, "cache file: msync: %s",
				 pcdn_strerror(-errno));
	}
	if (c->owns_mapping)
		munmap(c->base, c->len);
	if (c->fd >= 0)
		close(c->fd); /* releases the flock */
	free_private(c);
	free(c);
}

void *cache_region_base(const struct cache *c)
{
	return c->base;
}

size_t cache_region_len(const struct cache *c)
{
	return c->len;
}

uint32_t cache_slot_headroom(const struct cache *c)
{
	return c->conf.slot_headroom;
}

bool cache_uses_hugepages(const struct cache *c)
{
	return c->hugepages;
}

void cache_recovery_counts(const struct cache *c, uint64_t *chunks, uint64_t *swarms,
			   uint64_t *dropped)
{
	if (chunks)
		*chunks = c->recovered_chunks;
	if (swarms)
		*swarms = c->recovered_swarms;
	if (dropped)
		*dropped = c->dropped;
}

/* ---- readers ------------------------------------------------------------------------------ */

/* liburcu refuses a second registration of a thread: count ours per thread and flavour so a
 * thread may read several caches. */
static __thread unsigned tls_regs[2];

static void flavour_register(const struct cache *c)
{
	if (c->conf.threads_registered || tls_regs[c->conf.flavour]++ > 0)
		return;
	if (c->conf.flavour == CACHE_RCU_QSBR)
		cache_qsbr_register();
	else
		cache_memb_register();
}

static void flavour_unregister(const struct cache *c)
{
	if (c->conf.threads_registered || --tls_regs[c->conf.flavour] > 0)
		return;
	if (c->conf.flavour == CACHE_RCU_QSBR)
		cache_qsbr_unregister();
	else
		cache_memb_unregister();
}

struct cache_reader *cache_reader_register(struct cache *c)
{
	for (unsigned i = 0; i < c->conf.max_readers; i++) {
		struct cache_reader *r = &c->readers[i];
		int expect = 0;

		if (atomic_compare_exchange_strong(&r->in_use, &expect, 1)) {
			flavour_register(c);
			return r;
		}
	}
	errno = ENOSPC;
	return NULL;
}

static void reader_release(struct cache_reader *r)
{
	atomic_store_explicit(&r->qs_seq,
			      atomic_load_explicit(&r->qs_seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

void cache_reader_unregister(struct cache_reader *r)
{
	if (!r)
		return;
	reader_release(r);
	flavour_unregister(r->c);
	atomic_store_explicit(&r->in_use, 0, memory_order_release);
}

void cache_reader_quiescent(struct cache_reader *r)
{
	if (r->c->conf.flavour == CACHE_RCU_QSBR) {
		reader_release(r);
		cache_qsbr_quiescent();
	}
}

void cache_reader_offline(struct cache_reader *r)
{
	if (r->c->conf.flavour == CACHE_RCU_QSBR) {
		reader_release(r);
		cache_qsbr_offline();
	}
}

void cache_reader_online(struct cache_reader *r)
{
	if (r->c->conf.flavour == CACHE_RCU_QSBR)
		cache_qsbr_online();
}

void cache_read_begin(struct cache_reader *r)
{
	if (r->c->conf.flavour == CACHE_RCU_MEMB)
		cache_memb_read_lock();
}

void cache_read_end(struct cache_reader *r)
{
	if (r->c->conf.flavour == CACHE_RCU_MEMB) {
		reader_release(r);
		cache_memb_read_unlock();
	}
}

void cache_grace_period(struct cache *c)
{
	if (c->conf.flavour == CACHE_RCU_QSBR)
		cache_qsbr_synchronize();
	else
		cache_memb_synchronize();
	for (unsigned i = 0; i < c->conf.max_readers; i++)
		(void)atomic_load_explicit(&c->readers[i].qs_seq, memory_order_acquire);
}

/* ---- statistics --------------------------------------------------------------------------- */

void cache_reader_swarm_sums(struct cache *c, uint32_t idx, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	for (unsigned i = 0; i < c->conf.max_readers; i++) {
		*hits += atomic_load_explicit(&c->readers[i].swarm_hm[2 * idx],
					      memory_order_relaxed);
		*misses += atomic_load_explicit(&c->readers[i].swarm_hm[2 * idx + 1],
						memory_order_relaxed);
	}
}

static void sw_stats_read(const struct cache_sw_stats *w, struct cache_stats *st)
{
	st->inserts = atomic_load_explicit(&w->inserts, memory_order_relaxed);
	st->evictions = atomic_load_explicit(&w->evictions, memory_order_relaxed);
	st->purged = atomic_load_explicit(&w->purged, memory_order_relaxed);
	st->chunks = atomic_load_explicit(&w->chunks, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&w->bytes, memory_order_relaxed);
	st->pinned_chunks = atomic_load_explicit(&w->pinned_chunks, memory_order_relaxed);
	st->pinned_bytes = atomic_load_explicit(&w->pinned_bytes, memory_order_relaxed);
}

void cache_stats_get(struct cache *c, struct cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	sw_stats_read(&c->total, st);
	for (unsigned i = 0; i < c->conf.max_readers; i++) {
		st->hits += atomic_load_explicit(&c->readers[i].hits, memory_order_relaxed);
		st->misses += atomic_load_explicit(&c->readers[i].misses, memory_order_relaxed);
	}
}

int cache_swarm_stats_get(struct cache *c, cache_swarm_t s, struct cache_stats *st)
{
	uint32_t idx = cache_swarm_index(s);

	if (cache_swarm_check(c, s) < 0)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	sw_stats_read(&c->sw_stats[idx], st);
	cache_reader_swarm_sums(c, idx, &st->hits, &st->misses);
	st->hits -= atomic_load_explicit(&c->sw_stats[idx].base_hits, memory_order_relaxed);
	st->misses -= atomic_load_explicit(&c->sw_stats[idx].base_misses, memory_order_relaxed);
	return 0;
}
