// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tier, control channel: a real server and client over a UNIX socket in a temp dir —
 * request splitting, status codes carried to the client, --json, permissions of the socket, a
 * second daemon refused on a live socket, oversized/garbage requests answered with a usage
 * error, and a non-root client refused.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl.h"

static char dir[64], path[128];

static int handler(void *arg, int argc, char **argv, bool json, struct ctl_out *out)
{
	(void)arg;
	if (!strcmp(argv[0], "missing"))
		return CTL_ERR_NOT_FOUND;
	ctl_out_printf(out, "json=%d", json);
	for (int i = 0; i < argc; i++)
		ctl_out_printf(out, " [%s]", argv[i]);
	ctl_out_printf(out, "\n");
	return CTL_OK;
}

struct srv {
	struct ctl_server s;
	int n;
};

static void *serve(void *p)
{
	struct srv *srv = p;

	for (int i = 0; i < srv->n; i++) {
		while (ctl_server_serve_one(&srv->s, handler, NULL) == -EAGAIN)
			usleep(1000);
	}
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/egctl.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/run/ctl.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_split(void **state)
{
	char l1[] = "  status  --json tunnel-a ", l2[] = "a b c d", l3[] = "bad\x01word";
	char *argv[3];

	(void)state;
	assert_int_equal(ctl_split(l1, argv, 3), 3);
	assert_string_equal(argv[0], "status");
	assert_string_equal(argv[1], "--json");
	assert_string_equal(argv[2], "tunnel-a");
	assert_int_equal(ctl_split(l2, argv, 3), -EINVAL);
	assert_int_equal(ctl_split(l3, argv, 3), -EINVAL);
}

static void test_roundtrip(void **state)
{
	struct srv srv = { .n = 3 };
	struct ctl_out body = { 0 };
	pthread_t th;
	struct stat st;
	char *a1[] = { "status", "red" }, *a2[] = { "missing" }, *a3[] = { "up", "has space" };

	(void)state;
	assert_int_equal(ctl_server_open(&srv.s, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	*strrchr(path, '/') = '\0';
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	path[strlen(path)] = '/';

	/* a second espgated must not steal a live socket */
	{
		struct ctl_server other;

		assert_int_equal(ctl_server_open(&other, path), -EADDRINUSE);
	}
	/* the one live server now has a pending probe connection: serve it first */
	srv.n++;
	assert_int_equal(pthread_create(&th, NULL, serve, &srv), 0);

	assert_int_equal(ctl_request(path, 2, a1, true, &body), CTL_OK);
	assert_string_equal(body.buf, "json=1 [status] [red]\n");
	ctl_out_free(&body);
	assert_int_equal(ctl_request(path, 1, a2, false, &body), CTL_ERR_NOT_FOUND);
	ctl_out_free(&body);
	/* white space inside an argument is refused by the client itself */
	assert_int_equal(ctl_request(path, 2, a3, false, &body), CTL_ERR_USAGE);
	ctl_out_free(&body);
	/* garbage: no newline within the limit */
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		char junk[CTL_MAX_REQ + 10], resp[64] = { 0 };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		memset(junk, 'x', sizeof(junk));
		strcpy(sun.sun_path, path);
		assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		assert_true(read(fd, resp, sizeof(resp) - 1) > 0);
		assert_true(!strncmp(resp, "ERR 2\n", 6));
		close(fd);
	}
	pthread_join(th, NULL);
	ctl_server_close(&srv.s);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(ctl_request(path, 2, a1, false, &body), CTL_ERR_CONNECT);
	assert_non_null(strstr(body.buf, "cannot reach espgated"));
	ctl_out_free(&body);
}

static void test_non_root_refused(void **state)
{
	struct srv srv = { .n = 0 };
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(ctl_server_open(&srv.s, path), 0);
	pid = fork();
	if (pid == 0) {
		struct ctl_out body = { 0 };
		char *a[] = { "status" };

		if (setgid(65534) || setuid(65534))
			_exit(99);
		_exit(ctl_request(path, 1, a, false, &body));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), CTL_ERR_PERMISSION);
	ctl_server_close(&srv.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_root_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
