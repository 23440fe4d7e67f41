/* libFuzzer target: the control protocol's line tokenizer (lib/ctl parse.c). Checks, beyond
 * "no crash", that every word returned lies inside the parse buffer and is NUL-terminated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_cmdline cl;

	if (ctl_cmdline_parse((const char *)data, size, &cl, NULL) < 0)
		return 0;
	if (cl.argc < 0 || cl.argc > CTL_ARGS_MAX)
		abort();
	for (int i = 0; i < cl.argc; i++) {
		if (cl.argv[i] < cl.buf || cl.argv[i] >= cl.buf + sizeof(cl.buf))
			abort();
		if (!memchr(cl.argv[i], '\0', (size_t)(cl.buf + sizeof(cl.buf) - cl.argv[i])))
			abort();
	}
	return 0;
}
