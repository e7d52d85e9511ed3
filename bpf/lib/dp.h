/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The datapath's decisions, shared by the XDP and tc entry programs: the outbound path for
 * plaintext (conntrack hit, or a new flow: inside DNAT, classification, allow rules, SNAT 1:1 /
 * prefix / pool, masquerade for flows bound for no tunnel), the inbound path for packets the
 * kernel decrypted (negotiated selectors, conntrack, transit, one-way, reverse NAT), and the two
 * ways of applying a translation: direct writes with RFC 1624 updates in XDP, direct writes with
 * bpf_l3/l4_csum_replace in tc (which also keep skb->csum and CHECKSUM_PARTIAL right).
 *
 * Decisions return 0 with a filled struct eg_act, or -EG_STAT_DROP_*; only entry programs turn
 * that into a verdict and count it, once.
 */
#ifndef EG_BPF_DP_H
#define EG_BPF_DP_H

#define EG_AF_INET 2
#define EG_PLATFORM_WIRESERVER 0xa83f8110u /* 168.63.129.16 */
#define EG_PLATFORM_IMDS 0xa9fea9feu	   /* 169.254.169.254 */

struct eg_act {
	struct eg_ct_key nt; /* the tuple the packet leaves with */
	__u32 child;	     /* packet goes into this child's SA: EG_MARK_OUT(child) */
	__u32 stat;	     /* terminal counter when the packet goes on */
	__u16 mss;	     /* clamp a SYN's MSS option to this; 0 = off */
	__u8 xlate;	     /* nt differs from the packet's tuple */
	__u8 may_redirect;   /* bound for no tunnel: may take the fib fast path */
	__u8 icmp_err;	     /* ICMP error of a known flow: nt = outer addresses, ni = quote */
	__u8 ct_hit;	     /* an existing conntrack entry decided (ct_flags, ct_expires) */
	__u8 ct_flags;
	__u8 csum_pre; /* TCP/UDP from the flow cache: ip_acc, l4_acc precomputed */
	__u16 ip_acc;  /* folded checksum differences (see struct eg_flow_slot) */
	__u16 l4_acc;
	__u64 ct_expires;
	struct eg_ct_key ni; /* ICMP error: the quoted tuple to write */
};

static __always_inline bool eg_platform(__be32 a)
{
	return a == bpf_htonl(EG_PLATFORM_WIRESERVER) || a == bpf_htonl(EG_PLATFORM_IMDS);
}

static __always_inline bool tuple_eq(const struct eg_ct_key *a, const struct eg_ct_key *b)
{
	return a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport &&
	       a->dport == b->dport;
}

static __always_inline struct eg_nat_rule *nat_rule(__u32 id)
{
	if (!id)
		return NULL;
	return bpf_map_lookup_elem(&eg_nat_rules, &id);
}

static __always_inline void act_from_ct(struct eg_act *a, struct eg_ct_val *e,
					const struct eg_config *cfg, const struct eg_pkt *p)
{
	ct_touch(e, cfg, p);
	a->nt = e->xlate;
	a->xlate = !tuple_eq(&a->nt, &p->t);
}

/* The stat of a packet that goes on, from where it goes and whether it was rewritten. */
static __always_inline void act_stat_out(struct eg_act *a)
{
	if (a->child)
		a->stat = a->xlate ? EG_STAT_NAT_OUT : EG_STAT_TUNNEL_OUT;
	else
		a->stat = a->xlate ? EG_STAT_NAT_PLAIN : EG_STAT_PASS;
}

static __always_inline int eg_hit_out(struct eg_ct_val *e, const struct eg_pkt *p,
				      const struct eg_config *cfg, struct eg_act *a)
{
	struct eg_child *ch;

	if (e->flags & EG_CT_FROM_TUNNEL)
		return -EG_STAT_DROP_CLEARTEXT; /* a tunnel flow's packet arriving in clear */
	act_from_ct(a, e, cfg, p);
	a->ct_hit = 1;
	a->ct_flags = e->flags;
	a->ct_expires = e->expires;
	if (e->flags & EG_CT_TO_TUNNEL) {
		a->child = e->child;
		ch = bpf_map_lookup_elem(&eg_children, &a->child);
		if (!ch || !(ch->flags & EG_CHILD_UP))
			return -EG_STAT_DROP_TUNNEL_DOWN;
		if (p->t.proto == EG_IPPROTO_TCP && (p->tcp_flags & EG_TCP_SYN))
			a->mss = ch->mss;
	} else {
		a->may_redirect = 1;
	}
	act_stat_out(a);
	return 0;
}

/* Fragments carry no ports past the first: classified by address (as the kernel's XFRM does),
 * translated by address under 1:1 rules, dropped and counted under port-translating rules. */
static __always_inline int eg_frag_out(const struct eg_pkt *p, const struct eg_config *cfg,
				       struct eg_act *a)
{
	struct eg_rnetmap_val *rn;
	struct eg_nat_rule *r;
	struct eg_child *ch;
	__u32 child, only = 0;

