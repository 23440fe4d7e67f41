/* Control socket server on a libevent loop: admission by SO_PEERCRED, one command per line,
 * "STATUS/LENGTH/body" replies (ctl.h). Clients are untrusted: overlong lines, garbage and
 * half-closed connections end that client only. */
#include "ctl.h"
#include "pcdn_common.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <grp.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

PCDN_LOG_COMPONENT(ctl_log, "ctl")

struct ctl_cmd {
	char *words;
	int nwords;
	char *word[CTL_ARGS_MAX];
	ctl_handler_fn fn;
	void *ctx;
	unsigned flags;
	char *help;
};

struct ctl_server {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	struct ctl_server_conf conf;
	struct ctl_cmd *cmds;
	int ncmds, capcmds;
	unsigned nclients;
	struct ctl_conn *conns; /* open connections, freed with the server */
};

struct ctl_conn {
	struct ctl_server *srv;
	struct ctl_conn *prev, *next;
	struct bufferevent *bev;
	bool readonly;
	bool closing;
};

void ctl_reply_append(struct ctl_reply *r, const char *s, size_t len)
{
	if (r->overflow)
		return;
	if (r->len + len + 1 > CTL_BODY_MAX) {
		r->overflow = true;
		return;
	}
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 1024;
		while (cap < r->len + len + 1)
			cap *= 2;
		char *nb = realloc(r->buf, cap);
		if (!nb) {
			r->overflow = true;
			return;
		}
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, s, len);
	r->len += len;
	r->buf[r->len] = '\0';
}

void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		p = malloc((size_t)n + 1);
		if (!p) {
			r->overflow = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	ctl_reply_append(r, p, (size_t)n);
	if (p != small)
		free(p);
}

void ctl_reply_reset(struct ctl_reply *r)
{
	r->len = 0;
	r->overflow = false;
	if (r->buf)
		r->buf[0] = '\0';
}

void ctl_reply_free(struct ctl_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static void send_reply(struct ctl_conn *c, int status, const char *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *text = status == 0 ? "ok" : pcdn_strerror(status);

	evbuffer_add_printf(out, "STATUS %d %s\nLENGTH %zu\n", status, text, len);
	if (len)
		evbuffer_add(out, body, len);
}

static void conn_free(struct ctl_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	c->srv->nclients--;
	free(c);
}

static const struct ctl_cmd *match(const struct ctl_server *s, const struct ctl_cmdline *cl)
{
	const struct ctl_cmd *best = NULL;

	for (int i = 0; i < s->ncmds; i++) {
		const struct ctl_cmd *cmd = &s->cmds[i];
		if (cmd->nwords > cl->argc || (best && cmd->nwords <= best->nwords))
			continue;
		int k = 0;
		while (k < cmd->nwords && strcmp(cmd->word[k], cl->argv[k]) == 0)
			k++;
		if (k == cmd->nwords)
			best = cmd;
	}
	return best;
}

static int help_cmd(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	const struct ctl_server *s = ctx;

	(void)argc;
	(void)argv;
	if (r->json) {
		json_t *list = json_array();
		for (int i = 0; i < s->ncmds; i++)
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:b}", "command", s->cmds[i].words,
						"help", s->cmds[i].help, "readonly",
						(s->cmds[i].flags & CTL_CMD_READONLY) != 0));
		return ctl_reply_json(r, json_pack("{s:o}", "commands", list));
	}
	for (int i = 0; i < s->ncmds; i++)
		ctl_reply_printf(r, "%-32s %s%s\n", s->cmds[i].words, s->cmds[i].help,
				 (s->cmds[i].flags & CTL_CMD_READONLY) ? "" : " [admin]");
	return 0;
}

int ctl_reply_json(struct ctl_reply *r, json_t *value)
{
	char *text;

	if (!value)
		return -ENOMEM;
	text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(value);
	if (!text)
		return -ENOMEM;
	ctl_reply_append(r, text, strlen(text));
	ctl_reply_append(r, "\n", 1);
	free(text);
	return 0;
}

