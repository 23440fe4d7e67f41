/* Private to link.c, tls_link.c and dtls_link.c: the link and endpoint objects. */
#ifndef RELOAD_LINK_INTERNAL_H
#define RELOAD_LINK_INTERNAL_H

#include "reload_link.h"

#include <openssl/ssl.h>

struct event;
struct bufferevent;

#define LINK_SENT_RING 64

struct link_sent {
	uint32_t seq;
	uint64_t t_us;
};

/* A queued message waiting for SR stop-and-wait (DTLS) or TLS write. */
struct link_msg {
	struct link_msg *next;
	size_t len;
	unsigned transmissions;
	uint8_t data[];
};

struct reload_link {
	struct reload_link_endpoint *ep;
	struct reload_link *next, *prev;
	enum reload_overlay_link_type type;
	bool up, initiator, suspect;
	bool closing;  /* freed when the last hold is released */
	bool down_sent;
	unsigned holds;
	struct pcdn_addr peer;
	SSL *ssl;
	X509 *peer_cert;
	void *user;

	/* §6.6.2 framing state */
	uint32_t tx_seq;
	struct reload_fh_rx rx;
	struct reload_rto rto;
	struct link_sent sent[LINK_SENT_RING];
	uint64_t last_ack_us;
	struct reload_link_stats stats;

	/* TLS-TCP-FH */
	struct bufferevent *bev;
	struct event *fh_timer;

	/* DTLS-UDP-SR */
	BIO *rbio, *wbio;
	struct event *dtls_timer;  /* DTLS handshake retransmission */
	struct event *sr_timer;	   /* SR retransmission / 10 ms pacing */
	struct link_msg *q_head, *q_tail;
	unsigned queued;
	bool in_flight;		   /* q_head sent, waiting for its ACK */
	uint32_t inflight_seq_first; /* first sequence used for the in-flight message */
	uint32_t cur_wait_ms;
	uint64_t first_unacked_us; /* when the in-flight message was first sent */
	uint64_t pace_until_us;
};

struct reload_link_endpoint {
	struct event_base *base;
	enum reload_overlay_link_type type;
	SSL_CTX *ctx;
	struct reload_link_config cfg;
	struct reload_link_cbs cbs;
	void *arg;
	struct pcdn_addr addr;
	int fd;
	struct evconnlistener *listener; /* TLS */
	struct event *udp_ev;		 /* DTLS */
	struct reload_link *links;
	bool freeing;
};

/* link.c */
extern int link_log;
struct reload_link *link_alloc(struct reload_link_endpoint *ep, const struct pcdn_addr *peer,
			       bool initiator);
void link_hold(struct reload_link *l);
void link_release(struct reload_link *l);
/* Reports failure once (on_down unless closing) and schedules the free. */
void link_fail(struct reload_link *l, enum reload_link_down why);
/* Handshake finished: record the peer certificate, ask the upper layer. Returns false when the
 * link was refused (and is being torn down). */
bool link_handshake_done(struct reload_link *l);
void link_deliver(struct reload_link *l, const uint8_t *msg, size_t len);
void link_note_sent(struct reload_link *l, uint32_t seq);
/* Processes an ACK: RTT sample from the matching send time. Returns true if seq was known. */
bool link_note_ack(struct reload_link *l, uint32_t seq);
void link_set_suspect(struct reload_link *l, bool suspect);

/* tls_link.c */
int tls_endpoint_open(struct reload_link_endpoint *ep);
void tls_endpoint_close(struct reload_link_endpoint *ep);
struct reload_link *tls_link_connect(struct reload_link_endpoint *ep, const struct pcdn_addr *to);
int tls_link_send(struct reload_link *l, const uint8_t *msg, size_t len);
void tls_link_teardown(struct reload_link *l, bool orderly);

/* dtls_link.c */
int dtls_endpoint_open(struct reload_link_endpoint *ep);
void dtls_endpoint_close(struct reload_link_endpoint *ep);
struct reload_link *dtls_link_connect(struct reload_link_endpoint *ep,
				      const struct pcdn_addr *to);
int dtls_link_send(struct reload_link *l, const uint8_t *msg, size_t len);
void dtls_link_teardown(struct reload_link *l, bool orderly);

#endif
