/* Part header of reload.h: overlay links (RFC 6940 §6.6). A link carries opaque RELOAD messages
 * between two adjacent nodes, framed by the Framing Header (§6.6.2): TLS over TCP with the
 * framing header (TLS-TCP-FH-NO-ICE, §6.6.5) or DTLS over UDP with Simple Reliability
 * (DTLS-UDP-SR-NO-ICE, §6.6.6). Links run on a libevent loop; no threads. */
#ifndef RELOAD_LINK_H
#define RELOAD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reload.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct ssl_ctx_st;
struct x509_st;
struct x509_store_st;
struct evp_pkey_st;

/* Framing header (§6.6.2). */
#define RELOAD_FH_DATA 128
#define RELOAD_FH_ACK 129
#define RELOAD_FH_DATA_HDR 8 /* type, sequence, 24-bit length */
#define RELOAD_FH_ACK_LEN 9
#define RELOAD_FH_MAX_MESSAGE ((1u << 24) - 1)
/* A DTLS record carries at most 2^14 bytes of plaintext: one framed message per record. */
#define RELOAD_DTLS_MAX_MESSAGE (16384u - RELOAD_FH_DATA_HDR)

struct reload_link;
struct reload_link_endpoint;

/* Why a link went down. */
enum reload_link_down {
	RELOAD_LINK_DOWN_CLOSED = 0,	/* orderly close by the peer (close_notify / FIN) */
	RELOAD_LINK_DOWN_ERROR,		/* socket or TLS error, handshake failure, bad framing */
	RELOAD_LINK_DOWN_TIMEOUT,	/* SR gave up after 5 transmissions; FH 30 s without ACK */
	RELOAD_LINK_DOWN_REFUSED,	/* ICMP port unreachable / connection refused */
	RELOAD_LINK_DOWN_TOO_LARGE,	/* peer sent a message above max-message-size */
	RELOAD_LINK_DOWN_AUTH,		/* the upper layer rejected the peer's certificate */
};
const char *reload_link_down_name(enum reload_link_down why);

/* Callbacks of an endpoint; arg is the endpoint's arg. A link is owned by the endpoint: after
 * on_down returns, the link is freed. */
struct reload_link_cbs {
	/* The (D)TLS handshake completed; the peer certificate is available. Return 0 to accept
	 * the link, or a negative code to close it (RELOAD_LINK_DOWN_AUTH, no on_down). */
	int (*on_up)(struct reload_link *l, void *arg);
	/* One complete RELOAD message (the FramedMessage payload). */
	void (*on_message)(struct reload_link *l, const uint8_t *msg, size_t len, void *arg);
	/* The link failed or was closed by the peer; not called for reload_link_close(). */
	void (*on_down)(struct reload_link *l, enum reload_link_down why, void *arg);
	/* The link looks failing (§6.6.3.1: no ACK for RTO plus 3 retransmissions; §6.6.5: no ACK
	 * for an RTO) or recovered: the routing layer takes it out of / back into its table. */
	void (*on_suspect)(struct reload_link *l, bool suspect, void *arg);
};

struct reload_link_config {
	uint32_t max_message_size; /* overlay max-message-size; larger incoming frames fail */
	uint32_t initial_rto_ms;   /* SR static/initial RTO (§6.6.3.1 default 500 ms) */
	uint32_t fh_fail_ms;	   /* FH: close after this long without ACK (§6.6.5: 30 s) */
};
void reload_link_config_default(struct reload_link_config *c);

/* TLS or DTLS context for links: our certificate and key; peers must present a certificate.
 * roots: trust anchors (the overlay's root-cert), may be NULL when allow_self_signed. The
 * certificate's Node-ID binding is checked by the upper layer in on_up. SSLKEYLOGFILE, when set
 * in the environment, receives NSS key log lines for every handshake. */
struct ssl_ctx_st *reload_link_ssl_ctx_new(bool dtls, struct x509_st *cert,
					   struct evp_pkey_st *key, struct x509_store_st *roots,
					   bool allow_self_signed);
/* Installs the SSLKEYLOGFILE callback on ctx when the variable is set (idempotent). */
void reload_link_keylog_install(struct ssl_ctx_st *ctx);

/* One endpoint per link type: a TCP listener (TLS) or a UDP socket (DTLS: used for accepted and
 * initiated links alike, so a peer always sees our advertised port). bind_addr port 0 picks
 * one; reload_link_endpoint_addr tells which. */
