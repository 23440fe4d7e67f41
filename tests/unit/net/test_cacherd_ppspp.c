/* CUnit suite "net" (DPDK + lib/ppspp): a real PPSPP download served through pcdn-cacherd's glue
 * (app/pcdn-cacherd/ppspp_glue.c) on a lib/net worker over a net_ring port. The seeding engine
 * runs in the worker's hooks and sends DATA payloads as external buffers pointing into the
 * content; the test plays the network and the client: it answers ARP, turns the client engine's
 * datagrams into frames on the port's RX ring, and feeds what the port transmits back to it. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "net.h"
#include "pcdn_common.h"
#include "ppspp.h"
#include "ppspp_glue.h"
#include "ut_eal.h"

#define PPSPP_PORT  6778
#define CLIENT_PORT 4000
#define CHUNK	    1024
#define CONTENT_MAX (512 * CHUNK + 300)

static const uint8_t peer_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
static struct rte_mempool *tpool;
static struct rte_ring *rxr, *txr;
static uint8_t port_mac[6];
static uint8_t content[CONTENT_MAX], received[CONTENT_MAX];
static size_t content_len; /* this test's: whole chunks and a short last one */

/* Reference counts: the storage's (get_chunk/release) and the glue's (for the NIC). */
static int storage_refs, nic_takes, nic_releases, extbuf_frames, loops;

static void on_loop(void *ctx)
{
	(void)ctx;
	loops++;
}

static int seed_get(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	(void)ctx;
	if (chunk * CHUNK >= content_len)
		return -ERANGE;
	*data = content + chunk * CHUNK;
	*len = content_len - chunk * CHUNK < CHUNK ? content_len - chunk * CHUNK : CHUNK;
	*ref = content + chunk * CHUNK;
	storage_refs++;
	return 0;
}

static void seed_release(void *ctx, void *ref)
{
	(void)ctx;
	(void)ref;
	storage_refs--;
}

static void nic_take(void *ctx, void *ref)
{
	(void)ctx;
	CU_ASSERT_PTR_NOT_NULL(ref);
	nic_takes++;
}

static void nic_release(void *ctx, void *ref)
{
	(void)ctx;
	(void)ref;
	nic_releases++;
}

static int client_put(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	(void)ctx;
	if (chunk * CHUNK + len > content_len)
		return -ERANGE;
	memcpy(received + chunk * CHUNK, data, len);
	return 0;
}

static void inject(const uint8_t *buf, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tpool);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), buf, len);
	CU_ASSERT_EQUAL(rte_ring_enqueue(rxr, m), 0);
}

/* The client's kernel: its datagrams become frames to the cacher. */
static int client_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr,
		       size_t hdr_len, const void *payload, size_t payload_len, void *payload_ref)
{
	struct net_udp_tuple t = {.local_port = CLIENT_PORT, .remote_port = to->port};
	uint8_t frame[2048];
	int hl;

	(void)ctx;
	(void)payload_ref;
	net_ipaddr_parse("10.0.0.1", &t.local, NULL);
	cacherd_peer_to_net(to, &t.remote);
	hl = net_udp_build(frame, sizeof(frame), &t, peer_mac, port_mac, 1,
			   (uint32_t)(hdr_len + payload_len), 0);
	if (hl < 0 || hl + hdr_len + payload_len > sizeof(frame))
		return -EMSGSIZE;
	memcpy(frame + hl, hdr, hdr_len);
	if (payload_len)
		memcpy(frame + hl + hdr_len, payload, payload_len);
	net_udp_csum_finish(
	    frame, &t,
	    net_csum_add(0, frame + hl - NET_UDP_HLEN, NET_UDP_HLEN + hdr_len + payload_len, false),
	    (uint32_t)(NET_UDP_HLEN + hdr_len + payload_len));
	inject(frame, (uint32_t)(hl + hdr_len + payload_len));
	return 0;
}

/* What the port sent (at most max frames, as a slow link would take them): ARP requests are
 * answered, UDP goes to the client engine. */
