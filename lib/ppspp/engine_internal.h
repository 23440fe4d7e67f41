/* Private to lib/ppspp's engine files (engine.c, channel.c, swarm.c, picker.c, binmap.c). */
#ifndef PPSPP_ENGINE_INTERNAL_H
#define PPSPP_ENGINE_INTERNAL_H

#include "pcdn_common.h"
#include "ppspp.h"

/* ---- chunk sets (binmap.c) ------------------------------------------------------------------ */

/* A small sorted set of disjoint, non-adjacent inclusive chunk intervals. When full, the smallest
 * interval is forgotten: callers use it only where knowing less is safe (a peer's HAVEs: we
 * request less from it; chunks a peer acknowledged: we send more uncle hashes). */
#define PPSPP_IVSET_CAP 32
struct ppspp_ivset {
	uint32_t n;
	struct {
		uint64_t a, b;
	} iv[PPSPP_IVSET_CAP];
};
void ppspp_ivset_clear(struct ppspp_ivset *s);
void ppspp_ivset_add_slow(struct ppspp_ivset *s, uint64_t a, uint64_t b);
/* Per DATA sent and per ACK: the common cases (growing or appending after the newest interval,
 * a peer or a sender going in order) stay inline. */
static inline void ppspp_ivset_add(struct ppspp_ivset *s, uint64_t a, uint64_t b)
{
	if (s->n > 0 && b >= a) {
		uint64_t la = s->iv[s->n - 1].a, lb = s->iv[s->n - 1].b;
		/* starts inside the newest interval or just after it: only that one grows */
		if (a >= la && lb != UINT64_MAX && a <= lb + 1) {
			if (b > lb)
				s->iv[s->n - 1].b = b;
			return;
		}
		if (lb != UINT64_MAX && a > lb + 1 && s->n < PPSPP_IVSET_CAP) {
			s->iv[s->n].a = a;
			s->iv[s->n].b = b;
			s->n++;
			return;
		}
	}
	ppspp_ivset_add_slow(s, a, b);
}
static inline bool ppspp_ivset_contains(const struct ppspp_ivset *s, uint64_t c)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (c < s->iv[i].a)
			return false;
		if (c <= s->iv[i].b)
			return true;
	}
	return false;
}
static inline bool ppspp_ivset_intersects(const struct ppspp_ivset *s, uint64_t a, uint64_t b)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->iv[i].a > b)
			return false;
		if (s->iv[i].b >= a)
			return true;
	}
	return false;
}
/* Largest member, false when empty. */
static inline bool ppspp_ivset_last(const struct ppspp_ivset *s, uint64_t *b)
{
	if (!s->n)
		return false;
	*b = s->iv[s->n - 1].b;
	return true;
}
/* Smallest member >= c, or UINT64_MAX. */
uint64_t ppspp_ivset_next(const struct ppspp_ivset *s, uint64_t c);

/* A flat bitmap over chunk numbers. */
struct ppspp_bitmap {
	uint64_t *w;
	uint64_t nbits;
};
int ppspp_bitmap_alloc(struct ppspp_bitmap *b, uint64_t nbits);
void ppspp_bitmap_free(struct ppspp_bitmap *b);
static inline bool ppspp_bitmap_get(const struct ppspp_bitmap *b, uint64_t i)
{
	return (b->w[i >> 6] >> (i & 63)) & 1;
}
static inline void ppspp_bitmap_set(struct ppspp_bitmap *b, uint64_t i)
{
	b->w[i >> 6] |= 1ull << (i & 63);
}
static inline void ppspp_bitmap_clr(struct ppspp_bitmap *b, uint64_t i)
{
	b->w[i >> 6] &= ~(1ull << (i & 63));
}
/* First clear bit >= i, or nbits. */
uint64_t ppspp_bitmap_next_clear(const struct ppspp_bitmap *b, uint64_t i);
/* Extent of the run of set bits containing i (i must be set). */
/* floor: every bit below it is known set (stops the backward scan early). */
uint64_t ppspp_bitmap_run_start(const struct ppspp_bitmap *b, uint64_t i, uint64_t floor);
uint64_t ppspp_bitmap_run_end(const struct ppspp_bitmap *b, uint64_t i);

/* A set of channel slots as a two-level bitmap: visiting its members in index order costs the
 * members plus one summary word per 4096 slots, so the run loop's work follows the channels
 * that have something to do, not the table size. */
