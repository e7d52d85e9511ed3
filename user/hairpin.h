/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The veth hairpin that carries the gateway VM's own traffic through the datapath
 * (docs/DESIGN.md, "The gateway's own traffic"). espgated creates the veth pair eg0/eg1 with the
 * link-local /30 EG_HAIRPIN_NET (eg0 .1, eg1 .2) and routes the remote selectors of the children
 * the VM itself sources through it: "dst via <eg1's address> dev eg0 src <host address> proto
 * EG_RTPROT". A packet the VM sends leaves eg0 in clear (its pre-NAT source matches neither the
 * marked out policy nor the unmarked fallback, both post-NAT), arrives on eg1 where dpsync attached
 * tc_eg_nat, is translated and marked there exactly like a forwarded packet, and is forwarded
 * (hostcfg sets accept_local and loose rp_filter on eg1) into the child's XFRM out policy.
 * Replies are decrypted on the outside NIC and reverse-translated there; they do not hairpin.
 *
 * Which children: a child is hairpinned when it has a source-translating NAT rule (snat, netmap
 * or pool) whose inside prefix holds one of the host's own IPv4 addresses (loopback and the
 * hairpin's own excluded), or else when one of its local selectors holds one (a child without
 * NAT: the VM's packets go untranslated, as a workload's would): that address is the route's
 * source. Its remote selectors are routed
 * (a remote-netmap child's mapped part by its inside prefix, as the VM addresses it), except
 * transport-mode children, /0 prefixes, prefixes that contain a tunnel's peer address (IKE and
 * ESP to the peer must never hairpin) and prefixes for which the main table already holds a route
 * of someone else (never replaced; logged). The VM's packet leaves eg0 with its own source, which
 * for a child without NAT lies in the child's local selector: the daemon's hairpin bypass policy
 * (EG_PRIO_HAIRPIN, selector bound to eg0) lets it into the hairpin instead of the unmarked
 * fallback block, which still catches it on any other interface (fail closed without the route).
 *
 * Ownership: routes are recognised by their protocol EG_RTPROT only, so exactly ours are replaced
 * and flushed. The veth pair is recognised as ours by its alias EG_HAIRPIN_ALIAS; an eg0/eg1 pair
 * that someone else created is used but never deleted. All netlink through libmnl.
 */
#ifndef EG_HAIRPIN_H
#define EG_HAIRPIN_H

#include <stddef.h>
#include <stdint.h>

#include "hostcfg.h" /* EG_HAIRPIN_IN */

struct eg_config_file;

#define EG_HAIRPIN_OUT "eg0"		   /* the end the routes point to */
#define EG_HAIRPIN_ALIAS "espgate hairpin" /* IFLA_IFALIAS of a pair espgated created */
#define EG_HAIRPIN_NET 0xa9fe4544u	   /* 169.254.69.68/30, host order: eg0 .69, eg1 .70 */

enum eg_hairpin_limits {
	EG_RTPROT = 0x45, /* rtm_protocol of our routes ('E'; unused in iproute2's rt_protos) */
	EG_HAIRPIN_MAX_ROUTES = 256,
};

/* One route: IPv4 addresses in network order. */
struct eg_hairpin_route {
	uint32_t dst;
	uint8_t len;
	uint32_t src;
};

/*
 * The routes cfg needs given the host's IPv4 addresses (network order): 0..max entries in out,
 * duplicates merged (the first child's source wins). Pure: tests call it without a kernel.
 */
size_t eg_hairpin_plan(const struct eg_config_file *cfg, const uint32_t *host, size_t n_host,
		       struct eg_hairpin_route *out, size_t max);

/* What eg_hairpin_apply() left in place: eg0's ifindex (0: no hairpin) and our routes. */
struct eg_hairpin_state {
	int ifindex_out;
	size_t n;
	struct eg_hairpin_route r[EG_HAIRPIN_MAX_ROUTES];
};

/*
 * Makes the host match cfg: when the plan is empty, removes our routes and a pair we created;
 * otherwise creates (or re-uses) eg0/eg1, sets their addresses, brings them up, adds or replaces
 * the planned routes and deletes our routes that are no longer planned. *st (may be NULL) gets
 * the routes installed and eg0's ifindex. Call it before eg_host_apply() and eg_dp_open() (or, on
 * a reload, eg_dp_hairpin()), which configure eg1 only when it exists. Returns 0 or -errno with
 * err naming what failed.
 */
int eg_hairpin_apply(const struct eg_config_file *cfg, struct eg_hairpin_state *st, char *err,
		     size_t errlen);

/* espgated --detach: deletes our routes, and eg0/eg1 when we created them. 0 or -errno. */
int eg_hairpin_remove(char *err, size_t errlen);

#endif /* EG_HAIRPIN_H */
