/* RFC 6940 §6.7: fragmentation (every fragment carries a full copy of the forwarding header,
 * equal-sized pieces of at least 256 bytes no larger than the next link's MTU minus 32 bytes)
 * and reassembly at the final destination (holding buffer keyed by transaction ID, timed out
 * after the maximum request lifetime, bounded in size; a message that does not fit is
 * dropped). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "reload.h"

#define MIN_FRAGMENT_BODY 256
#define VIA_GROWTH_ROOM	  32

static int header_span(const uint8_t *msg, size_t len, unsigned node_id_len, size_t *hdr_len,
		       uint64_t *tid, uint32_t *fragment)
{
	struct reload_arena *a = reload_arena_new();
	struct reload_fwd_header h;
	int rc;

	if (!a)
		return -ENOMEM;
	rc = reload_fwd_header_decode(msg, len, node_id_len, a, &h, hdr_len);
	reload_arena_free(a);
	if (rc)
		return rc;
	*tid = h.transaction_id;
	*fragment = h.fragment;
	return 0;
}

int reload_fragment_split(const uint8_t *msg, size_t len, unsigned node_id_len, size_t mtu,
			  int (*emit)(void *ctx, const uint8_t *frag, size_t frag_len), void *ctx)
{
	size_t hdr_len, payload, room, count, base_piece, extra, off = 0;
	uint32_t fragment, base, i;
	uint64_t tid;
	uint8_t *buf;
	int rc;

	if ((rc = header_span(msg, len, node_id_len, &hdr_len, &tid, &fragment)))
		return rc;
	if (len <= mtu) {
		rc = emit(ctx, msg, len);
		return rc < 0 ? rc : 1;
	}
	payload = len - hdr_len;
	if (mtu < hdr_len + VIA_GROWTH_ROOM + MIN_FRAGMENT_BODY)
		return -EMSGSIZE;
	room = mtu - VIA_GROWTH_ROOM - hdr_len;
	count = (payload + room - 1) / room;
	/* equal pieces: the first payload % count ones carry one byte more */
	base_piece = payload / count;
	extra = payload % count;
	if (base_piece < MIN_FRAGMENT_BODY)
		return -EMSGSIZE;
	base = fragment & RELOAD_FRAG_OFFSET_MASK;
	if ((uint64_t)base + payload > RELOAD_FRAG_OFFSET_MASK + 1ull)
		return -EMSGSIZE;
	buf = malloc(hdr_len + base_piece + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, msg, hdr_len);
	for (i = 0; off < payload; i++) {
		size_t n = base_piece + (i < extra ? 1 : 0);
		bool last = off + n == payload;
		uint32_t f = RELOAD_FRAG_HIGH_BIT | (base + (uint32_t)off);

		/* refragmenting a fragment keeps its place: only the final piece of the final
		 * fragment is the last one */
		if (last && (fragment & RELOAD_FRAG_LAST))
			f |= RELOAD_FRAG_LAST;
		pcdn_put_be32(buf + 12, f);
		pcdn_put_be32(buf + 16, (uint32_t)(hdr_len + n));
		memcpy(buf + hdr_len, msg + hdr_len + off, n);
		rc = emit(ctx, buf, hdr_len + n);
		if (rc < 0) {
			free(buf);
			return rc;
		}
		off += n;
	}
	free(buf);
	return (int)i;
}

/* ---- reassembly ----------------------------------------------------------------------------- */

struct range {
	size_t from, to; /* [from, to) */
};

struct pending {
	struct pending *next;
	uint64_t tid;
	uint64_t first_ms;
	uint8_t *hdr; /* header of the fragment at offset 0 (or the first seen until then) */
	size_t hdr_len;
	bool hdr_is_first;
	uint8_t *data;
	size_t cap;
	size_t total;	      /* known once the last fragment arrived; 0 before */
	struct range *ranges; /* sorted, disjoint, merged */
	size_t nranges;
	size_t held; /* bytes accounted against the limit */
};

struct reload_reassembly {
	struct pending *head;
	size_t max_bytes;
	size_t held;
	uint64_t timeout_ms;
	size_t count;
};

struct reload_reassembly *reload_reassembly_new(size_t max_bytes, uint64_t timeout_ms)
{
	struct reload_reassembly *r = calloc(1, sizeof(*r));

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->max_bytes = max_bytes;
	r->timeout_ms = timeout_ms ? timeout_ms : RELOAD_FRAGMENT_TIMEOUT_MS;
	return r;
}

static void pending_free(struct reload_reassembly *r, struct pending *p)
{
	r->held -= p->held;
	r->count--;
	free(p->hdr);
	free(p->data);
	free(p->ranges);
	free(p);
}

