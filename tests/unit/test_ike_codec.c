// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the IKEv2 message codec (ike/ike_msg.c, ike/ike_pld.c): a build -> parse round trip of
 * every payload type, exact bytes for hand-encoded payloads, one byte-array case per malformation
 * (short header, length too small / too large, trailing bytes, duplicate singleton, unknown
 * critical payload, reserved bits, zero-length proposal, ...) each giving a clean error,
 * truncation and bit-flip sweeps, SK seal/open for every IKE cipher and integrity algorithm with
 * tampering, and RFC 7383 fragmentation with out-of-order, duplicate and obsolete fragments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ike_buf.h"
#include "ike_const.h"
#include "ike_crypto.h"
#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_prop.h"

static const struct ike_hdr hdr0 = {
	.spi_i = { 1, 2, 3, 4, 5, 6, 7, 8 },
	.spi_r = { 0 },
	.version = IKE_VERSION_2,
	.exchange = IKE_SA_INIT,
	.flags = IKE_FLAG_INITIATOR,
	.msgid = 0,
};

static void sample_props(struct ike_prop_list *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->n = 2;
	pl->prop[0] = (struct ike_proposal){ .num = 1, .proto = IKE_PROTO_IKE, .n_trans = 4 };
	pl->prop[0].trans[0] = (struct ike_transform){ IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 256 };
	pl->prop[0].trans[1] = (struct ike_transform){ IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_256, 0 };
	pl->prop[0].trans[2] =
		(struct ike_transform){ IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0 };
	pl->prop[0].trans[3] = (struct ike_transform){ IKE_TRANS_DH, IKE_DH_ECP384, 0 };
	pl->prop[1] = (struct ike_proposal){ .num = 2,
					     .proto = IKE_PROTO_ESP,
					     .spi_len = 4,
					     .spi = { 0xc0, 0xff, 0xee, 0x01 },
					     .n_trans = 3 };
	pl->prop[1].trans[0] = (struct ike_transform){ IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128 };
	pl->prop[1].trans[1] = (struct ike_transform){ IKE_TRANS_ESN, IKE_ESN_NO, 0 };
	pl->prop[1].trans[2] = (struct ike_transform){ IKE_TRANS_ESN, IKE_ESN_YES, 0 };
}

static void sample_ts(struct ike_ts_list *tl)
{
	memset(tl, 0, sizeof(*tl));
	tl->n = 2;
	tl->ts[0] = (struct ike_ts){ IKE_TS_IPV4_ADDR_RANGE, 6, 443, 443, { 10, 0, 0, 0 },
				     { 10, 0, 0, 255 } };
	tl->ts[1] = (struct ike_ts){ IKE_TS_IPV6_ADDR_RANGE,
				     0,
				     0,
				     65535,
				     { 0x20, 0x01, 0x0d, 0xb8 },
				     { 0x20, 0x01, 0x0d, 0xb8, [4] = 0xff, [15] = 0xff } };
}

static const uint8_t ke_data[64] = { [0] = 0x11, [63] = 0x22 };
static const uint8_t nonce[32] = { [0] = 0x33, [31] = 0x44 };
static const uint8_t spis[8] = { 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4 };
static const uint8_t cp_attrs[] = {
	0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x04, 1, 2, 3, 4
}; /* INTERNAL_IP4_ADDRESS, DNS */

/* Every payload type the codec builds, in one chain. */
static void build_all(struct ike_chain *c)
{
	struct ike_prop_list pl;
	struct ike_ts_list tl;

	sample_props(&pl);
	sample_ts(&tl);
	ike_build_sa(c, &pl);
	ike_build_ke(c, IKE_DH_ECP256, ke_data, sizeof(ke_data));
	ike_build_nonce(c, nonce, sizeof(nonce));
	ike_build_notify(c, IKE_PROTO_ESP, spis, 4, IKE_N_REKEY_SA, NULL, 0);
	ike_build_notify(c, 0, NULL, 0, IKE_N_NAT_DETECTION_SOURCE_IP, nonce, 20);
	ike_build_vendor(c, (const uint8_t *)"espgate", 7);
	ike_build_id(c, IKE_PLD_IDI, IKE_ID_FQDN, (const uint8_t *)"gw.example", 10);
	ike_build_id(c, IKE_PLD_IDR, IKE_ID_IPV4_ADDR, (const uint8_t *)"\xc0\x00\x02\x01", 4);
	ike_build_auth(c, IKE_AUTH_SHARED_KEY_MIC, nonce, 32);
	ike_build_ts(c, IKE_PLD_TSI, &tl);
	tl.n = 1;
	ike_build_ts(c, IKE_PLD_TSR, &tl);
	ike_build_delete(c, IKE_PROTO_ESP, 4, 2, spis);
	ike_build_delete(c, IKE_PROTO_IKE, 0, 0, NULL);
	ike_build_cp(c, IKE_CFG_REPLY, cp_attrs, sizeof(cp_attrs));
}

