/* Shared fixtures of the reload unit suites: credentials (operator CA, enrolled and self-signed
 * node certificates), a signer and a trust, a CUnit runner. Header-only so each suite stays one
 * executable. */
#ifndef RELOAD_TEST_UTIL_H
#define RELOAD_TEST_UTIL_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload.h"

#define TEST_OVERLAY "overlay.pcdn.test"
#define TEST_NOW     ((time_t)1800000000) /* fixed clock: certificates are made around it */

struct test_creds {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *key;
	X509 *cert;
	struct reload_node_id node_id;
	struct reload_signer *signer;
	struct reload_trust *trust;
};

static inline void test_creds_free(struct test_creds *c)
{
	reload_signer_free(c->signer);
	reload_trust_free(c->trust);
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	X509_free(c->ca);
	EVP_PKEY_free(c->ca_key);
	memset(c, 0, sizeof(*c));
}

/* An operator CA and one node enrolled under it as `user` (valid for a year from the real
 * clock; tests that check validity use the real time). */
static inline int test_creds_make(struct test_creds *c, enum reload_key_type kt, const char *user)
{
	memset(c, 0, sizeof(*c));
	c->ca_key = reload_key_generate(RELOAD_KEY_EC_P256);
	c->ca = c->ca_key ? reload_cert_make_ca(c->ca_key, "pcdn test CA", 365) : NULL;
	c->key = reload_key_generate(kt);
	if (!c->ca || !c->key)
		return -1;
	c->cert = reload_cert_issue(c->ca_key, c->ca, c->key, TEST_OVERLAY, user, NULL, 1, 16, 365,
				    &c->node_id);
	if (!c->cert)
		return -1;
	c->signer = reload_signer_new(c->key, c->cert, NULL, 16);
	c->trust = reload_trust_new(16, TEST_OVERLAY);
	if (!c->signer || !c->trust || reload_trust_add_root(c->trust, c->ca))
		return -1;
	return 0;
}

static inline struct reload_codec_params test_params(void)
{
	struct reload_codec_params p;

	reload_codec_params_default(&p);
	return p;
}

static inline void test_node_id(struct reload_node_id *n, uint8_t fill)
{
	memset(n, 0, sizeof(*n));
	n->len = 16;
	for (int i = 0; i < 16; i++)
		n->id[i] = (uint8_t)(fill + i);
}

static inline int test_run(void)
{
	unsigned fails;

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}

#endif
