// SPDX-License-Identifier: GPL-2.0-only
/*
 * Traffic selectors (RFC 7296 §2.9, §3.13): range arithmetic over the fixed-size struct ike_ts
 * (containment, intersection, prefix splitting for XFRM), the responder's narrowing and strict
 * check, the initiator's proposal and its check of the answer, and the strongSwan-style text form
 * ("10.1.0.0/16[tcp/8080]") for configuration and logs. The security property this file exists
 * for: whatever a peer proposes, an answer we give or accept is never wider than the configured
 * selectors (seed 001: one partner must never get an SA covering another partner's range).
 * Addresses are compared as big-endian integers; 128-bit arithmetic uses unsigned __int128.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ike_ts.h"

typedef unsigned __int128 ts_u128;

static const struct {
	uint8_t proto;
	const char *name;
} ts_protos[] = {
	{ 1, "icmp" }, { 6, "tcp" },	    { 17, "udp" },   { 47, "gre" },
	{ 50, "esp" }, { 58, "ipv6-icmp" }, { 132, "sctp" },
};

static unsigned int ts_alen(uint8_t type)
{
	if (type == IKE_TS_IPV4_ADDR_RANGE)
		return 4;
	if (type == IKE_TS_IPV6_ADDR_RANGE)
		return 16;
	return 0;
}

static ts_u128 ts_load(const uint8_t *a, unsigned int alen)
{
	ts_u128 v = 0;
	unsigned int i;

	for (i = 0; i < alen; i++)
		v = (v << 8) | a[i];
	return v;
}

static void ts_store(uint8_t *a, unsigned int alen, ts_u128 v)
{
	unsigned int i;

	memset(a, 0, 16);
	for (i = alen; i > 0; i--) {
		a[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

static ts_u128 ts_max(unsigned int bits)
{
	return bits >= 128 ? ~(ts_u128)0 : ((ts_u128)1 << bits) - 1;
}

static unsigned int ts_nlist(const struct ike_ts_list *l)
{
	return l->n <= IKE_MAX_TS ? l->n : IKE_MAX_TS;
}

bool ike_ts_valid(const struct ike_ts *ts)
{
	unsigned int alen = ts_alen(ts->type);

	return alen && ts->port_lo <= ts->port_hi &&
	       ts_load(ts->start, alen) <= ts_load(ts->end, alen);
}

bool ike_ts_equal(const struct ike_ts *a, const struct ike_ts *b)
{
	unsigned int alen = ts_alen(a->type);

	return a->type == b->type && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && !memcmp(a->start, b->start, alen) &&
	       !memcmp(a->end, b->end, alen);
}

bool ike_ts_contains(const struct ike_ts *outer, const struct ike_ts *inner)
{
	unsigned int alen = ts_alen(outer->type);

	if (!ike_ts_valid(outer) || !ike_ts_valid(inner) || outer->type != inner->type)
		return false;
	if (outer->proto && outer->proto != inner->proto)
		return false;
	if (inner->port_lo < outer->port_lo || inner->port_hi > outer->port_hi)
		return false;
	return ts_load(inner->start, alen) >= ts_load(outer->start, alen) &&
	       ts_load(inner->end, alen) <= ts_load(outer->end, alen);
}

int ike_ts_intersect(const struct ike_ts *a, const struct ike_ts *b, struct ike_ts *out)
{
	unsigned int alen = ts_alen(a->type);
	ts_u128 lo, hi, x;
	struct ike_ts r;

	if (!ike_ts_valid(a) || !ike_ts_valid(b) || a->type != b->type)
		return -ENOENT;
	if (a->proto && b->proto && a->proto != b->proto)
		return -ENOENT;
	memset(&r, 0, sizeof(r));
	r.type = a->type;
	r.proto = a->proto ? a->proto : b->proto;
	r.port_lo = a->port_lo > b->port_lo ? a->port_lo : b->port_lo;
	r.port_hi = a->port_hi < b->port_hi ? a->port_hi : b->port_hi;
	lo = ts_load(a->start, alen);
	x = ts_load(b->start, alen);
	if (x > lo)
		lo = x;
	hi = ts_load(a->end, alen);
	x = ts_load(b->end, alen);
	if (x < hi)
		hi = x;
	if (r.port_lo > r.port_hi || lo > hi)
		return -ENOENT;
	ts_store(r.start, alen, lo);
	ts_store(r.end, alen, hi);
	*out = r;
	return 0;
}

bool ike_ts_pair_ok(const struct ike_ts *a, const struct ike_ts *b)
{
	return a->type == b->type && (!a->proto || !b->proto || a->proto == b->proto);
}

int ike_ts_from_prefix(struct ike_ts *ts, int family, const void *addr, unsigned int plen,
		       uint8_t proto, uint16_t port_lo, uint16_t port_hi)
{
	unsigned int alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	ts_u128 a, host;

	if (!alen || !addr || plen > alen * 8 || port_lo > port_hi)
		return -EINVAL;
	memset(ts, 0, sizeof(*ts));
	ts->type = alen == 4 ? IKE_TS_IPV4_ADDR_RANGE : IKE_TS_IPV6_ADDR_RANGE;
	ts->proto = proto;
	ts->port_lo = port_lo;
	ts->port_hi = port_hi;
	host = ts_max(alen * 8 - plen);
	a = ts_load(addr, alen) & ~host;
	ts_store(ts->start, alen, a);
	ts_store(ts->end, alen, a | host);
	return 0;
}

/* The prefix length if [lo, hi] is exactly one CIDR block, else -1. */
static int ts_prefix_len(ts_u128 lo, ts_u128 hi, unsigned int bits)
{
	unsigned int h = 0;
	ts_u128 x = lo ^ hi, host;

	while (h < bits && x) {
		x >>= 1;
		h++;
	}
	host = ts_max(h);
	if ((lo & host) != 0 || (hi & host) != host)
		return -1;
	return (int)(bits - h);
}

