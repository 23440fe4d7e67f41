/* libFuzzer target for the RFC 6940 §11.1 overlay configuration loader (libxml2 underneath):
 * any input gives a configuration or a clear error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "reload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reload_overlay_config *cfg = NULL;
	char err[512];

	if (reload_config_parse((const char *)data, size, "fuzz", NULL, &cfg, err, sizeof(err)) ==
	    0) {
		struct reload_trust *t = reload_trust_from_config(cfg);

		reload_trust_free(t);
		reload_config_free(cfg);
	}
	cfg = NULL;
	if (reload_config_parse((const char *)data, size, "fuzz", "cdn.pcdn.example", &cfg, err,
				sizeof(err)) == 0)
		reload_config_free(cfg);
	return 0;
}
