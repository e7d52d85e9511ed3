// SPDX-License-Identifier: GPL-2.0-only
/*
 * Map filling for the datapath (see dp_maps.h). The classifier's candidate lists are built by
 * walking destination prefixes from short to long: a prefix's list is its own selectors plus its
 * nearest present ancestor's list, so n selectors cost O(n log n * 32), which keeps 100,000 rules
 * fast. Pool bits are changed with atomic operations on the mmapped array, never by rewriting a
 * value the BPF side is updating at the same time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dp_maps.h"
#include "policy.h"

_Static_assert(sizeof(struct eg_xdp_meta) == 8, "eg_xdp_meta");
_Static_assert(sizeof(struct eg_config) == 64, "eg_config");
_Static_assert(sizeof(struct eg_ts) == 28, "eg_ts");
_Static_assert(sizeof(struct eg_allow) == 24, "eg_allow");
_Static_assert(sizeof(struct eg_child) == 16 + 8 * 28 + 8 + 8 * 24, "eg_child");
_Static_assert(sizeof(struct eg_sel_key) == 12, "eg_sel_key");
_Static_assert(sizeof(struct eg_sel_cand) == 28, "eg_sel_cand");
_Static_assert(sizeof(struct eg_sel_val) == 8 + EG_SEL_CANDS * 28, "eg_sel_val");
_Static_assert(sizeof(struct eg_nat_rule) == 24, "eg_nat_rule");
_Static_assert(sizeof(struct eg_dnat_key) == 16, "eg_dnat_key");
_Static_assert(sizeof(struct eg_dnat_val) == 8, "eg_dnat_val");
_Static_assert(sizeof(struct eg_ct_key) == 16, "eg_ct_key");
_Static_assert(sizeof(struct eg_ct_val) == 40, "eg_ct_val");
_Static_assert(sizeof(struct eg_port_pool) == 8 + EG_POOL_WORDS * 8, "eg_port_pool");
_Static_assert(sizeof(struct eg_spi_key) == 8, "eg_spi_key");
_Static_assert(sizeof(struct eg_rnetmap_key) == 16, "eg_rnetmap_key");
_Static_assert(sizeof(struct eg_rnetmap_val) == 16, "eg_rnetmap_val");

static const char *const dp_map_names[] = { "eg_config",      "eg_stats",  "eg_children",
					    "eg_child_stats", "eg_sel",	   "eg_nat_rules",
					    "eg_dnat",	      "eg_ct",	   "eg_port_pools",
					    "eg_spis",	      "eg_rnetmap" };

static int *dp_fd_slot(struct dp_maps *m, size_t i)
{
	int *slots[] = { &m->config, &m->stats,	    &m->children, &m->child_stats,
			 &m->sel,    &m->nat_rules, &m->dnat,	  &m->ct,
			 &m->pools,  &m->spis,	    &m->rnetmap };

	return slots[i];
}

int dp_maps_init(struct dp_maps *m)
{
	size_t len = (size_t)EG_MAX_POOLS * sizeof(struct eg_port_pool);
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->pools, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->pool_mem = p;
	return 0;
}

int dp_maps_open_pinned(struct dp_maps *m, const char *pin_root)
{
	char path[256];
	int err;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < sizeof(dp_map_names) / sizeof(dp_map_names[0]); i++)
		*dp_fd_slot(m, i) = -1;
	m->owned = true;
	for (size_t i = 0; i < sizeof(dp_map_names) / sizeof(dp_map_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_root, dp_map_names[i]);
		*dp_fd_slot(m, i) = bpf_obj_get(path);
		if (*dp_fd_slot(m, i) < 0) {
			err = -errno;
			goto err_close;
		}
	}
	err = dp_maps_init(m);
	if (err)
		goto err_close;
	return 0;
err_close:
	dp_maps_fini(m);
	return err;
}

void dp_maps_fini(struct dp_maps *m)
{
	if (m->pool_mem)
		munmap(m->pool_mem, (size_t)EG_MAX_POOLS * sizeof(struct eg_port_pool));
	m->pool_mem = NULL;
	if (!m->owned)
		return;
	for (size_t i = 0; i < sizeof(dp_map_names) / sizeof(dp_map_names[0]); i++) {
		if (*dp_fd_slot(m, i) >= 0)
			close(*dp_fd_slot(m, i));
		*dp_fd_slot(m, i) = -1;
	}
}

static int upd(int fd, const void *k, const void *v, uint64_t flags)
{
	return bpf_map_update_elem(fd, k, v, flags) ? -errno : 0;
}

int dp_config_write(struct dp_maps *m, const struct eg_config *c)
{
	uint32_t zero = 0;

	return upd(m->config, &zero, c, BPF_ANY);
}

int dp_config_read(struct dp_maps *m, struct eg_config *c)
{
	uint32_t zero = 0;

	return bpf_map_lookup_elem(m->config, &zero, c) ? -errno : 0;
}

int dp_child_write(struct dp_maps *m, uint32_t child, const struct eg_child *c)
{
	if (child == 0 || child >= EG_MAX_CHILDREN)
		return -EINVAL;
	return upd(m->children, &child, c, BPF_ANY);
}

int dp_nat_rule_write(struct dp_maps *m, uint32_t id, const struct eg_nat_rule *r)
{
	if (id == 0 || id >= EG_MAX_NAT_RULES)
		return -EINVAL;
	return upd(m->nat_rules, &id, r, BPF_ANY);
}

int dp_dnat_write(struct dp_maps *m, uint32_t gen, uint32_t child, uint8_t proto, uint32_t addr,
		  uint16_t port, uint32_t to_addr, uint16_t to_port)
{
	struct eg_dnat_key k;
	struct eg_dnat_val v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.gen = gen;
	k.child = child;
	k.addr = addr;
	k.port = htons(port);
	k.proto = proto;
	v.addr = to_addr;
	v.port = htons(to_port);
	return upd(m->dnat, &k, &v, BPF_ANY);
}

static uint32_t plen_mask(unsigned int len)
{
	return len ? htonl(~0u << (32 - len)) : 0;
}

struct dp_pfx {
	uint32_t addr; /* network order, masked */
	uint8_t len;
	int parent;	 /* index of the nearest present ancestor, -1 = none */
	size_t first, n; /* selectors with exactly this destination, in sel_idx order */
};

