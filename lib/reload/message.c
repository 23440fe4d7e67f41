/* RFC 6940 §6.3: message structure — forwarding header (§6.3.2) with destination and via lists
 * in both forms (§6.3.2.2) and forwarding options (§6.3.2.3), message contents (§6.3.3) and the
 * security block (§6.3.4). Strict bounds: every length is checked against its container and a
 * structure must fill its container exactly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "reload.h"

/* ---- destinations -------------------------------------------------------------------------- */

int reload_destination_encode(const struct reload_destination *d, struct reload_buf *out)
{
	if (d->compressed) {
		/* the 16-bit form: an opaque id of exactly two bytes whose first bit is 1 */
		if (d->type != RELOAD_DEST_OPAQUE || d->len != 2 || !(d->id[0] & 0x80))
			return -EINVAL;
		return reload_buf_put(out, d->id, 2);
	}
	if (d->type == 0 || d->type >= 128)
		return -EINVAL;
	reload_buf_put_u8(out, d->type);
	switch (d->type) {
	case RELOAD_DEST_NODE:
		if (d->len < RELOAD_NODE_ID_MIN || d->len > RELOAD_NODE_ID_MAX)
			return -EINVAL;
		reload_buf_put_u8(out, d->len);
		reload_buf_put(out, d->id, d->len);
		break;
	case RELOAD_DEST_RESOURCE:
	case RELOAD_DEST_OPAQUE:
		/* destination_data carries its own one-byte length: 254 bytes at most */
		if (d->len > 254)
			return -EINVAL;
		reload_buf_put_u8(out, (uint8_t)(d->len + 1));
		reload_buf_put_u8(out, d->len);
		reload_buf_put(out, d->id, d->len);
		break;
	default:
		reload_buf_put_u8(out, d->len);
		reload_buf_put(out, d->id, d->len);
		break;
	}
	return reload_buf_error(out);
}

static bool dest_read(struct rd *r, unsigned node_id_len, struct reload_destination *d)
{
	uint8_t t, l;
	struct rd sub;

	memset(d, 0, sizeof(*d));
	if (!rd_need(r, 1))
		return false;
	if (r->p[r->off] & 0x80) {
		d->type = RELOAD_DEST_OPAQUE;
		d->compressed = true;
		d->len = 2;
		rd_copy(r, d->id, 2);
		return !r->bad;
	}
	t = rd_u8(r);
	if (!rd_vec(r, 1, &sub))
		return false;
	l = (uint8_t)sub.len;
	d->type = t;
	switch (t) {
	case RELOAD_DEST_NODE:
		if (l != node_id_len)
			goto bad;
		d->len = l;
		memcpy(d->id, sub.p, l);
		return true;
	case RELOAD_DEST_RESOURCE:
	case RELOAD_DEST_OPAQUE:
		if (l < 1 || sub.p[0] != l - 1)
			goto bad;
		d->len = (uint8_t)(l - 1);
		memcpy(d->id, sub.p + 1, d->len);
		return true;
	case 0:
		goto bad;
	default:
		/* §6.3.2.2: the length lets a node skip types it does not understand */
		d->len = l;
		memcpy(d->id, sub.p, l);
		return true;
	}
bad:
	r->bad = true;
	return false;
}

int reload_destination_decode(const uint8_t *buf, size_t len, unsigned node_id_len,
			      struct reload_destination *d, size_t *used)
{
	struct rd r;

	rd_init(&r, buf, len);
	if (!dest_read(&r, node_id_len, d))
		return -EBADMSG;
	if (used)
		*used = r.off;
	return 0;
}

/* Decodes a whole Destination list occupying exactly len bytes. */
static int dest_list_read(const uint8_t *p, size_t len, unsigned node_id_len,
			  struct reload_arena *a, struct reload_destination **out, size_t *count)
{
	struct rd r;
	struct reload_destination tmp;
	size_t n = 0, i = 0;

