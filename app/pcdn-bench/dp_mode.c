/* pcdn-bench dp: emulated CSCs against the cacher's data plane (pcdn-cacherd's worker code:
 * lib/net worker + lib/ppspp engine through app/pcdn-cacherd/ppspp_glue.c + lib/cache).
 *
 *   --setup ring          one process: cacher workers and the generator on separate lcores,
 *                         joined by a net_ring pair (one ring per worker and direction); then
 *                         the I/O ceiling of the same kind of ring pair (bare mbufs forwarded)
 *   --setup memif-server  the cacher side on a net_memif port (role=server)
 *   --setup memif-client  the generator on a net_memif port (role=client)
 *
 * One-shot: per-second lines on stderr, one JSON object on stdout's last line. --interactive:
 * a testpmd-like prompt (start, stop, show, quit). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "bench.h"
#include "dp_bench.h"
#include "dp_cacher.h"
#include "dp_port.h"
#include "pcdn_common.h"

#define DP_PPSPP_PORT  6778
#define DP_CLIENT_PORT 40000
#define DP_RING_SIZE   65536

enum dp_setup { SETUP_RING, SETUP_MEMIF_SERVER, SETUP_MEMIF_CLIENT };

struct dp_opts {
	enum dp_setup setup;
	const char *memif_socket;
	unsigned clients, window, workers, sample;
	uint32_t chunk_size;
	uint16_t slot_headroom;
	uint64_t content_mib;
	int hash_fn;
	uint64_t seed;
	double seconds, warmup, io_seconds;
	bool interactive;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pcdn-bench dp [EAL args] -- [options]\n"
	    "  --setup ring|memif-server|memif-client   (default ring)\n"
	    "  --memif-socket PATH     memif control socket (default /tmp/pcdn-bench-memif.sock)\n"
	    "  --clients N             emulated CSCs (default 64, at most %u)\n"
	    "  --window N              chunks requested ahead per client, power of two (default "
	    "64)\n"
	    "  --workers N             cacher worker lcores (default 1)\n"
	    "  --chunk-size N          bytes (default 1024)\n"
	    "  --slot-headroom N       cache slot headroom for DATA sent in place, 0..4096, a\n"
	    "                          multiple of 64 (default 256, pcdn-cacherd's; 0: chained)\n"
	    "  --content-mib N         swarm size (default 16)\n"
	    "  --hash NAME             Merkle hash (default sha256)\n"
	    "  --seed N                content seed (default 1; both memif processes alike)\n"
	    "  --seconds S             measured time (default 5)\n"
	    "  --warmup S              before measuring (default 1)\n"
	    "  --sample N              verify one DATA in N, power of two (default 1024)\n"
	    "  --io-limit-seconds S    ring set-up: I/O ceiling measurement (default 2, 0: none)\n"
	    "  --interactive           prompt: start, stop, show, quit\n"
	    "lcores (-l): the main lcore, then one per cacher worker, then the generator's.\n",
	    DPG_MAX_CLIENTS);
}

static int parse_u(const char *s, unsigned long long lo, unsigned long long hi,
		   unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct dp_opts *o)
{
	static const struct option longs[] = {{"setup", required_argument, NULL, 'S'},
					      {"memif-socket", required_argument, NULL, 'M'},
					      {"clients", required_argument, NULL, 'c'},
					      {"window", required_argument, NULL, 'w'},
					      {"workers", required_argument, NULL, 'W'},
					      {"chunk-size", required_argument, NULL, 'k'},
					      {"slot-headroom", required_argument, NULL, 'R'},
					      {"content-mib", required_argument, NULL, 'm'},
					      {"hash", required_argument, NULL, 'H'},
					      {"seed", required_argument, NULL, 'r'},
					      {"seconds", required_argument, NULL, 't'},
					      {"warmup", required_argument, NULL, 'u'},
					      {"sample", required_argument, NULL, 's'},
					      {"io-limit-seconds", required_argument, NULL, 'i'},
					      {"interactive", no_argument, NULL, 'I'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	unsigned long long v;
	int ch;

	*o = (struct dp_opts){.setup = SETUP_RING,
			      .memif_socket = "/tmp/pcdn-bench-memif.sock",
			      .clients = 64,
			      .window = 64,
			      .workers = 1,
			      .sample = 1024,
			      .chunk_size = 1024,
			      .slot_headroom = 256,
			      .content_mib = 16,
			      .hash_fn = PPSPP_HASH_SHA256,
			      .seed = 1,
			      .seconds = 5,
			      .warmup = 1,
			      .io_seconds = 2};
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (strcmp(optarg, "ring") == 0)
				o->setup = SETUP_RING;
			else if (strcmp(optarg, "memif-server") == 0)
				o->setup = SETUP_MEMIF_SERVER;
			else if (strcmp(optarg, "memif-client") == 0)
				o->setup = SETUP_MEMIF_CLIENT;
			else
				goto bad;
			break;
		case 'M':
			o->memif_socket = optarg;
			break;
		case 'c':
			if (parse_u(optarg, 1, DPG_MAX_CLIENTS, &v) < 0)
				goto bad;
			o->clients = (unsigned)v;
			break;
		case 'w':
			if (parse_u(optarg, 1, 1024, &v) < 0 || (v & (v - 1)))
				goto bad;
			o->window = (unsigned)v;
			break;
		case 'W':
			if (parse_u(optarg, 1, DP_GEN_QUEUES, &v) < 0)
				goto bad;
			o->workers = (unsigned)v;
			break;
		case 'k':
			if (parse_u(optarg, 64, 1400, &v) < 0)
				goto bad;
			o->chunk_size = (uint32_t)v;
			break;
		case 'R':
			if (parse_u(optarg, 0, 4096, &v) < 0 || v % 64)
				goto bad;
			o->slot_headroom = (uint16_t)v;
			break;
		case 'm':
			if (parse_u(optarg, 1, 4096, &v) < 0)
				goto bad;
			o->content_mib = v;
			break;
		case 'H':
			if ((o->hash_fn = ppspp_hash_from_name(optarg)) < 0)
				goto bad;
			break;
		case 'r':
			if (parse_u(optarg, 0, UINT64_MAX, &v) < 0)
				goto bad;
			o->seed = v;
			break;
		case 't':
		case 'u':
		case 'i': {
			char *end;
			double d = strtod(optarg, &end);
			if (*end || end == optarg || d < 0 || d > 86400 || (ch == 't' && d <= 0))
				goto bad;
			*(ch == 't' ? &o->seconds : ch == 'u' ? &o->warmup : &o->io_seconds) = d;
			break;
		}
		case 's':
			if (parse_u(optarg, 1, 1u << 30, &v) < 0 || (v & (v - 1)))
				goto bad;
			o->sample = (unsigned)v;
			break;
		case 'I':
			o->interactive = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pcdn-bench dp: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "pcdn-bench dp: bad value '%s' for %s\n", optarg, argv[optind - 1]);
	return -1;
}

/* ---- statistics ------------------------------------------------------------------------------ */