	rn = rnetmap_lookup(cfg->gen, 0, p->t.daddr);
	if (rn) {
		a->nt.daddr = rnetmap_to_remote(rn, p->t.daddr);
		a->xlate = 1;
		only = rn->child;
	}
	child = eg_classify(cfg->gen, &a->nt, false, only);
	if (only && !child)
		return -EG_STAT_DROP_POLICY; /* a mapped destination never leaves in clear */
	if (child) {
		ch = bpf_map_lookup_elem(&eg_children, &child);
		if (!ch || !(ch->flags & EG_CHILD_VALID) || !(ch->flags & EG_CHILD_UP))
			return -EG_STAT_DROP_TUNNEL_DOWN;
		a->child = child;
		r = nat_rule(ch->nat_rule);
		if (r && nat_is_1to1(r)) {
			a->xlate |= nat_map_out(r, p->t.saddr, &a->nt.saddr);
		} else if (r && nat_is_pool(r) &&
			   in_prefix(p->t.saddr, r->inside_addr, r->inside_mask)) {
			return -EG_STAT_DROP_FRAG;
		}
		act_stat_out(a);
		return 0;
	}
	r = nat_rule(cfg->masq_rule);
	if (r && r->type == EG_NAT_MASQ) {
		struct eg_port_pool *pp = bpf_map_lookup_elem(&eg_port_pools, &r->pool);

		if (in_prefix(p->t.saddr, r->inside_addr, r->inside_mask) ||
		    (pp && pp->addr == p->t.daddr))
			return -EG_STAT_DROP_FRAG;
	}
	a->stat = EG_STAT_PASS;
	return 0;
}

/* A new flow from plaintext: inside DNAT, classification, allow rules, SNAT, conntrack pair. */
static __always_inline int eg_new_out(const struct eg_pkt *p, const struct eg_config *cfg,
				      struct eg_act *a)
{
	struct eg_ct_val fv = {}, rv = {}, *e;
	struct eg_ct_key rk = {};
	struct eg_nat_rule *r = NULL;
	struct eg_rnetmap_val *rn;
	struct eg_child *ch;
	__u32 child, pool = 0, port1 = 0, only = 0;
	bool ports = p->ports;
	__u8 flags = 0;
	__u64 now;
	long err;

	if (ports) {
		struct eg_dnat_key dk = {
			.gen = cfg->gen, .addr = p->t.daddr, .port = p->t.dport, .proto = p->t.proto
		};
		struct eg_dnat_val *dv = bpf_map_lookup_elem(&eg_dnat, &dk);

		if (dv) {
			a->nt.daddr = dv->addr;
			a->nt.dport = dv->port;
			flags |= EG_CT_DNAT;
		}
	}
	rn = rnetmap_lookup(cfg->gen, 0, a->nt.daddr);
	if (rn) {
		a->nt.daddr = rnetmap_to_remote(rn, a->nt.daddr);
		flags |= EG_CT_DNAT;
		only = rn->child;
	}
	child = eg_classify(cfg->gen, &a->nt, ports, only);
	if (only && !child)
		return -EG_STAT_DROP_POLICY; /* a mapped destination never leaves in clear */
	if (child) {
		ch = bpf_map_lookup_elem(&eg_children, &child);
		if (!ch || !(ch->flags & EG_CHILD_VALID) || !(ch->flags & EG_CHILD_UP))
			return -EG_STAT_DROP_TUNNEL_DOWN;
		if (ch->n_allow && !allow_match(ch, EG_ALLOW_OUT, p->t.saddr, a->nt.daddr, &a->nt,
						a->nt.dport, ports))
			return -EG_STAT_DROP_POLICY;
		r = nat_rule(ch->nat_rule);
		flags |= EG_CT_TO_TUNNEL;
		a->child = child;
		if (p->t.proto == EG_IPPROTO_TCP && (p->tcp_flags & EG_TCP_SYN))
			a->mss = ch->mss;
	} else {
		/* Masquerade only ever sees what no selector claimed: tunnel traffic never
		 * reaches this branch (seed 004's pitfall). */
		r = nat_rule(cfg->masq_rule);
		if (r && r->type != EG_NAT_MASQ)
			r = NULL;
		a->may_redirect = 1;
	}
	if (r && nat_is_1to1(r)) {
		if (nat_map_out(r, p->t.saddr, &a->nt.saddr))
			flags |= EG_CT_SNAT;
	} else if (r && nat_is_pool(r) && in_prefix(p->t.saddr, r->inside_addr, r->inside_mask)) {
		struct eg_port_pool *pp;

		pool = r->pool;
		pp = bpf_map_lookup_elem(&eg_port_pools, &pool);
		if (!pp || !pp->addr)
			return -EG_STAT_DROP_INTERNAL;
		a->nt.saddr = pp->addr;
		flags |= EG_CT_SNAT;
		if (ports) {
			port1 = pool_claim(pool, bpf_ntohs(p->t.sport));
			if (!port1)
				return -EG_STAT_DROP_PORTS_EXHAUSTED;
			a->nt.sport = bpf_htons((__u16)(port1 - 1));
		}
	}
	if (!child && !flags) {
		a->stat = EG_STAT_PASS; /* not ours: nothing to track */
		a->may_redirect = 0;
		return 0;
	}

