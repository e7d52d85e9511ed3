/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * espgated's runtime: the event loop that joins the IKE engine (ike.h) to its
 * UDP sockets (ikesock.h), the kernel's XFRM state (xfrm.h, ipsec.h), the
 * datapath maps and the control socket (ctl.h). One thread, epoll, the engine's
 * deadline as the only timer; every input is followed by draining the engine's
 * outputs in order (an inbound SA is installed before the datagram that lets
 * the peer use it).
 */
#ifndef EG_DAEMON_H
#define EG_DAEMON_H

#include <stdbool.h>

struct egd_opts {
	const char *config_path;
	const char *secrets_path; /* NULL: from the config */
	const char *ctl_path;	  /* NULL: CTL_DEFAULT_PATH */
	bool record_sas;	  /* test mode: record SAs/policies instead of installing them
                    */
	const char *export_keys;  /* test mode only: append negotiated ESP keys to this file */
	const char *record_dump;  /* test mode: write the recorded XFRM state here on change */
	bool no_datapath;	  /* do not load or touch the BPF datapath */
};

/* Runs until SIGTERM/SIGINT (graceful: IKE SAs deleted with their peers).
 * Returns the exit status: 0 after a clean stop, 1 when startup failed (the
 * reason is logged). */
int egd_run(const struct egd_opts *opts);

/* espgated --detach: removes every XFRM SA and policy in espgate's ranges, and the datapath's
 * programs and pins, and nothing else. Returns 0 or -errno (the reason is logged). */
int egd_detach(const struct egd_opts *opts);

#endif /* EG_DAEMON_H */
