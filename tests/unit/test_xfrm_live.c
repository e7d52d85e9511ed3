// SPDX-License-Identifier: GPL-2.0-only
/*
 * user/xfrm.c against a real kernel. Needs root: main() moves the process into a fresh network
 * namespace (unshare), so nothing here touches the host's XFRM state, and every case that cannot
 * run says why with a SKIP (not root; no kernel ESP for the SA cases). The same binary runs in the
 * VM tier (tests/vm/scenarios/40-xfrm-backend.sh), where the kernel has ESP and the SA cases,
 * expires and an ESP ping through a tunnel whose inbound SA marks decrypted packets run for real.
 * Everything is cross-checked with iproute2's view (`ip xfrm ...`), an independent parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "espgate_abi.h"
#include "xfrm.h"

static bool is_root; /* and in a fresh namespace of our own */
static bool esp4;    /* the kernel installs ESP SAs for IPv4 */
static char esp4_msg[256];
static int self_ns = -1; /* our namespace */
static char peer[32];	 /* the peer namespace's name (ip netns) */
static int peer_ns = -1;

static void skip_because(const char *test, const char *why)
{
	/* cmocka's TAP line has no reason: say it on both streams */
	printf("# SKIP %s: %s\n", test, why);
	fprintf(stderr, "SKIPPED: %s: %s\n", test, why);
}

