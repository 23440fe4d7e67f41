/* Data path of lib/net: the poll loop, the host stack (RFC 826 ARP, RFC 792 / RFC 4443 echo,
 * RFC 4861 NS/NA, RFC 768 UDP to the hook), neighbour resolution with held packets, and the
 * zero-copy UDP TX path. No allocation but from mempools, no locks, no syscalls. */
#include "net_internal.h"
#include "pcdn_common.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <rte_prefetch.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

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

/* Hands port pidx's waiting datagrams to the PMD, in order (two bursts where the ring wraps).
 * What its queue does not take stays for the next flush: a full queue is a pause, not a loss
 * (senders see it in net_worker_tx_room and hold back). tx_held counts each refused datagram
 * once. */
static void tx_flush_port(struct net_worker *w, unsigned pidx)
{
	struct net_txbuf *b = &w->tx[pidx];
	uint16_t port_id = w->dp->ports[pidx].info.port_id;
	uint64_t bytes = 0, sent = 0;

	/* The frames' header lines went out with non-temporal stores (stream_lines), which are
	 * weakly ordered: they must be visible before the PMD, or a ring's consumer, reads them. */
	rte_wmb();
	while (b->n) {
		uint16_t cnt = RTE_MIN(b->n, (uint16_t)(b->cap - b->head));
		uint16_t k = rte_eth_tx_burst(port_id, (uint16_t)w->idx, &b->m[b->head], cnt);

		for (uint16_t i = 0; i < k; i++)
			bytes += b->len[b->head + i];
		sent += k;
		b->n = (uint16_t)(b->n - k);
		b->head = (uint16_t)(b->head + k == b->cap ? 0 : b->head + k);
		if (k < cnt)
			break;
	}
	/* the ones refused for the first time (the first `held` were refused before) */
	if (b->n > b->held)
		net_ctr_add(&w->ctr, NET_CTR_TX_HELD, (uint64_t)(b->n - b->held));
	b->held = b->n;
	net_ctr_add(&w->ctr, NET_CTR_TX_PACKETS, sent);
	net_ctr_add(&w->ctr, NET_CTR_TX_BYTES, bytes);
}

void net_worker_flush(struct net_worker *w)
{
	for (unsigned p = 0; p < w->dp->n_ports; p++)
		tx_flush_port(w, p);
}

/* An eighth of each hold stays for what is sent without asking (ARP, ND, echo replies, a bulk
 * sender's control datagrams). */
unsigned net_worker_tx_room(const struct net_worker *w)
{
	unsigned room = w->dp->n_ports ? UINT_MAX : 0;

	for (unsigned p = 0; p < w->dp->n_ports; p++) {
		const struct net_txbuf *b = &w->tx[p];
		unsigned bulk = b->cap - b->cap / 8u;

		room = RTE_MIN(room, b->n < bulk ? bulk - b->n : 0u);
	}
	return room;
}

/* Queues m on port pidx, flushing once NET_TXBUF have come since the last flush. Only when the
 * hold is full and the PMD still takes nothing is m dropped (tx_queue_full). */
