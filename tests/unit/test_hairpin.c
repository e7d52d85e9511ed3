// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for the hairpin planner (user/hairpin.c: eg_hairpin_plan): which remote selectors
 * the gateway's own traffic is routed through eg0 for, with which source. Children whose
 * source-translating rule (snat, netmap, pool) holds a host address (that address), else whose
 * local selector holds one (no NAT: the VM's own address); /0 and prefixes holding a peer are
 * skipped; a remote-netmap child is routed by the prefix the VM addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "config.h"
#include "hairpin.h"

static const char secrets[] = "psk:\n  p: \"0123456789abcdef0123456789abcdef\"\n";

static struct eg_config_file *load(const char *tunnels)
{
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err = { 0 };
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf), "global:\n  interfaces: eth0\ntunnels:\n%s", tunnels);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	if (eg_config_parse("t.yaml", buf, (size_t)n, "s.yaml", secrets, sizeof(secrets) - 1, &cfg,
			    &err))
		eg_config_err_print(&err);
	assert_non_null(cfg);
	return cfg;
}

static uint32_t A(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static bool has(const struct eg_hairpin_route *r, size_t n, const char *dst, uint8_t len,
		const char *src)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].dst == A(dst) && r[i].len == len && r[i].src == A(src))
			return true;
	return false;
}

static const char s2[] = "  t:\n    peer: 192.0.2.2\n    local_address: 192.0.2.1\n    psk: p\n"
			 "    children:\n      - name: c\n        local: 100.64.0.18/32\n"
			 "        remote: [198.18.170.151/32, 192.168.88.0/24, 0.0.0.0/0, "
			 "192.0.2.0/24]\n"
			 "        nat:\n          - type: snat\n            inside: 10.1.1.66\n"
			 "            outside: 100.64.0.18\n"
			 "      - name: plain\n        local: 10.1.1.0/24\n"
			 "        remote: [172.16.9.0/24]\n";

static void test_snat_child(void **state)
{
	struct eg_config_file *cfg = load(s2);
	struct eg_hairpin_route r[8];
	uint32_t host[] = { A("192.0.2.1"), A("10.1.1.66") };
	size_t n;

	(void)state;
	n = eg_hairpin_plan(cfg, host, 2, r, 8);
	/* not 0/0, not the peer's 192.0.2.0/24; the child without NAT too (10.1.1.66 is in its
	 * local selector) */
	assert_int_equal(n, 3);
	assert_true(has(r, n, "198.18.170.151", 32, "10.1.1.66"));
	assert_true(has(r, n, "192.168.88.0", 24, "10.1.1.66"));
	assert_true(has(r, n, "172.16.9.0", 24, "10.1.1.66"));
	/* the VM is not the SNAT's inside host: only the child without NAT, from that address */
	host[1] = A("10.1.1.5");
	n = eg_hairpin_plan(cfg, host, 2, r, 8);
	assert_int_equal(n, 1);
	assert_true(has(r, n, "172.16.9.0", 24, "10.1.1.5"));
	/* an address in neither: nothing */
	host[1] = A("10.9.9.9");
	assert_int_equal(eg_hairpin_plan(cfg, host, 2, r, 8), 0);
	/* the output bound is respected */
	host[1] = A("10.1.1.66");
	assert_int_equal(eg_hairpin_plan(cfg, host, 2, r, 1), 1);
	eg_config_free(cfg);
}

static void test_remote_netmap(void **state)
{
	struct eg_config_file *cfg =
		load("  red:\n    peer: 52.232.103.208\n    local_address: 192.0.2.1\n    psk: p\n"
		     "    children:\n      - name: c\n        local: 100.64.1.0/24\n"
		     "        remote: [10.0.0.0/16, 172.20.0.0/16]\n"
		     "        nat:\n          - type: netmap\n            inside: 10.0.1.0/24\n"
		     "            outside: 100.64.1.0/24\n"
		     "          - type: remote-netmap\n            remote: 10.0.0.0/16\n"
		     "            inside: 10.201.0.0/16\n");
	struct eg_hairpin_route r[8];
	uint32_t host[] = { A("10.0.1.4") };
	size_t n;

	(void)state;
	n = eg_hairpin_plan(cfg, host, 1, r, 8);
	/* the real 10.0.0.0/16 overlaps our own network: the VM addresses it as 10.201.0.0/16 */
	assert_int_equal(n, 2);
	assert_true(has(r, n, "10.201.0.0", 16, "10.0.1.4"));
	assert_true(has(r, n, "172.20.0.0", 16, "10.0.1.4"));
	eg_config_free(cfg);
}

static void test_pool_child(void **state)
{
	struct eg_config_file *cfg =
		load("  z:\n    peer: 185.46.212.10\n    local_address: 10.4.1.4\n    psk: p\n"
		     "    children:\n      - name: c\n        local: 0.0.0.0/0\n"
		     "        remote: [185.46.212.88/32]\n"
		     "        nat:\n          - type: pool\n            inside: [10.0.0.0/8]\n"
		     "            outside: 100.64.7.1\n            ports: 1024-65535\n");
	struct eg_hairpin_route r[8];
	uint32_t host[] = { A("10.4.1.4") }, other[] = { A("192.168.1.4") };
	size_t n;

	(void)state;
	n = eg_hairpin_plan(cfg, host, 1, r, 8);
	assert_int_equal(n, 1);
	assert_true(has(r, n, "185.46.212.88", 32, "10.4.1.4"));
	/* outside the pool's inside, but inside the local selector 0/0: untranslated, as the
	 * kernel's policy on 0/0 would carry a workload's packet */
	n = eg_hairpin_plan(cfg, other, 1, r, 8);
	assert_int_equal(n, 1);
	assert_true(has(r, n, "185.46.212.88", 32, "192.168.1.4"));
	eg_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snat_child),
		cmocka_unit_test(test_remote_netmap),
		cmocka_unit_test(test_pool_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
