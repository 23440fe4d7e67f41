/* pcdn-bench dp-kernel: the data-plane bench's CSC load (dp_gen.c: handshakes, pipelined
 * REQUESTs, ACKs, sampled Merkle verification) on one kernel UDP socket, batched with
 * recvmmsg/sendmmsg, against a kernel-socket seeder (pcdn-source serve). The baseline the DPDK
 * data plane is compared with. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dp_bench.h"
#include "pcdn_common.h"

#define KB_BATCH 64
#define KB_DGRAM 2048

struct kbench {
	int fd;
	struct sockaddr_storage server;
	socklen_t server_len;
	struct mmsghdr out[KB_BATCH];
	struct iovec out_iov[KB_BATCH];
	uint8_t out_buf[KB_BATCH][KB_DGRAM];
	unsigned n_out;
	struct mmsghdr in[KB_BATCH];
	struct iovec in_iov[KB_BATCH];
	uint8_t in_buf[KB_BATCH][KB_DGRAM];
	uint64_t send_errors, sendmmsg_calls, recvmmsg_calls;
};

static volatile sig_atomic_t kstop;

static void kb_signal(int sig)
{
	(void)sig;
	kstop = 1;
}

static void kb_flush(struct kbench *k)
{
	unsigned done = 0;

	while (done < k->n_out) {
		int rc = sendmmsg(k->fd, k->out + done, k->n_out - done, 0);
		k->sendmmsg_calls++;
		if (rc <= 0) {
			if (rc < 0 && errno == EINTR)
				continue;
			k->send_errors += k->n_out - done;
			break;
		}
		done += (unsigned)rc;
	}
	k->n_out = 0;
}

static int kb_send(void *ctx, unsigned ci, const uint8_t *d, size_t len)
{
	struct kbench *k = ctx;

	(void)ci;
	if (len > KB_DGRAM)
		return -EMSGSIZE;
	if (k->n_out == KB_BATCH)
		kb_flush(k);
	unsigned i = k->n_out++;
	memcpy(k->out_buf[i], d, len);
	k->out_iov[i] = (struct iovec){.iov_base = k->out_buf[i], .iov_len = len};
	memset(&k->out[i].msg_hdr, 0, sizeof(k->out[i].msg_hdr));
	k->out[i].msg_hdr.msg_name = &k->server;
	k->out[i].msg_hdr.msg_namelen = k->server_len;
	k->out[i].msg_hdr.msg_iov = &k->out_iov[i];
	k->out[i].msg_hdr.msg_iovlen = 1;
	return 0;
}

/* utime + stime of another process (the seeder), seconds; 0 when unknown. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command name, which may hold spaces: skip to the last ')' */
	char *p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t mono_ns(void)
{
	return pcdn_now_ns();
}

static void kb_usage(FILE *f)
{
	fprintf(f, "usage: pcdn-bench dp-kernel --server ADDR:PORT --swarm HEX [--hash NAME] "
		   "[--chunk-size N]\n"
		   "       [--clients N] [--window N] [--sample N] [--seconds S] [--warmup S]\n"
		   "       [--server-pid PID]   (the seeder's CPU time over the measurement)\n");
}

