/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Loading and attaching the datapath: open the skeleton with a pin root (maps pinned there by
 * name and re-adopted on the next start; NULL = no pinning, for tests), load, attach
 * xdp_eg_ingress in native mode through libxdp (falling back to a plain netlink attach when
 * libxdp cannot take an already loaded program), and tc_eg_ingress or tc_eg_nat on tc ingress:
 * through a tcx link where the kernel has tcx (>= 6.6: one cheap hook, no qdisc), pinned so that
 * it outlives espgated and a restart adopts it, else on clsact through libbpf's bpf_tc_* API
 * (Debian 12's 6.1); detach both. espgated and the test tools use it.
 */
#ifndef EG_LOADER_H
#define EG_LOADER_H

#include <stdbool.h>
#include <stdint.h>

struct espgate_bpf;
struct xdp_program;

enum {
	LDR_PIN_MAX = 256, /* bytes of a link pin path */
};

struct ldr {
	struct espgate_bpf *skel;
	struct xdp_program *xdp;
	int xdp_ifindex; /* 0 = not attached */
	bool xdp_libxdp; /* attached through libxdp (else netlink) */
	int tc_ifindex;	 /* 0 = not attached */
	bool tc_tcx;	 /* through a tcx link (else clsact + cls_bpf) */
	bool tc_adopted; /* the tcx link pinned by a previous run, updated to our program */
	int tc_link;	 /* the tcx link's fd while tc_tcx */
	int tc_tcx_err;	 /* why tcx was not used (-errno), 0 = it was or it was not tried */
	char tc_pin[LDR_PIN_MAX]; /* where the tcx link is pinned, "" = nowhere */
};

enum ldr_tc_flags {
	LDR_TC_NAT = 1u << 0,	 /* tc_eg_nat (no native XDP here), else tc_eg_ingress */
	LDR_TC_CLSACT = 1u << 1, /* never tcx (tests of the 6.1 path, operators) */
};

/* Sizes the maps that depend on this host (the flow cache: a part per possible CPU) in an opened,
 * not yet loaded skeleton. ldr_open does it; tests that open the skeleton themselves call it. */
int ldr_size_maps(struct espgate_bpf *skel);
/* ct_max: conntrack entries (0 = compiled default). */
int ldr_open(struct ldr *l, const char *pin_root, uint32_t ct_max);
/* Native XDP on ifindex. */
int ldr_attach_xdp(struct ldr *l, int ifindex);
/*
 * tc ingress on ifindex (flags: enum ldr_tc_flags). A tcx link is pinned at link_pin when it is
 * not NULL; a tcx link already pinned there for this interface is adopted: its program is
 * replaced atomically (no moment without a program). Once tcx is attached, espgate's own clsact
 * filter (a previous version's) is removed. Falls back to clsact when the kernel has no tcx;
 * l->tc_tcx says which was used, l->tc_tcx_err why tcx was not.
 */
int ldr_attach_tc(struct ldr *l, int ifindex, unsigned int flags, const char *link_pin);
/* Detaches what l attached (a tcx link also when pinned: the pin is removed). */
void ldr_detach(struct ldr *l);
/* Detaches espgate's clsact filter on ifindex (fixed handle and priority), if there is one. */
int ldr_detach_clsact(int ifindex);
/*
 * Detaches and unpins the tcx link pinned at path. -ENOENT: nothing pinned there; -EINVAL:
 * what is pinned there is not a tcx link (left alone).
 */
int ldr_detach_pinned_tcx(const char *path);
/* Detaches and frees; pinned maps stay. */
void ldr_close(struct ldr *l);

#endif /* EG_LOADER_H */