struct dp_run {
	struct dp_opts o;
	double xrtt_before, xrtt_after; /* ring set-up: xcore_rtt_ns, < 0 when not measured */
	struct dp_cacher *dc;  /* NULL in the memif client */
	struct dp_genport *gp; /* NULL in the memif server */
	struct dpg *gen;
	unsigned nw;
};

struct dp_snap {
	double t;
	struct dpg_counters g;
	uint64_t gen_cpu_ns, gen_loops, gen_idle;
	uint64_t w_data[NET_MAX_WORKERS], w_busy[NET_MAX_WORKERS], w_cpu_ns[NET_MAX_WORKERS];
	uint64_t w_drops[NET_MAX_WORKERS], w_idle[NET_MAX_WORKERS];
	uint64_t w_cb_ns[NET_MAX_WORKERS], w_cb_data[NET_MAX_WORKERS];
	struct dpg_hist lat[NET_MAX_WORKERS];
};

static double now_s(void)
{
	return (double)pcdn_now_ns() / 1e9;
}

static void snap_take(const struct dp_run *r, struct dp_snap *s)
{
	s->t = now_s();
	if (r->gen) {
		s->g = *dpg_counters(r->gen);
		for (unsigned i = 0; i < r->nw; i++)
			s->lat[i] = *dpg_latency(r->gen, i);
	}
	if (r->gp) {
		s->gen_cpu_ns = dp_thread_cpu_ns(r->gp->tid);
		s->gen_loops = r->gp->loops;
		s->gen_idle = r->gp->idle_loops;
	}
	if (r->dc) {
		struct net_counters per[NET_MAX_WORKERS], sum;
		net_dataplane_counters(r->dc->dp, &sum, per);
		for (unsigned i = 0; i < r->nw; i++) {
			uint64_t d = 0;
			for (unsigned k = 0; k < NET_DROP_MAX; k++)
				d += per[i].drop[k];
			s->w_data[i] = per[i].ctr[NET_CTR_UDP_OUT_EXTBUF];
			s->w_drops[i] = d;
			s->w_busy[i] = r->dc->w[i].busy_ns;
			s->w_idle[i] = r->dc->w[i].idle_ns;
			s->w_cb_ns[i] = r->dc->w[i].clean_busy_ns;
			s->w_cb_data[i] = r->dc->w[i].clean_busy_data;
			s->w_cpu_ns[i] = dp_thread_cpu_ns(r->dc->w[i].tid);
		}
	}
}

struct dp_result {
	double dt, data_mpps, payload_gbps, p50, p99;
	double w_mpps[NET_MAX_WORKERS], w_busy[NET_MAX_WORKERS], w_cpu[NET_MAX_WORKERS];
	double w_p50[NET_MAX_WORKERS], w_p99[NET_MAX_WORKERS], w_cap[NET_MAX_WORKERS],
	    w_idle[NET_MAX_WORKERS];
	double busy_avg, cpu_avg, sent_mpps, mpps_per_cpu, mpps_per_busy, mpps_per_clean_busy;
	double gen_cpu, gen_busy;
	uint64_t drops;
};

static void result_of(const struct dp_run *r, const struct dp_snap *a, const struct dp_snap *b,
		      struct dp_result *res)
{
	struct dpg_hist all, all0;
	uint64_t sent = 0, cpu = 0, busy = 0, cb_ns = 0, cb_data = 0;
	double work_s = 0;

