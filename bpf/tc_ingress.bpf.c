// SPDX-License-Identifier: GPL-2.0-only
/*
 * tc ingress (clsact, direct action) on eth0. Two entry points share bpf/lib with XDP:
 *   tc_eg_ingress: beside native XDP. Plaintext XDP classified carries the child's mark in the
 *     XDP metadata; it is copied into skb->mark (XDP cannot set marks) so the child's XFRM out
 *     policy matches. Packets the kernel decrypted carry their SA's input mark EG_MARK_IN(child):
 *     they are checked against the child's negotiated selectors (fail closed), conntrack,
 *     transit and one-way rules, and reverse-translated.
 *   tc_eg_nat: where native XDP is unavailable (generic XDP would run again on decrypted
 *     packets and NAT them twice), or on the eg1 hairpin whose locally generated packets are
 *     CHECKSUM_PARTIAL: the whole outbound path runs here, plus the inbound checks.
 * A packet is never translated twice: the outbound path only runs on packets without our in
 * mark, the inbound path only on packets with it.
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

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define EG_TC_PULL 256 /* enough for Ethernet, 2 VLAN tags, IPv4 and TCP with options */

static __always_inline void child_count(__u32 child, __u64 bytes, bool in)
{
	struct eg_child_stats *s = bpf_map_lookup_elem(&eg_child_stats, &child);

	if (!s)
		return;
	if (in) {
		s->pkts_in++;
		s->bytes_in += bytes;
	} else {
		s->pkts_out++;
		s->bytes_out += bytes;
	}
}

/*
 * The partner's SYN or SYN-ACK (decrypted, already reverse-translated) advertises what its side
 * takes, more than fits into the tunnel with the ESP overhead: clamp it to the child's MSS, as
 * our own SYNs are on the way out. Path MTU discovery cannot stand in for this on translated
 * flows: the gateway's own "fragmentation needed" is addressed to the translated source (S5:
 * 100.64.1.10), which exists nowhere inside, so large segments would vanish (seen in the VM
 * tier). A global function, so the verifier checks it once on its own: inlined, the MSS walk
 * on every inbound path took 6.1's verifier past its 1M instructions on tc_eg_nat.
 * Returns 1 if the MSS was clamped, else 0.
 */
__noinline int eg_tc_clamp_in(struct __sk_buff *skb, __u32 l4_off, __u32 tcp_hlen, __u32 child)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct eg_pkt p = { .l4_off = l4_off & 0xff, .tcp_hlen = (__u8)tcp_hlen };
	struct eg_child *ch = bpf_map_lookup_elem(&eg_children, &child);
	__be16 *v, omss, nmss;
	__u32 moff;

	if (!ch || !ch->mss)
		return 0;
	moff = mss_find(data, end, &p);
	if (!moff)
		return 0;
	v = data + (moff & 0xff);
	if ((void *)(v + 1) > end || bpf_ntohs(*v) <= ch->mss)
		return 0;
	omss = *v;
	nmss = bpf_htons(ch->mss);
	*v = nmss;
	bpf_l4_csum_replace(skb, p.l4_off + 16, omss, nmss, 2);
	return 1;
}

#define EG_XFRM_MAX_DEPTH 6 /* the kernel's XFRM_MAX_DEPTH: SAs one sec_path can hold */

/*
 * Was the packet decrypted by child's SA? Its in mark alone does not prove it: anyone can set a
 * mark (iptables MARK, another tc program), and a marked plaintext packet would take the
 * inbound path as tunnel traffic, touching conntrack and being reverse-translated. The kernel
 * appends every SA that decapsulates a packet to its sec_path, which stays with the re-injected
 * inner packet up to the policy check: the last entry is the SA that set the mark, and it must
 * carry the child's reqid (EG_REQID). bpf_skb_get_xfrm_state() is a tc helper since 4.18 (6.1
 * and 6.18 alike): -ENOENT past the last entry or without a sec_path. A global function, so the
 * verifier checks the walk once. Returns 1 if so, else 0.
 */
__noinline int eg_tc_sa_child(struct __sk_buff *skb, __u32 child)
{
	struct bpf_xfrm_state x;
	__u32 reqid = 0;

	for (__u32 i = 0; i < EG_XFRM_MAX_DEPTH; i++) {
		if (bpf_skb_get_xfrm_state(skb, i, &x, sizeof(x), 0))
			break;
		reqid = x.reqid;
	}
	return child && reqid == EG_REQID(child);
}

/*
 * On the hairpin (eg1: tc_eg_nat with eg_config.hairpin_ifindex), every packet the host routed
 * into eg0 for a tunnel's remote selector: one that no child takes has nowhere to go but the same
 * route back into eg0, round and round until its TTL runs out. Dropped at once instead. Silently, as the kernel's own fallback block
 * policies drop forwarded traffic (and without an ICMP error built in BPF). Multicast and
 * broadcast are never forwarded: they pass.
 */
