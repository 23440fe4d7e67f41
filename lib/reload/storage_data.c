/* RFC 6940 §7: StoredData and StoredDataValue (§7.2: SINGLE, ARRAY, DICTIONARY), signatures
 * over stored values (§7.1), access control policies (§7.3) and the storage rules of one Kind at
 * one Resource-ID (§7.4.1.1 storage_time, generation counters, max-count/max-size, lifetimes;
 * §7.4.2.2 synthesised nonexistent values; §7.4.3.2 metadata). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "codec_internal.h"
#include "reload.h"

/* ---- codec ---------------------------------------------------------------------------------- */

int reload_stored_data_value_encode(const struct reload_stored_data_value *v,
				    struct reload_buf *out)
{
	switch (v->model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		reload_buf_put_u32(out, v->index);
		break;
	case RELOAD_MODEL_DICTIONARY:
		wr_opaque(out, 2, v->key.data, v->key.len);
		break;
	default:
		return reload_buf_put(out, v->raw.data, v->raw.len);
	}
	reload_buf_put_u8(out, v->value.exists ? 1 : 0);
	return wr_opaque(out, 4, v->value.value.data, v->value.value.len);
}

int reload_stored_data_encode(const struct reload_stored_data *sd, struct reload_buf *out)
{
	struct wr_len l = wr_len_begin(out, 4);

	reload_buf_put_u64(out, sd->storage_time);
	reload_buf_put_u32(out, sd->lifetime);
	reload_stored_data_value_encode(&sd->value, out);
	/* UNKNOWN model: raw already holds value and signature as received */
	if (sd->value.model >= RELOAD_MODEL_SINGLE && sd->value.model <= RELOAD_MODEL_DICTIONARY)
		reload_signature_encode(&sd->signature, out);
	return wr_len_end(out, l);
}

int reload_stored_data_decode(const uint8_t *buf, size_t len, uint8_t model, struct reload_arena *a,
			      struct reload_stored_data *sd, size_t *used)
{
	struct rd r, s;
	size_t sig_used;

	memset(sd, 0, sizeof(*sd));
	rd_init(&r, buf, len);
	if (!rd_vec(&r, 4, &s))
		return -EBADMSG;
	sd->storage_time = rd_u64(&s);
	sd->lifetime = rd_u32(&s);
	sd->value.model = model;
	switch (model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		sd->value.index = rd_u32(&s);
		break;
	case RELOAD_MODEL_DICTIONARY:
		rd_opaque(&s, 2, a, &sd->value.key);
		break;
	default:
		/* unknown Kind: keep value and signature undivided, the length bounds them */
		if (s.bad)
			return -EBADMSG;
		sd->value.raw.data = reload_arena_memdup(a, s.p + s.off, s.len - s.off);
		sd->value.raw.len = s.len - s.off;
		if (used)
			*used = r.off;
		return 0;
	}
	rd_bool(&s, &sd->value.value.exists);
	rd_opaque(&s, 4, a, &sd->value.value.value);
	if (s.bad)
		return -EBADMSG;
	if (reload_signature_decode(s.p + s.off, s.len - s.off, a, &sd->signature, &sig_used))
		return -EBADMSG;
	s.off += sig_used;
	if (!rd_done(&s))
		return -EBADMSG;
	if (used)
		*used = r.off;
	return 0;
}

/* ---- signatures (§7.1) ------------------------------------------------------------------- */

/* resource_id || kind || storage_time || StoredDataValue; the signer appends SignerIdentity.
 * The array index is signed as 0 (§7.4.2.2) so appended entries verify after the storing
 * peer assigned their index. */
static int sd_sig_input(const struct reload_stored_data *sd, const struct reload_resource_id *res,
			uint32_t kind, struct reload_buf *b)
{
	struct reload_stored_data_value v = sd->value;

	if (v.model < RELOAD_MODEL_SINGLE || v.model > RELOAD_MODEL_DICTIONARY)
		return -EINVAL;
	if (v.model == RELOAD_MODEL_ARRAY)
		v.index = 0;
	reload_buf_put(b, res->id, res->len);
	reload_buf_put_u32(b, kind);
	reload_buf_put_u64(b, sd->storage_time);
	return reload_stored_data_value_encode(&v, b);
}

