/* The control thread's side of serving: the swarm table, the miss path and the upstream client.
 * RFC 7574 §3.1.1 (a handshake for a swarm we are not in gets no answer: the worker reports it
 * and the initiator's retry finds the swarm), §5 (every chunk fetched upstream is verified
 * against the swarm ID, the Merkle root, before it enters the cache), §9.1 (chunks that workers
 * miss are requested before any other).
 *
 * Pull-through: a swarm exists once a worker reported a handshake for it. Its verifier tree is
 * created from the swarm ID; the upstream client (a lib/ppspp engine on a kernel UDP socket in
 * this libevent loop) connects to every configured upstream peer and fetches the first chunk,
 * which brings the peak hashes (§5.6.2) and so the chunk count; then the swarm is published to
 * every worker (fill ring). Workers share the tree read-only (ppspp_merkle.h: one writer,
 * concurrent readers of verified nodes), so uncle hashes of every cached chunk are there.
 * Misses: one fetch per (swarm, chunk) whatever the number of waiting channels and workers, at
 * most fill.max_outstanding at once (beyond: the worker is told at once the chunk will not come,
 * the peer asks again), each with a deadline (fill.timeout_ms). A miss also asks upstream for
 * the next fill.readahead chunks not cached (clients read in order; nobody waits for those). */
#include "cacherd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "udp_io.h"

PCDN_LOG_COMPONENT(fill_log, "cacherd")

const char *cacherd_swarm_state_name(int state)
{
	switch (state) {
	case CACHERD_SWARM_FREE:
		return "free";
	case CACHERD_SWARM_PEAKS:
		return "fetching";
	case CACHERD_SWARM_READY:
		return "ready";
	case CACHERD_SWARM_FAILED:
		return "failed";
	default:
		return "?";
	}
}

int cacherd_swarm_find(const struct cacherd *d, const uint8_t *id, size_t id_len)
{
	for (unsigned i = 0; i < d->n_swarms; i++) {
		const struct cacherd_swarm *sw = &d->swarms[i];

		if (sw->state != CACHERD_SWARM_FREE && sw->id_len == id_len &&
		    memcmp(sw->id, id, id_len) == 0)
			return (int)i;
	}
	return -1;
}

static const char *swarm_hex(const struct cacherd_swarm *sw, char *out)
{
	pcdn_hex_encode(sw->id, sw->id_len, out);
	return out;
}

/* ---- to the workers ------------------------------------------------------------------------ */

static void tell_worker(struct cacherd *d, unsigned w, const struct cacherd_down_msg *msg)
{
	struct cacherd_down_msg copy = *msg, *m = &copy;

	/* sized so that it cannot be full (serve.c); if it were, the waiting request would be
	 * retried by the peer after its timeout */
	if (rte_ring_sp_enqueue_elem(d->workers[w].fill_ring, m, sizeof(*m)) != 0)
		PCDN_LOG(fill_log, WARNING, "worker %u: fill ring full", w);
}

static void tell_fill(struct cacherd *d, unsigned w, uint32_t swarm, uint64_t chunk, bool ok)
{
	struct cacherd_down_msg m = {
	    .type = CACHERD_MSG_FILL, .swarm = swarm, .chunk = chunk, .ok = ok};

	tell_worker(d, w, &m);
}

static struct cacherd_fetch *fetch_find(struct cacherd *d, uint32_t swarm, uint64_t chunk)
{
	/* a background fill verifies chunks nobody waits for: most calls end here */
	if (d->n_fetches == 0)
		return NULL;
	for (unsigned i = 0; i < d->conf->fill_max_outstanding; i++) {
		struct cacherd_fetch *f = &d->fetches[i];

		if (f->used && f->swarm == swarm && f->chunk == chunk)
			return f;
	}
	return NULL;
}

static void fetch_finish(struct cacherd *d, struct cacherd_fetch *f, bool ok)
{
	for (unsigned w = 0; w < d->n_workers; w++)
		if (f->waiters & (1u << w))
			tell_fill(d, w, f->swarm, f->chunk, ok);
	if (ok)
		d->fetch_done++;
	else
		d->fetch_failed++;
	f->used = false;
	d->n_fetches--;
}

