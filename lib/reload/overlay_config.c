/* RFC 6940 §11.1: the overlay configuration document (application/p2p-overlay+xml), parsed
 * with libxml2 and checked against the rules of the RELAX NG grammar of §11.1.1 and the text
 * around it that matter to a running node: instance name, sequence, expiration, topology
 * plug-in, node-id-length, root certificates, enrollment servers, self-signed-permitted and its
 * digest, bootstrap nodes, limits, link protocols, signers, bad nodes, mandatory extensions and
 * the required Kinds (id or IANA name, data model, access control, max-count, max-size,
 * max-node-multiple). Every error names source, line and element. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "codec_internal.h"
#include "reload.h"

#define NS_BASE	 "urn:ietf:params:xml:ns:p2p:config-base"
#define NS_CHORD "urn:ietf:params:xml:ns:p2p:config-chord"

struct cfg_ctx {
	const char *source;
	char *err;
	size_t errlen;
	struct reload_overlay_config *cfg;
	struct reload_arena *a;
};

static int cfg_error(struct cfg_ctx *c, const xmlNode *n, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_error(struct cfg_ctx *c, const xmlNode *n, const char *what, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%ld: %s: %s", c->source,
			 n ? (long)xmlGetLineNo(n) : 0L, what, msg);
	return -EINVAL;
}

static bool in_ns(const xmlNode *n, const char *ns)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

static bool is_elem(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && in_ns(n, ns) &&
	       strcmp((const char *)n->name, name) == 0;
}

/* Element text with XML whitespace trimmed, copied into the arena. */
static char *text_of(struct cfg_ctx *c, const xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = t ? (const char *)t : "";
	size_t len;
	char *out;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
		       s[len - 1] == '\r'))
		len--;
	out = reload_arena_alloc(c->a, len + 1);
	if (out)
		memcpy(out, s, len);
	xmlFree(t);
	return out;
}

static char *attr_of(struct cfg_ctx *c, const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	char *out;

	if (!v)
		return NULL;
	out = reload_arena_memdup(c->a, v, strlen((const char *)v) + 1);
	xmlFree(v);
	return out;
}