	now = bpf_ktime_get_coarse_ns();
	fv.xlate = a->nt;
	fv.expires = now + ct_timeout(cfg, p->t.proto, EG_CT_NEW);
	fv.child = child;
	fv.nat_rule = child ? 0 : cfg->masq_rule;
	fv.flags = flags;
	fv.pool = port1 ? pool + 1 : 0;
	rv = fv;
	ct_reverse(&rv.xlate, &p->t);
	rv.flags = (flags & ~EG_CT_TO_TUNNEL) | EG_CT_REPLY | (child ? EG_CT_FROM_TUNNEL : 0);
	ct_reverse(&rk, &a->nt);
	err = ct_insert_pair(&p->t, &fv, &rk, &rv);
	if (err) {
		if (port1)
			pool_release(pool, (__u16)(port1 - 1));
		if (err != -EG_EEXIST)
			return -EG_STAT_DROP_CT_FULL;
		/* Another CPU created this very flow: follow its entry. */
		e = bpf_map_lookup_elem(&eg_ct, &p->t);
		if (e) {
			a->child = 0;
			a->mss = 0;
			a->may_redirect = 0;
			return eg_hit_out(e, p, cfg, a);
		}
		/* The reply tuple is taken and there was no port to change. */
		return pool ? -EG_STAT_DROP_PORTS_EXHAUSTED : -EG_STAT_DROP_INTERNAL;
	}
	eg_count(EG_STAT_CT_NEW, 0);
	a->xlate = !tuple_eq(&a->nt, &p->t);
	act_stat_out(a);
	return 0;
}

#define EG_NOT_RELATED 1

/*
 * An ICMP error quoting a packet of a flow we translate: the quote is that flow's packet as it
 * was delivered, so its reverse is the key of the flow's other direction, whose translation is
 * what this error's direction needs. The quote becomes the reverse of that entry's translated
 * tuple; the outer destination (the quote's sender) follows the quote's new source, and the
 * outer source follows the quote's new destination when the error comes from that host itself
 * (a router in between keeps its address, except that a remote-netmap child's routers appear
 * under the mapped prefix). `child` 0: plaintext (XDP / tc outbound); else the child whose SA
 * decrypted it. Returns 0 with *a filled, EG_NOT_RELATED (no flow: handle as plain ICMP), or
 * -EG_STAT_DROP_*. Errors neither create nor refresh conntrack entries.
 */
static __always_inline int eg_icmp_err(const struct eg_pkt *p, const struct eg_config *cfg,
				       __u32 child, struct eg_act *a)
{
	struct eg_ct_key rk = {};
	struct eg_rnetmap_val *rn;
	struct eg_ct_val *e;
	struct eg_child *ch;

	ct_reverse(&rk, &p->it);
	e = bpf_map_lookup_elem(&eg_ct, &rk);
	if (!e)
		return EG_NOT_RELATED;
	ct_reverse(&a->ni, &e->xlate);
	a->icmp_err = 1;
	if (p->t.daddr == p->it.saddr)
		a->nt.daddr = a->ni.saddr;
	if (p->t.saddr == p->it.daddr) {
		a->nt.saddr = a->ni.daddr;
	} else if (child) {
		rn = rnetmap_lookup(cfg->gen, child, p->t.saddr);
		if (rn)
			a->nt.saddr = rnetmap_to_inside(rn, p->t.saddr);
	}
	a->xlate = !tuple_eq(&a->ni, &p->it) || !tuple_eq(&a->nt, &p->t);
	if (child) {
		if (!(e->flags & EG_CT_FROM_TUNNEL) || e->child != child)
			return -EG_STAT_DROP_SELECTOR; /* about another child's (or no tunnel's) flow */
		a->stat = a->xlate ? EG_STAT_NAT_IN : EG_STAT_TUNNEL_IN;
		return 0;
	}
	if (e->flags & EG_CT_FROM_TUNNEL)
		return -EG_STAT_DROP_CLEARTEXT; /* about a tunnel flow, but arriving in clear */
	if (e->flags & EG_CT_TO_TUNNEL) {
		a->child = e->child;
		ch = bpf_map_lookup_elem(&eg_children, &a->child);
		if (!ch || !(ch->flags & EG_CHILD_UP))
			return -EG_STAT_DROP_TUNNEL_DOWN;
	}
	act_stat_out(a);
	return 0;
}

/*
 * The checksum differences of rewriting tuple o to n, accumulated as apply_xdp does: the IPv4
 * header's (changed addresses only) and, on top of it, the L4 checksum's (ports). The flow cache
 * keeps them folded, so a hit applies them without recomputing; the results are the same bytes
 * (one's complement sums of the same residue, never zero).
 */
static __always_inline __u32 xlate_ip_acc(const struct eg_ct_key *o, const struct eg_ct_key *n)
{
	__u32 acc = 0;

	if (o->saddr != n->saddr)
		acc = csum_acc32(acc, o->saddr, n->saddr);
	if (o->daddr != n->daddr)
		acc = csum_acc32(acc, o->daddr, n->daddr);
	return acc;
}

static __always_inline __u32 xlate_port_acc(__u32 acc, const struct eg_ct_key *o,
					    const struct eg_ct_key *n)
{
	acc = csum_acc16(acc, o->sport, n->sport);
	return csum_acc16(acc, o->dport, n->dport);
}

#define EG_FC_MISS 1

/*
 * This CPU's flow cache slot of tuple t. The words are rotated apart before they are combined
 * (in network order the varying bytes of addresses and ports sit at the same bit positions and
 * would cancel), then mixed (lowbias32's finaliser) so the top bits index the slot among this
 * CPU's EG_FLOW_CACHE_SLOTS. A crafted collision costs only the full path.
 */
static __always_inline struct eg_flow_slot *fc_slot(const struct eg_ct_key *t)
{
	__u32 d = t->daddr, pt = ((__u32)t->sport << 16) | t->dport, h, slot;

	h = t->saddr ^ (d << 16 | d >> 16) ^ (pt << 8 | pt >> 24) ^ ((__u32)t->proto << 16);
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	slot = bpf_get_smp_processor_id() << EG_FLOW_CACHE_BITS | h >> (32 - EG_FLOW_CACHE_BITS);
	return bpf_map_lookup_elem(&eg_flow_cache, &slot);
}

