/* RFC 7574 §3.1.1, §8: the engine's entry points — datagram input (channel demultiplexing, the
 * responder's and initiator's handshake checks), the run loop (timers and sending), and the
 * owner's controls. Pure: no sockets, no threads, the caller passes the time. */
#include "engine_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PCDN_LOG_COMPONENT(ppspp_engine_log, "ppspp")

#define ENGINE_BUF 65536

bool ppspp_peer_addr_equal(const struct ppspp_peer_addr *a, const struct ppspp_peer_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, a->family == PPSPP_AF_INET4 ? 4 : 16) == 0;
}

const char *ppspp_peer_addr_format(const struct ppspp_peer_addr *a, char *out, size_t size)
{
	const uint8_t *p = a->addr;

	if (a->family == PPSPP_AF_INET4) {
		snprintf(out, size, "%u.%u.%u.%u:%u", p[0], p[1], p[2], p[3], a->port);
		return out;
	}
	char h[INET6_ADDRSTRLEN];
	if (!inet_ntop(AF_INET6, p, h, sizeof(h)))
		snprintf(h, sizeof(h), "?");
	snprintf(out, size, "[%s]:%u", h, a->port);
	return out;
}

const char *ppspp_peer_end_name(int reason)
{
	switch (reason) {
	case PPSPP_PEER_TIMEOUT:
		return "dead (no datagram within the timeout)";
	case PPSPP_PEER_NO_ANSWER:
		return "no handshake reply";
	case PPSPP_PEER_CLOSED:
		return "closed by the peer";
	case PPSPP_PEER_POISONED:
		return "too many chunks failed verification";
	case PPSPP_PEER_REFUSED:
		return "handshake reply failed our checks";
	case PPSPP_PEER_LOCAL_CLOSE:
		return "closed locally";
	default:
		return "unknown";
	}
}

void ppspp_engine_config_defaults(struct ppspp_engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_channels = 64;
	cfg->max_swarms = 8;
	cfg->max_requests = 1024;
	cfg->max_inflight = 4096;
	cfg->max_datagram = 1472;
	cfg->send_burst = 64;
	cfg->handshake_retry_us = 500000;
	cfg->handshake_tries = 3;
	cfg->keepalive_us = 10000000;
	cfg->dead_us = 180000000;
	cfg->min_request_timeout_us = 50000;
	cfg->poison_limit = 3;
	cfg->pex = true;
}

static bool pow2(uint32_t v)
{
	return v && (v & (v - 1)) == 0;
}

