/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Outbound classification: one LPM lookup on (generation, destination) gives every selector whose
 * destination prefix covers the packet's, already sorted by the XFRM priority espgated gave the
 * kernel (user/policy.c: eg_policy_priority), so the first candidate whose source prefix,
 * protocol and port ranges match is the child the kernel's policy lookup would pick.
 *
 * Packets without ports (fragments, ICMP, GRE...) only match candidates whose port ranges are
 * "any": the kernel decodes such packets with ports 0 and matches them the same way for the
 * selectors espgated installs (see docs/DESIGN.md, "Datapath").
 */
#ifndef EG_BPF_CLASSIFY_H
#define EG_BPF_CLASSIFY_H

static __always_inline bool port_in(__be16 port, __be16 lo, __be16 hi)
{
	__u16 p = bpf_ntohs(port);

	return p >= bpf_ntohs(lo) && p <= bpf_ntohs(hi);
}

static __always_inline bool port_any(__be16 lo, __be16 hi)
{
	return lo == 0 && hi == 0xffff;
}

static __always_inline struct eg_sel_val *sel_lookup(__u32 gen, __be32 daddr)
{
	struct eg_sel_key k = { .prefixlen = 64, .gen = gen, .daddr = daddr };

	return bpf_map_lookup_elem(&eg_sel, &k);
}

static __always_inline bool cand_match(const struct eg_sel_cand *c, const struct eg_ct_key *t,
				       bool ports)
{
	if ((t->saddr & c->smask) != c->saddr)
		return false;
	if (c->proto && c->proto != t->proto)
		return false;
	if (ports && (t->proto == EG_IPPROTO_TCP || t->proto == EG_IPPROTO_UDP))
		return port_in(t->sport, c->sport_lo, c->sport_hi) &&
		       port_in(t->dport, c->dport_lo, c->dport_hi);
	return port_any(c->sport_lo, c->sport_hi) && port_any(c->dport_lo, c->dport_hi);
}

/* Subprograms (static __noinline) below: verified once per caller state instead of being
 * unrolled into every path, which keeps the combined programs well under the verifier's limit
 * (measured: tc_eg_nat 354k -> 315k instructions processed on 6.18). */

/* The child the kernel would encrypt this (pre-SNAT) tuple into, or 0. `only` != 0 restricts the
 * candidates to that child (a remote-netmap destination names its child, S5b). */
static __noinline __u32 eg_classify(__u32 gen, const struct eg_ct_key *t, bool ports, __u32 only)
{
	struct eg_sel_val *v = sel_lookup(gen, t->daddr);

	if (!v)
		return 0;
#pragma unroll
	for (int i = 0; i < EG_SEL_CANDS; i++) {
		if (i >= v->n)
			break;
		if (only && v->cand[i].child != only)
			continue;
		if (cand_match(&v->cand[i], t, ports))
			return v->cand[i].child;
	}
	return 0;
}

/* Transit check for a partner-initiated flow: is its destination behind another tunnel's
 * selectors? A default route (plen 0) alone does not count, or one partner reachable by 0/0
 * would make every other partner's inbound flows transit. */
static __noinline bool eg_is_transit(__u32 gen, __be32 daddr, __u16 tunnel)
{
	struct eg_sel_val *v = sel_lookup(gen, daddr);

	if (!v || v->plen == 0)
		return false;
#pragma unroll
	for (int i = 0; i < EG_SEL_CANDS; i++) {
		if (i >= v->n)
			break;
		if (v->cand[i].tunnel != tunnel)
			return true;
	}
	return false;
}

/* Does the child's allow list let a new flow open in direction `dir`? `local` is our side's
 * (inside) address, `remote` the partner's real address, `port` the destination
 * port of the opening packet. */
static __always_inline bool allow_match(const struct eg_child *ch, __u8 dir, __be32 local,
					__be32 remote, const struct eg_ct_key *t, __be16 port,
					bool ports)
{
#pragma unroll
	for (int i = 0; i < EG_MAX_CHILD_ALLOW; i++) {
		const struct eg_allow *a = &ch->allow[i];

		if (i >= ch->n_allow)
			break;
		if (!(a->dir & dir) || (a->proto && a->proto != t->proto))
			continue;
		if ((local & a->local_mask) != a->local_addr ||
		    (remote & a->remote_mask) != a->remote_addr)
			continue;
		if (!port_any(a->port_lo, a->port_hi) &&
		    !(ports && (t->proto == EG_IPPROTO_TCP || t->proto == EG_IPPROTO_UDP) &&
		      port_in(port, a->port_lo, a->port_hi)))
			continue;
		return true;
	}
	return false;
}

/* Inbound: does the decrypted packet fall inside one of the child's negotiated selectors?
 * Local is the destination (our side, as the SA carries it), remote the source. */
static __noinline bool ts_match(const struct eg_child *ch, const struct eg_ct_key *t, bool ports)
{
#pragma unroll
	for (int i = 0; i < EG_MAX_CHILD_TS; i++) {
		const struct eg_ts *s = &ch->ts[i];

		if (i >= ch->n_ts)
			break;
		if ((t->daddr & s->local_mask) != s->local_addr ||
		    (t->saddr & s->remote_mask) != s->remote_addr)
			continue;
		if (s->proto && s->proto != t->proto)
			continue;
		if (ports && (t->proto == EG_IPPROTO_TCP || t->proto == EG_IPPROTO_UDP)) {
			if (!port_in(t->dport, s->local_port_lo, s->local_port_hi) ||
			    !port_in(t->sport, s->remote_port_lo, s->remote_port_hi))
				continue;
		} else if (!port_any(s->local_port_lo, s->local_port_hi) ||
			   !port_any(s->remote_port_lo, s->remote_port_hi)) {
			continue;
		}
		return true;
	}
	return false;
}

#endif /* EG_BPF_CLASSIFY_H */
