/* lib/net protocol part, pure C (no DPDK): addresses and interface identity, a bounds-checked
 * frame parser for Ethernet/ARP/IPv4/IPv6/ICMP/ICMPv6-ND/UDP working on a plain byte buffer,
 * builders for the frames the host stack sends, and Internet checksums. The DPDK layer
 * (net_port.h, net_worker.h) is a thin wrapper over this, and the fuzz target drives it as is. */
#ifndef NET_PROTO_H
#define NET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net_counters.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NET_ETH_ALEN	   6
#define NET_ETH_HLEN	   14
#define NET_ETHERTYPE_IPV4 0x0800
#define NET_ETHERTYPE_ARP  0x0806
#define NET_ETHERTYPE_IPV6 0x86dd
#define NET_IPV4_HLEN	   20
#define NET_IPV6_HLEN	   40
#define NET_UDP_HLEN	   8
#define NET_IPPROTO_ICMP   1
#define NET_IPPROTO_UDP	   17
#define NET_IPPROTO_ICMPV6 58
#define NET_ARP_FRAME_LEN  (NET_ETH_HLEN + 28)
#define NET_ND_FRAME_LEN   (NET_ETH_HLEN + NET_IPV6_HLEN + 32) /* NS or NA with one lladdr option */
/* Ethernet + IPv6 + UDP: the largest header net_udp_build writes. */
#define NET_UDP_HDR_MAX (NET_ETH_HLEN + NET_IPV6_HLEN + NET_UDP_HLEN)

#define NET_IFACE_MAX_ADDRS 8

/* An IPv4 (family 4, address in a[0..3]) or IPv6 (family 6) address; family 0 is "none". */
struct net_ipaddr {
	uint8_t family;
	uint8_t a[16];
};

struct net_prefix {
	struct net_ipaddr addr;
	uint8_t len;
};

/* What a data port is on its link: its MAC, its addresses with prefixes (on-link routes), and
 * optional gateways for off-link peers. */
struct net_iface {
	uint8_t mac[NET_ETH_ALEN];
	unsigned n_addrs;
	struct net_prefix addrs[NET_IFACE_MAX_ADDRS];
	struct net_ipaddr gw4, gw6;
	uint16_t mtu; /* IP MTU */
};

/* "10.0.0.1", "fd00::1" (no prefix) or with "/len" when plen is not NULL (plen required then,
 * except that a missing "/len" gives the full length). -EINVAL on anything else. */
int net_ipaddr_parse(const char *s, struct net_ipaddr *out, uint8_t *plen);
const char *net_ipaddr_format(const struct net_ipaddr *a, char *out, size_t size);
bool net_ipaddr_equal(const struct net_ipaddr *a, const struct net_ipaddr *b);
bool net_ipaddr_in_prefix(const struct net_ipaddr *a, const struct net_prefix *p);
void net_ipaddr_v4(struct net_ipaddr *a, const uint8_t b[4]);
void net_ipaddr_v6(struct net_ipaddr *a, const uint8_t b[16]);

/* Adds an address; -ENOSPC when full, -EEXIST when present, -EINVAL on a bad prefix length. */
int net_iface_add(struct net_iface *ifc, const struct net_ipaddr *a, uint8_t plen);
/* Adds fe80::/64 with the modified EUI-64 of the MAC (RFC 4291 §2.5.1), so on-link neighbours
 * and routers can reach the port the usual way. */
int net_iface_add_link_local(struct net_iface *ifc);
bool net_iface_has_addr(const struct net_iface *ifc, const struct net_ipaddr *a);
/* A local address of ifc's family matching dst best (on-link prefix first); -EADDRNOTAVAIL. */
int net_iface_source_for(const struct net_iface *ifc, const struct net_ipaddr *dst,
			 struct net_ipaddr *src);
/* The neighbour to resolve for dst: dst itself when on-link, else the gateway; -ENETUNREACH. */
int net_iface_next_hop(const struct net_iface *ifc, const struct net_ipaddr *dst,
		       struct net_ipaddr *nh);
/* An IPv6 destination the host stack accepts: own unicast, all-nodes, own solicited-node. */
bool net_iface_accepts_ip6(const struct net_iface *ifc, const struct net_ipaddr *dst);
/* RFC 4291 §2.7.1: ff02::1:ffXX:XXXX for target, and its Ethernet group 33:33:ff:XX:XX:XX. */
void net_solicited_node(const struct net_ipaddr *target, struct net_ipaddr *group,
			uint8_t mac[NET_ETH_ALEN]);

/* ---- parsing ------------------------------------------------------------------------------ */

enum net_frame_kind { NET_FRAME_ARP = 1, NET_FRAME_IPV4, NET_FRAME_IPV6 };

#define NET_ND_FLAG_ROUTER    0x80
#define NET_ND_FLAG_SOLICITED 0x40
#define NET_ND_FLAG_OVERRIDE  0x20

/* What net_frame_parse found. Offsets are from the start of the buffer; every field it sets has
 * been checked against the buffer length. */
struct net_frame {
	uint8_t eth_dst[NET_ETH_ALEN], eth_src[NET_ETH_ALEN];
	uint16_t ethertype;
	uint8_t kind;	   /* enum net_frame_kind */
	uint8_t proto;	   /* IP protocol / next header */
	uint8_t hop_limit; /* IPv4 TTL or IPv6 hop limit */
	uint16_t l3_off, l4_off;
	uint32_t l4_len;    /* from the IP length fields, Ethernet padding excluded */
	uint32_t frame_len; /* l4_off + l4_len (ARP: header end) */
	struct net_ipaddr src,
	    dst; /* IP addresses; for ARP the sender and target protocol address */
	/* ARP */
	uint16_t arp_op;
	uint8_t arp_sha[NET_ETH_ALEN], arp_tha[NET_ETH_ALEN];
	/* UDP */
	uint16_t sport, dport;
	uint32_t payload_off, payload_len;
	/* ICMP, ICMPv6 */
	uint8_t icmp_type, icmp_code;
	/* Neighbour Discovery (NS, NA) */
	uint8_t nd_flags;
	bool nd_has_lladdr;
	struct net_ipaddr nd_target;
	uint8_t nd_lladdr[NET_ETH_ALEN];
};

