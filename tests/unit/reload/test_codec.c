/* CUnit suite "reload_codec" (RFC 6940 §6.3, §6.4.2, §6.5, §7, §10.7): known-answer byte layouts
 * written by hand from the RFC's structure definitions, round trips of every method's request
 * and answer, strict bounds (every truncation and bad length refused), forwarding rewrites and
 * the error code mapping. */
#include <errno.h>

#include "reload_test_util.h"

#define KIND_SINGLE 0xf0000001u
#define KIND_ARRAY  0xf0000002u
#define KIND_DICT   0xf0000003u

static enum reload_data_model kind_model(const void *ctx, uint32_t kind)
{
	(void)ctx;
	switch (kind) {
	case KIND_SINGLE:
		return RELOAD_MODEL_SINGLE;
	case KIND_ARRAY:
		return RELOAD_MODEL_ARRAY;
	case KIND_DICT:
		return RELOAD_MODEL_DICTIONARY;
	default:
		return RELOAD_MODEL_UNKNOWN;
	}
}

static struct reload_codec_params kparams(void)
{
	struct reload_codec_params p = test_params();

	p.kind_model = kind_model;
	return p;
}

static struct test_creds creds;

static int suite_init(void)
{
	return test_creds_make(&creds, RELOAD_KEY_EC_P256, "alice@" TEST_OVERLAY);
}

static int suite_clean(void)
{
	test_creds_free(&creds);
	return 0;
}

/* ---- known answers -------------------------------------------------------------------------- */

/* A Ping request to Node-ID 00..0f, built byte by byte from §6.3.2 and §6.5.3.1. */
static const uint8_t ping_hdr_and_contents[] = {
    0xd2, 0x45, 0x4c, 0x4f,			    /* relo_token */
    0x01, 0x02, 0x03, 0x04,			    /* overlay */
    0x00, 0x07,					    /* configuration_sequence */
    0x0a,					    /* version */
    0x64,					    /* ttl = 100 */
    0xc0, 0x00, 0x00, 0x00,			    /* fragment: last, offset 0 */
    0x00, 0x00, 0x00, 0x00,			    /* length (patched by the test) */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* transaction_id */
    0x00, 0x00, 0x10, 0x00,			    /* max_response_length = 4096 */
    0x00, 0x00,					    /* via_list_length */
    0x00, 0x12,					    /* destination_list_length = 18 */
    0x00, 0x00,					    /* options_length */
    0x01, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, /* destination: node, length 16, Node-ID */
    0x00, 0x17,					    /* message_code = ping_req */
    0x00, 0x00, 0x00, 0x02,			    /* message_body length */
    0x00, 0x00,					    /* PingReq.padding<0..2^16-1>: empty */
    0x00, 0x00, 0x00, 0x00,			    /* extensions: none */
};

/* An empty certificate bucket and the anonymous signature (§6.3.4, §7.4.2.2). */
static const uint8_t anon_security_block[] = {
    0x00, 0x00,	      /* certificates<0..2^16-1> */
    0x00, 0x00,	      /* SignatureAndHashAlgorithm {none, anonymous} */
    0x03, 0x00, 0x00, /* SignerIdentity: none, length 0 */
    0x00, 0x00,	      /* signature_value */
};

static void fill_ping_header(struct reload_fwd_header *h, struct reload_destination *d)
{
	struct reload_node_id n;

	memset(h, 0, sizeof(*h));
	test_node_id(&n, 0);
	reload_dest_node(d, &n);
	h->overlay = 0x01020304;
	h->config_seq = 7;
	h->ttl = 100;
	h->transaction_id = 0x1122334455667788ull;
	h->max_response_length = 4096;
	h->dest = d;
	h->dest_count = 1;
}