#define NEED_ROOT()                                                                                \
	do {                                                                                       \
		if (!is_root) {                                                                    \
			skip_because(__func__, "needs root for a network namespace of its own");   \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

#define NEED_ESP()                                                                                 \
	do {                                                                                       \
		NEED_ROOT();                                                                       \
		if (!esp4) {                                                                       \
			skip_because(__func__, esp4_msg);                                          \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The output of a shell command (in our namespace), NUL-terminated; the caller frees it. */
__attribute__((format(printf, 1, 2))) static char *sh_out(const char *fmt, ...)
{
	char cmd[1024], *buf = calloc(1, 65536);
	size_t n = 0, r;
	va_list ap;
	FILE *p;

	assert_non_null(buf);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((r = fread(buf + n, 1, 65535 - n, p)) > 0)
		n += r;
	pclose(p);
	return buf;
}

static void addr(const char *s, xfrm_address_t *a)
{
	__u16 fam;

	assert_int_equal(xfrm_addr_parse(s, &fam, a), 0);
}

static void pol_make(struct xfrm_pol *p, const char *src, int sp, const char *dst, int dp, __u8 dir)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET;
	addr(src, &p->sel.saddr);
	addr(dst, &p->sel.daddr);
	p->sel.sprefix = (__u8)sp;
	p->sel.dprefix = (__u8)dp;
	p->dir = dir;
	p->action = XFRM_POLICY_ALLOW;
	p->priority = EG_PRIO_CHILD_BASE + 10;
}

static void tmpl_make(struct xfrm_pol *p, const char *src, const char *dst, __u32 reqid)
{
	struct xfrm_tmpl *t = &p->tmpl[p->n_tmpl++];

	addr(src, &t->saddr);
	addr(dst, &t->daddr);
	t->proto = IPPROTO_ESP;
	t->mode = XFRM_MODE_TUNNEL;
	t->reqid = reqid;
}

static void sa_make(struct xfrm_sa *sa, const char *src, const char *dst, __u32 spi, __u32 reqid)
{
	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET;
	addr(src, &sa->saddr);
	addr(dst, &sa->daddr);
	sa->spi = htonl(spi);
	sa->proto = IPPROTO_ESP;
	sa->mode = XFRM_MODE_TUNNEL;
	sa->reqid = reqid;
	sa->replay_window = 32;
	strcpy(sa->enc_alg, "cbc(aes)");
	sa->enc_key_len = 16;
	memset(sa->enc_key, 0x11, 16);
	strcpy(sa->auth_alg, "hmac(sha256)");
	sa->auth_key_len = 32;
	memset(sa->auth_key, 0x22, 32);
	sa->auth_trunc_bits = 128;
}

struct counts {
	int pol, sa;
	struct xfrm_pol last_pol;
	struct xfrm_sa last_sa;
	struct xfrm_sa_stats last_st;
};

static int cnt_pol(const struct xfrm_pol *p, void *arg)
{
	struct counts *c = arg;

	c->pol++;
	c->last_pol = *p;
	return 0;
}

static int cnt_sa(const struct xfrm_sa *sa, const struct xfrm_sa_stats *st, void *arg)
{
	struct counts *c = arg;

	c->sa++;
	c->last_sa = *sa;
	c->last_st = *st;
	return 0;
}

static struct counts count_all(struct xfrm_backend *b)
{
	struct counts c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(xfrm_pol_list(b, cnt_pol, &c), 0);
	assert_int_equal(xfrm_sa_list(b, cnt_sa, &c), 0);
	return c;
}

static int setup_backend(void **state)
{
	if (!is_root)
		return 0;
	*state = xfrm_backend_new(XFRMB_KERNEL);
	if (!*state)
		return -1;
	/* each case starts from an empty SPD and SAD */
	sh("ip xfrm policy flush; ip xfrm state flush");
	return 0;
}

static int teardown_backend(void **state)
{
	xfrm_backend_free(*state);
	if (is_root)
		sh("ip xfrm policy flush; ip xfrm state flush");
	return 0;
}

/* ---- the cases ----------------------------------------------------------------------------- */

/* The probe's verdict matches reality, names what is missing, and leaves nothing behind. */
static void t_probe_esp(void **state)
{
	struct xfrm_backend *b = *state;
	struct counts c;
	char msg[256];
	int err;

	NEED_ROOT();
	err = xfrm_probe_esp(AF_INET, msg, sizeof(msg));
	printf("# probe IPv4: %d %s\n", err, msg);
	if (esp4) {
		assert_int_equal(err, 0);
	} else {
		assert_int_equal(err, -EPROTONOSUPPORT);
		assert_non_null(
			strstr(msg, "kernel has no ESP for IPv4 (CONFIG_INET_ESP, module esp4)"));
		assert_non_null(strstr(msg, "Requested type not found"));
	}
	err = xfrm_probe_esp(AF_INET6, msg, sizeof(msg));
	printf("# probe IPv6: %d %s\n", err, msg);
	assert_true(err == 0 || err == -EPROTONOSUPPORT);
	if (err)
		assert_non_null(strstr(msg, "kernel has no ESP for IPv6"));
	c = count_all(b);
	assert_int_equal(c.sa, 0);
	assert_int_equal(c.pol, 0);
	assert_int_equal(sh("test -z \"$(ip xfrm state)\""), 0);
}

static void t_pol_roundtrip(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_pol p;
	struct counts c;
	char *out;

	NEED_ROOT();
	pol_make(&p, "10.1.0.0", 16, "10.2.0.0", 16, XFRM_POLICY_OUT);
	p.sel.proto = IPPROTO_TCP;
	p.sel.dport = htons(443);
	p.sel.dport_mask = 0xffff;
	p.mark = EG_MARK_OUT(1);
	p.mark_mask = ~0u;
	tmpl_make(&p, "192.0.2.1", "192.0.2.2", EG_REQID(1));
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	assert_string_equal(xfrm_backend_error(b), "");

	c = count_all(b);
	assert_int_equal(c.pol, 1);
	assert_int_not_equal(c.last_pol.index, 0);
	assert_int_equal(c.last_pol.dir, XFRM_POLICY_OUT);
	assert_int_equal(c.last_pol.priority, EG_PRIO_CHILD_BASE + 10);
	assert_int_equal(c.last_pol.mark, EG_MARK_OUT(1));
	assert_int_equal(c.last_pol.mark_mask, ~0u);
	assert_int_equal(c.last_pol.sel.proto, IPPROTO_TCP);
	assert_int_equal(ntohs(c.last_pol.sel.dport), 443);
	assert_int_equal(c.last_pol.n_tmpl, 1);
	assert_int_equal(c.last_pol.tmpl[0].reqid, EG_REQID(1));
	assert_memory_equal(&c.last_pol.tmpl[0].daddr, &p.tmpl[0].daddr, 4);

	out = sh_out("ip xfrm policy");
	printf("# %s", out);
	assert_non_null(strstr(out, "src 10.1.0.0/16 dst 10.2.0.0/16 proto tcp dport 443"));
	assert_non_null(strstr(out, "dir out priority 1048586"));
	assert_non_null(strstr(out, "mark 0x45470001/0xffffffff"));
	assert_non_null(strstr(out, "tmpl src 192.0.2.1 dst 192.0.2.2"));
	assert_non_null(strstr(out, "proto esp reqid 1162280961 mode tunnel"));
	free(out);

	assert_int_equal(xfrm_pol_add(b, &p), -EEXIST);
	assert_non_null(strstr(xfrm_backend_error(b), "add policy out 10.1.0.0/16 -> 10.2.0.0/16"));
	assert_non_null(strstr(xfrm_backend_error(b), "File exists"));
	p.priority = 5;
	assert_int_equal(xfrm_pol_update(b, &p), 0);
	c = count_all(b);
	assert_int_equal(c.pol, 1);
	assert_int_equal(c.last_pol.priority, 5);
	/* the same selector under another mark is another policy */
	p.mark = EG_MARK_OUT(2);
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	assert_int_equal(count_all(b).pol, 2);
	assert_int_equal(xfrm_pol_del(b, &p), 0);
	assert_int_equal(xfrm_pol_del(b, &p), -ENOENT);
	assert_non_null(strstr(xfrm_backend_error(b), "delete policy out"));
	p.mark = EG_MARK_OUT(1);
	assert_int_equal(xfrm_pol_del(b, &p), 0);
	assert_int_equal(count_all(b).pol, 0);
	assert_int_equal(sh("test -z \"$(ip xfrm policy)\""), 0);
}

static int stop_first(const struct xfrm_pol *p, void *arg)
{
	(void)p;
	(void)arg;
	return 7;
}

/* A dump that spans many datagrams is read whole, and flushing it leaves the socket in step. */
static void t_pol_dump_large(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_pol p;
	unsigned int np, ns, i;

	NEED_ROOT();
	for (i = 0; i < 3000; i++) {
		pol_make(&p, "10.1.0.0", 16, "10.0.0.0", 32, XFRM_POLICY_OUT);
		p.sel.daddr.a4 = htonl(0x0a000000u + i);
		tmpl_make(&p, "192.0.2.1", "192.0.2.2", EG_REQID(1 + i % 100));
		assert_int_equal(xfrm_pol_add(b, &p), 0);
	}
	assert_int_equal(count_all(b).pol, 3000);
	/* a callback that stops the walk early: its value comes back, the rest is drained */
	assert_int_equal(xfrm_pol_list(b, stop_first, NULL), 7);
	assert_int_equal(count_all(b).pol, 3000);
	assert_int_equal(xfrm_flush_ours(b, &np, &ns), 0);
	assert_int_equal(np, 3000);
	assert_int_equal(count_all(b).pol, 0);
	/* the socket still answers in step */
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	assert_int_equal(xfrm_pol_del(b, &p), 0);
}

/* Without ESP, an SA install fails with the kernel's own words and installs nothing. */
static void t_sa_without_esp(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_sa sa;

	NEED_ROOT();
	if (esp4) {
		skip_because(__func__, "this kernel has ESP (the SA cases run instead)");
		skip();
	}
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x1000, EG_REQID(1));
	assert_int_equal(xfrm_sa_add(b, &sa), -EPROTONOSUPPORT);
	printf("# %s\n", xfrm_backend_error(b));
	assert_string_equal(xfrm_backend_error(b),
			    "add SA spi 0x00001000 dst 192.0.2.2: Requested type not found "
			    "(Protocol not supported)");
	assert_null(strstr(xfrm_backend_error(b), "1111")); /* no key material */
	xfrm_sa_clear(&sa);
	assert_int_equal(count_all(b).sa, 0);
}

static void t_sa_roundtrip(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_sa_stats st;
	struct xfrm_sa_id id;
	struct xfrm_sa sa;
	struct counts c;
	char *out;

	NEED_ESP();
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x11223344, EG_REQID(1));
	sa.encap = true;
	sa.encap_sport = htons(4500);
	sa.encap_dport = htons(4500);
	sa.mark = EG_MARK_OUT(1);
	sa.mark_mask = ~0u;
	sa.set_mark = EG_MARK_IN(1);
	sa.set_mark_mask = ~0u;
	sa.soft.add_seconds = 3000;
	sa.hard.add_seconds = 3600;
	sa.soft.bytes = 1000000;
	sa.hard.packets = 5000;
	assert_int_equal(xfrm_sa_add(b, &sa), 0);
	assert_int_equal(xfrm_sa_add(b, &sa), -EEXIST);

	c = count_all(b);
	assert_int_equal(c.sa, 1);
	assert_int_equal(c.last_sa.reqid, EG_REQID(1));
	assert_int_equal(c.last_sa.mode, XFRM_MODE_TUNNEL);
	assert_string_equal(c.last_sa.enc_alg, "cbc(aes)");
	assert_int_equal(c.last_sa.enc_key_len, 16);
	assert_string_equal(c.last_sa.auth_alg, "hmac(sha256)");
	assert_int_equal(c.last_sa.auth_trunc_bits, 128);
	assert_true(c.last_sa.encap);
	assert_int_equal(ntohs(c.last_sa.encap_sport), 4500);
	assert_int_equal(c.last_sa.mark, EG_MARK_OUT(1));
	assert_int_equal(c.last_sa.set_mark, EG_MARK_IN(1));
	assert_int_equal(c.last_sa.set_mark_mask, ~0u);
	assert_int_equal(c.last_sa.hard.add_seconds, 3600);
	assert_int_equal(c.last_sa.soft.bytes, 1000000);
	assert_int_equal(c.last_sa.hard.packets, 5000);
	assert_int_equal(c.last_sa.replay_window, 32);
	assert_int_equal(c.last_sa.sel.family, 0); /* wildcard selector, af-unspec */

	out = sh_out("ip xfrm state");
	printf("# %s", out);
	assert_non_null(strstr(out, "proto esp spi 0x11223344 reqid 1162280961 mode tunnel"));
	assert_non_null(strstr(out, "flag af-unspec"));
	assert_non_null(strstr(out, "mark 0x45470001/0xffffffff"));
	assert_non_null(strstr(out, "output-mark 0x45478001"));
	assert_non_null(strstr(out, "encap type espinudp sport 4500 dport 4500"));
	free(out);

	xfrm_sa_id_of(&sa, &id);
	assert_int_equal(xfrm_sa_get_stats(b, &id, &st), 0);
	assert_true(st.add_time > 1600000000);
	assert_int_equal(st.packets, 0);
	assert_int_equal(st.replay_window_errs, 0);

	sa.hard.add_seconds = 7200;
	assert_int_equal(xfrm_sa_update(b, &sa), 0);
	assert_int_equal(count_all(b).last_sa.hard.add_seconds, 7200);

	assert_int_equal(xfrm_sa_del(b, &id), 0);
	assert_int_equal(xfrm_sa_del(b, &id), -ESRCH);
	assert_int_equal(xfrm_sa_get_stats(b, &id, &st), -ESRCH);
	assert_non_null(strstr(xfrm_backend_error(b), "get SA spi 0x11223344 dst 192.0.2.2"));
	sa.spi = htonl(0x55);
	assert_int_equal(xfrm_sa_update(b, &sa), -ESRCH);
	xfrm_sa_clear(&sa);
	assert_int_equal(count_all(b).sa, 0);
}

static void t_sa_variants(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_sa sa;
	struct counts c;
	char *out;

	NEED_ESP();
	/* AES-GCM with ESN and a 128-packet window */
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x2001, EG_REQID(2));
	sa.enc_alg[0] = sa.auth_alg[0] = 0;
	sa.enc_key_len = sa.auth_key_len = sa.auth_trunc_bits = 0;
	strcpy(sa.aead_alg, "rfc4106(gcm(aes))");
	sa.aead_key_len = 36;
	memset(sa.aead_key, 0x33, 36);
	sa.aead_icv_bits = 128;
	sa.esn = true;
	sa.replay_window = 128;
	assert_int_equal(xfrm_sa_add(b, &sa), 0);
	c = count_all(b);
	assert_int_equal(c.sa, 1);
	assert_true(c.last_sa.esn);
	assert_int_equal(c.last_sa.replay_window, 128);
	assert_string_equal(c.last_sa.aead_alg, "rfc4106(gcm(aes))");
	assert_int_equal(c.last_sa.aead_key_len, 36);
	assert_int_equal(c.last_sa.aead_icv_bits, 128);
	out = sh_out("ip xfrm state");
	printf("# %s", out);
	assert_non_null(strstr(out, "flag af-unspec esn"));
	assert_non_null(strstr(out, "replay_window 128, bitmap-length 4"));
	free(out);

	/* NULL encryption, transport mode */
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x2002, EG_REQID(3));
	strcpy(sa.enc_alg, "ecb(cipher_null)");
	sa.enc_key_len = 0;
	sa.mode = XFRM_MODE_TRANSPORT;
	assert_int_equal(xfrm_sa_add(b, &sa), 0);
	assert_int_equal(count_all(b).sa, 2);

	/* an algorithm the kernel does not know: its words in the error */
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x2003, EG_REQID(3));
	strcpy(sa.enc_alg, "cbc(nosuchcipher)");
	assert_int_equal(xfrm_sa_add(b, &sa), -ENOSYS);
	printf("# %s\n", xfrm_backend_error(b));
	assert_non_null(strstr(xfrm_backend_error(b), "add SA spi 0x00002003 dst 192.0.2.2"));
	xfrm_sa_clear(&sa);
	assert_int_equal(count_all(b).sa, 2);
}