static void pending_unlink(struct reload_reassembly *r, struct pending *p)
{
	struct pending **pp;

	for (pp = &r->head; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pending_free(r, p);
}

void reload_reassembly_free(struct reload_reassembly *r)
{
	if (!r)
		return;
	while (r->head) {
		struct pending *p = r->head;

		r->head = p->next;
		pending_free(r, p);
	}
	free(r);
}

size_t reload_reassembly_expire(struct reload_reassembly *r, uint64_t now_ms)
{
	struct pending **pp = &r->head;
	size_t n = 0;

	while (*pp) {
		struct pending *p = *pp;

		if (now_ms - p->first_ms >= r->timeout_ms) {
			*pp = p->next;
			pending_free(r, p);
			n++;
		} else {
			pp = &p->next;
		}
	}
	return n;
}

size_t reload_reassembly_pending(const struct reload_reassembly *r)
{
	return r->count;
}

/* Records [from, to); bytes that overlap what is held must be identical. */
static int add_range(struct pending *p, size_t from, size_t to, const uint8_t *bytes)
{
	struct range *nr;
	size_t i, j;

	for (i = 0; i < p->nranges; i++) {
		size_t a = PCDN_MAX(from, p->ranges[i].from), b = PCDN_MIN(to, p->ranges[i].to);

		if (a < b && memcmp(p->data + a, bytes + (a - from), b - a) != 0)
			return -EBADMSG;
	}
	memcpy(p->data + from, bytes, to - from);
	nr = realloc(p->ranges, (p->nranges + 1) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	p->ranges = nr;
	/* insert sorted, then merge neighbours that touch */
	for (i = 0; i < p->nranges && p->ranges[i].from < from; i++)
		;
	memmove(&p->ranges[i + 1], &p->ranges[i], (p->nranges - i) * sizeof(*nr));
	p->ranges[i] = (struct range){from, to};
	p->nranges++;
	for (i = 0, j = 0; i < p->nranges; i++) {
		if (j && p->ranges[i].from <= p->ranges[j - 1].to)
			p->ranges[j - 1].to = PCDN_MAX(p->ranges[j - 1].to, p->ranges[i].to);
		else
			p->ranges[j++] = p->ranges[i];
	}
	p->nranges = j;
	return 0;
}

int reload_reassembly_add(struct reload_reassembly *r, const uint8_t *frag, size_t len,
			  unsigned node_id_len, uint64_t now_ms, uint8_t **msg, size_t *msg_len)
{
	struct pending *p;
	size_t hdr_len, off, n, end, grow;
	uint32_t fragment;
	uint64_t tid;
	int rc;

	*msg = NULL;
	*msg_len = 0;
	if ((rc = header_span(frag, len, node_id_len, &hdr_len, &tid, &fragment)))
		return rc;
	off = fragment & RELOAD_FRAG_OFFSET_MASK;
	n = len - hdr_len;
	if (off == 0 && (fragment & RELOAD_FRAG_LAST)) {
		/* not fragmented: nothing to hold */
		*msg = malloc(len ? len : 1);
		if (!*msg)
			return -ENOMEM;
		memcpy(*msg, frag, len);
		pcdn_put_be32(*msg + 12, RELOAD_FRAG_UNFRAGMENTED);
		*msg_len = len;
		return 1;
	}
	end = off + n;
	for (p = r->head; p; p = p->next)
		if (p->tid == tid)
			break;
	if (!p) {
		if (r->held + hdr_len > r->max_bytes)
			return -ENOBUFS;
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->tid = tid;
		p->first_ms = now_ms;
		p->hdr = malloc(hdr_len);
		if (!p->hdr) {
			free(p);
			return -ENOMEM;
		}
		memcpy(p->hdr, frag, hdr_len);
		p->hdr_len = hdr_len;
		p->hdr_is_first = off == 0;
		p->held = hdr_len;
		r->held += hdr_len;
		p->next = r->head;
		r->head = p;
		r->count++;
	}
	if ((p->total && end > p->total) ||
	    ((fragment & RELOAD_FRAG_LAST) && p->total && end != p->total) ||
	    ((fragment & RELOAD_FRAG_LAST) && p->nranges && p->ranges[p->nranges - 1].to > end)) {
		pending_unlink(r, p);
		return -EBADMSG;
	}
	if (end > p->cap) {
		uint8_t *nd;

		grow = end - p->cap;
		if (r->held + grow > r->max_bytes) {
			/* §6.7: out of buffer space — the message is dropped */
			pending_unlink(r, p);
			return -ENOBUFS;
		}
		nd = realloc(p->data, end);
		if (!nd) {
			pending_unlink(r, p);
			return -ENOMEM;
		}
		p->data = nd;
		p->cap = end;
		p->held += grow;
		r->held += grow;
	}
	if (off == 0 && !p->hdr_is_first) {
		uint8_t *h = realloc(p->hdr, hdr_len);

		if (!h) {
			pending_unlink(r, p);
			return -ENOMEM;
		}
		r->held = r->held - p->hdr_len + hdr_len;
		p->held = p->held - p->hdr_len + hdr_len;
		memcpy(h, frag, hdr_len);
		p->hdr = h;
		p->hdr_len = hdr_len;
		p->hdr_is_first = true;
	}
	if ((rc = add_range(p, off, end, frag + hdr_len))) {
		pending_unlink(r, p);
		return rc;
	}
	if (fragment & RELOAD_FRAG_LAST)
		p->total = end;
	if (!p->total || p->nranges != 1 || p->ranges[0].from != 0 || p->ranges[0].to != p->total)
		return 0;
	*msg_len = p->hdr_len + p->total;
	*msg = malloc(*msg_len);
	if (!*msg) {
		pending_unlink(r, p);
		return -ENOMEM;
	}
	memcpy(*msg, p->hdr, p->hdr_len);
	memcpy(*msg + p->hdr_len, p->data, p->total);
	pcdn_put_be32(*msg + 12, RELOAD_FRAG_UNFRAGMENTED);
	pcdn_put_be32(*msg + 16, (uint32_t)*msg_len);
	pending_unlink(r, p);
	return 1;
}
