/* RFC 6940 §6.6: the overlay link abstraction shared by TLS-TCP-FH and DTLS-UDP-SR — framing
 * header (§6.6.2), ACK bookkeeping, RTT/RTO estimation (RFC 6298 as §6.6.3.1 and §6.6.5 require),
 * the (D)TLS contexts with mutual certificate authentication, and SSLKEYLOGFILE. */
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509.h>

PCDN_LOG_COMPONENT(link_log, "reload.link")

const char *reload_link_down_name(enum reload_link_down why)
{
	switch (why) {
	case RELOAD_LINK_DOWN_CLOSED: return "closed";
	case RELOAD_LINK_DOWN_ERROR: return "error";
	case RELOAD_LINK_DOWN_TIMEOUT: return "timeout";
	case RELOAD_LINK_DOWN_REFUSED: return "refused";
	case RELOAD_LINK_DOWN_TOO_LARGE: return "message too large";
	case RELOAD_LINK_DOWN_AUTH: return "authentication";
	}
	return "?";
}

void reload_link_config_default(struct reload_link_config *c)
{
	c->max_message_size = 5000;
	c->initial_rto_ms = 500;
	c->fh_fail_ms = 30000;
}

/* ---- framing header --------------------------------------------------------------------- */

void reload_fh_rx_record(struct reload_fh_rx *rx, uint32_t seq)
{
	rx->recent[rx->head] = seq;
	rx->head = (rx->head + 1) % 32;
	if (rx->count < 32)
		rx->count++;
}

uint32_t reload_fh_rx_mask(const struct reload_fh_rx *rx, uint32_t seq)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < rx->count; i++) {
		uint32_t d = seq - rx->recent[i]; /* modular: N - M */

		if (d >= 1 && d < 32)
			mask |= 1u << d;
	}
	return mask;
}

void reload_fh_put_data_header(uint8_t hdr[RELOAD_FH_DATA_HDR], uint32_t seq, uint32_t len)
{
	hdr[0] = RELOAD_FH_DATA;
	pcdn_put_be32(hdr + 1, seq);
	hdr[5] = (uint8_t)(len >> 16);
	hdr[6] = (uint8_t)(len >> 8);
	hdr[7] = (uint8_t)len;
}

void reload_fh_put_ack(uint8_t ack[RELOAD_FH_ACK_LEN], uint32_t seq, uint32_t mask)
{
	ack[0] = RELOAD_FH_ACK;
	pcdn_put_be32(ack + 1, seq);
	pcdn_put_be32(ack + 5, mask);
}

int reload_fh_parse(const uint8_t *buf, size_t len, uint32_t max_msg, struct reload_fh_frame *f)
{
	if (len < 1)
		return 0;
	memset(f, 0, sizeof(*f));
	f->type = buf[0];
	if (buf[0] == RELOAD_FH_ACK) {
		if (len < RELOAD_FH_ACK_LEN)
			return 0;
		f->seq = pcdn_get_be32(buf + 1);
		f->mask = pcdn_get_be32(buf + 5);
		return RELOAD_FH_ACK_LEN;
	}
	if (buf[0] != RELOAD_FH_DATA)
		return -EBADMSG;
	if (len < RELOAD_FH_DATA_HDR)
		return 0;
	f->seq = pcdn_get_be32(buf + 1);
	f->msg_len = ((uint32_t)buf[5] << 16) | ((uint32_t)buf[6] << 8) | buf[7];
	/* §6.6: a message above max-message-size closes the session before it is complete. */
	if (f->msg_len > max_msg)
		return -EMSGSIZE;
	if (len - RELOAD_FH_DATA_HDR < f->msg_len)
		return 0;
	f->msg = buf + RELOAD_FH_DATA_HDR;
	return (int)(RELOAD_FH_DATA_HDR + f->msg_len);
}

/* ---- RFC 6298 ---------------------------------------------------------------------------- */

#define RTO_MIN_MS 1000u /* RFC 6298 §2.4 */
#define RTO_MAX_MS 60000u

void reload_rto_init(struct reload_rto *r, uint32_t initial_ms)
{
	memset(r, 0, sizeof(*r));
	r->rto_ms = initial_ms;
	r->min_ms = PCDN_MAX(PCDN_MIN(initial_ms, RTO_MIN_MS), 10u);
}

