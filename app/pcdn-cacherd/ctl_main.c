/* pcdn-cacherd's operator surface (issue 6): the control socket (lib/ctl on the control thread's
 * libevent loop) and its commands, in the manner of haproxy's stats socket (show / clear verbs),
 * vppctl (which worker owns which queue) and varnishadm (-j JSON on every show).
 *
 * Everything here runs on the control thread, which owns the cache (its one writer), the swarm
 * table and the upstream client: those are read and changed directly. Workers' state is theirs:
 * their counters are loaded relaxed, their channel tables read field by field without locks (a
 * channel changing while it is listed may show fields of both states; nothing is followed
 * through a pointer), and the only thing written for them is the `draining` flag they read. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <rte_ring.h>

#include "ctl_internal.h"
#include "pcdn_common.h"

PCDN_LOG_COMPONENT(ctlm_log, "ctl")

#define CHANNELS_LISTED_MAX 10000 /* show channels / peers: bound on the reply */

static const char *const rx_modes[] = {"single", "rss", "dispatch"};

static uint64_t uptime_ms(const struct cacherd *d)
{
	return pcdn_now_ns() / 1000000 - d->start_ms;
}

static int usage(struct ctl_reply *r, const char *text)
{
	ctl_reply_printf(r, "usage: %s\n", text);
	return -EINVAL;
}

static unsigned swarms_known(const struct cacherd *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->n_swarms; i++)
		n += d->swarms[i].state != CACHERD_SWARM_FREE;
	return n;
}

static uint64_t peers_up(const struct cacherd *d)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < d->n_workers; w++)
		n += __atomic_load_n(&d->workers[w].peers_up, __ATOMIC_RELAXED);
	return n;
}

/* A swarm named by its ID in hex, or by a unique prefix of at least 8 hex digits. */
static int find_swarm(const struct cacherd *d, const char *hex, struct ctl_reply *r)
{
	size_t n = strlen(hex);
	int found = -1;

	if (n < 8 || n > 2 * PPSPP_HASH_MAX_LEN || strspn(hex, "0123456789abcdefABCDEF") != n) {
		ctl_reply_printf(r, "'%s' is not a swarm ID (hex, at least 8 digits)\n", hex);
		return -EINVAL;
	}
	for (unsigned i = 0; i < d->n_swarms; i++) {
		const struct cacherd_swarm *sw = &d->swarms[i];
		char id[2 * PPSPP_HASH_MAX_LEN + 1];

		if (sw->state == CACHERD_SWARM_FREE)
			continue;
		pcdn_hex_encode(sw->id, sw->id_len, id);
		if (strncasecmp(id, hex, n) != 0)
			continue;
		if (found >= 0 && n < 2 * (size_t)sw->id_len) {
			ctl_reply_printf(r, "'%s' matches more than one swarm\n", hex);
			return -EINVAL;
		}
		found = (int)i;
	}
	if (found < 0)
		ctl_reply_printf(r, "no swarm '%s' (show swarms lists them)\n", hex);
	return found < 0 ? -ENOENT : found;
}

/* ---- show status / ports / workers / queues ----------------------------------------------------
 */

static int cmd_show_status(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	struct cache_stats cs = {0};
	bool draining = atomic_load(&d->draining);

	(void)argv;
	if (argc)
		return usage(r, "show status");
	if (d->cache)
		cache_stats_get(d->cache, &cs);
	if (r->json)
		return ctl_reply_json(
		    r,
		    json_pack("{s:s, s:s, s:I, s:i, s:i, s:b, s:I, s:i, s:i, s:I, s:I, s:s, s:i, "
			      "s:I, s:I, s:s}",
			      "program", "pcdn-cacherd", "config", d->config_path, "uptime_ms",
			      (json_int_t)uptime_ms(d), "workers", (int)d->n_workers, "ports",
			      (int)net_dataplane_n_ports(d->dp), "draining", draining, "peers",
			      (json_int_t)peers_up(d), "swarms", (int)swarms_known(d), "upstreams",
			      (int)d->n_upstreams, "cache_chunks", (json_int_t)cs.chunks,
			      "cache_bytes", (json_int_t)cs.bytes, "overlay", "not configured",
			      "ctl_clients", (int)ctl_server_clients(s->srv), "reloads",
			      (json_int_t)s->reloads, "reload_failures",
			      (json_int_t)s->reload_failures, "last_reload", s->last_reload));
	ctl_reply_printf(
	    r,
	    "program      pcdn-cacherd\n"
	    "config       %s\n"
	    "uptime       %.3f s\n"
	    "workers      %u\n"
	    "ports        %u\n"
	    "state        %s\n"
	    "peers        %" PRIu64 " established channel(s)\n"
	    "swarms       %u\n"
	    "upstreams    %u\n"
	    "cache        %" PRIu64 " chunk(s), %" PRIu64 " byte(s)\n"
	    "overlay      not configured\n"
	    "ctl clients  %u\n"
	    "reloads      %" PRIu64 " ok, %" PRIu64 " refused%s%s\n",
	    d->config_path, (double)uptime_ms(d) / 1e3, d->n_workers, net_dataplane_n_ports(d->dp),
	    draining ? "draining (new channels refused)" : "serving", peers_up(d), swarms_known(d),
	    d->n_upstreams, cs.chunks, cs.bytes, ctl_server_clients(s->srv), s->reloads,
	    s->reload_failures, s->last_reload[0] ? "; last: " : "", s->last_reload);
	return 0;
}

