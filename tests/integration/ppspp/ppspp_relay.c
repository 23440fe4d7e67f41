/* A userspace UDP relay for PPSPP integration tests: sits between one client and one upstream
 * peer and impairs the traffic deterministically (seeded PRNG): drops, duplicates, reorders,
 * flips bits inside DATA payloads coming from upstream (a poisoned seeder), and injects garbage
 * datagrams carrying a live channel ID in both directions. Prints its counters on exit. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcdn_common.h"
#include "ppspp.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool chance(unsigned pct)
{
	return pct && rnd() % 100 < pct;
}

struct held {
	bool used;
	bool to_client;
	size_t len;
	uint8_t buf[65536];
};

static struct {
	unsigned drop, dup, reorder, flip, garbage;
	uint64_t forwarded, dropped, duplicated, reordered, flipped, garbage_sent;
	int fd;
	struct pcdn_addr upstream, client;
	bool have_client;
	struct held held;
} r;

static void send_to(bool to_client, const uint8_t *b, size_t len)
{
	const struct pcdn_addr *a = to_client ? &r.client : &r.upstream;

	if (sendto(r.fd, b, len, 0, (const struct sockaddr *)&a->ss, a->len) >= 0)
		r.forwarded++;
}

/* RFC 7574 §8.6: find the DATA message and flip one bit of its payload. */
static bool flip_data(uint8_t *b, size_t len)
{
	struct ppspp_codec_ctx ctx = {
	    .cam = PPSPP_CAM_CHUNK32, .hash_len = 20, .chunk_size = PPSPP_DEFAULT_CHUNK_SIZE};
	struct ppspp_reader rd;
	struct ppspp_msg m;

	if (ppspp_reader_init(&rd, b, len, &ctx) < 0)
		return false;
	while (ppspp_reader_next(&rd, &m) == 1) {
		if (m.type == PPSPP_DATA && m.u.data.len > 0) {
			size_t off = (size_t)(m.u.data.data - b) + (size_t)(rnd() % m.u.data.len);
			b[off] ^= (uint8_t)(1u << (rnd() % 8));
			return true;
		}
	}
	return false;
}

static void garbage(bool to_client, const uint8_t *model)
{
	uint8_t g[128];
	size_t len = 5 + (size_t)(rnd() % 100);

	memcpy(g, model, 4); /* a live channel ID: the datagram reaches the parser */
	for (size_t i = 4; i < len; i++)
		g[i] = (uint8_t)rnd();
	if (rnd() % 2) {
		g[4] = (uint8_t)(14 + rnd() % 242); /* an unassigned message type */
	} else {
		/* a known type cut short: HAVE/ACK/REQUEST/CANCEL/INTEGRITY need more bytes */
		static const uint8_t cut[] = {PPSPP_ACK, PPSPP_HAVE, PPSPP_REQUEST, PPSPP_CANCEL,
					      PPSPP_INTEGRITY};
		g[4] = cut[rnd() % sizeof(cut)];
		len = 5 + (size_t)(rnd() % 3);
	}
	send_to(to_client, g, len);
	r.garbage_sent++;
}

static void relay(bool to_client, uint8_t *b, size_t len)
{
	if (chance(r.drop)) {
		r.dropped++;
		return;
	}
	if (to_client && r.flip && len > 4 && chance(r.flip) && flip_data(b, len))
		r.flipped++;
	if (len >= 4 && chance(r.garbage))
		garbage(to_client, b);
	if (!r.held.used && chance(r.reorder)) {
		/* hold it back: it goes out after the next datagram */
		r.held.used = true;
		r.held.to_client = to_client;
		r.held.len = len;
		memcpy(r.held.buf, b, len);
		r.reordered++;
		return;
	}
	send_to(to_client, b, len);
	if (chance(r.dup)) {
		send_to(to_client, b, len);
		r.duplicated++;
	}
	if (r.held.used) {
		send_to(r.held.to_client, r.held.buf, r.held.len);
		r.held.used = false;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ppspp_relay --listen ADDR:PORT --upstream ADDR:PORT [--drop PCT] "
		"[--dup PCT] [--reorder PCT] [--flip-data PCT] [--garbage PCT] [--seed N]\n");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
					      {"upstream", required_argument, NULL, 'u'},
					      {"drop", required_argument, NULL, 'd'},
					      {"dup", required_argument, NULL, 'D'},
					      {"reorder", required_argument, NULL, 'r'},
					      {"flip-data", required_argument, NULL, 'f'},
					      {"garbage", required_argument, NULL, 'g'},
					      {"seed", required_argument, NULL, 's'},
					      {NULL, 0, NULL, 0}};
	struct pcdn_addr listen_addr;
	bool have_listen = false, have_up = false;
	int ch;

	rng = 0x2545F4914F6CDD1Dull;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'l':
			have_listen = pcdn_addr_parse(optarg, &listen_addr) == 0;
			break;
		case 'u':
			have_up = pcdn_addr_parse(optarg, &r.upstream) == 0;
			break;
		case 'd':
			r.drop = (unsigned)atoi(optarg);
			break;
		case 'D':
			r.dup = (unsigned)atoi(optarg);
			break;
		case 'r':
			r.reorder = (unsigned)atoi(optarg);
			break;
		case 'f':
			r.flip = (unsigned)atoi(optarg);
			break;
		case 'g':
			r.garbage = (unsigned)atoi(optarg);
			break;
		case 's':
			rng = strtoull(optarg, NULL, 0) | 1;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!have_listen || !have_up) {
		usage();
		return 2;
	}
	r.fd = socket(listen_addr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 16 << 20;
	setsockopt(r.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(r.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (r.fd < 0 || bind(r.fd, (const struct sockaddr *)&listen_addr.ss, listen_addr.len) < 0) {
		perror("ppspp_relay: bind");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	static uint8_t buf[65536];
	while (!stop_flag) {
		struct pollfd p = {.fd = r.fd, .events = POLLIN};
		int n = poll(&p, 1, 5);
		if (n == 0 && r.held.used) {
			/* nothing followed within 5 ms: release what was held */
			send_to(r.held.to_client, r.held.buf, r.held.len);
			r.held.used = false;
		}
		if (n <= 0)
			continue;
		struct pcdn_addr from;
		from.len = sizeof(from.ss);
		ssize_t len =
		    recvfrom(r.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.ss, &from.len);
		if (len < 0)
			continue;
		bool from_up = pcdn_addr_equal(&from, &r.upstream);
		if (!from_up) {
			r.client = from; /* the latest client speaks through us */
			r.have_client = true;
		} else if (!r.have_client) {
			continue;
		}
		relay(from_up, buf, (size_t)len);
	}
	fprintf(stderr,
		"ppspp_relay: forwarded %llu dropped %llu duplicated %llu reordered %llu "
		"flipped %llu garbage %llu\n",
		(unsigned long long)r.forwarded, (unsigned long long)r.dropped,
		(unsigned long long)r.duplicated, (unsigned long long)r.reordered,
		(unsigned long long)r.flipped, (unsigned long long)r.garbage_sent);
	return 0;
}