/* Only ours goes: foreign policies (reqids just outside our range, a mark just outside our magic,
 * none at all) and foreign SAs survive, as iproute2 confirms. */
static void t_flush_ours(void **state)
{
	struct xfrm_backend *b = *state;
	static const __u32 foreign[] = { 1, EG_REQID_BASE - 1, EG_REQID_BASE + EG_MAX_CHILDREN };
	unsigned int np, ns;
	struct xfrm_pol p;
	struct xfrm_sa sa;
	struct counts c;
	size_t i;

	NEED_ROOT();
	pol_make(&p, "10.1.0.0", 24, "10.2.0.0", 24, XFRM_POLICY_OUT);
	p.mark = EG_MARK_OUT(1);
	p.mark_mask = ~0u;
	tmpl_make(&p, "192.0.2.1", "192.0.2.2", 7); /* ours by mark */
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	pol_make(&p, "10.2.0.0", 24, "10.1.0.0", 24, XFRM_POLICY_FWD);
	tmpl_make(&p, "192.0.2.2", "192.0.2.1", EG_REQID(EG_MAX_CHILDREN - 1)); /* by reqid */
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	pol_make(&p, "10.2.0.0", 24, "10.1.0.0", 24, XFRM_POLICY_IN);
	tmpl_make(&p, "192.0.2.2", "192.0.2.1", EG_REQID_BASE);
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	for (i = 0; i < 3; i++) {
		pol_make(&p, "10.3.0.0", 24, "10.4.0.0", (int)(24 + i), XFRM_POLICY_OUT);
		tmpl_make(&p, "192.0.2.1", "192.0.2.3", foreign[i]);
		assert_int_equal(xfrm_pol_add(b, &p), 0);
	}
	pol_make(&p, "10.5.0.0", 24, "10.6.0.0", 24, XFRM_POLICY_OUT);
	p.mark = 0x45460001;
	p.mark_mask = ~0u;
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	/* a foreign block policy with no template */
	assert_int_equal(sh("ip xfrm policy add src 10.7.0.0/24 dst 10.8.0.0/24 dir out action "
			    "block"),
			 0);
	if (esp4) {
		sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x3001, EG_REQID(1));
		assert_int_equal(xfrm_sa_add(b, &sa), 0);
		sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x3002, 0);
		sa.mark = EG_MARK_IN(5);
		sa.mark_mask = ~0u;
		assert_int_equal(xfrm_sa_add(b, &sa), 0);
		sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x3003, EG_REQID_BASE + EG_MAX_CHILDREN);
		assert_int_equal(xfrm_sa_add(b, &sa), 0);
		sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x3004, 1);
		sa.set_mark = EG_MARK_IN(1);
		sa.set_mark_mask = ~0u;
		assert_int_equal(xfrm_sa_add(b, &sa), 0);
		xfrm_sa_clear(&sa);
	}
	c = count_all(b);
	assert_int_equal(c.pol, 8);
	assert_int_equal(c.sa, esp4 ? 4 : 0);

	assert_int_equal(xfrm_flush_ours(b, &np, &ns), 0);
	assert_int_equal(np, 3);
	assert_int_equal(ns, esp4 ? 2 : 0);
	c = count_all(b);
	assert_int_equal(c.pol, 5);
	assert_int_equal(c.sa, esp4 ? 2 : 0);
	assert_int_equal(sh("test $(ip xfrm policy | grep -c '^src') -eq 5"), 0);
	assert_int_equal(sh("ip xfrm policy | grep -q 'mark 0x45460001'"), 0);
	assert_int_equal(sh("ip xfrm policy | grep -q 'action block'"), 0);
	assert_int_equal(sh("ip xfrm policy | grep -q 'reqid 1162285056 '"), 0); /* base+max */
	assert_int_equal(sh("ip xfrm policy | grep -q 'reqid 1162280959 '"), 0); /* base-1 */
	assert_int_equal(sh("! ip xfrm policy | grep -q 'mark 0x45470001'"), 0);
	if (esp4) {
		assert_int_equal(sh("ip xfrm state | grep -q 'spi 0x00003003'"), 0);
		assert_int_equal(sh("ip xfrm state | grep -q 'spi 0x00003004'"), 0);
	}
	assert_int_equal(xfrm_flush_ours(b, &np, &ns), 0);
	assert_int_equal(np + ns, 0);
}

