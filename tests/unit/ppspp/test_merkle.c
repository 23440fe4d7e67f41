/* CUnit suite "merkle": RFC 7574 §5 Merkle hash trees. Every expected root is computed here
 * independently: a plain recursive tree over the padded power-of-two leaf row, hashed with
 * OpenSSL's one-shot SHA1()/SHA256()/SHA512(), following the words of §5.1. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "ppspp.h"

#define CS 1024u

/* ---- independent reference ----------------------------------------------------------------- */

static size_t ref_len(uint8_t fn)
{
	switch (fn) {
	case PPSPP_HASH_SHA1:
		return SHA_DIGEST_LENGTH;
	case PPSPP_HASH_SHA256:
		return SHA256_DIGEST_LENGTH;
	case PPSPP_HASH_SHA512:
		return SHA512_DIGEST_LENGTH;
	}
	return 0;
}

static void ref_hash(uint8_t fn, const void *d, size_t n, uint8_t *out)
{
	switch (fn) {
	case PPSPP_HASH_SHA1:
		SHA1(d, n, out);
		break;
	case PPSPP_HASH_SHA256:
		SHA256(d, n, out);
		break;
	case PPSPP_HASH_SHA512:
		SHA512(d, n, out);
		break;
	}
}

static bool ref_is_zero(const uint8_t *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (h[i])
			return false;
	return true;
}

/* Hash of the node at (layer, offset): leaves are chunk hashes or all zeros past the end; a
 * parent of two all-zero children is all zeros, otherwise the hash of left || right. */
static void ref_node(uint8_t fn, const uint8_t *data, uint64_t size, unsigned layer, uint64_t off,
		     uint8_t *out)
{
	size_t hl = ref_len(fn);
	if (layer == 0) {
		uint64_t start = off * CS;
		if (start >= size) {
			memset(out, 0, hl);
			return;
		}
		uint64_t n = size - start < CS ? size - start : CS;
		ref_hash(fn, data + start, n, out);
		return;
	}
	uint8_t pair[128];
	ref_node(fn, data, size, layer - 1, 2 * off, pair);
	ref_node(fn, data, size, layer - 1, 2 * off + 1, pair + hl);
	if (ref_is_zero(pair, 2 * hl))
		memset(out, 0, hl);
	else
		ref_hash(fn, pair, 2 * hl, out);
}

static void ref_root(uint8_t fn, const uint8_t *data, uint64_t size, uint8_t *out)
{
	uint64_t chunks = (size + CS - 1) / CS;
	unsigned height = 0;
	while ((1ull << height) < chunks)
		height++;
	ref_node(fn, data, size, height, 0, out);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static uint8_t *make_content(uint64_t size, uint32_t seed)
{
	uint8_t *d = malloc(size ? size : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (uint64_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[i] = (uint8_t)x;
	}
	return d;
}

static int write_temp(const uint8_t *data, uint64_t size)
{
	char path[] = "/tmp/test_merkle_XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	unlink(path);
	uint64_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		CU_ASSERT_FATAL(w > 0);
		done += (uint64_t)w;
	}
	return fd;
}

/* A fresh verifier for t's root, with t's peaks added. */
static struct ppspp_merkle *verifier_for(const struct ppspp_merkle *t)
{
	uint8_t root[PPSPP_HASH_MAX_LEN];
	struct ppspp_hash_node peaks[64];
	ppspp_merkle_root(t, root);
	struct ppspp_merkle *v = ppspp_merkle_create_verifier(
	    ppspp_merkle_hash_fn(t), ppspp_merkle_chunk_size(t), root, ppspp_merkle_hash_len(t));
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	int np = ppspp_merkle_peaks(t, peaks, 64);
	CU_ASSERT_FATAL(np >= 0);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, peaks, np), 0);
	return v;
}

