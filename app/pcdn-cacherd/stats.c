/* Counter reports; see stats.h. Readers only load the workers' counters (relaxed), the hot path
 * never waits for them. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef void (*ctr_fn)(void *ctx, const char *name, uint64_t value);

static const char *const msg_names[] = {
    "handshake",	"data",	   "ack",    "have",  "integrity", "pex_resv4", "pex_req",
    "signed_integrity", "request", "cancel", "choke", "unchoke",   "pex_resv6", "pex_rescert"};

static void net_block(const struct net_counters *c, ctr_fn fn, void *ctx)
{
	char name[96];

	for (unsigned i = 0; i < NET_CTR_MAX; i++) {
		snprintf(name, sizeof(name), "net.%s", net_counter_name(i));
		fn(ctx, name, c->ctr[i]);
	}
	fn(ctx, "net.drops_total", net_counters_drops_total(c));
	for (unsigned i = 1; i < NET_DROP_MAX; i++) {
		snprintf(name, sizeof(name), "net.drop.%s", net_drop_name(i));
		fn(ctx, name, c->drop[i]);
	}
}

static void serve_block(const struct cacherd_serve_counters *s,
			const struct ppspp_engine_counters *e, ctr_fn fn, void *ctx)
{
	char name[96];

	for (unsigned i = 0; i < CACHERD_CTR_MAX; i++) {
		snprintf(name, sizeof(name), "serve.%s", cacherd_serve_counter_name(i));
		fn(ctx, name, s->ctr[i]);
	}
	/* chunks served: DATA sent for a request, retransmissions not counted twice */
	fn(ctx, "serve.chunks_served", e->chunks_sent - e->retransmits);
	fn(ctx, "ppspp.dgrams_in", e->dgrams_in);
	fn(ctx, "ppspp.dgrams_out", e->dgrams_out);
	fn(ctx, "ppspp.bytes_in", e->bytes_in);
	fn(ctx, "ppspp.bytes_out", e->bytes_out);
	for (int i = 0; i <= PPSPP_MSG_TYPE_MAX && i < (int)PCDN_ARRAY_SIZE(msg_names); i++) {
		snprintf(name, sizeof(name), "ppspp.msgs_in.%s", msg_names[i]);
		fn(ctx, name, e->msgs_in[i]);
		snprintf(name, sizeof(name), "ppspp.msgs_out.%s", msg_names[i]);
		fn(ctx, name, e->msgs_out[i]);
	}
	for (int i = 1; i < PPSPP_ERR_DECODE_MAX; i++) {
		snprintf(name, sizeof(name), "ppspp.malformed.%s", ppspp_decode_error_name(-i));
		fn(ctx, name, e->malformed[i]);
	}
#define E(field) fn(ctx, "ppspp." #field, e->field)
	E(malformed_total);
	E(unknown_channel);
	E(unknown_swarm);
	E(bad_handshakes);
	E(table_full);
	E(ignored_msgs);
	E(chunks_sent);
	E(retransmits);
	E(requests_deferred);
	E(send_budget_stops);
	E(data_lost);
	E(send_errors);
	E(storage_errors);
	E(peers_dead);
	E(peers_closed);
	E(keepalives_out);
#undef E
}

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The serving glue's figures outside cacherd_serve_counters: lib/net send refusals (counter) and
 * the channel gauges. */
static void glue_block(const struct cacherd_worker *wk, unsigned n, ctr_fn fn, void *ctx)
{
	uint64_t send_errors = 0, up = 0, choked = 0;

	for (unsigned i = 0; i < n; i++) {
		send_errors += ld64(&wk[i].glue.send_errors);
		up += __atomic_load_n(&wk[i].peers_up, __ATOMIC_RELAXED);
		choked += __atomic_load_n(&wk[i].peers_choked, __ATOMIC_RELAXED);
	}
	fn(ctx, "serve.send_errors", send_errors);
	fn(ctx, "serve.peers_up", up);
	fn(ctx, "serve.peers_choked", choked);
}

