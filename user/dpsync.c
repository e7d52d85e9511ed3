// SPDX-License-Identifier: GPL-2.0-only
/*
 * The datapath as espgated drives it (see dpsync.h). A configuration becomes one generation of
 * map entries, built completely in memory first (so an unsupported rule changes nothing), then
 * written into the idle generation, switched in with one eg_config update and the previous
 * generation deleted. Per-child state that comes from SA events (inbound SPIs, negotiated
 * selectors, the UP flag) lives here too and survives reloads for every child whose datapath
 * configuration is unchanged; each child's configuration is summarised by a digest over the map
 * entries it produces (ids and priorities excluded, so renumbering never looks like a change).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "config.h"
#include "ctl.h"
#include "dp_maps.h"
#include "dpsync.h"
#include "espgate.skel.h"
#include "hostcfg.h"
#include "ike.h"
#include "ike_ts.h"
#include "loader.h"
#include "log.h"
#include "peercfg.h"
#include "policy.h"
#include "xfrm.h"

#define BPFFS_ROOT "/sys/fs/bpf"
#define NAT_IDS_PER_GEN (EG_MAX_NAT_RULES / 2)

/* Runtime state of one child id. */
struct dp_child {
	bool present;	 /* in the live generation */
	bool on_demand;	 /* its tunnel starts on demand */
	bool policy;	 /* the daemon confirmed its out policy and fallback */
	bool adopted;	 /* found valid in maps pinned by a previous espgated */
	uint64_t digest; /* its datapath configuration */
	struct eg_child ent;
	uint32_t n_spi;
	uint32_t spi[EG_DP_MAX_SPIS], spi_daddr[EG_DP_MAX_SPIS]; /* network order */
	char name[2 * EG_CFG_NAME_MAX];				 /* tunnel/child */
};

struct dp_pool_slot {
	bool used; /* by the live generation */
	uint32_t addr;
	uint16_t lo, hi;
};

struct dp_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool xdp; /* native XDP (else tc_eg_nat alone) */
	bool tc;
	bool tcx;    /* tc through a tcx link (else clsact) */
	int tc_link; /* that link's fd while tcx */
};

struct eg_dp {
	struct ldr l;
	struct dp_maps m;
	bool pinned;
	bool tc_clsact; /* EG_DP_TC_CLSACT */
	char pin_root[PATH_MAX];
	uint32_t gen;
	uint32_t n_rules[2]; /* NAT rule ids written per generation */
	uint16_t mtu;
	struct dp_iface ifs[EG_DP_MAX_IFS];
	unsigned int n_ifs;
	bool no_attach;				       /* EG_DP_NO_ATTACH */
	char tunnels[EG_MAX_TUNNELS][EG_CFG_NAME_MAX]; /* tunnel id - 1 -> name, stable */
	struct dp_pool_slot pools[EG_MAX_POOLS];
	struct dp_child ch[EG_MAX_CHILDREN];
};

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

static uint32_t pmask(unsigned int len)
{
	return len ? htonl(~0u << (32 - len)) : 0;
}

static uint32_t paddr(const struct eg_prefix *p)
{
	uint32_t a;

	memcpy(&a, p->addr, 4);
	return a & pmask(p->len);
}

