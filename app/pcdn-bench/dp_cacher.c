/* The cacher side of the data-plane bench; see dp_cacher.h. What the daemon's control thread
 * does for a swarm it serves (cache filled, tree kept, swarm published on each worker's fill
 * ring) is done here once, before the workers start. */
#include "dp_cacher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dp_bench.h"
#include "pcdn_common.h"

static struct ppspp_merkle *build_tree(const struct dp_swarm_conf *conf, uint8_t **content)
{
	uint8_t *buf = malloc(conf->content_len ? conf->content_len : 1);

	if (!buf)
		return NULL;
	dp_content_fill(buf, conf->content_len, conf->seed);
	struct ppspp_merkle *t =
	    ppspp_merkle_build_mem(buf, conf->content_len, conf->hash_fn, conf->chunk_size);
	if (!t || !content)
		free(buf);
	else
		*content = buf;
	return t;
}

int dp_swarm_root(const struct dp_swarm_conf *conf, uint8_t *root, size_t *root_len)
{
	struct ppspp_merkle *t = build_tree(conf, NULL);

	if (!t)
		return -errno;
	ppspp_merkle_root(t, root);
	*root_len = ppspp_merkle_hash_len(t);
	ppspp_merkle_free(t);
	return 0;
}

int dp_cacher_create(struct dp_cacher *dc, const struct dp_swarm_conf *conf, unsigned max_readers)
{
	uint8_t *content = NULL;
	struct ppspp_merkle *t = build_tree(conf, &content);
	struct cache_conf cc;
	int rc = 0;

	if (!t)
		return -errno;
	dc->chunks = ppspp_merkle_chunk_count(t);
	ppspp_merkle_root(t, dc->root);
	dc->root_len = ppspp_merkle_hash_len(t);
	ssize_t meta_len = ppspp_merkle_export(t, NULL, 0);
	void *meta = meta_len > 0 ? malloc((size_t)meta_len) : NULL;
	if (!meta || ppspp_merkle_export(t, meta, (size_t)meta_len) != meta_len) {
		rc = -ENOMEM;
		goto out;
	}
	cache_conf_init(&cc);
	cc.flavour = CACHE_RCU_QSBR;
	cc.nclasses = 1;
	cc.classes[0].slot_size = (conf->chunk_size + 63) / 64 * 64;
	cc.classes[0].nslots = (uint32_t)dc->chunks + 64;
	cc.slot_headroom = conf->slot_headroom;
	cc.max_swarms = 4;
	cc.meta_bytes = 2 * (uint64_t)meta_len + (1 << 20);
	cc.max_readers = max_readers;
	size_t region = cache_region_size(&cc);
	if (!region) {
		rc = -EINVAL;
		goto out;
	}
	/* The arena in DPDK memory (hugepages when the EAL has them): IOVA = memzone IOVA + offset
	 */
	dc->mz = rte_memzone_reserve_aligned("pcdn_bench_cache", region, SOCKET_ID_ANY, 0, 64);
	if (!dc->mz) {
		rc = -ENOMEM;
		goto out;
	}
	cc.region = dc->mz->addr;
	cc.region_len = region;
	/* pcdn-cacherd's per-slot mbufs, as its cache_setup makes them */
	dc->slots = cacherd_slots_create(cc.classes[0].nslots, conf->slot_headroom, SOCKET_ID_ANY);
	if (!dc->slots) {
		rc = -errno;
		goto out;
	}
	cacherd_slots_set_iova(dc->slots, dc->mz->addr, dc->mz->iova, true);
	cacherd_slots_hook(dc->slots, &cc);
	dc->cache = cache_create(&cc);
	if (!dc->cache) {
		rc = -errno;
		goto out;
	}
	struct cache_swarm_conf sc = {.id = dc->root,
				      .id_len = dc->root_len,
				      .content_len = conf->content_len,
				      .chunk_size = conf->chunk_size,
				      .hash_id = conf->hash_fn,
				      .meta = meta,
				      .meta_len = (size_t)meta_len,
				      .pinned = true};
	if ((rc = cache_swarm_add(dc->cache, &sc, &dc->swarm)) < 0)
		goto out;
	for (uint64_t k = 0; k < dc->chunks; k++) {
		struct cache_key key = {.swarm = dc->swarm, .chunk = k};
		uint64_t off = k * conf->chunk_size;
		uint32_t len =
		    (uint32_t)PCDN_MIN((uint64_t)conf->chunk_size, conf->content_len - off);
		if ((rc = cache_insert(dc->cache, &key, content + off, len, CACHE_INSERT_PIN)) < 0)
			goto out;
	}
out:
	free(meta);
	free(content);
	dc->tree = t;
	return rc;
}

