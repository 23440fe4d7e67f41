/* Control protocol client (ctl.h): used by pcdn-ctl and by the tests. */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int ctl_client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one '\n'-terminated header line byte by byte: headers are tiny and the body length is
 * only known after them, so no read-ahead buffer is needed. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		if (c == '\n')
			break;
		if (n + 1 >= cap)
			return -EPROTO;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

int ctl_client_call(int fd, const char *line, int *status, char **body, size_t *body_len)
{
	char hdr[256], *b;
	unsigned long long len;
	int rc;

	*body = NULL;
	*body_len = 0;
	if (line) {
		if (strchr(line, '\n'))
			return -EINVAL;
		if ((rc = write_all(fd, line, strlen(line))) < 0 || (rc = write_all(fd, "\n", 1)) < 0) {
			/* A server that refuses a client says why and closes at once; the write may
			 * lose that race, but the reason is still waiting to be read. */
			if (rc != -EPIPE && rc != -ECONNRESET)
				return rc;
		}
	}
	if ((rc = read_line(fd, hdr, sizeof(hdr))) < 0)
		return rc;
	if (sscanf(hdr, "STATUS %d", status) != 1)
		return -EPROTO;
	if ((rc = read_line(fd, hdr, sizeof(hdr))) < 0)
		return rc;
	if (sscanf(hdr, "LENGTH %llu", &len) != 1 || len > CTL_BODY_MAX + 64)
		return -EPROTO;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, b + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			return r < 0 ? -errno : -ECONNRESET;
		}
		got += (size_t)r;
	}
	b[len] = '\0';
	*body = b;
	*body_len = len;
	return 0;
}
