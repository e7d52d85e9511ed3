// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IKE engine's only OpenSSL user (see ike_crypto.h for the API and its conventions).
 * Primitives are OpenSSL 3 EVP calls (EVP_MAC HMAC, EVP_CIPHER AES, EVP_PKEY DH/ECDH/X25519);
 * nothing here implements a primitive. BIGNUM and EC_POINT appear only to range-check a peer's
 * MODP value (RFC 6989) and to derive public keys from known-answer private keys. No global
 * state: every call fetches what it needs and frees it before returning. Fuzz builds alone
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, defined by `make fuzz` only) swap in a deterministic
 * ike_random(), a cached HMAC context per digest and pooled DH key pairs with memoised shared
 * secrets, so that the engine fuzzer's handshakes are reproducible and cheap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "ike_crypto.h"

void ike_cleanse(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* fuzz builds only: a deterministic xorshift stream, restarted by ike_fuzz_reset() */
static uint64_t fuzz_rng = 0x9E3779B97F4A7C15ULL;

int ike_random(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		fuzz_rng ^= fuzz_rng >> 12;
		fuzz_rng ^= fuzz_rng << 25;
		fuzz_rng ^= fuzz_rng >> 27;
		b[i] = (uint8_t)((fuzz_rng * 0x2545F4914F6CDD1DULL) >> 56);
	}
	return 0;
}
#else
int ike_random(void *p, size_t n)
{
	if (n > INT32_MAX)
		return -EINVAL;
	return RAND_bytes(p, (int)n) == 1 ? 0 : -EIO;
}
#endif

int ike_memcmp_ct(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) ? 1 : 0;
}

/* ---- HMAC ------------------------------------------------------------------------------------ */

/* The digest behind an HMAC-based PRF; NULL if unknown. */
static const char *prf_digest(uint16_t prf, bool weak, size_t *len)
{
	switch (prf) {
	case IKE_PRF_HMAC_MD5:
		*len = 16;
		return weak ? "MD5" : NULL;
	case IKE_PRF_HMAC_SHA1:
		*len = 20;
		return "SHA1";
	case IKE_PRF_HMAC_SHA2_256:
		*len = 32;
		return "SHA256";
	case IKE_PRF_HMAC_SHA2_384:
		*len = 48;
		return "SHA384";
	case IKE_PRF_HMAC_SHA2_512:
		*len = 64;
		return "SHA512";
	}
	return NULL;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/*
 * Fuzz builds only: one HMAC context per digest, created once and re-keyed for every call, so
 * that an engine fuzz input does not spend its time fetching and allocating OpenSSL objects for
 * the dozens of PRF calls of each handshake. Same OpenSSL HMAC, same results.
 */
static int hmac(const char *digest, struct ike_chunk key, const struct ike_chunk *in, size_t n,
		uint8_t *out, size_t dlen)
{
	static const char *const names[] = { "MD5", "SHA1", "SHA256", "SHA384", "SHA512" };
	static EVP_MAC_CTX *ctxs[sizeof(names) / sizeof(names[0])];
	static const uint8_t empty[1];
	EVP_MAC_CTX *ctx = NULL;
	size_t outl = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i], digest))
			continue;
		if (!ctxs[i]) {
			EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
			OSSL_PARAM params[2];

			ctxs[i] = mac ? EVP_MAC_CTX_new(mac) : NULL;
			EVP_MAC_free(mac);
			params[0] = OSSL_PARAM_construct_utf8_string(
				OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)names[i], 0);
			params[1] = OSSL_PARAM_construct_end();
			if (ctxs[i] && !EVP_MAC_CTX_set_params(ctxs[i], params)) {
				EVP_MAC_CTX_free(ctxs[i]);
				ctxs[i] = NULL;
			}
		}
		ctx = ctxs[i];
	}
	if (!ctx || !EVP_MAC_init(ctx, key.len ? key.ptr : empty, key.len, NULL))
		return -EIO;
	for (size_t i = 0; i < n; i++)
		if (in[i].len && !EVP_MAC_update(ctx, in[i].ptr, in[i].len))
			return -EIO;
	if (!EVP_MAC_final(ctx, out, &outl, dlen) || outl != dlen)
		return -EIO;
	return 0;
}
#else
/* HMAC-digest(key, in...) into out (full digest length dlen). */
static int hmac(const char *digest, struct ike_chunk key, const struct ike_chunk *in, size_t n,
		uint8_t *out, size_t dlen)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *mac;
	size_t outl = 0;
	int err = -EIO;
	/* EVP_MAC_init() rejects a NULL key even with length 0 */
	static const uint8_t empty[1];

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		goto out_mac;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)(uintptr_t)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key.len ? key.ptr : empty, key.len, params))
		goto out_ctx;
	for (size_t i = 0; i < n; i++)
		if (in[i].len && !EVP_MAC_update(ctx, in[i].ptr, in[i].len))
			goto out_ctx;
	if (!EVP_MAC_final(ctx, out, &outl, dlen) || outl != dlen)
		goto out_ctx;
	err = 0;