int bench_dp_kernel_main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"server", required_argument, NULL, 'a'},  {"swarm", required_argument, NULL, 'x'},
	    {"hash", required_argument, NULL, 'H'},    {"chunk-size", required_argument, NULL, 'k'},
	    {"clients", required_argument, NULL, 'c'}, {"window", required_argument, NULL, 'w'},
	    {"sample", required_argument, NULL, 's'},  {"seconds", required_argument, NULL, 't'},
	    {"warmup", required_argument, NULL, 'u'},  {"server-pid", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0}};
	const char *server = NULL, *swarm = NULL;
	int hash_fn = PPSPP_HASH_SHA256, ch;
	unsigned long chunk = 1024, clients = 64, window = 64, sample = 1024;
	double seconds = 5, warmup = 1, srv0 = 0, srv1 = 0;
	long server_pid = 0;
	uint8_t root[PPSPP_HASH_MAX_LEN];
	struct pcdn_addr sa;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 'a':
			server = optarg;
			break;
		case 'x':
			swarm = optarg;
			break;
		case 'H':
			if ((hash_fn = ppspp_hash_from_name(optarg)) < 0)
				goto bad;
			break;
		case 'k':
			chunk = strtoul(optarg, &end, 10);
			if (*end || chunk < 64 || chunk > 1400)
				goto bad;
			break;
		case 'c':
			clients = strtoul(optarg, &end, 10);
			if (*end || clients < 1 || clients > DPG_MAX_CLIENTS)
				goto bad;
			break;
		case 'w':
			window = strtoul(optarg, &end, 10);
			if (*end || window < 1 || window > 1024 || (window & (window - 1)))
				goto bad;
			break;
		case 's':
			sample = strtoul(optarg, &end, 10);
			if (*end || sample < 1 || (sample & (sample - 1)))
				goto bad;
			break;
		case 't':
		case 'u': {
			double d = strtod(optarg, &end);
			if (*end || d < 0 || d > 86400 || (ch == 't' && d <= 0))
				goto bad;
			*(ch == 't' ? &seconds : &warmup) = d;
			break;
		}
		case 'p':
			server_pid = strtol(optarg, &end, 10);
			if (*end || server_pid <= 0)
				goto bad;
			break;
		case 'h':
			kb_usage(stdout);
			return 0;
		default:
			kb_usage(stderr);
			return 2;
		}
	}
	size_t root_len = ppspp_hash_len((uint8_t)hash_fn), got = 0;
	if (!server || !swarm || pcdn_addr_parse(server, &sa) < 0 ||
	    pcdn_hex_decode(swarm, root, sizeof(root), &got) < 0 || got != root_len) {
		kb_usage(stderr);
		return 2;
	}
	struct kbench *k = calloc(1, sizeof(*k));
	if (!k)
		return 1;
	k->server = sa.ss;
	k->server_len = sa.len;
	k->fd = socket(k->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (k->fd < 0) {
		perror("pcdn-bench dp-kernel: socket");
		return 1;
	}
	int big = 8 << 20;
	setsockopt(k->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(k->fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	struct dpg_config gc = {.n_clients = (unsigned)clients,
				.window = (unsigned)window,
				.sample_every = (unsigned)sample,
				.hash_fn = (uint8_t)hash_fn,
				.chunk_size = (uint32_t)chunk,
				.root = root,
				.root_len = root_len};
	struct dpg *g = dpg_create(&gc, kb_send, k);
	if (!g) {
		perror("pcdn-bench dp-kernel: generator");
		return 1;
	}
	for (unsigned i = 0; i < KB_BATCH; i++) {
		k->in_iov[i] = (struct iovec){.iov_base = k->in_buf[i], .iov_len = KB_DGRAM};
		k->in[i].msg_hdr.msg_iov = &k->in_iov[i];
		k->in[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGINT, kb_signal);
	signal(SIGTERM, kb_signal);

	struct dpg_counters c0 = {0}, c1;
	struct dpg_hist *h0 = calloc(1, sizeof(*h0));
	struct timespec cpu0 = {0}, cpu1;
	uint64_t start = mono_ns(), t_meas = start + (uint64_t)(warmup * 1e9), t0 = 0;
	uint64_t t_end = t_meas + (uint64_t)(seconds * 1e9), next_line = t_meas + 1000000000ull;
	bool measuring = false;
	if (!h0)
		return 1;
	while (!kstop) {
		uint64_t now = mono_ns();
		int n = recvmmsg(k->fd, k->in, KB_BATCH, MSG_DONTWAIT, NULL);
		k->recvmmsg_calls++;
		for (int i = 0; i < n; i++)
			dpg_input(g, k->in_buf[i], k->in[i].msg_len, NULL, 0, now);
		dpg_tick(g, now);
		kb_flush(k);
		if (!measuring && now >= t_meas) {
			measuring = true;
			t0 = now;
			c0 = *dpg_counters(g);
			*h0 = *dpg_latency(g, 0);
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
			srv0 = proc_cpu_s(server_pid);
		}
		if (measuring && now >= next_line) {
			const struct dpg_counters *c = dpg_counters(g);
			fprintf(
			    stderr,
			    "[%5.1f s] DATA %.3f Mpps (average), verified %llu failed %llu\n",
			    (double)(now - t0) / 1e9,
			    (double)(c->data_in - c0.data_in) / ((double)(now - t0) / 1e9) / 1e6,
			    (unsigned long long)c->verified, (unsigned long long)c->verify_failed);
			next_line += 1000000000ull;
		}
		if (measuring && now >= t_end)
			break;
	}
	uint64_t t1 = mono_ns();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	srv1 = proc_cpu_s(server_pid);
	c1 = *dpg_counters(g);
	const struct dpg_hist *h1 = dpg_latency(g, 0);
	dpg_close_all(g, t1);
	kb_flush(k);
	double dt = (double)(t1 - t0) / 1e9;
	double cpu =
	    (double)(cpu1.tv_sec - cpu0.tv_sec) + (double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9;
	if (!measuring || dt <= 0) {
		fprintf(stderr, "pcdn-bench dp-kernel: interrupted before measuring\n");
		return 1;
	}
	printf("{\"bench\":\"dp-kernel\",\"clients\":%lu,\"window\":%lu,\"chunk_size\":%lu,"
	       "\"seconds\":%.2f,\"kernel_mpps\":%.4f,\"payload_gbps\":%.3f,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"verified\":%llu,\"verify_failed\":%llu,\"unverifiable\":%llu,"
	       "\"handshakes\":%llu,\"downloads\":%llu,\"stalls\":%llu,\"client_cpu\":%.3f,"
	       "\"sendmmsg_calls\":%llu,\"recvmmsg_calls\":%llu,\"send_errors\":%llu,"
	       "\"server_cpu\":%.3f,\"kernel_mpps_per_server_cpu_s\":%.4f}\n",
	       clients, window, chunk, dt, (double)(c1.data_in - c0.data_in) / dt / 1e6,
	       (double)(c1.payload_bytes - c0.payload_bytes) * 8 / dt / 1e9,
	       dpg_hist_pct_us(h1, h0, 50), dpg_hist_pct_us(h1, h0, 99),
	       (unsigned long long)c1.verified, (unsigned long long)c1.verify_failed,
	       (unsigned long long)c1.verify_unverifiable, (unsigned long long)c1.handshakes_ok,
	       (unsigned long long)c1.downloads_done, (unsigned long long)c1.stalls, cpu / dt,
	       (unsigned long long)k->sendmmsg_calls, (unsigned long long)k->recvmmsg_calls,
	       (unsigned long long)k->send_errors, (srv1 - srv0) / dt,
	       srv1 > srv0 ? (double)(c1.data_in - c0.data_in) / (srv1 - srv0) / 1e6 : 0.0);
	dpg_destroy(g);
	close(k->fd);
	free(h0);
	free(k);
	return 0;
bad:
	fprintf(stderr, "pcdn-bench dp-kernel: bad value '%s'\n", optarg);
	return 2;
}
