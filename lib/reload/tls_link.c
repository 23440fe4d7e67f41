/* RFC 6940 §6.6.5: TLS over TCP with the framing header, No-ICE (TLS-TCP-FH-NO-ICE). TCP is
 * reliable, so the framing header only measures RTT: every data frame is ACKed at once, the
 * RFC 6298 RTO is computed from the ACKs, an ACK missing for four RTOs marks the link suspect
 * (out of the routing table) and one missing for 30 s closes it. */
#include "link_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>

/* Oldest data frame not yet ACKed, by send time; 0 when none is outstanding. */
static uint64_t oldest_unacked_us(const struct reload_link *l)
{
	uint64_t oldest = 0;

	for (unsigned i = 0; i < LINK_SENT_RING; i++) {
		uint64_t t = l->sent[i].t_us;

		if (t && (!oldest || t < oldest))
			oldest = t;
	}
	return oldest;
}

static void fh_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_link *l = arg;
	uint64_t now = pcdn_now_us(), oldest = oldest_unacked_us(l);
	struct timeval tv = { 0, 100000 };

	(void)fd;
	(void)what;
	if (oldest) {
		uint64_t age_ms = (now - oldest) / 1000;

		if (age_ms >= l->ep->cfg.fh_fail_ms) {
			link_fail(l, RELOAD_LINK_DOWN_TIMEOUT);
			return;
		}
		/* Four RTOs without an ACK on a reliable stream: the peer is not processing (an
		 * ACK delayed by a busy peer must not pull it out of routing each time). */
		if (age_ms >= 4ull * l->rto.rto_ms)
			link_set_suspect(l, true);
	}
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)PCDN_MAX(10u, PCDN_MIN(l->rto.rto_ms, 1000u)) * 1000;
	evtimer_add(l->fh_timer, &tv);
}

static void tls_read_cb(struct bufferevent *bev, void *arg)
{
	struct reload_link *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	link_hold(l);
	while (!l->closing) {
		size_t avail = evbuffer_get_length(in);
		struct reload_fh_frame f;
		uint8_t *p;
		int n;

		if (avail == 0)
			break;
		/* Parse the header first so a huge declared length fails before it is buffered. */
		p = evbuffer_pullup(in, (ev_ssize_t)PCDN_MIN(avail, (size_t)RELOAD_FH_ACK_LEN));
		n = reload_fh_parse(p, PCDN_MIN(avail, (size_t)RELOAD_FH_ACK_LEN),
				    l->ep->cfg.max_message_size, &f);
		if (n == 0 && f.type == RELOAD_FH_DATA && avail >= RELOAD_FH_DATA_HDR) {
			size_t total = RELOAD_FH_DATA_HDR + (size_t)f.msg_len;

			if (avail < total)
				break;
			p = evbuffer_pullup(in, (ev_ssize_t)total);
			n = reload_fh_parse(p, total, l->ep->cfg.max_message_size, &f);
		}
		if (n < 0) {
			link_fail(l, n == -EMSGSIZE ? RELOAD_LINK_DOWN_TOO_LARGE
						    : RELOAD_LINK_DOWN_ERROR);
			break;
		}
		if (n == 0)
			break;
		if (f.type == RELOAD_FH_ACK) {
			link_note_ack(l, f.seq);
		} else {
			uint8_t ack[RELOAD_FH_ACK_LEN];

			/* §6.6.2: ACK immediately, with the 32 most recent sequence numbers. */
			reload_fh_put_ack(ack, f.seq, reload_fh_rx_mask(&l->rx, f.seq));
			reload_fh_rx_record(&l->rx, f.seq);
			bufferevent_write(bev, ack, sizeof(ack));
			link_deliver(l, f.msg, f.msg_len);
		}
		if (!l->closing)
			evbuffer_drain(in, (size_t)n);
	}
	link_release(l);
}

