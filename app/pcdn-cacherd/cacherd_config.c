/* pcdn-cacherd configuration loader; see cacherd_config.h and conf/pcdn-cacherd.conf. */
#include "cacherd_config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

static const char *const root_keys[] = {
    "log_level",  "ppspp_port",	    "workers", "control_socket", "control_readonly_group",
    "log_target", "metrics_listen", "stats_interval_ms", "mempool", "neighbour", "ports",
    "upstreams",  "cache",	    "serve",   "fill",		 NULL};
static const char *const mempool_keys[] = {"mbufs", "cache", "ext_mbufs", NULL};
static const char *const neigh_keys[] = {"entries", "reachable_ms", "retrans_ms", "probes", NULL};
static const char *const cache_keys[] = {"classes",	"max_swarms",	"meta_mb",
					 "small_percent", "hugepages",	"chunk_map_mb",
					 "slot_headroom", NULL};
static const char *const class_keys[] = {"slot_size", "slots", NULL};
static const char *const serve_keys[] = {"max_swarms", "max_channels", "max_peers", "send_burst",
					 "tx_hold",    NULL};
static const char *const fill_keys[] = {"max_outstanding", "timeout_ms", "swarm_timeout_ms",
					"background",	   "readahead",	 NULL};
static const char *const port_keys[] = {"device",    "mtu",	 "rx_desc",  "tx_desc",
					"addresses", "gateway4", "gateway6", NULL};

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_ < 0)                                                                       \
			return rc_;                                                                \
	} while (0)

static int get_uint(const config_setting_t *parent, const char *key, long long min, long long max,
		    long long def, unsigned *out, char *err, size_t errlen)
{
	long long v;

	TRY(pcdn_conf_int(parent, key, false, min, max, def, &v, err, errlen));
	*out = (unsigned)v;
	return 0;
}

/* A group that may be absent (all defaults) but must be a group when present. */
static int get_group(const config_setting_t *parent, const char *key, const char *const *allowed,
		     const config_setting_t **out, char *err, size_t errlen)
{
	const config_setting_t *g = config_setting_get_member(parent, key);

	*out = g;
	if (!g)
		return 0;
	if (!config_setting_is_group(g)) {
		pcdn_conf_error(g, key, err, errlen, "expected a group { ... }");
		return -EINVAL;
	}
	return pcdn_conf_check_keys(g, allowed, err, errlen);
}

/* A missing top-level key has no line of its own to point at. */
static int missing_top(const struct cacherd_config *c, const char *key, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: key '%s': required top-level key is missing", c->source, key);
	return -ENOENT;
}

static int parse_workers(const config_setting_t *root, struct cacherd_config *c, char *err,
			 size_t errlen)
{
	const config_setting_t *w = config_setting_get_member(root, "workers");
	int n;

	if (!w)
		return missing_top(c, "workers", err, errlen);
	c->workers_line = (unsigned)config_setting_source_line(w);
	if (!config_setting_is_array(w) && !config_setting_is_list(w)) {
		pcdn_conf_error(w, "workers", err, errlen, "expected a list of lcore ids [1, 2]");
		return -EINVAL;
	}
	n = config_setting_length(w);
	if (n < 1 || n > CACHERD_MAX_WORKERS) {
		pcdn_conf_error(w, "workers", err, errlen, "expected 1 to %d lcore ids, got %d",
				CACHERD_MAX_WORKERS, n);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(w, (unsigned)i);
		long long v;

		if (config_setting_type(e) != CONFIG_TYPE_INT) {
			pcdn_conf_error(w, "workers", err, errlen, "element %d is not an integer",
					i);
			return -EINVAL;
		}
		v = config_setting_get_int(e);
		if (v < 0 || v > CACHERD_MAX_LCORE) {
			pcdn_conf_error(w, "workers", err, errlen,
					"lcore %lld is out of range [0, %d]", v, CACHERD_MAX_LCORE);
			return -EINVAL;
		}
		for (unsigned k = 0; k < c->n_workers; k++) {
			if (c->workers[k] == (unsigned)v) {
				pcdn_conf_error(w, "workers", err, errlen,
						"lcore %lld is listed twice", v);
				return -EINVAL;
			}
		}
		c->workers[c->n_workers++] = (unsigned)v;
	}
	return 0;
}

static int parse_gateway(const config_setting_t *p, const char *key, int family,
			 struct net_iface *ifc, struct net_ipaddr *gw, char *err, size_t errlen)
{
	const char *s;
	bool onlink = false;

