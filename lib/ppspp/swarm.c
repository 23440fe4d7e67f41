/* RFC 7574 §5.1, §5.6: a swarm of static content identified by its Merkle root hash; the chunk
 * count is learnt from verified peak hashes (automatic content size detection). */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

PCDN_LOG_COMPONENT(ppspp_swarm_log, "ppspp")

int ppspp_engine_swarm_add(struct ppspp_engine *e, struct ppspp_merkle *tree, uint8_t cam,
			   const struct ppspp_storage *storage)
{
	uint32_t si;

	if (!tree || ppspp_spec_size(cam) == 0)
		return -EINVAL;
	for (si = 0; si < e->cfg.max_swarms; si++)
		if (!e->swarms[si].used)
			break;
	if (si == e->cfg.max_swarms)
		return -ENOSPC;
	struct ppspp_swarm *s = &e->swarms[si];
	struct ppspp_chanset members = s->members;
	memset(s, 0, sizeof(*s));
	s->members = members;
	ppspp_chanset_clear(&s->members);
	s->tree = tree;
	if (storage)
		s->st = *storage;
	s->cam = cam;
	s->hash_fn = ppspp_merkle_hash_fn(tree);
	s->hash_len = (uint8_t)ppspp_merkle_hash_len(tree);
	s->chunk_size = ppspp_merkle_chunk_size(tree);
	ppspp_merkle_root(tree, s->root);
	s->empty = true;
	for (unsigned i = 0; i < s->hash_len; i++)
		if (s->root[i])
			s->empty = false;
	s->used = true;
	if (ppspp_merkle_chunk_count(tree) > 0 || s->empty) {
		int rc = ppspp_swarm_learn_count(e, (int)si);
		if (rc < 0) {
			ppspp_swarm_free(s);
			return rc;
		}
	}
	return (int)si;
}

/* Called once the tree knows the chunk count: allocates the per-chunk state, imports what the
 * tree already verified (a resumed download or a seeder) and lets storage reserve its space. */
int ppspp_swarm_learn_count(struct ppspp_engine *e, int si)
{
	struct ppspp_swarm *s = &e->swarms[si];
	uint64_t n = ppspp_merkle_chunk_count(s->tree);
	int rc;

	if (s->count || s->have.w)
		return 0;
	if ((rc = ppspp_bitmap_alloc(&s->have, n)) < 0)
		return rc;
	if ((rc = ppspp_bitmap_alloc(&s->taken, n)) < 0)
		goto fail;
	if ((rc = ppspp_bitmap_alloc(&s->retried, n)) < 0)
		goto fail;
	s->owner = calloc(n ? n : 1, sizeof(*s->owner));
	s->req_pos = calloc(n ? n : 1, sizeof(*s->req_pos));
	if (!s->owner || !s->req_pos) {
		rc = -ENOMEM;
		goto fail;
	}
	s->count = n;
	s->verified = 0;
	for (uint64_t c = 0; c < n; c++) {
		if (ppspp_merkle_chunk_verified(s->tree, c)) {
			ppspp_bitmap_set(&s->have, c);
			ppspp_bitmap_set(&s->taken, c);
			s->verified++;
		}
	}
	s->cursor = ppspp_bitmap_next_clear(&s->taken, 0);
	s->prefix = ppspp_bitmap_next_clear(&s->have, 0);
	if (s->st.prepare) {
		rc = s->st.prepare(s->st.ctx, n, s->chunk_size);
		if (rc < 0) {
			e->ctr.storage_errors++;
			s->failed = true;
			PCDN_LOG(ppspp_swarm_log, ERR, "swarm %d: storage prepare: %s", si,
				 pcdn_strerror(rc));
			if (e->ev.error)
				e->ev.error(e->ev.ctx, si, rc);
		}
	}
	s->repick = true; /* every channel of the swarm may pick now */
	PCDN_LOG(ppspp_swarm_log, INFO, "swarm %d: %llu chunks of %u bytes, %llu verified", si,
		 (unsigned long long)n, s->chunk_size, (unsigned long long)s->verified);
	return 0;
fail:
	ppspp_swarm_free(s);
	s->used = true;
	return rc;
}

void ppspp_swarm_free(struct ppspp_swarm *s)
{
	ppspp_bitmap_free(&s->have);
	ppspp_bitmap_free(&s->taken);
	ppspp_bitmap_free(&s->retried);
	free(s->owner);
	s->owner = NULL;
	free(s->req_pos);
	s->req_pos = NULL;
	s->count = 0;
	s->used = false;
}

void ppspp_engine_swarm_progress(const struct ppspp_engine *e, int swarm, uint64_t *verified,
				 uint64_t *count)
{
	const struct ppspp_swarm *s = &e->swarms[swarm];

	if (verified)
		*verified = s->verified;
	if (count)
		*count = s->count;
}

bool ppspp_engine_swarm_complete(const struct ppspp_engine *e, int swarm)
{
	const struct ppspp_swarm *s = &e->swarms[swarm];

	if (swarm < 0 || (uint32_t)swarm >= e->cfg.max_swarms || !s->used)
		return false;
	return s->empty || (s->have.w && s->verified == s->count);
}
