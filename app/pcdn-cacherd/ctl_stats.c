/* Counter collection for `show stats`, Prometheus and telemetry; see ctl_internal.h. Workers own
 * their counters and are never written from here: `clear stats` keeps a baseline and readers
 * subtract it. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

static const char *const msg_names[PPSPP_MSG_TYPE_MAX + 1] = {
    "handshake",	"data",	   "ack",    "have",  "integrity", "pex_resv4", "pex_req",
    "signed_integrity", "request", "cancel", "choke", "unchoke",   "pex_resv6", "pex_rescert"};

const char *ctl_msg_type_name(unsigned type)
{
	return type <= PPSPP_MSG_TYPE_MAX ? msg_names[type] : "?";
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void ctl_raw_read(const struct cacherd *d, struct ctl_raw *r)
{
	memset(r, 0, sizeof(*r));
	r->n_workers = d->n_workers;
	net_dataplane_counters(d->dp, &(struct net_counters){0}, r->net);
	cacherd_engine_counters(d, &(struct ppspp_engine_counters){0}, r->eng);
	cacherd_serve_counters(d, &(struct cacherd_serve_counters){0}, r->serve);
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_latency *l = &d->workers[w].glue.latency;

		for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++)
			r->lat[w].bucket[k] = ld(&l->bucket[k]);
		r->lat[w].count = ld(&l->count);
		r->lat[w].sum_ns = ld(&l->sum_ns);
		r->lat[w].overwritten = ld(&l->overwritten);
		r->glue_send_errors[w] = ld(&d->workers[w].glue.send_errors);
	}
	if (d->cache)
		cache_stats_get(d->cache, &r->cache);
	r->fetch[0] = ld(&d->fetch_started);
	r->fetch[1] = ld(&d->fetch_done);
	r->fetch[2] = ld(&d->fetch_failed);
	r->fetch[3] = ld(&d->fetch_timeouts);
	r->fetch[4] = ld(&d->fetch_busy);
	r->fetch[5] = ld(&d->fetch_collapsed);
	r->fetch[6] = ld(&d->insert_errors);
	r->fetch[7] = ld(&d->swarm_failures);
}

/* A counter may only be below its baseline if the daemon's own figure went backwards (a cache
 * gauge-like count after a purge): report 0 rather than a huge wrapped value. */
static uint64_t minus(uint64_t v, uint64_t b)
{
	return v >= b ? v - b : 0;
}

struct builder {
	struct ctl_stats *st;
	unsigned cap;
	int err;
};

static struct ctl_metric *add(struct builder *b, const char *name, const char *family,
			      const char *label, const char *help, enum ctl_metric_kind kind,
			      bool per_worker)
{
	if (b->err)
		return NULL;
	if (b->st->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 256;
		struct ctl_metric *m = realloc(b->st->m, sizeof(*m) * cap);

		if (!m) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->st->m = m;
		b->cap = cap;
	}
	struct ctl_metric *m = &b->st->m[b->st->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->family, sizeof(m->family), "%s", family);
	snprintf(m->label, sizeof(m->label), "%s", label ? label : "");
	m->help = help;
	m->kind = kind;
	m->per_worker = per_worker;
	return m;
}

static void set_w(struct ctl_metric *m, unsigned w, uint64_t v)
{
	if (!m)
		return;
	m->w[w] = v;
	m->sum += v;
}

int ctl_stats_collect(struct ctl_state *s, struct ctl_stats *st)
{
	struct ctl_raw *now = malloc(sizeof(*now)), *base = calloc(1, sizeof(*base));
	struct builder b = {.st = st};
	char name[64], family[64], label[64];
	unsigned nw;

	memset(st, 0, sizeof(*st));
	if (!now || !base) {
		free(now);
		free(base);
		return -ENOMEM;
	}
	ctl_raw_read(s->d, now);
	pthread_mutex_lock(&s->base_lock);
	if (s->baseline)
		memcpy(base, s->baseline, sizeof(*base));
	pthread_mutex_unlock(&s->base_lock);
	nw = st->n_workers = now->n_workers;

	/* lib/net: host stack and ports */
	for (unsigned i = 0; i < NET_CTR_MAX; i++) {
		snprintf(name, sizeof(name), "net.%s", net_counter_name(i));
		snprintf(family, sizeof(family), "pcdn_net_%s_total", net_counter_name(i));
		struct ctl_metric *m =
		    add(&b, name, family, NULL, "lib/net event counter", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->net[w].ctr[i], base->net[w].ctr[i]));
	}
	{
		struct ctl_metric *m =
		    add(&b, "net.drops_total", "", NULL, NULL, CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w,
			      minus(net_counters_drops_total(&now->net[w]),
				    net_counters_drops_total(&base->net[w])));
	}
	for (unsigned i = 1; i < NET_DROP_MAX; i++) {
		snprintf(name, sizeof(name), "net.drop.%s", net_drop_name(i));
		snprintf(label, sizeof(label), "reason=\"%s\"", net_drop_name(i));
		struct ctl_metric *m =
		    add(&b, name, "pcdn_net_drops_total", label,
			"packets dropped by lib/net, by reason", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->net[w].drop[i], base->net[w].drop[i]));
	}

	/* lib/ppspp engines on the workers */
