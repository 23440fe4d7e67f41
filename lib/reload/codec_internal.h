/* RFC 6940 §6.3.1: bounded reader for the presentation language, shared by the codec files of
 * lib/reload (private header, not installed). Every read checks the bytes left; the first
 * failure makes the reader fail for good so decoders can test once at the end of a structure. */
#ifndef PCDN_RELOAD_CODEC_INTERNAL_H
#define PCDN_RELOAD_CODEC_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "reload.h"

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static inline void rd_init(struct rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static inline size_t rd_left(const struct rd *r)
{
	return r->bad ? 0 : r->len - r->off;
}

static inline bool rd_need(struct rd *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static inline uint8_t rd_u8(struct rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return r->p[r->off++];
}

static inline uint16_t rd_u16(struct rd *r)
{
	uint16_t v;

	if (!rd_need(r, 2))
		return 0;
	v = pcdn_get_be16(r->p + r->off);
	r->off += 2;
	return v;
}

static inline uint32_t rd_u24(struct rd *r)
{
	uint32_t v;

	if (!rd_need(r, 3))
		return 0;
	v = ((uint32_t)r->p[r->off] << 16) | ((uint32_t)r->p[r->off + 1] << 8) | r->p[r->off + 2];
	r->off += 3;
	return v;
}

static inline uint32_t rd_u32(struct rd *r)
{
	uint32_t v;

	if (!rd_need(r, 4))
		return 0;
	v = pcdn_get_be32(r->p + r->off);
	r->off += 4;
	return v;
}

static inline uint64_t rd_u64(struct rd *r)
{
	uint64_t v;

	if (!rd_need(r, 8))
		return 0;
	v = pcdn_get_be64(r->p + r->off);
	r->off += 8;
	return v;
}

/* n raw bytes; returns a pointer into the input (NULL on failure). */
static inline const uint8_t *rd_bytes(struct rd *r, size_t n)
{
	const uint8_t *q;

	if (!rd_need(r, n))
		return NULL;
	q = r->p + r->off;
	r->off += n;
	return q;
}

static inline void rd_copy(struct rd *r, void *dst, size_t n)
{
	const uint8_t *q = rd_bytes(r, n);

	if (q && n)
		memcpy(dst, q, n);
}

/* A length prefix of lenbytes (1, 2, 3 or 4) then that many bytes: a sub-reader over them. */
static inline bool rd_vec(struct rd *r, unsigned lenbytes, struct rd *sub)
{
	size_t n = 0;

	switch (lenbytes) {
	case 1:
		n = rd_u8(r);
		break;
	case 2:
		n = rd_u16(r);
		break;
	case 3:
		n = rd_u24(r);
		break;
	default:
		n = rd_u32(r);
		break;
	}
	if (!rd_need(r, n)) {
		rd_init(sub, NULL, 0);
		sub->bad = true;
		return false;
	}
	rd_init(sub, r->p + r->off, n);
	r->off += n;
	return true;
}

/* opaque<..> with a lenbytes prefix, copied into the arena. */
static inline bool rd_opaque(struct rd *r, unsigned lenbytes, struct reload_arena *a,
			     struct reload_bytes *out)
{
	struct rd sub;

	out->data = NULL;
	out->len = 0;
	if (!rd_vec(r, lenbytes, &sub))
		return false;
	out->data = reload_arena_memdup(a, sub.p, sub.len);
	if (!out->data) {
		r->bad = true;
		return false;
	}
	out->len = sub.len;
	return true;
}

/* Everything left, copied into the arena. */
static inline bool rd_opaque_rest(struct rd *r, struct reload_arena *a, struct reload_bytes *out)
{
	size_t n = rd_left(r);

	out->data = NULL;
	out->len = 0;
	if (r->bad)
		return false;
	out->data = reload_arena_memdup(a, r->p + r->off, n);
	if (!out->data) {
		r->bad = true;
		return false;
	}
	out->len = n;
	r->off += n;
	return true;
}

/* The structure must have been read to its last byte. */
static inline bool rd_done(const struct rd *r)
{
	return !r->bad && r->off == r->len;
}

/* Array of n elements from the arena, failing the reader on overflow or OOM. */
static inline void *rd_array(struct rd *r, struct reload_arena *a, size_t n, size_t elem)
{
	void *p;

	if (r->bad)
		return NULL;
	if (n && elem > SIZE_MAX / n) {
		r->bad = true;
		return NULL;
	}
	p = reload_arena_alloc(a, n * elem);
	if (!p)
		r->bad = true;
	return p;
}

/* Encoding helpers: a length prefix reserved now and patched once the contents are written. */
struct wr_len {
	size_t at;
	unsigned lenbytes;
};

static inline struct wr_len wr_len_begin(struct reload_buf *b, unsigned lenbytes)
{
	static const uint8_t zero[4];
	struct wr_len l = {b->len, lenbytes};

	reload_buf_put(b, zero, lenbytes);
	return l;
}

/* Patches the prefix; fails with -EINVAL (sticky in the buffer) when the contents do not fit. */
static inline int wr_len_end(struct reload_buf *b, struct wr_len l)
{
	size_t n;

	if (b->err)
		return b->err;
	n = b->len - l.at - l.lenbytes;
	switch (l.lenbytes) {
	case 1:
		if (n > 0xff)
			goto too_big;
		b->data[l.at] = (uint8_t)n;
		break;
	case 2:
		if (n > 0xffff)
			goto too_big;
		pcdn_put_be16(b->data + l.at, (uint16_t)n);
		break;
	case 3:
		if (n > 0xffffff)
			goto too_big;
		b->data[l.at] = (uint8_t)(n >> 16);
		b->data[l.at + 1] = (uint8_t)(n >> 8);
		b->data[l.at + 2] = (uint8_t)n;
		break;
	default:
		if (n > 0xffffffffu)
			goto too_big;
		pcdn_put_be32(b->data + l.at, (uint32_t)n);
		break;
	}
	return 0;
too_big:
	b->err = -EINVAL;
	return b->err;
}

/* opaque<..> from bytes. */
static inline int wr_opaque(struct reload_buf *b, unsigned lenbytes, const void *p, size_t n)
{
	struct wr_len l = wr_len_begin(b, lenbytes);

	reload_buf_put(b, p, n);
	return wr_len_end(b, l);
}

/* message.c: the signed input of a message, overlay || transaction_id || MessageContents. */
int reload_message_sig_input(const struct reload_message *m, uint8_t pre[12],
			     struct reload_bytes parts[2]);
/* message.c: a SecurityBlock filling exactly len bytes (configuration signatures, §11.1). */
int reload_security_block_decode(const uint8_t *buf, size_t len, struct reload_arena *a,
				 struct reload_security_block *sb);
/* security.c: verifies sig over parts || SignerIdentity with the certificate the identity
 * names among certs; -EACCES on any failure. */
int reload_sig_verify_parts(const struct reload_signature *sig, const struct reload_bytes *parts,
			    size_t part_count, const struct reload_generic_cert *certs,
			    size_t cert_count, const struct reload_trust *t, time_t now,
			    struct reload_peer *signer);
/* methods.c: IpAddressPort and Boolean helpers shared with other codec files. */
bool rd_bool(struct rd *r, bool *out);

#endif
