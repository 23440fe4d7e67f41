/* Baseline for the cache benchmark (built with DPDK only): DPDK rte_hash in lock-free
 * read/write-concurrency mode with the same keys, bulk lookups of the same burst size, one
 * thread. EAL starts here, late in the run, with its own file prefix; hugepages when the
 * caller says they are there, --no-huge otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include "bench.h"
#include "cache.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_rte_hash_lookups(const struct bench_keyset *ks, bool hugepages, unsigned repeat)
{
	char prefix[64], name[32];
	char *argv[] = { "pcdn-bench", "--no-pci", prefix, "-l", "0", "--log-level", "lib.*:error",
			 hugepages ? "--socket-mem=1024" : "--no-huge", hugepages ? NULL : "-m",
			 hugepages ? NULL : "1536", NULL };
	int argc = hugepages ? 8 : 10;
	struct rte_hash *h;
	uint64_t found = 0, done = 0, pos = 0;
	const void *kp[64];
	void *data[64];
	double t0, t1;

	snprintf(prefix, sizeof(prefix), "--file-prefix=pcdn-bench-%d", (int)getpid());
	if (rte_eal_init(argc, argv) < 0)
		return -EIO;
	snprintf(name, sizeof(name), "bench_%d", (int)getpid());
	struct rte_hash_parameters p = {
		.name = name,
		.entries = ks->nkeys + ks->nkeys / 4,
		.key_len = sizeof(struct cache_key),
		.hash_func = rte_hash_crc,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	h = rte_hash_create(&p);
	if (!h) {
		rte_eal_cleanup();
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < ks->nkeys; i++) {
		if (rte_hash_add_key_data(h, &ks->keys[i], (void *)(uintptr_t)(i + 1)) < 0) {
			rte_hash_free(h);
			rte_eal_cleanup();
			return -ENOSPC;
		}
	}
	unsigned burst = ks->burst > 64 ? 64 : ks->burst;
	double v[16];

	if (repeat > 16)
		repeat = 16;
	for (unsigned r = 0; r < repeat; r++) {
		found = done = 0;
		t0 = bench_now();
		while (done < ks->lookups) {
			uint64_t mask = 0;

			for (unsigned b = 0; b < burst; b++) {
				kp[b] = &ks->stream[pos];
				pos = pos + 1 == ks->nstream ? 0 : pos + 1;
			}
			found += (unsigned)rte_hash_lookup_bulk_data(h, kp, burst, &mask, data);
			done += burst;
		}
		t1 = bench_now();
		v[r] = found == done ? (double)done / (t1 - t0) : -EIO;
	}
	rte_hash_free(h);
	rte_eal_cleanup();
	qsort(v, repeat, sizeof(v[0]), cmp_double);
	return v[0] < 0 ? v[0] : v[repeat / 2];
}
