/* pcdn-bench data-plane modes: emulated CSCs (PPSPP clients) against the cacher's data plane.
 * dp_gen.c is the client side without any I/O (datagrams in, datagrams out, a clock passed in),
 * driven by a DPDK port (dp_port.c, mode `dp`) or by a kernel UDP socket (dp_kernel.c, mode
 * `dp-kernel`); dp_cacher.c is the cacher side (lib/net worker + PPSPP engine + lib/cache). */
#ifndef PCDN_BENCH_DP_BENCH_H
#define PCDN_BENCH_DP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppspp.h"

/* ---- latency histogram (log-linear: 32 sub-buckets per power of two, ~3% resolution) ------ */

#define DPG_HIST_BUCKETS (64 + 40 * 32)
struct dpg_hist {
	uint64_t n[DPG_HIST_BUCKETS];
};
void dpg_hist_add(struct dpg_hist *h, uint64_t ns);
/* Percentile (0..100) of the samples in `now` minus those in `before` (before may be NULL);
 * 0 without samples. */
double dpg_hist_pct_us(const struct dpg_hist *now, const struct dpg_hist *before, double pct);
uint64_t dpg_hist_count(const struct dpg_hist *now, const struct dpg_hist *before);

/* ---- the emulated clients ----------------------------------------------------------------- */

#define DPG_MAX_CLIENTS 4096
#define DPG_MAX_GROUPS	32 /* latency is kept per group: the cacher worker owning the flow */

struct dpg_config {
	unsigned n_clients;
	unsigned window;       /* chunks requested ahead per client (power of two, <= 1024) */
	unsigned sample_every; /* verify one DATA in this many (power of two) */
	uint8_t hash_fn;
	uint32_t chunk_size;
	const uint8_t *root; /* the swarm ID: the only thing a client trusts */
	size_t root_len;
	uint64_t stall_ns; /* outstanding requests with no DATA for this long are forgotten */
	uint64_t hs_retry_ns;
};

/* Counters of the generator thread (read by others without locking: statistics only). */
struct dpg_counters {
	uint64_t data_in, payload_bytes, integrity_in;
	uint64_t dgrams_out, requests_out, acks_out;
	uint64_t handshakes_out, handshakes_ok, closes_out, downloads_done;
	uint64_t verified, verify_failed, verify_unverifiable, csum_bad;
	uint64_t stale, malformed, other_msgs, stalls;
};

/* Output: one PPSPP datagram (channel ID first) for client ci. */
typedef int (*dpg_send_fn)(void *ctx, unsigned ci, const uint8_t *dgram, size_t len);

struct dpg;

struct dpg *dpg_create(const struct dpg_config *cfg, dpg_send_fn send, void *send_ctx);
void dpg_destroy(struct dpg *g);
/* Which latency group (cacher worker) client ci's flow belongs to; default 0. */
void dpg_set_group(struct dpg *g, unsigned ci, unsigned group);
/* One datagram received for the clients. The PPSPP bytes may come in two pieces (a header
 * buffer and its continuation, e.g. an mbuf chain); tail may be NULL. With a tail function
 * set, tail is a handle that function turns into the bytes, called only for the sampled DATA
 * whose payload is verified: the clients read no more of a frame than a NIC's DMA would
 * (the header bytes), not the payload segment's mbuf, which the cacher's core would then have
 * to take back when it frees it. */
typedef const uint8_t *(*dpg_tail_fn)(const void *tail);
void dpg_set_tail_fn(struct dpg *g, dpg_tail_fn fn);
void dpg_input(struct dpg *g, const uint8_t *p, size_t len, const void *tail, size_t tail_len,
	       uint64_t now_ns);
/* A datagram of len bytes whose first piece's length is not known (a NIC stand-in that reads
 * no mbuf field, only the frame): the messages are read within the first `room` bytes, and a
 * DATA's payload is taken to be all in the tail (the piece ends with the DATA message's
 * header, as a zero-copy sender builds it). For a sampled DATA, head_fn (set with the tail
 * function) gives the real length of the first piece, and a mismatch counts as a failed
 * verification. False when the datagram is not one of those (nothing was done with it). */
typedef size_t (*dpg_head_fn)(const void *tail);
void dpg_set_head_fn(struct dpg *g, dpg_head_fn fn);
bool dpg_input_chained(struct dpg *g, const uint8_t *p, size_t room, size_t len, const void *tail,
		       uint64_t now_ns);
/* ACKs and REQUESTs for what arrived, handshakes, timers. Call after every input burst. */
void dpg_tick(struct dpg *g, uint64_t now_ns);
/* Sends closing handshakes on every open channel (the end of a run). */
void dpg_close_all(struct dpg *g, uint64_t now_ns);
/* Starts or stops requesting (stopped clients still ACK what arrives). */
void dpg_set_running(struct dpg *g, bool running);

const struct dpg_counters *dpg_counters(const struct dpg *g);
const struct dpg_hist *dpg_latency(const struct dpg *g, unsigned group);
unsigned dpg_established(const struct dpg *g);

/* ---- deterministic bench content ---------------------------------------------------------- */

/* Fills buf with content derived from seed (both processes of a two-process set-up build the
 * same swarm from it). */
void dp_content_fill(uint8_t *buf, size_t len, uint64_t seed);

/* bench modes */
int bench_dp_main(int argc, char **argv);
int bench_dp_kernel_main(int argc, char **argv);

#endif
