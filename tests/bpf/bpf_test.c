// SPDX-License-Identifier: GPL-2.0-only
/*
 * Implementation of the BPF test tier's runner and packet builder (see bpf_test.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/if_link.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include "espgate_abi.h"
#include "bpf_test.h"
#include "loader.h"

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* L4 checksum over the pseudo header; the checksum field must be zero on entry. */
static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, size_t l4len, uint8_t proto)
{
	uint32_t sum = 0;

	sum = csum_add(sum, ip + 12, 8);
	sum += proto;
	sum += (uint32_t)l4len;
	sum = csum_add(sum, l4, l4len);
	return csum_fold(sum);
}

void pkt_build(struct pkt *p, const struct pkt_spec *s)
{
	uint8_t *b = p->b, *ip, *l4;
	size_t off = 0, l4len = 0, hl = 0;

	memset(p, 0, sizeof(*p));
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	off = 12;
	if (s->vlan) {
		put16(b + off, ETH_P_8021Q);
		put16(b + off + 2, s->vlan);
		off += 4;
	}
	put16(b + off, ETH_P_IP);
	off += 2;
	ip = b + off;
	ip[0] = 0x45;
	ip[8] = s->ttl ? s->ttl : 64;
	ip[9] = s->proto;
	put16(ip + 4, 0x1234);
	put16(ip + 6, s->frag_off);
	put32(ip + 12, s->saddr);
	put32(ip + 16, s->daddr);
	l4 = ip + 20;
	switch (s->proto) {
	case IPPROTO_TCP:
		hl = s->mss ? 24 : 20;
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, 1000);
		l4[12] = (uint8_t)((hl / 4) << 4);
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 64240);
		if (s->mss) {
			l4[20] = 2;
			l4[21] = 4;
			put16(l4 + 22, s->mss);
		}
		break;
	case IPPROTO_UDP:
		hl = 8;
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		break;
	case IPPROTO_ICMP:
		hl = 8;
		l4[0] = s->icmp_reply ? 0 : 8; /* echo reply / request */
		put16(l4 + 4, s->sport);
		put16(l4 + 6, 1);
		break;
	default:
		hl = 0;
	}
	for (size_t i = 0; i < s->payload_len; i++)
		l4[hl + i] = (uint8_t)(0xa0 + i);
	l4len = hl + s->payload_len;
	put16(ip + 2, (uint16_t)(20 + l4len));
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	if (s->proto == IPPROTO_UDP) {
		put16(l4 + 4, (uint16_t)l4len);
		if (!s->udp_csum_zero) {
			uint16_t c = l4_csum(ip, l4, l4len, IPPROTO_UDP);

			put16(l4 + 6, c ? c : 0xffff);
		}
	} else if (s->proto == IPPROTO_TCP) {
		put16(l4 + 16, l4_csum(ip, l4, l4len, IPPROTO_TCP));
	} else if (s->proto == IPPROTO_ICMP) {
		put16(l4 + 2, csum_fold(csum_add(0, l4, l4len)));
	}
	p->len = (size_t)(l4 - b) + l4len;
}

void pkt_set_addrs(struct pkt *p, uint32_t saddr, uint32_t daddr)
{
	uint8_t *ip = p->b + 14;

	put32(ip + 12, saddr);
	put32(ip + 16, daddr);
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
}

int pkt_verify_csums(const uint8_t *f, size_t len)
{
	size_t off = 12;
	const uint8_t *ip, *l4;
	size_t ihl, tot, l4len;
	uint8_t tmp[PKT_MAX];

	if (len < 14)
		return -EINVAL;
	while (off + 4 <= len && (get16(f + off) == ETH_P_8021Q || get16(f + off) == ETH_P_8021AD))
		off += 4;
	if (off + 2 > len || get16(f + off) != ETH_P_IP)
		return 0; /* not IPv4: nothing to verify */
	ip = f + off + 2;
	if ((size_t)(ip - f) + 20 > len)
		return -EINVAL;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ihl < 20 || (size_t)(ip - f) + tot > len || tot < ihl)
		return -EINVAL;
	if (csum_fold(csum_add(0, ip, ihl)) != 0)
		return -EBADMSG;
	if (get16(ip + 6) & 0x1fff)
		return 0; /* non-first fragment: no L4 header */
	l4 = ip + ihl;
	l4len = tot - ihl;
	if (l4len > sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, l4, l4len);
	switch (ip[9]) {
	case IPPROTO_UDP:
		if (l4len < 8)
			return -EINVAL;
		if (get16(tmp + 6) == 0)
			return 0;
		{
			uint16_t want = get16(tmp + 6), c;

			put16(tmp + 6, 0);
			c = l4_csum(ip, tmp, l4len, IPPROTO_UDP);
			if ((c ? c : 0xffff) != want)
				return -EBADMSG;
		}
		break;
	case IPPROTO_TCP:
		if (l4len < 20)
			return -EINVAL;
		{
			uint16_t want = get16(tmp + 16);

			put16(tmp + 16, 0);
			if (l4_csum(ip, tmp, l4len, IPPROTO_TCP) != want)
				return -EBADMSG;
		}
		break;
	case IPPROTO_ICMP:
		if (csum_fold(csum_add(0, l4, l4len)) != 0)
			return -EBADMSG;
		break;
	}
	return 0;
}

