// SPDX-License-Identifier: GPL-2.0-only
/*
 * XDP on the gateway's ingress (eth0): the first program every frame meets. It parses the frame
 * (Ethernet, VLAN, IPv4/IPv6), counts it, and passes it to the stack. Classification, NAT,
 * conntrack, ESP/IKE steering and MSS clamping are built on this parse (see docs/DESIGN.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "espgate_abi.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"

SEC("xdp")
int xdp_eg_ingress(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	__u64 len = c.end - c.pos;
	struct ethhdr *eth;
	__be16 proto;

	eg_count(EG_STAT_RX, len);
	proto = parse_eth(&c, &eth);
	if (!proto) {
		eg_count(EG_STAT_DROP_MALFORMED, len);
		return XDP_DROP;
	}
	if (proto == bpf_htons(ETH_P_IP) && !parse_ipv4(&c)) {
		eg_count(EG_STAT_DROP_MALFORMED, len);
		return XDP_DROP;
	}
	eg_count(EG_STAT_PASS, len);
	return XDP_PASS;
}
