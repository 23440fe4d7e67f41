/* Baseline for the cache benchmark (built with DPDK only): DPDK rte_hash in lock-free
 * read/write-concurrency mode with the same keys, bulk lookups of the same burst size, one
 * thread. EAL starts here, late in the run, with its own file prefix; hugepages when the
 * caller says they are there, --no-huge otherwise. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include "bench.h"
#include "cache.h"

/* The EAL's end, and its runtime directory (left empty by the in-memory modes) removed. */
static void eal_done(const char *rundir)
{
	rte_eal_cleanup();
	rmdir(rundir);
}

struct bench_rate bench_rte_hash_lookups(const struct bench_keyset *ks, bool hugepages,
					 unsigned repeat)
{
	char prefix[64], name[32], rundir[PATH_MAX];
	/* Nothing shared with another process (no files in the runtime directory, no telemetry
	 * socket there, hugepage files unlinked once mapped), so that a run leaves nothing behind:
	 * the EAL keeps both kinds of file after its cleanup. */
	char *argv[] = { "pcdn-bench", "--no-pci", prefix, "-l", "0", "--log-level", "lib.*:error",
			 "--no-telemetry", hugepages ? "--in-memory" : "--no-shconf",
			 hugepages ? "--socket-mem=1024" : "--no-huge", hugepages ? NULL : "-m",
			 hugepages ? NULL : "1536", NULL };
	int argc = 0;
	struct rte_hash *h;
	uint64_t found = 0, done = 0, pos = 0;
	const void *kp[64];
	void *data[64];
	double t0, t1, c0, c1;
	struct bench_rate fail = { -1, -1 };

	snprintf(prefix, sizeof(prefix), "--file-prefix=pcdn-bench-%d", (int)getpid());
	while (argv[argc]) /* the hugepage form ends at its first NULL */
		argc++;
	if (rte_eal_init(argc, argv) < 0)
		return fail;
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
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
		eal_done(rundir);
		return fail;
	}
	for (uint32_t i = 0; i < ks->nkeys; i++) {
		if (rte_hash_add_key_data(h, &ks->keys[i], (void *)(uintptr_t)(i + 1)) < 0) {
			rte_hash_free(h);
			eal_done(rundir);
			return fail;
		}
	}
	unsigned burst = ks->burst > 64 ? 64 : ks->burst;
	double vw[16], vc[16];

	if (repeat > 16)
		repeat = 16;
	for (unsigned r = 0; r < repeat; r++) {
		found = done = 0;
		t0 = bench_now();
		c0 = bench_cpu_now();
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
		c1 = bench_cpu_now();
		if (found != done) {
			rte_hash_free(h);
			eal_done(rundir);
			return fail;
		}
		vw[r] = (double)done / (t1 - t0);
		vc[r] = (double)done / (c1 - c0);
	}
	rte_hash_free(h);
	eal_done(rundir);
	return (struct bench_rate){ bench_median(vw, repeat), bench_median(vc, repeat) };
}
