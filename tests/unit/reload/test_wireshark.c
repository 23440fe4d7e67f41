/* CUnit suite "reload_wireshark" (RFC 6940 §6.3, §6.6.3 framing, §6.7): every method's request
 * and answer, signed and framed as on a DTLS/UDP link (simple-reliability DATA frames), written
 * to a pcap and decoded by an independent implementation, tshark's RELOAD dissector: every
 * frame must be dissected as RELOAD with the right message code and without a single expert
 * warning or malformed packet. Kinds are private (0xF000000x) so the dissector treats the
 * values as opaque, as it must for Kinds it does not know. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reload_test_util.h"

#define K_SINGLE 0xf0000001u
#define K_ARRAY	 0xf0000002u
#define K_DICT	 0xf0000003u

static enum reload_data_model kind_model(const void *ctx, uint32_t kind)
{
	(void)ctx;
	return kind == K_SINGLE	 ? RELOAD_MODEL_SINGLE
	       : kind == K_ARRAY ? RELOAD_MODEL_ARRAY
	       : kind == K_DICT	 ? RELOAD_MODEL_DICTIONARY
				 : RELOAD_MODEL_UNKNOWN;
}

static struct test_creds creds;
static FILE *pcap;
static char pcap_path[128], dir[64];
static unsigned frames, seq;
static uint16_t codes_written[64];

static int suite_init(void)
{
	return test_creds_make(&creds, RELOAD_KEY_EC_P256, "shark@" TEST_OVERLAY);
}

static int suite_clean(void)
{
	test_creds_free(&creds);
	return 0;
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* One UDP datagram 10.1.1.1:6084 -> 10.2.2.2:6084 carrying a framed RELOAD message, as a
 * LINKTYPE_RAW record (IPv4 header, UDP header without checksum). */
static void write_frame(const uint8_t *msg, size_t len)
{
	uint8_t rec[16],
	    ip[20] = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2};
	uint8_t udp[8], fh[8];
	size_t total = sizeof(ip) + sizeof(udp) + sizeof(fh) + len;
	uint32_t sum = 0;

	/* §6.6.3 DATA frame: type 128, sequence, 24-bit length */
	fh[0] = 128;
	pcdn_put_be32(fh + 1, ++seq);
	fh[5] = (uint8_t)(len >> 16);
	fh[6] = (uint8_t)(len >> 8);
	fh[7] = (uint8_t)len;
	pcdn_put_be16(ip + 2, (uint16_t)total);
	for (int i = 0; i < 20; i += 2)
		sum += pcdn_get_be16(ip + i);
	sum = (sum & 0xffff) + (sum >> 16);
	pcdn_put_be16(ip + 10, (uint16_t)~sum);
	pcdn_put_be16(udp, 6084);
	pcdn_put_be16(udp + 2, 6084);
	pcdn_put_be16(udp + 4, (uint16_t)(total - sizeof(ip)));
	pcdn_put_be16(udp + 6, 0);
	put32le(rec, 1800000000u + frames);
	put32le(rec + 4, 0);
	put32le(rec + 8, (uint32_t)total);
	put32le(rec + 12, (uint32_t)total);
	fwrite(rec, 1, sizeof(rec), pcap);
	fwrite(ip, 1, sizeof(ip), pcap);
	fwrite(udp, 1, sizeof(udp), pcap);
	fwrite(fh, 1, sizeof(fh), pcap);
	fwrite(msg, 1, len, pcap);
	frames++;
}

