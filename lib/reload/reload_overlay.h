/* Part header of lib/reload: the overlay machinery on top of the codec in reload.h — CHORD-RELOAD
 * topology (RFC 6940 §10), the storage service (§7, §10.4), end-to-end transactions (§6.2) and
 * the node that ties links, routing, topology and storage together on a libevent loop. */
#ifndef RELOAD_OVERLAY_H
#define RELOAD_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reload.h"
#include "reload_link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CHORD-RELOAD topology (§10): pure state, no I/O ------------------------------------- */

#define RELOAD_CHORD_MAX_NEIGHBORS 16
#define RELOAD_CHORD_MAX_FINGERS 128

struct reload_chord {
	struct reload_node_id self;
	unsigned id_len;
	unsigned neighbor_target; /* predecessors and successors kept, each side (>= 3) */
	unsigned finger_count;	  /* 16 by default (§10.7.4.3) */
	struct reload_node_id preds[RELOAD_CHORD_MAX_NEIGHBORS]; /* nearest first */
	size_t npred;
	struct reload_node_id succs[RELOAD_CHORD_MAX_NEIGHBORS]; /* nearest first */
	size_t nsucc;
	struct reload_node_id fingers[RELOAD_CHORD_MAX_FINGERS]; /* index i-1 for entry i */
	bool finger_set[RELOAD_CHORD_MAX_FINGERS];
	/* §10.7.4.2 allows several peers per finger range: a second one for the upper half of
	 * range i ([self + 3 * 2^(bits-i-1), self + 2^(bits-i+1) - 1]) halves the last step */
	struct reload_node_id fingers_hi[RELOAD_CHORD_MAX_FINGERS];
	bool finger_hi_set[RELOAD_CHORD_MAX_FINGERS];
};

/* Bits of the change mask returned by add/remove. */
#define RELOAD_CHORD_NEIGHBORS_CHANGED 1u
#define RELOAD_CHORD_RANGE_CHANGED 2u	/* first predecessor changed: responsibility moved */
#define RELOAD_CHORD_REPLICAS_CHANGED 4u /* one of the first replica successors changed */
#define RELOAD_CHORD_FINGERS_CHANGED 8u

void reload_chord_init(struct reload_chord *c, const struct reload_node_id *self,
		       unsigned neighbor_target, unsigned finger_count);
/* x in the half-open ring interval (a, b]; (a, a] is the whole ring. */
bool reload_chord_in_range(const uint8_t *a, const uint8_t *x, const uint8_t *b, unsigned len);
/* Is this node responsible for id (§10.1: in (first predecessor, self])? */
bool reload_chord_responsible(const struct reload_chord *c, const uint8_t *id);
/* Would peer enter the neighbor table (closer than the current entries, or room left)? */
bool reload_chord_wants_neighbor(const struct reload_chord *c, const struct reload_node_id *peer);
/* Enters a connected peer into the routing table: neighbor and/or finger. Change mask. */
unsigned reload_chord_add(struct reload_chord *c, const struct reload_node_id *peer,
			  unsigned replicas);
/* Removes a peer everywhere (§10.7.1, §10.7.2). Change mask. */
unsigned reload_chord_remove(struct reload_chord *c, const struct reload_node_id *peer,
			     unsigned replicas);
bool reload_chord_contains(const struct reload_chord *c, const struct reload_node_id *peer);
bool reload_chord_is_neighbor(const struct reload_chord *c, const struct reload_node_id *peer);
/* §10.3 next hop toward id (a Node-ID or Resource-ID of id_len bytes). Returns false when no
 * routing table entry is better than this node (the table is empty). */
bool reload_chord_next_hop(const struct reload_chord *c, const uint8_t *id,
			   struct reload_node_id *out);
/* §10.5 / §10.7.4.2: start of finger i (1-based): self + 2^(bits-i); with random, a point drawn
 * uniformly in [self + 2^(bits-i), self + 2^(bits-i+1) - 1]. */
void reload_chord_finger_target(const struct reload_chord *c, unsigned i, bool random,
				struct reload_resource_id *out);
/* Is finger i valid: set and in its range (§10.7.4.2)? */
bool reload_chord_finger_valid(const struct reload_chord *c, unsigned i);
/* The same for the upper-half entry of range i, and a random point of that half. */
bool reload_chord_finger_hi_valid(const struct reload_chord *c, unsigned i);
bool reload_chord_finger_hi_target(const struct reload_chord *c, unsigned i,
				   struct reload_resource_id *out);
/* Does the neighbor table already reach past finger i's range (§10.7.4.3: the finger table
 * needs to reach the last successor, no further)? */
