/* CUnit suite "net" (pure part, no DPDK): checksums against a byte-by-byte reference, addresses,
 * parse/build round trips for ARP, UDP over IPv4/IPv6, ICMP/ICMPv6 echo, NS->NA, validation
 * failures, truncated and random frames, flow hashing, the neighbour cache and counter names. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "pcdn_common.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* RFC 1071 done the slow, obvious way. */
static uint16_t ref_csum(const uint8_t *b, size_t len, uint32_t start)
{
	uint64_t sum = start;

	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(b[i] << 8) | (i + 1 < len ? b[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};

static struct net_ipaddr ip(const char *s)
{
	struct net_ipaddr a;

	CU_ASSERT_EQUAL_FATAL(net_ipaddr_parse(s, &a, NULL), 0);
	return a;
}

static void test_csum(void)
{
	uint8_t buf[301];
	/* Wikipedia's IPv4 header example: checksum 0xb861. */
	static const uint8_t hdr[20] = {0x45, 0,    0,	  0x73, 0, 0, 0x40, 0,	  0x40, 0x11,
					0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0,	0xc7};

	CU_ASSERT_EQUAL(net_ipv4_hdr_csum(hdr, 20), 0xb861);
	CU_ASSERT_EQUAL(net_csum_fold(net_csum_add(0, hdr, 20, false)), 0);
	for (int round = 0; round < 300; round++) {
		size_t len = rnd() % sizeof(buf), cut;
		uint32_t sum;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd();
		CU_ASSERT_EQUAL(net_csum_fold(net_csum_add(0, buf, len, false)),
				ref_csum(buf, len, 0));
		/* Split in two pieces at any offset, odd ones included. */
		cut = len ? rnd() % (len + 1) : 0;
		sum = net_csum_add(0, buf, cut, false);
		sum = net_csum_add(sum, buf + cut, len - cut, cut & 1);
		CU_ASSERT_EQUAL(net_csum_fold(sum), ref_csum(buf, len, 0));
	}
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(net_csum_fold(net_csum_add(0, buf, sizeof(buf), false)),
			ref_csum(buf, sizeof(buf), 0));
}

static void test_addr(void)
{
	struct net_iface ifc = {.mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
	struct net_ipaddr a, nh, src, g;
	uint8_t plen, gmac[6];
	char s[64];

	CU_ASSERT_EQUAL(net_ipaddr_parse("10.1.2.3/24", &a, &plen), 0);
	CU_ASSERT_EQUAL(plen, 24);
	CU_ASSERT_EQUAL(net_iface_add(&ifc, &a, plen), 0);
	CU_ASSERT_EQUAL(net_iface_add(&ifc, &a, plen), -EEXIST);
	CU_ASSERT_EQUAL(net_ipaddr_parse("fd00::2/64", &a, &plen), 0);
	CU_ASSERT_EQUAL(net_iface_add(&ifc, &a, plen), 0);
	CU_ASSERT_EQUAL(net_ipaddr_parse("10.1.2.3/33", &a, &plen), -EINVAL);
	CU_ASSERT_EQUAL(net_ipaddr_parse("10.1.2/8", &a, &plen), -EINVAL);
	CU_ASSERT_EQUAL(net_ipaddr_parse("10.1.2.3/", &a, &plen), -EINVAL);
	CU_ASSERT_EQUAL(net_ipaddr_parse("10.1.2.3/8", &a, NULL), -EINVAL);
	CU_ASSERT_EQUAL(net_iface_add_link_local(&ifc), 0);
	CU_ASSERT_STRING_EQUAL(net_ipaddr_format(&ifc.addrs[2].addr, s, sizeof(s)),
			       "fe80::11:22ff:fe33:4455");
	a = ip("10.1.2.77");
	CU_ASSERT_EQUAL(net_iface_next_hop(&ifc, &a, &nh), 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&nh, &a));
	a = ip("192.0.2.1");
	CU_ASSERT_EQUAL(net_iface_next_hop(&ifc, &a, &nh), -ENETUNREACH);
	ifc.gw4 = ip("10.1.2.1");
	CU_ASSERT_EQUAL(net_iface_next_hop(&ifc, &a, &nh), 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&nh, &ifc.gw4));
	a = ip("2001:db8::1");
	CU_ASSERT_EQUAL(net_iface_source_for(&ifc, &a, &src), 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&src, &ifc.addrs[1].addr)); /* global before link-local */
	a = ip("fe80::1");
	CU_ASSERT_EQUAL(net_iface_source_for(&ifc, &a, &src), 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&src, &ifc.addrs[2].addr));
	a = ip("fd00::2");
	net_solicited_node(&a, &g, gmac);
	CU_ASSERT_STRING_EQUAL(net_ipaddr_format(&g, s, sizeof(s)), "ff02::1:ff00:2");
	CU_ASSERT_EQUAL(gmac[0], 0x33);
	CU_ASSERT_EQUAL(gmac[2], 0xff);
	CU_ASSERT_EQUAL(gmac[5], 0x02);
	CU_ASSERT_TRUE(net_iface_accepts_ip6(&ifc, &g));
	g = ip("ff02::1");
	CU_ASSERT_TRUE(net_iface_accepts_ip6(&ifc, &g));
	g = ip("ff02::1:ff00:3");
	CU_ASSERT_FALSE(net_iface_accepts_ip6(&ifc, &g));
	g = ip("fd00::3");
	CU_ASSERT_FALSE(net_iface_accepts_ip6(&ifc, &g));
}

