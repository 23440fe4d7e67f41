/* Control path of lib/net: pools, rings, per-worker state, port configuration for any PMD
 * (RSS on the UDP 4-tuple when offered, software dispatch otherwise), start, stop, teardown. */
#include "net_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>

#include "pcdn_common.h"

PCDN_LOG_COMPONENT(net_log, "net")

#define RSS_UDP (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP)

static unsigned dp_seq; /* unique names for pools and rings when several dataplanes exist */

uint64_t net_now_ns(const struct net_dataplane *dp)
{
	return (uint64_t)((double)rte_get_tsc_cycles() * dp->ns_per_tsc);
}

/* The TX header pool: mbufs of 128 + NET_TX_HDR_ROOM bytes whose frame starts right after the
 * mbuf (no private area; the TX path sets data_off 0), so a datagram's header mbuf is one run
 * of contiguous lines (mbuf, then frame) and in-flight headers take a fifth of the memory a
 * packet mbuf would. */
static struct rte_mempool *tx_hdr_pool_create(const char *name,
					      const struct net_dataplane_config *cfg)
{
	unsigned n = cfg->tx_hdr_mbufs;
	unsigned cache = cfg->mbuf_cache;

	if (!n)
		n = RTE_MAX(cfg->mbufs, cfg->ext_mbufs);
	if (cache > RTE_MEMPOOL_CACHE_MAX_SIZE)
		cache = RTE_MEMPOOL_CACHE_MAX_SIZE;
	if (cache * 3 / 2 > n)
		cache = n * 2 / 3;
	return rte_pktmbuf_pool_create(name, n, cache, 0, NET_TX_HDR_ROOM, cfg->socket_id);
}

struct net_dataplane *net_dataplane_create(const struct net_dataplane_config *cfg)
{
	struct net_dataplane *dp;
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned seq = __atomic_fetch_add(&dp_seq, 1, __ATOMIC_RELAXED);
	unsigned data_room, tx_hold;
	uint16_t priv;

