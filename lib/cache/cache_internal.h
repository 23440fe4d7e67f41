/* Private to lib/cache: region layout, records, the open-addressing index and writer state. */
#ifndef PCDN_CACHE_INTERNAL_H
#define PCDN_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "pcdn_common.h"

extern int cache_log;

#define CACHE_MAGIC "PCDNCACH"
#define CACHE_VERSION 1u
#define CACHE_HDR_SIZE 4096u
/* Commit words are written last (release) and cleared first: a record is served after a
 * restart only when its commit word holds one of these values and its checksum matches. */
#define CACHE_COMMIT_VALID 0x5ca1ab1eu
#define CACHE_COMMIT_PINNED 0x5ca1ab1fu
#define CACHE_FREQ_MAX 3
#define CACHE_NO_META UINT64_MAX

/* On-media header, at offset 0 of the region. */
struct cache_hdr {
	char magic[8];
	uint32_t version;
	uint32_t nclasses;
	uint64_t region_size;
	uint64_t meta_bytes;
	uint32_t max_swarms;
	uint32_t slot_headroom; /* was padding, always 0: files from before headroom match 0 */
	struct cache_class_conf classes[CACHE_MAX_CLASSES];
	uint32_t initialised; /* CACHE_COMMIT_VALID once the empty layout is written */
	uint32_t crc; /* over everything above */
};

/* One per slot, in the region (persistent). Readers read key and len; the writer changes them
 * only while the slot is free, i.e. after a grace period. */
struct cache_slot {
	uint64_t swarm;
	uint64_t chunk;
	uint32_t len;
	uint32_t crc; /* CRC32C of key, len and payload */
	_Atomic uint32_t commit;
	/* RFC 1071 ones' complement sum of the payload (16 bits, folded, big-endian words in
	 * host order; see cache_chunk_sum16). Written with the record, recomputed on recovery. */
	uint32_t sum16;
};

/* One per swarm, in the region (persistent). */
struct cache_swarm_rec {
	_Atomic uint32_t commit;
	uint32_t gen;
	uint32_t id_len;
	uint32_t hash_id;
	uint32_t chunk_size;
	uint32_t crc; /* over gen, id_len, hash_id, chunk_size, id */
	_Atomic uint64_t content_len;
	_Atomic uint64_t meta; /* offset of a cache_blob in the metadata heap, or CACHE_NO_META */
	uint8_t id[CACHE_SWARM_ID_MAX];
	uint8_t pad[24];
};

/* Header of a metadata blob in the heap; the payload follows. */
struct cache_blob {
	uint64_t len;
	uint32_t owner; /* swarm index */
	uint32_t crc; /* over len, owner and payload */
};

/* Index bucket: one cache line. ent = tag << 32 | value; 0 is empty. over counts entries whose
 * probe passed through this bucket, so a lookup stops at the first bucket with over == 0. */
#define CACHE_BUCKET_ENTRIES 7
struct cache_bucket {
	_Atomic uint64_t over;
	_Atomic uint64_t ent[CACHE_BUCKET_ENTRIES];
} __attribute__((aligned(64)));

struct cache_table {
	struct cache_bucket *b;
	uint32_t nbuckets;
};

/* Chunk index bucket: one cache line holding two entries with their full keys, so a lookup
 * reads one line, not a bucket and then a slot record. Each entry is guarded by a sequence
 * number (odd while the writer changes it); a reader that sees it change treats the entry as
 * absent, which is a correct answer for a lookup that overlaps that insert or removal, and
 * never waits for the writer. swarm == 0 marks an empty entry (handles are never 0). freq is
 * the S3-FIFO access count of the entry's chunk, raised by readers (for a chunk no chunk map
 * covers; see struct cache_cmap_line). */
struct cache_centry {
	_Atomic uint64_t swarm;
	_Atomic uint64_t chunk;
	_Atomic uint32_t slot;
	_Atomic uint32_t len;
};

struct cache_cbucket {
	_Atomic uint32_t over;
	_Atomic uint32_t seq[2];
	_Atomic uint8_t freq[2];
	uint8_t pad[2];
	struct cache_centry e[2];
} __attribute__((aligned(64)));

struct cache_index {
	struct cache_cbucket *b;
	uint32_t nbuckets;
};