static int parse_bool(struct cfg_ctx *c, const xmlNode *n, const char *what, bool *out)
{
	char *s = text_of(c, n);

	if (!s)
		return -ENOMEM;
	/* xsd:boolean has two lexical forms for each value */
	if (!strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else
		return cfg_error(c, n, what, "expected true, false, 1 or 0, got '%s'", s);
	return 0;
}

static int parse_int(struct cfg_ctx *c, const xmlNode *n, const char *what, long long min,
		     long long max, long long *out)
{
	char *s = text_of(c, n), *end;
	long long v;

	if (!s)
		return -ENOMEM;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return cfg_error(c, n, what, "expected an integer, got '%s'", s);
	if (v < min || v > max)
		return cfg_error(c, n, what, "%lld is out of range %lld..%lld", v, min, max);
	*out = v;
	return 0;
}

static int parse_int_str(struct cfg_ctx *c, const xmlNode *n, const char *what, const char *s,
			 long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return cfg_error(c, n, what, "expected an integer, got '%s'", s);
	if (v < min || v > max)
		return cfg_error(c, n, what, "%lld is out of range %lld..%lld", v, min, max);
	*out = v;
	return 0;
}

/* Base64 with any whitespace (the RFC's own example wraps lines). */
static int decode_base64(struct cfg_ctx *c, const char *s, struct reload_bytes *out)
{
	size_t len = strlen(s), k = 0;
	char *clean = reload_arena_alloc(c->a, len + 1);
	uint8_t *bin;
	int n, pad = 0;

	if (!clean)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			clean[k++] = s[i];
	if (k == 0 || k % 4)
		return -EINVAL;
	bin = reload_arena_alloc(c->a, k / 4 * 3 + 1);
	if (!bin)
		return -ENOMEM;
	n = EVP_DecodeBlock(bin, (const unsigned char *)clean, (int)k);
	if (n < 0)
		return -EINVAL;
	if (clean[k - 1] == '=')
		pad++;
	if (clean[k - 2] == '=')
		pad++;
	out->data = bin;
	out->len = (size_t)n - (size_t)pad;
	return 0;
}

static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* RFC 3339 date-time in UTC ("Z" or "+00:00"), fractional seconds allowed. */
static int parse_datetime(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, consumed = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6 ||
	    consumed != 19)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	p = s + consumed;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") && strcmp(p, "z") && strcmp(p, "+00:00") && strcmp(p, "-00:00"))
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* A growing array in the arena: doubles by copying (configuration documents are small). */
static void *push(struct cfg_ctx *c, void *arr, size_t *count, size_t elem)
{
	uint8_t *n = reload_arena_alloc(c->a, (*count + 1) * elem);

	if (!n)
		return NULL;
	if (*count)
		memcpy(n, arr, *count * elem);
	(*count)++;
	return n;
}

#define PUSH(c, arr, count)                                                                        \
	((arr) = push((c), (arr), &(count), sizeof(*(arr))), (arr) ? &(arr)[(count)-1] : NULL)

static int parse_node_id_list(struct cfg_ctx *c, const xmlNode *n, const char *what,
			      struct reload_node_id **arr, size_t *count)
{
	char *s = text_of(c, n);
	struct reload_node_id *slot;

	if (!s)
		return -ENOMEM;
	slot = PUSH(c, *arr, *count);
	if (!slot)
		return -ENOMEM;
	if (reload_node_id_from_hex(s, c->cfg->node_id_length, slot))
		return cfg_error(c, n, what, "expected a %u-byte Node-ID in hexadecimal, got '%s'",
				 c->cfg->node_id_length, s);
	return 0;
}

static const struct {
	const char *name;
	uint32_t id;
	uint8_t model;
	uint8_t policy;
} iana_kinds[] = {
    /* §8, §9: IANA-registered Kinds; their registered model and policy win (§11.1) */
    {"TURN-SERVICE", RELOAD_KIND_TURN_SERVICE, RELOAD_MODEL_SINGLE, RELOAD_ACCESS_NODE_MULTIPLE},
    {"CERTIFICATE_BY_NODE", RELOAD_KIND_CERTIFICATE_BY_NODE, RELOAD_MODEL_ARRAY,
     RELOAD_ACCESS_NODE_MATCH},
    {"CERTIFICATE_BY_USER", RELOAD_KIND_CERTIFICATE_BY_USER, RELOAD_MODEL_ARRAY,
     RELOAD_ACCESS_USER_MATCH},
};

static int parse_kind(struct cfg_ctx *c, const xmlNode *kn)
{
	struct reload_kind_def k;
	char *id = attr_of(c, kn, "id"), *name = attr_of(c, kn, "name");
	bool have_count = false, have_size = false, have_model = false, have_policy = false;
	bool have_multiple = false;
	long long v;
	int rc;

	memset(&k, 0, sizeof(k));
	if ((id && name) || (!id && !name))
		return cfg_error(c, kn, "kind", "needs exactly one of the attributes id and name");
	if (id) {
		if ((rc = parse_int_str(c, kn, "kind id", id, 1, 0xfffffffeLL, &v)))
			return rc;
		k.id = (uint32_t)v;
	}
	for (const xmlNode *n = kn->children; n; n = n->next) {
		const char *what;
		char *s;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!in_ns(n, NS_BASE))
			continue; /* foreign elements are allowed in a kind */
		what = (const char *)n->name;
		if (!strcmp(what, "max-count")) {
			if ((rc = parse_int(c, n, what, 1, INT32_MAX, &v)))
				return rc;
			k.max_count = (uint32_t)v;
			have_count = true;
		} else if (!strcmp(what, "max-size")) {
			if ((rc = parse_int(c, n, what, 0, INT32_MAX, &v)))
				return rc;
			k.max_size = (uint32_t)v;
			have_size = true;
		} else if (!strcmp(what, "max-node-multiple")) {
			if ((rc = parse_int(c, n, what, 1, INT32_MAX, &v)))
				return rc;
			k.max_node_multiple = (uint32_t)v;
			have_multiple = true;
		} else if (!strcmp(what, "data-model")) {
			if (!(s = text_of(c, n)))
				return -ENOMEM;
			if ((rc = reload_data_model_parse(s)) < 0)
				return cfg_error(c, n, what,
						 "unknown data model '%s' (expected SINGLE, ARRAY "
						 "or DICTIONARY)",
						 s);
			k.model = (uint8_t)rc;
			have_model = true;
		} else if (!strcmp(what, "access-control")) {
			if (!(s = text_of(c, n)))
				return -ENOMEM;
			if ((rc = reload_access_policy_parse(s)) < 0)
				return cfg_error(c, n, what,
						 "unknown access control policy '%s' (expected "
						 "USER-MATCH, NODE-MATCH, USER-NODE-MATCH, "
						 "NODE-MULTIPLE or PCDN-NODE-ANY)",
						 s);
			k.policy = (uint8_t)rc;
			have_policy = true;
		} else {
			return cfg_error(c, n, what, "unknown element in a kind");
		}
	}
	if (!have_count || !have_size || !have_model || !have_policy)
		return cfg_error(c, kn, "kind", "missing %s",
				 !have_count   ? "max-count"
				 : !have_size  ? "max-size"
				 : !have_model ? "data-model"
					       : "access-control");
	if (name) {
		size_t i;

		for (i = 0; i < PCDN_ARRAY_SIZE(iana_kinds); i++)
			if (!strcmp(iana_kinds[i].name, name))
				break;
		if (i == PCDN_ARRAY_SIZE(iana_kinds))
			return cfg_error(c, kn, "kind",
					 "unknown Kind name '%s' (registered: "
					 "TURN-SERVICE, CERTIFICATE_BY_NODE, "
					 "CERTIFICATE_BY_USER)",
					 name);
		k.id = iana_kinds[i].id;
		k.model = iana_kinds[i].model;
		k.policy = iana_kinds[i].policy;
		snprintf(k.name, sizeof(k.name), "%s", name);
	}
	if (k.policy == RELOAD_ACCESS_NODE_MULTIPLE && !have_multiple)
		return cfg_error(c, kn, "kind", "NODE-MULTIPLE needs max-node-multiple");
	if (k.policy == RELOAD_ACCESS_USER_NODE_MATCH && k.model != RELOAD_MODEL_DICTIONARY)
		return cfg_error(c, kn, "kind", "USER-NODE-MATCH may only be used with DICTIONARY");
	for (size_t i = 0; i < c->cfg->kind_count; i++)
		if (c->cfg->kinds[i].id == k.id)
			return cfg_error(c, kn, "kind", "Kind-ID %u defined twice", k.id);
	{
		struct reload_kind_def *slot = PUSH(c, c->cfg->kinds, c->cfg->kind_count);

		if (!slot)
			return -ENOMEM;
		*slot = k;
	}
	return 0;
}

