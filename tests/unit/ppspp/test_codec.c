/* CUnit suite "ppspp codec": RFC 7574 §7, §8 datagrams, messages and handshake options.
 * Round trips of every message and option under every chunk addressing method, the RFC's own
 * byte examples (§8.2, §8.16, §7.10), every truncation of every message, malformed values, and
 * the writer's -ENOSPC / -EINVAL behaviour. Inputs are copied into buffers of their exact size so
 * that ASan reports any read past a datagram. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcdn_common.h"
#include "ppspp.h"

#define N_CAMS 5
#define CHUNK 64u

static const uint8_t swarm_id[20] = { 0x47, 0xa0, 0x13, 0xe6, 1, 2, 3, 4, 5, 6,
				      7,    8,    9,    10,   11, 12, 0x86, 0xaa, 0xb0, 0x3b };
static uint8_t hash20[20];
static uint8_t sig64[64];
static uint8_t payload[4 * CHUNK];
static uint8_t cert[37];

static struct ppspp_codec_ctx test_ctx(uint8_t cam)
{
	struct ppspp_codec_ctx c = { .cam = cam, .hash_len = 20, .sig_len = 64,
				     .chunk_size = CHUNK };
	return c;
}

/* One spec per cam: a bin, or a range; `chunks` wide when a range. */
static struct ppspp_spec spec_for(uint8_t cam, uint64_t first, uint64_t n)
{
	struct ppspp_spec s = { 0, 0 };

	/* 64-bit methods get numbers above 2^32 so the upper bytes are exercised. */
	if (cam == PPSPP_CAM_BIN64 || cam == PPSPP_CAM_CHUNK64 || cam == PPSPP_CAM_BYTE64)
		first += 1ull << 33;
	switch (cam) {
	case PPSPP_CAM_BIN32:
	case PPSPP_CAM_BIN64: {
		unsigned layer = (unsigned)__builtin_ctzll(n);

		s.a = s.b = ppspp_bin_make(layer, first >> layer);
		break;
	}
	case PPSPP_CAM_BYTE64:
		s.a = first * CHUNK;
		s.b = (first + n) * CHUNK - 1;
		break;
	default:
		s.a = first;
		s.b = first + n - 1;
		break;
	}
	return s;
}

static void full_options(struct ppspp_options *o, uint8_t cam)
{
	memset(o, 0, sizeof(*o));
	o->present = 0x3ff;
	o->version = 1;
	o->min_version = 1;
	o->swarm_id = swarm_id;
	o->swarm_id_len = sizeof(swarm_id);
	o->cipm = PPSPP_CIPM_MERKLE;
	o->merkle_hash = PPSPP_HASH_SHA1;
	o->live_sig_alg = 13; /* ECDSAP256SHA256: 64-byte signatures */
	o->cam = cam;
	o->live_discard_window = ppspp_discard_window_size(cam) == 4 ? 0xFFFFFFFFull
								     : 0x123456789abcull;
	ppspp_supported_msgs_set(o, 0x3fff);
	o->chunk_size = CHUNK;
}

/* Every message type 0..13, in type order, valid for cam and test_ctx(cam). */
static int build_all(uint8_t cam, struct ppspp_msg *m)
{
	int n = 0;

	memset(m, 0, 14 * sizeof(*m));
	m[n].type = PPSPP_HANDSHAKE;
	m[n].u.handshake.src_channel = 0x01020304;
	full_options(&m[n].u.handshake.opts, cam);
	n++;
	m[n].type = PPSPP_DATA;
	m[n].u.data.spec = spec_for(cam, 4, 2);
	m[n].u.data.timestamp = 0x0004e94180b7db44ull;
	m[n].u.data.data = payload;
	m[n].u.data.len = 2 * CHUNK; /* full: more messages may follow (§8.6) */
	n++;
	m[n].type = PPSPP_ACK;
	m[n].u.ack.spec = spec_for(cam, 4, 2);
	m[n].u.ack.delay_us = 100000;
	n++;
	m[n].type = PPSPP_HAVE;
	m[n].u.have = spec_for(cam, 0, 8);
	n++;
	m[n].type = PPSPP_INTEGRITY;
	m[n].u.integrity.spec = spec_for(cam, 2, 2);
	m[n].u.integrity.hash = hash20;
	n++;
	m[n].type = PPSPP_PEX_RESV4;
	memcpy(m[n].u.pex.addr, "\xc0\x00\x02\x01", 4);
	m[n].u.pex.port = 6778;
	n++;
	m[n].type = PPSPP_PEX_REQ;
	n++;
	m[n].type = PPSPP_SIGNED_INTEGRITY;
	m[n].u.signed_integrity.spec = spec_for(cam, 0, 4);
	m[n].u.signed_integrity.timestamp = 0xdeadbeefcafef00dull;
	m[n].u.signed_integrity.sig = sig64;
	n++;
	m[n].type = PPSPP_REQUEST;
	m[n].u.request = spec_for(cam, 16, 16);
	n++;
	m[n].type = PPSPP_CANCEL;
	m[n].u.cancel = spec_for(cam, 17, 1);
	n++;
	m[n].type = PPSPP_CHOKE;
	n++;
	m[n].type = PPSPP_UNCHOKE;
	n++;
	m[n].type = PPSPP_PEX_RESV6;
	memcpy(m[n].u.pex.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	m[n].u.pex.port = 443;
	n++;
	m[n].type = PPSPP_PEX_RESCERT;
	m[n].u.pex_cert.cert = cert;
	m[n].u.pex_cert.len = sizeof(cert);
	n++;
	return n;
}

static bool spec_eq(const struct ppspp_spec *a, const struct ppspp_spec *b)
{
	return a->a == b->a && a->b == b->b;
}

static bool opts_eq(const struct ppspp_options *a, const struct ppspp_options *b)
{
	if (a->present != b->present)
		return false;
#define SAME(f) (!ppspp_options_has(a, code) || a->f == b->f)
	for (unsigned code = 0; code < 10; code++) {
		bool ok = true;

		switch (code) {
		case 0: ok = SAME(version); break;
		case 1: ok = SAME(min_version); break;
		case 2:
			ok = !ppspp_options_has(a, code) ||
			     (a->swarm_id_len == b->swarm_id_len && a->swarm_id_len == 0) ||
			     (a->swarm_id_len == b->swarm_id_len &&
			      memcmp(a->swarm_id, b->swarm_id, a->swarm_id_len) == 0);
			break;
		case 3: ok = SAME(cipm); break;
		case 4: ok = SAME(merkle_hash); break;
		case 5: ok = SAME(live_sig_alg); break;
		case 6: ok = SAME(cam); break;
		case 7: ok = SAME(live_discard_window); break;
		case 8:
			ok = !ppspp_options_has(a, code) ||
			     (a->supported_msgs_len == b->supported_msgs_len &&
			      memcmp(a->supported_msgs, b->supported_msgs, a->supported_msgs_len) ==
				  0);
			break;
		case 9: ok = SAME(chunk_size); break;
		}
		if (!ok)
			return false;
	}
#undef SAME
	return true;
}

/* Specs compare as the decoder reports them: a bin's b equals its a. */
static struct ppspp_spec wire_spec(uint8_t cam, struct ppspp_spec s)
{
	if (cam == PPSPP_CAM_BIN32 || cam == PPSPP_CAM_BIN64)
		s.b = s.a;
	return s;
}

static bool msg_eq(uint8_t cam, const struct ppspp_codec_ctx *c, const struct ppspp_msg *a,
		   const struct ppspp_msg *b)
{
	struct ppspp_spec sa, sb;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case PPSPP_HANDSHAKE:
		return a->u.handshake.src_channel == b->u.handshake.src_channel &&
		       opts_eq(&a->u.handshake.opts, &b->u.handshake.opts);
	case PPSPP_DATA:
		sa = wire_spec(cam, a->u.data.spec);
		sb = wire_spec(cam, b->u.data.spec);
		return spec_eq(&sa, &sb) && a->u.data.timestamp == b->u.data.timestamp &&
		       a->u.data.len == b->u.data.len &&
		       (a->u.data.len == 0 ||
			memcmp(a->u.data.data, b->u.data.data, a->u.data.len) == 0);
	case PPSPP_ACK:
		sa = wire_spec(cam, a->u.ack.spec);
		sb = wire_spec(cam, b->u.ack.spec);
		return spec_eq(&sa, &sb) && a->u.ack.delay_us == b->u.ack.delay_us;
	case PPSPP_HAVE:
	case PPSPP_REQUEST:
	case PPSPP_CANCEL:
		sa = wire_spec(cam, a->u.have);
		sb = wire_spec(cam, b->u.have);
		return spec_eq(&sa, &sb);
	case PPSPP_INTEGRITY:
		sa = wire_spec(cam, a->u.integrity.spec);
		sb = wire_spec(cam, b->u.integrity.spec);
		return spec_eq(&sa, &sb) &&
		       memcmp(a->u.integrity.hash, b->u.integrity.hash, c->hash_len) == 0;
	case PPSPP_SIGNED_INTEGRITY:
		sa = wire_spec(cam, a->u.signed_integrity.spec);
		sb = wire_spec(cam, b->u.signed_integrity.spec);
		return spec_eq(&sa, &sb) &&
		       a->u.signed_integrity.timestamp == b->u.signed_integrity.timestamp &&
		       memcmp(a->u.signed_integrity.sig, b->u.signed_integrity.sig, c->sig_len) ==
			   0;
	case PPSPP_PEX_RESV4:
		return memcmp(a->u.pex.addr, b->u.pex.addr, 4) == 0 &&
		       a->u.pex.port == b->u.pex.port;
	case PPSPP_PEX_RESV6:
		return memcmp(a->u.pex.addr, b->u.pex.addr, 16) == 0 &&
		       a->u.pex.port == b->u.pex.port;
	case PPSPP_PEX_RESCERT:
		return a->u.pex_cert.len == b->u.pex_cert.len &&
		       memcmp(a->u.pex_cert.cert, b->u.pex_cert.cert, a->u.pex_cert.len) == 0;
	default:
		return true;
	}
}

