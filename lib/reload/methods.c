/* RFC 6940 §6.4.2 (Join, Leave, Update, RouteQuery, Probe), §6.5 (Attach, AppAttach, Ping,
 * ConfigUpdate), §7.4 (Store, Fetch, Stat, Find), §10.7/§10.8 (CHORD-RELOAD Update and
 * RouteQueryAns), §6.3.3.1 (ErrorResponse): every base method's request and answer body. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "codec_internal.h"
#include "reload.h"

#define CHECK(b) ((b)->err)

bool rd_bool(struct rd *r, bool *out)
{
	uint8_t v = rd_u8(r);

	/* §6.3.1.1: a Boolean is 0 or 1 */
	if (v > 1)
		r->bad = true;
	*out = v == 1;
	return !r->bad;
}

static int fail_inval(struct reload_buf *b)
{
	if (!b->err)
		b->err = -EINVAL;
	return b->err;
}

/* ---- IpAddressPort (§6.3.1.1) ------------------------------------------------------------- */

int reload_ip_port_from_addr(const struct pcdn_addr *a, struct reload_ip_port *out)
{
	memset(out, 0, sizeof(*out));
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;

		out->type = RELOAD_ADDR_IPV4;
		memcpy(out->addr, &s->sin_addr, 4);
		out->port = ntohs(s->sin_port);
		return 0;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;

		out->type = RELOAD_ADDR_IPV6;
		memcpy(out->addr, &s->sin6_addr, 16);
		out->port = ntohs(s->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int reload_ip_port_to_addr(const struct reload_ip_port *p, struct pcdn_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (p->type == RELOAD_ADDR_IPV4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, p->addr, 4);
		s->sin_port = htons(p->port);
		out->len = sizeof(*s);
		return 0;
	}
	if (p->type == RELOAD_ADDR_IPV6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p->addr, 16);
		s->sin6_port = htons(p->port);
		out->len = sizeof(*s);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int ip_port_encode(const struct reload_ip_port *p, struct reload_buf *b)
{
	reload_buf_put_u8(b, p->type);
	if (p->type == RELOAD_ADDR_IPV4) {
		reload_buf_put_u8(b, 6);
		reload_buf_put(b, p->addr, 4);
	} else if (p->type == RELOAD_ADDR_IPV6) {
		reload_buf_put_u8(b, 18);
		reload_buf_put(b, p->addr, 16);
	} else if (p->type != 0) {
		/* an address type this node does not understand was discarded when decoded
		 * (§6.3.1.1); it is passed on as its type alone */
		return reload_buf_put_u8(b, 0);
	} else {
		return fail_inval(b);
	}
	return reload_buf_put_u16(b, p->port);
}

static bool ip_port_read(struct rd *r, struct reload_ip_port *p)
{
	struct rd sub;

	memset(p, 0, sizeof(*p));
	p->type = rd_u8(r);
	if (!rd_vec(r, 1, &sub))
		return false;
	switch (p->type) {
	case RELOAD_ADDR_IPV4:
		rd_copy(&sub, p->addr, 4);
		p->port = rd_u16(&sub);
		break;
	case RELOAD_ADDR_IPV6:
		rd_copy(&sub, p->addr, 16);
		p->port = rd_u16(&sub);
		break;
	case 0:
		sub.bad = true;
		break;
	default:
		/* §6.3.1.1: type and length let an unknown address type be skipped */
		return true;
	}
	if (!rd_done(&sub))
		r->bad = true;
	return !r->bad;
}

/* ---- small shared pieces ---------------------------------------------------------------- */

static int node_id_put(const struct reload_node_id *n, const struct reload_codec_params *p,
		       struct reload_buf *b)
{
	if (n->len != p->node_id_len)
		return fail_inval(b);
	return reload_buf_put(b, n->id, n->len);
}

static bool node_id_read(struct rd *r, const struct reload_codec_params *p,
			 struct reload_node_id *n)
{
	memset(n, 0, sizeof(*n));
	n->len = (uint8_t)p->node_id_len;
	rd_copy(r, n->id, p->node_id_len);
	return !r->bad;
}

static int node_id_list_put(const struct reload_node_id *ids, size_t n,
			    const struct reload_codec_params *p, struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 2);

	for (size_t i = 0; i < n; i++)
		node_id_put(&ids[i], p, b);
	return wr_len_end(b, l);
}

static bool node_id_list_read(struct rd *r, const struct reload_codec_params *p,
			      struct reload_arena *a, struct reload_node_id **out, size_t *count)
{
	struct rd sub;
	size_t n;

	*out = NULL;
	*count = 0;
	if (!rd_vec(r, 2, &sub))
		return false;
	if (sub.len % p->node_id_len) {
		r->bad = true;
		return false;
	}
	n = sub.len / p->node_id_len;
	if (!n)
		return true;
	*out = rd_array(r, a, n, sizeof(**out));
	if (!*out)
		return false;
	for (size_t i = 0; i < n; i++)
		node_id_read(&sub, p, &(*out)[i]);
	*count = n;
	return true;
}

static int resource_put(const struct reload_resource_id *res, struct reload_buf *b)
{
	return wr_opaque(b, 1, res->id, res->len);
}

static bool resource_read(struct rd *r, struct reload_resource_id *res)
{
	memset(res, 0, sizeof(*res));
	res->len = rd_u8(r);
	rd_copy(r, res->id, res->len);
	return !r->bad;
}

static int bytes_put(struct reload_buf *b, unsigned lenbytes, const struct reload_bytes *v)
{
	return wr_opaque(b, lenbytes, v->data, v->len);
}

/* Counts the elements of a vector by walking it with `skip` (which must consume one element
 * or fail). */
typedef bool (*skip_fn)(struct rd *r, const struct reload_codec_params *p, const void *ctx);

static bool count_elems(struct rd sub, skip_fn skip, const struct reload_codec_params *p,
			const void *ctx, size_t *n)
{
	*n = 0;
	while (rd_left(&sub) > 0) {
		if (!skip(&sub, p, ctx))
			return false;
		(*n)++;
	}
	return !sub.bad;
}

/* ---- Probe (§6.4.2.5) ---------------------------------------------------------------------- */

static int probe_req_encode(const struct reload_probe_req *q, struct reload_buf *b)
{
	return wr_opaque(b, 1, q->requested, q->count);
}

static bool probe_req_read(struct rd *r, struct reload_arena *a, struct reload_probe_req *q)
{
	struct reload_bytes v;

	if (!rd_opaque(r, 1, a, &v))
		return false;
	q->requested = (uint8_t *)v.data;
	q->count = v.len;
	return true;
}

static int probe_ans_encode(const struct reload_probe_ans *q, struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 2);

	for (size_t i = 0; i < q->count; i++) {
		reload_buf_put_u8(b, q->info[i].type);
		reload_buf_put_u8(b, 4);
		reload_buf_put_u32(b, q->info[i].value);
	}
	return wr_len_end(b, l);
}

