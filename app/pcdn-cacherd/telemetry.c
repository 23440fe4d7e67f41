/* DPDK telemetry commands; see telemetry.h. They run on the EAL's telemetry thread and only load
 * the workers' counters (relaxed); a mutex orders them against the dataplane's teardown. */
#include "telemetry.h"

#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct cacherd *tel_d;
static struct net_dataplane *tel_dp;

/* telemetry names allow [A-Za-z0-9_/] only */
static void add_one(void *ctx, const char *name, uint64_t value)
{
	char n[128];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(n); i++)
		n[i] = name[i] == '.' ? '/' : name[i];
	n[i] = '\0';
	rte_tel_data_add_dict_u64(ctx, n, value);
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int rc = 0;

	(void)cmd;
	pthread_mutex_lock(&tel_lock);
	if (!tel_d) {
		rc = -ENODEV;
		goto out;
	}
	rte_tel_data_start_dict(d);
	if (params && *params) {
		char *end;
		unsigned long w = strtoul(params, &end, 10);

		if (*end || w >= tel_d->n_workers) {
			rc = -EINVAL;
			goto out;
		}
		rte_tel_data_add_dict_u64(d, "worker", w);
		cacherd_counters_foreach(tel_d, (int)w, add_one, d);
	} else {
		rte_tel_data_add_dict_u64(d, "workers", tel_d->n_workers);
		cacherd_counters_foreach(tel_d, -1, add_one, d);
	}
out:
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

static int cmd_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const char *const modes[] = {"single", "rss", "dispatch"};
	int rc = 0;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&tel_lock);
	if (!tel_dp) {
		rc = -ENODEV;
		goto out;
	}
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < net_dataplane_n_ports(tel_dp); i++) {
		const struct net_port_info *pi = net_dataplane_port(tel_dp, i);
		struct rte_tel_data *p = rte_tel_data_alloc();
		char key[16], s[64];

		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		rte_tel_data_start_dict(p);
		rte_tel_data_add_dict_u64(p, "port_id", pi->port_id);
		rte_tel_data_add_dict_string(p, "driver", pi->driver);
		rte_tel_data_add_dict_string(p, "rx_mode", modes[pi->rx_mode]);
		rte_tel_data_add_dict_u64(p, "rx_queues", pi->n_rxq);
		rte_tel_data_add_dict_u64(p, "tx_queues", pi->n_txq);
		rte_tel_data_add_dict_u64(p, "mtu", pi->ifc.mtu);
		rte_tel_data_add_dict_u64(p, "tx_udp_csum_offload", pi->tx_udp_csum_offload);
		snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", pi->ifc.mac[0],
			 pi->ifc.mac[1], pi->ifc.mac[2], pi->ifc.mac[3], pi->ifc.mac[4],
			 pi->ifc.mac[5]);
		rte_tel_data_add_dict_string(p, "mac", s);
		for (unsigned a = 0; a < pi->ifc.n_addrs; a++) {
			char addr[64];

			snprintf(key, sizeof(key), "address%u", a);
			snprintf(s, sizeof(s), "%s/%u",
				 net_ipaddr_format(&pi->ifc.addrs[a].addr, addr, sizeof(addr)),
				 pi->ifc.addrs[a].len);
			rte_tel_data_add_dict_string(p, key, s);
		}
		snprintf(key, sizeof(key), "%u", i);
		rte_tel_data_add_dict_container(d, key, p, 0);
	}
out:
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

int cacherd_telemetry_attach(const struct cacherd *d)
{
	int rc;

	pthread_mutex_lock(&tel_lock);
	tel_d = d;
	tel_dp = d->dp;
	pthread_mutex_unlock(&tel_lock);
	rc = rte_telemetry_register_cmd("/pcdn/stats", cmd_stats,
					"pcdn-cacherd counters, summed; parameter: a worker index");
	if (rc == 0)
		rc = rte_telemetry_register_cmd(
		    "/pcdn/ports", cmd_ports, "pcdn-cacherd data ports: driver, queues, addresses");
	return rc;
}

void cacherd_telemetry_detach(void)
{
	pthread_mutex_lock(&tel_lock);
	tel_d = NULL;
	tel_dp = NULL;
	pthread_mutex_unlock(&tel_lock);
}
