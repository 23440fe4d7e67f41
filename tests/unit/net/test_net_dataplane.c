/* CUnit suite "net" (DPDK part): the host stack and TX path on net_ring ports in process
 * (--no-huge). The test plays the peer: it puts frames on the port's RX rings, runs the workers'
 * poll loop on this thread, and reads what the port transmitted from its TX rings. */
/* rte_ipv4/ipv6_udptcp_cksum_verify (DPDK 22.11: experimental) check our checksums. */
#define ALLOW_EXPERIMENTAL_API
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_pause.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "net.h"
#include "net_internal.h" /* the worker's IP ID: both paths start from the same one */
#include "pcdn_common.h"
#include "ut_eal.h"

#define PPSPP_PORT 6778

static struct rte_mempool *tpool; /* the peer's mbufs */
static const uint8_t peer_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
static unsigned rig_seq;
static unsigned rig_hdr_mbufs; /* the next rig's tx_hdr_mbufs (0: the default) */
static unsigned rig_tx_ring;   /* the next rig's TX ring size (0: 1024) */
static unsigned rig_tx_hold;   /* the next rig's tx_hold (0: the default) */

struct rig {
	struct rte_ring *rx[2], *tx[2];
	unsigned n_workers, n_rx;
	uint16_t port;
	struct net_dataplane *dp;
	const struct net_port_info *pi;
};

static struct net_ipaddr ip(const char *s)
{
	struct net_ipaddr a;

	CU_ASSERT_EQUAL_FATAL(net_ipaddr_parse(s, &a, NULL), 0);
	return a;
}

static int rig_make_q(struct rig *r, unsigned nw, unsigned nrx)
{
	struct net_dataplane_config cfg = {
	    .n_workers = nw,
	    .ppspp_port = PPSPP_PORT,
	    .mbufs = 1023,
	    .mbuf_cache = 32,
	    .ext_mbufs = 255,
	    .tx_hdr_mbufs = rig_hdr_mbufs,
	    .tx_hold = rig_tx_hold,
	    .neigh_capacity = 64,
	    .socket_id = SOCKET_ID_ANY,
	    .neigh = {.reachable_ns = 600ull * 1000000000,
		      .retrans_ns = 1000000000,
		      .max_probes = 3},
	};
	struct net_iface ifc = {0};
	char name[32];
	unsigned seq = rig_seq++;
	struct net_ipaddr a;
	uint8_t plen;

	memset(r, 0, sizeof(*r));
	r->n_workers = nw;
	r->n_rx = nrx;
	for (unsigned i = 0; i < nw; i++) {
		snprintf(name, sizeof(name), "t%u_rx%u", seq, i);
		r->rx[i] =
		    rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "t%u_tx%u", seq, i);
		r->tx[i] = rte_ring_create(name, rig_tx_ring ? rig_tx_ring : 1024, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!r->rx[i] || !r->tx[i])
			return -ENOMEM;
	}
	snprintf(name, sizeof(name), "net_ring_t%u", seq);
	/* net_ring has no RSS: with several workers this is software dispatch. */
	r->port =
	    (uint16_t)rte_eth_from_rings(name, r->rx, nrx, r->tx, (unsigned)nw, SOCKET_ID_ANY);
	r->dp = net_dataplane_create(&cfg);
	if (!r->dp)
		return -errno;
	net_ipaddr_parse("10.0.0.2/24", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	net_ipaddr_parse("fd00::2/64", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	if (net_port_add(r->dp, r->port, &ifc, 1500, 256, 256) < 0)
		return -EINVAL;
	if (net_dataplane_start(r->dp) < 0)
		return -EIO;
	r->pi = net_dataplane_port(r->dp, 0);
	return 0;
}

static int rig_make(struct rig *r, unsigned nw)
{
	return rig_make_q(r, nw, 1);
}

static void rig_free(struct rig *r)
{
	void *m;

	net_dataplane_destroy(r->dp);
	for (unsigned i = 0; i < r->n_workers; i++) {
		while (rte_ring_dequeue(r->tx[i], &m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(r->rx[i], &m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(r->rx[i]);
		rte_ring_free(r->tx[i]);
	}
	/* Every mbuf the peer made came back: nothing leaked or double-freed. */
	CU_ASSERT_EQUAL(rte_mempool_avail_count(tpool), tpool->size);
}

static void inject_q(struct rig *r, unsigned q, const uint8_t *buf, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tpool);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), buf, len);
	CU_ASSERT_EQUAL(rte_ring_enqueue(r->rx[q], m), 0);
}

static void inject(struct rig *r, const uint8_t *buf, uint32_t len)
{
	inject_q(r, 0, buf, len);
}

/* The next frame the port sent on TX queue q, linearised into buf; its length or -1. */
static int take(struct rig *r, unsigned q, uint8_t *buf, uint32_t cap, struct rte_mbuf **keep)
{
	struct rte_mbuf *m;
	const void *p;
	int len;

	if (rte_ring_dequeue(r->tx[q], (void **)&m) != 0)
		return -1;
	len = (int)m->pkt_len;
	if ((uint32_t)len > cap)
		len = (int)cap;
	p = rte_pktmbuf_read(m, 0, (uint32_t)len, buf);
	if (p != buf)
		memcpy(buf, p, (size_t)len);
	if (keep)
		*keep = m;
	else
		rte_pktmbuf_free(m);
	return len;
}

static struct net_counters counters(struct rig *r)
{
	struct net_counters c;

	net_dataplane_counters(r->dp, &c, NULL);
	return c;
}

static void poll_all(struct rig *r)
{
	for (unsigned i = 0; i < r->n_workers; i++)
		net_worker_poll(net_dataplane_worker(r->dp, i));
}

static int arp_request(uint8_t *buf, const char *from, const char *to)
{
	struct net_ipaddr a = ip(from), b = ip(to);

	return net_arp_request_build(buf, 128, peer_mac, &a, &b);
}

/* A UDP tuple from our 10.0.0.2 and the PPSPP port to a peer. */
static struct net_udp_tuple tuple4(const char *remote, unsigned remote_port)
{
	return (struct net_udp_tuple){.local = ip("10.0.0.2"),
				      .remote = ip(remote),
				      .local_port = PPSPP_PORT,
				      .remote_port = (uint16_t)remote_port};
}

/* The peer's ARP request makes it a neighbour of every worker (learned by the one that reads it,
 * shared with the others); our one reply is taken off the TX queues. */
static void learn_peer(struct rig *r, const char *peer)
{
	uint8_t buf[128];
	int replies = 0;

	inject(r, buf, (uint32_t)arp_request(buf, peer, "10.0.0.2"));
	for (int i = 0; i < 3; i++)
		poll_all(r);
	for (unsigned q = 0; q < r->n_workers; q++)
		while (take(r, q, buf, sizeof(buf), NULL) > 0)
			replies++;
	CU_ASSERT_EQUAL_FATAL(replies, 1);
}

static void test_arp_reply(void)
{
	struct rig r;
	uint8_t buf[256];
	struct net_frame f;
	struct net_counters c;
	int len;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.3")); /* not ours */
	poll_all(&r);
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(len, NET_ARP_FRAME_LEN);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.arp_op, 2);
	CU_ASSERT_EQUAL(memcmp(f.arp_sha, r.pi->ifc.mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.src, &(struct net_ipaddr){0}) == false);
	CU_ASSERT_EQUAL(f.src.a[3], 2);
	CU_ASSERT_EQUAL(f.dst.a[3], 1);
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), NULL), -1);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ARP_REQUEST_IN], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ARP_REPLY_OUT], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_LEARNED], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_ARP_NOT_FOR_US], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_PACKETS], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_RX_PACKETS], 2);
	rig_free(&r);
}

/* Echo request from the peer to dst (IPv4 or IPv6), 56 data bytes as ping sends. */
static int echo_request(uint8_t *buf, const char *src, const char *dst, const uint8_t *dmac)
{
	struct net_udp_tuple t = {.local = ip(src), .remote = ip(dst)};
	int hl = net_udp_build(buf, 256, &t, peer_mac, dmac, 9, 56, 0) - NET_UDP_HLEN;
	uint8_t *p = buf + hl;

	memset(p, 0, 64);
	for (int i = 8; i < 64; i++)
		p[i] = (uint8_t)i;
	if (t.local.family == 4) {
		buf[14 + 9] = NET_IPPROTO_ICMP;
		buf[24] = buf[25] = 0;
		pcdn_put_be16(buf + 24, net_ipv4_hdr_csum(buf + 14, 20));
		pcdn_put_be16(buf + 16, 20 + 64);
		buf[24] = buf[25] = 0;
		pcdn_put_be16(buf + 24, net_ipv4_hdr_csum(buf + 14, 20));
		p[0] = 8;
		pcdn_put_be16(p + 2, net_csum_fold(net_csum_add(0, p, 64, false)));
	} else {
		buf[14 + 6] = NET_IPPROTO_ICMPV6;
		pcdn_put_be16(buf + 18, 64);
		p[0] = 128;
		pcdn_put_be16(p + 2,
			      net_csum_fold(net_csum_add(
				  net_pseudo_sum(&t.local, &t.remote, NET_IPPROTO_ICMPV6, 64), p,
				  64, false)));
	}
	return hl + 64;
}

static void test_echo(void)
{
	struct rig r;
	uint8_t buf[256];
	struct net_frame f;
	struct net_counters c;
	int len;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	inject(&r, buf, (uint32_t)echo_request(buf, "10.0.0.1", "10.0.0.2", r.pi->ifc.mac));
	inject(&r, buf, (uint32_t)echo_request(buf, "fd00::1", "fd00::2", r.pi->ifc.mac));
	inject(&r, buf, (uint32_t)echo_request(buf, "10.0.0.1", "10.0.0.9", r.pi->ifc.mac));
	poll_all(&r);
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV4);
	CU_ASSERT_EQUAL(f.icmp_type, 0);
	CU_ASSERT_EQUAL(f.src.a[3], 2);
	CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
	CU_ASSERT_EQUAL(buf[f.l4_off + 40], 40);
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV6);
	CU_ASSERT_EQUAL(f.icmp_type, 129);
	CU_ASSERT_EQUAL(f.src.a[15], 2);
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), NULL), -1);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ICMP4_ECHO_OUT], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ICMP6_ECHO_OUT], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_IP_NOT_FOR_US], 1);
	rig_free(&r);
}

static void test_ns_na(void)
{
	struct rig r;
	uint8_t buf[256];
	struct net_frame f;
	struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");
	struct net_counters c;
	int len;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
	/* Our link-local address answers too. */
	target = r.pi->ifc.addrs[2].addr;
	inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
	poll_all(&r);
	for (int i = 0; i < 2; i++) {
		len = take(&r, 0, buf, sizeof(buf), NULL);
		CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
		CU_ASSERT_EQUAL(f.icmp_type, 136);
		CU_ASSERT_EQUAL(f.nd_flags, NET_ND_FLAG_SOLICITED | NET_ND_FLAG_OVERRIDE);
		CU_ASSERT_TRUE(f.nd_has_lladdr);
		CU_ASSERT_EQUAL(memcmp(f.nd_lladdr, r.pi->ifc.mac, 6), 0);
		CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
		CU_ASSERT_TRUE(net_ipaddr_equal(&f.dst, &src));
		CU_ASSERT_EQUAL(f.hop_limit, 255);
	}
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.nd_target, &target));
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ND_NS_IN], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ND_NA_OUT], 2);
	rig_free(&r);
}

static int udp_frame(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		     const uint8_t *dmac, const void *pl, uint32_t plen)
{
	struct net_udp_tuple t = {
	    .local = ip(src), .remote = ip(dst), .local_port = sport, .remote_port = dport};
	int hl = net_udp_build(buf, 512, &t, peer_mac, dmac, 1, plen, 0);

	memcpy(buf + hl, pl, plen);
	net_udp_csum_finish(buf, &t, net_csum_add(0, buf + hl - 8, 8 + plen, false), 8 + plen);
	return hl + (int)plen;
}