static void test_kat_ping_encode(void)
{
	struct reload_fwd_header h;
	struct reload_destination d;
	struct reload_buf b, contents, full;
	union reload_body body;
	struct reload_codec_params p = test_params();
	uint8_t want[sizeof(ping_hdr_and_contents)];
	size_t hl = RELOAD_FIXED_HEADER_LEN + 18;

	fill_ping_header(&h, &d);
	memcpy(want, ping_hdr_and_contents, sizeof(want));
	reload_buf_init(&b);
	reload_buf_init(&contents);
	reload_buf_init(&full);
	memset(&body, 0, sizeof(body));
	CU_ASSERT_EQUAL_FATAL(reload_body_encode(RELOAD_PING_REQ, &body, &p, &b), 0);
	CU_ASSERT_EQUAL(reload_contents_encode(RELOAD_PING_REQ,
					       &(struct reload_bytes){b.data, b.len}, NULL, 0,
					       &contents),
			0);
	/* header alone, announcing the contents and the anonymous block as payload */
	CU_ASSERT_EQUAL(
	    reload_fwd_header_encode(&h, contents.len + sizeof(anon_security_block), &full), 0);
	reload_buf_put(&full, contents.data, contents.len);
	reload_buf_put(&full, anon_security_block, sizeof(anon_security_block));
	pcdn_put_be32(want + 16, (uint32_t)(sizeof(want) + sizeof(anon_security_block)));
	CU_ASSERT_EQUAL_FATAL(full.len, sizeof(want) + sizeof(anon_security_block));
	CU_ASSERT_EQUAL(memcmp(full.data, want, hl), 0);
	CU_ASSERT_EQUAL(memcmp(full.data, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(
	    memcmp(full.data + sizeof(want), anon_security_block, sizeof(anon_security_block)), 0);

	/* the signed message starts with exactly the same header and contents */
	reload_buf_reset(&full);
	CU_ASSERT_EQUAL_FATAL(
	    reload_message_build(&h, RELOAD_PING_REQ, &body, &p, creds.signer, &full), 0);
	pcdn_put_be32(want + 16, (uint32_t)full.len);
	CU_ASSERT_EQUAL(memcmp(full.data, want, sizeof(want)), 0);
	reload_buf_free(&b);
	reload_buf_free(&contents);
	reload_buf_free(&full);
}

static void test_kat_ping_decode(void)
{
	uint8_t msg[sizeof(ping_hdr_and_contents) + sizeof(anon_security_block)];
	struct reload_message *m = NULL;
	struct reload_codec_params p = test_params();
	union reload_body body;
	struct reload_arena *a = reload_arena_new();

	memcpy(msg, ping_hdr_and_contents, sizeof(ping_hdr_and_contents));
	memcpy(msg + sizeof(ping_hdr_and_contents), anon_security_block,
	       sizeof(anon_security_block));
	pcdn_put_be32(msg + 16, sizeof(msg));
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(msg, sizeof(msg), 16, 0, &m, NULL), 0);
	CU_ASSERT_EQUAL(m->hdr.overlay, 0x01020304u);
	CU_ASSERT_EQUAL(m->hdr.config_seq, 7);
	CU_ASSERT_EQUAL(m->hdr.ttl, 100);
	CU_ASSERT_EQUAL(m->hdr.fragment, RELOAD_FRAG_UNFRAGMENTED);
	CU_ASSERT_EQUAL(m->hdr.transaction_id, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(m->hdr.max_response_length, 4096u);
	CU_ASSERT_EQUAL(m->hdr.via_count, 0);
	CU_ASSERT_EQUAL_FATAL(m->hdr.dest_count, 1);
	CU_ASSERT_EQUAL(m->hdr.dest[0].type, RELOAD_DEST_NODE);
	CU_ASSERT_EQUAL(m->hdr.dest[0].len, 16);
	CU_ASSERT_EQUAL(m->hdr.dest[0].id[15], 0x0f);
	CU_ASSERT_EQUAL(m->code, RELOAD_PING_REQ);
	CU_ASSERT_EQUAL(m->body.len, 2);
	CU_ASSERT_EQUAL(m->security.cert_count, 0);
	CU_ASSERT_EQUAL(m->security.signature.identity.type, RELOAD_ID_NONE);
	CU_ASSERT_EQUAL(reload_body_decode(m->code, m->body.data, m->body.len, &p, a, &body), 0);
	CU_ASSERT_EQUAL(body.ping_req.padding.len, 0);
	/* the anonymous signature never verifies */
	CU_ASSERT_EQUAL(reload_message_verify(m, creds.trust, time(NULL), NULL), -EACCES);
	reload_message_free(m);
	reload_arena_free(a);
}

/* §6.3.2.2: a via list with a 16-bit compressed entry and a destination list of a Node-ID, a
 * compressed entry and a Resource-ID (resource last, as required). */
static void test_kat_destination_lists(void)
{
	static const uint8_t lists[] = {
	    /* via: one compressed entry 0x8123 */
	    0x81,
	    0x23,
	    /* destination: node */
	    0x01,
	    0x10,
	    0xa0,
	    0xa1,
	    0xa2,
	    0xa3,
	    0xa4,
	    0xa5,
	    0xa6,
	    0xa7,
	    0xa8,
	    0xa9,
	    0xaa,
	    0xab,
	    0xac,
	    0xad,
	    0xae,
	    0xaf,
	    /* compressed 0xfffe */
	    0xff,
	    0xfe,
	    /* resource "FOO": type 2, length 4, ResourceId<0..255> = 03 46 4f 4f */
	    0x02,
	    0x04,
	    0x03,
	    0x46,
	    0x4f,
	    0x4f,
	    /* an opaque id of 3 bytes in TLV form */
	    0x03,
	    0x04,
	    0x03,
	    0x01,
	    0x02,
	    0x03,
	};
	uint8_t msg[RELOAD_FIXED_HEADER_LEN + sizeof(lists)];
	struct reload_arena *a = reload_arena_new();
	struct reload_fwd_header h;
	struct reload_buf b;
	size_t hl;

	memset(msg, 0, sizeof(msg));
	pcdn_put_be32(msg, RELOAD_TOKEN);
	msg[10] = RELOAD_VERSION;
	msg[11] = 5;
	pcdn_put_be32(msg + 12, RELOAD_FRAG_UNFRAGMENTED);
	pcdn_put_be32(msg + 16, sizeof(msg));
	pcdn_put_be16(msg + 32, 2);
	pcdn_put_be16(msg + 34, sizeof(lists) - 2);
	memcpy(msg + RELOAD_FIXED_HEADER_LEN, lists, sizeof(lists));
	CU_ASSERT_EQUAL_FATAL(reload_fwd_header_decode(msg, sizeof(msg), 16, a, &h, &hl), 0);
	CU_ASSERT_EQUAL(hl, sizeof(msg));
	CU_ASSERT_EQUAL_FATAL(h.via_count, 1);
	CU_ASSERT_TRUE(h.via[0].compressed);
	CU_ASSERT_EQUAL(h.via[0].type, RELOAD_DEST_OPAQUE);
	CU_ASSERT_EQUAL(pcdn_get_be16(h.via[0].id), 0x8123);
	CU_ASSERT_EQUAL_FATAL(h.dest_count, 4);
	CU_ASSERT_EQUAL(h.dest[0].type, RELOAD_DEST_NODE);
	CU_ASSERT_EQUAL(h.dest[0].id[0], 0xa0);
	CU_ASSERT_TRUE(h.dest[1].compressed);
	CU_ASSERT_EQUAL(pcdn_get_be16(h.dest[1].id), 0xfffe);
	CU_ASSERT_EQUAL(h.dest[2].type, RELOAD_DEST_RESOURCE);
	CU_ASSERT_EQUAL(h.dest[2].len, 3);
	CU_ASSERT_EQUAL(memcmp(h.dest[2].id, "FOO", 3), 0);
	CU_ASSERT_EQUAL(h.dest[3].type, RELOAD_DEST_OPAQUE);
	CU_ASSERT_FALSE(h.dest[3].compressed);
	CU_ASSERT_EQUAL(h.dest[3].len, 3);
	/* and the encoder writes the very same bytes */
	reload_buf_init(&b);
	CU_ASSERT_EQUAL(reload_fwd_header_encode(&h, 0, &b), 0);
	CU_ASSERT_EQUAL_FATAL(b.len, sizeof(msg));
	CU_ASSERT_EQUAL(memcmp(b.data, msg, sizeof(msg)), 0);
	/* a compressed entry must have its top bit set */
	{
		struct reload_destination d;

		reload_dest_compressed(&d, 0x0123);
		CU_ASSERT_EQUAL(pcdn_get_be16(d.id), 0x8123);
		d.id[0] = 0x01;
		reload_buf_reset(&b);
		CU_ASSERT_EQUAL(reload_destination_encode(&d, &b), -EINVAL);
	}
	reload_buf_free(&b);
	reload_arena_free(a);
}

/* §6.3.1.1's own example: IPv4 192.0.2.1 port 6084 inside a No-ICE host candidate. */
static void test_kat_attach_no_ice(void)
{
	static const uint8_t want[] = {
	    0x04, 'u',	'f',  'r',  'g',		    /* ufrag */
	    0x02, 'p',	'w',				    /* password */
	    0x07, 'p',	'a',  's',  's',  'i',	'v',  'e',  /* role */
	    0x00, 0x12,					    /* candidates<0..2^16-1>: 18 bytes */
	    0x01, 0x06, 0xc0, 0x00, 0x02, 0x01, 0x17, 0xc4, /* IpAddressPort */
	    0x04,					    /* overlay_link = TLS-TCP-FH-NO-ICE */
	    0x01, '1',					    /* foundation */
	    0x7e, 0x00, 0x00, 0xff,			    /* priority */
	    0x01,					    /* type = host */
	    0x00, 0x00,					    /* extensions */
	    0x01,					    /* send_update = true */
	};
	struct reload_ice_candidate c;
	union reload_body b, d;
	struct reload_codec_params p = test_params();
	struct reload_buf out;
	struct reload_arena *a = reload_arena_new();
	struct pcdn_addr addr;
	char text[64];

	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(pcdn_addr_parse("192.0.2.1:6084", &addr), 0);
	CU_ASSERT_EQUAL(reload_ip_port_from_addr(&addr, &c.addr_port), 0);
	c.overlay_link = RELOAD_LINK_TLS_TCP_FH_NO_ICE;
	c.foundation = (struct reload_bytes){(const uint8_t *)"1", 1};
	c.priority = 0x7e0000ff;
	c.cand_type = RELOAD_CAND_HOST;
	b.attach.ufrag = (struct reload_bytes){(const uint8_t *)"ufrg", 4};
	b.attach.password = (struct reload_bytes){(const uint8_t *)"pw", 2};
	b.attach.role = (struct reload_bytes){(const uint8_t *)"passive", 7};
	b.attach.candidates = &c;
	b.attach.candidate_count = 1;
	b.attach.send_update = true;
	reload_buf_init(&out);
	CU_ASSERT_EQUAL_FATAL(reload_body_encode(RELOAD_ATTACH_REQ, &b, &p, &out), 0);
	CU_ASSERT_EQUAL_FATAL(out.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL_FATAL(reload_body_decode(RELOAD_ATTACH_REQ, want, sizeof(want), &p, a, &d),
			      0);
	CU_ASSERT_EQUAL_FATAL(d.attach.candidate_count, 1);
	CU_ASSERT_EQUAL(reload_candidates_no_ice(d.attach.candidates, 1), 1);
	CU_ASSERT_EQUAL(reload_ip_port_to_addr(&d.attach.candidates[0].addr_port, &addr), 0);
	CU_ASSERT_STRING_EQUAL(pcdn_addr_format(&addr, text, sizeof(text)), "192.0.2.1:6084");
	CU_ASSERT_TRUE(d.attach.send_update);
	/* mixing ICE and No-ICE candidates is refused (§6.5.1.1) */
	{
		struct reload_ice_candidate two[2] = {c, c};

		two[1].overlay_link = RELOAD_LINK_DTLS_UDP_SR;
		CU_ASSERT_EQUAL(reload_candidates_no_ice(two, 2), -EBADMSG);
		CU_ASSERT_EQUAL(reload_candidates_no_ice(two + 1, 1), 0);
	}
	reload_buf_free(&out);
	reload_arena_free(a);
}

/* §10.7: ChordUpdate of type neighbors with one predecessor and two successors. */
static void test_kat_chord_update(void)
{
	uint8_t want[4 + 1 + 2 + 16 + 2 + 32];
	struct reload_node_id ids[3];
	union reload_body b, d;
	struct reload_codec_params p = test_params();
	struct reload_buf out;
	struct reload_arena *a = reload_arena_new();

	for (int i = 0; i < 3; i++)
		test_node_id(&ids[i], (uint8_t)(0x10 * (i + 1)));
	pcdn_put_be32(want, 3600);
	want[4] = RELOAD_CHORD_NEIGHBORS;
	pcdn_put_be16(want + 5, 16);
	memcpy(want + 7, ids[0].id, 16);
	pcdn_put_be16(want + 23, 32);
	memcpy(want + 25, ids[1].id, 16);
	memcpy(want + 41, ids[2].id, 16);
	memset(&b, 0, sizeof(b));
	b.update_req.uptime = 3600;
	b.update_req.type = RELOAD_CHORD_NEIGHBORS;
	b.update_req.predecessors = ids;
	b.update_req.predecessor_count = 1;
	b.update_req.successors = ids + 1;
	b.update_req.successor_count = 2;
	reload_buf_init(&out);
	CU_ASSERT_EQUAL_FATAL(reload_body_encode(RELOAD_UPDATE_REQ, &b, &p, &out), 0);
	CU_ASSERT_EQUAL_FATAL(out.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL_FATAL(reload_body_decode(RELOAD_UPDATE_REQ, want, sizeof(want), &p, a, &d),
			      0);
	CU_ASSERT_EQUAL(d.update_req.successor_count, 2);
	CU_ASSERT_TRUE(reload_node_id_equal(&d.update_req.successors[1], &ids[2]));
	/* a Node-ID list whose length is not a multiple of the Node-ID length */
	want[24] = 31;
	CU_ASSERT_EQUAL(reload_body_decode(RELOAD_UPDATE_REQ, want, sizeof(want) - 1, &p, a, &d),
			-EBADMSG);
	reload_buf_free(&out);
	reload_arena_free(a);
}

/* §7, §7.2.1: one SINGLE StoredData with the anonymous signature. */
static void test_kat_stored_data(void)
{
	static const uint8_t want[] = {
	    0x00, 0x00, 0x00, 0x1b,			    /* length of the rest: 27 */
	    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* storage_time */
	    0x00, 0x01, 0x51, 0x80,			    /* lifetime = 86400 */
	    0x01,					    /* exists */
	    0x00, 0x00, 0x00, 0x03, 'a',  'b',	'c',	    /* value */
	    0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,	    /* anonymous signature */
	};
	struct reload_stored_data sd, back;
	struct reload_buf out;
	struct reload_arena *a = reload_arena_new();
	size_t used;

	memset(&sd, 0, sizeof(sd));
	sd.storage_time = 0x18bcfe56800ull;
	sd.lifetime = 86400;
	sd.value.model = RELOAD_MODEL_SINGLE;
	sd.value.value.exists = true;
	sd.value.value.value = (struct reload_bytes){(const uint8_t *)"abc", 3};
	sd.signature.identity.type = RELOAD_ID_NONE;
	reload_buf_init(&out);
	CU_ASSERT_EQUAL_FATAL(reload_stored_data_encode(&sd, &out), 0);
	CU_ASSERT_EQUAL_FATAL(out.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(
	    reload_stored_data_decode(want, sizeof(want), RELOAD_MODEL_SINGLE, a, &back, &used), 0);
	CU_ASSERT_EQUAL(used, sizeof(want));
	CU_ASSERT_EQUAL(back.lifetime, 86400u);
	CU_ASSERT_EQUAL(back.value.value.value.len, 3);
	/* the same bytes read as an ARRAY entry do not fit */
	CU_ASSERT_EQUAL(
	    reload_stored_data_decode(want, sizeof(want), RELOAD_MODEL_ARRAY, a, &back, &used),
	    -EBADMSG);
	reload_buf_free(&out);
	reload_arena_free(a);
}

/* ---- round trips of every method --------------------------------------------------------------
 */

static const uint8_t some[] = "some bytes";
#define SOME ((struct reload_bytes){some, sizeof(some) - 1})

static void fill_sd(struct reload_stored_data *sd, uint8_t model, uint32_t index, const char *key)
{
	memset(sd, 0, sizeof(*sd));
	sd->storage_time = 1700000000000ull + index;
	sd->lifetime = 3600;
	sd->value.model = model;
	sd->value.index = index;
	if (key)
		sd->value.key = (struct reload_bytes){(const uint8_t *)key, strlen(key)};
	sd->value.value.exists = true;
	sd->value.value.value = SOME;
	sd->signature.hash_alg = RELOAD_HASH_SHA256;
	sd->signature.sig_alg = RELOAD_SIG_ECDSA;
	sd->signature.identity.type = RELOAD_ID_CERT_HASH;
	sd->signature.identity.hash_alg = RELOAD_HASH_SHA256;
	sd->signature.identity.hash = SOME;
	sd->signature.value = SOME;
}

/* Encodes b, decodes it, encodes the result again: both encodings must be identical, and
 * every strict prefix of the encoding must be refused. */
static void roundtrip(uint16_t code, const union reload_body *b)
{
	struct reload_codec_params p = kparams();
	struct reload_buf e1, e2;
	struct reload_arena *a = reload_arena_new();
	union reload_body d;
	int rc;

	reload_buf_init(&e1);
	reload_buf_init(&e2);
	rc = reload_body_encode(code, b, &p, &e1);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc) {
		fprintf(stderr, "encode %s: %d\n", reload_msg_code_name(code), rc);
		goto out;
	}
	rc = reload_body_decode(code, e1.data, e1.len, &p, a, &d);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc) {
		fprintf(stderr, "decode %s: %d\n", reload_msg_code_name(code), rc);
		goto out;
	}
	CU_ASSERT_EQUAL(reload_body_encode(code, &d, &p, &e2), 0);
	CU_ASSERT_EQUAL(e1.len, e2.len);
	if (e1.len == e2.len && e1.len)
		CU_ASSERT_EQUAL(memcmp(e1.data, e2.data, e1.len), 0);
	if (code != RELOAD_LEAVE_ANS && code != RELOAD_UPDATE_ANS)
		for (size_t cut = 0; cut < e1.len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);

			if (cut)
				memcpy(copy, e1.data, cut);
			if (reload_body_decode(code, copy, cut, &p, a, &d) != -EBADMSG) {
				fprintf(stderr, "%s accepted a prefix of %zu/%zu bytes\n",
					reload_msg_code_name(code), cut, e1.len);
				CU_FAIL("truncated body accepted");
			}
			free(copy);
		}
out:
	reload_buf_free(&e1);
	reload_buf_free(&e2);
	reload_arena_free(a);
}

static void test_roundtrip_every_method(void)
{
	union reload_body b;
	struct reload_node_id ids[4];
	uint8_t probe_types[] = {1, 2, 3};
	struct reload_probe_info info[] = {{1, 500000000}, {2, 42}, {3, 3600}};
	struct reload_ice_candidate cand[2];
	struct reload_ice_extension ext = {SOME, SOME};
	struct reload_stored_data sd_single, sd_array[2], sd_dict[2];
	struct reload_store_kind_data kd[3];
	struct reload_store_kind_response skr[2];
	struct reload_array_range ranges[2] = {{0, 3}, {5, 0xffffffffu}};
	struct reload_bytes keys[2] = {{(const uint8_t *)"k1", 2}, {(const uint8_t *)"k2", 2}};
	struct reload_stored_data_specifier spec[3];
	struct reload_fetch_kind_response fkr[3];
	struct reload_stored_meta_data meta[3];
	struct reload_stat_kind_response stk[3];
	uint32_t find_kinds[] = {KIND_SINGLE, KIND_DICT};
	struct reload_find_kind_data fkd[2];
	struct reload_bytes kind_desc[2] = {SOME, SOME};
	struct reload_resource_id res;
	struct pcdn_addr addr;

	for (int i = 0; i < 4; i++)
		test_node_id(&ids[i], (uint8_t)(i * 40));
	reload_resource_id_hash("swarm", 5, 16, &res);

	memset(&b, 0, sizeof(b));
	b.probe_req.requested = probe_types;
	b.probe_req.count = 3;
	roundtrip(RELOAD_PROBE_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.probe_ans.info = info;
	b.probe_ans.count = 3;
	roundtrip(RELOAD_PROBE_ANS, &b);

	memset(cand, 0, sizeof(cand));
	pcdn_addr_parse("[2001:db8::1]:6084", &addr);
	reload_ip_port_from_addr(&addr, &cand[0].addr_port);
	cand[0].overlay_link = RELOAD_LINK_DTLS_UDP_SR;
	cand[0].foundation = SOME;
	cand[0].priority = 12345;
	cand[0].cand_type = RELOAD_CAND_SRFLX;
	pcdn_addr_parse("10.0.0.1:1000", &addr);
	reload_ip_port_from_addr(&addr, &cand[0].rel_addr_port);
	cand[0].extensions = &ext;
	cand[0].extension_count = 1;
	cand[1] = cand[0];
	cand[1].cand_type = RELOAD_CAND_HOST;
	cand[1].extension_count = 0;
	memset(&b, 0, sizeof(b));
	b.attach.ufrag = SOME;
	b.attach.password = SOME;
	b.attach.role = (struct reload_bytes){(const uint8_t *)"active", 6};
	b.attach.candidates = cand;
	b.attach.candidate_count = 2;
	roundtrip(RELOAD_ATTACH_REQ, &b);
	roundtrip(RELOAD_ATTACH_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.app_attach.ufrag = SOME;
	b.app_attach.password = SOME;
	b.app_attach.application = 5060;
	b.app_attach.role = SOME;
	b.app_attach.candidates = cand;
	b.app_attach.candidate_count = 2;
	roundtrip(RELOAD_APP_ATTACH_REQ, &b);
	roundtrip(RELOAD_APP_ATTACH_ANS, &b);

	fill_sd(&sd_single, RELOAD_MODEL_SINGLE, 0, NULL);
	fill_sd(&sd_array[0], RELOAD_MODEL_ARRAY, 0, NULL);
	fill_sd(&sd_array[1], RELOAD_MODEL_ARRAY, RELOAD_ARRAY_APPEND, NULL);
	fill_sd(&sd_dict[0], RELOAD_MODEL_DICTIONARY, 0, "peer-1");
	fill_sd(&sd_dict[1], RELOAD_MODEL_DICTIONARY, 0, "");
	sd_dict[1].value.value.exists = false;
	sd_dict[1].value.value.value.len = 0;
	kd[0] = (struct reload_store_kind_data){KIND_SINGLE, 7, &sd_single, 1};
	kd[1] = (struct reload_store_kind_data){KIND_ARRAY, 0, sd_array, 2};
	kd[2] = (struct reload_store_kind_data){KIND_DICT, 99, sd_dict, 2};
	memset(&b, 0, sizeof(b));
	b.store_req.resource = res;
	b.store_req.replica_number = 1;
	b.store_req.kind_data = kd;
	b.store_req.kind_count = 3;
	roundtrip(RELOAD_STORE_REQ, &b);
	skr[0] = (struct reload_store_kind_response){KIND_SINGLE, 8, ids, 2};
	skr[1] = (struct reload_store_kind_response){KIND_DICT, 100, NULL, 0};
	memset(&b, 0, sizeof(b));
	b.store_ans.kinds = skr;
	b.store_ans.kind_count = 2;
	roundtrip(RELOAD_STORE_ANS, &b);

	memset(spec, 0, sizeof(spec));
	spec[0].kind = KIND_SINGLE;
	spec[0].model = RELOAD_MODEL_SINGLE;
	spec[1].kind = KIND_ARRAY;
	spec[1].model = RELOAD_MODEL_ARRAY;
	spec[1].generation = 3;
	spec[1].indices = ranges;
	spec[1].index_count = 2;
	spec[2].kind = KIND_DICT;
	spec[2].model = RELOAD_MODEL_DICTIONARY;
	spec[2].keys = keys;
	spec[2].key_count = 2;
	memset(&b, 0, sizeof(b));
	b.fetch_req.resource = res;
	b.fetch_req.specifiers = spec;
	b.fetch_req.specifier_count = 3;
	roundtrip(RELOAD_FETCH_REQ, &b);
	roundtrip(RELOAD_STAT_REQ, &b);
	fkr[0] = (struct reload_fetch_kind_response){KIND_SINGLE, 8, &sd_single, 1};
	fkr[1] = (struct reload_fetch_kind_response){KIND_ARRAY, 2, sd_array, 1};
	fkr[2] = (struct reload_fetch_kind_response){KIND_DICT, 100, sd_dict, 2};
	memset(&b, 0, sizeof(b));
	b.fetch_ans.kinds = fkr;
	b.fetch_ans.kind_count = 3;
	roundtrip(RELOAD_FETCH_ANS, &b);
	memset(meta, 0, sizeof(meta));
	for (int i = 0; i < 3; i++) {
		meta[i].value_length = 40;
		meta[i].storage_time = 1700000000000ull;
		meta[i].lifetime = 60;
		meta[i].meta.exists = true;
		meta[i].meta.value_length = 10;
		meta[i].meta.hash_alg = RELOAD_HASH_SHA256;
		meta[i].meta.hash_value = SOME;
	}
	meta[1].index = 4;
	meta[2].key = keys[0];
	stk[0] = (struct reload_stat_kind_response){KIND_SINGLE, 1, &meta[0], 1};
	stk[1] = (struct reload_stat_kind_response){KIND_ARRAY, 2, &meta[1], 1};
	stk[2] = (struct reload_stat_kind_response){KIND_DICT, 3, &meta[2], 1};
	memset(&b, 0, sizeof(b));
	b.stat_ans.kinds = stk;
	b.stat_ans.kind_count = 3;
	roundtrip(RELOAD_STAT_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.find_req.resource = res;
	b.find_req.kinds = find_kinds;
	b.find_req.kind_count = 2;
	roundtrip(RELOAD_FIND_REQ, &b);
	fkd[0].kind = KIND_SINGLE;
	fkd[0].closest = res;
	fkd[1].kind = KIND_DICT;
	memset(&fkd[1].closest, 0, sizeof(fkd[1].closest));
	memset(&b, 0, sizeof(b));
	b.find_ans.results = fkd;
	b.find_ans.result_count = 2;
	roundtrip(RELOAD_FIND_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.join_req.joining_peer_id = ids[0];
	b.join_req.overlay_specific = SOME;
	roundtrip(RELOAD_JOIN_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.join_ans.overlay_specific = SOME;
	roundtrip(RELOAD_JOIN_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.leave_req.leaving_peer_id = ids[1];
	roundtrip(RELOAD_LEAVE_REQ, &b);
	memset(&b, 0, sizeof(b));
	roundtrip(RELOAD_LEAVE_ANS, &b);
	roundtrip(RELOAD_UPDATE_ANS, &b);
	roundtrip(RELOAD_CONFIG_UPDATE_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.update_req.uptime = 1;
	b.update_req.type = RELOAD_CHORD_PEER_READY;
	roundtrip(RELOAD_UPDATE_REQ, &b);
	b.update_req.type = RELOAD_CHORD_FULL;
	b.update_req.predecessors = ids;
	b.update_req.predecessor_count = 1;
	b.update_req.successors = ids + 1;
	b.update_req.successor_count = 1;
	b.update_req.fingers = ids + 2;
	b.update_req.finger_count = 2;
	roundtrip(RELOAD_UPDATE_REQ, &b);

	memset(&b, 0, sizeof(b));
	b.route_query_req.send_update = true;
	reload_dest_resource(&b.route_query_req.destination, &res);
	b.route_query_req.overlay_specific = SOME;
	roundtrip(RELOAD_ROUTE_QUERY_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.route_query_ans.next_peer = ids[3];
	roundtrip(RELOAD_ROUTE_QUERY_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.ping_req.padding = SOME;
	roundtrip(RELOAD_PING_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.ping_ans.response_id = 0x0102030405060708ull;
	b.ping_ans.time = 1700000000123ull;
	roundtrip(RELOAD_PING_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.config_update_req.type = RELOAD_CONFIG_UPDATE_CONFIG;
	b.config_update_req.config_data = SOME;
	roundtrip(RELOAD_CONFIG_UPDATE_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.config_update_req.type = RELOAD_CONFIG_UPDATE_KIND;
	b.config_update_req.kinds = kind_desc;
	b.config_update_req.kind_count = 2;
	roundtrip(RELOAD_CONFIG_UPDATE_REQ, &b);

	memset(&b, 0, sizeof(b));
	b.error.error_code = RELOAD_ERR_FORBIDDEN;
	b.error.error_info = SOME;
	roundtrip(RELOAD_ERROR, &b);
}

static void test_body_bad_values(void)
{
	struct reload_codec_params p = kparams();
	struct reload_arena *a = reload_arena_new();
	union reload_body d;
	/* RouteQueryReq with send_update = 2: a Boolean is 0 or 1 */
	static const uint8_t bad_bool[] = {0x02, 0x81, 0x23, 0x00, 0x00};
	static const uint8_t good_bool[] = {0x01, 0x81, 0x23, 0x00, 0x00};
	/* FindReq naming the same Kind twice */
	static const uint8_t find_dup[] = {0x01, 0xaa, 0x08, 0xf0, 0x00, 0x00,
					   0x01, 0xf0, 0x00, 0x00, 0x01};
	/* Fetch ArrayRange with first > last */
	static const uint8_t fetch_range[] = {
	    0x01, 0xaa, 0x00, 0x18, 0xf0, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0,
	    0,	  0,	0x00, 0x0a, 0x00, 0x08, 0,    0,    0, 5, 0, 0, 0, 1};
	/* ChordUpdate of an unknown type */
	static const uint8_t chord_type[] = {0, 0, 0, 1, 9};
	/* IceCandidate of an unknown type (cannot be skipped) */
	static const uint8_t cand_type[] = {0, 0, 0, 0x00, 0x0f, 0x01, 0x06, 1,
					    2, 3, 4, 0,	   1,	 0x04, 0x00, 0,
					    0, 0, 1, 0x09, 0x00, 0x00, 0x00};
	/* trailing garbage after a PingAns */
	static const uint8_t ping_long[17] = {0};

	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_ROUTE_QUERY_REQ, bad_bool, sizeof(bad_bool), &p, a, &d),
	    -EBADMSG);
	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_ROUTE_QUERY_REQ, good_bool, sizeof(good_bool), &p, a, &d), 0);
	CU_ASSERT_TRUE(d.route_query_req.destination.compressed);
	CU_ASSERT_EQUAL(reload_body_decode(RELOAD_FIND_REQ, find_dup, sizeof(find_dup), &p, a, &d),
			-EBADMSG);
	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_FETCH_REQ, fetch_range, sizeof(fetch_range), &p, a, &d),
	    -EBADMSG);
	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_UPDATE_REQ, chord_type, sizeof(chord_type), &p, a, &d),
	    -EBADMSG);
	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_ATTACH_REQ, cand_type, sizeof(cand_type), &p, a, &d),
	    -EBADMSG);
	CU_ASSERT_EQUAL(
	    reload_body_decode(RELOAD_PING_ANS, ping_long, sizeof(ping_long), &p, a, &d), -EBADMSG);
	CU_ASSERT_EQUAL(reload_body_decode(RELOAD_PING_ANS, ping_long, 16, &p, a, &d), 0);
	CU_ASSERT_EQUAL(reload_body_decode(0x23, ping_long, 0, &p, a, &d), -ENOTSUP);
	reload_arena_free(a);
}

/* A Store of a Kind the node does not know stays parseable (§7.4.1.2: Error_Unknown_Kind). */
static void test_unknown_kind_kept_raw(void)
{
	struct reload_codec_params p = kparams();
	struct reload_stored_data sd;
	struct reload_store_kind_data kd;
	union reload_body b, d;
	struct reload_buf e;
	struct reload_arena *a = reload_arena_new();

	fill_sd(&sd, RELOAD_MODEL_SINGLE, 0, NULL);
	kd = (struct reload_store_kind_data){0x7777, 1, &sd, 1};
	memset(&b, 0, sizeof(b));
	b.store_req.resource.len = 16;
	b.store_req.kind_data = &kd;
	b.store_req.kind_count = 1;
	reload_buf_init(&e);
	CU_ASSERT_EQUAL_FATAL(reload_body_encode(RELOAD_STORE_REQ, &b, &p, &e), 0);
	CU_ASSERT_EQUAL_FATAL(reload_body_decode(RELOAD_STORE_REQ, e.data, e.len, &p, a, &d), 0);
	CU_ASSERT_EQUAL(d.store_req.kind_data[0].kind, 0x7777u);
	CU_ASSERT_EQUAL(d.store_req.kind_data[0].values[0].value.model, RELOAD_MODEL_UNKNOWN);
	CU_ASSERT_TRUE(d.store_req.kind_data[0].values[0].value.raw.len > 0);
	reload_buf_free(&e);
	reload_arena_free(a);
}

/* ---- whole messages ---------------------------------------------------------------------------
 */

static size_t build_signed_ping(struct reload_buf *out, uint8_t ttl)
{
	struct reload_fwd_header h;
	struct reload_destination d[2], via;
	struct reload_fwd_option opt = {0x80, RELOAD_FWDOPT_FORWARD_CRITICAL, SOME};
	struct reload_codec_params p = test_params();
	union reload_body b;
	struct reload_node_id n;

	fill_ping_header(&h, &d[0]);
	test_node_id(&n, 0x50);
	reload_dest_node(&d[1], &n);
	reload_dest_compressed(&via, 0x1234);
	h.dest = d;
	h.dest_count = 2;
	h.via = &via;
	h.via_count = 1;
	h.options = &opt;
	h.option_count = 1;
	h.ttl = ttl;
	memset(&b, 0, sizeof(b));
	b.ping_req.padding = SOME;
	reload_buf_init(out);
	CU_ASSERT_EQUAL(reload_message_build(&h, RELOAD_PING_REQ, &b, &p, creds.signer, out), 0);
	return out->len;
}

static void test_message_roundtrip(void)
{
	struct reload_buf b;
	struct reload_message *m;
	struct reload_peer peer;

	build_signed_ping(&b, 9);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(b.data, b.len, 16, 5000, &m, NULL), 0);
	CU_ASSERT_EQUAL(m->hdr.ttl, 9);
	CU_ASSERT_EQUAL(m->hdr.via_count, 1);
	CU_ASSERT_EQUAL(m->hdr.dest_count, 2);
	CU_ASSERT_EQUAL_FATAL(m->hdr.option_count, 1);
	CU_ASSERT_EQUAL(m->hdr.options[0].type, 0x80);
	CU_ASSERT_EQUAL(m->hdr.options[0].flags, RELOAD_FWDOPT_FORWARD_CRITICAL);
	CU_ASSERT_EQUAL(m->hdr.options[0].value.len, SOME.len);
	CU_ASSERT_EQUAL(m->security.cert_count, 1);
	CU_ASSERT_EQUAL(m->security.signature.identity.type, RELOAD_ID_CERT_HASH);
	CU_ASSERT_EQUAL_FATAL(reload_message_verify(m, creds.trust, time(NULL), &peer), 0);
	CU_ASSERT_TRUE(reload_node_id_equal(&peer.node_id, &creds.node_id));
	CU_ASSERT_STRING_EQUAL(peer.ident.user, "alice@" TEST_OVERLAY);
	reload_peer_clear(&peer);
	reload_message_free(m);
	/* too large for the overlay's max-message-size */
	CU_ASSERT_EQUAL(reload_message_decode(b.data, b.len, 16, b.len - 1, &m, NULL), -EMSGSIZE);
	reload_buf_free(&b);
}

static void test_message_malformed(void)
{
	struct reload_buf b;
	struct reload_message *m;
	struct reload_fwd_header h;
	uint8_t *c;
	size_t len = build_signed_ping(&b, 9);

	c = malloc(len);
	/* every truncation is refused (the length field no longer matches, or a structure ends
	 * early when the length is fixed up to match) */
	for (size_t cut = 0; cut < len; cut++) {
		if (cut)
			memcpy(c, b.data, cut);
		CU_ASSERT_NOT_EQUAL(reload_message_decode(c, cut, 16, 0, &m, NULL), 0);
		if (cut >= 20) {
			pcdn_put_be32(c + 16, (uint32_t)cut);
			CU_ASSERT_NOT_EQUAL(reload_message_decode(c, cut, 16, 0, &m, NULL), 0);
		}
	}
	memcpy(c, b.data, len);
	c[0] = 0x52; /* not RELO */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -ENOMSG);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-ENOMSG), 0);
	memcpy(c, b.data, len);
	c[10] = 0x01; /* version 0.1 */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-EPROTONOSUPPORT),
			RELOAD_ERR_INCOMPATIBLE_WITH_OVERLAY);
	memcpy(c, b.data, len);
	c[12] = 0x40; /* high bit of fragment clear */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -EBADMSG);
	memcpy(c, b.data, len);
	c[15] = 0x10; /* a fragment at offset 16 */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, &h), -EAGAIN);
	CU_ASSERT_EQUAL(h.transaction_id, 0x1122334455667788ull);
	memcpy(c, b.data, len);
	pcdn_put_be16(c + 34, 0xffff); /* destination list longer than the message */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -EBADMSG);
	memcpy(c, b.data, len);
	c[RELOAD_FIXED_HEADER_LEN + 2 + 1] = 0x11; /* a Node-ID destination of 17 bytes */
	CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -EBADMSG);
	/* a message body length past the end */
	{
		size_t hl = RELOAD_FIXED_HEADER_LEN + pcdn_get_be16(b.data + 32) +
			    pcdn_get_be16(b.data + 34) + pcdn_get_be16(b.data + 36);

		memcpy(c, b.data, len);
		pcdn_put_be32(c + hl + 2, 0x7fffffff);
		CU_ASSERT_EQUAL(reload_message_decode(c, len, 16, 0, &m, NULL), -EBADMSG);
		/* a trailing byte after the security block */
		memcpy(c, b.data, len);
	}
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-EBADMSG), RELOAD_ERR_INVALID_MESSAGE);
	free(c);
	{
		uint8_t *longer = malloc(len + 1);

		memcpy(longer, b.data, len);
		longer[len] = 0;
		pcdn_put_be32(longer + 16, (uint32_t)(len + 1));
		CU_ASSERT_EQUAL(reload_message_decode(longer, len + 1, 16, 0, &m, NULL), -EBADMSG);
		free(longer);
	}
	reload_buf_free(&b);
}

