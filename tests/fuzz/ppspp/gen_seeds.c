/* Writes the seed corpus of fuzz_datagram: for every chunk addressing method, every message
 * type alone and all together, handshakes with each option, closing handshakes, unordered
 * options, live discard windows of both widths, and the RFC 7574 §8.16 example datagrams.
 * Each file is the four context bytes of fuzz_ctx.h followed by one datagram.
 * Usage: gen_seeds SEED_DIR SCRATCH_DIR STAMP_FILE (the scratch directory is created empty for
 * the inputs libFuzzer finds, so the source tree is never written to). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_ctx.h"
#include "pcdn_common.h"
#include "ppspp.h"

static const char *seed_dir;
static int n_written;

static void write_seed(const char *name, const uint8_t ctx_bytes[FUZZ_CTX_BYTES],
		       const uint8_t *dg, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(ctx_bytes, 1, FUZZ_CTX_BYTES, f) != FUZZ_CTX_BYTES ||
	    fwrite(dg, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n_written++;
}

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "gen_seeds: %s: %d\n", what, rc);
		exit(1);
	}
}

static uint8_t blob[512];

/* A spec of n chunks from `first` in the given cam (n a power of two for bins). */
static struct ppspp_spec spec_of(uint8_t cam, uint64_t first, uint64_t n, uint32_t chunk)
{
	struct ppspp_spec s;

	switch (cam) {
	case PPSPP_CAM_BIN32:
	case PPSPP_CAM_BIN64: {
		unsigned l = (unsigned)__builtin_ctzll(n);

		s.a = s.b = ppspp_bin_make(l, first >> l);
		break;
	}
	case PPSPP_CAM_BYTE64:
		s.a = first * chunk;
		s.b = (first + n) * chunk - 1;
		break;
	default:
		s.a = first;
		s.b = first + n - 1;
		break;
	}
	return s;
}

static int build_all(uint8_t cam, uint32_t chunk, struct ppspp_msg *m)
{
	static const uint8_t sid[20] = { 0x47, 0xa0, 0x13, 0xe6, 1, 2, 3, 4, 5, 6,
					 7, 8, 9, 10, 11, 12, 0x86, 0xaa, 0xb0, 0x3b };
	struct ppspp_options *o;
	int n = 0;

	memset(m, 0, 14 * sizeof(*m));
	m[n].type = PPSPP_HANDSHAKE;
	m[n].u.handshake.src_channel = 0x2a2a2a2a;
	o = &m[n].u.handshake.opts;
	o->present = 0x3ff;
	o->version = 1;
	o->min_version = 1;
	o->swarm_id = sid;
	o->swarm_id_len = sizeof(sid);
	o->cipm = PPSPP_CIPM_MERKLE;
	o->merkle_hash = PPSPP_HASH_SHA1;
	o->live_sig_alg = 13;
	o->cam = cam;
	o->live_discard_window = ppspp_discard_window_size(cam) == 4 ? 0xFFFFFFFFu : UINT64_MAX;
	ppspp_supported_msgs_set(o, 0x3fff);
	o->chunk_size = chunk;
	n++;
	m[n].type = PPSPP_DATA;
	m[n].u.data.spec = spec_of(cam, 2, 2, chunk);
	m[n].u.data.timestamp = 0x0004e94180b7db44ull;
	m[n].u.data.data = blob;
	m[n].u.data.len = 2 * chunk;
	n++;
	m[n].type = PPSPP_ACK;
	m[n].u.ack.spec = spec_of(cam, 2, 2, chunk);
	m[n].u.ack.delay_us = 100000;
	n++;
	m[n].type = PPSPP_HAVE;
	m[n].u.have = spec_of(cam, 0, 4, chunk);
	n++;
	m[n].type = PPSPP_INTEGRITY;
	m[n].u.integrity.spec = spec_of(cam, 1, 1, chunk);
	m[n].u.integrity.hash = blob;
	n++;
	m[n].type = PPSPP_PEX_RESV4;
	memcpy(m[n].u.pex.addr, "\x7f\x00\x00\x01", 4);
	m[n].u.pex.port = 7000;
	n++;
	m[n].type = PPSPP_PEX_REQ;
	n++;
	m[n].type = PPSPP_SIGNED_INTEGRITY;
	m[n].u.signed_integrity.spec = spec_of(cam, 0, 8, chunk);
	m[n].u.signed_integrity.timestamp = 1;
	m[n].u.signed_integrity.sig = blob;
	n++;
	m[n].type = PPSPP_REQUEST;
	m[n].u.request = spec_of(cam, 8, 8, chunk);
	n++;
	m[n].type = PPSPP_CANCEL;
	m[n].u.cancel = spec_of(cam, 9, 1, chunk);
	n++;
	m[n].type = PPSPP_CHOKE;
	n++;
	m[n].type = PPSPP_UNCHOKE;
	n++;
	m[n].type = PPSPP_PEX_RESV6;
	m[n].u.pex.addr[15] = 1;
	m[n].u.pex.port = 7001;
	n++;
	m[n].type = PPSPP_PEX_RESCERT;
	m[n].u.pex_cert.cert = blob;
	m[n].u.pex_cert.len = 24;
	n++;
	return n;
}