static int verify_from(struct ppspp_merkle *v, const struct ppspp_merkle *src, const uint8_t *data,
		       uint64_t chunk)
{
	struct ppspp_hash_node u[64];
	int nu = ppspp_merkle_uncles(src, chunk, u, 64);
	CU_ASSERT(nu >= 0);
	if (nu < 0)
		return nu;
	return ppspp_merkle_verify_chunk(v, chunk, data + chunk * CS,
					 ppspp_merkle_chunk_len(src, chunk), u, nu);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_hash_functions(void)
{
	uint8_t out[PPSPP_HASH_MAX_LEN];
	static const uint8_t abc_sha1[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
					     0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
					     0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
	CU_ASSERT_EQUAL(ppspp_hash(PPSPP_HASH_SHA1, "abc", 3, out), 0);
	CU_ASSERT_EQUAL(memcmp(out, abc_sha1, 20), 0);
	uint8_t ref[64];
	SHA256((const uint8_t *)"abc", 3, ref);
	CU_ASSERT_EQUAL(ppspp_hash(PPSPP_HASH_SHA256, "abc", 3, out), 0);
	CU_ASSERT_EQUAL(memcmp(out, ref, 32), 0);
	SHA224((const uint8_t *)"", 0, ref);
	CU_ASSERT_EQUAL(ppspp_hash(PPSPP_HASH_SHA224, NULL, 0, out), 0);
	CU_ASSERT_EQUAL(memcmp(out, ref, 28), 0);
	SHA384((const uint8_t *)"abc", 3, ref);
	CU_ASSERT_EQUAL(ppspp_hash(PPSPP_HASH_SHA384, "abc", 3, out), 0);
	CU_ASSERT_EQUAL(memcmp(out, ref, 48), 0);
	CU_ASSERT_EQUAL(ppspp_hash(5, "abc", 3, out), -EINVAL);

	CU_ASSERT_EQUAL(ppspp_hash_from_name("sha1"), PPSPP_HASH_SHA1);
	CU_ASSERT_EQUAL(ppspp_hash_from_name("SHA-256"), PPSPP_HASH_SHA256);
	CU_ASSERT_EQUAL(ppspp_hash_from_name("sha2-512"), PPSPP_HASH_SHA512);
	CU_ASSERT_EQUAL(ppspp_hash_from_name("sha224"), PPSPP_HASH_SHA224);
	CU_ASSERT_EQUAL(ppspp_hash_from_name("Sha384"), PPSPP_HASH_SHA384);
	CU_ASSERT_EQUAL(ppspp_hash_from_name("md5"), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_hash_from_name(NULL), -EINVAL);
	CU_ASSERT_STRING_EQUAL(ppspp_hash_name(PPSPP_HASH_SHA1), "SHA1");
	CU_ASSERT_PTR_NULL(ppspp_hash_name(9));
}

static void check_root(uint8_t fn, uint64_t size)
{
	uint8_t *data = make_content(size, (uint32_t)size + fn);
	uint8_t expect[PPSPP_HASH_MAX_LEN], got[PPSPP_HASH_MAX_LEN];
	size_t hl = ref_len(fn);
	ref_root(fn, data, size, expect);

	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, fn, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ppspp_merkle_hash_len(t), hl);
	ppspp_merkle_root(t, got);
	CU_ASSERT_EQUAL(memcmp(got, expect, hl), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(t), (size + CS - 1) / CS);
	CU_ASSERT(ppspp_merkle_size_known(t));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(t), size);
	ppspp_merkle_free(t);

	int fd = write_temp(data, size);
	t = ppspp_merkle_build_fd(fd, size, fn, CS);
	close(fd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ppspp_merkle_root(t, got);
	CU_ASSERT_EQUAL(memcmp(got, expect, hl), 0);
	ppspp_merkle_free(t);
	free(data);
}

static void test_roots(void)
{
	static const uint64_t sizes[] = {0,	     1,		1023,	      1024, 1025,
					 2 * CS,     3 * CS,	7 * CS,	      7162, 8 * CS,
					 8 * CS + 1, 1000 * CS, 1000 * CS - 5};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		check_root(PPSPP_HASH_SHA1, sizes[i]);
		check_root(PPSPP_HASH_SHA256, sizes[i]);
	}
	check_root(PPSPP_HASH_SHA512, 7162);
	check_root(PPSPP_HASH_SHA512, 1025);
}

static void test_edge_sizes(void)
{
	uint8_t root[PPSPP_HASH_MAX_LEN], zero[PPSPP_HASH_MAX_LEN] = {0};
	struct ppspp_hash_node peaks[64], u[64];

	/* 0 bytes: no chunks, root all zeros, no peaks; a verifier of that root accepts no
	 * peaks and knows the size at once. */
	struct ppspp_merkle *t = ppspp_merkle_build_mem(NULL, 0, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ppspp_merkle_root(t, root);
	CU_ASSERT_EQUAL(memcmp(root, zero, 20), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(t), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(t, peaks, 64), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 0, u, 64), -ERANGE);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(t, 0), 0);
	ppspp_merkle_free(t);
	struct ppspp_merkle *v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, zero, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, NULL, 0), 0);
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, "x", 1, NULL, 0), -ERANGE);
	ppspp_merkle_free(v);

	/* 1 byte: W = 1, the tree is one leaf, the root is the chunk's hash and the only peak. */
	uint8_t b = 0x5a, h[20];
	SHA1(&b, 1, h);
	t = ppspp_merkle_build_mem(&b, 1, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ppspp_merkle_root(t, root);
	CU_ASSERT_EQUAL(memcmp(root, h, 20), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(t, peaks, 64), 1);
	CU_ASSERT_EQUAL(peaks[0].bin, 0);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 0, u, 64), 0);
	v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	/* Not all zeros: the empty-content peaks do not fit this root. */
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, NULL, 0), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, peaks, 1), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), CS); /* upper bound before the last chunk */
	uint8_t wrong = 0x5b;
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, &wrong, 1, NULL, 0), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, &b, 1, NULL, 0), 0);
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), 1);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(v, 0), 1);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);

	/* Exactly 2 chunks: the last chunk is full length. */
	uint8_t *data = make_content(2 * CS, 9);
	t = ppspp_merkle_build_mem(data, 2 * CS, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(t, 1), CS);
	v = verifier_for(t);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 1, data + CS, CS + 1, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 1, data + CS, 0, NULL, 0), -EINVAL);
	/* Without the sibling's hash there is nothing to climb with. */
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 1, data + CS, CS, NULL, 0), -ENODATA);
	/* Shorter is a legal length for the last chunk until the size is known: just wrong. */
	struct ppspp_hash_node sib[64];
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 1, sib, 64), 1);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 1, data + CS, CS - 1, sib, 1), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(verify_from(v, t, data, 1), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), 2 * CS);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);

	CU_ASSERT_PTR_NULL(ppspp_merkle_build_mem(&b, 1, 7, CS));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(ppspp_merkle_build_mem(&b, 1, PPSPP_HASH_SHA1, 0));
	CU_ASSERT_PTR_NULL(ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 32));
}

