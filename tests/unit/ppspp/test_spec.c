/* CUnit suite "ppspp spec": RFC 7574 §4 chunk addressing. Bin arithmetic against the tree of
 * Figure 2 and exhaustively on small trees, the special bins, spec wire sizes, and
 * spec_to_chunks / spec_from_chunks for every chunk addressing method (§7.8 Table 6). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "ppspp.h"

/* Figure 2: bins 0..14 over chunks C0..C7. */
static const struct {
	uint64_t bin;
	unsigned layer;
	uint64_t parent, sibling, first, width;
} fig2[] = {
	{ 0, 0, 1, 2, 0, 1 },    { 2, 0, 1, 0, 1, 1 },    { 4, 0, 5, 6, 2, 1 },
	{ 6, 0, 5, 4, 3, 1 },    { 8, 0, 9, 10, 4, 1 },   { 10, 0, 9, 8, 5, 1 },
	{ 12, 0, 13, 14, 6, 1 }, { 14, 0, 13, 12, 7, 1 }, { 1, 1, 3, 5, 0, 2 },
	{ 5, 1, 3, 1, 2, 2 },    { 9, 1, 11, 13, 4, 2 },  { 13, 1, 11, 9, 6, 2 },
	{ 3, 2, 7, 11, 0, 4 },   { 11, 2, 7, 3, 4, 4 },   { 7, 3, 15, 23, 0, 8 },
};

static void test_bin_figure2(void)
{
	for (size_t i = 0; i < sizeof(fig2) / sizeof(fig2[0]); i++) {
		uint64_t b = fig2[i].bin;

		CU_ASSERT_EQUAL(ppspp_bin_layer(b), fig2[i].layer);
		CU_ASSERT_EQUAL(ppspp_bin_parent(b), fig2[i].parent);
		CU_ASSERT_EQUAL(ppspp_bin_sibling(b), fig2[i].sibling);
		CU_ASSERT_EQUAL(ppspp_bin_base_left(b), fig2[i].first);
		CU_ASSERT_EQUAL(ppspp_bin_base_width(b), fig2[i].width);
		CU_ASSERT_EQUAL(ppspp_bin_make(fig2[i].layer, fig2[i].first >> fig2[i].layer), b);
		CU_ASSERT_EQUAL(ppspp_bin_is_left(b), b < fig2[i].sibling);
		/* binP = (binL + binR) / 2 */
		if (fig2[i].layer > 0)
			CU_ASSERT_EQUAL((ppspp_bin_left(b) + ppspp_bin_right(b)) / 2, b);
	}
	CU_ASSERT_EQUAL(ppspp_bin_left(7), 3);
	CU_ASSERT_EQUAL(ppspp_bin_right(7), 11);
	CU_ASSERT_EQUAL(ppspp_bin_left(3), 1);
	CU_ASSERT_EQUAL(ppspp_bin_right(3), 5);
	CU_ASSERT_EQUAL(ppspp_bin_left(13), 12);
	CU_ASSERT_EQUAL(ppspp_bin_right(13), 14);
	for (uint64_t c = 0; c < 8; c++)
		CU_ASSERT_EQUAL(ppspp_bin_from_chunk(c), 2 * c);
}

static void test_bin_exhaustive(void)
{
	/* Every bin below 2^12: children partition the parent's chunks; the parent of each
	 * child is the bin; siblings are mutual. */
	for (uint64_t b = 0; b < 4096; b++) {
		unsigned l = ppspp_bin_layer(b);
		uint64_t p = ppspp_bin_parent(b), s = ppspp_bin_sibling(b);

		CU_ASSERT_EQUAL(ppspp_bin_sibling(s), b);
		CU_ASSERT_EQUAL(ppspp_bin_parent(s), p);
		CU_ASSERT_EQUAL(ppspp_bin_layer(p), l + 1);
		CU_ASSERT_EQUAL(ppspp_bin_is_left(b) ? ppspp_bin_left(p) : ppspp_bin_right(p), b);
		CU_ASSERT_NOT_EQUAL(ppspp_bin_is_left(b), ppspp_bin_is_left(s));
		CU_ASSERT_EQUAL(ppspp_bin_base_width(p), 2 * ppspp_bin_base_width(b));
		CU_ASSERT_TRUE(ppspp_bin_base_left(p) <= ppspp_bin_base_left(b));
		if (l > 0) {
			uint64_t L = ppspp_bin_left(b), R = ppspp_bin_right(b);

			CU_ASSERT_EQUAL(ppspp_bin_parent(L), b);
			CU_ASSERT_EQUAL(ppspp_bin_parent(R), b);
			CU_ASSERT_EQUAL(ppspp_bin_base_left(L), ppspp_bin_base_left(b));
			CU_ASSERT_EQUAL(ppspp_bin_base_left(R),
					ppspp_bin_base_left(b) + ppspp_bin_base_width(L));
		}
		CU_ASSERT_EQUAL(ppspp_bin_make(l, ppspp_bin_base_left(b) >> l), b);
	}
}

