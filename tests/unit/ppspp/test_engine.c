/* PPSPP engine (RFC 7574 §3, §5, §8): engines wired together through an in-memory network that
 * can drop, duplicate, reorder and corrupt datagrams deterministically, with a fake clock. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcdn_common.h"
#include "ppspp.h"

/* ---- the fake network --------------------------------------------------------------------- */

#define MAX_NODES 4
#define QCAP	  65536
#define DGRAM_MAX 4096

struct dgram {
	int from, to;
	size_t len;
	uint8_t b[DGRAM_MAX];
};

struct node;
struct net {
	struct dgram *q;
	size_t head, n;
	struct node *nodes[MAX_NODES];
	int n_nodes;
	uint64_t now;
	uint64_t rng;
	unsigned drop_pct, dup_pct, reorder_pct;
	int corrupt_from;     /* flip a payload bit in DATA sent by this node (-1: none) */
	int strict_node;      /* this node drops handshakes carrying options 8 or 9 */
	unsigned garbage_pct; /* inject garbage on established channels */
	uint64_t delivered, dropped, garbage_sent;
};

struct store {
	uint8_t *data;
	uint64_t size;
	uint32_t chunk_size;
	uint8_t *got; /* receiver: chunk stored */
	bool defer;   /* get_chunk: -EAGAIN until released */
	uint8_t *released;
	uint64_t deferred_pending[64];
	int n_pending;
	uint64_t puts;
};

struct node {
	struct net *net;
	int id;
	struct ppspp_peer_addr addr;
	struct ppspp_engine *e;
	struct ppspp_merkle *tree;
	struct store st;
	int swarm;
	bool complete;
	int peer_ends[8];
	int n_peer_ends;
	int rejected_events;
	struct ppspp_peer_addr pex[8];
	int n_pex;
	int peer_ups;
};

static uint64_t rnd(struct net *n)
{
	n->rng ^= n->rng << 13;
	n->rng ^= n->rng >> 7;
	n->rng ^= n->rng << 17;
	return n->rng;
}

static int node_by_addr(struct net *n, const struct ppspp_peer_addr *a)
{
	for (int i = 0; i < n->n_nodes; i++)
		if (ppspp_peer_addr_equal(&n->nodes[i]->addr, a))
			return i;
	return -1;
}

static void enqueue(struct net *n, int from, int to, const uint8_t *b, size_t len)
{
	if (n->n == QCAP || len > DGRAM_MAX)
		return;
	struct dgram *d = &n->q[(n->head + n->n) % QCAP];
	d->from = from;
	d->to = to;
	d->len = len;
	memcpy(d->b, b, len);
	n->n++;
}

/* Does this handshake datagram carry option 8 or 9 (supported messages, chunk size)? */
static bool has_extra_options(const uint8_t *b, size_t len)
{
	struct ppspp_reader r;
	struct ppspp_msg m;

	if (len < 5 || pcdn_get_be32(b) != 0)
		return false;
	ppspp_reader_init(&r, b, len, NULL);
	if (ppspp_reader_next(&r, &m) != 1 || m.type != PPSPP_HANDSHAKE)
		return false;
	return ppspp_options_has(&m.u.handshake.opts, PPSPP_OPT_SUPPORTED_MSGS) ||
	       ppspp_options_has(&m.u.handshake.opts, PPSPP_OPT_CHUNK_SIZE);
}

static int fake_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr,
		     size_t hdr_len, const void *payload, size_t payload_len, void *ref)
{
	struct node *self = ctx;
	struct net *n = self->net;
	uint8_t b[DGRAM_MAX];
	(void)ref;

	if (hdr_len + payload_len > sizeof(b))
		return -EMSGSIZE;
	memcpy(b, hdr, hdr_len);
	if (payload_len)
		memcpy(b + hdr_len, payload, payload_len);
	size_t len = hdr_len + payload_len;
	int dst = node_by_addr(n, to);
	if (dst < 0)
		return 0; /* nobody there: lost */
	if (payload_len && self->id == n->corrupt_from)
		b[hdr_len + payload_len / 2] ^= 0x10;
	if (dst == n->strict_node && has_extra_options(b, len)) {
		n->dropped++;
		return 0;
	}
	if (n->drop_pct && rnd(n) % 100 < n->drop_pct) {
		n->dropped++;
		return 0;
	}
	enqueue(n, self->id, dst, b, len);
	if (n->dup_pct && rnd(n) % 100 < n->dup_pct)
		enqueue(n, self->id, dst, b, len);
	if (n->garbage_pct && len > 4 && rnd(n) % 100 < n->garbage_pct) {
		/* garbage on a live channel: the right channel ID, random messages after it */
		uint8_t g[64];
		size_t gl = 5 + rnd(n) % 50;
		memcpy(g, b, 4);
		for (size_t i = 4; i < gl; i++)
			g[i] = (uint8_t)rnd(n);
		g[4] = (uint8_t)(14 + rnd(n) % 200); /* an unassigned message type */
		enqueue(n, self->id, dst, g, gl);
		n->garbage_sent++;
	}
	return 0;
}

