/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Conntrack: a plain hash of both directions of every flow espgate translates or carries through
 * a tunnel. A pair is inserted reverse first, then forward, both with BPF_NOEXIST; if the forward
 * insert fails the reverse is deleted again, so no half pair is ever left behind. Entries expire
 * by a deadline each packet refreshes; espgated's sweeper (user/dp_maps.c: dp_ct_sweep) deletes a
 * pair once both halves are past it and releases its pool port.
 */
#ifndef EG_BPF_CT_H
#define EG_BPF_CT_H

#define EG_NSEC 1000000000ull

static __always_inline void ct_reverse(struct eg_ct_key *r, const struct eg_ct_key *t)
{
	r->saddr = t->daddr;
	r->daddr = t->saddr;
	r->sport = t->dport;
	r->dport = t->sport;
	r->proto = t->proto;
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
}

static __always_inline __u64 ct_timeout(const struct eg_config *cfg, __u8 proto, __u8 state)
{
	__u64 to;

	switch (proto) {
	case EG_IPPROTO_TCP:
		if (state == EG_CT_ESTABLISHED)
			to = cfg->ct_timeout_tcp_est ?: 7200 * EG_NSEC;
		else if (state == EG_CT_NEW)
			to = cfg->ct_timeout_tcp_syn ?: 60 * EG_NSEC;
		else
			to = cfg->ct_timeout_tcp_fin ?: 10 * EG_NSEC;
		break;
	case EG_IPPROTO_ICMP:
		to = cfg->ct_timeout_icmp ?: 30 * EG_NSEC;
		break;
	default:
		to = cfg->ct_timeout_udp ?: 120 * EG_NSEC;
	}
	return to;
}

/* Next TCP state of a pair given a packet's flags and its direction. */
static __always_inline __u8 ct_next_state(__u8 state, __u8 flags, __u8 proto, bool reply)
{
	if (proto != EG_IPPROTO_TCP)
		return reply ? EG_CT_ESTABLISHED : state;
	if (flags & EG_TCP_RST)
		return EG_CT_CLOSED;
	if (flags & EG_TCP_FIN)
		return state == EG_CT_CLOSED ? state : EG_CT_FIN;
	if (state == EG_CT_NEW && reply)
		return EG_CT_ESTABLISHED;
	return state;
}

/*
 * Refreshes an entry for a packet that matched it. A state change is written to both halves
 * (the peer's key is this entry's translated tuple reversed), so the sweeper sees one state per
 * pair; the deadline is only rewritten when it moves by more than a second, to keep the cache
 * line shared between CPUs in steady state.
 */
static __always_inline void ct_touch(struct eg_ct_val *e, const struct eg_config *cfg,
				     const struct eg_pkt *p)
{
	bool reply = e->flags & EG_CT_REPLY;
	__u8 st = ct_next_state(e->state, p->tcp_flags, p->t.proto, reply);
	__u64 now = bpf_ktime_get_coarse_ns();
	__u64 exp;

	if (st != e->state) {
		struct eg_ct_key pk = {};
		struct eg_ct_val *peer;

		ct_reverse(&pk, &e->xlate);
		peer = bpf_map_lookup_elem(&eg_ct, &pk);
		e->state = st;
		if (peer) {
			peer->state = st;
			peer->expires = now + ct_timeout(cfg, p->t.proto, st);
		}
	}
	exp = now + ct_timeout(cfg, p->t.proto, st);
	if (exp > e->expires + EG_NSEC || exp < e->expires)
		e->expires = exp;
}

/* Inserts a flow pair; returns 0, -EEXIST (a racing CPU or a port collision) or another
 * negative error (table full). */
static __always_inline long ct_insert_pair(const struct eg_ct_key *fk, const struct eg_ct_val *fv,
					   const struct eg_ct_key *rk, const struct eg_ct_val *rv)
{
	long err;

	err = bpf_map_update_elem(&eg_ct, rk, rv, BPF_NOEXIST);
	if (err)
		return err;
	err = bpf_map_update_elem(&eg_ct, fk, fv, BPF_NOEXIST);
	if (err) {
		bpf_map_delete_elem(&eg_ct, rk);
		return err;
	}
	return 0;
}

#endif /* EG_BPF_CT_H */
