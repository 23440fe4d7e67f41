/* RFC 7574 §3.1.1, §3.11, §8.3: channels — the handshake and its checks, closing, and the
 * per-channel message exchange (HAVE, REQUEST, DATA after INTEGRITY, ACK, CANCEL, CHOKE, PEX,
 * keep-alives) with LEDBAT (RFC 6817) pacing the DATA a channel sends. */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

PCDN_LOG_COMPONENT(ppspp_chan_log, "ppspp")

/* Messages this engine implements (§7.10): everything except live signatures. */
#define OUR_SUPPORTED_MSGS                                                                         \
	((1u << PPSPP_HANDSHAKE) | (1u << PPSPP_DATA) | (1u << PPSPP_ACK) | (1u << PPSPP_HAVE) |   \
	 (1u << PPSPP_INTEGRITY) | (1u << PPSPP_PEX_RESV4) | (1u << PPSPP_PEX_REQ) |               \
	 (1u << PPSPP_REQUEST) | (1u << PPSPP_CANCEL) | (1u << PPSPP_CHOKE) |                      \
	 (1u << PPSPP_UNCHOKE) | (1u << PPSPP_PEX_RESV6))

/* ---- channel table ------------------------------------------------------------------------ */

static uint32_t id_slot(uint32_t id)
{
	/* IDs are random already; a multiplicative mix keeps probing short anyway */
	return id * 2654435761u;
}

int ppspp_chan_lookup(const struct ppspp_engine *e, uint32_t local_id)
{
	uint32_t i = id_slot(local_id) & e->id_mask;

	for (;;) {
		uint32_t v = e->id_table[i];
		if (v == 0)
			return -1;
		if (e->ch[v - 1].local_id == local_id)
			return (int)v - 1;
		i = (i + 1) & e->id_mask;
	}
}

static void id_insert(struct ppspp_engine *e, int ci)
{
	uint32_t i = id_slot(e->ch[ci].local_id) & e->id_mask;

	while (e->id_table[i])
		i = (i + 1) & e->id_mask;
	e->id_table[i] = (uint32_t)ci + 1;
}

static void id_remove(struct ppspp_engine *e, int ci)
{
	uint32_t i = id_slot(e->ch[ci].local_id) & e->id_mask, j;

	while (e->id_table[i] != (uint32_t)ci + 1) {
		if (!e->id_table[i])
			return;
		i = (i + 1) & e->id_mask;
	}
	/* backward-shift deletion keeps linear probing correct without tombstones */
	e->id_table[i] = 0;
	j = i;
	for (;;) {
		j = (j + 1) & e->id_mask;
		uint32_t v = e->id_table[j];
		if (!v)
			return;
		uint32_t home = id_slot(e->ch[v - 1].local_id) & e->id_mask;
		bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
		if (movable) {
			e->id_table[i] = v;
			e->id_table[j] = 0;
			i = j;
		}
	}
}

int ppspp_chan_alloc(struct ppspp_engine *e, int swarm, const struct ppspp_peer_addr *peer,
		     bool initiator)
{
	uint32_t ci;

	for (ci = 0; ci < e->cfg.max_channels; ci++)
		if (e->ch[ci].state == CH_FREE)
			break;
	if (ci == e->cfg.max_channels)
		return -ENOSPC;
	if (ci + 1 > e->ch_hwm)
		e->ch_hwm = ci + 1;
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_req *req = c->req;
	struct ppspp_flight *fl = c->fl;
	uint32_t *fl_index = c->fl_index;
	struct ppspp_hash_node *hashes = c->hashes;
	struct ppspp_swarm *s = &e->swarms[swarm];

	memset(c, 0, sizeof(*c));
	c->req = req;
	c->fl = fl;
	c->fl_index = fl_index;
	c->hashes = hashes;
	/* §12.1 / RFC 4960 §5.1.3: random, nonzero, unique here */
	do {
		if (pcdn_random_bytes(&c->local_id, sizeof(c->local_id)) < 0)
			return -EIO;
	} while (c->local_id == 0 || ppspp_chan_lookup(e, c->local_id) >= 0);
	c->swarm = swarm;
	c->peer = *peer;
	c->initiator = initiator;
	c->ctx.cam = s->cam;
	c->ctx.hash_len = s->hash_len;
	c->ctx.chunk_size = s->chunk_size;
	c->created_us = c->last_recv_us = c->last_send_us = e->now;
	c->rate_start_us = e->now;
	c->window = 16;
	c->slow_start = true;
	ppspp_ledbat_init(&c->ledbat, s->chunk_size, e->now);
	c->state = initiator ? CH_HS_SENT : CH_HS_REPLIED;
	id_insert(e, (int)ci);
	ppspp_chanset_add(&s->members, ci);
	ppspp_chan_mark(e, (int)ci);
	return (int)ci;
}

void ppspp_chan_free(struct ppspp_engine *e, int ci)
{
	id_remove(e, ci);
	ppspp_chanset_del(&e->swarms[e->ch[ci].swarm].members, (uint32_t)ci);
	e->ch[ci].state = CH_FREE;
	while (e->ch_hwm > 0 && e->ch[e->ch_hwm - 1].state == CH_FREE)
		e->ch_hwm--;
}

/* ---- output helpers ------------------------------------------------------------------------ */

/* ---- batched sending (io.send_batch) -------------------------------------------------------- */

/* Hands the queued datagrams to io.send_batch; the storage references of their payloads are
 * released after it, as after io.send. */
static void tx_flush(struct ppspp_engine *e)
{
	struct ppspp_tx_batch *b = &e->tx;

	if (b->ci < 0 || b->n == 0) {
		b->used = 0;
		return;
	}
	struct ppspp_channel *c = &e->ch[b->ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	int rc = e->io.send_batch(e->io.ctx, &c->peer, b->d, b->n);
	unsigned ok = rc < 0 ? 0 : (unsigned)rc < b->n ? (unsigned)rc : b->n;

	for (unsigned i = 0; i < b->n; i++) {
		const struct ppspp_dgram *d = &b->d[i];
		if (i < ok) {
			ppspp_engine_count_out(e, d->hdr, d->hdr_len);
			e->ctr.bytes_out += d->payload_len;
			if (d->payload)
				e->ctr.msgs_out[PPSPP_DATA]++;
		}
		if (d->payload && s->st.release)
			s->st.release(s->st.ctx, d->payload_ref);
	}
	e->ctr.send_errors += b->n - ok;
	b->n = 0;
	b->used = 0;
}

/* A writer for the channel's next datagram: in the batch arena while batching (its bytes stay
 * there until the flush), else in the engine's scratch buffer. */
static void tx_writer_init(struct ppspp_engine *e, int ci, struct ppspp_writer *w)
{
	struct ppspp_channel *c = &e->ch[ci];

	if (e->tx.ci == ci)
		ppspp_writer_init(w, e->tx.arena + e->tx.used, e->cfg.max_datagram, c->remote_id,
				  &c->ctx);
	else
		ppspp_writer_init(w, e->buf, e->buf_cap, c->remote_id, &c->ctx);
}

int ppspp_chan_emit(struct ppspp_engine *e, int ci, const uint8_t *hdr, size_t len,
		    const void *payload, size_t plen, void *ref)
{
	struct ppspp_channel *c = &e->ch[ci];

	e->send_budget -= e->send_budget != 0;
	if (e->tx.ci == ci) {
		/* queued; counted when the batch is handed over */
		struct ppspp_tx_batch *b = &e->tx;
		b->d[b->n++] = (struct ppspp_dgram){.hdr = hdr,
						    .hdr_len = (uint32_t)len,
						    .payload_len = (uint32_t)plen,
						    .payload = payload,
						    .payload_ref = ref};
		b->took_ref = payload != NULL;
		b->used += (len + 63) & ~(size_t)63;
		c->last_send_us = e->now;
		c->sent_since_recv++;
		if (b->n == b->cap || b->arena_cap - b->used < e->cfg.max_datagram)
			tx_flush(e);
		return 0;
	}
	int rc = e->io.send(e->io.ctx, &c->peer, hdr, len, payload, plen, ref);

	if (rc < 0) {
		e->ctr.send_errors++;
		return rc;
	}
	ppspp_engine_count_out(e, hdr, len);
	e->ctr.bytes_out += plen;
	if (payload)
		e->ctr.msgs_out[PPSPP_DATA]++;
	c->last_send_us = e->now;
	c->sent_since_recv++;
	return 0;
}

void ppspp_chan_options(const struct ppspp_engine *e, int ci, bool with_extra,
			struct ppspp_options *o)
{
	const struct ppspp_channel *c = &e->ch[ci];
	const struct ppspp_swarm *s = &e->swarms[c->swarm];

	memset(o, 0, sizeof(*o));
	/* §7: the swarm metadata and our capabilities; the core six always */
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_VERSION) | PPSPP_OPT_BIT(PPSPP_OPT_MIN_VERSION) |
		     PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID) | PPSPP_OPT_BIT(PPSPP_OPT_CIPM) |
		     PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH) | PPSPP_OPT_BIT(PPSPP_OPT_CAM);
	o->version = PPSPP_VERSION;
	o->min_version = PPSPP_VERSION;
	o->swarm_id = s->root;
	o->swarm_id_len = s->hash_len;
	o->cipm = PPSPP_CIPM_MERKLE;
	o->merkle_hash = s->hash_fn;
	o->cam = c->ctx.cam;
	if (with_extra) {
		ppspp_supported_msgs_set(o, OUR_SUPPORTED_MSGS);
		o->present |=
		    PPSPP_OPT_BIT(PPSPP_OPT_SUPPORTED_MSGS) | PPSPP_OPT_BIT(PPSPP_OPT_CHUNK_SIZE);
		o->chunk_size = s->chunk_size;
	}
}