static int pfx_cmp(const void *a, const void *b)
{
	const struct dp_pfx *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->addr != y->addr)
		return ntohl(x->addr) < ntohl(y->addr) ? -1 : 1;
	return 0;
}

struct dp_sel_sorted {
	const struct dp_sel *s;
	uint32_t prio;
};

static int sel_dst_cmp(const void *a, const void *b)
{
	const struct dp_sel_sorted *x = a, *y = b;
	uint32_t xa = x->s->daddr & plen_mask(x->s->dplen),
		 ya = y->s->daddr & plen_mask(y->s->dplen);

	if (x->s->dplen != y->s->dplen)
		return x->s->dplen < y->s->dplen ? -1 : 1;
	if (xa != ya)
		return ntohl(xa) < ntohl(ya) ? -1 : 1;
	return x->prio < y->prio ? -1 : x->prio > y->prio;
}

static void cand_fill(struct eg_sel_cand *c, const struct dp_sel_sorted *s)
{
	memset(c, 0, sizeof(*c));
	c->child = s->s->child;
	c->prio = s->prio;
	c->smask = plen_mask(s->s->splen);
	c->saddr = s->s->saddr & c->smask;
	c->sport_lo = htons(s->s->sport_lo);
	c->sport_hi = htons(s->s->sport_hi);
	c->dport_lo = htons(s->s->dport_lo);
	c->dport_hi = htons(s->s->dport_hi);
	c->proto = s->s->proto;
	c->tunnel = s->s->tunnel;
}

/* Merges two candidate lists sorted by prio into out; -E2BIG past EG_SEL_CANDS. */
static int cand_merge(struct eg_sel_val *out, const struct eg_sel_cand *a, uint32_t na,
		      const struct eg_sel_cand *b, uint32_t nb)
{
	uint32_t i = 0, j = 0;

	out->n = 0;
	while (i < na || j < nb) {
		if (out->n >= EG_SEL_CANDS)
			return -E2BIG;
		if (j >= nb || (i < na && a[i].prio < b[j].prio))
			out->cand[out->n++] = a[i++];
		else
			out->cand[out->n++] = b[j++];
	}
	return 0;
}

