/* RFC 6940 §6.1, §6.2, §6.5, §10: a RELOAD peer on a libevent loop. Links come up through Attach
 * with No-ICE candidates (§6.5.1.11: the (D)TLS handshake is the connectivity check and its
 * certificate must carry the Node-ID that answered); messages are routed by the Destination List
 * with symmetric recursive routing (Via List on requests, reversed for answers); CHORD-RELOAD
 * keeps the ring (join through the admitting peer, Update, stabilisation, Leave, failure repair)
 * and the storage service stores, replicates to the two successors and hands data over.
 *
 * ICE: candidates are gathered in one place (node_candidates) and a link is opened by
 * node_open_link from a chosen candidate; a full ICE agent would replace those two steps
 * (gathering and checks) and hand the nominated pair's socket to the same link layer. */
#include "overlay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

PCDN_LOG_COMPONENT(node_log, "reload.node")

#define MAX_PENDING_ATTACH 256
#define JOIN_RETRY_MS 2000
#define JOIN_WAIT_NEIGHBORS_MS 3000
#define MAX_CANDIDATES 4

struct conn {
	struct conn *next;
	struct reload_node *n;
	struct reload_node_id id; /* from the certificate once up; expected id before */
	bool id_known;
	struct reload_link *link;
	bool up;
	bool suspect;
	bool send_update_on_up; /* Attach with send_update: Update "full" once connected */
	bool bootstrap;
	bool routed_when_suspected; /* in the routing table when the link became suspect */
};

struct pending_attach {
	bool used;
	struct reload_node_id id; /* the node attached to (known once it answered) */
	bool id_known;
	uint64_t tid;
	bool as_peer;
	bool answered; /* its AttachAns arrived: whoever answered is a ring member */
	uint64_t sent_us;
	uint64_t expires_us;
};

enum req_kind {
	REQ_ATTACH,
	REQ_JOIN,
	REQ_UPDATE,
	REQ_LEAVE,
	REQ_STORE_INTERNAL,
	REQ_USER_STORE,
	REQ_USER_FETCH,
	REQ_USER_PING,
};

struct req {
	struct reload_node *n;
	enum req_kind kind;
	unsigned pend; /* REQ_ATTACH: pending_attach slot + 1 */
	reload_node_result_cb cb;
	void *arg;
	uint32_t kind_id;
	struct reload_resource_id res;
};

struct loopback {
	struct loopback *next;
	size_t len;
	uint8_t data[];
};

enum join_state { JOIN_IDLE, JOIN_CONNECTING, JOIN_ATTACHING, JOIN_NEIGHBORS, JOIN_SENT, JOINED };

struct reload_node {
	struct event_base *base;
	struct reload_node_config cfg;
	const struct reload_overlay_config *ocfg;
	struct reload_codec_params params;
	unsigned id_len;
	struct reload_node_id self;
	struct reload_link_endpoint *tls_ep, *dtls_ep;
	struct reload_chord chord;
	struct conn *conns;
	struct reload_storage *store;
	struct reload_txn_table *txns;
	struct reload_reassembly *reasm;
	struct pending_attach pend[MAX_PENDING_ATTACH];

	enum join_state join;
	struct reload_node_id ap;
	bool have_ap;
	bool had_successor;
	size_t bootstrap_next;
	struct reload_node_id entry; /* the bootstrap peer the join attempt goes through */
	bool have_entry;
	uint64_t start_us, join_state_us;
	uint64_t join_us; /* start to joined */

	struct event *stab_timer, *finger_timer, *repl_timer, *join_timer, *maint_timer;
	struct event *update_ev, *loop_ev;
	bool update_to_all;
	bool repl_armed;
	struct loopback *lb_head, *lb_tail;

	/* what the message being delivered came with (read by transaction callbacks) */
	unsigned rx_hops;
	struct reload_node_id rx_signer;

	void (*leave_done)(void *);
	void *leave_arg;
	unsigned leave_outstanding;
	bool leaving;

	struct reload_node_stats stats;
};

static void schedule_update(struct reload_node *n, bool to_all);
static void chord_changed(struct reload_node *n, unsigned mask);
static void chord_add_peer(struct reload_node *n, const struct reload_node_id *id);
static int route_bytes(void *ctx, const uint8_t *msg, size_t len);
static void join_step(struct reload_node *n);
static void join_retry(struct reload_node *n);

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t wall_ms(void)
{
	return pcdn_wall_us() / 1000;
}

static const char *id_hex(const struct reload_node_id *id, char *buf)
{
	reload_node_id_to_hex(id, buf);
	return buf;
}

static uint64_t new_tid(void)
{
	uint64_t t = 0;

	if (pcdn_random_bytes(&t, sizeof(t)) < 0)
		t = pcdn_now_ns() ^ ((uint64_t)rand() << 32);
	return t;
}

static void arm(struct event *ev, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

static struct conn *conn_by_id(struct reload_node *n, const struct reload_node_id *id)
{
	struct conn *any = NULL;

	for (struct conn *c = n->conns; c; c = c->next) {
		if (!c->id_known || !reload_node_id_equal(&c->id, id) || !c->up)
			continue;
		if (!c->suspect)
			return c;
		any = c;
	}
	return any;
}

/* Any connection to id, up or still in its handshake. */
static struct conn *conn_any(struct reload_node *n, const struct reload_node_id *id)
{
	struct conn *up = conn_by_id(n, id);

	if (up)
		return up;
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->id_known && reload_node_id_equal(&c->id, id))
			return c;
	return NULL;
}

static bool connected(struct reload_node *n, const struct reload_node_id *id)
{
	return conn_by_id(n, id) != NULL;
}

static void fill_header(struct reload_node *n, struct reload_fwd_header *h,
			struct reload_destination *dest, size_t ndest, uint64_t tid)
{
	memset(h, 0, sizeof(*h));
	h->overlay = n->ocfg->overlay_hash;
	h->config_seq = n->ocfg->sequence;
	h->version = RELOAD_VERSION;
	h->ttl = (uint8_t)(n->ocfg->initial_ttl ? n->ocfg->initial_ttl : RELOAD_DEFAULT_TTL);
	h->fragment = RELOAD_FRAG_UNFRAGMENTED;
	h->transaction_id = tid;
	h->dest = dest;
	h->dest_count = ndest;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void loopback_cb(evutil_socket_t fd, short what, void *arg);

static void queue_loopback(struct reload_node *n, const uint8_t *msg, size_t len)
{
	struct loopback *lb = malloc(sizeof(*lb) + len);

	if (!lb)
		return;
	lb->next = NULL;
	lb->len = len;
	memcpy(lb->data, msg, len);
	if (n->lb_tail)
		n->lb_tail->next = lb;
	else
		n->lb_head = lb;
	n->lb_tail = lb;
	event_active(n->loop_ev, EV_TIMEOUT, 0);
}

/* Any connection usable before the node is in the ring: the admitting peer, else the bootstrap
 * peer of this join attempt, else a bootstrap link, else any. */
static struct conn *fallback_conn(struct reload_node *n)
{
	struct conn *best = NULL;

	if (n->have_ap && (best = conn_by_id(n, &n->ap)) != NULL)
		return best;
	if (n->have_entry && (best = conn_by_id(n, &n->entry)) != NULL)
		return best;
	for (struct conn *c = n->conns; c; c = c->next) {
		if (!c->up || !c->id_known)
			continue;
		if (c->bootstrap)
			return c;
		if (!best)
			best = c;
	}
	return best;
}

/* §6.1 / §10.3: where a message whose first destination is d goes. NULL with *local set when
 * this node is the destination. */
static struct conn *route(struct reload_node *n, const struct reload_destination *d, bool *local)
{
	struct reload_node_id next;

	*local = false;
	if (d->type == RELOAD_DEST_NODE && d->len == n->id_len) {
		struct reload_node_id id = { .len = d->len };
		struct conn *c;

		memcpy(id.id, d->id, d->len);
		if (reload_node_id_equal(&id, &n->self) || reload_node_id_is_wildcard(&id)) {
			*local = true;
			return NULL;
		}
		if ((c = conn_by_id(n, &id)) != NULL)
			return c;
		/* §6.1.1: a Node-ID in this peer's range that is not directly connected (a peer
		 * that failed or left) is dropped, not sent around the ring until its TTL ends */
		if (n->join == JOINED && !n->cfg.client &&
		    reload_chord_responsible(&n->chord, id.id))
			return NULL;
	} else if (d->type == RELOAD_DEST_RESOURCE && d->len == n->id_len) {
		if (n->join == JOINED && !n->cfg.client &&
		    reload_chord_responsible(&n->chord, d->id)) {
			*local = true;
			return NULL;
		}
	} else {
		return NULL;
	}
	if (n->join == JOINED && !n->cfg.client &&
	    reload_chord_next_hop(&n->chord, d->id, &next)) {
		struct conn *c = conn_by_id(n, &next);

		if (c)
			return c;
	}
	return fallback_conn(n);
}

static int send_on(struct reload_node *n, struct conn *c, const uint8_t *msg, size_t len)
{
	int rc = reload_link_send(c->link, msg, len);

	if (rc == 0)
		n->stats.msgs_out++;
	return rc;
}

/* Sends an encoded message toward its first destination. */
static int route_bytes(void *ctx, const uint8_t *msg, size_t len)
{
	struct reload_node *n = ctx;
	struct reload_arena *a = reload_arena_new();
	struct reload_fwd_header h;
	size_t hl;
	bool local;
	struct conn *c;
	int rc;

	if (!a)
		return -ENOMEM;
	rc = reload_fwd_header_decode(msg, len, n->id_len, a, &h, &hl);
	if (rc == 0 && h.dest_count == 0)
		rc = -EBADMSG;
	if (rc == 0) {
		c = route(n, &h.dest[0], &local);
		if (local)
			queue_loopback(n, msg, len);
		else if (c)
			rc = send_on(n, c, msg, len);
		else
			rc = -EHOSTUNREACH;
	}
	reload_arena_free(a);
	return rc;
}

static void req_done(void *arg, int status, const struct reload_message *ans, uint64_t us);

static struct req *req_new(struct reload_node *n, enum req_kind kind)
{
	struct req *r = calloc(1, sizeof(*r));

