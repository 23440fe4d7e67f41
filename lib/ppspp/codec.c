/* RFC 7574 §8.2-§8.14 (message formats of §3): datagrams (4-byte destination channel ID,
 * §8.3) and every message type of Table 7, read in place and written in place. DATA framing
 * follows §8.6: the payload is the datagram's tail, except that with a fixed chunk size a
 * DATA message may carry exactly (end-start+1) chunks and be followed by more messages. */
#include <errno.h>
#include <string.h>

#include "pcdn_common.h"
#include "ppspp.h"

static const char *const decode_error_names[PPSPP_ERR_DECODE_MAX] = {
    [0] = "ok",
    [PPSPP_ERR_TRUNCATED] = "truncated",
    [PPSPP_ERR_UNKNOWN_MSG] = "unknown_msg",
    [PPSPP_ERR_UNKNOWN_OPTION] = "unknown_option",
    [PPSPP_ERR_BAD_VALUE] = "bad_value",
    [PPSPP_ERR_NO_CONTEXT] = "no_context",
    [PPSPP_ERR_OPTION_ORDER] = "option_order",
};

const char *ppspp_decode_error_name(int negative_code)
{
	int c = negative_code < 0 ? -negative_code : negative_code;

	if (c >= PPSPP_ERR_DECODE_MAX)
		return "unknown_error";
	return decode_error_names[c];
}

static void ctx_default(struct ppspp_codec_ctx *ctx)
{
	ctx->cam = PPSPP_CAM_CHUNK32;
	ctx->hash_len = 32;
	ctx->sig_len = 0;
	ctx->chunk_size = PPSPP_DEFAULT_CHUNK_SIZE;
}

static inline uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* The payload length a DATA message has when it is not the datagram's tail (§8.6), or
 * UINT64_MAX when the payload can only be the tail (variable-size chunks). */
