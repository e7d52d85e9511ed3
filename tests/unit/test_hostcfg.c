// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/hostcfg.c against a fake /proc/sys tree in a temporary directory: the
 * settings a gateway needs are written when they differ and only then, dry-run reports without
 * writing, rp_filter is made loose on the inside NIC of a two-NIC gateway that translates
 * sources, accept_local on the eg1 hairpin end and, when a forward rule's clients connect to an
 * address of the host itself (127.0.0.1 here, always local), on the outside NIC; missing
 * interfaces are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "hostcfg.h"

static char root[64];

static void put(const char *rel, const char *val)
{
	char p[256], d[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	snprintf(d, sizeof(d), "%s", p);
	for (char *c = d + strlen(root) + 1; *c; c++) {
		if (*c == '/') {
			*c = 0;
			mkdir(d, 0700);
			*c = '/';
		}
	}
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", val);
	fclose(f);
}

static const char *get(const char *rel)
{
	static char buf[32];
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static void tree(bool hairpin)
{
	snprintf(root, sizeof(root), "/tmp/egh.XXXXXX");
	assert_non_null(mkdtemp(root));
	put("net/ipv4/ip_forward", "0");
	put("net/ipv4/conf/all/send_redirects", "1");
	put("net/ipv4/conf/all/accept_redirects", "1");
	put("net/ipv4/conf/all/rp_filter", "1");
	put("net/ipv4/conf/ethA/send_redirects", "1");
	put("net/ipv4/conf/ethA/accept_redirects", "0");
	put("net/ipv4/conf/ethA/rp_filter", "1");
	put("net/ipv4/conf/ethB/send_redirects", "1");
	put("net/ipv4/conf/ethB/accept_redirects", "1");
	put("net/ipv4/conf/ethB/rp_filter", "1");
	if (hairpin) {
		put("net/ipv4/conf/eg1/accept_local", "0");
		put("net/ipv4/conf/eg1/rp_filter", "1");
	}
}

static void rmtree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static struct eg_config_file *cfg_nat(const char *ifs, bool masq, const char *nat)
{
	char y[1024];
	struct eg_config_file *c = NULL;
	struct eg_config_err e;
	const char *s = "psk:\n  p: \"0123456789abcdef0123\"\n";

	snprintf(y, sizeof(y),
		 "global:\n  interfaces: %s\n%s"
		 "tunnels:\n  p:\n    peer: 192.0.2.1\n    local_id: 192.0.2.2\n    psk: p\n"
		 "    children:\n      - name: c\n        local: 10.1.0.0/16\n"
		 "        remote: 192.168.88.0/24\n%s",
		 ifs,
		 masq ? "masquerade:\n  - inside: 10.1.0.0/16\n    outside: 198.51.100.77\n" : "",
		 nat);
	memset(&e, 0, sizeof(e));
	assert_int_equal(eg_config_parse("t", y, strlen(y), "s", s, strlen(s), &c, &e), 0);
	return c;
}

static struct eg_config_file *cfg(const char *ifs, bool masq)
{
	return cfg_nat(ifs, masq, "");
}

static void two_nics_translating(void **state)
{
	struct eg_config_file *c = cfg("{ outside: ethA, inside: ethB }", true);
	unsigned int n = 0;
	char err[256];

	(void)state;
	tree(false);
	assert_int_equal(eg_host_apply(c, true, root, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	assert_string_equal(get("net/ipv4/ip_forward"), "0"); /* dry run writes nothing */
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	assert_string_equal(get("net/ipv4/ip_forward"), "1");
	assert_string_equal(get("net/ipv4/conf/all/send_redirects"), "0");
	assert_string_equal(get("net/ipv4/conf/all/accept_redirects"), "0");
	assert_string_equal(get("net/ipv4/conf/ethA/send_redirects"), "0");
	assert_string_equal(get("net/ipv4/conf/ethB/accept_redirects"), "0");
	assert_string_equal(get("net/ipv4/conf/ethB/rp_filter"), "2");
	assert_string_equal(get("net/ipv4/conf/ethA/rp_filter"), "1"); /* symmetric: untouched */
	assert_string_equal(get("net/ipv4/conf/all/rp_filter"), "1");
	/* a second run finds nothing to change */
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	rmtree();
	eg_config_free(c);
}

static void single_nic_hairpin(void **state)
{
	struct eg_config_file *c = cfg("ethA", false);
	unsigned int n = 0;
	char err[256];

	(void)state;
	tree(true);
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), 0);
	assert_string_equal(get("net/ipv4/conf/ethA/rp_filter"), "1");
	assert_string_equal(get("net/ipv4/conf/ethB/rp_filter"), "1"); /* not configured */
	assert_string_equal(get("net/ipv4/conf/ethB/send_redirects"), "1");
	assert_string_equal(get("net/ipv4/conf/eg1/accept_local"), "1");
	assert_string_equal(get("net/ipv4/conf/eg1/rp_filter"), "2");
	rmtree();
	eg_config_free(c);
}

/* seed 002's proxy: clients connect to the gateway itself, forwarded into the tunnel */
static struct eg_config_file *cfg_forward(const char *inside)
{
	char nat[256];

	snprintf(nat, sizeof(nat),
		 "        nat:\n          - type: forward\n            inside: %s:10101\n"
		 "            outside: 192.168.88.8:10101\n",
		 inside);
	return cfg_nat("{ outside: ethA, inside: ethB }", false, nat);
}

static void forward_to_local_address(void **state)
{
	struct eg_config_file *c = cfg_forward("127.0.0.1");
	unsigned int n = 0;
	char err[256];

	(void)state;
	tree(false);
	put("net/ipv4/conf/ethA/accept_local", "0");
	put("net/ipv4/conf/ethB/accept_local", "0");
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), 0);
	assert_string_equal(get("net/ipv4/conf/ethA/accept_local"), "1");
	assert_string_equal(get("net/ipv4/conf/ethB/accept_local"), "0");
	rmtree();
	eg_config_free(c);

	/* a forward rule on an address the host does not have changes nothing */
	c = cfg_forward("192.0.2.200");
	tree(false);
	put("net/ipv4/conf/ethA/accept_local", "0");
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), 0);
	assert_string_equal(get("net/ipv4/conf/ethA/accept_local"), "0");
	rmtree();
	eg_config_free(c);
}

static void missing_setting_is_an_error(void **state)
{
	struct eg_config_file *c = cfg("ethA", false);
	unsigned int n = 0;
	char err[256] = "";

	(void)state;
	tree(false);
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/net/ipv4/ip_forward", root);
		unlink(p);
	}
	assert_int_equal(eg_host_apply(c, false, root, &n, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "net/ipv4/ip_forward"));
	/* the others were still applied */
	assert_string_equal(get("net/ipv4/conf/all/send_redirects"), "0");
	rmtree();
	eg_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_nics_translating),
		cmocka_unit_test(single_nic_hairpin),
		cmocka_unit_test(forward_to_local_address),
		cmocka_unit_test(missing_setting_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