	TRY(pcdn_conf_string(p, key, false, NULL, &s, err, errlen));
	if (!s)
		return 0;
	if (net_ipaddr_parse(s, gw, NULL) < 0 || gw->family != family) {
		pcdn_conf_error(config_setting_get_member(p, key), key, err, errlen,
				"'%s' is not an IPv%d address", s, family);
		return -EINVAL;
	}
	for (unsigned i = 0; i < ifc->n_addrs; i++)
		onlink = onlink || net_ipaddr_in_prefix(gw, &ifc->addrs[i]);
	if (!onlink) {
		pcdn_conf_error(config_setting_get_member(p, key), key, err, errlen,
				"gateway %s is not inside any prefix of 'addresses'", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_port(const config_setting_t *p, struct cacherd_port_conf *pc, char *err,
		      size_t errlen)
{
	const config_setting_t *addrs;
	const char *dev;
	unsigned v;
	int n;

	pc->line = (unsigned)config_setting_source_line(p);
	if (!config_setting_is_group(p)) {
		pcdn_conf_error(p, "ports", err, errlen, "each port is a group { device = ...; }");
		return -EINVAL;
	}
	TRY(pcdn_conf_check_keys(p, port_keys, err, errlen));
	TRY(pcdn_conf_string(p, "device", true, NULL, &dev, err, errlen));
	if (!dev[0] || strlen(dev) >= sizeof(pc->device)) {
		pcdn_conf_error(config_setting_get_member(p, "device"), "device", err, errlen,
				"expected 1 to %zu characters", sizeof(pc->device) - 1);
		return -EINVAL;
	}
	snprintf(pc->device, sizeof(pc->device), "%s", dev);
	TRY(get_uint(p, "mtu", 0, 9600, 0, &v, err, errlen));
	if (v != 0 && v < 1280) {
		/* IPv6 needs 1280 (RFC 8200 §5); 0 keeps the PMD's MTU. */
		pcdn_conf_error(config_setting_get_member(p, "mtu"), "mtu", err, errlen,
				"%u is below the IPv6 minimum 1280 (0 keeps the device's)", v);
		return -EINVAL;
	}
	pc->mtu = (uint16_t)v;
	TRY(get_uint(p, "rx_desc", 64, 16384, 1024, &v, err, errlen));
	pc->rx_desc = (uint16_t)v;
	TRY(get_uint(p, "tx_desc", 64, 16384, 1024, &v, err, errlen));
	pc->tx_desc = (uint16_t)v;
	addrs = config_setting_get_member(p, "addresses");
	if (!addrs) {
		pcdn_conf_error(p, "addresses", err, errlen, "required key is missing");
		return -ENOENT;
	}
	if (!config_setting_is_array(addrs) && !config_setting_is_list(addrs)) {
		pcdn_conf_error(addrs, "addresses", err, errlen,
				"expected a list of \"address/prefix\" strings");
		return -EINVAL;
	}
	n = config_setting_length(addrs);
	/* One slot stays free for the link-local address the port adds for itself. */
	if (n < 1 || n > NET_IFACE_MAX_ADDRS - 1) {
		pcdn_conf_error(addrs, "addresses", err, errlen, "expected 1 to %d addresses",
				NET_IFACE_MAX_ADDRS - 1);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(addrs, (unsigned)i);
		const char *s = config_setting_get_string(e);
		struct net_ipaddr a;
		uint8_t plen;
		int rc;

		if (!s || net_ipaddr_parse(s, &a, &plen) < 0) {
			pcdn_conf_error(addrs, "addresses", err, errlen,
					"element %d: expected \"10.0.0.2/24\" or \"fd00::2/64\"",
					i);
			return -EINVAL;
		}
		rc = net_iface_add(&pc->ifc, &a, plen);
		if (rc < 0) {
			pcdn_conf_error(addrs, "addresses", err, errlen, "'%s': %s", s,
					rc == -EEXIST ? "listed twice" : "invalid");
			return -EINVAL;
		}
	}
	TRY(parse_gateway(p, "gateway4", 4, &pc->ifc, &pc->ifc.gw4, err, errlen));
	TRY(parse_gateway(p, "gateway6", 6, &pc->ifc, &pc->ifc.gw6, err, errlen));
	return 0;
}

static int parse_upstreams(const config_setting_t *root, struct cacherd_config *c, char *err,
			   size_t errlen)
{
	const config_setting_t *u = config_setting_get_member(root, "upstreams");
	int n;

	if (!u)
		return 0;
	c->upstreams_line = (unsigned)config_setting_source_line(u);
	if (!config_setting_is_array(u) && !config_setting_is_list(u)) {
		pcdn_conf_error(u, "upstreams", err, errlen,
				"expected a list of \"address:port\" strings");
		return -EINVAL;
	}
	n = config_setting_length(u);
	if (n > CACHERD_MAX_UPSTREAMS) {
		pcdn_conf_error(u, "upstreams", err, errlen, "at most %d upstream peers, got %d",
				CACHERD_MAX_UPSTREAMS, n);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const char *s = config_setting_get_string(config_setting_get_elem(u, (unsigned)i));
		struct pcdn_addr *a = &c->upstreams[c->n_upstreams];

		if (!s || pcdn_addr_parse(s, a) < 0 || pcdn_addr_port(a) == 0) {
			pcdn_conf_error(
			    u, "upstreams", err, errlen,
			    "element %d: expected \"10.0.0.1:7000\" or \"[fd00::1]:7000\"", i);
			return -EINVAL;
		}
		for (unsigned k = 0; k < c->n_upstreams; k++) {
			if (pcdn_addr_equal(&c->upstreams[k], a)) {
				pcdn_conf_error(u, "upstreams", err, errlen, "'%s' is listed twice",
						s);
				return -EINVAL;
			}
		}
		c->n_upstreams++;
	}
	return 0;
}

static int parse_cache(const config_setting_t *root, struct cacherd_config *c, char *err,
		       size_t errlen)
{
	const config_setting_t *g, *cl;

	TRY(get_group(root, "cache", cache_keys, &g, err, errlen));
	cl = g ? config_setting_get_member(g, "classes") : NULL;
	if (!cl) {
		/* lib/cache's defaults */
		c->cache_n_classes = 2;
		c->cache_classes[0].slot_size = 1024;
		c->cache_classes[0].slots = 65536;
		c->cache_classes[1].slot_size = 8192;
		c->cache_classes[1].slots = 8192;
	} else {
		int n = config_setting_length(cl);

		if (!config_setting_is_list(cl) || n < 1 || n > CACHERD_MAX_CACHE_CLASSES) {
			pcdn_conf_error(cl, "classes", err, errlen,
					"expected a list of 1 to %d groups ( { slot_size = 1024; "
					"slots = 65536; } )",
					CACHERD_MAX_CACHE_CLASSES);
			return -EINVAL;
		}
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(cl, (unsigned)i);
			unsigned sz, ns;

			if (!config_setting_is_group(e)) {
				pcdn_conf_error(e, "classes", err, errlen,
						"each class is a group { slot_size = ...; slots = "
						"...; }");
				return -EINVAL;
			}
			TRY(pcdn_conf_check_keys(e, class_keys, err, errlen));
			TRY(get_uint(e, "slot_size", 64, 1048576, 1024, &sz, err, errlen));
			TRY(get_uint(e, "slots", 1, 67108864, 65536, &ns, err, errlen));
			if (sz % 64 || (i > 0 && sz <= c->cache_classes[i - 1].slot_size)) {
				pcdn_conf_error(config_setting_get_member(e, "slot_size"),
						"slot_size", err, errlen,
						"%u: a multiple of 64, larger than the previous "
						"class's",
						sz);
				return -EINVAL;
			}
			c->cache_classes[i].slot_size = sz;
			c->cache_classes[i].slots = ns;
			c->cache_n_classes++;
		}
	}
	TRY(get_uint(g, "max_swarms", 1, 1048576, 1024, &c->cache_max_swarms, err, errlen));
	TRY(get_uint(g, "meta_mb", 1, 65536, 16, &c->cache_meta_mb, err, errlen));
	TRY(get_uint(g, "small_percent", 1, 50, 10, &c->cache_small_percent, err, errlen));
	TRY(get_uint(g, "chunk_map_mb", 0, 65536, 0, &c->cache_chunk_map_mb, err, errlen));
	TRY(pcdn_conf_bool(g, "hugepages", false, true, &c->cache_hugepages, err, errlen));
	/* 256: a DATA's Ethernet/IPv6/UDP/PPSPP headers with three uncle hashes fit in front of
	 * its payload, so it leaves as one buffer */
	TRY(get_uint(g, "slot_headroom", 0, 4096, 256, &c->cache_slot_headroom, err, errlen));
	if (c->cache_slot_headroom % 64) {
		pcdn_conf_error(config_setting_get_member(g, "slot_headroom"), "slot_headroom", err,
				errlen, "%u: a multiple of 64 (the payload stays 64-byte aligned)",
				c->cache_slot_headroom);
		return -EINVAL;
	}
	return 0;
}

static int parse_serve_fill(const config_setting_t *root, struct cacherd_config *c, char *err,
			    size_t errlen)
{
	const config_setting_t *g;

	TRY(get_group(root, "serve", serve_keys, &g, err, errlen));
	TRY(get_uint(g, "max_swarms", 1, 1024, 64, &c->serve_max_swarms, err, errlen));
	TRY(get_uint(g, "max_channels", 1, 65534, 1024, &c->serve_max_channels, err, errlen));
	TRY(get_uint(g, "max_peers", 0, 65534, 0, &c->serve_max_peers, err, errlen));
	if (c->serve_max_peers > c->serve_max_channels) {
		pcdn_conf_error(config_setting_get_member(g, "max_peers"), "max_peers", err, errlen,
				"%u exceeds serve.max_channels (%u)", c->serve_max_peers,
				c->serve_max_channels);
		return -EINVAL;
	}
	TRY(get_uint(g, "send_burst", 1, 1024, 64, &c->serve_send_burst, err, errlen));
	TRY(get_uint(g, "tx_hold", 64, 32768, 4096, &c->serve_tx_hold, err, errlen));
	TRY(get_group(root, "fill", fill_keys, &g, err, errlen));
	TRY(get_uint(g, "max_outstanding", 1, 65536, 1024, &c->fill_max_outstanding, err, errlen));
	TRY(get_uint(g, "timeout_ms", 10, 600000, 5000, &c->fill_timeout_ms, err, errlen));
	TRY(get_uint(g, "swarm_timeout_ms", 10, 600000, 5000, &c->fill_swarm_timeout_ms, err,
		     errlen));
	TRY(pcdn_conf_bool(g, "background", false, true, &c->fill_background, err, errlen));
	TRY(get_uint(g, "readahead", 0, 1024, 32, &c->fill_readahead, err, errlen));
	return 0;
}

static int parse(const config_t *cfg, struct cacherd_config *c, char *err, size_t errlen)
{
	const config_setting_t *root = config_root_setting(cfg), *g, *ports;
	const char *s;
	long long v;

	TRY(pcdn_conf_check_keys(root, root_keys, err, errlen));
	TRY(pcdn_conf_string(root, "log_level", false, "notice", &s, err, errlen));
	if (pcdn_log_level_parse(s, &c->log_level) < 0) {
		pcdn_conf_error(config_setting_get_member(root, "log_level"), "log_level", err,
				errlen, "'%s' is not one of err, warning, notice, info, debug", s);
		return -EINVAL;
	}
	TRY(pcdn_conf_int(root, "ppspp_port", false, 1, 65535, 6778, &v, err, errlen));
	c->ppspp_port = (uint16_t)v;
	TRY(parse_workers(root, c, err, errlen));
	TRY(pcdn_conf_string(root, "control_socket", false, "/run/pcdn-cacherd.sock", &s, err,
			     errlen));
	if (s[0] != '/' || strlen(s) >= sizeof(c->control_socket)) {
		pcdn_conf_error(config_setting_get_member(root, "control_socket"), "control_socket",
				err, errlen,
				"expected an absolute path shorter than %zu characters",
				sizeof(c->control_socket));
		return -EINVAL;
	}
	snprintf(c->control_socket, sizeof(c->control_socket), "%s", s);
	TRY(pcdn_conf_string(root, "control_readonly_group", false, "", &s, err, errlen));
	if (strlen(s) >= sizeof(c->control_readonly_group)) {
		pcdn_conf_error(config_setting_get_member(root, "control_readonly_group"),
				"control_readonly_group", err, errlen, "group name too long");
		return -EINVAL;
	}
	snprintf(c->control_readonly_group, sizeof(c->control_readonly_group), "%s", s);
	if (config_setting_get_member(root, "control_readonly_group"))
		c->control_readonly_group_line = (unsigned)config_setting_source_line(
		    config_setting_get_member(root, "control_readonly_group"));
	TRY(pcdn_conf_string(root, "log_target", false, "stderr", &s, err, errlen));
	if (strcmp(s, "stderr") != 0 && strcmp(s, "syslog") != 0) {
		pcdn_conf_error(config_setting_get_member(root, "log_target"), "log_target", err,
				errlen, "'%s' is not \"stderr\" or \"syslog\"", s);
		return -EINVAL;
	}
	c->log_syslog = strcmp(s, "syslog") == 0;
	TRY(pcdn_conf_string(root, "metrics_listen", false, "", &s, err, errlen));
	if (s[0] && (strlen(s) >= sizeof(c->metrics_listen) || !strrchr(s, ':'))) {
		pcdn_conf_error(config_setting_get_member(root, "metrics_listen"), "metrics_listen",
				err, errlen, "expected \"address:port\" (\"[::1]:9101\" for IPv6)");
		return -EINVAL;
	}
	snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", s);
	if (config_setting_get_member(root, "metrics_listen"))
		c->metrics_listen_line = (unsigned)config_setting_source_line(
		    config_setting_get_member(root, "metrics_listen"));
	TRY(get_uint(root, "stats_interval_ms", 0, 3600000, 0, &c->stats_interval_ms, err, errlen));
	if (c->stats_interval_ms && c->stats_interval_ms < 10) {
		pcdn_conf_error(config_setting_get_member(root, "stats_interval_ms"),
				"stats_interval_ms", err, errlen,
				"%u: expected 0 (the command line's) or 10 to 3600000",
				c->stats_interval_ms);
		return -EINVAL;
	}

	TRY(get_group(root, "mempool", mempool_keys, &g, err, errlen));
	TRY(get_uint(g, "mbufs", 1023, 16777215, 16383, &c->mbufs, err, errlen));
	TRY(get_uint(g, "cache", 0, 512, 256, &c->mbuf_cache, err, errlen));
	TRY(get_uint(g, "ext_mbufs", 1023, 16777215, 16383, &c->ext_mbufs, err, errlen));
	TRY(get_group(root, "neighbour", neigh_keys, &g, err, errlen));
	TRY(get_uint(g, "entries", 8, 1048576, 1024, &c->neigh_entries, err, errlen));
	TRY(get_uint(g, "reachable_ms", 1000, 86400000, 60000, &c->neigh_reachable_ms, err,
		     errlen));
	TRY(get_uint(g, "retrans_ms", 10, 60000, 1000, &c->neigh_retrans_ms, err, errlen));
	TRY(get_uint(g, "probes", 1, 20, 3, &c->neigh_probes, err, errlen));

	ports = config_setting_get_member(root, "ports");
	if (!ports)
		return missing_top(c, "ports", err, errlen);
	if (!config_setting_is_list(ports) || config_setting_length(ports) < 1 ||
	    config_setting_length(ports) > CACHERD_MAX_PORTS) {
		pcdn_conf_error(ports, "ports", err, errlen,
				"expected a list of 1 to %d port groups: ( { ... } )",
				CACHERD_MAX_PORTS);
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(ports); i++) {
		struct cacherd_port_conf *pc = &c->ports[c->n_ports];

		TRY(parse_port(config_setting_get_elem(ports, (unsigned)i), pc, err, errlen));
		for (unsigned k = 0; k < c->n_ports; k++) {
			if (strcmp(c->ports[k].device, pc->device) == 0) {
				pcdn_conf_error(config_setting_get_elem(ports, (unsigned)i),
						"device", err, errlen, "'%s' is configured twice",
						pc->device);
				return -EINVAL;
			}
		}
		c->n_ports++;
	}
	TRY(parse_upstreams(root, c, err, errlen));
	TRY(parse_cache(root, c, err, errlen));
	TRY(parse_serve_fill(root, c, err, errlen));
	return 0;
}

int cacherd_config_load_file(const char *path, struct cacherd_config *out, char *err, size_t errlen)
{
	config_t cfg;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->source, sizeof(out->source), "%s", path);
	config_init(&cfg);
	rc = pcdn_conf_read(&cfg, path, err, errlen);
	if (rc == 0)
		rc = parse(&cfg, out, err, errlen);
	config_destroy(&cfg);
	return rc;
}

int cacherd_config_load_string(const char *text, struct cacherd_config *out, char *err,
			       size_t errlen)
{
	config_t cfg;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->source, sizeof(out->source), "(config)");
	/* Strings come from tests and the fuzzer: no reading of other files. */
	if (strstr(text, "@include")) {
		snprintf(err, errlen, "(config): @include is only allowed in files");
		return -EINVAL;
	}
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		snprintf(err, errlen, "(config):%d: %s", config_error_line(&cfg),
			 config_error_text(&cfg));
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = parse(&cfg, out, err, errlen);
	config_destroy(&cfg);
	return rc;
}
