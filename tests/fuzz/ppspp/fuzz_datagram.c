/* libFuzzer target for the RFC 7574 §8 datagram reader (lib/ppspp codec.c, options.c, spec.c).
 * The first bytes choose the codec context (fuzz_ctx.h), the rest is one datagram. Every
 * message is read; each decoded message is written again with the writer, and the re-encoded
 * datagram must decode to the same messages (up to where the original failed). Decoded chunk
 * specs must survive spec_to_chunks / spec_from_chunks. Any violation aborts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ctx.h"
#include "ppspp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_datagram: %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool spec_eq(struct ppspp_spec a, struct ppspp_spec b)
{
	return a.a == b.a && a.b == b.b;
}

static bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static bool opts_eq(const struct ppspp_options *a, const struct ppspp_options *b)
{
	uint32_t p = a->present;

	if (p != b->present)
		return false;
#define OPT(code, cond) (!(p & PPSPP_OPT_BIT(code)) || (cond))
	return OPT(PPSPP_OPT_VERSION, a->version == b->version) &&
	       OPT(PPSPP_OPT_MIN_VERSION, a->min_version == b->min_version) &&
	       OPT(PPSPP_OPT_SWARM_ID, a->swarm_id_len == b->swarm_id_len &&
					   bytes_eq(a->swarm_id, b->swarm_id, a->swarm_id_len)) &&
	       OPT(PPSPP_OPT_CIPM, a->cipm == b->cipm) &&
	       OPT(PPSPP_OPT_MERKLE_HASH, a->merkle_hash == b->merkle_hash) &&
	       OPT(PPSPP_OPT_LIVE_SIG_ALG, a->live_sig_alg == b->live_sig_alg) &&
	       OPT(PPSPP_OPT_CAM, a->cam == b->cam) &&
	       OPT(PPSPP_OPT_LIVE_DISCARD, a->live_discard_window == b->live_discard_window) &&
	       OPT(PPSPP_OPT_SUPPORTED_MSGS,
		   a->supported_msgs_len == b->supported_msgs_len &&
		       bytes_eq(a->supported_msgs, b->supported_msgs, a->supported_msgs_len)) &&
	       OPT(PPSPP_OPT_CHUNK_SIZE, a->chunk_size == b->chunk_size);
#undef OPT
}

static bool msg_eq(const struct ppspp_codec_ctx *c, const struct ppspp_msg *a,
		   const struct ppspp_msg *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case PPSPP_HANDSHAKE:
		return a->u.handshake.src_channel == b->u.handshake.src_channel &&
		       opts_eq(&a->u.handshake.opts, &b->u.handshake.opts);
	case PPSPP_DATA:
		return spec_eq(a->u.data.spec, b->u.data.spec) &&
		       a->u.data.timestamp == b->u.data.timestamp &&
		       a->u.data.len == b->u.data.len &&
		       bytes_eq(a->u.data.data, b->u.data.data, a->u.data.len);
	case PPSPP_ACK:
		return spec_eq(a->u.ack.spec, b->u.ack.spec) &&
		       a->u.ack.delay_us == b->u.ack.delay_us;
	case PPSPP_HAVE:
	case PPSPP_REQUEST:
	case PPSPP_CANCEL:
		return spec_eq(a->u.have, b->u.have);
	case PPSPP_INTEGRITY:
		return spec_eq(a->u.integrity.spec, b->u.integrity.spec) &&
		       bytes_eq(a->u.integrity.hash, b->u.integrity.hash, c->hash_len);
	case PPSPP_SIGNED_INTEGRITY:
		return spec_eq(a->u.signed_integrity.spec, b->u.signed_integrity.spec) &&
		       a->u.signed_integrity.timestamp == b->u.signed_integrity.timestamp &&
		       bytes_eq(a->u.signed_integrity.sig, b->u.signed_integrity.sig, c->sig_len);
	case PPSPP_PEX_RESV4:
	case PPSPP_PEX_RESV6:
		return memcmp(a->u.pex.addr, b->u.pex.addr, 16) == 0 &&
		       a->u.pex.port == b->u.pex.port;
	case PPSPP_PEX_RESCERT:
		return a->u.pex_cert.len == b->u.pex_cert.len &&
		       bytes_eq(a->u.pex_cert.cert, b->u.pex_cert.cert, a->u.pex_cert.len);
	default:
		return true;
	}
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return n == 0 || (p >= buf && p + n <= buf + len);
}

/* Pointers stay within the datagram; specs convert to chunks and back consistently. */
static void check_msg(const struct ppspp_reader *r, const struct ppspp_msg *m)
{
	const struct ppspp_codec_ctx *c = &r->ctx;
	const struct ppspp_spec *s = NULL;
	struct ppspp_spec out[130];
	uint64_t first, last;
	int n;

	CHECK(m->type <= PPSPP_MSG_TYPE_MAX);
	switch (m->type) {
	case PPSPP_HANDSHAKE: {
		const struct ppspp_options *o = &m->u.handshake.opts;

		CHECK((o->present & ~0x3ffu) == 0);
		if (ppspp_options_has(o, PPSPP_OPT_SWARM_ID))
			CHECK(inside(o->swarm_id, o->swarm_id_len, r->buf, r->len));
		CHECK(o->supported_msgs_len <= sizeof(o->supported_msgs));
		for (unsigned t = 0; t < 256; t++)
			(void)ppspp_supported_msgs_has(o, (enum ppspp_msg_type)t);
		return;
	}
	case PPSPP_DATA:
		CHECK(inside(m->u.data.data, m->u.data.len, r->buf, r->len));
		s = &m->u.data.spec;
		break;
	case PPSPP_ACK:
		s = &m->u.ack.spec;
		break;
	case PPSPP_HAVE:
	case PPSPP_REQUEST:
	case PPSPP_CANCEL:
		s = &m->u.have;
		break;
	case PPSPP_INTEGRITY:
		CHECK(inside(m->u.integrity.hash, c->hash_len, r->buf, r->len));
		s = &m->u.integrity.spec;
		break;
	case PPSPP_SIGNED_INTEGRITY:
		CHECK(inside(m->u.signed_integrity.sig, c->sig_len, r->buf, r->len));
		s = &m->u.signed_integrity.spec;
		break;
	case PPSPP_PEX_RESCERT:
		CHECK(inside(m->u.pex_cert.cert, m->u.pex_cert.len, r->buf, r->len));
		return;
	default:
		return;
	}
	if (ppspp_spec_to_chunks(c->cam, c->chunk_size, s, &first, &last) != 0)
		return;
	CHECK(first <= last);
	n = ppspp_spec_from_chunks(c->cam, c->chunk_size, first, last, out, 130);
	switch (c->cam) {
	case PPSPP_CAM_BIN32:
	case PPSPP_CAM_BIN64:
	case PPSPP_CAM_CHUNK32:
	case PPSPP_CAM_CHUNK64:
		/* A bin is aligned, so its chunks make exactly that one bin again. */
		CHECK(n == 1 && spec_eq(out[0], *s));
		break;
	case PPSPP_CAM_BYTE64:
		/* Whole chunks covering the bytes, unless that overflows 64 bits. */
		CHECK(n == 1 || n == -EINVAL);
		if (n == 1)
			CHECK(out[0].a <= s->a && out[0].b >= s->b);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ppspp_codec_ctx ctx;
	struct ppspp_reader r, a, b;
	struct ppspp_writer w;
	struct ppspp_msg m, ma, mb;
	const uint8_t *dg;
	uint8_t *out;
	size_t len;
	int rc, ra, rb;

	if (size < FUZZ_CTX_BYTES)
		return 0;
	ctx = fuzz_ctx(data);
	dg = data + FUZZ_CTX_BYTES;
	len = size - FUZZ_CTX_BYTES;

	rc = ppspp_reader_init(&r, dg, len, &ctx);
	if (rc < 0) {
		CHECK(rc == -PPSPP_ERR_TRUNCATED && len < 4);
		return 0;
	}
	/* Re-encoding never grows a datagram by more than the end option a bare closing
	 * handshake lacks. */
	out = malloc(len + 1);
	CHECK(out != NULL);
	CHECK(ppspp_writer_init(&w, out, len + 1, r.dst_channel, &ctx) == 0);
	while ((rc = ppspp_reader_next(&r, &m)) == 1) {
		check_msg(&r, &m);
		rc = ppspp_writer_put(&w, &m);
		if (rc != 0)
			fprintf(stderr, "fuzz_datagram: re-encoding type %u failed: %d\n", m.type,
				rc);
		CHECK(rc == 0);
		CHECK(w.len <= r.off + 1);
	}
	CHECK(rc == 0 || (rc < 0 && -rc < PPSPP_ERR_DECODE_MAX));
	CHECK(ppspp_decode_error_name(rc) != NULL);
	CHECK(ppspp_reader_next(&r, &m) == rc); /* errors and the end are sticky */

	/* The re-encoding decodes to the same messages, and ends where the original failed. */
	CHECK(ppspp_reader_init(&a, dg, len, &ctx) == 0);
	CHECK(ppspp_reader_init(&b, out, w.len, &ctx) == 0);
	CHECK(a.dst_channel == b.dst_channel);
	for (;;) {
		ra = ppspp_reader_next(&a, &ma);
		rb = ppspp_reader_next(&b, &mb);
		if (ra != 1) {
			CHECK(rb == 0);
			break;
		}
		CHECK(rb == 1);
		CHECK(msg_eq(&a.ctx, &ma, &mb));
		CHECK(memcmp(&a.ctx, &b.ctx, sizeof(a.ctx)) == 0);
	}
	free(out);
	return 0;
}
