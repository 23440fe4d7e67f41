/* pcdn-get: the Content Sharing Client. Downloads a swarm from one or many PPSPP peers at once,
 * verifies every chunk against the swarm ID (the Merkle root), writes into OUT.part and renames
 * it to OUT only when complete; OUT.part.state keeps the verified-chunk state so an interrupted
 * download resumes. */
#include <errno.h>
#include <fcntl.h>
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

PCDN_LOG_COMPONENT(get_log, "pcdn-get")

#define MAX_PEERS 64

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct peer {
	struct ppspp_peer_addr addr;
	int channel; /* -1 when not connected */
	bool up, ended, from_pex;
	int reason;
	uint64_t chunks;
};

struct get {
	const char *out, *bind;
	char part[4096], state[4096];
	int hash_fn;
	uint32_t chunk_size;
	double timeout_s;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	size_t root_len;
	struct peer peers[MAX_PEERS];
	int n_peers;
	struct ppspp_engine *e;
	struct ppspp_merkle *tree;
	struct ppspp_file_store *fs;
	struct udp_io *u;
	int swarm;
	bool complete, failed, tty, resumed;
	int storage_err;
	uint64_t start_us, last_state_us, last_bar_us, resumed_chunks;
	uint64_t rejected_events;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pcdn-get --peer ADDR:PORT [--peer ADDR:PORT ...] --swarm HEX -o OUT\n"
		   "                [--hash sha1|sha224|sha256|sha384|sha512] [--chunk-size N]\n"
		   "                [--timeout SECONDS] [--bind ADDR:PORT] [--log-level LEVEL]\n");
}

static int add_peer(struct get *g, const struct ppspp_peer_addr *a, bool from_pex)
{
	for (int i = 0; i < g->n_peers; i++)
		if (ppspp_peer_addr_equal(&g->peers[i].addr, a))
			return -EEXIST;
	if (g->n_peers == MAX_PEERS)
		return -ENOSPC;
	struct peer *p = &g->peers[g->n_peers++];
	memset(p, 0, sizeof(*p));
	p->addr = *a;
	p->channel = -1;
	p->from_pex = from_pex;
	return g->n_peers - 1;
}

static struct peer *peer_by_channel(struct get *g, int channel)
{
	for (int i = 0; i < g->n_peers; i++)
		if (g->peers[i].channel == channel && !g->peers[i].ended)
			return &g->peers[i];
	return NULL;
}

