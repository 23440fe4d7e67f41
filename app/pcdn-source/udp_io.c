/* Kernel UDP glue for the PPSPP engine: batching with recvmmsg/sendmmsg (one system call per
 * up to 64 datagrams each way), DATA payloads sent straight from the page cache as a second
 * iovec, and a poll loop driven by the engine's timer. */
#include "udp_io.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

PCDN_LOG_COMPONENT(udp_log, "udp")

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void udp_io_to_peer(const struct sockaddr_storage *ss, struct ppspp_peer_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		out->family = PPSPP_AF_INET4;
		memcpy(out->addr, &s4->sin_addr, 4);
		out->port = ntohs(s4->sin_port);
		return;
	}
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	if (memcmp(&s6->sin6_addr, v4mapped, 12) == 0) {
		out->family = PPSPP_AF_INET4;
		memcpy(out->addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
	} else {
		out->family = PPSPP_AF_INET6;
		memcpy(out->addr, &s6->sin6_addr, 16);
	}
	out->port = ntohs(s6->sin6_port);
}

socklen_t udp_io_from_peer(const struct ppspp_peer_addr *p, int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p->addr, 4);
		s4->sin_port = htons(p->port);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	if (p->family == PPSPP_AF_INET4) {
		memcpy(&s6->sin6_addr, v4mapped, 12);
		memcpy((uint8_t *)&s6->sin6_addr + 12, p->addr, 4);
	} else {
		memcpy(&s6->sin6_addr, p->addr, 16);
	}
	s6->sin6_port = htons(p->port);
	return sizeof(*s6);
}

void udp_io_pcdn_to_peer(const struct pcdn_addr *a, struct ppspp_peer_addr *out)
{
	udp_io_to_peer(&a->ss, out);
}