static bool in_cache(struct cacherd *d, const struct cacherd_swarm *sw, uint64_t chunk)
{
	struct cache_key k = {.swarm = sw->cache_swarm, .chunk = chunk};
	struct cache_hit h;

	return cache_writer_lookup(d->cache, &k, &h) == 0;
}

/* ---- the upstream client -------------------------------------------------------------------- */

static void up_schedule(struct cacherd *d, uint64_t now_us)
{
	uint64_t next = d->up_next_us > now_us ? d->up_next_us - now_us : 0;
	struct timeval tv = {(time_t)(next / 1000000), (suseconds_t)(next % 1000000)};

	event_add(d->up_timer_ev, &tv);
}

static void up_run(struct cacherd *d)
{
	uint64_t now = pcdn_now_us();

	d->up_next_us = ppspp_engine_run(d->up, now);
	udp_io_flush(d->up_io);
	up_schedule(d, now);
}

static void on_up_read(evutil_socket_t fd, short what, void *arg)
{
	struct cacherd *d = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < 16 && udp_io_receive(d->up_io) > 0; i++)
		;
	up_run(d);
}

static void on_up_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	up_run(arg);
}

static int up_put_chunk(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	struct cacherd_swarm *sw = ctx;
	struct cacherd *d = sw->d;
	struct cache_key k = {.swarm = sw->cache_swarm, .chunk = chunk};
	int rc = cache_insert(d->cache, &k, data, (uint32_t)len, 0);

	/* A chunk that does not fit now (every slot referenced or pinned) is not a reason to stop
	 * the swarm: the waiting workers are told it failed (chunk_verified), peers ask again. */
	if (rc < 0 && rc != -EEXIST) {
		d->insert_errors++;
		PCDN_LOG(fill_log, INFO, "cache insert of chunk %llu: %s",
			 (unsigned long long)chunk, pcdn_strerror(rc));
	} else {
		sw->fetched++;
	}
	return 0;
}

static void publish(struct cacherd *d, unsigned gi)
{
	struct cacherd_swarm *sw = &d->swarms[gi];
	struct cacherd_down_msg m = {.type = CACHERD_MSG_SWARM, .swarm = gi};
	char hex[2 * PPSPP_HASH_MAX_LEN + 1];
	int rc;

	sw->chunk_count = ppspp_merkle_chunk_count(sw->tree);
	rc = cache_swarm_update(d->cache, sw->cache_swarm, ppspp_merkle_content_size(sw->tree),
				NULL, 0);
	if (rc < 0)
		PCDN_LOG(fill_log, WARNING, "cache swarm update: %s", pcdn_strerror(rc));
	sw->state = CACHERD_SWARM_READY;
	sw->state_us = pcdn_now_us();
	if (d->conf->fill_background) {
		sw->background = true;
		ppspp_engine_swarm_wanted_only(d->up, sw->up_swarm, false);
	}
	/* the ring orders every field above before the workers read them */
	for (unsigned w = 0; w < d->n_workers; w++)
		tell_worker(d, w, &m);
	PCDN_LOG(fill_log, NOTICE, "swarm %s: %llu chunks of %u bytes, served%s",
		 swarm_hex(sw, hex), (unsigned long long)sw->chunk_count, sw->chunk_size,
		 sw->background ? " (filling in the background)" : "");
}

static void on_up_verified(void *ctx, int up_si, uint64_t chunk, int channel)
{
	struct cacherd *d = ctx;
	int gi = d->up_to_swarm[up_si];
	struct cacherd_swarm *sw;
	struct cacherd_fetch *f;

	(void)channel;
	if (gi < 0)
		return;
	sw = &d->swarms[gi];
	if (sw->state != CACHERD_SWARM_READY && ppspp_merkle_chunk_count(sw->tree) > 0)
		publish(d, (unsigned)gi);
	f = fetch_find(d, (uint32_t)gi, chunk);
	if (f)
		fetch_finish(d, f, in_cache(d, sw, chunk));
}

