// SPDX-License-Identifier: GPL-2.0-only
/*
 * XDP on the gateway's ingress (eth0): the first program every frame meets. Plaintext from the
 * inside is looked up in conntrack or classified against the outbound selectors, translated
 * (SNAT 1:1 / prefix / pool, inside DNAT, masquerade for flows bound for no tunnel), its SYN MSS
 * clamped, and passed to the stack with the child's mark in the XDP metadata so the kernel's
 * XFRM policy encrypts it; only flows bound for no tunnel may take bpf_fib_lookup + redirect.
 * ESP to the gateway with an unknown SPI is dropped, IKE to it is rate-limited per source (an
 * inside host's own ESP/IKE elsewhere is classified like any packet). IPv6, non-IP and the cloud
 * platform's addresses pass untouched. Every frame is counted once under RX and once under its
 * outcome (docs/DESIGN.md, "Datapath").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "espgate_abi.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/ct.h"
#include "lib/nat.h"
#include "lib/classify.h"
#include "lib/esp.h"
#include "lib/dp.h"

static __always_inline void child_count_out(__u32 child, __u64 bytes)
{
	struct eg_child_stats *s = bpf_map_lookup_elem(&eg_child_stats, &child);

	if (s) {
		s->pkts_out++;
		s->bytes_out += bytes;
	}
}

/*
 * The express lane, for the commonest packet: untagged IPv4 without options or fragmentation,
 * TCP without SYN/FIN/RST or UDP not to port 500/4500, of a flow bound for no tunnel that this
 * CPU's flow cache answers for, EG_CFG_REDIRECT off. It gives such a packet what the full path
 * gives it (the same checks, bytes and counters: RX, then NAT_PLAIN or PASS) without building
 * struct eg_pkt and struct eg_act, whose zeroing, spills and general parsing were a good part of
 * the cache-hit path's cost. Anything else returns -1 with nothing written or counted, and the
 * full path decides from scratch. Keep in step with eg_parse, eg_steer, fc_usable, fc_hit and
 * apply_xdp's csum_pre branch (tests/bpf/test_dp_cache.c runs both on the same flows).
 */
