/* pcdn PPSPP library: RFC 7574 (Peer-to-Peer Streaming Peer Protocol) with RFC 6817 LEDBAT.
 * The one public header of lib/ppspp; the parts live in the headers it includes.
 * Pure: bytes and a clock in, datagrams and events out. No sockets, no DPDK. */
#ifndef PPSPP_H
#define PPSPP_H

#include "ppspp_codec.h"
#include "ppspp_merkle.h"
#include "ppspp_ledbat.h"
#if __has_include("ppspp_engine.h")
#include "ppspp_engine.h"
#endif

#endif
