// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF tier, the datapath's lifecycle on real interfaces, in a private network and mount
 * namespace (nothing of the host is touched): eg_dp_open mounts bpffs when /sys/fs/bpf is not
 * one, attaches native XDP + tc_eg_ingress on a veth and falls back to tc_eg_nat (never generic
 * XDP) on a bridge device without native XDP; the tc programs go through tcx links pinned under
 * the pin root where the kernel has tcx (>= 6.6, else clsact: the VM tier's 6.1 runs that
 * path); eg_dp_close without detach, and a SIGKILLed espgated, leave programs attached and maps
 * and links pinned; a second eg_dp_open re-adopts them (same XDP program id, the same tcx link
 * with the new program, the live generation, the child's UP state and its conntrack flow); an
 * espgated that used clsact (EG_DP_TC_CLSACT, like an older version) is taken over by tcx with
 * its clsact filter removed; eg_dp_close with detach removes exactly espgate's XDP program, tc
 * filters, tcx links (also one pinned for an interface no longer configured) and pins, and
 * leaves a foreign clsact filter and a foreign tcx program on the same hook alone.
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
#include <sys/wait.h>
#include <signal.h>
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
#define TCX_INGRESS 46 /* BPF_TCX_INGRESS (Linux 6.6), newer than libbpf 1.1's headers */

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

static const char *prog_name(uint32_t id, char *buf)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	buf[0] = 0;
	if (fd < 0)
		return buf;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		snprintf(buf, 32, "%s", info.name);
	close(fd);
	return buf;
}

/* Names of the tcx ingress programs on ifname, in order, comma-separated ("" = none). */
static const char *tcx_progs(const char *ifname, char *buf, size_t len)
{
	__u32 ids[8], cnt = 8;
	char n[32];
	size_t off = 0;

	buf[0] = 0;
	if (bpf_prog_query((int)if_nametoindex(ifname), (enum bpf_attach_type)TCX_INGRESS, 0, NULL,
			   ids, &cnt))
		return buf;
	for (__u32 i = 0; i < cnt && i < 8 && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
					prog_name(ids[i], n));
	return buf;
}

/* The tcx link pinned at path: its id and program id (0 when there is none). */
static uint32_t link_id(const char *path, uint32_t *prog_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	*prog_id = 0;
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	*prog_id = info.prog_id;
	close(fd);
	return info.id;
}

