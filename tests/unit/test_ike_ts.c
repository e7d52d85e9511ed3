// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ike/ike_ts.c: selector text form and its errors, range arithmetic (containment,
 * intersection, prefix splitting), the responder's narrowing and strict matrices (0/0, 10/8,
 * exact, subset, superset, disjoint, protocols and ports, IPv6, several selectors, the trigger
 * selector), the initiator's proposal and its check of the answer, and seed 001 end to end: two
 * partners with wide selectors must never get an SA that covers the other partner's range.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ike_ts.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static struct ike_ts tsx(const char *s)
{
	struct ike_ts ts;
	char err[128];

	if (ike_ts_parse(s, &ts, err, sizeof(err)))
		fail_msg("parse '%s': %s", s, err);
	return ts;
}

/* Fills l from a NULL-terminated list of selector strings. */
static void tsl(struct ike_ts_list *l, ...)
{
	const char *s;
	va_list ap;

	memset(l, 0, sizeof(*l));
	va_start(ap, l);
	while ((s = va_arg(ap, const char *)))
		l->ts[l->n++] = tsx(s);
	va_end(ap);
}

static void cfg_set(struct ike_ts_cfg *c, bool strict, const char *local, const char *remote)
{
	memset(c, 0, sizeof(*c));
	c->strict = strict;
	tsl(&c->local, local, NULL);
	tsl(&c->remote, remote, NULL);
}

static void assert_fmt(const struct ike_ts_list *l, const char *want)
{
	char buf[1024];

	assert_int_equal(ike_ts_list_format(l, buf, sizeof(buf)), 0);
	if (strcmp(buf, want))
		fail_msg("got '%s', want '%s'", buf, want);
}

static bool list_within(const struct ike_ts_list *l, const struct ike_ts_list *cfg)
{
	unsigned int i, j;
	bool in;

	for (i = 0; i < l->n; i++) {
		for (j = 0, in = false; j < cfg->n && !in; j++)
			in = ike_ts_contains(&cfg->ts[j], &l->ts[i]);
		if (!in)
			return false;
	}
	return true;
}

static bool list_overlaps(const struct ike_ts_list *l, const struct ike_ts *x)
{
	struct ike_ts tmp;
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (!ike_ts_intersect(&l->ts[i], x, &tmp))
			return true;
	return false;
}

static struct ike_ts_cfg g_cfg;
static struct ike_ts_list g_tsi, g_tsr, g_oi, g_or;
static char g_why[IKE_TS_WHY_LEN];

static int narrow(void)
{
	return ike_ts_narrow(&g_cfg, &g_tsi, &g_tsr, &g_oi, &g_or, g_why, sizeof(g_why));
}

static void assert_why(const char *needle)
{
	if (!strstr(g_why, needle))
		fail_msg("reason '%s' lacks '%s'", g_why, needle);
}

/* ---- text form -------------------------------------------------------------------------------- */