int reload_stored_data_sign(const struct reload_signer *s, const struct reload_resource_id *res,
			    uint32_t kind, struct reload_stored_data *sd, struct reload_arena *a)
{
	struct reload_buf b;
	struct reload_bytes part;
	int rc;

	reload_buf_init(&b);
	rc = sd_sig_input(sd, res, kind, &b);
	if (!rc) {
		part.data = b.data;
		part.len = b.len;
		rc = reload_signer_sign(s, &part, 1, a, &sd->signature);
	}
	reload_buf_free(&b);
	return rc;
}

int reload_stored_data_verify(const struct reload_stored_data *sd,
			      const struct reload_resource_id *res, uint32_t kind,
			      const struct reload_generic_cert *certs, size_t cert_count,
			      const struct reload_trust *t, time_t now, struct reload_peer *signer)
{
	struct reload_buf b;
	struct reload_bytes part;
	int rc;

	/* §7.4.1.1: only synthesised values may carry the anonymous identity */
	if (sd->signature.identity.type == RELOAD_ID_NONE ||
	    (sd->signature.hash_alg == RELOAD_HASH_NONE &&
	     sd->signature.sig_alg == RELOAD_SIG_ANONYMOUS))
		return -EACCES;
	reload_buf_init(&b);
	rc = sd_sig_input(sd, res, kind, &b);
	if (rc) {
		reload_buf_free(&b);
		return -EACCES;
	}
	part.data = b.data;
	part.len = b.len;
	rc = reload_sig_verify_parts(&sd->signature, &part, 1, certs, cert_count, t, now, signer);
	reload_buf_free(&b);
	return rc;
}

/* ---- access control (§7.3) ---------------------------------------------------------------- */

static const char *const policy_names[] = {
    [RELOAD_ACCESS_USER_MATCH] = "USER-MATCH",
    [RELOAD_ACCESS_NODE_MATCH] = "NODE-MATCH",
    [RELOAD_ACCESS_USER_NODE_MATCH] = "USER-NODE-MATCH",
    [RELOAD_ACCESS_NODE_MULTIPLE] = "NODE-MULTIPLE",
};

const char *reload_access_policy_name(uint8_t policy)
{
	if (policy == RELOAD_ACCESS_PCDN_NODE_ANY)
		return "PCDN-NODE-ANY";
	if (policy < PCDN_ARRAY_SIZE(policy_names) && policy_names[policy])
		return policy_names[policy];
	return "UNKNOWN";
}

int reload_access_policy_parse(const char *s)
{
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(policy_names); i++)
		if (policy_names[i] && strcmp(policy_names[i], s) == 0)
			return (int)i;
	if (strcmp(s, "PCDN-NODE-ANY") == 0)
		return RELOAD_ACCESS_PCDN_NODE_ANY;
	return -EINVAL;
}

const char *reload_data_model_name(uint8_t model)
{
	switch (model) {
	case RELOAD_MODEL_SINGLE:
		return "SINGLE";
	case RELOAD_MODEL_ARRAY:
		return "ARRAY";
	case RELOAD_MODEL_DICTIONARY:
		return "DICTIONARY";
	default:
		return "UNKNOWN";
	}
}

int reload_data_model_parse(const char *s)
{
	if (strcmp(s, "SINGLE") == 0)
		return RELOAD_MODEL_SINGLE;
	if (strcmp(s, "ARRAY") == 0)
		return RELOAD_MODEL_ARRAY;
	if (strcmp(s, "DICTIONARY") == 0)
		return RELOAD_MODEL_DICTIONARY;
	return -EINVAL;
}