/* Decodes `len` bytes from a heap copy of exactly that size. */
static uint8_t *exact_copy(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	memcpy(q, p, len);
	return q;
}

#define hex_to(hex, out, len) hex_to_cap((hex), (out), sizeof(out), (len))
static void hex_to_cap(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
	CU_ASSERT_EQUAL_FATAL(pcdn_hex_decode(hex, out, cap, len), 0);
}

/* Decoded messages point into their datagram: the copies live until the suite ends. */
static uint8_t *kept[64];
static int n_kept;

static int free_kept(void)
{
	for (int i = 0; i < n_kept; i++)
		free(kept[i]);
	n_kept = 0;
	return 0;
}

static void init_fixtures(void)
{
	for (size_t i = 0; i < sizeof(hash20); i++)
		hash20[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(sig64); i++)
		sig64[i] = (uint8_t)(0x40 ^ i);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(cert); i++)
		cert[i] = (uint8_t)(0x30 + i);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_roundtrip_each_message(void)
{
	for (uint8_t cam = 0; cam < N_CAMS; cam++) {
		struct ppspp_codec_ctx c = test_ctx(cam);
		struct ppspp_msg m[14], d;
		int n = build_all(cam, m);

		CU_ASSERT_EQUAL(n, 14);
		for (int i = 0; i < n; i++) {
			uint8_t buf[1024], *copy;
			struct ppspp_writer w;
			struct ppspp_reader r;

			CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 0xabcdef01, &c), 0);
			CU_ASSERT_EQUAL_FATAL(ppspp_writer_put(&w, &m[i]), 0);
			copy = exact_copy(buf, w.len);
			CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, w.len, &c), 0);
			CU_ASSERT_EQUAL(r.dst_channel, 0xabcdef01);
			CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
			if (!msg_eq(cam, &c, &m[i], &d))
				fprintf(stderr, "cam %u type %u differs\n", cam, m[i].type);
			CU_ASSERT_TRUE(msg_eq(cam, &c, &m[i], &d));
			CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 0);
			CU_ASSERT_EQUAL(r.off, w.len);
			free(copy);
		}
	}
}

static void test_roundtrip_one_datagram(void)
{
	for (uint8_t cam = 0; cam < N_CAMS; cam++) {
		struct ppspp_codec_ctx c = test_ctx(cam);
		struct ppspp_msg m[15], d;
		uint8_t buf[2048], *copy;
		struct ppspp_writer w;
		struct ppspp_reader r;
		int n = build_all(cam, m);

		memset(&m[n], 0, sizeof(m[n]));
		/* A short DATA (the last chunk of a file) may only be the tail. */
		m[n].type = PPSPP_DATA;
		m[n].u.data.spec = spec_for(cam, 9, 1);
		m[n].u.data.timestamp = 7;
		m[n].u.data.data = payload;
		m[n].u.data.len = 13;
		n++;
		CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 8, &c), 0);
		for (int i = 0; i < n; i++)
			CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m[i]), 0);
		CU_ASSERT_TRUE(w.sealed);
		copy = exact_copy(buf, w.len);
		CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, w.len, &c), 0);
		for (int i = 0; i < n; i++) {
			CU_ASSERT_EQUAL_FATAL(ppspp_reader_next(&r, &d), 1);
			CU_ASSERT_TRUE(msg_eq(cam, &c, &m[i], &d));
		}
		CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 0);
		free(copy);
	}
}