	memset(res, 0, sizeof(*res));
	memset(&all, 0, sizeof(all));
	memset(&all0, 0, sizeof(all0));
	res->dt = b->t - a->t;
	if (res->dt <= 0)
		return;
	res->data_mpps = (double)(b->g.data_in - a->g.data_in) / res->dt / 1e6;
	res->payload_gbps = (double)(b->g.payload_bytes - a->g.payload_bytes) * 8 / res->dt / 1e9;
	for (unsigned i = 0; i < r->nw; i++) {
		for (unsigned k = 0; k < DPG_HIST_BUCKETS; k++) {
			all.n[k] += b->lat[i].n[k];
			all0.n[k] += a->lat[i].n[k];
		}
		res->w_p50[i] = dpg_hist_pct_us(&b->lat[i], &a->lat[i], 50);
		res->w_p99[i] = dpg_hist_pct_us(&b->lat[i], &a->lat[i], 99);
		res->w_mpps[i] = (double)(b->w_data[i] - a->w_data[i]) / res->dt / 1e6;
		res->w_busy[i] = (double)(b->w_busy[i] - a->w_busy[i]) / 1e9 / res->dt;
		res->w_cpu[i] = (double)(b->w_cpu_ns[i] - a->w_cpu_ns[i]) / 1e9 / res->dt;
		res->drops += b->w_drops[i] - a->w_drops[i];
		sent += b->w_data[i] - a->w_data[i];
		cpu += b->w_cpu_ns[i] - a->w_cpu_ns[i];
		busy += b->w_busy[i] - a->w_busy[i];
		/* CPU time the worker ran minus its idle polling: the time it spent on packets */
		double idle_s = (double)(b->w_idle[i] - a->w_idle[i]) / 1e9;
		double cpu_s = (double)(b->w_cpu_ns[i] - a->w_cpu_ns[i]) / 1e9;
		double wk = cpu_s > idle_s ? cpu_s - idle_s : 0;
		res->w_cap[i] = wk > 0 ? (double)(b->w_data[i] - a->w_data[i]) / wk / 1e6 : 0;
		work_s += wk;
		res->w_idle[i] = cpu_s > 0 ? idle_s / cpu_s : 0;
		cb_ns += b->w_cb_ns[i] - a->w_cb_ns[i];
		cb_data += b->w_cb_data[i] - a->w_cb_data[i];
	}
	res->mpps_per_clean_busy = cb_ns ? (double)cb_data / ((double)cb_ns / 1e9) / 1e6 : 0;
	res->p50 = dpg_hist_pct_us(&all, &all0, 50);
	res->p99 = dpg_hist_pct_us(&all, &all0, 99);
	if (r->dc) {
		res->sent_mpps = (double)sent / res->dt / 1e6;
		res->busy_avg = (double)busy / 1e9 / res->dt / r->nw;
		res->cpu_avg = (double)cpu / 1e9 / res->dt / r->nw;
		/* per core-second the worker threads actually ran (the machine is shared) */
		res->mpps_per_cpu = cpu ? (double)sent / ((double)cpu / 1e9) / 1e6 : 0;
		/* per core-second of packet work: what one core does when it runs this loop */
		res->mpps_per_busy = work_s > 0 ? (double)sent / work_s / 1e6 : 0;
	}
	if (!r->gen) { /* the memif server: what its workers sent */
		res->data_mpps = res->sent_mpps;
		res->payload_gbps = res->sent_mpps * 1e6 * (double)r->o.chunk_size * 8 / 1e9;
	}
	if (r->gp) {
		res->gen_cpu = (double)(b->gen_cpu_ns - a->gen_cpu_ns) / 1e9 / res->dt;
		uint64_t loops = b->gen_loops - a->gen_loops;
		res->gen_busy =
		    loops ? 1.0 - (double)(b->gen_idle - a->gen_idle) / (double)loops : 0;
	}
}

static void print_line(FILE *f, const struct dp_run *r, const struct dp_result *x,
		       const struct dp_snap *b)
{
	fprintf(f, "DATA %.3f Mpps  payload %.2f Gbps  latency p50 %.1f us p99 %.1f us",
		x->data_mpps, x->payload_gbps, x->p50, x->p99);
	if (r->gen)
		fprintf(f, "  verified %llu failed %llu", (unsigned long long)b->g.verified,
			(unsigned long long)b->g.verify_failed);
	if (r->gp)
		fprintf(f, "  generator cpu %.0f%% (empty polls %.0f%%)", x->gen_cpu * 100,
			(1 - x->gen_busy) * 100);
	if (getenv("PCDN_DP_DEBUG")) {
		struct rte_ring *rd = rte_ring_lookup("dpb_data0"), *rq = rte_ring_lookup("dpb_req0");
		static uint64_t pl, pd;
		uint64_t l = r->dc ? r->dc->w[0].loops : 0, dd = b->g.data_in;
		fprintf(f, " [loops %.0f/s, DATA/loop %.2f]", (double)(l - pl), l > pl ? (double)(dd - pd) / (double)(l - pl) : 0);
		pl = l;
		pd = dd;
		fprintf(f, " [ring data %u req %u done %u]", rd ? rte_ring_count(rd) : 0,
			rq ? rte_ring_count(rq) : 0, r->gp && r->gp->done[0] ? rte_ring_count(r->gp->done[0]) : 0);
	}
	fputc('\n', f);
	if (!r->dc)
		return;
	for (unsigned i = 0; i < r->nw; i++)
		fprintf(f,
			"  worker %u: DATA %.3f Mpps  %.2f Gbps  p50 %.1f us p99 %.1f us  "
			"busy %.0f%% cpu %.0f%% (idle polling %.0f%% of it)  %.3f Mpps per working "
			"core-second\n",
			i, x->w_mpps[i], x->w_mpps[i] * 1e6 * (double)r->o.chunk_size * 8 / 1e9,
			x->w_p50[i], x->w_p99[i], x->w_busy[i] * 100, x->w_cpu[i] * 100,
			x->w_idle[i] * 100, x->w_cap[i]);
}

/* ---- set-ups --------------------------------------------------------------------------------- */

static int lcore_list(unsigned *out, unsigned max)
{
	unsigned n = 0, l;
	RTE_LCORE_FOREACH_WORKER(l)
	{
		if (n < max)
			out[n] = l;
		n++;
	}
	return (int)n;
}

/* Frames in flight are bounded by the clients' windows (DATA) and their requests: four times
 * that leaves room for retransmissions and the mempool caches. */
static unsigned pool_size(const struct dp_opts *o)
{
	unsigned n = 16383, need = 4 * o->clients * o->window + 4096;
	while (n < need && n < (1u << 20) - 1)
		n = n * 2 + 1;
	return n;
}