static void test_garbage(void)
{
	struct rig r;
	uint8_t buf[512], other[6] = {0x02, 9, 9, 9, 9, 9};
	struct net_counters c;
	uint64_t seed = 42;
	int len;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	memset(buf, 0, sizeof(buf));
	inject(&r, buf, 10); /* runt */
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, PPSPP_PORT, r.pi->ifc.mac, "x", 1);
	buf[12] = 0x12; /* unknown ethertype */
	inject(&r, buf, (uint32_t)len);
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, PPSPP_PORT, r.pi->ifc.mac, "x", 1);
	buf[24] ^= 0xff; /* IPv4 header checksum */
	inject(&r, buf, (uint32_t)len);
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, PPSPP_PORT, other, "x", 1);
	inject(&r, buf, (uint32_t)len); /* unicast to another MAC */
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, 53, r.pi->ifc.mac, "x", 1);
	inject(&r, buf, (uint32_t)len); /* closed UDP port */
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, PPSPP_PORT, r.pi->ifc.mac, "xy", 2);
	inject(&r, buf, (uint32_t)len); /* PPSPP port, no engine yet */
	len = udp_frame(buf, "fd00::1", "fd00::2", 5, PPSPP_PORT, r.pi->ifc.mac, "xy", 2);
	buf[len - 1] ^= 1; /* UDP checksum */
	inject(&r, buf, (uint32_t)len);
	len = udp_frame(buf, "10.0.0.1", "10.0.0.2", 5, PPSPP_PORT, r.pi->ifc.mac, "x", 1);
	buf[14 + 9] = 6; /* TCP */
	buf[24] = buf[25] = 0;
	pcdn_put_be16(buf + 24, net_ipv4_hdr_csum(buf + 14, 20));
	inject(&r, buf, (uint32_t)len);
	poll_all(&r);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_RUNT], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_ETHERTYPE], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_IPV4_CSUM], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_L2_NOT_FOR_US], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_UDP_PORT], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_PPSPP_NO_ENGINE], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_UDP_CSUM], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_IP_PROTO], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_RX_PACKETS], 8);
	CU_ASSERT_EQUAL(net_counters_drops_total(&c), 8);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_PACKETS], 0);
	/* Random bytes to our MAC: each one counted as received and either answered or dropped. */
	for (int i = 0; i < 500; i++) {
		uint32_t n;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = 14 + (uint32_t)(seed >> 33) % 200;
		for (uint32_t k = 0; k < n; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			buf[k] = (uint8_t)(seed >> 56);
		}
		memcpy(buf, r.pi->ifc.mac, 6);
		buf[6] = 0x02;
		buf[12] = i % 3 == 0 ? 0x08 : i % 3 == 1 ? 0x86 : 0x08;
		buf[13] = i % 3 == 0 ? 0x00 : i % 3 == 1 ? 0xdd : 0x06;
		inject(&r, buf, n);
		if (i % 32 == 31)
			poll_all(&r);
	}
	poll_all(&r);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_RX_PACKETS], 508);
	CU_ASSERT_EQUAL(net_counters_drops_total(&c) + c.ctr[NET_CTR_TX_PACKETS] +
			    c.ctr[NET_CTR_ARP_REPLY_IN] + c.ctr[NET_CTR_ND_NA_IN],
			508);
	while (take(&r, 0, buf, sizeof(buf), NULL) >= 0)
		;
	rig_free(&r);
}

/* ---- UDP hook and zero-copy TX ------------------------------------------------------------ */

static uint8_t region[1024]; /* stands for a cache slot */
static int freed;
static void *freed_ctx, *freed_ref;

static void region_free(void *ctx, void *ref)
{
	freed++;
	freed_ctx = ctx;
	freed_ref = ref;
}

struct hook_log {
	unsigned n;
	unsigned worker[64];
	uint16_t sport[64];
	int tx_rc;
};

/* Answers each datagram with "HDR" + the region as a zero-copy payload. */
static void echo_hook(void *ctx, struct net_worker *w, const struct net_udp_dgram *d, unsigned n)
{
	struct hook_log *log = ctx;

	for (unsigned i = 0; i < n; i++) {
		struct net_payload pl = {.addr = region + 1,
					 .iova = net_payload_iova(region + 1),
					 .len = 999,
					 .release = region_free,
					 .release_ctx = log,
					 .ref = region + 1};

		if (log->n < 64) {
			log->worker[log->n] = net_worker_index(w);
			log->sport[log->n] = d[i].tuple.remote_port;
			log->n++;
		}
		CU_ASSERT_EQUAL(d[i].payload_len, 2);
		log->tx_rc = net_tx_udp(w, d[i].port_id, &d[i].tuple, "HDR", 3, &pl);
	}
}

static void check_extbuf_reply(struct rig *r, const char *peer, unsigned q)
{
	uint8_t buf[2048];
	struct net_frame f;
	struct rte_mbuf *m;
	int len = take(r, q, buf, sizeof(buf), &m);
	struct net_ipaddr p = ip(peer);

	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(m->nb_segs, 2);
	CU_ASSERT_TRUE(RTE_MBUF_HAS_EXTBUF(m->next) != 0);
	CU_ASSERT_PTR_EQUAL(m->next->buf_addr, region + 1);
	/* Software checksum (net_ring offers no offload), checked by the parser. */
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.dst, &p));
	CU_ASSERT_EQUAL(f.sport, PPSPP_PORT);
	CU_ASSERT_EQUAL(f.dport, 4000);
	CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
	CU_ASSERT_EQUAL_FATAL(f.payload_len, 3 + 999);
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off, "HDR", 3), 0);
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off + 3, region + 1, 999), 0);
	/* The payload is released when the NIC frees the mbuf, and only then, once. */
	CU_ASSERT_EQUAL(freed, 0);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(freed, 1);
	CU_ASSERT_PTR_EQUAL(freed_ref, region + 1);
	freed = 0;
}

/* The payload's stored RFC 1071 sum (net_payload.has_sum) stands for the payload bytes: the
 * software checksum must come out the same as when they are read, at even and odd header
 * lengths (the payload then starts at an odd offset), and a wrong stored sum must show. */
struct sum_case {
	const char *hdr;
	uint16_t hdr_len;
	int32_t sum; /* < 0: no stored sum */
	int tx_rc;
};

static void sum_hook(void *ctx, struct net_worker *w, const struct net_udp_dgram *d, unsigned n)
{
	struct sum_case *sc = ctx;

	for (unsigned i = 0; i < n; i++) {
		struct net_payload pl = {.addr = region + 1,
					 .iova = net_payload_iova(region + 1),
					 .len = 999,
					 .release = region_free,
					 .has_sum = sc->sum >= 0,
					 .sum = (uint16_t)(sc->sum >= 0 ? sc->sum : 0)};

		sc->tx_rc = net_tx_udp(w, d[i].port_id, &d[i].tuple, sc->hdr, sc->hdr_len, &pl);
	}
}

static void test_udp_extbuf_stored_sum(void)
{
	struct rig r;
	struct sum_case sc = {0};
	uint8_t buf[2048];
	struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");
	uint32_t s32;
	uint16_t good;

	for (unsigned i = 0; i < sizeof(region); i++)
		region[i] = (uint8_t)(i * 31 + 7);
	s32 = net_csum_add(0, region + 1, 999, false);
	s32 = (s32 & 0xffff) + (s32 >> 16);
	good = (uint16_t)((s32 & 0xffff) + (s32 >> 16));
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	net_worker_set_udp_hook(net_dataplane_worker(r.dp, 0), sum_hook, &sc);
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
	poll_all(&r);
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* ARP reply */
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* NA */
	/* up to frames of four lines (the header mbuf's whole room with IPv6) */
	static const char *hdrs[] = {
	    "", "H", "HD", "HDR", "HDRXYZ0",
	    "INTEGRITY+DATA header of a chunk with one uncle, 62 bytes long",
	    "a header long enough for four lines of frame: 193 bytes of PPSPP messages before "
	    "the payload, odd so that the payload starts at an odd offset of the UDP datagram "
	    "and its stored sum is swapped.."};
	for (int fam = 0; fam < 2; fam++) {
		const char *peer = fam ? "fd00::1" : "10.0.0.1", *own = fam ? "fd00::2" : "10.0.0.2";

		for (unsigned h = 0; h < PCDN_ARRAY_SIZE(hdrs); h++) {
			for (int variant = 0; variant < 3; variant++) {
				struct net_frame f;
				struct rte_mbuf *m;
				int len;

				sc.hdr = hdrs[h];
				sc.hdr_len = (uint16_t)strlen(hdrs[h]);
				/* 0: stored sum, 1: none (payload read), 2: a wrong stored sum */
				sc.sum = variant == 0 ? good : variant == 1 ? -1 : (uint16_t)(good ^ 0x0100);
				sc.tx_rc = -1;
				inject(&r, buf,
				       (uint32_t)udp_frame(buf, peer, own, 4000, PPSPP_PORT,
							   r.pi->ifc.mac, "hi", 2));
				poll_all(&r);
				CU_ASSERT_EQUAL(sc.tx_rc, 0);
				len = take(&r, 0, buf, sizeof(buf), &m);
				CU_ASSERT_FATAL(len > 0);
				CU_ASSERT_EQUAL(m->nb_segs, 2);
				CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f),
						variant == 2 ? NET_DROP_UDP_CSUM : NET_DROP_NONE);
				if (variant != 2) {
					CU_ASSERT_EQUAL(f.payload_len, sc.hdr_len + 999u);
					CU_ASSERT_EQUAL(memcmp(buf + f.payload_off + sc.hdr_len,
							       region + 1, 999),
							0);
				}
				rte_pktmbuf_free(m);
			}
		}
	}
	CU_ASSERT_EQUAL(freed, 2 * PCDN_ARRAY_SIZE(hdrs) * 3);
	freed = 0;
	rig_free(&r);
}

/* A payload given as a ready mbuf (net_payload.seg, e.g. a cache slot's own): each datagram
 * chains it with one more reference and no external-buffer mbuf; its fields are never written;
 * frames and checksums are right from both send paths; errors take no reference. */
static void test_tx_seg(void)
{
	struct rig r;
	struct net_worker *w;
	struct net_udp_tuple t = tuple4("10.0.0.1", 4000);
	uint8_t buf[2048];
	struct rte_mbuf *seg, *m;
	struct net_payload pl;
	struct net_tx_dgram d[4];
	struct net_counters c0, c1;
	struct net_frame f;
	uint16_t good;
	uint32_t s32;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	learn_peer(&r, "10.0.0.1");
	seg = rte_pktmbuf_alloc(tpool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seg);
	uint8_t *data = (uint8_t *)rte_pktmbuf_append(seg, 999);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	for (unsigned i = 0; i < 999; i++)
		data[i] = (uint8_t)(i * 13 + 5);
	s32 = net_csum_add(0, data, 999, false);
	s32 = (s32 & 0xffff) + (s32 >> 16);
	good = (uint16_t)((s32 & 0xffff) + (s32 >> 16));
	c0 = counters(&r);
	for (int variant = 0; variant < 2; variant++) { /* stored sum, or the payload read */
		pl = (struct net_payload){.addr = data,
					  .len = 999,
					  .seg = seg,
					  .has_sum = variant == 0,
					  .sum = variant == 0 ? good : 0};
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "HDR", 3, &pl), 0);
		for (int i = 0; i < 4; i++)
			d[i] = (struct net_tx_dgram){.hdr = i & 1 ? "HD" : "HDRX",
						     .hdr_len = i & 1 ? 2 : 4,
						     .payload = &pl};
		CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 4), 4);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(seg), 6);
		net_worker_flush(w);
		for (int i = 0; i < 5; i++) {
			unsigned hl = i == 0 ? 3 : (i - 1) & 1 ? 2 : 4;
			int len = take(&r, 0, buf, sizeof(buf), &m);

			CU_ASSERT_FATAL(len > 0);
			CU_ASSERT_EQUAL(m->nb_segs, 2);
			CU_ASSERT_PTR_EQUAL(m->next, seg);
			CU_ASSERT_EQUAL(m->pkt_len, m->data_len + 999u);
			CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
			CU_ASSERT_EQUAL(f.payload_len, hl + 999u);
			CU_ASSERT_EQUAL(memcmp(buf + f.payload_off + hl, data, 999), 0);
			rte_pktmbuf_free(m); /* the NIC is done: its reference goes */
		}
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(seg), 1);
	}
	/* never written by the sender */
	CU_ASSERT_EQUAL(seg->data_len, 999);
	CU_ASSERT_EQUAL(seg->pkt_len, 999);
	CU_ASSERT_EQUAL(seg->nb_segs, 1);
	CU_ASSERT_PTR_NULL(seg->next);
	c1 = counters(&r);
	CU_ASSERT_EQUAL(c1.ctr[NET_CTR_UDP_OUT_EXTBUF] - c0.ctr[NET_CTR_UDP_OUT_EXTBUF], 10);
	CU_ASSERT_EQUAL(c1.ctr[NET_CTR_UDP_OUT] - c0.ctr[NET_CTR_UDP_OUT], 10);
	/* a length that is not the mbuf's, a datagram above the MTU: no reference taken */
	pl.len = 998;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "HDR", 3, &pl), -EINVAL);
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 1), -EINVAL);
	pl.len = 999;
	uint8_t big[600];
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, big, sizeof(big), &pl), -EMSGSIZE);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(seg), 1);
	net_worker_flush(w);
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), NULL), -1);
	rte_pktmbuf_free(seg);
	rig_free(&r);
}

