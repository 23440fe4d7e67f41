/* RFC 7574 §5.1: the Merkle hash tree over fixed-size chunks; §5.2: chunk verification against
 * the root hash; §5.3/§5.4: uncle hashes; §5.6.1: peak hashes and their check against the root
 * (the Lemma); §5.6.2: the content size from the peaks and the verified last chunk.
 *
 * Geometry. W is the chunk count N rounded up to a power of two (the "sufficient height" of
 * §5.1 is the smallest one, as in the RFC's figures): the root is bin W-1 and the tree is the
 * flat array of bins 0 .. 2W-2, each hash at offset bin * hash_len. A node whose leaves all lie
 * past the content is empty: all zeros by §5.1, never stored or hashed, always "known".
 * N = 1 gives W = 1: the tree is the single leaf and the root hash is the chunk's hash (the
 * construction hashes pairs of children only, and a one-leaf tree has none). N = 0 gives no
 * tree at all and a root of all zeros: every leaf of any tree over it would be empty, so by
 * §5.1 every node, the root included, is the empty hash; it has no peaks.
 *
 * Trust. A node is marked verified only once it is known to hash up to the trusted root: the
 * peaks and the nodes the Lemma computes from them, then for each chunk the path and the uncles
 * that reproduced an already verified node. Verification works on scratch copies and commits
 * nothing until the climb succeeded, so poisoned data leaves no trace. The verified set is
 * therefore closed upwards, and with every verified node its sibling (or an empty sibling) is
 * verified: import re-checks exactly these two properties plus every stored parent hash.
 * A chunk counts as verified only when its own bytes were (a separate bitmap): a leaf hash that
 * arrived as its neighbour's uncle is trusted, but says nothing about holding the data. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ppspp.h"

/* Root of a tree of PPSPP_MERKLE_MAX_CHUNKS chunks. */
#define MERKLE_MAX_LAYER 40
/* Peaks above the minimal root are tried up to here, for peers that padded the tree higher. */
#define MERKLE_CLIMB_LAYER 62
/* pread block for building from a file: large enough that syscalls do not matter. */
#define MERKLE_READ_BLOCK (4u << 20)

#define EXPORT_MAGIC	  "PPMT"
#define EXPORT_VERSION	  1
#define EXPORT_HEADER	  24
#define EXPORT_FLAG_PEAKS 0x01
#define EXPORT_FLAG_SIZE  0x02

struct ppspp_merkle {
	EVP_MD *md;
	EVP_MD_CTX *ctx; /* reused for every hash: nothing is allocated per chunk here */
	uint8_t hash_fn;
	uint8_t hash_len;
	bool peaks_known;
	bool size_known;
	uint32_t chunk_size;
	uint32_t last_len; /* bytes of the last chunk once size_known */
	uint64_t n_chunks;
	uint64_t width;	    /* leaves of the tree, 0 when there is no tree */
	uint8_t *nodes;	    /* (2 * width - 1) hashes, indexed by bin */
	uint64_t *verified; /* one bit per bin */
	uint64_t *chunks;   /* one bit per chunk whose bytes verified */
	uint8_t root[PPSPP_HASH_MAX_LEN];
	/* verify_chunk's scratch: the climbed path and the uncles it used, per layer */
	uint8_t *scratch;
};

static const uint8_t zero_hash[PPSPP_HASH_MAX_LEN];

static bool is_zero(const struct ppspp_merkle *t, const uint8_t *h)
{
	return memcmp(h, zero_hash, t->hash_len) == 0;
}

/* ---- bins ---------------------------------------------------------------------------------- */

/* A bin from the network may be anything; below layer MERKLE_MAX_LAYER all the codec's bin
 * helpers are defined (no shift by 64, no ctz of zero). */
static bool bin_sane(uint64_t bin)
{
	return bin != UINT64_MAX && ppspp_bin_layer(bin) <= MERKLE_MAX_LAYER;
}

static uint64_t bin_ancestor(uint64_t chunk, unsigned layer)
{
	return ppspp_bin_make(layer, chunk >> layer);
}

static unsigned log2_u64(uint64_t v) /* v a power of two */
{
	return (unsigned)__builtin_ctzll(v);
}

static uint64_t round_pow2(uint64_t n)
{
	uint64_t w = 1;
	while (w < n)
		w <<= 1;
	return w;
}

static bool node_empty(const struct ppspp_merkle *t, uint64_t bin)
{
	return ppspp_bin_base_left(bin) >= t->n_chunks;
}

static bool node_in_tree(const struct ppspp_merkle *t, uint64_t bin)
{
	return t->width > 0 && bin <= 2 * t->width - 2;
}

/* Hashes are stored layer by layer, leaves first, not in bin order. In bin order a chunk's leaf
 * and its sibling's lie a line apart, so a sender going through chunks in order reads a new line
 * of hashes for every uncle it sends (about two per chunk, each a miss once the tree outgrows
 * the core's cache). Layer by layer, two sibling leaves share a line (32-byte hashes, the array
 * line-aligned) and the layers above are ever denser: about one line per chunk. Layer l =
 * ctz(bin + 1) holds width >> l nodes, after the 2 * width - 2 * (width >> l) of the layers
 * below; bin's place in it is bin >> (l + 1). */
static uint8_t *layer_hash(const struct ppspp_merkle *t, unsigned l, uint64_t i)
{
	return t->nodes + (2 * t->width - 2 * (t->width >> l) + i) * t->hash_len;
}

static uint8_t *node_hash(const struct ppspp_merkle *t, uint64_t bin)
{
	unsigned l = (unsigned)__builtin_ctzll(bin + 1);

	return layer_hash(t, l, bin >> (l + 1));
}

/* One writer, concurrent readers (ppspp_merkle.h): a node's hash is stored before its verified
 * bit is set with release order, and readers test bits with acquire order, so a reader that sees
 * the bit sees the hash. Only the writer sets bits, so a relaxed read-modify-write suffices for
 * the bit word itself; release orders the hash stores before it. */