	if (!cfg || cfg->n_workers == 0 || cfg->n_workers > NET_MAX_WORKERS || cfg->mbufs < 64 ||
	    cfg->ext_mbufs < 64 || (cfg->tx_hdr_mbufs && cfg->tx_hdr_mbufs < 64) ||
	    cfg->neigh_capacity == 0 || cfg->max_mtu > 9600 || cfg->tx_hold > 32768) {
		errno = EINVAL;
		return NULL;
	}
	dp = rte_zmalloc("net_dataplane", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (!dp) {
		errno = ENOMEM;
		return NULL;
	}
	dp->cfg = *cfg;
	tx_hold = cfg->tx_hold ? cfg->tx_hold : NET_TX_HOLD;
	memset(dp->port_idx, -1, sizeof(dp->port_idx));
	dp->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
	snprintf(name, sizeof(name), "net_pkt%u", seq);
	/* One segment per received frame: the host stack parses contiguous frames. */
	data_room = RTE_PKTMBUF_HEADROOM + (cfg->max_mtu ? cfg->max_mtu : RTE_ETHER_MTU) +
		    RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;
	if (data_room < RTE_MBUF_DEFAULT_BUF_SIZE)
		data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	dp->pool = rte_pktmbuf_pool_create(name, cfg->mbufs, cfg->mbuf_cache, 0,
					   (uint16_t)data_room, cfg->socket_id);
	/* The shared info of an external payload lives in the mbuf that carries it (its dynamic
	 * fields, or when those are taken or the release callbacks too many, its private area): it
	 * stays valid until that mbuf is detached, whatever frees first. */
	priv = RTE_ALIGN((uint16_t)sizeof(struct net_ext_priv), RTE_MBUF_PRIV_ALIGN);
	snprintf(name, sizeof(name), "net_ext%u", seq);
	dp->ext_pool =
	    rte_pktmbuf_pool_create(name, cfg->ext_mbufs, cfg->mbuf_cache, priv, 0, cfg->socket_id);
	{
		static const struct rte_mbuf_dynfield shinfo_field = {
		    .name = "pcdn_net_ext_shinfo",
		    .size = sizeof(struct rte_mbuf_ext_shared_info),
		    .align = __alignof__(struct rte_mbuf_ext_shared_info)};

		/* Taken by other dynamic fields (PMD timestamps, ...): the private area instead. */
		dp->ext_shinfo_off = rte_mbuf_dynfield_register(&shinfo_field);
		if (dp->ext_shinfo_off < 0)
			PCDN_LOG(net_log, INFO,
				 "no room in the mbuf for the payload shared info (%s): private "
				 "area",
				 rte_strerror(rte_errno));
	}
	snprintf(name, sizeof(name), "net_hdr%u", seq);
	dp->hdr_pool = tx_hdr_pool_create(name, cfg);
	dp->workers = rte_zmalloc("net_workers", sizeof(struct net_worker) * cfg->n_workers,
				  RTE_CACHE_LINE_SIZE);
	if (!dp->pool || !dp->ext_pool || !dp->hdr_pool || !dp->workers)
		goto fail;
	for (unsigned i = 0; i < cfg->n_workers; i++) {
		struct net_worker *w = &dp->workers[i];

		w->dp = dp;
		w->idx = i;
		snprintf(name, sizeof(name), "net_dsp%u_%u", seq, i);
		w->dispatch_ring = rte_ring_create(name, 1024, cfg->socket_id, RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "net_shr%u_%u", seq, i);
		w->share_ring = rte_ring_create_elem(name, sizeof(struct net_neigh_share), 256,
						     cfg->socket_id, RING_F_SC_DEQ);
		w->tx_mem = rte_zmalloc_socket(
		    "net_tx_hold",
		    (sizeof(struct rte_mbuf *) + sizeof(uint16_t)) * NET_MAX_PORTS * tx_hold,
		    RTE_CACHE_LINE_SIZE, cfg->socket_id);
		if (!w->dispatch_ring || !w->share_ring || !w->tx_mem)
			goto fail;
		for (unsigned p = 0; p < NET_MAX_PORTS; p++) {
			struct rte_mbuf **mem = w->tx_mem;
			uint16_t *len = (uint16_t *)(mem + (size_t)NET_MAX_PORTS * tx_hold);

			w->tx[p].m = mem + (size_t)p * tx_hold;
			w->tx[p].len = len + (size_t)p * tx_hold;
			w->tx[p].cap = (uint16_t)tx_hold;
		}
	}
	return dp;
fail:
	PCDN_LOG(net_log, ERR, "dataplane: cannot allocate pools or rings (%s)",
		 rte_strerror(rte_errno));
	net_dataplane_destroy(dp);
	errno = ENOMEM;
	return NULL;
}

int net_port_probe(const char *devargs, uint16_t *port_id)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t n = strcspn(devargs, ",");
	int rc;

	if (n == 0 || n >= sizeof(name))
		return -EINVAL;
	memcpy(name, devargs, n);
	name[n] = '\0';
	if (rte_eth_dev_get_port_by_name(name, port_id) == 0)
		return 0;
	rc = rte_dev_probe(devargs);
	if (rc < 0) {
		PCDN_LOG(net_log, ERR, "port '%s': probe failed: %s", devargs, rte_strerror(-rc));
		return rc;
	}
	if (rte_eth_dev_get_port_by_name(name, port_id) == 0)
		return 0;
	/* A PCI device is named in full form (0000:01:00.0) even if given short. */
	RTE_ETH_FOREACH_DEV(*port_id)
	{
		char pname[RTE_ETH_NAME_MAX_LEN];

		if (rte_eth_dev_get_name_by_port(*port_id, pname) == 0 && strstr(pname, name))
			return 0;
	}
	return -ENODEV;
}