/* ---- storage ------------------------------------------------------------------------------ */

static int st_get(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	struct store *s = ctx;
	uint64_t off = chunk * s->chunk_size;

	if (off >= s->size)
		return -ERANGE;
	if (s->defer && !s->released[chunk]) {
		for (int i = 0; i < s->n_pending; i++)
			if (s->deferred_pending[i] == chunk)
				return -EAGAIN;
		if (s->n_pending < 64)
			s->deferred_pending[s->n_pending++] = chunk;
		return -EAGAIN;
	}
	*data = s->data + off;
	*len = (size_t)PCDN_MIN((uint64_t)s->chunk_size, s->size - off);
	*ref = s;
	return 0;
}

static void st_release(void *ctx, void *ref)
{
	CU_ASSERT_PTR_EQUAL(ref, ctx);
}

static int st_put(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	struct store *s = ctx;
	uint64_t off = chunk * s->chunk_size;

	if (off + len > s->size)
		return -ENOSPC;
	memcpy(s->data + off, data, len);
	s->got[chunk] = 1;
	s->puts++;
	return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

static void ev_complete(void *ctx, int swarm)
{
	struct node *nd = ctx;
	(void)swarm;
	nd->complete = true;
}

static void ev_peer_end(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *p,
			int reason)
{
	struct node *nd = ctx;
	(void)swarm;
	(void)channel;
	(void)p;
	if (nd->n_peer_ends < 8)
		nd->peer_ends[nd->n_peer_ends++] = reason;
}

static void ev_rejected(void *ctx, int swarm, uint64_t chunk, int channel)
{
	struct node *nd = ctx;
	(void)swarm;
	(void)chunk;
	(void)channel;
	nd->rejected_events++;
}

static void ev_pex(void *ctx, int swarm, const struct ppspp_peer_addr *p)
{
	struct node *nd = ctx;
	(void)swarm;
	if (nd->n_pex < 8)
		nd->pex[nd->n_pex++] = *p;
}

static void ev_up(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *p)
{
	struct node *nd = ctx;
	(void)swarm;
	(void)channel;
	(void)p;
	nd->peer_ups++;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static uint8_t *content;
static uint64_t content_size;
#define CHUNK 1024

static struct net *net_new(void)
{
	struct net *n = calloc(1, sizeof(*n));
	n->q = calloc(QCAP, sizeof(*n->q));
	n->rng = 0x9E3779B97F4A7C15ull;
	n->corrupt_from = -1;
	n->strict_node = -1;
	n->now = 1000000;
	return n;
}

static bool g_apart; /* engines send INTEGRITY apart from DATA (cfg.integrity_apart) */

static struct node *node_new(struct net *n, bool seeder, uint8_t cam,
			     const struct ppspp_engine_config *cfg)
{
	struct ppspp_engine_config apart_cfg;
	if (!cfg && g_apart) {
		ppspp_engine_config_defaults(&apart_cfg);
		apart_cfg.integrity_apart = true;
		cfg = &apart_cfg;
	}
	struct node *nd = calloc(1, sizeof(*nd));
	nd->net = n;
	nd->id = n->n_nodes;
	n->nodes[n->n_nodes++] = nd;
	nd->addr.family = PPSPP_AF_INET4;
	nd->addr.addr[0] = 10;
	nd->addr.addr[3] = (uint8_t)(nd->id + 1);
	nd->addr.port = (uint16_t)(6778 + nd->id);
	struct ppspp_io io = {.ctx = nd, .send = fake_send};
	struct ppspp_engine_events ev = {.ctx = nd,
					 .complete = ev_complete,
					 .peer_end = ev_peer_end,
					 .chunk_rejected = ev_rejected,
					 .pex_peer = ev_pex,
					 .peer_up = ev_up};
	nd->e = ppspp_engine_create(cfg, &io, &ev, n->now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nd->e);
	struct ppspp_merkle *full =
	    ppspp_merkle_build_mem(content, content_size, PPSPP_HASH_SHA1, CHUNK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(full);
	nd->st.chunk_size = CHUNK;
	nd->st.size = content_size;
	uint64_t chunks = (content_size + CHUNK - 1) / CHUNK;
	nd->st.got = calloc(chunks + 1, 1);
	nd->st.released = calloc(chunks + 1, 1);
	if (seeder) {
		nd->tree = full;
		nd->st.data = content;
	} else {
		uint8_t root[PPSPP_HASH_MAX_LEN];
		ppspp_merkle_root(full, root);
		nd->tree = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CHUNK, root, 20);
		ppspp_merkle_free(full);
		nd->st.data = calloc(content_size + 1, 1);
	}
	struct ppspp_storage st = {
	    .ctx = &nd->st, .get_chunk = st_get, .release = st_release, .put_chunk = st_put};
	nd->swarm = ppspp_engine_swarm_add(nd->e, nd->tree, cam, &st);
	CU_ASSERT_EQUAL_FATAL(nd->swarm, 0);
	return nd;
}

static void node_free(struct node *nd)
{
	ppspp_engine_destroy(nd->e);
	ppspp_merkle_free(nd->tree);
	if (nd->st.data != content)
		free(nd->st.data);
	free(nd->st.got);
	free(nd->st.released);
	free(nd);
}

static void net_free(struct net *n)
{
	for (int i = 0; i < n->n_nodes; i++)
		node_free(n->nodes[i]);
	free(n->q);
	free(n);
}

/* One step: deliver what is queued (maybe reordered), run every engine, advance 200 us. */
static void step(struct net *n)
{
	size_t k = n->n;
	for (size_t i = 0; i < k && n->n; i++) {
		if (n->reorder_pct && n->n > 1 && rnd(n) % 100 < n->reorder_pct) {
			struct dgram tmp = n->q[n->head];
			n->q[n->head] = n->q[(n->head + 1) % QCAP];
			n->q[(n->head + 1) % QCAP] = tmp;
		}
		struct dgram *d = &n->q[n->head];
		n->head = (n->head + 1) % QCAP;
		n->n--;
		struct node *to = n->nodes[d->to];
		ppspp_engine_input(to->e, &n->nodes[d->from]->addr, d->b, d->len, n->now);
		n->delivered++;
	}
	for (int i = 0; i < n->n_nodes; i++)
		ppspp_engine_run(n->nodes[i]->e, n->now);
	n->now += 200;
}

static int run_until_complete(struct net *n, struct node *nd, int max_steps)
{
	for (int i = 0; i < max_steps; i++) {
		if (nd->complete)
			return i;
		step(n);
	}
	return -1;
}

static void fill_content(uint64_t size, uint64_t seed)
{
	free(content);
	content_size = size;
	content = malloc(size + 1);
	for (uint64_t i = 0; i < size; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		content[i] = (uint8_t)(seed >> 33);
	}
}

static bool identical(const struct node *nd)
{
	return memcmp(nd->st.data, content, content_size) == 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_handshake(void)
{
	fill_content(10 * CHUNK, 1);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	int ci = ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now);
	CU_ASSERT(ci >= 0);
	struct ppspp_channel_info info;
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ci, &info), 0);
	CU_ASSERT_FALSE(info.established);
	CU_ASSERT_NOT_EQUAL(info.local_id, 0);
	for (int i = 0; i < 5; i++)
		step(n);
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ci, &info), 0);
	CU_ASSERT_TRUE(info.established);
	CU_ASSERT_NOT_EQUAL(info.remote_id, 0);
	CU_ASSERT_NOT_EQUAL(info.remote_id, info.local_id);
	/* the responder's side: one channel, established, IDs mirrored */
	struct ppspp_channel_info ai;
	int found = 0;
	for (uint32_t i = 0; i < ppspp_engine_max_channels(a->e); i++) {
		if (ppspp_engine_channel_info(a->e, (int)i, &ai) == 0) {
			found++;
			CU_ASSERT_TRUE(ai.established);
			CU_ASSERT_EQUAL(ai.local_id, info.remote_id);
			CU_ASSERT_EQUAL(ai.remote_id, info.local_id);
		}
	}
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_EQUAL(b->peer_ups, 1);
	CU_ASSERT_EQUAL(a->peer_ups, 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->bad_handshakes, 0);
	net_free(n);
}