static bool probe_ans_read(struct rd *r, struct reload_arena *a, struct reload_probe_ans *q)
{
	struct rd sub, walk, v;
	size_t n = 0;

	if (!rd_vec(r, 2, &sub))
		return false;
	walk = sub;
	while (rd_left(&walk) > 0) {
		rd_u8(&walk);
		if (!rd_vec(&walk, 1, &v)) {
			r->bad = true;
			return false;
		}
		n++;
	}
	q->info = n ? rd_array(r, a, n, sizeof(*q->info)) : NULL;
	if (r->bad)
		return false;
	q->count = 0;
	while (rd_left(&sub) > 0) {
		uint8_t t = rd_u8(&sub);

		rd_vec(&sub, 1, &v);
		if (t >= RELOAD_PROBE_RESPONSIBLE_SET && t <= RELOAD_PROBE_UPTIME) {
			if (v.len != 4) {
				r->bad = true;
				return false;
			}
			q->info[q->count].type = t;
			q->info[q->count].value = rd_u32(&v);
			q->count++;
		}
		/* other types: §6.4.2.5.2 allows unknown types; their values are skipped */
	}
	return true;
}

/* ---- ICE candidates, Attach, AppAttach (§6.5.1, §6.5.2) ------------------------------------ */

int reload_candidates_no_ice(const struct reload_ice_candidate *c, size_t n)
{
	size_t no_ice = 0;

	if (!n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (c[i].overlay_link == RELOAD_LINK_DTLS_UDP_SR_NO_ICE ||
		    c[i].overlay_link == RELOAD_LINK_TLS_TCP_FH_NO_ICE)
			no_ice++;
	if (no_ice == n)
		return 1;
	if (no_ice == 0)
		return 0;
	return -EBADMSG;
}

static int candidates_encode(const struct reload_ice_candidate *c, size_t n, struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 2);

	for (size_t i = 0; i < n; i++) {
		struct wr_len le;

		ip_port_encode(&c[i].addr_port, b);
		reload_buf_put_u8(b, c[i].overlay_link);
		bytes_put(b, 1, &c[i].foundation);
		reload_buf_put_u32(b, c[i].priority);
		reload_buf_put_u8(b, c[i].cand_type);
		switch (c[i].cand_type) {
		case RELOAD_CAND_HOST:
			break;
		case RELOAD_CAND_SRFLX:
		case RELOAD_CAND_RELAY:
			ip_port_encode(&c[i].rel_addr_port, b);
			break;
		default:
			return fail_inval(b);
		}
		le = wr_len_begin(b, 2);
		for (size_t k = 0; k < c[i].extension_count; k++) {
			bytes_put(b, 2, &c[i].extensions[k].name);
			bytes_put(b, 2, &c[i].extensions[k].value);
		}
		wr_len_end(b, le);
	}
	return wr_len_end(b, l);
}

static bool candidate_read(struct rd *r, struct reload_arena *a, struct reload_ice_candidate *c)
{
	struct rd ext, walk, tmp;
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	ip_port_read(r, &c->addr_port);
	c->overlay_link = rd_u8(r);
	if (!a) {
		struct rd f;

		rd_vec(r, 1, &f);
	} else {
		rd_opaque(r, 1, a, &c->foundation);
	}
	c->priority = rd_u32(r);
	c->cand_type = rd_u8(r);
	switch (c->cand_type) {
	case RELOAD_CAND_HOST:
		break;
	case RELOAD_CAND_SRFLX:
	case RELOAD_CAND_RELAY:
		ip_port_read(r, &c->rel_addr_port);
		break;
	default:
		/* the select has no length: an unknown type cannot be skipped */
		r->bad = true;
		return false;
	}
	if (!rd_vec(r, 2, &ext))
		return false;
	walk = ext;
	while (rd_left(&walk) > 0) {
		if (!rd_vec(&walk, 2, &tmp) || !rd_vec(&walk, 2, &tmp)) {
			r->bad = true;
			return false;
		}
		n++;
	}
	if (!a || !n)
		return !r->bad;
	c->extensions = rd_array(r, a, n, sizeof(*c->extensions));
	if (!c->extensions)
		return false;
	for (size_t i = 0; i < n; i++) {
		rd_opaque(&ext, 2, a, &c->extensions[i].name);
		rd_opaque(&ext, 2, a, &c->extensions[i].value);
	}
	c->extension_count = n;
	if (ext.bad)
		r->bad = true;
	return !r->bad;
}

