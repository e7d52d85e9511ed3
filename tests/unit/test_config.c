// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of user/config.c: every example config parses; each class of mistake is reported
 * with its file:line:col, path and expectation; defaults; value parsers; secrets (formats, file
 * permissions, never echoed); eg_config_tunnel_equal(); and robustness: every truncation of every
 * example and random byte mutations end in a clean success or a clean error, never a crash.
 * Runs from the repository root (tests/run.sh cds there), where examples/ lives.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static const char secrets_ok[] = "psk:\n"
				 "  a: \"test-psk-value-0123456789\"\n"
				 "  b: 0x00112233445566778899aabbccddeeff\n";

/* A minimal valid config; tests splice their mistakes into copies of it. */
static const char base_cfg[] = "global:\n"
			       "  interfaces: eth0\n"
			       "tunnels:\n"
			       "  t1:\n"
			       "    peer: 192.0.2.1\n"
			       "    psk: a\n"
			       "    children:\n"
			       "      - name: c1\n"
			       "        local: 10.1.0.0/16\n"
			       "        remote: 192.168.88.0/24\n";

static int parse(const char *yaml, const char *secrets, struct eg_config_file **cfg,
		 struct eg_config_err *err)
{
	return eg_config_parse("t.yaml", yaml, strlen(yaml), "s.yaml", secrets,
			       secrets ? strlen(secrets) : 0, cfg, err);
}

static bool err_has(const struct eg_config_err *err, const char *needle)
{
	for (unsigned int i = 0; i < err->n; i++)
		if (strstr(err->msg[i], needle))
			return true;
	return false;
}

static void print_errs(const struct eg_config_err *err)
{
	for (unsigned int i = 0; i < err->n; i++)
		print_message("# %s\n", err->msg[i]);
}

/* Parses yaml and asserts it fails with an error containing each of the needles. */
static void expect_error(const char *yaml, const char *secrets, ...)
{
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;
	const char *needle;
	va_list ap;
	int ret;

	ret = parse(yaml, secrets, &cfg, &err);
	if (ret != -EINVAL)
		print_message("# unexpectedly accepted:\n%s\n", yaml);
	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	assert_true(err.n >= 1);
	va_start(ap, secrets);
	while ((needle = va_arg(ap, const char *))) {
		if (!err_has(&err, needle)) {
			print_message("# missing '%s' in:\n", needle);
			print_errs(&err);
		}
		assert_true(err_has(&err, needle));
	}
	va_end(ap);
}

static struct eg_config_file *expect_ok(const char *yaml, const char *secrets)
{
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;
	int ret;

	ret = parse(yaml, secrets, &cfg, &err);
	if (ret)
		print_errs(&err);
	assert_int_equal(ret, 0);
	assert_non_null(cfg);
	return cfg;
}

/* base_cfg with the first occurrence of `from` replaced by `to`. */
static char *patch(const char *from, const char *to)
{
	const char *at = strstr(base_cfg, from);
	size_t n = strlen(base_cfg) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	assert_non_null(at);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(at - base_cfg), base_cfg, to, at + strlen(from));
	return out;
}

