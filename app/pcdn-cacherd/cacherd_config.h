/* pcdn-cacherd configuration: the libconfig file (conf/pcdn-cacherd.conf documents every key)
 * parsed into a plain struct, without DPDK, so it is unit-tested and fuzzed on its own. Errors
 * read "file:line: key 'x': why"; unknown keys are errors. */
#ifndef CACHERD_CONFIG_H
#define CACHERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net_proto.h"
#include "pcdn_common.h"

#define CACHERD_MAX_PORTS   8  /* = NET_MAX_PORTS */
#define CACHERD_MAX_WORKERS 32 /* = NET_MAX_WORKERS */
#define CACHERD_MAX_LCORE   1023
#define CACHERD_MAX_UPSTREAMS 16
#define CACHERD_MAX_CACHE_CLASSES 8 /* = CACHE_MAX_CLASSES */

struct cacherd_port_conf {
	char device[256]; /* ethdev devargs ("net_af_packet0,iface=eth1") or PCI address */
	unsigned line;
	uint16_t mtu; /* 0: keep the PMD's */
	uint16_t rx_desc, tx_desc;
	struct net_iface ifc; /* addresses and gateways (the MAC comes from the port) */
};

struct cacherd_config {
	char source[256]; /* file name, for messages found after loading */
	enum pcdn_log_level log_level;
	uint16_t ppspp_port;
	unsigned n_workers;
	unsigned workers[CACHERD_MAX_WORKERS]; /* lcore ids */
	unsigned workers_line;
	char control_socket[108];
	/* Operator surface (issue 6): members of this group get read-only control connections
	 * ("" = none; resolved when the control socket starts or reloads); log output; optional
	 * Prometheus HTTP listener "addr:port" ("" = off). */
	char control_readonly_group[64];
	unsigned control_readonly_group_line;
	bool log_syslog;
	char metrics_listen[64];
	unsigned metrics_listen_line;
	/* Period of --stats-file in ms; 0: --stats-interval-ms (default 1000). Live on reload. */
	unsigned stats_interval_ms;
	unsigned mbufs, mbuf_cache, ext_mbufs;
	unsigned neigh_entries, neigh_probes;
	unsigned neigh_reachable_ms, neigh_retrans_ms;
	unsigned n_ports;
	struct cacherd_port_conf ports[CACHERD_MAX_PORTS];
	/* PPSPP serving: upstream peers the control thread fetches swarms from (pull-through) */
	unsigned n_upstreams;
	struct pcdn_addr upstreams[CACHERD_MAX_UPSTREAMS];
	unsigned upstreams_line;
	/* chunk cache (lib/cache): slot classes, swarms, metadata heap */
	unsigned cache_n_classes;
	struct {
		unsigned slot_size, slots;
	} cache_classes[CACHERD_MAX_CACHE_CLASSES];
	unsigned cache_max_swarms, cache_meta_mb, cache_small_percent;
	unsigned cache_chunk_map_mb; /* 0: lib/cache's default (16 bytes per slot) */
	/* bytes in front of each slot's payload where a DATA's headers are built (0: none) */
	unsigned cache_slot_headroom;
	bool cache_hugepages;
	/* workers' engines */
	unsigned serve_max_swarms, serve_max_channels, serve_max_peers, serve_send_burst;
	unsigned serve_tx_hold; /* datagrams per worker per port held while a TX queue is full */
	/* miss path */
	unsigned fill_max_outstanding, fill_timeout_ms, fill_swarm_timeout_ms, fill_readahead;
	bool fill_background;
};

/* 0, or -EINVAL/-ENOENT with err set ("file:line: key 'x': why"). */
int cacherd_config_load_file(const char *path, struct cacherd_config *out, char *err,
			     size_t errlen);
int cacherd_config_load_string(const char *text, struct cacherd_config *out, char *err,
			       size_t errlen);

#endif