static void test_arp(void)
{
	uint8_t buf[128];
	struct net_frame f, r;
	struct net_ipaddr a = ip("10.0.0.1"), b = ip("10.0.0.2");
	int len = net_arp_request_build(buf, sizeof(buf), mac_a, &a, &b);

	CU_ASSERT_EQUAL_FATAL(len, NET_ARP_FRAME_LEN);
	CU_ASSERT_EQUAL(buf[0], 0xff); /* broadcast */
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_ARP);
	CU_ASSERT_EQUAL(f.arp_op, 1);
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.src, &a));
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.dst, &b));
	CU_ASSERT_EQUAL(memcmp(f.arp_sha, mac_a, 6), 0);
	/* The reply is built over the request, as the stack does in the RX mbuf. */
	len = net_arp_reply_build(buf, sizeof(buf), &f, mac_b);
	CU_ASSERT_EQUAL_FATAL(len, NET_ARP_FRAME_LEN);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_NONE);
	CU_ASSERT_EQUAL(r.arp_op, 2);
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.src, &b));
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.dst, &a));
	CU_ASSERT_EQUAL(memcmp(r.arp_sha, mac_b, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r.arp_tha, mac_a, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r.eth_dst, mac_a, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r.eth_src, mac_b, 6), 0);
	CU_ASSERT_EQUAL(net_arp_reply_build(buf, 41, &f, mac_b), -ENOSPC);
	buf[NET_ETH_HLEN + 4] = 8; /* hardware length 8 */
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_ARP_MALFORMED);
	CU_ASSERT_EQUAL(net_frame_parse(buf, 30, 0, &r), NET_DROP_ARP_MALFORMED);
}

/* A UDP datagram with its checksum, as a sender would make it. */
static int make_udp(uint8_t *buf, size_t cap, const char *src, const char *dst, uint16_t sport,
		    uint16_t dport, const uint8_t *pl, uint32_t plen)
{
	struct net_udp_tuple t = {
	    .local = ip(src), .remote = ip(dst), .local_port = sport, .remote_port = dport};
	int hl = net_udp_build(buf, cap, &t, mac_a, mac_b, 7, plen, 0);

	if (hl < 0)
		return hl;
	memcpy(buf + hl, pl, plen);
	net_udp_csum_finish(buf, &t,
			    net_csum_add(0, buf + hl - NET_UDP_HLEN, NET_UDP_HLEN + plen, false),
			    NET_UDP_HLEN + plen);
	return hl + (int)plen;
}

