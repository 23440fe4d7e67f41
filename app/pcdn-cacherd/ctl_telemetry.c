/* DPDK telemetry commands of the operator surface, beside the foundation's /pcdn/stats and
 * /pcdn/ports (telemetry.c): /pcdn/status, /pcdn/ppspp, /pcdn/serve, /pcdn/cache, /pcdn/latency
 * (a worker index as parameter gives that worker's figures), /pcdn/workers and /pcdn/swarms.
 * Counter values are the ones `pcdn-ctl show stats` prints (after `clear stats`, too), with '/'
 * for '.' since telemetry names allow [A-Za-z0-9_/] only.
 *
 * The callbacks run on the EAL's telemetry thread. Counters are read as everywhere else
 * (relaxed loads of the workers' blocks); the swarm table belongs to the control thread, so
 * /pcdn/swarms answers from a copy that thread refreshes every second. tel_lock orders all of
 * it against detach. */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "ctl_internal.h"

#define TEL_SWARMS_MAX 200 /* a telemetry dict holds at most 256 entries */

struct tel_swarm {
	char id[2 * PPSPP_HASH_MAX_LEN + 1];
	int state;
	uint64_t chunk_count, fetched, misses, cached;
	uint32_t chunk_size;
};

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_state *tel_s;
static struct tel_swarm tel_swarms[TEL_SWARMS_MAX];
static unsigned tel_n_swarms, tel_total_swarms;

static void tel_name(char *out, size_t n, const char *dotted)
{
	snprintf(out, n, "%s", dotted);
	for (char *p = out; *p; p++)
		if (*p == '.')
			*p = '/';
}

/* A worker index as the command's parameter; none: -1 (the sums). */
static int parse_worker(const char *params, long *worker)
{
	char *end;

	*worker = -1;
	if (!params || !*params)
		return 0;
	*worker = strtol(params, &end, 10);
	if (*end || *worker < 0 || (unsigned long)*worker >= tel_s->d->n_workers)
		return -EINVAL;
	return 0;
}

/* The body of a command: runs under tel_lock with tel_s attached; arg is the command's own. */
typedef int tel_body_fn(const char *arg, const char *params, struct rte_tel_data *d);

static int tel_run(tel_body_fn *body, const char *arg, const char *params, struct rte_tel_data *d)
{
	int rc = -ENODEV;

	pthread_mutex_lock(&tel_lock);
	if (tel_s)
		rc = body(arg, params, d);
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

#define TEL_CMD(fn, body, arg)                                                                     \
	static int fn(const char *cmd, const char *params, struct rte_tel_data *d)                 \
	{                                                                                          \
		(void)cmd;                                                                         \
		return tel_run(body, arg, params, d);                                              \
	}

/* Adds the metrics whose name starts with prefix; worker < 0: sums. */
static int add_metrics(const char *prefix, const char *params, struct rte_tel_data *d)
{
	struct ctl_stats st;
	long worker;
	char name[80];
	int rc;

	if ((rc = parse_worker(params, &worker)) < 0)
		return rc;
	if ((rc = ctl_stats_collect(tel_s, &st)) < 0)
		return rc;
	rte_tel_data_start_dict(d);
	if (worker >= 0)
		rte_tel_data_add_dict_u64(d, "worker", (uint64_t)worker);
	for (unsigned i = 0; i < st.n; i++) {
		const struct ctl_metric *m = &st.m[i];

		if (strncmp(m->name, prefix, strlen(prefix)) != 0)
			continue;
		if (worker >= 0 && !m->per_worker)
			continue;
		tel_name(name, sizeof(name), m->name);
		rte_tel_data_add_dict_u64(d, name, worker >= 0 ? m->w[worker] : m->sum);
	}
	ctl_stats_free(&st);
	return 0;
}

TEL_CMD(cmd_ppspp, add_metrics, "ppspp.")
TEL_CMD(cmd_serve, add_metrics, "serve.")
TEL_CMD(cmd_cache, add_metrics, "cache.")
TEL_CMD(cmd_fill, add_metrics, "fill.")

static int latency(const char *arg, const char *params, struct rte_tel_data *d)
{
	struct ctl_stats st;
	long worker;
	int rc;

	(void)arg;
	if ((rc = parse_worker(params, &worker)) < 0)
		return rc;
	if ((rc = ctl_stats_collect(tel_s, &st)) < 0)
		return rc;
	const struct ctl_latency_snap *l = worker >= 0 ? &st.lat[worker] : &st.lat_sum;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "count", l->count);
	rte_tel_data_add_dict_u64(d, "sum_ns", l->sum_ns);
	for (unsigned k = 0; k < CACHERD_LAT_BUCKETS; k++) {
		char key[32];
		uint64_t b = cacherd_latency_bound_us(k);

		if (b == UINT64_MAX)
			snprintf(key, sizeof(key), "le_inf");
		else
			snprintf(key, sizeof(key), "le_%llu_us", (unsigned long long)b);
		rte_tel_data_add_dict_u64(d, key, l->bucket[k]);
	}
	ctl_stats_free(&st);
	return 0;
}
TEL_CMD(cmd_latency, latency, NULL)

