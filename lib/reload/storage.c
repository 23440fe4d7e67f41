/* RFC 6940 §7.4 and §10.4: the storage service of a peer. For each (Resource-ID, Kind) it keeps
 * a reload_kind_store (data model rules, generations, lifetimes) and the certificates of the
 * values' signers, which travel with replicas and Fetch answers so any node can verify them
 * (§6.3.4). Every stored value is verified (§7.1) and checked against its Kind's access control
 * policy (§7.3) before anything is applied. */
#include "overlay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#define ENTRY_MAX_CERTS 64

struct entry {
	struct entry *next;
	struct reload_resource_id res;
	uint32_t kind;
	struct reload_kind_store *ks;
	struct reload_bytes certs[ENTRY_MAX_CERTS]; /* malloc'd DER */
	size_t ncert;
};

struct reload_storage {
	const struct reload_overlay_config *cfg;
	const struct reload_trust *trust;
	struct entry *entries;
	size_t nentries;
};

struct reload_storage *storage_new(const struct reload_overlay_config *cfg,
				   const struct reload_trust *trust)
{
	struct reload_storage *st = calloc(1, sizeof(*st));

	if (!st) {
		errno = ENOMEM;
		return NULL;
	}
	st->cfg = cfg;
	st->trust = trust;
	return st;
}

static void entry_free(struct entry *e)
{
	reload_kind_store_free(e->ks);
	for (size_t i = 0; i < e->ncert; i++)
		free((void *)e->certs[i].data);
	free(e);
}

void storage_free(struct reload_storage *st)
{
	if (!st)
		return;
	while (st->entries) {
		struct entry *e = st->entries;

		st->entries = e->next;
		entry_free(e);
	}
	free(st);
}