static int parse(int argc, char **argv, struct get *g)
{
	static const struct option longs[] = {{"peer", required_argument, NULL, 'p'},
					      {"swarm", required_argument, NULL, 's'},
					      {"output", required_argument, NULL, 'o'},
					      {"hash", required_argument, NULL, 'H'},
					      {"chunk-size", required_argument, NULL, 'c'},
					      {"timeout", required_argument, NULL, 't'},
					      {"bind", required_argument, NULL, 'b'},
					      {"log-level", required_argument, NULL, 'L'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	const char *swarm = NULL;
	const char *peer_args[MAX_PEERS];
	int n_peer_args = 0, ch;

	g->hash_fn = PPSPP_HASH_SHA1;
	g->chunk_size = PPSPP_DEFAULT_CHUNK_SIZE;
	g->timeout_s = 10;
	while ((ch = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (n_peer_args == MAX_PEERS) {
				fprintf(stderr, "pcdn-get: at most %d peers\n", MAX_PEERS);
				return -1;
			}
			peer_args[n_peer_args++] = optarg;
			break;
		case 's':
			swarm = optarg;
			break;
		case 'o':
			g->out = optarg;
			break;
		case 'H':
			if (cli_opt_hash("pcdn-get", optarg, &g->hash_fn) < 0)
				return -1;
			break;
		case 'c':
			if (cli_opt_chunk_size("pcdn-get", optarg, &g->chunk_size) < 0)
				return -1;
			break;
		case 't': {
			char *end;
			g->timeout_s = strtod(optarg, &end);
			if (*end || !(g->timeout_s >= 0.1 && g->timeout_s <= 86400)) {
				fprintf(stderr,
					"pcdn-get: bad timeout '%s' (seconds, 0.1..86400)\n",
					optarg);
				return -1;
			}
			break;
		}
		case 'b':
			g->bind = optarg;
			break;
		case 'L':
			if (cli_opt_log_level("pcdn-get", optarg) < 0)
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
	if (optind != argc || !swarm || !g->out || n_peer_args == 0) {
		if (optind != argc)
			fprintf(stderr, "pcdn-get: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "pcdn-get: --peer, --swarm and -o are required\n");
		usage(stderr);
		return -1;
	}
	size_t want = ppspp_hash_len((uint8_t)g->hash_fn);
	if (strlen(swarm) != 2 * want ||
	    pcdn_hex_decode(swarm, g->root, sizeof(g->root), &g->root_len) < 0) {
		fprintf(stderr,
			"pcdn-get: bad swarm ID '%s': expected %zu hex digits (the %s root "
			"hash printed by 'pcdn-source hash')\n",
			swarm, 2 * want, ppspp_hash_name((uint8_t)g->hash_fn));
		return -1;
	}
	for (int i = 0; i < n_peer_args; i++) {
		struct pcdn_addr a;
		struct ppspp_peer_addr pa;
		if (pcdn_addr_parse(peer_args[i], &a) < 0) {
			fprintf(stderr,
				"pcdn-get: bad peer address '%s' (expected 1.2.3.4:5 or "
				"[::1]:5)\n",
				peer_args[i]);
			return -1;
		}
		udp_io_pcdn_to_peer(&a, &pa);
		add_peer(g, &pa, false);
	}
	if (snprintf(g->part, sizeof(g->part), "%s.part", g->out) >= (int)sizeof(g->part) ||
	    snprintf(g->state, sizeof(g->state), "%s.part.state", g->out) >=
		(int)sizeof(g->state)) {
		fprintf(stderr, "pcdn-get: output path too long\n");
		return -1;
	}
	return 0;
}

/* ---- resume state ---------------------------------------------------------------------------- */

static int save_state(struct get *g)
{
	char tmp[4200];
	/* the state may only count chunks that are in the file */
	int frc = ppspp_file_store_flush(g->fs);
	if (frc < 0)
		return frc;
	ssize_t need = ppspp_merkle_export(g->tree, NULL, 0);

	if (need <= 0)
		return (int)need;
	void *buf = malloc((size_t)need);
	if (!buf)
		return -ENOMEM;
	ssize_t len = ppspp_merkle_export(g->tree, buf, (size_t)need);
	snprintf(tmp, sizeof(tmp), "%s.tmp", g->state);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0 || len < 0 || write(fd, buf, (size_t)len) != len)
		rc = -errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc == 0 && rename(tmp, g->state) < 0)
		rc = -errno;
	return rc;
}

static struct ppspp_merkle *load_state(struct get *g)
{
	int fd = open(g->state, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1ll << 34)) {
		close(fd);
		return NULL;
	}
	void *buf = malloc((size_t)st.st_size);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	struct ppspp_merkle *t = ppspp_merkle_import(buf, (size_t)st.st_size);
	free(buf);
	if (!t)
		return NULL;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	ppspp_merkle_root(t, root);
	if (ppspp_merkle_hash_fn(t) != g->hash_fn || ppspp_merkle_chunk_size(t) != g->chunk_size ||
	    ppspp_merkle_hash_len(t) != g->root_len || memcmp(root, g->root, g->root_len) != 0) {
		ppspp_merkle_free(t);
		return NULL;
	}
	return t;
}

/* ---- events ---------------------------------------------------------------------------------- */

static void ev_up(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *a)
{
	struct get *g = ctx;
	char s[64];
	(void)swarm;
	struct peer *p = peer_by_channel(g, channel);
	if (p)
		p->up = true;
	PCDN_LOG(get_log, INFO, "connected to %s", ppspp_peer_addr_format(a, s, sizeof(s)));
}

static void ev_end(void *ctx, int swarm, int channel, const struct ppspp_peer_addr *a, int reason)
{
	struct get *g = ctx;
	char s[64];
	(void)swarm;
	struct peer *p = peer_by_channel(g, channel);
	if (p) {
		p->ended = true;
		p->reason = reason;
	}
	if (!g->complete)
		PCDN_LOG(get_log, WARNING, "peer %s: %s", ppspp_peer_addr_format(a, s, sizeof(s)),
			 ppspp_peer_end_name(reason));
}

static void ev_complete(void *ctx, int swarm)
{
	struct get *g = ctx;
	(void)swarm;
	g->complete = true;
}

static void ev_error(void *ctx, int swarm, int err)
{
	struct get *g = ctx;
	(void)swarm;
	if (!g->failed)
		g->storage_err = err; /* the first error is the cause */
	g->failed = true;
}

static void ev_verified(void *ctx, int swarm, uint64_t chunk, int channel)
{
	struct get *g = ctx;
	(void)swarm;
	(void)chunk;
	struct peer *p = peer_by_channel(g, channel);
	if (p)
		p->chunks++;
}

static void ev_rejected(void *ctx, int swarm, uint64_t chunk, int channel)
{
	struct get *g = ctx;
	(void)swarm;
	(void)chunk;
	(void)channel;
	g->rejected_events++;
}

static void ev_pex(void *ctx, int swarm, const struct ppspp_peer_addr *a)
{
	struct get *g = ctx;
	int i = add_peer(g, a, true);
	if (i < 0)
		return;
	g->peers[i].channel = ppspp_engine_connect(g->e, swarm, a, pcdn_now_us());
	if (g->peers[i].channel < 0)
		g->peers[i].ended = true;
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void progress(struct get *g, uint64_t now, bool final)
{
	uint64_t v, n;

	if (!g->tty)
		return;
	ppspp_engine_swarm_progress(g->e, g->swarm, &v, &n);
	double frac = n ? (double)v / (double)n : 0;
	double secs = (double)(now - g->start_us) / 1e6;
	double mb = (double)(v - g->resumed_chunks) * g->chunk_size / 1e6;
	char bar[31];
	int fill = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r%5.1f%% [%s] %7.1f MB/s %8.1f MB%s", frac * 100, bar,
		secs > 0 ? mb / secs : 0, (double)v * g->chunk_size / 1e6, final ? "\n" : "");
	fflush(stderr);
}

static int live_peers(const struct get *g)
{
	int n = 0;
	for (int i = 0; i < g->n_peers; i++)
		if (!g->peers[i].ended)
			n++;
	return n;
}

static int tick(void *ctx, uint64_t now)
{
	struct get *g = ctx;

	if (g->complete)
		return 1;
	if (g->failed)
		return 2;
	if (live_peers(g) == 0)
		return 3;
	if (now - g->last_bar_us >= 200000) {
		g->last_bar_us = now;
		progress(g, now, false);
	}
	if (now - g->last_state_us >= 1000000) {
		g->last_state_us = now;
		save_state(g);
	}
	return 0;
}

static int finish(struct get *g)
{
	uint64_t size = ppspp_merkle_content_size(g->tree);
	int rc = ppspp_file_store_finish(g->fs, size);

	if (rc < 0) {
		fprintf(stderr, "pcdn-get: finishing %s: %s\n", g->part, pcdn_strerror(rc));
		return 1;
	}
	if (rename(g->part, g->out) < 0) {
		fprintf(stderr, "pcdn-get: renaming %s to %s: %s\n", g->part, g->out,
			strerror(errno));
		return 1;
	}
	unlink(g->state);
	return 0;
}

static void summary(struct get *g, uint64_t now)
{
	const struct ppspp_engine_counters *c = ppspp_engine_counters(g->e);
	uint64_t v, n;
	char a[64];

	ppspp_engine_swarm_progress(g->e, g->swarm, &v, &n);
	double secs = (double)(now - g->start_us) / 1e6;
	uint64_t bytes = g->complete ? ppspp_merkle_content_size(g->tree) : v * g->chunk_size;
	uint64_t fetched = c->chunks_verified * (uint64_t)g->chunk_size;
	if (fetched > bytes)
		fetched = bytes;
	fprintf(stderr,
		"pcdn-get: %s %llu bytes in %.3f s (%.1f MB/s), %llu of %llu chunks verified%s; "
		"rejected chunks %llu, malformed datagrams %llu\n",
		g->complete ? "downloaded" : "incomplete:", (unsigned long long)bytes, secs,
		secs > 0 ? (double)fetched / 1e6 / secs : 0, (unsigned long long)v,
		(unsigned long long)n, g->resumed ? " (resumed)" : "",
		(unsigned long long)c->chunks_rejected, (unsigned long long)c->malformed_total);
	for (int i = 0; i < g->n_peers; i++) {
		struct peer *p = &g->peers[i];
		fprintf(stderr, "pcdn-get: peer %s: %llu chunks%s%s\n",
			ppspp_peer_addr_format(&p->addr, a, sizeof(a)),
			(unsigned long long)p->chunks, p->ended ? ", " : "",
			p->ended ? ppspp_peer_end_name(p->reason) : "");
	}
	if (pcdn_log_enabled(get_log, PCDN_LOG_INFO)) {
		char buf[4096];
		fprintf(
		    stderr,
		    "udp: sendmmsg_calls %llu recvmmsg_calls %llu send_errors %llu gso_buffers "
		    "%llu "
		    "gro_buffers %llu (gso %s, gro %s)\n",
		    (unsigned long long)g->u->sendmmsg_calls,
		    (unsigned long long)g->u->recvmmsg_calls, (unsigned long long)g->u->send_errors,
		    (unsigned long long)g->u->gso_buffers, (unsigned long long)g->u->gro_buffers,
		    g->u->gso ? "on" : "off", g->u->gro ? "on" : "off");
		ppspp_engine_counters_format(c, buf, sizeof(buf));
		fprintf(stderr, "pcdn-get: counters\n%s", buf);
	}
}

static void close_all(struct get *g)
{
	for (int i = 0; i < g->n_peers; i++)
		if (!g->peers[i].ended && g->peers[i].channel >= 0)
			ppspp_engine_close(g->e, g->peers[i].channel, pcdn_now_us());
	udp_io_flush(g->u);
}

int main(int argc, char **argv)
{
	struct get *g = calloc(1, sizeof(*g));
	struct pcdn_addr bind_addr;
	int rc = -ENOMEM;

	if (!g || parse(argc, argv, g) < 0) {
		free(g);
		return 2;
	}
	g->tty = isatty(STDERR_FILENO);
	if (g->bind && pcdn_addr_parse(g->bind, &bind_addr) < 0) {
		fprintf(stderr, "pcdn-get: bad bind address '%s'\n", g->bind);
		free(g);
		return 2;
	}
	/* resume when the state file matches this swarm; start over otherwise */
	g->tree = load_state(g);
	if (g->tree) {
		g->resumed = true;
	} else {
		g->tree = ppspp_merkle_create_verifier((uint8_t)g->hash_fn, g->chunk_size, g->root,
						       g->root_len);
		if (!g->tree) {
			fprintf(stderr, "pcdn-get: %s\n", strerror(errno));
			return 1;
		}
		if (truncate(g->part, 0) < 0 && errno != ENOENT) {
			fprintf(stderr, "pcdn-get: %s: %s\n", g->part, strerror(errno));
			return 1;
		}
	}
	g->fs = ppspp_file_store_open_write(g->part, g->chunk_size);
	if (!g->fs) {
		fprintf(stderr, "pcdn-get: cannot create %s: %s\n", g->part, strerror(errno));
		return 1;
	}
	bool v6 = false;
	for (int i = 0; i < g->n_peers; i++)
		v6 |= g->peers[i].addr.family == PPSPP_AF_INET6;
	g->u = calloc(1, sizeof(*g->u));
	if (!g->u || (rc = udp_io_open(g->u, g->bind ? &bind_addr : NULL, v6)) < 0) {
		fprintf(stderr, "pcdn-get: cannot open a UDP socket: %s\n",
			g->u ? pcdn_strerror(rc) : "out of memory");
		return 1;
	}
	struct ppspp_engine_config cfg;
	ppspp_engine_config_defaults(&cfg);
	cfg.max_datagram = 1452;
	cfg.max_requests = 4096; /* a deep pipeline per peer: 4 MiB of 1 KiB chunks */
	cfg.dead_us = (uint64_t)(g->timeout_s * 1e6);
	cfg.handshake_retry_us = PCDN_MIN(250000, cfg.dead_us / 6);
	cfg.timestamp_offset_us = (int64_t)(pcdn_wall_us() - pcdn_now_us());
	struct ppspp_io io = {.ctx = g->u, .send = udp_io_send};
	struct ppspp_engine_events ev = {.ctx = g,
					 .peer_up = ev_up,
					 .peer_end = ev_end,
					 .complete = ev_complete,
					 .error = ev_error,
					 .chunk_verified = ev_verified,
					 .chunk_rejected = ev_rejected,
					 .pex_peer = ev_pex};
	g->start_us = pcdn_now_us();
	g->last_state_us = g->start_us;
	g->e = ppspp_engine_create(&cfg, &io, &ev, g->start_us);
	if (!g->e) {
		fprintf(stderr, "pcdn-get: engine: %s\n", strerror(errno));
		return 1;
	}
	g->u->engine = g->e;
	struct ppspp_storage st;
	ppspp_file_store_storage(g->fs, &st);
	g->swarm = ppspp_engine_swarm_add(g->e, g->tree, PPSPP_CAM_CHUNK32, &st);
	if (g->swarm < 0) {
		fprintf(stderr, "pcdn-get: %s\n", pcdn_strerror(g->swarm));
		return 1;
	}
	ppspp_engine_swarm_progress(g->e, g->swarm, &g->resumed_chunks, NULL);
	if (g->resumed)
		PCDN_LOG(get_log, NOTICE, "resuming %s: %llu chunks already verified", g->out,
			 (unsigned long long)g->resumed_chunks);
	if (ppspp_engine_swarm_complete(g->e, g->swarm) && ppspp_merkle_chunk_count(g->tree) > 0) {
		g->complete = true;
	} else {
		for (int i = 0; i < g->n_peers; i++) {
			char a[64];
			g->peers[i].channel =
			    ppspp_engine_connect(g->e, g->swarm, &g->peers[i].addr, g->start_us);
			if (g->peers[i].channel < 0) {
				fprintf(stderr, "pcdn-get: cannot reach %s: %s\n",
					ppspp_peer_addr_format(&g->peers[i].addr, a, sizeof(a)),
					pcdn_strerror(g->peers[i].channel));
				g->peers[i].ended = true;
			}
		}
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		rc = udp_io_loop(g->u, &stop_flag, tick, g);
		if (rc == 0 && g->complete)
			rc = 1; /* completed in the last run, before the tick saw it */
	}
	uint64_t end = pcdn_now_us();
	progress(g, end, true);
	int status = 0;
	if (g->complete) {
		summary(g, end);
		close_all(g);
		status = finish(g);
	} else {
		save_state(g);
		summary(g, end);
		close_all(g);
		if (stop_flag) {
			fprintf(stderr,
				"pcdn-get: interrupted; %s and %s are kept: the same command "
				"resumes the download\n",
				g->part, g->state);
			status = 130;
		} else if (g->failed) {
			int err = g->storage_err;
			fprintf(stderr, "pcdn-get: cannot write %s: %s%s\n", g->part,
				pcdn_strerror(err), err == -ENOSPC ? " (disk full)" : "");
			status = 1;
		} else {
			bool any_up = false;
			char a[64];
			for (int i = 0; i < g->n_peers; i++)
				any_up |= g->peers[i].up;
			if (!any_up) {
				fprintf(stderr, "pcdn-get: no peer answered:");
				for (int i = 0; i < g->n_peers; i++)
					fprintf(stderr, " %s",
						ppspp_peer_addr_format(&g->peers[i].addr, a,
								       sizeof(a)));
				fprintf(stderr, " unreachable (no handshake reply)\n");
			} else {
				fprintf(stderr, "pcdn-get: all peers are dead or gone before the "
						"download completed\n");
			}
			status = 1;
		}
	}
	ppspp_engine_destroy(g->e);
	udp_io_close(g->u);
	free(g->u);
	ppspp_file_store_close(g->fs);
	ppspp_merkle_free(g->tree);
	free(g);
	return status;
}