	if (r) {
		r->n = n;
		r->kind = kind;
	}
	return r;
}

/* Builds, signs and sends a request as a transaction; r is freed when it completes. */
static int send_request(struct reload_node *n, struct reload_destination *dest, size_t ndest,
			uint16_t code, const union reload_body *body,
			const struct reload_bytes *extra_certs, size_t nextra, struct req *r)
{
	struct reload_fwd_header h;
	struct reload_buf body_buf, out;
	uint64_t tid = new_tid();
	int rc;

	if (!r)
		return -ENOMEM;
	reload_buf_init(&body_buf);
	reload_buf_init(&out);
	fill_header(n, &h, dest, ndest, tid);
	rc = reload_body_encode(code, body, &n->params, &body_buf);
	if (rc == 0) {
		struct reload_bytes b = { body_buf.data, body_buf.len };

		rc = reload_message_encode(&h, code, &b, NULL, 0, n->cfg.signer, extra_certs, nextra,
					   &out);
	}
	if (rc == 0 && r->kind == REQ_ATTACH && r->pend)
		n->pend[r->pend - 1].tid = tid;
	if (rc == 0)
		rc = txn_start(n->txns, tid, out.data, out.len, req_done, r);
	if (rc < 0) {
		PCDN_LOG(node_log, WARNING, "cannot send %s: %s", reload_msg_code_name(code),
			 pcdn_strerror(rc));
		if (r->kind == REQ_ATTACH && r->pend)
			n->pend[r->pend - 1].used = false;
		free(r);
	}
	reload_buf_free(&body_buf);
	reload_buf_free(&out);
	return rc;
}

/* §6.2.2: the answer's Destination List is the previous hop followed by the reversed Via List. */
static void send_reply_bytes(struct reload_node *n, const struct reload_message *m,
			     const struct reload_node_id *from, uint16_t code,
			     const struct reload_bytes *body, const struct reload_bytes *certs,
			     size_t ncert, uint16_t err_code, const char *err_info)
{
	size_t nd = m->hdr.via_count + 1;
	struct reload_destination *dest = calloc(nd, sizeof(*dest));
	struct reload_fwd_header h;
	struct reload_buf out;
	int rc;

	if (!dest)
		return;
	reload_dest_node(&dest[0], from);
	for (size_t i = 0; i < m->hdr.via_count; i++)
		dest[i + 1] = m->hdr.via[m->hdr.via_count - 1 - i];
	fill_header(n, &h, dest, nd, m->hdr.transaction_id);
	reload_buf_init(&out);
	if (err_code)
		rc = reload_error_build(&h, err_code, err_info, &n->params, n->cfg.signer, &out);
	else
		rc = reload_message_encode(&h, code, body, NULL, 0, n->cfg.signer, certs, ncert, &out);
	if (rc == 0) {
		txn_reply_put(n->txns, m->hdr.transaction_id, out.data, out.len);
		route_bytes(n, out.data, out.len);
	}
	reload_buf_free(&out);
	free(dest);
}

static void send_answer(struct reload_node *n, const struct reload_message *m,
			const struct reload_node_id *from, uint16_t code, const union reload_body *b,
			const struct reload_bytes *certs, size_t ncert)
{
	struct reload_buf body;

	reload_buf_init(&body);
	if (reload_body_encode(code, b, &n->params, &body) == 0) {
		struct reload_bytes bb = { body.data, body.len };

		send_reply_bytes(n, m, from, code, &bb, certs, ncert, 0, NULL);
	}
	reload_buf_free(&body);
}

static void send_error(struct reload_node *n, const struct reload_message *m,
		       const struct reload_node_id *from, int err, const char *info)
{
	uint16_t code = reload_error_code_from_errno(err);

	if (code == 0)
		return;
	send_reply_bytes(n, m, from, RELOAD_ERROR, NULL, NULL, 0, code, info);
}

/* ---- links and the connection table ------------------------------------------------------ */

static struct conn *conn_new(struct reload_node *n, struct reload_link *l)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->n = n;
	c->link = l;
	c->next = n->conns;
	n->conns = c;
	reload_link_set_user(l, c);
	return c;
}

static void conn_unlink(struct reload_node *n, struct conn *c)
{
	for (struct conn **pp = &n->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static struct reload_link_endpoint *endpoint_for(struct reload_node *n, uint8_t type)
{
	if (type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		return n->tls_ep;
	if (type == RELOAD_LINK_DTLS_UDP_SR_NO_ICE)
		return n->dtls_ep;
	return NULL;
}

/* Opens a link to a candidate; expected: the Node-ID the certificate must carry (or NULL). */
static struct conn *node_open_link(struct reload_node *n, uint8_t type, const struct pcdn_addr *a,
				   const struct reload_node_id *expected)
{
	struct reload_link_endpoint *ep = endpoint_for(n, type);
	struct reload_link *l;
	struct conn *c;

	if (!ep)
		return NULL;
	l = reload_link_connect(ep, a);
	if (!l)
		return NULL;
	c = conn_new(n, l);
	if (!c) {
		reload_link_close(l);
		return NULL;
	}
	if (expected) {
		c->id = *expected;
		c->id_known = true;
	}
	return c;
}

static struct pending_attach *pend_find(struct reload_node *n, const struct reload_node_id *id)
{
	uint64_t now = pcdn_now_us();

	for (unsigned i = 0; i < MAX_PENDING_ATTACH; i++) {
		struct pending_attach *p = &n->pend[i];

		if (p->used && p->expires_us < now)
			p->used = false;
		if (p->used && p->id_known && reload_node_id_equal(&p->id, id))
			return p;
	}
	return NULL;
}

/* A link to c's node is up, or an Attach to it was answered. Only a node that answered one of
 * this node's Attaches enters the routing table: a link that comes up for any other reason (the
 * node's bootstrap link, its own Attaches, a crossing Attach this node answered) may belong to a
 * node that is still joining, which §10.5 step 3 keeps out of the others' routing tables until
 * its Join. Matching on the Node-ID alone, a peer with a pending Attach to a killed node took the
 * node in again as soon as its restart connected, and routed Attaches to it, its own Attach to
 * n+1 included, which the node, not in the ring, could only hand back: it never joined. An entry
 * whose answer has not arrived yet stays: req_done calls this again when it does. */
static void peer_up(struct reload_node *n, struct conn *c)
{
	uint64_t now = pcdn_now_us();
	bool add = false;

	for (unsigned i = 0; i < MAX_PENDING_ATTACH; i++) {
		struct pending_attach *p = &n->pend[i];

		if (!p->used || !p->id_known || p->expires_us < now ||
		    !reload_node_id_equal(&p->id, &c->id))
			continue;
		if (p->answered)
			add |= p->as_peer;
		else if (p->tid != 0)
			continue; /* still waiting for its answer */
		p->used = false; /* answered, or cancelled by the tie-breaker */
	}
	if (add && !c->suspect)
		chord_add_peer(n, &c->id);
	if (n->join == JOIN_NEIGHBORS)
		join_step(n);
}

static void send_update_to(struct reload_node *n, const struct reload_node_id *to, uint8_t type);

static int on_link_up(struct reload_link *l, void *arg)
{
	struct reload_node *n = arg;
	struct conn *c = reload_link_user(l);
	struct reload_cert_identity ident;
	int rc;
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	memset(&ident, 0, sizeof(ident));
	rc = reload_trust_check_cert(n->cfg.trust, reload_link_peer_cert(l), time(NULL), &ident);
	if (rc < 0 || ident.node_id_count == 0) {
		n->stats.verify_failures++;
		PCDN_LOG(node_log, WARNING, "link refused: peer certificate not acceptable");
		if (c) {
			conn_unlink(n, c);
			free(c);
		}
		return -EACCES;
	}
	if (!c) {
		c = conn_new(n, l);
		if (!c)
			return -ENOMEM;
	}
	/* §6.5.1.11: the certificate must carry the Node-ID that answered the Attach. */
	if (c->id_known) {
		bool match = false;

		for (size_t i = 0; i < ident.node_id_count; i++)
			match |= reload_node_id_equal(&ident.node_ids[i], &c->id);
		if (!match) {
			PCDN_LOG(node_log, WARNING, "link refused: certificate is not %s",
				 id_hex(&c->id, hex));
			conn_unlink(n, c);
			free(c);
			return -EACCES;
		}
	} else {
		c->id = ident.node_ids[0];
		c->id_known = true;
	}
	if (reload_node_id_equal(&c->id, &n->self)) {
		conn_unlink(n, c);
		free(c);
		return -ELOOP; /* a bootstrap address that is this node */
	}
	c->up = true;
	PCDN_LOG(node_log, INFO, "link up: %s (%s)", id_hex(&c->id, hex),
		 reload_link_is_initiator(l) ? "out" : "in");
	if (c->send_update_on_up) {
		c->send_update_on_up = false;
		send_update_to(n, &c->id, RELOAD_CHORD_FULL);
	}
	if (c->bootstrap && n->join == JOIN_CONNECTING) {
		n->entry = c->id;
		n->have_entry = true;
		join_step(n);
	}
	peer_up(n, c);
	return 0;
}

static void conn_gone(struct reload_node *n, struct conn *c)
{
	struct reload_node_id id = c->id;
	bool was = c->up && c->id_known;

	conn_unlink(n, c);
	free(c);
	if (!was)
		return;
	if (!connected(n, &id)) {
		/* §10.7.1 / §10.7.2: a lost neighbor or finger leaves the routing table. */
		chord_changed(n, reload_chord_remove(&n->chord, &id, n->cfg.replicas));
		if (n->have_ap && reload_node_id_equal(&id, &n->ap) && n->join != JOINED)
			n->have_ap = false;
	}
}

static void on_link_down(struct reload_link *l, enum reload_link_down why, void *arg)
{
	struct reload_node *n = arg;
	struct conn *c = reload_link_user(l);

	(void)why;
	if (c)
		conn_gone(n, c);
	if (n->join == JOIN_CONNECTING && !fallback_conn(n))
		arm(n->join_timer, 200);
}

static void on_link_suspect(struct reload_link *l, bool suspect, void *arg)
{
	struct reload_node *n = arg;
	struct conn *c = reload_link_user(l);

	if (!c || !c->up)
		return;
	c->suspect = suspect;
	if (suspect) {
		c->routed_when_suspected = reload_chord_contains(&n->chord, &c->id);
		if (!connected(n, &c->id))
			chord_changed(n, reload_chord_remove(&n->chord, &c->id, n->cfg.replicas));
	} else if (c->routed_when_suspected && !reload_chord_contains(&n->chord, &c->id)) {
		/* back where suspicion took it from; a link that was never routed (a joining
		 * node's) stays out of the routing table (see peer_up) */
		chord_add_peer(n, &c->id);
	}
}

static void process_incoming(struct reload_node *n, const struct reload_node_id *from,
			     const uint8_t *msg, size_t len, bool loopback);

static void on_link_message(struct reload_link *l, const uint8_t *msg, size_t len, void *arg)
{
	struct reload_node *n = arg;
	struct conn *c = reload_link_user(l);

	if (!c || !c->up)
		return;
	process_incoming(n, &c->id, msg, len, false);
}

static void loopback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;

	(void)fd;
	(void)what;
	while (n->lb_head) {
		struct loopback *lb = n->lb_head;

		n->lb_head = lb->next;
		if (!n->lb_head)
			n->lb_tail = NULL;
		process_incoming(n, &n->self, lb->data, lb->len, true);
		free(lb);
	}
}

/* ---- candidates and Attach (§6.5.1) -------------------------------------------------------- */

static size_t node_candidates(struct reload_node *n, struct reload_ice_candidate *out,
			      struct reload_arena *a)
{
	size_t k = 0;
	struct reload_link_endpoint *eps[2];

	if (n->cfg.prefer == RELOAD_LINK_DTLS_UDP_SR_NO_ICE) {
		eps[0] = n->dtls_ep;
		eps[1] = n->tls_ep;
	} else {
		eps[0] = n->tls_ep;
		eps[1] = n->dtls_ep;
	}
	for (int i = 0; i < 2; i++) {
		struct pcdn_addr addr;

		if (!eps[i] || reload_link_endpoint_addr(eps[i], &addr) < 0)
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		if (reload_ip_port_from_addr(&addr, &out[k].addr_port) < 0)
			continue;
		out[k].overlay_link = (uint8_t)reload_link_endpoint_type(eps[i]);
		out[k].foundation.data = reload_arena_memdup(a, i == 0 ? "1" : "2", 1);
		out[k].foundation.len = 1;
		/* RFC 5245 §4.1.2.1 host candidate priority; the preferred link type first */
		out[k].priority = (126u << 24) | ((65535u - (uint32_t)i) << 8) | 255u;
		out[k].cand_type = RELOAD_CAND_HOST;
		k++;
	}
	return k;
}

static void random_text(struct reload_arena *a, struct reload_bytes *b, size_t len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint8_t *p = reload_arena_alloc(a, len);
	uint8_t r[32];

	if (!p || len > sizeof(r) || pcdn_random_bytes(r, len) < 0) {
		b->data = NULL;
		b->len = 0;
		return;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)alphabet[r[i] % (sizeof(alphabet) - 1)];
	b->data = p;
	b->len = len;
}

static int fill_attach(struct reload_node *n, struct reload_attach *at, const char *role,
		       bool send_update, struct reload_arena *a)
{
	struct reload_ice_candidate *cands = reload_arena_alloc(a, MAX_CANDIDATES * sizeof(*cands));

	if (!cands)
		return -ENOMEM;
	memset(at, 0, sizeof(*at));
	random_text(a, &at->ufrag, 8);
	random_text(a, &at->password, 24);
	at->role.data = (const uint8_t *)role;
	at->role.len = strlen(role);
	at->candidate_count = node_candidates(n, cands, a);
	at->candidates = cands;
	at->send_update = send_update;
	return at->candidate_count ? 0 : -ENOTCONN;
}

/* Attach toward dest (a Node-ID, a Resource-ID, or a source route). known: the Node-ID expected
 * to answer, if any. as_peer: enter it into the routing table once connected. */
static int attach_to(struct reload_node *n, struct reload_destination *dest, size_t ndest,
		     const struct reload_node_id *known, bool as_peer, bool send_update)
{
	struct reload_arena *a;
	union reload_body b;
	struct req *r;
	unsigned slot = MAX_PENDING_ATTACH;
	int rc;

	if (known && (connected(n, known) || pend_find(n, known)))
		return 0;
	for (unsigned i = 0; i < MAX_PENDING_ATTACH; i++) {
		if (!n->pend[i].used) {
			slot = i;
			break;
		}
	}
	if (slot == MAX_PENDING_ATTACH)
		return -EBUSY;
	a = reload_arena_new();
	r = req_new(n, REQ_ATTACH);
	if (!a || !r) {
		reload_arena_free(a);
		free(r);
		return -ENOMEM;
	}
	memset(&n->pend[slot], 0, sizeof(n->pend[slot]));
	n->pend[slot].used = true;
	n->pend[slot].as_peer = as_peer;
	n->pend[slot].sent_us = pcdn_now_us();
	n->pend[slot].expires_us = pcdn_now_us() + (uint64_t)n->cfg.reliability_timer_ms * 5000 +
				   5000000;
	if (known) {
		n->pend[slot].id = *known;
		n->pend[slot].id_known = true;
	}
	r->pend = slot + 1;
	rc = fill_attach(n, &b.attach, "passive", send_update, a);
	if (rc == 0)
		rc = send_request(n, dest, ndest, RELOAD_ATTACH_REQ, &b, NULL, 0, r);
	else {
		n->pend[slot].used = false;
		free(r);
	}
	reload_arena_free(a);
	return rc;
}

static int attach_node_via(struct reload_node *n, const struct reload_node_id *via,
			   const struct reload_node_id *target)
{
	struct reload_destination d[2];
	size_t nd = 0;

	/* §10.6: a new neighbor is attached through the peer that told us about it */
	if (via && !reload_node_id_equal(via, &n->self) && connected(n, via))
		reload_dest_node(&d[nd++], via);
	reload_dest_node(&d[nd++], target);
	return attach_to(n, d, nd, target, true, false);
}

static void handle_attach(struct reload_node *n, const struct reload_message *m,
			  const struct reload_attach *req, const struct reload_node_id *from,
			  const struct reload_node_id *requester)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	struct pending_attach *p;
	struct conn *c;
	int rc;

	if (!a)
		return;
	if (reload_node_id_equal(requester, &n->self)) {
		send_error(n, m, from, -ELOOP, "attach to self");
		goto out;
	}
	if (n->join != JOINED) {
		/* §10.5 step 3: a joining node's Attaches fill the others' connection tables, not
		 * their routing tables. A requester enters whoever answers as a peer (§10.7.3), so
		 * this node answers none before its Join; the usual requester is a peer whose
		 * Attach to this Node-ID dates from before a restart. It attaches again once the
		 * Updates after the Join list this node. */
		send_error(n, m, from, -ENOENT, "not in the overlay yet");
		goto out;
	}
	if (reload_candidates_no_ice(req->candidates, req->candidate_count) != 1) {
		/* only No-ICE link types are offered by this implementation */
		send_error(n, m, from, -EPROTO, "only No-ICE overlay links are supported");
		goto out;
	}
	p = pend_find(n, requester);
	if (p && !connected(n, requester)) {
		/* §6.5.1.2 tie-breaker between crossing Attaches, while ours can still be crossing
		 * theirs. Had ours reached the requester within one overlay-reliability-timer, the
		 * requester (lower Node-ID) would have answered it instead of asking again: ours is
		 * lost (dropped on the way, say, or refused by a node still joining) and refusing
		 * would keep both apart until it times out (15 s). An Attach with send_update is a
		 * joining node's request to its admitting peer (§10.5 step 2); a joining node
		 * answers no Attach (above), so ours would never complete: this node gives way at
		 * once. */
		bool crossing =
		    p->tid != 0 && !req->send_update &&
		    pcdn_now_us() - p->sent_us < (uint64_t)n->cfg.reliability_timer_ms * 1000;

		if (reload_node_id_cmp(&n->self, requester) > 0 && crossing) {
			send_error(n, m, from, -EINPROGRESS, "attach in progress");
			goto out;
		}
		txn_cancel(n->txns, p->tid);
		p->expires_us = pcdn_now_us() + 15000000;
		p->tid = 0;
	}
	rc = fill_attach(n, &b.attach, "active", false, a);
	if (rc < 0) {
		send_error(n, m, from, -EPROTO, "no link");
		goto out;
	}
	send_answer(n, m, from, RELOAD_ATTACH_ANS, &b, NULL, 0);
	c = conn_any(n, requester);
	if (c) {
		if (req->send_update && !c->up)
			c->send_update_on_up = true;
		else if (req->send_update)
			send_update_to(n, requester, RELOAD_CHORD_FULL);
		goto out;
	}
	/* answerer is "active": it connects to the offerer's passive candidate */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < req->candidate_count; i++) {
			const struct reload_ice_candidate *cand = &req->candidates[i];
			struct pcdn_addr addr;

			if (pass == 0 && cand->overlay_link != n->cfg.prefer)
				continue;
			if (!endpoint_for(n, cand->overlay_link) ||
			    reload_ip_port_to_addr(&cand->addr_port, &addr) < 0)
				continue;
			c = node_open_link(n, cand->overlay_link, &addr, requester);
			if (c) {
				c->send_update_on_up = req->send_update;
				goto out;
			}
		}
	}