static void test_bad_handshakes(void)
{
	fill_content(4 * CHUNK, 2);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	uint8_t buf[256];
	struct ppspp_writer w;
	struct ppspp_msg m;
	uint8_t wrong[20];
	memset(wrong, 0x5a, sizeof(wrong));

	/* a handshake for a swarm A does not serve: no reply at all (§3.1.1 step 2) */
	ppspp_writer_init(&w, buf, sizeof(buf), 0, NULL);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = 0x12345678;
	m.u.handshake.opts.present = PPSPP_OPT_BIT(PPSPP_OPT_VERSION) |
				     PPSPP_OPT_BIT(PPSPP_OPT_MIN_VERSION) |
				     PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID);
	m.u.handshake.opts.version = 1;
	m.u.handshake.opts.min_version = 1;
	m.u.handshake.opts.swarm_id = wrong;
	m.u.handshake.opts.swarm_id_len = 20;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	uint64_t out_before = ppspp_engine_counters(a->e)->dgrams_out;
	ppspp_engine_input(a->e, &b->addr, buf, w.len, n->now);
	ppspp_engine_run(a->e, n->now);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->bad_handshakes, 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->dgrams_out, out_before);
	/* version too new for us (min version 2): refused */
	m.u.handshake.opts.min_version = 2;
	m.u.handshake.opts.version = 2;
	uint8_t root[20];
	ppspp_merkle_root(a->tree, root);
	m.u.handshake.opts.swarm_id = root;
	ppspp_writer_init(&w, buf, sizeof(buf), 0, NULL);
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	ppspp_engine_input(a->e, &b->addr, buf, w.len, n->now);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->bad_handshakes, 2);
	/* datagrams on a channel nobody opened, and too short ones */
	uint8_t junk[8] = {1, 2, 3, 4, 3, 0, 0, 0};
	ppspp_engine_input(a->e, &b->addr, junk, sizeof(junk), n->now);
	ppspp_engine_input(a->e, &b->addr, junk, 3, n->now);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->unknown_channel, 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->malformed[PPSPP_ERR_TRUNCATED], 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->dgrams_out, out_before);
	/* a handshake without chunk size (deployed peers) is accepted: the swarm's is assumed */
	m.u.handshake.opts.min_version = 1;
	m.u.handshake.opts.version = 1;
	m.u.handshake.opts.present |= PPSPP_OPT_BIT(PPSPP_OPT_CIPM) |
				      PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH) |
				      PPSPP_OPT_BIT(PPSPP_OPT_CAM);
	m.u.handshake.opts.cipm = PPSPP_CIPM_MERKLE;
	m.u.handshake.opts.merkle_hash = PPSPP_HASH_SHA1;
	m.u.handshake.opts.cam = PPSPP_CAM_CHUNK32;
	ppspp_writer_init(&w, buf, sizeof(buf), 0, NULL);
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	ppspp_engine_input(a->e, &b->addr, buf, w.len, n->now);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->dgrams_out, out_before + 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->bad_handshakes, 2);
	/* the reply went to channel 0x12345678 and starts with A's HANDSHAKE */
	CU_ASSERT_EQUAL(n->n, 1);
	CU_ASSERT_EQUAL(pcdn_get_be32(n->q[n->head].b), 0x12345678);
	CU_ASSERT_EQUAL(n->q[n->head].b[4], PPSPP_HANDSHAKE);
	/* no heavy payload before the third datagram: A sends no DATA even if asked early */
	net_free(n);
}

