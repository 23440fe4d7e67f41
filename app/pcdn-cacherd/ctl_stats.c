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
#include "stats.h"

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

struct raw_fill {
	struct ctl_raw *r;
	int worker;    /* -1: the sums (the list itself) */
	unsigned next; /* the workers' names come in the sums' order: where to look first */
	int err;
};

static void raw_one(void *ctx, const char *name, uint64_t value)
{
	struct raw_fill *f = ctx;
	struct ctl_raw *r = f->r;

	if (f->worker < 0) {
		if (r->n == CTL_MAX_COUNTERS) {
			f->err = -E2BIG;
			return;
		}
		snprintf(r->name[r->n], sizeof(r->name[r->n]), "%s", name);
		r->sum[r->n++] = value;
		return;
	}
	for (unsigned k = 0; k < r->n; k++) {
		unsigned i = (f->next + k) % r->n;

		if (strcmp(r->name[i], name) == 0) {
			r->per_worker[i] = true;
			r->w[f->worker][i] = value;
			f->next = i + 1;
			return;
		}
	}
	/* A worker figure with no sum would be a stats.c bug; it cannot be shown, so it is not. */
}

int ctl_raw_read(const struct cacherd *d, struct ctl_raw *r)
{
	struct raw_fill f = {.r = r, .worker = -1};

	memset(r, 0, sizeof(*r));
	r->n_workers = d->n_workers;
	cacherd_counters_foreach(d, -1, raw_one, &f);
	for (unsigned w = 0; w < d->n_workers && !f.err; w++) {
		f.worker = (int)w;
		f.next = 0;
		cacherd_counters_foreach(d, (int)w, raw_one, &f);
	}
	for (unsigned w = 0; w < d->n_workers; w++) {
		const struct cacherd_latency *l = &d->workers[w].glue.latency;

		for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++)
			r->lat[w].bucket[k] = ld(&l->bucket[k]);
		r->lat[w].count = ld(&l->count);
		r->lat[w].sum_ns = ld(&l->sum_ns);
		r->lat[w].overwritten = ld(&l->overwritten);
	}
	return f.err;
}

/* A counter may only be below its baseline if the daemon's own figure went backwards (a cache
 * gauge-like count after a purge): report 0 rather than a huge wrapped value. */
static uint64_t minus(uint64_t v, uint64_t b)
{
	return v >= b ? v - b : 0;
}

/* ---- Prometheus families, help and kinds, by counter name ------------------------------------
 * The names come from stats.c; a name not described here is still exported, as a counter
 * pcdn_<name with '_' for '.'>_total with its name as help. */

struct meta {
	char family[64];
	char label[64];
	const char *help;
	enum ctl_metric_kind kind;
};

struct help_row {
	const char *name;
	const char *family; /* NULL: the default family */
	const char *help;
	enum ctl_metric_kind kind;
};

