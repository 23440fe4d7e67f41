/* Data path of lib/net: the poll loop, the host stack (RFC 826 ARP, RFC 792 / RFC 4443 echo,
 * RFC 4861 NS/NA, RFC 768 UDP to the hook), neighbour resolution with held packets, and the
 * zero-copy UDP TX path. No allocation but from mempools, no locks, no syscalls. */
#include "net_internal.h"

#include <errno.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_prefetch.h>

static const uint8_t bcast_mac[NET_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void net_worker_set_udp_hook(struct net_worker *w, net_udp_hook_fn fn, void *ctx)
{
	w->udp_hook = fn;
	w->udp_ctx = ctx;
}

void net_worker_set_loop_hook(struct net_worker *w, net_loop_hook_fn fn, void *ctx)
{
	w->loop_hook = fn;
	w->loop_ctx = ctx;
}

unsigned net_worker_index(const struct net_worker *w)
{
	return w->idx;
}

uint64_t net_worker_now_ns(const struct net_worker *w)
{
	return w->now_ns;
}

/* ---- TX ------------------------------------------------------------------------------------ */

static void tx_flush_port(struct net_worker *w, unsigned pidx)
{
	struct net_txbuf *b = &w->tx[pidx];
	uint16_t sent, n = b->n;
	uint64_t bytes = 0;

	if (!n)
		return;
	for (uint16_t i = 0; i < n; i++)
		bytes += b->m[i]->pkt_len;
	sent = rte_eth_tx_burst(w->dp->ports[pidx].info.port_id, (uint16_t)w->idx, b->m, n);
	if (sent < n) {
		for (uint16_t i = sent; i < n; i++)
			bytes -= b->m[i]->pkt_len;
		net_drop_add(&w->ctr, NET_DROP_TX_FULL, n - sent);
		rte_pktmbuf_free_bulk(&b->m[sent], n - sent);
	}
	net_ctr_add(&w->ctr, NET_CTR_TX_PACKETS, sent);
	net_ctr_add(&w->ctr, NET_CTR_TX_BYTES, bytes);
	b->n = 0;
}

void net_worker_flush(struct net_worker *w)
{
	for (unsigned p = 0; p < w->dp->n_ports; p++)
		tx_flush_port(w, p);
}

static void tx_enqueue(struct net_worker *w, unsigned pidx, struct rte_mbuf *m)
{
	struct net_txbuf *b = &w->tx[pidx];

	if (b->n == NET_TXBUF)
		tx_flush_port(w, pidx);
	b->m[b->n++] = m;
}

static void send_solicit(struct net_worker *w, unsigned pidx, const struct net_ipaddr *nh)
{
	const struct net_iface *ifc = &w->dp->ports[pidx].info.ifc;
	struct net_ipaddr src;
	struct rte_mbuf *m;
	uint8_t *p;
	int len;

	if (net_iface_source_for(ifc, nh, &src) < 0)
		return;
	m = rte_pktmbuf_alloc(w->dp->pool);
	if (!m) {
		net_drop_add(&w->ctr, NET_DROP_NO_MBUF, 1);
		return;
	}
	p = rte_pktmbuf_mtod(m, uint8_t *);
	if (nh->family == 4) {
		len = net_arp_request_build(p, rte_pktmbuf_tailroom(m), ifc->mac, &src, nh);
		net_ctr_add(&w->ctr, NET_CTR_ARP_REQUEST_OUT, 1);
	} else {
		len = net_nd_ns_build(p, rte_pktmbuf_tailroom(m), ifc->mac, &src, nh);
		net_ctr_add(&w->ctr, NET_CTR_ND_NS_OUT, 1);
	}
	if (len < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	tx_enqueue(w, pidx, m);
}

static void send_released(struct net_worker *w, unsigned pidx, const uint8_t mac[NET_ETH_ALEN],
			  void **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		memcpy(rte_pktmbuf_mtod(m, uint8_t *), mac, NET_ETH_ALEN);
		tx_enqueue(w, pidx, m);
	}
	net_ctr_add(&w->ctr, NET_CTR_NEIGH_RELEASED, n);
}

/* Sends m (Ethernet destination still to be filled) towards nh, or holds it until resolved. */
static int tx_resolve(struct net_worker *w, unsigned pidx, const struct net_ipaddr *nh,
		      struct rte_mbuf *m, uint64_t now)
{
	struct net_neigh_table *t = w->neigh[pidx];
	uint8_t *eth = rte_pktmbuf_mtod(m, uint8_t *);
	bool solicit;
	int rc;

	if (net_neigh_lookup(t, nh, now, eth) == 0) {
		tx_enqueue(w, pidx, m);
		return 0;
	}
	rc = net_neigh_hold(t, nh, now, m, &solicit);
	if (rc < 0) {
		net_drop_add(&w->ctr, NET_DROP_NEIGH_PENDING_FULL, 1);
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	net_ctr_add(&w->ctr, NET_CTR_NEIGH_HELD, 1);
	if (solicit)
		send_solicit(w, pidx, nh);
	return 0;
}

/* One fresh mbuf from the worker's stash of pool, refilled in bulk; NULL when the pool is dry.
 * The next mbuf's lines that net_tx_udp writes (its two header lines, and at `extra` bytes
 * from it the frame headers of a packet mbuf or the private area of an external one) are
 * prefetched, so the stores into a fresh mbuf do not wait for memory. */
static struct rte_mbuf *stash_get(struct rte_mempool *pool, struct net_mstash *s, size_t extra)
{
	struct rte_mbuf *m;

	if (s->next == s->n) {
		if (rte_pktmbuf_alloc_bulk(pool, s->m, NET_MSTASH) != 0)
			return rte_pktmbuf_alloc(pool); /* fewer left than a stash: one at a time */
		s->n = NET_MSTASH;
		s->next = 0;
	}
	m = s->m[s->next++];
	if (s->next < s->n) {
		char *nx = (char *)s->m[s->next];

		rte_prefetch0(nx);
		rte_prefetch0(nx + RTE_CACHE_LINE_SIZE);
		rte_prefetch0(nx + extra);
		rte_prefetch0(nx + extra + RTE_CACHE_LINE_SIZE);
	}
	return m;
}

static void payload_release(const struct net_payload *pl)
{
	if (pl && pl->release)
		pl->release(pl->release_ctx, pl->ref);
}

/* DPDK's callback for an external buffer whose last reference went: the caller's release. */
static void ext_free(void *addr, void *opaque)
{
	struct net_ext_priv *p = opaque;

	(void)addr;
	if (p->release)
		p->release(p->release_ctx, p->ref);
}

int net_tx_udp(struct net_worker *w, uint16_t port_id, const struct net_udp_tuple *t,
	       const void *hdr, uint16_t hdr_len, const struct net_payload *payload)
{
	struct net_dataplane *dp = w->dp;
	const struct net_port *port;
	struct rte_mbuf *m, *e = NULL;
	struct net_ipaddr nh;
	uint32_t plen = payload ? payload->len : 0, udp_len, ip_hlen;
	unsigned flags = 0, pidx;
	bool offload;
	uint8_t *p;
	int hl;

	if (port_id >= RTE_MAX_ETHPORTS || dp->port_idx[port_id] < 0 ||
	    (t->local.family != 4 && t->local.family != 6) || t->local.family != t->remote.family ||
	    (hdr_len && !hdr) || (payload && (!payload->addr || payload->len > UINT16_MAX))) {
		payload_release(payload);
		return -EINVAL;
	}
	pidx = (unsigned)dp->port_idx[port_id];
	port = &dp->ports[pidx];
	if (!net_iface_has_addr(&port->info.ifc, &t->local)) {
		/* Never send from an address that is not ours on that port. */
		payload_release(payload);
		return -EADDRNOTAVAIL;
	}
	ip_hlen = t->local.family == 4 ? NET_IPV4_HLEN : NET_IPV6_HLEN;
	udp_len = NET_UDP_HLEN + hdr_len + plen;
	if (ip_hlen + udp_len > port->mtu) {
		net_drop_add(&w->ctr, NET_DROP_TX_TOO_BIG, 1);
		payload_release(payload);
		return -EMSGSIZE;
	}
	if (net_iface_next_hop(&port->info.ifc, &t->remote, &nh) < 0) {
		net_drop_add(&w->ctr, NET_DROP_NO_ROUTE, 1);
		payload_release(payload);
		return -ENETUNREACH;
	}
	m = stash_get(dp->pool, &w->hdr_stash,
		      sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(dp->pool) +
			  RTE_PKTMBUF_HEADROOM);
	if (m && payload)
		e = stash_get(dp->ext_pool, &w->ext_stash, sizeof(struct rte_mbuf));
	if (!m || (payload && !e)) {
		net_drop_add(&w->ctr, NET_DROP_NO_MBUF, 1);
		rte_pktmbuf_free(m);
		payload_release(payload);
		return -ENOBUFS;
	}
	offload = port->info.tx_udp_csum_offload && (!payload || port->info.tx_csum_multiseg_ok);
	if (offload)
		flags = NET_UDP_BUILD_NO_IP_CSUM;
	p = (uint8_t *)rte_pktmbuf_append(
	    m, (uint16_t)(NET_ETH_HLEN + ip_hlen + NET_UDP_HLEN + hdr_len));
	if (!p) { /* header bytes beyond one mbuf's room */
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(e);
		net_drop_add(&w->ctr, NET_DROP_TX_TOO_BIG, 1);
		payload_release(payload);
		return -EMSGSIZE;
	}
	hl = net_udp_build(p, m->data_len, t, port->info.ifc.mac, bcast_mac, w->ip_id++,
			   hdr_len + plen, flags);
	if (hdr_len)
		memcpy(p + hl, hdr, hdr_len);
	if (e) {
		struct net_ext_priv *xp = rte_mbuf_to_priv(e);

		xp->release = payload->release;
		xp->release_ctx = payload->release_ctx;
		xp->ref = payload->ref;
		xp->sh.free_cb = ext_free;
		xp->sh.fcb_opaque = xp;
		rte_mbuf_ext_refcnt_set(&xp->sh, 1);
		rte_pktmbuf_attach_extbuf(e, (void *)(uintptr_t)payload->addr, payload->iova,
					  (uint16_t)payload->len, &xp->sh);
		e->data_len = (uint16_t)payload->len;
		e->pkt_len = payload->len;
		/* From here the payload belongs to e: freeing e runs release once. */
		if (rte_pktmbuf_chain(m, e) < 0) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(e);
			net_drop_add(&w->ctr, NET_DROP_TX_TOO_BIG, 1);
			return -EMSGSIZE;
		}
		net_ctr_add(&w->ctr, NET_CTR_UDP_OUT_EXTBUF, 1);
	}
	if (offload) {
		uint8_t *ip = p + NET_ETH_HLEN, *u = ip + ip_hlen;
		uint16_t ph;

		m->l2_len = NET_ETH_HLEN;
		m->l3_len = ip_hlen;
		if (t->local.family == 4) {
			m->ol_flags |=
			    RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
			ph = rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)ip, m->ol_flags);
		} else {
			m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
			ph = rte_ipv6_phdr_cksum((const struct rte_ipv6_hdr *)ip, m->ol_flags);
		}
		memcpy(u + 6, &ph, 2); /* already in network order */
	} else {
		/* The UDP header from its values (checksum field 0) and the caller's bytes, not
		 * re-read from the mbuf just written; the payload from its stored sum when it has
		 * one. It starts at UDP offset 8 + hdr_len: at an odd offset its words straddle
		 * ours, and its sum taken from an even offset is worth that sum byte-swapped
		 * (RFC 1071 §2(B): 2^8 * 2^8 = 1 mod 0xffff). */
		uint32_t sum = (uint32_t)t->local_port + t->remote_port + udp_len;

		if (hdr_len)
			sum = net_csum_add(sum, hdr, hdr_len, false);
		if (e && payload->has_sum)
			sum += hdr_len & 1 ? __builtin_bswap16(payload->sum) : payload->sum;
		else if (e)
			sum = net_csum_add(sum, payload->addr, plen, hdr_len & 1);
		net_udp_csum_finish(p, t, sum, udp_len);
	}
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT, 1);
	/* Inside the poll loop the iteration's clock is close enough for neighbour ageing (no
	 * TSC read per datagram); a sender outside it (tests, start-up) reads the clock. */
	return tx_resolve(w, pidx, &nh, m, w->in_poll ? w->now_ns : net_now_ns(dp));
}

