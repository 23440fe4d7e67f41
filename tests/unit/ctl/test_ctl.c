/* CUnit suite "ctl": the control protocol's tokenizer, and a real server on a unix socket:
 * admission by SO_PEERCRED (admin, read-only group, refused), framing, garbage, overlong lines,
 * half-closed connections and 100 concurrent clients. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

static void test_parse(void)
{
	struct ctl_cmdline cl;
	const char *why;
	char big[CTL_LINE_MAX + 10];

	CU_ASSERT_EQUAL(ctl_cmdline_parse("show  stats\t--per-worker", 24, &cl, NULL), 0);
	CU_ASSERT_EQUAL(cl.argc, 3);
	CU_ASSERT_STRING_EQUAL(cl.argv[0], "show");
	CU_ASSERT_STRING_EQUAL(cl.argv[2], "--per-worker");
	CU_ASSERT_FALSE(cl.json);

	const char *q = "-j store \"a b\\\"c\" x\"y z\"\r";
	CU_ASSERT_EQUAL(ctl_cmdline_parse(q, strlen(q), &cl, NULL), 0);
	CU_ASSERT_TRUE(cl.json);
	CU_ASSERT_EQUAL(cl.argc, 3);
	CU_ASSERT_STRING_EQUAL(cl.argv[1], "a b\"c");
	CU_ASSERT_STRING_EQUAL(cl.argv[2], "xy z");

	CU_ASSERT_EQUAL(ctl_cmdline_parse("   ", 3, &cl, NULL), 0);
	CU_ASSERT_EQUAL(cl.argc, 0);
	CU_ASSERT_EQUAL(ctl_cmdline_parse("a \"b", 4, &cl, &why), -EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "unterminated quote");
	CU_ASSERT_EQUAL(ctl_cmdline_parse("a \"b\\", 5, &cl, &why), -EINVAL);
	CU_ASSERT_EQUAL(ctl_cmdline_parse("a\0b", 3, &cl, &why), -EINVAL);
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(ctl_cmdline_parse(big, sizeof(big), &cl, &why), -EMSGSIZE);
	/* The densest legal line: one-letter words up to the limit. */
	for (size_t i = 0; i < CTL_LINE_MAX - 1; i++)
		big[i] = (i % 2) ? ' ' : 'a';
	CU_ASSERT_EQUAL(ctl_cmdline_parse(big, CTL_LINE_MAX - 1, &cl, &why), -E2BIG);
	memset(big, 'y', CTL_LINE_MAX - 1);
	CU_ASSERT_EQUAL(ctl_cmdline_parse(big, CTL_LINE_MAX - 1, &cl, NULL), 0);
	CU_ASSERT_EQUAL(strlen(cl.argv[0]), CTL_LINE_MAX - 1);
}

/* ---- a live server ---------------------------------------------------------------------- */

static char sock_path[108];
static struct event_base *base;
static struct ctl_server *srv;
static pthread_t loop_thread;
static int counter;

static int cmd_count(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	(void)ctx;
	(void)argv;
	counter++;
	ctl_reply_printf(r, "count %d args %d\n", counter, argc);
	return 0;
}

static int cmd_admin(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	(void)ctx;
	if (argc != 1) {
		ctl_reply_printf(r, "usage: set value N\n");
		return -EINVAL;
	}
	ctl_reply_printf(r, "set to %s\n", argv[0]);
	return 0;
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int suite_init(void)
{
	struct ctl_server_conf conf = { .mode = 0660, .owner = (uid_t)-1, .group = (gid_t)-1,
					.readonly_gid = 65534, .max_clients = 200 };

	signal(SIGPIPE, SIG_IGN);
	/* The loop runs in its own thread and is stopped from this one. */
	evthread_use_pthreads();
	snprintf(sock_path, sizeof(sock_path), "/tmp/pcdn-ctl-test-%d.sock", getpid());
	conf.path = sock_path;
	base = event_base_new();
	srv = ctl_server_create(base, &conf);
	if (!srv)
		return -1;
	ctl_server_register(srv, "show count", cmd_count, NULL, CTL_CMD_READONLY, "count calls");
	ctl_server_register(srv, "set value", cmd_admin, NULL, 0, "admin only");
	return pthread_create(&loop_thread, NULL, loop_main, NULL);
}

static int suite_clean(void)
{
	event_base_loopbreak(base);
	pthread_join(loop_thread, NULL);
	ctl_server_free(srv);
	event_base_free(base);
	return 0;
}

static void test_framing(void)
{
	int fd = ctl_client_connect(sock_path), st;
	char *body;
	size_t len;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "show count a b", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "args 2"));
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "set value 5", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_STRING_EQUAL(body, "set to 5\n");
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "set value", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, -EINVAL);
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "frobnicate", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, -ENOENT);
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "-j help", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"command\": \"show count\"") ? body : strstr(body, "\"command\":\"show count\""));
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "a \"unterminated", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, -EINVAL);
	free(body);
	close(fd);
}

