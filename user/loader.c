// SPDX-License-Identifier: GPL-2.0-only
/*
 * Skeleton lifecycle and attachment (see loader.h). On clsact the tc filter uses a fixed handle
 * and priority so a restarted espgated replaces its own filter and never touches others'. tcx
 * (kernel >= 6.6) is reached through BPF_LINK_CREATE directly: libbpf 1.1 predates it, so the
 * attach type, link type and the link info layout are defined here. A tcx link lives as long as
 * a reference to it: pinned, it outlives espgated (even a SIGKILL), which adopts it on restart
 * with BPF_LINK_UPDATE, an atomic program swap.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
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
	/* uapi values of Linux 6.6, absent from the headers libbpf 1.1 ships with */
	LDR_BPF_TCX_INGRESS = 46,   /* enum bpf_attach_type BPF_TCX_INGRESS */
	LDR_BPF_LINK_TYPE_TCX = 11, /* enum bpf_link_type BPF_LINK_TYPE_TCX */
};

/* struct bpf_link_info as far as its tcx member (type-specific union at offset 16). */
struct ldr_tcx_info {
	__u32 type;
	__u32 id;
	__u32 prog_id;
	__u32 pad;
	__u32 ifindex;
	__u32 attach_type;
};

_Static_assert(offsetof(struct ldr_tcx_info, ifindex) ==
		       offsetof(struct bpf_link_info, raw_tracepoint),
	       "the tcx member starts the bpf_link_info union");

int ldr_size_maps(struct espgate_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu < 1)
		return ncpu < 0 ? ncpu : -EINVAL;
	return bpf_map__set_max_entries(skel->maps.eg_flow_cache,
					(uint32_t)ncpu * EG_FLOW_CACHE_SLOTS);
}

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
	err = ldr_size_maps(l->skel) ?: espgate_bpf__load(l->skel);
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

static int tcx_info(int fd, struct ldr_tcx_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len);
}

/*
 * The tcx link pinned at pin, if it is one for ingress of ifindex, updated to prog_fd (its fd),
 * else -1 after removing a stale one (its interface was deleted, or this is another interface of
 * the same name).
 */
static int tcx_adopt(const char *pin, int ifindex, int prog_fd)
{
	struct ldr_tcx_info info;
	int fd = bpf_obj_get(pin);

	if (fd < 0)
		return -1;
	if (!tcx_info(fd, &info) && info.type == LDR_BPF_LINK_TYPE_TCX) {
		if (info.ifindex == (__u32)ifindex && info.attach_type == LDR_BPF_TCX_INGRESS &&
		    !bpf_link_update(fd, prog_fd, NULL))
			return fd;
		bpf_link_detach(fd);
	}
	close(fd);
	unlink(pin);
	return -1;
}

static int tc_attach_tcx(struct ldr *l, int ifindex, int prog_fd, const char *link_pin)
{
	int fd = link_pin ? tcx_adopt(link_pin, ifindex, prog_fd) : -1, err;

	l->tc_adopted = fd >= 0;
	if (fd < 0) {
		/* appended after any other tcx program on the hook */
		fd = bpf_link_create(prog_fd, ifindex, (enum bpf_attach_type)LDR_BPF_TCX_INGRESS,
				     NULL);
		if (fd < 0)
			return -errno;
		if (link_pin && bpf_obj_pin(fd, link_pin)) {
			/* unpinned it would die with us: fail rather than stop at a SIGKILL */
			err = -errno;
			bpf_link_detach(fd);
			close(fd);
			return err;
		}
	}
	l->tc_link = fd;
	l->tc_tcx = true;
	snprintf(l->tc_pin, sizeof(l->tc_pin), "%s", link_pin ? link_pin : "");
	return 0;
}

int ldr_attach_tc(struct ldr *l, int ifindex, unsigned int flags, const char *link_pin)
{
	struct bpf_program *p =
		(flags & LDR_TC_NAT) ? l->skel->progs.tc_eg_nat : l->skel->progs.tc_eg_ingress;
	struct bpf_tc_hook hook = { .sz = sizeof(hook),
				    .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(opts),
				    .handle = LDR_TC_HANDLE,
				    .priority = LDR_TC_PRIO,
				    .prog_fd = bpf_program__fd(p),
				    .flags = BPF_TC_F_REPLACE };
	int err;

	if (link_pin && strlen(link_pin) >= sizeof(l->tc_pin))
		return -ENAMETOOLONG;
	l->tc_tcx = false;
	l->tc_adopted = false;
	l->tc_tcx_err = 0;
	if (!(flags & LDR_TC_CLSACT)) {
		err = tc_attach_tcx(l, ifindex, opts.prog_fd, link_pin);
		if (!err) {
			/* a previous clsact espgated's filter: the tcx program runs first and
			 * ends the hook with its verdict, but leave nothing stale behind */
			ldr_detach_clsact(ifindex);
			l->tc_ifindex = ifindex;
			return 0;
		}
		l->tc_tcx_err = err; /* -EINVAL before 6.6 */
	}
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	l->tc_ifindex = ifindex;
	return 0;
}

int ldr_detach_clsact(int ifindex)
{
	struct bpf_tc_hook hook = { .sz = sizeof(hook),
				    .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts opts = { .sz = sizeof(opts),
				    .handle = LDR_TC_HANDLE,
				    .priority = LDR_TC_PRIO };
	libbpf_print_fn_t print = libbpf_set_print(NULL); /* "not found" is the usual answer */
	int err = bpf_tc_detach(&hook, &opts);

	libbpf_set_print(print);
	return err;
}

int ldr_detach_pinned_tcx(const char *path)
{
	struct ldr_tcx_info info;
	int fd = bpf_obj_get(path), err = 0;

	if (fd < 0)
		return -errno;
	if (tcx_info(fd, &info) || info.type != LDR_BPF_LINK_TYPE_TCX) {
		close(fd);
		return -EINVAL;
	}
	/* a link whose interface was deleted is detached already: only the pin is left */
	if (info.ifindex && bpf_link_detach(fd))
		err = -errno;
	close(fd);
	if (unlink(path) && !err)
		err = -errno;
	return err;
}

void ldr_detach(struct ldr *l)
{
	if (l->tc_ifindex && l->tc_tcx) {
		bpf_link_detach(l->tc_link);
		close(l->tc_link);
		if (l->tc_pin[0])
			unlink(l->tc_pin);
		l->tc_pin[0] = 0;
		l->tc_tcx = false;
		l->tc_ifindex = 0;
	} else if (l->tc_ifindex) {
		ldr_detach_clsact(l->tc_ifindex);
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