static void test_udp(void)
{
	uint8_t buf[256], pl[37];
	struct net_frame f;
	int len;

	for (unsigned i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7);
	len = make_udp(buf, sizeof(buf), "10.0.0.1", "10.0.0.2", 1234, 6778, pl, sizeof(pl));
	CU_ASSERT_EQUAL_FATAL(len, 42 + 37);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV4);
	CU_ASSERT_EQUAL(f.proto, NET_IPPROTO_UDP);
	CU_ASSERT_EQUAL(f.sport, 1234);
	CU_ASSERT_EQUAL(f.dport, 6778);
	CU_ASSERT_EQUAL(f.payload_len, sizeof(pl));
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off, pl, sizeof(pl)), 0);
	CU_ASSERT_EQUAL(net_ipv4_hdr_csum(buf + 14, 20), pcdn_get_be16(buf + 24));
	/* Ethernet padding after the IP packet is ignored. */
	memset(buf + len, 0, 20);
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len + 20, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.frame_len, (uint32_t)len);
	buf[len - 1] ^= 1;
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_UDP_CSUM);
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, NET_PARSE_L4_CSUM_GOOD, &f),
			NET_DROP_NONE);
	buf[40] = buf[41] = 0; /* no checksum: allowed on IPv4 */
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	buf[24] ^= 0x10;
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV4_CSUM);
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, NET_PARSE_L3_CSUM_GOOD, &f),
			NET_DROP_NONE);

	len = make_udp(buf, sizeof(buf), "fd00::1", "fd00::2", 40000, 6778, pl, sizeof(pl));
	CU_ASSERT_EQUAL_FATAL(len, 62 + 37);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.kind, NET_FRAME_IPV6);
	CU_ASSERT_EQUAL(f.sport, 40000);
	CU_ASSERT_EQUAL(memcmp(buf + f.payload_off, pl, sizeof(pl)), 0);
	buf[60] = buf[61] = 0; /* RFC 8200 §8.1: zero UDP checksum is invalid over IPv6 */
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_UDP_CSUM);
	/* UDP length beyond the IP payload */
	len = make_udp(buf, sizeof(buf), "fd00::1", "fd00::2", 1, 2, pl, 0);
	buf[58] = 0;
	buf[59] = 9;
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_UDP_MALFORMED);
}

static void test_echo(void)
{
	uint8_t buf[256];
	struct net_frame f, r;
	struct net_udp_tuple t4 = {.local = ip("10.0.0.1"), .remote = ip("10.0.0.2")};
	struct net_udp_tuple t6 = {.local = ip("fd00::1"), .remote = ip("fd00::2")};
	int hl, len;

	/* IPv4 echo request: reuse the UDP builder for the IP header, then make it ICMP. */
	hl = net_udp_build(buf, sizeof(buf), &t4, mac_a, mac_b, 1, 24, 0) - NET_UDP_HLEN;
	buf[14 + 9] = NET_IPPROTO_ICMP;
	buf[24] = buf[25] = 0;
	pcdn_put_be16(buf + 24, net_ipv4_hdr_csum(buf + 14, 20));
	memset(buf + hl, 0, 32);
	buf[hl] = 8;
	for (int i = 8; i < 32; i++)
		buf[hl + i] = (uint8_t)i;
	pcdn_put_be16(buf + hl + 2, ref_csum(buf + hl, 32, 0));
	len = hl + 32;
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.icmp_type, 8);
	CU_ASSERT_EQUAL(net_echo_reply_inplace(buf, &f, mac_b), len);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_NONE);
	CU_ASSERT_EQUAL(r.icmp_type, 0);
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.src, &f.dst));
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.dst, &f.src));
	CU_ASSERT_EQUAL(memcmp(r.eth_dst, f.eth_src, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r.eth_src, mac_b, 6), 0);
	CU_ASSERT_EQUAL(buf[hl + 20], 20); /* data echoed */
	CU_ASSERT_EQUAL(ref_csum(buf + hl, 32, 0), 0);
	buf[hl + 31] ^= 0x55;
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_ICMP_CSUM);

	/* IPv6 echo request with its pseudo-header checksum computed by the reference. */
	hl = net_udp_build(buf, sizeof(buf), &t6, mac_a, mac_b, 1, 24, 0) - NET_UDP_HLEN;
	buf[14 + 6] = NET_IPPROTO_ICMPV6;
	memset(buf + hl, 0, 32);
	buf[hl] = 128;
	for (int i = 8; i < 32; i++)
		buf[hl + i] = (uint8_t)(100 + i);
	{
		uint8_t ph[40 + 32];
		memcpy(ph, buf + 22, 32); /* source and destination */
		memset(ph + 32, 0, 8);
		ph[35] = 32; /* upper-layer length */
		ph[39] = NET_IPPROTO_ICMPV6;
		memcpy(ph + 40, buf + hl, 32);
		pcdn_put_be16(buf + hl + 2, ref_csum(ph, sizeof(ph), 0));
	}
	len = hl + 32;
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.icmp_type, 128);
	CU_ASSERT_EQUAL(net_echo_reply_inplace(buf, &f, mac_b), len);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_NONE);
	CU_ASSERT_EQUAL(r.icmp_type, 129);
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.src, &f.dst));
	CU_ASSERT_EQUAL(buf[hl + 20], 120);
}

