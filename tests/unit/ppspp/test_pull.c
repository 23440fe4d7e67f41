/* CUnit suite "pull": lib/ppspp's pull-through API (pull.c, the unknown_swarm event) as
 * pcdn-cacherd uses it, over an in-memory network of four engines: a seeder S; the cacher's
 * upstream client U (wanted-only, a verifier tree T); the cacher's worker W (no swarm at first;
 * then T shared read-only, serve_all, storage that misses until U fetched the chunk); and a
 * client D. D's handshake for the unknown swarm is reported and not answered; once the swarm
 * exists its retry succeeds; W's misses become U's wanted chunks; D gets the exact content. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ppspp.h"

#define CHUNK	 1024u
#define N_CHUNKS 300u
#define SIZE	 ((uint64_t)N_CHUNKS * CHUNK - 333)
#define QCAP	 65536

struct dgram {
	int from, to;
	size_t len;
	uint8_t *b;
};

struct node {
	int id;
	struct ppspp_peer_addr addr;
	struct ppspp_engine *e;
};

static struct dgram q[QCAP];
static unsigned q_head, q_tail;
static struct node nodes[4];
static uint64_t now_us;
static uint8_t *content, *cached, *got;
static bool in_cache[N_CHUNKS], got_chunk[N_CHUNKS];
static unsigned misses, unknown_reports, u_verified_events;
static uint8_t unknown_id[PPSPP_HASH_MAX_LEN];
static size_t unknown_id_len;
static int w_swarm = -1, u_swarm = -1;
static bool pending_miss[N_CHUNKS];

enum { S, U, W, D };

static int send_cb(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hdr_len,
		   const void *payload, size_t payload_len, void *ref)
{
	struct node *self = ctx;
	int dst = -1;

	(void)ref;
	for (int i = 0; i < 4; i++)
		if (ppspp_peer_addr_equal(&nodes[i].addr, to))
			dst = i;
	if (dst < 0 || q_tail - q_head == QCAP)
		return -ENOBUFS;
	struct dgram *d = &q[q_tail++ % QCAP];
	d->from = self->id;
	d->to = dst;
	d->len = hdr_len + payload_len;
	d->b = malloc(d->len);
	memcpy(d->b, hdr, hdr_len);
	if (payload_len)
		memcpy(d->b + hdr_len, payload, payload_len);
	return 0;
}

/* S: the whole content */
static int s_get(void *ctx, uint64_t c, const void **data, size_t *len, void **ref)
{
	(void)ctx;
	*data = content + c * CHUNK;
	*len = c + 1 < N_CHUNKS ? CHUNK : (size_t)(SIZE - c * CHUNK);
	*ref = NULL;
	return 0;
}

/* U: the "cache" insert */
static int u_put(void *ctx, uint64_t c, const void *data, size_t len)
{
	(void)ctx;
	memcpy(cached + c * CHUNK, data, len);
	in_cache[c] = true;
	return 0;
}

static void u_verified(void *ctx, int swarm, uint64_t c, int ch)
{
	(void)ctx;
	(void)swarm;
	(void)ch;
	u_verified_events++;
	if (pending_miss[c] && w_swarm >= 0) {
		pending_miss[c] = false;
		ppspp_engine_chunk_ready(nodes[W].e, w_swarm, c, true);
	}
}

/* W: cache lookup; a miss is wanted from upstream */
static int w_get(void *ctx, uint64_t c, const void **data, size_t *len, void **ref)
{
	(void)ctx;
	if (!in_cache[c]) {
		misses++;
		pending_miss[c] = true;
		CU_ASSERT_EQUAL(ppspp_engine_swarm_want(nodes[U].e, u_swarm, c, c), 0);
		return -EAGAIN;
	}
	*data = cached + c * CHUNK;
	*len = c + 1 < N_CHUNKS ? CHUNK : (size_t)(SIZE - c * CHUNK);
	*ref = NULL;
	return 0;
}