static bool hash_matches(const void *data, size_t len, const struct reload_resource_id *res)
{
	struct reload_resource_id h;

	if (res->len == 0 || res->len > SHA_DIGEST_LENGTH)
		return false;
	reload_resource_id_hash(data, len, res->len, &h);
	return memcmp(h.id, res->id, res->len) == 0;
}

/* The Node-ID the signer used must be one its certificate carries. */
static bool signer_owns_node_id(const struct reload_peer *p)
{
	for (size_t i = 0; i < p->ident.node_id_count; i++)
		if (reload_node_id_equal(&p->ident.node_ids[i], &p->node_id))
			return true;
	return false;
}

int reload_access_check(const struct reload_kind_def *k, const struct reload_resource_id *res,
			const struct reload_stored_data_value *v, const struct reload_peer *signer)
{
	const char *user = signer->ident.user;
	uint8_t buf[RELOAD_NODE_ID_MAX + 4];

	switch (k->policy) {
	case RELOAD_ACCESS_USER_MATCH:
		if (user[0] && hash_matches(user, strlen(user), res))
			return 0;
		return -EACCES;
	case RELOAD_ACCESS_NODE_MATCH:
		if (signer_owns_node_id(signer) &&
		    hash_matches(signer->node_id.id, signer->node_id.len, res))
			return 0;
		return -EACCES;
	case RELOAD_ACCESS_USER_NODE_MATCH:
		if (k->model != RELOAD_MODEL_DICTIONARY || v->model != RELOAD_MODEL_DICTIONARY)
			return -EACCES;
		if (!user[0] || !hash_matches(user, strlen(user), res) ||
		    !signer_owns_node_id(signer))
			return -EACCES;
		if (v->key.len != signer->node_id.len ||
		    memcmp(v->key.data, signer->node_id.id, v->key.len) != 0)
			return -EACCES;
		return 0;
	case RELOAD_ACCESS_NODE_MULTIPLE:
		if (!signer_owns_node_id(signer))
			return -EACCES;
		memcpy(buf, signer->node_id.id, signer->node_id.len);
		for (uint32_t i = 1; i <= k->max_node_multiple; i++) {
			pcdn_put_be32(buf + signer->node_id.len, i);
			if (hash_matches(buf, signer->node_id.len + 4u, res))
				return 0;
		}
		return -EACCES;
	case RELOAD_ACCESS_PCDN_NODE_ANY:
		return signer_owns_node_id(signer) ? 0 : -EACCES;
	default:
		return -EACCES;
	}
}

/* ---- one Kind at one Resource-ID -------------------------------------------------------- */

struct ks_entry {
	bool used; /* false: a gap in an array */
	uint64_t received_ms;
	struct reload_stored_data sd; /* bytes point into blob */
	uint8_t *blob;
};

struct reload_kind_store {
	struct reload_kind_def kind;
	uint64_t generation;
	struct ks_entry *e; /* SINGLE: e[0]; ARRAY: by index; DICTIONARY: unordered */
	size_t n;
	size_t cap;
};

struct reload_kind_store *reload_kind_store_new(const struct reload_kind_def *kind)
{
	struct reload_kind_store *ks = calloc(1, sizeof(*ks));

	if (!ks) {
		errno = ENOMEM;
		return NULL;
	}
	ks->kind = *kind;
	return ks;
}

static void entry_clear(struct ks_entry *e)
{
	free(e->blob);
	memset(e, 0, sizeof(*e));
}

void reload_kind_store_free(struct reload_kind_store *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		entry_clear(&ks->e[i]);
	free(ks->e);
	free(ks);
}

