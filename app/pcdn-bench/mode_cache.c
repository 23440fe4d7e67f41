/* pcdn-bench cache: the chunk cache's lookup rate on N cached chunks with 1 and 2 reader
 * threads (bursts with prefetching, a quiescent state per burst, like a DPDK worker), the same
 * keys in cds_lfht and in DPDK rte_hash (lock-free mode) measured in the same run, and miss
 * ratios of the cache's S3-FIFO against exact LRU on generated traces. Prints a summary on
 * stderr and one JSON object on the last line of stdout. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cache.h"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_pin_cpu(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (unsigned)CPU_SETSIZE, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct opts {
	uint32_t chunks;
	uint64_t lookups;
	unsigned burst;
	unsigned repeat;
	uint32_t objects;
	uint64_t requests;
	bool miss_ratio;
	bool baselines;
	bool hugepages;
};

struct reader_arg {
	struct cache *c;
	const struct bench_keyset *ks;
	uint64_t offset;
	unsigned cpu;
	pthread_barrier_t *start;
	double t0, t1, c0, c1;
	uint64_t hits;
	int err;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	struct cache_reader *r;
	struct cache_hit hits[64];
	uint64_t done = 0, pos = a->offset;
	unsigned burst = a->ks->burst;

	bench_pin_cpu(a->cpu);
	r = cache_reader_register(a->c);
	if (!r)
		a->err = 1;
	pthread_barrier_wait(a->start);
	if (!r)
		return NULL;
	a->t0 = bench_now();
	a->c0 = bench_cpu_now();
	while (done < a->ks->lookups) {
		if (pos + burst > a->ks->nstream)
			pos = 0;
		a->hits += cache_lookup_burst(r, &a->ks->stream[pos], burst, hits);
		pos += burst;
		done += burst;
		/* one quiescent state per poll loop, as a worker does */
		cache_reader_quiescent(r);
	}
	a->t1 = bench_now();
	a->c1 = bench_cpu_now();
	cache_reader_unregister(r);
	return NULL;
}

/* Aggregate lookups per second of n concurrent readers: over the wall-clock span of the run,
 * and as the sum of each reader's lookups per second of its own CPU time. Negative on error. */
static struct bench_rate run_readers(struct cache *c, const struct bench_keyset *ks, unsigned n)
{
	struct reader_arg a[2];
	pthread_t th[2];
	pthread_barrier_t start;
	double first = 1e300, last = 0, cpu = 0;

	pthread_barrier_init(&start, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		a[i] = (struct reader_arg){ .c = c, .ks = ks, .cpu = i, .start = &start,
					    .offset = (uint64_t)ks->nstream / n * i / ks->burst *
						      ks->burst };
		pthread_create(&th[i], NULL, reader_main, &a[i]);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (unsigned i = 0; i < n; i++) {
		if (a[i].err || a[i].hits != ks->lookups)
			return (struct bench_rate){ -1, -1 };
		first = a[i].t0 < first ? a[i].t0 : first;
		last = a[i].t1 > last ? a[i].t1 : last;
		cpu += (double)ks->lookups / (a[i].c1 - a[i].c0);
	}
	return (struct bench_rate){ (double)ks->lookups * n / (last - first), cpu };
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static bool hugetlbfs_ready(uint64_t need_mb)
{
	FILE *f = fopen("/proc/mounts", "r");
	char line[512];
	bool mounted = false;
	unsigned long free_pages = 0, page_kb = 0;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (strstr(line, " hugetlbfs "))
				mounted = true;
		fclose(f);
	}
	f = fopen("/proc/meminfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "HugePages_Free: %lu", &free_pages);
			sscanf(line, "Hugepagesize: %lu kB", &page_kb);
		}
		fclose(f);
	}
	return mounted && free_pages * page_kb / 1024 >= need_mb;
}

/* 1-minute load average: the machine is shared, the figures need their context. */
static double loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double v = -1;

	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pcdn-bench cache [--chunks N] [--lookups N] [--burst N] [--repeat N]\n"
		"                        [--objects N] [--requests N] [--no-miss-ratio]\n"
		"                        [--no-baselines] [--no-hugepages] [--quick]\n"
		"  --chunks     cached 1 KiB chunks for the lookup rate (1048576)\n"
		"  --lookups    lookups per thread per measurement (33554432)\n"
		"  --burst      keys per cache_lookup_burst() call, <= 64 (32)\n"
		"  --repeat     measurements per figure, the median is reported (3)\n"
		"  --objects    distinct objects of the generated traces (1000000)\n"
		"  --requests   requests per trace (20000000)\n"
		"  --quick      1/8 of lookups and requests, one measurement\n");
}