static void test_bin_special(void)
{
	/* 0x7FFF...F is "everything"; all ones is empty (§4.2). */
	CU_ASSERT_EQUAL(ppspp_bin_layer(0x7FFFFFFF), 31);
	CU_ASSERT_EQUAL(ppspp_bin_base_left(0x7FFFFFFF), 0);
	CU_ASSERT_EQUAL(ppspp_bin_base_width(0x7FFFFFFF), 1ull << 31);
	CU_ASSERT_EQUAL(ppspp_bin_layer(INT64_MAX), 63);
	CU_ASSERT_EQUAL(ppspp_bin_base_left(INT64_MAX), 0);
	CU_ASSERT_EQUAL(ppspp_bin_base_width(INT64_MAX), 1ull << 63);
	CU_ASSERT_EQUAL(ppspp_bin_make(63, 0), INT64_MAX);
	CU_ASSERT_EQUAL(ppspp_bin_parent(INT64_MAX), PPSPP_BIN64_NONE);
	CU_ASSERT_EQUAL(ppspp_bin_sibling(INT64_MAX), PPSPP_BIN64_NONE);
	CU_ASSERT_TRUE(ppspp_bin_is_left(INT64_MAX));
	CU_ASSERT_EQUAL(ppspp_bin_parent(INT64_MAX >> 1), INT64_MAX);
	CU_ASSERT_EQUAL(ppspp_bin_parent(INT64_MAX >> 1 | (1ull << 63)), INT64_MAX);
	CU_ASSERT_EQUAL(ppspp_bin_left(INT64_MAX), INT64_MAX >> 1);
	CU_ASSERT_EQUAL(ppspp_bin_layer(PPSPP_BIN64_NONE), 64);
	CU_ASSERT_EQUAL(ppspp_bin_base_width(PPSPP_BIN64_NONE), 0);
	CU_ASSERT_EQUAL(ppspp_bin_parent(PPSPP_BIN64_NONE), PPSPP_BIN64_NONE);
	CU_ASSERT_EQUAL(ppspp_bin_sibling(PPSPP_BIN64_NONE), PPSPP_BIN64_NONE);
	CU_ASSERT_EQUAL(ppspp_bin_make(64, 0), PPSPP_BIN64_NONE);
}

static void test_sizes(void)
{
	CU_ASSERT_EQUAL(ppspp_spec_size(PPSPP_CAM_BIN32), 4);
	CU_ASSERT_EQUAL(ppspp_spec_size(PPSPP_CAM_BYTE64), 16);
	CU_ASSERT_EQUAL(ppspp_spec_size(PPSPP_CAM_CHUNK32), 8);
	CU_ASSERT_EQUAL(ppspp_spec_size(PPSPP_CAM_BIN64), 8);
	CU_ASSERT_EQUAL(ppspp_spec_size(PPSPP_CAM_CHUNK64), 16);
	CU_ASSERT_EQUAL(ppspp_spec_size(5), 0);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(PPSPP_CAM_BIN32), 4);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(PPSPP_CAM_CHUNK32), 4);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(PPSPP_CAM_BYTE64), 8);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(PPSPP_CAM_BIN64), 8);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(PPSPP_CAM_CHUNK64), 8);
	CU_ASSERT_EQUAL(ppspp_discard_window_size(255), 0);
	CU_ASSERT_EQUAL(ppspp_hash_len(PPSPP_HASH_SHA1), 20);
	CU_ASSERT_EQUAL(ppspp_hash_len(PPSPP_HASH_SHA224), 28);
	CU_ASSERT_EQUAL(ppspp_hash_len(PPSPP_HASH_SHA256), 32);
	CU_ASSERT_EQUAL(ppspp_hash_len(PPSPP_HASH_SHA384), 48);
	CU_ASSERT_EQUAL(ppspp_hash_len(PPSPP_HASH_SHA512), 64);
	CU_ASSERT_EQUAL(ppspp_hash_len(5), 0);
}