static void drain_tx(struct ppspp_engine *client, unsigned max)
{
	struct rte_mbuf *m;

	for (unsigned taken = 0; taken < max && rte_ring_dequeue(txr, (void **)&m) == 0; taken++) {
		uint8_t buf[2048];
		struct net_frame f;
		const void *p;
		uint32_t len = m->pkt_len < sizeof(buf) ? m->pkt_len : sizeof(buf);

		if (m->nb_segs == 2 && RTE_MBUF_HAS_EXTBUF(m->next) != 0)
			extbuf_frames++;
		p = rte_pktmbuf_read(m, 0, len, buf);
		if (p != buf)
			memcpy(buf, p, len);
		rte_pktmbuf_free(m); /* the NIC is done: external payloads are released here */
		CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, len, 0, &f), NET_DROP_NONE);
		if (f.kind == NET_FRAME_ARP && f.arp_op == 1) {
			uint8_t reply[64];
			int rl = net_arp_build(reply, sizeof(reply), 2, f.arp_sha, peer_mac, &f.dst,
					       f.arp_sha, &f.src);
			inject(reply, (uint32_t)rl);
		} else if (f.kind != NET_FRAME_ARP && f.proto == NET_IPPROTO_UDP) {
			struct ppspp_peer_addr from;

			CU_ASSERT_EQUAL(f.sport, PPSPP_PORT);
			CU_ASSERT_EQUAL(f.dport, CLIENT_PORT);
			cacherd_net_to_peer(&f.src, f.sport, &from);
			ppspp_engine_input(client, &from, buf + f.payload_off, f.payload_len,
					   pcdn_now_us());
		}
	}
}

/* One download through the glue: n_chunks whole chunks and a short one, over a port whose TX
 * ring holds ring_size - 1 frames, with a worker hold of tx_hold datagrams, the link taking at
 * most drain frames per round. */
struct dl_case {
	unsigned n_chunks, ring_size, tx_hold, drain;
	const char *name;
};

struct dl_result {
	struct net_counters net;
	struct ppspp_engine_counters seed;
	bool complete, identical;
};