static const struct help_row help_rows[] = {
    {"net.drops_total", "", NULL, CTL_COUNTER}, /* the sum of pcdn_net_drops_total{reason} */
    {"ppspp.dgrams_in", NULL, "PPSPP datagrams received", CTL_COUNTER},
    {"ppspp.dgrams_out", NULL, "PPSPP datagrams sent", CTL_COUNTER},
    {"ppspp.bytes_in", NULL, "PPSPP payload bytes received", CTL_COUNTER},
    {"ppspp.bytes_out", NULL, "PPSPP payload bytes sent", CTL_COUNTER},
    {"ppspp.malformed_total", NULL, "PPSPP datagrams that failed to decode", CTL_COUNTER},
    {"ppspp.unknown_channel", NULL, "datagrams for no channel of ours, or from the wrong address",
     CTL_COUNTER},
    {"ppspp.unknown_swarm", NULL, "handshakes naming a swarm the engine does not serve",
     CTL_COUNTER},
    {"ppspp.bad_handshakes", NULL, "handshakes that failed the RFC 7574 3.1.1 checks", CTL_COUNTER},
    {"ppspp.table_full", NULL, "handshakes refused: channel table full", CTL_COUNTER},
    {"ppspp.ignored_msgs", NULL, "legal messages unusable at that point", CTL_COUNTER},
    {"ppspp.chunks_sent", NULL, "chunks sent in DATA messages", CTL_COUNTER},
    {"ppspp.retransmits", NULL, "DATA sent again for a re-sent REQUEST", CTL_COUNTER},
    {"ppspp.requests_deferred", NULL, "requests waiting for a cache fill (storage said -EAGAIN)",
     CTL_COUNTER},
    {"ppspp.send_budget_stops", NULL,
     "channel sends paused because the port's TX queue and hold were full", CTL_COUNTER},
    {"ppspp.data_lost", NULL, "DATA never acknowledged within the retransmission timeout",
     CTL_COUNTER},
    {"ppspp.send_errors", NULL, "datagrams the engine could not send", CTL_COUNTER},
    {"ppspp.storage_errors", NULL, "storage failures", CTL_COUNTER},
    {"ppspp.peers_dead", NULL, "peers silent for the dead timeout", CTL_COUNTER},
    {"ppspp.peers_closed", NULL, "peers that closed their channel", CTL_COUNTER},
    {"ppspp.keepalives_out", NULL, "keep-alives sent", CTL_COUNTER},
    {"serve.chunks_served", NULL, "chunks sent in DATA for a request, retransmissions not counted",
     CTL_COUNTER},
    {"serve.send_errors", NULL, "engine datagrams lib/net refused (no route, no buffer, too big)",
     CTL_COUNTER},
    {"serve.peers_up", "pcdn_serve_peers", "established PPSPP channels", CTL_GAUGE},
    {"serve.peers_choked", "pcdn_serve_peers_choked", "peers choked (over the per-worker budget)",
     CTL_GAUGE},
    {"fill.swarms", "pcdn_fill_swarms", "swarm table slots in use", CTL_GAUGE},
    {"fill.started", NULL, "upstream chunk fetches started", CTL_COUNTER},
    {"fill.done", NULL, "upstream fetches that brought the chunk", CTL_COUNTER},
    {"fill.failed", NULL, "upstream fetches that failed", CTL_COUNTER},
    {"fill.timeouts", NULL, "upstream fetches that timed out", CTL_COUNTER},
    {"fill.busy", NULL, "misses refused: fetch table full", CTL_COUNTER},
    {"fill.collapsed", NULL, "misses joined to a fetch already running", CTL_COUNTER},
    {"fill.readahead", NULL, "chunks fetched upstream ahead of a miss", CTL_COUNTER},
    {"fill.insert_errors", NULL, "verified chunks the cache refused", CTL_COUNTER},
    {"fill.swarm_failures", NULL, "swarms whose metadata no upstream gave", CTL_COUNTER},
    {"fill.outstanding", "pcdn_fill_outstanding", "upstream fetches running now", CTL_GAUGE},
    {"fill.chunks_verified", NULL, "upstream chunks that passed the integrity check", CTL_COUNTER},
    {"fill.chunks_rejected", NULL, "upstream chunks that failed the integrity check", CTL_COUNTER},
    {"cache.hits", NULL, "cache lookups that found the chunk", CTL_COUNTER},
    {"cache.misses", NULL, "cache lookups that did not", CTL_COUNTER},
    {"cache.inserts", NULL, "chunks inserted", CTL_COUNTER},
    {"cache.evictions", NULL, "chunks evicted to make room", CTL_COUNTER},
    {"cache.purged", NULL, "chunks removed by purge", CTL_COUNTER},
    {"cache.chunks", "pcdn_cache_chunks", "chunks cached now", CTL_GAUGE},
    {"cache.bytes", "pcdn_cache_bytes", "payload bytes cached now", CTL_GAUGE},
    {"cache.pinned_chunks", "pcdn_cache_pinned_chunks", "pinned chunks", CTL_GAUGE},
    {"cache.pinned_bytes", "pcdn_cache_pinned_bytes", "pinned payload bytes", CTL_GAUGE},
};

/* "<area>.<what>.<key>" series that share a family and carry key as a label. */
static const struct {
	const char *prefix, *family, *label, *help;
} labelled[] = {
    {"net.drop.", "pcdn_net_drops_total", "reason", "packets dropped by lib/net, by reason"},
    {"ppspp.msgs_in.", "pcdn_ppspp_msgs_in_total", "type", "PPSPP messages received, by type"},
    {"ppspp.msgs_out.", "pcdn_ppspp_msgs_out_total", "type", "PPSPP messages sent, by type"},
    {"ppspp.malformed.", "pcdn_ppspp_malformed_total", "reason",
     "PPSPP datagrams that failed to decode, by reason"},
};

