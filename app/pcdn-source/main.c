/* pcdn-source: the content source. `hash` prints a file's swarm ID (the Merkle root hash,
 * RFC 7574 §5.1); `serve` seeds it over PPSPP on a UDP socket (IPv4 or IPv6). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_opts.h"
#include "pcdn_common.h"
#include "ppspp.h"
#include "udp_io.h"

PCDN_LOG_COMPONENT(src_log, "pcdn-source")

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pcdn-source hash FILE [--hash sha1|sha224|sha256|sha384|sha512] "
		   "[--chunk-size N]\n"
		   "       pcdn-source serve FILE --listen ADDR:PORT [--hash H] [--chunk-size N] "
		   "[--log-level LEVEL]\n");
}

struct opts {
	const char *cmd, *file, *listen;
	int hash_fn;
	uint32_t chunk_size;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
	    {"hash", required_argument, NULL, 'H'},   {"chunk-size", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'}, {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0}};
	int ch;

	o->hash_fn = PPSPP_HASH_SHA1;
	o->chunk_size = PPSPP_DEFAULT_CHUNK_SIZE;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (ch) {
		case 'H':
			if (cli_opt_hash("pcdn-source", optarg, &o->hash_fn) < 0)
				return -1;
			break;
		case 'c':
			if (cli_opt_chunk_size("pcdn-source", optarg, &o->chunk_size) < 0)
				return -1;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'L':
			if (cli_opt_log_level("pcdn-source", optarg) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return -1;
	}
	o->cmd = argv[optind];
	o->file = argv[optind + 1];
	return 0;
}

static struct ppspp_merkle *hash_file(const struct opts *o, struct ppspp_file_store **fs_out)
{
	struct ppspp_file_store *fs = ppspp_file_store_open_read(o->file, o->chunk_size);

	if (!fs) {
		fprintf(stderr, "pcdn-source: %s: %s\n", o->file, strerror(errno));
		return NULL;
	}
	struct ppspp_merkle *t = ppspp_merkle_build_fd(
	    ppspp_file_store_fd(fs), ppspp_file_store_size(fs), (uint8_t)o->hash_fn, o->chunk_size);
	if (!t) {
		fprintf(stderr, "pcdn-source: hashing %s: %s\n", o->file, strerror(errno));
		ppspp_file_store_close(fs);
		return NULL;
	}
	*fs_out = fs;
	return t;
}

static void print_root(const struct ppspp_merkle *t, FILE *f)
{
	uint8_t root[PPSPP_HASH_MAX_LEN];
	char hex[2 * PPSPP_HASH_MAX_LEN + 1];

	ppspp_merkle_root(t, root);
	pcdn_hex_encode(root, ppspp_merkle_hash_len(t), hex);
	fprintf(f, "%s\n", hex);
}

static void peer_up(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *p)
{
	char a[64];
	(void)ctx;
	(void)swarm;
	PCDN_LOG(src_log, INFO, "peer %s connected (channel %d)",
		 ppspp_peer_addr_format(p, a, sizeof(a)), channel);
}

static void peer_end(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *p, int reason)
{
	char a[64];
	(void)ctx;
	(void)swarm;
	PCDN_LOG(src_log, INFO, "peer %s (channel %d): %s", ppspp_peer_addr_format(p, a, sizeof(a)),
		 channel, ppspp_peer_end_name(reason));
}

static int serve(const struct opts *o)
{
	struct pcdn_addr listen;
	struct ppspp_file_store *fs = NULL;
	struct udp_io *u;
	int rc = -ENOMEM;

	if (!o->listen) {
		fprintf(stderr, "pcdn-source: serve needs --listen ADDR:PORT\n");
		return 2;
	}
	if (pcdn_addr_parse(o->listen, &listen) < 0) {
		fprintf(stderr,
			"pcdn-source: bad listen address '%s' (expected 1.2.3.4:5 or "
			"[::1]:5)\n",
			o->listen);
		return 2;
	}
	struct ppspp_merkle *t = hash_file(o, &fs);
	if (!t)
		return 1;
	u = calloc(1, sizeof(*u));
	if (!u || (rc = udp_io_open(u, &listen, false)) < 0) {
		fprintf(stderr, "pcdn-source: cannot listen on %s: %s\n", o->listen,
			u ? pcdn_strerror(rc) : "out of memory");
		free(u);
		return 1;
	}
	struct ppspp_engine_config cfg;
	ppspp_engine_config_defaults(&cfg);
	cfg.max_channels = 256;
	cfg.max_datagram = 1452; /* fits an IPv6 packet on a 1500-byte MTU */
	cfg.max_inflight = 8192;
	cfg.timestamp_offset_us = (int64_t)(pcdn_wall_us() - pcdn_now_us());
	cfg.pex = false;
	cfg.integrity_apart = u->gso; /* same-size DATA datagrams for segmentation offload */
	struct ppspp_io io = {.ctx = u, .send = udp_io_send};
	struct ppspp_engine_events ev = {.peer_up = peer_up, .peer_end = peer_end};
	struct ppspp_engine *e = ppspp_engine_create(&cfg, &io, &ev, pcdn_now_us());
	if (!e) {
		fprintf(stderr, "pcdn-source: engine: %s\n", strerror(errno));
		return 1;
	}
	u->engine = e;
	struct ppspp_storage st;
	ppspp_file_store_storage(fs, &st);
	rc = ppspp_engine_swarm_add(e, t, PPSPP_CAM_CHUNK32, &st);
	if (rc < 0) {
		fprintf(stderr, "pcdn-source: swarm: %s\n", pcdn_strerror(rc));
		return 1;
	}
	char hex[2 * PPSPP_HASH_MAX_LEN + 1];
	uint8_t root[PPSPP_HASH_MAX_LEN];
	ppspp_merkle_root(t, root);
	pcdn_hex_encode(root, ppspp_merkle_hash_len(t), hex);
	PCDN_LOG(src_log, NOTICE, "serving %s (%llu bytes, %llu chunks of %u) as swarm %s on %s",
		 o->file, (unsigned long long)ppspp_file_store_size(fs),
		 (unsigned long long)ppspp_merkle_chunk_count(t), o->chunk_size, hex, o->listen);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = udp_io_loop(u, &stop_flag, NULL, NULL);

	char buf[4096];
	ppspp_engine_counters_format(ppspp_engine_counters(e), buf, sizeof(buf));
	fprintf(stderr, "pcdn-source: counters\n%s", buf);
	fprintf(stderr,
		"udp: sendmmsg_calls %llu recvmmsg_calls %llu send_errors %llu gso_buffers %llu "
		"gro_buffers %llu\n",
		(unsigned long long)u->sendmmsg_calls, (unsigned long long)u->recvmmsg_calls,
		(unsigned long long)u->send_errors, (unsigned long long)u->gso_buffers,
		(unsigned long long)u->gro_buffers);
	ppspp_engine_destroy(e);
	udp_io_close(u);
	free(u);
	ppspp_merkle_free(t);
	ppspp_file_store_close(fs);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	memset(&o, 0, sizeof(o));
	if (parse(argc, argv, &o) < 0)
		return 2;
	if (strcmp(o.cmd, "hash") == 0) {
		struct ppspp_file_store *fs = NULL;
		struct ppspp_merkle *t = hash_file(&o, &fs);
		if (!t)
			return 1;
		print_root(t, stdout);
		ppspp_merkle_free(t);
		ppspp_file_store_close(fs);
		return 0;
	}
	if (strcmp(o.cmd, "serve") == 0)
		return serve(&o);
	fprintf(stderr, "pcdn-source: unknown command '%s'\n", o.cmd);
	usage(stderr);
	return 2;
}
