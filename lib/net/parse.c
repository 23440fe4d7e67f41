/* Bounds-checked frame parser: Ethernet II (RFC 894), ARP (RFC 826), IPv4 (RFC 791), IPv6
 * (RFC 8200), ICMP (RFC 792), ICMPv6 (RFC 4443) with Neighbour Discovery NS/NA (RFC 4861 §4.3,
 * §4.4, validation §7.1.1/§7.1.2) and UDP (RFC 768). Liberal where the RFCs allow it (IPv4
 * options, Ethernet padding, unknown ND options), strict on lengths and checksums. */
#include "net_proto.h"
#include "pcdn_common.h"

#include <string.h>

static enum net_drop parse_arp(const uint8_t *buf, uint32_t len, struct net_frame *f)
{
	const uint8_t *a = buf + NET_ETH_HLEN;

	if (len < NET_ARP_FRAME_LEN)
		return NET_DROP_ARP_MALFORMED;
	/* Ethernet hardware, IPv4 protocol, 6/4 address lengths: the only ARP we speak. */
	if (pcdn_get_be16(a) != 1 || pcdn_get_be16(a + 2) != NET_ETHERTYPE_IPV4 || a[4] != 6 ||
	    a[5] != 4)
		return NET_DROP_ARP_MALFORMED;
	f->arp_op = pcdn_get_be16(a + 6);
	if (f->arp_op != 1 && f->arp_op != 2)
		return NET_DROP_ARP_MALFORMED;
	memcpy(f->arp_sha, a + 8, 6);
	net_ipaddr_v4(&f->src, a + 14);
	memcpy(f->arp_tha, a + 18, 6);
	net_ipaddr_v4(&f->dst, a + 24);
	f->kind = NET_FRAME_ARP;
	f->l3_off = NET_ETH_HLEN;
	f->frame_len = NET_ARP_FRAME_LEN;
	return NET_DROP_NONE;
}

static enum net_drop parse_udp(const uint8_t *buf, unsigned flags, struct net_frame *f)
{
	const uint8_t *u = buf + f->l4_off;
	uint16_t ulen, csum;

	if (f->l4_len < NET_UDP_HLEN)
		return NET_DROP_UDP_MALFORMED;
	ulen = pcdn_get_be16(u + 4);
	if (ulen < NET_UDP_HLEN || ulen > f->l4_len)
		return NET_DROP_UDP_MALFORMED;
	csum = pcdn_get_be16(u + 6);
	if (!(flags & NET_PARSE_L4_CSUM_GOOD)) {
		if (csum == 0) {
			/* RFC 768: no checksum on IPv4; RFC 8200 §8.1: mandatory on IPv6. */
			if (f->kind == NET_FRAME_IPV6)
				return NET_DROP_UDP_CSUM;
		} else {
			uint32_t sum = net_pseudo_sum(&f->src, &f->dst, NET_IPPROTO_UDP, ulen);
			sum = net_csum_add(sum, u, ulen, false);
			if (net_csum_fold(sum) != 0)
				return NET_DROP_UDP_CSUM;
		}
	}
	f->sport = pcdn_get_be16(u);
	f->dport = pcdn_get_be16(u + 2);
	f->payload_off = f->l4_off + NET_UDP_HLEN;
	f->payload_len = ulen - NET_UDP_HLEN;
	return NET_DROP_NONE;
}

static enum net_drop parse_icmp4(const uint8_t *buf, unsigned flags, struct net_frame *f)
{
	const uint8_t *p = buf + f->l4_off;

	if (f->l4_len < 8)
		return NET_DROP_ICMP_MALFORMED;
	if (!(flags & NET_PARSE_L4_CSUM_GOOD) &&
	    net_csum_fold(net_csum_add(0, p, f->l4_len, false)))
		return NET_DROP_ICMP_CSUM;
	f->icmp_type = p[0];
	f->icmp_code = p[1];
	return NET_DROP_NONE;
}

/* RFC 4861 §4.6: options are (type, length in 8-octet units, value); length 0 is invalid. */
static enum net_drop parse_nd_options(const uint8_t *o, uint32_t len, uint8_t want,
				      struct net_frame *f)
{
	while (len > 0) {
		uint32_t olen;

		if (len < 2 || o[1] == 0)
			return NET_DROP_ND_MALFORMED;
		olen = (uint32_t)o[1] * 8;
		if (olen > len)
			return NET_DROP_ND_MALFORMED;
		if (o[0] == want && olen == 8) {
			memcpy(f->nd_lladdr, o + 2, 6);
			f->nd_has_lladdr = true;
		}
		o += olen;
		len -= olen;
	}
	return NET_DROP_NONE;
}

