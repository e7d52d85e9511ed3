// SPDX-License-Identifier: GPL-2.0-only
/*
 * The eg0/eg1 hairpin (see hairpin.h): a pure planner from the configuration and the host's
 * addresses, and the rtnetlink side (veth with peer, addresses, link up, route dump, replace and
 * delete) on one libmnl socket. Every request is acknowledged and checked.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "config.h"
#include "hairpin.h"
#include "log.h"

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

static uint32_t mask_of(uint8_t len)
{
	return len ? htonl(~0u << (32 - len)) : 0;
}

static uint32_t pfx_addr(const struct eg_prefix *p)
{
	uint32_t a;

	memcpy(&a, p->addr, 4);
	return a;
}

static bool pfx_has(const struct eg_prefix *p, uint32_t a)
{
	return p->af == AF_INET && ((a ^ pfx_addr(p)) & mask_of(p->len)) == 0;
}

/* The first host address in the inside of one of child's source-translating rules, else the
 * first one in one of its local selectors (the VM's traffic goes untranslated), or 0. */
static uint32_t child_source(const struct eg_cfg_child *ch, const uint32_t *host, size_t n_host)
{
	for (unsigned int k = 0; k < ch->n_nat; k++) {
		const struct eg_cfg_nat_rule *r = &ch->nat[k];

		for (size_t h = 0; h < n_host; h++) {
			if ((r->type == EG_CFG_NAT_SNAT || r->type == EG_CFG_NAT_NETMAP) &&
			    pfx_has(&r->inside, host[h]))
				return host[h];
			for (unsigned int q = 0; r->type == EG_CFG_NAT_POOL && q < r->n_pool_inside;
			     q++)
				if (pfx_has(&r->pool_inside[q], host[h]))
					return host[h];
		}
	}
	for (unsigned int l = 0; l < ch->n_local; l++)
		for (size_t h = 0; h < n_host; h++)
			if (pfx_has(&ch->local[l].net, host[h]))
				return host[h];
	return 0;
}

static bool peer_inside(const struct eg_config_file *cfg, uint32_t dst, uint8_t len)
{
	for (size_t t = 0; t < cfg->n_tunnels; t++) {
		const struct eg_tunnel *tu = &cfg->tunnels[t];
		uint32_t pa;

		if (tu->peer_kind != EG_PEER_ADDR || tu->peer_addr.af != AF_INET)
			continue;
		memcpy(&pa, tu->peer_addr.addr, 4);
		if (((pa ^ dst) & mask_of(len)) == 0)
			return true;
	}
	return false;
}

static size_t plan_add(const struct eg_config_file *cfg, struct eg_hairpin_route *out, size_t n,
		       size_t max, uint32_t dst, uint8_t len, uint32_t src)
{
	dst &= mask_of(len);
	if (!len || peer_inside(cfg, dst, len))
		return n;
	for (size_t i = 0; i < n; i++)
		if (out[i].dst == dst && out[i].len == len)
			return n;
	if (n >= max)
		return n;
	out[n].dst = dst;
	out[n].len = len;
	out[n].src = src;
	return n + 1;
}

size_t eg_hairpin_plan(const struct eg_config_file *cfg, const uint32_t *host, size_t n_host,
		       struct eg_hairpin_route *out, size_t max)
{
	size_t n = 0;