/* A swarm's dense chunk map (cmap.c): chunk k in line k / 7, position k % 7, with its S3-FIFO
 * access count beside it, so a lookup reads one line, as in the index. handle: the swarm's
 * handle while the map is published, else 0; n: chunks covered. */
#define CACHE_CMAP_PER_LINE 7
struct cache_cmap_line {
	_Atomic uint64_t e[CACHE_CMAP_PER_LINE]; /* len << 32 | slot + 1, or 0 */
	_Atomic uint8_t freq[CACHE_CMAP_PER_LINE];
	uint8_t pad;
} __attribute__((aligned(64)));

struct cache_cmap {
	_Atomic uint64_t handle;
	_Atomic uint64_t n;
	struct cache_cmap_line *l;
	uint64_t pad[5];
} __attribute__((aligned(64)));

struct cache_reader {
	struct cache *c;
	_Atomic int in_use;
	/* Released at every quiescent state / read end; acquired by the writer after a grace
	 * period. liburcu already orders these accesses; this makes the ordering visible to
	 * ThreadSanitizer, which cannot see liburcu's own barriers. */
	_Atomic uint64_t qs_seq;
	_Atomic uint64_t hits;
	_Atomic uint64_t misses;
	_Atomic uint64_t *swarm_hm; /* [max_swarms][2]: hits, misses */
} __attribute__((aligned(64)));

enum cache_queue { Q_FREE = 0, Q_SMALL, Q_MAIN, Q_PINNED, Q_RETIRED };

struct cache_fifo {
	uint32_t head, tail, size;
};

/* S3-FIFO ghost: fingerprints of chunks evicted from the small queue, FIFO order, with a
 * linear-probing set for membership. Writer only. */
struct cache_ghost {
	uint64_t *ring;
	uint32_t cap, pos, count;
	uint64_t *set_fp;
	uint32_t *set_pos;
	uint32_t set_mask;
};

struct cache_class {
	uint32_t slot_size;
	uint32_t nslots;
	uint32_t first; /* global index of the first slot */
	uint32_t stride; /* slot_size + slot_headroom: from one slot's data to the next's */
	uint8_t *data; /* the first slot's data, after its headroom */
	/* writer state */
	uint32_t *free_stack;
	uint32_t nfree;
	struct cache_fifo small, main;
	uint32_t small_cap;
	uint32_t evict_batch;
	uint32_t nretired; /* slots of this class waiting in c->retired */
	struct cache_ghost ghost;
};

struct cache_sw_stats {
	_Atomic uint64_t inserts, evictions, purged, chunks, bytes, pinned_chunks, pinned_bytes;
	/* reader hits and misses already counted for earlier swarms at this index */
	_Atomic uint64_t base_hits, base_misses;
};

struct cache_extent {
	uint64_t off, len;
};

struct cache {
	struct cache_conf conf;
	uint8_t *base;
	size_t len;
	bool owns_mapping;
	bool hugepages;
	int fd;
	struct cache_hdr *hdr;
	struct cache_swarm_rec *swarms;
	struct cache_table swarm_tab;
	struct cache_index chunk_idx;
	struct cache_cmap *cmap; /* [max_swarms] */
	/* the maps' lines, carved from one arena (huge pages when the kernel gives them):
	 * free extents in lines, sorted, coalesced */
	struct cache_cmap_line *cmap_arena;
	size_t cmap_arena_bytes;
	struct cache_extent *cmap_free;
	uint32_t cmap_nfree;
	struct cache_slot *slots;
	_Atomic uint32_t *refcnt;
	uint8_t *meta_heap;
	uint32_t nslots;
	unsigned nclasses;
	struct cache_class cls[CACHE_MAX_CLASSES];

	/* readers */
	struct cache_reader *readers;
	_Atomic uint64_t *reader_hm; /* max_readers * max_swarms * 2 */

	/* writer-private per slot */
	uint32_t *prev, *next;
	uint8_t *queue;
	uint8_t *slot_class;
	/* slots removed from the index, waiting for a grace period and zero references */
	uint32_t *retired;
	uint32_t nretired;
	/* swarm indexes and metadata extents waiting for a grace period */
	uint32_t *retired_swarms;
	uint32_t nretired_swarms;
	struct cache_extent *retired_meta;
	uint32_t nretired_meta;
	/* live metadata extents, sorted by offset */
	struct cache_extent *extents;
	uint32_t nextents, max_extents;
	uint32_t *free_swarms;
	uint32_t nfree_swarms;
	bool *swarm_pinned;

