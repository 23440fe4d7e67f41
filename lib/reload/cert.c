/* RFC 6940 §11.3 (enrollment: certificates with an empty subject whose subjectAltName holds one
 * reload:// URI per Node-ID and the user name as rfc822Name, nothing else) and §11.3.1
 * (self-generated credentials: Node-ID = digest of subjectPublicKeyInfo, with a 4-byte index
 * prefix when a certificate carries several). Keys, an operator CA, issuance and PEM files with
 * OpenSSL; pcdn-node's `cert` command drives these. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "reload.h"

EVP_PKEY *reload_key_generate(enum reload_key_type type)
{
	EVP_PKEY *k = NULL;

	switch (type) {
	case RELOAD_KEY_RSA2048:
		k = EVP_RSA_gen(2048);
		break;
	case RELOAD_KEY_EC_P256:
		k = EVP_EC_gen("P-256");
		break;
	default:
		errno = EINVAL;
		return NULL;
	}
	if (!k) {
		ERR_clear_error();
		errno = EIO;
	}
	return k;
}

static int set_serial_and_validity(X509 *x, unsigned days)
{
	BIGNUM *bn = BN_new();
	int ok;

	/* random 64-bit serials: unique without CA state */
	ok = bn && BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	ok = ok && X509_set_version(x, 2) == 1;
	/* an hour of slack for clocks that are a little behind the issuer's */
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L) != NULL;
	return ok ? 0 : -EIO;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e)
		return -EINVAL;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? 0 : -EIO;
}

X509 *reload_cert_make_ca(EVP_PKEY *ca_key, const char *common_name, unsigned days)
{
	X509 *x = X509_new();
	X509_NAME *n;
	int ok;

	if (!x || !ca_key || !common_name) {
		X509_free(x);
		errno = EINVAL;
		return NULL;
	}
	n = X509_get_subject_name(x);
	ok = set_serial_and_validity(x, days) == 0 &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)common_name,
					-1, -1, 0) == 1 &&
	     X509_set_issuer_name(x, n) == 1 && X509_set_pubkey(x, ca_key) == 1 &&
	     add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
	     add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
	     add_ext(x, x, NID_subject_key_identifier, "hash") == 0 &&
	     X509_sign(x, ca_key, EVP_sha256()) > 0;
	if (!ok) {
		ERR_clear_error();
		X509_free(x);
		errno = EIO;
		return NULL;
	}
	return x;
}

/* subjectAltName: URI:reload://<01 len id>@overlay/ per Node-ID, email:user. */
static int add_identity(X509 *x, const char *overlay, const char *user,
			const struct reload_node_id *ids, size_t n)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	int ok = names != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		char hex[2 * (2 + RELOAD_NODE_ID_MAX) + 1];
		uint8_t dest[2 + RELOAD_NODE_ID_MAX];
		char uri[sizeof(hex) + 300];
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		dest[0] = RELOAD_DEST_NODE;
		dest[1] = ids[i].len;
		memcpy(dest + 2, ids[i].id, ids[i].len);
		pcdn_hex_encode(dest, 2u + ids[i].len, hex);
		snprintf(uri, sizeof(uri), "reload://%s@%s/", hex, overlay);
		ok = g && s && ASN1_STRING_set(s, uri, -1) == 1;
		if (ok) {
			GENERAL_NAME_set0_value(g, GEN_URI, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(names, g) > 0;
			if (ok)
				g = NULL;
		}
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
	}
	if (ok && user && user[0]) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		ok = g && s && ASN1_STRING_set(s, user, -1) == 1;
		if (ok) {
			GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(names, g) > 0;
			if (ok)
				g = NULL;
		}
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
	}
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, 0) == 1;
	GENERAL_NAMES_free(names);
	return ok ? 0 : -EIO;
}