	rd_init(&r, p, len);
	while (rd_left(&r) > 0) {
		if (!dest_read(&r, node_id_len, &tmp))
			return -EBADMSG;
		n++;
	}
	*count = n;
	*out = NULL;
	if (!n)
		return 0;
	*out = reload_arena_alloc(a, n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	rd_init(&r, p, len);
	while (i < n)
		dest_read(&r, node_id_len, &(*out)[i++]);
	return 0;
}

/* ---- forwarding header ---------------------------------------------------------------------- */

static int options_encode(const struct reload_fwd_option *o, size_t n, struct reload_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (o[i].value.len > 0xffff)
			return -EINVAL;
		reload_buf_put_u8(out, o[i].type);
		reload_buf_put_u8(out, o[i].flags);
		wr_opaque(out, 2, o[i].value.data, o[i].value.len);
	}
	return reload_buf_error(out);
}

int reload_fwd_header_encode(const struct reload_fwd_header *h, size_t payload_len,
			     struct reload_buf *out)
{
	size_t start = out->len, lists_at;
	size_t via_len, dest_len, opt_len, total;
	int rc;

	reload_buf_put_u32(out, RELOAD_TOKEN);
	reload_buf_put_u32(out, h->overlay);
	reload_buf_put_u16(out, h->config_seq);
	reload_buf_put_u8(out, RELOAD_VERSION);
	reload_buf_put_u8(out, h->ttl);
	reload_buf_put_u32(out, h->fragment ? h->fragment : RELOAD_FRAG_UNFRAGMENTED);
	reload_buf_put_u32(out, 0); /* length, patched below */
	reload_buf_put_u64(out, h->transaction_id);
	reload_buf_put_u32(out, h->max_response_length);
	reload_buf_put_u16(out, 0);
	reload_buf_put_u16(out, 0);
	reload_buf_put_u16(out, 0);
	if ((rc = reload_buf_error(out)))
		return rc;
	lists_at = out->len;
	for (size_t i = 0; i < h->via_count; i++)
		if ((rc = reload_destination_encode(&h->via[i], out)))
			return rc;
	via_len = out->len - lists_at;
	for (size_t i = 0; i < h->dest_count; i++)
		if ((rc = reload_destination_encode(&h->dest[i], out)))
			return rc;
	dest_len = out->len - lists_at - via_len;
	if ((rc = options_encode(h->options, h->option_count, out)))
		return rc;
	opt_len = out->len - lists_at - via_len - dest_len;
	if (via_len > 0xffff || dest_len > 0xffff || opt_len > 0xffff)
		return -EINVAL;
	total = out->len - start + payload_len;
	if (total > 0xffffffffu)
		return -EMSGSIZE;
	pcdn_put_be32(out->data + start + 16, (uint32_t)total);
	pcdn_put_be16(out->data + start + 32, (uint16_t)via_len);
	pcdn_put_be16(out->data + start + 34, (uint16_t)dest_len);
	pcdn_put_be16(out->data + start + 36, (uint16_t)opt_len);
	return 0;
}

/* The fixed part and the byte ranges of the three lists. */
struct hdr_layout {
	size_t via_at, via_len, dest_at, dest_len, opt_at, opt_len, end;
};

static int hdr_fixed_read(const uint8_t *buf, size_t len, struct reload_fwd_header *h,
			  struct hdr_layout *lay)
{
	struct rd r;

	if (len < 4 || pcdn_get_be32(buf) != RELOAD_TOKEN)
		return -ENOMSG;
	if (len < RELOAD_FIXED_HEADER_LEN)
		return -EBADMSG;
	rd_init(&r, buf, len);
	memset(h, 0, sizeof(*h));
	rd_u32(&r);
	h->overlay = rd_u32(&r);
	h->config_seq = rd_u16(&r);
	h->version = rd_u8(&r);
	h->ttl = rd_u8(&r);
	h->fragment = rd_u32(&r);
	h->length = rd_u32(&r);
	h->transaction_id = rd_u64(&r);
	h->max_response_length = rd_u32(&r);
	lay->via_len = rd_u16(&r);
	lay->dest_len = rd_u16(&r);
	lay->opt_len = rd_u16(&r);
	if (h->version != RELOAD_VERSION)
		return -EPROTONOSUPPORT;
	/* §6.7: the high bit MUST be set; such messages are discarded, never reinterpreted */
	if (!(h->fragment & RELOAD_FRAG_HIGH_BIT))
		return -EBADMSG;
	if (h->length != len)
		return -EBADMSG;
	lay->via_at = RELOAD_FIXED_HEADER_LEN;
	lay->dest_at = lay->via_at + lay->via_len;
	lay->opt_at = lay->dest_at + lay->dest_len;
	lay->end = lay->opt_at + lay->opt_len;
	if (lay->end > len)
		return -EBADMSG;
	return 0;
}

