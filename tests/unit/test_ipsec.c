// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tier, kernel IPsec objects: CHILD SA events become XFRM SAs with the kernel's algorithm
 * names, keys, marks, reqids and NAT-T ports; a child's policy set has the marked out policies in
 * priority order, fail-closed fallbacks behind every one of them, marked in/fwd policies and
 * blocks for plaintext from the partner's ranges; transport children (S8) have unmarked out
 * policies and SAs whose selectors name the negotiated protocol and port; and (as root) the kernel of a fresh network
 * namespace accepts the whole set and lists it back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "espgate_abi.h"
#include "ipsec.h"

static struct ike_addr v4(const char *ip, uint16_t port)
{
	struct ike_addr a = { .family = AF_INET, .port = port };

	inet_pton(AF_INET, ip, a.addr);
	return a;
}

static void child_sa(struct ike_child_sa *c, uint16_t encr, uint16_t integ, bool inbound)
{
	static const uint8_t key[36] = { 1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11, 12,
					 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
					 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36 };

	memset(c, 0, sizeof(*c));
	c->reqid = EG_REQID(7);
	c->inbound = inbound;
	c->spi = 0xc0de0001;
	c->src = v4("192.0.2.1", 4500);
	c->dst = v4("192.0.2.2", 4500);
	c->encr = encr;
	c->encr_bits = 256;
	c->integ = integ;
	assert_int_equal(ike_secret_set(&c->encr_key, key, encr == IKE_ENCR_AES_GCM_16 ? 36 : 32),
			 0);
	if (integ)
		assert_int_equal(ike_secret_set(&c->integ_key, key, 32), 0);
	c->hard_s = 1800;
	c->soft_s = 1620;
}

static void free_child(struct ike_child_sa *c)
{
	ike_secret_free(&c->encr_key);
	ike_secret_free(&c->integ_key);
}

static void test_sa_cbc_outbound(void **state)
{
	struct ike_child_sa c;
	struct xfrm_sa sa;
	char err[128];

	(void)state;
	child_sa(&c, IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA2_256_128, false);
	assert_int_equal(eg_ipsec_sa(&c, 0, &sa, err, sizeof(err)), 0);
	assert_string_equal(sa.enc_alg, "cbc(aes)");
	assert_int_equal(sa.enc_key_len, 32);
	assert_string_equal(sa.auth_alg, "hmac(sha256)");
	assert_int_equal(sa.auth_trunc_bits, 128);
	assert_memory_equal(sa.auth_key, c.integ_key.ptr, 32);
	assert_int_equal(sa.aead_alg[0], 0);
	assert_int_equal(ntohl(sa.spi), 0xc0de0001);
	assert_int_equal(sa.mode, XFRM_MODE_TUNNEL);
	assert_int_equal(sa.reqid, EG_REQID(7));
	/* outbound: selected by the child's out mark, marks nothing */
	assert_int_equal(sa.mark, EG_MARK_OUT(7));
	assert_int_equal(sa.mark_mask, 0xffffffff);
	assert_int_equal(sa.set_mark_mask, 0);
	assert_int_equal(sa.sel.family, 0); /* tunnel mode: wildcard selector */
	assert_int_equal(sa.hard.add_seconds, 1800);
	assert_int_equal(sa.soft.add_seconds, 1620);
	assert_false(sa.encap);
	xfrm_sa_clear(&sa);
	free_child(&c);
}

static void test_sa_gcm_inbound_natt(void **state)
{
	struct ike_child_sa c;
	struct xfrm_sa sa;
	char err[128];

	(void)state;
	child_sa(&c, IKE_ENCR_AES_GCM_16, 0, true);
	c.encap = true;
	assert_int_equal(eg_ipsec_sa(&c, 64, &sa, err, sizeof(err)), 0);
	assert_string_equal(sa.aead_alg, "rfc4106(gcm(aes))");
	assert_int_equal(sa.aead_key_len, 36); /* key + 4-byte salt */
	assert_int_equal(sa.aead_icv_bits, 128);
	assert_int_equal(sa.auth_alg[0], 0);
	/* inbound: decrypted packets get the child's in mark */
	assert_int_equal(sa.set_mark, EG_MARK_IN(7));
	assert_int_equal(sa.set_mark_mask, 0xffffffff);
	assert_int_equal(sa.mark_mask, 0);
	assert_true(sa.encap);
	assert_int_equal(ntohs(sa.encap_sport), 4500);
	assert_int_equal(ntohs(sa.encap_dport), 4500);
	assert_int_equal(sa.replay_window, 64);
	xfrm_sa_clear(&sa);
	free_child(&c);
}