static const uint8_t all_types[] = { IKE_PLD_SA,     IKE_PLD_KE,     IKE_PLD_NONCE, IKE_PLD_NOTIFY,
				     IKE_PLD_NOTIFY, IKE_PLD_VENDOR, IKE_PLD_IDI,   IKE_PLD_IDR,
				     IKE_PLD_AUTH,   IKE_PLD_TSI,    IKE_PLD_TSR,   IKE_PLD_DELETE,
				     IKE_PLD_DELETE, IKE_PLD_CP };

/* Checks that m's payloads (from index base) are exactly those of build_all(). */
static void check_all(const struct ike_msg *m, unsigned base)
{
	struct ike_prop_list pl, want_pl;
	struct ike_ts_list tl, want_tl;
	struct ike_pld_ke ke;
	struct ike_chunk n;
	struct ike_pld_notify no;
	struct ike_pld_id id;
	struct ike_pld_delete d;
	struct ike_pld_cp cp;
	const struct ike_pld *p = &m->pld[base];

	assert_int_equal(m->n_pld - base, sizeof(all_types));
	for (unsigned i = 0; i < sizeof(all_types); i++)
		assert_int_equal(p[i].type, all_types[i]);
	sample_props(&want_pl);
	sample_ts(&want_tl);
	assert_int_equal(ike_pld_sa(p[0].body, p[0].len, &pl), 0);
	assert_memory_equal(&pl, &want_pl, sizeof(pl));
	assert_int_equal(ike_pld_ke(p[1].body, p[1].len, &ke), 0);
	assert_int_equal(ke.group, IKE_DH_ECP256);
	assert_int_equal(ke.len, sizeof(ke_data));
	assert_memory_equal(ke.data, ke_data, sizeof(ke_data));
	assert_int_equal(ike_pld_nonce(p[2].body, p[2].len, &n), 0);
	assert_int_equal(n.len, sizeof(nonce));
	assert_memory_equal(n.ptr, nonce, sizeof(nonce));
	assert_int_equal(ike_pld_notify(p[3].body, p[3].len, &no), 0);
	assert_int_equal(no.proto, IKE_PROTO_ESP);
	assert_int_equal(no.spi_len, 4);
	assert_memory_equal(no.spi, spis, 4);
	assert_int_equal(no.type, IKE_N_REKEY_SA);
	assert_int_equal(no.len, 0);
	assert_int_equal(ike_pld_notify(p[4].body, p[4].len, &no), 0);
	assert_int_equal(no.type, IKE_N_NAT_DETECTION_SOURCE_IP);
	assert_int_equal(no.len, 20);
	assert_int_equal(p[5].len, 7);
	assert_memory_equal(p[5].body, "espgate", 7);
	assert_int_equal(ike_pld_id(p[6].body, p[6].len, &id), 0);
	assert_int_equal(id.type, IKE_ID_FQDN);
	assert_int_equal(id.len, 10);
	assert_memory_equal(id.data, "gw.example", 10);
	assert_int_equal(id.body_len, 14);
	assert_int_equal(ike_pld_id(p[7].body, p[7].len, &id), 0);
	assert_int_equal(id.type, IKE_ID_IPV4_ADDR);
	assert_int_equal(ike_pld_auth(p[8].body, p[8].len, &id), 0);
	assert_int_equal(id.type, IKE_AUTH_SHARED_KEY_MIC);
	assert_int_equal(id.len, 32);
	assert_int_equal(ike_pld_ts(p[9].body, p[9].len, &tl), 0);
	assert_memory_equal(&tl, &want_tl, sizeof(tl));
	assert_int_equal(ike_pld_ts(p[10].body, p[10].len, &tl), 0);
	want_tl.n = 1;
	memset(&want_tl.ts[1], 0, sizeof(want_tl.ts[1]));
	assert_memory_equal(&tl, &want_tl, sizeof(tl));
	assert_int_equal(ike_pld_delete(p[11].body, p[11].len, &d), 0);
	assert_int_equal(d.proto, IKE_PROTO_ESP);
	assert_int_equal(d.n_spi, 2);
	assert_memory_equal(d.spis, spis, 8);
	assert_int_equal(ike_pld_delete(p[12].body, p[12].len, &d), 0);
	assert_int_equal(d.proto, IKE_PROTO_IKE);
	assert_int_equal(ike_pld_cp(p[13].body, p[13].len, &cp), 0);
	assert_int_equal(cp.type, IKE_CFG_REPLY);
	assert_int_equal(cp.n_attrs, 2);
}