static uint32_t prog_id_of(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
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

/* The foreign programs: a clsact filter (handle 7, priority 7) and, with tcx, a tcx program. */
static void foreign_progs(bool have_tcx)
{
	struct bpf_insn ins[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_tc_hook h = { .sz = sizeof(h),
				 .ifindex = (int)if_nametoindex("egt0"),
				 .attach_point = BPF_TC_INGRESS };
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "foreign", "GPL", ins, 2, NULL);
	struct bpf_tc_opts o = { .sz = sizeof(o), .handle = 7, .priority = 7, .prog_fd = fd };

	bt_ok(&t, fd >= 0 && !bpf_tc_attach(&h, &o), "a foreign clsact filter beside ours",
	      "cannot attach");
	if (have_tcx)
		bt_ok(&t, !bpf_prog_attach(fd, h.ifindex, (enum bpf_attach_type)TCX_INGRESS, 0),
		      "a foreign tcx program on the same hook", strerror(errno));
	close(fd);
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
	char err[512] = "", b1[96], b2[96], b3[96];
	uint32_t id1, gen, n1 = htonl(0x64400012), n2 = htonl(0xc0a85800), lid = 0, lprog,
			   kprog = 0;
	__u32 qids[8], qcnt = 8;
	bool have_tcx;
	struct pkt in;
	int rc, pfd[2], status = 0;
	pid_t pid;

	if (unshare(CLONE_NEWNET | CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, NULL)) {
		printf("1..0 # SKIP no private network/mount namespace: %s\n", strerror(errno));
		return 0;
	}
	if (sh("ip link add egt0 type veth peer name egt1 && ip link add egd0 type bridge && "
	       "ip link add egx0 type veth peer name egx1 && ip link set egx0 up && "
	       "ip link set egt0 up && ip link set egt1 up && ip link set egd0 up && "
	       "ip link set lo up")) {
		printf("1..0 # SKIP cannot create veth/bridge devices\n");
		return 0;
	}
	have_tcx = !bpf_prog_query((int)if_nametoindex("lo"), (enum bpf_attach_type)TCX_INGRESS, 0,
				   NULL, qids, &qcnt);
	printf("# this kernel %s tcx: tc programs go %s\n", have_tcx ? "has" : "has no",
	       have_tcx ? "through pinned tcx links" : "on clsact");
	cfg = config(ids);

	/* 1. an espgated on clsact (an older version, or a kernel without tcx) */
	rc = eg_dp_open(&dp, cfg, PIN, EG_DP_TC_CLSACT, err, sizeof(err));
	bt_ok(&t, rc == 0, "open (clsact): load, pin and attach on egt0 (veth) and egd0 (bridge)",
	      err);
	if (rc)
		return bt_done(&t);
	bt_ok(&t, !statfs("/sys/fs/bpf", &sf) && sf.f_type == BPF_FS_MAGIC,
	      "open mounted bpffs on /sys/fs/bpf (it was not one)", "not bpffs");
	bt_ok(&t, !stat(PIN "/eg_ct", &st) && !stat(PIN "/eg_children", &st),
	      "maps pinned under the pin root", "no pins");
	id1 = xdp_id("egt0");
	bt_ok(&t, id1 != 0, "veth: native XDP attached", "no XDP");
	bt_ok(&t, !strcmp(tc_prog("egt0", 0xe59, 1, b1), "tc_eg_ingress"),
	      "veth: tc_eg_ingress beside XDP (clsact)", b1);
	bt_ok(&t, xdp_id("egd0") == 0 && !strcmp(tc_prog("egd0", 0xe59, 1, b1), "tc_eg_nat"),
	      "bridge (no native XDP): tc_eg_nat instead, no generic XDP (clsact)", b1);
	bt_ok(&t, stat(PIN "/tcx_egt0", &st) && !tcx_progs("egt0", b1, sizeof(b1))[0],
	      "clsact requested: no tcx link", b1);
	foreign_progs(have_tcx);

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
	bt_ok(&t,
	      xdp_id("egt0") == id1 && !stat(PIN "/eg_ct", &st) &&
		      !strcmp(tc_prog("egt0", 0xe59, 1, b1), "tc_eg_ingress"),
	      "close without detach: XDP program and tc filter still attached, maps still pinned "
	      "(forwarding continues)",
	      "detached");

	/* 2. restart as espgated does by default: tcx where the kernel has it */
	dp = NULL;
	rc = eg_dp_open(&dp, cfg, PIN, 0, err, sizeof(err));
	bt_ok(&t, rc == 0, "restart: open again", err);
	if (rc)
		return bt_done(&t);
	bt_ok(&t, xdp_id("egt0") == id1,
	      "restart: the identical XDP program is adopted, not replaced", "replaced");
	if (have_tcx) {
		tcx_progs("egt0", b1, sizeof(b1));
		tcx_progs("egd0", b2, sizeof(b2));
		bt_ok(&t,
		      !strcmp(b1, "foreign,tc_eg_ingress") && !strcmp(b2, "tc_eg_nat") &&
			      !tc_prog("egt0", 0xe59, 1, b3)[0] &&
			      !tc_prog("egd0", 0xe59, 1, b3)[0],
		      "restart: the clsact espgated's filters replaced by tcx links (tc_eg_ingress "
		      "after the foreign tcx program, tc_eg_nat on the bridge)",
		      b1);
		lid = link_id(PIN "/tcx_egt0", &lprog);
		bt_ok(&t,
		      lid &&
			      lprog == prog_id_of(bpf_program__fd(
					       eg_dp_skel(dp)->progs.tc_eg_ingress)) &&
			      !stat(PIN "/tcx_egd0", &st),
		      "restart: the tcx links pinned under the pin root (tcx_IFNAME)", "no pin");
	} else {
		bt_ok(&t,
		      !strcmp(tc_prog("egt0", 0xe59, 1, b1), "tc_eg_ingress") &&
			      !strcmp(tc_prog("egd0", 0xe59, 1, b2), "tc_eg_nat"),
		      "restart without tcx: the clsact filters replaced in place", b1);
	}
	bt_ok(&t, !strcmp(tc_prog("egt0", 7, 7, b1), "foreign"),
	      "restart: the foreign clsact filter is left alone", "foreign filter gone");
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
	eg_dp_close(dp, false);
	dp = NULL;

	/* 3. an espgated killed with SIGKILL: the attachments outlive it */
	if (pipe(pfd))
		return bt_done(&t);
	pid = fork();
	if (pid == 0) {
		uint32_t pr = 0;

		if (!eg_dp_open(&dp, cfg, PIN, 0, err, sizeof(err)))
			pr = prog_id_of(bpf_program__fd(eg_dp_skel(dp)->progs.tc_eg_ingress));
		if (write(pfd[1], &pr, sizeof(pr)) != sizeof(pr))
			_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	close(pfd[1]);
	if (read(pfd[0], &kprog, sizeof(kprog)) != sizeof(kprog))
		kprog = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	bt_ok(&t, kprog && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "an espgated opens the datapath and dies by SIGKILL", "it did not");
	if (have_tcx) {
		uint32_t l2 = link_id(PIN "/tcx_egt0", &lprog);

		bt_ok(&t,
		      l2 == lid && lprog == kprog &&
			      !strcmp(tcx_progs("egt0", b1, sizeof(b1)), "foreign,tc_eg_ingress"),
		      "after SIGKILL: the same tcx link stays attached with the dead process's "
		      "tc_eg_ingress",
		      b1);
	} else {
		bt_ok(&t, !strcmp(tc_prog("egt0", 0xe59, 1, b1), "tc_eg_ingress"),
		      "after SIGKILL: the clsact filter stays", b1);
	}
	bt_ok(&t, xdp_id("egt0") == id1, "after SIGKILL: the XDP program stays", "gone");

	/* 4. restart once more, then detach everything of ours */
	rc = eg_dp_open(&dp, cfg, PIN, 0, err, sizeof(err));
	bt_ok(&t, rc == 0, "restart after SIGKILL", err);
	if (rc)
		return bt_done(&t);
	if (have_tcx) {
		uint32_t l2 = link_id(PIN "/tcx_egt0", &lprog);
		int lfd;

		bt_ok(&t,
		      l2 == lid &&
			      lprog == prog_id_of(bpf_program__fd(
					       eg_dp_skel(dp)->progs.tc_eg_ingress)) &&
			      !strcmp(tcx_progs("egt0", b1, sizeof(b1)), "foreign,tc_eg_ingress"),
		      "restart after SIGKILL: the pinned tcx link adopted, its program updated",
		      b1);
		/* a link pinned for an interface that is no longer in the configuration */
		lfd = bpf_link_create(bpf_program__fd(eg_dp_skel(dp)->progs.tc_eg_ingress),
				      (int)if_nametoindex("egx0"),
				      (enum bpf_attach_type)TCX_INGRESS, NULL);
		bt_ok(&t, lfd >= 0 && !bpf_obj_pin(lfd, PIN "/tcx_egx0"),
		      "a tcx link pinned for an interface no longer configured", strerror(errno));
		if (lfd >= 0)
			close(lfd);
	}

	eg_dp_close(dp, true);
	bt_ok(&t, xdp_id("egt0") == 0, "detach: our XDP program is gone", "still attached");
	bt_ok(&t, !tc_prog("egt0", 0xe59, 1, b1)[0] && !tc_prog("egd0", 0xe59, 1, b2)[0],
	      "detach: our clsact filters are gone", "still there");
	if (have_tcx) {
		tcx_progs("egt0", b1, sizeof(b1));
		tcx_progs("egd0", b2, sizeof(b2));
		tcx_progs("egx0", b3, sizeof(b3));
		bt_ok(&t, !strcmp(b1, "foreign") && !b2[0] && !b3[0],
		      "detach: our tcx links are gone (also the unconfigured interface's), the "
		      "foreign tcx program stays",
		      b1);
	}
	bt_ok(&t, stat(PIN, &st) && errno == ENOENT, "detach: pins and pin directory removed",
	      "pins left");
	bt_ok(&t, !strcmp(tc_prog("egt0", 7, 7, b1), "foreign"),
	      "detach: a foreign clsact filter on the same hook is left alone",
	      "foreign filter gone");
	eg_config_free(cfg);
	free(ids);
	return bt_done(&t);
}