static void tls_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct reload_link *l = arg;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		struct timeval tv = { 0, 100000 };

		if (!link_handshake_done(l))
			return;
		evtimer_add(l->fh_timer, &tv);
		return;
	}
	if (events & BEV_EVENT_EOF) {
		link_fail(l, RELOAD_LINK_DOWN_CLOSED);
	} else if (events & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		unsigned long e;
		int serr = EVUTIL_SOCKET_ERROR();

		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			char buf[256];

			ERR_error_string_n(e, buf, sizeof(buf));
			PCDN_LOG(link_log, INFO, "TLS: %s", buf);
		}
		link_fail(l, !l->up && serr == ECONNREFUSED ? RELOAD_LINK_DOWN_REFUSED
							   : RELOAD_LINK_DOWN_ERROR);
	}
}

static int link_setup(struct reload_link *l, evutil_socket_t fd, bool accept)
{
	int one = 1;

	l->ssl = SSL_new(l->ep->ctx);
	if (!l->ssl)
		return -ENOMEM;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	l->bev = bufferevent_openssl_socket_new(
		l->ep->base, fd, l->ssl,
		accept ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE);
	if (!l->bev) {
		SSL_free(l->ssl);
		l->ssl = NULL;
		return -ENOMEM;
	}
	/* the bufferevent owns the SSL from here */
	bufferevent_openssl_set_allow_dirty_shutdown(l->bev, 1);
	l->fh_timer = evtimer_new(l->ep->base, fh_timer_cb, l);
	if (!l->fh_timer)
		return -ENOMEM;
	bufferevent_setcb(l->bev, tls_read_cb, NULL, tls_event_cb, l);
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	return 0;
}

static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct reload_link_endpoint *ep = arg;
	struct pcdn_addr peer;
	struct reload_link *l;

	(void)lst;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer.ss, sa, PCDN_MIN((size_t)salen, sizeof(peer.ss)));
	peer.len = (socklen_t)salen;
	l = link_alloc(ep, &peer, false);
	if (!l) {
		close(fd);
		return;
	}
	if (link_setup(l, fd, true) < 0) {
		if (!l->bev)
			close(fd);
		link_hold(l);
		l->closing = true;
		l->down_sent = true;
		link_release(l);
	}
}

int tls_endpoint_open(struct reload_link_endpoint *ep)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	ep->listener = evconnlistener_new_bind(
		ep->base, accept_cb, ep,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
		(const struct sockaddr *)&ep->addr.ss, (int)ep->addr.len);
	if (!ep->listener)
		return errno ? -errno : -EADDRINUSE;
	ep->fd = evconnlistener_get_fd(ep->listener);
	if (getsockname(ep->fd, (struct sockaddr *)&ss, &len) == 0) {
		memcpy(&ep->addr.ss, &ss, len);
		ep->addr.len = len;
	}
	return 0;
}

void tls_endpoint_close(struct reload_link_endpoint *ep)
{
	if (ep->listener)
		evconnlistener_free(ep->listener);
	ep->listener = NULL;
}

struct reload_link *tls_link_connect(struct reload_link_endpoint *ep, const struct pcdn_addr *to)
{
	struct reload_link *l = link_alloc(ep, to, true);
	int rc;

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	rc = link_setup(l, -1, false);
	if (rc == 0 && bufferevent_socket_connect(l->bev, (const struct sockaddr *)&to->ss,
						  (int)to->len) < 0)
		rc = -ECONNREFUSED;
	if (rc < 0) {
		link_hold(l);
		l->closing = true;
		l->down_sent = true;
		link_release(l);
		errno = -rc;
		return NULL;
	}
	return l;
}

int tls_link_send(struct reload_link *l, const uint8_t *msg, size_t len)
{
	uint8_t hdr[RELOAD_FH_DATA_HDR];
	uint32_t seq = l->tx_seq++;

	reload_fh_put_data_header(hdr, seq, (uint32_t)len);
	if (bufferevent_write(l->bev, hdr, sizeof(hdr)) < 0 ||
	    bufferevent_write(l->bev, msg, len) < 0)
		return -ENOMEM;
	link_note_sent(l, seq);
	return 0;
}

void tls_link_teardown(struct reload_link *l, bool orderly)
{
	(void)orderly; /* freeing the bufferevent sends close_notify (BEV_OPT_CLOSE_ON_FREE) */
	if (l->fh_timer) {
		event_free(l->fh_timer);
		l->fh_timer = NULL;
	}
	if (l->bev) {
		bufferevent_free(l->bev);
		l->bev = NULL;
		l->ssl = NULL;
	}
}
