/* Control socket of pcdn-node. Lines are split by ctl_cmdline_parse (lib/ctl, fuzzed); replies
 * use the STATUS/LENGTH framing pcdn-ctl reads. A store or fetch answers when the overlay does;
 * a client that hangs up meanwhile is freed once its last answer has arrived. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "ctl.h"
#include "reload_overlay.h"

PCDN_LOG_COMPONENT(control_log, "node.control")

#define MAX_CLIENTS 256

struct client {
	struct node_control *ctl;
	struct bufferevent *bev;
	unsigned pending; /* commands waiting for the overlay */
	bool closed;
	struct client *next;
};

struct node_control {
	struct event_base *base;
	struct evconnlistener *lst;
	char path[108];
	struct reload_node *node;
	const struct reload_overlay_config *ocfg;
	void (*on_leave)(void *);
	void *arg;
	struct client *clients;
	unsigned nclients;
	bool leaving;
};

struct pending {
	struct client *cl;
	uint32_t kind;
	uint8_t model;
};

static void client_free(struct client *cl)
{
	struct node_control *ctl = cl->ctl;

	for (struct client **pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	ctl->nclients--;
	if (cl->bev)
		bufferevent_free(cl->bev);
	free(cl);
}

static void reply(struct client *cl, int status, const char *text, const void *body, size_t len)
{
	struct evbuffer *out;

	if (cl->closed || !cl->bev)
		return;
	out = bufferevent_get_output(cl->bev);
	evbuffer_add_printf(out, "STATUS %d %s\nLENGTH %zu\n", status, text, len);
	if (len)
		evbuffer_add(out, body, len);
}

static void reply_buf(struct client *cl, int status, struct reload_buf *b)
{
	reply(cl, status, status == 0 ? "ok" : pcdn_strerror(status), b->data, b->len);
}

static void reply_err(struct client *cl, int status, const char *why)
{
	size_t n = strlen(why);
	char body[256];

	snprintf(body, sizeof(body), "%s\n", why);
	reply(cl, status, pcdn_strerror(status), body, PCDN_MIN(n + 1, sizeof(body) - 1));
}

static void bprintf(struct reload_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct reload_buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		reload_buf_put(b, line, (size_t)PCDN_MIN(n, (int)sizeof(line) - 1));
}

/* Printable text as is, anything else as hex: (values are opaque bytes). */
static void put_bytes(struct reload_buf *b, const uint8_t *p, size_t len)
{
	bool text = len > 0;

	for (size_t i = 0; i < len && text; i++)
		text = p[i] > 0x20 && p[i] < 0x7f;
	if (text) {
		reload_buf_put(b, p, len);
		return;
	}
	reload_buf_put(b, "hex:", 4);
	for (size_t i = 0; i < len; i++)
		bprintf(b, "%02x", p[i]);
}

static int parse_bytes(const char *s, uint8_t *out, size_t max, size_t *len)
{
	if (strncmp(s, "hex:", 4) == 0)
		return pcdn_hex_decode(s + 4, out, max, len);
	*len = strlen(s);
	if (*len > max)
		return -ENOSPC;
	memcpy(out, s, *len);
	return 0;
}

/* A resource name is hashed to its Resource-ID (§10.2); "0x<hex>" gives the id itself. */
static int parse_resource(const struct reload_overlay_config *ocfg, const char *s,
			  struct reload_resource_id *out)
{
	unsigned idlen = ocfg->node_id_length ? ocfg->node_id_length : 16;

	if (strncmp(s, "0x", 2) == 0) {
		size_t len;
		int rc = pcdn_hex_decode(s + 2, out->id, sizeof(out->id), &len);

		if (rc < 0 || len != idlen)
			return -EINVAL;
		out->len = (uint8_t)len;
		return 0;
	}
	reload_resource_id_hash(s, strlen(s), idlen, out);
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void put_result_head(struct reload_buf *b, const struct reload_node_result *r)
{
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	reload_node_id_to_hex(&r->responder, hex);
	bprintf(b, "responder %s\nhops %u\nlatency_us %llu\n", r->responder.len ? hex : "-",
		r->hops, (unsigned long long)r->latency_us);
	if (r->error_code)
		bprintf(b, "error %u %s %s\n", r->error_code, reload_error_code_name(r->error_code),
			r->error_info);
}

static void finish(struct pending *p, int status, struct reload_buf *b)
{
	struct client *cl = p->cl;

	reply_buf(cl, status, b);
	reload_buf_free(b);
	cl->pending--;
	if (cl->closed && cl->pending == 0)
		client_free(cl);
	free(p);
}

static void store_done(const struct reload_node_result *r, void *arg)
{
	struct pending *p = arg;
	struct reload_buf b;

	reload_buf_init(&b);
	put_result_head(&b, r);
	for (size_t k = 0; k < r->store.kind_count; k++) {
		const struct reload_store_kind_response *kr = &r->store.kinds[k];

		bprintf(&b, "kind %u generation %llu replicas %zu\n", kr->kind,
			(unsigned long long)kr->generation, kr->replica_count);
	}
	finish(p, r->status, &b);
}

static void fetch_done(const struct reload_node_result *r, void *arg)
{
	struct pending *p = arg;
	struct reload_buf b;

	reload_buf_init(&b);
	put_result_head(&b, r);
	for (size_t k = 0; k < r->fetch.kind_count; k++) {
		const struct reload_fetch_kind_response *kr = &r->fetch.kinds[k];
		size_t present = 0;

		for (size_t v = 0; v < kr->value_count; v++)
			present += kr->values[v].value.value.exists;
		bprintf(&b, "kind %u generation %llu values %zu\n", kr->kind,
			(unsigned long long)kr->generation, present);
		for (size_t v = 0; v < kr->value_count; v++) {
			const struct reload_stored_data *sd = &kr->values[v];

			if (!sd->value.value.exists)
				continue;
			reload_buf_put(&b, "value ", 6);
			if (sd->value.model == RELOAD_MODEL_ARRAY)
				bprintf(&b, "index=%u ", sd->value.index);
			if (sd->value.model == RELOAD_MODEL_DICTIONARY) {
				reload_buf_put(&b, "key=", 4);
				put_bytes(&b, sd->value.key.data, sd->value.key.len);
				reload_buf_put(&b, " ", 1);
			}
			reload_buf_put(&b, "data=", 5);
			put_bytes(&b, sd->value.value.value.data, sd->value.value.value.len);
			bprintf(&b, " lifetime=%u\n", sd->lifetime);
		}
	}
	/* nothing stored there is a success with no values; "not found" is for scripts */
	finish(p, r->status, &b);
}

static void ping_done(const struct reload_node_result *r, void *arg)
{
	struct pending *p = arg;
	struct reload_buf b;

	reload_buf_init(&b);
	put_result_head(&b, r);
	finish(p, r->status, &b);
}

static void leave_done(void *arg)
{
	struct pending *p = arg;
	struct node_control *ctl = p->cl->ctl;
	struct reload_buf b;

	reload_buf_init(&b);
	reload_buf_put(&b, "left\n", 5);
	finish(p, 0, &b);
	if (ctl->on_leave)
		ctl->on_leave(ctl->arg);
}

static struct pending *pending_new(struct client *cl)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p) {
		p->cl = cl;
		cl->pending++;
	}
	return p;
}

