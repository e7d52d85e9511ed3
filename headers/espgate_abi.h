/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between espgated and the datapath: every BPF map's key and value, the drop-reason
 * enum, the XDP metadata, pin names, and the mark/reqid/priority ranges espgated reserves for the
 * kernel's XFRM objects. This is the only copy of these definitions; bpf/ and user/ both include
 * it. No code lives here. docs/DESIGN.md explains each piece; change both together.
 *
 * All addresses and ports are in network byte order (__be32/__be16) exactly as they sit in the
 * packet; counters, ids and lengths are host order.
 */
#ifndef ESPGATE_ABI_H
#define ESPGATE_ABI_H

#if defined(__bpf__)
/* BPF programs get the types from vmlinux.h, included before this header. */
#else
#include <linux/types.h>
#endif

#define EG_PIN_ROOT "/sys/fs/bpf/espgate"

enum eg_limits {
	EG_MAX_TUNNELS = 256,
	EG_MAX_CHILDREN = 4096, /* child ids 1..EG_MAX_CHILDREN-1; 0 means "none" */
	EG_MAX_CHILD_TS = 8,	/* negotiated selectors kept per child for the inbound check */
	EG_SEL_CANDS = 8,	/* classifier candidates per destination prefix */
	EG_MAX_SEL_PREFIXES = 262144, /* LPM entries (x2 for the two generations) */
	EG_MAX_NAT_RULES = 262144,
	EG_MAX_DNAT = 65536,
	EG_MAX_CT = 524288, /* conntrack entries; every flow takes two */
	EG_MAX_SPIS = 16384,
	EG_MAX_POOLS = 64,	    /* many-to-one SNAT addresses */
	EG_POOL_WORDS = 1024,	    /* 1024 x 64 bits = one bit per port */
	EG_MAX_IKE_SOURCES = 65536, /* IKE rate-limit buckets */
	EG_MAX_VLAN_DEPTH = 2,
	EG_MAX_CHILD_ALLOW = 8,	  /* per-child allow rules (L3/L4 firewall) */
	EG_MAX_CPUS = 128,	  /* cpumap entries for ESP steering */
	EG_MAX_RNETMAP = 4096,	  /* remote-netmap rules (x2 directions, x2 generations) */
	EG_FIB_CACHE_SLOTS = 256, /* per-CPU route cache of the XDP_REDIRECT path */
	EG_FLOW_CACHE_BITS = 12,  /* per-CPU flow cache in front of conntrack: 4096 slots */
	EG_FLOW_CACHE_SLOTS = 1u << EG_FLOW_CACHE_BITS,
};

/* How long a cached bpf_fib_lookup result is used: a route or neighbour change reaches the
 * redirect path within this time (the stack's own paths see it at once). */
#define EG_FIB_CACHE_NS 100000000ull /* 100 ms */
/* How long a per-CPU flow cache slot answers for its conntrack entry (see struct eg_flow_slot):
 * in jiffies, the cheapest clock BPF can read, so 5 ms to 50 ms depending on CONFIG_HZ; a slot
 * is only filled for an entry with more than EG_FLOW_CACHE_NS left. */
#define EG_FLOW_CACHE_JIFFIES 5
#define EG_FLOW_CACHE_NS 50000000ull /* 50 ms: 5 jiffies at HZ=100, the slowest tick */

/*
 * Marks. Every child SA of espgate has a child id; its marks are derived from it, so the mark alone
 * names the child and no mark->child map is needed:
 *   out mark: set by tc on plaintext that XDP classified; every outbound XFRM policy of that child
 *             matches it with a full mask.
 *   in mark:  set by the inbound SA (XFRMA_SET_MARK) on the packets it decrypts; the child's in/fwd
 *             policies match it, and tc ingress uses it to find the child's negotiated selectors.
 * Marks outside EG_MARK_MAGIC/EG_MARK_MAGIC_MASK are not ours and are never touched.
 */
#define EG_MARK_MAGIC 0x45470000u /* "EG" */
#define EG_MARK_MAGIC_MASK 0xffff0000u
#define EG_MARK_DIR_IN 0x00008000u
#define EG_MARK_CHILD_MASK 0x00007fffu
#define EG_MARK_OUT(child) (EG_MARK_MAGIC | ((child)&EG_MARK_CHILD_MASK))
#define EG_MARK_IN(child) (EG_MARK_MAGIC | EG_MARK_DIR_IN | ((child)&EG_MARK_CHILD_MASK))

