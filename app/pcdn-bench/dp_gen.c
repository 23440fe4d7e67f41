/* Emulated CSCs for the data-plane bench: RFC 7574 §3.1.1 handshakes (initiator side), §3.3
 * pipelined REQUESTs, §3.4/§8.7 ACKs with one-way delay samples (so the cacher's LEDBAT,
 * RFC 6817, opens its window), §8.4 closing handshakes, and §5 Merkle verification against the
 * swarm ID (the root hash, the only thing trusted here): client 0 verifies every DATA it gets, in
 * order, as a real CSC does, and the others one in --sample, with the uncles from the INTEGRITY
 * seen. One verifier serves them all: what client 0 proves, the samples check against.
 *
 * A client downloads the swarm in order, one window of chunks ahead, then closes its channel and
 * opens a new one (a new CSC arriving). No I/O here: datagrams in through dpg_input, out through
 * the send callback; the clock is passed in. The hot path (DATA in) reads the message headers
 * directly (chunk ranges, cam 2); anything else goes through lib/ppspp's decoder. */
#include "dp_bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pcdn_common.h"

enum { C_IDLE = 0, C_HS_SENT, C_EST };

#define DPG_ACK_RANGES 8
#define DPG_SCAN_NS    1000000ull /* timers: every millisecond */

struct dpg_client {
	uint8_t state;
	uint8_t group;
	bool dirty;	/* on the dirty list */
	bool must_send; /* the handshake's third datagram is owed (§3.1.1) */
	uint32_t local_id, remote_id;
	uint64_t hs_sent_ns, last_data_ns;
	uint64_t count; /* chunks, from the cacher's HAVE */
	uint64_t next_req;
	uint32_t outstanding;
	uint32_t unacked; /* chunks received since the last ACK went out */
	uint32_t n_ack;
	struct {
		uint64_t a, b;
	} ack[DPG_ACK_RANGES];
	uint64_t ack_delay_us;
	uint64_t *req_ns; /* send time of each requested chunk, ring of 2 * window */
};

struct dpg {
	struct dpg_config cfg;
	dpg_send_fn send;
	void *send_ctx;
	bool running;
	struct dpg_client *c;
	uint64_t *req_ns_mem;
	uint32_t *dirty;
	unsigned n_dirty;
	uint64_t next_scan_ns;
	uint64_t rnd;
	uint64_t sample_ctr;
	uint8_t hash_len;
	struct ppspp_codec_ctx ctx;
	struct dpg_counters ctr;
	struct dpg_hist *lat; /* DPG_MAX_GROUPS */
	/* Every INTEGRITY hash seen, by bin (untrusted until a verification uses it). */
	uint8_t *hs;
	uint64_t *hs_known;
	uint64_t hs_bins;
	uint64_t count;
	struct ppspp_merkle *verifier;
	bool peaks_known;
	dpg_tail_fn tail_fn;
	dpg_head_fn head_fn;
	size_t head_assumed; /* dpg_input_chained: the first piece's length it assumed, else 0 */
	uint8_t scratch[65536];
	uint8_t out[2048];
};

/* ---- histogram ----------------------------------------------------------------------------- */

static unsigned hist_idx(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	if (e > 45)
		return DPG_HIST_BUCKETS - 1;
	return 64 + (e - 6) * 32 + (unsigned)((v >> (e - 5)) & 31);
}

static uint64_t hist_value(unsigned i)
{
	if (i < 64)
		return i;
	unsigned e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
	/* the middle of the bucket */
	return ((32ull + sub) << (e - 5)) + (1ull << (e - 6));
}

void dpg_hist_add(struct dpg_hist *h, uint64_t ns)
{
	h->n[hist_idx(ns)]++;
}

uint64_t dpg_hist_count(const struct dpg_hist *now, const struct dpg_hist *before)
{
	uint64_t t = 0;
	for (unsigned i = 0; i < DPG_HIST_BUCKETS; i++)
		t += now->n[i] - (before ? before->n[i] : 0);
	return t;
}

