/* Command-line options that pcdn-source and pcdn-get share (--hash, --chunk-size, --log-level).
 * Each reports a bad value on stderr as "PROG: ..." and returns -EINVAL; 0 otherwise. */
#ifndef PCDN_CLI_OPTS_H
#define PCDN_CLI_OPTS_H

#include <stdint.h>

/* A hash function name (sha1 ... sha512) into its PPSPP_HASH_* value. */
int cli_opt_hash(const char *prog, const char *arg, int *hash_fn);
/* A chunk size in bytes, 1..65000 (a chunk travels in one datagram). */
int cli_opt_chunk_size(const char *prog, const char *arg, uint32_t *chunk_size);
/* A log level, set for every component. */
int cli_opt_log_level(const char *prog, const char *arg);

#endif
