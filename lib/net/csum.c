/* RFC 1071: the Internet checksum, 16-bit ones' complement sums over possibly several
 * segments (a header mbuf chained to an external payload). Sums are kept in host order of the
 * big-endian words; 2^16 = 1 (mod 0xffff), so wider partial sums fold to the same value. */
#include "net_proto.h"

#include <string.h>

uint32_t net_csum_add(uint32_t sum, const void *buf, size_t len, bool odd)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;

	/* A piece starting at an odd offset begins with the low byte of a word (RFC 1071 §2(B)). */
	if (odd && len) {
		acc += p[0];
		p++;
		len--;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* RFC 1071 §2(B), byte order independence: the sum of the little-endian words is the
	 * byte-swapped sum of the big-endian words. 32-bit words go into two 64-bit accumulators
	 * (no carry to propagate below 2^32 words, and the two adds per step do not wait on each
	 * other), folded and swapped once. This runs over every datagram's header bytes when the
	 * port has no checksum offload. */
	if (len >= 8) {
		uint64_t a0 = 0, a1 = 0, le;
		uint32_t w[4];

		for (; len >= 16; p += 16, len -= 16) {
			memcpy(w, p, 16);
			a0 += w[0];
			a1 += w[1];
			a0 += w[2];
			a1 += w[3];
		}
		for (; len >= 4; p += 4, len -= 4) {
			memcpy(w, p, 4);
			a0 += w[0];
		}
		le = a0 + a1; /* no overflow below 2^33 bytes */
		le = (le & 0xffffffffu) + (le >> 32);
		le = (le & 0xffffffffu) + (le >> 32);
		le = (le & 0xffff) + (le >> 16);
		le = (le & 0xffff) + (le >> 16);
		acc += __builtin_bswap16((uint16_t)le);
	}
#endif
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		acc += __builtin_bswap32(w);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		acc += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t net_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_pseudo_sum(const struct net_ipaddr *src, const struct net_ipaddr *dst, uint8_t proto,
			uint32_t l4_len)
{
	unsigned alen = src->family == 4 ? 4 : 16;
	uint32_t sum = 0;

	sum = net_csum_add(sum, src->a, alen, false);
	sum = net_csum_add(sum, dst->a, alen, false);
	sum += proto;
	sum += l4_len >> 16;
	sum += l4_len & 0xffff;
	return sum;
}

uint16_t net_ipv4_hdr_csum(const uint8_t *ip, unsigned hlen)
{
	uint32_t sum = net_csum_add(0, ip, 10, false);

	/* The checksum field itself (bytes 10-11) counts as zero. */
	sum = net_csum_add(sum, ip + 12, hlen - 12, false);
	return net_csum_fold(sum);
}
