/* Pull-through serving and fetching for a cacher (RFC 7574 §3.2 HAVE, §9.1 chunk picking): a
 * worker engine announces every chunk of a swarm whose storage fetches on demand, and the
 * upstream client asks for the chunks its workers miss before any other. */
#include "engine_internal.h"

#include <errno.h>

static struct ppspp_swarm *swarm_of(struct ppspp_engine *e, int swarm)
{
	if (swarm < 0 || (uint32_t)swarm >= e->cfg.max_swarms || !e->swarms[swarm].used)
		return NULL;
	return &e->swarms[swarm];
}

int ppspp_engine_swarm_serve_all(struct ppspp_engine *e, int swarm)
{
	struct ppspp_swarm *s = swarm_of(e, swarm);

	if (!s)
		return -EINVAL;
	if (!s->have.w)
		return -EAGAIN;
	/* every chunk is "here": announced, requestable, never picked for download */
	for (uint64_t i = 0; i < (s->count + 63) / 64; i++) {
		s->have.w[i] = ~0ull;
		s->taken.w[i] = ~0ull;
	}
	if (s->count % 64) {
		uint64_t last = (s->count + 63) / 64 - 1;
		s->have.w[last] = (1ull << (s->count % 64)) - 1;
		s->taken.w[last] = s->have.w[last];
	}
	s->verified = s->count;
	s->prefix = s->count;
	s->cursor = s->count;
	s->complete_sent = true; /* nothing was downloaded: no complete event */
	return 0;
}

int ppspp_engine_swarm_want(struct ppspp_engine *e, int swarm, uint64_t first, uint64_t last)
{
	struct ppspp_swarm *s = swarm_of(e, swarm);

	if (!s || first > last)
		return -EINVAL;
	if (!s->have.w)
		return -EAGAIN;
	if (first >= s->count)
		return -EINVAL;
	if (last >= s->count)
		last = s->count - 1;
	/* held chunks are fetched again: the storage asked, so it no longer has them */
	for (uint64_t k = first; k <= last; k++) {
		if (!ppspp_bitmap_get(&s->have, k))
			continue;
		ppspp_bitmap_clr(&s->have, k);
		ppspp_bitmap_clr(&s->taken, k);
		if (s->verified)
			s->verified--;
		if (k < s->prefix)
			s->prefix = k;
		if (k < s->cursor)
			s->cursor = k;
		s->complete_sent = false;
	}
	ppspp_ivset_add(&s->want, first, last);
	s->repick = true;
	return 0;
}

int ppspp_engine_swarm_wanted_only(struct ppspp_engine *e, int swarm, bool only)
{
	struct ppspp_swarm *s = swarm_of(e, swarm);

	if (!s)
		return -EINVAL;
	s->want_only = only;
	s->repick = true;
	return 0;
}