void reload_rto_sample(struct reload_rto *r, uint32_t rtt_us)
{
	uint64_t rto_us;

	if (!r->have_sample) {
		r->srtt_us = rtt_us; /* (2.2) */
		r->rttvar_us = rtt_us / 2;
		r->have_sample = true;
	} else {
		uint32_t diff = r->srtt_us > rtt_us ? r->srtt_us - rtt_us : rtt_us - r->srtt_us;

		r->rttvar_us = (3 * r->rttvar_us + diff) / 4; /* (2.3), beta = 1/4 */
		r->srtt_us = (7 * r->srtt_us + rtt_us) / 8;   /* alpha = 1/8 */
	}
	/* RTO = SRTT + max(G, 4*RTTVAR), G = 1 ms clock granularity; rounded up to a ms. */
	rto_us = (uint64_t)r->srtt_us + PCDN_MAX(1000u, 4ull * r->rttvar_us);
	r->rto_ms = (uint32_t)PCDN_MIN(PCDN_MAX((rto_us + 999) / 1000, (uint64_t)r->min_ms),
				       RTO_MAX_MS);
}

void reload_rto_backoff(struct reload_rto *r)
{
	r->rto_ms = PCDN_MIN(r->rto_ms * 2, RTO_MAX_MS);
}

/* ---- (D)TLS contexts --------------------------------------------------------------------- */

static char keylog_path[4096];

/* NSS key log format lines, so a capture of the overlay can be decrypted in Wireshark. */
static void keylog_cb(const SSL *ssl, const char *line)
{
	int fd;
	size_t n = strlen(line);
	char buf[1024];

	(void)ssl;
	if (!keylog_path[0] || n + 2 > sizeof(buf))
		return;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	/* O_APPEND keeps lines from several processes sharing one file whole. */
	fd = open(keylog_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, n) != (ssize_t)n)
		PCDN_LOG(link_log, WARNING, "SSLKEYLOGFILE %s: short write", keylog_path);
	close(fd);
}

void reload_link_keylog_install(SSL_CTX *ctx)
{
	const char *p = getenv("SSLKEYLOGFILE");

	if (!p || !*p || strlen(p) >= sizeof(keylog_path))
		return;
	snprintf(keylog_path, sizeof(keylog_path), "%s", p);
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
}

