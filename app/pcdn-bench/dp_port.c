/* Emulated CSCs on a DPDK port; see dp_port.h. The clients answer the cacher's ARP requests
 * (RFC 826) for their addresses and learn its MAC by asking; UDP datagrams carry PPSPP. */
#include "dp_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>

#include "pcdn_common.h"

uint64_t dp_now_ns(const struct dp_genport *gp)
{
	return (uint64_t)((double)rte_rdtsc() * gp->ns_per_tsc);
}

int dp_genport_init(struct dp_genport *gp, uint16_t port_id, unsigned n_queues,
		    struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	struct rte_ether_addr a;
	int rc;

	if (n_queues == 0 || n_queues > DP_GEN_QUEUES)
		return -EINVAL;
	gp->port_id = port_id;
	gp->n_queues = n_queues;
	gp->pool = pool;
	gp->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
	memset(&conf, 0, sizeof(conf));
	if ((rc = rte_eth_dev_configure(port_id, (uint16_t)n_queues, (uint16_t)n_queues, &conf)) <
	    0)
		return rc;
	for (unsigned q = 0; q < n_queues; q++) {
		rc = rte_eth_rx_queue_setup(port_id, (uint16_t)q, 4096,
					    rte_eth_dev_socket_id(port_id), NULL, pool);
		if (rc < 0)
			return rc;
		rc = rte_eth_tx_queue_setup(port_id, (uint16_t)q, 4096,
					    rte_eth_dev_socket_id(port_id), NULL);
		if (rc < 0)
			return rc;
	}
	if ((rc = rte_eth_dev_start(port_id)) < 0)
		return rc;
	if ((rc = rte_eth_macaddr_get(port_id, &a)) < 0)
		return rc;
	/* Both ends of a net_ring pair report the same MAC: the clients use one of their own
	 * (locally administered), or the cacher would drop their frames as its own. */
	static const uint8_t client_mac[NET_ETH_ALEN] = {0x02, 0x70, 0x63, 0x73, 0x63, 0x01};
	memcpy(gp->mac, client_mac, NET_ETH_ALEN);
	return 0;
}

int dp_genport_clients(struct dp_genport *gp, struct dpg *gen, unsigned n_clients,
		       const struct net_ipaddr *server_ip, uint16_t server_port,
		       uint16_t client_port, unsigned n_workers, const uint8_t *peer_mac)
{
	uint8_t frame[128];

	if (server_ip->family != 4 || n_workers == 0 || n_clients > 250 * 250)
		return -EINVAL;
	gp->tuples = calloc(n_clients, sizeof(*gp->tuples));
	gp->txq = calloc(n_clients, sizeof(*gp->txq));
	if (!gp->tuples || !gp->txq)
		return -ENOMEM;
	gp->gen = gen;
	gp->n_clients = n_clients;
	gp->server_ip = *server_ip;
	gp->server_port = server_port;
	if (peer_mac) {
		memcpy(gp->peer_mac, peer_mac, NET_ETH_ALEN);
		gp->peer_known = true;
	}
	for (unsigned ci = 0; ci < n_clients; ci++) {
		struct net_udp_tuple *t = &gp->tuples[ci];
		uint8_t ip[4] = {server_ip->a[0], server_ip->a[1], (uint8_t)(1 + ci / 250),
				 (uint8_t)(1 + ci % 250)};
		uint32_t h = 0;

		net_ipaddr_v4(&t->local, ip);
		t->remote = *server_ip;
		t->local_port = client_port;
		t->remote_port = server_port;
		/* the worker lib/net's software dispatch gives this 4-tuple (NIC RSS stand-in) */
		int hl = net_udp_build(frame, sizeof(frame), t, gp->mac, gp->peer_mac, 0, 8, 0);
		if (hl > 0)
			net_frame_flow_hash(frame, (uint32_t)hl + 8, &h);
		unsigned owner = h % n_workers;
		gp->txq[ci] = (uint16_t)(gp->n_queues > 1 ? owner % gp->n_queues : 0);
		dpg_set_group(gen, ci, owner);
	}
	return 0;
}

static void tx_flush(struct dp_genport *gp, unsigned q)
{
	unsigned n = gp->tx[q].n;

	if (!n)
		return;
	uint16_t sent = rte_eth_tx_burst(gp->port_id, (uint16_t)q, gp->tx[q].m, (uint16_t)n);
	if (sent < n) {
		gp->tx_full += n - sent;
		rte_pktmbuf_free_bulk(&gp->tx[q].m[sent], n - sent);
	}
	gp->tx_frames += sent;
	gp->tx[q].n = 0;
}