static void mac_text(const uint8_t *m, char *out, size_t n)
{
	snprintf(out, n, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int cmd_show_ports(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	json_t *arr = r->json ? json_array() : NULL;

	(void)argv;
	if (argc)
		return usage(r, "show ports");
	for (unsigned i = 0; i < net_dataplane_n_ports(d->dp); i++) {
		const struct net_port_info *pi = net_dataplane_port(d->dp, i);
		char mac[24], addrs[512] = "";
		size_t o = 0;

		mac_text(pi->ifc.mac, mac, sizeof(mac));
		json_t *ja = json_array();
		for (unsigned a = 0; a < pi->ifc.n_addrs; a++) {
			char ip[64];

			net_ipaddr_format(&pi->ifc.addrs[a].addr, ip, sizeof(ip));
			if (o < sizeof(addrs))
				o += (size_t)snprintf(addrs + o, sizeof(addrs) - o, "%s%s/%u",
						      a ? " " : "", ip, pi->ifc.addrs[a].len);
			char full[80];
			snprintf(full, sizeof(full), "%s/%u", ip, pi->ifc.addrs[a].len);
			json_array_append_new(ja, json_string(full));
		}
		if (arr) {
			json_array_append_new(
			    arr,
			    json_pack("{s:i, s:i, s:s, s:s, s:i, s:i, s:i, s:s, s:o, s:b, s:b}",
				      "index", (int)i, "port_id", (int)pi->port_id, "driver",
				      pi->driver, "rx_mode", rx_modes[pi->rx_mode], "rx_queues",
				      (int)pi->n_rxq, "tx_queues", (int)pi->n_txq, "mtu",
				      (int)pi->ifc.mtu, "mac", mac, "addresses", ja,
				      "tx_ip_csum_offload", pi->tx_ip_csum_offload,
				      "tx_udp_csum_offload", pi->tx_udp_csum_offload));
			continue;
		}
		json_decref(ja);
		ctl_reply_printf(r,
				 "port %u (ethdev %u) driver %s\n  mac %s mtu %u\n  rx mode %s, %u "
				 "rx queue(s), %u tx queue(s)\n  checksum offload ip %s udp %s\n"
				 "  addresses %s\n",
				 i, pi->port_id, pi->driver, mac, pi->ifc.mtu,
				 rx_modes[pi->rx_mode], pi->n_rxq, pi->n_txq,
				 pi->tx_ip_csum_offload ? "yes" : "no",
				 pi->tx_udp_csum_offload ? "yes" : "no", addrs);
	}
	return arr ? ctl_reply_json(r, json_pack("{s:o}", "ports", arr)) : 0;
}

static int cmd_show_workers(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	struct ctl_stats st;
	json_t *arr = r->json ? json_array() : NULL;
	int rc;

	(void)argv;
	if (argc) {
		json_decref(arr);
		return usage(r, "show workers");
	}
	if ((rc = ctl_stats_collect(s, &st)) < 0) {
		json_decref(arr);
		return rc;
	}
	/* Column values from the collected metrics, by name. */
	const char *cols[] = {"net.rx_packets", "net.tx_packets", "ppspp.chunks_sent",
			      "serve.hits",	"serve.misses",	  "net.drops_total"};
	const struct ctl_metric *cm[6] = {0};
	for (unsigned i = 0; i < st.n; i++)
		for (unsigned c = 0; c < 6; c++)
			if (strcmp(st.m[i].name, cols[c]) == 0)
				cm[c] = &st.m[i];
	if (!arr)
		ctl_reply_printf(r, "%-6s %-5s %7s %7s %12s %12s %12s %10s %10s %10s\n", "worker",
				 "lcore", "peers", "choked", "rx_packets", "tx_packets",
				 "chunks_sent", "hits", "misses", "drops");
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_worker *wk = &d->workers[w];
		uint64_t v[6];
		uint32_t up = __atomic_load_n(&wk->peers_up, __ATOMIC_RELAXED);
		uint32_t ch = __atomic_load_n(&wk->peers_choked, __ATOMIC_RELAXED);

		for (unsigned c = 0; c < 6; c++)
			v[c] = cm[c] ? cm[c]->w[w] : 0;
		if (arr) {
			json_array_append_new(
			    arr,
			    json_pack("{s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
				      "worker", (int)w, "lcore", (int)wk->lcore, "peers", (int)up,
				      "peers_choked", (int)ch, "rx_packets", (json_int_t)v[0],
				      "tx_packets", (json_int_t)v[1], "chunks_sent",
				      (json_int_t)v[2], "hits", (json_int_t)v[3], "misses",
				      (json_int_t)v[4], "drops", (json_int_t)v[5], "drained",
				      __atomic_load_n(&wk->drained, __ATOMIC_RELAXED)));
			continue;
		}
		ctl_reply_printf(r,
				 "%-6u %-5u %7u %7u %12" PRIu64 " %12" PRIu64 " %12" PRIu64
				 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
				 w, wk->lcore, up, ch, v[0], v[1], v[2], v[3], v[4], v[5]);
	}
	ctl_stats_free(&st);
	return arr ? ctl_reply_json(r, json_pack("{s:o}", "workers", arr)) : 0;
}

/* Which worker reads which RX queue and writes which TX queue of each port (lib/net: one RX and
 * one TX queue per worker per port in RSS mode; in dispatch mode the workers that exist read the
 * PMD's queues and hand flows on), and the occupancy of each worker's rings. */
static int cmd_show_queues(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	json_t *arr = r->json ? json_array() : NULL, *rings = r->json ? json_array() : NULL;

	(void)argv;
	if (argc) {
		json_decref(arr);
		json_decref(rings);
		return usage(r, "show queues");
	}
	if (!arr)
		ctl_reply_printf(r, "%-5s %-9s %-7s %-5s %-8s %-8s\n", "port", "mode", "worker",
				 "lcore", "rx_queue", "tx_queue");
	for (unsigned p = 0; p < net_dataplane_n_ports(d->dp); p++) {
		const struct net_port_info *pi = net_dataplane_port(d->dp, p);

		for (unsigned w = 0; w < d->n_workers; w++) {
			int rxq = w < pi->n_rxq ? (int)w : -1;
			int txq = w < pi->n_txq ? (int)w : -1;

			if (pi->rx_mode == NET_RX_SINGLE && w > 0)
				rxq = -1;
			if (arr) {
				json_array_append_new(
				    arr, json_pack("{s:i, s:s, s:i, s:i, s:i, s:i}", "port", (int)p,
						   "rx_mode", rx_modes[pi->rx_mode], "worker",
						   (int)w, "lcore", (int)d->workers[w].lcore,
						   "rx_queue", rxq, "tx_queue", txq));
				continue;
			}
			char rq[16] = "-", tq[16] = "-";
			if (rxq >= 0)
				snprintf(rq, sizeof(rq), "%d", rxq);
			if (txq >= 0)
				snprintf(tq, sizeof(tq), "%d", txq);
			ctl_reply_printf(r, "%-5u %-9s %-7u %-5u %-8s %-8s\n", p,
					 rx_modes[pi->rx_mode], w, d->workers[w].lcore, rq, tq);
		}
	}
	if (!arr)
		ctl_reply_printf(r, "\n%-7s %-18s %-18s\n", "worker", "miss_ring (used/cap)",
				 "fill_ring (used/cap)");
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_worker *wk = &d->workers[w];
		unsigned mu = wk->miss_ring ? rte_ring_count(wk->miss_ring) : 0;
		unsigned mc = wk->miss_ring ? rte_ring_get_capacity(wk->miss_ring) : 0;
		unsigned fu = wk->fill_ring ? rte_ring_count(wk->fill_ring) : 0;
		unsigned fc = wk->fill_ring ? rte_ring_get_capacity(wk->fill_ring) : 0;

		if (rings) {
			json_array_append_new(rings, json_pack("{s:i, s:i, s:i, s:i, s:i}",
							       "worker", (int)w, "miss_ring_used",
							       (int)mu, "miss_ring_capacity",
							       (int)mc, "fill_ring_used", (int)fu,
							       "fill_ring_capacity", (int)fc));
			continue;
		}
		char a[32], b[32];
		snprintf(a, sizeof(a), "%u/%u", mu, mc);
		snprintf(b, sizeof(b), "%u/%u", fu, fc);
		ctl_reply_printf(r, "%-7u %-18s %-18s\n", w, a, b);
	}
	if (arr)
		return ctl_reply_json(r, json_pack("{s:o, s:o}", "queues", arr, "rings", rings));
	return 0;
}

