/* pcdn common library: logging with levels and components, clocks, hex, random bytes, socket
 * addresses, and libconfig helpers whose errors name file, line and key. */
#ifndef PCDN_COMMON_H
#define PCDN_COMMON_H

#include <endian.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PCDN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PCDN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PCDN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PCDN_LIKELY(x) __builtin_expect(!!(x), 1)
#define PCDN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PCDN_CACHE_LINE 64

/* ---- logging ------------------------------------------------------------------------------ */

enum pcdn_log_level {
	PCDN_LOG_ERR = 0,
	PCDN_LOG_WARNING,
	PCDN_LOG_NOTICE,
	PCDN_LOG_INFO,
	PCDN_LOG_DEBUG,
};

/* A component is a small integer registered once by name ("ppspp", "cache", "reload", ...).
 * Levels are per component and may be changed at run time from any thread. */
int pcdn_log_register(const char *name);
/* pattern is a component name or "*" for all; returns the number of components changed. */
int pcdn_log_set_level(const char *pattern, enum pcdn_log_level level);
enum pcdn_log_level pcdn_log_get_level(int component);
int pcdn_log_level_parse(const char *s, enum pcdn_log_level *out);
const char *pcdn_log_level_name(enum pcdn_log_level level);
/* Output goes to stderr unless syslog is chosen (ident used for openlog). */
void pcdn_log_to_syslog(const char *ident);
void pcdn_log_to_stderr(void);
bool pcdn_log_enabled(int component, enum pcdn_log_level level);
void pcdn_log(int component, enum pcdn_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pcdn_vlog(int component, enum pcdn_log_level level, const char *fmt, va_list ap);

/* Declares a component variable initialised before main(). */
#define PCDN_LOG_COMPONENT(var, name)                                                              \
	int var;                                                                                   \
	__attribute__((constructor)) static void pcdn_log_init_##var(void)                         \
	{                                                                                          \
		var = pcdn_log_register(name);                                                     \
	}

#define PCDN_LOG(comp, lvl, ...)                                                                   \
	do {                                                                                       \
		if (pcdn_log_enabled((comp), PCDN_LOG_##lvl))                                      \
			pcdn_log((comp), PCDN_LOG_##lvl, __VA_ARGS__);                             \
	} while (0)

/* ---- time --------------------------------------------------------------------------------- */

uint64_t pcdn_now_ns(void); /* CLOCK_MONOTONIC */
uint64_t pcdn_now_us(void); /* CLOCK_MONOTONIC */
uint64_t pcdn_wall_us(void); /* CLOCK_REALTIME, microseconds since the Unix epoch */

/* ---- bytes -------------------------------------------------------------------------------- */

/* Writes 2*len hex digits and a NUL into out (size >= 2*len+1). */
void pcdn_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes an even-length hex string; -EINVAL on a bad digit or odd length, -ENOSPC if longer
 * than max bytes. */
int pcdn_hex_decode(const char *hex, uint8_t *out, size_t max, size_t *out_len);
/* Cryptographically secure random bytes (OpenSSL RAND_bytes); -EIO on failure. */
int pcdn_random_bytes(void *buf, size_t len);

/* Big-endian fields at any alignment: one byte swap (on little-endian hosts) and one unaligned
 * access each. Written byte by byte, the compiler keeps the single-byte stores at some call
 * sites (PPSPP headers, built per DATA), and a wider load of the same bytes soon after (a
 * checksum, a copy) then waits for them to leave the store buffer instead of taking them from
 * it. */
static inline void pcdn_put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void pcdn_put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}
static inline void pcdn_put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}
static inline uint16_t pcdn_get_be16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}
static inline uint32_t pcdn_get_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}
static inline uint64_t pcdn_get_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* A short copy (headers: tens to a few hundred bytes) as a few unaligned vector moves, the last
 * one overlapping the one before it, instead of a call or a string instruction. With profile
 * feedback GCC expands a variable-length memcpy of such sizes into `rep movsq`, whose start-up
 * cost was a fifth of lib/net's TX time on an Intel host: this copy for the workers' headers
 * measured 1.05-1.09x on the whole data plane, toggled every 0.5 s in one profile-guided
 * process (doc/BENCHMARKS.md). dst and src must not overlap. */