static struct dp_cacher *cacher_start(const struct dp_opts *o, uint16_t port,
				      const unsigned *lcores)
{
	struct dp_cacher *dc = rte_zmalloc("dp_cacher", sizeof(*dc), 64);
	struct dp_swarm_conf sc = {.content_len = o->content_mib << 20,
				   .chunk_size = o->chunk_size,
				   .hash_fn = (uint8_t)o->hash_fn,
				   .seed = o->seed,
				   .slot_headroom = o->slot_headroom};
	struct net_dataplane_config cfg = {
	    .n_workers = o->workers,
	    .ppspp_port = DP_PPSPP_PORT,
	    .mbufs = pool_size(o),
	    .mbuf_cache = 256,
	    .max_mtu = 1500,
	    .ext_mbufs = pool_size(o),
	    .neigh_capacity = 2 * o->clients + 16,
	    .socket_id = SOCKET_ID_ANY,
	    .neigh = {.reachable_ns = 3600ull * 1000000000,
		      .retrans_ns = 100000000,
		      .max_probes = 20},
	};
	struct net_iface ifc = {0};
	struct net_ipaddr a;
	uint8_t plen;
	int rc;

	if (!dc)
		return NULL;
	dc->n_workers = o->workers;
	dc->ppspp_port = DP_PPSPP_PORT;
	dc->max_channels = 2 * o->clients + 16;
	if ((rc = dp_cacher_create(dc, &sc, o->workers + 2)) < 0) {
		fprintf(stderr, "pcdn-bench dp: swarm and cache: %s\n", pcdn_strerror(rc));
		return NULL;
	}
	dc->dp = net_dataplane_create(&cfg);
	if (!dc->dp) {
		fprintf(stderr, "pcdn-bench dp: data plane: %s\n", strerror(errno));
		return NULL;
	}
	net_ipaddr_parse("10.0.255.254/16", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	if ((rc = net_port_add(dc->dp, port, &ifc, 1500, 4096, 4096)) < 0 ||
	    (rc = dp_cacher_workers(dc, lcores)) < 0 || (rc = net_dataplane_start(dc->dp)) < 0) {
		fprintf(stderr, "pcdn-bench dp: cacher port: %s\n", pcdn_strerror(rc));
		return NULL;
	}
	return dc;
}

static int workers_launch(struct dp_cacher *dc, const unsigned *lcores)
{
	for (unsigned i = 0; i < dc->n_workers; i++) {
		if (rte_eal_remote_launch(dp_cacher_worker_main, &dc->w[i], lcores[i]) < 0)
			return -EBUSY;
	}
	for (unsigned i = 0; i < dc->n_workers; i++) {
		while (dc->w[i].state == 0)
			usleep(1000);
		if (dc->w[i].state < 0) {
			fprintf(stderr, "pcdn-bench dp: worker %u: %s\n", i,
				pcdn_strerror(dc->w[i].state));
			return dc->w[i].state;
		}
	}
	return 0;
}

static void workers_stop(struct dp_cacher *dc, const unsigned *lcores)
{
	net_dataplane_request_stop(dc->dp);
	for (unsigned i = 0; i < dc->n_workers; i++)
		rte_eal_wait_lcore(lcores[i]);
}

static struct dpg *gen_create(const struct dp_opts *o, struct dp_genport *gp)
{
	struct dp_swarm_conf sc = {.content_len = o->content_mib << 20,
				   .chunk_size = o->chunk_size,
				   .hash_fn = (uint8_t)o->hash_fn,
				   .seed = o->seed};
	static uint8_t root[PPSPP_HASH_MAX_LEN];
	size_t root_len;
	/* The clients trust the swarm ID alone; a CSC gets it from the tracker, here from the
	 * same deterministic content the cacher was filled with. */
	if (dp_swarm_root(&sc, root, &root_len) < 0)
		return NULL;
	struct dpg_config gc = {.n_clients = o->clients,
				.window = o->window,
				.sample_every = o->sample,
				.hash_fn = (uint8_t)o->hash_fn,
				.chunk_size = o->chunk_size,
				.root = root,
				.root_len = root_len};
	struct dpg *g = dpg_create(&gc, dp_genport_send, gp);
	if (g) {
		dpg_set_tail_fn(g, dp_genport_tail);
		dpg_set_head_fn(g, dp_genport_head);
	}
	return g;
}

static void sleep_s(double s)
{
	double end = now_s() + s;
	while (!stop_flag && now_s() < end)
		usleep(20000);
}

/* One-shot measurement: warm-up, then per-second lines, then the totals. */
static void measure(struct dp_run *r, struct dp_result *total, struct dp_snap *first)
{
	struct dp_snap *prev = calloc(1, sizeof(*prev)), *cur = calloc(1, sizeof(*cur));
	struct dp_result x;

	if (!prev || !cur) {
		free(prev);
		free(cur);
		return;
	}
	sleep_s(r->o.warmup);
	snap_take(r, first);
	*prev = *first;
	double end = first->t + r->o.seconds;
	while (!stop_flag && now_s() < end - 0.01) {
		double next = PCDN_MIN(prev->t + 1.0, end);
		sleep_s(next - now_s());
		snap_take(r, cur);
		result_of(r, prev, cur, &x);
		fprintf(stderr, "[%5.1f s] ", cur->t - first->t);
		print_line(stderr, r, &x, cur);
		*prev = *cur;
	}
	result_of(r, first, prev, total);
	free(prev);
	free(cur);
}

static void interactive(struct dp_run *r)
{
	struct dp_snap *start = calloc(1, sizeof(*start)), *last = calloc(1, sizeof(*last)),
		       *cur = calloc(1, sizeof(*cur));
	struct dp_result x;
	char line[256];

	if (!start || !last || !cur)
		goto out;
	snap_take(r, start);
	*last = *start;
	printf("pcdn-bench dp: %u clients, %u worker(s); commands: start, stop, show, quit\n",
	       r->o.clients, r->nw);
	for (;;) {
		printf("pcdn-bench> ");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin) || stop_flag)
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "start") == 0) {
			dpg_set_running(r->gen, true);
			snap_take(r, start);
			*last = *start;
		} else if (strcmp(line, "stop") == 0) {
			dpg_set_running(r->gen, false);
		} else if (strcmp(line, "show") == 0) {
			snap_take(r, cur);
			result_of(r, last, cur, &x);
			printf("since the last show (%.1f s): ", x.dt);
			print_line(stdout, r, &x, cur);
			result_of(r, start, cur, &x);
			printf("since start (%.1f s): ", x.dt);
			print_line(stdout, r, &x, cur);
			printf("clients established %u, handshakes %llu, downloads %llu, stalls "
			       "%llu\n",
			       dpg_established(r->gen), (unsigned long long)cur->g.handshakes_ok,
			       (unsigned long long)cur->g.downloads_done,
			       (unsigned long long)cur->g.stalls);
			*last = *cur;
		} else if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0) {
			break;
		} else if (line[0]) {
			printf("commands: start, stop, show, quit\n");
		}
	}
