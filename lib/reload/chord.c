/* RFC 6940 §10: CHORD-RELOAD routing state — neighbor table (predecessors and successors,
 * nearest first), finger table (entry i covers [self + 2^(bits-i), self + 2^(bits-i+1) - 1]),
 * responsibility and next-hop selection (§10.3). All arithmetic is modulo 2^bits on big-endian
 * byte strings of the overlay's Node-ID length. */
#include "reload_overlay.h"

#include <string.h>

static void id_sub(const uint8_t *a, const uint8_t *b, uint8_t *out, unsigned len)
{
	int borrow = 0;

	for (int i = (int)len - 1; i >= 0; i--) {
		int d = (int)a[i] - (int)b[i] - borrow;

		borrow = d < 0;
		out[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

static void id_add(const uint8_t *a, const uint8_t *b, uint8_t *out, unsigned len)
{
	unsigned carry = 0;

	for (int i = (int)len - 1; i >= 0; i--) {
		unsigned s = (unsigned)a[i] + b[i] + carry;

		out[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

/* 2^bit as a big-endian number of len bytes (bit < 8*len). */
static void id_pow2(unsigned bit, uint8_t *out, unsigned len)
{
	memset(out, 0, len);
	out[len - 1 - bit / 8] = (uint8_t)(1u << (bit % 8));
}

/* Clockwise distance from a to b. */
static void id_dist(const uint8_t *a, const uint8_t *b, uint8_t *out, unsigned len)
{
	id_sub(b, a, out, len);
}

static int dist_cmp(const uint8_t *from, const uint8_t *x, const uint8_t *y, unsigned len)
{
	uint8_t dx[RELOAD_NODE_ID_MAX], dy[RELOAD_NODE_ID_MAX];

	id_dist(from, x, dx, len);
	id_dist(from, y, dy, len);
	return memcmp(dx, dy, len);
}

bool reload_chord_in_range(const uint8_t *a, const uint8_t *x, const uint8_t *b, unsigned len)
{
	uint8_t dx[RELOAD_NODE_ID_MAX], db[RELOAD_NODE_ID_MAX];
	static const uint8_t zero[RELOAD_NODE_ID_MAX];

	if (memcmp(a, b, len) == 0)
		return true;
	id_dist(a, x, dx, len);
	id_dist(a, b, db, len);
	return memcmp(dx, zero, len) != 0 && memcmp(dx, db, len) <= 0;
}

void reload_chord_init(struct reload_chord *c, const struct reload_node_id *self,
		       unsigned neighbor_target, unsigned finger_count)
{
	memset(c, 0, sizeof(*c));
	c->self = *self;
	c->id_len = self->len;
	c->neighbor_target = PCDN_MIN(PCDN_MAX(neighbor_target, 3u), RELOAD_CHORD_MAX_NEIGHBORS);
	c->finger_count = PCDN_MIN(PCDN_MAX(finger_count, 1u),
				   PCDN_MIN((unsigned)RELOAD_CHORD_MAX_FINGERS, self->len * 8u));
}

bool reload_chord_responsible(const struct reload_chord *c, const uint8_t *id)
{
	if (c->npred == 0)
		return true; /* alone in the ring */
	return reload_chord_in_range(c->preds[0].id, id, c->self.id, c->id_len);
}

static bool list_has(const struct reload_node_id *l, size_t n, const struct reload_node_id *p)
{
	for (size_t i = 0; i < n; i++)
		if (reload_node_id_equal(&l[i], p))
			return true;
	return false;
}

bool reload_chord_is_neighbor(const struct reload_chord *c, const struct reload_node_id *peer)
{
	return list_has(c->succs, c->nsucc, peer) || list_has(c->preds, c->npred, peer);
}

bool reload_chord_contains(const struct reload_chord *c, const struct reload_node_id *peer)
{
	if (reload_chord_is_neighbor(c, peer))
		return true;
	for (unsigned i = 0; i < c->finger_count; i++)
		if ((c->finger_set[i] && reload_node_id_equal(&c->fingers[i], peer)) ||
		    (c->finger_hi_set[i] && reload_node_id_equal(&c->fingers_hi[i], peer)))
			return true;
	return false;
}

/* Would p enter a list ordered by distance (succ: self->p; pred: p->self)? */
static bool list_wants(const struct reload_chord *c, const struct reload_node_id *l, size_t n,
		       const struct reload_node_id *p, bool succ)
{
	if (list_has(l, n, p))
		return false;
	if (n < c->neighbor_target)
		return true;
	if (succ)
		return dist_cmp(c->self.id, p->id, l[n - 1].id, c->id_len) < 0;
	/* predecessors: nearer means smaller distance from p to self */
	uint8_t dp[RELOAD_NODE_ID_MAX], dl[RELOAD_NODE_ID_MAX];

	id_dist(p->id, c->self.id, dp, c->id_len);
	id_dist(l[n - 1].id, c->self.id, dl, c->id_len);
	return memcmp(dp, dl, c->id_len) < 0;
}

bool reload_chord_wants_neighbor(const struct reload_chord *c, const struct reload_node_id *peer)
{
	if (peer->len != c->id_len || reload_node_id_equal(peer, &c->self))
		return false;
	return list_wants(c, c->succs, c->nsucc, peer, true) ||
	       list_wants(c, c->preds, c->npred, peer, false);
}

static void list_insert(struct reload_chord *c, struct reload_node_id *l, size_t *n,
			const struct reload_node_id *p, bool succ)
{
	size_t pos = 0;

	if (!list_wants(c, l, *n, p, succ))
		return;
	for (pos = 0; pos < *n; pos++) {
		bool before;

		if (succ) {
			before = dist_cmp(c->self.id, p->id, l[pos].id, c->id_len) < 0;
		} else {
			uint8_t dp[RELOAD_NODE_ID_MAX], dl[RELOAD_NODE_ID_MAX];

			id_dist(p->id, c->self.id, dp, c->id_len);
			id_dist(l[pos].id, c->self.id, dl, c->id_len);
			before = memcmp(dp, dl, c->id_len) < 0;
		}
		if (before)
			break;
	}
	if (*n == c->neighbor_target)
		(*n)--;
	memmove(&l[pos + 1], &l[pos], (*n - pos) * sizeof(*l));
	l[pos] = *p;
	(*n)++;
}

static bool list_remove(struct reload_node_id *l, size_t *n, const struct reload_node_id *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (reload_node_id_equal(&l[i], p)) {
			memmove(&l[i], &l[i + 1], (*n - i - 1) * sizeof(*l));
			(*n)--;
			return true;
		}
	}
	return false;
}

static void finger_start(const struct reload_chord *c, unsigned i, uint8_t *out)
{
	uint8_t p[RELOAD_NODE_ID_MAX];

	id_pow2(c->id_len * 8 - i, p, c->id_len);
	id_add(c->self.id, p, out, c->id_len);
}

/* [start_i, start_{i-1}) with start_0 = self + 2^bits = self. */
static bool in_finger_range(const struct reload_chord *c, unsigned i, const uint8_t *x)
{
	uint8_t lo[RELOAD_NODE_ID_MAX], hi[RELOAD_NODE_ID_MAX], one[RELOAD_NODE_ID_MAX];
	uint8_t lo_m1[RELOAD_NODE_ID_MAX];

	finger_start(c, i, lo);
	if (i == 1)
		memcpy(hi, c->self.id, c->id_len);
	else
		finger_start(c, i - 1, hi);
	/* x in [lo, hi) == x in (lo - 1, hi - 1] */
	id_pow2(0, one, c->id_len);
	id_sub(lo, one, lo_m1, c->id_len);
	id_sub(hi, one, hi, c->id_len);
	return reload_chord_in_range(lo_m1, x, hi, c->id_len);
}

/* Start of the upper half of range i: self + 2^(bits-i) + 2^(bits-i-1); false if the range
 * holds a single point. */
static bool finger_mid(const struct reload_chord *c, unsigned i, uint8_t *out)
{
	uint8_t h[RELOAD_NODE_ID_MAX];

	if (c->id_len * 8 - i < 1)
		return false;
	finger_start(c, i, out);
	id_pow2(c->id_len * 8 - i - 1, h, c->id_len);
	id_add(out, h, out, c->id_len);
	return true;
}

static bool in_finger_hi_range(const struct reload_chord *c, unsigned i, const uint8_t *x)
{
	uint8_t lo[RELOAD_NODE_ID_MAX], hi[RELOAD_NODE_ID_MAX], one[RELOAD_NODE_ID_MAX];

	if (!finger_mid(c, i, lo))
		return false;
	if (i == 1)
		memcpy(hi, c->self.id, c->id_len);
	else
		finger_start(c, i - 1, hi);
	id_pow2(0, one, c->id_len);
	id_sub(lo, one, lo, c->id_len);
	id_sub(hi, one, hi, c->id_len);
	return reload_chord_in_range(lo, x, hi, c->id_len);
}

bool reload_chord_finger_hi_valid(const struct reload_chord *c, unsigned i)
{
	if (i < 1 || i > c->finger_count || !c->finger_hi_set[i - 1])
		return false;
	return in_finger_hi_range(c, i, c->fingers_hi[i - 1].id);
}

bool reload_chord_finger_hi_target(const struct reload_chord *c, unsigned i,
				   struct reload_resource_id *out)
{
	uint8_t mid[RELOAD_NODE_ID_MAX], r[RELOAD_NODE_ID_MAX] = { 0 };
	unsigned bits;

	if (i < 1 || i > c->finger_count || !finger_mid(c, i, mid))
		return false;
	bits = c->id_len * 8 - i - 1; /* the half holds 2^bits points */
	if (pcdn_random_bytes(r, c->id_len) < 0)
		return false;
	for (unsigned b = 0; b < c->id_len; b++) {
		unsigned bit_lo = (c->id_len - 1 - b) * 8;

		if (bit_lo >= bits)
			r[b] = 0;
		else if (bits - bit_lo < 8)
			r[b] &= (uint8_t)((1u << (bits - bit_lo)) - 1);
	}
	out->len = (uint8_t)c->id_len;
	id_add(mid, r, out->id, c->id_len);
	return true;
}

bool reload_chord_finger_covered(const struct reload_chord *c, unsigned i)
{
	uint8_t end[RELOAD_NODE_ID_MAX], one[RELOAD_NODE_ID_MAX];

	if (c->nsucc == 0 || i < 1 || i > c->finger_count)
		return false;
	if (i == 1)
		memcpy(end, c->self.id, c->id_len);
	else
		finger_start(c, i - 1, end);
	id_pow2(0, one, c->id_len);
	id_sub(end, one, end, c->id_len);
	return reload_chord_in_range(c->self.id, end, c->succs[c->nsucc - 1].id, c->id_len);
}

bool reload_chord_finger_valid(const struct reload_chord *c, unsigned i)
{
	if (i < 1 || i > c->finger_count || !c->finger_set[i - 1])
		return false;
	return in_finger_range(c, i, c->fingers[i - 1].id);
}

static void snapshot(const struct reload_chord *c, unsigned replicas, struct reload_node_id *pred0,
		     bool *have_pred, struct reload_node_id *reps, size_t *nrep)
{
	*have_pred = c->npred > 0;
	if (*have_pred)
		*pred0 = c->preds[0];
	*nrep = PCDN_MIN((size_t)replicas, c->nsucc);
	memcpy(reps, c->succs, *nrep * sizeof(*reps));
}

static unsigned diff_mask(const struct reload_chord *c, unsigned replicas,
			  const struct reload_node_id *pred0, bool had_pred,
			  const struct reload_node_id *reps, size_t nrep, bool neighbors_changed)
{
	unsigned m = neighbors_changed ? RELOAD_CHORD_NEIGHBORS_CHANGED : 0;
	size_t now_rep = PCDN_MIN((size_t)replicas, c->nsucc);

	if (had_pred != (c->npred > 0) || (had_pred && !reload_node_id_equal(pred0, &c->preds[0])))
		m |= RELOAD_CHORD_RANGE_CHANGED;
	if (now_rep != nrep || memcmp(reps, c->succs, nrep * sizeof(*reps)) != 0)
		m |= RELOAD_CHORD_REPLICAS_CHANGED;
	return m;
}

unsigned reload_chord_add(struct reload_chord *c, const struct reload_node_id *peer,
			  unsigned replicas)
{
	struct reload_node_id pred0, reps[RELOAD_CHORD_MAX_NEIGHBORS];
	bool had_pred, changed = false;
	size_t nrep, ns = c->nsucc, np = c->npred;
	unsigned m;
	struct reload_node_id olds[RELOAD_CHORD_MAX_NEIGHBORS], oldp[RELOAD_CHORD_MAX_NEIGHBORS];

	if (peer->len != c->id_len || reload_node_id_equal(peer, &c->self))
		return 0;
	snapshot(c, replicas, &pred0, &had_pred, reps, &nrep);
	memcpy(olds, c->succs, sizeof(olds));
	memcpy(oldp, c->preds, sizeof(oldp));
	list_insert(c, c->succs, &c->nsucc, peer, true);
	list_insert(c, c->preds, &c->npred, peer, false);
	changed = ns != c->nsucc || np != c->npred ||
		  memcmp(olds, c->succs, c->nsucc * sizeof(*olds)) != 0 ||
		  memcmp(oldp, c->preds, c->npred * sizeof(*oldp)) != 0;
	m = diff_mask(c, replicas, &pred0, had_pred, reps, nrep, changed);
	for (unsigned i = 1; i <= c->finger_count; i++) {
		uint8_t start[RELOAD_NODE_ID_MAX];

		if (!in_finger_range(c, i, peer->id))
			continue;
		finger_start(c, i, start);
		/* The best entry is the first peer at or after the start of the range. */
		if (!reload_chord_finger_valid(c, i) ||
		    dist_cmp(start, peer->id, c->fingers[i - 1].id, c->id_len) < 0) {
			c->fingers[i - 1] = *peer;
			c->finger_set[i - 1] = true;
			m |= RELOAD_CHORD_FINGERS_CHANGED;
		}
	}
	for (unsigned i = 1; i <= c->finger_count; i++) {
		uint8_t mid[RELOAD_NODE_ID_MAX];

		if (!in_finger_hi_range(c, i, peer->id) || !finger_mid(c, i, mid))
			continue;
		if (!reload_chord_finger_hi_valid(c, i) ||
		    dist_cmp(mid, peer->id, c->fingers_hi[i - 1].id, c->id_len) < 0) {
			c->fingers_hi[i - 1] = *peer;
			c->finger_hi_set[i - 1] = true;
			m |= RELOAD_CHORD_FINGERS_CHANGED;
		}
	}
	return m;
}

unsigned reload_chord_remove(struct reload_chord *c, const struct reload_node_id *peer,
			     unsigned replicas)
{
	struct reload_node_id pred0, reps[RELOAD_CHORD_MAX_NEIGHBORS];
	bool had_pred, changed;
	size_t nrep;
	unsigned m;

	snapshot(c, replicas, &pred0, &had_pred, reps, &nrep);
	changed = list_remove(c->succs, &c->nsucc, peer);
	changed |= list_remove(c->preds, &c->npred, peer);
	m = diff_mask(c, replicas, &pred0, had_pred, reps, nrep, changed);
	for (unsigned i = 0; i < c->finger_count; i++) {
		if (c->finger_set[i] && reload_node_id_equal(&c->fingers[i], peer)) {
			c->finger_set[i] = false;
			m |= RELOAD_CHORD_FINGERS_CHANGED;
		}
		if (c->finger_hi_set[i] && reload_node_id_equal(&c->fingers_hi[i], peer)) {
			c->finger_hi_set[i] = false;
			m |= RELOAD_CHORD_FINGERS_CHANGED;
		}
	}
	return m;
}

bool reload_chord_next_hop(const struct reload_chord *c, const uint8_t *id,
			   struct reload_node_id *out)
{
	const struct reload_node_id *best_in = NULL, *best_after = NULL;
	const struct reload_node_id *cands[2 * RELOAD_CHORD_MAX_NEIGHBORS + 2 * RELOAD_CHORD_MAX_FINGERS];
	size_t n = 0;

	/* The neighbor table says which neighbor is responsible for id when id falls between two
	 * adjacent entries: that neighbor is the destination the greedy rule below would reach one
	 * hop later, so the message goes there directly. */
	for (size_t i = 0; i < c->nsucc; i++) {
		const uint8_t *lo = i == 0 ? c->self.id : c->succs[i - 1].id;

		if (reload_chord_in_range(lo, id, c->succs[i].id, c->id_len)) {
			*out = c->succs[i];
			return true;
		}
	}
	for (size_t i = 0; i + 1 < c->npred; i++) {
		if (reload_chord_in_range(c->preds[i + 1].id, id, c->preds[i].id, c->id_len)) {
			*out = c->preds[i];
			return true;
		}
	}
	for (size_t i = 0; i < c->nsucc; i++)
		cands[n++] = &c->succs[i];
	for (size_t i = 0; i < c->npred; i++)
		cands[n++] = &c->preds[i];
	for (unsigned i = 0; i < c->finger_count; i++) {
		if (c->finger_set[i])
			cands[n++] = &c->fingers[i];
		if (c->finger_hi_set[i])
			cands[n++] = &c->fingers_hi[i];
	}
	for (size_t i = 0; i < n; i++) {
		const struct reload_node_id *p = cands[i];

		if (memcmp(p->id, id, c->id_len) == 0) {
			*out = *p; /* directly connected to the destination */
			return true;
		}
		if (reload_chord_in_range(c->self.id, p->id, id, c->id_len)) {
			/* largest Node-ID between this peer and id: the one nearest id */
			uint8_t dp[RELOAD_NODE_ID_MAX], db[RELOAD_NODE_ID_MAX];

			if (best_in) {
				id_dist(p->id, id, dp, c->id_len);
				id_dist(best_in->id, id, db, c->id_len);
			}
			if (!best_in || memcmp(dp, db, c->id_len) < 0)
				best_in = p;
		} else if (!best_after || dist_cmp(id, p->id, best_after->id, c->id_len) < 0) {
			best_after = p;
		}
	}
	if (best_in) {
		*out = *best_in;
		return true;
	}
	if (best_after) {
		*out = *best_after;
		return true;
	}
	return false;
}

void reload_chord_finger_target(const struct reload_chord *c, unsigned i, bool random,
				struct reload_resource_id *out)
{
	uint8_t start[RELOAD_NODE_ID_MAX];

	finger_start(c, i, start);
	out->len = (uint8_t)c->id_len;
	memcpy(out->id, start, c->id_len);
	if (random) {
		uint8_t r[RELOAD_NODE_ID_MAX] = { 0 };
		unsigned bits = c->id_len * 8 - i; /* the range holds 2^bits points */

		if (pcdn_random_bytes(r, c->id_len) < 0)
			return;
		for (unsigned b = 0; b < c->id_len; b++) {
			unsigned bit_lo = (c->id_len - 1 - b) * 8; /* lowest bit of byte b */

			if (bit_lo >= bits)
				r[b] = 0;
			else if (bits - bit_lo < 8)
				r[b] &= (uint8_t)((1u << (bits - bit_lo)) - 1);
		}
		id_add(start, r, out->id, c->id_len);
	}
}

void reload_chord_id_plus_one(const struct reload_node_id *n, struct reload_resource_id *out)
{
	uint8_t one[RELOAD_NODE_ID_MAX];

	id_pow2(0, one, n->len);
	out->len = n->len;
	id_add(n->id, one, out->id, n->len);
}

size_t reload_chord_finger_list(const struct reload_chord *c, struct reload_node_id *out,
				size_t max)
{
	size_t n = 0;

	for (unsigned k = 0; k < 2 * c->finger_count; k++) {
		unsigned i = k / 2;
		const struct reload_node_id *f = k % 2 ? &c->fingers_hi[i] : &c->fingers[i];
		bool set = k % 2 ? c->finger_hi_set[i] : c->finger_set[i];

		if (!set || list_has(out, n, f) || n == max)
			continue;
		size_t pos = n;

		while (pos > 0 && reload_node_id_cmp(&out[pos - 1], f) > 0) {
			out[pos] = out[pos - 1];
			pos--;
		}
		out[pos] = *f;
		n++;
	}
	return n;
}