static int parse_required_kinds(struct cfg_ctx *c, const xmlNode *rk)
{
	int rc;

	for (const xmlNode *b = rk->children; b; b = b->next) {
		const xmlNode *kind = NULL;
		struct reload_bytes sig = {NULL, 0};

		if (b->type != XML_ELEMENT_NODE)
			continue;
		if (!is_elem(b, NS_BASE, "kind-block"))
			return cfg_error(c, b, (const char *)b->name,
					 "only kind-block elements belong in required-kinds");
		for (const xmlNode *n = b->children; n; n = n->next) {
			if (n->type != XML_ELEMENT_NODE)
				continue;
			if (is_elem(n, NS_BASE, "kind")) {
				if (kind)
					return cfg_error(c, n, "kind-block", "more than one kind");
				kind = n;
			} else if (is_elem(n, NS_BASE, "kind-signature")) {
				char *s = text_of(c, n);

				if (!s)
					return -ENOMEM;
				if (decode_base64(c, s, &sig))
					return cfg_error(c, n, "kind-signature", "invalid base64");
			} else {
				return cfg_error(c, n, (const char *)n->name,
						 "unknown element in a kind-block");
			}
		}
		if (!kind)
			return cfg_error(c, b, "kind-block", "has no kind element");
		if ((rc = parse_kind(c, kind)))
			return rc;
		c->cfg->kinds[c->cfg->kind_count - 1].signature = sig;
	}
	return 0;
}

static int parse_bootstrap(struct cfg_ctx *c, const xmlNode *n)
{
	char *addr = attr_of(c, n, "address"), *port = attr_of(c, n, "port");
	struct reload_bootstrap_node *b;
	uint8_t tmp[16];
	char text[96];
	long long p = RELOAD_DEFAULT_PORT;
	int rc;

	if (!addr)
		return cfg_error(c, n, "bootstrap-node", "missing the address attribute");
	if (port && (rc = parse_int_str(c, n, "bootstrap-node port", port, 1, 65535, &p)))
		return rc;
	if (strlen(addr) >= sizeof(((struct reload_bootstrap_node *)0)->address))
		return cfg_error(c, n, "bootstrap-node", "address too long");
	if (inet_pton(AF_INET, addr, tmp) == 1)
		snprintf(text, sizeof(text), "%s:%lld", addr, p);
	else if (inet_pton(AF_INET6, addr, tmp) == 1)
		snprintf(text, sizeof(text), "[%s]:%lld", addr, p);
	else
		return cfg_error(c, n, "bootstrap-node",
				 "address '%s' is not an IPv4 or IPv6 address", addr);
	b = PUSH(c, c->cfg->bootstrap, c->cfg->bootstrap_count);
	if (!b)
		return -ENOMEM;
	snprintf(b->address, sizeof(b->address), "%s", addr);
	b->port = (uint16_t)p;
	if (pcdn_addr_parse(text, &b->addr))
		return cfg_error(c, n, "bootstrap-node", "address '%s' not usable", addr);
	return 0;
}

