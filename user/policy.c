// SPDX-License-Identifier: GPL-2.0-only
/*
 * XFRM policy priorities (see policy.h). The value packs, from most to least significant:
 * 64 - combined prefix length (7 bits), "protocol is any" (1 bit), number of port ranges that are
 * restricted, inverted (2 bits), config order (10 bits); then EG_PRIO_CHILD_BASE is added. The
 * maximum, EG_PRIO_CHILD_BASE + 0x81fff, stays below EG_PRIO_FALLBACK_BASE.
 */
#include <sys/socket.h>
#include "espgate_abi.h"
#include "policy.h"

uint32_t eg_policy_priority_raw(unsigned int af, unsigned int src_len, unsigned int dst_len,
				uint8_t proto, bool sport_any, bool dport_any, unsigned int order)
{
	unsigned int max = af == AF_INET6 ? 128 : 32, len, spec;

	if (order >= EG_PRIO_MAX_ORDER || src_len > max || dst_len > max)
		return 0;
	len = src_len + dst_len;
	if (af == AF_INET6)
		len /= 4;
	spec = (64 - len) << 3;
	spec |= (proto ? 0u : 1u) << 2;
	spec |= (unsigned int)sport_any + (unsigned int)dport_any;
	return EG_PRIO_CHILD_BASE + (spec << 10) + order;
}