/* Does prefix a contain prefix b? */
static bool pcontains(uint32_t a, unsigned int alen, uint32_t b, unsigned int blen)
{
	return alen <= blen && (b & pmask(alen)) == a;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the generation in memory --------------------------------------------------------------- */

struct gb_dnat {
	uint32_t child;
	uint8_t proto;
	uint32_t addr, to_addr;
	uint16_t port, to_port;
};

struct gb_rnm {
	uint32_t child, inside, remote;
	uint8_t plen;
};

struct gb_child {
	bool present;
	uint32_t tunnel_idx;
	struct eg_child ent; /* flags without UP, nat_rule = index into rules + 1 */
	uint64_t digest;
};

struct gbuild {
	struct dp_sel *sels;
	size_t n_sels, cap_sels;
	struct gb_dnat *dnat;
	size_t n_dnat, cap_dnat;
	struct gb_rnm *rnm;
	size_t n_rnm, cap_rnm;
	struct eg_nat_rule *rules; /* rules[i] becomes id base + i + 1 */
	size_t n_rules, cap_rules;
	struct dp_pool_slot want[EG_MAX_POOLS]; /* pools the rules reference, by want index */
	unsigned int n_want;
	uint32_t masq_rule;  /* index + 1 into rules */
	struct gb_child *ch; /* by child id */
	uint16_t tunnel_id[EG_CFG_MAX_TUNNELS];
};

static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
	void *np;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 64;
	np = realloc(*p, nc * sz);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

static void gb_free(struct gbuild *g)
{
	free(g->sels);
	free(g->dnat);
	free(g->rnm);
	free(g->rules);
	free(g->ch);
}

/* A pool for (addr, lo, hi); its want index. */
static int gb_pool(struct gbuild *g, uint32_t addr, uint16_t lo, uint16_t hi, uint32_t *idx)
{
	for (unsigned int i = 0; i < g->n_want; i++) {
		if (g->want[i].addr == addr) {
			if (g->want[i].lo != lo || g->want[i].hi != hi)
				return -EINVAL; /* one address, two port ranges */
			*idx = i;
			return 0;
		}
	}
	if (g->n_want >= EG_MAX_POOLS)
		return -ENOSPC;
	g->want[g->n_want] =
		(struct dp_pool_slot){ .used = true, .addr = addr, .lo = lo, .hi = hi };
	*idx = g->n_want++;
	return 0;
}

static int gb_rule(struct gbuild *g, const struct eg_nat_rule *r, uint32_t *ref)
{
	if (g->n_rules >= NAT_IDS_PER_GEN - 1)
		return -ENOSPC;
	if (grow((void **)&g->rules, &g->cap_rules, g->n_rules, sizeof(*r)))
		return -ENOMEM;
	g->rules[g->n_rules++] = *r;
	*ref = (uint32_t)g->n_rules;
	return 0;
}

/*
 * The smallest prefix covering every prefix of the list, and whether it covers nothing else
 * (then one eg_nat_rule inside prefix is exact).
 */
static bool cover(const struct eg_prefix *ps, unsigned int n, uint32_t *addr, uint8_t *len)
{
	uint64_t sum = 0, span;
	uint32_t a = paddr(&ps[0]);
	unsigned int l = ps[0].len;

	for (unsigned int i = 1; i < n; i++)
		while (l && !pcontains(a, l, paddr(&ps[i]), ps[i].len))
			a &= pmask(--l);
	for (unsigned int i = 0; i < n; i++) {
		bool dup = false;

		/* overlapping prefixes of the list are counted once (the config refuses them
		 * today; stay exact anyway) */
		for (unsigned int j = 0; j < n && !dup; j++)
			dup = j != i &&
			      pcontains(paddr(&ps[j]), ps[j].len, paddr(&ps[i]), ps[i].len) &&
			      (ps[j].len < ps[i].len || j < i);
		if (!dup)
			sum += 1ull << (32 - ps[i].len);
	}
	span = 1ull << (32 - l);
	*addr = a;
	*len = (uint8_t)l;
	return sum == span;
}

static uint16_t child_mss(uint16_t mtu, bool transport)
{
	int mss = (int)mtu - 40 - EG_DP_ESP_OVERHEAD + (transport ? 20 : 0);

	return (uint16_t)(mss < 536 ? 536 : mss);
}

/* Appends one classifier candidate of child and folds it into the child's digest. */
static int gb_sel(struct gbuild *g, struct gb_child *gc, const struct dp_sel *s)
{
	struct dp_sel d = *s;

	if (grow((void **)&g->sels, &g->cap_sels, g->n_sels, sizeof(*s)))
		return -ENOMEM;
	g->sels[g->n_sels++] = *s;
	d.order = 0;
	d.prio = 0;
	d.tunnel = 0;
	gc->digest = fnv(gc->digest, &d, sizeof(d));
	return 0;
}

/*
 * The inside sources of local selector L: what our network sends that leaves as L after the
 * child's source NAT rule (sn), plus L itself when the rule does not cover all of it (traffic
 * from those addresses is not translated, as the XFRM policy on L carries it).
 */
static unsigned int sources(const struct eg_selector *L, const struct eg_cfg_nat_rule *sn,
			    uint32_t *sa, uint8_t *sl, unsigned int max)
{
	uint32_t la = paddr(&L->net), oa;
	unsigned int n = 0, ll = L->net.len;
	bool covered = false;

	if (sn && (sn->type == EG_CFG_NAT_SNAT || sn->type == EG_CFG_NAT_NETMAP)) {
		oa = paddr(&sn->outside);
		if (pcontains(la, ll, oa, sn->outside.len)) { /* the rule's outside lies in L */
			sa[n] = paddr(&sn->inside);
			sl[n++] = sn->inside.len;
			covered = sn->outside.len == ll;
		} else if (pcontains(oa, sn->outside.len, la, ll)) { /* L is part of the outside */
			sa[n] = paddr(&sn->inside) | (la & ~pmask(sn->outside.len));
			sl[n++] = (uint8_t)ll;
			covered = true;
		}
	} else if (sn && sn->type == EG_CFG_NAT_POOL) {
		oa = paddr(&sn->outside);
		if (pcontains(la, ll, oa, 32)) {
			for (unsigned int i = 0; i < sn->n_pool_inside && n < max - 1; i++) {
				sa[n] = paddr(&sn->pool_inside[i]);
				sl[n++] = sn->pool_inside[i].len;
			}
			covered = ll == 32;
		}
	}
	if (!covered) {
		sa[n] = la;
		sl[n++] = (uint8_t)ll;
	}
	return n;
}

static void allow_fill(struct eg_allow *a, const struct eg_cfg_allow_rule *r)
{
	memset(a, 0, sizeof(*a));
	a->dir = r->dir == EG_CFG_ALLOW_OUT  ? EG_ALLOW_OUT
		 : r->dir == EG_CFG_ALLOW_IN ? EG_ALLOW_IN
					     : EG_ALLOW_OUT | EG_ALLOW_IN;
	a->proto = r->proto;
	a->port_lo = htons(r->port_lo);
	a->port_hi = htons(r->port_hi);
	if (r->has_local) {
		a->local_mask = pmask(r->local.len);
		a->local_addr = paddr(&r->local);
	}
	if (r->has_remote) {
		a->remote_mask = pmask(r->remote.len);
		a->remote_addr = paddr(&r->remote);
	}
}

static int build_child(struct eg_dp *dp, struct gbuild *g, const struct eg_tunnel *t, uint32_t ti,
		       const struct eg_cfg_child *c, uint32_t id, unsigned int *order, char *err,
		       size_t errlen)
{
	struct gb_child *gc = &g->ch[id];
	const struct eg_cfg_nat_rule *sn = NULL;
	struct eg_nat_rule nr;
	unsigned int used = 0;
	uint32_t pidx;
	int rc;

	if (gc->present) {
		errf(err, errlen, "tunnel %s child %s: child id %u used twice", t->name, c->name,
		     id);
		return -EINVAL;
	}
	gc->present = true;
	gc->tunnel_idx = ti;
	gc->digest = 0xcbf29ce484222325ull;
	memset(&gc->ent, 0, sizeof(gc->ent));
	gc->ent.flags = EG_CHILD_VALID | (t->strict_selectors ? EG_CHILD_STRICT : 0) |
			(c->direction == EG_DIR_ONE_WAY ? EG_CHILD_ONE_WAY : 0) |
			(c->mode == EG_CHILD_MODE_TRANSPORT ? EG_CHILD_TRANSPORT : 0);
	gc->ent.mss = child_mss(dp->mtu, c->mode == EG_CHILD_MODE_TRANSPORT);
	if (c->n_allow > EG_MAX_CHILD_ALLOW) {
		errf(err, errlen,
		     "tunnel %s child %s: %u allow rules, the datapath holds %d per child", t->name,
		     c->name, c->n_allow, EG_MAX_CHILD_ALLOW);
		return -E2BIG;
	}
	gc->ent.n_allow = c->n_allow;
	for (unsigned int i = 0; i < c->n_allow; i++)
		allow_fill(&gc->ent.allow[i], &c->allow[i]);

	for (unsigned int i = 0; i < c->n_nat; i++) {
		const struct eg_cfg_nat_rule *r = &c->nat[i];
		struct gb_dnat d = { 0 };
		struct gb_rnm rn = { 0 };

		bool v4 = r->outside.af == AF_INET &&
			  (r->type == EG_CFG_NAT_POOL ? r->n_pool_inside > 0
						      : r->inside.af == AF_INET);

		for (unsigned int k = 0; r->type == EG_CFG_NAT_POOL && k < r->n_pool_inside; k++)
			v4 &= r->pool_inside[k].af == AF_INET;
		if (!v4) {
			errf(err, errlen, "tunnel %s child %s: NAT rule (line %u) is not IPv4",
			     t->name, c->name, r->line);
			return -EOPNOTSUPP;
		}
		switch (r->type) {
		case EG_CFG_NAT_SNAT:
		case EG_CFG_NAT_NETMAP:
		case EG_CFG_NAT_POOL:
			if (sn) {
				errf(err, errlen,
				     "tunnel %s child %s: NAT rule at line %u: the datapath applies "
				     "one snat/netmap/pool rule per child (the first is at line %u); "
				     "split the child",
				     t->name, c->name, r->line, sn->line);
				return -EOPNOTSUPP;
			}
			sn = r;
			break;
		case EG_CFG_NAT_REMOTE_NETMAP:
			rn.child = id;
			rn.inside = paddr(&r->inside);
			rn.remote = paddr(&r->outside);
			rn.plen = r->inside.len;
			if (r->inside.len != r->outside.len) {
				errf(err, errlen,
				     "tunnel %s child %s: remote-netmap at line %u maps /%u onto /%u",
				     t->name, c->name, r->line, r->outside.len, r->inside.len);
				return -EINVAL;
			}
			if (grow((void **)&g->rnm, &g->cap_rnm, g->n_rnm, sizeof(rn)))
				return -ENOMEM;
			g->rnm[g->n_rnm++] = rn;
			gc->digest = fnv(gc->digest, &rn, sizeof(rn));
			break;
		case EG_CFG_NAT_PUBLISH:
		case EG_CFG_NAT_FORWARD:
			/* publish: the partner opens outside:port, reaching inside:port (keyed by
			 * the child); forward: our clients open inside:port, reaching the
			 * partner's outside:port (inside DNAT, child 0) */
			d.proto = r->proto;
			if (r->type == EG_CFG_NAT_PUBLISH) {
				d.child = id;
				d.addr = paddr(&r->outside);
				d.port = r->outside_port;
				d.to_addr = paddr(&r->inside);
				d.to_port = r->inside_port;
			} else {
				d.addr = paddr(&r->inside);
				d.port = r->inside_port;
				d.to_addr = paddr(&r->outside);
				d.to_port = r->outside_port;
			}
			for (size_t k = 0; k < g->n_dnat; k++) {
				if (g->dnat[k].child == d.child && g->dnat[k].addr == d.addr &&
				    g->dnat[k].port == d.port && g->dnat[k].proto == d.proto) {
					errf(err, errlen,
					     "tunnel %s child %s: NAT rule at line %u claims an "
					     "address:port another publish/forward rule already has",
					     t->name, c->name, r->line);
					return -EINVAL;
				}
			}
			if (grow((void **)&g->dnat, &g->cap_dnat, g->n_dnat, sizeof(d)))
				return -ENOMEM;
			g->dnat[g->n_dnat++] = d;
			gc->digest = fnv(gc->digest, &d, sizeof(d));
			break;
		default:
			errf(err, errlen, "tunnel %s child %s: unknown NAT rule type %u", t->name,
			     c->name, r->type);
			return -EINVAL;
		}
	}
	if (sn) {
		memset(&nr, 0, sizeof(nr));
		if (sn->type == EG_CFG_NAT_POOL) {
			uint8_t clen;

			nr.type = EG_NAT_SNAT_POOL;
			/* Only this child's pool sources are classified into it, plus sources
			 * of its local selectors the pool's address does not cover: the inside
			 * prefix must be exact when the pool has several. */
			if (!cover(sn->pool_inside, sn->n_pool_inside, &nr.inside_addr, &clen)) {
				errf(err, errlen,
				     "tunnel %s child %s: pool at line %u: its inside prefixes are "
				     "not one aligned block (the datapath keeps one inside prefix per "
				     "pool): list them as one prefix or split the child",
				     t->name, c->name, sn->line);
				return -EOPNOTSUPP;
			}
			nr.inside_mask = pmask(clen);
			rc = gb_pool(g, paddr(&sn->outside), sn->port_lo, sn->port_hi, &pidx);
			if (rc) {
				errf(err, errlen, "tunnel %s child %s: pool at line %u: %s",
				     t->name, c->name, sn->line,
				     rc == -ENOSPC
					     ? "more than 64 pool addresses in all"
					     : "its address has another port range elsewhere");
				return rc;
			}
			nr.pool = pidx; /* want index, made a pool index at write time */
			nr.outside_addr = paddr(&sn->outside);
			nr.outside_mask = pmask(32);
		} else {
			nr.type = sn->type == EG_CFG_NAT_SNAT ? EG_NAT_SNAT_HOST : EG_NAT_PREFIX;
			if (sn->inside.len != sn->outside.len) {
				errf(err, errlen,
				     "tunnel %s child %s: %s at line %u maps /%u onto /%u", t->name,
				     c->name, sn->type == EG_CFG_NAT_SNAT ? "snat" : "netmap",
				     sn->line, sn->inside.len, sn->outside.len);
				return -EINVAL;
			}
			nr.inside_mask = pmask(sn->inside.len);
			nr.inside_addr = paddr(&sn->inside);
			nr.outside_mask = pmask(sn->outside.len);
			nr.outside_addr = paddr(&sn->outside);
		}
		gc->digest = fnv(gc->digest, &nr, sizeof(nr));
		if (sn->type == EG_CFG_NAT_POOL)
			gc->digest = fnv(gc->digest, &g->want[pidx], sizeof(g->want[pidx]));
		rc = gb_rule(g, &nr, &gc->ent.nat_rule);
		if (rc) {
			errf(err, errlen, "too many NAT rules");
			return rc;
		}
	}

	/* Classifier candidates: every (local, remote) pair, as eg_ipsec_child_policies()
	 * orders them, with the inside sources of the local selector. */
	for (unsigned int i = 0; i < c->n_local; i++) {
		for (unsigned int j = 0; j < c->n_remote; j++) {
			const struct eg_selector *L = &c->local[i], *R = &c->remote[j];
			unsigned int ord = *order + used < EG_PRIO_MAX_ORDER
						   ? *order + used
						   : EG_PRIO_MAX_ORDER - 1;
			uint32_t sa[EG_CFG_MAX_POOL_INSIDE + 1], prio;
			uint8_t sl[EG_CFG_MAX_POOL_INSIDE + 1];
			unsigned int ns;

			if (L->net.af != R->net.af)
				continue;
			if (L->net.af != AF_INET) {
				errf(err, errlen,
				     "tunnel %s child %s: IPv6 selectors are not supported by the "
				     "datapath yet",
				     t->name, c->name);
				return -EOPNOTSUPP;
			}
			prio = eg_policy_priority(L, R, ord);
			if (!prio) {
				errf(err, errlen, "tunnel %s child %s: selector out of range",
				     t->name, c->name);
				return -EINVAL;
			}
			used++;
			ns = sources(L, sn, sa, sl, EG_CFG_MAX_POOL_INSIDE + 1);
			for (unsigned int k = 0; k < ns; k++) {
				struct dp_sel s;

				memset(&s, 0, sizeof(s));
				s.child = id;
				s.tunnel = g->tunnel_id[ti];
				s.order = ord;
				s.prio = prio;
				s.saddr = sa[k];
				s.splen = sl[k];
				s.daddr = paddr(&R->net);
				s.dplen = R->net.len;
				s.proto = L->proto ? L->proto : R->proto;
				s.sport_lo = L->port_lo;
				s.sport_hi = L->port_hi;
				s.dport_lo = R->port_lo;
				s.dport_hi = R->port_hi;
				rc = gb_sel(g, gc, &s);
				if (rc)
					return rc;
			}
		}
	}
	*order += used;
	gc->digest = fnv(gc->digest, &gc->ent, sizeof(gc->ent));
	gc->digest = fnv(gc->digest, &t->start, sizeof(t->start));
	return 0;
}

/* Stable tunnel ids: a tunnel keeps its id while its name is configured. */
static int tunnel_ids(struct eg_dp *dp, const struct eg_config_file *cfg, struct gbuild *g,
		      char *err, size_t errlen)
{
	bool keep[EG_MAX_TUNNELS] = { false };

	for (size_t i = 0; i < cfg->n_tunnels; i++)
		for (unsigned int k = 0; k < EG_MAX_TUNNELS; k++)
			if (!strcmp(dp->tunnels[k], cfg->tunnels[i].name)) {
				keep[k] = true;
				g->tunnel_id[i] = (uint16_t)(k + 1);
			}
	for (unsigned int k = 0; k < EG_MAX_TUNNELS; k++)
		if (!keep[k])
			dp->tunnels[k][0] = 0;
	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		unsigned int k;

		if (g->tunnel_id[i])
			continue;
		for (k = 0; k < EG_MAX_TUNNELS && dp->tunnels[k][0]; k++)
			;
		if (k == EG_MAX_TUNNELS) {
			errf(err, errlen, "more than %d tunnels", EG_MAX_TUNNELS);
			return -ENOSPC;
		}
		snprintf(dp->tunnels[k], sizeof(dp->tunnels[k]), "%s", cfg->tunnels[i].name);
		g->tunnel_id[i] = (uint16_t)(k + 1);
	}
	return 0;
}