struct ppspp_chanset {
	uint64_t *w;   /* one bit per channel slot */
	uint64_t *sum; /* one bit per nonzero-able word of w */
	uint32_t nw;   /* words in w */
};
int ppspp_chanset_alloc(struct ppspp_chanset *s, uint32_t nbits);
void ppspp_chanset_free(struct ppspp_chanset *s);
void ppspp_chanset_clear(struct ppspp_chanset *s);
/* s |= o (same size) */
void ppspp_chanset_or(struct ppspp_chanset *s, const struct ppspp_chanset *o);
/* Smallest member >= i, or UINT32_MAX. */
uint32_t ppspp_chanset_next(const struct ppspp_chanset *s, uint32_t i);
static inline void ppspp_chanset_add(struct ppspp_chanset *s, uint32_t i)
{
	s->w[i >> 6] |= 1ull << (i & 63);
	s->sum[i >> 12] |= 1ull << ((i >> 6) & 63);
}
static inline bool ppspp_chanset_has(const struct ppspp_chanset *s, uint32_t i)
{
	return (s->w[i >> 6] >> (i & 63)) & 1;
}
static inline void ppspp_chanset_del(struct ppspp_chanset *s, uint32_t i)
{
	s->w[i >> 6] &= ~(1ull << (i & 63));
	if (!s->w[i >> 6])
		s->sum[i >> 12] &= ~(1ull << ((i >> 6) & 63));
}

/* ---- swarms (swarm.c) ----------------------------------------------------------------------- */

struct ppspp_swarm {
	bool used;
	bool failed; /* storage error: no more downloading */
	bool complete_sent;
	bool empty; /* root hash all zeros: zero-length content */
	struct ppspp_merkle *tree;
	struct ppspp_storage st;
	uint8_t cam;
	uint8_t hash_fn;
	uint8_t hash_len;
	uint32_t chunk_size;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	uint64_t count;	   /* chunks, 0 until known */
	uint64_t verified; /* verified chunks */
	/* Allocated when count becomes known (once per swarm). */
	struct ppspp_bitmap have;    /* verified here */
	struct ppspp_bitmap taken;   /* verified, or requested from some channel */
	struct ppspp_bitmap retried; /* requested more than once */
	uint16_t *owner;	     /* channel index + 1 a chunk is requested from; 0 = none */
	uint32_t *req_pos;	     /* the owner's request ring position for the chunk */
	uint64_t cursor;	     /* every chunk below is taken */
	uint64_t prefix;	     /* every chunk below is verified */
	/* Chunks verified since the last run: announced with HAVE/ACK then. */
	struct ppspp_ivset fresh;
	/* pull.c: chunks asked for first; want_only: nothing else is requested */
	struct ppspp_ivset want;
	bool want_only;
	/* ppspp_engine_run: the channel slots of this swarm, and whether every one of them must
	 * run its picker (chunks went back to the pool, wanted chunks or the count changed) */
	struct ppspp_chanset members;
	bool repick;
};

int ppspp_swarm_learn_count(struct ppspp_engine *e, int si);
void ppspp_swarm_free(struct ppspp_swarm *s);

/* ---- channels (channel.c) ------------------------------------------------------------------- */

enum ppspp_chan_state {
	CH_FREE = 0,
	CH_HS_SENT,    /* initiator: handshake sent, no reply yet */
	CH_HS_REPLIED, /* responder: reply sent, waiting for a datagram on our channel ID */
	CH_ESTABLISHED,
};

struct ppspp_req { /* a REQUEST we sent */
	uint64_t chunk;
	uint64_t sent_us;
	bool retry; /* the chunk was asked before: no RTT sample from it (Karn) */
};
struct ppspp_flight { /* a DATA we sent */
	uint64_t chunk;
	uint64_t sent_us;
	uint32_t bytes;
	uint32_t acked;
};
struct ppspp_range {
	uint64_t a, b;
};
struct ppspp_pending { /* a chunk of a burst being sent with its hashes apart */
	uint64_t chunk;
	const void *data;
	size_t len;
	void *ref;
	bool retransmit;
};

#define PPSPP_RQ_CAP	    1024 /* queued peer REQUEST ranges (sender side) */
#define PPSPP_MAX_HASHES    128 /* INTEGRITY hashes kept for the next DATA */
#define PPSPP_REJECT_MEMORY 8
#define PPSPP_ACK_CAP	    16