static void w_unknown(void *ctx, const struct ppspp_peer_addr *peer, const struct ppspp_options *o)
{
	(void)ctx;
	CU_ASSERT_TRUE(ppspp_peer_addr_equal(peer, &nodes[D].addr));
	unknown_reports++;
	unknown_id_len = o->swarm_id_len;
	memcpy(unknown_id, o->swarm_id, o->swarm_id_len);
	CU_ASSERT_EQUAL(o->chunk_size, CHUNK);
}

static int d_put(void *ctx, uint64_t c, const void *data, size_t len)
{
	(void)ctx;
	memcpy(got + c * CHUNK, data, len);
	got_chunk[c] = true;
	return 0;
}

static void step(void)
{
	unsigned end = q_tail;

	while (q_head != end) {
		struct dgram *d = &q[q_head++ % QCAP];
		ppspp_engine_input(nodes[d->to].e, &nodes[d->from].addr, d->b, d->len, now_us);
		free(d->b);
	}
	for (int i = 0; i < 4; i++)
		if (nodes[i].e)
			ppspp_engine_run(nodes[i].e, now_us);
	now_us += 1000;
}

static struct ppspp_engine *engine(int id, const struct ppspp_engine_events *ev)
{
	struct ppspp_io io = {.ctx = &nodes[id], .send = send_cb};
	struct ppspp_engine_config cfg;

	ppspp_engine_config_defaults(&cfg);
	cfg.pex = false;
	nodes[id].id = id;
	nodes[id].addr = (struct ppspp_peer_addr){.family = PPSPP_AF_INET4,
						  .addr = {10, 0, 0, (uint8_t)(id + 1)},
						  .port = (uint16_t)(7000 + id)};
	return ppspp_engine_create(&cfg, &io, ev, now_us);
}