double dpg_hist_pct_us(const struct dpg_hist *now, const struct dpg_hist *before, double pct)
{
	uint64_t total = dpg_hist_count(now, before), seen = 0;

	if (!total)
		return 0;
	uint64_t want = (uint64_t)((double)total * pct / 100.0);
	if (want >= total)
		want = total - 1;
	for (unsigned i = 0; i < DPG_HIST_BUCKETS; i++) {
		seen += now->n[i] - (before ? before->n[i] : 0);
		if (seen > want)
			return (double)hist_value(i) / 1000.0;
	}
	return 0;
}

/* ---- content -------------------------------------------------------------------------------- */

void dp_content_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)(i * 131);
}

/* ---- set-up --------------------------------------------------------------------------------- */

static uint64_t rnd_next(struct dpg *g)
{
	g->rnd ^= g->rnd << 13;
	g->rnd ^= g->rnd >> 7;
	g->rnd ^= g->rnd << 17;
	return g->rnd;
}

struct dpg *dpg_create(const struct dpg_config *cfg, dpg_send_fn send, void *send_ctx)
{
	struct dpg *g;

	if (!cfg || !send || cfg->n_clients == 0 || cfg->n_clients > DPG_MAX_CLIENTS ||
	    cfg->window == 0 || cfg->window > 1024 || (cfg->window & (cfg->window - 1)) ||
	    cfg->sample_every == 0 || (cfg->sample_every & (cfg->sample_every - 1)) || !cfg->root ||
	    ppspp_hash_len(cfg->hash_fn) != cfg->root_len || cfg->chunk_size == 0) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->cfg = *cfg;
	if (!g->cfg.stall_ns)
		g->cfg.stall_ns = 100000000ull;
	if (!g->cfg.hs_retry_ns)
		g->cfg.hs_retry_ns = 200000000ull;
	g->send = send;
	g->send_ctx = send_ctx;
	g->hash_len = (uint8_t)cfg->root_len;
	g->ctx = (struct ppspp_codec_ctx){
	    .cam = PPSPP_CAM_CHUNK32, .hash_len = g->hash_len, .chunk_size = cfg->chunk_size};
	g->c = calloc(cfg->n_clients, sizeof(*g->c));
	g->req_ns_mem = calloc((size_t)cfg->n_clients * 2 * cfg->window, sizeof(uint64_t));
	g->dirty = calloc(cfg->n_clients, sizeof(*g->dirty));
	g->lat = calloc(DPG_MAX_GROUPS, sizeof(*g->lat));
	g->verifier =
	    ppspp_merkle_create_verifier(cfg->hash_fn, cfg->chunk_size, cfg->root, cfg->root_len);
	if (!g->c || !g->req_ns_mem || !g->dirty || !g->lat || !g->verifier ||
	    pcdn_random_bytes(&g->rnd, sizeof(g->rnd)) < 0) {
		dpg_destroy(g);
		errno = ENOMEM;
		return NULL;
	}
	g->rnd |= 1;
	for (unsigned i = 0; i < cfg->n_clients; i++)
		g->c[i].req_ns = g->req_ns_mem + (size_t)i * 2 * cfg->window;
	g->running = true;
	return g;
}

void dpg_destroy(struct dpg *g)
{
	if (!g)
		return;
	ppspp_merkle_free(g->verifier);
	free(g->hs);
	free(g->hs_known);
	free(g->lat);
	free(g->dirty);
	free(g->req_ns_mem);
	free(g->c);
	free(g);
}

void dpg_set_group(struct dpg *g, unsigned ci, unsigned group)
{
	if (ci < g->cfg.n_clients && group < DPG_MAX_GROUPS)
		g->c[ci].group = (uint8_t)group;
}

void dpg_set_running(struct dpg *g, bool running)
{
	/* from the main lcore while the generator's runs */
	__atomic_store_n(&g->running, running, __ATOMIC_RELAXED);
}

static bool running(const struct dpg *g)
{
	return __atomic_load_n(&g->running, __ATOMIC_RELAXED);
}