int bt_open(struct bt *t)
{
	return bt_open_ct(t, 0);
}

int bt_stats_all(struct bt *t, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct eg_stat_val vals[EG_STAT_MAX * (ncpu > 0 ? ncpu : 1)];
	uint32_t keys[EG_STAT_MAX], count = EG_STAT_MAX, batch;
	LIBBPF_OPTS(bpf_map_batch_opts, o);

	if (ncpu <= 0)
		return -EINVAL;
	if (bpf_map_lookup_batch(bpf_map__fd(t->skel->maps.eg_stats), NULL, &batch, keys, vals,
				 &count, &o) &&
	    errno != ENOENT)
		return -errno;
	memset(out, 0, sizeof(uint64_t) * EG_STAT_MAX);
	for (uint32_t i = 0; i < count; i++)
		for (int c = 0; c < ncpu; c++)
			if (keys[i] < EG_STAT_MAX)
				out[keys[i]] += vals[i * (uint32_t)ncpu + (uint32_t)c].packets;
	return 0;
}

int bt_open_ct(struct bt *t, uint32_t ct_max)
{
	struct bpf_map *map;
	int err;

	memset(t, 0, sizeof(*t));
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	t->skel = espgate_bpf__open();
	if (!t->skel)
		return -errno;
	/* Never pin from tests: a gateway's /sys/fs/bpf/espgate must stay untouched. */
	bpf_object__for_each_map(map, t->skel->obj) bpf_map__set_pin_path(map, NULL);
	if (ct_max)
		bpf_map__set_max_entries(t->skel->maps.eg_ct, ct_max);
	err = ldr_size_maps(t->skel) ?: espgate_bpf__load(t->skel);
	if (err) {
		espgate_bpf__destroy(t->skel);
		t->skel = NULL;
		return err;
	}
	return 0;
}

void bt_close(struct bt *t)
{
	espgate_bpf__destroy(t->skel);
	t->skel = NULL;
}

uint64_t bt_stat(struct bt *t, int stat)
{
	int ncpu = libbpf_num_possible_cpus();
	struct eg_stat_val vals[ncpu > 0 ? ncpu : 1];
	uint32_t key = (uint32_t)stat;
	uint64_t sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.eg_stats), &key, vals))
		return UINT64_MAX;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i].packets;
	return sum;
}

void bt_ok(struct bt *t, bool ok, const char *name, const char *why)
{
	t->n++;
	if (ok) {
		printf("ok %d - %s\n", t->n, name);
	} else {
		t->failed++;
		printf("not ok %d - %s\n# %s\n", t->n, name, why ? why : "");
	}
}

static void hexdump(const char *what, const uint8_t *b, size_t len)
{
	printf("# %s (%zu bytes):", what, len);
	for (size_t i = 0; i < len; i++)
		printf("%s%02x", i % 32 ? " " : "\n#   ", b[i]);
	printf("\n");
}

