/* Neighbour cache: set-associative table (8 ways per bucket), no tombstones, no allocation after
 * create. See net_neigh.h. RFC 826 (merge rules) and RFC 4861 §7.2/§7.3 (solicitation,
 * retransmission, held packets), without the STALE/PROBE refinements: a resolved entry expires
 * and is resolved again on the next use. */
#include "net_neigh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8

enum { FREE = 0, INCOMPLETE, REACHABLE };

struct entry {
	struct net_ipaddr ip;
	uint8_t state;
	uint8_t probes;
	uint8_t n_pending;
	uint8_t mac[NET_ETH_ALEN];
	uint64_t deadline; /* REACHABLE: expiry; INCOMPLETE: next solicitation */
	uint64_t updated;
	void *pending[NET_NEIGH_PENDING];
};

struct net_neigh_table {
	struct net_neigh_config cfg;
	unsigned n_buckets; /* power of two */
	unsigned used;
	struct entry e[];
};

static uint32_t hash_ip(const struct net_ipaddr *ip)
{
	uint32_t h = 2166136261u ^ ip->family;
	unsigned n = ip->family == 4 ? 4 : 16;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ ip->a[i]) * 16777619u;
	return h ^ (h >> 15);
}

struct net_neigh_table *net_neigh_create(unsigned capacity, const struct net_neigh_config *cfg)
{
	struct net_neigh_table *t;
	unsigned n = WAYS;

	if (!cfg || capacity > (1u << 24)) {
		errno = EINVAL;
		return NULL;
	}
	while (n < capacity)
		n <<= 1;
	t = calloc(1, sizeof(*t) + n * sizeof(struct entry));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	if (t->cfg.max_probes == 0)
		t->cfg.max_probes = 1;
	t->n_buckets = n / WAYS;
	return t;
}

void net_neigh_destroy(struct net_neigh_table *t, void (*release)(void *pkt, void *ctx), void *ctx)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->n_buckets * WAYS; i++)
		for (unsigned k = 0; k < t->e[i].n_pending; k++)
			if (release)
				release(t->e[i].pending[k], ctx);
	free(t);
}

static struct entry *bucket(struct net_neigh_table *t, const struct net_ipaddr *ip)
{
	return &t->e[(hash_ip(ip) & (t->n_buckets - 1)) * WAYS];
}

static struct entry *find(struct net_neigh_table *t, const struct net_ipaddr *ip)
{
	struct entry *b = bucket(t, ip);

	for (unsigned i = 0; i < WAYS; i++)
		if (b[i].state != FREE && net_ipaddr_equal(&b[i].ip, ip))
			return &b[i];
	return NULL;
}

static void entry_free(struct net_neigh_table *t, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	t->used--;
}

/* A free way, or the least recently updated resolved one; never an entry holding packets. */
static struct entry *make_room(struct net_neigh_table *t, const struct net_ipaddr *ip)
{
	struct entry *b = bucket(t, ip), *victim = NULL;

	for (unsigned i = 0; i < WAYS; i++) {
		if (b[i].state == FREE)
			return &b[i];
		if (b[i].state == REACHABLE && (!victim || b[i].updated < victim->updated))
			victim = &b[i];
	}
	if (victim)
		entry_free(t, victim);
	return victim;
}

int net_neigh_lookup(struct net_neigh_table *t, const struct net_ipaddr *ip, uint64_t now,
		     uint8_t mac[NET_ETH_ALEN])
{
	struct entry *e = find(t, ip);

	if (!e || e->state != REACHABLE)
		return -ENOENT;
	if (now >= e->deadline) {
		entry_free(t, e);
		return -ENOENT;
	}
	memcpy(mac, e->mac, NET_ETH_ALEN);
	return 0;
}

int net_neigh_hold(struct net_neigh_table *t, const struct net_ipaddr *ip, uint64_t now, void *pkt,
		   bool *solicit)
{
	struct entry *e = find(t, ip);

	*solicit = false;
	if (e && e->state == REACHABLE) {
		/* Expired (the caller's lookup failed): resolve again. */
		entry_free(t, e);
		e = NULL;
	}
	if (!e) {
		e = make_room(t, ip);
		if (!e)
			return -ENOSPC;
		t->used++;
		e->ip = *ip;
		e->state = INCOMPLETE;
		e->probes = 1;
		e->deadline = now + t->cfg.retrans_ns;
		e->updated = now;
		*solicit = true;
	}
	if (e->n_pending >= NET_NEIGH_PENDING)
		return -ENOBUFS;
	e->pending[e->n_pending++] = pkt;
	return 0;
}

unsigned net_neigh_update(struct net_neigh_table *t, const struct net_ipaddr *ip,
			  const uint8_t mac[NET_ETH_ALEN], uint64_t now, bool create,
			  void *released[NET_NEIGH_PENDING], bool *learned)
{
	struct entry *e = find(t, ip);
	unsigned n = 0;

	*learned = false;
	if (!e) {
		if (!create)
			return 0;
		e = make_room(t, ip);
		if (!e)
			return 0;
		t->used++;
		e->ip = *ip;
	}
	*learned = e->state != REACHABLE || memcmp(e->mac, mac, NET_ETH_ALEN) != 0;
	e->state = REACHABLE;
	memcpy(e->mac, mac, NET_ETH_ALEN);
	e->deadline = now + t->cfg.reachable_ns;
	e->updated = now;
	e->probes = 0;
	for (; n < e->n_pending; n++)
		released[n] = e->pending[n];
	e->n_pending = 0;
	return n;
}

void net_neigh_timer(struct net_neigh_table *t, uint64_t now, struct net_neigh_timer_out *out)
{
	out->n_resolicit = 0;
	out->n_dropped = 0;
	for (unsigned i = 0; i < t->n_buckets * WAYS; i++) {
		struct entry *e = &t->e[i];

		if (e->state == REACHABLE && now >= e->deadline) {
			entry_free(t, e);
		} else if (e->state == INCOMPLETE && now >= e->deadline) {
			if (e->probes < t->cfg.max_probes) {
				if (out->n_resolicit >= out->max_resolicit)
					continue;
				out->resolicit[out->n_resolicit++] = e->ip;
				e->probes++;
				e->deadline = now + t->cfg.retrans_ns;
				continue;
			}
			if (out->n_dropped + e->n_pending > out->max_dropped)
				continue;
			for (unsigned k = 0; k < e->n_pending; k++)
				out->dropped[out->n_dropped++] = e->pending[k];
			entry_free(t, e);
		}
	}
}

unsigned net_neigh_count(const struct net_neigh_table *t)
{
	return t->used;
}