const struct dpg_counters *dpg_counters(const struct dpg *g)
{
	return &g->ctr;
}

const struct dpg_hist *dpg_latency(const struct dpg *g, unsigned group)
{
	return &g->lat[group < DPG_MAX_GROUPS ? group : 0];
}

unsigned dpg_established(const struct dpg *g)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->cfg.n_clients; i++)
		n += g->c[i].state == C_EST;
	return n;
}

/* The hash store is sized once the chunk count is known (the first handshake reply). */
static int store_init(struct dpg *g, uint64_t count)
{
	uint64_t w = 1;

	if (g->hs || count == 0 || count > (1ull << 26))
		return g->hs ? 0 : -EINVAL;
	while (w < count)
		w <<= 1;
	g->hs_bins = 2 * w;
	g->hs = malloc(g->hs_bins * g->hash_len);
	g->hs_known = calloc((g->hs_bins + 63) / 64, sizeof(uint64_t));
	if (!g->hs || !g->hs_known) {
		free(g->hs);
		free(g->hs_known);
		g->hs = NULL;
		g->hs_known = NULL;
		return -ENOMEM;
	}
	g->count = count;
	return 0;
}

static void store_put(struct dpg *g, uint64_t a, uint64_t b, const uint8_t *hash)
{
	uint64_t w = b - a + 1;

	g->ctr.integrity_in++;
	/* §5.4: an INTEGRITY's chunk range is one tree node */
	if (!g->hs || b < a || (w & (w - 1)) || a % w)
		return;
	uint64_t bin = ppspp_bin_make((unsigned)__builtin_ctzll(w), a / w);
	if (bin >= g->hs_bins)
		return;
	memcpy(g->hs + bin * g->hash_len, hash, g->hash_len);
	g->hs_known[bin >> 6] |= 1ull << (bin & 63);
}

static bool store_get(const struct dpg *g, uint64_t bin, struct ppspp_hash_node *out)
{
	if (bin >= g->hs_bins || !((g->hs_known[bin >> 6] >> (bin & 63)) & 1))
		return false;
	out->bin = bin;
	memcpy(out->hash, g->hs + bin * g->hash_len, g->hash_len);
	return true;
}

/* §5.6.1: the peaks of a content of `count` chunks are the subtrees of its binary
 * decomposition; the tree accepts them only if they reproduce the root. */
static int learn_peaks(struct dpg *g)
{
	struct ppspp_hash_node peaks[64];
	uint64_t pos = 0;
	int n = 0;

	for (int l = 40; l >= 0; l--) {
		if (!((g->count >> l) & 1))
			continue;
		if (!store_get(g, ppspp_bin_make((unsigned)l, pos >> l), &peaks[n]))
			return -ENODATA;
		n++;
		pos += 1ull << l;
	}
	int rc = ppspp_merkle_add_peaks(g->verifier, peaks, n);
	if (rc == 0)
		g->peaks_known = true;
	return rc;
}

/* §5.3: the chunk's uncles from the store, up to a node the verifier already trusts. */
static void verify_sample(struct dpg *g, uint64_t k, const uint8_t *data, size_t len)
{
	struct ppspp_hash_node unc[48];
	int n = 0, rc;

	if (!g->peaks_known && learn_peaks(g) < 0) {
		g->ctr.verify_unverifiable++;
		return;
	}
	uint64_t node = ppspp_bin_from_chunk(k);
	while (n < 48 && ppspp_bin_layer(node) < 41 &&
	       !ppspp_merkle_node_verified(g->verifier, node)) {
		if (store_get(g, ppspp_bin_sibling(node), &unc[n]))
			n++;
		node = ppspp_bin_parent(node);
	}
	rc = ppspp_merkle_verify_chunk(g->verifier, k, data, len, unc, n);
	if (rc == 0)
		g->ctr.verified++;
	else if (rc == -EBADMSG || rc == -EINVAL || rc == -ERANGE)
		g->ctr.verify_failed++;
	else
		g->ctr.verify_unverifiable++;
}