static int build(struct eg_dp *dp, const struct eg_config_file *cfg, const struct eg_child_ids *ids,
		 struct gbuild *g, char *err, size_t errlen)
{
	unsigned int order = 0;
	int rc;

	memset(g, 0, sizeof(*g));
	g->ch = calloc(EG_MAX_CHILDREN, sizeof(*g->ch));
	if (!g->ch)
		return -ENOMEM;
	if (cfg->n_tunnels > EG_CFG_MAX_TUNNELS) {
		errf(err, errlen, "more than %d tunnels", EG_CFG_MAX_TUNNELS);
		return -E2BIG;
	}
	rc = tunnel_ids(dp, cfg, g, err, errlen);
	if (rc)
		return rc;
	for (size_t ti = 0; ti < cfg->n_tunnels; ti++) {
		const struct eg_tunnel *t = &cfg->tunnels[ti];

		for (size_t ci = 0; ci < t->n_children; ci++) {
			const struct eg_cfg_child *c = &t->children[ci];
			uint32_t id = eg_child_id_find(ids, t->name, c->name);

			if (!id || id >= EG_MAX_CHILDREN) {
				errf(err, errlen, "tunnel %s child %s has no child id", t->name,
				     c->name);
				return -EINVAL;
			}
			rc = build_child(dp, g, t, (uint32_t)ti, c, id, &order, err, errlen);
			if (rc)
				return rc;
		}
	}
	if (cfg->n_masq > 1) {
		errf(err, errlen,
		     "masquerade: %zu rules; the datapath applies one (list every inside prefix "
		     "under one rule)",
		     cfg->n_masq);
		return -EOPNOTSUPP;
	}
	if (cfg->n_masq == 1) {
		const struct eg_masq_rule *mq = &cfg->masq[0];
		struct eg_nat_rule nr;
		uint32_t pidx, oa;
		uint8_t clen;

		memset(&nr, 0, sizeof(nr));
		if (mq->outside.af != AF_INET || !mq->n_inside) {
			errf(err, errlen, "masquerade (line %u): IPv4 only", mq->line);
			return -EOPNOTSUPP;
		}
		if (!cover(mq->inside, mq->n_inside, &nr.inside_addr, &clen)) {
			errf(err, errlen,
			     "masquerade (line %u): the inside prefixes are not one aligned block "
			     "(the datapath keeps one inside prefix)",
			     mq->line);
			return -EOPNOTSUPP;
		}
		nr.inside_mask = pmask(clen);
		nr.type = EG_NAT_MASQ;
		memcpy(&oa, mq->outside.addr, 4);
		rc = gb_pool(g, oa, mq->port_lo, mq->port_hi, &pidx);
		if (rc) {
			errf(err, errlen,
			     "masquerade (line %u): its address has another port range", mq->line);
			return rc;
		}
		nr.pool = pidx;
		nr.outside_addr = oa;
		nr.outside_mask = pmask(32);
		rc = gb_rule(g, &nr, &g->masq_rule);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- writing ------------------------------------------------------------------------------------ */

static int dnat_clear(struct eg_dp *dp, uint32_t gen)
{
	struct eg_dnat_key k, next, *prev = NULL, *dels = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	while (!bpf_map_get_next_key(dp->m.dnat, prev, &next)) {
		if (next.gen == gen) {
			if (grow((void **)&dels, &cap, n, sizeof(*dels))) {
				rc = -ENOMEM;
				break;
			}
			dels[n++] = next;
		}
		k = next;
		prev = &k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(dp->m.dnat, &dels[i]);
	free(dels);
	return rc;
}

static void rules_clear(struct eg_dp *dp, uint32_t gen)
{
	struct eg_nat_rule z;

	memset(&z, 0, sizeof(z));
	for (uint32_t i = 0; i < dp->n_rules[gen]; i++)
		dp_nat_rule_write(&dp->m, gen * NAT_IDS_PER_GEN + i + 1, &z);
	dp->n_rules[gen] = 0;
}

/* Pools referenced by conntrack entries (bit i = pool i). */
static uint64_t ct_pools_in_use(struct eg_dp *dp)
{
	struct eg_ct_key k, next, *prev = NULL;
	uint64_t mask = 0;
	struct eg_ct_val v;

	while (!bpf_map_get_next_key(dp->m.ct, prev, &next)) {
		if (!bpf_map_lookup_elem(dp->m.ct, &next, &v) && v.pool && v.pool <= EG_MAX_POOLS)
			mask |= 1ull << (v.pool - 1);
		k = next;
		prev = &k;
	}
	return mask;
}

/* Deletes the conntrack pairs of the children whose bit is set in `flush` (indexed by child
 * id) and frees their pool ports. */
static long ct_flush(struct eg_dp *dp, const uint8_t *flush)
{
	struct eg_ct_key k, next, *prev = NULL, *dels = NULL;
	size_t n = 0, cap = 0;
	struct eg_ct_val v;
	long flows = 0;

	while (!bpf_map_get_next_key(dp->m.ct, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(dp->m.ct, &k, &v) || !v.child ||
		    v.child >= EG_MAX_CHILDREN || !flush[v.child])
			continue;
		if (grow((void **)&dels, &cap, n, sizeof(*dels))) {
			free(dels);
			return -ENOMEM;
		}
		dels[n++] = k;
		if (!(v.flags & EG_CT_REPLY)) {
			flows++;
			if (v.pool)
				dp_pool_set(&dp->m, v.pool - 1u, ntohs(v.xlate.sport), false);
		}
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(dp->m.ct, &dels[i]);
	free(dels);
	return flows;
}

static uint32_t child_flags(const struct dp_child *c)
{
	uint32_t f = c->ent.flags & ~(uint32_t)EG_CHILD_UP;

	if (c->present && c->policy && (c->n_spi || c->on_demand))
		f |= EG_CHILD_UP;
	return f;
}

static int child_write(struct eg_dp *dp, uint32_t id)
{
	struct dp_child *c = &dp->ch[id];

	c->ent.flags = child_flags(c);
	return dp_child_write(&dp->m, id, &c->ent);
}

static void spis_drop(struct eg_dp *dp, struct dp_child *c)
{
	for (uint32_t i = 0; i < c->n_spi; i++) {
		struct eg_spi_key k = { .spi = c->spi[i], .daddr = c->spi_daddr[i] };

		bpf_map_delete_elem(dp->m.spis, &k);
	}
	c->n_spi = 0;
}

/* The eg1 tc_eg_nat is attached to (0: none), for eg_config.hairpin_ifindex. */
static uint32_t hairpin_ifindex(const struct eg_dp *dp)
{
	for (unsigned int i = 0; i < dp->n_ifs; i++)
		if (!strcmp(dp->ifs[i].name, EG_HAIRPIN_IN))
			return (uint32_t)dp->ifs[i].ifindex;
	return 0;
}

/* eg_config.hairpin_ifindex follows eg1 as it is attached, re-created or removed. */
static int hairpin_config(struct eg_dp *dp)
{
	uint32_t ifindex = hairpin_ifindex(dp);
	struct eg_config ec;

	if (dp_config_read(&dp->m, &ec))
		memset(&ec, 0, sizeof(ec));
	if (ec.hairpin_ifindex == ifindex)
		return 0;
	ec.hairpin_ifindex = ifindex;
	return dp_config_write(&dp->m, &ec);
}

int eg_dp_apply(struct eg_dp *dp, const struct eg_config_file *cfg, const struct eg_child_ids *ids,
		char *err, size_t errlen)
{
	uint32_t ng = dp->gen ^ 1, og = dp->gen, base = ng * NAT_IDS_PER_GEN;
	uint32_t pool_of[EG_MAX_POOLS];
	uint8_t *flush = NULL;
	struct eg_config ec;
	struct gbuild g;
	uint64_t busy;
	size_t nflush = 0;
	int rc;

	rc = build(dp, cfg, ids, &g, err, errlen);
	if (rc)
		goto out;
	flush = calloc(EG_MAX_CHILDREN, 1);
	if (!flush) {
		rc = -ENOMEM;
		goto out;
	}

	/* Pools: an address keeps its index (and its ports in use); a new one takes an index
	 * neither the live configuration nor any conntrack entry holds. */
	busy = ct_pools_in_use(dp);
	for (unsigned int w = 0; w < g.n_want; w++) {
		unsigned int i;

		for (i = 0; i < EG_MAX_POOLS; i++)
			if (dp->pools[i].addr == g.want[w].addr &&
			    dp->pools[i].lo == g.want[w].lo && dp->pools[i].hi == g.want[w].hi)
				break;
		pool_of[w] = i;
	}
	for (unsigned int i = 0; i < EG_MAX_POOLS; i++)
		dp->pools[i].used = false;
	for (unsigned int w = 0; w < g.n_want; w++)
		if (pool_of[w] < EG_MAX_POOLS)
			dp->pools[pool_of[w]].used = true;
	for (unsigned int w = 0; w < g.n_want; w++) {
		unsigned int i;

		if (pool_of[w] < EG_MAX_POOLS)
			continue;
		for (i = 0; i < EG_MAX_POOLS; i++)
			if (!dp->pools[i].used && !(busy & (1ull << i)))
				break;
		if (i == EG_MAX_POOLS) {
			errf(err, errlen, "no free port pool (%d in use or draining)",
			     EG_MAX_POOLS);
			rc = -ENOSPC;
			goto out;
		}
		rc = dp_pool_write(&dp->m, i, g.want[w].addr, g.want[w].lo, g.want[w].hi);
		if (rc) {
			errf(err, errlen, "writing port pool %u: %s", i, strerror(-rc));
			goto out;
		}
		dp->pools[i] = g.want[w];
		pool_of[w] = i;
	}

	/* Leftovers of an interrupted apply in the idle generation. */
	dp_sel_clear(&dp->m, ng);
	dp_rnetmap_clear(&dp->m, ng);
	dnat_clear(dp, ng);
	rules_clear(dp, ng);

	for (size_t i = 0; i < g.n_rules; i++) {
		if (g.rules[i].type == EG_NAT_SNAT_POOL || g.rules[i].type == EG_NAT_MASQ)
			g.rules[i].pool = pool_of[g.rules[i].pool];
		rc = dp_nat_rule_write(&dp->m, base + (uint32_t)i + 1, &g.rules[i]);
		if (rc) {
			errf(err, errlen, "writing NAT rule: %s", strerror(-rc));
			goto out;
		}
		dp->n_rules[ng] = (uint32_t)i + 1;
	}

	/* Children. A changed one loses its SA state and is written down (not UP) before the
	 * switch, so the old generation's classifier can only drop into it. */
	for (uint32_t id = 1; id < EG_MAX_CHILDREN; id++) {
		struct gb_child *gc = &g.ch[id];
		struct dp_child *c = &dp->ch[id];
		const struct eg_tunnel *t;

		if (!gc->present)
			continue;
		t = &cfg->tunnels[gc->tunnel_idx];
		if (c->present && c->digest != gc->digest) {
			spis_drop(dp, c);
			flush[id] = 1;
			nflush++;
		}
		/* an adopted child keeps what the previous espgated had (SPIs, selectors) */
		c->ent = gc->ent;
		c->ent.tunnel_id = g.tunnel_id[gc->tunnel_idx];
		if (gc->ent.nat_rule)
			c->ent.nat_rule = base + gc->ent.nat_rule;
		if (!c->n_spi) {
			c->ent.n_ts = 0;
			memset(c->ent.ts, 0, sizeof(c->ent.ts));
		} else {
			struct eg_child old;

			if (!bpf_map_lookup_elem(dp->m.children, &id, &old)) {
				c->ent.n_ts = old.n_ts;
				memcpy(c->ent.ts, old.ts, sizeof(old.ts));
			}
		}
		c->digest = gc->digest;
		c->adopted = false;
		c->on_demand = t->start == EG_START_ON_DEMAND;
		snprintf(c->name, sizeof(c->name), "%s/%s", t->name,
			 ids->slot[id].used ? ids->slot[id].child : "?");
		c->present = flush[id] ? false : true; /* changed: down until the switch */
		rc = child_write(dp, id);
		c->present = true;
		if (rc) {
			errf(err, errlen, "writing child %u: %s", id, strerror(-rc));
			goto out;
		}
	}

	rc = dp_sel_write(&dp->m, ng, g.sels, g.n_sels);
	if (rc) {
		errf(err, errlen,
		     rc == -E2BIG ? "more than %d selectors cover one destination prefix"
				  : "writing the classifier: error %d",
		     rc == -E2BIG ? EG_SEL_CANDS : rc);
		goto out;
	}
	for (size_t i = 0; i < g.n_dnat; i++) {
		const struct gb_dnat *d = &g.dnat[i];

		rc = dp_dnat_write(&dp->m, ng, d->child, d->proto, d->addr, d->port, d->to_addr,
				   d->to_port);
		if (rc) {
			errf(err, errlen, "writing DNAT: %s", strerror(-rc));
			goto out;
		}
	}
	for (size_t i = 0; i < g.n_rnm; i++) {
		const struct gb_rnm *r = &g.rnm[i];

		rc = dp_rnetmap_write(&dp->m, ng, r->child, r->inside, r->remote, r->plen);
		if (rc) {
			errf(err, errlen, "writing remote-netmap: %s", strerror(-rc));
			goto out;
		}
	}

	/* The switch: one update. */
	memset(&ec, 0, sizeof(ec));
	if (dp_config_read(&dp->m, &ec))
		memset(&ec, 0, sizeof(ec));
	ec.gen = ng;
	ec.flags |= EG_CFG_ENABLED | EG_CFG_SA_CHECK;
	ec.hairpin_ifindex = hairpin_ifindex(dp);
	if (!ec.ike_rate) {
		ec.ike_rate = EG_DP_IKE_RATE;
		ec.ike_burst = EG_DP_IKE_BURST;
	}
	ec.masq_rule = g.masq_rule ? base + g.masq_rule : 0;
	rc = dp_config_write(&dp->m, &ec);
	if (rc) {
		errf(err, errlen, "switching generations: %s", strerror(-rc));
		goto out;
	}
	dp->gen = ng;

	/* After the switch: the old generation, removed children, changed children's flows. */
	dp_sel_clear(&dp->m, og);
	dp_rnetmap_clear(&dp->m, og);
	dnat_clear(dp, og);
	rules_clear(dp, og);
	for (uint32_t id = 1; id < EG_MAX_CHILDREN; id++) {
		struct dp_child *c = &dp->ch[id];

		if (g.ch[id].present) {
			if (flush[id])
				child_write(dp, id); /* UP again if on demand with its policy */
			continue;
		}
		if (!c->present && !c->n_spi && !c->adopted)
			continue;
		spis_drop(dp, c);
		memset(c, 0, sizeof(*c));
		dp_child_write(&dp->m, id, &c->ent);
		flush[id] = 1;
		nflush++;
	}
	if (nflush)
		ct_flush(dp, flush);
	log_info("datapath: generation %u live: %zu selectors, %zu NAT rules, %zu DNAT, %zu "
		 "remote-netmap%s",
		 ng, g.n_sels, g.n_rules, g.n_dnat, g.n_rnm, g.masq_rule ? ", masquerade" : "");
	rc = 0;
out:
	free(flush);
	gb_free(&g);
	return rc;
}

/* ---- SA events -------------------------------------------------------------------------------- */

int eg_dp_child_policy(struct eg_dp *dp, uint32_t child_id, bool installed)
{
	if (!child_id || child_id >= EG_MAX_CHILDREN)
		return -EINVAL;
	dp->ch[child_id].policy = installed;
	if (!dp->ch[child_id].present)
		return 0;
	return child_write(dp, child_id);
}

/* Negotiated selector pairs as eg_ts prefixes (IPv4 only; an IPv6 pair selects nothing here). */
static int ts_build(const struct ike_ts_list *tl, const struct ike_ts_list *tr, struct eg_ts *out,
		    uint32_t *n)
{
	*n = 0;
	for (unsigned int i = 0; i < tl->n; i++) {
		for (unsigned int j = 0; j < tr->n; j++) {
			const struct ike_ts *l = &tl->ts[i], *r = &tr->ts[j];
			struct ike_prefix lp[64], rp[64];
			unsigned int nl, nr;
			uint8_t proto;

			if (l->type != IKE_TS_IPV4_ADDR_RANGE || r->type != IKE_TS_IPV4_ADDR_RANGE)
				continue;
			if (l->proto && r->proto && l->proto != r->proto)
				continue;
			proto = l->proto ? l->proto : r->proto;
			if (ike_ts_to_prefixes(l, lp, 64, &nl) ||
			    ike_ts_to_prefixes(r, rp, 64, &nr))
				return -E2BIG;
			for (unsigned int a = 0; a < nl; a++) {
				for (unsigned int b = 0; b < nr; b++) {
					struct eg_ts *s;

					if (*n >= EG_MAX_CHILD_TS)
						return -E2BIG;
					s = &out[(*n)++];
					memset(s, 0, sizeof(*s));
					s->local_mask = pmask(lp[a].plen);
					memcpy(&s->local_addr, lp[a].addr, 4);
					s->local_addr &= s->local_mask;
					s->remote_mask = pmask(rp[b].plen);
					memcpy(&s->remote_addr, rp[b].addr, 4);
					s->remote_addr &= s->remote_mask;
					s->local_port_lo = htons(l->port_lo);
					s->local_port_hi = htons(l->port_hi);
					s->remote_port_lo = htons(r->port_lo);
					s->remote_port_hi = htons(r->port_hi);
					s->proto = proto;
				}
			}
		}
	}
	return 0;
}

int eg_dp_child_up(struct eg_dp *dp, uint32_t child_id, uint32_t spi_in,
		   const struct ike_addr *local_outer, const struct ike_ts_list *ts_local,
		   const struct ike_ts_list *ts_remote)
{
	struct eg_ts ts[EG_MAX_CHILD_TS];
	struct dp_child *c;
	uint32_t n, daddr = 0, k;
	int rc;

	if (!child_id || child_id >= EG_MAX_CHILDREN || !local_outer)
		return -EINVAL;
	c = &dp->ch[child_id];
	if (!c->present)
		return -ENOENT;
	rc = ts_build(ts_local, ts_remote, ts, &n);
	if (rc) {
		log_warnx("child %s: the negotiated selectors need more than %d prefix pairs: the "
			  "child stays down",
			  c->name, EG_MAX_CHILD_TS);
		return rc;
	}
	if (local_outer->family == AF_INET)
		memcpy(&daddr, local_outer->addr, 4);
	for (k = 0; k < c->n_spi; k++)
		if (c->spi[k] == htonl(spi_in) && c->spi_daddr[k] == daddr)
			break;
	if (k == c->n_spi) {
		if (c->n_spi >= EG_DP_MAX_SPIS)
			return -ENOSPC;
		/* ESP over IPv6 is not inspected by the datapath: no allow-list entry needed */
		if (local_outer->family == AF_INET) {
			rc = dp_spi_add(&dp->m, htonl(spi_in), daddr, child_id, 0);
			if (rc)
				return rc;
		}
		c->spi[c->n_spi] = htonl(spi_in);
		c->spi_daddr[c->n_spi++] = daddr;
	}
	c->ent.n_ts = n;
	memset(c->ent.ts, 0, sizeof(c->ent.ts));
	memcpy(c->ent.ts, ts, n * sizeof(ts[0]));
	if (!n)
		log_warnx("child %s: no IPv4 selector pair was negotiated: inbound traffic of "
			  "this child is dropped",
			  c->name);
	return child_write(dp, child_id);
}

int eg_dp_child_down(struct eg_dp *dp, uint32_t child_id, uint32_t spi_in)
{
	struct dp_child *c;
	bool found = false;

	if (!child_id || child_id >= EG_MAX_CHILDREN)
		return -EINVAL;
	c = &dp->ch[child_id];
	for (uint32_t k = 0; k < c->n_spi;) {
		if (c->spi[k] != htonl(spi_in)) {
			k++;
			continue;
		}
		struct eg_spi_key key = { .spi = c->spi[k], .daddr = c->spi_daddr[k] };

		bpf_map_delete_elem(dp->m.spis, &key);
		c->spi[k] = c->spi[c->n_spi - 1];
		c->spi_daddr[k] = c->spi_daddr[c->n_spi - 1];
		c->n_spi--;
		found = true;
	}
	if (!found) {
		/* not ours in memory (e.g. left by a previous espgated): find it in the map */
		struct eg_spi_key k, next, *prev = NULL;
		struct eg_spi_val v;

		while (!bpf_map_get_next_key(dp->m.spis, prev, &next)) {
			k = next;
			prev = &k;
			if (k.spi == htonl(spi_in) && !bpf_map_lookup_elem(dp->m.spis, &k, &v) &&
			    v.child == child_id) {
				bpf_map_delete_elem(dp->m.spis, &k);
				found = true;
				break;
			}
		}
	}
	if (!c->n_spi) {
		c->ent.n_ts = 0;
		memset(c->ent.ts, 0, sizeof(c->ent.ts));
	}
	if (c->present)
		child_write(dp, child_id);
	return found ? 0 : -ENOENT;
}

long eg_dp_sweep(struct eg_dp *dp)
{
	return dp_ct_sweep(&dp->m, now_ns());
}

/* ---- espgatectl output ------------------------------------------------------------------------- */

static void json_str(struct ctl_out *o, const char *s)
{
	ctl_out_append(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			ctl_out_printf(o, "\\%c", c);
		else if (c < 0x20)
			ctl_out_printf(o, "\\u%04x", c);
		else
			ctl_out_append(o, (const char *)&c, 1);
	}
	ctl_out_append(o, "\"", 1);
}

/* Name of an enum eg_stat value from the program's BTF, without the EG_STAT_ prefix. */
static const char *stat_name(struct eg_dp *dp, unsigned int v, char *buf, size_t len)
{
	const struct btf *btf = bpf_object__btf(dp->l.skel->obj);
	int id = btf ? btf__find_by_name_kind(btf, "eg_stat", BTF_KIND_ENUM) : -1;

	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(btf, (__u32)id);
		const struct btf_enum *e = btf_enum(t);

		for (unsigned int i = 0; i < btf_vlen(t); i++, e++) {
			const char *n = btf__name_by_offset(btf, e->name_off);

			if ((unsigned int)e->val == v && n) {
				snprintf(buf, len, "%s", strncmp(n, "EG_STAT_", 8) ? n : n + 8);
				return buf;
			}
		}
	}
	snprintf(buf, len, "STAT_%u", v);
	return buf;
}

struct xs_ctx {
	struct ctl_out *o;
	bool json;
	int n;
};

static int xs_cb(const char *name, uint64_t value, void *arg)
{
	struct xs_ctx *x = arg;

	if (!value)
		return 0;
	if (x->json) {
		ctl_out_printf(x->o, "%s", x->n++ ? "," : "");
		json_str(x->o, name);
		ctl_out_printf(x->o, ":%llu", (unsigned long long)value);
	} else {
		ctl_out_printf(x->o, "  %-32s %llu\n", name, (unsigned long long)value);
		x->n++;
	}
	return 0;
}

int eg_dp_counters(struct eg_dp *dp, bool json, struct ctl_out *o)
{
	int ncpu = libbpf_num_possible_cpus(), n = 0;
	struct eg_child_stats *cs;
	struct xs_ctx x = { .o = o, .json = json };
	char nb[64];
	int rc;

	if (ncpu <= 0)
		return -EINVAL;
	cs = calloc((size_t)ncpu, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	ctl_out_printf(o, json ? "{\"datapath\":{" : "datapath counters (packets, bytes):\n");
	for (unsigned int s = 0; s < EG_STAT_MAX; s++) {
		uint64_t p = 0, b = 0;

		if (dp_stat_read(&dp->m, (enum eg_stat)s, &p, &b))
			continue;
		stat_name(dp, s, nb, sizeof(nb));
		if (json)
			ctl_out_printf(o, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}",
				       n++ ? "," : "", nb, (unsigned long long)p,
				       (unsigned long long)b);
		else if (p || strncmp(nb, "DROP_", 5))
			ctl_out_printf(o, "  %-24s %12llu %14llu\n", nb, (unsigned long long)p,
				       (unsigned long long)b);
	}
	if (!json) {
		uint64_t total = 0, p;

		for (unsigned int s = 0; s < EG_STAT_MAX; s++)
			if (!strncmp(stat_name(dp, s, nb, sizeof(nb)), "DROP_", 5) &&
			    !dp_stat_read(&dp->m, (enum eg_stat)s, &p, NULL))
				total += p;
		ctl_out_printf(o, "  %-24s %12llu\n", "drops in all", (unsigned long long)total);
	}
	ctl_out_printf(o, json ? "},\"children\":[" : "per child (packets/bytes out, in):\n");
	n = 0;
	for (uint32_t id = 1; id < EG_MAX_CHILDREN; id++) {
		uint64_t po = 0, bo = 0, pi = 0, bi = 0;

		if (!dp->ch[id].present)
			continue;
		if (bpf_map_lookup_elem(dp->m.child_stats, &id, cs))
			continue;
		for (int i = 0; i < ncpu; i++) {
			po += cs[i].pkts_out;
			bo += cs[i].bytes_out;
			pi += cs[i].pkts_in;
			bi += cs[i].bytes_in;
		}
		if (json) {
			ctl_out_printf(o, "%s{\"child\":", n++ ? "," : "");
			json_str(o, dp->ch[id].name);
			ctl_out_printf(o,
				       ",\"id\":%u,\"up\":%s,\"pkts_out\":%llu,\"bytes_out\":%llu,"
				       "\"pkts_in\":%llu,\"bytes_in\":%llu}",
				       id, (dp->ch[id].ent.flags & EG_CHILD_UP) ? "true" : "false",
				       (unsigned long long)po, (unsigned long long)bo,
				       (unsigned long long)pi, (unsigned long long)bi);
		} else {
			ctl_out_printf(o, "  %-32s %-4s %10llu %12llu %10llu %12llu\n",
				       dp->ch[id].name,
				       (dp->ch[id].ent.flags & EG_CHILD_UP) ? "up" : "down",
				       (unsigned long long)po, (unsigned long long)bo,
				       (unsigned long long)pi, (unsigned long long)bi);
		}
	}
	free(cs);
	ctl_out_printf(o, json ? "],\"xfrm_stat\":{"
			       : "kernel XFRM (/proc/net/xfrm_stat, non-zero):\n");
	rc = xfrm_stat_read(NULL, xs_cb, &x);
	if (!json && rc)
		ctl_out_printf(o, "  (unavailable: %s)\n", strerror(-rc));
	else if (!json && !x.n)
		ctl_out_printf(o, "  (all zero)\n");
	ctl_out_printf(o, json ? "}}\n" : "");
	return 0;
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		snprintf(buf, len, "%u", p);
		return buf;
	}
}

static const char *tuple_str(const struct eg_ct_key *k, char *buf, size_t len)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &k->saddr, s, sizeof(s));
	inet_ntop(AF_INET, &k->daddr, d, sizeof(d));
	snprintf(buf, len, "%s:%u -> %s:%u", s, ntohs(k->sport), d, ntohs(k->dport));
	return buf;
}