static void test_roundtrip_all_payloads(void **state)
{
	struct ike_wbuf plds, msg;
	struct ike_chain c;
	struct ike_msg m;

	(void)state;
	ike_wbuf_init(&plds);
	ike_wbuf_init(&msg);
	ike_chain_init(&c, &plds);
	build_all(&c);
	assert_int_equal(plds.err, 0);
	assert_int_equal(ike_msg_build(&hdr0, c.first, plds.buf, plds.len, &msg), 0);
	assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m), 0);
	assert_int_equal(m.hdr.exchange, IKE_SA_INIT);
	assert_int_equal(m.hdr.flags, IKE_FLAG_INITIATOR);
	assert_int_equal(m.hdr.length, msg.len);
	assert_memory_equal(m.hdr.spi_i, hdr0.spi_i, 8);
	assert_int_equal(m.sk_type, 0);
	check_all(&m, 0);
	assert_ptr_equal(ike_msg_find(&m, IKE_PLD_NONCE), &m.pld[2]);
	assert_null(ike_msg_find(&m, IKE_PLD_EAP));
	ike_msg_free(&m);
	ike_wbuf_free(&plds);
	ike_wbuf_free(&msg);
}

/* Builders produce exactly the RFC 7296 encoding. */
static void test_exact_bytes(void **state)
{
	static const uint8_t want[] = {
		/* IKE header: SPIs, next = SA, 2.0, IKE_SA_INIT, I, msgid 0, length 28+48+12+20 */
		1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0, 0,
		0, 0, 108,
		/* SA: next KE, len 48; proposal: last, len 44, #1, IKE, spi 0, 4 transforms */
		34, 0, 0, 48, 0, 0, 0, 44, 1, 1, 0, 4,
		/* ENCR AES-CBC with Key Length 128 */
		3, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 0, 128,
		/* PRF SHA1, INTEG SHA1-96, DH 14 (last) */
		3, 0, 0, 8, 2, 0, 0, 2, 3, 0, 0, 8, 3, 0, 0, 2, 0, 0, 0, 8, 4, 0, 0, 14,
		/* KE: next Nonce, len 12, group 14, reserved, 4 data bytes */
		40, 0, 0, 12, 0, 14, 0, 0, 0xde, 0xad, 0xbe, 0xef,
		/* Nonce: last, len 20 */
		0, 0, 0, 20, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	};
	struct ike_prop_list pl = { 0 };
	const uint8_t n[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct ike_wbuf plds, msg;
	struct ike_chain c;
	struct ike_msg m;

	(void)state;
	pl.n = 1;
	pl.prop[0] = (struct ike_proposal){ .num = 1, .proto = IKE_PROTO_IKE, .n_trans = 4 };
	pl.prop[0].trans[0] = (struct ike_transform){ IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 128 };
	pl.prop[0].trans[1] = (struct ike_transform){ IKE_TRANS_PRF, IKE_PRF_HMAC_SHA1, 0 };
	pl.prop[0].trans[2] = (struct ike_transform){ IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA1_96, 0 };
	pl.prop[0].trans[3] = (struct ike_transform){ IKE_TRANS_DH, IKE_DH_MODP2048, 0 };
	ike_wbuf_init(&plds);
	ike_wbuf_init(&msg);
	ike_chain_init(&c, &plds);
	ike_build_sa(&c, &pl);
	ike_build_ke(&c, IKE_DH_MODP2048, (const uint8_t *)"\xde\xad\xbe\xef", 4);
	ike_build_nonce(&c, n, sizeof(n));
	assert_int_equal(ike_msg_build(&hdr0, c.first, plds.buf, plds.len, &msg), 0);
	assert_int_equal(msg.len, sizeof(want));
	assert_memory_equal(msg.buf, want, sizeof(want));
	/* and the fixture parses back to the same proposal */
	assert_int_equal(ike_msg_parse(want, sizeof(want), &m), 0);
	{
		struct ike_prop_list got;

		assert_int_equal(ike_pld_sa(m.pld[0].body, m.pld[0].len, &got), 0);
		assert_memory_equal(&got, &pl, sizeof(got));
	}
	ike_msg_free(&m);
	ike_wbuf_free(&plds);
	ike_wbuf_free(&msg);
}

/* ---- one byte array per defect ------------------------------------------------------------- */

/* A valid message: header + Nonce (len 20) + Vendor ID (len 8), 56 bytes. */
#define HDR(next, len)                                                                             \
	1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, (next), 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0,  \
		0, (len)
#define NONCE_BODY 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15

struct defect {
	const char *name;
	const uint8_t *b;
	size_t len;
	int err;
};

#define DEFECT(n, e, ...)                                                                          \
	{                                                                                          \
		n, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), e   \
	}