static void run_line(struct ctl_conn *c, const char *line, size_t len)
{
	struct ctl_cmdline *cl = malloc(sizeof(*cl));
	struct ctl_reply r = { 0 };
	const char *why = NULL;
	int rc;

	if (!cl) {
		send_reply(c, -ENOMEM, NULL, 0);
		return;
	}
	rc = ctl_cmdline_parse(line, len, cl, &why);
	if (rc < 0) {
		ctl_reply_printf(&r, "%s\n", why);
	} else if (cl->argc == 0) {
		rc = -EINVAL;
		ctl_reply_printf(&r, "empty command (try 'help')\n");
	} else {
		const struct ctl_cmd *cmd = match(c->srv, cl);
		r.json = cl->json;
		if (!cmd) {
			rc = -ENOENT;
			ctl_reply_printf(&r, "unknown command '%s' (try 'help')\n", cl->argv[0]);
		} else if (c->readonly && !(cmd->flags & CTL_CMD_READONLY)) {
			rc = -EPERM;
			ctl_reply_printf(&r, "'%s' needs an admin connection (this one is read-only)\n",
					 cmd->words);
		} else {
			rc = cmd->fn(cmd->ctx, cl->argc - cmd->nwords, cl->argv + cmd->nwords, &r);
			if (rc > 0)
				rc = 0;
		}
	}
	if (r.overflow)
		ctl_reply_printf(&r, "\n(reply truncated)\n");
	send_reply(c, rc, r.buf, r.len);
	ctl_reply_free(&r);
	free(cl);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;

	(void)bev;
	if (c->closing)
		conn_free(c);
}