int eg_dp_nat_flows(struct eg_dp *dp, bool json, unsigned int limit, struct ctl_out *o)
{
	static const char *const states[] = { "new", "established", "fin", "closed" };
	struct eg_ct_key k, next, *prev = NULL;
	uint64_t now = now_ns();
	unsigned int n = 0, more = 0;
	struct eg_ct_val v;

	if (!limit)
		limit = 1000;
	if (json)
		ctl_out_printf(o, "{\"flows\":[");
	else
		ctl_out_printf(o, "%-5s %-44s %-44s %-24s %-11s %s\n", "PROTO", "ORIGINAL",
			       "TRANSLATED", "CHILD", "STATE", "EXPIRES");
	while (!bpf_map_get_next_key(dp->m.ct, prev, &next)) {
		char a[96], b[96], pb[8];
		const char *cn, *st;
		long long left;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(dp->m.ct, &k, &v) || (v.flags & EG_CT_REPLY))
			continue;
		if (n >= limit) {
			more++;
			continue;
		}
		n++;
		cn = v.child && v.child < EG_MAX_CHILDREN && dp->ch[v.child].present
			     ? dp->ch[v.child].name
		     : v.child ? "?"
			       : "-";
		st = v.state < 4 ? states[v.state] : "?";
		left = v.expires > now ? (long long)((v.expires - now) / 1000000000ull) : 0;
		tuple_str(&k, a, sizeof(a));
		tuple_str(&v.xlate, b, sizeof(b));
		if (json) {
			ctl_out_printf(
				o,
				"%s{\"proto\":\"%s\",\"original\":\"%s\",\"translated\":\"%s\","
				"\"child\":",
				n > 1 ? "," : "", proto_name(k.proto, pb, sizeof(pb)), a, b);
			json_str(o, cn);
			ctl_out_printf(o,
				       ",\"child_id\":%u,\"state\":\"%s\",\"expires_s\":%lld,"
				       "\"from_partner\":%s}",
				       v.child, st, left,
				       (v.flags & EG_CT_FROM_PARTNER) ? "true" : "false");
		} else {
			ctl_out_printf(o, "%-5s %-44s %-44s %-24s %-11s %llds%s\n",
				       proto_name(k.proto, pb, sizeof(pb)), a, b, cn, st, left,
				       (v.flags & EG_CT_FROM_PARTNER) ? " (partner)" : "");
		}
	}
	if (json)
		ctl_out_printf(o, "],\"shown\":%u,\"more\":%u}\n", n, more);
	else if (more)
		ctl_out_printf(o, "(%u more flows not shown)\n", more);
	else if (!n)
		ctl_out_printf(o, "(no flows)\n");
	return 0;
}

