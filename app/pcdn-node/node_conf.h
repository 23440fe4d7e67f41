/* pcdn-node's own settings (libconfig): addresses, credentials, bootstrap peers, the overlay
 * configuration document and the control socket. Errors name file, line and key. */
#ifndef PCDN_NODE_CONF_H
#define PCDN_NODE_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "pcdn_common.h"

#define NODE_CONF_MAX_BOOTSTRAP 32

struct node_conf {
	char overlay_path[PATH_MAX];
	char instance[256]; /* "" = the first configuration in the document */
	char cert_path[PATH_MAX];
	char key_path[PATH_MAX];
	bool tls_on, dtls_on;
	struct pcdn_addr tls, dtls;
	bool prefer_dtls;
	struct pcdn_addr bootstrap[NODE_CONF_MAX_BOOTSTRAP];
	size_t bootstrap_count;
	bool bootstrap_set; /* else the overlay's bootstrap-node elements are used */
	bool bootstrap_dtls;
	bool client;
	char control[108];
	unsigned replicas, neighbors, fingers;
	uint32_t update_interval_ms, finger_interval_ms, holddown_ms, sr_rto_ms;
	uint32_t reliability_ms; /* 0: the overlay's overlay-reliability-timer */
	char log_level[16];
};

/* Reads path; relative file names in it are taken from the file's directory. -EINVAL (err says
 * "file:line: key 'k': why") or -ENOENT. */
int node_conf_load(const char *path, struct node_conf *out, char *err, size_t errlen);

#endif