/*
 * Host bits of the largest aligned block that starts at cur and ends at or before hi, in a space
 * of the given width (cur <= hi).
 */
static unsigned int ts_block(ts_u128 cur, ts_u128 hi, unsigned int bits)
{
	unsigned int k;

	if (cur == 0 && hi == ts_max(bits))
		return bits; /* the whole space: one block */
	/* not the whole space, so never 2^bits: k + 1 < bits keeps the shift defined */
	for (k = 0; k + 1 < bits; k++) {
		ts_u128 size = (ts_u128)1 << (k + 1);

		if ((cur & (size - 1)) || cur + (size - 1) > hi)
			break;
	}
	return k;
}

int ike_ts_to_prefixes(const struct ike_ts *ts, struct ike_prefix *out, unsigned int max,
		       unsigned int *n)
{
	unsigned int alen = ts_alen(ts->type), bits = alen * 8, k;
	ts_u128 cur, hi, last;

	*n = 0;
	if (!ike_ts_valid(ts))
		return -EINVAL;
	cur = ts_load(ts->start, alen);
	hi = ts_load(ts->end, alen);
	for (;;) {
		k = ts_block(cur, hi, bits);
		if (*n >= max)
			return -ENOSPC;
		out[*n].family = alen == 4 ? AF_INET : AF_INET6;
		out[*n].plen = (uint8_t)(bits - k);
		ts_store(out[*n].addr, alen, cur);
		(*n)++;
		last = cur + ts_max(k);
		if (last >= hi)
			return 0;
		cur = last + 1;
	}
}

int ike_ts_port_masks(const struct ike_ts *ts, struct ike_port_mask *out, unsigned int max,
		      unsigned int *n)
{
	unsigned int k;
	ts_u128 cur, last;

	*n = 0;
	if (!ike_ts_valid(ts))
		return -EINVAL;
	cur = ts->port_lo;
	for (;;) {
		k = ts_block(cur, ts->port_hi, 16);
		if (*n >= max)
			return -ENOSPC;
		out[*n].port = (uint16_t)cur;
		out[*n].mask = (uint16_t)~ts_max(k);
		(*n)++;
		last = cur + ts_max(k);
		if (last >= ts->port_hi)
			return 0;
		cur = last + 1;
	}
}