/* May this packet be answered by the flow cache (no TCP state to move, nothing to clamp)? */
static __always_inline bool fc_usable(const struct eg_pkt *p)
{
	return !p->frag && !p->icmp_err && !(p->tcp_flags & (EG_TCP_SYN | EG_TCP_FIN | EG_TCP_RST));
}

/* Does slot fs hold tuple tk? */
static __always_inline bool fc_key_eq(const struct eg_flow_slot *fs, const struct eg_ct_key *tk)
{
	const __u64 *k = (const __u64 *)&fs->key, *t = (const __u64 *)tk;

	return k[0] == t[0] && k[1] == t[1];
}

/* eg_hit_out from a cache slot holding the packet's tuple (fc_key_eq): 0 with *a filled,
 * EG_FC_MISS, or a drop. */
static __always_inline int fc_hit(const struct eg_flow_slot *fs, const struct eg_config *cfg,
				  struct eg_act *a)
{
	struct eg_child *ch;

	if (fs->gen != cfg->gen || bpf_jiffies64() >= fs->until)
		return EG_FC_MISS;
	a->nt = fs->xlate;
	a->xlate = fs->changes;
	a->csum_pre = fs->csum_pre;
	a->ip_acc = fs->ip_acc;
	a->l4_acc = fs->l4_acc;
	if (fs->flags & EG_CT_TO_TUNNEL) {
		a->child = fs->child;
		ch = bpf_map_lookup_elem(&eg_children, &a->child);
		if (!ch || !(ch->flags & EG_CHILD_UP))
			return -EG_STAT_DROP_TUNNEL_DOWN;
	} else {
		a->may_redirect = 1;
	}
	act_stat_out(a);
	return 0;
}

/* Remembers the conntrack entry a packet hit (see struct eg_flow_slot). */
static __always_inline void fc_fill(struct eg_flow_slot *fs, const struct eg_pkt *p,
				    const struct eg_config *cfg, const struct eg_act *a)
{
	if (a->ct_expires < bpf_ktime_get_coarse_ns() + EG_FLOW_CACHE_NS)
		return; /* it may expire while the slot would still answer */
	fs->key = p->t;
	fs->xlate = a->nt;
	fs->until = bpf_jiffies64() + EG_FLOW_CACHE_JIFFIES;
	fs->child = a->child;
	fs->gen = cfg->gen;
	fs->flags = a->ct_flags;
	fs->changes = a->xlate;
	fs->csum_pre = 0;
	if (p->l4_hdr && p->ports &&
	    (p->t.proto == EG_IPPROTO_TCP || p->t.proto == EG_IPPROTO_UDP)) {
		__u32 ipacc = a->xlate ? xlate_ip_acc(&p->t, &a->nt) : 0;
		__u32 l4acc = a->xlate ? xlate_port_acc(ipacc, &p->t, &a->nt) : 0;

		fs->ip_acc = csum_fold32(ipacc);
		fs->l4_acc = csum_fold32(l4acc);
		fs->csum_pre = 1;
	}
}

/* Plaintext entering the gateway: from the inside, or replies to masqueraded flows. */
static __always_inline int eg_flow_out(const struct eg_pkt *p, const struct eg_config *cfg,
				       struct eg_act *a)
{
	struct eg_ct_val *e;

	int ret;

	a->nt = p->t;
	if (p->frag)
		return eg_frag_out(p, cfg, a);
	if (p->icmp_err) {
		ret = eg_icmp_err(p, cfg, 0, a);
		if (ret != EG_NOT_RELATED)
			return ret;
	}
	e = bpf_map_lookup_elem(&eg_ct, &p->t);
	if (e)
		return eg_hit_out(e, p, cfg, a);
	return eg_new_out(p, cfg, a);
}

static __always_inline void act_stat_in(struct eg_act *a)
{
	a->stat = a->xlate ? EG_STAT_NAT_IN : EG_STAT_TUNNEL_IN;
}

/* A packet the kernel decrypted with child's SA (its input mark named the child). Everything not
 * proven to belong to this child is dropped: fail closed. */