out:
	reload_arena_free(a);
}

/* ---- Update, Join, Leave (§10.5, §10.7, §10.9) --------------------------------------------- */

static void send_update_to(struct reload_node *n, const struct reload_node_id *to, uint8_t type)
{
	union reload_body b;
	struct reload_destination d;
	struct reload_node_id fingers[RELOAD_CHORD_MAX_FINGERS];

	memset(&b, 0, sizeof(b));
	b.update_req.uptime = (uint32_t)((pcdn_now_us() - n->start_us) / 1000000);
	b.update_req.type = type;
	if (type != RELOAD_CHORD_PEER_READY) {
		b.update_req.predecessors = n->chord.preds;
		b.update_req.predecessor_count = n->chord.npred;
		b.update_req.successors = n->chord.succs;
		b.update_req.successor_count = n->chord.nsucc;
	}
	if (type == RELOAD_CHORD_FULL) {
		b.update_req.finger_count = reload_chord_finger_list(&n->chord, fingers,
								     RELOAD_CHORD_MAX_FINGERS);
		b.update_req.fingers = fingers;
	}
	reload_dest_node(&d, to);
	send_request(n, &d, 1, RELOAD_UPDATE_REQ, &b, NULL, 0, req_new(n, REQ_UPDATE));
}

static void update_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;
	struct reload_node_id sent[64];
	size_t ns = 0;

	(void)fd;
	(void)what;
	if (n->join != JOINED || n->leaving)
		return;
	/* Neighbors always; the whole connection table when the responsible range moved. */
	for (size_t i = 0; i < n->chord.npred + n->chord.nsucc && ns < 64; i++) {
		const struct reload_node_id *id = i < n->chord.npred ? &n->chord.preds[i]
								     : &n->chord.succs[i - n->chord.npred];
		bool dup = false;

		for (size_t j = 0; j < ns && !dup; j++)
			dup = reload_node_id_equal(&sent[j], id);
		if (dup)
			continue;
		sent[ns++] = *id;
		send_update_to(n, id, RELOAD_CHORD_NEIGHBORS);
	}
	if (n->update_to_all) {
		for (struct conn *c = n->conns; c && ns < 64; c = c->next) {
			bool dup = false;

			if (!c->up || !c->id_known)
				continue;
			for (size_t j = 0; j < ns && !dup; j++)
				dup = reload_node_id_equal(&sent[j], &c->id);
			if (dup)
				continue;
			sent[ns++] = c->id;
			send_update_to(n, &c->id, RELOAD_CHORD_NEIGHBORS);
		}
	}
	n->update_to_all = false;
}

static void schedule_update(struct reload_node *n, bool to_all)
{
	n->update_to_all |= to_all;
	/* coalesce the changes of one event-loop turn into one round of Updates */
	arm(n->update_ev, 20);
}

static void chord_changed(struct reload_node *n, unsigned mask)
{
	if (!mask)
		return;
	if (n->chord.nsucc > 0)
		n->had_successor = true;
	if (mask & (RELOAD_CHORD_NEIGHBORS_CHANGED | RELOAD_CHORD_RANGE_CHANGED))
		schedule_update(n, (mask & RELOAD_CHORD_RANGE_CHANGED) != 0);
	if ((mask & (RELOAD_CHORD_REPLICAS_CHANGED | RELOAD_CHORD_RANGE_CHANGED)) &&
	    n->join == JOINED) {
		/* §10.7.1: new replicas after the successor replacement hold-down */
		if (!n->repl_armed) {
			n->repl_armed = true;
			arm(n->repl_timer, n->cfg.holddown_ms);
		}
	}
}

static void chord_add_peer(struct reload_node *n, const struct reload_node_id *id)
{
	if (n->cfg.client)
		return; /* a client routes everything through its peer */
	chord_changed(n, reload_chord_add(&n->chord, id, n->cfg.replicas));
}

