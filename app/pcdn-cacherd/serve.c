/* The workers' PPSPP serving (RFC 7574 §3.1.1, §3.2, §3.9, §8): one lib/ppspp engine per
 * worker on lib/net's hooks (ppspp_glue.c), its storage the chunk cache read under QSBR.
 * HANDSHAKEs are answered with HAVE for the whole content (pull-through: what is not cached is
 * fetched), REQUESTs are served with INTEGRITY + DATA whose payload is an external buffer on the
 * cache slot (cache_ref for the mbuf, cache_unref when the NIC frees it). A miss goes to the
 * control thread on the miss ring and the request waits (get_chunk -EAGAIN) until the fill-done
 * ring says the chunk arrived. Handshakes for unknown swarms are reported the same way. Over
 * serve.max_peers established peers, new ones are choked (§3.9) until others leave.
 * Hot path: no allocation (a published swarm costs the engine one set of bitmaps), no lock, no
 * system call. */
#include "cacherd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>

PCDN_LOG_COMPONENT(serve_log, "cacherd")

#define CACHERD_QS_NS 20000 /* quiescent state at least this often (20 us of loop time) */

static const char *const serve_names[] = {
#define CACHERD_CTR_NAME(name) #name,
    CACHERD_FOREACH_SERVE_COUNTER(CACHERD_CTR_NAME)
#undef CACHERD_CTR_NAME
};

const char *cacherd_serve_counter_name(unsigned i)
{
	return i < CACHERD_CTR_MAX ? serve_names[i] : "?";
}

static inline void ctr_add(struct cacherd_worker *wk, enum cacherd_serve_counter c, uint64_t d)
{
	__atomic_store_n(&wk->ctr.ctr[c], wk->ctr.ctr[c] + d, __ATOMIC_RELAXED);
}

static inline void ctr_inc(struct cacherd_worker *wk, enum cacherd_serve_counter c)
{
	ctr_add(wk, c, 1);
}

static uint64_t worker_now_us(const struct cacherd_worker *wk)
{
	return net_worker_now_ns(wk->w) / 1000;
}

/* ---- storage: the cache ------------------------------------------------------------------- */

/* A miss: the control thread fetches the chunk; the request waits for its FILL. */
static int serve_miss(struct cacherd_serve_swarm *ss, uint64_t chunk)
{
	struct cacherd_worker *wk = ss->wk;
	struct cacherd_up_msg m = {.type = CACHERD_MSG_MISS, .swarm = ss->swarm, .chunk = chunk};

	if (rte_ring_sp_enqueue_elem(wk->miss_ring, &m, sizeof(m)) != 0) {
		ctr_inc(wk, CACHERD_CTR_drop_miss_ring_full);
		return -ENOBUFS; /* the request is dropped; the peer asks again */
	}
	ctr_inc(wk, CACHERD_CTR_misses);
	return -EAGAIN;
}

static int serve_get_chunk(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	struct cacherd_serve_swarm *ss = ctx;
	struct cacherd_worker *wk = ss->wk;
	struct cache_key key = {.swarm = ss->cache_swarm, .chunk = chunk};
	struct cache_hit hit;

	/* valid until this worker's next quiescent state, which comes after the send */
	if (cache_lookup(wk->reader, &key, &hit) == 0) {
		ctr_inc(wk, CACHERD_CTR_hits);
		*data = hit.data;
		*len = hit.len;
		*ref = (void *)(uintptr_t)hit.slot;
		return 0;
	}
	return serve_miss(ss, chunk);
}

/* A run of chunks in one burst lookup (lib/cache prefetches every key's index line first). */
static int serve_get_chunks(void *ctx, uint64_t first, unsigned n, struct ppspp_chunk_ref *out,
			    int *stop)
{
	struct cacherd_serve_swarm *ss = ctx;
	struct cacherd_worker *wk = ss->wk;
	struct cache_key keys[CACHE_BURST_MAX];
	struct cache_hit hits[CACHE_BURST_MAX];
	unsigned i;

	if (n == 0)
		return 0;
	if (n > CACHE_BURST_MAX)
		n = CACHE_BURST_MAX;
	for (i = 0; i < n; i++)
		keys[i] = (struct cache_key){.swarm = ss->cache_swarm, .chunk = first + i};
	cache_lookup_burst(wk->reader, keys, n, hits);
	for (i = 0; i < n && hits[i].data; i++) {
		out[i].data = hits[i].data;
		out[i].len = hits[i].len;
		out[i].ref = (void *)(uintptr_t)hits[i].slot;
		/* what sending it reads next, loading while the engine works on the chunks before
		 * it: the slot's frame view or its mbuf (written: the claim or the reference count;
		 * each carries the payload's sum too), else the cache's slot record with the sum */
		if (wk->d->slots && wk->d->slots->f && hits[i].slot < wk->d->slots->n)
			__builtin_prefetch(&wk->d->slots->f[hits[i].slot], 1);
		else if (wk->d->slots && hits[i].slot < wk->d->slots->n)
			__builtin_prefetch(&wk->d->slots->m[hits[i].slot], 1);
		else
			cache_slot_prefetch(wk->d->cache, hits[i].slot);
	}
	ctr_add(wk, CACHERD_CTR_hits, i);
	if (i < n)
		*stop = serve_miss(ss, first + i);
	return (int)i;
}

