/* PPSPP engine, sender side (RFC 7574 §3.12, §5.3, §8; RFC 6817): the batched send path
 * (io.send_batch, storage get_chunks) against the one-datagram path, storage references, cache
 * misses (-EAGAIN then ppspp_engine_chunk_ready), short batches, and the run loop's cost with
 * thousands of channels. The peers are emulated by hand: handshakes, REQUESTs and ACKs built
 * with the codec, a fake clock. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h" /* the chunk and channel sets, tested directly */
#include "pcdn_common.h"
#include "ppspp.h"

#define CHUNK	   1024
#define N_CHUNKS   301 /* the last one short */
#define CONTENT_SZ ((uint64_t)(N_CHUNKS - 1) * CHUNK + 100)
#define MAX_CLI	   2048
#define LOG_CAP	   8192
#define DG_MAX	   2048

static uint8_t *content;
static struct ppspp_merkle *tree;

/* ---- storage: counts every reference it hands out ----------------------------------------- */

struct store {
	int out[N_CHUNKS]; /* references not released yet, per chunk */
	uint64_t gets;	   /* references handed out */
	uint64_t get_calls[N_CHUNKS];
	uint64_t miss;	   /* -EAGAIN for this chunk while !miss_ready */
	bool miss_ready;
	bool bad_release;
};

static int get_one(struct store *s, uint64_t k, const void **data, size_t *len, void **ref)
{
	if (k >= N_CHUNKS)
		return -ERANGE;
	s->get_calls[k]++;
	if (k == s->miss && !s->miss_ready)
		return -EAGAIN;
	uint64_t off = k * CHUNK;
	*data = content + off;
	*len = (size_t)PCDN_MIN((uint64_t)CHUNK, CONTENT_SZ - off);
	*ref = (void *)(uintptr_t)(k + 1);
	s->out[k]++;
	s->gets++;
	return 0;
}

static int st_get(void *ctx, uint64_t k, const void **data, size_t *len, void **ref)
{
	return get_one(ctx, k, data, len, ref);
}

static int st_gets(void *ctx, uint64_t first, unsigned n, struct ppspp_chunk_ref *out, int *stop)
{
	for (unsigned i = 0; i < n; i++) {
		int rc = get_one(ctx, first + i, &out[i].data, &out[i].len, &out[i].ref);
		if (rc < 0) {
			*stop = rc;
			return (int)i;
		}
	}
	return (int)n;
}

static void st_release(void *ctx, void *ref)
{
	struct store *s = ctx;
	uintptr_t k = (uintptr_t)ref;

	if (k == 0 || k > N_CHUNKS || s->out[k - 1] <= 0) {
		s->bad_release = true;
		return;
	}
	s->out[k - 1]--;
}

static bool all_released(const struct store *s)
{
	for (int k = 0; k < N_CHUNKS; k++)
		if (s->out[k] != 0)
			return false;
	return !s->bad_release;
}

/* ---- the emulated peers -------------------------------------------------------------------- */

struct client {
	uint32_t cid, sid; /* our channel ID, the engine's */
	uint8_t got[N_CHUNKS];
	uint64_t ack_a, ack_b; /* chunks to acknowledge next, a > b: none */
	bool ack_each;	       /* instead: one ACK per chunk, newest first */
	uint64_t rx[64];
	int n_rx;
	uint64_t dgrams, keepalives;
	uint64_t last_dgram_us, first_keepalive_us;
	uint64_t keepalive_gap; /* shortest time from a datagram to the keep-alive after it */
};

struct sut {
	struct ppspp_engine *e;
	struct store st;
	struct client *cli;
	int n_cli;
	uint64_t now;
	/* every datagram sent, in order: header then payload */
	uint8_t (*log)[DG_MAX];
	uint32_t *log_len;
	int *log_to;
	unsigned n_log;
	unsigned short_next; /* the next send_batch sends this many fewer */
	uint64_t batches;
};

static int client_of(const struct sut *s, const struct ppspp_peer_addr *to)
{
	int i = (int)to->addr[2] * 256 + to->addr[3];
	CU_ASSERT_FATAL(i >= 0 && i < s->n_cli);
	return i;
}

/* A datagram reaches client i: log it, learn the engine's channel ID, note the chunks. */
static void deliver(struct sut *s, int i, const uint8_t *hdr, size_t hl, const void *pl,
		    size_t plen)
{
	struct client *c = &s->cli[i];
	uint8_t b[DG_MAX];
	struct ppspp_codec_ctx ctx = {.cam = PPSPP_CAM_CHUNK32, .hash_len = 20, .chunk_size = CHUNK};
	struct ppspp_reader r;
	struct ppspp_msg m;

	CU_ASSERT_FATAL(hl + plen <= DG_MAX);
	memcpy(b, hdr, hl);
	if (plen)
		memcpy(b + hl, pl, plen);
	if (s->log && s->n_log < LOG_CAP) {
		memcpy(s->log[s->n_log], b, hl + plen);
		s->log_len[s->n_log] = (uint32_t)(hl + plen);
		s->log_to[s->n_log] = i;
		s->n_log++;
	}
	CU_ASSERT(pcdn_get_be32(b) == c->cid);
	if (hl + plen == 4) {
		if (!c->keepalives)
			c->first_keepalive_us = s->now;
		if (!c->keepalives || s->now - c->last_dgram_us < c->keepalive_gap)
			c->keepalive_gap = s->now - c->last_dgram_us;
		c->keepalives++;
	}
	c->dgrams++;
	c->last_dgram_us = s->now;
	ppspp_reader_init(&r, b, hl + plen, &ctx);
	while (ppspp_reader_next(&r, &m) == 1) {
		if (m.type == PPSPP_HANDSHAKE && m.u.handshake.src_channel)
			c->sid = m.u.handshake.src_channel;
		if (m.type == PPSPP_DATA) {
			uint64_t k = m.u.data.spec.a;
			CU_ASSERT_FATAL(k < N_CHUNKS);
			CU_ASSERT(m.u.data.len == PCDN_MIN((uint64_t)CHUNK, CONTENT_SZ - k * CHUNK));
			CU_ASSERT(memcmp(m.u.data.data, content + k * CHUNK, m.u.data.len) == 0);
			c->got[k]++;
			if (c->n_rx < 64)
				c->rx[c->n_rx++] = k;
			if (c->ack_a > c->ack_b) {
				c->ack_a = c->ack_b = k;
			} else {
				c->ack_a = PCDN_MIN(c->ack_a, k);
				c->ack_b = PCDN_MAX(c->ack_b, k);
			}
		}
	}
}