static void pending_drop(struct pending *p)
{
	p->cl->pending--;
	free(p);
}

static void cmd_store(struct client *cl, int argc, char **argv)
{
	struct node_control *ctl = cl->ctl;
	static uint8_t value[65536], key[1024];
	struct reload_stored_data_value v;
	struct reload_resource_id res;
	const struct reload_kind_def *k;
	struct pending *p;
	uint32_t kind;
	size_t vlen, klen = 0;
	int rc;

	if (argc < 4 || argc > 5) {
		reply_err(cl, -EINVAL, "usage: store KIND RESOURCE VALUE [KEY|INDEX]");
		return;
	}
	if (parse_u32(argv[1], &kind) < 0 || !(k = reload_config_kind(ctl->ocfg, kind))) {
		reply_err(cl, -ENOSYS, "unknown kind");
		return;
	}
	if (parse_resource(ctl->ocfg, argv[2], &res) < 0 ||
	    parse_bytes(argv[3], value, sizeof(value), &vlen) < 0) {
		reply_err(cl, -EINVAL, "bad resource or value");
		return;
	}
	memset(&v, 0, sizeof(v));
	v.model = k->model;
	v.value.exists = true;
	v.value.value.data = value;
	v.value.value.len = vlen;
	if (k->model == RELOAD_MODEL_DICTIONARY) {
		if (argc != 5 || parse_bytes(argv[4], key, sizeof(key), &klen) < 0) {
			reply_err(cl, -EINVAL, "a dictionary kind needs a KEY");
			return;
		}
		v.key.data = key;
		v.key.len = klen;
	} else if (k->model == RELOAD_MODEL_ARRAY) {
		v.index = RELOAD_ARRAY_APPEND;
		if (argc == 5 && parse_u32(argv[4], &v.index) < 0) {
			reply_err(cl, -EINVAL, "bad array index");
			return;
		}
	} else if (argc == 5) {
		reply_err(cl, -EINVAL, "a single-value kind takes no key");
		return;
	}
	p = pending_new(cl);
	if (!p) {
		reply_err(cl, -ENOMEM, "out of memory");
		return;
	}
	rc = reload_node_store(ctl->node, &res, kind, &v, 86400, store_done, p);
	if (rc < 0) {
		pending_drop(p);
		reply_err(cl, rc, rc == -EAGAIN ? "not joined yet" : "store not sent");
	}
}