struct ppspp_engine *ppspp_engine_create(const struct ppspp_engine_config *cfg,
					 const struct ppspp_io *io,
					 const struct ppspp_engine_events *ev, uint64_t now_us)
{
	struct ppspp_engine *e;

	if (!io || !io->send) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	if (cfg)
		e->cfg = *cfg;
	else
		ppspp_engine_config_defaults(&e->cfg);
	if (!pow2(e->cfg.max_requests) || !pow2(e->cfg.max_inflight) || e->cfg.max_channels == 0 ||
	    e->cfg.max_channels >= 65535 || e->cfg.max_swarms == 0 || e->cfg.max_datagram < 64 ||
	    e->cfg.max_datagram > ENGINE_BUF || e->cfg.send_burst == 0 ||
	    e->cfg.handshake_tries == 0 || e->cfg.poison_limit == 0) {
		free(e);
		errno = EINVAL;
		return NULL;
	}
	/* §3.12: at least three datagrams must reach a live peer within the dead timeout */
	if (e->cfg.keepalive_us > e->cfg.dead_us / 4)
		e->cfg.keepalive_us = e->cfg.dead_us / 4;
	e->io = *io;
	if (ev)
		e->ev = *ev;
	e->now = now_us;
	uint32_t tsize = 4;
	while (tsize < e->cfg.max_channels * 2)
		tsize *= 2;
	e->id_mask = tsize - 1;
	e->id_table = calloc(tsize, sizeof(*e->id_table));
	e->swarms = calloc(e->cfg.max_swarms, sizeof(*e->swarms));
	e->ch = calloc(e->cfg.max_channels, sizeof(*e->ch));
	e->buf_cap = ENGINE_BUF;
	e->buf = malloc(e->buf_cap);
	e->scratch_nodes = calloc(2 * PPSPP_MAX_HASHES, sizeof(*e->scratch_nodes));
	e->in_nodes = calloc(3 * PPSPP_MAX_HASHES, sizeof(*e->in_nodes));
	e->pending = calloc(e->cfg.send_burst, sizeof(*e->pending));
	if (!e->id_table || !e->swarms || !e->ch || !e->buf || !e->scratch_nodes || !e->in_nodes ||
	    !e->pending)
		goto fail;
	if (ppspp_chanset_alloc(&e->dirty, e->cfg.max_channels) < 0 ||
	    ppspp_chanset_alloc(&e->run, e->cfg.max_channels) < 0 ||
	    ppspp_chanset_alloc(&e->waiters, e->cfg.max_channels) < 0)
		goto fail;
	for (uint32_t i = 0; i < e->cfg.max_swarms; i++)
		if (ppspp_chanset_alloc(&e->swarms[i].members, e->cfg.max_channels) < 0)
			goto fail;
	e->next_full_us = now_us;
	e->send_budget = UINT64_MAX;
	e->tx.ci = -1;
	if (e->io.send_batch) {
		/* a burst's DATA plus an INTEGRITY-only datagram for each (a split, §5.3) */
		e->tx.cap = 2 * e->cfg.send_burst + 2;
		e->tx.d = calloc(e->tx.cap, sizeof(*e->tx.d));
		/* typical DATA headers take 2 lines: a full burst fits, with room for one split */
		e->tx.arena_cap = (size_t)e->cfg.send_burst * 128 + 2 * e->cfg.max_datagram + 64;
		e->tx.arena = aligned_alloc(64, (e->tx.arena_cap + 63) & ~(size_t)63);
		if (!e->tx.d || !e->tx.arena)
			goto fail;
	}
	for (uint32_t i = 0; i < e->cfg.max_channels; i++) {
		struct ppspp_channel *c = &e->ch[i];
		c->req = calloc(e->cfg.max_requests, sizeof(*c->req));
		c->fl = calloc(e->cfg.max_inflight, sizeof(*c->fl));
		c->fl_index = calloc(e->cfg.max_inflight, sizeof(*c->fl_index));
		c->hashes = calloc(PPSPP_MAX_HASHES, sizeof(*c->hashes));
		if (!c->req || !c->fl || !c->fl_index || !c->hashes)
			goto fail;
	}
	return e;
fail:
	ppspp_engine_destroy(e);
	errno = ENOMEM;
	return NULL;
}

void ppspp_engine_destroy(struct ppspp_engine *e)
{
	if (!e)
		return;
	if (e->ch) {
		for (uint32_t i = 0; i < e->cfg.max_channels; i++) {
			free(e->ch[i].req);
			free(e->ch[i].fl);
			free(e->ch[i].fl_index);
			free(e->ch[i].hashes);
		}
	}
	if (e->swarms)
		for (uint32_t i = 0; i < e->cfg.max_swarms; i++) {
			ppspp_swarm_free(&e->swarms[i]);
			ppspp_chanset_free(&e->swarms[i].members);
		}
	ppspp_chanset_free(&e->dirty);
	ppspp_chanset_free(&e->run);
	ppspp_chanset_free(&e->waiters);
	free(e->swarms);
	free(e->ch);
	free(e->id_table);
	free(e->buf);
	free(e->scratch_nodes);
	free(e->in_nodes);
	free(e->pending);
	free(e->tx.d);
	free(e->tx.arena);
	free(e);
}