/* ---- loading, attaching, adopting ---------------------------------------------------------------- */

static int bpffs_mount(char *err, size_t errlen)
{
	struct statfs sf;

	if (!statfs(BPFFS_ROOT, &sf) && sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpffs", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
		int rc = -errno;

		errf(err, errlen, "mounting bpffs on %s: %s", BPFFS_ROOT, strerror(-rc));
		return rc;
	}
	log_info("mounted bpffs on %s", BPFFS_ROOT);
	{
		struct stat a, b;
		char parent[64];

		/* A mount namespace other than our parent's (`ip netns exec` makes one, with a fresh
		 * /sys): the pins die with it and the next espgated cannot adopt the datapath. */
		snprintf(parent, sizeof(parent), "/proc/%d/ns/mnt", (int)getppid());
		if (!stat("/proc/self/ns/mnt", &a) && !stat(parent, &b) && a.st_ino != b.st_ino)
			log_warnx(
				"%s was not mounted in this mount namespace, which is not our "
				"parent's (`ip netns exec`?): the datapath's pins live only as long "
				"as it does, so a restarted espgated cannot adopt the datapath. In a "
				"network namespace run espgated with `nsenter --net=/run/netns/NAME`",
				BPFFS_ROOT);
	}
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static uint32_t fd_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Is program prog_id an espgate XDP program using map map_id? Fills its tag. */
static bool prog_is_ours(uint32_t prog_id, uint32_t map_id, uint8_t tag[8])
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info), ids[32] = { 0 };
	bool ours = false;
	int fd = bpf_prog_get_fd_by_id(prog_id);

	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 32;
	info.map_ids = (__u64)(unsigned long)ids;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, "xdp_eg_ingress")) {
		for (__u32 i = 0; i < info.nr_map_ids && i < 32; i++)
			ours |= ids[i] == map_id;
		memcpy(tag, info.tag, 8);
	}
	close(fd);
	return ours;
}

