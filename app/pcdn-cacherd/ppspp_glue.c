/* lib/ppspp on lib/net workers; see ppspp_glue.h. RFC 7574 §2 (UDP as the transport): one
 * datagram in, one engine input; every engine datagram one UDP datagram out. */
#include "ppspp_glue.h"

#include <errno.h>
#include <string.h>

#include "pcdn_common.h"
#include "slot_sum.h"

void cacherd_peer_to_net(const struct ppspp_peer_addr *p, struct net_ipaddr *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = p->family == PPSPP_AF_INET6 ? 6 : 4;
	memcpy(ip->a, p->addr, ip->family == 6 ? 16 : 4);
}

void cacherd_net_to_peer(const struct net_ipaddr *ip, uint16_t port, struct ppspp_peer_addr *p)
{
	memset(p, 0, sizeof(*p));
	p->family = ip->family == 6 ? PPSPP_AF_INET6 : PPSPP_AF_INET4;
	memcpy(p->addr, ip->a, ip->family == 6 ? 16 : 4);
	p->port = port;
}

/* The tuple to reach `to`: the last peer's route is kept (a burst goes to one peer). */
static int glue_route(struct cacherd_ppspp *g, const struct ppspp_peer_addr *to,
		      struct net_udp_tuple *t, uint16_t *port_id)
{
	*t = (struct net_udp_tuple){.local_port = g->ppspp_port, .remote_port = to->port};
	cacherd_peer_to_net(to, &t->remote);
	if (g->route_valid && net_ipaddr_equal(&t->remote, &g->route_remote)) {
		*port_id = g->route_port;
		t->local = g->route_local;
		return 0;
	}
	int rc = net_dataplane_route(g->dp, &t->remote, port_id, &t->local);
	if (rc < 0) {
		g->send_errors++;
		return rc;
	}
	g->route_remote = t->remote;
	g->route_local = t->local;
	g->route_port = *port_id;
	g->route_valid = true;
	return 0;
}

/* The mbuf's own reference on a zero-copy payload (released by lib/net when the NIC is done). */
static void glue_payload(struct cacherd_ppspp *g, const void *payload, size_t len, void *ref,
			 struct net_payload *pl)
{
	struct rte_mbuf *seg = NULL, *f;
	uint16_t room = 0;

	/* The frame view first: its line is the one a DATA sent in place writes (its count), and
	 * it carries the sum; the slot's own mbuf is not read unless the datagram is chained. */
	f = g->payload_frame ? g->payload_frame(g->ref_ctx, ref, &seg, &room) : NULL;
	if (f && (const uint8_t *)f->buf_addr + room == (const uint8_t *)payload &&
	    f->buf_len == room + len) {
		*pl = (struct net_payload){
		    .addr = payload, .len = (uint32_t)len, .seg = seg, .frame = f, .frame_room = room};
		pl->has_sum = cacherd_slot_sum(f, &pl->sum);
		if (!pl->has_sum && g->payload_sum)
			pl->has_sum = g->payload_sum(g->ref_ctx, ref, &pl->sum);
		return;
	}
	seg = g->payload_seg ? g->payload_seg(g->ref_ctx, ref) : NULL;
	if (seg && seg->data_len == len && rte_pktmbuf_mtod(seg, const void *) == payload) {
		*pl = (struct net_payload){.addr = payload, .len = (uint32_t)len, .seg = seg};
		pl->has_sum = cacherd_slot_sum(seg, &pl->sum);
		if (!pl->has_sum && g->payload_sum)
			pl->has_sum = g->payload_sum(g->ref_ctx, ref, &pl->sum);
		return;
	}
	if (g->ref_take)
		g->ref_take(g->ref_ctx, ref);
	*pl = (struct net_payload){
	    .addr = payload,
	    .iova = g->iova ? g->iova(g->ref_ctx, payload) : net_payload_iova(payload),
	    .len = (uint32_t)len,
	    .release = g->ref_release,
	    .release_ctx = g->ref_ctx,
	    .ref = ref,
	};
	if (g->payload_sum)
		pl->has_sum = g->payload_sum(g->ref_ctx, ref, &pl->sum);
}

static int glue_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr,
		     size_t hdr_len, const void *payload, size_t payload_len, void *payload_ref)
{
	struct cacherd_ppspp *g = ctx;
	struct net_udp_tuple t;
	struct net_payload pl;
	uint16_t port_id;
	int rc;

	if (hdr_len > UINT16_MAX || payload_len > UINT16_MAX)
		return -EMSGSIZE;
	if ((rc = glue_route(g, to, &t, &port_id)) < 0)
		return rc;
	if (!payload)
		return net_tx_udp(g->w, port_id, &t, hdr, (uint16_t)hdr_len, NULL);
	cacherd_latency_data(&g->latency, to->family, to->addr, to->port, net_worker_now_ns(g->w));
	glue_payload(g, payload, payload_len, payload_ref, &pl);
	/* net_tx_udp releases the payload itself on failure. */
	rc = net_tx_udp(g->w, port_id, &t, hdr, (uint16_t)hdr_len, &pl);
	if (rc < 0)
		g->send_errors++;
	return rc;
}