out_ctx:
	EVP_MAC_CTX_free(ctx);
out_mac:
	EVP_MAC_free(mac);
	return err;
}
#endif

size_t ike_prf_len(uint16_t prf, bool weak)
{
	size_t len = 0;

	return prf_digest(prf, weak, &len) ? len : 0;
}

int ike_prf(uint16_t prf, struct ike_chunk key, const struct ike_chunk *in, size_t n, uint8_t *out)
{
	size_t len = 0;
	/* MD5 is refused by ike_prf_len() unless weak; a caller that got a length may use it */
	const char *d = prf_digest(prf, true, &len);

	if (!d)
		return -ENOTSUP;
	return hmac(d, key, in, n, out, len);
}

int ike_prf_plus(uint16_t prf, struct ike_chunk key, const struct ike_chunk *seed, size_t n,
		 uint8_t *out, size_t out_len)
{
	struct ike_chunk in[8];
	uint8_t t[IKE_PRF_MAX];
	size_t plen = 0, done = 0;
	uint8_t ctr;
	int err = 0;

	if (!prf_digest(prf, true, &plen))
		return -ENOTSUP;
	/* §2.13: the counter is one octet, so prf+ stops after 255 blocks */
	if (n > 6 || out_len > 255 * plen)
		return -EINVAL;
	/* T(i) = prf(K, T(i-1) | S | i), T(0) empty */
	for (ctr = 1; done < out_len; ctr++) {
		size_t k = 0, take;

		in[k++] = (struct ike_chunk){ t, ctr == 1 ? 0 : plen };
		for (size_t i = 0; i < n; i++)
			in[k++] = seed[i];
		in[k++] = (struct ike_chunk){ &ctr, 1 };
		err = ike_prf(prf, key, in, k, t);
		if (err)
			break;
		take = out_len - done < plen ? out_len - done : plen;
		memcpy(out + done, t, take);
		done += take;
	}
	ike_cleanse(t, sizeof(t));
	if (err)
		ike_cleanse(out, out_len);
	return err;
}

/* ---- integrity ------------------------------------------------------------------------------- */

static const char *integ_digest(uint16_t integ, bool weak, size_t *key_len, size_t *icv_len,
				size_t *dlen)
{
	switch (integ) {
	case IKE_INTEG_HMAC_MD5_96: /* RFC 2403 */
		*key_len = 16, *icv_len = 12, *dlen = 16;
		return weak ? "MD5" : NULL;
	case IKE_INTEG_HMAC_SHA1_96: /* RFC 2404 */
		*key_len = 20, *icv_len = 12, *dlen = 20;
		return "SHA1";
	case IKE_INTEG_HMAC_SHA2_256_128: /* RFC 4868 §2.1 */
		*key_len = 32, *icv_len = 16, *dlen = 32;
		return "SHA256";
	case IKE_INTEG_HMAC_SHA2_384_192:
		*key_len = 48, *icv_len = 24, *dlen = 48;
		return "SHA384";
	case IKE_INTEG_HMAC_SHA2_512_256:
		*key_len = 64, *icv_len = 32, *dlen = 64;
		return "SHA512";
	}
	return NULL;
}

int ike_integ_info(uint16_t integ, bool weak, size_t *key_len, size_t *icv_len)
{
	size_t dlen;

	return integ_digest(integ, weak, key_len, icv_len, &dlen) ? 0 : -ENOTSUP;
}

int ike_integ(uint16_t integ, struct ike_chunk key, const struct ike_chunk *in, size_t n,
	      uint8_t *icv)
{
	uint8_t full[IKE_PRF_MAX];
	size_t klen, ilen, dlen;
	const char *d = integ_digest(integ, true, &klen, &ilen, &dlen);
	int err;

	if (!d)
		return -ENOTSUP;
	if (key.len != klen)
		return -EINVAL;
	err = hmac(d, key, in, n, full, dlen);
	if (!err)
		memcpy(icv, full, ilen);
	ike_cleanse(full, sizeof(full));
	return err;
}

int ike_integ_verify(uint16_t integ, struct ike_chunk key, const struct ike_chunk *in, size_t n,
		     const uint8_t *icv)
{
	uint8_t mine[IKE_ICV_MAX];
	size_t klen, ilen, dlen;
	int err;

	if (!integ_digest(integ, true, &klen, &ilen, &dlen))
		return -ENOTSUP;
	err = ike_integ(integ, key, in, n, mine);
	if (!err && CRYPTO_memcmp(mine, icv, ilen))
		err = -EBADMSG;
	ike_cleanse(mine, sizeof(mine));
	return err;
}

/* ---- encryption ------------------------------------------------------------------------------ */

