/* Kernel UDP glue shared by pcdn-source and pcdn-get: one socket, recvmmsg/sendmmsg batches,
 * and the loop that feeds a PPSPP engine (which itself never touches a socket). */
#ifndef PCDN_UDP_IO_H
#define PCDN_UDP_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pcdn_common.h"
#include "ppspp.h"

#define UDP_IO_BATCH	 64
#define UDP_IO_HDR_MAX	 2048
#define UDP_IO_DGRAM_MAX 65536

struct udp_io {
	int fd;
	int family; /* AF_INET or AF_INET6 (dual stack) */
	struct ppspp_engine *engine;
	/* outgoing batch: header copied, payload chained as a second iovec */
	int n_out;
	struct mmsghdr out[UDP_IO_BATCH];
	struct iovec out_iov[UDP_IO_BATCH][2];
	struct sockaddr_storage out_addr[UDP_IO_BATCH];
	uint8_t out_hdr[UDP_IO_BATCH][UDP_IO_HDR_MAX];
	/* incoming batch */
	struct mmsghdr in[UDP_IO_BATCH];
	struct iovec in_iov[UDP_IO_BATCH];
	struct sockaddr_storage in_addr[UDP_IO_BATCH];
	uint8_t *in_buf; /* UDP_IO_BATCH * UDP_IO_DGRAM_MAX */
	char in_ctl[UDP_IO_BATCH][64];
	/* segmentation offload: runs of same-size datagrams to one peer leave as one buffer
	 * (UDP_SEGMENT), and coalesced ones arrive as one (UDP_GRO) */
	bool gso, gro;
	struct mmsghdr gmsg[UDP_IO_BATCH];
	struct iovec giov[UDP_IO_BATCH * 2];
	char gctl[UDP_IO_BATCH][64];
	uint64_t send_errors, sendmmsg_calls, recvmmsg_calls, gso_buffers, gro_buffers;
};

/* Binds a socket (bind_addr NULL: an ephemeral port; dual-stack when want_v6). UDP GSO and GRO
 * are used when the kernel has them, unless PCDN_NO_UDP_OFFLOAD is set in the environment. */
int udp_io_open(struct udp_io *u, const struct pcdn_addr *bind_addr, bool want_v6);
void udp_io_close(struct udp_io *u);
/* The engine's send callback (ctx = struct udp_io). */
int udp_io_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hdr_len,
		const void *payload, size_t payload_len, void *payload_ref);
int udp_io_flush(struct udp_io *u);
/* Receives up to one batch without blocking and feeds it to the engine; returns datagrams. */
int udp_io_receive(struct udp_io *u);

/* Runs engine + socket until *stop is set or tick returns non-zero (its value is returned).
 * tick is called about every 50 ms and after each batch. */
int udp_io_loop(struct udp_io *u, volatile sig_atomic_t *stop, int (*tick)(void *ctx, uint64_t now),
		void *tick_ctx);

void udp_io_to_peer(const struct sockaddr_storage *ss, struct ppspp_peer_addr *out);
socklen_t udp_io_from_peer(const struct ppspp_peer_addr *p, int family,
			   struct sockaddr_storage *ss);
void udp_io_pcdn_to_peer(const struct pcdn_addr *a, struct ppspp_peer_addr *out);

#endif