void ppspp_engine_count_out(struct ppspp_engine *e, const uint8_t *buf, size_t len)
{
	(void)buf;
	e->ctr.dgrams_out++;
	e->ctr.bytes_out += len;
}

const struct ppspp_engine_counters *ppspp_engine_counters(const struct ppspp_engine *e)
{
	return &e->ctr;
}

void ppspp_engine_set_send_budget(struct ppspp_engine *e, uint32_t datagrams)
{
	e->send_budget = datagrams == UINT32_MAX ? UINT64_MAX : datagrams;
}

uint32_t ppspp_engine_max_channels(const struct ppspp_engine *e)
{
	return e->cfg.max_channels;
}

int ppspp_engine_channel_info(const struct ppspp_engine *e, int channel,
			      struct ppspp_channel_info *out)
{
	if (channel < 0 || (uint32_t)channel >= e->cfg.max_channels ||
	    e->ch[channel].state == CH_FREE)
		return -ENOENT;
	const struct ppspp_channel *c = &e->ch[channel];
	memset(out, 0, sizeof(*out));
	out->swarm = c->swarm;
	out->peer = c->peer;
	out->established = c->state == CH_ESTABLISHED;
	out->choked_by_peer = c->choked_by_peer;
	out->core_options_only = c->core_only;
	out->local_id = c->local_id;
	out->remote_id = c->remote_id;
	out->chunks_received = c->chunks_received;
	out->chunks_sent = c->chunks_sent;
	out->rejected = c->rejected;
	out->requests_out = c->n_out;
	out->cwnd_bytes = c->ledbat.cwnd;
	out->flight_bytes = c->ledbat.flightsize;
	out->queued_requests = c->rq_n;
	return 0;
}

/* ---- handshake checks (§3.1.1 steps 2 and 4, §7) ------------------------------------------ */

/* Returns the swarm the options name (or want_swarm), or -1 when a check fails. */
static int check_options(const struct ppspp_engine *e, const struct ppspp_options *o,
			 int want_swarm, uint8_t *cam)
{
	int si = want_swarm;

	/* §7.2/7.3: we speak version 1 */
	if (ppspp_options_has(o, PPSPP_OPT_VERSION) && o->version < PPSPP_VERSION)
		return -1;
	if (ppspp_options_has(o, PPSPP_OPT_MIN_VERSION) && o->min_version > PPSPP_VERSION)
		return -1;
	if (ppspp_options_has(o, PPSPP_OPT_SWARM_ID)) {
		int found = -1;
		for (uint32_t i = 0; i < e->cfg.max_swarms; i++) {
			const struct ppspp_swarm *s = &e->swarms[i];
			if (s->used && o->swarm_id_len == s->hash_len &&
			    memcmp(o->swarm_id, s->root, s->hash_len) == 0) {
				found = (int)i;
				break;
			}
		}
		if (found < 0 || (want_swarm >= 0 && found != want_swarm))
			return -1;
		si = found;
	}
	if (si < 0)
		return -1; /* §3.1.1: the initiator MUST name the swarm */
	const struct ppspp_swarm *s = &e->swarms[si];
	if (ppspp_options_has(o, PPSPP_OPT_CIPM) && o->cipm != PPSPP_CIPM_MERKLE)
		return -1;
	if (ppspp_options_has(o, PPSPP_OPT_MERKLE_HASH) && o->merkle_hash != s->hash_fn)
		return -1;
	/* liberal: a handshake without chunk size means the swarm's (deployed peers omit it) */
	if (ppspp_options_has(o, PPSPP_OPT_CHUNK_SIZE) && o->chunk_size != s->chunk_size)
		return -1;
	if (ppspp_options_has(o, PPSPP_OPT_CAM)) {
		if (ppspp_spec_size(o->cam) == 0)
			return -1;
		*cam = o->cam;
	}
	return si;
}

