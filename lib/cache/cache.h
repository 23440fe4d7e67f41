/* pcdn chunk cache: an arena of fixed-size slots in one memory region (hugepages, a caller's
 * DPDK memzone, or a file for warm restart), a lock-free open-addressing index read under RCU,
 * S3-FIFO eviction with pinning, per-swarm metadata and statistics, and reference counts for
 * zero-copy transmission.
 *
 * Threads and roles
 * - One writer thread at a time (the control thread) calls every function marked [writer]:
 *   swarm add/update/remove/pin, insert, remove, pin, purge, reclaim. The writer never has to be
 *   a registered reader; it may read (lookup, swarm find) without registering. Writer functions
 *   may wait for a grace period: never call them inside cache_read_begin()/cache_read_end()
 *   (memb); a registered QSBR thread may call them (liburcu takes it offline for the wait), but
 *   its own earlier lookup results expire.
 * - Readers (DPDK workers, ordinary threads) register once with cache_reader_register() and call
 *   the functions marked [reader]. Readers never lock, allocate or make system calls on lookup.
 * - The RCU flavour is chosen once per cache (struct cache_conf.flavour):
 *   CACHE_RCU_QSBR (poll-mode workers): the thread is online after registration; results of a
 *     lookup stay valid until the thread's next cache_reader_quiescent() or
 *     cache_reader_offline(). Call cache_reader_quiescent() once per poll loop, and go offline
 *     before blocking or sleeping (a writer waiting for a grace period waits for every online
 *     reader). cache_read_begin()/cache_read_end() are no-ops.
 *   CACHE_RCU_MEMB (ordinary threads that block between reads): bracket reads with
 *     cache_read_begin()/cache_read_end(); results stay valid until cache_read_end().
 *     cache_reader_quiescent()/offline()/online() are no-ops.
 *   Code written as "begin; lookup; use; end; quiescent" is correct under both flavours.
 * - To keep a chunk beyond that (zero-copy DATA until the NIC frees the mbuf), take a reference
 *   with cache_ref() before the result expires; cache_unref() may be called from any thread.
 *   A slot is reused only after an RCU grace period and after its references dropped to zero.
 * - A thread may be a reader of several caches of the same flavour (the liburcu registration
 *   is counted per thread); set conf.threads_registered when the application registers its
 *   threads with liburcu itself.
 * - Statistics may be read from any thread.
 *
 * Memory: everything readers touch or a restart needs (header, swarm table, indexes, slot
 * records, metadata heap, arena) lives in one region of cache_region_size() bytes; the writer's
 * own bookkeeping (FIFOs, free lists, ghost) is allocated at creation. Nothing is allocated on
 * lookup, insert or eviction.
 *
 * Warm restart: with conf.file, the region is a MAP_SHARED mapping of that file. Every chunk
 * record carries a CRC32C over key, length and payload and a commit word written last; on open
 * the indexes are rebuilt from the records, and records whose commit word, checksum, swarm or
 * geometry do not check out are dropped (never served). A file whose magic, version or geometry
 * differ from conf fails with EPROTO, or is re-initialised when conf.reinit_on_mismatch is set.
 * The file is locked (flock) while open: a second opener fails with EBUSY. */
#ifndef PCDN_CACHE_H
#define PCDN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CACHE_MAX_CLASSES 8
#define CACHE_SWARM_ID_MAX 128 /* PPSPP swarm IDs: root hash (20/32 B) or a live public key */
#define CACHE_BURST_MAX 64 /* cache_lookup_burst() handles any n, this many per pipeline pass */

struct cache;
struct cache_reader;

/* A swarm handle: slot index in the low 32 bits, generation in the high 32 bits, so a handle
 * of a removed swarm never matches its successor. 0 is never a valid handle. */
typedef uint64_t cache_swarm_t;

struct cache_key {
	cache_swarm_t swarm;
	uint64_t chunk; /* chunk number in the swarm (RFC 7574 §4.3 chunk addressing) */
};