static bool res_equal(const struct reload_resource_id *a, const struct reload_resource_id *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

static struct entry *find(const struct reload_storage *st, const struct reload_resource_id *res,
			  uint32_t kind)
{
	for (struct entry *e = st->entries; e; e = e->next)
		if (e->kind == kind && res_equal(&e->res, res))
			return e;
	return NULL;
}

static struct entry *get_or_create(struct reload_storage *st, const struct reload_resource_id *res,
				   const struct reload_kind_def *k)
{
	struct entry *e = find(st, res, k->id);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ks = reload_kind_store_new(k);
	if (!e->ks) {
		free(e);
		return NULL;
	}
	e->res = *res;
	e->kind = k->id;
	e->next = st->entries;
	st->entries = e;
	st->nentries++;
	return e;
}

static void entry_add_cert(struct entry *e, X509 *cert)
{
	unsigned char *der = NULL;
	int len;

	if (!cert)
		return;
	len = i2d_X509(cert, &der);
	if (len <= 0)
		return;
	for (size_t i = 0; i < e->ncert; i++) {
		if (e->certs[i].len == (size_t)len && memcmp(e->certs[i].data, der, (size_t)len) == 0) {
			OPENSSL_free(der);
			return;
		}
	}
	if (e->ncert == ENTRY_MAX_CERTS) {
		/* the oldest signer's certificate makes room (values it signed stay verifiable by
		 * whoever already holds it; the limit only bounds memory) */
		free((void *)e->certs[0].data);
		memmove(&e->certs[0], &e->certs[1], (ENTRY_MAX_CERTS - 1) * sizeof(e->certs[0]));
		e->ncert--;
	}
	uint8_t *copy = malloc((size_t)len);

	if (copy) {
		memcpy(copy, der, (size_t)len);
		e->certs[e->ncert].data = copy;
		e->certs[e->ncert].len = (size_t)len;
		e->ncert++;
	}
	OPENSSL_free(der);
}

int storage_store(struct reload_storage *st, const struct reload_store_req *req,
		  const struct reload_generic_cert *certs, size_t ncert, bool replica,
		  const struct reload_node_id *replicas, size_t nrep, uint64_t now_ms,
		  struct reload_arena *a, struct reload_store_ans *ans)
{
	time_t now_s = (time_t)(now_ms / 1000);
	X509 **signers;
	size_t nsigners = 0, total = 0;
	int rc = 0;

	memset(ans, 0, sizeof(*ans));
	for (size_t k = 0; k < req->kind_count; k++)
		total += req->kind_data[k].value_count;
	signers = calloc(total + 1, sizeof(*signers));
	if (!signers)
		return -ENOMEM;
	/* Check everything first: a StoreReq is applied whole or not at all. */
	for (size_t k = 0; k < req->kind_count && rc == 0; k++) {
		const struct reload_store_kind_data *kd = &req->kind_data[k];
		const struct reload_kind_def *def = reload_config_kind(st->cfg, kd->kind);
		struct entry *e;

		if (!def) {
			rc = -ENOSYS;
			break;
		}
		for (size_t v = 0; v < kd->value_count && rc == 0; v++) {
			struct reload_peer signer;

			memset(&signer, 0, sizeof(signer));
			rc = reload_stored_data_verify(&kd->values[v], &req->resource, kd->kind, certs,
						       ncert, st->trust, now_s, &signer);
			if (rc == 0)
				rc = reload_access_check(def, &req->resource, &kd->values[v].value,
							 &signer);
			if (rc == 0 && signer.cert) {
				signers[nsigners++] = signer.cert;
				signer.cert = NULL;
			}
			reload_peer_clear(&signer);
			if (rc < 0)
				rc = -EACCES;
		}
		if (rc < 0)
			break;
		e = find(st, &req->resource, kd->kind);
		if (e) {
			rc = reload_kind_store_check(e->ks, kd, replica, now_ms);
		} else {
			struct reload_kind_store *tmp = reload_kind_store_new(def);

			rc = tmp ? reload_kind_store_check(tmp, kd, replica, now_ms) : -ENOMEM;
			reload_kind_store_free(tmp);
		}
	}
	if (rc == 0) {
		ans->kinds = reload_arena_alloc(a, (req->kind_count + 1) * sizeof(*ans->kinds));
		if (!ans->kinds)
			rc = -ENOMEM;
	}
	for (size_t k = 0; k < req->kind_count && rc == 0; k++) {
		const struct reload_store_kind_data *kd = &req->kind_data[k];
		struct entry *e = get_or_create(st, &req->resource, reload_config_kind(st->cfg, kd->kind));
		struct reload_store_kind_response *r = &ans->kinds[ans->kind_count];
		uint64_t gen = 0;

		if (!e) {
			rc = -ENOMEM;
			break;
		}
		rc = reload_kind_store_apply(e->ks, kd, replica, now_ms, &gen);
		if (rc < 0)
			break;
		for (size_t i = 0; i < nsigners; i++)
			entry_add_cert(e, signers[i]);
		r->kind = kd->kind;
		r->generation = gen;
		r->replicas = (struct reload_node_id *)replicas;
		r->replica_count = nrep;
		ans->kind_count++;
	}
	for (size_t i = 0; i < nsigners; i++)
		X509_free(signers[i]);
	free(signers);
	return rc;
}

static int add_certs(struct reload_arena *a, const struct entry *e, struct reload_bytes **certs,
		     size_t *ncert, size_t *cap)
{
	for (size_t i = 0; i < e->ncert; i++) {
		bool dup = false;

		for (size_t j = 0; j < *ncert && !dup; j++)
			dup = (*certs)[j].len == e->certs[i].len &&
			      memcmp((*certs)[j].data, e->certs[i].data, e->certs[i].len) == 0;
		if (dup)
			continue;
		if (*ncert == *cap) {
			size_t ncap = *cap ? *cap * 2 : 8;
			struct reload_bytes *n = reload_arena_alloc(a, ncap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			if (*ncert)
				memcpy(n, *certs, *ncert * sizeof(*n));
			*certs = n;
			*cap = ncap;
		}
		(*certs)[(*ncert)++] = e->certs[i];
	}
	return 0;
}

int storage_fetch(struct reload_storage *st, const struct reload_fetch_req *req, uint64_t now_ms,
		  struct reload_arena *a, struct reload_fetch_ans *ans, struct reload_bytes **certs,
		  size_t *ncert)
{
	size_t cap = 0;
	int rc = 0;

	memset(ans, 0, sizeof(*ans));
	*certs = NULL;
	*ncert = 0;
	ans->kinds = reload_arena_alloc(a, (req->specifier_count + 1) * sizeof(*ans->kinds));
	if (!ans->kinds)
		return -ENOMEM;
	for (size_t i = 0; i < req->specifier_count && rc == 0; i++) {
		const struct reload_stored_data_specifier *sp = &req->specifiers[i];
		const struct reload_kind_def *def = reload_config_kind(st->cfg, sp->kind);
		struct entry *e;

		if (!def)
			return -ENOSYS;
		e = find(st, &req->resource, sp->kind);
		if (e) {
			rc = reload_kind_store_fetch(e->ks, sp, now_ms, a, &ans->kinds[i]);
			if (rc == 0)
				rc = add_certs(a, e, certs, ncert, &cap);
		} else {
			struct reload_kind_store *tmp = reload_kind_store_new(def);

			rc = tmp ? reload_kind_store_fetch(tmp, sp, now_ms, a, &ans->kinds[i])
				 : -ENOMEM;
			reload_kind_store_free(tmp);
		}
		ans->kind_count = i + 1;
	}
	return rc;
}

int storage_stat(struct reload_storage *st, const reload_stat_req *req, uint64_t now_ms,
		 struct reload_arena *a, struct reload_stat_ans *ans)
{
	int rc = 0;

	memset(ans, 0, sizeof(*ans));
	ans->kinds = reload_arena_alloc(a, (req->specifier_count + 1) * sizeof(*ans->kinds));
	if (!ans->kinds)
		return -ENOMEM;
	for (size_t i = 0; i < req->specifier_count && rc == 0; i++) {
		const struct reload_stored_data_specifier *sp = &req->specifiers[i];
		const struct reload_kind_def *def = reload_config_kind(st->cfg, sp->kind);
		struct entry *e;

		if (!def)
			return -ENOSYS;
		e = find(st, &req->resource, sp->kind);
		if (e) {
			rc = reload_kind_store_stat(e->ks, sp, now_ms, a, &ans->kinds[i]);
		} else {
			struct reload_kind_store *tmp = reload_kind_store_new(def);

			rc = tmp ? reload_kind_store_stat(tmp, sp, now_ms, a, &ans->kinds[i]) : -ENOMEM;
			reload_kind_store_free(tmp);
		}
		ans->kind_count = i + 1;
	}
	return rc;
}

int storage_export(struct reload_storage *st, const uint8_t *lo, const uint8_t *hi,
		   unsigned id_len, uint64_t now_ms, storage_export_fn fn, void *ctx)
{
	int rc = 0;

	for (struct entry *e = st->entries; e && rc == 0; e = e->next) {
		struct reload_arena *a;
		struct reload_store_kind_data kd;
		struct reload_store_req req;

		if (e->res.len != id_len || !reload_chord_in_range(lo, e->res.id, hi, id_len))
			continue;
		if (reload_kind_store_count(e->ks) == 0)
			continue;
		a = reload_arena_new();
		if (!a)
			return -ENOMEM;
		memset(&kd, 0, sizeof(kd));
		rc = reload_kind_store_export(e->ks, now_ms, a, &kd);
		if (rc == 0 && kd.value_count > 0) {
			memset(&req, 0, sizeof(req));
			req.resource = e->res;
			req.kind_data = &kd;
			req.kind_count = 1;
			rc = fn(ctx, &req, e->certs, e->ncert);
		}
		reload_arena_free(a);
	}
	return rc;
}

size_t storage_drop_outside(struct reload_storage *st, const uint8_t *lo, const uint8_t *hi,
			    unsigned id_len)
{
	size_t dropped = 0;
	struct entry **pp = &st->entries;

	while (*pp) {
		struct entry *e = *pp;

		if (e->res.len == id_len && !reload_chord_in_range(lo, e->res.id, hi, id_len)) {
			*pp = e->next;
			st->nentries--;
			dropped += reload_kind_store_count(e->ks);
			entry_free(e);
		} else {
			pp = &e->next;
		}
	}
	return dropped;
}

size_t storage_expire(struct reload_storage *st, uint64_t now_ms)
{
	size_t n = 0;
	struct entry **pp = &st->entries;

	while (*pp) {
		struct entry *e = *pp;

		n += reload_kind_store_expire(e->ks, now_ms);
		if (reload_kind_store_count(e->ks) == 0) {
			*pp = e->next;
			st->nentries--;
			entry_free(e);
		} else {
			pp = &e->next;
		}
	}
	return n;
}

size_t storage_count(const struct reload_storage *st)
{
	size_t n = 0;

	for (const struct entry *e = st->entries; e; e = e->next)
		n += reload_kind_store_count(e->ks);
	return n;
}

void storage_show(const struct reload_storage *st, const struct reload_chord *c,
		  struct reload_buf *out)
{
	char line[256], hex[2 * RELOAD_RESOURCE_ID_MAX + 1];

	for (const struct entry *e = st->entries; e; e = e->next) {
		int n;

		pcdn_hex_encode(e->res.id, PCDN_MIN((size_t)e->res.len, (size_t)64), hex);
		n = snprintf(line, sizeof(line), "%s kind=%u values=%zu generation=%llu role=%s\n",
			     hex, e->kind, reload_kind_store_count(e->ks),
			     (unsigned long long)reload_kind_store_generation(e->ks),
			     c && e->res.len == c->id_len && reload_chord_responsible(c, e->res.id)
				     ? "responsible"
				     : "replica");
		reload_buf_put(out, line, (size_t)PCDN_MIN(n, (int)sizeof(line) - 1));
	}
}