/* reqid of a child = EG_REQID_BASE + child id; espgated only ever flushes this range. */
#define EG_REQID_BASE 0x45470000u
#define EG_REQID(child) (EG_REQID_BASE + (child))

/*
 * XFRM policy priorities (lower wins in the kernel). user/policy.c:eg_policy_priority() is the one
 * function that computes them, from selector specificity and config order; the classifier's
 * candidate lists are sorted by the same value. Ranges:
 *   [EG_PRIO_CHILD_BASE, EG_PRIO_FALLBACK_BASE)  marked out/in/fwd policies of children
 *   [EG_PRIO_FALLBACK_BASE, ...)                  unmarked "block" policies on the same selectors, so
 *                                                 a packet that reaches XFRM unclassified is dropped,
 *                                                 never sent in clear (fail closed); these carry
 *                                                 no mark or reqid, so this range is what names
 *                                                 them as espgate's
 */
#define EG_PRIO_CHILD_BASE 0x00100000u
/* The hairpin bypass: unmarked "allow" out policies (no template) whose selector is a hairpin
 * route's (host source -> remote selector) and the interface eg0, so the gateway's own packet enters
 * the hairpin in clear instead of meeting the fallback; worse than every marked policy, better than
 * every fallback, and with this exact priority what names them as espgate's. */
#define EG_PRIO_HAIRPIN 0x003f0000u
#define EG_PRIO_FALLBACK_BASE 0x00400000u
#define EG_PRIO_FALLBACK_END 0x00800000u /* unmarked block policies in [BASE, END) are ours */

/* XDP -> tc handoff, in the XDP metadata area in front of the frame. */
#define EG_META_MAGIC 0xe59a7e01u
struct eg_xdp_meta {
	__u32 magic;
	__u32 mark; /* EG_MARK_OUT(child), or 0 */
};

/* One stable code per counted event; EG_STAT_DROP_* is bumped exactly once per dropped packet. */
enum eg_stat {
	EG_STAT_RX = 0,	  /* every packet an entry program saw */
	EG_STAT_PASS,	  /* passed on untouched (not ours, IPv6, platform traffic...) */
	EG_STAT_NAT_OUT,  /* plaintext translated on its way into a tunnel */
	EG_STAT_NAT_IN,	  /* decrypted packet reverse-translated */
	EG_STAT_REDIRECT, /* forwarded by XDP_REDIRECT (never tunnel traffic) */
	EG_STAT_ESP_PASS, /* ESP with a known SPI */
	EG_STAT_IKE_PASS, /* IKE within its rate */
	EG_STAT_MSS_CLAMPED,
	EG_STAT_CT_NEW,		      /* conntrack pairs created */
	EG_STAT_DROP_MALFORMED,	      /* header shorter than it says, bad IHL... */
	EG_STAT_DROP_UNKNOWN_SPI,     /* ESP for an SA we do not have */
	EG_STAT_DROP_IKE_RATELIMIT,   /* IKE over the per-source token bucket */
	EG_STAT_DROP_CT_FULL,	      /* conntrack table full */
	EG_STAT_DROP_PORTS_EXHAUSTED, /* many-to-one SNAT pool has no free port */
	EG_STAT_DROP_SELECTOR,	  /* decrypted packet outside its child's negotiated selectors */
	EG_STAT_DROP_ONEWAY,	  /* partner-initiated flow to an unpublished service */
	EG_STAT_DROP_TRANSIT,	  /* partner traffic addressed to another partner */
	EG_STAT_DROP_FRAG,	  /* fragment of a port-translated flow (no reassembly yet) */
	EG_STAT_DROP_TUNNEL_DOWN, /* classified into a child that has no SA */
	EG_STAT_DROP_POLICY,	  /* denied by a per-tunnel allow rule */
	EG_STAT_DROP_INTERNAL,	  /* a map update failed for another reason */
	EG_STAT_TUNNEL_OUT,	  /* classified into a child, passed to XFRM untranslated */
	EG_STAT_TUNNEL_IN,	  /* decrypted packet accepted untranslated */
	EG_STAT_NAT_PLAIN,	  /* translated, bound for no tunnel (masquerade, inside DNAT) */
	EG_STAT_DROP_CLEARTEXT,	  /* plaintext arriving for a flow that must come decrypted */

	/* our in mark on a packet without that child's XFRM state: someone else set the mark
	 * (EG_CFG_SA_CHECK) */
	EG_STAT_DROP_NOT_DECRYPTED,
	/* on the hairpin's eg1, bound for no tunnel: routed back into eg0 it would loop */
	EG_STAT_DROP_HAIRPIN_LOOP,
	EG_STAT_MAX,
};