static bool candidates_read(struct rd *r, struct reload_arena *a, struct reload_ice_candidate **out,
			    size_t *count)
{
	struct rd sub, walk;
	struct reload_ice_candidate tmp;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	if (!rd_vec(r, 2, &sub))
		return false;
	walk = sub;
	while (rd_left(&walk) > 0) {
		if (!candidate_read(&walk, NULL, &tmp)) {
			r->bad = true;
			return false;
		}
		n++;
	}
	if (!n)
		return true;
	*out = rd_array(r, a, n, sizeof(**out));
	if (!*out)
		return false;
	for (size_t i = 0; i < n; i++)
		candidate_read(&sub, a, &(*out)[i]);
	*count = n;
	if (sub.bad)
		r->bad = true;
	return !r->bad;
}

static int attach_encode(const struct reload_attach *q, struct reload_buf *b)
{
	bytes_put(b, 1, &q->ufrag);
	bytes_put(b, 1, &q->password);
	bytes_put(b, 1, &q->role);
	candidates_encode(q->candidates, q->candidate_count, b);
	return reload_buf_put_u8(b, q->send_update ? 1 : 0);
}

static bool attach_read(struct rd *r, struct reload_arena *a, struct reload_attach *q)
{
	rd_opaque(r, 1, a, &q->ufrag);
	rd_opaque(r, 1, a, &q->password);
	rd_opaque(r, 1, a, &q->role);
	candidates_read(r, a, &q->candidates, &q->candidate_count);
	return rd_bool(r, &q->send_update);
}

static int app_attach_encode(const struct reload_app_attach *q, struct reload_buf *b)
{
	bytes_put(b, 1, &q->ufrag);
	bytes_put(b, 1, &q->password);
	reload_buf_put_u16(b, q->application);
	bytes_put(b, 1, &q->role);
	return candidates_encode(q->candidates, q->candidate_count, b);
}

static bool app_attach_read(struct rd *r, struct reload_arena *a, struct reload_app_attach *q)
{
	rd_opaque(r, 1, a, &q->ufrag);
	rd_opaque(r, 1, a, &q->password);
	q->application = rd_u16(r);
	rd_opaque(r, 1, a, &q->role);
	return candidates_read(r, a, &q->candidates, &q->candidate_count);
}

/* ---- Store (§7.4.1) ------------------------------------------------------------------------- */

static uint8_t model_of(const struct reload_codec_params *p, uint32_t kind)
{
	return p->kind_model ? (uint8_t)p->kind_model(p->kind_ctx, kind) : RELOAD_MODEL_UNKNOWN;
}

static int stored_data_list_encode(const struct reload_stored_data *v, size_t n,
				   struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 4);

	for (size_t i = 0; i < n; i++)
		reload_stored_data_encode(&v[i], b);
	return wr_len_end(b, l);
}

static bool stored_data_list_read(struct rd *r, uint8_t model, struct reload_arena *a,
				  struct reload_stored_data **out, size_t *count)
{
	struct rd sub, walk;
	size_t n = 0, used;

	*out = NULL;
	*count = 0;
	if (!rd_vec(r, 4, &sub))
		return false;
	walk = sub;
	/* StoredData starts with its own length: count without decoding */
	while (rd_left(&walk) > 0) {
		uint32_t l = rd_u32(&walk);

		if (!rd_bytes(&walk, l)) {
			r->bad = true;
			return false;
		}
		n++;
	}
	if (!n)
		return true;
	*out = rd_array(r, a, n, sizeof(**out));
	if (!*out)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (reload_stored_data_decode(sub.p + sub.off, sub.len - sub.off, model, a,
					      &(*out)[i], &used)) {
			r->bad = true;
			return false;
		}
		sub.off += used;
	}
	*count = n;
	return true;
}

static int store_req_encode(const struct reload_store_req *q, struct reload_buf *b)
{
	struct wr_len l;

	resource_put(&q->resource, b);
	reload_buf_put_u8(b, q->replica_number);
	l = wr_len_begin(b, 4);
	for (size_t i = 0; i < q->kind_count; i++) {
		reload_buf_put_u32(b, q->kind_data[i].kind);
		reload_buf_put_u64(b, q->kind_data[i].generation);
		stored_data_list_encode(q->kind_data[i].values, q->kind_data[i].value_count, b);
	}
	return wr_len_end(b, l);
}

static bool skip_kind_values(struct rd *r, const struct reload_codec_params *p, const void *ctx)
{
	struct rd v;

	(void)p;
	(void)ctx;
	rd_u32(r);
	rd_u64(r);
	return rd_vec(r, 4, &v);
}

static bool store_req_read(struct rd *r, const struct reload_codec_params *p,
			   struct reload_arena *a, struct reload_store_req *q)
{
	struct rd sub;
	size_t n;