static void close_after_flush(struct ctl_conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line)
			break;
		run_line(c, line, n);
		free(line);
	}
	if (evbuffer_get_length(in) >= CTL_LINE_MAX) {
		struct ctl_reply r = { 0 };
		ctl_reply_printf(&r, "line too long (limit %d bytes); closing\n", CTL_LINE_MAX);
		send_reply(c, -EMSGSIZE, r.buf, r.len);
		ctl_reply_free(&r);
		PCDN_LOG(ctl_log, WARNING, "client sent an overlong line; disconnected");
		close_after_flush(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		/* Half-closed: the client may have sent its last command without a newline. */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t n = evbuffer_get_length(in);
		if (n > 0 && n < CTL_LINE_MAX && !c->closing) {
			char *line = malloc(n);
			if (line) {
				evbuffer_remove(in, line, n);
				run_line(c, line, n);
				free(line);
			}
		}
		close_after_flush(c);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

static bool in_group(uid_t uid, gid_t primary, gid_t want)
{
	if (want == (gid_t)-1)
		return false;
	if (primary == want)
		return true;
	struct passwd pw, *pp = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pp) != 0 || !pp)
		return false;
	gid_t groups[64];
	int ng = 64;
	if (getgrouplist(pp->pw_name, pp->pw_gid, groups, &ng) < 0)
		return false;
	for (int i = 0; i < ng; i++)
		if (groups[i] == want)
			return true;
	return false;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct ctl_server *s = arg;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	bool admin, ro;

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		close(fd);
		return;
	}
	admin = cred.uid == 0 || cred.uid == geteuid();
	ro = !admin && in_group(cred.uid, cred.gid, ctl_server_readonly_gid(s));
	if ((!admin && !ro) || s->nclients >= s->conf.max_clients) {
		const char *msg = (!admin && !ro) ? "STATUS -13 permission denied\nLENGTH 0\n"
						  : "STATUS -11 too many clients\nLENGTH 0\n";
		ssize_t w = write(fd, msg, strlen(msg));
		(void)w;
		PCDN_LOG(ctl_log, NOTICE, "refused control client uid %u pid %d (%s)", cred.uid,
			 cred.pid, (!admin && !ro) ? "not authorised" : "too many clients");
		close(fd);
		return;
	}
	struct ctl_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->readonly = !admin;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		close(fd);
		return;
	}
	s->nclients++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct ctl_server *ctl_server_create(struct event_base *base, const struct ctl_server_conf *conf)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl_server *s;
	int fd, err;

	if (!conf->path || strlen(conf->path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base = base;
	s->conf = *conf;
	if (!s->conf.mode)
		s->conf.mode = 0600;
	if (!s->conf.max_clients)
		s->conf.max_clients = 256;
	s->path = strdup(conf->path);
	strcpy(sun.sun_path, conf->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || !s->path)
		goto fail;
	unlink(conf->path);
	/* Bind under a umask that leaves no window in which the socket is wider than asked. */
	mode_t old = umask(0777 & ~s->conf.mode);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (err < 0)
		goto fail;
	if (chmod(conf->path, s->conf.mode) < 0)
		goto fail;
	if ((conf->owner != (uid_t)-1 || conf->group != (gid_t)-1) &&
	    chown(conf->path, conf->owner, conf->group) < 0)
		goto fail;
	s->listener = evconnlistener_new(base, on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64, fd);
	if (!s->listener)
		goto fail;
	ctl_server_register(s, "help", help_cmd, s, CTL_CMD_READONLY, "list commands");
	return s;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	free(s->path);
	free(s);
	errno = err;
	return NULL;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	/* Clients still connected at shutdown are cut off (their pending replies dropped). */
	while (s->conns)
		conn_free(s->conns);
	evconnlistener_free(s->listener);
	unlink(s->path);
	for (int i = 0; i < s->ncmds; i++) {
		free(s->cmds[i].words);
		free(s->cmds[i].help);
	}
	free(s->cmds);
	free(s->path);
	free(s);
}

int ctl_server_register(struct ctl_server *s, const char *words, ctl_handler_fn fn, void *ctx,
			unsigned flags, const char *help)
{
	struct ctl_cmd *cmd;
	char *save = NULL;

	if (s->ncmds == s->capcmds) {
		int cap = s->capcmds ? s->capcmds * 2 : 32;
		struct ctl_cmd *n = realloc(s->cmds, sizeof(*n) * (size_t)cap);
		if (!n)
			return -ENOMEM;
		s->cmds = n;
		s->capcmds = cap;
	}
	cmd = &s->cmds[s->ncmds];
	memset(cmd, 0, sizeof(*cmd));
	/* Two copies: one kept whole for help, one cut into words for matching. */
	cmd->words = strdup(words);
	cmd->help = strdup(help ? help : "");
	char *split = malloc(strlen(words) + 1 + strlen(words) + 1);
	if (!cmd->words || !cmd->help || !split) {
		free(cmd->words);
		free(cmd->help);
		free(split);
		return -ENOMEM;
	}
	free(cmd->words);
	strcpy(split, words);
	cmd->words = split;
	char *tok = split + strlen(words) + 1;
	strcpy(tok, words);
	for (char *w = strtok_r(tok, " ", &save); w && cmd->nwords < CTL_ARGS_MAX;
	     w = strtok_r(NULL, " ", &save))
		cmd->word[cmd->nwords++] = w;
	if (cmd->nwords == 0) {
		free(cmd->words);
		free(cmd->help);
		return -EINVAL;
	}
	cmd->fn = fn;
	cmd->ctx = ctx;
	cmd->flags = flags;
	s->ncmds++;
	return 0;
}

unsigned ctl_server_clients(const struct ctl_server *s)
{
	return s->nclients;
}

int ctl_server_set_readonly_gid(struct ctl_server *s, gid_t gid)
{
	/* Atomic: a caller off the loop's thread (a test, a signal-driven reload) may change it
	 * while clients are admitted. */
	__atomic_store_n(&s->conf.readonly_gid, gid, __ATOMIC_RELAXED);
	if (gid != (gid_t)-1) {
		if (chown(s->path, (uid_t)-1, gid) < 0)
			return -errno;
		if (chmod(s->path, s->conf.mode | 0660) < 0)
			return -errno;
		return 0;
	}
	/* The file goes back to the configured group, or to ours (as bind made it). */
	if (chown(s->path, (uid_t)-1, s->conf.group != (gid_t)-1 ? s->conf.group : getegid()) < 0)
		return -errno;
	return chmod(s->path, s->conf.mode) < 0 ? -errno : 0;
}

gid_t ctl_server_readonly_gid(const struct ctl_server *s)
{
	return __atomic_load_n(&s->conf.readonly_gid, __ATOMIC_RELAXED);
}