struct eg_stat_val {
	__u64 packets;
	__u64 bytes;
};

/* Runtime configuration: one entry of eg_config. `gen` selects which generation of the
 * generation-tagged maps (selectors, NAT rules, DNAT) is live; espgated writes the new generation
 * completely, then flips this one word, so no packet sees half of two configs. */
enum eg_cfg_flags {
	EG_CFG_ENABLED = 1u << 0,
	EG_CFG_REDIRECT = 1u << 1, /* fib_lookup + XDP_REDIRECT for flows bound for no tunnel */
	EG_CFG_CPUMAP = 1u << 2,   /* steer ESP to a CPU chosen by SPI */
	/* A packet with an in mark must carry the XFRM state (sec_path) of that child's SA, whose
	 * reqid is EG_REQID(child), else EG_STAT_DROP_NOT_DECRYPTED: a mark someone else set cannot
	 * pass plaintext off as decrypted. espgated always sets it; only BPF_PROG_TEST_RUN, which
	 * cannot give a packet a sec_path, runs the inbound cases without it. */
	EG_CFG_SA_CHECK = 1u << 3,
};

struct eg_config {
	__u32 gen;	/* 0 or 1 */
	__u32 flags;	/* enum eg_cfg_flags */
	__u32 ike_rate; /* IKE packets per second per source */
	__u32 ike_burst;
	__u64 ct_timeout_tcp_syn; /* ns */
	__u64 ct_timeout_tcp_est;
	__u64 ct_timeout_tcp_fin;
	__u64 ct_timeout_udp;
	__u64 ct_timeout_icmp;
	__u32 masq_rule; /* eg_nat_rules index of the internet masquerade (EG_NAT_MASQ), 0 = none */
	/* ifindex of the hairpin's eg1 (0 = none): what tc_eg_nat there does not hand to a child
	 * would be routed back into eg0, so it is EG_STAT_DROP_HAIRPIN_LOOP */
	__u32 hairpin_ifindex;
};

enum eg_child_flags {
	EG_CHILD_VALID = 1u << 0,
	EG_CHILD_UP = 1u << 1, /* has an installed SA pair */
	EG_CHILD_STRICT = 1u << 2,
	EG_CHILD_ONE_WAY = 1u << 3, /* partner may not open flows except to published services */
	EG_CHILD_TRANSPORT = 1u << 4,
};

/* A per-child allow rule (seed 001's L3/L4 firewall). A child with no allow rules lets its own
 * side open any flow its selectors carry; once it has some, every new flow in a direction must
 * match one rule for that direction. `local_*` is our side's (inside, pre-SNAT / post-DNAT)
 * address, `remote_*` the partner's real address (as in the child's remote selectors, before
 * remote-netmap), `port_*` the destination port of the opening packet. A zero mask matches any
 * address. */
struct eg_allow {
	__be32 local_addr;
	__be32 local_mask;
	__be32 remote_addr;
	__be32 remote_mask;
	__be16 port_lo; /* inclusive; 0..65535 = any */
	__be16 port_hi;
	__u8 proto; /* 0 = any */
	__u8 dir;   /* enum eg_allow_dir */
	__u8 pad[2];
};

/* A negotiated traffic selector, as the SA carries it (post-NAT on our side). */
struct eg_ts {
	__be32 local_addr; /* network address, masked */
	__be32 local_mask;
	__be32 remote_addr;
	__be32 remote_mask;
	__be16 local_port_lo; /* inclusive; 0..65535 = any */
	__be16 local_port_hi;
	__be16 remote_port_lo;
	__be16 remote_port_hi;
	__u8 proto; /* 0 = any */
	__u8 pad[3];
};

/* eg_children[child id]: written by espgated from config and SA events. */
struct eg_child {
	__u32 flags; /* enum eg_child_flags */
	__u16 tunnel_id;
	__u16 mss;	/* clamp TCP MSS of SYNs into this child to this; 0 = off */
	__u32 nat_rule; /* index into eg_nat_rules, 0 = none */
	__u32 n_ts;
	struct eg_ts ts[EG_MAX_CHILD_TS];
	__u32 n_allow;
	__u32 pad;
	struct eg_allow allow[EG_MAX_CHILD_ALLOW];
};

/*
 * Outbound classifier: LPM trie on (generation, destination). The value lists every selector whose
 * destination prefix covers this prefix, sorted by the XFRM policy priority espgated gave the
 * kernel, so the first candidate that matches source/protocol/ports is the child the kernel would
 * choose. `src` is the inside (pre-SNAT) source prefix.
 */