int bench_cache_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "chunks", required_argument, NULL, 'c' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "burst", required_argument, NULL, 'b' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "objects", required_argument, NULL, 'o' },
		{ "requests", required_argument, NULL, 'q' },
		{ "no-miss-ratio", no_argument, NULL, 'M' },
		{ "no-baselines", no_argument, NULL, 'B' },
		{ "no-hugepages", no_argument, NULL, 'H' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .chunks = 1u << 20, .lookups = 1ull << 25, .burst = 32, .repeat = 3,
			  .objects = 1000000, .requests = 20000000, .miss_ratio = true,
			  .baselines = true, .hugepages = true };
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.chunks = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'l': o.lookups = strtoull(optarg, NULL, 0); break;
		case 'b': o.burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o.repeat = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'o': o.objects = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'q': o.requests = strtoull(optarg, NULL, 0); break;
		case 'M': o.miss_ratio = false; break;
		case 'B': o.baselines = false; break;
		case 'H': o.hugepages = false; break;
		case 'Q':
			o.lookups /= 8;
			o.requests /= 8;
			o.repeat = 1;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.chunks < 1024 || o.burst < 1 || o.burst > 64 || o.repeat < 1 || o.repeat > 15 ||
	    o.lookups < o.burst || o.objects < 1000 || o.requests < 1000) {
		usage(stderr);
		return 2;
	}
	o.lookups = o.lookups / o.burst * o.burst;

	double load_start = loadavg();

	/* ---- the cache with N chunks of 1 KiB in 16 swarms ---- */
	struct cache_conf conf;
	struct cache *c;
	cache_conf_init(&conf);
	conf.nclasses = 1;
	conf.classes[0] = (struct cache_class_conf){ .slot_size = 1024, .nslots = o.chunks };
	conf.max_swarms = 64;
	conf.max_readers = 4;
	conf.no_hugepages = !o.hugepages;
	c = cache_create(&conf);
	if (!c) {
		perror("pcdn-bench cache: cache_create");
		return 1;
	}
	struct cache_key *keys = malloc(sizeof(*keys) * o.chunks);
	uint32_t nstream = 1u << 22;
	struct cache_key *stream = malloc(sizeof(*stream) * nstream);
	uint8_t payload[1024];
	cache_swarm_t sw[16];
	if (!keys || !stream) {
		fprintf(stderr, "pcdn-bench cache: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < 16; i++) {
		uint8_t id[20] = { 0 };

		snprintf((char *)id, sizeof(id), "bench-swarm-%u", i);
		struct cache_swarm_conf sc = { .id = id, .id_len = 20, .chunk_size = 1024 };
		if (cache_swarm_add(c, &sc, &sw[i]) < 0) {
			fprintf(stderr, "pcdn-bench cache: swarm add failed\n");
			return 1;
		}
	}
	double t0 = bench_now();
	for (uint32_t i = 0; i < o.chunks; i++) {
		keys[i] = (struct cache_key){ sw[i % 16], i / 16 };
		memset(payload, (int)i, sizeof(payload));
		if (cache_insert(c, &keys[i], payload, sizeof(payload), 0) < 0) {
			fprintf(stderr, "pcdn-bench cache: insert %u failed\n", i);
			return 1;
		}
	}
	double fill = bench_now() - t0;
	uint64_t seed = 0x1234567;
	for (uint32_t i = 0; i < nstream; i++)
		stream[i] = keys[mix(++seed) % o.chunks];
	struct bench_keyset ks = { .keys = keys, .nkeys = o.chunks, .stream = stream,
				   .nstream = nstream, .lookups = o.lookups, .burst = o.burst };
	bool huge = cache_uses_hugepages(c);
	fprintf(stderr, "cache: %u chunks of 1 KiB inserted in %.2f s (%.2f M/s), hugepages %s\n",
		o.chunks, fill, o.chunks / fill / 1e6, huge ? "yes" : "no");

	double w1[15], c1[15], w2[15], c2[15], wl[15], cl[15];
	struct bench_rate r1, r2, rl = { -1, -1 }, rr = { -1, -1 };
	for (unsigned i = 0; i < o.repeat; i++) {
		struct bench_rate a = run_readers(c, &ks, 1), b = run_readers(c, &ks, 2);

		fprintf(stderr,
			"cache: run %u: 1 reader %.2f M/s (%.2f M per CPU-s), 2 readers %.2f M/s "
			"(%.2f M per CPU-s)\n",
			i, a.wall / 1e6, a.cpu / 1e6, b.wall / 1e6, b.cpu / 1e6);
		if (a.wall < 0 || b.wall < 0) {
			fprintf(stderr, "pcdn-bench cache: lookups missed cached keys\n");
			return 1;
		}
		w1[i] = a.wall;
		c1[i] = a.cpu;
		w2[i] = b.wall;
		c2[i] = b.cpu;
	}
	r1 = (struct bench_rate){ bench_median(w1, o.repeat), bench_median(c1, o.repeat) };
	r2 = (struct bench_rate){ bench_median(w2, o.repeat), bench_median(c2, o.repeat) };
	cache_destroy(c);

	if (o.baselines) {
		bench_pin_cpu(0);
		for (unsigned i = 0; i < o.repeat; i++) {
			struct bench_rate l = bench_lfht_lookups(&ks);

			fprintf(stderr, "cds_lfht: run %u: %.2f M/s (%.2f M per CPU-s)\n", i,
				l.wall / 1e6, l.cpu / 1e6);
			wl[i] = l.wall;
			cl[i] = l.cpu;
		}
		rl = (struct bench_rate){ bench_median(wl, o.repeat), bench_median(cl, o.repeat) };
	}

	/* ---- miss ratios ---- */
	struct {
		char name[32];
		double s3, lru;
	} mr[8];
	unsigned nmr = 0;
	if (o.miss_ratio) {
		static const double alphas[] = { 0.8, 1.0, 1.2 };

		for (unsigned a = 0; a < 4; a++) {
			struct bench_trace t;
			int rc = a < 3 ? bench_trace_zipf(&t, o.objects, alphas[a], o.requests, 42 + a)
				       : bench_trace_scan(&t, o.objects, 1.0, o.requests, 99);

			if (rc < 0) {
				fprintf(stderr, "pcdn-bench cache: trace: out of memory\n");
				return 1;
			}
			for (unsigned pct = 1; pct <= 10; pct += 9) {
				uint32_t cap = (uint32_t)((uint64_t)o.objects * pct / 100);

				if (a < 3)
					snprintf(mr[nmr].name, sizeof(mr[nmr].name), "zipf-%.1f-%upct",
						 alphas[a], pct);
				else
					snprintf(mr[nmr].name, sizeof(mr[nmr].name), "scan-%upct", pct);
				mr[nmr].s3 = bench_miss_cache(&t, cap);
				mr[nmr].lru = bench_miss_lru(&t, cap);
				fprintf(stderr, "miss ratio %-16s s3fifo %.4f  lru %.4f\n", mr[nmr].name,
					mr[nmr].s3, mr[nmr].lru);
				if (mr[nmr].s3 < 0 || mr[nmr].lru < 0) {
					fprintf(stderr, "pcdn-bench cache: replay failed\n");
					return 1;
				}
				nmr++;
			}
			bench_trace_free(&t);
		}
	}

#ifdef PCDN_BENCH_HAVE_DPDK
	if (o.baselines) {
		bool eal_huge = o.hugepages && hugetlbfs_ready(1024);

		rr = bench_rte_hash_lookups(&ks, eal_huge, o.repeat);
		fprintf(stderr, "rte_hash: %.2f M/s (%.2f M per CPU-s) (median, %s)\n", rr.wall / 1e6,
			rr.cpu / 1e6, eal_huge ? "hugepages" : "no hugepages");
	}
#else
	(void)hugetlbfs_ready;
#endif

	/* Main keys: per CPU-second of the measuring threads (per core); *_wall: per second of
	 * wall-clock time, which on a shared machine also counts time other processes ran. */
	printf("{\"bench\": \"cache\", \"chunks\": %u, \"burst\": %u, \"repeat\": %u, "
	       "\"hugepages\": %s, \"loadavg_start\": %.2f, \"loadavg_end\": %.2f, "
	       "\"lookups_per_sec_1t\": %.0f, \"lookups_per_sec_2t\": %.0f, "
	       "\"scaling_2t\": %.3f, \"lookups_per_sec_1t_wall\": %.0f, "
	       "\"lookups_per_sec_2t_wall\": %.0f, ",
	       o.chunks, o.burst, o.repeat, huge ? "true" : "false", load_start, loadavg(), r1.cpu,
	       r2.cpu, r2.cpu / r1.cpu, r1.wall, r2.wall);
	if (rl.cpu > 0)
		printf("\"lfht_lookups_per_sec_1t\": %.0f, \"lfht_lookups_per_sec_1t_wall\": %.0f, ",
		       rl.cpu, rl.wall);
	else
		printf("\"lfht_lookups_per_sec_1t\": null, ");
	if (rr.cpu > 0)
		printf("\"rte_hash_lookups_per_sec_1t\": %.0f, "
		       "\"rte_hash_lookups_per_sec_1t_wall\": %.0f, ",
		       rr.cpu, rr.wall);
	else
		printf("\"rte_hash_lookups_per_sec_1t\": null, ");
	printf("\"miss_ratio\": {");
	for (unsigned i = 0; i < nmr; i++)
		printf("%s\"%s\": {\"s3fifo\": %.5f, \"lru\": %.5f}", i ? ", " : "", mr[i].name,
		       mr[i].s3, mr[i].lru);
	printf("}}\n");
	free(keys);
	free(stream);
	return 0;
}