struct ppspp_channel {
	uint8_t state;
	bool initiator;
	bool core_only;	     /* our handshake carries only the core options */
	bool choked_by_peer; /* §3.9: no REQUESTs to it */
	bool choking_peer;   /* we ignore its REQUESTs */
	bool send_unchoke, send_choke;
	bool peer_knows_peaks; /* it acknowledged a chunk, or we sent the peaks (not retransmit) */
	bool pex_wanted;       /* we owe it a PEX_REQ */
	bool pex_owed;	       /* it asked us for peers */
	bool first_req_out;    /* count unknown: first chunk requested */
	bool must_speak;       /* initiator: the third datagram of the handshake is owed */
	int swarm;
	uint32_t local_id, remote_id;
	struct ppspp_peer_addr peer;
	struct ppspp_codec_ctx ctx;
	uint64_t created_us, last_recv_us, last_send_us, hs_sent_us;
	uint32_t hs_tries;
	uint32_t sent_since_recv;
	uint32_t rejected;
	uint64_t reject_memory[PPSPP_REJECT_MEMORY];
	uint32_t reject_next;
	uint64_t chunks_received, chunks_sent;

	/* downloading from this peer */
	struct ppspp_ivset peer_have; /* its HAVEs and ACKs */
	struct ppspp_req *req;	      /* ring, e->cfg.max_requests */
	uint32_t req_head, req_tail;
	uint32_t n_out;	 /* requests still owned by this channel */
	uint32_t hi_pos; /* newest ring position answered */
	uint32_t window;
	uint64_t srtt_us, rttvar_us, min_rtt_us;
	uint64_t rate_start_us, rate_count;
	double rate_cps;
	struct ppspp_range new_reqs[PPSPP_ACK_CAP]; /* REQUEST ranges to send this run */
	uint32_t n_new_reqs;
	struct ppspp_range cancels[PPSPP_ACK_CAP];
	uint32_t n_cancels;
	struct ppspp_ivset ack_new; /* chunks it sent us, to ACK this run */
	uint64_t ack_delay_us;
	struct ppspp_hash_node *hashes; /* INTEGRITY seen in earlier datagrams (atomic split) */
	uint32_t n_hashes;
	bool hashes_used; /* a DATA used them: the next INTEGRITY-only datagram replaces them */

	/* uploading to this peer */
	struct ppspp_ivset sent; /* chunks sent (optimistic uncle skipping, §5.3) */
	struct ppspp_range rq[PPSPP_RQ_CAP];
	uint32_t rq_head, rq_n;
	uint64_t rq_max_b; /* no queued range ends above (may be stale high) */
	bool waiting; /* storage said -EAGAIN for rq head */
	bool ready;   /* ppspp_engine_chunk_ready arrived */
	bool gone;    /* ... with "not available" */
	uint64_t wait_chunk;
	struct ppspp_ledbat ledbat;
	bool slow_start;
	uint64_t last_loss_us;              /* last DATA presumed lost (0: never) */
	uint64_t last_probe_us;             /* last tail-loss probe */
	struct ppspp_flight *fl; /* ring, e->cfg.max_inflight */
	uint32_t fl_head, fl_tail;
	uint32_t fl_sorted_from;   /* chunks increase along the ring from this position on */
	uint32_t *fl_index;	   /* chunk & mask -> ring position */
	uint64_t fl_acked_sent_us; /* send time of the newest DATA acknowledged */
};

/* The datagrams one channel's send run queues for io.send_batch: headers written in place in
 * an arena (each datagram's writer gets max_datagram bytes, keeps what it used rounded to a cache
 * line), payload references released after the batch is handed over. */
#define PPSPP_BATCH_LOOKUP 32 /* chunks looked up at once (storage get_chunks) */
struct ppspp_tx_batch {
	int ci; /* the channel batching, -1: none (emit sends at once) */
	unsigned n, cap;
	struct ppspp_dgram *d;
	uint8_t *arena;
	size_t used, arena_cap;
	/* chunks looked up ahead for the channel's head range */
	struct ppspp_chunk_ref look[PPSPP_BATCH_LOOKUP];
	uint64_t look_first;
	unsigned look_n, look_next;
	int look_stop; /* status of chunk look_first + look_n when look_n < asked */
	bool took_ref; /* the last emit queued a payload: the flush releases its reference */
};