	struct cache_sw_stats *sw_stats; /* [max_swarms] */
	struct cache_sw_stats total;

	uint64_t recovered_chunks, recovered_swarms, dropped;
};

/* cache.c */
void cache_reader_swarm_sums(struct cache *c, uint32_t idx, uint64_t *hits, uint64_t *misses);

/* crc32c.c */
uint32_t cache_crc32c(uint32_t crc, const void *buf, size_t len);

/* rcu_qsbr.c / rcu_memb.c: thin wrappers so each flavour's map header stays in its own file */
void cache_qsbr_register(void);
void cache_qsbr_unregister(void);
void cache_qsbr_quiescent(void);
void cache_qsbr_offline(void);
void cache_qsbr_online(void);
void cache_qsbr_synchronize(void);
void cache_memb_register(void);
void cache_memb_unregister(void);
void cache_memb_read_lock(void);
void cache_memb_read_unlock(void);
void cache_memb_synchronize(void);

/* table.c */
void cache_table_insert(struct cache_table *t, uint64_t hash, uint32_t value);
void cache_table_remove(struct cache_table *t, uint64_t hash, uint32_t value);
uint32_t cache_table_buckets_for(uint32_t entries);

/* index.c: the chunk index */
uint32_t cache_index_buckets_for(uint32_t entries);
void cache_index_insert(struct cache_index *x, uint64_t hash, uint64_t swarm, uint64_t chunk,
			uint32_t slot, uint32_t len);
void cache_index_remove(struct cache_index *x, uint64_t hash, uint32_t slot);
/* Full probe, safe for readers and the writer: slot or CACHE_NO_SLOT; *len and *freq set on
 * a hit (freq may be NULL). */
uint32_t cache_index_lookup(const struct cache_index *x, uint64_t hash, uint64_t swarm,
			    uint64_t chunk, uint32_t *len, _Atomic uint8_t **freq);
/* [writer] The access count of the chunk in slot: in its swarm's chunk map when one covers it
 * (readers raise it there), else in its index entry. */
_Atomic uint8_t *cache_index_freq(struct cache *c, uint32_t slot);

/* cmap.c: per-swarm dense chunk maps (writer side; readers in lookup.c) */
int cache_cmap_init(struct cache *c);
void cache_cmap_fini(struct cache *c);
void cache_cmap_create(struct cache *c, uint32_t idx, bool fill);
void cache_cmap_unpublish(struct cache *c, uint32_t idx);
void cache_cmap_free(struct cache *c, uint32_t idx);
void cache_cmap_set(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot, uint32_t len);
void cache_cmap_clear(struct cache *c, uint64_t swarm, uint64_t chunk, uint32_t slot);
/* The access count of a chunk a map covers, else NULL. */
_Atomic uint8_t *cache_cmap_freq(struct cache *c, uint64_t swarm, uint64_t chunk);

/* Reads entry i of a bucket: 1 (and the slot and length) when it holds (swarm, chunk), 0 otherwise
 * (including while the writer is changing it). */
static inline int cache_centry_match(const struct cache_cbucket *bk, int i, uint64_t swarm,
				     uint64_t chunk, uint32_t *slot, uint32_t *len)
{
	/* Acquire on every field keeps the second sequence load after them (no fence: the
	 * same on x86, and visible to ThreadSanitizer). A field written by a writer that had
	 * already made the sequence odd makes that odd value visible to the second load. */
	uint32_t s1 = atomic_load_explicit(&bk->seq[i], memory_order_acquire);
	uint64_t sw = atomic_load_explicit(&bk->e[i].swarm, memory_order_acquire);
	uint64_t ch = atomic_load_explicit(&bk->e[i].chunk, memory_order_acquire);
	uint32_t sl = atomic_load_explicit(&bk->e[i].slot, memory_order_acquire);
	uint32_t ln = atomic_load_explicit(&bk->e[i].len, memory_order_acquire);

	if ((s1 & 1) || atomic_load_explicit(&bk->seq[i], memory_order_relaxed) != s1)
		return 0;
	if (sw != swarm || ch != chunk)
		return 0;
	*slot = sl;
	*len = ln;
	return 1;
}

static inline uint32_t cache_index_bucket(const struct cache_index *x, uint64_t h)
{
	return (uint32_t)(((h >> 32) * (uint64_t)x->nbuckets) >> 32);
}

