/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The BPF test tier's runner: loads the real skeleton (maps unpinned, so tests never touch a
 * running gateway's /sys/fs/bpf/espgate), runs programs through bpf_prog_test_run_opts() over a
 * table of {name, input frame, expected verdict, expected output bytes, expected counter}, and
 * prints TAP. Frames are built with the pkt_* helpers, which compute every checksum in full, so
 * an incrementally updated checksum is verified against a full recomputation.
 */
#ifndef EG_TESTS_BPF_TEST_H
#define EG_TESTS_BPF_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "espgate.skel.h"

#define PKT_MAX 1600

struct pkt {
	uint8_t b[PKT_MAX];
	size_t len;
};

/* Packet building: Ethernet (optionally VLAN), IPv4, then UDP/TCP/ICMP payloads. Addresses and
 * ports are host order here; pkt_finish() fills lengths and checksums. */
struct pkt_spec {
	uint16_t vlan;	       /* 0 = untagged */
	uint32_t saddr, daddr; /* host order, e.g. 0x0a010142 */
	uint8_t proto;	       /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, other */
	uint16_t sport, dport; /* TCP/UDP ports, ICMP echo id in sport */
	uint8_t tcp_flags;
	uint16_t mss;	   /* TCP MSS option when non-zero */
	uint16_t frag_off; /* host order flags|offset */
	uint8_t ttl;
	size_t payload_len;
	bool udp_csum_zero;
	bool icmp_reply; /* ICMP echo reply (id in sport) instead of request */
};

void pkt_build(struct pkt *p, const struct pkt_spec *s);
/* Rewrites the IPv4 addresses (host order) of an untagged frame and recomputes only the IPv4
 * header checksum (for fragments, whose payload carries no L4 header). */
void pkt_set_addrs(struct pkt *p, uint32_t saddr, uint32_t daddr);
/* Recomputes and checks IPv4 and L4 checksums of an Ethernet/IPv4 frame; 0 if both valid. */
int pkt_verify_csums(const uint8_t *frame, size_t len);

struct bt_case {
	const char *name;
	const struct pkt *in;
	int want_ret;		    /* XDP_* or TC_ACT_* */
	const struct pkt *want_out; /* NULL: output must equal input */
	int want_stat;		    /* enum eg_stat that must rise by exactly one, or -1 */
	uint32_t mark_in;	    /* tc only: __sk_buff.mark on input */
	int want_mark;		    /* tc only: expected mark on output, -1 = don't care */
	uint32_t want_meta;	    /* xdp only: expected eg_xdp_meta mark, 0 = no metadata */
};

struct bt {
	struct espgate_bpf *skel;
	int n, failed;
};

int bt_open(struct bt *t);
/* bt_open with eg_ct resized to ct_max entries (0 = as compiled). */
int bt_open_ct(struct bt *t, uint32_t ct_max);
/* All counters' packet sums in one syscall; out has EG_STAT_MAX slots. */
int bt_stats_all(struct bt *t, uint64_t *out);
void bt_close(struct bt *t);
uint64_t bt_stat(struct bt *t, int stat);
/* Runs one case against prog_fd (XDP if is_xdp, else tc) and prints one TAP line. */
void bt_run(struct bt *t, int prog_fd, bool is_xdp, const struct bt_case *c);
void bt_ok(struct bt *t, bool ok, const char *name, const char *why);
/* Shorthands for the tables: one XDP case (meta: expected metadata mark, 0 = none) and one tc
 * case (mark: skb->mark on input; want_mark -1 = don't care). out NULL: output == input. */
void bt_xdp(struct bt *t, int fd, const char *name, struct pkt in, int ret, const struct pkt *out,
	    int stat, uint32_t meta);
void bt_tc(struct bt *t, int fd, const char *name, struct pkt in, uint32_t mark, int ret,
	   const struct pkt *out, int stat, int want_mark);
int bt_done(struct bt *t);
/* Moves the process into a network namespace of its own that looks like a gateway's: lo up, IPv4
 * forwarding on, a default route, and addrs (space-separated IPv4 addresses) local on lo. ESP/IKE
 * steering claims only what is addressed to the gateway (bpf_fib_lookup in BPF_PROG_TEST_RUN's
 * namespace), so this makes exactly those addresses ours, whatever the host's own setup.
 * Returns 0 or -1 (errno set, or EINVAL when a command failed). */
int bt_gateway_netns(const char *addrs);

#endif /* EG_TESTS_BPF_TEST_H */