static void expect_patch_error(const char *from, const char *to, const char *needle)
{
	char *y = patch(from, to);

	expect_error(y, secrets_ok, needle, NULL);
	free(y);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- the examples ------------------------------------------------------------------------- */

static void test_examples_parse(void **state)
{
	size_t slen, len;
	char *sec = slurp("examples/secrets.example.yaml", &slen);
	glob_t g;
	int n = 0;

	(void)state;
	assert_int_equal(glob("examples/s*.yaml", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct eg_config_file *cfg = NULL;
		struct eg_config_err err;
		char *buf;
		int ret;

		if (strstr(g.gl_pathv[i], "secrets"))
			continue;
		buf = slurp(g.gl_pathv[i], &len);
		ret = eg_config_parse(g.gl_pathv[i], buf, len, "secrets", sec, slen, &cfg, &err);
		if (ret) {
			print_message("# %s\n", g.gl_pathv[i]);
			print_errs(&err);
		}
		assert_int_equal(ret, 0);
		assert_true(cfg->n_tunnels >= 1);
		for (size_t t = 0; t < cfg->n_tunnels; t++)
			assert_non_null(cfg->tunnels[t].psk);
		eg_config_free(cfg);
		free(buf);
		n++;
	}
	globfree(&g);
	assert_true(n >= 10); /* S1..S10 */
	free(sec);
}

/* S1's values land where the daemon reads them. */
static void test_example_s1_values(void **state)
{
	size_t slen, len;
	char *sec = slurp("examples/secrets.example.yaml", &slen);
	char *buf = slurp("examples/s1-plain-s2s.yaml", &len);
	struct eg_config_file *cfg = NULL;
	const struct eg_tunnel *t;
	char s[64];

	(void)state;
	assert_int_equal(eg_config_parse("s1", buf, len, "sec", sec, slen, &cfg, NULL), 0);
	assert_string_equal(cfg->global.outside_if, "eth0");
	assert_string_equal(cfg->global.inside_if, "");
	t = eg_config_find_tunnel(cfg, "mikrotik-home");
	assert_non_null(t);
	assert_null(eg_config_find_tunnel(cfg, "nope"));
	assert_int_equal(t->peer_kind, EG_PEER_ADDR);
	assert_int_equal(t->ike_lifetime, 1800);
	assert_int_equal(t->lifetime, 1800);
	assert_int_equal(t->rekey_margin, 180);
	assert_int_equal(t->rekey_fuzz, 10);
	assert_int_equal(t->dpd_delay, 10);
	assert_int_equal(t->dpd_timeout, 30);
	assert_int_equal(t->dpd_action, EG_DPD_RESTART);
	assert_string_equal(t->ike, "aes256-sha256-ecp384");
	assert_string_equal(t->esp, "aes256-sha256-ecp384");
	assert_int_equal(t->local_id.type, EG_ID_IPV4);
	assert_int_equal(t->remote_id.type, EG_ID_AUTO);
	assert_int_equal(t->n_children, 1);
	assert_string_equal(eg_selector_str(&t->children[0].local[0], s, sizeof(s)), "10.1.0.0/16");
	assert_int_equal(t->children[0].direction, EG_DIR_BOTH);
	assert_int_equal(t->psk->len, strlen("EXAMPLE-ONLY-fake-psk-mikrotik-0001"));
	assert_memory_equal(t->psk->key, "EXAMPLE-ONLY-fake-psk-mikrotik-0001", t->psk->len);
	eg_config_free(cfg);
	free(buf);
	free(sec);
}

static void test_defaults(void **state)
{
	struct eg_config_file *cfg = expect_ok(base_cfg, secrets_ok);
	const struct eg_tunnel *t = &cfg->tunnels[0];

	(void)state;
	assert_int_equal(cfg->global.ike_port, 500);
	assert_int_equal(cfg->global.natt_port, 4500);
	assert_int_equal(cfg->global.natt_keepalive, 20);
	assert_false(cfg->global.allow_weak_algorithms);
	assert_int_equal(cfg->global.log_level, EG_LOG_INFO);
	assert_int_equal(t->peer_port, 500);
	assert_int_equal(t->ike_lifetime, 3 * 3600);
	assert_int_equal(t->lifetime, 3600);
	assert_int_equal(t->rekey_margin, 540);
	assert_int_equal(t->rekey_fuzz, 100);
	assert_int_equal(t->dpd_delay, 30);
	assert_int_equal(t->dpd_timeout, 150);
	assert_int_equal(t->dpd_action, EG_DPD_RESTART);
	assert_int_equal(t->mode, EG_MODE_BOTH);
	assert_int_equal(t->start, EG_START_START);
	assert_int_equal(t->nat_traversal, EG_NATT_AUTO);
	assert_false(t->strict_selectors);
	assert_string_equal(t->ike, "default");
	assert_string_equal(t->esp, "default");
	assert_int_equal(t->children[0].mode, EG_CHILD_MODE_TUNNEL);
	assert_int_equal(t->children[0].direction, EG_DIR_ONE_WAY);
	assert_int_equal(t->children[0].replay_window, 32);
	assert_int_equal(t->psk->len, 25);
	eg_config_free(cfg);
}

/* ---- error reporting ---------------------------------------------------------------------- */

static void test_error_position_and_expectation(void **state)
{
	(void)state;
	/* line 9, column 16 is where the value starts: 1-based */
	expect_patch_error("local: 10.1.0.0/16", "local: 10.1.0.0/33",
			   "t.yaml:9:16: tunnels.t1.children[0].local: expected a CIDR prefix like "
			   "10.1.0.0/16, got '10.1.0.0/33'");
	expect_patch_error("local: 10.1.0.0/16", "local: [10.1.0.0/16, 10.2.0.0/33]",
			   "t.yaml:9:30: tunnels.t1.children[0].local[1]: expected a CIDR prefix");
	expect_patch_error("local: 10.1.0.0/16", "local: 10.1.1.0/16", "host bits");
	expect_patch_error("local: 10.1.0.0/16", "local: 10.1.0.0/16:tcp:70000",
			   "got '10.1.0.0/16:tcp:70000'");
	expect_patch_error("local: 10.1.0.0/16", "local: 10.1.0.0/16:icmp:8", "ports only with");
	expect_patch_error("peer: 192.0.2.1", "peer: 192.0.2.300", "t.yaml:5:11: tunnels.t1.peer");
}

static void test_unknown_and_duplicate_keys(void **state)
{
	(void)state;
	expect_patch_error("        remote:", "        remtoe:", "unknown key 'remtoe'");
	expect_patch_error("        remote:", "        remtoe:", "missing required key 'remote'");
	expect_patch_error("    psk: a\n", "    psk: a\n    psk: b\n", "duplicate key 'psk'");
	expect_patch_error("  interfaces: eth0\n", "  interfaces: eth0\n  interfacse: eth1\n",
			   "t.yaml:3:3: global: unknown key 'interfacse'");
	expect_error("global:\n  interfaces: eth0\ntunnels:\n  t1: {peer: 192.0.2.1, psk: a, "
		     "children: [{name: c, local: 10.0.0.0/8, remote: 10.9.0.0/16}]}\n"
		     "  t1: {peer: 192.0.2.2, psk: a, "
		     "children: [{name: c, local: 10.0.0.0/8, remote: 10.9.0.0/16}]}\n",
		     secrets_ok, "duplicate tunnel 't1'", NULL);
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n"
		"      - name: c1\n        local: 10.2.0.0/16\n        remote: 10.3.0.0/16\n",
		"duplicate child name 'c1'");
	expect_error("tunnels: {}\n", secrets_ok, "missing required key 'global'", NULL);
	expect_error("- a\n- b\n", secrets_ok, "expected a mapping", NULL);
	expect_error("", secrets_ok, "empty", NULL);
}

static void test_yaml_syntax_and_aliases(void **state)
{
	(void)state;
	expect_error("global:\n  interfaces: [eth0\n", secrets_ok, "t.yaml:", "YAML syntax error",
		     NULL);
	expect_error("global: &g\n  interfaces: eth0\nother: *g\n", secrets_ok,
		     "t.yaml:3:8: YAML aliases", NULL);
	expect_error("a: &x [*x]\n", secrets_ok, "aliases", NULL);
	expect_error("global:\n  interfaces: eth0\n---\nglobal: {}\n", secrets_ok,
		     "only one YAML document", NULL);
	expect_error("global:\n  interfaces: \"eth\\0x\"\n", secrets_ok, "NUL byte", NULL);
}

static void test_value_checks(void **state)
{
	(void)state;
	expect_patch_error("    psk: a\n", "    psk: a\n    peer_port: 70000\n",
			   "expected a port number 1-65535, got '70000'");
	expect_patch_error("    psk: a\n", "    psk: a\n    peer_port: 0\n", "port number");
	expect_patch_error("    psk: a\n", "    psk: a\n    lifetime: 30x\n",
			   "expected a duration like 10s");
	expect_patch_error("    psk: a\n", "    psk: a\n    rekey_fuzz: 101%\n",
			   "percentage from 0% to 100%");
	expect_patch_error("    psk: a\n", "    psk: a\n    strict_selectors: maybe\n",
			   "expected true or false, got 'maybe'");
	expect_patch_error("    psk: a\n", "    psk: a\n    mode: initiator\n",
			   "expected both, initiator-only or responder-only, got 'initiator'");
	expect_patch_error("    psk: a\n", "    psk: a\n    dpd: {action: reboot}\n",
			   "expected restart, clear or none");
	expect_patch_error("  interfaces: eth0", "  interfaces: this-name-is-too-long0",
			   "interface name");
	expect_patch_error("  interfaces: eth0", "  interfaces: {outside: eth0, inside: eth0}",
			   "same interface");
	expect_patch_error("  interfaces: eth0", "  interfaces: eth0\n  ike_port: 4500",
			   "must differ");
	expect_patch_error("  interfaces: eth0", "  interfaces: eth0\n  natt_keepalive: often",
			   "global.natt_keepalive: expected a duration like 10s");
	expect_patch_error("    psk: a\n", "    psk: a\n    local_id: \"@\"\n", "identity");
	expect_patch_error("    psk: a\n", "    psk: a\n    ike: aes256-sha999-ecp384\n",
			   "tunnels.t1.ike: expected a strongSwan proposal");
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        local: 10.0.0.0/8\n",
			   "duplicate key 'local'");
	expect_patch_error("local: 10.1.0.0/16", "local: 2001:db8::/32", "IPv6");
}