static void test_options_roundtrip(void)
{
	for (uint8_t cam = 0; cam < N_CAMS; cam++) {
		/* Each option alone, then all together; with and without a CAM option. */
		for (int code = -1; code < 10; code++) {
			struct ppspp_options o, d;
			uint8_t buf[256], *copy;
			size_t wr, used, expect = 1;

			full_options(&o, cam);
			if (code >= 0)
				o.present = PPSPP_OPT_BIT(code);
			CU_ASSERT_EQUAL_FATAL(ppspp_options_encode(&o, cam, buf, sizeof(buf), &wr),
					      0);
			for (unsigned k = 0; k < 10; k++) {
				static const size_t fixed[10] = { 2, 2, 0, 2, 2, 2, 2, 0, 0, 5 };

				if (!(o.present & PPSPP_OPT_BIT(k)))
					continue;
				expect += fixed[k];
				if (k == 2)
					expect += 3 + sizeof(swarm_id);
				if (k == 7)
					expect += 1 + ppspp_discard_window_size(cam);
				if (k == 8)
					expect += 2 + o.supported_msgs_len;
			}
			CU_ASSERT_EQUAL(wr, expect);
			CU_ASSERT_EQUAL(buf[wr - 1], 0xff);
			copy = exact_copy(buf, wr);
			CU_ASSERT_EQUAL(ppspp_options_decode_cam(copy, wr, cam, &d, &used), 0);
			CU_ASSERT_EQUAL(used, wr);
			CU_ASSERT_TRUE(opts_eq(&o, &d));
			/* Every strict prefix is truncated. */
			for (size_t l = 0; l < wr; l++) {
				uint8_t *pre = exact_copy(buf, l);

				CU_ASSERT_EQUAL(ppspp_options_decode_cam(pre, l, cam, &d, &used),
						-PPSPP_ERR_TRUNCATED);
				free(pre);
			}
			free(copy);
		}
	}
}

/* ---- the RFC's own bytes ------------------------------------------------------------------ */

static void test_rfc_have_bin(void)
{
	/* §8.2: a HAVE of bin 1 with bin addressing is "0300000001". */
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_BIN32);
	uint8_t buf[16], *copy;
	size_t n;
	struct ppspp_reader r;
	struct ppspp_writer w;
	struct ppspp_msg m;

	hex_to("000000070300000001", buf, &n);
	copy = exact_copy(buf, n);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, n, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_HAVE);
	CU_ASSERT_EQUAL(m.u.have.a, 1);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 0);
	free(copy);

	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 7, &c), 0);
	m.type = PPSPP_HAVE;
	m.u.have.a = 1;
	m.u.have.b = 0;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_EQUAL(w.len, 9);
	CU_ASSERT_EQUAL(memcmp(buf + 4, "\x03\x00\x00\x00\x01", 5), 0);
}

/* Decodes hex, checks that re-encoding the decoded messages gives the same bytes, and
 * returns the messages. */
static int decode_reencode(const char *hex, struct ppspp_msg *m, int max,
			   struct ppspp_codec_ctx *after)
{
	uint8_t buf[512], out[512], *copy;
	size_t n;
	int k = 0, rc;
	struct ppspp_reader r;
	struct ppspp_writer w;

	hex_to(hex, buf, &n);
	copy = exact_copy(buf, n);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, n, NULL), 0);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, out, sizeof(out), r.dst_channel, NULL), 0);
	while (k < max && (rc = ppspp_reader_next(&r, &m[k])) == 1) {
		CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m[k]), 0);
		k++;
	}
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m[k < max ? k : max - 1]), 0);
	CU_ASSERT_EQUAL(w.len, n);
	CU_ASSERT_EQUAL(memcmp(out, buf, n), 0);
	if (after)
		*after = r.ctx;
	CU_ASSERT_FATAL(n_kept < 64);
	kept[n_kept++] = copy;
	return k;
}

static void test_rfc_example_of_operation(void)
{
	/* §8.16, datagram by datagram. The RFC draws a 20-byte swarm ID (length 0x0014) of which
	 * it shows the first and last four bytes; the middle is filled here. */
	struct ppspp_msg m[4];
	struct ppspp_codec_ctx c;
	const struct ppspp_options *o;

	CU_ASSERT_EQUAL(decode_reencode("00000000" "0000000001" "0001" "0101"
					"020014" "47a013e6" "0102030405060708090a0b0c" "86aab03b"
					"0301" "0402" "0602" "0900000400" "ff",
					m, 4, &c), 1);
	CU_ASSERT_EQUAL(m[0].type, PPSPP_HANDSHAKE);
	CU_ASSERT_EQUAL(m[0].u.handshake.src_channel, 1);
	o = &m[0].u.handshake.opts;
	CU_ASSERT_EQUAL(o->present, 0x25f);
	CU_ASSERT_EQUAL(o->version, 1);
	CU_ASSERT_EQUAL(o->min_version, 1);
	CU_ASSERT_EQUAL(o->swarm_id_len, 20);
	CU_ASSERT_EQUAL(o->swarm_id[0], 0x47);
	CU_ASSERT_EQUAL(o->swarm_id[19], 0x3b);
	CU_ASSERT_EQUAL(o->cipm, PPSPP_CIPM_MERKLE);
	CU_ASSERT_EQUAL(o->merkle_hash, PPSPP_HASH_SHA256);
	CU_ASSERT_EQUAL(o->cam, PPSPP_CAM_CHUNK32);
	CU_ASSERT_EQUAL(o->chunk_size, 1024);
	CU_ASSERT_EQUAL(c.hash_len, 32);
	CU_ASSERT_EQUAL(c.chunk_size, 1024);

	/* The responder's handshake (no minimum version, no swarm ID) and a HAVE of chunk 0. */
	CU_ASSERT_EQUAL(decode_reencode("00000001" "0000000008" "0001" "0301" "0402" "0602"
					"0900000400" "ff" "03" "00000000" "00000000",
					m, 4, NULL), 2);
	CU_ASSERT_EQUAL(m[0].u.handshake.src_channel, 8);
	CU_ASSERT_EQUAL(m[0].u.handshake.opts.present, 0x259);
	CU_ASSERT_EQUAL(m[1].type, PPSPP_HAVE);
	CU_ASSERT_EQUAL(m[1].u.have.a, 0);
	CU_ASSERT_EQUAL(m[1].u.have.b, 0);

	/* REQUEST chunk 0 and a PEX_REQ. */
	CU_ASSERT_EQUAL(decode_reencode("00000008" "08" "00000000" "00000000" "06", m, 4, NULL), 2);
	CU_ASSERT_EQUAL(m[0].type, PPSPP_REQUEST);
	CU_ASSERT_EQUAL(m[1].type, PPSPP_PEX_REQ);

	/* DATA of chunk 0 with the RFC's timestamp and "Hello world!". */
	CU_ASSERT_EQUAL(decode_reencode("00000001" "01" "00000000" "00000000" "0004e94180b7db44"
					"48656c6c6f20776f726c6421",
					m, 4, NULL), 1);
	CU_ASSERT_EQUAL(m[0].type, PPSPP_DATA);
	CU_ASSERT_EQUAL(m[0].u.data.timestamp, 0x0004e94180b7db44ull);
	CU_ASSERT_EQUAL(m[0].u.data.len, 12);
	CU_ASSERT_EQUAL(memcmp(m[0].u.data.data, "Hello world!", 12), 0);

	/* ACK with the delay sample as drawn (0x64) and a HAVE. */
	CU_ASSERT_EQUAL(decode_reencode("00000008" "02" "00000000" "00000000" "0000000000000064"
					"03" "00000000" "00000000",
					m, 4, NULL), 2);
	CU_ASSERT_EQUAL(m[0].type, PPSPP_ACK);
	CU_ASSERT_EQUAL(m[0].u.ack.delay_us, 100);
	CU_ASSERT_EQUAL(m[1].type, PPSPP_HAVE);

	/* Closing handshake: source channel 0, empty option list. */
	CU_ASSERT_EQUAL(decode_reencode("00000008" "0000000000" "ff", m, 4, NULL), 1);
	CU_ASSERT_EQUAL(m[0].u.handshake.src_channel, 0);
	CU_ASSERT_EQUAL(m[0].u.handshake.opts.present, 0);
}

