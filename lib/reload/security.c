/* RFC 6940 §6.3.4 (signatures over messages, SignerIdentity cert_hash / cert_hash_node_id),
 * §11.3 (certificates: Node-IDs as reload:// URIs and the user as rfc822Name in
 * subjectAltName), §11.3.1 (self-signed certificates: Node-ID derived from the public key),
 * §13.3 (certificate-based security: chain to the overlay's root certificates, bad-node). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "codec_internal.h"
#include "reload.h"

PCDN_LOG_COMPONENT(sec_log, "reload")

struct reload_signer {
	EVP_PKEY *key;
	X509 *cert;
	uint8_t *der;
	size_t der_len;
	struct reload_node_id node_id;
	struct reload_cert_identity ident;
};

struct reload_trust {
	X509_STORE *store;
	size_t root_count;
	bool self_signed;
	uint8_t digest;
	unsigned node_id_len;
	char overlay[256];
	struct reload_node_id *bad;
	size_t bad_count;
};

static const EVP_MD *md_for(uint8_t hash_alg)
{
	switch (hash_alg) {
	case RELOAD_HASH_SHA1:
		return EVP_sha1();
	case 3:
		return EVP_sha224();
	case RELOAD_HASH_SHA256:
		return EVP_sha256();
	case RELOAD_HASH_SHA384:
		return EVP_sha384();
	case RELOAD_HASH_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* ---- certificate identity (§11.3) ---------------------------------------------------------- */

/* "reload://" hex(destination list with one node entry) "@" overlay "/" */
static int parse_reload_uri(const char *uri, size_t len, unsigned node_id_len, const char *overlay,
			    struct reload_node_id *out, bool *for_overlay)
{
	static const char prefix[] = "reload://";
	const char *at, *hex, *ov, *end = uri + len;
	uint8_t bin[2 + RELOAD_NODE_ID_MAX];
	char hexbuf[2 * sizeof(bin) + 1];
	struct reload_destination d;
	size_t hexlen, n, used;

	if (len < sizeof(prefix) - 1 || strncasecmp(uri, prefix, sizeof(prefix) - 1) != 0)
		return -ENOENT; /* some other URI: not ours to judge */
	hex = uri + sizeof(prefix) - 1;
	at = memchr(hex, '@', (size_t)(end - hex));
	if (!at)
		return -EBADMSG;
	hexlen = (size_t)(at - hex);
	if (hexlen >= sizeof(hexbuf))
		return -EBADMSG;
	memcpy(hexbuf, hex, hexlen);
	hexbuf[hexlen] = 0;
	if (pcdn_hex_decode(hexbuf, bin, sizeof(bin), &n) < 0)
		return -EBADMSG;
	if (reload_destination_decode(bin, n, node_id_len, &d, &used) || used != n ||
	    d.type != RELOAD_DEST_NODE)
		return -EBADMSG;
	ov = at + 1;
	/* the overlay name runs to the "/" that ends the peer form */
	{
		const char *slash = memchr(ov, '/', (size_t)(end - ov));
		size_t ovlen = slash ? (size_t)(slash - ov) : (size_t)(end - ov);

		*for_overlay =
		    !overlay || (strlen(overlay) == ovlen && strncasecmp(overlay, ov, ovlen) == 0);
	}
	memset(out, 0, sizeof(*out));
	out->len = d.len;
	memcpy(out->id, d.id, d.len);
	return 0;
}

int reload_cert_identity_get(X509 *cert, unsigned node_id_len, const char *overlay,
			     struct reload_cert_identity *out)
{
	GENERAL_NAMES *names;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (!names)
		return -ENOENT;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *s;
		int len;