/* A payload with a frame view (net_payload.frame, e.g. a cache slot with headroom): built over
 * a pool mbuf, the view's buffer is the mbuf's headroom and data, the payload its data. */
#define FRAME_ROOM 128
#define FRAME_LEN  999

struct frame_rig {
	struct rte_mbuf *seg;
	struct rte_mbuf view __attribute__((aligned(64)));
	uint8_t *data;
	uint16_t good; /* the payload's sum */
	struct net_payload pl;
};

static void frame_rig_make(struct frame_rig *fr)
{
	uint32_t s32;

	fr->seg = rte_pktmbuf_alloc(tpool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fr->seg);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_headroom(fr->seg), FRAME_ROOM);
	fr->data = (uint8_t *)rte_pktmbuf_append(fr->seg, FRAME_LEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fr->data);
	CU_ASSERT_EQUAL_FATAL((uintptr_t)fr->data % 64, 0);
	for (unsigned i = 0; i < FRAME_LEN; i++)
		fr->data[i] = (uint8_t)(i * 7 + 3);
	s32 = net_csum_add(0, fr->data, FRAME_LEN, false);
	s32 = (s32 & 0xffff) + (s32 >> 16);
	fr->good = (uint16_t)((s32 & 0xffff) + (s32 >> 16));
	memset(&fr->view, 0, sizeof(fr->view));
	fr->view.buf_addr = fr->seg->buf_addr;
	fr->view.buf_iova = fr->seg->buf_iova;
	fr->view.buf_len = FRAME_ROOM + FRAME_LEN;
	fr->view.data_off = FRAME_ROOM;
	fr->view.data_len = FRAME_LEN;
	fr->view.pkt_len = FRAME_LEN;
	fr->view.nb_segs = 1;
	fr->view.pool = tpool;
	rte_mbuf_refcnt_set(&fr->view, 1);
	fr->pl = (struct net_payload){.addr = fr->data,
				      .len = FRAME_LEN,
				      .seg = fr->seg,
				      .has_sum = true,
				      .sum = fr->good,
				      .frame = &fr->view,
				      .frame_room = FRAME_ROOM};
}

/* Checks one taken datagram: headers hl bytes of PPSPP, then the payload, checksums right. */
static void frame_check(const uint8_t *buf, int len, const char *hdr, unsigned hl,
			const uint8_t *data)
{
	struct net_frame f;

	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.payload_len, hl + FRAME_LEN);
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off, hdr, hl), 0);
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off + hl, data, FRAME_LEN), 0);
}

/* The frame view's path: a datagram whose headers fit the room goes out as the view alone (its
 * headers right before the payload, one segment); while it is held, a second datagram of the
 * same payload is chained to seg; headers too long for the room, or a view that is not over the
 * payload, are chained too; the NIC's free gives the claim back; seg is never written; both send
 * calls and both address families. */
static void test_tx_frame(void)
{
	struct rig r;
	struct net_worker *w;
	struct frame_rig fr;
	uint8_t buf[2048];
	struct net_counters c0, c1;
	struct rte_mbuf *m;
	char longhdr[100];
	unsigned inplace = 0, chained = 0;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	{
		struct net_ipaddr s6 = ip("fd00::1"), t6 = ip("fd00::2");

		inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
		inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &s6, &t6));
		poll_all(&r);
		CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* ARP reply */
		CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* NA */
	}
	frame_rig_make(&fr);
	memset(longhdr, 'L', sizeof(longhdr));
	c0 = counters(&r);
	for (int fam = 0; fam < 2; fam++) {
		struct net_udp_tuple t = {.local = ip(fam ? "fd00::2" : "10.0.0.2"),
					  .remote = ip(fam ? "fd00::1" : "10.0.0.1"),
					  .local_port = PPSPP_PORT,
					  .remote_port = 4000};
		/* IPv4: 42 + 86 bytes fill the room exactly; IPv6: 62 + 66 */
		unsigned fit = fam ? 66 : 86;
		struct net_tx_dgram d[3] = {
		    {.hdr = "INTEGRITY", .hdr_len = 9, .payload = &fr.pl},  /* in place */
		    {.hdr = "CHAINED", .hdr_len = 7, .payload = &fr.pl},    /* view held: chained */
		    {.hdr = longhdr, .hdr_len = (uint16_t)fit + 1, .payload = &fr.pl}, /* too long */
		};

		/* net_tx_udp: exactly the room, then a second one while the first is held */
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, longhdr, (uint16_t)fit, &fr.pl), 0);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 2);
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "H", 1, &fr.pl), 0);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(fr.seg), 2);
		net_worker_flush(w);
		int len = take(&r, 0, buf, sizeof(buf), &m);
		CU_ASSERT_PTR_EQUAL(m, &fr.view);
		CU_ASSERT_EQUAL(m->nb_segs, 1);
		CU_ASSERT_PTR_NULL(m->next);
		CU_ASSERT_EQUAL(m->data_off + m->data_len, FRAME_ROOM + FRAME_LEN);
		CU_ASSERT_EQUAL(m->data_len, (fam ? 62 : 42) + fit + FRAME_LEN);
		frame_check(buf, len, longhdr, fit, fr.data);
		rte_pktmbuf_free(m); /* the NIC is done: the claim goes */
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 1);
		inplace++;
		len = take(&r, 0, buf, sizeof(buf), &m);
		CU_ASSERT_EQUAL(m->nb_segs, 2);
		CU_ASSERT_PTR_EQUAL(m->next, fr.seg);
		frame_check(buf, len, "H", 1, fr.data);
		rte_pktmbuf_free(m);
		chained++;
		/* the burst: one in place, two chained */
		CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 3), 3);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 2);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(fr.seg), 3);
		net_worker_flush(w);
		for (int i = 0; i < 3; i++) {
			len = take(&r, 0, buf, sizeof(buf), &m);
			frame_check(buf, len, d[i].hdr, d[i].hdr_len, fr.data);
			CU_ASSERT_EQUAL(m->nb_segs, i == 0 ? 1 : 2);
			CU_ASSERT(i == 0 ? m == &fr.view : m->next == fr.seg);
			rte_pktmbuf_free(m);
		}
		inplace++;
		chained += 2;
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 1);
		CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(fr.seg), 1);
	}
	/* a view whose room does not end at the payload is never written in: chained */
	struct net_udp_tuple t4 = tuple4("10.0.0.1", 4000);
	fr.view.buf_addr = (uint8_t *)fr.view.buf_addr + 64;
	fr.pl.frame_room = FRAME_ROOM;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "H", 1, &fr.pl), 0);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 1);
	net_worker_flush(w);
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), &m) > 0, 1);
	CU_ASSERT_EQUAL(m->nb_segs, 2);
	rte_pktmbuf_free(m);
	chained++;
	fr.view.buf_addr = (uint8_t *)fr.view.buf_addr - 64;
	/* a room that is not a whole number of lines, a view without seg: caller's bugs */
	fr.pl.frame_room = FRAME_ROOM - 1;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "H", 1, &fr.pl), -EINVAL);
	fr.pl.frame_room = FRAME_ROOM;
	fr.pl.seg = NULL;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "H", 1, &fr.pl), -EINVAL);
	fr.pl.seg = fr.seg;
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(&fr.view), 1);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(fr.seg), 1);
	/* seg never written by the sender */
	CU_ASSERT_EQUAL(fr.seg->data_len, FRAME_LEN);
	CU_ASSERT_EQUAL(fr.seg->data_off, FRAME_ROOM);
	CU_ASSERT_EQUAL(fr.seg->nb_segs, 1);
	c1 = counters(&r);
	CU_ASSERT_EQUAL(c1.ctr[NET_CTR_UDP_OUT_INPLACE] - c0.ctr[NET_CTR_UDP_OUT_INPLACE], inplace);
	CU_ASSERT_EQUAL(c1.ctr[NET_CTR_UDP_OUT_EXTBUF] - c0.ctr[NET_CTR_UDP_OUT_EXTBUF],
			inplace + chained);
	CU_ASSERT_EQUAL(c1.ctr[NET_CTR_UDP_OUT] - c0.ctr[NET_CTR_UDP_OUT], inplace + chained);
	rte_pktmbuf_free(fr.seg);
	rig_free(&r);
}

static void test_udp_hook_extbuf(void)
{
	struct rig r;
	struct hook_log log = {0};
	uint8_t buf[512];
	struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");
	struct net_counters c;

	for (unsigned i = 0; i < sizeof(region); i++)
		region[i] = (uint8_t)(i * 31 + 7);
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	net_worker_set_udp_hook(net_dataplane_worker(r.dp, 0), echo_hook, &log);
	/* The peer resolves us first (as a kernel would), which teaches us its MAC. */
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
	inject(&r, buf,
	       (uint32_t)udp_frame(buf, "10.0.0.1", "10.0.0.2", 4000, PPSPP_PORT, r.pi->ifc.mac,
				   "hi", 2));
	poll_all(&r);
	CU_ASSERT_EQUAL(log.n, 1);
	CU_ASSERT_EQUAL(log.tx_rc, 0);
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* ARP reply */
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* NA */
	check_extbuf_reply(&r, "10.0.0.1", 0);
	CU_ASSERT_PTR_EQUAL(freed_ctx, &log);
	inject(&r, buf,
	       (uint32_t)udp_frame(buf, "fd00::1", "fd00::2", 4000, PPSPP_PORT, r.pi->ifc.mac, "hi",
				   2));
	poll_all(&r);
	CU_ASSERT_EQUAL(log.n, 2);
	check_extbuf_reply(&r, "fd00::1", 0);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_IN], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_OUT_EXTBUF], 2);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_PPSPP_NO_ENGINE], 0);
	rig_free(&r);
}