/* Learns the Node-IDs an Update or Leave lists: attach to those that belong in the neighbor
 * table (§10.7.3), through the peer that sent them (§10.6). */
static void learn_ids(struct reload_node *n, const struct reload_node_id *via,
		      const struct reload_node_id *ids, size_t count)
{
	if (n->cfg.client)
		return;
	for (size_t i = 0; i < count; i++) {
		if (ids[i].len != n->id_len || reload_node_id_equal(&ids[i], &n->self))
			continue;
		if (connected(n, &ids[i])) {
			if (reload_chord_wants_neighbor(&n->chord, &ids[i]) &&
			    (n->join == JOINED || n->join == JOIN_NEIGHBORS))
				chord_add_peer(n, &ids[i]);
			continue;
		}
		if (reload_chord_wants_neighbor(&n->chord, &ids[i]))
			attach_node_via(n, via, &ids[i]);
	}
}

static void handle_update(struct reload_node *n, const struct reload_message *m,
			  const struct reload_chord_update *u, const struct reload_node_id *from,
			  const struct reload_node_id *sender)
{
	union reload_body b;

	memset(&b, 0, sizeof(b));
	send_answer(n, m, from, RELOAD_UPDATE_ANS, &b, NULL, 0);
	/* The sender is a peer (it sends Updates); it enters the routing table if connected. */
	if (connected(n, sender) && n->join >= JOIN_ATTACHING)
		chord_add_peer(n, sender);
	learn_ids(n, sender, u->predecessors, u->predecessor_count);
	learn_ids(n, sender, u->successors, u->successor_count);
	/* The admitting peer answers our Attach (send_update) with a "full" Update (§10.5). */
	if (n->join == JOIN_ATTACHING && u->type == RELOAD_CHORD_FULL && connected(n, sender)) {
		n->ap = *sender;
		n->have_ap = true;
		n->join = JOIN_NEIGHBORS;
		n->join_state_us = pcdn_now_us();
		join_step(n);
	}
}

struct export_ctx {
	struct reload_node *n;
	struct reload_node_id to;
	uint8_t replica;
};

static int export_store(void *ctx, const struct reload_store_req *req,
			const struct reload_bytes *certs, size_t ncert)
{
	struct export_ctx *x = ctx;
	union reload_body b;
	struct reload_destination d;

	b.store_req = *req;
	b.store_req.replica_number = x->replica;
	reload_dest_node(&d, &x->to);
	/* a failure for one resource does not stop the others */
	send_request(x->n, &d, 1, RELOAD_STORE_REQ, &b, certs, ncert,
		     req_new(x->n, REQ_STORE_INTERNAL));
	return 0;
}

static void handle_join(struct reload_node *n, const struct reload_message *m,
			const struct reload_join_req *j, const struct reload_node_id *from,
			const struct reload_node_id *signer)
{
	union reload_body b;
	struct export_ctx x;
	uint8_t lo[RELOAD_NODE_ID_MAX];

	if (!reload_node_id_equal(&j->joining_peer_id, signer)) {
		send_error(n, m, from, -EACCES, "joining peer is not the signer");
		return;
	}
	if (n->join != JOINED || !connected(n, signer)) {
		send_error(n, m, from, -EACCES, "attach before joining");
		return;
	}
	memset(&b, 0, sizeof(b));
	send_answer(n, m, from, RELOAD_JOIN_ANS, &b, NULL, 0);
	/* §10.5 step 6: hand over the data the joining node is now responsible for. */
	memcpy(lo, n->chord.npred ? n->chord.preds[0].id : n->self.id, n->id_len);
	x.n = n;
	x.to = *signer;
	x.replica = 1; /* carries the generation counters over (§7.4.1.1 replica semantics) */
	storage_export(n->store, lo, signer->id, n->id_len, wall_ms(), export_store, &x);
	/* steps 7 and 8: the joining node becomes a predecessor; Updates go out */
	chord_add_peer(n, signer);
	schedule_update(n, true);
}

/* ChordLeaveData (§10.9): type, then a NodeId list with a 16-bit length. */
static int leave_data_encode(struct reload_node *n, uint8_t type, const struct reload_node_id *ids,
			     size_t count, struct reload_arena *a, struct reload_bytes *out)
{
	size_t len = 3 + count * n->id_len;
	uint8_t *p = reload_arena_alloc(a, len);

	if (!p)
		return -ENOMEM;
	p[0] = type;
	pcdn_put_be16(p + 1, (uint16_t)(count * n->id_len));
	for (size_t i = 0; i < count; i++)
		memcpy(p + 3 + i * n->id_len, ids[i].id, n->id_len);
	out->data = p;
	out->len = len;
	return 0;
}

static size_t leave_data_decode(struct reload_node *n, const struct reload_bytes *d,
				struct reload_node_id *ids, size_t max)
{
	size_t len, count = 0;

	if (d->len < 3 || (d->data[0] != 1 && d->data[0] != 2))
		return 0;
	len = pcdn_get_be16(d->data + 1);
	if (len > d->len - 3 || len % n->id_len)
		return 0;
	for (size_t off = 0; off < len && count < max; off += n->id_len) {
		ids[count].len = (uint8_t)n->id_len;
		memcpy(ids[count].id, d->data + 3 + off, n->id_len);
		count++;
	}
	return count;
}

static void handle_leave(struct reload_node *n, const struct reload_message *m,
			 const struct reload_leave_req *lv, const struct reload_node_id *from,
			 const struct reload_node_id *signer)
{
	union reload_body b;
	struct reload_node_id ids[RELOAD_CHORD_MAX_NEIGHBORS];
	size_t count;

	if (!reload_node_id_equal(&lv->leaving_peer_id, signer)) {
		send_error(n, m, from, -EACCES, "leaving peer is not the signer");
		return;
	}
	memset(&b, 0, sizeof(b));
	send_answer(n, m, from, RELOAD_LEAVE_ANS, &b, NULL, 0);
	/* §10.9: as if the peer had failed (§10.7.1) */
	chord_changed(n, reload_chord_remove(&n->chord, signer, n->cfg.replicas));
	count = leave_data_decode(n, &lv->overlay_specific, ids, RELOAD_CHORD_MAX_NEIGHBORS);
	learn_ids(n, NULL, ids, count);
}

/* ---- storage methods (§7.4) ---------------------------------------------------------------- */

static void replicate_store(struct reload_node *n, const struct reload_store_req *req,
			    const struct reload_store_ans *ans, const struct reload_message *m)
{
	struct reload_store_kind_data *kd = calloc(req->kind_count + 1, sizeof(*kd));
	struct reload_bytes *certs = calloc(m->security.cert_count + 1, sizeof(*certs));

	if (!kd || !certs)
		goto out;
	for (size_t k = 0; k < req->kind_count; k++) {
		kd[k] = req->kind_data[k];
		if (k < ans->kind_count)
			kd[k].generation = ans->kinds[k].generation;
	}
	for (size_t i = 0; i < m->security.cert_count; i++)
		certs[i] = m->security.certs[i].der;
	/* §10.4: the successor and its successor, replica numbers 1 and 2 */
	for (size_t i = 0; i < PCDN_MIN((size_t)n->cfg.replicas, n->chord.nsucc); i++) {
		union reload_body b;
		struct reload_destination d;

		b.store_req = *req;
		b.store_req.kind_data = kd;
		b.store_req.replica_number = (uint8_t)(i + 1);
		reload_dest_node(&d, &n->chord.succs[i]);
		send_request(n, &d, 1, RELOAD_STORE_REQ, &b, certs, m->security.cert_count,
			     req_new(n, REQ_STORE_INTERNAL));
	}
out:
	free(kd);
	free(certs);
}

static void handle_store(struct reload_node *n, const struct reload_message *m,
			 const struct reload_store_req *req, const struct reload_node_id *from,
			 const struct reload_node_id *signer)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	bool replica = req->replica_number > 0;
	int rc;

	if (!a)
		return;
	if (replica && !connected(n, signer) && !reload_node_id_equal(signer, &n->self)) {
		/* §10.4: replicas come from a neighboring peer over a direct connection */
		send_error(n, m, from, -EACCES, "replica store from a non-neighbor");
		goto out;
	}
	if (!replica && (req->resource.len != n->id_len ||
			 !reload_chord_responsible(&n->chord, req->resource.id))) {
		send_error(n, m, from, -EACCES, "not responsible for this resource");
		goto out;
	}
	rc = storage_store(n->store, req, m->security.certs, m->security.cert_count, replica,
			   n->chord.succs, PCDN_MIN((size_t)n->cfg.replicas, n->chord.nsucc),
			   wall_ms(), a, &b.store_ans);
	if (rc < 0) {
		if (rc == -EACCES)
			n->stats.stores_refused++;
		send_error(n, m, from, rc, rc == -EACCES ? "store not authorized" : "store failed");
		goto out;
	}
	send_answer(n, m, from, RELOAD_STORE_ANS, &b, NULL, 0);
	if (!replica)
		replicate_store(n, req, &b.store_ans, m);
out:
	reload_arena_free(a);
}

static void handle_fetch(struct reload_node *n, const struct reload_message *m,
			 const struct reload_fetch_req *req, const struct reload_node_id *from)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	struct reload_bytes *certs;
	size_t ncert;
	int rc;

	if (!a)
		return;
	rc = storage_fetch(n->store, req, wall_ms(), a, &b.fetch_ans, &certs, &ncert);
	if (rc < 0)
		send_error(n, m, from, rc, "fetch failed");
	else
		send_answer(n, m, from, RELOAD_FETCH_ANS, &b, certs, ncert);
	reload_arena_free(a);
}

static void handle_stat(struct reload_node *n, const struct reload_message *m,
			const reload_stat_req *req, const struct reload_node_id *from)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	int rc;

	if (!a)
		return;
	rc = storage_stat(n->store, req, wall_ms(), a, &b.stat_ans);
	if (rc < 0)
		send_error(n, m, from, rc, "stat failed");
	else
		send_answer(n, m, from, RELOAD_STAT_ANS, &b, NULL, 0);
	reload_arena_free(a);
}

struct find_ctx {
	uint32_t kind;
	const struct reload_resource_id *start;
	struct reload_resource_id best;
	bool have;
	unsigned id_len;
};

static int find_fn(void *ctx, const struct reload_store_req *req, const struct reload_bytes *certs,
		   size_t ncert)
{
	struct find_ctx *f = ctx;

	(void)certs;
	(void)ncert;
	if (req->kind_data[0].kind != f->kind)
		return 0;
	/* the closest Resource-ID at or after the requested one (§7.4.4.2) */
	if (memcmp(req->resource.id, f->start->id, f->id_len) < 0)
		return 0;
	if (!f->have || memcmp(req->resource.id, f->best.id, f->id_len) < 0) {
		f->best = req->resource;
		f->have = true;
	}
	return 0;
}

