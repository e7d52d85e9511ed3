/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Traffic selectors (RFC 7296 §2.9, §3.13): building them from configuration, containment and
 * intersection, the responder's narrowing and strict check, the initiator's proposal and its check
 * of the responder's answer, splitting a range into prefixes for XFRM policies, and formatting.
 *
 * Semantics: a CHILD SA covers every pair (TSi[i], TSr[j]), so the configured policy is the
 * product local × remote and the narrowed answer is, side by side, the union of the pairwise
 * intersections of the peer's selectors with ours. The answer is therefore never wider than our
 * configuration, whatever the peer proposes (a peer proposing 0.0.0.0/0 or 10.0.0.0/8 gets only
 * its configured ranges: seed 001). In strict mode nothing is narrowed: every selector the peer
 * proposes must lie inside ONE configured selector (a selector spanning two adjacent configured
 * ranges is refused too), otherwise TS_UNACCEPTABLE with a readable reason; as initiator, strict
 * mode proposes exactly the configuration and accepts exactly that back.
 *
 * Naming: TSi is always the initiator's side. As responder TSi is the peer's side (our "remote"),
 * as initiator TSi is ours ("local").
 */
#ifndef IKE_TS_H
#define IKE_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_prop.h"

enum ike_ts_sizes {
	IKE_TS_STR_LEN = 112,	    /* one formatted selector, with protocol and ports */
	IKE_TS_WHY_LEN = 512,	    /* room for any reason written by this module */
	IKE_TS_MAX_PREFIXES = 254,  /* prefixes one IPv6 range can need (2 * 128 - 2) */
	IKE_TS_MAX_PORT_MASKS = 30, /* port/mask pairs one port range can need (2 * 16 - 2) */
};

/* Our side of a CHILD SA: what we protect (local) and what the peer may reach us from (remote). */
struct ike_ts_cfg {
	struct ike_ts_list local, remote;
	bool strict;
};

/* One CIDR block, for XFRM policies. family is AF_INET or AF_INET6; addr in network order. */
struct ike_prefix {
	uint8_t family;
	uint8_t plen;
	uint8_t addr[16];
};

/* One port block as XFRM selectors take it: port and mask in host order; mask 0 = any port. */
struct ike_port_mask {
	uint16_t port, mask;
};

/*
 * Builds a selector from a prefix (family AF_INET/AF_INET6, addr in network order), an IP protocol
 * (0 = any) and a port range in host order (0..65535 = any). Host bits in addr are ignored.
 * Returns 0 or -EINVAL (bad family, plen, or port_lo > port_hi).
 */
int ike_ts_from_prefix(struct ike_ts *ts, int family, const void *addr, unsigned int plen,
		       uint8_t proto, uint16_t port_lo, uint16_t port_hi);

/*
 * Parses the strongSwan-style selector syntax operators use: "10.1.0.0/16", "192.0.2.7",
 * "10.0.0.5-10.0.0.9", "2001:db8::/32", each optionally followed by "[proto]", "[proto/port]",
 * "[proto/lo-hi]" with proto a name (tcp, udp, icmp, ipv6-icmp, sctp, gre, esp), a number or
 * %any ("10.1.0.0/16[tcp/8080]"). Returns 0 or -EINVAL with a message in err (may be NULL).
 */
int ike_ts_parse(const char *str, struct ike_ts *ts, char *err, size_t errlen);

/* "10.1.0.0/16", "10.0.0.5-10.0.0.9", "::/0", then "[tcp/8080]" when not all protocols/ports. */
int ike_ts_format(const struct ike_ts *ts, char *buf, size_t len);
/* Selectors separated by ", "; returns 0 or -ENOSPC (output truncated, always terminated). */
int ike_ts_list_format(const struct ike_ts_list *l, char *buf, size_t len);

/* A selector of a known type with non-empty address and port ranges. */
bool ike_ts_valid(const struct ike_ts *ts);
bool ike_ts_equal(const struct ike_ts *a, const struct ike_ts *b);
/* Whether every packet inner selects is selected by outer (both valid, same type). */
bool ike_ts_contains(const struct ike_ts *outer, const struct ike_ts *inner);
/* out = a ∩ b; returns 0, or -ENOENT when it is empty (or either is invalid). */
int ike_ts_intersect(const struct ike_ts *a, const struct ike_ts *b, struct ike_ts *out);
/* Whether two selectors can be one SA's (source, destination): same family, compatible proto. */
bool ike_ts_pair_ok(const struct ike_ts *a, const struct ike_ts *b);

/*
 * The smallest set of prefixes whose union is exactly the address range of ts, in address order.
 * Returns 0 with *n set, -EINVAL for an invalid selector, -ENOSPC if max is too small.
 */
int ike_ts_to_prefixes(const struct ike_ts *ts, struct ike_prefix *out, unsigned int max,
		       unsigned int *n);

/*
 * The port range of ts as (port, mask) blocks whose union is exactly port_lo..port_hi (XFRM
 * selectors match ports by mask, not by range). 0..65535 gives one {0, 0}. Returns 0 with *n set,
 * -EINVAL for an invalid selector (e.g. OPAQUE ports), -ENOSPC if max is too small.
 */
int ike_ts_port_masks(const struct ike_ts *ts, struct ike_port_mask *out, unsigned int max,
		      unsigned int *n);

/*
 * Responder: the TSi/TSr to answer with, given the peer's TSi (its side, our remote) and TSr.
 * Unknown or empty peer selectors are ignored (§2.9). Non-strict: narrowed to the configuration.
 * Returns 0; -ENOENT when nothing remains (no overlap, or no TSi/TSr pair with a common
 * protocol); -EACCES in strict mode when the peer proposed anything outside the configuration.
 * Both errors mean TS_UNACCEPTABLE; why (may be NULL) gets the reason for the operator.
 */
int ike_ts_narrow(const struct ike_ts_cfg *cfg, const struct ike_ts_list *tsi,
		  const struct ike_ts_list *tsr, struct ike_ts_list *out_tsi,
		  struct ike_ts_list *out_tsr, char *why, size_t whylen);

/*
 * Initiator: the TSi/TSr to propose. trig_local/trig_remote (both or neither, may be NULL) are
 * the selectors of the packet that triggered the SA; when the configuration covers them and we
 * are not strict they go first, as §2.9 recommends, so a narrowing responder keeps them.
 * Returns 0 or -EINVAL (empty configuration).
 */
int ike_ts_propose(const struct ike_ts_cfg *cfg, const struct ike_ts *trig_local,
		   const struct ike_ts *trig_remote, struct ike_ts_list *tsi,
		   struct ike_ts_list *tsr);

/*
 * Initiator: checks the responder's TSi/TSr against what we proposed (prop_tsi/prop_tsr) and our
 * configuration. Non-strict: every returned selector lies inside one we proposed and inside the
 * configuration, and some TSi/TSr pair has a common protocol. Strict: the answer is exactly the
 * configuration. Returns 0, or -EACCES with the reason in why (the caller deletes the CHILD SA).
 */
int ike_ts_check_reply(const struct ike_ts_cfg *cfg, const struct ike_ts_list *prop_tsi,
		       const struct ike_ts_list *prop_tsr, const struct ike_ts_list *tsi,
		       const struct ike_ts_list *tsr, char *why, size_t whylen);

#endif /* IKE_TS_H */
