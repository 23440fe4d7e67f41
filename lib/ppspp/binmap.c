/* RFC 7574 §4.3.1 implementation note: chunk-set bookkeeping. Instead of a full binmap, the
 * engine keeps flat bitmaps for its own swarm state (one bit per chunk, allocated once) and small
 * fixed-capacity interval sets for what each peer has: peers announce their biggest complete
 * intervals, so a handful of intervals describes a seeder or an in-order downloader exactly. */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ppspp_ivset_clear(struct ppspp_ivset *s)
{
	s->n = 0;
}

/* Forget the smallest interval (never the last slot we are about to use). */
static void ivset_evict(struct ppspp_ivset *s)
{
	uint32_t victim = 0;

	for (uint32_t i = 1; i < s->n; i++)
		if (s->iv[i].b - s->iv[i].a < s->iv[victim].b - s->iv[victim].a)
			victim = i;
	memmove(&s->iv[victim], &s->iv[victim + 1], (s->n - victim - 1) * sizeof(s->iv[0]));
	s->n--;
}

void ppspp_ivset_add_slow(struct ppspp_ivset *s, uint64_t a, uint64_t b)
{
	uint32_t i = 0, j;

	if (b < a)
		return;
	/* first interval that ends at or after a-1 (could touch) */
	while (i < s->n && s->iv[i].b != UINT64_MAX && s->iv[i].b + 1 < a)
		i++;
	j = i;
	/* merge every interval that overlaps or touches [a, b] */
	while (j < s->n && (b == UINT64_MAX || s->iv[j].a <= b + 1)) {
		if (s->iv[j].a < a)
			a = s->iv[j].a;
		if (s->iv[j].b > b)
			b = s->iv[j].b;
		j++;
	}
	if (j > i) {
		s->iv[i].a = a;
		s->iv[i].b = b;
		memmove(&s->iv[i + 1], &s->iv[j], (s->n - j) * sizeof(s->iv[0]));
		s->n -= j - i - 1;
		return;
	}
	if (s->n == PPSPP_IVSET_CAP) {
		ivset_evict(s);
		ppspp_ivset_add_slow(s, a, b);
		return;
	}
	memmove(&s->iv[i + 1], &s->iv[i], (s->n - i) * sizeof(s->iv[0]));
	s->iv[i].a = a;
	s->iv[i].b = b;
	s->n++;
}

uint64_t ppspp_ivset_next(const struct ppspp_ivset *s, uint64_t c)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (c <= s->iv[i].b)
			return c < s->iv[i].a ? s->iv[i].a : c;
	}
	return UINT64_MAX;
}

int ppspp_bitmap_alloc(struct ppspp_bitmap *b, uint64_t nbits)
{
	size_t words = (size_t)((nbits + 63) / 64);

	b->w = calloc(words ? words : 1, sizeof(uint64_t));
	if (!b->w)
		return -ENOMEM;
	b->nbits = nbits;
	return 0;
}

void ppspp_bitmap_free(struct ppspp_bitmap *b)
{
	free(b->w);
	b->w = NULL;
	b->nbits = 0;
}

uint64_t ppspp_bitmap_next_clear(const struct ppspp_bitmap *b, uint64_t i)
{
	if (i >= b->nbits)
		return b->nbits;
	uint64_t wi = i >> 6;
	uint64_t w = ~b->w[wi] & (~0ull << (i & 63));
	uint64_t nwords = (b->nbits + 63) / 64;

	while (!w) {
		if (++wi >= nwords)
			return b->nbits;
		w = ~b->w[wi];
	}
	uint64_t r = wi * 64 + (uint64_t)__builtin_ctzll(w);
	return r < b->nbits ? r : b->nbits;
}

uint64_t ppspp_bitmap_run_end(const struct ppspp_bitmap *b, uint64_t i)
{
	return ppspp_bitmap_next_clear(b, i) - 1;
}

uint64_t ppspp_bitmap_run_start(const struct ppspp_bitmap *b, uint64_t i, uint64_t floor)
{
	if (i <= floor)
		return 0;
	uint64_t wi = i >> 6;
	/* bits at and below i in the word, inverted: a clear bit stops the run */
	uint64_t mask = (i & 63) == 63 ? ~0ull : ((1ull << ((i & 63) + 1)) - 1);
	uint64_t w = ~b->w[wi] & mask;

	while (!w) {
		if (wi == 0 || wi * 64 <= floor)
			return 0;
		wi--;
		w = ~b->w[wi];
	}
	return wi * 64 + (63 - (uint64_t)__builtin_clzll(w)) + 1;
}

/* ---- channel sets ---------------------------------------------------------------------------- */

int ppspp_chanset_alloc(struct ppspp_chanset *s, uint32_t nbits)
{
	s->nw = (nbits + 63) / 64;
	s->w = calloc(s->nw, sizeof(*s->w));
	s->sum = calloc((s->nw + 63) / 64, sizeof(*s->sum));
	if (!s->w || !s->sum) {
		ppspp_chanset_free(s);
		return -ENOMEM;
	}
	return 0;
}

void ppspp_chanset_free(struct ppspp_chanset *s)
{
	free(s->w);
	free(s->sum);
	s->w = s->sum = NULL;
	s->nw = 0;
}

void ppspp_chanset_clear(struct ppspp_chanset *s)
{
	for (uint32_t j = 0; j < (s->nw + 63) / 64; j++) {
		uint64_t m = s->sum[j];
		while (m) {
			s->w[j * 64 + (uint32_t)__builtin_ctzll(m)] = 0;
			m &= m - 1;
		}
		s->sum[j] = 0;
	}
}

void ppspp_chanset_or(struct ppspp_chanset *s, const struct ppspp_chanset *o)
{
	for (uint32_t j = 0; j < (o->nw + 63) / 64; j++) {
		uint64_t m = o->sum[j];
		s->sum[j] |= m;
		while (m) {
			uint32_t wi = j * 64 + (uint32_t)__builtin_ctzll(m);
			s->w[wi] |= o->w[wi];
			m &= m - 1;
		}
	}
}

uint32_t ppspp_chanset_next(const struct ppspp_chanset *s, uint32_t i)
{
	uint32_t wi = i >> 6;

	if (wi >= s->nw)
		return UINT32_MAX;
	uint64_t m = s->w[wi] & (~0ull << (i & 63));
	if (m)
		return wi * 64 + (uint32_t)__builtin_ctzll(m);
	/* the next nonzero word from the summary */
	uint32_t j = (wi + 1) >> 6, nsum = (s->nw + 63) / 64;
	if (j >= nsum)
		return UINT32_MAX;
	uint32_t b = (wi + 1) & 63;
	uint64_t sm = b ? s->sum[j] & (~0ull << b) : s->sum[j];
	while (!sm) {
		if (++j >= nsum)
			return UINT32_MAX;
		sm = s->sum[j];
	}
	wi = j * 64 + (uint32_t)__builtin_ctzll(sm);
	return wi * 64 + (uint32_t)__builtin_ctzll(s->w[wi]);
}