static void transfer(uint64_t size, uint8_t cam, unsigned drop, unsigned dup, unsigned reorder)
{
	fill_content(size, size + cam);
	struct net *n = net_new();
	n->drop_pct = drop;
	n->dup_pct = dup;
	n->reorder_pct = reorder;
	struct node *a = node_new(n, true, cam, NULL);
	struct node *b = node_new(n, false, cam, NULL);
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now) >= 0);
	int steps = run_until_complete(n, b, 200000);
	CU_ASSERT(steps >= 0);
	for (int i = 0; i < 3; i++)
		step(n); /* the last ACKs reach the seeder */
	CU_ASSERT_TRUE(b->complete);
	CU_ASSERT_TRUE(identical(b));
	CU_ASSERT_TRUE(ppspp_engine_swarm_complete(b->e, b->swarm));
	const struct ppspp_engine_counters *cb = ppspp_engine_counters(b->e);
	uint64_t chunks = (size + CHUNK - 1) / CHUNK;
	CU_ASSERT_EQUAL(cb->chunks_verified, chunks);
	CU_ASSERT_EQUAL(cb->chunks_rejected, 0);
	CU_ASSERT_EQUAL(b->st.puts, chunks);
	CU_ASSERT(cb->msgs_in[PPSPP_DATA] >= chunks);
	CU_ASSERT(ppspp_engine_counters(a->e)->msgs_in[PPSPP_ACK] > 0);
	CU_ASSERT(ppspp_engine_counters(a->e)->msgs_in[PPSPP_REQUEST] > 0);
	if (drop) {
		CU_ASSERT(cb->rerequests > 0);
		CU_ASSERT(ppspp_engine_counters(a->e)->retransmits > 0);
	}
	uint64_t v, c;
	ppspp_engine_swarm_progress(b->e, b->swarm, &v, &c);
	CU_ASSERT_EQUAL(v, chunks);
	CU_ASSERT_EQUAL(c, chunks);
	net_free(n);
}

