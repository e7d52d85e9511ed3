// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tier, IKE transport: real UDP sockets on loopback (ephemeral ports) through ikesock —
 * the 4500 socket's non-ESP marker on the wire and stripped on receipt, keepalives and ESP never
 * reported as IKE, the local address learnt per datagram and used as the answer's source,
 * oversized datagrams refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ikesock.h"

static struct ikesock_addr v4(const char *ip, uint16_t port)
{
	struct ikesock_addr a = { .family = AF_INET, .port = port };

	inet_pton(AF_INET, ip, &a.v4);
	return a;
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 2000), 1);
}

static void open_pair(struct ikesock *a, struct ikesock *b, bool encap)
{
	struct ikesock_addr any = v4("0.0.0.0", 0);

	assert_int_equal(ikesock_open(a, AF_INET, &any, 0, 0, encap), 0);
	assert_int_equal(ikesock_open(b, AF_INET, &any, 0, 0, encap), 0);
	assert_true(a->port500 != 0 && a->port4500 != 0 && a->port500 != a->port4500);
}

static void test_port500_roundtrip(void **state)
{
	struct ikesock a, b;
	struct ikesock_addr la, ra, dst, src;
	uint8_t msg[64], buf[128];
	ssize_t n;

	(void)state;
	open_pair(&a, &b, false);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	dst = v4("127.0.0.2", b.port500);
	src = v4("127.0.0.1", a.port500);
	assert_int_equal(ikesock_send(&a, &src, &dst, msg, sizeof(msg)), 0);
	wait_readable(b.fd500);
	n = ikesock_recv(&b, b.fd500, buf, sizeof(buf), &la, &ra);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	/* the local address is the one the peer used, not the bound wildcard */
	assert_int_equal(la.v4.s_addr, inet_addr("127.0.0.2"));
	assert_int_equal(la.port, b.port500);
	assert_int_equal(ra.v4.s_addr, inet_addr("127.0.0.1"));
	assert_int_equal(ra.port, a.port500);

	/* answering from the learnt local address reaches the peer from that address */
	assert_int_equal(ikesock_send(&b, &la, &ra, msg, 8), 0);
	wait_readable(a.fd500);
	n = ikesock_recv(&a, a.fd500, buf, sizeof(buf), &la, &ra);
	assert_int_equal(n, 8);
	assert_int_equal(ra.v4.s_addr, inet_addr("127.0.0.2"));
	ikesock_close(&a);
	ikesock_close(&b);
}

