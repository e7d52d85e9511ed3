/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Cursor-based packet parsing shared by the XDP and tc programs: every header is pulled through
 * cur_pull(), which checks it against data_end, so no access can run past the packet.
 */
#ifndef EG_BPF_PARSE_H
#define EG_BPF_PARSE_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

struct cursor {
	void *pos;
	void *end;
};

static __always_inline void *cur_pull(struct cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

/* Ethernet with up to EG_MAX_VLAN_DEPTH VLAN tags; returns the inner ethertype (network order)
 * or 0 if the frame is too short. */
static __always_inline __be16 parse_eth(struct cursor *c, struct ethhdr **eth)
{
	struct vlan_hdr {
		__be16 tci;
		__be16 proto;
	} * vh;
	__be16 proto;

	*eth = cur_pull(c, sizeof(**eth));
	if (!*eth)
		return 0;
	proto = (*eth)->h_proto;
#pragma unroll
	for (int i = 0; i < EG_MAX_VLAN_DEPTH; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		vh = cur_pull(c, sizeof(*vh));
		if (!vh)
			return 0;
		proto = vh->proto;
	}
	return proto;
}

/* IPv4 header including options; NULL if truncated or IHL < 5. */
static __always_inline struct iphdr *parse_ipv4(struct cursor *c)
{
	struct iphdr *ip = cur_pull(c, sizeof(*ip));
	__u32 hlen;

	if (!ip)
		return NULL;
	hlen = ip->ihl * 4; /* read once: re-reading ip->ihl loses the bound */
	if (hlen < sizeof(*ip) || !cur_pull(c, hlen - sizeof(*ip)))
		return NULL;
	return ip;
}

#endif /* EG_BPF_PARSE_H */