static void test_transfer(void)
{
	transfer(300 * CHUNK + 123, PPSPP_CAM_CHUNK32, 0, 0, 0);
	transfer(1, PPSPP_CAM_CHUNK32, 0, 0, 0);
	transfer(CHUNK, PPSPP_CAM_CHUNK32, 0, 0, 0);
	transfer(CHUNK + 1, PPSPP_CAM_CHUNK32, 0, 0, 0);
}

static void test_transfer_other_cams(void)
{
	transfer(77 * CHUNK + 5, PPSPP_CAM_BIN32, 0, 0, 0);
	transfer(77 * CHUNK + 5, PPSPP_CAM_BYTE64, 0, 0, 0);
	transfer(77 * CHUNK + 5, PPSPP_CAM_CHUNK64, 0, 0, 0);
	transfer(77 * CHUNK + 5, PPSPP_CAM_BIN64, 0, 0, 0);
}

static void test_loss_recovery(void)
{
	transfer(400 * CHUNK + 7, PPSPP_CAM_CHUNK32, 10, 5, 10);
	transfer(64 * CHUNK, PPSPP_CAM_CHUNK32, 30, 0, 0);
}

static void test_integrity_apart(void)
{
	/* hashes in datagrams of their own ahead of same-size DATA datagrams (§5.4) */
	g_apart = true;
	transfer(300 * CHUNK + 123, PPSPP_CAM_CHUNK32, 0, 0, 0);
	transfer(77 * CHUNK + 5, PPSPP_CAM_BIN32, 0, 0, 0);
	transfer(200 * CHUNK + 7, PPSPP_CAM_CHUNK32, 10, 5, 10);
	g_apart = false;
}

/* A peer claiming the root itself as the only peak at layer 30 (a geometry the root cannot
 * rule out) must not make the downloader adopt 2^30 chunks: peaks are taken only with a chunk
 * that verifies under them. */
static void test_forged_peaks(void)
{
	fill_content(10 * CHUNK, 12);
	struct net *n = net_new();
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	struct ppspp_peer_addr m_addr = {.family = PPSPP_AF_INET4, .port = 4444};
	m_addr.addr[0] = 10;
	m_addr.addr[3] = 99;
	int ci = ppspp_engine_connect(b->e, b->swarm, &m_addr, n->now);
	struct ppspp_channel_info info;
	CU_ASSERT_EQUAL_FATAL(ppspp_engine_channel_info(b->e, ci, &info), 0);
	uint8_t root[20];
	ppspp_merkle_root(b->tree, root);
	struct ppspp_codec_ctx ctx = {
	    .cam = PPSPP_CAM_CHUNK32, .hash_len = 20, .chunk_size = CHUNK};
	uint8_t buf[2048];
	struct ppspp_writer w;
	struct ppspp_msg m;
	/* the reply: a handshake naming the swarm, then HAVE of everything */
	ppspp_writer_init(&w, buf, sizeof(buf), info.local_id, &ctx);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = 0x4242;
	m.u.handshake.opts.present = PPSPP_OPT_BIT(PPSPP_OPT_VERSION) |
				     PPSPP_OPT_BIT(PPSPP_OPT_MIN_VERSION) |
				     PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID);
	m.u.handshake.opts.version = 1;
	m.u.handshake.opts.min_version = 1;
	m.u.handshake.opts.swarm_id = root;
	m.u.handshake.opts.swarm_id_len = 20;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HAVE;
	m.u.have.a = 0;
	m.u.have.b = (1u << 30) - 1;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	ppspp_engine_input(b->e, &m_addr, buf, w.len, n->now);
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ci, &info), 0);
	CU_ASSERT_TRUE(info.established);
	/* the forged peak and a chunk of garbage */
	ppspp_writer_init(&w, buf, sizeof(buf), info.local_id, &ctx);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_INTEGRITY;
	m.u.integrity.spec.a = 0;
	m.u.integrity.spec.b = (1u << 30) - 1;
	m.u.integrity.hash = root;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	struct ppspp_spec sp = {0, 0};
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header(&w, &sp, 1), 0);
	memset(buf + w.len, 0x77, CHUNK);
	ppspp_engine_input(b->e, &m_addr, buf, w.len + CHUNK, n->now);
	uint64_t v, cnt;
	ppspp_engine_swarm_progress(b->e, b->swarm, &v, &cnt);
	CU_ASSERT_EQUAL(cnt, 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(ppspp_merkle_chunk_count(b->tree), 0);
	/* refused: as unverifiable (the lone peak leaves 30 uncles missing) */
	CU_ASSERT_EQUAL(ppspp_engine_counters(b->e)->chunks_rejected +
			    ppspp_engine_counters(b->e)->chunks_unverifiable,
			1);
	CU_ASSERT_EQUAL(b->st.puts, 0);
	net_free(n);
}

