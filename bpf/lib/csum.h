/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')) for the XDP
 * path, which writes packet bytes directly. Values are raw 16-bit words as they sit in memory, so
 * no byte swapping is needed: the one's complement sum is byte-order independent. tc uses
 * bpf_l3/l4_csum_replace instead (they also keep skb->csum and CHECKSUM_PARTIAL right).
 */
#ifndef EG_BPF_CSUM_H
#define EG_BPF_CSUM_H

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Accumulates ~m + m' for one 16-bit field changing from `from` to `to`. */
static __always_inline __u32 csum_acc16(__u32 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

static __always_inline __u32 csum_acc32(__u32 acc, __u32 from, __u32 to)
{
	acc = csum_acc16(acc, (__u16)(from >> 16), (__u16)(to >> 16));
	return csum_acc16(acc, (__u16)from, (__u16)to);
}

/* Applies an accumulated difference to a checksum field (at most a few dozen words). */
static __always_inline __u16 csum_apply(__u16 hc, __u32 acc)
{
	return (__u16)~csum_fold32((__u32)(__u16)~hc + acc);
}

#endif /* EG_BPF_CSUM_H */