int ike_encr_info(uint16_t encr, uint16_t key_bits, bool esp, struct ike_encr_info *info)
{
	memset(info, 0, sizeof(*info));
	switch (encr) {
	case IKE_ENCR_AES_CBC:
		if (key_bits != 128 && key_bits != 192 && key_bits != 256)
			return -ENOTSUP;
		info->key_len = key_bits / 8;
		info->iv_len = 16;
		info->block = 16;
		return 0;
	case IKE_ENCR_AES_GCM_16:
		if (key_bits != 128 && key_bits != 192 && key_bits != 256)
			return -ENOTSUP;
		info->key_len = key_bits / 8 + IKE_GCM_SALT;
		info->iv_len = IKE_GCM_IV;
		info->block = 1;
		info->icv_len = IKE_GCM_ICV;
		info->aead = true;
		return 0;
	case IKE_ENCR_NULL: /* RFC 2410: ESP only, with an integrity transform */
		if (!esp || key_bits)
			return -ENOTSUP;
		info->block = 4;
		return 0;
	}
	return -ENOTSUP;
}

static const EVP_CIPHER *aes_cipher(uint16_t encr, size_t key_len)
{
	if (encr == IKE_ENCR_AES_CBC) {
		switch (key_len) {
		case 16:
			return EVP_aes_128_cbc();
		case 24:
			return EVP_aes_192_cbc();
		case 32:
			return EVP_aes_256_cbc();
		}
	} else if (encr == IKE_ENCR_AES_GCM_16) {
		switch (key_len) {
		case 16 + IKE_GCM_SALT:
			return EVP_aes_128_gcm();
		case 24 + IKE_GCM_SALT:
			return EVP_aes_192_gcm();
		case 32 + IKE_GCM_SALT:
			return EVP_aes_256_gcm();
		}
	}
	return NULL;
}

static int aes_crypt(bool enc, uint16_t encr, struct ike_chunk key, const uint8_t *iv,
		     struct ike_chunk aad, const uint8_t *in, size_t len, uint8_t *out,
		     uint8_t *tag)
{
	const EVP_CIPHER *c = aes_cipher(encr, key.len);
	bool gcm = encr == IKE_ENCR_AES_GCM_16;
	uint8_t nonce[IKE_GCM_SALT + IKE_GCM_IV];
	EVP_CIPHER_CTX *ctx;
	int outl, err = -EIO;

	if (!c)
		return encr == IKE_ENCR_AES_CBC || gcm ? -EINVAL : -ENOTSUP;
	if (len > INT32_MAX || aad.len > INT32_MAX || (!gcm && len % 16))
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc))
		goto out;
	if (gcm) {
		/* RFC 5282 §4: nonce = 4-byte salt from the key material | 8-byte IV */
		memcpy(nonce, key.ptr + key.len - IKE_GCM_SALT, IKE_GCM_SALT);
		memcpy(nonce + IKE_GCM_SALT, iv, IKE_GCM_IV);
		if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, sizeof(nonce), NULL) ||
		    !EVP_CipherInit_ex(ctx, NULL, NULL, key.ptr, nonce, enc))
			goto out;
		if (aad.len && !EVP_CipherUpdate(ctx, NULL, &outl, aad.ptr, (int)aad.len))
			goto out;
	} else {
		if (!EVP_CipherInit_ex(ctx, NULL, NULL, key.ptr, iv, enc) ||
		    !EVP_CIPHER_CTX_set_padding(ctx, 0))
			goto out;
	}
	if (len && !EVP_CipherUpdate(ctx, out, &outl, in, (int)len))
		goto out;
	if (gcm && !enc &&
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, IKE_GCM_ICV, (void *)(uintptr_t)tag))
		goto out;
	if (!EVP_CipherFinal_ex(ctx, out + len, &outl)) {
		/* GCM: tag mismatch. Nothing decrypted may be used: wipe it */
		err = gcm ? -EBADMSG : -EIO;
		ike_cleanse(out, len);
		goto out;
	}
	if (gcm && enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, IKE_GCM_ICV, tag))
		goto out;
	err = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int ike_encrypt(uint16_t encr, struct ike_chunk key, const uint8_t *iv, struct ike_chunk aad,
		const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	return aes_crypt(true, encr, key, iv, aad, in, len, out, tag);
}

int ike_decrypt(uint16_t encr, struct ike_chunk key, const uint8_t *iv, struct ike_chunk aad,
		const uint8_t *in, size_t len, uint8_t *out, const uint8_t *tag)
{
	return aes_crypt(false, encr, key, iv, aad, in, len, out, (uint8_t *)(uintptr_t)tag);
}

/* ---- Diffie-Hellman -------------------------------------------------------------------------- */

enum dh_kind {
	DH_MODP,
	DH_ECP,
	DH_X25519
};

struct dh_group_info {
	uint16_t id;
	enum dh_kind kind;
	const char *name; /* OpenSSL group name; NULL: explicit RFC 2409 prime */
	int nid;	  /* ECP curves */
	size_t pub_len;
	bool weak;
	bool check_q; /* RFC 6989 §2.2: y^q = 1 for groups with a small subgroup */
};

