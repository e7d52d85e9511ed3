// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, datapath round 2: destination prefix mapping (remote-netmap, S5 and S5b: two partners
 * with the same 10.0.0.0/16 and identical selectors, told apart by 10.201/16 vs 10.202/16), ICMP
 * errors whose quoted header is translated both ways (exact expected bytes: every quoted field,
 * the quoted IPv4 and L4 checksums and the ICMP checksum, built independently in full), and ESP
 * steered by SPI to the CPU its SA names when EG_CFG_CPUMAP is set (live frames redirected into
 * eg_cpumap, where a counting program records the CPU that received them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include "espgate_abi.h"
#include "dp_maps.h"
#include "bpf_test.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define N(x) htonl(x)
#define MASK(l) htonl((l) ? ~0u << (32 - (l)) : 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum {
	C_RED = 1,  /* S5: 10.0.1.0/24 as 100.64.1.0/24 <-> red's 10.0.0.0/16 seen as 10.201/16 */
	C_BLUE = 2, /* S5b: the same selectors; blue's 10.0.0.0/16 seen as 10.202/16 */
	C_HOST = 3, /* S2: 10.1.1.66 -> 100.64.0.18 into 192.168.88.0/24 */
};

static struct bt t;
static struct dp_maps dm;
static int xdp_fd, tc_fd, nat_fd;

static void must(int err, const char *what)
{
	if (err) {
		printf("Bail out! %s: %s\n", what, strerror(-err));
		exit(1);
	}
}

static struct eg_ts ts_any(uint32_t l, int llen, uint32_t r, int rlen)
{
	struct eg_ts s;

	memset(&s, 0, sizeof(s));
	s.local_mask = MASK(llen);
	s.local_addr = N(l) & s.local_mask;
	s.remote_mask = MASK(rlen);
	s.remote_addr = N(r) & s.remote_mask;
	s.local_port_hi = s.remote_port_hi = 0xffff;
	return s;
}

static void child(uint32_t id, uint16_t tunnel, uint32_t nat, struct eg_ts ts)
{
	struct eg_child c;

	memset(&c, 0, sizeof(c));
	c.flags = EG_CHILD_VALID | EG_CHILD_UP;
	c.tunnel_id = tunnel;
	c.nat_rule = nat;
	c.n_ts = 1;
	c.ts[0] = ts;
	must(dp_child_write(&dm, id, &c), "child");
}

static void rule(uint32_t id, uint32_t type, uint32_t pool, uint32_t in, int inlen, uint32_t out,
		 int outlen)
{
	struct eg_nat_rule r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.pool = pool;
	r.inside_mask = MASK(inlen);
	r.inside_addr = N(in) & r.inside_mask;
	r.outside_mask = MASK(outlen);
	r.outside_addr = N(out) & r.outside_mask;
	must(dp_nat_rule_write(&dm, id, &r), "nat rule");
}

static struct dp_sel sel(uint32_t child_id, uint16_t tunnel, uint32_t order, uint32_t s, int sl,
			 uint32_t d, int dl)
{
	struct dp_sel x;

	memset(&x, 0, sizeof(x));
	x.child = child_id;
	x.tunnel = tunnel;
	x.order = order;
	x.saddr = N(s);
	x.splen = (uint8_t)sl;
	x.daddr = N(d);
	x.dplen = (uint8_t)dl;
	x.sport_hi = x.dport_hi = 65535;
	return x;
}