struct eg_sel_key {
	__u32 prefixlen; /* 32 + destination prefix length */
	__u32 gen;
	__be32 daddr;
};

struct eg_sel_cand {
	__u32 child;
	__u32 prio;
	__be32 saddr;
	__be32 smask;
	__be16 sport_lo;
	__be16 sport_hi;
	__be16 dport_lo;
	__be16 dport_hi;
	__u8 proto;
	__u8 pad;
	__u16 tunnel; /* the child's tunnel id (inbound transit check) */
};

struct eg_sel_val {
	__u32 n;
	__u32 plen; /* destination prefix length of this entry */
	struct eg_sel_cand cand[EG_SEL_CANDS];
};

enum eg_nat_type {
	EG_NAT_NONE = 0,
	EG_NAT_SNAT_HOST, /* 1:1 host: inside_addr <-> outside_addr */
	EG_NAT_PREFIX,	  /* prefix-to-prefix: host bits kept, both directions */
	EG_NAT_SNAT_POOL, /* many-to-one with ports from pool `pool` */
	EG_NAT_MASQ,	  /* internet masquerade: never applies to tunnel traffic */
};

/* eg_nat_rules[id] (id 0 unused): per-generation rules are given fresh ids. */
struct eg_nat_rule {
	__u32 type; /* enum eg_nat_type */
	__u32 pool; /* EG_NAT_SNAT_POOL/MASQ: index into eg_port_pools */
	__be32 inside_addr;
	__be32 inside_mask;
	__be32 outside_addr;
	__be32 outside_mask;
};

/* DNAT of published services: (gen, proto, addr, port) -> new addr/port. `child` restricts the
 * rule to flows arriving through that child's SA (0 = flows from the inside). */