static void tx_enqueue(struct net_worker *w, unsigned pidx, struct rte_mbuf *m)
{
	struct net_txbuf *b = &w->tx[pidx];

	if (b->n - b->held >= NET_TXBUF || b->n == b->cap)
		tx_flush_port(w, pidx);
	if (unlikely(b->n == b->cap)) {
		net_drop_add(&w->ctr, NET_DROP_TX_FULL, 1);
		rte_pktmbuf_free(m);
		return;
	}
	unsigned i = (unsigned)b->head + b->n;
	if (i >= b->cap)
		i -= b->cap;
	b->m[i] = m;
	b->len[i] = (uint16_t)m->pkt_len;
	b->n++;
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

/* TX mbufs are taken raw (rte_mempool_get, no rte_pktmbuf_reset): an mbuf back in its pool has
 * refcnt 1, next NULL and nb_segs 1 (DPDK's invariant, which rte_pktmbuf_free keeps), and
 * tx_fill / tx_attach_payload write every other field the TX path and a PMD read, once each,
 * instead of reset's defaults overwritten a moment later. */

/* How many mbufs ahead of the one being written are prefetched: the fill loop spends well
 * under a memory latency per datagram, so the next one alone would still arrive late. */
#define NET_TX_PF 4

/* A line about to be written: fetched for ownership (rte_prefetch0_write is still experimental
 * in DPDK 22.11; this is its body). */
static inline void prefetch_w(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}

/* The lines of a TX mbuf that are stored into: its two. A header mbuf's frame, right after
 * them, is written whole with non-temporal stores (stream_lines) and never fetched; an
 * external-payload mbuf keeps its shared info in its dynamic fields (its private area is
 * written only when the shared info cannot live there: rare, not prefetched). */
static inline void mbuf_prefetch(const struct rte_mbuf *m)
{
	const char *p = (const char *)m;

	prefetch_w(p);
	prefetch_w(p + RTE_CACHE_LINE_SIZE);
}

/* One raw mbuf from the worker's stash of pool (dp->hdr_pool or dp->ext_pool), refilled in
 * bulk; NULL when the pool is dry. The ones NET_TX_PF ahead are prefetched. */
static inline struct rte_mbuf *stash_get(struct rte_mempool *pool, struct net_mstash *s)
{
	void *obj;

	if (s->next == s->n) {
		if (rte_mempool_get_bulk(pool, (void **)s->m, NET_MSTASH) != 0)
			/* fewer left than a stash: one at a time */
			return rte_mempool_get(pool, &obj) == 0 ? obj : NULL;
		s->n = NET_MSTASH;
		s->next = 0;
		for (unsigned i = 0; i < NET_TX_PF; i++)
			mbuf_prefetch(s->m[i]);
	}
	if (s->next + NET_TX_PF < s->n)
		mbuf_prefetch(s->m[s->next + NET_TX_PF]);
	return s->m[s->next++];
}

static inline struct rte_mbuf *raw_get(struct rte_mempool *pool)
{
	void *obj;

	return rte_mempool_get(pool, &obj) == 0 ? obj : NULL;
}

/* Whether a datagram with these header bytes fits a header mbuf of dp->hdr_pool (else it takes
 * a packet mbuf of dp->pool). */
static inline bool hdr_fits_small(unsigned hlen, uint16_t hdr_len)
{
	return hlen + hdr_len <= NET_TX_HDR_ROOM;
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

/* ---- release callbacks bound to shared-info free callbacks ---- */

static struct net_rel net_rel_tab[NET_REL_MAX];
static uint32_t net_rel_claimed; /* entries handed out (ready or being written) */

/* DPDK's callback for an external buffer whose shared info is in the mbuf's dynamic fields:
 * entry k's release with the payload's ref. */
#define NET_REL_CB(k)                                                                              \
	static void rel_cb_##k(void *addr, void *ref)                                              \
	{                                                                                          \
		const struct net_rel *r = &net_rel_tab[k];                                         \
                                                                                                   \
		(void)addr;                                                                        \
		if (r->fn)                                                                         \
			r->fn(r->ctx, ref);                                                        \
	}
NET_REL_CB(0)
NET_REL_CB(1)
NET_REL_CB(2)
NET_REL_CB(3)
NET_REL_CB(4)
NET_REL_CB(5)
NET_REL_CB(6)
NET_REL_CB(7)
static const rte_mbuf_extbuf_free_callback_t rel_cb[NET_REL_MAX] = {
    rel_cb_0, rel_cb_1, rel_cb_2, rel_cb_3, rel_cb_4, rel_cb_5, rel_cb_6, rel_cb_7};

/* The entry for (pl->release, pl->release_ctx): the worker's last one, a published one, or a
 * new one (claimed lock-free; two workers adding the same pair at once get an entry each, both
 * valid). NULL when every entry is taken by other pairs: the private area then. */
static const struct net_rel *rel_find(struct net_worker *w, const struct net_payload *pl)
{
	const struct net_rel *r = w->rel_last;
	uint32_t n, k;

	if (likely(r && r->fn == pl->release && r->ctx == pl->release_ctx))
		return r;
	n = __atomic_load_n(&net_rel_claimed, __ATOMIC_ACQUIRE);
	for (k = 0; k < n && k < NET_REL_MAX; k++) {
		r = &net_rel_tab[k];
		if (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) && r->fn == pl->release &&
		    r->ctx == pl->release_ctx)
			return w->rel_last = r;
	}
	k = __atomic_fetch_add(&net_rel_claimed, 1, __ATOMIC_ACQ_REL);
	if (k >= NET_REL_MAX)
		return NULL;
	net_rel_tab[k].fn = pl->release;
	net_rel_tab[k].ctx = pl->release_ctx;
	__atomic_store_n(&net_rel_tab[k].ready, 1, __ATOMIC_RELEASE);
	return w->rel_last = &net_rel_tab[k];
}

/* a + b in ones' complement arithmetic on 32 bits: a carry out of bit 31 is worth 2^32, which
 * is 1 mod 0xffff (RFC 1071 §2(A)), so it comes back in at the bottom. */
static inline uint32_t csum_add32(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;

	return r + (r < b);
}

/* The Ethernet/IP/UDP headers of every datagram with one tuple, built once: per datagram only
 * the lengths, the IPv4 ID and the checksums change, and those are finished from partial sums
 * taken here (RFC 1071 §2(C): sums of pieces add up in any order). */
struct tx_tmpl {
	uint8_t b[64]; /* Ethernet + IP + UDP headers; lengths, ID and checksums 0 */
	uint8_t hlen;  /* NET_ETH_HLEN + IP header + NET_UDP_HLEN: 42 or 62 */
	uint8_t ip_hlen;
	bool v4;
	bool udp_offload; /* the port finishes the checksums of single-segment datagrams */
	bool multiseg_ok; /* ... and of chained ones */
	uint32_t ip_sum;  /* IPv4 header without total length, ID and checksum */
	uint32_t ph_sum;  /* pseudo-header without the length: addresses and protocol */
	uint32_t udp_sum; /* ph_sum + the UDP ports */
};

static void tx_tmpl_init(struct tx_tmpl *tp, const struct net_port *port,
			 const struct net_udp_tuple *t)
{
	uint8_t *ip = tp->b + NET_ETH_HLEN, *u;

	memset(tp->b, 0, sizeof(tp->b));
	tp->v4 = t->local.family == 4;
	tp->ip_hlen = tp->v4 ? NET_IPV4_HLEN : NET_IPV6_HLEN;
	tp->hlen = (uint8_t)(NET_ETH_HLEN + tp->ip_hlen + NET_UDP_HLEN);
	tp->udp_offload = port->info.tx_udp_csum_offload;
	tp->multiseg_ok = port->info.tx_csum_multiseg_ok;
	/* Destination MAC: broadcast until the neighbour lookup fills it in. */
	net_udp_build(tp->b, sizeof(tp->b), t, port->info.ifc.mac, bcast_mac, 0, 0,
		      NET_UDP_BUILD_NO_IP_CSUM);
	u = ip + tp->ip_hlen;
	pcdn_put_be16(tp->v4 ? ip + 2 : ip + 4, 0);
	pcdn_put_be16(u + 4, 0);
	tp->ip_sum = tp->v4 ? net_csum_add(0, ip, NET_IPV4_HLEN, false) : 0;
	tp->ph_sum = net_pseudo_sum(&t->local, &t->remote, NET_IPPROTO_UDP, 0);
	tp->udp_sum = tp->ph_sum + t->local_port + t->remote_port;
}

/* The argument checks net_tx_udp makes on one datagram (no counter: a caller's bug). */
static inline bool tx_dgram_valid(const void *hdr, uint16_t hdr_len, const struct net_payload *pl)
{
	if ((hdr_len && !hdr) || (pl && (!pl->addr || pl->len > UINT16_MAX)))
		return false;
	/* A frame view is checked against addr where it is claimed (tx_frame_claim): its seg is
	 * then never read, and stays cold, unless the claim fails. */
	if (pl && pl->frame)
		return pl->seg && pl->frame_room % RTE_CACHE_LINE_SIZE == 0 &&
		       (uintptr_t)pl->addr % RTE_CACHE_LINE_SIZE == 0;
	return !(pl && pl->seg && pl->seg->data_len != pl->len);
}

/* The port index for a datagram from t->local on port_id, or -EINVAL / -EADDRNOTAVAIL. */
static int tx_port_check(const struct net_dataplane *dp, uint16_t port_id,
			 const struct net_udp_tuple *t)
{
	if (port_id >= RTE_MAX_ETHPORTS || dp->port_idx[port_id] < 0 ||
	    (t->local.family != 4 && t->local.family != 6) || t->local.family != t->remote.family)
		return -EINVAL;
	/* Never send from an address that is not ours on that port. */
	if (!net_iface_has_addr(&dp->ports[dp->port_idx[port_id]].info.ifc, &t->local))
		return -EADDRNOTAVAIL;
	return dp->port_idx[port_id];
}

/* -EMSGSIZE (counted, payload released) when the datagram is above the port's MTU. */
static inline int tx_mtu_check(struct net_worker *w, const struct net_port *port, unsigned ip_hlen,
			       uint16_t hdr_len, const struct net_payload *pl)
{
	if (ip_hlen + NET_UDP_HLEN + hdr_len + (pl ? pl->len : 0) <= port->mtu)
		return 0;
	net_drop_add(&w->ctr, NET_DROP_TX_TOO_BIG, 1);
	payload_release(pl);
	return -EMSGSIZE;
}

/* The datagram's reference on a ready payload mbuf, taken before its headers are written.
 * Always a locked add: the caller's reference (a cache slot's) is shared with the other workers,
 * so rte_mbuf_refcnt_update's plain store when the count reads 1 ("the only holder") would lose
 * a concurrent worker's increment. Relaxed: the payload was published before the caller could
 * reach it; the free's decrement is the ordered one. A burst takes its references in a row
 * before any header store: a locked instruction waits for the stores before it, and a
 * header's lines are on their way back from the core that read the last frame in them. */
static inline void tx_seg_ref(struct rte_mbuf *seg)
{
	__atomic_fetch_add(&seg->refcnt, 1, __ATOMIC_RELAXED);
}

/* A reference taken for a datagram that will not be sent. */
static inline void tx_seg_unref(const struct net_payload *pl)
{
	if (pl && pl->seg)
		__atomic_fetch_sub(&pl->seg->refcnt, 1, __ATOMIC_RELEASE);
}

/* Chains the ready payload mbuf after m, with the reference tx_seg_ref took. */
static inline void tx_chain_seg(struct net_worker *w, struct rte_mbuf *m, struct rte_mbuf *seg)
{
	m->next = seg;
	m->nb_segs = 2;
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT_EXTBUF, 1); /* zero-copy as well */
}