static enum net_drop parse_icmp6(const uint8_t *buf, unsigned flags, struct net_frame *f)
{
	const uint8_t *p = buf + f->l4_off;
	enum net_drop d;

	if (f->l4_len < 8)
		return NET_DROP_ICMP_MALFORMED;
	if (!(flags & NET_PARSE_L4_CSUM_GOOD)) {
		uint32_t sum = net_pseudo_sum(&f->src, &f->dst, NET_IPPROTO_ICMPV6, f->l4_len);
		if (net_csum_fold(net_csum_add(sum, p, f->l4_len, false)))
			return NET_DROP_ICMP_CSUM;
	}
	f->icmp_type = p[0];
	f->icmp_code = p[1];
	if (f->icmp_type != 135 && f->icmp_type != 136)
		return NET_DROP_NONE;
	/* §7.1.1 / §7.1.2: hop limit 255 (never forwarded), code 0, length >= 24, target not
	 * multicast; an NS from the unspecified address carries no source link-layer option. */
	if (f->hop_limit != 255 || f->icmp_code != 0 || f->l4_len < 24 || p[8] == 0xff)
		return NET_DROP_ND_MALFORMED;
	net_ipaddr_v6(&f->nd_target, p + 8);
	f->nd_flags = f->icmp_type == 136 ? p[4] : 0;
	d = parse_nd_options(p + 24, f->l4_len - 24, f->icmp_type == 135 ? 1 : 2, f);
	if (d != NET_DROP_NONE)
		return d;
	if (f->icmp_type == 135) {
		static const uint8_t unspec[16];
		if (memcmp(f->src.a, unspec, 16) == 0 && f->nd_has_lladdr)
			return NET_DROP_ND_MALFORMED;
	} else if ((f->nd_flags & NET_ND_FLAG_SOLICITED) && f->dst.a[0] == 0xff) {
		return NET_DROP_ND_MALFORMED;
	}
	return NET_DROP_NONE;
}

static enum net_drop parse_l4(const uint8_t *buf, unsigned flags, struct net_frame *f)
{
	switch (f->proto) {
	case NET_IPPROTO_UDP:
		return parse_udp(buf, flags, f);
	case NET_IPPROTO_ICMP:
		return f->kind == NET_FRAME_IPV4 ? parse_icmp4(buf, flags, f) : NET_DROP_IP_PROTO;
	case NET_IPPROTO_ICMPV6:
		return f->kind == NET_FRAME_IPV6 ? parse_icmp6(buf, flags, f) : NET_DROP_IP_PROTO;
	default:
		return NET_DROP_IP_PROTO;
	}
}

static enum net_drop parse_ipv4(const uint8_t *buf, uint32_t len, unsigned flags,
				struct net_frame *f)
{
	const uint8_t *ip = buf + NET_ETH_HLEN;
	uint32_t avail = len - NET_ETH_HLEN, ihl, tot;

	if (avail < NET_IPV4_HLEN || (ip[0] >> 4) != 4)
		return NET_DROP_IPV4_MALFORMED;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = pcdn_get_be16(ip + 2);
	if (ihl < NET_IPV4_HLEN || tot < ihl || tot > avail)
		return NET_DROP_IPV4_MALFORMED;
	if (!(flags & NET_PARSE_L3_CSUM_GOOD) && net_csum_fold(net_csum_add(0, ip, ihl, false)))
		return NET_DROP_IPV4_CSUM;
	/* More-fragments set or a fragment offset: reassembly is not offered. */
	if (pcdn_get_be16(ip + 6) & 0x3fff)
		return NET_DROP_IPV4_FRAGMENT;
	/* RFC 1122 §3.2.1.3: a source that is a class D (multicast) or the limited broadcast
	 * address is invalid and is discarded (a reply would go to a group). */
	if ((ip[12] & 0xf0) == 0xe0 ||
	    (pcdn_get_be16(ip + 12) == 0xffff && pcdn_get_be16(ip + 14) == 0xffff))
		return NET_DROP_IPV4_MALFORMED;
	f->kind = NET_FRAME_IPV4;
	f->l3_off = NET_ETH_HLEN;
	f->proto = ip[9];
	f->hop_limit = ip[8];
	net_ipaddr_v4(&f->src, ip + 12);
	net_ipaddr_v4(&f->dst, ip + 16);
	f->l4_off = (uint16_t)(NET_ETH_HLEN + ihl);
	f->l4_len = tot - ihl;
	f->frame_len = NET_ETH_HLEN + tot;
	return parse_l4(buf, flags, f);
}