		if (g->type == GEN_URI) {
			struct reload_node_id id;
			bool mine = false;
			int r;

			s = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
			r = parse_reload_uri((const char *)s, (size_t)len, node_id_len, overlay,
					     &id, &mine);
			if (r == -EBADMSG) {
				rc = -EBADMSG;
				break;
			}
			if (r == 0 && mine && out->node_id_count < RELOAD_CERT_MAX_NODE_IDS)
				out->node_ids[out->node_id_count++] = id;
		} else if (g->type == GEN_EMAIL && !out->user[0]) {
			s = ASN1_STRING_get0_data(g->d.rfc822Name);
			len = ASN1_STRING_length(g->d.rfc822Name);
			/* names with embedded NULs are refused (§11.3) */
			if (len <= 0 || (size_t)len >= sizeof(out->user) ||
			    memchr(s, 0, (size_t)len)) {
				rc = -EBADMSG;
				break;
			}
			memcpy(out->user, s, (size_t)len);
			out->user[len] = 0;
		}
	}
	GENERAL_NAMES_free(names);
	if (rc)
		return rc;
	out->self_signed = X509_check_issued(cert, cert) == X509_V_OK;
	return out->node_id_count ? 0 : -ENOENT;
}

/* ---- signer ------------------------------------------------------------------------------ */