static void test_nd(void)
{
	uint8_t buf[256];
	struct net_frame f, r;
	struct net_ipaddr src = ip("fd00::1"), target = ip("fd00::2");
	int len = net_nd_ns_build(buf, sizeof(buf), mac_a, &src, &target);
	char s[64];

	CU_ASSERT_EQUAL_FATAL(len, NET_ND_FRAME_LEN);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
	CU_ASSERT_EQUAL(f.icmp_type, 135);
	CU_ASSERT_STRING_EQUAL(net_ipaddr_format(&f.dst, s, sizeof(s)), "ff02::1:ff00:2");
	CU_ASSERT_EQUAL(f.eth_dst[0], 0x33);
	CU_ASSERT_TRUE(net_ipaddr_equal(&f.nd_target, &target));
	CU_ASSERT_TRUE(f.nd_has_lladdr);
	CU_ASSERT_EQUAL(memcmp(f.nd_lladdr, mac_a, 6), 0);
	len = net_nd_na_reply_build(buf, sizeof(buf), &f, mac_b);
	CU_ASSERT_EQUAL_FATAL(len, NET_ND_FRAME_LEN);
	CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_NONE);
	CU_ASSERT_EQUAL(r.icmp_type, 136);
	CU_ASSERT_EQUAL(r.nd_flags, NET_ND_FLAG_SOLICITED | NET_ND_FLAG_OVERRIDE);
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.nd_target, &target));
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.src, &target));
	CU_ASSERT_TRUE(net_ipaddr_equal(&r.dst, &src));
	CU_ASSERT_TRUE(r.nd_has_lladdr);
	CU_ASSERT_EQUAL(memcmp(r.nd_lladdr, mac_b, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r.eth_dst, mac_a, 6), 0);

	/* Hop limit other than 255: not from the link (RFC 4861 §7.1.1). */
	len = net_nd_ns_build(buf, sizeof(buf), mac_a, &src, &target);
	buf[14 + 7] = 254;
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_ND_MALFORMED);
	/* An option of length 0 (checksum fixed so only the option is wrong). */
	len = net_nd_ns_build(buf, sizeof(buf), mac_a, &src, &target);
	buf[14 + 40 + 25] = 0;
	buf[14 + 40 + 2] = buf[14 + 40 + 3] = 0;
	{
		uint32_t sum = net_pseudo_sum(&src, &f.dst, NET_IPPROTO_ICMPV6, 32);
		net_ipaddr_parse("ff02::1:ff00:2", &f.dst, NULL);
		sum = net_pseudo_sum(&src, &f.dst, NET_IPPROTO_ICMPV6, 32);
		pcdn_put_be16(buf + 14 + 40 + 2,
			      net_csum_fold(net_csum_add(sum, buf + 54, 32, false)));
	}
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_ND_MALFORMED);

	/* DAD: NS from the unspecified address, answered to all-nodes without S. */
	{
		struct net_ipaddr unspec = ip("::");
		len = net_nd_ns_build(buf, sizeof(buf), mac_a, &unspec, &target);
		/* drop the source link-layer option, as DAD requires (§7.1.1) */
		buf[14 + 5] = 24;
		buf[54 + 2] = buf[54 + 3] = 0;
		net_ipaddr_parse("ff02::1:ff00:2", &f.dst, NULL);
		pcdn_put_be16(buf + 56, net_csum_fold(net_csum_add(
					    net_pseudo_sum(&unspec, &f.dst, NET_IPPROTO_ICMPV6, 24),
					    buf + 54, 24, false)));
		len -= 8;
		CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_NONE);
		CU_ASSERT_FALSE(f.nd_has_lladdr);
		len = net_nd_na_reply_build(buf, sizeof(buf), &f, mac_b);
		CU_ASSERT_EQUAL_FATAL(net_frame_parse(buf, (uint32_t)len, 0, &r), NET_DROP_NONE);
		CU_ASSERT_STRING_EQUAL(net_ipaddr_format(&r.dst, s, sizeof(s)), "ff02::1");
		CU_ASSERT_EQUAL(r.nd_flags, NET_ND_FLAG_OVERRIDE);
	}
}