static void big_buffer(int fd, int opt_force, int opt, int bytes)
{
	/* root may exceed rmem_max/wmem_max; others get what the sysctl allows */
	if (setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

int udp_io_open(struct udp_io *u, const struct pcdn_addr *bind_addr, bool want_v6)
{
	struct sockaddr_storage any;
	socklen_t len;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	if (bind_addr) {
		u->family = bind_addr->ss.ss_family;
	} else {
		u->family = want_v6 ? AF_INET6 : AF_INET;
	}
	u->fd = socket(u->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (u->fd < 0)
		return -errno;
	if (u->family == AF_INET6) {
		int off = 0;
		/* a wildcard IPv6 socket also reaches IPv4 peers (v4-mapped) */
		setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	big_buffer(u->fd, SO_RCVBUFFORCE, SO_RCVBUF, 32 << 20);
	big_buffer(u->fd, SO_SNDBUFFORCE, SO_SNDBUF, 8 << 20);
	if (bind_addr) {
		if (bind(u->fd, (const struct sockaddr *)&bind_addr->ss, bind_addr->len) < 0)
			goto fail;
	} else {
		memset(&any, 0, sizeof(any));
		any.ss_family = (sa_family_t)u->family;
		len =
		    u->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (bind(u->fd, (const struct sockaddr *)&any, len) < 0)
			goto fail;
	}
	if (!getenv("PCDN_NO_UDP_OFFLOAD")) {
		int one = 1;
		u->gso = true; /* probed on first use: a refusal turns it off */
		u->gro = setsockopt(u->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	}
	u->in_buf = malloc((size_t)UDP_IO_BATCH * UDP_IO_DGRAM_MAX);
	if (!u->in_buf) {
		errno = ENOMEM;
		goto fail;
	}
	for (int i = 0; i < UDP_IO_BATCH; i++) {
		u->in_iov[i].iov_base = u->in_buf + (size_t)i * UDP_IO_DGRAM_MAX;
		u->in_iov[i].iov_len = UDP_IO_DGRAM_MAX;
		u->in[i].msg_hdr.msg_iov = &u->in_iov[i];
		u->in[i].msg_hdr.msg_iovlen = 1;
		u->in[i].msg_hdr.msg_name = &u->in_addr[i];
	}
	return 0;
fail:;
	int err = -errno;
	close(u->fd);
	u->fd = -1;
	return err;
}

void udp_io_close(struct udp_io *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	free(u->in_buf);
	u->in_buf = NULL;
}

static size_t out_len(const struct udp_io *u, int i)
{
	return u->out_iov[i][0].iov_len +
	       (u->out[i].msg_hdr.msg_iovlen > 1 ? u->out_iov[i][1].iov_len : 0);
}

static bool same_peer(const struct udp_io *u, int i, int j)
{
	return u->out[i].msg_hdr.msg_namelen == u->out[j].msg_hdr.msg_namelen &&
	       memcmp(&u->out_addr[i], &u->out_addr[j], u->out[i].msg_hdr.msg_namelen) == 0;
}

/* Sends msgs[0..n) with sendmmsg, waiting for room when the socket buffer is full. Returns 0, or
 * -EINVAL/-EIO when the first message was refused as a whole (a GSO buffer the kernel does not
 * take). */
static int send_all(struct udp_io *u, struct mmsghdr *msgs, int n)
{
	int done = 0;

	while (done < n) {
		int rc = sendmmsg(u->fd, msgs + done, (unsigned)(n - done), 0);
		u->sendmmsg_calls++;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* socket buffer full: wait for room rather than drop */
				struct pollfd p = {.fd = u->fd, .events = POLLOUT};
				poll(&p, 1, 10);
				continue;
			}
			if ((errno == EINVAL || errno == EIO) && u->gso)
				return -errno;
			/* e.g. an unreachable address: that datagram is lost, the rest goes on */
			u->send_errors++;
			done++;
			continue;
		}
		done += rc;
	}
	return 0;
}

int udp_io_flush(struct udp_io *u)
{
	if (u->n_out == 0)
		return 0;
	if (u->gso) {
		/* runs of datagrams to one peer with one size (the last may be shorter) become
		 * one buffer the kernel cuts into datagrams (UDP_SEGMENT) */
		int g = 0, iv = 0;
		for (int i = 0; i < u->n_out;) {
			size_t size = out_len(u, i), total = size;
			int j = i + 1;
			while (j < u->n_out && same_peer(u, i, j) && out_len(u, j) <= size &&
			       total + out_len(u, j) <= 65000 && j - i < 64) {
				total += out_len(u, j);
				j++;
				if (out_len(u, j - 1) < size)
					break;
			}
			struct msghdr *m = &u->gmsg[g].msg_hdr;
			memset(&u->gmsg[g], 0, sizeof(u->gmsg[g]));
			m->msg_name = &u->out_addr[i];
			m->msg_namelen = u->out[i].msg_hdr.msg_namelen;
			m->msg_iov = &u->giov[iv];
			for (int k = i; k < j; k++) {
				for (size_t x = 0; x < u->out[k].msg_hdr.msg_iovlen; x++)
					u->giov[iv++] = u->out_iov[k][x];
			}
			m->msg_iovlen = (size_t)(&u->giov[iv] - (struct iovec *)m->msg_iov);
			if (j - i > 1) {
				m->msg_control = u->gctl[g];
				m->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
				struct cmsghdr *cm = CMSG_FIRSTHDR(m);
				cm->cmsg_level = SOL_UDP;
				cm->cmsg_type = UDP_SEGMENT;
				cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
				uint16_t seg = (uint16_t)size;
				memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
				u->gso_buffers++;
			}
			g++;
			i = j;
		}
		if (send_all(u, u->gmsg, g) == 0) {
			u->n_out = 0;
			return 0;
		}
		/* the kernel refused segmentation offload: plain datagrams from now on */
		PCDN_LOG(udp_log, NOTICE, "UDP segmentation offload refused: %s", strerror(errno));
		u->gso = false;
	}
	send_all(u, u->out, u->n_out);
	u->n_out = 0;
	return 0;
}

int udp_io_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hdr_len,
		const void *payload, size_t payload_len, void *payload_ref)
{
	struct udp_io *u = ctx;
	(void)payload_ref; /* the mapping outlives the batch: flushed before the next input */

	if (hdr_len > UDP_IO_HDR_MAX)
		return -EMSGSIZE;
	if (to->family == PPSPP_AF_INET6 && u->family == AF_INET)
		return -EAFNOSUPPORT;
	if (u->n_out == UDP_IO_BATCH)
		udp_io_flush(u);
	int i = u->n_out++;
	memcpy(u->out_hdr[i], hdr, hdr_len);
	u->out_iov[i][0].iov_base = u->out_hdr[i];
	u->out_iov[i][0].iov_len = hdr_len;
	u->out_iov[i][1].iov_base = (void *)(uintptr_t)payload;
	u->out_iov[i][1].iov_len = payload_len;
	memset(&u->out[i], 0, sizeof(u->out[i]));
	u->out[i].msg_hdr.msg_iov = u->out_iov[i];
	u->out[i].msg_hdr.msg_iovlen = payload_len ? 2 : 1;
	u->out[i].msg_hdr.msg_name = &u->out_addr[i];
	u->out[i].msg_hdr.msg_namelen = udp_io_from_peer(to, u->family, &u->out_addr[i]);
	return 0;
}

int udp_io_receive(struct udp_io *u)
{
	for (int i = 0; i < UDP_IO_BATCH; i++) {
		u->in[i].msg_hdr.msg_namelen = sizeof(u->in_addr[i]);
		u->in[i].msg_hdr.msg_flags = 0;
		u->in[i].msg_hdr.msg_control = u->gro ? u->in_ctl[i] : NULL;
		u->in[i].msg_hdr.msg_controllen = u->gro ? sizeof(u->in_ctl[i]) : 0;
	}
	int n = recvmmsg(u->fd, u->in, UDP_IO_BATCH, MSG_DONTWAIT, NULL);
	u->recvmmsg_calls++;
	if (n <= 0)
		return 0;
	uint64_t now = pcdn_now_us();
	int count = 0;
	for (int i = 0; i < n; i++) {
		struct ppspp_peer_addr from;
		const uint8_t *b = u->in_iov[i].iov_base;
		size_t len = u->in[i].msg_len, seg = len;
		udp_io_to_peer(&u->in_addr[i], &from);
		if (u->gro) {
			struct msghdr *m = &u->in[i].msg_hdr;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
				if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
					int v;
					memcpy(&v, CMSG_DATA(cm), sizeof(v));
					if (v > 0)
						seg = (size_t)v;
				}
			}
			if (seg < len)
				u->gro_buffers++;
		}
		/* a coalesced buffer holds datagrams of seg bytes, the last possibly shorter */
		for (size_t off = 0; off < len; off += seg, count++)
			ppspp_engine_input(u->engine, &from, b + off, PCDN_MIN(seg, len - off),
					   now);
	}
	return count;
}