/* RFC 7574 §5.6.1 Figure 4 and §5.6.2: 7162 bytes in 1 KiB chunks. */
static void test_rfc_figure4(void)
{
	uint8_t *data = make_content(7162, 4);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, 7162, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	struct ppspp_hash_node peaks[64], u[64];
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(t, peaks, 2), -ENOSPC);
	CU_ASSERT_EQUAL_FATAL(ppspp_merkle_peaks(t, peaks, 64), 3);
	CU_ASSERT_EQUAL(peaks[0].bin, 3);
	CU_ASSERT_EQUAL(peaks[1].bin, 9);
	CU_ASSERT_EQUAL(peaks[2].bin, 12);
	uint8_t h[20];
	ref_node(PPSPP_HASH_SHA1, data, 7162, 2, 0, h);
	CU_ASSERT_EQUAL(memcmp(peaks[0].hash, h, 20), 0);
	ref_node(PPSPP_HASH_SHA1, data, 7162, 1, 2, h);
	CU_ASSERT_EQUAL(memcmp(peaks[1].hash, h, 20), 0);
	ref_node(PPSPP_HASH_SHA1, data, 7162, 0, 6, h);
	CU_ASSERT_EQUAL(memcmp(peaks[2].hash, h, 20), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(t, 6), 1018);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(t, 7), 0);

	/* Uncles stop at the chunk's peak, sibling first. */
	CU_ASSERT_EQUAL_FATAL(ppspp_merkle_uncles(t, 0, u, 64), 2);
	CU_ASSERT_EQUAL(u[0].bin, 2);
	CU_ASSERT_EQUAL(u[1].bin, 5);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 0, u, 1), -ENOSPC);
	CU_ASSERT_EQUAL_FATAL(ppspp_merkle_uncles(t, 4, u, 64), 1);
	CU_ASSERT_EQUAL(u[0].bin, 10);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 6, u, 64), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(t, 7, u, 64), -ERANGE);
	/* Layers first, then only the lowest n: the same nodes as the whole path's prefix. */
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, 0), 2);
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, 4), 1);
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, 6), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, 7), -ERANGE);
	{
		struct ppspp_hash_node lo[2], all[2];
		CU_ASSERT_EQUAL_FATAL(ppspp_merkle_uncles(t, 1, all, 64), 2);
		CU_ASSERT_EQUAL(ppspp_merkle_uncles_low(t, 1, lo, 0), 0);
		CU_ASSERT_EQUAL_FATAL(ppspp_merkle_uncles_low(t, 1, lo, 1), 1);
		CU_ASSERT_EQUAL(lo[0].bin, all[0].bin);
		CU_ASSERT_EQUAL(memcmp(lo[0].hash, all[0].hash, 20), 0);
		CU_ASSERT_EQUAL_FATAL(ppspp_merkle_uncles_low(t, 1, lo, 2), 2);
		CU_ASSERT_EQUAL(lo[1].bin, all[1].bin);
		CU_ASSERT_EQUAL(memcmp(lo[1].hash, all[1].hash, 20), 0);
		CU_ASSERT_EQUAL(ppspp_merkle_uncles_low(t, 1, lo, 3), -EINVAL);
		CU_ASSERT_EQUAL(ppspp_merkle_uncles_low(t, 1, lo, -1), -EINVAL);
		CU_ASSERT_EQUAL(ppspp_merkle_uncles_low(t, 7, lo, 0), -ERANGE);
	}

	/* §5.6.2: the peaks give 7 chunks, the verified last chunk the exact 7162 bytes. */
	struct ppspp_merkle *v = verifier_for(t);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 7);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), 7 * CS);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_len(v, 6), 0);
	CU_ASSERT(ppspp_merkle_node_verified(v, 3));
	CU_ASSERT(ppspp_merkle_node_verified(v, 9));
	CU_ASSERT(ppspp_merkle_node_verified(v, 12));
	CU_ASSERT(ppspp_merkle_node_verified(v, 13)); /* computed from 12 and the empty 14 */
	CU_ASSERT(ppspp_merkle_node_verified(v, 14)); /* empty: all zeros, known */
	CU_ASSERT_FALSE(ppspp_merkle_node_verified(v, 1));
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 6, data + 6 * CS, CS + 1, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 6, data + 6 * CS, 1017, NULL, 0), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 6, data + 6 * CS, 1018, NULL, 0), 0);
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), 7162);

	/* §5.3: hashes the receiver misses, progressive download. A sender asks the receiver's
	 * mirror which siblings are not verified yet. */
	static const uint64_t need[7][3] = {{2, 5, 0}, {0}, {6, 0}, {0}, {10, 0}, {0}, {0}};
	for (uint64_t c = 0; c < 7; c++) {
		int nu = ppspp_merkle_uncles(t, c, u, 64);
		CU_ASSERT_FATAL(nu >= 0);
		struct ppspp_hash_node send[64];
		int ns = 0;
		for (int i = 0; i < nu; i++)
			if (!ppspp_merkle_node_verified(v, u[i].bin))
				send[ns++] = u[i];
		int k = 0;
		while (need[c][k] != 0)
			k++;
		CU_ASSERT_EQUAL(ns, k);
		for (int i = 0; i < ns && i < k; i++)
			CU_ASSERT_EQUAL(send[i].bin, need[c][i]);
		CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, data + c * CS,
							  ppspp_merkle_chunk_len(t, c), send, ns),
				0);
	}
	for (uint64_t c = 0; c < 7; c++)
		CU_ASSERT(ppspp_merkle_chunk_verified(v, c));
	ppspp_merkle_free(v);

	/* A sender's mirror of its peer follows the peer's acknowledgements without hashing data,
	 * and ends up knowing exactly what a real receiver knows. */
	uint8_t root[20];
	ppspp_merkle_root(t, root);
	struct ppspp_merkle *m = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	struct ppspp_merkle *r = verifier_for(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	static const uint64_t acked[] = {5, 0, 6};
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ppspp_merkle_mirror_chunk(m, t, acked[i]), 0);
		CU_ASSERT_EQUAL(verify_from(r, t, data, acked[i]), 0);
		for (uint64_t bin = 0; bin < 15; bin++)
			CU_ASSERT_EQUAL(ppspp_merkle_node_verified(m, bin),
					ppspp_merkle_node_verified(r, bin));
		for (uint64_t c = 0; c < 7; c++)
			CU_ASSERT_EQUAL(ppspp_merkle_chunk_verified(m, c),
					ppspp_merkle_chunk_verified(r, c));
	}
	CU_ASSERT(ppspp_merkle_size_known(m));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(m), 7162);
	CU_ASSERT_EQUAL(ppspp_merkle_mirror_chunk(m, t, 7), -ERANGE);
	/* The mirror cannot lend what it only knows as an uncle. */
	CU_ASSERT_EQUAL(ppspp_merkle_mirror_chunk(r, m, 4), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_merkle_mirror_chunk(r, m, 5), 0);
	ppspp_merkle_free(r);
	ppspp_merkle_free(m);
	m = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, peaks[0].hash, 20);
	CU_ASSERT_EQUAL(ppspp_merkle_mirror_chunk(m, t, 0), -EINVAL);
	ppspp_merkle_free(m);
	ppspp_merkle_free(t);
	free(data);
}