static void test_tx_resolve(void)
{
	struct rig r;
	uint8_t buf[2048];
	struct net_worker *w;
	struct net_frame f;
	struct net_udp_tuple t4 = {.local = ip("10.0.0.2"),
				   .remote = ip("10.0.0.7"),
				   .local_port = PPSPP_PORT,
				   .remote_port = 4000};
	struct net_udp_tuple t6 = {.local = ip("fd00::2"),
				   .remote = ip("fd00::7"),
				   .local_port = PPSPP_PORT,
				   .remote_port = 4000};
	struct net_payload pl = {
	    .addr = region, .iova = net_payload_iova(region), .len = 100, .release = region_free};
	struct net_counters c;
	int len;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	freed = 0;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "A", 1, &pl), 0);
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t6, "B", 1, NULL), 0);
	net_worker_flush(w);
	/* Both held; an ARP request and an NS went out instead. */
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_ARP);
	CU_ASSERT_EQUAL(f.arp_op, 1);
	CU_ASSERT_EQUAL(f.dst.a[3], 7);
	/* The peer answers. */
	{
		struct net_ipaddr a = ip("10.0.0.7"), b = ip("10.0.0.2");
		uint8_t reply[64];
		int rl = net_arp_build(reply, sizeof(reply), 2, r.pi->ifc.mac, peer_mac, &a,
				       r.pi->ifc.mac, &b);
		inject(&r, reply, (uint32_t)rl);
	}
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.icmp_type, 135);
	CU_ASSERT_EQUAL(f.nd_target.a[15], 7);
	CU_ASSERT_EQUAL(f.eth_dst[0], 0x33);
	{
		/* The NA the peer would send: built from its NS, as the peer. */
		struct net_frame ns = f;
		uint8_t na[128];
		int nl;
		ns.src = ip("fd00::2");
		memcpy(ns.nd_lladdr, r.pi->ifc.mac, 6);
		nl = net_nd_na_reply_build(na, sizeof(na), &ns, peer_mac);
		inject(&r, na, (uint32_t)nl);
	}
	poll_all(&r);
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV4);
	CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
	CU_ASSERT_EQUAL(f.payload_len, 101);
	CU_ASSERT_EQUAL(freed, 1); /* take() freed it */
	len = take(&r, 0, buf, sizeof(buf), NULL);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV6);
	CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
	CU_ASSERT_EQUAL(f.payload_len, 1);
	/* Route lookup: on-link peers of either family; off-link ones only with a gateway. */
	{
		struct net_ipaddr peer = ip("fd00::7"), local;
		uint16_t pid = UINT16_MAX;

		CU_ASSERT_EQUAL(net_dataplane_route(r.dp, &peer, &pid, &local), 0);
		CU_ASSERT_EQUAL(pid, r.port);
		CU_ASSERT_EQUAL(local.a[15], 2);
		peer = ip("10.0.0.7");
		CU_ASSERT_EQUAL(net_dataplane_route(r.dp, &peer, &pid, &local), 0);
		CU_ASSERT_EQUAL(local.a[3], 2);
		peer = ip("192.0.2.1");
		CU_ASSERT_EQUAL(net_dataplane_route(r.dp, &peer, &pid, &local), -ENETUNREACH);
	}
	/* Errors release the payload at once, exactly once. */
	freed = 0;
	t4.remote = ip("192.0.2.1");
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "A", 1, &pl), -ENETUNREACH);
	CU_ASSERT_EQUAL(freed, 1);
	t4.remote = ip("10.0.0.7");
	t4.local = ip("10.0.0.3");
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "A", 1, &pl), -EADDRNOTAVAIL);
	CU_ASSERT_EQUAL(freed, 2);
	t4.local = ip("10.0.0.2");
	pl.len = 1500;
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t4, "A", 1, &pl), -EMSGSIZE);
	CU_ASSERT_EQUAL(freed, 3);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_HELD], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_RELEASED], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ARP_REQUEST_OUT], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ND_NS_OUT], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_NO_ROUTE], 1);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_TX_TOO_BIG], 1);
	freed = 0;
	rig_free(&r);
}

/* TX back-pressure in lib/net: what a full PMD queue refuses is held, in order, and sent first
 * at the next flush (tx_held counts each datagram once); net_worker_tx_room shrinks with the
 * hold, keeping an eighth for control traffic; only a full hold drops (tx_queue_full). */
static void take_seq(struct rig *r, unsigned n, unsigned *next)
{
	uint8_t buf[256];
	struct net_frame f;

	for (unsigned i = 0; i < n; i++) {
		int len = take(r, 0, buf, sizeof(buf), NULL);

		CU_ASSERT_FATAL(len > 0);
		CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
		CU_ASSERT_EQUAL(f.payload_len, 2);
		CU_ASSERT_EQUAL(buf[f.payload_off] | buf[f.payload_off + 1] << 8, *next);
		(*next)++;
	}
}

static void test_tx_hold(void)
{
	struct rig r;
	uint8_t buf[256];
	struct net_worker *w;
	struct net_counters c;
	struct net_udp_tuple t = tuple4("10.0.0.7", 4000);
	unsigned sent = 0, next = 0;

	rig_tx_ring = 8; /* the PMD takes 7 */
	rig_tx_hold = 64;
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	rig_tx_ring = rig_tx_hold = 0;
	w = net_dataplane_worker(r.dp, 0);
	/* the peer's ARP request makes it a neighbour; its reply goes out and is taken */
	learn_peer(&r, "10.0.0.7");
	CU_ASSERT_EQUAL(net_worker_tx_room(w), 56);

	/* 40 datagrams: 7 go, 33 are held and counted once however many flushes they wait */
	for (; sent < 40; sent++) {
		uint8_t seq[2] = {(uint8_t)sent, (uint8_t)(sent >> 8)};
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, seq, 2, NULL), 0);
	}
	net_worker_flush(w);
	net_worker_flush(w);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_PACKETS], 1 + 7);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_HELD], 33);
	CU_ASSERT_EQUAL(net_worker_tx_room(w), 56 - 33);
	/* as the link drains, the held ones go in their order */
	while (next < 40) {
		take_seq(&r, next + 7 <= 40 ? 7 : 40 - next, &next);
		net_worker_flush(w);
	}
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), NULL), -1);
	CU_ASSERT_EQUAL(net_worker_tx_room(w), 56);

	/* a link that does not drain: 7 in the ring, 64 held, the rest dropped as tx_queue_full */
	for (; sent < 40 + 80; sent++) {
		uint8_t seq[2] = {(uint8_t)sent, (uint8_t)(sent >> 8)};
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, seq, 2, NULL), 0);
	}
	net_worker_flush(w);
	CU_ASSERT_EQUAL(net_worker_tx_room(w), 0);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_TX_FULL], 80 - 7 - 64);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_HELD], 33 + 80 - 7 - (80 - 7 - 64));
	while (next < 40 + 7 + 64) {
		take_seq(&r, next + 7 <= 40 + 7 + 64 ? 7 : 40 + 7 + 64 - next, &next);
		net_worker_flush(w);
	}
	CU_ASSERT_EQUAL(take(&r, 0, buf, sizeof(buf), NULL), -1);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_PACKETS], 1 + 40 + 7 + 64);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_OUT], 40 + 80);
	CU_ASSERT_EQUAL(net_worker_tx_room(w), 56);
	rig_free(&r);
}

/* One ready mbuf (a cache slot's) sent by two workers at once, each freeing what it sent as a
 * NIC would: every datagram takes a reference and every free drops one, so the count ends where
 * it started. Each worker's own reference is shared with the other, so a reference taken with a
 * plain store whenever the count reads 1 ("the only holder", rte_mbuf_refcnt_update) loses the
 * other worker's: the count then falls to 1 while frames still chain the mbuf, and a free
 * gives the mbuf back to its pool under them. */
#define SEG_ROUNDS 100000

static unsigned seg_arrived; /* both threads meet here every round, so their sends coincide */
static unsigned seg_abort;   /* a lost reference seen: both stop before a free corrupts the pool */

struct seg_thread {
	struct rig *r;
	unsigned q;
	struct rte_mbuf *seg;
	unsigned sent, taken, bad_refcnt;
};

static void *seg_sender(void *arg)
{
	struct seg_thread *st = arg;
	struct net_worker *w = net_dataplane_worker(st->r->dp, st->q);
	struct net_udp_tuple t = tuple4("10.0.0.1", 4000 + st->q);
	struct net_payload pl = {.addr = rte_pktmbuf_mtod(st->seg, void *),
				 .len = st->seg->data_len,
				 .seg = st->seg};
	struct rte_mbuf *m;
	cpu_set_t cpus;

	/* off the EAL's CPU 0 (inherited): one CPU each, so the meeting point does not wait for
	 * the scheduler */
	CPU_ZERO(&cpus);
	CPU_SET(st->q % (unsigned)sysconf(_SC_NPROCESSORS_ONLN), &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	for (unsigned i = 0; i < SEG_ROUNDS && !__atomic_load_n(&seg_abort, __ATOMIC_ACQUIRE); i++) {
		__atomic_fetch_add(&seg_arrived, 1, __ATOMIC_ACQ_REL);
		while (__atomic_load_n(&seg_arrived, __ATOMIC_ACQUIRE) < 2 * (i + 1) &&
		       !__atomic_load_n(&seg_abort, __ATOMIC_ACQUIRE))
			rte_pause();
		if (net_tx_udp(w, st->r->port, &t, "H", 1, &pl) == 0)
			st->sent++;
		net_worker_flush(w);
		while (rte_ring_dequeue(st->r->tx[st->q], (void **)&m) == 0) {
			/* this frame's reference and ours: at least 2, or one was lost (the frame
			 * is kept: freeing it would hand the mbuf back to its pool) */
			if (m->next != st->seg || rte_mbuf_refcnt_read(st->seg) < 2) {
				st->bad_refcnt++;
				__atomic_store_n(&seg_abort, 1, __ATOMIC_RELEASE);
				break;
			}
			rte_pktmbuf_free(m);
			st->taken++;
		}
	}
	return NULL;
}

static void test_tx_seg_two_workers(void)
{
	struct rig r;
	struct rte_mbuf *seg;
	struct seg_thread st[2];
	pthread_t th[2];
	struct net_counters c;
	unsigned avail;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 2), 0);
	/* the peer becomes a neighbour of both workers (learned by one, shared with the other) */
	learn_peer(&r, "10.0.0.1");
	seg = rte_pktmbuf_alloc(tpool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rte_pktmbuf_append(seg, 256));
	avail = rte_mempool_avail_count(tpool);
	seg_arrived = seg_abort = 0;
	for (unsigned q = 0; q < 2; q++) {
		st[q] = (struct seg_thread){.r = &r, .q = q, .seg = seg};
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[q], NULL, seg_sender, &st[q]), 0);
	}
	for (unsigned q = 0; q < 2; q++)
		pthread_join(th[q], NULL);
	c = counters(&r);
	CU_ASSERT_EQUAL(st[0].sent + st[1].sent, 2u * SEG_ROUNDS);
	CU_ASSERT_EQUAL(st[0].taken + st[1].taken, 2u * SEG_ROUNDS);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_OUT_EXTBUF], 2u * SEG_ROUNDS);
	CU_ASSERT_EQUAL(st[0].bad_refcnt + st[1].bad_refcnt, 0);
	/* only our reference is left, and the mbuf never went back to the pool */
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(seg), 1);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(tpool), avail);
	if (rte_mbuf_refcnt_read(seg) == 1 && rte_mempool_avail_count(tpool) == avail)
		rte_pktmbuf_free(seg);
	rig_free(&r);
}

static void check_dispatch(unsigned nrx)
{
	struct rig r;
	struct hook_log log = {0};
	uint8_t buf[2048];
	struct net_counters c;
	unsigned per_worker[2] = {0};

	CU_ASSERT_EQUAL_FATAL(rig_make_q(&r, 2, nrx), 0);
	CU_ASSERT_EQUAL(r.pi->rx_mode, NET_RX_DISPATCH);
	CU_ASSERT_EQUAL(r.pi->n_rxq, nrx);
	for (unsigned i = 0; i < 2; i++)
		net_worker_set_udp_hook(net_dataplane_worker(r.dp, i), echo_hook, &log);
	/* Worker 0 answers the ARP and tells worker 1 the peer's MAC. */
	learn_peer(&r, "10.0.0.1");
	/* 20 flows, 2 datagrams each; with 2 RX queues a flow's datagrams arrive on both. */
	for (unsigned k = 0; k < 2; k++)
		for (uint16_t s = 0; s < 20; s++)
			inject_q(&r, (k + s) % nrx, buf,
				 (uint32_t)udp_frame(buf, "10.0.0.1", "10.0.0.2",
						     (uint16_t)(4000 + s), PPSPP_PORT,
						     r.pi->ifc.mac, "hi", 2));
	poll_all(&r);
	poll_all(&r);
	CU_ASSERT_EQUAL_FATAL(log.n, 40);
	for (unsigned i = 0; i < 40; i++) {
		per_worker[log.worker[i]]++;
		for (unsigned j = 0; j < i; j++)
			if (log.sport[j] == log.sport[i])
				CU_ASSERT_EQUAL(log.worker[j], log.worker[i]);
	}
	CU_ASSERT(per_worker[0] > 0);
	CU_ASSERT(per_worker[1] > 0);
	/* Each worker sent its answers on its own TX queue, to the MAC learned by worker 0. */
	for (unsigned q = 0; q < 2; q++)
		for (unsigned i = 0; i < per_worker[q]; i++) {
			struct net_frame f;
			int len = take(&r, q, buf, sizeof(buf), NULL);
			CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f),
					      NET_DROP_NONE);
			CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV4);
			CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
		}
	CU_ASSERT_EQUAL(freed, 40);
	freed = 0;
	c = counters(&r);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_DISPATCH_OUT], c.ctr[NET_CTR_DISPATCH_IN]);
	if (nrx == 1) {
		CU_ASSERT_EQUAL(c.ctr[NET_CTR_DISPATCH_OUT], per_worker[1]);
	} else {
		CU_ASSERT(c.ctr[NET_CTR_DISPATCH_OUT] > 0 && c.ctr[NET_CTR_DISPATCH_OUT] < 40);
	}
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_SHARED_IN], 1);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_ARP_REQUEST_OUT], 0);
	rig_free(&r);
}