static void hex_seed(const char *name, const uint8_t ctx_bytes[FUZZ_CTX_BYTES], const char *hex)
{
	uint8_t dg[1024];
	size_t n;

	must(pcdn_hex_decode(hex, dg, sizeof(dg), &n), name);
	write_seed(name, ctx_bytes, dg, n);
}

int main(int argc, char **argv)
{
	/* cam, SHA-1 (20-byte hashes), 64-byte signatures, 16-byte chunks */
	uint8_t cb[FUZZ_CTX_BYTES] = { 0, 0, 1, 2 };
	const uint8_t rfc[FUZZ_CTX_BYTES] = { PPSPP_CAM_CHUNK32, PPSPP_HASH_SHA256, 0, 0 };
	char name[64];
	FILE *stamp;

	if (argc != 4) {
		fprintf(stderr, "usage: gen_seeds SEED_DIR SCRATCH_DIR STAMP_FILE\n");
		return 2;
	}
	seed_dir = argv[1];
	if ((mkdir(argv[1], 0755) != 0 && errno != EEXIST) ||
	    (mkdir(argv[2], 0755) != 0 && errno != EEXIST)) {
		perror("gen_seeds: mkdir");
		return 1;
	}
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 31 + 7);

	for (uint8_t cam = 0; cam < 5; cam++) {
		struct ppspp_codec_ctx ctx;
		struct ppspp_msg m[15];
		uint8_t buf[2048];
		struct ppspp_writer w;
		int n;

		cb[0] = cam;
		ctx = fuzz_ctx(cb);
		n = build_all(cam, ctx.chunk_size, m);
		/* every message alone */
		for (int i = 0; i < n; i++) {
			must(ppspp_writer_init(&w, buf, sizeof(buf), 0x01020304, &ctx), "init");
			must(ppspp_writer_put(&w, &m[i]), "put");
			snprintf(name, sizeof(name), "cam%u-type%02u", cam, m[i].type);
			write_seed(name, cb, buf, w.len);
		}
		/* all together, ending with a short tail DATA */
		memset(&m[n], 0, sizeof(m[n]));
		m[n].type = PPSPP_DATA;
		m[n].u.data.spec = spec_of(cam, 12, 1, ctx.chunk_size);
		m[n].u.data.data = blob;
		m[n].u.data.len = 5;
		must(ppspp_writer_init(&w, buf, sizeof(buf), 8, &ctx), "init");
		for (int i = 0; i <= n; i++)
			must(ppspp_writer_put(&w, &m[i]), "put all");
		snprintf(name, sizeof(name), "cam%u-all", cam);
		write_seed(name, cb, buf, w.len);
		/* each option alone in a handshake */
		for (unsigned code = 0; code < 10; code++) {
			struct ppspp_msg h = m[0];

			h.u.handshake.opts.present = PPSPP_OPT_BIT(code);
			must(ppspp_writer_init(&w, buf, sizeof(buf), 0, &ctx), "init");
			must(ppspp_writer_put(&w, &h), "put option");
			snprintf(name, sizeof(name), "cam%u-opt%u", cam, code);
			write_seed(name, cb, buf, w.len);
		}
	}

	/* RFC 7574 §8.16, as drawn (20-byte swarm ID, its middle filled in) */
	hex_seed("rfc-8.16-handshake", rfc,
		 "00000000" "0000000001" "0001" "0101" "020014" "47a013e6"
		 "0102030405060708090a0b0c" "86aab03b" "0301" "0402" "0602" "0900000400" "ff");
	hex_seed("rfc-8.16-handshake-have", rfc,
		 "00000001" "0000000008" "0001" "0301" "0402" "0602" "0900000400" "ff"
		 "03" "00000000" "00000000");
	hex_seed("rfc-8.16-request-pexreq", rfc, "00000008" "08" "00000000" "00000000" "06");
	hex_seed("rfc-8.16-data", rfc,
		 "00000001" "01" "00000000" "00000000" "0004e94180b7db44"
		 "48656c6c6f20776f726c6421");
	hex_seed("rfc-8.16-ack-have", rfc,
		 "00000008" "02" "00000000" "00000000" "0000000000000064" "03" "00000000"
		 "00000000");
	hex_seed("rfc-8.16-close", rfc, "00000008" "0000000000" "ff");
	/* §8.2: HAVE of bin 1 */
	{
		const uint8_t bin[FUZZ_CTX_BYTES] = { PPSPP_CAM_BIN32, 0, 0, 0 };

		hex_seed("rfc-8.2-have-bin", bin, "00000007" "0300000001");
	}
	/* closing handshake without options, version only; keep-alive */
	hex_seed("close-bare", rfc, "00000008" "0000000000");
	hex_seed("close-version", rfc, "00000008" "0000000000" "0001" "ff");
	hex_seed("keepalive", rfc, "00000008");
	/* options in descending order; a handshake switching to 32-bit bins, SHA-1, 16-byte
	 * chunks, then HAVE, INTEGRITY and two DATA using it */
	hex_seed("options-descending", rfc,
		 "00000000" "0000000007" "0900000800" "0602" "0402" "0301" "0101" "0001" "ff");
	hex_seed("handshake-switches-context", rfc,
		 "00000000" "0000000009" "0001" "0301" "0400" "0600" "0900000010" "ff"
		 "03" "00000003" "04" "00000001" "000102030405060708090a0b0c0d0e0f10111213"
		 "01" "00000001" "0000000000000001" "00112233445566778899aabbccddeeff"
		 "00112233445566778899aabbccddeeff" "01" "00000004" "0000000000000002" "abcd");
	/* live: RSA swarm ID (1-byte alg, 1-byte exponent length 3, 16-byte modulus), RSASHA256,
	 * 32-bit chunk ranges, discard window, then SIGNED_INTEGRITY with a 16-byte signature */
	hex_seed("live-rsa-signed-integrity", rfc,
		 "00000000" "0000000005" "0001" "020015" "0803010001"
		 "00112233445566778899aabbccddeeff" "0303" "0508" "0602" "07000000ff" "08020dc0"
		 "0900000400" "ff"
		 "07" "00000000" "0000000f" "0000000000000001" "ffeeddccbbaa99887766554433221100");
	/* 64-bit discard window after a 64-bit CAM option */
	hex_seed("live-discard-64", rfc,
		 "00000000" "0000000005" "0001" "0604" "07ffffffffffffffff" "ff" "03"
		 "0000000000000001" "0000000000000002");

	stamp = fopen(argv[3], "w");
	if (!stamp || fprintf(stamp, "%d seeds\n", n_written) < 0 || fclose(stamp) != 0) {
		perror("gen_seeds: stamp");
		return 1;
	}
	return 0;
}