/* swarm.c */
void cache_swarm_reclaim(struct cache *c, uint32_t nswarms, uint32_t nmeta);
int cache_swarm_check(const struct cache *c, cache_swarm_t s);
void cache_swarm_recover(struct cache *c);
uint64_t cache_swarm_id_hash(const uint8_t *id, size_t len);

/* chunk.c */
void cache_chunk_recover(struct cache *c);
void cache_chunks_swarm_pin(struct cache *c, cache_swarm_t s, bool pinned);
uint32_t cache_chunk_find(const struct cache *c, uint64_t swarm, uint64_t chunk, uint64_t hash);
void cache_grace_period(struct cache *c);

/* policy.c: S3-FIFO */
int cache_policy_init(struct cache *c);
void cache_policy_free(struct cache *c);
void cache_fifo_push_head(struct cache *c, struct cache_fifo *q, uint8_t qid, uint32_t slot);
void cache_fifo_unlink(struct cache *c, uint32_t slot);
void cache_policy_admit(struct cache *c, struct cache_class *k, uint32_t slot, uint64_t hash);
/* Evicts up to the class's batch; returns how many slots were taken out of the queues. */
uint32_t cache_policy_evict(struct cache *c, struct cache_class *k);
/* Called for a chunk the policy evicts: removes it from the index and retires its slot. */
void cache_chunk_evicted(struct cache *c, uint32_t slot);

static inline uint64_t cache_mix64(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

static inline uint64_t cache_key_hash(uint64_t swarm, uint64_t chunk)
{
	return cache_mix64((swarm * 0x9e3779b97f4a7c15ull) ^ chunk);
}

static inline uint32_t cache_hash_tag(uint64_t h)
{
	uint32_t tag = (uint32_t)h;

	return tag ? tag : 1;
}

static inline uint32_t cache_hash_bucket(const struct cache_table *t, uint64_t h)
{
	return (uint32_t)(((h >> 32) * (uint64_t)t->nbuckets) >> 32);
}

static inline uint8_t *cache_slot_data(const struct cache *c, uint32_t slot)
{
	for (unsigned i = c->nclasses - 1; i > 0; i--)
		if (slot >= c->cls[i].first)
			return c->cls[i].data + (size_t)(slot - c->cls[i].first) * c->cls[i].stride;
	return c->cls[0].data + (size_t)slot * c->cls[0].stride;
}

static inline uint32_t cache_slot_crc(const struct cache_slot *s, const void *data)
{
	uint32_t crc = cache_crc32c(0, &s->swarm, sizeof(s->swarm));

	crc = cache_crc32c(crc, &s->chunk, sizeof(s->chunk));
	crc = cache_crc32c(crc, &s->len, sizeof(s->len));
	return cache_crc32c(crc, data, s->len);
}

/* RFC 1071 §4.1 over the payload from an even offset: what a UDP sender adds for the payload
 * instead of reading it (zero-copy transmission without checksum offload). */
static inline uint16_t cache_payload_sum16(const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0;

	for (; len >= 4; p += 4, len -= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		acc += __builtin_bswap32(w);
	}
	if (len >= 2) {
		acc += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static inline uint32_t cache_swarm_index(cache_swarm_t s)
{
	return (uint32_t)s;
}

static inline uint32_t cache_swarm_gen(cache_swarm_t s)
{
	return (uint32_t)(s >> 32);
}

/* The line of (swarm, chunk) in its swarm's published map, *pos its place there; NULL when no
 * map covers it (the index decides). Readers and the writer. */
static inline struct cache_cmap_line *cache_cmap_find(const struct cache *c, uint64_t swarm,
						      uint64_t chunk, uint8_t *pos)
{
	uint32_t idx = cache_swarm_index(swarm);

	if (swarm == 0 || idx >= c->conf.max_swarms)
		return NULL;
	const struct cache_cmap *m = &c->cmap[idx];
	if (atomic_load_explicit(&m->handle, memory_order_acquire) != swarm ||
	    chunk >= atomic_load_explicit(&m->n, memory_order_relaxed))
		return NULL;
	*pos = (uint8_t)(chunk % CACHE_CMAP_PER_LINE);
	return &m->l[chunk / CACHE_CMAP_PER_LINE];
}

#endif
