/* RFC 7574 §7: HANDSHAKE protocol options (codes 0-9 and the end option 255), the supported
 * messages bitmap (§7.10), and what the options negotiate for the codec: chunk addressing
 * (§7.8), hash length (§7.6), chunk size (§7.11, §8.1) and signature length (§7.7, §8.9). */
#include <errno.h>
#include <string.h>

#include "pcdn_common.h"
#include "ppspp.h"

#define OPT_KNOWN_MASK ((1u << (PPSPP_OPT_CHUNK_SIZE + 1)) - 1)

/* Every option but the end option carries a value; this is the size of the value. */
static int option_value_size(uint8_t code, const uint8_t *p, size_t avail, uint8_t cam,
			     size_t *size)
{
	switch (code) {
	case PPSPP_OPT_VERSION:
	case PPSPP_OPT_MIN_VERSION:
	case PPSPP_OPT_CIPM:
	case PPSPP_OPT_MERKLE_HASH:
	case PPSPP_OPT_LIVE_SIG_ALG:
	case PPSPP_OPT_CAM:
		*size = 1;
		return 0;
	case PPSPP_OPT_SWARM_ID:
		if (avail < 2)
			return -PPSPP_ERR_TRUNCATED;
		*size = 2 + (size_t)pcdn_get_be16(p);
		return 0;
	case PPSPP_OPT_LIVE_DISCARD:
		*size = ppspp_discard_window_size(cam);
		return *size ? 0 : -PPSPP_ERR_NO_CONTEXT;
	case PPSPP_OPT_SUPPORTED_MSGS:
		if (avail < 1)
			return -PPSPP_ERR_TRUNCATED;
		*size = 1 + (size_t)p[0];
		return 0;
	case PPSPP_OPT_CHUNK_SIZE:
		*size = 4;
		return 0;
	default:
		return -PPSPP_ERR_UNKNOWN_OPTION;
	}
}

int ppspp_options_decode_cam(const uint8_t *p, size_t len, uint8_t cam, struct ppspp_options *o,
			     size_t *consumed)
{
	size_t off = 0;
	/* The addressing method that sized a live discard window, to detect a CAM option that
	 * came after the window and disagrees with the width it was read with. */
	size_t discard_width = 0;

	memset(o, 0, sizeof(*o));
	for (;;) {
		uint8_t code;
		size_t size;
		const uint8_t *v;
		int rc;

		if (off >= len)
			return -PPSPP_ERR_TRUNCATED;
		code = p[off++];
		if (code == PPSPP_OPT_END)
			break;
		if (code > PPSPP_OPT_CHUNK_SIZE)
			return -PPSPP_ERR_UNKNOWN_OPTION;
		/* Receivers are liberal about order (§7 says senders sort), but a repeated option
		 * is ambiguous: which value would the peer mean? */
		if (o->present & PPSPP_OPT_BIT(code))
			return -PPSPP_ERR_OPTION_ORDER;
		rc = option_value_size(code, p + off, len - off,
				       ppspp_options_has(o, PPSPP_OPT_CAM) ? o->cam : cam, &size);
		if (rc < 0)
			return rc;
		if (len - off < size)
			return -PPSPP_ERR_TRUNCATED;
		v = p + off;
		switch (code) {
		case PPSPP_OPT_VERSION:
			o->version = v[0];
			break;
		case PPSPP_OPT_MIN_VERSION:
			o->min_version = v[0];
			break;
		case PPSPP_OPT_SWARM_ID:
			o->swarm_id_len = pcdn_get_be16(v);
			o->swarm_id = v + 2;
			break;
		case PPSPP_OPT_CIPM:
			o->cipm = v[0];
			break;
		case PPSPP_OPT_MERKLE_HASH:
			/* Rejected rather than carried: INTEGRITY messages after this handshake
			 * could not be framed without a known digest length. */
			if (ppspp_hash_len(v[0]) == 0)
				return -PPSPP_ERR_BAD_VALUE;
			o->merkle_hash = v[0];
			break;
		case PPSPP_OPT_LIVE_SIG_ALG:
			o->live_sig_alg = v[0];
			break;
		case PPSPP_OPT_CAM:
			/* Likewise: every chunk spec after this depends on it. */
			if (ppspp_spec_size(v[0]) == 0)
				return -PPSPP_ERR_BAD_VALUE;
			o->cam = v[0];
			if (discard_width && ppspp_discard_window_size(o->cam) != discard_width)
				return -PPSPP_ERR_OPTION_ORDER;
			break;
		case PPSPP_OPT_LIVE_DISCARD:
			discard_width = size;
			o->live_discard_window = size == 4 ? pcdn_get_be32(v) : pcdn_get_be64(v);
			break;
		case PPSPP_OPT_SUPPORTED_MSGS:
			/* §7.10: at most 256 bits of bitmap. */
			if (v[0] > sizeof(o->supported_msgs))
				return -PPSPP_ERR_BAD_VALUE;
			o->supported_msgs_len = v[0];
			memcpy(o->supported_msgs, v + 1, v[0]);
			break;
		case PPSPP_OPT_CHUNK_SIZE:
			o->chunk_size = pcdn_get_be32(v);
			if (o->chunk_size == 0)
				return -PPSPP_ERR_BAD_VALUE;
			break;
		}
		o->present |= PPSPP_OPT_BIT(code);
		off += size;
	}
	*consumed = off;
	return 0;
}