static int io_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hl,
		   const void *pl, size_t plen, void *ref)
{
	struct sut *s = ctx;
	(void)ref;
	deliver(s, client_of(s, to), hdr, hl, pl, plen);
	return 0;
}

static int io_send_batch(void *ctx, const struct ppspp_peer_addr *to, const struct ppspp_dgram *d,
			 unsigned n)
{
	struct sut *s = ctx;
	int i = client_of(s, to);
	unsigned ok = n;

	s->batches++;
	if (s->short_next) {
		ok = s->short_next < n ? n - s->short_next : 0;
		s->short_next = 0;
	}
	for (unsigned j = 0; j < ok; j++)
		deliver(s, i, d[j].hdr, d[j].hdr_len, d[j].payload, d[j].payload_len);
	return (int)ok;
}

static void sut_init(struct sut *s, bool batch, int n_cli, uint32_t max_channels, bool log)
{
	struct ppspp_engine_config cfg;

	memset(s, 0, sizeof(*s));
	s->now = 1000000;
	s->n_cli = n_cli;
	s->cli = calloc((size_t)n_cli, sizeof(*s->cli));
	for (int i = 0; i < n_cli; i++) {
		s->cli[i].cid = 0x10000000u + (uint32_t)i;
		s->cli[i].ack_a = 1;
	}
	if (log) {
		s->log = malloc(LOG_CAP * sizeof(*s->log));
		s->log_len = calloc(LOG_CAP, sizeof(*s->log_len));
		s->log_to = calloc(LOG_CAP, sizeof(*s->log_to));
	}
	s->st.miss = UINT64_MAX;
	ppspp_engine_config_defaults(&cfg);
	cfg.max_channels = max_channels;
	cfg.pex = false;
	cfg.send_burst = 16;
	struct ppspp_io io = {.ctx = s, .send = io_send, .send_batch = batch ? io_send_batch : NULL};
	s->e = ppspp_engine_create(&cfg, &io, NULL, s->now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->e);
	struct ppspp_storage st = {.ctx = &s->st,
				   .get_chunk = st_get,
				   .get_chunks = batch ? st_gets : NULL,
				   .release = st_release};
	CU_ASSERT_EQUAL_FATAL(ppspp_engine_swarm_add(s->e, tree, PPSPP_CAM_CHUNK32, &st), 0);
}

static void sut_free(struct sut *s)
{
	ppspp_engine_destroy(s->e);
	free(s->cli);
	free(s->log);
	free(s->log_len);
	free(s->log_to);
}

static struct ppspp_peer_addr cli_addr(int i)
{
	struct ppspp_peer_addr a;
	memset(&a, 0, sizeof(a));
	a.family = PPSPP_AF_INET4;
	a.addr[0] = 10;
	a.addr[2] = (uint8_t)(i / 256);
	a.addr[3] = (uint8_t)(i % 256);
	a.port = 7000;
	return a;
}

static const struct ppspp_codec_ctx cctx = {
    .cam = PPSPP_CAM_CHUNK32, .hash_len = 20, .chunk_size = CHUNK};

static void cli_input(struct sut *s, int i, const uint8_t *b, size_t len)
{
	struct ppspp_peer_addr a = cli_addr(i);
	CU_ASSERT(ppspp_engine_input(s->e, &a, b, len, s->now) == 0);
}

/* §3.1.1 step 1: the client's first datagram. */
static void cli_handshake(struct sut *s, int i)
{
	uint8_t b[256], root[PPSPP_HASH_MAX_LEN];
	struct ppspp_writer w;
	struct ppspp_msg m;

	ppspp_merkle_root(tree, root);
	ppspp_writer_init(&w, b, sizeof(b), 0, &cctx);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = s->cli[i].cid;
	struct ppspp_options *o = &m.u.handshake.opts;
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_VERSION) | PPSPP_OPT_BIT(PPSPP_OPT_MIN_VERSION) |
		     PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID) | PPSPP_OPT_BIT(PPSPP_OPT_CIPM) |
		     PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH) | PPSPP_OPT_BIT(PPSPP_OPT_CAM) |
		     PPSPP_OPT_BIT(PPSPP_OPT_CHUNK_SIZE);
	o->version = 1;
	o->min_version = 1;
	o->swarm_id = root;
	o->swarm_id_len = 20;
	o->cipm = PPSPP_CIPM_MERKLE;
	o->merkle_hash = ppspp_merkle_hash_fn(tree);
	o->cam = PPSPP_CAM_CHUNK32;
	o->chunk_size = CHUNK;
	CU_ASSERT_FATAL(ppspp_writer_put(&w, &m) == 0);
	cli_input(s, i, b, w.len);
}