/* ---- cache and swarms ------------------------------------------------------------------------ */

static int cmd_show_cache(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	const struct cacherd_config *c = d->conf;
	struct cache_stats cs = {0};
	uint64_t rec_chunks = 0, rec_swarms = 0, rec_dropped = 0;

	(void)argv;
	if (argc)
		return usage(r, "show cache");
	if (!d->cache) {
		ctl_reply_printf(r, "no cache\n");
		return -ENODEV;
	}
	cache_stats_get(d->cache, &cs);
	cache_recovery_counts(d->cache, &rec_chunks, &rec_swarms, &rec_dropped);
	if (r->json) {
		json_t *cl = json_array();
		for (unsigned i = 0; i < c->cache_n_classes; i++)
			json_array_append_new(cl,
					      json_pack("{s:i, s:i}", "slot_size",
							(int)c->cache_classes[i].slot_size, "slots",
							(int)c->cache_classes[i].slots));
		return ctl_reply_json(
		    r,
		    json_pack("{s:I, s:b, s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "region_bytes", (json_int_t)cache_region_len(d->cache), "hugepages",
			      cache_uses_hugepages(d->cache), "classes", cl, "slot_headroom",
			      (int)cache_slot_headroom(d->cache), "chunks",
			      (json_int_t)cs.chunks, "bytes", (json_int_t)cs.bytes, "pinned_chunks",
			      (json_int_t)cs.pinned_chunks, "pinned_bytes",
			      (json_int_t)cs.pinned_bytes, "hits", (json_int_t)cs.hits, "misses",
			      (json_int_t)cs.misses, "inserts", (json_int_t)cs.inserts, "evictions",
			      (json_int_t)cs.evictions, "purged", (json_int_t)cs.purged));
	}
	ctl_reply_printf(r, "region      %zu bytes (%s)\n", cache_region_len(d->cache),
			 cache_uses_hugepages(d->cache) ? "hugepages" : "no hugepages");
	for (unsigned i = 0; i < c->cache_n_classes; i++)
		ctl_reply_printf(r, "class %u     %u slots of %u bytes\n", i,
				 c->cache_classes[i].slots, c->cache_classes[i].slot_size);
	ctl_reply_printf(r, "headroom    %u bytes per slot\n", cache_slot_headroom(d->cache));
	ctl_reply_printf(r,
			 "chunks      %" PRIu64 " (%" PRIu64 " bytes)\n"
			 "pinned      %" PRIu64 " (%" PRIu64 " bytes)\n"
			 "hits        %" PRIu64 "\nmisses      %" PRIu64 "\n"
			 "inserts     %" PRIu64 "\nevictions   %" PRIu64 "\npurged      %" PRIu64
			 "\n",
			 cs.chunks, cs.bytes, cs.pinned_chunks, cs.pinned_bytes, cs.hits, cs.misses,
			 cs.inserts, cs.evictions, cs.purged);
	return 0;
}

static json_t *swarm_json(const struct cacherd *d, const struct cacherd_swarm *sw)
{
	char id[2 * PPSPP_HASH_MAX_LEN + 1];
	struct cache_stats cs = {0};
	struct cache_swarm_info info = {0};
	bool in_cache = d->cache && sw->state == CACHERD_SWARM_READY &&
			cache_swarm_get(d->cache, sw->cache_swarm, &info) == 0;

	if (in_cache)
		cache_swarm_stats_get(d->cache, sw->cache_swarm, &cs);
	pcdn_hex_encode(sw->id, sw->id_len, id);
	return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I}", "id", id,
			 "state", cacherd_swarm_state_name(sw->state), "chunk_size",
			 (int)sw->chunk_size, "chunks", (json_int_t)sw->chunk_count, "cached",
			 (json_int_t)cs.chunks, "cached_bytes", (json_int_t)cs.bytes, "fetched",
			 (json_int_t)sw->fetched, "misses", (json_int_t)sw->misses, "pinned",
			 in_cache && info.pinned, "background_fill", sw->background, "hits",
			 (json_int_t)cs.hits, "age_ms",
			 (json_int_t)((pcdn_now_us() - sw->created_us) / 1000));
}