static void setup(uint32_t flags)
{
	struct eg_config cfg;
	const struct dp_sel sels[] = {
		sel(C_RED, 1, 0, IP(10, 0, 1, 0), 24, IP(10, 0, 0, 0), 16),
		sel(C_BLUE, 2, 1, IP(10, 0, 1, 0), 24, IP(10, 0, 0, 0), 16),
		sel(C_HOST, 3, 2, IP(10, 1, 1, 66), 32, IP(192, 168, 88, 0), 24),
	};

	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = EG_CFG_ENABLED | flags;
	cfg.masq_rule = 4;
	must(dp_config_write(&dm, &cfg), "config");
	rule(1, EG_NAT_PREFIX, 0, IP(10, 0, 1, 0), 24, IP(100, 64, 1, 0), 24);
	rule(3, EG_NAT_SNAT_HOST, 0, IP(10, 1, 1, 66), 32, IP(100, 64, 0, 18), 32);
	rule(4, EG_NAT_MASQ, 1, IP(10, 1, 0, 0), 16, 0, 0);
	must(dp_pool_write(&dm, 1, N(IP(198, 19, 0, 1)), 1024, 65535), "pool");
	child(C_RED, 1, 1, ts_any(IP(100, 64, 1, 0), 24, IP(10, 0, 0, 0), 16));
	child(C_BLUE, 2, 1, ts_any(IP(100, 64, 1, 0), 24, IP(10, 0, 0, 0), 16));
	child(C_HOST, 3, 3, ts_any(IP(100, 64, 0, 18), 32, IP(192, 168, 88, 0), 24));
	must(dp_sel_write(&dm, 0, sels, ARRAY_SIZE(sels)), "selectors");
	must(dp_rnetmap_write(&dm, 0, C_RED, N(IP(10, 201, 0, 0)), N(IP(10, 0, 0, 0)), 16),
	     "rnetmap red");
	must(dp_rnetmap_write(&dm, 0, C_BLUE, N(IP(10, 202, 0, 0)), N(IP(10, 0, 0, 0)), 16),
	     "rnetmap blue");
}

static int open_gateway(void)
{
	int err = bt_open(&t);

	if (err)
		return err;
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
	xdp_fd = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	tc_fd = bpf_program__fd(t.skel->progs.tc_eg_ingress);
	nat_fd = bpf_program__fd(t.skel->progs.tc_eg_nat);
	return dp_maps_init(&dm);
}

static struct pkt P(uint32_t s, uint16_t sp, uint32_t d, uint16_t dp, uint8_t proto,
		    uint8_t flags) {
	struct pkt p;

	pkt_build(&p, &(struct pkt_spec){ .saddr = s,
					  .daddr = d,
					  .proto = proto,
					  .sport = sp,
					  .dport = dp,
					  .tcp_flags = flags,
					  .payload_len = 12 });
	return p;
}

static uint16_t
fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/*
 * An ICMP error (type/code) from `src` to `dst` quoting the first `qlen` bytes of the IPv4
 * packet in `orig` (a frame from pkt_build, so its quoted checksums are the real ones of the
 * whole original packet). Every checksum is computed in full.
 */
static struct pkt icmp_err(uint32_t src, uint32_t dst, uint8_t type, uint8_t code,
			   const struct pkt *orig, size_t qlen)
{
	struct pkt p;
	uint8_t *ip, *ic;
	uint16_t c;

	pkt_build(&p, &(struct pkt_spec){ .saddr = src, .daddr = dst, .proto = 200 });
	ip = p.b + 14;
	ic = ip + 20;
	ip[9] = IPPROTO_ICMP;
	memset(ic, 0, 8);
	ic[0] = type;
	ic[1] = code;
	if (qlen > orig->len - 14)
		qlen = orig->len - 14;
	memcpy(ic + 8, orig->b + 14, qlen);
	ip[2] = (uint8_t)((20 + 8 + qlen) >> 8);
	ip[3] = (uint8_t)(20 + 8 + qlen);
	ip[10] = ip[11] = 0;
	c = fold(sum(ip, 20, 0));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	c = fold(sum(ic, 8 + qlen, 0));
	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	p.len = 14 + 20 + 8 + qlen;
	return p;
}

/* table shorthands bound to this file's runner and XDP program (bpf_test.h) */
#define X(...) bt_xdp(&t, xdp_fd, __VA_ARGS__)

#define T(...) bt_tc(&t, __VA_ARGS__)