/* A datagram on the established channel: the pending ACK, then a REQUEST if a <= b. */
static void cli_say(struct sut *s, int i, uint64_t req_a, uint64_t req_b)
{
	struct client *c = &s->cli[i];
	uint8_t b[1400];
	struct ppspp_writer w;
	struct ppspp_msg m;

	CU_ASSERT_FATAL(c->sid != 0);
	ppspp_writer_init(&w, b, sizeof(b), c->sid, &cctx);
	for (int j = c->n_rx - 1; c->ack_each && j >= 0; j--) {
		memset(&m, 0, sizeof(m));
		m.type = PPSPP_ACK;
		m.u.ack.spec.a = m.u.ack.spec.b = c->rx[j];
		m.u.ack.delay_us = 4000 + (uint64_t)j * 10;
		CU_ASSERT(ppspp_writer_put(&w, &m) == 0);
	}
	c->n_rx = 0;
	if (c->ack_each) {
		c->ack_a = 1;
		c->ack_b = 0;
	}
	if (c->ack_a <= c->ack_b) {
		memset(&m, 0, sizeof(m));
		m.type = PPSPP_ACK;
		m.u.ack.spec.a = c->ack_a;
		m.u.ack.spec.b = c->ack_b;
		m.u.ack.delay_us = 5000;
		CU_ASSERT(ppspp_writer_put(&w, &m) == 0);
		c->ack_a = 1;
		c->ack_b = 0;
	}
	if (req_a <= req_b) {
		memset(&m, 0, sizeof(m));
		m.type = PPSPP_REQUEST;
		m.u.request.a = req_a;
		m.u.request.b = req_b;
		CU_ASSERT(ppspp_writer_put(&w, &m) == 0);
	}
	cli_input(s, i, b, w.len);
}

static uint64_t got_count(const struct client *c, uint64_t a, uint64_t b)
{
	uint64_t n = 0;
	for (uint64_t k = a; k <= b; k++)
		n += c->got[k] != 0;
	return n;
}

/* ---- the batched path against the one-datagram path ---------------------------------------- */

#define UNHELD_CHUNK 100 /* not held (swarm_want): passed over, so a run looked up ahead is dropped */
#define MISS_CHUNK 40

struct script_state {
	uint64_t got_before_ready; /* client 0's chunks while chunk 40 was missing */
	uint64_t sent_while_waiting;
	uint64_t deferred;
};

/* The same inputs at the same times for both engines. */
static void script(struct sut *s, struct script_state *ss)
{
	const uint64_t ranges[4][2] = {{0, 149}, {10, 60}, {200, N_CHUNKS - 1}, {250, 270}};

	s->st.miss = MISS_CHUNK;
	CU_ASSERT(ppspp_engine_swarm_want(s->e, 0, UNHELD_CHUNK, UNHELD_CHUNK) == 0);
	for (int i = 0; i < 4; i++)
		cli_handshake(s, i);
	ppspp_engine_run(s->e, s->now);
	s->now += 300;
	/* client 3 goes out of order: its ranges backwards, chunks acknowledged one by one
	 * newest first, chunks asked again while in flight (retransmissions) */
	s->cli[3].ack_each = true;
	for (int i = 0; i < 4; i++)
		cli_say(s, i, ranges[i][0], ranges[i][1]);
	cli_say(s, 3, 120, 130);
	cli_say(s, 3, 5, 9);
	ppspp_engine_run(s->e, s->now);
	int ready_round = -1;
	for (int round = 0; round < 400; round++) {
		s->now += 700;
		for (int i = 0; i < 4; i++)
			if (s->cli[i].ack_a <= s->cli[i].ack_b || s->cli[i].n_rx)
				cli_say(s, i, 1, 0);
		if (round == 3 || round == 6)
			cli_say(s, 3, 252 + (uint64_t)round, 253 + (uint64_t)round);
		if (round == 8) {
			s->cli[3].n_rx = 0; /* these ACKs are lost */
			cli_say(s, 3, 121, 121);
		}
		if (ready_round < 0 && ppspp_engine_counters(s->e)->requests_deferred > 0 &&
		    got_count(&s->cli[2], 200, N_CHUNKS - 1) == N_CHUNKS - 200) {
			/* both channels that asked for 40 stopped there; nothing moves on them */
			uint64_t sent = s->cli[0].dgrams + s->cli[1].dgrams;
			uint64_t calls = s->st.get_calls[MISS_CHUNK];
			for (int j = 0; j < 3; j++) {
				s->now += 700;
				ppspp_engine_run(s->e, s->now);
			}
			ss->sent_while_waiting = s->cli[0].dgrams + s->cli[1].dgrams - sent;
			ss->sent_while_waiting += s->st.get_calls[MISS_CHUNK] - calls;
			ss->got_before_ready = got_count(&s->cli[0], 0, N_CHUNKS - 1);
			s->st.miss_ready = true;
			ppspp_engine_chunk_ready(s->e, 0, MISS_CHUNK, true);
			ready_round = round;
		}
		ppspp_engine_run(s->e, s->now);
	}
	ss->deferred = ppspp_engine_counters(s->e)->requests_deferred;
	CU_ASSERT(ready_round >= 0);
}

