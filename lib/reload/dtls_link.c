/* RFC 6940 §6.6.3, §6.6.4, §6.6.6: DTLS over UDP with Simple Reliability, No-ICE
 * (DTLS-UDP-SR-NO-ICE). One UDP socket per endpoint carries every DTLS association; datagrams
 * are demultiplexed by peer address into memory BIOs. The sender is the stop-and-wait algorithm
 * of §6.6.3.1: one unacknowledged message at a time, RTO from RFC 6298 (static initial value
 * until the first ACK), doubled on each retransmission, a new sequence number per
 * transmission, at most 5 transmissions, 10 ms between an ACK and the next message. A hard ICMP
 * error (port unreachable, read from the socket's error queue) ends the link at once. */
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>

#define DTLS_MTU 1400	     /* handshake fragmentation; loopback and LANs carry more */
#define DTLS_DGRAM_MAX 65536
#define SR_MAX_TRANSMISSIONS 5
#define SR_PACE_MS 10

static uint8_t dgram_buf[DTLS_DGRAM_MAX];

static struct reload_link *find_link(struct reload_link_endpoint *ep, const struct pcdn_addr *a)
{
	for (struct reload_link *l = ep->links; l; l = l->next)
		if (!l->closing && pcdn_addr_equal(&l->peer, a))
			return l;
	return NULL;
}

/* Sends what OpenSSL wrote into the memory BIO, records grouped into datagrams of at most the
 * MTU (a record never spans datagrams, RFC 6347 §4.1.1). */
static void flush_out(struct reload_link *l)
{
	static uint8_t out[DTLS_DGRAM_MAX];
	int n;

	if (!l->wbio)
		return;
	while ((n = BIO_read(l->wbio, out, sizeof(out))) > 0) {
		size_t off = 0, start = 0;

		while (off < (size_t)n) {
			size_t rec = 13;

			if ((size_t)n - off >= 13)
				rec += ((size_t)out[off + 11] << 8) | out[off + 12];
			if (off + rec > (size_t)n)
				rec = (size_t)n - off;
			if (off > start && off + rec - start > DTLS_MTU) {
				sendto(l->ep->fd, out + start, off - start, 0,
				       (const struct sockaddr *)&l->peer.ss, l->peer.len);
				start = off;
			}
			off += rec;
		}
		if (off > start)
			sendto(l->ep->fd, out + start, off - start, 0,
			       (const struct sockaddr *)&l->peer.ss, l->peer.len);
	}
}

static void arm_dtls_timer(struct reload_link *l)
{
	struct timeval tv;

	if (!l->ssl || l->closing)
		return;
	if (DTLSv1_get_timeout(l->ssl, &tv) == 1)
		evtimer_add(l->dtls_timer, &tv);
	else
		evtimer_del(l->dtls_timer);
}

static void dtls_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_link *l = arg;

	(void)fd;
	(void)what;
	if (DTLSv1_handle_timeout(l->ssl) < 0) {
		link_fail(l, RELOAD_LINK_DOWN_TIMEOUT);
		return;
	}
	flush_out(l);
	arm_dtls_timer(l);
}

static void sr_arm(struct reload_link *l, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(l->sr_timer, &tv);
}

static int sr_transmit(struct reload_link *l)
{
	struct link_msg *m = l->q_head;
	uint32_t seq = l->tx_seq++;
	int rc;

	reload_fh_put_data_header(m->data, seq, (uint32_t)(m->len - RELOAD_FH_DATA_HDR));
	if (m->transmissions == 0) {
		l->inflight_seq_first = seq;
		l->first_unacked_us = pcdn_now_us();
		l->cur_wait_ms = l->rto.rto_ms;
	}
	m->transmissions++;
	rc = SSL_write(l->ssl, m->data, (int)m->len);
	if (rc <= 0)
		return -EIO;
	link_note_sent(l, seq);
	flush_out(l);
	l->in_flight = true;
	sr_arm(l, l->cur_wait_ms);
	return 0;
}

