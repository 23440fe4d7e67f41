/* pcdn-node: one RELOAD overlay peer (or client) run from its libconfig file, driven through a
 * unix control socket; `pcdn-node cert ...` makes its keys and certificates.
 *
 *   pcdn-node -c FILE           run
 *   pcdn-node -c FILE --check   load and validate the configuration, then exit
 *   pcdn-node cert ...          see pcdn-node cert --help */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cert_cmd.h"
#include "control.h"
#include "node_conf.h"
#include "reload_overlay.h"

struct app {
	struct event_base *base;
	struct reload_node *node;
	bool leaving;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pcdn-node -c FILE [--check]\n"
		   "       pcdn-node cert ca|issue|self-signed|show|root ...\n");
}

static void left(void *arg)
{
	struct app *a = arg;

	event_base_loopexit(a->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;

	(void)what;
	if (sig == SIGINT || a->leaving) {
		event_base_loopexit(a->base, NULL);
		return;
	}
	/* SIGTERM: leave gracefully (§10.9), then exit */
	a->leaving = true;
	reload_node_leave(a->node, left, a);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "config", required_argument, NULL, 'c' },
					    { "check", no_argument, NULL, 'k' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	const char *conf_path = NULL;
	bool check = false;
	char err[PCDN_ERR_MAX];
	struct node_conf nc;
	struct reload_overlay_config *ocfg = NULL;
	struct reload_signer *signer = NULL;
	struct reload_trust *trust = NULL;
	struct reload_node_config cfg;
	struct node_control *ctl = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct app app = { 0 };
	enum pcdn_log_level lv;
	int c, rc = 1;

	if (argc > 1 && strcmp(argv[1], "cert") == 0)
		return cert_command(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 'k': check = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!conf_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (node_conf_load(conf_path, &nc, err, sizeof(err)) < 0) {
		fprintf(stderr, "pcdn-node: %s\n", err);
		return 1;
	}
	if (pcdn_log_level_parse(nc.log_level, &lv) == 0)
		pcdn_log_set_level("*", lv);
	if (reload_config_load(nc.overlay_path, nc.instance[0] ? nc.instance : NULL, &ocfg, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "pcdn-node: %s\n", err);
		return 1;
	}
	signer = reload_signer_load(nc.key_path, nc.cert_path, ocfg->node_id_length);
	if (!signer) {
		fprintf(stderr, "pcdn-node: %s / %s: unusable key or certificate (%s)\n",
			nc.key_path, nc.cert_path, strerror(errno ? errno : EINVAL));
		goto out;
	}
	trust = reload_trust_from_config(ocfg);
	if (!trust) {
		fprintf(stderr, "pcdn-node: %s: no usable trust anchors\n", nc.overlay_path);
		goto out;
	}
	if (reload_trust_check_cert(trust, reload_signer_cert(signer), time(NULL), NULL) < 0) {
		fprintf(stderr, "pcdn-node: %s: certificate not accepted by overlay %s\n",
			nc.cert_path, ocfg->instance_name);
		goto out;
	}
	if (check) {
		printf("%s: ok (overlay %s)\n", conf_path, ocfg->instance_name);
		rc = 0;
		goto out;
	}
	reload_node_config_default(&cfg);
	cfg.overlay = ocfg;
	cfg.signer = signer;
	cfg.trust = trust;
	cfg.tls_enabled = nc.tls_on;
	cfg.tls_addr = nc.tls;
	cfg.dtls_enabled = nc.dtls_on;
	cfg.dtls_addr = nc.dtls;
	cfg.prefer = nc.prefer_dtls ? RELOAD_LINK_DTLS_UDP_SR_NO_ICE : RELOAD_LINK_TLS_TCP_FH_NO_ICE;
	if (nc.bootstrap_set) {
		cfg.bootstrap = nc.bootstrap;
		cfg.bootstrap_count = nc.bootstrap_count;
	} else {
		static struct pcdn_addr boot[NODE_CONF_MAX_BOOTSTRAP];
		size_t n = PCDN_MIN(ocfg->bootstrap_count, (size_t)NODE_CONF_MAX_BOOTSTRAP);

		for (size_t i = 0; i < n; i++)
			boot[i] = ocfg->bootstrap[i].addr;
		cfg.bootstrap = boot;
		cfg.bootstrap_count = n;
	}
	cfg.bootstrap_dtls = nc.bootstrap_dtls;
	cfg.client = nc.client;
	cfg.replicas = nc.replicas;
	cfg.neighbors = nc.neighbors;
	cfg.fingers = nc.fingers;
	cfg.update_interval_ms = nc.update_interval_ms
					 ? nc.update_interval_ms
					 : (ocfg->chord_update_interval ? ocfg->chord_update_interval * 1000
									: 600000);
	cfg.ping_interval_ms = nc.finger_interval_ms
				       ? nc.finger_interval_ms
				       : (ocfg->chord_ping_interval ? ocfg->chord_ping_interval * 1000
								    : 3600000);
	cfg.holddown_ms = nc.holddown_ms;
	cfg.sr_initial_rto_ms = nc.sr_rto_ms;
	cfg.reliability_timer_ms = nc.reliability_ms;
	signal(SIGPIPE, SIG_IGN);
	app.base = event_base_new();
	if (!app.base)
		goto out;
	app.node = reload_node_new(app.base, &cfg);
	if (!app.node) {
		fprintf(stderr, "pcdn-node: cannot start the node: %s\n", strerror(errno));
		goto out;
	}
	ctl = node_control_new(app.base, nc.control, app.node, ocfg, left, &app);
	if (!ctl) {
		fprintf(stderr, "pcdn-node: control socket %s: %s\n", nc.control, strerror(errno));
		goto out;
	}
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
	sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	reload_node_start(app.node);
	event_base_dispatch(app.base);
	rc = 0;
out:
	/* the node first: its cancelled requests still answer their control clients */
	reload_node_free(app.node);
	node_control_free(ctl);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (app.base)
		event_base_free(app.base);
	reload_trust_free(trust);
	reload_signer_free(signer);
	reload_config_free(ocfg);
	return rc;
}