static void test_batch_identical(void)
{
	struct sut a, b;
	struct script_state sa = {0}, sb = {0};

	sut_init(&a, false, 4, 64, true);
	sut_init(&b, true, 4, 64, true);
	script(&a, &sa);
	script(&b, &sb);

	/* the batched engine really batched and looked ahead */
	CU_ASSERT(b.batches > 0);
	CU_ASSERT(a.batches == 0);
	/* byte-identical datagrams, in the same order (the handshake reply names the engine's
	 * own random channel ID: bytes 5-8 of it are left out) */
	CU_ASSERT_EQUAL(a.n_log, b.n_log);
	unsigned diff = 0;
	for (unsigned i = 0; i < a.n_log && i < b.n_log; i++) {
		bool hs = a.log_len[i] > 8 && a.log[i][4] == PPSPP_HANDSHAKE;
		if (a.log_len[i] != b.log_len[i] || a.log_to[i] != b.log_to[i] ||
		    memcmp(a.log[i], b.log[i], hs ? 5 : a.log_len[i]) != 0 ||
		    (hs && memcmp(a.log[i] + 9, b.log[i] + 9, a.log_len[i] - 9) != 0)) {
			if (!diff)
				fprintf(stderr, "first differing datagram: %u (len %u vs %u)\n", i,
					a.log_len[i], b.log_len[i]);
			diff++;
		}
	}
	CU_ASSERT_EQUAL(diff, 0);
	CU_ASSERT(memcmp(ppspp_engine_counters(a.e)->msgs_out, ppspp_engine_counters(b.e)->msgs_out,
			 sizeof(ppspp_engine_counters(a.e)->msgs_out)) == 0);

	/* everything asked was delivered once, except the chunk not held */
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < N_CHUNKS; k++) {
			CU_ASSERT(a.cli[i].got[k] == b.cli[i].got[k]);
			if (i < 3)
				CU_ASSERT(b.cli[i].got[k] <= 1);
		}
	}
	CU_ASSERT(got_count(&b.cli[3], 250, 270) == 21);
	CU_ASSERT(got_count(&b.cli[3], 120, 130) == 11);
	CU_ASSERT(got_count(&b.cli[3], 5, 9) == 5);
	CU_ASSERT(ppspp_engine_counters(b.e)->retransmits > 0);
	CU_ASSERT(b.cli[0].got[UNHELD_CHUNK] == 0);
	CU_ASSERT(got_count(&b.cli[0], 0, 149) == 149);
	CU_ASSERT(got_count(&b.cli[1], 10, 60) == 51);
	CU_ASSERT(got_count(&b.cli[2], 200, N_CHUNKS - 1) == N_CHUNKS - 200);

	/* the miss stopped the channels at chunk 40 until chunk_ready, with no storage call for
	 * it meanwhile, then they went on */
	for (int i = 0; i < 2; i++) {
		struct script_state *ss = i ? &sb : &sa;
		CU_ASSERT(ss->deferred >= 1);
		CU_ASSERT_EQUAL(ss->sent_while_waiting, 0);
		CU_ASSERT_EQUAL(ss->got_before_ready, MISS_CHUNK);
	}

	/* every storage reference released exactly once, including those looked up ahead and
	 * not sent (the run that reached the chunk not held) */
	CU_ASSERT(all_released(&a.st));
	CU_ASSERT(all_released(&b.st));
	CU_ASSERT(a.st.gets == ppspp_engine_counters(a.e)->chunks_sent);
	CU_ASSERT(b.st.gets > ppspp_engine_counters(b.e)->chunks_sent);
	sut_free(&a);
	sut_free(&b);
}

/* The fast paths (in-order ACKs at the head of the flight ring, the uncle count from the newest
 * intervals) against the general code: the same datagrams, the same LEDBAT state. */
static void test_fast_paths_same(void)
{
	struct sut f, g;
	struct script_state sf = {0}, sg = {0};

	sut_init(&f, true, 4, 64, true);
	sut_init(&g, true, 4, 64, true);
	g.e->ref_paths = true;
	script(&f, &sf);
	script(&g, &sg);
	CU_ASSERT_EQUAL(f.n_log, g.n_log);
	unsigned diff = 0;
	for (unsigned i = 0; i < f.n_log && i < g.n_log; i++) {
		bool hs = f.log_len[i] > 8 && f.log[i][4] == PPSPP_HANDSHAKE;
		if (f.log_len[i] != g.log_len[i] ||
		    memcmp(f.log[i], g.log[i], hs ? 5 : f.log_len[i]) != 0)
			diff++;
	}
	CU_ASSERT_EQUAL(diff, 0);
	for (int ci = 0; ci < 64; ci++) {
		struct ppspp_channel_info a, b;
		int ra = ppspp_engine_channel_info(f.e, ci, &a);
		CU_ASSERT_EQUAL(ra, ppspp_engine_channel_info(g.e, ci, &b));
		if (ra == 0) {
			CU_ASSERT(a.cwnd_bytes == b.cwnd_bytes);
			CU_ASSERT_EQUAL(a.flight_bytes, b.flight_bytes);
			CU_ASSERT_EQUAL(a.chunks_sent, b.chunks_sent);
		}
	}
	const struct ppspp_engine_counters *cf = ppspp_engine_counters(f.e), *cg = ppspp_engine_counters(g.e);
	CU_ASSERT_EQUAL(cf->data_lost, cg->data_lost);
	CU_ASSERT_EQUAL(cf->retransmits, cg->retransmits);
	CU_ASSERT(cf->retransmits > 0);
	CU_ASSERT_EQUAL(cf->msgs_out[PPSPP_INTEGRITY], cg->msgs_out[PPSPP_INTEGRITY]);
	sut_free(&f);
	sut_free(&g);
}

/* Everything the send path leaves behind on channel ci of both engines: LEDBAT, the flight
 * ring entry by entry, the sent set, the request queue. */
