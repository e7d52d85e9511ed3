/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * NAT rules and the many-to-one port allocator. A pool is one bitmap of 65536 bits per external
 * address; a port is claimed with an atomic fetch-or, so two CPUs can never hand out the same
 * port, and a claim that lost a race simply tries the next free bit. The original port is kept
 * when it is free; otherwise bpf_loop scans the 1024 words once from a random start, so a free
 * port is found whenever one exists, in bounded time however full the pool is (random probing
 * alone misses 1 time in 10 at 93% occupancy). No free port is a counted drop
 * (EG_STAT_DROP_PORTS_EXHAUSTED).
 */
#ifndef EG_BPF_NAT_H
#define EG_BPF_NAT_H

#define EG_EEXIST 17

/* Index of a single set bit, branch-free (de Bruijn multiplication): branches here multiply the
 * verifier's states inside the bpf_loop callback. */
static const volatile __u8 eg_debruijn64[64] = {
	0,  1,	48, 2,	57, 49, 28, 3,	61, 58, 50, 42, 38, 29, 17, 4,	62, 55, 59, 36, 53, 51,
	43, 22, 45, 39, 33, 30, 24, 18, 12, 5,	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21,
	44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,	13, 8,	7,  6,
};

static __always_inline __u32 bit_index64(__u64 b)
{
	return eg_debruijn64[((b * 0x03f79d71b4cb0a89ull) >> 58) & 63];
}

struct pool_scan {
	__u32 pool;
	__u32 start;
	__u32 k;     /* words skipped so far */
	__u32 found; /* port + 1 */
};

/* One step of the scan: a full word moves on; a claim lost to another CPU retries the same word
 * on the next step (the loop budget covers 2 steps per word). */
static long pool_scan_cb(__u32 i, void *arg)
{
	struct pool_scan *s = arg;
	struct eg_port_pool *pp = bpf_map_lookup_elem(&eg_port_pools, &s->pool);
	__u64 cur, bit, old;
	__u32 w;

	if (!pp || s->k >= EG_POOL_WORDS)
		return 1;
	w = (s->start + s->k) & (EG_POOL_WORDS - 1);
	cur = pp->words[w];
	if (cur == ~0ull) {
		s->k++;
		return 0;
	}
	bit = ~cur & -~cur;
	old = __sync_fetch_and_or(&pp->words[w], bit);
	if (old & bit)
		return 0;
	s->found = w * 64 + bit_index64(bit) + 1;
	return 1;
}

/* Claims a port of pool `pool` for a new flow: `want` (host order) if it is free, else any free
 * one. Returns the port + 1 (host order), or 0 when the pool is exhausted. A global function
 * (scalar arguments only) so the verifier checks it, and its bpf_loop callback, once rather
 * than once per caller state; __weak because every program object includes this header. */
__weak __noinline __u32 pool_claim(__u32 pool, __u32 want)
{
	struct eg_port_pool *pp = bpf_map_lookup_elem(&eg_port_pools, &pool);
	struct pool_scan s = { .pool = pool };
	__u64 bit = 1ull << (want & 63);
	__u32 w = (want >> 6) & (EG_POOL_WORDS - 1);

	if (!pp)
		return 0;
	if (!(__sync_fetch_and_or(&pp->words[w], bit) & bit))
		return (__u32)want + 1;
	s.start = bpf_get_prandom_u32();
	bpf_loop(2 * EG_POOL_WORDS, pool_scan_cb, &s, 0);
	return s.found;
}

static __always_inline void pool_release(__u32 pool, __u16 port)
{
	struct eg_port_pool *pp = bpf_map_lookup_elem(&eg_port_pools, &pool);

	if (pp)
		__sync_fetch_and_and(&pp->words[(port >> 6) & (EG_POOL_WORDS - 1)],
				     ~(1ull << (port & 63)));
}

static __always_inline bool in_prefix(__be32 a, __be32 net, __be32 mask)
{
	return (a & mask) == net;
}

/* 1:1 host or prefix mapping of one address, inside -> outside (host bits kept). */
static __always_inline bool nat_map_out(const struct eg_nat_rule *r, __be32 a, __be32 *res)
{
	if (!in_prefix(a, r->inside_addr, r->inside_mask))
		return false;
	*res = r->outside_addr | (a & ~r->inside_mask);
	return true;
}

static __always_inline bool nat_map_in(const struct eg_nat_rule *r, __be32 a, __be32 *res)
{
	if (!in_prefix(a, r->outside_addr, r->outside_mask))
		return false;
	*res = r->inside_addr | (a & ~r->outside_mask);
	return true;
}

/* remote-netmap (S5): the entry covering `a` for `child` (0 = outbound, keyed by the inside
 * prefix; else inbound, keyed by that child's real remote prefix). */
static __always_inline struct eg_rnetmap_val *rnetmap_lookup(__u32 gen, __u32 child, __be32 a)
{
	struct eg_rnetmap_key k = { .prefixlen = 96, .gen = gen, .child = child, .addr = a };

	return bpf_map_lookup_elem(&eg_rnetmap, &k);
}

static __always_inline __be32 rnetmap_to_remote(const struct eg_rnetmap_val *v, __be32 a)
{
	return v->remote_addr | (a & ~v->mask);
}

static __always_inline __be32 rnetmap_to_inside(const struct eg_rnetmap_val *v, __be32 a)
{
	return v->inside_addr | (a & ~v->mask);
}

static __always_inline bool nat_is_1to1(const struct eg_nat_rule *r)
{
	return r->type == EG_NAT_SNAT_HOST || r->type == EG_NAT_PREFIX;
}

static __always_inline bool nat_is_pool(const struct eg_nat_rule *r)
{
	return r->type == EG_NAT_SNAT_POOL || r->type == EG_NAT_MASQ;
}

#endif /* EG_BPF_NAT_H */