static void test_lifetimes_and_dpd(void **state)
{
	(void)state;
	expect_patch_error("    psk: a\n", "    psk: a\n    lifetime: 10m\n    rekey_margin: 10m\n",
			   "must be shorter than lifetime");
	/* margin 5m + 100% fuzz = 10m: reaches the lifetime */
	expect_patch_error(
		"    psk: a\n",
		"    psk: a\n    lifetime: 10m\n    rekey_margin: 5m\n    rekey_fuzz: 100%\n",
		"plus rekey_fuzz");
	expect_patch_error("    psk: a\n", "    psk: a\n    rekey_margin: 0s\n", "at least 1s");
	expect_patch_error("    psk: a\n", "    psk: a\n    dpd: {delay: 30s, timeout: 10s}\n",
			   "dpd.timeout (10s) must be at least dpd.delay (30s)");
	{
		char *y = patch("    psk: a\n", "    psk: a\n    dpd: {delay: 30s, timeout: 10s, "
						"action: none}\n    lifetime: 20s\n"
						"    rekey_margin: 5s\n    rekey_fuzz: 0\n");
		struct eg_config_file *cfg = expect_ok(y, secrets_ok);

		assert_int_equal(cfg->tunnels[0].lifetime, 20);
		assert_int_equal(cfg->tunnels[0].rekey_fuzz, 0);
		eg_config_free(cfg);
		free(y);
	}
}