/* ---- neighbours shared between workers ---------------------------------------------------- */

static void neigh_learn(struct net_worker *w, unsigned pidx, const struct net_ipaddr *ip,
			const uint8_t mac[NET_ETH_ALEN], bool create, uint64_t now, bool share)
{
	void *rel[NET_NEIGH_PENDING];
	bool learned;
	unsigned n = net_neigh_update(w->neigh[pidx], ip, mac, now, create, rel, &learned);

	if (learned)
		net_ctr_add(&w->ctr, NET_CTR_NEIGH_LEARNED, 1);
	send_released(w, pidx, mac, rel, n);
	if (!share)
		return;
	/* Another worker may be waiting for this answer (it sent the solicitation); tell all. */
	for (unsigned i = 0; i < w->dp->cfg.n_workers; i++) {
		struct net_neigh_share s = {.port_idx = (uint8_t)pidx, .create = create, .ip = *ip};

		if (i == w->idx)
			continue;
		memcpy(s.mac, mac, NET_ETH_ALEN);
		if (rte_ring_enqueue_elem(w->dp->workers[i].share_ring, &s, sizeof(s)) == 0)
			net_ctr_add(&w->ctr, NET_CTR_NEIGH_SHARED_OUT, 1);
		else
			net_drop_add(&w->ctr, NET_DROP_NEIGH_SHARE_FULL, 1);
	}
}

