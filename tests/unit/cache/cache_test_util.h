/* Test helpers: chunk payloads derived from their key, so any reader can check every byte. */
#ifndef CACHE_TEST_UTIL_H
#define CACHE_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "cache.h"

static inline uint64_t test_mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	x ^= x >> 33;
	return x;
}

/* The swarm's generation is left out: a chunk re-inserted after its swarm was re-added has the
 * same bytes. */
static inline uint64_t test_seed(uint32_t swarm_tag, uint64_t chunk)
{
	return test_mix(((uint64_t)swarm_tag << 40) ^ chunk ^ 0x5bd1e995u);
}

static inline void test_fill(uint64_t seed, uint8_t *buf, uint32_t len)
{
	uint64_t x = seed | 1;

	for (uint32_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
	}
}

/* RFC 1071 sum of big-endian 16-bit words, folded (what cache_chunk_sum16 must give), done
 * the slow obvious way. */
static inline uint16_t test_sum16(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i < len; i += 2) {
		sum += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return (uint16_t)sum;
}

/* 0 when buf holds exactly what test_fill would write. */
static inline int test_check(uint64_t seed, const uint8_t *buf, uint32_t len)
{
	uint64_t x = seed | 1;

	for (uint32_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (memcmp(buf + i, &x, len - i < 8 ? len - i : 8) != 0)
			return -1;
	}
	return 0;
}

#endif