static void check_all_chunks(uint8_t fn, uint64_t size)
{
	uint8_t *data = make_content(size, 77 + fn);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, fn, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint64_t n = ppspp_merkle_chunk_count(t);
	/* Each chunk alone in a fresh verifier, with only its uncles. */
	for (uint64_t c = 0; c < n; c++) {
		struct ppspp_merkle *v = verifier_for(t);
		CU_ASSERT_EQUAL(verify_from(v, t, data, c), 0);
		CU_ASSERT(ppspp_merkle_chunk_verified(v, c));
		for (uint64_t o = 0; o < n; o++)
			if (o != c)
				CU_ASSERT_FALSE(ppspp_merkle_chunk_verified(v, o));
		ppspp_merkle_free(v);
	}
	ppspp_merkle_free(t);
	free(data);
}

/* The layer of each chunk's peak (ppspp_merkle_uncle_layers) against the peaks themselves, for
 * every chunk count 1..200 (one, two and many peaks): a closed form replaced a loop there. */
static void test_uncle_layers_all_counts(void)
{
	static uint8_t d[200 * 16];

	for (unsigned i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)(i * 7 + 1);
	for (uint64_t n = 1; n <= 200; n++) {
		struct ppspp_merkle *t = ppspp_merkle_build_mem(d, n * 16, PPSPP_HASH_SHA1, 16);
		struct ppspp_hash_node pk[64];

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		int np = ppspp_merkle_peaks(t, pk, 64);
		CU_ASSERT_FATAL(np > 0);
		for (uint64_t c = 0; c < n; c++) {
			int want = -1;
			for (int i = 0; i < np; i++) {
				uint64_t lo = ppspp_bin_base_left(pk[i].bin);
				if (c >= lo && c < lo + ppspp_bin_base_width(pk[i].bin))
					want = (int)ppspp_bin_layer(pk[i].bin);
			}
			CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, c), want);
		}
		CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(t, n), -ERANGE);
		ppspp_merkle_free(t);
	}
}

static void test_uncles_every_chunk(void)
{
	check_all_chunks(PPSPP_HASH_SHA1, 7162);
	check_all_chunks(PPSPP_HASH_SHA1, 8 * CS);
	check_all_chunks(PPSPP_HASH_SHA256, 13 * CS + 100);
	check_all_chunks(PPSPP_HASH_SHA1, 1000 * CS - 5);
	check_all_chunks(PPSPP_HASH_SHA512, 5 * CS);
}

static void test_random_order(void)
{
	uint64_t size = 1000 * CS - 300;
	uint8_t *data = make_content(size, 3);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA256, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint64_t n = ppspp_merkle_chunk_count(t);
	uint64_t *order = malloc(n * sizeof(*order));
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	uint32_t x = 12345;
	for (uint64_t i = n - 1; i > 0; i--) {
		x = x * 1103515245u + 12345u;
		uint64_t j = (x >> 8) % (i + 1);
		uint64_t tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	struct ppspp_merkle *v = verifier_for(t);
	const uint8_t *hp[64];
	/* Before any chunk, the leaves are unknown to the receiver: refused, not zeros. */
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_hashes_under(v, 0, hp, 1), -EAGAIN);
	for (uint64_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(verify_from(v, t, data, order[i]), 0);
	for (uint64_t i = 0; i < n; i++)
		CU_ASSERT(ppspp_merkle_chunk_verified(v, i));
	/* Whole: every chunk's uncles straight from the tree, equal to the source's. */
	for (uint64_t c = 0; c < n; c++) {
		struct ppspp_hash_node u[64];
		int nu = ppspp_merkle_uncles(t, c, u, 64);
		CU_ASSERT_FATAL(nu >= 0);
		CU_ASSERT_EQUAL(ppspp_merkle_uncle_hashes_under(v, c, hp, nu), nu);
		for (int l = 0; l < nu; l++)
			CU_ASSERT_EQUAL(memcmp(hp[l], u[l].hash, 32), 0);
	}
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);
	/* Once complete, the receiver can serve uncles itself: identical to the source's. */
	struct ppspp_hash_node a[64], b[64];
	for (uint64_t c = 0; c < n; c += 37) {
		int na = ppspp_merkle_uncles(t, c, a, 64), nb = ppspp_merkle_uncles(v, c, b, 64);
		CU_ASSERT_EQUAL(na, nb);
		for (int i = 0; i < na && i < nb; i++) {
			CU_ASSERT_EQUAL(a[i].bin, b[i].bin);
			CU_ASSERT_EQUAL(memcmp(a[i].hash, b[i].hash, 32), 0);
		}
	}
	free(order);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);
}