static void test_parse_format(void **state)
{
	static const char *const cases[][2] = {
		{ "10.1.0.0/16", "10.1.0.0/16" },
		{ "192.0.2.7", "192.0.2.7/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.0.0.5-10.0.0.9", "10.0.0.5-10.0.0.9" },
		{ "10.0.0.0-10.0.1.255", "10.0.0.0/23" },
		{ "2001:db8::/32", "2001:db8::/32" },
		{ "::/0", "::/0" },
		{ "2001:db8::1-2001:db8::5", "2001:db8::1-2001:db8::5" },
		{ "10.1.0.0/16[tcp/8080]", "10.1.0.0/16[tcp/8080]" },
		{ "10.1.0.0/16[udp/1000-2000]", "10.1.0.0/16[udp/1000-2000]" },
		{ "10.1.0.0/16[tcp]", "10.1.0.0/16[tcp]" },
		{ "10.1.0.0/16[tcp/%any]", "10.1.0.0/16[tcp]" },
		{ "10.1.0.0/16[%any/53]", "10.1.0.0/16[%any/53]" },
		{ "10.1.0.0/16[6/80]", "10.1.0.0/16[tcp/80]" },
		{ "10.1.0.0/16[132]", "10.1.0.0/16[sctp]" },
		{ "10.1.0.0/16[99]", "10.1.0.0/16[99]" },
		{ "2001:db8::/64[icmp6]", "2001:db8::/64[ipv6-icmp]" },
		{ "10.1.0.0/16[%any]", "10.1.0.0/16" },
	};
	char buf[IKE_TS_STR_LEN];
	struct ike_ts ts, back;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ts = tsx(cases[i][0]);
		assert_true(ike_ts_valid(&ts));
		assert_int_equal(ike_ts_format(&ts, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i][1]))
			fail_msg("'%s' formats as '%s', want '%s'", cases[i][0], buf, cases[i][1]);
		back = tsx(buf);
		assert_true(ike_ts_equal(&ts, &back));
	}
	ts = tsx("10.1.0.0/16");
	assert_int_equal(ts.type, IKE_TS_IPV4_ADDR_RANGE);
	assert_int_equal(ts.proto, 0);
	assert_int_equal(ts.port_lo, 0);
	assert_int_equal(ts.port_hi, 65535);
	/* IPv4 uses bytes 0..3 and leaves the rest zero */
	assert_memory_equal(ts.start, "\x0a\x01\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_memory_equal(ts.end, "\x0a\x01\xff\xff\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	/* opaque ports print as such; unknown types print their number */
	ts.port_lo = 65535;
	ts.port_hi = 0;
	assert_int_equal(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.1.0.0/16[%any/opaque]");
	ts.type = 13;
	assert_int_equal(ike_ts_format(&ts, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "<ts type 13>");
	ts = tsx("2001:db8::/32[tcp/8080]");
	assert_int_equal(ike_ts_format(&ts, buf, 8), -ENOSPC);
}

static void test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"10.1.0.0/33",
		"10.1.2.3/16",
		"10.0.0.9-10.0.0.5",
		"10.0.0.1-2001:db8::1",
		"foo",
		"10.1.0.0/16[tcp/8080",
		"10.1.0.0/16[bogus]",
		"10.1.0.0/16[tcp/70000]",
		"10.1.0.0/16[tcp/9-5]",
		"10.1.0.0/16[tcp/80]x",
		"",
		"10.1.0.0/",
		"2001:db8::/129",
		"10.1.0.0/16[tcp/]",
		"10.1.0.0/-1",
		"10.1.0.0/16[256]",
	};
	struct ike_ts ts;
	char err[128];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (ike_ts_parse(bad[i], &ts, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(ike_ts_parse("10.1.2.3/16", &ts, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "host bits"));
	assert_int_equal(ike_ts_parse(NULL, &ts, NULL, 0), -EINVAL);
}

static void test_from_prefix(void **state)
{
	uint8_t a4[4] = { 10, 1, 2, 3 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff };
	struct ike_ts ts;
	char buf[IKE_TS_STR_LEN];

	(void)state;
	assert_int_equal(ike_ts_from_prefix(&ts, AF_INET, a4, 16, 6, 8080, 8080), 0);
	ike_ts_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.0/16[tcp/8080]"); /* host bits dropped */
	assert_int_equal(ike_ts_from_prefix(&ts, AF_INET6, a6, 32, 0, 0, 65535), 0);
	ike_ts_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::/32");
	assert_int_equal(ike_ts_from_prefix(&ts, AF_INET6, a6, 0, 0, 0, 65535), 0);
	ike_ts_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "::/0");
	assert_int_equal(ike_ts_from_prefix(&ts, AF_INET, a4, 33, 0, 0, 65535), -EINVAL);
	assert_int_equal(ike_ts_from_prefix(&ts, AF_UNIX, a4, 8, 0, 0, 65535), -EINVAL);
	assert_int_equal(ike_ts_from_prefix(&ts, AF_INET, a4, 8, 0, 90, 80), -EINVAL);
}

/* ---- arithmetic ------------------------------------------------------------------------------- */

static void test_contains(void **state)
{
	struct ike_ts any = tsx("0.0.0.0/0"), ten = tsx("10.0.0.0/8"), red = tsx("10.1.0.0/16");
	struct ike_ts tcp = tsx("10.1.0.0/16[tcp]"), web = tsx("10.1.0.0/16[tcp/80]");
	struct ike_ts six = tsx("::/0"), odd = tsx("10.0.255.255-10.1.0.1");

	(void)state;
	assert_true(ike_ts_contains(&any, &ten));
	assert_true(ike_ts_contains(&ten, &red));
	assert_true(ike_ts_contains(&red, &red));
	assert_false(ike_ts_contains(&red, &ten));
	assert_true(ike_ts_contains(&red, &tcp));
	assert_true(ike_ts_contains(&tcp, &web));
	assert_false(ike_ts_contains(&tcp, &red)); /* any protocol is wider than tcp */
	assert_false(ike_ts_contains(&web, &tcp)); /* all ports are wider than port 80 */
	assert_false(ike_ts_contains(&six, &red)); /* families never mix */
	assert_false(ike_ts_contains(&red, &odd));
	assert_true(ike_ts_contains(&ten, &odd));
	/* an empty (opaque) port range is never contained nor containing */
	web.port_lo = 65535;
	web.port_hi = 0;
	assert_false(ike_ts_valid(&web));
	assert_false(ike_ts_contains(&any, &web));
}

static void test_intersect(void **state)
{
	struct ike_ts a = tsx("10.0.0.0/8"), b = tsx("10.1.0.0/16[tcp/8000-9000]"), x;
	char buf[IKE_TS_STR_LEN];

	(void)state;
	assert_int_equal(ike_ts_intersect(&a, &b, &x), 0);
	ike_ts_format(&x, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.0/16[tcp/8000-9000]");
	a = tsx("10.1.128.0-10.2.127.255[tcp/8080-10000]");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), 0);
	ike_ts_format(&x, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.128.0/17[tcp/8080-9000]");
	a = tsx("10.1.0.0/16[udp]");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), -ENOENT);
	a = tsx("10.1.0.0/16[tcp/9001-9100]");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), -ENOENT);
	a = tsx("10.2.0.0/16");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), -ENOENT);
	a = tsx("::/0");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), -ENOENT);
	a = tsx("2001:db8::/32");
	b = tsx("2001:db8:1::/48[udp/53]");
	assert_int_equal(ike_ts_intersect(&a, &b, &x), 0);
	assert_true(ike_ts_equal(&x, &b));
	/* pairing: same family and a common protocol */
	a = tsx("10.0.0.0/8[tcp]");
	b = tsx("10.0.0.0/8[udp]");
	assert_false(ike_ts_pair_ok(&a, &b));
	b = tsx("10.0.0.0/8");
	assert_true(ike_ts_pair_ok(&a, &b));
	b = tsx("::/0[tcp]");
	assert_false(ike_ts_pair_ok(&a, &b));
}