static void tx_put(struct dp_genport *gp, unsigned q, struct rte_mbuf *m)
{
	gp->tx[q].m[gp->tx[q].n++] = m;
	if (gp->tx[q].n == PCDN_ARRAY_SIZE(gp->tx[q].m))
		tx_flush(gp, q);
}

int dp_genport_send(void *ctx, unsigned ci, const uint8_t *dgram, size_t len)
{
	struct dp_genport *gp = ctx;
	const struct net_udp_tuple *t = &gp->tuples[ci];
	struct rte_mbuf *m;
	uint8_t *p;
	int hl;

	if (!gp->peer_known)
		return -EHOSTUNREACH;
	m = rte_pktmbuf_alloc(gp->pool);
	if (!m) {
		gp->tx_nombuf++;
		return -ENOBUFS;
	}
	p = rte_pktmbuf_mtod(m, uint8_t *);
	hl = net_udp_build(p, rte_pktmbuf_tailroom(m), t, gp->mac, gp->peer_mac, gp->ip_id++,
			   (uint32_t)len, 0);
	if (hl < 0 || (size_t)hl + len > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		return -EMSGSIZE;
	}
	memcpy(p + hl, dgram, len);
	/* RFC 768: the cacher checks it (net_ring has no checksum offload) */
	net_udp_csum_finish(p, t, net_csum_add(0, p + hl - NET_UDP_HLEN, NET_UDP_HLEN + len, false),
			    (uint32_t)(NET_UDP_HLEN + len));
	m->data_len = (uint16_t)(hl + len);
	m->pkt_len = m->data_len;
	tx_put(gp, gp->txq[ci], m);
	return 0;
}

static bool is_client_ip(const struct dp_genport *gp, const struct net_ipaddr *ip)
{
	if (ip->family != 4 || ip->a[0] != gp->server_ip.a[0] || ip->a[1] != gp->server_ip.a[1] ||
	    ip->a[2] == 0 || ip->a[3] == 0 || ip->a[3] > 250)
		return false;
	return (unsigned)(ip->a[2] - 1) * 250 + (ip->a[3] - 1) < gp->n_clients;
}

/* Sends an ARP frame built into m (rl: its length, or the builder's negative error) on queue 0. */
static void tx_frame(struct dp_genport *gp, struct rte_mbuf *m, int rl)
{
	if (rl < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)rl;
	m->pkt_len = (uint32_t)rl;
	tx_put(gp, 0, m);
}

static void rx_arp(struct dp_genport *gp, const uint8_t *d, uint16_t len)
{
	struct net_frame f;
	struct rte_mbuf *m;

	gp->rx_arp++;
	if (net_frame_parse(d, len, 0, &f) != NET_DROP_NONE || f.kind != NET_FRAME_ARP)
		return;
	if (f.arp_op == 2 && net_ipaddr_equal(&f.src, &gp->server_ip)) {
		memcpy(gp->peer_mac, f.arp_sha, NET_ETH_ALEN);
		gp->peer_known = true;
		return;
	}
	if (f.arp_op != 1 || !is_client_ip(gp, &f.dst))
		return;
	if (net_ipaddr_equal(&f.src, &gp->server_ip) && !gp->peer_known) {
		memcpy(gp->peer_mac, f.arp_sha, NET_ETH_ALEN);
		gp->peer_known = true;
	}
	m = rte_pktmbuf_alloc(gp->pool);
	if (!m) {
		gp->tx_nombuf++;
		return;
	}
	int rl = net_arp_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), 2,
			       f.arp_sha, gp->mac, &f.dst, f.arp_sha, &f.src);
	tx_frame(gp, m, rl);
}

static void arp_ask(struct dp_genport *gp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(gp->pool);

	if (!m)
		return;
	int rl = net_arp_request_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m),
				       gp->mac, &gp->tuples[0].local, &gp->server_ip);
	tx_frame(gp, m, rl);
}

const uint8_t *dp_genport_tail(const void *tail)
{
	const struct rte_mbuf *m = tail;

	return rte_pktmbuf_mtod(m->next, const uint8_t *);
}

size_t dp_genport_head(const void *tail)
{
	const struct rte_mbuf *m = tail;
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	size_t hl = NET_ETH_HLEN + (d[NET_ETH_HLEN] & 15u) * 4 + NET_UDP_HLEN;

	return m->data_len > hl ? m->data_len - hl : 0;
}