struct ppspp_engine {
	struct ppspp_engine_config cfg;
	uint32_t ch_hwm; /* channel slots at or above are free */
	struct ppspp_io io;
	struct ppspp_engine_events ev;
	struct ppspp_engine_counters ctr;
	struct ppspp_swarm *swarms;
	struct ppspp_channel *ch;
	uint32_t *id_table; /* open addressing: local channel ID -> index + 1 */
	uint32_t id_mask;
	uint64_t now;
	bool busy;    /* run had more to send */
	uint8_t *buf; /* scratch datagram */
	uint32_t buf_cap;
	struct ppspp_hash_node *scratch_nodes; /* 2 * PPSPP_MAX_HASHES, for sending */
	struct ppspp_hash_node *in_nodes;      /* 3 * PPSPP_MAX_HASHES, for receiving */
	struct ppspp_pending *pending;	       /* cfg.send_burst */
	struct ppspp_tx_batch tx;	       /* io.send_batch */
	/* ppspp_engine_run visits the channels in `dirty` (input arrived, a chunk became ready,
	 * sending stopped at the burst limit, ...) at once, and every channel only when the
	 * earliest timer may be due (next_full_us) */
	struct ppspp_chanset dirty, run;
	struct ppspp_chanset waiters; /* channels that may be waiting for chunk_ready */
	uint64_t next_full_us;
	/* datagrams the transport can take before its queue overflows (ppspp_engine_set_send_
	 * budget; UINT64_MAX: no limit): every datagram handed over takes one, DATA stops at 0 */
	uint64_t send_budget;
	bool ref_paths; /* tests only: the general code where a fast path exists (on_ack, the
			 * uncle count), to compare their results */
	bool no_fast_send; /* tests only: every chunk through send_chunk, not send_run */
	uint64_t fast_chunks; /* chunks send_run sent (tests: the fast path was taken) */
};

/* The channel has something to do at the next ppspp_engine_run. */
static inline void ppspp_chan_mark(struct ppspp_engine *e, int ci)
{
	ppspp_chanset_add(&e->dirty, (uint32_t)ci);
}
/* A timer of some channel is due at t: the next run visits every channel then. */
static inline void ppspp_engine_timer_at(struct ppspp_engine *e, uint64_t t)
{
	if (t < e->next_full_us)
		e->next_full_us = t;
}

/* channel.c */
int ppspp_chan_alloc(struct ppspp_engine *e, int swarm, const struct ppspp_peer_addr *peer,
		     bool initiator);
void ppspp_chan_free(struct ppspp_engine *e, int ci);
int ppspp_chan_lookup(const struct ppspp_engine *e, uint32_t local_id);
void ppspp_chan_end(struct ppspp_engine *e, int ci, int reason, bool send_close);
int ppspp_chan_send_handshake(struct ppspp_engine *e, int ci, bool with_extra);
int ppspp_chan_emit(struct ppspp_engine *e, int ci, const uint8_t *hdr, size_t len,
		    const void *payload, size_t plen, void *ref);
void ppspp_chan_drop_requests(struct ppspp_engine *e, int ci);
void ppspp_chan_handle_msg(struct ppspp_engine *e, int ci, const struct ppspp_msg *m,
			   struct ppspp_hash_node *hashes, int *n_hashes);
void ppspp_chan_input_data(struct ppspp_engine *e, int ci, const struct ppspp_msg *m,
			   struct ppspp_hash_node *hashes, int n_hashes, uint64_t now);
void ppspp_chan_send_data(struct ppspp_engine *e, int ci);
void ppspp_chan_flush_control(struct ppspp_engine *e, int ci);
void ppspp_chan_timers(struct ppspp_engine *e, int ci);
uint64_t ppspp_chan_deadline(const struct ppspp_engine *e, int ci);
void ppspp_chan_options(const struct ppspp_engine *e, int ci, bool with_extra,
			struct ppspp_options *o);

/* picker.c */
void ppspp_picker_fill(struct ppspp_engine *e, int ci);
void ppspp_picker_release(struct ppspp_engine *e, int si, uint64_t chunk);
void ppspp_picker_on_verified(struct ppspp_engine *e, int si, uint64_t chunk, int from_ci);
/* Requests the swarm's wanted chunks (pull.c) on channel ci first; false when nothing else may
 * be picked (wanted-only swarm, or the channel's window is full). */
bool ppspp_picker_wanted(struct ppspp_engine *e, int ci);

/* engine.c */
void ppspp_engine_count_out(struct ppspp_engine *e, const uint8_t *buf, size_t len);

#endif