static const struct defect defects[] = {
	DEFECT("valid", 0, HDR(40, 56), 43, 0, 0, 20, NONCE_BODY, 0, 0, 0, 8, 'a', 'b', 'c', 'd'),
	DEFECT("short header", -EBADMSG, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
	       34, 8, 0, 0, 0, 0, 0, 0, 0),
	DEFECT("header length too small", -EBADMSG, HDR(40, 55), 43, 0, 0, 20, NONCE_BODY, 0, 0, 0,
	       8, 'a', 'b', 'c', 'd'),
	DEFECT("header length too large", -EBADMSG, HDR(40, 57), 43, 0, 0, 20, NONCE_BODY, 0, 0, 0,
	       8, 'a', 'b', 'c', 'd'),
	DEFECT("payload length below header", -EBADMSG, HDR(40, 56), 43, 0, 0, 3, NONCE_BODY, 0, 0,
	       0, 8, 'a', 'b', 'c', 'd'),
	DEFECT("payload length past message", -EBADMSG, HDR(40, 56), 43, 0, 0, 20, NONCE_BODY, 0, 0,
	       0, 9, 'a', 'b', 'c', 'd'),
	DEFECT("short generic header", -EBADMSG, HDR(40, 54), 43, 0, 0, 20, NONCE_BODY, 0, 0),
	DEFECT("trailing bytes", -EBADMSG, HDR(40, 57), 43, 0, 0, 20, NONCE_BODY, 0, 0, 0, 8, 'a',
	       'b', 'c', 'd', 0),
	DEFECT("duplicate nonce", -EBADMSG, HDR(40, 68), 40, 0, 0, 20, NONCE_BODY, 0, 0, 0, 20,
	       NONCE_BODY),
	DEFECT("unknown critical payload", -ENOTSUP, HDR(40, 56), 200, 0, 0, 20, NONCE_BODY, 0,
	       0x80, 0, 8, 'a', 'b', 'c', 'd'),
	DEFECT("reserved bits in generic header", -EBADMSG, HDR(40, 56), 43, 0x01, 0, 20,
	       NONCE_BODY, 0, 0, 0, 8, 'a', 'b', 'c', 'd'),
	DEFECT("reserved bits in KE", -EBADMSG, HDR(34, 40), 0, 0, 0, 12, 0, 14, 0, 1, 1, 2, 3, 4),
	DEFECT("reserved flag bits", -EBADMSG, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	       0x20, 34, 0x09, 0, 0, 0, 0, 0, 0, 0, 28),
	DEFECT("major version 3", -EPROTONOSUPPORT, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0,
	       0, 0x30, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28),
	DEFECT("nonce too short", -EBADMSG, HDR(40, 47), 0, 0, 0, 19, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	       10, 11, 12, 13, 14),
	/* SA: proposal length 0 */
	DEFECT("zero-length proposal", -EBADMSG, HDR(33, 48), 0, 0, 0, 20, 0, 0, 0, 0, 1, 1, 0, 1,
	       0, 0, 0, 8, 2, 0, 0, 2),
	/* SA: proposal announcing no transforms */
	DEFECT("proposal without transforms", -EBADMSG, HDR(33, 48), 0, 0, 0, 20, 0, 0, 0, 16, 1, 1,
	       0, 0, 0, 0, 0, 8, 2, 0, 0, 2),
	/* SA: announces 2 transforms, carries 1 */
	DEFECT("transform count mismatch", -EBADMSG, HDR(33, 48), 0, 0, 0, 20, 0, 0, 0, 16, 1, 1, 0,
	       2, 0, 0, 0, 8, 2, 0, 0, 2),
	/* SA: "more proposals" but nothing follows */
	DEFECT("missing proposal", -EBADMSG, HDR(33, 48), 0, 0, 0, 20, 2, 0, 0, 16, 1, 1, 0, 1, 0,
	       0, 0, 8, 2, 0, 0, 2),
	/* SA: transform length past the proposal */
	DEFECT("transform too long", -EBADMSG, HDR(33, 48), 0, 0, 0, 20, 0, 0, 0, 16, 1, 1, 0, 1, 0,
	       0, 0, 9, 2, 0, 0, 2),
	/* SA: duplicate Key Length attribute */
	DEFECT("repeated key length", -EBADMSG, HDR(33, 56), 0, 0, 0, 28, 0, 0, 0, 24, 1, 1, 0, 1,
	       0, 0, 0, 16, 1, 0, 0, 12, 0x80, 14, 0, 128, 0x80, 14, 0, 128),
	/* TS: announces 2 selectors, carries 1 */
	DEFECT("TS count mismatch", -EBADMSG, HDR(44, 52), 0, 0, 0, 24, 2, 0, 0, 0, 7, 0, 0, 16, 0,
	       0, 255, 255, 10, 0, 0, 0, 10, 0, 0, 255),
	/* TS: IPv4 selector with an IPv6 length */
	DEFECT("TS bad selector length", -EBADMSG, HDR(44, 52), 0, 0, 0, 24, 1, 0, 0, 0, 7, 0, 0,
	       17, 0, 0, 255, 255, 10, 0, 0, 0, 10, 0, 0, 255),
	/* Delete ESP: 2 SPIs announced, 1 present */
	DEFECT("delete spi count", -EBADMSG, HDR(42, 40), 0, 0, 0, 12, 3, 4, 0, 2, 1, 2, 3, 4),
	/* SK followed by another payload's bytes */
	DEFECT("bytes after SK", -EBADMSG, HDR(46, 41), 0, 0, 0, 8, 1, 2, 3, 4, 0),
	/* SKF not alone */
	DEFECT("SKF after another payload", -EBADMSG, HDR(43, 48), 53, 0, 0, 8, 1, 2, 3, 4, 0, 0, 0,
	       12, 0, 1, 0, 1, 1, 2, 3, 4),
	/* SKF fragment number above total */
	DEFECT("SKF number above total", -EBADMSG, HDR(53, 44), 0, 0, 0, 16, 0, 3, 0, 2, 1, 2, 3, 4,
	       5, 6, 7, 8),
	DEFECT("unknown non-critical payload skipped", 0, HDR(200, 36), 0, 0, 0, 8, 1, 2, 3, 4),
};