static enum net_drop parse_ipv6(const uint8_t *buf, uint32_t len, unsigned flags,
				struct net_frame *f)
{
	const uint8_t *ip = buf + NET_ETH_HLEN;
	uint32_t avail = len - NET_ETH_HLEN, plen;

	if (avail < NET_IPV6_HLEN || (ip[0] >> 4) != 6)
		return NET_DROP_IPV6_MALFORMED;
	plen = pcdn_get_be16(ip + 4);
	if (plen > avail - NET_IPV6_HLEN)
		return NET_DROP_IPV6_MALFORMED;
	/* RFC 4291 §2.7: a multicast address is never a source (a reply would go to a group;
	 * an NA for such an NS is one RFC 4861 §7.1.2 forbids to be solicited). */
	if (ip[8] == 0xff)
		return NET_DROP_IPV6_MALFORMED;
	f->kind = NET_FRAME_IPV6;
	f->l3_off = NET_ETH_HLEN;
	f->proto = ip[6];
	f->hop_limit = ip[7];
	f->src.family = 6;
	memcpy(f->src.a, ip + 8, 16);
	f->dst.family = 6;
	memcpy(f->dst.a, ip + 24, 16);
	f->l4_off = NET_ETH_HLEN + NET_IPV6_HLEN;
	f->l4_len = plen;
	f->frame_len = NET_ETH_HLEN + NET_IPV6_HLEN + plen;
	switch (f->proto) {
	case 0:	  /* hop-by-hop */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 50:  /* ESP */
	case 51:  /* AH */
	case 60:  /* destination options */
	case 135: /* mobility */
		return NET_DROP_IPV6_EXT_HEADER;
	default:
		return parse_l4(buf, flags, f);
	}
}

enum net_drop net_frame_parse(const uint8_t *buf, uint32_t len, unsigned flags, struct net_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (len < NET_ETH_HLEN)
		return NET_DROP_RUNT;
	memcpy(f->eth_dst, buf, 6);
	memcpy(f->eth_src, buf + 6, 6);
	f->ethertype = pcdn_get_be16(buf + 12);
	switch (f->ethertype) {
	case NET_ETHERTYPE_ARP:
		return parse_arp(buf, len, f);
	case NET_ETHERTYPE_IPV4:
		return parse_ipv4(buf, len, flags, f);
	case NET_ETHERTYPE_IPV6:
		return parse_ipv6(buf, len, flags, f);
	default:
		return NET_DROP_ETHERTYPE;
	}
}

int net_frame_flow_hash(const uint8_t *buf, uint32_t len, uint32_t *hash)
{
	uint32_t h = 2166136261u;
	const uint8_t *key;
	unsigned klen;
	uint32_t l4;

	if (len < NET_ETH_HLEN)
		return -1;
	if (pcdn_get_be16(buf + 12) == NET_ETHERTYPE_IPV4) {
		const uint8_t *ip = buf + NET_ETH_HLEN;
		if (len < NET_ETH_HLEN + NET_IPV4_HLEN || ip[9] != NET_IPPROTO_UDP ||
		    (pcdn_get_be16(ip + 6) & 0x3fff))
			return -1;
		l4 = NET_ETH_HLEN + (uint32_t)(ip[0] & 0xf) * 4;
		key = ip + 12;
		klen = 8;
	} else if (pcdn_get_be16(buf + 12) == NET_ETHERTYPE_IPV6) {
		const uint8_t *ip = buf + NET_ETH_HLEN;
		if (len < NET_ETH_HLEN + NET_IPV6_HLEN || ip[6] != NET_IPPROTO_UDP)
			return -1;
		l4 = NET_ETH_HLEN + NET_IPV6_HLEN;
		key = ip + 8;
		klen = 32;
	} else {
		return -1;
	}
	if (l4 + 4 > len)
		return -1;
	/* Addresses and ports, order kept: one direction of one peer's flow is what arrives. */
	for (unsigned i = 0; i < klen; i++)
		h = (h ^ key[i]) * 16777619u;
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ buf[l4 + i]) * 16777619u;
	*hash = h ^ (h >> 16);
	return 0;
}