static void remote_netmap(void)
{
	const uint32_t ws = IP(10, 0, 1, 5), ws_out = IP(100, 64, 1, 5);
	struct pkt o, in;

	o = P(ws_out, 40000, IP(10, 0, 5, 9), 80, IPPROTO_TCP, 0x02);
	X("remote-netmap out (S5): 10.0.1.5 -> red at 10.201.5.9 leaves as 100.64.1.5 -> 10.0.5.9",
	  P(ws, 40000, IP(10, 201, 5, 9), 80, IPPROTO_TCP, 0x02), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_RED));
	o = P(ws_out, 40001, IP(10, 0, 5, 9), 80, IPPROTO_TCP, 0x02);
	X("remote-netmap out (S5b): the same selectors, 10.202.5.9 goes to blue's child",
	  P(ws, 40001, IP(10, 202, 5, 9), 80, IPPROTO_TCP, 0x02), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_BLUE));
	o = P(IP(10, 201, 5, 9), 80, ws, 40000, IPPROTO_TCP, 0x12);
	T(tc_fd, "remote-netmap reply: red's decrypted 10.0.5.9 appears as 10.201.5.9 again",
	  P(IP(10, 0, 5, 9), 80, ws_out, 40000, IPPROTO_TCP, 0x12), EG_MARK_IN(C_RED), TC_ACT_OK,
	  &o, EG_STAT_NAT_IN, EG_MARK_IN(C_RED));
	o = P(IP(10, 202, 5, 9), 80, ws, 40001, IPPROTO_TCP, 0x12);
	T(tc_fd, "remote-netmap reply (S5b): blue's 10.0.5.9 appears as 10.202.5.9",
	  P(IP(10, 0, 5, 9), 80, ws_out, 40001, IPPROTO_TCP, 0x12), EG_MARK_IN(C_BLUE), TC_ACT_OK,
	  &o, EG_STAT_NAT_IN, EG_MARK_IN(C_BLUE));
	T(tc_fd, "remote-netmap: red's flow answered through blue's SA is dropped",
	  P(IP(10, 0, 5, 9), 80, ws_out, 40000, IPPROTO_TCP, 0x10), EG_MARK_IN(C_BLUE), TC_ACT_SHOT,
	  NULL, EG_STAT_DROP_SELECTOR, -1);
	o = P(IP(10, 201, 7, 7), 5555, IP(10, 0, 1, 20), 22, IPPROTO_TCP, 0x02);
	T(tc_fd, "remote-netmap in: red's 10.0.7.7 opens 100.64.1.20:22, seen as 10.201.7.7",
	  P(IP(10, 0, 7, 7), 5555, IP(100, 64, 1, 20), 22, IPPROTO_TCP, 0x02), EG_MARK_IN(C_RED),
	  TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);
	o = P(IP(100, 64, 1, 20), 22, IP(10, 0, 7, 7), 5555, IPPROTO_TCP, 0x12);
	X("remote-netmap in, reply: 10.0.1.20 -> 10.201.7.7 leaves as 100.64.1.20 -> 10.0.7.7",
	  P(IP(10, 0, 1, 20), 22, IP(10, 201, 7, 7), 5555, IPPROTO_TCP, 0x12), XDP_PASS, &o,
	  EG_STAT_NAT_OUT, EG_MARK_OUT(C_RED));
	X("remote-netmap: a mapped destination no selector of its child covers is dropped",
	  P(IP(10, 0, 9, 9), 1000, IP(10, 201, 5, 9), 80, IPPROTO_TCP, 0x02), XDP_DROP, NULL,
	  EG_STAT_DROP_POLICY, 0);
	o = P(ws_out, 40002, IP(10, 0, 5, 9), 80, IPPROTO_TCP, 0x02);
	T(nat_fd, "remote-netmap from tc_eg_nat: the same translation and mark",
	  P(ws, 40002, IP(10, 201, 5, 9), 80, IPPROTO_TCP, 0x02), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_RED));
	in = P(ws, 1, IP(10, 201, 5, 9), 2, IPPROTO_UDP, 0);
	in.b[14 + 6] = 0x00;
	in.b[14 + 7] = 0xb9; /* non-first fragment */
	o = in;
	pkt_set_addrs(&in, ws, IP(10, 201, 5, 9));
	pkt_set_addrs(&o, ws_out, IP(10, 0, 5, 9));
	X("remote-netmap: a non-first fragment is mapped by address", in, XDP_PASS, &o,
	  EG_STAT_NAT_OUT, EG_MARK_OUT(C_RED));
}