	for (size_t t = 0; t < cfg->n_tunnels; t++) {
		const struct eg_tunnel *tu = &cfg->tunnels[t];

		for (size_t c = 0; c < tu->n_children; c++) {
			const struct eg_cfg_child *ch = &tu->children[c];
			uint32_t src;

			if (ch->mode == EG_CHILD_MODE_TRANSPORT)
				continue;
			src = child_source(ch, host, n_host);
			if (!src)
				continue;
			for (unsigned int r = 0; r < ch->n_remote; r++) {
				const struct eg_prefix *R = &ch->remote[r].net;
				bool mapped = false;

				if (R->af != AF_INET)
					continue;
				/* remote-netmap: the VM addresses the mapped part by the inside
				 * prefix; the real one may even overlap our own network (S5) */
				for (unsigned int k = 0; k < ch->n_nat; k++) {
					const struct eg_cfg_nat_rule *m = &ch->nat[k];
					uint8_t l =
						R->len > m->outside.len ? R->len : m->outside.len;

					if (m->type != EG_CFG_NAT_REMOTE_NETMAP ||
					    m->outside.af != AF_INET ||
					    ((pfx_addr(R) ^ pfx_addr(&m->outside)) &
					     mask_of(R->len < m->outside.len ? R->len
									     : m->outside.len)))
						continue;
					mapped = true;
					n = plan_add(
						cfg, out, n, max,
						pfx_addr(&m->inside) |
							(pfx_addr(R) & ~mask_of(m->outside.len)),
						l, src);
				}
				if (!mapped)
					n = plan_add(cfg, out, n, max, pfx_addr(R), R->len, src);
			}
		}
	}
	return n;
}

/* ---- rtnetlink ---- */

struct nl {
	struct mnl_socket *s;
	uint32_t portid, seq;
	char *buf; /* MNL_SOCKET_BUFFER_SIZE */
};

static int nl_open(struct nl *nl)
{
	nl->buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	nl->s = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->buf || !nl->s || mnl_socket_bind(nl->s, 0, MNL_SOCKET_AUTOPID) < 0) {
		int rc = errno ? -errno : -ENOMEM;

		if (nl->s)
			mnl_socket_close(nl->s);
		free(nl->buf);
		nl->s = NULL;
		nl->buf = NULL;
		return rc < 0 ? rc : -EIO;
	}
	nl->portid = mnl_socket_get_portid(nl->s);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

static void nl_close(struct nl *nl)
{
	if (nl->s)
		mnl_socket_close(nl->s);
	free(nl->buf);
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);

	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	h->nlmsg_seq = ++nl->seq;
	return h;
}

/* Sends h and reads the answer up to the ack (or DONE), calling cb on data; 0 or -errno. */
static int nl_talk(struct nl *nl, struct nlmsghdr *h, mnl_cb_t cb, void *data)
{
	uint32_t seq = h->nlmsg_seq;
	ssize_t n;
	int rc;

	if (mnl_socket_sendto(nl->s, h, h->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->s, nl->buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
		if (rc < 0)
			return errno ? -errno : -EIO;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

struct link_info {
	int peer; /* IFLA_LINK */
	bool ours, is_veth;
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	if (mnl_attr_get_type(a) == IFLA_LINK && !mnl_attr_validate(a, MNL_TYPE_U32))
		li->peer = (int)mnl_attr_get_u32(a);
	else if (mnl_attr_get_type(a) == IFLA_IFALIAS && !mnl_attr_validate(a, MNL_TYPE_STRING))
		li->ours = !strcmp(mnl_attr_get_str(a), EG_HAIRPIN_ALIAS);
	else if (mnl_attr_get_type(a) == IFLA_LINKINFO && !mnl_attr_validate(a, MNL_TYPE_NESTED)) {
		const struct nlattr *k;

		mnl_attr_for_each_nested(k, a) if (mnl_attr_get_type(k) == IFLA_INFO_KIND &&
						   !mnl_attr_validate(k, MNL_TYPE_STRING))
			li->is_veth = !strcmp(mnl_attr_get_str(k), "veth");
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *h, void *data)
{
	if (h->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(h, sizeof(struct ifinfomsg), link_attr_cb, data);
}

static int link_get(struct nl *nl, int ifindex, struct link_info *li)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));

	memset(li, 0, sizeof(*li));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nl_talk(nl, h, link_cb, li);
}

static int veth_create(struct nl *nl)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	struct nlattr *info, *idata, *peer;
	struct ifinfomsg pi = { .ifi_family = AF_UNSPEC };

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, EG_HAIRPIN_OUT);
	info = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	idata = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(h, VETH_INFO_PEER);
	/* the peer's attributes follow its own ifinfomsg inside VETH_INFO_PEER */
	memcpy(mnl_nlmsg_get_payload_tail(h), &pi, sizeof(pi));
	h->nlmsg_len += MNL_ALIGN(sizeof(pi));
	mnl_attr_put_strz(h, IFLA_IFNAME, EG_HAIRPIN_IN);
	mnl_attr_nest_end(h, peer);
	mnl_attr_nest_end(h, idata);
	mnl_attr_nest_end(h, info);
	return nl_talk(nl, h, NULL, NULL);
}

