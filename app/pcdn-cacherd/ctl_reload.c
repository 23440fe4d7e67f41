/* `reload`: re-reads the configuration file the daemon started with. A file that does not load
 * (syntax, range, unknown key, unknown group, a metrics address that cannot be bound) changes
 * nothing and the reply carries its "file:line: key 'x': why". Otherwise the keys that can
 * change live are applied (log_level, log_target, control_readonly_group, metrics_listen) and
 * every other changed key is listed as needing a restart; the running values stay. */
#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"
#include "pcdn_common.h"

PCDN_LOG_COMPONENT(reload_log, "ctl")

int ctl_group_resolve(const char *name, gid_t *gid)
{
	struct group gr, *gp = NULL;
	char buf[16384];

	*gid = (gid_t)-1;
	if (!name[0])
		return 0;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &gp) != 0 || !gp)
		return -ENOENT;
	*gid = gp->gr_gid;
	return 0;
}

int ctl_apply_live(struct ctl_state *s, const struct cacherd_config *c, char *err, size_t errlen)
{
	gid_t gid;
	int rc;

	if (ctl_group_resolve(c->control_readonly_group, &gid) < 0) {
		snprintf(err, errlen, "%s:%u: key 'control_readonly_group': no group '%s'",
			 c->source, c->control_readonly_group_line, c->control_readonly_group);
		return -ENOENT;
	}
	rc = ctl_http_set(s, c->metrics_listen);
	if (rc < 0) {
		snprintf(err, errlen, "%s:%u: key 'metrics_listen': cannot listen on '%s': %s",
			 c->source, c->metrics_listen_line, c->metrics_listen, pcdn_strerror(rc));
		return rc;
	}
	/* Nothing below fails. */
	s->readonly_gid = gid;
	ctl_server_set_readonly_gid(s->srv, gid);
	pcdn_log_set_level("*", c->log_level);
	if (c->log_syslog)
		pcdn_log_to_syslog("pcdn-cacherd");
	else
		pcdn_log_to_stderr();
	return 0;
}

struct diff {
	json_t *live, *restart;
};

static void changed(struct diff *df, bool live, const char *key, const char *from, const char *to)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "key", key, "from", from, "to", to);

	json_array_append_new(live ? df->live : df->restart, o);
}

static void changed_u(struct diff *df, const char *key, unsigned a, unsigned b)
{
	char x[32], y[32];

	if (a == b)
		return;
	snprintf(x, sizeof(x), "%u", a);
	snprintf(y, sizeof(y), "%u", b);
	changed(df, false, key, x, y);
}

static void workers_text(const struct cacherd_config *c, char *out, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < c->n_workers && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%u", i ? "," : "", c->workers[i]);
}

/* Whole-struct comparison with the fields that never matter (line numbers, the file name) and
 * the keys compared one by one made equal: catches any key added to the loader later. */
static bool others_differ(const struct cacherd_config *a, const struct cacherd_config *b)
{
	struct cacherd_config *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
	bool differ;

	if (!x || !y) {
		free(x);
		free(y);
		return false;
	}
	memcpy(x, a, sizeof(*x));
	memcpy(y, b, sizeof(*y));
	struct cacherd_config *v[2] = {x, y};
	for (int i = 0; i < 2; i++) {
		struct cacherd_config *c = v[i];
		memset(c->source, 0, sizeof(c->source));
		c->workers_line = c->control_readonly_group_line = c->metrics_listen_line = 0;
		c->upstreams_line = 0;
		for (unsigned p = 0; p < CACHERD_MAX_PORTS; p++)
			c->ports[p].line = 0;
	}
	y->stats_interval_ms = x->stats_interval_ms;
	y->log_level = x->log_level;
	y->log_syslog = x->log_syslog;
	memcpy(y->control_readonly_group, x->control_readonly_group,
	       sizeof(y->control_readonly_group));
	memcpy(y->metrics_listen, x->metrics_listen, sizeof(y->metrics_listen));
	differ = memcmp(x, y, sizeof(*x)) != 0;
	free(x);
	free(y);
	return differ;
}