/* ---- frames located as a NIC locates them ------------------------------------------------------
 * A NIC reads a TX descriptor (address, length) that the PMD wrote on the sending core; the mbuf
 * itself never leaves that core. Over net_ring the descriptor is the mbuf pointer, and reading
 * the mbuf's first line here would take it away from the cacher's core: every DATA would then
 * cost the cacher a cross-core round trip to write that line again (when it fills the next
 * header in it, and when it frees it), which no NIC set-up has. For frames in lib/net's TX
 * header mbufs, whose frame begins right after the mbuf (data_off 0, checked for every object at
 * set-up), the frame's address is the descriptor's; the UDP length gives the datagram's, and a
 * datagram longer than the header room must continue in a second segment, which a zero-copy
 * sender starts right after the DATA message's header. The clients check that last assumption
 * on every DATA they verify (dp_genport_head), and anything else takes the mbuf path. */

static void desc_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	bool *bad = arg;
	const struct rte_mbuf *m = obj;

	(void)mp;
	(void)idx;
	if (m->buf_addr != (const void *)(m + 1) || m->buf_len != NET_TX_HDR_ROOM)
		*bad = true;
}

static void desc_mem(struct rte_mempool *mp, void *arg, struct rte_mempool_memhdr *mh,
		     unsigned idx)
{
	struct dp_genport *gp = arg;

	(void)mp;
	(void)idx;
	if (gp->n_desc < PCDN_ARRAY_SIZE(gp->desc)) {
		gp->desc[gp->n_desc].lo = (uintptr_t)mh->addr;
		gp->desc[gp->n_desc].hi = (uintptr_t)mh->addr + mh->len;
	}
	gp->n_desc++;
}

int dp_genport_desc_pool(struct dp_genport *gp, struct rte_mempool *mp)
{
	bool bad = false;

	if (!mp)
		return -EINVAL;
	rte_mempool_obj_iter(mp, desc_obj, &bad);
	rte_mempool_mem_iter(mp, desc_mem, gp);
	if (bad || gp->n_desc > PCDN_ARRAY_SIZE(gp->desc)) {
		gp->n_desc = 0;
		return -EINVAL;
	}
	return 0;
}

static inline bool desc_frame(const struct dp_genport *gp, const struct rte_mbuf *m)
{
	for (unsigned i = 0; i < gp->n_desc; i++)
		if ((uintptr_t)m - gp->desc[i].lo < gp->desc[i].hi - gp->desc[i].lo)
			return true;
	return false;
}

int dp_genport_views(struct dp_genport *gp, const struct rte_mbuf *views, unsigned n,
		     const uint8_t *data, size_t stride, unsigned room)
{
	if (!views || !n || !room)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (views[i].buf_addr && (const uint8_t *)views[i].buf_addr + room !=
					     data + (size_t)i * stride)
			return -EINVAL;
	gp->view_lo = views;
	gp->view_hi = views + n;
	gp->view_data = data;
	gp->view_stride = stride;
	gp->view_room = room;
	return 0;
}

/* A DATA sent in place (one of the cacher's frame views), read from its bytes alone: the payload
 * is at the view's slot, and the frame ends there. Where it starts depends on how many INTEGRITY
 * messages precede the DATA (41 bytes each), so each count is tried from the fewest up until
 * the Ethernet, IPv4 and UDP headers it implies agree with the frame and the PPSPP messages sit
 * where they would: only bytes of the frame are read before the right start is found. A NIC
 * gets the start from the descriptor the PMD wrote; reading the view's first line here instead
 * would take it from the cacher's core. false: take the mbuf path. */
static bool rx_view(struct dp_genport *gp, const struct rte_mbuf *m, uint64_t now)
{
	const uint8_t *pl = gp->view_data + (size_t)(m - gp->view_lo) * gp->view_stride;
	/* Ethernet, IPv4 (no options), UDP, channel ID; then INTEGRITY * k; DATA header (type,
	 * 32-bit chunk range, 64-bit timestamp) */
	const unsigned base = NET_ETH_HLEN + NET_IPV4_HLEN + NET_UDP_HLEN + 4, data_hdr = 17,
		       integ = 41;

	if (pl[-(int)data_hdr] != 1)
		return false;
	for (unsigned k = 0; base + k * integ + data_hdr <= gp->view_room; k++) {
		unsigned hl = base + k * integ + data_hdr;
		const uint8_t *d = pl - hl, *u = d + NET_ETH_HLEN + NET_IPV4_HLEN;
		bool msgs = true;

		if (pcdn_get_be16(d + 12) != NET_ETHERTYPE_IPV4 || d[14] != 0x45 ||
		    d[14 + 9] != NET_IPPROTO_UDP || memcmp(d, gp->mac, NET_ETH_ALEN) != 0)
			continue;
		uint32_t ulen = pcdn_get_be16(u + 4);
		if (ulen <= hl - NET_ETH_HLEN - NET_IPV4_HLEN ||
		    pcdn_get_be16(d + 14 + 2) != NET_IPV4_HLEN + ulen)
			continue;
		for (unsigned j = 0; j < k && msgs; j++)
			msgs = u[NET_UDP_HLEN + 4 + j * integ] == 4;
		if (!msgs)
			continue;
		dpg_input(gp->gen, u + NET_UDP_HLEN, ulen - NET_UDP_HLEN, NULL, 0, now);
		gp->rx_frames++;
		gp->rx_view++;
		return true;
	}
	return false;
}