static void test_bad_frames(void)
{
	uint8_t buf[256] = {0}, copy[256];
	struct net_frame f;
	uint8_t pl[10] = {0};
	int len;

	CU_ASSERT_EQUAL(net_frame_parse(buf, 0, 0, &f), NET_DROP_RUNT);
	CU_ASSERT_EQUAL(net_frame_parse(buf, 13, 0, &f), NET_DROP_RUNT);
	len = make_udp(buf, sizeof(buf), "10.0.0.1", "10.0.0.2", 1, 2, pl, sizeof(pl));
	/* Every truncation inside the IP packet is refused, never over-read (ASan run). */
	for (int n = 0; n < len; n++) {
		uint8_t *t = malloc((size_t)n + 1);
		memcpy(t, buf, (size_t)n);
		CU_ASSERT_NOT_EQUAL(net_frame_parse(t, (uint32_t)n, 0, &f), NET_DROP_NONE);
		free(t);
	}
	memcpy(copy, buf, (size_t)len);
	copy[14] = 0x44; /* IHL 4 */
	CU_ASSERT_EQUAL(net_frame_parse(copy, (uint32_t)len, 0, &f), NET_DROP_IPV4_MALFORMED);
	memcpy(copy, buf, (size_t)len);
	copy[14] = 0x65; /* version 6 in an IPv4 ethertype */
	CU_ASSERT_EQUAL(net_frame_parse(copy, (uint32_t)len, 0, &f), NET_DROP_IPV4_MALFORMED);
	memcpy(copy, buf, (size_t)len);
	copy[20] = 0x20; /* more fragments */
	copy[24] = copy[25] = 0;
	pcdn_put_be16(copy + 24, net_ipv4_hdr_csum(copy + 14, 20));
	CU_ASSERT_EQUAL(net_frame_parse(copy, (uint32_t)len, 0, &f), NET_DROP_IPV4_FRAGMENT);
	memcpy(copy, buf, (size_t)len);
	copy[23] = 6; /* TCP */
	copy[24] = copy[25] = 0;
	pcdn_put_be16(copy + 24, net_ipv4_hdr_csum(copy + 14, 20));
	CU_ASSERT_EQUAL(net_frame_parse(copy, (uint32_t)len, 0, &f), NET_DROP_IP_PROTO);
	memcpy(copy, buf, (size_t)len);
	copy[12] = 0x81; /* VLAN tag */
	copy[13] = 0x00;
	CU_ASSERT_EQUAL(net_frame_parse(copy, (uint32_t)len, 0, &f), NET_DROP_ETHERTYPE);
	/* A multicast or broadcast source is invalid (RFC 1122 §3.2.1.3, RFC 4291 §2.7): an
	 * echo or ND reply to it would go to a group (the frame fuzzer found an NS from ff00::1
	 * whose NA our own parser then refused). */
	len = make_udp(buf, sizeof(buf), "224.0.0.1", "10.0.0.2", 1, 2, pl, sizeof(pl));
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV4_MALFORMED);
	len = make_udp(buf, sizeof(buf), "255.255.255.255", "10.0.0.2", 1, 2, pl, sizeof(pl));
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV4_MALFORMED);
	len = make_udp(buf, sizeof(buf), "ff02::1", "fd00::2", 1, 2, pl, sizeof(pl));
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV6_MALFORMED);
	{
		struct net_ipaddr mc = ip("ff00::1"), target = ip("fd00::2");
		len = net_nd_ns_build(buf, sizeof(buf), mac_a, &mc, &target);
		CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV6_MALFORMED);
	}
	len = make_udp(buf, sizeof(buf), "fd00::1", "fd00::2", 1, 2, pl, sizeof(pl));
	buf[14 + 6] = 44; /* fragment header */
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV6_EXT_HEADER);
	buf[14 + 4] = 0x7f; /* payload length beyond the frame */
	CU_ASSERT_EQUAL(net_frame_parse(buf, (uint32_t)len, 0, &f), NET_DROP_IPV6_MALFORMED);
	/* Random frames with plausible ethertypes: any verdict, no crash, no over-read. */
	for (int round = 0; round < 20000; round++) {
		uint32_t n = rnd() % 120;
		uint8_t *t = malloc(n + 1);
		static const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x1234};
		for (uint32_t i = 0; i < n; i++)
			t[i] = (uint8_t)rnd();
		if (n >= 14) {
			pcdn_put_be16(t + 12, types[rnd() % 4]);
			if (n > 14)
				t[14] = (uint8_t)(t[12] == 0x08 ? 0x45 : 0x60);
		}
		(void)net_frame_parse(t, n, rnd() & 3, &f);
		free(t);
	}
}