static void test_empty_content(void)
{
	fill_content(0, 3);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	CU_ASSERT_FALSE(b->complete);
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now) >= 0);
	CU_ASSERT(run_until_complete(n, b, 100) >= 0);
	CU_ASSERT_TRUE(ppspp_engine_swarm_complete(b->e, b->swarm));
	net_free(n);
}

static void test_two_seeders_and_poison(void)
{
	fill_content(500 * CHUNK + 99, 4);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *p = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	n->corrupt_from = p->id;
	/* the poisoned seeder alone: every chunk fails, nothing is stored, and after
	 * poison_limit (3) rejections the peer is dropped */
	int cp = ppspp_engine_connect(b->e, b->swarm, &p->addr, n->now);
	CU_ASSERT(cp >= 0);
	for (int i = 0; i < 200000 && b->n_peer_ends == 0; i++)
		step(n);
	const struct ppspp_engine_counters *cb = ppspp_engine_counters(b->e);
	CU_ASSERT_EQUAL(b->n_peer_ends, 1);
	CU_ASSERT_EQUAL(b->peer_ends[0], PPSPP_PEER_POISONED);
	CU_ASSERT_EQUAL(cb->peers_poisoned, 1);
	CU_ASSERT_EQUAL(cb->chunks_rejected, 3);
	CU_ASSERT_EQUAL(cb->chunks_rejected, (uint64_t)b->rejected_events);
	CU_ASSERT_EQUAL(cb->chunks_verified, 0);
	CU_ASSERT_EQUAL(b->st.puts, 0);
	struct ppspp_channel_info info;
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, cp, &info), -ENOENT);
	/* then the honest seeder and the poisoned one together: the file is still right */
	int ca = ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now);
	cp = ppspp_engine_connect(b->e, b->swarm, &p->addr, n->now);
	CU_ASSERT(ca >= 0 && cp >= 0);
	CU_ASSERT(run_until_complete(n, b, 100000) >= 0);
	CU_ASSERT_TRUE(identical(b));
	CU_ASSERT(cb->chunks_rejected >= 3);
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ca, &info), 0);
	CU_ASSERT_EQUAL(info.chunks_received, cb->chunks_verified);
	net_free(n);

	/* two honest seeders: both supply chunks */
	struct net *n2 = net_new();
	a = node_new(n2, true, PPSPP_CAM_CHUNK32, NULL);
	p = node_new(n2, true, PPSPP_CAM_CHUNK32, NULL);
	b = node_new(n2, false, PPSPP_CAM_CHUNK32, NULL);
	ca = ppspp_engine_connect(b->e, b->swarm, &a->addr, n2->now);
	cp = ppspp_engine_connect(b->e, b->swarm, &p->addr, n2->now);
	CU_ASSERT(run_until_complete(n2, b, 100000) >= 0);
	CU_ASSERT_TRUE(identical(b));
	struct ppspp_channel_info ia, ip;
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ca, &ia), 0);
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, cp, &ip), 0);
	CU_ASSERT(ia.chunks_received > 0);
	CU_ASSERT(ip.chunks_received > 0);
	CU_ASSERT_EQUAL(ia.chunks_received + ip.chunks_received, 501);
	net_free(n2);
}

static void test_garbage(void)
{
	fill_content(200 * CHUNK, 5);
	struct net *n = net_new();
	n->garbage_pct = 10;
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now) >= 0);
	/* plus random datagrams from a stranger, to both */
	struct ppspp_peer_addr stranger = {.family = PPSPP_AF_INET6, .port = 9};
	stranger.addr[15] = 1;
	for (int i = 0; i < 200; i++) {
		uint8_t g[80];
		size_t gl = (size_t)(rnd(n) % sizeof(g));
		for (size_t k = 0; k < gl; k++)
			g[k] = (uint8_t)rnd(n);
		if (i % 3 == 0 && gl >= 4)
			memset(g, 0, 4); /* as if a handshake */
		ppspp_engine_input(a->e, &stranger, g, gl, n->now);
		ppspp_engine_input(b->e, &stranger, g, gl, n->now);
	}
	CU_ASSERT(run_until_complete(n, b, 100000) >= 0);
	CU_ASSERT_TRUE(identical(b));
	CU_ASSERT(n->garbage_sent > 0);
	const struct ppspp_engine_counters *ca = ppspp_engine_counters(a->e),
					   *cb = ppspp_engine_counters(b->e);
	CU_ASSERT(ca->malformed_total > 0);
	CU_ASSERT(cb->malformed_total > 0);
	CU_ASSERT(ca->malformed[PPSPP_ERR_UNKNOWN_MSG] > 0);
	CU_ASSERT(ca->unknown_channel + ca->bad_handshakes + ca->malformed_total >= 200);
	CU_ASSERT_EQUAL(cb->chunks_rejected, 0);
	net_free(n);
}