enum cache_flavour {
	CACHE_RCU_QSBR = 0,
	CACHE_RCU_MEMB = 1,
};

struct cache_class_conf {
	uint32_t slot_size; /* bytes, multiple of 64, strictly increasing across classes */
	uint32_t nslots;
};

struct cache_conf {
	enum cache_flavour flavour;
	unsigned nclasses;
	struct cache_class_conf classes[CACHE_MAX_CLASSES];
	uint32_t max_swarms;
	uint64_t meta_bytes; /* heap for swarm metadata blobs (Merkle trees) */
	unsigned max_readers;
	unsigned small_percent; /* S3-FIFO small-queue share of each class, 1..50 */
	const char *file; /* warm-restart file; NULL: anonymous memory or region */
	bool reinit_on_mismatch; /* file of another version/geometry: start empty instead of EPROTO */
	void *region; /* caller memory (e.g. a DPDK memzone), cache_region_size() bytes, 64-aligned */
	size_t region_len;
	bool no_hugepages; /* anonymous mapping: do not try MAP_HUGETLB */
	/* Reader threads are registered with the flavour by the application itself (it uses
	 * liburcu for other data too): cache_reader_register() then only takes a reader slot. */
	bool threads_registered;
	/* Optional, for a zero-copy sender keeping its own state per slot (e.g. a pre-built
	 * packet buffer descriptor over each slot, referenced by the NIC queue instead of
	 * cache_ref): slot_filled runs when a chunk lands in a slot (cache_insert, and recovery on
	 * a warm restart), after its bytes are written and before the index publishes it;
	 * slot_busy is asked, besides the slot's reference count, before a removed or evicted slot
	 * is reused (true: still being sent, try later). Both run on the writer's thread.
	 * slot_filled gets the chunk's RFC 1071 sum as cache_chunk_sum16 gives it. */
	void (*slot_filled)(void *ctx, uint32_t slot, const void *data, uint32_t len,
			    uint16_t sum16);
	bool (*slot_busy)(void *ctx, uint32_t slot);
	void *hook_ctx;
	/* Process memory for per-swarm dense chunk maps (a 64-byte line per 7 chunks of a swarm
	 * of known size; in-order lookups of its chunks then read a line per 7 chunks instead of
	 * one per chunk). 0: 16 bytes per slot (maps for about 1.75 times as many chunks as the
	 * cache holds). */
	uint64_t chunk_map_bytes;
	/* Bytes in front of every slot's data that belong to the slot and that the cache never
	 * reads or writes: a zero-copy sender may build a packet's headers there, right before
	 * the payload, and send the datagram as one buffer. A multiple of 64 (the data stays
	 * 64-byte aligned), at most 4096; 0 (cache_conf_init) for none. Every class's slots then
	 * lie slot_size + slot_headroom apart. Part of a warm-restart file's geometry. */
	uint32_t slot_headroom;
};

/* Defaults: QSBR, classes 1 KiB x 65536 and 8 KiB x 8192, 1024 swarms, 16 MiB metadata,
 * 16 readers, small queue 10%. */
void cache_conf_init(struct cache_conf *conf);
/* Bytes of memory the cache needs for conf; 0 with errno EINVAL when conf is invalid. */
size_t cache_region_size(const struct cache_conf *conf);

/* NULL with errno: EINVAL (bad conf), ENOSPC (region too small), EPROTO (file of another
 * version or geometry), EBUSY (file in use by another process), ENOMEM, or an I/O errno. */
struct cache *cache_create(const struct cache_conf *conf);
/* Every reader must have unregistered. A file-backed cache is synced (msync) and unlocked. */
void cache_destroy(struct cache *c);

/* Base and length of the region: a DPDK caller turns a chunk pointer into an IOVA with
 * memzone->iova + (ptr - base). */