static void test_sa_null_and_errors(void **state)
{
	struct ike_child_sa c;
	struct xfrm_sa sa;
	char err[128];

	(void)state;
	child_sa(&c, IKE_ENCR_NULL, IKE_INTEG_HMAC_MD5_96, false);
	assert_int_equal(eg_ipsec_sa(&c, 0, &sa, err, sizeof(err)), 0);
	assert_string_equal(sa.enc_alg, "ecb(cipher_null)");
	assert_int_equal(sa.enc_key_len, 0);
	assert_string_equal(sa.auth_alg, "hmac(md5)");
	assert_int_equal(sa.auth_trunc_bits, 96);
	xfrm_sa_clear(&sa);
	c.encr = IKE_ENCR_CHACHA20_POLY1305;
	assert_int_equal(eg_ipsec_sa(&c, 0, &sa, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ENCR 28"));
	c.encr = IKE_ENCR_AES_CBC;
	c.reqid = 42; /* not one of ours */
	assert_int_equal(eg_ipsec_sa(&c, 0, &sa, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not one of espgate's"));
	free_child(&c);
}

/* S2-like child: 100.64.0.18/32 <-> 198.18.170.151/32 and 192.168.88.0/24 */
static void s2_child(struct eg_cfg_child *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->name, "net");
	c->n_local = 1;
	assert_int_equal(eg_parse_selector("100.64.0.18/32", &c->local[0]), 0);
	c->n_remote = 2;
	assert_int_equal(eg_parse_selector("198.18.170.151/32", &c->remote[0]), 0);
	assert_int_equal(eg_parse_selector("192.168.88.0/24", &c->remote[1]), 0);
}

static void test_policies(void **state)
{
	struct eg_cfg_child *c = calloc(1, sizeof(*c));
	struct ike_addr l = v4("192.0.2.1", 500), r = v4("192.0.2.2", 500);
	struct xfrm_pol p[32];
	unsigned int n, used;

	(void)state;
	s2_child(c);
	assert_int_equal(eg_ipsec_child_policies(c, 7, &l, &r, 0, &used, p, 32, &n), 0);
	assert_int_equal(used, 2);
	/* 2 pairs x (out + fallback) + in + fwd + 2 remote blocks x (in + fwd) */
	assert_int_equal(n, 2 * 2 + 2 + 2 * 2);
	/* out to the /32 host is more specific than out to the /24 */
	assert_int_equal(p[0].dir, XFRM_POLICY_OUT);
	assert_int_equal(p[2].dir, XFRM_POLICY_OUT);
	assert_true(p[0].priority < p[2].priority);
	for (unsigned int i = 0; i < n; i++) {
		if (p[i].action == XFRM_POLICY_BLOCK) {
			assert_int_equal(p[i].mark_mask, 0);
			assert_true(p[i].priority >= EG_PRIO_FALLBACK_BASE);
			continue;
		}
		assert_true(p[i].priority >= EG_PRIO_CHILD_BASE &&
			    p[i].priority < EG_PRIO_FALLBACK_BASE);
		assert_int_equal(p[i].n_tmpl, 1);
		assert_int_equal(p[i].tmpl[0].reqid, EG_REQID(7));
		assert_int_equal(p[i].tmpl[0].mode, XFRM_MODE_TUNNEL);
		if (p[i].dir == XFRM_POLICY_OUT) {
			assert_int_equal(p[i].mark, EG_MARK_OUT(7));
			assert_memory_equal(&p[i].tmpl[0].daddr, r.addr, 4);
		} else {
			assert_int_equal(p[i].mark, EG_MARK_IN(7));
			assert_int_equal(p[i].sel.sprefix, 0);
			assert_memory_equal(&p[i].tmpl[0].saddr, r.addr, 4);
		}
	}
	/* too small an array is an error, not a truncation */
	assert_int_equal(eg_ipsec_child_policies(c, 7, &l, &r, 0, &used, p, 3, &n), -ENOSPC);
	free(c);
}

/*
 * S5: the partner's 10.0.0.0/16 reaches the kernel's in/fwd policy check as 10.201.0.0/16 (tc
 * applied the remote-netmap before), and the VNet is 10.0.0.0/16 too. The plaintext blocks use
 * the mapped sources: blocking 10.0.0.0/16 blocked the VNet's own hosts from reaching the gateway
 * (seen in the VM tier, 60-s5-overlap: XfrmInPolBlock). A selector inside the mapped range maps
 * with its host bits; one wider than the rule keeps its real prefix and adds the mapped one.
 */
static void test_policies_remote_netmap(void **state)
{
	struct eg_cfg_child *c = calloc(1, sizeof(*c));
	struct ike_addr l = v4("192.0.2.1", 500), r = v4("192.0.2.2", 500);
	static const char *const want[] = { "10.201.0.0/16", "10.201.5.0/24", "10.0.0.0/8" };
	struct xfrm_pol p[32];
	unsigned int n, used, blocks = 0;

	(void)state;
	assert_non_null(c);
	strcpy(c->name, "overlap");
	c->n_local = 1;
	assert_int_equal(eg_parse_selector("100.64.1.0/24", &c->local[0]), 0);
	c->n_remote = 3;
	assert_int_equal(eg_parse_selector("10.0.0.0/16", &c->remote[0]), 0);
	assert_int_equal(eg_parse_selector("10.0.5.0/24", &c->remote[1]), 0);
	assert_int_equal(eg_parse_selector("10.0.0.0/8", &c->remote[2]), 0);
	c->n_nat = 2;
	c->nat[0].type = EG_CFG_NAT_NETMAP;
	assert_int_equal(eg_parse_prefix("10.0.1.0/24", &c->nat[0].inside), 0);
	assert_int_equal(eg_parse_prefix("100.64.1.0/24", &c->nat[0].outside), 0);
	c->nat[1].type = EG_CFG_NAT_REMOTE_NETMAP;
	assert_int_equal(eg_parse_prefix("10.201.0.0/16", &c->nat[1].inside), 0);
	assert_int_equal(eg_parse_prefix("10.0.0.0/16", &c->nat[1].outside), 0);
	assert_int_equal(eg_ipsec_child_policies(c, 7, &l, &r, 0, &used, p, 32, &n), 0);
	for (unsigned int i = 0; i < n; i++) {
		struct eg_prefix w;

		if (p[i].action != XFRM_POLICY_BLOCK || p[i].dir != XFRM_POLICY_IN)
			continue;
		/* the first /16 is deduplicated against the identical one of remote[0] */
		assert_true(blocks < 3);
		assert_int_equal(eg_parse_prefix(want[blocks], &w), 0);
		assert_int_equal(p[i].sel.sprefix, w.len);
		assert_memory_equal(&p[i].sel.saddr, w.addr, 4);
		assert_int_equal(p[i].sel.dprefix, 0);
		/* its fwd twin follows */
		assert_int_equal(p[i + 1].dir, XFRM_POLICY_FWD);
		assert_memory_equal(&p[i + 1].sel, &p[i].sel, sizeof(p[i].sel));
		blocks++;
	}
	assert_int_equal(blocks, 3);
	free(c);
}

/* S8 (seed 003), transport mode for TCP 8080: this host's own traffic never passes the classifier
 * that sets out marks, so the out policy and the outbound SA are unmarked (a forwarded packet
 * cannot carry the host's /32 source); no fwd policies; the SAs' selectors name the negotiated
 * protocol and port, which is what keeps the partner from sending other traffic through them. */
static void ts1(struct ike_ts_list *l, const char *ip, uint8_t proto, uint16_t lo, uint16_t hi)
{
	memset(l, 0, sizeof(*l));
	l->n = 1;
	l->ts[0].type = IKE_TS_IPV4_ADDR_RANGE;
	l->ts[0].proto = proto;
	l->ts[0].port_lo = lo;
	l->ts[0].port_hi = hi;
	inet_pton(AF_INET, ip, l->ts[0].start);
	inet_pton(AF_INET, ip, l->ts[0].end);
}

static void test_transport(void **state)
{
	struct eg_cfg_child *ch = calloc(1, sizeof(*ch));
	struct ike_addr l = v4("10.0.1.20", 500), r = v4("10.2.27.10", 500);
	struct ike_child_sa c;
	struct xfrm_pol p[32];
	struct xfrm_sa sa;
	unsigned int n, used, out = 0, in = 0;
	char err[128];

	(void)state;
	strcpy(ch->name, "to-host1-8080");
	ch->mode = EG_CHILD_MODE_TRANSPORT;
	ch->n_local = ch->n_remote = 1;
	assert_int_equal(eg_parse_selector("10.0.1.20/32:tcp", &ch->local[0]), 0);
	assert_int_equal(eg_parse_selector("10.2.27.10/32:tcp:8080", &ch->remote[0]), 0);
	assert_int_equal(eg_ipsec_child_policies(ch, 7, &l, &r, 0, &used, p, 32, &n), 0);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_not_equal(p[i].dir, XFRM_POLICY_FWD);
		if (p[i].dir == XFRM_POLICY_OUT) {
			out++;
			assert_int_equal(p[i].action, XFRM_POLICY_ALLOW);
			assert_int_equal(p[i].mark_mask, 0);
			assert_int_equal(p[i].tmpl[0].mode, XFRM_MODE_TRANSPORT);
			assert_int_equal(p[i].tmpl[0].reqid, EG_REQID(7));
			assert_int_equal(p[i].sel.proto, IPPROTO_TCP);
			assert_int_equal(p[i].sel.dport, htons(8080));
		} else if (p[i].action == XFRM_POLICY_ALLOW) {
			in++;
			assert_int_equal(p[i].mark, EG_MARK_IN(7));
		}
	}
	assert_int_equal(out, 1);
	assert_int_equal(in, 1);
	free(ch);

	child_sa(&c, IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA2_256_128, false);
	c.transport = true;
	c.src = v4("10.0.1.20", 500);
	c.dst = v4("10.2.27.10", 500);
	ts1(&c.ts_local, "10.0.1.20", IPPROTO_TCP, 0, 65535);
	ts1(&c.ts_remote, "10.2.27.10", IPPROTO_TCP, 8080, 8080);
	assert_int_equal(eg_ipsec_sa(&c, 0, &sa, err, sizeof(err)), 0);
	assert_int_equal(sa.mode, XFRM_MODE_TRANSPORT);
	assert_int_equal(sa.mark_mask, 0);
	assert_int_equal(sa.sel.proto, IPPROTO_TCP);
	assert_int_equal(sa.sel.dport, htons(8080));
	assert_int_equal(sa.sel.dport_mask, 0xffff);
	assert_int_equal(sa.sel.sport_mask, 0);
	xfrm_sa_clear(&sa);
	/* inbound: from the partner's port 8080 to this host, marked on decryption */
	c.inbound = true;
	c.src = v4("10.2.27.10", 500);
	c.dst = v4("10.0.1.20", 500);
	assert_int_equal(eg_ipsec_sa(&c, 32, &sa, err, sizeof(err)), 0);
	assert_int_equal(sa.set_mark, EG_MARK_IN(7));
	assert_int_equal(sa.sel.proto, IPPROTO_TCP);
	assert_int_equal(sa.sel.sport, htons(8080));
	assert_int_equal(sa.sel.sport_mask, 0xffff);
	assert_int_equal(sa.sel.dport_mask, 0);
	xfrm_sa_clear(&sa);
	free_child(&c);
}

/* The kernel of a fresh namespace takes the whole set (this kernel has XFRM policies, even
 * without ESP) and reports them back. */
static void test_policies_kernel(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = fork();
	if (pid == 0) {
		struct eg_cfg_child *c = calloc(1, sizeof(*c));
		struct ike_addr l = v4("192.0.2.1", 500), r = v4("192.0.2.2", 500);
		struct xfrm_pol p[32];
		struct xfrm_backend *b;
		unsigned int n, used, ours = 0;

		if (!c || unshare(CLONE_NEWNET))
			_exit(10);
		s2_child(c);
		if (eg_ipsec_child_policies(c, 7, &l, &r, 0, &used, p, 32, &n))
			_exit(11);
		b = xfrm_backend_new(XFRMB_KERNEL);
		if (!b)
			_exit(12);
		for (unsigned int i = 0; i < n; i++)
			if (xfrm_pol_add(b, &p[i]))
				_exit(20 + (int)i);
		if (xfrm_flush_ours(b, &ours, NULL) || ours != n)
			_exit(13);
		xfrm_backend_free(b);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sa_cbc_outbound),
		cmocka_unit_test(test_sa_gcm_inbound_natt),
		cmocka_unit_test(test_sa_null_and_errors),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_policies_remote_netmap),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_policies_kernel),
	};

	return cmocka_run_group_tests_name("ipsec", tests, NULL, NULL);
}