void dp_cacher_destroy(struct dp_cacher *dc)
{
	if (dc->d) {
		cacherd_workers_destroy(dc->d);
		free(dc->d->swarms);
		free(dc->d);
		dc->d = NULL;
	}
	ppspp_merkle_free(dc->tree);
	dc->tree = NULL;
	if (dc->cache)
		cache_destroy(dc->cache);
	if (dc->mz)
		rte_memzone_free(dc->mz);
	cacherd_slots_destroy(dc->slots);
	dc->slots = NULL;
	dc->cache = NULL;
	dc->mz = NULL;
}

/* ---- the daemon's workers -------------------------------------------------------------------- */

int dp_cacher_workers(struct dp_cacher *dc, const unsigned *lcores)
{
	char err[256];
	int rc;

	/* the daemon's defaults for every key, then what the bench sizes itself */
	rc = cacherd_config_load_string("workers = [ 1 ];\n"
					"ports = ( { device = \"net_ring0\"; "
					"addresses = [ \"10.0.255.254/16\" ]; } );\n",
					&dc->conf, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pcdn-bench dp: cacherd configuration: %s\n", err);
		return rc;
	}
	dc->conf.ppspp_port = dc->ppspp_port;
	dc->conf.n_workers = dc->n_workers;
	for (unsigned i = 0; i < dc->n_workers; i++)
		dc->conf.workers[i] = lcores[i];
	dc->conf.serve_max_swarms = 4;
	dc->conf.serve_max_channels = dc->max_channels;
	dc->d = calloc(1, sizeof(*dc->d));
	if (!dc->d)
		return -ENOMEM;
	struct cacherd *d = dc->d;
	d->conf = &dc->conf;
	d->dp = dc->dp;
	d->cache = dc->cache;
	d->cache_iova_base = dc->mz->iova;
	d->cache_iova_linear = dc->mz->iova != RTE_BAD_IOVA;
	d->slots = getenv("PCDN_DP_NO_SLOT_MBUFS") ? NULL : dc->slots;
	d->n_workers = dc->n_workers;
	d->swarms = calloc(dc->conf.serve_max_swarms, sizeof(*d->swarms));
	if (!d->swarms)
		return -ENOMEM;
	struct cacherd_swarm *sw = &d->swarms[0];
	sw->d = d;
	sw->state = CACHERD_SWARM_READY;
	memcpy(sw->id, dc->root, dc->root_len);
	sw->id_len = (uint8_t)dc->root_len;
	sw->hash_fn = ppspp_merkle_hash_fn(dc->tree);
	sw->cam = PPSPP_CAM_CHUNK32;
	sw->chunk_size = ppspp_merkle_chunk_size(dc->tree);
	sw->chunk_count = dc->chunks;
	sw->cache_swarm = dc->swarm;
	sw->tree = dc->tree;
	sw->up_swarm = -1;
	d->n_swarms = 1;
	if ((rc = cacherd_workers_create(d)) < 0)
		return rc;
	for (unsigned i = 0; i < dc->n_workers; i++) {
		struct cacherd_down_msg m = {.type = CACHERD_MSG_SWARM, .swarm = 0};
		if (rte_ring_sp_enqueue_elem(d->workers[i].fill_ring, &m, sizeof(m)) != 0)
			return -ENOBUFS;
		dc->w[i].dc = dc;
		dc->w[i].idx = i;
		dc->w[i].wk = &d->workers[i];
	}
	return 0;
}

struct ppspp_engine *dp_cacher_engine(const struct dp_cacher *dc, unsigned i)
{
	return dc->d ? dc->d->workers[i].engine : NULL;
}

/* Frees TX mbufs the clients handed back, as a PMD's TX cleanup does (rte_pktmbuf_prefree_seg
 * on every segment, then the pool). Their first lines were last read on the generator's core, so
 * each store into them waits for a cross-core round trip; a locked instruction (the decrement of
 * a shared payload segment's count) waits for every store before it, and for its own line: a
 * miss under a lock overlaps with nothing. Freed in ring order, header then payload, each DATA's
 * decrement would wait for its own header's store and then for its segment's line, one DATA after
 * the other. A NIC's DMA read leaves the lines with the worker's core, so a PMD never pays the
 * first; the bench adds neither: every line the cleanup writes is fetched for ownership first,
 * all of the burst at once (the headers' two lines, then the payload segments' found through
 * them), then every payload segment's reference is dropped, and only then are the headers
 * written and returned. Same work, same atomics, no store and no miss ahead of a lock (the
 * segments' prefetch measured 1.018x, 1.017x, 1.022x, 1.001x, toggled). */