/* HAVE for each verified run (§3.2, §4.3.1), as many as fit. */
static void put_have_runs(struct ppspp_engine *e, int ci, struct ppspp_writer *w, uint64_t a,
			  uint64_t b)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	struct ppspp_spec specs[16];
	struct ppspp_msg m;

	if (!s->have.w || s->count == 0)
		return;
	if (b >= s->count)
		b = s->count - 1;
	uint64_t pos = a;
	while (pos <= b) {
		if (!ppspp_bitmap_get(&s->have, pos)) {
			pos++;
			continue;
		}
		uint64_t ra = ppspp_bitmap_run_start(&s->have, pos, s->prefix);
		uint64_t rb = ppspp_bitmap_run_end(&s->have, pos);
		int n = ppspp_spec_from_chunks(c->ctx.cam, s->chunk_size, ra, rb, specs,
					       (int)PCDN_ARRAY_SIZE(specs));
		if (n == -ENOSPC && c->ctx.cam != PPSPP_CAM_BYTE64 &&
		    (c->ctx.cam == PPSPP_CAM_BIN32 || c->ctx.cam == PPSPP_CAM_BIN64))
			n = ppspp_spec_from_chunks(c->ctx.cam, s->chunk_size, pos, pos, specs, 1);
		if (c->ctx.cam == PPSPP_CAM_BYTE64 && n > 0 && rb == s->count - 1) {
			/* a byte range ends at the content's last byte, not a full chunk */
			uint32_t last = ppspp_merkle_chunk_len(s->tree, rb);
			if (last)
				specs[0].b = rb * (uint64_t)s->chunk_size + last - 1;
		}
		for (int i = 0; i < n; i++) {
			m.type = PPSPP_HAVE;
			m.u.have = specs[i];
			if (ppspp_writer_put(w, &m) < 0)
				return;
			e->ctr.msgs_out[PPSPP_HAVE]++;
		}
		pos = rb + 1;
	}
}

int ppspp_chan_send_handshake(struct ppspp_engine *e, int ci, bool with_extra)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_writer w;
	struct ppspp_msg m;
	int rc;

	/* §3.1.1: the first datagram goes to channel 0; the reply to the initiator's channel */
	uint32_t dst = c->initiator ? 0 : c->remote_id;
	if ((rc = ppspp_writer_init(&w, e->buf, e->cfg.max_datagram, dst, &c->ctx)) < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = c->local_id;
	ppspp_chan_options(e, ci, with_extra, &m.u.handshake.opts);
	if ((rc = ppspp_writer_put(&w, &m)) < 0)
		return rc;
	e->ctr.msgs_out[PPSPP_HANDSHAKE]++;
	/* minor payload only (§3.1.1): what we have */
	put_have_runs(e, ci, &w, 0, UINT64_MAX);
	c->hs_sent_us = e->now;
	ppspp_engine_timer_at(e, c->hs_sent_us + e->cfg.handshake_retry_us);
	return ppspp_chan_emit(e, ci, e->buf, w.len, NULL, 0, NULL);
}

