/* libFuzzer target: pcdn-node's configuration loader (libconfig text -> struct node_conf) on
 * arbitrary text. It must accept or fail with an error naming file and line, never crash; an
 * accepted configuration keeps the loader's promises. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct node_conf c;
	static int fd = -1;
	char path[64], err[PCDN_ERR_MAX];

	if (size > 65536)
		return 0;
	if (fd < 0)
		fd = memfd_create("node_conf", 0);
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	if (node_conf_load(path, &c, err, sizeof(err)) == 0) {
		if ((!c.tls_on && !c.dtls_on) || !c.control[0] || !c.overlay_path[0] ||
		    c.replicas < 1 || c.neighbors < c.replicas || c.fingers < 1 || c.fingers > 128 ||
		    c.bootstrap_count > NODE_CONF_MAX_BOOTSTRAP)
			abort();
	} else if (!err[0]) {
		abort(); /* every failure explains itself */
	}
	return 0;
}
