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

/* Children by id: flags, NAT rule, MSS, negotiated selectors, allow rules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EG_MAX_CHILDREN);
	__type(key, __u32);
	__type(value, struct eg_child);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_children __weak SEC(".maps");

/* Per-child traffic counters, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EG_MAX_CHILDREN);
	__type(key, __u32);
	__type(value, struct eg_child_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_child_stats __weak SEC(".maps");

/* Outbound classifier: (gen, destination prefix) -> candidates sorted by XFRM priority. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, EG_MAX_SEL_PREFIXES * 2);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eg_sel_key);
	__type(value, struct eg_sel_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_sel __weak SEC(".maps");

/* NAT rules by id (fresh ids per generation; 0 unused). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EG_MAX_NAT_RULES);
	__type(key, __u32);
	__type(value, struct eg_nat_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_nat_rules __weak SEC(".maps");

/* remote-netmap (S5): (gen, child|0, prefix) -> destination/source prefix mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, EG_MAX_RNETMAP * 4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eg_rnetmap_key);
	__type(value, struct eg_rnetmap_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_rnetmap __weak SEC(".maps");

/* Published services. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EG_MAX_DNAT * 2);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eg_dnat_key);
	__type(value, struct eg_dnat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_dnat __weak SEC(".maps");

/* Conntrack: a plain preallocated hash, never LRU (see headers/espgate_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EG_MAX_CT);
	__type(key, struct eg_ct_key);
	__type(value, struct eg_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_ct __weak SEC(".maps");

/* Port bitmaps of the many-to-one SNAT addresses; mmapable for the sweeper's atomic release. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EG_MAX_POOLS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct eg_port_pool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_port_pools __weak SEC(".maps");

/* ESP allow-list: (SPI, destination) of every inbound SA espgated installed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EG_MAX_SPIS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eg_spi_key);
	__type(value, struct eg_spi_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_spis __weak SEC(".maps");

/* IKE token buckets per source address. LRU is right here (unlike conntrack): an evicted bucket
 * only starts full again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EG_MAX_IKE_SOURCES);
	__type(key, __be32);
	__type(value, struct eg_ike_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eg_ike_buckets __weak SEC(".maps");

/* CPUs ESP is steered to when EG_CFG_CPUMAP is set (espgated fills queue sizes). */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, EG_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} eg_cpumap __weak SEC(".maps");

/* Route cache of the redirect path (struct eg_fib_entry); per CPU, so no locking, not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EG_FIB_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct eg_fib_entry);
} eg_fib_cache __weak SEC(".maps");

/*
 * Flow cache in front of eg_ct for XDP (struct eg_flow_slot), not pinned. Per CPU by index: CPU
 * n owns slots n * EG_FLOW_CACHE_SLOTS and on, and only CPU n touches them. A plain array rather
 * than a per-CPU one: its lookup is one multiply-add where a per-CPU array's first loads the
 * element's pointer from a table (32 KiB for 4096 slots, a second cache miss per packet under
 * many flows: perf). Mmapable so its values are page-aligned: every 64-byte slot is one cache
 * line. The loader (ldr_size_maps) sizes it for the possible CPUs; a CPU beyond the size finds
 * no slot and takes the full path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, EG_FLOW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct eg_flow_slot);
} eg_flow_cache __weak SEC(".maps");

char LICENSE[] __weak SEC("license") = "GPL";

#endif /* EG_BPF_MAPS_H */
