/* Request->DATA latency of one worker, as a fixed log2 histogram (Prometheus-style buckets, not
 * percentiles: buckets of several workers and several scrapes add up).
 *
 * What is measured: from the arrival of a datagram that carried a REQUEST from a peer to the
 * next DATA datagram sent to that peer. Requests that arrive while one is already waiting for
 * its DATA do not restart the clock, so under pipelining this is the wait of the oldest pending
 * request: cache hits served in the same poll loop, misses after the upstream fill, pacing by
 * LEDBAT, all included.
 *
 * One writer (the worker that owns it; plain stores, no locks, no allocation); readers on the
 * control thread load the buckets relaxed, as with every per-worker counter. Times are TSC
 * cycles, converted with the frequency given at init. Pure C: no DPDK in here. */
#ifndef CTL_LATENCY_H
#define CTL_LATENCY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Bucket k (0..CACHERD_LAT_BUCKETS-2) counts samples <= 2^k microseconds (above the previous
 * bound); the last bucket counts the rest (+Inf). 2^22 us = 4.2 s. */
#define CACHERD_LAT_BUCKETS 24
#define CACHERD_LAT_PENDING 256 /* peers tracked at once per worker (direct-mapped) */

struct cacherd_lat_pending {
	uint64_t since_tsc; /* 0: nothing pending */
	uint8_t addr[16];
	uint16_t port;
	uint8_t family;
};

struct cacherd_latency {
	uint64_t tsc_hz;
	uint64_t bucket[CACHERD_LAT_BUCKETS]; /* not cumulative; readers accumulate */
	uint64_t count;
	uint64_t sum_ns;
	uint64_t overwritten; /* a pending request lost its slot to another peer (not sampled) */
	struct cacherd_lat_pending pending[CACHERD_LAT_PENDING];
};

static inline void cacherd_latency_init(struct cacherd_latency *l, uint64_t tsc_hz)
{
	memset(l, 0, sizeof(*l));
	l->tsc_hz = tsc_hz;
}

/* Upper bound of bucket k in microseconds (the last bucket has none: UINT64_MAX). */
static inline uint64_t cacherd_latency_bound_us(unsigned k)
{
	return k + 1 < CACHERD_LAT_BUCKETS ? (uint64_t)1 << k : UINT64_MAX;
}

static inline unsigned cacherd_latency_bucket(uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000; /* "<= 2^k us" */
	unsigned k = us <= 1 ? 0 : 64 - (unsigned)__builtin_clzll(us - 1);

	return k < CACHERD_LAT_BUCKETS - 1 ? k : CACHERD_LAT_BUCKETS - 1;
}

static inline void cacherd_latency_sample(struct cacherd_latency *l, uint64_t ns)
{
	unsigned k = cacherd_latency_bucket(ns);

	__atomic_store_n(&l->bucket[k], l->bucket[k] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&l->sum_ns, l->sum_ns + ns, __ATOMIC_RELAXED);
	__atomic_store_n(&l->count, l->count + 1, __ATOMIC_RELAXED);
}

static inline struct cacherd_lat_pending *cacherd_latency_slot(struct cacherd_latency *l,
							       const uint8_t *addr, uint16_t port)
{
	/* FNV-1a over the address bytes that can differ and the port. */
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	h = (h ^ port) * 16777619u;
	return &l->pending[h % CACHERD_LAT_PENDING];
}

/* A datagram with at least one REQUEST from addr/port (16 bytes, zero-padded for IPv4) arrived
 * at tsc. */
static inline void cacherd_latency_request(struct cacherd_latency *l, uint8_t family,
					   const uint8_t *addr, uint16_t port, uint64_t tsc)
{
	struct cacherd_lat_pending *p = cacherd_latency_slot(l, addr, port);
	bool same = p->family == family && p->port == port && memcmp(p->addr, addr, 16) == 0;

	if (p->since_tsc && same)
		return; /* the oldest pending request keeps the clock */
	if (p->since_tsc)
		__atomic_store_n(&l->overwritten, l->overwritten + 1, __ATOMIC_RELAXED);
	p->since_tsc = tsc ? tsc : 1;
	p->family = family;
	p->port = port;
	memcpy(p->addr, addr, 16);
}

/* A DATA datagram left for addr/port at tsc. */
static inline void cacherd_latency_data(struct cacherd_latency *l, uint8_t family,
					const uint8_t *addr, uint16_t port, uint64_t tsc)
{
	struct cacherd_lat_pending *p = cacherd_latency_slot(l, addr, port);

	if (!p->since_tsc || p->family != family || p->port != port ||
	    memcmp(p->addr, addr, 16) != 0)
		return;
	uint64_t cycles = tsc > p->since_tsc ? tsc - p->since_tsc : 0;
	uint64_t ns =
	    l->tsc_hz ? (uint64_t)((unsigned __int128)cycles * 1000000000u / l->tsc_hz) : 0;
	p->since_tsc = 0;
	cacherd_latency_sample(l, ns);
}

#endif
