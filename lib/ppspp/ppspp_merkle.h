/* RFC 7574 §5: Merkle hash trees, peak hashes (§5.6), uncle hashes (§5.3, §5.4).
 * Part of ppspp.h; include that.
 *
 * One tree type serves both sides. A source builds it complete from the content; a receiver
 * starts from the trusted root hash (the swarm ID) and fills it as peak hashes, uncle hashes
 * and chunks verify. Memory is one flat array of 2*W node hashes (W = chunk count rounded up to
 * a power of two, indexed by bin number) plus a verified bitmap: linear in content size, and
 * every operation is O(log N).
 *
 * Threads: one writer, concurrent readers of verified nodes. A receiver's tree may be read by
 * other threads while one thread (the writer) keeps verifying into it, once its peaks are known
 * and that fact was published to the readers with release/acquire order (a ring, a lock, an
 * atomic flag): the peaks, chunk count, width and arrays are set once when the peaks are added
 * and never change afterwards. Readers may call peaks, uncles, chunk_verified, node_verified,
 * chunk_len, content_size, size_known, chunk_count and the parameter getters: the writer stores
 * a node's hash before it sets the node's verified bit (release), readers test the bit first
 * (acquire) and read only hashes of verified nodes, which never change again. Readers never
 * call verify_chunk, add_peaks*, mirror_chunk, export or free. Everything else needs one
 * thread at a time. */
#ifndef PPSPP_MERKLE_H
#define PPSPP_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ppspp_codec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ppspp_merkle;

/* A tree node: bin number (§4.2) and its hash. */
struct ppspp_hash_node {
	uint64_t bin;
	uint8_t hash[PPSPP_HASH_MAX_LEN];
};

/* Hashes data with the tree's hash function (OpenSSL EVP). out gets ppspp_hash_len(fn) bytes. */
int ppspp_hash(uint8_t hash_fn, const void *data, size_t len, uint8_t *out);
/* OpenSSL's name of a hash function ("SHA1", "SHA256", ...), NULL for an unknown one. */
const char *ppspp_hash_name(uint8_t hash_fn);
/* Parses an operator's name ("sha1", "SHA-256", "sha2-512", any case) to enum ppspp_hash_fn;
 * -EINVAL if unknown. */
int ppspp_hash_from_name(const char *name);

/* Largest content a tree describes, in chunks (2^40: a petabyte of 1 KiB chunks). Keeps every
 * bin below layer 41, so bin arithmetic on untrusted bins never overflows. */
#define PPSPP_MERKLE_MAX_CHUNKS (1ull << 40)

/* Source side. Builds the complete tree of `size` bytes of content read from fd with pread
 * (streamed: memory is the tree only) or from memory. chunk_size must be fixed (> 0). On
 * failure returns NULL and sets errno. An empty content (size 0) has zero chunks; its root
 * hash is all zeros. */
struct ppspp_merkle *ppspp_merkle_build_fd(int fd, uint64_t size, uint8_t hash_fn,
					   uint32_t chunk_size);
struct ppspp_merkle *ppspp_merkle_build_mem(const void *data, uint64_t size, uint8_t hash_fn,
					    uint32_t chunk_size);

/* Receiver side: trusts only the root hash (hash_len bytes of the hash function). The chunk
 * count is unknown (0) until peak hashes are added. */
struct ppspp_merkle *ppspp_merkle_create_verifier(uint8_t hash_fn, uint32_t chunk_size,
						  const uint8_t *root, size_t root_len);
void ppspp_merkle_free(struct ppspp_merkle *t);

uint8_t ppspp_merkle_hash_fn(const struct ppspp_merkle *t);
size_t ppspp_merkle_hash_len(const struct ppspp_merkle *t);
uint32_t ppspp_merkle_chunk_size(const struct ppspp_merkle *t);
void ppspp_merkle_root(const struct ppspp_merkle *t, uint8_t *out);
/* 0 until known; the content size is known exactly once the last chunk verified (or on the
 * source from the start). Before that, content_size is the upper bound chunk_count *
 * chunk_size (0 while the peaks are unknown). */
uint64_t ppspp_merkle_chunk_count(const struct ppspp_merkle *t);
bool ppspp_merkle_size_known(const struct ppspp_merkle *t);
uint64_t ppspp_merkle_content_size(const struct ppspp_merkle *t);
/* Length of chunk i (the last one may be short); 0 if unknown or out of range. */
uint32_t ppspp_merkle_chunk_len(const struct ppspp_merkle *t, uint64_t chunk);

/* The peak hashes, left to right; returns how many (at most 64), or -EAGAIN if not known,
 * -ENOSPC if max is too small. */
int ppspp_merkle_peaks(const struct ppspp_merkle *t, struct ppspp_hash_node *out, int max);
/* Receiver: checks a full set of peak hashes against the root (§5.6.1); on success they are
 * trusted and the chunk count is set. -EBADMSG if they do not reproduce the root. Adding the
 * same peaks again is a no-op returning 0. */
int ppspp_merkle_add_peaks(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks, int n);
/* Receiver, preferred for the first DATA (§5.6.2 sends the peaks with it): adopts the peaks only
 * if they reproduce the root AND `chunk` verifies under them with the given uncles, then
 * verifies the chunk as ppspp_merkle_verify_chunk does; nothing is kept on any failure. The
 * root hash does not fix the tree's height, so peaks alone can claim a wrong geometry (e.g. the
 * root as a single peak at any layer, a huge chunk count the tree would be sized for); no chunk
 * verifies in such a geometry. Once the peaks are known, this is add_peaks then verify_chunk.
 * Returns verify_chunk's codes; -EBADMSG also for peaks that do not reproduce the root. */