/* The glue's payload references: one cache reference per DATA mbuf. */
static void serve_ref_take(void *ctx, void *ref)
{
	struct cacherd_worker *wk = ctx;

	cache_ref(wk->d->cache, (uint32_t)(uintptr_t)ref);
}

/* The chunk's RFC 1071 sum, kept by lib/cache since the insert: no payload read for the UDP
 * checksum where the port has no offload. */
static bool serve_payload_sum(void *ctx, void *ref, uint16_t *sum)
{
	struct cacherd_worker *wk = ctx;

	*sum = cache_chunk_sum16(wk->d->cache, (uint32_t)(uintptr_t)ref);
	return true;
}

/* The slot's own mbuf (slot_mbuf.h): the datagram chains it instead of an external buffer. */
static struct rte_mbuf *serve_payload_seg(void *ctx, void *ref)
{
	struct cacherd_worker *wk = ctx;

	return cacherd_slot_mbuf(wk->d->slots, (uint32_t)(uintptr_t)ref);
}

/* The slot's frame view (slot_mbuf.h), when the cache has headroom: a DATA sent in place. */
static struct rte_mbuf *serve_payload_frame(void *ctx, void *ref, struct rte_mbuf **seg,
					    uint16_t *room)
{
	struct cacherd_worker *wk = ctx;

	return cacherd_slot_frame(wk->d->slots, (uint32_t)(uintptr_t)ref, seg, room);
}

static void serve_ref_release(void *ctx, void *ref)
{
	struct cacherd_worker *wk = ctx;

	cache_unref(wk->d->cache, (uint32_t)(uintptr_t)ref);
}

static rte_iova_t serve_iova(void *ctx, const void *addr)
{
	struct cacherd_worker *wk = ctx;
	const struct cacherd *d = wk->d;

	return d->cache_iova_base +
	       (rte_iova_t)((const uint8_t *)addr - (const uint8_t *)cache_region_base(d->cache));
}

/* ---- engine events ------------------------------------------------------------------------- */

static void on_unknown_swarm(void *ctx, const struct ppspp_peer_addr *peer,
			     const struct ppspp_options *o)
{
	struct cacherd_worker *wk = ctx;
	struct cacherd_up_msg m = {.type = CACHERD_MSG_UNKNOWN_SWARM, .present = o->present};

	(void)peer;
	if (atomic_load_explicit(&wk->d->draining, memory_order_relaxed))
		return;
	if (o->swarm_id_len == 0 || o->swarm_id_len > sizeof(m.id))
		return;
	m.id_len = (uint8_t)o->swarm_id_len;
	memcpy(m.id, o->swarm_id, o->swarm_id_len);
	m.hash_fn = o->merkle_hash;
	m.cam = o->cam;
	m.chunk_size = o->chunk_size;
	if (rte_ring_sp_enqueue_elem(wk->miss_ring, &m, sizeof(m)) != 0)
		ctr_inc(wk, CACHERD_CTR_drop_report_ring_full);
	else
		ctr_inc(wk, CACHERD_CTR_unknown_swarms);
}

static void on_peer_up(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *peer)
{
	struct cacherd_worker *wk = ctx;
	unsigned max = wk->d->conf->serve_max_peers;

	(void)swarm;
	(void)peer;
	wk->chan_state[channel] = 1;
	wk->peers_up++;
	/* §3.9: over the budget, the peer is choked until another leaves */
	if (max && wk->peers_up - wk->peers_choked > max &&
	    ppspp_engine_choke(wk->engine, channel, true, worker_now_us(wk)) == 0) {
		wk->chan_state[channel] = 2;
		wk->peers_choked++;
		ctr_inc(wk, CACHERD_CTR_chokes);
	}
}

static void on_peer_end(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *peer,
			int reason)
{
	struct cacherd_worker *wk = ctx;
	uint32_t n = ppspp_engine_max_channels(wk->engine);

	(void)swarm;
	(void)peer;
	(void)reason;
	if (wk->chan_state[channel] == 0)
		return;
	wk->peers_up--;
	if (wk->chan_state[channel] == 2) {
		wk->peers_choked--;
		wk->chan_state[channel] = 0;
		return;
	}
	wk->chan_state[channel] = 0;
	if (!wk->peers_choked)
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (wk->chan_state[i] == 2 &&
		    ppspp_engine_choke(wk->engine, (int)i, false, worker_now_us(wk)) == 0) {
			wk->chan_state[i] = 1;
			wk->peers_choked--;
			ctr_inc(wk, CACHERD_CTR_unchokes);
			return;
		}
	}
}

