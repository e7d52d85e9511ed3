/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host settings a gateway needs, checked and set by espgated at start (and on reload), each
 * change logged with its old and new value: IPv4 forwarding on; ICMP redirects neither sent nor
 * accepted (the gateway routes traffic back out of the NIC it came in on, and a redirect would
 * teach hosts to bypass it); loose reverse-path filtering (2) on the interfaces where the
 * datapath makes paths asymmetric: the inside NIC of a two-NIC gateway (BPF rewrites sources to
 * SNAT/pool/masquerade addresses before the kernel's rp_filter check, and those are routed via
 * the outside) and the eg1 hairpin end; accept_local on eg1 (the gateway's own packets come back
 * in there with a local source) and, when a forward rule's clients connect to an address of the
 * host itself (seed 002's proxy), on the outside NIC: the replies are reverse-translated before
 * routing, so they re-enter there from the tunnel with that local source. It also refuses a configuration whose SNAT, pool or
 * masquerade addresses are assigned to the host (a forwarded packet rewritten to a local source
 * is dropped as a martian). The eg0/eg1 veth and its routes are hairpin.c's (call
 * eg_hairpin_apply() first, so that eg1 exists when this runs).
 */
#ifndef EG_HOSTCFG_H
#define EG_HOSTCFG_H

#include <stdbool.h>
#include <stddef.h>

struct eg_config_file;

#define EG_HAIRPIN_IN "eg1" /* the hairpin end that carries the datapath */

/*
 * Applies (or with dry_run only reports) the settings for cfg under sysroot ("/proc/sys" when
 * NULL; tests pass a directory tree). Interfaces that do not exist are skipped. Every change (or,
 * with dry_run, every change it would make) is logged at info level and counted in *changed.
 * Returns 0, -EADDRINUSE when a translated address is assigned to the host (err names it), or
 * -errno of the first setting that could not be written (err names it; the others are still
 * tried).
 */
int eg_host_apply(const struct eg_config_file *cfg, bool dry_run, const char *sysroot,
		  unsigned int *changed, char *err, size_t errlen);

#endif /* EG_HOSTCFG_H */