struct reload_signer *reload_signer_new(EVP_PKEY *key, X509 *cert,
					const struct reload_node_id *node_id, unsigned node_id_len)
{
	struct reload_signer *s;
	unsigned char *der = NULL;
	int len;

	if (!key || !cert || X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	if (reload_cert_identity_get(cert, node_id_len, NULL, &s->ident) < 0)
		goto inval;
	if (node_id) {
		size_t i;

		for (i = 0; i < s->ident.node_id_count; i++)
			if (reload_node_id_equal(&s->ident.node_ids[i], node_id))
				break;
		if (i == s->ident.node_id_count)
			goto inval;
		s->node_id = *node_id;
	} else {
		s->node_id = s->ident.node_ids[0];
	}
	len = i2d_X509(cert, &der);
	if (len <= 0)
		goto inval;
	s->der = der;
	s->der_len = (size_t)len;
	EVP_PKEY_up_ref(key);
	X509_up_ref(cert);
	s->key = key;
	s->cert = cert;
	return s;
inval:
	OPENSSL_free(der);
	free(s);
	errno = EINVAL;
	return NULL;
}

struct reload_signer *reload_signer_load(const char *key_pem_path, const char *cert_pem_path,
					 unsigned node_id_len)
{
	EVP_PKEY *key = reload_pem_read_key(key_pem_path);
	X509 *cert = reload_pem_read_cert(cert_pem_path);
	struct reload_signer *s = NULL;
	int e = errno;

	if (key && cert) {
		s = reload_signer_new(key, cert, NULL, node_id_len);
		e = errno;
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	errno = e;
	return s;
}

void reload_signer_free(struct reload_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	OPENSSL_free(s->der);
	free(s);
}

const struct reload_node_id *reload_signer_node_id(const struct reload_signer *s)
{
	return &s->node_id;
}

const char *reload_signer_user(const struct reload_signer *s)
{
	return s->ident.user;
}

X509 *reload_signer_cert(const struct reload_signer *s)
{
	return s->cert;
}

EVP_PKEY *reload_signer_key(const struct reload_signer *s)
{
	return s->key;
}

static int digest_parts(const EVP_MD *md, const struct reload_bytes *parts, size_t n, uint8_t *out,
			unsigned *out_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(c, md, NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(c, parts[i].data, parts[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, out_len) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -EIO;
}

/* §6.3.4: cert_hash for a certificate with one Node-ID, cert_hash_node_id = H(NodeId ||
 * certificate) when it has several. */
static int signer_identity(const struct reload_signer *s, struct reload_arena *a,
			   struct reload_signer_identity *id)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	struct reload_bytes parts[2];
	int rc;

	id->hash_alg = RELOAD_HASH_SHA256;
	if (s->ident.node_id_count > 1) {
		id->type = RELOAD_ID_CERT_HASH_NODE_ID;
		parts[0] = (struct reload_bytes){s->node_id.id, s->node_id.len};
		parts[1] = (struct reload_bytes){s->der, s->der_len};
		rc = digest_parts(EVP_sha256(), parts, 2, md, &mdlen);
	} else {
		id->type = RELOAD_ID_CERT_HASH;
		parts[0] = (struct reload_bytes){s->der, s->der_len};
		rc = digest_parts(EVP_sha256(), parts, 1, md, &mdlen);
	}
	if (rc)
		return rc;
	id->hash.data = reload_arena_memdup(a, md, mdlen);
	id->hash.len = mdlen;
	return id->hash.data ? 0 : -ENOMEM;
}

int reload_signer_sign(const struct reload_signer *s, const struct reload_bytes *parts,
		       size_t part_count, struct reload_arena *a, struct reload_signature *sig)
{
	struct reload_buf idb;
	EVP_MD_CTX *c = NULL;
	size_t siglen = 0;
	uint8_t *out;
	int rc, ok, base;

	memset(sig, 0, sizeof(*sig));
	base = EVP_PKEY_get_base_id(s->key);
	if (base == EVP_PKEY_RSA)
		sig->sig_alg =
		    RELOAD_SIG_RSA; /* RSASSA-PKCS1-v1_5, the algorithm all must support */
	else if (base == EVP_PKEY_EC)
		sig->sig_alg = RELOAD_SIG_ECDSA;
	else
		return -EINVAL;
	sig->hash_alg = RELOAD_HASH_SHA256;
	if ((rc = signer_identity(s, a, &sig->identity)))
		return rc;
	reload_buf_init(&idb);
	if ((rc = reload_signer_identity_encode(&sig->identity, &idb)))
		goto out;
	c = EVP_MD_CTX_new();
	if (!c) {
		rc = -ENOMEM;
		goto out;
	}
	ok = EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, s->key) == 1;
	for (size_t i = 0; ok && i < part_count; i++)
		ok = EVP_DigestSignUpdate(c, parts[i].data, parts[i].len) == 1;
	ok = ok && EVP_DigestSignUpdate(c, idb.data, idb.len) == 1;
	ok = ok && EVP_DigestSignFinal(c, NULL, &siglen) == 1;
	out = ok ? reload_arena_alloc(a, siglen) : NULL;
	ok = out && EVP_DigestSignFinal(c, out, &siglen) == 1;
	if (!ok) {
		ERR_clear_error();
		rc = -EIO;
		goto out;
	}
	sig->value.data = out;
	sig->value.len = siglen;
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	reload_buf_free(&idb);
	return rc;
}

/* ---- trust ---------------------------------------------------------------------------------- */

struct reload_trust *reload_trust_new(unsigned node_id_len, const char *overlay_name)
{
	struct reload_trust *t = calloc(1, sizeof(*t));

	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->store = X509_STORE_new();
	if (!t->store) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->node_id_len = node_id_len;
	t->digest = RELOAD_HASH_SHA256;
	if (overlay_name)
		snprintf(t->overlay, sizeof(t->overlay), "%s", overlay_name);
	return t;
}

void reload_trust_free(struct reload_trust *t)
{
	if (!t)
		return;
	X509_STORE_free(t->store);
	free(t->bad);
	free(t);
}

int reload_trust_add_root(struct reload_trust *t, X509 *root)
{
	if (X509_STORE_add_cert(t->store, root) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	t->root_count++;
	return 0;
}

int reload_trust_add_root_der(struct reload_trust *t, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int rc;

	if (!x || p != der + len) {
		X509_free(x);
		ERR_clear_error();
		return -EINVAL;
	}
	rc = reload_trust_add_root(t, x);
	X509_free(x);
	return rc;
}

void reload_trust_set_self_signed(struct reload_trust *t, bool permitted, uint8_t digest)
{
	t->self_signed = permitted;
	t->digest = digest;
}

int reload_trust_add_bad_node(struct reload_trust *t, const struct reload_node_id *n)
{
	struct reload_node_id *nb = realloc(t->bad, (t->bad_count + 1) * sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	t->bad = nb;
	t->bad[t->bad_count++] = *n;
	return 0;
}

struct reload_trust *reload_trust_from_config(const struct reload_overlay_config *cfg)
{
	struct reload_trust *t = reload_trust_new(cfg->node_id_length, cfg->instance_name);

	if (!t)
		return NULL;
	for (size_t i = 0; i < cfg->root_cert_count; i++)
		if (reload_trust_add_root_der(t, cfg->root_certs[i].data, cfg->root_certs[i].len))
			goto fail;
	reload_trust_set_self_signed(t, cfg->self_signed_permitted, cfg->self_signed_digest);
	for (size_t i = 0; i < cfg->bad_node_count; i++)
		if (reload_trust_add_bad_node(t, &cfg->bad_nodes[i]))
			goto fail;
	return t;
fail:
	reload_trust_free(t);
	errno = EINVAL;
	return NULL;
}

static bool cert_time_valid(X509 *cert, time_t now)
{
	return X509_cmp_time(X509_get0_notBefore(cert), &now) <= 0 &&
	       X509_cmp_time(X509_get0_notAfter(cert), &now) >= 0;
}

/* §11.3.1: every Node-ID of a self-signed certificate derives from its public key. */
static bool self_signed_ids_match(const struct reload_trust *t, X509 *cert,
				  const struct reload_cert_identity *id)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (!pk || X509_verify(cert, pk) != 1) {
		ERR_clear_error();
		return false;
	}
	for (size_t i = 0; i < id->node_id_count; i++) {
		struct reload_node_id want;
		uint32_t index = id->node_id_count > 1 ? (uint32_t)(i + 1) : 0;

		if (reload_self_signed_node_id(pk, t->digest, t->node_id_len, index, &want) ||
		    !reload_node_id_equal(&want, &id->node_ids[i]))
			return false;
	}
	return true;
}

int reload_trust_check_cert(const struct reload_trust *t, X509 *cert, time_t now,
			    struct reload_cert_identity *out)
{
	struct reload_cert_identity id;
	bool ok = false;

	if (reload_cert_identity_get(cert, t->node_id_len, t->overlay[0] ? t->overlay : NULL, &id) <
	    0)
		return -EACCES;
	for (size_t i = 0; i < id.node_id_count; i++)
		for (size_t k = 0; k < t->bad_count; k++)
			if (reload_node_id_equal(&id.node_ids[i], &t->bad[k])) {
				PCDN_LOG(sec_log, INFO, "certificate of a bad-node refused");
				return -EACCES;
			}
	if (t->root_count) {
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();

		if (!ctx)
			return -ENOMEM;
		if (X509_STORE_CTX_init(ctx, t->store, cert, NULL) == 1) {
			X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
			ok = X509_verify_cert(ctx) == 1;
		}
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
	}
	if (!ok && t->self_signed && id.self_signed && cert_time_valid(cert, now))
		ok = self_signed_ids_match(t, cert, &id);
	if (!ok)
		return -EACCES;
	if (out)
		*out = id;
	return 0;
}

void reload_peer_clear(struct reload_peer *p)
{
	X509_free(p->cert);
	memset(p, 0, sizeof(*p));
}

/* ---- verification -----------------------------------------------------------------------------
 */

/* Finds the certificate a SignerIdentity names; returns it (new reference) and the Node-ID. */
static X509 *find_signer_cert(const struct reload_signer_identity *sid,
			      const struct reload_generic_cert *certs, size_t cert_count,
			      const struct reload_trust *t, struct reload_node_id *node_id)
{
	const EVP_MD *md = md_for(sid->hash_alg);
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl;

	if (!md || (sid->type != RELOAD_ID_CERT_HASH && sid->type != RELOAD_ID_CERT_HASH_NODE_ID))
		return NULL;
	for (size_t i = 0; i < cert_count; i++) {
		const struct reload_generic_cert *gc = &certs[i];
		struct reload_cert_identity id;
		const unsigned char *p;
		X509 *x;

		if (gc->type != RELOAD_CERT_TYPE_X509)
			continue;
		if (sid->type == RELOAD_ID_CERT_HASH) {
			if (digest_parts(md, &gc->der, 1, h, &hl) || hl != sid->hash.len ||
			    memcmp(h, sid->hash.data, hl) != 0)
				continue;
		}
		p = gc->der.data;
		x = d2i_X509(NULL, &p, (long)gc->der.len);
		if (!x || p != gc->der.data + gc->der.len ||
		    reload_cert_identity_get(x, t->node_id_len, t->overlay[0] ? t->overlay : NULL,
					     &id) < 0) {
			X509_free(x);
			ERR_clear_error();
			continue;
		}
		if (sid->type == RELOAD_ID_CERT_HASH) {
			*node_id = id.node_ids[0];
			return x;
		}
		for (size_t k = 0; k < id.node_id_count; k++) {
			struct reload_bytes parts[2] = {{id.node_ids[k].id, id.node_ids[k].len},
							gc->der};

			if (!digest_parts(md, parts, 2, h, &hl) && hl == sid->hash.len &&
			    memcmp(h, sid->hash.data, hl) == 0) {
				*node_id = id.node_ids[k];
				return x;
			}
		}
		X509_free(x);
	}
	return NULL;
}

int reload_sig_verify_parts(const struct reload_signature *sig, const struct reload_bytes *parts,
			    size_t part_count, const struct reload_generic_cert *certs,
			    size_t cert_count, const struct reload_trust *t, time_t now,
			    struct reload_peer *signer)
{
	struct reload_peer p;
	struct reload_buf idb;
	EVP_MD_CTX *c = NULL;
	const EVP_MD *md = md_for(sig->hash_alg);
	EVP_PKEY *pk;
	int base, ok, rc = -EACCES;

	memset(&p, 0, sizeof(p));
	if (!md)
		return -EACCES;
	p.cert = find_signer_cert(&sig->identity, certs, cert_count, t, &p.node_id);
	if (!p.cert)
		return -EACCES;
	if (reload_trust_check_cert(t, p.cert, now, &p.ident))
		goto out;
	pk = X509_get0_pubkey(p.cert);
	base = pk ? EVP_PKEY_get_base_id(pk) : 0;
	if (!((base == EVP_PKEY_RSA && sig->sig_alg == RELOAD_SIG_RSA) ||
	      (base == EVP_PKEY_EC && sig->sig_alg == RELOAD_SIG_ECDSA)))
		goto out;
	reload_buf_init(&idb);
	reload_signer_identity_encode(&sig->identity, &idb);
	c = EVP_MD_CTX_new();
	ok = c && !reload_buf_error(&idb) && EVP_DigestVerifyInit(c, NULL, md, NULL, pk) == 1;
	for (size_t i = 0; ok && i < part_count; i++)
		ok = EVP_DigestVerifyUpdate(c, parts[i].data, parts[i].len) == 1;
	ok = ok && EVP_DigestVerifyUpdate(c, idb.data, idb.len) == 1;
	ok = ok && EVP_DigestVerifyFinal(c, sig->value.data, sig->value.len) == 1;
	EVP_MD_CTX_free(c);
	reload_buf_free(&idb);
	ERR_clear_error();
	if (ok)
		rc = 0;
out:
	if (!rc && signer) {
		*signer = p;
		return 0;
	}
	reload_peer_clear(&p);
	return rc;
}

int reload_message_verify(const struct reload_message *m, const struct reload_trust *t, time_t now,
			  struct reload_peer *signer)
{
	uint8_t pre[12];
	struct reload_bytes parts[2];

	reload_message_sig_input(m, pre, parts);
	return reload_sig_verify_parts(&m->security.signature, parts, 2, m->security.certs,
				       m->security.cert_count, t, now, signer);
}