#define ENG(field, help)                                                                           \
	do {                                                                                       \
		struct ctl_metric *m_ = add(&b, "ppspp." #field, "pcdn_ppspp_" #field "_total",    \
					    NULL, help, CTL_COUNTER, true);                        \
		for (unsigned w = 0; w < nw; w++)                                                  \
			set_w(m_, w, minus(now->eng[w].field, base->eng[w].field));                \
	} while (0)
	ENG(dgrams_in, "PPSPP datagrams received");
	ENG(dgrams_out, "PPSPP datagrams sent");
	ENG(bytes_in, "PPSPP payload bytes received");
	ENG(bytes_out, "PPSPP payload bytes sent");
	for (unsigned t = 0; t <= PPSPP_MSG_TYPE_MAX; t++) {
		snprintf(label, sizeof(label), "type=\"%s\"", msg_names[t]);
		snprintf(name, sizeof(name), "ppspp.msgs_in.%s", msg_names[t]);
		struct ctl_metric *m = add(&b, name, "pcdn_ppspp_msgs_in_total", label,
					   "PPSPP messages received, by type", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->eng[w].msgs_in[t], base->eng[w].msgs_in[t]));
		snprintf(name, sizeof(name), "ppspp.msgs_out.%s", msg_names[t]);
		m = add(&b, name, "pcdn_ppspp_msgs_out_total", label,
			"PPSPP messages sent, by type", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->eng[w].msgs_out[t], base->eng[w].msgs_out[t]));
	}
	for (int i = 1; i < PPSPP_ERR_DECODE_MAX; i++) {
		snprintf(name, sizeof(name), "ppspp.malformed.%s", ppspp_decode_error_name(-i));
		snprintf(label, sizeof(label), "reason=\"%s\"", ppspp_decode_error_name(-i));
		struct ctl_metric *m =
		    add(&b, name, "pcdn_ppspp_malformed_total", label,
			"PPSPP datagrams that failed to decode, by reason", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->eng[w].malformed[i], base->eng[w].malformed[i]));
	}
	ENG(malformed_total, "PPSPP datagrams that failed to decode");
	ENG(unknown_channel, "datagrams for no channel of ours, or from the wrong address");
	ENG(bad_handshakes, "handshakes that failed the RFC 7574 3.1.1 checks");
	ENG(table_full, "handshakes refused: channel table full");
	ENG(ignored_msgs, "legal messages unusable at that point");
	ENG(chunks_sent, "chunks sent in DATA messages");
	ENG(retransmits, "DATA sent again for a re-sent REQUEST");
	ENG(requests_deferred, "requests waiting for a cache fill (storage said -EAGAIN)");
	ENG(data_lost, "DATA never acknowledged within the retransmission timeout");
	ENG(send_errors, "datagrams the engine could not send");
	ENG(storage_errors, "storage failures");
	ENG(peers_dead, "peers silent for the dead timeout");
	ENG(peers_closed, "peers that closed their channel");
	ENG(keepalives_out, "keep-alives sent");
