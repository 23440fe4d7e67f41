/* CUnit suite "reload_storage_data" (RFC 6940 §7.2, §7.4.1.1, §7.4.2, §7.4.3): the storage rules
 * of one Kind at one Resource-ID — single value replacement, sparse arrays with append,
 * dictionaries, storage_time ordering, generation counters (original and replica stores),
 * max-size/max-count, atomic checks, synthesised nonexistent values, Stat digests, lifetimes
 * and export with reduced lifetimes. The clock is passed in: no waiting. */
#include <errno.h>
#include <openssl/sha.h>

#include "reload_test_util.h"

#define T0 1700000000000ull

static struct reload_stored_data val(uint8_t model, uint32_t index, const char *key, const char *v,
				     uint64_t storage_time, uint32_t lifetime)
{
	struct reload_stored_data sd;

	memset(&sd, 0, sizeof(sd));
	sd.storage_time = storage_time;
	sd.lifetime = lifetime;
	sd.value.model = model;
	sd.value.index = index;
	if (key)
		sd.value.key = (struct reload_bytes){(const uint8_t *)key, strlen(key)};
	sd.value.value.exists = v != NULL;
	if (v)
		sd.value.value.value = (struct reload_bytes){(const uint8_t *)v, strlen(v)};
	/* a non-anonymous signature (its bytes are checked by the caller, not here) */
	sd.signature.hash_alg = RELOAD_HASH_SHA256;
	sd.signature.sig_alg = RELOAD_SIG_ECDSA;
	sd.signature.identity.type = RELOAD_ID_CERT_HASH;
	sd.signature.identity.hash_alg = RELOAD_HASH_SHA256;
	sd.signature.identity.hash = (struct reload_bytes){(const uint8_t *)"h", 1};
	sd.signature.value = (struct reload_bytes){(const uint8_t *)"s", 1};
	return sd;
}

static struct reload_store_kind_data kd1(uint32_t kind, uint64_t gen, struct reload_stored_data *v,
					 size_t n)
{
	return (struct reload_store_kind_data){kind, gen, v, n};
}

static void test_single(void)
{
	struct reload_kind_def k = {
	    .id = 1, .model = RELOAD_MODEL_SINGLE, .policy = 1, .max_count = 1, .max_size = 8};
	struct reload_kind_store *ks = reload_kind_store_new(&k);
	struct reload_stored_data a = val(RELOAD_MODEL_SINGLE, 0, NULL, "abc", T0, 60);
	struct reload_stored_data b = val(RELOAD_MODEL_SINGLE, 0, NULL, "def", T0 + 1, 60);
	struct reload_stored_data old = val(RELOAD_MODEL_SINGLE, 0, NULL, "zzz", T0 - 1, 60);
	struct reload_stored_data big = val(RELOAD_MODEL_SINGLE, 0, NULL, "123456789", T0 + 5, 60);
	struct reload_store_kind_data kd;
	struct reload_stored_data_specifier spec = {.kind = 1, .model = RELOAD_MODEL_SINGLE};
	struct reload_fetch_kind_response fr;
	struct reload_arena *ar = reload_arena_new();
	uint64_t gen = 0;

	/* a fetch of nothing gives the synthesised nonexistent value */
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL_FATAL(fr.value_count, 1);
	CU_ASSERT_FALSE(fr.values[0].value.value.exists);
	CU_ASSERT_EQUAL(fr.values[0].signature.identity.type, RELOAD_ID_NONE);

	kd = kd1(1, 0, &a, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	CU_ASSERT_EQUAL(gen, 1);
	kd = kd1(1, 0, &old, 1);
	CU_ASSERT_EQUAL(reload_kind_store_check(ks, &kd, false, T0), -ETIME);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -ETIME);
	kd = kd1(1, 5, &b, 1); /* generation given and wrong */
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -ESTALE);
	kd = kd1(1, 1, &b, 1); /* generation given and right */
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	CU_ASSERT_EQUAL(gen, 2);
	kd = kd1(1, 0, &big, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -EFBIG);
	CU_ASSERT_EQUAL(reload_kind_store_generation(ks), 2);
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL_FATAL(fr.value_count, 1);
	CU_ASSERT_EQUAL(memcmp(fr.values[0].value.value.value.data, "def", 3), 0);
	CU_ASSERT_EQUAL(fr.generation, 2);
	/* asking with the current generation returns no values */
	spec.generation = 2;
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL(fr.value_count, 0);
	spec.generation = 0;
	/* replica stores take the generation from the request and refuse 0 */
	kd = kd1(1, 0, &b, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, true, T0, &gen), -EBADMSG);
	kd = kd1(1, 40, &b, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, true, T0, &gen), 0);
	CU_ASSERT_EQUAL(gen, 40);
	/* an anonymous signature is never stored (§7.4.1.1) */
	b.storage_time += 10;
	memset(&b.signature, 0, sizeof(b.signature));
	b.signature.identity.type = RELOAD_ID_NONE;
	kd = kd1(1, 0, &b, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -EACCES);
	/* a value of another model is refused */
	a = val(RELOAD_MODEL_ARRAY, 0, NULL, "x", T0 + 20, 60);
	kd = kd1(1, 0, &a, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -EBADMSG);
	/* lifetime: 60 s after it was received the value is gone */
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0 + 60000, ar, &fr), 0);
	CU_ASSERT_FALSE(fr.values[0].value.value.exists);
	CU_ASSERT_EQUAL(reload_kind_store_expire(ks, T0 + 59999), 0);
	CU_ASSERT_EQUAL(reload_kind_store_expire(ks, T0 + 60000), 1);
	CU_ASSERT_EQUAL(reload_kind_store_count(ks), 0);
	reload_kind_store_free(ks);
	reload_arena_free(ar);
}