static void assert_prefixes(const char *range, const char *want)
{
	struct ike_prefix p[IKE_TS_MAX_PREFIXES];
	struct ike_ts ts = tsx(range);
	char buf[1024], a[INET6_ADDRSTRLEN];
	unsigned int i, n;
	size_t off = 0;

	assert_int_equal(ike_ts_to_prefixes(&ts, p, IKE_TS_MAX_PREFIXES, &n), 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		inet_ntop(p[i].family, p[i].addr, a, sizeof(a));
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s/%u", i ? " " : "", a,
					p[i].plen);
	}
	if (strcmp(buf, want))
		fail_msg("%s -> '%s', want '%s'", range, buf, want);
}

static void test_to_prefixes(void **state)
{
	struct ike_prefix p[IKE_TS_MAX_PREFIXES];
	struct ike_ts ts;
	unsigned int n;

	(void)state;
	assert_prefixes("10.0.0.0/8", "10.0.0.0/8");
	assert_prefixes("0.0.0.0/0", "0.0.0.0/0");
	assert_prefixes("::/0", "::/0");
	assert_prefixes("10.0.0.1-10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32");
	assert_prefixes("10.0.0.0-10.0.1.255", "10.0.0.0/23");
	assert_prefixes("255.255.255.255", "255.255.255.255/32");
	assert_prefixes("255.255.255.254-255.255.255.255", "255.255.255.254/31");
	assert_prefixes("10.0.255.255-10.1.0.1", "10.0.255.255/32 10.1.0.0/31");
	assert_prefixes("2001:db8::1-2001:db8::2", "2001:db8::1/128 2001:db8::2/128");
	assert_prefixes("::-7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/1");
	/* the worst cases: 2 * bits - 2 prefixes */
	ts = tsx("0.0.0.1-255.255.255.254");
	assert_int_equal(ike_ts_to_prefixes(&ts, p, IKE_TS_MAX_PREFIXES, &n), 0);
	assert_int_equal(n, 62);
	ts = tsx("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	assert_int_equal(ike_ts_to_prefixes(&ts, p, IKE_TS_MAX_PREFIXES, &n), 0);
	assert_int_equal(n, 254);
	assert_int_equal(p[0].family, AF_INET6);
	assert_int_equal(p[0].plen, 128);
	assert_int_equal(p[126].plen, 2); /* 4000::/2 */
	assert_int_equal(p[127].plen, 2); /* 8000::/2 */
	assert_int_equal(p[253].plen, 128);
	assert_int_equal(ike_ts_to_prefixes(&ts, p, 100, &n), -ENOSPC);
	ts.type = 9;
	assert_int_equal(ike_ts_to_prefixes(&ts, p, IKE_TS_MAX_PREFIXES, &n), -EINVAL);
}

static void assert_masks(const char *sel, const char *want)
{
	struct ike_port_mask m[IKE_TS_MAX_PORT_MASKS];
	struct ike_ts ts = tsx(sel);
	char buf[1024];
	unsigned int i, n;
	size_t off = 0;

	assert_int_equal(ike_ts_port_masks(&ts, m, IKE_TS_MAX_PORT_MASKS, &n), 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%u/0x%04x", i ? " " : "",
					m[i].port, m[i].mask);
	if (strcmp(buf, want))
		fail_msg("%s -> '%s', want '%s'", sel, buf, want);
}

static void test_port_masks(void **state)
{
	struct ike_port_mask m[IKE_TS_MAX_PORT_MASKS];
	struct ike_ts ts;
	unsigned int n;

	(void)state;
	assert_masks("10.0.0.0/8", "0/0x0000");
	assert_masks("10.0.0.0/8[tcp/8080]", "8080/0xffff");
	assert_masks("10.0.0.0/8[tcp/1024-65535]",
		     "1024/0xfc00 2048/0xf800 4096/0xf000 8192/0xe000 16384/0xc000 32768/0x8000");
	assert_masks("10.0.0.0/8[udp/1000-1003]", "1000/0xfffc");
	assert_masks("10.0.0.0/8[udp/65535]", "65535/0xffff");
	ts = tsx("10.0.0.0/8[tcp/1-65534]");
	assert_int_equal(ike_ts_port_masks(&ts, m, IKE_TS_MAX_PORT_MASKS, &n), 0);
	assert_int_equal(n, 30);
	assert_int_equal(ike_ts_port_masks(&ts, m, 29, &n), -ENOSPC);
	ts.port_lo = 65535;
	ts.port_hi = 0; /* OPAQUE */
	assert_int_equal(ike_ts_port_masks(&ts, m, IKE_TS_MAX_PORT_MASKS, &n), -EINVAL);
}

/* ---- responder: narrowing --------------------------------------------------------------------- */

/* seed 001: partner "red" 10.1.0.0/16 reaches the hub 172.16.1.0/24; "blue" is 10.2.0.0/16 */
static void red_cfg(bool strict)
{
	cfg_set(&g_cfg, strict, "172.16.1.0/24", "10.1.0.0/16");
}

static void test_narrow_exact(void **state)
{
	(void)state;
	red_cfg(false);
	tsl(&g_tsi, "10.1.0.0/16", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	assert_fmt(&g_or, "172.16.1.0/24");
}

static void test_narrow_any_any(void **state)
{
	struct ike_ts blue = tsx("10.2.0.0/16");

	(void)state;
	red_cfg(false);
	tsl(&g_tsi, "0.0.0.0/0", NULL);
	tsl(&g_tsr, "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	assert_fmt(&g_or, "172.16.1.0/24");
	assert_false(list_overlaps(&g_oi, &blue));
	assert_false(list_overlaps(&g_or, &blue));
}

static void test_narrow_ten_eight(void **state)
{
	struct ike_ts blue = tsx("10.2.0.0/16");

	(void)state;
	red_cfg(false);
	/* 10/8 <-> 10/8: the TSr side does not reach the hub at all */
	tsl(&g_tsi, "10.0.0.0/8", NULL);
	tsl(&g_tsr, "10.0.0.0/8", NULL);
	assert_int_equal(narrow(), -ENOENT);
	assert_why("peer proposed TSr 10.0.0.0/8, which does not overlap configured local "
		   "172.16.1.0/24");
	assert_int_equal(g_oi.n, 0);
	assert_int_equal(g_or.n, 0);
	/* 10/8 <-> hub: narrowed to red's range only */
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	assert_false(list_overlaps(&g_oi, &blue));
}

static void test_narrow_subset_superset(void **state)
{
	(void)state;
	red_cfg(false);
	/* subset: kept exactly as proposed */
	tsl(&g_tsi, "10.1.5.0/24", NULL);
	tsl(&g_tsr, "172.16.1.10/32[tcp/443]", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.5.0/24");
	assert_fmt(&g_or, "172.16.1.10/32[tcp/443]");
	/* partial overlap: only the overlapping part */
	tsl(&g_tsi, "10.0.128.0-10.1.127.255", NULL);
	tsl(&g_tsr, "172.16.0.0/16", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/17");
	assert_fmt(&g_or, "172.16.1.0/24");
}

static void test_narrow_disjoint(void **state)
{
	(void)state;
	red_cfg(false);
	tsl(&g_tsi, "192.168.0.0/16", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), -ENOENT);
	assert_why("TSi 192.168.0.0/16, which does not overlap configured remote 10.1.0.0/16");
	/* nothing proposed at all */
	memset(&g_tsi, 0, sizeof(g_tsi));
	assert_int_equal(narrow(), -ENOENT);
	assert_why("(none)");
}

static void test_narrow_trigger(void **state)
{
	(void)state;
	red_cfg(false);
	/* §2.9: the first selectors are the triggering packet; the answer must include them */
	tsl(&g_tsi, "10.1.5.5/32[tcp/40000]", "0.0.0.0/0", NULL);
	tsl(&g_tsr, "172.16.1.10/32[tcp/443]", "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	assert_fmt(&g_or, "172.16.1.0/24");
	assert_true(ike_ts_contains(&g_oi.ts[0], &g_tsi.ts[0]));
	assert_true(ike_ts_contains(&g_or.ts[0], &g_tsr.ts[0]));
	/* a trigger outside our policy: the rest is still narrowed (§2.9 last bullet) */
	tsl(&g_tsi, "10.2.0.7/32", "10.0.0.0/8", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
}

static void test_narrow_unknown_type_ignored(void **state)
{
	(void)state;
	red_cfg(false);
	tsl(&g_tsi, "10.0.0.0/8", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	g_tsi.ts[1] = g_tsi.ts[0];
	g_tsi.ts[1].type = 13; /* TS_FC_ADDR_RANGE, RFC 4595 */
	g_tsi.n = 2;
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	/* a bogus count is bounded, never read past the array */
	g_tsi.n = 200;
	assert_int_equal(narrow(), 0);
	assert_true(list_within(&g_oi, &g_cfg.remote));
}

static void test_narrow_ports_protocols(void **state)
{
	(void)state;
	/* seed 003: transport mode, TCP port 8080 only */
	cfg_set(&g_cfg, false, "192.0.2.10/32[tcp/8080]", "192.0.2.20/32[tcp]");
	tsl(&g_tsi, "192.0.2.20/32", NULL);
	tsl(&g_tsr, "192.0.2.10/32", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "192.0.2.20/32[tcp]");
	assert_fmt(&g_or, "192.0.2.10/32[tcp/8080]");
	/* a port range around 8080 narrows to 8080 */
	tsl(&g_tsr, "192.0.2.10/32[tcp/8000-9000]", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_or, "192.0.2.10/32[tcp/8080]");
	/* another port or protocol: nothing left */
	tsl(&g_tsr, "192.0.2.10/32[tcp/80]", NULL);
	assert_int_equal(narrow(), -ENOENT);
	tsl(&g_tsr, "192.0.2.10/32[udp/8080]", NULL);
	assert_int_equal(narrow(), -ENOENT);
	/* each side fine alone, but no (TSi, TSr) pair shares a protocol */
	cfg_set(&g_cfg, false, "10.0.0.0/8", "10.0.0.0/8");
	tsl(&g_tsi, "10.1.0.0/16[udp]", NULL);
	tsl(&g_tsr, "10.2.0.0/16[tcp]", NULL);
	assert_int_equal(narrow(), -ENOENT);
	assert_why("no TSi/TSr pair");
	assert_int_equal(g_oi.n, 0);
}

static void test_narrow_ipv6(void **state)
{
	(void)state;
	cfg_set(&g_cfg, false, "2001:db8:1::/48", "2001:db8:2::/48");
	tsl(&g_tsi, "::/0", NULL);
	tsl(&g_tsr, "::/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "2001:db8:2::/48");
	assert_fmt(&g_or, "2001:db8:1::/48");
	/* an IPv4-only proposal meets an IPv6-only policy: nothing */
	tsl(&g_tsi, "0.0.0.0/0", NULL);
	tsl(&g_tsr, "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), -ENOENT);
	/* dual stack: each family narrowed on its own */
	memset(&g_cfg, 0, sizeof(g_cfg));
	tsl(&g_cfg.local, "172.16.1.0/24", "2001:db8:1::/48", NULL);
	tsl(&g_cfg.remote, "10.1.0.0/16", "2001:db8:2::/48", NULL);
	tsl(&g_tsi, "0.0.0.0/0", "::/0", NULL);
	tsl(&g_tsr, "0.0.0.0/0", "::/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16, 2001:db8:2::/48");
	assert_fmt(&g_or, "172.16.1.0/24, 2001:db8:1::/48");
}

static void test_narrow_several(void **state)
{
	(void)state;
	memset(&g_cfg, 0, sizeof(g_cfg));
	tsl(&g_cfg.local, "172.16.1.0/24", "172.16.2.0/24", NULL);
	tsl(&g_cfg.remote, "10.1.0.0/16", "10.3.0.0/16", NULL);
	tsl(&g_tsi, "0.0.0.0/0", NULL);
	tsl(&g_tsr, "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16, 10.3.0.0/16");
	assert_fmt(&g_or, "172.16.1.0/24, 172.16.2.0/24");
	/* Cisco style: one pair per CHILD SA, we answer just that pair */
	tsl(&g_tsi, "10.3.0.0/16", NULL);
	tsl(&g_tsr, "172.16.2.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.3.0.0/16");
	assert_fmt(&g_or, "172.16.2.0/24");
	/* redundant selectors collapse */
	tsl(&g_tsi, "10.1.5.0/24", "10.1.0.0/16", "10.1.7.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	/* several peer selectors, each narrowed */
	tsl(&g_tsi, "10.1.5.0/24", "10.3.0.0/24[tcp]", "192.168.1.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.5.0/24, 10.3.0.0/24[tcp]");
}

static void test_narrow_overflow_stays_within(void **state)
{
	unsigned int i;
	char s[32];

	(void)state;
	/* 16 x 16 intersections cannot all fit: what fits is still within the configuration */
	memset(&g_cfg, 0, sizeof(g_cfg));
	memset(&g_tsi, 0, sizeof(g_tsi));
	for (i = 0; i < IKE_MAX_TS; i++) {
		snprintf(s, sizeof(s), "10.%u.0.0/16", i);
		g_cfg.remote.ts[g_cfg.remote.n++] = tsx(s);
		snprintf(s, sizeof(s), "0.0.0.0/0[%u]", i + 1);
		g_tsi.ts[g_tsi.n++] = tsx(s);
	}
	tsl(&g_cfg.local, "172.16.1.0/24", NULL);
	tsl(&g_tsr, "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), 0);
	assert_int_equal(g_oi.n, IKE_MAX_TS);
	assert_true(list_within(&g_oi, &g_cfg.remote));
	assert_true(list_within(&g_oi, &g_tsi));
}

/* ---- responder: strict ------------------------------------------------------------------------ */

static void test_strict_accepts_within(void **state)
{
	(void)state;
	red_cfg(true);
	tsl(&g_tsi, "10.1.0.0/16", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.0.0/16");
	/* a subset is within the configuration: accepted as proposed */
	tsl(&g_tsi, "10.1.5.0/24", NULL);
	tsl(&g_tsr, "172.16.1.10/32[tcp/443]", NULL);
	assert_int_equal(narrow(), 0);
	assert_fmt(&g_oi, "10.1.5.0/24");
	assert_fmt(&g_or, "172.16.1.10/32[tcp/443]");
}

static void test_strict_refuses(void **state)
{
	(void)state;
	red_cfg(true);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	tsl(&g_tsi, "10.0.0.0/8", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("peer proposed TSi 10.0.0.0/8 wider than configured remote 10.1.0.0/16");
	assert_int_equal(g_oi.n, 0);
	assert_int_equal(g_or.n, 0);
	tsl(&g_tsi, "10.1.128.0-10.2.127.255", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("TSi 10.1.128.0-10.2.127.255 not within configured remote 10.1.0.0/16");
	tsl(&g_tsi, "10.2.0.0/16", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("TSi 10.2.0.0/16 outside configured remote 10.1.0.0/16");
	tsl(&g_tsi, "0.0.0.0/0", NULL);
	tsl(&g_tsr, "0.0.0.0/0", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("TSi 0.0.0.0/0 wider than");
	/* the TSr side is checked against local */
	tsl(&g_tsi, "10.1.0.0/16", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("peer proposed TSr 0.0.0.0/0 wider than configured local 172.16.1.0/24");
	/* one wide selector among good ones is enough to refuse */
	tsl(&g_tsi, "10.1.0.0/16", "10.0.0.0/8", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), -EACCES);
	/* protocol: any is wider than the configured tcp/8080 */
	cfg_set(&g_cfg, true, "192.0.2.10/32[tcp/8080]", "192.0.2.20/32[tcp]");
	tsl(&g_tsi, "192.0.2.20/32[tcp]", NULL);
	tsl(&g_tsr, "192.0.2.10/32", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("wider than");
	tsl(&g_tsr, "192.0.2.10/32[tcp/8080]", NULL);
	assert_int_equal(narrow(), 0);
}

static void test_strict_two_adjacent(void **state)
{
	(void)state;
	/* documented limit: a selector must fit inside ONE configured selector */
	memset(&g_cfg, 0, sizeof(g_cfg));
	g_cfg.strict = true;
	tsl(&g_cfg.local, "172.16.1.0/24", NULL);
	tsl(&g_cfg.remote, "10.1.0.0/17", "10.1.128.0/17", NULL);
	tsl(&g_tsi, "10.1.0.0/16", NULL);
	tsl(&g_tsr, "172.16.1.0/24", NULL);
	assert_int_equal(narrow(), -EACCES);
	assert_why("configured remote 10.1.0.0/17, 10.1.128.0/17");
	tsl(&g_tsi, "10.1.0.0/17", "10.1.128.0/17", NULL);
	assert_int_equal(narrow(), 0);
	assert_int_equal(g_oi.n, 2);
}

/* ---- initiator -------------------------------------------------------------------------------- */

static void test_propose(void **state)
{
	struct ike_ts tl = tsx("172.16.1.10/32[tcp/40000]"), tr = tsx("10.1.2.3/32[tcp/443]");
	struct ike_ts out = tsx("192.168.1.1/32");

	(void)state;
	red_cfg(false);
	assert_int_equal(ike_ts_propose(&g_cfg, NULL, NULL, &g_tsi, &g_tsr), 0);
	assert_fmt(&g_tsi, "172.16.1.0/24");
	assert_fmt(&g_tsr, "10.1.0.0/16");
	/* the trigger goes first (§2.9) */
	assert_int_equal(ike_ts_propose(&g_cfg, &tl, &tr, &g_tsi, &g_tsr), 0);
	assert_fmt(&g_tsi, "172.16.1.10/32[tcp/40000], 172.16.1.0/24");
	assert_fmt(&g_tsr, "10.1.2.3/32[tcp/443], 10.1.0.0/16");
	/* a trigger outside the configuration is not proposed */
	assert_int_equal(ike_ts_propose(&g_cfg, &tl, &out, &g_tsi, &g_tsr), 0);
	assert_int_equal(g_tsi.n, 1);
	/* strict: exactly the configuration */
	red_cfg(true);
	assert_int_equal(ike_ts_propose(&g_cfg, &tl, &tr, &g_tsi, &g_tsr), 0);
	assert_fmt(&g_tsi, "172.16.1.0/24");
	assert_fmt(&g_tsr, "10.1.0.0/16");
	memset(&g_cfg.remote, 0, sizeof(g_cfg.remote));
	assert_int_equal(ike_ts_propose(&g_cfg, NULL, NULL, &g_tsi, &g_tsr), -EINVAL);
}

static int check_reply(void)
{
	return ike_ts_check_reply(&g_cfg, &g_tsi, &g_tsr, &g_oi, &g_or, g_why, sizeof(g_why));
}

static void test_check_reply(void **state)
{
	(void)state;
	red_cfg(false);
	assert_int_equal(ike_ts_propose(&g_cfg, NULL, NULL, &g_tsi, &g_tsr), 0);
	/* the answer echoes the proposal */
	tsl(&g_oi, "172.16.1.0/24", NULL);
	tsl(&g_or, "10.1.0.0/16", NULL);
	assert_int_equal(check_reply(), 0);
	/* narrowed: fine */
	tsl(&g_or, "10.1.5.0/24[tcp]", NULL);
	assert_int_equal(check_reply(), 0);
	/* widened: refused */
	tsl(&g_or, "0.0.0.0/0", NULL);
	assert_int_equal(check_reply(), -EACCES);
	assert_why("responder answered TSr 0.0.0.0/0, outside what we proposed (10.1.0.0/16)");
	/* another partner's range: refused */
	tsl(&g_or, "10.2.0.0/16", NULL);
	assert_int_equal(check_reply(), -EACCES);
	/* our own side widened */
	tsl(&g_oi, "172.16.0.0/16", NULL);
	tsl(&g_or, "10.1.0.0/16", NULL);
	assert_int_equal(check_reply(), -EACCES);
	assert_why("TSi 172.16.0.0/16");
	/* empty answer */
	memset(&g_oi, 0, sizeof(g_oi));
	assert_int_equal(check_reply(), -EACCES);
	/* no common protocol between the sides */
	tsl(&g_oi, "172.16.1.0/24[udp]", NULL);
	tsl(&g_or, "10.1.0.0/16[tcp]", NULL);
	assert_int_equal(check_reply(), -EACCES);
}

static void test_check_reply_strict(void **state)
{
	(void)state;
	memset(&g_cfg, 0, sizeof(g_cfg));
	g_cfg.strict = true;
	tsl(&g_cfg.local, "172.16.1.0/24", "172.16.2.0/24", NULL);
	tsl(&g_cfg.remote, "10.1.0.0/16", NULL);
	assert_int_equal(ike_ts_propose(&g_cfg, NULL, NULL, &g_tsi, &g_tsr), 0);
	/* exactly the configuration, in any order */
	tsl(&g_oi, "172.16.2.0/24", "172.16.1.0/24", NULL);
	tsl(&g_or, "10.1.0.0/16", NULL);
	assert_int_equal(check_reply(), 0);
	/* narrowed is not accepted in strict mode */
	tsl(&g_oi, "172.16.1.0/24", NULL);
	assert_int_equal(check_reply(), -EACCES);
	assert_why("strict: responder answered TSi 172.16.1.0/24, configured is exactly "
		   "172.16.1.0/24, 172.16.2.0/24");
	tsl(&g_oi, "172.16.1.0/24", "172.16.2.0/24", NULL);
	tsl(&g_or, "10.1.0.0/17", NULL);
	assert_int_equal(check_reply(), -EACCES);
	/* nor anything extra */
	tsl(&g_or, "10.1.0.0/16", "10.2.0.0/16", NULL);
	assert_int_equal(check_reply(), -EACCES);
}

/* ---- seed 001 end to end ---------------------------------------------------------------------- */

static void test_seed001_partners(void **state)
{
	static const char *const wide[][2] = {
		{ "0.0.0.0/0", "0.0.0.0/0" },	   { "10.0.0.0/8", "10.0.0.0/8" },
		{ "10.0.0.0/8", "172.16.1.0/24" }, { "10.0.0.0/8", "0.0.0.0/0" },
		{ "10.0.0.0/8", "172.16.0.0/12" },
	};
	static const char *const partner[2][2] = {
		{ "10.1.0.0/16", "10.2.0.0/16" }, /* red: own, other */
		{ "10.2.0.0/16", "10.1.0.0/16" }, /* blue */
	};
	struct ike_ts other, hub = tsx("172.16.1.0/24");
	unsigned int i, k, strict;
	int ret;

	(void)state;
	for (k = 0; k < 2; k++) {
		other = tsx(partner[k][1]);
		for (strict = 0; strict < 2; strict++) {
			cfg_set(&g_cfg, strict, "172.16.1.0/24", partner[k][0]);
			for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
				/* the partner initiates with wide selectors; we respond */
				tsl(&g_tsi, wide[i][0], NULL);
				tsl(&g_tsr, wide[i][1], NULL);
				ret = narrow();
				if (strict) {
					assert_int_equal(ret, -EACCES);
					assert_true(strlen(g_why) > 0);
					continue;
				}
				if (ret) {
					assert_int_equal(ret, -ENOENT);
					continue;
				}
				assert_true(list_within(&g_oi, &g_cfg.remote));
				assert_true(list_within(&g_or, &g_cfg.local));
				assert_false(list_overlaps(&g_oi, &other));
				assert_false(list_overlaps(&g_or, &other));
				assert_true(list_overlaps(&g_or, &hub));

				/* we initiate; the partner answers with the wide selectors */
				assert_int_equal(ike_ts_propose(&g_cfg, NULL, NULL, &g_tsi, &g_tsr),
						 0);
				tsl(&g_oi, wide[i][1], NULL);
				tsl(&g_or, wide[i][0], NULL);
				assert_int_equal(check_reply(), -EACCES);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_from_prefix),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_intersect),
		cmocka_unit_test(test_to_prefixes),
		cmocka_unit_test(test_port_masks),
		cmocka_unit_test(test_narrow_exact),
		cmocka_unit_test(test_narrow_any_any),
		cmocka_unit_test(test_narrow_ten_eight),
		cmocka_unit_test(test_narrow_subset_superset),
		cmocka_unit_test(test_narrow_disjoint),
		cmocka_unit_test(test_narrow_trigger),
		cmocka_unit_test(test_narrow_unknown_type_ignored),
		cmocka_unit_test(test_narrow_ports_protocols),
		cmocka_unit_test(test_narrow_ipv6),
		cmocka_unit_test(test_narrow_several),
		cmocka_unit_test(test_narrow_overflow_stays_within),
		cmocka_unit_test(test_strict_accepts_within),
		cmocka_unit_test(test_strict_refuses),
		cmocka_unit_test(test_strict_two_adjacent),
		cmocka_unit_test(test_propose),
		cmocka_unit_test(test_check_reply),
		cmocka_unit_test(test_check_reply_strict),
		cmocka_unit_test(test_seed001_partners),
	};

	return cmocka_run_group_tests_name("ike_ts", tests, NULL, NULL);
}
