/* pcdn-bench: benchmarks of pcdn components, one subcommand per mode; every mode prints one JSON
 * object on its last line (scripts/bench/<mode>.sh). Modes live in their own files; a mode
 * that needs DPDK is compiled only when DPDK is found. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#ifdef PCDN_BENCH_HAVE_DPDK
#include "dp_bench.h"
#endif

static const struct bench_mode modes[] = {
	{ "cache", "chunk cache: lookup rate (vs cds_lfht, rte_hash) and miss ratios (vs LRU)",
	  bench_cache_main },
#ifdef PCDN_BENCH_HAVE_DPDK
	{ "dp", "cacher data plane: emulated CSCs over net_ring / net_memif (DPDK)", bench_dp_main },
	{ "dp-kernel", "the same CSC load on a kernel UDP socket (recvmmsg/sendmmsg)", bench_dp_kernel_main },
#endif
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pcdn-bench MODE [options]   (pcdn-bench MODE --help)\nmodes:\n");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-8s %s\n", modes[i].name, modes[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			return modes[i].main(argc - 1, argv + 1);
	fprintf(stderr, "pcdn-bench: unknown mode '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
