/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the kernel gets for a CHILD SA: the engine's negotiated SA (ike.h) as an
 * XFRM SA with the kernel's algorithm names, outer addresses, NAT-T
 * encapsulation, lifetimes and the child's marks and reqid (espgate_abi.h), and
 * the XFRM policies of a configured child (out, in/fwd and the fail-closed
 * fallbacks, docs/DESIGN.md). Pure functions: no netlink here (xfrm.h
 * installs).
 */
#ifndef EG_IPSEC_H
#define EG_IPSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike.h"
#include "ike_ts.h"
#include "xfrm.h"

struct eg_tunnel;
struct eg_cfg_child;

enum eg_ipsec_limits {
	EG_IPSEC_DEF_REPLAY =
		128, /* packets; strongSwan's default window is 32, kernels take more */
	EG_IPSEC_MAX_POLICIES = 1024, /* per child, after splitting ranges into prefixes */
};

/*
 * The XFRM SA for one direction of a CHILD SA event. child_id is derived from
 * the reqid. Returns 0, or -EINVAL with the reason in err (an algorithm the
 * kernel has no name for, a reqid that is not ours). The caller clears sa
 * (xfrm_sa_clear) after use: it holds keys.
 */
int eg_ipsec_sa(const struct ike_child_sa *c, uint32_t replay_window, struct xfrm_sa *sa, char *err,
		size_t errlen);

/* The kernel name and truncation of an integrity transform; NULL if unknown. */
const char *eg_ipsec_integ_name(uint16_t integ, uint32_t *trunc_bits);

/*
 * The XFRM policies of one configured child (docs/DESIGN.md, "XFRM policies"): for every
 * (local, remote) selector pair an out policy that matches the child's out mark and a fail-closed
 * unmarked block policy behind it; one in and one fwd policy matching the child's in mark (set
 * by its inbound SA on decrypted packets, so the selectors can be wildcards: tc checks the
 * negotiated selectors after reverse NAT); and unmarked in/fwd block policies for the remote
 * selectors, so plaintext claiming to come from the partner's range is dropped. `order` is the
 * child's first config-order slot; *order_used says how many it took. local/remote are the
 * tunnel's outer addresses (the templates' endpoints). Returns 0, -ENOSPC when max is too small,
 * or -EINVAL.
 */
int eg_ipsec_child_policies(const struct eg_cfg_child *c, uint32_t child_id,
			    const struct ike_addr *local, const struct ike_addr *remote,
			    unsigned int order, unsigned int *order_used, struct xfrm_pol *out,
			    unsigned int max, unsigned int *n);

#endif /* EG_IPSEC_H */