static unsigned chan_state_diff(const struct ppspp_engine *x, const struct ppspp_engine *y, int ci)
{
	const struct ppspp_channel *a = &x->ch[ci], *b = &y->ch[ci];
	unsigned d = 0;

	d += a->state != b->state;
	if (a->state == CH_FREE)
		return d;
	d += a->ledbat.cwnd != b->ledbat.cwnd;
	d += a->ledbat.flightsize != b->ledbat.flightsize;
	d += a->fl_head != b->fl_head || a->fl_tail != b->fl_tail;
	d += a->fl_sorted_from != b->fl_sorted_from;
	d += a->fl_acked_sent_us != b->fl_acked_sent_us;
	uint32_t mask = x->cfg.max_inflight - 1;
	for (uint32_t p = a->fl_head; p != a->fl_tail && d == 0; p++) {
		const struct ppspp_flight *f = &a->fl[p & mask], *g = &b->fl[p & mask];
		d += f->chunk != g->chunk || f->sent_us != g->sent_us || f->bytes != g->bytes ||
		     f->acked != g->acked;
		d += a->fl_index[f->chunk & mask] != b->fl_index[f->chunk & mask];
	}
	d += a->sent.n != b->sent.n ||
	     memcmp(a->sent.iv, b->sent.iv, a->sent.n * sizeof(a->sent.iv[0])) != 0;
	d += a->chunks_sent != b->chunks_sent || a->sent_since_recv != b->sent_since_recv;
	d += a->last_send_us != b->last_send_us || a->rq_n != b->rq_n || a->rq_head != b->rq_head;
	return d;
}

/* A scripted exchange where the cacher's fast path (send_run) has to stop at every edge of its
 * hot case: runs cut by the congestion window, runs crossing the peaks of the 301-chunk tree
 * (256 + 32 + 8 + 4 + 1), retransmissions asked in the middle, a miss mid-run, a chunk not held.
 * States are compared after every engine run, datagrams and counters at the end. */
static unsigned run_state_diff(const struct sut *f, const struct sut *g)
{
	unsigned d = 0;
	for (int ci = 0; ci < 64; ci++)
		d += chan_state_diff(f->e, g->e, ci);
	return d;
}

static void fast_script(struct sut *s, struct sut *ref, unsigned *state_diff)
{
	/* client 0 from the start (in order, the miss at 40, the chunk not held at 100), client 1
	 * inside the second peak and across the rest, client 2 everything in three requests */
	const uint64_t ranges[3][2] = {{0, 199}, {250, N_CHUNKS - 1}, {0, 99}};
	struct sut *both[2] = {s, ref};

	for (int x = 0; x < 2; x++) {
		both[x]->st.miss = MISS_CHUNK;
		CU_ASSERT(ppspp_engine_swarm_want(both[x]->e, 0, UNHELD_CHUNK, UNHELD_CHUNK) == 0);
		for (int i = 0; i < 3; i++)
			cli_handshake(both[x], i);
		ppspp_engine_run(both[x]->e, both[x]->now);
		both[x]->now += 300;
		/* a small window with a fraction: the first runs end where it is full */
		for (int ci = 0; ci < 64; ci++)
			if (both[x]->e->ch[ci].state != CH_FREE)
				both[x]->e->ch[ci].ledbat.cwnd = 3.5 * CHUNK + 7;
		for (int i = 0; i < 3; i++)
			cli_say(both[x], i, ranges[i][0], ranges[i][1]);
		ppspp_engine_run(both[x]->e, both[x]->now);
	}
	*state_diff += run_state_diff(s, ref);
	for (int round = 0; round < 3000; round++) {
		for (int x = 0; x < 2; x++) {
			struct sut *t = both[x];
			t->now += 900;
			if (round < 12) { /* client 1's ACKs are lost: its re-request is a retransmission */
				t->cli[1].n_rx = 0;
				t->cli[1].ack_a = 1;
				t->cli[1].ack_b = 0;
			}
			for (int i = 0; i < 3; i++)
				if (t->cli[i].ack_a <= t->cli[i].ack_b || t->cli[i].n_rx)
					cli_say(t, i, 1, 0);
			if (round == 2)
				cli_say(t, 2, 100, N_CHUNKS - 1);
			if (round == 4) /* in flight, asked again: retransmissions mid-run */
				cli_say(t, 1, 251, 253);
			if (round == 5)
				cli_say(t, 2, 5, 7);
			if (round == 30 && !t->st.miss_ready) {
				t->st.miss_ready = true;
				ppspp_engine_chunk_ready(t->e, 0, MISS_CHUNK, true);
			}
			ppspp_engine_run(t->e, t->now);
		}
		*state_diff += run_state_diff(s, ref);
	}
}

static void test_fast_send_same(void)
{
	struct sut f, g;
	unsigned state_diff = 0;

	sut_init(&f, true, 3, 64, true);
	sut_init(&g, true, 3, 64, true);
	g.e->no_fast_send = true;
	fast_script(&f, &g, &state_diff);
	CU_ASSERT(f.e->fast_chunks > 200);
	CU_ASSERT_EQUAL(g.e->fast_chunks, 0);
	CU_ASSERT_EQUAL(state_diff, 0);
	CU_ASSERT_EQUAL(f.n_log, g.n_log);
	unsigned diff = 0;
	for (unsigned i = 0; i < f.n_log && i < g.n_log; i++) {
		bool hs = f.log_len[i] > 8 && f.log[i][4] == PPSPP_HANDSHAKE;
		if (f.log_len[i] != g.log_len[i] || f.log_to[i] != g.log_to[i] ||
		    memcmp(f.log[i], g.log[i], hs ? 5 : f.log_len[i]) != 0 ||
		    (hs && memcmp(f.log[i] + 9, g.log[i] + 9, f.log_len[i] - 9) != 0)) {
			if (!diff)
				fprintf(stderr, "fast path: first differing datagram %u\n", i);
			diff++;
		}
	}
	CU_ASSERT_EQUAL(diff, 0);
	CU_ASSERT(memcmp(ppspp_engine_counters(f.e), ppspp_engine_counters(g.e),
			 sizeof(struct ppspp_engine_counters)) == 0);
	const struct ppspp_engine_counters *cf = ppspp_engine_counters(f.e);
	CU_ASSERT(cf->retransmits > 0);
	CU_ASSERT(cf->requests_deferred > 0);
	/* the exchange went through: every chunk asked arrived */
	CU_ASSERT(got_count(&f.cli[0], 0, 199) == 199);
	CU_ASSERT(got_count(&f.cli[1], 250, N_CHUNKS - 1) == N_CHUNKS - 250);
	CU_ASSERT(got_count(&f.cli[2], 0, N_CHUNKS - 1) == N_CHUNKS - 1); /* not 100 */
	CU_ASSERT(all_released(&f.st));
	CU_ASSERT(all_released(&g.st));
	CU_ASSERT_EQUAL(f.st.gets, g.st.gets);
	sut_free(&f);
	sut_free(&g);
}

