/* pcdn-cacherd: the edge cacher appliance (issue 4). EAL arguments, then `--`, then its own:
 *   -c FILE                  configuration (conf/pcdn-cacherd.conf documents every key)
 *   --stats-file FILE        counters written there periodically and at exit
 *   --stats-interval-ms N    period of --stats-file (default 1000)
 *   --check                  load and validate the configuration, then exit
 * Workers run lib/net's poll loop with a lib/ppspp engine each, serving from lib/cache
 * (serve.c); the main lcore is the control thread, a libevent loop: signals, the miss path and
 * the upstream client (fill.c), stats, and the operator surface (cacherd_ctl_start). Exit codes:
 * 0 clean shutdown, 1 runtime failure (EAL, ports, cache), 2 usage or configuration error. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_memzone.h>

#include "cacherd.h"
#include "cacherd_config.h"
#include "net.h"
#include "pcdn_common.h"
#include "stats.h"
#include "telemetry.h"

PCDN_LOG_COMPONENT(cacherd_log, "cacherd")

struct app_args {
	const char *config;
	const char *stats_file;
	unsigned stats_interval_ms;
	int check_only;
	int help;
};

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [EAL options] -- -c FILE [--stats-file FILE] [--stats-interval-ms N]"
		" [--check]\n",
		prog);
}

static int parse_app_args(int argc, char **argv, struct app_args *a)
{
	a->stats_interval_ms = 1000;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
			if (!v)
				return -EINVAL;
			a->config = v;
			i++;
		} else if (strcmp(o, "--stats-file") == 0) {
			if (!v)
				return -EINVAL;
			a->stats_file = v;
			i++;
		} else if (strcmp(o, "--stats-interval-ms") == 0) {
			char *end;
			unsigned long n;

			if (!v)
				return -EINVAL;
			n = strtoul(v, &end, 10);
			if (*end || n < 10 || n > 3600000) {
				fprintf(stderr, "--stats-interval-ms: expected 10 to 3600000\n");
				return -EINVAL;
			}
			a->stats_interval_ms = (unsigned)n;
			i++;
		} else if (strcmp(o, "--check") == 0) {
			a->check_only = 1;
		} else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			a->help = 1;
		} else {
			fprintf(stderr, "unknown option '%s'\n", o);
			return -EINVAL;
		}
	}
	return a->config || a->help ? 0 : -EINVAL;
}

/* Lcore checks need the EAL; errors point at the 'workers' line like any config error. */
static int check_lcores(const struct cacherd_config *c)
{
	for (unsigned i = 0; i < c->n_workers; i++) {
		unsigned l = c->workers[i];

		if (l >= RTE_MAX_LCORE || !rte_lcore_is_enabled(l) || l == rte_get_main_lcore()) {
			fprintf(
			    stderr,
			    "%s:%u: key 'workers': lcore %u is %s (EAL -l lists the lcores; the "
			    "first is the main lcore, the control thread)\n",
			    c->source, c->workers_line, l,
			    l == rte_get_main_lcore() ? "the main lcore" : "not enabled");
			return -EINVAL;
		}
	}
	return 0;
}

static struct net_dataplane *setup(const struct cacherd_config *c)
{
	struct net_dataplane_config dc = {
	    .n_workers = c->n_workers,
	    .ppspp_port = c->ppspp_port,
	    .mbufs = c->mbufs,
	    .mbuf_cache = c->mbuf_cache,
	    .ext_mbufs = c->ext_mbufs,
	    .neigh_capacity = c->neigh_entries,
	    .tx_hold = c->serve_tx_hold,
	    .neigh = {.reachable_ns = (uint64_t)c->neigh_reachable_ms * 1000000,
		      .retrans_ns = (uint64_t)c->neigh_retrans_ms * 1000000,
		      .max_probes = c->neigh_probes},
	    .socket_id = (int)rte_socket_id(),
	};
	struct net_dataplane *dp;

	for (unsigned i = 0; i < c->n_ports; i++)
		if (c->ports[i].mtu > dc.max_mtu)
			dc.max_mtu = c->ports[i].mtu;
	dp = net_dataplane_create(&dc);

	if (!dp) {
		PCDN_LOG(cacherd_log, ERR, "dataplane: %s (mempool.mbufs too large for -m?)",
			 strerror(errno));
		return NULL;
	}
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct cacherd_port_conf *pc = &c->ports[i];
		uint16_t pid;
		int rc = net_port_probe(pc->device, &pid);

