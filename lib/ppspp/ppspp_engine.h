/* RFC 7574 §3, §8: the PPSPP protocol engine — channels, handshakes, chunk exchange, integrity
 * checking, LEDBAT (RFC 6817) on the sending side. Part of ppspp.h; include that.
 *
 * Pure: datagrams and a clock go in (ppspp_engine_input, ppspp_engine_run), datagrams and events
 * come out through callbacks. No sockets, no threads, no DPDK. One engine instance is owned by
 * one thread (a kernel-socket program, or one DPDK worker lcore); nothing here locks.
 *
 * Memory: every channel and its queues are allocated at ppspp_engine_create (a fixed-capacity
 * table sized by the config); per-swarm chunk bitmaps are allocated once, when the content size
 * becomes known. Nothing is allocated per datagram or per chunk. */
#ifndef PPSPP_ENGINE_H
#define PPSPP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppspp_codec.h"
#include "ppspp_merkle.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A peer's transport address without socket types: family 4 or 6, the address in network byte
 * order (4 bytes used for IPv4), the UDP port in host byte order. */
#define PPSPP_AF_INET4 4
#define PPSPP_AF_INET6 6
struct ppspp_peer_addr {
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
};
bool ppspp_peer_addr_equal(const struct ppspp_peer_addr *a, const struct ppspp_peer_addr *b);
/* "1.2.3.4:5" or "[::1]:5" into out; returns out. */
const char *ppspp_peer_addr_format(const struct ppspp_peer_addr *a, char *out, size_t size);

/* Datagram output. `hdr` (engine scratch memory, valid only during the call) holds the channel
 * ID and every message; when `payload` is not NULL it is the DATA payload that follows the header
 * on the wire, still owned by storage: kernel senders chain it as a second iovec, a DPDK sender
 * attaches it as an external buffer and takes its own reference on `payload_ref` (the value the
 * storage's get_chunk returned) before returning, since the engine releases its reference right
 * after send returns. Return 0, or a negative errno (counted as a send error; the datagram is
 * then treated as lost). */
/* One datagram of a batch (ppspp_io.send_batch): hdr_len bytes, then the payload if any. */
struct ppspp_dgram {
	const uint8_t *hdr;
	uint32_t hdr_len;
	uint32_t payload_len;
	const void *payload;
	void *payload_ref;
};

/* send: one datagram. send_batch (optional): the DATA a channel sends in one run, with any
 * INTEGRITY-only datagrams among them, in order, all to `to`; returns how many were sent (the
 * rest count as send errors: lost datagrams the peer asks for again) or a negative errno for
 * none. The bytes and payloads stay valid only during the call, as with send. */
struct ppspp_io {
	void *ctx;
	int (*send)(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hdr_len,
		    const void *payload, size_t payload_len, void *payload_ref);
	int (*send_batch)(void *ctx, const struct ppspp_peer_addr *to, const struct ppspp_dgram *d,
			  unsigned n);
};

/* Chunk storage of one swarm.
 * get_chunk: the chunk's bytes (pointer, length) and a reference released with release() after
 *   the send; -EAGAIN when the chunk is not here yet (a cache miss: the engine keeps the request
 *   pending until ppspp_engine_chunk_ready), any other negative errno when it will not be.
 * put_chunk: a chunk that passed Merkle verification; the storage copies it. A negative errno
 *   (e.g. -ENOSPC) is reported through the error event.
 * prepare: optional; called once when the chunk count becomes known (before the first put), so
 *   a file backend can reserve its space; a negative errno is reported through the error event.
 * NULL callbacks: no get_chunk means the swarm never uploads, no put_chunk means it never
 * keeps what it downloads. */
struct ppspp_chunk_ref {
	const void *data;
	size_t len;
	void *ref;
};

/* get_chunks (optional, for a sender serving runs of chunks): up to n chunks from first, as n
 * calls of get_chunk would give them; returns how many in a row were there (0..n), and when
 * fewer than n, *stop is what get_chunk would have returned for the next one (-EAGAIN: a miss
 * being fetched). Lets the storage overlap its lookups (e.g. prefetch a run's index lines). */
struct ppspp_storage {
	void *ctx;
	int (*get_chunk)(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref);
	int (*get_chunks)(void *ctx, uint64_t first, unsigned n, struct ppspp_chunk_ref *out,
			  int *stop);
	void (*release)(void *ctx, void *ref);
	int (*put_chunk)(void *ctx, uint64_t chunk, const void *data, size_t len);
	int (*prepare)(void *ctx, uint64_t chunk_count, uint32_t chunk_size);
};

