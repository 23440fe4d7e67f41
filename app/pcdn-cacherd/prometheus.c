/* Prometheus text exposition (format 0.0.4) of pcdn-cacherd's counters, for `pcdn-ctl show stats
 * --prometheus` and for GET /metrics on the optional management listener (libevent evhttp on the
 * control thread's loop). Per-worker series carry a worker label: sum them in PromQL. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"
#include "pcdn_common.h"

PCDN_LOG_COMPONENT(prom_log, "ctl")

struct ctl_http {
	struct evhttp *http;
	struct ctl_state *s;
	uint64_t requests;
};

static void series(struct ctl_reply *out, const char *family, const char *suffix, int worker,
		   const char *label, const char *value)
{
	bool any = worker >= 0 || (label && *label);

	ctl_reply_printf(out, "%s%s", family, suffix);
	if (any) {
		ctl_reply_printf(out, "{");
		if (worker >= 0)
			ctl_reply_printf(out, "worker=\"%d\"%s", worker,
					 label && *label ? "," : "");
		if (label && *label)
			ctl_reply_printf(out, "%s", label);
		ctl_reply_printf(out, "}");
	}
	ctl_reply_printf(out, " %s\n", value);
}

static void u64(char *buf, size_t n, uint64_t v)
{
	snprintf(buf, n, "%" PRIu64, v);
}

static void histogram(struct ctl_reply *out, int worker, const struct ctl_latency_snap *l)
{
	const char *f = "pcdn_request_data_latency_seconds";
	uint64_t cum = 0;
	char v[32], le[48];

	for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
		uint64_t bound = cacherd_latency_bound_us(k);

		cum += l->bucket[k];
		if (bound == UINT64_MAX)
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		else
			snprintf(le, sizeof(le), "le=\"%.6f\"", (double)bound / 1e6);
		u64(v, sizeof(v), cum);
		series(out, f, "_bucket", worker, le, v);
	}
	snprintf(v, sizeof(v), "%.9f", (double)l->sum_ns / 1e9);
	series(out, f, "_sum", worker, NULL, v);
	u64(v, sizeof(v), l->count);
	series(out, f, "_count", worker, NULL, v);
}

void ctl_prometheus_render(const struct ctl_stats *st, const struct cacherd *d,
			   struct ctl_reply *out)
{
	char v[32];
	unsigned swarms = 0;

	ctl_reply_printf(out, "# HELP pcdn_up 1 while pcdn-cacherd runs\n# TYPE pcdn_up gauge\n"
			      "pcdn_up 1\n");
	snprintf(v, sizeof(v), "%.3f", (double)(pcdn_now_ns() / 1000000 - d->start_ms) / 1e3);
	ctl_reply_printf(out,
			 "# HELP pcdn_uptime_seconds time since start\n"
			 "# TYPE pcdn_uptime_seconds gauge\npcdn_uptime_seconds %s\n",
			 v);
	ctl_reply_printf(out,
			 "# HELP pcdn_draining 1 while new channels are refused (drain)\n"
			 "# TYPE pcdn_draining gauge\npcdn_draining %d\n",
			 atomic_load(&d->draining) ? 1 : 0);
	ctl_reply_printf(out,
			 "# HELP pcdn_workers worker lcores\n# TYPE pcdn_workers gauge\n"
			 "pcdn_workers %u\n",
			 d->n_workers);
	for (unsigned i = 0; i < d->n_swarms; i++)
		swarms += d->swarms[i].state != CACHERD_SWARM_FREE;
	ctl_reply_printf(out,
			 "# HELP pcdn_swarms swarms known to the cacher\n"
			 "# TYPE pcdn_swarms gauge\npcdn_swarms %u\n",
			 swarms);

	for (unsigned i = 0; i < st->n; i++) {
		const struct ctl_metric *m = &st->m[i];
		bool seen = false;

		if (!m->family[0])
			continue;
		for (unsigned j = 0; j < i && !seen; j++)
			seen = strcmp(st->m[j].family, m->family) == 0;
		if (seen)
			continue;
		ctl_reply_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->family,
				 m->help ? m->help : m->name, m->family,
				 m->kind == CTL_COUNTER ? "counter" : "gauge");
		for (unsigned j = i; j < st->n; j++) {
			const struct ctl_metric *x = &st->m[j];

			if (strcmp(x->family, m->family) != 0)
				continue;
			if (!x->per_worker) {
				u64(v, sizeof(v), x->sum);
				series(out, x->family, "", -1, x->label, v);
				continue;
			}
			for (unsigned w = 0; w < st->n_workers; w++) {
				u64(v, sizeof(v), x->w[w]);
				series(out, x->family, "", (int)w, x->label, v);
			}
		}
	}
	ctl_reply_printf(out, "# HELP pcdn_request_data_latency_seconds time from a datagram "
			      "carrying REQUEST to the next DATA sent to that peer\n"
			      "# TYPE pcdn_request_data_latency_seconds histogram\n");
	for (unsigned w = 0; w < st->n_workers; w++)
		histogram(out, (int)w, &st->lat[w]);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct ctl_http *h = arg;
	struct ctl_stats st;
	struct ctl_reply r = {0};
	struct evbuffer *buf;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	h->requests++;
	if (ctl_stats_collect(h->s, &st) < 0) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	ctl_prometheus_render(&st, h->s->d, &r);
	ctl_stats_free(&st);
	buf = evbuffer_new();
	if (!buf || r.overflow) {
		evbuffer_free(buf);
		ctl_reply_free(&r);
		evhttp_send_error(req, 500, "exposition too large");
		return;
	}
	evbuffer_add(buf, r.buf, r.len);
	ctl_reply_free(&r);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "try /metrics");
}

/* "addr:port" or "[v6]:port" into host and port. */
static int split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	unsigned long p;
	size_t n;

	if (!colon)
		return -EINVAL;
	p = strtoul(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || p == 0 || p > 65535)
		return -EINVAL;
	n = (size_t)(colon - listen);
	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		listen++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -EINVAL;
	memcpy(host, listen, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

void ctl_http_stop(struct ctl_state *s)
{
	if (!s->http)
		return;
	evhttp_free(s->http->http);
	free(s->http);
	s->http = NULL;
	s->http_listen[0] = '\0';
}

int ctl_http_set(struct ctl_state *s, const char *listen)
{
	struct ctl_http *h;
	char host[64];
	uint16_t port;
	int rc;

	if (strcmp(listen, s->http_listen) == 0 && (s->http || !*listen))
		return 0;
	if (*listen && (rc = split_listen(listen, host, sizeof(host), &port)) < 0)
		return rc;
	/* Bind the new one before dropping the old: a failure leaves the old listener running. */
	h = NULL;
	if (*listen) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->s = s;
		h->http = evhttp_new(s->d->base);
		if (!h->http) {
			free(h);
			return -ENOMEM;
		}
		if (evhttp_bind_socket(h->http, host, port) != 0) {
			rc = errno ? -errno : -EADDRINUSE;
			evhttp_free(h->http);
			free(h);
			return rc;
		}
		evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
		evhttp_set_cb(h->http, "/metrics", on_metrics, h);
		evhttp_set_gencb(h->http, on_other, h);
		evhttp_set_timeout(h->http, 10);
		/* Scrapers send a request line and a few headers, never a body. */
		evhttp_set_max_headers_size(h->http, 16384);
		evhttp_set_max_body_size(h->http, 1024);
	}
	ctl_http_stop(s);
	s->http = h;
	snprintf(s->http_listen, sizeof(s->http_listen), "%s", listen);
	if (h)
		PCDN_LOG(prom_log, NOTICE, "metrics: http://%s/metrics", listen);
	return 0;
}
