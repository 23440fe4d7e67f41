/* RFC 6940 §6.2.1: end-to-end reliability. The originator of a request retransmits it with the
 * same transaction ID every overlay-reliability-timer, 5 transmissions in all, then gives up;
 * a receiver answers a retransmission with the answer it already gave (kept for the maximum
 * request lifetime, 15 s by default). */
#include "overlay_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define TXN_BUCKETS 256
#define REPLY_MAX 4096

struct txn {
	struct txn *next;
	struct reload_txn_table *t;
	uint64_t tid;
	uint8_t *msg;
	size_t len;
	unsigned transmissions;
	uint64_t start_us;
	struct event *timer;
	reload_txn_cb cb;
	void *arg;
};

struct reply {
	struct reply *next; /* bucket chain */
	uint64_t tid;
	uint64_t expires_us;
	size_t len;
	uint8_t data[];
};

struct reload_txn_table {
	struct event_base *base;
	uint32_t timer_ms;
	unsigned max_tx;
	reload_txn_send_fn send;
	void *ctx;
	struct txn *buckets[TXN_BUCKETS];
	size_t count;
	uint64_t retransmissions, timeouts;
	struct reply *replies[TXN_BUCKETS];
	size_t nreplies;
	uint64_t lifetime_us;
};

static unsigned bucket(uint64_t tid)
{
	return (unsigned)((tid ^ (tid >> 17) ^ (tid >> 41)) % TXN_BUCKETS);
}

struct reload_txn_table *txn_table_new(struct event_base *base, uint32_t timer_ms,
				       unsigned transmissions, reload_txn_send_fn send, void *ctx)
{
	struct reload_txn_table *t = calloc(1, sizeof(*t));

	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->base = base;
	t->timer_ms = timer_ms ? timer_ms : 3000;
	t->max_tx = transmissions ? transmissions : 5;
	t->send = send;
	t->ctx = ctx;
	t->lifetime_us = (uint64_t)t->timer_ms * t->max_tx * 1000;
	return t;
}

static struct txn *unlink_txn(struct reload_txn_table *t, uint64_t tid)
{
	struct txn **pp = &t->buckets[bucket(tid)];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->tid == tid) {
			struct txn *x = *pp;

			*pp = x->next;
			t->count--;
			return x;
		}
	}
	return NULL;
}

static void txn_free(struct txn *x)
{
	event_free(x->timer);
	free(x->msg);
	free(x);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct txn *x = arg;
	struct reload_txn_table *t = x->t;
	struct timeval tv = { t->timer_ms / 1000, (suseconds_t)(t->timer_ms % 1000) * 1000 };

	(void)fd;
	(void)what;
	if (x->transmissions >= t->max_tx) {
		unlink_txn(t, x->tid);
		t->timeouts++;
		x->cb(x->arg, -ETIMEDOUT, NULL, pcdn_now_us() - x->start_us);
		txn_free(x);
		return;
	}
	x->transmissions++;
	t->retransmissions++;
	t->send(t->ctx, x->msg, x->len);
	evtimer_add(x->timer, &tv);
}

int txn_start(struct reload_txn_table *t, uint64_t tid, const uint8_t *msg, size_t len,
	      reload_txn_cb cb, void *arg)
{
	struct txn *x = calloc(1, sizeof(*x));
	struct timeval tv = { t->timer_ms / 1000, (suseconds_t)(t->timer_ms % 1000) * 1000 };
	unsigned b = bucket(tid);

	if (!x)
		return -ENOMEM;
	x->msg = malloc(len);
	x->timer = evtimer_new(t->base, timer_cb, x);
	if (!x->msg || !x->timer) {
		free(x->msg);
		if (x->timer)
			event_free(x->timer);
		free(x);
		return -ENOMEM;
	}
	memcpy(x->msg, msg, len);
	x->t = t;
	x->tid = tid;
	x->len = len;
	x->cb = cb;
	x->arg = arg;
	x->transmissions = 1;
	x->start_us = pcdn_now_us();
	x->next = t->buckets[b];
	t->buckets[b] = x;
	t->count++;
	evtimer_add(x->timer, &tv);
	/* A first send that finds no route is retried by the timer like a lost message. */
	t->send(t->ctx, x->msg, x->len);
	return 0;
}

bool txn_complete(struct reload_txn_table *t, uint64_t tid, const struct reload_message *ans)
{
	struct txn *x = unlink_txn(t, tid);

	if (!x)
		return false;
	x->cb(x->arg, 0, ans, pcdn_now_us() - x->start_us);
	txn_free(x);
	return true;
}

bool txn_pending(const struct reload_txn_table *t, uint64_t tid)
{
	for (struct txn *x = t->buckets[bucket(tid)]; x; x = x->next)
		if (x->tid == tid)
			return true;
	return false;
}

void txn_cancel(struct reload_txn_table *t, uint64_t tid)
{
	struct txn *x = unlink_txn(t, tid);

	if (x)
		txn_free(x);
}

size_t txn_count(const struct reload_txn_table *t)
{
	return t->count;
}

uint64_t txn_retransmissions(const struct reload_txn_table *t)
{
	return t->retransmissions;
}

uint64_t txn_timeouts(const struct reload_txn_table *t)
{
	return t->timeouts;
}

static void reply_expire(struct reload_txn_table *t, uint64_t now)
{
	for (unsigned b = 0; b < TXN_BUCKETS; b++) {
		struct reply **pp = &t->replies[b];

		while (*pp) {
			if ((*pp)->expires_us <= now) {
				struct reply *r = *pp;

				*pp = r->next;
				free(r);
				t->nreplies--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

void txn_reply_put(struct reload_txn_table *t, uint64_t tid, const uint8_t *msg, size_t len)
{
	uint64_t now = pcdn_now_us();
	struct reply *r;
	unsigned b = bucket(tid);

	if (t->nreplies >= REPLY_MAX)
		reply_expire(t, now);
	if (t->nreplies >= REPLY_MAX)
		return; /* bounded: a flood of requests cannot grow this without limit */
	r = malloc(sizeof(*r) + len);
	if (!r)
		return;
	r->tid = tid;
	r->expires_us = now + t->lifetime_us;
	r->len = len;
	memcpy(r->data, msg, len);
	r->next = t->replies[b];
	t->replies[b] = r;
	t->nreplies++;
}

const uint8_t *txn_reply_get(struct reload_txn_table *t, uint64_t tid, size_t *len)
{
	uint64_t now = pcdn_now_us();

	for (struct reply *r = t->replies[bucket(tid)]; r; r = r->next) {
		if (r->tid == tid && r->expires_us > now) {
			*len = r->len;
			return r->data;
		}
	}
	return NULL;
}

void txn_table_free(struct reload_txn_table *t)
{
	if (!t)
		return;
	for (unsigned b = 0; b < TXN_BUCKETS; b++) {
		while (t->buckets[b]) {
			struct txn *x = t->buckets[b];

			t->buckets[b] = x->next;
			t->count--;
			x->cb(x->arg, -ECANCELED, NULL, pcdn_now_us() - x->start_us);
			txn_free(x);
		}
		while (t->replies[b]) {
			struct reply *r = t->replies[b];

			t->replies[b] = r->next;
			free(r);
		}
	}
	free(t);
}
