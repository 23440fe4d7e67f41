/* How the fuzz target turns its first four input bytes into the codec context it reads the
 * rest with; shared with the seed generator so seeds select the context they were written for. */
#ifndef PPSPP_FUZZ_CTX_H
#define PPSPP_FUZZ_CTX_H

#include "ppspp.h"

#define FUZZ_CTX_BYTES 4

/* byte 0: cam (5 = unknown); byte 1: hash length (0..4: that hash function, 5: none, else the
 * byte itself); byte 2: signature length (0, 64, 96 or the byte); byte 3: chunk size. */
static inline struct ppspp_codec_ctx fuzz_ctx(const uint8_t *p)
{
	static const uint32_t chunk[8] = {1024, PPSPP_CHUNK_SIZE_VARIABLE, 16, 1, 0, 512, 8192, 0};
	struct ppspp_codec_ctx c;
	unsigned h = p[1] % 8, s = p[2] % 4, k = p[3] % 8;

	c.cam = (uint8_t)(p[0] % 6);
	c.hash_len = h < 5 ? (uint8_t)ppspp_hash_len((uint8_t)h) : h == 5 ? 0 : p[1];
	c.sig_len = s == 0 ? 0 : s == 1 ? 64 : s == 2 ? 96 : p[2];
	c.chunk_size = k == 7 ? (uint32_t)p[3] * 3u + 1u : chunk[k];
	return c;
}

#endif
