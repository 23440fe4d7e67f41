/* pcdn-node cert: keys and certificates for an overlay (RFC 6940 §11.3): an operator CA, node
 * certificates it issues (Node-IDs and user in subjectAltName), self-signed credentials
 * (§11.3.1), and the base64 form of a CA for the overlay document's <root-cert>. */
#include "cert_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pcdn-node cert ca --key FILE --cert FILE [--cn NAME] [--days N] [--ec]\n"
		"       pcdn-node cert issue --ca-key FILE --ca-cert FILE --overlay NAME --user USER\n"
		"                 --key FILE --cert FILE [--node-id HEX] [--count N] [--days N] [--ec]\n"
		"       pcdn-node cert self-signed --overlay NAME --user USER --key FILE --cert FILE\n"
		"                 [--digest sha1|sha256] [--days N] [--ec]\n"
		"       pcdn-node cert show --cert FILE [--overlay NAME]\n"
		"       pcdn-node cert root --cert FILE     (base64 DER for <root-cert>)\n");
}

struct opts {
	const char *key, *cert, *ca_key, *ca_cert, *cn, *overlay, *user, *node_id, *digest;
	unsigned days, count;
	bool ec;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },      { "cert", required_argument, NULL, 'c' },
		{ "ca-key", required_argument, NULL, 'K' },   { "ca-cert", required_argument, NULL, 'C' },
		{ "cn", required_argument, NULL, 'n' },	      { "overlay", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'u' },     { "node-id", required_argument, NULL, 'i' },
		{ "digest", required_argument, NULL, 'd' },   { "days", required_argument, NULL, 'D' },
		{ "count", required_argument, NULL, 'N' },    { "ec", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->days = 365;
	o->count = 1;
	o->cn = "pcdn overlay CA";
	o->digest = "sha256";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k': o->key = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'K': o->ca_key = optarg; break;
		case 'C': o->ca_cert = optarg; break;
		case 'n': o->cn = optarg; break;
		case 'o': o->overlay = optarg; break;
		case 'u': o->user = optarg; break;
		case 'i': o->node_id = optarg; break;
		case 'd': o->digest = optarg; break;
		case 'D': o->days = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'N': o->count = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'e': o->ec = true; break;
		default: return -EINVAL;
		}
	}
	if (optind != argc || o->days == 0 || o->count == 0 || o->count > RELOAD_CERT_MAX_NODE_IDS)
		return -EINVAL;
	return 0;
}

static EVP_PKEY *new_key(const struct opts *o)
{
	return reload_key_generate(o->ec ? RELOAD_KEY_EC_P256 : RELOAD_KEY_RSA2048);
}

static void print_identity(X509 *cert, const char *overlay)
{
	struct reload_cert_identity id;
	char hex[2 * RELOAD_NODE_ID_MAX + 1];

	if (reload_cert_identity_get(cert, RELOAD_NODE_ID_DEFAULT, overlay, &id) < 0) {
		printf("no RELOAD identity\n");
		return;
	}
	for (size_t i = 0; i < id.node_id_count; i++) {
		reload_node_id_to_hex(&id.node_ids[i], hex);
		printf("node-id %s\n", hex);
	}
	printf("user %s\nself-signed %s\n", id.user, id.self_signed ? "yes" : "no");
}

int cert_command(int argc, char **argv)
{
	struct opts o;
	const char *what = argc > 1 ? argv[1] : "";
	EVP_PKEY *key = NULL, *ca_key = NULL;
	X509 *cert = NULL, *ca = NULL;
	int rc = 1;

	if (argc < 2 || parse(argc - 1, argv + 1, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(what, "ca") == 0 && o.key && o.cert) {
		key = new_key(&o);
		cert = key ? reload_cert_make_ca(key, o.cn, o.days) : NULL;
		if (cert && reload_pem_write_key(o.key, key) == 0 &&
		    reload_pem_write_cert(o.cert, cert) == 0)
			rc = 0;
	} else if (strcmp(what, "issue") == 0 && o.key && o.cert && o.ca_key && o.ca_cert &&
		   o.overlay && o.user) {
		struct reload_node_id ids[RELOAD_CERT_MAX_NODE_IDS];
		bool given = o.node_id != NULL;

		if (given && (o.count != 1 ||
			      reload_node_id_from_hex(o.node_id, RELOAD_NODE_ID_DEFAULT, &ids[0]) < 0)) {
			fprintf(stderr, "pcdn-node cert: --node-id wants %d hex bytes\n",
				RELOAD_NODE_ID_DEFAULT);
			return 2;
		}
		ca_key = reload_pem_read_key(o.ca_key);
		ca = reload_pem_read_cert(o.ca_cert);
		key = new_key(&o);
		if (ca_key && ca && key)
			cert = reload_cert_issue(ca_key, ca, key, o.overlay, o.user, given ? ids : NULL,
						 o.count, RELOAD_NODE_ID_DEFAULT, o.days, ids);
		if (cert && reload_pem_write_key(o.key, key) == 0 &&
		    reload_pem_write_cert(o.cert, cert) == 0) {
			print_identity(cert, o.overlay);
			rc = 0;
		}
	} else if (strcmp(what, "self-signed") == 0 && o.key && o.cert && o.overlay && o.user) {
		uint8_t digest = strcmp(o.digest, "sha1") == 0 ? RELOAD_HASH_SHA1 : RELOAD_HASH_SHA256;

		key = new_key(&o);
		cert = key ? reload_cert_make_self_signed(key, o.overlay, o.user, o.count,
							  RELOAD_NODE_ID_DEFAULT, digest, o.days)
			   : NULL;
		if (cert && reload_pem_write_key(o.key, key) == 0 &&
		    reload_pem_write_cert(o.cert, cert) == 0) {
			print_identity(cert, o.overlay);
			rc = 0;
		}
	} else if (strcmp(what, "show") == 0 && o.cert) {
		cert = reload_pem_read_cert(o.cert);
		if (cert) {
			print_identity(cert, o.overlay);
			rc = 0;
		}
	} else if (strcmp(what, "root") == 0 && o.cert) {
		cert = reload_pem_read_cert(o.cert);
		char *b64 = cert ? reload_cert_to_base64(cert) : NULL;

		if (b64) {
			printf("%s\n", b64);
			free(b64);
			rc = 0;
		}
	} else {
		usage(stderr);
		return 2;
	}
	if (rc)
		fprintf(stderr, "pcdn-node cert %s: failed (%s)\n", what, strerror(errno ? errno : EIO));
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	X509_free(cert);
	X509_free(ca);
	return rc;
}
