/* A hostile peer for the overlay integration test: it holds a certificate from the overlay's CA
 * (so its link is accepted) and sends, to a running pcdn-node over TLS-TCP-FH:
 *   1. a correctly signed Ping (answered: proves the path works),
 *   2. the same Ping with one byte of its signature changed (RFC 6940 §6.3.4: refused),
 *   3. a Store whose message signature is right but whose stored value was changed after it
 *      was signed (§7.1: refused),
 * and checks each answer. usage: forge_peer OVERLAY.xml KEY CERT ADDRESS:PORT USER */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "reload_overlay.h"

struct ctx {
	struct event_base *base;
	struct reload_overlay_config *ocfg;
	struct reload_codec_params params;
	struct reload_signer *signer;
	const char *user;
	uint64_t tid[3];
	int got[3]; /* answer code, 0 until answered */
	uint16_t err[3];
	int failures;
};

static void send_msg(struct reload_link *l, struct ctx *c, int which)
{
	struct reload_fwd_header h;
	struct reload_destination d;
	struct reload_buf out;
	union reload_body b;
	struct reload_arena *a = reload_arena_new();
	struct reload_node_id wild;

	memset(&h, 0, sizeof(h));
	memset(&b, 0, sizeof(b));
	reload_buf_init(&out);
	h.overlay = c->ocfg->overlay_hash;
	h.config_seq = c->ocfg->sequence;
	h.version = RELOAD_VERSION;
	h.ttl = 100;
	h.fragment = RELOAD_FRAG_UNFRAGMENTED;
	pcdn_random_bytes(&c->tid[which], sizeof(c->tid[which]));
	h.transaction_id = c->tid[which];
	h.dest = &d;
	h.dest_count = 1;
	if (which < 2) {
		reload_node_id_wildcard(&wild, 16); /* consumed by the first peer (§6.1.1) */
		reload_dest_node(&d, &wild);
		reload_message_build(&h, RELOAD_PING_REQ, &b, &c->params, c->signer, &out);
		if (which == 1)
			out.data[out.len - 5] ^= 0x40; /* inside the signature value */
	} else {
		struct reload_resource_id res;
		struct reload_stored_data sd;
		struct reload_store_kind_data kd;
		static uint8_t good[] = "genuine", bad[] = "forged!";

		reload_resource_id_hash(c->user, strlen(c->user), 16, &res);
		memset(&sd, 0, sizeof(sd));
		sd.storage_time = pcdn_wall_us() / 1000;
		sd.lifetime = 60;
		sd.value.model = RELOAD_MODEL_SINGLE;
		sd.value.value.exists = true;
		sd.value.value.value.data = good;
		sd.value.value.value.len = sizeof(good) - 1;
		reload_stored_data_sign(c->signer, &res, 4000, &sd, a);
		sd.value.value.value.data = bad; /* changed after signing */
		memset(&kd, 0, sizeof(kd));
		kd.kind = 4000;
		kd.values = &sd;
		kd.value_count = 1;
		b.store_req.resource = res;
		b.store_req.kind_data = &kd;
		b.store_req.kind_count = 1;
		reload_dest_resource(&d, &res);
		reload_message_build(&h, RELOAD_STORE_REQ, &b, &c->params, c->signer, &out);
	}
	if (out.err || reload_link_send(l, out.data, out.len) < 0) {
		fprintf(stderr, "forge_peer: cannot send message %d\n", which);
		c->failures++;
	}
	reload_buf_free(&out);
	reload_arena_free(a);
}

static int on_up(struct reload_link *l, void *arg)
{
	struct ctx *c = arg;

	for (int i = 0; i < 3; i++)
		send_msg(l, c, i);
	return 0;
}

