/* RFC 6940 §6.3.1.1, §6.3.3.1, §14.8, §14.9: identifiers, error and message code tables, and the
 * arena/buffer helpers every codec file shares. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "reload.h"

/* ---- arena ------------------------------------------------------------------------------- */

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(16) uint8_t data[];
};

struct reload_arena {
	struct arena_block *head;
};

struct reload_arena *reload_arena_new(void)
{
	struct reload_arena *a = calloc(1, sizeof(*a));

	if (!a)
		errno = ENOMEM;
	return a;
}

void reload_arena_free(struct reload_arena *a)
{
	struct arena_block *b, *n;

	if (!a)
		return;
	for (b = a->head; b; b = n) {
		n = b->next;
		free(b);
	}
	free(a);
}

void *reload_arena_alloc(struct reload_arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need = (size + 15) & ~(size_t)15;
	void *p;

	if (size == 0)
		need = 16;
	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		size_t bs = need > 4096 ? need : 4096;

		b = malloc(sizeof(*b) + bs);
		if (!b)
			return NULL;
		b->size = bs;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	memset(p, 0, need);
	return p;
}

void *reload_arena_memdup(struct reload_arena *a, const void *p, size_t len)
{
	void *q = reload_arena_alloc(a, len);

	if (q && len)
		memcpy(q, p, len);
	return q;
}

/* ---- growable buffer ---------------------------------------------------------------------- */

/* RELOAD lengths are at most 32 bits; anything bigger than that is a bug or an attack. */
#define RELOAD_BUF_LIMIT ((size_t)UINT32_MAX)