/* Brings ifindex up; with alias, also sets IFLA_IFALIAS (link creation does not take it). */
static int link_up(struct nl *nl, int ifindex, const char *alias)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (alias)
		mnl_attr_put_strz(h, IFLA_IFALIAS, alias);
	return nl_talk(nl, h, NULL, NULL);
}

static int link_del(struct nl *nl, int ifindex)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nl_talk(nl, h, NULL, NULL);
}

static int addr_set(struct nl *nl, int ifindex, uint32_t a)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 30;
	ifa->ifa_scope = RT_SCOPE_LINK;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put_u32(h, IFA_LOCAL, a);
	mnl_attr_put_u32(h, IFA_ADDRESS, a);
	return nl_talk(nl, h, NULL, NULL);
}

/* A main-table IPv4 route as the dump shows it. */
struct rt_seen {
	uint32_t dst;
	uint8_t len, proto;
};

struct rt_dump {
	struct rt_seen *r;
	size_t n, cap;
	int err;
};

static int route_cb(const struct nlmsghdr *h, void *data)
{
	struct rt_dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
	const struct nlattr *a;
	uint32_t dst = 0, table = 0;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*rtm))
		return MNL_CB_OK;
	table = rtm->rtm_table;
	mnl_attr_for_each(a, h, sizeof(*rtm))
	{
		if (mnl_attr_get_type(a) == RTA_DST && !mnl_attr_validate(a, MNL_TYPE_U32))
			dst = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == RTA_TABLE && !mnl_attr_validate(a, MNL_TYPE_U32))
			table = mnl_attr_get_u32(a);
	}
	if (rtm->rtm_family != AF_INET || table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct rt_seen *nr = realloc(d->r, cap * sizeof(*nr));

		if (!nr) {
			d->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		d->r = nr;
		d->cap = cap;
	}
	d->r[d->n].dst = dst;
	d->r[d->n].len = rtm->rtm_dst_len;
	d->r[d->n++].proto = rtm->rtm_protocol;
	return MNL_CB_OK;
}

static int route_dump(struct nl *nl, struct rt_dump *d)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof(*rtm));
	int rc;

	h->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	rtm->rtm_family = AF_INET;
	rc = nl_talk(nl, h, route_cb, d);
	return d->err ? d->err : rc;
}

static int route_msg(struct nl *nl, bool add, uint32_t dst, uint8_t len, uint32_t src, int oif)
{
	struct nlmsghdr *h = nl_msg(nl, add ? RTM_NEWROUTE : RTM_DELROUTE,
				    add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(h, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = EG_RTPROT;
	rtm->rtm_scope = add ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(h, RTA_DST, dst);
	if (add) {
		mnl_attr_put_u32(h, RTA_GATEWAY, htonl(EG_HAIRPIN_NET + 2));
		mnl_attr_put_u32(h, RTA_OIF, (uint32_t)oif);
		mnl_attr_put_u32(h, RTA_PREFSRC, src);
	}
	return nl_talk(nl, h, NULL, NULL);
}

static const char *ip4(uint32_t a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* Host IPv4 addresses a child's traffic may come from (no loopback, not the hairpin's own). */
static size_t host_addrs(uint32_t *out, size_t max)
{
	struct ifaddrs *ifa = NULL, *i;
	size_t n = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		uint32_t a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !strcmp(i->ifa_name, EG_HAIRPIN_OUT) || !strcmp(i->ifa_name, EG_HAIRPIN_IN))
			continue;
		a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
		if ((ntohl(a) >> 24) == 127)
			continue;
		out[n++] = a;
	}
	freeifaddrs(ifa);
	return n;
}