enum ppspp_peer_end {
	PPSPP_PEER_TIMEOUT = 1, /* §3.12: silent for dead_us with datagrams sent to it */
	PPSPP_PEER_NO_ANSWER,	/* handshake never answered, core-option retry included */
	PPSPP_PEER_CLOSED,	/* it sent a closing HANDSHAKE (§8.4) */
	PPSPP_PEER_POISONED,	/* too many chunks that failed verification */
	PPSPP_PEER_REFUSED,	/* its handshake reply failed our checks */
	PPSPP_PEER_LOCAL_CLOSE, /* ppspp_engine_close */
};
const char *ppspp_peer_end_name(int reason);

/* Events, called from inside ppspp_engine_input / ppspp_engine_run. Any may be NULL. */
struct ppspp_engine_events {
	void *ctx;
	void (*peer_up)(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *peer);
	void (*peer_end)(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *peer,
			 int reason);
	void (*chunk_verified)(void *ctx, int swarm, uint64_t chunk, int channel);
	void (*chunk_rejected)(void *ctx, int swarm, uint64_t chunk, int channel);
	void (*complete)(void *ctx, int swarm);
	/* Storage failure (put_chunk/prepare); the swarm stops downloading. */
	void (*error)(void *ctx, int swarm, int negative_errno);
	/* A peer learnt from PEX_RESv4/v6; the owner decides whether to connect. */
	void (*pex_peer)(void *ctx, int swarm, const struct ppspp_peer_addr *peer);
	/* §3.1.1: a handshake named a swarm this engine is not in. It gets no answer (as the RFC
	 * says); a pull-through cacher adds the swarm here and the initiator's handshake retry then
	 * succeeds. opts (swarm ID, hash function, chunk size, cam) is valid during the call. */
	void (*unknown_swarm)(void *ctx, const struct ppspp_peer_addr *peer,
			      const struct ppspp_options *opts);
};

struct ppspp_engine_config {
	uint32_t max_channels; /* channel table size (default 64) */
	uint32_t max_swarms;   /* default 8 */
	uint32_t max_requests; /* REQUESTs in flight per channel, power of two (default 1024) */
	uint32_t max_inflight; /* DATA in flight per channel, power of two (default 4096) */
	uint32_t max_datagram; /* bytes of UDP payload (default 1472) */
	uint32_t send_burst;   /* DATA datagrams per channel per run (default 64) */
	uint64_t handshake_retry_us; /* resend an unanswered handshake (default 500 ms) */
	uint32_t handshake_tries;    /* per option set before the core-option retry (default 3) */
	uint64_t keepalive_us;	     /* §3.12 keep-alive when idle (default 10 s) */
	uint64_t dead_us;	     /* §3.12 dead after this much silence (default 180 s) */
	uint64_t min_request_timeout_us; /* floor of the re-request timer (default 50 ms) */
	uint32_t poison_limit;		 /* rejected chunks before a peer is dropped (default 3) */
	bool pex;			 /* send PEX_REQ to every new peer */
	/* Send a burst's INTEGRITY in datagrams of their own ahead of its DATA (§5.4), so every
	 * DATA datagram has the same size and a kernel sender can use UDP segmentation offload.
	 * Off: each DATA datagram carries its own hashes (§5.3 atomic datagrams). */
	bool integrity_apart;
	/* Added to now_us in DATA timestamps: a wall-clock offset makes one-way delay samples
	 * comparable between hosts. */
	int64_t timestamp_offset_us;
};
void ppspp_engine_config_defaults(struct ppspp_engine_config *cfg);