		if (rc == 0)
			rc = net_port_add(dp, pid, &pc->ifc, pc->mtu, pc->rx_desc, pc->tx_desc);
		if (rc < 0) {
			PCDN_LOG(cacherd_log, ERR, "%s:%u: port '%s': %s", c->source, pc->line,
				 pc->device, pcdn_strerror(rc));
			net_dataplane_destroy(dp);
			return NULL;
		}
	}
	if (net_dataplane_start(dp) < 0) {
		net_dataplane_destroy(dp);
		return NULL;
	}
	return dp;
}

static void log_ports(struct net_dataplane *dp)
{
	for (unsigned i = 0; i < net_dataplane_n_ports(dp); i++) {
		const struct net_port_info *pi = net_dataplane_port(dp, i);
		const uint8_t *m = pi->ifc.mac;

		for (unsigned a = 0; a < pi->ifc.n_addrs; a++) {
			char s[64];

			PCDN_LOG(cacherd_log, NOTICE,
				 "port %u %02x:%02x:%02x:%02x:%02x:%02x address %s/%u", pi->port_id,
				 m[0], m[1], m[2], m[3], m[4], m[5],
				 net_ipaddr_format(&pi->ifc.addrs[a].addr, s, sizeof(s)),
				 pi->ifc.addrs[a].len);
		}
	}
}

/* The chunk cache: one writer (this thread), QSBR readers (the workers). A DATA payload is an
 * external buffer pointing into it, so its IOVA must be cheap: IOVA-as-VA, or an IOVA-contiguous
 * memzone (base IOVA + offset); otherwise each payload's IOVA is looked up (slow, logged). */
static int cache_setup(struct cacherd *d)
{
	const struct cacherd_config *c = d->conf;
	struct cache_conf cc;
	const struct rte_memzone *mz = NULL;
	size_t len;

	cache_conf_init(&cc);
	cc.flavour = CACHE_RCU_QSBR;
	cc.nclasses = c->cache_n_classes;
	for (unsigned i = 0; i < c->cache_n_classes; i++) {
		cc.classes[i].slot_size = c->cache_classes[i].slot_size;
		cc.classes[i].nslots = c->cache_classes[i].slots;
	}
	cc.max_swarms = c->cache_max_swarms;
	cc.meta_bytes = (uint64_t)c->cache_meta_mb << 20;
	cc.max_readers = c->n_workers;
	cc.small_percent = c->cache_small_percent;
	cc.chunk_map_bytes = (uint64_t)c->cache_chunk_map_mb << 20;
	cc.slot_headroom = c->cache_slot_headroom;
	cc.no_hugepages = !c->cache_hugepages;
	len = cache_region_size(&cc);
	if (len == 0) {
		PCDN_LOG(cacherd_log, ERR, "%s: cache: invalid geometry", c->source);
		return -EINVAL;
	}
	if (rte_eal_iova_mode() != RTE_IOVA_VA) {
		mz = rte_memzone_reserve_aligned("pcdn_cache", len, (int)rte_socket_id(),
						 RTE_MEMZONE_IOVA_CONTIG, 4096);
		if (mz) {
			cc.region = mz->addr;
			cc.region_len = len;
		} else {
			PCDN_LOG(
			    cacherd_log, WARNING,
			    "cache: no IOVA-contiguous memzone of %zu bytes (%s): payload IOVAs "
			    "are looked up per datagram",
			    len, rte_strerror(rte_errno));
		}
	}
	uint32_t nslots = 0;
	for (unsigned i = 0; i < cc.nclasses; i++)
		nslots += cc.classes[i].nslots;
	d->slots = cacherd_slots_create(nslots, (uint16_t)cc.slot_headroom, (int)rte_socket_id());
	if (!d->slots) {
		PCDN_LOG(cacherd_log, ERR, "cache: %u slot mbufs: %s", nslots, strerror(errno));
		return -errno;
	}
	cacherd_slots_hook(d->slots, &cc);
	d->cache = cache_create(&cc);
	if (!d->cache) {
		PCDN_LOG(cacherd_log, ERR, "cache (%zu MiB): %s", len >> 20, strerror(errno));
		cacherd_slots_destroy(d->slots);
		d->slots = NULL;
		return -errno;
	}
	if (rte_eal_iova_mode() == RTE_IOVA_VA) {
		d->cache_iova_linear = true;
		d->cache_iova_base = (rte_iova_t)(uintptr_t)cache_region_base(d->cache);
	} else if (mz) {
		d->cache_iova_linear = true;
		d->cache_iova_base = mz->iova;
	}
	cacherd_slots_set_iova(d->slots, cache_region_base(d->cache), d->cache_iova_base,
			       d->cache_iova_linear);
	PCDN_LOG(cacherd_log, NOTICE, "cache: %zu MiB, %u class(es), %s", len >> 20,
		 c->cache_n_classes,
		 mz				  ? "memzone"
		 : cache_uses_hugepages(d->cache) ? "hugepages"
						  : "4 KiB pages");
	return 0;
}