int udp_io_loop(struct udp_io *u, volatile sig_atomic_t *stop, int (*tick)(void *ctx, uint64_t now),
		void *tick_ctx)
{
	uint64_t last_tick = 0;

	while (!*stop) {
		uint64_t now = pcdn_now_us();
		uint64_t next = ppspp_engine_run(u->engine, now);
		udp_io_flush(u);
		if (tick && now - last_tick >= 50000) {
			last_tick = now;
			int rc = tick(tick_ctx, now);
			if (rc)
				return rc;
		}
		int timeout_ms = 0;
		if (next > now)
			timeout_ms = (int)PCDN_MIN((next - now + 999) / 1000, 50);
		struct pollfd p = {.fd = u->fd, .events = POLLIN};
		int rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno != EINTR) {
			PCDN_LOG(udp_log, ERR, "poll: %s", strerror(errno));
			return -errno;
		}
		if (rc > 0 && (p.revents & POLLIN)) {
			udp_io_receive(u);
			if (p.revents & POLLERR) {
				/* drain a pending ICMP error so poll does not spin */
				int err;
				socklen_t l = sizeof(err);
				getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l);
			}
		} else if (rc > 0 && (p.revents & POLLERR)) {
			int err;
			socklen_t l = sizeof(err);
			getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		}
	}
	return 0;
}