static int status(const char *arg, const char *params, struct rte_tel_data *d)
{
	const struct cacherd *cd = tel_s->d;
	uint64_t peers = 0;

	(void)arg;
	(void)params;
	for (unsigned w = 0; w < cd->n_workers; w++)
		peers += __atomic_load_n(&cd->workers[w].peers_up, __ATOMIC_RELAXED);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "uptime_ms", pcdn_now_ns() / 1000000 - cd->start_ms);
	rte_tel_data_add_dict_u64(d, "workers", cd->n_workers);
	rte_tel_data_add_dict_u64(d, "ports", net_dataplane_n_ports(cd->dp));
	rte_tel_data_add_dict_u64(d, "draining", atomic_load(&cd->draining) ? 1 : 0);
	rte_tel_data_add_dict_u64(d, "peers", peers);
	rte_tel_data_add_dict_u64(d, "swarms", tel_total_swarms);
	rte_tel_data_add_dict_string(d, "overlay", "not configured");
	return 0;
}
TEL_CMD(cmd_status, status, NULL)

static int workers(const char *arg, const char *params, struct rte_tel_data *d)
{
	const struct cacherd *cd = tel_s->d;

	(void)arg;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned w = 0; w < cd->n_workers; w++) {
		struct rte_tel_data *o = rte_tel_data_alloc();
		char key[16];

		if (!o)
			return -ENOMEM;
		rte_tel_data_start_dict(o);
		rte_tel_data_add_dict_u64(o, "lcore", cd->workers[w].lcore);
		rte_tel_data_add_dict_u64(
		    o, "peers", __atomic_load_n(&cd->workers[w].peers_up, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(
		    o, "peers_choked",
		    __atomic_load_n(&cd->workers[w].peers_choked, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(o, "miss_ring", rte_ring_count(cd->workers[w].miss_ring));
		rte_tel_data_add_dict_u64(o, "fill_ring", rte_ring_count(cd->workers[w].fill_ring));
		snprintf(key, sizeof(key), "%u", w);
		rte_tel_data_add_dict_container(d, key, o, 0);
	}
	return 0;
}
TEL_CMD(cmd_workers, workers, NULL)

static int swarms(const char *arg, const char *params, struct rte_tel_data *d)
{
	(void)arg;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < tel_n_swarms; i++) {
		struct rte_tel_data *o = rte_tel_data_alloc();
		const struct tel_swarm *sw = &tel_swarms[i];

		if (!o)
			return -ENOMEM;
		rte_tel_data_start_dict(o);
		rte_tel_data_add_dict_string(o, "state", cacherd_swarm_state_name(sw->state));
		rte_tel_data_add_dict_u64(o, "chunk_size", sw->chunk_size);
		rte_tel_data_add_dict_u64(o, "chunks", sw->chunk_count);
		rte_tel_data_add_dict_u64(o, "cached", sw->cached);
		rte_tel_data_add_dict_u64(o, "fetched", sw->fetched);
		rte_tel_data_add_dict_u64(o, "misses", sw->misses);
		/* Keys are limited in length: the first 40 hex digits name the swarm. */
		char key[41];
		snprintf(key, sizeof(key), "%.40s", sw->id);
		rte_tel_data_add_dict_container(d, key, o, 0);
	}
	return 0;
}
TEL_CMD(cmd_swarms, swarms, NULL)

/* Control thread: copies the swarm table for /pcdn/swarms. */
static void refresh_swarms(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_state *s = arg;
	struct cacherd *d = s->d;
	unsigned n = 0, total = 0;
	static struct tel_swarm copy[TEL_SWARMS_MAX];

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < d->n_swarms; i++) {
		const struct cacherd_swarm *sw = &d->swarms[i];
		struct cache_stats cs = {0};

		if (sw->state == CACHERD_SWARM_FREE)
			continue;
		total++;
		if (n == TEL_SWARMS_MAX)
			continue;
		pcdn_hex_encode(sw->id, sw->id_len, copy[n].id);
		copy[n].state = sw->state;
		copy[n].chunk_count = sw->chunk_count;
		copy[n].chunk_size = sw->chunk_size;
		copy[n].fetched = sw->fetched;
		copy[n].misses = sw->misses;
		if (d->cache && sw->state == CACHERD_SWARM_READY)
			cache_swarm_stats_get(d->cache, sw->cache_swarm, &cs);
		copy[n].cached = cs.chunks;
		n++;
	}
	pthread_mutex_lock(&tel_lock);
	memcpy(tel_swarms, copy, sizeof(copy[0]) * n);
	tel_n_swarms = n;
	tel_total_swarms = total;
	pthread_mutex_unlock(&tel_lock);
}

int ctl_telemetry_attach(struct ctl_state *s)
{
	static const struct {
		const char *name;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
	    {"/pcdn/status", cmd_status, "pcdn-cacherd status: uptime, workers, draining, peers"},
	    {"/pcdn/ppspp", cmd_ppspp, "PPSPP engine counters; parameter: a worker index"},
	    {"/pcdn/serve", cmd_serve, "serving counters (hits, misses, fills); parameter: worker"},
	    {"/pcdn/cache", cmd_cache, "chunk cache counters and occupancy"},
	    {"/pcdn/fill", cmd_fill, "upstream fill counters"},
	    {"/pcdn/latency", cmd_latency,
	     "request->DATA latency histogram (log2 us buckets); parameter: worker"},
	    {"/pcdn/workers", cmd_workers, "workers: lcore, peers, ring occupancy"},
	    {"/pcdn/swarms", cmd_swarms, "swarms: state, chunks, cached (refreshed every second)"},
	};
	static bool registered;
	struct timeval one = {1, 0};

	s->tel_ev = event_new(s->d->base, -1, EV_PERSIST, refresh_swarms, s);
	if (!s->tel_ev)
		return -ENOMEM;
	event_add(s->tel_ev, &one);
	refresh_swarms(-1, 0, s);
	pthread_mutex_lock(&tel_lock);
	tel_s = s;
	pthread_mutex_unlock(&tel_lock);
	if (registered)
		return 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = rte_telemetry_register_cmd(cmds[i].name, cmds[i].fn, cmds[i].help);
		if (rc < 0)
			return rc;
	}
	registered = true;
	return 0;
}

void ctl_telemetry_detach(void)
{
	pthread_mutex_lock(&tel_lock);
	if (tel_s && tel_s->tel_ev) {
		event_free(tel_s->tel_ev);
		tel_s->tel_ev = NULL;
	}
	tel_s = NULL;
	tel_n_swarms = 0;
	pthread_mutex_unlock(&tel_lock);
}
