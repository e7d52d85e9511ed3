/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * IKE's UDP transport for espgated: one socket on port 500 and one on 4500 per address family.
 * The 4500 socket is an ESP-in-UDP encapsulation socket (RFC 3948, UDP_ENCAP_ESPINUDP), so the
 * kernel takes ESP and 0xff keepalives off it and hands IKE up with the 4-byte non-ESP marker,
 * which this module strips on receive and adds on send. The local address of every datagram is
 * learnt with IP_PKTINFO/IPV6_RECVPKTINFO and used as the source of the answer, so a gateway with
 * several addresses answers from the one the peer used. Datagrams are opaque bytes here; the
 * engine (ike/) parses them.
 */
#ifndef EG_IKESOCK_H
#define EG_IKESOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

enum ikesock_limits {
	IKESOCK_NON_ESP_MARKER = 4, /* bytes of zeros in front of IKE on port 4500 */
	IKESOCK_MAX_DGRAM = 65535,
};

/* An address with port; family AF_INET or AF_INET6. Ports are host order. */
struct ikesock_addr {
	int family;
	uint16_t port;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct ikesock {
	int fd500;
	int fd4500;
	int family;
	uint16_t port500; /* bound ports, host order (tests bind to 0 and read them back) */
	uint16_t port4500;
	bool encap; /* UDP_ENCAP_ESPINUDP set on fd4500 */
};

/*
 * Opens and binds both sockets for family on `bind_addr` (NULL: any address) and the given ports
 * (0: ephemeral, for tests). encap asks for UDP_ENCAP_ESPINUDP on the 4500 socket (the daemon
 * always does; a kernel that refuses it is an error). Returns 0 or -errno; on error nothing is
 * left open.
 */
int ikesock_open(struct ikesock *s, int family, const struct ikesock_addr *bind_addr,
		 uint16_t port500, uint16_t port4500, bool encap);
void ikesock_close(struct ikesock *s);

/*
 * Receives one datagram from fd (one of s's two sockets). On success returns the IKE message
 * length (marker stripped on the 4500 socket) and fills local/remote. Returns -EAGAIN when nothing
 * is queued, -ENOMSG for a datagram that is not IKE (a NAT keepalive, or ESP that reached
 * userspace on 4500: both are dropped), -EMSGSIZE if it did not fit buf, or another -errno.
 */
ssize_t ikesock_recv(const struct ikesock *s, int fd, uint8_t *buf, size_t len,
		     struct ikesock_addr *local, struct ikesock_addr *remote);

/*
 * Sends an IKE message from local (its address chooses the source; port 4500 means the encap
 * socket and a non-ESP marker) to remote. local may be NULL: the 500 socket and the routing
 * table's source. Returns 0 or -errno.
 */
int ikesock_send(const struct ikesock *s, const struct ikesock_addr *local,
		 const struct ikesock_addr *remote, const uint8_t *msg, size_t len);

/* Sends a NAT-T keepalive (one 0xff byte, RFC 3948 §2.3) from the 4500 socket to remote. */
int ikesock_keepalive(const struct ikesock *s, const struct ikesock_addr *remote);

/* Conversions to and from socket addresses (the length is returned / taken). */
socklen_t ikesock_to_sockaddr(const struct ikesock_addr *a, struct sockaddr_storage *ss);
void ikesock_from_sockaddr(const struct sockaddr_storage *ss, struct ikesock_addr *a);

/* Formats "192.0.2.1:500" / "[2001:db8::1]:4500" into buf (at least 56 bytes). */
const char *ikesock_addr_str(const struct ikesock_addr *a, char *buf, size_t len);

#endif /* EG_IKESOCK_H */
