/* CUnit suite "reload_fragment" (RFC 6940 §6.7): splitting with a full header per fragment,
 * equal-sized pieces, reassembly in any order with duplicates, refragmentation of a fragment,
 * inconsistent fragments refused, buffer limit and timeout (clock passed in). */
#include <errno.h>

#include "reload_test_util.h"

static struct test_creds creds;

static int suite_init(void)
{
	return test_creds_make(&creds, RELOAD_KEY_EC_P256, "frag@" TEST_OVERLAY);
}

static int suite_clean(void)
{
	test_creds_free(&creds);
	return 0;
}

struct frags {
	uint8_t *f[64];
	size_t len[64];
	size_t n;
};

static int collect(void *ctx, const uint8_t *frag, size_t len)
{
	struct frags *fs = ctx;

	if (fs->n == 64)
		return -ENOSPC;
	fs->f[fs->n] = malloc(len);
	memcpy(fs->f[fs->n], frag, len);
	fs->len[fs->n++] = len;
	return 0;
}

static void frags_free(struct frags *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i]);
	fs->n = 0;
}

/* A signed Ping request with padding bytes 0, 1, 2, ... */
static void big_ping(struct reload_buf *out, size_t padding)
{
	struct reload_fwd_header h;
	struct reload_destination d;
	struct reload_codec_params p = test_params();
	union reload_body b;
	struct reload_node_id n;
	uint8_t *pad = malloc(padding);

	for (size_t i = 0; i < padding; i++)
		pad[i] = (uint8_t)i;
	memset(&h, 0, sizeof(h));
	test_node_id(&n, 3);
	reload_dest_node(&d, &n);
	h.overlay = 1;
	h.ttl = 10;
	h.transaction_id = 0xabcdef;
	h.dest = &d;
	h.dest_count = 1;
	memset(&b, 0, sizeof(b));
	b.ping_req.padding = (struct reload_bytes){pad, padding};
	reload_buf_init(out);
	CU_ASSERT_EQUAL(reload_message_build(&h, RELOAD_PING_REQ, &b, &p, creds.signer, out), 0);
	free(pad);
}

static void test_split_and_reassemble(void)
{
	struct reload_buf b;
	struct frags fs = {0};
	struct reload_reassembly *r = reload_reassembly_new(1 << 20, 0);
	struct reload_message *m;
	uint8_t *msg = NULL;
	size_t len = 0, hl;
	int n;

	big_ping(&b, 5000);
	hl = RELOAD_FIXED_HEADER_LEN + 18;
	n = reload_fragment_split(b.data, b.len, 16, 1400, collect, &fs);
	/* room per fragment: MTU - 32 (via growth) - header */
	CU_ASSERT_EQUAL_FATAL(n, (int)((b.len - hl + (1400 - 32 - hl) - 1) / (1400 - 32 - hl)));
	CU_ASSERT_TRUE_FATAL(n >= 4);
	for (size_t i = 0; i < fs.n; i++) {
		CU_ASSERT_TRUE(fs.len[i] <= 1400 - 32);
		CU_ASSERT_EQUAL(memcmp(fs.f[i], b.data, 12), 0);
		CU_ASSERT_EQUAL(pcdn_get_be32(fs.f[i] + 16), fs.len[i]);
		CU_ASSERT_EQUAL(pcdn_get_be32(fs.f[i] + 12) & RELOAD_FRAG_LAST,
				i + 1 == fs.n ? RELOAD_FRAG_LAST : 0);
		/* pieces are equal within a byte, the longer ones first */
		CU_ASSERT_TRUE(fs.len[i] <= fs.len[0] && fs.len[i] + 1 >= fs.len[0]);
	}
	CU_ASSERT_EQUAL(pcdn_get_be32(fs.f[1] + 12) & RELOAD_FRAG_OFFSET_MASK, fs.len[0] - hl);
	/* a fragment alone is not a message */
	CU_ASSERT_EQUAL(reload_message_decode(fs.f[1], fs.len[1], 16, 0, &m, NULL), -EAGAIN);
	/* reverse order, with a duplicate */
	for (size_t i = fs.n - 1; i >= 1; i--) {
		CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[i], fs.len[i], 16, 0, &msg, &len), 0);
		if (i == 2)
			CU_ASSERT_EQUAL(
			    reload_reassembly_add(r, fs.f[i], fs.len[i], 16, 0, &msg, &len), 0);
	}
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 1);
	CU_ASSERT_EQUAL_FATAL(reload_reassembly_add(r, fs.f[0], fs.len[0], 16, 0, &msg, &len), 1);
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 0);
	CU_ASSERT_EQUAL_FATAL(len, b.len);
	CU_ASSERT_EQUAL(memcmp(msg, b.data, len), 0);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(msg, len, 16, 0, &m, NULL), 0);
	CU_ASSERT_EQUAL(reload_message_verify(m, creds.trust, time(NULL), NULL), 0);
	reload_message_free(m);
	free(msg);
	frags_free(&fs);
	reload_reassembly_free(r);
	reload_buf_free(&b);
}