static void test_peer_mode_start(void **state)
{
	(void)state;
	expect_patch_error("peer: 192.0.2.1", "peer: any", "set mode: responder-only");
	expect_patch_error("peer: 192.0.2.1", "peer: any", "peer: any needs remote_id");
	expect_patch_error("peer: 192.0.2.1", "peer: vpn.example.com", "set remote_id");
	expect_patch_error("    psk: a\n",
			   "    psk: a\n    mode: responder-only\n    start: start\n",
			   "start must be none");
	{
		char *y = patch("peer: 192.0.2.1",
				"peer: any\n    mode: responder-only\n    remote_id: \"@east\"");
		struct eg_config_file *cfg = expect_ok(y, secrets_ok);

		assert_int_equal(cfg->tunnels[0].peer_kind, EG_PEER_ANY);
		assert_int_equal(cfg->tunnels[0].start, EG_START_NONE);
		assert_int_equal(cfg->tunnels[0].remote_id.type, EG_ID_FQDN);
		eg_config_free(cfg);
		free(y);
	}
	{
		char *y = patch("peer: 192.0.2.1",
				"peer: vpn.example.com\n    remote_id: vpn.example.com");
		struct eg_config_file *cfg = expect_ok(y, secrets_ok);

		assert_int_equal(cfg->tunnels[0].peer_kind, EG_PEER_FQDN);
		assert_string_equal(cfg->tunnels[0].peer_fqdn, "vpn.example.com");
		eg_config_free(cfg);
		free(y);
	}
}

static void test_weak_algorithms(void **state)
{
	char *y = patch("    psk: a\n", "    psk: a\n    esp: null-md5\n");
	char *w;
	struct eg_config_file *cfg;

	(void)state;
	expect_error(y, secrets_ok, "weak", NULL);
	w = malloc(strlen(y) + 64);
	assert_non_null(w);
	sprintf(w, "%s", y);
	free(y);
	y = w;
	w = strstr(y, "  interfaces: eth0\n");
	assert_non_null(w);
	{
		char *z = malloc(strlen(y) + 64);

		assert_non_null(z);
		sprintf(z, "%.*s  allow_weak_algorithms: true\n%s", (int)(w - y), y, w);
		cfg = expect_ok(z, secrets_ok);
		assert_true(cfg->global.allow_weak_algorithms);
		assert_string_equal(cfg->tunnels[0].esp, "null-md5");
		eg_config_free(cfg);
		free(z);
	}
	free(y);
	/* a list of proposals is joined into one strongSwan string */
	y = patch("    psk: a\n",
		  "    psk: a\n    ike: [aes256-sha256-ecp384, aes128-sha256-modp2048]\n");
	cfg = expect_ok(y, secrets_ok);
	assert_string_equal(cfg->tunnels[0].ike, "aes256-sha256-ecp384,aes128-sha256-modp2048");
	eg_config_free(cfg);
	free(y);
}

static void test_nat_rules(void **state)
{
	(void)state;
	/* the outside address must be inside the local selectors, or nothing would match */
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        nat:\n"
			   "          - {type: snat, inside: 10.9.9.9, outside: 100.64.0.18}\n",
			   "100.64.0.18/32 is not inside this child's local selectors");
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n        nat:\n"
		"          - {type: netmap, inside: 10.0.1.0/24, outside: 10.1.0.0/16}\n",
		"same length");
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        nat:\n"
			   "          - {type: snat, inside: 10.9.9.9}\n",
			   "a snat rule needs 'outside'");
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n        nat:\n"
		"          - {type: snat, inside: 10.9.9.9, outside: 10.1.0.1, ports: 1-2}\n",
		"a snat rule has no 'ports'");
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        nat:\n"
			   "          - {type: masq, inside: 10.9.9.9}\n",
			   "expected snat, netmap, remote-netmap, pool, publish or forward");
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        nat:\n"
			   "          - {type: snat, inside: 10.9.9.9, outside: 10.1.0.1}\n"
			   "          - {type: snat, inside: 10.9.9.8, outside: 10.1.0.1}\n",
			   "both use 10.1.0.1/32 as the outside address");
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n        nat:\n"
		"          - {type: publish, outside: 10.1.0.1:80, inside: 10.9.9.9:8080}\n"
		"          - {type: publish, outside: 10.1.0.1:80, inside: 10.9.9.8:8080}\n",
		"publish the same");
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n        nat:\n"
		"          - {type: publish, outside: 10.1.0.1, inside: 10.9.9.9:8080}\n",
		"address:port");
	expect_patch_error(
		"        remote: 192.168.88.0/24\n",
		"        remote: 192.168.88.0/24\n        nat:\n"
		"          - {type: remote-netmap, remote: 10.0.0.0/16, inside: 10.201.0.0/16}\n",
		"not inside this child's remote selectors");
	expect_patch_error("        remote: 192.168.88.0/24\n",
			   "        remote: 192.168.88.0/24\n        mode: transport\n",
			   "must be a /32");
	/* one-way (the default) cannot be enforced on what a transport SA delivers */
	expect_patch_error("        local: 10.1.0.0/16\n        remote: 192.168.88.0/24\n",
			   "        local: 10.1.0.1/32\n        remote: 192.168.88.1/32\n"
			   "        mode: transport\n",
			   "set direction: both");
	{
		char *y = patch(
			"        remote: 192.168.88.0/24\n",
			"        remote: 192.168.88.0/24\n        nat:\n"
			"          - type: pool\n            inside: [10.9.0.0/16, 10.8.0.0/16]\n"
			"            outside: 10.1.0.1\n"
			"          - {type: publish, proto: udp, outside: 10.1.0.1:53, inside: "
			"10.9.9.9:5353}\n");
		struct eg_config_file *cfg = expect_ok(y, secrets_ok);
		const struct eg_cfg_child *ch = &cfg->tunnels[0].children[0];

		assert_int_equal(ch->n_nat, 2);
		assert_int_equal(ch->nat[0].type, EG_CFG_NAT_POOL);
		assert_int_equal(ch->nat[0].n_pool_inside, 2);
		assert_int_equal(ch->nat[0].port_lo, 1024);
		assert_int_equal(ch->nat[0].port_hi, 65535);
		assert_int_equal(ch->nat[1].type, EG_CFG_NAT_PUBLISH);
		assert_int_equal(ch->nat[1].proto, 17);
		assert_int_equal(ch->nat[1].outside_port, 53);
		assert_int_equal(ch->nat[1].inside_port, 5353);
		eg_config_free(cfg);
		free(y);
	}
}