#define NET_PARSE_L3_CSUM_GOOD 0x1u /* the NIC verified the IPv4 header checksum */
#define NET_PARSE_L4_CSUM_GOOD 0x2u /* the NIC verified the UDP/ICMP checksum */

/* Parses and validates a whole frame (lengths, versions, checksums, ND rules of RFC 4861 §7.1).
 * Returns NET_DROP_NONE or why the frame must be dropped. Never reads outside buf[0..len). */
enum net_drop net_frame_parse(const uint8_t *buf, uint32_t len, unsigned flags,
			      struct net_frame *f);

/* Hash of the UDP 4-tuple of an IPv4/IPv6 UDP frame (minimal checks), for software dispatch:
 * equal tuples hash alike. -1 for anything that is not UDP. */
int net_frame_flow_hash(const uint8_t *buf, uint32_t len, uint32_t *hash);

/* ---- checksums (RFC 1071) ------------------------------------------------------------------ */

/* Adds len bytes to a 32-bit partial sum; odd is true when the bytes start at an odd offset of
 * the checksummed range (a segment boundary after an odd-length piece). */
uint32_t net_csum_add(uint32_t sum, const void *buf, size_t len, bool odd);
uint16_t net_csum_fold(uint32_t sum); /* final ones' complement, as stored */
/* Pseudo-header sum for UDP/ICMPv6 (RFC 768, RFC 8200 §8.1). */
uint32_t net_pseudo_sum(const struct net_ipaddr *src, const struct net_ipaddr *dst, uint8_t proto,
			uint32_t l4_len);
uint16_t net_ipv4_hdr_csum(const uint8_t *ip, unsigned hlen);

/* ---- building ------------------------------------------------------------------------------ */

/* Each builder writes a complete frame at buf and returns its length, or -ENOSPC if cap is too
 * small, -EINVAL on a wrong address family. */
int net_arp_build(uint8_t *buf, size_t cap, uint16_t op, const uint8_t eth_dst[NET_ETH_ALEN],
		  const uint8_t sha[NET_ETH_ALEN], const struct net_ipaddr *spa,
		  const uint8_t tha[NET_ETH_ALEN], const struct net_ipaddr *tpa);
/* RFC 826 reply to a parsed request for one of our addresses. */
int net_arp_reply_build(uint8_t *buf, size_t cap, const struct net_frame *req,
			const uint8_t own_mac[NET_ETH_ALEN]);
int net_arp_request_build(uint8_t *buf, size_t cap, const uint8_t own_mac[NET_ETH_ALEN],
			  const struct net_ipaddr *own_ip, const struct net_ipaddr *target);
/* RFC 4861 §7.2.2: NS to the target's solicited-node group with our link-layer address. */
int net_nd_ns_build(uint8_t *buf, size_t cap, const uint8_t own_mac[NET_ETH_ALEN],
		    const struct net_ipaddr *src, const struct net_ipaddr *target);
/* RFC 4861 §7.2.4: the NA answering a parsed NS for one of our addresses. */
int net_nd_na_reply_build(uint8_t *buf, size_t cap, const struct net_frame *ns,
			  const uint8_t own_mac[NET_ETH_ALEN]);
/* Turns a parsed echo request (ICMP or ICMPv6) in buf into its echo reply in place (RFC 792,
 * RFC 4443 §4.2): addresses swapped, data echoed, checksums recomputed. Returns the reply length
 * (f->frame_len), or -EINVAL for anything else, including a request sent to a multicast or
 * broadcast address (its reply would have a group as its source). */
int net_echo_reply_inplace(uint8_t *buf, const struct net_frame *f,
			   const uint8_t own_mac[NET_ETH_ALEN]);

/* One UDP datagram's addresses; the local side is ours. */
struct net_udp_tuple {
	struct net_ipaddr local, remote;
	uint16_t local_port, remote_port;
};

#define NET_UDP_BUILD_NO_IP_CSUM  0x1u /* leave the IPv4 header checksum to the NIC */
#define NET_UDP_BUILD_NO_UDP_CSUM 0x2u /* leave the UDP checksum field 0 (the caller fills it) */

/* Ethernet + IPv4/IPv6 + UDP headers for a payload of payload_len bytes that follows. The UDP
 * checksum field is left 0 (fill it with net_udp_csum_finish or a NIC offload). Returns the
 * header length (42 or 62). */
int net_udp_build(uint8_t *buf, size_t cap, const struct net_udp_tuple *t,
		  const uint8_t src_mac[NET_ETH_ALEN], const uint8_t dst_mac[NET_ETH_ALEN],
		  uint16_t ip_id, uint32_t payload_len, unsigned flags);
/* Stores the UDP checksum given the sum of the UDP header and payload bytes (net_csum_add over
 * every piece). hdr is the frame net_udp_build wrote. */
void net_udp_csum_finish(uint8_t *hdr, const struct net_udp_tuple *t, uint32_t udp_bytes_sum,
			 uint32_t udp_len);

#ifdef __cplusplus
}
#endif

#endif