/* ---- sending --------------------------------------------------------------------------------- */

static void mark_dirty(struct dpg *g, unsigned ci)
{
	if (!g->c[ci].dirty) {
		g->c[ci].dirty = true;
		g->dirty[g->n_dirty++] = ci;
	}
}

static int emit(struct dpg *g, unsigned ci, const uint8_t *buf, size_t len)
{
	g->ctr.dgrams_out++;
	return g->send(g->send_ctx, ci, buf, len);
}

static void start_handshake(struct dpg *g, unsigned ci, uint64_t now)
{
	struct dpg_client *c = &g->c[ci];
	struct ppspp_writer w;
	struct ppspp_msg m;

	if (c->state != C_HS_SENT) {
		/* a fresh channel ID each time; its low bits name the client */
		c->local_id = ((uint32_t)rnd_next(g) & 0xffff0000u) | (ci + 1);
		c->remote_id = 0;
	}
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = c->local_id;
	struct ppspp_options *o = &m.u.handshake.opts;
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_VERSION) | PPSPP_OPT_BIT(PPSPP_OPT_MIN_VERSION) |
		     PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID) | PPSPP_OPT_BIT(PPSPP_OPT_CIPM) |
		     PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH) | PPSPP_OPT_BIT(PPSPP_OPT_CAM) |
		     PPSPP_OPT_BIT(PPSPP_OPT_SUPPORTED_MSGS) | PPSPP_OPT_BIT(PPSPP_OPT_CHUNK_SIZE);
	o->version = PPSPP_VERSION;
	o->min_version = PPSPP_VERSION;
	o->swarm_id = g->cfg.root;
	o->swarm_id_len = (uint16_t)g->cfg.root_len;
	o->cipm = PPSPP_CIPM_MERKLE;
	o->merkle_hash = g->cfg.hash_fn;
	o->cam = PPSPP_CAM_CHUNK32;
	o->chunk_size = g->cfg.chunk_size;
	ppspp_supported_msgs_set(
	    o, (1u << PPSPP_HANDSHAKE) | (1u << PPSPP_DATA) | (1u << PPSPP_ACK) |
		   (1u << PPSPP_HAVE) | (1u << PPSPP_INTEGRITY) | (1u << PPSPP_REQUEST) |
		   (1u << PPSPP_CANCEL) | (1u << PPSPP_CHOKE) | (1u << PPSPP_UNCHOKE));
	/* §3.1.1 step 1: the first datagram goes to channel 0 */
	if (ppspp_writer_init(&w, g->out, sizeof(g->out), 0, &g->ctx) < 0 ||
	    ppspp_writer_put(&w, &m) < 0)
		return;
	c->state = C_HS_SENT;
	c->hs_sent_ns = now;
	g->ctr.handshakes_out++;
	emit(g, ci, g->out, w.len);
}

static void send_close(struct dpg *g, unsigned ci)
{
	struct dpg_client *c = &g->c[ci];
	struct ppspp_writer w;
	struct ppspp_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE; /* §8.4: source channel 0, no options */
	if (ppspp_writer_init(&w, g->out, sizeof(g->out), c->remote_id, &g->ctx) == 0 &&
	    ppspp_writer_put(&w, &m) == 0) {
		g->ctr.closes_out++;
		emit(g, ci, g->out, w.len);
	}
	c->state = C_IDLE;
	c->outstanding = 0;
	c->n_ack = 0;
	c->unacked = 0;
}

/* One datagram: ACKs for what arrived, then REQUESTs to refill the window. `force` sends even
 * small batches (timers, the handshake's third datagram). */