/* Deletes our routes that plan (n entries, may be 0) does not hold; counts them in *n_del. */
static int routes_prune(struct nl *nl, const struct rt_dump *d, const struct eg_hairpin_route *plan,
			size_t n, unsigned int *n_del)
{
	int rc = 0;

	for (size_t i = 0; i < d->n; i++) {
		bool keep = false;
		char b[INET_ADDRSTRLEN];
		int r;

		if (d->r[i].proto != EG_RTPROT)
			continue;
		for (size_t k = 0; k < n && !keep; k++)
			keep = plan[k].dst == d->r[i].dst && plan[k].len == d->r[i].len;
		if (keep)
			continue;
		r = route_msg(nl, false, d->r[i].dst, d->r[i].len, 0, 0);
		if (r && r != -ESRCH) {
			log_warnx("hairpin: deleting route %s/%u: %s", ip4(d->r[i].dst, b),
				  d->r[i].len, strerror(-r));
			rc = rc ? rc : r;
			continue;
		}
		log_info("hairpin: removed route %s/%u", ip4(d->r[i].dst, b), d->r[i].len);
		(*n_del)++;
	}
	return rc;
}

/* Deletes eg0 (and with it eg1) when the alias says we created it. */
static int pair_remove(struct nl *nl)
{
	int ifx = (int)if_nametoindex(EG_HAIRPIN_OUT);
	struct link_info li;
	int rc;

	if (!ifx)
		return 0;
	rc = link_get(nl, ifx, &li);
	if (rc)
		return rc;
	if (!li.ours) {
		log_info("hairpin: %s was not created by espgate: left in place", EG_HAIRPIN_OUT);
		return 0;
	}
	rc = link_del(nl, ifx);
	if (!rc)
		log_info("hairpin: removed %s/%s", EG_HAIRPIN_OUT, EG_HAIRPIN_IN);
	return rc == -ENODEV ? 0 : rc;
}

/* eg0/eg1 exist (created now or re-used), addressed and up; their ifindexes in *out0. */
static int pair_ensure(struct nl *nl, int *out0, char *err, size_t errlen)
{
	int i0 = (int)if_nametoindex(EG_HAIRPIN_OUT), i1 = (int)if_nametoindex(EG_HAIRPIN_IN);
	struct link_info li;
	int rc;

	bool created = false;

	if (!i0 && !i1) {
		created = true;
		rc = veth_create(nl);
		if (rc) {
			errf(err, errlen, "creating veth %s/%s: %s", EG_HAIRPIN_OUT, EG_HAIRPIN_IN,
			     strerror(-rc));
			return rc;
		}
		log_info("hairpin: created veth %s/%s", EG_HAIRPIN_OUT, EG_HAIRPIN_IN);
		i0 = (int)if_nametoindex(EG_HAIRPIN_OUT);
		i1 = (int)if_nametoindex(EG_HAIRPIN_IN);
	}
	rc = i0 && i1 ? link_get(nl, i0, &li) : -EEXIST;
	if (!rc && (!li.is_veth || li.peer != i1))
		rc = -EEXIST;
	if (rc) {
		errf(err, errlen,
		     "%s and %s must be the two ends of one veth pair (or both absent): %s",
		     EG_HAIRPIN_OUT, EG_HAIRPIN_IN, strerror(-rc));
		return rc;
	}
	rc = addr_set(nl, i0, htonl(EG_HAIRPIN_NET + 1));
	if (!rc)
		rc = addr_set(nl, i1, htonl(EG_HAIRPIN_NET + 2));
	if (!rc)
		rc = link_up(nl, i0, created ? EG_HAIRPIN_ALIAS : NULL);
	if (!rc)
		rc = link_up(nl, i1, created ? EG_HAIRPIN_ALIAS : NULL);
	if (rc) {
		errf(err, errlen, "configuring %s/%s: %s", EG_HAIRPIN_OUT, EG_HAIRPIN_IN,
		     strerror(-rc));
		return rc;
	}
	*out0 = i0;
	return 0;
}

