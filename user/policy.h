/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one function that orders espgate's XFRM policies: a selector pair's priority (lower wins in
 * the kernel) from its specificity, so the kernel's policy lookup and the BPF classifier's
 * candidate lists (sorted by the same value, user/dp_maps.c) always agree. See
 * headers/espgate_abi.h (EG_PRIO_*) and docs/DESIGN.md.
 */
#ifndef EG_POLICY_H
#define EG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* user/config.h's selector (prefix, protocol, port range). Only declared here: config.h and
 * espgate_abi.h cannot be included together today, so policy_cfg.c holds the wrapper. */
struct eg_selector;

enum eg_policy_limits {
	EG_PRIO_MAX_ORDER = 1024, /* config order values 0..1023 */
};

/*
 * Priority of a selector pair from its parts: longer source+destination prefixes first (IPv6
 * lengths count a quarter, so both families span 0..64), then a fixed protocol, then fewer "any"
 * port ranges, then config order. Unique for distinct orders; within
 * [EG_PRIO_CHILD_BASE, EG_PRIO_FALLBACK_BASE). Returns 0 if order >= EG_PRIO_MAX_ORDER or a
 * length is out of range.
 */
uint32_t eg_policy_priority_raw(unsigned int af, unsigned int src_len, unsigned int dst_len,
				uint8_t proto, bool sport_any, bool dport_any, unsigned int order);

/* The same for a (local, remote) pair of config selectors (user/policy_cfg.c). */
uint32_t eg_policy_priority(const struct eg_selector *local, const struct eg_selector *remote,
			    unsigned int order);

#endif /* EG_POLICY_H */