static const struct dh_group_info dh_groups[] = {
	{ IKE_DH_MODP1024, DH_MODP, NULL, 0, 128, true, false },
	{ IKE_DH_MODP2048, DH_MODP, "modp_2048", 0, 256, false, false },
	{ IKE_DH_MODP3072, DH_MODP, "modp_3072", 0, 384, false, false },
	{ IKE_DH_MODP4096, DH_MODP, "modp_4096", 0, 512, false, false },
	{ IKE_DH_MODP2048_256, DH_MODP, "dh_2048_256", 0, 256, false, true },
	{ IKE_DH_ECP256, DH_ECP, "prime256v1", NID_X9_62_prime256v1, 64, false, false },
	{ IKE_DH_ECP384, DH_ECP, "secp384r1", NID_secp384r1, 96, false, false },
	{ IKE_DH_ECP521, DH_ECP, "secp521r1", NID_secp521r1, 132, false, false },
	{ IKE_DH_CURVE25519, DH_X25519, "X25519", 0, 32, false, false },
};

struct ike_dh {
	const struct dh_group_info *g;
	EVP_PKEY *key;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	int slot; /* index in the group's fuzz pool; -1: a key of its own */
#endif
};

static const struct dh_group_info *dh_group(uint16_t id, bool weak)
{
	for (size_t i = 0; i < sizeof(dh_groups) / sizeof(dh_groups[0]); i++)
		if (dh_groups[i].id == id)
			return dh_groups[i].weak && !weak ? NULL : &dh_groups[i];
	return NULL;
}

size_t ike_dh_pub_len(uint16_t group, bool weak)
{
	const struct dh_group_info *g = dh_group(group, weak);

	return g ? g->pub_len : 0;
}

uint16_t ike_dh_group(const struct ike_dh *dh)
{
	return dh->g->id;
}

/*
 * Builds an EVP_PKEY of group g from the parts given (any may be NULL): domain parameters only,
 * a public key, or a key pair. selection is an EVP_PKEY_* selection.
 */
static EVP_PKEY *dh_fromdata(const struct dh_group_info *g, const BIGNUM *priv, const BIGNUM *pub,
			     const uint8_t *ec_pub, size_t ec_pub_len, int selection)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *p = NULL, *gen = NULL;
	int ok;

	if (!bld)
		return NULL;
	if (g->name) {
		ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->name, 0);
	} else {
		/* RFC 2409 §6.2 group 2, which OpenSSL has as a constant but not a named group */
		p = BN_get_rfc2409_prime_1024(NULL);
		gen = BN_new();
		ok = p && gen && BN_set_word(gen, 2) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, gen);
	}
	if (ok && priv)
		ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv);
	if (ok && pub)
		ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub);
	if (ok && ec_pub)
		ok = OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, ec_pub,
						      ec_pub_len);
	if (!ok)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, g->kind == DH_ECP ? "EC" : "DH", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, selection, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(p);
	BN_free(gen);
	return pkey;
}

/* A fresh key pair of group g; NULL on failure. */
static EVP_PKEY *dh_generate(const struct dh_group_info *g)
{
	EVP_PKEY *params = NULL, *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;

	switch (g->kind) {
	case DH_X25519:
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
		break;
	case DH_ECP:
	case DH_MODP:
		params = dh_fromdata(g, NULL, NULL, NULL, 0, EVP_PKEY_KEY_PARAMETERS);
		if (params)
			ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
		break;
	}
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_generate(ctx, &key) <= 0) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(params);
	return key;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/*
 * Fuzz builds only: each group has a pool of FUZZ_DH_POOL real key pairs, generated on first use
 * and handed out round robin (restarted by ike_fuzz_reset()), and the shared secret of any two
 * pool keys is derived for real once and then remembered. A peer value that is not a pool key
 * takes the real path. The results are exactly OpenSSL's; only the cost is gone.
 */
enum {
	FUZZ_DH_POOL = 4
};

struct fuzz_dh_group {
	EVP_PKEY *key[FUZZ_DH_POOL];
	uint8_t pub[FUZZ_DH_POOL][IKE_DH_PUB_MAX];
	uint8_t *shared[FUZZ_DH_POOL][FUZZ_DH_POOL];
	size_t shared_len[FUZZ_DH_POOL][FUZZ_DH_POOL];
	unsigned int next;
};

static struct fuzz_dh_group fuzz_dh[sizeof(dh_groups) / sizeof(dh_groups[0])];

void ike_fuzz_reset(uint64_t seed)
{
	fuzz_rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < sizeof(fuzz_dh) / sizeof(fuzz_dh[0]); i++)
		fuzz_dh[i].next = 0;
}

static struct fuzz_dh_group *fuzz_dh_of(const struct dh_group_info *g)
{
	return &fuzz_dh[g - dh_groups];
}

static int dh_derive_real(struct ike_dh *dh, const uint8_t *peer, size_t len,
			  struct ike_secret *shared);

struct ike_dh *ike_dh_new(uint16_t group, bool weak)
{
	const struct dh_group_info *g = dh_group(group, weak);
	struct fuzz_dh_group *f;
	struct ike_dh *dh;
	unsigned int s;