static void up_connect(struct cacherd *d, struct cacherd_swarm *sw)
{
	uint64_t now = pcdn_now_us();

	for (unsigned i = 0; i < d->n_upstreams; i++) {
		int ch = ppspp_engine_connect(d->up, sw->up_swarm, &d->upstreams[i].addr, now);

		if (ch >= 0)
			sw->up_channels++;
		else
			PCDN_LOG(fill_log, WARNING, "upstream %s: %s", d->upstreams[i].text,
				 pcdn_strerror(ch));
	}
	udp_io_flush(d->up_io);
}

static void on_up_peer_end(void *ctx, int up_si, int channel, const struct ppspp_peer_addr *peer,
			   int reason)
{
	struct cacherd *d = ctx;
	int gi = d->up_to_swarm[up_si];
	char p[64], hex[2 * PPSPP_HASH_MAX_LEN + 1];
	struct cacherd_swarm *sw;

	(void)channel;
	if (gi < 0)
		return;
	sw = &d->swarms[gi];
	if (sw->up_channels)
		sw->up_channels--;
	PCDN_LOG(fill_log, INFO, "swarm %s: upstream %s: %s", swarm_hex(sw, hex),
		 ppspp_peer_addr_format(peer, p, sizeof(p)), ppspp_peer_end_name(reason));
	if (sw->up_channels == 0 && sw->state == CACHERD_SWARM_PEAKS) {
		sw->state = CACHERD_SWARM_FAILED;
		sw->state_us = pcdn_now_us();
		d->swarm_failures++;
		PCDN_LOG(fill_log, WARNING, "swarm %s: no upstream peer serves it",
			 swarm_hex(sw, hex));
	}
}

static void on_up_error(void *ctx, int up_si, int negative_errno)
{
	struct cacherd *d = ctx;

	(void)up_si;
	d->insert_errors++;
	PCDN_LOG(fill_log, ERR, "upstream swarm %d: %s", up_si, pcdn_strerror(negative_errno));
}

/* ---- reports from the workers ---------------------------------------------------------------- */

static void new_swarm(struct cacherd *d, const struct cacherd_up_msg *m)
{
	const struct cacherd_config *c = d->conf;
	uint8_t hash_fn =
	    (m->present & PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH)) ? m->hash_fn : PPSPP_HASH_SHA1;
	uint32_t chunk_size = (m->present & PPSPP_OPT_BIT(PPSPP_OPT_CHUNK_SIZE))
				  ? m->chunk_size
				  : PPSPP_DEFAULT_CHUNK_SIZE;
	uint8_t cam = (m->present & PPSPP_OPT_BIT(PPSPP_OPT_CAM)) ? m->cam : PPSPP_CAM_CHUNK32;
	char hex[2 * PPSPP_HASH_MAX_LEN + 1];
	struct cacherd_swarm *sw = NULL;
	unsigned gi;
	int gi_found = cacherd_swarm_find(d, m->id, m->id_len);

	if (gi_found >= 0) {
		sw = &d->swarms[gi_found];
		if (sw->state == CACHERD_SWARM_FAILED) {
			/* asked again: try the upstream peers again */
			sw->state = CACHERD_SWARM_PEAKS;
			sw->state_us = pcdn_now_us();
			up_connect(d, sw);
		}
		return;
	}
	if (d->n_upstreams == 0)
		return;
	/* §7.6: the swarm ID of static content is the root hash; the options must agree */
	if (ppspp_hash_len(hash_fn) == 0 || ppspp_hash_len(hash_fn) != m->id_len ||
	    chunk_size == 0 || chunk_size > c->cache_classes[c->cache_n_classes - 1].slot_size ||
	    ppspp_spec_size(cam) == 0) {
		d->swarm_failures++;
		return;
	}
	for (gi = 0; gi < c->serve_max_swarms; gi++)
		if (d->swarms[gi].state == CACHERD_SWARM_FREE)
			break;
	if (gi == c->serve_max_swarms) {
		d->swarm_failures++;
		PCDN_LOG(fill_log, WARNING, "swarm table full (serve.max_swarms = %u)",
			 c->serve_max_swarms);
		return;
	}
	sw = &d->swarms[gi];
	memset(sw, 0, sizeof(*sw));
	sw->d = d;
	sw->up_swarm = -1;
	memcpy(sw->id, m->id, m->id_len);
	sw->id_len = m->id_len;
	sw->hash_fn = hash_fn;
	sw->chunk_size = chunk_size;
	sw->cam = cam;
	sw->tree = ppspp_merkle_create_verifier(hash_fn, chunk_size, m->id, m->id_len);
	if (!sw->tree)
		goto fail;
	struct cache_swarm_conf sc = {
	    .id = m->id, .id_len = m->id_len, .chunk_size = chunk_size, .hash_id = hash_fn};
	int rc = cache_swarm_add(d->cache, &sc, &sw->cache_swarm);
	if (rc == -EEXIST) {
		struct cache_swarm_info info;

		rc = cache_swarm_find(d->cache, m->id, m->id_len, &info);
		sw->cache_swarm = info.handle;
	}
	if (rc < 0) {
		PCDN_LOG(fill_log, WARNING, "cache swarm: %s", pcdn_strerror(rc));
		goto fail;
	}
	struct ppspp_storage st = {.ctx = sw, .put_chunk = up_put_chunk};
	/* upstream channels use 32-bit chunk ranges whatever the client asked: the cam is per
	 * channel (§7.8), a worker answers each client in its own */
	sw->up_swarm = ppspp_engine_swarm_add(d->up, sw->tree, PPSPP_CAM_CHUNK32, &st);
	if (sw->up_swarm < 0) {
		PCDN_LOG(fill_log, WARNING, "upstream client: %s", pcdn_strerror(sw->up_swarm));
		goto fail;
	}
	ppspp_engine_swarm_wanted_only(d->up, sw->up_swarm, true);
	d->up_to_swarm[sw->up_swarm] = (int32_t)gi;
	sw->state = CACHERD_SWARM_PEAKS;
	sw->created_us = sw->state_us = pcdn_now_us();
	if (gi >= d->n_swarms)
		d->n_swarms = gi + 1;
	PCDN_LOG(fill_log, NOTICE, "swarm %s: asked for, fetching from %u upstream peer(s)",
		 swarm_hex(sw, hex), d->n_upstreams);
	up_connect(d, sw);
	return;