static int cmd_show_swarms(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	json_t *arr = json_array();

	(void)argv;
	if (argc) {
		json_decref(arr);
		return usage(r, "show swarms");
	}
	for (unsigned i = 0; i < d->n_swarms; i++)
		if (d->swarms[i].state != CACHERD_SWARM_FREE)
			json_array_append_new(arr, swarm_json(d, &d->swarms[i]));
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:o}", "swarms", arr));
	ctl_reply_printf(r, "%-40s %-7s %10s %10s %10s %10s %s\n", "swarm", "state", "chunks",
			 "cached", "fetched", "misses", "pinned");
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		ctl_reply_printf(r,
				 "%-40.40s %-7s %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
				 " %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT " %s\n",
				 id, json_string_value(json_object_get(o, "state")),
				 json_integer_value(json_object_get(o, "chunks")),
				 json_integer_value(json_object_get(o, "cached")),
				 json_integer_value(json_object_get(o, "fetched")),
				 json_integer_value(json_object_get(o, "misses")),
				 json_is_true(json_object_get(o, "pinned")) ? "yes" : "no");
	}
	ctl_reply_printf(r, "%zu swarm(s)\n", json_array_size(arr));
	json_decref(arr);
	return 0;
}

static int cmd_show_swarm(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	int idx;

	if (argc != 1)
		return usage(r, "show swarm ID");
	if ((idx = find_swarm(d, argv[0], r)) < 0)
		return idx;
	json_t *o = swarm_json(d, &d->swarms[idx]);
	if (r->json)
		return ctl_reply_json(r, o);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (json_is_string(v))
			ctl_reply_printf(r, "%-16s %s\n", k, json_string_value(v));
		else if (json_is_boolean(v))
			ctl_reply_printf(r, "%-16s %s\n", k, json_is_true(v) ? "yes" : "no");
		else
			ctl_reply_printf(r, "%-16s %" JSON_INTEGER_FORMAT "\n", k,
					 json_integer_value(v));
	}
	/* Which workers serve it and how many of their channels are on it. */
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_worker *wk = &d->workers[w];
		int es = wk->engine_swarm ? wk->engine_swarm[idx] : -1;
		unsigned chans = 0;

		if (es < 0 || !wk->engine)
			continue;
		for (uint32_t c = 0; c < ppspp_engine_max_channels(wk->engine); c++) {
			struct ppspp_channel_info ci;
			if (ppspp_engine_channel_info(wk->engine, (int)c, &ci) == 0 &&
			    ci.swarm == es)
				chans++;
		}
		ctl_reply_printf(r, "worker %u       engine swarm %d, %u channel(s)\n", w, es,
				 chans);
	}
	json_decref(o);
	return 0;
}

/* ---- channels and peers ---------------------------------------------------------------------- */

/* The engine's swarm index back to d->swarms (the worker's engine_swarm map, read relaxed). */
static int global_swarm_of(const struct cacherd *d, const struct cacherd_worker *wk,
			   int engine_swarm)
{
	if (engine_swarm < 0 || !wk->engine_swarm)
		return -1;
	for (unsigned g = 0; g < d->n_swarms; g++)
		if (__atomic_load_n(&wk->engine_swarm[g], __ATOMIC_RELAXED) == engine_swarm)
			return (int)g;
	return -1;
}

static void swarm_id_text(const struct cacherd *d, int g, char *out, size_t n)
{
	if (g < 0 || (unsigned)g >= d->n_swarms || d->swarms[g].state == CACHERD_SWARM_FREE) {
		snprintf(out, n, "-");
		return;
	}
	char id[2 * PPSPP_HASH_MAX_LEN + 1];
	pcdn_hex_encode(d->swarms[g].id, d->swarms[g].id_len, id);
	snprintf(out, n, "%s", id);
}

static int cmd_show_channels(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	json_t *arr = r->json ? json_array() : NULL;
	unsigned listed = 0, total = 0;

	(void)argv;
	if (argc) {
		json_decref(arr);
		return usage(r, "show channels");
	}
	if (!arr)
		ctl_reply_printf(r, "%-6s %-5s %-40s %-46s %-5s %10s %10s %8s %10s\n", "worker",
				 "chan", "swarm", "peer", "est", "sent", "queued", "flight",
				 "cwnd");
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_worker *wk = &d->workers[w];

		if (!wk->engine)
			continue;
		for (uint32_t c = 0; c < ppspp_engine_max_channels(wk->engine); c++) {
			struct ppspp_channel_info ci;
			char peer[64], sid[2 * PPSPP_HASH_MAX_LEN + 1];

			if (ppspp_engine_channel_info(wk->engine, (int)c, &ci) < 0)
				continue;
			total++;
			if (listed == CHANNELS_LISTED_MAX)
				continue;
			listed++;
			ppspp_peer_addr_format(&ci.peer, peer, sizeof(peer));
			swarm_id_text(d, global_swarm_of(d, wk, ci.swarm), sid, sizeof(sid));
			if (arr) {
				json_array_append_new(
				    arr,
				    json_pack("{s:i, s:i, s:s, s:s, s:b, s:b, s:I, s:I, s:i, s:I, "
					      "s:f, s:i, s:i}",
					      "worker", (int)w, "channel", (int)c, "swarm", sid,
					      "peer", peer, "established", ci.established,
					      "choked_by_peer", ci.choked_by_peer, "chunks_sent",
					      (json_int_t)ci.chunks_sent, "chunks_received",
					      (json_int_t)ci.chunks_received, "queued_requests",
					      (int)ci.queued_requests, "flight_bytes",
					      (json_int_t)ci.flight_bytes, "cwnd_bytes",
					      ci.cwnd_bytes, "local_id", (int)ci.local_id,
					      "remote_id", (int)ci.remote_id));
				continue;
			}
			ctl_reply_printf(r,
					 "%-6u %-5u %-40.40s %-46s %-5s %10" PRIu64
					 " %10u %8" PRIu64 " %10.0f\n",
					 w, c, sid, peer, ci.established ? "yes" : "no",
					 ci.chunks_sent, ci.queued_requests, ci.flight_bytes,
					 ci.cwnd_bytes);
		}
	}
	if (arr)
		return ctl_reply_json(
		    r, json_pack("{s:o, s:i}", "channels", arr, "total", (int)total));
	ctl_reply_printf(r, "%u channel(s)%s\n", total,
			 listed < total ? " (list cut at 10000)" : "");
	return 0;
}

