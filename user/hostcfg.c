// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host settings (see hostcfg.h): a table of (sysctl, wanted value, why) built from the
 * configuration, each read first and written only when it differs, so a restart changes nothing
 * and logs nothing when the host is already right.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "hostcfg.h"
#include "log.h"

struct host_set {
	char path[160]; /* below sysroot */
	const char *want;
	const char *why;
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

static int read_val(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static int write_val(const char *path, const char *val)
{
	size_t l = strlen(val);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, val, l);
	close(fd);
	if (n < 0)
		return -errno;
	return (size_t)n == l ? 0 : -EIO;
}

static bool if_exists(const char *sysroot, const char *ifname)
{
	char p[PATH_MAX + 64];

	if (!ifname || !ifname[0])
		return false;
	snprintf(p, sizeof(p), "%s/net/ipv4/conf/%s", sysroot, ifname);
	return access(p, F_OK) == 0;
}

/* Adds net/ipv4/conf/<ifname>/<key>, or the global key when ifname is NULL. */
static unsigned int add(struct host_set *s, unsigned int n, unsigned int max, const char *want,
			const char *why, const char *key, const char *ifname)
{
	if (n >= max)
		return n;
	if (ifname)
		snprintf(s[n].path, sizeof(s[n].path), "net/ipv4/conf/%s/%s", ifname, key);
	else
		snprintf(s[n].path, sizeof(s[n].path), "net/ipv4/%s", key);
	s[n].want = want;
	s[n].why = why;
	return n + 1;
}

/* Does the configuration translate sources (so BPF rewrites them before rp_filter)? */
static bool translates(const struct eg_config_file *cfg)
{
	if (cfg->n_masq)
		return true;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		for (size_t j = 0; j < cfg->tunnels[i].n_children; j++)
			for (unsigned int k = 0; k < cfg->tunnels[i].children[j].n_nat; k++) {
				uint8_t ty = cfg->tunnels[i].children[j].nat[k].type;

				if (ty == EG_CFG_NAT_SNAT || ty == EG_CFG_NAT_NETMAP ||
				    ty == EG_CFG_NAT_POOL)
					return true;
			}
	return false;
}

/* Is IPv4 address a (network order) inside prefix p? */
static bool in_pfx(uint32_t a, const struct eg_prefix *p)
{
	uint32_t net, mask = p->len ? htonl(~0u << (32 - p->len)) : 0;

	memcpy(&net, p->addr, 4);
	return p->af == AF_INET && (a & mask) == (net & mask);
}

/* A translated (outside) source address that is assigned to the host, or 0. */
static uint32_t local_snat(const struct eg_config_file *cfg, char *what, size_t wlen, char *ifname)
{
	struct ifaddrs *ifa = NULL, *i;
	uint32_t hit = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i && !hit; i = i->ifa_next) {
		uint32_t a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
		for (size_t m = 0; m < cfg->n_masq && !hit; m++) {
			uint32_t o;

			memcpy(&o, cfg->masq[m].outside.addr, 4);
			if (cfg->masq[m].outside.af == AF_INET && o == a) {
				hit = a;
				snprintf(what, wlen, "masquerade (line %u)", cfg->masq[m].line);
			}
		}
		for (size_t t = 0; t < cfg->n_tunnels && !hit; t++) {
			const struct eg_tunnel *tu = &cfg->tunnels[t];

			for (size_t c = 0; c < tu->n_children && !hit; c++) {
				const struct eg_cfg_child *ch = &tu->children[c];

				for (unsigned int k = 0; k < ch->n_nat && !hit; k++) {
					const struct eg_cfg_nat_rule *r = &ch->nat[k];

					if ((r->type == EG_CFG_NAT_SNAT ||
					     r->type == EG_CFG_NAT_NETMAP ||
					     r->type == EG_CFG_NAT_POOL) &&
					    in_pfx(a, &r->outside)) {
						hit = a;
						snprintf(what, wlen, "tunnel %s child %s (line %u)",
							 tu->name, ch->name, r->line);
					}
				}
			}
		}
		if (hit)
			snprintf(ifname, IF_NAMESIZE, "%s", i->ifa_name);
	}
	freeifaddrs(ifa);
	return hit;
}

/* Is the address a forward rule's clients connect to assigned to the host? Its replies then
 * come back from the tunnel with that local address as source (the datapath reverse-translates
 * before routing), and the kernel drops them as martians unless accept_local is on where the
 * decrypted packets re-enter: the outside NIC. */