/* ---- net_tap: checksum offload and resolution against the kernel's own stack --------------- */

/* Polls the worker until the kernel socket has a datagram (bounded: a missing one fails). */
static ssize_t poll_until_recv(struct net_worker *w, int fd, uint8_t *buf, size_t cap)
{
	for (int i = 0; i < 5000; i++) {
		ssize_t n;

		net_worker_poll(w);
		n = recv(fd, buf, cap, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		usleep(1000);
	}
	return -1;
}

static int kernel_udp_socket(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM, 0);

	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		len = sizeof(*a);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The kernel side of a tap is the peer: it answers our ARP and NS, and its UDP layer drops
 * any datagram whose checksum (finished by the PMD's offload) is wrong. */
static void test_dispatch(void)
{
	check_dispatch(1);
}

static void test_dispatch_two_queues(void)
{
	check_dispatch(2);
}

static void test_tap_offload(void)
{
	struct net_dataplane_config cfg = {
	    .n_workers = 1,
	    .ppspp_port = PPSPP_PORT,
	    .mbufs = 1023,
	    .mbuf_cache = 32,
	    .ext_mbufs = 255,
	    .neigh_capacity = 64,
	    .socket_id = SOCKET_ID_ANY,
	    .neigh = {.reachable_ns = 600ull * 1000000000,
		      .retrans_ns = 200000000,
		      .max_probes = 10},
	};
	struct net_iface ifc = {0};
	struct net_dataplane *dp;
	struct net_worker *w;
	const struct net_port_info *pi;
	struct net_ipaddr a;
	uint8_t plen, buf[2048];
	char devargs[64], iface[16], cmd[256];
	uint16_t port;
	int fd4, fd6;
	ssize_t n;

	snprintf(iface, sizeof(iface), "ut%d", (int)getpid() % 100000);
	snprintf(devargs, sizeof(devargs), "net_tap_ut,iface=%s", iface);
	CU_ASSERT_EQUAL_FATAL(net_port_probe(devargs, &port), 0);
	dp = net_dataplane_create(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	net_ipaddr_parse("10.0.0.2/24", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	net_ipaddr_parse("fd00::2/64", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	CU_ASSERT_EQUAL_FATAL(net_port_add(dp, port, &ifc, 1500, 256, 256), 0);
	CU_ASSERT_EQUAL_FATAL(net_dataplane_start(dp), 0);
	pi = net_dataplane_port(dp, 0);
	CU_ASSERT_TRUE(pi->tx_udp_csum_offload);  /* net_tap offers it: the offload path runs */
	CU_ASSERT_FALSE(pi->tx_csum_multiseg_ok); /* but sums only a chain's first segment */
	/* This process has a network namespace of its own (main), so these stay private. */
	/* The kernel side starts with the port's own MAC: give it one of its own. */
	snprintf(cmd, sizeof(cmd),
		 "ip link set %s address 02:00:00:00:00:99 && ip addr add 10.0.0.1/24 dev %s && "
		 "ip -6 addr add fd00::1/64 dev %s nodad && ip link set %s up",
		 iface, iface, iface, iface);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	fd4 = kernel_udp_socket(AF_INET, "10.0.0.1", 4000);
	fd6 = kernel_udp_socket(AF_INET6, "fd00::1", 4000);
	CU_ASSERT_FATAL(fd4 >= 0 && fd6 >= 0);
	w = net_dataplane_worker(dp, 0);
	freed = 0;
	for (int fam = 0; fam < 2; fam++) {
		struct net_udp_tuple t = {.local = ip(fam ? "fd00::2" : "10.0.0.2"),
					  .remote = ip(fam ? "fd00::1" : "10.0.0.1"),
					  .local_port = PPSPP_PORT,
					  .remote_port = 4000};
		/* Odd header length: the payload's checksum starts at an odd offset. */
		struct net_payload pl = {.addr = region + 3,
					 .iova = net_payload_iova(region + 3),
					 .len = 1001,
					 .release = region_free};

		CU_ASSERT_EQUAL(net_tx_udp(w, port, &t, "HDRXY", 5, &pl), 0);
		n = poll_until_recv(w, fam ? fd6 : fd4, buf, sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(n, 5 + 1001);
		CU_ASSERT_EQUAL(memcmp(buf, "HDRXY", 5), 0);
		CU_ASSERT_EQUAL(memcmp(buf + 5, region + 3, 1001), 0);
		/* Header only: one segment, checksums offloaded to the PMD. */
		CU_ASSERT_EQUAL(net_tx_udp(w, port, &t, "HDRXYZ", 6, NULL), 0);
		n = poll_until_recv(w, fam ? fd6 : fd4, buf, sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(n, 6);
		CU_ASSERT_EQUAL(memcmp(buf, "HDRXYZ", 6), 0);
	}
	{
		struct net_counters c;
		net_dataplane_counters(dp, &c, NULL);
		CU_ASSERT(c.ctr[NET_CTR_ARP_REQUEST_OUT] >= 1);
		CU_ASSERT(c.ctr[NET_CTR_ND_NS_OUT] >= 1);
		CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_RELEASED], 2);
		CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_OUT], 4);
	}
	close(fd4);
	close(fd6);
	net_dataplane_destroy(dp);
	CU_ASSERT_EQUAL(freed, 2);
	freed = 0;
}

static void count_hook(void *ctx, struct net_worker *w, const struct net_udp_dgram *d, unsigned n)
{
	struct hook_log *log = ctx;

	for (unsigned i = 0; i < n; i++) {
		if (log->n < 64) {
			log->worker[log->n] = net_worker_index(w);
			log->sport[log->n] = d[i].tuple.remote_port;
			log->n++;
		}
	}
}

/* Two workers on a multi-queue tap: RSS where the PMD offers it on UDP, software dispatch
 * otherwise; either way the kernel's datagrams of one 4-tuple all reach one worker, and the
 * host stack answers the kernel's ARP whichever worker reads it. */
static void test_tap_two_workers(void)
{
	struct net_dataplane_config cfg = {
	    .n_workers = 2,
	    .ppspp_port = PPSPP_PORT,
	    .mbufs = 2047,
	    .mbuf_cache = 32,
	    .ext_mbufs = 255,
	    .neigh_capacity = 64,
	    .socket_id = SOCKET_ID_ANY,
	    .neigh = {.reachable_ns = 600ull * 1000000000,
		      .retrans_ns = 200000000,
		      .max_probes = 10},
	};
	struct hook_log log = {0};
	struct rte_eth_dev_info di;
	struct net_iface ifc = {0};
	struct net_dataplane *dp;
	const struct net_port_info *pi;
	struct net_ipaddr a;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PPSPP_PORT)};
	char devargs[64], iface[16], cmd[256];
	uint8_t plen;
	uint16_t port;
	int fds[8];
	bool rss_udp;

	snprintf(iface, sizeof(iface), "uq%d", (int)getpid() % 100000);
	snprintf(devargs, sizeof(devargs), "net_tap_uq,iface=%s", iface);
	CU_ASSERT_EQUAL_FATAL(net_port_probe(devargs, &port), 0);
	CU_ASSERT_EQUAL_FATAL(rte_eth_dev_info_get(port, &di), 0);
	rss_udp = (di.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_UDP) &&
		  (di.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV6_UDP) &&
		  di.max_rx_queues >= 2;
	dp = net_dataplane_create(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	net_ipaddr_parse("10.0.0.2/24", &a, &plen);
	net_iface_add(&ifc, &a, plen);
	CU_ASSERT_EQUAL_FATAL(net_port_add(dp, port, &ifc, 1500, 256, 256), 0);
	CU_ASSERT_EQUAL_FATAL(net_dataplane_start(dp), 0);
	pi = net_dataplane_port(dp, 0);
	/* RSS when offered and accepted, else dispatch (a refused RSS falls back). */
	CU_ASSERT(pi->rx_mode == NET_RX_DISPATCH || (rss_udp && pi->rx_mode == NET_RX_RSS));
	CU_ASSERT_EQUAL(pi->n_txq, 2);
	for (unsigned i = 0; i < 2; i++)
		net_worker_set_udp_hook(net_dataplane_worker(dp, i), count_hook, &log);
	snprintf(cmd, sizeof(cmd),
		 "ip link set %s address 02:00:00:00:00:98 && ip addr add 10.0.0.1/24 dev %s && "
		 "ip link set %s up",
		 iface, iface, iface);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	inet_pton(AF_INET, "10.0.0.2", &to.sin_addr);
	/* 8 flows x 4 datagrams; the kernel holds them while it resolves us by ARP. */
	for (int i = 0; i < 8; i++) {
		fds[i] = kernel_udp_socket(AF_INET, "10.0.0.1", (uint16_t)(5000 + i));
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < 8; i++)
			sendto(fds[i], "pp", 2, 0, (struct sockaddr *)&to, sizeof(to));
		for (int p = 0; p < 4000 && log.n < (unsigned)(8 * (k + 1)); p++) {
			net_worker_poll(net_dataplane_worker(dp, 0));
			net_worker_poll(net_dataplane_worker(dp, 1));
			if (p % 8 == 7)
				usleep(1000);
		}
	}
	CU_ASSERT_EQUAL(log.n, 32);
	for (unsigned i = 0; i < log.n; i++)
		for (unsigned j = 0; j < i; j++)
			if (log.sport[j] == log.sport[i])
				CU_ASSERT_EQUAL(log.worker[j], log.worker[i]);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	{
		struct net_counters c;
		net_dataplane_counters(dp, &c, NULL);
		CU_ASSERT(c.ctr[NET_CTR_ARP_REPLY_OUT] >= 1);
		CU_ASSERT_EQUAL(c.drop[NET_DROP_UDP_CSUM], 0);
		unsigned on1 = 0;
		for (unsigned i = 0; i < log.n; i++)
			on1 += log.worker[i] == 1;
		/* Which worker a flow lands on is the kernel's or the hash's choice: reported. */
		fprintf(stderr, "(%s: %u of %u datagrams on worker 1) ",
			pi->rx_mode == NET_RX_RSS ? "RSS" : "dispatch", on1, log.n);
	}
	net_dataplane_destroy(dp);
}

/* ---- net_tx_udp_burst: the same frames as net_tx_udp, datagram by datagram ---------------- */

#define BURST_N 70 /* more than one bulk allocation (64) */

static uint8_t bregion[8192]; /* payload bytes of the burst tests */

struct capture {
	unsigned n;
	uint16_t len[BURST_N + 8];
	uint8_t segs[BURST_N + 8];
	uint64_t ol_flags[BURST_N + 8];
	uint16_t l2_len[BURST_N + 8], l3_len[BURST_N + 8];
	uint8_t buf[BURST_N + 8][1600];
};
static struct capture cap_a, cap_b;

/* Everything the port sent, linearised, with the offload requests of each mbuf; the mbufs are
 * freed (the payloads released) as a NIC would. */
static void capture_all(struct rig *r, struct capture *c)
{
	struct rte_mbuf *m;
	int len;

	memset(c, 0, sizeof(*c));
	while (c->n < BURST_N + 8 && (len = take(r, 0, c->buf[c->n], sizeof(c->buf[0]), &m)) >= 0) {
		c->len[c->n] = (uint16_t)len;
		c->segs[c->n] = (uint8_t)m->nb_segs;
		c->ol_flags[c->n] = m->ol_flags;
		c->l2_len[c->n] = (uint16_t)m->l2_len;
		c->l3_len[c->n] = (uint16_t)m->l3_len;
		rte_pktmbuf_free(m);
		c->n++;
	}
}

static uint16_t payload_sum(const void *p, uint32_t len)
{
	uint32_t s = net_csum_add(0, p, len, false);

	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/* Checksums checked by DPDK's own functions, not ours: complete ones in software, the
 * pseudo-header sum (and an IPv4 checksum left 0) where the offload was asked for. */
static void check_frame_csums(const uint8_t *f, unsigned len, uint64_t ol_flags)
{
	const void *ip = f + NET_ETH_HLEN;
	bool v4 = pcdn_get_be16(f + 12) == NET_ETHERTYPE_IPV4;
	const uint8_t *u = f + NET_ETH_HLEN + (v4 ? NET_IPV4_HLEN : NET_IPV6_HLEN);
	uint16_t ph;

	CU_ASSERT_EQUAL(pcdn_get_be16(u + 4), len - (unsigned)(u - f));
	if (ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) {
		if (v4) {
			CU_ASSERT_EQUAL(pcdn_get_be16(f + 24), 0);
			ph = rte_ipv4_phdr_cksum(ip, 0);
		} else {
			ph = rte_ipv6_phdr_cksum(ip, 0);
		}
		CU_ASSERT_EQUAL(memcmp(u + 6, &ph, 2), 0);
		return;
	}
	if (v4) {
		CU_ASSERT_EQUAL(rte_ipv4_cksum(ip), 0);
		CU_ASSERT_EQUAL(rte_ipv4_udptcp_cksum_verify(ip, u), 0);
	} else {
		CU_ASSERT_EQUAL(rte_ipv6_udptcp_cksum_verify(ip, u), 0);
	}
	CU_ASSERT_NOT_EQUAL(pcdn_get_be16(u + 6), 0);
}

static struct net_counters ctr_delta(const struct net_counters *a, const struct net_counters *b)
{
	struct net_counters d;

	memset(&d, 0, sizeof(d)); /* the padding too: deltas are compared with memcmp */
	for (unsigned i = 0; i < NET_CTR_MAX; i++)
		d.ctr[i] = b->ctr[i] - a->ctr[i];
	for (unsigned i = 0; i < NET_DROP_MAX; i++)
		d.drop[i] = b->drop[i] - a->drop[i];
	return d;
}

/* A burst with every kind of datagram: odd and even header lengths, no payload, payloads with
 * and without a stored sum at odd and even addresses and lengths, one exactly at the MTU, one
 * above it (dropped in the middle) and one with a bad payload (-EINVAL). */
static unsigned burst_make(struct net_tx_dgram *d, struct net_payload *pl, bool v4,
			   unsigned *n_payloads)
{
	static const char hdrbytes[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned max_pl = 1500 - (v4 ? NET_IPV4_HLEN : NET_IPV6_HLEN) - NET_UDP_HLEN;

	*n_payloads = 0;
	for (unsigned i = 0; i < BURST_N; i++) {
		uint16_t hl = (uint16_t)((i * 7) % 23);
		uint32_t off = (i * 97) % 4000, len = 1 + (i * 131) % 1300;

		d[i] = (struct net_tx_dgram){.hdr = hdrbytes + i % 5, .hdr_len = hl};
		memset(&pl[i], 0, sizeof(pl[i]));
		if (i % 6 == 2)
			continue; /* header bytes only */
		if (i == 9)
			len = max_pl - hl; /* exactly at the MTU */
		if (i == 30 || i == 31)
			len = max_pl - hl + 1; /* one byte too many */
		pl[i] = (struct net_payload){.addr = bregion + off,
					     .iova = net_payload_iova(bregion + off),
					     .len = len,
					     .release = region_free,
					     .has_sum = i % 3 != 0};
		if (pl[i].has_sum)
			pl[i].sum = payload_sum(bregion + off, len);
		if (i == 40)
			pl[i].addr = NULL; /* the caller's bug: -EINVAL, released all the same */
		d[i].payload = &pl[i];
		(*n_payloads)++;
	}
	return BURST_N;
}

static void check_burst_same(struct rig *r, bool v4, bool offload, bool multiseg_ok)
{
	struct net_port_info *pi = (struct net_port_info *)r->pi; /* forcing the offload */
	struct net_worker *w = net_dataplane_worker(r->dp, 0);
	struct net_udp_tuple t = {.local = ip(v4 ? "10.0.0.2" : "fd00::2"),
				  .remote = ip(v4 ? "10.0.0.1" : "fd00::1"),
				  .local_port = PPSPP_PORT,
				  .remote_port = 4001};
	struct net_tx_dgram d[BURST_N];
	struct net_payload pl[BURST_N];
	struct net_counters c0, c1, c2, da, db;
	unsigned n, n_pl, ok_a = 0;
	int first_a = 0, rc_b;
	bool saved_off = pi->tx_udp_csum_offload, saved_ms = pi->tx_csum_multiseg_ok;

	pi->tx_udp_csum_offload = offload;
	pi->tx_csum_multiseg_ok = multiseg_ok;
	n = burst_make(d, pl, v4, &n_pl);
	/* Reference: net_tx_udp once per datagram. The IP IDs wrap around within the burst. */
	freed = 0;
	c0 = counters(r);
	w->ip_id = 0xffe0;
	for (unsigned i = 0; i < n; i++) {
		int rc = net_tx_udp(w, r->port, &t, d[i].hdr, d[i].hdr_len, d[i].payload);

		if (rc == 0)
			ok_a++;
		else if (!first_a)
			first_a = rc;
	}
	net_worker_flush(w);
	c1 = counters(r);
	capture_all(r, &cap_a);
	CU_ASSERT_EQUAL(freed, (int)n_pl);
	/* The burst, from the same IP ID. */
	freed = 0;
	w->ip_id = 0xffe0;
	rc_b = net_tx_udp_burst(w, r->port, &t, d, n);
	net_worker_flush(w);
	c2 = counters(r);
	capture_all(r, &cap_b);
	CU_ASSERT_EQUAL(freed, (int)n_pl);
	freed = 0;
	CU_ASSERT_EQUAL(first_a, -EMSGSIZE);
	CU_ASSERT_EQUAL(ok_a, n - 3); /* two above the MTU, one bad payload */
	CU_ASSERT_EQUAL(rc_b, (int)ok_a);
	da = ctr_delta(&c0, &c1);
	db = ctr_delta(&c1, &c2);
	CU_ASSERT_EQUAL(memcmp(&da, &db, sizeof(da)), 0);
	CU_ASSERT_EQUAL(db.ctr[NET_CTR_UDP_OUT], n - 3);
	CU_ASSERT_EQUAL(db.ctr[NET_CTR_TX_PACKETS], n - 3);
	CU_ASSERT_EQUAL(db.drop[NET_DROP_TX_TOO_BIG], 2);
	CU_ASSERT_EQUAL(cap_a.n, n - 3);
	CU_ASSERT_EQUAL_FATAL(cap_b.n, cap_a.n);
	for (unsigned k = 0; k < cap_b.n; k++) {
		const uint8_t *f = cap_b.buf[k];
		struct net_frame pf;

		CU_ASSERT_EQUAL(cap_b.len[k], cap_a.len[k]);
		CU_ASSERT_EQUAL(cap_b.segs[k], cap_a.segs[k]);
		CU_ASSERT_EQUAL(cap_b.ol_flags[k], cap_a.ol_flags[k]);
		CU_ASSERT_EQUAL(cap_b.l2_len[k], cap_a.l2_len[k]);
		CU_ASSERT_EQUAL(cap_b.l3_len[k], cap_a.l3_len[k]);
		if (memcmp(f, cap_a.buf[k], cap_b.len[k]) != 0) {
			fprintf(stderr, "frame %u differs (v%d offload %d multiseg %d)\n", k,
				v4 ? 4 : 6, offload, multiseg_ok);
			CU_FAIL("burst frame differs from net_tx_udp's");
		}
		CU_ASSERT_EQUAL(memcmp(f, peer_mac, 6), 0);
		if (v4) /* consecutive IDs, as the net_tx_udp calls used them */
			CU_ASSERT_EQUAL(pcdn_get_be16(f + 18), (uint16_t)(0xffe0 + k));
		check_frame_csums(f, cap_b.len[k], cap_b.ol_flags[k]);
		if (!(cap_b.ol_flags[k] & RTE_MBUF_F_TX_UDP_CKSUM))
			CU_ASSERT_EQUAL(net_frame_parse(f, cap_b.len[k], 0, &pf), NET_DROP_NONE);
	}
	/* Every datagram of the burst is there, in order, with its bytes. */
	for (unsigned i = 0, k = 0; i < n && k < cap_b.n; i++) {
		const uint8_t *u;

		if (i == 30 || i == 31 || i == 40)
			continue;
		u = cap_b.buf[k] + NET_ETH_HLEN + (v4 ? NET_IPV4_HLEN : NET_IPV6_HLEN);
		CU_ASSERT_EQUAL(cap_b.len[k], (unsigned)(u - cap_b.buf[k]) + NET_UDP_HLEN +
						  d[i].hdr_len +
						  (d[i].payload ? d[i].payload->len : 0));
		CU_ASSERT_EQUAL(memcmp(u + NET_UDP_HLEN, d[i].hdr, d[i].hdr_len), 0);
		if (d[i].payload)
			CU_ASSERT_EQUAL(memcmp(u + NET_UDP_HLEN + d[i].hdr_len, d[i].payload->addr,
					       d[i].payload->len),
					0);
		k++;
	}
	pi->tx_udp_csum_offload = saved_off;
	pi->tx_csum_multiseg_ok = saved_ms;
}

static void test_tx_burst_same_frames(void)
{
	struct rig r;
	uint8_t buf[256];
	struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");

	for (unsigned i = 0; i < sizeof(bregion); i++)
		bregion[i] = (uint8_t)(i * 37 + (i >> 8) + 11);
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	CU_ASSERT_FALSE(r.pi->tx_udp_csum_offload); /* net_ring: software checksums */
	/* The peer resolves us first, which teaches us its MAC. */
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	inject(&r, buf, (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
	poll_all(&r);
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* ARP reply */
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* NA */
	for (int fam = 0; fam < 2; fam++) {
		check_burst_same(&r, fam == 0, false, false); /* software checksums */
		check_burst_same(&r, fam == 0, true, false);  /* offload, chains in software */
		check_burst_same(&r, fam == 0, true, true);   /* offload for every datagram */
	}
	rig_free(&r);
}

/* Unresolved next hop: each datagram takes net_tx_udp's path (held up to the neighbour's queue,
 * the rest dropped) and the held ones leave when the peer answers. */
static void check_burst_unresolved(bool v4)
{
	struct rig r;
	struct net_worker *w;
	struct net_udp_tuple ta = {.local = ip(v4 ? "10.0.0.2" : "fd00::2"),
				   .remote = ip(v4 ? "10.0.0.7" : "fd00::7"),
				   .local_port = PPSPP_PORT,
				   .remote_port = 4000};
	struct net_udp_tuple tb = ta;
	struct net_tx_dgram d[BURST_N];
	struct net_payload pl[BURST_N];
	struct net_counters c0, c1, c2, da, db;
	uint8_t buf[2048];
	unsigned ok_a = 0, n_pl;
	int rc_b;

	tb.remote = ip(v4 ? "10.0.0.8" : "fd00::8");
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	burst_make(d, pl, v4, &n_pl); /* its first 6: a mix with and without payload */
	freed = 0;
	c0 = counters(&r);
	w->ip_id = 100;
	for (unsigned i = 0; i < 6; i++)
		ok_a += net_tx_udp(w, r.port, &ta, d[i].hdr, d[i].hdr_len, d[i].payload) == 0;
	c1 = counters(&r);
	w->ip_id = 100;
	rc_b = net_tx_udp_burst(w, r.port, &tb, d, 6);
	c2 = counters(&r);
	CU_ASSERT_EQUAL(ok_a, NET_NEIGH_PENDING);
	CU_ASSERT_EQUAL(rc_b, NET_NEIGH_PENDING);
	da = ctr_delta(&c0, &c1);
	db = ctr_delta(&c1, &c2);
	for (unsigned i = 0; i < NET_CTR_MAX; i++)
		if (da.ctr[i] != db.ctr[i])
			fprintf(stderr, "%s: %lu vs %lu\n", net_counter_name(i),
				(unsigned long)da.ctr[i], (unsigned long)db.ctr[i]);
	for (unsigned i = 0; i < NET_DROP_MAX; i++)
		if (da.drop[i] != db.drop[i])
			fprintf(stderr, "%s: %lu vs %lu\n", net_drop_name(i),
				(unsigned long)da.drop[i], (unsigned long)db.drop[i]);
	CU_ASSERT_EQUAL(memcmp(&da, &db, sizeof(da)), 0);
	CU_ASSERT_EQUAL(db.ctr[NET_CTR_NEIGH_HELD], NET_NEIGH_PENDING);
	CU_ASSERT_EQUAL(db.drop[NET_DROP_NEIGH_PENDING_FULL], 6 - NET_NEIGH_PENDING);
	CU_ASSERT_EQUAL(db.ctr[v4 ? NET_CTR_ARP_REQUEST_OUT : NET_CTR_ND_NS_OUT], 1);
	/* The dropped ones' payloads went at once (d[2] has none). */
	{
		unsigned dropped_pl = 0;
		for (unsigned i = NET_NEIGH_PENDING; i < 6; i++)
			dropped_pl += d[i].payload != NULL;
		CU_ASSERT_EQUAL(freed, (int)(2 * dropped_pl));
	}
	net_worker_flush(w);
	while (take(&r, 0, buf, sizeof(buf), NULL) >= 0) /* the two solicitations */
		;
	/* Both peers answer (an ARP request / NS of their own teaches us their MAC). */
	for (int k = 0; k < 2; k++) {
		const char *peer = v4 ? (k ? "10.0.0.8" : "10.0.0.7") : (k ? "fd00::8" : "fd00::7");
		struct net_ipaddr a = ip(peer), b = ip(v4 ? "10.0.0.2" : "fd00::2");

		inject(&r, buf,
		       (uint32_t)(v4 ? net_arp_request_build(buf, sizeof(buf), peer_mac, &a, &b)
				     : net_nd_ns_build(buf, sizeof(buf), peer_mac, &a, &b)));
	}
	poll_all(&r);
	capture_all(&r, &cap_a);
	{
		unsigned na = 0, nb = 0;
		uint8_t ua[NET_NEIGH_PENDING][64], ub[NET_NEIGH_PENDING][64];

		for (unsigned k = 0; k < cap_a.n; k++) {
			struct net_frame f;
			const uint8_t *u;

			CU_ASSERT_EQUAL_FATAL(net_frame_parse(cap_a.buf[k], cap_a.len[k], 0, &f),
					      NET_DROP_NONE);
			if (f.kind == NET_FRAME_ARP || f.proto != NET_IPPROTO_UDP)
				continue; /* our answers to the peers */
			CU_ASSERT_EQUAL(memcmp(f.eth_dst, peer_mac, 6), 0);
			check_frame_csums(cap_a.buf[k], cap_a.len[k], cap_a.ol_flags[k]);
			/* Everything after the IP addresses (UDP header but its checksum, bytes,
			 * IPv4 ID) is the same for the two peers. */
			u = cap_a.buf[k] + f.l4_off;
			if (f.dst.a[v4 ? 3 : 15] == 7 && na < NET_NEIGH_PENDING) {
				memcpy(ua[na], u, 6);
				memcpy(ua[na] + 6, u + 8, 58);
				if (v4)
					memcpy(ua[na] + 62, cap_a.buf[k] + 18, 2);
				na++;
			} else if (nb < NET_NEIGH_PENDING) {
				memcpy(ub[nb], u, 6);
				memcpy(ub[nb] + 6, u + 8, 58);
				if (v4)
					memcpy(ub[nb] + 62, cap_a.buf[k] + 18, 2);
				nb++;
			}
		}
		CU_ASSERT_EQUAL(na, NET_NEIGH_PENDING);
		CU_ASSERT_EQUAL(nb, NET_NEIGH_PENDING);
		CU_ASSERT_EQUAL(memcmp(ua, ub, sizeof(ua)), 0);
	}
	{
		unsigned n6 = 0; /* every payload of both runs released once, held ones included */
		for (unsigned i = 0; i < 6; i++)
			n6 += d[i].payload != NULL;
		CU_ASSERT_EQUAL(freed, (int)(2 * n6));
	}
	c2 = counters(&r);
	CU_ASSERT_EQUAL(c2.ctr[NET_CTR_NEIGH_RELEASED], 2 * NET_NEIGH_PENDING);
	freed = 0;
	rig_free(&r);
}

static void test_tx_burst_unresolved(void)
{
	check_burst_unresolved(true);
	check_burst_unresolved(false);
}

static void test_tx_burst_errors(void)
{
	struct rig r;
	struct net_worker *w;
	struct net_udp_tuple t = tuple4("192.0.2.1", 4000); /* no gateway: unroutable */
	struct net_payload pl[3];
	struct net_tx_dgram d[3];
	struct net_counters c;

	for (int i = 0; i < 3; i++) {
		pl[i] = (struct net_payload){.addr = bregion,
					     .iova = net_payload_iova(bregion),
					     .len = i == 1 ? 1600 : 100,
					     .release = region_free};
		d[i] = (struct net_tx_dgram){.hdr = "HDR", .hdr_len = 3, .payload = &pl[i]};
	}
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	freed = 0;
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 0), 0);
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 3), -ENETUNREACH);
	CU_ASSERT_EQUAL(freed, 3);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_NO_ROUTE], 2); /* as net_tx_udp: the big one is too big */
	CU_ASSERT_EQUAL(c.drop[NET_DROP_TX_TOO_BIG], 1);
	t.remote = ip("10.0.0.7");
	t.local = ip("10.0.0.3");
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 3), -EADDRNOTAVAIL);
	CU_ASSERT_EQUAL(freed, 6);
	t.local = ip("fd00::2");
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 3), -EINVAL); /* mixed families */
	CU_ASSERT_EQUAL(freed, 9);
	t.local = ip("10.0.0.2");
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, (uint16_t)(r.port + 1), &t, d, 3), -EINVAL);
	CU_ASSERT_EQUAL(freed, 12);
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, &d[1], 1), -EMSGSIZE);
	CU_ASSERT_EQUAL(freed, 13);
	c = counters(&r);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_TX_TOO_BIG], 2);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_UDP_OUT], 0);
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_NEIGH_HELD], 0);
	/* None sent: the error is the first datagram's. */
	pl[0].addr = NULL;
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 2), -EINVAL);
	d[2] = d[0]; /* too big, then a bad payload */
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, &d[1], 2), -EMSGSIZE);
	CU_ASSERT_EQUAL(freed, 17);
	freed = 0;
	rig_free(&r);
}

