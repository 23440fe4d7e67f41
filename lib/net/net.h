/* pcdn lib/net: the data plane's network layer. Pure parts (frame parser, builders, checksums,
 * neighbour cache, counters) work on byte buffers without DPDK; net_dataplane.h adds ports,
 * workers and the TX path on DPDK. */
#ifndef NET_H
#define NET_H

#include "net_counters.h"
#include "net_neigh.h"
#include "net_proto.h"
#if __has_include(<rte_mbuf.h>)
#include "net_dataplane.h"
#endif

#endif