static void test_defects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(defects) / sizeof(defects[0]); i++) {
		struct ike_msg m;
		int err = ike_msg_parse(defects[i].b, defects[i].len, &m);

		if (err != defects[i].err)
			fail_msg("%s: got %d, want %d", defects[i].name, err, defects[i].err);
		if (defects[i].err == -ENOTSUP)
			assert_int_equal(m.unsupported_critical, 200);
		ike_msg_free(&m);
	}
}

/* payload walk bound: 65 Vendor IDs are refused, 64 accepted */
static void test_payload_bound(void **state)
{
	(void)state;
	for (unsigned n = IKE_MAX_PAYLOADS; n <= IKE_MAX_PAYLOADS + 1; n++) {
		struct ike_wbuf plds, msg;
		struct ike_chain c;
		struct ike_msg m;

		ike_wbuf_init(&plds);
		ike_wbuf_init(&msg);
		ike_chain_init(&c, &plds);
		for (unsigned i = 0; i < n; i++)
			ike_build_vendor(&c, (const uint8_t *)"v", 1);
		assert_int_equal(ike_msg_build(&hdr0, c.first, plds.buf, plds.len, &msg), 0);
		assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m),
				 n > IKE_MAX_PAYLOADS ? -EBADMSG : 0);
		ike_msg_free(&m);
		ike_wbuf_free(&plds);
		ike_wbuf_free(&msg);
	}
}