	resource_read(r, &q->resource);
	q->replica_number = rd_u8(r);
	if (!rd_vec(r, 4, &sub))
		return false;
	if (!count_elems(sub, skip_kind_values, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->kind_data = n ? rd_array(r, a, n, sizeof(*q->kind_data)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct reload_store_kind_data *k = &q->kind_data[i];

		k->kind = rd_u32(&sub);
		k->generation = rd_u64(&sub);
		/* §7.4.1.1: the same Kind-ID MUST NOT appear twice */
		for (size_t j = 0; j < i; j++)
			if (q->kind_data[j].kind == k->kind)
				sub.bad = true;
		if (!stored_data_list_read(&sub, model_of(p, k->kind), a, &k->values,
					   &k->value_count)) {
			r->bad = true;
			return false;
		}
	}
	q->kind_count = n;
	return !r->bad;
}

static int store_ans_encode(const struct reload_store_ans *q, const struct reload_codec_params *p,
			    struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 2);

	for (size_t i = 0; i < q->kind_count; i++) {
		reload_buf_put_u32(b, q->kinds[i].kind);
		reload_buf_put_u64(b, q->kinds[i].generation);
		node_id_list_put(q->kinds[i].replicas, q->kinds[i].replica_count, p, b);
	}
	return wr_len_end(b, l);
}

static bool skip_store_kind_response(struct rd *r, const struct reload_codec_params *p,
				     const void *ctx)
{
	struct rd v;

	(void)p;
	(void)ctx;
	rd_u32(r);
	rd_u64(r);
	return rd_vec(r, 2, &v);
}

static bool store_ans_read(struct rd *r, const struct reload_codec_params *p,
			   struct reload_arena *a, struct reload_store_ans *q)
{
	struct rd sub;
	size_t n;