/* Finds espgate's native XDP program on ifindex (one using map_id). */
static bool xdp_find(int ifindex, uint32_t map_id, uint32_t *prog_id, bool *libxdp, uint8_t tag[8])
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;
	bool found = false;

	if (!mp || libxdp_get_error(mp))
		return false;
	if (xdp_multiprog__attach_mode(mp) != XDP_MODE_NATIVE)
		goto out;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && prog_is_ours(xdp_program__id(p), map_id, tag)) {
			*prog_id = xdp_program__id(p);
			*libxdp = false;
			found = true;
		}
		goto out;
	}
	for (p = xdp_multiprog__next_prog(NULL, mp); p && !found;
	     p = xdp_multiprog__next_prog(p, mp)) {
		if (prog_is_ours(xdp_program__id(p), map_id, tag)) {
			*prog_id = xdp_program__id(p);
			*libxdp = true;
			found = true;
		}
	}
out:
	xdp_multiprog__close(mp);
	return found;
}

static int xdp_detach_id(int ifindex, uint32_t prog_id, bool libxdp)
{
	int rc;

	if (libxdp) {
		struct xdp_program *p = xdp_program__from_id(prog_id);

		if (!p || libxdp_get_error(p))
			return -ENOENT;
		rc = xdp_program__detach(p, ifindex, XDP_MODE_NATIVE, 0);
		xdp_program__close(p);
		return rc;
	}
	{
		LIBBPF_OPTS(bpf_xdp_attach_opts, ao);
		int fd = bpf_prog_get_fd_by_id(prog_id);

		if (fd < 0)
			return -errno;
		ao.old_prog_fd = fd;
		rc = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &ao);
		close(fd);
		return rc;
	}
}

/* Where the tcx link of interface name is pinned (NULL: nothing pinned). */
static const char *tcx_pin(const struct eg_dp *dp, const char *name, char buf[LDR_PIN_MAX])
{
	size_t r = strlen(dp->pin_root), n = strlen(name);

	if (!dp->pinned || r + 5 + n >= LDR_PIN_MAX)
		return NULL;
	memcpy(buf, dp->pin_root, r);
	memcpy(buf + r, "/tcx_", 5);
	memcpy(buf + r + 5, name, n + 1);
	return buf;
}