/* §5.3 uncles on an in-order run. The peer lacks the lowest uncles of chunk k up to the first
 * layer whose subtree around k holds a chunk it has or was sent: after k-1 was sent, ctz(k) + 1
 * of them (S_0 for an odd chunk is k-1's hash: sent, so that each datagram verifies on its own).
 * A chunk the peer has acknowledged proves the top one of those, which is then left out. Per
 * DATA datagram: its chunk and its INTEGRITY count. */
static void uncle_counts(const struct sut *s, unsigned from, int *n_int, bool *seen)
{
	for (unsigned d = from; d < s->n_log; d++) {
		struct ppspp_reader r;
		struct ppspp_msg m;
		int n = 0;

		ppspp_reader_init(&r, s->log[d], s->log_len[d], &cctx);
		while (ppspp_reader_next(&r, &m) == 1) {
			if (m.type == PPSPP_INTEGRITY)
				n++;
			if (m.type == PPSPP_DATA && m.u.data.spec.a < N_CHUNKS) {
				n_int[m.u.data.spec.a] = n;
				seen[m.u.data.spec.a] = true;
			}
		}
	}
}

static void test_uncles_in_order(void)
{
	struct sut f;
	int n_int[N_CHUNKS];
	bool seen[N_CHUNKS] = {false};
	unsigned bad = 0, mark;
	int ci = -1;

	sut_init(&f, true, 1, 64, true);
	cli_handshake(&f, 0);
	ppspp_engine_run(f.e, f.now);
	for (int j = 0; j < 64 && ci < 0; j++)
		if (f.e->ch[j].state != CH_FREE)
			ci = j;
	CU_ASSERT_FATAL(ci >= 0);
	/* no ACK arriving (the window opened by hand): chunks 0..127 */
	f.e->ch[ci].ledbat.cwnd = 128.0 * CHUNK;
	f.now += 300;
	cli_say(&f, 0, 0, 127);
	ppspp_engine_run(f.e, f.now);
	for (int round = 0; round < 200 && got_count(&f.cli[0], 0, 127) < 128; round++) {
		f.now += 700;
		f.cli[0].n_rx = 0;
		f.cli[0].ack_a = 1;
		f.cli[0].ack_b = 0;
		cli_say(&f, 0, 1, 0);
		ppspp_engine_run(f.e, f.now);
	}
	CU_ASSERT_FATAL(got_count(&f.cli[0], 0, 127) == 128);
	uncle_counts(&f, 0, n_int, seen);
	CU_ASSERT_EQUAL(n_int[0], 5 + 8); /* §5.6.2: the 5 peaks first, then all of chunk 0's */
	for (unsigned k = 1; k < 128; k++)
		bad += !seen[k] || n_int[k] != __builtin_ctz(k) + 1;
	CU_ASSERT_EQUAL(bad, 0);
	/* the sum of ctz(k) over 1..127 is 63 + 31 + 15 + 7 + 3 + 1 */
	CU_ASSERT_EQUAL(ppspp_engine_counters(f.e)->msgs_out[PPSPP_INTEGRITY], 5 + 8 + 127 + 120);
	/* 0..127 acknowledged, then 128..191 without ACKs: 128's top uncle (0..127) is proved by an
	 * acknowledged chunk and left out; for the others those chunks lie outside the deciding subtree */
	f.now += 700;
	f.cli[0].ack_a = 0;
	f.cli[0].ack_b = 127;
	cli_say(&f, 0, 1, 0); /* 0..127 acknowledged at last */
	ppspp_engine_run(f.e, f.now);
	f.e->ch[ci].ledbat.cwnd = 64.0 * CHUNK; /* the 64 go without ACKs */
	mark = f.n_log;
	memset(seen, 0, sizeof(seen));
	f.now += 300;
	cli_say(&f, 0, 128, 191);
	ppspp_engine_run(f.e, f.now);
	for (int round = 0; round < 200 && got_count(&f.cli[0], 128, 191) < 64; round++) {
		f.now += 700;
		f.cli[0].n_rx = 0;
		f.cli[0].ack_a = 1;
		f.cli[0].ack_b = 0;
		cli_say(&f, 0, 1, 0);
		ppspp_engine_run(f.e, f.now);
	}
	CU_ASSERT_FATAL(got_count(&f.cli[0], 128, 191) == 64);
	uncle_counts(&f, mark, n_int, seen);
	bad = !seen[128] || n_int[128] != 7; /* ctz(128) + 1 - 1 */
	for (unsigned k = 129; k < 192; k++)
		bad += !seen[k] || n_int[k] != __builtin_ctz(k) + 1;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(all_released(&f.st));
	sut_free(&f);
}