/* More payload datagrams than the payload pool has mbufs, none freed meanwhile (the port's
 * ring keeps them): the bulk allocation fails, the rest go one at a time until the pool is dry,
 * each datagram either sent or counted as no-mbuf, every payload released once. */
static void test_tx_burst_pool_dry(void)
{
	enum { N = 300 };
	static struct net_payload pl[N];
	static struct net_tx_dgram d[N];
	struct rig r;
	struct net_worker *w;
	struct net_udp_tuple t = tuple4("10.0.0.1", 4000);
	struct net_counters c;
	uint8_t buf[2048];
	struct rte_mbuf *m;
	int rc, frames = 0;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	learn_peer(&r, "10.0.0.1");
	for (int i = 0; i < N; i++) {
		pl[i] = (struct net_payload){.addr = bregion + i,
					     .iova = net_payload_iova(bregion + i),
					     .len = 200,
					     .release = region_free};
		d[i] = (struct net_tx_dgram){.hdr = "HD", .hdr_len = 2, .payload = &pl[i]};
	}
	freed = 0;
	rc = net_tx_udp_burst(w, r.port, &t, d, N);
	net_worker_flush(w);
	c = counters(&r);
	CU_ASSERT(rc > 100 && rc < N);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_NO_MBUF], (uint64_t)(N - rc));
	CU_ASSERT_EQUAL(c.ctr[NET_CTR_TX_PACKETS], (uint64_t)rc + 1);
	CU_ASSERT_EQUAL(freed, N - rc);
	while (take(&r, 0, buf, sizeof(buf), &m) >= 0) {
		struct net_frame f;

		CU_ASSERT_EQUAL(net_frame_parse(buf, m->pkt_len, 0, &f), NET_DROP_NONE);
		rte_pktmbuf_free(m);
		frames++;
	}
	CU_ASSERT_EQUAL(frames, rc);
	CU_ASSERT_EQUAL(freed, N);
	freed = 0;
	rig_free(&r);

	/* a ready payload mbuf when the header pool runs dry: the references taken for the
	 * datagrams that got no header are given back */
	rig_hdr_mbufs = 64;
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	rig_hdr_mbufs = 0;
	w = net_dataplane_worker(r.dp, 0);
	learn_peer(&r, "10.0.0.1");
	m = rte_pktmbuf_alloc(tpool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rte_pktmbuf_append(m, 200));
	for (int i = 0; i < N; i++) {
		pl[i] = (struct net_payload){
		    .addr = rte_pktmbuf_mtod(m, void *), .len = 200, .seg = m};
		d[i] = (struct net_tx_dgram){.hdr = "HD", .hdr_len = 2, .payload = &pl[i]};
	}
	rc = net_tx_udp_burst(w, r.port, &t, d, N);
	net_worker_flush(w);
	c = counters(&r);
	CU_ASSERT(rc >= 64 && rc < N);
	CU_ASSERT_EQUAL(c.drop[NET_DROP_NO_MBUF], (uint64_t)(N - rc));
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(m), 1 + rc);
	frames = 0;
	{
		struct rte_mbuf *f;
		while (take(&r, 0, buf, sizeof(buf), &f) >= 0) {
			rte_pktmbuf_free(f);
			frames++;
		}
	}
	CU_ASSERT_EQUAL(frames, rc);
	CU_ASSERT_EQUAL(rte_mbuf_refcnt_read(m), 1);
	rte_pktmbuf_free(m);
	rig_free(&r);
}