static __always_inline int eg_flow_in(const struct eg_pkt *p, const struct eg_config *cfg,
				      __u32 child, struct eg_act *a)
{
	struct eg_ct_val fv = {}, rv = {}, *e;
	struct eg_ct_key rk = {};
	struct eg_rnetmap_val *rn;
	struct eg_nat_rule *r;
	struct eg_child *ch;
	bool ports = p->ports, ok;
	__u8 flags = 0;
	long err;

	a->nt = p->t;
	ch = bpf_map_lookup_elem(&eg_children, &child);
	if (!ch || !(ch->flags & EG_CHILD_VALID))
		return -EG_STAT_DROP_SELECTOR;
	if (!ts_match(ch, &p->t, ports))
		return -EG_STAT_DROP_SELECTOR;
	r = nat_rule(ch->nat_rule);
	if (p->icmp_err) {
		int ret = eg_icmp_err(p, cfg, child, a);

		if (ret != EG_NOT_RELATED)
			return ret;
	}

	if (p->frag) {
		/* A first fragment carries the ports: under one-way it must belong to a flow
		 * of ours. Later fragments cannot form a datagram without it. */
		if ((ch->flags & EG_CHILD_ONE_WAY) && p->l4_hdr &&
		    (p->t.proto == EG_IPPROTO_TCP || p->t.proto == EG_IPPROTO_UDP)) {
			e = bpf_map_lookup_elem(&eg_ct, &p->t);
			if (!e || !(e->flags & EG_CT_FROM_TUNNEL) || e->child != child)
				return -EG_STAT_DROP_ONEWAY;
		}
		if (r && nat_is_1to1(r)) {
			a->xlate = nat_map_in(r, p->t.daddr, &a->nt.daddr);
		} else if (r && nat_is_pool(r)) {
			struct eg_port_pool *pp = bpf_map_lookup_elem(&eg_port_pools, &r->pool);

			if (pp && pp->addr == p->t.daddr)
				return -EG_STAT_DROP_FRAG;
		}
		rn = rnetmap_lookup(cfg->gen, child, p->t.saddr);
		if (rn) {
			a->nt.saddr = rnetmap_to_inside(rn, p->t.saddr);
			a->xlate = 1;
		}
		act_stat_in(a);
		return 0;
	}

	e = bpf_map_lookup_elem(&eg_ct, &p->t);
	if (e) {
		if (!(e->flags & EG_CT_FROM_TUNNEL) || e->child != child)
			return -EG_STAT_DROP_SELECTOR; /* another child's (or no tunnel's) flow */
		act_from_ct(a, e, cfg, p);
		act_stat_in(a);
		return 0;
	}

	/* A partner opens a flow. */
	if (eg_is_transit(cfg->gen, p->t.daddr, ch->tunnel_id))
		return -EG_STAT_DROP_TRANSIT;
	if (ports) {
		struct eg_dnat_key dk = { .gen = cfg->gen,
					  .child = child,
					  .addr = p->t.daddr,
					  .port = p->t.dport,
					  .proto = p->t.proto };
		struct eg_dnat_val *dv = bpf_map_lookup_elem(&eg_dnat, &dk);

		if (dv) {
			a->nt.daddr = dv->addr;
			a->nt.dport = dv->port;
			flags |= EG_CT_DNAT;
		}
	}
	if (!(flags & EG_CT_DNAT) && r && nat_is_1to1(r) && nat_map_in(r, p->t.daddr, &a->nt.daddr))
		flags |= EG_CT_SNAT;
	rn = rnetmap_lookup(cfg->gen, child, p->t.saddr);
	if (rn) {
		a->nt.saddr = rnetmap_to_inside(rn, p->t.saddr);
		flags |= EG_CT_SNAT;
	}
	if (flags & EG_CT_DNAT)
		ok = true;
	else if (ch->n_allow)
		ok = allow_match(ch, EG_ALLOW_IN, a->nt.daddr, p->t.saddr, &a->nt, a->nt.dport,
				 ports);
	else
		ok = !(ch->flags & EG_CHILD_ONE_WAY);
	if (!ok)
		return (ch->flags & EG_CHILD_ONE_WAY) ? -EG_STAT_DROP_ONEWAY : -EG_STAT_DROP_POLICY;

	fv.xlate = a->nt;
	fv.expires = bpf_ktime_get_coarse_ns() + ct_timeout(cfg, p->t.proto, EG_CT_NEW);
	fv.child = child;
	fv.nat_rule = ch->nat_rule;
	fv.flags = flags | EG_CT_FROM_TUNNEL | EG_CT_FROM_PARTNER;
	rv = fv;
	ct_reverse(&rv.xlate, &p->t);
	rv.flags = flags | EG_CT_TO_TUNNEL | EG_CT_FROM_PARTNER | EG_CT_REPLY;
	ct_reverse(&rk, &a->nt);
	err = ct_insert_pair(&p->t, &fv, &rk, &rv);
	if (err) {
		if (err != -EG_EEXIST)
			return -EG_STAT_DROP_CT_FULL;
		e = bpf_map_lookup_elem(&eg_ct, &p->t);
		if (!e || !(e->flags & EG_CT_FROM_TUNNEL) || e->child != child)
			return -EG_STAT_DROP_INTERNAL;
		act_from_ct(a, e, cfg, p);
		act_stat_in(a);
		return 0;
	}
	eg_count(EG_STAT_CT_NEW, 0);
	a->xlate = !tuple_eq(&a->nt, &p->t);
	act_stat_in(a);
	return 0;
}

/* Frame offset of a SYN's MSS option value, or 0. Options are walked with a constant bound. */
static __always_inline __u32 mss_find(void *data, void *end, const struct eg_pkt *p)
{
	__u32 off = p->l4_off + 20, lim = p->l4_off + p->tcp_hlen;

#pragma unroll
	for (int i = 0; i < 12; i++) {
		__u8 *o = data + (off & 0xff);
		__u8 kind, len;

		if (off >= lim || (void *)(o + 2) > end)
			break;
		kind = o[0];
		if (kind == 0)
			break;
		if (kind == 1) {
			off++;
			continue;
		}
		len = o[1];
		if (len < 2)
			break;
		if (kind == 2)
			return (len == 4 && off + 4 <= lim) ? off + 2 : 0;
		off += len;
	}
	return 0;
}

/*
 * ICMP error of a known flow: outer addresses, the quoted IPv4 addresses and their header
 * checksum, the quoted ports (or echo identifier) and the quoted L4 checksum when it is in the
 * packet, and the ICMP checksum over all the quoted bytes that changed. Direct writes with
 * RFC 1624 updates, for XDP and tc alike: every change is compensated inside its own checksum's
 * region (outer IPv4 header, ICMP message), so a CHECKSUM_COMPLETE skb->csum stays right too.
 */
