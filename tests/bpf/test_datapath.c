// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, the datapath: one gateway configuration with the seeds' addresses (S2 host SNAT into
 * partner-a, a many-to-one pool, seed 004's prefix mapping, a tunnel that is down, an allow-list
 * child, a wide-selector child, internet masquerade, inside and partner-published DNAT, ESP SPIs,
 * IKE rate limit), and a table of frames through xdp_eg_ingress, tc_eg_ingress (decrypted
 * packets, marked as their SA would mark them) and tc_eg_nat, each with its exact expected output
 * bytes (built independently with full checksums, so every incremental update is checked) and
 * counter. Then: a case per EG_STAT_DROP_*, conntrack full with rollback, the classifier against
 * a priority-ordered reference on random selectors, every truncation of every valid frame and
 * 100,000+ random and mutated frames through every program (each frame counted once; what goes on
 * is unchanged or translated with valid checksums; each drop under exactly one reason).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include "espgate_abi.h"
#include "dp_maps.h"
#include "policy.h"
#include "bpf_test.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define N(x) htonl(x)
#define MASK(l) htonl((l) ? ~0u << (32 - (l)) : 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum {
	SYN = 0x02,
	ACK = 0x10,
	FIN = 0x01,
	RST = 0x04
};

/* Children of the test gateway. */
enum {
	C_HOST = 1,   /* S2: 10.1.1.66 -> 100.64.0.18 into partner-a 192.168.88.0/24, one-way */
	C_POOL = 2,   /* 10.1.0.0/16 -> 100.64.0.20:ports into 203.0.113.0/24 */
	C_PFX = 3,    /* seed 004: 192.168.10.0/24 <-> 172.16.17.0/24 with 10.10.10.55 */
	C_DOWN = 4,   /* 10.1.0.0/16 -> 198.51.100.0/24, no SA */
	C_ALLOW = 5,  /* 10.1.0.0/16 -> 192.0.2.0/24, only TCP 443 out */
	C_WIDE = 6,   /* 10.1.0.0/16 -> 10.99.0.0/16, negotiated 0/0 <-> 0/0 (S4 misconfig) */
	C_BROKEN = 7, /* pool rule pointing at an unwritten pool: internal error */
};

static struct bt t;
static struct dp_maps dm;

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

static void child(uint32_t id, uint16_t tunnel, uint32_t flags, uint32_t nat, uint16_t mss,
		  struct eg_ts ts)
{
	struct eg_child c;

