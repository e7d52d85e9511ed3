// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, configuration to translation: the example configurations (S2, S3, S5, S6, S7, S9) are
 * parsed by the real config parser, applied by user/dpsync.c to the real skeleton (unpinned,
 * nothing attached), then crafted frames go through xdp_eg_ingress, tc_eg_ingress (decrypted
 * packets carrying their SA's input mark) and tc_eg_nat with BPF_PROG_TEST_RUN, and the exact
 * output bytes (checksums recomputed in full), verdicts and counters are asserted. Also: the
 * EG_CHILD_UP rules (SA events, policies, on-demand), the SPI allow-list following SA events,
 * reloads (a generation switch keeps an unchanged child's SA state and flows; a changed one goes
 * down and loses its flows; a removed one's packets are dropped), classifier priorities equal to
 * the XFRM policies', unsupported rules refused with nothing changed, the sweeper, and the
 * espgatectl listings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include "config.h"
#include "ctl.h"
#include "dp_maps.h"
#include "dpsync.h"
#include "espgate_abi.h"
#include "ike.h"
#include "ike_ts.h"
#include "ipsec.h"
#include "peercfg.h"
#include "bpf_test.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

enum {
	SYN = 0x02,
	ACK = 0x10,
};

static struct bt t;
static struct eg_dp *dp;
static struct eg_child_ids *ids;
static struct eg_config_file *cfg;
static int xdp_fd, tc_fd, nat_fd;
static const uint32_t GW = IP(20, 0, 0, 1); /* our outer address */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = calloc(1, (size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Parses examples/NAME, with each subs[2k] replaced by subs[2k + 1] (NULL-terminated). */
static struct eg_config_file *load(const char *name, const char *const *subs)
{
	char path[256], *y, *s;
	struct eg_config_file *c = NULL;
	struct eg_config_err e;
	size_t yl, sl;

	snprintf(path, sizeof(path), "examples/%s", name);
	y = slurp(path, &yl);
	s = slurp("examples/secrets.example.yaml", &sl);
	if (!y || !s) {
		printf("Bail out! cannot read %s or the secrets example\n", path);
		exit(1);
	}
	for (; subs && subs[0]; subs += 2) {
		char *at = strstr(y, subs[0]), *m;

		if (!at) {
			printf("Bail out! %s: '%s' not found\n", name, subs[0]);
			exit(1);
		}
		m = calloc(1, yl + strlen(subs[1]) + 1);
		memcpy(m, y, (size_t)(at - y));
		strcat(m, subs[1]);
		strcat(m, at + strlen(subs[0]));
		free(y);
		y = m;
		yl = strlen(y);
	}
	memset(&e, 0, sizeof(e));
	if (eg_config_parse(name, y, yl, "secrets.example.yaml", s, sl, &c, &e)) {
		printf("Bail out! %s does not parse: %s\n", name, e.n ? e.msg[0] : "?");
		exit(1);
	}
	free(y);
	free(s);
	for (size_t i = 0; i < c->n_tunnels; i++)
		for (size_t j = 0; j < c->tunnels[i].n_children; j++)
			eg_child_id_alloc(ids, c->tunnels[i].name, c->tunnels[i].children[j].name);
	return c;
}

/*
 * Switches EG_CFG_SA_CHECK in the live eg_config; returns whether it was on. espgated always
 * sets it, but BPF_PROG_TEST_RUN cannot give a packet the sec_path it looks for: every apply()
 * turns it off, explicitly, for the inbound cases here, and s2() proves it was set and what it
 * does when on.
 */
static bool sa_check(bool on)
{
	struct eg_config ec;
	bool was;

	if (dp_config_read(eg_dp_maps(dp), &ec)) {
		printf("Bail out! reading eg_config\n");
		exit(1);
	}
	was = ec.flags & EG_CFG_SA_CHECK;
	ec.flags = on ? ec.flags | EG_CFG_SA_CHECK : ec.flags & ~EG_CFG_SA_CHECK;
	if (dp_config_write(eg_dp_maps(dp), &ec)) {
		printf("Bail out! writing eg_config\n");
		exit(1);
	}
	return was;
}

static bool applied_sa_check; /* the last apply() had set EG_CFG_SA_CHECK */

static int apply(const char *name, const char *const *subs, char *err, size_t errlen)
{
	struct eg_config_file *c = load(name, subs);
	int rc = eg_dp_apply(dp, c, ids, err, errlen);

	if (rc) {
		eg_config_free(c);
		return rc;
	}
	eg_config_free(cfg);
	cfg = c;
	applied_sa_check = sa_check(false);
	return 0;
}

static void must_apply(const char *name, const char *const *subs)
{
	char err[512] = "";
	int rc = apply(name, subs, err, sizeof(err));

	bt_ok(&t, rc == 0, name, err);
	if (rc) {
		printf("Bail out! %s: %s\n", name, err);
		exit(1);
	}
}

static uint32_t cid(const char *tunnel, const char *child)
{
	return eg_child_id_find(ids, tunnel, child);
}

static void ts_add(struct ike_ts_list *l, uint32_t a, unsigned int plen)
{
	uint32_t n = htonl(a);

	ike_ts_from_prefix(&l->ts[l->n++], AF_INET, &n, plen, 0, 0, 65535);
}

static void outer(struct ike_addr *a)
{
	uint32_t n = htonl(GW);

	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	memcpy(a->addr, &n, 4);
}

/* Child up with one local and one or two remote prefixes, its policy confirmed. */
static void up(uint32_t child, uint32_t spi, uint32_t l, unsigned int ll, uint32_t r,
	       unsigned int rl, uint32_t r2, unsigned int rl2)
{
	struct ike_ts_list tl = { 0 }, tr = { 0 };
	struct ike_addr a;
	char name[64];
	int rc;

	ts_add(&tl, l, ll);
	ts_add(&tr, r, rl);
	if (r2)
		ts_add(&tr, r2, rl2);
	outer(&a);
	eg_dp_child_policy(dp, child, true);
	rc = eg_dp_child_up(dp, child, spi, &a, &tl, &tr);
	snprintf(name, sizeof(name), "child %u up with SPI 0x%08x", child, spi);
	bt_ok(&t, rc == 0, name, strerror(-rc));
}

static struct pkt P(uint32_t s, uint16_t sp, uint32_t d, uint16_t dport, uint8_t proto,
		    uint8_t flags) {
	struct pkt p;

	pkt_build(&p, &(struct pkt_spec){ .saddr = s,
					  .daddr = d,
					  .proto = proto,
					  .sport = sp,
					  .dport = dport,
					  .tcp_flags = flags,
					  .payload_len = 12 });
	return p;
}

static struct pkt
SYNMSS(uint32_t s, uint16_t sp, uint32_t d, uint16_t dport, uint16_t mss) {
	struct pkt p;

	pkt_build(&p, &(struct pkt_spec){ .saddr = s,
					  .daddr = d,
					  .proto = IPPROTO_TCP,
					  .sport = sp,
					  .dport = dport,
					  .tcp_flags = SYN,
					  .mss = mss });
	return p;
}

static struct pkt
ESP(uint32_t s, uint32_t d, uint32_t spi) {
	struct pkt p;
	uint32_t n = htonl(spi);

	pkt_build(&p, &(struct pkt_spec){ .saddr = s, .daddr = d, .proto = 50, .payload_len = 32 });
	memcpy(p.b + 34, &n, 4);
	return p;
}

/* table shorthands bound to this file's runner and XDP program (bpf_test.h) */
#define X(...) bt_xdp(&t, xdp_fd, __VA_ARGS__)

#define T(...) bt_tc(&t, __VA_ARGS__)

/* Every classifier candidate's priority is one of its child's XFRM out-policy priorities, as
 * ipsec.c computes them with the daemon's running order. */
static void
prio_check(const char *what)
{
	struct dp_maps *m = eg_dp_maps(dp);
	struct eg_sel_key k, next, *prev = NULL;
	uint32_t prios[EG_MAX_CHILDREN][8];
	unsigned int np[EG_MAX_CHILDREN], order = 0, bad = 0, seen = 0;
	struct ike_addr lo, re;
	struct xfrm_pol *pol = calloc(EG_IPSEC_MAX_POLICIES, sizeof(*pol));
	char name[160], why[160] = "";

	memset(np, 0, sizeof(np));
	outer(&lo);
	re = lo;
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		for (size_t j = 0; j < cfg->tunnels[i].n_children; j++) {
			const struct eg_cfg_child *c = &cfg->tunnels[i].children[j];
			uint32_t id = cid(cfg->tunnels[i].name, c->name);
			unsigned int used = 0, n = 0;

			if (eg_ipsec_child_policies(c, id, &lo, &re, order, &used, pol,
						    EG_IPSEC_MAX_POLICIES, &n))
				bad++;
			order += used;
			for (unsigned int q = 0; q < n; q++)
				if (pol[q].dir == XFRM_POLICY_OUT &&
				    pol[q].action == XFRM_POLICY_ALLOW && np[id] < 8)
					prios[id][np[id]++] = pol[q].priority;
		}
	}
	while (!bpf_map_get_next_key(m->sel, prev, &next)) {
		struct eg_sel_val v;

		k = next;
		prev = &k;
		if (k.gen != eg_dp_gen(dp) || bpf_map_lookup_elem(m->sel, &k, &v))
			continue;
		for (uint32_t i = 0; i < v.n && i < EG_SEL_CANDS; i++) {
			bool ok = false;

			for (unsigned int q = 0; q < np[v.cand[i].child]; q++)
				ok |= prios[v.cand[i].child][q] == v.cand[i].prio;
			seen++;
			if (!ok) {
				bad++;
				snprintf(why, sizeof(why), "child %u candidate priority 0x%x",
					 v.cand[i].child, v.cand[i].prio);
			}
		}
	}
	free(pol);
	snprintf(name, sizeof(name),
		 "%s: %u classifier candidates carry their XFRM policy's priority", what, seen);
	bt_ok(&t, !bad && seen, name, why);
}

static uint32_t child_flags(uint32_t id)
{
	struct eg_child c;

	if (bpf_map_lookup_elem(eg_dp_maps(dp)->children, &id, &c))
		return 0;
	return c.flags;
}

static void s2(void)
{
	const uint32_t host = IP(10, 1, 1, 66), snat = IP(100, 64, 0, 18), pa = IP(192, 168, 88, 5),
		       pb = IP(198, 18, 170, 151);
	uint32_t c;
	struct pkt o;
	char err[512];

	must_apply("s2-snat-into-tunnel.yaml", NULL);
	c = cid("mikrotik-home", "rabbitmq");
	prio_check("S2");
	X("S2: child without SA: dropped, never sent in clear", SYNMSS(host, 40000, pa, 80, 1460),
	  XDP_DROP, NULL, EG_STAT_DROP_TUNNEL_DOWN, 0);
	{
		struct ike_ts_list tl = { 0 }, tr = { 0 };
		struct ike_addr a;

		ts_add(&tl, snat, 32);
		ts_add(&tr, IP(192, 168, 88, 0), 24);
		outer(&a);
		eg_dp_child_up(dp, c, 0xc0000001, &a, &tl, &tr);
	}
	bt_ok(&t, !(child_flags(c) & EG_CHILD_UP),
	      "S2: an SA without a confirmed XFRM policy does not make the child UP",
	      "UP without policy");
	X("S2: SA but no policy yet: still dropped", SYNMSS(host, 40000, pa, 80, 1460), XDP_DROP,
	  NULL, EG_STAT_DROP_TUNNEL_DOWN, 0);
	up(c, 0xc0000001, snat, 32, IP(192, 168, 88, 0), 24, pb, 32);
	bt_ok(&t, child_flags(c) == (EG_CHILD_VALID | EG_CHILD_UP | EG_CHILD_ONE_WAY),
	      "S2: child flags VALID|UP|ONE_WAY (direction defaults to one-way)", "flags");
	o = SYNMSS(snat, 40000, pa, 80, 1356);
	X("S2: SYN 10.1.1.66 -> 192.168.88.5 leaves as 100.64.0.18, MSS clamped to 1356 (MTU "
	  "1500 - 40 - ESP overhead 104)",
	  SYNMSS(host, 40000, pa, 80, 1460), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));
	bt_ok(&t, applied_sa_check, "S2: espgated sets EG_CFG_SA_CHECK (in mark needs XFRM state)",
	      "flag not set");
	sa_check(true);
	T(tc_fd,
	  "S2: check on: the reply with the in mark but no XFRM state (no sec_path) is dropped",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(c), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	T(nat_fd, "S2: check on: the same through tc_eg_nat",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(c), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_NOT_DECRYPTED, -1);
	sa_check(false);
	o = P(pa, 80, host, 40000, IPPROTO_TCP, SYN | ACK);
	T(tc_fd, "S2: check off: decrypted reply goes back to 10.1.1.66",
	  P(pa, 80, snat, 40000, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(c), TC_ACT_OK, &o,
	  EG_STAT_NAT_IN, EG_MARK_IN(c));
	o = P(snat, 5353, pb, 53, IPPROTO_UDP, 0);
	X("S2: second remote selector 198.18.170.151/32 reaches the same child",
	  P(host, 5353, pb, 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));
	X("S2: another inside host is not this child's traffic (the fallback policy blocks it)",
	  P(IP(10, 1, 1, 99), 5000, pa, 80, IPPROTO_TCP, SYN), XDP_PASS, NULL, EG_STAT_PASS, 0);
	T(tc_fd, "S2: one-way: the partner opening 100.64.0.18:22 is dropped",
	  P(pa, 50000, snat, 22, IPPROTO_TCP, SYN), EG_MARK_IN(c), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_ONEWAY, -1);
	T(tc_fd, "S2: decrypted packet outside the negotiated selectors is dropped",
	  P(IP(192, 168, 99, 1), 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(c), TC_ACT_SHOT,
	  NULL, EG_STAT_DROP_SELECTOR, -1);
	X("S2: ESP with the child's inbound SPI passes", ESP(pa, GW, 0xc0000001), XDP_PASS, NULL,
	  EG_STAT_ESP_PASS, 0);
	X("S2: ESP with another SPI is dropped", ESP(pa, GW, 0xc0000002), XDP_DROP, NULL,
	  EG_STAT_DROP_UNKNOWN_SPI, 0);

	/* Rekey: the new inbound SA comes before the old one goes. */
	up(c, 0xc0000002, snat, 32, IP(192, 168, 88, 0), 24, pb, 32);
	bt_ok(&t, eg_dp_child_down(dp, c, 0xc0000001) == 0 && (child_flags(c) & EG_CHILD_UP),
	      "S2 rekey: old SA deleted after the new one: the child stays UP", "down");
	X("S2 rekey: the old SPI is refused", ESP(pa, GW, 0xc0000001), XDP_DROP, NULL,
	  EG_STAT_DROP_UNKNOWN_SPI, 0);
	X("S2 rekey: the new SPI passes", ESP(pa, GW, 0xc0000002), XDP_PASS, NULL, EG_STAT_ESP_PASS,
	  0);

	/* Reload with the same configuration: the child keeps its SA state and its flow. */
	{
		uint32_t g0 = eg_dp_gen(dp);

		must_apply("s2-snat-into-tunnel.yaml", NULL);
		bt_ok(&t, eg_dp_gen(dp) != g0 && (child_flags(c) & EG_CHILD_UP),
		      "S2 reload, same config: generation switched, child still UP", "state lost");
	}
	o = P(snat, 40000, pa, 80, IPPROTO_TCP, ACK);
	X("S2 reload: the established flow still translates",
	  P(host, 40000, pa, 80, IPPROTO_TCP, ACK), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));

	/* An unsupported configuration changes nothing. */
	err[0] = 0;
	bt_ok(&t,
	      apply("s2-snat-into-tunnel.yaml",
		    (const char *const[]){
			    "local: 100.64.0.18/32", "local: 100.64.0.18/31",
			    "            outside: 100.64.0.18\n",
			    "            outside: 100.64.0.18\n          - type: snat\n"
			    "            inside: 10.1.1.67\n"
			    "            outside: 100.64.0.19\n",
			    NULL },
		    err, sizeof(err)) == -EOPNOTSUPP &&
		      strstr(err, "one snat/netmap/pool rule per child"),
	      "two snat rules in one child: refused with the reason (-EOPNOTSUPP)", err);
	o = P(snat, 40000, pa, 80, IPPROTO_TCP, ACK);
	X("refused reload: the live generation still translates",
	  P(host, 40000, pa, 80, IPPROTO_TCP, ACK), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));

	/* A changed child: down until its new SA, and its flows are gone. */
	must_apply("s2-snat-into-tunnel.yaml",
		   (const char *const[]){ "remote: [198.18.170.151/32, 192.168.88.0/24]",
					  "remote: [198.18.170.151/32, 192.168.88.0/24]\n"
					  "        direction: both",
					  NULL });
	bt_ok(&t, child_flags(c) == EG_CHILD_VALID, "S2 changed (direction both): child down",
	      "flags");
	bt_ok(&t, dp_ct_count(eg_dp_maps(dp)) == 0, "S2 changed: its conntrack flows are flushed",
	      "flows left");
	X("S2 changed: the old SPI is refused", ESP(pa, GW, 0xc0000002), XDP_DROP, NULL,
	  EG_STAT_DROP_UNKNOWN_SPI, 0);
	up(c, 0xc0000003, snat, 32, IP(192, 168, 88, 0), 24, pb, 32);
	o = P(pa, 80, host, 22, IPPROTO_TCP, SYN);
	T(tc_fd, "S2 changed to direction both: the partner may open 100.64.0.18:22 now",
	  P(pa, 80, snat, 22, IPPROTO_TCP, SYN), EG_MARK_IN(c), TC_ACT_OK, &o, EG_STAT_NAT_IN, -1);

	/* On-demand: UP with its policy only, so the first packet reaches XFRM (ACQUIRE). */
	eg_dp_child_down(dp, c, 0xc0000003);
	must_apply("s2-snat-into-tunnel.yaml",
		   (const char *const[]){ "    psk: mikrotik-home\n",
					  "    psk: mikrotik-home\n    start: on-demand\n", NULL });
	eg_dp_child_policy(dp, c, false);
	X("on-demand without its XFRM policy: dropped in BPF", SYNMSS(host, 41000, pa, 80, 1400),
	  XDP_DROP, NULL, EG_STAT_DROP_TUNNEL_DOWN, 0);
	eg_dp_child_policy(dp, c, true);
	o = SYNMSS(snat, 41000, pa, 80, 1356);
	X("on-demand with its policy, no SA: passed marked to XFRM (ACQUIRE; the kernel drops it)",
	  SYNMSS(host, 41000, pa, 80, 1400), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));
}

static void s3(void)
{
	const uint32_t snat = IP(100, 64, 0, 18), p = IP(203, 0, 113, 7), srv = IP(10, 1, 2, 10);
	struct pkt o;
	uint32_t c, old = cid("mikrotik-home", "rabbitmq");

	must_apply("s3-snat-dnat.yaml", NULL);
	c = cid("mikrotik-home", "web");
	bt_ok(&t, old && c != old && child_flags(old) == 0,
	      "S3 replaces S2: the removed child's entry is cleared", "still valid");
	T(tc_fd, "S3: a packet decrypted by the removed child's SA is dropped",
	  P(IP(192, 168, 88, 5), 80, snat, 40000, IPPROTO_TCP, ACK), EG_MARK_IN(old), TC_ACT_SHOT,
	  NULL, EG_STAT_DROP_SELECTOR, -1);
	up(c, 0xc0000101, snat, 32, IP(203, 0, 113, 0), 24, 0, 0);
	o = P(p, 50000, srv, 80, IPPROTO_TCP, SYN);
	T(tc_fd, "S3: publish: partner opens 100.64.0.18:8080 -> 10.1.2.10:80",
	  P(p, 50000, snat, 8080, IPPROTO_TCP, SYN), EG_MARK_IN(c), TC_ACT_OK, &o, EG_STAT_NAT_IN,
	  -1);
	o = P(snat, 8080, p, 50000, IPPROTO_TCP, SYN | ACK);
	X("S3: the published service's reply leaves as 100.64.0.18:8080 into the child",
	  P(srv, 80, p, 50000, IPPROTO_TCP, SYN | ACK), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(c));
	T(tc_fd, "S3: the unpublished port 8081 stays closed (one-way)",
	  P(p, 50001, snat, 8081, IPPROTO_TCP, SYN), EG_MARK_IN(c), TC_ACT_SHOT, NULL,
	  EG_STAT_DROP_ONEWAY, -1);
	o = P(snat, 40001, p, 443, IPPROTO_TCP, SYN);
	X("S3: our host 10.1.1.66 still opens flows as 100.64.0.18",
	  P(IP(10, 1, 1, 66), 40001, p, 443, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(c));
}

static void s5(void)
{
	const uint32_t ws = IP(10, 0, 1, 7), real = IP(10, 0, 3, 4);
	uint32_t red, blue;
	struct pkt o;

	must_apply("s5-overlap-netmap.yaml", NULL);
	red = cid("red", "overlap");
	blue = cid("blue", "overlap");
	prio_check("S5");
	up(red, 0xc0000201, IP(100, 64, 1, 0), 24, IP(10, 0, 0, 0), 16, 0, 0);
	up(blue, 0xc0000202, IP(100, 64, 2, 0), 24, IP(10, 0, 0, 0), 16, 0, 0);
	o = P(IP(100, 64, 1, 7), 3000, real, 80, IPPROTO_TCP, SYN);
	X("S5: 10.0.1.7 -> 10.201.3.4 reaches red's 10.0.3.4 as 100.64.1.7",
	  P(ws, 3000, IP(10, 201, 3, 4), 80, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(red));
	o = P(IP(100, 64, 2, 7), 3000, real, 80, IPPROTO_TCP, SYN);
	X("S5: 10.0.1.7 -> 10.202.3.4 reaches blue's 10.0.3.4 as 100.64.2.7 (same socket)",
	  P(ws, 3000, IP(10, 202, 3, 4), 80, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(blue));
	o = P(IP(10, 201, 3, 4), 80, ws, 3000, IPPROTO_TCP, SYN | ACK);
	T(tc_fd, "S5: red's decrypted reply comes back from 10.201.3.4",
	  P(real, 80, IP(100, 64, 1, 7), 3000, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(red), TC_ACT_OK,
	  &o, EG_STAT_NAT_IN, -1);
	T(tc_fd, "S5: blue's SA cannot deliver into red's range (selectors)",
	  P(real, 80, IP(100, 64, 1, 7), 3001, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(blue),
	  TC_ACT_SHOT, NULL, EG_STAT_DROP_SELECTOR, -1);
}

static void s6(void)
{
	const uint32_t ws = IP(10, 1, 5, 5), mq = IP(192, 168, 100, 10), srv = IP(10, 1, 2, 10);
	uint32_t c;

	must_apply("s6-one-way.yaml", NULL);
	c = cid("rabbitmq-partner", "amqp");
	up(c, 0xc0000301, IP(10, 1, 0, 0), 16, IP(192, 168, 100, 0), 24, 0, 0);
	X("S6: allow out tcp 5672 to 192.168.100.10: passes untranslated",
	  P(ws, 4000, mq, 5672, IPPROTO_TCP, SYN), XDP_PASS, NULL, EG_STAT_TUNNEL_OUT,
	  EG_MARK_OUT(c));
	X("S6: tcp 5672 to 192.168.100.11 (not the allowed remote) is denied",
	  P(ws, 4001, IP(192, 168, 100, 11), 5672, IPPROTO_TCP, SYN), XDP_DROP, NULL,
	  EG_STAT_DROP_POLICY, 0);
	X("S6: tcp 80 to 192.168.100.10 is denied", P(ws, 4002, mq, 80, IPPROTO_TCP, SYN), XDP_DROP,
	  NULL, EG_STAT_DROP_POLICY, 0);
	T(tc_fd, "S6: allow in tcp 443 to 10.1.2.10: the partner may open it",
	  P(IP(192, 168, 100, 20), 5000, srv, 443, IPPROTO_TCP, SYN), EG_MARK_IN(c), TC_ACT_OK,
	  NULL, EG_STAT_TUNNEL_IN, -1);
	T(tc_fd, "S6: the partner opening 10.1.2.11:443 is dropped (one-way)",
	  P(IP(192, 168, 100, 20), 5001, IP(10, 1, 2, 11), 443, IPPROTO_TCP, SYN), EG_MARK_IN(c),
	  TC_ACT_SHOT, NULL, EG_STAT_DROP_ONEWAY, -1);
}

static void s7(void)
{
	const uint32_t cl = IP(10, 4, 1, 50), zs = IP(185, 46, 212, 88), pool = IP(100, 64, 7, 1);
	uint32_t c;
	struct pkt o;

	must_apply("s7-proxy-through-tunnel.yaml", NULL);
	c = cid("zscaler", "proxy");
	up(c, 0xc0000401, 0, 0, zs, 32, 0, 0);
	o = P(pool, 33333, zs, 10101, IPPROTO_TCP, SYN);
	X("S7: forward + pool: 10.4.1.50 -> 10.4.1.4:10101 leaves as 100.64.7.1 -> "
	  "185.46.212.88:10101",
	  P(cl, 33333, IP(10, 4, 1, 4), 10101, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_OUT,
	  EG_MARK_OUT(c));
	o = P(IP(10, 4, 1, 4), 10101, cl, 33333, IPPROTO_TCP, SYN | ACK);
	T(tc_fd, "S7: Zscaler's decrypted reply goes back to 10.4.1.50 from 10.4.1.4:10101",
	  P(zs, 10101, pool, 33333, IPPROTO_TCP, SYN | ACK), EG_MARK_IN(c), TC_ACT_OK, &o,
	  EG_STAT_NAT_IN, -1);
	X("S7: a source outside the pool (local selector 0.0.0.0/0) goes untranslated into the "
	  "child",
	  P(IP(192, 168, 5, 5), 4444, zs, 10101, IPPROTO_TCP, SYN), XDP_PASS, NULL,
	  EG_STAT_TUNNEL_OUT, EG_MARK_OUT(c));
	bt_ok(&t, dp_pool_used(eg_dp_maps(dp), 0) >= 0, "S7: the pool is written", "no pool");
}

static void s9(void)
{
	const uint32_t h = IP(192, 168, 10, 45), peer = IP(10, 10, 10, 55);
	struct ctl_out out = { 0 };
	struct eg_config ec;
	uint32_t c;
	struct pkt o;
	long n;

	must_apply("s9-same-subnet-masquerade.yaml", NULL);
	c = cid("vyos-partner", "host");
	up(c, 0xc0000501, IP(172, 16, 17, 45), 32, peer, 32, 0, 0);
	o = P(IP(172, 16, 17, 45), 2000, peer, 22, IPPROTO_TCP, SYN);
	X("S9: 192.168.10.45 -> 10.10.10.55 leaves as 172.16.17.45 into the tunnel",
	  P(h, 2000, peer, 22, IPPROTO_TCP, SYN), XDP_PASS, &o, EG_STAT_NAT_OUT, EG_MARK_OUT(c));
	o = P(IP(203, 0, 113, 134), 2001, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0);
	X("S9: 192.168.10.45 -> 8.8.8.8 is masqueraded as 203.0.113.134, no tunnel",
	  P(h, 2001, IP(8, 8, 8, 8), 53, IPPROTO_UDP, 0), XDP_PASS, &o, EG_STAT_NAT_PLAIN, 0);
	o = P(IP(8, 8, 8, 8), 53, h, 2001, IPPROTO_UDP, 0);
	X("S9: the masqueraded reply comes back",
	  P(IP(8, 8, 8, 8), 53, IP(203, 0, 113, 134), 2001, IPPROTO_UDP, 0), XDP_PASS, &o,
	  EG_STAT_NAT_PLAIN, 0);
	o = P(IP(172, 16, 17, 45), 2002, peer, 22, IPPROTO_TCP, SYN);
	T(nat_fd, "S9 via tc_eg_nat (no native XDP): the same translation into the tunnel",
	  P(h, 2002, peer, 22, IPPROTO_TCP, SYN), 0, TC_ACT_OK, &o, EG_STAT_NAT_OUT,
	  (int)EG_MARK_OUT(c));

	/* listings */
	eg_dp_nat_flows(dp, false, 0, &out);
	bt_ok(&t,
	      out.buf && strstr(out.buf, "192.168.10.45:2001 -> 8.8.8.8:53") &&
		      strstr(out.buf, "203.0.113.134:2001 -> 8.8.8.8:53") &&
		      strstr(out.buf, "vyos-partner/host"),
	      "espgatectl nat: original and translated tuples, the child by name",
	      out.buf ? out.buf : "empty");
	ctl_out_free(&out);
	memset(&out, 0, sizeof(out));
	eg_dp_counters(dp, true, &out);
	bt_ok(&t,
	      out.buf && strstr(out.buf, "\"NAT_PLAIN\":{\"packets\":") &&
		      strstr(out.buf, "\"DROP_TUNNEL_DOWN\"") && strstr(out.buf, "\"xfrm_stat\"") &&
		      strstr(out.buf, "\"DROP_NOT_DECRYPTED\"") &&
		      strstr(out.buf, "\"DROP_HAIRPIN_LOOP\"") &&
		      strstr(out.buf, "\"child\":\"vyos-partner/host\""),
	      "espgatectl counters --json: drops by enum name, per-child counters, xfrm_stat",
	      out.buf ? out.buf : "empty");
	ctl_out_free(&out);

	/* sweeper: UDP flows expire after 1 ns */
	dp_config_read(eg_dp_maps(dp), &ec);
	ec.ct_timeout_udp = 1;
	dp_config_write(eg_dp_maps(dp), &ec);
	o = P(IP(203, 0, 113, 134), 2003, IP(8, 8, 4, 4), 53, IPPROTO_UDP, 0);
	X("S9: a short-lived masqueraded UDP flow",
	  P(IP(192, 168, 10, 9), 2003, IP(8, 8, 4, 4), 53, IPPROTO_UDP, 0), XDP_PASS, &o,
	  EG_STAT_NAT_PLAIN, 0);
	n = eg_dp_sweep(dp);
	bt_ok(&t, n >= 1, "eg_dp_sweep removes expired flows and frees their ports", "none");
	ec.ct_timeout_udp = 0;
	dp_config_write(eg_dp_maps(dp), &ec);
}

int main(void)
{
	char err[512] = "";
	int rc;
	struct eg_config_file *c0;

	/* GW (20.0.0.1) is ours: ESP/IKE steering claims only what is addressed to us */
	if (bt_gateway_netns("20.0.0.1")) {
		printf("not ok 1 - private network namespace with the gateway's address: %s\n",
		       strerror(errno));
		return 1;
	}
	ids = calloc(1, sizeof(*ids));
	c0 = load("s2-snat-into-tunnel.yaml", NULL);
	rc = eg_dp_open(&dp, c0, NULL, EG_DP_NO_ATTACH, err, sizeof(err));
	eg_config_free(c0);
	if (rc) {
		printf("1..0 # SKIP cannot load the datapath: %s\n", err);
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.skel = eg_dp_skel(dp);
	xdp_fd = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	tc_fd = bpf_program__fd(t.skel->progs.tc_eg_ingress);
	nat_fd = bpf_program__fd(t.skel->progs.tc_eg_nat);
	s2();
	s3();
	s5();
	s6();
	s7();
	s9();
	rc = bt_done(&t);
	eg_config_free(cfg);
	eg_dp_close(dp, false);
	free(ids);
	return rc;
}