static bool swarm_here(const struct ppspp_engine *e, const struct ppspp_options *o)
{
	for (uint32_t i = 0; i < e->cfg.max_swarms; i++) {
		const struct ppspp_swarm *s = &e->swarms[i];
		if (s->used && o->swarm_id_len == s->hash_len &&
		    memcmp(o->swarm_id, s->root, s->hash_len) == 0)
			return true;
	}
	return false;
}

static void established(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];

	c->state = CH_ESTABLISHED;
	c->pex_wanted = e->cfg.pex;
	if (e->ev.peer_up)
		e->ev.peer_up(e->ev.ctx, c->swarm, ci, &c->peer);
	if (s->empty && !s->complete_sent) {
		s->complete_sent = true;
		if (e->ev.complete)
			e->ev.complete(e->ev.ctx, c->swarm);
	}
}

static void new_handshake(struct ppspp_engine *e, const struct ppspp_peer_addr *from,
			  const uint8_t *buf, size_t len)
{
	struct ppspp_codec_ctx ctx = {
	    .cam = PPSPP_CAM_CHUNK32, .hash_len = 20, .chunk_size = PPSPP_DEFAULT_CHUNK_SIZE};
	struct ppspp_reader r;
	struct ppspp_msg m;
	int rc;

	ppspp_reader_init(&r, buf, len, &ctx);
	rc = ppspp_reader_next(&r, &m);
	if (rc < 0) {
		e->ctr.malformed[-rc < PPSPP_ERR_DECODE_MAX ? -rc : 0]++;
		e->ctr.malformed_total++;
		return;
	}
	/* §3.1.1 step 2: anything wrong gets no answer at all */
	if (rc == 0 || m.type != PPSPP_HANDSHAKE || m.u.handshake.src_channel == 0) {
		e->ctr.bad_handshakes++;
		return;
	}
	e->ctr.msgs_in[PPSPP_HANDSHAKE]++;
	uint8_t cam = PPSPP_CAM_CHUNK32;
	const struct ppspp_options *o = &m.u.handshake.opts;
	if (ppspp_options_has(o, PPSPP_OPT_SWARM_ID) && !swarm_here(e, o)) {
		/* §3.1.1: a swarm we are not in gets no answer; the owner may add it */
		e->ctr.unknown_swarm++;
		e->ctr.bad_handshakes++;
		if (e->ev.unknown_swarm)
			e->ev.unknown_swarm(e->ev.ctx, from, o);
		return;
	}
	int si = check_options(e, o, -1, &cam);
	if (si < 0) {
		e->ctr.bad_handshakes++;
		return;
	}
	uint32_t src = m.u.handshake.src_channel;
	/* a resent first datagram (our reply was lost): answer again on the same channel */
	for (uint32_t i = 0; i < e->ch_hwm; i++) {
		struct ppspp_channel *c = &e->ch[i];
		if (c->state != CH_FREE && !c->initiator && c->remote_id == src &&
		    ppspp_peer_addr_equal(&c->peer, from)) {
			if (c->state == CH_HS_REPLIED)
				ppspp_chan_send_handshake(e, (int)i, !c->core_only);
			return;
		}
	}
	int ci = ppspp_chan_alloc(e, si, from, false);
	if (ci < 0) {
		e->ctr.table_full++;
		return;
	}
	struct ppspp_channel *c = &e->ch[ci];
	c->remote_id = src;
	c->ctx.cam = ppspp_options_has(o, PPSPP_OPT_CAM) ? cam : PPSPP_CAM_CHUNK32;
	/* answer a peer that spoke only the core options in kind */
	c->core_only = !ppspp_options_has(o, PPSPP_OPT_CHUNK_SIZE) &&
		       !ppspp_options_has(o, PPSPP_OPT_SUPPORTED_MSGS);
	r.ctx = c->ctx;
	int nh = 0;
	while ((rc = ppspp_reader_next(&r, &m)) == 1) {
		if (m.type <= PPSPP_MSG_TYPE_MAX)
			e->ctr.msgs_in[m.type]++;
		if (m.type == PPSPP_DATA || m.type == PPSPP_HANDSHAKE) {
			e->ctr.ignored_msgs++; /* no heavy payload before the handshake completes */
			continue;
		}
		ppspp_chan_handle_msg(e, ci, &m, e->in_nodes, &nh);
		if (c->state == CH_FREE)
			return;
	}
	if (rc < 0) {
		e->ctr.malformed[-rc < PPSPP_ERR_DECODE_MAX ? -rc : 0]++;
		e->ctr.malformed_total++;
	}
	ppspp_chan_send_handshake(e, ci, !c->core_only);
}