static void send_update(struct dpg *g, unsigned ci, uint64_t now, bool force)
{
	struct dpg_client *c = &g->c[ci];
	unsigned win = g->cfg.window, batch = win / 4 ? win / 4 : 1;
	uint32_t room = win - c->outstanding;
	bool req = running(g) && room >= batch && c->next_req < c->count;
	struct ppspp_writer w;
	struct ppspp_msg m;

	if (c->state != C_EST)
		return;
	if (!force && !c->must_send && !req && c->unacked < batch)
		return;
	if (!req && !c->n_ack && !c->must_send)
		return;
	ppspp_writer_init(&w, g->out, sizeof(g->out), c->remote_id, &g->ctx);
	memset(&m, 0, sizeof(m));
	for (uint32_t i = 0; i < c->n_ack; i++) {
		m.type = PPSPP_ACK;
		m.u.ack.spec.a = c->ack[i].a;
		m.u.ack.spec.b = c->ack[i].b;
		m.u.ack.delay_us = c->ack_delay_us;
		if (ppspp_writer_put(&w, &m) < 0)
			break;
		g->ctr.acks_out++;
	}
	c->n_ack = 0;
	c->unacked = 0;
	if (req && room) {
		uint64_t a = c->next_req, b = PCDN_MIN(a + room - 1, c->count - 1);
		m.type = PPSPP_REQUEST;
		m.u.request.a = a;
		m.u.request.b = b;
		if (ppspp_writer_put(&w, &m) == 0) {
			uint64_t mask = 2ull * win - 1;
			for (uint64_t k = a; k <= b; k++)
				c->req_ns[k & mask] = now;
			c->outstanding += (uint32_t)(b - a + 1);
			c->next_req = b + 1;
			g->ctr.requests_out++;
		}
	}
	c->must_send = false;
	emit(g, ci, g->out, w.len);
}

/* ---- receiving ------------------------------------------------------------------------------- */

static void on_data(struct dpg *g, unsigned ci, uint64_t a, uint64_t b, uint64_t ts_us,
		    const uint8_t *p, size_t plen, const void *tail, size_t tail_len,
		    uint64_t now)
{
	struct dpg_client *c = &g->c[ci];
	uint64_t n = b - a + 1, mask = 2ull * g->cfg.window - 1;
	size_t len = plen + tail_len;

	if (b < a || b >= c->count) {
		g->ctr.malformed++;
		return;
	}
	g->ctr.data_in++;
	g->ctr.payload_bytes += len;
	if (c->req_ns[a & mask])
		dpg_hist_add(&g->lat[c->group], now - c->req_ns[a & mask]);
	c->outstanding = c->outstanding > n ? c->outstanding - (uint32_t)n : 0;
	c->last_data_ns = now;
	c->ack_delay_us = now / 1000 - ts_us;
	c->unacked += (uint32_t)n;
	/* §4.3.2: ACK ranges, merged while DATA arrives in order */
	if (c->n_ack && c->ack[c->n_ack - 1].b + 1 == a) {
		c->ack[c->n_ack - 1].b = b;
	} else {
		if (c->n_ack == DPG_ACK_RANGES)
			send_update(g, ci, now, true);
		c->ack[c->n_ack].a = a;
		c->ack[c->n_ack].b = b;
		c->n_ack++;
	}
	mark_dirty(g, ci);
	if (n == 1 && (ci == 0 || (++g->sample_ctr & (g->cfg.sample_every - 1)) == 0)) {
		if (g->head_assumed && (!g->head_fn || g->head_fn(tail) != g->head_assumed)) {
			g->ctr.verify_failed++; /* the datagram was not laid out as assumed */
			return;
		}
		const uint8_t *t = tail && g->tail_fn ? g->tail_fn(tail) : tail;
		const uint8_t *d = plen ? p : t;
		if (plen && tail_len) {
			if (len > sizeof(g->scratch))
				return;
			memcpy(g->scratch, p, plen);
			memcpy(g->scratch + plen, t, tail_len);
			d = g->scratch;
		}
		verify_sample(g, a, d, len);
	}
}

