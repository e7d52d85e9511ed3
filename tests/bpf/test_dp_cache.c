// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, the two per-CPU caches of the XDP fast path, in a private network namespace (this
 * process pinned to one CPU so every test run sees the same cache). The flow cache: the second
 * packet of a flow fills a slot with its conntrack entry's answer, the third is answered from it
 * (proved by deleting the conntrack pair first: no new pair is created), but never after
 * EG_FLOW_CACHE_NS, never past the entry's deadline, never across a generation switch, never for
 * TCP SYN/FIN/RST (the FIN moves the entry's state), and a tunnel flow still stops when its child
 * goes down. The route cache of the redirect path: a cached neighbour answer is used within
 * EG_FIB_CACHE_NS and replaced after it, and a packet longer than the MTU the lookup checked is
 * looked up again (and passed to the stack when it does not fit).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include "espgate_abi.h"
#include "dp_maps.h"
#include "bpf_test.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define N(x) htonl(x)
#define MASK(l) htonl((l) ? ~0u << (32 - (l)) : 0)
#define C_HOST 3 /* 10.1.1.66 -> 100.64.0.18 into 192.168.88.0/24 */
#define CPU 0

static struct bt t;
static struct dp_maps dm;
static int xdp_fd, ncpu;

static void must(int err, const char *what)
{
	if (err) {
		printf("Bail out! %s: %s\n", what, strerror(err < 0 ? -err : err));
		exit(1);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void child(bool up)
{
	struct eg_child c;

	memset(&c, 0, sizeof(c));
	c.flags = EG_CHILD_VALID | (up ? EG_CHILD_UP : 0);
	c.tunnel_id = 1;
	c.nat_rule = 3;
	c.n_ts = 1;
	c.ts[0].local_mask = MASK(32);
	c.ts[0].local_addr = N(IP(100, 64, 0, 18));
	c.ts[0].remote_mask = MASK(24);
	c.ts[0].remote_addr = N(IP(192, 168, 88, 0));
	c.ts[0].local_port_hi = c.ts[0].remote_port_hi = 0xffff;
	must(dp_child_write(&dm, C_HOST, &c), "child");
}

static void config(uint32_t gen, uint32_t flags, uint64_t udp_timeout)
{
	struct eg_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.gen = gen;
	cfg.flags = EG_CFG_ENABLED | flags;
	cfg.masq_rule = 4;
	cfg.ct_timeout_udp = udp_timeout;
	must(dp_config_write(&dm, &cfg), "config");
}

static void setup(void)
{
	struct eg_nat_rule r;
	struct dp_sel s;

	memset(&r, 0, sizeof(r));
	r.type = EG_NAT_SNAT_HOST;
	r.inside_mask = r.outside_mask = MASK(32);
	r.inside_addr = N(IP(10, 1, 1, 66));
	r.outside_addr = N(IP(100, 64, 0, 18));
	must(dp_nat_rule_write(&dm, 3, &r), "host rule");
	memset(&r, 0, sizeof(r));
	r.type = EG_NAT_MASQ;
	r.pool = 1;
	r.inside_mask = MASK(16);
	r.inside_addr = N(IP(10, 1, 0, 0));
	must(dp_nat_rule_write(&dm, 4, &r), "masquerade rule");
	must(dp_pool_write(&dm, 1, N(IP(198, 19, 0, 1)), 1024, 65535), "pool");
	child(true);
	memset(&s, 0, sizeof(s));
	s.child = C_HOST;
	s.tunnel = 1;
	s.saddr = N(IP(10, 1, 1, 66));
	s.splen = 32;
	s.daddr = N(IP(192, 168, 88, 0));
	s.dplen = 24;
	s.sport_hi = s.dport_hi = 65535;
	for (uint32_t gen = 0; gen < 2; gen++)
		must(dp_sel_write(&dm, gen, &s, 1), "selectors");
	config(0, 0, 0);
}

static struct pkt P(uint32_t s, uint16_t sp, uint32_t d, uint16_t dp, uint8_t proto, uint8_t flags,
		    size_t payload) {
	struct pkt p;

	pkt_build(&p, &(struct pkt_spec){ .saddr = s,
					  .daddr = d,
					  .proto = proto,
					  .sport = sp,
					  .dport = dp,
					  .tcp_flags = flags,
					  .payload_len = payload });
	return p;
}

/* One XDP run of p (ingress_ifindex ifindex, 0 = none); the output frame into out. */
static int
run(const struct pkt *p, int ifindex, struct pkt *out)
{
	struct xdp_md ctx = { .data_end = (__u32)p->len, .ingress_ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (__u32)p->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);

	if (ifindex) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(xdp_fd, &o))
		return -1;
	out->len = o.data_size_out;
	return (int)o.retval;
}

/* This CPU's flow cache slot holding tuple k, or false. */
static bool slot_of(const struct eg_ct_key *k, struct eg_flow_slot *out)
{
	int fd = bpf_map__fd(t.skel->maps.eg_flow_cache);
	struct eg_flow_slot v;

	for (uint32_t i = 0; i < EG_FLOW_CACHE_SLOTS; i++) {
		uint32_t idx = (uint32_t)CPU * EG_FLOW_CACHE_SLOTS + i;

		if (bpf_map_lookup_elem(fd, &idx, &v))
			break;
		if (!memcmp(&v.key, k, sizeof(*k))) {
			*out = v;
			return true;
		}
	}
	return false;
}

static struct eg_ct_key key(uint32_t s, uint16_t sp, uint32_t d, uint16_t dp, uint8_t proto)
{
	struct eg_ct_key k;

	memset(&k, 0, sizeof(k));
	k.saddr = N(s);
	k.daddr = N(d);
	k.sport = htons(sp);
	k.dport = htons(dp);
	k.proto = proto;
	return k;
}

/* Deletes the conntrack pair whose forward key is k (its pool port stays taken). */
static void ct_forget(const struct eg_ct_key *k)
{
	struct eg_ct_val v;
	struct eg_ct_key r;

	if (bpf_map_lookup_elem(dm.ct, k, &v))
		return;
	memset(&r, 0, sizeof(r));
	r.saddr = v.xlate.daddr;
	r.daddr = v.xlate.saddr;
	r.sport = v.xlate.dport;
	r.dport = v.xlate.sport;
	r.proto = v.xlate.proto;
	bpf_map_delete_elem(dm.ct, &r);
	bpf_map_delete_elem(dm.ct, k);
}

static void flow_cache(void)
{
	struct pkt a = P(IP(10, 1, 0, 5), 1000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0, 12), o1, o2;
	struct eg_ct_key ka = key(IP(10, 1, 0, 5), 1000, IP(8, 8, 8, 8), 53, IPPROTO_UDP);
	struct eg_flow_slot fs;
	struct eg_ct_val v;
	uint64_t n0, t0;
	char why[160] = "";

	n0 = bt_stat(&t, EG_STAT_CT_NEW);
	bt_ok(&t, run(&a, 0, &o1) == XDP_PASS && bt_stat(&t, EG_STAT_CT_NEW) == n0 + 1,
	      "flow cache: a new masqueraded flow creates its pair", "no pair");
	bt_ok(&t, !slot_of(&ka, &fs), "flow cache: the first packet fills no slot", "filled");
	t0 = now_ns();
	bt_ok(&t,
	      run(&a, 0, &o2) == XDP_PASS && o2.len == o1.len && !memcmp(o1.b, o2.b, o1.len) &&
		      slot_of(&ka, &fs),
	      "flow cache: the second packet (a conntrack hit) fills this CPU's slot", "no slot");
	bpf_map_lookup_elem(dm.ct, &ka, &v);
	bt_ok(&t,
	      !memcmp(&fs.xlate, &v.xlate, sizeof(v.xlate)) && fs.gen == 0 && fs.until &&
		      v.expires >= t0 + EG_FLOW_CACHE_NS,
	      "flow cache: the slot holds the entry's translation (an entry living past 50 ms)",
	      "wrong slot");
	ct_forget(&ka);
	n0 = bt_stat(&t, EG_STAT_CT_NEW);
	bt_ok(&t,
	      run(&a, 0, &o2) == XDP_PASS && o2.len == o1.len && !memcmp(o1.b, o2.b, o1.len) &&
		      bt_stat(&t, EG_STAT_CT_NEW) == n0 && pkt_verify_csums(o2.b, o2.len) == 0,
	      "flow cache: with the pair deleted, the third packet is still translated the same "
	      "(answered from the slot)",
	      "not from the cache");
	{
		uint64_t rx = bt_stat(&t, EG_STAT_RX), np = bt_stat(&t, EG_STAT_NAT_PLAIN);

		bt_ok(&t,
		      run(&a, 0, &o2) == XDP_PASS && !memcmp(o1.b, o2.b, o1.len) &&
			      bt_stat(&t, EG_STAT_RX) == rx + 1 &&
			      bt_stat(&t, EG_STAT_NAT_PLAIN) == np + 1,
		      "flow cache: a packet from the slot (the express lane) is counted once under "
		      "RX and once under NAT_PLAIN, as by the full path",
		      "counters differ");
	}
	usleep((EG_FLOW_CACHE_NS + 30000000ull) / 1000);
	bt_ok(&t, run(&a, 0, &o2) == XDP_PASS && bt_stat(&t, EG_STAT_CT_NEW) == n0 + 1,
	      "flow cache: after 50 ms the slot no longer answers (the full path makes a new pair)",
	      "slot still used");

	/* a generation switch voids the slots */
	run(&a, 0, &o1);
	run(&a, 0, &o1);
	ct_forget(&ka);
	config(1, 0, 0);
	n0 = bt_stat(&t, EG_STAT_CT_NEW);
	bt_ok(&t, run(&a, 0, &o2) == XDP_PASS && bt_stat(&t, EG_STAT_CT_NEW) == n0 + 1,
	      "flow cache: a generation switch voids the slot at once", "slot used");
	config(0, 0, 0);

	/* the entry's deadline bounds the slot */
	{
		struct pkt c = P(IP(10, 1, 0, 7), 1500, IP(9, 9, 9, 9), 53, IPPROTO_UDP, 0, 12);
		struct eg_ct_key kc = key(IP(10, 1, 0, 7), 1500, IP(9, 9, 9, 9), 53, IPPROTO_UDP);

		config(0, 0, 5000000ull); /* UDP flows live 5 ms */
		run(&c, 0, &o1);
		run(&c, 0, &o1);
		bt_ok(&t, !bpf_map_lookup_elem(dm.ct, &kc, &v) && !slot_of(&kc, &fs),
		      "flow cache: an entry expiring within 50 ms (5 ms UDP timeout) gets no slot, "
		      "so no slot outlives its entry",
		      "slot filled");
		usleep(10000);
		n0 = bt_stat(&t, EG_STAT_CT_NEW);
		ct_forget(&kc); /* as the sweeper does with an expired pair */
		bt_ok(&t, run(&c, 0, &o2) == XDP_PASS && bt_stat(&t, EG_STAT_CT_NEW) == n0 + 1,
		      "flow cache: once the entry expired the slot does not answer", "answered");
		config(0, 0, 0);
	}

	/* TCP FIN takes the full path */
	{
		struct pkt syn =
			P(IP(10, 1, 0, 6), 2000, IP(8, 8, 4, 4), 443, IPPROTO_TCP, 0x02, 0);
		struct pkt ack =
			P(IP(10, 1, 0, 6), 2000, IP(8, 8, 4, 4), 443, IPPROTO_TCP, 0x10, 0);
		struct pkt fin =
			P(IP(10, 1, 0, 6), 2000, IP(8, 8, 4, 4), 443, IPPROTO_TCP, 0x11, 0);
		struct eg_ct_key kb = key(IP(10, 1, 0, 6), 2000, IP(8, 8, 4, 4), 443, IPPROTO_TCP);

		run(&syn, 0, &o1);
		run(&ack, 0, &o1);
		run(&ack, 0, &o1);
		bt_ok(&t, slot_of(&kb, &fs), "flow cache: a TCP flow's ACKs fill a slot", "none");
		bt_ok(&t,
		      run(&fin, 0, &o1) == XDP_PASS && !bpf_map_lookup_elem(dm.ct, &kb, &v) &&
			      v.state == EG_CT_FIN,
		      "flow cache: a FIN is not answered from the slot (the entry moves to FIN)",
		      "state unchanged");
	}

	/* from the slot, the checksum differences kept with it give the full path's bytes */
	{
		struct pkt syn =
			P(IP(10, 1, 0, 8), 2100, IP(8, 8, 4, 4), 443, IPPROTO_TCP, 0x02, 0);
		struct pkt ack =
			P(IP(10, 1, 0, 8), 2100, IP(8, 8, 4, 4), 443, IPPROTO_TCP, 0x10, 20);
		struct eg_ct_key kd = key(IP(10, 1, 0, 8), 2100, IP(8, 8, 4, 4), 443, IPPROTO_TCP);
		struct pkt z;
		struct eg_ct_key kz = key(IP(10, 1, 0, 9), 2200, IP(8, 8, 8, 8), 53, IPPROTO_UDP);

		run(&syn, 0, &o1);
		run(&ack, 0,
		    &o1); /* a conntrack hit: translated by the full path, fills the slot */
		ct_forget(&kd);
		bt_ok(&t,
		      slot_of(&kd, &fs) && fs.csum_pre && run(&ack, 0, &o2) == XDP_PASS &&
			      o2.len == o1.len && !memcmp(o1.b, o2.b, o1.len) &&
			      memcmp(o2.b, ack.b, ack.len) && pkt_verify_csums(o2.b, o2.len) == 0,
		      "flow cache: a TCP segment from the slot (pair deleted) is translated to the "
		      "full path's bytes, checksums valid",
		      "bytes differ");
		pkt_build(&z, &(struct pkt_spec){ .saddr = IP(10, 1, 0, 9),
						  .daddr = IP(8, 8, 8, 8),
						  .proto = IPPROTO_UDP,
						  .sport = 2200,
						  .dport = 53,
						  .payload_len = 12,
						  .udp_csum_zero = true });
		run(&z, 0, &o1);
		run(&z, 0, &o1);
		ct_forget(&kz);
		bt_ok(&t,
		      slot_of(&kz, &fs) && run(&z, 0, &o2) == XDP_PASS && o2.len == o1.len &&
			      !memcmp(o1.b, o2.b, o1.len) && o2.b[14 + 20 + 6] == 0 &&
			      o2.b[14 + 20 + 7] == 0 && memcmp(o2.b, z.b, z.len),
		      "flow cache: a UDP datagram without checksum from the slot keeps a zero "
		      "checksum (translated as by the full path)",
		      "checksum written");
	}

	/* the full path answering from the slot (here: EG_CFG_REDIRECT on, no route) takes a
	 * UDP datagram without payload, 8 bytes of L4 in the frame */
	{
		struct pkt u = P(IP(10, 1, 0, 10), 2300, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0, 0);
		struct eg_ct_key ku = key(IP(10, 1, 0, 10), 2300, IP(8, 8, 8, 8), 53, IPPROTO_UDP);

		config(0, EG_CFG_REDIRECT, 0);
		run(&u, 0, &o1);
		run(&u, 0, &o1);
		ct_forget(&ku);
		bt_ok(&t,
		      slot_of(&ku, &fs) && run(&u, 0, &o2) == XDP_PASS && o2.len == o1.len &&
			      !memcmp(o1.b, o2.b, o1.len) && pkt_verify_csums(o2.b, o2.len) == 0,
		      "flow cache: a 42-byte UDP frame answered from the slot by the full path is "
		      "translated, not dropped as malformed",
		      "dropped or differs");
		config(0, 0, 0);
	}

	/* a tunnel flow answered from the slot still stops when its child goes down */
	{
		struct pkt h =
			P(IP(10, 1, 1, 66), 3000, IP(192, 168, 88, 5), 80, IPPROTO_UDP, 0, 12);
		struct pkt w =
			P(IP(100, 64, 0, 18), 3000, IP(192, 168, 88, 5), 80, IPPROTO_UDP, 0, 12);
		struct eg_ct_key kh =
			key(IP(10, 1, 1, 66), 3000, IP(192, 168, 88, 5), 80, IPPROTO_UDP);

		bt_xdp(&t, xdp_fd, "flow cache: tunnel flow, first packet (SNAT, child mark)", h,
		       XDP_PASS, &w, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
		bt_xdp(&t, xdp_fd, "flow cache: tunnel flow, second packet (fills the slot)", h,
		       XDP_PASS, &w, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
		snprintf(why, sizeof(why), "no slot");
		bt_ok(&t, slot_of(&kh, &fs) && fs.child == C_HOST && (fs.flags & EG_CT_TO_TUNNEL),
		      "flow cache: the slot names the child", why);
		bt_xdp(&t, xdp_fd, "flow cache: tunnel flow from the slot: same bytes, same mark",
		       h, XDP_PASS, &w, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
		child(false);
		bt_xdp(&t, xdp_fd, "flow cache: child down: the cached flow is dropped", h,
		       XDP_DROP, NULL, EG_STAT_DROP_TUNNEL_DOWN, 0);
		child(true);
	}
}

static int sh(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -1;
}

/* The destination MAC of a redirected frame of flow p (ingress v0), or "" when not redirected. */
static const char *fwd_mac(const struct pkt *p, int ifindex, char *buf)
{
	struct pkt o;

	buf[0] = 0;
	if (run(p, ifindex, &o) == XDP_REDIRECT && o.len >= 6)
		snprintf(buf, 24, "%02x:%02x:%02x:%02x:%02x:%02x", o.b[0], o.b[1], o.b[2], o.b[3],
			 o.b[4], o.b[5]);
	return buf;
}

static void fib_cache(void)
{
	struct pkt small = P(IP(10, 1, 0, 9), 4000, IP(10, 9, 0, 2), 53, IPPROTO_UDP, 0, 12);
	struct pkt big = P(IP(10, 1, 0, 9), 4000, IP(10, 9, 0, 2), 53, IPPROTO_UDP, 0, 1200);
	char m[24];
	int v0;

	if (sh("ip link add fc0 type veth peer name fc1 && ip link set fc0 up && "
	       "ip link set fc1 up && ip link set fc1 mtu 1000 && "
	       "ip addr add 10.1.0.1/16 dev fc0 && ip addr add 10.9.0.1/24 dev fc1 && "
	       "sysctl -qw net.ipv4.conf.all.forwarding=1 && "
	       "ip neigh replace 10.9.0.2 lladdr 02:00:00:00:00:01 dev fc1 nud permanent")) {
		bt_ok(&t, false, "route cache: set up veth fc0/fc1 with a neighbour", "ip failed");
		return;
	}
	v0 = (int)if_nametoindex("fc0");
	config(0, EG_CFG_REDIRECT, 0);
	bt_ok(&t, !strcmp(fwd_mac(&small, v0, m), "02:00:00:00:00:01"),
	      "route cache: a masqueraded flow is redirected to its neighbour's MAC", m);
	fwd_mac(&small, v0, m);
	bt_ok(&t, !fwd_mac(&big, v0, m)[0],
	      "route cache: a packet longer than the egress MTU (1000) is looked up again and "
	      "passed to the stack, though its addresses are cached",
	      m);
	sh("ip neigh replace 10.9.0.2 lladdr 02:00:00:00:00:02 dev fc1 nud permanent");
	bt_ok(&t, !strcmp(fwd_mac(&small, v0, m), "02:00:00:00:00:01"),
	      "route cache: within 100 ms the cached neighbour answers", m);
	usleep((EG_FIB_CACHE_NS + 30000000ull) / 1000);
	bt_ok(&t, !strcmp(fwd_mac(&small, v0, m), "02:00:00:00:00:02"),
	      "route cache: after 100 ms the new neighbour MAC is used", m);
	config(0, 0, 0);
}

int main(void)
{
	cpu_set_t cs;

	CPU_ZERO(&cs);
	CPU_SET(CPU, &cs);
	if (sched_setaffinity(0, sizeof(cs), &cs) || unshare(CLONE_NEWNET) ||
	    sh("ip link set lo up")) {
		printf("1..0 # SKIP no private network namespace or CPU %d: %s\n", CPU,
		       strerror(errno));
		return 0;
	}
	ncpu = libbpf_num_possible_cpus();
	must(bt_open(&t), "open");
	memset(&dm, 0, sizeof(dm));
	dm.config = bpf_map__fd(t.skel->maps.eg_config);
	dm.stats = bpf_map__fd(t.skel->maps.eg_stats);
	dm.children = bpf_map__fd(t.skel->maps.eg_children);
	dm.child_stats = bpf_map__fd(t.skel->maps.eg_child_stats);
	dm.sel = bpf_map__fd(t.skel->maps.eg_sel);
	dm.nat_rules = bpf_map__fd(t.skel->maps.eg_nat_rules);
	dm.dnat = bpf_map__fd(t.skel->maps.eg_dnat);
	dm.ct = bpf_map__fd(t.skel->maps.eg_ct);
	dm.pools = bpf_map__fd(t.skel->maps.eg_port_pools);
	dm.spis = bpf_map__fd(t.skel->maps.eg_spis);
	dm.rnetmap = bpf_map__fd(t.skel->maps.eg_rnetmap);
	must(dp_maps_init(&dm), "maps");
	xdp_fd = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	setup();
	flow_cache();
	fib_cache();
	dp_maps_fini(&dm);
	return bt_done(&t);
}