static void test_close(void)
{
	fill_content(20 * CHUNK, 6);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	int ci = ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now);
	CU_ASSERT(run_until_complete(n, b, 10000) >= 0);
	for (int i = 0; i < 3; i++)
		step(n);
	CU_ASSERT_EQUAL(ppspp_engine_close(b->e, ci, n->now), 0);
	CU_ASSERT_EQUAL(b->n_peer_ends, 1);
	CU_ASSERT_EQUAL(b->peer_ends[0], PPSPP_PEER_LOCAL_CLOSE);
	/* the closing HANDSHAKE carries source channel 0 */
	CU_ASSERT_EQUAL(n->n, 1);
	struct ppspp_reader r;
	struct ppspp_msg m;
	ppspp_reader_init(&r, n->q[n->head].b, n->q[n->head].len, NULL);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_HANDSHAKE);
	CU_ASSERT_EQUAL(m.u.handshake.src_channel, 0);
	step(n);
	CU_ASSERT_EQUAL(a->n_peer_ends, 1);
	CU_ASSERT_EQUAL(a->peer_ends[0], PPSPP_PEER_CLOSED);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->peers_closed, 1);
	struct ppspp_channel_info info;
	for (uint32_t i = 0; i < ppspp_engine_max_channels(a->e); i++)
		CU_ASSERT_EQUAL(ppspp_engine_channel_info(a->e, (int)i, &info), -ENOENT);
	net_free(n);
}

static void test_choke(void)
{
	fill_content(300 * CHUNK, 7);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	int cb = ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now);
	for (int i = 0; i < 4; i++)
		step(n);
	int ca = -1;
	struct ppspp_channel_info info;
	for (uint32_t i = 0; i < ppspp_engine_max_channels(a->e); i++)
		if (ppspp_engine_channel_info(a->e, (int)i, &info) == 0)
			ca = (int)i;
	CU_ASSERT_FATAL(ca >= 0);
	CU_ASSERT_EQUAL(ppspp_engine_choke(a->e, ca, true, n->now), 0);
	for (int i = 0; i < 20; i++)
		step(n);
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, cb, &info), 0);
	CU_ASSERT_TRUE(info.choked_by_peer);
	CU_ASSERT_EQUAL(info.requests_out, 0);
	/* while choked nothing more arrives, however long we wait */
	uint64_t got = ppspp_engine_counters(b->e)->chunks_verified;
	uint64_t req = ppspp_engine_counters(a->e)->msgs_in[PPSPP_REQUEST];
	for (int i = 0; i < 2000; i++)
		step(n);
	CU_ASSERT_EQUAL(ppspp_engine_counters(b->e)->chunks_verified, got);
	CU_ASSERT_EQUAL(ppspp_engine_counters(a->e)->msgs_in[PPSPP_REQUEST], req);
	CU_ASSERT_FALSE(b->complete);
	CU_ASSERT_EQUAL(ppspp_engine_choke(a->e, ca, false, n->now), 0);
	CU_ASSERT(run_until_complete(n, b, 100000) >= 0);
	CU_ASSERT_TRUE(identical(b));
	net_free(n);
}

static void test_pex(void)
{
	fill_content(8 * CHUNK, 8);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	struct node *c = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now) >= 0);
	for (int i = 0; i < 5; i++)
		step(n);
	CU_ASSERT(ppspp_engine_connect(c->e, c->swarm, &a->addr, n->now) >= 0);
	for (int i = 0; i < 10; i++)
		step(n);
	/* C asked A for peers (PEX_REQ) and learnt B; B, asking first, learnt nobody but now C
	 * is known to A */
	CU_ASSERT(ppspp_engine_counters(a->e)->msgs_in[PPSPP_PEX_REQ] >= 2);
	CU_ASSERT_EQUAL(c->n_pex, 1);
	CU_ASSERT_TRUE(ppspp_peer_addr_equal(&c->pex[0], &b->addr));
	CU_ASSERT_EQUAL(b->n_pex, 0);
	CU_ASSERT(ppspp_engine_counters(a->e)->msgs_out[PPSPP_PEX_RESV4] >= 1);
	net_free(n);
}