/* --- text form -------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int ts_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!buf || !len)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

static int ts_parse_num(const char *s, size_t len, unsigned long maxv, unsigned long *v)
{
	char tmp[8];
	char *end;

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (tmp[0] < '0' || tmp[0] > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(tmp, &end, 10);
	if (errno || *end || *v > maxv)
		return -EINVAL;
	return 0;
}

static int ts_parse_proto(const char *s, size_t len, uint8_t *proto)
{
	unsigned long v;
	size_t i;

	if ((len == 4 && !strncasecmp(s, "%any", 4)) || (len == 3 && !strncasecmp(s, "any", 3))) {
		*proto = 0;
		return 0;
	}
	for (i = 0; i < sizeof(ts_protos) / sizeof(ts_protos[0]); i++) {
		if (strlen(ts_protos[i].name) == len && !strncasecmp(ts_protos[i].name, s, len)) {
			*proto = ts_protos[i].proto;
			return 0;
		}
	}
	if ((len == 5 && !strncasecmp(s, "icmp6", 5)) ||
	    (len == 6 && !strncasecmp(s, "icmpv6", 6))) {
		*proto = 58;
		return 0;
	}
	if (ts_parse_num(s, len, 255, &v))
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static int ts_parse_ports(const char *s, size_t len, uint16_t *lo, uint16_t *hi)
{
	const char *dash = memchr(s, '-', len);
	unsigned long a, b;

	if ((len == 4 && !strncasecmp(s, "%any", 4)) || (len == 3 && !strncasecmp(s, "any", 3))) {
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	if (!dash) {
		if (ts_parse_num(s, len, 65535, &a))
			return -EINVAL;
		b = a;
	} else if (ts_parse_num(s, (size_t)(dash - s), 65535, &a) ||
		   ts_parse_num(dash + 1, len - (size_t)(dash - s) - 1, 65535, &b) || a > b) {
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int ts_parse_addr(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(addr, 0, 16);
	*family = memchr(tmp, ':', len) ? AF_INET6 : AF_INET;
	return inet_pton(*family, tmp, addr) == 1 ? 0 : -EINVAL;
}

int ike_ts_parse(const char *str, struct ike_ts *ts, char *err, size_t errlen)
{
	const char *br, *sep, *end, *slash;
	uint8_t a[16], b[16];
	int fam, fam2;
	unsigned long plen;
	size_t alen;

	if (err && errlen)
		err[0] = '\0';
	if (!str || !ts)
		return -EINVAL;
	memset(ts, 0, sizeof(*ts));
	ts->port_hi = 65535;
	end = str + strlen(str);
	br = strchr(str, '[');
	alen = (size_t)((br ? br : end) - str);
	sep = memchr(str, '/', alen);
	slash = sep;
	if (!sep)
		sep = memchr(str, '-', alen);
	if (ts_parse_addr(str, sep ? (size_t)(sep - str) : alen, &fam, a)) {
		ts_msg(err, errlen, "bad address in selector '%s'", str);
		return -EINVAL;
	}
	if (slash) {
		if (ts_parse_num(slash + 1, alen - (size_t)(slash + 1 - str),
				 fam == AF_INET ? 32 : 128, &plen)) {
			ts_msg(err, errlen, "bad prefix length in selector '%s'", str);
			return -EINVAL;
		}
		ike_ts_from_prefix(ts, fam, a, (unsigned int)plen, 0, 0, 65535);
		if (memcmp(ts->start, a, fam == AF_INET ? 4 : 16)) {
			ts_msg(err, errlen, "selector '%s' has host bits set after the prefix",
			       str);
			return -EINVAL;
		}
	} else if (sep) {
		if (ts_parse_addr(sep + 1, alen - (size_t)(sep + 1 - str), &fam2, b) ||
		    fam2 != fam) {
			ts_msg(err, errlen, "bad range end in selector '%s'", str);
			return -EINVAL;
		}
		ts->type = fam == AF_INET ? IKE_TS_IPV4_ADDR_RANGE : IKE_TS_IPV6_ADDR_RANGE;
		memcpy(ts->start, a, 16);
		memcpy(ts->end, b, 16);
		if (!ike_ts_valid(ts)) {
			ts_msg(err, errlen, "selector '%s' ends before it starts", str);
			return -EINVAL;
		}
	} else {
		ike_ts_from_prefix(ts, fam, a, fam == AF_INET ? 32 : 128, 0, 0, 65535);
	}
	if (!br)
		return 0;
	/* "[proto]" or "[proto/ports]", and nothing after the ']' */
	if (end - br < 2 || end[-1] != ']') {
		ts_msg(err, errlen, "selector '%s': protocol/port part must end with ']'", str);
		return -EINVAL;
	}
	sep = memchr(br + 1, '/', (size_t)(end - 1 - (br + 1)));
	if (ts_parse_proto(br + 1, (size_t)((sep ? sep : end - 1) - (br + 1)), &ts->proto)) {
		ts_msg(err, errlen, "selector '%s': unknown protocol", str);
		return -EINVAL;
	}
	if (sep &&
	    ts_parse_ports(sep + 1, (size_t)(end - 1 - (sep + 1)), &ts->port_lo, &ts->port_hi)) {
		ts_msg(err, errlen, "selector '%s': bad port or port range", str);
		return -EINVAL;
	}
	return 0;
}