/* tc ingress on f: tcx where the kernel has it (pinned, adopted on restart), else clsact. */
static int attach_tc(struct eg_dp *dp, struct dp_iface *f, struct ldr *tmp, char *err,
		     size_t errlen)
{
	const char *prog = f->xdp ? "tc_eg_ingress" : "tc_eg_nat", *pin;
	char buf[LDR_PIN_MAX];
	int rc;

	pin = tcx_pin(dp, f->name, buf);
	if (dp->pinned && !pin) {
		errf(err, errlen, "%s: the pin root %s is too long", f->name, dp->pin_root);
		return -ENAMETOOLONG;
	}
	rc = ldr_attach_tc(tmp, f->ifindex,
			   (f->xdp ? 0 : LDR_TC_NAT) | (dp->tc_clsact ? LDR_TC_CLSACT : 0), pin);
	if (rc) {
		errf(err, errlen, "%s: attaching tc %s: %s", f->name, prog, strerror(-rc));
		return rc;
	}
	f->tcx = tmp->tc_tcx;
	f->tc_link = tmp->tc_link;
	if (f->tcx && tmp->tc_adopted)
		log_info("%s: %s through tcx: the previous espgated's link (%s) adopted, its "
			 "program replaced atomically",
			 f->name, prog, pin);
	else if (f->tcx)
		log_info("%s: %s attached through tcx%s%s", f->name, prog,
			 pin ? ", link pinned at " : " (link not pinned)", pin ? pin : "");
	else if (tmp->tc_tcx_err)
		log_info("%s: %s attached on clsact (no tcx in this kernel: %s)", f->name, prog,
			 strerror(-tmp->tc_tcx_err));
	else
		log_info("%s: %s attached on clsact (tcx not used by request)", f->name, prog);
	return 0;
}

/*
 * An espgate XDP program (by name) on ifindex that does not use map map_id: one whose maps are
 * not ours to reach. Its id, or 0.
 */
static uint32_t xdp_orphan(int ifindex, uint32_t map_id)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	uint32_t found = 0;

	if (!mp || libxdp_get_error(mp))
		return 0;
	if (xdp_multiprog__is_legacy(mp))
		p = xdp_multiprog__main_prog(mp);
	else
		p = xdp_multiprog__next_prog(NULL, mp);
	for (; p && !found;
	     p = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(p, mp)) {
		uint8_t tag[8];

		if (!strcmp(xdp_program__name(p), "xdp_eg_ingress") &&
		    !prog_is_ours(xdp_program__id(p), map_id, tag))
			found = xdp_program__id(p);
	}
	xdp_multiprog__close(mp);
	return found;
}

/*
 * The pins were missing, so the maps were created afresh: an espgate XDP program still attached
 * to one of cfg's interfaces belongs to an earlier espgated whose maps nobody can reach any more.
 * Adopting it is impossible and attaching beside it would leave it translating with a frozen
 * configuration, so say what was found, why it matters and what to do. 0 or -EEXIST.
 */
static int orphan_check_if(struct eg_dp *dp, const char *ifname, char *err, size_t errlen)
{
	int ifindex = ifname && ifname[0] ? (int)if_nametoindex(ifname) : 0;
	uint32_t id = ifindex ? xdp_orphan(ifindex, fd_id(dp->m.config)) : 0;

	if (!id)
		return 0;
	errf(err, errlen,
	     "%s: an espgate XDP program (id %u) is attached but its maps are not pinned under %s, "
	     "so it cannot be adopted (its conntrack, counters and port pools are unreachable) and "
	     "a second datapath beside it would leave it running a frozen configuration. Likely "
	     "cause: the espgated that attached it had a private /sys (`ip netns exec` mounts a "
	     "fresh sysfs: its pins died with it). Fix: `ip link set dev %s xdp off`, then start "
	     "espgated where it sees the real /sys/fs/bpf (in a network namespace: `nsenter "
	     "--net=/run/netns/NAME espgated ...`)",
	     ifname, id, dp->pin_root, ifname);
	return -EEXIST;
}

static int orphan_check(struct eg_dp *dp, const struct eg_config_file *cfg, char *err,
			size_t errlen)
{
	int rc = orphan_check_if(dp, cfg->global.outside_if, err, errlen);

	return rc ? rc : orphan_check_if(dp, cfg->global.inside_if, err, errlen);
}

static int attach_if(struct eg_dp *dp, const char *name, bool tc_only, char *err, size_t errlen)
{
	struct dp_iface *f = &dp->ifs[dp->n_ifs];
	int xfd = bpf_program__fd(dp->l.skel->progs.xdp_eg_ingress);
	uint8_t old_tag[8], new_tag[8];
	struct bpf_prog_info info;
	__u32 len = sizeof(info), old_id = 0;
	struct ldr tmp;
	bool lx = false;
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ifindex = (int)if_nametoindex(name);
	if (!f->ifindex) {
		errf(err, errlen, "interface %s: %s", name, strerror(errno));
		return -ENODEV;
	}
	memset(&info, 0, sizeof(info));
	bpf_obj_get_info_by_fd(xfd, &info, &len);
	memcpy(new_tag, info.tag, 8);
	memset(&tmp, 0, sizeof(tmp));
	tmp.skel = dp->l.skel;
	if (!tc_only && xdp_find(f->ifindex, fd_id(dp->m.config), &old_id, &lx, old_tag)) {
		if (!memcmp(old_tag, new_tag, 8)) {
			log_info("%s: XDP program %u of the previous espgated adopted", name,
				 old_id);
			f->xdp = true;
		} else if (!lx) {
			LIBBPF_OPTS(bpf_xdp_attach_opts, ao);
			int ofd = bpf_prog_get_fd_by_id(old_id);

			ao.old_prog_fd = ofd;
			rc = bpf_xdp_attach(f->ifindex, xfd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE,
					    &ao);
			if (ofd >= 0)
				close(ofd);
			if (rc) {
				errf(err, errlen, "%s: replacing XDP program %u: %s", name, old_id,
				     strerror(-rc));
				return rc;
			}
			log_info("%s: XDP program %u replaced atomically by the new version", name,
				 old_id);
			f->xdp = true;
		} else {
			/* libxdp's dispatcher has no atomic swap of one program */
			log_warnx("%s: replacing the previous espgated's XDP program %u (new "
				  "version): traffic is not translated for a moment",
				  name, old_id);
			xdp_detach_id(f->ifindex, old_id, true);
		}
	}
	if (!tc_only && !f->xdp) {
		rc = ldr_attach_xdp(&tmp, f->ifindex);
		if (!rc) {
			log_info("%s: native XDP attached%s", name,
				 tmp.xdp_libxdp ? " (libxdp)" : " (netlink)");
			f->xdp = true;
			xdp_program__close(tmp.xdp);
			tmp.xdp = NULL;
		} else {
			log_warnx("%s: native XDP is not available (%s): the NAT runs from tc "
				  "(tc_eg_nat) instead; generic XDP is never used (it would NAT "
				  "decrypted packets twice)",
				  name, strerror(-rc));
		}
	}
	rc = attach_tc(dp, f, &tmp, err, errlen);
	if (rc)
		return rc;
	f->tc = true;
	dp->n_ifs++;
	return 0;
}

static void read_mtu(struct eg_dp *dp, const char *ifname)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	dp->mtu = 1500;
	if (!ifname || !ifname[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		if (atoi(buf) >= 576 && atoi(buf) <= 65535)
			dp->mtu = (uint16_t)atoi(buf);
	}
}

/* Runtime state a previous espgated left in pinned maps: children with their SPIs and
 * negotiated selectors, port pools and the live generation. */
static void adopt(struct eg_dp *dp)
{
	struct eg_spi_key k, next, *prev = NULL;
	struct eg_config ec;
	struct eg_spi_val v;
	unsigned int nch = 0;

	if (dp_config_read(&dp->m, &ec) || !(ec.flags & EG_CFG_ENABLED))
		return;
	dp->gen = ec.gen & 1;
	for (uint32_t id = 1; id < EG_MAX_CHILDREN; id++) {
		struct eg_child c;

		if (bpf_map_lookup_elem(dp->m.children, &id, &c) || !(c.flags & EG_CHILD_VALID))
			continue;
		dp->ch[id].ent = c;
		dp->ch[id].policy = !!(c.flags & EG_CHILD_UP); /* it was forwarding */
		dp->ch[id].adopted = true;
		snprintf(dp->ch[id].name, sizeof(dp->ch[id].name), "child-%u", id);
		nch++;
	}
	while (!bpf_map_get_next_key(dp->m.spis, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(dp->m.spis, &k, &v) || !v.child ||
		    v.child >= EG_MAX_CHILDREN || dp->ch[v.child].n_spi >= EG_DP_MAX_SPIS)
			continue;
		dp->ch[v.child].spi[dp->ch[v.child].n_spi] = k.spi;
		dp->ch[v.child].spi_daddr[dp->ch[v.child].n_spi++] = k.daddr;
	}
	for (unsigned int i = 0; i < EG_MAX_POOLS; i++) {
		struct eg_port_pool *pp = &dp->m.pool_mem[i];

		if (pp->addr) {
			dp->pools[i].addr = pp->addr;
			dp->pools[i].lo = pp->port_lo;
			dp->pools[i].hi = pp->port_hi;
		}
	}
	/* NAT rules of the live generation: cleared when it is switched away from */
	dp->n_rules[dp->gen] = NAT_IDS_PER_GEN - 1;
	log_info("datapath: adopted the running configuration (generation %u, %u children)",
		 dp->gen, nch);
}

