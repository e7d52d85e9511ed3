// SPDX-License-Identifier: GPL-2.0-only
/*
 * egdp: a small datapath driver for the netns tests and the benchmark (not for production; the
 * daemon does this from its config). It loads the skeleton with maps pinned under a pin root,
 * attaches it with user/loader.c, writes a masquerade + DNAT setup with user/dp_maps.c, and reads
 * counters or sweeps conntrack from the pinned maps:
 *   egdp up PIN xdp|tcnat IFNAME... -- MASQ_INSIDE/LEN POOL_ADDR [DNAT_ADDR:PORT=TO_ADDR:PORT]
 *        [redirect]
 *   egdp stat PIN NAME      packets of EG_STAT_NAME (e.g. NAT_PLAIN)
 *   egdp sweep PIN          expire everything now (frees pool ports)
 *   egdp used PIN           ports in use in pool 0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "espgate_abi.h"
#include "espgate.skel.h"
#include "dp_maps.h"
#include "loader.h"

static const char *const stat_names[EG_STAT_MAX] = {
	[EG_STAT_RX] = "RX",
	[EG_STAT_PASS] = "PASS",
	[EG_STAT_NAT_OUT] = "NAT_OUT",
	[EG_STAT_NAT_IN] = "NAT_IN",
	[EG_STAT_REDIRECT] = "REDIRECT",
	[EG_STAT_ESP_PASS] = "ESP_PASS",
	[EG_STAT_IKE_PASS] = "IKE_PASS",
	[EG_STAT_MSS_CLAMPED] = "MSS_CLAMPED",
	[EG_STAT_CT_NEW] = "CT_NEW",
	[EG_STAT_DROP_MALFORMED] = "DROP_MALFORMED",
	[EG_STAT_DROP_UNKNOWN_SPI] = "DROP_UNKNOWN_SPI",
	[EG_STAT_DROP_IKE_RATELIMIT] = "DROP_IKE_RATELIMIT",
	[EG_STAT_DROP_CT_FULL] = "DROP_CT_FULL",
	[EG_STAT_DROP_PORTS_EXHAUSTED] = "DROP_PORTS_EXHAUSTED",
	[EG_STAT_DROP_SELECTOR] = "DROP_SELECTOR",
	[EG_STAT_DROP_ONEWAY] = "DROP_ONEWAY",
	[EG_STAT_DROP_TRANSIT] = "DROP_TRANSIT",
	[EG_STAT_DROP_FRAG] = "DROP_FRAG",
	[EG_STAT_DROP_TUNNEL_DOWN] = "DROP_TUNNEL_DOWN",
	[EG_STAT_DROP_POLICY] = "DROP_POLICY",
	[EG_STAT_DROP_INTERNAL] = "DROP_INTERNAL",
	[EG_STAT_TUNNEL_OUT] = "TUNNEL_OUT",
	[EG_STAT_TUNNEL_IN] = "TUNNEL_IN",
	[EG_STAT_NAT_PLAIN] = "NAT_PLAIN",
	[EG_STAT_DROP_CLEARTEXT] = "DROP_CLEARTEXT",
	[EG_STAT_DROP_NOT_DECRYPTED] = "DROP_NOT_DECRYPTED",
	[EG_STAT_DROP_HAIRPIN_LOOP] = "DROP_HAIRPIN_LOOP",
};

static int usage(void)
{
	fprintf(stderr,
		"usage: egdp up PIN xdp|tcnat IF... -- INSIDE/LEN POOL [A:P=B:Q] [redirect]\n"
		"       egdp stat PIN NAME | sweep PIN | used PIN\n");
	return 2;
}

static int parse_addr_port(const char *s, uint32_t *a, uint16_t *p)
{
	char buf[64], *c;
	struct in_addr in;

	snprintf(buf, sizeof(buf), "%s", s);
	c = strchr(buf, ':');
	if (!c)
		return -EINVAL;
	*c = 0;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	*a = in.s_addr;
	*p = (uint16_t)atoi(c + 1);
	return 0;
}

static int cmd_up(int argc, char **argv)
{
	const char *pin = argv[0], *mode = argv[1];
	struct eg_nat_rule r = { .type = EG_NAT_MASQ, .pool = 0 };
	struct eg_config cfg = { .flags = EG_CFG_ENABLED, .masq_rule = 1 };
	struct dp_maps m;
	struct ldr l;
	struct in_addr in;
	char net[64], *slash, lpin[LDR_PIN_MAX];
	int i = 2, err, nif = 0;

	err = ldr_open(&l, pin, 0);
	if (err) {
		fprintf(stderr, "egdp: load: %s\n", strerror(-err));
		return 1;
	}
	for (; i < argc && strcmp(argv[i], "--"); i++, nif++) {
		int ifindex = (int)if_nametoindex(argv[i]);

		if (!ifindex)
			return fprintf(stderr, "egdp: no interface %s\n", argv[i]), 1;
		/* a tcx link must be pinned to outlive this process */
		snprintf(lpin, sizeof(lpin), "%s/tcx_%s", pin, argv[i]);
		if (!strcmp(mode, "xdp")) {
			/* The first through the loader (libxdp), further ones by netlink. */
			err = nif ? bpf_xdp_attach(ifindex,
						   bpf_program__fd(l.skel->progs.xdp_eg_ingress),
						   XDP_FLAGS_DRV_MODE, NULL)
				  : ldr_attach_xdp(&l, ifindex);
			if (!err) {
				struct ldr t2 = l;

				err = ldr_attach_tc(&t2, ifindex, 0, lpin);
			}
		} else {
			struct ldr t2 = l;

			err = ldr_attach_tc(&t2, ifindex, LDR_TC_NAT, lpin);
		}
		if (err)
			return fprintf(stderr, "egdp: attach %s: %s\n", argv[i], strerror(-err)), 1;
	}
	if (i + 2 >= argc + 0 && i + 2 > argc)
		return usage();
	i++;
	snprintf(net, sizeof(net), "%s", argv[i++]);
	slash = strchr(net, '/');
	if (!slash)
		return usage();
	*slash = 0;
	if (inet_pton(AF_INET, net, &in) != 1)
		return usage();
	r.inside_mask = htonl(atoi(slash + 1) ? ~0u << (32 - atoi(slash + 1)) : 0);
	r.inside_addr = in.s_addr & r.inside_mask;
	if (inet_pton(AF_INET, argv[i++], &in) != 1)
		return usage();
	err = dp_maps_open_pinned(&m, pin);
	if (err)
		return fprintf(stderr, "egdp: maps: %s\n", strerror(-err)), 1;
	err = dp_pool_write(&m, 0, in.s_addr, 1024, 65535);
	err = err ?: dp_nat_rule_write(&m, 1, &r);
	for (; !err && i < argc; i++) {
		uint32_t a, b;
		uint16_t p, q;
		char *eq;

		if (!strcmp(argv[i], "redirect")) {
			cfg.flags |= EG_CFG_REDIRECT;
			continue;
		}
		eq = strchr(argv[i], '=');
		if (!eq)
			return usage();
		*eq = 0;
		if (parse_addr_port(argv[i], &a, &p) || parse_addr_port(eq + 1, &b, &q))
			return usage();
		err = dp_dnat_write(&m, 0, 0, IPPROTO_TCP, a, p, b, q);
		err = err ?: dp_dnat_write(&m, 0, 0, IPPROTO_UDP, a, p, b, q);
	}
	err = err ?: dp_config_write(&m, &cfg);
	dp_maps_fini(&m);
	if (err)
		return fprintf(stderr, "egdp: maps: %s\n", strerror(-err)), 1;
	/* Exit without detaching: the attachments and pinned maps outlive this process. */
	return 0;
}

int main(int argc, char **argv)
{
	struct dp_maps m;
	int err;

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "up"))
		return argc < 6 ? usage() : cmd_up(argc - 2, argv + 2);
	err = dp_maps_open_pinned(&m, argv[2]);
	if (err)
		return fprintf(stderr, "egdp: maps: %s\n", strerror(-err)), 1;
	if (!strcmp(argv[1], "stat") && argc == 4) {
		uint64_t p;

		for (int s = 0; s < EG_STAT_MAX; s++) {
			if (stat_names[s] && !strcmp(stat_names[s], argv[3])) {
				err = dp_stat_read(&m, (enum eg_stat)s, &p, NULL);
				if (!err)
					printf("%llu\n", (unsigned long long)p);
				return err ? 1 : 0;
			}
		}
		return fprintf(stderr, "egdp: no stat %s\n", argv[3]), 1;
	}
	if (!strcmp(argv[1], "sweep")) {
		printf("%ld\n", dp_ct_sweep(&m, UINT64_MAX));
		return 0;
	}
	if (!strcmp(argv[1], "used")) {
		printf("%ld\n", dp_pool_used(&m, 0));
		return 0;
	}
	return usage();
}