static void send_close(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_writer w;
	struct ppspp_msg m;

	if (!c->remote_id)
		return;
	if (ppspp_writer_init(&w, e->buf, e->cfg.max_datagram, c->remote_id, &c->ctx) < 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	/* §8.4: source channel 0 and an empty option list closes the channel */
	m.u.handshake.src_channel = 0;
	if (ppspp_writer_put(&w, &m) == 0) {
		e->ctr.msgs_out[PPSPP_HANDSHAKE]++;
		ppspp_chan_emit(e, ci, e->buf, w.len, NULL, 0, NULL);
	}
}

void ppspp_chan_drop_requests(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint32_t mask = e->cfg.max_requests - 1;

	for (uint32_t p = c->req_head; p != c->req_tail; p++) {
		uint64_t k = c->req[p & mask].chunk;
		if (s->have.w && k < s->count && s->owner[k] == (uint16_t)(ci + 1)) {
			ppspp_picker_release(e, c->swarm, k);
			e->ctr.rerequests++;
		}
	}
	c->req_head = c->req_tail = 0;
	c->n_out = 0;
	c->n_new_reqs = 0;
	c->first_req_out = false;
}

void ppspp_chan_end(struct ppspp_engine *e, int ci, int reason, bool close)
{
	struct ppspp_channel *c = &e->ch[ci];
	char a[64];

	if (c->state == CH_FREE)
		return;
	if (close && c->state != CH_HS_SENT)
		send_close(e, ci);
	ppspp_chan_drop_requests(e, ci);
	PCDN_LOG(ppspp_chan_log, INFO, "channel %08x to %s ends: %s", c->local_id,
		 ppspp_peer_addr_format(&c->peer, a, sizeof(a)), ppspp_peer_end_name(reason));
	switch (reason) {
	case PPSPP_PEER_TIMEOUT:
	case PPSPP_PEER_NO_ANSWER:
		e->ctr.peers_dead++;
		break;
	case PPSPP_PEER_POISONED:
		e->ctr.peers_poisoned++;
		break;
	case PPSPP_PEER_CLOSED:
		e->ctr.peers_closed++;
		break;
	default:
		break;
	}
	bool was_known = c->state == CH_ESTABLISHED || c->initiator;
	struct ppspp_peer_addr peer = c->peer;
	int swarm = c->swarm;
	ppspp_chan_free(e, ci);
	if (was_known && e->ev.peer_end)
		e->ev.peer_end(e->ev.ctx, swarm, ci, &peer, reason);
}

/* ---- receiving ----------------------------------------------------------------------------- */

static int spec_chunks(const struct ppspp_engine *e, int ci, const struct ppspp_spec *sp,
		       uint64_t *a, uint64_t *b)
{
	const struct ppspp_channel *c = &e->ch[ci];

	if (ppspp_spec_to_chunks(c->ctx.cam, c->ctx.chunk_size, sp, a, b) < 0)
		return -EINVAL;
	return 0;
}

/* A flight entry the peer acknowledged: its bytes for LEDBAT, the newest send time acked; the
 * RTT sample it gives is returned. */
static inline uint64_t flight_ack(const struct ppspp_engine *e, struct ppspp_channel *c,
				  struct ppspp_flight *f, uint64_t *bytes)
{
	f->acked = 1;
	*bytes += f->bytes;
	if (f->sent_us > c->fl_acked_sent_us)
		c->fl_acked_sent_us = f->sent_us;
	return e->now - f->sent_us;
}

static void on_ack(struct ppspp_engine *e, int ci, uint64_t a, uint64_t b, uint64_t delay)
{
	struct ppspp_channel *c = &e->ch[ci];
	uint32_t mask = e->cfg.max_inflight - 1;
	uint64_t bytes = 0, rtt = 0;

	if ((int32_t)(c->fl_head - c->fl_sorted_from) >= 0 && !e->ref_paths) {
		/* in-order serving: the ring's chunks increase from head to tail, so the ones in
		 * [a, b] are one run of it, which starts at the oldest entry (in-order ACKs), at
		 * chunk a's own entry, or is found by bisection. Each chunk appears once: the
		 * general scans below would ack the same entries (the per-chunk one only those
		 * fl_index names), in the same order, so LEDBAT sees the same bytes and RTT. */
		bool by_index = b - a < 32;
		uint32_t lo = c->fl_head, hi = c->fl_tail;
		c->fl_sorted_from = c->fl_head; /* keeps the distance small (wrap-around) */
		uint32_t pa = c->fl_index[a & mask];
		if (lo != hi && c->fl[lo & mask].chunk >= a)
			hi = lo; /* the oldest is in range already (in-order ACKs) */
		else if (pa - lo < hi - lo && c->fl[pa & mask].chunk == a)
			lo = hi = pa; /* chunk a itself is in flight */
		while (lo != hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (c->fl[mid & mask].chunk < a)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (uint32_t p = lo; p != c->fl_tail; p++) {
			struct ppspp_flight *f = &c->fl[p & mask];
			if (f->chunk > b)
				break;
			if (f->acked || (by_index && c->fl_index[f->chunk & mask] != p))
				continue;
			rtt = flight_ack(e, c, f, &bytes);
		}
	} else if (b - a < 32) {
		for (uint64_t k = a; k <= b; k++) {
			uint32_t p = c->fl_index[k & mask];
			if (p - c->fl_head >= c->fl_tail - c->fl_head)
				continue;
			struct ppspp_flight *f = &c->fl[p & mask];
			if (f->chunk != k || f->acked)
				continue;
			rtt = flight_ack(e, c, f, &bytes);
		}
	} else {
		for (uint32_t p = c->fl_head; p != c->fl_tail; p++) {
			struct ppspp_flight *f = &c->fl[p & mask];
			if (f->acked || f->chunk < a || f->chunk > b)
				continue;
			rtt = flight_ack(e, c, f, &bytes);
		}
	}
	while (c->fl_head != c->fl_tail && c->fl[c->fl_head & mask].acked)
		c->fl_head++;
	if (!bytes)
		return;
	double before = c->ledbat.cwnd;
	uint64_t flight = c->ledbat.flightsize;
	ppspp_ledbat_on_ack(&c->ledbat, e->now, (uint32_t)PCDN_MIN(bytes, UINT32_MAX), delay, rtt);
	/* RFC 6817 §2.4.2 allows slow start (RFC 5681) before the delay-based controller: grow
	 * by what was acknowledged while the window is in use, until the first loss or until
	 * queuing delay reaches half the target */
	if (c->slow_start) {
		double cap = (double)e->cfg.max_inflight * c->ledbat.mss;
		if (ppspp_ledbat_queuing_delay(&c->ledbat) > c->ledbat.target_us / 2) {
			c->slow_start = false;
		} else if ((double)flight + 2.0 * c->ledbat.mss >= before) {
			double grown = before + (double)bytes;
			if (grown > c->ledbat.cwnd)
				c->ledbat.cwnd = grown < cap ? grown : cap;
		}
	}
}

/* A DATA still in flight is presumed lost: LEDBAT reacts, the entry leaves the window. */
static void flight_lost(struct ppspp_engine *e, int ci, struct ppspp_flight *f)
{
	struct ppspp_channel *c = &e->ch[ci];

	f->acked = 2;
	c->slow_start = false;
	c->last_loss_us = e->now;
	ppspp_ledbat_on_loss(&c->ledbat, e->now, f->bytes);
	e->ctr.data_lost++;
}

static void rq_push(struct ppspp_engine *e, int ci, uint64_t a, uint64_t b)
{
	struct ppspp_channel *c = &e->ch[ci];

	/* a re-sent REQUEST for what is still queued (among the newest ranges); none can hold
	 * a range above every queued one (a peer asking in order) */
	for (uint32_t i = c->rq_n > 64 ? c->rq_n - 64 : 0; i < c->rq_n && a <= c->rq_max_b; i++) {
		const struct ppspp_range *q = &c->rq[(c->rq_head + i) % PPSPP_RQ_CAP];
		if (q->a <= a && b <= q->b)
			return;
	}
	if (c->rq_n > 0) {
		struct ppspp_range *t = &c->rq[(c->rq_head + c->rq_n - 1) % PPSPP_RQ_CAP];
		if (t->b + 1 == a) {
			t->b = b;
			c->rq_max_b = PCDN_MAX(c->rq_max_b, b);
			return;
		}
	}
	if (c->rq_n == PPSPP_RQ_CAP) {
		e->ctr.ignored_msgs++; /* it re-requests after its timeout */
		return;
	}
	c->rq[(c->rq_head + c->rq_n) % PPSPP_RQ_CAP] = (struct ppspp_range){a, b};
	c->rq_n++;
	c->rq_max_b = PCDN_MAX(c->rq_max_b, b);
}

static void rq_push_front(struct ppspp_engine *e, int ci, uint64_t k)
{
	struct ppspp_channel *c = &e->ch[ci];

	if (c->rq_n == PPSPP_RQ_CAP || c->choking_peer)
		return;
	c->rq_head = (c->rq_head + PPSPP_RQ_CAP - 1) % PPSPP_RQ_CAP;
	c->rq[c->rq_head] = (struct ppspp_range){k, k};
	c->rq_n++;
	c->rq_max_b = PCDN_MAX(c->rq_max_b, k);
}

static void rq_cancel(struct ppspp_channel *c, uint64_t a, uint64_t b)
{
	for (uint32_t i = 0; i < c->rq_n; i++) {
		struct ppspp_range *r = &c->rq[(c->rq_head + i) % PPSPP_RQ_CAP];
		if (r->b < a || r->a > b || r->a > r->b)
			continue;
		if (a <= r->a && b >= r->b)
			r->a = r->b + 1; /* emptied: skipped when it reaches the head */
		else if (a <= r->a)
			r->a = b + 1;
		else if (b >= r->b)
			r->b = a - 1;
		/* a hole inside a queued range is left: answering a cancelled request is harmless
		 */
	}
}

static bool addr_private(const struct ppspp_peer_addr *p)
{
	const uint8_t *a = p->addr;

	if (p->family == PPSPP_AF_INET4)
		return a[0] == 10 || a[0] == 127 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		       (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) || a[0] >= 224;
	static const uint8_t loop6[16] = {[15] = 1};
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff ||
	       memcmp(a, loop6, 16) == 0;
}

void ppspp_chan_handle_msg(struct ppspp_engine *e, int ci, const struct ppspp_msg *m,
			   struct ppspp_hash_node *hashes, int *n_hashes)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint64_t a, b;

	switch (m->type) {
	case PPSPP_HAVE:
		if (spec_chunks(e, ci, &m->u.have, &a, &b) == 0)
			ppspp_ivset_add(&c->peer_have, a, b);
		break;
	case PPSPP_ACK:
		if (spec_chunks(e, ci, &m->u.ack.spec, &a, &b) == 0) {
			ppspp_ivset_add(&c->peer_have, a, b);
			c->peer_knows_peaks = true;
			on_ack(e, ci, a, b, m->u.ack.delay_us);
		}
		break;
	case PPSPP_REQUEST:
		if (c->choking_peer || !s->have.w || s->count == 0) {
			e->ctr.ignored_msgs++;
			break;
		}
		if (spec_chunks(e, ci, &m->u.request, &a, &b) == 0 && a < s->count) {
			b = PCDN_MIN(b, s->count - 1);
			/* asked again while in flight: the peer lost it (fast loss detection) */
			uint32_t fmask = e->cfg.max_inflight - 1;
			for (uint64_t k = a; k <= b && k - a < 32; k++) {
				uint32_t p = c->fl_index[k & fmask];
				struct ppspp_flight *f = &c->fl[p & fmask];
				if (p - c->fl_head < c->fl_tail - c->fl_head && f->chunk == k &&
				    !f->acked)
					flight_lost(e, ci, f);
			}
			rq_push(e, ci, a, b);
		}
		break;
	case PPSPP_CANCEL:
		if (spec_chunks(e, ci, &m->u.cancel, &a, &b) == 0)
			rq_cancel(c, a, b);
		break;
	case PPSPP_CHOKE:
		if (!c->choked_by_peer) {
			c->choked_by_peer = true;
			/* §3.9: outstanding requests will not be answered */
			ppspp_chan_drop_requests(e, ci);
		}
		break;
	case PPSPP_UNCHOKE:
		c->choked_by_peer = false;
		break;
	case PPSPP_PEX_REQ:
		c->pex_owed = true;
		break;
	case PPSPP_PEX_RESV4:
	case PPSPP_PEX_RESV6: {
		struct ppspp_peer_addr p;
		memset(&p, 0, sizeof(p));
		p.family = m->type == PPSPP_PEX_RESV4 ? PPSPP_AF_INET4 : PPSPP_AF_INET6;
		memcpy(p.addr, m->u.pex.addr, p.family == PPSPP_AF_INET4 ? 4 : 16);
		p.port = m->u.pex.port;
		e->ctr.pex_peers_in++;
		if (e->ev.pex_peer && p.port != 0)
			e->ev.pex_peer(e->ev.ctx, c->swarm, &p);
		break;
	}
	case PPSPP_INTEGRITY:
		if (*n_hashes < 2 * PPSPP_MAX_HASHES) {
			hashes[*n_hashes].bin = UINT64_MAX;
			/* a node's chunk range (§5.4) back to its bin */
			if (spec_chunks(e, ci, &m->u.integrity.spec, &a, &b) == 0) {
				uint64_t w = b - a + 1;
				if ((w & (w - 1)) == 0 && a % w == 0) {
					hashes[*n_hashes].bin =
					    ppspp_bin_make((unsigned)__builtin_ctzll(w), a / w);
					memcpy(hashes[*n_hashes].hash, m->u.integrity.hash,
					       s->hash_len);
					(*n_hashes)++;
				}
			}
		}
		break;
	case PPSPP_HANDSHAKE:
		if (m->u.handshake.src_channel == 0) {
			/* §8.4: the peer closes the channel */
			ppspp_chan_end(e, ci, PPSPP_PEER_CLOSED, false);
			return;
		}
		e->ctr.ignored_msgs++;
		break;
	default: /* SIGNED_INTEGRITY, PEX_REScert: live swarms and certificates, not ours */
		e->ctr.ignored_msgs++;
		break;
	}
}

/* §5.6.2: the first DATA from a peer brings the peak hashes ahead of the uncles. They are a
 * run of hashes that tile the content from chunk 0 with shrinking subtrees and cover the chunk
 * (uncles never cover it, so one read as a peak is never tried); the longest run is tried
 * first, and the peaks are adopted only together with a chunk that verifies under them (the root
 * alone does not fix the tree's height: forged peaks could size the tree for 2^40 chunks).
 * Returns 0 (chunk k verified, count known), -EBADMSG (plausible peaks, bad chunk or peaks),
 * -ENODATA (no peaks, or hashes missing), or -EINVAL (wrong length). */
static int learn_peaks(struct ppspp_engine *e, int si, const struct ppspp_hash_node *h, int n,
		       uint64_t k, const void *data, size_t len)
{
	struct ppspp_swarm *s = &e->swarms[si];
	int result = -ENODATA;

	for (int start = 0; start < n; start++) {
		if (ppspp_bin_base_left(h[start].bin) != 0)
			continue;
		int run = 1;
		uint64_t next = ppspp_bin_base_width(h[start].bin);
		while (start + run < n && ppspp_bin_base_left(h[start + run].bin) == next &&
		       ppspp_bin_layer(h[start + run].bin) <
			   ppspp_bin_layer(h[start + run - 1].bin)) {
			next += ppspp_bin_base_width(h[start + run].bin);
			run++;
		}
		for (; run > 0; run--) {
			uint64_t end = 0;
			for (int i = 0; i < run; i++)
				end += ppspp_bin_base_width(h[start + i].bin);
			if (end <= k)
				break; /* shorter runs cover even less */
			int rc = ppspp_merkle_add_peaks_with_chunk(s->tree, &h[start], run, k, data,
								   len, h, n);
			if (rc == 0)
				return ppspp_swarm_learn_count(e, si);
			if (rc == -EINVAL)
				return rc;
			if (rc == -EBADMSG && result == -ENODATA)
				result = -EBADMSG;
			if (rc == -ENODATA)
				return rc; /* the peaks fit, an uncle is missing */
		}
	}
	return result;
}

static void note_rtt(struct ppspp_engine *e, struct ppspp_channel *c, uint64_t chunk)
{
	uint32_t mask = e->cfg.max_requests - 1;

	/* requests are answered mostly in order: look near the head only */
	for (uint32_t p = c->req_head, i = 0; p != c->req_tail && i < 8; p++, i++) {
		if (c->req[p & mask].chunk != chunk)
			continue;
		if (c->req[p & mask].retry)
			return;
		uint64_t r = e->now - c->req[p & mask].sent_us;
		if (!c->srtt_us) {
			c->srtt_us = r;
			c->rttvar_us = r / 2;
		} else {
			uint64_t d = r > c->srtt_us ? r - c->srtt_us : c->srtt_us - r;
			c->rttvar_us = (3 * c->rttvar_us + d) / 4;
			c->srtt_us = (7 * c->srtt_us + r) / 8;
		}
		if (!c->min_rtt_us || r < c->min_rtt_us)
			c->min_rtt_us = r ? r : 1;
		return;
	}
}

static void give_back(struct ppspp_engine *e, int ci, uint64_t k)
{
	struct ppspp_swarm *s = &e->swarms[e->ch[ci].swarm];

	if (s->have.w && k < s->count && s->owner[k] == (uint16_t)(ci + 1)) {
		ppspp_picker_release(e, e->ch[ci].swarm, k);
		e->ctr.rerequests++;
	}
}

/* A chunk passed verification: store it, then account, announce and report it. */
static int accepted(struct ppspp_engine *e, int ci, uint64_t k, const void *p, size_t len,
		    const struct ppspp_msg *m, uint64_t now, bool counted)
{
	struct ppspp_channel *c = &e->ch[ci];
	int si = c->swarm;
	struct ppspp_swarm *s = &e->swarms[si];
	int rc = s->st.put_chunk(s->st.ctx, k, p, len);

	if (rc < 0) {
		e->ctr.storage_errors++;
		s->failed = true;
		PCDN_LOG(ppspp_chan_log, ERR, "swarm %d: storing chunk %llu: %s", si,
			 (unsigned long long)k, pcdn_strerror(rc));
		if (e->ev.error)
			e->ev.error(e->ev.ctx, si, rc);
		return rc;
	}
	note_rtt(e, c, k);
	if (s->owner[k] == (uint16_t)(ci + 1) && (int32_t)(s->req_pos[k] - c->hi_pos) > 0)
		c->hi_pos = s->req_pos[k];
	ppspp_picker_on_verified(e, si, k, ci);
	if (!counted)
		s->verified++;
	e->ctr.chunks_verified++;
	c->chunks_received++;
	c->rate_count++;
	ppspp_ivset_add(&s->fresh, k, k);
	ppspp_ivset_add(&c->ack_new, k, k);
	/* §8.7: one-way delay, receiver clock minus sender timestamp */
	c->ack_delay_us =
	    (uint64_t)((int64_t)now + e->cfg.timestamp_offset_us) - m->u.data.timestamp;
	if (e->ev.chunk_verified)
		e->ev.chunk_verified(e->ev.ctx, si, k, ci);
	if (s->verified == s->count && !s->complete_sent) {
		s->complete_sent = true;
		if (e->ev.complete)
			e->ev.complete(e->ev.ctx, si);
	}
	return 0;
}

/* Verification failed: poisoned (not stored, not announced, fetched elsewhere; the peer is
 * limited, then dropped), hashes missing (asked again), or malformed. Returns false when the
 * channel ended. */
static bool refused(struct ppspp_engine *e, int ci, uint64_t k, int rc)
{
	struct ppspp_channel *c = &e->ch[ci];
	int si = c->swarm;

	if (rc == -EBADMSG) {
		e->ctr.chunks_rejected++;
		c->rejected++;
		c->reject_memory[c->reject_next++ % PPSPP_REJECT_MEMORY] = k;
		give_back(e, ci, k);
		if (e->ev.chunk_rejected)
			e->ev.chunk_rejected(e->ev.ctx, si, k, ci);
		if (c->rejected >= e->cfg.poison_limit) {
			ppspp_chan_end(e, ci, PPSPP_PEER_POISONED, true);
			return false;
		}
	} else if (rc == -ENODATA || rc == -EAGAIN) {
		/* §5.3: hashes lost or reordered; ask again, the resend carries them */
		e->ctr.chunks_unverifiable++;
		give_back(e, ci, k);
	} else {
		e->ctr.malformed[PPSPP_ERR_BAD_VALUE]++;
		e->ctr.malformed_total++;
		give_back(e, ci, k);
	}
	return true;
}

void ppspp_chan_input_data(struct ppspp_engine *e, int ci, const struct ppspp_msg *m,
			   struct ppspp_hash_node *hashes, int n_hashes, uint64_t now)
{
	struct ppspp_channel *c = &e->ch[ci];
	int si = c->swarm;
	struct ppspp_swarm *s = &e->swarms[si];
	uint64_t first, last;

	if (s->failed || s->empty || !s->st.put_chunk) {
		e->ctr.ignored_msgs++;
		return;
	}
	if (spec_chunks(e, ci, &m->u.data.spec, &first, &last) < 0) {
		e->ctr.malformed[PPSPP_ERR_BAD_VALUE]++;
		e->ctr.malformed_total++;
		return;
	}
	size_t off = 0;
	for (uint64_t k = first; k <= last && off < m->u.data.len; k++) {
		size_t len = PCDN_MIN((size_t)s->chunk_size, m->u.data.len - off);
		const uint8_t *p = m->u.data.data + off;
		off += len;
		if (!s->have.w) {
			/* the size is not known yet: this chunk must bring the peaks */
			int rc = learn_peaks(e, si, hashes, n_hashes, k, p, len);
			if (rc == 0 && s->have.w && !s->failed) {
				if (accepted(e, ci, k, p, len, m, now, true) < 0)
					return;
				continue;
			}
			c->first_req_out = false; /* ask again */
			if (rc == 0)
				return; /* storage could not prepare: reported */
			if (!refused(e, ci, k, rc))
				return;
			continue;
		}
		if (k >= s->count) {
			e->ctr.malformed[PPSPP_ERR_BAD_VALUE]++;
			e->ctr.malformed_total++;
			return;
		}
		if (ppspp_bitmap_get(&s->have, k)) {
			e->ctr.chunks_duplicate++;
			ppspp_ivset_add(&c->ack_new, k, k);
			continue;
		}
		int rc = ppspp_merkle_verify_chunk(s->tree, k, p, len, hashes, n_hashes);
		if (rc == 0) {
			if (accepted(e, ci, k, p, len, m, now, false) < 0)
				return;
		} else if (!refused(e, ci, k, rc)) {
			return;
		}
	}
}

/* ---- sending DATA -------------------------------------------------------------------------- */

static int put_integrity(struct ppspp_engine *e, struct ppspp_writer *w,
			 const struct ppspp_hash_node *n, const struct ppspp_channel *c,
			 uint32_t chunk_size)
{
	struct ppspp_spec sp[1];
	struct ppspp_msg m;
	uint64_t first = ppspp_bin_base_left(n->bin);
	uint64_t last = first + ppspp_bin_base_width(n->bin) - 1;

	if (c->ctx.cam == PPSPP_CAM_CHUNK32 && last <= UINT32_MAX) { /* the hot case: fixed layout */
		e->ctr.msgs_out[PPSPP_INTEGRITY]++;
		return ppspp_writer_put_integrity_chunk32(w, (uint32_t)first, (uint32_t)last,
							  n->hash);
	}
	if (c->ctx.cam == PPSPP_CAM_BIN32 || c->ctx.cam == PPSPP_CAM_BIN64) {
		sp[0].a = sp[0].b = n->bin;
	} else if (ppspp_spec_from_chunks(c->ctx.cam, chunk_size, first, last, sp, 1) != 1) {
		return -EINVAL;
	}
	m.type = PPSPP_INTEGRITY;
	m.u.integrity.spec = sp[0];
	e->ctr.msgs_out[PPSPP_INTEGRITY]++;
	m.u.integrity.hash = n->hash;
	return ppspp_writer_put(w, &m);
}

static int split_now(struct ppspp_engine *e, int ci, struct ppspp_writer *w)
{
	int rc = ppspp_chan_emit(e, ci, w->buf, w->len, NULL, 0, NULL);
	tx_writer_init(e, ci, w);
	return rc;
}

/* Flushes an INTEGRITY-only datagram when the hashes and the chunk do not fit one (§5.3). */
static inline int split_if_needed(struct ppspp_engine *e, int ci, struct ppspp_writer *w,
				  size_t need)
{
	if (__builtin_expect(w->len + need <= e->cfg.max_datagram || w->len <= 4, 1))
		return 0;
	return split_now(e, ci, w);
}

/* A channel that lost no DATA in the last second: sending INTEGRITY apart is safe there. */
static inline bool chan_clean(const struct ppspp_engine *e, const struct ppspp_channel *c)
{
	return c->last_loss_us == 0 || e->now - c->last_loss_us > 1000000;
}

/* The lowest layer l whose subtree around chunk k holds chunk m < k, nu + 1 when that is above
 * k's peak (layer nu): the subtrees agree from the highest bit where k and m differ upwards. */
static inline int layer_holding(uint64_t k, uint64_t m, int nu)
{
	int l = 64 - __builtin_clzll(k ^ m);
	return l > nu ? nu + 1 : l;
}

/* How many of chunk k's lowest uncles (of nu) the peer lacks (§5.3). Let A_l be k's ancestor at
 * layer l and S_l its sibling (the uncle at layer l). Let L be the lowest layer whose A_L holds a
 * chunk the peer has (peer_have) or was sent (sent, not on a retransmission, which must stand
 * alone). That chunk lies under S_(L-1): the peer knows S_(L-1) and every uncle above it once it
 * has verified the chunk. A chunk it has acknowledged settles it, so it lacks L-1. A chunk only
 * sent (§5.3's MAY) settles the uncles above S_(L-1), which went out as hashes with it or
 * before it, but S_(L-1) itself is sent: it is never sent as a hash otherwise, and every later
 * chunk under the same peak needs it, so one lost or corrupted DATA would leave them all
 * unverifiable (and a poisoned peer's chunks unverifiable rather than rejected) until the
 * sender noticed. */
static inline int uncles_needed(const struct ppspp_engine *e, const struct ppspp_channel *c,
				uint64_t k, bool retransmit, int nu)
{
	uint64_t hb = 0, sb = 0;
	bool h = ppspp_ivset_last(&c->peer_have, &hb);
	bool sn = !retransmit && ppspp_ivset_last(&c->sent, &sb);

	if ((!h || hb < k) && (!sn || sb < k) && !e->ref_paths) {
		/* the hot case, serving in order: everything either set holds lies below k, so
		 * the newest chunk of each decides */
		int lh = h ? layer_holding(k, hb, nu) : nu + 1;
		int ls = sn ? layer_holding(k, sb, nu) : nu + 1;
		if (lh <= ls)
			return lh > nu ? nu : lh - 1;
		return ls;
	}
	for (int l = 0; l <= nu; l++) {
		uint64_t lo = (k >> l) << l, hi = lo + (1ull << l) - 1;
		bool have = ppspp_ivset_intersects(&c->peer_have, lo, hi);
		if (have || (!retransmit && ppspp_ivset_intersects(&c->sent, lo, hi)))
			return l == 0 ? 0 : l - (have ? 1 : 0);
	}
	return nu;
}

/* INTEGRITY messages chunk k needs (§5.3, §5.6.2), appended to w; `reserve` bytes are kept free
 * for what must follow in the same datagram (the DATA), splitting into INTEGRITY-only datagrams
 * first when they do not fit. hash_msg: the size of one INTEGRITY message on this channel. */
static int put_hashes(struct ppspp_engine *e, int ci, uint64_t k, bool retransmit,
		      struct ppspp_writer *w, size_t reserve, size_t hash_msg)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	int rc;

	/* §5.6.2: peak hashes first, until the peer shows it has them */
	bool knows_peaks = retransmit ? c->peer_have.n > 0 : c->peer_knows_peaks;
	if (!knows_peaks) {
		struct ppspp_hash_node *nodes = e->scratch_nodes;
		int np = ppspp_merkle_peaks(s->tree, nodes, 64);
		for (int i = 0; i < np; i++) {
			split_if_needed(e, ci, w, hash_msg + reserve);
			if ((rc = put_integrity(e, w, &nodes[i], c, s->chunk_size)) < 0)
				return rc;
		}
		c->peer_knows_peaks = true;
	}
	/* §5.3: the uncles the peer lacks, highest first. How many is decided from bins alone
	 * (in-order serving stops after 1-2 layers); their hashes are written straight from the
	 * tree into the datagram. */
	int nu = ppspp_merkle_uncle_layers(s->tree, k);
	if (nu < 0)
		return nu;
	int need = uncles_needed(e, c, k, retransmit, nu);
	if (!need)
		return 0;
	const uint8_t *hp[64];
	if ((rc = ppspp_merkle_uncle_hashes(s->tree, k, hp, need)) < 0)
		return rc;
	bool fixed = c->ctx.cam == PPSPP_CAM_CHUNK32 && k <= UINT32_MAX;
	for (int l = need - 1; l >= 0; l--) {
		split_if_needed(e, ci, w, hash_msg + reserve);
		/* the uncle at layer l: the sibling of k's ancestor there */
		uint64_t first = ((k >> l) ^ 1) << l, last = first + (1ull << l) - 1;
		if (fixed && last <= UINT32_MAX) { /* the hot case: fixed layout */
			e->ctr.msgs_out[PPSPP_INTEGRITY]++;
			rc = ppspp_writer_put_integrity_chunk32(w, (uint32_t)first, (uint32_t)last,
								hp[l]);
		} else {
			struct ppspp_hash_node n;
			n.bin = ppspp_bin_make((unsigned)l, first >> l);
			memcpy(n.hash, hp[l], s->hash_len);
			rc = put_integrity(e, w, &n, c, s->chunk_size);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The DATA datagram (§8.6) after whatever w holds, and the sender's bookkeeping. */
static int emit_data(struct ppspp_engine *e, int ci, struct ppspp_writer *w, uint64_t k,
		     const void *data, size_t len, void *ref, bool retransmit, size_t data_hdr)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	struct ppspp_spec sp[1];
	int rc;

	split_if_needed(e, ci, w, data_hdr + len);
	uint64_t ts = (uint64_t)((int64_t)e->now + e->cfg.timestamp_offset_us);
	if (c->ctx.cam == PPSPP_CAM_CHUNK32 && k <= UINT32_MAX) {
		/* the hot case: fixed layout */
		if ((rc = ppspp_writer_put_data_header_chunk32(w, (uint32_t)k, ts)) < 0)
			return rc;
	} else {
		if (c->ctx.cam == PPSPP_CAM_BYTE64) {
			sp[0].a = k * (uint64_t)s->chunk_size;
			sp[0].b = sp[0].a + len - 1;
		} else if (ppspp_spec_from_chunks(c->ctx.cam, s->chunk_size, k, k, sp, 1) != 1) {
			return -EINVAL;
		}
		if ((rc = ppspp_writer_put_data_header(w, &sp[0], ts)) < 0)
			return rc;
	}
	rc = ppspp_chan_emit(e, ci, w->buf, w->len, data, len, ref);
	/* a failed send is a lost datagram: the peer re-requests */
	ppspp_ivset_add(&c->sent, k, k);
	ppspp_ledbat_on_send(&c->ledbat, (uint32_t)len);
	uint32_t fmask = e->cfg.max_inflight - 1;
	if (c->fl_tail - c->fl_head == e->cfg.max_inflight) {
		/* ring full: the oldest is presumed lost */
		ppspp_ledbat_on_loss(&c->ledbat, e->now, c->fl[c->fl_head & fmask].bytes);
		c->fl_head++;
	}
	if (c->fl_tail != c->fl_head && c->fl[(c->fl_tail - 1) & fmask].chunk >= k)
		c->fl_sorted_from = c->fl_tail; /* out of order (a retransmission): see on_ack */
	c->fl[c->fl_tail & fmask] = (struct ppspp_flight){k, e->now, (uint32_t)len, 0};
	c->fl_index[k & fmask] = c->fl_tail;
	c->fl_tail++;
	c->chunks_sent++;
	e->ctr.chunks_sent++;
	if (retransmit)
		e->ctr.retransmits++;
	return rc;
}

/* One chunk in one datagram: its INTEGRITY then its DATA (§5.3 atomic datagram). */
static int send_chunk(struct ppspp_engine *e, int ci, uint64_t k, const void *data, size_t len,
		      void *ref)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_writer w;
	uint64_t sb;
	/* in-order serving: k above everything sent is no retransmission */
	bool retransmit = ppspp_ivset_last(&c->sent, &sb) && k <= sb &&
			  ppspp_ivset_contains(&c->sent, k);
	size_t spec = ppspp_spec_size(c->ctx.cam);
	size_t data_hdr = 1 + spec + 8;
	int rc;

	tx_writer_init(e, ci, &w);
	if ((rc = put_hashes(e, ci, k, retransmit, &w, data_hdr + len,
			     1 + spec + e->swarms[c->swarm].hash_len)) < 0)
		return rc;
	return emit_data(e, ci, &w, k, data, len, ref, retransmit, data_hdr);
}

/* RFC 7574 §5.3, §8.6, RFC 6817: the hot case of send_chunk, a run of chunks sent in order
 * on a batching chunk32 channel whose peer knows the peaks, each datagram its uncles and its
 * DATA without a split. What stays the same along the run is decided once: the peak (and so
 * the uncle layers) while the chunks stay under it, the congestion window's room as a count of
 * chunks, the flight ring's room; the sent set, flightsize and counters are updated once at the
 * end. Per chunk: the uncles from ctz (the newest sent chunk is the one before: the subtree of
 * layer l around k reaches it iff l > ctz(k)), the hashes, the fixed-layout headers, one flight
 * entry and the batch entry. Byte for byte, state for state what send_chunk does chunk by chunk
 * (test_engine_batch.c compares them with e->no_fast_send).
 *
 * k (with data, len, ref) is the chunk the caller looked up, r->a and burst already past it.
 * Returns false, having done nothing, when k is not the hot case: send_chunk sends it then. */
static bool send_run(struct ppspp_engine *e, int ci, struct ppspp_range *r, uint32_t *burst,
		     uint64_t k, const void *data, size_t len, void *ref)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	struct ppspp_tx_batch *b = &e->tx;
	uint64_t hb = 0, sb = 0, peak_last = 0;
	bool h = ppspp_ivset_last(&c->peer_have, &hb);
	bool sn = ppspp_ivset_last(&c->sent, &sb);
	uint32_t fmask = e->cfg.max_inflight - 1;
	uint32_t fl_room = e->cfg.max_inflight - (c->fl_tail - c->fl_head);
	double cwnd = c->ledbat.cwnd;
	uint64_t fs = c->ledbat.flightsize, cs = s->chunk_size;
	size_t hl = s->hash_len, hmsg = 9 + hl, maxd = e->cfg.max_datagram;

	if (e->no_fast_send || b->ci != ci || c->ctx.cam != PPSPP_CAM_CHUNK32 ||
	    r->b > UINT32_MAX || !c->peer_knows_peaks || hl == 0 || (h && hb >= k) ||
	    (sn && sb >= k) || (c->sent.n >= PPSPP_IVSET_CAP && !(sn && k == sb + 1)) ||
	    fl_room == 0 || !(cwnd < 4503599627370496.0) || fs >= 4503599627370496ull || cs == 0)
		return false;
	int nu = ppspp_merkle_uncle_span(s->tree, k, &peak_last);
	if (nu < 0)
		return false;
	int need = uncles_needed(e, c, k, false, nu);
	const uint8_t *hp[64];
	if (4 + (size_t)need * hmsg + 17 + len > maxd ||
	    ppspp_merkle_uncle_hashes_under(s->tree, k, hp, need) < 0)
		return false;
	/* chunks the window takes: the caller checked the first; the j-th after it needs
	 * fs + (j + 1) * cs <= cwnd (whole bytes: cwnd's fraction never matters) */
	uint64_t n_room = 1;
	if (cwnd >= 0) {
		uint64_t fc = (uint64_t)cwnd;
		if (fc >= fs && (fc - fs) / cs > 1)
			n_room = (fc - fs) / cs;
	}
	if (n_room > fl_room)
		n_room = fl_room;
	if (c->fl_tail != c->fl_head && c->fl[(c->fl_tail - 1) & fmask].chunk >= k)
		c->fl_sorted_from = c->fl_tail; /* as emit_data: see on_ack */
	uint64_t ts = (uint64_t)((int64_t)e->now + e->cfg.timestamp_offset_us);
	uint64_t k0 = k, n = 0, bytes = 0, n_int = 0;
	/* The hashes the rest of the run copies start on their way together (three layers hold
	 * seven in eight of an in-order run's uncles). */
	if (n_room > 1)
		ppspp_merkle_prefetch_run(s->tree, k + 1,
					  PCDN_MIN(PCDN_MIN(k + n_room - 1, r->b), peak_last), 3);
	for (;;) {
		uint8_t *p = b->arena + b->used, *q = p + 4;
		pcdn_put_be32(p, c->remote_id);
		for (int l = need - 1; l >= 0; l--) {
			uint64_t first = ((k >> l) ^ 1) << l;
			q[0] = PPSPP_INTEGRITY;
			pcdn_put_be32(q + 1, (uint32_t)first);
			pcdn_put_be32(q + 5, (uint32_t)(first + (1ull << l) - 1));
			if (hl == 32) /* SHA-256: one inline vector copy, not a libc call */
				memcpy(q + 9, hp[l], 32);
			else
				memcpy(q + 9, hp[l], hl);
			q += hmsg;
		}
		q[0] = PPSPP_DATA;
		pcdn_put_be32(q + 1, (uint32_t)k);
		pcdn_put_be32(q + 5, (uint32_t)k);
		pcdn_put_be64(q + 9, ts);
		q += 17;
		n_int += (uint64_t)need;
		c->fl[c->fl_tail & fmask] = (struct ppspp_flight){k, e->now, (uint32_t)len, 0};
		c->fl_index[k & fmask] = c->fl_tail;
		c->fl_tail++;
		n++;
		bytes += len;
		b->took_ref = false;
		ppspp_chan_emit(e, ci, p, (size_t)(q - p), data, len, ref);
		if (s->st.release && !b->took_ref)
			s->st.release(s->st.ctx, ref);
		/* the next chunk, when it is still the hot case */
		if (len != cs || n >= n_room || *burst == 0)
			break;
		k++;
		if (k > r->b || k >= s->count || !ppspp_bitmap_get(&s->have, k) ||
		    k != b->look_first + b->look_next || b->look_next >= b->look_n)
			break;
		if (k > peak_last && (nu = ppspp_merkle_uncle_span(s->tree, k, &peak_last)) < 0)
			break;
		/* uncles_needed with the newest sent chunk k - 1, which lies under S_ctz(k); the
		 * newest acknowledged one may lie there too */
		need = layer_holding(k, k - 1, nu);
		if (need > nu)
			need = nu;
		else if (h && layer_holding(k, hb, nu) == need)
			need--;
		const struct ppspp_chunk_ref *lr = &b->look[b->look_next];
		if (4 + (size_t)need * hmsg + 17 + lr->len > maxd ||
		    ppspp_merkle_uncle_hashes_under(s->tree, k, hp, need) < 0)
			break;
		b->look_next++;
		data = lr->data;
		len = lr->len;
		ref = lr->ref;
		r->a++;
		(*burst)--;
	}
	ppspp_ivset_add(&c->sent, k0, k0 + n - 1);
	c->ledbat.flightsize += bytes;
	c->chunks_sent += n;
	e->ctr.chunks_sent += n;
	e->ctr.msgs_out[PPSPP_INTEGRITY] += n_int;
	e->fast_chunks += n;
	return true;
}

