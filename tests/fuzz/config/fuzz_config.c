/* libFuzzer target: pcdn-cacherd's configuration loader (libconfig text -> struct) on arbitrary
 * text. It must return 0 or an error naming a line, never crash or read out of bounds; an
 * accepted configuration must satisfy the loader's own promises. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacherd_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cacherd_config c;
	char err[PCDN_ERR_MAX];
	char *text;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (cacherd_config_load_string(text, &c, err, sizeof(err)) == 0) {
		if (c.n_workers < 1 || c.n_workers > CACHERD_MAX_WORKERS || c.n_ports < 1 ||
		    c.n_ports > CACHERD_MAX_PORTS || c.ppspp_port == 0)
			abort();
		for (unsigned i = 0; i < c.n_ports; i++)
			if (c.ports[i].ifc.n_addrs < 1 || !c.ports[i].device[0])
				abort();
	} else if (strncmp(err, "(config)", 8) != 0) {
		abort(); /* every error says where */
	}
	free(text);
	return 0;
}
