// SPDX-License-Identifier: GPL-2.0-only
/*
 * Datapath micro-benchmark through BPF_PROG_TEST_RUN (no traffic, no pinning): ns per packet of
 * each program path, and the new-connection cost with 10 and 100,000 selectors. Prints
 * `bench NAME VALUE UNIT` lines (bench/run.sh collects them).
 *
 * Hit paths use repeat > 1 on one buffer, which the program rewrites each time: two conntrack
 * entries are installed that translate A->B to A'->B and A'->B back to A->B, so every iteration
 * takes the lookup-and-rewrite path. New connections are one test run per packet (each with a
 * fresh source port); the syscall overhead is the same with 10 and 100,000 rules, so the ratio
 * shows what the rule count costs.
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
#include "espgate_abi.h"
#include "espgate.skel.h"
#include "dp_maps.h"
#include "loader.h"

static uint16_t csum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* 64-byte Ethernet/IPv4/UDP frame, host-order addresses. */
static size_t frame(uint8_t *b, uint32_t sa, uint32_t da, uint16_t sp, uint16_t dp)
{
	uint8_t *ip = b + 14, *u = ip + 20;
	uint32_t ps = 0;
	uint16_t c;

	memset(b, 0, 64);
	memcpy(b, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	ip[0] = 0x45;
	ip[3] = 46; /* total length */
	ip[8] = 64;
	ip[9] = 17;
	*(uint32_t *)(ip + 12) = htonl(sa);
	*(uint32_t *)(ip + 16) = htonl(da);
	c = csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	*(uint16_t *)u = htons(sp);
	*(uint16_t *)(u + 2) = htons(dp);
	*(uint16_t *)(u + 4) = htons(26);
	for (int i = 0; i < 8; i += 2)
		ps += (uint32_t)(ip[12 + i] << 8 | ip[13 + i]);
	ps += 17 + 26;
	c = csum(u, 26, ps);
	*(uint16_t *)(u + 6) = htons(c ? c : 0xffff);
	return 60;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run_repeat(int fd, bool xdp, uint8_t *b, size_t len, uint32_t repeat)
{
	struct __sk_buff skb = { 0 };
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b, .data_size_in = (__u32)len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = repeat);

	if (!xdp) {
		o.ctx_in = &skb;
		o.ctx_size_in = sizeof(skb);
	}
	if (bpf_prog_test_run_opts(fd, &o))
		return -1;
	return o.duration;
}

static void ct_pingpong(struct dp_maps *m, uint32_t a, uint32_t a2, uint32_t b, uint32_t child)
{
	struct eg_ct_key k1 = { .saddr = htonl(a),
				.daddr = htonl(b),
				.sport = htons(1000),
				.dport = htons(53),
				.proto = 17 };
	struct eg_ct_key k2 = k1;
	struct eg_ct_val v1 = { 0 }, v2 = { 0 };

	k2.saddr = htonl(a2);
	v1.xlate = k2;
	v2.xlate = k1;
	v1.expires = v2.expires = UINT64_MAX / 2;
	v1.child = v2.child = child;
	v1.flags = v2.flags = child ? EG_CT_TO_TUNNEL : 0;
	bpf_map_update_elem(m->ct, &k1, &v1, BPF_ANY);
	bpf_map_update_elem(m->ct, &k2, &v2, BPF_ANY);
}

static int setup(struct ldr *l, struct dp_maps *m, size_t nrules)
{
	struct eg_config cfg = { .flags = EG_CFG_ENABLED, .masq_rule = 2 };
	struct eg_nat_rule host = { .type = EG_NAT_SNAT_HOST,
				    .inside_addr = htonl(0x0a010142),
				    .inside_mask = 0xffffffff,
				    .outside_addr = htonl(0x64400012),
				    .outside_mask = 0xffffffff };
	struct eg_nat_rule masq = { .type = EG_NAT_MASQ,
				    .pool = 0,
				    .inside_addr = htonl(0x0a000000),
				    .inside_mask = htonl(0xff000000) };
	struct eg_child c = { .flags = EG_CHILD_VALID | EG_CHILD_UP,
			      .nat_rule = 1,
			      .tunnel_id = 1 };
	struct dp_sel *sels = calloc(nrules, sizeof(*sels));
	int err;

	if (!sels)
		return -ENOMEM;
	err = ldr_open(l, NULL, 0);
	if (err)
		return err;
	memset(m, 0, sizeof(*m));
	m->config = bpf_map__fd(l->skel->maps.eg_config);
	m->stats = bpf_map__fd(l->skel->maps.eg_stats);
	m->children = bpf_map__fd(l->skel->maps.eg_children);
	m->child_stats = bpf_map__fd(l->skel->maps.eg_child_stats);
	m->sel = bpf_map__fd(l->skel->maps.eg_sel);
	m->nat_rules = bpf_map__fd(l->skel->maps.eg_nat_rules);
	m->dnat = bpf_map__fd(l->skel->maps.eg_dnat);
	m->ct = bpf_map__fd(l->skel->maps.eg_ct);
	m->pools = bpf_map__fd(l->skel->maps.eg_port_pools);
	m->spis = bpf_map__fd(l->skel->maps.eg_spis);
	err = dp_maps_init(m);
	err = err ?: dp_config_write(m, &cfg);
	err = err ?: dp_nat_rule_write(m, 1, &host);
	err = err ?: dp_nat_rule_write(m, 2, &masq);
	err = err ?: dp_pool_write(m, 0, htonl(0xc6130001), 1024, 65535);
	err = err ?: dp_child_write(m, 1, &c);
	/* nrules selectors of child 1: 172.16.x.y/32 destinations plus 192.168.88.0/24. */
	for (size_t i = 0; i < nrules; i++) {
		sels[i].child = 1;
		sels[i].tunnel = 1;
		sels[i].order = (uint32_t)(i % 1000);
		sels[i].saddr = htonl(0x0a010142);
		sels[i].splen = 32;
		sels[i].daddr = i ? htonl(0xac100000 + (uint32_t)i) : htonl(0xc0a85800);
		sels[i].dplen = i ? 32 : 24;
		sels[i].sport_hi = sels[i].dport_hi = 65535;
	}
	err = err ?: dp_sel_write(m, 0, sels, nrules);
	free(sels);
	return err;
}

/* New connections per second: a fresh source port each packet, conntrack emptied between runs. */
static double newconn_rate(int fd, struct dp_maps *m, int n)
{
	uint8_t b[64];
	double t0, t;

	dp_ct_sweep(m, UINT64_MAX);
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		size_t len = frame(b, 0x0a010142, 0xc0a85801, (uint16_t)(1024 + i), 53);
		uint8_t out[256];
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b, .data_size_in = (__u32)len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		bpf_prog_test_run_opts(fd, &o);
	}
	t = now_ns() - t0;
	dp_ct_sweep(m, UINT64_MAX);
	return n / (t / 1e9);
}