static void share_drain(struct net_worker *w, uint64_t now)
{
	struct net_neigh_share s[16];
	unsigned n = rte_ring_dequeue_burst_elem(w->share_ring, s, sizeof(s[0]), 16, NULL);

	for (unsigned i = 0; i < n; i++)
		if (s[i].port_idx < w->dp->n_ports)
			neigh_learn(w, s[i].port_idx, &s[i].ip, s[i].mac, s[i].create, now, false);
	net_ctr_add(&w->ctr, NET_CTR_NEIGH_SHARED_IN, n);
}

static void neigh_timers(struct net_worker *w, uint64_t now)
{
	struct net_ipaddr resol[16];
	void *dropped[32];

	for (unsigned p = 0; p < w->dp->n_ports; p++) {
		struct net_neigh_timer_out out = {
		    .resolicit = resol, .max_resolicit = 16, .dropped = dropped, .max_dropped = 32};

		net_neigh_timer(w->neigh[p], now, &out);
		for (unsigned i = 0; i < out.n_resolicit; i++)
			send_solicit(w, p, &resol[i]);
		if (out.n_dropped) {
			net_drop_add(&w->ctr, NET_DROP_NEIGH_UNRESOLVED, out.n_dropped);
			rte_pktmbuf_free_bulk((struct rte_mbuf **)dropped, out.n_dropped);
		}
	}
}

