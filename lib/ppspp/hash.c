/* RFC 7574 §7.6 (Table 4): the Merkle hash tree functions, SHA-1 (mandatory) and the SHA-2
 * family, through OpenSSL EVP. The digests are fetched from the provider once per process and
 * shared: a fetch walks the provider tables under a lock, far too slow for once per chunk. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ppspp.h"

static const char *const hash_names[] = {
    [PPSPP_HASH_SHA1] = "SHA1",	    [PPSPP_HASH_SHA224] = "SHA224", [PPSPP_HASH_SHA256] = "SHA256",
    [PPSPP_HASH_SHA384] = "SHA384", [PPSPP_HASH_SHA512] = "SHA512",
};

static _Atomic(EVP_MD *) hash_mds[sizeof(hash_names) / sizeof(hash_names[0])];

const char *ppspp_hash_name(uint8_t hash_fn)
{
	if (hash_fn >= sizeof(hash_names) / sizeof(hash_names[0]))
		return NULL;
	return hash_names[hash_fn];
}

int ppspp_hash_from_name(const char *name)
{
	/* Operators write "sha256", "SHA-256" or "sha2-256"; all mean the same function. */
	static const struct {
		const char *name;
		uint8_t fn;
	} aliases[] = {
	    {"sha1", PPSPP_HASH_SHA1},	     {"sha-1", PPSPP_HASH_SHA1},
	    {"sha224", PPSPP_HASH_SHA224},   {"sha-224", PPSPP_HASH_SHA224},
	    {"sha2-224", PPSPP_HASH_SHA224}, {"sha256", PPSPP_HASH_SHA256},
	    {"sha-256", PPSPP_HASH_SHA256},  {"sha2-256", PPSPP_HASH_SHA256},
	    {"sha384", PPSPP_HASH_SHA384},   {"sha-384", PPSPP_HASH_SHA384},
	    {"sha2-384", PPSPP_HASH_SHA384}, {"sha512", PPSPP_HASH_SHA512},
	    {"sha-512", PPSPP_HASH_SHA512},  {"sha2-512", PPSPP_HASH_SHA512},
	};
	if (name == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(name, aliases[i].name) == 0)
			return aliases[i].fn;
	return -EINVAL;
}

/* The shared digest for a function, fetched on first use. Two threads racing here both fetch;
 * the loser frees its copy, so no lock is needed and every caller sees one EVP_MD. */
static const EVP_MD *hash_md(uint8_t hash_fn)
{
	const char *name = ppspp_hash_name(hash_fn);
	if (name == NULL)
		return NULL;
	EVP_MD *md = atomic_load_explicit(&hash_mds[hash_fn], memory_order_acquire);
	if (md != NULL)
		return md;
	EVP_MD *fetched = EVP_MD_fetch(NULL, name, NULL);
	if (fetched == NULL)
		return NULL;
	EVP_MD *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(&hash_mds[hash_fn], &expected, fetched,
						     memory_order_acq_rel, memory_order_acquire)) {
		EVP_MD_free(fetched);
		return expected;
	}
	return fetched;
}

int ppspp_hash(uint8_t hash_fn, const void *data, size_t len, uint8_t *out)
{
	const EVP_MD *md = hash_md(hash_fn);
	if (md == NULL)
		return -EINVAL;
	if (data == NULL && len > 0)
		return -EINVAL;
	unsigned int out_len = 0;
	if (EVP_Digest(len > 0 ? data : "", len, out, &out_len, md, NULL) != 1)
		return -EIO;
	return 0;
}
