/* libFuzzer target for lib/ppspp/merkle.c: the export blob parser (resume files, the chunk
 * cache's swarm metadata, which may come from the storage overlay) and the receiver's handling
 * of untrusted peaks, uncles and chunk bytes (RFC 7574 §5).
 *
 * Input: one selector byte, then either a blob for ppspp_merkle_import (selector even), or
 * (selector odd) a 20-byte root, a chunk number byte, up to 8 hash nodes (8-byte bin + 20-byte
 * SHA-1 hash each, the first ones taken as peaks, all as uncles) and the chunk bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppspp.h"

#define NODE_LEN 28

static void fuzz_import(const uint8_t *d, size_t n)
{
	struct ppspp_merkle *t = ppspp_merkle_import(d, n);
	if (t == NULL)
		return;
	/* What imports must export to the same bytes, and serve uncles without faults. */
	ssize_t len = ppspp_merkle_export(t, NULL, 0);
	if (len < 0 || (size_t)len != n)
		abort();
	uint8_t *buf = malloc(n);
	if (buf == NULL || ppspp_merkle_export(t, buf, n) != len || memcmp(buf, d, n) != 0)
		abort();
	free(buf);
	struct ppspp_hash_node u[64];
	uint64_t count = ppspp_merkle_chunk_count(t);
	for (uint64_t c = 0; c < count && c < 256; c++) {
		(void)ppspp_merkle_uncles(t, c, u, 64);
		(void)ppspp_merkle_chunk_verified(t, c);
	}
	(void)ppspp_merkle_peaks(t, u, 64);
	ppspp_merkle_free(t);
}

static void fuzz_verify(const uint8_t *d, size_t n)
{
	if (n < 21)
		return;
	struct ppspp_merkle *t = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, 16, d, 20);
	if (t == NULL)
		abort();
	uint64_t chunk = d[20] % 16;
	d += 21;
	n -= 21;
	struct ppspp_hash_node nodes[8];
	int nn = 0;
	while (nn < 8 && n >= NODE_LEN + 1 && d[0] == 0xAA) {
		memcpy(&nodes[nn].bin, d + 1, 8);
		memcpy(nodes[nn].hash, d + 9, 20);
		nn++;
		d += NODE_LEN + 1;
		n -= NODE_LEN + 1;
	}
	int np = nn / 2 + (nn & 1);
	size_t len = n > 16 ? 16 : n;
	/* Peaks only with a chunk that proves them: add_peaks alone would size the tree for
	 * whatever height a forged single peak claims. */
	int rc = ppspp_merkle_add_peaks_with_chunk(t, nodes, np, chunk, d, len, nodes, nn);
	if (rc == 0 && !ppspp_merkle_chunk_verified(t, chunk))
		abort();
	(void)ppspp_merkle_verify_chunk(t, (chunk + 1) % 16, d, len, nodes, nn);
	ssize_t el = ppspp_merkle_export(t, NULL, 0);
	if (el > 0 && el < (1 << 20)) {
		uint8_t *buf = malloc((size_t)el);
		if (buf == NULL || ppspp_merkle_export(t, buf, (size_t)el) != el)
			abort();
		/* A tree we built ourselves must always import again. */
		struct ppspp_merkle *c = ppspp_merkle_import(buf, (size_t)el);
		if (c == NULL)
			abort();
		ppspp_merkle_free(c);
		free(buf);
	}
	ppspp_merkle_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	if (d[0] & 1)
		fuzz_verify(d + 1, n - 1);
	else
		fuzz_import(d + 1, n - 1);
	return 0;
}