/* A burst with its hashes apart (cfg.integrity_apart): the INTEGRITY messages of every chunk in
 * the burst go first, in datagrams of their own (§5.4 allows this when they do not share the
 * DATA's datagram), then DATA datagrams that all have the same size, which a kernel sender
 * hands to UDP segmentation offload as one buffer. The hashes were written by the caller into
 * w as it collected the burst; a burst carries at most half of what a receiver keeps. */
static void send_burst_apart(struct ppspp_engine *e, int ci, struct ppspp_pending *p, int n,
			     struct ppspp_writer *w)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];

	if (w->len > 4)
		ppspp_chan_emit(e, ci, w->buf, w->len, NULL, 0, NULL);
	for (int i = 0; i < n; i++) {
		struct ppspp_writer dw;
		ppspp_writer_init(&dw, e->buf, e->buf_cap, c->remote_id, &c->ctx);
		emit_data(e, ci, &dw, p[i].chunk, p[i].data, p[i].len, p[i].ref, p[i].retransmit,
			  1 + ppspp_spec_size(c->ctx.cam) + 8);
		if (s->st.release)
			s->st.release(s->st.ctx, p[i].ref);
	}
}

/* Drops what was looked up ahead and not sent (its storage references). */
static void look_reset(struct ppspp_engine *e, struct ppspp_swarm *s)
{
	struct ppspp_tx_batch *b = &e->tx;

	if (s->st.release)
		for (unsigned i = b->look_next; i < b->look_n; i++)
			s->st.release(s->st.ctx, b->look[i].ref);
	b->look_n = b->look_next = 0;
	b->look_stop = 0;
	b->look_first = UINT64_MAX;
}

