/* CUnit suite "net" (DPDK part): the host stack and TX path on net_ring ports in process
 * (--no-huge). The test plays the peer: it puts frames on the port's RX rings, runs the workers'
 * poll loop on this thread, and reads what the port transmitted from its TX rings. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "net.h"
#include "pcdn_common.h"

#define PPSPP_PORT 6778

static struct rte_mempool *tpool; /* the peer's mbufs */
static const uint8_t peer_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
static unsigned rig_seq;

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
		r->tx[i] =
		    rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
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
	for (int fam = 0; fam < 2; fam++) {
		const char *peer = fam ? "fd00::1" : "10.0.0.1", *own = fam ? "fd00::2" : "10.0.0.2";
		static const char *hdrs[] = {"", "H", "HD", "HDR", "HDRXYZ0"};

		for (unsigned h = 0; h < 5; h++) {
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
	CU_ASSERT_EQUAL(freed, 2 * 5 * 3);
	freed = 0;
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
	inject(&r, buf, (uint32_t)arp_request(buf, "10.0.0.1", "10.0.0.2"));
	poll_all(&r);
	CU_ASSERT(take(&r, 0, buf, sizeof(buf), NULL) > 0);
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *eal[] = {argv[0], "--no-huge",	     "-m",   "512", "--no-pci", "-l",
		       "0",	"--log-level=error", prefix, NULL};
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
	snprintf(prefix, sizeof(prefix), "--file-prefix=pcdn_net_ut_%d", (int)getpid());
	if (rte_eal_init((int)PCDN_ARRAY_SIZE(eal) - 1, eal) < 0) {
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
	CU_add_test(s, "tx_resolve", test_tx_resolve);
	CU_add_test(s, "software_dispatch", test_dispatch);
	CU_add_test(s, "software_dispatch_two_queues", test_dispatch_two_queues);
	CU_add_test(s, "tap_csum_offload_kernel_peer", test_tap_offload);
	CU_add_test(s, "tap_two_workers_flows", test_tap_two_workers);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	rte_mempool_free(tpool);
	rte_eal_cleanup();
	snprintf(prefix, sizeof(prefix), "/var/run/dpdk/pcdn_net_ut_%d", (int)getpid());
	nftw(prefix, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return fails ? 1 : 0;
}