/* §6.1.2 forwarding on the wire bytes. */
static void test_forward_rewrite(void)
{
	struct reload_buf b, out;
	struct reload_message *m;
	struct reload_destination via;
	struct reload_node_id me;
	struct reload_fwd_edit edit;

	build_signed_ping(&b, 9);
	test_node_id(&me, 0x90);
	reload_dest_node(&via, &me);
	memset(&edit, 0, sizeof(edit));
	edit.pop_first_dest = true;
	edit.append_via = &via;
	edit.decrement_ttl = true;
	reload_buf_init(&out);
	CU_ASSERT_EQUAL_FATAL(reload_fwd_rewrite(b.data, b.len, 16, &edit, &out), 0);
	CU_ASSERT_EQUAL_FATAL(reload_message_decode(out.data, out.len, 16, 0, &m, NULL), 0);
	CU_ASSERT_EQUAL(m->hdr.ttl, 8);
	CU_ASSERT_EQUAL_FATAL(m->hdr.via_count, 2);
	CU_ASSERT_TRUE(m->hdr.via[0].compressed);
	CU_ASSERT_TRUE(reload_dest_equal(&m->hdr.via[1], &via));
	CU_ASSERT_EQUAL_FATAL(m->hdr.dest_count, 1);
	CU_ASSERT_EQUAL(m->hdr.dest[0].id[0], 0x50);
	/* the signature still verifies: it does not cover the lists */
	CU_ASSERT_EQUAL(reload_message_verify(m, creds.trust, time(NULL), NULL), 0);
	reload_message_free(m);
	/* push a destination back in front */
	{
		struct reload_destination pushed;
		struct reload_fwd_edit e2;
		struct reload_buf out2;

		reload_dest_compressed(&pushed, 0x7777);
		memset(&e2, 0, sizeof(e2));
		e2.push_dest = &pushed;
		e2.push_dest_count = 1;
		reload_buf_init(&out2);
		CU_ASSERT_EQUAL(reload_fwd_rewrite(out.data, out.len, 16, &e2, &out2), 0);
		CU_ASSERT_EQUAL_FATAL(reload_message_decode(out2.data, out2.len, 16, 0, &m, NULL),
				      0);
		CU_ASSERT_EQUAL(m->hdr.dest_count, 2);
		CU_ASSERT_TRUE(m->hdr.dest[0].compressed);
		reload_message_free(m);
		reload_buf_free(&out2);
	}
	reload_buf_free(&b);
	reload_buf_reset(&out);
	build_signed_ping(&b, 0);
	CU_ASSERT_EQUAL(reload_fwd_rewrite(b.data, b.len, 16, &edit, &out), -ELOOP);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-ELOOP), RELOAD_ERR_TTL_EXCEEDED);
	reload_buf_free(&b);
	reload_buf_free(&out);
}