static void on_message(struct reload_link *l, const uint8_t *msg, size_t len, void *arg)
{
	struct ctx *c = arg;
	struct reload_message *m = NULL;
	struct reload_arena *a;
	union reload_body b;
	bool all = true;

	(void)l;
	if (reload_message_decode(msg, len, 16, 0, &m, NULL) < 0)
		return;
	a = reload_arena_new();
	for (int i = 0; i < 3; i++) {
		if (m->hdr.transaction_id != c->tid[i])
			continue;
		c->got[i] = m->code;
		if (m->code == RELOAD_ERROR &&
		    reload_body_decode(RELOAD_ERROR, m->body.data, m->body.len, &c->params, a, &b) == 0)
			c->err[i] = b.error.error_code;
	}
	reload_arena_free(a);
	reload_message_free(m);
	for (int i = 0; i < 3; i++)
		all &= c->got[i] != 0;
	if (all)
		event_base_loopexit(c->base, NULL);
}

static void on_down(struct reload_link *l, enum reload_link_down why, void *arg)
{
	struct ctx *c = arg;

	(void)l;
	fprintf(stderr, "forge_peer: link down (%s)\n", reload_link_down_name(why));
	event_base_loopexit(c->base, NULL);
}

static void give_up(evutil_socket_t fd, short what, void *arg)
{
	struct ctx *c = arg;

	(void)fd;
	(void)what;
	fprintf(stderr, "forge_peer: no answer to every message\n");
	event_base_loopexit(c->base, NULL);
}

int main(int argc, char **argv)
{
	struct ctx c;
	char err[512];
	struct reload_link_cbs cbs = { on_up, on_message, on_down, NULL };
	struct pcdn_addr any, to;
	SSL_CTX *ssl;
	struct reload_link_endpoint *ep;
	struct event *t;
	struct timeval tv = { 60, 0 };

	if (argc != 6) {
		fprintf(stderr, "usage: forge_peer OVERLAY KEY CERT ADDR:PORT USER\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.user = argv[5];
	if (reload_config_load(argv[1], NULL, &c.ocfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "forge_peer: %s\n", err);
		return 1;
	}
	reload_codec_params_from_config(c.ocfg, &c.params);
	c.signer = reload_signer_load(argv[2], argv[3], 16);
	if (!c.signer || pcdn_addr_parse(argv[4], &to) < 0 ||
	    pcdn_addr_parse("127.0.0.1:0", &any) < 0) {
		fprintf(stderr, "forge_peer: bad credentials or address\n");
		return 1;
	}
	c.base = event_base_new();
	ssl = reload_link_ssl_ctx_new(false, reload_signer_cert(c.signer),
				      reload_signer_key(c.signer), NULL, true);
	ep = reload_link_endpoint_new(c.base, RELOAD_LINK_TLS_TCP_FH_NO_ICE, ssl, &any, NULL, &cbs, &c);
	if (!ep || !reload_link_connect(ep, &to)) {
		fprintf(stderr, "forge_peer: cannot connect\n");
		return 1;
	}
	t = evtimer_new(c.base, give_up, &c);
	evtimer_add(t, &tv);
	event_base_dispatch(c.base);
	printf("ping (valid signature): %s\n", reload_msg_code_name((uint16_t)c.got[0]));
	printf("ping (forged signature): %s %s\n", reload_msg_code_name((uint16_t)c.got[1]),
	       reload_error_code_name(c.err[1]));
	printf("store (value changed after signing): %s %s\n",
	       reload_msg_code_name((uint16_t)c.got[2]), reload_error_code_name(c.err[2]));
	if (c.got[0] != RELOAD_PING_ANS)
		c.failures++;
	if (c.got[1] != RELOAD_ERROR || c.err[1] != RELOAD_ERR_FORBIDDEN)
		c.failures++;
	if (c.got[2] != RELOAD_ERROR || c.err[2] != RELOAD_ERR_FORBIDDEN)
		c.failures++;
	event_free(t);
	reload_link_endpoint_free(ep);
	SSL_CTX_free(ssl);
	event_base_free(c.base);
	reload_signer_free(c.signer);
	reload_config_free(c.ocfg);
	return c.failures ? 1 : 0;
}
