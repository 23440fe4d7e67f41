/* lib/net neighbour cache (RFC 826 ARP, RFC 4861 §7.3 neighbour reachability, simplified):
 * pure C, fixed capacity, clock passed in. One table per worker, so no locks; workers share what
 * they learn through rings (net_worker.h). Packets waiting for a resolution are held as opaque
 * pointers and handed back for sending or dropping. */
#ifndef NET_NEIGH_H
#define NET_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include "net_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NET_NEIGH_PENDING 4 /* packets held per unresolved neighbour */

struct net_neigh_config {
	uint64_t reachable_ns; /* a learned entry is trusted this long */
	uint64_t retrans_ns;   /* between solicitations of an unresolved neighbour */
	unsigned max_probes;   /* solicitations before giving up (dropping held packets) */
};

struct net_neigh_table;

/* capacity is rounded up to a power of two (>= 8). NULL and errno on failure. */
struct net_neigh_table *net_neigh_create(unsigned capacity, const struct net_neigh_config *cfg);
/* Held packets go to release(pkt, ctx) (which may be NULL to leak nothing: then none held). */
void net_neigh_destroy(struct net_neigh_table *t, void (*release)(void *pkt, void *ctx), void *ctx);

/* 0 and the MAC when ip is resolved and fresh, -ENOENT otherwise. */
int net_neigh_lookup(struct net_neigh_table *t, const struct net_ipaddr *ip, uint64_t now,
		     uint8_t mac[NET_ETH_ALEN]);
/* Holds pkt until ip resolves. *solicit tells the caller to send a solicitation now (a new
 * entry). -ENOBUFS: this neighbour already holds NET_NEIGH_PENDING packets; -ENOSPC: no room
 * for a new entry. The caller keeps pkt on error. */
int net_neigh_hold(struct net_neigh_table *t, const struct net_ipaddr *ip, uint64_t now, void *pkt,
		   bool *solicit);
/* Records ip -> mac. An existing entry is always updated; a missing one is created only when
 * create is true (RFC 826: the ARP was for us; RFC 4861 §7.2.3: NS with a source address
 * option). Packets held for ip are stored in released (at most NET_NEIGH_PENDING) and
 * counted in the return value; *learned says whether anything changed or was created. */
unsigned net_neigh_update(struct net_neigh_table *t, const struct net_ipaddr *ip,
			  const uint8_t mac[NET_ETH_ALEN], uint64_t now, bool create,
			  void *released[NET_NEIGH_PENDING], bool *learned);

/* Run periodically: unresolved entries due for another solicitation are listed in resolicit
 * (up to max_resolicit); those out of probes are removed and their packets listed in dropped
 * (up to max_dropped; the rest wait for the next call); stale resolved entries are removed. */
struct net_neigh_timer_out {
	struct net_ipaddr *resolicit;
	unsigned max_resolicit, n_resolicit;
	void **dropped;
	unsigned max_dropped, n_dropped;
};
void net_neigh_timer(struct net_neigh_table *t, uint64_t now, struct net_neigh_timer_out *out);

/* Entries in use (for stats and tests). */
unsigned net_neigh_count(const struct net_neigh_table *t);

#ifdef __cplusplus
}
#endif

#endif
