/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ESP and IKE steering on XDP ingress. ESP is protocol 50, or UDP 4500 whose first payload word
 * (the SPI) is non-zero (RFC 3948 2.2); a zero word there is the non-ESP marker of IKE, and one
 * 0xff byte is a NAT-T keepalive (RFC 3948 2.3). ESP for an (SPI, destination) espgated did not
 * install is dropped and counted; IKE (UDP 500, or 4500 with the marker) passes a per-source
 * token bucket (tokens scaled by 1000, refilled at eg_config.ike_rate per second up to ike_burst).
 * Only packets addressed to the gateway itself are claimed: an inside host's own NAT-T, IKE or
 * ESP on its way elsewhere (through the masquerade or a tunnel) is classified like any packet.
 */
#ifndef EG_BPF_ESP_H
#define EG_BPF_ESP_H

#ifndef EG_AF_INET
#define EG_AF_INET 2
#endif

enum eg_steer {
	EG_STEER_NONE = 0, /* not ESP or IKE: continue */
	EG_STEER_ESP,	   /* known SPI: pass (or to cpu) */
	EG_STEER_IKE,	   /* IKE within its rate, or keepalive: pass */
};

static __always_inline int ike_admit(const struct eg_config *cfg, __be32 src)
{
	struct eg_ike_bucket *b, nb = {};
	__u64 now, full, elapsed;

	if (!cfg->ike_rate)
		return 0;
	now = bpf_ktime_get_ns();
	full = (__u64)(cfg->ike_burst ?: 1) * 1000;
	b = bpf_map_lookup_elem(&eg_ike_buckets, &src);
	if (!b) {
		nb.last = now;
		nb.tokens = full - 1000;
		bpf_map_update_elem(&eg_ike_buckets, &src, &nb, BPF_ANY);
		return 0;
	}
	elapsed = now - b->last;
	if (elapsed > 100 * EG_NSEC)
		elapsed = 100 * EG_NSEC;
	b->tokens += elapsed / 1000 * cfg->ike_rate / 1000;
	if (b->tokens > full)
		b->tokens = full;
	b->last = now;
	if (b->tokens < 1000)
		return -EG_STAT_DROP_IKE_RATELIMIT;
	b->tokens -= 1000;
	return 0;
}

/*
 * Is the packet addressed to this host? The kernel's own input route lookup, as the stack would
 * do it for a packet arriving on ifindex: a local (or broadcast) destination is "not forwarded".
 * Only asked for ESP and IKE-port packets that no known SPI already claimed, never on the
 * plaintext path. Anything the lookup cannot answer (forwarding off on ifindex, where the stack
 * forwards nothing anyway; no route; an error) counts as ours, so that it meets the unknown-SPI
 * drop and the IKE rate limit as before. ifindex 0: never ours (the eg1 hairpin, which only
 * carries packets the host routed away). A packet to us that conntrack knows is not ours either:
 * it is the reply of a flow we translated (an inside host's NAT-T through the masquerade comes
 * back to the gateway's address, to port 4500 when the pool kept it).
 */
static __always_inline bool eg_to_us(void *ctx, const struct eg_pkt *p, __u32 ifindex)
{
	struct bpf_fib_lookup f = {};
	long rc;

	if (!ifindex)
		return false;
	f.family = EG_AF_INET;
	f.l4_protocol = p->t.proto;
	f.sport = p->t.sport;
	f.dport = p->t.dport;
	f.ipv4_src = p->t.saddr;
	f.ipv4_dst = p->t.daddr;
	f.ifindex = ifindex;
	rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
	if (rc >= 0 && rc != BPF_FIB_LKUP_RET_NOT_FWDED && rc != BPF_FIB_LKUP_RET_FWD_DISABLED)
		return false;
	return !bpf_map_lookup_elem(&eg_ct, &p->t);
}

/*
 * Returns enum eg_steer or -EG_STAT_DROP_*; *cpu is the steering target of a known SPI. ctx and
 * ifindex are the program's context and the receiving interface, for eg_to_us().
 */
static __always_inline int eg_steer(void *ctx, __u32 ifindex, const struct eg_pkt *p,
				    const struct eg_config *cfg, __u32 *cpu)
{
	struct eg_spi_key k = { .daddr = p->t.daddr };
	struct eg_spi_val *v;
	int err;

	if (p->frag)
		return EG_STEER_NONE;
	if (p->t.proto == EG_IPPROTO_ESP) {
		k.spi = p->spi;
	} else if (p->t.proto == EG_IPPROTO_UDP && p->t.dport == bpf_htons(EG_NATT_PORT)) {
		if (p->udp_plen >= 4 && p->spi != 0) {
			k.spi = p->spi;
		} else {
			if (!eg_to_us(ctx, p, ifindex))
				return EG_STEER_NONE;
			if (p->udp_plen == 1 && p->udp_first == 0xff)
				return EG_STEER_IKE;
			if (p->udp_plen < 4)
				return -EG_STAT_DROP_MALFORMED;
			err = ike_admit(cfg, p->t.saddr);
			return err ?: EG_STEER_IKE;
		}
	} else if (p->t.proto == EG_IPPROTO_UDP && p->t.dport == bpf_htons(EG_IKE_PORT)) {
		if (!eg_to_us(ctx, p, ifindex))
			return EG_STEER_NONE;
		err = ike_admit(cfg, p->t.saddr);
		return err ?: EG_STEER_IKE;
	} else {
		return EG_STEER_NONE;
	}
	/* a known SPI: its key holds our own address, so no route lookup is needed */
	v = bpf_map_lookup_elem(&eg_spis, &k);
	if (v) {
		*cpu = v->cpu;
		return EG_STEER_ESP;
	}
	if (!eg_to_us(ctx, p, ifindex))
		return EG_STEER_NONE;
	return -EG_STAT_DROP_UNKNOWN_SPI;
}

#endif /* EG_BPF_ESP_H */