#undef ENG

	/* serving glue (cache lookups, misses, fills) */
	for (unsigned i = 0; i < CACHERD_CTR_MAX; i++) {
		snprintf(name, sizeof(name), "serve.%s", cacherd_serve_counter_name(i));
		snprintf(family, sizeof(family), "pcdn_serve_%s_total",
			 cacherd_serve_counter_name(i));
		struct ctl_metric *m =
		    add(&b, name, family, NULL, "serving counter (cacherd.h)", CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->serve[w].ctr[i], base->serve[w].ctr[i]));
	}
	{
		struct ctl_metric *m =
		    add(&b, "serve.send_errors", "pcdn_serve_send_errors_total", NULL,
			"engine datagrams lib/net refused (no route, no buffer, too big)",
			CTL_COUNTER, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, minus(now->glue_send_errors[w], base->glue_send_errors[w]));
		m = add(&b, "serve.peers_up", "pcdn_serve_peers", NULL,
			"established PPSPP channels", CTL_GAUGE, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w, __atomic_load_n(&s->d->workers[w].peers_up, __ATOMIC_RELAXED));
		m = add(&b, "serve.peers_choked", "pcdn_serve_peers_choked", NULL,
			"peers choked (over the per-worker budget)", CTL_GAUGE, true);
		for (unsigned w = 0; w < nw; w++)
			set_w(m, w,
			      __atomic_load_n(&s->d->workers[w].peers_choked, __ATOMIC_RELAXED));
	}

	/* upstream fill (control thread) */
	static const char *const fetch_names[8] = {"started",	    "done",	     "failed",
						   "timeouts",	    "busy",	     "collapsed",
						   "insert_errors", "swarm_failures"};
	static const char *const fetch_help[8] = {
	    "upstream chunk fetches started",	 "upstream fetches that brought the chunk",
	    "upstream fetches that failed",	 "upstream fetches that timed out",
	    "misses refused: fetch table full",	 "misses joined to a fetch already running",
	    "verified chunks the cache refused", "swarms whose metadata no upstream gave"};
	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "fill.%s", fetch_names[i]);
		snprintf(family, sizeof(family), "pcdn_fill_%s_total", fetch_names[i]);
		struct ctl_metric *m =
		    add(&b, name, family, NULL, fetch_help[i], CTL_COUNTER, false);
		if (m)
			m->sum = minus(now->fetch[i], base->fetch[i]);
	}

	/* lib/cache */
#define CACHE_C(field, help)                                                                       \
	do {                                                                                       \
		struct ctl_metric *m_ = add(&b, "cache." #field, "pcdn_cache_" #field "_total",    \
					    NULL, help, CTL_COUNTER, false);                       \
		if (m_)                                                                            \
			m_->sum = minus(now->cache.field, base->cache.field);                      \
	} while (0)
#define CACHE_G(field, help)                                                                       \
	do {                                                                                       \
		struct ctl_metric *m_ =                                                            \
		    add(&b, "cache." #field, "pcdn_cache_" #field, NULL, help, CTL_GAUGE, false);  \
		if (m_)                                                                            \
			m_->sum = now->cache.field;                                                \
	} while (0)
	CACHE_C(hits, "cache lookups that found the chunk");
	CACHE_C(misses, "cache lookups that did not");
	CACHE_C(inserts, "chunks inserted");
	CACHE_C(evictions, "chunks evicted to make room");
	CACHE_C(purged, "chunks removed by purge");
	CACHE_G(chunks, "chunks cached now");
	CACHE_G(bytes, "payload bytes cached now");
	CACHE_G(pinned_chunks, "pinned chunks");
	CACHE_G(pinned_bytes, "pinned payload bytes");
#undef CACHE_C
#undef CACHE_G

	/* request->DATA latency histograms */
	memset(&st->lat_sum, 0, sizeof(st->lat_sum));
	for (unsigned w = 0; w < nw; w++) {
		struct ctl_latency_snap *l = &st->lat[w];

		for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
			l->bucket[k] = minus(now->lat[w].bucket[k], base->lat[w].bucket[k]);
			st->lat_sum.bucket[k] += l->bucket[k];
		}
		l->count = minus(now->lat[w].count, base->lat[w].count);
		l->sum_ns = minus(now->lat[w].sum_ns, base->lat[w].sum_ns);
		l->overwritten = minus(now->lat[w].overwritten, base->lat[w].overwritten);
		st->lat_sum.count += l->count;
		st->lat_sum.sum_ns += l->sum_ns;
		st->lat_sum.overwritten += l->overwritten;
	}
	free(now);
	free(base);
	if (b.err) {
		ctl_stats_free(st);
		return b.err;
	}
	return 0;
}

void ctl_stats_free(struct ctl_stats *st)
{
	free(st->m);
	st->m = NULL;
	st->n = 0;
}

void ctl_stats_clear(struct ctl_state *s)
{
	struct ctl_raw *r = malloc(sizeof(*r));

	if (!r)
		return;
	ctl_raw_read(s->d, r);
	pthread_mutex_lock(&s->base_lock);
	free(s->baseline);
	s->baseline = r;
	pthread_mutex_unlock(&s->base_lock);
	s->cleared_ms = pcdn_now_ns() / 1000000;
}

