/* lib/net per-worker counters. Each worker owns one cache-line aligned block and is its only
 * writer; readers (control thread, stats file, later the CLI) sum the blocks. Names, enum and
 * strings come from one X-macro list each, so they never drift apart (VPP's foreach_x_error). */
#ifndef NET_COUNTERS_H
#define NET_COUNTERS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Events that are not drops. */
#define NET_FOREACH_COUNTER(X)                                                                     \
	X(RX_PACKETS, "rx_packets")                                                                \
	X(RX_BYTES, "rx_bytes")                                                                    \
	X(TX_PACKETS, "tx_packets")                                                                \
	X(TX_BYTES, "tx_bytes")                                                                    \
	X(ARP_REQUEST_IN, "arp_request_in")                                                        \
	X(ARP_REPLY_IN, "arp_reply_in")                                                            \
	X(ARP_REQUEST_OUT, "arp_request_out")                                                      \
	X(ARP_REPLY_OUT, "arp_reply_out")                                                          \
	X(ND_NS_IN, "nd_ns_in")                                                                    \
	X(ND_NA_IN, "nd_na_in")                                                                    \
	X(ND_NS_OUT, "nd_ns_out")                                                                  \
	X(ND_NA_OUT, "nd_na_out")                                                                  \
	X(ICMP4_ECHO_IN, "icmp4_echo_in")                                                          \
	X(ICMP4_ECHO_OUT, "icmp4_echo_reply_out")                                                  \
	X(ICMP6_ECHO_IN, "icmp6_echo_in")                                                          \
	X(ICMP6_ECHO_OUT, "icmp6_echo_reply_out")                                                  \
	X(UDP_IN, "udp_in")                                                                        \
	X(UDP_OUT, "udp_out")                                                                      \
	X(UDP_OUT_EXTBUF, "udp_out_extbuf")                                                        \
	X(UDP_OUT_INPLACE, "udp_out_inplace")                                                      \
	X(NEIGH_LEARNED, "neigh_learned")                                                          \
	X(NEIGH_SHARED_OUT, "neigh_shared_out")                                                    \
	X(NEIGH_SHARED_IN, "neigh_shared_in")                                                      \
	X(NEIGH_HELD, "neigh_held")                                                                \
	X(NEIGH_RELEASED, "neigh_released")                                                        \
	X(DISPATCH_OUT, "dispatch_out")                                                            \
	X(DISPATCH_IN, "dispatch_in")                                                              \
	X(TX_HELD, "tx_held") /* datagrams a full PMD queue refused, kept for the next flush */

/* Why a received or outgoing packet was dropped. */
#define NET_FOREACH_DROP(X)                                                                        \
	X(RUNT, "runt")			      /* shorter than an Ethernet header */                \
	X(RX_MULTISEG, "rx_multiseg")	      /* chained RX mbuf: host stack wants one */          \
	X(OWN_FRAME, "own_frame")	      /* our own source MAC came back */                   \
	X(L2_NOT_FOR_US, "l2_not_for_us")     /* unicast to another MAC */                         \
	X(ETHERTYPE, "ethertype_unsupported") /* not ARP, IPv4 or IPv6 (VLAN too) */               \
	X(ARP_MALFORMED, "arp_malformed")                                                          \
	X(ARP_NOT_FOR_US, "arp_not_for_us")                                                        \
	X(IPV4_MALFORMED, "ipv4_malformed") /* version, IHL, lengths */                            \
	X(IPV4_CSUM, "ipv4_bad_checksum")                                                          \
	X(IPV4_FRAGMENT, "ipv4_fragment")                                                          \
	X(IPV6_MALFORMED, "ipv6_malformed")                                                        \
	X(IPV6_EXT_HEADER, "ipv6_ext_header") /* extension headers are not followed */             \
	X(IP_NOT_FOR_US, "ip_not_for_us")                                                          \
	X(IP_PROTO, "ip_proto_unsupported") /* TCP, SCTP, ... */                                   \
	X(ICMP_MALFORMED, "icmp_malformed")                                                        \
	X(ICMP_CSUM, "icmp_bad_checksum")                                                          \
	X(ICMP_TYPE, "icmp_type_ignored") /* not echo request, NS or NA */                         \
	X(ND_MALFORMED, "nd_malformed")	  /* hop limit != 255, bad option, bad target */           \
	X(ND_NOT_FOR_US, "nd_not_for_us")                                                          \
	X(UDP_MALFORMED, "udp_malformed")                                                          \
	X(UDP_CSUM, "udp_bad_checksum")                                                            \
	X(UDP_PORT, "udp_port_closed")	      /* not the PPSPP port */                             \
	X(PPSPP_NO_ENGINE, "ppspp_no_engine") /* PPSPP port, no engine attached to the worker */   \
	X(NO_ROUTE, "no_route")		      /* off-link peer and no gateway */                   \
	X(NEIGH_PENDING_FULL, "neigh_pending_full")                                                \
	X(NEIGH_UNRESOLVED, "neigh_unresolved") /* no ARP/NA answer in time */                     \
	X(NEIGH_SHARE_FULL, "neigh_share_ring_full")                                               \
	X(DISPATCH_FULL, "dispatch_ring_full")                                                     \
	X(TX_FULL, "tx_queue_full")                                                                \
	X(NO_MBUF, "no_mbuf")                                                                      \
	X(TX_TOO_BIG, "tx_too_big") /* datagram above the port MTU */                              \
	X(SHUTDOWN, "shutdown")	    /* still held or queued when workers stopped */

enum net_counter {
#define NET_X_ENUM(e, s) NET_CTR_##e,
	NET_FOREACH_COUNTER(NET_X_ENUM)
#undef NET_X_ENUM
	    NET_CTR_MAX
};

/* NET_DROP_NONE (0) means "accepted": parsers return an enum net_drop. */
enum net_drop {
	NET_DROP_NONE = 0,
#define NET_X_ENUM(e, s) NET_DROP_##e,
	NET_FOREACH_DROP(NET_X_ENUM)
#undef NET_X_ENUM
	    NET_DROP_MAX
};

struct net_counters {
	uint64_t ctr[NET_CTR_MAX];
	uint64_t drop[NET_DROP_MAX];
} __attribute__((aligned(64)));

const char *net_counter_name(enum net_counter c);
/* "none" for NET_DROP_NONE. */
const char *net_drop_name(enum net_drop d);

/* Adds n per-worker blocks into out (zeroed first). Relaxed loads: a block may be in the middle
 * of an update; each value read is one the worker wrote. */
void net_counters_sum(const struct net_counters *blocks, unsigned n, struct net_counters *out);
uint64_t net_counters_drops_total(const struct net_counters *c);

/* Single-writer increments (the owning worker only). */
static inline void net_ctr_add(struct net_counters *c, enum net_counter k, uint64_t v)
{
	__atomic_store_n(&c->ctr[k], c->ctr[k] + v, __ATOMIC_RELAXED);
}
static inline void net_drop_add(struct net_counters *c, enum net_drop k, uint64_t v)
{
	__atomic_store_n(&c->drop[k], c->drop[k] + v, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif
