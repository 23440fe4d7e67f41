/* CUnit suite "reload_security" (RFC 6940 §6.3.4, §7.1, §7.3, §11.3, §11.3.1): certificates
 * carrying Node-IDs and users, message and stored-value signatures (success, tampered byte,
 * untrusted certificate, Node-ID not matching the key, swapped certificate, expired, bad-node),
 * RSA and ECDSA, self-signed mode, and the four access control policies. */
#include <errno.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "reload_test_util.h"

static struct test_creds creds, other;

static int suite_init(void)
{
	if (test_creds_make(&creds, RELOAD_KEY_EC_P256, "alice@" TEST_OVERLAY))
		return -1;
	return test_creds_make(&other, RELOAD_KEY_EC_P256, "mallory@" TEST_OVERLAY);
}

static int suite_clean(void)
{
	test_creds_free(&creds);
	test_creds_free(&other);
	return 0;
}

static void ping(struct reload_buf *out, const struct reload_signer *s)
{
	struct reload_fwd_header h;
	struct reload_destination d;
	struct reload_codec_params p = test_params();
	union reload_body b;
	struct reload_node_id n;

	memset(&h, 0, sizeof(h));
	test_node_id(&n, 7);
	reload_dest_node(&d, &n);
	h.overlay = reload_overlay_hash(TEST_OVERLAY);
	h.ttl = 100;
	h.transaction_id = 42;
	h.dest = &d;
	h.dest_count = 1;
	memset(&b, 0, sizeof(b));
	b.ping_req.padding = (struct reload_bytes){(const uint8_t *)"pad", 3};
	reload_buf_init(out);
	CU_ASSERT_EQUAL(reload_message_build(&h, RELOAD_PING_REQ, &b, &p, s, out), 0);
}

static int verify_bytes(const uint8_t *msg, size_t len, const struct reload_trust *t, time_t now,
			struct reload_peer *peer)
{
	struct reload_message *m;
	int rc = reload_message_decode(msg, len, 16, 0, &m, NULL);

	if (rc)
		return rc;
	rc = reload_message_verify(m, t, now, peer);
	reload_message_free(m);
	return rc;
}

static void test_cert_identity(void)
{
	struct reload_cert_identity id;
	X509_NAME *subj = X509_get_subject_name(creds.cert);

	CU_ASSERT_EQUAL_FATAL(reload_cert_identity_get(creds.cert, 16, TEST_OVERLAY, &id), 0);
	CU_ASSERT_EQUAL(id.node_id_count, 1);
	CU_ASSERT_TRUE(reload_node_id_equal(&id.node_ids[0], &creds.node_id));
	CU_ASSERT_STRING_EQUAL(id.user, "alice@" TEST_OVERLAY);
	CU_ASSERT_FALSE(id.self_signed);
	/* §11.3: the subject distinguished name is empty */
	CU_ASSERT_EQUAL(X509_NAME_entry_count(subj), 0);
	/* URIs for another overlay do not count */
	CU_ASSERT_EQUAL(reload_cert_identity_get(creds.cert, 16, "other.example", &id), -ENOENT);
	/* the CA certificate carries no Node-ID */
	CU_ASSERT_EQUAL(reload_cert_identity_get(creds.ca, 16, NULL, &id), -ENOENT);
	CU_ASSERT_EQUAL(reload_trust_check_cert(creds.trust, creds.cert, time(NULL), &id), 0);
	CU_ASSERT_EQUAL(reload_trust_check_cert(creds.trust, other.cert, time(NULL), &id), -EACCES);
}

static void test_sign_verify(void)
{
	struct reload_buf b;
	struct reload_peer peer;

	ping(&b, creds.signer);
	CU_ASSERT_EQUAL_FATAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), &peer), 0);
	CU_ASSERT_TRUE(reload_node_id_equal(&peer.node_id, &creds.node_id));
	CU_ASSERT_PTR_NOT_NULL(peer.cert);
	reload_peer_clear(&peer);
	reload_buf_free(&b);
}

static void test_tampered_byte(void)
{
	struct reload_buf b;
	size_t hl;

	ping(&b, creds.signer);
	hl = RELOAD_FIXED_HEADER_LEN + pcdn_get_be16(b.data + 34);
	/* a byte of the padding inside the message body */
	b.data[hl + 2 + 4 + 2] ^= 0x01;
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), NULL), -EACCES);
	b.data[hl + 2 + 4 + 2] ^= 0x01;
	/* the transaction ID is signed too */
	b.data[27] ^= 0x80;
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), NULL), -EACCES);
	b.data[27] ^= 0x80;
	/* the last byte of the signature value */
	b.data[b.len - 1] ^= 0x55;
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), NULL), -EACCES);
	b.data[b.len - 1] ^= 0x55;
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), NULL), 0);
	reload_buf_free(&b);
}

static void test_wrong_cert(void)
{
	struct reload_buf b;

	/* signed by a node enrolled with another CA: not trusted here */
	ping(&b, other.signer);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, other.trust, time(NULL), NULL), 0);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL), NULL), -EACCES);
	reload_buf_free(&b);
}

/* The certificate in the block is replaced by another trusted one: the identity hash no
 * longer names any certificate present. */
static void test_swapped_cert(void)
{
	struct test_creds bob;
	struct reload_buf a, b;
	struct reload_message *ma, *mb;

	CU_ASSERT_EQUAL_FATAL(test_creds_make(&bob, RELOAD_KEY_EC_P256, "bob@" TEST_OVERLAY), 0);
	/* bob enrolled under alice's CA */
	X509_free(bob.cert);
	bob.cert = reload_cert_issue(creds.ca_key, creds.ca, bob.key, TEST_OVERLAY,
				     "bob@" TEST_OVERLAY, NULL, 1, 16, 30, NULL);
	reload_signer_free(bob.signer);
	bob.signer = reload_signer_new(bob.key, bob.cert, NULL, 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bob.signer);
	ping(&a, creds.signer);
	ping(&b, bob.signer);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(a.data, a.len, 16, 0, &ma, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(b.data, b.len, 16, 0, &mb, NULL), 0);
	CU_ASSERT_EQUAL(reload_message_verify(mb, creds.trust, time(NULL), NULL), 0);
	ma->security.certs = mb->security.certs;
	CU_ASSERT_EQUAL(reload_message_verify(ma, creds.trust, time(NULL), NULL), -EACCES);
	/* bob's certificate with alice's identity hash and signature: refused too */
	mb->security.signature = ma->security.signature;
	CU_ASSERT_EQUAL(reload_message_verify(mb, creds.trust, time(NULL), NULL), -EACCES);
	reload_message_free(ma);
	reload_message_free(mb);
	reload_buf_free(&a);
	reload_buf_free(&b);
	test_creds_free(&bob);
}

static void test_expired_and_bad_node(void)
{
	struct reload_buf b;
	struct reload_trust *t;

	ping(&b, creds.signer);
	/* a year and a day from now the certificate has expired */
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL) + 366 * 86400, NULL),
			-EACCES);
	/* and before it was issued it was not valid yet */
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, creds.trust, time(NULL) - 86400, NULL),
			-EACCES);
	t = reload_trust_new(16, TEST_OVERLAY);
	reload_trust_add_root(t, creds.ca);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, t, time(NULL), NULL), 0);
	reload_trust_add_bad_node(t, &creds.node_id);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, t, time(NULL), NULL), -EACCES);
	reload_trust_free(t);
	reload_buf_free(&b);
}

/* §6.3.4: RSASSA-PKCS1-v1_5 with SHA-256 is the algorithm every implementation supports. */
static void test_rsa(void)
{
	struct test_creds r;
	struct reload_buf b;
	struct reload_message *m;

	CU_ASSERT_EQUAL_FATAL(test_creds_make(&r, RELOAD_KEY_RSA2048, "rsa@" TEST_OVERLAY), 0);
	ping(&b, r.signer);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(b.data, b.len, 16, 0, &m, NULL), 0);
	CU_ASSERT_EQUAL(m->security.signature.sig_alg, RELOAD_SIG_RSA);
	CU_ASSERT_EQUAL(m->security.signature.hash_alg, RELOAD_HASH_SHA256);
	CU_ASSERT_EQUAL(m->security.signature.value.len, 256);
	CU_ASSERT_EQUAL(reload_message_verify(m, r.trust, time(NULL), NULL), 0);
	/* claiming ECDSA for an RSA key fails */
	m->security.signature.sig_alg = RELOAD_SIG_ECDSA;
	CU_ASSERT_EQUAL(reload_message_verify(m, r.trust, time(NULL), NULL), -EACCES);
	reload_message_free(m);
	reload_buf_free(&b);
	test_creds_free(&r);
}

/* A certificate carrying two Node-IDs signs with cert_hash_node_id (§6.3.4). */
static void test_multiple_node_ids(void)
{
	struct reload_node_id ids[2];
	X509 *cert;
	struct reload_signer *s;
	struct reload_buf b;
	struct reload_message *m;
	struct reload_peer peer;

	test_node_id(&ids[0], 0x11);
	test_node_id(&ids[1], 0x22);
	cert = reload_cert_issue(creds.ca_key, creds.ca, creds.key, TEST_OVERLAY, NULL, ids, 2, 16,
				 30, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	s = reload_signer_new(creds.key, cert, &ids[1], 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ping(&b, s);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(b.data, b.len, 16, 0, &m, NULL), 0);
	CU_ASSERT_EQUAL(m->security.signature.identity.type, RELOAD_ID_CERT_HASH_NODE_ID);
	CU_ASSERT_EQUAL(reload_message_verify(m, creds.trust, time(NULL), &peer), 0);
	CU_ASSERT_TRUE(reload_node_id_equal(&peer.node_id, &ids[1]));
	CU_ASSERT_EQUAL(peer.ident.node_id_count, 2);
	reload_peer_clear(&peer);
	reload_message_free(m);
	/* signing as a Node-ID the certificate does not carry is refused */
	test_node_id(&ids[0], 0x33);
	CU_ASSERT_PTR_NULL(reload_signer_new(creds.key, cert, &ids[0], 16));
	/* a key that does not match the certificate */
	CU_ASSERT_PTR_NULL(reload_signer_new(other.key, cert, NULL, 16));
	reload_signer_free(s);
	X509_free(cert);
	reload_buf_free(&b);
}

/* A self-signed certificate whose Node-ID is not derived from its key (§11.3.1: Node-ID
 * theft), built by hand. */
static X509 *forged_self_signed(EVP_PKEY *key, const struct reload_node_id *id)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	char hex[33], san[128];

	pcdn_hex_encode(id->id, 16, hex);
	snprintf(san, sizeof(san), "URI:reload://0110%s@%s/", hex, TEST_OVERLAY);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static void test_self_signed(void)
{
	EVP_PKEY *key = reload_key_generate(RELOAD_KEY_EC_P256);
	X509 *cert = reload_cert_make_self_signed(key, TEST_OVERLAY, "carol@" TEST_OVERLAY, 1, 16,
						  RELOAD_HASH_SHA256, 30);
	struct reload_trust *t = reload_trust_new(16, TEST_OVERLAY);
	struct reload_cert_identity id;
	struct reload_node_id want, stolen;
	struct reload_signer *s;
	struct reload_buf b;
	X509 *forged;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	CU_ASSERT_EQUAL(reload_self_signed_node_id(key, RELOAD_HASH_SHA256, 16, 0, &want), 0);
	CU_ASSERT_EQUAL(reload_cert_identity_get(cert, 16, TEST_OVERLAY, &id), 0);
	CU_ASSERT_TRUE(id.self_signed);
	CU_ASSERT_TRUE(reload_node_id_equal(&id.node_ids[0], &want));
	/* not permitted: refused; permitted with the right digest: accepted */
	CU_ASSERT_EQUAL(reload_trust_check_cert(t, cert, time(NULL), NULL), -EACCES);
	reload_trust_set_self_signed(t, true, RELOAD_HASH_SHA1);
	CU_ASSERT_EQUAL(reload_trust_check_cert(t, cert, time(NULL), NULL), -EACCES);
	reload_trust_set_self_signed(t, true, RELOAD_HASH_SHA256);
	CU_ASSERT_EQUAL(reload_trust_check_cert(t, cert, time(NULL), NULL), 0);
	s = reload_signer_new(key, cert, NULL, 16);
	ping(&b, s);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, t, time(NULL), NULL), 0);
	reload_buf_free(&b);
	reload_signer_free(s);
	/* a self-signed certificate claiming someone else's Node-ID */
	test_node_id(&stolen, 0x42);
	forged = forged_self_signed(key, &stolen);
	CU_ASSERT_EQUAL(reload_trust_check_cert(t, forged, time(NULL), NULL), -EACCES);
	s = reload_signer_new(key, forged, NULL, 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ping(&b, s);
	CU_ASSERT_EQUAL(verify_bytes(b.data, b.len, t, time(NULL), NULL), -EACCES);
	reload_buf_free(&b);
	reload_signer_free(s);
	X509_free(forged);
	/* several Node-IDs: index-prefixed digests */
	X509_free(cert);
	cert = reload_cert_make_self_signed(key, TEST_OVERLAY, NULL, 3, 16, RELOAD_HASH_SHA256, 30);
	CU_ASSERT_EQUAL(reload_cert_identity_get(cert, 16, TEST_OVERLAY, &id), 0);
	CU_ASSERT_EQUAL(id.node_id_count, 3);
	CU_ASSERT_EQUAL(reload_self_signed_node_id(key, RELOAD_HASH_SHA256, 16, 2, &want), 0);
	CU_ASSERT_TRUE(reload_node_id_equal(&id.node_ids[1], &want));
	CU_ASSERT_EQUAL(reload_trust_check_cert(t, cert, time(NULL), NULL), 0);
	X509_free(cert);
	reload_trust_free(t);
	EVP_PKEY_free(key);
}

/* ---- stored values (§7.1) and access control (§7.3) --------------------------------------------
 */

static void make_value(struct reload_stored_data *sd, uint8_t model, const void *key,
		       size_t key_len)
{
	memset(sd, 0, sizeof(*sd));
	sd->storage_time = 1700000000000ull;
	sd->lifetime = 60;
	sd->value.model = model;
	sd->value.key = (struct reload_bytes){key, key_len};
	sd->value.value.exists = true;
	sd->value.value.value = (struct reload_bytes){(const uint8_t *)"value", 5};
}

static struct reload_generic_cert cert_of(struct test_creds *c, uint8_t **der)
{
	int n = i2d_X509(c->cert, der);

	return (struct reload_generic_cert){RELOAD_CERT_TYPE_X509, {*der, n > 0 ? (size_t)n : 0}};
}

static void test_stored_value_signature(void)
{
	struct reload_arena *a = reload_arena_new();
	struct reload_stored_data sd;
	struct reload_resource_id res, res2;
	struct reload_peer peer;
	uint8_t *der = NULL;
	struct reload_generic_cert gc = cert_of(&creds, &der);

	reload_resource_id_hash("alice@" TEST_OVERLAY, strlen("alice@" TEST_OVERLAY), 16, &res);
	make_value(&sd, RELOAD_MODEL_ARRAY, NULL, 0);
	sd.value.index = RELOAD_ARRAY_APPEND;
	CU_ASSERT_EQUAL_FATAL(reload_stored_data_sign(creds.signer, &res, 0x10, &sd, a), 0);
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, &gc, 1, creds.trust, time(NULL), &peer), 0);
	reload_peer_clear(&peer);
	/* the storing peer assigns the index: signatures cover index 0 (§7.4.2.2) */
	sd.value.index = 17;
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, &gc, 1, creds.trust, time(NULL), NULL), 0);
	/* another Kind, another Resource-ID, another storage_time or value: refused */
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x11, &gc, 1, creds.trust, time(NULL), NULL),
	    -EACCES);
	res2 = res;
	res2.id[0] ^= 1;
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res2, 0x10, &gc, 1, creds.trust, time(NULL), NULL),
	    -EACCES);
	sd.storage_time++;
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, &gc, 1, creds.trust, time(NULL), NULL),
	    -EACCES);
	sd.storage_time--;
	sd.value.value.exists = false;
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, &gc, 1, creds.trust, time(NULL), NULL),
	    -EACCES);
	sd.value.value.exists = true;
	/* without the certificate it cannot be checked */
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, NULL, 0, creds.trust, time(NULL), NULL),
	    -EACCES);
	/* the anonymous signature is only for synthesised values */
	memset(&sd.signature, 0, sizeof(sd.signature));
	sd.signature.identity.type = RELOAD_ID_NONE;
	CU_ASSERT_EQUAL(
	    reload_stored_data_verify(&sd, &res, 0x10, &gc, 1, creds.trust, time(NULL), NULL),
	    -EACCES);
	OPENSSL_free(der);
	reload_arena_free(a);
}

static void peer_of(struct test_creds *c, struct reload_peer *p)
{
	memset(p, 0, sizeof(*p));
	CU_ASSERT_EQUAL(reload_cert_identity_get(c->cert, 16, TEST_OVERLAY, &p->ident), 0);
	p->node_id = c->node_id;
}

static void test_access_policies(void)
{
	struct reload_kind_def k = {
	    .id = 0xf0000010, .model = RELOAD_MODEL_DICTIONARY, .max_count = 10, .max_size = 100};
	struct reload_stored_data sd;
	struct reload_resource_id user_res, node_res, multi_res, other_res;
	struct reload_peer alice, mallory;
	uint8_t buf[20];
	const char *user = "alice@" TEST_OVERLAY;

	peer_of(&creds, &alice);
	peer_of(&other, &mallory);
	reload_resource_id_hash(user, strlen(user), 16, &user_res);
	reload_resource_id_hash(creds.node_id.id, 16, 16, &node_res);
	memcpy(buf, creds.node_id.id, 16);
	pcdn_put_be32(buf + 16, 2);
	reload_resource_id_hash(buf, 20, 16, &multi_res);
	reload_resource_id_hash("elsewhere", 9, 16, &other_res);
	make_value(&sd, RELOAD_MODEL_DICTIONARY, creds.node_id.id, 16);

	k.policy = RELOAD_ACCESS_USER_MATCH;
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), 0);
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &mallory), -EACCES);
	CU_ASSERT_EQUAL(reload_access_check(&k, &other_res, &sd.value, &alice), -EACCES);

	k.policy = RELOAD_ACCESS_NODE_MATCH;
	CU_ASSERT_EQUAL(reload_access_check(&k, &node_res, &sd.value, &alice), 0);
	CU_ASSERT_EQUAL(reload_access_check(&k, &node_res, &sd.value, &mallory), -EACCES);
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), -EACCES);
	/* a Node-ID the certificate does not carry */
	{
		struct reload_peer liar = alice;

		test_node_id(&liar.node_id, 0);
		reload_resource_id_hash(liar.node_id.id, 16, 16, &node_res);
		CU_ASSERT_EQUAL(reload_access_check(&k, &node_res, &sd.value, &liar), -EACCES);
	}

	k.policy = RELOAD_ACCESS_USER_NODE_MATCH;
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), 0);
	sd.value.key = (struct reload_bytes){other.node_id.id, 16};
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), -EACCES);
	sd.value.key = (struct reload_bytes){creds.node_id.id, 16};
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &mallory), -EACCES);
	k.model = RELOAD_MODEL_ARRAY;
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), -EACCES);
	k.model = RELOAD_MODEL_DICTIONARY;

	k.policy = RELOAD_ACCESS_NODE_MULTIPLE;
	k.max_node_multiple = 3;
	CU_ASSERT_EQUAL(reload_access_check(&k, &multi_res, &sd.value, &alice), 0);
	k.max_node_multiple = 1;
	CU_ASSERT_EQUAL(reload_access_check(&k, &multi_res, &sd.value, &alice), -EACCES);
	k.max_node_multiple = 3;
	CU_ASSERT_EQUAL(reload_access_check(&k, &multi_res, &sd.value, &mallory), -EACCES);

	k.policy = RELOAD_ACCESS_PCDN_NODE_ANY;
	CU_ASSERT_EQUAL(reload_access_check(&k, &other_res, &sd.value, &mallory), 0);
	k.policy = RELOAD_ACCESS_UNKNOWN;
	CU_ASSERT_EQUAL(reload_access_check(&k, &user_res, &sd.value, &alice), -EACCES);

	CU_ASSERT_EQUAL(reload_access_policy_parse("USER-NODE-MATCH"),
			RELOAD_ACCESS_USER_NODE_MATCH);
	CU_ASSERT_EQUAL(reload_access_policy_parse("user-match"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(reload_access_policy_name(RELOAD_ACCESS_NODE_MULTIPLE),
			       "NODE-MULTIPLE");
}

static void test_pem_files(void)
{
	char dir[] = "/tmp/reload-pem-XXXXXX", kp[64], cp[64];
	struct reload_signer *s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(kp, sizeof(kp), "%s/node.key", dir);
	snprintf(cp, sizeof(cp), "%s/node.crt", dir);
	CU_ASSERT_EQUAL(reload_pem_write_key(kp, creds.key), 0);
	CU_ASSERT_EQUAL(reload_pem_write_cert(cp, creds.cert), 0);
	s = reload_signer_load(kp, cp, 16);
	CU_ASSERT_PTR_NOT_NULL(s);
	if (s)
		CU_ASSERT_TRUE(reload_node_id_equal(reload_signer_node_id(s), &creds.node_id));
	reload_signer_free(s);
	CU_ASSERT_PTR_NULL(reload_signer_load(cp, cp, 16));
	unlink(kp);
	unlink(cp);
	rmdir(dir);
	{
		char *b64 = reload_cert_to_base64(creds.ca);
		struct reload_trust *t = reload_trust_new(16, TEST_OVERLAY);
		unsigned char der[4096];
		int n;

		CU_ASSERT_PTR_NOT_NULL_FATAL(b64);
		n = EVP_DecodeBlock(der, (unsigned char *)b64, (int)strlen(b64));
		CU_ASSERT_TRUE(n > 0);
		while (n > 0 && b64[strlen(b64) - 1] == '=' && der[n - 1] == 0) {
			n--;
			b64[strlen(b64) - 1] = 0;
		}
		CU_ASSERT_EQUAL(reload_trust_add_root_der(t, der, (size_t)n), 0);
		CU_ASSERT_EQUAL(reload_trust_check_cert(t, creds.cert, time(NULL), NULL), 0);
		reload_trust_free(t);
		free(b64);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_security", suite_init, suite_clean);
	CU_add_test(s, "certificate identity", test_cert_identity);
	CU_add_test(s, "sign and verify", test_sign_verify);
	CU_add_test(s, "tampered byte", test_tampered_byte);
	CU_add_test(s, "certificate from an untrusted CA", test_wrong_cert);
	CU_add_test(s, "swapped certificate", test_swapped_cert);
	CU_add_test(s, "expired certificate, bad-node", test_expired_and_bad_node);
	CU_add_test(s, "RSA PKCS#1 v1.5 SHA-256", test_rsa);
	CU_add_test(s, "several Node-IDs: cert_hash_node_id", test_multiple_node_ids);
	CU_add_test(s, "self-signed, Node-ID theft", test_self_signed);
	CU_add_test(s, "stored value signatures", test_stored_value_signature);
	CU_add_test(s, "access control policies", test_access_policies);
	CU_add_test(s, "PEM files and base64 root", test_pem_files);
	return test_run();
}