out:
	free(start);
	free(last);
	free(cur);
}

static double io_limit(const struct dp_opts *o, unsigned fwd_lcore, unsigned bounce_lcore,
		       struct rte_mempool *pool, double *busy_mpps)
{
	struct rte_ring *ra =
	    rte_ring_create("dpb_io_a", DP_RING_SIZE, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *rb =
	    rte_ring_create("dpb_io_b", DP_RING_SIZE, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct dp_iolimit fwd = {0}, bounce = {0};
	struct rte_eth_conf conf;
	double mpps = 0;

	*busy_mpps = 0;
	if (!ra || !rb)
		return -1;
	int pf = rte_eth_from_rings("dpb_io_fwd", &ra, 1, &rb, 1, SOCKET_ID_ANY);
	int pb = rte_eth_from_rings("dpb_io_bounce", &rb, 1, &ra, 1, SOCKET_ID_ANY);
	if (pf < 0 || pb < 0)
		return -1;
	memset(&conf, 0, sizeof(conf));
	for (int p = 0; p < 2; p++) {
		uint16_t id = (uint16_t)(p ? pb : pf);
		if (rte_eth_dev_configure(id, 1, 1, &conf) < 0 ||
		    rte_eth_rx_queue_setup(id, 0, 4096, SOCKET_ID_ANY, NULL, pool) < 0 ||
		    rte_eth_tx_queue_setup(id, 0, 4096, SOCKET_ID_ANY, NULL) < 0 ||
		    rte_eth_dev_start(id) < 0)
			return -1;
	}
	fwd.port_id = (uint16_t)pf;
	bounce.port_id = (uint16_t)pb;
	bounce.pool = pool;
	bounce.inflight = 4096;
	rte_eal_remote_launch(dp_iolimit_fwd_main, &fwd, fwd_lcore);
	rte_eal_remote_launch(dp_iolimit_bounce_main, &bounce, bounce_lcore);
	sleep_s(0.3);
	uint64_t p0 = fwd.pkts, b0 = fwd.busy_cycles, bp0 = fwd.busy_pkts;
	double t0 = now_s();
	sleep_s(o->io_seconds);
	uint64_t p1 = fwd.pkts, b1 = fwd.busy_cycles, bp1 = fwd.busy_pkts;
	double t1 = now_s();
	bounce.stop = true;
	rte_eal_wait_lcore(bounce_lcore);
	fwd.stop = true;
	rte_eal_wait_lcore(fwd_lcore);
	mpps = (double)(p1 - p0) / (t1 - t0) / 1e6;
	/* per busy core-second of forwarding (testpmd's cycles per packet, inverted) */
	if (b1 > b0)
		*busy_mpps =
		    (double)(bp1 - bp0) / ((double)(b1 - b0) / (double)rte_get_tsc_hz()) / 1e6;
	for (int p = 0; p < 2; p++) {
		uint16_t id = (uint16_t)(p ? pb : pf);
		rte_eth_dev_stop(id);
		rte_eth_dev_close(id);
	}
	void *m = NULL;
	while (rte_ring_dequeue(ra, &m) == 0)
		rte_pktmbuf_free(m);
	while (rte_ring_dequeue(rb, &m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(ra);
	rte_ring_free(rb);
	return bounce.rc < 0 ? -1 : mpps;
}

/* The cacher's drops by reason and the generator's counters, for the log. */
static void print_details(const struct dp_run *r)
{
	if (r->dc && r->dc->dp) {
		struct net_counters sum;
		char buf[4096];
		net_dataplane_counters(r->dc->dp, &sum, NULL);
		for (unsigned k = 0; k < NET_DROP_MAX; k++)
			if (sum.drop[k])
				fprintf(stderr, "cacher drop %s: %llu\n", net_drop_name(k),
					(unsigned long long)sum.drop[k]);
		fprintf(stderr, "cacher zero-copy datagrams %llu, of them in place (one segment) %llu\n",
			(unsigned long long)sum.ctr[NET_CTR_UDP_OUT_EXTBUF],
			(unsigned long long)sum.ctr[NET_CTR_UDP_OUT_INPLACE]);
		for (unsigned i = 0; i < r->nw; i++) {
			ppspp_engine_counters_format(
			    ppspp_engine_counters(dp_cacher_engine(r->dc, i)), buf, sizeof(buf));
			fprintf(stderr, "worker %u engine:\n%s", i, buf);
		}
	}
	if (r->gen) {
		const struct dpg_counters *c = dpg_counters(r->gen);
		fprintf(stderr,
			"clients: data_in %llu integrity_in %llu dgrams_out %llu requests %llu "
			"acks %llu "
			"handshakes %llu/%llu closes %llu downloads %llu verified %llu failed %llu "
			"unverifiable %llu stale %llu malformed %llu other %llu stalls %llu\n",
			(unsigned long long)c->data_in, (unsigned long long)c->integrity_in,
			(unsigned long long)c->dgrams_out, (unsigned long long)c->requests_out,
			(unsigned long long)c->acks_out, (unsigned long long)c->handshakes_ok,
			(unsigned long long)c->handshakes_out, (unsigned long long)c->closes_out,
			(unsigned long long)c->downloads_done, (unsigned long long)c->verified,
			(unsigned long long)c->verify_failed,
			(unsigned long long)c->verify_unverifiable, (unsigned long long)c->stale,
			(unsigned long long)c->malformed, (unsigned long long)c->other_msgs,
			(unsigned long long)c->stalls);
	}
	if (r->gp)
		fprintf(stderr,
			"generator port: rx %llu (by descriptor %llu, by frame view %llu) arp %llu "
			"other %llu tx %llu tx_full %llu no_mbuf %llu\n",
			(unsigned long long)r->gp->rx_frames, (unsigned long long)r->gp->rx_desc,
			(unsigned long long)r->gp->rx_view,
			(unsigned long long)r->gp->rx_arp,
			(unsigned long long)r->gp->rx_other, (unsigned long long)r->gp->tx_frames,
			(unsigned long long)r->gp->tx_full, (unsigned long long)r->gp->tx_nombuf);
}

/* ---- where the host put our CPUs ------------------------------------------------------------ *
 * The ring set-up moves every frame between the generator's CPU and the worker's, so its figure
 * depends on how far apart the host placed those two (virtual) CPUs: on this machine a cache
 * line's round trip between them is ~100 ns at times and ~450 ns at others (the host moves
 * them), and the worker's DATA rate follows. The round trip is measured just before and just
 * after the run, on the two lcores themselves (idle then), and reported beside the figure. */
struct xcore_probe {
	uint64_t seq __rte_cache_aligned; /* odd: ping waiting; even: answered */
	uint64_t n_rtt;
	double ns;
	volatile bool stop;
};

static int xcore_pong(void *arg)
{
	struct xcore_probe *x = arg;

	while (!x->stop) {
		uint64_t v = __atomic_load_n(&x->seq, __ATOMIC_ACQUIRE);
		if (v & 1)
			__atomic_store_n(&x->seq, v + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

/* 20 rounds of 5 ms; the median round's mean round trip. */
static int xcore_ping(void *arg)
{
	struct xcore_probe *x = arg;
	double per[20];
	uint64_t hz = rte_get_tsc_hz();

	for (unsigned r = 0; r < PCDN_ARRAY_SIZE(per); r++) {
		uint64_t t0 = rte_rdtsc(), n = 0, t;
		do {
			for (unsigned k = 0; k < 256; k++) {
				uint64_t v = __atomic_load_n(&x->seq, __ATOMIC_RELAXED) + 1;
				__atomic_store_n(&x->seq, v, __ATOMIC_RELEASE);
				while (__atomic_load_n(&x->seq, __ATOMIC_ACQUIRE) != v + 1 && !x->stop)
					rte_pause();
			}
			n += 256;
			t = rte_rdtsc();
		} while (t - t0 < hz / 200);
		per[r] = (double)(t - t0) * 1e9 / (double)hz / (double)n;
	}
	for (unsigned i = 1; i < PCDN_ARRAY_SIZE(per); i++) /* insertion sort: 20 values */
		for (unsigned j = i; j > 0 && per[j] < per[j - 1]; j--) {
			double tmp = per[j];
			per[j] = per[j - 1];
			per[j - 1] = tmp;
		}
	x->ns = per[PCDN_ARRAY_SIZE(per) / 2];
	return 0;
}

/* Round trip between lcores a (pong) and b (ping), both idle; -1 when they cannot be used. */
static double xcore_rtt_ns(unsigned a, unsigned b)
{
	struct xcore_probe *x = rte_zmalloc("dp_xcore", sizeof(*x), RTE_CACHE_LINE_SIZE);
	double ns = -1;

	if (!x)
		return -1;
	if (rte_eal_remote_launch(xcore_pong, x, a) == 0) {
		if (rte_eal_remote_launch(xcore_ping, x, b) == 0) {
			/* asleep, not rte_eal_wait_lcore's spin: the main lcore may share b's CPU */
			while (rte_eal_get_lcore_state(b) == RUNNING)
				usleep(1000);
			rte_eal_wait_lcore(b);
			ns = x->ns;
		}
		x->stop = true;
		rte_eal_wait_lcore(a);
	}
	rte_free(x);
	return ns;
}

static void print_json(const struct dp_run *r, const struct dp_result *x, const struct dp_snap *end,
		       double io_mpps, double io_busy_mpps, const char *extra)
{
	const char *setup = r->o.setup == SETUP_RING	       ? "ring"
			    : r->o.setup == SETUP_MEMIF_CLIENT ? "memif-client"
							       : "memif-server";
	double load[3] = {0};
	FILE *la = fopen("/proc/loadavg", "r");
	if (la) {
		if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = 0;
		fclose(la);
	}
	printf("{\"bench\":\"dp\",\"setup\":\"%s\",\"workers\":%u,\"clients\":%u,\"window\":%u,"
	       "\"chunk_size\":%u,\"slot_headroom\":%u,\"content_mib\":%llu,\"hash\":\"%s\","
	       "\"seconds\":%.2f,"
	       "\"hugepages\":%s,\"data_mpps_wall\":%.4f,\"data_mpps_wall_per_core\":%.4f,"
	       "\"payload_gbps\":%.3f,\"p50_us\":%.1f,\"p99_us\":%.1f",
	       setup, r->nw, r->o.clients, r->o.window, r->o.chunk_size, r->o.slot_headroom,
	       (unsigned long long)r->o.content_mib, ppspp_hash_name((uint8_t)r->o.hash_fn), x->dt,
	       rte_eal_has_hugepages() ? "true" : "false", x->data_mpps, x->data_mpps / r->nw,
	       x->payload_gbps, x->p50, x->p99);
	/* per core: DATA per busy worker core-second (preempted iterations left out) */
	if (r->dc)
		printf(",\"data_mpps_per_core\":%.4f,\"payload_gbps_per_core\":%.3f,"
		       "\"data_mpps_per_busy_iteration_s\":%.4f",
		       x->mpps_per_busy, x->mpps_per_busy * 1e6 * (double)r->o.chunk_size * 8 / 1e9,
		       x->mpps_per_clean_busy);
	if (r->dc) {
		const struct ppspp_engine_counters *c0 = NULL;
		uint64_t retx = 0, lost = 0, serr = 0, stor = 0;
		for (unsigned i = 0; i < r->nw; i++) {
			c0 = ppspp_engine_counters(dp_cacher_engine(r->dc, i));
			retx += c0->retransmits;
			lost += c0->data_lost;
			serr += c0->send_errors;
			stor += c0->storage_errors;
		}
		printf(
		    ",\"worker_busy\":%.3f,\"worker_cpu\":%.3f,\"data_mpps_per_worker_cpu_s\":%.4f,"
		    "\"dropped\":%llu,\"retransmits\":%llu,"
		    "\"data_lost\":%llu,\"send_errors\":%llu,\"storage_errors\":%llu",
		    x->busy_avg, x->cpu_avg, x->mpps_per_cpu, (unsigned long long)x->drops,
		    (unsigned long long)retx, (unsigned long long)lost, (unsigned long long)serr,
		    (unsigned long long)stor);
	}
	if (r->gen)
		printf(",\"verified\":%llu,\"verify_failed\":%llu,\"unverifiable\":%llu,"
		       "\"handshakes\":%llu,\"downloads\":%llu,\"stalls\":%llu,\"gen_cpu\":%.3f",
		       (unsigned long long)end->g.verified,
		       (unsigned long long)end->g.verify_failed,
		       (unsigned long long)end->g.verify_unverifiable,
		       (unsigned long long)end->g.handshakes_ok,
		       (unsigned long long)end->g.downloads_done, (unsigned long long)end->g.stalls,
		       x->gen_cpu);
	if (r->gp)
		printf(",\"gen_rx_frames\":%llu,\"gen_rx_by_descriptor\":%llu,"
		       "\"gen_rx_by_view\":%llu",
		       (unsigned long long)r->gp->rx_frames, (unsigned long long)r->gp->rx_desc,
		       (unsigned long long)r->gp->rx_view);
	if (io_mpps >= 0)
		printf(",\"io_limit_mpps_wall\":%.3f,\"io_limit_mpps\":%.3f", io_mpps,
		       io_busy_mpps);
	if (r->o.setup == SETUP_RING)
		printf(",\"xcore_rtt_ns_before\":%.0f,\"xcore_rtt_ns_after\":%.0f", r->xrtt_before,
		       r->xrtt_after);
	printf(",\"loadavg\":%.2f%s}\n", load[0], extra ? extra : "");
	fflush(stdout);
}

int bench_dp_main(int argc, char **argv)
{
	struct dp_run r = {0};
	struct dp_snap *first = calloc(1, sizeof(*first)), *end = calloc(1, sizeof(*end));
	struct dp_result total;
	unsigned lcores[RTE_MAX_LCORE];
	int rc = 1, nl;

	if (!first || !end)
		return 1;
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	int eal = rte_eal_init(argc, argv);
	if (eal < 0) {
		fprintf(stderr, "pcdn-bench dp: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= eal;
	argv += eal;
	if (parse_opts(argc, argv, &r.o) < 0)
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	nl = lcore_list(lcores, RTE_MAX_LCORE);
	unsigned need = r.o.setup == SETUP_RING		  ? r.o.workers + 1
			: r.o.setup == SETUP_MEMIF_SERVER ? r.o.workers
							  : 1;
	if (nl < (int)need) {
		fprintf(stderr, "pcdn-bench dp: needs %u worker lcores besides the main one (-l)\n",
			need);
		return 2;
	}
	r.nw = r.o.setup == SETUP_MEMIF_CLIENT ? 1 : r.o.workers;
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
	    "dpb_gen", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!pool) {
		fprintf(stderr, "pcdn-bench dp: mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	double io_mpps = -1, io_busy = 0;

	if (r.o.setup == SETUP_RING) {
		struct rte_ring *req[DP_GEN_QUEUES], *data[DP_GEN_QUEUES];
		char name[32];
		for (unsigned q = 0; q < r.o.workers; q++) {
			snprintf(name, sizeof(name), "dpb_req%u", q);
			req[q] = rte_ring_create(name, DP_RING_SIZE, SOCKET_ID_ANY,
						 RING_F_SP_ENQ | RING_F_SC_DEQ);
			snprintf(name, sizeof(name), "dpb_data%u", q);
			data[q] = rte_ring_create(name, DP_RING_SIZE, SOCKET_ID_ANY,
						  RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!req[q] || !data[q])
				return 1;
		}
		int cport = rte_eth_from_rings("dpb_cacher", req, r.o.workers, data, r.o.workers,
					       SOCKET_ID_ANY);
		int gport = rte_eth_from_rings("dpb_gen", data, r.o.workers, req, r.o.workers,
					       SOCKET_ID_ANY);
		if (cport < 0 || gport < 0) {
			fprintf(stderr, "pcdn-bench dp: net_ring ports failed\n");
			return 1;
		}
		r.xrtt_before = xcore_rtt_ns(lcores[0], lcores[r.o.workers]);
		r.dc = cacher_start(&r.o, (uint16_t)cport, lcores);
		if (!r.dc)
			return 1;
		r.gp = rte_zmalloc("dp_genport", sizeof(*r.gp), 64);
		if (!r.gp || dp_genport_init(r.gp, (uint16_t)gport, r.o.workers, pool) < 0)
			return 1;
		r.gen = gen_create(&r.o, r.gp);
		if (!r.gen ||
		    dp_genport_clients(r.gp, r.gen, r.o.clients,
				       &net_dataplane_port(r.dc->dp, 0)->ifc.addrs[0].addr,
				       DP_PPSPP_PORT, DP_CLIENT_PORT, r.o.workers,
				       net_dataplane_port(r.dc->dp, 0)->ifc.mac) < 0)
			return 1;
		/* the cacher's header mbufs stay with its core, as with a NIC (dp_port.c) */
		if (!getenv("PCDN_DP_READ_MBUF") &&
		    dp_genport_desc_pool(r.gp, net_dataplane_tx_hdr_pool(r.dc->dp)) < 0) {
			fprintf(stderr, "pcdn-bench dp: the TX header pool is not laid out as "
					"expected\n");
			return 1;
		}
		/* ... and so do the slots' frame views (DATA sent in place): the bench's cache has
		 * one class, slot i's payload at the first one's + i * (slot size + headroom) */
		const struct cacherd_slots *sl = r.dc->slots;
		if (!getenv("PCDN_DP_READ_MBUF") && sl->f && sl->f[0].buf_addr) {
			size_t stride = (r.o.chunk_size + 63u) / 64u * 64u + sl->headroom;

			if (dp_genport_views(r.gp, sl->f, sl->n,
					     (const uint8_t *)sl->f[0].buf_addr + sl->headroom,
					     stride, sl->headroom) < 0) {
				fprintf(stderr, "pcdn-bench dp: the slots' frame views are not laid "
						"out as expected\n");
				return 1;
			}
		}
		for (unsigned q = 0; q < r.o.workers; q++) {
			snprintf(name, sizeof(name), "dpb_done%u", q);
			r.gp->done[q] = rte_ring_create(name, DP_RING_SIZE, SOCKET_ID_ANY,
							RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!r.gp->done[q])
				return 1;
			r.dc->w[q].done = r.gp->done[q];
		}
		if (workers_launch(r.dc, lcores) < 0)
			return 1;
		if (r.o.interactive)
			dpg_set_running(r.gen, false); /* testpmd-like: idle until `start` */
		rte_eal_remote_launch(dp_genport_main, r.gp, lcores[r.o.workers]);
		if (r.o.interactive)
			interactive(&r);
		else
			measure(&r, &total, first);
		snap_take(&r, end);
		r.gp->stop = true;
		rte_eal_wait_lcore(lcores[r.o.workers]);
		usleep(50000); /* the closing handshakes reach the engines */
		workers_stop(r.dc, lcores);
		r.xrtt_after = xcore_rtt_ns(lcores[0], lcores[r.o.workers]);
		print_details(&r);
		fprintf(stderr,
			"cache line round trip, worker CPU <-> generator CPU: %.0f ns before the run, "
			"%.0f ns after\n",
			r.xrtt_before, r.xrtt_after);
		/* the data plane's leftovers: held and queued frames, then what the rings hold */
		net_dataplane_destroy(r.dc->dp);
		r.dc->dp = NULL;
		struct rte_mbuf *left[32];
		for (unsigned q = 0; q < r.o.workers; q++) {
			uint16_t n;
			while ((n = rte_eth_rx_burst((uint16_t)gport, (uint16_t)q, left, 32)) > 0)
				rte_pktmbuf_free_bulk(left, n);
		}
		rte_eth_dev_stop((uint16_t)gport);
		if (!r.o.interactive && r.o.io_seconds > 0) {
			io_mpps = io_limit(&r.o, lcores[0], lcores[r.o.workers], pool, &io_busy);
			if (io_mpps < 0)
				fprintf(stderr, "pcdn-bench dp: I/O ceiling measurement failed\n");
		}
		rc = 0;
	} else if (r.o.setup == SETUP_MEMIF_SERVER) {
		char dev[512];
		uint16_t port;
		snprintf(dev, sizeof(dev),
			 "net_memif0,role=server,id=0,rsize=12,socket-abstract=no,socket=%s",
			 r.o.memif_socket);
		if (net_port_probe(dev, &port) < 0) {
			fprintf(stderr, "pcdn-bench dp: cannot probe %s\n", dev);
			return 1;
		}
		r.dc = cacher_start(&r.o, port, lcores);
		if (!r.dc || workers_launch(r.dc, lcores) < 0)
			return 1;
		fprintf(stderr, "pcdn-bench dp: memif server ready on %s\n", r.o.memif_socket);
		measure(&r, &total, first);
		snap_take(&r, end);
		workers_stop(r.dc, lcores);
		print_details(&r);
		rc = 0;
	} else {
		char dev[512];
		uint16_t port;
		uint8_t mac_unused[NET_ETH_ALEN];
		(void)mac_unused;
		snprintf(dev, sizeof(dev),
			 "net_memif0,role=client,id=0,rsize=12,socket-abstract=no,socket=%s",
			 r.o.memif_socket);
		struct net_ipaddr server;
		uint8_t plen;
		net_ipaddr_parse("10.0.255.254", &server, &plen);
		r.gp = rte_zmalloc("dp_genport", sizeof(*r.gp), 64);
		if (!r.gp || net_port_probe(dev, &port) < 0 ||
		    dp_genport_init(r.gp, port, 1, pool) < 0) {
			fprintf(stderr, "pcdn-bench dp: memif client port %s failed\n", dev);
			return 1;
		}
		r.gen = gen_create(&r.o, r.gp);
		if (!r.gen || dp_genport_clients(r.gp, r.gen, r.o.clients, &server, DP_PPSPP_PORT,
						 DP_CLIENT_PORT, 1, NULL) < 0)
			return 1;
		if (r.o.interactive)
			dpg_set_running(r.gen, false);
		rte_eal_remote_launch(dp_genport_main, r.gp, lcores[0]);
		if (r.o.interactive)
			interactive(&r);
		else
			measure(&r, &total, first);
		snap_take(&r, end);
		r.gp->stop = true;
		rte_eal_wait_lcore(lcores[0]);
		/* The memif PMD unmaps the shared rings from its interrupt thread when the peer
		 * goes, with no fence against a data-path burst under way: a server worker sending
		 * at that moment faults. So the client, its own lcore stopped, stays until the
		 * server has stopped its workers and closed the link (10 s at most). */
		for (int i = 0; i < 1000; i++) {
			struct rte_eth_link link;
			if (rte_eth_link_get_nowait(port, &link) < 0 ||
			    link.link_status == RTE_ETH_LINK_DOWN)
				break;
			usleep(10000);
		}
		print_details(&r);
		rc = 0;
	}
	if (!r.o.interactive)
		print_json(&r, &total, end, io_mpps, io_busy, NULL);
	return rc;
}