static __always_inline int apply_icmp_err(void *data, void *end, const struct eg_pkt *p,
					  const struct eg_act *a)
{
	struct iphdr *ip = data + (p->l3_off & 0x3f);
	struct iphdr *iip = data + (p->in_l3_off & 0xff);
	__u16 *ic = data + ((p->l4_off + 2) & 0xff);
	__u16 *pp = data + (p->in_l4_off & 0xff);
	__u32 ipacc = 0, iacc = 0, l4acc, acc;
	__u16 old;

	if ((void *)(ip + 1) > end || (void *)(iip + 1) > end || (void *)(ic + 1) > end ||
	    (void *)(pp + 4) > end)
		return -EG_STAT_DROP_MALFORMED;
	if (ip->saddr != a->nt.saddr) {
		ipacc = csum_acc32(ipacc, ip->saddr, a->nt.saddr);
		ip->saddr = a->nt.saddr;
	}
	if (ip->daddr != a->nt.daddr) {
		ipacc = csum_acc32(ipacc, ip->daddr, a->nt.daddr);
		ip->daddr = a->nt.daddr;
	}
	if (ipacc)
		ip->check = csum_apply(ip->check, ipacc);

	/* The quoted header: addresses (its checksum, and the pseudo header of its L4). */
	iacc = csum_acc32(iacc, iip->saddr, a->ni.saddr);
	iacc = csum_acc32(iacc, iip->daddr, a->ni.daddr);
	iip->saddr = a->ni.saddr;
	iip->daddr = a->ni.daddr;
	old = iip->check;
	iip->check = csum_apply(old, iacc);
	acc = csum_acc16(iacc, old, iip->check);

	/* The quoted ports or echo identifier, and the quoted L4 checksum. */
	if (p->it.proto == EG_IPPROTO_TCP || p->it.proto == EG_IPPROTO_UDP) {
		l4acc = csum_acc16(iacc, pp[0], a->ni.sport);
		l4acc = csum_acc16(l4acc, pp[1], a->ni.dport);
		acc = csum_acc16(acc, pp[0], a->ni.sport);
		acc = csum_acc16(acc, pp[1], a->ni.dport);
		pp[0] = a->ni.sport;
		pp[1] = a->ni.dport;
	} else if (p->it.proto == EG_IPPROTO_ICMP) {
		__be16 nid = *(__u8 *)pp == EG_ICMP_ECHO ? a->ni.sport : a->ni.dport;

		l4acc = csum_acc16(0, pp[2], nid);
		acc = csum_acc16(acc, pp[2], nid);
		pp[2] = nid;
	} else {
		l4acc = 0;
	}
	if (p->in_csum_off) {
		__u16 *c4 = data + ((p->in_l4_off + p->in_csum_off) & 0xff);

		if ((void *)(c4 + 1) > end)
			return -EG_STAT_DROP_MALFORMED;
		old = *c4;
		if (l4acc && !(p->it.proto == EG_IPPROTO_UDP && old == 0)) {
			__u16 n = csum_apply(old, l4acc);

			if (p->it.proto == EG_IPPROTO_UDP && n == 0)
				n = 0xffff;
			*c4 = n;
			acc = csum_acc16(acc, old, n);
		}
	}
	*ic = csum_apply(*ic, acc);
	return 0;
}

/*
 * A TCP/UDP packet of a flow cache hit: write the translated tuple nt (if it changes anything)
 * and apply the folded checksum differences the slot keeps (struct eg_flow_slot). The caller has
 * checked the IPv4 header and 8 bytes of L4 (l4 + 4). Shared by the express lane and apply_xdp,
 * so both give the same bytes. Returns 0 or -EG_STAT_DROP_MALFORMED (TCP shorter than its
 * checksum field).
 */
static __always_inline int fc_rewrite(struct iphdr *ip, __be16 *l4, void *end, __u8 proto,
				      const struct eg_ct_key *nt, bool changes, __u16 ip_acc,
				      __u16 l4_acc)
{
	__u16 c;

	if (changes) {
		ip->saddr = nt->saddr;
		ip->daddr = nt->daddr;
		l4[0] = nt->sport;
		l4[1] = nt->dport;
	}
	if (ip_acc)
		ip->check = csum_apply(ip->check, ip_acc);
	if (proto == EG_IPPROTO_TCP) {
		if ((void *)(l4 + 9) > end)
			return -EG_STAT_DROP_MALFORMED;
		if (l4_acc)
			l4[8] = csum_apply(l4[8], l4_acc);
	} else if (l4[3] && l4_acc) { /* a zero UDP checksum stays zero */
		c = csum_apply(l4[3], l4_acc);
		l4[3] = c ?: 0xffff;
	}
	return 0;
}