int dp_sel_write(struct dp_maps *m, uint32_t gen, const struct dp_sel *sels, size_t n)
{
	struct dp_sel_sorted *ss = NULL;
	struct eg_sel_val *vals = NULL;
	struct dp_pfx *px = NULL;
	size_t np = 0;
	int err = 0;

	if (!n)
		return 0;
	ss = calloc(n, sizeof(*ss));
	px = calloc(n, sizeof(*px));
	if (!ss || !px) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dp_sel *s = &sels[i];

		if (s->splen > 32 || s->dplen > 32 || !s->child || s->child >= EG_MAX_CHILDREN ||
		    s->sport_lo > s->sport_hi || s->dport_lo > s->dport_hi) {
			err = -EINVAL;
			goto out;
		}
		ss[i].s = s;
		ss[i].prio = s->prio ? s->prio
				     : eg_policy_priority_raw(
					       AF_INET, s->splen, s->dplen, s->proto,
					       s->sport_lo == 0 && s->sport_hi == 65535,
					       s->dport_lo == 0 && s->dport_hi == 65535, s->order);
		if (!ss[i].prio) {
			err = -EINVAL;
			goto out;
		}
	}
	/* Group selectors by destination prefix (short prefixes first). */
	qsort(ss, n, sizeof(*ss), sel_dst_cmp);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = ss[i].s->daddr & plen_mask(ss[i].s->dplen);

		if (np && px[np - 1].len == ss[i].s->dplen && px[np - 1].addr == a) {
			px[np - 1].n++;
			continue;
		}
		px[np].addr = a;
		px[np].len = ss[i].s->dplen;
		px[np].first = i;
		px[np].n = 1;
		px[np].parent = -1;
		np++;
	}
	vals = calloc(np, sizeof(*vals));
	if (!vals) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		struct eg_sel_cand own[EG_SEL_CANDS];
		struct eg_sel_key k;
		uint32_t nown = 0;

		/* Nearest present ancestor: the longest shorter prefix that covers this one. */
		for (int l = (int)px[i].len - 1; l >= 0 && px[i].parent < 0; l--) {
			struct dp_pfx key = { .addr = px[i].addr & plen_mask((unsigned int)l),
					      .len = (uint8_t)l };
			struct dp_pfx *hit = bsearch(&key, px, i, sizeof(*px), pfx_cmp);

			if (hit)
				px[i].parent = (int)(hit - px);
		}
		if (px[i].n > EG_SEL_CANDS) {
			err = -E2BIG;
			goto out;
		}
		for (size_t j = 0; j < px[i].n; j++)
			cand_fill(&own[nown++], &ss[px[i].first + j]);
		if (px[i].parent >= 0)
			err = cand_merge(&vals[i], own, nown, vals[px[i].parent].cand,
					 vals[px[i].parent].n);
		else
			err = cand_merge(&vals[i], own, nown, NULL, 0);
		if (err)
			goto out;
		vals[i].plen = px[i].len;
		memset(&k, 0, sizeof(k));
		k.prefixlen = 32 + px[i].len;
		k.gen = gen;
		k.daddr = px[i].addr;
		err = upd(m->sel, &k, &vals[i], BPF_ANY);
		if (err)
			goto out;
	}
out:
	free(vals);
	free(px);
	free(ss);
	return err;
}