static __always_inline int xdp_express(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__be16 *l4 = (void *)(ip + 1);
	__u32 zero = 0, len = end - data, ip_len, stat;
	struct eg_flow_slot *fs;
	struct eg_config *cfg;
	struct eg_ct_key t;
	__u8 *th = (void *)l4;

	if ((void *)(l4 + 4) > end || eth->h_proto != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	ip_len = bpf_ntohs(ip->tot_len);
	if (ip_len < sizeof(*ip) + 8 || sizeof(*eth) + ip_len > len)
		return -1;
	if (ip->protocol == EG_IPPROTO_TCP) {
		if ((void *)(l4 + 10) > end || (th[12] >> 4) < 5 ||
		    (__u32)(th[12] >> 4) * 4 > ip_len - sizeof(*ip) ||
		    (th[13] & (EG_TCP_SYN | EG_TCP_FIN | EG_TCP_RST)))
			return -1;
	} else if (ip->protocol != EG_IPPROTO_UDP || l4[1] == bpf_htons(EG_NATT_PORT) ||
		   l4[1] == bpf_htons(EG_IKE_PORT)) {
		return -1;
	}
	__builtin_memset(&t, 0, sizeof(t));
	t.saddr = ip->saddr;
	t.daddr = ip->daddr;
	t.sport = l4[0];
	t.dport = l4[1];
	t.proto = ip->protocol;
	fs = fc_slot(&t);
	if (!fs || !fc_key_eq(fs, &t))
		return -1;
	cfg = bpf_map_lookup_elem(&eg_config, &zero);
	if (!cfg || (cfg->flags & (EG_CFG_ENABLED | EG_CFG_REDIRECT)) != EG_CFG_ENABLED ||
	    eg_platform(t.saddr) || eg_platform(t.daddr))
		return -1;
	if (fs->gen != cfg->gen || bpf_jiffies64() >= fs->until || (fs->flags & EG_CT_TO_TUNNEL) ||
	    !fs->csum_pre)
		return -1;
	/* TCP was checked to l4 + 10 above: fc_rewrite cannot fail here */
	fc_rewrite(ip, l4, end, t.proto, &fs->xlate, fs->changes, fs->ip_acc, fs->l4_acc);
	stat = fs->changes ? EG_STAT_NAT_PLAIN : EG_STAT_PASS;
	eg_count(EG_STAT_RX, len);
	eg_count(stat, len);
	return XDP_PASS;
}

/* The full path: every packet the express lane did not answer. */
static __noinline int xdp_full(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	__u64 len = c.end - c.pos;
	struct eg_pkt p = {};
	struct eg_act a = {};
	struct eg_config *cfg;
	struct eg_flow_slot *fs = NULL;
	struct eg_xdp_meta *m;
	__u32 zero = 0, cpu = 0;
	bool fc_key = false;
	int ret;

	eg_count(EG_STAT_RX, len);
	ret = eg_parse(&c, len, &p);
	if (ret < 0)
		goto drop;
	if (ret == 0)
		goto pass;
	/* An established flow's packet is answered from this CPU's flow cache when it can be:
	 * one cache line instead of a hash lookup and a conntrack refresh. The slot's key is read
	 * first, so that its line (often not in L1 under many flows) is on its way while the checks
	 * below, which do not need it, run; the slot answers only after them. */
	if (fc_usable(&p)) {
		fs = fc_slot(&p.t);
		fc_key = fs && fc_key_eq(fs, &p.t);
	}
	cfg = bpf_map_lookup_elem(&eg_config, &zero);
	if (!cfg || !(cfg->flags & EG_CFG_ENABLED))
		goto pass;
	if (eg_platform(p.t.saddr) || eg_platform(p.t.daddr))
		goto pass;

	ret = eg_steer(ctx, ctx->ingress_ifindex, &p, cfg, &cpu);
	if (ret < 0)
		goto drop;
	if (ret == EG_STEER_ESP) {
		eg_count(EG_STAT_ESP_PASS, len);
		if (cfg->flags & EG_CFG_CPUMAP)
			return bpf_redirect_map(&eg_cpumap, cpu, XDP_PASS);
		return XDP_PASS;
	}
	if (ret == EG_STEER_IKE) {
		eg_count(EG_STAT_IKE_PASS, len);
		return XDP_PASS;
	}

	ret = fs && fc_key ? fc_hit(fs, cfg, &a) : EG_FC_MISS;
	if (ret == EG_FC_MISS) {
		ret = eg_flow_out(&p, cfg, &a);
		if (!ret && a.ct_hit && fs)
			fc_fill(fs, &p, cfg, &a);
	}
	if (ret < 0)
		goto drop;
	ret = apply_xdp(ctx, &p, &a);
	if (ret < 0)
		goto drop;
	if (ret > 0)
		eg_count(EG_STAT_MSS_CLAMPED, 0);
	if (a.child) {
		/* Tunnel-bound: always to the stack, with the child's mark for tc. */
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m))) {
			ret = -EG_STAT_DROP_INTERNAL;
			goto drop;
		}
		m = (void *)(long)ctx->data_meta;
		if ((void *)(m + 1) > (void *)(long)ctx->data) {
			ret = -EG_STAT_DROP_INTERNAL;
			goto drop;
		}
		m->magic = EG_META_MAGIC;
		m->mark = EG_MARK_OUT(a.child);
		child_count_out(a.child, len);
		eg_count(a.stat, len);
		return XDP_PASS;
	}
	if (a.may_redirect && (cfg->flags & EG_CFG_REDIRECT) && xdp_fwd(ctx, &p) == XDP_REDIRECT) {
		eg_count(EG_STAT_REDIRECT, len);
		return XDP_REDIRECT;
	}
	eg_count(a.stat, len);
	return XDP_PASS;
pass:
	eg_count(EG_STAT_PASS, len);
	return XDP_PASS;
drop:
	eg_count(-ret, len);
	return XDP_DROP;
}

/* The express lane first; the full path, with its packet and action structs, only without it
 * (out of line: inlined, clang zeroed those structs before the express lane ran). */
SEC("xdp")
int xdp_eg_ingress(struct xdp_md *ctx)
{
	int ret = xdp_express(ctx);

	return ret >= 0 ? ret : xdp_full(ctx);
}
