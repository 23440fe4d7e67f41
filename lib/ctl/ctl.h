/* pcdn control protocol: the operator line protocol spoken on the unix sockets of pcdn-cacherd
 * and pcdn-node, and by pcdn-ctl.
 *
 * Request:  one command per line, words separated by blanks, "double quotes" group words and
 *           allow \" and \\ escapes; a leading "-j" asks for a JSON body. At most
 *           CTL_LINE_MAX bytes per line and CTL_ARGS_MAX words.
 * Reply:    "STATUS <code> <text>\n" (code 0 = success, otherwise a negative errno value),
 *           "LENGTH <n>\n", then exactly n bytes of body (text, or JSON with -j).
 * So a script can drive it with nothing but a socket: read two lines, then n bytes. */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTL_LINE_MAX 4096
#define CTL_ARGS_MAX 32
#define CTL_BODY_MAX (16u << 20)

/* ---- parsing (pure; fuzzed) ------------------------------------------------------------ */

struct ctl_cmdline {
	int argc;
	bool json;
	char *argv[CTL_ARGS_MAX];
	char buf[CTL_LINE_MAX]; /* argv points here */
};

/* Splits one line (without its newline; len bytes, need not be NUL-terminated). -EINVAL for an
 * unterminated quote, a dangling backslash or a NUL byte, -E2BIG for too many words, -EMSGSIZE
 * for an overlong line; *why (if non-NULL) gets a static explanation. An empty line gives
 * argc 0. */
int ctl_cmdline_parse(const char *line, size_t len, struct ctl_cmdline *out, const char **why);

/* ---- replies --------------------------------------------------------------------------- */

/* A growable reply body handed to command handlers. */
struct ctl_reply {
	char *buf;
	size_t len, cap;
	bool json;      /* the client asked for JSON */
	bool overflow;  /* the body hit CTL_BODY_MAX and was cut */
};
void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_reply_append(struct ctl_reply *r, const char *s, size_t len);
void ctl_reply_reset(struct ctl_reply *r);
/* Appends value (jansson; the reference is stolen) as one compact JSON line; -ENOMEM if NULL. */
struct json_t;
int ctl_reply_json(struct ctl_reply *r, struct json_t *value);
void ctl_reply_free(struct ctl_reply *r);

/* ---- server ---------------------------------------------------------------------------- */

struct ctl_server;
struct event_base;

/* A command handler: argv[0..argc) are the words after the matched command words. Returns 0 or
 * a negative errno; on error the body explains (the status text is strerror). */
typedef int (*ctl_handler_fn)(void *ctx, int argc, char **argv, struct ctl_reply *reply);

enum ctl_cmd_flags {
	CTL_CMD_READONLY = 1 << 0, /* allowed for read-only clients */
};

struct ctl_server_conf {
	const char *path;    /* unix socket path; an existing socket file is replaced */
	mode_t mode;         /* default 0600 */
	uid_t owner;         /* chown target, (uid_t)-1 to leave as is */
	gid_t group;         /* (gid_t)-1 for none */
	gid_t readonly_gid;  /* clients in this group may run read-only commands; (gid_t)-1: none */
	unsigned max_clients;/* connections beyond this are refused; default 256 */
};

/* Listens on the event base (the caller runs the loop). Clients are admitted by SO_PEERCRED:
 * uid 0 or the server's own uid get every command, members of readonly_gid the read-only ones,
 * anyone else is refused with a status line and disconnected. */
struct ctl_server *ctl_server_create(struct event_base *base, const struct ctl_server_conf *conf);
void ctl_server_free(struct ctl_server *s);
/* words is the command itself, e.g. "show stats" (longest match wins). */
int ctl_server_register(struct ctl_server *s, const char *words, ctl_handler_fn fn, void *ctx,
			unsigned flags, const char *help);
unsigned ctl_server_clients(const struct ctl_server *s);
/* Changes the read-only group at run time (config reload). With a group the socket file is given
 * to it with mode 0660 (connect() needs write permission), without one it goes back to the
 * configured mode. Existing connections keep the rights they were admitted with. 0 or -errno
 * (the group is changed for new clients even when chown/chmod fail). */
int ctl_server_set_readonly_gid(struct ctl_server *s, gid_t gid);
gid_t ctl_server_readonly_gid(const struct ctl_server *s);

/* ---- client ---------------------------------------------------------------------------- */

/* Connects to a control socket: returns an fd or a negative errno. */
int ctl_client_connect(const char *path);
/* Sends one command line and reads the reply; *body is malloc'd (NUL-terminated) and belongs to
 * the caller. Returns 0 when a reply was read (its code in *status), a negative errno on I/O or
 * protocol failure. */
int ctl_client_call(int fd, const char *line, int *status, char **body, size_t *body_len);

#ifdef __cplusplus
}
#endif

#endif