void bt_run(struct bt *t, int prog_fd, bool is_xdp, const struct bt_case *c)
{
	uint8_t out[PKT_MAX + 256];
	struct __sk_buff skb = { 0 };
	const struct pkt *want = c->want_out ? c->want_out : c->in;
	uint64_t before = c->want_stat >= 0 ? bt_stat(t, c->want_stat) : 0;
	char why[256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = c->in->b, .data_size_in = (__u32)c->in->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int err;

	if (!is_xdp) {
		skb.mark = c->mark_in;
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
		opts.ctx_out = &skb;
		opts.ctx_size_out = sizeof(skb);
	}
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err) {
		snprintf(why, sizeof(why), "bpf_prog_test_run_opts: %s", strerror(-err));
		bt_ok(t, false, c->name, why);
		return;
	}
	if ((int)opts.retval != c->want_ret) {
		snprintf(why, sizeof(why), "verdict %u, want %d", opts.retval, c->want_ret);
		bt_ok(t, false, c->name, why);
		return;
	}
	if (c->want_stat >= 0 && bt_stat(t, c->want_stat) != before + 1) {
		snprintf(why, sizeof(why), "counter %d moved by %lld, want 1", c->want_stat,
			 (long long)(bt_stat(t, c->want_stat) - before));
		bt_ok(t, false, c->name, why);
		return;
	}
	if (!is_xdp && c->want_mark >= 0 && skb.mark != (uint32_t)c->want_mark) {
		snprintf(why, sizeof(why), "mark 0x%x, want 0x%x", skb.mark, c->want_mark);
		bt_ok(t, false, c->name, why);
		return;
	}
	/* A frame that goes on (pass, tx, redirect, TC_ACT_OK) must be exactly the expected bytes,
	 * behind the XDP metadata if the program wrote some. */
	if (!(is_xdp ? c->want_ret <= XDP_DROP : c->want_ret == TC_ACT_SHOT)) {
		uint8_t *o = out;
		uint32_t olen = opts.data_size_out;

		if (is_xdp && c->want_meta) {
			struct eg_xdp_meta m;

			memcpy(&m, out, sizeof(m));
			if (olen < sizeof(m) || m.magic != EG_META_MAGIC ||
			    m.mark != c->want_meta) {
				snprintf(why, sizeof(why),
					 "metadata magic 0x%x mark 0x%x, want mark 0x%x", m.magic,
					 m.mark, c->want_meta);
				bt_ok(t, false, c->name, why);
				return;
			}
			o += sizeof(m);
			olen -= (uint32_t)sizeof(m);
		}
		if (olen != want->len || memcmp(o, want->b, want->len)) {
			hexdump("got", o, olen);
			hexdump("want", want->b, want->len);
			bt_ok(t, false, c->name, "output bytes differ");
			return;
		}
		if (pkt_verify_csums(o, olen)) {
			bt_ok(t, false, c->name, "output checksums invalid");
			return;
		}
	}
	bt_ok(t, true, c->name, NULL);
}

void bt_xdp(struct bt *t, int fd, const char *name, struct pkt in, int ret, const struct pkt *out,
	    int stat, uint32_t meta)
{
	const struct bt_case c = { .name = name,
				   .in = &in,
				   .want_ret = ret,
				   .want_out = out,
				   .want_stat = stat,
				   .want_mark = -1,
				   .want_meta = meta };

	bt_run(t, fd, true, &c);
}

void bt_tc(struct bt *t, int fd, const char *name, struct pkt in, uint32_t mark, int ret,
	   const struct pkt *out, int stat, int want_mark)
{
	const struct bt_case c = { .name = name,
				   .in = &in,
				   .want_ret = ret,
				   .want_out = out,
				   .want_stat = stat,
				   .mark_in = mark,
				   .want_mark = want_mark };

	bt_run(t, fd, false, &c);
}

int bt_done(struct bt *t)
{
	printf("1..%d\n", t->n);
	printf("%d passed, %d failed\n", t->n - t->failed, t->failed);
	return t->failed ? 1 : 0;
}

int bt_gateway_netns(const char *addrs)
{
	char cmd[512], a[64];
	int n, off;

	if (unshare(CLONE_NEWNET))
		return -1;
	off = snprintf(cmd, sizeof(cmd),
		       "ip link set lo up && ip route add default dev lo && "
		       "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.lo.forwarding=1");
	while (sscanf(addrs, " %63s%n", a, &n) == 1 && off > 0 && (size_t)off < sizeof(cmd)) {
		off += snprintf(cmd + off, sizeof(cmd) - (size_t)off,
				" && ip addr add %s/32 dev lo", a);
		addrs += n;
	}
	if (off <= 0 || (size_t)off >= sizeof(cmd) || system(cmd) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}