int dp_sel_clear(struct dp_maps *m, uint32_t gen)
{
	struct eg_sel_key k, next, *prev = NULL;
	struct eg_sel_key *dels = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	while (!bpf_map_get_next_key(m->sel, prev, &next)) {
		if (next.gen == gen) {
			if (n == cap) {
				struct eg_sel_key *d;

				cap = cap ? cap * 2 : 1024;
				d = realloc(dels, cap * sizeof(*dels));
				if (!d) {
					err = -ENOMEM;
					goto out;
				}
				dels = d;
			}
			dels[n++] = next;
		}
		k = next;
		prev = &k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(m->sel, &dels[i]);
out:
	free(dels);
	return err;
}

int dp_rnetmap_write(struct dp_maps *m, uint32_t gen, uint32_t child, uint32_t inside_addr,
		     uint32_t remote_addr, uint8_t plen)
{
	struct eg_rnetmap_key k = { .prefixlen = 64u + plen, .gen = gen };
	struct eg_rnetmap_val v = { .child = child };
	uint32_t mask = plen ? htonl(~0u << (32 - plen)) : 0;
	int err;

	if (!child || child >= EG_MAX_CHILDREN || plen > 32 || (inside_addr & ~mask) ||
	    (remote_addr & ~mask))
		return -EINVAL;
	v.inside_addr = inside_addr;
	v.remote_addr = remote_addr;
	v.mask = mask;
	k.child = 0;
	k.addr = inside_addr;
	err = upd(m->rnetmap, &k, &v, BPF_ANY);
	if (err)
		return err;
	k.child = child;
	k.addr = remote_addr;
	err = upd(m->rnetmap, &k, &v, BPF_ANY);
	if (err) {
		k.child = 0;
		k.addr = inside_addr;
		bpf_map_delete_elem(m->rnetmap, &k);
	}
	return err;
}

int dp_rnetmap_clear(struct dp_maps *m, uint32_t gen)
{
	struct eg_rnetmap_key k, next, *prev = NULL;
	struct eg_rnetmap_key dels[256];
	size_t n;

	/* Deleting while walking restarts the walk, so collect a batch, delete it, walk again. */
	do {
		n = 0;
		prev = NULL;
		while (n < sizeof(dels) / sizeof(dels[0]) &&
		       !bpf_map_get_next_key(m->rnetmap, prev, &next)) {
			if (next.gen == gen)
				dels[n++] = next;
			k = next;
			prev = &k;
		}
		for (size_t i = 0; i < n; i++)
			if (bpf_map_delete_elem(m->rnetmap, &dels[i]) && errno != ENOENT)
				return -errno;
	} while (n == sizeof(dels) / sizeof(dels[0]));
	return 0;
}

int dp_pool_write(struct dp_maps *m, uint32_t idx, uint32_t addr, uint16_t lo, uint16_t hi)
{
	struct eg_port_pool *pp;

	if (idx >= EG_MAX_POOLS || !m->pool_mem || lo > hi)
		return -EINVAL;
	pp = &m->pool_mem[idx];
	pp->addr = addr;
	pp->port_lo = lo;
	pp->port_hi = hi;
	for (unsigned int p = 0; p < 65536; p++) {
		uint64_t bit = 1ull << (p & 63);

		if (p < lo || p > hi)
			pp->words[p >> 6] |= bit;
		else
			pp->words[p >> 6] &= ~bit;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

int dp_pool_set(struct dp_maps *m, uint32_t idx, uint16_t port, bool used)
{
	__u64 *w, bit = 1ull << (port & 63);

	if (idx >= EG_MAX_POOLS || !m->pool_mem)
		return -EINVAL;
	w = &m->pool_mem[idx].words[port >> 6];
	if (used)
		__atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
	return 0;
}

long dp_pool_used(struct dp_maps *m, uint32_t idx)
{
	struct eg_port_pool *pp;
	long n = 0;

	if (idx >= EG_MAX_POOLS || !m->pool_mem)
		return -EINVAL;
	pp = &m->pool_mem[idx];
	for (unsigned int p = pp->port_lo; p <= pp->port_hi; p++)
		n += (__atomic_load_n(&pp->words[p >> 6], __ATOMIC_RELAXED) >> (p & 63)) & 1;
	return n;
}

int dp_spi_add(struct dp_maps *m, uint32_t spi, uint32_t daddr, uint32_t child, uint32_t cpu)
{
	struct eg_spi_key k = { .spi = spi, .daddr = daddr };
	struct eg_spi_val v = { .child = child, .cpu = cpu };

	return upd(m->spis, &k, &v, BPF_ANY);
}

int dp_stat_read(struct dp_maps *m, enum eg_stat stat, uint64_t *pkts, uint64_t *bytes)
{
	int ncpu = libbpf_num_possible_cpus();
	struct eg_stat_val *v;
	uint32_t key = stat;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->stats, &key, v)) {
		free(v);
		return -errno;
	}
	*pkts = 0;
	if (bytes)
		*bytes = 0;
	for (int i = 0; i < ncpu; i++) {
		*pkts += v[i].packets;
		if (bytes)
			*bytes += v[i].bytes;
	}
	free(v);
	return 0;
}

static void ct_rev(struct eg_ct_key *r, const struct eg_ct_key *t)
{
	memset(r, 0, sizeof(*r));
	r->saddr = t->daddr;
	r->daddr = t->saddr;
	r->sport = t->dport;
	r->dport = t->sport;
	r->proto = t->proto;
}

long dp_ct_sweep(struct dp_maps *m, uint64_t now)
{
	struct eg_ct_key k, next, *prev = NULL, *dels = NULL;
	size_t n = 0, cap = 0;
	long pairs = 0;

	/* Collect first: deleting while walking restarts get_next_key from the top. */
	while (!bpf_map_get_next_key(m->ct, prev, &next)) {
		struct eg_ct_val v, rv;
		struct eg_ct_key rk;
		uint64_t exp;
		bool have_peer;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->ct, &k, &v))
			continue;
		ct_rev(&rk, &v.xlate);
		have_peer = !bpf_map_lookup_elem(m->ct, &rk, &rv);
		if (v.flags & EG_CT_REPLY) {
			if (have_peer)
				continue; /* the forward half decides for the pair */
			exp = v.expires;
		} else {
			exp = v.expires;
			if (have_peer && rv.expires > exp)
				exp = rv.expires;
		}
		if (exp >= now)
			continue;
		if (n + 2 > cap) {
			struct eg_ct_key *d;

			cap = cap ? cap * 2 : 4096;
			d = realloc(dels, cap * sizeof(*dels));
			if (!d) {
				free(dels);
				return -ENOMEM;
			}
			dels = d;
		}
		if (!(v.flags & EG_CT_REPLY) && have_peer)
			dels[n++] = rk;
		dels[n++] = k;
		pairs++;
		if (!(v.flags & EG_CT_REPLY) && v.pool)
			dp_pool_set(m, v.pool - 1u, ntohs(v.xlate.sport), false);
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(m->ct, &dels[i]);
	free(dels);
	return pairs;
}

long dp_ct_count(struct dp_maps *m)
{
	struct eg_ct_key k, next, *prev = NULL;
	long n = 0;

	while (!bpf_map_get_next_key(m->ct, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}