int ppspp_options_decode(const uint8_t *p, size_t len, struct ppspp_options *o, size_t *consumed)
{
	return ppspp_options_decode_cam(p, len, PPSPP_CAM_CHUNK32, o, consumed);
}

int ppspp_options_encode(const struct ppspp_options *o, uint8_t cam, uint8_t *p, size_t cap,
			 size_t *written)
{
	size_t need = 1, off = 0, dw = 0;
	uint8_t eff_cam = ppspp_options_has(o, PPSPP_OPT_CAM) ? o->cam : cam;

	if (o->present & ~OPT_KNOWN_MASK)
		return -EINVAL;
	/* Validate and size everything first so that a failure leaves nothing half-written. */
	for (unsigned code = 0; code <= PPSPP_OPT_CHUNK_SIZE; code++) {
		if (!(o->present & PPSPP_OPT_BIT(code)))
			continue;
		switch (code) {
		case PPSPP_OPT_SWARM_ID:
			if (o->swarm_id_len && !o->swarm_id)
				return -EINVAL;
			need += 3 + (size_t)o->swarm_id_len;
			break;
		case PPSPP_OPT_MERKLE_HASH:
			if (ppspp_hash_len(o->merkle_hash) == 0)
				return -EINVAL;
			need += 2;
			break;
		case PPSPP_OPT_CAM:
			if (ppspp_spec_size(o->cam) == 0)
				return -EINVAL;
			need += 2;
			break;
		case PPSPP_OPT_LIVE_DISCARD:
			dw = ppspp_discard_window_size(eff_cam);
			if (dw == 0 || (dw == 4 && o->live_discard_window > UINT32_MAX))
				return -EINVAL;
			need += 1 + dw;
			break;
		case PPSPP_OPT_SUPPORTED_MSGS:
			if (o->supported_msgs_len > sizeof(o->supported_msgs))
				return -EINVAL;
			need += 2 + (size_t)o->supported_msgs_len;
			break;
		case PPSPP_OPT_CHUNK_SIZE:
			if (o->chunk_size == 0)
				return -EINVAL;
			need += 5;
			break;
		default:
			need += 2;
			break;
		}
	}
	if (need > cap)
		return -ENOSPC;
	for (unsigned code = 0; code <= PPSPP_OPT_CHUNK_SIZE; code++) {
		if (!(o->present & PPSPP_OPT_BIT(code)))
			continue;
		p[off++] = (uint8_t)code;
		switch (code) {
		case PPSPP_OPT_VERSION:
			p[off++] = o->version;
			break;
		case PPSPP_OPT_MIN_VERSION:
			p[off++] = o->min_version;
			break;
		case PPSPP_OPT_SWARM_ID:
			pcdn_put_be16(p + off, o->swarm_id_len);
			off += 2;
			if (o->swarm_id_len)
				memcpy(p + off, o->swarm_id, o->swarm_id_len);
			off += o->swarm_id_len;
			break;
		case PPSPP_OPT_CIPM:
			p[off++] = o->cipm;
			break;
		case PPSPP_OPT_MERKLE_HASH:
			p[off++] = o->merkle_hash;
			break;
		case PPSPP_OPT_LIVE_SIG_ALG:
			p[off++] = o->live_sig_alg;
			break;
		case PPSPP_OPT_CAM:
			p[off++] = o->cam;
			break;
		case PPSPP_OPT_LIVE_DISCARD:
			if (dw == 4)
				pcdn_put_be32(p + off, (uint32_t)o->live_discard_window);
			else
				pcdn_put_be64(p + off, o->live_discard_window);
			off += dw;
			break;
		case PPSPP_OPT_SUPPORTED_MSGS:
			p[off++] = o->supported_msgs_len;
			memcpy(p + off, o->supported_msgs, o->supported_msgs_len);
			off += o->supported_msgs_len;
			break;
		case PPSPP_OPT_CHUNK_SIZE:
			pcdn_put_be32(p + off, o->chunk_size);
			off += 4;
			break;
		}
	}
	p[off++] = PPSPP_OPT_END;
	*written = off;
	return 0;
}