static __always_inline bool eg_hairpin_loops(const struct eg_act *a)
{
	return !a->child && (bpf_ntohl(a->nt.daddr) >> 28) < 0xe;
}

/* The full path: decrypted packets (our in mark), and everything under tc_eg_nat. */
static __always_inline int tc_run(struct __sk_buff *skb, bool nat)
{
	__u32 mark = skb->mark, len = skb->len, zero = 0, cpu = 0, child = 0;
	/* tc_eg_ingress only calls this for packets with our in mark */
	bool in = !nat || ((mark & EG_MARK_MAGIC_MASK) == EG_MARK_MAGIC && (mark & EG_MARK_DIR_IN));
	struct eg_pkt p = {};
	struct eg_act a = {};
	struct eg_config *cfg;
	struct cursor c;
	bool hairpin;
	int ret;

	eg_count(EG_STAT_RX, len);
	if (bpf_skb_pull_data(skb, len < EG_TC_PULL ? len : EG_TC_PULL)) {
		ret = -EG_STAT_DROP_INTERNAL;
		goto drop;
	}
	c.pos = (void *)(long)skb->data;
	c.end = (void *)(long)skb->data_end;
	ret = eg_parse(&c, len, &p);
	if (ret < 0)
		goto drop;
	if (ret == 0) {
		if (in) { /* decrypted non-IPv4: no IPv6 selectors yet, fail closed */
			ret = -EG_STAT_DROP_SELECTOR;
			goto drop;
		}
		goto pass;
	}
	cfg = bpf_map_lookup_elem(&eg_config, &zero);
	if (!cfg || !(cfg->flags & EG_CFG_ENABLED))
		goto pass;

	if (in) {
		child = mark & EG_MARK_CHILD_MASK;
		if ((cfg->flags & EG_CFG_SA_CHECK) && !eg_tc_sa_child(skb, child)) {
			ret = -EG_STAT_DROP_NOT_DECRYPTED;
			goto drop;
		}
		ret = eg_flow_in(&p, cfg, child, &a);
	} else {
		if (eg_platform(p.t.saddr) || eg_platform(p.t.daddr))
			goto pass;
		/* nothing on the hairpin is addressed to us: the host routed it into eg0 */
		hairpin = nat && cfg->hairpin_ifindex && skb->ifindex == cfg->hairpin_ifindex;
		ret = eg_steer(skb, hairpin ? 0 : skb->ifindex, &p, cfg, &cpu);
		if (ret < 0)
			goto drop;
		if (ret == EG_STEER_ESP || ret == EG_STEER_IKE) {
			eg_count(ret == EG_STEER_ESP ? EG_STAT_ESP_PASS : EG_STAT_IKE_PASS, len);
			return TC_ACT_OK;
		}
		ret = eg_flow_out(&p, cfg, &a);
		if (!ret && hairpin && eg_hairpin_loops(&a))
			ret = -EG_STAT_DROP_HAIRPIN_LOOP;
	}
	if (ret < 0)
		goto drop;
	ret = apply_tc(skb, &p, &a);
	if (ret < 0)
		goto drop;
	if (in && (p.tcp_flags & EG_TCP_SYN) && p.l4_hdr)
		ret = eg_tc_clamp_in(skb, p.l4_off, p.tcp_hlen, child);
	if (ret > 0)
		eg_count(EG_STAT_MSS_CLAMPED, 0);
	if (in) {
		child_count(child, len, true);
	} else if (a.child) {
		skb->mark = EG_MARK_OUT(a.child);
		child_count(a.child, len, false);
	}
	eg_count(a.stat, len);
	return TC_ACT_OK;
pass:
	eg_count(EG_STAT_PASS, len);
	return TC_ACT_OK;
drop:
	eg_count(-ret, len);
	return TC_ACT_SHOT;
}

/*
 * Beside XDP, nearly every packet is plaintext XDP has handled already: only the metadata-to-mark
 * copy is left, kept apart from tc_run so that this path pays for nothing else (clang would
 * otherwise zero tc_run's packet and action structs before the first branch).
 */
SEC("tc")
int tc_eg_ingress(struct __sk_buff *skb)
{
	__u32 mark = skb->mark;
	struct eg_xdp_meta *m;

	if ((mark & EG_MARK_MAGIC_MASK) == EG_MARK_MAGIC && (mark & EG_MARK_DIR_IN))
		return tc_run(skb, false);
	m = (void *)(long)skb->data_meta;
	if ((void *)(m + 1) <= (void *)(long)skb->data && m->magic == EG_META_MAGIC &&
	    (m->mark & EG_MARK_MAGIC_MASK) == EG_MARK_MAGIC)
		skb->mark = m->mark;
	return TC_ACT_OK;
}

SEC("tc")
int tc_eg_nat(struct __sk_buff *skb)
{
	return tc_run(skb, true);
}