static int options_read(const uint8_t *p, size_t len, struct reload_arena *a,
			struct reload_fwd_option **out, size_t *count)
{
	struct rd r, sub;
	size_t n = 0, i = 0;

	rd_init(&r, p, len);
	while (rd_left(&r) > 0) {
		rd_u8(&r);
		rd_u8(&r);
		if (!rd_vec(&r, 2, &sub))
			return -EBADMSG;
		n++;
	}
	*count = n;
	*out = NULL;
	if (!n)
		return 0;
	*out = reload_arena_alloc(a, n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	rd_init(&r, p, len);
	for (i = 0; i < n; i++) {
		(*out)[i].type = rd_u8(&r);
		(*out)[i].flags = rd_u8(&r);
		rd_opaque(&r, 2, a, &(*out)[i].value);
	}
	return r.bad ? -ENOMEM : 0;
}

int reload_fwd_header_decode(const uint8_t *buf, size_t len, unsigned node_id_len,
			     struct reload_arena *a, struct reload_fwd_header *h, size_t *hdr_len)
{
	struct hdr_layout lay;
	int rc;

	if (node_id_len < RELOAD_NODE_ID_MIN || node_id_len > RELOAD_NODE_ID_MAX)
		return -EINVAL;
	if ((rc = hdr_fixed_read(buf, len, h, &lay)))
		return rc;
	if ((rc = dest_list_read(buf + lay.via_at, lay.via_len, node_id_len, a, &h->via,
				 &h->via_count)))
		return rc;
	if ((rc = dest_list_read(buf + lay.dest_at, lay.dest_len, node_id_len, a, &h->dest,
				 &h->dest_count)))
		return rc;
	if ((rc = options_read(buf + lay.opt_at, lay.opt_len, a, &h->options, &h->option_count)))
		return rc;
	if (hdr_len)
		*hdr_len = lay.end;
	return 0;
}

int reload_fwd_rewrite(const uint8_t *msg, size_t len, unsigned node_id_len,
		       const struct reload_fwd_edit *edit, struct reload_buf *out)
{
	struct reload_fwd_header h;
	struct hdr_layout lay;
	struct reload_destination first;
	size_t start = out->len, via_len, dest_len, skip = 0, used, total;
	int rc;

	if ((rc = hdr_fixed_read(msg, len, &h, &lay)))
		return rc;
	/* Validate the lists as the decoder would: forwarding a malformed header helps nobody. */
	{
		struct reload_arena *a = reload_arena_new();
		struct reload_fwd_header full;

		if (!a)
			return -ENOMEM;
		rc = reload_fwd_header_decode(msg, len, node_id_len, a, &full, NULL);
		reload_arena_free(a);
		if (rc)
			return rc;
	}
	if (edit->decrement_ttl) {
		if (h.ttl == 0)
			return -ELOOP;
		h.ttl--;
	}
	if (edit->pop_first_dest) {
		if (lay.dest_len == 0)
			return -EBADMSG;
		if (reload_destination_decode(msg + lay.dest_at, lay.dest_len, node_id_len, &first,
					      &used))
			return -EBADMSG;
		skip = used;
	}
	reload_buf_put(out, msg, RELOAD_FIXED_HEADER_LEN);
	if ((rc = reload_buf_error(out)))
		return rc;
	out->data[start + 11] = h.ttl;
	reload_buf_put(out, msg + lay.via_at, lay.via_len);
	if (edit->append_via && (rc = reload_destination_encode(edit->append_via, out)))
		return rc;
	via_len = out->len - start - RELOAD_FIXED_HEADER_LEN;
	for (size_t i = 0; i < edit->push_dest_count; i++)
		if ((rc = reload_destination_encode(&edit->push_dest[i], out)))
			return rc;
	reload_buf_put(out, msg + lay.dest_at + skip, lay.dest_len - skip);
	dest_len = out->len - start - RELOAD_FIXED_HEADER_LEN - via_len;
	reload_buf_put(out, msg + lay.opt_at, len - lay.opt_at);
	if ((rc = reload_buf_error(out)))
		return rc;
	if (via_len > 0xffff || dest_len > 0xffff)
		return -EMSGSIZE;
	total = out->len - start;
	if (total > 0xffffffffu)
		return -EMSGSIZE;
	pcdn_put_be32(out->data + start + 16, (uint32_t)total);
	pcdn_put_be16(out->data + start + 32, (uint16_t)via_len);
	pcdn_put_be16(out->data + start + 34, (uint16_t)dest_len);
	return 0;
}

/* ---- message contents and security block ---------------------------------------------------- */

int reload_contents_encode(uint16_t code, const struct reload_bytes *body,
			   const struct reload_msg_extension *ext, size_t ext_count,
			   struct reload_buf *out)
{
	struct wr_len l;