/* Claims the payload's frame view (net_payload.frame) for a datagram of hdr_len bytes after the
 * template's headers: true when they fit its room in front of the payload and no other datagram
 * holds it. Acquire: whatever read the bytes in front of the payload for the previous holder (a
 * NIC's DMA, before its free's release decrement) is done before they are written again. */
static inline bool tx_frame_claim(const struct tx_tmpl *tp, uint16_t hdr_len,
				  const struct net_payload *pl)
{
	uint16_t idle = 1;
	struct rte_mbuf *f;

	if (!pl || !pl->frame || (unsigned)tp->hlen + hdr_len > pl->frame_room ||
	    (unsigned)tp->hlen + hdr_len > NET_TX_HDR_ROOM)
		return false;
	f = pl->frame;
	if ((const uint8_t *)f->buf_addr + pl->frame_room != (const uint8_t *)pl->addr ||
	    f->buf_len != pl->frame_room + pl->len)
		return false; /* a caller's bug: never write in front of somebody else's bytes */
	return __atomic_compare_exchange_n(&f->refcnt, &idle, 2, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* Points the raw mbuf e at the caller's payload (no copy) and chains it after m: the fields
 * rte_pktmbuf_attach_extbuf and rte_pktmbuf_chain would set, written once. The shared info is in
 * e's dynamic fields (its second line, which free reads anyway: e's lines are its two) with a
 * free callback bound to the release pair, else in the private area. From here the payload
 * belongs to e: freeing e (rte_pktmbuf_free's detach) runs its release once and gives e its own
 * buffer back. */
static inline void tx_attach_payload(struct net_worker *w, struct rte_mbuf *m, struct rte_mbuf *e,
				     const struct net_payload *pl)
{
	const struct net_rel *r = w->dp->ext_shinfo_off >= 0 ? rel_find(w, pl) : NULL;
	struct rte_mbuf_ext_shared_info *sh;

	if (likely(r)) {
		sh = RTE_MBUF_DYNFIELD(e, w->dp->ext_shinfo_off, struct rte_mbuf_ext_shared_info *);
		sh->free_cb = rel_cb[r - net_rel_tab];
		sh->fcb_opaque = pl->ref;
	} else {
		struct net_ext_priv *xp = rte_mbuf_to_priv(e);

		xp->release = pl->release;
		xp->release_ctx = pl->release_ctx;
		xp->ref = pl->ref;
		sh = &xp->sh;
		sh->free_cb = ext_free;
		sh->fcb_opaque = xp;
	}
	rte_mbuf_ext_refcnt_set(sh, 1);
	e->buf_addr = (void *)(uintptr_t)pl->addr;
	rte_mbuf_iova_set(e, pl->iova);
	e->buf_len = (uint16_t)pl->len;
	e->data_off = 0;
	e->ol_flags = RTE_MBUF_F_EXTERNAL;
	e->shinfo = sh;
	e->data_len = (uint16_t)pl->len;
	e->pkt_len = pl->len;
	m->next = e;
	m->nb_segs = 2;
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT_EXTBUF, 1);
}

/* The UDP checksum field: with the port's offload, the pseudo-header sum the NIC expects
 * (rte_ipv4/ipv6_phdr_cksum's value, not complemented); else the full checksum over the
 * pseudo-header, the UDP header from its values (checksum field 0), the caller's bytes (not
 * re-read from the mbuf just written) and the payload, from its stored sum when it has one.
 * The payload starts at UDP offset 8 + hdr_len: at an odd offset its words straddle ours, and
 * its sum taken from an even offset is worth that sum byte-swapped (RFC 1071 §2(B): 2^8 * 2^8
 * = 1 mod 0xffff). */
static inline uint16_t tx_udp_csum(const struct tx_tmpl *tp, bool offload, uint32_t udp_len,
				   const void *hdr, uint16_t hdr_len, const struct net_payload *pl)
{
	uint32_t sum;
	uint16_t c;

	if (offload)
		return (uint16_t)~net_csum_fold(tp->ph_sum + udp_len);
	/* The length counts twice: in the pseudo-header and in the UDP header. */
	sum = tp->udp_sum + 2 * udp_len;
	if (hdr_len)
		sum = net_csum_add(sum, hdr, hdr_len, false);
	if (pl && pl->has_sum)
		sum = csum_add32(sum, hdr_len & 1 ? __builtin_bswap16(pl->sum) : pl->sum);
	else if (pl)
		sum = net_csum_add(sum, pl->addr, pl->len, hdr_len & 1);
	c = net_csum_fold(sum);
	/* RFC 768: a computed 0 is sent as all ones (0 means "no checksum"). */
	return c ? c : 0xffff;
}

/* Writes n whole lines from src, a staging buffer in L1, to dst (both line-aligned) with
 * non-temporal stores. A header frame's lines were last read by whatever took the datagram
 * before (a NIC's DMA, or the bench's clients on another core); written in place, each would
 * first be fetched for ownership, which costs the worker a round trip to that reader per line
 * and fills its miss buffers. Whole-line streaming stores fetch nothing and leave nothing in
 * the cache that nobody here reads again. */
static inline void stream_lines(void *dst, const void *src, unsigned n)
{
#if defined(__AVX__)
	__m256i *d = dst;
	const __m256i *s = src;

	for (unsigned i = 0; i < 2 * n; i++)
		_mm256_stream_si256(d + i, _mm256_load_si256(s + i));
#elif defined(__SSE2__)
	__m128i *d = dst;
	const __m128i *s = src;

	for (unsigned i = 0; i < 4 * n; i++)
		_mm_stream_si128(d + i, _mm_load_si128(s + i));
#else
	memcpy(dst, src, (size_t)n * RTE_CACHE_LINE_SIZE);
#endif
}

/* The port's checksum offload for a datagram from tp, or none. tx_offload sits in the mbuf's
 * second line, which the free reads anyway (m->next): written only when it changes, so a frame
 * view's second line stays clean. */
static inline void tx_set_offload(struct rte_mbuf *m, const struct tx_tmpl *tp, bool offload)
{
	if (offload) {
		m->ol_flags =
		    tp->v4 ? RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM
			   : RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
		m->tx_offload = rte_mbuf_tx_offload(NET_ETH_HLEN, tp->ip_hlen, 0, 0, 0, 0, 0);
	} else {
		m->ol_flags = 0;
		if (m->tx_offload)
			m->tx_offload = 0;
	}
}

/* The template's headers at p with this datagram's lengths, IPv4 ID and IP checksum, then the
 * caller's header bytes; returns the UDP header (its checksum is the caller's to finish). room64:
 * 64 bytes may be written at p (a fixed-size copy: a few vector stores; what lands past the
 * headers is overwritten by the caller's bytes or lies in room nobody sends). */
static inline uint8_t *tx_put_hdrs(struct net_worker *w, const struct tx_tmpl *tp, uint8_t *p,
				   bool room64, bool offload, uint32_t udp_len, const void *hdr,
				   uint16_t hdr_len)
{
	uint8_t *ip = p + NET_ETH_HLEN, *u = ip + tp->ip_hlen;

	if (likely(room64))
		memcpy(p, tp->b, sizeof(tp->b));
	else
		memcpy(p, tp->b, tp->hlen);
	if (tp->v4) {
		uint16_t tot = (uint16_t)(NET_IPV4_HLEN + udp_len), id = w->ip_id++;

		pcdn_put_be16(ip + 2, tot);
		pcdn_put_be16(ip + 4, id);
		if (!offload)
			pcdn_put_be16(ip + 10, net_csum_fold(tp->ip_sum + tot + id));
	} else {
		w->ip_id++; /* the counter advances per datagram of either family */
		pcdn_put_be16(ip + 4, (uint16_t)udp_len);
	}
	pcdn_put_be16(u + 4, (uint16_t)udp_len);
	pcdn_copy_short(u + NET_UDP_HLEN, hdr, hdr_len);
	return u;
}

/* Writes one datagram into the raw mbuf m (and e over its payload, when it has one): the mbuf
 * fields, the template's headers with this datagram's lengths, IPv4 ID and checksums, then the
 * caller's header bytes. A header mbuf of dp->hdr_pool has its frame right after the mbuf
 * (data_off 0), a packet mbuf the usual headroom. A ready payload mbuf (pl->seg) comes with
 * the datagram's reference taken (tx_seg_ref). On error m, e and the payload (and that
 * reference) are gone (counted). small: m is a header mbuf (its frame address and room are
 * known without loading its first line, which may still be on its way), and the frame is built
 * in a staging buffer and streamed out (stream_lines). */
static int tx_fill(struct net_worker *w, const struct tx_tmpl *tp, struct rte_mbuf *m, bool small,
		   struct rte_mbuf *e, const void *hdr, uint16_t hdr_len,
		   const struct net_payload *pl)
{
	uint32_t udp_len = NET_UDP_HLEN + hdr_len + (pl ? pl->len : 0);
	bool offload = tp->udp_offload && (!pl || tp->multiseg_ok);
	uint16_t off = small ? 0 : RTE_PKTMBUF_HEADROOM;
	uint16_t buf_len = small ? NET_TX_HDR_ROOM : m->buf_len;
	uint16_t len = (uint16_t)(tp->hlen + hdr_len);
	uint8_t *p, *u;
	/* Aligned to its size: a staging buffer across a 4 KiB page boundary turns the unaligned
	 * stores of the header copy into page-split stores, which cost the worker ~20% of its
	 * time whenever the stack happened to put it there. */
	uint8_t fb[NET_TX_HDR_ROOM] __attribute__((aligned(NET_TX_HDR_ROOM)));

	if (unlikely((unsigned)off + len > buf_len)) { /* beyond one packet mbuf's room */
		rte_mbuf_raw_free(m);
		if (e)
			rte_mbuf_raw_free(e);
		net_drop_add(&w->ctr, NET_DROP_TX_TOO_BIG, 1);
		tx_seg_unref(pl);
		payload_release(pl);
		return -EMSGSIZE;
	}
	m->data_off = off;
	m->packet_type = 0;
	m->data_len = len;
	m->pkt_len = len + (pl ? pl->len : 0);
	m->vlan_tci = 0;
	tx_set_offload(m, tp, offload);
	p = small ? fb : (uint8_t *)m->buf_addr + off;
	u = tx_put_hdrs(w, tp, p, (unsigned)buf_len - off >= sizeof(tp->b), offload, udp_len, hdr,
			hdr_len);
	if (e)
		tx_attach_payload(w, m, e, pl);
	else if (pl)
		tx_chain_seg(w, m, pl->seg);
	pcdn_put_be16(u + 6, tx_udp_csum(tp, offload, udp_len, hdr, hdr_len, pl));
	if (small)
		stream_lines(m + 1, fb,
			     ((unsigned)len + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE);
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT, 1);
	return 0;
}

/* Writes a datagram whose frame view tx_frame_claim claimed: the headers end where the payload
 * begins, in the lines right in front of it, built in a staging buffer and streamed out whole
 * like a header mbuf's (what lands in front of the frame is room nobody sends); the frame mbuf
 * then describes headers and payload as one segment. Nothing can fail here. */
static void tx_fill_frame(struct net_worker *w, const struct tx_tmpl *tp, const void *hdr,
			  uint16_t hdr_len, const struct net_payload *pl)
{
	struct rte_mbuf *f = pl->frame;
	uint32_t udp_len = NET_UDP_HLEN + hdr_len + pl->len;
	bool offload = tp->udp_offload; /* one segment: every offloading port takes it */
	uint16_t len = (uint16_t)(tp->hlen + hdr_len);
	unsigned lines = ((unsigned)len + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE;
	/* within one 4 KiB page, as tx_fill's */
	uint8_t fb[NET_TX_HDR_ROOM + RTE_CACHE_LINE_SIZE] __attribute__((aligned(512)));
	uint8_t *p = fb + lines * RTE_CACHE_LINE_SIZE - len, *u;

	u = tx_put_hdrs(w, tp, p, true, offload, udp_len, hdr, hdr_len);
	pcdn_put_be16(u + 6, tx_udp_csum(tp, offload, udp_len, hdr, hdr_len, pl));
	stream_lines((uint8_t *)(uintptr_t)pl->addr - lines * RTE_CACHE_LINE_SIZE, fb, lines);
	f->data_off = (uint16_t)(pl->frame_room - len);
	f->data_len = (uint16_t)(len + pl->len);
	f->pkt_len = (uint32_t)len + pl->len;
	tx_set_offload(f, tp, offload);
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT_EXTBUF, 1); /* zero-copy */
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT_INPLACE, 1);
	net_ctr_add(&w->ctr, NET_CTR_UDP_OUT, 1);
}