static void handle_find(struct reload_node *n, const struct reload_message *m,
			const struct reload_find_req *req, const struct reload_node_id *from)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	uint8_t lo[RELOAD_NODE_ID_MAX];

	if (!a)
		return;
	memset(&b, 0, sizeof(b));
	b.find_ans.results = reload_arena_alloc(a, (req->kind_count + 1) * sizeof(*b.find_ans.results));
	if (!b.find_ans.results || req->resource.len != n->id_len) {
		send_error(n, m, from, -EBADMSG, "bad find");
		goto out;
	}
	memcpy(lo, n->chord.npred ? n->chord.preds[0].id : n->self.id, n->id_len);
	for (size_t k = 0; k < req->kind_count; k++) {
		struct find_ctx f = { .kind = req->kinds[k], .start = &req->resource,
				      .id_len = n->id_len };

		if (!reload_config_kind(n->ocfg, req->kinds[k])) {
			send_error(n, m, from, -ENOSYS, "unknown kind");
			goto out;
		}
		storage_export(n->store, lo, n->self.id, n->id_len, wall_ms(), find_fn, &f);
		b.find_ans.results[k].kind = req->kinds[k];
		if (f.have)
			b.find_ans.results[k].closest = f.best;
	}
	b.find_ans.result_count = req->kind_count;
	send_answer(n, m, from, RELOAD_FIND_ANS, &b, NULL, 0);
out:
	reload_arena_free(a);
}

/* ---- other methods -------------------------------------------------------------------------- */

static void handle_probe(struct reload_node *n, const struct reload_message *m,
			 const struct reload_probe_req *req, const struct reload_node_id *from)
{
	struct reload_probe_info info[8];
	union reload_body b;
	size_t k = 0;

	for (size_t i = 0; i < req->count && k < PCDN_ARRAY_SIZE(info); i++) {
		info[k].type = req->requested[i];
		switch (req->requested[i]) {
		case RELOAD_PROBE_RESPONSIBLE_SET: {
			/* §6.4.2.5.2: fraction of the ring, in 2^32 units (top 32 bits of the range) */
			uint8_t lo[RELOAD_NODE_ID_MAX], d[RELOAD_NODE_ID_MAX];
			int borrow = 0;

			memcpy(lo, n->chord.npred ? n->chord.preds[0].id : n->self.id, n->id_len);
			for (int j = (int)n->id_len - 1; j >= 0; j--) {
				int v = (int)n->self.id[j] - (int)lo[j] - borrow;

				borrow = v < 0;
				d[j] = (uint8_t)(v + (borrow ? 256 : 0));
			}
			info[k++].value = n->chord.npred ? pcdn_get_be32(d) : 0xffffffffu;
			break;
		}
		case RELOAD_PROBE_NUM_RESOURCES:
			info[k++].value = (uint32_t)storage_count(n->store);
			break;
		case RELOAD_PROBE_UPTIME:
			info[k++].value = (uint32_t)((pcdn_now_us() - n->start_us) / 1000000);
			break;
		default:
			break; /* unknown types are left out of the answer */
		}
	}
	b.probe_ans.info = info;
	b.probe_ans.count = k;
	send_answer(n, m, from, RELOAD_PROBE_ANS, &b, NULL, 0);
}

static void handle_request(struct reload_node *n, const struct reload_message *m,
			   const struct reload_node_id *from, const struct reload_node_id *signer)
{
	struct reload_arena *a = reload_arena_new();
	union reload_body b;
	int rc;

	if (!a)
		return;
	rc = reload_body_decode(m->code, m->body.data, m->body.len, &n->params, a, &b);
	if (rc < 0) {
		send_error(n, m, from, rc == -ENOTSUP ? -EBADMSG : rc, "malformed body");
		goto out;
	}
	switch (m->code) {
	case RELOAD_PING_REQ: {
		union reload_body ans;

		ans.ping_ans.response_id = new_tid();
		ans.ping_ans.time = wall_ms();
		send_answer(n, m, from, RELOAD_PING_ANS, &ans, NULL, 0);
		break;
	}
	case RELOAD_ATTACH_REQ:
		handle_attach(n, m, &b.attach, from, signer);
		break;
	case RELOAD_UPDATE_REQ:
		handle_update(n, m, &b.update_req, from, signer);
		break;
	case RELOAD_JOIN_REQ:
		handle_join(n, m, &b.join_req, from, signer);
		break;
	case RELOAD_LEAVE_REQ:
		handle_leave(n, m, &b.leave_req, from, signer);
		break;
	case RELOAD_STORE_REQ:
		handle_store(n, m, &b.store_req, from, signer);
		break;
	case RELOAD_FETCH_REQ:
		handle_fetch(n, m, &b.fetch_req, from);
		break;
	case RELOAD_STAT_REQ:
		handle_stat(n, m, &b.stat_req, from);
		break;
	case RELOAD_FIND_REQ:
		handle_find(n, m, &b.find_req, from);
		break;
	case RELOAD_PROBE_REQ:
		handle_probe(n, m, &b.probe_req, from);
		break;
	case RELOAD_ROUTE_QUERY_REQ: {
		union reload_body ans;
		const struct reload_destination *d = &b.route_query_req.destination;

		memset(&ans, 0, sizeof(ans));
		if (d->len != n->id_len ||
		    !reload_chord_next_hop(&n->chord, d->id, &ans.route_query_ans.next_peer))
			ans.route_query_ans.next_peer = n->self;
		send_answer(n, m, from, RELOAD_ROUTE_QUERY_ANS, &ans, NULL, 0);
		if (b.route_query_req.send_update && connected(n, signer))
			send_update_to(n, signer, RELOAD_CHORD_FULL);
		break;
	}
	case RELOAD_APP_ATTACH_REQ:
		/* no application endpoint is registered on this node */
		send_error(n, m, from, -ENOENT, "no such application");
		break;
	case RELOAD_CONFIG_UPDATE_REQ:
		/* the configuration comes from the operator's files; updates are not taken */
		send_error(n, m, from, -EACCES, "configuration updates not accepted");
		break;
	default:
		send_error(n, m, from, -EBADMSG, "unknown request");
		break;
	}
out:
	reload_arena_free(a);
}

/* ---- receiving: §6.1 ------------------------------------------------------------------------- */

static void deliver_local(struct reload_node *n, const struct reload_node_id *from,
			  const uint8_t *msg, size_t len, bool loopback)
{
	struct reload_message *m = NULL;
	struct reload_fwd_header hdr;
	struct reload_peer signer;
	int rc;

	memset(&hdr, 0, sizeof(hdr));
	rc = reload_message_decode(msg, len, n->id_len, n->ocfg->max_message_size, &m, &hdr);
	if (rc < 0) {
		n->stats.dropped++;
		PCDN_LOG(node_log, INFO, "undecodable message: %s", pcdn_strerror(rc));
		return;
	}
	memset(&signer, 0, sizeof(signer));
	rc = reload_message_verify(m, n->cfg.trust, time(NULL), &signer);
	if (rc < 0) {
		n->stats.verify_failures++;
		PCDN_LOG(node_log, WARNING, "%s with a bad signature refused",
			 reload_msg_code_name(m->code));
		if (m->code & 1)
			send_error(n, m, from, -EACCES, "signature verification failed");
		reload_peer_clear(&signer);
		reload_message_free(m);
		return;
	}
	if (m->code == RELOAD_ERROR || (m->code & 1) == 0) {
		n->rx_hops = loopback ? 0
				      : (unsigned)((n->ocfg->initial_ttl ? n->ocfg->initial_ttl
									: RELOAD_DEFAULT_TTL) -
						   m->hdr.ttl + 1);
		n->rx_signer = signer.node_id;
		if (!txn_complete(n->txns, m->hdr.transaction_id, m)) {
			n->stats.dropped++; /* late answer to a finished transaction */
			PCDN_LOG(node_log, INFO, "drop: %s for no pending transaction",
				 reload_msg_code_name(m->code));
		}
	} else {
		size_t rl;
		const uint8_t *cached = txn_reply_get(n->txns, m->hdr.transaction_id, &rl);

		if (cached) {
			/* §6.2.1: same answer to a retransmitted request */
			uint8_t *copy = malloc(rl);

			if (copy) {
				memcpy(copy, cached, rl);
				route_bytes(n, copy, rl);
				free(copy);
			}
		} else {
			handle_request(n, m, from, &signer.node_id);
		}
	}
	reload_peer_clear(&signer);
	reload_message_free(m);
}

static void process_incoming(struct reload_node *n, const struct reload_node_id *from,
			     const uint8_t *msg, size_t len, bool loopback)
{
	struct reload_arena *a = reload_arena_new();
	struct reload_fwd_header h;
	size_t hl, idx = 0;
	struct reload_buf cur, tmp;
	bool is_request;
	int rc;

	if (!a)
		return;
	n->stats.msgs_in++;
	reload_buf_init(&cur);
	reload_buf_init(&tmp);
	rc = reload_fwd_header_decode(msg, len, n->id_len, a, &h, &hl);
	if (rc < 0 || h.overlay != n->ocfg->overlay_hash || h.dest_count == 0) {
		n->stats.dropped++;
		goto out;
	}
	if (h.fragment != RELOAD_FRAG_UNFRAGMENTED) {
		uint8_t *whole = NULL;
		size_t wl = 0;

		/* §6.7: only the destination reassembles; fragments are forwarded as they are */
		rc = reload_reassembly_add(n->reasm, msg, len, n->id_len, pcdn_now_us() / 1000,
					   &whole, &wl);
		if (rc == 1) {
			deliver_local(n, from, whole, wl, loopback);
			free(whole);
		}
		goto out;
	}
	is_request = hl + 2 <= len && (pcdn_get_be16(msg + hl) & 1) &&
		     pcdn_get_be16(msg + hl) != RELOAD_ERROR;
	for (;;) {
		const struct reload_destination *d = &h.dest[idx];
		bool local;
		struct conn *c;

		if (d->type == RELOAD_DEST_OPAQUE) {
			n->stats.dropped++; /* this node never compresses Via Lists */
			goto out;
		}
		c = route(n, d, &local);
		if (local) {
			if (d->type == RELOAD_DEST_NODE && idx + 1 < h.dest_count) {
				idx++; /* §6.1.1: this node; continue with the next entry */
				continue;
			}
			if (d->type == RELOAD_DEST_RESOURCE && idx + 1 < h.dest_count) {
				n->stats.dropped++;
				goto out;
			}
			if (idx == 0) {
				deliver_local(n, from, msg, len, loopback);
			} else {
				/* deliver with this node's entries removed */
				const uint8_t *p = msg;
				size_t pl = len;

				for (size_t i = 0; i < idx; i++) {
					struct reload_fwd_edit e = { .pop_first_dest = true };

					reload_buf_reset(&tmp);
					if (reload_fwd_rewrite(p, pl, n->id_len, &e, &tmp) < 0)
						goto out;
					reload_buf_reset(&cur);
					reload_buf_put(&cur, tmp.data, tmp.len);
					p = cur.data;
					pl = cur.len;
				}
				deliver_local(n, from, p, pl, loopback);
			}
			goto out;
		}
		if (!c) {
			n->stats.dropped++;
			PCDN_LOG(node_log, INFO, "drop: no route (dest type %u, joined %d)", d->type,
				 n->join == JOINED);
			goto out;
		}
		if (h.ttl == 0) {
			n->stats.dropped++;
			if (is_request && !loopback) {
				/* §6.3.2: the sender learns why (Error_TTL_Exceeded) */
				struct reload_message fake;

				memset(&fake, 0, sizeof(fake));
				fake.hdr = h;
				send_error(n, &fake, from, -ELOOP, "TTL exceeded");
			}
			goto out;
		}
		/* §6.1.2: forward, recording the previous hop in the Via List of requests */
		const uint8_t *p = msg;
		size_t pl = len;
		struct reload_destination via;

		for (size_t i = 0; i <= idx; i++) {
			struct reload_fwd_edit e = { .pop_first_dest = i < idx,
						     .decrement_ttl = i == idx };

			if (i == idx && is_request && !loopback) {
				reload_dest_node(&via, from);
				e.append_via = &via;
			}
			reload_buf_reset(&tmp);
			rc = reload_fwd_rewrite(p, pl, n->id_len, &e, &tmp);
			if (rc < 0) {
				n->stats.dropped++;
				goto out;
			}
			reload_buf_reset(&cur);
			reload_buf_put(&cur, tmp.data, tmp.len);
			p = cur.data;
			pl = cur.len;
		}
		if (send_on(n, c, p, pl) == 0)
			n->stats.forwarded++;
		goto out;
	}
out:
	reload_buf_free(&cur);
	reload_buf_free(&tmp);
	reload_arena_free(a);
}

