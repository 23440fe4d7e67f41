/* pcdn-ctl: the operator CLI of pcdn-cacherd and pcdn-node, over their unix control sockets.
 *   pcdn-ctl [-s SOCKET] [-j] COMMAND...   one command, reply body on stdout
 *   pcdn-ctl [-s SOCKET]                   interactive prompt with history on a terminal,
 *                                          one command per stdin line otherwise
 * Exit status: 0 success, 1 the command failed (the daemon said why), 2 cannot talk to it. */
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "pcdn_common.h"

#define DEFAULT_SOCKET "/run/pcdn-cacherd.sock" /* pcdn-cacherd's control_socket default */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pcdn-ctl [-s SOCKET] [-j] [COMMAND...]\n"
		"  -s SOCKET  control socket (default %s, or $PCDN_CTL_SOCKET)\n"
		"  -j         JSON replies\n"
		"Without a command: an interactive prompt (on a terminal) or one command per line\n"
		"of standard input. 'help' lists the daemon's commands.\n",
		DEFAULT_SOCKET);
}

/* Quotes a word only when the control protocol would otherwise split or mangle it. */
static void append_word(char *line, size_t cap, const char *w)
{
	size_t n = strlen(line);
	bool plain = *w != '\0' && strpbrk(w, " \t\"\\") == NULL;

	if (n && n + 1 < cap)
		line[n++] = ' ';
	if (plain) {
		snprintf(line + n, cap - n, "%s", w);
		return;
	}
	if (n + 1 < cap)
		line[n++] = '"';
	for (; *w && n + 3 < cap; w++) {
		if (*w == '"' || *w == '\\')
			line[n++] = '\\';
		line[n++] = *w;
	}
	line[n++] = '"';
	line[n] = '\0';
}

static int call(int fd, const char *line)
{
	char *body;
	size_t len;
	int status, rc = ctl_client_call(fd, line, &status, &body, &len);

	if (rc < 0) {
		fprintf(stderr, "pcdn-ctl: %s\n", pcdn_strerror(rc));
		return 2;
	}
	FILE *out = status == 0 ? stdout : stderr;
	fwrite(body, 1, len, out);
	if (len && body[len - 1] != '\n')
		fputc('\n', out);
	if (status != 0 && !len)
		fprintf(stderr, "error: %s\n", pcdn_strerror(status));
	free(body);
	return status == 0 ? 0 : 1;
}

/* ---- completion: the daemon's own command list (`-j help`), word by word ------------------- */

static char **cmd_words; /* every registered command, e.g. "show stats" */
static size_t n_cmd_words;
static int word_start; /* where the word being completed starts in rl_line_buffer */

static void load_commands(int fd)
{
	char *body;
	size_t len, i;
	int status;
	json_t *root, *list, *c;

	if (ctl_client_call(fd, "-j help", &status, &body, &len) < 0)
		return;
	root = status == 0 ? json_loadb(body, len, 0, NULL) : NULL;
	free(body);
	list = json_object_get(root, "commands");
	cmd_words = calloc(json_array_size(list) + 1, sizeof(*cmd_words));
	json_array_foreach(list, i, c)
	{
		const char *w = json_string_value(json_object_get(c, "command"));
		if (w && cmd_words && (cmd_words[n_cmd_words] = strdup(w)) != NULL)
			n_cmd_words++;
	}
	json_decref(root);
}

/* The word at position `nth` of command `cmd` if the words before it are `typed`, else NULL. */
static const char *next_word(const char *cmd, const char *typed, size_t typed_len, char *out,
			     size_t outlen)
{
	size_t n = 0;

	/* typed: the words already on the line, each followed by blanks. */
	while (n < typed_len) {
		while (n < typed_len && typed[n] == ' ')
			n++;
		if (n == typed_len)
			break;
		size_t w = strcspn(typed + n, " ");
		if (n + w > typed_len || strncmp(cmd, typed + n, w) != 0 ||
		    (cmd[w] != ' ' && cmd[w] != '\0'))
			return NULL;
		cmd += w;
		if (*cmd == '\0')
			return NULL;
		cmd++;
		n += w;
	}
	snprintf(out, outlen, "%.*s", (int)strcspn(cmd, " "), cmd);
	return out;
}

static char *complete_next(const char *text, int state)
{
	static size_t i;
	size_t start = word_start > 0 ? (size_t)word_start : 0;
	char word[64];

	if (!state)
		i = 0;
	if (!rl_line_buffer)
		return NULL;
	for (; i < n_cmd_words; i++) {
		const char *w = next_word(cmd_words[i], rl_line_buffer, start, word, sizeof(word));
		if (!w || strncmp(w, text, strlen(text)) != 0)
			continue;
		/* One candidate per distinct word ("show" is the start of many commands). */
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++) {
			char other[64];
			const char *o =
			    next_word(cmd_words[k], rl_line_buffer, start, other, sizeof(other));
			dup = o && strcmp(o, w) == 0;
		}
		if (dup)
			continue;
		i++;
		return strdup(w);
	}
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)end;
	word_start = start;
	rl_attempted_completion_over = 1; /* no file-name completion */
	return rl_completion_matches(text, complete_next);
}

static int interactive(int fd, bool json, const char *path)
{
	char prompt[128], *line, hist[512] = "";
	const char *home = getenv("HOME");
	int rc = 0;

	load_commands(fd);
	rl_attempted_completion_function = complete;
	if (home)
		snprintf(hist, sizeof(hist), "%s/.pcdn_ctl_history", home);
	if (*hist)
		read_history(hist);
	snprintf(prompt, sizeof(prompt), "pcdn(%s)> ", path);
	while ((line = readline(prompt)) != NULL) {
		char buf[CTL_LINE_MAX];
		if (!*line) {
			free(line);
			continue;
		}
		if (!strcmp(line, "quit") || !strcmp(line, "exit")) {
			free(line);
			break;
		}
		add_history(line);
		snprintf(buf, sizeof(buf), "%s%s", json ? "-j " : "", line);
		rc = call(fd, buf);
		free(line);
		if (rc == 2)
			break;
	}
	if (*hist)
		write_history(hist);
	for (size_t i = 0; i < n_cmd_words; i++)
		free(cmd_words[i]);
	free(cmd_words);
	return rc == 2 ? 2 : 0;
}

static int batch(int fd, bool json)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int worst = 0;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		char buf[CTL_LINE_MAX];
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		snprintf(buf, sizeof(buf), "%s%s", json ? "-j " : "", line);
		int rc = call(fd, buf);
		worst = rc > worst ? rc : worst;
		if (rc == 2)
			break;
	}
	free(line);
	return worst;
}

int main(int argc, char **argv)
{
	const char *path = getenv("PCDN_CTL_SOCKET");
	bool json = false;
	int c, fd;

	if (!path)
		path = DEFAULT_SOCKET;
	/* '+': stop at the first command word so its own options reach the daemon. */
	while ((c = getopt(argc, argv, "+s:jh")) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	fd = ctl_client_connect(path);
	if (fd < 0) {
		fprintf(stderr, "pcdn-ctl: cannot connect to %s: %s\n", path, pcdn_strerror(fd));
		return 2;
	}
	if (optind < argc) {
		char line[CTL_LINE_MAX] = "";
		if (json)
			append_word(line, sizeof(line), "-j");
		for (int i = optind; i < argc; i++)
			append_word(line, sizeof(line), argv[i]);
		int rc = call(fd, line);
		close(fd);
		return rc;
	}
	int rc = isatty(STDIN_FILENO) ? interactive(fd, json, path) : batch(fd, json);
	close(fd);
	return rc;
}
