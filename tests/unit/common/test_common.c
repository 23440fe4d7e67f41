/* CUnit suite "common": hex, big-endian fields, addresses, log levels, config errors with
 * file:line:key. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcdn_common.h"

static void test_hex(void)
{
	uint8_t b[4] = { 0x00, 0xab, 0x10, 0xff }, o[4];
	char s[9];
	size_t n;

	pcdn_hex_encode(b, 4, s);
	CU_ASSERT_STRING_EQUAL(s, "00ab10ff");
	CU_ASSERT_EQUAL(pcdn_hex_decode("00AB10ff", o, 4, &n), 0);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(memcmp(b, o, 4), 0);
	CU_ASSERT_EQUAL(pcdn_hex_decode("abc", o, 4, &n), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_hex_decode("zz", o, 4, &n), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_hex_decode("0011223344", o, 4, &n), -ENOSPC);
}

static void test_addr(void)
{
	struct pcdn_addr a, b;
	char s[64];

	CU_ASSERT_EQUAL(pcdn_addr_parse("127.0.0.1:7000", &a), 0);
	CU_ASSERT_STRING_EQUAL(pcdn_addr_format(&a, s, sizeof(s)), "127.0.0.1:7000");
	CU_ASSERT_EQUAL(pcdn_addr_port(&a), 7000);
	CU_ASSERT_EQUAL(pcdn_addr_parse("[::1]:80", &b), 0);
	CU_ASSERT_STRING_EQUAL(pcdn_addr_format(&b, s, sizeof(s)), "[::1]:80");
	CU_ASSERT_FALSE(pcdn_addr_equal(&a, &b));
	CU_ASSERT_EQUAL(pcdn_addr_parse("127.0.0.1", &a), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_addr_parse("127.0.0.1:70000", &a), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_addr_parse("[::1:80", &a), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_addr_parse("example.com:80", &a), -EINVAL);
	CU_ASSERT_EQUAL(pcdn_addr_parse(":80", &a), -EINVAL);
}

/* Network byte order at every alignment, and nothing written outside the field. */
static void test_be_fields(void)
{
	static const uint8_t want[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	uint8_t buf[16];

	for (unsigned off = 0; off < 8; off++) {
		memset(buf, 0xa5, sizeof(buf));
		pcdn_put_be64(buf + off, 0x0123456789abcdefull);
		CU_ASSERT(memcmp(buf + off, want, 8) == 0);
		CU_ASSERT(off == 0 || buf[off - 1] == 0xa5);
		CU_ASSERT(buf[off + 8] == 0xa5);
		CU_ASSERT(pcdn_get_be64(buf + off) == 0x0123456789abcdefull);
		CU_ASSERT(pcdn_get_be32(buf + off) == 0x01234567u);
		CU_ASSERT(pcdn_get_be16(buf + off + 6) == 0xcdef);

		memset(buf, 0xa5, sizeof(buf));
		pcdn_put_be32(buf + off, 0x89abcdefu);
		CU_ASSERT(memcmp(buf + off, want + 4, 4) == 0);
		CU_ASSERT(buf[off + 4] == 0xa5);
		CU_ASSERT(off == 0 || buf[off - 1] == 0xa5);

		memset(buf, 0xa5, sizeof(buf));
		pcdn_put_be16(buf + off, 0x4567);
		CU_ASSERT(buf[off] == 0x45 && buf[off + 1] == 0x67 && buf[off + 2] == 0xa5);
		CU_ASSERT(off == 0 || buf[off - 1] == 0xa5);
	}
}

/* Every length a header can have and then some, at every alignment of both ends: the bytes
 * copied are the source's, and nothing before or after the destination is touched. */
static void test_copy_short(void)
{
	uint8_t src[400], dst[416];

	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	for (size_t n = 0; n <= 300; n++)
		for (unsigned so = 0; so < 4; so++)
			for (unsigned dof = 0; dof < 4; dof++) {
				memset(dst, 0xa5, sizeof(dst));
				pcdn_copy_short(dst + 8 + dof, src + so, n);
				CU_ASSERT_FATAL(memcmp(dst + 8 + dof, src + so, n) == 0);
				for (unsigned k = 0; k < 8 + dof; k++)
					CU_ASSERT_FATAL(dst[k] == 0xa5);
				for (size_t k = 8 + dof + n; k < sizeof(dst); k++)
					CU_ASSERT_FATAL(dst[k] == 0xa5);
			}
}

static void test_log_levels(void)
{
	int c = pcdn_log_register("unit-test");
	enum pcdn_log_level l;

	CU_ASSERT_EQUAL(pcdn_log_register("unit-test"), c);
	CU_ASSERT_EQUAL(pcdn_log_level_parse("debug", &l), 0);
	CU_ASSERT_EQUAL(l, PCDN_LOG_DEBUG);
	CU_ASSERT_EQUAL(pcdn_log_level_parse("loud", &l), -EINVAL);
	CU_ASSERT(pcdn_log_set_level("unit-*", PCDN_LOG_DEBUG) >= 1);
	CU_ASSERT_TRUE(pcdn_log_enabled(c, PCDN_LOG_DEBUG));
	pcdn_log_set_level("unit-test", PCDN_LOG_ERR);
	CU_ASSERT_FALSE(pcdn_log_enabled(c, PCDN_LOG_WARNING));
}

static void test_conf_errors(void)
{
	char path[] = "/tmp/pcdn-test-conf-XXXXXX", err[PCDN_ERR_MAX];
	int fd = mkstemp(path);
	config_t cfg;
	long long v;
	const char *allowed[] = { "port", "name", NULL };

	CU_ASSERT_FATAL(fd >= 0);
	dprintf(fd, "port = 99999;\nname = \"x\";\nbogus = 1;\n");
	close(fd);
	config_init(&cfg);
	CU_ASSERT_EQUAL(pcdn_conf_read(&cfg, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pcdn_conf_int(config_root_setting(&cfg), "port", true, 1, 65535, 0, &v, err,
				      sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":1: key 'port'"));
	CU_ASSERT_EQUAL(pcdn_conf_check_keys(config_root_setting(&cfg), allowed, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: key 'bogus'"));
	CU_ASSERT_EQUAL(pcdn_conf_int(config_root_setting(&cfg), "missing", true, 0, 1, 0, &v, err,
				      sizeof(err)), -ENOENT);
	config_destroy(&cfg);

	fd = open(path, O_WRONLY | O_TRUNC);
	dprintf(fd, "a = 1;\nb = ;\n");
	close(fd);
	config_init(&cfg);
	CU_ASSERT_EQUAL(pcdn_conf_read(&cfg, path, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: "));
	config_destroy(&cfg);
	unlink(path);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("common", NULL, NULL);
	CU_add_test(s, "hex", test_hex);
	CU_add_test(s, "be_fields", test_be_fields);
	CU_add_test(s, "copy_short", test_copy_short);
	CU_add_test(s, "addr", test_addr);
	CU_add_test(s, "log_levels", test_log_levels);
	CU_add_test(s, "conf_errors", test_conf_errors);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