/* Chunk k of the head range [k, last], as get_chunk gives it. With the storage's get_chunks,
 * the run ahead (as far as the range, the burst and the congestion window reach) is looked up
 * at once so that the storage overlaps its memory accesses. */
static int chunk_get(struct ppspp_engine *e, struct ppspp_channel *c, struct ppspp_swarm *s,
		     uint64_t k, uint64_t last, uint32_t burst, const void **data, size_t *len,
		     void **ref)
{
	struct ppspp_tx_batch *b = &e->tx;

	if (!s->st.get_chunks)
		return s->st.get_chunk(s->st.ctx, k, data, len, ref);
	if (k == b->look_first + b->look_next && b->look_next < b->look_n) {
		const struct ppspp_chunk_ref *r = &b->look[b->look_next++];
		*data = r->data;
		*len = r->len;
		*ref = r->ref;
		return 0;
	}
	if (k == b->look_first + b->look_n && b->look_stop < 0 && b->look_next == b->look_n)
		return b->look_stop;
	look_reset(e, s);
	double room_b = c->ledbat.cwnd - (double)c->ledbat.flightsize;
	uint64_t n = room_b > 0 ? (uint64_t)(room_b / (double)s->chunk_size) : 0;
	if (n == 0)
		n = 1; /* the caller checked that one fits */
	if (n > last - k + 1)
		n = last - k + 1;
	if (n > burst)
		n = burst;
	if (n > PPSPP_BATCH_LOOKUP)
		n = PPSPP_BATCH_LOOKUP;
	int stop = 0;
	int got = s->st.get_chunks(s->st.ctx, k, (unsigned)n, b->look, &stop);
	if (got < 0)
		return got;
	b->look_first = k;
	b->look_n = (unsigned)got;
	b->look_stop = (unsigned)got < n ? (stop < 0 ? stop : -EIO) : 0;
	if (got == 0)
		return b->look_stop;
	b->look_next = 1;
	*data = b->look[0].data;
	*len = b->look[0].len;
	*ref = b->look[0].ref;
	return 0;
}