void cacherd_counters_foreach(const struct cacherd *d, int worker, ctr_fn fn, void *ctx)
{
	unsigned nw = d->n_workers;
	struct net_counters nsum, nper[CACHERD_MAX_WORKERS];
	struct cacherd_serve_counters ssum, sper[CACHERD_MAX_WORKERS];
	struct ppspp_engine_counters esum, eper[CACHERD_MAX_WORKERS];

	net_dataplane_counters(d->dp, &nsum, nper);
	cacherd_serve_counters(d, &ssum, sper);
	cacherd_engine_counters(d, &esum, eper);
	if (worker >= 0) {
		if ((unsigned)worker >= nw)
			return;
		net_block(&nper[worker], fn, ctx);
		serve_block(&sper[worker], &eper[worker], fn, ctx);
		glue_block(&d->workers[worker], 1, fn, ctx);
		return;
	}
	net_block(&nsum, fn, ctx);
	serve_block(&ssum, &esum, fn, ctx);
	glue_block(d->workers, nw, fn, ctx);
	/* the control thread writes these; the telemetry thread reads them too */
	fn(ctx, "fill.swarms", __atomic_load_n(&d->n_swarms, __ATOMIC_RELAXED));
	fn(ctx, "fill.started", ld64(&d->fetch_started));
	fn(ctx, "fill.done", ld64(&d->fetch_done));
	fn(ctx, "fill.failed", ld64(&d->fetch_failed));
	fn(ctx, "fill.timeouts", ld64(&d->fetch_timeouts));
	fn(ctx, "fill.busy", ld64(&d->fetch_busy));
	fn(ctx, "fill.collapsed", ld64(&d->fetch_collapsed));
	fn(ctx, "fill.readahead", ld64(&d->fetch_readahead));
	fn(ctx, "fill.insert_errors", ld64(&d->insert_errors));
	fn(ctx, "fill.swarm_failures", ld64(&d->swarm_failures));
	fn(ctx, "fill.outstanding", __atomic_load_n(&d->n_fetches, __ATOMIC_RELAXED));
	if (d->up) {
		const struct ppspp_engine_counters *u = ppspp_engine_counters(d->up);

		fn(ctx, "fill.chunks_verified", u->chunks_verified);
		fn(ctx, "fill.chunks_rejected", u->chunks_rejected);
	}
	if (d->cache) {
		struct cache_stats cs;

		cache_stats_get(d->cache, &cs);
		fn(ctx, "cache.hits", cs.hits);
		fn(ctx, "cache.misses", cs.misses);
		fn(ctx, "cache.inserts", cs.inserts);
		fn(ctx, "cache.evictions", cs.evictions);
		fn(ctx, "cache.chunks", cs.chunks);
		fn(ctx, "cache.bytes", cs.bytes);
		fn(ctx, "cache.purged", cs.purged);
		fn(ctx, "cache.pinned_chunks", cs.pinned_chunks);
		fn(ctx, "cache.pinned_bytes", cs.pinned_bytes);
	}
}

struct print_ctx {
	FILE *out;
	const char *prefix;
};

static void print_one(void *ctx, const char *name, uint64_t value)
{
	struct print_ctx *p = ctx;

	fprintf(p->out, "%s%s %llu\n", p->prefix, name, (unsigned long long)value);
}

void cacherd_stats_print(FILE *out, const struct cacherd *d, uint64_t uptime_ms)
{
	struct print_ctx p = {out, ""};
	char prefix[32];

	fprintf(out, "uptime_ms %llu\n", (unsigned long long)uptime_ms);
	fprintf(out, "workers %u\n", d->n_workers);
	fprintf(out, "ports %u\n", net_dataplane_n_ports(d->dp));
	cacherd_counters_foreach(d, -1, print_one, &p);
	for (unsigned w = 0; w < d->n_workers; w++) {
		snprintf(prefix, sizeof(prefix), "worker%u.", w);
		p.prefix = prefix;
		cacherd_counters_foreach(d, (int)w, print_one, &p);
	}
}

int cacherd_stats_write_file(const char *path, const struct cacherd *d, uint64_t uptime_ms)
{
	char tmp[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	cacherd_stats_print(f, d, uptime_ms);
	if (fclose(f) != 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}