/* Counters (one engine = one thread: plain integers). Readers sum them across workers. */
struct ppspp_engine_counters {
	uint64_t dgrams_in, dgrams_out, bytes_in, bytes_out;
	uint64_t msgs_in[PPSPP_MSG_TYPE_MAX + 1];
	uint64_t msgs_out[PPSPP_MSG_TYPE_MAX + 1];
	uint64_t malformed[PPSPP_ERR_DECODE_MAX]; /* indexed by enum ppspp_decode_error */
	uint64_t malformed_total;
	uint64_t unknown_channel;     /* no such channel, or the wrong source address */
	uint64_t bad_handshakes;      /* failed §3.1.1 checks: no reply sent */
	uint64_t handshake_fallbacks; /* core-option retries */
	uint64_t table_full;	      /* handshakes refused: channel table full */
	uint64_t ignored_msgs;	      /* legal but unusable here (heavy payload too early, ...) */
	uint64_t chunks_verified;
	uint64_t chunks_rejected;     /* failed Merkle verification (poisoned) */
	uint64_t chunks_unverifiable; /* hashes missing (lost/reordered INTEGRITY); re-requested */
	uint64_t chunks_duplicate;
	uint64_t chunks_sent;
	uint64_t retransmits;	    /* DATA sent again for a re-sent REQUEST */
	uint64_t rerequests;	    /* chunks asked again after a timeout, rejection or choke */
	uint64_t requests_deferred; /* storage answered -EAGAIN */
	uint64_t send_budget_stops; /* channel runs cut short: the transport's queue was full */
	uint64_t data_lost;	    /* DATA presumed lost (later DATA acknowledged, or the CTO) */
	uint64_t tail_probes;	    /* oldest DATA resent after 2 SRTT without an ACK */
	uint64_t send_errors;
	uint64_t storage_errors;
	uint64_t peers_dead, peers_poisoned, peers_closed;
	uint64_t keepalives_out;
	uint64_t pex_peers_in;
	uint64_t unknown_swarm; /* handshakes for a swarm not here (unknown_swarm event; also
				 * counted in bad_handshakes) */
	/* the run loop's own work (not formatted): runs, runs that visited every channel, and
	 * channel visits of the timer pass */
	uint64_t runs, full_runs, chan_visits;
};

struct ppspp_engine;

/* NULL and errno on failure. cfg NULL means defaults. io->send is required. */
struct ppspp_engine *ppspp_engine_create(const struct ppspp_engine_config *cfg,
					 const struct ppspp_io *io,
					 const struct ppspp_engine_events *ev, uint64_t now_us);
void ppspp_engine_destroy(struct ppspp_engine *e);

/* A swarm (static content, Merkle integrity). The tree stays the caller's and must outlive the
 * swarm: complete for a seeder (ppspp_merkle_build_*), a verifier (ppspp_merkle_create_verifier)
 * or an imported partial tree for a downloader. The swarm ID is the root hash. cam is the
 * chunk addressing used on channels we open (any cam a peer proposes is accepted).
 * Returns the swarm index (>= 0) or a negative errno. */
int ppspp_engine_swarm_add(struct ppspp_engine *e, struct ppspp_merkle *tree, uint8_t cam,
			   const struct ppspp_storage *storage);
/* Chunks verified so far and the chunk count (0 while unknown). */
void ppspp_engine_swarm_progress(const struct ppspp_engine *e, int swarm, uint64_t *verified,
				 uint64_t *count);
bool ppspp_engine_swarm_complete(const struct ppspp_engine *e, int swarm);

/* Opens a channel to a peer (§3.1.1 step 1). Returns the channel index or a negative errno. */
int ppspp_engine_connect(struct ppspp_engine *e, int swarm, const struct ppspp_peer_addr *peer,
			 uint64_t now_us);
/* Sends a closing HANDSHAKE (§3.1.1 step 8) and frees the channel. */
int ppspp_engine_close(struct ppspp_engine *e, int channel, uint64_t now_us);
/* Chokes or unchokes a peer (§3.9): a choked peer's queued requests are discarded. */
int ppspp_engine_choke(struct ppspp_engine *e, int channel, bool choke, uint64_t now_us);

/* One received datagram. Never fails on bad input (it is counted); returns 0. */
int ppspp_engine_input(struct ppspp_engine *e, const struct ppspp_peer_addr *from,
		       const uint8_t *buf, size_t len, uint64_t now_us);
/* Timers and sending: handshake retries, keep-alives, dead peers, re-requests, REQUEST/ACK/HAVE
 * batches, DATA within each channel's LEDBAT window. Call after every batch of input and when
 * the returned time (absolute, us) is reached; it returns now_us when it has more to send. */
uint64_t ppspp_engine_run(struct ppspp_engine *e, uint64_t now_us);

/* The owner's answer to a get_chunk that returned -EAGAIN: the chunk is now available (the
 * pending requests are served on the next run) or will not be (they are dropped; the peers
 * re-request elsewhere). */
void ppspp_engine_chunk_ready(struct ppspp_engine *e, int swarm, uint64_t chunk, bool available);