static void test_array(void)
{
	struct reload_kind_def k = {
	    .id = 2, .model = RELOAD_MODEL_ARRAY, .policy = 1, .max_count = 5, .max_size = 16};
	struct reload_kind_store *ks = reload_kind_store_new(&k);
	struct reload_stored_data v[3] = {
	    val(RELOAD_MODEL_ARRAY, 2, NULL, "two", T0, 60),
	    val(RELOAD_MODEL_ARRAY, RELOAD_ARRAY_APPEND, NULL, "three", T0, 60),
	    val(RELOAD_MODEL_ARRAY, 0, NULL, "zero", T0, 30),
	};
	struct reload_stored_data far = val(RELOAD_MODEL_ARRAY, 5, NULL, "five", T0, 60);
	struct reload_store_kind_data kd = kd1(2, 0, v, 3);
	struct reload_array_range r[2] = {{1, 2}, {3, 0xffffffffu}};
	struct reload_stored_data_specifier spec = {
	    .kind = 2, .model = RELOAD_MODEL_ARRAY, .indices = r, .index_count = 2};
	struct reload_fetch_kind_response fr;
	struct reload_store_kind_data ex;
	struct reload_arena *ar = reload_arena_new();
	uint64_t gen;

	CU_ASSERT_EQUAL_FATAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	/* [zero, NA, two, three]; a store at index 5 would exceed max-count */
	kd = kd1(2, 0, &far, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), -EFBIG);
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL_FATAL(fr.value_count, 3);
	CU_ASSERT_EQUAL(fr.values[0].value.index, 1);
	CU_ASSERT_FALSE(fr.values[0].value.value.exists);
	CU_ASSERT_EQUAL(fr.values[1].value.index, 2);
	CU_ASSERT_EQUAL(memcmp(fr.values[1].value.value.value.data, "two", 3), 0);
	CU_ASSERT_EQUAL(fr.values[2].value.index, 3); /* the appended entry got its index */
	CU_ASSERT_EQUAL(memcmp(fr.values[2].value.value.value.data, "three", 5), 0);
	/* all entries, then after index 0 expired (30 s lifetime) */
	spec.index_count = 0;
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL(fr.value_count, 4);
	CU_ASSERT_EQUAL(reload_kind_store_export(ks, T0 + 30000, ar, &ex), 0);
	CU_ASSERT_EQUAL_FATAL(ex.value_count, 2);
	CU_ASSERT_EQUAL(ex.values[0].lifetime, 30); /* 60 s minus the 30 s held */
	CU_ASSERT_EQUAL(ex.generation, 1);
	reload_kind_store_free(ks);
	reload_arena_free(ar);
}