/* §3.1.1 steps 3-4: the responder's reply to our handshake. Returns false when the channel
 * ended or the datagram must be discarded. */
static bool handshake_reply(struct ppspp_engine *e, int ci, const struct ppspp_msg *m,
			    struct ppspp_reader *r)
{
	struct ppspp_channel *c = &e->ch[ci];

	if (m->type != PPSPP_HANDSHAKE) {
		e->ctr.ignored_msgs++;
		return false;
	}
	if (m->u.handshake.src_channel == 0) {
		ppspp_chan_end(e, ci, PPSPP_PEER_CLOSED, false);
		return false;
	}
	uint8_t cam = c->ctx.cam;
	if (check_options(e, &m->u.handshake.opts, c->swarm, &cam) < 0) {
		e->ctr.bad_handshakes++;
		c->remote_id = m->u.handshake.src_channel;
		c->state = CH_HS_REPLIED; /* so the close goes out */
		ppspp_chan_end(e, ci, PPSPP_PEER_REFUSED, true);
		return false;
	}
	c->remote_id = m->u.handshake.src_channel;
	c->ctx.cam = cam;
	r->ctx = c->ctx;
	c->must_speak = true;
	established(e, ci);
	return c->state != CH_FREE;
}

int ppspp_engine_input(struct ppspp_engine *e, const struct ppspp_peer_addr *from,
		       const uint8_t *buf, size_t len, uint64_t now_us)
{
	struct ppspp_reader r;
	struct ppspp_msg m;
	int rc;

	e->now = now_us;
	e->ctr.dgrams_in++;
	e->ctr.bytes_in += len;
	if (len < 4) {
		e->ctr.malformed[PPSPP_ERR_TRUNCATED]++;
		e->ctr.malformed_total++;
		return 0;
	}
	uint32_t dst = pcdn_get_be32(buf);
	if (dst == 0) {
		new_handshake(e, from, buf, len);
		return 0;
	}
	int ci = ppspp_chan_lookup(e, dst);
	/* §3.1.1 steps 3 and 7: a datagram without our channel ID (or from elsewhere) is dropped */
	if (ci < 0 || !ppspp_peer_addr_equal(&e->ch[ci].peer, from)) {
		e->ctr.unknown_channel++;
		return 0;
	}
	struct ppspp_channel *c = &e->ch[ci];
	uint32_t id = c->local_id;
	bool reply = c->state == CH_HS_SENT;
	c->last_recv_us = now_us;
	c->sent_since_recv = 0;
	ppspp_chan_mark(e, ci);
	/* the rate timer is not scheduled while nothing arrives (ppspp_chan_deadline): restart
	 * the interval as its 50 ms pass would have */
	if (!c->rate_count && c->rate_cps == 0 && now_us - c->rate_start_us >= 50000)
		c->rate_start_us = now_us;
	if (c->state == CH_HS_REPLIED) {
		established(e, ci); /* step 7: the initiator got our reply */
		if (c->state == CH_FREE)
			return 0;
	}
	ppspp_reader_init(&r, buf, len, &c->ctx);
	/* hashes sent apart, in INTEGRITY-only datagrams ahead of their DATA (§5.3, §5.4), are
	 * kept per channel; the datagram's own INTEGRITY messages collect in in_nodes */
	int nh = 0;
	bool data_seen = false, combined = false;
	while ((rc = ppspp_reader_next(&r, &m)) == 1) {
		if (m.type <= PPSPP_MSG_TYPE_MAX)
			e->ctr.msgs_in[m.type]++;
		if (reply) {
			reply = false;
			if (!handshake_reply(e, ci, &m, &r))
				return 0;
			continue;
		}
		if (m.type == PPSPP_DATA) {
			struct ppspp_hash_node *h = e->in_nodes;
			int n = nh;
			if (nh == 0) {
				h = c->hashes;
				n = (int)c->n_hashes;
			} else if (c->n_hashes && !combined) {
				/* both: earlier ones first */
				memmove(e->in_nodes + c->n_hashes, e->in_nodes,
					(size_t)nh * sizeof(*e->in_nodes));
				memcpy(e->in_nodes, c->hashes, c->n_hashes * sizeof(*e->in_nodes));
				nh += (int)c->n_hashes;
				n = nh;
				combined = true;
			}
			data_seen = true;
			c->hashes_used = true;
			ppspp_chan_input_data(e, ci, &m, h, n, now_us);
		} else {
			ppspp_chan_handle_msg(e, ci, &m, e->in_nodes, &nh);
		}
		if (c->state == CH_FREE || c->local_id != id)
			return 0;
	}
	if (rc < 0) {
		e->ctr.malformed[-rc < PPSPP_ERR_DECODE_MAX ? -rc : 0]++;
		e->ctr.malformed_total++;
	}
	if (!data_seen && nh > 0) {
		/* the first INTEGRITY-only datagram after DATA starts a new burst's set */
		if (c->hashes_used) {
			c->n_hashes = 0;
			c->hashes_used = false;
		}
		uint32_t add = (uint32_t)PCDN_MIN(nh, PPSPP_MAX_HASHES);
		const struct ppspp_hash_node *src = e->in_nodes + (nh - (int)add);
		if (c->n_hashes + add > PPSPP_MAX_HASHES) {
			uint32_t drop = c->n_hashes + add - PPSPP_MAX_HASHES;
			memmove(c->hashes, c->hashes + drop,
				(c->n_hashes - drop) * sizeof(*c->hashes));
			c->n_hashes -= drop;
		}
		memcpy(c->hashes + c->n_hashes, src, add * sizeof(*c->hashes));
		c->n_hashes += add;
	}
	return 0;
}