/* A datagram that got no mbuf (or no payload mbuf): counted, and what it held given back (its
 * header mbuf, the payload segment's reference, the payload). */
static __attribute__((cold)) int tx_drop_no_mbuf(struct net_worker *w, struct rte_mbuf *m,
						 const struct net_payload *pl)
{
	net_drop_add(&w->ctr, NET_DROP_NO_MBUF, 1);
	if (m)
		rte_mbuf_raw_free(m);
	tx_seg_unref(pl);
	payload_release(pl);
	return -ENOBUFS;
}

/* Inside the poll loop the iteration's clock is close enough for neighbour ageing (no TSC read
 * per datagram); a sender outside it (tests, start-up) reads the clock. */
static inline uint64_t tx_now(const struct net_worker *w)
{
	return w->in_poll ? w->now_ns : net_now_ns(w->dp);
}

int net_tx_udp(struct net_worker *w, uint16_t port_id, const struct net_udp_tuple *t,
	       const void *hdr, uint16_t hdr_len, const struct net_payload *payload)
{
	struct net_dataplane *dp = w->dp;
	const struct net_port *port;
	struct rte_mbuf *m, *e = NULL;
	struct net_ipaddr nh;
	struct tx_tmpl tp;
	int pidx, rc;

	pidx = tx_dgram_valid(hdr, hdr_len, payload) ? tx_port_check(dp, port_id, t) : -EINVAL;
	if (pidx < 0) {
		payload_release(payload);
		return pidx;
	}
	port = &dp->ports[pidx];
	rc = tx_mtu_check(w, port, t->local.family == 4 ? NET_IPV4_HLEN : NET_IPV6_HLEN, hdr_len,
			  payload);
	if (rc < 0)
		return rc;
	if (net_iface_next_hop(&port->info.ifc, &t->remote, &nh) < 0) {
		net_drop_add(&w->ctr, NET_DROP_NO_ROUTE, 1);
		payload_release(payload);
		return -ENETUNREACH;
	}
	tx_tmpl_init(&tp, port, t);
	if (tx_frame_claim(&tp, hdr_len, payload)) {
		tx_fill_frame(w, &tp, hdr, hdr_len, payload);
		return tx_resolve(w, (unsigned)pidx, &nh, payload->frame, tx_now(w));
	}
	if (payload && payload->seg)
		tx_seg_ref(payload->seg);
	bool small = hdr_fits_small(tp.hlen, hdr_len);
	m = small ? stash_get(dp->hdr_pool, &w->hdr_stash) : raw_get(dp->pool);
	if (m && payload && !payload->seg)
		e = stash_get(dp->ext_pool, &w->ext_stash);
	if (!m || (payload && !payload->seg && !e))
		return tx_drop_no_mbuf(w, m, payload);
	rc = tx_fill(w, &tp, m, small, e, hdr, hdr_len, payload);
	if (rc < 0)
		return rc;
	return tx_resolve(w, (unsigned)pidx, &nh, m, tx_now(w));
}

