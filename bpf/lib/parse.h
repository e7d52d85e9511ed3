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

#define EG_IPPROTO_ICMP 1
#define EG_IPPROTO_TCP 6
#define EG_IPPROTO_UDP 17
#define EG_IPPROTO_ESP 50
#define EG_TCP_FIN 0x01
#define EG_TCP_SYN 0x02
#define EG_TCP_RST 0x04
#define EG_TCP_ACK 0x10
#define EG_ICMP_ECHOREPLY 0
#define EG_ICMP_ECHO 8
#define EG_IKE_PORT 500
#define EG_NATT_PORT 4500

/* What the programs need to know about an IPv4 packet, parsed once. Offsets are from the start
 * of the frame so the apply step can re-derive (and re-check) pointers after helpers that
 * invalidate them. */
struct eg_pkt {
	struct eg_ct_key t; /* wire tuple; ports 0 when the packet has none */
	__u32 l3_off;
	__u32 l4_off;
	__u32 ip_len;	  /* IPv4 total length */
	__be32 spi;	  /* ESP / ESP-in-UDP: the SPI; UDP 500/4500: first payload word */
	__u8 l4_hdr;	  /* the L4 header is in the packet (not a non-first fragment) */
	__u8 ports;	  /* the tuple carries ports (TCP, UDP, ICMP echo id) */
	__u8 frag;	  /* MF set or non-zero offset */
	__u8 tcp_flags;	  /* TCP only */
	__u8 tcp_hlen;	  /* TCP header length in bytes, options included */
	__u8 icmp_type;	  /* ICMP only */
	__u8 csum_off;	  /* L4 checksum offset from l4_off; 0 = no L4 checksum to maintain */
	__u8 udp_plen;	  /* UDP payload length, capped at 255 (ESP-in-UDP / IKE steering) */
	__u8 udp_first;	  /* first UDP payload byte (NAT-T keepalive is one 0xff byte) */
	__u8 icmp_err;	  /* ICMP error (3, 4, 11, 12) whose embedded header was parsed into it */
	__u8 in_csum_off; /* embedded L4 checksum offset from in_l4_off, 0 = not in the packet */
	__u8 pad;
	struct eg_ct_key it; /* ICMP error: the embedded (original) packet's tuple */
	__u32 in_l3_off;     /* ICMP error: offsets of the embedded IPv4 and L4 headers */
	__u32 in_l4_off;
};

#define EG_ICMP_UNREACH 3
#define EG_ICMP_QUENCH 4
#define EG_ICMP_TIMXCEED 11
#define EG_ICMP_PARAMPROB 12

/*
 * The header an ICMP error quotes (RFC 792: the IPv4 header and at least 8 bytes of its payload):
 * fills p->it and the offsets. Quotes we cannot read in full (truncated, a fragment, IPv4
 * options past the cursor, or an ICMP error about an ICMP error) leave p->icmp_err 0 and the
 * packet is handled as plain ICMP.
 */
static __always_inline void parse_icmp_err(struct cursor *c, void *start, __u32 pkt_end,
					   struct eg_pkt *p)
{
	struct iphdr *ip = parse_ipv4(c);
	__u32 l4;
	__u8 *h;

	if (!ip || ip->version != 4 || (bpf_ntohs(ip->frag_off) & 0x1fff))
		return;
	p->in_l3_off = (void *)ip - start;
	p->in_l4_off = l4 = c->pos - start;
	h = cur_pull(c, 8);
	if (!h || l4 + 8 > pkt_end)
		return;
	p->it.saddr = ip->saddr;
	p->it.daddr = ip->daddr;
	p->it.proto = ip->protocol;
	switch (ip->protocol) {
	case EG_IPPROTO_TCP:
		p->it.sport = *(__be16 *)h;
		p->it.dport = *(__be16 *)(h + 2);
		if (l4 + 18 <= pkt_end && cur_pull(c, 10))
			p->in_csum_off = 16;
		break;
	case EG_IPPROTO_UDP:
		p->it.sport = *(__be16 *)h;
		p->it.dport = *(__be16 *)(h + 2);
		p->in_csum_off = 6;
		break;
	case EG_IPPROTO_ICMP:
		if (h[0] == EG_ICMP_ECHO)
			p->it.sport = *(__be16 *)(h + 4);
		else if (h[0] == EG_ICMP_ECHOREPLY)
			p->it.dport = *(__be16 *)(h + 4);
		else
			return;
		p->in_csum_off = 2;
		break;
	default:
		break;
	}
	p->icmp_err = 1;
}