/* Deep copy of a stored value into one allocation. */
static int entry_set(struct ks_entry *e, const struct reload_stored_data *sd, uint64_t now_ms)
{
	size_t total = sd->value.key.len + sd->value.value.value.len +
		       sd->signature.identity.hash.len + sd->signature.value.len;
	uint8_t *blob = malloc(total ? total : 1), *p = blob;

	if (!blob)
		return -ENOMEM;
	free(e->blob);
	e->blob = blob;
	e->used = true;
	e->received_ms = now_ms;
	e->sd = *sd;
#define COPY(field)                                                                                \
	do {                                                                                       \
		if (field.len)                                                                     \
			memcpy(p, field.data, field.len);                                          \
		field.data = p;                                                                    \
		p += field.len;                                                                    \
	} while (0)
	COPY(e->sd.value.key);
	COPY(e->sd.value.value.value);
	COPY(e->sd.signature.identity.hash);
	COPY(e->sd.signature.value);
#undef COPY
	e->sd.value.raw.data = NULL;
	e->sd.value.raw.len = 0;
	return 0;
}

static bool entry_live(const struct ks_entry *e, uint64_t now_ms)
{
	return e->used && now_ms < e->received_ms + (uint64_t)e->sd.lifetime * 1000u;
}

static int ks_reserve(struct reload_kind_store *ks, size_t n)
{
	struct ks_entry *ne;
	size_t nc;

	if (n <= ks->cap)
		return 0;
	nc = ks->cap ? ks->cap : 4;
	while (nc < n)
		nc *= 2;
	ne = realloc(ks->e, nc * sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	memset(ne + ks->cap, 0, (nc - ks->cap) * sizeof(*ne));
	ks->e = ne;
	ks->cap = nc;
	return 0;
}

static struct reload_kind_store *ks_clone(const struct reload_kind_store *ks)
{
	struct reload_kind_store *c = reload_kind_store_new(&ks->kind);

	if (!c)
		return NULL;
	c->generation = ks->generation;
	if (ks_reserve(c, ks->n))
		goto fail;
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->e[i].used && entry_set(&c->e[i], &ks->e[i].sd, ks->e[i].received_ms))
			goto fail;
		c->n = i + 1;
	}
	c->n = ks->n;
	return c;
fail:
	reload_kind_store_free(c);
	return NULL;
}

static size_t ks_live_count(const struct reload_kind_store *ks, uint64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < ks->n; i++)
		if (entry_live(&ks->e[i], now_ms))
			n++;
	return n;
}

/* Where sd goes; creates the slot (array growth, new dictionary key). */
static int ks_slot(struct reload_kind_store *ks, const struct reload_stored_data *sd,
		   struct ks_entry **out)
{
	size_t idx;

	switch (ks->kind.model) {
	case RELOAD_MODEL_SINGLE:
		if (ks_reserve(ks, 1))
			return -ENOMEM;
		if (ks->n == 0)
			ks->n = 1;
		*out = &ks->e[0];
		return 0;
	case RELOAD_MODEL_ARRAY:
		idx = sd->value.index == RELOAD_ARRAY_APPEND ? ks->n : sd->value.index;
		/* a sparse array may not grow past max-count slots */
		if (idx >= ks->kind.max_count)
			return -EFBIG;
		if (ks_reserve(ks, idx + 1))
			return -ENOMEM;
		if (idx >= ks->n)
			ks->n = idx + 1;
		*out = &ks->e[idx];
		return 0;
	case RELOAD_MODEL_DICTIONARY:
		for (size_t i = 0; i < ks->n; i++)
			if (ks->e[i].used && ks->e[i].sd.value.key.len == sd->value.key.len &&
			    (sd->value.key.len == 0 ||
			     memcmp(ks->e[i].sd.value.key.data, sd->value.key.data,
				    sd->value.key.len) == 0)) {
				*out = &ks->e[i];
				return 0;
			}
		for (size_t i = 0; i < ks->n; i++)
			if (!ks->e[i].used) {
				*out = &ks->e[i];
				return 0;
			}
		if (ks_reserve(ks, ks->n + 1))
			return -ENOMEM;
		*out = &ks->e[ks->n++];
		return 0;
	default:
		return -EBADMSG;
	}
}