static void test_flow_hash(void)
{
	uint8_t a[128], b[128];
	uint8_t pl[4] = {1, 2, 3, 4};
	uint32_t ha, hb, hc;
	int la = make_udp(a, sizeof(a), "10.0.0.1", "10.0.0.2", 1000, 6778, pl, 4);
	int lb = make_udp(b, sizeof(b), "10.0.0.1", "10.0.0.2", 1000, 6778, pl, 2);

	CU_ASSERT_EQUAL(net_frame_flow_hash(a, (uint32_t)la, &ha), 0);
	CU_ASSERT_EQUAL(net_frame_flow_hash(b, (uint32_t)lb, &hb), 0);
	CU_ASSERT_EQUAL(ha, hb);
	lb = make_udp(b, sizeof(b), "10.0.0.1", "10.0.0.2", 1001, 6778, pl, 4);
	CU_ASSERT_EQUAL(net_frame_flow_hash(b, (uint32_t)lb, &hc), 0);
	CU_ASSERT_NOT_EQUAL(ha, hc);
	la = make_udp(a, sizeof(a), "fd00::1", "fd00::2", 1000, 6778, pl, 4);
	CU_ASSERT_EQUAL(net_frame_flow_hash(a, (uint32_t)la, &ha), 0);
	la = net_arp_request_build(a, sizeof(a), mac_a, &(struct net_ipaddr){.family = 4},
				   &(struct net_ipaddr){.family = 4});
	CU_ASSERT_EQUAL(net_frame_flow_hash(a, (uint32_t)la, &ha), -1);
	CU_ASSERT_EQUAL(net_frame_flow_hash(a, 20, &ha), -1);
}

static void count_release(void *pkt, void *ctx)
{
	(void)pkt;
	(*(int *)ctx)++;
}

