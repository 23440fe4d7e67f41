/* Baseline for the cache benchmark: liburcu's cds_lfht (QSBR flavour) holding the same keys,
 * looked up one at a time from one registered reader with a quiescent state every burst, the
 * way a worker would use it. Sized for the key count up front (no resize during the run). */
#include <stdlib.h>

#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "bench.h"
#include "cache.h"

struct lfht_node {
	struct cds_lfht_node node;
	struct cache_key key;
	uint32_t value;
};

static uint64_t key_hash(const struct cache_key *k)
{
	uint64_t h = (k->swarm * 0x9e3779b97f4a7c15ull) ^ k->chunk;

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

static int match(struct cds_lfht_node *node, const void *key)
{
	const struct lfht_node *n = caa_container_of(node, struct lfht_node, node);
	const struct cache_key *k = key;

	return n->key.swarm == k->swarm && n->key.chunk == k->chunk;
}

struct bench_rate bench_lfht_lookups(const struct bench_keyset *ks)
{
	unsigned long size = 1;
	struct cds_lfht *ht;
	struct lfht_node *nodes;
	uint64_t found = 0, done = 0, pos = 0;
	double t0, t1, c0, c1;
	struct bench_rate fail = { -1, -1 };

	while (size < ks->nkeys)
		size <<= 1;
	nodes = calloc(ks->nkeys, sizeof(*nodes));
	ht = cds_lfht_new_flavor(size, size, size, 0, &urcu_qsbr_flavor, NULL);
	if (!nodes || !ht) {
		free(nodes);
		return fail;
	}
	urcu_qsbr_register_thread();
	for (uint32_t i = 0; i < ks->nkeys; i++) {
		nodes[i].key = ks->keys[i];
		nodes[i].value = i;
		cds_lfht_node_init(&nodes[i].node);
		cds_lfht_add(ht, key_hash(&nodes[i].key), &nodes[i].node);
	}
	t0 = bench_now();
	c0 = bench_cpu_now();
	while (done < ks->lookups) {
		for (unsigned b = 0; b < ks->burst; b++) {
			const struct cache_key *k = &ks->stream[pos];
			struct cds_lfht_iter it;

			pos = pos + 1 == ks->nstream ? 0 : pos + 1;
			cds_lfht_lookup(ht, key_hash(k), match, k, &it);
			found += cds_lfht_iter_get_node(&it) != NULL;
		}
		done += ks->burst;
		urcu_qsbr_quiescent_state();
	}
	t1 = bench_now();
	c1 = bench_cpu_now();
	urcu_qsbr_thread_offline();
	for (uint32_t i = 0; i < ks->nkeys; i++)
		cds_lfht_del(ht, &nodes[i].node);
	cds_lfht_destroy(ht, NULL);
	urcu_qsbr_unregister_thread();
	free(nodes);
	if (found != done)
		return fail;
	return (struct bench_rate){ (double)done / (t1 - t0), (double)done / (c1 - c0) };
}
