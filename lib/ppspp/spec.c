/* RFC 7574 §4: chunk specifications for the five chunk addressing methods of §7.8 Table 6
 * (32/64-bit bins §4.2, 64-bit byte ranges §4.1.2, 32/64-bit chunk ranges §4.1.1), their wire
 * form, and their conversion to and from inclusive chunk ranges. */
#include <errno.h>

#include "pcdn_common.h"
#include "ppspp.h"

size_t ppspp_spec_size(uint8_t cam)
{
	switch (cam) {
	case PPSPP_CAM_BIN32:
		return 4;
	case PPSPP_CAM_CHUNK32:
	case PPSPP_CAM_BIN64:
		return 8;
	case PPSPP_CAM_BYTE64:
	case PPSPP_CAM_CHUNK64:
		return 16;
	default:
		return 0;
	}
}

/* §7.9: "its data type is the same as for a bin, or one value in a range specification". */
size_t ppspp_discard_window_size(uint8_t cam)
{
	switch (cam) {
	case PPSPP_CAM_BIN32:
	case PPSPP_CAM_CHUNK32:
		return 4;
	case PPSPP_CAM_BYTE64:
	case PPSPP_CAM_BIN64:
	case PPSPP_CAM_CHUNK64:
		return 8;
	default:
		return 0;
	}
}

size_t ppspp_hash_len(uint8_t hash_fn)
{
	switch (hash_fn) {
	case PPSPP_HASH_SHA1:
		return 20;
	case PPSPP_HASH_SHA224:
		return 28;
	case PPSPP_HASH_SHA256:
		return 32;
	case PPSPP_HASH_SHA384:
		return 48;
	case PPSPP_HASH_SHA512:
		return 64;
	default:
		return 0;
	}
}

static bool cam_is_bin(uint8_t cam)
{
	return cam == PPSPP_CAM_BIN32 || cam == PPSPP_CAM_BIN64;
}

int ppspp_spec_decode(uint8_t cam, const uint8_t *p, size_t len, struct ppspp_spec *s)
{
	size_t n = ppspp_spec_size(cam);

	if (n == 0)
		return -PPSPP_ERR_NO_CONTEXT;
	if (len < n)
		return -PPSPP_ERR_TRUNCATED;
	switch (cam) {
	case PPSPP_CAM_BIN32:
		s->a = s->b = pcdn_get_be32(p);
		break;
	case PPSPP_CAM_BIN64:
		s->a = s->b = pcdn_get_be64(p);
		break;
	case PPSPP_CAM_CHUNK32:
		s->a = pcdn_get_be32(p);
		s->b = pcdn_get_be32(p + 4);
		break;
	default: /* BYTE64, CHUNK64 */
		s->a = pcdn_get_be64(p);
		s->b = pcdn_get_be64(p + 8);
		break;
	}
	/* An inverted range has no meaning; accepting it would let a peer make the engine iterate
	 * "backwards" over 2^64 chunks. */
	if (!cam_is_bin(cam) && s->b < s->a)
		return -PPSPP_ERR_BAD_VALUE;
	return (int)n;
}

int ppspp_spec_encode(uint8_t cam, const struct ppspp_spec *s, uint8_t *p, size_t cap)
{
	size_t n = ppspp_spec_size(cam);

	if (n == 0)
		return -EINVAL;
	if (cam_is_bin(cam)) {
		if (s->b != s->a && s->b != 0)
			return -EINVAL;
		if (cam == PPSPP_CAM_BIN32 && s->a > UINT32_MAX)
			return -EINVAL;
	} else {
		if (s->b < s->a)
			return -EINVAL;
		if (cam == PPSPP_CAM_CHUNK32 && s->b > UINT32_MAX)
			return -EINVAL;
	}
	if (cap < n)
		return -ENOSPC;
	switch (cam) {
	case PPSPP_CAM_BIN32:
		pcdn_put_be32(p, (uint32_t)s->a);
		break;
	case PPSPP_CAM_BIN64:
		pcdn_put_be64(p, s->a);
		break;
	case PPSPP_CAM_CHUNK32:
		pcdn_put_be32(p, (uint32_t)s->a);
		pcdn_put_be32(p + 4, (uint32_t)s->b);
		break;
	default:
		pcdn_put_be64(p, s->a);
		pcdn_put_be64(p + 8, s->b);
		break;
	}
	return (int)n;
}

