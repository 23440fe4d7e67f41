/* Command-line tokenizer of the control protocol (see ctl.h). Input is untrusted: whatever a
 * local client writes on the socket. */
#include "ctl.h"

#include <errno.h>
#include <string.h>

static int fail(const char **why, const char *msg, int code)
{
	if (why)
		*why = msg;
	return code;
}

int ctl_cmdline_parse(const char *line, size_t len, struct ctl_cmdline *out, const char **why)
{
	size_t o = 0, i = 0;

	out->argc = 0;
	out->json = false;
	if (len >= CTL_LINE_MAX)
		return fail(why, "line too long", -EMSGSIZE);
	/* A trailing CR is tolerated so that nc/telnet users are not punished. */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= len)
			break;
		if (out->argc == CTL_ARGS_MAX)
			return fail(why, "too many words", -E2BIG);
		out->argv[out->argc++] = &out->buf[o];
		bool quoted = false;
		while (i < len) {
			char c = line[i];
			if (c == '\0')
				return fail(why, "NUL byte in command", -EINVAL);
			if (!quoted && (c == ' ' || c == '\t'))
				break;
			i++;
			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (c == '\\' && quoted) {
				if (i >= len)
					return fail(why, "dangling backslash", -EINVAL);
				c = line[i++];
				if (c == '\0')
					return fail(why, "NUL byte in command", -EINVAL);
			}
			out->buf[o++] = c;
		}
		if (quoted)
			return fail(why, "unterminated quote", -EINVAL);
		out->buf[o++] = '\0';
	}
	/* o <= len + argc <= 2*len could exceed the buffer only for lines near CTL_LINE_MAX made of
	 * one-letter words: each word costs its letter plus a NUL, and blanks between words are at
	 * least one byte, so o <= len + 1 < CTL_LINE_MAX. */
	if (out->argc > 0 && strcmp(out->argv[0], "-j") == 0) {
		out->json = true;
		memmove(&out->argv[0], &out->argv[1], sizeof(out->argv[0]) * (size_t)(out->argc - 1));
		out->argc--;
	}
	return 0;
}