static void test_neigh(void)
{
	struct net_neigh_config cfg = {.reachable_ns = 1000, .retrans_ns = 100, .max_probes = 3};
	struct net_neigh_table *t = net_neigh_create(16, &cfg);
	struct net_ipaddr a = ip("10.0.0.9"), b = ip("fd00::9");
	struct net_ipaddr resol[4];
	void *rel[NET_NEIGH_PENDING], *dropped[8];
	int p[8], released = 0;
	uint8_t mac[6];
	bool solicit, learned;
	struct net_neigh_timer_out out = {
	    .resolicit = resol, .max_resolicit = 4, .dropped = dropped, .max_dropped = 8};

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &a, 0, mac), -ENOENT);
	CU_ASSERT_EQUAL(net_neigh_hold(t, &a, 0, &p[0], &solicit), 0);
	CU_ASSERT_TRUE(solicit);
	CU_ASSERT_EQUAL(net_neigh_hold(t, &a, 1, &p[1], &solicit), 0);
	CU_ASSERT_FALSE(solicit);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &a, 1, mac), -ENOENT);
	CU_ASSERT_EQUAL(net_neigh_update(t, &a, mac_a, 5, false, rel, &learned), 2);
	CU_ASSERT_TRUE(learned);
	CU_ASSERT_PTR_EQUAL(rel[0], &p[0]);
	CU_ASSERT_PTR_EQUAL(rel[1], &p[1]);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &a, 500, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, mac_a, 6), 0);
	CU_ASSERT_EQUAL(net_neigh_update(t, &a, mac_a, 6, false, rel, &learned), 0);
	CU_ASSERT_FALSE(learned);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &a, 1006, mac), -ENOENT); /* expired */
	/* create=false never adds (RFC 4861 §7.2.5 for NA), create=true does (RFC 826). */
	CU_ASSERT_EQUAL(net_neigh_update(t, &b, mac_b, 10, false, rel, &learned), 0);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &b, 10, mac), -ENOENT);
	net_neigh_update(t, &b, mac_b, 10, true, rel, &learned);
	CU_ASSERT_EQUAL(net_neigh_lookup(t, &b, 10, mac), 0);
	/* Unanswered: re-solicited max_probes-1 times, then the held packets are dropped. */
	CU_ASSERT_EQUAL(net_neigh_hold(t, &a, 2000, &p[2], &solicit), 0);
	CU_ASSERT_TRUE(solicit);
	for (int i = 0; i < NET_NEIGH_PENDING - 1; i++)
		CU_ASSERT_EQUAL(net_neigh_hold(t, &a, 2000, &p[3], &solicit), 0);
	CU_ASSERT_EQUAL(net_neigh_hold(t, &a, 2000, &p[4], &solicit), -ENOBUFS);
	net_neigh_timer(t, 2050, &out);
	CU_ASSERT_EQUAL(out.n_resolicit, 0);
	net_neigh_timer(t, 2100, &out);
	CU_ASSERT_EQUAL(out.n_resolicit, 1);
	CU_ASSERT_TRUE(net_ipaddr_equal(&resol[0], &a));
	net_neigh_timer(t, 2200, &out);
	CU_ASSERT_EQUAL(out.n_resolicit, 1);
	CU_ASSERT_EQUAL(out.n_dropped, 0);
	net_neigh_timer(t, 2300, &out);
	CU_ASSERT_EQUAL(out.n_resolicit, 0);
	CU_ASSERT_EQUAL(out.n_dropped, NET_NEIGH_PENDING);
	CU_ASSERT_PTR_EQUAL(dropped[0], &p[2]);
	/* b expired at 1010 and is swept. */
	CU_ASSERT_EQUAL(net_neigh_count(t), 0);
	/* A full table keeps entries that hold packets. */
	for (int i = 0; i < 64; i++) {
		struct net_ipaddr x = a;
		x.a[3] = (uint8_t)i;
		net_neigh_update(t, &x, mac_a, 3000, true, rel, &learned);
	}
	CU_ASSERT(net_neigh_count(t) <= 16);
	CU_ASSERT_EQUAL(net_neigh_hold(t, &b, 3001, &p[5], &solicit), 0);
	net_neigh_destroy(t, count_release, &released);
	CU_ASSERT_EQUAL(released, 1);
}

static void test_counter_names(void)
{
	struct net_counters c[2] = {0}, s;

	for (unsigned i = 0; i < NET_CTR_MAX; i++) {
		CU_ASSERT(strlen(net_counter_name(i)) > 0);
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT(strcmp(net_counter_name(i), net_counter_name(j)) != 0);
	}
	for (unsigned i = 1; i < NET_DROP_MAX; i++) {
		CU_ASSERT(strlen(net_drop_name(i)) > 0);
		for (unsigned j = 1; j < i; j++)
			CU_ASSERT(strcmp(net_drop_name(i), net_drop_name(j)) != 0);
	}
	CU_ASSERT_STRING_EQUAL(net_drop_name(NET_DROP_PPSPP_NO_ENGINE), "ppspp_no_engine");
	net_ctr_add(&c[0], NET_CTR_RX_PACKETS, 3);
	net_ctr_add(&c[1], NET_CTR_RX_PACKETS, 4);
	net_drop_add(&c[1], NET_DROP_RUNT, 2);
	net_counters_sum(c, 2, &s);
	CU_ASSERT_EQUAL(s.ctr[NET_CTR_RX_PACKETS], 7);
	CU_ASSERT_EQUAL(net_counters_drops_total(&s), 2);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("net_proto", NULL, NULL);
	CU_add_test(s, "csum", test_csum);
	CU_add_test(s, "addr", test_addr);
	CU_add_test(s, "arp", test_arp);
	CU_add_test(s, "udp", test_udp);
	CU_add_test(s, "echo", test_echo);
	CU_add_test(s, "nd", test_nd);
	CU_add_test(s, "bad_frames", test_bad_frames);
	CU_add_test(s, "flow_hash", test_flow_hash);
	CU_add_test(s, "neigh", test_neigh);
	CU_add_test(s, "counter_names", test_counter_names);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