/* ---- messages from the control thread ------------------------------------------------------- */

static void add_swarm(struct cacherd_worker *wk, uint32_t gi)
{
	const struct cacherd_swarm *sw = &wk->d->swarms[gi];
	struct cacherd_serve_swarm *ss = &wk->slots[gi];
	struct ppspp_storage st = {
	    .ctx = ss, .get_chunk = serve_get_chunk, .get_chunks = serve_get_chunks};
	int si;

	if (wk->engine_swarm[gi] >= 0)
		return;
	ss->wk = wk;
	ss->swarm = gi;
	ss->cache_swarm = sw->cache_swarm;
	/* the tree is the control thread's, read-only here (ppspp_merkle.h: verified nodes) */
	si = ppspp_engine_swarm_add(wk->engine, sw->tree, sw->cam, &st);
	if (si >= 0 && ppspp_engine_swarm_serve_all(wk->engine, si) == 0) {
		wk->engine_swarm[gi] = (int16_t)si;
		ctr_inc(wk, CACHERD_CTR_swarms_added);
		return;
	}
	ctr_inc(wk, CACHERD_CTR_drop_swarm_add);
}

static void drain(struct cacherd_worker *wk)
{
	uint32_t n = ppspp_engine_max_channels(wk->engine);
	uint64_t now = worker_now_us(wk);

	/* §8.4: a closing HANDSHAKE on every channel */
	for (uint32_t i = 0; i < n; i++)
		ppspp_engine_close(wk->engine, (int)i, now);
	__atomic_store_n(&wk->drained, true, __ATOMIC_RELEASE);
}

static void serve_loop(void *ctx)
{
	struct cacherd_worker *wk = ctx;
	struct cacherd_down_msg m[32];
	unsigned n = rte_ring_sc_dequeue_burst_elem(wk->fill_ring, m, sizeof(m[0]), 32, NULL);

	for (unsigned i = 0; i < n; i++) {
		switch (m[i].type) {
		case CACHERD_MSG_FILL: {
			int si = m[i].swarm < wk->d->conf->serve_max_swarms
				     ? wk->engine_swarm[m[i].swarm]
				     : -1;
			if (si < 0) {
				ctr_inc(wk, CACHERD_CTR_drop_no_swarm);
				break;
			}
			ppspp_engine_chunk_ready(wk->engine, si, m[i].chunk, m[i].ok != 0);
			ctr_inc(wk, m[i].ok ? CACHERD_CTR_fills_ok : CACHERD_CTR_fills_failed);
			wk->glue.next_run_us = 0; /* the waiting requests go out on the next loop */
			break;
		}
		case CACHERD_MSG_SWARM:
			if (m[i].swarm < wk->d->conf->serve_max_swarms)
				add_swarm(wk, m[i].swarm);
			break;
		case CACHERD_MSG_DRAIN:
			drain(wk);
			break;
		default:
			break;
		}
	}
	/* RCU: every cache pointer this loop used has been sent or referenced. Announced at most
	 * every CACHERD_QS_NS of loop time, not every loop: each costs two full barriers, and the
	 * writer only waits that much longer to reuse a slot. */
	uint64_t now = net_worker_now_ns(wk->w);
	if (now - wk->last_qs_ns >= CACHERD_QS_NS || n) {
		cache_reader_quiescent(wk->reader);
		wk->last_qs_ns = now;
	}
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static struct rte_ring *ring_create(const char *what, unsigned idx, size_t esize, unsigned count)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "cacherd_%s%u", what, idx);
	return rte_ring_create_elem(name, (unsigned)esize, count, (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
}

int cacherd_workers_create(struct cacherd *d)
{
	const struct cacherd_config *c = d->conf;
	struct ppspp_engine_config ec;
	struct ppspp_engine_events ev = {
	    .unknown_swarm = on_unknown_swarm,
	    .peer_up = on_peer_up,
	    .peer_end = on_peer_end,
	};
	/* Every FILL answers one miss: at once (at most a miss ring's worth per control poll) or
	 * when its fetch ends (at most fill.max_outstanding fetches); plus one SWARM per swarm and
	 * a DRAIN. A lost FILL would leave a channel waiting, so the fill ring holds all of them.
	 */
	unsigned miss_sz = 2 * c->serve_max_channels + 1024;
	unsigned fill_sz = miss_sz + c->fill_max_outstanding + c->serve_max_swarms + 64;

	ppspp_engine_config_defaults(&ec);
	ec.max_channels = c->serve_max_channels;
	ec.max_swarms = c->serve_max_swarms;
	ec.send_burst = c->serve_send_burst;
	ec.max_requests = 16;	/* requests we send: none, a cacher's worker only uploads */
	ec.max_inflight = 1024; /* DATA in flight per channel: a 1 MiB window of 1 KiB chunks */
	ec.pex = false;
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct cacherd_worker *wk = &d->workers[i];
		struct ppspp_io io;

		wk->d = d;
		wk->index = i;
		wk->lcore = c->workers[i];
		wk->w = net_dataplane_worker(d->dp, i);
		wk->miss_ring = ring_create("miss", i, sizeof(struct cacherd_up_msg), miss_sz);
		wk->fill_ring = ring_create("fill", i, sizeof(struct cacherd_down_msg), fill_sz);
		wk->slots = calloc(c->serve_max_swarms, sizeof(*wk->slots));
		wk->engine_swarm = malloc(c->serve_max_swarms * sizeof(*wk->engine_swarm));
		wk->chan_state = calloc(c->serve_max_channels, 1);
		if (!wk->miss_ring || !wk->fill_ring || !wk->slots || !wk->engine_swarm ||
		    !wk->chan_state)
			return -ENOMEM;
		for (unsigned s = 0; s < c->serve_max_swarms; s++)
			wk->engine_swarm[s] = -1;
		wk->glue = (struct cacherd_ppspp){
		    .dp = d->dp,
		    .w = wk->w,
		    .ppspp_port = c->ppspp_port,
		    .ref_take = serve_ref_take,
		    .ref_release = serve_ref_release,
		    .ref_ctx = wk,
		    .iova = d->cache_iova_linear ? serve_iova : NULL,
		    .payload_sum = serve_payload_sum,
		    .payload_seg = serve_payload_seg,
		    .payload_frame = serve_payload_frame,
		    .on_loop = serve_loop,
		    .draining = &d->draining,
		    .drain_refused = &wk->ctr.ctr[CACHERD_CTR_drop_draining],
		};
		cacherd_ppspp_io(&wk->glue, &io);
		ev.ctx = wk;
		wk->engine = ppspp_engine_create(&ec, &io, &ev, pcdn_now_ns() / 1000);
		if (!wk->engine)
			return -errno;
		wk->glue.engine = wk->engine;
		cacherd_ppspp_attach(&wk->glue);
	}
	return 0;
}

