/* ppspp_merkle.h's thread guarantee, under stress (also run under ThreadSanitizer): one writer
 * verifies the chunks of a receiver's tree in random order while reader threads, started once
 * the peaks were published, keep asking for peaks, uncles and verified bits. Every chunk a
 * reader sees verified must give exactly the source tree's uncle hashes; peaks never change.
 * This is how pcdn-cacherd's workers read the control thread's trees. Exit 0 or 1. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppspp.h"

#define CHUNK	 256u
#define N_CHUNKS 3001u
#define READERS	 2

static struct ppspp_merkle *src, *rcv;
static uint8_t *content;
static atomic_bool published, done;
static atomic_ulong checks, failures;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *reader(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull + (uintptr_t)arg;
	struct ppspp_hash_node want[64], got[64], pk[64];
	int np_src = ppspp_merkle_peaks(src, pk, 64);

	while (!atomic_load_explicit(&published, memory_order_acquire))
		;
	while (!atomic_load_explicit(&done, memory_order_acquire)) {
		uint64_t c = rnd(&seed) % N_CHUNKS;
		struct ppspp_hash_node p2[64];

		if (ppspp_merkle_peaks(rcv, p2, 64) != np_src ||
		    memcmp(p2, pk, sizeof(pk[0]) * (size_t)np_src)) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		if (ppspp_merkle_chunk_count(rcv) != N_CHUNKS)
			atomic_fetch_add(&failures, 1);
		if (!ppspp_merkle_chunk_verified(rcv, c))
			continue;
		int n = ppspp_merkle_uncles(rcv, c, got, 64);
		int m = ppspp_merkle_uncles(src, c, want, 64);
		if (n < 0 || n != m) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		for (int i = 0; i < n; i++)
			if (got[i].bin != want[i].bin ||
			    memcmp(got[i].hash, want[i].hash, ppspp_merkle_hash_len(src)) != 0)
				atomic_fetch_add(&failures, 1);
		if (ppspp_merkle_chunk_len(rcv, c) != ppspp_merkle_chunk_len(src, c) &&
		    ppspp_merkle_chunk_len(rcv, c) != 0)
			atomic_fetch_add(&failures, 1);
		atomic_fetch_add(&checks, 1);
	}
	return NULL;
}

int main(void)
{
	uint64_t size = (uint64_t)N_CHUNKS * CHUNK - 100, seed = 42;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	struct ppspp_hash_node peaks[64], unc[64];
	pthread_t th[READERS];
	uint32_t *order = malloc(N_CHUNKS * sizeof(*order));

	content = malloc(size);
	if (!content || !order)
		return 1;
	for (uint64_t i = 0; i < size; i++)
		content[i] = (uint8_t)rnd(&seed);
	src = ppspp_merkle_build_mem(content, size, PPSPP_HASH_SHA256, CHUNK);
	if (!src)
		return 1;
	ppspp_merkle_root(src, root);
	rcv = ppspp_merkle_create_verifier(PPSPP_HASH_SHA256, CHUNK, root,
					   ppspp_merkle_hash_len(src));
	int np = ppspp_merkle_peaks(src, peaks, 64);
	if (!rcv || np <= 0 || ppspp_merkle_add_peaks(rcv, peaks, np) != 0) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	for (int i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)i);
	atomic_store_explicit(&published, true, memory_order_release);
	for (uint32_t i = 0; i < N_CHUNKS; i++)
		order[i] = i;
	for (uint32_t i = N_CHUNKS - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd(&seed) % (i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	int bad = 0;
	for (uint32_t i = 0; i < N_CHUNKS; i++) {
		uint64_t c = order[i];
		uint64_t off = c * CHUNK;
		size_t len = off + CHUNK <= size ? CHUNK : (size_t)(size - off);
		int n = ppspp_merkle_uncles(src, c, unc, 64);

		if (n < 0 || ppspp_merkle_verify_chunk(rcv, c, content + off, len, unc, n) != 0)
			bad++;
		/* keep the readers in the race: let them check something every 64 chunks */
		if (i % 64 == 63) {
			unsigned long seen = atomic_load(&checks);
			while (atomic_load(&checks) == seen)
				;
		}
	}
	/* readers keep checking the complete tree until they have seen plenty */
	while (atomic_load(&checks) < 20000)
		;
	atomic_store_explicit(&done, true, memory_order_release);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	printf("verified %u chunks (%d failed), %lu reader checks, %lu mismatches\n", N_CHUNKS, bad,
	       (unsigned long)atomic_load(&checks), (unsigned long)atomic_load(&failures));
	ppspp_merkle_free(rcv);
	ppspp_merkle_free(src);
	free(content);
	free(order);
	return bad || atomic_load(&failures) ? 1 : 0;
}