static void test_port4500_marker(void **state)
{
	struct ikesock a, b;
	struct ikesock_addr la, ra, dst, src;
	uint8_t msg[40], buf[128];
	int raw;
	struct sockaddr_in rin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t rl = sizeof(rin);
	ssize_t n;

	(void)state;
	open_pair(&a, &b, false);
	memset(msg, 0x2a, sizeof(msg));
	src = v4("127.0.0.1", a.port4500);

	/* on the wire: four zero bytes, then the IKE message */
	raw = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(raw >= 0);
	assert_int_equal(bind(raw, (struct sockaddr *)&rin, sizeof(rin)), 0);
	assert_int_equal(getsockname(raw, (struct sockaddr *)&rin, &rl), 0);
	dst = v4("127.0.0.1", ntohs(rin.sin_port));
	assert_int_equal(ikesock_send(&a, &src, &dst, msg, sizeof(msg)), 0);
	n = recv(raw, buf, sizeof(buf), 0);
	assert_int_equal(n, sizeof(msg) + 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_memory_equal(buf + 4, msg, sizeof(msg));
	close(raw);

	/* received on 4500: marker stripped */
	dst = v4("127.0.0.1", b.port4500);
	assert_int_equal(ikesock_send(&a, &src, &dst, msg, sizeof(msg)), 0);
	wait_readable(b.fd4500);
	n = ikesock_recv(&b, b.fd4500, buf, sizeof(buf), &la, &ra);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	assert_int_equal(la.port, b.port4500);
	assert_int_equal(ra.port, a.port4500);

	/* a keepalive is not IKE */
	assert_int_equal(ikesock_keepalive(&a, &dst), 0);
	wait_readable(b.fd4500);
	assert_int_equal(ikesock_recv(&b, b.fd4500, buf, sizeof(buf), &la, &ra), -ENOMSG);

	/* nor is ESP (non-zero SPI where the marker would be) */
	{
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in to = { .sin_family = AF_INET,
					  .sin_port = htons(b.port4500),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		assert_int_equal(sendto(u, "\x00\x00\x10\x01spiseq0000", 14, 0,
					(struct sockaddr *)&to, sizeof(to)),
				 14);
		close(u);
	}
	wait_readable(b.fd4500);
	assert_int_equal(ikesock_recv(&b, b.fd4500, buf, sizeof(buf), &la, &ra), -ENOMSG);
	assert_int_equal(ikesock_recv(&b, b.fd4500, buf, sizeof(buf), &la, &ra), -EAGAIN);
	ikesock_close(&a);
	ikesock_close(&b);
}

static void test_truncated_and_errors(void **state)
{
	struct ikesock a, b;
	struct ikesock_addr la, ra, dst;
	uint8_t msg[600] = { 0 }, small[100];
	struct ikesock_addr v6 = { .family = AF_INET6, .port = 500 };

	(void)state;
	open_pair(&a, &b, false);
	dst = v4("127.0.0.1", b.port500);
	assert_int_equal(ikesock_send(&a, NULL, &dst, msg, sizeof(msg)), 0);
	wait_readable(b.fd500);
	assert_int_equal(ikesock_recv(&b, b.fd500, small, sizeof(small), &la, &ra), -EMSGSIZE);
	/* a message too large for UDP, and a family mismatch, are refused before any syscall */
	assert_int_equal(ikesock_send(&a, NULL, &dst, msg, 70000), -EMSGSIZE);
	assert_int_equal(ikesock_send(&a, NULL, &v6, msg, 10), -EAFNOSUPPORT);
	assert_int_equal(ikesock_open(&a, AF_UNIX, NULL, 0, 0, false), -EAFNOSUPPORT);
	ikesock_close(&a);
	ikesock_close(&b);
}

static void test_encap_socket(void **state)
{
	struct ikesock a, b;
	struct ikesock_addr la, ra, dst, src;
	uint8_t msg[32], buf[64];
	int err;

	(void)state;
	err = ikesock_open(&a, AF_INET, NULL, 0, 0, true);
	if (err == -EPERM || err == -ENOPROTOOPT)
		skip();
	assert_int_equal(err, 0);
	assert_true(a.encap);
	assert_int_equal(ikesock_open(&b, AF_INET, NULL, 0, 0, true), 0);
	/* IKE with the marker still reaches userspace on an ESP-in-UDP socket */
	memset(msg, 7, sizeof(msg));
	src = v4("127.0.0.1", a.port4500);
	dst = v4("127.0.0.1", b.port4500);
	assert_int_equal(ikesock_send(&a, &src, &dst, msg, sizeof(msg)), 0);
	wait_readable(b.fd4500);
	assert_int_equal(ikesock_recv(&b, b.fd4500, buf, sizeof(buf), &la, &ra), sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	ikesock_close(&a);
	ikesock_close(&b);
}

static void test_addr_str(void **state)
{
	struct ikesock_addr a = v4("192.0.2.1", 4500), b = { .family = AF_INET6, .port = 500 };
	char buf[64];

	(void)state;
	assert_string_equal(ikesock_addr_str(&a, buf, sizeof(buf)), "192.0.2.1:4500");
	inet_pton(AF_INET6, "2001:db8::1", &b.v6);
	assert_string_equal(ikesock_addr_str(&b, buf, sizeof(buf)), "[2001:db8::1]:500");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port500_roundtrip),
		cmocka_unit_test(test_port4500_marker),
		cmocka_unit_test(test_truncated_and_errors),
		cmocka_unit_test(test_encap_socket),
		cmocka_unit_test(test_addr_str),
	};

	return cmocka_run_group_tests_name("ikesock", tests, NULL, NULL);
}