static int data_full_len(const struct ppspp_codec_ctx *ctx, const struct ppspp_spec *s,
			 uint64_t *full)
{
	uint64_t chunks;

	switch (ctx->cam) {
	case PPSPP_CAM_BYTE64:
		*full = s->b - s->a == UINT64_MAX ? UINT64_MAX : s->b - s->a + 1;
		return 0;
	case PPSPP_CAM_BIN32:
		if (s->a >= PPSPP_BIN32_NONE)
			return -PPSPP_ERR_BAD_VALUE;
		chunks = ppspp_bin_base_width(s->a);
		break;
	case PPSPP_CAM_BIN64:
		if (s->a == PPSPP_BIN64_NONE)
			return -PPSPP_ERR_BAD_VALUE;
		chunks = ppspp_bin_base_width(s->a);
		break;
	case PPSPP_CAM_CHUNK32:
	case PPSPP_CAM_CHUNK64:
		chunks = s->b - s->a == UINT64_MAX ? UINT64_MAX : s->b - s->a + 1;
		break;
	default:
		return -PPSPP_ERR_NO_CONTEXT;
	}
	if (ctx->chunk_size == 0)
		return -PPSPP_ERR_NO_CONTEXT;
	*full = ctx->chunk_size == PPSPP_CHUNK_SIZE_VARIABLE ? UINT64_MAX
							     : sat_mul(chunks, ctx->chunk_size);
	return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

int ppspp_reader_init(struct ppspp_reader *r, const uint8_t *buf, size_t len,
		      const struct ppspp_codec_ctx *ctx)
{
	memset(r, 0, sizeof(*r));
	if (ctx)
		r->ctx = *ctx;
	else
		ctx_default(&r->ctx);
	r->buf = buf;
	r->len = len;
	if (len < 4) {
		r->off = len;
		r->err = -PPSPP_ERR_TRUNCATED;
		return r->err;
	}
	r->dst_channel = pcdn_get_be32(buf);
	r->off = 4;
	return 0;
}

static int read_spec(struct ppspp_reader *r, const uint8_t *p, size_t avail, struct ppspp_spec *s)
{
	return ppspp_spec_decode(r->ctx.cam, p, avail, s);
}

/* Decodes the message at p (avail bytes to the end of the datagram); returns its length. */
static int read_msg(struct ppspp_reader *r, const uint8_t *p, size_t avail, struct ppspp_msg *m)
{
	size_t off = 1;
	int rc;

	memset(m, 0, sizeof(*m));
	m->type = p[0];
	switch (m->type) {
	case PPSPP_HANDSHAKE: {
		size_t used;

		if (avail < 5)
			return -PPSPP_ERR_TRUNCATED;
		m->u.handshake.src_channel = pcdn_get_be32(p + 1);
		/* §8.4 closing handshake: some peers end the datagram right after the zero
		 * source channel instead of sending an empty option list. */
		if (avail == 5 && m->u.handshake.src_channel == 0)
			return 5;
		rc = ppspp_options_decode_cam(p + 5, avail - 5, r->ctx.cam, &m->u.handshake.opts,
					      &used);
		if (rc < 0)
			return rc;
		ppspp_codec_ctx_apply(&r->ctx, &m->u.handshake.opts);
		return (int)(5 + used);
	}
	case PPSPP_DATA: {
		uint64_t full;
		size_t rest;

		rc = read_spec(r, p + off, avail - off, &m->u.data.spec);
		if (rc < 0)
			return rc;
		off += (size_t)rc;
		if (avail - off < 8)
			return -PPSPP_ERR_TRUNCATED;
		m->u.data.timestamp = pcdn_get_be64(p + off);
		off += 8;
		rc = data_full_len(&r->ctx, &m->u.data.spec, &full);
		if (rc < 0)
			return rc;
		rest = avail - off;
		m->u.data.data = p + off;
		m->u.data.len = full < rest ? (size_t)full : rest;
		return (int)(off + m->u.data.len);
	}
	case PPSPP_ACK:
		rc = read_spec(r, p + off, avail - off, &m->u.ack.spec);
		if (rc < 0)
			return rc;
		off += (size_t)rc;
		if (avail - off < 8)
			return -PPSPP_ERR_TRUNCATED;
		m->u.ack.delay_us = pcdn_get_be64(p + off);
		return (int)(off + 8);
	case PPSPP_HAVE:
	case PPSPP_REQUEST:
	case PPSPP_CANCEL:
		/* The three share one layout and union member type. */
		rc = read_spec(r, p + off, avail - off, &m->u.have);
		if (rc < 0)
			return rc;
		return (int)(off + (size_t)rc);
	case PPSPP_INTEGRITY:
		rc = read_spec(r, p + off, avail - off, &m->u.integrity.spec);
		if (rc < 0)
			return rc;
		off += (size_t)rc;
		if (r->ctx.hash_len == 0)
			return -PPSPP_ERR_NO_CONTEXT;
		if (avail - off < r->ctx.hash_len)
			return -PPSPP_ERR_TRUNCATED;
		m->u.integrity.hash = p + off;
		return (int)(off + r->ctx.hash_len);
	case PPSPP_SIGNED_INTEGRITY:
		rc = read_spec(r, p + off, avail - off, &m->u.signed_integrity.spec);
		if (rc < 0)
			return rc;
		off += (size_t)rc;
		if (r->ctx.sig_len == 0)
			return -PPSPP_ERR_NO_CONTEXT;
		if (avail - off < 8 + (size_t)r->ctx.sig_len)
			return -PPSPP_ERR_TRUNCATED;
		m->u.signed_integrity.timestamp = pcdn_get_be64(p + off);
		m->u.signed_integrity.sig = p + off + 8;
		return (int)(off + 8 + r->ctx.sig_len);
	case PPSPP_PEX_RESV4:
		if (avail < 7)
			return -PPSPP_ERR_TRUNCATED;
		memcpy(m->u.pex.addr, p + 1, 4);
		m->u.pex.port = pcdn_get_be16(p + 5);
		return 7;
	case PPSPP_PEX_RESV6:
		if (avail < 19)
			return -PPSPP_ERR_TRUNCATED;
		memcpy(m->u.pex.addr, p + 1, 16);
		m->u.pex.port = pcdn_get_be16(p + 17);
		return 19;
	case PPSPP_PEX_RESCERT:
		if (avail < 3)
			return -PPSPP_ERR_TRUNCATED;
		m->u.pex_cert.len = pcdn_get_be16(p + 1);
		if (avail - 3 < m->u.pex_cert.len)
			return -PPSPP_ERR_TRUNCATED;
		m->u.pex_cert.cert = p + 3;
		return 3 + m->u.pex_cert.len;
	case PPSPP_PEX_REQ:
	case PPSPP_CHOKE:
	case PPSPP_UNCHOKE:
		return 1;
	default:
		return -PPSPP_ERR_UNKNOWN_MSG;
	}
}

int ppspp_reader_next(struct ppspp_reader *r, struct ppspp_msg *msg)
{
	int rc;

	if (r->err)
		return r->err;
	if (r->off >= r->len)
		return 0;
	rc = read_msg(r, r->buf + r->off, r->len - r->off, msg);
	if (rc < 0) {
		r->err = rc;
		return rc;
	}
	r->off += (size_t)rc;
	return 1;
}

/* ---- writing ---------------------------------------------------------------------------- */

int ppspp_writer_init(struct ppspp_writer *w, uint8_t *buf, size_t cap, uint32_t dst_channel,
		      const struct ppspp_codec_ctx *ctx)
{
	memset(w, 0, sizeof(*w));
	if (ctx)
		w->ctx = *ctx;
	else
		ctx_default(&w->ctx);
	w->buf = buf;
	w->cap = cap;
	if (cap < 4)
		return -ENOSPC;
	pcdn_put_be32(buf, dst_channel);
	w->len = 4;
	return 0;
}

/* Type, spec and the fixed fields that follow a spec; returns the bytes written. */
static int put_spec_msg(struct ppspp_writer *w, uint8_t type, const struct ppspp_spec *s,
			size_t extra, size_t *off)
{
	size_t room = w->cap - w->len;
	int rc;

	if (room < 1)
		return -ENOSPC;
	/* Check that the spec is expressible before reporting lack of room: -EINVAL is the more
	 * useful answer when both apply. */
	rc = ppspp_spec_encode(w->ctx.cam, s, w->buf + w->len + 1, room - 1);
	if (rc == -ENOSPC) {
		uint8_t scratch[16];

		rc = ppspp_spec_encode(w->ctx.cam, s, scratch, sizeof(scratch));
		return rc < 0 ? rc : -ENOSPC;
	}
	if (rc < 0)
		return rc;
	if (room - 1 - (size_t)rc < extra)
		return -ENOSPC;
	w->buf[w->len] = type;
	*off = w->len + 1 + (size_t)rc;
	return 0;
}

int ppspp_writer_put(struct ppspp_writer *w, const struct ppspp_msg *m)
{
	size_t room, off;
	uint8_t *p;
	int rc;

	if (w->sealed)
		return -EINVAL;
	room = w->cap - w->len;
	p = w->buf + w->len;
	switch (m->type) {
	case PPSPP_HANDSHAKE: {
		size_t used;

		if (room < 5)
			return -ENOSPC;
		rc = ppspp_options_encode(&m->u.handshake.opts, w->ctx.cam, p + 5, room - 5, &used);
		if (rc < 0)
			return rc;
		p[0] = PPSPP_HANDSHAKE;
		pcdn_put_be32(p + 1, m->u.handshake.src_channel);
		/* Messages after the handshake in this datagram use what it announces, exactly
		 * as the receiver's reader will. */
		ppspp_codec_ctx_apply(&w->ctx, &m->u.handshake.opts);
		w->len += 5 + used;
		return 0;
	}
	case PPSPP_DATA: {
		uint64_t full;

		if (m->u.data.len && !m->u.data.data)
			return -EINVAL;
		if (data_full_len(&w->ctx, &m->u.data.spec, &full) < 0)
			return -EINVAL;
		if (m->u.data.len > full)
			return -EINVAL;
		rc = put_spec_msg(w, PPSPP_DATA, &m->u.data.spec, 8 + m->u.data.len, &off);
		if (rc < 0)
			return rc;
		pcdn_put_be64(w->buf + off, m->u.data.timestamp);
		if (m->u.data.len)
			memcpy(w->buf + off + 8, m->u.data.data, m->u.data.len);
		w->len = off + 8 + m->u.data.len;
		if (m->u.data.len != full)
			w->sealed = true;
		return 0;
	}
	case PPSPP_ACK:
		rc = put_spec_msg(w, PPSPP_ACK, &m->u.ack.spec, 8, &off);
		if (rc < 0)
			return rc;
		pcdn_put_be64(w->buf + off, m->u.ack.delay_us);
		w->len = off + 8;
		return 0;
	case PPSPP_HAVE:
	case PPSPP_REQUEST:
	case PPSPP_CANCEL:
		rc = put_spec_msg(w, m->type, &m->u.have, 0, &off);
		if (rc < 0)
			return rc;
		w->len = off;
		return 0;
	case PPSPP_INTEGRITY:
		if (w->ctx.hash_len == 0 || !m->u.integrity.hash)
			return -EINVAL;
		rc = put_spec_msg(w, PPSPP_INTEGRITY, &m->u.integrity.spec, w->ctx.hash_len, &off);
		if (rc < 0)
			return rc;
		memcpy(w->buf + off, m->u.integrity.hash, w->ctx.hash_len);
		w->len = off + w->ctx.hash_len;
		return 0;
	case PPSPP_SIGNED_INTEGRITY:
		if (w->ctx.sig_len == 0 || !m->u.signed_integrity.sig)
			return -EINVAL;
		rc = put_spec_msg(w, PPSPP_SIGNED_INTEGRITY, &m->u.signed_integrity.spec,
				  8 + (size_t)w->ctx.sig_len, &off);
		if (rc < 0)
			return rc;
		pcdn_put_be64(w->buf + off, m->u.signed_integrity.timestamp);
		memcpy(w->buf + off + 8, m->u.signed_integrity.sig, w->ctx.sig_len);
		w->len = off + 8 + w->ctx.sig_len;
		return 0;
	case PPSPP_PEX_RESV4:
		if (room < 7)
			return -ENOSPC;
		p[0] = PPSPP_PEX_RESV4;
		memcpy(p + 1, m->u.pex.addr, 4);
		pcdn_put_be16(p + 5, m->u.pex.port);
		w->len += 7;
		return 0;
	case PPSPP_PEX_RESV6:
		if (room < 19)
			return -ENOSPC;
		p[0] = PPSPP_PEX_RESV6;
		memcpy(p + 1, m->u.pex.addr, 16);
		pcdn_put_be16(p + 17, m->u.pex.port);
		w->len += 19;
		return 0;
	case PPSPP_PEX_RESCERT:
		if (m->u.pex_cert.len && !m->u.pex_cert.cert)
			return -EINVAL;
		if (room < 3 + (size_t)m->u.pex_cert.len)
			return -ENOSPC;
		p[0] = PPSPP_PEX_RESCERT;
		pcdn_put_be16(p + 1, m->u.pex_cert.len);
		if (m->u.pex_cert.len)
			memcpy(p + 3, m->u.pex_cert.cert, m->u.pex_cert.len);
		w->len += 3 + (size_t)m->u.pex_cert.len;
		return 0;
	case PPSPP_PEX_REQ:
	case PPSPP_CHOKE:
	case PPSPP_UNCHOKE:
		if (room < 1)
			return -ENOSPC;
		p[0] = m->type;
		w->len += 1;
		return 0;
	default:
		return -EINVAL;
	}
}

int ppspp_writer_put_integrity_chunk32(struct ppspp_writer *w, uint32_t first, uint32_t last,
				       const uint8_t *hash)
{
	size_t hl = w->ctx.hash_len;
	uint8_t *p;

	if (w->sealed || w->ctx.cam != PPSPP_CAM_CHUNK32 || hl == 0 || !hash || last < first)
		return -EINVAL;
	if (w->cap - w->len < 9 + hl)
		return -ENOSPC;
	p = w->buf + w->len;
	p[0] = PPSPP_INTEGRITY;
	pcdn_put_be32(p + 1, first);
	pcdn_put_be32(p + 5, last);
	memcpy(p + 9, hash, hl);
	w->len += 9 + hl;
	return 0;
}

int ppspp_writer_put_data_header_chunk32(struct ppspp_writer *w, uint32_t chunk,
					 uint64_t timestamp_us)
{
	uint8_t *p;

	if (w->sealed || w->ctx.cam != PPSPP_CAM_CHUNK32)
		return -EINVAL;
	if (w->cap - w->len < 17)
		return -ENOSPC;
	p = w->buf + w->len;
	p[0] = PPSPP_DATA;
	pcdn_put_be32(p + 1, chunk);
	pcdn_put_be32(p + 5, chunk);
	pcdn_put_be64(p + 9, timestamp_us);
	w->len += 17;
	/* The payload is chained after the buffer by the caller: nothing may follow it here. */
	w->sealed = true;
	return 0;
}

int ppspp_writer_put_data_header(struct ppspp_writer *w, const struct ppspp_spec *spec,
				 uint64_t timestamp_us)
{
	uint64_t full;
	size_t off;
	int rc;

	if (w->sealed)
		return -EINVAL;
	if (data_full_len(&w->ctx, spec, &full) < 0)
		return -EINVAL;
	rc = put_spec_msg(w, PPSPP_DATA, spec, 8, &off);
	if (rc < 0)
		return rc;
	pcdn_put_be64(w->buf + off, timestamp_us);
	w->len = off + 8;
	/* The payload is chained after the buffer by the caller: nothing may follow it here. */
	w->sealed = true;
	return 0;
}