static int parse_root_cert(struct cfg_ctx *c, const xmlNode *n)
{
	char *s = text_of(c, n);
	struct reload_bytes der, *slot;
	const unsigned char *p;
	X509 *x;

	if (!s)
		return -ENOMEM;
	if (decode_base64(c, s, &der))
		return cfg_error(c, n, "root-cert", "invalid base64");
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	if (!x || p != der.data + der.len) {
		X509_free(x);
		ERR_clear_error();
		return cfg_error(c, n, "root-cert", "not a DER X.509 certificate");
	}
	X509_free(x);
	slot = PUSH(c, c->cfg->root_certs, c->cfg->root_cert_count);
	if (!slot)
		return -ENOMEM;
	*slot = der;
	return 0;
}

static int push_string(struct cfg_ctx *c, const xmlNode *n, char ***arr, size_t *count)
{
	char *s = text_of(c, n), **slot;

	if (!s)
		return -ENOMEM;
	slot = PUSH(c, *arr, *count);
	if (!slot)
		return -ENOMEM;
	*slot = s;
	return 0;
}

static int parse_parameter(struct cfg_ctx *c, const xmlNode *n, bool *seen_link_protocol)
{
	struct reload_overlay_config *cfg = c->cfg;
	const char *what = (const char *)n->name;
	long long v;
	char *s;
	int rc;

	if (in_ns(n, NS_CHORD)) {
		if (!strcmp(what, "chord-update-interval")) {
			if ((rc = parse_int(c, n, what, 1, INT32_MAX, &v)))
				return rc;
			cfg->chord_update_interval = (uint32_t)v;
		} else if (!strcmp(what, "chord-ping-interval")) {
			if ((rc = parse_int(c, n, what, 1, INT32_MAX, &v)))
				return rc;
			cfg->chord_ping_interval = (uint32_t)v;
		} else if (!strcmp(what, "chord-reactive")) {
			return parse_bool(c, n, what, &cfg->chord_reactive);
		} else {
			return cfg_error(c, n, what, "unknown CHORD-RELOAD parameter");
		}
		return 0;
	}
	if (!in_ns(n, NS_BASE))
		return 0; /* foreign elements: extensions this node may ignore */
	if (!strcmp(what, "topology-plugin")) {
		if (!(s = text_of(c, n)))
			return -ENOMEM;
		if (strcmp(s, "CHORD-RELOAD") != 0)
			return cfg_error(c, n, what,
					 "unsupported topology plug-in '%s' (supported: "
					 "CHORD-RELOAD)",
					 s);
		snprintf(cfg->topology_plugin, sizeof(cfg->topology_plugin), "%s", s);
	} else if (!strcmp(what, "node-id-length")) {
		/* read in the first pass */
	} else if (!strcmp(what, "root-cert")) {
		return parse_root_cert(c, n);
	} else if (!strcmp(what, "enrollment-server")) {
		if ((rc = push_string(c, n, &cfg->enrollment_servers,
				      &cfg->enrollment_server_count)))
			return rc;
		if (strncmp(cfg->enrollment_servers[cfg->enrollment_server_count - 1],
			    "https:", 6) != 0)
			return cfg_error(c, n, what, "the URL must be of type https:");
	} else if (!strcmp(what, "self-signed-permitted")) {
		char *d = attr_of(c, n, "digest");

		if ((rc = parse_bool(c, n, what, &cfg->self_signed_permitted)))
			return rc;
		if (!d)
			return cfg_error(c, n, what,
					 "missing the digest attribute (sha1 or sha256)");
		if (!strcmp(d, "sha1"))
			cfg->self_signed_digest = RELOAD_HASH_SHA1;
		else if (!strcmp(d, "sha256"))
			cfg->self_signed_digest = RELOAD_HASH_SHA256;
		else
			return cfg_error(c, n, what, "unsupported digest '%s' (sha1 or sha256)", d);
	} else if (!strcmp(what, "bootstrap-node")) {
		return parse_bootstrap(c, n);
	} else if (!strcmp(what, "turn-density")) {
		if ((rc = parse_int(c, n, what, 0, 255, &v)))
			return rc;
		cfg->turn_density = (unsigned)v;
	} else if (!strcmp(what, "clients-permitted")) {
		return parse_bool(c, n, what, &cfg->clients_permitted);
	} else if (!strcmp(what, "no-ice")) {
		return parse_bool(c, n, what, &cfg->no_ice);
	} else if (!strcmp(what, "shared-secret")) {
		if (!(cfg->shared_secret = text_of(c, n)))
			return -ENOMEM;
	} else if (!strcmp(what, "max-message-size")) {
		/* a message must at least hold a header and a fragment body (§6.7) */
		if ((rc = parse_int(c, n, what, 512, UINT32_MAX, &v)))
			return rc;
		cfg->max_message_size = (uint32_t)v;
	} else if (!strcmp(what, "initial-ttl")) {
		if ((rc = parse_int(c, n, what, 1, 255, &v)))
			return rc;
		cfg->initial_ttl = (unsigned)v;
	} else if (!strcmp(what, "overlay-reliability-timer")) {
		if ((rc = parse_int(c, n, what, 200, INT32_MAX, &v)))
			return rc;
		cfg->overlay_reliability_timer = (uint32_t)v;
	} else if (!strcmp(what, "overlay-link-protocol")) {
		if (!*seen_link_protocol) {
			/* any explicit element replaces the default "TLS" */
			cfg->link_protocols = NULL;
			cfg->link_protocol_count = 0;
			*seen_link_protocol = true;
		}
		return push_string(c, n, &cfg->link_protocols, &cfg->link_protocol_count);
	} else if (!strcmp(what, "kind-signer")) {
		return parse_node_id_list(c, n, what, &cfg->kind_signers, &cfg->kind_signer_count);
	} else if (!strcmp(what, "configuration-signer")) {
		return parse_node_id_list(c, n, what, &cfg->configuration_signers,
					  &cfg->configuration_signer_count);
	} else if (!strcmp(what, "bad-node")) {
		return parse_node_id_list(c, n, what, &cfg->bad_nodes, &cfg->bad_node_count);
	} else if (!strcmp(what, "mandatory-extension")) {
		if ((rc = push_string(c, n, &cfg->mandatory_extensions,
				      &cfg->mandatory_extension_count)))
			return rc;
		s = cfg->mandatory_extensions[cfg->mandatory_extension_count - 1];
		/* a node MUST support every mandatory extension: refuse what we cannot */
		if (strcmp(s, NS_BASE) && strcmp(s, NS_CHORD))
			return cfg_error(c, n, what, "unsupported extension '%s'", s);
	} else if (!strcmp(what, "required-kinds")) {
		return parse_required_kinds(c, n);
	} else {
		return cfg_error(c, n, what, "unknown configuration element");
	}
	return 0;
}