	if (!g) {
		errno = ENOTSUP;
		return NULL;
	}
	f = fuzz_dh_of(g);
	s = f->next++ % FUZZ_DH_POOL;
	if (!f->key[s]) {
		struct ike_dh tmp = { .g = g, .slot = -1 };

		tmp.key = dh_generate(g);
		if (!tmp.key || ike_dh_public(&tmp, f->pub[s], g->pub_len)) {
			EVP_PKEY_free(tmp.key);
			errno = EIO;
			return NULL;
		}
		f->key[s] = tmp.key;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh || !EVP_PKEY_up_ref(f->key[s])) {
		free(dh);
		errno = ENOMEM;
		return NULL;
	}
	dh->g = g;
	dh->key = f->key[s];
	dh->slot = (int)s;
	return dh;
}

int ike_dh_derive(struct ike_dh *dh, const uint8_t *peer, size_t len, struct ike_secret *shared)
{
	struct fuzz_dh_group *f = fuzz_dh_of(dh->g);
	unsigned int j;
	uint8_t **memo;
	int err;

	if (dh->slot < 0 || len != dh->g->pub_len)
		return dh_derive_real(dh, peer, len, shared);
	for (j = 0; j < FUZZ_DH_POOL; j++)
		if (f->key[j] && !memcmp(f->pub[j], peer, len))
			break;
	if (j == FUZZ_DH_POOL)
		return dh_derive_real(dh, peer, len, shared);
	memo = &f->shared[dh->slot][j];
	if (!*memo) {
		err = dh_derive_real(dh, peer, len, shared);
		if (err)
			return err;
		*memo = malloc(shared->len);
		if (*memo) {
			memcpy(*memo, shared->ptr, shared->len);
			f->shared_len[dh->slot][j] = shared->len;
		}
		return 0;
	}
	return ike_secret_set(shared, *memo, f->shared_len[dh->slot][j]);
}
#else
struct ike_dh *ike_dh_new(uint16_t group, bool weak)
{
	const struct dh_group_info *g = dh_group(group, weak);
	struct ike_dh *dh;

	if (!g) {
		errno = ENOTSUP;
		return NULL;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		errno = ENOMEM;
		return NULL;
	}
	dh->g = g;
	dh->key = dh_generate(g);
	if (!dh->key) {
		free(dh);
		errno = EIO;
		return NULL;
	}
	return dh;
}
#endif

/* g^x mod p for the group's parameters (known-answer key pairs only). */
static BIGNUM *modp_pub(const struct dh_group_info *g, const BIGNUM *x)
{
	EVP_PKEY *params = dh_fromdata(g, NULL, NULL, NULL, 0, EVP_PKEY_KEY_PARAMETERS);
	BIGNUM *p = NULL, *gen = NULL, *y = NULL;
	BN_CTX *bnctx = BN_CTX_new();

	if (params && bnctx && EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_P, &p) &&
	    EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_G, &gen)) {
		y = BN_new();
		if (y && !BN_mod_exp(y, gen, x, p, bnctx)) {
			BN_free(y);
			y = NULL;
		}
	}
	BN_free(p);
	BN_free(gen);
	BN_CTX_free(bnctx);
	EVP_PKEY_free(params);
	return y;
}

/* Uncompressed point d*G (known-answer key pairs only); writes 1 + 2 * field bytes. */
static int ecp_pub(const struct dh_group_info *g, const BIGNUM *d, uint8_t *out, size_t len)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(g->nid);
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BN_CTX *bnctx = BN_CTX_new();
	int err = -EIO;

	if (pt && bnctx && EC_POINT_mul(grp, pt, d, NULL, NULL, bnctx) &&
	    EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, out, len, bnctx) == len)
		err = 0;
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	BN_CTX_free(bnctx);
	return err;
}

struct ike_dh *ike_dh_new_priv(uint16_t group, bool weak, const uint8_t *priv, size_t len)
{
	const struct dh_group_info *g = dh_group(group, weak);
	uint8_t ecbuf[1 + IKE_DH_PUB_MAX];
	BIGNUM *x = NULL, *y = NULL;
	struct ike_dh *dh;

	if (!g || len > INT32_MAX) {
		errno = ENOTSUP;
		return NULL;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		errno = ENOMEM;
		return NULL;
	}
	dh->g = g;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	dh->slot = -1;
#endif
	if (g->kind == DH_X25519) {
		dh->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, len);
	} else {
		x = BN_bin2bn(priv, (int)len, NULL);
		if (x && g->kind == DH_MODP) {
			y = modp_pub(g, x);
			if (y)
				dh->key = dh_fromdata(g, x, y, NULL, 0, EVP_PKEY_KEYPAIR);
		} else if (x && !ecp_pub(g, x, ecbuf, 1 + g->pub_len)) {
			dh->key = dh_fromdata(g, x, NULL, ecbuf, 1 + g->pub_len, EVP_PKEY_KEYPAIR);
		}
	}
	BN_clear_free(x);
	BN_free(y);
	if (!dh->key) {
		free(dh);
		errno = EIO;
		return NULL;
	}
	return dh;
}