/* Latency quantile estimated from the buckets (upper bound of the bucket holding it), in us. */
static uint64_t lat_quantile_us(const struct ctl_latency_snap *l, double q)
{
	uint64_t want = (uint64_t)((double)l->count * q + 0.5), seen = 0;

	if (!l->count)
		return 0;
	if (want == 0)
		want = 1;
	for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
		seen += l->bucket[k];
		if (seen >= want)
			return cacherd_latency_bound_us(k);
	}
	return UINT64_MAX;
}

static json_t *lat_json(const struct ctl_latency_snap *l)
{
	json_t *b = json_array();

	for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
		uint64_t le = cacherd_latency_bound_us(k);
		json_array_append_new(b, json_pack("{s:o, s:I}", "le_us",
						   le == UINT64_MAX ? json_string("+Inf")
								    : json_integer((json_int_t)le),
						   "count", (json_int_t)l->bucket[k]));
	}
	return json_pack("{s:I, s:I, s:I, s:o}", "count", (json_int_t)l->count, "sum_ns",
			 (json_int_t)l->sum_ns, "unsampled", (json_int_t)l->overwritten, "buckets",
			 b);
}

static void lat_text(struct ctl_reply *r, const char *prefix, const struct ctl_latency_snap *l)
{
	ctl_reply_printf(r, "%slatency.request_data.count %" PRIu64 "\n", prefix, l->count);
	ctl_reply_printf(r, "%slatency.request_data.sum_ns %" PRIu64 "\n", prefix, l->sum_ns);
	ctl_reply_printf(r, "%slatency.request_data.p50_le_us %" PRIu64 "\n", prefix,
			 lat_quantile_us(l, 0.5));
	ctl_reply_printf(r, "%slatency.request_data.p99_le_us %" PRIu64 "\n", prefix,
			 lat_quantile_us(l, 0.99));
	for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
		if (!l->bucket[k])
			continue;
		if (k + 1 < CACHERD_LAT_BUCKETS)
			ctl_reply_printf(r, "%slatency.request_data.le_%" PRIu64 "us %" PRIu64 "\n",
					 prefix, cacherd_latency_bound_us(k), l->bucket[k]);
		else
			ctl_reply_printf(r, "%slatency.request_data.le_inf %" PRIu64 "\n", prefix,
					 l->bucket[k]);
	}
}

int ctl_stats_render(const struct ctl_stats *st, bool per_worker, struct ctl_reply *r)
{
	if (r->json) {
		json_t *sum = json_object(), *root = json_object();

		for (unsigned i = 0; i < st->n; i++)
			json_object_set_new(sum, st->m[i].name,
					    json_integer((json_int_t)st->m[i].sum));
		json_object_set_new(root, "workers", json_integer(st->n_workers));
		json_object_set_new(root, "stats", sum);
		json_object_set_new(root, "latency_request_data", lat_json(&st->lat_sum));
		if (per_worker) {
			json_t *arr = json_array();
			for (unsigned w = 0; w < st->n_workers; w++) {
				json_t *o = json_object();
				for (unsigned i = 0; i < st->n; i++)
					if (st->m[i].per_worker)
						json_object_set_new(
						    o, st->m[i].name,
						    json_integer((json_int_t)st->m[i].w[w]));
				json_array_append_new(
				    arr, json_pack("{s:i, s:o, s:o}", "worker", (int)w, "stats", o,
						   "latency_request_data", lat_json(&st->lat[w])));
			}
			json_object_set_new(root, "per_worker", arr);
		}
		return ctl_reply_json(r, root);
	}
	ctl_reply_printf(r, "workers %u\n", st->n_workers);
	for (unsigned i = 0; i < st->n; i++)
		ctl_reply_printf(r, "%s %" PRIu64 "\n", st->m[i].name, st->m[i].sum);
	lat_text(r, "", &st->lat_sum);
	if (!per_worker)
		return 0;
	for (unsigned w = 0; w < st->n_workers; w++) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "worker%u.", w);
		for (unsigned i = 0; i < st->n; i++)
			if (st->m[i].per_worker)
				ctl_reply_printf(r, "%s%s %" PRIu64 "\n", prefix, st->m[i].name,
						 st->m[i].w[w]);
		lat_text(r, prefix, &st->lat[w]);
	}
	return 0;
}