static void test_refragment(void)
{
	struct reload_buf b;
	struct frags fs = {0}, sub = {0};
	struct reload_reassembly *r = reload_reassembly_new(1 << 20, 0);
	uint8_t *msg = NULL;
	size_t len = 0;
	int rc = 0;

	big_ping(&b, 3000);
	CU_ASSERT_EQUAL_FATAL(reload_fragment_split(b.data, b.len, 16, 2000, collect, &fs), 2);
	/* a hop with a smaller MTU splits the first fragment again */
	CU_ASSERT_EQUAL_FATAL(reload_fragment_split(fs.f[0], fs.len[0], 16, 1200, collect, &sub),
			      2);
	CU_ASSERT_EQUAL(pcdn_get_be32(sub.f[1] + 12) & RELOAD_FRAG_LAST, 0);
	rc = reload_reassembly_add(r, sub.f[1], sub.len[1], 16, 0, &msg, &len);
	CU_ASSERT_EQUAL(rc, 0);
	rc = reload_reassembly_add(r, fs.f[1], fs.len[1], 16, 0, &msg, &len);
	CU_ASSERT_EQUAL(rc, 0);
	rc = reload_reassembly_add(r, sub.f[0], sub.len[0], 16, 0, &msg, &len);
	CU_ASSERT_EQUAL_FATAL(rc, 1);
	CU_ASSERT_EQUAL(len, b.len);
	CU_ASSERT_EQUAL(memcmp(msg, b.data, b.len), 0);
	free(msg);
	frags_free(&fs);
	frags_free(&sub);
	reload_reassembly_free(r);
	reload_buf_free(&b);
}

static void test_limits(void)
{
	struct reload_buf b;
	struct frags fs = {0};
	struct reload_reassembly *r;
	uint8_t *msg = NULL;
	size_t len = 0;

	big_ping(&b, 3000);
	/* a message that fits goes out unchanged */
	CU_ASSERT_EQUAL(reload_fragment_split(b.data, b.len, 16, 9000, collect, &fs), 1);
	CU_ASSERT_EQUAL(fs.len[0], b.len);
	frags_free(&fs);
	/* header + 32 + 256 bytes of body do not fit: no RELOAD fragmentation */
	CU_ASSERT_EQUAL(reload_fragment_split(b.data, b.len, 16, 300, collect, &fs), -EMSGSIZE);
	CU_ASSERT_EQUAL_FATAL(reload_fragment_split(b.data, b.len, 16, 1000, collect, &fs), 4);

	/* an unfragmented message comes straight back */
	r = reload_reassembly_new(2000, 15000);
	CU_ASSERT_EQUAL(reload_reassembly_add(r, b.data, b.len, 16, 0, &msg, &len), 1);
	CU_ASSERT_EQUAL(len, b.len);
	free(msg);
	/* the holding buffer is bounded: the message is dropped */
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[0], fs.len[0], 16, 0, &msg, &len), 0);
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[3], fs.len[3], 16, 0, &msg, &len), -ENOBUFS);
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 0);
	reload_reassembly_free(r);

	/* incomplete messages time out after the maximum request lifetime */
	r = reload_reassembly_new(1 << 20, 15000);
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[0], fs.len[0], 16, 1000, &msg, &len), 0);
	CU_ASSERT_EQUAL(reload_reassembly_expire(r, 15999), 0);
	CU_ASSERT_EQUAL(reload_reassembly_expire(r, 16000), 1);
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 0);

	/* overlapping bytes that differ: refused and dropped */
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[1], fs.len[1], 16, 0, &msg, &len), 0);
	fs.f[1][fs.len[1] - 1] ^= 0xff;
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[1], fs.len[1], 16, 0, &msg, &len), -EBADMSG);
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 0);
	/* data past the end announced by the last fragment */
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[3], fs.len[3], 16, 0, &msg, &len), 0);
	pcdn_put_be32(fs.f[2] + 12, RELOAD_FRAG_HIGH_BIT | 0x100000);
	CU_ASSERT_EQUAL(reload_reassembly_add(r, fs.f[2], fs.len[2], 16, 0, &msg, &len), -EBADMSG);
	/* garbage is refused without being held */
	CU_ASSERT_EQUAL(reload_reassembly_add(r, (const uint8_t *)"RELO", 4, 16, 0, &msg, &len),
			-ENOMSG);
	CU_ASSERT_EQUAL(reload_reassembly_pending(r), 0);
	reload_reassembly_free(r);
	frags_free(&fs);
	reload_buf_free(&b);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_fragment", suite_init, suite_clean);
	CU_add_test(s, "split and reassemble", test_split_and_reassemble);
	CU_add_test(s, "refragment a fragment", test_refragment);
	CU_add_test(s, "limits, timeout, inconsistent fragments", test_limits);
	return test_run();
}