static void on_reply(struct dpg *g, unsigned ci, const uint8_t *p, size_t len, uint64_t now)
{
	struct dpg_client *c = &g->c[ci];
	struct ppspp_reader r;
	struct ppspp_msg m;
	uint64_t count = 0;
	int rc;

	ppspp_reader_init(&r, p, len, &g->ctx);
	rc = ppspp_reader_next(&r, &m);
	if (rc != 1 || m.type != PPSPP_HANDSHAKE) {
		g->ctr.malformed++;
		return;
	}
	if (m.u.handshake.src_channel == 0) { /* refused/closed */
		c->state = C_IDLE;
		return;
	}
	const struct ppspp_options *o = &m.u.handshake.opts;
	if ((ppspp_options_has(o, PPSPP_OPT_SWARM_ID) &&
	     (o->swarm_id_len != g->cfg.root_len ||
	      memcmp(o->swarm_id, g->cfg.root, g->cfg.root_len) != 0)) ||
	    (ppspp_options_has(o, PPSPP_OPT_CAM) && o->cam != PPSPP_CAM_CHUNK32)) {
		g->ctr.malformed++;
		return;
	}
	c->remote_id = m.u.handshake.src_channel;
	while ((rc = ppspp_reader_next(&r, &m)) == 1) {
		uint64_t a, b;
		if (m.type == PPSPP_HAVE &&
		    ppspp_spec_to_chunks(r.ctx.cam, r.ctx.chunk_size, &m.u.have, &a, &b) == 0 &&
		    b + 1 > count)
			count = b + 1;
	}
	if (rc < 0)
		g->ctr.malformed++;
	if (!g->hs)
		store_init(g, count);
	if (count > g->count && g->hs)
		count = g->count;
	c->count = count;
	c->state = C_EST;
	c->must_send = true;
	c->next_req = 0;
	c->outstanding = 0;
	c->n_ack = 0;
	c->unacked = 0;
	c->last_data_ns = now;
	memset(c->req_ns, 0, 2 * g->cfg.window * sizeof(uint64_t));
	g->ctr.handshakes_ok++;
	mark_dirty(g, ci);
}

/* The hot path of DATA datagrams: INTEGRITY* DATA, chunk ranges of 32-bit numbers (cam 2),
 * read within the first `room` bytes of a datagram of `len`. chained: the first piece ends with
 * the DATA message's header and the payload is all in tail (dpg_input_chained); else
 * room == len and tail_len bytes follow in tail. 1: a DATA was taken; 0: the walk reached the
 * end; -1: another message (at least the INTEGRITY before it were kept). */
static int fast_walk(struct dpg *g, unsigned ci, const uint8_t *p, size_t room, size_t len,
		     const void *tail, size_t tail_len, bool chained, uint64_t now)
{
	size_t off = 4, hl = g->hash_len;

	while (off < room) {
		const uint8_t *q = p + off;
		if (q[0] == PPSPP_INTEGRITY && off + 9 + hl <= room) {
			store_put(g, pcdn_get_be32(q + 1), pcdn_get_be32(q + 5), q + 9);
			off += 9 + hl;
			continue;
		}
		if (q[0] != PPSPP_DATA || off + 17 > room)
			return -1;
		if (chained)
			g->head_assumed = off + 17;
		on_data(g, ci, pcdn_get_be32(q + 1), pcdn_get_be32(q + 5), pcdn_get_be64(q + 9),
			q + 17, chained ? 0 : room - off - 17, tail,
			chained ? len - off - 17 : tail_len, now);
		g->head_assumed = 0;
		return 1;
	}
	return 0;
}

/* Anything the fast path does not read: the generic decoder over the whole datagram. */
static void slow_path(struct dpg *g, unsigned ci, const uint8_t *p, size_t len, const uint8_t *tail,
		      size_t tail_len, uint64_t now)
{
	struct ppspp_reader r;
	struct ppspp_msg m;
	int rc;

	ppspp_reader_init(&r, p, len, &g->ctx);
	while ((rc = ppspp_reader_next(&r, &m)) == 1) {
		switch (m.type) {
		case PPSPP_INTEGRITY:
			store_put(g, m.u.integrity.spec.a, m.u.integrity.spec.b,
				  m.u.integrity.hash);
			break;
		case PPSPP_DATA:
			on_data(g, ci, m.u.data.spec.a, m.u.data.spec.b, m.u.data.timestamp,
				m.u.data.data, m.u.data.len, tail, tail_len, now);
			return;
		case PPSPP_HANDSHAKE:
			if (m.u.handshake.src_channel == 0) { /* §8.4: the cacher closed it */
				g->c[ci].state = C_IDLE;
				return;
			}
			g->ctr.other_msgs++;
			break;
		default:
			g->ctr.other_msgs++;
			break;
		}
	}
	if (rc < 0)
		g->ctr.malformed++;
}