void *cache_region_base(const struct cache *c);
size_t cache_region_len(const struct cache *c);
/* conf.slot_headroom: writable bytes right before every chunk's data (cache_hit.data). */
uint32_t cache_slot_headroom(const struct cache *c);
/* True when the anonymous region got MAP_HUGETLB pages. */
bool cache_uses_hugepages(const struct cache *c);
/* Number of chunks and swarms recovered from the file at creation (0 for a fresh cache), and
 * records dropped as torn or inconsistent. */
void cache_recovery_counts(const struct cache *c, uint64_t *chunks, uint64_t *swarms,
			   uint64_t *dropped);

/* ---- swarms ------------------------------------------------------------------------------- */

struct cache_swarm_conf {
	const uint8_t *id;
	size_t id_len; /* 1..CACHE_SWARM_ID_MAX */
	uint64_t content_len;
	uint32_t chunk_size;
	uint32_t hash_id; /* RFC 7574 §7.5 Merkle hash function */
	const void *meta; /* opaque blob serving needs (serialised Merkle tree); may be NULL */
	size_t meta_len;
	bool pinned; /* every chunk of the swarm is kept (pushed content) */
};

struct cache_swarm_info {
	cache_swarm_t handle;
	const uint8_t *id;
	size_t id_len;
	uint64_t content_len;
	uint32_t chunk_size;
	uint32_t hash_id;
	const void *meta; /* NULL when meta_len is 0 */
	size_t meta_len;
	bool pinned;
	/* chunks 0..chunk_map-1 are looked up in the swarm's dense chunk map (0: none; see
	 * cache_conf.chunk_map_bytes), the rest in the index */
	uint64_t chunk_map;
};

/* [writer] -EINVAL bad arguments, -EEXIST id present, -ENOSPC swarm table or metadata heap
 * full. */
int cache_swarm_add(struct cache *c, const struct cache_swarm_conf *sc, cache_swarm_t *out);
/* [writer] Replaces content length and metadata blob (the old blob is freed after a grace
 * period). -ENOENT unknown handle, -ENOSPC heap full, -EINVAL bad arguments. */
int cache_swarm_update(struct cache *c, cache_swarm_t s, uint64_t content_len, const void *meta,
		       size_t meta_len);
/* [writer] Purges every chunk (pinned ones too) and forgets the swarm. -ENOENT unknown. */
int cache_swarm_remove(struct cache *c, cache_swarm_t s);
/* [writer] Pins or unpins a whole swarm. -ENOENT unknown handle. */
int cache_swarm_pin(struct cache *c, cache_swarm_t s, bool pinned);
/* [reader or writer] Fills info; pointers stay valid as long as a lookup result would.
 * -ENOENT when absent, -EINVAL bad arguments. */
int cache_swarm_find(struct cache *c, const uint8_t *id, size_t id_len,
		     struct cache_swarm_info *info);
int cache_swarm_get(struct cache *c, cache_swarm_t s, struct cache_swarm_info *info);

/* ---- chunks (writer) ---------------------------------------------------------------------- */

#define CACHE_INSERT_PIN 0x1u /* never evicted until unpinned or purged */

/* [writer] Copies len bytes into the smallest class that fits, evicting as needed.
 * 0, or -EINVAL (len 0, bad flags), -EMSGSIZE (larger than the largest class), -ENOENT (unknown
 * or removed swarm), -EEXIST (key present), -ENOSPC (every slot of the class is pinned),
 * -EBUSY (the remaining slots are held by in-flight references: retry after cache_unref). */
int cache_insert(struct cache *c, const struct cache_key *key, const void *data, uint32_t len,
		 unsigned flags);
/* [writer] -ENOENT when absent. */
int cache_remove(struct cache *c, const struct cache_key *key);
/* [writer] Pins or unpins one chunk; -ENOENT when absent. */
int cache_pin(struct cache *c, const struct cache_key *key, bool pinned);
/* [writer] Removes chunks first..last (inclusive) of a swarm, pinned ones too; returns how many
 * were removed or -ENOENT / -EINVAL. */