/* ---- TX header pool ------------------------------------------------------------------------ */

static uint8_t bighdr[400];

/* Where a sent datagram's header mbuf came from: a header that fits NET_TX_HDR_ROOM sits in a
 * small mbuf of the TX header pool right after the mbuf itself, a longer one in a packet mbuf. */
static void check_hdr_mbuf(struct rig *r, const struct rte_mbuf *m, unsigned hlen)
{
	if (hlen <= NET_TX_HDR_ROOM) {
		CU_ASSERT_PTR_EQUAL(m->pool, r->dp->hdr_pool);
		CU_ASSERT_EQUAL(m->data_off, 0);
		CU_ASSERT_PTR_EQUAL(rte_pktmbuf_mtod(m, const char *),
				    (const char *)m + sizeof(struct rte_mbuf));
	} else {
		CU_ASSERT_PTR_EQUAL(m->pool, r->dp->pool);
	}
}

/* Header lengths around the small mbuf's room, with and without payload, sent by net_tx_udp and
 * by net_tx_udp_burst: the same frames byte for byte from the pool their size picks, and mbufs
 * reused from the pool carry nothing of their previous datagram (offload requests, chain). */
static void check_hdr_sizes(struct rig *r, bool v4, bool offload)
{
	struct net_port_info *pi = (struct net_port_info *)r->pi;
	struct net_worker *w = net_dataplane_worker(r->dp, 0);
	struct net_udp_tuple t = {.local = ip(v4 ? "10.0.0.2" : "fd00::2"),
				  .remote = ip(v4 ? "10.0.0.1" : "fd00::1"),
				  .local_port = PPSPP_PORT,
				  .remote_port = 4002};
	unsigned base = NET_ETH_HLEN + (v4 ? NET_IPV4_HLEN : NET_IPV6_HLEN) + NET_UDP_HLEN;
	const uint16_t hls[] = {0,
				1,
				(uint16_t)(NET_TX_HDR_ROOM - base - 1),
				(uint16_t)(NET_TX_HDR_ROOM - base),
				(uint16_t)(NET_TX_HDR_ROOM - base + 1),
				300};
	enum { K = 2 * PCDN_ARRAY_SIZE(hls) };
	struct net_tx_dgram d[K];
	struct net_payload pl[K];
	static uint8_t fa[K][1600], fb[K][1600];
	int la[K], lb[K];
	struct rte_mbuf *m;

	pi->tx_udp_csum_offload = offload;
	pi->tx_csum_multiseg_ok = offload;
	for (unsigned i = 0; i < K; i++) {
		d[i] = (struct net_tx_dgram){.hdr = bighdr + i, .hdr_len = hls[i / 2]};
		if (i & 1) {
			pl[i] = (struct net_payload){.addr = bregion + 3 * i,
						     .iova = net_payload_iova(bregion + 3 * i),
						     .len = 500 + i,
						     .release = region_free};
			d[i].payload = &pl[i];
		}
	}
	freed = 0;
	w->ip_id = 7;
	for (unsigned i = 0; i < K; i++)
		CU_ASSERT_EQUAL(net_tx_udp(w, r->port, &t, d[i].hdr, d[i].hdr_len, d[i].payload),
				0);
	net_worker_flush(w);
	for (unsigned i = 0; i < K; i++) {
		la[i] = take(r, 0, fa[i], sizeof(fa[i]), &m);
		CU_ASSERT_EQUAL_FATAL(la[i], (int)(base + d[i].hdr_len + (i & 1 ? pl[i].len : 0)));
		check_hdr_mbuf(r, m, base + d[i].hdr_len);
		CU_ASSERT_EQUAL(m->nb_segs, i & 1 ? 2 : 1);
		CU_ASSERT_EQUAL(m->data_len, base + d[i].hdr_len);
		if (!offload) {
			CU_ASSERT_EQUAL(m->ol_flags, 0);
			CU_ASSERT_EQUAL(m->tx_offload, 0);
		} else {
			CU_ASSERT_EQUAL(m->l2_len, NET_ETH_HLEN);
		}
		if (!(i & 1))
			CU_ASSERT_PTR_NULL(m->next);
		check_frame_csums(fa[i], (unsigned)la[i], m->ol_flags);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(freed, K / 2);
	w->ip_id = 7;
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r->port, &t, d, K), K);
	net_worker_flush(w);
	for (unsigned i = 0; i < K; i++) {
		lb[i] = take(r, 0, fb[i], sizeof(fb[i]), &m);
		CU_ASSERT_EQUAL_FATAL(lb[i], la[i]);
		check_hdr_mbuf(r, m, base + d[i].hdr_len);
		CU_ASSERT_EQUAL(memcmp(fa[i], fb[i], (size_t)la[i]), 0);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(freed, K);
	freed = 0;
}