/* every truncation fails cleanly; every single-bit flip parses or fails cleanly */
static void test_truncation_and_flips(void **state)
{
	struct ike_wbuf plds, msg;
	struct ike_chain c;
	struct ike_msg m;
	uint8_t *copy;

	(void)state;
	ike_wbuf_init(&plds);
	ike_wbuf_init(&msg);
	ike_chain_init(&c, &plds);
	build_all(&c);
	assert_int_equal(ike_msg_build(&hdr0, c.first, plds.buf, plds.len, &msg), 0);
	for (size_t l = 0; l < msg.len; l++) {
		assert_int_not_equal(ike_msg_parse(msg.buf, l, &m), 0);
		ike_msg_free(&m);
	}
	copy = malloc(msg.len);
	assert_non_null(copy);
	for (size_t bit = 0; bit < msg.len * 8; bit++) {
		int err;

		memcpy(copy, msg.buf, msg.len);
		copy[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		err = ike_msg_parse(copy, msg.len, &m);
		assert_true(err == 0 || err == -EBADMSG || err == -ENOTSUP ||
			    err == -EPROTONOSUPPORT);
		ike_msg_free(&m);
	}
	free(copy);
	ike_wbuf_free(&plds);
	ike_wbuf_free(&msg);
}

/* ---- SK ------------------------------------------------------------------------------------- */

struct sk_alg {
	uint16_t encr, bits, integ;
};

static const struct sk_alg sk_algs[] = {
	{ IKE_ENCR_AES_CBC, 128, IKE_INTEG_HMAC_SHA1_96 },
	{ IKE_ENCR_AES_CBC, 128, IKE_INTEG_HMAC_SHA2_256_128 },
	{ IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128 },
	{ IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_384_192 },
	{ IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_512_256 },
	{ IKE_ENCR_AES_CBC, 192, IKE_INTEG_HMAC_SHA2_256_128 },
	{ IKE_ENCR_AES_CBC, 128, IKE_INTEG_HMAC_MD5_96 }, /* weak, still sealable */
	{ IKE_ENCR_AES_GCM_16, 128, IKE_INTEG_NONE },
	{ IKE_ENCR_AES_GCM_16, 256, IKE_INTEG_NONE },
};

static void sk_keys(const struct sk_alg *a, uint8_t *kbuf, struct ike_sk_keys *k)
{
	struct ike_encr_info ei;
	size_t alen = 0, icv;

	assert_int_equal(ike_encr_info(a->encr, a->bits, false, &ei), 0);
	if (a->integ)
		assert_int_equal(ike_integ_info(a->integ, true, &alen, &icv), 0);
	for (size_t i = 0; i < ei.key_len + alen; i++)
		kbuf[i] = (uint8_t)(i * 7 + 1);
	*k = (struct ike_sk_keys){
		a->encr, a->bits, a->integ, { kbuf, ei.key_len }, { kbuf + ei.key_len, alen }
	};
}

static void test_sk_roundtrip_all_algs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sk_algs) / sizeof(sk_algs[0]); i++) {
		struct ike_wbuf inner, msg;
		struct ike_chain c;
		struct ike_sk_keys k;
		struct ike_hdr h = hdr0;
		uint8_t kbuf[128];
		struct ike_msg m;

		sk_keys(&sk_algs[i], kbuf, &k);
		h.exchange = IKE_AUTH;
		h.msgid = 1;
		ike_wbuf_init(&inner);
		ike_wbuf_init(&msg);
		ike_chain_init(&c, &inner);
		build_all(&c);
		assert_int_equal(ike_sk_seal(&h, &k, c.first, inner.buf, inner.len, &msg), 0);
		assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m), 0);
		assert_int_equal(m.sk_type, IKE_PLD_SK);
		assert_int_equal(m.n_pld, 1);
		assert_int_equal(m.hdr.msgid, 1);
		assert_int_equal(ike_sk_open(&m, &k), 0);
		check_all(&m, 1);
		/* the plaintext is the inner chain, byte for byte */
		assert_int_equal(m.plain.len, inner.len);
		assert_memory_equal(m.plain.ptr, inner.buf, inner.len);
		ike_msg_free(&m);

		/* any flipped bit in the header, IV, ciphertext or ICV is refused */
		for (size_t off = 0; off < msg.len; off += 1 + off / 2) {
			msg.buf[off] ^= 0x10;
			if (ike_msg_parse(msg.buf, msg.len, &m) == 0)
				assert_int_equal(ike_sk_open(&m, &k), -EACCES);
			ike_msg_free(&m);
			msg.buf[off] ^= 0x10;
		}
		/* tampered last ICV byte */
		msg.buf[msg.len - 1] ^= 1;
		assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m), 0);
		assert_int_equal(ike_sk_open(&m, &k), -EACCES);
		assert_int_equal(m.n_pld, 1);
		ike_msg_free(&m);
		msg.buf[msg.len - 1] ^= 1;
		/* wrong key: the integrity key for CBC (a wrong SK_e alone only garbles the
		 * authenticated plaintext), the AEAD key for GCM */
		kbuf[k.ka.len ? k.ke.len : 0] ^= 1;
		assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m), 0);
		assert_int_equal(ike_sk_open(&m, &k), -EACCES);
		ike_msg_free(&m);
		ike_wbuf_free(&inner);
		ike_wbuf_free(&msg);
	}
}

