/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel IPsec (XFRM) backend: SAs and policies over NETLINK_XFRM with libmnl framing, the
 * kernel's expire/acquire events, per-socket IKE bypass policies, the ESP probe and
 * /proc/net/xfrm_stat. One handle, `struct xfrm_backend`, in one of two modes chosen when it is
 * created (a mode flag, not a table of function pointers: there are exactly two implementations and
 * a flag keeps every entry point greppable): XFRMB_KERNEL talks to the kernel of the network
 * namespace the handle was created in; XFRMB_RECORD (tests on kernels without ESP) keeps the same
 * objects in memory with the kernel's identity rules and prints them with xfrm_record_dump().
 * Every function returns 0 or -errno; a failure leaves a sentence in xfrm_backend_error() with the
 * kernel's extended-ack text when it gave one. Key material is never logged or printed (except by
 * xfrm_record_dump() with XFRMB_DUMP_KEYS, for test mode), and every buffer that held a key is
 * zeroed after use. Addresses, SPIs and ports are in network byte order, as in the packet;
 * reqids, marks, priorities and lifetimes are host order.
 *
 * How espgated uses it (headers/espgate_abi.h): an outbound SA carries mark EG_MARK_OUT(child)/~0
 * (the kernel picks the SA through the out policy's mark), an inbound SA carries no mark and
 * set_mark EG_MARK_IN(child)/~0 (decrypted packets are marked for tc and for the in/fwd policies),
 * reqid EG_REQID(child) on both and on the policies' templates. Tunnel-mode SAs get a wildcard
 * selector (sel.family 0), as strongSwan installs them, because the fwd policy check re-matches the
 * SA selector against the packet after BPF reverse NAT.
 */
#ifndef ESPGATE_XFRM_H
#define ESPGATE_XFRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

enum xfrmb_limits {
	XFRMB_ALG_NAME_MAX = 64, /* bytes incl. NUL, as struct xfrm_algo */
	XFRMB_KEY_MAX = 64,	 /* bytes: hmac(sha512); AEAD keys include the 4-byte salt */
	XFRMB_TMPL_MAX = 6,	 /* templates per policy: the kernel's XFRM_MAX_DEPTH */
	XFRMB_ERR_MAX = 256,	 /* bytes of xfrm_backend_error() */
	XFRMB_MSG_MAX = 2048,	 /* bytes of one request we build */
	XFRMB_STAT_NAME_MAX = 48,
};

enum xfrmb_mode {
	XFRMB_KERNEL = 0,
	XFRMB_RECORD,
};

/* A traffic selector as the kernel matches it: prefixes, one protocol, port/mask pairs. */
struct xfrm_sel {
	__u16 family; /* AF_INET/AF_INET6; 0 only in an SA: wildcard */
	xfrm_address_t saddr;
	xfrm_address_t daddr;
	__u8 sprefix; /* bits */
	__u8 dprefix;
	__u8 proto; /* 0 = any */
	__be16 sport;
	__be16 sport_mask; /* 0 = any port */
	__be16 dport;
	__be16 dport_mask;
	__s32 ifindex; /* policies: only packets routed out of this interface; 0 = any */
};

/* SA lifetime limits; 0 = none. */
struct xfrm_life {
	__u64 bytes;
	__u64 packets;
	__u64 add_seconds; /* after install */
	__u64 use_seconds; /* after first use */
};

/*
 * One SA. Cipher: aead_alg (e.g. "rfc4106(gcm(aes))", key with salt, ICV bits), or enc_alg (e.g.
 * "cbc(aes)", "ecb(cipher_null)" with no key) with optional auth_alg (e.g. "hmac(sha256)", with
 * truncation bits, required when auth_alg is set). Call xfrm_sa_clear() when done with it.
 */
struct xfrm_sa {
	__u16 family; /* of saddr/daddr (outer addresses) */
	xfrm_address_t saddr;
	xfrm_address_t daddr;
	__be32 spi;
	__u8 proto; /* IPPROTO_ESP; 0 means ESP */
	__u8 mode;  /* XFRM_MODE_TUNNEL or XFRM_MODE_TRANSPORT */
	bool esn;   /* 64-bit sequence numbers; needs replay_window > 0 */
	__u32 reqid;
	__u32 replay_window; /* packets; 0 = no replay check */
	char enc_alg[XFRMB_ALG_NAME_MAX];
	__u8 enc_key[XFRMB_KEY_MAX];
	__u32 enc_key_len; /* bytes */
	char auth_alg[XFRMB_ALG_NAME_MAX];
	__u8 auth_key[XFRMB_KEY_MAX];
	__u32 auth_key_len;
	__u32 auth_trunc_bits;
	char aead_alg[XFRMB_ALG_NAME_MAX];
	__u8 aead_key[XFRMB_KEY_MAX];
	__u32 aead_key_len;
	__u32 aead_icv_bits;
	bool encap; /* NAT-T: UDP_ENCAP_ESPINUDP with these ports */
	__be16 encap_sport;
	__be16 encap_dport;
	struct xfrm_life soft;
	struct xfrm_life hard;
	__u32 mark; /* XFRMA_MARK, matched by SA lookup; mask 0 = none */
	__u32 mark_mask;
	__u32 set_mark; /* XFRMA_SET_MARK: put on packets this SA handles; mask 0 = none */
	__u32 set_mark_mask;
	__u32 if_id;	     /* XFRMA_IF_ID; 0 = none */
	struct xfrm_sel sel; /* family 0: wildcard (tunnel mode: also XFRM_STATE_AF_UNSPEC) */
};

/* What names an SA in the kernel: (daddr, spi, proto) within its mark. saddr is optional (sent as
 * XFRMA_SRCADDR when non-zero, as iproute2 does; the kernel looks ESP SAs up by SPI). */
struct xfrm_sa_id {
	__u16 family;
	xfrm_address_t saddr;
	xfrm_address_t daddr;
	__be32 spi;
	__u8 proto; /* 0 means ESP */
	__u32 mark;
	__u32 mark_mask;
};

/* Counters of one SA (XFRM_MSG_GETSA). */
struct xfrm_sa_stats {
	__u64 bytes;
	__u64 packets;
	__u64 add_time;		  /* unix seconds */
	__u64 use_time;		  /* unix seconds of first use, 0 = unused */
	__u32 replay_window_errs; /* packets dropped as outside the replay window */
	__u32 replay;		  /* packets dropped as replays */
	__u32 integrity_failed;	  /* packets that failed the ICV check */
	__u64 oseq;		  /* last sequence number sent (ESN: 64 bits) */
	__u64 seq;		  /* highest sequence number received */
	__u64 lastused;		  /* XFRMA_LASTUSED, unix seconds, 0 = absent */
};

/* A policy template: the SA a packet matching the policy must be given (out) or have had (in). */
struct xfrm_tmpl {
	__u16 family;	      /* of saddr/daddr; 0 = the selector's */
	xfrm_address_t saddr; /* tunnel endpoints; zero in transport mode */
	xfrm_address_t daddr;
	__be32 spi;    /* 0 = any */
	__u8 proto;    /* 0 means ESP */
	__u8 mode;     /* XFRM_MODE_TUNNEL or XFRM_MODE_TRANSPORT */
	bool optional; /* "level use": a packet without this SA still passes an in/fwd check */
	__u32 reqid;
};

struct xfrm_pol {
	struct xfrm_sel sel;
	__u8 dir;	/* XFRM_POLICY_IN, _OUT or _FWD */
	__u8 action;	/* XFRM_POLICY_ALLOW or XFRM_POLICY_BLOCK */
	__u32 priority; /* lower wins */
	__u32 index;	/* kernel-assigned; filled in by xfrm_pol_list() */
	__u32 mark;	/* mask 0 = none */
	__u32 mark_mask;
	__u32 if_id;
	unsigned int n_tmpl;
	struct xfrm_tmpl tmpl[XFRMB_TMPL_MAX];
};

struct xfrm_backend;

/* Opens a backend; XFRMB_KERNEL binds to the current network namespace. NULL + errno on failure
 * (EPROTONOSUPPORT: the kernel has no XFRM netlink, i.e. no xfrm_user). */
struct xfrm_backend *xfrm_backend_new(enum xfrmb_mode mode);
void xfrm_backend_free(struct xfrm_backend *b);
enum xfrmb_mode xfrm_backend_mode(const struct xfrm_backend *b);
/* The last failure in words ("add SA spi 0x... : Requested type not found (Protocol not
 * supported)"); "" if none. Valid until the next call on b. */
const char *xfrm_backend_error(const struct xfrm_backend *b);

/* Zeroes an SA, keys included. */
void xfrm_sa_clear(struct xfrm_sa *sa);
void xfrm_sa_id_of(const struct xfrm_sa *sa, struct xfrm_sa_id *id);

int xfrm_sa_add(struct xfrm_backend *b, const struct xfrm_sa *sa);    /* -EEXIST if present */
int xfrm_sa_update(struct xfrm_backend *b, const struct xfrm_sa *sa); /* -ESRCH if absent */
int xfrm_sa_del(struct xfrm_backend *b, const struct xfrm_sa_id *id); /* -ESRCH if absent */
int xfrm_sa_get_stats(struct xfrm_backend *b, const struct xfrm_sa_id *id,
		      struct xfrm_sa_stats *st);
/* Calls cb for every SA (keys are never filled in); a non-zero return from cb stops the walk and
 * is returned. */
typedef int (*xfrm_sa_cb)(const struct xfrm_sa *sa, const struct xfrm_sa_stats *st, void *arg);
int xfrm_sa_list(struct xfrm_backend *b, xfrm_sa_cb cb, void *arg);

int xfrm_pol_add(struct xfrm_backend *b, const struct xfrm_pol *p);    /* -EEXIST if present */
int xfrm_pol_update(struct xfrm_backend *b, const struct xfrm_pol *p); /* add or replace */
/* Deletes the policy with p's selector, dir, mark and if_id; -ENOENT if there is none. */
int xfrm_pol_del(struct xfrm_backend *b, const struct xfrm_pol *p);
typedef int (*xfrm_pol_cb)(const struct xfrm_pol *p, void *arg);
int xfrm_pol_list(struct xfrm_backend *b, xfrm_pol_cb cb, void *arg);

/* espgated's own objects: reqid in [EG_REQID_BASE, EG_REQID_BASE + EG_MAX_CHILDREN) or mark value
 * inside EG_MARK_MAGIC/EG_MARK_MAGIC_MASK. A policy is ours if its mark or any template's reqid
 * is. */
bool xfrm_reqid_is_ours(__u32 reqid);
bool xfrm_mark_is_ours(__u32 mark, __u32 mask);
bool xfrm_sa_is_ours(const struct xfrm_sa *sa);
bool xfrm_pol_is_ours(const struct xfrm_pol *p);
/* Deletes our policies and SAs, nothing else; counts what it deleted (either pointer may be
 * NULL). */
int xfrm_flush_ours(struct xfrm_backend *b, unsigned int *n_pol, unsigned int *n_sa);

/* Record mode: prints every recorded SA and policy, one per line (or one JSON document). */
enum xfrmb_dump_flags {
	XFRMB_DUMP_JSON = 1u << 0,
	XFRMB_DUMP_KEYS = 1u << 1, /* test mode only: print keys in hex */
};
int xfrm_record_dump(const struct xfrm_backend *b, FILE *f, unsigned int flags);

/* Per-socket bypass policies (in and out, XFRM_POLICY_ALLOW) for an IKE socket of that family, so
 * no global policy, not even 0.0.0.0/0, captures IKE itself. Independent of the backend mode. */
int xfrm_socket_bypass(int fd, int family);

/*
 * Can this kernel (this network namespace) install ESP SAs of that family? Adds a throwaway SA
 * (TEST-NET addresses, our reserved child-0 mark and reqid, a 30 s hard lifetime in case we die
 * before deleting it) and deletes it. 0 if it can; otherwise -errno and a sentence naming the
 * missing support in msg (e.g. -EPROTONOSUPPORT: "kernel has no ESP for IPv4 (CONFIG_INET_ESP,
 * module esp4)").
 */
int xfrm_probe_esp(int family, char *msg, size_t msglen);

/* Kernel events: XFRM_MSG_EXPIRE and XFRM_MSG_ACQUIRE, and optionally every SA/policy change. */
enum xfrmb_event_type {
	XFRMB_EV_EXPIRE = 1,
	XFRMB_EV_ACQUIRE,
	XFRMB_EV_OTHER, /* any other XFRM message (SA/policy groups): only msg_type is set */
};

struct xfrm_ev_expire {
	bool hard; /* hard: the kernel deleted the SA; soft: time to rekey */
	__u16 family;
	xfrm_address_t saddr;
	xfrm_address_t daddr;
	__be32 spi;
	__u8 proto;
	__u8 mode;
	__u32 reqid;
	__u32 mark;
	__u32 mark_mask;
	__u32 if_id;
};

struct xfrm_ev_acquire {
	__u16 family; /* of saddr/daddr: the SA the kernel wants */
	xfrm_address_t saddr;
	xfrm_address_t daddr;
	__u8 proto;
	__u32 reqid;	     /* of the first template with that protocol, 0 if none */
	struct xfrm_sel sel; /* the packet's flow */
	__u32 policy_index;
	__u8 policy_dir;
	__u32 policy_priority;
	__u32 seq; /* the kernel's acquire sequence number */
	__u32 mark;
	__u32 mark_mask;
	__u32 if_id;
};

struct xfrm_event {
	enum xfrmb_event_type type;
	__u16 msg_type; /* XFRM_MSG_* */
	union {
		struct xfrm_ev_expire expire;
		struct xfrm_ev_acquire acquire;
	};
};

enum xfrmb_event_groups {
	XFRMB_GRP_SA = 1u << 0,	    /* also join XFRMNLGRP_SA */
	XFRMB_GRP_POLICY = 1u << 1, /* also join XFRMNLGRP_POLICY */
};

struct xfrm_events;
typedef int (*xfrm_event_cb)(const struct xfrm_event *ev, void *arg);
/* Joins XFRMNLGRP_EXPIRE and XFRMNLGRP_ACQUIRE (plus `groups`) in the current namespace; the socket
 * is non-blocking. NULL + errno on failure. */
struct xfrm_events *xfrm_events_open(unsigned int groups);
void xfrm_events_close(struct xfrm_events *ev);
int xfrm_events_fd(const struct xfrm_events *ev);
/* Reads one datagram and calls cb per event (call it until -EAGAIN when the fd is readable). Returns the number of events, -EAGAIN when nothing is
 * waiting, -ENOBUFS when the kernel dropped events (resynchronise with the lists), -EBADMSG for a
 * malformed datagram; datagrams not sent by the kernel are ignored (0). */
int xfrm_events_read(struct xfrm_events *ev, xfrm_event_cb cb, void *arg);
/* The parser behind it, for tests: every netlink message of buf. */
int xfrm_events_parse(const void *buf, size_t len, xfrm_event_cb cb, void *arg);

/* /proc/net/xfrm_stat (path NULL) of the current namespace: cb per "Name value" line. -ENOENT
 * when the kernel has no CONFIG_XFRM_STATISTICS, -EBADMSG for a line that is not "Name value". */
typedef int (*xfrm_stat_cb)(const char *name, uint64_t value, void *arg);
int xfrm_stat_read(const char *path, xfrm_stat_cb cb, void *arg);

/*
 * Message builders and parsers, exposed for the unit tests (byte-exact checks, crafted input).
 * Builders write one request into buf (at most XFRMB_MSG_MAX bytes) and return its length or
 * -errno; the caller zeroes buf after sending an SA message (it holds keys).
 */
int xfrm_msg_sa(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_sa *sa);
int xfrm_msg_sa_id(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_sa_id *id);
int xfrm_msg_pol(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_pol *p);
int xfrm_msg_pol_del(void *buf, size_t len, __u32 seq, const struct xfrm_pol *p);
/* One XFRM_MSG_NEWSA (GETSA reply, dump entry) -> sa (without keys) and st (may be NULL). */
int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa *sa, struct xfrm_sa_stats *st);
/* One XFRM_MSG_NEWPOLICY -> p; 1 for a sub policy (XFRM_POLICY_TYPE_SUB, skipped by lists). */
int xfrm_parse_pol(const struct nlmsghdr *nlh, struct xfrm_pol *p);
/* One NLMSG_ERROR: returns its error (0 for an ACK, -EBADMSG if malformed) and copies the
 * extended-ack message, if any, into msg ("" otherwise). */
int xfrm_parse_nlerr(const struct nlmsghdr *nlh, char *msg, size_t msglen);
/* "192.0.2.1" or "2001:db8::1" -> family + address; -EINVAL otherwise. */
int xfrm_addr_parse(const char *s, __u16 *family, xfrm_address_t *a);

#endif /* ESPGATE_XFRM_H */
