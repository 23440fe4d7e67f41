/* CUnit: pcdn-cacherd's request->DATA latency histogram (app/pcdn-cacherd/ctl_latency.h, pure C):
 * bucket bounds, which request starts the clock, which DATA stops it, other peers untouched. */
#include <CUnit/Basic.h>
#include <stdint.h>

#include "ctl_latency.h"

static void test_buckets(void)
{
	/* Bucket k holds samples of at most 2^k us (above 2^(k-1) us). */
	CU_ASSERT_EQUAL(cacherd_latency_bucket(0), 0);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(1000), 0);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(1001), 1);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(2000), 1);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(2001), 2);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(1024000), 10);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(1024001), 11);
	CU_ASSERT_EQUAL(cacherd_latency_bucket(UINT64_MAX / 2), CACHERD_LAT_BUCKETS - 1);
	CU_ASSERT_EQUAL(cacherd_latency_bound_us(0), 1);
	CU_ASSERT_EQUAL(cacherd_latency_bound_us(10), 1024);
	CU_ASSERT_EQUAL(cacherd_latency_bound_us(CACHERD_LAT_BUCKETS - 1), UINT64_MAX);
	/* Every bound is in its own bucket. */
	for (unsigned k = 0; k + 1 < CACHERD_LAT_BUCKETS; k++)
		CU_ASSERT_EQUAL(cacherd_latency_bucket(cacherd_latency_bound_us(k) * 1000), k);
}

static void test_request_to_data(void)
{
	static struct cacherd_latency l;
	uint8_t a[16] = {10, 0, 0, 1}, b[16] = {10, 0, 0, 2};

	/* 1 GHz TSC: one cycle per ns. */
	cacherd_latency_init(&l, 1000000000);
	/* DATA without a pending request: nothing. */
	cacherd_latency_data(&l, 4, a, 5000, 100);
	CU_ASSERT_EQUAL(l.count, 0);
	/* The oldest pending request keeps the clock: 1000 -> 4000 = 3 us. */
	cacherd_latency_request(&l, 4, a, 5000, 1000);
	cacherd_latency_request(&l, 4, a, 5000, 2500);
	/* Another peer's DATA, and the same address on another port, do not stop it. */
	cacherd_latency_data(&l, 4, b, 5000, 3000);
	cacherd_latency_data(&l, 4, a, 5001, 3000);
	CU_ASSERT_EQUAL(l.count, 0);
	cacherd_latency_data(&l, 4, a, 5000, 4000);
	CU_ASSERT_EQUAL(l.count, 1);
	CU_ASSERT_EQUAL(l.sum_ns, 3000);
	CU_ASSERT_EQUAL(l.bucket[2], 1); /* 3 us: (2, 4] */
	/* The rest of a burst is not a new sample. */
	cacherd_latency_data(&l, 4, a, 5000, 5000);
	CU_ASSERT_EQUAL(l.count, 1);
	/* A slow one: 5 ms. */
	cacherd_latency_request(&l, 4, b, 6000, 10000);
	cacherd_latency_data(&l, 4, b, 6000, 10000 + 5000000);
	CU_ASSERT_EQUAL(l.count, 2);
	CU_ASSERT_EQUAL(l.bucket[13], 1); /* 5000 us: (4096, 8192] */
	CU_ASSERT_EQUAL(l.overwritten, 0);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ctl-latency", NULL, NULL);
	CU_add_test(s, "buckets", test_buckets);
	CU_add_test(s, "request_to_data", test_request_to_data);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