static void sr_kick(struct reload_link *l)
{
	uint64_t now;

	if (l->in_flight || !l->q_head || !l->up || l->closing)
		return;
	now = pcdn_now_us();
	if (now < l->pace_until_us) {
		sr_arm(l, (uint32_t)((l->pace_until_us - now + 999) / 1000));
		return;
	}
	if (sr_transmit(l) < 0)
		link_fail(l, RELOAD_LINK_DOWN_ERROR);
}

static void sr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_link *l = arg;

	(void)fd;
	(void)what;
	if (!l->in_flight) {
		sr_kick(l); /* the 10 ms after an ACK have passed */
		return;
	}
	if (l->q_head->transmissions >= SR_MAX_TRANSMISSIONS) {
		/* §6.6.3.1: all retransmissions failed: close the connection. */
		link_fail(l, RELOAD_LINK_DOWN_TIMEOUT);
		return;
	}
	/* No ACK for an RTO and three retransmissions beyond it: take the link out of routing. */
	if (l->q_head->transmissions >= 4 && l->last_ack_us < l->first_unacked_us)
		link_set_suspect(l, true);
	l->stats.retransmissions++;
	l->cur_wait_ms = PCDN_MIN(l->cur_wait_ms * 2, 60000u);
	reload_rto_backoff(&l->rto);
	if (sr_transmit(l) < 0)
		link_fail(l, RELOAD_LINK_DOWN_ERROR);
}

static void sr_on_ack(struct reload_link *l, uint32_t seq)
{
	link_note_ack(l, seq);
	if (!l->in_flight)
		return;
	/* Any transmission of the in-flight message counts (each got its own sequence). */
	if ((uint32_t)(seq - l->inflight_seq_first) >= (uint32_t)(l->tx_seq - l->inflight_seq_first))
		return;
	struct link_msg *m = l->q_head;

	l->q_head = m->next;
	if (!l->q_head)
		l->q_tail = NULL;
	l->queued--;
	free(m);
	l->in_flight = false;
	evtimer_del(l->sr_timer);
	l->pace_until_us = pcdn_now_us() + SR_PACE_MS * 1000;
	if (l->q_head)
		sr_arm(l, SR_PACE_MS);
}

static void handle_record(struct reload_link *l, const uint8_t *p, size_t n)
{
	struct reload_fh_frame f;
	int rc = reload_fh_parse(p, n, l->ep->cfg.max_message_size, &f);

	if (rc < 0 || (rc == 0 && n > 0)) {
		/* A record is one whole frame: anything else is a framing error. */
		link_fail(l, rc == -EMSGSIZE ? RELOAD_LINK_DOWN_TOO_LARGE : RELOAD_LINK_DOWN_ERROR);
		return;
	}
	if (f.type == RELOAD_FH_ACK) {
		sr_on_ack(l, f.seq);
		return;
	}
	uint8_t ack[RELOAD_FH_ACK_LEN];

	reload_fh_put_ack(ack, f.seq, reload_fh_rx_mask(&l->rx, f.seq));
	reload_fh_rx_record(&l->rx, f.seq);
	if (SSL_write(l->ssl, ack, sizeof(ack)) > 0)
		flush_out(l);
	link_deliver(l, f.msg, f.msg_len);
}

static void dtls_input(struct reload_link *l, const uint8_t *buf, size_t len)
{
	static uint8_t plain[16384 + 64];
	int r;

	link_hold(l);
	BIO_write(l->rbio, buf, (int)len);
	if (!l->up) {
		r = SSL_do_handshake(l->ssl);
		flush_out(l);
		if (r == 1) {
			if (!link_handshake_done(l))
				goto out;
			sr_kick(l);
		} else {
			int e = SSL_get_error(l->ssl, r);

			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				unsigned long ec;

				while ((ec = ERR_get_error()) != 0) {
					char b[256];

					ERR_error_string_n(ec, b, sizeof(b));
					PCDN_LOG(link_log, INFO, "DTLS handshake: %s", b);
				}
				link_fail(l, RELOAD_LINK_DOWN_ERROR);
				goto out;
			}
		}
	}
	while (l->up && !l->closing) {
		r = SSL_read(l->ssl, plain, sizeof(plain));
		if (r > 0) {
			handle_record(l, plain, (size_t)r);
			continue;
		}
		int e = SSL_get_error(l->ssl, r);

		if (e == SSL_ERROR_ZERO_RETURN)
			link_fail(l, RELOAD_LINK_DOWN_CLOSED);
		else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			link_fail(l, RELOAD_LINK_DOWN_ERROR);
		break;
	}
	if (!l->closing) {
		flush_out(l);
		arm_dtls_timer(l);
	}
	/* Leftover bytes of a datagram that OpenSSL did not consume are not carried over. */
	if (l->rbio)
		(void)BIO_reset(l->rbio);
