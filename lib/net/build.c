/* Frames the host stack sends: ARP (RFC 826), NS/NA (RFC 4861 §4.3/§4.4, §7.2), echo replies
 * (RFC 792, RFC 4443 §4.2) and UDP headers (RFC 768) over IPv4 (RFC 791) or IPv6 (RFC 8200). */
#include "net_proto.h"
#include "pcdn_common.h"

#include <errno.h>
#include <string.h>

static const uint8_t bcast[NET_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void eth_build(uint8_t *buf, const uint8_t dst[NET_ETH_ALEN],
		      const uint8_t src[NET_ETH_ALEN], uint16_t type)
{
	memmove(buf, dst, 6);
	memmove(buf + 6, src, 6);
	pcdn_put_be16(buf + 12, type);
}

int net_arp_build(uint8_t *buf, size_t cap, uint16_t op, const uint8_t eth_dst[NET_ETH_ALEN],
		  const uint8_t sha[NET_ETH_ALEN], const struct net_ipaddr *spa,
		  const uint8_t tha[NET_ETH_ALEN], const struct net_ipaddr *tpa)
{
	uint8_t *a = buf + NET_ETH_HLEN;

	if (cap < NET_ARP_FRAME_LEN)
		return -ENOSPC;
	if (spa->family != 4 || tpa->family != 4)
		return -EINVAL;
	/* Arguments may point into buf (a reply built over its request): write back to front. */
	memmove(a + 24, tpa->a, 4);
	memmove(a + 18, tha, 6);
	memmove(a + 14, spa->a, 4);
	memmove(a + 8, sha, 6);
	pcdn_put_be16(a, 1);
	pcdn_put_be16(a + 2, NET_ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	pcdn_put_be16(a + 6, op);
	eth_build(buf, eth_dst, sha, NET_ETHERTYPE_ARP);
	return NET_ARP_FRAME_LEN;
}

int net_arp_reply_build(uint8_t *buf, size_t cap, const struct net_frame *req,
			const uint8_t own_mac[NET_ETH_ALEN])
{
	struct net_frame r = *req; /* req may describe buf itself */

	return net_arp_build(buf, cap, 2, r.arp_sha, own_mac, &r.dst, r.arp_sha, &r.src);
}

int net_arp_request_build(uint8_t *buf, size_t cap, const uint8_t own_mac[NET_ETH_ALEN],
			  const struct net_ipaddr *own_ip, const struct net_ipaddr *target)
{
	static const uint8_t zero[NET_ETH_ALEN];

	return net_arp_build(buf, cap, 1, bcast, own_mac, own_ip, zero, target);
}

static void ipv6_build(uint8_t *ip, const struct net_ipaddr *src, const struct net_ipaddr *dst,
		       uint8_t next, uint8_t hop, uint16_t plen)
{
	ip[0] = 0x60;
	ip[1] = 0;
	ip[2] = 0;
	ip[3] = 0;
	pcdn_put_be16(ip + 4, plen);
	ip[6] = next;
	ip[7] = hop;
	memcpy(ip + 8, src->a, 16);
	memcpy(ip + 24, dst->a, 16);
}

/* ICMPv6 body of 24 bytes + one 8-byte link-layer address option, checksum included. */
static void nd_build(uint8_t *buf, const uint8_t eth_dst[NET_ETH_ALEN],
		     const uint8_t own_mac[NET_ETH_ALEN], const struct net_ipaddr *src,
		     const struct net_ipaddr *dst, uint8_t type, uint8_t flags,
		     const struct net_ipaddr *target)
{
	uint8_t *ip = buf + NET_ETH_HLEN, *p = ip + NET_IPV6_HLEN;
	uint32_t sum;

	eth_build(buf, eth_dst, own_mac, NET_ETHERTYPE_IPV6);
	ipv6_build(ip, src, dst, NET_IPPROTO_ICMPV6, 255, 32);
	memset(p, 0, 32);
	p[0] = type;
	p[4] = flags;
	memcpy(p + 8, target->a, 16);
	p[24] = type == 135 ? 1 : 2; /* source / target link-layer address option */
	p[25] = 1;
	memcpy(p + 26, own_mac, 6);
	sum = net_pseudo_sum(src, dst, NET_IPPROTO_ICMPV6, 32);
	pcdn_put_be16(p + 2, net_csum_fold(net_csum_add(sum, p, 32, false)));
}

int net_nd_ns_build(uint8_t *buf, size_t cap, const uint8_t own_mac[NET_ETH_ALEN],
		    const struct net_ipaddr *src, const struct net_ipaddr *target)
{
	struct net_ipaddr group;
	uint8_t mac[NET_ETH_ALEN];

	if (cap < NET_ND_FRAME_LEN)
		return -ENOSPC;
	if (src->family != 6 || target->family != 6)
		return -EINVAL;
	net_solicited_node(target, &group, mac);
	nd_build(buf, mac, own_mac, src, &group, 135, 0, target);
	return NET_ND_FRAME_LEN;
}

int net_nd_na_reply_build(uint8_t *buf, size_t cap, const struct net_frame *ns,
			  const uint8_t own_mac[NET_ETH_ALEN])
{
	static const uint8_t unspec[16];
	static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t all_nodes_mac[NET_ETH_ALEN] = {0x33, 0x33, 0, 0, 0, 1};
	struct net_frame r = *ns; /* ns may describe buf itself */
	struct net_ipaddr dst;
	const uint8_t *dmac;
	uint8_t flags = NET_ND_FLAG_OVERRIDE;

	if (cap < NET_ND_FRAME_LEN)
		return -ENOSPC;
	if (r.kind != NET_FRAME_IPV6 || r.icmp_type != 135)
		return -EINVAL;
	if (memcmp(r.src.a, unspec, 16) == 0) {
		/* §7.2.4: an NS from the unspecified address (DAD) is answered to all-nodes. */
		net_ipaddr_v6(&dst, all_nodes);
		dmac = all_nodes_mac;
	} else {
		dst = r.src;
		dmac = r.nd_has_lladdr ? r.nd_lladdr : r.eth_src;
		flags |= NET_ND_FLAG_SOLICITED;
	}
	nd_build(buf, dmac, own_mac, &r.nd_target, &dst, 136, flags, &r.nd_target);
	return NET_ND_FRAME_LEN;
}

int net_echo_reply_inplace(uint8_t *buf, const struct net_frame *f,
			   const uint8_t own_mac[NET_ETH_ALEN])
{
	uint8_t *ip = buf + f->l3_off, *p = buf + f->l4_off;
	uint32_t sum;

	/* The reply's source is the request's destination: never a group or broadcast address
	 * (RFC 1122 §3.2.1.3, RFC 4291 §2.7); such a request is not answered this way. */
	if ((f->kind == NET_FRAME_IPV4 &&
	     ((f->dst.a[0] & 0xf0) == 0xe0 || (f->dst.a[0] == 0xff && f->dst.a[1] == 0xff &&
					       f->dst.a[2] == 0xff && f->dst.a[3] == 0xff))) ||
	    (f->kind == NET_FRAME_IPV6 && f->dst.a[0] == 0xff))
		return -EINVAL;
	if (f->kind == NET_FRAME_IPV4 && f->proto == NET_IPPROTO_ICMP && f->icmp_type == 8) {
		eth_build(buf, f->eth_src, own_mac, NET_ETHERTYPE_IPV4);
		memcpy(ip + 12, f->dst.a, 4);
		memcpy(ip + 16, f->src.a, 4);
		ip[8] = 64;
		pcdn_put_be16(ip + 10, 0);
		pcdn_put_be16(ip + 10, net_ipv4_hdr_csum(ip, (unsigned)(f->l4_off - f->l3_off)));
		p[0] = 0;
		pcdn_put_be16(p + 2, 0);
		pcdn_put_be16(p + 2, net_csum_fold(net_csum_add(0, p, f->l4_len, false)));
		return (int)f->frame_len;
	}
	if (f->kind == NET_FRAME_IPV6 && f->proto == NET_IPPROTO_ICMPV6 && f->icmp_type == 128) {
		eth_build(buf, f->eth_src, own_mac, NET_ETHERTYPE_IPV6);
		memcpy(ip + 8, f->dst.a, 16);
		memcpy(ip + 24, f->src.a, 16);
		ip[7] = 64;
		p[0] = 129;
		pcdn_put_be16(p + 2, 0);
		sum = net_pseudo_sum(&f->dst, &f->src, NET_IPPROTO_ICMPV6, f->l4_len);
		pcdn_put_be16(p + 2, net_csum_fold(net_csum_add(sum, p, f->l4_len, false)));
		return (int)f->frame_len;
	}
	return -EINVAL;
}

int net_udp_build(uint8_t *buf, size_t cap, const struct net_udp_tuple *t,
		  const uint8_t src_mac[NET_ETH_ALEN], const uint8_t dst_mac[NET_ETH_ALEN],
		  uint16_t ip_id, uint32_t payload_len, unsigned flags)
{
	uint32_t ulen = NET_UDP_HLEN + payload_len;
	uint8_t *ip = buf + NET_ETH_HLEN, *u;

	if (t->local.family != t->remote.family || (t->local.family != 4 && t->local.family != 6))
		return -EINVAL;
	if (t->local.family == 4) {
		if (cap < NET_ETH_HLEN + NET_IPV4_HLEN + NET_UDP_HLEN)
			return -ENOSPC;
		if (ulen + NET_IPV4_HLEN > 0xffff)
			return -EMSGSIZE;
		eth_build(buf, dst_mac, src_mac, NET_ETHERTYPE_IPV4);
		ip[0] = 0x45;
		ip[1] = 0;
		pcdn_put_be16(ip + 2, (uint16_t)(NET_IPV4_HLEN + ulen));
		pcdn_put_be16(ip + 4, ip_id);
		/* DF: PPSPP sizes datagrams to the path (RFC 7574 §6.1.2) */
		pcdn_put_be16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = NET_IPPROTO_UDP;
		pcdn_put_be16(ip + 10, 0);
		memcpy(ip + 12, t->local.a, 4);
		memcpy(ip + 16, t->remote.a, 4);
		if (!(flags & NET_UDP_BUILD_NO_IP_CSUM))
			pcdn_put_be16(ip + 10, net_ipv4_hdr_csum(ip, NET_IPV4_HLEN));
		u = ip + NET_IPV4_HLEN;
	} else {
		if (cap < NET_UDP_HDR_MAX)
			return -ENOSPC;
		if (ulen > 0xffff)
			return -EMSGSIZE;
		eth_build(buf, dst_mac, src_mac, NET_ETHERTYPE_IPV6);
		ipv6_build(ip, &t->local, &t->remote, NET_IPPROTO_UDP, 64, (uint16_t)ulen);
		u = ip + NET_IPV6_HLEN;
	}
	pcdn_put_be16(u, t->local_port);
	pcdn_put_be16(u + 2, t->remote_port);
	pcdn_put_be16(u + 4, (uint16_t)ulen);
	pcdn_put_be16(u + 6, 0);
	return (int)(u + NET_UDP_HLEN - buf);
}

void net_udp_csum_finish(uint8_t *hdr, const struct net_udp_tuple *t, uint32_t udp_bytes_sum,
			 uint32_t udp_len)
{
	uint8_t *u = hdr + NET_ETH_HLEN + (t->local.family == 4 ? NET_IPV4_HLEN : NET_IPV6_HLEN);
	uint32_t sum = net_pseudo_sum(&t->local, &t->remote, NET_IPPROTO_UDP, udp_len);
	uint16_t c;

	/* udp_bytes_sum was taken with the checksum field at 0. */
	sum += udp_bytes_sum & 0xffff;
	sum += udp_bytes_sum >> 16;
	c = net_csum_fold(sum);
	/* RFC 768: a computed 0 is sent as all ones (0 means "no checksum"). */
	pcdn_put_be16(u + 6, c ? c : 0xffff);
}