/* ---- control thread ------------------------------------------------------------------------ */

static uint64_t uptime_ms(const struct cacherd *d)
{
	return pcdn_now_ns() / 1000000 - d->start_ms;
}

static void write_stats(struct cacherd *d)
{
	int rc;

	if (!d->stats_file)
		return;
	rc = cacherd_stats_write_file(d->stats_file, d, uptime_ms(d));
	if (rc < 0)
		PCDN_LOG(cacherd_log, WARNING, "stats file %s: %s", d->stats_file,
			 pcdn_strerror(rc));
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	write_stats(arg);
}

static bool workers_drained(struct cacherd *d)
{
	for (unsigned i = 0; i < d->n_workers; i++)
		if (!__atomic_load_n(&d->workers[i].drained, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* Misses, unknown swarms and fetch timeouts; during shutdown, waits for the workers to have
 * closed their channels (bounded: a full ring or a stuck worker must not hold the exit). */
static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cacherd *d = arg;
	static uint64_t drain_deadline_us;
	uint64_t now_us = pcdn_now_ns() / 1000;

	(void)fd;
	(void)what;
	cacherd_fill_poll(d, now_us);
	if (!d->stop_signal)
		return;
	if (!drain_deadline_us)
		drain_deadline_us = now_us + 500000;
	if (workers_drained(d) || now_us >= drain_deadline_us)
		event_base_loopbreak(d->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cacherd *d = arg;

	(void)what;
	if (d->stop_signal)
		return;
	d->stop_signal = (int)sig;
	PCDN_LOG(cacherd_log, NOTICE, "signal %d: draining", (int)sig);
	atomic_store_explicit(&d->draining, true, memory_order_release);
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct cacherd_down_msg m = {.type = CACHERD_MSG_DRAIN};

		if (rte_ring_enqueue_elem(d->workers[i].fill_ring, &m, sizeof(m)) < 0)
			__atomic_store_n(&d->workers[i].drained, true, __ATOMIC_RELEASE);
	}
}

static int control_events(struct cacherd *d)
{
	struct timeval poll = {0, 1000};
	struct timeval st = {d->stats_interval_ms / 1000, (d->stats_interval_ms % 1000) * 1000};

	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	d->sig_int_ev = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_term_ev = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->poll_ev = event_new(d->base, -1, EV_PERSIST, on_poll_timer, d);
	if (!d->sig_int_ev || !d->sig_term_ev || !d->poll_ev)
		return -ENOMEM;
	if (evsignal_add(d->sig_int_ev, NULL) < 0 || evsignal_add(d->sig_term_ev, NULL) < 0 ||
	    event_add(d->poll_ev, &poll) < 0)
		return -EIO;
	if (d->stats_file) {
		d->stats_ev = event_new(d->base, -1, EV_PERSIST, on_stats_timer, d);
		if (!d->stats_ev || event_add(d->stats_ev, &st) < 0)
			return -ENOMEM;
		write_stats(d);
	}
	return 0;
}

static void control_events_free(struct cacherd *d)
{
	struct event **evs[] = {&d->sig_int_ev, &d->sig_term_ev, &d->poll_ev, &d->stats_ev};

	for (size_t i = 0; i < PCDN_ARRAY_SIZE(evs); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (d->base)
		event_base_free(d->base);
	d->base = NULL;
}

static void launch_failed_cleanup(struct cacherd *d)
{
	net_dataplane_request_stop(d->dp);
	rte_eal_mp_wait_lcore();
}

int main(int argc, char **argv)
{
	static struct cacherd_config conf; /* large: keep it off the stack */
	static struct cacherd daemon_ctx;
	struct cacherd *d = &daemon_ctx;
	struct app_args args = {0};
	char err[PCDN_ERR_MAX];
	int sep = -1, rc, status = 0;
	bool ctl_started = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	}
	if (sep < 0 || parse_app_args(argc - sep - 1, argv + sep + 1, &args) < 0) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (args.help) {
		usage(stdout, argv[0]);
		return 0;
	}
	/* The configuration is checked before the EAL starts: a typo costs no hugepages. */
	if (cacherd_config_load_file(args.config, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	pcdn_log_set_level("*", conf.log_level);
	if (args.check_only) {
		printf("%s: configuration OK\n", args.config);
		return 0;
	}
	rc = rte_eal_init(sep, argv);
	if (rc < 0) {
		fprintf(stderr, "EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (check_lcores(&conf) < 0) {
		rte_eal_cleanup();
		return 2;
	}
	d->conf = &conf;
	d->config_path = args.config;
	d->stats_file = args.stats_file;
	d->stats_interval_ms = conf.stats_interval_ms ? conf.stats_interval_ms : args.stats_interval_ms;
	d->n_workers = conf.n_workers;
	signal(SIGPIPE, SIG_IGN);
	if (cache_setup(d) < 0) {
		rte_eal_cleanup();
		return 1;
	}
	d->dp = setup(&conf);
	if (!d->dp) {
		cache_destroy(d->cache);
		cacherd_slots_destroy(d->slots);
		rte_eal_cleanup();
		return 1;
	}
	d->start_ms = pcdn_now_ns() / 1000000;
	rc = control_events(d);
	if (rc == 0)
		rc = cacherd_workers_create(d);
	if (rc == 0)
		rc = cacherd_fill_start(d);
	if (rc < 0) {
		PCDN_LOG(cacherd_log, ERR, "start: %s", pcdn_strerror(rc));
		status = 1;
		goto out;
	}
	for (unsigned i = 0; i < conf.n_workers; i++) {
		rc = rte_eal_remote_launch(cacherd_worker_main, &d->workers[i], conf.workers[i]);
		if (rc < 0) {
			PCDN_LOG(cacherd_log, ERR, "lcore %u: launch failed: %s", conf.workers[i],
				 pcdn_strerror(rc));
			launch_failed_cleanup(d);
			status = 1;
			goto out;
		}
	}
	log_ports(d->dp);
	if (cacherd_telemetry_attach(d) < 0)
		PCDN_LOG(cacherd_log, WARNING, "telemetry commands not registered");
#ifdef CACHERD_HAVE_CTL
	/* ---- operator surface (ctl_main.c): control socket, metrics ---- */
	rc = cacherd_ctl_start(d);
	if (rc < 0)
		PCDN_LOG(cacherd_log, ERR, "control surface: %s (running without it)",
			 pcdn_strerror(rc));
	else
		ctl_started = true;
#endif
	PCDN_LOG(cacherd_log, NOTICE,
		 "ready: %u worker(s), %u port(s), PPSPP on UDP %u, %u upstream peer(s)",
		 conf.n_workers, net_dataplane_n_ports(d->dp), conf.ppspp_port, d->n_upstreams);

	event_base_dispatch(d->base);

	PCDN_LOG(cacherd_log, NOTICE, "stopping workers");
	net_dataplane_request_stop(d->dp);
	rte_eal_mp_wait_lcore();
	write_stats(d);
	cacherd_stats_print(stdout, d, uptime_ms(d));
	fflush(stdout);
out:
#ifdef CACHERD_HAVE_CTL
	if (ctl_started)
		cacherd_ctl_stop(d);
#endif
	(void)ctl_started;
	cacherd_telemetry_detach();
	cacherd_fill_stop(d);
	/* mbufs still holding cache references are freed with the dataplane: the cache goes last */
	net_dataplane_destroy(d->dp);
	cacherd_workers_destroy(d);
	control_events_free(d);
	cache_destroy(d->cache);
	cacherd_slots_destroy(d->slots);
	rte_eal_cleanup();
	PCDN_LOG(cacherd_log, NOTICE, "stopped");
	return status;
}