/* DNSSEC algorithm numbers (IANA registry referenced by §7.7) and RFC 3110 key layout. */
size_t ppspp_live_sig_len(uint8_t alg, const uint8_t *swarm_id, size_t swarm_id_len)
{
	switch (alg) {
	case 3: /* DSA */
	case 6: /* DSA-NSEC3-SHA1: RFC 2536 T, R, S */
		return 41;
	case 5: /* RSASHA1 */
	case 7: /* RSASHA1-NSEC3-SHA1 */
	case 8: /* RSASHA256 */
	case 10: /* RSASHA512 */ {
		/* §8.9: the swarm ID is a 1-byte algorithm followed by the RSA public key
		 * (exponent length, exponent, modulus); a signature is as long as the modulus. */
		size_t hdr, exp_len;

		if (!swarm_id || swarm_id_len < 3)
			return 0;
		if (swarm_id[1] != 0) {
			exp_len = swarm_id[1];
			hdr = 2;
		} else {
			if (swarm_id_len < 5)
				return 0;
			exp_len = pcdn_get_be16(swarm_id + 2);
			hdr = 4;
		}
		if (exp_len == 0 || swarm_id_len <= hdr + exp_len)
			return 0;
		return swarm_id_len - hdr - exp_len;
	}
	case 13: /* ECDSAP256SHA256 */
	case 15: /* ED25519 */
		return 64;
	case 14: /* ECDSAP384SHA384 */
		return 96;
	case 16: /* ED448 */
		return 114;
	default:
		return 0;
	}
}

void ppspp_codec_ctx_apply(struct ppspp_codec_ctx *ctx, const struct ppspp_options *o)
{
	if (ppspp_options_has(o, PPSPP_OPT_CAM) && ppspp_spec_size(o->cam))
		ctx->cam = o->cam;
	if (ppspp_options_has(o, PPSPP_OPT_MERKLE_HASH) && ppspp_hash_len(o->merkle_hash))
		ctx->hash_len = (uint8_t)ppspp_hash_len(o->merkle_hash);
	if (ppspp_options_has(o, PPSPP_OPT_CHUNK_SIZE) && o->chunk_size)
		ctx->chunk_size = o->chunk_size;
	if (ppspp_options_has(o, PPSPP_OPT_LIVE_SIG_ALG)) {
		bool sid = ppspp_options_has(o, PPSPP_OPT_SWARM_ID);
		size_t n = ppspp_live_sig_len(o->live_sig_alg, sid ? o->swarm_id : NULL,
					      sid ? o->swarm_id_len : 0);

		if (n && n <= UINT16_MAX)
			ctx->sig_len = (uint16_t)n;
	}
}

/* §7.10: bit X, counted from the most significant bit of the first byte, is message type X;
 * the bitmap is cut after its last non-zero byte. */
void ppspp_supported_msgs_set(struct ppspp_options *o, uint32_t msg_type_mask)
{
	memset(o->supported_msgs, 0, sizeof(o->supported_msgs));
	o->supported_msgs_len = 0;
	for (unsigned t = 0; t < 32; t++) {
		if (!(msg_type_mask & (1u << t)))
			continue;
		o->supported_msgs[t / 8] |= (uint8_t)(0x80u >> (t % 8));
		o->supported_msgs_len = (uint8_t)(t / 8 + 1);
	}
	o->present |= PPSPP_OPT_BIT(PPSPP_OPT_SUPPORTED_MSGS);
}

bool ppspp_supported_msgs_has(const struct ppspp_options *o, enum ppspp_msg_type t)
{
	unsigned x = (unsigned)t;

	/* §7.10: only peers that support a proper subset send the option. */
	if (!ppspp_options_has(o, PPSPP_OPT_SUPPORTED_MSGS))
		return true;
	if (x / 8 >= o->supported_msgs_len)
		return false;
	return (o->supported_msgs[x / 8] & (0x80u >> (x % 8))) != 0;
}