const struct ppspp_engine_counters *ppspp_engine_counters(const struct ppspp_engine *e);
/* Back-pressure from the transport: the engine hands over at most `datagrams` more (every
 * datagram counts; DATA stops when none are left, and the channels carry on at a later run with
 * their requests kept). It holds until set again: a sender on a bounded queue sets it before
 * each ppspp_engine_run and ppspp_engine_input; UINT32_MAX lifts it (the default). */
void ppspp_engine_set_send_budget(struct ppspp_engine *e, uint32_t datagrams);

/* ---- pull-through serving and fetching (pull.c) -------------------------------------------- *
 * A cacher serves swarms it has only in part: its workers announce every chunk and fetch what
 * storage lacks (get_chunk -EAGAIN, then ppspp_engine_chunk_ready); its upstream client fetches
 * the chunks asked for first, and the rest only when told to. */
/* Announces and serves every chunk of the swarm (its count must be known): HAVE covers the whole
 * content, REQUESTs go to get_chunk, nothing is downloaded. -EINVAL unknown swarm, -EAGAIN
 * count unknown. */
int ppspp_engine_swarm_serve_all(struct ppspp_engine *e, int swarm);
/* Asks for chunks first..last before any other (a cache miss). Chunks already held are fetched
 * again (the storage may have dropped them: a cache evicts). Up to 32 disjoint ranges are
 * remembered; when full the smallest is forgotten (the owner asks again after its timeout).
 * -EINVAL unknown swarm or range, -EAGAIN count unknown. */
int ppspp_engine_swarm_want(struct ppspp_engine *e, int swarm, uint64_t first, uint64_t last);
/* only: request nothing but wanted chunks (the default picks in order over the whole swarm). */
int ppspp_engine_swarm_wanted_only(struct ppspp_engine *e, int swarm, bool only);

/* Per-channel view for tools and tests; -ENOENT for a free slot. */
struct ppspp_channel_info {
	int swarm;
	struct ppspp_peer_addr peer;
	bool established;
	bool choked_by_peer;
	bool core_options_only;
	uint32_t local_id, remote_id;
	uint64_t chunks_received; /* verified chunks that came from this peer */
	uint64_t chunks_sent;
	uint64_t rejected;
	uint32_t requests_out;
	double cwnd_bytes;
	uint64_t flight_bytes;	  /* DATA sent, not acknowledged or presumed lost */
	uint32_t queued_requests; /* its REQUEST ranges not yet served */
};
int ppspp_engine_channel_info(const struct ppspp_engine *e, int channel,
			      struct ppspp_channel_info *out);
uint32_t ppspp_engine_max_channels(const struct ppspp_engine *e);

/* Writes the counters as "name value" lines (non-zero ones, plus the datagram totals) into
 * out; returns the length (truncated to size like snprintf). */
int ppspp_engine_counters_format(const struct ppspp_engine_counters *c, char *out, size_t size);

/* ---- file-backed storage (storage.c) ------------------------------------------------------- *
 * For the kernel-socket programs. A seeder's file is memory-mapped, so a DATA payload is a
 * pointer into the page cache (sendmsg's second iovec). A download reserves the whole file at
 * prepare (posix_fallocate: a full disk is reported there as -ENOSPC) and gathers contiguous
 * verified chunks into one pwrite of up to 256 KiB: no system call per chunk. */
struct ppspp_file_store;
/* A seeder's file, read-only. NULL and errno on failure. */
struct ppspp_file_store *ppspp_file_store_open_read(const char *path, uint32_t chunk_size);
/* A download target (created if missing, kept if present: resuming). */
struct ppspp_file_store *ppspp_file_store_open_write(const char *path, uint32_t chunk_size);
uint64_t ppspp_file_store_size(const struct ppspp_file_store *fs);
int ppspp_file_store_fd(const struct ppspp_file_store *fs);
/* The storage callbacks for ppspp_engine_swarm_add. */
void ppspp_file_store_storage(struct ppspp_file_store *fs, struct ppspp_storage *out);
/* Writes the gathered chunks out (before saving resume state that counts them). */
int ppspp_file_store_flush(struct ppspp_file_store *fs);
/* Download complete: flushes, cuts the file to the exact content size and fsyncs it. */
int ppspp_file_store_finish(struct ppspp_file_store *fs, uint64_t content_size);
void ppspp_file_store_close(struct ppspp_file_store *fs);

#ifdef __cplusplus
}
#endif

#endif