static bool local_forward(const struct eg_config_file *cfg)
{
	struct ifaddrs *ifa = NULL, *i;
	bool hit = false;

	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !hit; i = i->ifa_next) {
		uint32_t a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
		for (size_t t = 0; t < cfg->n_tunnels && !hit; t++)
			for (size_t c = 0; c < cfg->tunnels[t].n_children && !hit; c++) {
				const struct eg_cfg_child *ch = &cfg->tunnels[t].children[c];

				for (unsigned int k = 0; k < ch->n_nat && !hit; k++)
					hit = ch->nat[k].type == EG_CFG_NAT_FORWARD &&
					      in_pfx(a, &ch->nat[k].inside);
			}
	}
	freeifaddrs(ifa);
	return hit;
}

int eg_host_apply(const struct eg_config_file *cfg, bool dry_run, const char *sysroot,
		  unsigned int *changed, char *err, size_t errlen)
{
	static const char *const redir = "ICMP redirects would teach hosts to bypass the gateway";
	const struct eg_global *g = &cfg->global;
	const char *ifs[2] = { g->outside_if, g->inside_if };
	struct host_set s[16];
	unsigned int n = 0, nchg = 0;
	char what[256] = "", ifname[IF_NAMESIZE] = "";
	uint32_t local;
	int rc = 0;

	if (!sysroot)
		sysroot = "/proc/sys";
	if (changed)
		*changed = 0;
	local = local_snat(cfg, what, sizeof(what), ifname);
	if (local) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &local, a, sizeof(a));
		errf(err, errlen,
		     "%s translates to %s, which is assigned to this host (%s): forwarded "
		     "packets rewritten to a local source are dropped as martians; remove the "
		     "address from the interface",
		     what, a, ifname);
		return -EADDRINUSE;
	}
	n = add(s, n, 16, "1", "the gateway forwards", "ip_forward", NULL);
	n = add(s, n, 16, "0", redir, "send_redirects", "all");
	n = add(s, n, 16, "0", "a gateway takes no redirects", "accept_redirects", "all");
	for (int i = 0; i < 2; i++) {
		if (!if_exists(sysroot, ifs[i]))
			continue;
		n = add(s, n, 16, "0", redir, "send_redirects", ifs[i]);
		n = add(s, n, 16, "0", "a gateway takes no redirects", "accept_redirects", ifs[i]);
	}
	if (g->inside_if[0] && if_exists(sysroot, g->inside_if) && translates(cfg))
		n = add(s, n, 16, "2",
			"sources are translated before the reverse-path check and routed via the "
			"outside NIC",
			"rp_filter", g->inside_if);
	if (if_exists(sysroot, g->outside_if) && local_forward(cfg))
		n = add(s, n, 16, "1",
			"replies to a forward rule on a local address return from the tunnel with "
			"that local source",
			"accept_local", g->outside_if);
	if (if_exists(sysroot, EG_HAIRPIN_IN)) {
		n = add(s, n, 16, "1", "the gateway's own packets return with a local source",
			"accept_local", EG_HAIRPIN_IN);
		n = add(s, n, 16, "2", "translated sources of the gateway's own packets",
			"rp_filter", EG_HAIRPIN_IN);
	}

	for (unsigned int i = 0; i < n; i++) {
		char path[PATH_MAX + 200], cur[32];
		int r;

		snprintf(path, sizeof(path), "%s/%s", sysroot, s[i].path);
		r = read_val(path, cur, sizeof(cur));
		if (r) {
			log_warnx("host: cannot read %s: %s", s[i].path, strerror(-r));
			if (!rc) {
				rc = r;
				errf(err, errlen, "reading %s: %s", s[i].path, strerror(-r));
			}
			continue;
		}
		if (!strcmp(cur, s[i].want))
			continue;
		nchg++;
		if (dry_run) {
			log_info("host: would set %s = %s (now %s): %s", s[i].path, s[i].want, cur,
				 s[i].why);
			continue;
		}
		r = write_val(path, s[i].want);
		if (r) {
			log_warnx("host: cannot set %s = %s: %s", s[i].path, s[i].want,
				  strerror(-r));
			if (!rc) {
				rc = r;
				errf(err, errlen, "setting %s = %s: %s", s[i].path, s[i].want,
				     strerror(-r));
			}
			continue;
		}
		log_info("host: set %s = %s (was %s): %s", s[i].path, s[i].want, cur, s[i].why);
	}
	if (changed)
		*changed = nchg;
	return rc;
}