static bool user_ok(const char *user)
{
	/* §11.3: only legal characters: printable ASCII without spaces */
	if (!user)
		return true;
	for (const char *p = user; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return strlen(user) < 256;
}

static bool overlay_ok(const char *overlay)
{
	size_t n = overlay ? strlen(overlay) : 0;

	if (n == 0 || n > 253)
		return false;
	for (const char *p = overlay; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

X509 *reload_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *subject_key, const char *overlay,
			const char *user, const struct reload_node_id *node_ids, size_t n,
			unsigned node_id_len, unsigned days, struct reload_node_id *node_ids_out)
{
	struct reload_node_id ids[RELOAD_CERT_MAX_NODE_IDS];
	X509 *x;
	int ok;

	if (!ca_key || !ca_cert || !subject_key || !overlay_ok(overlay) || !user_ok(user) ||
	    n == 0 || n > RELOAD_CERT_MAX_NODE_IDS || node_id_len < RELOAD_NODE_ID_MIN ||
	    node_id_len > RELOAD_NODE_ID_MAX) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (node_ids) {
			if (node_ids[i].len != node_id_len) {
				errno = EINVAL;
				return NULL;
			}
			ids[i] = node_ids[i];
		} else {
			/* §11.3: cryptographically random Node-IDs chosen by the enrollment side */
			memset(&ids[i], 0, sizeof(ids[i]));
			ids[i].len = (uint8_t)node_id_len;
			if (pcdn_random_bytes(ids[i].id, node_id_len)) {
				errno = EIO;
				return NULL;
			}
		}
	}
	x = X509_new();
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	/* the subject distinguished name stays empty (§11.3) */
	ok = set_serial_and_validity(x, days) == 0 &&
	     X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) == 1 &&
	     X509_set_pubkey(x, subject_key) == 1 && add_identity(x, overlay, user, ids, n) == 0 &&
	     add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
	     add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always") == 0 &&
	     X509_sign(x, ca_key, EVP_sha256()) > 0;
	if (!ok) {
		ERR_clear_error();
		X509_free(x);
		errno = EIO;
		return NULL;
	}
	if (node_ids_out)
		memcpy(node_ids_out, ids, n * sizeof(ids[0]));
	return x;
}

int reload_self_signed_node_id(EVP_PKEY *key, uint8_t digest, unsigned node_id_len, uint32_t index,
			       struct reload_node_id *out)
{
	const EVP_MD *md = digest == RELOAD_HASH_SHA1	  ? EVP_sha1()
			   : digest == RELOAD_HASH_SHA256 ? EVP_sha256()
							  : NULL;
	unsigned char *spki = NULL;
	uint8_t h[EVP_MAX_MD_SIZE], pre[4];
	unsigned hl = 0;
	EVP_MD_CTX *c;
	int len, ok;

	if (!md || node_id_len < RELOAD_NODE_ID_MIN || node_id_len > RELOAD_NODE_ID_MAX)
		return -EINVAL;
	len = i2d_PUBKEY(key, &spki);
	if (len <= 0)
		return -EINVAL;
	c = EVP_MD_CTX_new();
	pcdn_put_be32(pre, index);
	ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 &&
	     (index == 0 || EVP_DigestUpdate(c, pre, 4) == 1) &&
	     EVP_DigestUpdate(c, spki, (size_t)len) == 1 && EVP_DigestFinal_ex(c, h, &hl) == 1;
	EVP_MD_CTX_free(c);
	OPENSSL_free(spki);
	if (!ok || hl < node_id_len)
		return -EIO;
	memset(out, 0, sizeof(*out));
	out->len = (uint8_t)node_id_len;
	memcpy(out->id, h, node_id_len); /* the high-order bits */
	return 0;
}

X509 *reload_cert_make_self_signed(EVP_PKEY *key, const char *overlay, const char *user, size_t n,
				   unsigned node_id_len, uint8_t digest, unsigned days)
{
	struct reload_node_id ids[RELOAD_CERT_MAX_NODE_IDS];
	X509_NAME *name;
	X509 *x;
	int ok;

	if (!key || !overlay_ok(overlay) || !user_ok(user) || n == 0 ||
	    n > RELOAD_CERT_MAX_NODE_IDS) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (reload_self_signed_node_id(key, digest, node_id_len,
					       n > 1 ? (uint32_t)(i + 1) : 0, &ids[i])) {
			errno = EINVAL;
			return NULL;
		}
	x = X509_new();
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	/* empty subject and issuer, as for enrolled certificates */
	name = X509_get_subject_name(x);
	ok = set_serial_and_validity(x, days) == 0 && X509_set_issuer_name(x, name) == 1 &&
	     X509_set_pubkey(x, key) == 1 && add_identity(x, overlay, user, ids, n) == 0 &&
	     X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok) {
		ERR_clear_error();
		X509_free(x);
		errno = EIO;
		return NULL;
	}
	return x;
}

int reload_pem_write_key(const char *path, EVP_PKEY *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		return -e;
	}
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (fclose(f) != 0)
		ok = 0;
	ERR_clear_error();
	return ok ? 0 : -EIO;
}

int reload_pem_write_cert(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -errno;
	ok = PEM_write_X509(f, cert) == 1;
	if (fclose(f) != 0)
		ok = 0;
	ERR_clear_error();
	return ok ? 0 : -EIO;
}

EVP_PKEY *reload_pem_read_key(const char *path)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k;

	if (!f)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		ERR_clear_error();
		errno = EINVAL;
	}
	return k;
}

X509 *reload_pem_read_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *x;

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		errno = EINVAL;
	}
	return x;
}

char *reload_cert_to_base64(X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	char *out;

	if (len <= 0) {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(4 * ((size_t)len / 3 + 1) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, der, len);
	else
		errno = ENOMEM;
	OPENSSL_free(der);
	return out;
}
