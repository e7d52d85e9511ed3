// SPDX-License-Identifier: GPL-2.0-only
/*
 * Translation of the operator's configuration into the engine's peer configs
 * and child ids (see peercfg.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ike_ts.h"
#include "peercfg.h"

uint32_t eg_child_id_find(const struct eg_child_ids *ids, const char *tunnel, const char *child)
{
	for (uint32_t id = 1; id < EG_MAX_CHILDREN; id++) {
		const struct eg_child_slot *s = &ids->slot[id];

		if (s->used && !strcmp(s->tunnel, tunnel) && !strcmp(s->child, child))
			return id;
	}
	return 0;
}

uint32_t eg_child_id_alloc(struct eg_child_ids *ids, const char *tunnel, const char *child)
{
	uint32_t id = eg_child_id_find(ids, tunnel, child);

	if (id)
		return id;
	for (id = 1; id < EG_MAX_CHILDREN; id++) {
		struct eg_child_slot *s = &ids->slot[id];

		if (s->used)
			continue;
		s->used = true;
		snprintf(s->tunnel, sizeof(s->tunnel), "%s", tunnel);
		snprintf(s->child, sizeof(s->child), "%s", child);
		return id;
	}
	return 0;
}

void eg_child_id_release(struct eg_child_ids *ids, uint32_t id)
{
	if (id && id < EG_MAX_CHILDREN)
		memset(&ids->slot[id], 0, sizeof(ids->slot[id]));
}

int eg_selector_to_ts(const struct eg_selector *sel, struct ike_ts *ts)
{
	return ike_ts_from_prefix(ts, sel->net.af, sel->net.addr, sel->net.len, sel->proto,
				  sel->port_lo, sel->port_hi);
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void addr_to_ike(const struct eg_addr *a, uint16_t port, struct ike_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->af;
	out->port = port;
	memcpy(out->addr, a->addr, sizeof(out->addr));
}

static int resolve_fqdn(const char *fqdn, uint16_t port, struct ike_addr *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	int rc;

	rc = getaddrinfo(fqdn, NULL, &hints, &res);
	if (rc || !res)
		return -EHOSTUNREACH;
	memset(out, 0, sizeof(*out));
	out->port = port;
	if (res->ai_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->addr, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->addr, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
	}
	freeaddrinfo(res);
	return 0;
}

static void id_from_addr(const struct ike_addr *a, struct ike_id *id)
{
	memset(id, 0, sizeof(*id));
	if (a->family == AF_INET) {
		id->type = IKE_ID_IPV4_ADDR;
		id->len = 4;
	} else {
		id->type = IKE_ID_IPV6_ADDR;
		id->len = 16;
	}
	memcpy(id->data, a->addr, id->len);
}

static int id_to_ike(const struct eg_id *in, struct ike_id *out)
{
	memset(out, 0, sizeof(*out));
	if (in->len > sizeof(out->data))
		return -EINVAL;
	out->type = in->type;
	out->len = in->len;
	memcpy(out->data, in->data, in->len);
	return 0;
}

/* Parses a proposal string ("default" included) into out. */
static int props_parse(const char *str, uint8_t proto, bool weak, struct ike_prop_list *out,
		       bool *weak_used, char *err, size_t errlen, const char *what)
{
	char perr[IKE_PROP_ERR_LEN];
	unsigned int info = 0;
	int rc;

	rc = ike_prop_parse(str[0] ? str : "default", proto, weak ? IKE_PROP_ALLOW_WEAK : 0, out,
			    &info, perr, sizeof(perr));
	if (rc) {
		errf(err, errlen, "%s proposals '%s': %s", what, str, perr);
		return rc;
	}
	if (info & IKE_PROP_INFO_WEAK)
		*weak_used = true;
	return 0;
}

void eg_peerset_free(struct eg_peerset *ps)
{
	for (unsigned int i = 0; i < ps->n_peers; i++)
		ike_secret_free(&ps->peers[i].psk);
	free(ps->peers);
	free(ps->children);
	memset(ps, 0, sizeof(*ps));
}