int ike_ts_format(const struct ike_ts *ts, char *buf, size_t len)
{
	unsigned int alen = ts_alen(ts->type);
	int fam = alen == 4 ? AF_INET : AF_INET6, plen, n;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], proto[8], ports[16];
	const char *pname = NULL;
	size_t i;

	if (!buf || !len)
		return -ENOSPC;
	if (!alen) {
		n = snprintf(buf, len, "<ts type %u>", ts->type);
		return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
	}
	inet_ntop(fam, ts->start, a, sizeof(a));
	inet_ntop(fam, ts->end, b, sizeof(b));
	plen = ts_prefix_len(ts_load(ts->start, alen), ts_load(ts->end, alen), alen * 8);
	if (plen >= 0)
		n = snprintf(buf, len, "%s/%d", a, plen);
	else
		n = snprintf(buf, len, "%s-%s", a, b);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	if (!ts->proto && ts->port_lo == 0 && ts->port_hi == 65535)
		return 0;
	for (i = 0; i < sizeof(ts_protos) / sizeof(ts_protos[0]); i++)
		if (ts_protos[i].proto == ts->proto)
			pname = ts_protos[i].name;
	if (!ts->proto)
		pname = "%any";
	if (!pname) {
		snprintf(proto, sizeof(proto), "%u", ts->proto);
		pname = proto;
	}
	if (ts->port_lo == 0 && ts->port_hi == 65535)
		ports[0] = '\0';
	else if (ts->port_lo > ts->port_hi)
		snprintf(ports, sizeof(ports), "/opaque");
	else if (ts->port_lo == ts->port_hi)
		snprintf(ports, sizeof(ports), "/%u", ts->port_lo);
	else
		snprintf(ports, sizeof(ports), "/%u-%u", ts->port_lo, ts->port_hi);
	i = (size_t)n;
	n = snprintf(buf + i, len - i, "[%s%s]", pname, ports);
	return n < 0 || (size_t)n >= len - i ? -ENOSPC : 0;
}

int ike_ts_list_format(const struct ike_ts_list *l, char *buf, size_t len)
{
	char one[IKE_TS_STR_LEN];
	unsigned int i, n = ts_nlist(l);
	size_t off = 0;
	int w;

	if (!buf || !len)
		return -ENOSPC;
	buf[0] = '\0';
	if (!n) {
		w = snprintf(buf, len, "(none)");
		return w < 0 || (size_t)w >= len ? -ENOSPC : 0;
	}
	for (i = 0; i < n; i++) {
		ike_ts_format(&l->ts[i], one, sizeof(one));
		w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", one);
		if (w < 0 || (size_t)w >= len - off)
			return -ENOSPC;
		off += (size_t)w;
	}
	return 0;
}

/* --- negotiation ------------------------------------------------------------------------------ */

/*
 * Adds x to l unless a selector already there covers it; drops those x covers. When l is full the
 * selector is left out: the answer only gets narrower, never wider.
 */
static void ts_add(struct ike_ts_list *l, const struct ike_ts *x)
{
	unsigned int i, k;

	for (i = 0; i < l->n; i++)
		if (ike_ts_contains(&l->ts[i], x))
			return;
	for (i = 0, k = 0; i < l->n; i++)
		if (!ike_ts_contains(x, &l->ts[i]))
			l->ts[k++] = l->ts[i];
	l->n = (uint8_t)k;
	if (l->n < IKE_MAX_TS)
		l->ts[l->n++] = *x;
}

/* Whether some selector of a and some of b can form one SA's traffic (common protocol). */
static bool ts_lists_pair(const struct ike_ts_list *a, const struct ike_ts_list *b)
{
	unsigned int i, j;

	for (i = 0; i < ts_nlist(a); i++)
		for (j = 0; j < ts_nlist(b); j++)
			if (ike_ts_pair_ok(&a->ts[i], &b->ts[j]))
				return true;
	return false;
}

static void ts_narrow_side(const struct ike_ts_list *peer, const struct ike_ts_list *cfg,
			   struct ike_ts_list *out)
{
	unsigned int i, j;
	struct ike_ts x;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ts_nlist(peer); i++)
		for (j = 0; j < ts_nlist(cfg); j++)
			if (!ike_ts_intersect(&peer->ts[i], &cfg->ts[j], &x))
				ts_add(out, &x);
}

