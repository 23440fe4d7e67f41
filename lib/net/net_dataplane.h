/* lib/net DPDK part: data ports for any PMD, per-worker queues, the host stack poll loop, the
 * per-worker UDP hook and the zero-copy UDP TX path (header mbuf chained to an external-buffer
 * mbuf pointing at caller memory). */
#ifndef NET_DATAPLANE_H
#define NET_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "net_counters.h"
#include "net_neigh.h"
#include "net_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NET_MAX_PORTS	8
#define NET_MAX_WORKERS 32
#define NET_BURST	32
/* Frame bytes of a TX header mbuf (Ethernet/IP/UDP + the caller's header bytes): a datagram
 * whose headers are longer takes a packet mbuf. */
#define NET_TX_HDR_ROOM 256

struct net_dataplane_config {
	unsigned n_workers;  /* each gets one RX and one TX queue per port */
	uint16_t ppspp_port; /* UDP port handed to the worker's UDP hook */
	unsigned mbufs;	     /* packet mbufs (RX, replies, datagram headers) */
	unsigned mbuf_cache; /* per-lcore mempool cache */
	unsigned max_mtu;    /* largest port MTU: sizes the packet mbufs (0: 1500) */
	unsigned ext_mbufs;  /* mbufs that carry external (zero-copy) payloads */
	/* Small mbufs for the headers of sent UDP datagrams (NET_TX_HDR_ROOM bytes of frame each;
	 * larger headers take a packet mbuf). 0: the larger of mbufs and ext_mbufs. */
	unsigned tx_hdr_mbufs;
	unsigned neigh_capacity; /* neighbour entries per worker per port */
	/* Datagrams a worker keeps per port while the PMD's TX queue is full (0: 4096, at most
	 * 32768); senders see the room left with net_worker_tx_room and hold back. */
	unsigned tx_hold;
	struct net_neigh_config neigh;
	int socket_id; /* NUMA socket for pools and rings (SOCKET_ID_ANY is fine) */
};

/* How a port's received packets reach the worker owning their flow. */
enum net_rx_mode {
	NET_RX_SINGLE = 0, /* one worker, one queue */
	NET_RX_RSS,	   /* the NIC hashes the UDP 4-tuple to one queue per worker */
	NET_RX_DISPATCH,   /* workers read the PMD's queues (as many as it has, up to one each)
			    * and hand UDP flows to the worker their 4-tuple hashes to */
};

struct net_port_info {
	uint16_t port_id;
	enum net_rx_mode rx_mode;
	bool tx_ip_csum_offload, tx_udp_csum_offload;
	/* False where the PMD's offload is wrong on chained mbufs (net_tap in DPDK 22.11 sums
	 * the first segment only): zero-copy datagrams get software checksums there. */
	bool tx_csum_multiseg_ok;
	uint16_t n_rxq, n_txq;
	char driver[32];
	struct net_iface ifc;
};

struct net_dataplane;
struct net_worker;

/* A UDP datagram for the PPSPP port, lent to the hook for the duration of the call. */
struct net_udp_dgram {
	struct rte_mbuf *m;
	uint16_t port_id;
	struct net_udp_tuple
	    tuple; /* local = the address it was sent to: reply with the same tuple */
	const uint8_t *payload;
	uint32_t payload_len;
};

/* Called once per received burst with the datagrams for the PPSPP port; the mbufs are freed
 * by the stack after it returns (copy what must outlive the call). */
typedef void (*net_udp_hook_fn)(void *ctx, struct net_worker *w, const struct net_udp_dgram *d,
				unsigned n);
/* Called once per poll loop iteration with the current time (PPSPP timers, LEDBAT pacing,
 * QSBR quiescent state). */
typedef void (*net_loop_hook_fn)(void *ctx, struct net_worker *w, uint64_t now_ns);

/* Zero-copy payload: addr..addr+len stays valid and unchanged until release(release_ctx, ref)
 * runs, exactly once, on whichever lcore frees the mbuf (e.g. release = cache_unref with
 * release_ctx = the cache and ref = the slot). iova is what a NIC's DMA uses (net_payload_iova()
 * finds it for any memory; compute it once per arena). */
