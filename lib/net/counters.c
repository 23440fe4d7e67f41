/* Counter names and summation; see net_counters.h. */
#include "net_counters.h"

#include <string.h>

static const char *const counter_names[NET_CTR_MAX] = {
#define NET_X_NAME(e, s) [NET_CTR_##e] = s,
    NET_FOREACH_COUNTER(NET_X_NAME)
#undef NET_X_NAME
};

static const char *const drop_names[NET_DROP_MAX] = {[NET_DROP_NONE] = "none",
#define NET_X_NAME(e, s) [NET_DROP_##e] = s,
						     NET_FOREACH_DROP(NET_X_NAME)
#undef NET_X_NAME
};

const char *net_counter_name(enum net_counter c)
{
	return (unsigned)c < NET_CTR_MAX ? counter_names[c] : "invalid";
}

const char *net_drop_name(enum net_drop d)
{
	return (unsigned)d < NET_DROP_MAX ? drop_names[d] : "invalid";
}

void net_counters_sum(const struct net_counters *blocks, unsigned n, struct net_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < n; w++) {
		for (unsigned i = 0; i < NET_CTR_MAX; i++)
			out->ctr[i] += __atomic_load_n(&blocks[w].ctr[i], __ATOMIC_RELAXED);
		for (unsigned i = 0; i < NET_DROP_MAX; i++)
			out->drop[i] += __atomic_load_n(&blocks[w].drop[i], __ATOMIC_RELAXED);
	}
}

uint64_t net_counters_drops_total(const struct net_counters *c)
{
	uint64_t t = 0;

	for (unsigned i = 1; i < NET_DROP_MAX; i++)
		t += c->drop[i];
	return t;
}