/* Strict: every valid peer selector inside one configured selector, else a reason. */
static int ts_strict_side(const struct ike_ts_list *peer, const struct ike_ts_list *cfg,
			  const char *pname, const char *cname, struct ike_ts_list *out, char *why,
			  size_t whylen)
{
	char p[IKE_TS_STR_LEN], c[IKE_TS_WHY_LEN / 2];
	const char *rel = "outside";
	unsigned int i, j;
	struct ike_ts x;
	bool ok;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ts_nlist(peer); i++) {
		if (!ike_ts_valid(&peer->ts[i]))
			continue; /* unknown type or empty range: ignored (§2.9) */
		ok = false;
		for (j = 0; j < ts_nlist(cfg) && !ok; j++)
			ok = ike_ts_contains(&cfg->ts[j], &peer->ts[i]);
		if (ok) {
			ts_add(out, &peer->ts[i]);
			continue;
		}
		for (j = 0; j < ts_nlist(cfg); j++) {
			if (ike_ts_contains(&peer->ts[i], &cfg->ts[j])) {
				rel = "wider than";
				break;
			}
			if (!ike_ts_intersect(&peer->ts[i], &cfg->ts[j], &x))
				rel = "not within";
		}
		ike_ts_format(&peer->ts[i], p, sizeof(p));
		ike_ts_list_format(cfg, c, sizeof(c));
		ts_msg(why, whylen, "strict: peer proposed %s %s %s configured %s %s", pname, p,
		       rel, cname, c);
		return -EACCES;
	}
	if (!out->n) {
		ts_msg(why, whylen, "peer proposed no usable %s selector", pname);
		return -ENOENT;
	}
	return 0;
}

static int ts_empty_why(const struct ike_ts_list *peer, const struct ike_ts_list *cfg,
			const char *pname, const char *cname, char *why, size_t whylen)
{
	char p[IKE_TS_WHY_LEN / 2], c[IKE_TS_WHY_LEN / 2];

	ike_ts_list_format(peer, p, sizeof(p));
	ike_ts_list_format(cfg, c, sizeof(c));
	ts_msg(why, whylen, "peer proposed %s %s, which does not overlap configured %s %s", pname,
	       p, cname, c);
	return -ENOENT;
}

int ike_ts_narrow(const struct ike_ts_cfg *cfg, const struct ike_ts_list *tsi,
		  const struct ike_ts_list *tsr, struct ike_ts_list *out_tsi,
		  struct ike_ts_list *out_tsr, char *why, size_t whylen)
{
	int err;

	if (why && whylen)
		why[0] = '\0';
	if (!cfg || !tsi || !tsr || !out_tsi || !out_tsr)
		return -EINVAL;
	if (cfg->strict) {
		err = ts_strict_side(tsi, &cfg->remote, "TSi", "remote", out_tsi, why, whylen);
		if (!err)
			err = ts_strict_side(tsr, &cfg->local, "TSr", "local", out_tsr, why,
					     whylen);
		if (err)
			goto fail;
	} else {
		ts_narrow_side(tsi, &cfg->remote, out_tsi);
		if (!out_tsi->n) {
			err = ts_empty_why(tsi, &cfg->remote, "TSi", "remote", why, whylen);
			goto fail;
		}
		ts_narrow_side(tsr, &cfg->local, out_tsr);
		if (!out_tsr->n) {
			err = ts_empty_why(tsr, &cfg->local, "TSr", "local", why, whylen);
			goto fail;
		}
	}
	if (!ts_lists_pair(out_tsi, out_tsr)) {
		ts_msg(why, whylen,
		       "no TSi/TSr pair left with a common address family and protocol");
		err = -ENOENT;
		goto fail;
	}
	return 0;
fail:
	memset(out_tsi, 0, sizeof(*out_tsi));
	memset(out_tsr, 0, sizeof(*out_tsr));
	return err;
}

static bool ts_in_list(const struct ike_ts_list *l, const struct ike_ts *x)
{
	unsigned int i;

	for (i = 0; i < ts_nlist(l); i++)
		if (ike_ts_contains(&l->ts[i], x))
			return true;
	return false;
}

static void ts_copy(struct ike_ts_list *dst, const struct ike_ts_list *src)
{
	unsigned int i;

	for (i = 0; i < ts_nlist(src) && dst->n < IKE_MAX_TS; i++)
		dst->ts[dst->n++] = src->ts[i];
}

