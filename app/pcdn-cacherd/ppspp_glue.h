/* The seam between lib/ppspp's engine and lib/net's workers, one instance per worker: received
 * datagrams for the PPSPP port go into the engine (net UDP hook), the engine's timers run from
 * the poll loop (net loop hook), and what the engine sends goes out through net_tx_udp with the
 * DATA payload attached as an external buffer (no copy). */
#ifndef CACHERD_PPSPP_GLUE_H
#define CACHERD_PPSPP_GLUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_latency.h"
#include "net.h"
#include "ppspp.h"

#define CACHERD_BATCH_MAX 64 /* datagrams handed to lib/net at once */

struct cacherd_ppspp {
	struct net_dataplane *dp;
	struct net_worker *w;
	struct ppspp_engine *engine; /* created with the io from cacherd_ppspp_io() */
	uint16_t ppspp_port;
	/* The engine drops its reference on a payload when send returns; the glue takes one for
	 * the mbuf (ref_take, on this worker) and gives it back when the NIC is done (ref_release,
	 * on whichever lcore frees the mbuf). With lib/cache: cache_ref / cache_unref on the slot.
	 * Both may be NULL for payloads that outlive every send (static content). */
	void (*ref_take)(void *ref_ctx, void *payload_ref);
	void (*ref_release)(void *ref_ctx, void *payload_ref);
	void *ref_ctx;
	/* IOVA of a payload address (e.g. arena base IOVA + offset); NULL: net_payload_iova(). */
	rte_iova_t (*iova)(void *ref_ctx, const void *addr);
	/* RFC 1071 sum of a payload kept with it (net_payload.sum, e.g. lib/cache's per-chunk sum):
	 * true and *sum, or false (NULL: never) and a software UDP checksum reads the payload. */
	bool (*payload_sum)(void *ref_ctx, void *payload_ref, uint16_t *sum);
	/* A ready mbuf over exactly that payload, referenced by the datagram instead of an
	 * external-buffer mbuf plus ref_take/ref_release (net_payload.seg; e.g. the cache slot's
	 * own mbuf, slot_mbuf.h, whose payload sum cacherd_slot_sum reads before payload_sum is
	 * asked); NULL (or no callback): the external-buffer path. */
	struct rte_mbuf *(*payload_seg)(void *ref_ctx, void *payload_ref);
	/* The payload's frame view (net_payload.frame: the same bytes with *room writable bytes
	 * in front, for a DATA sent in place as one segment; e.g. the cache slot's, slot_mbuf.h),
	 * with *seg set to the mbuf payload_seg would give, so that neither is asked again; NULL
	 * (or no callback): payload_seg's path. Its payload sum is read from it. */
	struct rte_mbuf *(*payload_frame)(void *ref_ctx, void *payload_ref, struct rte_mbuf **seg,
					  uint16_t *room);
	/* Called once per poll loop iteration, after the engine ran (NULL: nothing): where a worker
	 * reading lib/cache under QSBR reports its quiescent state. */
	void (*on_loop)(void *ref_ctx);
	/* When set and true (the daemon draining), a datagram opening a channel (channel ID 0,
	 * §3.1.1) is not given to the engine and *drain_refused is incremented; established
	 * channels are still served. NULL: never. */
	const atomic_bool *draining;
	uint64_t *drain_refused;
	uint64_t next_run_us;
	uint64_t send_errors;
	/* The last peer routed and its route (the port table is fixed once the dataplane runs):
	 * a burst's datagrams all go to one peer, so the route is looked up once per burst. */
	bool route_valid;
	struct net_ipaddr route_remote, route_local;
	uint16_t route_port;
	/* Request->DATA latency histogram of this worker (ctl_latency.h), filled by the glue
	 * with the poll iteration's clock (net_worker_now_ns: ns, no TSC read per datagram, so
	 * a DATA sent in the iteration that read its REQUEST counts as <= 1 us); set up by
	 * cacherd_ppspp_attach. */
	struct cacherd_latency latency;
};

/* The ppspp_io for ppspp_engine_create: io->ctx = g. */
void cacherd_ppspp_io(struct cacherd_ppspp *g, struct ppspp_io *io);
/* Sets g's UDP and loop hooks on g->w (before the worker is launched). */
void cacherd_ppspp_attach(struct cacherd_ppspp *g);

void cacherd_peer_to_net(const struct ppspp_peer_addr *p, struct net_ipaddr *ip);
void cacherd_net_to_peer(const struct net_ipaddr *ip, uint16_t port, struct ppspp_peer_addr *p);

#endif