static void test_dictionary_and_stat(void)
{
	struct reload_kind_def k = {
	    .id = 3, .model = RELOAD_MODEL_DICTIONARY, .policy = 1, .max_count = 2, .max_size = 16};
	struct reload_kind_store *ks = reload_kind_store_new(&k);
	struct reload_stored_data v[2] = {
	    val(RELOAD_MODEL_DICTIONARY, 0, "peer-a", "addr-a", T0, 60),
	    val(RELOAD_MODEL_DICTIONARY, 0, "peer-b", "addr-b", T0, 60),
	};
	struct reload_stored_data c = val(RELOAD_MODEL_DICTIONARY, 0, "peer-c", "addr-c", T0, 60);
	struct reload_stored_data a2 =
	    val(RELOAD_MODEL_DICTIONARY, 0, "peer-a", "new-a", T0 + 1, 60);
	struct reload_stored_data gone =
	    val(RELOAD_MODEL_DICTIONARY, 0, "peer-b", NULL, T0 + 2, 60);
	struct reload_store_kind_data kd = kd1(3, 0, v, 2);
	struct reload_bytes keys[2] = {{(const uint8_t *)"peer-a", 6},
				       {(const uint8_t *)"nobody", 6}};
	struct reload_stored_data_specifier spec = {.kind = 3, .model = RELOAD_MODEL_DICTIONARY};
	struct reload_fetch_kind_response fr;
	struct reload_stat_kind_response st;
	struct reload_arena *ar = reload_arena_new();
	uint8_t digest[SHA256_DIGEST_LENGTH], lenval[4 + 5];
	uint64_t gen;

	CU_ASSERT_EQUAL_FATAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	kd = kd1(3, 0, &c, 1);
	CU_ASSERT_EQUAL(reload_kind_store_check(ks, &kd, false, T0), -EFBIG);
	/* check changed nothing; replacing an existing key stays within max-count */
	kd = kd1(3, 0, &a2, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	kd = kd1(3, 0, &gone, 1);
	CU_ASSERT_EQUAL(reload_kind_store_apply(ks, &kd, false, T0, &gen), 0);
	CU_ASSERT_EQUAL(gen, 3);
	/* wildcard: both keys, peer-b stored as nonexistent (§7.4.1.3) */
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL(fr.value_count, 2);
	spec.keys = keys;
	spec.key_count = 2;
	CU_ASSERT_EQUAL(reload_kind_store_fetch(ks, &spec, T0, ar, &fr), 0);
	CU_ASSERT_EQUAL_FATAL(fr.value_count, 2);
	CU_ASSERT_EQUAL(memcmp(fr.values[0].value.value.value.data, "new-a", 5), 0);
	CU_ASSERT_FALSE(fr.values[1].value.value.exists);
	CU_ASSERT_EQUAL(fr.values[1].value.key.len, 6);
	/* Stat: SHA-256 over the value with its 4 length bytes */
	spec.key_count = 1;
	CU_ASSERT_EQUAL(reload_kind_store_stat(ks, &spec, T0, ar, &st), 0);
	CU_ASSERT_EQUAL_FATAL(st.value_count, 1);
	pcdn_put_be32(lenval, 5);
	memcpy(lenval + 4, "new-a", 5);
	SHA256(lenval, sizeof(lenval), digest);
	CU_ASSERT_EQUAL(st.values[0].meta.value_length, 5);
	CU_ASSERT_EQUAL(st.values[0].meta.hash_alg, RELOAD_HASH_SHA256);
	CU_ASSERT_EQUAL_FATAL(st.values[0].meta.hash_value.len, SHA256_DIGEST_LENGTH);
	CU_ASSERT_EQUAL(memcmp(st.values[0].meta.hash_value.data, digest, sizeof(digest)), 0);
	CU_ASSERT_EQUAL(st.values[0].key.len, 6);
	CU_ASSERT_EQUAL(st.generation, 3);
	reload_kind_store_free(ks);
	reload_arena_free(ar);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_storage_data", NULL, NULL);
	CU_add_test(s, "single value", test_single);
	CU_add_test(s, "array", test_array);
	CU_add_test(s, "dictionary and stat", test_dictionary_and_stat);
	return test_run();
}
