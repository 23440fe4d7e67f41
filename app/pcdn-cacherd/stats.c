/* Counter reports; see stats.h. Readers only load the workers' counters (relaxed), the hot path
 * never waits for them. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void print_block(FILE *out, const char *prefix, const struct net_counters *c)
{
	for (unsigned i = 0; i < NET_CTR_MAX; i++)
		fprintf(out, "%snet.%s %llu\n", prefix, net_counter_name(i),
			(unsigned long long)c->ctr[i]);
	fprintf(out, "%snet.drops_total %llu\n", prefix,
		(unsigned long long)net_counters_drops_total(c));
	for (unsigned i = 1; i < NET_DROP_MAX; i++)
		fprintf(out, "%snet.drop.%s %llu\n", prefix, net_drop_name(i),
			(unsigned long long)c->drop[i]);
}

void cacherd_stats_print(FILE *out, struct net_dataplane *dp, uint64_t uptime_ms)
{
	unsigned nw = net_dataplane_n_workers(dp);
	struct net_counters sum, *per = calloc(nw, sizeof(*per));
	char prefix[32];

	net_dataplane_counters(dp, &sum, per);
	fprintf(out, "uptime_ms %llu\n", (unsigned long long)uptime_ms);
	fprintf(out, "workers %u\n", nw);
	fprintf(out, "ports %u\n", net_dataplane_n_ports(dp));
	print_block(out, "", &sum);
	for (unsigned w = 0; per && w < nw; w++) {
		snprintf(prefix, sizeof(prefix), "worker%u.", w);
		print_block(out, prefix, &per[w]);
	}
	free(per);
}

int cacherd_stats_write_file(const char *path, struct net_dataplane *dp, uint64_t uptime_ms)
{
	char tmp[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	cacherd_stats_print(f, dp, uptime_ms);
	if (fclose(f) != 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}
