/* The emulated CSCs on a DPDK port (the far end of the cacher's net_ring pair, or a net_memif
 * client): frames built and parsed here, PPSPP in dp_gen.c. Also the I/O ceiling of the same
 * port pair: a forwarder and a bouncer of bare mbufs. */
#ifndef PCDN_BENCH_DP_PORT_H
#define PCDN_BENCH_DP_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "dp_bench.h"
#include "net.h"

#define DP_GEN_QUEUES 32

struct dp_genport {
	uint16_t port_id;
	unsigned n_queues;
	struct rte_mempool *pool;
	uint8_t mac[NET_ETH_ALEN], peer_mac[NET_ETH_ALEN];
	bool peer_known;
	struct net_ipaddr server_ip;
	uint16_t server_port;
	unsigned n_clients;
	struct net_udp_tuple *tuples;
	uint16_t *txq;
	uint16_t ip_id;
	struct dpg *gen;
	/* net_ring set-up: the frames read from queue q go back to the worker that sent them
	 * (done[q]), which frees them as a NIC's TX completion would, on its own lcore */
	struct rte_ring *done[DP_GEN_QUEUES];
	uint64_t next_arp_ns;
	/* The memory of the cacher's TX header pool (dp_genport_desc_pool): frames from it are
	 * located as a NIC locates them, from the descriptor's address, not the mbuf's fields */
	struct {
		uintptr_t lo, hi;
	} desc[64];
	unsigned n_desc;
	/* The cacher's frame views (dp_genport_views): view i is slot i, whose payload is at
	 * view_data + i * view_stride with view_room bytes of headroom in front */
	const struct rte_mbuf *view_lo, *view_hi;
	const uint8_t *view_data;
	size_t view_stride;
	unsigned view_room;
	struct {
		struct rte_mbuf *m[64];
		unsigned n;
	} tx[DP_GEN_QUEUES];
	/* generator lcore only; read by others as statistics */
	uint64_t rx_frames, rx_desc, rx_view, rx_arp, rx_other, tx_frames, tx_full, tx_nombuf;
	volatile pid_t tid;
	volatile uint64_t loops, idle_loops;
	volatile bool stop;
	double ns_per_tsc;
};

/* Configures and starts the port (n_queues RX and TX queues, mbufs from pool). */
int dp_genport_init(struct dp_genport *gp, uint16_t port_id, unsigned n_queues,
		    struct rte_mempool *pool);
/* Client addresses 10.0.x.y of the server's /16, UDP port client_port; client i's frames go to
 * TX queue (flow hash % n_workers), the queue the cacher's worker of that flow reads, and its
 * latency to that worker's group. peer_mac NULL: learnt by ARP. */
int dp_genport_clients(struct dp_genport *gp, struct dpg *gen, unsigned n_clients,
		       const struct net_ipaddr *server_ip, uint16_t server_port,
		       uint16_t client_port, unsigned n_workers, const uint8_t *peer_mac);
/* The generator's send callback (ctx = gp). */
int dp_genport_send(void *ctx, unsigned ci, const uint8_t *dgram, size_t len);
/* A zero-copy DATA frame's payload bytes (its second segment), for the clients' sampled checks. */
const uint8_t *dp_genport_tail(const void *tail);
/* The PPSPP bytes in a frame's first segment (the clients' check of dpg_input_chained). */
size_t dp_genport_head(const void *tail);
/* Frames in mbufs of mp (lib/net's TX header pool: frame at the mbuf's end, NET_TX_HDR_ROOM
 * bytes) are read without reading the mbuf: see dp_port.c. -EINVAL when mp is not laid out so. */
int dp_genport_desc_pool(struct dp_genport *gp, struct rte_mempool *mp);
/* The same for DATA sent in place: the n frame views at views (slot_mbuf.h), view i over slot
 * i's payload at data + i * stride with room bytes in front. -EINVAL when a built view is not
 * laid out so. */
int dp_genport_views(struct dp_genport *gp, const struct rte_mbuf *views, unsigned n,
		     const uint8_t *data, size_t stride, unsigned room);
/* Lcore entry: polls until gp->stop. */
int dp_genport_main(void *arg);
uint64_t dp_now_ns(const struct dp_genport *gp);
void dp_genport_close(struct dp_genport *gp);

/* I/O ceiling: `fwd` returns every mbuf it receives on its port; `bounce` keeps `inflight`
 * bare mbufs circulating through its port. */
struct dp_iolimit {
	uint16_t port_id;
	struct rte_mempool *pool;
	unsigned inflight;
	volatile bool stop;
	volatile uint64_t pkts;
	volatile uint64_t busy_cycles, busy_pkts;
	volatile pid_t tid;
	volatile int rc;
};
int dp_iolimit_fwd_main(void *arg);
int dp_iolimit_bounce_main(void *arg);

#endif