int ike_dh_public(const struct ike_dh *dh, uint8_t *out, size_t len)
{
	uint8_t ecbuf[1 + IKE_DH_PUB_MAX];
	BIGNUM *y = NULL;
	size_t l = 0;
	int err = -EIO;

	if (len != dh->g->pub_len)
		return -EINVAL;
	switch (dh->g->kind) {
	case DH_X25519:
		l = len;
		if (EVP_PKEY_get_raw_public_key(dh->key, out, &l) && l == len)
			err = 0;
		break;
	case DH_ECP:
		/* OpenSSL encodes 0x04 | x | y; RFC 5903 §7 sends x | y */
		if (EVP_PKEY_get_octet_string_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, ecbuf,
						    sizeof(ecbuf), &l) &&
		    l == len + 1 && ecbuf[0] == POINT_CONVERSION_UNCOMPRESSED) {
			memcpy(out, ecbuf + 1, len);
			err = 0;
		}
		break;
	case DH_MODP:
		/* §3.4: the value is padded with zeros on the left to the length of p */
		if (EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, &y) &&
		    BN_bn2binpad(y, out, (int)len) == (int)len)
			err = 0;
		BN_free(y);
		break;
	}
	return err;
}

/* RFC 6989 §2.1/§2.2: 1 < y < p-1, and y^q = 1 mod p where the group has a small subgroup. */
static int modp_check_peer(const struct ike_dh *dh, const BIGNUM *y)
{
	BIGNUM *p = NULL, *q = NULL, *pm1 = NULL, *r = NULL;
	BN_CTX *bnctx = BN_CTX_new();
	int err = -EIO;

	if (!bnctx || !EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_FFC_P, &p))
		goto out;
	pm1 = BN_dup(p);
	if (!pm1 || !BN_sub_word(pm1, 1))
		goto out;
	err = -EBADMSG;
	if (BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, pm1) >= 0)
		goto out;
	if (dh->g->check_q) {
		err = -EIO;
		r = BN_new();
		if (!r || !EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_FFC_Q, &q) ||
		    !BN_mod_exp(r, y, q, p, bnctx))
			goto out;
		err = BN_is_one(r) ? 0 : -EBADMSG;
		goto out;
	}
	err = 0;
out:
	BN_free(p);
	BN_free(q);
	BN_free(pm1);
	BN_free(r);
	BN_CTX_free(bnctx);
	return err;
}

/* The peer's public value as an EVP_PKEY of our group, validated; NULL with *err set. */
static EVP_PKEY *dh_peer_key(const struct ike_dh *dh, const uint8_t *peer, size_t len, int *err)
{
	uint8_t ecbuf[1 + IKE_DH_PUB_MAX];
	EVP_PKEY_CTX *chk = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *y = NULL;

	*err = -EBADMSG;
	switch (dh->g->kind) {
	case DH_X25519:
		/* every 32-byte string is a valid u; the all-zero result is checked after derive */
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, len);
		if (!pkey)
			*err = -EIO;
		break;
	case DH_ECP:
		/* RFC 5903 §7: x | y; rebuild the uncompressed SEC1 point so that OpenSSL
		 * decodes (and checks) both coordinates */
		ecbuf[0] = POINT_CONVERSION_UNCOMPRESSED;
		memcpy(ecbuf + 1, peer, len);
		pkey = dh_fromdata(dh->g, NULL, NULL, ecbuf, len + 1, EVP_PKEY_PUBLIC_KEY);
		if (!pkey)
			break; /* not on the curve, or coordinates >= p */
		/* RFC 6989 §2.3: on the curve and not the point at infinity. All three curves
		 * have cofactor 1, so this is the whole check */
		chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (!chk || EVP_PKEY_public_check_quick(chk) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(chk);
		break;
	case DH_MODP:
		y = BN_bin2bn(peer, (int)len, NULL);
		if (!y) {
			*err = -ENOMEM;
			break;
		}
		*err = modp_check_peer(dh, y);
		if (!*err) {
			pkey = dh_fromdata(dh->g, NULL, y, NULL, 0, EVP_PKEY_PUBLIC_KEY);
			*err = pkey ? 0 : -EIO;
		}
		BN_free(y);
		break;
	}
	if (pkey)
		*err = 0;
	return pkey;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static int dh_derive_real(struct ike_dh *dh, const uint8_t *peer, size_t len,
			  struct ike_secret *shared)
#else
int ike_dh_derive(struct ike_dh *dh, const uint8_t *peer, size_t len, struct ike_secret *shared)
#endif
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk;
	size_t slen = 0, i;
	uint8_t acc = 0;
	int err;

	ike_secret_free(shared);
	if (len != dh->g->pub_len)
		return -EINVAL;
	pk = dh_peer_key(dh, peer, len, &err);
	if (!pk)
		return err;
	err = -EIO;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
		goto out;
	/* §2.14: g^ir is padded on the left to the length of p */
	if (dh->g->kind == DH_MODP && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0)
		goto out;
	/* the value was validated above; OpenSSL's full DH check would cost another modexp */
	if (EVP_PKEY_derive_set_peer_ex(ctx, pk, 0) <= 0 || EVP_PKEY_derive(ctx, NULL, &slen) <= 0)
		goto out;
	err = ike_secret_alloc(shared, slen);
	if (err)
		goto out;
	/* OpenSSL itself refuses an all-zero X25519 result (RFC 7748 §6.1): a bad peer value */
	err = dh->g->kind == DH_X25519 ? -EBADMSG : -EIO;
	if (EVP_PKEY_derive(ctx, shared->ptr, &slen) <= 0)
		goto out_free;
	shared->len = slen;
	/* RFC 8031 §2.3 / RFC 7748 §6.1: reject an all-zero X25519 result (small-order peer) */
	for (i = 0; i < slen; i++)
		acc |= shared->ptr[i];
	if (!acc) {
		err = -EBADMSG;
		goto out_free;
	}
	err = 0;
	goto out;
out_free:
	ike_secret_free(shared);
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return err;
}