static void test_spec_wire(void)
{
	uint8_t b[16];
	struct ppspp_spec s = { 0x0102030405060708ull, 0x1112131415161718ull }, d;

	CU_ASSERT_EQUAL(ppspp_spec_encode(PPSPP_CAM_CHUNK64, &s, b, sizeof(b)), 16);
	CU_ASSERT_EQUAL(b[0], 0x01);
	CU_ASSERT_EQUAL(b[8], 0x11);
	CU_ASSERT_EQUAL(b[15], 0x18);
	CU_ASSERT_EQUAL(ppspp_spec_decode(PPSPP_CAM_CHUNK64, b, 16, &d), 16);
	CU_ASSERT_EQUAL(d.a, s.a);
	CU_ASSERT_EQUAL(d.b, s.b);
	CU_ASSERT_EQUAL(ppspp_spec_decode(PPSPP_CAM_CHUNK64, b, 15, &d), -PPSPP_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(ppspp_spec_encode(PPSPP_CAM_CHUNK64, &s, b, 15), -ENOSPC);
	CU_ASSERT_EQUAL(ppspp_spec_encode(PPSPP_CAM_CHUNK32, &s, b, 16), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_encode(PPSPP_CAM_BIN64, &s, b, 16), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_encode(7, &s, b, 16), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_decode(7, b, 16, &d), -PPSPP_ERR_NO_CONTEXT);
	s = (struct ppspp_spec){ 0xFFFFFFFF, 0 };
	CU_ASSERT_EQUAL(ppspp_spec_encode(PPSPP_CAM_BIN32, &s, b, 4), 4);
	CU_ASSERT_EQUAL(memcmp(b, "\xff\xff\xff\xff", 4), 0);
	CU_ASSERT_EQUAL(ppspp_spec_decode(PPSPP_CAM_BIN32, b, 4, &d), 4);
	CU_ASSERT_EQUAL(d.a, 0xFFFFFFFF);
	CU_ASSERT_EQUAL(d.b, 0xFFFFFFFF);
	/* end < start */
	memcpy(b, "\0\0\0\x05\0\0\0\x04", 8);
	CU_ASSERT_EQUAL(ppspp_spec_decode(PPSPP_CAM_CHUNK32, b, 8, &d), -PPSPP_ERR_BAD_VALUE);
}

static void test_to_chunks(void)
{
	struct ppspp_spec s;
	uint64_t f, l;

	/* bins */
	s = (struct ppspp_spec){ 11, 11 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN32, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 4);
	CU_ASSERT_EQUAL(l, 7);
	s.a = 0x7FFFFFFF;
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN32, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 0);
	CU_ASSERT_EQUAL(l, 0x7FFFFFFF);
	s.a = PPSPP_BIN32_NONE;
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN32, 1024, &s, &f, &l), -EINVAL);
	s.a = 0x100000000ull;
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN32, 1024, &s, &f, &l), -EINVAL);
	s.a = INT64_MAX;
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN64, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 0);
	CU_ASSERT_EQUAL(l, (uint64_t)INT64_MAX);
	s.a = PPSPP_BIN64_NONE;
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN64, 1024, &s, &f, &l), -EINVAL);
	s.a = 0xFFFFFFFF; /* an ordinary bin on a 64-bit channel */
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN64, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 0);
	CU_ASSERT_EQUAL(l, 0xFFFFFFFFull);
	/* chunk ranges */
	s = (struct ppspp_spec){ 3, 9 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_CHUNK32, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 3);
	CU_ASSERT_EQUAL(l, 9);
	s = (struct ppspp_spec){ 9, 3 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_CHUNK32, 1024, &s, &f, &l), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_CHUNK64, 1024, &s, &f, &l), -EINVAL);
	s = (struct ppspp_spec){ 1ull << 40, UINT64_MAX };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_CHUNK64, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(l, UINT64_MAX);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_CHUNK32, 1024, &s, &f, &l), -EINVAL);
	/* byte ranges: the chunks touched */
	s = (struct ppspp_spec){ 0, 1023 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 0);
	CU_ASSERT_EQUAL(l, 0);
	s = (struct ppspp_spec){ 1000, 2048 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, 1024, &s, &f, &l), 0);
	CU_ASSERT_EQUAL(f, 0);
	CU_ASSERT_EQUAL(l, 2);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, PPSPP_CHUNK_SIZE_VARIABLE, &s, &f,
					     &l), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, 0, &s, &f, &l), -EINVAL);
	s = (struct ppspp_spec){ 2048, 1000 };
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, 1024, &s, &f, &l), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(9, 1024, &s, &f, &l), -EINVAL);
}