int net_port_add(struct net_dataplane *dp, uint16_t port_id, const struct net_iface *ifc,
		 uint16_t mtu, uint16_t rx_desc, uint16_t tx_desc)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info di;
	struct rte_eth_txconf txc;
	struct rte_ether_addr mac;
	struct net_port *p;
	unsigned nw = dp->cfg.n_workers;
	uint16_t nrx, ntx = (uint16_t)nw;
	int rc;

	if (dp->n_ports >= NET_MAX_PORTS || !rte_eth_dev_is_valid_port(port_id) ||
	    dp->port_idx[port_id] >= 0 || dp->started)
		return -EINVAL;
	p = &dp->ports[dp->n_ports];
	memset(p, 0, sizeof(*p));
	p->info.port_id = port_id;
	p->info.ifc = *ifc;
	p->mtu = mtu;
	rc = rte_eth_dev_info_get(port_id, &di);
	if (rc < 0)
		return rc;
	snprintf(p->info.driver, sizeof(p->info.driver), "%s", di.driver_name);
	if (di.max_tx_queues < nw) {
		PCDN_LOG(net_log, ERR,
			 "port %u (%s): %u workers need %u TX queues, the PMD offers %u "
			 "(net_af_packet: qpairs=%u in its devargs)",
			 port_id, di.driver_name, nw, nw, di.max_tx_queues, nw);
		return -ENOTSUP;
	}
	if (nw == 1) {
		p->info.rx_mode = NET_RX_SINGLE;
		nrx = 1;
	} else if ((di.flow_type_rss_offloads & RSS_UDP) == RSS_UDP && di.max_rx_queues >= nw) {
		p->info.rx_mode = NET_RX_RSS;
		nrx = (uint16_t)nw;
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
		    di.flow_type_rss_offloads & (RSS_UDP | RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_IPV6);
	} else {
		/* No usable RSS: read every queue the PMD has (up to one per worker; net_af_packet
		 * with qpairs=N spreads flows over N sockets) and re-dispatch by 4-tuple hash. */
		p->info.rx_mode = NET_RX_DISPATCH;
		nrx = (uint16_t)(di.max_rx_queues < nw ? di.max_rx_queues : nw);
		if (nrx == 0)
			nrx = 1;
	}
	/* Checksums: offload what the PMD offers, the rest is done in software per packet. */
	if ((di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) &&
	    (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) {
		p->tx_offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
		p->info.tx_ip_csum_offload = true;
		p->info.tx_udp_csum_offload = true;
		p->info.tx_csum_multiseg_ok = strcmp(di.driver_name, "net_tap") != 0;
	}
	p->tx_offloads |= di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	conf.txmode.offloads = p->tx_offloads;
	rc = rte_eth_dev_configure(port_id, nrx, ntx, &conf);
	if (rc < 0 && p->info.rx_mode == NET_RX_RSS) {
		/* Advertised but refused (e.g. a tap without its BPF program): dispatch instead. */
		PCDN_LOG(net_log, WARNING, "port %u: RSS refused (%s), using software dispatch",
			 port_id, rte_strerror(-rc));
		memset(&conf.rxmode, 0, sizeof(conf.rxmode));
		memset(&conf.rx_adv_conf, 0, sizeof(conf.rx_adv_conf));
		p->info.rx_mode = NET_RX_DISPATCH;
		rc = rte_eth_dev_configure(port_id, nrx, ntx, &conf);
	}
	if (rc < 0) {
		PCDN_LOG(net_log, ERR, "port %u: configure: %s", port_id, rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
	if (rc < 0)
		return rc;
	if (mtu) {
		rc = rte_eth_dev_set_mtu(port_id, mtu);
		if (rc == -ENOTSUP)
			PCDN_LOG(net_log, INFO, "port %u: MTU not settable; using %u for sizing",
				 port_id, mtu);
		else if (rc < 0) {
			PCDN_LOG(net_log, ERR, "port %u: MTU %u: %s", port_id, mtu,
				 rte_strerror(-rc));
			return rc;
		}
	} else if (rte_eth_dev_get_mtu(port_id, &p->mtu) < 0) {
		p->mtu = RTE_ETHER_MTU;
	}
	for (uint16_t q = 0; q < nrx; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, rte_eth_dev_socket_id(port_id),
					    NULL, dp->pool);
		if (rc < 0) {
			PCDN_LOG(net_log, ERR, "port %u: RX queue %u: %s", port_id, q,
				 rte_strerror(-rc));
			return rc;
		}
	}
	txc = di.default_txconf;
	txc.offloads = p->tx_offloads;
	for (uint16_t q = 0; q < ntx; q++) {
		rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, rte_eth_dev_socket_id(port_id),
					    &txc);
		if (rc < 0) {
			PCDN_LOG(net_log, ERR, "port %u: TX queue %u: %s", port_id, q,
				 rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_macaddr_get(port_id, &mac);
	if (rc < 0)
		return rc;
	memcpy(p->info.ifc.mac, mac.addr_bytes, NET_ETH_ALEN);
	p->info.ifc.mtu = p->mtu;
	rc = net_iface_add_link_local(&p->info.ifc);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	p->info.n_rxq = nrx;
	p->info.n_txq = ntx;
	for (unsigned i = 0; i < nw; i++) {
		struct net_worker *w = &dp->workers[i];

		w->neigh[dp->n_ports] = net_neigh_create(dp->cfg.neigh_capacity, &dp->cfg.neigh);
		if (!w->neigh[dp->n_ports])
			return -ENOMEM;
	}
	dp->port_idx[port_id] = (int8_t)dp->n_ports;
	dp->n_ports++;
	{
		static const char *const modes[] = {"single queue", "RSS", "software dispatch"};
		PCDN_LOG(net_log, NOTICE,
			 "port %u (%s): %u RX / %u TX queues, %s, MTU %u, checksums %s", port_id,
			 di.driver_name, nrx, ntx, modes[p->info.rx_mode], p->mtu,
			 !p->info.tx_udp_csum_offload  ? "in software"
			 : p->info.tx_csum_multiseg_ok ? "offloaded"
						       : "offloaded (chained: in software)");
	}
	return 0;
}

int net_dataplane_start(struct net_dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_ports; i++) {
		uint16_t pid = dp->ports[i].info.port_id;
		int rc = rte_eth_dev_start(pid);

		if (rc < 0) {
			PCDN_LOG(net_log, ERR, "port %u: start: %s", pid, rte_strerror(-rc));
			return rc;
		}
		/* Solicited-node groups (ND) and broadcast (ARP) must reach us on any NIC. */
		rte_eth_allmulticast_enable(pid);
	}
	dp->started = true;
	return 0;
}

void net_dataplane_request_stop(struct net_dataplane *dp)
{
	__atomic_store_n(&dp->stop, 1, __ATOMIC_RELEASE);
}

bool net_dataplane_stopping(const struct net_dataplane *dp)
{
	return __atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE) != 0;
}

static void release_held(void *pkt, void *ctx)
{
	struct net_worker *w = ctx;

	net_drop_add(&w->ctr, NET_DROP_SHUTDOWN, 1);
	rte_pktmbuf_free(pkt);
}

void net_dataplane_destroy(struct net_dataplane *dp)
{
	if (!dp)
		return;
	for (unsigned i = 0; dp->workers && i < dp->cfg.n_workers; i++) {
		struct net_worker *w = &dp->workers[i];
		void *m;

		for (unsigned p = 0; p < NET_MAX_PORTS; p++) {
			struct net_txbuf *b = &w->tx[p];

			net_drop_add(&w->ctr, NET_DROP_SHUTDOWN, b->n);
			while (b->n) {
				rte_pktmbuf_free(b->m[b->head]);
				b->head = (uint16_t)(b->head + 1u == b->cap ? 0 : b->head + 1u);
				b->n--;
			}
			b->held = 0;
			net_neigh_destroy(w->neigh[p], release_held, w);
			w->neigh[p] = NULL;
		}
		/* never handed out: raw mbufs, straight back to their pools (not drops) */
		if (w->hdr_stash.n > w->hdr_stash.next)
			rte_mempool_put_bulk(dp->hdr_pool,
					     (void **)&w->hdr_stash.m[w->hdr_stash.next],
					     (unsigned)(w->hdr_stash.n - w->hdr_stash.next));
		if (w->ext_stash.n > w->ext_stash.next)
			rte_mempool_put_bulk(dp->ext_pool,
					     (void **)&w->ext_stash.m[w->ext_stash.next],
					     (unsigned)(w->ext_stash.n - w->ext_stash.next));
		w->hdr_stash.n = w->hdr_stash.next = w->ext_stash.n = w->ext_stash.next = 0;
		while (w->dispatch_ring && rte_ring_dequeue(w->dispatch_ring, &m) == 0) {
			net_drop_add(&w->ctr, NET_DROP_SHUTDOWN, 1);
			rte_pktmbuf_free(m);
		}
		rte_ring_free(w->dispatch_ring);
		rte_ring_free(w->share_ring);
		rte_free(w->tx_mem);
		w->tx_mem = NULL;
	}
	for (unsigned i = 0; i < dp->n_ports; i++) {
		uint16_t pid = dp->ports[i].info.port_id;

		if (dp->started)
			rte_eth_dev_stop(pid);
		rte_eth_dev_close(pid);
	}
	rte_mempool_free(dp->pool);
	rte_mempool_free(dp->ext_pool);
	rte_mempool_free(dp->hdr_pool);
	rte_free(dp->workers);
	rte_free(dp);
}

struct rte_mempool *net_dataplane_tx_hdr_pool(const struct net_dataplane *dp)
{
	return dp->hdr_pool;
}

unsigned net_dataplane_n_workers(const struct net_dataplane *dp)
{
	return dp->cfg.n_workers;
}

unsigned net_dataplane_n_ports(const struct net_dataplane *dp)
{
	return dp->n_ports;
}

const struct net_port_info *net_dataplane_port(const struct net_dataplane *dp, unsigned idx)
{
	return idx < dp->n_ports ? &dp->ports[idx].info : NULL;
}

struct net_worker *net_dataplane_worker(struct net_dataplane *dp, unsigned idx)
{
	return idx < dp->cfg.n_workers ? &dp->workers[idx] : NULL;
}

void net_dataplane_counters(const struct net_dataplane *dp, struct net_counters *sum,
			    struct net_counters *per_worker)
{
	for (unsigned i = 0; per_worker && i < dp->cfg.n_workers; i++)
		net_counters_sum(&dp->workers[i].ctr, 1, &per_worker[i]);
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < dp->cfg.n_workers; i++) {
		struct net_counters one;

		net_counters_sum(&dp->workers[i].ctr, 1, &one);
		for (unsigned k = 0; k < NET_CTR_MAX; k++)
			sum->ctr[k] += one.ctr[k];
		for (unsigned k = 0; k < NET_DROP_MAX; k++)
			sum->drop[k] += one.drop[k];
	}
}

int net_dataplane_route(const struct net_dataplane *dp, const struct net_ipaddr *remote,
			uint16_t *port_id, struct net_ipaddr *local)
{
	int gw_port = -1;

	for (unsigned i = 0; i < dp->n_ports; i++) {
		const struct net_iface *ifc = &dp->ports[i].info.ifc;
		struct net_ipaddr nh;

		if (net_iface_next_hop(ifc, remote, &nh) < 0)
			continue;
		if (net_ipaddr_equal(&nh, remote)) {
			*port_id = dp->ports[i].info.port_id;
			return net_iface_source_for(ifc, remote, local);
		}
		if (gw_port < 0)
			gw_port = (int)i;
	}
	if (gw_port < 0)
		return -ENETUNREACH;
	*port_id = dp->ports[gw_port].info.port_id;
	return net_iface_source_for(&dp->ports[gw_port].info.ifc, remote, local);
}

rte_iova_t net_payload_iova(const void *addr)
{
	if (rte_eal_iova_mode() == RTE_IOVA_VA)
		return (rte_iova_t)(uintptr_t)addr;
	return rte_mem_virt2iova(addr);
}