static void meta_of(const char *name, struct meta *m)
{
	memset(m, 0, sizeof(*m));
	m->kind = CTL_COUNTER;
	for (unsigned i = 0; i < PCDN_ARRAY_SIZE(labelled); i++) {
		size_t n = strlen(labelled[i].prefix);

		if (strncmp(name, labelled[i].prefix, n) == 0) {
			snprintf(m->family, sizeof(m->family), "%s", labelled[i].family);
			snprintf(m->label, sizeof(m->label), "%s=\"%s\"", labelled[i].label,
				 name + n);
			m->help = labelled[i].help;
			return;
		}
	}
	/* default family: net.rx_packets -> pcdn_net_rx_packets_total */
	snprintf(m->family, sizeof(m->family), "pcdn_%s_total", name);
	for (char *c = m->family; *c; c++)
		if (*c == '.')
			*c = '_';
	if (strncmp(name, "net.", 4) == 0)
		m->help = "lib/net event counter";
	else if (strncmp(name, "serve.", 6) == 0)
		m->help = "serving counter (cacherd.h)";
	for (unsigned i = 0; i < PCDN_ARRAY_SIZE(help_rows); i++) {
		if (strcmp(name, help_rows[i].name) != 0)
			continue;
		if (help_rows[i].family)
			snprintf(m->family, sizeof(m->family), "%s", help_rows[i].family);
		m->help = help_rows[i].help;
		m->kind = help_rows[i].kind;
		return;
	}
}

/* Index of name in the baseline, trying the same index first (the list rarely changes). */
static int base_index(const struct ctl_raw *b, unsigned i, const char *name)
{
	if (i < b->n && strcmp(b->name[i], name) == 0)
		return (int)i;
	for (unsigned k = 0; k < b->n; k++)
		if (strcmp(b->name[k], name) == 0)
			return (int)k;
	return -1;
}

int ctl_stats_collect(struct ctl_state *s, struct ctl_stats *st)
{
	struct ctl_raw *now = malloc(sizeof(*now)), *base = malloc(sizeof(*base));
	bool have_base = false;
	unsigned nw;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!now || !base) {
		free(now);
		free(base);
		return -ENOMEM;
	}
	if ((rc = ctl_raw_read(s->d, now)) < 0)
		goto out;
	pthread_mutex_lock(&s->base_lock);
	if (s->baseline) {
		memcpy(base, s->baseline, sizeof(*base));
		have_base = true;
	}
	pthread_mutex_unlock(&s->base_lock);
	nw = st->n_workers = now->n_workers;

	st->m = calloc(now->n ? now->n : 1, sizeof(*st->m));
	if (!st->m) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < now->n; i++) {
		struct ctl_metric *m = &st->m[st->n++];
		struct meta md;
		int bi = have_base ? base_index(base, i, now->name[i]) : -1;
		bool sub;

		meta_of(now->name[i], &md);
		snprintf(m->name, sizeof(m->name), "%s", now->name[i]);
		snprintf(m->family, sizeof(m->family), "%s", md.family);
		snprintf(m->label, sizeof(m->label), "%s", md.label);
		m->help = md.help;
		m->kind = md.kind;
		m->per_worker = now->per_worker[i];
		sub = bi >= 0 && m->kind == CTL_COUNTER;
		m->sum = sub ? minus(now->sum[i], base->sum[bi]) : now->sum[i];
		if (!m->per_worker)
			continue;
		for (unsigned w = 0; w < nw; w++)
			m->w[w] = sub && w < base->n_workers && base->per_worker[bi]
				      ? minus(now->w[w][i], base->w[w][bi])
				      : now->w[w][i];
	}

	/* request->DATA latency histograms */
	memset(&st->lat_sum, 0, sizeof(st->lat_sum));
	for (unsigned w = 0; w < nw; w++) {
		static const struct ctl_latency_snap zero;
		const struct ctl_latency_snap *b = have_base ? &base->lat[w] : &zero;
		struct ctl_latency_snap *l = &st->lat[w];

		for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
			l->bucket[k] = minus(now->lat[w].bucket[k], b->bucket[k]);
			st->lat_sum.bucket[k] += l->bucket[k];
		}
		l->count = minus(now->lat[w].count, b->count);
		l->sum_ns = minus(now->lat[w].sum_ns, b->sum_ns);
		l->overwritten = minus(now->lat[w].overwritten, b->overwritten);
		st->lat_sum.count += l->count;
		st->lat_sum.sum_ns += l->sum_ns;
		st->lat_sum.overwritten += l->overwritten;
	}
out:
	free(now);
	free(base);
	if (rc < 0)
		ctl_stats_free(st);
	return rc;
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
	if (ctl_raw_read(s->d, r) < 0) {
		free(r);
		return;
	}
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