/* send_batch sending fewer than it was given: the rest are send errors, references released. */
static void test_short_batch(void)
{
	struct sut s;

	sut_init(&s, true, 1, 8, false);
	cli_handshake(&s, 0);
	ppspp_engine_run(s.e, s.now);
	s.now += 300;
	cli_say(&s, 0, 0, 99);
	ppspp_engine_run(s.e, s.now);
	/* open the window a little */
	for (int r = 0; r < 6; r++) {
		s.now += 700;
		cli_say(&s, 0, 1, 0);
		ppspp_engine_run(s.e, s.now);
	}
	const struct ppspp_engine_counters *ctr = ppspp_engine_counters(s.e);
	uint64_t errs = ctr->send_errors, out = ctr->dgrams_out, sent = ctr->chunks_sent;
	uint64_t data_out = ctr->msgs_out[PPSPP_DATA], got = got_count(&s.cli[0], 0, 99);
	s.now += 700;
	cli_say(&s, 0, 1, 0);
	s.short_next = 2;
	ppspp_engine_run(s.e, s.now);
	uint64_t n = ctr->chunks_sent - sent;
	CU_ASSERT(n >= 3);
	CU_ASSERT_EQUAL(ctr->send_errors - errs, 2);
	CU_ASSERT_EQUAL(ctr->dgrams_out - out, n - 2);
	CU_ASSERT_EQUAL(ctr->msgs_out[PPSPP_DATA] - data_out, n - 2);
	CU_ASSERT_EQUAL(got_count(&s.cli[0], 0, 99) - got, n - 2);
	CU_ASSERT(all_released(&s.st));
	/* the peer asks again for what was lost; it arrives */
	for (int r = 0; r < 200; r++) {
		s.now += 700;
		cli_say(&s, 0, 1, 0);
		if (r == 100)
			for (uint64_t k = 0; k < 100; k++)
				if (!s.cli[0].got[k])
					cli_say(&s, 0, k, k);
		ppspp_engine_run(s.e, s.now);
	}
	CU_ASSERT_EQUAL(got_count(&s.cli[0], 0, 99), 100);
	CU_ASSERT(all_released(&s.st));
	sut_free(&s);
}

/* ---- the run loop with thousands of channels ------------------------------------------------ */

#define MANY 2000

static void test_many_channels(void)
{
	struct sut s;
	const struct ppspp_engine_counters *ctr;

	sut_init(&s, true, MANY, MAX_CLI, false);
	ctr = ppspp_engine_counters(s.e);
	for (int i = 0; i < MANY; i++)
		cli_handshake(&s, i);
	ppspp_engine_run(s.e, s.now);
	s.now += 100;
	for (int i = 0; i < MANY; i++)
		cli_say(&s, i, 1, 0); /* step 7: the responder's channel is established */
	ppspp_engine_run(s.e, s.now);
	struct ppspp_channel_info info;
	int established = 0;
	for (int ci = 0; ci < (int)ppspp_engine_max_channels(s.e); ci++)
		if (ppspp_engine_channel_info(s.e, ci, &info) == 0 && info.established)
			established++;
	CU_ASSERT_EQUAL(established, MANY);

	/* one datagram on one channel: the run visits that channel only */
	s.now += 100;
	uint64_t visits = ctr->chan_visits, full = ctr->full_runs, gets = s.st.gets;
	uint64_t sent = ctr->chunks_sent, dg = ctr->dgrams_out;
	uint64_t before[MANY];
	for (int i = 0; i < MANY; i++)
		before[i] = s.cli[i].dgrams;
	cli_say(&s, 1234, 0, 3);
	uint64_t next = ppspp_engine_run(s.e, s.now);
	CU_ASSERT_EQUAL(ctr->full_runs, full);
	CU_ASSERT_EQUAL(ctr->chan_visits - visits, 1);
	CU_ASSERT(ctr->chunks_sent > sent);
	CU_ASSERT_EQUAL(s.st.gets - gets, ctr->chunks_sent - sent);
	CU_ASSERT_EQUAL(ctr->dgrams_out - dg, s.cli[1234].dgrams - before[1234]);
	for (int i = 0; i < MANY; i++)
		if (i != 1234)
			CU_ASSERT_EQUAL_FATAL(s.cli[i].dgrams, before[i]);
	/* its DATA is in flight: every channel's timers are looked at when the first is due (its
	 * retransmission timeout, no RTT sample yet), at the latest in 200 ms; not on a tick */
	CU_ASSERT(next > s.now + 1000 && next <= s.now + 200000);
	s.now = next;
	visits = ctr->chan_visits;
	ppspp_engine_run(s.e, s.now);
	CU_ASSERT_EQUAL(ctr->full_runs, full + 1);
	CU_ASSERT_EQUAL(ctr->chan_visits - visits, MANY);

	/* §3.12: idle channels still get their keep-alives on time, the run called only when it
	 * asks to be */
	uint64_t start = s.now;
	struct ppspp_engine_config dflt;
	ppspp_engine_config_defaults(&dflt);
	while (s.now < start + dflt.keepalive_us + 400000) {
		uint64_t nx = ppspp_engine_run(s.e, s.now);
		CU_ASSERT_FATAL(nx > s.now);
		CU_ASSERT(nx <= s.now + 200000);
		s.now = nx;
	}
	for (int i = 0; i < MANY; i++) {
		if (i == 1234)
			continue; /* its DATA went unacknowledged: retransmissions, RTO backoff */
		CU_ASSERT_FATAL(s.cli[i].keepalives >= 1);
		CU_ASSERT(s.cli[i].keepalive_gap >= dflt.keepalive_us);
		CU_ASSERT(s.cli[i].keepalive_gap <= dflt.keepalive_us + 1000);
	}
	/* a miss answered for one channel among thousands wakes that one */
	s.st.miss = 50;
	s.now += 100;
	cli_say(&s, 7, 50, 52);
	ppspp_engine_run(s.e, s.now);
	CU_ASSERT(s.cli[7].got[50] == 0);
	s.st.miss_ready = true;
	visits = ctr->chan_visits;
	full = ctr->full_runs;
	s.now += 100;
	ppspp_engine_chunk_ready(s.e, 0, 50, true);
	ppspp_engine_run(s.e, s.now);
	CU_ASSERT_EQUAL(ctr->full_runs, full);
	CU_ASSERT_EQUAL(ctr->chan_visits - visits, 1);
	CU_ASSERT(s.cli[7].got[50] == 1);
	CU_ASSERT(all_released(&s.st));
	sut_free(&s);
}