/*
 * Parses Ethernet/VLAN/IPv4/L4 from the cursor. `pkt_len` is the whole packet's length (for tc
 * the cursor only covers the linear part). Returns 1 for IPv4, 0 for anything else (passed on
 * untouched, IPv6 included), or -EG_STAT_DROP_MALFORMED. A packet whose L4 header is cut short
 * is malformed: the kernel would drop it too.
 */
static __always_inline int eg_parse(struct cursor *c, __u32 pkt_len, struct eg_pkt *p)
{
	void *start = c->pos;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u16 frag_off;
	__be16 proto;
	__u32 ihl;

	proto = parse_eth(c, &eth);
	if (!proto)
		return -EG_STAT_DROP_MALFORMED;
	if (proto != bpf_htons(ETH_P_IP))
		return 0;
	p->l3_off = c->pos - start;
	ip = parse_ipv4(c);
	if (!ip || ip->version != 4)
		return -EG_STAT_DROP_MALFORMED;
	ihl = ip->ihl * 4;
	p->ip_len = bpf_ntohs(ip->tot_len);
	if (p->ip_len < ihl || p->l3_off + p->ip_len > pkt_len)
		return -EG_STAT_DROP_MALFORMED;
	p->l4_off = c->pos - start;
	p->t.saddr = ip->saddr;
	p->t.daddr = ip->daddr;
	p->t.proto = ip->protocol;
	frag_off = bpf_ntohs(ip->frag_off);
	p->frag = (frag_off & 0x3fff) != 0;
	if (frag_off & 0x1fff)
		return 1; /* non-first fragment: addresses only */
	p->l4_hdr = 1;

	switch (ip->protocol) {
	case EG_IPPROTO_TCP: {
		struct tcphdr *th = cur_pull(c, sizeof(*th));
		__u32 hlen;

		if (!th)
			return -EG_STAT_DROP_MALFORMED;
		hlen = th->doff * 4;
		if (hlen < sizeof(*th) || hlen > p->ip_len - ihl)
			return -EG_STAT_DROP_MALFORMED;
		p->tcp_hlen = hlen;
		p->tcp_flags = ((__u8 *)th)[13];
		p->t.sport = th->source;
		p->t.dport = th->dest;
		p->ports = !p->frag;
		p->csum_off = 16;
		break;
	}
	case EG_IPPROTO_UDP: {
		struct udphdr *uh = cur_pull(c, sizeof(*uh));
		__u32 plen;

		if (!uh || p->ip_len - ihl < sizeof(*uh))
			return -EG_STAT_DROP_MALFORMED;
		p->t.sport = uh->source;
		p->t.dport = uh->dest;
		p->ports = !p->frag;
		p->csum_off = 6;
		plen = p->ip_len - ihl - sizeof(*uh);
		p->udp_plen = plen > 255 ? 255 : plen;
		if (plen >= 4) {
			__be32 *w = cur_pull(c, 4);

			if (w)
				p->spi = *w;
		}
		if (plen >= 1) {
			__u8 *b = c->pos;

			if ((void *)(b + 1) <= c->end)
				p->udp_first = *b;
		}
		break;
	}
	case EG_IPPROTO_ICMP: {
		struct icmphdr *ih = cur_pull(c, sizeof(*ih));

		if (!ih || p->ip_len - ihl < sizeof(*ih))
			return -EG_STAT_DROP_MALFORMED;
		p->icmp_type = ih->type;
		p->csum_off = 2;
		if (p->frag)
			break;
		/* Echo: the identifier is the "port" of the querying side, so a request
		 * (id, 0) and its reply (0, id) are each other's reverse tuple. */
		if (ih->type == EG_ICMP_ECHO) {
			p->t.sport = ih->un.echo.id;
			p->ports = 1;
		} else if (ih->type == EG_ICMP_ECHOREPLY) {
			p->t.dport = ih->un.echo.id;
			p->ports = 1;
		} else if (ih->type == EG_ICMP_UNREACH || ih->type == EG_ICMP_TIMXCEED ||
			   ih->type == EG_ICMP_PARAMPROB || ih->type == EG_ICMP_QUENCH) {
			parse_icmp_err(c, start, p->l3_off + p->ip_len, p);
		}
		break;
	}
	case EG_IPPROTO_ESP: {
		__be32 *spi = cur_pull(c, 4);

		if (!spi || p->ip_len - ihl < 8)
			return -EG_STAT_DROP_MALFORMED;
		p->spi = *spi;
		break;
	}
	default:
		break;
	}
	return 1;
}

#endif /* EG_BPF_PARSE_H */