static inline bool view_frame(const struct dp_genport *gp, const struct rte_mbuf *m)
{
	return m >= gp->view_lo && m < gp->view_hi;
}

/* A frame of the TX header pool, read from its bytes alone; false: take the mbuf path. */
static bool rx_desc(struct dp_genport *gp, const struct rte_mbuf *m, uint64_t now)
{
	const uint8_t *d = (const uint8_t *)(m + 1);

	if (pcdn_get_be16(d + 12) != NET_ETHERTYPE_IPV4 || d[14 + 9] != NET_IPPROTO_UDP)
		return false;
	unsigned ihl = (d[14] & 15u) * 4, off = NET_ETH_HLEN + ihl + NET_UDP_HLEN;
	if (ihl < NET_IPV4_HLEN || off >= NET_TX_HDR_ROOM)
		return false;
	uint32_t ulen = pcdn_get_be16(d + NET_ETH_HLEN + ihl + 4);
	if (ulen < NET_UDP_HLEN || off + ulen - NET_UDP_HLEN <= NET_TX_HDR_ROOM)
		return false; /* could be all in this mbuf: its length is in the mbuf */
	if (!dpg_input_chained(gp->gen, d + off, NET_TX_HDR_ROOM - off, ulen - NET_UDP_HLEN, m,
			       now))
		return false;
	gp->rx_frames++;
	gp->rx_desc++;
	return true;
}

static void rx_frame(struct dp_genport *gp, struct rte_mbuf *m, uint64_t now)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	uint16_t dl = m->data_len;

	gp->rx_frames++;
	if (dl < NET_ETH_HLEN + NET_IPV4_HLEN + NET_UDP_HLEN) {
		if (dl >= NET_ETH_HLEN && pcdn_get_be16(d + 12) == NET_ETHERTYPE_ARP)
			rx_arp(gp, d, dl);
		else
			gp->rx_other++;
		return;
	}
	uint16_t et = pcdn_get_be16(d + 12);
	if (et == NET_ETHERTYPE_ARP) {
		rx_arp(gp, d, dl);
		return;
	}
	unsigned ihl = (d[14] & 15u) * 4;
	if (et != NET_ETHERTYPE_IPV4 || d[14 + 9] != NET_IPPROTO_UDP || ihl < NET_IPV4_HLEN ||
	    dl < NET_ETH_HLEN + ihl + NET_UDP_HLEN) {
		gp->rx_other++;
		return;
	}
	const uint8_t *u = d + NET_ETH_HLEN + ihl;
	uint32_t ulen = pcdn_get_be16(u + 4);
	if (ulen < NET_UDP_HLEN) {
		gp->rx_other++;
		return;
	}
	uint32_t plen = ulen - NET_UDP_HLEN, off = NET_ETH_HLEN + ihl + NET_UDP_HLEN;
	uint32_t first = dl - off;
	if (plen <= first) {
		dpg_input(gp->gen, d + off, plen, NULL, 0, now);
	} else if (m->nb_segs == 2 && plen - first <= m->pkt_len - dl) {
		/* zero-copy DATA: the payload is the next segment (the cache slot), resolved only
		 * for a sampled DATA (tail_data) */
		dpg_input(gp->gen, d + off, first, m, plen - first, now);
	} else {
		gp->rx_other++;
	}
}