struct net_payload {
	const void *addr;
	rte_iova_t iova;
	uint32_t len;
	void (*release)(void *release_ctx, void *ref);
	void *release_ctx;
	void *ref;
	/* When has_sum: sum is the RFC 1071 16-bit ones' complement sum of the payload bytes
	 * taken from an even offset (net_csum_add(0, addr, len, false) folded to 16 bits, e.g.
	 * kept per cached chunk), so a software UDP checksum never reads the payload. */
	bool has_sum;
	uint16_t sum;
	/* When set: a ready mbuf over exactly these bytes (direct, one segment, data at addr,
	 * data_len = len) on which the caller holds a reference of its own for as long as it may
	 * be sent (e.g. a cache slot's own mbuf). The datagram chains it with one more reference
	 * instead of an external-buffer mbuf; the NIC's free drops that reference. release is
	 * not called (NULL); iova is the mbuf's. */
	struct rte_mbuf *seg;
	/* When set (with seg): a second mbuf over the same bytes for sending the whole datagram
	 * in place, one segment, one NIC descriptor. Its buffer begins frame_room bytes before
	 * addr (buf_addr = addr - frame_room, buf_len = frame_room + len; frame_room a multiple of
	 * 64, addr 64-aligned), and those frame_room bytes are the caller's to overwrite. The
	 * caller holds one reference on it for good: a count of 1 means no datagram has it. A
	 * datagram whose Ethernet/IP/UDP headers and hdr bytes fit in frame_room claims it by a
	 * compare-and-swap of that count from 1 to 2 (so two workers never build in the same
	 * bytes), writes them right before the payload, and goes out as that mbuf alone; the
	 * NIC's free gives the claim back. When it is claimed already, or the headers do not fit,
	 * seg is chained as without it. Its fields other than the count are written only by the
	 * claim's holder. */
	struct rte_mbuf *frame;
	uint16_t frame_room;
};

/* Control path (main lcore). NULL and errno on failure. */
struct net_dataplane *net_dataplane_create(const struct net_dataplane_config *cfg);
/* Finds the ethdev for a device: an existing port of that name (PCI address or vdev name), else
 * probes devargs ("net_tap0,iface=x", "0000:01:00.0", ...). */
int net_port_probe(const char *devargs, uint16_t *port_id);
/* Configures port_id's queues (one RX/TX per worker; RSS or software dispatch), the MTU, and
 * the interface identity (ifc: addresses and gateways; its MAC is read from the port and a
 * link-local IPv6 address is added). */
int net_port_add(struct net_dataplane *dp, uint16_t port_id, const struct net_iface *ifc,
		 uint16_t mtu, uint16_t rx_desc, uint16_t tx_desc);
int net_dataplane_start(struct net_dataplane *dp);
/* Asks every worker to leave net_worker_run (after flushing its TX). */
void net_dataplane_request_stop(struct net_dataplane *dp);
bool net_dataplane_stopping(const struct net_dataplane *dp);
/* After the workers returned: frees queued and held packets (counted as 'shutdown'), stops and
 * closes the ports, frees pools and rings. */
void net_dataplane_destroy(struct net_dataplane *dp);

unsigned net_dataplane_n_workers(const struct net_dataplane *dp);
unsigned net_dataplane_n_ports(const struct net_dataplane *dp);
const struct net_port_info *net_dataplane_port(const struct net_dataplane *dp, unsigned idx);
struct net_worker *net_dataplane_worker(struct net_dataplane *dp, unsigned idx);
/* The pool of TX header mbufs (frame at data_off 0, right after the mbuf; NET_TX_HDR_ROOM
 * bytes): for a NIC stand-in that locates frames as a descriptor would, without the mbuf. */
struct rte_mempool *net_dataplane_tx_hdr_pool(const struct net_dataplane *dp);
/* Sum of every worker's counters; per_worker (n_workers entries) may be NULL. */
void net_dataplane_counters(const struct net_dataplane *dp, struct net_counters *sum,
			    struct net_counters *per_worker);

