/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * espgated's side of the datapath: it loads (or re-adopts) the BPF programs and their pinned
 * maps, attaches them to the configured interfaces (native XDP + tc, or the tc NAT program where
 * native XDP is unavailable, never generic XDP), and keeps the maps equal to the configuration
 * and to the SA events: children with their flags and MSS, the classifier's candidates (inside
 * source, post-NAT priority), NAT rules, port pools, DNAT, remote-netmap, allow rules and the
 * internet masquerade, written as one generation and switched in by one map update; the SPI
 * allow-list and negotiated selectors when SAs come and go; the conntrack sweeper; counters and
 * live NAT flows for espgatectl. Functions return 0 or -errno and write a sentence into err where
 * they take one; nothing here ever sees a key.
 *
 * EG_CHILD_UP ("traffic of this child may be handed to XFRM") is set when the daemon has said
 * that the child's marked out policy and its fail-closed fallback are installed
 * (eg_dp_child_policy) AND either an inbound SA is installed (eg_dp_child_up) or the tunnel is
 * `start: on-demand`. On-demand children therefore reach the kernel while down, which raises an
 * XFRM ACQUIRE and drops the packet (no SA for the policy's template): nothing leaves in clear.
 * Every other child without an SA is dropped in BPF (DROP_TUNNEL_DOWN), and so is every child
 * whose policies the daemon has not confirmed, because a marked packet without a policy would be
 * routed in clear.
 */
#ifndef EG_DPSYNC_H
#define EG_DPSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eg_config_file;
struct eg_child_ids;
struct ike_addr;
struct ike_ts_list;
struct ctl_out;
struct dp_maps;
struct espgate_bpf;
struct eg_dp;

enum eg_dp_open_flags {
	EG_DP_NO_ATTACH = 1u << 0, /* load and fill the maps, attach nothing (tests, --no-attach) */
};

enum eg_dp_limits {
	EG_DP_MAX_SPIS = 8,	  /* inbound SAs of one child at once (rekey overlap) */
	EG_DP_ESP_OVERHEAD = 104, /* bytes, worst case: outer IPv4 20 + UDP encap 8 + ESP 8 +
				    * IV 16 + padding and trailer 17 + ICV 32, rounded up */
	EG_DP_IKE_RATE = 100,	  /* IKE packets per second and source */
	EG_DP_IKE_BURST = 200,
	EG_DP_MAX_IFS = 3, /* outside, inside, eg1 */
};

/*
 * Mounts bpffs on /sys/fs/bpf when nothing is mounted there, loads the programs with pin_root
 * (maps pinned there by a previous espgated are re-used with their conntrack, counters and port
 * pools; NULL = nothing pinned, for tests) and, unless EG_DP_NO_ATTACH, attaches them to
 * cfg's interfaces: native XDP through libxdp plus tc_eg_ingress, or tc_eg_nat where native XDP
 * is unavailable (logged as a warning). Programs of a previous espgated that are still attached
 * are kept when identical and replaced otherwise (atomically where the kernel allows it), so
 * forwarding never stops. Nothing is written into the maps yet: eg_dp_apply() does that.
 */
int eg_dp_open(struct eg_dp **dp, const struct eg_config_file *cfg, const char *pin_root,
	       unsigned int flags, char *err, size_t errlen);

/*
 * Writes cfg as the next generation, switches eg_config.gen to it, then removes the previous one.
 * Child ids come from ids (peercfg: every child of cfg must have one). A child whose datapath
 * configuration is unchanged keeps its SA state (UP flag, SPIs, negotiated selectors); a changed
 * or removed one loses it, and its conntrack entries are flushed. Returns 0, or -EINVAL /
 * -EOPNOTSUPP / -E2BIG / -ENOSPC with the tunnel and child named in err and nothing switched
 * (the previous generation stays live).
 */
int eg_dp_apply(struct eg_dp *dp, const struct eg_config_file *cfg, const struct eg_child_ids *ids,
		char *err, size_t errlen);

/* The daemon installed (true) or removed (false) child's XFRM out policy and fallback. */
int eg_dp_child_policy(struct eg_dp *dp, uint32_t child_id, bool installed);

/*
 * An inbound SA of child is installed: ESP to local_outer with spi_in (host order) is allowed,
 * the negotiated selectors (ours post-NAT, the partner's real ones) replace the child's, and the
 * child is UP. -E2BIG (and nothing changed) when the selector pairs do not fit EG_MAX_CHILD_TS
 * prefixes; -ENOSPC past EG_DP_MAX_SPIS inbound SAs.
 */
int eg_dp_child_up(struct eg_dp *dp, uint32_t child_id, uint32_t spi_in,
		   const struct ike_addr *local_outer, const struct ike_ts_list *ts_local,
		   const struct ike_ts_list *ts_remote);
/* The inbound SA spi_in of child is gone; the last one takes the child down. */
int eg_dp_child_down(struct eg_dp *dp, uint32_t child_id, uint32_t spi_in);

/* Conntrack expiry (call it every second): the number of flows removed, or -errno. */
long eg_dp_sweep(struct eg_dp *dp);

/* Drops by reason (enum names), every other counter, per-child packets/bytes in and out, and the
 * kernel's non-zero /proc/net/xfrm_stat counters. */
int eg_dp_counters(struct eg_dp *dp, bool json, struct ctl_out *out);
/* Live conntrack flows (one line per flow, forward halves only): original -> translated tuples,
 * child, state, seconds left; at most limit (0 = 1000). */
int eg_dp_nat_flows(struct eg_dp *dp, bool json, unsigned int limit, struct ctl_out *out);

/*
 * After the hairpin changed (eg_hairpin_apply() on a reload): attaches tc_eg_nat to eg1 when it
 * exists and is not attached yet (or was re-created), forgets it when it is gone. 0 or -errno with
 * err naming what failed.
 */
int eg_dp_hairpin(struct eg_dp *dp, char *err, size_t errlen);

/*
 * detach false: frees the process's handles only; programs stay attached and maps pinned, so
 * traffic keeps flowing until the next espgated adopts them. detach true: removes exactly what
 * espgate attached (its XDP program, its tc filter) and the maps it pinned (and the pin directory
 * when empty); the clsact qdisc and anybody else's programs stay. Accepts NULL.
 */
void eg_dp_close(struct eg_dp *dp, bool detach);

/* Tests and tools: the loaded skeleton and the map handles. */
struct espgate_bpf *eg_dp_skel(struct eg_dp *dp);
struct dp_maps *eg_dp_maps(struct eg_dp *dp);
/* The live generation (0 or 1). */
uint32_t eg_dp_gen(const struct eg_dp *dp);

#endif /* EG_DPSYNC_H */