static void test_core_option_fallback(void)
{
	fill_content(50 * CHUNK, 9);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	n->strict_node = a->id; /* A silently drops handshakes with options 8/9 */
	int ci = ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now);
	CU_ASSERT(run_until_complete(n, b, 200000) >= 0);
	CU_ASSERT_TRUE(identical(b));
	CU_ASSERT_EQUAL(ppspp_engine_counters(b->e)->handshake_fallbacks, 1);
	struct ppspp_channel_info info;
	CU_ASSERT_EQUAL(ppspp_engine_channel_info(b->e, ci, &info), 0);
	CU_ASSERT_TRUE(info.core_options_only);
	CU_ASSERT(n->dropped >= 3);
	net_free(n);

	/* a peer that never answers at all: core-option retry, then given up */
	fill_content(5 * CHUNK, 10);
	n = net_new();
	b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	struct ppspp_peer_addr nowhere = {.family = PPSPP_AF_INET4, .port = 1};
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &nowhere, n->now) >= 0);
	for (int i = 0; i < 40000 && b->n_peer_ends == 0; i++)
		step(n);
	CU_ASSERT_EQUAL(b->n_peer_ends, 1);
	CU_ASSERT_EQUAL(b->peer_ends[0], PPSPP_PEER_NO_ANSWER);
	CU_ASSERT_EQUAL(ppspp_engine_counters(b->e)->handshake_fallbacks, 1);
	net_free(n);
}

static void test_deferred_storage(void)
{
	fill_content(40 * CHUNK + 3, 11);
	struct net *n = net_new();
	struct node *a = node_new(n, true, PPSPP_CAM_CHUNK32, NULL);
	struct node *b = node_new(n, false, PPSPP_CAM_CHUNK32, NULL);
	a->st.defer = true;
	CU_ASSERT(ppspp_engine_connect(b->e, b->swarm, &a->addr, n->now) >= 0);
	int i;
	for (i = 0; i < 100000 && !b->complete; i++) {
		step(n);
		/* the owner's fill completes a few steps later: one chunk made available at a
		 * time, the last one declared unavailable once (then found again) */
		if (i % 5 == 4 && a->st.n_pending > 0) {
			uint64_t k = a->st.deferred_pending[0];
			memmove(a->st.deferred_pending, a->st.deferred_pending + 1,
				(size_t)(a->st.n_pending - 1) * sizeof(uint64_t));
			a->st.n_pending--;
			bool avail = !(k == 40 && !a->st.released[k] && a->st.got[k] == 0);
			if (avail)
				a->st.released[k] = 1;
			else
				a->st.got[k] = 1; /* remember we said "unavailable" once */
			ppspp_engine_chunk_ready(a->e, a->swarm, k, avail);
		}
	}
	CU_ASSERT_TRUE(b->complete);
	CU_ASSERT_TRUE(identical(b));
	CU_ASSERT(ppspp_engine_counters(a->e)->requests_deferred >= 41);
	CU_ASSERT(ppspp_engine_counters(b->e)->rerequests >= 1);
	net_free(n);
}

int main(void)
{
	pcdn_log_set_level("*", PCDN_LOG_ERR);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ppspp_engine", NULL, NULL);
	CU_add_test(s, "handshake", test_handshake);
	CU_add_test(s, "bad handshakes and wrong channels", test_bad_handshakes);
	CU_add_test(s, "transfer byte-identical", test_transfer);
	CU_add_test(s, "transfer with bins, byte ranges, 64-bit", test_transfer_other_cams);
	CU_add_test(s, "loss, duplication, reordering", test_loss_recovery);
	CU_add_test(s, "INTEGRITY apart from DATA", test_integrity_apart);
	CU_add_test(s, "forged peak geometry refused", test_forged_peaks);
	CU_add_test(s, "empty content", test_empty_content);
	CU_add_test(s, "two seeders; poisoned seeder", test_two_seeders_and_poison);
	CU_add_test(s, "garbage datagrams", test_garbage);
	CU_add_test(s, "closing handshake", test_close);
	CU_add_test(s, "choke and unchoke", test_choke);
	CU_add_test(s, "PEX", test_pex);
	CU_add_test(s, "core-option fallback", test_core_option_fallback);
	CU_add_test(s, "deferred storage (-EAGAIN)", test_deferred_storage);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	free(content);
	return failed ? 1 : 0;
}