	memset(&c, 0, sizeof(c));
	c.flags = EG_CHILD_VALID | flags;
	c.tunnel_id = tunnel;
	c.nat_rule = nat;
	c.mss = mss;
	c.n_ts = 1;
	c.ts[0] = ts;
	if (id == C_ALLOW) {
		c.n_allow = 1;
		c.allow[0].dir = EG_ALLOW_OUT;
		c.allow[0].proto = IPPROTO_TCP;
		c.allow[0].port_lo = c.allow[0].port_hi = htons(443);
	}
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

static void setup(uint32_t ike_rate)
{
	struct eg_config cfg;
	const struct dp_sel sels[] = {
		{ .child = C_HOST,
		  .tunnel = 1,
		  .order = 0,
		  .saddr = N(IP(10, 1, 1, 66)),
		  .splen = 32,
		  .daddr = N(IP(192, 168, 88, 0)),
		  .dplen = 24,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_POOL,
		  .tunnel = 2,
		  .order = 1,
		  .saddr = N(IP(10, 1, 0, 0)),
		  .splen = 16,
		  .daddr = N(IP(203, 0, 113, 0)),
		  .dplen = 24,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_PFX,
		  .tunnel = 3,
		  .order = 2,
		  .saddr = N(IP(192, 168, 10, 0)),
		  .splen = 24,
		  .daddr = N(IP(10, 10, 10, 55)),
		  .dplen = 32,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_DOWN,
		  .tunnel = 4,
		  .order = 3,
		  .saddr = N(IP(10, 1, 0, 0)),
		  .splen = 16,
		  .daddr = N(IP(198, 51, 100, 0)),
		  .dplen = 24,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_ALLOW,
		  .tunnel = 5,
		  .order = 4,
		  .saddr = N(IP(10, 1, 0, 0)),
		  .splen = 16,
		  .daddr = N(IP(192, 0, 2, 0)),
		  .dplen = 24,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_WIDE,
		  .tunnel = 6,
		  .order = 5,
		  .saddr = N(IP(10, 1, 0, 0)),
		  .splen = 16,
		  .daddr = N(IP(10, 99, 0, 0)),
		  .dplen = 16,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
		{ .child = C_BROKEN,
		  .tunnel = 7,
		  .order = 6,
		  .saddr = N(IP(10, 1, 0, 0)),
		  .splen = 16,
		  .daddr = N(IP(100, 100, 0, 0)),
		  .dplen = 16,
		  .sport_hi = 65535,
		  .dport_hi = 65535 },
	};

	memset(&cfg, 0, sizeof(cfg));
	/* EG_CFG_SA_CHECK off, explicitly: BPF_PROG_TEST_RUN cannot give a packet the sec_path it
	 * looks for, so the inbound cases test what lies behind it; sa_check() runs with it on. */
	cfg.flags = EG_CFG_ENABLED;
	cfg.ike_rate = ike_rate;
	cfg.ike_burst = 2;
	cfg.masq_rule = 4;
	must(dp_config_write(&dm, &cfg), "config");
	rule(1, EG_NAT_SNAT_HOST, 0, IP(10, 1, 1, 66), 32, IP(100, 64, 0, 18), 32);
	rule(2, EG_NAT_SNAT_POOL, 0, IP(10, 1, 0, 0), 16, 0, 0);
	rule(3, EG_NAT_PREFIX, 0, IP(192, 168, 10, 0), 24, IP(172, 16, 17, 0), 24);
	rule(4, EG_NAT_MASQ, 1, IP(10, 1, 0, 0), 16, 0, 0);
	rule(5, EG_NAT_SNAT_POOL, 5, IP(10, 1, 0, 0), 16, 0, 0);
	must(dp_pool_write(&dm, 0, N(IP(100, 64, 0, 20)), 1024, 65535), "pool 0");
	must(dp_pool_write(&dm, 1, N(IP(198, 19, 0, 1)), 1024, 65535), "pool 1");
	child(C_HOST, 1, EG_CHILD_UP | EG_CHILD_ONE_WAY, 1, 1360,
	      ts_any(IP(100, 64, 0, 18), 32, IP(192, 168, 88, 0), 24));
	child(C_POOL, 2, EG_CHILD_UP, 2, 0, ts_any(IP(100, 64, 0, 20), 32, IP(203, 0, 113, 0), 24));
	child(C_PFX, 3, EG_CHILD_UP, 3, 0, ts_any(IP(172, 16, 17, 0), 24, IP(10, 10, 10, 55), 32));
	child(C_DOWN, 4, 0, 0, 0, ts_any(IP(10, 1, 0, 0), 16, IP(198, 51, 100, 0), 24));
	child(C_ALLOW, 5, EG_CHILD_UP, 0, 0, ts_any(IP(10, 1, 0, 0), 16, IP(192, 0, 2, 0), 24));
	child(C_WIDE, 6, EG_CHILD_UP, 0, 0, ts_any(0, 0, 0, 0));
	child(C_BROKEN, 7, EG_CHILD_UP, 5, 0, ts_any(0, 0, 0, 0));
	must(dp_sel_write(&dm, 0, sels, ARRAY_SIZE(sels)), "selectors");
	/* Published to partner-a: 100.64.0.18:8080 -> 10.1.2.10:80. From the internet (inside
	 * DNAT, no tunnel): 198.19.0.1:2222 -> 10.1.2.10:22. */
	must(dp_dnat_write(&dm, 0, C_HOST, IPPROTO_TCP, N(IP(100, 64, 0, 18)), 8080,
			   N(IP(10, 1, 2, 10)), 80),
	     "dnat");
	must(dp_dnat_write(&dm, 0, 0, IPPROTO_TCP, N(IP(198, 19, 0, 1)), 2222, N(IP(10, 1, 2, 10)),
			   22),
	     "dnat");
	must(dp_spi_add(&dm, htonl(0xc0ffee01), N(IP(198, 19, 0, 1)), C_POOL, 0), "spi");
}

static int open_gateway(uint32_t ct_max)
{
	int err = bt_open_ct(&t, ct_max);

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
	return dp_maps_init(&dm);
}

/* Frame construction shorthands. */
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

static struct pkt
PS(const struct pkt_spec *s) {
	struct pkt p;

	pkt_build(&p, s);
	return p;
}

static int xdp_fd,
	tc_fd, nat_fd;

/* table shorthands bound to this file's runner and XDP program (bpf_test.h) */
#define X(...) bt_xdp(&t, xdp_fd, __VA_ARGS__)

#define T(...) bt_tc(&t, __VA_ARGS__)

static void table(void)
{
	const uint32_t gw = IP(198, 19, 0, 1), host = IP(10, 1, 1, 66), snat = IP(100, 64, 0, 18),
		       pa = IP(192, 168, 88, 1), ws = IP(10, 1, 5, 5), pool = IP(100, 64, 0, 20),
		       pb = IP(203, 0, 113, 9), srv = IP(10, 1, 2, 10);
	struct pkt o, in;

	/* S2: host SNAT into partner-a, MSS clamped for the ESP overhead. */
	o = PS(&(struct pkt_spec){ .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_TCP,
				   .sport = 40000,
				   .dport = 80,
				   .tcp_flags = SYN,
				   .mss = 1360 });
	X("SNAT 1:1: TCP SYN 10.1.1.66 -> 192.168.88.1 leaves as 100.64.0.18, MSS 1460 -> 1360",
	  PS(&(struct pkt_spec){ .saddr = host,
				 .daddr = pa,
				 .proto = IPPROTO_TCP,
				 .sport = 40000,
				 .dport = 80,
				 .tcp_flags = SYN,
				 .mss = 1460 }),
	  XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
	o = PS(&(struct pkt_spec){ .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_TCP,
				   .sport = 40001,
				   .dport = 80,
				   .tcp_flags = SYN,
				   .mss = 1200 });
	X("MSS clamp leaves a smaller MSS (1200) alone",
	  PS(&(struct pkt_spec){ .saddr = host,
				 .daddr = pa,
				 .proto = IPPROTO_TCP,
				 .sport = 40001,
				 .dport = 80,
				 .tcp_flags = SYN,
				 .mss = 1200 }),
	  XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
	/* the partner's SYN-ACK is clamped too: what we send must fit into the tunnel, and path
	 * MTU discovery cannot tell 10.1.1.66 (the gateway's ICMP goes to 100.64.0.18) */
	o = PS(&(struct pkt_spec){ .saddr = pa,
				   .daddr = host,
				   .proto = IPPROTO_TCP,
				   .sport = 80,
				   .dport = 40001,
				   .tcp_flags = SYN | ACK,
				   .mss = 1360 });
	T(tc_fd, "decrypted SYN-ACK with MSS 1460 goes back to 10.1.1.66 clamped to 1360",
	  PS(&(struct pkt_spec){ .saddr = pa,
				 .daddr = snat,
				 .proto = IPPROTO_TCP,
				 .sport = 80,
				 .dport = 40001,
				 .tcp_flags = SYN | ACK,
				 .mss = 1460 }),
	  EG_MARK_IN(C_HOST), TC_ACT_OK, &o, EG_STAT_NAT_IN, EG_MARK_IN(C_HOST));
	o = P(pa, 80, host, 40000, IPPROTO_TCP, SYN | ACK);
	T(tc_fd, "reply un-SNAT: decrypted SYN-ACK (mark IN child 1) goes back to 10.1.1.66",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(C_HOST), TC_ACT_OK, &o,
	  EG_STAT_NAT_IN, EG_MARK_IN(C_HOST));
	o = P(snat, 40000, pa, 80, IPPROTO_TCP, ACK);
	X("established flow: conntrack hit translated, marked for child 1",
	  P(host, 40000, pa, 80, IPPROTO_TCP, ACK), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	X("the tunnel flow's reply arriving in clear is dropped",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), XDP_DROP, NULL, EG_STAT_DROP_CLEARTEXT, 0);
	T(tc_fd, "a reply decrypted by another child's SA is dropped (selectors)",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(C_POOL), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_SELECTOR, -1);
	T(tc_fd, "decrypted packet outside the child's negotiated selectors is dropped",
	  P(IP(192, 168, 99, 1), 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(C_HOST),
	  TC_ACT_SHOT, NULL, EG_STAT_DROP_SELECTOR, -1);
	T(tc_fd, "decrypted packet with an unknown child id is dropped",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(99), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_SELECTOR, -1);

	/* UDP with a zero checksum keeps it zero. */
	in = PS(&(struct pkt_spec){ .saddr = host,
				    .daddr = pa,
				    .proto = IPPROTO_UDP,
				    .sport = 1234,
				    .dport = 53,
				    .payload_len = 9,
				    .udp_csum_zero = true });
	o = PS(&(struct pkt_spec){ .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_UDP,
				   .sport = 1234,
				   .dport = 53,
				   .payload_len = 9,
				   .udp_csum_zero = true });
	X("UDP with zero checksum: SNAT keeps the checksum zero", in, XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));

	/* Many-to-one pool: original port kept when free. */
	o = P(pool, 5000, pb, 53, IPPROTO_UDP, 0);
	X("SNAT pool: UDP 10.1.5.5:5000 -> 203.0.113.9 leaves as 100.64.0.20:5000 (port kept)",
	  P(ws, 5000, pb, 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_POOL));
	o = P(pb, 53, ws, 5000, IPPROTO_UDP, 0);
	T(tc_fd, "SNAT pool reply: decrypted 203.0.113.9 -> 100.64.0.20:5000 back to 10.1.5.5:5000",
	  P(pb, 53, pool, 5000, IPPROTO_UDP, 0), EG_MARK_IN(C_POOL), TC_ACT_OK, &o, EG_STAT_NAT_IN,
	  EG_MARK_IN(C_POOL));
	/* Forced collision: every port but 7777 taken; a second host with source port 5000. */
	for (unsigned int p = 1024; p <= 65535; p++)
		if (p != 7777)
			dp_pool_set(&dm, 0, (uint16_t)p, true);
	o = P(pool, 7777, pb, 53, IPPROTO_UDP, 0);
	X("SNAT pool collision: port 5000 taken, the one free port (7777) is found by the scan",
	  P(IP(10, 1, 5, 6), 5000, pb, 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_POOL));
	X("SNAT pool exhausted: new flow dropped under its own reason",
	  P(IP(10, 1, 5, 7), 5000, pb, 53, IPPROTO_UDP, 0), XDP_DROP, NULL,
	  EG_STAT_DROP_PORTS_EXHAUSTED, 0);
	for (unsigned int p = 1024; p <= 65535; p++)
		if (p != 7777 && p != 5000)
			dp_pool_set(&dm, 0, (uint16_t)p, false);

	/* ICMP echo through the pool: identifier as port. */
	o = PS(&(struct pkt_spec){
		.saddr = pool, .daddr = pb, .proto = IPPROTO_ICMP, .sport = 0x1077 });
	X("ICMP echo request through the pool: source rewritten, identifier kept",
	  PS(&(struct pkt_spec){
		  .saddr = ws, .daddr = pb, .proto = IPPROTO_ICMP, .sport = 0x1077 }),
	  XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_POOL));
	o = PS(&(struct pkt_spec){ .saddr = pb,
				   .daddr = ws,
				   .proto = IPPROTO_ICMP,
				   .sport = 0x1077,
				   .icmp_reply = true });
	T(tc_fd, "ICMP echo reply (decrypted) goes back to 10.1.5.5",
	  PS(&(struct pkt_spec){ .saddr = pb,
				 .daddr = pool,
				 .proto = IPPROTO_ICMP,
				 .sport = 0x1077,
				 .icmp_reply = true }),
	  EG_MARK_IN(C_POOL), TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);
	dp_pool_set(&dm, 0, 0x1078, true); /* id 0x1078 in use by another flow */
	{
		struct pkt i2 = PS(&(struct pkt_spec){ .saddr = IP(10, 1, 5, 8),
						       .daddr = pb,
						       .proto = IPPROTO_ICMP,
						       .sport = 0x1078 });
		uint8_t out[PKT_MAX + 64];
		LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = i2.b, .data_size_in = (__u32)i2.len,
			    .data_out = out, .data_size_out = sizeof(out));
		int err = bpf_prog_test_run_opts(xdp_fd, &ro);
		uint16_t id = (uint16_t)(out[8 + 14 + 20 + 4] << 8 | out[8 + 14 + 20 + 5]);

		bt_ok(&t,
		      !err && ro.retval == XDP_PASS && id != 0x1078 && id >= 1024 &&
			      !pkt_verify_csums(out + 8, ro.data_size_out - 8),
		      "ICMP echo with a taken identifier gets a fresh one, checksum valid",
		      "identifier not reallocated or checksum invalid");
	}

	/* Partner-published DNAT and its reply; one-way. */
	o = P(pa, 50000, srv, 80, IPPROTO_TCP, SYN);
	T(tc_fd, "DNAT published to partner-a: 100.64.0.18:8080 -> 10.1.2.10:80",
	  P(pa, 50000, snat, 8080, IPPROTO_TCP, SYN), EG_MARK_IN(C_HOST), TC_ACT_OK, &o,
	  EG_STAT_NAT_IN, -1);
	o = P(snat, 8080, pa, 50000, IPPROTO_TCP, SYN | ACK);
	X("DNAT reply from 10.1.2.10:80 leaves as 100.64.0.18:8080 into child 1",
	  P(srv, 80, pa, 50000, IPPROTO_TCP, SYN | ACK), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	T(tc_fd, "one-way: partner-a opening an unpublished service is dropped",
	  P(pa, 50001, snat, 22, IPPROTO_TCP, SYN), EG_MARK_IN(C_HOST), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_ONEWAY, -1);
	T(tc_fd, "transit: a wide-selector partner addressing another partner's network is dropped",
	  P(IP(10, 99, 0, 1), 1000, IP(192, 168, 88, 7), 80, IPPROTO_TCP, SYN), EG_MARK_IN(C_WIDE),
	  TC_ACT_SHOT, NULL, EG_STAT_DROP_TRANSIT, -1);

	/* Seed 004 prefix mapping, both ways. */
	o = P(IP(172, 16, 17, 45), 3333, IP(10, 10, 10, 55), 80, IPPROTO_TCP, SYN);
	X("prefix mapping out: 192.168.10.45 appears as 172.16.17.45 to 10.10.10.55",
	  P(IP(192, 168, 10, 45), 3333, IP(10, 10, 10, 55), 80, IPPROTO_TCP, SYN), XDP_PASS, &o,
	  EG_STAT_NAT_OUT, EG_MARK_OUT(C_PFX));
	o = P(IP(10, 10, 10, 55), 4444, IP(192, 168, 10, 45), 22, IPPROTO_TCP, SYN);
	T(tc_fd, "prefix mapping in: 10.10.10.55 opens 172.16.17.45:22 -> 192.168.10.45:22",
	  P(IP(10, 10, 10, 55), 4444, IP(172, 16, 17, 45), 22, IPPROTO_TCP, SYN), EG_MARK_IN(C_PFX),
	  TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);
	o = P(IP(172, 16, 17, 45), 22, IP(10, 10, 10, 55), 4444, IP(0, 0, 0, 6), SYN | ACK);
	X("prefix mapping in, reply: 192.168.10.45:22 leaves as 172.16.17.45:22",
	  P(IP(192, 168, 10, 45), 22, IP(10, 10, 10, 55), 4444, IPPROTO_TCP, SYN | ACK), XDP_PASS,
	  &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_PFX));

	/* Masquerade for the internet, never for tunnel traffic; inside DNAT. */
	o = P(gw, 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);
	X("masquerade: 10.1.5.5 -> 8.8.8.8 leaves as 198.19.0.1, no tunnel mark",
	  P(ws, 6000, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = P(IP(8, 8, 8, 8), 53, ws, 6000, IPPROTO_UDP, 0);
	X("masquerade reply: 8.8.8.8 -> 198.19.0.1:6000 back to 10.1.5.5",
	  P(IP(8, 8, 8, 8), 53, gw, 6000, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = P(snat, 7000, pa, 53, IPPROTO_UDP, 0);
	X("masquerade never catches tunnel traffic: 10.1.1.66 (inside the masq range) -> partner-a",
	  P(host, 7000, pa, 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	o = P(IP(198, 18, 0, 7), 7000, srv, 22, IPPROTO_TCP, SYN);
	X("inside DNAT: 198.19.0.1:2222 -> 10.1.2.10:22 (no tunnel)",
	  P(IP(198, 18, 0, 7), 7000, gw, 2222, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_PLAIN,
	  0);
	o = P(gw, 2222, IP(198, 18, 0, 7), 7000, IPPROTO_TCP, SYN | ACK);
	X("inside DNAT reply leaves as 198.19.0.1:2222",
	  P(srv, 22, IP(198, 18, 0, 7), 7000, IPPROTO_TCP, SYN | ACK), XDP_PASS, &o,
	  EG_STAT_NAT_PLAIN, 0);
	X("platform address 168.63.129.16 is never touched (not masqueraded)",
	  P(ws, 6001, IP(168, 63, 129, 16), 80, IPPROTO_TCP, SYN), XDP_PASS, NULL, EG_STAT_PASS, 0);
	X("platform address 169.254.169.254 is never touched",
	  P(ws, 6002, IP(169, 254, 169, 254), 80, IPPROTO_TCP, SYN), XDP_PASS, NULL, EG_STAT_PASS,
	  0);
	X("traffic outside every rule passes untouched",
	  P(IP(172, 31, 0, 1), 6003, IP(8, 8, 4, 4), 80, IPPROTO_TCP, SYN), XDP_PASS, NULL,
	  EG_STAT_PASS, 0);

	/* Tunnel down, allow rules. */
	X("tunnel down: traffic for a child without SA is dropped, never sent in clear",
	  P(ws, 6004, IP(198, 51, 100, 1), 80, IPPROTO_TCP, SYN), XDP_DROP, NULL,
	  EG_STAT_DROP_TUNNEL_DOWN, 0);
	X("allow rules: TCP 80 into the TCP-443-only child is denied",
	  P(ws, 6005, IP(192, 0, 2, 1), 80, IPPROTO_TCP, SYN), XDP_DROP, NULL, EG_STAT_DROP_POLICY,
	  0);
	X("allow rules: TCP 443 passes untranslated with the child's mark",
	  P(ws, 6006, IP(192, 0, 2, 1), 443, IPPROTO_TCP, SYN), XDP_PASS, NULL, EG_STAT_TUNNEL_OUT,
	  EG_MARK_OUT(C_ALLOW));
	X("a pool rule pointing at no pool is an internal error, counted",
	  P(ws, 6007, IP(100, 100, 0, 1), 80, IPPROTO_TCP, SYN), XDP_DROP, NULL,
	  EG_STAT_DROP_INTERNAL, 0);

	/* Fragments. */
	in = PS(&(struct pkt_spec){ .saddr = host,
				    .daddr = pa,
				    .proto = IPPROTO_UDP,
				    .frag_off = 0x00b9,
				    .payload_len = 24 });
	o = in;
	pkt_set_addrs(&o, snat, pa); /* a non-first fragment's payload is not a UDP header */
	X("fragment of a 1:1 mapping: translated by address", in, XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	o = PS(&(struct pkt_spec){ .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_UDP,
				   .sport = 9,
				   .dport = 9,
				   .frag_off = 0x2000,
				   .payload_len = 24 });
	X("first fragment of a 1:1 mapping: address and L4 checksum translated",
	  PS(&(struct pkt_spec){ .saddr = host,
				 .daddr = pa,
				 .proto = IPPROTO_UDP,
				 .sport = 9,
				 .dport = 9,
				 .frag_off = 0x2000,
				 .payload_len = 24 }),
	  XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
	X("fragment of a port-translated flow is counted and dropped",
	  PS(&(struct pkt_spec){ .saddr = ws,
				 .daddr = pb,
				 .proto = IPPROTO_UDP,
				 .sport = 9,
				 .dport = 9,
				 .frag_off = 0x2000,
				 .payload_len = 24 }),
	  XDP_DROP, NULL, EG_STAT_DROP_FRAG, 0);

	/* VLAN. */
	o = PS(&(struct pkt_spec){ .vlan = 100,
				   .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_TCP,
				   .sport = 41000,
				   .dport = 443,
				   .tcp_flags = ACK });
	X("VLAN-tagged frame: translated behind its tag",
	  PS(&(struct pkt_spec){ .vlan = 100,
				 .saddr = host,
				 .daddr = pa,
				 .proto = IPPROTO_TCP,
				 .sport = 41000,
				 .dport = 443,
				 .tcp_flags = ACK }),
	  XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));

	/* ESP and IKE. */
	in = PS(&(struct pkt_spec){ .saddr = pb, .daddr = gw, .proto = 50, .payload_len = 32 });
	memcpy(in.b + 34, "\xc0\xff\xee\x01", 4);
	X("ESP with a known SPI passes", in, XDP_PASS, NULL, EG_STAT_ESP_PASS, 0);
	memcpy(in.b + 34, "\xc0\xff\xee\x02", 4);
	X("ESP with an unknown SPI is dropped", in, XDP_DROP, NULL, EG_STAT_DROP_UNKNOWN_SPI, 0);
	in = PS(&(struct pkt_spec){ .saddr = pb,
				    .daddr = gw,
				    .proto = IPPROTO_UDP,
				    .sport = 4500,
				    .dport = 4500,
				    .payload_len = 32,
				    .udp_csum_zero = true });
	memcpy(in.b + 42, "\xc0\xff\xee\x01", 4);
	X("ESP-in-UDP 4500 with a known SPI passes", in, XDP_PASS, NULL, EG_STAT_ESP_PASS, 0);
	memcpy(in.b + 42, "\xde\xad\xbe\xef", 4);
	X("ESP-in-UDP 4500 with an unknown SPI is dropped", in, XDP_DROP, NULL,
	  EG_STAT_DROP_UNKNOWN_SPI, 0);
	in = PS(&(struct pkt_spec){ .saddr = pb,
				    .daddr = gw,
				    .proto = IPPROTO_UDP,
				    .sport = 4500,
				    .dport = 4500,
				    .payload_len = 1,
				    .udp_csum_zero = true });
	in.b[42] = 0xff;
	X("NAT-T keepalive (one 0xff byte) passes", in, XDP_PASS, NULL, EG_STAT_IKE_PASS, 0);
	in = PS(&(struct pkt_spec){ .saddr = pb,
				    .daddr = gw,
				    .proto = IPPROTO_UDP,
				    .sport = 4500,
				    .dport = 4500,
				    .payload_len = 40,
				    .udp_csum_zero = true });
	memset(in.b + 42, 0, 4);
	X("IKE on 4500 (non-ESP marker) passes within its rate", in, XDP_PASS, NULL,
	  EG_STAT_IKE_PASS, 0);
	in = PS(&(struct pkt_spec){ .saddr = pb,
				    .daddr = gw,
				    .proto = IPPROTO_UDP,
				    .sport = 500,
				    .dport = 500,
				    .payload_len = 40 });
	X("IKE on 500: second packet within the burst of 2 passes", in, XDP_PASS, NULL,
	  EG_STAT_IKE_PASS, 0);
	X("IKE on 500: third packet from the same source is over the rate", in, XDP_DROP, NULL,
	  EG_STAT_DROP_IKE_RATELIMIT, 0);
	in = PS(&(struct pkt_spec){ .saddr = pa,
				    .daddr = gw,
				    .proto = IPPROTO_UDP,
				    .sport = 500,
				    .dport = 500,
				    .payload_len = 40 });
	X("IKE rate limit is per source: another source passes", in, XDP_PASS, NULL,
	  EG_STAT_IKE_PASS, 0);

	/* tc_eg_nat: the same NAT from tc when native XDP is unavailable. */
	o = P(snat, 42000, pa, 80, IPPROTO_TCP, SYN);
	T(nat_fd, "tc_eg_nat: SNAT 1:1 from tc, skb->mark set to child 1's out mark",
	  P(host, 42000, pa, 80, IPPROTO_TCP, SYN), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	o = P(pool, 5100, pb, 53, IPPROTO_UDP, 0);
	T(nat_fd, "tc_eg_nat: SNAT pool from tc", P(ws, 5100, pb, 53, IPPROTO_UDP, 0), 0, TC_ACT_OK,
	  &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_POOL));
	o = P(pb, 53, ws, 5100, IPPROTO_UDP, 0);
	T(nat_fd, "tc_eg_nat: decrypted reply reverse-translated (never NATed twice)",
	  P(pb, 53, pool, 5100, IPPROTO_UDP, 0), EG_MARK_IN(C_POOL), TC_ACT_OK, &o, EG_STAT_NAT_IN,
	  EG_MARK_IN(C_POOL));
	in = PS(&(struct pkt_spec){ .saddr = host,
				    .daddr = pa,
				    .proto = IPPROTO_UDP,
				    .sport = 1,
				    .dport = 2,
				    .payload_len = 3,
				    .udp_csum_zero = true });
	o = PS(&(struct pkt_spec){ .saddr = snat,
				   .daddr = pa,
				   .proto = IPPROTO_UDP,
				   .sport = 1,
				   .dport = 2,
				   .payload_len = 3,
				   .udp_csum_zero = true });
	T(nat_fd, "tc_eg_nat: zero UDP checksum stays zero", in, 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  -1);
	T(nat_fd, "tc_eg_nat: malformed IPv4 dropped",
	  PS(&(struct pkt_spec){ .saddr = 1, .daddr = 2, .proto = 99, .payload_len = 1 }), 0,
	  TC_ACT_OK, NULL, EG_STAT_PASS, -1);
	{
		struct pkt v6;

		memset(&v6, 0, sizeof(v6));
		memcpy(v6.b, o.b, 12);
		v6.b[12] = 0x86;
		v6.b[13] = 0xdd;
		v6.b[14] = 0x60;
		v6.b[20] = 59;
		v6.len = 54;
		X("IPv6 passes untouched through XDP", v6, XDP_PASS, NULL, EG_STAT_PASS, 0);
		T(nat_fd, "IPv6 passes untouched through tc_eg_nat", v6, 0, TC_ACT_OK, NULL,
		  EG_STAT_PASS, 0);
		T(tc_fd, "decrypted IPv6 (no IPv6 selectors yet) is dropped: fail closed", v6,
		  EG_MARK_IN(C_HOST), TC_ACT_SHOT, NULL, EG_STAT_DROP_SELECTOR, -1);
	}
	in = P(host, 1, pa, 2, IPPROTO_UDP, 0);
	in.b[14] = 0x44;
	X("IPv4 with IHL 4 is malformed", in, XDP_DROP, NULL, EG_STAT_DROP_MALFORMED, 0);
}

static void config_set(uint32_t flags_on, uint32_t flags_off, uint32_t hairpin_ifindex)
{
	struct eg_config c;

	must(dp_config_read(&dm, &c), "reading config");
	c.flags = (c.flags | flags_on) & ~flags_off;
	c.hairpin_ifindex = hairpin_ifindex;
	must(dp_config_write(&dm, &c), "config");
}

/*
 * EG_CFG_SA_CHECK on, as espgated runs: a packet with an in mark must carry the child's XFRM
 * state, which no BPF_PROG_TEST_RUN packet has, so every marked packet is DROP_NOT_DECRYPTED,
 * before conntrack or translation. Plaintext is not affected.
 */
static void sa_check(void)
{
	const uint32_t host = IP(10, 1, 1, 66), snat = IP(100, 64, 0, 18), pa = IP(192, 168, 88, 1);
	struct pkt o;

	config_set(EG_CFG_SA_CHECK, 0, 0);
	T(tc_fd, "check on: in mark without XFRM state (a mark someone else set) is dropped",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(C_HOST), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	T(tc_fd, "check on: a partner-initiated SYN with a forged in mark is dropped the same way",
	  P(pa, 50000, snat, 8080, IPPROTO_TCP, SYN), EG_MARK_IN(C_HOST), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	T(tc_fd, "check on: in mark of child 0 is dropped",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(0), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	T(nat_fd, "check on: tc_eg_nat drops an in mark without XFRM state",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(C_HOST), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	o = P(snat, 42001, pa, 80, IPPROTO_TCP, SYN);
	T(nat_fd, "check on: plaintext through tc_eg_nat is translated as before",
	  P(host, 42001, pa, 80, IPPROTO_TCP, SYN), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	T(tc_fd, "check on: a foreign mark is left alone", P(pa, 80, snat, 40000, IPPROTO_TCP, ACK),
	  0x12345678, TC_ACT_OK, NULL, -1, 0x12345678);
	config_set(0, EG_CFG_SA_CHECK, 0);
	o = P(pa, 80, host, 40000, IPPROTO_TCP, ACK);
	T(tc_fd, "check off again: the same marked packet is reverse-translated",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(C_HOST), TC_ACT_OK, &o,
	  EG_STAT_NAT_IN, EG_MARK_IN(C_HOST));
}

/*
 * tc_eg_nat on the hairpin's eg1 (eg_config.hairpin_ifindex = 1: BPF_PROG_TEST_RUN runs tc
 * programs on the loopback device): what no child takes would be routed back into eg0 and loop,
 * so it is DROP_HAIRPIN_LOOP; tunnel traffic, multicast and non-IPv4 go on.
 */
static void hairpin(void)
{
	const uint32_t host = IP(10, 1, 1, 66), snat = IP(100, 64, 0, 18), pa = IP(192, 168, 88, 1),
		       other = IP(10, 9, 9, 9);
	struct pkt o, v6;

	config_set(0, 0, 1);
	o = P(snat, 42002, pa, 80, IPPROTO_TCP, SYN);
	T(nat_fd, "hairpin: the host's packet for a child leaves translated and marked",
	  P(host, 42002, pa, 80, IPPROTO_TCP, SYN), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	T(nat_fd, "hairpin: a packet to a remote selector that no child takes is dropped (no loop)",
	  P(other, 5000, pa, 80, IPPROTO_UDP, 0), 0, TC_ACT_SHOT, NULL, EG_STAT_DROP_HAIRPIN_LOOP,
	  0);
	T(nat_fd, "hairpin: ICMP no child takes is dropped too",
	  PS(&(struct pkt_spec){ .saddr = other, .daddr = pa, .proto = IPPROTO_ICMP, .sport = 9 }),
	  0, TC_ACT_SHOT, NULL, EG_STAT_DROP_HAIRPIN_LOOP, 0);
	T(nat_fd, "hairpin: multicast is never forwarded: it passes",
	  P(other, 5353, IP(224, 0, 0, 251), 5353, IPPROTO_UDP, 0), 0, TC_ACT_OK, NULL,
	  EG_STAT_PASS, 0);
	memset(&v6, 0, sizeof(v6));
	v6.b[12] = 0x86;
	v6.b[13] = 0xdd;
	v6.b[14] = 0x60;
	v6.b[20] = 59;
	v6.len = 54;
	T(nat_fd, "hairpin: IPv6 passes", v6, 0, TC_ACT_OK, NULL, EG_STAT_PASS, 0);
	config_set(0, 0, 2);
	T(nat_fd, "another interface than the hairpin's: the same packet passes",
	  P(other, 5001, pa, 80, IPPROTO_UDP, 0), 0, TC_ACT_OK, NULL, EG_STAT_PASS, 0);
	config_set(0, 0, 0);
	T(nat_fd, "no hairpin configured: the same packet passes",
	  P(other, 5002, pa, 80, IPPROTO_UDP, 0), 0, TC_ACT_OK, NULL, EG_STAT_PASS, 0);
}

/* A UDP frame to port dport whose first payload word is spi, zero UDP checksum (kept zero). */
static struct pkt U(uint32_t s, uint16_t sp, uint32_t d, uint16_t dp, uint32_t spi) {
	struct pkt p = PS(&(struct pkt_spec){ .saddr = s,
					      .daddr = d,
					      .proto = IPPROTO_UDP,
					      .sport = sp,
					      .dport = dp,
					      .payload_len = 32,
					      .udp_csum_zero = true });
	uint32_t n = htonl(spi);

	memcpy(p.b + 42, &n, 4);
	return p;
}

/* An ESP frame (protocol 50) with this SPI. */
static struct pkt
E(uint32_t s, uint32_t d, uint32_t spi) {
	struct pkt p =
		PS(&(struct pkt_spec){ .saddr = s, .daddr = d, .proto = 50, .payload_len = 32 });
	uint32_t n = htonl(spi);

	memcpy(p.b + 34, &n, 4);
	return p;
}

/*
 * Steering claims only what is addressed to the gateway (issue 3): main() made 198.19.0.1 and
 * 10.1.0.1 local, with forwarding on and a default route. An inside host's own NAT-T, IKE and
 * ESP to elsewhere is masqueraded or classified into a tunnel like any packet; the same to one of
 * the gateway's addresses keeps the unknown-SPI drop and the IKE rate limit.
 */
static void
transit(void)
{
	const uint32_t gw = IP(198, 19, 0, 1), gwin = IP(10, 1, 0, 1), host = IP(10, 1, 1, 66),
		       snat = IP(100, 64, 0, 18), pa = IP(192, 168, 88, 1), ws = IP(10, 1, 6, 6),
		       srv = IP(8, 8, 4, 4), other = IP(10, 9, 9, 9);
	struct pkt o;

	o = U(gw, 4500, srv, 4500, 0xabad1dea);
	X("inside NAT-T (UDP 4500, SPI 0xabad1dea) to an internet server is masqueraded",
	  U(ws, 4500, srv, 4500, 0xabad1dea), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	X("inside NAT-T: the flow's next packet is masqueraded the same (conntrack)",
	  U(ws, 4500, srv, 4500, 0xabad1dea), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = U(srv, 4500, ws, 4500, 0x1234567);
	X("inside NAT-T: the server's reply to the gateway is un-masqueraded, not an unknown SPI",
	  U(srv, 4500, gw, 4500, 0x1234567), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = U(gw, 4500, srv, 4500, 0);
	X("inside NAT-T: its IKE (non-ESP marker) leaves masqueraded too",
	  U(ws, 4500, srv, 4500, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = U(gw, 1500, srv, 500, 0);
	for (int i = 0; i < 3; i++)
		X("inside IKE (UDP 500) to an internet server is masqueraded, never rate-limited",
		  U(ws, 1500, srv, 500, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = E(gw, srv, 0xabad1dea);
	X("inside ESP (protocol 50) to an internet server is masqueraded by address",
	  E(ws, srv, 0xabad1dea), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = U(snat, 4500, pa, 4500, 0xabad1dea);
	X("NAT-T from a LAN host to a partner host goes into the tunnel (SNAT 1:1, child 1)",
	  U(host, 4500, pa, 4500, 0xabad1dea), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));
	o = E(snat, pa, 0xabad1dea);
	X("ESP from a LAN host to a partner host goes into the tunnel (SNAT 1:1, child 1)",
	  E(host, pa, 0xabad1dea), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(C_HOST));

	X("UDP 4500 with an unknown SPI to the gateway's inside address is dropped",
	  U(ws, 4500, gwin, 4500, 0xabad1dea), XDP_DROP, NULL, EG_STAT_DROP_UNKNOWN_SPI, 0);
	X("ESP with an unknown SPI to the gateway's inside address is dropped", E(ws, gwin, 0xab),
	  XDP_DROP, NULL, EG_STAT_DROP_UNKNOWN_SPI, 0);
	o = E(gw, srv, 0xc0ffee01);
	X("ESP with the known SPI to another address than its SA's is not ESP_PASS: masqueraded",
	  E(ws, srv, 0xc0ffee01), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = E(srv, ws, 0x5eed);
	X("inside ESP: the server's reply to the gateway is un-masqueraded, not an unknown SPI",
	  E(srv, gw, 0x5eed), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = U(srv, 4500, ws, 4500, 0);
	X("inside NAT-T: the server's IKE reply to the gateway is un-masqueraded, not IKE",
	  U(srv, 4500, gw, 4500, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	X("UDP 500 to the gateway's inside address is IKE: first within its rate",
	  U(IP(10, 1, 6, 7), 500, gwin, 500, 0), XDP_PASS, NULL, EG_STAT_IKE_PASS, 0);
	X("UDP 500 to the gateway's inside address is IKE: second within its rate",
	  U(IP(10, 1, 6, 7), 500, gwin, 500, 0), XDP_PASS, NULL, EG_STAT_IKE_PASS, 0);
	X("UDP 500 to the gateway's inside address is IKE: third over the rate",
	  U(IP(10, 1, 6, 7), 500, gwin, 500, 0), XDP_DROP, NULL, EG_STAT_DROP_IKE_RATELIMIT, 0);

	o = U(gw, 4501, srv, 4500, 0xabad1dea);
	T(nat_fd, "tc_eg_nat: inside NAT-T to an internet server is masqueraded",
	  U(IP(10, 1, 6, 8), 4501, srv, 4500, 0xabad1dea), 0, TC_ACT_OK, &o, EG_STAT_NAT_PLAIN, 0);
	T(nat_fd, "tc_eg_nat: UDP 4500 with an unknown SPI to the gateway is dropped",
	  U(srv, 4999, gw, 4500, 0xabad1dea), 0, TC_ACT_SHOT, NULL, EG_STAT_DROP_UNKNOWN_SPI, 0);
	T(nat_fd, "tc_eg_nat: UDP 4500 with the known SPI to the gateway passes as ESP",
	  U(srv, 4500, gw, 4500, 0xc0ffee01), 0, TC_ACT_OK, NULL, EG_STAT_ESP_PASS, 0);

	/* eg1: everything there was routed into eg0 by the host, never addressed to us */
	config_set(0, 0, 1);
	o = U(snat, 4502, pa, 4500, 0xabad1dea);
	T(nat_fd, "hairpin: NAT-T to a partner host leaves translated and marked for child 1",
	  U(host, 4502, pa, 4500, 0xabad1dea), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(C_HOST));
	T(nat_fd, "hairpin: UDP 500 no child takes is dropped (no loop), not passed as IKE",
	  U(other, 500, pa, 500, 0), 0, TC_ACT_SHOT, NULL, EG_STAT_DROP_HAIRPIN_LOOP, 0);
	T(nat_fd, "hairpin: ESP no child takes is dropped (no loop)", E(other, pa, 0xc0ffee01), 0,
	  TC_ACT_SHOT, NULL, EG_STAT_DROP_HAIRPIN_LOOP, 0);
	config_set(0, 0, 0);
}

/* Conntrack full: a 5-entry table holds two pairs; the third flow's forward insert fails after
 * its reverse half went in, and the rollback leaves no half pair. */
static void ct_full(void)
{
	long n;

	int n0 = t.n, f0 = t.failed;

	bt_close(&t);
	dp_maps_fini(&dm);
	must(open_gateway(5), "reopen with a 5-entry conntrack");
	t.n = n0;
	t.failed = f0;
	setup(0);
	xdp_fd = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	for (int i = 0; i < 2; i++) {
		struct pkt o = P(IP(198, 19, 0, 1), (uint16_t)(2000 + i), IP(8, 8, 8, 8), 53,
				 IPPROTO_UDP, 0);

		X("conntrack: a flow fits",
		  P(IP(10, 1, 7, 1), (uint16_t)(2000 + i), IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0),
		  XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	}
	X("conntrack full: the third flow is dropped under DROP_CT_FULL",
	  P(IP(10, 1, 7, 1), 2002, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0), XDP_DROP, NULL,
	  EG_STAT_DROP_CT_FULL, 0);
	n = dp_ct_count(&dm);
	bt_ok(&t, n == 4, "conntrack full: rollback left no half pair (4 entries)",
	      "conntrack holds an odd number of entries");
	bt_ok(&t, dp_pool_used(&dm, 1) == 2, "conntrack full: the failed flow's port was released",
	      "pool port leaked");
	n = dp_ct_sweep(&dm, UINT64_MAX);
	bt_ok(&t, n == 2 && dp_ct_count(&dm) == 0 && dp_pool_used(&dm, 1) == 0,
	      "dp_ct_sweep deletes expired pairs and frees their pool ports", "sweep incomplete");
	{
		struct pkt o = P(IP(198, 19, 0, 1), 2002, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);

		X("after the sweep a new flow fits again",
		  P(IP(10, 1, 7, 1), 2002, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0), XDP_PASS, &o,
		  EG_STAT_NAT_PLAIN, 0);
	}
	n = dp_ct_sweep(&dm, 0);
	bt_ok(&t, n == 0 && dp_ct_count(&dm) == 2, "dp_ct_sweep keeps live pairs",
	      "a live pair was swept");
}

static uint32_t rnd(void)
{
	return (uint32_t)random();
}

/* The classifier against a reference that does what the kernel does: of all selectors matching
 * the packet, the one with the lowest policy priority. Random selector sets, random packets. */
static void classifier_vs_reference(void)
{
	struct dp_sel sels[24];
	uint32_t prio[24];
	int bad = 0, runs = 0;
	struct eg_config cfg;

	for (int round = 0; round < 20; round++) {
		int n = 4 + (int)(rnd() % 20);

		dp_sel_clear(&dm, 1);
		for (int i = 0; i < n; i++) {
			struct dp_sel *s = &sels[i];
			struct eg_child c;

			memset(s, 0, sizeof(*s));
			s->child = 10 + (uint32_t)i;
			s->tunnel = 10;
			s->order = (uint32_t)i;
			s->splen = (uint8_t)(rnd() % 3 * 8 + 8);
			s->dplen = (uint8_t)(rnd() % 4 * 4 + 16);
			s->saddr = N(IP(10, rnd() % 2, rnd() % 2, 0)) & MASK(s->splen);
			s->daddr = N(IP(172, 16, rnd() % 4, 0)) & MASK(s->dplen);
			s->proto = rnd() % 3 == 0 ? IPPROTO_TCP : 0;
			s->sport_hi = s->dport_hi = 65535;
			if (rnd() % 3 == 0)
				s->dport_lo = s->dport_hi = (uint16_t)(80 + rnd() % 2);
			prio[i] = eg_policy_priority_raw(AF_INET, s->splen, s->dplen, s->proto,
							 true, s->dport_lo == 0, s->order);
			memset(&c, 0, sizeof(c));
			c.flags = EG_CHILD_VALID | EG_CHILD_UP;
			c.tunnel_id = 10;
			dp_child_write(&dm, s->child, &c);
		}
		if (dp_sel_write(&dm, 1, sels, (size_t)n))
			continue; /* more than EG_SEL_CANDS on one prefix: skip this draw */
		dp_config_read(&dm, &cfg);
		cfg.gen = 1;
		cfg.masq_rule = 0;
		dp_config_write(&dm, &cfg);
		for (int k = 0; k < 200; k++) {
			uint32_t sa = IP(10, rnd() % 2, rnd() % 2, rnd() % 4),
				 da = IP(172, 16, rnd() % 4, rnd() % 4);
			uint8_t proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
			uint16_t dp = (uint16_t)(80 + rnd() % 3),
				 sp = (uint16_t)(1000 + rnd() % 60000);
			uint32_t best = 0, bestp = UINT32_MAX, got = 0;
			struct pkt p = P(sa, sp, da, dp, proto, ACK);
			uint8_t out[PKT_MAX + 64];
			LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = p.b,
				    .data_size_in = (__u32)p.len, .data_out = out,
				    .data_size_out = sizeof(out));

			for (int i = 0; i < n; i++) {
				const struct dp_sel *s = &sels[i];

				if ((N(sa) & MASK(s->splen)) != s->saddr ||
				    (N(da) & MASK(s->dplen)) != s->daddr ||
				    (s->proto && s->proto != proto) ||
				    (dp < s->dport_lo || dp > s->dport_hi))
					continue;
				if (prio[i] < bestp) {
					bestp = prio[i];
					best = s->child;
				}
			}
			if (bpf_prog_test_run_opts(xdp_fd, &ro) || ro.retval != XDP_PASS) {
				bad++;
				continue;
			}
			if (ro.data_size_out == p.len + 8) {
				struct eg_xdp_meta m;

				memcpy(&m, out, sizeof(m));
				got = m.mark & EG_MARK_CHILD_MASK;
			}
			if (got != best)
				bad++;
			runs++;
		}
		cfg.gen = 0;
		cfg.masq_rule = 4;
		dp_config_write(&dm, &cfg);
		bpf_map_delete_elem(dm.ct, NULL); /* no-op; flows of gen 1 expire with the sweep */
		dp_ct_sweep(&dm, UINT64_MAX);
	}
	bt_ok(&t, bad == 0 && runs >= 1000,
	      "classifier picks the kernel's policy (lowest priority match) on random selectors",
	      "classifier disagrees with the priority-ordered reference");
}

/* What a program did with one frame, from the counters. */
struct outcome {
	uint64_t before[EG_STAT_MAX];
};

static bool is_drop(int s)
{
	return s >= EG_STAT_DROP_MALFORMED && s != EG_STAT_TUNNEL_OUT && s != EG_STAT_TUNNEL_IN &&
	       s != EG_STAT_NAT_PLAIN;
}

static bool is_side(int s)
{
	return s == EG_STAT_RX || s == EG_STAT_MSS_CLAMPED || s == EG_STAT_CT_NEW;
}

static long refused;

/* Runs one frame through prog and checks the invariants; returns false on a violation. */
static bool robust_one(int fd, bool xdp, const uint8_t *frame, size_t len, uint32_t mark, char *why,
		       size_t whylen)
{
	uint64_t b[EG_STAT_MAX], a[EG_STAT_MAX];
	uint8_t out[PKT_MAX + 256];
	struct __sk_buff skb = { .mark = mark };
	LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int terminal = 0, drops = 0, which = -1;
	uint8_t *o = out;
	uint32_t olen;
	bool dropped;

	if (!xdp) {
		ro.ctx_in = &skb;
		ro.ctx_size_in = sizeof(skb);
	}
	if (bt_stats_all(&t, b))
		return snprintf(why, whylen, "stats read"), false;
	if (bpf_prog_test_run_opts(fd, &ro)) {
		/* The kernel refuses some frames before any program runs (an skb needs more
		 * than its Ethernet header): fine, as long as nothing was counted. */
		if (errno == EINVAL && !bt_stats_all(&t, a) && !memcmp(a, b, sizeof(a))) {
			refused++;
			return true;
		}
		return snprintf(why, whylen, "test run failed: %s", strerror(errno)), false;
	}
	if (bt_stats_all(&t, a))
		return snprintf(why, whylen, "stats read"), false;
	if (!xdp && fd == tc_fd &&
	    (mark & (EG_MARK_MAGIC_MASK | EG_MARK_DIR_IN)) != (EG_MARK_MAGIC | EG_MARK_DIR_IN)) {
		/* tc_eg_ingress beside XDP: plaintext is XDP's, only the mark handoff runs. */
		for (int s = 0; s < EG_STAT_MAX; s++)
			if (a[s] != b[s])
				return snprintf(why, whylen, "handoff counted stat %d", s), false;
		if (ro.retval != TC_ACT_OK || ro.data_size_out != len || memcmp(out, frame, len))
			return snprintf(why, whylen, "handoff changed the frame"), false;
		return true;
	}
	if (a[EG_STAT_RX] - b[EG_STAT_RX] != 1)
		return snprintf(why, whylen, "RX moved by %llu",
				(unsigned long long)(a[EG_STAT_RX] - b[EG_STAT_RX])),
		       false;
	for (int s = 0; s < EG_STAT_MAX; s++) {
		uint64_t d = a[s] - b[s];

		if (is_side(s) || !d)
			continue;
		terminal += (int)d;
		which = s;
		if (is_drop(s))
			drops += (int)d;
	}
	dropped = xdp ? ro.retval == XDP_DROP : ro.retval == TC_ACT_SHOT;
	if (terminal != 1 || (dropped != (drops == 1)))
		return snprintf(why, whylen,
				"terminal counters moved %d (drops %d, last %d), verdict %u",
				terminal, drops, which, ro.retval),
		       false;
	if (dropped)
		return true;
	olen = ro.data_size_out;
	if (xdp && olen == len + 8) {
		o += 8;
		olen -= 8;
	}
	if (olen != len)
		return snprintf(why, whylen, "output length %u, input %zu", olen, len), false;
	if (memcmp(o, frame, len) && !pkt_verify_csums(frame, len) && pkt_verify_csums(o, olen))
		return snprintf(why, whylen, "translated with invalid checksums (stat %d)", which),
		       false;
	return true;
}

static void random_frame(struct pkt *p)
{
	static const uint32_t srcs[] = { IP(10, 1, 1, 66),     IP(10, 1, 5, 5),
					 IP(192, 168, 10, 45), IP(192, 168, 88, 1),
					 IP(203, 0, 113, 9),   IP(8, 8, 8, 8),
					 IP(10, 10, 10, 55),   IP(10, 99, 0, 1),
					 IP(168, 63, 129, 16) };
	static const uint32_t dsts[] = {
		IP(192, 168, 88, 1), IP(203, 0, 113, 9), IP(10, 10, 10, 55),  IP(100, 64, 0, 18),
		IP(100, 64, 0, 20),  IP(198, 19, 0, 1),	 IP(172, 16, 17, 45), IP(8, 8, 8, 8),
		IP(198, 51, 100, 1), IP(192, 0, 2, 1),	 IP(10, 1, 5, 5)
	};
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 50, 47 };
	struct pkt_spec s = {
		.vlan = rnd() % 8 == 0 ? 7 : 0,
		.saddr = srcs[rnd() % ARRAY_SIZE(srcs)] + (rnd() % 4 == 0 ? rnd() % 3 : 0),
		.daddr = dsts[rnd() % ARRAY_SIZE(dsts)],
		.proto = protos[rnd() % ARRAY_SIZE(protos)],
		.sport = (uint16_t)(rnd() % 4 == 0 ? 4500 : rnd()),
		.dport = (uint16_t)(rnd() % 4 == 0 ? (rnd() % 2 ? 8080 : 500) : rnd()),
		.tcp_flags = (uint8_t)rnd(),
		.mss = rnd() % 2 ? (uint16_t)rnd() : 0,
		.frag_off = rnd() % 10 == 0 ? (uint16_t)(rnd() & 0x3fff) : 0,
		.payload_len = rnd() % 64,
		.udp_csum_zero = rnd() % 5 == 0,
		.icmp_reply = rnd() % 2,
	};

	pkt_build(p, &s);
}

static void robustness(const struct pkt *valid, size_t nvalid)
{
	const int fds[] = { xdp_fd, tc_fd, nat_fd };
	const bool isx[] = { true, false, false };
	const uint32_t marks[] = { 0,
				   EG_MARK_IN(C_HOST),
				   EG_MARK_IN(C_POOL),
				   EG_MARK_IN(C_PFX),
				   EG_MARK_IN(C_WIDE),
				   EG_MARK_OUT(C_HOST),
				   0x1234 };
	char why[256] = "";
	long bad = 0, n = 0;

	/* Every truncation of every valid frame, through every program. */
	for (size_t i = 0; i < nvalid; i++)
		for (size_t len = 14; len < valid[i].len; len++)
			for (int f = 0; f < 3; f++, n++)
				if (!robust_one(fds[f], isx[f], valid[i].b, len,
						isx[f] ? 0 : marks[len % ARRAY_SIZE(marks)], why,
						sizeof(why)) &&
				    !bad++)
					printf("# truncation %zu of frame %zu prog %d: %s\n", len,
					       i, f, why);
	bt_ok(&t, bad == 0 && n > 500,
	      "every truncation of every valid frame, every program: counted once, never mistranslated",
	      why);

	/* Random valid frames, mutated frames and random bytes. */
	bad = 0;
	n = 0;
	for (int k = 0; k < 40000; k++) {
		struct pkt p;
		int kind = k % 4;

		if (kind == 3) {
			p = valid[rnd() % nvalid];
		} else {
			random_frame(&p);
		}
		if (kind >= 2) { /* mutate: flip bytes, maybe cut */
			int flips = 1 + (int)(rnd() % 4);

			for (int j = 0; j < flips; j++)
				p.b[rnd() % p.len] ^= (uint8_t)(1u << (rnd() % 8));
			if (rnd() % 4 == 0)
				p.len = 14 + rnd() % (p.len - 13);
		}
		if (k % 97 == 0) { /* pure noise */
			p.len = 14 + rnd() % 200;
			for (size_t j = 0; j < p.len; j++)
				p.b[j] = (uint8_t)rnd();
		}
		for (int f = 0; f < 3; f++, n++)
			if (!robust_one(fds[f], isx[f], p.b, p.len,
					isx[f] ? 0 : marks[rnd() % ARRAY_SIZE(marks)], why,
					sizeof(why)) &&
			    !bad++)
				printf("# random frame %d prog %d: %s\n", k, f, why);
		if (k % 5000 == 4999)
			dp_ct_sweep(&dm, UINT64_MAX); /* keep the table from filling */
	}
	bt_ok(&t, bad == 0 && n >= 100000,
	      "120,000 random, mutated and noise frames through every program: counted once, unchanged or validly translated",
	      why);
}

int main(void)
{
	struct pkt valid[64];
	size_t nvalid = 0;
	int err;

	srandom(0xe59a7e);
	/* A netns of our own: the gateway's addresses local, forwarding on, a default route, so
	 * that "addressed to us" (ESP/IKE steering) means what it does on a gateway. */
	if (bt_gateway_netns("198.19.0.1 10.1.0.1")) {
		printf("not ok 1 - private network namespace with the gateway's addresses: %s\n",
		       strerror(errno));
		return 1;
	}
	err = open_gateway(0);
	if (err) {
		printf("not ok 1 - load espgate skeleton: %s\n", strerror(-err));
		return 1;
	}
	setup(1);
	xdp_fd = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	tc_fd = bpf_program__fd(t.skel->progs.tc_eg_ingress);
	nat_fd = bpf_program__fd(t.skel->progs.tc_eg_nat);
	table();
	transit();
	sa_check();
	hairpin();

	valid[nvalid++] = PS(&(struct pkt_spec){ .saddr = IP(10, 1, 1, 66),
						 .daddr = IP(192, 168, 88, 1),
						 .proto = IPPROTO_TCP,
						 .sport = 1,
						 .dport = 80,
						 .tcp_flags = SYN,
						 .mss = 1460 });
	valid[nvalid++] = P(IP(10, 1, 5, 5), 2, IP(203, 0, 113, 9), 53, IPPROTO_UDP, 0);
	valid[nvalid++] = P(IP(192, 168, 88, 1), 80, IP(100, 64, 0, 18), 1, IPPROTO_TCP, ACK);
	valid[nvalid++] = PS(&(struct pkt_spec){ .saddr = IP(10, 1, 5, 5),
						 .daddr = IP(203, 0, 113, 9),
						 .proto = IPPROTO_ICMP,
						 .sport = 5 });
	valid[nvalid++] = PS(&(struct pkt_spec){ .vlan = 3,
						 .saddr = IP(192, 168, 10, 45),
						 .daddr = IP(10, 10, 10, 55),
						 .proto = IPPROTO_UDP,
						 .sport = 7,
						 .dport = 8,
						 .payload_len = 20 });
	valid[nvalid++] = PS(&(struct pkt_spec){ .saddr = IP(203, 0, 113, 9),
						 .daddr = IP(198, 19, 0, 1),
						 .proto = IPPROTO_UDP,
						 .sport = 4500,
						 .dport = 4500,
						 .payload_len = 30 });
	valid[nvalid++] = PS(&(struct pkt_spec){ .saddr = IP(10, 1, 1, 66),
						 .daddr = IP(192, 168, 88, 1),
						 .proto = IPPROTO_UDP,
						 .frag_off = 0x2000,
						 .sport = 3,
						 .dport = 4,
						 .payload_len = 30 });
	robustness(valid, nvalid);
	classifier_vs_reference();
	ct_full();

	bt_close(&t);
	dp_maps_fini(&dm);
	return bt_done(&t);
}