void dpg_input(struct dpg *g, const uint8_t *p, size_t len, const void *tail, size_t tail_len,
	       uint64_t now)
{
	if (len < 4) {
		g->ctr.malformed++;
		return;
	}
	uint32_t dst = pcdn_get_be32(p);
	unsigned ci = (dst & 0xffffu) - 1;
	if (ci >= g->cfg.n_clients || g->c[ci].local_id != dst || g->c[ci].state == C_IDLE) {
		g->ctr.stale++;
		return;
	}
	if (g->c[ci].state == C_HS_SENT) {
		on_reply(g, ci, p, len, now);
		return;
	}
	if (fast_walk(g, ci, p, len, len, tail, tail_len, false, now) < 0)
		slow_path(g, ci, p, len, tail, tail_len, now);
}

void dpg_set_tail_fn(struct dpg *g, dpg_tail_fn fn)
{
	g->tail_fn = fn;
}

void dpg_set_head_fn(struct dpg *g, dpg_head_fn fn)
{
	g->head_fn = fn;
}

bool dpg_input_chained(struct dpg *g, const uint8_t *p, size_t room, size_t len, const void *tail,
		       uint64_t now)
{
	if (room > len)
		room = len;
	if (room < 4)
		return false;
	uint32_t dst = pcdn_get_be32(p);
	unsigned ci = (dst & 0xffffu) - 1;
	if (ci >= g->cfg.n_clients || g->c[ci].local_id != dst || g->c[ci].state != C_EST)
		return false;
	/* anything else: not the INTEGRITY* DATA datagram this path is for */
	return fast_walk(g, ci, p, room, len, tail, 0, true, now) == 1;
}

void dpg_tick(struct dpg *g, uint64_t now)
{
	unsigned n = g->n_dirty;

	g->n_dirty = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned ci = g->dirty[i];
		g->c[ci].dirty = false;
		send_update(g, ci, now, false);
	}
	if (now < g->next_scan_ns)
		return;
	g->next_scan_ns = now + DPG_SCAN_NS;
	for (unsigned ci = 0; ci < g->cfg.n_clients; ci++) {
		struct dpg_client *c = &g->c[ci];
		switch (c->state) {
		case C_IDLE:
			if (running(g))
				start_handshake(g, ci, now);
			break;
		case C_HS_SENT:
			if (now - c->hs_sent_ns >= g->cfg.hs_retry_ns)
				start_handshake(g, ci, now);
			break;
		case C_EST:
			if (c->outstanding && now - c->last_data_ns >= g->cfg.stall_ns) {
				/* lost beyond the cacher's own recovery: ask for what follows */
				g->ctr.stalls++;
				c->outstanding = 0;
				c->last_data_ns = now;
			}
			if (c->next_req >= c->count && c->outstanding == 0) {
				/* download complete: this CSC leaves, a new one arrives */
				if (c->n_ack)
					send_update(g, ci, now, true);
				send_close(g, ci);
				g->ctr.downloads_done++;
				if (running(g))
					start_handshake(g, ci, now);
				break;
			}
			/* delayed ACKs and window refills that did not reach a batch */
			send_update(g, ci, now, true);
			break;
		default:
			break;
		}
	}
}

void dpg_close_all(struct dpg *g, uint64_t now)
{
	(void)now;
	for (unsigned ci = 0; ci < g->cfg.n_clients; ci++)
		if (g->c[ci].state == C_EST)
			send_close(g, ci);
		else
			g->c[ci].state = C_IDLE;
}