/* Visiting order: every slot below ch_hwm on a full run, else the members of e->run. */
static uint32_t run_next(const struct ppspp_engine *e, bool full, uint32_t i)
{
	if (full)
		return i < e->ch_hwm ? i : UINT32_MAX;
	i = ppspp_chanset_next(&e->run, i);
	return i < e->ch_hwm ? i : UINT32_MAX;
}

#define RUN_EACH(e, full, i)                                                                       \
	for (uint32_t i = run_next(e, full, 0); i != UINT32_MAX; i = run_next(e, full, i + 1))

/* When channel i's timers must be looked at again. */
static void timer_due(struct ppspp_engine *e, uint32_t i)
{
	if (e->ch[i].state != CH_FREE)
		ppspp_engine_timer_at(e, ppspp_chan_deadline(e, (int)i));
}

/* RFC 7574 §3.12, §8: the run loop. The passes keep their order (timers, picking, control,
 * DATA) but visit only the channels that have something to do: those marked since the last run
 * (input, chunk_ready, choke, the burst limit, ...) and, for the swarm-wide work, every channel
 * of a swarm whose chunks went back to the pool or that verified chunks to announce. All
 * channels' timers are looked at when the earliest of them is due (ppspp_chan_deadline), and
 * at least every 200 ms. */
