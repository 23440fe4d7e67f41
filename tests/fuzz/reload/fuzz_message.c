/* libFuzzer target for the RFC 6940 decoders (§6.3 message structure, §6.4.2/§6.5/§7.4 method
 * bodies, §7 StoredData, §6.7 reassembly, §6.1.2 forwarding rewrite, §6.3.4 signer lookup).
 * The input is tried as a whole message and, from its first bytes, as one method body, so the
 * fuzzer reaches the body decoders without having to build a valid header first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reload.h"

static enum reload_data_model kind_model(const void *ctx, uint32_t kind)
{
	(void)ctx;
	/* three kinds, one per model, picked by the low bits: every model gets exercised */
	switch (kind & 3) {
	case 1:
		return RELOAD_MODEL_SINGLE;
	case 2:
		return RELOAD_MODEL_ARRAY;
	case 3:
		return RELOAD_MODEL_DICTIONARY;
	default:
		return RELOAD_MODEL_UNKNOWN;
	}
}

static const uint16_t codes[] = {
    RELOAD_PROBE_REQ,	      RELOAD_PROBE_ANS,		RELOAD_ATTACH_REQ,
    RELOAD_ATTACH_ANS,	      RELOAD_STORE_REQ,		RELOAD_STORE_ANS,
    RELOAD_FETCH_REQ,	      RELOAD_FETCH_ANS,		RELOAD_FIND_REQ,
    RELOAD_FIND_ANS,	      RELOAD_JOIN_REQ,		RELOAD_JOIN_ANS,
    RELOAD_LEAVE_REQ,	      RELOAD_LEAVE_ANS,		RELOAD_UPDATE_REQ,
    RELOAD_UPDATE_ANS,	      RELOAD_ROUTE_QUERY_REQ,	RELOAD_ROUTE_QUERY_ANS,
    RELOAD_PING_REQ,	      RELOAD_PING_ANS,		RELOAD_STAT_REQ,
    RELOAD_STAT_ANS,	      RELOAD_APP_ATTACH_REQ,	RELOAD_APP_ATTACH_ANS,
    RELOAD_CONFIG_UPDATE_REQ, RELOAD_CONFIG_UPDATE_ANS, RELOAD_ERROR,
};

static struct reload_trust *trust;
static struct reload_reassembly *reasm;

static void reencode(uint16_t code, const union reload_body *b, const struct reload_codec_params *p)
{
	struct reload_buf out;

	/* whatever decodes must encode again */
	reload_buf_init(&out);
	if (reload_body_encode(code, b, p, &out) != 0)
		abort();
	reload_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reload_codec_params p = {16, kind_model, NULL};
	struct reload_arena *a = reload_arena_new();
	struct reload_message *m = NULL;
	struct reload_fwd_header h;
	union reload_body b;
	uint8_t *whole = NULL;
	size_t whole_len = 0;

	if (!trust) {
		trust = reload_trust_new(16, "fuzz.example");
		reload_trust_set_self_signed(trust, true, RELOAD_HASH_SHA256);
		reasm = reload_reassembly_new(1 << 20, 15000);
	}
	/* 1. a whole message */
	if (reload_message_decode(data, size, 16, 0, &m, &h) == 0) {
		if (reload_body_decode(m->code, m->body.data, m->body.len, &p, a, &b) == 0)
			reencode(m->code, &b, &p);
		reload_message_verify(m, trust, (time_t)1800000000, NULL);
		reload_message_free(m);
	}
	/* 2. a forwarding rewrite of it */
	{
		struct reload_destination via;
		struct reload_node_id n;
		struct reload_fwd_edit e = {.pop_first_dest = true, .decrement_ttl = true};
		struct reload_buf out;

		memset(&n, 0xab, sizeof(n));
		n.len = 16;
		reload_dest_node(&via, &n);
		e.append_via = &via;
		reload_buf_init(&out);
		if (reload_fwd_rewrite(data, size, 16, &e, &out) == 0 &&
		    reload_fwd_header_decode(out.data, out.len, 16, a, &h, NULL) != 0)
			abort(); /* a rewrite of a valid header is a valid header */
		reload_buf_free(&out);
	}
	/* 3. a fragment */
	if (reload_reassembly_add(reasm, data, size, 16, 0, &whole, &whole_len) == 1)
		free(whole);
	if (reload_reassembly_pending(reasm) > 64)
		reload_reassembly_expire(reasm, UINT64_MAX);
	/* 4. one body, chosen by the first byte */
	if (size >= 1) {
		uint16_t code = codes[data[0] % (sizeof(codes) / sizeof(codes[0]))];

		if (reload_body_decode(code, data + 1, size - 1, &p, a, &b) == 0)
			reencode(code, &b, &p);
	}
	/* 5. StoredData in each model, a destination, a signature */
	for (uint8_t model = 0; model <= 3; model++) {
		struct reload_stored_data sd;
		size_t used;

		reload_stored_data_decode(data, size, model, a, &sd, &used);
	}
	{
		struct reload_destination d;
		struct reload_signature s;
		size_t used;

		reload_destination_decode(data, size, 16, &d, &used);
		reload_signature_decode(data, size, a, &s, &used);
	}
	reload_arena_free(a);
	return 0;
}
