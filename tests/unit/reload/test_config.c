/* CUnit suite "reload_config" (RFC 6940 §11.1, §11.1.1): the example configurations of
 * conf/reload load; the RFC's own example shape is accepted; each rule that matters is refused
 * with an error naming source, line and element. */
#include <errno.h>

#include "reload_test_util.h"

static char ca_b64[4096];

static int suite_init(void)
{
	EVP_PKEY *k = reload_key_generate(RELOAD_KEY_EC_P256);
	X509 *ca = k ? reload_cert_make_ca(k, "config test CA", 30) : NULL;
	char *b = ca ? reload_cert_to_base64(ca) : NULL;

	if (b)
		snprintf(ca_b64, sizeof(ca_b64), "%s", b);
	free(b);
	X509_free(ca);
	EVP_PKEY_free(k);
	return ca_b64[0] ? 0 : -1;
}

#define HEAD                                                                                       \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                             \
	"<overlay xmlns=\"urn:ietf:params:xml:ns:p2p:config-base\"\n"                              \
	"    xmlns:ext=\"urn:example:ext\"\n"                                                      \
	"    xmlns:chord=\"urn:ietf:params:xml:ns:p2p:config-chord\">\n"

/* Builds a document: configuration attributes, then parameters (root-cert filled with the
 * suite's CA where %s appears). */
static char *doc(const char *attrs, const char *params)
{
	static char buf[16384], inner[12288];

	snprintf(inner, sizeof(inner), params, ca_b64);
	snprintf(buf, sizeof(buf), HEAD "<configuration %s>\n%s</configuration>\n</overlay>\n",
		 attrs, inner);
	return buf;
}

static int parse(const char *xml, struct reload_overlay_config **cfg, char *err, size_t n)
{
	return reload_config_parse(xml, strlen(xml), "test.xml", NULL, cfg, err, n);
}