int ppspp_merkle_add_peaks_with_chunk(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks,
				      int n, uint64_t chunk, const void *data, size_t len,
				      const struct ppspp_hash_node *uncles, int n_uncles);

/* The uncle hashes that verify `chunk` against its peak, lowest (the chunk's sibling) first;
 * only hashes this tree knows are returned, stopping at the peak. Returns how many, -ERANGE
 * for a chunk past the end, -EAGAIN if the needed hashes are not known here, -ENOSPC if max is
 * too small (a peak's layer, at most 40, is enough). */
int ppspp_merkle_uncles(const struct ppspp_merkle *t, uint64_t chunk,
			struct ppspp_hash_node *out, int max);

/* How many uncles verify `chunk` against its peak (the peak's layer), without touching a hash:
 * a sender first decides how many of them the peer lacks. -ERANGE, -EAGAIN as above. */
int ppspp_merkle_uncle_layers(const struct ppspp_merkle *t, uint64_t chunk);
/* The n lowest of those uncles (n <= ppspp_merkle_uncle_layers), lowest first: what a peer that
 * already verified the path above them needs (RFC 7574 §5.3). Returns n, -ERANGE, -EAGAIN when
 * one of them is not known here, -EINVAL when n is negative or above the peak's layer. */
int ppspp_merkle_uncles_low(const struct ppspp_merkle *t, uint64_t chunk,
			    struct ppspp_hash_node *out, int n);
/* The same uncles without a copy: out[l] points at the hash of the uncle at layer l (the sibling
 * of chunk's ancestor there), valid as long as the tree. Same returns as uncles_low. */
int ppspp_merkle_uncle_hashes(const struct ppspp_merkle *t, uint64_t chunk, const uint8_t **out,
			      int n);

/* A sender's run of chunks in order: the uncle layers of `chunk` (as uncle_layers) and, in
 * *last, the last chunk under the same peak, which has as many. Same returns as uncle_layers. */
int ppspp_merkle_uncle_span(const struct ppspp_merkle *t, uint64_t chunk, uint64_t *last);
/* uncle_hashes for a chunk whose uncle layers the caller knows (uncle_span) to be at least n:
 * n, or -EAGAIN when one of them is not known here. */
int ppspp_merkle_uncle_hashes_under(const struct ppspp_merkle *t, uint64_t chunk,
				    const uint8_t **out, int n);
/* A sender about to send chunks first..last in order: starts fetching the lines holding their
 * uncles in the lowest `layers` layers (no checks, no effect on the tree), so the misses of a
 * whole run overlap instead of coming one copy at a time. */
void ppspp_merkle_prefetch_run(const struct ppspp_merkle *t, uint64_t first, uint64_t last,
			       unsigned layers);

/* Receiver: verifies a chunk's bytes using the given uncle hashes (any order; may be 0 when the
 * tree already holds verified siblings) and already verified nodes. On success the chunk, its
 * path and the uncles used become verified and 0 is returned. -EBADMSG when the chunk or the
 * uncles do not match (nothing is recorded), -ENODATA when a needed uncle hash is neither given
 * nor already verified (a lost INTEGRITY datagram, not a poisoned peer; nothing is recorded),
 * -ERANGE outside the content, -EAGAIN when the peaks are not known yet, -EINVAL for a wrong
 * length. A chunk that is already verified is compared with its verified hash (0 or -EBADMSG). */
int ppspp_merkle_verify_chunk(struct ppspp_merkle *t, uint64_t chunk, const void *data,
			      size_t len, const struct ppspp_hash_node *uncles, int n_uncles);
/* Whether the chunk's own bytes verified here (a leaf hash known only as a neighbour's uncle
 * does not count); on a source every chunk is. */
bool ppspp_merkle_chunk_verified(const struct ppspp_merkle *t, uint64_t chunk);
/* Whether the hash of `bin` (a node) is verified in this tree; nodes wholly past the content
 * are all zeros and count as verified. A receiver needs the hash of every node on a chunk's
 * uncle list that is not. A sender mirrors the peer's verified set with a tree of its own to
 * skip uncles the peer already has (§5.3). */
bool ppspp_merkle_node_verified(const struct ppspp_merkle *t, uint64_t bin);
/* Sender's mirror of a peer: records in `mirror` what the peer verified when it acknowledged
 * `chunk` (the chunk, its path and its uncles), copying the hashes from `src` (same root; the
 * chunk verified there) without hashing. Adds src's peaks to the mirror first if needed.
 * -EINVAL if the trees differ (hash function, chunk size or root), -ERANGE past the end,
 * -EAGAIN if src has not verified the chunk. */
int ppspp_merkle_mirror_chunk(struct ppspp_merkle *mirror, const struct ppspp_merkle *src,
			      uint64_t chunk);

/* Serialises the tree (parameters, node hashes, verified bitmaps) for a resume file or the
 * chunk cache's swarm metadata; import checks the root and every stored verified node path.
 * export with buf=NULL returns the size needed. */
ssize_t ppspp_merkle_export(const struct ppspp_merkle *t, void *buf, size_t cap);
struct ppspp_merkle *ppspp_merkle_import(const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
