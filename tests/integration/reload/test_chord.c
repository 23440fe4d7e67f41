/* CHORD-RELOAD routing state (RFC 6940 §10) without sockets: rings of 2..256 peers where every
 * peer has entered every other one, then from every peer toward random Resource-IDs by
 * reload_chord_next_hop until the responsible peer (§10.1) is reached. Checks: the route ends
 * at the one responsible peer, never loops, responsibility partitions the ring, neighbor
 * tables hold the true predecessors and successors, finger entries lie in their ranges, and
 * removal (§10.7.1) restores the ring order. Prints the mean hop count per ring size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload_overlay.h"

static int failures;

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
		}                                                                                  \
	} while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rand_id(uint8_t *id)
{
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = next_rand();

		memcpy(id + i, &r, 8);
	}
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct reload_node_id *)a)->id, ((const struct reload_node_id *)b)->id,
		      16);
}

static int find(const struct reload_node_id *ids, size_t n, const struct reload_node_id *x)
{
	for (size_t i = 0; i < n; i++)
		if (reload_node_id_equal(&ids[i], x))
			return (int)i;
	return -1;
}

static double ring(size_t n, bool remove_some)
{
	struct reload_node_id *ids = calloc(n, sizeof(*ids));
	struct reload_chord *ch = calloc(n, sizeof(*ch));
	bool *dead = calloc(n, sizeof(*dead));
	unsigned long hops = 0, routes = 0;

	for (size_t i = 0; i < n; i++) {
		ids[i].len = 16;
		rand_id(ids[i].id);
	}
	qsort(ids, n, sizeof(*ids), cmp_id);
	for (size_t i = 0; i < n; i++) {
		reload_chord_init(&ch[i], &ids[i], 3, 16);
		for (size_t j = 0; j < n; j++)
			reload_chord_add(&ch[i], &ids[j], 2);
	}
	if (remove_some) {
		/* every fourth peer fails; the others drop it (§10.7.1) */
		for (size_t i = 0; i < n; i += 4)
			dead[i] = true;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n && !dead[i]; j++)
				if (dead[j])
					reload_chord_remove(&ch[i], &ids[j], 2);
	}
	size_t live = 0;
	int *alive = calloc(n, sizeof(*alive));

	for (size_t i = 0; i < n; i++)
		if (!dead[i])
			alive[live++] = (int)i;
	for (size_t k = 0; k < live; k++) {
		size_t i = (size_t)alive[k];
		size_t s = (size_t)alive[(k + 1) % live], p = (size_t)alive[(k + live - 1) % live];

		if (live > 1) {
			CHECK(ch[i].nsucc > 0 && reload_node_id_equal(&ch[i].succs[0], &ids[s]),
			      "n=%zu: successor of peer %zu", n, i);
			CHECK(ch[i].npred > 0 && reload_node_id_equal(&ch[i].preds[0], &ids[p]),
			      "n=%zu: predecessor of peer %zu", n, i);
		}
		for (unsigned f = 1; f <= ch[i].finger_count; f++)
			CHECK(!ch[i].finger_set[f - 1] || reload_chord_finger_valid(&ch[i], f),
			      "n=%zu: finger %u of peer %zu out of range", n, f, i);
	}
	for (int t = 0; t < 200; t++) {
		uint8_t key[16];
		int owner = -1;

		rand_id(key);
		for (size_t k = 0; k < live; k++) {
			if (reload_chord_responsible(&ch[alive[k]], key)) {
				CHECK(owner < 0, "n=%zu: two peers responsible for one id", n);
				owner = alive[k];
			}
		}
		CHECK(owner >= 0, "n=%zu: nobody responsible", n);
		for (size_t k = 0; k < live && owner >= 0; k++) {
			int at = alive[k];
			unsigned h = 0;

			while (at != owner && h <= n) {
				struct reload_node_id next;

				if (!reload_chord_next_hop(&ch[at], key, &next))
					break;
				at = find(ids, n, &next);
				CHECK(at >= 0 && !dead[at], "n=%zu: next hop is not a live peer", n);
				if (at < 0 || dead[at])
					break;
				h++;
			}
			CHECK(at == owner, "n=%zu: route from peer %d did not reach the owner", n,
			      alive[k]);
			hops += h;
			routes++;
		}
	}
	free(alive);
	free(dead);
	free(ch);
	free(ids);
	return routes ? (double)hops / (double)routes : 0;
}

int main(void)
{
	static const size_t sizes[] = { 2, 3, 5, 16, 64, 256 };
	struct reload_chord c;
	struct reload_node_id self = { .len = 16 };
	uint8_t a[16] = { 0 }, b[16] = { 0 }, x[16] = { 0 };

	/* (a, b] with wrap-around */
	a[0] = 0xf0;
	b[0] = 0x10;
	x[0] = 0x05;
	CHECK(reload_chord_in_range(a, x, b, 16), "wrapped interval");
	x[0] = 0x20;
	CHECK(!reload_chord_in_range(a, x, b, 16), "outside wrapped interval");
	CHECK(reload_chord_in_range(a, b, b, 16), "upper bound included");
	CHECK(!reload_chord_in_range(a, a, b, 16), "lower bound excluded");
	reload_chord_init(&c, &self, 3, 16);
	CHECK(reload_chord_responsible(&c, x), "alone: responsible for everything");
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(sizes); i++) {
		double full = ring(sizes[i], false);
		double cut = sizes[i] >= 8 ? ring(sizes[i], true) : 0;

		printf("peers %zu: mean hops %.2f (after a quarter failed: %.2f)\n", sizes[i], full,
		       cut);
	}
	printf("%s\n", failures ? "FAILED" : "PASS");
	return failures ? 1 : 0;
}
