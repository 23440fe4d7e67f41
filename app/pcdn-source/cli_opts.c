#include "cli_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "pcdn_common.h"
#include "ppspp.h"

int cli_opt_hash(const char *prog, const char *arg, int *hash_fn)
{
	int h = ppspp_hash_from_name(arg);

	if (h < 0) {
		fprintf(stderr,
			"%s: unknown hash '%s' (expected sha1, sha224, sha256, sha384 or sha512)\n",
			prog, arg);
		return -EINVAL;
	}
	*hash_fn = h;
	return 0;
}

int cli_opt_chunk_size(const char *prog, const char *arg, uint32_t *chunk_size)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (*end || v == 0 || v > 65000) {
		fprintf(stderr, "%s: bad chunk size '%s' (1..65000)\n", prog, arg);
		return -EINVAL;
	}
	*chunk_size = (uint32_t)v;
	return 0;
}

int cli_opt_log_level(const char *prog, const char *arg)
{
	enum pcdn_log_level lvl;

	if (pcdn_log_level_parse(arg, &lvl) < 0) {
		fprintf(stderr, "%s: bad log level '%s'\n", prog, arg);
		return -EINVAL;
	}
	pcdn_log_set_level("*", lvl);
	return 0;
}
