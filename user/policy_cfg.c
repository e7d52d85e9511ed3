// SPDX-License-Identifier: GPL-2.0-only
/*
 * eg_policy_priority() for config selectors. Kept apart from policy.c because user/config.h and
 * headers/espgate_abi.h both define struct eg_child / eg_nat_rule and cannot share a file.
 */
#include "config.h"
#include "policy.h"

static bool ports_any(const struct eg_selector *s)
{
	return s->port_lo == 0 && s->port_hi == 65535;
}

uint32_t eg_policy_priority(const struct eg_selector *local, const struct eg_selector *remote,
			    unsigned int order)
{
	uint8_t proto = local->proto ? local->proto : remote->proto;

	if (local->net.af != remote->net.af)
		return 0;
	return eg_policy_priority_raw(local->net.af, local->net.len, remote->net.len, proto,
				      ports_any(local), ports_any(remote), order);
}