/* ---- RX: host stack ----------------------------------------------------------------------- */

static void reply(struct net_worker *w, unsigned pidx, struct rte_mbuf *m, int len)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	m->ol_flags = 0;
	tx_enqueue(w, pidx, m);
}

/* Returns NET_DROP_NONE when m was consumed (sent back or kept). */
static enum net_drop rx_arp(struct net_worker *w, unsigned pidx, struct rte_mbuf *m,
			    const struct net_frame *f, uint64_t now)
{
	const struct net_iface *ifc = &w->dp->ports[pidx].info.ifc;
	static const uint8_t zero4[4];
	bool spa_valid = memcmp(f->src.a, zero4, 4) != 0;
	int len;

	net_ctr_add(&w->ctr, f->arp_op == 1 ? NET_CTR_ARP_REQUEST_IN : NET_CTR_ARP_REPLY_IN, 1);
	if (!net_iface_has_addr(ifc, &f->dst)) {
		/* RFC 826 merge: refresh a sender we already know, learn nothing new. */
		if (spa_valid)
			neigh_learn(w, pidx, &f->src, f->arp_sha, false, now, false);
		return NET_DROP_ARP_NOT_FOR_US;
	}
	if (spa_valid)
		neigh_learn(w, pidx, &f->src, f->arp_sha, true, now, true);
	if (f->arp_op != 1) {
		rte_pktmbuf_free(m);
		return NET_DROP_NONE;
	}
	len = net_arp_reply_build(rte_pktmbuf_mtod(m, uint8_t *), m->buf_len - m->data_off, f,
				  ifc->mac);
	if (len < 0)
		return NET_DROP_ARP_MALFORMED;
	net_ctr_add(&w->ctr, NET_CTR_ARP_REPLY_OUT, 1);
	reply(w, pidx, m, len);
	return NET_DROP_NONE;
}