int ike_ts_propose(const struct ike_ts_cfg *cfg, const struct ike_ts *trig_local,
		   const struct ike_ts *trig_remote, struct ike_ts_list *tsi,
		   struct ike_ts_list *tsr)
{
	if (!cfg || !tsi || !tsr || !cfg->local.n || !cfg->remote.n)
		return -EINVAL;
	memset(tsi, 0, sizeof(*tsi));
	memset(tsr, 0, sizeof(*tsr));
	if (!cfg->strict && trig_local && trig_remote && ts_in_list(&cfg->local, trig_local) &&
	    ts_in_list(&cfg->remote, trig_remote) && ts_nlist(&cfg->local) < IKE_MAX_TS &&
	    ts_nlist(&cfg->remote) < IKE_MAX_TS) {
		tsi->ts[tsi->n++] = *trig_local;
		tsr->ts[tsr->n++] = *trig_remote;
	}
	ts_copy(tsi, &cfg->local);
	ts_copy(tsr, &cfg->remote);
	return 0;
}

/* Strict: the answer and the configuration are the same set of selectors. */
static int ts_check_exact(const struct ike_ts_list *got, const struct ike_ts_list *cfg,
			  const char *name, char *why, size_t whylen)
{
	char g[IKE_TS_WHY_LEN / 2], c[IKE_TS_WHY_LEN / 2];
	unsigned int i, j;
	bool ok = true, f;

	for (i = 0; i < ts_nlist(got) && ok; i++) {
		for (j = 0, f = false; j < ts_nlist(cfg) && !f; j++)
			f = ike_ts_equal(&got->ts[i], &cfg->ts[j]);
		ok = f;
	}
	for (i = 0; i < ts_nlist(cfg) && ok; i++) {
		for (j = 0, f = false; j < ts_nlist(got) && !f; j++)
			f = ike_ts_equal(&cfg->ts[i], &got->ts[j]);
		ok = f;
	}
	if (ok)
		return 0;
	ike_ts_list_format(got, g, sizeof(g));
	ike_ts_list_format(cfg, c, sizeof(c));
	ts_msg(why, whylen, "strict: responder answered %s %s, configured is exactly %s", name, g,
	       c);
	return -EACCES;
}

static int ts_check_within(const struct ike_ts_list *got, const struct ike_ts_list *prop,
			   const struct ike_ts_list *cfg, const char *name, char *why,
			   size_t whylen)
{
	char g[IKE_TS_STR_LEN], p[IKE_TS_WHY_LEN / 2];
	unsigned int i;

	for (i = 0; i < ts_nlist(got); i++) {
		if (ts_in_list(prop, &got->ts[i]) && ts_in_list(cfg, &got->ts[i]))
			continue;
		ike_ts_format(&got->ts[i], g, sizeof(g));
		ike_ts_list_format(prop, p, sizeof(p));
		ts_msg(why, whylen, "responder answered %s %s, outside what we proposed (%s)", name,
		       g, p);
		return -EACCES;
	}
	return 0;
}

int ike_ts_check_reply(const struct ike_ts_cfg *cfg, const struct ike_ts_list *prop_tsi,
		       const struct ike_ts_list *prop_tsr, const struct ike_ts_list *tsi,
		       const struct ike_ts_list *tsr, char *why, size_t whylen)
{
	int err;

	if (why && whylen)
		why[0] = '\0';
	if (!cfg || !prop_tsi || !prop_tsr || !tsi || !tsr)
		return -EINVAL;
	if (!tsi->n || !tsr->n || tsi->n > IKE_MAX_TS || tsr->n > IKE_MAX_TS) {
		ts_msg(why, whylen, "responder answered %u TSi and %u TSr selectors", tsi->n,
		       tsr->n);
		return -EACCES;
	}
	if (cfg->strict) {
		err = ts_check_exact(tsi, &cfg->local, "TSi", why, whylen);
		if (!err)
			err = ts_check_exact(tsr, &cfg->remote, "TSr", why, whylen);
	} else {
		err = ts_check_within(tsi, prop_tsi, &cfg->local, "TSi", why, whylen);
		if (!err)
			err = ts_check_within(tsr, prop_tsr, &cfg->remote, "TSr", why, whylen);
	}
	if (err)
		return err;
	if (!ts_lists_pair(tsi, tsr)) {
		ts_msg(why, whylen, "responder answered no TSi/TSr pair with a common protocol");
		return -EACCES;
	}
	return 0;
}
