/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-CPU counters indexed by enum eg_stat. Helpers return 0 or a negative EG_STAT_DROP_*; only
 * an entry program turns that into a verdict and calls eg_count() once for it.
 */
#ifndef EG_BPF_STATS_H
#define EG_BPF_STATS_H

/* Emits enum eg_stat into the object's BTF, so tools (bpftool btf dump, tests/lib/netns.sh) can
 * name counters by enum name instead of by a magic index. */
const volatile enum eg_stat eg_stat_max __weak = EG_STAT_MAX;

static __always_inline void eg_count(__u32 stat, __u64 bytes)
{
	struct eg_stat_val *v = bpf_map_lookup_elem(&eg_stats, &stat);

	if (v) {
		v->packets++;
		v->bytes += bytes;
	}
}

#endif /* EG_BPF_STATS_H */