static int build_child(const struct eg_tunnel *t, const struct eg_cfg_child *c, uint32_t child_id,
		       bool weak, struct ike_child_cfg *cc, bool *weak_used, char *err,
		       size_t errlen)
{
	char what[2 * EG_CFG_NAME_MAX + 32];
	int rc;

	memset(cc, 0, sizeof(*cc));
	snprintf(cc->name, sizeof(cc->name), "%s", c->name);
	cc->reqid = EG_REQID(child_id);
	cc->transport = c->mode == EG_CHILD_MODE_TRANSPORT;
	if (c->n_local > IKE_MAX_TS || c->n_remote > IKE_MAX_TS) {
		errf(err, errlen, "tunnel %s child %s: more than %d selectors", t->name, c->name,
		     IKE_MAX_TS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < c->n_local; i++)
		if (eg_selector_to_ts(&c->local[i], &cc->local_ts.ts[cc->local_ts.n++]))
			goto bad_ts;
	for (unsigned int i = 0; i < c->n_remote; i++)
		if (eg_selector_to_ts(&c->remote[i], &cc->remote_ts.ts[cc->remote_ts.n++]))
			goto bad_ts;
	snprintf(what, sizeof(what), "tunnel %s child %s esp", t->name, c->name);
	rc = props_parse(t->esp, IKE_PROTO_ESP, weak, &cc->esp, weak_used, err, errlen, what);
	if (rc)
		return rc;
	cc->life.lifetime_s = t->lifetime;
	cc->life.margin_s = t->rekey_margin;
	cc->life.fuzz_pct = t->rekey_fuzz;
	cc->life.bytes = t->life_bytes;
	cc->life.margin_bytes = t->life_bytes / 10;
	cc->life.packets = t->life_packets;
	cc->life.margin_packets = t->life_packets / 10;
	return 0;
bad_ts:
	errf(err, errlen, "tunnel %s child %s: invalid selector", t->name, c->name);
	return -EINVAL;
}

static int build_peer(const struct eg_config_file *cfg, const struct eg_tunnel *t,
		      struct eg_child_ids *ids, struct ike_peer_cfg *pc, struct ike_child_cfg *cc,
		      bool *weak_used, char *err, size_t errlen)
{
	const struct eg_global *g = &cfg->global;
	uint16_t port = t->peer_port ? t->peer_port : (g->ike_port ? g->ike_port : 500);
	bool weak = g->allow_weak_algorithms;
	char what[EG_CFG_NAME_MAX + 16];
	int rc;

	memset(pc, 0, sizeof(*pc));
	snprintf(pc->name, sizeof(pc->name), "%s", t->name);
	if (t->has_local_addr)
		addr_to_ike(&t->local_addr, g->ike_port ? g->ike_port : 500, &pc->local);
	else if (g->n_local_addrs)
		addr_to_ike(&g->local_addrs[0], g->ike_port ? g->ike_port : 500, &pc->local);
	switch (t->peer_kind) {
	case EG_PEER_ADDR:
		addr_to_ike(&t->peer_addr, port, &pc->remote);
		break;
	case EG_PEER_FQDN:
		if (resolve_fqdn(t->peer_fqdn, port, &pc->remote)) {
			errf(err, errlen, "tunnel %s: cannot resolve peer '%s'", t->name,
			     t->peer_fqdn);
			return -EHOSTUNREACH;
		}
		break;
	default:
		break; /* any: responder only */
	}
	if (t->local_id.type == EG_ID_AUTO) {
		if (!pc->local.family) {
			errf(err, errlen,
			     "tunnel %s: local id is derived from the local address, but none is "
			     "configured: set local_address or local_id",
			     t->name);
			return -EINVAL;
		}
		id_from_addr(&pc->local, &pc->local_id);
	} else if (id_to_ike(&t->local_id, &pc->local_id)) {
		goto bad_id;
	}
	if (t->remote_id.type == EG_ID_AUTO) {
		if (pc->remote.family)
			id_from_addr(&pc->remote, &pc->remote_id);
	} else if (id_to_ike(&t->remote_id, &pc->remote_id)) {
		goto bad_id;
	}
	if (!t->psk || ike_secret_set(&pc->psk, t->psk->key, t->psk->len)) {
		errf(err, errlen, "tunnel %s: no pre-shared key", t->name);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "tunnel %s ike", t->name);
	rc = props_parse(t->ike, IKE_PROTO_IKE, weak, &pc->ike, weak_used, err, errlen, what);
	if (rc)
		return rc;
	pc->ike_life.lifetime_s = t->ike_lifetime;
	pc->ike_life.margin_s = t->rekey_margin;
	pc->ike_life.fuzz_pct = t->rekey_fuzz;
	if (t->dpd_action != EG_DPD_NONE) {
		pc->dpd_delay_s = t->dpd_delay;
		pc->dpd_timeout_s = t->dpd_timeout;
	}
	pc->mode = t->mode == EG_MODE_INITIATOR_ONLY   ? IKE_CONN_INITIATOR_ONLY
		   : t->mode == EG_MODE_RESPONDER_ONLY ? IKE_CONN_RESPONDER_ONLY
						       : IKE_CONN_BOTH;
	if (!pc->remote.family)
		pc->mode = IKE_CONN_RESPONDER_ONLY;
	pc->strict_ts = t->strict_selectors;
	pc->weak = weak;
	pc->send_initial_contact = true;
	for (size_t i = 0; i < t->n_children; i++) {
		uint32_t id = eg_child_id_alloc(ids, t->name, t->children[i].name);

		if (!id) {
			errf(err, errlen, "tunnel %s: more than %d children in all", t->name,
			     EG_MAX_CHILDREN - 1);
			return -ENOSPC;
		}
		rc = build_child(t, &t->children[i], id, weak, &cc[i], weak_used, err, errlen);
		if (rc)
			return rc;
	}
	pc->n_children = (unsigned int)t->n_children;
	pc->children = cc;
	return 0;
bad_id:
	errf(err, errlen, "tunnel %s: identity too long", t->name);
	return -EINVAL;
}

int eg_peerset_build(const struct eg_config_file *cfg, struct eg_child_ids *ids,
		     struct eg_peerset *ps, char *err, size_t errlen)
{
	size_t n_children = 0, off = 0;
	int rc;

	memset(ps, 0, sizeof(*ps));
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		n_children += cfg->tunnels[i].n_children;
	ps->peers = calloc(cfg->n_tunnels ? cfg->n_tunnels : 1, sizeof(*ps->peers));
	ps->children = calloc(n_children ? n_children : 1, sizeof(*ps->children));
	if (!ps->peers || !ps->children) {
		eg_peerset_free(ps);
		return -ENOMEM;
	}
	ps->n_children = (unsigned int)n_children;
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		rc = build_peer(cfg, &cfg->tunnels[i], ids, &ps->peers[i], &ps->children[off],
				&ps->weak_used, err, errlen);
		ps->n_peers = (unsigned int)i + 1;
		if (rc) {
			eg_peerset_free(ps);
			return rc;
		}
		off += cfg->tunnels[i].n_children;
	}
	return 0;
}