static void test_supported_msgs_example(void)
{
	/* §7.10: every message except ACK and the PEX ones is 11011001 11110000. */
	struct ppspp_options o, d;
	uint32_t mask = 0x3fff & ~((1u << PPSPP_ACK) | (1u << PPSPP_PEX_RESV4) |
				   (1u << PPSPP_PEX_REQ) | (1u << PPSPP_PEX_RESV6) |
				   (1u << PPSPP_PEX_RESCERT));
	uint8_t buf[64];
	size_t wr, used;

	memset(&o, 0, sizeof(o));
	CU_ASSERT_TRUE(ppspp_supported_msgs_has(&o, PPSPP_ACK)); /* absent: everything */
	ppspp_supported_msgs_set(&o, mask);
	CU_ASSERT_EQUAL(o.supported_msgs_len, 2);
	CU_ASSERT_EQUAL(o.supported_msgs[0], 0xd9);
	CU_ASSERT_EQUAL(o.supported_msgs[1], 0xf0);
	CU_ASSERT_EQUAL(ppspp_options_encode(&o, PPSPP_CAM_CHUNK32, buf, sizeof(buf), &wr), 0);
	CU_ASSERT_EQUAL(wr, 5);
	CU_ASSERT_EQUAL(memcmp(buf, "\x08\x02\xd9\xf0\xff", 5), 0);
	CU_ASSERT_EQUAL(ppspp_options_decode(buf, wr, &d, &used), 0);
	CU_ASSERT_TRUE(opts_eq(&o, &d));
	for (unsigned t = 0; t <= PPSPP_MSG_TYPE_MAX; t++)
		CU_ASSERT_EQUAL(ppspp_supported_msgs_has(&d, t), (mask >> t) & 1);
	/* Bits past the bitmap are unsupported, and the bitmap may be padded with zero bytes. */
	CU_ASSERT_FALSE(ppspp_supported_msgs_has(&d, 20));
	CU_ASSERT_EQUAL(ppspp_options_decode((const uint8_t *)"\x08\x04\xd9\xf0\x00\x00\xff", 7, &d,
					     &used), 0);
	CU_ASSERT_TRUE(ppspp_supported_msgs_has(&d, PPSPP_HAVE));
	CU_ASSERT_FALSE(ppspp_supported_msgs_has(&d, PPSPP_ACK));
}

/* ---- truncation: every message at every length --------------------------------------------- */

static void test_truncated_everywhere(void)
{
	for (uint8_t cam = 0; cam < N_CAMS; cam++) {
		struct ppspp_codec_ctx c = test_ctx(cam);
		struct ppspp_msg m[14], d;
		int n = build_all(cam, m);

		for (int i = 0; i < n; i++) {
			uint8_t buf[1024];
			struct ppspp_writer w;
			size_t data_hdr = 4 + 1 + ppspp_spec_size(cam) + 8;

			CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
			CU_ASSERT_EQUAL_FATAL(ppspp_writer_put(&w, &m[i]), 0);
			for (size_t l = 0; l < w.len; l++) {
				uint8_t *copy = exact_copy(buf, l);
				struct ppspp_reader r;
				int rc = ppspp_reader_init(&r, copy, l, &c);

				if (l < 4) {
					CU_ASSERT_EQUAL(rc, -PPSPP_ERR_TRUNCATED);
					CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d),
							-PPSPP_ERR_TRUNCATED);
				} else if (l == 4) {
					/* §8.14: the channel ID alone is a keep-alive. */
					CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 0);
				} else if (m[i].type == PPSPP_DATA && l >= data_hdr) {
					/* A DATA cut in its payload is a (short) tail chunk. */
					CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
					CU_ASSERT_EQUAL(d.u.data.len, l - data_hdr);
				} else {
					CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d),
							-PPSPP_ERR_TRUNCATED);
					/* The error sticks. */
					CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d),
							-PPSPP_ERR_TRUNCATED);
				}
				free(copy);
			}
		}
	}
}

/* ---- malformed input ------------------------------------------------------------------------ */

static int decode_hex_err(const char *hex, const struct ppspp_codec_ctx *c, int *nmsgs)
{
	uint8_t buf[512], *copy;
	size_t n;
	struct ppspp_reader r;
	struct ppspp_msg m;
	int rc, k = 0;

	hex_to(hex, buf, &n);
	copy = exact_copy(buf, n);
	rc = ppspp_reader_init(&r, copy, n, c);
	if (rc == 0)
		while ((rc = ppspp_reader_next(&r, &m)) == 1)
			k++;
	free(copy);
	if (nmsgs)
		*nmsgs = k;
	return rc;
}