static void icmp_errors(void)
{
	const uint32_t host = IP(10, 1, 1, 66), snat = IP(100, 64, 0, 18), pa = IP(192, 168, 88, 1);
	struct pkt orig, xorig, o;

	/* Inbound: port unreachable from partner-a about our UDP 10.1.1.66:1234 -> :53. */
	o = P(snat, 1234, pa, 53, IPPROTO_UDP, 0);
	X("ICMP setup: UDP 10.1.1.66:1234 -> 192.168.88.1:53 leaves as 100.64.0.18",
	  P(host, 1234, pa, 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	orig = P(snat, 1234, pa, 53, IPPROTO_UDP, 0);
	xorig = P(host, 1234, pa, 53, IPPROTO_UDP, 0);
	o = icmp_err(pa, host, 3, 3, &xorig, 28);
	T(tc_fd,
	  "ICMP error in: port unreachable quoting 100.64.0.18:1234 -> 10.1.1.66:1234, quoted "
	  "IPv4/UDP and ICMP checksums updated",
	  icmp_err(pa, snat, 3, 3, &orig, 28), EG_MARK_IN(C_HOST), TC_ACT_OK, &o, EG_STAT_NAT_IN,
	  -1);
	T(tc_fd, "ICMP error in: about a tunnel flow but decrypted by another child: dropped",
	  icmp_err(pa, snat, 3, 3, &orig, 28), EG_MARK_IN(C_RED), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_SELECTOR, -1);
	X("ICMP error about a tunnel flow arriving in clear is dropped",
	  icmp_err(pa, snat, 3, 3, &orig, 28), XDP_DROP, NULL, EG_STAT_DROP_CLEARTEXT, 0);

	/* Inbound, remote-netmap: a router of red (10.0.9.1) reports time exceeded for our TCP
	 * 10.0.1.5:40000 -> 10.201.5.9:80; a full TCP header is quoted, so its checksum too. */
	orig = P(IP(100, 64, 1, 5), 40000, IP(10, 0, 5, 9), 80, IPPROTO_TCP, 0x02);
	xorig = P(IP(10, 0, 1, 5), 40000, IP(10, 201, 5, 9), 80, IPPROTO_TCP, 0x02);
	o = icmp_err(IP(10, 201, 9, 1), IP(10, 0, 1, 5), 11, 0, &xorig, 40);
	T(tc_fd,
	  "ICMP error in (remote-netmap): red's router 10.0.9.1 appears as 10.201.9.1, the quote "
	  "and its TCP checksum translated",
	  icmp_err(IP(10, 0, 9, 1), IP(100, 64, 1, 5), 11, 0, &orig, 40), EG_MARK_IN(C_RED),
	  TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);
	o = icmp_err(IP(10, 201, 9, 1), IP(10, 0, 1, 5), 11, 0, &xorig, 28);
	T(nat_fd, "ICMP error in from tc_eg_nat, 8 quoted TCP bytes (no quoted checksum)",
	  icmp_err(IP(10, 0, 9, 1), IP(100, 64, 1, 5), 11, 0, &orig, 28), EG_MARK_IN(C_RED),
	  TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);

	/* Outbound: red's 10.0.7.8 sends UDP to 100.64.1.21:161 (seen inside as 10.201.7.8 ->
	 * 10.0.1.21); 10.0.1.21 answers port unreachable. */
	o = P(IP(10, 201, 7, 8), 6000, IP(10, 0, 1, 21), 161, IPPROTO_UDP, 0);
	T(tc_fd, "ICMP setup: red's 10.0.7.8 -> 100.64.1.21:161 arrives as 10.201.7.8 -> 10.0.1.21",
	  P(IP(10, 0, 7, 8), 6000, IP(100, 64, 1, 21), 161, IPPROTO_UDP, 0), EG_MARK_IN(C_RED),
	  TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);
	orig = P(IP(10, 201, 7, 8), 6000, IP(10, 0, 1, 21), 161, IPPROTO_UDP, 0);
	xorig = P(IP(10, 0, 7, 8), 6000, IP(100, 64, 1, 21), 161, IPPROTO_UDP, 0);
	o = icmp_err(IP(100, 64, 1, 21), IP(10, 0, 7, 8), 3, 3, &xorig, 48);
	X("ICMP error out: 10.0.1.21's port unreachable leaves as 100.64.1.21 -> 10.0.7.8 into "
	  "red, quote translated",
	  icmp_err(IP(10, 0, 1, 21), IP(10, 201, 7, 8), 3, 3, &orig, 48), XDP_PASS, &o,
	  EG_STAT_NAT_OUT, EG_MARK_OUT(C_RED));

	/* Masquerade: an internet router reports time exceeded for 10.1.5.5:6000 -> 8.8.8.8:53. */
	o = P(IP(198, 19, 0, 1), 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);
	X("ICMP setup: masquerade 10.1.5.5:6000 -> 8.8.8.8:53",
	  P(IP(10, 1, 5, 5), 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0), XDP_PASS, &o,
	  EG_STAT_NAT_PLAIN, 0);
	orig = P(IP(198, 19, 0, 1), 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);
	xorig = P(IP(10, 1, 5, 5), 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);
	o = icmp_err(IP(203, 0, 113, 77), IP(10, 1, 5, 5), 11, 0, &xorig, 28);
	X("ICMP error, masquerade: time exceeded from a router reaches 10.1.5.5, quote un-NATed",
	  icmp_err(IP(203, 0, 113, 77), IP(198, 19, 0, 1), 11, 0, &orig, 28), XDP_PASS, &o,
	  EG_STAT_NAT_PLAIN, 0);
	T(nat_fd, "ICMP error, masquerade, from tc_eg_nat: the same bytes",
	  icmp_err(IP(203, 0, 113, 77), IP(198, 19, 0, 1), 11, 0, &orig, 28), 0, TC_ACT_OK, &o,
	  EG_STAT_NAT_PLAIN, -1);

	/* A quoted ICMP echo (ping from 10.1.1.66 into partner-a): addresses translated, the
	 * quoted echo checksum is not address-dependent and stays. */
	pkt_build(&o, &(struct pkt_spec){
			      .saddr = snat, .daddr = pa, .proto = IPPROTO_ICMP, .sport = 0x4242 });
	pkt_build(&orig,
		  &(struct pkt_spec){
			  .saddr = host, .daddr = pa, .proto = IPPROTO_ICMP, .sport = 0x4242 });
	X("ICMP setup: echo request 10.1.1.66 -> 192.168.88.1 (id 0x4242)", orig, XDP_PASS, &o,
	  EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
	xorig = orig;
	orig = o;
	o = icmp_err(pa, host, 3, 1, &xorig, 28);
	T(tc_fd, "ICMP error in quoting an echo request: host unreachable reaches 10.1.1.66",
	  icmp_err(pa, snat, 3, 1, &orig, 28), EG_MARK_IN(C_HOST), TC_ACT_OK, &o, EG_STAT_NAT_IN,
	  -1);
}

/* A program for eg_cpumap entries (BPF_XDP_CPUMAP): counts frames in a per-CPU array, drops. */
static int cpumap_counter(int map_fd)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM,
		  .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD,
		  .imm = map_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X,
		  .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 3, .imm = 0 },
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_0 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		{ .code = BPF_STX | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_DROP },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_XDP_CPUMAP);

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "eg_t_cpucnt", "GPL", insns, ARRAY_SIZE(insns), &o);
}

