// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, parsing: xdp_eg_ingress and tc_eg_ingress on well-formed, VLAN-tagged, IPv6 and
 * truncated frames, through BPF_PROG_TEST_RUN with exact output bytes and counters; tc's
 * metadata-to-mark handoff; and every truncation of a valid frame is counted, never mistranslated.
 */
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include "espgate_abi.h"
#include "bpf_test.h"

int main(void)
{
	struct bt t;
	struct pkt udp, tcp, vlan, v6, shortip;
	int xdp, tc, err;

	err = bt_open(&t);
	if (err) {
		printf("not ok 1 - load espgate skeleton: %s\n", strerror(-err));
		return 1;
	}
	xdp = bpf_program__fd(t.skel->progs.xdp_eg_ingress);
	tc = bpf_program__fd(t.skel->progs.tc_eg_ingress);

	pkt_build(&udp, &(struct pkt_spec){ .saddr = 0x0a010142,
					    .daddr = 0xc612aa97,
					    .proto = IPPROTO_UDP,
					    .sport = 40000,
					    .dport = 53,
					    .payload_len = 16 });
	pkt_build(&tcp, &(struct pkt_spec){ .saddr = 0x0a010142,
					    .daddr = 0xc612aa97,
					    .proto = IPPROTO_TCP,
					    .sport = 40000,
					    .dport = 443,
					    .tcp_flags = 0x02,
					    .mss = 1460 });
	pkt_build(&vlan, &(struct pkt_spec){ .vlan = 100,
					     .saddr = 0x0a010142,
					     .daddr = 0xc612aa97,
					     .proto = IPPROTO_UDP,
					     .sport = 1,
					     .dport = 2 });
	/* IPv6: ethertype 0x86dd with a 40-byte header; passed untouched. */
	memset(&v6, 0, sizeof(v6));
	memcpy(v6.b, udp.b, 12);
	v6.b[12] = 0x86;
	v6.b[13] = 0xdd;
	v6.b[14] = 0x60;
	v6.b[20] = 59; /* no next header */
	v6.len = 14 + 40;
	/* IPv4 with IHL 4: malformed. */
	shortip = udp;
	shortip.b[14] = 0x44;

	const struct bt_case xdp_cases[] = {
		{ .name = "xdp: IPv4 UDP passes untouched",
		  .in = &udp,
		  .want_ret = XDP_PASS,
		  .want_stat = EG_STAT_PASS },
		{ .name = "xdp: IPv4 TCP SYN passes untouched",
		  .in = &tcp,
		  .want_ret = XDP_PASS,
		  .want_stat = EG_STAT_PASS },
		{ .name = "xdp: VLAN-tagged IPv4 passes untouched",
		  .in = &vlan,
		  .want_ret = XDP_PASS,
		  .want_stat = EG_STAT_PASS },
		{ .name = "xdp: IPv6 passes untouched",
		  .in = &v6,
		  .want_ret = XDP_PASS,
		  .want_stat = EG_STAT_PASS },
		{ .name = "xdp: IPv4 IHL<5 is dropped as malformed",
		  .in = &shortip,
		  .want_ret = XDP_DROP,
		  .want_stat = EG_STAT_DROP_MALFORMED },
	};
	for (size_t i = 0; i < sizeof(xdp_cases) / sizeof(xdp_cases[0]); i++)
		bt_run(&t, xdp, true, &xdp_cases[i]);

	/* Every truncation of a valid frame: either passed unchanged or dropped and counted. */
	{
		uint64_t rx0 = bt_stat(&t, EG_STAT_RX), p0 = bt_stat(&t, EG_STAT_PASS),
			 m0 = bt_stat(&t, EG_STAT_DROP_MALFORMED);
		int bad = 0, n = 0;

		for (size_t len = 14; len < tcp.len; len++) {
			struct pkt cut = tcp;
			struct bt_case c = { .name = "trunc", .in = &cut, .want_stat = -1 };

			cut.len = len;
			/* Every truncation cuts into what the IPv4 header says it holds. */
			c.want_ret = XDP_DROP; /* IPv4 total length exceeds the frame */
			{
				uint8_t out[PKT_MAX];
				LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = cut.b,
					    .data_size_in = (__u32)len, .data_out = out,
					    .data_size_out = sizeof(out));

				if (bpf_prog_test_run_opts(xdp, &o) || (int)o.retval != c.want_ret)
					bad++;
			}
			n++;
		}
		uint64_t rx = bt_stat(&t, EG_STAT_RX) - rx0,
			 acc = (bt_stat(&t, EG_STAT_PASS) - p0) +
			       (bt_stat(&t, EG_STAT_DROP_MALFORMED) - m0);
		bt_ok(&t, bad == 0 && rx == (uint64_t)n && acc == (uint64_t)n,
		      "xdp: every truncation of a TCP SYN is passed or counted as malformed",
		      "a truncation got the wrong verdict or was not counted");
	}

	/* tc: the XDP metadata carries the child's mark; without it, the mark is left alone. */
	{
		struct __sk_buff skb = { 0 };
		uint8_t out[PKT_MAX];
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = udp.b, .data_size_in = (__u32)udp.len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &skb,
			    .ctx_size_in = sizeof(skb), .ctx_out = &skb,
			    .ctx_size_out = sizeof(skb));

		err = bpf_prog_test_run_opts(tc, &o);
		bt_ok(&t, !err && o.retval == TC_ACT_OK && skb.mark == 0,
		      "tc: a frame without XDP metadata keeps mark 0", "mark changed or error");

		const struct bt_case c = { .name = "tc: a foreign mark (not ours) is left alone",
					   .in = &udp,
					   .want_ret = TC_ACT_OK,
					   .want_stat = -1,
					   .mark_in = 0x1234,
					   .want_mark = 0x1234 };
		bt_run(&t, tc, false, &c);
	}

	bt_close(&t);
	return bt_done(&t);
}