static void test_error_codes_and_ids(void)
{
	struct reload_node_id w, n;
	char hex[41];

	CU_ASSERT_EQUAL(reload_error_code_from_errno(-EACCES), RELOAD_ERR_FORBIDDEN);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-ESTALE),
			RELOAD_ERR_GENERATION_COUNTER_TOO_LOW);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-ETIME), RELOAD_ERR_DATA_TOO_OLD);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-EFBIG), RELOAD_ERR_DATA_TOO_LARGE);
	CU_ASSERT_EQUAL(reload_error_code_from_errno(-ENOSYS), RELOAD_ERR_UNKNOWN_KIND);
	CU_ASSERT_EQUAL(reload_errno_from_error_code(RELOAD_ERR_NOT_FOUND), -ENOENT);
	CU_ASSERT_STRING_EQUAL(reload_error_code_name(RELOAD_ERR_IN_PROGRESS), "Error_In_Progress");
	CU_ASSERT_STRING_EQUAL(reload_msg_code_name(RELOAD_APP_ATTACH_ANS), "app_attach_ans");
	reload_node_id_wildcard(&w, 16);
	CU_ASSERT_TRUE(reload_node_id_is_wildcard(&w));
	test_node_id(&n, 1);
	CU_ASSERT_FALSE(reload_node_id_is_wildcard(&n));
	CU_ASSERT_TRUE(reload_node_id_cmp(&n, &w) < 0);
	reload_node_id_to_hex(&n, hex);
	CU_ASSERT_STRING_EQUAL(hex, "0102030405060708090a0b0c0d0e0f10");
	CU_ASSERT_EQUAL(reload_node_id_from_hex(hex, 16, &w), 0);
	CU_ASSERT_TRUE(reload_node_id_equal(&n, &w));
	CU_ASSERT_EQUAL(reload_node_id_from_hex("0102", 16, &w), -EINVAL);
	/* §6.3.2: the lower 32 bits of SHA-1("abc") (FIPS 180 test vector ...9cd0d89d) */
	CU_ASSERT_EQUAL(reload_overlay_hash("abc"), 0x9cd0d89du);
}