/* ---- a peer namespace over a veth pair -------------------------------------------------------- */

static int peer_up(void)
{
	char path[64];

	snprintf(peer, sizeof(peer), "egxl%d", (int)getpid());
	if (sh("ip netns add %s && ip link add egxa type veth peer name egxb netns %s && "
	       "ip addr add 10.99.0.1/24 dev egxa && ip link set egxa up && "
	       "ip -n %s addr add 10.99.0.2/24 dev egxb && ip -n %s link set egxb up && "
	       "ip -n %s link set lo up",
	       peer, peer, peer, peer, peer))
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", peer);
	peer_ns = open(path, O_RDONLY | O_CLOEXEC);
	return peer_ns < 0 ? -1 : 0;
}

static void peer_down(void)
{
	if (peer_ns >= 0)
		close(peer_ns);
	peer_ns = -1;
	sh("ip link del egxa 2>/dev/null; ip netns del %s 2>/dev/null", peer);
}

/* A UDP socket bound to addr:port in the peer namespace (peer true) or ours. */
static int udp_sock(bool in_peer, const char *a, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd;

	if (in_peer)
		assert_int_equal(setns(peer_ns, CLONE_NEWNET), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (in_peer)
		assert_int_equal(setns(self_ns, CLONE_NEWNET), 0);
	assert_true(fd >= 0);
	inet_pton(AF_INET, a, &sin.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int udp_send(int fd, const char *a, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, a, &sin.sin_addr);
	return sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) == 1 ? 0 : -errno;
}

/* 1 if a datagram arrives within ms, else 0 */
static int udp_recv(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return recv(fd, &c, 1, 0) == 1;
}

static int stat_get(const char *name, uint64_t v, void *arg)
{
	uint64_t *out = arg;

	if (!strcmp(name, "XfrmOutPolBlock"))
		out[0] = v;
	else if (!strcmp(name, "XfrmInPolBlock"))
		out[1] = v;
	return 0;
}

/*
 * With block policies 0.0.0.0/0 <-> 0.0.0.0/0 in and out in our namespace, a socket with the
 * per-socket bypass still talks to the peer both ways; one without cannot (send refused, nothing
 * received), and /proc/net/xfrm_stat counts both blocks. Loopback is exempt from XFRM
 * (disable_policy/disable_xfrm), so this needs the veth.
 */
static void t_socket_bypass(void **state)
{
	struct xfrm_backend *b = *state;
	uint64_t st0[2] = { 0 }, st1[2] = { 0 };
	struct xfrm_pol p;
	int a, plain, far;

	NEED_ROOT();
	assert_int_equal(peer_up(), 0);
	a = udp_sock(false, "10.99.0.1", 5001);
	plain = udp_sock(false, "10.99.0.1", 5002);
	far = udp_sock(true, "10.99.0.2", 6000);
	assert_int_equal(xfrm_socket_bypass(a, AF_INET), 0);

	/* baseline without policies: the plain socket works (so the test can fail) */
	assert_int_equal(udp_send(plain, "10.99.0.2", 6000), 0);
	assert_int_equal(udp_recv(far, 2000), 1);
	assert_int_equal(udp_send(far, "10.99.0.1", 5002), 0);
	assert_int_equal(udp_recv(plain, 2000), 1);

	pol_make(&p, "0.0.0.0", 0, "0.0.0.0", 0, XFRM_POLICY_OUT);
	p.action = XFRM_POLICY_BLOCK;
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	p.dir = XFRM_POLICY_IN;
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	assert_int_equal(xfrm_stat_read(NULL, stat_get, st0), 0);

	assert_int_equal(udp_send(a, "10.99.0.2", 6000), 0);
	assert_int_equal(udp_recv(far, 2000), 1);
	assert_int_equal(udp_send(far, "10.99.0.1", 5001), 0);
	assert_int_equal(udp_recv(a, 2000), 1);

	assert_int_equal(udp_send(plain, "10.99.0.2", 6000), -EPERM);
	assert_int_equal(udp_recv(far, 300), 0);
	assert_int_equal(udp_send(far, "10.99.0.1", 5002), 0);
	assert_int_equal(udp_recv(plain, 500), 0);

	assert_int_equal(xfrm_stat_read(NULL, stat_get, st1), 0);
	assert_true(st1[0] > st0[0]); /* XfrmOutPolBlock */
	assert_true(st1[1] > st0[1]); /* XfrmInPolBlock */
	close(a);
	close(plain);
	close(far);
	peer_down();
}

static int stat_get_nopols(const char *name, uint64_t v, void *arg)
{
	if (!strcmp(name, "XfrmInNoPols"))
		*(uint64_t *)arg = v;
	return 0;
}

struct evwait {
	struct xfrm_event ev[8];
	int n;
};

static int ev_keep(const struct xfrm_event *ev, void *arg)
{
	struct evwait *w = arg;

	if (w->n < 8)
		w->ev[w->n++] = *ev;
	return 0;
}

/* waits up to ms for an event of that type */
static const struct xfrm_event *ev_wait(struct xfrm_events *ev, struct evwait *w,
					enum xfrmb_event_type type, int ms)
{
	struct pollfd pfd = { .fd = xfrm_events_fd(ev), .events = POLLIN };
	int i, waited = 0;

	for (;;) {
		for (i = 0; i < w->n; i++)
			if (w->ev[i].type == type)
				return &w->ev[i];
		if (waited >= ms)
			return NULL;
		if (poll(&pfd, 1, 100) == 1) {
			int r = xfrm_events_read(ev, ev_keep, w);

			assert_true(r >= 0 || r == -EAGAIN);
		}
		waited += 100;
	}
}

/* A marked packet meeting an out policy with no SA makes the kernel ask for one: the acquire
 * names the policy (index), the template's reqid, the flow and the mark. */
static void t_acquire(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_events *ev;
	struct evwait w = { .n = 0 };
	const struct xfrm_event *e;
	struct xfrm_pol p;
	struct counts c;
	__u32 mark = EG_MARK_OUT(5);
	int fd;

	NEED_ROOT();
	assert_int_equal(peer_up(), 0);
	ev = xfrm_events_open(0);
	assert_non_null(ev);
	pol_make(&p, "10.99.0.1", 32, "10.99.0.2", 32, XFRM_POLICY_OUT);
	p.sel.proto = IPPROTO_UDP;
	p.sel.dport = htons(7000);
	p.sel.dport_mask = 0xffff;
	p.mark = mark;
	p.mark_mask = ~0u;
	tmpl_make(&p, "10.99.0.1", "10.99.0.2", EG_REQID(5));
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	c = count_all(b);
	assert_int_equal(c.pol, 1);

	fd = udp_sock(false, "10.99.0.1", 7001);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)), 0);
	udp_send(fd, "10.99.0.2", 7000); /* dropped or queued while the SA is larval */
	e = ev_wait(ev, &w, XFRMB_EV_ACQUIRE, 3000);
	assert_non_null(e);
	assert_int_equal(e->acquire.reqid, EG_REQID(5));
	assert_int_equal(e->acquire.policy_index, c.last_pol.index);
	assert_int_equal(e->acquire.policy_dir, XFRM_POLICY_OUT);
	assert_int_equal(e->acquire.family, AF_INET);
	assert_int_equal(e->acquire.proto, IPPROTO_ESP);
	assert_int_equal(e->acquire.daddr.a4, htonl(0x0a630002));
	assert_int_equal(e->acquire.saddr.a4, htonl(0x0a630001));
	assert_int_equal(e->acquire.sel.daddr.a4, htonl(0x0a630002));
	assert_int_equal(e->acquire.sel.proto, IPPROTO_UDP);
	assert_int_equal(ntohs(e->acquire.sel.dport), 7000);
	assert_int_equal(ntohs(e->acquire.sel.sport), 7001);
	assert_int_equal(e->acquire.mark, mark);
	close(fd);
	xfrm_events_close(ev);
	peer_down();
}