fail:
	/* the cache swarm and an engine swarm, once added, stay (no removal while running) */
	d->swarm_failures++;
	if (sw->up_swarm < 0) {
		ppspp_merkle_free(sw->tree);
		memset(sw, 0, sizeof(*sw));
	} else {
		sw->state = CACHERD_SWARM_FAILED;
	}
}

/* The next chunks after a miss, as ranges of those not cached (held ones are fetched again by
 * swarm_want, so cached ones must be left out). */
static void readahead(struct cacherd *d, struct cacherd_swarm *sw, uint64_t chunk)
{
	uint64_t end = PCDN_MIN(chunk + d->conf->fill_readahead, sw->chunk_count - 1);
	uint64_t a = UINT64_MAX;

	for (uint64_t k = chunk + 1; k <= end + 1 && chunk < end; k++) {
		bool want = k <= end && !in_cache(d, sw, k);

		if (want && a == UINT64_MAX)
			a = k;
		if (!want && a != UINT64_MAX) {
			ppspp_engine_swarm_want(d->up, sw->up_swarm, a, k - 1);
			d->fetch_readahead += k - a;
			a = UINT64_MAX;
		}
	}
}

static void on_miss(struct cacherd *d, unsigned w, uint32_t gi, uint64_t chunk, uint64_t now)
{
	struct cacherd_swarm *sw = gi < d->n_swarms ? &d->swarms[gi] : NULL;
	struct cacherd_fetch *f;

	if (!sw || sw->state != CACHERD_SWARM_READY || chunk >= sw->chunk_count) {
		tell_fill(d, w, gi, chunk, false);
		return;
	}
	sw->misses++;
	if (in_cache(d, sw, chunk)) { /* it arrived after the worker looked */
		tell_fill(d, w, gi, chunk, true);
		return;
	}
	f = fetch_find(d, gi, chunk);
	if (f) {
		f->waiters |= 1u << w;
		d->fetch_collapsed++;
		return;
	}
	if (d->n_fetches == d->conf->fill_max_outstanding) {
		d->fetch_busy++;
		tell_fill(d, w, gi, chunk, false);
		return;
	}
	for (unsigned i = 0; i < d->conf->fill_max_outstanding; i++) {
		if (!d->fetches[i].used) {
			f = &d->fetches[i];
			break;
		}
	}
	*f = (struct cacherd_fetch){.used = true,
				    .swarm = gi,
				    .chunk = chunk,
				    .deadline_us = now + (uint64_t)d->conf->fill_timeout_ms * 1000,
				    .waiters = 1u << w};
	d->n_fetches++;
	d->fetch_started++;
	if (sw->up_channels == 0)
		up_connect(d, sw);
	ppspp_engine_swarm_want(d->up, sw->up_swarm, chunk, chunk);
	readahead(d, sw, chunk);
}

