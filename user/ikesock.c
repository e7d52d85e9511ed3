// SPDX-License-Identifier: GPL-2.0-only
/*
 * IKE's UDP transport (see ikesock.h): sockets on 500 and 4500, the RFC 3948 non-ESP marker,
 * NAT-T keepalives, and per-datagram local addresses through IP_PKTINFO / IPV6_PKTINFO.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/udp.h>

#include "ikesock.h"

#ifndef UDP_ENCAP_ESPINUDP
#define UDP_ENCAP_ESPINUDP 2
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

socklen_t ikesock_to_sockaddr(const struct ikesock_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		sin->sin_addr = a->v4;
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(a->port);
	sin6->sin6_addr = a->v6;
	return sizeof(*sin6);
}

void ikesock_from_sockaddr(const struct sockaddr_storage *ss, struct ikesock_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, ss, sizeof(sin));
		a->port = ntohs(sin.sin_port);
		a->v4 = sin.sin_addr;
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, ss, sizeof(sin6));
		a->port = ntohs(sin6.sin6_port);
		a->v6 = sin6.sin6_addr;
	}
}

static int bound_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	struct ikesock_addr a;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	ikesock_from_sockaddr(&ss, &a);
	*port = a.port;
	return 0;
}

/* One UDP socket, non-blocking, close-on-exec, with packet info and bound. */
static int open_one(int family, const struct ikesock_addr *bind_addr, uint16_t port)
{
	struct ikesock_addr any = { .family = family, .port = port };
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, on = 1, err;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)))
		goto err_close;
	if (family == AF_INET) {
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)))
			goto err_close;
	} else {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)))
			goto err_close;
	}
	if (bind_addr) {
		any = *bind_addr;
		any.port = port;
	}
	sl = ikesock_to_sockaddr(&any, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sl))
		goto err_close;
	return fd;
err_close:
	err = -errno;
	close(fd);
	return err;
}

int ikesock_open(struct ikesock *s, int family, const struct ikesock_addr *bind_addr,
		 uint16_t port500, uint16_t port4500, bool encap)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->fd500 = s->fd4500 = -1;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (bind_addr && bind_addr->family != family)
		return -EINVAL;
	s->family = family;
	s->fd500 = open_one(family, bind_addr, port500);
	if (s->fd500 < 0)
		return s->fd500;
	s->fd4500 = open_one(family, bind_addr, port4500);
	if (s->fd4500 < 0) {
		err = s->fd4500;
		goto err_close500;
	}
	if (encap) {
		int type = UDP_ENCAP_ESPINUDP;

		if (setsockopt(s->fd4500, SOL_UDP, UDP_ENCAP, &type, sizeof(type))) {
			err = -errno;
			goto err_close4500;
		}
		s->encap = true;
	}
	err = bound_port(s->fd500, &s->port500);
	if (!err)
		err = bound_port(s->fd4500, &s->port4500);
	if (err)
		goto err_close4500;
	return 0;
err_close4500:
	close(s->fd4500);
err_close500:
	close(s->fd500);
	s->fd500 = s->fd4500 = -1;
	return err;
}

void ikesock_close(struct ikesock *s)
{
	if (s->fd500 >= 0)
		close(s->fd500);
	if (s->fd4500 >= 0)
		close(s->fd4500);
	s->fd500 = s->fd4500 = -1;
}

ssize_t ikesock_recv(const struct ikesock *s, int fd, uint8_t *buf, size_t len,
		     struct ikesock_addr *local, struct ikesock_addr *remote)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			  CMSG_SPACE(sizeof(struct in_pktinfo))];
	} cbuf;
	struct sockaddr_storage from = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_name = &from,
		.msg_namelen = sizeof(from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.b,
		.msg_controllen = sizeof(cbuf.b),
	};
	struct cmsghdr *cm;
	bool is4500 = fd == s->fd4500;
	ssize_t n;

	n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	ikesock_from_sockaddr(&from, remote);
	memset(local, 0, sizeof(*local));
	local->family = s->family;
	local->port = is4500 ? s->port4500 : s->port500;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->v4 = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi6;

			memcpy(&pi6, CMSG_DATA(cm), sizeof(pi6));
			local->v6 = pi6.ipi6_addr;
		}
	}
	if (!is4500)
		return n;
	/* RFC 3948 §2.2/§2.3: a lone 0xff is a keepalive; IKE starts with four zero bytes; anything
	 * else on 4500 is ESP that the kernel did not take (no encapsulation socket). */
	if ((size_t)n < IKESOCK_NON_ESP_MARKER)
		return -ENOMSG;
	if (buf[0] | buf[1] | buf[2] | buf[3])
		return -ENOMSG;
	memmove(buf, buf + IKESOCK_NON_ESP_MARKER, (size_t)n - IKESOCK_NON_ESP_MARKER);
	return n - IKESOCK_NON_ESP_MARKER;
}

int ikesock_send(const struct ikesock *s, const struct ikesock_addr *local,
		 const struct ikesock_addr *remote, const uint8_t *msg, size_t len)
{
	static const uint8_t marker[IKESOCK_NON_ESP_MARKER];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cbuf;
	struct sockaddr_storage to;
	bool is4500 = local && local->port == s->port4500;
	struct iovec iov[2];
	struct msghdr mh = { 0 };
	int fd = is4500 ? s->fd4500 : s->fd500;
	size_t niov = 0;

	if (remote->family != s->family || (local && local->family != s->family))
		return -EAFNOSUPPORT;
	if (len > IKESOCK_MAX_DGRAM - IKESOCK_NON_ESP_MARKER)
		return -EMSGSIZE;
	if (is4500) {
		iov[niov].iov_base = (void *)(uintptr_t)marker;
		iov[niov++].iov_len = sizeof(marker);
	}
	iov[niov].iov_base = (void *)(uintptr_t)msg;
	iov[niov++].iov_len = len;
	mh.msg_name = &to;
	mh.msg_namelen = ikesock_to_sockaddr(remote, &to);
	mh.msg_iov = iov;
	mh.msg_iovlen = niov;
	if (local) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.b;
		cm = (struct cmsghdr *)cbuf.b;
		if (s->family == AF_INET) {
			struct in_pktinfo pi = { .ipi_spec_dst = local->v4 };

			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		} else {
			struct in6_pktinfo pi6 = { .ipi6_addr = local->v6 };

			mh.msg_controllen = CMSG_SPACE(sizeof(pi6));
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi6));
			memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
		}
	}
	if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

int ikesock_keepalive(const struct ikesock *s, const struct ikesock_addr *remote)
{
	static const uint8_t ka = 0xff;
	struct sockaddr_storage to;
	socklen_t tl;

	if (remote->family != s->family)
		return -EAFNOSUPPORT;
	tl = ikesock_to_sockaddr(remote, &to);
	if (sendto(s->fd4500, &ka, 1, MSG_DONTWAIT, (struct sockaddr *)&to, tl) < 0)
		return -errno;
	return 0;
}

const char *ikesock_addr_str(const struct ikesock_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == AF_INET) {
		inet_ntop(AF_INET, &a->v4, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
	} else if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, &a->v6, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}