/* An authenticated plaintext that is itself malformed is still refused (inner walk). */
static void test_sk_inner_defects(void **state)
{
	const struct {
		const char *name;
		uint8_t first;
		const uint8_t *b;
		size_t len;
		int err;
	} v[] = {
		{ "inner duplicate nonce", IKE_PLD_NONCE,
		  (const uint8_t[]){ 40, 0, 0, 20, NONCE_BODY, 0, 0, 0, 20, NONCE_BODY }, 40,
		  -EBADMSG },
		{ "inner unknown critical", 222, (const uint8_t[]){ 0, 0x80, 0, 4 }, 4, -ENOTSUP },
		{ "inner SK", IKE_PLD_SK, (const uint8_t[]){ 0, 0, 0, 4 }, 4, -EBADMSG },
		{ "inner trailing", IKE_PLD_VENDOR, (const uint8_t[]){ 0, 0, 0, 5, 'x', 'y' }, 6,
		  -EBADMSG },
		{ "inner empty", IKE_PLD_NONE, (const uint8_t[]){ 0 }, 0, 0 },
	};
	const struct sk_alg a = { IKE_ENCR_AES_GCM_16, 256, IKE_INTEG_NONE };

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ike_wbuf msg;
		struct ike_sk_keys k;
		uint8_t kbuf[64];
		struct ike_msg m;
		int err;

		sk_keys(&a, kbuf, &k);
		ike_wbuf_init(&msg);
		assert_int_equal(ike_sk_seal(&hdr0, &k, v[i].first, v[i].b, v[i].len, &msg), 0);
		assert_int_equal(ike_msg_parse(msg.buf, msg.len, &m), 0);
		err = ike_sk_open(&m, &k);
		if (err != v[i].err)
			fail_msg("%s: got %d want %d", v[i].name, err, v[i].err);
		ike_msg_free(&m);
		ike_wbuf_free(&msg);
	}
}

/* ---- RFC 7383 fragments --------------------------------------------------------------------- */