out:
	link_release(l);
}

static int link_setup(struct reload_link *l, bool accept)
{
	l->ssl = SSL_new(l->ep->ctx);
	l->rbio = BIO_new(BIO_s_mem());
	l->wbio = BIO_new(BIO_s_mem());
	l->dtls_timer = evtimer_new(l->ep->base, dtls_timer_cb, l);
	l->sr_timer = evtimer_new(l->ep->base, sr_timer_cb, l);
	if (!l->ssl || !l->rbio || !l->wbio || !l->dtls_timer || !l->sr_timer) {
		BIO_free(l->rbio);
		BIO_free(l->wbio);
		l->rbio = l->wbio = NULL;
		return -ENOMEM;
	}
	BIO_set_mem_eof_return(l->rbio, -1);
	BIO_set_mem_eof_return(l->wbio, -1);
	SSL_set_bio(l->ssl, l->rbio, l->wbio);
	SSL_set_options(l->ssl, SSL_OP_NO_QUERY_MTU);
	DTLS_set_link_mtu(l->ssl, DTLS_MTU);
	if (accept)
		SSL_set_accept_state(l->ssl);
	else
		SSL_set_connect_state(l->ssl);
	return 0;
}

static void drop_link(struct reload_link *l)
{
	link_hold(l);
	l->closing = true;
	l->down_sent = true;
	link_release(l);
}

/* ICMP errors queued by IP_RECVERR: a hard error for a peer ends its link (§6.6.3.1). */
static void read_errqueue(struct reload_link_endpoint *ep)
{
	for (int i = 0; i < 16; i++) {
		struct pcdn_addr a;
		char ctrl[512];
		struct iovec iov = { dgram_buf, sizeof(dgram_buf) };
		struct msghdr mh = { .msg_name = &a.ss, .msg_namelen = sizeof(a.ss),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctrl, .msg_controllen = sizeof(ctrl) };
		bool refused = false;

		memset(&a, 0, sizeof(a));
		if (recvmsg(ep->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		a.len = mh.msg_namelen;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
				struct sock_extended_err ee;

				memcpy(&ee, CMSG_DATA(c), sizeof(ee));
				if (ee.ee_errno == ECONNREFUSED || ee.ee_errno == EHOSTUNREACH ||
				    ee.ee_errno == ENETUNREACH)
					refused = true;
			}
		}
		struct reload_link *l = refused ? find_link(ep, &a) : NULL;

		if (l)
			link_fail(l, RELOAD_LINK_DOWN_REFUSED);
	}
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reload_link_endpoint *ep = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct pcdn_addr a;
		ssize_t n;
		struct reload_link *l;

		memset(&a, 0, sizeof(a));
		a.len = sizeof(a.ss);
		n = recvfrom(fd, dgram_buf, sizeof(dgram_buf), 0, (struct sockaddr *)&a.ss, &a.len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			read_errqueue(ep);
			continue;
		}
		l = find_link(ep, &a);
		/* RFC 6347 §4.2.8: a ClientHello at epoch 0 from the address of an existing
		 * association is a new association (the peer restarted): the old one is gone. */
		if (l && n >= 14 && dgram_buf[0] == 22 && dgram_buf[3] == 0 && dgram_buf[4] == 0 &&
		    dgram_buf[13] == 1 && l->up) {
			link_fail(l, RELOAD_LINK_DOWN_CLOSED);
			if (ep->freeing)
				return;
			l = NULL;
		}
		if (!l) {
			/* Only a DTLS handshake record (content type 22) opens an association. */
			if (n < 13 || dgram_buf[0] != 22)
				continue;
			l = link_alloc(ep, &a, false);
			if (!l)
				continue;
			if (link_setup(l, true) < 0) {
				drop_link(l);
				continue;
			}
		}
		dtls_input(l, dgram_buf, (size_t)n);
		if (ep->freeing)
			return;
	}
	/* recvfrom() reports an ICMP error only while the socket's pending error is set, and a
	 * sendto() in between takes that error (it returns it to the sender, ignored in
	 * flush_out). The report then stays in the error queue, which keeps EPOLLERR raised: the
	 * loop would call this function over and over with nothing to read, and the stale report
	 * would be read with the next ICMP error, ending whatever association then has its address
	 * (a restarted peer's). So the queue is drained every time, whatever recvfrom() said. */
	read_errqueue(ep);
}