/* The k-th <configuration> element of the document, byte for byte (signature input). */
static void find_raw_configuration(struct cfg_ctx *c, const char *xml, size_t len, size_t k)
{
	size_t i = 0, seen = 0, start = 0;
	bool open = false;

	while (i < len) {
		if (len - i >= 4 && !memcmp(xml + i, "<!--", 4)) {
			const char *e = memmem(xml + i + 4, len - i - 4, "-->", 3);

			if (!e)
				return;
			i = (size_t)(e - xml) + 3;
			continue;
		}
		if (xml[i] == '<') {
			size_t j = i + 1, name_at;
			bool closing = false;

			if (j < len && xml[j] == '/') {
				closing = true;
				j++;
			}
			name_at = j;
			while (j < len && xml[j] != '>' && xml[j] != ' ' && xml[j] != '\t' &&
			       xml[j] != '\n' && xml[j] != '\r' && xml[j] != '/')
				j++;
			{
				const char *nm = xml + name_at;
				size_t nl = j - name_at;
				const char *colon = memchr(nm, ':', nl);

				if (colon) {
					nl -= (size_t)(colon + 1 - nm);
					nm = colon + 1;
				}
				if (nl == 13 && !memcmp(nm, "configuration", 13)) {
					if (!closing && !open) {
						if (seen++ == k) {
							start = i;
							open = true;
						}
					} else if (closing && open) {
						const char *gt = memchr(xml + j, '>', len - j);

						if (!gt)
							return;
						c->cfg->raw_configuration.data =
						    reload_arena_memdup(c->a, xml + start,
									(size_t)(gt - xml) + 1 -
									    start);
						c->cfg->raw_configuration.len =
						    (size_t)(gt - xml) + 1 - start;
						return;
					}
				}
			}
		}
		i++;
	}
}

/* The kind elements inside the raw configuration, in document order (the order of kinds[]):
 * each from its "<" to the ">" of its end tag. Comments are skipped. */