static void test_fragments(void **state)
{
	(void)state;
	for (size_t ai = 0; ai < sizeof(sk_algs) / sizeof(sk_algs[0]); ai += 2) {
		struct ike_wbuf inner, frags[IKE_MAX_FRAGMENTS];
		struct ike_frag_reasm r = { 0 };
		struct ike_sk_keys k;
		struct ike_chain c;
		struct ike_hdr h = hdr0;
		uint8_t kbuf[128];
		struct ike_msg m, out;
		size_t n = 0;
		int rc = 0;

		sk_keys(&sk_algs[ai], kbuf, &k);
		h.exchange = IKE_AUTH;
		h.msgid = 7;
		ike_wbuf_init(&inner);
		for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_init(&frags[i]);
		ike_chain_init(&c, &inner);
		build_all(&c);
		/* a 1000-byte certificate-sized vendor payload makes several fragments */
		{
			static uint8_t big[1000];

			memset(big, 0x5c, sizeof(big));
			ike_build_vendor(&c, big, sizeof(big));
		}
		assert_int_equal(ike_sk_seal_frags(&h, &k, c.first, inner.buf, inner.len, 300,
						   frags, IKE_MAX_FRAGMENTS, &n),
				 0);
		assert_true(n >= 4);
		for (size_t i = 0; i < n; i++)
			assert_true(frags[i].len <= 300);
		/* too small a bound, or too few slots */
		{
			size_t n2;

			assert_int_equal(ike_sk_seal_frags(&h, &k, c.first, inner.buf, inner.len,
							   60, frags, IKE_MAX_FRAGMENTS, &n2),
					 -EMSGSIZE);
			assert_int_equal(ike_sk_seal_frags(&h, &k, c.first, inner.buf, inner.len,
							   300, frags, 2, &n2),
					 -EMSGSIZE);
			assert_int_equal(ike_sk_seal_frags(&h, &k, c.first, inner.buf, inner.len,
							   300, frags, IKE_MAX_FRAGMENTS, &n2),
					 0);
			assert_int_equal(n2, n);
			/* fragment 1 must name the first inner payload (RFC 7383 §2.5) */
			assert_int_equal(ike_sk_seal_frags(&h, &k, IKE_PLD_NONE, inner.buf,
							   inner.len, 300, frags, IKE_MAX_FRAGMENTS,
							   &n2),
					 -EINVAL);
		}
		/* deliver in reverse order, with a duplicate and a tampered copy */
		for (size_t j = 0; j < n; j++) {
			size_t i = n - 1 - j;

			assert_int_equal(ike_msg_parse(frags[i].buf, frags[i].len, &m), 0);
			assert_int_equal(m.sk_type, IKE_PLD_SKF);
			assert_int_equal(m.frag.num, i + 1);
			assert_int_equal(m.frag.total, n);
			if (j == 1) {
				/* tampered fragment: refused, state kept */
				frags[i].buf[frags[i].len - 1] ^= 1;
				struct ike_msg bad;

				assert_int_equal(ike_msg_parse(frags[i].buf, frags[i].len, &bad),
						 0);
				assert_int_equal(ike_frag_add(&r, &bad, &k), -EACCES);
				ike_msg_free(&bad);
				frags[i].buf[frags[i].len - 1] ^= 1;
			}
			rc = ike_frag_add(&r, &m, &k);
			assert_int_equal(rc, j + 1 == n ? 1 : 0);
			if (j == 0)
				assert_int_equal(ike_frag_add(&r, &m, &k), 0); /* duplicate */
			ike_msg_free(&m);
		}
		assert_int_equal(ike_frag_finish(&r, &out), 0);
		assert_int_equal(out.hdr.msgid, 7);
		assert_int_equal(out.plain.len, inner.len);
		assert_memory_equal(out.plain.ptr, inner.buf, inner.len);
		assert_int_equal(out.n_pld, sizeof(all_types) + 1);
		out.n_pld--; /* the big vendor payload */
		check_all(&out, 0);
		ike_msg_free(&out);
		assert_false(r.active);

		/* §2.6.1: a fragment of a smaller set is ignored; a larger set restarts */
		assert_int_equal(ike_msg_parse(frags[0].buf, frags[0].len, &m), 0);
		assert_int_equal(ike_frag_add(&r, &m, &k), 0);
		ike_msg_free(&m);
		{
			struct ike_wbuf f2[IKE_MAX_FRAGMENTS];
			size_t n2;

			for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
				ike_wbuf_init(&f2[i]);
			assert_int_equal(ike_sk_seal_frags(&h, &k, c.first, inner.buf, inner.len,
							   1200, f2, IKE_MAX_FRAGMENTS, &n2),
					 0);
			assert_true(n2 < n);
			assert_int_equal(ike_msg_parse(f2[1].buf, f2[1].len, &m), 0);
			assert_int_equal(ike_frag_add(&r, &m, &k), 0); /* ignored */
			ike_msg_free(&m);
			assert_int_equal(r.total, n);
			assert_int_equal(r.have, 1);
			for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
				ike_wbuf_free(&f2[i]);
		}
		ike_frag_free(&r);
		for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_free(&frags[i]);
		ike_wbuf_free(&inner);
	}
}

/* §3.3.6: a proposal with an attribute we do not understand is dropped, the rest kept */
static void test_sa_unknown_attribute(void **state)
{
	static const uint8_t sa[] = {
		/* proposal 1: ENCR 12 with TV attribute 15 (unknown) */
		2, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0x80, 15, 0, 1,
		/* proposal 2: ENCR 12, Key Length 256 */
		0, 0, 0, 20, 2, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 1, 0
	};
	struct ike_prop_list pl;

	(void)state;
	assert_int_equal(ike_pld_sa(sa, sizeof(sa), &pl), 0);
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.prop[0].num, 2);
	assert_int_equal(pl.prop[0].n_trans, 1);
	assert_int_equal(pl.prop[0].trans[0].keylen, 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_payloads),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_defects),
		cmocka_unit_test(test_payload_bound),
		cmocka_unit_test(test_truncation_and_flips),
		cmocka_unit_test(test_sk_roundtrip_all_algs),
		cmocka_unit_test(test_sk_inner_defects),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_sa_unknown_attribute),
	};

	return cmocka_run_group_tests_name("ike_codec", tests, NULL, NULL);
}
