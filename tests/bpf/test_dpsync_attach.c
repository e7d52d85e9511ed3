// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, the datapath's lifecycle on real interfaces, in a private network and mount
 * namespace (nothing of the host is touched): eg_dp_open mounts bpffs when /sys/fs/bpf is not
 * one, attaches native XDP + tc_eg_ingress on a veth and falls back to tc_eg_nat (never generic
 * XDP) on a bridge device without native XDP; eg_dp_close without detach leaves programs attached
 * and maps pinned; a second eg_dp_open re-adopts them (same XDP program id, the live generation,
 * the child's UP state and its conntrack flow); eg_dp_close with detach removes exactly espgate's
 * XDP program, tc filters and pins, and leaves a foreign tc filter on the same hook alone.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "dp_maps.h"
#include "dpsync.h"
#include "espgate_abi.h"
#include "ike.h"
#include "ike_ts.h"
#include "peercfg.h"
#include "bpf_test.h"

#define PIN "/sys/fs/bpf/espgate-test"

static struct bt t;

static const char yaml[] = "global:\n"
			   "  interfaces: { outside: egt0, inside: egd0 }\n"
			   "tunnels:\n"
			   "  p:\n"
			   "    peer: 192.0.2.1\n"
			   "    local_id: 192.0.2.2\n"
			   "    psk: p\n"
			   "    children:\n"
			   "      - name: c\n"
			   "        local: 100.64.0.18/32\n"
			   "        remote: 192.168.88.0/24\n"
			   "        nat:\n"
			   "          - { type: snat, inside: 10.1.1.66, outside: 100.64.0.18 }\n";
static const char secrets[] = "psk:\n  p: \"0123456789abcdef0123\"\n";

static int sh(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -1;
}

static uint32_t xdp_id(const char *ifname)
{
	uint32_t id = 0;

	bpf_xdp_query_id((int)if_nametoindex(ifname), XDP_FLAGS_DRV_MODE, &id);
	return id;
}

/* Name of the program of the tc filter at (handle, prio) on ifname's ingress, or "". */
static const char *tc_prog(const char *ifname, uint32_t handle, uint32_t prio, char *buf)
{
	struct bpf_tc_hook h = { .sz = sizeof(h),
				 .ifindex = (int)if_nametoindex(ifname),
				 .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts o = { .sz = sizeof(o), .handle = handle, .priority = prio };
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd;

	buf[0] = 0;
	if (bpf_tc_query(&h, &o))
		return buf;
	fd = bpf_prog_get_fd_by_id(o.prog_id);
	if (fd < 0)
		return buf;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		snprintf(buf, 32, "%s", info.name);
	close(fd);
	return buf;
}

static struct eg_config_file *config(struct eg_child_ids *ids)
{
	struct eg_config_file *c = NULL;
	struct eg_config_err e;

	memset(&e, 0, sizeof(e));
	if (eg_config_parse("t.yaml", yaml, strlen(yaml), "s.yaml", secrets, strlen(secrets), &c,
			    &e)) {
		printf("Bail out! config: %s\n", e.n ? e.msg[0] : "?");
		exit(1);
	}
	eg_child_id_alloc(ids, "p", "c");
	return c;
}

int main(void)
{
	struct eg_child_ids *ids = calloc(1, sizeof(*ids));
	struct eg_config_file *cfg;
	struct ike_ts_list tl = { 0 }, tr = { 0 };
	struct ike_addr a = { .family = AF_INET };
	struct eg_dp *dp = NULL;
	struct statfs sf;
	struct stat st;
	char err[512] = "", b1[32], b2[32];
	uint32_t id1, gen, n1 = htonl(0x64400012), n2 = htonl(0xc0a85800);
	struct pkt in;
	int rc;

	if (unshare(CLONE_NEWNET | CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, NULL)) {
		printf("1..0 # SKIP no private network/mount namespace: %s\n", strerror(errno));
		return 0;
	}
	if (sh("ip link add egt0 type veth peer name egt1 && ip link add egd0 type bridge && "
	       "ip link set egt0 up && ip link set egt1 up && ip link set egd0 up && "
	       "true")) {
		printf("1..0 # SKIP cannot create veth/bridge devices\n");
		return 0;
	}
	cfg = config(ids);

	rc = eg_dp_open(&dp, cfg, PIN, 0, err, sizeof(err));
	bt_ok(&t, rc == 0, "open: load, pin and attach on egt0 (veth) and egd0 (bridge)", err);
	if (rc)
		return bt_done(&t);
	bt_ok(&t, !statfs("/sys/fs/bpf", &sf) && sf.f_type == BPF_FS_MAGIC,
	      "open mounted bpffs on /sys/fs/bpf (it was not one)", "not bpffs");
	bt_ok(&t, !stat(PIN "/eg_ct", &st) && !stat(PIN "/eg_children", &st),
	      "maps pinned under the pin root", "no pins");
	id1 = xdp_id("egt0");
	bt_ok(&t, id1 != 0, "veth: native XDP attached", "no XDP");
	bt_ok(&t, !strcmp(tc_prog("egt0", 0xe59, 1, b1), "tc_eg_ingress"),
	      "veth: tc_eg_ingress beside XDP", b1);
	bt_ok(&t, xdp_id("egd0") == 0 && !strcmp(tc_prog("egd0", 0xe59, 1, b1), "tc_eg_nat"),
	      "bridge (no native XDP): tc_eg_nat instead, no generic XDP", b1);
	/* a foreign filter on the same hook, another handle and priority */
	{
		struct bpf_insn ins[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		struct bpf_tc_hook h = { .sz = sizeof(h),
					 .ifindex = (int)if_nametoindex("egt0"),
					 .attach_point = BPF_TC_INGRESS };
		int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "foreign", "GPL", ins, 2, NULL);
		struct bpf_tc_opts o = {
			.sz = sizeof(o), .handle = 7, .priority = 7, .prog_fd = fd
		};

		bt_ok(&t, fd >= 0 && !bpf_tc_attach(&h, &o), "a foreign tc filter beside ours",
		      "cannot attach");
	}

	rc = eg_dp_apply(dp, cfg, ids, err, sizeof(err));
	bt_ok(&t, rc == 0, "apply", err);
	ike_ts_from_prefix(&tl.ts[tl.n++], AF_INET, &n1, 32, 0, 0, 65535);
	ike_ts_from_prefix(&tr.ts[tr.n++], AF_INET, &n2, 24, 0, 0, 65535);
	memcpy(a.addr, "\xc0\x00\x02\x02", 4);
	eg_dp_child_policy(dp, 1, true);
	eg_dp_child_up(dp, 1, 0x1234, &a, &tl, &tr);
	pkt_build(&in, &(struct pkt_spec){ .saddr = 0x0a010142,
					   .daddr = 0xc0a85805,
					   .proto = IPPROTO_UDP,
					   .sport = 999,
					   .dport = 53,
					   .payload_len = 8 });
	{
		LIBBPF_OPTS(bpf_test_run_opts, ro, .data_in = in.b, .data_size_in = (__u32)in.len);

		rc = bpf_prog_test_run_opts(bpf_program__fd(eg_dp_skel(dp)->progs.xdp_eg_ingress),
					    &ro);
		bt_ok(&t, !rc && ro.retval == XDP_PASS && dp_ct_count(eg_dp_maps(dp)) == 2,
		      "a flow through the loaded program (conntrack pair)", "no flow");
	}
	gen = eg_dp_gen(dp);
	eg_dp_close(dp, false);
	bt_ok(&t, xdp_id("egt0") == id1 && !stat(PIN "/eg_ct", &st),
	      "close without detach: XDP program still attached, maps still pinned (forwarding "
	      "continues)",
	      "detached");

	dp = NULL;
	rc = eg_dp_open(&dp, cfg, PIN, 0, err, sizeof(err));
	bt_ok(&t, rc == 0, "restart: open again", err);
	if (rc)
		return bt_done(&t);
	bt_ok(&t, xdp_id("egt0") == id1,
	      "restart: the identical XDP program is adopted, not replaced", "replaced");
	bt_ok(&t, eg_dp_gen(dp) == gen && dp_ct_count(eg_dp_maps(dp)) == 2,
	      "restart: pinned maps re-used: live generation and conntrack kept", "state lost");
	rc = eg_dp_apply(dp, cfg, ids, err, sizeof(err));
	{
		struct eg_child c;
		uint32_t k = 1;

		bpf_map_lookup_elem(eg_dp_maps(dp)->children, &k, &c);
		bt_ok(&t, rc == 0 && (c.flags & EG_CHILD_UP) && c.n_ts == 1,
		      "restart + apply: the child's SA state (UP, negotiated selectors) survives",
		      err);
	}

	eg_dp_close(dp, true);
	bt_ok(&t, xdp_id("egt0") == 0, "detach: our XDP program is gone", "still attached");
	bt_ok(&t, !tc_prog("egt0", 0xe59, 1, b1)[0] && !tc_prog("egd0", 0xe59, 1, b2)[0],
	      "detach: our tc filters are gone", "still there");
	bt_ok(&t, stat(PIN, &st) && errno == ENOENT, "detach: pins and pin directory removed",
	      "pins left");
	bt_ok(&t, !strcmp(tc_prog("egt0", 7, 7, b1), "foreign"),
	      "detach: a foreign tc filter on the same hook is left alone", "foreign filter gone");
	eg_config_free(cfg);
	free(ids);
	return bt_done(&t);
}