long cache_purge_range(struct cache *c, cache_swarm_t s, uint64_t first, uint64_t last);
long cache_purge_swarm(struct cache *c, cache_swarm_t s);
/* [writer] Removes every chunk; swarms stay. Returns how many were removed. */
long cache_purge_all(struct cache *c);
/* [writer] Waits for a grace period and frees the slots of removed chunks whose references
 * are zero. Insert calls it when it needs room; the control thread may call it when idle so
 * slots released by cache_unref() come back sooner. Returns the number of slots freed. */
long cache_reclaim(struct cache *c);

/* ---- readers ------------------------------------------------------------------------------ */

/* [reader] Registers the calling thread with the cache's RCU flavour. NULL with errno ENOSPC
 * when max_readers are registered. */
struct cache_reader *cache_reader_register(struct cache *c);
void cache_reader_unregister(struct cache_reader *r);
void cache_reader_quiescent(struct cache_reader *r);
void cache_reader_offline(struct cache_reader *r);
void cache_reader_online(struct cache_reader *r);
void cache_read_begin(struct cache_reader *r);
void cache_read_end(struct cache_reader *r);

#define CACHE_NO_SLOT UINT32_MAX

struct cache_hit {
	const void *data; /* NULL on a miss */
	uint32_t len;
	uint32_t slot; /* for cache_ref()/cache_unref(); CACHE_NO_SLOT on a miss */
};

/* [reader] Looks up n keys with a prefetching pipeline; fills hits[0..n-1] and returns the
 * number of hits. Counts hits and misses per reader and swarm. */
unsigned cache_lookup_burst(struct cache_reader *r, const struct cache_key *keys, unsigned n,
			    struct cache_hit *hits);
/* [reader] One key: 0 and *hit, or -ENOENT. */
int cache_lookup(struct cache_reader *r, const struct cache_key *key, struct cache_hit *hit);
/* [writer] Lookup from the writer thread without a reader registration (no statistics). */
int cache_writer_lookup(struct cache *c, const struct cache_key *key, struct cache_hit *hit);

/* [any thread] Holds a hit's slot beyond the read-side section (take it before the result
 * expires). Every cache_ref() needs one cache_unref(). A slot number out of range is ignored
 * (CACHE_NO_SLOT from a miss, for instance). */
void cache_ref(struct cache *c, uint32_t slot);
void cache_unref(struct cache *c, uint32_t slot);
/* [reader, while the hit is valid or a reference is held] RFC 1071 16-bit ones' complement sum
 * of the hit's payload taken from an even offset (big-endian words, folded, not complemented),
 * computed once when the chunk was inserted: a UDP sender without checksum offload adds it
 * instead of reading the payload. 0 for a slot out of range. */
uint16_t cache_chunk_sum16(const struct cache *c, uint32_t slot);
/* [reader] Starts loading the slot's record (what cache_chunk_sum16 reads) into the CPU cache,
 * for a sender that will need it a little later (no effect on anything else). */
void cache_slot_prefetch(const struct cache *c, uint32_t slot);

/* ---- statistics --------------------------------------------------------------------------- */

struct cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t inserts;
	uint64_t evictions; /* removed by the policy to make room */
	uint64_t purged; /* removed by remove/purge */
	uint64_t chunks; /* currently cached */
	uint64_t bytes; /* payload bytes currently cached */
	uint64_t pinned_chunks;
	uint64_t pinned_bytes;
};

/* [any thread] Global figures. */
void cache_stats_get(struct cache *c, struct cache_stats *st);
/* [any thread] One swarm's figures; -ENOENT for an unknown handle. */
int cache_swarm_stats_get(struct cache *c, cache_swarm_t s, struct cache_stats *st);

#ifdef __cplusplus
}
#endif

#endif