static enum net_drop rx_icmp6(struct net_worker *w, unsigned pidx, struct rte_mbuf *m,
			      const struct net_frame *f, uint64_t now)
{
	const struct net_iface *ifc = &w->dp->ports[pidx].info.ifc;
	static const uint8_t unspec[16];
	int len;

	switch (f->icmp_type) {
	case 128:
		net_ctr_add(&w->ctr, NET_CTR_ICMP6_ECHO_IN, 1);
		if (!net_iface_has_addr(ifc, &f->dst))
			return NET_DROP_IP_NOT_FOR_US; /* multicast echo: not answered */
		len = net_echo_reply_inplace(rte_pktmbuf_mtod(m, uint8_t *), f, ifc->mac);
		net_ctr_add(&w->ctr, NET_CTR_ICMP6_ECHO_OUT, 1);
		reply(w, pidx, m, len);
		return NET_DROP_NONE;
	case 135:
		net_ctr_add(&w->ctr, NET_CTR_ND_NS_IN, 1);
		if (!net_iface_has_addr(ifc, &f->nd_target))
			return NET_DROP_ND_NOT_FOR_US;
		/* §7.2.3: a solicitation with a source address option creates/updates the entry. */
		if (f->nd_has_lladdr && memcmp(f->src.a, unspec, 16) != 0)
			neigh_learn(w, pidx, &f->src, f->nd_lladdr, true, now, true);
		len = net_nd_na_reply_build(rte_pktmbuf_mtod(m, uint8_t *),
					    m->buf_len - m->data_off, f, ifc->mac);
		if (len < 0)
			return NET_DROP_ND_MALFORMED;
		net_ctr_add(&w->ctr, NET_CTR_ND_NA_OUT, 1);
		reply(w, pidx, m, len);
		return NET_DROP_NONE;
	case 136:
		net_ctr_add(&w->ctr, NET_CTR_ND_NA_IN, 1);
		/* §7.2.5: an NA updates an existing entry only; share it with the worker whose
		 * solicitation it answers. */
		if (f->nd_has_lladdr)
			neigh_learn(w, pidx, &f->nd_target, f->nd_lladdr, false, now, true);
		rte_pktmbuf_free(m);
		return NET_DROP_NONE;
	default:
		return NET_DROP_ICMP_TYPE;
	}
}