void ike_dh_free(struct ike_dh *dh)
{
	if (!dh)
		return;
	EVP_PKEY_free(dh->key); /* OpenSSL clears private key material when it frees it */
	free(dh);
}

/* ---- key schedule ---------------------------------------------------------------------------- */

void ike_sa_keys_free(struct ike_sa_keys *k)
{
	ike_secret_free(&k->sk_d);
	ike_secret_free(&k->sk_ai);
	ike_secret_free(&k->sk_ar);
	ike_secret_free(&k->sk_ei);
	ike_secret_free(&k->sk_er);
	ike_secret_free(&k->sk_pi);
	ike_secret_free(&k->sk_pr);
}

void ike_child_keys_free(struct ike_child_keys *k)
{
	ike_secret_free(&k->ei);
	ike_secret_free(&k->ai);
	ike_secret_free(&k->er);
	ike_secret_free(&k->ar);
}

/* out = prf(key, in...) as a fresh secret of the PRF's length. */
static int prf_secret(uint16_t prf, struct ike_chunk key, const struct ike_chunk *in, size_t n,
		      struct ike_secret *out)
{
	size_t len = ike_prf_len(prf, true);
	int err;

	ike_secret_free(out);
	if (!len)
		return -ENOTSUP;
	err = ike_secret_alloc(out, len);
	if (!err)
		err = ike_prf(prf, key, in, n, out->ptr);
	if (err)
		ike_secret_free(out);
	return err;
}

int ike_kdf_skeyseed(uint16_t prf, struct ike_chunk ni, struct ike_chunk nr, struct ike_chunk gir,
		     struct ike_secret *skeyseed)
{
	struct ike_secret key = { 0 };
	int err;

	/* the key is Ni | Nr in full: every supported PRF is HMAC, which takes any key length
	 * (§2.14's truncation rule applies only to fixed-key PRFs such as AES-XCBC) */
	err = ike_secret_alloc(&key, ni.len + nr.len);
	if (err)
		return err;
	memcpy(key.ptr, ni.ptr, ni.len);
	memcpy(key.ptr + ni.len, nr.ptr, nr.len);
	err = prf_secret(prf, ike_secret_chunk(&key), &gir, 1, skeyseed);
	ike_secret_free(&key);
	return err;
}

int ike_kdf_skeyseed_rekey(uint16_t prf, struct ike_chunk old_sk_d, struct ike_chunk gir,
			   struct ike_chunk ni, struct ike_chunk nr, struct ike_secret *skeyseed)
{
	const struct ike_chunk in[3] = { gir, ni, nr };

	return prf_secret(prf, old_sk_d, in, 3, skeyseed);
}

/* Cuts the next len bytes of km into s. */
static int take_key(struct ike_secret *s, const uint8_t *km, size_t *off, size_t len)
{
	int err = ike_secret_set(s, km + *off, len);

	*off += len;
	return err;
}

int ike_kdf_sa_keys(const struct ike_suite *s, struct ike_chunk skeyseed, struct ike_chunk ni,
		    struct ike_chunk nr, const uint8_t spi_i[IKE_SPI_LEN],
		    const uint8_t spi_r[IKE_SPI_LEN], struct ike_sa_keys *keys)
{
	const struct ike_chunk seed[4] = { ni, nr, { spi_i, IKE_SPI_LEN }, { spi_r, IKE_SPI_LEN } };
	size_t plen = ike_prf_len(s->prf, s->weak), alen = 0, icv, off = 0;
	struct ike_secret km = { 0 };
	struct ike_encr_info ei;
	int err;

	ike_sa_keys_free(keys);
	if (!plen || ike_encr_info(s->encr, s->encr_bits, false, &ei))
		return -ENOTSUP;
	if (ei.aead ? s->integ != IKE_INTEG_NONE : ike_integ_info(s->integ, s->weak, &alen, &icv))
		return -ENOTSUP;
	err = ike_secret_alloc(&km, 3 * plen + 2 * alen + 2 * ei.key_len);
	if (err)
		return err;
	err = ike_prf_plus(s->prf, skeyseed, seed, 4, km.ptr, km.len);
	if (!err)
		err = take_key(&keys->sk_d, km.ptr, &off, plen) ?:
		      take_key(&keys->sk_ai, km.ptr, &off, alen) ?:
		      take_key(&keys->sk_ar, km.ptr, &off, alen) ?:
		      take_key(&keys->sk_ei, km.ptr, &off, ei.key_len) ?:
		      take_key(&keys->sk_er, km.ptr, &off, ei.key_len) ?:
		      take_key(&keys->sk_pi, km.ptr, &off, plen) ?:
		      take_key(&keys->sk_pr, km.ptr, &off, plen);
	ike_secret_free(&km);
	if (err)
		ike_sa_keys_free(keys);
	return err;
}