static int maps_from_skel(struct eg_dp *dp)
{
	struct espgate_bpf *s = dp->l.skel;

	memset(&dp->m, 0, sizeof(dp->m));
	dp->m.config = bpf_map__fd(s->maps.eg_config);
	dp->m.stats = bpf_map__fd(s->maps.eg_stats);
	dp->m.children = bpf_map__fd(s->maps.eg_children);
	dp->m.child_stats = bpf_map__fd(s->maps.eg_child_stats);
	dp->m.sel = bpf_map__fd(s->maps.eg_sel);
	dp->m.nat_rules = bpf_map__fd(s->maps.eg_nat_rules);
	dp->m.dnat = bpf_map__fd(s->maps.eg_dnat);
	dp->m.ct = bpf_map__fd(s->maps.eg_ct);
	dp->m.pools = bpf_map__fd(s->maps.eg_port_pools);
	dp->m.spis = bpf_map__fd(s->maps.eg_spis);
	dp->m.rnetmap = bpf_map__fd(s->maps.eg_rnetmap);
	return dp_maps_init(&dp->m);
}

/* The process's tcx link fds (pinned links stay attached). */
static void close_links(struct eg_dp *dp)
{
	for (unsigned int i = 0; i < dp->n_ifs; i++) {
		if (dp->ifs[i].tcx)
			close(dp->ifs[i].tc_link);
		dp->ifs[i].tcx = false;
	}
}

/* tcx links pinned under the pin root for interfaces not configured now (tcx_IFNAME). */
static void detach_pinned_links(struct eg_dp *dp)
{
	char path[sizeof(dp->pin_root) + sizeof(((struct dirent *)0)->d_name) + 1];
	struct dirent *de;
	DIR *d = opendir(dp->pin_root);

	if (!d)
		return;
	while ((de = readdir(d))) {
		int rc;

		if (strncmp(de->d_name, "tcx_", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dp->pin_root, de->d_name);
		rc = ldr_detach_pinned_tcx(path);
		if (rc)
			log_warnx("%s: detaching the tcx link: %s", path, strerror(-rc));
		else
			log_info("%s: tcx link detached and unpinned", path);
	}
	closedir(d);
}

static void unpin_fresh(const struct eg_dp *dp);

int eg_dp_open(struct eg_dp **out, const struct eg_config_file *cfg, const char *pin_root,
	       unsigned int flags, char *err, size_t errlen)
{
	const struct eg_global *gl = &cfg->global;
	bool fresh = false; /* pin_root held no maps: they are created now */
	struct eg_dp *dp;
	int rc;

	*out = NULL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	if (pin_root) {
		if (!strncmp(pin_root, BPFFS_ROOT "/", sizeof(BPFFS_ROOT))) {
			rc = bpffs_mount(err, errlen);
			if (rc)
				goto err_free;
		}
		rc = mkdir_p(pin_root);
		if (rc) {
			errf(err, errlen, "creating %s: %s", pin_root, strerror(-rc));
			goto err_free;
		}
		snprintf(dp->pin_root, sizeof(dp->pin_root), "%s", pin_root);
		dp->pinned = true;
		{
			char path[PATH_MAX + 16];

			snprintf(path, sizeof(path), "%s/eg_config", pin_root);
			fresh = access(path, F_OK) != 0;
		}
	}
	dp->tc_clsact = !!(flags & EG_DP_TC_CLSACT);
	rc = ldr_open(&dp->l, pin_root, 0);
	if (rc) {
		errf(err, errlen, "loading the BPF datapath: %s%s%s%s", strerror(-rc),
		     pin_root ? " (if the maps pinned under " : "", pin_root ? pin_root : "",
		     pin_root ? " come from another espgate version, `espgated --detach` removes "
				"them; that stops forwarding)"
			      : "");
		goto err_free;
	}
	rc = maps_from_skel(dp);
	if (rc) {
		errf(err, errlen, "mapping the port pools: %s", strerror(-rc));
		goto err_close;
	}
	dp->mtu = 1500;
	dp->no_attach = flags & EG_DP_NO_ATTACH;
	if (!(flags & EG_DP_NO_ATTACH))
		read_mtu(dp, gl->outside_if);
	if (pin_root)
		adopt(dp);
	if (fresh && !(flags & EG_DP_NO_ATTACH)) {
		rc = orphan_check(dp, cfg, err, errlen);
		if (rc) {
			unpin_fresh(dp); /* or the next start would take them for the orphan's */
			goto err_close;
		}
	}
	if (!(flags & EG_DP_NO_ATTACH)) {
		rc = attach_if(dp, gl->outside_if, false, err, errlen);
		if (!rc && gl->inside_if[0])
			rc = attach_if(dp, gl->inside_if, false, err, errlen);
		/* the hairpin end: locally generated packets are CHECKSUM_PARTIAL, tc only */
		if (!rc && if_nametoindex(EG_HAIRPIN_IN))
			rc = attach_if(dp, EG_HAIRPIN_IN, true, err, errlen);
		if (rc)
			goto err_close; /* what was attached stays: it is as safe as before */
	}
	rc = hairpin_config(dp);
	if (rc) {
		errf(err, errlen, "writing eg_config: %s", strerror(-rc));
		goto err_close;
	}
	*out = dp;
	return 0;
err_close:
	close_links(dp);
	dp_maps_fini(&dp->m);
	espgate_bpf__destroy(dp->l.skel);
err_free:
	free(dp);
	return rc;
}

int eg_dp_hairpin(struct eg_dp *dp, char *err, size_t errlen)
{
	int idx = (int)if_nametoindex(EG_HAIRPIN_IN), rc;
	unsigned int i;

	for (i = 0; i < dp->n_ifs; i++)
		if (!strcmp(dp->ifs[i].name, EG_HAIRPIN_IN))
			break;
	if (i < dp->n_ifs && dp->ifs[i].ifindex == idx)
		return 0;
	if (i < dp->n_ifs) { /* deleted (or re-created): its programs went with the link */
		log_info("%s: gone, no longer attached", EG_HAIRPIN_IN);
		if (dp->ifs[i].tcx) /* its tcx link is detached; the pin is replaced on re-attach */
			close(dp->ifs[i].tc_link);
		dp->ifs[i] = dp->ifs[--dp->n_ifs];
	}
	if (idx && !dp->no_attach) {
		if (dp->n_ifs >= EG_DP_MAX_IFS) {
			errf(err, errlen, "%s: no room for another interface", EG_HAIRPIN_IN);
			return -ENOSPC;
		}
		/* locally generated packets are CHECKSUM_PARTIAL: tc only, as at start */
		rc = attach_if(dp, EG_HAIRPIN_IN, true, err, errlen);
		if (rc)
			return rc;
	}
	rc = hairpin_config(dp);
	if (rc)
		errf(err, errlen, "writing eg_config: %s", strerror(-rc));
	return rc;
}

static const char *const pinned_maps[] = {
	"eg_config", "eg_stats", "eg_children",	  "eg_child_stats", "eg_sel",	  "eg_nat_rules",
	"eg_dnat",   "eg_ct",	 "eg_port_pools", "eg_spis",	    "eg_rnetmap", "eg_ike_buckets",
};

/* Removes the pins eg_dp_open() has just created (and the directory when empty). */
static void unpin_fresh(const struct eg_dp *dp)
{
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dp->pin_root, pinned_maps[i]);
		unlink(path);
	}
	rmdir(dp->pin_root);
}

void eg_dp_close(struct eg_dp *dp, bool detach)
{
	if (!dp)
		return;
	if (detach) {
		uint32_t map_id = fd_id(dp->m.config), pid;
		uint8_t tag[8];
		bool lx;

		for (unsigned int i = 0; i < dp->n_ifs; i++) {
			struct dp_iface *f = &dp->ifs[i];

			if (f->tcx) {
				struct ldr tmp;

				memset(&tmp, 0, sizeof(tmp));
				tmp.tc_ifindex = f->ifindex;
				tmp.tc_tcx = true;
				tmp.tc_link = f->tc_link;
				tcx_pin(dp, f->name, tmp.tc_pin);
				ldr_detach(&tmp); /* the link, and its pin */
				f->tcx = false;
				log_info("%s: tcx link detached", f->name);
			}
			/* our clsact filter (fixed handle and priority), if there is one */
			if (!ldr_detach_clsact(f->ifindex))
				log_info("%s: tc filter detached", f->name);
			if (xdp_find(f->ifindex, map_id, &pid, &lx, tag)) {
				int rc = xdp_detach_id(f->ifindex, pid, lx);

				if (rc)
					log_warnx("%s: detaching XDP program %u: %s", f->name, pid,
						  strerror(-rc));
				else
					log_info("%s: XDP program %u detached", f->name, pid);
			}
		}
		if (dp->pinned) {
			char path[PATH_MAX + 64];

			detach_pinned_links(dp);
			for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
				snprintf(path, sizeof(path), "%s/%s", dp->pin_root, pinned_maps[i]);
				if (!unlink(path))
					log_info("unpinned %s", path);
			}
			if (!rmdir(dp->pin_root))
				log_info("removed %s", dp->pin_root);
		}
	}
	close_links(dp);
	dp_maps_fini(&dp->m);
	espgate_bpf__destroy(dp->l.skel);
	free(dp);
}

struct espgate_bpf *eg_dp_skel(struct eg_dp *dp)
{
	return dp->l.skel;
}

struct dp_maps *eg_dp_maps(struct eg_dp *dp)
{
	return &dp->m;
}

uint32_t eg_dp_gen(const struct eg_dp *dp)
{
	return dp->gen;
}
