// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ike/ike_prop.c: proposal-string parsing (every keyword family the seeds use,
 * every error, weak algorithms, defaults and '!'), formatting and parse/format round trips, the
 * responder's selection matrix (match, no match, whose order wins, missing types, key lengths,
 * ESN, AEAD vs classic, SPI sizes, unknown transform types, the KE hint), the initiator's check of
 * the responder's answer, and the KE / INVALID_KE_PAYLOAD helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ike_prop.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static struct ike_prop_list l_ours, l_theirs, l_tmp;

/* Parses a strict list (weak allowed), as a peer would send it: ESP SPIs 4 bytes. */
static void mk(struct ike_prop_list *l, const char *s, uint8_t proto)
{
	char err[IKE_PROP_ERR_LEN];
	unsigned int i;
	int ret = ike_prop_parse(s, proto, IKE_PROP_ALLOW_WEAK, l, NULL, err, sizeof(err));

	if (ret)
		fail_msg("parse '%s': %d %s", s, ret, err);
	for (i = 0; i < l->n; i++) {
		if (proto == IKE_PROTO_ESP) {
			l->prop[i].spi_len = 4;
			l->prop[i].spi[0] = 0xc0;
			l->prop[i].spi[3] = (uint8_t)(i + 1);
		}
	}
}

static void add_t(struct ike_proposal *p, uint8_t type, uint16_t id, uint16_t keylen)
{
	assert_true(p->n_trans < IKE_MAX_TRANSFORMS);
	p->trans[p->n_trans].type = type;
	p->trans[p->n_trans].id = id;
	p->trans[p->n_trans].keylen = keylen;
	p->n_trans++;
}

static void del_type(struct ike_proposal *p, uint8_t type)
{
	unsigned int i, k;

	for (i = 0, k = 0; i < p->n_trans; i++)
		if (p->trans[i].type != type)
			p->trans[k++] = p->trans[i];
	p->n_trans = (uint8_t)k;
}

static void assert_trans(const struct ike_proposal *p, uint8_t type, uint16_t id, uint16_t keylen)
{
	const struct ike_transform *t = ike_prop_find(p, type);

	assert_non_null(t);
	assert_int_equal(t->id, id);
	assert_int_equal(t->keylen, keylen);
}

static unsigned int count_type(const struct ike_proposal *p, uint8_t type)
{
	unsigned int i, n = 0;

	for (i = 0; i < p->n_trans; i++)
		n += p->trans[i].type == type;
	return n;
}

static void parse_fails(const char *s, uint8_t proto, unsigned int flags, int want,
			const char *needle1, const char *needle2)
{
	char err[IKE_PROP_ERR_LEN];
	int ret = ike_prop_parse(s, proto, flags, &l_tmp, NULL, err, sizeof(err));

	if (ret != want)
		fail_msg("'%s': want %d got %d (%s)", s, want, ret, err);
	if (needle1 && !strstr(err, needle1))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, needle1);
	if (needle2 && !strstr(err, needle2))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, needle2);
	assert_int_equal(l_tmp.n, 0);
}

static bool same_prop(const struct ike_proposal *a, const struct ike_proposal *b)
{
	unsigned int i;

	if (a->proto != b->proto || a->n_trans != b->n_trans)
		return false;
	for (i = 0; i < a->n_trans; i++)
		if (a->trans[i].type != b->trans[i].type || a->trans[i].id != b->trans[i].id ||
		    a->trans[i].keylen != b->trans[i].keylen)
			return false;
	return true;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static void test_parse_ike_classic(void **state)
{
	unsigned int info = 0;

	(void)state;
	assert_int_equal(
		ike_prop_parse("aes256-sha256-ecp384!", IKE_PROTO_IKE, 0, &l_ours, &info, NULL, 0),
		0);
	assert_int_equal(l_ours.n, 1);
	assert_int_equal(l_ours.prop[0].num, 1);
	assert_int_equal(l_ours.prop[0].proto, IKE_PROTO_IKE);
	assert_int_equal(l_ours.prop[0].spi_len, 0);
	assert_int_equal(l_ours.prop[0].n_trans, 4);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 256);
	assert_trans(&l_ours.prop[0], IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0);
	/* the PRF is implied from the integrity algorithm, as strongSwan does */
	assert_trans(&l_ours.prop[0], IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_256, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_ECP384, 0);
	assert_int_equal(info, IKE_PROP_INFO_STRICT);
}

static void test_parse_ike_aead(void **state)
{
	(void)state;
	mk(&l_ours, "aes256gcm16-prfsha384-ecp384", IKE_PROTO_IKE);
	assert_int_equal(l_ours.prop[0].n_trans, 3);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 256);
	assert_trans(&l_ours.prop[0], IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_384, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_ECP384, 0);
	assert_null(ike_prop_find(&l_ours.prop[0], IKE_TRANS_INTEG));
	mk(&l_tmp, "aes128gcm-prfsha256-ecp256!", IKE_PROTO_IKE); /* strongSwan alias */
	assert_trans(&l_tmp.prop[0], IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128);
}

static void test_parse_group24(void **state)
{
	(void)state;
	mk(&l_ours, "aes256-sha256-modp2048s256!", IKE_PROTO_IKE);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_MODP2048_256, 0);
	/* "modp2048-256" splits at the dash: refused, with the right spelling in the message */
	parse_fails("aes256-sha256-modp2048-256!", IKE_PROTO_IKE, 0, -EINVAL, "'256' at column 24",
		    "modp2048s256");
}