int ppspp_spec_to_chunks(uint8_t cam, uint32_t chunk_size, const struct ppspp_spec *s,
			 uint64_t *first, uint64_t *last)
{
	switch (cam) {
	case PPSPP_CAM_BIN32:
	case PPSPP_CAM_BIN64: {
		uint64_t bin = s->a;

		/* A 32-bit bin stays 32 bits wide: its empty value is 0xFFFFFFFF, and nothing
		 * wider can have come from the wire. */
		if (cam == PPSPP_CAM_BIN32 && bin >= PPSPP_BIN32_NONE)
			return -EINVAL;
		if (bin == PPSPP_BIN64_NONE)
			return -EINVAL;
		*first = ppspp_bin_base_left(bin);
		*last = *first + (ppspp_bin_base_width(bin) - 1);
		return 0;
	}
	case PPSPP_CAM_CHUNK32:
	case PPSPP_CAM_CHUNK64:
		if (s->b < s->a)
			return -EINVAL;
		if (cam == PPSPP_CAM_CHUNK32 && s->b > UINT32_MAX)
			return -EINVAL;
		*first = s->a;
		*last = s->b;
		return 0;
	case PPSPP_CAM_BYTE64:
		if (s->b < s->a || chunk_size == 0 || chunk_size == PPSPP_CHUNK_SIZE_VARIABLE)
			return -EINVAL;
		/* Byte ranges need not fall on chunk boundaries: the chunks touched are meant. */
		*first = s->a / chunk_size;
		*last = s->b / chunk_size;
		return 0;
	default:
		return -EINVAL;
	}
}

/* §4.2: a range as the largest aligned bins, left to right. */
static int bins_from_chunks(uint64_t first, uint64_t last, struct ppspp_spec *out, int max)
{
	int n = 0;
	uint64_t pos = first;

	for (;;) {
		unsigned layer = 0;

		/* Grow while the next bigger bin still starts at pos and ends within the range. */
		while (layer < 63) {
			uint64_t w = 1ull << (layer + 1);

			if ((pos & (w - 1)) != 0 || last - pos < w - 1)
				break;
			layer++;
		}
		if (n == max)
			return -ENOSPC;
		out[n].a = out[n].b = ppspp_bin_make(layer, pos >> layer);
		n++;
		if (last - pos == (1ull << layer) - 1)
			return n;
		pos += 1ull << layer;
	}
}

int ppspp_spec_from_chunks(uint8_t cam, uint32_t chunk_size, uint64_t first, uint64_t last,
			   struct ppspp_spec *out, int max)
{
	if (last < first)
		return -EINVAL;
	switch (cam) {
	case PPSPP_CAM_BIN32:
		/* Chunk c is bin 2c, and 0xFFFFFFFF is reserved for "empty". */
		if (last > UINT32_MAX / 2)
			return -EINVAL;
		return bins_from_chunks(first, last, out, max);
	case PPSPP_CAM_BIN64:
		if (last > UINT64_MAX / 2)
			return -EINVAL;
		return bins_from_chunks(first, last, out, max);
	case PPSPP_CAM_CHUNK32:
		if (last > UINT32_MAX)
			return -EINVAL;
		/* fall through */
	case PPSPP_CAM_CHUNK64:
		if (max < 1)
			return -ENOSPC;
		out[0].a = first;
		out[0].b = last;
		return 1;
	case PPSPP_CAM_BYTE64: {
		uint64_t a, b;

		if (chunk_size == 0 || chunk_size == PPSPP_CHUNK_SIZE_VARIABLE)
			return -EINVAL;
		if (__builtin_mul_overflow(first, (uint64_t)chunk_size, &a) ||
		    __builtin_mul_overflow(last, (uint64_t)chunk_size, &b) ||
		    __builtin_add_overflow(b, (uint64_t)chunk_size - 1, &b))
			return -EINVAL;
		if (max < 1)
			return -ENOSPC;
		out[0].a = a;
		out[0].b = b;
		return 1;
	}
	default:
		return -EINVAL;
	}
}