static void test_bad_values(void)
{
	struct ppspp_codec_ctx c32 = test_ctx(PPSPP_CAM_CHUNK32);
	struct ppspp_codec_ctx c64 = test_ctx(PPSPP_CAM_CHUNK64);
	struct ppspp_codec_ctx cb = test_ctx(PPSPP_CAM_BYTE64);
	struct ppspp_codec_ctx cbin = test_ctx(PPSPP_CAM_BIN32);
	char hex[64];
	int k;

	/* end < start, in every range method */
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "08" "00000005" "00000004", &c32, NULL),
			-PPSPP_ERR_BAD_VALUE);
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "03" "0000000000000005" "0000000000000004", &c64,
				       NULL), -PPSPP_ERR_BAD_VALUE);
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "09" "0000000000000400" "00000000000003ff", &cb,
				       NULL), -PPSPP_ERR_BAD_VALUE);
	/* A valid message before the bad one is delivered first. */
	CU_ASSERT_EQUAL(decode_hex_err("00000001"
				       "0a"
				       "02"
				       "00000005"
				       "00000004"
				       "0000000000000000",
				       &c32, &k),
			-PPSPP_ERR_BAD_VALUE);
	CU_ASSERT_EQUAL(k, 1);
	/* DATA of the empty bin: no chunk to carry. */
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "01" "ffffffff" "0000000000000000" "00", &cbin,
				       NULL), -PPSPP_ERR_BAD_VALUE);
	/* ... while HAVE of the empty bin is a legal wire value the engine interprets. */
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "03" "ffffffff", &cbin, &k), 0);
	CU_ASSERT_EQUAL(k, 1);

	/* unknown message types 14..255 */
	for (int t = 14; t < 256; t++) {
		snprintf(hex, sizeof(hex), "00000001" "0b" "%02x" "0000000000000000", t);
		CU_ASSERT_EQUAL(decode_hex_err(hex, &c32, &k), -PPSPP_ERR_UNKNOWN_MSG);
		CU_ASSERT_EQUAL(k, 1);
	}
	/* unknown options 10..254 */
	for (int o = 10; o < 255; o++) {
		snprintf(hex, sizeof(hex), "00000000" "00" "00000001" "0001" "%02x01" "ff", o);
		CU_ASSERT_EQUAL(decode_hex_err(hex, &c32, NULL), -PPSPP_ERR_UNKNOWN_OPTION);
	}
	/* duplicate options, adjacent or not */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0001" "0001" "ff", &c32, NULL),
			-PPSPP_ERR_OPTION_ORDER);
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0900000400" "0001" "0900000400"
				       "ff", &c32, NULL), -PPSPP_ERR_OPTION_ORDER);
	/* swarm ID longer than the datagram */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0001" "020015" "00112233"
				       "ff", &c32, NULL), -PPSPP_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "02ffff" "00", &c32, NULL),
			-PPSPP_ERR_TRUNCATED);
	/* values the codec cannot frame or the RFC forbids */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0605" "ff", &c32, NULL),
			-PPSPP_ERR_BAD_VALUE);
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0405" "ff", &c32, NULL),
			-PPSPP_ERR_BAD_VALUE);
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0900000000" "ff", &c32, NULL),
			-PPSPP_ERR_BAD_VALUE);
	{
		char big[200] = "00000000" "00" "00000001" "0821";

		for (int i = 0; i < 33; i++)
			strcat(big, "ff");
		strcat(big, "ff");
		CU_ASSERT_EQUAL(decode_hex_err(big, &c32, NULL), -PPSPP_ERR_BAD_VALUE);
	}
	/* no end option */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "0001", &c32, NULL),
			-PPSPP_ERR_TRUNCATED);
	/* a CAM option after the live discard window that disagrees with its width */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "07ffffffff" "0601" "ff", &c32,
				       NULL), -PPSPP_ERR_OPTION_ORDER);
	/* ... and that agrees with it is accepted */
	CU_ASSERT_EQUAL(decode_hex_err("00000000" "00" "00000001" "07ffffffff" "0600" "ff", &c32,
				       &k), 0);
	CU_ASSERT_EQUAL(k, 1);
}

static void test_no_context(void)
{
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32);

	c.hash_len = 0;
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "04" "00000000" "00000000" "00", &c, NULL),
			-PPSPP_ERR_NO_CONTEXT);
	c.sig_len = 0;
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "07" "00000000" "00000000" "00", &c, NULL),
			-PPSPP_ERR_NO_CONTEXT);
	c.cam = 9;
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "03" "00000000" "00000000", &c, NULL),
			-PPSPP_ERR_NO_CONTEXT);
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "00" "00000001" "07ffffffff" "ff", &c, NULL),
			-PPSPP_ERR_NO_CONTEXT);
	/* A handshake in front provides what is missing. */
	CU_ASSERT_EQUAL(decode_hex_err("00000001" "00" "00000001" "0400" "0602" "ff"
				       "04" "00000000" "00000000" "00112233445566778899"
				       "00112233445566778899",
				       &c, NULL), 0);
}

/* ---- liberal reception ---------------------------------------------------------------------- */

static void test_liberal(void)
{
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32);
	uint8_t buf[256], *copy;
	size_t n;
	struct ppspp_reader r;
	struct ppspp_msg m;
	int k;

	/* options in descending order */
	hex_to("00000000" "00" "00000007" "0900000800" "0602" "0402" "0301" "0101" "0001" "ff",
	       buf, &n);
	copy = exact_copy(buf, n);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, n, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.u.handshake.opts.present, 0x25b);
	CU_ASSERT_EQUAL(m.u.handshake.opts.chunk_size, 2048);
	CU_ASSERT_EQUAL(r.ctx.chunk_size, 2048);
	CU_ASSERT_EQUAL(r.ctx.hash_len, 32);
	free(copy);

	/* a handshake with only a version: the context stays as it was */
	hex_to("00000000" "00" "00000007" "0001" "ff", buf, &n);
	copy = exact_copy(buf, n);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, n, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.u.handshake.opts.present, 1);
	CU_ASSERT_EQUAL(r.ctx.chunk_size, CHUNK);
	CU_ASSERT_EQUAL(r.ctx.cam, PPSPP_CAM_CHUNK32);
	free(copy);

	/* closing handshakes: version only, end only, and without any option list */
	CU_ASSERT_EQUAL(decode_hex_err("00000007" "00" "00000000" "0001" "ff", &c, &k), 0);
	CU_ASSERT_EQUAL(k, 1);
	CU_ASSERT_EQUAL(decode_hex_err("00000007" "00" "00000000" "ff", &c, &k), 0);
	CU_ASSERT_EQUAL(k, 1);
	CU_ASSERT_EQUAL(decode_hex_err("00000007" "00" "00000000", &c, &k), 0);
	CU_ASSERT_EQUAL(k, 1);
	/* ... but an opening handshake must end its options */
	CU_ASSERT_EQUAL(decode_hex_err("00000007" "00" "00000001", &c, NULL),
			-PPSPP_ERR_TRUNCATED);
}

