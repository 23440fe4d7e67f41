/* pcdn-cacherd's operator surface (issue 6), shared between its files: ctl_main.c (socket and
 * commands), ctl_stats.c (counter collection and clear-stats baselines), ctl_reload.c (config
 * reload), ctl_telemetry.c (DPDK telemetry commands), prometheus.c (text exposition and the
 * HTTP listener). Everything here runs on the control thread (d->base), except the telemetry
 * callbacks, which run on the EAL's telemetry thread and take tel_lock. */
#ifndef CTL_INTERNAL_H
#define CTL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cacherd.h"
#include "ctl.h"
#include "ctl_latency.h"

/* ---- counters --------------------------------------------------------------------------------
 * Everything `show stats` knows: the names and values of cacherd_counters_foreach (stats.c, the
 * one list the stats file, the exit report and telemetry /pcdn/stats use too), summed (worker -1)
 * and per worker, plus the request->DATA latency histograms. Counters only in the sums (fill.*,
 * cache.*) are global. Cumulative counters are reported minus the baseline taken by `clear stats`
 * (matched by name); gauges (cache.chunks, fill.outstanding, serve.peers_up, ...) are not. */

struct ctl_latency_snap {
	uint64_t bucket[CACHERD_LAT_BUCKETS];
	uint64_t count, sum_ns, overwritten;
};

#define CTL_MAX_COUNTERS 512 /* cacherd_counters_foreach gives ~170 */

/* One reading of every counter (also the `clear stats` baseline: one allocation, freed with
 * free()). Index i is the i-th name of cacherd_counters_foreach(d, -1); per_worker[i] says
 * whether the workers report it too (w[*][i]). */
struct ctl_raw {
	unsigned n_workers;
	unsigned n;
	char name[CTL_MAX_COUNTERS][64];
	uint64_t sum[CTL_MAX_COUNTERS];
	bool per_worker[CTL_MAX_COUNTERS];
	uint64_t w[CACHERD_MAX_WORKERS][CTL_MAX_COUNTERS];
	struct ctl_latency_snap lat[CACHERD_MAX_WORKERS];
};

enum ctl_metric_kind { CTL_COUNTER, CTL_GAUGE };

/* One metric; per worker (w[0..n_workers)) with its sum, or global (sum only). */
struct ctl_metric {
	char name[64];	 /* dotted, as in the stats file: "net.drop.runt" */
	char family[64]; /* Prometheus family: "pcdn_net_drops_total" */
	char label[64];	 /* extra Prometheus label pair(s): "reason=\"runt\"" or "" */
	const char *help;
	enum ctl_metric_kind kind;
	bool per_worker;
	uint64_t sum;
	uint64_t w[CACHERD_MAX_WORKERS];
};

struct ctl_stats {
	unsigned n_workers;
	unsigned n;
	struct ctl_metric *m;
	struct ctl_latency_snap lat[CACHERD_MAX_WORKERS];
	struct ctl_latency_snap lat_sum;
};

/* ---- the surface's state -------------------------------------------------------------------- */

struct ctl_http;

struct ctl_state {
	struct cacherd *d;
	struct ctl_server *srv;
	gid_t readonly_gid;
	/* clear stats: raw values at the time of the last clear (zero before) */
	pthread_mutex_t base_lock; /* the telemetry thread reads baseline too */
	struct ctl_raw *baseline;
	uint64_t cleared_ms; /* 0: never */
	struct ctl_http *http;
	char http_listen[64];
	uint64_t reloads, reload_failures;
	char last_reload[PCDN_ERR_MAX + 64];
	/* /pcdn/swarms for the telemetry thread: rebuilt by the control thread on a timer */
	struct event *tel_ev;
};

/* ctl_stats.c */
/* 0, or -E2BIG when the daemon has more than CTL_MAX_COUNTERS counters (a build to fix). */
int ctl_raw_read(const struct cacherd *d, struct ctl_raw *r);
/* Collects current values minus the baseline; 0 or -ENOMEM. */
int ctl_stats_collect(struct ctl_state *s, struct ctl_stats *st);
void ctl_stats_free(struct ctl_stats *st);
void ctl_stats_clear(struct ctl_state *s);
/* "name value" lines (summed, then per worker when per_worker) or one JSON object. */
int ctl_stats_render(const struct ctl_stats *st, bool per_worker, struct ctl_reply *r);
const char *ctl_msg_type_name(unsigned type);

/* prometheus.c */
void ctl_prometheus_render(const struct ctl_stats *st, const struct cacherd *d,
			   struct ctl_reply *out);
/* Starts (or moves) the HTTP listener; listen "" stops it. 0 or a negative errno. */
int ctl_http_set(struct ctl_state *s, const char *listen);
void ctl_http_stop(struct ctl_state *s);

/* ctl_reload.c */
int ctl_cmd_reload(void *ctx, int argc, char **argv, struct ctl_reply *r);
/* Resolves a group name ("" -> (gid_t)-1); 0 or -ENOENT. */
int ctl_group_resolve(const char *name, gid_t *gid);
/* Applies the live keys of c (log level and target, read-only group, metrics listener). */
int ctl_apply_live(struct ctl_state *s, const struct cacherd_config *c, char *err, size_t errlen);

/* ctl_telemetry.c */
int ctl_telemetry_attach(struct ctl_state *s);
void ctl_telemetry_detach(void);

#endif