/* ---- the sets behind them ------------------------------------------------------------------ */

static uint64_t xs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return xs;
}

/* The inline ivset_add (fast paths for growing and appending) keeps exactly the general one's
 * results, evictions included. */
static void test_ivset_fast_paths(void)
{
	for (int run = 0; run < 200; run++) {
		struct ppspp_ivset f, g;
		uint64_t pos = 0;
		ppspp_ivset_clear(&f);
		ppspp_ivset_clear(&g);
		for (int op = 0; op < 400; op++) {
			uint64_t a, b;
			switch (rnd() % 4) {
			case 0: /* in order, extending */
				a = pos;
				b = pos + rnd() % 3;
				break;
			case 1: /* a gap, then on */
				a = pos + 2 + rnd() % 5;
				b = a + rnd() % 4;
				break;
			case 2: /* anywhere */
				a = rnd() % (pos + 10);
				b = a + rnd() % 20;
				break;
			default: /* inside or overlapping the newest, up to the top */
				a = pos > 3 ? pos - rnd() % 4 : 0;
				b = rnd() % 8 ? a + rnd() % 6 : UINT64_MAX;
				break;
			}
			if (rnd() % 50 == 0)
				b = a - 1; /* empty */
			ppspp_ivset_add(&f, a, b);
			ppspp_ivset_add_slow(&g, a, b);
			CU_ASSERT_FATAL(f.n == g.n);
			CU_ASSERT_FATAL(memcmp(f.iv, g.iv, f.n * sizeof(f.iv[0])) == 0);
			if (b != UINT64_MAX && b + 1 > pos)
				pos = b + 1;
			if (f.n && f.iv[f.n - 1].b == UINT64_MAX) {
				ppspp_ivset_clear(&f);
				ppspp_ivset_clear(&g);
				pos = 0;
			}
		}
	}
}

static void test_chanset(void)
{
	const uint32_t n = 70000;
	struct ppspp_chanset a, o;
	uint8_t *ref = calloc(n, 1), *ref_o = calloc(n, 1);

	CU_ASSERT_FATAL(ppspp_chanset_alloc(&a, n) == 0);
	CU_ASSERT_FATAL(ppspp_chanset_alloc(&o, n) == 0);
	for (int round = 0; round < 20; round++) {
		int ops = (int)(rnd() % 3000);
		for (int i = 0; i < ops; i++) {
			/* clustered and scattered slots, both ends */
			uint32_t k = rnd() % 2 ? (uint32_t)(rnd() % n) : (uint32_t)(rnd() % 200);
			if (rnd() % 4 == 0) {
				ppspp_chanset_del(&a, k);
				ref[k] = 0;
			} else {
				ppspp_chanset_add(&a, k);
				ref[k] = 1;
			}
			uint32_t m = n - 1 - (uint32_t)(rnd() % 300);
			ppspp_chanset_add(&o, m);
			ref_o[m] = 1;
		}
		if (round % 3 == 0) {
			ppspp_chanset_or(&a, &o);
			for (uint32_t k = 0; k < n; k++)
				ref[k] |= ref_o[k];
		}
		uint32_t want = 0, got = ppspp_chanset_next(&a, 0);
		for (;; got = ppspp_chanset_next(&a, got + 1)) {
			while (want < n && !ref[want])
				want++;
			if (want == n) {
				CU_ASSERT_FATAL(got == UINT32_MAX);
				break;
			}
			CU_ASSERT_FATAL(got == want);
			want++;
		}
		for (int i = 0; i < 100; i++) {
			uint32_t from = (uint32_t)(rnd() % (n + 10)), w = from;
			while (w < n && !ref[w])
				w++;
			CU_ASSERT_FATAL(ppspp_chanset_next(&a, from) == (w < n ? w : UINT32_MAX));
		}
		if (round % 5 == 4) {
			ppspp_chanset_clear(&a);
			memset(ref, 0, n);
			CU_ASSERT(ppspp_chanset_next(&a, 0) == UINT32_MAX);
		}
	}
	ppspp_chanset_free(&a);
	ppspp_chanset_free(&o);
	free(ref);
	free(ref_o);
}

int main(void)
{
	content = malloc(CONTENT_SZ);
	uint64_t x = 0x243F6A8885A308D3ull;
	for (uint64_t i = 0; i < CONTENT_SZ; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		content[i] = (uint8_t)x;
	}
	tree = ppspp_merkle_build_mem(content, CONTENT_SZ, PPSPP_HASH_SHA1, CHUNK);
	if (!tree || ppspp_merkle_chunk_count(tree) != N_CHUNKS)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ppspp-engine-batch", NULL, NULL);
	CU_add_test(s, "send_batch + get_chunks byte-identical; references; miss", test_batch_identical);
	CU_add_test(s, "fast paths agree with the general code", test_fast_paths_same);
	CU_add_test(s, "fast send path: same datagrams, LEDBAT, flight ring, counters",
		    test_fast_send_same);
	CU_add_test(s, "in-order uncles: ctz(k) + 1, one less where an acknowledged chunk proves it",
		    test_uncles_in_order);
	CU_add_test(s, "short send_batch counts send errors", test_short_batch);
	CU_add_test(s, "run after one datagram visits one channel of 2000", test_many_channels);
	CU_add_test(s, "ivset fast paths agree with the general add", test_ivset_fast_paths);
	CU_add_test(s, "channel sets", test_chanset);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	ppspp_merkle_free(tree);
	free(content);
	return failed ? 1 : 0;
}