int ike_kdf_keymat(uint16_t prf, struct ike_chunk sk_d, struct ike_chunk gir, struct ike_chunk ni,
		   struct ike_chunk nr, size_t len, struct ike_secret *keymat)
{
	const struct ike_chunk seed[3] = { gir, ni, nr };
	int err;

	ike_secret_free(keymat);
	err = ike_secret_alloc(keymat, len);
	if (!err)
		err = ike_prf_plus(prf, sk_d, seed, 3, keymat->ptr, len);
	if (err)
		ike_secret_free(keymat);
	return err;
}

int ike_kdf_child_keys(uint16_t prf, const struct ike_suite *esp, struct ike_chunk sk_d,
		       struct ike_chunk gir, struct ike_chunk ni, struct ike_chunk nr,
		       struct ike_child_keys *keys)
{
	struct ike_secret km = { 0 };
	struct ike_encr_info ei;
	size_t alen = 0, icv, off = 0;
	int err;

	ike_child_keys_free(keys);
	if (ike_encr_info(esp->encr, esp->encr_bits, true, &ei))
		return -ENOTSUP;
	if (esp->integ != IKE_INTEG_NONE && ike_integ_info(esp->integ, esp->weak, &alen, &icv))
		return -ENOTSUP;
	/* an AEAD has no integrity transform; anything else needs one (NULL+NONE is refused) */
	if (ei.aead != (esp->integ == IKE_INTEG_NONE))
		return -ENOTSUP;
	/* §2.17: encryption key then integrity key, initiator->responder first. For GCM the
	 * salt is the last 4 bytes of each encryption key (RFC 4106 §8.1) */
	err = ike_kdf_keymat(prf, sk_d, gir, ni, nr, 2 * (ei.key_len + alen), &km);
	if (err)
		return err;
	err = take_key(&keys->ei, km.ptr, &off, ei.key_len) ?:
	      take_key(&keys->ai, km.ptr, &off, alen) ?:
	      take_key(&keys->er, km.ptr, &off, ei.key_len) ?:
	      take_key(&keys->ar, km.ptr, &off, alen);
	ike_secret_free(&km);
	if (err)
		ike_child_keys_free(keys);
	return err;
}

/* ---- authentication -------------------------------------------------------------------------- */

int ike_auth_octets(uint16_t prf, struct ike_chunk msg, struct ike_chunk peer_nonce,
		    struct ike_chunk sk_p, struct ike_chunk id_body, struct ike_wbuf *out)
{
	uint8_t mac[IKE_PRF_MAX];
	size_t plen = ike_prf_len(prf, true);
	int err;

	if (!plen)
		return -ENOTSUP;
	err = ike_prf(prf, sk_p, &id_body, 1, mac);
	if (err)
		return err;
	ike_wbuf_put(out, msg.ptr, msg.len);
	ike_wbuf_put(out, peer_nonce.ptr, peer_nonce.len);
	ike_wbuf_put(out, mac, plen);
	ike_cleanse(mac, sizeof(mac));
	return out->err;
}

int ike_auth_psk(uint16_t prf, struct ike_chunk psk, struct ike_chunk octets, uint8_t *out)
{
	static const char pad[] = "Key Pad for IKEv2"; /* §2.15, 17 octets, no NUL */
	const struct ike_chunk padc = { (const uint8_t *)pad, sizeof(pad) - 1 };
	uint8_t k[IKE_PRF_MAX];
	size_t plen = ike_prf_len(prf, true);
	int err;

	if (!plen)
		return -ENOTSUP;
	err = ike_prf(prf, psk, &padc, 1, k);
	if (!err)
		err = ike_prf(prf, (struct ike_chunk){ k, plen }, &octets, 1, out);
	ike_cleanse(k, sizeof(k));
	return err;
}

int ike_sha1(const struct ike_chunk *in, size_t n, uint8_t out[20])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int err = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha1(), NULL))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (in[i].len && !EVP_DigestUpdate(ctx, in[i].ptr, in[i].len))
			goto out;
	if (EVP_DigestFinal_ex(ctx, out, &olen) && olen == 20)
		err = 0;
out:
	EVP_MD_CTX_free(ctx);
	return err;
}