static void test_handshake_updates_context(void)
{
	/* The reader starts on 32-bit chunk ranges; the handshake switches to 32-bit bins,
	 * SHA-1 and 16-byte chunks, and the messages after it follow. */
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32);
	uint8_t buf[256], *copy;
	size_t n;
	struct ppspp_reader r;
	struct ppspp_msg m;

	c.hash_len = 0;
	hex_to("00000000" "00" "00000009" "0001" "0301" "0400" "0600" "0900000010" "ff"
	       "03" "00000003"                                            /* HAVE bin 3 */
	       "04" "00000001" "000102030405060708090a0b0c0d0e0f10111213" /* INTEGRITY */
	       "01" "00000001" "0000000000000001" "00112233445566778899aabbccddeeff"
	       "00112233445566778899aabbccddeeff"                         /* DATA 2 chunks */
	       "01" "00000004" "0000000000000002" "abcd",                 /* short tail */
	       buf, &n);
	copy = exact_copy(buf, n);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, copy, n, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(r.ctx.cam, PPSPP_CAM_BIN32);
	CU_ASSERT_EQUAL(r.ctx.hash_len, 20);
	CU_ASSERT_EQUAL(r.ctx.chunk_size, 16);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_HAVE);
	CU_ASSERT_EQUAL(m.u.have.a, 3);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_INTEGRITY);
	CU_ASSERT_EQUAL(m.u.integrity.hash[19], 0x13);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_DATA);
	CU_ASSERT_EQUAL(m.u.data.spec.a, 1);
	CU_ASSERT_EQUAL(m.u.data.len, 32);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 1);
	CU_ASSERT_EQUAL(m.type, PPSPP_DATA);
	CU_ASSERT_EQUAL(m.u.data.spec.a, 4);
	CU_ASSERT_EQUAL(m.u.data.len, 2);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &m), 0);
	free(copy);
}

static void test_live_discard_width(void)
{
	struct ppspp_options o;
	size_t used;

	/* 4 bytes on a 32-bit cam from the context, 8 after a 64-bit CAM option, and 8 from a
	 * 64-bit context when no CAM option precedes it. */
	CU_ASSERT_EQUAL(ppspp_options_decode_cam((const uint8_t *)"\x07\x00\x00\x01\x00\xff", 6,
						 PPSPP_CAM_BIN32, &o, &used), 0);
	CU_ASSERT_EQUAL(o.live_discard_window, 256);
	CU_ASSERT_EQUAL(ppspp_options_decode((const uint8_t *)
					     "\x06\x04\x07\0\0\0\0\0\0\x01\x00\xff", 12, &o,
					     &used), 0);
	CU_ASSERT_EQUAL(o.live_discard_window, 256);
	CU_ASSERT_EQUAL(used, 12);
	CU_ASSERT_EQUAL(ppspp_options_decode_cam((const uint8_t *)"\x07\0\0\0\0\0\0\x01\x00\xff",
						 10, PPSPP_CAM_BYTE64, &o, &used),
			0);
	CU_ASSERT_EQUAL(o.live_discard_window, 256);
	/* The sender sizes it by its CAM option, else by the cam it is given. */
	{
		uint8_t buf[32];
		size_t wr;

		memset(&o, 0, sizeof(o));
		o.present = PPSPP_OPT_BIT(PPSPP_OPT_LIVE_DISCARD);
		o.live_discard_window = 0xFFFFFFFF;
		CU_ASSERT_EQUAL(ppspp_options_encode(&o, PPSPP_CAM_CHUNK32, buf, sizeof(buf), &wr),
				0);
		CU_ASSERT_EQUAL(wr, 6);
		CU_ASSERT_EQUAL(ppspp_options_encode(&o, PPSPP_CAM_CHUNK64, buf, sizeof(buf), &wr),
				0);
		CU_ASSERT_EQUAL(wr, 10);
		o.present |= PPSPP_OPT_BIT(PPSPP_OPT_CAM);
		o.cam = PPSPP_CAM_BIN64;
		CU_ASSERT_EQUAL(ppspp_options_encode(&o, PPSPP_CAM_CHUNK32, buf, sizeof(buf), &wr),
				0);
		CU_ASSERT_EQUAL(wr, 12);
		o.cam = PPSPP_CAM_BIN32;
		o.live_discard_window = 0x100000000ull;
		CU_ASSERT_EQUAL(ppspp_options_encode(&o, PPSPP_CAM_CHUNK64, buf, sizeof(buf), &wr),
				-EINVAL);
	}
}

static void test_signature_length(void)
{
	/* RSA: 1-byte algorithm, RFC 3110 key with a 3-byte exponent and a 128-byte modulus. */
	uint8_t sid[1 + 1 + 3 + 128], sid_long[1 + 3 + 3 + 256];
	struct ppspp_options o;
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32);

	memset(sid, 0x55, sizeof(sid));
	sid[0] = 8;
	sid[1] = 3;
	CU_ASSERT_EQUAL(ppspp_live_sig_len(8, sid, sizeof(sid)), 128);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(5, sid, sizeof(sid)), 128);
	memset(sid_long, 0x55, sizeof(sid_long));
	sid_long[1] = 0;
	sid_long[2] = 0;
	sid_long[3] = 3;
	CU_ASSERT_EQUAL(ppspp_live_sig_len(8, sid_long, sizeof(sid_long)), 256);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(8, sid, 4), 0);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(8, NULL, 0), 0);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(13, NULL, 0), 64);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(14, NULL, 0), 96);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(15, NULL, 0), 64);
	CU_ASSERT_EQUAL(ppspp_live_sig_len(200, NULL, 0), 0);

	memset(&o, 0, sizeof(o));
	o.present = PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID) | PPSPP_OPT_BIT(PPSPP_OPT_LIVE_SIG_ALG);
	o.swarm_id = sid;
	o.swarm_id_len = sizeof(sid);
	o.live_sig_alg = 8;
	c.sig_len = 0;
	ppspp_codec_ctx_apply(&c, &o);
	CU_ASSERT_EQUAL(c.sig_len, 128);
	o.live_sig_alg = 14;
	ppspp_codec_ctx_apply(&c, &o);
	CU_ASSERT_EQUAL(c.sig_len, 96);
	o.live_sig_alg = 250; /* unknown: keep what is known */
	ppspp_codec_ctx_apply(&c, &o);
	CU_ASSERT_EQUAL(c.sig_len, 96);
}

/* ---- DATA framing --------------------------------------------------------------------------- */

/* The fixed-layout chunk32 fast paths write exactly what the generic writer writes, with the
 * same errors. */
