/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * From the operator's configuration (config.h) to what the IKE engine (ike.h)
 * and the kernel contract (espgate_abi.h) need: child ids (stable for a child
 * whose tunnel did not change, so a reload keeps its SAs, marks and reqids),
 * engine peer configs with parsed proposals, typed identities, traffic
 * selectors and lifetimes, and the PSK copied into an engine secret.
 */
#ifndef EG_PEERCFG_H
#define EG_PEERCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "espgate_abi.h"
#include "ike.h"

/* One allocated child id: which tunnel/child it belongs to. */
struct eg_child_slot {
	bool used;
	char tunnel[EG_CFG_NAME_MAX];
	char child[EG_CFG_NAME_MAX];
};

/* Child ids 1..EG_MAX_CHILDREN-1; 0 is "none". */
struct eg_child_ids {
	struct eg_child_slot slot[EG_MAX_CHILDREN];
};

/* The id of tunnel/child, or 0. */
uint32_t eg_child_id_find(const struct eg_child_ids *ids, const char *tunnel, const char *child);
/* Allocates the lowest free id for tunnel/child (or returns the one it has); 0
 * when full. */
uint32_t eg_child_id_alloc(struct eg_child_ids *ids, const char *tunnel, const char *child);
void eg_child_id_release(struct eg_child_ids *ids, uint32_t id);

/* The engine's view of a whole configuration; owns the arrays the peers point
 * into. */
struct eg_peerset {
	unsigned int n_peers;
	struct ike_peer_cfg *peers;
	struct ike_child_cfg *children; /* all tunnels' children, peers[i].children points here */
	unsigned int n_children;
	bool weak_used; /* a weak algorithm was configured (and allowed): warn */
};

/*
 * Builds the engine configuration for every tunnel of cfg. Child ids come from
 * ids (allocated when missing). Errors (a proposal that does not parse, an
 * identity that cannot be derived) are written to err with the tunnel's name;
 * returns 0, -EINVAL or -ENOMEM. The PSKs are copied into the peer configs:
 * eg_peerset_free() zeroes them.
 */
int eg_peerset_build(const struct eg_config_file *cfg, struct eg_child_ids *ids,
		     struct eg_peerset *ps, char *err, size_t errlen);
void eg_peerset_free(struct eg_peerset *ps);

/* A config selector as an IKE traffic selector. 0 or -EINVAL. */
int eg_selector_to_ts(const struct eg_selector *sel, struct ike_ts *ts);

#endif /* EG_PEERCFG_H */