void ppspp_chan_send_data(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint32_t burst = e->cfg.send_burst;
	/* hashes apart only on a clean path: a lost INTEGRITY-only datagram strands its whole
	 * burst, so a channel that lost DATA in the last second goes back to atomic datagrams */
	bool apart = e->cfg.integrity_apart && chan_clean(e, c);
	struct ppspp_pending *p = e->pending;
	int np = 0;
	uint64_t pending_bytes = 0, hashes_before = e->ctr.msgs_out[PPSPP_INTEGRITY];
	struct ppspp_writer hw;

	if (c->state != CH_ESTABLISHED || !s->st.get_chunk || !s->have.w)
		return;
	if (apart)
		ppspp_writer_init(&hw, e->buf, e->buf_cap, c->remote_id, &c->ctx);
	else if (e->io.send_batch)
		e->tx.ci = ci;
	e->tx.look_n = e->tx.look_next = 0;
	e->tx.look_stop = 0;
	e->tx.look_first = UINT64_MAX;
	while (c->rq_n > 0) {
		struct ppspp_range *r = &c->rq[c->rq_head];
		if (r->a > r->b) {
			c->rq_head = (c->rq_head + 1) % PPSPP_RQ_CAP;
			c->rq_n--;
			continue;
		}
		uint64_t k = r->a;
		if (c->waiting) {
			if (!c->ready)
				break;
			c->waiting = false;
			if (c->gone) {
				r->a++;
				continue;
			}
		}
		/* back-pressure: no more DATA than the transport's queue takes; the rest waits in
		 * the request queue, counted neither as sent nor as lost */
		if (burst > e->send_budget)
			burst = (uint32_t)e->send_budget;
		if (burst == 0) {
			e->busy = true;
			if (e->send_budget == 0)
				e->ctr.send_budget_stops++;
			break;
		}
		if (k >= s->count || !ppspp_bitmap_get(&s->have, k)) {
			r->a++;
			continue;
		}
		bool room = pending_bytes == 0
				? ppspp_ledbat_can_send(&c->ledbat, s->chunk_size)
				: (double)(c->ledbat.flightsize + pending_bytes + s->chunk_size) <=
				      c->ledbat.cwnd;
		if (!room)
			break;
		const void *data;
		size_t len;
		void *ref = NULL;
		int rc = apart ? s->st.get_chunk(s->st.ctx, k, &data, &len, &ref)
			       : chunk_get(e, c, s, k, r->b, burst, &data, &len, &ref);
		if (rc == -EAGAIN) {
			/* the cacher's miss path: wait for ppspp_engine_chunk_ready */
			c->waiting = true;
			c->ready = false;
			c->gone = false;
			c->wait_chunk = k;
			ppspp_chanset_add(&e->waiters, (uint32_t)ci);
			e->ctr.requests_deferred++;
			break;
		}
		if (rc < 0) {
			e->ctr.storage_errors++;
			r->a++;
			continue;
		}
		r->a++;
		burst--;
		if (apart) {
			bool retransmit = ppspp_ivset_contains(&c->sent, k);
			put_hashes(e, ci, k, retransmit, &hw, 0,
				   1 + ppspp_spec_size(c->ctx.cam) + s->hash_len);
			/* the next chunk's hashes may count on this one (optimistic, §5.3) */
			if (!retransmit)
				ppspp_ivset_add(&c->sent, k, k);
			p[np++] = (struct ppspp_pending){k, data, len, ref, retransmit};
			pending_bytes += len;
			if (e->ctr.msgs_out[PPSPP_INTEGRITY] - hashes_before >=
			    PPSPP_MAX_HASHES / 2) {
				e->busy = true; /* the receiver keeps PPSPP_MAX_HASHES sent apart */
				break;
			}
			continue;
		}
		if (send_run(e, ci, r, &burst, k, data, len, ref))
			continue;
		e->tx.took_ref = false;
		send_chunk(e, ci, k, data, len, ref);
		/* batched: the flush releases what it queued */
		if (s->st.release && (e->tx.ci != ci || !e->tx.took_ref))
			s->st.release(s->st.ctx, ref);
	}
	if (np)
		send_burst_apart(e, ci, p, np, &hw);
	look_reset(e, s);
	if (e->tx.ci == ci) {
		tx_flush(e);
		e->tx.ci = -1;
	}
}