static void test_chunk32_fast_paths(void)
{
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32), b = test_ctx(PPSPP_CAM_BIN32);
	uint8_t b1[256], b2[256];
	struct ppspp_writer w1, w2;
	struct ppspp_msg m;
	static const uint32_t ranges[][2] = { { 0, 0 }, { 6, 7 }, { 1u << 20, (1u << 21) - 1 },
					      { UINT32_MAX, UINT32_MAX } };

	for (unsigned i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ppspp_writer_init(&w1, b1, sizeof(b1), 77, &c), 0);
		CU_ASSERT_EQUAL(ppspp_writer_init(&w2, b2, sizeof(b2), 77, &c), 0);
		memset(&m, 0, sizeof(m));
		m.type = PPSPP_INTEGRITY;
		m.u.integrity.spec = (struct ppspp_spec){ ranges[i][0], ranges[i][1] };
		m.u.integrity.hash = hash20;
		CU_ASSERT_EQUAL(ppspp_writer_put(&w1, &m), 0);
		CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, ranges[i][0], ranges[i][1],
								   hash20),
				0);
		CU_ASSERT_EQUAL(ppspp_writer_put_data_header(
				    &w1, &(struct ppspp_spec){ ranges[i][1], ranges[i][1] },
				    0x0102030405060708ull),
				0);
		CU_ASSERT_EQUAL(
		    ppspp_writer_put_data_header_chunk32(&w2, ranges[i][1], 0x0102030405060708ull),
		    0);
		CU_ASSERT_EQUAL_FATAL(w1.len, w2.len);
		CU_ASSERT_EQUAL(memcmp(b1, b2, w1.len), 0);
		CU_ASSERT_TRUE(w2.sealed);
		/* sealed: nothing more */
		CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 0, 0, hash20), -EINVAL);
		CU_ASSERT_EQUAL(ppspp_writer_put_data_header_chunk32(&w2, 0, 0), -EINVAL);
	}
	/* room: exactly enough, then one byte short (writer unchanged) */
	CU_ASSERT_EQUAL(ppspp_writer_init(&w2, b2, 4 + 9 + 20, 1, &c), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 1, 1, hash20), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 1, 1, hash20), -ENOSPC);
	CU_ASSERT_EQUAL(w2.len, 4 + 9 + 20);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w2, b2, 4 + 16, 1, &c), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header_chunk32(&w2, 1, 1), -ENOSPC);
	CU_ASSERT_EQUAL(w2.len, 4);
	CU_ASSERT_FALSE(w2.sealed);
	/* end before start, no hash, another cam */
	CU_ASSERT_EQUAL(ppspp_writer_init(&w2, b2, sizeof(b2), 1, &c), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 2, 1, hash20), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 1, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w2, b2, sizeof(b2), 1, &b), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put_integrity_chunk32(&w2, 0, 0, hash20), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header_chunk32(&w2, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(w2.len, 4);
}

static void test_data_framing(void)
{
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_CHUNK32);
	uint8_t buf[1024];
	struct ppspp_writer w;
	struct ppspp_reader r;
	struct ppspp_msg m, d;

	memset(&m, 0, sizeof(m));
	m.type = PPSPP_DATA;
	m.u.data.data = payload;

	/* Longer than its spec: undecodable, refused. */
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.u.data.spec = (struct ppspp_spec){ 0, 0 };
	m.u.data.len = CHUNK + 1;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	CU_ASSERT_EQUAL(w.len, 4);
	/* Full chunks, then a short tail; nothing after the tail. */
	m.u.data.len = CHUNK;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_FALSE(w.sealed);
	m.u.data.spec = (struct ppspp_spec){ 1, 2 };
	m.u.data.len = 2 * CHUNK;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	m.u.data.spec = (struct ppspp_spec){ 3, 3 };
	m.u.data.len = 10;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_TRUE(w.sealed);
	d.type = PPSPP_CHOKE;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &d), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header(&w, &m.u.data.spec, 0), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, buf, w.len, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.len, CHUNK);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.len, 2 * CHUNK);
	CU_ASSERT_EQUAL(memcmp(d.u.data.data, payload, 2 * CHUNK), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.len, 10);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 0);

	/* Variable-size chunks: the payload is always the tail. */
	c.chunk_size = PPSPP_CHUNK_SIZE_VARIABLE;
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.u.data.len = 3 * CHUNK + 7;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_TRUE(w.sealed);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, buf, w.len, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.len, 3 * CHUNK + 7);

	/* Byte ranges carry end-start+1 bytes whatever the chunk size. */
	c = test_ctx(PPSPP_CAM_BYTE64);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.u.data.spec = (struct ppspp_spec){ 100, 104 };
	m.u.data.len = 5;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_FALSE(w.sealed);
	d.type = PPSPP_UNCHOKE;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &d), 0);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, buf, w.len, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.len, 5);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.type, PPSPP_UNCHOKE);

	/* Zero-copy header: the payload follows outside the writer. */
	c = test_ctx(PPSPP_CAM_BIN32);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.u.data.spec = (struct ppspp_spec){ 0xFFFFFFFF, 0xFFFFFFFF };
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header(&w, &m.u.data.spec, 5), -EINVAL);
	m.u.data.spec = (struct ppspp_spec){ 6, 6 };
	CU_ASSERT_EQUAL(ppspp_writer_put_data_header(&w, &m.u.data.spec, 5), 0);
	CU_ASSERT_EQUAL(w.len, 4 + 1 + 4 + 8);
	CU_ASSERT_TRUE(w.sealed);
	memcpy(buf + w.len, payload, CHUNK);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, buf, w.len + CHUNK, &c), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.data.spec.a, 6);
	CU_ASSERT_EQUAL(d.u.data.timestamp, 5);
	CU_ASSERT_EQUAL(d.u.data.len, CHUNK);
}

/* ---- writer --------------------------------------------------------------------------------- */

static void test_writer_enospc(void)
{
	uint8_t small[3];
	struct ppspp_writer w;

	CU_ASSERT_EQUAL(ppspp_writer_init(&w, small, sizeof(small), 1, NULL), -ENOSPC);
	for (uint8_t cam = 0; cam < N_CAMS; cam++) {
		struct ppspp_codec_ctx c = test_ctx(cam);
		struct ppspp_msg m[14];
		int n = build_all(cam, m);

		for (int i = 0; i < n; i++) {
			uint8_t big[1024];
			size_t need;

			CU_ASSERT_EQUAL(ppspp_writer_init(&w, big, sizeof(big), 1, &c), 0);
			CU_ASSERT_EQUAL_FATAL(ppspp_writer_put(&w, &m[i]), 0);
			need = w.len;
			for (size_t cap = 4; cap < need; cap++) {
				/* The heap buffer has exactly cap bytes: ASan sees any overrun. */
				uint8_t *b = malloc(cap);

				CU_ASSERT_EQUAL(ppspp_writer_init(&w, b, cap, 1, &c), 0);
				CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m[i]), -ENOSPC);
				CU_ASSERT_EQUAL(w.len, 4);
				CU_ASSERT_FALSE(w.sealed);
				if (cap > 4) {
					struct ppspp_msg ch = { .type = PPSPP_CHOKE };

					CU_ASSERT_EQUAL(ppspp_writer_put(&w, &ch), 0);
					CU_ASSERT_EQUAL(w.len, 5);
				}
				free(b);
			}
		}
	}
}