/* A burst's written datagram to the port's TX buffer: straight there when the burst's neighbour
 * is resolved (the template carried its MAC), else net_tx_udp's path (held until ARP/ND). */
static inline int tx_queue(struct net_worker *w, unsigned pidx, const struct net_ipaddr *nh,
			   bool resolved, struct rte_mbuf *m, uint64_t now)
{
	if (!resolved)
		return tx_resolve(w, pidx, nh, m, now);
	tx_enqueue(w, pidx, m);
	return 0;
}

/* Mbufs are taken for this many datagrams at a time (one bulk allocation per pool). */
#define NET_TX_BULK 64
/* net_tx_udp_burst's mark for a datagram that goes out in its payload's frame view (a positive
 * value: the others are 0 or a negative error). */
#define TX_INPLACE 1

/* net_tx_udp's checks of one datagram of a burst: 0, or -EINVAL / -EMSGSIZE with its payload
 * released (and the latter counted). */
static int tx_dgram_check(struct net_worker *w, const struct net_port *port, unsigned ip_hlen,
			  const struct net_tx_dgram *d)
{
	if (!tx_dgram_valid(d->hdr, d->hdr_len, d->payload)) {
		payload_release(d->payload);
		return -EINVAL;
	}
	return tx_mtu_check(w, port, ip_hlen, d->hdr_len, d->payload);
}