struct eg_dnat_key {
	__u32 gen;
	__u32 child;
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct eg_dnat_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

/*
 * Destination prefix mapping (config NAT type remote-netmap, S5): a partner's real prefix
 * (`remote`, e.g. red's 10.0.0.0/16) appears to our network under another one (`inside`, e.g.
 * 10.201.0.0/16), host bits kept. One LPM trie, generation-tagged like the classifier, holds each
 * rule twice:
 *   outbound: key { 64 + plen, gen, child = 0, inside prefix }: plaintext to 10.201.x.y gets its
 *             destination rewritten to 10.0.x.y *before* classification, and is then classified
 *             among `child`'s selectors only (two partners may have identical selectors, S5b;
 *             the inside prefix is what tells them apart). No selector of that child matching is
 *             EG_STAT_DROP_POLICY: a mapped address never leaves in clear.
 *   inbound:  key { 64 + plen, gen, child, remote prefix }: a flow the partner opens through
 *             `child`'s SA from 10.0.x.y gets its source rewritten to 10.201.x.y (after the
 *             negotiated-selector check, which sees real addresses). Replies of either direction
 *             are reversed by conntrack.
 * Both entries carry the same value. user/dp_maps.c: dp_rnetmap_write() writes the pair.
 */
struct eg_rnetmap_key {
	__u32 prefixlen; /* 64 + prefix length */
	__u32 gen;
	__u32 child; /* 0 = outbound entry (keyed by the inside prefix) */
	__be32 addr; /* outbound: inside prefix; inbound: remote (real) prefix */
};

struct eg_rnetmap_val {
	__u32 child;
	__be32 inside_addr; /* network address, masked */
	__be32 remote_addr;
	__be32 mask; /* both prefixes have the same length */
};

/* Per-tunnel allow rules for the L3/L4 firewall (seed 001). */
enum eg_allow_dir {
	EG_ALLOW_OUT = 1u << 0, /* our side may open */
	EG_ALLOW_IN = 1u << 1,	/* partner may open */
};

/* Conntrack: plain hash (not LRU), both directions inserted with BPF_NOEXIST, rolled back on
 * failure, expired by espgated's sweeper. The key is the tuple as it appears on the wire. */
struct eg_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP echo: identifier */
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum eg_ct_state {
	EG_CT_NEW = 0,
	EG_CT_ESTABLISHED,
	EG_CT_FIN,
	EG_CT_CLOSED,
};

enum eg_ct_flags {
	EG_CT_REPLY = 1u << 0,	      /* this entry is the reply direction */
	EG_CT_FROM_PARTNER = 1u << 1, /* the flow was opened by the partner (published service) */
	EG_CT_SNAT = 1u << 2,
	EG_CT_DNAT = 1u << 3,
	EG_CT_TO_TUNNEL = 1u << 4,   /* this direction's packets go into child's SA (mark OUT) */
	EG_CT_FROM_TUNNEL = 1u << 5, /* this direction's packets must arrive decrypted by child */
};

struct eg_ct_val {
	struct eg_ct_key xlate; /* the tuple to rewrite this direction's packets to */
	__u64 expires;		/* bpf_ktime_get_ns() deadline */
	__u32 child;
	__u32 nat_rule;
	__u8 state; /* enum eg_ct_state */
	__u8 flags; /* enum eg_ct_flags */
	__u16 pool; /* 1 + eg_port_pools index whose bit xlate/key port holds, 0 = none */
	__u32 pad2;
};

/* Many-to-one SNAT: one bitmap of ports per external address (bit set = port in use), shared by
 * TCP, UDP and ICMP echo identifiers. The map is mmapable: BPF claims a port with an atomic
 * fetch-or (a lost race is seen and another bit tried), the sweeper releases it with an atomic
 * and through its mapping, so neither side ever rewrites a whole value. Ports outside
 * [port_lo, port_hi] are set by espgated when the pool is written, so the scan never finds them. */
struct eg_port_pool {
	__be32 addr;
	__u16 port_lo; /* host order, inclusive */
	__u16 port_hi;
	__u64 words[EG_POOL_WORDS];
};

/* ESP allow-list: inbound SAs espgated installed. */
struct eg_spi_key {
	__be32 spi;
	__be32 daddr;
};

struct eg_spi_val {
	__u32 child;
	__u32 cpu; /* target CPU when EG_CFG_CPUMAP is set */
};

/*
 * One slot of the per-CPU route cache of the redirect path (eg_fib_cache, indexed by a hash of
 * the addresses): bpf_fib_lookup's answer for (saddr, daddr, tos, ingress interface), used for
 * EG_FIB_CACHE_NS and only for packets no longer than one the lookup checked the MTU for. BPF
 * only; espgated never reads it.
 */
struct eg_fib_entry {
	__be32 saddr;
	__be32 daddr;
	__u32 iif;    /* ingress ifindex */
	__u32 oif;    /* egress ifindex, the redirect target */
	__u64 stamp;  /* bpf_ktime_get_coarse_ns() of the lookup */
	__u16 len_ok; /* the longest IPv4 total length the lookup found within the MTU */
	__u8 tos;
	__u8 pad;
	__u8 smac[6];
	__u8 dmac[6];
	__u8 pad2[2];
};

/*
 * One slot of the per-CPU flow cache XDP consults before the conntrack hash (eg_flow_cache: CPU
 * n's EG_FLOW_CACHE_SLOTS slots at n * EG_FLOW_CACHE_SLOTS, indexed by a hash of the tuple; one
 * cache line each, the map's values being page-aligned): a copy of what an established entry
 * says, filled when a packet hits the entry. It answers for packets of that tuple without TCP SYN, FIN or RST (those
 * take the full path, which moves the TCP state and clamps the MSS) for EG_FLOW_CACHE_JIFFIES
 * (at most EG_FLOW_CACHE_NS), and is only filled for an entry that lives longer than that, so
 * the sweeper, which deletes only expired entries, never deletes one a slot still stands for; a
 * generation switch voids every slot. A flow espgated deletes while it is live (ct flush on reload) is
 * forgotten by the fast path within EG_FLOW_CACHE_NS. BPF only; espgated never reads it.
 */
struct eg_flow_slot {
	struct eg_ct_key key;
	struct eg_ct_key xlate; /* the entry's translated tuple */
	__u64 until;		/* bpf_jiffies64() bound */
	__u32 child;		/* the entry's child (EG_CT_TO_TUNNEL) */
	__u32 gen;		/* eg_config.gen at the fill */
	__u8 flags;		/* the entry's enum eg_ct_flags */
	__u8 changes;		/* xlate differs from key */
	__u16 ip_acc;		/* TCP/UDP: the folded checksum differences of the translation, */
	__u16 l4_acc;		/* IPv4 header's and L4's, as apply_xdp would accumulate them */
	__u8 csum_pre;		/* ip_acc and l4_acc are set */
	__u8 pad[9];		/* to 64 bytes: one cache line */
};

/* IKE per-source token bucket. */
struct eg_ike_bucket {
	__u64 last;   /* ns */
	__u64 tokens; /* scaled by 1000 */
};

/* Per-child traffic counters (per-CPU). */
struct eg_child_stats {
	__u64 pkts_out;
	__u64 bytes_out;
	__u64 pkts_in;
	__u64 bytes_in;
};

#endif /* ESPGATE_ABI_H */