static int ks_apply_into(struct reload_kind_store *ks, const struct reload_store_kind_data *kd,
			 bool replica, uint64_t now_ms)
{
	bool changed = false;
	int rc;

	if (kd->kind != ks->kind.id)
		return -EINVAL;
	if (replica && kd->generation == 0)
		return -EBADMSG; /* §7.4.1.1: replica stores MUST NOT use generation 0 */
	if (!replica && kd->generation != 0 && kd->generation != ks->generation)
		return -ESTALE;
	for (size_t i = 0; i < kd->value_count; i++) {
		const struct reload_stored_data *sd = &kd->values[i];
		struct ks_entry *e;

		if (sd->value.model != ks->kind.model)
			return -EBADMSG;
		if (sd->signature.identity.type == RELOAD_ID_NONE ||
		    (sd->signature.hash_alg == RELOAD_HASH_NONE &&
		     sd->signature.sig_alg == RELOAD_SIG_ANONYMOUS))
			return -EACCES;
		if (sd->value.value.value.len > ks->kind.max_size)
			return -EFBIG;
		if ((rc = ks_slot(ks, sd, &e)))
			return rc;
		/* §7.4.1.1: a value may only be replaced by one at least as new (equal times are
		 * the same write arriving again, e.g. as a replica) */
		if (entry_live(e, now_ms) && sd->storage_time < e->sd.storage_time)
			return -ETIME;
		if ((rc = entry_set(e, sd, now_ms)))
			return rc;
		if (ks->kind.model == RELOAD_MODEL_ARRAY)
			e->sd.value.index = (uint32_t)(e - ks->e);
		changed = true;
	}
	if (ks_live_count(ks, now_ms) > ks->kind.max_count)
		return -EFBIG;
	if (replica)
		ks->generation = kd->generation;
	else if (changed)
		ks->generation++;
	return 0;
}

int reload_kind_store_check(const struct reload_kind_store *ks,
			    const struct reload_store_kind_data *kd, bool replica, uint64_t now_ms)
{
	struct reload_kind_store *c = ks_clone(ks);
	int rc;

	if (!c)
		return -ENOMEM;
	rc = ks_apply_into(c, kd, replica, now_ms);
	reload_kind_store_free(c);
	return rc;
}

int reload_kind_store_apply(struct reload_kind_store *ks, const struct reload_store_kind_data *kd,
			    bool replica, uint64_t now_ms, uint64_t *generation)
{
	struct reload_kind_store *c = ks_clone(ks);
	struct reload_kind_store tmp;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = ks_apply_into(c, kd, replica, now_ms);
	if (!rc) {
		tmp = *ks;
		*ks = *c;
		*c = tmp;
		if (generation)
			*generation = ks->generation;
	}
	reload_kind_store_free(c);
	return rc;
}

/* §7.4.2.2: a value the storing node knows nothing of, with the anonymous signature. */
static void synth_nonexistent(struct reload_stored_data *sd, uint8_t model, uint32_t index,
			      const struct reload_bytes *key)
{
	memset(sd, 0, sizeof(*sd));
	sd->value.model = model;
	sd->value.index = index;
	if (key)
		sd->value.key = *key;
	sd->signature.identity.type = RELOAD_ID_NONE;
}

static const struct ks_entry *dict_find(const struct reload_kind_store *ks,
					const struct reload_bytes *key, uint64_t now_ms)
{
	for (size_t i = 0; i < ks->n; i++)
		if (entry_live(&ks->e[i], now_ms) && ks->e[i].sd.value.key.len == key->len &&
		    (key->len == 0 || memcmp(ks->e[i].sd.value.key.data, key->data, key->len) == 0))
			return &ks->e[i];
	return NULL;
}

/* Collects the StoredData a specifier selects (pointers into the store or synthesised into
 * the arena); the caller copies what it needs. */
static int ks_select(const struct reload_kind_store *ks,
		     const struct reload_stored_data_specifier *spec, uint64_t now_ms,
		     struct reload_arena *a, struct reload_stored_data **out, size_t *count)
{
	size_t n = 0, cap = 0;
	struct reload_stored_data *v = NULL;

