/* pcdn-bench: one program, one mode per subcommand, each mode in its own files. */
#ifndef PCDN_BENCH_H
#define PCDN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache_key;

/* A mode: `pcdn-bench NAME args...` calls main with argv[0] = NAME. */
struct bench_mode {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
};

/* mode_cache.c */
int bench_cache_main(int argc, char **argv);

/* Shared by the cache mode's baselines: lookups per second over the same keys. */
struct bench_keyset {
	const struct cache_key *keys; /* the cached keys, keys[i] -> slot value i */
	uint32_t nkeys;
	const struct cache_key *stream; /* lookup order */
	uint32_t nstream;
	uint64_t lookups; /* per measurement */
	unsigned burst;
};

/* Lookups per second of wall-clock time, and per second of the measuring thread's own CPU
 * time (what a core delivers; robust when the machine is shared). */
struct bench_rate {
	double wall;
	double cpu;
};

/* cache_lfht.c: liburcu cds_lfht (QSBR), one thread; negative rates on failure. */
struct bench_rate bench_lfht_lookups(const struct bench_keyset *ks);
/* cache_rte_hash.c (built with DPDK only): rte_hash in lock-free mode, bulk lookups, one
 * thread; the median of `repeat` measurements (EAL starts once per process). Returns a
 * negative errno when DPDK cannot start. */
struct bench_rate bench_rte_hash_lookups(const struct bench_keyset *ks, bool hugepages,
					 unsigned repeat);

/* cache_trace.c: miss ratios on generated traces. */
struct bench_trace {
	uint32_t *req;
	uint64_t n;
	uint32_t max_id; /* ids are < max_id */
};
int bench_trace_zipf(struct bench_trace *t, uint32_t objects, double alpha, uint64_t requests,
		     uint64_t seed);
int bench_trace_scan(struct bench_trace *t, uint32_t objects, double alpha, uint64_t requests,
		     uint64_t seed);
void bench_trace_free(struct bench_trace *t);
double bench_miss_lru(const struct bench_trace *t, uint32_t capacity);
double bench_miss_cache(const struct bench_trace *t, uint32_t capacity);

/* time */
double bench_now(void);
double bench_cpu_now(void); /* CPU time of the calling thread */
/* median of n values (sorts v) */
double bench_median(double *v, unsigned n);
/* Pins the calling thread to one CPU (ignored when that fails). */
void bench_pin_cpu(unsigned cpu);

#endif