	if (code == 0)
		return -EINVAL;
	reload_buf_put_u16(out, code);
	wr_opaque(out, 4, body ? body->data : NULL, body ? body->len : 0);
	l = wr_len_begin(out, 4);
	for (size_t i = 0; i < ext_count; i++) {
		reload_buf_put_u16(out, ext[i].type);
		reload_buf_put_u8(out, ext[i].critical ? 1 : 0);
		wr_opaque(out, 4, ext[i].contents.data, ext[i].contents.len);
	}
	return wr_len_end(out, l);
}

int reload_signer_identity_encode(const struct reload_signer_identity *id, struct reload_buf *out)
{
	struct wr_len l;

	reload_buf_put_u8(out, id->type);
	l = wr_len_begin(out, 2);
	switch (id->type) {
	case RELOAD_ID_CERT_HASH:
	case RELOAD_ID_CERT_HASH_NODE_ID:
		reload_buf_put_u8(out, id->hash_alg);
		wr_opaque(out, 1, id->hash.data, id->hash.len);
		break;
	case RELOAD_ID_NONE:
		break;
	default:
		/* an identity type this library does not know: its value is kept raw in hash */
		reload_buf_put(out, id->hash.data, id->hash.len);
		break;
	}
	return wr_len_end(out, l);
}

int reload_signature_encode(const struct reload_signature *s, struct reload_buf *out)
{
	reload_buf_put_u8(out, s->hash_alg);
	reload_buf_put_u8(out, s->sig_alg);
	reload_signer_identity_encode(&s->identity, out);
	return wr_opaque(out, 2, s->value.data, s->value.len);
}

static bool signature_read(struct rd *r, struct reload_arena *a, struct reload_signature *s)
{
	struct rd id;

	memset(s, 0, sizeof(*s));
	s->hash_alg = rd_u8(r);
	s->sig_alg = rd_u8(r);
	s->identity.type = rd_u8(r);
	if (!rd_vec(r, 2, &id))
		return false;
	switch (s->identity.type) {
	case RELOAD_ID_CERT_HASH:
	case RELOAD_ID_CERT_HASH_NODE_ID:
		s->identity.hash_alg = rd_u8(&id);
		rd_opaque(&id, 1, a, &s->identity.hash);
		if (!rd_done(&id)) {
			r->bad = true;
			return false;
		}
		break;
	case RELOAD_ID_NONE:
		if (id.len != 0) {
			r->bad = true;
			return false;
		}
		break;
	case 0:
		r->bad = true;
		return false;
	default:
		s->identity.hash.data = reload_arena_memdup(a, id.p, id.len);
		s->identity.hash.len = id.len;
		if (!s->identity.hash.data)
			r->bad = true;
		break;
	}
	rd_opaque(r, 2, a, &s->value);
	return !r->bad;
}

int reload_signature_decode(const uint8_t *buf, size_t len, struct reload_arena *a,
			    struct reload_signature *s, size_t *used)
{
	struct rd r;

	rd_init(&r, buf, len);
	if (!signature_read(&r, a, s))
		return -EBADMSG;
	if (used)
		*used = r.off;
	return 0;
}

static int security_block_read(struct rd *r, struct reload_arena *a,
			       struct reload_security_block *sb)
{
	struct rd certs, c, tmp;
	size_t n = 0;