static int verify_self_signed_ok(int preverify, X509_STORE_CTX *x)
{
	int err = X509_STORE_CTX_get_error(x);

	if (preverify)
		return 1;
	/* Self-signed overlays (§11.3.1): the certificate is its own anchor; the Node-ID binding is
	 * what the upper layer checks. */
	return err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	       err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	       err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

SSL_CTX *reload_link_ssl_ctx_new(bool dtls, X509 *cert, EVP_PKEY *key, X509_STORE *roots,
				 bool allow_self_signed)
{
	SSL_CTX *ctx = SSL_CTX_new(dtls ? DTLS_method() : TLS_method());

	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	/* RFC 6940 links are TLS 1.2 [RFC5246] and DTLS 1.2 [RFC6347] */
	if (dtls) {
		SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
	} else {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	}
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		PCDN_LOG(link_log, ERR, "certificate and key do not match or are unusable");
		SSL_CTX_free(ctx);
		errno = EINVAL;
		return NULL;
	}
	if (roots) {
		X509_STORE_up_ref(roots);
		SSL_CTX_set_cert_store(ctx, roots);
	}
	/* Both ends of every RELOAD link authenticate (§6.6.1: endpoint authentication). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   allow_self_signed || !roots ? verify_self_signed_ok : NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (dtls)
		SSL_CTX_set_read_ahead(ctx, 1);
	reload_link_keylog_install(ctx);
	return ctx;
}

/* ---- link lifecycle ---------------------------------------------------------------------- */

struct reload_link *link_alloc(struct reload_link_endpoint *ep, const struct pcdn_addr *peer,
			       bool initiator)
{
	struct reload_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ep = ep;
	l->type = ep->type;
	l->initiator = initiator;
	l->peer = *peer;
	reload_rto_init(&l->rto, ep->cfg.initial_rto_ms);
	l->next = ep->links;
	if (ep->links)
		ep->links->prev = l;
	ep->links = l;
	return l;
}

static void link_free(struct reload_link *l)
{
	struct reload_link_endpoint *ep = l->ep;

	if (l->prev)
		l->prev->next = l->next;
	else if (ep->links == l)
		ep->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	if (l->type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		tls_link_teardown(l, false);
	else
		dtls_link_teardown(l, false);
	while (l->q_head) {
		struct link_msg *m = l->q_head;

		l->q_head = m->next;
		free(m);
	}
	if (l->peer_cert)
		X509_free(l->peer_cert);
	free(l);
}

void link_hold(struct reload_link *l)
{
	l->holds++;
}

void link_release(struct reload_link *l)
{
	if (--l->holds == 0 && l->closing)
		link_free(l);
}

void link_fail(struct reload_link *l, enum reload_link_down why)
{
	if (l->closing)
		return;
	link_hold(l);
	l->closing = true;
	l->up = false;
	if (!l->down_sent && !l->ep->freeing) {
		char a[64];

		l->down_sent = true;
		PCDN_LOG(link_log, INFO, "link to %s down: %s",
			 pcdn_addr_format(&l->peer, a, sizeof(a)), reload_link_down_name(why));
		if (l->ep->cbs.on_down)
			l->ep->cbs.on_down(l, why, l->ep->arg);
	}
	link_release(l);
}

bool link_handshake_done(struct reload_link *l)
{
	int rc = 0;

	l->peer_cert = SSL_get1_peer_certificate(l->ssl);
	if (!l->peer_cert)
		rc = -EACCES;
	l->up = true;
	l->last_ack_us = pcdn_now_us();
	if (!rc && l->ep->cbs.on_up)
		rc = l->ep->cbs.on_up(l, l->ep->arg);
	if (rc < 0) {
		char a[64];

		PCDN_LOG(link_log, WARNING, "link to %s refused: %s",
			 pcdn_addr_format(&l->peer, a, sizeof(a)), pcdn_strerror(rc));
		l->down_sent = true; /* the upper layer refused it: no on_down */
		link_hold(l);
		l->closing = true;
		l->up = false;
		link_release(l);
		return false;
	}
	return true;
}

void link_deliver(struct reload_link *l, const uint8_t *msg, size_t len)
{
	l->stats.frames_received++;
	if (!l->closing && l->ep->cbs.on_message)
		l->ep->cbs.on_message(l, msg, len, l->ep->arg);
}

void link_note_sent(struct reload_link *l, uint32_t seq)
{
	struct link_sent *s = &l->sent[seq % LINK_SENT_RING];

	s->seq = seq;
	s->t_us = pcdn_now_us();
	l->stats.frames_sent++;
}

bool link_note_ack(struct reload_link *l, uint32_t seq)
{
	struct link_sent *s = &l->sent[seq % LINK_SENT_RING];
	uint64_t now = pcdn_now_us();

	l->stats.acks_received++;
	l->last_ack_us = now;
	if (s->t_us == 0 || s->seq != seq)
		return false;
	reload_rto_sample(&l->rto, (uint32_t)PCDN_MIN(now - s->t_us, UINT32_MAX));
	s->t_us = 0;
	if (l->suspect)
		link_set_suspect(l, false);
	return true;
}

void link_set_suspect(struct reload_link *l, bool suspect)
{
	if (l->suspect == suspect || l->closing)
		return;
	l->suspect = suspect;
	if (l->ep->cbs.on_suspect)
		l->ep->cbs.on_suspect(l, suspect, l->ep->arg);
}

/* ---- public API -------------------------------------------------------------------------- */

struct reload_link_endpoint *reload_link_endpoint_new(struct event_base *base,
						      enum reload_overlay_link_type type, SSL_CTX *ctx,
						      const struct pcdn_addr *bind_addr,
						      const struct reload_link_config *cfg,
						      const struct reload_link_cbs *cbs, void *arg)
{
	struct reload_link_endpoint *ep;
	int rc;

	if (!base || !ctx || !bind_addr || !cbs ||
	    (type != RELOAD_LINK_TLS_TCP_FH_NO_ICE && type != RELOAD_LINK_DTLS_UDP_SR_NO_ICE &&
	     type != RELOAD_LINK_DTLS_UDP_SR)) {
		errno = EINVAL;
		return NULL;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		errno = ENOMEM;
		return NULL;
	}
	ep->base = base;
	ep->type = type;
	ep->ctx = ctx;
	SSL_CTX_up_ref(ctx);
	if (cfg)
		ep->cfg = *cfg;
	else
		reload_link_config_default(&ep->cfg);
	if (ep->cfg.initial_rto_ms == 0)
		ep->cfg.initial_rto_ms = 500;
	if (ep->cfg.fh_fail_ms == 0)
		ep->cfg.fh_fail_ms = 30000;
	if (ep->cfg.max_message_size == 0 || ep->cfg.max_message_size > RELOAD_FH_MAX_MESSAGE)
		ep->cfg.max_message_size = RELOAD_FH_MAX_MESSAGE;
	ep->cbs = *cbs;
	ep->arg = arg;
	ep->addr = *bind_addr;
	ep->fd = -1;
	rc = type == RELOAD_LINK_TLS_TCP_FH_NO_ICE ? tls_endpoint_open(ep) : dtls_endpoint_open(ep);
	if (rc < 0) {
		SSL_CTX_free(ep->ctx);
		free(ep);
		errno = -rc;
		return NULL;
	}
	return ep;
}

void reload_link_endpoint_free(struct reload_link_endpoint *ep)
{
	if (!ep)
		return;
	ep->freeing = true;
	while (ep->links) {
		struct reload_link *l = ep->links;

		l->holds = 0;
		l->closing = true;
		link_free(l);
	}
	if (ep->type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		tls_endpoint_close(ep);
	else
		dtls_endpoint_close(ep);
	SSL_CTX_free(ep->ctx);
	free(ep);
}

int reload_link_endpoint_addr(const struct reload_link_endpoint *ep, struct pcdn_addr *out)
{
	*out = ep->addr;
	return 0;
}

enum reload_overlay_link_type reload_link_endpoint_type(const struct reload_link_endpoint *ep)
{
	return ep->type;
}

struct reload_link *reload_link_connect(struct reload_link_endpoint *ep,
					const struct pcdn_addr *peer)
{
	if (!ep || !peer) {
		errno = EINVAL;
		return NULL;
	}
	if (ep->type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		return tls_link_connect(ep, peer);
	return dtls_link_connect(ep, peer);
}

int reload_link_send(struct reload_link *l, const uint8_t *msg, size_t len)
{
	if (!l->up || l->closing)
		return -ENOTCONN;
	if (len > l->ep->cfg.max_message_size || len > RELOAD_FH_MAX_MESSAGE)
		return -EMSGSIZE;
	if (l->type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		return tls_link_send(l, msg, len);
	if (len > RELOAD_DTLS_MAX_MESSAGE)
		return -EMSGSIZE;
	return dtls_link_send(l, msg, len);
}

void reload_link_close(struct reload_link *l)
{
	if (!l || l->closing)
		return;
	l->down_sent = true;
	if (l->type == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
		tls_link_teardown(l, true);
	else
		dtls_link_teardown(l, true);
	link_hold(l);
	l->closing = true;
	l->up = false;
	link_release(l);
}

bool reload_link_is_up(const struct reload_link *l)
{
	return l->up && !l->closing;
}

bool reload_link_is_initiator(const struct reload_link *l)
{
	return l->initiator;
}

enum reload_overlay_link_type reload_link_get_type(const struct reload_link *l)
{
	return l->type;
}

const struct pcdn_addr *reload_link_peer_addr(const struct reload_link *l)
{
	return &l->peer;
}

X509 *reload_link_peer_cert(const struct reload_link *l)
{
	return l->peer_cert;
}

void reload_link_set_user(struct reload_link *l, void *user)
{
	l->user = user;
}

void *reload_link_user(const struct reload_link *l)
{
	return l->user;
}

void reload_link_get_stats(const struct reload_link *l, struct reload_link_stats *out)
{
	*out = l->stats;
	out->srtt_us = l->rto.srtt_us;
	out->rttvar_us = l->rto.rttvar_us;
	out->rto_ms = l->rto.rto_ms;
	out->queued = l->queued;
	out->suspect = l->suspect;
}