/* The missing runs are asked of the upstream client first (ppspp_engine_swarm_want: fetched even
 * where its own bitmap says it had them, since the cache may have evicted or purged them), and
 * the swarm switches to the whole-swarm fill of fill.background. Chunks arrive through the normal
 * fill path. */
#define PREFETCH_RUNS 32 /* ranges the engine remembers */
int cacherd_fill_prefetch(struct cacherd *d, struct cacherd_swarm *sw, uint64_t *missing_out)
{
	uint64_t missing = 0, runs = 0, run_start = 0;
	bool in_run = false;
	int rc = 0;

	for (uint64_t c = 0; c <= sw->chunk_count && rc == 0; c++) {
		bool miss = c < sw->chunk_count && !in_cache(d, sw, c);

		missing += miss;
		if (miss && !in_run) {
			in_run = true;
			run_start = c;
		} else if (!miss && in_run) {
			/* The last remembered range takes everything after it. */
			uint64_t last = runs + 1 == PREFETCH_RUNS ? sw->chunk_count - 1 : c - 1;

			in_run = false;
			if (runs < PREFETCH_RUNS) {
				rc = ppspp_engine_swarm_want(d->up, sw->up_swarm, run_start, last);
				runs++;
			}
		}
	}
	if (rc < 0)
		return rc;
	if (missing) {
		ppspp_engine_swarm_wanted_only(d->up, sw->up_swarm, false);
		sw->background = true;
		/* Upstream channels closed since the swarm was fetched: open them again. */
		if (sw->up_channels == 0)
			up_connect(d, sw);
		/* The timer event runs the engine and flushes the socket. */
		if (d->up_timer_ev)
			event_active(d->up_timer_ev, EV_TIMEOUT, 0);
	}
	*missing_out = missing;
	return 0;
}

void cacherd_fill_poll(struct cacherd *d, uint64_t now_us)
{
	bool work = false;

	for (unsigned w = 0; w < d->n_workers; w++) {
		struct cacherd_up_msg m[32];
		unsigned n;

		while ((n = rte_ring_sc_dequeue_burst_elem(d->workers[w].miss_ring, m, sizeof(m[0]),
							   32, NULL)) > 0) {
			work = true;
			for (unsigned i = 0; i < n; i++) {
				if (m[i].type == CACHERD_MSG_MISS)
					on_miss(d, w, m[i].swarm, m[i].chunk, now_us);
				else if (m[i].type == CACHERD_MSG_UNKNOWN_SWARM)
					new_swarm(d, &m[i]);
			}
			if (n < 32)
				break;
		}
	}
	for (unsigned i = 0; d->n_fetches && i < d->conf->fill_max_outstanding; i++) {
		struct cacherd_fetch *f = &d->fetches[i];

		if (f->used && now_us >= f->deadline_us) {
			d->fetch_timeouts++;
			fetch_finish(d, f, false);
		}
	}
	for (unsigned i = 0; i < d->n_swarms; i++) {
		struct cacherd_swarm *sw = &d->swarms[i];
		char hex[2 * PPSPP_HASH_MAX_LEN + 1];

		/* state_us may be later than now_us: set by a report handled in this call */
		if (sw->state == CACHERD_SWARM_PEAKS &&
		    now_us > sw->state_us + (uint64_t)d->conf->fill_swarm_timeout_ms * 1000) {
			sw->state = CACHERD_SWARM_FAILED;
			sw->state_us = now_us;
			d->swarm_failures++;
			PCDN_LOG(fill_log, WARNING,
				 "swarm %s: no peak hashes from upstream in %u ms",
				 swarm_hex(sw, hex), d->conf->fill_swarm_timeout_ms);
		}
	}
	if (work)
		up_run(d);
}