	if (!rd_vec(r, 2, &sub))
		return false;
	if (!count_elems(sub, skip_store_kind_response, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->kinds = n ? rd_array(r, a, n, sizeof(*q->kinds)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		q->kinds[i].kind = rd_u32(&sub);
		q->kinds[i].generation = rd_u64(&sub);
		if (!node_id_list_read(&sub, p, a, &q->kinds[i].replicas,
				       &q->kinds[i].replica_count)) {
			r->bad = true;
			return false;
		}
	}
	q->kind_count = n;
	return true;
}

/* ---- Fetch / Stat (§7.4.2, §7.4.3) ---------------------------------------------------------- */

static int specifier_encode(const struct reload_stored_data_specifier *s, struct reload_buf *b)
{
	struct wr_len l, v;

	reload_buf_put_u32(b, s->kind);
	reload_buf_put_u64(b, s->generation);
	l = wr_len_begin(b, 2);
	switch (s->model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		v = wr_len_begin(b, 2);
		for (size_t i = 0; i < s->index_count; i++) {
			if (s->indices[i].first > s->indices[i].last)
				return fail_inval(b);
			reload_buf_put_u32(b, s->indices[i].first);
			reload_buf_put_u32(b, s->indices[i].last);
		}
		wr_len_end(b, v);
		break;
	case RELOAD_MODEL_DICTIONARY:
		v = wr_len_begin(b, 2);
		for (size_t i = 0; i < s->key_count; i++)
			bytes_put(b, 2, &s->keys[i]);
		wr_len_end(b, v);
		break;
	default:
		reload_buf_put(b, s->raw.data, s->raw.len);
		break;
	}
	return wr_len_end(b, l);
}

static bool specifier_read(struct rd *r, const struct reload_codec_params *p,
			   struct reload_arena *a, struct reload_stored_data_specifier *s)
{
	struct rd ms, list, walk, tmp;
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	s->kind = rd_u32(r);
	s->generation = rd_u64(r);
	if (!rd_vec(r, 2, &ms))
		return false;
	s->model = model_of(p, s->kind);
	switch (s->model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		if (!rd_vec(&ms, 2, &list) || list.len % 8)
			goto bad;
		n = list.len / 8;
		s->indices = n ? rd_array(r, a, n, sizeof(*s->indices)) : NULL;
		if (r->bad)
			return false;
		for (size_t i = 0; i < n; i++) {
			s->indices[i].first = rd_u32(&list);
			s->indices[i].last = rd_u32(&list);
			/* §7.4.2.1: first <= last */
			if (s->indices[i].first > s->indices[i].last)
				goto bad;
		}
		s->index_count = n;
		break;
	case RELOAD_MODEL_DICTIONARY:
		if (!rd_vec(&ms, 2, &list))
			goto bad;
		walk = list;
		while (rd_left(&walk) > 0) {
			if (!rd_vec(&walk, 2, &tmp))
				goto bad;
			n++;
		}
		s->keys = n ? rd_array(r, a, n, sizeof(*s->keys)) : NULL;
		if (r->bad)
			return false;
		for (size_t i = 0; i < n; i++)
			rd_opaque(&list, 2, a, &s->keys[i]);
		s->key_count = n;
		if (list.bad)
			goto bad;
		break;
	default:
		/* unknown Kind: the length keeps the message parseable; the storage answers
		 * Error_Unknown_Kind */
		s->raw.data = reload_arena_memdup(a, ms.p, ms.len);
		s->raw.len = ms.len;
		ms.off = ms.len;
		break;
	}
	if (!rd_done(&ms))
		goto bad;
	return !r->bad;
bad:
	r->bad = true;
	return false;
}

static int fetch_req_encode(const struct reload_fetch_req *q, struct reload_buf *b)
{
	struct wr_len l;

	resource_put(&q->resource, b);
	l = wr_len_begin(b, 2);
	for (size_t i = 0; i < q->specifier_count; i++)
		specifier_encode(&q->specifiers[i], b);
	return wr_len_end(b, l);
}

static bool skip_specifier(struct rd *r, const struct reload_codec_params *p, const void *ctx)
{
	struct rd v;

	(void)p;
	(void)ctx;
	rd_u32(r);
	rd_u64(r);
	return rd_vec(r, 2, &v);
}

static bool fetch_req_read(struct rd *r, const struct reload_codec_params *p,
			   struct reload_arena *a, struct reload_fetch_req *q)
{
	struct rd sub;
	size_t n;

	resource_read(r, &q->resource);
	if (!rd_vec(r, 2, &sub))
		return false;
	if (!count_elems(sub, skip_specifier, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->specifiers = n ? rd_array(r, a, n, sizeof(*q->specifiers)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!specifier_read(&sub, p, a, &q->specifiers[i])) {
			r->bad = true;
			return false;
		}
	q->specifier_count = n;
	return true;
}

static int fetch_ans_encode(const struct reload_fetch_ans *q, struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 4);

	for (size_t i = 0; i < q->kind_count; i++) {
		reload_buf_put_u32(b, q->kinds[i].kind);
		reload_buf_put_u64(b, q->kinds[i].generation);
		stored_data_list_encode(q->kinds[i].values, q->kinds[i].value_count, b);
	}
	return wr_len_end(b, l);
}

static bool fetch_ans_read(struct rd *r, const struct reload_codec_params *p,
			   struct reload_arena *a, struct reload_fetch_ans *q)
{
	struct rd sub;
	size_t n;

	if (!rd_vec(r, 4, &sub))
		return false;
	if (!count_elems(sub, skip_kind_values, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->kinds = n ? rd_array(r, a, n, sizeof(*q->kinds)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct reload_fetch_kind_response *k = &q->kinds[i];

		k->kind = rd_u32(&sub);
		k->generation = rd_u64(&sub);
		if (!stored_data_list_read(&sub, model_of(p, k->kind), a, &k->values,
					   &k->value_count)) {
			r->bad = true;
			return false;
		}
	}
	q->kind_count = n;
	return true;
}

static void meta_encode(const struct reload_meta_data *m, struct reload_buf *b)
{
	reload_buf_put_u8(b, m->exists ? 1 : 0);
	reload_buf_put_u32(b, m->value_length);
	reload_buf_put_u8(b, m->hash_alg);
	bytes_put(b, 1, &m->hash_value);
}

static bool meta_read(struct rd *r, struct reload_arena *a, struct reload_meta_data *m)
{
	rd_bool(r, &m->exists);
	m->value_length = rd_u32(r);
	m->hash_alg = rd_u8(r);
	if (a)
		rd_opaque(r, 1, a, &m->hash_value);
	else {
		struct rd tmp;

		rd_vec(r, 1, &tmp);
	}
	return !r->bad;
}

static int stored_meta_encode(const struct reload_stored_meta_data *m, uint8_t model,
			      struct reload_buf *b)
{
	/* value_length carries the length of the rest of the StoredMetaData, as the length of a
	 * StoredData does (§7.4.3.2: "the same as the corresponding fields in StoredData"); this
	 * is also how deployed decoders (Wireshark's) read it */
	struct wr_len l = wr_len_begin(b, 4);

	reload_buf_put_u64(b, m->storage_time);
	reload_buf_put_u32(b, m->lifetime);
	switch (model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		reload_buf_put_u32(b, m->index);
		break;
	case RELOAD_MODEL_DICTIONARY:
		bytes_put(b, 2, &m->key);
		break;
	default:
		reload_buf_put(b, m->raw.data, m->raw.len);
		return wr_len_end(b, l);
	}
	meta_encode(&m->meta, b);
	return wr_len_end(b, l);
}

static bool stored_meta_read(struct rd *r, uint8_t model, struct reload_arena *a,
			     struct reload_stored_meta_data *m)
{
	struct rd s;

	memset(m, 0, sizeof(*m));
	if (!rd_vec(r, 4, &s))
		return false;
	m->value_length = (uint32_t)s.len;
	m->storage_time = rd_u64(&s);
	m->lifetime = rd_u32(&s);
	m->model = model;
	switch (model) {
	case RELOAD_MODEL_SINGLE:
		break;
	case RELOAD_MODEL_ARRAY:
		m->index = rd_u32(&s);
		break;
	case RELOAD_MODEL_DICTIONARY:
		if (a)
			rd_opaque(&s, 2, a, &m->key);
		else {
			struct rd tmp;

			rd_vec(&s, 2, &tmp);
		}
		break;
	default:
		/* unknown Kind: the length lets the value be kept undivided */
		if (!s.bad && a) {
			m->raw.data = reload_arena_memdup(a, s.p + s.off, s.len - s.off);
			m->raw.len = s.len - s.off;
		}
		s.off = s.len;
		break;
	}
	if (model >= RELOAD_MODEL_SINGLE && model <= RELOAD_MODEL_DICTIONARY)
		meta_read(&s, a, &m->meta);
	if (!rd_done(&s))
		r->bad = true;
	return !r->bad;
}

static int stat_ans_encode(const struct reload_stat_ans *q, const struct reload_codec_params *p,
			   struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 4);

	for (size_t i = 0; i < q->kind_count; i++) {
		const struct reload_stat_kind_response *k = &q->kinds[i];
		uint8_t model = model_of(p, k->kind);
		struct wr_len v;

		reload_buf_put_u32(b, k->kind);
		reload_buf_put_u64(b, k->generation);
		v = wr_len_begin(b, 4);
		for (size_t j = 0; j < k->value_count; j++)
			stored_meta_encode(&k->values[j], model ? model : k->values[j].model, b);
		wr_len_end(b, v);
	}
	return wr_len_end(b, l);
}

static bool stat_ans_read(struct rd *r, const struct reload_codec_params *p, struct reload_arena *a,
			  struct reload_stat_ans *q)
{
	struct rd sub;
	size_t n;

	if (!rd_vec(r, 4, &sub))
		return false;
	if (!count_elems(sub, skip_kind_values, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->kinds = n ? rd_array(r, a, n, sizeof(*q->kinds)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct reload_stat_kind_response *k = &q->kinds[i];
		struct reload_stored_meta_data tmp;
		struct rd vals, walk;
		uint8_t model;
		size_t m = 0;

		k->kind = rd_u32(&sub);
		k->generation = rd_u64(&sub);
		model = model_of(p, k->kind);
		rd_vec(&sub, 4, &vals);
		walk = vals;
		while (rd_left(&walk) > 0) {
			if (!stored_meta_read(&walk, model, NULL, &tmp)) {
				r->bad = true;
				return false;
			}
			m++;
		}
		k->values = m ? rd_array(r, a, m, sizeof(*k->values)) : NULL;
		if (r->bad)
			return false;
		for (size_t j = 0; j < m; j++)
			stored_meta_read(&vals, model, a, &k->values[j]);
		k->value_count = m;
		if (vals.bad) {
			r->bad = true;
			return false;
		}
	}
	q->kind_count = n;
	return true;
}

/* ---- Find (§7.4.4) ----------------------------------------------------------------------------
 */

static int find_req_encode(const struct reload_find_req *q, struct reload_buf *b)
{
	struct wr_len l;

	resource_put(&q->resource, b);
	l = wr_len_begin(b, 1);
	for (size_t i = 0; i < q->kind_count; i++)
		reload_buf_put_u32(b, q->kinds[i]);
	return wr_len_end(b, l);
}

static bool find_req_read(struct rd *r, struct reload_arena *a, struct reload_find_req *q)
{
	struct rd sub;
	size_t n;

	resource_read(r, &q->resource);
	if (!rd_vec(r, 1, &sub))
		return false;
	if (sub.len % 4) {
		r->bad = true;
		return false;
	}
	n = sub.len / 4;
	q->kinds = n ? rd_array(r, a, n, sizeof(*q->kinds)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		q->kinds[i] = rd_u32(&sub);
		/* §7.4.4.1: each Kind-ID only once, otherwise the request is rejected */
		for (size_t j = 0; j < i; j++)
			if (q->kinds[j] == q->kinds[i]) {
				r->bad = true;
				return false;
			}
	}
	q->kind_count = n;
	return true;
}

static int find_ans_encode(const struct reload_find_ans *q, struct reload_buf *b)
{
	struct wr_len l = wr_len_begin(b, 2);

	for (size_t i = 0; i < q->result_count; i++) {
		reload_buf_put_u32(b, q->results[i].kind);
		resource_put(&q->results[i].closest, b);
	}
	return wr_len_end(b, l);
}

static bool skip_find_kind(struct rd *r, const struct reload_codec_params *p, const void *ctx)
{
	struct rd v;

	(void)p;
	(void)ctx;
	rd_u32(r);
	return rd_vec(r, 1, &v);
}

static bool find_ans_read(struct rd *r, const struct reload_codec_params *p, struct reload_arena *a,
			  struct reload_find_ans *q)
{
	struct rd sub;
	size_t n;

	if (!rd_vec(r, 2, &sub))
		return false;
	if (!count_elems(sub, skip_find_kind, p, NULL, &n)) {
		r->bad = true;
		return false;
	}
	q->results = n ? rd_array(r, a, n, sizeof(*q->results)) : NULL;
	if (r->bad)
		return false;
	for (size_t i = 0; i < n; i++) {
		q->results[i].kind = rd_u32(&sub);
		resource_read(&sub, &q->results[i].closest);
	}
	q->result_count = n;
	return true;
}

/* ---- CHORD-RELOAD Update (§10.7), RouteQuery (§6.4.2.4, §10.8) ------------------------------ */

static int chord_update_encode(const struct reload_chord_update *u,
			       const struct reload_codec_params *p, struct reload_buf *b)
{
	reload_buf_put_u32(b, u->uptime);
	reload_buf_put_u8(b, u->type);
	switch (u->type) {
	case RELOAD_CHORD_PEER_READY:
		break;
	case RELOAD_CHORD_NEIGHBORS:
		node_id_list_put(u->predecessors, u->predecessor_count, p, b);
		node_id_list_put(u->successors, u->successor_count, p, b);
		break;
	case RELOAD_CHORD_FULL:
		node_id_list_put(u->predecessors, u->predecessor_count, p, b);
		node_id_list_put(u->successors, u->successor_count, p, b);
		node_id_list_put(u->fingers, u->finger_count, p, b);
		break;
	default:
		return fail_inval(b);
	}
	return reload_buf_error(b);
}

static bool chord_update_read(struct rd *r, const struct reload_codec_params *p,
			      struct reload_arena *a, struct reload_chord_update *u)
{
	u->uptime = rd_u32(r);
	u->type = rd_u8(r);
	switch (u->type) {
	case RELOAD_CHORD_PEER_READY:
		return !r->bad;
	case RELOAD_CHORD_NEIGHBORS:
		node_id_list_read(r, p, a, &u->predecessors, &u->predecessor_count);
		return node_id_list_read(r, p, a, &u->successors, &u->successor_count);
	case RELOAD_CHORD_FULL:
		node_id_list_read(r, p, a, &u->predecessors, &u->predecessor_count);
		node_id_list_read(r, p, a, &u->successors, &u->successor_count);
		return node_id_list_read(r, p, a, &u->fingers, &u->finger_count);
	default:
		r->bad = true;
		return false;
	}
}

static bool destination_read(struct rd *r, const struct reload_codec_params *p,
			     struct reload_destination *d)
{
	size_t used;

	if (r->bad ||
	    reload_destination_decode(r->p + r->off, r->len - r->off, p->node_id_len, d, &used)) {
		r->bad = true;
		return false;
	}
	r->off += used;
	return true;
}

/* ---- ConfigUpdate (§6.5.4) --------------------------------------------------------------------
 */

static int config_update_encode(const struct reload_config_update_req *q, struct reload_buf *b)
{
	struct wr_len l, v;

	reload_buf_put_u8(b, q->type);
	l = wr_len_begin(b, 4);
	switch (q->type) {
	case RELOAD_CONFIG_UPDATE_CONFIG:
		bytes_put(b, 3, &q->config_data);
		break;
	case RELOAD_CONFIG_UPDATE_KIND:
		v = wr_len_begin(b, 3);
		for (size_t i = 0; i < q->kind_count; i++)
			bytes_put(b, 2, &q->kinds[i]);
		wr_len_end(b, v);
		break;
	case 0:
		return fail_inval(b);
	default:
		/* a type this node does not know: its content passed on as received */
		reload_buf_put(b, q->config_data.data, q->config_data.len);
		break;
	}
	return wr_len_end(b, l);
}

static bool config_update_read(struct rd *r, struct reload_arena *a,
			       struct reload_config_update_req *q)
{
	struct rd body, list, walk, tmp;
	size_t n = 0;

	q->type = rd_u8(r);
	if (!rd_vec(r, 4, &body))
		return false;
	switch (q->type) {
	case RELOAD_CONFIG_UPDATE_CONFIG:
		rd_opaque(&body, 3, a, &q->config_data);
		break;
	case RELOAD_CONFIG_UPDATE_KIND:
		if (!rd_vec(&body, 3, &list))
			break;
		walk = list;
		while (rd_left(&walk) > 0) {
			if (!rd_vec(&walk, 2, &tmp)) {
				body.bad = true;
				break;
			}
			n++;
		}
		if (body.bad)
			break;
		q->kinds = n ? rd_array(r, a, n, sizeof(*q->kinds)) : NULL;
		for (size_t i = 0; i < n && !r->bad; i++)
			rd_opaque(&list, 2, a, &q->kinds[i]);
		q->kind_count = n;
		break;
	case 0:
		body.bad = true;
		break;
	default:
		/* §6.5.4.1: the length allows unknown content types; kept raw in config_data */
		rd_opaque_rest(&body, a, &q->config_data);
		break;
	}
	if (!rd_done(&body))
		r->bad = true;
	return !r->bad;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int reload_body_encode(uint16_t code, const union reload_body *b,
		       const struct reload_codec_params *p, struct reload_buf *out)
{
	size_t start = out->len;
	int rc = 0;

	if (!p || p->node_id_len < RELOAD_NODE_ID_MIN || p->node_id_len > RELOAD_NODE_ID_MAX)
		return -EINVAL;
	switch (code) {
	case RELOAD_PROBE_REQ:
		rc = probe_req_encode(&b->probe_req, out);
		break;
	case RELOAD_PROBE_ANS:
		rc = probe_ans_encode(&b->probe_ans, out);
		break;
	case RELOAD_ATTACH_REQ:
	case RELOAD_ATTACH_ANS:
		rc = attach_encode(&b->attach, out);
		break;
	case RELOAD_STORE_REQ:
		rc = store_req_encode(&b->store_req, out);
		break;
	case RELOAD_STORE_ANS:
		rc = store_ans_encode(&b->store_ans, p, out);
		break;
	case RELOAD_FETCH_REQ:
		rc = fetch_req_encode(&b->fetch_req, out);
		break;
	case RELOAD_FETCH_ANS:
		rc = fetch_ans_encode(&b->fetch_ans, out);
		break;
	case RELOAD_STAT_REQ:
		rc = fetch_req_encode(&b->stat_req, out);
		break;
	case RELOAD_STAT_ANS:
		rc = stat_ans_encode(&b->stat_ans, p, out);
		break;
	case RELOAD_FIND_REQ:
		rc = find_req_encode(&b->find_req, out);
		break;
	case RELOAD_FIND_ANS:
		rc = find_ans_encode(&b->find_ans, out);
		break;
	case RELOAD_JOIN_REQ:
		node_id_put(&b->join_req.joining_peer_id, p, out);
		rc = bytes_put(out, 2, &b->join_req.overlay_specific);
		break;
	case RELOAD_JOIN_ANS:
		rc = bytes_put(out, 2, &b->join_ans.overlay_specific);
		break;
	case RELOAD_LEAVE_REQ:
		node_id_put(&b->leave_req.leaving_peer_id, p, out);
		rc = bytes_put(out, 2, &b->leave_req.overlay_specific);
		break;
	case RELOAD_LEAVE_ANS:
	case RELOAD_UPDATE_ANS:
	case RELOAD_CONFIG_UPDATE_ANS:
		break;
	case RELOAD_UPDATE_REQ:
		rc = chord_update_encode(&b->update_req, p, out);
		break;
	case RELOAD_ROUTE_QUERY_REQ:
		reload_buf_put_u8(out, b->route_query_req.send_update ? 1 : 0);
		if ((rc = reload_destination_encode(&b->route_query_req.destination, out)))
			break;
		rc = bytes_put(out, 2, &b->route_query_req.overlay_specific);
		break;
	case RELOAD_ROUTE_QUERY_ANS:
		rc = node_id_put(&b->route_query_ans.next_peer, p, out);
		break;
	case RELOAD_PING_REQ:
		rc = bytes_put(out, 2, &b->ping_req.padding);
		break;
	case RELOAD_PING_ANS:
		reload_buf_put_u64(out, b->ping_ans.response_id);
		rc = reload_buf_put_u64(out, b->ping_ans.time);
		break;
	case RELOAD_APP_ATTACH_REQ:
	case RELOAD_APP_ATTACH_ANS:
		rc = app_attach_encode(&b->app_attach, out);
		break;
	case RELOAD_CONFIG_UPDATE_REQ:
		rc = config_update_encode(&b->config_update_req, out);
		break;
	case RELOAD_ERROR:
		reload_buf_put_u16(out, b->error.error_code);
		rc = bytes_put(out, 2, &b->error.error_info);
		break;
	default:
		return -EINVAL;
	}
	if (!rc)
		rc = reload_buf_error(out);
	if (rc) {
		/* a half-written body must not be sent by mistake */
		out->len = start;
		if (rc == -EINVAL || rc == -EMSGSIZE)
			out->err = 0;
		return rc == -EMSGSIZE ? -EINVAL : rc;
	}
	return 0;
}

int reload_body_decode(uint16_t code, const uint8_t *buf, size_t len,
		       const struct reload_codec_params *p, struct reload_arena *a,
		       union reload_body *b)
{
	struct rd r;
	bool trailing_ok = false;

	if (!p || p->node_id_len < RELOAD_NODE_ID_MIN || p->node_id_len > RELOAD_NODE_ID_MAX)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	rd_init(&r, buf, len);
	switch (code) {
	case RELOAD_PROBE_REQ:
		probe_req_read(&r, a, &b->probe_req);
		break;
	case RELOAD_PROBE_ANS:
		probe_ans_read(&r, a, &b->probe_ans);
		break;
	case RELOAD_ATTACH_REQ:
	case RELOAD_ATTACH_ANS:
		attach_read(&r, a, &b->attach);
		break;
	case RELOAD_STORE_REQ:
		store_req_read(&r, p, a, &b->store_req);
		break;
	case RELOAD_STORE_ANS:
		store_ans_read(&r, p, a, &b->store_ans);
		break;
	case RELOAD_FETCH_REQ:
		fetch_req_read(&r, p, a, &b->fetch_req);
		break;
	case RELOAD_FETCH_ANS:
		fetch_ans_read(&r, p, a, &b->fetch_ans);
		break;
	case RELOAD_STAT_REQ:
		fetch_req_read(&r, p, a, &b->stat_req);
		break;
	case RELOAD_STAT_ANS:
		stat_ans_read(&r, p, a, &b->stat_ans);
		break;
	case RELOAD_FIND_REQ:
		find_req_read(&r, a, &b->find_req);
		break;
	case RELOAD_FIND_ANS:
		find_ans_read(&r, p, a, &b->find_ans);
		break;
	case RELOAD_JOIN_REQ:
		node_id_read(&r, p, &b->join_req.joining_peer_id);
		rd_opaque(&r, 2, a, &b->join_req.overlay_specific);
		break;
	case RELOAD_JOIN_ANS:
		rd_opaque(&r, 2, a, &b->join_ans.overlay_specific);
		break;
	case RELOAD_LEAVE_REQ:
		node_id_read(&r, p, &b->leave_req.leaving_peer_id);
		rd_opaque(&r, 2, a, &b->leave_req.overlay_specific);
		break;
	case RELOAD_LEAVE_ANS:
	case RELOAD_UPDATE_ANS:
		/* the RFC leaves these to the overlay: content is ignored */
		trailing_ok = true;
		break;
	case RELOAD_CONFIG_UPDATE_ANS:
		break;
	case RELOAD_UPDATE_REQ:
		chord_update_read(&r, p, a, &b->update_req);
		break;
	case RELOAD_ROUTE_QUERY_REQ:
		rd_bool(&r, &b->route_query_req.send_update);
		destination_read(&r, p, &b->route_query_req.destination);
		rd_opaque(&r, 2, a, &b->route_query_req.overlay_specific);
		break;
	case RELOAD_ROUTE_QUERY_ANS:
		node_id_read(&r, p, &b->route_query_ans.next_peer);
		break;
	case RELOAD_PING_REQ:
		rd_opaque(&r, 2, a, &b->ping_req.padding);
		break;
	case RELOAD_PING_ANS:
		b->ping_ans.response_id = rd_u64(&r);
		b->ping_ans.time = rd_u64(&r);
		break;
	case RELOAD_APP_ATTACH_REQ:
	case RELOAD_APP_ATTACH_ANS:
		app_attach_read(&r, a, &b->app_attach);
		break;
	case RELOAD_CONFIG_UPDATE_REQ:
		config_update_read(&r, a, &b->config_update_req);
		break;
	case RELOAD_ERROR:
		b->error.error_code = rd_u16(&r);
		rd_opaque(&r, 2, a, &b->error.error_info);
		break;
	default:
		return -ENOTSUP;
	}
	if (r.bad || (!trailing_ok && r.off != r.len))
		return -EBADMSG;
	return 0;
}

/* ---- error_info of Error_Unknown_Kind (§7.4.1.2) ----------------------------------------- */

int reload_unknown_kinds_encode(const uint32_t *kinds, size_t n, struct reload_buf *out)
{
	struct wr_len l = wr_len_begin(out, 1);

	for (size_t i = 0; i < n; i++)
		reload_buf_put_u32(out, kinds[i]);
	return wr_len_end(out, l);
}

int reload_unknown_kinds_decode(const uint8_t *buf, size_t len, uint32_t *kinds, size_t max,
				size_t *n)
{
	struct rd r, sub;

	*n = 0;
	rd_init(&r, buf, len);
	if (!rd_vec(&r, 1, &sub) || sub.len % 4 || !rd_done(&r))
		return -EBADMSG;
	while (rd_left(&sub) > 0) {
		uint32_t k = rd_u32(&sub);

		if (*n < max)
			kinds[*n] = k;
		(*n)++;
	}
	return 0;
}