static void find_raw_kinds(struct reload_overlay_config *cfg)
{
	const char *xml = (const char *)cfg->raw_configuration.data;
	size_t len = cfg->raw_configuration.len, i = 0, k = 0, start = 0;
	bool open = false;

	while (xml && i < len && k < cfg->kind_count) {
		if (len - i >= 4 && !memcmp(xml + i, "<!--", 4)) {
			const char *e = memmem(xml + i + 4, len - i - 4, "-->", 3);

			if (!e)
				return;
			i = (size_t)(e - xml) + 3;
			continue;
		}
		if (xml[i] == '<') {
			size_t j = i + 1, name_at;
			bool closing = false;
			const char *nm, *colon;
			size_t nl;

			if (j < len && xml[j] == '/') {
				closing = true;
				j++;
			}
			name_at = j;
			while (j < len && xml[j] != '>' && xml[j] != ' ' && xml[j] != '\t' &&
			       xml[j] != '\n' && xml[j] != '\r' && xml[j] != '/')
				j++;
			nm = xml + name_at;
			nl = j - name_at;
			colon = memchr(nm, ':', nl);
			if (colon) {
				nl -= (size_t)(colon + 1 - nm);
				nm = colon + 1;
			}
			if (nl == 4 && !memcmp(nm, "kind", 4)) {
				if (!closing && !open) {
					start = i;
					open = true;
				} else if (closing && open) {
					const char *gt = memchr(xml + j, '>', len - j);

					if (!gt)
						return;
					cfg->kinds[k].raw.data = (const uint8_t *)xml + start;
					cfg->kinds[k].raw.len = (size_t)(gt - xml) + 1 - start;
					k++;
					open = false;
				}
			}
		}
		i++;
	}
}

static void set_defaults(struct reload_overlay_config *cfg)
{
	snprintf(cfg->topology_plugin, sizeof(cfg->topology_plugin), "CHORD-RELOAD");
	cfg->node_id_length = RELOAD_NODE_ID_DEFAULT;
	cfg->turn_density = 1;
	cfg->clients_permitted = true;
	cfg->chord_reactive = true;
	cfg->max_message_size = RELOAD_DEFAULT_MAX_MESSAGE_SIZE;
	cfg->initial_ttl = RELOAD_DEFAULT_TTL;
	cfg->overlay_reliability_timer = 3000;
	cfg->self_signed_digest = RELOAD_HASH_SHA1;
}

static int parse_configuration(struct cfg_ctx *c, const xmlNode *conf)
{
	struct reload_overlay_config *cfg = c->cfg;
	char *name = attr_of(c, conf, "instance-name"), *seq = attr_of(c, conf, "sequence");
	char *exp = attr_of(c, conf, "expiration");
	bool seen_nidl = false, seen_link = false;
	long long v;
	int rc;

	if (!name)
		return cfg_error(c, conf, "configuration", "missing the instance-name attribute");
	if (!dns_name_ok(name))
		return cfg_error(c, conf, "configuration",
				 "instance-name '%s' is not a valid DNS name", name);
	snprintf(cfg->instance_name, sizeof(cfg->instance_name), "%s", name);
	cfg->overlay_hash = reload_overlay_hash(name);
	if (seq) {
		if ((rc = parse_int_str(c, conf, "configuration sequence", seq, 0, 65534, &v)))
			return rc;
		cfg->sequence = (uint16_t)v;
	}
	if (exp && parse_datetime(exp, &cfg->expiration))
		return cfg_error(c, conf, "configuration",
				 "expiration '%s' is not an RFC 3339 UTC date-time", exp);
	cfg->link_protocols = reload_arena_alloc(c->a, sizeof(char *));
	if (!cfg->link_protocols)
		return -ENOMEM;
	cfg->link_protocols[0] = "TLS";
	cfg->link_protocol_count = 1;
	/* node-id-length first: the Node-ID lists depend on it wherever it appears */
	for (const xmlNode *n = conf->children; n; n = n->next)
		if (is_elem(n, NS_BASE, "node-id-length")) {
			if (seen_nidl)
				return cfg_error(c, n, "node-id-length", "given twice");
			seen_nidl = true;
			if ((rc = parse_int(c, n, "node-id-length", RELOAD_NODE_ID_MIN,
					    RELOAD_NODE_ID_MAX, &v)))
				return rc;
			cfg->node_id_length = (unsigned)v;
		}
	for (const xmlNode *n = conf->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if ((rc = parse_parameter(c, n, &seen_link)))
			return rc;
	}
	if (!cfg->self_signed_permitted && cfg->root_cert_count == 0)
		return cfg_error(c, conf, "configuration",
				 "no root-cert and self-signed certificates not permitted: no "
				 "certificate could ever be trusted");
	return 0;
}

void reload_config_free(struct reload_overlay_config *cfg)
{
	if (cfg)
		reload_arena_free(cfg->arena);
}