/* ---- transaction results ------------------------------------------------------------------ */

static void user_result(struct req *r, int status, const struct reload_message *ans,
			uint64_t us)
{
	struct reload_node *n = r->n;
	struct reload_node_result res;
	struct reload_arena *a = reload_arena_new();
	union reload_body b;

	memset(&res, 0, sizeof(res));
	res.status = status;
	res.latency_us = us;
	if (ans) {
		res.hops = n->rx_hops;
		res.responder = n->rx_signer;
	}
	if (!a) {
		res.status = -ENOMEM;
		goto done;
	}
	if (status == 0 && ans->code == RELOAD_ERROR) {
		if (reload_body_decode(RELOAD_ERROR, ans->body.data, ans->body.len, &n->params, a,
				       &b) == 0) {
			res.error_code = b.error.error_code;
			snprintf(res.error_info, sizeof(res.error_info), "%.*s",
				 (int)PCDN_MIN(b.error.error_info.len, sizeof(res.error_info) - 1),
				 (const char *)b.error.error_info.data);
			res.status = reload_errno_from_error_code(b.error.error_code);
		} else {
			res.status = -EBADMSG;
		}
	} else if (status == 0) {
		if (reload_body_decode(ans->code, ans->body.data, ans->body.len, &n->params, a,
				       &b) < 0) {
			res.status = -EBADMSG;
		} else if (ans->code == RELOAD_FETCH_ANS) {
			res.fetch = b.fetch_ans;
			/* the values must verify against the certificates that came with them */
			for (size_t k = 0; k < b.fetch_ans.kind_count && res.status == 0; k++) {
				const struct reload_fetch_kind_response *kr = &b.fetch_ans.kinds[k];

				for (size_t v = 0; v < kr->value_count && res.status == 0; v++) {
					struct reload_peer p;

					if (!kr->values[v].value.value.exists)
						continue;
					memset(&p, 0, sizeof(p));
					if (reload_stored_data_verify(&kr->values[v], &r->res, kr->kind,
								      ans->security.certs,
								      ans->security.cert_count,
								      n->cfg.trust, time(NULL), &p) < 0)
						res.status = -EACCES;
					reload_peer_clear(&p);
				}
			}
		} else if (ans->code == RELOAD_STORE_ANS) {
			res.store = b.store_ans;
		}
	}
done:
	if (r->cb)
		r->cb(&res, r->arg);
	reload_arena_free(a);
}

static void join_done(struct reload_node *n, int status, const struct reload_message *ans)
{
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	if (status < 0 || !ans || ans->code != RELOAD_JOIN_ANS) {
		PCDN_LOG(node_log, NOTICE, "join refused or timed out; retrying");
		join_retry(n);
		return;
	}
	n->join = JOINED;
	n->join_state_us = pcdn_now_us();
	n->join_us = n->join_state_us - n->start_us;
	PCDN_LOG(node_log, NOTICE, "joined the overlay as %s", id_hex(&n->self, hex));
	/* §10.5 step 9 and the finger table (§10.5: Attach to n + 2^(128-i)) */
	schedule_update(n, true);
	arm(n->finger_timer, 50);
	n->repl_armed = true;
	arm(n->repl_timer, n->cfg.holddown_ms);
}

static void req_done(void *arg, int status, const struct reload_message *ans, uint64_t us)
{
	struct req *r = arg;
	struct reload_node *n = r->n;

	switch (r->kind) {
	case REQ_ATTACH: {
		struct pending_attach *p = r->pend ? &n->pend[r->pend - 1] : NULL;

		if (!p || !p->used || p->tid == 0)
			break; /* cancelled by the tie-breaker or reused */
		if (status < 0 || !ans || ans->code != RELOAD_ATTACH_ANS) {
			p->used = false;
			break;
		}
		p->id = n->rx_signer;
		p->id_known = true;
		p->answered = true;
		/* already connected to whoever answered: nothing to open */
		struct conn *c = conn_by_id(n, &p->id);

		if (c)
			peer_up(n, c);
		break;
	}
	case REQ_JOIN:
		join_done(n, status, ans);
		break;
	case REQ_LEAVE:
		if (n->leave_outstanding && --n->leave_outstanding == 0 && n->leave_done)
			n->leave_done(n->leave_arg);
		break;
	case REQ_UPDATE:
	case REQ_STORE_INTERNAL:
		if (status == -ETIMEDOUT)
			PCDN_LOG(node_log, INFO, "internal request timed out");
		break;
	case REQ_USER_STORE:
	case REQ_USER_FETCH:
	case REQ_USER_PING:
		user_result(r, status, ans, us);
		break;
	}
	free(r);
}

/* ---- join, stabilisation, replication timers ------------------------------------------------ */

static void send_join(struct reload_node *n)
{
	union reload_body b;
	struct reload_destination d;

	memset(&b, 0, sizeof(b));
	b.join_req.joining_peer_id = n->self;
	reload_dest_node(&d, &n->ap);
	n->join = JOIN_SENT;
	n->join_state_us = pcdn_now_us();
	if (send_request(n, &d, 1, RELOAD_JOIN_REQ, &b, NULL, 0, req_new(n, REQ_JOIN)) < 0)
		join_retry(n);
}

/* An up link to address a, if any. */
static struct conn *conn_at(struct reload_node *n, const struct pcdn_addr *a)
{
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->up && c->id_known && pcdn_addr_equal(reload_link_peer_addr(c->link), a))
			return c;
	return NULL;
}

/* §11.4: the next bootstrap peer in the configured order becomes the one the join attempt goes
 * through. 0: an up link to it is the entry; -EINPROGRESS: a link to it is being opened;
 * -ENOENT: no bootstrap peer can be tried now. */
static int join_next_entry(struct reload_node *n)
{
	uint8_t type = n->cfg.bootstrap_dtls ? RELOAD_LINK_DTLS_UDP_SR_NO_ICE
					     : RELOAD_LINK_TLS_TCP_FH_NO_ICE;
	struct pcdn_addr mine;
	bool have_mine = reload_node_link_addr(n, type, &mine) == 0;

	n->have_entry = false;
	for (size_t k = 0; k < n->cfg.bootstrap_count; k++) {
		size_t i = (n->bootstrap_next + k) % n->cfg.bootstrap_count;
		const struct pcdn_addr *a = &n->cfg.bootstrap[i];
		struct conn *c;

		if (have_mine && pcdn_addr_equal(&mine, a))
			continue;
		n->bootstrap_next = i + 1;
		if ((c = conn_at(n, a)) != NULL) {
			n->entry = c->id;
			n->have_entry = true;
			return 0;
		}
		c = node_open_link(n, type, a, NULL);
		if (c) {
			c->bootstrap = true;
			n->join = JOIN_CONNECTING;
			n->join_state_us = pcdn_now_us();
			arm(n->join_timer, JOIN_RETRY_MS);
			return -EINPROGRESS;
		}
	}
	return -ENOENT;
}

/* A join attempt failed: the next one, after JOIN_RETRY_MS, goes through the next bootstrap
 * peer. A bootstrap peer can fail a joining node and keep its link: one that took the node into
 * its routing table before the Join (a pending Attach to the same Node-ID before a restart)
 * routes the node's Attach to n+1 back to it, and the node, not in the ring, hands it back. */
static void join_retry(struct reload_node *n)
{
	n->join = JOIN_IDLE;
	n->join_state_us = pcdn_now_us();
	n->have_entry = false;
	arm(n->join_timer, JOIN_RETRY_MS);
}

static bool neighbor_attaches_pending(struct reload_node *n)
{
	uint64_t now = pcdn_now_us();

	for (unsigned i = 0; i < MAX_PENDING_ATTACH; i++)
		if (n->pend[i].used && n->pend[i].as_peer && n->pend[i].expires_us > now)
			return true;
	return false;
}

static void join_step(struct reload_node *n)
{
	switch (n->join) {
	case JOIN_IDLE:
	case JOIN_CONNECTING: {
		struct reload_resource_id target;
		struct reload_destination d;

		if (!(n->have_entry && connected(n, &n->entry))) {
			int rc = join_next_entry(n);

			if (rc == -EINPROGRESS)
				return; /* on_link_up comes back here */
			if (rc < 0 && !fallback_conn(n)) {
				arm(n->join_timer, JOIN_RETRY_MS);
				return;
			}
		}
		/* §10.5 step 2: Attach to the admitting peer at n+1, asking for its Update */
		reload_chord_id_plus_one(&n->self, &target);
		reload_dest_resource(&d, &target);
		n->join = JOIN_ATTACHING;
		n->join_state_us = pcdn_now_us();
		n->have_ap = false;
		attach_to(n, &d, 1, NULL, true, true);
		arm(n->join_timer, JOIN_RETRY_MS * 3);
		return;
	}
	case JOIN_NEIGHBORS:
		if (!n->have_ap) {
			/* the admitting peer's link went down before the Join: start over (returning
			 * here left the node in this state for good, nothing re-arms the timer) */
			join_retry(n);
			return;
		}
		/* §10.5: no Join before every expected neighbor is attached (bounded wait) */
		if (neighbor_attaches_pending(n) &&
		    pcdn_now_us() - n->join_state_us < JOIN_WAIT_NEIGHBORS_MS * 1000ull) {
			arm(n->join_timer, 200);
			return;
		}
		if (n->cfg.client) {
			n->join = JOINED; /* §4.2.1: a client stays attached to its peer */
			return;
		}
		send_join(n);
		return;
	default:
		return;
	}
}

static void join_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;

	(void)fd;
	(void)what;
	if (n->join == JOINED || n->leaving)
		return;
	if (n->join == JOIN_ATTACHING || n->join == JOIN_CONNECTING) {
		/* no answer from an admitting peer in time: start over, through the next
		 * bootstrap peer (join_retry) */
		if (pcdn_now_us() - n->join_state_us >= JOIN_RETRY_MS * 1000ull) {
			n->join = JOIN_IDLE;
			n->have_entry = false;
		} else {
			arm(n->join_timer, JOIN_RETRY_MS);
			return;
		}
	}
	join_step(n);
}