/* Instructions the verifier processed per program (the limit is 1,000,000 each). */
static void verifier_stats(struct ldr *l)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, l->skel->obj)
	{
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			printf("bench verified_insns_%s %u insns\n", bpf_program__name(p),
			       info.verified_insns);
	}
}

int main(void)
{
	const uint32_t rep = 1000000;
	struct dp_maps m;
	struct ldr l;
	uint8_t b[64];
	double ns, r10, r100k;
	int xdp, tc, nat, err;

	err = setup(&l, &m, 10);
	if (err) {
		fprintf(stderr, "dp_bench: setup: %s\n", strerror(-err));
		return 1;
	}
	xdp = bpf_program__fd(l.skel->progs.xdp_eg_ingress);
	tc = bpf_program__fd(l.skel->progs.tc_eg_ingress);
	nat = bpf_program__fd(l.skel->progs.tc_eg_nat);

	/* Untouched traffic (no rule matches): parse + config + conntrack miss + classify. */
	ns = run_repeat(xdp, true, b, frame(b, 0xac1f0001, 0x08080808, 1000, 53), rep);
	printf("bench testrun_xdp_pass_ns %.1f ns/packet\n", ns);
	/* The tunnel hit path (metadata written each run) is not measured with repeat: the
	 * metadata would grow on the reused buffer. See bench/RESULTS.md. */
	/* Masquerade flow, conntrack hit (no tunnel). */
	ct_pingpong(&m, 0x0a050505, 0xc6130001, 0x08080808, 0);
	ns = run_repeat(xdp, true, b, frame(b, 0x0a050505, 0x08080808, 1000, 53), rep);
	printf("bench testrun_xdp_masq_hit_ns %.1f ns/packet\n", ns);
	ns = run_repeat(nat, false, b, frame(b, 0x0a050505, 0x08080808, 1000, 53), rep);
	printf("bench testrun_tc_nat_masq_hit_ns %.1f ns/packet\n", ns);
	ns = run_repeat(tc, false, b, frame(b, 0x0a050505, 0x08080808, 1000, 53), rep);
	printf("bench testrun_tc_handoff_ns %.1f ns/packet\n", ns);

	verifier_stats(&l);
	r10 = newconn_rate(xdp, &m, 50000);
	printf("bench newconn_10_rules %.0f conn/s\n", r10);
	dp_maps_fini(&m);
	ldr_close(&l);

	err = setup(&l, &m, 100000);
	if (err) {
		fprintf(stderr, "dp_bench: setup 100k: %s\n", strerror(-err));
		return 1;
	}
	xdp = bpf_program__fd(l.skel->progs.xdp_eg_ingress);
	r100k = newconn_rate(xdp, &m, 50000);
	printf("bench newconn_100k_rules %.0f conn/s\n", r100k);
	printf("bench newconn_10_over_100k_rules %.3f ratio\n", r10 / r100k);
	dp_maps_fini(&m);
	ldr_close(&l);
	return 0;
}
