/* pcdn-node configuration loader: every key is checked for type and range, unknown keys are
 * refused (a typo must not silently fall back to a default). */
#include "node_conf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

static const char *const keys[] = {
	"overlay", "instance", "certificate", "key", "tls", "dtls", "prefer", "bootstrap",
	"bootstrap_link", "client", "control", "replicas", "neighbors", "fingers",
	"update_interval_ms", "finger_interval_ms", "holddown_ms", "sr_rto_ms", "reliability_ms",
	"log_level", NULL,
};

/* dir of path + name, unless name is absolute */
static int resolve(const char *conf_path, const char *name, char *out, size_t size)
{
	const char *slash = strrchr(conf_path, '/');
	int n;

	if (name[0] == '/' || !slash)
		n = snprintf(out, size, "%s", name);
	else
		n = snprintf(out, size, "%.*s/%s", (int)(slash - conf_path), conf_path, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int path_key(config_setting_t *root, const char *conf_path, const char *key, bool required,
		    char *out, size_t size, char *err, size_t errlen)
{
	const char *s = NULL;
	int rc = pcdn_conf_string(root, key, required, NULL, &s, err, errlen);

	if (rc < 0)
		return rc;
	out[0] = 0;
	if (!s)
		return 0;
	if (!*s || resolve(conf_path, s, out, size) < 0) {
		pcdn_conf_error(config_setting_get_member(root, key), key, err, errlen,
				"expected a file name");
		return -EINVAL;
	}
	return 0;
}

static int addr_key(config_setting_t *root, const char *key, bool *on, struct pcdn_addr *out,
		    char *err, size_t errlen)
{
	const char *s = NULL;
	int rc = pcdn_conf_string(root, key, false, NULL, &s, err, errlen);

	*on = false;
	if (rc < 0 || !s || !*s)
		return rc; /* absent or "": that link type is off */
	if (pcdn_addr_parse(s, out) < 0) {
		pcdn_conf_error(config_setting_get_member(root, key), key, err, errlen,
				"'%s' is not an address:port (numeric, e.g. 127.0.0.1:6084)", s);
		return -EINVAL;
	}
	*on = true;
	return 0;
}

static int link_key(config_setting_t *root, const char *key, bool *dtls, char *err, size_t errlen)
{
	const char *s = NULL;
	int rc = pcdn_conf_string(root, key, false, "tls", &s, err, errlen);

	if (rc < 0)
		return rc;
	if (strcmp(s, "tls") && strcmp(s, "dtls")) {
		pcdn_conf_error(config_setting_get_member(root, key), key, err, errlen,
				"expected \"tls\" or \"dtls\"");
		return -EINVAL;
	}
	*dtls = strcmp(s, "dtls") == 0;
	return 0;
}

static int u32_key(config_setting_t *root, const char *key, long long min, long long max,
		   long long def, uint32_t *out, char *err, size_t errlen)
{
	long long v;
	int rc = pcdn_conf_int(root, key, false, min, max, def, &v, err, errlen);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int node_conf_load(const char *path, struct node_conf *c, char *err, size_t errlen)
{
	config_t cfg;
	config_setting_t *root, *boot;
	const char *s;
	uint32_t v = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	config_init(&cfg);
	rc = pcdn_conf_read(&cfg, path, err, errlen);
	if (rc < 0)
		goto out;
	root = config_root_setting(&cfg);
	if ((rc = pcdn_conf_check_keys(root, keys, err, errlen)) < 0 ||
	    (rc = path_key(root, path, "overlay", true, c->overlay_path, sizeof(c->overlay_path), err,
			   errlen)) < 0 ||
	    (rc = path_key(root, path, "certificate", true, c->cert_path, sizeof(c->cert_path), err,
			   errlen)) < 0 ||
	    (rc = path_key(root, path, "key", true, c->key_path, sizeof(c->key_path), err, errlen)) < 0 ||
	    (rc = addr_key(root, "tls", &c->tls_on, &c->tls, err, errlen)) < 0 ||
	    (rc = addr_key(root, "dtls", &c->dtls_on, &c->dtls, err, errlen)) < 0 ||
	    (rc = link_key(root, "prefer", &c->prefer_dtls, err, errlen)) < 0 ||
	    (rc = link_key(root, "bootstrap_link", &c->bootstrap_dtls, err, errlen)) < 0 ||
	    (rc = pcdn_conf_bool(root, "client", false, false, &c->client, err, errlen)) < 0)
		goto out;
	if (!c->tls_on && !c->dtls_on) {
		pcdn_conf_error(root, "tls", err, errlen, "at least one of tls and dtls is needed");
		rc = -EINVAL;
		goto out;
	}
	if ((c->prefer_dtls && !c->dtls_on) || (!c->prefer_dtls && !c->tls_on)) {
		pcdn_conf_error(config_setting_get_member(root, "prefer") ? config_setting_get_member(root, "prefer") : root,
				"prefer", err, errlen, "the preferred link type is not enabled");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = pcdn_conf_string(root, "instance", false, "", &s, err, errlen)) < 0)
		goto out;
	snprintf(c->instance, sizeof(c->instance), "%s", s);
	if ((rc = pcdn_conf_string(root, "control", true, NULL, &s, err, errlen)) < 0)
		goto out;
	if (!*s || strlen(s) >= sizeof(c->control)) {
		pcdn_conf_error(config_setting_get_member(root, "control"), "control", err, errlen,
				"expected a unix socket path shorter than %zu bytes", sizeof(c->control));
		rc = -EINVAL;
		goto out;
	}
	snprintf(c->control, sizeof(c->control), "%s", s);
	if ((rc = pcdn_conf_string(root, "log_level", false, "notice", &s, err, errlen)) < 0)
		goto out;
	{
		enum pcdn_log_level lv;

		if (pcdn_log_level_parse(s, &lv) < 0) {
			pcdn_conf_error(config_setting_get_member(root, "log_level"), "log_level", err,
					errlen, "expected err, warning, notice, info or debug");
			rc = -EINVAL;
			goto out;
		}
	}
	snprintf(c->log_level, sizeof(c->log_level), "%s", s);
	if ((rc = u32_key(root, "replicas", 1, 8, 2, &v, err, errlen)) < 0)
		goto out;
	c->replicas = v;
	if ((rc = u32_key(root, "neighbors", 3, 16, 3, &v, err, errlen)) < 0)
		goto out;
	c->neighbors = v;
	if (c->neighbors < c->replicas) {
		pcdn_conf_error(config_setting_get_member(root, "neighbors") ? config_setting_get_member(root, "neighbors") : root,
				"neighbors", err, errlen, "must be at least replicas (%u)", c->replicas);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = u32_key(root, "fingers", 1, 128, 16, &v, err, errlen)) < 0)
		goto out;
	c->fingers = v;
	if ((rc = u32_key(root, "update_interval_ms", 100, 86400000, 0, &c->update_interval_ms,
			  err, errlen)) < 0 ||
	    (rc = u32_key(root, "finger_interval_ms", 100, 86400000, 0, &c->finger_interval_ms,
			  err, errlen)) < 0 ||
	    (rc = u32_key(root, "holddown_ms", 0, 600000, 30000, &c->holddown_ms, err, errlen)) < 0 ||
	    (rc = u32_key(root, "sr_rto_ms", 10, 60000, 500, &c->sr_rto_ms, err, errlen)) < 0 ||
	    (rc = u32_key(root, "reliability_ms", 200, 60000, 0, &c->reliability_ms, err,
			  errlen)) < 0)
		goto out;
	boot = config_setting_get_member(root, "bootstrap");
	if (boot) {
		int type = config_setting_type(boot);
		int n = config_setting_length(boot);

		if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) ||
		    n > NODE_CONF_MAX_BOOTSTRAP) {
			pcdn_conf_error(boot, "bootstrap", err, errlen,
					"expected a list of at most %d \"address:port\" strings",
					NODE_CONF_MAX_BOOTSTRAP);
			rc = -EINVAL;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(boot, (unsigned)i);
			const char *a = e ? config_setting_get_string(e) : NULL;

			if (!a || pcdn_addr_parse(a, &c->bootstrap[i]) < 0) {
				pcdn_conf_error(e ? e : boot, "bootstrap", err, errlen,
						"element %d is not an \"address:port\" string", i);
				rc = -EINVAL;
				goto out;
			}
		}
		c->bootstrap_count = (size_t)n;
		c->bootstrap_set = true;
	}
	rc = 0;
out:
	config_destroy(&cfg);
	return rc;
}