int eg_hairpin_apply(const struct eg_config_file *cfg, struct eg_hairpin_state *st, char *err,
		     size_t errlen)
{
	struct eg_hairpin_route *plan;
	struct rt_dump d = { 0 };
	struct nl nl = { 0 };
	uint32_t host[64];
	unsigned int n_ok = 0, n_del = 0;
	size_t n, nh;
	int i0 = 0, rc;

	if (st) {
		st->ifindex_out = 0;
		st->n = 0;
	}
	plan = calloc(EG_HAIRPIN_MAX_ROUTES, sizeof(*plan));
	if (!plan)
		return -ENOMEM;
	nh = host_addrs(host, 64);
	n = eg_hairpin_plan(cfg, host, nh, plan, EG_HAIRPIN_MAX_ROUTES);
	rc = nl_open(&nl);
	if (rc) {
		errf(err, errlen, "rtnetlink: %s", strerror(-rc));
		goto out_plan;
	}
	rc = route_dump(&nl, &d);
	if (rc) {
		errf(err, errlen, "listing routes: %s", strerror(-rc));
		goto out_nl;
	}
	if (!n) {
		/* nothing the VM sources goes through a tunnel: converge to no hairpin */
		rc = routes_prune(&nl, &d, NULL, 0, &n_del);
		if (!rc)
			rc = pair_remove(&nl);
		if (rc)
			errf(err, errlen, "removing the hairpin: %s", strerror(-rc));
		goto out_nl;
	}
	rc = pair_ensure(&nl, &i0, err, errlen);
	if (rc)
		goto out_nl;
	for (size_t k = 0; k < n; k++) {
		char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
		bool foreign = false;
		int r;

		for (size_t i = 0; i < d.n && !foreign; i++)
			foreign = d.r[i].proto != EG_RTPROT && d.r[i].dst == plan[k].dst &&
				  d.r[i].len == plan[k].len;
		if (foreign) {
			log_warnx("hairpin: a route to %s/%u exists that espgate did not add: the "
				  "host's own traffic there does not pass the datapath",
				  ip4(plan[k].dst, b1), plan[k].len);
			plan[k].len = 0xff; /* not ours: pruning must not match it either */
			continue;
		}
		r = route_msg(&nl, true, plan[k].dst, plan[k].len, plan[k].src, i0);
		if (r) {
			log_warnx("hairpin: route %s/%u via %s: %s", ip4(plan[k].dst, b1),
				  plan[k].len, EG_HAIRPIN_OUT, strerror(-r));
			if (!rc) {
				rc = r;
				errf(err, errlen, "route %s/%u via %s: %s", ip4(plan[k].dst, b1),
				     plan[k].len, EG_HAIRPIN_OUT, strerror(-r));
			}
			continue;
		}
		log_debug("hairpin: route %s/%u via %s src %s", ip4(plan[k].dst, b1), plan[k].len,
			  EG_HAIRPIN_OUT, ip4(plan[k].src, b2));
		if (st && st->n < EG_HAIRPIN_MAX_ROUTES)
			st->r[st->n++] = plan[k];
		n_ok++;
	}
	{
		int r = routes_prune(&nl, &d, plan, n, &n_del);

		if (r && !rc) {
			rc = r;
			errf(err, errlen, "removing stale hairpin routes: %s", strerror(-r));
		}
	}
	log_info("hairpin: %u routes via %s (%u stale removed)", n_ok, EG_HAIRPIN_OUT, n_del);
	if (st)
		st->ifindex_out = i0;
out_nl:
	free(d.r);
	nl_close(&nl);
out_plan:
	free(plan);
	return rc;
}

int eg_hairpin_remove(char *err, size_t errlen)
{
	struct rt_dump d = { 0 };
	struct nl nl = { 0 };
	unsigned int n_del = 0;
	int rc;

	rc = nl_open(&nl);
	if (rc) {
		errf(err, errlen, "rtnetlink: %s", strerror(-rc));
		return rc;
	}
	rc = route_dump(&nl, &d);
	if (!rc)
		rc = routes_prune(&nl, &d, NULL, 0, &n_del);
	if (!rc)
		rc = pair_remove(&nl);
	if (rc)
		errf(err, errlen, "removing the hairpin: %s", strerror(-rc));
	else
		log_info("hairpin: removed %u routes", n_del);
	free(d.r);
	nl_close(&nl);
	return rc;
}