/* Drops a burst that cannot be routed: each datagram counted as net_tx_udp would count it. */
static int tx_burst_unroutable(struct net_worker *w, const struct net_port *port, unsigned ip_hlen,
			       const struct net_tx_dgram *d, unsigned n)
{
	int first = 0;

	for (unsigned i = 0; i < n; i++) {
		int rc = tx_dgram_check(w, port, ip_hlen, &d[i]);

		if (rc == 0) {
			net_drop_add(&w->ctr, NET_DROP_NO_ROUTE, 1);
			payload_release(d[i].payload);
			rc = -ENETUNREACH;
		}
		if (!first)
			first = rc;
	}
	return first;
}

int net_tx_udp_burst(struct net_worker *w, uint16_t port_id, const struct net_udp_tuple *t,
		     const struct net_tx_dgram *d, unsigned n)
{
	struct net_dataplane *dp = w->dp;
	const struct net_port *port;
	struct net_ipaddr nh;
	struct tx_tmpl tp;
	uint64_t now;
	unsigned queued = 0;
	int pidx, first_err = 0;
	bool resolved;

	if (!n)
		return 0;
	pidx = d ? tx_port_check(dp, port_id, t) : -EINVAL;
	if (pidx < 0) {
		for (unsigned i = 0; d && i < n; i++)
			payload_release(d[i].payload);
		return pidx;
	}
	port = &dp->ports[pidx];
	tx_tmpl_init(&tp, port, t);
	if (net_iface_next_hop(&port->info.ifc, &t->remote, &nh) < 0)
		return tx_burst_unroutable(w, port, tp.ip_hlen, d, n);
	now = tx_now(w);
	/* Resolved: the template carries the neighbour's MAC and each mbuf goes straight to the TX
	 * buffer; else each takes net_tx_udp's path (held until ARP/ND answers). */
	resolved = net_neigh_lookup(w->neigh[pidx], &nh, now, tp.b) == 0;
	for (unsigned base = 0; base < n; base += NET_TX_BULK) {
		unsigned cnt = RTE_MIN(n - base, (unsigned)NET_TX_BULK);
		const struct net_tx_dgram *c = d + base;
		struct rte_mbuf *hm[NET_TX_BULK], *em[NET_TX_BULK];
		unsigned nh_want = 0, ne_want = 0, hi = 0, ei = 0, h_have, e_have;
		int16_t st[NET_TX_BULK]; /* 0 or the datagram's error; TX_INPLACE: frame claimed */

		for (unsigned i = 0; i < cnt; i++) {
			st[i] = (int16_t)tx_dgram_check(w, port, tp.ip_hlen, &c[i]);
			if (st[i] == 0 && tx_frame_claim(&tp, c[i].hdr_len, c[i].payload))
				st[i] = TX_INPLACE;
			nh_want += st[i] == 0 && hdr_fits_small(tp.hlen, c[i].hdr_len);
			ne_want += st[i] == 0 && c[i].payload && !c[i].payload->seg;
		}
		for (unsigned i = 0; i < cnt; i++)
			if (st[i] == 0 && c[i].payload && c[i].payload->seg)
				tx_seg_ref(c[i].payload->seg);
		/* A pool with fewer left than the bulk: one at a time below, as net_tx_udp would.
		 */
		h_have = nh_want && rte_mempool_get_bulk(dp->hdr_pool, (void **)hm, nh_want) == 0
			     ? nh_want
			     : 0;
		e_have = ne_want && rte_mempool_get_bulk(dp->ext_pool, (void **)em, ne_want) == 0
			     ? ne_want
			     : 0;
		for (unsigned k = 0; k < NET_TX_PF && k < h_have; k++)
			mbuf_prefetch(hm[k]);
		for (unsigned k = 0; k < NET_TX_PF && k < e_have; k++)
			mbuf_prefetch(em[k]);
		for (unsigned i = 0; i < cnt; i++) {
			const struct net_payload *pl = c[i].payload;
			struct rte_mbuf *m, *e = NULL;
			int rc;

			if (st[i] == TX_INPLACE) {
				tx_fill_frame(w, &tp, c[i].hdr, c[i].hdr_len, pl);
				rc = tx_queue(w, (unsigned)pidx, &nh, resolved, pl->frame, now);
			} else if (st[i]) {
				rc = st[i];
			} else {
				bool small = hdr_fits_small(tp.hlen, c[i].hdr_len);
				if (!small) {
					m = raw_get(dp->pool);
				} else if (hi < h_have) {
					if (hi + NET_TX_PF < h_have)
						mbuf_prefetch(hm[hi + NET_TX_PF]);
					m = hm[hi++];
				} else {
					m = raw_get(dp->hdr_pool);
				}
				if (m && pl && !pl->seg) {
					if (ei < e_have) {
						if (ei + NET_TX_PF < e_have)
							mbuf_prefetch(em[ei + NET_TX_PF]);
						e = em[ei++];
					} else {
						e = raw_get(dp->ext_pool);
					}
				}
				if (!m || (pl && !pl->seg && !e)) {
					rc = tx_drop_no_mbuf(w, m, pl);
				} else {
					rc = tx_fill(w, &tp, m, small, e, c[i].hdr, c[i].hdr_len,
						     pl);
					if (rc == 0)
						rc = tx_queue(w, (unsigned)pidx, &nh, resolved, m,
							      now);
				}
			}
			if (rc == 0)
				queued++;
			else if (!first_err)
				first_err = rc;
		}
		/* Payload mbufs are left over when the header pool ran dry within the chunk (raw,
		 * never written). */
		if (hi < h_have)
			rte_mempool_put_bulk(dp->hdr_pool, (void **)&hm[hi], h_have - hi);
		if (ei < e_have)
			rte_mempool_put_bulk(dp->ext_pool, (void **)&em[ei], e_have - ei);
	}
	return queued ? (int)queued : first_err;
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