uint64_t ppspp_engine_run(struct ppspp_engine *e, uint64_t now_us)
{
	bool full = now_us >= e->next_full_us;
	bool busy = false;

	e->now = now_us;
	e->busy = false;
	e->ctr.runs++;
	/* marks made from here on are for the next run */
	struct ppspp_chanset t = e->run;
	e->run = e->dirty;
	e->dirty = t;
	if (full) {
		e->ctr.full_runs++;
		e->next_full_us = now_us + 200000;
	}
	/* timers of every channel on a full run; those that fired (or a keep-alive that is due)
	 * add their channel to e->run for the passes below */
	RUN_EACH(e, full, i)
	{
		e->ctr.chan_visits++;
		if (e->ch[i].state != CH_FREE)
			ppspp_chan_timers(e, (int)i);
	}
	/* swarm-wide: chunks back in the pool may go to any channel (picker), verified chunks
	 * are announced to every channel (HAVE) */
	for (uint32_t si = 0; si < e->cfg.max_swarms; si++) {
		struct ppspp_swarm *s = &e->swarms[si];
		if (!s->used || !(s->repick || s->fresh.n))
			continue;
		s->repick = false;
		ppspp_chanset_or(&e->run, &s->members);
	}
	RUN_EACH(e, false, i)
	{
		if (e->ch[i].state == CH_ESTABLISHED)
			ppspp_picker_fill(e, (int)i);
	}
	RUN_EACH(e, false, i)
	{
		if (e->ch[i].state == CH_ESTABLISHED)
			ppspp_chan_flush_control(e, (int)i);
	}
	for (uint32_t i = 0; i < e->cfg.max_swarms; i++)
		ppspp_ivset_clear(&e->swarms[i].fresh);
	RUN_EACH(e, false, i)
	{
		struct ppspp_channel *c = &e->ch[i];
		if (c->state == CH_ESTABLISHED) {
			e->busy = false;
			ppspp_chan_send_data(e, (int)i);
			if (e->busy) {
				busy = true;
				ppspp_chan_mark(e, (int)i); /* the rest of its burst next run */
			}
		}
		timer_due(e, i);
	}
	/* the next timers of the channels the passes above did not visit (those they did were
	 * just looked at, after what they sent) */
	for (uint32_t i = 0; full && i < e->ch_hwm; i++)
		if (!ppspp_chanset_has(&e->run, i))
			timer_due(e, i);
	ppspp_chanset_clear(&e->run);
	e->busy = busy;
	if (busy)
		return now_us;
	return e->next_full_us;
}

int ppspp_engine_connect(struct ppspp_engine *e, int swarm, const struct ppspp_peer_addr *peer,
			 uint64_t now_us)
{
	if (swarm < 0 || (uint32_t)swarm >= e->cfg.max_swarms || !e->swarms[swarm].used)
		return -EINVAL;
	if (peer->family != PPSPP_AF_INET4 && peer->family != PPSPP_AF_INET6)
		return -EAFNOSUPPORT;
	e->now = now_us;
	int ci = ppspp_chan_alloc(e, swarm, peer, true);
	if (ci < 0)
		return ci;
	int rc = ppspp_chan_send_handshake(e, ci, true);
	if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS) {
		ppspp_chan_free(e, ci);
		return rc;
	}
	return ci;
}

int ppspp_engine_close(struct ppspp_engine *e, int channel, uint64_t now_us)
{
	if (channel < 0 || (uint32_t)channel >= e->cfg.max_channels ||
	    e->ch[channel].state == CH_FREE)
		return -ENOENT;
	e->now = now_us;
	ppspp_chan_end(e, channel, PPSPP_PEER_LOCAL_CLOSE, true);
	return 0;
}

int ppspp_engine_choke(struct ppspp_engine *e, int channel, bool choke, uint64_t now_us)
{
	if (channel < 0 || (uint32_t)channel >= e->cfg.max_channels ||
	    e->ch[channel].state != CH_ESTABLISHED)
		return -ENOENT;
	struct ppspp_channel *c = &e->ch[channel];
	e->now = now_us;
	if (choke == c->choking_peer)
		return 0;
	c->choking_peer = choke;
	ppspp_chan_mark(e, channel);
	if (choke) {
		c->send_choke = true;
		c->send_unchoke = false;
		c->rq_n = 0; /* §3.9: old requests are discarded */
		c->waiting = false;
	} else {
		c->send_unchoke = true;
		c->send_choke = false;
	}
	return 0;
}