static void test_unknown_kinds_info(void)
{
	uint32_t in[3] = {7, 0xf0000009u, 0x10}, out[2];
	struct reload_buf b;
	size_t n;

	reload_buf_init(&b);
	CU_ASSERT_EQUAL(reload_unknown_kinds_encode(in, 3, &b), 0);
	CU_ASSERT_EQUAL_FATAL(b.len, 13);
	CU_ASSERT_EQUAL(b.data[0], 12);
	CU_ASSERT_EQUAL(reload_unknown_kinds_decode(b.data, b.len, out, 2, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(out[1], 0xf0000009u);
	CU_ASSERT_EQUAL(reload_unknown_kinds_decode(b.data, b.len - 1, out, 2, &n), -EBADMSG);
	reload_buf_free(&b);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_codec", suite_init, suite_clean);
	CU_add_test(s, "KAT: Ping request encode", test_kat_ping_encode);
	CU_add_test(s, "KAT: Ping request decode", test_kat_ping_decode);
	CU_add_test(s, "KAT: destination lists with compressed entries",
		    test_kat_destination_lists);
	CU_add_test(s, "KAT: Attach with a No-ICE candidate", test_kat_attach_no_ice);
	CU_add_test(s, "KAT: CHORD-RELOAD Update", test_kat_chord_update);
	CU_add_test(s, "KAT: StoredData", test_kat_stored_data);
	CU_add_test(s, "round trip of every method, truncations refused",
		    test_roundtrip_every_method);
	CU_add_test(s, "bad values in bodies", test_body_bad_values);
	CU_add_test(s, "unknown Kind kept raw", test_unknown_kind_kept_raw);
	CU_add_test(s, "signed message round trip", test_message_roundtrip);
	CU_add_test(s, "malformed messages", test_message_malformed);
	CU_add_test(s, "forwarding rewrite", test_forward_rewrite);
	CU_add_test(s, "error codes and identifiers", test_error_codes_and_ids);
	CU_add_test(s, "Error_Unknown_Kind error_info", test_unknown_kinds_info);
	return test_run();
}