struct peer_row {
	struct ppspp_peer_addr peer;
	unsigned channels, established;
	uint64_t sent, received;
	unsigned worker;
};

static int cmd_show_peers(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	struct peer_row *rows = NULL;
	unsigned n = 0, cap = 0;

	(void)argv;
	if (argc)
		return usage(r, "show peers");
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_worker *wk = &d->workers[w];

		if (!wk->engine)
			continue;
		for (uint32_t c = 0; c < ppspp_engine_max_channels(wk->engine); c++) {
			struct ppspp_channel_info ci;
			unsigned k;

			if (ppspp_engine_channel_info(wk->engine, (int)c, &ci) < 0)
				continue;
			for (k = 0; k < n; k++)
				if (ppspp_peer_addr_equal(&rows[k].peer, &ci.peer))
					break;
			if (k == n) {
				if (n == CHANNELS_LISTED_MAX)
					continue;
				if (n == cap) {
					unsigned nc = cap ? cap * 2 : 64;
					struct peer_row *nr = realloc(rows, sizeof(*nr) * nc);
					if (!nr) {
						free(rows);
						return -ENOMEM;
					}
					rows = nr;
					cap = nc;
				}
				memset(&rows[n], 0, sizeof(rows[n]));
				rows[n].peer = ci.peer;
				rows[n].worker = w;
				n++;
			}
			rows[k].channels++;
			rows[k].established += ci.established;
			rows[k].sent += ci.chunks_sent;
			rows[k].received += ci.chunks_received;
		}
	}
	json_t *arr = r->json ? json_array() : NULL;
	if (!arr)
		ctl_reply_printf(r, "%-46s %-6s %8s %11s %12s %12s\n", "peer", "worker", "channels",
				 "established", "chunks_sent", "chunks_recv");
	for (unsigned k = 0; k < n; k++) {
		char peer[64];

		ppspp_peer_addr_format(&rows[k].peer, peer, sizeof(peer));
		if (arr)
			json_array_append_new(
			    arr, json_pack("{s:s, s:i, s:i, s:i, s:I, s:I}", "peer", peer, "worker",
					   (int)rows[k].worker, "channels", (int)rows[k].channels,
					   "established", (int)rows[k].established, "chunks_sent",
					   (json_int_t)rows[k].sent, "chunks_received",
					   (json_int_t)rows[k].received));
		else
			ctl_reply_printf(r, "%-46s %-6u %8u %11u %12" PRIu64 " %12" PRIu64 "\n",
					 peer, rows[k].worker, rows[k].channels,
					 rows[k].established, rows[k].sent, rows[k].received);
	}
	free(rows);
	if (arr)
		return ctl_reply_json(r, json_pack("{s:o}", "peers", arr));
	ctl_reply_printf(r, "%u peer(s)\n", n);
	return 0;
}

static int cmd_show_upstreams(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	json_t *arr = json_array();

	(void)argv;
	if (argc) {
		json_decref(arr);
		return usage(r, "show upstreams");
	}
	for (unsigned u = 0; u < d->n_upstreams; u++) {
		unsigned chans = 0, est = 0;
		uint64_t recv = 0;

		/* The upstream client is the control thread's own engine: read directly. */
		for (uint32_t c = 0; d->up && c < ppspp_engine_max_channels(d->up); c++) {
			struct ppspp_channel_info ci;

			if (ppspp_engine_channel_info(d->up, (int)c, &ci) < 0 ||
			    !ppspp_peer_addr_equal(&ci.peer, &d->upstreams[u].addr))
				continue;
			chans++;
			est += ci.established;
			recv += ci.chunks_received;
		}
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:I}", "upstream",
						     d->upstreams[u].text, "channels", (int)chans,
						     "established", (int)est, "chunks_received",
						     (json_int_t)recv));
	}
	json_t *fetch = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "started",
				  (json_int_t)d->fetch_started, "done", (json_int_t)d->fetch_done,
				  "failed", (json_int_t)d->fetch_failed, "timeouts",
				  (json_int_t)d->fetch_timeouts, "busy", (json_int_t)d->fetch_busy,
				  "collapsed", (json_int_t)d->fetch_collapsed, "insert_errors",
				  (json_int_t)d->insert_errors, "swarm_failures",
				  (json_int_t)d->swarm_failures, "in_flight", (int)d->n_fetches);
	if (r->json)
		return ctl_reply_json(r,
				      json_pack("{s:o, s:o}", "upstreams", arr, "fetches", fetch));
	ctl_reply_printf(r, "%-46s %8s %11s %12s\n", "upstream", "channels", "established",
			 "chunks_recv");
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		ctl_reply_printf(r,
				 "%-46s %8" JSON_INTEGER_FORMAT " %11" JSON_INTEGER_FORMAT
				 " %12" JSON_INTEGER_FORMAT "\n",
				 json_string_value(json_object_get(o, "upstream")),
				 json_integer_value(json_object_get(o, "channels")),
				 json_integer_value(json_object_get(o, "established")),
				 json_integer_value(json_object_get(o, "chunks_received")));
	}
	if (!d->n_upstreams)
		ctl_reply_printf(r, "(no upstreams configured: misses cannot be filled)\n");
	const char *k;
	json_t *v;
	ctl_reply_printf(r, "fetches:");
	json_object_foreach(fetch, k, v)
	{
		ctl_reply_printf(r, " %s %" JSON_INTEGER_FORMAT, k, json_integer_value(v));
	}
	ctl_reply_printf(r, "\n");
	json_decref(arr);
	json_decref(fetch);
	return 0;
}

/* The cacher is not a RELOAD overlay member yet (architecture 2 makes it one): say so. */
static int cmd_show_overlay(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	(void)ctx;
	(void)argv;
	if (argc)
		return usage(r, "show overlay");
	if (r->json)
		return ctl_reply_json(
		    r, json_pack("{s:s, s:s}", "state", "not configured", "detail",
				 "pcdn-cacherd does not join a RELOAD overlay; it fetches from its "
				 "configured upstreams"));
	ctl_reply_printf(r, "state   not configured\ndetail  pcdn-cacherd does not join a RELOAD "
			    "overlay; it fetches from its configured upstreams\n");
	return 0;
}

