/* libconfig helpers: every error names the file, the line and the key, and says what was
 * expected, so an operator can fix a config without reading source. */
#include "pcdn_common.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

int pcdn_conf_read(struct config_t *cfg, const char *path, char *err, size_t errlen)
{
	if (config_read_file(cfg, path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno ? errno : ENOENT));
	else
		snprintf(err, errlen, "%s:%d: %s",
			 config_error_file(cfg) ? config_error_file(cfg) : path,
			 config_error_line(cfg), config_error_text(cfg));
	return -EINVAL;
}

void pcdn_conf_error(const struct config_setting_t *s, const char *key, char *err, size_t errlen,
		     const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned line = s ? config_setting_source_line(s) : 0;
	char why[PCDN_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%u: key '%s': %s", file ? file : "(config)", line, key, why);
}

static const config_setting_t *member(const struct config_setting_t *parent, const char *key)
{
	return parent ? config_setting_get_member(parent, key) : NULL;
}

int pcdn_conf_int(const struct config_setting_t *parent, const char *key, bool required,
		  long long min, long long max, long long def, long long *out, char *err, size_t errlen)
{
	const config_setting_t *s = member(parent, key);
	long long v;

	if (!s) {
		if (required) {
			pcdn_conf_error(parent, key, err, errlen, "required key is missing");
			return -ENOENT;
		}
		*out = def;
		return 0;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		pcdn_conf_error(s, key, err, errlen, "expected an integer");
		return -EINVAL;
	}
	if (v < min || v > max) {
		pcdn_conf_error(s, key, err, errlen, "%lld is out of range [%lld, %lld]", v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int pcdn_conf_bool(const struct config_setting_t *parent, const char *key, bool required, bool def,
		   bool *out, char *err, size_t errlen)
{
	const config_setting_t *s = member(parent, key);

	if (!s) {
		if (required) {
			pcdn_conf_error(parent, key, err, errlen, "required key is missing");
			return -ENOENT;
		}
		*out = def;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		pcdn_conf_error(s, key, err, errlen, "expected true or false");
		return -EINVAL;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

int pcdn_conf_string(const struct config_setting_t *parent, const char *key, bool required,
		     const char *def, const char **out, char *err, size_t errlen)
{
	const config_setting_t *s = member(parent, key);

	if (!s) {
		if (required) {
			pcdn_conf_error(parent, key, err, errlen, "required key is missing");
			return -ENOENT;
		}
		*out = def;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		pcdn_conf_error(s, key, err, errlen, "expected a string");
		return -EINVAL;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int pcdn_conf_check_keys(const struct config_setting_t *group, const char *const *allowed,
			 char *err, size_t errlen)
{
	int n = group ? config_setting_length(group) : 0;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		bool ok = false;

		if (!name)
			continue;
		for (const char *const *a = allowed; *a; a++)
			ok = ok || strcmp(*a, name) == 0;
		if (!ok) {
			char list[256] = "";
			for (const char *const *a = allowed; *a; a++) {
				strncat(list, *a, sizeof(list) - strlen(list) - 3);
				if (a[1])
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			pcdn_conf_error(s, name, err, errlen, "unknown key (expected one of: %s)",
					list);
			return -EINVAL;
		}
	}
	return 0;
}