typedef uint8_t pcdn_v32 __attribute__((vector_size(32), aligned(1), may_alias));
typedef uint8_t pcdn_v16 __attribute__((vector_size(16), aligned(1), may_alias));
/* n in [w, 2w] bytes as two w-byte moves (w = 4 or 8, a constant once inlined), both loaded
 * before either is stored. */
static inline void pcdn_copy_ends(uint8_t *d, const uint8_t *s, size_t n, size_t w)
{
	uint64_t a, b;

	memcpy(&a, s, w);
	memcpy(&b, s + n - w, w);
	memcpy(d, &a, w);
	memcpy(d + n - w, &b, w);
}
static inline void pcdn_copy_short(void *__restrict dst, const void *__restrict src, size_t n)
{
	uint8_t *d = (uint8_t *)dst;
	const uint8_t *s = (const uint8_t *)src;

	if (n >= 32) {
		pcdn_v32 last = *(const pcdn_v32 *)(s + n - 32);
		/* A loop the compiler cannot turn back into memcpy: the tail is loaded first, and
		 * stored after the whole blocks. */
		for (size_t i = 0; i + 32 <= n; i += 32)
			*(pcdn_v32 *)(d + i) = *(const pcdn_v32 *)(s + i);
		*(pcdn_v32 *)(d + n - 32) = last;
	} else if (n >= 16) {
		pcdn_v16 a = *(const pcdn_v16 *)s, b = *(const pcdn_v16 *)(s + n - 16);
		*(pcdn_v16 *)d = a;
		*(pcdn_v16 *)(d + n - 16) = b;
	} else if (n >= 8) {
		pcdn_copy_ends(d, s, n, 8);
	} else if (n >= 4) {
		pcdn_copy_ends(d, s, n, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* ---- socket addresses --------------------------------------------------------------------- */

struct pcdn_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Parses "1.2.3.4:5", "[::1]:5" or "host:5" (numeric only: no DNS at run time). */
int pcdn_addr_parse(const char *s, struct pcdn_addr *out);
/* "1.2.3.4:5" or "[::1]:5"; returns out. */
const char *pcdn_addr_format(const struct pcdn_addr *a, char *out, size_t size);
bool pcdn_addr_equal(const struct pcdn_addr *a, const struct pcdn_addr *b);
uint16_t pcdn_addr_port(const struct pcdn_addr *a);

/* ---- errors ------------------------------------------------------------------------------- */

/* strerror for a negative errno-style code. */
const char *pcdn_strerror(int negative_errno);

/* ---- configuration (libconfig) ------------------------------------------------------------ */

struct config_t;
struct config_setting_t;

/* Error text buffers used by the config helpers: "file:line: key 'x': why". */
#define PCDN_ERR_MAX 512

/* Reads path into cfg (already initialised). On a syntax error, err gets "file:line: why". */
int pcdn_conf_read(struct config_t *cfg, const char *path, char *err, size_t errlen);

/* Typed lookups under parent. A missing key takes def (or fails with -ENOENT when required);
 * a value of the wrong type or out of range fails with -EINVAL; err names file, line and key. */
int pcdn_conf_int(const struct config_setting_t *parent, const char *key, bool required,
		  long long min, long long max, long long def, long long *out, char *err, size_t errlen);
int pcdn_conf_bool(const struct config_setting_t *parent, const char *key, bool required, bool def,
		   bool *out, char *err, size_t errlen);
/* The returned string belongs to the config tree. */
int pcdn_conf_string(const struct config_setting_t *parent, const char *key, bool required,
		     const char *def, const char **out, char *err, size_t errlen);
/* Fails with "file:line: unknown key 'x' (expected one of: a, b, c)" on keys not in allowed
 * (NULL-terminated): typos must not be silently ignored. */
int pcdn_conf_check_keys(const struct config_setting_t *group, const char *const *allowed,
			 char *err, size_t errlen);
/* Formats "file:line: key 'k': " + message into err. */
void pcdn_conf_error(const struct config_setting_t *s, const char *key, char *err, size_t errlen,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#ifdef __cplusplus
}
#endif

#endif