static void cmd_fetch(struct client *cl, int argc, char **argv)
{
	struct node_control *ctl = cl->ctl;
	struct reload_resource_id res;
	struct pending *p;
	uint32_t kind;
	int rc;

	if (argc != 3) {
		reply_err(cl, -EINVAL, "usage: fetch KIND RESOURCE");
		return;
	}
	if (parse_u32(argv[1], &kind) < 0 || !reload_config_kind(ctl->ocfg, kind)) {
		reply_err(cl, -ENOSYS, "unknown kind");
		return;
	}
	if (parse_resource(ctl->ocfg, argv[2], &res) < 0) {
		reply_err(cl, -EINVAL, "bad resource");
		return;
	}
	p = pending_new(cl);
	if (!p) {
		reply_err(cl, -ENOMEM, "out of memory");
		return;
	}
	rc = reload_node_fetch(ctl->node, &res, kind, fetch_done, p);
	if (rc < 0) {
		pending_drop(p);
		reply_err(cl, rc, rc == -EAGAIN ? "not joined yet" : "fetch not sent");
	}
}

static void cmd_ping(struct client *cl, int argc, char **argv)
{
	struct reload_resource_id res;
	struct pending *p;
	int rc;

	if (argc != 2 || parse_resource(cl->ctl->ocfg, argv[1], &res) < 0) {
		reply_err(cl, -EINVAL, "usage: ping RESOURCE");
		return;
	}
	p = pending_new(cl);
	if (!p) {
		reply_err(cl, -ENOMEM, "out of memory");
		return;
	}
	rc = reload_node_ping(cl->ctl->node, &res, ping_done, p);
	if (rc < 0) {
		pending_drop(p);
		reply_err(cl, rc, "ping not sent");
	}
}

static void cmd_show(struct client *cl, int argc, char **argv)
{
	struct reload_buf b;
	const char *what = argc > 1 ? argv[1] : "";

	reload_buf_init(&b);
	if (argc == 2 && strcmp(what, "overlay") == 0)
		reload_node_show_overlay(cl->ctl->node, &b);
	else if (argc == 2 && strcmp(what, "fingers") == 0)
		reload_node_show_fingers(cl->ctl->node, &b);
	else if (argc == 2 && strcmp(what, "successors") == 0)
		reload_node_show_successors(cl->ctl->node, &b);
	else if (argc == 2 && strcmp(what, "store") == 0)
		reload_node_show_store(cl->ctl->node, &b);
	else {
		reload_buf_free(&b);
		reply_err(cl, -EINVAL, "usage: show overlay|fingers|successors|store");
		return;
	}
	reply_buf(cl, 0, &b);
	reload_buf_free(&b);
}