static void diff_restart(struct diff *df, const struct cacherd_config *a,
			 const struct cacherd_config *b)
{
	char x[256], y[256];
	unsigned nr = df->restart ? (unsigned)json_array_size(df->restart) : 0;

	changed_u(df, "ppspp_port", a->ppspp_port, b->ppspp_port);
	workers_text(a, x, sizeof(x));
	workers_text(b, y, sizeof(y));
	if (strcmp(x, y) != 0)
		changed(df, false, "workers", x, y);
	if (strcmp(a->control_socket, b->control_socket) != 0)
		changed(df, false, "control_socket", a->control_socket, b->control_socket);
	changed_u(df, "mempool.mbufs", a->mbufs, b->mbufs);
	changed_u(df, "mempool.cache", a->mbuf_cache, b->mbuf_cache);
	changed_u(df, "mempool.ext_mbufs", a->ext_mbufs, b->ext_mbufs);
	changed_u(df, "neighbour.entries", a->neigh_entries, b->neigh_entries);
	changed_u(df, "neighbour.reachable_ms", a->neigh_reachable_ms, b->neigh_reachable_ms);
	changed_u(df, "neighbour.retrans_ms", a->neigh_retrans_ms, b->neigh_retrans_ms);
	changed_u(df, "neighbour.probes", a->neigh_probes, b->neigh_probes);
	changed_u(df, "ports (count)", a->n_ports, b->n_ports);
	for (unsigned i = 0; i < a->n_ports && i < b->n_ports; i++) {
		const struct cacherd_port_conf *p = &a->ports[i], *q = &b->ports[i];
		char key[64];

		snprintf(key, sizeof(key), "ports[%u].device", i);
		if (strcmp(p->device, q->device) != 0)
			changed(df, false, key, p->device, q->device);
		snprintf(key, sizeof(key), "ports[%u].mtu", i);
		changed_u(df, key, p->mtu, q->mtu);
		snprintf(key, sizeof(key), "ports[%u].rx_desc", i);
		changed_u(df, key, p->rx_desc, q->rx_desc);
		snprintf(key, sizeof(key), "ports[%u].tx_desc", i);
		changed_u(df, key, p->tx_desc, q->tx_desc);
		snprintf(key, sizeof(key), "ports[%u].addresses", i);
		if (memcmp(&p->ifc, &q->ifc, sizeof(p->ifc)) != 0)
			changed(df, false, key, "(previous)", "(new)");
	}
	/* Keys of the serving path (upstreams, cache, serve, fill) and any later ones: compared as
	 * a whole. */
	if (json_array_size(df->restart) == nr && others_differ(a, b))
		changed(df, false, "upstreams/cache/serve/fill", "(previous)", "(new)");
}