bool reload_chord_finger_covered(const struct reload_chord *c, unsigned i);
/* self + 1, the Resource-ID a joining node attaches to (§10.5 step 2). */
void reload_chord_id_plus_one(const struct reload_node_id *n, struct reload_resource_id *out);
/* Distinct Node-IDs of fingers in ascending order (Update "full"); returns the count. */
size_t reload_chord_finger_list(const struct reload_chord *c, struct reload_node_id *out,
				size_t max);

/* ---- the node ---------------------------------------------------------------------------- */

struct event_base;
struct reload_node;

struct reload_node_config {
	const struct reload_overlay_config *overlay; /* borrowed, must outlive the node */
	struct reload_signer *signer;		     /* borrowed */
	struct reload_trust *trust;		     /* borrowed */
	struct pcdn_addr tls_addr;  /* TLS-TCP-FH-NO-ICE listen address (port 0: any) */
	struct pcdn_addr dtls_addr; /* DTLS-UDP-SR-NO-ICE */
	bool tls_enabled, dtls_enabled;
	enum reload_overlay_link_type prefer; /* link type offered first in Attach */
	struct pcdn_addr *bootstrap; /* bootstrap peers (this node may be one of them) */
	size_t bootstrap_count;
	bool bootstrap_dtls;	     /* bootstrap addresses are DTLS (else TLS) */
	bool client;		     /* §4.2: a client attaches but does not join the ring */
	unsigned replicas;	     /* §10.4: 2 */
	unsigned neighbors;	     /* §10.7: at least 3 */
	unsigned fingers;	     /* §10.7.4.3: 16 */
	uint32_t update_interval_ms;	/* chord-update-interval */
	uint32_t ping_interval_ms;	/* chord-ping-interval (finger refresh) */
	uint32_t holddown_ms;	     /* §10.7.1 successor replacement hold-down: 30 s */
	uint32_t reliability_timer_ms; /* overlay-reliability-timer */
	uint32_t sr_initial_rto_ms;  /* §6.6.3.1 static initial RTO */
};
void reload_node_config_default(struct reload_node_config *c);

struct reload_node *reload_node_new(struct event_base *base, const struct reload_node_config *cfg);
void reload_node_free(struct reload_node *n);
/* Starts joining (or, for the first peer with no bootstrap reachable, forms the ring). */
int reload_node_start(struct reload_node *n);
/* §10.9: sends Leave to the neighbors; done(arg) runs when they answered or timed out. */
int reload_node_leave(struct reload_node *n, void (*done)(void *arg), void *arg);
bool reload_node_joined(const struct reload_node *n);
const struct reload_node_id *reload_node_id(const struct reload_node *n);
const struct reload_chord *reload_node_chord(const struct reload_node *n);
/* The address a link type listens on (0 or -ENOENT when that type is off). */
int reload_node_link_addr(const struct reload_node *n, enum reload_overlay_link_type t,
			  struct pcdn_addr *out);

/* Result of a Store or Fetch issued by this node. */
struct reload_node_result {
	int status;	     /* 0, or negative errno (mapped RFC error for Error responses) */
	uint16_t error_code; /* RFC error code when the peer answered with an Error */
	char error_info[128];
	unsigned hops;	     /* overlay hops of the answer (0: answered locally) */
	uint64_t latency_us;
	struct reload_node_id responder;
	struct reload_fetch_ans fetch; /* Fetch: values (valid during the callback only) */
	struct reload_store_ans store;
};
typedef void (*reload_node_result_cb)(const struct reload_node_result *r, void *arg);

/* Stores one value of kind at res, signed by this node; model fields as in v (exists = true),
 * lifetime in seconds. */
int reload_node_store(struct reload_node *n, const struct reload_resource_id *res, uint32_t kind,
		      const struct reload_stored_data_value *v, uint32_t lifetime,
		      reload_node_result_cb cb, void *arg);
/* Fetches kind at res: all values (ARRAY: all indices, DICTIONARY: wildcard). */
int reload_node_fetch(struct reload_node *n, const struct reload_resource_id *res, uint32_t kind,
		      reload_node_result_cb cb, void *arg);
/* Pings a destination (Resource-ID) — used for reachability and partition checks. */
int reload_node_ping(struct reload_node *n, const struct reload_resource_id *res,
		     reload_node_result_cb cb, void *arg);

/* Text reports for the operator interface ("show ..."), appended to out. */
void reload_node_show_overlay(const struct reload_node *n, struct reload_buf *out);
void reload_node_show_fingers(const struct reload_node *n, struct reload_buf *out);
void reload_node_show_successors(const struct reload_node *n, struct reload_buf *out);
void reload_node_show_store(const struct reload_node *n, struct reload_buf *out);

struct reload_node_stats {
	uint64_t msgs_in, msgs_out, forwarded, dropped, verify_failures, stores_refused;
	uint64_t transactions_timed_out, retransmissions;
	size_t connections, stored_values;
};
void reload_node_get_stats(const struct reload_node *n, struct reload_node_stats *out);

#ifdef __cplusplus
}
#endif

#endif
