/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Loading and attaching the datapath: open the skeleton with a pin root (maps pinned there by
 * name and re-adopted on the next start; NULL = no pinning, for tests), load, attach
 * xdp_eg_ingress in native mode through libxdp (falling back to a plain netlink attach when
 * libxdp cannot take an already loaded program), and tc_eg_ingress or tc_eg_nat on clsact
 * ingress through libbpf's bpf_tc_* API; detach both. espgated and the test tools use it.
 */
#ifndef EG_LOADER_H
#define EG_LOADER_H

#include <stdbool.h>
#include <stdint.h>

struct espgate_bpf;
struct xdp_program;

struct ldr {
	struct espgate_bpf *skel;
	struct xdp_program *xdp;
	int xdp_ifindex; /* 0 = not attached */
	bool xdp_libxdp; /* attached through libxdp (else netlink) */
	int tc_ifindex;
};

/* ct_max: conntrack entries (0 = compiled default). */
int ldr_open(struct ldr *l, const char *pin_root, uint32_t ct_max);
/* Native XDP on ifindex. */
int ldr_attach_xdp(struct ldr *l, int ifindex);
/* tc ingress: tc_eg_nat if nat (no native XDP here), else tc_eg_ingress. */
int ldr_attach_tc(struct ldr *l, int ifindex, bool nat);
void ldr_detach(struct ldr *l);
/* Detaches and frees; pinned maps stay. */
void ldr_close(struct ldr *l);

#endif /* EG_LOADER_H */