/* Soft then hard expire of an SA with 1 s / 2 s lifetimes. */
static void t_expire(void **state)
{
	struct xfrm_backend *b = *state;
	struct xfrm_events *ev;
	struct evwait w = { .n = 0 };
	const struct xfrm_event *e;
	struct xfrm_sa sa;
	int i, soft = -1, hard = -1;

	NEED_ESP();
	ev = xfrm_events_open(XFRMB_GRP_SA);
	assert_non_null(ev);
	sa_make(&sa, "192.0.2.1", "192.0.2.2", 0x4001, EG_REQID(6));
	sa.mark = EG_MARK_OUT(6);
	sa.mark_mask = ~0u;
	sa.soft.add_seconds = 1;
	sa.hard.add_seconds = 2;
	assert_int_equal(xfrm_sa_add(b, &sa), 0);
	xfrm_sa_clear(&sa);
	e = ev_wait(ev, &w, XFRMB_EV_OTHER, 2000); /* the NEWSA notification (XFRMNLGRP_SA) */
	assert_non_null(e);
	assert_int_equal(e->msg_type, XFRM_MSG_NEWSA);
	for (i = 0; i < 60 && hard < 0; i++) {
		int k;

		ev_wait(ev, &w, XFRMB_EV_ACQUIRE, 100); /* just pumps events for 0.1 s */
		for (k = 0; k < w.n; k++) {
			if (w.ev[k].type != XFRMB_EV_EXPIRE)
				continue;
			if (w.ev[k].expire.hard && hard < 0)
				hard = k;
			if (!w.ev[k].expire.hard && soft < 0)
				soft = k;
		}
	}
	assert_true(soft >= 0);
	assert_true(hard > soft);
	e = &w.ev[hard];
	assert_int_equal(ntohl(e->expire.spi), 0x4001);
	assert_int_equal(e->expire.reqid, EG_REQID(6));
	assert_int_equal(e->expire.mark, EG_MARK_OUT(6));
	assert_int_equal(e->expire.daddr.a4, htonl(0xc0000202));
	assert_int_equal(w.ev[soft].expire.spi, e->expire.spi);
	assert_int_equal(count_all(b).sa, 0); /* the hard expire removed it */
	xfrm_events_close(ev);
}