static bool bit_get(const struct ppspp_merkle *t, uint64_t bin)
{
	return (__atomic_load_n(&t->verified[bin / 64], __ATOMIC_ACQUIRE) >> (bin % 64)) & 1;
}

static void bit_set(struct ppspp_merkle *t, uint64_t bin)
{
	__atomic_fetch_or(&t->verified[bin / 64], 1ull << (bin % 64), __ATOMIC_RELEASE);
}

static bool chunk_get(const struct ppspp_merkle *t, uint64_t chunk)
{
	return (__atomic_load_n(&t->chunks[chunk / 64], __ATOMIC_ACQUIRE) >> (chunk % 64)) & 1;
}

static void chunk_set(struct ppspp_merkle *t, uint64_t chunk)
{
	__atomic_fetch_or(&t->chunks[chunk / 64], 1ull << (chunk % 64), __ATOMIC_RELEASE);
}

/* Known hash of an in-tree or empty bin: empty nodes are zeros by definition. */
static bool node_known(const struct ppspp_merkle *t, uint64_t bin)
{
	return node_empty(t, bin) || (node_in_tree(t, bin) && bit_get(t, bin));
}

static const uint8_t *known_hash(const struct ppspp_merkle *t, uint64_t bin)
{
	return node_empty(t, bin) ? zero_hash : node_hash(t, bin);
}

/* The peak covering `chunk` (§5.6.1: the binary digits of N, largest first). */
static uint64_t peak_of(uint64_t n, uint64_t chunk)
{
	if (chunk >= n)
		return UINT64_MAX;
	/* The peaks tile [0, n) in the order of n's set bits; chunk lies under the peak of the
	 * highest bit where it differs from n (there n has 1, chunk 0, the bits above agree), and
	 * that peak starts at n's bits above it. No loop: this runs for every DATA sent. */
	unsigned l = 63 - (unsigned)__builtin_clzll(n ^ chunk);
	uint64_t off = l == 63 ? 0 : n & ~((2ull << l) - 1);
	return ppspp_bin_make(l, off >> l);
}

static int peak_bins(uint64_t n, uint64_t *out)
{
	int k = 0;
	uint64_t off = 0;
	for (int l = 63; l >= 0; l--) {
		uint64_t w = 1ull << l;
		if (n & w) {
			out[k++] = ppspp_bin_make((unsigned)l, off >> l);
			off += w;
		}
	}
	return k;
}

/* ---- hashing ------------------------------------------------------------------------------- */

static int hash_data(struct ppspp_merkle *t, const void *data, size_t len, uint8_t *out)
{
	if (EVP_DigestInit_ex2(t->ctx, t->md, NULL) != 1 ||
	    EVP_DigestUpdate(t->ctx, data, len) != 1 || EVP_DigestFinal_ex(t->ctx, out, NULL) != 1)
		return -EIO;
	return 0;
}