/* ---- control messages: one datagram per run with everything pending ------------------------ */

struct ctl_writer {
	struct ppspp_engine *e;
	int ci;
	struct ppspp_writer w;
	bool any;
};

static void ctl_put(struct ctl_writer *cw, const struct ppspp_msg *m)
{
	struct ppspp_channel *c = &cw->e->ch[cw->ci];

	cw->e->ctr.msgs_out[m->type]++;
	if (ppspp_writer_put(&cw->w, m) == -ENOSPC && cw->w.len > 4) {
		ppspp_chan_emit(cw->e, cw->ci, cw->w.buf, cw->w.len, NULL, 0, NULL);
		ppspp_writer_init(&cw->w, cw->e->buf, cw->e->cfg.max_datagram, c->remote_id,
				  &c->ctx);
		ppspp_writer_put(&cw->w, m);
	}
	cw->any = true;
}

static void ctl_put_chunks(struct ctl_writer *cw, uint8_t type, uint64_t a, uint64_t b,
			   uint64_t delay)
{
	struct ppspp_channel *c = &cw->e->ch[cw->ci];
	struct ppspp_swarm *s = &cw->e->swarms[c->swarm];
	struct ppspp_spec sp[16];
	struct ppspp_msg m;
	int n = ppspp_spec_from_chunks(c->ctx.cam, s->chunk_size, a, b, sp, 16);

	if (n < 0)
		return;
	if (c->ctx.cam == PPSPP_CAM_BYTE64 && s->count && b == s->count - 1) {
		uint32_t last = ppspp_merkle_chunk_len(s->tree, b);
		if (last)
			sp[0].b = b * (uint64_t)s->chunk_size + last - 1;
	}
	for (int i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		m.type = type;
		switch (type) {
		case PPSPP_ACK:
			m.u.ack.spec = sp[i];
			m.u.ack.delay_us = delay;
			break;
		case PPSPP_HAVE:
			m.u.have = sp[i];
			break;
		case PPSPP_REQUEST:
			m.u.request = sp[i];
			break;
		default:
			m.u.cancel = sp[i];
			break;
		}
		ctl_put(cw, &m);
	}
}

static void put_pex(struct ctl_writer *cw)
{
	struct ppspp_engine *e = cw->e;
	struct ppspp_channel *c = &e->ch[cw->ci];
	bool asker_private = addr_private(&c->peer);
	struct ppspp_msg m;
	int sent = 0;

	for (uint32_t j = 0; j < e->ch_hwm && sent < 32; j++) {
		struct ppspp_channel *o = &e->ch[j];
		if ((int)j == cw->ci || o->state != CH_ESTABLISHED || o->swarm != c->swarm)
			continue;
		/* §8.13: no private addresses to a peer outside */
		if (!asker_private && addr_private(&o->peer))
			continue;
		memset(&m, 0, sizeof(m));
		m.type = o->peer.family == PPSPP_AF_INET4 ? PPSPP_PEX_RESV4 : PPSPP_PEX_RESV6;
		memcpy(m.u.pex.addr, o->peer.addr, 16);
		m.u.pex.port = o->peer.port;
		ctl_put(cw, &m);
		sent++;
	}
}

void ppspp_chan_flush_control(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	struct ctl_writer cw = {.e = e, .ci = ci};
	struct ppspp_msg m;

	if (c->state != CH_ESTABLISHED)
		return;
	ppspp_writer_init(&cw.w, e->buf, e->cfg.max_datagram, c->remote_id, &c->ctx);
	memset(&m, 0, sizeof(m));
	if (c->send_choke) {
		m.type = PPSPP_CHOKE;
		ctl_put(&cw, &m);
		c->send_choke = false;
	}
	if (c->send_unchoke) {
		m.type = PPSPP_UNCHOKE;
		ctl_put(&cw, &m);
		c->send_unchoke = false;
	}
	/* §4.3.2 ACK / §4.3.1 HAVE: the biggest verified interval covering what arrived */
	uint64_t last_a = UINT64_MAX, last_b = 0;
	for (uint32_t i = 0; i < c->ack_new.n && s->have.w; i++) {
		uint64_t a = ppspp_bitmap_run_start(&s->have, c->ack_new.iv[i].a, s->prefix);
		uint64_t b = ppspp_bitmap_run_end(&s->have, c->ack_new.iv[i].b);
		if (a == last_a && b == last_b)
			continue;
		ctl_put_chunks(&cw, PPSPP_ACK, a, b, c->ack_delay_us);
		last_a = a;
		last_b = b;
	}
	for (uint32_t i = 0; i < s->fresh.n; i++) {
		uint64_t a = ppspp_bitmap_run_start(&s->have, s->fresh.iv[i].a, s->prefix);
		uint64_t b = ppspp_bitmap_run_end(&s->have, s->fresh.iv[i].b);
		if ((a == last_a && b == last_b) ||
		    (ppspp_ivset_contains(&c->ack_new, s->fresh.iv[i].a) &&
		     ppspp_ivset_contains(&c->ack_new, s->fresh.iv[i].b)))
			continue;
		ctl_put_chunks(&cw, PPSPP_HAVE, a, b, 0);
		last_a = a;
		last_b = b;
	}
	for (uint32_t i = 0; i < c->n_cancels; i++)
		ctl_put_chunks(&cw, PPSPP_CANCEL, c->cancels[i].a, c->cancels[i].b, 0);
	c->n_cancels = 0;
	for (uint32_t i = 0; i < c->n_new_reqs; i++)
		ctl_put_chunks(&cw, PPSPP_REQUEST, c->new_reqs[i].a, c->new_reqs[i].b, 0);
	c->n_new_reqs = 0;
	if (c->pex_wanted) {
		m.type = PPSPP_PEX_REQ;
		ctl_put(&cw, &m);
		c->pex_wanted = false;
	}
	if (c->pex_owed) {
		put_pex(&cw);
		c->pex_owed = false;
	}
	/* after the handshake reply the initiator must speak so the responder completes it;
	 * otherwise a datagram with only the channel ID is the keep-alive (§3.12, §8.14) */
	bool idle = e->now - c->last_send_us >= e->cfg.keepalive_us;
	if (cw.w.len > 4 || c->must_speak || idle) {
		if (!cw.any)
			e->ctr.keepalives_out++;
		ppspp_chan_emit(e, ci, cw.w.buf, cw.w.len, NULL, 0, NULL);
		c->must_speak = false;
	}
	ppspp_ivset_clear(&c->ack_new);
}

/* ---- timers -------------------------------------------------------------------------------- */