/*
 * ESP for real: a tunnel between our namespace (10.1.0.1 behind 10.99.0.1) and the peer (10.2.0.1
 * behind 10.99.0.2), all installed through this backend. Ours is espgate-style: the out policy and
 * SA match mark EG_MARK_OUT(1) (ping -m sets it), the inbound SA sets EG_MARK_IN(1) on what it
 * decrypts, and the only in policy matches that mark: the ping succeeds only if the decrypted
 * replies carry the set-mark. Then the inbound SA is replaced by one without set-mark, and the
 * replies are dropped for want of a policy (XfrmInNoPols rises).
 */
static void t_esp_traffic_set_mark(void **state)
{
	struct xfrm_backend *b = *state, *pb;
	struct xfrm_sa out, in, pout, pin;
	struct xfrm_pol p;
	struct xfrm_sa_id id;
	struct xfrm_sa_stats st;
	uint64_t nopols0 = 0, nopols1 = 0;
	char *s;

	NEED_ESP();
	assert_int_equal(peer_up(), 0);
	assert_int_equal(
		sh("ip link add egxd type dummy && ip addr add 10.1.0.1/24 dev egxd && "
		   "ip link set egxd up && ip route add 10.2.0.0/24 via 10.99.0.2 && "
		   "ip -n %s link add egxd type dummy && ip -n %s addr add 10.2.0.1/24 dev "
		   "egxd && ip -n %s link set egxd up && "
		   "ip -n %s route add 10.1.0.0/24 via 10.99.0.1",
		   peer, peer, peer, peer),
		0);
	assert_int_equal(setns(peer_ns, CLONE_NEWNET), 0);
	pb = xfrm_backend_new(XFRMB_KERNEL);
	assert_int_equal(setns(self_ns, CLONE_NEWNET), 0);
	assert_non_null(pb);

	/* ours */
	sa_make(&out, "10.99.0.1", "10.99.0.2", 0x5001, EG_REQID(1));
	out.mark = EG_MARK_OUT(1);
	out.mark_mask = ~0u;
	sa_make(&in, "10.99.0.2", "10.99.0.1", 0x5002, EG_REQID(1));
	in.set_mark = EG_MARK_IN(1);
	in.set_mark_mask = ~0u;
	assert_int_equal(xfrm_sa_add(b, &out), 0);
	assert_int_equal(xfrm_sa_add(b, &in), 0);
	pol_make(&p, "10.1.0.0", 24, "10.2.0.0", 24, XFRM_POLICY_OUT);
	p.mark = EG_MARK_OUT(1);
	p.mark_mask = ~0u;
	tmpl_make(&p, "10.99.0.1", "10.99.0.2", EG_REQID(1));
	assert_int_equal(xfrm_pol_add(b, &p), 0);
	pol_make(&p, "10.2.0.0", 24, "10.1.0.0", 24, XFRM_POLICY_IN);
	p.mark = EG_MARK_IN(1);
	p.mark_mask = ~0u;
	tmpl_make(&p, "10.99.0.2", "10.99.0.1", EG_REQID(1));
	assert_int_equal(xfrm_pol_add(b, &p), 0);

	/* the peer: plain, unmarked */
	sa_make(&pout, "10.99.0.2", "10.99.0.1", 0x5002, 1);
	sa_make(&pin, "10.99.0.1", "10.99.0.2", 0x5001, 1);
	assert_int_equal(xfrm_sa_add(pb, &pout), 0);
	assert_int_equal(xfrm_sa_add(pb, &pin), 0);
	pol_make(&p, "10.2.0.0", 24, "10.1.0.0", 24, XFRM_POLICY_OUT);
	tmpl_make(&p, "10.99.0.2", "10.99.0.1", 1);
	assert_int_equal(xfrm_pol_add(pb, &p), 0);
	pol_make(&p, "10.1.0.0", 24, "10.2.0.0", 24, XFRM_POLICY_IN);
	tmpl_make(&p, "10.99.0.1", "10.99.0.2", 1);
	assert_int_equal(xfrm_pol_add(pb, &p), 0);

	assert_int_equal(
		sh("ping -q -n -c 3 -i 0.2 -W 2 -m %u -I 10.1.0.1 10.2.0.1", EG_MARK_OUT(1)), 0);
	xfrm_sa_id_of(&out, &id);
	assert_int_equal(xfrm_sa_get_stats(b, &id, &st), 0);
	printf("# out SA: %llu packets %llu bytes, oseq %llu\n", (unsigned long long)st.packets,
	       (unsigned long long)st.bytes, (unsigned long long)st.oseq);
	assert_true(st.packets >= 3);
	assert_true(st.oseq >= 3);
	xfrm_sa_id_of(&in, &id);
	assert_int_equal(xfrm_sa_get_stats(b, &id, &st), 0);
	assert_true(st.packets >= 3);
	assert_int_equal(st.integrity_failed, 0);
	s = sh_out("ip -s xfrm state");
	printf("# %s", s);
	free(s);

	/* without the set-mark, the replies match no in policy */
	assert_int_equal(xfrm_stat_read(NULL, stat_get_nopols, &nopols0), 0);
	assert_int_equal(xfrm_sa_del(b, &id), 0);
	in.set_mark = in.set_mark_mask = 0;
	assert_int_equal(xfrm_sa_add(b, &in), 0);
	assert_int_not_equal(
		sh("ping -q -n -c 2 -i 0.2 -W 1 -m %u -I 10.1.0.1 10.2.0.1", EG_MARK_OUT(1)), 0);
	assert_int_equal(xfrm_stat_read(NULL, stat_get_nopols, &nopols1), 0);
	assert_true(nopols1 >= nopols0 + 2);

	xfrm_sa_clear(&out);
	xfrm_sa_clear(&in);
	xfrm_sa_clear(&pout);
	xfrm_sa_clear(&pin);
	xfrm_backend_free(pb);
	sh("ip link del egxd");
	peer_down();
}

