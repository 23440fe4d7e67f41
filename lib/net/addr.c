/* IP addresses and the identity of a data port on its link (own addresses, prefixes, gateways). */
#include "net_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_ipaddr_parse(const char *s, struct net_ipaddr *out, uint8_t *plen)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (alen == 0 || alen >= sizeof(tmp) || (slash && !plen))
		return -EINVAL;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->a) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, tmp, out->a) == 1)
		out->family = 6;
	else
		return -EINVAL;
	if (plen) {
		unsigned max = out->family == 4 ? 32 : 128;
		*plen = (uint8_t)max;
		if (slash) {
			char *end;
			unsigned long v;

			if (slash[1] < '0' || slash[1] > '9')
				return -EINVAL;
			v = strtoul(slash + 1, &end, 10);
			if (*end || v > max || end - (slash + 1) > 3)
				return -EINVAL;
			*plen = (uint8_t)v;
		}
	}
	return 0;
}

const char *net_ipaddr_format(const struct net_ipaddr *a, char *out, size_t size)
{
	if (a->family == 4 || a->family == 6) {
		if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, out, (socklen_t)size))
			return out;
	}
	snprintf(out, size, "(none)");
	return out;
}

static unsigned addr_len(const struct net_ipaddr *a)
{
	return a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
}

bool net_ipaddr_equal(const struct net_ipaddr *a, const struct net_ipaddr *b)
{
	return a->family == b->family && memcmp(a->a, b->a, addr_len(a)) == 0;
}

bool net_ipaddr_in_prefix(const struct net_ipaddr *a, const struct net_prefix *p)
{
	unsigned full, rem;

	if (a->family != p->addr.family || a->family == 0)
		return false;
	full = p->len / 8u;
	rem = p->len % 8u;
	if (memcmp(a->a, p->addr.a, full) != 0)
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));
		return (a->a[full] & mask) == (p->addr.a[full] & mask);
	}
	return true;
}

void net_ipaddr_v4(struct net_ipaddr *a, const uint8_t b[4])
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	memcpy(a->a, b, 4);
}

void net_ipaddr_v6(struct net_ipaddr *a, const uint8_t b[16])
{
	a->family = 6;
	memcpy(a->a, b, 16);
}

int net_iface_add(struct net_iface *ifc, const struct net_ipaddr *a, uint8_t plen)
{
	if ((a->family != 4 && a->family != 6) || plen > (a->family == 4 ? 32 : 128))
		return -EINVAL;
	if (net_iface_has_addr(ifc, a))
		return -EEXIST;
	if (ifc->n_addrs >= NET_IFACE_MAX_ADDRS)
		return -ENOSPC;
	ifc->addrs[ifc->n_addrs].addr = *a;
	ifc->addrs[ifc->n_addrs].len = plen;
	ifc->n_addrs++;
	return 0;
}

int net_iface_add_link_local(struct net_iface *ifc)
{
	struct net_ipaddr ll = {.family = 6};

	ll.a[0] = 0xfe;
	ll.a[1] = 0x80;
	ll.a[8] = ifc->mac[0] ^ 0x02;
	ll.a[9] = ifc->mac[1];
	ll.a[10] = ifc->mac[2];
	ll.a[11] = 0xff;
	ll.a[12] = 0xfe;
	ll.a[13] = ifc->mac[3];
	ll.a[14] = ifc->mac[4];
	ll.a[15] = ifc->mac[5];
	return net_iface_add(ifc, &ll, 64);
}

bool net_iface_has_addr(const struct net_iface *ifc, const struct net_ipaddr *a)
{
	for (unsigned i = 0; i < ifc->n_addrs; i++)
		if (net_ipaddr_equal(&ifc->addrs[i].addr, a))
			return true;
	return false;
}

int net_iface_source_for(const struct net_iface *ifc, const struct net_ipaddr *dst,
			 struct net_ipaddr *src)
{
	int any = -1;

	for (unsigned i = 0; i < ifc->n_addrs; i++) {
		if (ifc->addrs[i].addr.family != dst->family)
			continue;
		if (net_ipaddr_in_prefix(dst, &ifc->addrs[i])) {
			*src = ifc->addrs[i].addr;
			return 0;
		}
		/* Off-link: prefer a global address over the link-local one. */
		if (any < 0 ||
		    (ifc->addrs[any].addr.family == 6 && ifc->addrs[any].addr.a[0] == 0xfe &&
		     (ifc->addrs[any].addr.a[1] & 0xc0) == 0x80))
			any = (int)i;
	}
	if (any < 0)
		return -EADDRNOTAVAIL;
	*src = ifc->addrs[any].addr;
	return 0;
}

int net_iface_next_hop(const struct net_iface *ifc, const struct net_ipaddr *dst,
		       struct net_ipaddr *nh)
{
	const struct net_ipaddr *gw;

	for (unsigned i = 0; i < ifc->n_addrs; i++) {
		if (net_ipaddr_in_prefix(dst, &ifc->addrs[i])) {
			*nh = *dst;
			return 0;
		}
	}
	gw = dst->family == 4 ? &ifc->gw4 : &ifc->gw6;
	if (dst->family == 0 || gw->family != dst->family)
		return -ENETUNREACH;
	*nh = *gw;
	return 0;
}

void net_solicited_node(const struct net_ipaddr *target, struct net_ipaddr *group,
			uint8_t mac[NET_ETH_ALEN])
{
	static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};

	group->family = 6;
	memcpy(group->a, prefix, sizeof(prefix));
	memcpy(group->a + 13, target->a + 13, 3);
	mac[0] = 0x33;
	mac[1] = 0x33;
	memcpy(mac + 2, group->a + 12, 4);
}

bool net_iface_accepts_ip6(const struct net_iface *ifc, const struct net_ipaddr *dst)
{
	static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	if (dst->family != 6)
		return false;
	if (memcmp(dst->a, all_nodes, 16) == 0)
		return true;
	if (dst->a[0] == 0xff) {
		for (unsigned i = 0; i < ifc->n_addrs; i++) {
			struct net_ipaddr g;
			uint8_t mac[NET_ETH_ALEN];

			if (ifc->addrs[i].addr.family != 6)
				continue;
			net_solicited_node(&ifc->addrs[i].addr, &g, mac);
			if (memcmp(g.a, dst->a, 16) == 0)
				return true;
		}
		return false;
	}
	return net_iface_has_addr(ifc, dst);
}