	*out = NULL;
	*count = 0;
	if (spec->kind != ks->kind.id)
		return -EINVAL;
	if (spec->generation != 0 && spec->generation == ks->generation)
		return 0;
	/* upper bound of what can be returned, for one allocation */
	switch (ks->kind.model) {
	case RELOAD_MODEL_SINGLE:
		cap = 1;
		break;
	case RELOAD_MODEL_ARRAY:
		if (spec->index_count == 0) {
			cap = ks->n;
		} else {
			for (size_t i = 0; i < spec->index_count; i++) {
				uint32_t first = spec->indices[i].first;
				uint32_t last = spec->indices[i].last;

				if (ks->n == 0 || first >= ks->n)
					continue;
				if (last >= ks->n)
					last = (uint32_t)ks->n - 1;
				cap += (size_t)(last - first) + 1;
			}
		}
		break;
	case RELOAD_MODEL_DICTIONARY:
		cap = spec->key_count ? spec->key_count : ks->n;
		break;
	default:
		return -EBADMSG;
	}
	if (cap) {
		v = reload_arena_alloc(a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	switch (ks->kind.model) {
	case RELOAD_MODEL_SINGLE:
		if (ks->n && entry_live(&ks->e[0], now_ms))
			v[n++] = ks->e[0].sd;
		else
			synth_nonexistent(&v[n++], RELOAD_MODEL_SINGLE, 0, NULL);
		break;
	case RELOAD_MODEL_ARRAY:
		for (size_t r = 0; r < (spec->index_count ? spec->index_count : 1); r++) {
			uint32_t first = spec->index_count ? spec->indices[r].first : 0;
			uint32_t last = spec->index_count ? spec->indices[r].last : UINT32_MAX;

			if (ks->n == 0 || first >= ks->n)
				continue;
			if (last >= ks->n)
				last = (uint32_t)ks->n - 1;
			for (uint64_t i = first; i <= last && n < cap; i++) {
				if (entry_live(&ks->e[i], now_ms))
					v[n++] = ks->e[i].sd;
				else
					synth_nonexistent(&v[n++], RELOAD_MODEL_ARRAY, (uint32_t)i,
							  NULL);
			}
		}
		break;
	case RELOAD_MODEL_DICTIONARY:
		if (spec->key_count) {
			for (size_t i = 0; i < spec->key_count; i++) {
				const struct ks_entry *e = dict_find(ks, &spec->keys[i], now_ms);

				if (e)
					v[n++] = e->sd;
				else
					synth_nonexistent(&v[n++], RELOAD_MODEL_DICTIONARY, 0,
							  &spec->keys[i]);
			}
		} else {
			for (size_t i = 0; i < ks->n; i++)
				if (entry_live(&ks->e[i], now_ms))
					v[n++] = ks->e[i].sd;
		}
		break;
	default:
		break;
	}
	*out = v;
	*count = n;
	return 0;
}

/* Copies a value's bytes into the arena so the answer outlives changes to the store. */
static int sd_copy_to_arena(struct reload_stored_data *sd, struct reload_arena *a)
{
	struct reload_bytes *f[] = {&sd->value.key, &sd->value.value.value,
				    &sd->signature.identity.hash, &sd->signature.value};

	for (size_t i = 0; i < PCDN_ARRAY_SIZE(f); i++) {
		if (!f[i]->len)
			continue;
		f[i]->data = reload_arena_memdup(a, f[i]->data, f[i]->len);
		if (!f[i]->data)
			return -ENOMEM;
	}
	return 0;
}

int reload_kind_store_fetch(const struct reload_kind_store *ks,
			    const struct reload_stored_data_specifier *spec, uint64_t now_ms,
			    struct reload_arena *a, struct reload_fetch_kind_response *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = ks->kind.id;
	out->generation = ks->generation;
	if ((rc = ks_select(ks, spec, now_ms, a, &out->values, &out->value_count)))
		return rc;
	for (size_t i = 0; i < out->value_count; i++) {
		if ((rc = sd_copy_to_arena(&out->values[i], a)))
			return rc;
	}
	return 0;
}

int reload_kind_store_stat(const struct reload_kind_store *ks,
			   const struct reload_stored_data_specifier *spec, uint64_t now_ms,
			   struct reload_arena *a, struct reload_stat_kind_response *out)
{
	struct reload_stored_data *v;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = ks->kind.id;
	out->generation = ks->generation;
	if ((rc = ks_select(ks, spec, now_ms, a, &v, &n)))
		return rc;
	if (!n)
		return 0;
	out->values = reload_arena_alloc(a, n * sizeof(*out->values));
	if (!out->values)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct reload_stored_meta_data *m = &out->values[i];
		struct reload_buf b;
		uint8_t *h;

		reload_buf_init(&b);
		m->storage_time = v[i].storage_time;
		m->lifetime = v[i].lifetime;
		m->model = v[i].value.model;
		m->index = v[i].value.index;
		m->key.data = reload_arena_memdup(a, v[i].value.key.data, v[i].value.key.len);
		m->key.len = v[i].value.key.len;
		m->meta.exists = v[i].value.value.exists;
		m->meta.value_length = (uint32_t)v[i].value.value.value.len;
		m->meta.hash_alg = RELOAD_HASH_SHA256;
		/* §7.4.3.2: digest of the value including its 4 leading length bytes */
		wr_opaque(&b, 4, v[i].value.value.value.data, v[i].value.value.value.len);
		h = reload_arena_alloc(a, SHA256_DIGEST_LENGTH);
		if (!h || reload_buf_error(&b) || (m->key.len && !m->key.data)) {
			reload_buf_free(&b);
			return -ENOMEM;
		}
		SHA256(b.data, b.len, h);
		m->meta.hash_value.data = h;
		m->meta.hash_value.len = SHA256_DIGEST_LENGTH;
		reload_buf_free(&b);
	}
	out->value_count = n;
	return 0;
}

int reload_kind_store_export(const struct reload_kind_store *ks, uint64_t now_ms,
			     struct reload_arena *a, struct reload_store_kind_data *out)
{
	size_t n = ks_live_count(ks, now_ms), j = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = ks->kind.id;
	out->generation = ks->generation;
	if (!n)
		return 0;
	out->values = reload_arena_alloc(a, n * sizeof(*out->values));
	if (!out->values)
		return -ENOMEM;
	for (size_t i = 0; i < ks->n; i++) {
		const struct ks_entry *e = &ks->e[i];
		uint64_t held_s;

		if (!entry_live(e, now_ms))
			continue;
		out->values[j] = e->sd;
		/* §7.4.1.1: lifetime reduced by the time the value was held here */
		held_s = (now_ms - e->received_ms) / 1000u;
		out->values[j].lifetime = (uint32_t)(e->sd.lifetime - held_s);
		if ((rc = sd_copy_to_arena(&out->values[j], a)))
			return rc;
		j++;
	}
	out->value_count = j;
	return 0;
}

size_t reload_kind_store_expire(struct reload_kind_store *ks, uint64_t now_ms)
{
	size_t dropped = 0;

	for (size_t i = 0; i < ks->n; i++)
		if (ks->e[i].used && !entry_live(&ks->e[i], now_ms)) {
			entry_clear(&ks->e[i]);
			dropped++;
		}
	/* trailing gaps of an array (and an empty single value) carry nothing */
	while (ks->n && !ks->e[ks->n - 1].used)
		ks->n--;
	return dropped;
}

size_t reload_kind_store_count(const struct reload_kind_store *ks)
{
	size_t n = 0;

	for (size_t i = 0; i < ks->n; i++)
		if (ks->e[i].used)
			n++;
	return n;
}

uint64_t reload_kind_store_generation(const struct reload_kind_store *ks)
{
	return ks->generation;
}