static const char help_text[] =
	"show overlay|fingers|successors|store\n"
	"store KIND RESOURCE VALUE [KEY|INDEX]   (RESOURCE: a name, or 0x<Resource-ID>;\n"
	"                                          VALUE/KEY: text or hex:<bytes>)\n"
	"fetch KIND RESOURCE\n"
	"ping RESOURCE\n"
	"leave\n";

static void run_line(struct client *cl, const char *line, size_t len)
{
	struct ctl_cmdline cmd;
	const char *why = NULL;
	int rc = ctl_cmdline_parse(line, len, &cmd, &why);

	if (rc < 0) {
		reply_err(cl, rc, why ? why : "bad command line");
		return;
	}
	if (cmd.argc == 0)
		return;
	if (cl->ctl->leaving && strcmp(cmd.argv[0], "show") != 0) {
		reply_err(cl, -ESHUTDOWN, "leaving the overlay");
		return;
	}
	if (strcmp(cmd.argv[0], "show") == 0)
		cmd_show(cl, cmd.argc, cmd.argv);
	else if (strcmp(cmd.argv[0], "store") == 0)
		cmd_store(cl, cmd.argc, cmd.argv);
	else if (strcmp(cmd.argv[0], "fetch") == 0)
		cmd_fetch(cl, cmd.argc, cmd.argv);
	else if (strcmp(cmd.argv[0], "ping") == 0)
		cmd_ping(cl, cmd.argc, cmd.argv);
	else if (strcmp(cmd.argv[0], "leave") == 0 && cmd.argc == 1) {
		struct pending *p = pending_new(cl);

		if (!p) {
			reply_err(cl, -ENOMEM, "out of memory");
			return;
		}
		cl->ctl->leaving = true;
		reload_node_leave(cl->ctl->node, leave_done, p);
	} else if (strcmp(cmd.argv[0], "help") == 0)
		reply(cl, 0, "ok", help_text, sizeof(help_text) - 1);
	else
		reply_err(cl, -EINVAL, "unknown command (try help)");
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

		if (!line) {
			if (evbuffer_get_length(in) > CTL_LINE_MAX) {
				reply_err(cl, -EMSGSIZE, "line too long");
				evbuffer_drain(in, evbuffer_get_length(in));
			}
			return;
		}
		if (len && line[len - 1] == '\r')
			len--;
		run_line(cl, line, len);
		free(line);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		cl->closed = true;
		bufferevent_free(cl->bev);
		cl->bev = NULL;
		if (cl->pending == 0)
			client_free(cl);
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct node_control *ctl = arg;
	struct client *cl;

	(void)l;
	(void)sa;
	(void)salen;
	if (ctl->nclients >= MAX_CLIENTS || !(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->ctl = ctl;
	cl->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		close(fd);
		free(cl);
		return;
	}
	cl->next = ctl->clients;
	ctl->clients = cl;
	ctl->nclients++;
	bufferevent_setcb(cl->bev, read_cb, NULL, event_cb, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

struct node_control *node_control_new(struct event_base *base, const char *path,
				      struct reload_node *node,
				      const struct reload_overlay_config *ocfg,
				      void (*on_leave)(void *arg), void *arg)
{
	struct node_control *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sun;
	mode_t old;

	if (!ctl || strlen(path) >= sizeof(sun.sun_path)) {
		free(ctl);
		errno = ctl ? ENAMETOOLONG : ENOMEM;
		return NULL;
	}
	ctl->base = base;
	ctl->node = node;
	ctl->ocfg = ocfg;
	ctl->on_leave = on_leave;
	ctl->arg = arg;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	old = umask(0177); /* the socket is the operator's: 0600 */
	ctl->lst = evconnlistener_new_bind(base, accept_cb, ctl,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					   (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!ctl->lst) {
		PCDN_LOG(control_log, ERR, "control socket %s: %s", path, strerror(errno));
		free(ctl);
		return NULL;
	}
	return ctl;
}

void node_control_free(struct node_control *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients) {
		struct client *cl = ctl->clients;

		cl->closed = true;
		client_free(cl);
	}
	evconnlistener_free(ctl->lst);
	unlink(ctl->path);
	free(ctl);
}
