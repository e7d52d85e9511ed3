// SPDX-License-Identifier: GPL-2.0-only
/*
 * Skeleton lifecycle and attachment (see loader.h). The tc filter uses a fixed handle and
 * priority so a restarted espgated replaces its own filter and never touches others'.
 */
#include <errno.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "espgate_abi.h"
#include "espgate.skel.h"
#include "loader.h"

enum {
	LDR_TC_HANDLE = 0xe59,
	LDR_TC_PRIO = 1,
};

int ldr_open(struct ldr *l, const char *pin_root, uint32_t ct_max)
{
	struct bpf_object_open_opts oo = { .sz = sizeof(oo), .pin_root_path = pin_root };
	struct bpf_map *map;
	int err;

	memset(l, 0, sizeof(*l));
	l->skel = espgate_bpf__open_opts(&oo);
	if (!l->skel)
		return -errno;
	if (!pin_root)
		for (map = bpf_object__next_map(l->skel->obj, NULL); map;
		     map = bpf_object__next_map(l->skel->obj, map))
			bpf_map__set_pin_path(map, NULL);
	if (ct_max)
		bpf_map__set_max_entries(l->skel->maps.eg_ct, ct_max);
	err = espgate_bpf__load(l->skel);
	if (err)
		goto err_destroy;
	return 0;
err_destroy:
	espgate_bpf__destroy(l->skel);
	l->skel = NULL;
	return err;
}

int ldr_attach_xdp(struct ldr *l, int ifindex)
{
	int fd = bpf_program__fd(l->skel->progs.xdp_eg_ingress), err;

	l->xdp = xdp_program__from_fd(fd);
	if (!libxdp_get_error(l->xdp)) {
		err = xdp_program__attach(l->xdp, ifindex, XDP_MODE_NATIVE, 0);
		if (!err) {
			l->xdp_ifindex = ifindex;
			l->xdp_libxdp = true;
			return 0;
		}
		xdp_program__close(l->xdp);
	}
	l->xdp = NULL;
	/* libxdp could not wrap the loaded program (no dispatcher support): plain netlink. */
	err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err)
		return err;
	l->xdp_ifindex = ifindex;
	return 0;
}

int ldr_attach_tc(struct ldr *l, int ifindex, bool nat)
{
	struct bpf_program *p = nat ? l->skel->progs.tc_eg_nat : l->skel->progs.tc_eg_ingress;
	struct bpf_tc_hook hook = { .sz = sizeof(hook),
				    .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(opts),
				    .handle = LDR_TC_HANDLE,
				    .priority = LDR_TC_PRIO,
				    .prog_fd = bpf_program__fd(p),
				    .flags = BPF_TC_F_REPLACE };
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	l->tc_ifindex = ifindex;
	return 0;
}

void ldr_detach(struct ldr *l)
{
	if (l->tc_ifindex) {
		struct bpf_tc_hook hook = { .sz = sizeof(hook),
					    .ifindex = l->tc_ifindex,
					    .attach_point = BPF_TC_INGRESS };
		struct bpf_tc_opts opts = { .sz = sizeof(opts),
					    .handle = LDR_TC_HANDLE,
					    .priority = LDR_TC_PRIO };

		bpf_tc_detach(&hook, &opts);
		l->tc_ifindex = 0;
	}
	if (l->xdp_ifindex) {
		if (l->xdp_libxdp)
			xdp_program__detach(l->xdp, l->xdp_ifindex, XDP_MODE_NATIVE, 0);
		else
			bpf_xdp_detach(l->xdp_ifindex, XDP_FLAGS_DRV_MODE, NULL);
		l->xdp_ifindex = 0;
	}
	xdp_program__close(l->xdp);
	l->xdp = NULL;
}

void ldr_close(struct ldr *l)
{
	ldr_detach(l);
	espgate_bpf__destroy(l->skel);
	l->skel = NULL;
}