	memset(sb, 0, sizeof(*sb));
	if (!rd_vec(r, 2, &certs))
		return -EBADMSG;
	c = certs;
	while (rd_left(&c) > 0) {
		rd_u8(&c);
		if (!rd_vec(&c, 2, &tmp))
			return -EBADMSG;
		n++;
	}
	if (n) {
		sb->certs = rd_array(r, a, n, sizeof(*sb->certs));
		if (!sb->certs)
			return -ENOMEM;
	}
	sb->cert_count = n;
	for (size_t i = 0; i < n; i++) {
		sb->certs[i].type = rd_u8(&certs);
		rd_opaque(&certs, 2, a, &sb->certs[i].der);
	}
	if (certs.bad)
		return -ENOMEM;
	if (!signature_read(r, a, &sb->signature))
		return -EBADMSG;
	return 0;
}

int reload_security_block_decode(const uint8_t *buf, size_t len, struct reload_arena *a,
				 struct reload_security_block *sb)
{
	struct rd r;
	int rc;

	rd_init(&r, buf, len);
	if ((rc = security_block_read(&r, a, sb)))
		return rc;
	return rd_done(&r) ? 0 : -EBADMSG;
}

void reload_message_free(struct reload_message *m)
{
	if (m)
		reload_arena_free(m->arena);
}

int reload_message_decode(const uint8_t *buf, size_t len, unsigned node_id_len, size_t max_size,
			  struct reload_message **out, struct reload_fwd_header *hdr_out)
{
	struct reload_arena *a;
	struct reload_message *m;
	struct rd r, body, exts, e;
	size_t hlen = 0, n = 0, contents_at;
	int rc;

	*out = NULL;
	if (max_size && len > max_size) {
		/* still tell the caller who sent it, if the fixed header is readable */
		if (hdr_out && len >= RELOAD_FIXED_HEADER_LEN &&
		    pcdn_get_be32(buf) == RELOAD_TOKEN) {
			struct hdr_layout lay;

			if (hdr_fixed_read(buf, len, hdr_out, &lay) == -ENOMSG)
				return -ENOMSG;
		}
		return -EMSGSIZE;
	}
	a = reload_arena_new();
	if (!a)
		return -ENOMEM;
	m = reload_arena_alloc(a, sizeof(*m));
	if (!m) {
		reload_arena_free(a);
		return -ENOMEM;
	}
	m->arena = a;
	rc = reload_fwd_header_decode(buf, len, node_id_len, a, &m->hdr, &hlen);
	if (rc)
		goto fail;
	if (hdr_out)
		*hdr_out = m->hdr;
	if (m->hdr.fragment != RELOAD_FRAG_UNFRAGMENTED &&
	    ((m->hdr.fragment & RELOAD_FRAG_OFFSET_MASK) ||
	     !(m->hdr.fragment & RELOAD_FRAG_LAST))) {
		rc = -EAGAIN;
		goto fail;
	}
	rd_init(&r, buf + hlen, len - hlen);
	contents_at = r.off;
	m->code = rd_u16(&r);
	if (!rd_vec(&r, 4, &body) || !rd_vec(&r, 4, &exts)) {
		rc = -EBADMSG;
		goto fail;
	}
	m->body.data = reload_arena_memdup(a, body.p, body.len);
	m->body.len = body.len;
	e = exts;
	while (rd_left(&e) > 0) {
		struct rd tmp;

		rd_u16(&e);
		rd_u8(&e);
		if (!rd_vec(&e, 4, &tmp)) {
			rc = -EBADMSG;
			goto fail;
		}
		n++;
	}
	if (n) {
		m->extensions = reload_arena_alloc(a, n * sizeof(*m->extensions));
		if (!m->extensions) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	m->extension_count = n;
	for (size_t i = 0; i < n; i++) {
		uint8_t crit;

		m->extensions[i].type = rd_u16(&exts);
		crit = rd_u8(&exts);
		/* Boolean is 0 or 1 (§6.3.1.1) */
		if (crit > 1) {
			rc = -EBADMSG;
			goto fail;
		}
		m->extensions[i].critical = crit;
		rd_opaque(&exts, 4, a, &m->extensions[i].contents);
	}
	if (m->code == 0) {
		rc = -EBADMSG;
		goto fail;
	}
	m->contents_raw.data =
	    reload_arena_memdup(a, buf + hlen + contents_at, r.off - contents_at);
	m->contents_raw.len = r.off - contents_at;
	if ((!m->body.data && body.len) || exts.bad || !m->contents_raw.data) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = security_block_read(&r, a, &m->security)))
		goto fail;
	if (!rd_done(&r)) {
		rc = -EBADMSG;
		goto fail;
	}
	*out = m;
	return 0;
fail:
	reload_arena_free(a);
	return rc;
}