int dp_genport_main(void *arg)
{
	struct dp_genport *gp = arg;
	struct rte_mbuf *pkts[32];
	bool dsc[32], vw[32];

	gp->tid = gettid();
	while (!gp->stop) {
		uint64_t now = dp_now_ns(gp);
		unsigned total = 0;
		for (unsigned q = 0; q < gp->n_queues; q++) {
			uint16_t n = rte_eth_rx_burst(gp->port_id, (uint16_t)q, pkts, 32);
			/* As a NIC's RX path would: the first line of every frame of the burst (or,
			 * off the descriptor path, of its mbuf) first, their lines just written on
			 * the cacher's core, then each mbuf's frame two ahead, so the clients'
			 * reads overlap instead of waiting one by one. */
			for (uint16_t i = 0; i < n; i++) {
				dsc[i] = desc_frame(gp, pkts[i]);
				vw[i] = !dsc[i] && view_frame(gp, pkts[i]);
				if (vw[i]) /* the DATA header's line, right before the payload */
					rte_prefetch0(gp->view_data - 64 +
						      (size_t)(pkts[i] - gp->view_lo) *
							  gp->view_stride);
				else
					rte_prefetch0(dsc[i] ? (void *)(pkts[i] + 1)
							     : (void *)pkts[i]);
			}
			for (uint16_t i = 0; i < n && i < 2; i++)
				if (!dsc[i] && !vw[i])
					rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
			for (uint16_t i = 0; i < n; i++) {
				if (i + 2 < n && !dsc[i + 2] && !vw[i + 2])
					rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void *));
				if (vw[i] ? !rx_view(gp, pkts[i], now)
					  : !dsc[i] || !rx_desc(gp, pkts[i], now))
					rx_frame(gp, pkts[i], now);
			}
			if (n) {
				unsigned k = gp->done[q] ? rte_ring_sp_enqueue_burst(
							       gp->done[q], (void **)pkts, n, NULL)
							 : 0;
				if (k < n)
					rte_pktmbuf_free_bulk(pkts + k, n - k);
			}
			total += n;
		}
		if (gp->peer_known) {
			dpg_tick(gp->gen, now);
		} else if (now >= gp->next_arp_ns) {
			arp_ask(gp);
			gp->next_arp_ns = now + 100000000ull;
		}
		for (unsigned q = 0; q < gp->n_queues; q++)
			tx_flush(gp, q);
		if (!total)
			gp->idle_loops++;
		gp->loops++;
	}
	/* the end of the run: every channel closed (§8.4) */
	dpg_close_all(gp->gen, dp_now_ns(gp));
	for (unsigned q = 0; q < gp->n_queues; q++)
		tx_flush(gp, q);
	return 0;
}

void dp_genport_close(struct dp_genport *gp)
{
	free(gp->tuples);
	free(gp->txq);
	gp->tuples = NULL;
	gp->txq = NULL;
}

/* ---- I/O ceiling ----------------------------------------------------------------------------- */

int dp_iolimit_fwd_main(void *arg)
{
	struct dp_iolimit *io = arg;
	struct rte_mbuf *pkts[32];

	uint64_t preempt = rte_get_tsc_hz() / 10000; /* 100 us */

	io->tid = gettid();
	/* testpmd's accounting: cycles of iterations that forwarded, a preempted one (over
	 * 100 us for at most 32 mbufs) left out with its packets */
	while (!io->stop) {
		uint64_t t0 = rte_rdtsc();
		uint16_t n = rte_eth_rx_burst(io->port_id, 0, pkts, 32);
		if (!n)
			continue;
		uint16_t s = rte_eth_tx_burst(io->port_id, 0, pkts, n);
		if (s < n)
			rte_pktmbuf_free_bulk(&pkts[s], n - s);
		io->pkts += s;
		uint64_t d = rte_rdtsc() - t0;
		if (d < preempt) {
			io->busy_cycles += d;
			io->busy_pkts += s;
		}
	}
	return 0;
}

int dp_iolimit_bounce_main(void *arg)
{
	struct dp_iolimit *io = arg;
	struct rte_mbuf *pkts[32];
	unsigned primed = 0;

	/* bare 64-byte frames, allocated once and sent round and round */
	while (primed < io->inflight && !io->stop) {
		unsigned want = PCDN_MIN(32u, io->inflight - primed);
		if (rte_pktmbuf_alloc_bulk(io->pool, pkts, want) < 0) {
			io->rc = -ENOBUFS;
			return -ENOBUFS;
		}
		for (unsigned i = 0; i < want; i++) {
			memset(rte_pktmbuf_mtod(pkts[i], void *), 0, 64);
			pkts[i]->data_len = 64;
			pkts[i]->pkt_len = 64;
		}
		uint16_t s = rte_eth_tx_burst(io->port_id, 0, pkts, (uint16_t)want);
		if (s < want)
			rte_pktmbuf_free_bulk(&pkts[s], want - s);
		primed += want;
	}
	while (!io->stop) {
		uint16_t n = rte_eth_rx_burst(io->port_id, 0, pkts, 32);
		if (!n)
			continue;
		uint16_t s = rte_eth_tx_burst(io->port_id, 0, pkts, n);
		if (s < n)
			rte_pktmbuf_free_bulk(&pkts[s], n - s);
	}
	return 0;
}
