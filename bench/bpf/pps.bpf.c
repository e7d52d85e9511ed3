// SPDX-License-Identifier: GPL-2.0-only
/*
 * Packets-per-second benchmark programs (bench/pps_bench.c, bench/pps.sh; not part of the
 * datapath object). pps_gen is run by BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES inside the
 * gateway namespace as if its frames arrived on the gateway's ingress veth: live-frame pages are
 * recycled with the previous run's edits (NATed addresses, TTL, MACs), so every run first
 * rewrites the whole Ethernet/IPv4/UDP header from one of the flow templates, then drops (the
 * generator's own cost), passes to the stack, or tail-calls espgate's xdp_eg_ingress. In
 * new-connection mode each frame gets a source port of its own (checksum updated, RFC 1624).
 * pps_sink, native XDP on the receiver's veth, counts every frame and checks that it arrived
 * translated as expected (addresses, port, TTL) with valid IPv4 and UDP checksums, recomputed in
 * full: a throughput figure without that check would prove nothing (../shared/BENCH.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PPS_HDR 42 /* Ethernet + IPv4 (no options) + UDP */
#define PPS_FLOWS 256

enum pps_mode {
	PPS_DROP = 0,
	PPS_PASS,
	PPS_TAIL,
};

struct pps_gen_cfg {
	__u32 mode;	  /* enum pps_mode */
	__u32 flow_mask;  /* templates used: counter & flow_mask */
	__u32 newconn;	  /* 1: source port = sport_base + counter (one flow per frame) */
	__u32 sport_base; /* host order */
	__u64 counter;
};

struct pps_tmpl {
	__u8 b[48]; /* PPS_HDR bytes used */
};

struct pps_sink_cfg {
	__be32 saddr; /* expected source, 0 = any */
	__be32 daddr; /* expected destination */
	__be16 dport; /* expected destination port, 0 = any */
	__u8 ttl;     /* expected TTL */
	__u8 pad;
};

enum pps_cnt {
	PPS_OK = 0,
	PPS_BAD_CSUM,
	PPS_BAD_XLATE,
	PPS_OTHER, /* not IPv4/UDP (ARP, IPv6 ND...): passed */
	PPS_CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pps_gen_cfg);
} pps_gen_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PPS_FLOWS);
	__type(key, __u32);
	__type(value, struct pps_tmpl);
} pps_tmpls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pps_jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pps_sink_cfg);
} pps_sink_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PPS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pps_cnt SEC(".maps");

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

SEC("xdp")
int pps_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct pps_gen_cfg *cfg;
	struct pps_tmpl *t;
	__u32 zero = 0, idx;
	__u64 n;

	if (data + PPS_HDR > end)
		return XDP_ABORTED;
	cfg = bpf_map_lookup_elem(&pps_gen_cfg, &zero);
	if (!cfg)
		return XDP_ABORTED;
	n = cfg->counter++;
	idx = (__u32)n & cfg->flow_mask;
	t = bpf_map_lookup_elem(&pps_tmpls, &idx);
	if (!t)
		return XDP_ABORTED;
	__builtin_memcpy(data, t->b, PPS_HDR);
	if (cfg->newconn) {
		struct udphdr *uh = data + 34;
		__u16 old = uh->source, new = bpf_htons((__u16)(cfg->sport_base + n));

		uh->source = new;
		if (uh->check) {
			__u16 c = ~fold((__u32)(__u16)~uh->check + (__u16)~old + new);

			uh->check = c ?: 0xffff;
		}
	}
	if (cfg->mode == PPS_TAIL) {
		bpf_tail_call(ctx, &pps_jmp, 0);
		return XDP_ABORTED;
	}
	return cfg->mode == PPS_PASS ? XDP_PASS : XDP_DROP;
}

static __always_inline void count(__u32 k)
{
	__u64 *c = bpf_map_lookup_elem(&pps_cnt, &k);

	if (c)
		(*c)++;
}

SEC("xdp")
int pps_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *uh = data + sizeof(*eth) + sizeof(*ip);
	struct pps_sink_cfg *cfg;
	__u32 zero = 0, s = 0, ulen;
	__u16 *w;

	if ((void *)(uh + 1) > end || eth->h_proto != bpf_htons(0x0800) || ip->ihl != 5 ||
	    ip->protocol != 17) {
		count(PPS_OTHER);
		return XDP_PASS;
	}
	cfg = bpf_map_lookup_elem(&pps_sink_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	w = (__u16 *)ip;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	if (fold(s) != 0xffff) {
		count(PPS_BAD_CSUM);
		return XDP_DROP;
	}
	ulen = bpf_ntohs(uh->len);
	if (uh->check) {
		s = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) +
		    (ip->daddr >> 16) + bpf_htons(17) + uh->len;
		w = (__u16 *)uh;
		for (int i = 0; i < 64; i++) {
			if (i * 2 + 2 > ulen || (void *)(w + i + 1) > end)
				break;
			s += w[i];
		}
		if ((ulen & 1) && ulen < 128 && (void *)((__u8 *)uh + ulen) <= end)
			s += *((__u8 *)uh + ulen -
			       1); /* little-endian: the odd byte is the low one */
		if (fold(s) != 0xffff) {
			count(PPS_BAD_CSUM);
			return XDP_DROP;
		}
	}
	if ((cfg->saddr && ip->saddr != cfg->saddr) || ip->daddr != cfg->daddr ||
	    (cfg->dport && uh->dest != cfg->dport) || ip->ttl != cfg->ttl) {
		count(PPS_BAD_XLATE);
		return XDP_DROP;
	}
	count(PPS_OK);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