static int cmd_show_config(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	const struct cacherd_config *c = s->d->conf;
	json_t *o = json_object(), *ports = json_array(), *workers = json_array(),
	       *ups = json_array(), *classes = json_array();

	(void)argv;
	if (argc) {
		json_decref(o);
		json_decref(ports);
		json_decref(workers);
		json_decref(ups);
		json_decref(classes);
		return usage(r, "show config");
	}
	for (unsigned i = 0; i < c->n_workers; i++)
		json_array_append_new(workers, json_integer(c->workers[i]));
	for (unsigned i = 0; i < s->d->n_upstreams; i++)
		json_array_append_new(ups, json_string(s->d->upstreams[i].text));
	for (unsigned i = 0; i < c->cache_n_classes; i++)
		json_array_append_new(classes, json_pack("{s:i, s:i}", "slot_size",
							 (int)c->cache_classes[i].slot_size,
							 "slots", (int)c->cache_classes[i].slots));
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct cacherd_port_conf *p = &c->ports[i];
		json_t *a = json_array();
		for (unsigned k = 0; k < p->ifc.n_addrs; k++) {
			char ip[64], full[80];
			net_ipaddr_format(&p->ifc.addrs[k].addr, ip, sizeof(ip));
			snprintf(full, sizeof(full), "%s/%u", ip, p->ifc.addrs[k].len);
			json_array_append_new(a, json_string(full));
		}
		json_array_append_new(ports,
				      json_pack("{s:s, s:i, s:i, s:i, s:o}", "device", p->device,
						"mtu", (int)p->mtu, "rx_desc", (int)p->rx_desc,
						"tx_desc", (int)p->tx_desc, "addresses", a));
	}
	json_object_set_new(o, "file", json_string(s->d->config_path));
	json_object_set_new(o, "log_level", json_string(pcdn_log_level_name(c->log_level)));
	json_object_set_new(o, "log_target", json_string(c->log_syslog ? "syslog" : "stderr"));
	json_object_set_new(o, "ppspp_port", json_integer(c->ppspp_port));
	json_object_set_new(o, "workers", workers);
	json_object_set_new(o, "control_socket", json_string(c->control_socket));
	json_object_set_new(o, "control_readonly_group", json_string(c->control_readonly_group));
	json_object_set_new(o, "metrics_listen", json_string(c->metrics_listen));
	json_object_set_new(o, "stats_file",
			    s->d->stats_file ? json_string(s->d->stats_file) : json_null());
	/* The period in force (the key, or --stats-interval-ms when the key is 0). */
	json_object_set_new(o, "stats_interval_ms", json_integer(s->d->stats_interval_ms));
	json_object_set_new(o, "mempool",
			    json_pack("{s:i, s:i, s:i}", "mbufs", (int)c->mbufs, "cache",
				      (int)c->mbuf_cache, "ext_mbufs", (int)c->ext_mbufs));
	json_object_set_new(o, "neighbour",
			    json_pack("{s:i, s:i, s:i, s:i}", "entries", (int)c->neigh_entries,
				      "reachable_ms", (int)c->neigh_reachable_ms, "retrans_ms",
				      (int)c->neigh_retrans_ms, "probes", (int)c->neigh_probes));
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "upstreams", ups);
	json_object_set_new(o, "cache",
			    json_pack("{s:o, s:i, s:i, s:i, s:b, s:i, s:i}", "classes", classes,
				      "max_swarms", (int)c->cache_max_swarms, "meta_mb",
				      (int)c->cache_meta_mb, "small_percent",
				      (int)c->cache_small_percent, "hugepages", c->cache_hugepages,
				      "chunk_map_mb", (int)c->cache_chunk_map_mb, "slot_headroom",
				      (int)c->cache_slot_headroom));
	json_object_set_new(
	    o, "serve",
	    json_pack("{s:i, s:i, s:i, s:i, s:i}", "max_swarms", (int)c->serve_max_swarms,
		      "max_channels", (int)c->serve_max_channels, "max_peers",
		      (int)c->serve_max_peers, "send_burst", (int)c->serve_send_burst, "tx_hold",
		      (int)c->serve_tx_hold));
	json_object_set_new(
	    o, "fill",
	    json_pack("{s:i, s:i, s:i, s:b}", "max_outstanding", (int)c->fill_max_outstanding,
		      "timeout_ms", (int)c->fill_timeout_ms, "swarm_timeout_ms",
		      (int)c->fill_swarm_timeout_ms, "background", c->fill_background));
	if (r->json)
		return ctl_reply_json(r, o);
	/* Text: the JSON, indented, is the most faithful "key = value" view of nested groups. */
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	ctl_reply_printf(r, "%s\n", text);
	free(text);
	return 0;
}

/* ---- stats ------------------------------------------------------------------------------------
 */

static int cmd_show_stats(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct ctl_stats st;
	bool per_worker = false, prom = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--per-worker") == 0)
			per_worker = true;
		else if (strcmp(argv[i], "--prometheus") == 0)
			prom = true;
		else
			return usage(r, "show stats [--per-worker] [--prometheus]");
	}
	if ((rc = ctl_stats_collect(s, &st)) < 0)
		return rc;
	if (prom) {
		/* The exposition format is text by definition; -j does not change it. */
		bool json = r->json;
		r->json = false;
		ctl_prometheus_render(&st, s->d, r);
		r->json = json;
	} else {
		rc = ctl_stats_render(&st, per_worker, r);
	}
	ctl_stats_free(&st);
	return rc;
}

static int cmd_clear_stats(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;

	(void)argv;
	if (argc)
		return usage(r, "clear stats");
	ctl_stats_clear(s);
	PCDN_LOG(ctlm_log, NOTICE, "counters cleared by the operator");
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:b}", "cleared", 1));
	ctl_reply_printf(r, "counters cleared (gauges such as cache.chunks are not counters)\n");
	return 0;
}

