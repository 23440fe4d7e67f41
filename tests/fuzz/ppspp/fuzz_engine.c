/* libFuzzer target for the PPSPP engine (lib/ppspp engine.c, channel.c, swarm.c, picker.c,
 * binmap.c): a seeder and a downloader wired in memory complete their handshake, then the input
 * is a list of records, each a datagram injected into one of them (optionally on its live
 * channel, so it reaches the message handlers) between rounds of genuine traffic. Whatever the
 * input, nothing may crash or leak, and every chunk the downloader stores must be the content's
 * own bytes (only verified chunks reach storage). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcdn_common.h"
#include "ppspp.h"

#define CHUNK  1024
#define CHUNKS 40
#define QCAP   512

struct dgram {
	int to;
	size_t len;
	uint8_t b[1600];
};

struct side {
	struct ppspp_engine *e;
	struct ppspp_peer_addr addr;
	int id;
};

static uint8_t content[CHUNKS * CHUNK - 100];
static uint8_t root[20];
static struct dgram q[QCAP];
static int qn;
static struct side sides[2];
static uint8_t got[sizeof(content)];

static int fz_send(void *ctx, const struct ppspp_peer_addr *to, const uint8_t *hdr, size_t hl,
		   const void *payload, size_t pl, void *ref)
{
	struct side *self = ctx;
	(void)ref;
	(void)to;
	if (qn == QCAP || hl + pl > sizeof(q[0].b))
		return 0; /* a full network drops */
	q[qn].to = 1 - self->id;
	memcpy(q[qn].b, hdr, hl);
	if (pl)
		memcpy(q[qn].b + hl, payload, pl);
	q[qn].len = hl + pl;
	qn++;
	return 0;
}

static int st_get(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	(void)ctx;
	uint64_t off = chunk * CHUNK;
	if (off >= sizeof(content))
		return -ERANGE;
	*data = content + off;
	*len = (size_t)PCDN_MIN((uint64_t)CHUNK, sizeof(content) - off);
	*ref = NULL;
	return 0;
}

static int st_put(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	(void)ctx;
	uint64_t off = chunk * CHUNK;
	if (off + len > sizeof(content) || memcmp(content + off, data, len) != 0)
		abort(); /* an unverified chunk reached storage */
	memcpy(got + off, data, len);
	return 0;
}

static void pump(uint64_t *now, int rounds)
{
	for (int r = 0; r < rounds; r++) {
		int n = qn;
		static struct dgram cur[QCAP];
		memcpy(cur, q, (size_t)n * sizeof(q[0]));
		qn = 0;
		for (int i = 0; i < n; i++)
			ppspp_engine_input(sides[cur[i].to].e, &sides[1 - cur[i].to].addr, cur[i].b,
					   cur[i].len, *now);
		for (int s = 0; s < 2; s++)
			ppspp_engine_run(sides[s].e, *now);
		*now += 1000;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ppspp_merkle *full;
	uint64_t now = 1000000;

	if (!full) {
		pcdn_log_set_level("*", PCDN_LOG_ERR);
		for (size_t i = 0; i < sizeof(content); i++)
			content[i] = (uint8_t)(i * 131 + (i >> 8));
		full = ppspp_merkle_build_mem(content, sizeof(content), PPSPP_HASH_SHA1, CHUNK);
		ppspp_merkle_root(full, root);
	}
	struct ppspp_engine_config cfg;
	ppspp_engine_config_defaults(&cfg);
	cfg.max_channels = 4;
	cfg.max_requests = 64;
	cfg.max_inflight = 64;
	cfg.send_burst = 8;
	cfg.integrity_apart = size > 0 && (data[0] & 1);
	struct ppspp_merkle *leech =
	    ppspp_merkle_create_verifier(PPSPP_HASH_SHA1, CHUNK, root, sizeof(root));
	struct ppspp_storage seed_st = {.get_chunk = st_get};
	struct ppspp_storage leech_st = {.put_chunk = st_put};
	qn = 0;
	for (int s = 0; s < 2; s++) {
		memset(&sides[s], 0, sizeof(sides[s]));
		sides[s].id = s;
		sides[s].addr.family = PPSPP_AF_INET4;
		sides[s].addr.addr[0] = 10;
		sides[s].addr.addr[3] = (uint8_t)(s + 1);
		sides[s].addr.port = (uint16_t)(7000 + s);
		struct ppspp_io io = {.ctx = &sides[s], .send = fz_send};
		sides[s].e = ppspp_engine_create(&cfg, &io, NULL, now);
	}
	ppspp_engine_swarm_add(sides[0].e, full, PPSPP_CAM_CHUNK32, &seed_st);
	int sw = ppspp_engine_swarm_add(sides[1].e, leech, PPSPP_CAM_CHUNK32, &leech_st);
	int ch = ppspp_engine_connect(sides[1].e, sw, &sides[0].addr, now);
	pump(&now, 2);
	/* the live channel IDs, to aim records at the message handlers */
	uint32_t ids[2] = {0, 0};
	struct ppspp_channel_info info;
	if (ppspp_engine_channel_info(sides[1].e, ch, &info) == 0) {
		ids[1] = info.local_id;
		ids[0] = info.remote_id;
	}
	/* records: [flags][len][bytes]: flags bit 0 target, bit 1 live channel ID, bit 2 pump */
	size_t off = size > 0 ? 1 : 0;
	while (off + 2 <= size) {
		uint8_t flags = data[off], len = data[off + 1];
		off += 2;
		if (len > size - off)
			len = (uint8_t)(size - off);
		uint8_t b[300];
		memcpy(b, data + off, len);
		off += len;
		int t = flags & 1;
		size_t bl = len;
		if ((flags & 2) && bl >= 4)
			pcdn_put_be32(b, ids[t]);
		ppspp_engine_input(sides[t].e, &sides[1 - t].addr, b, bl, now);
		if (flags & 4)
			pump(&now, 1);
	}
	pump(&now, 30);
	for (int s = 0; s < 2; s++)
		ppspp_engine_destroy(sides[s].e);
	ppspp_merkle_free(leech);
	return 0;
}
