// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control channel (see ctl.h): server side for espgated, client side for espgatectl.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

void ctl_out_append(struct ctl_out *o, const char *s, size_t len)
{
	if (o->oom)
		return;
	if (o->len + len + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		char *nb;

		while (cap < o->len + len + 1)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

void ctl_out_printf(struct ctl_out *o, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		ctl_out_append(o, small, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		o->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ctl_out_append(o, big, (size_t)n);
	free(big);
}

void ctl_out_free(struct ctl_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

int ctl_split(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;

	for (char *q = line; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f)
			return -EINVAL;
	while (*p) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		if (argc == max)
			return -EINVAL;
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	return argc;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events before the deadline. */
static int wait_fd(int fd, short events, long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long left = deadline - now_ms();
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)left);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

static int write_all(int fd, const char *b, size_t len, long deadline)
{
	while (len) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN) {
				int err = wait_fd(fd, POLLOUT, deadline);

				if (err)
					return err;
				continue;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

int ctl_server_open(struct ctl_server *s, const char *path)
{
	struct sockaddr_un sun;
	char dir[sizeof(s->path)], *slash;
	mode_t old;
	int fd, err, probe;

	s->fd = -1;
	err = fill_sun(&sun, path);
	if (err)
		return err;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	/* A socket file that still answers belongs to a running espgated: never steal it. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		int busy = !connect(probe, (struct sockaddr *)&sun, sizeof(sun));

		close(probe);
		if (busy)
			return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	s->fd = fd;
	return 0;
}

void ctl_server_close(struct ctl_server *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->path);
	}
	s->fd = -1;
}

static void answer(int fd, int status, const struct ctl_out *body, long deadline)
{
	char head[32];

	if (status == CTL_OK)
		snprintf(head, sizeof(head), "OK\n");
	else
		snprintf(head, sizeof(head), "ERR %d\n", status);
	if (write_all(fd, head, strlen(head), deadline))
		return;
	if (body && body->len)
		write_all(fd, body->buf, body->len, deadline);
}

int ctl_server_serve_one(struct ctl_server *s, ctl_handler_fn fn, void *arg)
{
	char req[CTL_MAX_REQ + 1], *argv[CTL_MAX_ARGS], *args[CTL_MAX_ARGS];
	long deadline = now_ms() + CTL_IO_TIMEOUT_MS;
	struct ctl_out out = { 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t len = 0;
	bool json = false;
	int fd, argc, n = 0, status;

	fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != 0) {
		ctl_out_printf(&out, "espgated: only root may control espgated\n");
		answer(fd, CTL_ERR_PERMISSION, &out, deadline);
		goto out;
	}
	/* Read until the newline, bounded in size and time. */
	while (len < CTL_MAX_REQ && !memchr(req, '\n', len)) {
		ssize_t r = recv(fd, req + len, CTL_MAX_REQ - len, MSG_DONTWAIT);

		if (r < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline))
				goto out;
			continue;
		}
		if (r <= 0)
			goto out;
		len += (size_t)r;
	}
	req[len] = '\0';
	if (!strchr(req, '\n')) {
		ctl_out_printf(&out, "espgated: request longer than %d bytes\n", CTL_MAX_REQ);
		answer(fd, CTL_ERR_USAGE, &out, deadline);
		goto out;
	}
	*strchr(req, '\n') = '\0';
	argc = ctl_split(req, argv, CTL_MAX_ARGS);
	if (argc <= 0) {
		ctl_out_printf(&out, "espgated: empty or malformed request\n");
		answer(fd, CTL_ERR_USAGE, &out, deadline);
		goto out;
	}
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			args[n++] = argv[i];
	}
	if (!n) {
		ctl_out_printf(&out, "espgated: no command\n");
		answer(fd, CTL_ERR_USAGE, &out, deadline);
		goto out;
	}
	status = fn(arg, n, args, json, &out);
	if (out.oom) {
		ctl_out_free(&out);
		ctl_out_printf(&out, "espgated: out of memory building the answer\n");
		status = CTL_ERR_FAILED;
	}
	answer(fd, status, &out, deadline);
out:
	ctl_out_free(&out);
	close(fd);
	return 0;
}

int ctl_request(const char *path, int argc, char *const *argv, bool json, struct ctl_out *body)
{
	long deadline = now_ms() + 30000; /* a reload may take a while */
	struct ctl_out req = { 0 };
	struct sockaddr_un sun;
	char buf[4096], *nl;
	int fd, status = CTL_ERR_CONNECT;

	if (fill_sun(&sun, path))
		return CTL_ERR_CONNECT;
	for (int i = 0; i < argc; i++) {
		if (strpbrk(argv[i], " \n\r\t")) {
			ctl_out_printf(body, "espgatectl: argument '%s' contains white space\n",
				       argv[i]);
			return CTL_ERR_USAGE;
		}
		ctl_out_printf(&req, "%s%s", i ? " " : "", argv[i]);
	}
	ctl_out_printf(&req, "%s\n", json ? " --json" : "");
	if (req.oom || req.len > CTL_MAX_REQ) {
		ctl_out_free(&req);
		ctl_out_printf(body, "espgatectl: request too long\n");
		return CTL_ERR_USAGE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		status = errno == EACCES ? CTL_ERR_PERMISSION : CTL_ERR_CONNECT;
		ctl_out_printf(body, "espgatectl: cannot reach espgated at %s: %s\n", path,
			       strerror(errno));
		goto out;
	}
	if (write_all(fd, req.buf, req.len, deadline)) {
		ctl_out_printf(body, "espgatectl: sending the request failed\n");
		goto out;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, deadline)) {
			ctl_out_printf(body, "espgatectl: espgated did not answer in time\n");
			goto out;
		}
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (body->len + (size_t)r > CTL_MAX_RESP) {
			ctl_out_printf(body, "\nespgatectl: answer larger than %d bytes\n",
				       CTL_MAX_RESP);
			goto out;
		}
		ctl_out_append(body, buf, (size_t)r);
	}
	/* Split off the status line. */
	nl = body->buf ? memchr(body->buf, '\n', body->len) : NULL;
	if (!nl) {
		ctl_out_printf(body, "espgatectl: malformed answer from espgated\n");
		status = CTL_ERR_FAILED;
		goto out;
	}
	if (!strncmp(body->buf, "OK\n", 3))
		status = CTL_OK;
	else if (sscanf(body->buf, "ERR %d", &status) != 1 || status <= 0 || status > 255)
		status = CTL_ERR_FAILED;
	{
		size_t skip = (size_t)(nl - body->buf) + 1;

		memmove(body->buf, body->buf + skip, body->len - skip + 1);
		body->len -= skip;
	}
out:
	ctl_out_free(&req);
	if (fd >= 0)
		close(fd);
	return status;
}