/* Live ESP frames through xdp_eg_ingress: each SPI's frames must be received on its CPU. */
static void cpumap_steering(void)
{
	const uint32_t gw = IP(198, 19, 0, 1), spis[2] = { 0xc0ffee10, 0xc0ffee11 };
	int ncpu = libbpf_num_possible_cpus(), online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int cnt, prog, cpumap = bpf_map__fd(t.skel->maps.eg_cpumap);
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	uint32_t zero = 0;
	bool ok = true;
	char why[160] = "";

	if (online < 2) {
		printf("ok %d - ESP steered to the CPU its SPI names # SKIP one CPU online\n",
		       ++t.n);
		free(v);
		return;
	}
	cnt = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "eg_t_cpucnt", 4, 8, 1, NULL);
	prog = cnt < 0 ? -1 : cpumap_counter(cnt);
	if (cnt < 0 || prog < 0 || !v) {
		bt_ok(&t, false, "ESP steered to the CPU its SPI names", "setup failed");
		free(v);
		return;
	}
	for (uint32_t c = 0; c < 2; c++) {
		struct bpf_cpumap_val cv = { .qsize = 256, .bpf_prog.fd = prog };

		must(bpf_map_update_elem(cpumap, &c, &cv, BPF_ANY) ? -errno : 0, "cpumap");
	}
	setup(EG_CFG_CPUMAP);
	for (uint32_t i = 0; i < 2; i++)
		must(dp_spi_add(&dm, htonl(spis[i]), N(gw), C_RED, i), "spi");
	for (uint32_t i = 0; i < 2 && ok; i++) {
		struct pkt in;
		struct xdp_md ctx = { .ingress_ifindex = 1 };
		LIBBPF_OPTS(bpf_test_run_opts, ro, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
			    .repeat = 100, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
		uint64_t got = 0;

		pkt_build(&in, &(struct pkt_spec){ .saddr = IP(52, 232, 103, 208),
						   .daddr = gw,
						   .proto = 50,
						   .payload_len = 32 });
		memcpy(in.b + 34, &(uint32_t){ htonl(spis[i]) }, 4);
		ro.data_in = in.b;
		ro.data_size_in = (uint32_t)in.len;
		ctx.data_end = (uint32_t)in.len;
		memset(v, 0, (size_t)ncpu * sizeof(*v));
		bpf_map_update_elem(cnt, &zero, v, BPF_ANY);
		if (bpf_prog_test_run_opts(xdp_fd, &ro)) {
			snprintf(why, sizeof(why), "live test run: %s", strerror(errno));
			ok = false;
			break;
		}
		/* The target CPU's kthread runs the counter asynchronously. */
		for (int w = 0; w < 200 && got < 100; w++) {
			usleep(5000);
			bpf_map_lookup_elem(cnt, &zero, v);
			got = v[i];
		}
		for (int c = 0; c < ncpu; c++) {
			if (v[c] != ((uint32_t)c == i ? 100u : 0u)) {
				snprintf(why, sizeof(why),
					 "SPI %#x (cpu %u): %llu frames on cpu %d", spis[i], i,
					 (unsigned long long)v[c], c);
				ok = false;
			}
		}
	}
	bt_ok(&t, ok,
	      "ESP steered to the CPU its SPI names (live frames, 100 per SPI, cpus 0 and 1)", why);
	{
		/* Without EG_CFG_CPUMAP the same ESP is passed, not redirected. */
		struct pkt in;
		uint8_t out[PKT_MAX + 64];
		LIBBPF_OPTS(bpf_test_run_opts, ro, .data_out = out, .data_size_out = sizeof(out));
		int err;

		setup(0);
		pkt_build(&in, &(struct pkt_spec){ .saddr = IP(52, 232, 103, 208),
						   .daddr = gw,
						   .proto = 50,
						   .payload_len = 32 });
		memcpy(in.b + 34, &(uint32_t){ htonl(spis[1]) }, 4);
		ro.data_in = in.b;
		ro.data_size_in = (uint32_t)in.len;
		err = bpf_prog_test_run_opts(xdp_fd, &ro);
		bt_ok(&t, !err && ro.retval == XDP_PASS,
		      "without EG_CFG_CPUMAP a known SPI is passed, not steered", "not XDP_PASS");
		setup(EG_CFG_CPUMAP);
		err = bpf_prog_test_run_opts(xdp_fd, &ro);
		bt_ok(&t, !err && ro.retval == XDP_REDIRECT,
		      "with EG_CFG_CPUMAP the same SPI is redirected to its cpumap entry",
		      "not XDP_REDIRECT");
	}
	close(prog);
	close(cnt);
	free(v);
}

int main(void)
{
	/* 198.19.0.1, the SAs' address, is ours (ESP steering claims only what is) */
	if (bt_gateway_netns("198.19.0.1")) {
		printf("not ok 1 - private network namespace with the gateway's address: %s\n",
		       strerror(errno));
		return 1;
	}
	must(open_gateway(), "open");
	setup(0);
	remote_netmap();
	icmp_errors();
	cpumap_steering();
	dp_maps_fini(&dm);
	return bt_done(&t);
}