static void finger_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;
	unsigned started = 0;

	(void)fd;
	(void)what;
	if (n->join != JOINED || n->leaving || n->cfg.client)
		goto rearm;
	/* §10.7.4.2 alternative 1: invalid entries, earlier ones first, probability 1/2 each;
	 * after the join every entry is tried once (§10.5). */
	for (unsigned i = 1; i <= n->chord.finger_count && started < 8; i++) {
		struct reload_resource_id target;
		struct reload_destination d;
		uint8_t r = 0;

		if (reload_chord_finger_valid(&n->chord, i) || reload_chord_finger_covered(&n->chord, i))
			continue;
		if (started >= 2 && pcdn_now_us() - n->join_state_us > 5000000ull)
			break; /* after the join, a couple of searches per interval */
		if (pcdn_random_bytes(&r, 1) == 0 && (r & 1) &&
		    pcdn_now_us() - n->join_state_us > 5000000ull)
			continue;
		reload_chord_finger_target(&n->chord, i, true, &target);
		/* a target this node is responsible for has no peer in that range */
		if (reload_chord_responsible(&n->chord, target.id))
			continue;
		reload_dest_resource(&d, &target);
		if (attach_to(n, &d, 1, NULL, true, false) == 0)
			started++;
	}
	/* the upper-half entries, same rules */
	for (unsigned i = 1; i <= n->chord.finger_count && started < 8; i++) {
		struct reload_resource_id target;
		struct reload_destination d;
		uint8_t r = 0;

		if (n->join != JOINED || n->leaving || n->cfg.client)
			break;
		if (reload_chord_finger_hi_valid(&n->chord, i) ||
		    reload_chord_finger_covered(&n->chord, i))
			continue;
		if (started >= 2 && pcdn_now_us() - n->join_state_us > 5000000ull)
			break;
		if (pcdn_random_bytes(&r, 1) == 0 && (r & 1) &&
		    pcdn_now_us() - n->join_state_us > 5000000ull)
			continue;
		if (!reload_chord_finger_hi_target(&n->chord, i, &target) ||
		    reload_chord_responsible(&n->chord, target.id))
			continue;
		reload_dest_resource(&d, &target);
		if (attach_to(n, &d, 1, NULL, true, false) == 0)
			started++;
	}
rearm:
	arm(n->finger_timer, n->cfg.ping_interval_ms);
}

static void stab_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;
	uint8_t r[2] = { 0, 0 };

	(void)fd;
	(void)what;
	if (n->join == JOINED && !n->leaving) {
		/* §10.7.4.1: Updates to every neighbor */
		schedule_update(n, false);
		/* §10.7.1: all successors lost: behave as a joining node again */
		if (!n->cfg.client && n->chord.nsucc == 0 && n->had_successor &&
		    n->cfg.bootstrap_count) {
			PCDN_LOG(node_log, NOTICE, "lost every successor: rejoining");
			n->join = JOIN_IDLE;
			n->had_successor = false;
			join_step(n);
		}
	}
	/* randomly offset so the Updates of all peers do not coincide (§10.7.4.1) */
	pcdn_random_bytes(r, sizeof(r));
	arm(n->stab_timer, n->cfg.update_interval_ms / 2 +
				   (uint32_t)(pcdn_get_be16(r) % (n->cfg.update_interval_ms + 1)));
}

static void repl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;
	uint8_t lo[RELOAD_NODE_ID_MAX];

	(void)fd;
	(void)what;
	n->repl_armed = false;
	if (n->join != JOINED || n->cfg.client)
		return;
	/* §10.7.3: data this node is responsible for goes to every member of the replica set */
	memcpy(lo, n->chord.npred ? n->chord.preds[0].id : n->self.id, n->id_len);
	for (size_t i = 0; i < PCDN_MIN((size_t)n->cfg.replicas, n->chord.nsucc); i++) {
		struct export_ctx x = { .n = n, .to = n->chord.succs[i], .replica = (uint8_t)(i + 1) };

		storage_export(n->store, lo, n->self.id, n->id_len, wall_ms(), export_store, &x);
	}
}

static void maint_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_node *n = arg;

	(void)fd;
	(void)what;
	storage_expire(n->store, wall_ms());
	reload_reassembly_expire(n->reasm, pcdn_now_us() / 1000);
	/* §10.7.3: data of resources this node no longer replicates (three predecessors lie
	 * between it and the resource) is dropped */
	if (n->join == JOINED && n->chord.npred > n->cfg.replicas &&
	    n->chord.npred >= n->chord.neighbor_target)
		storage_drop_outside(n->store, n->chord.preds[n->cfg.replicas].id, n->self.id,
				     n->id_len);
	arm(n->maint_timer, 5000);
}

/* ---- public API ----------------------------------------------------------------------------- */

void reload_node_config_default(struct reload_node_config *c)
{
	memset(c, 0, sizeof(*c));
	pcdn_addr_parse("127.0.0.1:0", &c->tls_addr);
	pcdn_addr_parse("127.0.0.1:0", &c->dtls_addr);
	c->tls_enabled = true;
	c->dtls_enabled = true;
	c->prefer = RELOAD_LINK_TLS_TCP_FH_NO_ICE;
	c->replicas = 2;
	c->neighbors = 3;
	c->fingers = 16;
	c->update_interval_ms = 600000; /* §10.7.4.1: about ten minutes */
	c->ping_interval_ms = 3600000;	/* chord-ping-interval default */
	c->holddown_ms = 30000;
	c->reliability_timer_ms = 3000;
	c->sr_initial_rto_ms = 500;
}

struct reload_node *reload_node_new(struct event_base *base, const struct reload_node_config *cfg)
{
	struct reload_node *n;
	struct reload_link_config lc;
	struct reload_link_cbs cbs = { on_link_up, on_link_message, on_link_down, on_link_suspect };
	SSL_CTX *tls = NULL, *dtls = NULL;

	if (!base || !cfg || !cfg->overlay || !cfg->signer || !cfg->trust ||
	    (!cfg->tls_enabled && !cfg->dtls_enabled)) {
		errno = EINVAL;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		errno = ENOMEM;
		return NULL;
	}
	n->base = base;
	n->cfg = *cfg;
	n->ocfg = cfg->overlay;
	n->id_len = cfg->overlay->node_id_length ? cfg->overlay->node_id_length : 16;
	n->self = *reload_signer_node_id(cfg->signer);
	n->start_us = pcdn_now_us();
	if (!n->cfg.replicas)
		n->cfg.replicas = 2;
	if (!n->cfg.update_interval_ms)
		n->cfg.update_interval_ms = 600000;
	if (!n->cfg.ping_interval_ms)
		n->cfg.ping_interval_ms = 3600000;
	if (!n->cfg.reliability_timer_ms)
		n->cfg.reliability_timer_ms = n->ocfg->overlay_reliability_timer
						      ? n->ocfg->overlay_reliability_timer
						      : 3000;
	reload_codec_params_from_config(cfg->overlay, &n->params);
	reload_chord_init(&n->chord, &n->self, cfg->neighbors, cfg->fingers ? cfg->fingers : 16);
	n->store = storage_new(cfg->overlay, cfg->trust);
	n->txns = txn_table_new(base, n->cfg.reliability_timer_ms, 5, route_bytes, n);
	n->reasm = reload_reassembly_new(4u << 20, RELOAD_FRAGMENT_TIMEOUT_MS);
	n->stab_timer = evtimer_new(base, stab_timer_cb, n);
	n->finger_timer = evtimer_new(base, finger_timer_cb, n);
	n->repl_timer = evtimer_new(base, repl_timer_cb, n);
	n->join_timer = evtimer_new(base, join_timer_cb, n);
	n->maint_timer = evtimer_new(base, maint_timer_cb, n);
	n->update_ev = evtimer_new(base, update_ev_cb, n);
	n->loop_ev = event_new(base, -1, 0, loopback_cb, n);
	if (!n->store || !n->txns || !n->reasm || !n->stab_timer || !n->finger_timer ||
	    !n->repl_timer || !n->join_timer || !n->maint_timer || !n->update_ev || !n->loop_ev)
		goto fail;
	reload_link_config_default(&lc);
	lc.max_message_size = n->ocfg->max_message_size ? n->ocfg->max_message_size
							: RELOAD_DEFAULT_MAX_MESSAGE_SIZE;
	lc.initial_rto_ms = cfg->sr_initial_rto_ms ? cfg->sr_initial_rto_ms : 500;
	if (cfg->tls_enabled) {
		tls = reload_link_ssl_ctx_new(false, reload_signer_cert(cfg->signer),
					      reload_signer_key(cfg->signer), NULL, true);
		n->tls_ep = tls ? reload_link_endpoint_new(base, RELOAD_LINK_TLS_TCP_FH_NO_ICE, tls,
							   &cfg->tls_addr, &lc, &cbs, n)
				: NULL;
		if (!n->tls_ep)
			goto fail;
	}
	if (cfg->dtls_enabled) {
		dtls = reload_link_ssl_ctx_new(true, reload_signer_cert(cfg->signer),
					       reload_signer_key(cfg->signer), NULL, true);
		n->dtls_ep = dtls ? reload_link_endpoint_new(base, RELOAD_LINK_DTLS_UDP_SR_NO_ICE,
							     dtls, &cfg->dtls_addr, &lc, &cbs, n)
				  : NULL;
		if (!n->dtls_ep)
			goto fail;
	}
	SSL_CTX_free(tls);
	SSL_CTX_free(dtls);
	return n;
fail:
	SSL_CTX_free(tls);
	SSL_CTX_free(dtls);
	reload_node_free(n);
	errno = errno ? errno : ENOMEM;
	return NULL;
}

void reload_node_free(struct reload_node *n)
{
	if (!n)
		return;
	n->leaving = true;
	txn_table_free(n->txns);
	n->txns = NULL;
	reload_link_endpoint_free(n->tls_ep);
	reload_link_endpoint_free(n->dtls_ep);
	while (n->conns) {
		struct conn *c = n->conns;

		n->conns = c->next;
		free(c);
	}
	while (n->lb_head) {
		struct loopback *lb = n->lb_head;

		n->lb_head = lb->next;
		free(lb);
	}
	struct event *evs[] = { n->stab_timer, n->finger_timer, n->repl_timer, n->join_timer,
				n->maint_timer, n->update_ev, n->loop_ev };

	for (size_t i = 0; i < PCDN_ARRAY_SIZE(evs); i++)
		if (evs[i])
			event_free(evs[i]);
	storage_free(n->store);
	reload_reassembly_free(n->reasm);
	free(n);
}

int reload_node_start(struct reload_node *n)
{
	bool other = false;

	for (size_t i = 0; i < n->cfg.bootstrap_count; i++) {
		struct pcdn_addr mine;
		uint8_t type = n->cfg.bootstrap_dtls ? RELOAD_LINK_DTLS_UDP_SR_NO_ICE
						     : RELOAD_LINK_TLS_TCP_FH_NO_ICE;

		if (reload_node_link_addr(n, type, &mine) < 0 ||
		    !pcdn_addr_equal(&mine, &n->cfg.bootstrap[i]))
			other = true;
	}
	arm(n->stab_timer, n->cfg.update_interval_ms);
	arm(n->finger_timer, n->cfg.ping_interval_ms);
	arm(n->maint_timer, 5000);
	if (!other) {
		/* the first peer: the ring is this node alone */
		n->join = JOINED;
		n->join_state_us = pcdn_now_us();
		PCDN_LOG(node_log, NOTICE, "formed the overlay %s", n->ocfg->instance_name);
		return 0;
	}
	n->join = JOIN_IDLE;
	join_step(n);
	return 0;
}

