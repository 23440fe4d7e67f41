/* pcdn-cacherd: the edge cacher appliance (issue 4). EAL arguments, then `--`, then its own:
 *   -c FILE                  configuration (conf/pcdn-cacherd.conf documents every key)
 *   --stats-file FILE        counters written there periodically and at exit
 *   --stats-interval-ms N    period of --stats-file (default 1000)
 *   --check                  load and validate the configuration, then exit
 * Workers run lib/net's poll loop on the configured lcores; the main lcore is the control
 * thread (stats now; fill path, reports and the CLI later). Exit codes: 0 clean shutdown,
 * 1 runtime failure (EAL, ports), 2 usage or configuration error. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

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

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
	g_signal = sig;
}

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

int main(int argc, char **argv)
{
	static struct cacherd_config conf; /* large: keep it off the stack */
	struct app_args args = {0};
	char err[PCDN_ERR_MAX];
	struct net_dataplane *dp;
	struct sigaction sa = {0};
	uint64_t start_ms, next_stats_ms;
	int sep = -1, rc;

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
	dp = setup(&conf);
	if (!dp) {
		rte_eal_cleanup();
		return 1;
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (unsigned i = 0; i < conf.n_workers; i++) {
		rc = rte_eal_remote_launch(net_worker_run, net_dataplane_worker(dp, i),
					   conf.workers[i]);
		if (rc < 0) {
			PCDN_LOG(cacherd_log, ERR, "lcore %u: launch failed: %s", conf.workers[i],
				 pcdn_strerror(rc));
			net_dataplane_request_stop(dp);
			rte_eal_mp_wait_lcore();
			net_dataplane_destroy(dp);
			rte_eal_cleanup();
			return 1;
		}
	}
	log_ports(dp);
	if (cacherd_telemetry_attach(dp) < 0)
		PCDN_LOG(cacherd_log, WARNING, "telemetry commands not registered");
	PCDN_LOG(cacherd_log, NOTICE,
		 "ready: %u worker(s), %u port(s), PPSPP on UDP %u (no engine attached: datagrams "
		 "counted as drop.ppspp_no_engine); control socket %s reserved for the CLI",
		 conf.n_workers, net_dataplane_n_ports(dp), conf.ppspp_port, conf.control_socket);

	start_ms = pcdn_now_ns() / 1000000;
	next_stats_ms = start_ms;
	while (!g_signal) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		uint64_t now_ms = pcdn_now_ns() / 1000000;

		if (args.stats_file && now_ms >= next_stats_ms) {
			rc = cacherd_stats_write_file(args.stats_file, dp, now_ms - start_ms);
			if (rc < 0)
				PCDN_LOG(cacherd_log, WARNING, "stats file %s: %s", args.stats_file,
					 pcdn_strerror(rc));
			next_stats_ms = now_ms + args.stats_interval_ms;
		}
		nanosleep(&ts, NULL);
	}
	PCDN_LOG(cacherd_log, NOTICE, "signal %d: stopping workers", (int)g_signal);
	net_dataplane_request_stop(dp);
	rte_eal_mp_wait_lcore();
	{
		uint64_t up = pcdn_now_ns() / 1000000 - start_ms;

		if (args.stats_file)
			cacherd_stats_write_file(args.stats_file, dp, up);
		cacherd_stats_print(stdout, dp, up);
		fflush(stdout);
	}
	cacherd_telemetry_detach();
	net_dataplane_destroy(dp);
	rte_eal_cleanup();
	PCDN_LOG(cacherd_log, NOTICE, "stopped");
	return 0;
}