static void test_parse_curve25519(void **state)
{
	(void)state;
	mk(&l_ours, "aes128gcm16-prfsha256-x25519!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes128gcm16-prfsha256-curve25519!", IKE_PROTO_IKE);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_CURVE25519, 0);
	assert_true(same_prop(&l_ours.prop[0], &l_theirs.prop[0]));
}

static void test_parse_weak(void **state)
{
	unsigned int info = 0;

	(void)state;
	parse_fails("aes256-sha1-modp1024!", IKE_PROTO_IKE, 0, -EINVAL, "'modp1024' at column 13",
		    "weak");
	parse_fails("null-md5!", IKE_PROTO_ESP, 0, -EINVAL, "'md5' at column 6", "weak");
	parse_fails("aes256-sha256-prfmd5-ecp384!", IKE_PROTO_IKE, 0, -EINVAL, "'prfmd5'", NULL);
	assert_int_equal(ike_prop_parse("aes256-sha1-modp1024!", IKE_PROTO_IKE, IKE_PROP_ALLOW_WEAK,
					&l_ours, &info, NULL, 0),
			 0);
	assert_true(info & IKE_PROP_INFO_WEAK);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_MODP1024, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_PRF, IKE_PRF_HMAC_SHA1, 0);
	/* SHA-1 is not weak (RFC 8247 MUST-): accepted without the switch, no warning */
	assert_int_equal(
		ike_prop_parse("aes256-sha1-modp2048!", IKE_PROTO_IKE, 0, &l_ours, &info, NULL, 0),
		0);
	assert_false(info & IKE_PROP_INFO_WEAK);
}

static void test_parse_esp_null_md5(void **state)
{
	unsigned int info = 0;

	(void)state;
	/* seed 002: the Zscaler tunnel's esp=null-md5, behind the weak switch */
	assert_int_equal(ike_prop_parse("null-md5!", IKE_PROTO_ESP, IKE_PROP_ALLOW_WEAK, &l_ours,
					&info, NULL, 0),
			 0);
	assert_true(info & IKE_PROP_INFO_WEAK);
	assert_int_equal(l_ours.prop[0].proto, IKE_PROTO_ESP);
	assert_int_equal(l_ours.prop[0].n_trans, 3);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ENCR, IKE_ENCR_NULL, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_INTEG, IKE_INTEG_HMAC_MD5_96, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ESN, IKE_ESN_NO, 0);
}

static void test_parse_esp_no_pfs(void **state)
{
	(void)state;
	mk(&l_ours, "aes128-sha1!", IKE_PROTO_ESP);
	assert_int_equal(l_ours.prop[0].n_trans, 3);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 128);
	assert_trans(&l_ours.prop[0], IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA1_96, 0);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ESN, IKE_ESN_NO, 0); /* default noesn */
	assert_null(ike_prop_find(&l_ours.prop[0], IKE_TRANS_DH));
	assert_null(ike_prop_find(&l_ours.prop[0], IKE_TRANS_PRF));
}

static void test_parse_esp_pfs(void **state)
{
	(void)state;
	/* seed 000: esp aes256-sha256 with PFS ecp384 */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_ESP);
	assert_int_equal(l_ours.prop[0].n_trans, 4);
	assert_trans(&l_ours.prop[0], IKE_TRANS_DH, IKE_DH_ECP384, 0);
	assert_null(ike_prop_find(&l_ours.prop[0], IKE_TRANS_PRF));
	mk(&l_ours, "aes256gcm16-ecp384!", IKE_PROTO_ESP); /* AEAD in ESP needs no PRF */
	assert_int_equal(l_ours.prop[0].n_trans, 3);
}

static void test_parse_esn(void **state)
{
	(void)state;
	mk(&l_ours, "aes128gcm16-esn!", IKE_PROTO_ESP);
	assert_int_equal(count_type(&l_ours.prop[0], IKE_TRANS_ESN), 1);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ESN, IKE_ESN_YES, 0);
	mk(&l_ours, "aes128gcm16-esn-noesn!", IKE_PROTO_ESP);
	assert_int_equal(count_type(&l_ours.prop[0], IKE_TRANS_ESN), 2);
	assert_trans(&l_ours.prop[0], IKE_TRANS_ESN, IKE_ESN_YES, 0); /* first = preferred */
}

