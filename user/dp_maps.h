/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Filling the datapath's maps from plain C structs: configuration, children, NAT rules, DNAT,
 * selectors (the classifier's candidate lists are computed here, sorted by eg_policy_priority),
 * port pools (through an mmap of eg_port_pools, with atomic bit operations), the ESP SPI
 * allow-list, counters, and the conntrack sweeper. Used by espgated, the BPF tests and the netns
 * tests. Functions return 0 or -errno. Addresses are network order; ports host order unless the
 * ABI struct says otherwise.
 */
#ifndef EG_DP_MAPS_H
#define EG_DP_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "espgate_abi.h"

/* File descriptors of the maps (owned by the caller or by dp_maps_open_pinned). */
struct dp_maps {
	int config, stats, children, child_stats, sel, nat_rules, dnat, ct, pools, spis, rnetmap;
	struct eg_port_pool *pool_mem; /* mmap of eg_port_pools, EG_MAX_POOLS entries */
	bool owned;
};

/* An outbound selector pair of a child, as espgated installs it as an XFRM out policy, but with
 * the inside (pre-SNAT) source prefix. */
struct dp_sel {
	uint32_t child;
	uint16_t tunnel;
	uint32_t order;	       /* config order, unique (eg_policy_priority) */
	uint32_t saddr, daddr; /* network order */
	uint8_t splen, dplen;
	uint8_t proto;		     /* 0 = any */
	uint16_t sport_lo, sport_hi; /* host order, 0..65535 = any */
	uint16_t dport_lo, dport_hi;
	/* The XFRM priority of the policy this candidate stands for, when the source above is not
	 * that policy's (an inside, pre-SNAT prefix: espgated passes the priority of the post-NAT
	 * selector pair it installs); 0 = computed from the lengths above and `order`. */
	uint32_t prio;
};

/* Takes the fds as they are (e.g. from a skeleton: bpf_map__fd()); maps the pool array. */
int dp_maps_init(struct dp_maps *m);
/* Opens every map pinned under pin_root (e.g. EG_PIN_ROOT). */
int dp_maps_open_pinned(struct dp_maps *m, const char *pin_root);
void dp_maps_fini(struct dp_maps *m);

int dp_config_write(struct dp_maps *m, const struct eg_config *c);
int dp_config_read(struct dp_maps *m, struct eg_config *c);
int dp_child_write(struct dp_maps *m, uint32_t child, const struct eg_child *c);
int dp_nat_rule_write(struct dp_maps *m, uint32_t id, const struct eg_nat_rule *r);
int dp_dnat_write(struct dp_maps *m, uint32_t gen, uint32_t child, uint8_t proto, uint32_t addr,
		  uint16_t port, uint32_t to_addr, uint16_t to_port);
/* Writes generation `gen` of the classifier from n selectors: one LPM entry per distinct
 * destination prefix, listing every selector whose destination covers it, sorted by priority.
 * -E2BIG if a prefix would need more than EG_SEL_CANDS candidates, -EINVAL on a bad selector. */
int dp_sel_write(struct dp_maps *m, uint32_t gen, const struct dp_sel *sels, size_t n);
/* Deletes every classifier entry of generation `gen` (after the flip away from it). */
int dp_sel_clear(struct dp_maps *m, uint32_t gen);
/* remote-netmap (S5): child's partner prefix remote_addr/plen appears to our network as
 * inside_addr/plen. Writes both entries of generation `gen` (outbound keyed by the inside prefix,
 * inbound keyed by child + remote prefix); -EINVAL on child 0, plen > 32 or host bits set. */
int dp_rnetmap_write(struct dp_maps *m, uint32_t gen, uint32_t child, uint32_t inside_addr,
		     uint32_t remote_addr, uint8_t plen);
/* Deletes every remote-netmap entry of generation `gen`. */
int dp_rnetmap_clear(struct dp_maps *m, uint32_t gen);
/* A fresh pool: external address, usable ports [lo, hi]; all of them free. */
int dp_pool_write(struct dp_maps *m, uint32_t idx, uint32_t addr, uint16_t lo, uint16_t hi);
/* Marks a port used or free (tests force collisions with it; the sweeper frees). */
int dp_pool_set(struct dp_maps *m, uint32_t idx, uint16_t port, bool used);
/* Ports in use in [lo, hi]. */
long dp_pool_used(struct dp_maps *m, uint32_t idx);
int dp_spi_add(struct dp_maps *m, uint32_t spi, uint32_t daddr, uint32_t child, uint32_t cpu);
/* Sum over CPUs of one counter. */
int dp_stat_read(struct dp_maps *m, enum eg_stat stat, uint64_t *pkts, uint64_t *bytes);
/* Deletes every conntrack pair whose two halves both expired before `now` (CLOCK_MONOTONIC ns,
 * the clock of bpf_ktime_get_ns) and frees its pool port. Returns the number of pairs deleted or
 * -errno. */
long dp_ct_sweep(struct dp_maps *m, uint64_t now);
/* Number of conntrack entries (both halves counted). */
long dp_ct_count(struct dp_maps *m);

#endif /* EG_DP_MAPS_H */
