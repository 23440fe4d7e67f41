/* Kernel UDP ceiling on this machine: one thread blasts fixed-size datagrams over loopback with
 * sendmmsg, another receives them with recvmmsg, both in batches of 64. Prints the receiver's
 * goodput, the figure a PPSPP download over the same loopback is compared with. With -g the
 * same datagrams go through segmentation offload (UDP_SEGMENT: 64 datagrams per send buffer,
 * UDP_GRO on the receiver), as pcdn-source and pcdn-get use it. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
	int port;
	bool gso;
	size_t size;
	double seconds;
	atomic_bool sender_done;
	uint64_t sent;
	uint64_t received, rx_bytes;
	double first_rx, last_rx;
};

static void *receiver(void *arg)
{
	struct ctx *c = arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 32 << 20;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	static char bufs[BATCH][65536];
	static char ctl[BATCH][64];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (c->gso) {
		int one = 1;
		setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udp_blast: bind");
		exit(1);
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 100);
		if (r == 0 && atomic_load(&c->sender_done))
			break;
		if (r <= 0)
			continue;
		for (int i = 0; i < BATCH; i++) {
			m[i].msg_hdr.msg_control = ctl[i];
			m[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		double t = now_s();
		if (c->received == 0)
			c->first_rx = t;
		c->last_rx = t;
		for (int i = 0; i < n; i++) {
			/* a coalesced (GRO) buffer holds msg_len / size datagrams */
			c->received += (m[i].msg_len + c->size - 1) / c->size;
			c->rx_bytes += m[i].msg_len;
		}
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct ctx c = {.port = 47990, .size = 1024, .seconds = 2.0};
	int ch;

	while ((ch = getopt(argc, argv, "gp:s:t:")) != -1) {
		switch (ch) {
		case 'g':
			c.gso = true;
			break;
		case 'p':
			c.port = atoi(optarg);
			break;
		case 's':
			c.size = (size_t)atoi(optarg);
			break;
		case 't':
			c.seconds = atof(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: udp_blast [-g] [-p PORT] [-s BYTES] [-t SECONDS]\n");
			return 2;
		}
	}
	if (c.size == 0 || c.size > 2048 || c.seconds <= 0) {
		fprintf(stderr, "udp_blast: size 1..2048, seconds > 0\n");
		return 2;
	}
	atomic_init(&c.sender_done, false);
	pthread_t th;
	pthread_create(&th, NULL, receiver, &c);
	usleep(100000);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	static char payload[2048];
	memset(payload, 0xab, sizeof(payload));
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	/* -g: each message is one buffer of `per` datagrams that the kernel segments */
	static char gbuf[65536];
	size_t per = c.gso ? 60000 / c.size : 1;
	char gctl[BATCH][CMSG_SPACE(sizeof(uint16_t))];
	memset(gbuf, 0xab, sizeof(gbuf));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = c.gso ? gbuf : payload;
		iov[i].iov_len = c.size * per;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &a;
		m[i].msg_hdr.msg_namelen = sizeof(a);
		if (c.gso) {
			m[i].msg_hdr.msg_control = gctl[i];
			m[i].msg_hdr.msg_controllen = sizeof(gctl[i]);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&m[i].msg_hdr);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t seg = (uint16_t)c.size;
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		}
	}
	double start = now_s();
	while (now_s() - start < c.seconds) {
		int n = sendmmsg(fd, m, c.gso ? 4 : BATCH, 0);
		if (n > 0)
			c.sent += (uint64_t)n * per;
		else if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
			perror("udp_blast: sendmmsg");
			return 1;
		}
	}
	double send_s = now_s() - start;
	atomic_store(&c.sender_done, true);
	pthread_join(th, NULL);
	close(fd);
	double rx_s = c.last_rx - c.first_rx;
	double mbps = rx_s > 0 ? (double)c.rx_bytes / 1e6 / rx_s : 0;
	printf("sent %llu datagrams of %zu bytes in %.3f s (%.1f MB/s offered)\n",
	       (unsigned long long)c.sent, c.size, send_s, (double)c.sent * c.size / 1e6 / send_s);
	printf("received %llu datagrams (%.1f%%) in %.3f s: %.3f Mpps, %.1f MB/s\n",
	       (unsigned long long)c.received,
	       c.sent ? 100.0 * (double)c.received / (double)c.sent : 0, rx_s,
	       rx_s > 0 ? (double)c.received / rx_s / 1e6 : 0, mbps);
	printf("%s %.1f\n", c.gso ? "kernel_udp_gso_mb_per_s" : "kernel_udp_mb_per_s", mbps);
	return 0;
}