static void download(const struct dl_case *dc, struct dl_result *res)
{
	struct net_dataplane_config cfg = {
	    .n_workers = 1,
	    .ppspp_port = PPSPP_PORT,
	    .mbufs = 4095,
	    .mbuf_cache = 32,
	    .ext_mbufs = 2047,
	    .neigh_capacity = 64,
	    .tx_hold = dc->tx_hold,
	    .socket_id = SOCKET_ID_ANY,
	    .neigh = {.reachable_ns = 600ull * 1000000000,
		      .retrans_ns = 100000000,
		      .max_probes = 5},
	};
	struct net_iface ifc = {0};
	struct cacherd_ppspp g = {0};
	struct ppspp_io sio, cio = {.send = client_send};
	struct ppspp_storage sst = {.get_chunk = seed_get, .release = seed_release};
	struct ppspp_storage cst = {.put_chunk = client_put};
	struct ppspp_merkle *tree, *verifier;
	struct ppspp_engine *client;
	struct ppspp_peer_addr server;
	struct net_dataplane *dp;
	struct net_ipaddr a;
	uint8_t root[PPSPP_HASH_MAX_LEN], plen;
	char name[32];
	uint16_t port;
	int swarm;

	content_len = (size_t)dc->n_chunks * CHUNK + 300;
	memset(received, 0, sizeof(received));
	storage_refs = nic_takes = nic_releases = extbuf_frames = loops = 0;
	for (unsigned i = 0; i < content_len; i++)
		content[i] = (uint8_t)(i * 131 + (i >> 8));
	snprintf(name, sizeof(name), "pp_rx_%s", dc->name);
	rxr = rte_ring_create(name, 4096, SOCKET_ID_ANY, 0);
	snprintf(name, sizeof(name), "pp_tx_%s", dc->name);
	txr = rte_ring_create(name, dc->ring_size, SOCKET_ID_ANY, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rxr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(txr);
	snprintf(name, sizeof(name), "net_ring_%s", dc->name);
	port = (uint16_t)rte_eth_from_rings(name, &rxr, 1, &txr, 1, SOCKET_ID_ANY);
	dp = net_dataplane_create(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	net_ipaddr_parse("10.0.0.2/24", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	CU_ASSERT_EQUAL_FATAL(net_port_add(dp, port, &ifc, 1500, 512, 512), 0);
	CU_ASSERT_EQUAL_FATAL(net_dataplane_start(dp), 0);
	memcpy(port_mac, net_dataplane_port(dp, 0)->ifc.mac, 6);

	/* The cacher side: a seeding engine in worker 0's hooks. */
	tree = ppspp_merkle_build_mem(content, content_len, PPSPP_HASH_SHA256, CHUNK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tree);
	g.dp = dp;
	g.w = net_dataplane_worker(dp, 0);
	g.ppspp_port = PPSPP_PORT;
	g.ref_take = nic_take;
	g.ref_release = nic_release;
	g.on_loop = on_loop;
	cacherd_ppspp_io(&g, &sio);
	g.engine = ppspp_engine_create(NULL, &sio, NULL, pcdn_now_us());
	CU_ASSERT_PTR_NOT_NULL_FATAL(g.engine);
	CU_ASSERT(ppspp_engine_swarm_add(g.engine, tree, PPSPP_CAM_CHUNK32, &sst) >= 0);
	cacherd_ppspp_attach(&g);

	/* The client: knows the root hash only. */
	ppspp_merkle_root(tree, root);
	verifier = ppspp_merkle_create_verifier(PPSPP_HASH_SHA256, CHUNK, root,
						ppspp_merkle_hash_len(tree));
	CU_ASSERT_PTR_NOT_NULL_FATAL(verifier);
	client = ppspp_engine_create(NULL, &cio, NULL, pcdn_now_us());
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	swarm = ppspp_engine_swarm_add(client, verifier, PPSPP_CAM_CHUNK32, &cst);
	CU_ASSERT_FATAL(swarm >= 0);
	cacherd_net_to_peer(&a, PPSPP_PORT, &server);
	CU_ASSERT(ppspp_engine_connect(client, swarm, &server, pcdn_now_us()) >= 0);

	/* Pump until complete (bounded; a lossless link needs a few hundred rounds). */
	int rounds = 0;
	for (; rounds < 200000 && !ppspp_engine_swarm_complete(client, swarm); rounds++) {
		ppspp_engine_run(client, pcdn_now_us());
		net_worker_poll(g.w);
		drain_tx(client, dc->drain);
	}
	res->complete = ppspp_engine_swarm_complete(client, swarm);
	res->identical = memcmp(received, content, content_len) == 0;
	CU_ASSERT_EQUAL(loops, rounds); /* one quiescent point per poll iteration */
	net_dataplane_counters(dp, &res->net, NULL);
	res->seed = *ppspp_engine_counters(g.engine);
	CU_ASSERT_EQUAL(res->net.ctr[NET_CTR_UDP_OUT_EXTBUF], (uint64_t)nic_takes);
	CU_ASSERT_EQUAL(res->net.drop[NET_DROP_PPSPP_NO_ENGINE], 0);
	CU_ASSERT_EQUAL(g.send_errors, 0);

	ppspp_engine_destroy(client);
	net_dataplane_destroy(dp);
	{
		void *m;
		while (rte_ring_dequeue(txr, &m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(rxr, &m) == 0)
			rte_pktmbuf_free(m);
	}
	ppspp_engine_destroy(g.engine);
	ppspp_merkle_free(verifier);
	ppspp_merkle_free(tree);
	/* Every reference came back. */
	CU_ASSERT_EQUAL(nic_takes, nic_releases);
	CU_ASSERT_EQUAL(storage_refs, 0);
	rte_ring_free(rxr);
	rte_ring_free(txr);
}

static void test_download(void)
{
	const struct dl_case dc = {.n_chunks = 96, .ring_size = 4096, .drain = UINT32_MAX,
				   .name = "dl"};
	struct dl_result r;

	download(&dc, &r);
	CU_ASSERT_TRUE(r.complete);
	CU_ASSERT_TRUE(r.identical);
	/* Every DATA went out zero-copy. */
	CU_ASSERT(r.seed.chunks_sent >= 97);
	CU_ASSERT(extbuf_frames >= 97);
}

/* A full TX queue pauses DATA, it does not drop it: with a 7-frame ring, an 8-datagram hold and
 * a link taking 1 frame a round, the engine is held back (send_budget_stops) and the worker
 * keeps what the ring refuses (tx_held), so nothing is dropped and every chunk is sent exactly
 * once (no loss for LEDBAT to see, no retransmission). Without the back-pressure this link
 * drops DATA at the ring (tx_queue_full) and the chunks are sent again. */
static void test_tx_full_pauses(void)
{
	const struct dl_case dc = {.n_chunks = 512, .ring_size = 8, .tx_hold = 8, .drain = 1,
				   .name = "bp"};
	struct dl_result r;

	download(&dc, &r);
	CU_ASSERT_TRUE(r.complete);
	CU_ASSERT_TRUE(r.identical);
	CU_ASSERT_EQUAL(r.net.drop[NET_DROP_TX_FULL], 0);
	CU_ASSERT(r.net.ctr[NET_CTR_TX_HELD] > 0);
	CU_ASSERT(r.seed.send_budget_stops > 0);
	CU_ASSERT_EQUAL(r.seed.chunks_sent, 513);
	CU_ASSERT_EQUAL(r.seed.retransmits, 0);
	CU_ASSERT_EQUAL(r.seed.data_lost, 0);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned fails;

	(void)argc;
	if (ut_eal_init(argv[0], "pcdn_pp_ut", "512") < 0)
		return 1;
	tpool =
	    rte_pktmbuf_pool_create("peer", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!tpool || CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cacherd_ppspp", NULL, NULL);
	CU_add_test(s, "download_zero_copy_over_net_ring", test_download);
	CU_add_test(s, "tx_queue_full_pauses_data", test_tx_full_pauses);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	rte_mempool_free(tpool);
	ut_eal_done("pcdn_pp_ut");
	return fails ? 1 : 0;
}