void reload_buf_init(struct reload_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void reload_buf_free(struct reload_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void reload_buf_reset(struct reload_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int reload_buf_error(const struct reload_buf *b)
{
	return b->err;
}

int reload_buf_put(struct reload_buf *b, const void *p, size_t len)
{
	if (b->err)
		return b->err;
	if (len > RELOAD_BUF_LIMIT - b->len) {
		b->err = -EMSGSIZE;
		return b->err;
	}
	if (b->len + len > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		uint8_t *nd;

		while (nc < b->len + len)
			nc *= 2;
		nd = realloc(b->data, nc);
		if (!nd) {
			b->err = -ENOMEM;
			return b->err;
		}
		b->data = nd;
		b->cap = nc;
	}
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

int reload_buf_put_u8(struct reload_buf *b, uint8_t v)
{
	return reload_buf_put(b, &v, 1);
}

int reload_buf_put_u16(struct reload_buf *b, uint16_t v)
{
	uint8_t p[2];

	pcdn_put_be16(p, v);
	return reload_buf_put(b, p, 2);
}

int reload_buf_put_u32(struct reload_buf *b, uint32_t v)
{
	uint8_t p[4];

	pcdn_put_be32(p, v);
	return reload_buf_put(b, p, 4);
}

int reload_buf_put_u64(struct reload_buf *b, uint64_t v)
{
	uint8_t p[8];

	pcdn_put_be64(p, v);
	return reload_buf_put(b, p, 8);
}

/* ---- identifiers --------------------------------------------------------------------------- */

void reload_node_id_wildcard(struct reload_node_id *n, unsigned len)
{
	if (len > RELOAD_NODE_ID_MAX)
		len = RELOAD_NODE_ID_MAX;
	n->len = (uint8_t)len;
	memset(n->id, 0xff, sizeof(n->id));
}

bool reload_node_id_is_wildcard(const struct reload_node_id *n)
{
	for (unsigned i = 0; i < n->len; i++)
		if (n->id[i] != 0xff)
			return false;
	return n->len > 0;
}

int reload_node_id_cmp(const struct reload_node_id *a, const struct reload_node_id *b)
{
	unsigned n = PCDN_MIN(a->len, b->len);
	int c = memcmp(a->id, b->id, n);

	if (c)
		return c < 0 ? -1 : 1;
	return a->len == b->len ? 0 : (a->len < b->len ? -1 : 1);
}

bool reload_node_id_equal(const struct reload_node_id *a, const struct reload_node_id *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

int reload_node_id_from_hex(const char *hex, unsigned len, struct reload_node_id *out)
{
	size_t n;

	if (len < 1 || len > RELOAD_NODE_ID_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (pcdn_hex_decode(hex, out->id, RELOAD_NODE_ID_MAX, &n) < 0 || n != len)
		return -EINVAL;
	out->len = (uint8_t)len;
	return 0;
}

void reload_node_id_to_hex(const struct reload_node_id *n, char out[2 * RELOAD_NODE_ID_MAX + 1])
{
	pcdn_hex_encode(n->id, PCDN_MIN(n->len, RELOAD_NODE_ID_MAX), out);
}

void reload_dest_node(struct reload_destination *d, const struct reload_node_id *n)
{
	memset(d, 0, sizeof(*d));
	d->type = RELOAD_DEST_NODE;
	d->len = n->len;
	memcpy(d->id, n->id, n->len);
}

void reload_dest_resource(struct reload_destination *d, const struct reload_resource_id *r)
{
	memset(d, 0, sizeof(*d));
	d->type = RELOAD_DEST_RESOURCE;
	d->len = r->len;
	memcpy(d->id, r->id, r->len);
}

void reload_dest_compressed(struct reload_destination *d, uint16_t value)
{
	memset(d, 0, sizeof(*d));
	d->type = RELOAD_DEST_OPAQUE;
	d->compressed = true;
	d->len = 2;
	pcdn_put_be16(d->id, (uint16_t)(value | 0x8000));
}

bool reload_dest_equal(const struct reload_destination *a, const struct reload_destination *b)
{
	return a->type == b->type && a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

uint32_t reload_overlay_hash(const char *overlay_name)
{
	uint8_t md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)overlay_name, strlen(overlay_name), md);
	/* "lower 32 bits" of the 160-bit big-endian digest: its last four bytes */
	return pcdn_get_be32(md + SHA_DIGEST_LENGTH - 4);
}

void reload_resource_id_hash(const void *data, size_t len, unsigned id_len,
			     struct reload_resource_id *out)
{
	uint8_t md[SHA_DIGEST_LENGTH];

	if (id_len > SHA_DIGEST_LENGTH)
		id_len = SHA_DIGEST_LENGTH;
	SHA1(data, len, md);
	memset(out, 0, sizeof(*out));
	out->len = (uint8_t)id_len;
	memcpy(out->id, md, id_len);
}

/* ---- codes --------------------------------------------------------------------------------- */

static const struct {
	int err;
	uint16_t code;
} err_map[] = {
    {-EACCES, RELOAD_ERR_FORBIDDEN},
    {-EPERM, RELOAD_ERR_FORBIDDEN},
    {-ENOENT, RELOAD_ERR_NOT_FOUND},
    {-ETIMEDOUT, RELOAD_ERR_REQUEST_TIMEOUT},
    {-ESTALE, RELOAD_ERR_GENERATION_COUNTER_TOO_LOW},
    {-EPROTO, RELOAD_ERR_INCOMPATIBLE_WITH_OVERLAY},
    {-EPROTONOSUPPORT, RELOAD_ERR_INCOMPATIBLE_WITH_OVERLAY},
    {-EOPNOTSUPP, RELOAD_ERR_UNSUPPORTED_FORWARDING_OPTION},
    {-EFBIG, RELOAD_ERR_DATA_TOO_LARGE},
    {-ETIME, RELOAD_ERR_DATA_TOO_OLD},
    {-ELOOP, RELOAD_ERR_TTL_EXCEEDED},
    {-EMSGSIZE, RELOAD_ERR_MESSAGE_TOO_LARGE},
    {-ENOSYS, RELOAD_ERR_UNKNOWN_KIND},
    {-ENOPROTOOPT, RELOAD_ERR_UNKNOWN_EXTENSION},
    {-E2BIG, RELOAD_ERR_RESPONSE_TOO_LARGE},
    {-EKEYEXPIRED, RELOAD_ERR_CONFIG_TOO_OLD},
    {-ERANGE, RELOAD_ERR_CONFIG_TOO_NEW},
    {-EINPROGRESS, RELOAD_ERR_IN_PROGRESS},
    {-EBADMSG, RELOAD_ERR_INVALID_MESSAGE},
};

uint16_t reload_error_code_from_errno(int negative_errno)
{
	if (negative_errno == -ENOMSG)
		return 0;
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(err_map); i++)
		if (err_map[i].err == negative_errno)
			return err_map[i].code;
	return RELOAD_ERR_INVALID_MESSAGE;
}

int reload_errno_from_error_code(uint16_t code)
{
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(err_map); i++)
		if (err_map[i].code == code)
			return err_map[i].err;
	return -EBADMSG;
}

const char *reload_error_code_name(uint16_t code)
{
	static const char *const names[] = {
	    [RELOAD_ERR_FORBIDDEN] = "Error_Forbidden",
	    [RELOAD_ERR_NOT_FOUND] = "Error_Not_Found",
	    [RELOAD_ERR_REQUEST_TIMEOUT] = "Error_Request_Timeout",
	    [RELOAD_ERR_GENERATION_COUNTER_TOO_LOW] = "Error_Generation_Counter_Too_Low",
	    [RELOAD_ERR_INCOMPATIBLE_WITH_OVERLAY] = "Error_Incompatible_with_Overlay",
	    [RELOAD_ERR_UNSUPPORTED_FORWARDING_OPTION] = "Error_Unsupported_Forwarding_Option",
	    [RELOAD_ERR_DATA_TOO_LARGE] = "Error_Data_Too_Large",
	    [RELOAD_ERR_DATA_TOO_OLD] = "Error_Data_Too_Old",
	    [RELOAD_ERR_TTL_EXCEEDED] = "Error_TTL_Exceeded",
	    [RELOAD_ERR_MESSAGE_TOO_LARGE] = "Error_Message_Too_Large",
	    [RELOAD_ERR_UNKNOWN_KIND] = "Error_Unknown_Kind",
	    [RELOAD_ERR_UNKNOWN_EXTENSION] = "Error_Unknown_Extension",
	    [RELOAD_ERR_RESPONSE_TOO_LARGE] = "Error_Response_Too_Large",
	    [RELOAD_ERR_CONFIG_TOO_OLD] = "Error_Config_Too_Old",
	    [RELOAD_ERR_CONFIG_TOO_NEW] = "Error_Config_Too_New",
	    [RELOAD_ERR_IN_PROGRESS] = "Error_In_Progress",
	    [RELOAD_ERR_EXP_A] = "Error_Exp_A",
	    [RELOAD_ERR_EXP_B] = "Error_Exp_B",
	    [RELOAD_ERR_INVALID_MESSAGE] = "Error_Invalid_Message",
	};

	if (code < PCDN_ARRAY_SIZE(names) && names[code])
		return names[code];
	return "Error_Unknown";
}

const char *reload_msg_code_name(uint16_t code)
{
	static const char *const names[] = {
	    [RELOAD_PROBE_REQ] = "probe_req",
	    [RELOAD_PROBE_ANS] = "probe_ans",
	    [RELOAD_ATTACH_REQ] = "attach_req",
	    [RELOAD_ATTACH_ANS] = "attach_ans",
	    [RELOAD_STORE_REQ] = "store_req",
	    [RELOAD_STORE_ANS] = "store_ans",
	    [RELOAD_FETCH_REQ] = "fetch_req",
	    [RELOAD_FETCH_ANS] = "fetch_ans",
	    [RELOAD_FIND_REQ] = "find_req",
	    [RELOAD_FIND_ANS] = "find_ans",
	    [RELOAD_JOIN_REQ] = "join_req",
	    [RELOAD_JOIN_ANS] = "join_ans",
	    [RELOAD_LEAVE_REQ] = "leave_req",
	    [RELOAD_LEAVE_ANS] = "leave_ans",
	    [RELOAD_UPDATE_REQ] = "update_req",
	    [RELOAD_UPDATE_ANS] = "update_ans",
	    [RELOAD_ROUTE_QUERY_REQ] = "route_query_req",
	    [RELOAD_ROUTE_QUERY_ANS] = "route_query_ans",
	    [RELOAD_PING_REQ] = "ping_req",
	    [RELOAD_PING_ANS] = "ping_ans",
	    [RELOAD_STAT_REQ] = "stat_req",
	    [RELOAD_STAT_ANS] = "stat_ans",
	    [RELOAD_APP_ATTACH_REQ] = "app_attach_req",
	    [RELOAD_APP_ATTACH_ANS] = "app_attach_ans",
	    [RELOAD_CONFIG_UPDATE_REQ] = "config_update_req",
	    [RELOAD_CONFIG_UPDATE_ANS] = "config_update_ans",
	};

	if (code == RELOAD_ERROR)
		return "error";
	if (code < PCDN_ARRAY_SIZE(names) && names[code])
		return names[code];
	return "unknown";
}