/* A small header pool: the sizes above from both pools, then the pool runs dry with every frame
 * still on the port: datagrams that need a header mbuf are dropped as no-mbuf (payload released
 * once), RX, replies and datagrams with long headers (packet mbufs) carry on, and once the port
 * gave the frames back every header mbuf is in the pool again. */
static void test_tx_hdr_pool(void)
{
	enum { N = 100 };
	static struct net_payload pl[N];
	static struct net_tx_dgram d[N];
	struct net_dataplane_config bad = {.n_workers = 1,
					   .mbufs = 1023,
					   .ext_mbufs = 255,
					   .tx_hdr_mbufs = 63,
					   .neigh_capacity = 64,
					   .socket_id = SOCKET_ID_ANY};
	struct net_udp_tuple t = tuple4("10.0.0.1", 4000);
	struct net_counters c0, c1;
	struct net_worker *w;
	struct rig r;
	uint8_t buf[2048];
	struct rte_mbuf *m;
	unsigned avail, stashed, frames = 0, arp_replies = 0;
	int rc;

	errno = 0;
	CU_ASSERT_PTR_NULL(net_dataplane_create(&bad)); /* fewer than 64 */
	CU_ASSERT_EQUAL(errno, EINVAL);
	for (unsigned i = 0; i < sizeof(bighdr); i++)
		bighdr[i] = (uint8_t)(i * 13 + 5);
	for (unsigned i = 0; i < sizeof(bregion); i++)
		bregion[i] = (uint8_t)(i * 29 + 3);
	rig_hdr_mbufs = 64;
	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	rig_hdr_mbufs = 0;
	CU_ASSERT_EQUAL(r.dp->hdr_pool->size, 64);
	w = net_dataplane_worker(r.dp, 0);
	{
		struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");

		inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
		inject(&r, buf,
		       (uint32_t)net_nd_ns_build(buf, sizeof(buf), peer_mac, &src, &target));
		poll_all(&r);
		CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* ARP reply */
		CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0); /* NA */
	}
	for (int round = 0; round < 2; round++)
		for (int fam = 0; fam < 2; fam++) {
			check_hdr_sizes(&r, fam == 0, true);
			check_hdr_sizes(&r, fam == 0, false);
		}
	/* Dry: all the header mbufs this lcore can reach, then more. */
	for (unsigned i = 0; i < N; i++) {
		pl[i] = (struct net_payload){.addr = bregion + i,
					     .iova = net_payload_iova(bregion + i),
					     .len = 100,
					     .release = region_free};
		d[i] = (struct net_tx_dgram){.hdr = "HD", .hdr_len = 2, .payload = &pl[i]};
	}
	avail = rte_mempool_avail_count(r.dp->hdr_pool);
	stashed = (unsigned)(w->hdr_stash.n - w->hdr_stash.next);
	CU_ASSERT_EQUAL(avail + stashed, 64);
	c0 = counters(&r);
	freed = 0;
	rc = net_tx_udp_burst(w, r.port, &t, d, N);
	c1 = counters(&r);
	CU_ASSERT_EQUAL(rc, (int)avail);
	CU_ASSERT_EQUAL(c1.drop[NET_DROP_NO_MBUF] - c0.drop[NET_DROP_NO_MBUF], N - avail);
	CU_ASSERT_EQUAL(freed, (int)(N - avail));
	/* net_tx_udp takes from the worker's stash first, then fails the same way. */
	for (unsigned i = 0; i < stashed; i++)
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "x", 1, NULL), 0);
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "x", 1, &pl[0]), -ENOBUFS);
	CU_ASSERT_EQUAL(freed, (int)(N - avail) + 1);
	/* A long header takes a packet mbuf; RX and replies use the packet pool too. */
	CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, bighdr, 300, &pl[1]), 0);
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	poll_all(&r);
	net_worker_flush(w);
	while (take(&r, 0, buf, sizeof(buf), &m) >= 0) {
		struct net_frame f;

		CU_ASSERT_EQUAL(net_frame_parse(buf, m->pkt_len, 0, &f), NET_DROP_NONE);
		if (f.kind == NET_FRAME_ARP)
			arp_replies++;
		else
			frames++;
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(arp_replies, 1);
	CU_ASSERT_EQUAL(frames, avail + stashed + 1);
	CU_ASSERT_EQUAL(freed, N + 2);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(r.dp->hdr_pool), 64);
	/* And it sends again. */
	CU_ASSERT_EQUAL(net_tx_udp_burst(w, r.port, &t, d, 8), 8);
	net_worker_flush(w);
	while (take(&r, 0, buf, sizeof(buf), NULL) >= 0)
		;
	freed = 0;
	rig_free(&r);
}

/* ---- payload shared info in the mbuf --------------------------------------------------------- */

static struct {
	unsigned n;
	void *ctx[32], *ref[32];
} rel_log;

static void rel_logged(void *ctx, void *ref)
{
	rel_log.ctx[rel_log.n] = ctx;
	rel_log.ref[rel_log.n] = ref;
	rel_log.n++;
}

/* Payloads with more distinct release contexts than there are callbacks to bind them to: the
 * first ones get their shared info in the payload mbuf's dynamic fields, the rest in its private
 * area, and every release runs once with its own context and ref. */
static void test_tx_ext_shinfo(void)
{
	enum { N = 12 };
	static int ctxs[N], refs[N];
	struct net_udp_tuple t = tuple4("10.0.0.1", 4000);
	struct net_payload pl[N];
	struct net_worker *w;
	struct rig r;
	uint8_t buf[2048];
	struct rte_mbuf *m;
	unsigned in_mbuf = 0, in_priv = 0;

	CU_ASSERT_EQUAL_FATAL(rig_make(&r, 1), 0);
	w = net_dataplane_worker(r.dp, 0);
	CU_ASSERT(r.dp->ext_shinfo_off >= 0); /* net_ring registers no dynamic field */
	learn_peer(&r, "10.0.0.1");
	memset(&rel_log, 0, sizeof(rel_log));
	for (unsigned i = 0; i < N; i++) {
		pl[i] = (struct net_payload){.addr = bregion + i,
					     .iova = net_payload_iova(bregion + i),
					     .len = 64,
					     .release = rel_logged,
					     .release_ctx = &ctxs[i],
					     .ref = &refs[i]};
		/* twice each: the second finds its pair again */
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "h", 1, &pl[i]), 0);
		CU_ASSERT_EQUAL(net_tx_udp(w, r.port, &t, "h", 1, &pl[i]), 0);
	}
	net_worker_flush(w);
	CU_ASSERT_EQUAL(rel_log.n, 0);
	for (unsigned i = 0; i < 2 * N; i++) {
		struct rte_mbuf *e;
		const char *sh;

		CU_ASSERT_EQUAL_FATAL(take(&r, 0, buf, sizeof(buf), &m), NET_ETH_HLEN +
									      NET_IPV4_HLEN +
									      NET_UDP_HLEN + 1 + 64);
		e = m->next;
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT(RTE_MBUF_HAS_EXTBUF(e) != 0);
		CU_ASSERT_EQUAL(memcmp(buf + NET_ETH_HLEN + NET_IPV4_HLEN + NET_UDP_HLEN + 1,
				       bregion + i / 2, 64),
				0);
		sh = (const char *)e->shinfo;
		if (sh == (const char *)e + r.dp->ext_shinfo_off)
			in_mbuf++;
		else if (sh == (const char *)rte_mbuf_to_priv(e))
			in_priv++;
		else
			CU_FAIL("shared info neither in the mbuf nor in its private area");
		rte_pktmbuf_free(m);
		CU_ASSERT_EQUAL_FATAL(rel_log.n, i + 1);
		CU_ASSERT_PTR_EQUAL(rel_log.ctx[i], &ctxs[i / 2]);
		CU_ASSERT_PTR_EQUAL(rel_log.ref[i], &refs[i / 2]);
		/* e went back to its pool as it came: its own (empty) buffer, direct */
		CU_ASSERT_PTR_EQUAL(e->buf_addr, rte_mbuf_to_priv(e) + e->priv_size);
	}
	CU_ASSERT_EQUAL(in_mbuf + in_priv, 2 * N);
	CU_ASSERT(in_mbuf >= 2);
	CU_ASSERT(in_priv >= 2 * (N - NET_REL_MAX));
	CU_ASSERT_EQUAL(rte_mempool_avail_count(r.dp->ext_pool) +
			    (unsigned)(w->ext_stash.n - w->ext_stash.next),
			r.dp->ext_pool->size);
	rig_free(&r);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned fails;

	(void)argc;
	/* A private network namespace: the tap test's interface and addresses vanish with us. */
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare(CLONE_NEWNET)");
		return 1;
	}
	if (system("ip link set lo up") != 0)
		return 1;
	if (ut_eal_init(argv[0], "pcdn_net_ut", "512") < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	tpool =
	    rte_pktmbuf_pool_create("peer", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!tpool || CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("net_dataplane", NULL, NULL);
	CU_add_test(s, "arp_reply", test_arp_reply);
	CU_add_test(s, "echo_v4_v6", test_echo);
	CU_add_test(s, "ns_na", test_ns_na);
	CU_add_test(s, "garbage_counted", test_garbage);
	CU_add_test(s, "udp_hook_extbuf_tx", test_udp_hook_extbuf);
	CU_add_test(s, "udp_extbuf_stored_sum", test_udp_extbuf_stored_sum);
	CU_add_test(s, "tx_frame", test_tx_frame);
	CU_add_test(s, "tx_resolve", test_tx_resolve);
	CU_add_test(s, "tx_burst_same_frames", test_tx_burst_same_frames);
	CU_add_test(s, "tx_burst_unresolved", test_tx_burst_unresolved);
	CU_add_test(s, "tx_burst_errors", test_tx_burst_errors);
	CU_add_test(s, "tx_burst_pool_dry", test_tx_burst_pool_dry);
	CU_add_test(s, "tx_hdr_pool", test_tx_hdr_pool);
	CU_add_test(s, "tx_ext_shinfo", test_tx_ext_shinfo);
	CU_add_test(s, "tx_seg_ready_mbuf", test_tx_seg);
	CU_add_test(s, "tx_seg_two_workers_references", test_tx_seg_two_workers);
	CU_add_test(s, "software_dispatch", test_dispatch);
	CU_add_test(s, "software_dispatch_two_queues", test_dispatch_two_queues);
	CU_add_test(s, "tx_hold_in_order_then_drop", test_tx_hold);
	CU_add_test(s, "tap_csum_offload_kernel_peer", test_tap_offload);
	CU_add_test(s, "tap_two_workers_flows", test_tap_two_workers);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	rte_mempool_free(tpool);
	ut_eal_done("pcdn_net_ut");
	return fails ? 1 : 0;
}