static void emit(uint16_t code, const union reload_body *b)
{
	struct reload_codec_params p = {16, kind_model, NULL};
	struct reload_fwd_header h;
	struct reload_destination d[2], via;
	struct reload_node_id n;
	struct reload_buf out;

	test_node_id(&n, 0x30);
	reload_dest_node(&d[0], &n);
	reload_dest_compressed(&d[1], 0x0abc);
	reload_dest_compressed(&via, 0x0123);
	memset(&h, 0, sizeof(h));
	h.overlay = reload_overlay_hash(TEST_OVERLAY);
	h.ttl = 100;
	h.transaction_id = 0x1000 + frames;
	h.dest = d;
	h.dest_count = 2;
	h.via = &via;
	h.via_count = 1;
	reload_buf_init(&out);
	CU_ASSERT_EQUAL_FATAL(reload_message_build(&h, code, b, &p, creds.signer, &out), 0);
	if (frames < PCDN_ARRAY_SIZE(codes_written))
		codes_written[frames] = code;
	write_frame(out.data, out.len);
	reload_buf_free(&out);
}

static void test_every_method_through_tshark(void)
{
	static const uint8_t bytes[] = "pcdn";
	const struct reload_bytes B = {bytes, 4};
	uint8_t hdr[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0};
	union reload_body b;
	struct reload_node_id ids[3];
	struct reload_resource_id res;
	struct reload_ice_candidate cand[2];
	struct pcdn_addr addr;
	struct reload_stored_data sd[3];
	struct reload_arena *a = reload_arena_new();
	struct reload_store_kind_data kd[3];
	struct reload_store_kind_response skr;
	struct reload_array_range range = {0, 0xffffffffu};
	struct reload_stored_data_specifier spec[3];
	struct reload_fetch_kind_response fkr[3];
	struct reload_stored_meta_data meta[3];
	struct reload_stat_kind_response stk[3];
	struct reload_probe_info info[2] = {{RELOAD_PROBE_UPTIME, 60},
					    {RELOAD_PROBE_NUM_RESOURCES, 2}};
	uint8_t probe_types[] = {RELOAD_PROBE_UPTIME, RELOAD_PROBE_NUM_RESOURCES};
	uint32_t find_kinds[] = {K_SINGLE, K_DICT};
	struct reload_find_kind_data fkd;
	char cmd[512], line[512];
	FILE *tp;
	unsigned seen = 0, problems = 0;

	snprintf(dir, sizeof(dir), "/tmp/reload-wireshark-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(pcap_path, sizeof(pcap_path), "%s/reload.pcap", dir);
	pcap = fopen(pcap_path, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pcap);
	put32le(hdr + 16, 65535);
	put32le(hdr + 20, 101); /* LINKTYPE_RAW */
	fwrite(hdr, 1, sizeof(hdr), pcap);

	for (int i = 0; i < 3; i++)
		test_node_id(&ids[i], (uint8_t)(0x40 * (i + 1)));
	reload_resource_id_hash("swarm", 5, 16, &res);

	memset(&b, 0, sizeof(b));
	b.probe_req.requested = probe_types;
	b.probe_req.count = 2;
	emit(RELOAD_PROBE_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.probe_ans.info = info;
	b.probe_ans.count = 2;
	emit(RELOAD_PROBE_ANS, &b);

	memset(cand, 0, sizeof(cand));
	pcdn_addr_parse("192.0.2.1:6084", &addr);
	reload_ip_port_from_addr(&addr, &cand[0].addr_port);
	cand[0].overlay_link = RELOAD_LINK_DTLS_UDP_SR_NO_ICE;
	cand[0].foundation = B;
	cand[0].priority = 100;
	cand[0].cand_type = RELOAD_CAND_HOST;
	cand[1] = cand[0];
	pcdn_addr_parse("[2001:db8::1]:6085", &addr);
	reload_ip_port_from_addr(&addr, &cand[1].addr_port);
	cand[1].overlay_link = RELOAD_LINK_TLS_TCP_FH_NO_ICE;
	memset(&b, 0, sizeof(b));
	b.attach.ufrag = B;
	b.attach.password = B;
	b.attach.role = (struct reload_bytes){(const uint8_t *)"passive", 7};
	b.attach.candidates = cand;
	b.attach.candidate_count = 2;
	b.attach.send_update = true;
	emit(RELOAD_ATTACH_REQ, &b);
	b.attach.role = (struct reload_bytes){(const uint8_t *)"active", 6};
	emit(RELOAD_ATTACH_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.app_attach.ufrag = B;
	b.app_attach.password = B;
	b.app_attach.application = 5060;
	b.app_attach.role = B;
	b.app_attach.candidates = cand;
	b.app_attach.candidate_count = 1;
	emit(RELOAD_APP_ATTACH_REQ, &b);
	emit(RELOAD_APP_ATTACH_ANS, &b);

	for (int i = 0; i < 3; i++) {
		memset(&sd[i], 0, sizeof(sd[i]));
		sd[i].storage_time = 1800000000000ull;
		sd[i].lifetime = 3600;
		sd[i].value.model = (uint8_t)(RELOAD_MODEL_SINGLE + i);
		sd[i].value.index = RELOAD_ARRAY_APPEND;
		sd[i].value.key = B;
		sd[i].value.value.exists = true;
		sd[i].value.value.value = B;
		CU_ASSERT_EQUAL(
		    reload_stored_data_sign(creds.signer, &res, K_SINGLE + (uint32_t)i, &sd[i], a),
		    0);
		kd[i] = (struct reload_store_kind_data){K_SINGLE + (uint32_t)i, 0, &sd[i], 1};
		fkr[i] = (struct reload_fetch_kind_response){K_SINGLE + (uint32_t)i, 7, &sd[i], 1};
		memset(&meta[i], 0, sizeof(meta[i]));
		meta[i].storage_time = sd[i].storage_time;
		meta[i].lifetime = 3600;
		meta[i].index = 0;
		meta[i].key = B;
		meta[i].meta.exists = true;
		meta[i].meta.value_length = 4;
		meta[i].meta.hash_alg = RELOAD_HASH_SHA256;
		meta[i].meta.hash_value = B;
		stk[i] = (struct reload_stat_kind_response){K_SINGLE + (uint32_t)i, 7, &meta[i], 1};
	}
	memset(&b, 0, sizeof(b));
	b.store_req.resource = res;
	b.store_req.kind_data = kd;
	b.store_req.kind_count = 3;
	emit(RELOAD_STORE_REQ, &b);
	skr = (struct reload_store_kind_response){K_DICT, 8, ids, 2};
	memset(&b, 0, sizeof(b));
	b.store_ans.kinds = &skr;
	b.store_ans.kind_count = 1;
	emit(RELOAD_STORE_ANS, &b);
	memset(spec, 0, sizeof(spec));
	spec[0] =
	    (struct reload_stored_data_specifier){.kind = K_SINGLE, .model = RELOAD_MODEL_SINGLE};
	spec[1] = (struct reload_stored_data_specifier){
	    .kind = K_ARRAY, .model = RELOAD_MODEL_ARRAY, .indices = &range, .index_count = 1};
	spec[2] = (struct reload_stored_data_specifier){.kind = K_DICT,
							.model = RELOAD_MODEL_DICTIONARY,
							.keys = (struct reload_bytes *)&B,
							.key_count = 1};
	memset(&b, 0, sizeof(b));
	b.fetch_req.resource = res;
	b.fetch_req.specifiers = spec;
	b.fetch_req.specifier_count = 3;
	emit(RELOAD_FETCH_REQ, &b);
	emit(RELOAD_STAT_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.fetch_ans.kinds = fkr;
	b.fetch_ans.kind_count = 3;
	emit(RELOAD_FETCH_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.stat_ans.kinds = stk;
	b.stat_ans.kind_count = 3;
	emit(RELOAD_STAT_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.find_req.resource = res;
	b.find_req.kinds = find_kinds;
	b.find_req.kind_count = 2;
	emit(RELOAD_FIND_REQ, &b);
	fkd.kind = K_SINGLE;
	fkd.closest = res;
	memset(&b, 0, sizeof(b));
	b.find_ans.results = &fkd;
	b.find_ans.result_count = 1;
	emit(RELOAD_FIND_ANS, &b);

	memset(&b, 0, sizeof(b));
	b.join_req.joining_peer_id = creds.node_id;
	emit(RELOAD_JOIN_REQ, &b);
	memset(&b, 0, sizeof(b));
	emit(RELOAD_JOIN_ANS, &b);
	b.leave_req.leaving_peer_id = creds.node_id;
	emit(RELOAD_LEAVE_REQ, &b);
	memset(&b, 0, sizeof(b));
	emit(RELOAD_LEAVE_ANS, &b);
	b.update_req.uptime = 120;
	b.update_req.type = RELOAD_CHORD_FULL;
	b.update_req.predecessors = ids;
	b.update_req.predecessor_count = 1;
	b.update_req.successors = ids + 1;
	b.update_req.successor_count = 2;
	b.update_req.fingers = ids;
	b.update_req.finger_count = 3;
	emit(RELOAD_UPDATE_REQ, &b);
	memset(&b, 0, sizeof(b));
	emit(RELOAD_UPDATE_ANS, &b);
	b.route_query_req.send_update = true;
	reload_dest_resource(&b.route_query_req.destination, &res);
	emit(RELOAD_ROUTE_QUERY_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.route_query_ans.next_peer = ids[2];
	emit(RELOAD_ROUTE_QUERY_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.ping_req.padding = B;
	emit(RELOAD_PING_REQ, &b);
	memset(&b, 0, sizeof(b));
	b.ping_ans.response_id = 77;
	b.ping_ans.time = 1800000000000ull;
	emit(RELOAD_PING_ANS, &b);
	memset(&b, 0, sizeof(b));
	b.config_update_req.type = RELOAD_CONFIG_UPDATE_CONFIG;
	b.config_update_req.config_data = (struct reload_bytes){(const uint8_t *)"<overlay/>", 10};
	emit(RELOAD_CONFIG_UPDATE_REQ, &b);
	memset(&b, 0, sizeof(b));
	emit(RELOAD_CONFIG_UPDATE_ANS, &b);
	b.error.error_code = RELOAD_ERR_FORBIDDEN;
	b.error.error_info = (struct reload_bytes){(const uint8_t *)"no", 2};
	emit(RELOAD_ERROR, &b);
	fclose(pcap);
	reload_arena_free(a);

	/* one line per frame: its RELOAD message code, nothing else */
	snprintf(
	    cmd, sizeof(cmd),
	    "tshark -n -r %s -d udp.port==6084,reload-framing -T fields -e reload.message.code "
	    "2>&1",
	    pcap_path);
	tp = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
	while (fgets(line, sizeof(line), tp)) {
		unsigned long code = strtoul(line, NULL, 0);

		if (seen < frames && seen < PCDN_ARRAY_SIZE(codes_written) &&
		    code == codes_written[seen])
			seen++;
		else if (!strstr(line, "Running as user"))
			fprintf(stderr, "tshark: %s", line);
	}
	CU_ASSERT_EQUAL(pclose(tp), 0);
	CU_ASSERT_EQUAL(seen, frames);
	/* the expert summary must be empty: no errors, warnings or malformed packets */
	snprintf(cmd, sizeof(cmd),
		 "tshark -n -r %s -d udp.port==6084,reload-framing -q -z expert,note 2>&1",
		 pcap_path);
	tp = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
	while (fgets(line, sizeof(line), tp))
		if (strstr(line, "Errors") || strstr(line, "Warns") || strstr(line, "Malformed") ||
		    strstr(line, "Notes")) {
			fprintf(stderr, "tshark expert: %s", line);
			problems++;
		}
	CU_ASSERT_EQUAL(pclose(tp), 0);
	CU_ASSERT_EQUAL(problems, 0);
	unlink(pcap_path);
	rmdir(dir);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_wireshark", suite_init, suite_clean);
	CU_add_test(s, "every method decoded by tshark without a warning",
		    test_every_method_through_tshark);
	return test_run();
}