static void test_poison(void)
{
	uint64_t size = 100 * CS + 10;
	uint8_t *data = make_content(size, 5);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	struct ppspp_merkle *v = verifier_for(t);
	struct ppspp_hash_node u[64];
	uint64_t c = 37;
	int nu = ppspp_merkle_uncles(t, c, u, 64);
	CU_ASSERT_FATAL(nu >= 3);

	/* A poisoned chunk: rejected, and neither it nor its uncles become verified. */
	uint8_t bad[CS];
	memcpy(bad, data + c * CS, CS);
	bad[100] ^= 1;
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, bad, CS, u, nu), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_chunk_verified(v, c));
	for (int i = 0; i < nu; i++)
		CU_ASSERT_FALSE(ppspp_merkle_node_verified(v, u[i].bin));
	CU_ASSERT_FALSE(ppspp_merkle_node_verified(v, ppspp_bin_parent(2 * c)));

	/* A poisoned uncle (each in turn) with the honest chunk: rejected, nothing recorded. */
	for (int k = 0; k < nu; k++) {
		struct ppspp_hash_node p[64];
		memcpy(p, u, sizeof(p[0]) * (size_t)nu);
		p[k].hash[3] ^= 0x80;
		CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, data + c * CS, CS, p, nu),
				-EBADMSG);
		CU_ASSERT_FALSE(ppspp_merkle_chunk_verified(v, c));
		for (int i = 0; i < nu; i++)
			CU_ASSERT_FALSE(ppspp_merkle_node_verified(v, u[i].bin));
	}
	/* A missing uncle is not poison. */
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, data + c * CS, CS, u, nu - 1), -ENODATA);
	CU_ASSERT_FALSE(ppspp_merkle_chunk_verified(v, c));

	/* The honest chunk and uncles, in any order and with garbage around them, still verify. */
	struct ppspp_hash_node mixed[70];
	int nm = 0;
	mixed[nm].bin = UINT64_MAX;
	memset(mixed[nm++].hash, 0xee, 20);
	mixed[nm].bin = 0x7fffffffffffffffull;
	memset(mixed[nm++].hash, 0xee, 20);
	mixed[nm].bin = 2 * c; /* the chunk's own bin: not an uncle */
	memset(mixed[nm++].hash, 0xee, 20);
	for (int i = nu - 1; i >= 0; i--)
		mixed[nm++] = u[i];
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, data + c * CS, CS, mixed, nm), 0);
	CU_ASSERT(ppspp_merkle_chunk_verified(v, c));
	for (int i = 0; i < nu; i++)
		CU_ASSERT(ppspp_merkle_node_verified(v, u[i].bin));
	/* The verified chunk again: same bytes fine, other bytes rejected. */
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, data + c * CS, CS, NULL, 0), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, c, bad, CS, NULL, 0), -EBADMSG);

	/* The sibling now needs no uncles; poisoned uncles for verified nodes are ignored. */
	struct ppspp_hash_node lie = u[1];
	lie.hash[0] ^= 1;
	uint64_t s = c ^ 1;
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, s, data + s * CS, CS, &lie, 1), 0);

	/* A poisoned last (short) chunk does not fix the content size. */
	uint64_t last = ppspp_merkle_chunk_count(t) - 1;
	uint8_t tail[10];
	memcpy(tail, data + last * CS, 10);
	tail[0] ^= 1;
	nu = ppspp_merkle_uncles(t, last, u, 64);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, last, tail, 10, u, nu), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, last, data + last * CS, 9, u, nu), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, last, data + last * CS, 10, u, nu), 0);
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);

	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, last + 1, data, CS, NULL, 0), -ERANGE);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, data, CS - 1, NULL, 0), -EINVAL);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);
}