int cacherd_worker_main(void *arg)
{
	struct cacherd_worker *wk = arg;
	int rc;

	wk->reader = cache_reader_register(wk->d->cache);
	if (!wk->reader) {
		PCDN_LOG(serve_log, ERR, "worker %u: cache reader: %s", wk->index, strerror(errno));
		__atomic_store_n(&wk->drained, true, __ATOMIC_RELEASE);
		return -errno;
	}
	rc = net_worker_run(wk->w);
	cache_reader_offline(wk->reader);
	cache_reader_unregister(wk->reader);
	wk->reader = NULL;
	return rc;
}

void cacherd_workers_destroy(struct cacherd *d)
{
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct cacherd_worker *wk = &d->workers[i];

		ppspp_engine_destroy(wk->engine);
		rte_ring_free(wk->miss_ring);
		rte_ring_free(wk->fill_ring);
		free(wk->slots);
		free(wk->engine_swarm);
		free(wk->chan_state);
		memset(wk, 0, sizeof(*wk));
	}
}

void cacherd_serve_counters(const struct cacherd *d, struct cacherd_serve_counters *sum,
			    struct cacherd_serve_counters *per)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < d->n_workers; i++) {
		for (unsigned k = 0; k < CACHERD_CTR_MAX; k++) {
			uint64_t v = cacherd_serve_load(&d->workers[i].ctr.ctr[k]);

			sum->ctr[k] += v;
			if (per)
				per[i].ctr[k] = v;
		}
	}
}

/* The engine's counters are plain integers of the worker; each 64-bit field is read whole
 * (aligned loads), a sum may mix two instants, as any live counter read does. */
void cacherd_engine_counters(const struct cacherd *d, struct ppspp_engine_counters *sum,
			     struct ppspp_engine_counters *per)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < d->n_workers; i++) {
		const struct cacherd_worker *wk = &d->workers[i];
		const uint64_t *src;
		uint64_t *dst = (uint64_t *)sum;
		size_t nf = sizeof(*sum) / sizeof(uint64_t);

		if (!wk->engine) {
			if (per)
				memset(&per[i], 0, sizeof(per[i]));
			continue;
		}
		src = (const uint64_t *)ppspp_engine_counters(wk->engine);
		for (size_t k = 0; k < nf; k++) {
			uint64_t v = __atomic_load_n(&src[k], __ATOMIC_RELAXED);

			dst[k] += v;
			if (per)
				((uint64_t *)&per[i])[k] = v;
		}
	}
}