/* A channel's run of DATA (and INTEGRITY-only datagrams) to one peer: one route, one latency
 * stamp, one lib/net burst (one neighbour lookup and one header template for all of them). */
static int glue_send_batch(void *ctx, const struct ppspp_peer_addr *to,
			   const struct ppspp_dgram *d, unsigned n)
{
	struct cacherd_ppspp *g = ctx;
	struct net_tx_dgram td[CACHERD_BATCH_MAX];
	struct net_payload pl[CACHERD_BATCH_MAX];
	struct net_udp_tuple t;
	uint16_t port_id;
	unsigned sent = 0, failed = 0;
	int rc;

	if ((rc = glue_route(g, to, &t, &port_id)) < 0)
		return rc;
	cacherd_latency_data(&g->latency, to->family, to->addr, to->port, net_worker_now_ns(g->w));
	while (sent < n) {
		unsigned m = PCDN_MIN(n - sent, CACHERD_BATCH_MAX), k = 0;
		for (unsigned i = 0; i < m; i++) {
			const struct ppspp_dgram *x = &d[sent + i];
			if (x->hdr_len > UINT16_MAX || x->payload_len > UINT16_MAX) {
				g->send_errors++;
				continue; /* counted in failed as m - k */
			}
			td[k].hdr = x->hdr;
			td[k].hdr_len = (uint16_t)x->hdr_len;
			td[k].payload = NULL;
			if (x->payload) {
				glue_payload(g, x->payload, x->payload_len, x->payload_ref, &pl[k]);
				td[k].payload = &pl[k];
			}
			k++;
		}
		/* net_tx_udp_burst releases the payloads of what it could not send. */
		rc = k ? net_tx_udp_burst(g->w, port_id, &t, td, k) : 0;
		if (rc < 0 || (unsigned)rc < k) {
			g->send_errors += k - (rc < 0 ? 0 : (unsigned)rc);
			failed += k - (rc < 0 ? 0 : (unsigned)rc);
		}
		failed += m - k;
		sent += m;
	}
	return (int)(n - failed);
}

void cacherd_ppspp_io(struct cacherd_ppspp *g, struct ppspp_io *io)
{
	io->ctx = g;
	io->send = glue_send;
	io->send_batch = glue_send_batch;
}

/* Back-pressure: the engine sends no more than the ports' TX queues and holds take, so a full
 * NIC queue pauses DATA instead of dropping it (which LEDBAT would read as loss and resend). */
static inline void tx_budget(struct cacherd_ppspp *g)
{
	ppspp_engine_set_send_budget(g->engine, net_worker_tx_room(g->w));
}

static void udp_hook(void *ctx, struct net_worker *w, const struct net_udp_dgram *d, unsigned n)
{
	struct cacherd_ppspp *g = ctx;
	uint64_t now_us = net_worker_now_ns(w) / 1000;

	const struct ppspp_engine_counters *ctr = ppspp_engine_counters(g->engine);

	bool draining = g->draining && atomic_load_explicit(g->draining, memory_order_relaxed);

	for (unsigned i = 0; i < n; i++) {
		struct ppspp_peer_addr from;
		uint64_t requests = ctr->msgs_in[PPSPP_REQUEST];

		if (draining && d[i].payload_len >= 4 && pcdn_get_be32(d[i].payload) == 0) {
			if (g->drain_refused)
				__atomic_store_n(g->drain_refused, *g->drain_refused + 1,
						 __ATOMIC_RELAXED);
			continue;
		}
		cacherd_net_to_peer(&d[i].tuple.remote, d[i].tuple.remote_port, &from);
		ppspp_engine_input(g->engine, &from, d[i].payload, d[i].payload_len, now_us);
		/* The engine counted a REQUEST in this datagram: the latency clock starts. */
		if (ctr->msgs_in[PPSPP_REQUEST] != requests)
			cacherd_latency_request(&g->latency, from.family, from.addr, from.port,
						net_worker_now_ns(w));
	}
	/* The engine answers after each batch of input. */
	tx_budget(g);
	g->next_run_us = ppspp_engine_run(g->engine, now_us);
}

static void loop_hook(void *ctx, struct net_worker *w, uint64_t now_ns)
{
	struct cacherd_ppspp *g = ctx;
	uint64_t now_us = now_ns / 1000;

	(void)w;
	if (now_us >= g->next_run_us) {
		tx_budget(g);
		g->next_run_us = ppspp_engine_run(g->engine, now_us);
	}
	if (g->on_loop)
		g->on_loop(g->ref_ctx);
}

void cacherd_ppspp_attach(struct cacherd_ppspp *g)
{
	cacherd_latency_init(&g->latency, 1000000000u); /* stamps in ns (net_worker_now_ns) */
	net_worker_set_udp_hook(g->w, udp_hook, g);
	net_worker_set_loop_hook(g->w, loop_hook, g);
}
