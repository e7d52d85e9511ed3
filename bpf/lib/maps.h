/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every BPF map of espgate, defined once with the ABI types from headers/espgate_abi.h. The maps
 * are __weak so that each program object can include this file and `bpftool gen object` links
 * them into one definition. State and anything an operator inspects is pinned by name under
 * /sys/fs/bpf/espgate (the loader sets the pin root), so a restart re-adopts it and
 * `bpftool map dump pinned /sys/fs/bpf/espgate/<map>` prints BTF-named fields.
 */
#ifndef EG_BPF_MAPS_H
#define EG_BPF_MAPS_H

/* Runtime configuration (one entry): active generation, flags, timeouts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eg_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_config __weak SEC(".maps");

/* Counters per enum eg_stat, per CPU, no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EG_STAT_MAX);
	__type(key, __u32);
	__type(value, struct eg_stat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_stats __weak SEC(".maps");

char LICENSE[] __weak SEC("license") = "GPL";

#endif /* EG_BPF_MAPS_H */