static void rx_burst(struct net_worker *w, struct rte_mbuf **pkts, unsigned n, uint64_t now)
{
	struct net_udp_dgram d[NET_BURST];
	struct rte_mbuf *done[NET_BURST];
	unsigned nd = 0, ndone = 0;
	struct net_frame f;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		int8_t pi = m->port < RTE_MAX_ETHPORTS ? w->dp->port_idx[m->port] : -1;
		const struct net_iface *ifc;
		const uint8_t *data;
		enum net_drop drop;
		unsigned flags = 0;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		net_ctr_add(&w->ctr, NET_CTR_RX_PACKETS, 1);
		net_ctr_add(&w->ctr, NET_CTR_RX_BYTES, m->pkt_len);
		if (pi < 0) { /* not one of our ports: cannot happen for our queues */
			drop = NET_DROP_L2_NOT_FOR_US;
			goto drop;
		}
		ifc = &w->dp->ports[pi].info.ifc;
		if (m->nb_segs != 1) {
			drop = NET_DROP_RX_MULTISEG;
			goto drop;
		}
		data = rte_pktmbuf_mtod(m, const uint8_t *);
		if (m->data_len < NET_ETH_HLEN) {
			drop = NET_DROP_RUNT;
			goto drop;
		}
		if (memcmp(data + 6, ifc->mac, NET_ETH_ALEN) == 0) {
			drop = NET_DROP_OWN_FRAME;
			goto drop;
		}
		/* Unicast to someone else; group addresses (broadcast, 33:33:..) are checked at L3.
		 */
		if (!(data[0] & 1) && memcmp(data, ifc->mac, NET_ETH_ALEN) != 0) {
			drop = NET_DROP_L2_NOT_FOR_US;
			goto drop;
		}
		if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
			flags |= NET_PARSE_L3_CSUM_GOOD;
		if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			flags |= NET_PARSE_L4_CSUM_GOOD;
		drop = net_frame_parse(data, m->data_len, flags, &f);
		if (drop != NET_DROP_NONE)
			goto drop;
		if (f.kind == NET_FRAME_ARP) {
			drop = rx_arp(w, (unsigned)pi, m, &f, now);
			if (drop == NET_DROP_NONE)
				continue;
			goto drop;
		}
		if (f.kind == NET_FRAME_IPV4 ? !net_iface_has_addr(ifc, &f.dst)
					     : !net_iface_accepts_ip6(ifc, &f.dst)) {
			drop = NET_DROP_IP_NOT_FOR_US;
			goto drop;
		}
		if (f.proto == NET_IPPROTO_ICMP) {
			if (f.icmp_type != 8) {
				drop = NET_DROP_ICMP_TYPE;
				goto drop;
			}
			net_ctr_add(&w->ctr, NET_CTR_ICMP4_ECHO_IN, 1);
			net_ctr_add(&w->ctr, NET_CTR_ICMP4_ECHO_OUT, 1);
			reply(w, (unsigned)pi, m,
			      net_echo_reply_inplace(rte_pktmbuf_mtod(m, uint8_t *), &f, ifc->mac));
			continue;
		}
		if (f.proto == NET_IPPROTO_ICMPV6) {
			drop = rx_icmp6(w, (unsigned)pi, m, &f, now);
			if (drop == NET_DROP_NONE)
				continue;
			goto drop;
		}
		/* UDP (the parser accepts no other protocol) */
		net_ctr_add(&w->ctr, NET_CTR_UDP_IN, 1);
		if (f.kind == NET_FRAME_IPV6 && !net_iface_has_addr(ifc, &f.dst)) {
			drop = NET_DROP_IP_NOT_FOR_US; /* UDP to a multicast group */
			goto drop;
		}
		if (f.dport != w->dp->cfg.ppspp_port) {
			drop = NET_DROP_UDP_PORT;
			goto drop;
		}
		if (!w->udp_hook) {
			drop = NET_DROP_PPSPP_NO_ENGINE;
			goto drop;
		}
		d[nd].m = m;
		d[nd].port_id = m->port;
		d[nd].tuple.local = f.dst;
		d[nd].tuple.remote = f.src;
		d[nd].tuple.local_port = f.dport;
		d[nd].tuple.remote_port = f.sport;
		d[nd].payload = data + f.payload_off;
		d[nd].payload_len = f.payload_len;
		nd++;
		continue;
	drop:
		net_drop_add(&w->ctr, drop, 1);
		done[ndone++] = m;
	}
	if (nd) {
		w->udp_hook(w->udp_ctx, w, d, nd);
		for (unsigned i = 0; i < nd; i++)
			done[ndone++] = d[i].m;
	}
	if (ndone)
		rte_pktmbuf_free_bulk(done, ndone);
}