void ppspp_engine_chunk_ready(struct ppspp_engine *e, int swarm, uint64_t chunk, bool available)
{
	/* only the channels that waited since the last look; the others leave the set */
	for (uint32_t i = ppspp_chanset_next(&e->waiters, 0); i != UINT32_MAX;
	     i = ppspp_chanset_next(&e->waiters, i + 1)) {
		struct ppspp_channel *c = &e->ch[i];
		if (c->state != CH_ESTABLISHED || !c->waiting) {
			ppspp_chanset_del(&e->waiters, i);
			continue;
		}
		if (c->swarm == swarm && c->wait_chunk == chunk) {
			c->ready = true;
			c->gone = !available;
			ppspp_chan_mark(e, (int)i);
		}
	}
}

int ppspp_engine_counters_format(const struct ppspp_engine_counters *c, char *out, size_t size)
{
	static const char *const msg_names[] = {
	    "handshake", "data",       "ack",	  "have",
	    "integrity", "pex_resv4",  "pex_req", "signed_integrity",
	    "request",	 "cancel",     "choke",	  "unchoke",
	    "pex_resv6", "pex_rescert"};
	size_t n = 0;

#define PUT(...)                                                                                   \
	do {                                                                                       \
		int w_ = snprintf(out + n, n < size ? size - n : 0, __VA_ARGS__);                  \
		if (w_ > 0)                                                                        \
			n += (size_t)w_;                                                           \
	} while (0)
#define CTR(field)                                                                                 \
	do {                                                                                       \
		if (c->field)                                                                      \
			PUT("%s %llu\n", #field, (unsigned long long)c->field);                    \
	} while (0)
	if (size)
		out[0] = '\0';
	PUT("dgrams_in %llu\ndgrams_out %llu\nbytes_in %llu\nbytes_out %llu\n",
	    (unsigned long long)c->dgrams_in, (unsigned long long)c->dgrams_out,
	    (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
	for (int i = 0; i <= PPSPP_MSG_TYPE_MAX; i++) {
		if (c->msgs_in[i])
			PUT("msgs_in.%s %llu\n", msg_names[i], (unsigned long long)c->msgs_in[i]);
		if (c->msgs_out[i])
			PUT("msgs_out.%s %llu\n", msg_names[i], (unsigned long long)c->msgs_out[i]);
	}
	for (int i = 1; i < PPSPP_ERR_DECODE_MAX; i++)
		if (c->malformed[i])
			PUT("malformed.%s %llu\n", ppspp_decode_error_name(-i),
			    (unsigned long long)c->malformed[i]);
	PUT("malformed_total %llu\n", (unsigned long long)c->malformed_total);
	CTR(unknown_channel);
	CTR(bad_handshakes);
	CTR(handshake_fallbacks);
	CTR(table_full);
	CTR(ignored_msgs);
	PUT("chunks_verified %llu\nchunks_rejected %llu\n", (unsigned long long)c->chunks_verified,
	    (unsigned long long)c->chunks_rejected);
	CTR(chunks_unverifiable);
	CTR(chunks_duplicate);
	CTR(chunks_sent);
	CTR(retransmits);
	CTR(rerequests);
	CTR(requests_deferred);
	CTR(send_budget_stops);
	CTR(data_lost);
	CTR(tail_probes);
	CTR(send_errors);
	CTR(storage_errors);
	CTR(peers_dead);
	CTR(peers_poisoned);
	CTR(peers_closed);
	CTR(keepalives_out);
	CTR(pex_peers_in);
#undef CTR
#undef PUT
	return (int)n;
}
