/* The cacher side of the data-plane bench; see dp_cacher.h. The storage adapter below is the
 * cache-backed ppspp_storage a pcdn-cacherd worker uses: get_chunk = cache lookup under QSBR
 * (the result stays valid until the worker's next quiescent state, which comes after the engine
 * ran), the glue takes a cache reference per DATA mbuf and the mbuf's free drops it. */
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
	cc.max_swarms = 4;
	cc.meta_bytes = 2 * (uint64_t)meta_len + (1 << 20);
	cc.max_readers = max_readers;
	size_t region = cache_region_size(&cc);
	if (!region) {
		rc = -EINVAL;
		goto out;
	}
	/* The arena in DPDK memory (hugepages when the EAL has them): IOVA = memzone IOVA + offset */
	dc->mz = rte_memzone_reserve_aligned("pcdn_bench_cache", region, SOCKET_ID_ANY, 0, 64);
	if (!dc->mz) {
		rc = -ENOMEM;
		goto out;
	}
	cc.region = dc->mz->addr;
	cc.region_len = region;
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
		uint32_t len = (uint32_t)PCDN_MIN((uint64_t)conf->chunk_size, conf->content_len - off);
		if ((rc = cache_insert(dc->cache, &key, content + off, len, CACHE_INSERT_PIN)) < 0)
			goto out;
	}
out:
	free(meta);
	free(content);
	ppspp_merkle_free(t);
	return rc;
}

void dp_cacher_destroy(struct dp_cacher *dc)
{
	for (unsigned i = 0; i < NET_MAX_WORKERS; i++) {
		if (dc->w[i].g.engine)
			ppspp_engine_destroy(dc->w[i].g.engine);
		ppspp_merkle_free(dc->w[i].tree);
		dc->w[i].g.engine = NULL;
		dc->w[i].tree = NULL;
	}
	if (dc->cache)
		cache_destroy(dc->cache);
	if (dc->mz)
		rte_memzone_free(dc->mz);
	dc->cache = NULL;
	dc->mz = NULL;
}

/* ---- the worker's storage and references ----------------------------------------------------- */

static int st_get(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	struct dp_worker *w = ctx;
	struct cache_key key = {.swarm = w->dc->swarm, .chunk = chunk};
	struct cache_hit hit;

	/* every chunk is pinned: a miss is an error, not a fill (the bench has no upstream) */
	if (cache_lookup(w->reader, &key, &hit) < 0)
		return -ENOENT;
	*data = hit.data;
	*len = hit.len;
	*ref = (void *)(uintptr_t)(hit.slot + 1u);
	return 0;
}

static void st_release(void *ctx, void *ref)
{
	/* nothing: the lookup holds until the quiescent state; the NIC's hold is the glue's */
	(void)ctx;
	(void)ref;
}

static void ref_take(void *ctx, void *ref)
{
	struct dp_worker *w = ctx;
	cache_ref(w->dc->cache, (uint32_t)((uintptr_t)ref - 1u));
}

static void ref_release(void *ctx, void *ref)
{
	struct dp_worker *w = ctx;
	cache_unref(w->dc->cache, (uint32_t)((uintptr_t)ref - 1u));
}

static rte_iova_t payload_iova(void *ctx, const void *addr)
{
	struct dp_worker *w = ctx;
	const struct rte_memzone *mz = w->dc->mz;
	return mz->iova + (rte_iova_t)((const uint8_t *)addr - (const uint8_t *)mz->addr);
}

static void on_loop(void *ctx)
{
	struct dp_worker *w = ctx;
	cache_reader_quiescent(w->reader);
}

/* Set-up on the worker's own lcore: the reader registration is per thread. */
static int worker_setup(struct dp_worker *w)
{
	struct dp_cacher *dc = w->dc;
	struct cache_swarm_info info;
	struct ppspp_engine_config ec;
	struct ppspp_io io;

	w->reader = cache_reader_register(dc->cache);
	if (!w->reader)
		return -errno;
	if (cache_swarm_get(dc->cache, dc->swarm, &info) < 0 || !info.meta)
		return -ENOENT;
	w->tree = ppspp_merkle_import(info.meta, info.meta_len);
	if (!w->tree)
		return -errno;
	w->st = (struct ppspp_storage){.ctx = w, .get_chunk = st_get, .release = st_release};
	memset(&w->g, 0, sizeof(w->g));
	w->g.dp = dc->dp;
	w->g.w = net_dataplane_worker(dc->dp, w->idx);
	w->g.ppspp_port = dc->ppspp_port;
	w->g.ref_take = ref_take;
	w->g.ref_release = ref_release;
	w->g.ref_ctx = w;
	w->g.iova = payload_iova;
	w->g.on_loop = on_loop;
	cacherd_ppspp_io(&w->g, &io);
	ppspp_engine_config_defaults(&ec);
	ec.max_channels = dc->max_channels;
	ec.pex = false;
	w->g.engine = ppspp_engine_create(&ec, &io, NULL, net_worker_now_ns(w->g.w) / 1000);
	if (!w->g.engine)
		return -errno;
	int si = ppspp_engine_swarm_add(w->g.engine, w->tree, PPSPP_CAM_CHUNK32, &w->st);
	if (si < 0)
		return si;
	cacherd_ppspp_attach(&w->g);
	return 0;
}

int dp_cacher_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct net_worker *nw;
	int rc;

	w->tid = gettid();
	rc = worker_setup(w);
	if (rc < 0) {
		w->state = rc;
		if (w->reader)
			cache_reader_unregister(w->reader);
		w->reader = NULL;
		return rc;
	}
	nw = w->g.w;
	const struct ppspp_engine_counters *ec = ppspp_engine_counters(w->g.engine);
	/* Per-core accounting on a shared machine: the thread's CPU time (schedstat, read by the
	 * main lcore) minus its idle polling. Iterations are timed with the clock lib/net reads at
	 * the start of each poll (no clock read of our own: it would cost as much as a DATA's
	 * checksum). An idle iteration takes well under 100 us; a longer one was preempted, and
	 * that time is no CPU time of this thread anyway. */
	uint64_t prev_ns = 0;
	bool prev_busy = false;
	w->state = 1;
	while (!net_dataplane_stopping(w->dc->dp)) {
		uint64_t out = ec->dgrams_out;
		unsigned n = net_worker_poll(nw);
		uint64_t t = net_worker_now_ns(nw);
		if (prev_ns) {
			uint64_t d = t - prev_ns;
			if (prev_busy)
				w->busy_ns += d;
			else if (d < 100000)
				w->idle_ns += d;
		}
		prev_ns = t;
		prev_busy = n || ec->dgrams_out != out;
		w->loops++;
	}
	net_worker_flush(nw);
	cache_reader_unregister(w->reader);
	w->reader = NULL;
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
