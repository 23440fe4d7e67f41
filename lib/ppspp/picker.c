/* RFC 7574 §9.1: chunk picking. In-order picking over a shared cursor: every channel takes the
 * next chunks that are neither verified nor requested and that its peer has, so several peers
 * download disjoint chunks at once; a chunk whose request timed out, was choked, or failed
 * verification goes back to the pool and the next channel with room picks it up. The pipeline of
 * each channel is sized from its measured delivery rate and the smallest request round trip. */
#include "engine_internal.h"

static bool recently_rejected(const struct ppspp_channel *c, uint64_t chunk)
{
	for (unsigned i = 0; i < PPSPP_REJECT_MEMORY && i < c->rejected; i++)
		if (c->reject_memory[i] == chunk)
			return true;
	return false;
}

static void queue_request(struct ppspp_channel *c, uint64_t chunk)
{
	if (c->n_new_reqs > 0 && c->new_reqs[c->n_new_reqs - 1].b + 1 == chunk) {
		c->new_reqs[c->n_new_reqs - 1].b = chunk;
		return;
	}
	c->new_reqs[c->n_new_reqs].a = chunk;
	c->new_reqs[c->n_new_reqs].b = chunk;
	c->n_new_reqs++;
}

static uint32_t pipeline_window(const struct ppspp_engine *e, const struct ppspp_channel *c)
{
	/* bandwidth-delay product from the measured rate and the base RTT plus a scheduling
	 * margin, never under 16 requests, never over the ring */
	double rtt_s = (double)(c->min_rtt_us ? c->min_rtt_us : 1000) / 1e6 + 0.010;
	double w = 16.0 + c->rate_cps * rtt_s * 2.0;

	if (c->rejected > 0)
		return 1; /* a peer that sent a bad chunk gets one request at a time */
	if (w > (double)(e->cfg.max_requests - 1))
		w = (double)(e->cfg.max_requests - 1);
	return (uint32_t)w;
}

static void take(struct ppspp_engine *e, int ci, uint64_t pos);

void ppspp_picker_fill(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint32_t mask = e->cfg.max_requests - 1;

	if (c->state != CH_ESTABLISHED || c->choked_by_peer || s->failed || s->empty)
		return;
	if (!s->have.w) {
		/* §5.6.2: the size comes with the peak hashes of the first DATA; ask one chunk */
		if (!c->first_req_out && c->peer_have.n > 0) {
			uint64_t first = c->peer_have.iv[0].a;
			c->first_req_out = true;
			queue_request(c, first);
			c->req[c->req_tail & mask].chunk = first;
			c->req[c->req_tail & mask].sent_us = e->now;
			c->req[c->req_tail & mask].retry = true;
			c->req_tail++; /* owned by nobody: no n_out, the timer retires it */
		}
		return;
	}
	c->window = pipeline_window(e, c);
	if (!ppspp_picker_wanted(e, ci))
		return;
	uint64_t pos = s->cursor;
	while (c->n_out < c->window && c->n_new_reqs < PPSPP_ACK_CAP &&
	       c->req_tail - c->req_head < mask) {
		pos = ppspp_bitmap_next_clear(&s->taken, pos);
		if (pos >= s->count)
			break;
		if (!ppspp_ivset_contains(&c->peer_have, pos)) {
			uint64_t nxt = ppspp_ivset_next(&c->peer_have, pos);
			if (nxt == UINT64_MAX || nxt >= s->count)
				break;
			pos = nxt;
			continue;
		}
		if (recently_rejected(c, pos)) {
			pos++;
			continue;
		}
		take(e, ci, pos);
		pos++;
	}
	if (s->cursor < s->count)
		s->cursor = ppspp_bitmap_next_clear(&s->taken, s->cursor);
}

static void take(struct ppspp_engine *e, int ci, uint64_t pos)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint32_t mask = e->cfg.max_requests - 1;

	ppspp_bitmap_set(&s->taken, pos);
	s->owner[pos] = (uint16_t)(ci + 1);
	s->req_pos[pos] = c->req_tail;
	c->req[c->req_tail & mask].chunk = pos;
	c->req[c->req_tail & mask].sent_us = e->now;
	c->req[c->req_tail & mask].retry = ppspp_bitmap_get(&s->retried, pos);
	c->req_tail++;
	c->n_out++;
	queue_request(c, pos);
}

/* Wanted chunks (a cacher's misses) before the in-order pick. Ranges whose chunks all arrived
 * are dropped, so the scan stays as short as what is still missing. */
bool ppspp_picker_wanted(struct ppspp_engine *e, int ci)
{
	struct ppspp_channel *c = &e->ch[ci];
	struct ppspp_swarm *s = &e->swarms[c->swarm];
	uint32_t mask = e->cfg.max_requests - 1;
	uint32_t keep = 0;

	for (uint32_t i = 0; i < s->want.n; i++) {
		uint64_t a = ppspp_bitmap_next_clear(&s->have, s->want.iv[i].a);
		uint64_t b = PCDN_MIN(s->want.iv[i].b, s->count - 1);
		if (a > b)
			continue; /* all here */
		s->want.iv[keep].a = a;
		s->want.iv[keep].b = s->want.iv[i].b;
		keep++;
		for (uint64_t pos = a; pos <= b; pos++) {
			if (c->n_out >= c->window || c->n_new_reqs >= PPSPP_ACK_CAP ||
			    c->req_tail - c->req_head >= mask)
				break;
			if (ppspp_bitmap_get(&s->taken, pos) ||
			    !ppspp_ivset_contains(&c->peer_have, pos) || recently_rejected(c, pos))
				continue;
			take(e, ci, pos);
		}
	}
	s->want.n = keep;
	return !s->want_only && c->n_out < c->window;
}

/* A requested chunk goes back to the pool (timeout, rejection, choke, dead peer). */
void ppspp_picker_release(struct ppspp_engine *e, int si, uint64_t chunk)
{
	struct ppspp_swarm *s = &e->swarms[si];

	if (!s->have.w || chunk >= s->count || ppspp_bitmap_get(&s->have, chunk))
		return;
	if (s->owner[chunk]) {
		struct ppspp_channel *c = &e->ch[s->owner[chunk] - 1];
		if (c->n_out)
			c->n_out--;
		s->owner[chunk] = 0;
	}
	ppspp_bitmap_clr(&s->taken, chunk);
	ppspp_bitmap_set(&s->retried, chunk);
	s->repick = true; /* any channel of the swarm may take it */
	if (chunk < s->cursor)
		s->cursor = chunk;
}

void ppspp_picker_on_verified(struct ppspp_engine *e, int si, uint64_t chunk, int from_ci)
{
	struct ppspp_swarm *s = &e->swarms[si];
	uint16_t o = s->owner[chunk];

	if (o) {
		struct ppspp_channel *c = &e->ch[o - 1];
		if (c->n_out)
			c->n_out--;
		if ((int)o - 1 != from_ci && c->n_cancels < PPSPP_ACK_CAP) {
			/* §3.8: it came from someone else; the owner need not send it */
			c->cancels[c->n_cancels].a = chunk;
			c->cancels[c->n_cancels].b = chunk;
			c->n_cancels++;
			ppspp_chan_mark(e, (int)o - 1); /* its CANCEL goes out */
		}
		s->owner[chunk] = 0;
	}
	ppspp_bitmap_set(&s->have, chunk);
	ppspp_bitmap_set(&s->taken, chunk);
	if (chunk == s->prefix)
		s->prefix = ppspp_bitmap_next_clear(&s->have, chunk);
}