static void leave_now(struct reload_node *n)
{
	struct reload_node_id sent[2 * RELOAD_CHORD_MAX_NEIGHBORS];
	size_t ns = 0;
	struct reload_arena *a = reload_arena_new();

	if (!a)
		return;
	/* §10.9: from_succ to predecessors (with our successors), from_pred to successors */
	for (int side = 0; side < 2; side++) {
		const struct reload_node_id *to = side == 0 ? n->chord.preds : n->chord.succs;
		size_t cnt = side == 0 ? n->chord.npred : n->chord.nsucc;

		for (size_t i = 0; i < cnt; i++) {
			union reload_body b;
			struct reload_destination d;
			bool dup = false;

			for (size_t j = 0; j < ns && !dup; j++)
				dup = reload_node_id_equal(&sent[j], &to[i]);
			if (dup)
				continue;
			sent[ns++] = to[i];
			memset(&b, 0, sizeof(b));
			b.leave_req.leaving_peer_id = n->self;
			if (side == 0)
				leave_data_encode(n, 1, n->chord.succs, n->chord.nsucc, a,
						  &b.leave_req.overlay_specific);
			else
				leave_data_encode(n, 2, n->chord.preds, n->chord.npred, a,
						  &b.leave_req.overlay_specific);
			reload_dest_node(&d, &to[i]);
			if (send_request(n, &d, 1, RELOAD_LEAVE_REQ, &b, NULL, 0,
					 req_new(n, REQ_LEAVE)) == 0)
				n->leave_outstanding++;
		}
	}
	reload_arena_free(a);
}

int reload_node_leave(struct reload_node *n, void (*done)(void *arg), void *arg)
{
	n->leave_done = done;
	n->leave_arg = arg;
	n->leave_outstanding = 0;
	if (n->join == JOINED && !n->cfg.client && n->chord.nsucc > 0) {
		struct export_ctx x = { .n = n, .to = n->chord.succs[0], .replica = 1 };
		uint8_t lo[RELOAD_NODE_ID_MAX];

		/* the successor takes over this node's range: give it everything first */
		memcpy(lo, n->chord.npred ? n->chord.preds[0].id : n->self.id, n->id_len);
		storage_export(n->store, lo, n->self.id, n->id_len, wall_ms(), export_store, &x);
		leave_now(n);
	}
	n->leaving = true;
	if (n->leave_outstanding == 0 && done)
		done(arg);
	return 0;
}

bool reload_node_joined(const struct reload_node *n)
{
	return n->join == JOINED;
}

const struct reload_node_id *reload_node_id(const struct reload_node *n)
{
	return &n->self;
}

const struct reload_chord *reload_node_chord(const struct reload_node *n)
{
	return &n->chord;
}

int reload_node_link_addr(const struct reload_node *n, enum reload_overlay_link_type t,
			  struct pcdn_addr *out)
{
	if (t == RELOAD_LINK_TLS_TCP_FH_NO_ICE && n->tls_ep)
		return reload_link_endpoint_addr(n->tls_ep, out);
	if (t == RELOAD_LINK_DTLS_UDP_SR_NO_ICE && n->dtls_ep)
		return reload_link_endpoint_addr(n->dtls_ep, out);
	return -ENOENT;
}

int reload_node_store(struct reload_node *n, const struct reload_resource_id *res, uint32_t kind,
		      const struct reload_stored_data_value *v, uint32_t lifetime,
		      reload_node_result_cb cb, void *arg)
{
	struct reload_arena *a;
	struct reload_stored_data sd;
	struct reload_store_kind_data kd;
	union reload_body b;
	struct reload_destination d;
	struct req *r;
	int rc;

	if (!reload_config_kind(n->ocfg, kind))
		return -ENOSYS;
	if (n->join != JOINED)
		return -EAGAIN;
	a = reload_arena_new();
	if (!a)
		return -ENOMEM;
	memset(&sd, 0, sizeof(sd));
	sd.storage_time = wall_ms();
	sd.lifetime = lifetime;
	sd.value = *v;
	rc = reload_stored_data_sign(n->cfg.signer, res, kind, &sd, a);
	if (rc == 0) {
		memset(&kd, 0, sizeof(kd));
		kd.kind = kind;
		kd.values = &sd;
		kd.value_count = 1;
		memset(&b, 0, sizeof(b));
		b.store_req.resource = *res;
		b.store_req.kind_data = &kd;
		b.store_req.kind_count = 1;
		reload_dest_resource(&d, res);
		r = req_new(n, REQ_USER_STORE);
		if (r) {
			r->cb = cb;
			r->arg = arg;
			r->kind_id = kind;
			r->res = *res;
		}
		rc = send_request(n, &d, 1, RELOAD_STORE_REQ, &b, NULL, 0, r);
	}
	reload_arena_free(a);
	return rc;
}

int reload_node_fetch(struct reload_node *n, const struct reload_resource_id *res, uint32_t kind,
		      reload_node_result_cb cb, void *arg)
{
	const struct reload_kind_def *k = reload_config_kind(n->ocfg, kind);
	struct reload_stored_data_specifier sp;
	struct reload_array_range all = { 0, 0xffffffffu };
	union reload_body b;
	struct reload_destination d;
	struct req *r;

	if (!k)
		return -ENOSYS;
	if (n->join != JOINED)
		return -EAGAIN;
	memset(&sp, 0, sizeof(sp));
	sp.kind = kind;
	sp.model = k->model;
	if (k->model == RELOAD_MODEL_ARRAY) {
		sp.indices = &all;
		sp.index_count = 1;
	}
	memset(&b, 0, sizeof(b));
	b.fetch_req.resource = *res;
	b.fetch_req.specifiers = &sp;
	b.fetch_req.specifier_count = 1;
	reload_dest_resource(&d, res);
	r = req_new(n, REQ_USER_FETCH);
	if (r) {
		r->cb = cb;
		r->arg = arg;
		r->kind_id = kind;
		r->res = *res;
	}
	return send_request(n, &d, 1, RELOAD_FETCH_REQ, &b, NULL, 0, r);
}

int reload_node_ping(struct reload_node *n, const struct reload_resource_id *res,
		     reload_node_result_cb cb, void *arg)
{
	union reload_body b;
	struct reload_destination d;
	struct req *r = req_new(n, REQ_USER_PING);

	if (r) {
		r->cb = cb;
		r->arg = arg;
		r->res = *res;
	}
	memset(&b, 0, sizeof(b));
	reload_dest_resource(&d, res);
	return send_request(n, &d, 1, RELOAD_PING_REQ, &b, NULL, 0, r);
}

static void put_line(struct reload_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_line(struct reload_buf *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (k > 0)
		reload_buf_put(out, line, (size_t)PCDN_MIN(k, (int)sizeof(line) - 1));
}

static const char *join_name(enum join_state s)
{
	static const char *const names[] = { "idle", "connecting", "attaching",
					     "neighbors", "join-sent", "joined" };

	return names[s];
}

void reload_node_show_overlay(const struct reload_node *n, struct reload_buf *out)
{
	char hex[2 * RELOAD_NODE_ID_MAX + 1], a[64];
	struct pcdn_addr addr;
	size_t conns = 0;

	for (const struct conn *c = n->conns; c; c = c->next)
		conns += c->up;
	put_line(out, "overlay %s\n", n->ocfg->instance_name);
	put_line(out, "node-id %s\n", id_hex(&n->self, hex));
	put_line(out, "state %s\n", join_name(n->join));
	put_line(out, "role %s\n", n->cfg.client ? "client" : "peer");
	put_line(out, "join_ms %llu\n", (unsigned long long)(n->join_us / 1000));
	if (n->tls_ep && reload_link_endpoint_addr(n->tls_ep, &addr) == 0)
		put_line(out, "tls %s\n", pcdn_addr_format(&addr, a, sizeof(a)));
	if (n->dtls_ep && reload_link_endpoint_addr(n->dtls_ep, &addr) == 0)
		put_line(out, "dtls %s\n", pcdn_addr_format(&addr, a, sizeof(a)));
	put_line(out, "uptime %llu\n", (unsigned long long)((pcdn_now_us() - n->start_us) / 1000000));
	put_line(out, "connections %zu\n", conns);
	put_line(out, "predecessors %zu\nsuccessors %zu\n", n->chord.npred, n->chord.nsucc);
	put_line(out, "stored %zu\n", storage_count(n->store));
	put_line(out, "msgs-in %llu\nmsgs-out %llu\nforwarded %llu\ndropped %llu\n",
		 (unsigned long long)n->stats.msgs_in, (unsigned long long)n->stats.msgs_out,
		 (unsigned long long)n->stats.forwarded, (unsigned long long)n->stats.dropped);
	put_line(out, "verify-failures %llu\nstores-refused %llu\n",
		 (unsigned long long)n->stats.verify_failures,
		 (unsigned long long)n->stats.stores_refused);
	put_line(out, "transactions %zu\nretransmissions %llu\ntimeouts %llu\n", txn_count(n->txns),
		 (unsigned long long)txn_retransmissions(n->txns),
		 (unsigned long long)txn_timeouts(n->txns));
}

void reload_node_show_fingers(const struct reload_node *n, struct reload_buf *out)
{
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	for (unsigned i = 1; i <= n->chord.finger_count; i++) {
		if (n->chord.finger_set[i - 1])
			put_line(out, "%u %s%s\n", i, id_hex(&n->chord.fingers[i - 1], hex),
				 reload_chord_finger_valid(&n->chord, i) ? "" : " (out of range)");
		if (n->chord.finger_hi_set[i - 1])
			put_line(out, "%u+ %s%s\n", i, id_hex(&n->chord.fingers_hi[i - 1], hex),
				 reload_chord_finger_hi_valid(&n->chord, i) ? "" : " (out of range)");
	}
}

void reload_node_show_successors(const struct reload_node *n, struct reload_buf *out)
{
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	for (size_t i = 0; i < n->chord.npred; i++)
		put_line(out, "pred %zu %s\n", i, id_hex(&n->chord.preds[i], hex));
	for (size_t i = 0; i < n->chord.nsucc; i++)
		put_line(out, "succ %zu %s\n", i, id_hex(&n->chord.succs[i], hex));
}

void reload_node_show_store(const struct reload_node *n, struct reload_buf *out)
{
	storage_show(n->store, &n->chord, out);
}

void reload_node_get_stats(const struct reload_node *n, struct reload_node_stats *out)
{
	*out = n->stats;
	out->transactions_timed_out = txn_timeouts(n->txns);
	out->retransmissions = txn_retransmissions(n->txns);
	out->connections = 0;
	for (const struct conn *c = n->conns; c; c = c->next)
		out->connections += c->up;
	out->stored_values = storage_count(n->store);
}