/* The port to reach remote from, and our source address there: a port with remote on-link
 * first, else one with a gateway of its family. -ENETUNREACH when none. Read-only over the port
 * table (any lcore): a PPSPP sender that knows only the peer's address finds its tuple here. */
int net_dataplane_route(const struct net_dataplane *dp, const struct net_ipaddr *remote,
			uint16_t *port_id, struct net_ipaddr *local);

/* Data path (the worker's own lcore; hooks set before start). */
void net_worker_set_udp_hook(struct net_worker *w, net_udp_hook_fn fn, void *ctx);
void net_worker_set_loop_hook(struct net_worker *w, net_loop_hook_fn fn, void *ctx);
unsigned net_worker_index(const struct net_worker *w);
/* The time the current poll iteration started (TSC, ns; no system call): the clock for hooks. */
uint64_t net_worker_now_ns(const struct net_worker *w);
/* One iteration: RX on the worker's queues and dispatch ring, host stack, hooks, timers, TX
 * flush. Returns the number of packets received. */
unsigned net_worker_poll(struct net_worker *w);
/* Lcore entry (arg: struct net_worker *): polls until net_dataplane_request_stop(). */
int net_worker_run(void *arg);
/* Sends the TX buffered so far; what the PMD's queue does not take is kept for the next flush. */
void net_worker_flush(struct net_worker *w);
/* Back-pressure for bulk senders: how many more datagrams this worker can queue on every one of
 * its ports while a PMD's TX queue is full, keeping an eighth of its hold (config tx_hold) for
 * control traffic. A sender that keeps within it loses nothing to a full queue (tx_queue_full);
 * the held datagrams go out, in order, as the queue drains. */
unsigned net_worker_tx_room(const struct net_worker *w);

/* Sends one UDP datagram from port_id: Ethernet/IP/UDP headers (+ the caller's hdr bytes, copied)
 * in one mbuf, chained to an external-buffer mbuf over payload when given (no copy). The
 * datagram waits for ARP/ND when the next hop is unresolved. payload->release runs exactly once
 * in every case: when the NIC is done with the mbuf, or at once on an error return.
 * Errors: -EINVAL, -EADDRNOTAVAIL (t->local is not an address of that port), -EMSGSIZE (above
 * the MTU), -ENETUNREACH (no route), -ENOBUFS (no mbuf or neighbour queue full); the last three
 * are counted as drops. */
int net_tx_udp(struct net_worker *w, uint16_t port_id, const struct net_udp_tuple *t,
	       const void *hdr, uint16_t hdr_len, const struct net_payload *payload);

/* One datagram of a burst to the same peer: the caller's bytes after the UDP header (copied)
 * and, optionally, a zero-copy payload (same contract as net_tx_udp's). */
struct net_tx_dgram {
	const void *hdr;
	uint16_t hdr_len;
	const struct net_payload *payload; /* NULL: header bytes only */
};

/* n datagrams with the same tuple from port_id, in order, each exactly as net_tx_udp would send
 * it (same bytes on the wire, same counters, same error semantics, every payload released
 * exactly once). The burst is validated, routed (next hop) and its neighbour resolved once, the
 * Ethernet/IP/UDP headers are built once as a template whose checksum parts are summed once;
 * per datagram only the lengths, IPv4 ID and checksums are filled in (incrementally), its header
 * bytes copied and the external mbuf attached. Mbufs for the whole burst come from one bulk
 * allocation per pool (per 64 datagrams). With the next hop unresolved, each datagram takes
 * net_tx_udp's path (held until ARP/ND answers). Returns the number of datagrams queued for TX
 * (held ones included), or a negative errno when none could be (that of the first datagram
 * that failed, e.g. -EINVAL, -EADDRNOTAVAIL, -ENETUNREACH: then every payload was released);
 * 0 when n is 0. */
int net_tx_udp_burst(struct net_worker *w, uint16_t port_id, const struct net_udp_tuple *t,
		     const struct net_tx_dgram *d, unsigned n);

/* IOVA of any process memory (control path: may read /proc/self/pagemap in PA mode). */
rte_iova_t net_payload_iova(const void *addr);

#ifdef __cplusplus
}
#endif

#endif