/* XDP: rewrite in place, RFC 1624 updates. Returns 0, 1 if the MSS was clamped, or -stat. */
static __always_inline int apply_xdp(struct xdp_md *ctx, const struct eg_pkt *p,
				     const struct eg_act *a)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (p->l3_off & 0x3f);
	__u32 ipacc = 0, l4acc = 0;
	int clamped = 0;
	__u16 c;

	if (a->icmp_err)
		return a->xlate ? apply_icmp_err(data, end, p, a) : 0;
	if ((void *)(ip + 1) > end)
		return -EG_STAT_DROP_MALFORMED;
	if (a->csum_pre) {
		/* a TCP/UDP flow cache hit (no SYN: nothing to clamp): the differences are known */
		__be16 *l4 = data + (p->l4_off & 0xff);

		if ((void *)(l4 + 4) > end) /* eg_parse saw the whole L4 header */
			return -EG_STAT_DROP_MALFORMED;
		return fc_rewrite(ip, l4, end, p->t.proto, &a->nt, a->xlate, a->ip_acc, a->l4_acc);
	}
	if (a->xlate) {
		if (ip->saddr != a->nt.saddr) {
			ipacc = csum_acc32(ipacc, ip->saddr, a->nt.saddr);
			ip->saddr = a->nt.saddr;
		}
		if (ip->daddr != a->nt.daddr) {
			ipacc = csum_acc32(ipacc, ip->daddr, a->nt.daddr);
			ip->daddr = a->nt.daddr;
		}
		if (ipacc)
			ip->check = csum_apply(ip->check, ipacc);
	}
	if (!p->l4_hdr)
		return 0;
	if (p->t.proto == EG_IPPROTO_TCP) {
		struct tcphdr *th = data + (p->l4_off & 0xff);
		__u32 moff;

		if ((void *)(th + 1) > end)
			return -EG_STAT_DROP_MALFORMED;
		l4acc = ipacc;
		if (a->xlate && p->ports) {
			l4acc = csum_acc16(l4acc, th->source, a->nt.sport);
			l4acc = csum_acc16(l4acc, th->dest, a->nt.dport);
			th->source = a->nt.sport;
			th->dest = a->nt.dport;
		}
		if (a->mss) {
			moff = mss_find(data, end, p);
			if (moff) {
				__be16 *v = data + (moff & 0xff);

				if ((void *)(v + 1) > end)
					return -EG_STAT_DROP_MALFORMED;
				if (bpf_ntohs(*v) > a->mss) {
					l4acc = csum_acc16(l4acc, *v, bpf_htons(a->mss));
					*v = bpf_htons(a->mss);
					clamped = 1;
				}
			}
			th = data + (p->l4_off & 0xff);
			if ((void *)(th + 1) > end)
				return -EG_STAT_DROP_MALFORMED;
		}
		if (l4acc)
			th->check = csum_apply(th->check, l4acc);
	} else if (p->t.proto == EG_IPPROTO_UDP) {
		struct udphdr *uh = data + (p->l4_off & 0xff);

		if ((void *)(uh + 1) > end)
			return -EG_STAT_DROP_MALFORMED;
		l4acc = ipacc;
		if (a->xlate && p->ports) {
			l4acc = csum_acc16(l4acc, uh->source, a->nt.sport);
			l4acc = csum_acc16(l4acc, uh->dest, a->nt.dport);
			uh->source = a->nt.sport;
			uh->dest = a->nt.dport;
		}
		if (uh->check && l4acc) { /* a zero UDP checksum stays zero */
			c = csum_apply(uh->check, l4acc);
			uh->check = c ?: 0xffff;
		}
	} else if (p->t.proto == EG_IPPROTO_ICMP && a->xlate && p->ports) {
		struct icmphdr *ih = data + (p->l4_off & 0xff);
		__be16 nid = p->icmp_type == EG_ICMP_ECHO ? a->nt.sport : a->nt.dport;

		if ((void *)(ih + 1) > end)
			return -EG_STAT_DROP_MALFORMED;
		if (ih->un.echo.id != nid) {
			l4acc = csum_acc16(0, ih->un.echo.id, nid);
			ih->un.echo.id = nid;
			ih->checksum = csum_apply(ih->checksum, l4acc);
		}
	}
	return clamped;
}

/* tc: direct writes first, then the checksum helpers (which invalidate packet pointers, so
 * nothing is read after them). Returns 0, 1 if the MSS was clamped, or -stat. */
static __always_inline int apply_tc(struct __sk_buff *skb, const struct eg_pkt *p,
				    const struct eg_act *a)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + (p->l3_off & 0x3f);
	__u32 l3c = p->l3_off + 10, l4c = p->l4_off + p->csum_off;
	__be32 os, od;
	__be16 osp = 0, odp = 0, omss = 0, nmss = 0;
	__u64 mf = p->t.proto == EG_IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	bool pseudo = p->l4_hdr && p->csum_off &&
		      (p->t.proto == EG_IPPROTO_TCP || p->t.proto == EG_IPPROTO_UDP);
	bool l4ports = a->xlate && p->ports && p->l4_hdr;
	int clamped = 0;

	if (a->icmp_err)
		return a->xlate ? apply_icmp_err(data, end, p, a) : 0;
	if ((void *)(ip + 1) > end)
		return -EG_STAT_DROP_MALFORMED;
	os = ip->saddr;
	od = ip->daddr;
	if (a->xlate) {
		ip->saddr = a->nt.saddr;
		ip->daddr = a->nt.daddr;
	}
	if (l4ports) {
		__be16 *pp = data + (p->l4_off & 0xff);

		if ((void *)(pp + 4) > end)
			return -EG_STAT_DROP_MALFORMED;
		if (p->t.proto == EG_IPPROTO_ICMP) {
			osp = pp[2];
			odp = p->icmp_type == EG_ICMP_ECHO ? a->nt.sport : a->nt.dport;
			pp[2] = odp;
		} else {
			osp = pp[0];
			odp = pp[1];
			pp[0] = a->nt.sport;
			pp[1] = a->nt.dport;
		}
	}
	if (a->mss && p->t.proto == EG_IPPROTO_TCP && p->l4_hdr) {
		__u32 moff = mss_find(data, end, p);

		if (moff) {
			__be16 *v = data + (moff & 0xff);

			if ((void *)(v + 1) > end)
				return -EG_STAT_DROP_MALFORMED;
			if (bpf_ntohs(*v) > a->mss) {
				omss = *v;
				nmss = bpf_htons(a->mss);
				*v = nmss;
				clamped = 1;
			}
		}
	}
	if (os != a->nt.saddr && a->xlate) {
		bpf_l3_csum_replace(skb, l3c, os, a->nt.saddr, 4);
		if (pseudo)
			bpf_l4_csum_replace(skb, l4c, os, a->nt.saddr, BPF_F_PSEUDO_HDR | mf | 4);
	}
	if (od != a->nt.daddr && a->xlate) {
		bpf_l3_csum_replace(skb, l3c, od, a->nt.daddr, 4);
		if (pseudo)
			bpf_l4_csum_replace(skb, l4c, od, a->nt.daddr, BPF_F_PSEUDO_HDR | mf | 4);
	}
	if (l4ports) {
		if (p->t.proto == EG_IPPROTO_ICMP) {
			if (osp != odp)
				bpf_l4_csum_replace(skb, l4c, osp, odp, 2);
		} else {
			if (osp != a->nt.sport)
				bpf_l4_csum_replace(skb, l4c, osp, a->nt.sport, mf | 2);
			if (odp != a->nt.dport)
				bpf_l4_csum_replace(skb, l4c, odp, a->nt.dport, mf | 2);
		}
	}
	if (clamped)
		bpf_l4_csum_replace(skb, l4c, omss, nmss, 2);
	return clamped;
}

