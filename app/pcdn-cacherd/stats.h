/* pcdn-cacherd counters as text: "name value" lines, summed over workers, then per worker. The
 * stats file (--stats-file) and the exit report use it; the CLI (issue 6) will too. */
#ifndef CACHERD_STATS_H
#define CACHERD_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "net.h"

void cacherd_stats_print(FILE *out, struct net_dataplane *dp, uint64_t uptime_ms);
/* Writes path atomically (temporary file + rename); 0 or -errno. */
int cacherd_stats_write_file(const char *path, struct net_dataplane *dp, uint64_t uptime_ms);

#endif
