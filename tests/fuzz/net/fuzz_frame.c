/* libFuzzer target: lib/net's frame parser (Ethernet, ARP, IPv4, IPv6, ICMP, ICMPv6 ND, UDP)
 * on arbitrary bytes, then the reply builders on whatever it accepted. A reply the host stack
 * would send must itself parse: addresses, lengths and checksums consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static const uint8_t own_mac[6] = {0x02, 0, 0, 0, 0, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_frame f, r;
	uint8_t *buf;
	uint32_t h;
	size_t cap = size + NET_ND_FRAME_LEN;
	int len;

	if (size > 65536)
		return 0;
	/* An exact-size copy, so ASan sees any read past the end. */
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	(void)net_frame_flow_hash(buf, (uint32_t)size, &h);
	(void)net_frame_parse(buf, (uint32_t)size, NET_PARSE_L3_CSUM_GOOD | NET_PARSE_L4_CSUM_GOOD,
			      &f);
	if (net_frame_parse(buf, (uint32_t)size, 0, &f) != NET_DROP_NONE) {
		free(buf);
		return 0;
	}
	free(buf);
	buf = calloc(1, cap);
	memcpy(buf, data, size);
	len = -1;
	if (f.kind == NET_FRAME_ARP && f.arp_op == 1)
		len = net_arp_reply_build(buf, cap, &f, own_mac);
	else if ((f.proto == NET_IPPROTO_ICMP && f.icmp_type == 8) ||
		 (f.proto == NET_IPPROTO_ICMPV6 && f.icmp_type == 128))
		len = net_echo_reply_inplace(buf, &f, own_mac);
	else if (f.proto == NET_IPPROTO_ICMPV6 && f.icmp_type == 135)
		len = net_nd_na_reply_build(buf, cap, &f, own_mac);
	if (len > 0 && net_frame_parse(buf, (uint32_t)len, 0, &r) != NET_DROP_NONE)
		abort(); /* we would send a frame we ourselves reject */
	free(buf);
	return 0;
}