/* Software dispatch: a UDP flow goes to the worker its 4-tuple hashes to, whichever queue the
 * PMD put it on; everything else is handled by the worker that read it. */
static unsigned dispatch(struct net_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	unsigned nw = w->dp->cfg.n_workers, keep = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint32_t h;
		unsigned owner = w->idx;

		if (m->nb_segs == 1 &&
		    net_frame_flow_hash(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &h) == 0)
			owner = h % nw;
		if (owner == w->idx) {
			pkts[keep++] = m;
			continue;
		}
		if (rte_ring_enqueue(w->dp->workers[owner].dispatch_ring, m) == 0) {
			net_ctr_add(&w->ctr, NET_CTR_DISPATCH_OUT, 1);
		} else {
			net_ctr_add(&w->ctr, NET_CTR_RX_PACKETS, 1);
			net_ctr_add(&w->ctr, NET_CTR_RX_BYTES, m->pkt_len);
			net_drop_add(&w->ctr, NET_DROP_DISPATCH_FULL, 1);
			rte_pktmbuf_free(m);
		}
	}
	return keep;
}

unsigned net_worker_poll(struct net_worker *w)
{
	struct net_dataplane *dp = w->dp;
	struct rte_mbuf *pkts[NET_BURST];
	uint64_t now = net_now_ns(dp);
	unsigned total = 0, n;

	w->now_ns = now;
	w->in_poll = true;
	for (unsigned p = 0; p < dp->n_ports; p++) {
		const struct net_port_info *pi = &dp->ports[p].info;

		if (w->idx >= pi->n_rxq)
			continue;
		n = rte_eth_rx_burst(pi->port_id, (uint16_t)w->idx, pkts, NET_BURST);
		total += n;
		/* Not every PMD stamps the port (net_ring does not); the stack relies on it. */
		for (unsigned i = 0; i < n; i++)
			pkts[i]->port = pi->port_id;
		if (n && pi->rx_mode == NET_RX_DISPATCH)
			n = dispatch(w, pkts, n);
		if (n)
			rx_burst(w, pkts, n, now);
	}
	n = rte_ring_dequeue_burst(w->dispatch_ring, (void **)pkts, NET_BURST, NULL);
	if (n) {
		net_ctr_add(&w->ctr, NET_CTR_DISPATCH_IN, n);
		total += n;
		rx_burst(w, pkts, n, now);
	}
	share_drain(w, now);
	if (now >= w->next_timer_ns) {
		neigh_timers(w, now);
		w->next_timer_ns = now + NET_TIMER_NS;
	}
	if (w->loop_hook)
		w->loop_hook(w->loop_ctx, w, now);
	net_worker_flush(w);
	w->in_poll = false;
	return total;
}

int net_worker_run(void *arg)
{
	struct net_worker *w = arg;

	while (!net_dataplane_stopping(w->dp))
		net_worker_poll(w);
	net_worker_flush(w);
	return 0;
}