struct reload_link_endpoint *reload_link_endpoint_new(struct event_base *base,
						      enum reload_overlay_link_type type,
						      struct ssl_ctx_st *ctx,
						      const struct pcdn_addr *bind_addr,
						      const struct reload_link_config *cfg,
						      const struct reload_link_cbs *cbs, void *arg);
/* Closes every link (no on_down) and the socket. */
void reload_link_endpoint_free(struct reload_link_endpoint *ep);
int reload_link_endpoint_addr(const struct reload_link_endpoint *ep, struct pcdn_addr *out);
enum reload_overlay_link_type reload_link_endpoint_type(const struct reload_link_endpoint *ep);

/* Starts a link to a peer; on_up or on_down follows. NULL + errno on immediate failure. */
struct reload_link *reload_link_connect(struct reload_link_endpoint *ep,
					const struct pcdn_addr *peer);
/* Queues one message; 0, -EMSGSIZE above the link's limit, -ENOTCONN before on_up or after
 * failure, -ENOMEM. */
int reload_link_send(struct reload_link *l, const uint8_t *msg, size_t len);
/* Orderly close (close_notify); frees the link without calling on_down. */
void reload_link_close(struct reload_link *l);

bool reload_link_is_up(const struct reload_link *l);
bool reload_link_is_initiator(const struct reload_link *l);
enum reload_overlay_link_type reload_link_get_type(const struct reload_link *l);
const struct pcdn_addr *reload_link_peer_addr(const struct reload_link *l);
/* The peer's leaf certificate (borrowed, valid while the link lives) and the verified chain
 * below it, or NULL before the handshake. */
struct x509_st *reload_link_peer_cert(const struct reload_link *l);
void reload_link_set_user(struct reload_link *l, void *user);
void *reload_link_user(const struct reload_link *l);

struct reload_link_stats {
	uint64_t frames_sent, frames_received, acks_received, retransmissions;
	uint32_t srtt_us, rttvar_us, rto_ms; /* RFC 6298 estimate from framing-header ACKs */
	uint32_t queued;		      /* messages waiting (SR: stop and wait) */
	bool suspect;
};
void reload_link_get_stats(const struct reload_link *l, struct reload_link_stats *out);

/* ---- framing header and RFC 6298 estimator, shared by both link types (link.c) ---------- */

/* §6.6.2: ACK bookkeeping for the 32 most recent sequence numbers received. */
struct reload_fh_rx {
	uint32_t recent[32];
	unsigned count, head;
};
void reload_fh_rx_record(struct reload_fh_rx *rx, uint32_t seq);
/* Bitmask for an ACK of seq: bit (N-M) set for each recent M with N-32 < M < N. */
uint32_t reload_fh_rx_mask(const struct reload_fh_rx *rx, uint32_t seq);

void reload_fh_put_data_header(uint8_t hdr[RELOAD_FH_DATA_HDR], uint32_t seq, uint32_t len);
void reload_fh_put_ack(uint8_t ack[RELOAD_FH_ACK_LEN], uint32_t seq, uint32_t mask);

struct reload_fh_frame {
	uint8_t type;
	uint32_t seq;	  /* data: sequence; ack: ack_sequence */
	uint32_t mask;	  /* ack: received */
	uint32_t msg_len; /* data */
	const uint8_t *msg;
};
/* Parses one frame from buf. Returns the frame length (> 0), 0 when more bytes are needed
 * (stream), -EBADMSG on an unknown type, -EMSGSIZE when the message exceeds max_msg. */
int reload_fh_parse(const uint8_t *buf, size_t len, uint32_t max_msg, struct reload_fh_frame *f);

/* RFC 6298 §2 retransmission timer, milliseconds, no rounding to a second (§6.6.3.1). */
struct reload_rto {
	uint32_t srtt_us, rttvar_us, rto_ms;
	uint32_t min_ms; /* 1 s (RFC 6298 §2.4), or the configured initial RTO when smaller:
			  * §6.6.3.1 lets an operator declare a local network with a small RTO */
	bool have_sample;
};
void reload_rto_init(struct reload_rto *r, uint32_t initial_ms);
void reload_rto_sample(struct reload_rto *r, uint32_t rtt_us);
void reload_rto_backoff(struct reload_rto *r);

#ifdef __cplusplus
}
#endif

#endif