static void t_stat(void **state)
{
	uint64_t v[2] = { 1, 1 };

	(void)state;
	NEED_ROOT();
	/* a fresh namespace has counted nothing */
	assert_int_equal(xfrm_stat_read(NULL, stat_get, v), 0);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0);
}

/*
 * cmocka 1.1.5 prints a skipped test as "not ok N # SKIP" in TAP, which tests/run.sh counts as a
 * failure. So the cases that cannot run here are left out of the cmocka group and reported after
 * it as "ok N - name # SKIP reason"; skip() inside a case remains only as a guard.
 */
enum need {
	ROOT,
	ESP,
	NO_ESP
};

struct live_case {
	struct CMUnitTest t;
	enum need need;
};

#define LIVE(fn, n)                                                                                \
	{                                                                                          \
		cmocka_unit_test_setup_teardown(fn, setup_backend, teardown_backend), n            \
	}

int main(void)
{
	static const struct live_case cases[] = {
		LIVE(t_stat, ROOT),
		LIVE(t_probe_esp, ROOT),
		LIVE(t_pol_roundtrip, ROOT),
		LIVE(t_pol_dump_large, ROOT),
		LIVE(t_sa_without_esp, NO_ESP),
		LIVE(t_sa_roundtrip, ESP),
		LIVE(t_sa_variants, ESP),
		LIVE(t_flush_ours, ROOT),
		LIVE(t_socket_bypass, ROOT),
		LIVE(t_acquire, ROOT),
		LIVE(t_expire, ESP),
		LIVE(t_esp_traffic_set_mark, ESP),
	};
	struct CMUnitTest run[sizeof(cases) / sizeof(cases[0])];
	const char *why[sizeof(cases) / sizeof(cases[0])];
	const char *skipped[sizeof(cases) / sizeof(cases[0])];
	size_t i, n_run = 0, n_skip = 0;
	int ret;

	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) {
		struct ifreq ifr = { .ifr_flags = IFF_UP };
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		is_root = true;
		strcpy(ifr.ifr_name, "lo");
		if (fd < 0 || ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			perror("test_xfrm_live: lo up");
		if (fd >= 0)
			close(fd);
		self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		esp4 = xfrm_probe_esp(AF_INET, esp4_msg, sizeof(esp4_msg)) == 0;
		printf("# %s\n", esp4_msg);
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *w = NULL;

		if (!is_root)
			w = "needs root (and a network namespace of its own)";
		else if (cases[i].need == ESP && !esp4)
			w = esp4_msg;
		else if (cases[i].need == NO_ESP && esp4)
			w = "this kernel has ESP: the SA cases run instead";
		if (w) {
			skipped[n_skip] = cases[i].t.name;
			why[n_skip++] = w;
		} else {
			run[n_run++] = cases[i].t;
		}
	}
	if (n_run)
		ret = _cmocka_run_group_tests("xfrm_live", run, n_run, NULL, NULL);
	else
		ret = printf("1..%zu\n", n_skip) < 0;
	for (i = 0; i < n_skip; i++) {
		printf("ok %zu - %s # SKIP %s\n", n_run + i + 1, skipped[i], why[i]);
		fprintf(stderr, "SKIPPED: %s: %s\n", skipped[i], why[i]);
	}
	if (peer_ns >= 0)
		peer_down();
	return ret;
}