static void test_examples_load(void)
{
	struct reload_overlay_config *cfg;
	char err[PCDN_ERR_MAX];
	struct reload_trust *t;
	const struct reload_kind_def *k;

	CU_ASSERT_EQUAL_FATAL(reload_config_load(RELOAD_CONF_DIR "/arch1-overlays.xml",
						 "storage.pcdn.example", &cfg, err, sizeof(err)),
			      0);
	CU_ASSERT_STRING_EQUAL(cfg->instance_name, "storage.pcdn.example");
	CU_ASSERT_EQUAL(cfg->overlay_hash, reload_overlay_hash("storage.pcdn.example"));
	CU_ASSERT_EQUAL(cfg->root_cert_count, 1);
	CU_ASSERT_FALSE(cfg->self_signed_permitted);
	CU_ASSERT_EQUAL(cfg->bootstrap_count, 1);
	CU_ASSERT_EQUAL(cfg->bootstrap[0].port, 6085);
	CU_ASSERT_EQUAL(cfg->kind_count, 2);
	k = reload_config_kind(cfg, 4026531843u);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(k->model, RELOAD_MODEL_ARRAY);
	CU_ASSERT_EQUAL(k->policy, RELOAD_ACCESS_PCDN_NODE_ANY);
	/* the raw configuration element is the exact bytes of the second configuration */
	CU_ASSERT_TRUE(cfg->raw_configuration.len > 0);
	{
		static const char start[] = "<configuration instance-name=\"storage.pcdn.example\"";

		CU_ASSERT_EQUAL(memcmp(cfg->raw_configuration.data, start, strlen(start)), 0);
	}
	CU_ASSERT_EQUAL(memcmp(cfg->raw_configuration.data + cfg->raw_configuration.len - 16,
			       "</configuration>", 16),
			0);
	t = reload_trust_from_config(cfg);
	CU_ASSERT_PTR_NOT_NULL(t);
	reload_trust_free(t);
	reload_config_free(cfg);

	CU_ASSERT_EQUAL_FATAL(
	    reload_config_load(RELOAD_CONF_DIR "/arch1-overlays.xml", NULL, &cfg, err, sizeof(err)),
	    0);
	CU_ASSERT_STRING_EQUAL(cfg->instance_name, "tracker.pcdn.example");
	CU_ASSERT_EQUAL(cfg->expiration, 2082758400);
	k = reload_config_kind(cfg, RELOAD_KIND_CERTIFICATE_BY_NODE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(k->policy, RELOAD_ACCESS_NODE_MATCH);
	CU_ASSERT_EQUAL(cfg->chord_update_interval, 60);
	CU_ASSERT_TRUE(cfg->no_ice);
	reload_config_free(cfg);

	CU_ASSERT_EQUAL_FATAL(
	    reload_config_load(RELOAD_CONF_DIR "/arch2-overlay.xml", NULL, &cfg, err, sizeof(err)),
	    0);
	CU_ASSERT_TRUE(cfg->self_signed_permitted);
	CU_ASSERT_EQUAL(cfg->self_signed_digest, RELOAD_HASH_SHA256);
	CU_ASSERT_EQUAL(cfg->root_cert_count, 0);
	CU_ASSERT_EQUAL(cfg->bootstrap_count, 2);
	CU_ASSERT_EQUAL(cfg->bootstrap[1].addr.ss.ss_family, AF_INET6);
	CU_ASSERT_EQUAL(cfg->kind_count, 4);
	CU_ASSERT_EQUAL(cfg->max_message_size, 1200000u);
	{
		struct reload_codec_params p;

		reload_codec_params_from_config(cfg, &p);
		CU_ASSERT_EQUAL(p.node_id_len, 16);
		CU_ASSERT_EQUAL(p.kind_model(p.kind_ctx, 4026531841u), RELOAD_MODEL_DICTIONARY);
		CU_ASSERT_EQUAL(p.kind_model(p.kind_ctx, 77), RELOAD_MODEL_UNKNOWN);
	}
	reload_config_free(cfg);

	CU_ASSERT_EQUAL(reload_config_load(RELOAD_CONF_DIR "/arch1-overlays.xml", "nope.example",
					   &cfg, err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nope.example"));
	CU_ASSERT_EQUAL(reload_config_load("/nonexistent/x.xml", NULL, &cfg, err, sizeof(err)),
			-ENOENT);
}

/* The shape of the RFC's example (§11.1): every element, foreign extensions, defaults. */
static void test_rfc_shaped(void)
{
	struct reload_overlay_config *cfg;
	char err[PCDN_ERR_MAX];
	const char *params =
	    "<topology-plugin> CHORD-RELOAD </topology-plugin>\n"
	    "<node-id-length>16</node-id-length>\n"
	    "<root-cert>\n%s\n</root-cert>\n"
	    "<enrollment-server>https://example.org</enrollment-server>\n"
	    "<enrollment-server>https://example.net</enrollment-server>\n"
	    "<self-signed-permitted digest=\"sha1\">false</self-signed-permitted>\n"
	    "<bootstrap-node address=\"192.0.0.1\" port=\"6084\" />\n"
	    "<bootstrap-node address=\"2001:DB8::1\" />\n"
	    "<turn-density> 20 </turn-density>\n"
	    "<clients-permitted> false </clients-permitted>\n"
	    "<no-ice> 0 </no-ice>\n"
	    "<chord:chord-update-interval>\n 400</chord:chord-update-interval>\n"
	    "<chord:chord-ping-interval>30</chord:chord-ping-interval>\n"
	    "<chord:chord-reactive> true </chord:chord-reactive>\n"
	    "<shared-secret> password </shared-secret>\n"
	    "<max-message-size>4000</max-message-size>\n"
	    "<initial-ttl> 30 </initial-ttl>\n"
	    "<overlay-reliability-timer> 3000 </overlay-reliability-timer>\n"
	    "<overlay-link-protocol>TLS</overlay-link-protocol>\n"
	    "<configuration-signer>47112162e84c69ba47112162e84c69ba</configuration-signer>\n"
	    "<kind-signer> 47112162e84c69ba47112162e84c69ba </kind-signer>\n"
	    "<bad-node> 6ebc45d31a900c066ebc45d31a900c06 </bad-node>\n"
	    "<ext:example-extension> foo </ext:example-extension>\n"
	    "<required-kinds>\n"
	    " <kind-block>\n"
	    "  <kind name=\"TURN-SERVICE\">\n"
	    "   <data-model>ARRAY</data-model>\n" /* the IANA registration wins */
	    "   <access-control>USER-MATCH</access-control>\n"
	    "   <max-node-multiple>3</max-node-multiple>\n"
	    "   <max-count>1</max-count>\n"
	    "   <max-size>100</max-size>\n"
	    "  </kind>\n"
	    "  <kind-signature> VGhpcyBpcyBub3QgcmlnaHQhCg== </kind-signature>\n"
	    " </kind-block>\n"
	    " <kind-block>\n"
	    "  <kind id=\"2000\">\n"
	    "   <data-model>ARRAY</data-model>\n"
	    "   <access-control>NODE-MULTIPLE</access-control>\n"
	    "   <max-node-multiple>3</max-node-multiple>\n"
	    "   <max-count>22</max-count>\n"
	    "   <max-size>4</max-size>\n"
	    "   <ext:example-kind-extension> 1 </ext:example-kind-extension>\n"
	    "  </kind>\n"
	    " </kind-block>\n"
	    "</required-kinds>\n";
	const struct reload_kind_def *k;

	CU_ASSERT_EQUAL_FATAL(
	    parse(doc("instance-name=\"overlay.example.org\" sequence=\"22\" "
		      "expiration=\"2002-10-10T07:00:00Z\" ext:ext-example=\"stuff\"",
		      params),
		  &cfg, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(cfg->sequence, 22);
	CU_ASSERT_EQUAL(cfg->expiration, 1034233200);
	CU_ASSERT_EQUAL(cfg->enrollment_server_count, 2);
	CU_ASSERT_EQUAL(cfg->bootstrap_count, 2);
	CU_ASSERT_EQUAL(cfg->bootstrap[1].port, RELOAD_DEFAULT_PORT);
	CU_ASSERT_EQUAL(cfg->turn_density, 20);
	CU_ASSERT_FALSE(cfg->clients_permitted);
	CU_ASSERT_EQUAL(cfg->chord_update_interval, 400);
	CU_ASSERT_STRING_EQUAL(cfg->shared_secret, "password");
	CU_ASSERT_EQUAL(cfg->max_message_size, 4000);
	CU_ASSERT_EQUAL(cfg->initial_ttl, 30);
	CU_ASSERT_EQUAL(cfg->kind_signer_count, 1);
	CU_ASSERT_EQUAL(cfg->bad_node_count, 1);
	CU_ASSERT_EQUAL(cfg->bad_nodes[0].id[0], 0x6e);
	CU_ASSERT_EQUAL(cfg->link_protocol_count, 1);
	CU_ASSERT_EQUAL(cfg->kind_count, 2);
	k = reload_config_kind(cfg, RELOAD_KIND_TURN_SERVICE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(k->model, RELOAD_MODEL_SINGLE);
	CU_ASSERT_EQUAL(k->policy, RELOAD_ACCESS_NODE_MULTIPLE);
	k = reload_config_kind(cfg, 2000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(k->max_count, 22);
	CU_ASSERT_EQUAL(k->max_node_multiple, 3);
	reload_config_free(cfg);

	/* defaults when nothing is said (self-signed only, to have a trust anchor) */
	CU_ASSERT_EQUAL_FATAL(
	    parse(doc("instance-name=\"x.example\"",
		      "<self-signed-permitted digest=\"sha256\">1</self-signed-permitted>\n"),
		  &cfg, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(cfg->node_id_length, 16);
	CU_ASSERT_STRING_EQUAL(cfg->topology_plugin, "CHORD-RELOAD");
	CU_ASSERT_EQUAL(cfg->max_message_size, 5000);
	CU_ASSERT_EQUAL(cfg->initial_ttl, 100);
	CU_ASSERT_EQUAL(cfg->overlay_reliability_timer, 3000);
	CU_ASSERT_EQUAL(cfg->turn_density, 1);
	CU_ASSERT_TRUE(cfg->clients_permitted);
	CU_ASSERT_TRUE(cfg->chord_reactive);
	CU_ASSERT_FALSE(cfg->no_ice);
	CU_ASSERT_EQUAL_FATAL(cfg->link_protocol_count, 1);
	CU_ASSERT_STRING_EQUAL(cfg->link_protocols[0], "TLS");
	reload_config_free(cfg);
}

struct bad_case {
	const char *attrs;
	const char *params;
	const char *expect; /* substring of the error */
};

static void test_rejected(void)
{
	static const char *ss =
	    "<self-signed-permitted digest=\"sha256\">true</self-signed-permitted>\n";
	char p[8][512];
	const struct bad_case cases[] = {
	    {"", ss, "missing the instance-name"},
	    {"instance-name=\"bad name!\"", ss, "not a valid DNS name"},
	    {"instance-name=\"a.example\" sequence=\"65535\"", ss, "out of range"},
	    {"instance-name=\"a.example\" expiration=\"tomorrow\"", ss, "RFC 3339"},
	    {"instance-name=\"a.example\"", "<node-id-length>12</node-id-length>\n",
	     "node-id-length: 12 is out of range 16..20"},
	    {"instance-name=\"a.example\"", "<root-cert>YmFkIGNlcnQK</root-cert>\n",
	     "root-cert: not a DER X.509 certificate"},
	    {"instance-name=\"a.example\"", "<root-cert>!!!</root-cert>\n",
	     "root-cert: invalid base64"},
	    {"instance-name=\"a.example\"", "<no-ice>true</no-ice>\n", "no root-cert"},
	    {"instance-name=\"a.example\"", "<self-signed-permitted>true</self-signed-permitted>\n",
	     "digest attribute"},
	    {"instance-name=\"a.example\"",
	     "<self-signed-permitted digest=\"md5\">true</self-signed-permitted>\n",
	     "unsupported digest"},
	    {"instance-name=\"a.example\"", p[0], "unknown configuration element"},
	    {"instance-name=\"a.example\"", p[1], "not an IPv4 or IPv6 address"},
	    {"instance-name=\"a.example\"", p[2], "100 is out of range 200.."},
	    {"instance-name=\"a.example\"", p[3], "unsupported extension"},
	    {"instance-name=\"a.example\"", p[4], "expected a 16-byte Node-ID"},
	    {"instance-name=\"a.example\"", p[5], "unsupported topology plug-in"},
	    {"instance-name=\"a.example\"", p[6], "must be of type https:"},
	    {"instance-name=\"a.example\"", p[7], "expected true, false"},
	};

	snprintf(p[0], sizeof(p[0]), "%s<max-mesage-size>10</max-mesage-size>\n", ss);
	snprintf(p[1], sizeof(p[1]), "%s<bootstrap-node address=\"peer.example\"/>\n", ss);
	snprintf(p[2], sizeof(p[2]),
		 "%s<overlay-reliability-timer>100</overlay-reliability-timer>\n", ss);
	snprintf(p[3], sizeof(p[3]), "%s<mandatory-extension>urn:x</mandatory-extension>\n", ss);
	snprintf(p[4], sizeof(p[4]), "%s<bad-node>47112162e84c69ba</bad-node>\n", ss);
	snprintf(p[5], sizeof(p[5]), "%s<topology-plugin>KADEMLIA</topology-plugin>\n", ss);
	snprintf(p[6], sizeof(p[6]), "%s<enrollment-server>http://x</enrollment-server>\n", ss);
	snprintf(p[7], sizeof(p[7]), "%s<no-ice>yes</no-ice>\n", ss);
	/* the root-cert element above fails before the format string's %s matters */
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(cases); i++) {
		struct reload_overlay_config *cfg = NULL;
		char err[PCDN_ERR_MAX], params[1024];
		int rc;

		/* doc() formats params with the CA; escape stray % in the case text */
		snprintf(params, sizeof(params), "%s", cases[i].params);
		rc = parse(doc(cases[i].attrs, params), &cfg, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, -EINVAL);
		CU_ASSERT_PTR_NULL(cfg);
		if (!strstr(err, cases[i].expect) || strncmp(err, "test.xml:", 9) != 0) {
			fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].expect);
			CU_FAIL("error text");
		}
		reload_config_free(cfg);
	}
}

static void test_rejected_kinds(void)
{
	static const char *kinds[][2] = {
	    {"<kind id=\"5\"><data-model>SET</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "unknown data model 'SET'"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>ANYONE"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "unknown access control policy 'ANYONE'"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>NODE-MULTIPLE"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "needs max-node-multiple"},
	    {"<kind id=\"5\"><data-model>ARRAY</data-model><access-control>USER-NODE-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "only be used with DICTIONARY"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-size>1</max-size></kind>",
	     "missing max-count"},
	    {"<kind><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "exactly one of the attributes id and name"},
	    {"<kind name=\"NO-SUCH-KIND\"><data-model>SINGLE</data-model><access-control>"
	     "USER-MATCH</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "unknown Kind name"},
	    {"<kind id=\"0\"><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>",
	     "kind id: 0 is out of range"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>0</max-count><max-size>1</max-size></kind>",
	     "max-count: 0 is out of range"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size><colour>red"
	     "</colour></kind>",
	     "colour: unknown element in a kind"},
	    {"<kind id=\"5\"><data-model>SINGLE</data-model><access-control>USER-MATCH"
	     "</access-control><max-count>1</max-count><max-size>1</max-size></kind>"
	     "</kind-block><kind-block><kind id=\"5\"><data-model>SINGLE</data-model>"
	     "<access-control>USER-MATCH</access-control><max-count>1</max-count><max-size>1"
	     "</max-size></kind>",
	     "Kind-ID 5 defined twice"},
	};

	for (size_t i = 0; i < PCDN_ARRAY_SIZE(kinds); i++) {
		struct reload_overlay_config *cfg = NULL;
		char err[PCDN_ERR_MAX], params[2048];

		snprintf(params, sizeof(params),
			 "<self-signed-permitted digest=\"sha1\">true</self-signed-permitted>\n"
			 "<required-kinds>\n<kind-block>\n%s\n</kind-block>\n</required-kinds>\n",
			 kinds[i][0]);
		CU_ASSERT_EQUAL(
		    parse(doc("instance-name=\"k.example\"", params), &cfg, err, sizeof(err)),
		    -EINVAL);
		if (!strstr(err, kinds[i][1])) {
			fprintf(stderr, "kind case %zu: got '%s', want '%s'\n", i, err,
				kinds[i][1]);
			CU_FAIL("kind error text");
		}
		reload_config_free(cfg);
	}
}

static void test_not_xml(void)
{
	struct reload_overlay_config *cfg;
	char err[PCDN_ERR_MAX];
	static const char broken[] = "<?xml version=\"1.0\"?>\n<overlay>\n<configuration\n";
	static const char wrong_root[] =
	    "<?xml version=\"1.0\"?>\n<overlay><configuration instance-name=\"a.b\"/></overlay>";
	static const char no_conf[] = HEAD "</overlay>";
	static const char line[] =
	    HEAD "<configuration instance-name=\"a.example\">\n"
		 "<self-signed-permitted digest=\"sha1\">true"
		 "</self-signed-permitted>\n\n\n<initial-ttl>0</initial-ttl>\n"
		 "</configuration></overlay>";

	CU_ASSERT_EQUAL(parse(broken, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not well-formed XML"));
	CU_ASSERT_EQUAL(parse(wrong_root, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "urn:ietf:params:xml:ns:p2p:config-base"));
	CU_ASSERT_EQUAL(parse(no_conf, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no configuration element"));
	/* the line of the offending element is reported */
	CU_ASSERT_EQUAL(parse(line, &cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "test.xml:9: initial-ttl:"));
}

/* §11.1: a configuration signed with a SecurityBlock over its exact bytes. */
static void test_signed_configuration(void)
{
	struct test_creds c;
	struct reload_overlay_config *cfg;
	struct reload_trust *t;
	char hex[41], *ca, *sig, element[4096], xml[12288], err[PCDN_ERR_MAX];
	struct reload_bytes el;

	CU_ASSERT_EQUAL_FATAL(test_creds_make(&c, RELOAD_KEY_EC_P256, "op@s.example"), 0);
	/* the node's certificate names TEST_OVERLAY; the configuration is for that overlay */
	ca = reload_cert_to_base64(c.ca);
	reload_node_id_to_hex(&c.node_id, hex);
	for (int variant = 0; variant < 3; variant++) {
		snprintf(element, sizeof(element),
			 "<configuration instance-name=\"" TEST_OVERLAY "\" sequence=\"3\">\n"
			 "<root-cert>%s</root-cert>\n"
			 "<configuration-signer>%s</configuration-signer>\n</configuration>",
			 ca, variant == 2 ? "00000000000000000000000000000001" : hex);
		el = (struct reload_bytes){(const uint8_t *)element, strlen(element)};
		sig = reload_config_sign(&el, c.signer);
		CU_ASSERT_PTR_NOT_NULL_FATAL(sig);
		if (variant == 1) /* one byte of whitespace changed after signing */
			element[strlen("<configuration")] = '\t';
		snprintf(xml, sizeof(xml), HEAD "%s\n<signature>%s</signature>\n</overlay>\n",
			 element, sig);
		free(sig);
		CU_ASSERT_EQUAL_FATAL(reload_config_parse(xml, strlen(xml), "signed.xml", NULL,
							  &cfg, err, sizeof(err)),
				      0);
		CU_ASSERT_EQUAL(cfg->raw_configuration.len, strlen(element));
		t = reload_trust_from_config(cfg);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(reload_config_verify(cfg, cfg, t, time(NULL)),
				variant == 0 ? 0 : -EACCES);
		reload_trust_free(t);
		reload_config_free(cfg);
	}
	/* §11.1 kind-signature over the kind element, by a kind-signer */
	{
		static const char kind[] =
		    "<kind id=\"77\">\n <data-model>SINGLE</data-model>\n"
		    " <access-control>NODE-MATCH</access-control>\n"
		    " <max-count>1</max-count><max-size>10</max-size>\n</kind>";
		struct reload_bytes kb = {(const uint8_t *)kind, sizeof(kind) - 1};
		char *ksig = reload_config_sign(&kb, c.signer);

		CU_ASSERT_PTR_NOT_NULL_FATAL(ksig);
		for (int variant = 0; variant < 2; variant++) {
			snprintf(
			    xml, sizeof(xml),
			    HEAD "<configuration instance-name=\"" TEST_OVERLAY "\">\n"
				 "<root-cert>%s</root-cert>\n<kind-signer>%s</kind-signer>\n"
				 "<required-kinds><kind-block>%s<kind-signature>%s"
				 "</kind-signature></kind-block>\n<kind-block><kind id=\"78\">"
				 "<data-model>ARRAY</data-model><access-control>USER-MATCH"
				 "</access-control><max-count>2</max-count><max-size>9</max-size>"
				 "</kind></kind-block></required-kinds>\n"
				 "</configuration></overlay>\n",
			    ca, variant ? "00000000000000000000000000000002" : hex, kind, ksig);
			CU_ASSERT_EQUAL_FATAL(reload_config_parse(xml, strlen(xml), "kinds.xml",
								  NULL, &cfg, err, sizeof(err)),
					      0);
			CU_ASSERT_EQUAL_FATAL(cfg->kind_count, 2);
			CU_ASSERT_EQUAL(cfg->kinds[0].raw.len, sizeof(kind) - 1);
			CU_ASSERT_EQUAL(cfg->kinds[1].signature.len, 0);
			CU_ASSERT_TRUE(cfg->kinds[1].raw.len > 0);
			t = reload_trust_from_config(cfg);
			CU_ASSERT_EQUAL(
			    reload_config_verify_kind(cfg, &cfg->kinds[0], t, time(NULL)),
			    variant ? -EACCES : 0);
			CU_ASSERT_EQUAL(
			    reload_config_verify_kind(cfg, &cfg->kinds[1], t, time(NULL)), -ENOENT);
			reload_trust_free(t);
			reload_config_free(cfg);
		}
		/* the same kind as a ConfigUpdate KindDescription (§6.5.4.1) */
		{
			char desc[4096];
			struct reload_arena *ar = reload_arena_new();
			struct reload_kind_def kd;
			struct reload_bytes db;

			snprintf(desc, sizeof(desc),
				 "<kind-block>%s<kind-signature>%s</kind-signature></kind-block>",
				 kind, ksig);
			db = (struct reload_bytes){(const uint8_t *)desc, strlen(desc)};
			CU_ASSERT_EQUAL_FATAL(
			    reload_kind_description_parse(&db, ar, &kd, err, sizeof(err)), 0);
			CU_ASSERT_EQUAL(kd.id, 77);
			CU_ASSERT_EQUAL(kd.model, RELOAD_MODEL_SINGLE);
			CU_ASSERT_EQUAL(kd.raw.len, sizeof(kind) - 1);
			snprintf(xml, sizeof(xml),
				 HEAD "<configuration instance-name=\"" TEST_OVERLAY "\">\n"
				      "<root-cert>%s</root-cert>\n<kind-signer>%s</kind-signer>\n"
				      "</configuration></overlay>\n",
				 ca, hex);
			CU_ASSERT_EQUAL_FATAL(reload_config_parse(xml, strlen(xml), "cur.xml", NULL,
								  &cfg, err, sizeof(err)),
					      0);
			t = reload_trust_from_config(cfg);
			CU_ASSERT_EQUAL(reload_config_verify_kind(cfg, &kd, t, time(NULL)), 0);
			kd.raw.len--; /* one byte less is another element */
			CU_ASSERT_EQUAL(reload_config_verify_kind(cfg, &kd, t, time(NULL)),
					-EACCES);
			reload_trust_free(t);
			reload_config_free(cfg);
			db.len = 5;
			CU_ASSERT_EQUAL(
			    reload_kind_description_parse(&db, ar, &kd, err, sizeof(err)), -EINVAL);
			db = (struct reload_bytes){(const uint8_t *)"", 0};
			CU_ASSERT_EQUAL(
			    reload_kind_description_parse(&db, ar, &kd, err, sizeof(err)), -EINVAL);
			reload_arena_free(ar);
		}
		free(ksig);
	}
	/* an unsigned configuration */
	CU_ASSERT_EQUAL_FATAL(
	    reload_config_load(RELOAD_CONF_DIR "/arch2-overlay.xml", NULL, &cfg, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(reload_config_verify(cfg, cfg, c.trust, time(NULL)), -ENOENT);
	reload_config_free(cfg);
	free(ca);
	test_creds_free(&c);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("reload_config", suite_init, NULL);
	CU_add_test(s, "example configurations load", test_examples_load);
	CU_add_test(s, "RFC-shaped document accepted", test_rfc_shaped);
	CU_add_test(s, "rejected configurations", test_rejected);
	CU_add_test(s, "rejected kinds", test_rejected_kinds);
	CU_add_test(s, "not XML, wrong root, line numbers", test_not_xml);
	CU_add_test(s, "signed configuration", test_signed_configuration);
	return test_run();
}