static void test_parse_several_algorithms(void **state)
{
	const struct ike_proposal *p;

	(void)state;
	mk(&l_ours, "aes256-aes128-sha256-sha1-ecp384-modp3072!", IKE_PROTO_IKE);
	p = &l_ours.prop[0];
	assert_int_equal(p->n_trans, 8);
	/* sorted by type, preference kept within a type; one implied PRF per INTEG */
	assert_int_equal(p->trans[0].type, IKE_TRANS_ENCR);
	assert_int_equal(p->trans[0].keylen, 256);
	assert_int_equal(p->trans[1].keylen, 128);
	assert_int_equal(p->trans[2].type, IKE_TRANS_PRF);
	assert_int_equal(p->trans[2].id, IKE_PRF_HMAC_SHA2_256);
	assert_int_equal(p->trans[3].id, IKE_PRF_HMAC_SHA1);
	assert_int_equal(p->trans[4].id, IKE_INTEG_HMAC_SHA2_256_128);
	assert_int_equal(p->trans[5].id, IKE_INTEG_HMAC_SHA1_96);
	assert_int_equal(p->trans[6].id, IKE_DH_ECP384);
	assert_int_equal(p->trans[7].id, IKE_DH_MODP3072);
	/* a repeated keyword adds nothing; case does not matter */
	mk(&l_tmp, "AES256-aes256-SHA256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(l_tmp.prop[0].n_trans, 4);
}

static void test_parse_several_proposals(void **state)
{
	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384, aes128gcm16-prfsha256-x25519 !", IKE_PROTO_IKE);
	assert_int_equal(l_ours.n, 2);
	assert_int_equal(l_ours.prop[0].num, 1);
	assert_int_equal(l_ours.prop[1].num, 2);
	assert_trans(&l_ours.prop[1], IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128);
	assert_trans(&l_ours.prop[1], IKE_TRANS_DH, IKE_DH_CURVE25519, 0);
}

static void test_parse_defaults(void **state)
{
	unsigned int info = 0, n;
	char buf[1024];

	(void)state;
	/* what is written is exactly what is offered: no defaults behind it, '!' or not */
	info = 0;
	assert_int_equal(
		ike_prop_parse("aes256-sha256-ecp384", IKE_PROTO_IKE, 0, &l_ours, &info, NULL, 0),
		0);
	assert_int_equal(l_ours.n, 1);
	assert_false(info & IKE_PROP_INFO_DEFAULTS);
	assert_int_equal(ike_prop_format(&l_ours.prop[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aes256-sha256-ecp384");
	/* ESP with PFS stays PFS-only: a peer without PFS is not let in by our defaults */
	assert_int_equal(
		ike_prop_parse("aes256-sha256-ecp384", IKE_PROTO_ESP, 0, &l_tmp, &info, NULL, 0),
		0);
	assert_int_equal(l_tmp.n, 1);
	assert_non_null(ike_prop_find(&l_tmp.prop[0], IKE_TRANS_DH));
	/* the 'default' keyword adds them */
	info = 0;
	assert_int_equal(ike_prop_parse("aes256-sha256-ecp384,default", IKE_PROTO_IKE, 0, &l_ours,
					&info, NULL, 0),
			 0);
	assert_true(l_ours.n > 1);
	assert_true(info & IKE_PROP_INFO_DEFAULTS);
	assert_false(info & IKE_PROP_INFO_STRICT);
	n = l_ours.n;
	/* 'default' stands for the defaults exactly once, wherever it is */
	assert_int_equal(ike_prop_parse("aes256-sha256-ecp384,default!", IKE_PROTO_IKE, 0, &l_tmp,
					&info, NULL, 0),
			 0);
	assert_int_equal(l_tmp.n, n);
	assert_true(info & IKE_PROP_INFO_STRICT);
	assert_int_equal(ike_prop_parse("default", IKE_PROTO_ESP, 0, &l_tmp, &info, NULL, 0), 0);
	assert_true(l_tmp.n >= 2);
	/* a default proposal identical to a configured one is not listed twice */
	assert_int_equal(ike_prop_parse("aes128gcm16-aes256gcm16,default", IKE_PROTO_ESP, 0, &l_tmp,
					&info, NULL, 0),
			 0);
	assert_int_equal(l_tmp.n, 2);
	/* the defaults are never weak */
	assert_false(info & IKE_PROP_INFO_WEAK);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_fails("aes257-sha256-ecp384!", IKE_PROTO_IKE, 0, -EINVAL, "'aes257' at column 1",
		    "proposal 1");
	parse_fails("aes256-sha256-ecp384,aes256-sha256-ecp999!", IKE_PROTO_IKE, 0, -EINVAL,
		    "'ecp999' at column 36", "proposal 2");
	parse_fails("aes256--sha256-ecp384", IKE_PROTO_IKE, 0, -EINVAL, "empty algorithm",
		    "column 8");
	parse_fails("aes256-sha256-", IKE_PROTO_ESP, 0, -EINVAL, "empty algorithm", "column 15");
	parse_fails("aes256-sha256,,aes128-sha1", IKE_PROTO_ESP, 0, -EINVAL, "empty proposal 2",
		    "column 15");
	parse_fails("", IKE_PROTO_IKE, 0, -EINVAL, "empty proposal string", NULL);
	parse_fails("!", IKE_PROTO_IKE, 0, -EINVAL, "empty proposal string", NULL);
	parse_fails("aes256-sha256-ecp384!,aes128-sha1-ecp256", IKE_PROTO_IKE, 0, -EINVAL,
		    "'!' at column 21", NULL);
	parse_fails("aes256-sha2_256;dh14", IKE_PROTO_IKE, 0, -EINVAL, "';' at column 16", NULL);
	parse_fails("aes256gcm16-sha256!", IKE_PROTO_ESP, 0, -EINVAL, "'sha256' at column 13",
		    "AEAD");
	parse_fails("aes256gcm16-aes256-sha256!", IKE_PROTO_ESP, 0, -EINVAL,
		    "'aes256' at column 13", "AEAD and non-AEAD");
	parse_fails("aes256gcm16-ecp384!", IKE_PROTO_IKE, 0, -EINVAL, "needs a PRF", NULL);
	parse_fails("aes128-sha256!", IKE_PROTO_IKE, 0, -EINVAL, "no DH group", NULL);
	parse_fails("sha256-ecp384!", IKE_PROTO_IKE, 0, -EINVAL, "no encryption", NULL);
	parse_fails("aes128!", IKE_PROTO_ESP, 0, -EINVAL, "no integrity", NULL);
	parse_fails("null!", IKE_PROTO_ESP, 0, -EINVAL, "no integrity", NULL);
	parse_fails("aes128-sha256-prfsha256!", IKE_PROTO_ESP, 0, -EINVAL, "'prfsha256'",
		    "not allowed in ESP");
	parse_fails("aes128-sha256-ecp256-esn!", IKE_PROTO_IKE, 0, -EINVAL, "'esn'",
		    "not allowed in IKE");
	parse_fails("null-sha256-ecp256!", IKE_PROTO_IKE, 0, -EINVAL, "'null'",
		    "not allowed in IKE");
	parse_fails("aes128-sha256-none!", IKE_PROTO_IKE, 0, -EINVAL, "'none'",
		    "not allowed in IKE");
	parse_fails("3des-sha1-modp2048!", IKE_PROTO_IKE, IKE_PROP_ALLOW_WEAK, -EINVAL, "'3des'",
		    "unsupported");
	parse_fails("aes128-sha1!", IKE_PROTO_AH, 0, -EINVAL, NULL, NULL);
	assert_int_equal(ike_prop_parse(NULL, IKE_PROTO_IKE, 0, &l_tmp, NULL, NULL, 0), -EINVAL);
	/* error buffers may be absent or tiny */
	assert_int_equal(ike_prop_parse("bogus", IKE_PROTO_IKE, 0, &l_tmp, NULL, NULL, 0), -EINVAL);
}

static void test_parse_too_many(void **state)
{
	static const char *const encr[] = { "aes128", "aes192", "aes256" };
	static const char *const dh[] = { "modp2048", "modp3072", "modp4096", "ecp256",
					  "ecp384",   "ecp521",	  "x25519",   "modp2048s256" };
	static const char *const integ[] = { "sha1", "sha256", "sha384", "sha512" };
	char s[4096];
	size_t off = 0;
	unsigned int i, j, k, n = 0;

	(void)state;
	/* 3 x 8 x 4 = 96 distinct proposals > IKE_MAX_PROPOSALS */
	for (i = 0; i < 3; i++)
		for (j = 0; j < 8; j++)
			for (k = 0; k < 4; k++, n++)
				off += (size_t)snprintf(s + off, sizeof(s) - off, "%s%s-%s-%s",
							n ? "," : "", encr[i], integ[k], dh[j]);
	snprintf(s + off, sizeof(s) - off, "!");
	parse_fails(s, IKE_PROTO_IKE, 0, -E2BIG, "too many proposals", NULL);
}

/* ---- formatting ------------------------------------------------------------------------------- */

static void test_format_round_trip(void **state)
{
	static const struct {
		uint8_t proto;
		const char *in, *out;
	} cases[] = {
		{ IKE_PROTO_IKE, "aes256-sha256-ecp384!", "aes256-sha256-ecp384" },
		{ IKE_PROTO_IKE, "aes256-sha256-prfsha256-ecp384!", "aes256-sha256-ecp384" },
		{ IKE_PROTO_IKE, "aes256-sha256-prfsha384-ecp384!",
		  "aes256-sha256-prfsha384-ecp384" },
		{ IKE_PROTO_IKE, "aes256gcm16-prfsha384-ecp384!", "aes256gcm16-prfsha384-ecp384" },
		{ IKE_PROTO_IKE, "aes-sha-x25519!", "aes128-sha1-curve25519" },
		{ IKE_PROTO_IKE, "aes256-sha2_256-modp2048s256!", "aes256-sha256-modp2048s256" },
		{ IKE_PROTO_IKE, "aes256-aes128-sha256-sha1-ecp384-modp3072!",
		  "aes256-aes128-sha256-sha1-ecp384-modp3072" },
		{ IKE_PROTO_IKE, "aes256-sha256-ecp384,aes128gcm16-prfsha256-ecp256!",
		  "aes256-sha256-ecp384,aes128gcm16-prfsha256-ecp256" },
		{ IKE_PROTO_ESP, "aes128-sha1!", "aes128-sha1" },
		{ IKE_PROTO_ESP, "aes256-sha256-ecp384!", "aes256-sha256-ecp384" },
		{ IKE_PROTO_ESP, "aes256gcm16-esn!", "aes256gcm16-esn" },
		{ IKE_PROTO_ESP, "aes256gcm16-noesn-esn!", "aes256gcm16-noesn-esn" },
		{ IKE_PROTO_ESP, "aes128-sha256-ecp256-modpnone!", "aes128-sha256-ecp256-none" },
		{ IKE_PROTO_ESP, "null-md5!", "null-md5" },
	};
	char buf[512];
	unsigned int i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mk(&l_ours, cases[i].in, cases[i].proto);
		assert_int_equal(ike_prop_list_format(&l_ours, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i].out))
			fail_msg("format(parse('%s')) = '%s', want '%s'", cases[i].in, buf,
				 cases[i].out);
		strncat(buf, "!", sizeof(buf) - strlen(buf) - 1);
		mk(&l_tmp, buf, cases[i].proto);
		assert_int_equal(l_tmp.n, l_ours.n);
		for (j = 0; j < l_ours.n; j++)
			assert_true(same_prop(&l_tmp.prop[j], &l_ours.prop[j]));
	}
}

static void test_format_peer_oddities(void **state)
{
	struct ike_proposal p = { .num = 1, .proto = IKE_PROTO_IKE };
	char buf[256];

	(void)state;
	/* a MikroTik/Cisco style offer with algorithms we do not accept still prints readably */
	add_t(&p, IKE_TRANS_ENCR, IKE_ENCR_3DES, 0);
	add_t(&p, IKE_TRANS_ENCR, IKE_ENCR_AES_CTR, 128);
	add_t(&p, IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_8, 256);
	add_t(&p, IKE_TRANS_ENCR, 99, 0);
	add_t(&p, IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 100);
	add_t(&p, IKE_TRANS_INTEG, 77, 0);
	add_t(&p, IKE_TRANS_DH, IKE_DH_MODP1536, 0);
	add_t(&p, IKE_TRANS_DH, 1, 0);
	add_t(&p, 6, 36, 0);
	assert_int_equal(ike_prop_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3des-aes128ctr-aes256gcm8-encr99-aes100-integ77-modp1536-dh1-"
				 "type6_36");
	/* truncation is reported and the output stays terminated */
	assert_int_equal(ike_prop_format(&p, buf, 10), -ENOSPC);
	assert_true(strlen(buf) < 10);
	assert_int_equal(ike_prop_format(&p, buf, 0), -ENOSPC);
}

static void test_mismatch_msg(void **state)
{
	char buf[256];

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha1-modp1024,aes128-sha1-modp2048!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_mismatch_msg(&l_ours, &l_theirs, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "no proposal chosen: ours aes256-sha256-ecp384, theirs "
				 "aes256-sha1-modp1024,aes128-sha1-modp2048");
	memset(&l_theirs, 0, sizeof(l_theirs));
	assert_int_equal(ike_prop_mismatch_msg(&l_ours, &l_theirs, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "no proposal chosen: ours aes256-sha256-ecp384, theirs (none)");
	assert_int_equal(ike_prop_mismatch_msg(&l_ours, &l_theirs, buf, 20), -ENOSPC);
	assert_int_equal(strlen(buf), 19);
}

/* ---- selection (responder) -------------------------------------------------------------------- */

static void test_select_match(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.num, 1);
	assert_int_equal(ch.proto, IKE_PROTO_IKE);
	assert_int_equal(ch.n_trans, 4);
	assert_int_equal(ch.trans[0].type, IKE_TRANS_ENCR);
	assert_int_equal(ch.trans[1].type, IKE_TRANS_PRF);
	assert_int_equal(ch.trans[2].type, IKE_TRANS_INTEG);
	assert_int_equal(ch.trans[3].type, IKE_TRANS_DH);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP384, 0);
}

static void test_select_no_match(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes128-sha1-modp2048,aes256-sha384-ecp384!", IKE_PROTO_IKE);
	memset(&ch, 0xa5, sizeof(ch));
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	assert_int_equal(ch.n_trans, 0);
	/* one type off is enough: same cipher and integrity, other group */
	mk(&l_theirs, "aes256-sha256-ecp256!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* empty offer */
	memset(&l_theirs, 0, sizeof(l_theirs));
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
}

static void test_select_our_order_wins(void **state)
{
	struct ike_proposal ch;

	(void)state;
	/* across proposals: our first proposal wins although the peer listed it second */
	mk(&l_ours, "aes128gcm16-prfsha256-ecp256,aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-ecp384,aes128gcm16-prfsha256-ecp256!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.num, 2);
	assert_trans(&ch, IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128);
	/* within a proposal: our preferred algorithm of each type */
	mk(&l_ours, "aes256-aes128-sha384-sha256-ecp384-ecp256!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes128-aes256-sha256-sha384-ecp256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 256);
	assert_trans(&ch, IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_384_192, 0);
	assert_trans(&ch, IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_384, 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP384, 0);
}

static void test_select_peer_order_breaks_ties(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-aes128-sha256-ecp384-ecp256!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes128-sha256-ecp256,aes256-sha256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.num, 1);
	assert_trans(&ch, IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 128);
}

static void test_select_missing_type(void **state)
{
	struct ike_proposal ch;

	(void)state;
	/* IKE proposal without PRF: no default exists for PRF */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	del_type(&l_theirs.prop[0], IKE_TRANS_PRF);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* IKE proposal without DH */
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	del_type(&l_theirs.prop[0], IKE_TRANS_DH);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* ESP: we require PFS, the peer offers none */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* ESP: the peer requires PFS, we have none configured */
	assert_int_equal(ike_prop_select(&l_theirs, &l_ours, 0, &ch), -ENOENT);
	/* ESP: PFS optional on our side ('none') accepts a peer without DH; answer has no DH */
	mk(&l_ours, "aes256-sha256-ecp384-none!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_null(ike_prop_find(&ch, IKE_TRANS_DH));
	/* ... and a peer that sends DH NONE explicitly gets it back explicitly */
	add_t(&l_theirs.prop[0], IKE_TRANS_DH, IKE_DH_NONE, 0);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_NONE, 0);
	/* ESP without ENCR */
	mk(&l_ours, "aes256-sha256!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP);
	del_type(&l_theirs.prop[0], IKE_TRANS_ENCR);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
}

static void test_select_keylen(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes192-sha256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* AES without its Key Length attribute matches nothing */
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	l_theirs.prop[0].trans[0].keylen = 0;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* a key length on a transform that takes none matches nothing either */
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	l_theirs.prop[0].trans[3].keylen = 384;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* GCM 128 vs 256 */
	mk(&l_ours, "aes256gcm16!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes128gcm16!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
}

static void test_select_esn(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256gcm16!", IKE_PROTO_ESP); /* noesn by default */
	mk(&l_theirs, "aes256gcm16-esn!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	mk(&l_theirs, "aes256gcm16-esn-noesn!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_ESN, IKE_ESN_NO, 0);
	mk(&l_ours, "aes256gcm16-esn-noesn!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_ESN, IKE_ESN_YES, 0);
	assert_int_equal(count_type(&ch, IKE_TRANS_ESN), 1);
	/* a peer that leaves ESN out means no ESN; the answer leaves it out too */
	mk(&l_theirs, "aes256gcm16!", IKE_PROTO_ESP);
	del_type(&l_theirs.prop[0], IKE_TRANS_ESN);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_null(ike_prop_find(&ch, IKE_TRANS_ESN));
	mk(&l_ours, "aes256gcm16-esn!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
}

static void test_select_aead_vs_classic(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256gcm16!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	assert_int_equal(ike_prop_select(&l_theirs, &l_ours, 0, &ch), -ENOENT);
	/* AEAD offered with an explicit INTEG NONE: chosen, and NONE echoed */
	mk(&l_theirs, "aes256gcm16!", IKE_PROTO_ESP);
	add_t(&l_theirs.prop[0], IKE_TRANS_INTEG, IKE_INTEG_NONE, 0);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_INTEG, IKE_INTEG_NONE, 0);
	assert_int_equal(count_type(&ch, IKE_TRANS_INTEG), 1);
	/* a (malformed) mixed proposal: GCM must never be paired with sha256 */
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP);
	add_t(&l_theirs.prop[0], IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 256);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	mk(&l_ours, "aes256gcm16,aes256-sha256!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 256);
	assert_trans(&ch, IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0);
	/* IKE: GCM needs a PRF but no INTEG */
	mk(&l_ours, "aes256gcm16-prfsha384-ecp384,aes256-sha384-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256gcm16-prfsha384-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.n_trans, 3);
	assert_null(ike_prop_find(&ch, IKE_TRANS_INTEG));
}

static void test_select_unknown_type_skipped(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-ecp384,aes256-sha256-ecp384-modp2048!", IKE_PROTO_IKE);
	/* RFC 7296 §3.3.6: a proposal with a transform type we do not know is rejected whole */
	add_t(&l_theirs.prop[0], 6, 36, 0);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.num, 2);
	/* ESN is not a type of IKE proposals */
	add_t(&l_theirs.prop[1], IKE_TRANS_ESN, IKE_ESN_NO, 0);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* unknown algorithm ids within known types are simply not chosen */
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	add_t(&l_theirs.prop[0], IKE_TRANS_DH, 4242, 0);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP384, 0);
}

static void test_select_spi(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP);
	l_theirs.prop[0].spi[1] = 0x11;
	l_theirs.prop[0].num = 7;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_int_equal(ch.num, 7);
	assert_int_equal(ch.spi_len, 4);
	assert_memory_equal(ch.spi, l_theirs.prop[0].spi, 4);
	/* an ESP proposal without its 4-byte SPI is skipped */
	l_theirs.prop[0].spi_len = 0;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	l_theirs.prop[0].spi_len = 8;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* IKE: 0 (IKE_SA_INIT) or 8 (rekey) */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	l_theirs.prop[0].spi_len = 8;
	memset(l_theirs.prop[0].spi, 0x42, 8);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_memory_equal(ch.spi, l_theirs.prop[0].spi, 8);
	l_theirs.prop[0].spi_len = 4;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* protocol mismatch */
	mk(&l_theirs, "aes256-sha256-ecp384!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	/* lists over their bounds are refused, not read past */
	l_theirs.n = IKE_MAX_PROPOSALS + 1;
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -EINVAL);
}

static void test_select_ke_hint(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384-ecp256-modp2048!", IKE_PROTO_IKE);
	mk(&l_theirs, "aes256-sha256-modp2048-ecp256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP384, 0);
	/* the peer's KE was ecp256, which both accept: take it and save a round trip */
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, IKE_DH_ECP256, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP256, 0);
	/* a KE group only one side accepts does not override our order */
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, IKE_DH_CURVE25519, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_ECP384, 0);
}

static void test_invalid_ke_flow(void **state)
{
	struct ike_prop_list resp;
	struct ike_proposal ch;
	uint16_t ke;

	(void)state;
	/* initiator prefers ecp384, responder accepts only modp2048 */
	mk(&l_ours, "aes256-sha256-ecp384-modp2048!", IKE_PROTO_IKE);
	mk(&resp, "aes256-sha256-modp2048!", IKE_PROTO_IKE);
	ke = ike_prop_first_dh(&l_ours);
	assert_int_equal(ke, IKE_DH_ECP384);
	assert_int_equal(ike_prop_select(&resp, &l_ours, ke, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_MODP2048, 0); /* != KE: INVALID_KE_PAYLOAD(14) */
	assert_true(ike_prop_offers_dh(&l_ours, IKE_DH_MODP2048));
	assert_int_equal(ike_prop_select(&resp, &l_ours, IKE_DH_MODP2048, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_MODP2048, 0);
	/* a group we never offered must not be retried */
	assert_false(ike_prop_offers_dh(&l_ours, IKE_DH_MODP1024));
	assert_false(ike_prop_offers_dh(&l_ours, IKE_DH_NONE));
	assert_false(ike_prop_offers_dh(&l_ours, IKE_DH_CURVE25519));
}

static void test_first_dh(void **state)
{
	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384-modp2048,aes128gcm16-prfsha256-x25519!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_first_dh(&l_ours), IKE_DH_ECP384);
	assert_true(ike_prop_offers_dh(&l_ours, IKE_DH_CURVE25519));
	mk(&l_ours, "aes128-sha1!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_first_dh(&l_ours), 0);
	/* only the first proposal counts: its lack of PFS means no KE payload */
	mk(&l_ours, "aes128gcm16,aes256-sha256-ecp384!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_first_dh(&l_ours), 0);
	mk(&l_ours, "aes256-sha256-none-ecp384!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_first_dh(&l_ours), IKE_DH_ECP384);
	memset(&l_ours, 0, sizeof(l_ours));
	assert_int_equal(ike_prop_first_dh(&l_ours), 0);
}

static void test_strip_dh_ike_auth(void **state)
{
	struct ike_proposal ch;

	(void)state;
	/* seed 000: esp aes256-sha256 with PFS ecp384; IKE_AUTH carries no KE */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_ESP);
	mk(&l_theirs, "aes256-sha256!", IKE_PROTO_ESP); /* strongSwan's IKE_AUTH offer */
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	ike_prop_list_strip_dh(&l_ours);
	assert_null(ike_prop_find(&l_ours.prop[0], IKE_TRANS_DH));
	assert_int_equal(l_ours.prop[0].n_trans, 3);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
}

static void test_select_seed_peers(void **state)
{
	struct ike_proposal ch;

	(void)state;
	/* seed 002: Libreswan's 1:ESP=NULL-HMAC_MD5_96-NONE-DISABLED */
	mk(&l_ours, "null-md5!", IKE_PROTO_ESP);
	mk(&l_theirs, "null-md5!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_ENCR, IKE_ENCR_NULL, 0);
	/* seed 000: MikroTik 'default' profile (aes-256/192/128, sha1, modp2048/1024) */
	mk(&l_theirs, "aes256-aes192-aes128-sha1-modp2048-modp1024!", IKE_PROTO_IKE);
	mk(&l_ours, "aes256-sha1-modp2048!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0);
	assert_trans(&ch, IKE_TRANS_DH, IKE_DH_MODP2048, 0);
	assert_trans(&ch, IKE_TRANS_PRF, IKE_PRF_HMAC_SHA1, 0);
	/* seed 001: Azure custom policy with DHGroup24 against our defaults: no weak fallback */
	assert_int_equal(ike_prop_parse("aes256-sha256-ecp384,default", IKE_PROTO_IKE, 0, &l_ours,
					NULL, NULL, 0),
			 0);
	mk(&l_theirs, "aes256-sha1-modp1024!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), -ENOENT);
	mk(&l_theirs, "aes256-sha256-modp2048!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_theirs, 0, &ch), 0); /* via the defaults */
	assert_int_not_equal(ch.num, 0);
}

/* ---- the initiator's check -------------------------------------------------------------------- */

static void reply_from(const struct ike_proposal *p)
{
	memset(&l_theirs, 0, sizeof(l_theirs));
	l_theirs.n = 1;
	l_theirs.prop[0] = *p;
}

static void test_reply_ok(void **state)
{
	struct ike_proposal ch, got;
	char why[128];

	(void)state;
	mk(&l_ours, "aes256-aes128-sha256-ecp384-ecp256,aes256gcm16-prfsha256-x25519!",
	   IKE_PROTO_IKE);
	mk(&l_tmp, "aes128-sha256-ecp256!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_tmp, &l_ours, 0, &ch), 0);
	reply_from(&ch);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, &got, why, sizeof(why)), 0);
	assert_true(same_prop(&got, &ch));
	assert_int_equal(got.num, 1);
	/* the AEAD proposal */
	mk(&l_tmp, "aes256gcm16-prfsha256-x25519!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_tmp, &l_ours, 0, &ch), 0);
	assert_int_equal(ch.num, 2);
	reply_from(&ch);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, why, sizeof(why)), 0);
}

static void check_reply_fails(const char *needle)
{
	char why[160];

	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, why, sizeof(why)),
			 -EBADMSG);
	if (needle && !strstr(why, needle))
		fail_msg("reason '%s' lacks '%s'", why, needle);
}

static void test_reply_bad(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_IKE);
	assert_int_equal(ike_prop_select(&l_ours, &l_ours, 0, &ch), 0);
	/* two proposals */
	reply_from(&ch);
	l_theirs.n = 2;
	l_theirs.prop[1] = ch;
	check_reply_fails("exactly one");
	/* none */
	l_theirs.n = 0;
	check_reply_fails("exactly one");
	/* a proposal number we did not use */
	reply_from(&ch);
	l_theirs.prop[0].num = 2;
	check_reply_fails("did not offer");
	/* a transform we did not offer */
	reply_from(&ch);
	l_theirs.prop[0].trans[3].id = IKE_DH_ECP256;
	check_reply_fails("ecp256");
	/* two of one type */
	reply_from(&ch);
	add_t(&l_theirs.prop[0], IKE_TRANS_DH, IKE_DH_ECP384, 0);
	check_reply_fails("two DH group");
	/* a type missing */
	reply_from(&ch);
	del_type(&l_theirs.prop[0], IKE_TRANS_DH);
	check_reply_fails("no DH group");
	reply_from(&ch);
	del_type(&l_theirs.prop[0], IKE_TRANS_PRF);
	check_reply_fails("no PRF");
	/* a type not valid for the protocol */
	reply_from(&ch);
	add_t(&l_theirs.prop[0], IKE_TRANS_ESN, IKE_ESN_NO, 0);
	check_reply_fails("not valid");
	/* protocol and SPI size */
	reply_from(&ch);
	l_theirs.prop[0].proto = IKE_PROTO_ESP;
	check_reply_fails("protocol");
	reply_from(&ch);
	l_theirs.prop[0].spi_len = 8;
	check_reply_fails("SPI");
	/* a different key length */
	reply_from(&ch);
	l_theirs.prop[0].trans[0].keylen = 128;
	check_reply_fails("aes128");
}

static void test_reply_esp(void **state)
{
	struct ike_proposal ch;

	(void)state;
	mk(&l_ours, "aes256gcm16-aes128gcm16!", IKE_PROTO_ESP);
	mk(&l_tmp, "aes128gcm16!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_tmp, &l_ours, 0, &ch), 0);
	reply_from(&ch);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, NULL, 0), 0);
	/* ESN left out of the answer means no ESN: fine, we offered noesn */
	del_type(&l_theirs.prop[0], IKE_TRANS_ESN);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, NULL, 0), 0);
	/* INTEG NONE with AEAD may be explicit */
	add_t(&l_theirs.prop[0], IKE_TRANS_INTEG, IKE_INTEG_NONE, 0);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, NULL, 0), 0);
	/* SPI size must be 4 */
	reply_from(&ch);
	l_theirs.prop[0].spi_len = 0;
	check_reply_fails("SPI");
	/* we asked for ESN only: an answer without ESN is refused */
	mk(&l_ours, "aes128gcm16-esn!", IKE_PROTO_ESP);
	reply_from(&ch);
	del_type(&l_theirs.prop[0], IKE_TRANS_ESN);
	check_reply_fails("no ESN");
	/* PFS dropped by the responder */
	mk(&l_ours, "aes256-sha256-ecp384!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_select(&l_ours, &l_ours, 0, &ch), 0);
	reply_from(&ch);
	del_type(&l_theirs.prop[0], IKE_TRANS_DH);
	check_reply_fails("no DH group");
	/* with PFS optional it is fine */
	mk(&l_ours, "aes256-sha256-ecp384-none!", IKE_PROTO_ESP);
	assert_int_equal(ike_prop_check_reply(&l_ours, &l_theirs, NULL, NULL, 0), 0);
	/* a non-AEAD cipher with INTEG NONE we offered nowhere */
	reply_from(&ch);
	l_theirs.prop[0].trans[1].id = IKE_INTEG_NONE;
	check_reply_fails("integrity");
}

static void test_is_aead(void **state)
{
	(void)state;
	assert_true(ike_prop_encr_is_aead(IKE_ENCR_AES_GCM_16));
	assert_true(ike_prop_encr_is_aead(IKE_ENCR_AES_GCM_8));
	assert_true(ike_prop_encr_is_aead(IKE_ENCR_CHACHA20_POLY1305));
	assert_false(ike_prop_encr_is_aead(IKE_ENCR_AES_CBC));
	assert_false(ike_prop_encr_is_aead(IKE_ENCR_NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ike_classic),
		cmocka_unit_test(test_parse_ike_aead),
		cmocka_unit_test(test_parse_group24),
		cmocka_unit_test(test_parse_curve25519),
		cmocka_unit_test(test_parse_weak),
		cmocka_unit_test(test_parse_esp_null_md5),
		cmocka_unit_test(test_parse_esp_no_pfs),
		cmocka_unit_test(test_parse_esp_pfs),
		cmocka_unit_test(test_parse_esn),
		cmocka_unit_test(test_parse_several_algorithms),
		cmocka_unit_test(test_parse_several_proposals),
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_too_many),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_peer_oddities),
		cmocka_unit_test(test_mismatch_msg),
		cmocka_unit_test(test_select_match),
		cmocka_unit_test(test_select_no_match),
		cmocka_unit_test(test_select_our_order_wins),
		cmocka_unit_test(test_select_peer_order_breaks_ties),
		cmocka_unit_test(test_select_missing_type),
		cmocka_unit_test(test_select_keylen),
		cmocka_unit_test(test_select_esn),
		cmocka_unit_test(test_select_aead_vs_classic),
		cmocka_unit_test(test_select_unknown_type_skipped),
		cmocka_unit_test(test_select_spi),
		cmocka_unit_test(test_select_ke_hint),
		cmocka_unit_test(test_invalid_ke_flow),
		cmocka_unit_test(test_first_dh),
		cmocka_unit_test(test_strip_dh_ike_auth),
		cmocka_unit_test(test_select_seed_peers),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_reply_esp),
		cmocka_unit_test(test_is_aead),
	};

	return cmocka_run_group_tests_name("ike_prop", tests, NULL, NULL);
}