static void done_free(struct rte_mbuf **m, unsigned k)
{
	struct rte_mbuf *seg[64]; /* k <= 64 */

	for (unsigned i = 0; i < k; i++) {
		__builtin_prefetch(m[i], 1, 3);
		__builtin_prefetch((const char *)m[i] + RTE_CACHE_LINE_SIZE, 1, 3);
	}
	/* a two-segment zero-copy DATA: its payload segment is the chain's last, and nothing of it
	 * but its count is read, as a PMD's cleanup reads it */
	for (unsigned i = 0; i < k; i++) {
		seg[i] = m[i]->nb_segs == 2 ? m[i]->next : NULL;
		if (seg[i])
			__builtin_prefetch(seg[i], 1, 3);
	}
	for (unsigned i = 0; i < k; i++)
		if (seg[i]) {
			struct rte_mbuf *last = rte_pktmbuf_prefree_seg(seg[i]);
			if (last)
				rte_mbuf_raw_free(last);
		}
	for (unsigned i = 0; i < k; i++)
		if (seg[i]) {
			m[i]->next = NULL;
			m[i]->nb_segs = 1;
		}
	rte_pktmbuf_free_bulk(m, k);
}

/* cacherd_worker_main with the bench's iteration accounting around net_worker_poll. */
int dp_cacher_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct cacherd_worker *wk = w->wk;
	struct net_worker *nw = wk->w;

	w->tid = gettid();
	wk->reader = cache_reader_register(w->dc->cache);
	if (!wk->reader) {
		w->state = -errno;
		return w->state;
	}
	const struct ppspp_engine_counters *ec = ppspp_engine_counters(wk->engine);
	/* Per-core accounting on a shared machine: the thread's CPU time (schedstat, read by the
	 * main lcore) minus its idle polling. Iterations are timed with the clock lib/net reads at
	 * the start of each poll (no clock read of our own: it would cost as much as a DATA's
	 * checksum). An idle iteration takes well under 100 us; a longer one was preempted, and
	 * that time is no CPU time of this thread anyway. */
	uint64_t prev_ns = 0, prev_data = 0;
	bool prev_busy = false;
	w->state = 1;
	while (!net_dataplane_stopping(w->dc->dp)) {
		uint64_t out = ec->dgrams_out, data = ec->chunks_sent;
		unsigned n = net_worker_poll(nw);
		uint64_t t = net_worker_now_ns(nw);
		if (w->done) { /* every completion there is, as a PMD's TX cleanup does */
			struct rte_mbuf *m[64];
			unsigned k;
			while ((k = rte_ring_sc_dequeue_burst(w->done, (void **)m, 64, NULL)) > 0)
				done_free(m, k);
		}
		if (prev_ns) {
			uint64_t dns = t - prev_ns;
			if (prev_busy) {
				w->busy_ns += dns;
				/* a second cross-check: busy iterations short enough not to have
				 * been preempted (the longest legitimate one sends a few thousand
				 * DATA in about 2 ms) */
				if (dns < 2000000) {
					w->clean_busy_ns += dns;
					w->clean_busy_data += prev_data;
				}
			} else if (dns < 100000) {
				w->idle_ns += dns;
			}
		}
		prev_ns = t;
		prev_busy = n || ec->dgrams_out != out;
		prev_data = ec->chunks_sent - data;
		w->loops++;
	}
	net_worker_flush(nw);
	if (w->done) {
		struct rte_mbuf *m[64];
		unsigned k;
		while ((k = rte_ring_sc_dequeue_burst(w->done, (void **)m, 64, NULL)) > 0)
			done_free(m, k);
	}
	cache_reader_offline(wk->reader);
	cache_reader_unregister(wk->reader);
	wk->reader = NULL;
	w->state = 2;
	return 0;
}

uint64_t dp_thread_cpu_ns(pid_t tid)
{
	char path[64];
	unsigned long long run = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &run) != 1)
		run = 0;
	fclose(f);
	return run;
}
