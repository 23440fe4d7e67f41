/* DPDK telemetry commands of pcdn-cacherd (dpdk-telemetry.py, or the v2 socket under
 * /var/run/dpdk/<file-prefix>/): /pcdn/stats (counters summed over workers, or one worker's with
 * a worker index as parameter; names as in the stats file with '/' for '.', since telemetry
 * names allow only [A-Za-z0-9_/]) and /pcdn/ports. The operator CLI (issue 6) builds on these. */
#ifndef CACHERD_TELEMETRY_H
#define CACHERD_TELEMETRY_H

#include "cacherd.h"

/* Registers the commands (after rte_eal_init); they answer for d until detached. */
int cacherd_telemetry_attach(const struct cacherd *d);
/* Before the dataplane is destroyed: afterwards the commands answer with an error. */
void cacherd_telemetry_detach(void);

#endif