int reload_config_parse(const char *xml, size_t len, const char *source, const char *instance_name,
			struct reload_overlay_config **out, char *err, size_t errlen)
{
	struct cfg_ctx c = {source ? source : "<config>", err, errlen, NULL, NULL};
	const xmlNode *root, *chosen = NULL, *sig = NULL;
	xmlDoc *doc;
	size_t index = 0, k = 0;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (len > INT32_MAX)
		return cfg_error(&c, NULL, "document", "too large");
	/* no network, no DTD loading, no entity expansion from outside the document */
	doc = xmlReadMemory(xml, (int)len, NULL, "UTF-8",
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();

		if (err && errlen)
			snprintf(err, errlen, "%s:%d: document: not well-formed XML: %s", c.source,
				 e ? e->line : 0, e && e->message ? e->message : "parse error");
		/* libxml2 messages end with a newline */
		if (err && errlen && strlen(err) && err[strlen(err) - 1] == '\n')
			err[strlen(err) - 1] = 0;
		xmlResetLastError();
		return -EINVAL;
	}
	c.a = reload_arena_new();
	if (!c.a) {
		xmlFreeDoc(doc);
		return -ENOMEM;
	}
	c.cfg = reload_arena_alloc(c.a, sizeof(*c.cfg));
	if (!c.cfg) {
		rc = -ENOMEM;
		goto fail;
	}
	c.cfg->arena = c.a;
	set_defaults(c.cfg);
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, NS_BASE, "overlay")) {
		rc = cfg_error(&c, root, root ? (const char *)root->name : "document",
			       "the root element must be overlay in namespace " NS_BASE);
		goto fail;
	}
	for (const xmlNode *n = root->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (is_elem(n, NS_BASE, "configuration")) {
			xmlChar *nm = xmlGetNoNsProp(n, (const xmlChar *)"instance-name");
			bool match = !chosen && (!instance_name ||
						 (nm && !strcmp((const char *)nm, instance_name)));

			xmlFree(nm);
			if (match) {
				chosen = n;
				index = k;
				/* a signature element follows the configuration it signs */
				for (const xmlNode *s = n->next; s; s = s->next) {
					if (s->type != XML_ELEMENT_NODE)
						continue;
					if (is_elem(s, NS_BASE, "signature"))
						sig = s;
					break;
				}
			}
			k++;
		} else if (!is_elem(n, NS_BASE, "signature") && in_ns(n, NS_BASE)) {
			rc = cfg_error(&c, n, (const char *)n->name,
				       "unknown element in overlay (expected configuration or "
				       "signature)");
			goto fail;
		}
	}
	if (!chosen) {
		if (k == 0)
			rc = cfg_error(&c, root, "overlay", "no configuration element");
		else {
			cfg_error(&c, root, "overlay", "no configuration with instance-name '%s'",
				  instance_name);
			rc = -ENOENT;
		}
		goto fail;
	}
	if ((rc = parse_configuration(&c, chosen)))
		goto fail;
	if (sig) {
		char *s = text_of(&c, sig);

		if (!s || decode_base64(&c, s, &c.cfg->signature)) {
			rc = cfg_error(&c, sig, "signature", "invalid base64");
			goto fail;
		}
	}
	find_raw_configuration(&c, xml, len, index);
	find_raw_kinds(c.cfg);
	xmlFreeDoc(doc);
	*out = c.cfg;
	return 0;
fail:
	xmlFreeDoc(doc);
	reload_arena_free(c.a);
	return rc;
}