int dtls_endpoint_open(struct reload_link_endpoint *ep)
{
	int one = 1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int family = ep->addr.ss.ss_family;

	ep->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->fd < 0)
		return -errno;
	if (family == AF_INET)
		setsockopt(ep->fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	else
		setsockopt(ep->fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	if (bind(ep->fd, (const struct sockaddr *)&ep->addr.ss, ep->addr.len) < 0) {
		int rc = -errno;

		close(ep->fd);
		ep->fd = -1;
		return rc;
	}
	if (getsockname(ep->fd, (struct sockaddr *)&ss, &len) == 0) {
		memcpy(&ep->addr.ss, &ss, len);
		ep->addr.len = len;
	}
	ep->udp_ev = event_new(ep->base, ep->fd, EV_READ | EV_PERSIST, udp_read_cb, ep);
	if (!ep->udp_ev || event_add(ep->udp_ev, NULL) < 0) {
		if (ep->udp_ev)
			event_free(ep->udp_ev);
		close(ep->fd);
		ep->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

void dtls_endpoint_close(struct reload_link_endpoint *ep)
{
	if (ep->udp_ev)
		event_free(ep->udp_ev);
	ep->udp_ev = NULL;
	if (ep->fd >= 0)
		close(ep->fd);
	ep->fd = -1;
}

struct reload_link *dtls_link_connect(struct reload_link_endpoint *ep,
				      const struct pcdn_addr *to)
{
	struct reload_link *l = find_link(ep, to);
	int r;

	if (l) {
		/* One association per address pair on a shared socket. */
		errno = EALREADY;
		return NULL;
	}
	l = link_alloc(ep, to, true);
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	if (link_setup(l, false) < 0) {
		drop_link(l);
		errno = ENOMEM;
		return NULL;
	}
	r = SSL_do_handshake(l->ssl);
	if (r <= 0 && SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ) {
		drop_link(l);
		errno = EPROTO;
		return NULL;
	}
	flush_out(l);
	arm_dtls_timer(l);
	return l;
}

int dtls_link_send(struct reload_link *l, const uint8_t *msg, size_t len)
{
	struct link_msg *m = malloc(sizeof(*m) + RELOAD_FH_DATA_HDR + len);

	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = RELOAD_FH_DATA_HDR + len;
	m->transmissions = 0;
	memcpy(m->data + RELOAD_FH_DATA_HDR, msg, len);
	if (l->q_tail)
		l->q_tail->next = m;
	else
		l->q_head = m;
	l->q_tail = m;
	l->queued++;
	sr_kick(l);
	return 0;
}

void dtls_link_teardown(struct reload_link *l, bool orderly)
{
	if (orderly && l->ssl && l->up) {
		SSL_shutdown(l->ssl); /* close_notify */
		flush_out(l);
	}
	if (l->dtls_timer) {
		event_free(l->dtls_timer);
		l->dtls_timer = NULL;
	}
	if (l->sr_timer) {
		event_free(l->sr_timer);
		l->sr_timer = NULL;
	}
	if (l->ssl) {
		SSL_free(l->ssl); /* frees both BIOs */
		l->ssl = NULL;
		l->rbio = l->wbio = NULL;
	}
}