static void test_cross_tunnel(void **state)
{
	size_t len, slen;
	char *buf = slurp("examples/s5b-overlap-shared-outside.yaml", &len);
	char *sec = slurp("examples/secrets.example.yaml", &slen);
	char *at = strstr(buf, "10.202.0.0/16");
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;

	(void)state;
	/* blue addressed under the same prefix as red: the two children claim the same traffic */
	assert_non_null(at);
	memcpy(at, "10.201.0.0/16", 13);
	assert_int_equal(eg_config_parse("s5b", buf, len, "sec", sec, slen, &cfg, &err), -EINVAL);
	assert_true(err_has(&err, "claims the same traffic"));
	free(buf);
	free(sec);
	/* same peer and identity twice */
	expect_error(
		"global: {interfaces: eth0}\ntunnels:\n"
		"  t1: {peer: 192.0.2.1, psk: a, children: [{name: c, local: 10.0.0.0/8, remote: "
		"10.9.0.0/16}]}\n"
		"  t2: {peer: 192.0.2.1, psk: a, children: [{name: c, local: 10.0.0.0/8, remote: "
		"10.8.0.0/16}]}\n",
		secrets_ok, "same peer and remote_id", NULL);
}

/* ---- parsers ------------------------------------------------------------------------------ */

static void test_parse_duration(void **state)
{
	uint32_t s = 0;

	(void)state;
	assert_int_equal(eg_parse_duration("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(eg_parse_duration("3h", &s), 0);
	assert_int_equal(s, 10800);
	assert_int_equal(eg_parse_duration("10s", &s), 0);
	assert_int_equal(s, 10);
	assert_int_equal(eg_parse_duration("86400", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(eg_parse_duration("2d", &s), 0);
	assert_int_equal(s, 172800);
	assert_int_not_equal(eg_parse_duration("", &s), 0);
	assert_int_not_equal(eg_parse_duration("m", &s), 0);
	assert_int_not_equal(eg_parse_duration("1x", &s), 0);
	assert_int_not_equal(eg_parse_duration("-1s", &s), 0);
	assert_int_not_equal(eg_parse_duration("99999999999h", &s), 0);
	assert_int_not_equal(eg_parse_duration("4294967296", &s), 0);
}

static void test_parse_selector(void **state)
{
	struct eg_selector sel;
	char buf[64];

	(void)state;
	assert_int_equal(eg_parse_selector("10.1.0.0/16", &sel), 0);
	assert_int_equal(sel.proto, 0);
	assert_int_equal(sel.port_lo, 0);
	assert_int_equal(sel.port_hi, 65535);
	assert_int_equal(eg_parse_selector("10.1.0.0/16:tcp:80-88", &sel), 0);
	assert_int_equal(sel.proto, 6);
	assert_int_equal(sel.port_lo, 80);
	assert_int_equal(sel.port_hi, 88);
	assert_string_equal(eg_selector_str(&sel, buf, sizeof(buf)), "10.1.0.0/16:tcp:80-88");
	assert_int_equal(eg_parse_selector("10.0.1.20:udp:500", &sel), 0);
	assert_int_equal(sel.net.len, 32);
	assert_int_equal(sel.port_lo, 500);
	assert_int_equal(eg_parse_selector("10.0.1.20/32:icmp", &sel), 0);
	assert_int_equal(sel.proto, 1);
	assert_int_equal(eg_parse_selector("10.0.1.20/32:47", &sel), 0);
	assert_int_equal(sel.proto, 47);
	assert_int_equal(eg_parse_selector("2001:db8::/32:tcp:443", &sel), 0);
	assert_int_equal(sel.net.len, 32);
	assert_int_equal(sel.port_lo, 443);
	assert_int_equal(eg_parse_selector("[2001:db8::1]:tcp:443", &sel), 0);
	assert_int_equal(sel.net.len, 128);
	assert_int_equal(eg_parse_selector("2001:db8::1", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:tcp:0", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:tcp:90-80", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:tcp:65536", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:icmp:8", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:foo", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/16:256", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/33", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.0.0/", &sel), 0);
	assert_int_not_equal(eg_parse_selector("10.1.1.0/16", &sel), 0);
	assert_int_not_equal(eg_parse_selector("[2001:db8::1", &sel), 0);
	assert_int_not_equal(eg_parse_selector("", &sel), 0);
}

static void test_parse_id(void **state)
{
	struct eg_id id;
	char buf[80];

	(void)state;
	assert_int_equal(eg_parse_id("@east", &id), 0);
	assert_int_equal(id.type, EG_ID_FQDN);
	assert_int_equal(id.len, 4);
	assert_memory_equal(id.data, "east", 4);
	assert_string_equal(eg_id_str(&id, buf, sizeof(buf)), "@east");
	assert_int_equal(eg_parse_id("vpn.example.com", &id), 0);
	assert_int_equal(id.type, EG_ID_FQDN);
	assert_int_equal(eg_parse_id("203.0.113.5", &id), 0);
	assert_int_equal(id.type, EG_ID_IPV4);
	assert_int_equal(id.len, 4);
	assert_int_equal(id.data[0], 203);
	assert_int_equal(eg_parse_id("2001:db8::1", &id), 0);
	assert_int_equal(id.type, EG_ID_IPV6);
	assert_int_equal(id.len, 16);
	assert_int_equal(eg_parse_id("ops@example.com", &id), 0);
	assert_int_equal(id.type, EG_ID_EMAIL);
	assert_int_equal(eg_parse_id("@#0a0B:ff", &id), 0);
	assert_int_equal(id.type, EG_ID_KEYID);
	assert_int_equal(id.len, 3);
	assert_int_equal(id.data[1], 0x0b);
	assert_string_equal(eg_id_str(&id, buf, sizeof(buf)), "@#0a0bff");
	assert_int_equal(eg_parse_id("fqdn:10.1.1.1", &id), 0);
	assert_int_equal(id.type, EG_ID_FQDN);
	assert_int_equal(eg_parse_id("keyid:0011", &id), 0);
	assert_int_equal(id.type, EG_ID_KEYID);
	assert_int_not_equal(eg_parse_id("ipv4:east", &id), 0);
	assert_int_not_equal(eg_parse_id("@", &id), 0);
	assert_int_not_equal(eg_parse_id("@#xyz", &id), 0);
	assert_int_not_equal(eg_parse_id("a@b@c", &id), 0);
	assert_int_not_equal(eg_parse_id("has space", &id), 0);
}

static void test_parse_psk(void **state)
{
	uint8_t out[EG_CFG_PSK_MAX];
	size_t n = 0;

	(void)state;
	assert_int_equal(eg_parse_psk("0x0011ff", 8, out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[2], 0xff);
	assert_int_equal(eg_parse_psk("0sYWJjZA==", 10, out, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "abcd", 4);
	assert_int_equal(eg_parse_psk("0sYWJj", 6, out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(eg_parse_psk("0sYWI=", 6, out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(eg_parse_psk("plain text", 10, out, &n), 0);
	assert_int_equal(n, 10);
	assert_int_not_equal(eg_parse_psk("0x001", 5, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("0xzz", 4, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("0x", 2, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("0sYW=J", 6, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("0sYWJ", 5, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("0s!!!!", 6, out, &n), 0);
	assert_int_not_equal(eg_parse_psk("", 0, out, &n), 0);
}

/* ---- secrets ------------------------------------------------------------------------------ */

static void test_psk_references(void **state)
{
	(void)state;
	expect_patch_error("    psk: a\n", "    psk: zz\n", "no PSK named 'zz' in s.yaml");
	expect_error(base_cfg, NULL, "no secrets file", NULL);
	expect_error(base_cfg, "psk:\n  a: 0xZZ\n", "s.yaml:2:6: psk.a: expected hex digits", NULL);
	expect_error(base_cfg, "psk:\n  a: x\n  a: y\n", "duplicate", NULL);
	/* keys of the secrets file are not echoed either: a secret may have been typed as one */
	expect_error(base_cfg, "psks:\n  a: x\n", "unknown key '<secret not shown>'", NULL);
	expect_error(base_cfg, "psk: [a]\n", "expected a mapping of PSK names", NULL);
}

/* A secret is never part of any message, even when it is malformed. */
static void test_secret_never_echoed(void **state)
{
	static const char *const bad[] = {
		"psk:\n  a: 0xQQsupersekritQQ\n",
		"psk:\n  a: 0ssupersekrit!!!\n",
		"psk:\n  a: [supersekrit]\n",
		"psk:\n  a: {supersekrit: 1}\n",
		"psk:\n  a: \"supersekrit\n",
		"psk:\n  a: supersekrit\n  supersekrit2: supersekrit\n  a: supersekrit\n",
		"psk:\n  a: 'supersekrit'\nextra: supersekrit\n",
		"psk:\n  a: supersekrit: nested\n",
		"psk:\n  a: &x supersekrit\n  b: *x\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct eg_config_file *cfg = NULL;
		struct eg_config_err err;

		assert_int_equal(parse(base_cfg, bad[i], &cfg, &err), -EINVAL);
		assert_true(err.n >= 1);
		for (unsigned int j = 0; j < err.n; j++) {
			/* a PSK *name* may be shown; its value never */
			const char *m = strstr(err.msg[j], "supersekrit");

			if (m && strncmp(m, "supersekrit2", 12)) {
				print_message("# leaked: %s\n", err.msg[j]);
				fail();
			}
		}
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_secrets_permissions(void **state)
{
	char dir[] = "/tmp/eg-cfg-test-XXXXXX";
	char cpath[128], spath[128];
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;
	char *y;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cpath, sizeof(cpath), "%s/espgate.yaml", dir);
	snprintf(spath, sizeof(spath), "%s/sec.yaml", dir);
	/* global.secrets relative to the config's directory */
	y = patch("  interfaces: eth0\n", "  interfaces: eth0\n  secrets: sec.yaml\n");
	write_file(cpath, y, 0644);
	free(y);
	write_file(spath, secrets_ok, 0644);
	assert_int_equal(eg_config_load(cpath, NULL, &cfg, &err), -EACCES);
	assert_null(cfg);
	assert_true(err_has(&err, "chmod 600"));
	assert_true(err_has(&err, spath));
	assert_true(err_has(&err, "mode 0644"));
	assert_int_equal(chmod(spath, 0640), 0);
	assert_int_equal(eg_config_load(cpath, NULL, &cfg, &err), -EACCES);
	assert_int_equal(chmod(spath, 0602), 0);
	assert_int_equal(eg_config_load(cpath, NULL, &cfg, &err), -EACCES);
	assert_int_equal(chmod(spath, 0600), 0);
	assert_int_equal(eg_config_load(cpath, NULL, &cfg, &err), 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->global.secrets_path, spath);
	eg_config_free(cfg);
	/* an explicit secrets path wins over global.secrets */
	assert_int_equal(eg_config_load(cpath, "/nonexistent/sec.yaml", &cfg, &err), -ENOENT);
	assert_true(err_has(&err, "/nonexistent/sec.yaml: cannot open"));
	if (geteuid() == 0) {
		assert_int_equal(chown(spath, 65534, 65534), 0);
		assert_int_equal(eg_config_load(cpath, NULL, &cfg, &err), -EPERM);
		assert_true(err_has(&err, "chown root:root"));
	}
	/* config errors are still reported when the secrets file is refused */
	assert_int_equal(chmod(spath, 0644), 0);
	write_file(cpath, "global:\n  interfaces: eth0\n  secrets: sec.yaml\n  bogus: 1\n", 0644);
	assert_int_not_equal(eg_config_load(cpath, NULL, &cfg, &err), 0);
	assert_true(err_has(&err, "unknown key 'bogus'"));
	assert_true(err_has(&err, "chmod 600"));
	unlink(cpath);
	unlink(spath);
	rmdir(dir);
}

/* ---- equality for reloads ----------------------------------------------------------------- */

static void test_tunnel_equal(void **state)
{
	struct eg_config_file *a, *b;
	char *y;

	(void)state;
	a = expect_ok(base_cfg, secrets_ok);
	/* comments and blank lines move line numbers only */
	y = malloc(strlen(base_cfg) + 64);
	assert_non_null(y);
	sprintf(y, "# a comment\n\n%s", base_cfg);
	b = expect_ok(y, secrets_ok);
	free(y);
	assert_true(eg_config_tunnel_equal(&a->tunnels[0], &b->tunnels[0]));
	assert_true(eg_config_global_equal(a, b));
	eg_config_free(b);
	/* any setting */
	y = patch("    psk: a\n", "    psk: a\n    lifetime: 59m\n");
	b = expect_ok(y, secrets_ok);
	free(y);
	assert_false(eg_config_tunnel_equal(&a->tunnels[0], &b->tunnels[0]));
	eg_config_free(b);
	/* a selector */
	y = patch("remote: 192.168.88.0/24", "remote: 192.168.89.0/24");
	b = expect_ok(y, secrets_ok);
	free(y);
	assert_false(eg_config_tunnel_equal(&a->tunnels[0], &b->tunnels[0]));
	eg_config_free(b);
	/* the PSK's bytes, under the same name */
	b = expect_ok(base_cfg, "psk:\n  a: \"another-psk-value-012345\"\n");
	assert_false(eg_config_tunnel_equal(&a->tunnels[0], &b->tunnels[0]));
	eg_config_free(b);
	/* global */
	y = patch("  interfaces: eth0\n", "  interfaces: eth1\n");
	b = expect_ok(y, secrets_ok);
	free(y);
	assert_false(eg_config_global_equal(a, b));
	assert_true(eg_config_tunnel_equal(&a->tunnels[0], &b->tunnels[0]));
	eg_config_free(b);
	eg_config_free(a);
	eg_config_free(NULL);
}

/* ---- robustness --------------------------------------------------------------------------- */

static void check_clean(const char *name, const char *buf, size_t len, const char *sec, size_t slen)
{
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;
	int ret = eg_config_parse(name, buf, len, "sec", sec, slen, &cfg, &err);

	if (ret == 0) {
		assert_non_null(cfg);
		eg_config_free(cfg);
		return;
	}
	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	assert_true(err.n >= 1);
	for (unsigned int i = 0; i < err.n; i++)
		assert_non_null(memchr(err.msg[i], '\0', EG_CFG_ERR_LEN));
}

static void test_truncations_and_mutations(void **state)
{
	size_t slen, len;
	char *sec = slurp("examples/secrets.example.yaml", &slen);
	unsigned int seed = 12345, runs = 0;
	glob_t g;

	(void)state;
	log_setlevel(EG_LOG_ERR); /* short-PSK warnings from mutated secrets */
	assert_int_equal(glob("examples/s*.yaml", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *buf = slurp(g.gl_pathv[i], &len);
		char *m = malloc(len + 1);

		assert_non_null(m);
		for (size_t cut = 0; cut <= len; cut++, runs++) {
			memcpy(m, buf, cut);
			check_clean(g.gl_pathv[i], m, cut, sec, slen);
		}
		for (int k = 0; k < 400; k++, runs++) {
			memcpy(m, buf, len);
			for (int flips = 1 + rand_r(&seed) % 4; flips; flips--) {
				size_t at = (size_t)rand_r(&seed) % len;
				static const char interesting[] = "\0:-[]{}&*!|>'\"#%@\n\t ,0x/";

				if (rand_r(&seed) % 2)
					m[at] = interesting[rand_r(&seed) %
							    (sizeof(interesting) - 1)];
				else
					m[at] = (char)(rand_r(&seed) & 0xff);
			}
			check_clean(g.gl_pathv[i], m, len, sec, slen);
		}
		free(m);
		free(buf);
	}
	/* the secrets file too */
	{
		char *m = malloc(slen + 1);

		assert_non_null(m);
		for (size_t cut = 0; cut <= slen; cut++, runs++) {
			memcpy(m, sec, cut);
			check_clean("base", base_cfg, strlen(base_cfg), m, cut);
		}
		free(m);
	}
	globfree(&g);
	free(sec);
	log_setlevel(EG_LOG_INFO);
	assert_true(runs > 10000);
}

/* Hostile shapes: deep nesting, huge lists, long scalars. */
static void test_hostile_shapes(void **state)
{
	size_t n = 200000;
	char *y = malloc(n * 2 + 64);
	size_t off = 0;

	(void)state;
	assert_non_null(y);
	off += (size_t)sprintf(y, "global: ");
	for (size_t i = 0; i < 10000; i++)
		y[off++] = '[';
	y[off] = '\0';
	check_clean("deep", y, off, secrets_ok, strlen(secrets_ok));
	off = (size_t)sprintf(y, "global:\n  interfaces: eth0\n  local_addresses: [");
	for (size_t i = 0; i < 20000; i++)
		off += (size_t)sprintf(y + off, "10.0.0.%zu,", i % 250);
	off += (size_t)sprintf(y + off, "]\n");
	expect_error(y, secrets_ok, "too many items", NULL);
	off = (size_t)sprintf(y, "global:\n  interfaces: ");
	memset(y + off, 'e', 100000);
	off += 100000;
	y[off] = '\0';
	expect_error(y, secrets_ok, "interface name", NULL);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_parse),
		cmocka_unit_test(test_example_s1_values),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_error_position_and_expectation),
		cmocka_unit_test(test_unknown_and_duplicate_keys),
		cmocka_unit_test(test_yaml_syntax_and_aliases),
		cmocka_unit_test(test_value_checks),
		cmocka_unit_test(test_lifetimes_and_dpd),
		cmocka_unit_test(test_peer_mode_start),
		cmocka_unit_test(test_weak_algorithms),
		cmocka_unit_test(test_nat_rules),
		cmocka_unit_test(test_cross_tunnel),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_selector),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_psk),
		cmocka_unit_test(test_psk_references),
		cmocka_unit_test(test_secret_never_echoed),
		cmocka_unit_test(test_secrets_permissions),
		cmocka_unit_test(test_tunnel_equal),
		cmocka_unit_test(test_truncations_and_mutations),
		cmocka_unit_test(test_hostile_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