int ctl_cmd_reload(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	struct cacherd_config *nc = malloc(sizeof(*nc));
	struct diff df = {json_array(), json_array()};
	char err[PCDN_ERR_MAX];
	int rc;

	(void)argv;
	if (argc != 0) {
		free(nc);
		json_decref(df.live);
		json_decref(df.restart);
		ctl_reply_printf(r, "usage: reload\n");
		return -EINVAL;
	}
	if (!nc || !df.live || !df.restart) {
		free(nc);
		json_decref(df.live);
		json_decref(df.restart);
		return -ENOMEM;
	}
	rc = cacherd_config_load_file(d->config_path, nc, err, sizeof(err));
	if (rc == 0) {
		/* Compare before applying: the live keys' old values are still in d->conf. */
		struct cacherd_config *old = d->conf;
		char a[16], b[16];

		if (old->log_level != nc->log_level)
			changed(&df, true, "log_level", pcdn_log_level_name(old->log_level),
				pcdn_log_level_name(nc->log_level));
		if (old->log_syslog != nc->log_syslog) {
			snprintf(a, sizeof(a), "%s", old->log_syslog ? "syslog" : "stderr");
			snprintf(b, sizeof(b), "%s", nc->log_syslog ? "syslog" : "stderr");
			changed(&df, true, "log_target", a, b);
		}
		if (strcmp(old->control_readonly_group, nc->control_readonly_group) != 0)
			changed(&df, true, "control_readonly_group", old->control_readonly_group,
				nc->control_readonly_group);
		if (strcmp(old->metrics_listen, nc->metrics_listen) != 0)
			changed(&df, true, "metrics_listen", old->metrics_listen,
				nc->metrics_listen);
		if (old->stats_interval_ms != nc->stats_interval_ms) {
			snprintf(a, sizeof(a), "%u", old->stats_interval_ms);
			snprintf(b, sizeof(b), "%u", nc->stats_interval_ms);
			changed(&df, true, "stats_interval_ms", a, b);
		}
		diff_restart(&df, old, nc);
		rc = ctl_apply_live(s, nc, err, sizeof(err));
	}
	if (rc < 0) {
		s->reload_failures++;
		snprintf(s->last_reload, sizeof(s->last_reload), "failed: %s", err);
		PCDN_LOG(reload_log, WARNING, "reload refused, configuration unchanged: %s", err);
		free(nc);
		json_decref(df.live);
		json_decref(df.restart);
		if (r->json)
			ctl_reply_json(r, json_pack("{s:s, s:b}", "error", err, "applied", 0));
		else
			ctl_reply_printf(r, "%s\nconfiguration unchanged\n", err);
		return rc < 0 ? rc : -EINVAL;
	}
	/* Live keys now take the new values; the others keep running with the old ones. */
	d->conf->log_level = nc->log_level;
	d->conf->log_syslog = nc->log_syslog;
	memcpy(d->conf->control_readonly_group, nc->control_readonly_group,
	       sizeof(nc->control_readonly_group));
	d->conf->control_readonly_group_line = nc->control_readonly_group_line;
	memcpy(d->conf->metrics_listen, nc->metrics_listen, sizeof(nc->metrics_listen));
	d->conf->metrics_listen_line = nc->metrics_listen_line;
	/* 0 means the command line's period: the one running stays. */
	d->conf->stats_interval_ms = nc->stats_interval_ms;
	if (nc->stats_interval_ms && nc->stats_interval_ms != d->stats_interval_ms) {
		struct timeval tv = {(time_t)(nc->stats_interval_ms / 1000),
				     (suseconds_t)(nc->stats_interval_ms % 1000) * 1000};

		d->stats_interval_ms = nc->stats_interval_ms;
		if (d->stats_ev)
			event_add(d->stats_ev, &tv);
	}
	s->reloads++;
	snprintf(s->last_reload, sizeof(s->last_reload), "ok: %zu applied, %zu need a restart",
		 json_array_size(df.live), json_array_size(df.restart));
	PCDN_LOG(reload_log, NOTICE, "reloaded %s: %zu key(s) applied, %zu need a restart",
		 d->config_path, json_array_size(df.live), json_array_size(df.restart));
	free(nc);
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:s, s:o, s:o}", "file", d->config_path,
						   "applied", df.live, "restart_required",
						   df.restart));
	ctl_reply_printf(r, "reloaded %s\n", d->config_path);
	if (!json_array_size(df.live) && !json_array_size(df.restart))
		ctl_reply_printf(r, "no changes\n");
	for (int k = 0; k < 2; k++) {
		json_t *arr = k ? df.restart : df.live;
		size_t i;
		json_t *o;

		json_array_foreach(arr, i, o)
		{
			ctl_reply_printf(r, "%s %s: %s -> %s\n", k ? "restart-required" : "applied",
					 json_string_value(json_object_get(o, "key")),
					 json_string_value(json_object_get(o, "from")),
					 json_string_value(json_object_get(o, "to")));
		}
	}
	json_decref(df.live);
	json_decref(df.restart);
	return 0;
}