static int hash_pair(struct ppspp_merkle *t, const uint8_t *left, const uint8_t *right,
		     uint8_t *out)
{
	if (EVP_DigestInit_ex2(t->ctx, t->md, NULL) != 1 ||
	    EVP_DigestUpdate(t->ctx, left, t->hash_len) != 1 ||
	    EVP_DigestUpdate(t->ctx, right, t->hash_len) != 1 ||
	    EVP_DigestFinal_ex(t->ctx, out, NULL) != 1)
		return -EIO;
	return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static struct ppspp_merkle *tree_new(uint8_t hash_fn, uint32_t chunk_size)
{
	const char *name = ppspp_hash_name(hash_fn);
	if (name == NULL || chunk_size == 0 || chunk_size == PPSPP_CHUNK_SIZE_VARIABLE) {
		errno = EINVAL;
		return NULL;
	}
	struct ppspp_merkle *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->hash_fn = hash_fn;
	t->chunk_size = chunk_size;
	t->md = EVP_MD_fetch(NULL, name, NULL);
	t->ctx = EVP_MD_CTX_new();
	if (t->md == NULL || t->ctx == NULL) {
		ppspp_merkle_free(t);
		errno = ENOTSUP;
		return NULL;
	}
	int len = EVP_MD_get_size(t->md);
	if (len <= 0 || len > PPSPP_HASH_MAX_LEN) {
		ppspp_merkle_free(t);
		errno = ENOTSUP;
		return NULL;
	}
	t->hash_len = (uint8_t)len;
	t->scratch = malloc(2 * (MERKLE_MAX_LAYER + 1) * (size_t)t->hash_len);
	if (t->scratch == NULL) {
		ppspp_merkle_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

/* Sizes the tree for n chunks: zeroed hashes (so empty nodes need no writes) and bitmap. */
static int tree_alloc(struct ppspp_merkle *t, uint64_t n)
{
	if (n > PPSPP_MERKLE_MAX_CHUNKS)
		return -EFBIG;
	t->n_chunks = n;
	t->width = n == 0 ? 0 : round_pow2(n);
	if (n == 0)
		return 0;
	uint64_t nodes = 2 * t->width - 1;
	if (nodes > SIZE_MAX / t->hash_len)
		return -ENOMEM;
	size_t bytes = ((size_t)nodes * t->hash_len + 63) & ~(size_t)63;
	t->nodes = aligned_alloc(64, bytes); /* siblings share a line only from a line boundary */
	if (t->nodes)
		memset(t->nodes, 0, bytes);
	t->verified = calloc((size_t)((nodes + 63) / 64), sizeof(uint64_t));
	t->chunks = calloc((size_t)((n + 63) / 64), sizeof(uint64_t));
	if (t->nodes == NULL || t->verified == NULL || t->chunks == NULL)
		return -ENOMEM;
	return 0;
}

void ppspp_merkle_free(struct ppspp_merkle *t)
{
	if (t == NULL)
		return;
	EVP_MD_CTX_free(t->ctx);
	EVP_MD_free(t->md);
	free(t->nodes);
	free(t->verified);
	free(t->chunks);
	free(t->scratch);
	free(t);
}

/* ---- source side --------------------------------------------------------------------------- */

/* Hashes the layers above the leaves and marks every non-empty node verified. */
static int build_upper(struct ppspp_merkle *t)
{
	unsigned top = log2_u64(t->width);
	for (unsigned l = 1; l <= top; l++) {
		uint64_t count = t->width >> l;
		for (uint64_t off = 0; off < count; off++) {
			uint64_t bin = ppspp_bin_make(l, off);
			if (node_empty(t, bin))
				break; /* all further nodes of this layer are empty too */
			int rc = hash_pair(t, known_hash(t, ppspp_bin_left(bin)),
					   known_hash(t, ppspp_bin_right(bin)), node_hash(t, bin));
			if (rc < 0)
				return rc;
		}
	}
	for (uint64_t bin = 0; bin <= 2 * t->width - 2; bin++)
		if (!node_empty(t, bin))
			bit_set(t, bin);
	for (uint64_t c = 0; c < t->n_chunks; c++)
		chunk_set(t, c);
	memcpy(t->root, node_hash(t, t->width - 1), t->hash_len);
	return 0;
}

static struct ppspp_merkle *build_start(uint64_t size, uint8_t hash_fn, uint32_t chunk_size)
{
	struct ppspp_merkle *t = tree_new(hash_fn, chunk_size);
	if (t == NULL)
		return NULL;
	uint64_t n = size / chunk_size + (size % chunk_size != 0);
	int rc = tree_alloc(t, n);
	if (rc < 0) {
		ppspp_merkle_free(t);
		errno = -rc;
		return NULL;
	}
	t->peaks_known = true;
	t->size_known = true;
	t->last_len = n == 0 ? 0 : (uint32_t)(size - (n - 1) * chunk_size);
	return t;
}

static struct ppspp_merkle *build_finish(struct ppspp_merkle *t)
{
	if (t->n_chunks == 0)
		return t; /* root stays all zeros */
	int rc = build_upper(t);
	if (rc < 0) {
		ppspp_merkle_free(t);
		errno = -rc;
		return NULL;
	}
	return t;
}

struct ppspp_merkle *ppspp_merkle_build_mem(const void *data, uint64_t size, uint8_t hash_fn,
					    uint32_t chunk_size)
{
	if (data == NULL && size > 0) {
		errno = EINVAL;
		return NULL;
	}
	struct ppspp_merkle *t = build_start(size, hash_fn, chunk_size);
	if (t == NULL)
		return NULL;
	const uint8_t *p = data;
	for (uint64_t i = 0; i < t->n_chunks; i++) {
		uint32_t len = i + 1 == t->n_chunks ? t->last_len : chunk_size;
		int rc = hash_data(t, p + i * chunk_size, len, node_hash(t, 2 * i));
		if (rc < 0) {
			ppspp_merkle_free(t);
			errno = -rc;
			return NULL;
		}
	}
	return build_finish(t);
}

/* Reads exactly len bytes at off, through short reads and signals; -EIO if the file is
 * shorter than promised. */
static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

struct ppspp_merkle *ppspp_merkle_build_fd(int fd, uint64_t size, uint8_t hash_fn,
					   uint32_t chunk_size)
{
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	struct ppspp_merkle *t = build_start(size, hash_fn, chunk_size);
	if (t == NULL)
		return NULL;
	/* Whole chunks per block, at least one chunk. */
	uint64_t per_block = chunk_size >= MERKLE_READ_BLOCK ? 1 : MERKLE_READ_BLOCK / chunk_size;
	size_t block = (size_t)(per_block * chunk_size);
	uint8_t *buf = t->n_chunks > 0 ? malloc(block) : NULL;
	if (t->n_chunks > 0 && buf == NULL) {
		ppspp_merkle_free(t);
		errno = ENOMEM;
		return NULL;
	}
	int rc = 0;
	for (uint64_t first = 0; first < t->n_chunks && rc == 0; first += per_block) {
		uint64_t off = first * chunk_size;
		size_t len = (size_t)(size - off < block ? size - off : block);
		rc = read_full(fd, buf, len, off);
		for (uint64_t i = 0; rc == 0 && i < per_block && first + i < t->n_chunks; i++) {
			size_t at = (size_t)(i * chunk_size);
			size_t clen = len - at < chunk_size ? len - at : chunk_size;
			rc = hash_data(t, buf + at, clen, node_hash(t, 2 * (first + i)));
		}
	}
	free(buf);
	if (rc < 0) {
		ppspp_merkle_free(t);
		errno = -rc;
		return NULL;
	}
	return build_finish(t);
}

/* ---- receiver side ------------------------------------------------------------------------- */

struct ppspp_merkle *ppspp_merkle_create_verifier(uint8_t hash_fn, uint32_t chunk_size,
						  const uint8_t *root, size_t root_len)
{
	struct ppspp_merkle *t = tree_new(hash_fn, chunk_size);
	if (t == NULL)
		return NULL;
	if (root == NULL || root_len != t->hash_len) {
		ppspp_merkle_free(t);
		errno = EINVAL;
		return NULL;
	}
	memcpy(t->root, root, root_len);
	return t;
}

/* §5.6.1 Lemma, step (e) read liberally: the hash of the minimal root (bin W-1) must be the
 * trusted root, or reach it by hashing with empty right siblings, as peers that padded the tree
 * to a greater height compute it. The padded tree commits to the same leaves at the same
 * positions, so accepting it trusts nothing more. */
static int root_matches(struct ppspp_merkle *t, const uint8_t *min_root, unsigned min_layer)
{
	uint8_t h[PPSPP_HASH_MAX_LEN];
	memcpy(h, min_root, t->hash_len);
	for (unsigned l = min_layer;; l++) {
		if (memcmp(h, t->root, t->hash_len) == 0)
			return 0;
		if (l >= MERKLE_CLIMB_LAYER)
			return -EBADMSG;
		int rc = hash_pair(t, h, zero_hash, h);
		if (rc < 0)
			return rc;
	}
}

/* Steps (a)-(d) of the Lemma: folds sorted, well-formed peaks into the hash of bin W-1, writing
 * the incomplete nodes it passes (right siblings made of peaks and zeros) into `path` indexed
 * by layer. */
static int fold_peaks(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks, int n,
		      uint64_t width, uint8_t *path)
{
	uint64_t root = width - 1;
	int i = n - 1;
	uint64_t cur = peaks[i].bin;
	const uint8_t *h = peaks[i].hash;
	i--;
	while (cur != root) {
		unsigned l = ppspp_bin_layer(cur) + 1;
		uint8_t *out = path + (size_t)l * t->hash_len;
		int rc;
		if (ppspp_bin_is_left(cur)) {
			rc = hash_pair(t, h, zero_hash, out);
		} else {
			if (i < 0 || peaks[i].bin != ppspp_bin_sibling(cur))
				return -EBADMSG;
			rc = hash_pair(t, peaks[i].hash, h, out);
			i--;
		}
		if (rc < 0)
			return rc;
		cur = ppspp_bin_parent(cur);
		h = out;
	}
	if (i >= 0)
		return -EBADMSG;
	if (h != path + (size_t)log2_u64(width) * t->hash_len)
		memcpy(path + (size_t)log2_u64(width) * t->hash_len, h, t->hash_len);
	return 0;
}

static int peaks_same(const struct ppspp_merkle *t, const struct ppspp_hash_node *peaks, int n)
{
	for (int i = 0; i < n; i++) {
		if (!bin_sane(peaks[i].bin) || !node_in_tree(t, peaks[i].bin) ||
		    !bit_get(t, peaks[i].bin) ||
		    memcmp(node_hash(t, peaks[i].bin), peaks[i].hash, t->hash_len) != 0)
			return -EBADMSG;
	}
	return 0;
}

/* Checks peaks against the root without changing the tree: sorted gets them by position,
 * *count the chunk count they claim, t->scratch layers 0..top the nodes the fold computed. */
static int peaks_check(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks, int n,
		       struct ppspp_hash_node *sorted, uint64_t *count_out)
{
	/* Peers send the peaks in INTEGRITY order (largest first, §5.4), but any order carries the
	 * same information: sort a copy by position. */
	for (int i = 0; i < n; i++) {
		/* A peak is a filled node (§5.6.1): its hash is never the empty one. */
		if (!bin_sane(peaks[i].bin) || is_zero(t, peaks[i].hash))
			return -EBADMSG;
		int j = i;
		while (j > 0 &&
		       ppspp_bin_base_left(sorted[j - 1].bin) > ppspp_bin_base_left(peaks[i].bin)) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = peaks[i];
	}
	/* They must tile [0, N) with strictly shrinking widths: exactly the binary digits of N. */
	uint64_t count = 0;
	for (int i = 0; i < n; i++) {
		if (ppspp_bin_base_left(sorted[i].bin) != count)
			return -EBADMSG;
		if (i > 0 && ppspp_bin_layer(sorted[i].bin) >= ppspp_bin_layer(sorted[i - 1].bin))
			return -EBADMSG;
		count += ppspp_bin_base_width(sorted[i].bin);
		if (count > PPSPP_MERKLE_MAX_CHUNKS)
			return -EBADMSG;
	}
	*count_out = count;
	if (n == 0) /* empty content: nothing to fold, the root must be the empty hash */
		return is_zero(t, t->root) ? 0 : -EBADMSG;
	uint64_t width = round_pow2(count);
	unsigned top = log2_u64(width);
	int rc = fold_peaks(t, sorted, n, width, t->scratch);
	if (rc < 0)
		return rc;
	return root_matches(t, t->scratch + (size_t)top * t->hash_len, top);
}

/* Adopts checked peaks: sizes the tree and records them and the fold's nodes as verified. */
static int peaks_commit(struct ppspp_merkle *t, const struct ppspp_hash_node *sorted, int n,
			uint64_t count)
{
	if (n == 0) {
		t->peaks_known = true;
		t->size_known = true;
		t->n_chunks = 0;
		return 0;
	}
	uint64_t width = round_pow2(count);
	const uint8_t *path = t->scratch;
	int rc = tree_alloc(t, count);
	if (rc < 0) {
		free(t->nodes);
		free(t->verified);
		free(t->chunks);
		t->nodes = NULL;
		t->verified = NULL;
		t->chunks = NULL;
		t->n_chunks = 0;
		t->width = 0;
		return rc;
	}
	for (int i = 0; i < n; i++) {
		memcpy(node_hash(t, sorted[i].bin), sorted[i].hash, t->hash_len);
		bit_set(t, sorted[i].bin);
	}
	/* The incomplete nodes the fold passed through sit on the path from the last peak. */
	uint64_t cur = sorted[n - 1].bin;
	while (cur != width - 1) {
		cur = ppspp_bin_parent(cur);
		memcpy(node_hash(t, cur), path + (size_t)ppspp_bin_layer(cur) * t->hash_len,
		       t->hash_len);
		bit_set(t, cur);
	}
	t->peaks_known = true;
	return 0;
}

int ppspp_merkle_add_peaks(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks, int n)
{
	if (t == NULL || n < 0 || n > 64 || (n > 0 && peaks == NULL))
		return -EINVAL;
	if (t->peaks_known)
		return n == 0 ? (t->n_chunks == 0 ? 0 : -EBADMSG) : peaks_same(t, peaks, n);
	struct ppspp_hash_node sorted[64];
	uint64_t count;
	int rc = peaks_check(t, peaks, n, sorted, &count);
	if (rc < 0)
		return rc;
	return peaks_commit(t, sorted, n, count);
}

/* Whether `chunk` climbs to its peak in the claimed geometry with the given uncles alone (the
 * tree holds nothing yet): a geometry no chunk verifies in is a forgery, however well its peaks
 * fold to the root. */
static int chunk_proves_peaks(struct ppspp_merkle *t, const struct ppspp_hash_node *sorted, int n,
			      uint64_t count, uint64_t chunk, const void *data, size_t len,
			      const struct ppspp_hash_node *uncles, int n_uncles)
{
	if (chunk >= count)
		return -ERANGE;
	if (chunk + 1 == count ? (len == 0 || len > t->chunk_size) : len != t->chunk_size)
		return -EINVAL;
	uint64_t peak = peak_of(count, chunk);
	const uint8_t *want = NULL;
	for (int i = 0; i < n; i++)
		if (sorted[i].bin == peak)
			want = sorted[i].hash;
	if (want == NULL)
		return -EBADMSG;
	uint8_t h[2][PPSPP_HASH_MAX_LEN];
	int rc = hash_data(t, data, len, h[0]);
	if (rc < 0)
		return rc;
	unsigned top = ppspp_bin_layer(peak);
	for (unsigned l = 0; l < top; l++) {
		uint64_t cur = bin_ancestor(chunk, l), sib = ppspp_bin_sibling(cur);
		const uint8_t *sh = NULL;
		for (int i = 0; i < n_uncles && sh == NULL; i++)
			if (uncles[i].bin == sib && !is_zero(t, uncles[i].hash))
				sh = uncles[i].hash;
		if (sh == NULL)
			return -ENODATA;
		const uint8_t *mine = h[l & 1];
		bool left = ppspp_bin_is_left(cur);
		rc = hash_pair(t, left ? mine : sh, left ? sh : mine, h[(l + 1) & 1]);
		if (rc < 0)
			return rc;
	}
	return memcmp(h[top & 1], want, t->hash_len) == 0 ? 0 : -EBADMSG;
}

int ppspp_merkle_add_peaks_with_chunk(struct ppspp_merkle *t, const struct ppspp_hash_node *peaks,
				      int n, uint64_t chunk, const void *data, size_t len,
				      const struct ppspp_hash_node *uncles, int n_uncles)
{
	if (t == NULL || n < 0 || n > 64 || (n > 0 && peaks == NULL) || (data == NULL && len > 0) ||
	    n_uncles < 0 || (n_uncles > 0 && uncles == NULL))
		return -EINVAL;
	if (!t->peaks_known) {
		struct ppspp_hash_node sorted[64];
		uint64_t count;
		int rc = peaks_check(t, peaks, n, sorted, &count);
		if (rc < 0)
			return rc;
		/* The fold's nodes in scratch survive the proof: it hashes on the stack. */
		rc = chunk_proves_peaks(t, sorted, n, count, chunk, data, len, uncles, n_uncles);
		if (rc < 0)
			return rc;
		rc = peaks_commit(t, sorted, n, count);
		if (rc < 0)
			return rc;
	} else {
		int rc = ppspp_merkle_add_peaks(t, peaks, n);
		if (rc < 0)
			return rc;
	}
	return ppspp_merkle_verify_chunk(t, chunk, data, len, uncles, n_uncles);
}

int ppspp_merkle_verify_chunk(struct ppspp_merkle *t, uint64_t chunk, const void *data, size_t len,
			      const struct ppspp_hash_node *uncles, int n_uncles)
{
	if (t == NULL || (data == NULL && len > 0) || n_uncles < 0 ||
	    (n_uncles > 0 && uncles == NULL))
		return -EINVAL;
	if (!t->peaks_known)
		return -EAGAIN;
	if (chunk >= t->n_chunks)
		return -ERANGE;
	bool last = chunk + 1 == t->n_chunks;
	if (last ? (len == 0 || len > t->chunk_size || (t->size_known && len != t->last_len))
		 : len != t->chunk_size)
		return -EINVAL;

	size_t hl = t->hash_len;
	uint8_t *path = t->scratch;				  /* layer l: computed node */
	uint8_t *used = t->scratch + (MERKLE_MAX_LAYER + 1) * hl; /* layer l: uncle used */
	int rc = hash_data(t, data, len, path);
	if (rc < 0)
		return rc;

	/* Index the given uncles by the layer they would serve on this chunk's path, in one pass:
	 * anything else (peaks, hashes for other chunks, garbage bins) is ignored. */
	int slot[MERKLE_MAX_LAYER + 1];
	for (int l = 0; l <= MERKLE_MAX_LAYER; l++)
		slot[l] = -1;
	for (int i = 0; i < n_uncles; i++) {
		if (!bin_sane(uncles[i].bin))
			continue;
		unsigned l = ppspp_bin_layer(uncles[i].bin);
		if (uncles[i].bin == ppspp_bin_sibling(bin_ancestor(chunk, l)) && slot[l] < 0)
			slot[l] = i;
	}

	uint64_t cur = ppspp_bin_from_chunk(chunk);
	unsigned l = 0;
	uint64_t took = 0; /* bit l: the uncle at layer l came from `uncles` */
	while (!bit_get(t, cur)) {
		/* Every path meets a verified peak at or below the root, so cur stays in the tree.
		 */
		if (l >= MERKLE_MAX_LAYER)
			return -EBADMSG;
		uint64_t sib = ppspp_bin_sibling(cur);
		const uint8_t *sh;
		if (node_known(t, sib)) {
			sh = known_hash(t, sib);
		} else if (slot[l] >= 0) {
			/* sib holds content: the empty hash there can only be a forgery, one that
			 * would pass for content of empty leaves past the real end. */
			if (is_zero(t, uncles[slot[l]].hash))
				return -EBADMSG;
			memcpy(used + l * hl, uncles[slot[l]].hash, hl);
			sh = used + l * hl;
			took |= 1ull << l;
		} else {
			return -ENODATA;
		}
		const uint8_t *mine = path + l * hl;
		bool left = ppspp_bin_is_left(cur);
		rc = hash_pair(t, left ? mine : sh, left ? sh : mine, path + (l + 1) * hl);
		if (rc < 0)
			return rc;
		cur = ppspp_bin_parent(cur);
		l++;
	}
	if (memcmp(node_hash(t, cur), path + l * hl, hl) != 0)
		return -EBADMSG;

	/* Verified: commit the path below cur and the uncles that proved it. */
	cur = ppspp_bin_from_chunk(chunk);
	for (unsigned k = 0; k < l; k++) {
		memcpy(node_hash(t, cur), path + k * hl, hl);
		bit_set(t, cur);
		if (took & (1ull << k)) {
			uint64_t sib = ppspp_bin_sibling(cur);
			memcpy(node_hash(t, sib), used + k * hl, hl);
			bit_set(t, sib);
		}
		cur = ppspp_bin_parent(cur);
	}
	if (last && !t->size_known) {
		t->last_len = (uint32_t)len;
		__atomic_store_n(&t->size_known, true, __ATOMIC_RELEASE); /* after last_len */
	}
	/* Last, with release order: a concurrent reader that sees the chunk verified must also
	 * find every node of its path and every uncle (the guarantee in ppspp_merkle.h). */
	chunk_set(t, chunk);
	return 0;
}

int ppspp_merkle_mirror_chunk(struct ppspp_merkle *mirror, const struct ppspp_merkle *src,
			      uint64_t chunk)
{
	if (mirror == NULL || src == NULL || mirror->hash_fn != src->hash_fn ||
	    mirror->chunk_size != src->chunk_size ||
	    memcmp(mirror->root, src->root, src->hash_len) != 0)
		return -EINVAL;
	if (!src->peaks_known)
		return -EAGAIN;
	if (chunk >= src->n_chunks)
		return -ERANGE;
	if (!chunk_get(src, chunk))
		return -EAGAIN;
	if (!mirror->peaks_known) {
		struct ppspp_hash_node peaks[64];
		int np = ppspp_merkle_peaks(src, peaks, 64);
		if (np < 0)
			return np;
		int rc = ppspp_merkle_add_peaks(mirror, peaks, np);
		if (rc < 0)
			return rc;
	}
	if (mirror->n_chunks != src->n_chunks)
		return -EINVAL;
	/* The same climb a receiver makes, with src's verified hashes standing in for the data and
	 * the uncles: check first that src has them all, then copy. */
	uint64_t cur = ppspp_bin_from_chunk(chunk);
	while (!bit_get(mirror, cur)) {
		uint64_t sib = ppspp_bin_sibling(cur);
		if (!bit_get(src, cur) || !node_known(src, sib))
			return -EAGAIN;
		cur = ppspp_bin_parent(cur);
	}
	cur = ppspp_bin_from_chunk(chunk);
	while (!bit_get(mirror, cur)) {
		uint64_t sib = ppspp_bin_sibling(cur);
		memcpy(node_hash(mirror, cur), node_hash(src, cur), src->hash_len);
		bit_set(mirror, cur);
		if (!node_known(mirror, sib)) {
			memcpy(node_hash(mirror, sib), node_hash(src, sib), src->hash_len);
			bit_set(mirror, sib);
		}
		cur = ppspp_bin_parent(cur);
	}
	chunk_set(mirror, chunk);
	if (chunk + 1 == mirror->n_chunks && src->size_known && !mirror->size_known) {
		mirror->size_known = true;
		mirror->last_len = src->last_len;
	}
	return 0;
}

/* ---- queries ------------------------------------------------------------------------------- */

uint8_t ppspp_merkle_hash_fn(const struct ppspp_merkle *t)
{
	return t->hash_fn;
}

size_t ppspp_merkle_hash_len(const struct ppspp_merkle *t)
{
	return t->hash_len;
}

uint32_t ppspp_merkle_chunk_size(const struct ppspp_merkle *t)
{
	return t->chunk_size;
}

void ppspp_merkle_root(const struct ppspp_merkle *t, uint8_t *out)
{
	memcpy(out, t->root, t->hash_len);
}

uint64_t ppspp_merkle_chunk_count(const struct ppspp_merkle *t)
{
	return t->n_chunks;
}

bool ppspp_merkle_size_known(const struct ppspp_merkle *t)
{
	return __atomic_load_n(&t->size_known, __ATOMIC_ACQUIRE);
}

uint64_t ppspp_merkle_content_size(const struct ppspp_merkle *t)
{
	if (t->n_chunks == 0)
		return 0;
	if (!ppspp_merkle_size_known(t))
		return t->n_chunks * t->chunk_size;
	return (t->n_chunks - 1) * t->chunk_size + t->last_len;
}

uint32_t ppspp_merkle_chunk_len(const struct ppspp_merkle *t, uint64_t chunk)
{
	if (chunk >= t->n_chunks)
		return 0;
	if (chunk + 1 < t->n_chunks)
		return t->chunk_size;
	return ppspp_merkle_size_known(t) ? t->last_len : 0;
}

int ppspp_merkle_peaks(const struct ppspp_merkle *t, struct ppspp_hash_node *out, int max)
{
	if (!t->peaks_known)
		return -EAGAIN;
	uint64_t bins[64];
	int n = peak_bins(t->n_chunks, bins);
	if (n > max)
		return -ENOSPC;
	for (int i = 0; i < n; i++) {
		out[i].bin = bins[i];
		memcpy(out[i].hash, node_hash(t, bins[i]), t->hash_len);
	}
	return n;
}

int ppspp_merkle_uncles(const struct ppspp_merkle *t, uint64_t chunk, struct ppspp_hash_node *out,
			int max)
{
	if (!t->peaks_known)
		return -EAGAIN;
	if (chunk >= t->n_chunks)
		return -ERANGE;
	uint64_t peak = peak_of(t->n_chunks, chunk);
	unsigned top = ppspp_bin_layer(peak);
	if ((int)top > max)
		return -ENOSPC;
	for (unsigned l = 0; l < top; l++) {
		uint64_t sib = ppspp_bin_sibling(bin_ancestor(chunk, l));
		if (!node_known(t, sib))
			return -EAGAIN;
		out[l].bin = sib;
		memcpy(out[l].hash, known_hash(t, sib), t->hash_len);
	}
	return (int)top;
}

int ppspp_merkle_uncle_layers(const struct ppspp_merkle *t, uint64_t chunk)
{
	if (!t->peaks_known)
		return -EAGAIN;
	if (chunk >= t->n_chunks)
		return -ERANGE;
	return (int)ppspp_bin_layer(peak_of(t->n_chunks, chunk));
}

int ppspp_merkle_uncles_low(const struct ppspp_merkle *t, uint64_t chunk,
			    struct ppspp_hash_node *out, int n)
{
	const uint8_t *hp[MERKLE_MAX_LAYER + 1];
	int rc = ppspp_merkle_uncle_hashes(t, chunk, hp, n);

	for (int l = 0; l < rc; l++) {
		out[l].bin = ppspp_bin_sibling(bin_ancestor(chunk, (unsigned)l));
		memcpy(out[l].hash, hp[l], t->hash_len);
	}
	return rc;
}

int ppspp_merkle_uncle_hashes(const struct ppspp_merkle *t, uint64_t chunk, const uint8_t **out,
			      int n)
{
	int top = ppspp_merkle_uncle_layers(t, chunk);

	if (top < 0)
		return top;
	if (n < 0 || n > top)
		return -EINVAL;
	return ppspp_merkle_uncle_hashes_under(t, chunk, out, n);
}

int ppspp_merkle_uncle_span(const struct ppspp_merkle *t, uint64_t chunk, uint64_t *last)
{
	if (!t->peaks_known)
		return -EAGAIN;
	if (chunk >= t->n_chunks)
		return -ERANGE;
	unsigned l = ppspp_bin_layer(peak_of(t->n_chunks, chunk));
	*last = (((chunk >> l) + 1) << l) - 1;
	return (int)l;
}

int ppspp_merkle_uncle_hashes_under(const struct ppspp_merkle *t, uint64_t chunk,
				    const uint8_t **out, int n)
{
	for (unsigned l = 0; l < (unsigned)n; l++) {
		uint64_t sib = ppspp_bin_sibling(bin_ancestor(chunk, l));
		if (!node_known(t, sib))
			return -EAGAIN;
		out[l] = known_hash(t, sib);
	}
	return n;
}

void ppspp_merkle_prefetch_run(const struct ppspp_merkle *t, uint64_t first, uint64_t last,
			       unsigned layers)
{
	if (!t->nodes || first > last || last >= t->width)
		return;
	for (unsigned l = 0; l < layers && (t->width >> l) > 1; l++) {
		/* layer l's uncles of first..last: the siblings of their ancestors there */
		const uint8_t *p = layer_hash(t, l, (first >> l) & ~1ull);
		const uint8_t *e = layer_hash(t, l, (last >> l) | 1);

		for (p = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)63); p <= e; p += 64)
			__builtin_prefetch(p);
	}
}

bool ppspp_merkle_chunk_verified(const struct ppspp_merkle *t, uint64_t chunk)
{
	return t->peaks_known && chunk < t->n_chunks && chunk_get(t, chunk);
}

bool ppspp_merkle_node_verified(const struct ppspp_merkle *t, uint64_t bin)
{
	if (!t->peaks_known || !bin_sane(bin))
		return false;
	return node_known(t, bin);
}

/* ---- export / import ----------------------------------------------------------------------- *
 * Little-endian, versioned:
 *   "PPMT" | version u8 | hash_fn u8 | flags u8 (1 peaks known, 2 size known) | hash_len u8 |
 *   chunk_size u32 | last_len u32 | n_chunks u64 | root [hash_len] |
 *   (peaks known, N > 0:) verified bitmap over bins 0..2W-2, ceil((2W-1)/8) bytes, bit b of
 *   byte b/8 for bin b | verified-chunk bitmap over chunks 0..N-1, ceil(N/8) bytes, same bit
 *   order | the hashes of the set bins in bin order |
 *   digest of everything before, with the tree's hash function [hash_len].
 * Empty nodes are never stored. The trailing digest catches accidental damage of the fields
 * the root cannot vouch for (chunk size, last length); the hashes are checked against the
 * root itself. */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t stored_nodes(const struct ppspp_merkle *t)
{
	uint64_t count = 0;
	uint64_t words = t->width == 0 ? 0 : (2 * t->width - 1 + 63) / 64;
	for (uint64_t w = 0; w < words; w++)
		count += (uint64_t)__builtin_popcountll(t->verified[w]);
	return count;
}

ssize_t ppspp_merkle_export(const struct ppspp_merkle *t, void *buf, size_t cap)
{
	size_t hl = t->hash_len;
	bool tree = t->peaks_known && t->n_chunks > 0;
	uint64_t nodes = tree ? 2 * t->width - 1 : 0;
	uint64_t map_len = (nodes + 7) / 8;
	uint64_t cmap_len = tree ? (t->n_chunks + 7) / 8 : 0;
	uint64_t stored = tree ? stored_nodes(t) : 0;
	uint64_t total = EXPORT_HEADER + hl + map_len + cmap_len + stored * hl + hl;
	if (total > (uint64_t)SSIZE_MAX)
		return -EOVERFLOW;
	if (buf == NULL)
		return (ssize_t)total;
	if (cap < total)
		return -ENOSPC;

	uint8_t *p = buf;
	memcpy(p, EXPORT_MAGIC, 4);
	p[4] = EXPORT_VERSION;
	p[5] = t->hash_fn;
	p[6] = (uint8_t)((t->peaks_known ? EXPORT_FLAG_PEAKS : 0) |
			 (t->size_known ? EXPORT_FLAG_SIZE : 0));
	p[7] = t->hash_len;
	put_le32(p + 8, t->chunk_size);
	put_le32(p + 12, t->size_known ? t->last_len : 0);
	put_le64(p + 16, t->peaks_known ? t->n_chunks : 0);
	memcpy(p + EXPORT_HEADER, t->root, hl);
	uint8_t *map = p + EXPORT_HEADER + hl;
	uint8_t *cmap = map + map_len;
	uint8_t *h = cmap + cmap_len;
	memset(map, 0, (size_t)(map_len + cmap_len));
	for (uint64_t c = 0; tree && c < t->n_chunks; c++)
		if (chunk_get(t, c))
			cmap[c / 8] |= (uint8_t)(1u << (c % 8));
	for (uint64_t bin = 0; bin < nodes; bin++) {
		if (!bit_get(t, bin))
			continue;
		map[bin / 8] |= (uint8_t)(1u << (bin % 8));
		memcpy(h, node_hash(t, bin), hl);
		h += hl;
	}
	/* The digest needs the context, which a const tree cannot lend: use the one-shot path. */
	int rc = ppspp_hash(t->hash_fn, p, (size_t)(total - hl), h);
	if (rc < 0)
		return rc;
	return (ssize_t)total;
}

/* The invariants verification maintains (see the top of the file), checked node by node: an
 * imported tree is trusted exactly as far as a live one would be. */
static int import_check(struct ppspp_merkle *t)
{
	uint64_t root = t->width - 1;
	if (!bit_get(t, root))
		return -EBADMSG;
	int rc = root_matches(t, node_hash(t, root), log2_u64(t->width));
	if (rc < 0)
		return rc;
	uint64_t peaks[64];
	int np = peak_bins(t->n_chunks, peaks);
	for (int i = 0; i < np; i++)
		if (!bit_get(t, peaks[i]))
			return -EBADMSG;
	if (t->size_known && !chunk_get(t, t->n_chunks - 1))
		return -EBADMSG;
	for (uint64_t c = 0; c < t->n_chunks; c++)
		if (chunk_get(t, c) && !bit_get(t, ppspp_bin_from_chunk(c)))
			return -EBADMSG;
	uint8_t *h = t->scratch;
	for (uint64_t bin = 0; bin <= 2 * t->width - 2; bin++) {
		if (!bit_get(t, bin))
			continue;
		if (bin != root) {
			if (!bit_get(t, ppspp_bin_parent(bin)) ||
			    !node_known(t, ppspp_bin_sibling(bin)))
				return -EBADMSG;
		}
		if (ppspp_bin_layer(bin) == 0 || !bit_get(t, ppspp_bin_left(bin)))
			continue; /* an uncle or peak: vouched for by its verified parent */
		rc = hash_pair(t, node_hash(t, ppspp_bin_left(bin)),
			       known_hash(t, ppspp_bin_right(bin)), h);
		if (rc < 0)
			return rc;
		if (memcmp(h, node_hash(t, bin), t->hash_len) != 0)
			return -EBADMSG;
	}
	return 0;
}

static struct ppspp_merkle *import_fail(struct ppspp_merkle *t, int err)
{
	ppspp_merkle_free(t);
	errno = err;
	return NULL;
}

struct ppspp_merkle *ppspp_merkle_import(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (p == NULL || len < EXPORT_HEADER || memcmp(p, EXPORT_MAGIC, 4) != 0 ||
	    p[4] != EXPORT_VERSION || ppspp_hash_name(p[5]) == NULL ||
	    (p[6] & ~(EXPORT_FLAG_PEAKS | EXPORT_FLAG_SIZE)) != 0) {
		errno = EBADMSG;
		return NULL;
	}
	uint8_t hash_fn = p[5];
	bool peaks_known = p[6] & EXPORT_FLAG_PEAKS;
	bool size_known = p[6] & EXPORT_FLAG_SIZE;
	uint32_t chunk_size = get_le32(p + 8);
	uint32_t last_len = get_le32(p + 12);
	uint64_t n = get_le64(p + 16);
	if (chunk_size == 0 || chunk_size == PPSPP_CHUNK_SIZE_VARIABLE) {
		errno = EBADMSG;
		return NULL;
	}
	struct ppspp_merkle *t = tree_new(hash_fn, chunk_size);
	if (t == NULL)
		return NULL;
	size_t hl = t->hash_len;
	if (p[7] != hl || n > PPSPP_MERKLE_MAX_CHUNKS || (!peaks_known && (n != 0 || size_known)) ||
	    (peaks_known && n == 0 && !size_known) ||
	    ((size_known && n > 0) ? (last_len == 0 || last_len > chunk_size) : last_len != 0))
		return import_fail(t, EBADMSG);

	/* Lengths come from the header, never from trust: recompute everything and demand an exact
	 * match before reading a byte past the header. */
	uint64_t width = n == 0 ? 0 : round_pow2(n);
	uint64_t nodes = n == 0 ? 0 : 2 * width - 1;
	uint64_t map_len = (nodes + 7) / 8;
	uint64_t cmap_len = (n + 7) / 8;
	if (len - EXPORT_HEADER < hl + map_len + cmap_len + hl)
		return import_fail(t, EBADMSG);
	const uint8_t *map = p + EXPORT_HEADER + hl;
	const uint8_t *cmap = map + map_len;
	uint64_t set = 0;
	for (uint64_t i = 0; i < map_len; i++)
		set += (uint64_t)__builtin_popcount(map[i]);
	if (set > (len - EXPORT_HEADER - hl - map_len - cmap_len - hl) / hl ||
	    len != EXPORT_HEADER + hl + map_len + cmap_len + set * hl + hl)
		return import_fail(t, EBADMSG);
	uint8_t digest[PPSPP_HASH_MAX_LEN];
	if (ppspp_hash(hash_fn, p, len - hl, digest) < 0 || memcmp(digest, p + len - hl, hl) != 0)
		return import_fail(t, EBADMSG);

	memcpy(t->root, p + EXPORT_HEADER, hl);
	t->peaks_known = peaks_known;
	t->size_known = size_known;
	t->last_len = last_len;
	if (!peaks_known)
		return t;
	if (n == 0) {
		if (memcmp(t->root, zero_hash, hl) != 0)
			return import_fail(t, EBADMSG);
		return t;
	}
	int rc = tree_alloc(t, n);
	if (rc < 0)
		return import_fail(t, -rc);
	for (uint64_t c = 0; c < cmap_len * 8; c++) {
		if (!(cmap[c / 8] & (1u << (c % 8))))
			continue;
		if (c >= n)
			return import_fail(t, EBADMSG);
		chunk_set(t, c);
	}
	const uint8_t *h = cmap + cmap_len;
	for (uint64_t bin = 0; bin < map_len * 8; bin++) {
		if (!(map[bin / 8] & (1u << (bin % 8))))
			continue;
		/* Bits past the tree or on empty nodes: nothing exports them. */
		if (bin >= nodes || node_empty(t, bin))
			return import_fail(t, EBADMSG);
		memcpy(node_hash(t, bin), h, hl);
		bit_set(t, bin);
		h += hl;
	}
	rc = import_check(t);
	if (rc < 0)
		return import_fail(t, -rc);
	return t;
}