static void test_writer_einval(void)
{
	uint8_t buf[256];
	struct ppspp_writer w;
	struct ppspp_codec_ctx c = test_ctx(PPSPP_CAM_BIN32);
	struct ppspp_msg m;
	struct ppspp_options *o = &m.u.handshake.opts;

	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.type = PPSPP_HAVE;
	m.u.have = (struct ppspp_spec){ 3, 9 }; /* a range on a bin channel */
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	m.u.have = (struct ppspp_spec){ 0x100000000ull, 0 }; /* wider than 32 bits */
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	m.u.have = (struct ppspp_spec){ 7, 0 };
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	/* ranges: end before start, 32-bit overflow */
	c.cam = PPSPP_CAM_CHUNK32;
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.u.have = (struct ppspp_spec){ 9, 3 };
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	m.u.have = (struct ppspp_spec){ 0, 0x100000000ull };
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	/* -EINVAL wins over -ENOSPC: it is the more useful answer */
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, 6, 1, &c), 0);
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	/* unknown message types */
	m.type = 14;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	m.type = 255;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	/* INTEGRITY without a hash length, SIGNED_INTEGRITY without a signature length */
	c.hash_len = 0;
	c.sig_len = 0;
	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 1, &c), 0);
	m.type = PPSPP_INTEGRITY;
	m.u.integrity.spec = (struct ppspp_spec){ 0, 0 };
	m.u.integrity.hash = hash20;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	m.type = PPSPP_SIGNED_INTEGRITY;
	m.u.signed_integrity.sig = sig64;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	/* options: unknown codes, values the decoder would refuse, missing swarm ID bytes */
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	o->present = PPSPP_OPT_BIT(10);
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_CAM);
	o->cam = 5;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_MERKLE_HASH);
	o->merkle_hash = 5;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_CHUNK_SIZE);
	o->chunk_size = 0;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_SWARM_ID);
	o->swarm_id_len = 4;
	o->swarm_id = NULL;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	o->present = PPSPP_OPT_BIT(PPSPP_OPT_SUPPORTED_MSGS);
	o->supported_msgs_len = 33;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), -EINVAL);
	CU_ASSERT_EQUAL(w.len, 4);
	/* A closing handshake is the source channel 0 and the end option. */
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_EQUAL(w.len, 10);
	CU_ASSERT_EQUAL(memcmp(buf + 4, "\0\0\0\0\0\xff", 6), 0);
}

static void test_handshake_updates_writer(void)
{
	/* A writer that announces 64-bit bins in its handshake writes the following HAVE in
	 * 64-bit bins, as the receiving reader expects. */
	uint8_t buf[128];
	struct ppspp_writer w;
	struct ppspp_reader r;
	struct ppspp_msg m, d;

	CU_ASSERT_EQUAL(ppspp_writer_init(&w, buf, sizeof(buf), 0, NULL), 0);
	memset(&m, 0, sizeof(m));
	m.type = PPSPP_HANDSHAKE;
	m.u.handshake.src_channel = 5;
	m.u.handshake.opts.present = PPSPP_OPT_BIT(PPSPP_OPT_CAM);
	m.u.handshake.opts.cam = PPSPP_CAM_BIN64;
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	m.type = PPSPP_HAVE;
	m.u.have = (struct ppspp_spec){ 0x100000001ull, 0x100000001ull };
	CU_ASSERT_EQUAL(ppspp_writer_put(&w, &m), 0);
	CU_ASSERT_EQUAL(w.len, 4 + 5 + 2 + 1 + 1 + 8);
	CU_ASSERT_EQUAL(ppspp_reader_init(&r, buf, w.len, NULL), 0);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(ppspp_reader_next(&r, &d), 1);
	CU_ASSERT_EQUAL(d.u.have.a, 0x100000001ull);
}

static void test_error_names(void)
{
	const char *seen[PPSPP_ERR_DECODE_MAX] = { 0 };

	for (int e = 1; e < PPSPP_ERR_DECODE_MAX; e++) {
		const char *s = ppspp_decode_error_name(-e);

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_TRUE(strlen(s) > 0 && strlen(s) < 20);
		CU_ASSERT_PTR_NULL(strchr(s, ' '));
		for (int k = 1; k < e; k++)
			CU_ASSERT_STRING_NOT_EQUAL(seen[k], s);
		seen[e] = s;
	}
	CU_ASSERT_STRING_EQUAL(ppspp_decode_error_name(-PPSPP_ERR_TRUNCATED), "truncated");
	CU_ASSERT_PTR_NOT_NULL(ppspp_decode_error_name(-1000));
	CU_ASSERT_PTR_NOT_NULL(ppspp_decode_error_name(-PPSPP_ERR_DECODE_MAX));
}

int main(void)
{
	CU_pSuite s;

	init_fixtures();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ppspp_codec", NULL, free_kept);
	CU_add_test(s, "roundtrip_each_message", test_roundtrip_each_message);
	CU_add_test(s, "roundtrip_one_datagram", test_roundtrip_one_datagram);
	CU_add_test(s, "options_roundtrip", test_options_roundtrip);
	CU_add_test(s, "rfc_have_bin", test_rfc_have_bin);
	CU_add_test(s, "rfc_example_of_operation", test_rfc_example_of_operation);
	CU_add_test(s, "supported_msgs_example", test_supported_msgs_example);
	CU_add_test(s, "truncated_everywhere", test_truncated_everywhere);
	CU_add_test(s, "bad_values", test_bad_values);
	CU_add_test(s, "no_context", test_no_context);
	CU_add_test(s, "liberal", test_liberal);
	CU_add_test(s, "handshake_updates_context", test_handshake_updates_context);
	CU_add_test(s, "live_discard_width", test_live_discard_width);
	CU_add_test(s, "signature_length", test_signature_length);
	CU_add_test(s, "data_framing", test_data_framing);
	CU_add_test(s, "chunk32_fast_paths", test_chunk32_fast_paths);
	CU_add_test(s, "writer_enospc", test_writer_enospc);
	CU_add_test(s, "writer_einval", test_writer_einval);
	CU_add_test(s, "handshake_updates_writer", test_handshake_updates_writer);
	CU_add_test(s, "error_names", test_error_names);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