/* ---- cache operations (the control thread is the cache's writer) ------------------------------
 */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int ready_swarm(struct cacherd *d, const char *hex, struct ctl_reply *r)
{
	int idx = find_swarm(d, hex, r);

	if (idx < 0)
		return idx;
	if (d->swarms[idx].state != CACHERD_SWARM_READY) {
		ctl_reply_printf(r, "swarm is %s: nothing of it is in the cache\n",
				 cacherd_swarm_state_name(d->swarms[idx].state));
		return -EAGAIN;
	}
	return idx;
}

static int cmd_cache_purge(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	long n;
	int idx;

	if (!d->cache)
		return -ENODEV;
	if (argc == 1 && strcmp(argv[0], "all") == 0) {
		n = cache_purge_all(d->cache);
	} else if (argc == 2 && strcmp(argv[0], "swarm") == 0) {
		if ((idx = ready_swarm(d, argv[1], r)) < 0)
			return idx;
		n = cache_purge_swarm(d->cache, d->swarms[idx].cache_swarm);
	} else if (argc == 3 && strcmp(argv[0], "range") == 0) {
		char *dash = strchr(argv[2], '-');
		uint64_t a, b;

		if (!dash)
			return usage(r, "cache purge range ID FIRST-LAST");
		*dash = '\0';
		if (parse_u64(argv[2], &a) < 0 || parse_u64(dash + 1, &b) < 0 || b < a)
			return usage(r, "cache purge range ID FIRST-LAST (chunk numbers, FIRST <= "
					"LAST)");
		if ((idx = ready_swarm(d, argv[1], r)) < 0)
			return idx;
		n = cache_purge_range(d->cache, d->swarms[idx].cache_swarm, a, b);
	} else {
		return usage(r, "cache purge swarm ID | range ID FIRST-LAST | all");
	}
	if (n < 0) {
		ctl_reply_printf(r, "purge failed: %s\n", pcdn_strerror((int)n));
		return (int)n;
	}
	PCDN_LOG(ctlm_log, NOTICE, "operator purged %ld chunk(s)", n);
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:I}", "purged", (json_int_t)n));
	ctl_reply_printf(r, "purged %ld chunk(s)\n", n);
	return 0;
}

static int pin(struct ctl_state *s, int argc, char **argv, struct ctl_reply *r, bool on)
{
	struct cacherd *d = s->d;
	int idx, rc;

	if (argc != 1)
		return usage(r, on ? "cache pin ID" : "cache unpin ID");
	if (!d->cache)
		return -ENODEV;
	if ((idx = ready_swarm(d, argv[0], r)) < 0)
		return idx;
	rc = cache_swarm_pin(d->cache, d->swarms[idx].cache_swarm, on);
	if (rc < 0) {
		ctl_reply_printf(r, "%s failed: %s\n", on ? "pin" : "unpin", pcdn_strerror(rc));
		return rc;
	}
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:s, s:b}", "swarm", argv[0], "pinned", on));
	ctl_reply_printf(r, "swarm %s %s\n", argv[0], on ? "pinned" : "unpinned");
	return 0;
}

static int cmd_cache_pin(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	return pin(ctx, argc, argv, r, true);
}

static int cmd_cache_unpin(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	return pin(ctx, argc, argv, r, false);
}

/* Fetches every chunk of a known swarm that is not in the cache (cacherd_fill_prefetch). */
static int cmd_cache_prefetch(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	struct cacherd *d = s->d;
	uint64_t missing = 0;
	int idx, rc;

	if (argc != 1)
		return usage(r, "cache prefetch ID");
	if ((idx = find_swarm(d, argv[0], r)) < 0) {
		if (idx == -ENOENT)
			ctl_reply_printf(r,
					 "the cacher learns a swarm's parameters (hash function, "
					 "chunk size) from a client's handshake: prefetch works on "
					 "swarms it has seen\n");
		return idx;
	}
	struct cacherd_swarm *sw = &d->swarms[idx];
	if (sw->state != CACHERD_SWARM_READY || !d->up || sw->up_swarm < 0 || !d->n_upstreams) {
		ctl_reply_printf(r, "swarm %s cannot be fetched now (state %s, %u upstream(s))\n",
				 argv[0], cacherd_swarm_state_name(sw->state), d->n_upstreams);
		return -EAGAIN;
	}
	rc = cacherd_fill_prefetch(d, sw, &missing);
	if (rc < 0) {
		ctl_reply_printf(r, "prefetch of %s not started: %s\n", argv[0], pcdn_strerror(rc));
		return rc;
	}
	PCDN_LOG(ctlm_log, NOTICE, "operator prefetch of swarm %s: %" PRIu64 " chunk(s) missing",
		 argv[0], missing);
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:s, s:I, s:I}", "swarm", argv[0], "missing",
						   (json_int_t)missing, "chunks",
						   (json_int_t)sw->chunk_count));
	if (!missing)
		ctl_reply_printf(r, "swarm %s is wholly cached (%" PRIu64 " chunks)\n", argv[0],
				 sw->chunk_count);
	else
		ctl_reply_printf(r,
				 "prefetch of %s started: %" PRIu64 " of %" PRIu64
				 " chunk(s) to fetch (show swarm %s follows it)\n",
				 argv[0], missing, sw->chunk_count, argv[0]);
	return 0;
}

/* ---- drain, log -------------------------------------------------------------------------------
 */

static int cmd_drain(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;

	(void)argv;
	if (argc)
		return usage(r, "drain");
	atomic_store(&s->d->draining, true);
	PCDN_LOG(ctlm_log, NOTICE, "drain: new channels refused, %" PRIu64 " open", peers_up(s->d));
	if (r->json)
		return ctl_reply_json(
		    r, json_pack("{s:b, s:I}", "draining", 1, "peers", (json_int_t)peers_up(s->d)));
	ctl_reply_printf(r,
			 "draining: new channels are refused, %" PRIu64
			 " open channel(s) finish (show status)\n",
			 peers_up(s->d));
	return 0;
}

static int cmd_undrain(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;

	(void)argv;
	if (argc)
		return usage(r, "undrain");
	atomic_store(&s->d->draining, false);
	PCDN_LOG(ctlm_log, NOTICE, "undrain: accepting new channels");
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:b}", "draining", 0));
	ctl_reply_printf(r, "serving: new channels accepted\n");
	return 0;
}