/* ---- lifecycle --------------------------------------------------------------------------------
 */

int cacherd_fill_start(struct cacherd *d)
{
	const struct cacherd_config *c = d->conf;
	struct ppspp_engine_config ec;
	struct ppspp_engine_events ev = {
	    .ctx = d,
	    .chunk_verified = on_up_verified,
	    .peer_end = on_up_peer_end,
	    .error = on_up_error,
	};
	struct ppspp_io io;
	bool v6 = false;
	int rc;

	d->swarms = calloc(c->serve_max_swarms, sizeof(*d->swarms));
	d->fetches = calloc(c->fill_max_outstanding, sizeof(*d->fetches));
	d->up_to_swarm = malloc(c->serve_max_swarms * sizeof(*d->up_to_swarm));
	d->up_io = calloc(1, sizeof(*d->up_io));
	if (!d->swarms || !d->fetches || !d->up_to_swarm || !d->up_io)
		return -ENOMEM;
	for (unsigned i = 0; i < c->serve_max_swarms; i++)
		d->up_to_swarm[i] = -1;
	d->n_upstreams = c->n_upstreams;
	for (unsigned i = 0; i < c->n_upstreams; i++) {
		udp_io_pcdn_to_peer(&c->upstreams[i], &d->upstreams[i].addr);
		pcdn_addr_format(&c->upstreams[i], d->upstreams[i].text,
				 sizeof(d->upstreams[i].text));
		v6 = v6 || d->upstreams[i].addr.family == PPSPP_AF_INET6;
	}
	rc = udp_io_open(d->up_io, NULL, v6);
	if (rc < 0) {
		PCDN_LOG(fill_log, ERR, "upstream socket: %s", pcdn_strerror(rc));
		free(d->up_io);
		d->up_io = NULL;
		return rc;
	}
	ppspp_engine_config_defaults(&ec);
	ec.max_swarms = c->serve_max_swarms;
	ec.max_channels =
	    PCDN_MAX(1u, PCDN_MIN(c->serve_max_swarms * PCDN_MAX(1u, c->n_upstreams), 4096u));
	ec.pex = false;
	io.ctx = d->up_io;
	io.send = udp_io_send;
	d->up = ppspp_engine_create(&ec, &io, &ev, pcdn_now_us());
	if (!d->up)
		return -errno;
	d->up_io->engine = d->up;
	d->up_read_ev = event_new(d->base, d->up_io->fd, EV_READ | EV_PERSIST, on_up_read, d);
	d->up_timer_ev = event_new(d->base, -1, 0, on_up_timer, d);
	if (!d->up_read_ev || !d->up_timer_ev || event_add(d->up_read_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void cacherd_fill_stop(struct cacherd *d)
{
	if (d->up) {
		uint64_t now = pcdn_now_us();

		/* §8.4: close the upstream channels politely */
		for (uint32_t i = 0; i < ppspp_engine_max_channels(d->up); i++)
			ppspp_engine_close(d->up, (int)i, now);
		udp_io_flush(d->up_io);
		ppspp_engine_destroy(d->up);
		d->up = NULL;
	}
	if (d->up_read_ev)
		event_free(d->up_read_ev);
	if (d->up_timer_ev)
		event_free(d->up_timer_ev);
	d->up_read_ev = d->up_timer_ev = NULL;
	if (d->up_io) {
		udp_io_close(d->up_io);
		free(d->up_io);
		d->up_io = NULL;
	}
	for (unsigned i = 0; d->swarms && i < d->n_swarms; i++)
		ppspp_merkle_free(d->swarms[i].tree);
	free(d->swarms);
	free(d->fetches);
	free(d->up_to_swarm);
	d->swarms = NULL;
	d->fetches = NULL;
	d->up_to_swarm = NULL;
	d->n_swarms = 0;
}
