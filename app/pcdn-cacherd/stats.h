/* pcdn-cacherd counters as text: "name value" lines, summed over workers, then per worker. The
 * stats file (--stats-file), the exit report and the DPDK telemetry commands use the same names
 * (telemetry with '/' for '.'); the operator CLI reads them through cacherd_counters_foreach. */
#ifndef CACHERD_STATS_H
#define CACHERD_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "cacherd.h"

/* Calls fn for every counter: worker < 0 gives the sums plus the control thread's and the
 * cache's figures, worker >= 0 that worker's own. Names: net.*, serve.*, ppspp.*, fill.*,
 * cache.*. Reads are relaxed loads: any thread may call it while the workers run. This is the
 * one list of counters: `pcdn-ctl show stats`, Prometheus and the ctl telemetry commands build
 * theirs from it (ctl_stats.c), so a counter added here shows everywhere. A worker's names come
 * in the same order as in the sums and each of them is also a sum's name. */
void cacherd_counters_foreach(const struct cacherd *d, int worker,
			      void (*fn)(void *ctx, const char *name, uint64_t value), void *ctx);

void cacherd_stats_print(FILE *out, const struct cacherd *d, uint64_t uptime_ms);
/* Writes path atomically (temporary file + rename); 0 or -errno. */
int cacherd_stats_write_file(const char *path, const struct cacherd *d, uint64_t uptime_ms);

#endif