static void test_bad_peaks(void)
{
	uint64_t size = 11 * CS + 1; /* 12 chunks: peaks 7 (0-7) and 19 (8-11) */
	uint8_t *data = make_content(size, 6);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint8_t root[20];
	ppspp_merkle_root(t, root);
	struct ppspp_hash_node pk[64], bad[64];
	int np = ppspp_merkle_peaks(t, pk, 64);
	CU_ASSERT_EQUAL_FATAL(np, 2);
	CU_ASSERT_EQUAL(pk[0].bin, 7);
	CU_ASSERT_EQUAL(pk[1].bin, 19);

	struct ppspp_merkle *v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(v, bad, 64), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles(v, 0, bad, 64), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_merkle_uncle_layers(v, 0), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_merkle_uncles_low(v, 0, bad, 0), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, data, CS, NULL, 0), -EAGAIN);

	/* A wrong hash. */
	memcpy(bad, pk, sizeof(pk[0]) * 2);
	bad[1].hash[7] ^= 4;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	/* A missing peak, a claimed shorter or longer content, overlaps, garbage bins. */
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, pk, 1), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, pk + 1, 1), -EBADMSG);
	memcpy(bad, pk, sizeof(pk[0]) * 2);
	bad[2] = bad[1];
	bad[2].bin = 24;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 3), -EBADMSG);
	bad[1].bin = 17; /* chunks 8-9 only */
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	bad[1] = pk[0];
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	bad[1] = pk[1];
	bad[1].bin = UINT64_MAX;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	bad[1].bin = (1ull << 62) - 1;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, NULL, 0), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, pk, 65), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 0, data, CS, NULL, 0), -EAGAIN);

	/* The honest peaks, in either order, are accepted; again is a no-op; others are not. */
	bad[0] = pk[1];
	bad[1] = pk[0];
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 12);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, pk, 2), 0);
	memcpy(bad, pk, sizeof(pk[0]) * 2);
	bad[0].hash[0] ^= 1;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, bad, 2), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 12);
	for (uint64_t c = 0; c < 12; c++)
		CU_ASSERT_EQUAL(verify_from(v, t, data, c), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);
	ppspp_merkle_free(v);

	/* A root padded above the minimal height (hashing with empty siblings) is accepted. */
	uint8_t pair[40], padded[20];
	memcpy(pair, root, 20);
	memset(pair + 20, 0, 20);
	SHA1(pair, 40, padded);
	memcpy(pair, padded, 20);
	SHA1(pair, 40, padded);
	v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, padded, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, pk, 2), 0);
	CU_ASSERT_EQUAL(verify_from(v, t, data, 11), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);
	ppspp_merkle_free(v);

	ppspp_merkle_free(t);
	free(data);
}

/* The root hash does not commit to the content length (RFC 7574 §5.6.1 gives no such proof):
 * a peer can pass an incomplete node off as a peak and claim empty chunks past the real end.
 * What it cannot do is make any of them verify: that needs the empty hash as an uncle, which a
 * content node never has, and which is refused as poison. */
static void test_forged_longer_claim(void)
{
	uint64_t size = 5 * CS; /* peaks 3 (chunks 0-3) and 8 (chunk 4); W = 8 */
	uint8_t *data = make_content(size, 12);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint8_t root[20];
	ppspp_merkle_root(t, root);
	struct ppspp_hash_node pk[64];
	CU_ASSERT_EQUAL_FATAL(ppspp_merkle_peaks(t, pk, 64), 2);
	/* Forged: bin 9 (chunks 4-5) with the real hash of node 9, H(h8 || zeros). */
	struct ppspp_hash_node forged[2] = {pk[0], pk[1]};
	forged[1].bin = 9;
	ref_node(PPSPP_HASH_SHA1, data, size, 1, 2, forged[1].hash);
	struct ppspp_merkle *v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(v, forged, 2), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 6);
	/* Chunk 4 now needs node 10, which is the empty hash: refused, nothing recorded. */
	struct ppspp_hash_node zero = {.bin = 10};
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 4, data + 4 * CS, CS, &zero, 1), -EBADMSG);
	CU_ASSERT_FALSE(ppspp_merkle_node_verified(v, 10));
	/* The invented chunk 5 cannot verify with any bytes that are not a preimage. */
	struct ppspp_hash_node h8 = {.bin = 8};
	SHA1(data + 4 * CS, CS, h8.hash);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(v, 5, data, 7, &h8, 1), -EBADMSG);
	/* Chunks before the forged peak are unaffected. */
	for (uint64_t c = 0; c < 4; c++)
		CU_ASSERT_EQUAL(verify_from(v, t, data, c), 0);
	/* An all-zero peak is refused outright. */
	struct ppspp_merkle *w = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	struct ppspp_hash_node zp[2] = {pk[0], pk[1]};
	memset(zp[1].hash, 0, sizeof(zp[1].hash));
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks(w, zp, 2), -EBADMSG);
	ppspp_merkle_free(w);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);
}

/* Peaks adopted only with a chunk that verifies under them (§5.6.2: they come together). */
static void test_peaks_with_chunk(void)
{
	uint64_t size = 13 * CS + 77; /* 14 chunks: peaks 7 (0-7), 19 (8-11), 25 (12-13) */
	uint8_t *data = make_content(size, 13);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint8_t root[20];
	ppspp_merkle_root(t, root);
	struct ppspp_hash_node pk[64], u[64];
	int np = ppspp_merkle_peaks(t, pk, 64);
	CU_ASSERT_EQUAL_FATAL(np, 3);
	int nu = ppspp_merkle_uncles(t, 9, u, 64);
	CU_ASSERT_EQUAL_FATAL(nu, 2);
	struct ppspp_merkle *v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CS, root, 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);

	/* The root as a single peak at a greater height reproduces the root (a hash does not
	 * say its height): add_peaks alone would size the tree for 2^20 chunks. Not one real
	 * chunk verifies in that geometry, so with a chunk it is refused and nothing is kept. */
	struct ppspp_hash_node fake = {.bin = (1ull << 20) - 1};
	memcpy(fake.hash, root, 20);
	int nfu = ppspp_merkle_uncles(t, 0, u + 8, 32);
	CU_ASSERT_FATAL(nfu > 0);
	int rc = ppspp_merkle_add_peaks_with_chunk(v, &fake, 1, 0, data, CS, u + 8, nfu);
	CU_ASSERT(rc == -EBADMSG || rc == -ENODATA);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(v, pk + 8, 8), -EAGAIN);

	/* Honest peaks with a poisoned chunk, a poisoned uncle, a missing uncle: nothing kept. */
	uint8_t bad[CS];
	memcpy(bad, data + 9 * CS, CS);
	bad[5] ^= 2;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, pk, np, 9, bad, CS, u, nu), -EBADMSG);
	struct ppspp_hash_node pu[2] = {u[0], u[1]};
	pu[1].hash[0] ^= 1;
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, pk, np, 9, data + 9 * CS, CS, pu, 2),
			-EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, pk, np, 9, data + 9 * CS, CS, u, 1),
			-ENODATA);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, pk, np, 14, data, CS, u, nu), -ERANGE);
	CU_ASSERT_EQUAL(
	    ppspp_merkle_add_peaks_with_chunk(v, pk, np, 9, data + 9 * CS, CS - 1, u, nu), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 0);
	pu[0] = pk[0];
	pu[0].hash[19] ^= 1;
	struct ppspp_hash_node wrong[3] = {pu[0], pk[1], pk[2]};
	CU_ASSERT_EQUAL(
	    ppspp_merkle_add_peaks_with_chunk(v, wrong, np, 9, data + 9 * CS, CS, u, nu), -EBADMSG);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 0);

	/* The honest set, any order: peaks adopted and the chunk verified. */
	struct ppspp_hash_node rev[3] = {pk[2], pk[0], pk[1]};
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, rev, np, 9, data + 9 * CS, CS, u, nu),
			0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(v), 14);
	CU_ASSERT(ppspp_merkle_chunk_verified(v, 9));
	/* Later: the same peaks again, another chunk (and its uncles). */
	nu = ppspp_merkle_uncles(t, 13, u, 64);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, pk, np, 13, data + 13 * CS, 77, u, nu),
			0);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);
	CU_ASSERT_EQUAL(ppspp_merkle_add_peaks_with_chunk(v, wrong, np, 0, data, CS, NULL, 0),
			-EBADMSG);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);
}