int reload_config_load(const char *path, const char *instance_name,
		       struct reload_overlay_config **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc;

	*out = NULL;
	if (!f) {
		rc = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, pcdn_strerror(rc));
		return rc;
	}
	do {
		if (len == cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (64u << 20) || !(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				if (err && errlen)
					snprintf(err, errlen, "%s: too large", path);
				return -EFBIG;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	rc = reload_config_parse(buf, len, path, instance_name, out, err, errlen);
	free(buf);
	return rc;
}

const struct reload_kind_def *reload_config_kind(const struct reload_overlay_config *cfg,
						 uint32_t kind)
{
	for (size_t i = 0; i < cfg->kind_count; i++)
		if (cfg->kinds[i].id == kind)
			return &cfg->kinds[i];
	return NULL;
}

/* ---- configuration signatures (§11.1) ------------------------------------------------------ */

char *reload_config_sign(const struct reload_bytes *element, const struct reload_signer *s)
{
	struct reload_arena *a = reload_arena_new();
	struct reload_signature sig;
	struct reload_buf sb;
	unsigned char *der = NULL;
	char *out = NULL;
	int der_len;
	struct wr_len l;

	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	reload_buf_init(&sb);
	der_len = i2d_X509(reload_signer_cert(s), &der);
	if (der_len > 0 && reload_signer_sign(s, element, 1, a, &sig) == 0) {
		l = wr_len_begin(&sb, 2);
		reload_buf_put_u8(&sb, RELOAD_CERT_TYPE_X509);
		wr_opaque(&sb, 2, der, (size_t)der_len);
		wr_len_end(&sb, l);
		reload_signature_encode(&sig, &sb);
		if (!reload_buf_error(&sb)) {
			out = malloc(4 * (sb.len / 3 + 1) + 1);
			if (out)
				EVP_EncodeBlock((unsigned char *)out, sb.data, (int)sb.len);
		}
	}
	if (!out)
		errno = EIO;
	OPENSSL_free(der);
	reload_buf_free(&sb);
	reload_arena_free(a);
	return out;
}

/* A base64-decoded SecurityBlock over element, signed by one of signers. */
static int verify_element(const struct reload_bytes *element, const struct reload_bytes *sig,
			  const struct reload_node_id *signers, size_t signer_count,
			  const struct reload_trust *t, time_t now)
{
	struct reload_arena *a;
	struct reload_security_block sb;
	struct reload_peer peer;
	int rc;

	if (!sig->len || !element->len)
		return -ENOENT;
	a = reload_arena_new();
	if (!a)
		return -ENOMEM;
	rc = reload_security_block_decode(sig->data, sig->len, a, &sb);
	if (rc) {
		reload_arena_free(a);
		return -EACCES;
	}
	rc = reload_sig_verify_parts(&sb.signature, element, 1, sb.certs, sb.cert_count, t, now,
				     &peer);
	reload_arena_free(a);
	if (rc)
		return -EACCES;
	rc = -EACCES;
	for (size_t i = 0; i < signer_count; i++)
		if (reload_node_id_equal(&signers[i], &peer.node_id))
			rc = 0;
	reload_peer_clear(&peer);
	return rc;
}

int reload_config_verify(const struct reload_overlay_config *cfg,
			 const struct reload_overlay_config *signers_from,
			 const struct reload_trust *t, time_t now)
{
	return verify_element(&cfg->raw_configuration, &cfg->signature,
			      signers_from->configuration_signers,
			      signers_from->configuration_signer_count, t, now);
}

int reload_config_verify_kind(const struct reload_overlay_config *cfg,
			      const struct reload_kind_def *k, const struct reload_trust *t,
			      time_t now)
{
	return verify_element(&k->raw, &k->signature, cfg->kind_signers, cfg->kind_signer_count, t,
			      now);
}

int reload_kind_description_parse(const struct reload_bytes *desc, struct reload_arena *a,
				  struct reload_kind_def *out, char *err, size_t errlen)
{
	static const char head[] = "<overlay xmlns=\"" NS_BASE "\"><configuration "
				   "instance-name=\"kind.invalid\"><self-signed-permitted "
				   "digest=\"sha1\">true</self-signed-permitted><required-kinds>";
	static const char tail[] = "</required-kinds></configuration></overlay>";
	struct reload_overlay_config *cfg = NULL;
	struct reload_buf doc;
	int rc;

	/* the description is a kind-block that assumes the config-base default namespace: parse
	 * it inside a minimal document so the configuration rules apply unchanged */
	reload_buf_init(&doc);
	reload_buf_put(&doc, head, sizeof(head) - 1);
	reload_buf_put(&doc, desc->data, desc->len);
	reload_buf_put(&doc, tail, sizeof(tail) - 1);
	if ((rc = reload_buf_error(&doc))) {
		reload_buf_free(&doc);
		return rc;
	}
	rc = reload_config_parse((const char *)doc.data, doc.len, "KindDescription", NULL, &cfg,
				 err, errlen);
	reload_buf_free(&doc);
	if (rc)
		return rc == -ENOENT ? -EINVAL : rc;
	if (cfg->kind_count != 1) {
		if (err && errlen)
			snprintf(err, errlen, "KindDescription: %zu kind-blocks, expected one",
				 cfg->kind_count);
		reload_config_free(cfg);
		return -EINVAL;
	}
	*out = cfg->kinds[0];
	out->raw.data = reload_arena_memdup(a, cfg->kinds[0].raw.data, cfg->kinds[0].raw.len);
	out->signature.data =
	    reload_arena_memdup(a, cfg->kinds[0].signature.data, cfg->kinds[0].signature.len);
	reload_config_free(cfg);
	if ((out->raw.len && !out->raw.data) || (out->signature.len && !out->signature.data))
		return -ENOMEM;
	return 0;
}

static enum reload_data_model config_kind_model(const void *ctx, uint32_t kind)
{
	const struct reload_kind_def *k = reload_config_kind(ctx, kind);

	return k ? (enum reload_data_model)k->model : RELOAD_MODEL_UNKNOWN;
}

void reload_codec_params_from_config(const struct reload_overlay_config *cfg,
				     struct reload_codec_params *p)
{
	p->node_id_len = cfg->node_id_length;
	p->kind_model = config_kind_model;
	p->kind_ctx = cfg;
}

void reload_codec_params_default(struct reload_codec_params *p)
{
	p->node_id_len = RELOAD_NODE_ID_DEFAULT;
	p->kind_model = NULL;
	p->kind_ctx = NULL;
}