/* The route cache slot fe still answers for this packet's route (not its length: see len_ok). */
static __always_inline bool fib_fresh(const struct eg_fib_entry *fe, const struct iphdr *ip,
				      __u32 iif, __u64 now)
{
	return fe->daddr == ip->daddr && fe->saddr == ip->saddr && fe->tos == ip->tos &&
	       fe->iif == iif && now - fe->stamp < EG_FIB_CACHE_NS;
}

/*
 * Flows bound for no tunnel may skip the stack (never tunnel traffic: it would skip XFRM and
 * leave in clear); untagged frames only. Returns XDP_REDIRECT or XDP_PASS.
 * Forwards a packet bound for no tunnel straight out of its egress device: bpf_fib_lookup (the
 * kernel's routes, neighbours and MTU), TTL decrement, new MACs, bpf_redirect. The lookup is a
 * third of this path's cost, so its answer is kept in a per-CPU cache slot for EG_FIB_CACHE_NS;
 * anything the lookup did not answer with success (no neighbour yet, MTU exceeded, TTL 1, an
 * unreachable or local destination) goes to the stack and is never cached.
 */
static __always_inline int xdp_fwd(struct xdp_md *ctx, const struct eg_pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct bpf_fib_lookup f = {};
	struct eg_fib_entry *fe;
	__u32 acc, slot, oif;
	__u64 now;
	__u16 len;
	long rc;

	if (p->l3_off != sizeof(struct ethhdr) || (void *)(ip + 1) > end || ip->ttl <= 1)
		return XDP_PASS;
	len = bpf_ntohs(ip->tot_len);
	slot = ((ip->saddr ^ ip->daddr) * 2654435761u) >> 24; /* Fibonacci hash, 8 bits */
	fe = bpf_map_lookup_elem(&eg_fib_cache, &slot);
	if (!fe)
		return XDP_PASS;
	now = bpf_ktime_get_coarse_ns();
	if (fib_fresh(fe, ip, ctx->ingress_ifindex, now) && len <= fe->len_ok) {
		__builtin_memcpy(f.smac, fe->smac, 6);
		__builtin_memcpy(f.dmac, fe->dmac, 6);
		oif = fe->oif;
	} else {
		f.family = EG_AF_INET;
		f.tos = ip->tos;
		f.l4_protocol = ip->protocol;
		f.tot_len = len;
		f.ipv4_src = ip->saddr;
		f.ipv4_dst = ip->daddr;
		f.ifindex = ctx->ingress_ifindex;
		rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS)
			return XDP_PASS;
		oif = f.ifindex;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		ip = data + sizeof(struct ethhdr);
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		/* the same route answered for a shorter packet: keep the longest length known
		 * to fit, so packets up to it need no lookup */
		if (fib_fresh(fe, ip, ctx->ingress_ifindex, now) && fe->oif == oif &&
		    fe->len_ok > len)
			len = fe->len_ok;
		fe->saddr = ip->saddr;
		fe->daddr = ip->daddr;
		fe->tos = ip->tos;
		fe->iif = ctx->ingress_ifindex;
		fe->oif = oif;
		fe->len_ok = len;
		__builtin_memcpy(fe->smac, f.smac, 6);
		__builtin_memcpy(fe->dmac, f.dmac, 6);
		fe->stamp = now;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	acc = csum_acc16(0, *(__u16 *)&ip->ttl, *(__u16 *)&ip->ttl - bpf_htons(0x0100));
	ip->ttl--;
	ip->check = csum_apply(ip->check, acc);
	__builtin_memcpy(((struct ethhdr *)data)->h_dest, f.dmac, 6);
	__builtin_memcpy(((struct ethhdr *)data)->h_source, f.smac, 6);
	return bpf_redirect(oif, 0);
}

#endif /* EG_BPF_DP_H */