static uint8_t *export_tree(const struct ppspp_merkle *t, size_t *len)
{
	ssize_t need = ppspp_merkle_export(t, NULL, 0);
	CU_ASSERT_FATAL(need > 0);
	uint8_t *buf = malloc((size_t)need);
	CU_ASSERT_EQUAL(ppspp_merkle_export(t, buf, (size_t)need - 1), -ENOSPC);
	CU_ASSERT_EQUAL(ppspp_merkle_export(t, buf, (size_t)need), need);
	*len = (size_t)need;
	return buf;
}

/* Rewrites the trailing digest, so damage inside reaches the structural checks. */
static void reseal(uint8_t *buf, size_t len)
{
	SHA1(buf, len - 20, buf + len - 20);
}

static void test_export_import(void)
{
	uint64_t size = 21 * CS + 5;
	uint8_t *data = make_content(size, 8);
	struct ppspp_merkle *t = ppspp_merkle_build_mem(data, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	uint8_t r1[20], r2[20];
	ppspp_merkle_root(t, r1);

	/* Source tree round trip. */
	size_t len;
	uint8_t *blob = export_tree(t, &len);
	struct ppspp_merkle *c = ppspp_merkle_import(blob, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	ppspp_merkle_root(c, r2);
	CU_ASSERT_EQUAL(memcmp(r1, r2, 20), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(c), 22);
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(c), size);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_size(c), CS);
	struct ppspp_hash_node a[64], b[64];
	for (uint64_t i = 0; i < 22; i++) {
		CU_ASSERT(ppspp_merkle_chunk_verified(c, i));
		int na = ppspp_merkle_uncles(t, i, a, 64), nb = ppspp_merkle_uncles(c, i, b, 64);
		CU_ASSERT_EQUAL(na, nb);
		for (int k = 0; k < na && k < nb; k++)
			CU_ASSERT_EQUAL(memcmp(a[k].hash, b[k].hash, 20), 0);
	}
	ppspp_merkle_free(c);

	/* Every single-byte change, every truncation, an extra byte: rejected. */
	for (size_t i = 0; i < len; i++) {
		blob[i] ^= 0x10;
		c = ppspp_merkle_import(blob, len);
		CU_ASSERT_PTR_NULL(c);
		ppspp_merkle_free(c);
		blob[i] ^= 0x10;
	}
	for (size_t l = 0; l < len; l++)
		CU_ASSERT_PTR_NULL(ppspp_merkle_import(blob, l));
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, blob, len);
	longer[len] = 0;
	CU_ASSERT_PTR_NULL(ppspp_merkle_import(longer, len + 1));
	free(longer);
	CU_ASSERT_PTR_NULL(ppspp_merkle_import(NULL, 0));

	/* Damage that the trailing digest does not catch (resealed) is caught by the checks
	 * against the root: any stored hash changed. */
	size_t hashes_at = 24 + 20 + 8 + 3; /* 22 chunks: W = 32, 63 bins, 8 + 3 bitmap bytes */
	for (size_t i = hashes_at; i + 20 < len; i += 20) {
		uint8_t *x = malloc(len);
		memcpy(x, blob, len);
		x[i + 3] ^= 1;
		reseal(x, len);
		CU_ASSERT_PTR_NULL(ppspp_merkle_import(x, len));
		free(x);
	}
	/* A last length the root cannot vouch for still has to be consistent. */
	uint8_t *x = malloc(len);
	memcpy(x, blob, len);
	x[12] = 0;
	reseal(x, len);
	CU_ASSERT_PTR_NULL(ppspp_merkle_import(x, len));
	free(x);
	free(blob);

	/* A partial receiver: some chunks verified, round trip keeps exactly those. */
	struct ppspp_merkle *v = verifier_for(t);
	static const uint64_t have[] = {3, 4, 17, 21};
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(verify_from(v, t, data, have[i]), 0);
	blob = export_tree(v, &len);
	c = ppspp_merkle_import(blob, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	for (uint64_t i = 0; i < 22; i++)
		CU_ASSERT_EQUAL(ppspp_merkle_chunk_verified(c, i),
				ppspp_merkle_chunk_verified(v, i));
	for (uint64_t bin = 0; bin < 64; bin++)
		CU_ASSERT_EQUAL(ppspp_merkle_node_verified(c, bin),
				ppspp_merkle_node_verified(v, bin));
	CU_ASSERT(ppspp_merkle_size_known(c));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(c), size);
	/* and it goes on verifying */
	CU_ASSERT_EQUAL(verify_from(c, t, data, 0), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_verify_chunk(c, 4, data + 5 * CS, CS, NULL, 0), -EBADMSG);
	ppspp_merkle_free(c);
	/* A verified bit set on a node whose parent is not verified: rejected. Chunk 8's leaf
	 * (bin 16) is not verified in v; set it and add a fake hash. */
	{
		size_t map = 24 + 20;
		CU_ASSERT_FALSE(blob[map + 16 / 8] & (1u << (16 % 8)));
		uint8_t *y = malloc(len + 20);
		/* hashes of bins < 16 come first: count them to find the insertion point */
		size_t before = 0;
		for (unsigned bin = 0; bin < 16; bin++)
			if (blob[map + bin / 8] & (1u << (bin % 8)))
				before++;
		size_t at = map + 8 + 3 + before * 20;
		memcpy(y, blob, at);
		SHA1(data + 8 * CS, CS, y + at);
		memcpy(y + at + 20, blob + at, len - at);
		y[map + 2] |= 1;
		reseal(y, len + 20);
		CU_ASSERT_PTR_NULL(ppspp_merkle_import(y, len + 20));
		free(y);
	}
	free(blob);
	ppspp_merkle_free(v);

	/* A receiver that knows only its root, and the empty content. */
	v = ppspp_merkle_create_verifier(PPSPP_HASH_SHA256, CS,
					 (const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	blob = export_tree(v, &len);
	c = ppspp_merkle_import(blob, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(ppspp_merkle_hash_fn(c), PPSPP_HASH_SHA256);
	ppspp_merkle_root(c, (uint8_t *)a[0].hash);
	CU_ASSERT_EQUAL(memcmp(a[0].hash, "0123456789abcdef0123456789abcdef", 32), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_peaks(c, b, 64), -EAGAIN);
	ppspp_merkle_free(c);
	free(blob);
	ppspp_merkle_free(v);
	struct ppspp_merkle *e = ppspp_merkle_build_mem(NULL, 0, PPSPP_HASH_SHA1, CS);
	blob = export_tree(e, &len);
	c = ppspp_merkle_import(blob, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT(ppspp_merkle_size_known(c));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(c), 0);
	ppspp_merkle_free(c);
	free(blob);
	ppspp_merkle_free(e);

	ppspp_merkle_free(t);
	free(data);
}

static void test_large(void)
{
	uint64_t size = (64ull << 20) - 123; /* 65536 chunks, the last one short */
	uint8_t *data = make_content(size, 11);
	int fd = write_temp(data, size);
	struct ppspp_merkle *t = ppspp_merkle_build_fd(fd, size, PPSPP_HASH_SHA1, CS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	/* A file shorter than announced is an error, not a tree. */
	CU_ASSERT_PTR_NULL(ppspp_merkle_build_fd(fd, size + CS, PPSPP_HASH_SHA1, CS));
	CU_ASSERT_EQUAL(errno, EIO);
	close(fd);
	uint8_t expect[20], got[20];
	ref_root(PPSPP_HASH_SHA1, data, size, expect);
	ppspp_merkle_root(t, got);
	CU_ASSERT_EQUAL(memcmp(expect, got, 20), 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(t), 65536);

	struct ppspp_merkle *v = verifier_for(t);
	struct ppspp_hash_node u[64];
	for (uint64_t c = 0; c < 65536; c++) {
		/* Send only what the receiver misses (§5.3). */
		int nu = ppspp_merkle_uncles(t, c, u, 64), ns = 0;
		CU_ASSERT_FATAL(nu >= 0);
		for (int i = 0; i < nu; i++)
			if (!ppspp_merkle_node_verified(v, u[i].bin))
				u[ns++] = u[i];
		int rc = ppspp_merkle_verify_chunk(v, c, data + c * CS,
						   ppspp_merkle_chunk_len(t, c), u, ns);
		if (rc != 0) {
			CU_FAIL("large tree chunk did not verify");
			break;
		}
	}
	CU_ASSERT(ppspp_merkle_size_known(v));
	CU_ASSERT_EQUAL(ppspp_merkle_content_size(v), size);
	ppspp_merkle_free(v);
	ppspp_merkle_free(t);
	free(data);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("merkle", NULL, NULL);
	CU_add_test(s, "hash_functions", test_hash_functions);
	CU_add_test(s, "roots", test_roots);
	CU_add_test(s, "edge_sizes", test_edge_sizes);
	CU_add_test(s, "uncle_layers_all_counts", test_uncle_layers_all_counts);
	CU_add_test(s, "rfc_figure4", test_rfc_figure4);
	CU_add_test(s, "uncles_every_chunk", test_uncles_every_chunk);
	CU_add_test(s, "random_order", test_random_order);
	CU_add_test(s, "poison", test_poison);
	CU_add_test(s, "bad_peaks", test_bad_peaks);
	CU_add_test(s, "forged_longer_claim", test_forged_longer_claim);
	CU_add_test(s, "peaks_with_chunk", test_peaks_with_chunk);
	CU_add_test(s, "export_import", test_export_import);
	CU_add_test(s, "large", test_large);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