static int cmd_log_level(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctl_state *s = ctx;
	enum pcdn_log_level lvl;
	const char *comp = argc == 2 ? argv[1] : "*";
	int n;

	if (argc < 1 || argc > 2 || pcdn_log_level_parse(argv[0], &lvl) < 0)
		return usage(r, "log level err|warning|notice|info|debug [COMPONENT]");
	n = pcdn_log_set_level(comp, lvl);
	if (n == 0) {
		ctl_reply_printf(
		    r, "no log component '%s' (e.g. cacherd, ctl, net, ppspp, cache)\n", comp);
		return -ENOENT;
	}
	if (strcmp(comp, "*") == 0)
		s->d->conf->log_level = lvl;
	PCDN_LOG(ctlm_log, NOTICE, "log level of '%s' set to %s", comp, pcdn_log_level_name(lvl));
	if (r->json)
		return ctl_reply_json(r, json_pack("{s:s, s:s, s:i}", "component", comp, "level",
						   pcdn_log_level_name(lvl), "components", n));
	ctl_reply_printf(r, "log level %s for %d component(s) matching '%s'\n",
			 pcdn_log_level_name(lvl), n, comp);
	return 0;
}

/* ---- start / stop -----------------------------------------------------------------------------
 */

static const struct {
	const char *words;
	ctl_handler_fn fn;
	unsigned flags;
	const char *help;
} commands[] = {
    {"show status", cmd_show_status, CTL_CMD_READONLY, "uptime, state, peers, swarms, cache"},
    {"show ports", cmd_show_ports, CTL_CMD_READONLY, "data ports: driver, queues, addresses"},
    {"show workers", cmd_show_workers, CTL_CMD_READONLY, "workers: lcore, peers, traffic"},
    {"show queues", cmd_show_queues, CTL_CMD_READONLY,
     "which worker owns which RX/TX queue; ring occupancy"},
    {"show cache", cmd_show_cache, CTL_CMD_READONLY, "chunk cache geometry and occupancy"},
    {"show swarms", cmd_show_swarms, CTL_CMD_READONLY, "swarms known to the cacher"},
    {"show swarm", cmd_show_swarm, CTL_CMD_READONLY, "show swarm ID: one swarm in detail"},
    {"show channels", cmd_show_channels, CTL_CMD_READONLY, "PPSPP channels on the workers"},
    {"show peers", cmd_show_peers, CTL_CMD_READONLY, "peers (channels grouped by address)"},
    {"show upstreams", cmd_show_upstreams, CTL_CMD_READONLY, "upstream peers and fetches"},
    {"show overlay", cmd_show_overlay, CTL_CMD_READONLY, "RELOAD overlay membership"},
    {"show config", cmd_show_config, CTL_CMD_READONLY, "the running configuration"},
    {"show stats", cmd_show_stats, CTL_CMD_READONLY,
     "show stats [--per-worker] [--prometheus]: counters"},
    {"clear stats", cmd_clear_stats, 0, "counters read from zero again"},
    {"cache purge", cmd_cache_purge, 0, "cache purge swarm ID | range ID A-B | all"},
    {"cache pin", cmd_cache_pin, 0, "cache pin ID: keep every chunk of a swarm"},
    {"cache unpin", cmd_cache_unpin, 0, "cache unpin ID"},
    {"cache prefetch", cmd_cache_prefetch, 0, "cache prefetch ID: fetch a whole swarm"},
    {"drain", cmd_drain, 0, "refuse new channels, let open ones finish"},
    {"undrain", cmd_undrain, 0, "accept new channels again"},
    {"reload", ctl_cmd_reload, 0, "re-read the configuration file"},
    {"log level", cmd_log_level, 0, "log level LEVEL [COMPONENT]"},
};

int cacherd_ctl_start(struct cacherd *d)
{
	struct ctl_state *s = calloc(1, sizeof(*s));
	struct ctl_server_conf sc = {
	    .path = d->conf->control_socket,
	    .mode = 0600,
	    .owner = (uid_t)-1,
	    .group = (gid_t)-1,
	    .readonly_gid = (gid_t)-1,
	    .max_clients = 256,
	};
	char err[PCDN_ERR_MAX];
	int rc;

	if (!s)
		return -ENOMEM;
	s->d = d;
	pthread_mutex_init(&s->base_lock, NULL);
	if (d->conf->log_syslog)
		pcdn_log_to_syslog("pcdn-cacherd");
	s->srv = ctl_server_create(d->base, &sc);
	if (!s->srv) {
		rc = -errno;
		PCDN_LOG(ctlm_log, ERR, "control socket %s: %s", sc.path, pcdn_strerror(rc));
		free(s);
		return rc;
	}
	d->ctl = s;
	/* The read-only group and the metrics listener are reload's live keys: same code. */
	rc = ctl_apply_live(s, d->conf, err, sizeof(err));
	if (rc < 0)
		PCDN_LOG(ctlm_log, ERR, "%s (continuing without it)", err);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		rc = ctl_server_register(s->srv, commands[i].words, commands[i].fn, s,
					 commands[i].flags, commands[i].help);
		if (rc < 0) {
			cacherd_ctl_stop(d);
			return rc;
		}
	}
	rc = ctl_telemetry_attach(s);
	if (rc < 0)
		PCDN_LOG(ctlm_log, WARNING, "telemetry commands not registered: %s",
			 pcdn_strerror(rc));
	PCDN_LOG(ctlm_log, NOTICE, "control socket %s (read-only group %s)", sc.path,
		 d->conf->control_readonly_group[0] ? d->conf->control_readonly_group : "none");
	return 0;
}

void cacherd_ctl_stop(struct cacherd *d)
{
	struct ctl_state *s = d->ctl;

	if (!s)
		return;
	ctl_telemetry_detach();
	ctl_http_stop(s);
	ctl_server_free(s->srv);
	pthread_mutex_destroy(&s->base_lock);
	free(s->baseline);
	free(s);
	d->ctl = NULL;
}