static void test_garbage_and_overlong(void)
{
	int fd = ctl_client_connect(sock_path), st;
	char *body, junk[CTL_LINE_MAX * 2];
	size_t len;

	CU_ASSERT_FATAL(fd >= 0);
	/* Binary junk terminated by a newline: an error reply, connection stays usable. */
	const char bin[] = { 1, 2, 0, 3, (char)0xff, '\n' };
	CU_ASSERT_EQUAL(write(fd, bin, sizeof(bin)), (ssize_t)sizeof(bin));
	CU_ASSERT_EQUAL(ctl_client_call(fd, NULL, &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, -EINVAL);
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "show count", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	free(body);
	/* An overlong line without newline: -EMSGSIZE and the server closes. */
	memset(junk, 'z', sizeof(junk));
	CU_ASSERT_EQUAL(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	CU_ASSERT_EQUAL(ctl_client_call(fd, NULL, &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, -EMSGSIZE);
	free(body);
	CU_ASSERT_EQUAL(ctl_client_call(fd, NULL, &st, &body, &len), -ECONNRESET);
	close(fd);

	/* Half-closed after a command without newline: still answered. */
	fd = ctl_client_connect(sock_path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "show count", 10), 10);
	shutdown(fd, SHUT_WR);
	CU_ASSERT_EQUAL(ctl_client_call(fd, NULL, &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	free(body);
	close(fd);

	/* Abrupt close mid-line. */
	fd = ctl_client_connect(sock_path);
	CU_ASSERT_EQUAL(write(fd, "show co", 7), 7);
	close(fd);
	fd = ctl_client_connect(sock_path);
	CU_ASSERT_EQUAL(ctl_client_call(fd, "show count", &st, &body, &len), 0);
	CU_ASSERT_EQUAL(st, 0);
	free(body);
	close(fd);
}

/* Runs `line` as another user in a child; returns the status the daemon replied, or a
 * negative errno of the call. */
static int call_as(uid_t uid, gid_t gid, const char *line)
{
	int pfd[2];
	pid_t pid;
	int result = -999;

	if (pipe(pfd) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		int st = -998, fd;
		char *body;
		size_t len;
		if (setgroups(0, NULL) == 0 && setresgid(gid, gid, gid) == 0 &&
		    setresuid(uid, uid, uid) == 0) {
			fd = ctl_client_connect(sock_path);
			if (fd >= 0 && ctl_client_call(fd, line, &st, &body, &len) == 0)
				free(body);
		}
		if (write(pfd[1], &st, sizeof(st)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &result, sizeof(result)) != sizeof(result))
		result = -997;
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return result;
}

static void test_permissions(void)
{
	CU_ASSERT_EQUAL_FATAL(geteuid(), 0);
	/* Socket mode 0660 root:root: make it reachable so that SO_PEERCRED decides. */
	chmod(sock_path, 0666);
	/* uid 65533 in group 65534 (the read-only group): show yes, set no. */
	CU_ASSERT_EQUAL(call_as(65533, 65534, "show count"), 0);
	CU_ASSERT_EQUAL(call_as(65533, 65534, "set value 1"), -EPERM);
	/* Not in the group: refused at the door. */
	CU_ASSERT_EQUAL(call_as(65533, 65533, "show count"), -EACCES);
	chmod(sock_path, 0660);
}

/* Reload changes the read-only group: the socket file follows (group, mode 0660), members of
 * the new group get read-only connections, the old group is out. */
static void test_readonly_group_change(void)
{
	struct stat st;

	CU_ASSERT_EQUAL(ctl_server_set_readonly_gid(srv, 65533), 0);
	CU_ASSERT_EQUAL(ctl_server_readonly_gid(srv), 65533);
	CU_ASSERT_EQUAL_FATAL(stat(sock_path, &st), 0);
	CU_ASSERT_EQUAL(st.st_gid, 65533);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	/* The kernel lets the group in (mode), SO_PEERCRED makes it read-only. */
	CU_ASSERT_EQUAL(call_as(65532, 65533, "show count"), 0);
	CU_ASSERT_EQUAL(call_as(65532, 65533, "set value 2"), -EPERM);
	/* The previous group has no access to the file any more: connect() fails. */
	CU_ASSERT_EQUAL(call_as(65532, 65534, "show count"), -998);
	/* No group: the file is ours again with the configured mode; SO_PEERCRED refuses. */
	CU_ASSERT_EQUAL(ctl_server_set_readonly_gid(srv, (gid_t)-1), 0);
	CU_ASSERT_EQUAL_FATAL(stat(sock_path, &st), 0);
	CU_ASSERT_EQUAL(st.st_gid, getegid());
	chmod(sock_path, 0666);
	CU_ASSERT_EQUAL(call_as(65532, 65533, "show count"), -EACCES);
	CU_ASSERT_EQUAL(ctl_server_set_readonly_gid(srv, 65534), 0);
	CU_ASSERT_EQUAL(call_as(65533, 65534, "show count"), 0);
}

struct client_arg {
	int ok;
};

static void *client_main(void *arg)
{
	struct client_arg *a = arg;
	int fd = ctl_client_connect(sock_path), st;
	char *body;
	size_t len;

	for (int i = 0; fd >= 0 && i < 20; i++) {
		if (ctl_client_call(fd, "show count x", &st, &body, &len) == 0 && st == 0 &&
		    strstr(body, "args 1"))
			a->ok++;
		free(body);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_concurrent_clients(void)
{
	pthread_t t[100];
	struct client_arg a[100] = { 0 };
	int total = 0;

	for (int i = 0; i < 100; i++)
		pthread_create(&t[i], NULL, client_main, &a[i]);
	for (int i = 0; i < 100; i++) {
		pthread_join(t[i], NULL);
		total += a[i].ok;
	}
	CU_ASSERT_EQUAL(total, 100 * 20);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ctl-parse", NULL, NULL);
	CU_add_test(s, "parse", test_parse);
	s = CU_add_suite("ctl-server", suite_init, suite_clean);
	CU_add_test(s, "framing", test_framing);
	CU_add_test(s, "garbage_and_overlong", test_garbage_and_overlong);
	CU_add_test(s, "permissions", test_permissions);
	CU_add_test(s, "readonly_group_change", test_readonly_group_change);
	CU_add_test(s, "concurrent_clients", test_concurrent_clients);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