void ppspp_chan_timers(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint64_t now = e->now;

	switch (c->state) {
	case CH_HS_SENT:
		if (now - c->hs_sent_us < e->cfg.handshake_retry_us)
			return;
		if (c->hs_tries + 1 < e->cfg.handshake_tries) {
			c->hs_tries++;
			ppspp_chan_send_handshake(e, ci, !c->core_only);
		} else if (!c->core_only) {
			/* deployed peers that drop handshakes with options they do not know:
			 * one more round with the core options only */
			char a[64];
			c->core_only = true;
			c->hs_tries = 0;
			e->ctr.handshake_fallbacks++;
			PCDN_LOG(ppspp_chan_log, WARNING,
				 "no handshake reply from %s: retrying with core options only",
				 ppspp_peer_addr_format(&c->peer, a, sizeof(a)));
			ppspp_chan_send_handshake(e, ci, false);
		} else {
			ppspp_chan_end(e, ci, PPSPP_PEER_NO_ANSWER, false);
		}
		return;
	case CH_HS_REPLIED:
		/* half-open: forget it if the initiator never completes */
		if (now - c->created_us > e->cfg.handshake_retry_us * e->cfg.handshake_tries * 4)
			ppspp_chan_end(e, ci, PPSPP_PEER_NO_ANSWER, false);
		return;
	case CH_ESTABLISHED:
		break;
	default:
		return;
	}
	/* §3.12: dead after silence with at least three datagrams sent meanwhile */
	if (now - c->last_recv_us >= e->cfg.dead_us && c->sent_since_recv >= 3) {
		ppspp_chan_end(e, ci, PPSPP_PEER_TIMEOUT, true);
		return;
	}
	/* the run's later passes visit this channel when a timer changed what it may do: the
	 * keep-alive is due, the pipeline was resized, requests or DATA were presumed lost */
	if (now - c->last_send_us >= e->cfg.keepalive_us)
		ppspp_chanset_add(&e->run, (uint32_t)ci);
	/* delivery rate for the request pipeline, every 50 ms */
	if (now - c->rate_start_us >= 50000) {
		ppspp_chanset_add(&e->run, (uint32_t)ci);
		double r = (double)c->rate_count * 1e6 / (double)(now - c->rate_start_us);
		c->rate_cps = c->rate_cps == 0 ? r : 0.5 * c->rate_cps + 0.5 * r;
		c->rate_start_us = now;
		c->rate_count = 0;
	}
	/* re-requests: retire answered requests; a request older than the timer, or one that
	 * later requests overtook by far, is presumed lost (DATA or REQUEST) */
	uint32_t mask = e->cfg.max_requests - 1;
	uint64_t to = 2 * c->srtt_us + 4 * c->rttvar_us;
	if (to < e->cfg.min_request_timeout_us)
		to = e->cfg.min_request_timeout_us;
	if (to > 20 * e->cfg.min_request_timeout_us)
		to = 20 * e->cfg.min_request_timeout_us;
	uint32_t req_head0 = c->req_head;
	while (c->req_head != c->req_tail) {
		struct ppspp_req *r = &c->req[c->req_head & mask];
		if (!s->have.w) {
			if (now - r->sent_us < to)
				break;
			c->first_req_out = false;
			c->req_head++;
			continue;
		}
		if (r->chunk >= s->count || s->owner[r->chunk] != (uint16_t)(ci + 1) ||
		    s->req_pos[r->chunk] != c->req_head) {
			c->req_head++; /* answered, moved to another peer, or asked again later */
			continue;
		}
		/* the peer serves requests in order: 32 later ones answered means this REQUEST
		 * was lost (lost DATA the sender recovers itself, sooner) */
		bool overtaken = (int32_t)(c->hi_pos - c->req_head) >= 32;
		if (!overtaken && now - r->sent_us < to)
			break;
		ppspp_picker_release(e, c->swarm, r->chunk);
		ppspp_chanset_add(&e->run, (uint32_t)ci);
		e->ctr.rerequests++;
		c->req_head++;
		/* a loss halves the pipeline's rate estimate */
		c->rate_cps /= 2;
	}
	if (c->req_head != req_head0) /* room in the request ring, or a first chunk to ask */
		ppspp_chanset_add(&e->run, (uint32_t)ci);
	/* sender side (RFC 6817 §2.4.2 loss; RACK-style detection): a DATA is lost when DATA sent
	 * after it was acknowledged and a smoothed RTT and a quarter have passed since it went
	 * out, or when the RTO expired. Lost chunks the peer asked for are queued again at the
	 * front (§8.2: DATA may be resent when loss is suspected). */
	uint32_t fmask = e->cfg.max_inflight - 1;
	uint64_t rto = ppspp_ledbat_rto_us(&c->ledbat);
	uint64_t srtt = c->ledbat.srtt_us;
	uint64_t reo = srtt + srtt / 4 + 1000;
	while (c->fl_head != c->fl_tail) {
		struct ppspp_flight *f = &c->fl[c->fl_head & fmask];
		if (f->acked) {
			c->fl_head++;
			continue;
		}
		bool overtaken = srtt && f->sent_us < c->fl_acked_sent_us && now - f->sent_us > reo;
		/* tail loss probe (RFC 8985 §7): nothing acknowledged for two smoothed RTTs (at
		 * least 50 ms) while the oldest DATA waits: send it again as a probe, far sooner
		 * than the 1 s RTO floor. A probe is not a loss: the window is not cut (a busy
		 * receiver is not a lossy path); the entry leaves the flight so the probe fits. */
		uint64_t pto = PCDN_MAX(2 * srtt, 50000);
		bool tail = srtt && now - f->sent_us > pto && now - c->ledbat.last_ack_us > pto &&
			    now - c->last_probe_us > pto; /* one probe per PTO */
		if (!overtaken && !tail && now - f->sent_us < rto)
			break;
		if (overtaken) {
			flight_lost(e, ci, f);
		} else if (tail && now - f->sent_us < rto) {
			f->acked = 2;
			c->ledbat.flightsize -= PCDN_MIN((uint64_t)f->bytes, c->ledbat.flightsize);
			c->last_probe_us = now;
			e->ctr.tail_probes++;
		} else {
			ppspp_ledbat_on_timeout(&c->ledbat, now); /* RFC 6298 §5: the CTO fired */
			flight_lost(e, ci, f);
		}
		rq_push_front(e, ci, f->chunk);
		ppspp_chanset_add(&e->run, (uint32_t)ci);
		c->fl_head++;
	}
	if (c->waiting && !c->ready)
		return;
}

/* When ppspp_chan_timers would next act on the channel (UINT64_MAX: not on its own), from the
 * same conditions: the run visits every channel then instead of on a fixed tick. What input
 * changes (an ACK, an answered request) is looked at when the input marks the channel; a
 * deadline that moved later only costs a pass that finds nothing due. */
uint64_t ppspp_chan_deadline(const struct ppspp_engine *e, int ci)
{
	const struct ppspp_channel *c = &e->ch[ci];
	uint64_t t = UINT64_MAX;

	switch (c->state) {
	case CH_HS_SENT:
		return c->hs_sent_us + e->cfg.handshake_retry_us;
	case CH_HS_REPLIED:
		return c->created_us + e->cfg.handshake_retry_us * e->cfg.handshake_tries * 4 + 1;
	case CH_ESTABLISHED:
		break;
	default:
		return t;
	}
	/* §3.12: dead peer, keep-alive */
	t = PCDN_MIN(c->last_recv_us + e->cfg.dead_us, c->last_send_us + e->cfg.keepalive_us);
	/* the delivery rate, while there is one to measure (see ppspp_engine_input) */
	if (c->rate_count || c->rate_cps != 0 || c->n_out || c->req_head != c->req_tail)
		t = PCDN_MIN(t, c->rate_start_us + 50000);
	if (c->req_head != c->req_tail) {
		uint64_t to = 2 * c->srtt_us + 4 * c->rttvar_us;
		if (to < e->cfg.min_request_timeout_us)
			to = e->cfg.min_request_timeout_us;
		if (to > 20 * e->cfg.min_request_timeout_us)
			to = 20 * e->cfg.min_request_timeout_us;
		/* the oldest request's timeout, or at once when later ones overtook it */
		const struct ppspp_req *r = &c->req[c->req_head & (e->cfg.max_requests - 1)];
		t = PCDN_MIN(t, r->sent_us + to);
		if (e->swarms[c->swarm].have.w && (int32_t)(c->hi_pos - c->req_head) >= 32)
			t = PCDN_MIN(t, e->now);
	}
	uint32_t fmask = e->cfg.max_inflight - 1;
	uint32_t p = c->fl_head;
	while (p != c->fl_tail && c->fl[p & fmask].acked)
		p++;
	if (p != c->fl_tail) {
		/* the oldest DATA in flight: RACK, tail probe, RTO (as in ppspp_chan_timers) */
		const struct ppspp_flight *f = &c->fl[p & fmask];
		uint64_t srtt = c->ledbat.srtt_us;
		t = PCDN_MIN(t, f->sent_us + ppspp_ledbat_rto_us(&c->ledbat));
		if (srtt) {
			uint64_t reo = srtt + srtt / 4 + 1000, pto = PCDN_MAX(2 * srtt, 50000);
			if (f->sent_us < c->fl_acked_sent_us)
				t = PCDN_MIN(t, f->sent_us + reo + 1);
			uint64_t from = PCDN_MAX(f->sent_us,
						 PCDN_MAX(c->ledbat.last_ack_us, c->last_probe_us));
			t = PCDN_MIN(t, from + pto + 1);
		}
	} else if (c->rq_n && !c->waiting && c->ledbat.flightsize) {
		/* window accounting with nothing in the ring to time out: look again soon */
		t = PCDN_MIN(t, e->now + 1000);
	}
	return t;
}