/* §6.3.4: signature input for a message is overlay || transaction_id || MessageContents
 * (|| SignerIdentity, appended by the signer). */
static void message_sig_prefix(uint32_t overlay, uint64_t tid, uint8_t pre[12])
{
	pcdn_put_be32(pre, overlay);
	pcdn_put_be64(pre + 4, tid);
}

int reload_message_encode(const struct reload_fwd_header *h, uint16_t code,
			  const struct reload_bytes *body, const struct reload_msg_extension *ext,
			  size_t ext_count, const struct reload_signer *signer,
			  const struct reload_bytes *extra_certs, size_t extra_cert_count,
			  struct reload_buf *out)
{
	struct reload_buf contents, sec;
	struct reload_arena *a = NULL;
	struct reload_signature sig;
	struct reload_bytes parts[2];
	uint8_t pre[12];
	uint8_t *der = NULL;
	int der_len, rc;
	struct wr_len l;

	if (!signer)
		return -EINVAL;
	reload_buf_init(&contents);
	reload_buf_init(&sec);
	if ((rc = reload_contents_encode(code, body, ext, ext_count, &contents)))
		goto out;
	a = reload_arena_new();
	if (!a) {
		rc = -ENOMEM;
		goto out;
	}
	message_sig_prefix(h->overlay, h->transaction_id, pre);
	parts[0] = (struct reload_bytes){pre, sizeof(pre)};
	parts[1] = (struct reload_bytes){contents.data, contents.len};
	if ((rc = reload_signer_sign(signer, parts, 2, a, &sig)))
		goto out;
	l = wr_len_begin(&sec, 2);
	der_len = i2d_X509(reload_signer_cert(signer), &der);
	if (der_len <= 0) {
		rc = -EINVAL;
		goto out;
	}
	reload_buf_put_u8(&sec, RELOAD_CERT_TYPE_X509);
	wr_opaque(&sec, 2, der, (size_t)der_len);
	for (size_t i = 0; i < extra_cert_count; i++) {
		reload_buf_put_u8(&sec, RELOAD_CERT_TYPE_X509);
		wr_opaque(&sec, 2, extra_certs[i].data, extra_certs[i].len);
	}
	wr_len_end(&sec, l);
	reload_signature_encode(&sig, &sec);
	if ((rc = reload_buf_error(&sec)))
		goto out;
	if ((rc = reload_fwd_header_encode(h, contents.len + sec.len, out)))
		goto out;
	reload_buf_put(out, contents.data, contents.len);
	reload_buf_put(out, sec.data, sec.len);
	rc = reload_buf_error(out);
out:
	OPENSSL_free(der);
	reload_arena_free(a);
	reload_buf_free(&contents);
	reload_buf_free(&sec);
	return rc;
}

int reload_message_build(const struct reload_fwd_header *h, uint16_t code,
			 const union reload_body *b, const struct reload_codec_params *p,
			 const struct reload_signer *signer, struct reload_buf *out)
{
	struct reload_buf body;
	struct reload_bytes bb;
	int rc;

	reload_buf_init(&body);
	rc = reload_body_encode(code, b, p, &body);
	if (!rc) {
		bb.data = body.data;
		bb.len = body.len;
		rc = reload_message_encode(h, code, &bb, NULL, 0, signer, NULL, 0, out);
	}
	reload_buf_free(&body);
	return rc;
}

int reload_error_build(const struct reload_fwd_header *h, uint16_t error_code, const char *info,
		       const struct reload_codec_params *p, const struct reload_signer *signer,
		       struct reload_buf *out)
{
	union reload_body b;

	memset(&b, 0, sizeof(b));
	b.error.error_code = error_code;
	b.error.error_info.data = (const uint8_t *)(info ? info : "");
	b.error.error_info.len = info ? strlen(info) : 0;
	return reload_message_build(h, RELOAD_ERROR, &b, p, signer, out);
}

/* Verification needs the same prefix; security.c owns the crypto, this file the layout. */
int reload_message_sig_input(const struct reload_message *m, uint8_t pre[12],
			     struct reload_bytes parts[2])
{
	message_sig_prefix(m->hdr.overlay, m->hdr.transaction_id, pre);
	parts[0] = (struct reload_bytes){pre, 12};
	parts[1] = m->contents_raw;
	return 0;
}