static void test_pull_through(void)
{
	uint64_t seed = 7, verified, count;
	uint8_t root[PPSPP_HASH_MAX_LEN];

	content = malloc(SIZE);
	cached = calloc(1, SIZE);
	got = calloc(1, SIZE);
	for (uint64_t i = 0; i < SIZE; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		content[i] = (uint8_t)(seed >> 56);
	}
	struct ppspp_merkle *full = ppspp_merkle_build_mem(content, SIZE, PPSPP_HASH_SHA1, CHUNK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(full);
	ppspp_merkle_root(full, root);
	size_t hl = ppspp_merkle_hash_len(full);
	struct ppspp_merkle *t = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CHUNK, root, hl);
	struct ppspp_merkle *dt = ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CHUNK, root, hl);

	struct ppspp_engine_events uev = {.chunk_verified = u_verified};
	struct ppspp_engine_events wev = {.unknown_swarm = w_unknown};
	nodes[S].e = engine(S, NULL);
	nodes[U].e = engine(U, &uev);
	nodes[W].e = engine(W, &wev);
	nodes[D].e = engine(D, NULL);
	struct ppspp_storage sst = {.get_chunk = s_get}, ust = {.put_chunk = u_put},
			     wst = {.get_chunk = w_get}, dst = {.put_chunk = d_put};
	CU_ASSERT_EQUAL(ppspp_engine_swarm_add(nodes[S].e, full, PPSPP_CAM_CHUNK32, &sst), 0);
	int dsw = ppspp_engine_swarm_add(nodes[D].e, dt, PPSPP_CAM_CHUNK32, &dst);
	CU_ASSERT_EQUAL_FATAL(dsw, 0);

	/* D asks W for a swarm W is not in: reported, not answered (§3.1.1) */
	CU_ASSERT_TRUE(ppspp_engine_connect(nodes[D].e, dsw, &nodes[W].addr, now_us) >= 0);
	for (int i = 0; i < 5; i++)
		step();
	CU_ASSERT_EQUAL(unknown_reports, 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(nodes[W].e)->unknown_swarm, 1);
	CU_ASSERT_EQUAL(ppspp_engine_counters(nodes[W].e)->dgrams_out, 0);
	CU_ASSERT_EQUAL(unknown_id_len, hl);
	CU_ASSERT_EQUAL(memcmp(unknown_id, root, hl), 0);

	/* the cacher's control side: U fetches only the first chunk (it brings the peaks) */
	u_swarm = ppspp_engine_swarm_add(nodes[U].e, t, PPSPP_CAM_CHUNK32, &ust);
	CU_ASSERT_EQUAL_FATAL(u_swarm, 0);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_want(nodes[U].e, u_swarm, 0, 0), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_serve_all(nodes[U].e, u_swarm), -EAGAIN);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_wanted_only(nodes[U].e, u_swarm, true), 0);
	CU_ASSERT_TRUE(ppspp_engine_connect(nodes[U].e, u_swarm, &nodes[S].addr, now_us) >= 0);
	for (int i = 0; i < 200 && ppspp_merkle_chunk_count(t) == 0; i++)
		step();
	CU_ASSERT_EQUAL_FATAL(ppspp_merkle_chunk_count(t), N_CHUNKS);
	for (int i = 0; i < 50; i++)
		step();
	ppspp_engine_swarm_progress(nodes[U].e, u_swarm, &verified, &count);
	CU_ASSERT_EQUAL(verified, 1); /* wanted-only: nothing else was fetched */
	CU_ASSERT_EQUAL(count, N_CHUNKS);

	/* published: W serves every chunk from the shared tree */
	w_swarm = ppspp_engine_swarm_add(nodes[W].e, t, PPSPP_CAM_CHUNK32, &wst);
	CU_ASSERT_EQUAL_FATAL(w_swarm, 0);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_serve_all(nodes[W].e, w_swarm), 0);
	CU_ASSERT_TRUE(ppspp_engine_swarm_complete(nodes[W].e, w_swarm));
	for (int i = 0; i < 20000 && !ppspp_engine_swarm_complete(nodes[D].e, dsw); i++)
		step();
	CU_ASSERT_TRUE_FATAL(ppspp_engine_swarm_complete(nodes[D].e, dsw));
	CU_ASSERT_EQUAL(memcmp(got, content, SIZE), 0);
	CU_ASSERT_TRUE(misses >= N_CHUNKS - 1);
	ppspp_engine_swarm_progress(nodes[U].e, u_swarm, &verified, NULL);
	CU_ASSERT_EQUAL(verified, N_CHUNKS);
	CU_ASSERT_EQUAL(ppspp_engine_counters(nodes[W].e)->chunks_verified, 0);

	/* an evicted chunk wanted again is fetched again (verified against the known hash) */
	unsigned before = u_verified_events;
	CU_ASSERT_EQUAL(ppspp_engine_swarm_want(nodes[U].e, u_swarm, 5, 6), 0);
	ppspp_engine_swarm_progress(nodes[U].e, u_swarm, &verified, NULL);
	CU_ASSERT_EQUAL(verified, N_CHUNKS - 2);
	for (int i = 0; i < 500 && u_verified_events < before + 2; i++)
		step();
	CU_ASSERT_EQUAL(u_verified_events, before + 2);
	CU_ASSERT_EQUAL(ppspp_engine_counters(nodes[U].e)->chunks_rejected, 0);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_want(nodes[U].e, u_swarm, N_CHUNKS, N_CHUNKS + 1),
			-EINVAL);
	CU_ASSERT_EQUAL(ppspp_engine_swarm_want(nodes[U].e, 5, 0, 0), -EINVAL);

	while (q_head != q_tail)
		free(q[q_head++ % QCAP].b);
	for (int i = 0; i < 4; i++)
		ppspp_engine_destroy(nodes[i].e);
	ppspp_merkle_free(full);
	ppspp_merkle_free(t);
	ppspp_merkle_free(dt);
	free(content);
	free(cached);
	free(got);
}

int main(void)
{
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("pull", NULL, NULL);
	CU_add_test(s, "unknown swarm, wanted-only upstream, serve_all worker, refetch",
		    test_pull_through);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