static void test_from_chunks_bins(void)
{
	struct ppspp_spec out[130];

	/* 3..12 = C3 (bin 6), C4..C7 (bin 11), C8..C11 (bin 19), C12 (bin 24) */
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 3, 12, out, 8), 4);
	CU_ASSERT_EQUAL(out[0].a, 6);
	CU_ASSERT_EQUAL(out[1].a, 11);
	CU_ASSERT_EQUAL(out[2].a, 19);
	CU_ASSERT_EQUAL(out[3].a, 24);
	CU_ASSERT_EQUAL(out[3].b, 24);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 3, 12, out, 3), -ENOSPC);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 0, 7, out, 1), 1);
	CU_ASSERT_EQUAL(out[0].a, 7);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 0, 0x7FFFFFFF, out, 1), 1);
	CU_ASSERT_EQUAL(out[0].a, 0x7FFFFFFF);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 0, 0x80000000ull, out, 8),
			-EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN64, 1024, 0, INT64_MAX, out, 1), 1);
	CU_ASSERT_EQUAL(out[0].a, (uint64_t)INT64_MAX);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN64, 1024, 0, 1ull << 63, out, 8),
			-EINVAL);
	/* The worst case in 64 bits: 1 .. 2^63-2 takes 2*62 bins. */
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN64, 1024, 1, INT64_MAX - 1, out, 130),
			124);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BIN32, 1024, 5, 4, out, 8), -EINVAL);

	/* Exhaustive over small ranges: contiguous, aligned, and each bin the largest that fits
	 * at its position. */
	for (uint64_t first = 0; first < 70; first++) {
		for (uint64_t last = first; last < 70; last++) {
			int n =
			    ppspp_spec_from_chunks(PPSPP_CAM_BIN64, 1024, first, last, out, 130);
			uint64_t pos = first;

			CU_ASSERT_FATAL(n > 0);
			for (int i = 0; i < n; i++) {
				uint64_t f, l, w = ppspp_bin_base_width(out[i].a);

				CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BIN64, 1024, &out[i],
								     &f, &l), 0);
				CU_ASSERT_EQUAL(f, pos);
				CU_ASSERT_EQUAL(f % w, 0);
				/* the next larger bin would start here and fit: not maximal */
				CU_ASSERT_FALSE(f % (2 * w) == 0 && f + 2 * w - 1 <= last);
				pos = l + 1;
			}
			CU_ASSERT_EQUAL(pos, last + 1);
		}
	}
}

static void test_from_chunks_ranges(void)
{
	struct ppspp_spec out[2];
	uint64_t f, l;

	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_CHUNK32, 1024, 3, 12, out, 2), 1);
	CU_ASSERT_EQUAL(out[0].a, 3);
	CU_ASSERT_EQUAL(out[0].b, 12);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_CHUNK32, 1024, 3, 1ull << 32, out, 2),
			-EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_CHUNK32, 1024, 3, 12, out, 0), -ENOSPC);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_CHUNK64, 1024, 3, 1ull << 50, out, 2), 1);
	CU_ASSERT_EQUAL(out[0].b, 1ull << 50);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_CHUNK64, 1024, 9, 3, out, 2), -EINVAL);
	/* byte ranges */
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BYTE64, 1024, 2, 3, out, 2), 1);
	CU_ASSERT_EQUAL(out[0].a, 2048);
	CU_ASSERT_EQUAL(out[0].b, 4095);
	CU_ASSERT_EQUAL(ppspp_spec_to_chunks(PPSPP_CAM_BYTE64, 1024, &out[0], &f, &l), 0);
	CU_ASSERT_EQUAL(f, 2);
	CU_ASSERT_EQUAL(l, 3);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BYTE64, 1024, 0, 1ull << 60, out, 2),
			-EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(PPSPP_CAM_BYTE64, PPSPP_CHUNK_SIZE_VARIABLE, 0, 1,
					       out, 2), -EINVAL);
	CU_ASSERT_EQUAL(ppspp_spec_from_chunks(9, 1024, 0, 1, out, 2), -EINVAL);
	/* Every cam: from_chunks then to_chunks gives the range back. */
	for (uint8_t cam = 0; cam < 5; cam++) {
		static const uint64_t r[][2] = { { 0, 0 }, { 0, 1 }, { 5, 5 }, { 6, 1000 },
						 { 1023, 4096 } };

		for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
			struct ppspp_spec o[64];
			int n = ppspp_spec_from_chunks(cam, 512, r[i][0], r[i][1], o, 64);

			CU_ASSERT_FATAL(n > 0);
			CU_ASSERT_EQUAL(ppspp_spec_to_chunks(cam, 512, &o[0], &f, &l), 0);
			CU_ASSERT_EQUAL(f, r[i][0]);
			CU_ASSERT_EQUAL(ppspp_spec_to_chunks(cam, 512, &o[n - 1], &f, &l), 0);
			CU_ASSERT_EQUAL(l, r[i][1]);
		}
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ppspp_spec", NULL, NULL);
	CU_add_test(s, "bin_figure2", test_bin_figure2);
	CU_add_test(s, "bin_exhaustive", test_bin_exhaustive);
	CU_add_test(s, "bin_special", test_bin_special);
	CU_add_test(s, "sizes", test_sizes);
	CU_add_test(s, "spec_wire", test_spec_wire);
	CU_add_test(s, "to_chunks", test_to_chunks);
	CU_add_test(s, "from_chunks_bins", test_from_chunks_bins);
	CU_add_test(s, "from_chunks_ranges", test_from_chunks_ranges);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
