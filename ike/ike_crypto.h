/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Cryptography of the IKE engine, keyed by IANA transform ids (ike_const.h): PRFs and prf+
 * (RFC 7296 §2.13), integrity (RFC 4868), encryption (AES-CBC RFC 3602, AES-GCM-16 RFC 5282),
 * Diffie-Hellman/ECDH with peer public value validation (RFC 6989), the key schedule (§2.14,
 * §2.17, §2.18) and the PSK AUTH value (§2.15). ike_crypto.c is the only file of the project that
 * calls OpenSSL (EVP only for primitives; BIGNUM/EC_POINT only to check peer values and to derive
 * a public key from a known-answer private key).
 *
 * Conventions: functions return 0 or -errno (-ENOTSUP for an unknown or disabled algorithm,
 * -EINVAL for bad sizes, -EBADMSG for an invalid peer value or a failed integrity check,
 * -EIO for an OpenSSL failure). Outputs that are secret are struct ike_secret, freed by the
 * caller (on failure they are left empty). "weak" enables MD5-based integrity/PRF and MODP 1024,
 * which RFC 8247 forbids by default.
 */
#ifndef IKE_CRYPTO_H
#define IKE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_buf.h"
#include "ike_const.h"

enum ike_crypto_limits {
	IKE_PRF_MAX = 64,     /* largest PRF output (SHA-512), bytes */
	IKE_ICV_MAX = 32,     /* largest ICV (HMAC-SHA2-512-256), bytes */
	IKE_IV_MAX = 16,      /* largest IV on the wire (AES-CBC) */
	IKE_KEY_MAX = 36,     /* largest encryption key (AES-256 + 4-byte GCM salt) */
	IKE_DH_PUB_MAX = 512, /* largest KE data (MODP 4096) */
	IKE_GCM_SALT = 4,     /* RFC 5282 §7.1: 4 salt bytes at the end of SK_e */
	IKE_GCM_IV = 8,	      /* RFC 5282 §3.1: 8-byte explicit IV */
	IKE_GCM_ICV = 16,     /* AES-GCM-16 */
	IKE_PRF_PLUS_MAX = 255 * IKE_PRF_MAX, /* §2.13: at most 255 iterations */
};

/* Zeroes n bytes at p in a way the compiler cannot elide (OPENSSL_cleanse). */
void ike_cleanse(void *p, size_t n);
/* Fills p with n bytes from the CSPRNG (nonces, SPIs, IVs, padding). 0 or -EIO. */
int ike_random(void *p, size_t n);
/* Constant-time comparison: 0 if equal. */
int ike_memcmp_ct(const void *a, const void *b, size_t n);

/* out[0..20) = SHA-1(in[0] | ... | in[n-1]): NAT_DETECTION_* hashes (RFC 7296 §2.23). */
int ike_sha1(const struct ike_chunk *in, size_t n, uint8_t out[20]);

/* ---- PRF (RFC 7296 §2.13, RFC 4868) ---------------------------------------------------------- */

/* Output (and preferred key) length of PRF prf in bytes, or 0 if unsupported. */
size_t ike_prf_len(uint16_t prf, bool weak);
/* out[0..ike_prf_len) = prf(key, in[0] | in[1] | ... | in[n-1]). */
int ike_prf(uint16_t prf, struct ike_chunk key, const struct ike_chunk *in, size_t n, uint8_t *out);
/* out = the first out_len bytes of prf+(key, seed[0] | ... ). out_len <= 255 * prf_len. */
int ike_prf_plus(uint16_t prf, struct ike_chunk key, const struct ike_chunk *seed, size_t n,
		 uint8_t *out, size_t out_len);

/* ---- integrity (RFC 7296 §3.14, RFC 4868 §2) ------------------------------------------------- */

/* Key and ICV lengths of integrity algorithm integ; -ENOTSUP if unknown or weak and !weak. */
int ike_integ_info(uint16_t integ, bool weak, size_t *key_len, size_t *icv_len);
/* icv[0..icv_len) = truncated HMAC(key, in[0] | ... ). */
int ike_integ(uint16_t integ, struct ike_chunk key, const struct ike_chunk *in, size_t n,
	      uint8_t *icv);
/* 0 if icv matches (constant time), -EBADMSG if not. */
int ike_integ_verify(uint16_t integ, struct ike_chunk key, const struct ike_chunk *in, size_t n,
		     const uint8_t *icv);

/* ---- encryption ------------------------------------------------------------------------------ */

/* What the SK payload codec needs to know about a cipher. */
struct ike_encr_info {
	size_t key_len; /* bytes of SK_e / KEYMAT per direction, including a GCM salt */
	size_t iv_len;	/* IV bytes carried on the wire */
	size_t block;	/* padding boundary of the plaintext (1 for GCM) */
	size_t icv_len; /* AEAD tag length; 0 for CBC (integrity transform provides it) */
	bool aead;	/* no separate integrity transform */
};

/*
 * Lengths for ENCR id with key length key_bits (the Key Length attribute; 0 means "none sent",
 * which is an error for AES). esp allows ENCR_NULL (key_len 0, iv 0, block 4), which IKE SAs
 * never use. -ENOTSUP for anything else.
 */
int ike_encr_info(uint16_t encr, uint16_t key_bits, bool esp, struct ike_encr_info *info);
/*
 * One-shot encryption/decryption of len bytes in -> out (may alias). key is key_len bytes as
 * ike_encr_info() reports; iv is iv_len bytes. CBC: len must be a multiple of 16, aad and tag are
 * unused. GCM (RFC 5282 §3-§5): nonce = salt (last 4 key bytes) | iv, aad is authenticated,
 * tag is 16 bytes written by encrypt and checked by decrypt (-EBADMSG if wrong).
 */
int ike_encrypt(uint16_t encr, struct ike_chunk key, const uint8_t *iv, struct ike_chunk aad,
		const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag);
int ike_decrypt(uint16_t encr, struct ike_chunk key, const uint8_t *iv, struct ike_chunk aad,
		const uint8_t *in, size_t len, uint8_t *out, const uint8_t *tag);

/* ---- Diffie-Hellman / ECDH (RFC 7296 §3.4, RFC 3526, RFC 5114, RFC 5903, RFC 8031) --------- */

struct ike_dh;

/* Length of the KE payload data for group, or 0 if unsupported (or MODP 1024 and !weak). */
size_t ike_dh_pub_len(uint16_t group, bool weak);
/* A fresh ephemeral key pair in group. NULL with errno ENOTSUP/ENOMEM/EIO. */
struct ike_dh *ike_dh_new(uint16_t group, bool weak);
/*
 * A key pair from a known private value (big-endian; for X25519 the 32-byte scalar), for
 * known-answer tests only: the engine always uses ike_dh_new().
 */
struct ike_dh *ike_dh_new_priv(uint16_t group, bool weak, const uint8_t *priv, size_t len);
uint16_t ike_dh_group(const struct ike_dh *dh);
/* Writes the public value in KE payload form (MODP: left-padded to |p|; ECP: x | y; X25519: u).
 * len must equal ike_dh_pub_len(). */
int ike_dh_public(const struct ike_dh *dh, uint8_t *out, size_t len);
/*
 * Validates the peer's public value (RFC 6989 §2: MODP 1 < y < p-1 and, for group 24, y^q = 1
 * mod p; ECP: on the curve, not the identity; X25519: shared secret not all zero) and computes
 * the shared secret g^ir (MODP left-padded to |p|, ECP the x coordinate, X25519 32 bytes) into
 * *shared. -EBADMSG for an invalid peer value (INVALID_SYNTAX per RFC 6989), -EINVAL on a
 * length mismatch (the caller checks the KE payload's group first).
 */
int ike_dh_derive(struct ike_dh *dh, const uint8_t *peer, size_t len, struct ike_secret *shared);
/* Frees the key pair (OpenSSL clears private key memory). Accepts NULL. */
void ike_dh_free(struct ike_dh *dh);

/* ---- key schedule (RFC 7296 §2.14, §2.17, §2.18) --------------------------------------------- */

/* The negotiated algorithms of an IKE SA (or, with esp set, of a CHILD SA for its KEYMAT). */
struct ike_suite {
	uint16_t encr;
	uint16_t encr_bits; /* Key Length attribute */
	uint16_t integ;	    /* IKE_INTEG_NONE with an AEAD cipher */
	uint16_t prf;	    /* unused for CHILD SAs (they use the IKE SA's PRF) */
	uint16_t dh;
	bool weak;
};

/* The seven IKE SA keys of §2.14, each with the length the suite requires. */
struct ike_sa_keys {
	struct ike_secret sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
};

/* The four CHILD SA keys of §2.17, in KEYMAT order. GCM keys include the 4-byte salt. */
struct ike_child_keys {
	struct ike_secret ei, ai; /* initiator -> responder */
	struct ike_secret er, ar; /* responder -> initiator */
};

void ike_sa_keys_free(struct ike_sa_keys *k);
void ike_child_keys_free(struct ike_child_keys *k);

/* SKEYSEED = prf(Ni | Nr, g^ir) (§2.14). */
int ike_kdf_skeyseed(uint16_t prf, struct ike_chunk ni, struct ike_chunk nr, struct ike_chunk gir,
		     struct ike_secret *skeyseed);
/* SKEYSEED = prf(SK_d (old), [g^ir (new)] | Ni | Nr) (§2.18); gir.len 0 without KE. */
int ike_kdf_skeyseed_rekey(uint16_t prf, struct ike_chunk old_sk_d, struct ike_chunk gir,
			   struct ike_chunk ni, struct ike_chunk nr, struct ike_secret *skeyseed);
/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr),
 * split by the suite's lengths (§2.14). */
int ike_kdf_sa_keys(const struct ike_suite *s, struct ike_chunk skeyseed, struct ike_chunk ni,
		    struct ike_chunk nr, const uint8_t spi_i[IKE_SPI_LEN],
		    const uint8_t spi_r[IKE_SPI_LEN], struct ike_sa_keys *keys);
/* KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr), len bytes (§2.17); gir.len 0 without PFS. */
int ike_kdf_keymat(uint16_t prf, struct ike_chunk sk_d, struct ike_chunk gir, struct ike_chunk ni,
		   struct ike_chunk nr, size_t len, struct ike_secret *keymat);
/* KEYMAT split into the CHILD SA keys for esp suite s (encr/encr_bits/integ; esp rules). */
int ike_kdf_child_keys(uint16_t prf, const struct ike_suite *esp, struct ike_chunk sk_d,
		       struct ike_chunk gir, struct ike_chunk ni, struct ike_chunk nr,
		       struct ike_child_keys *keys);

/* ---- authentication (RFC 7296 §2.15) --------------------------------------------------------- */

/*
 * The octets a side signs or MACs: its own first message (IKE_SA_INIT request or response),
 * the peer's nonce data, and prf(SK_p, ID') where ID' is the ID payload body without its generic
 * header (ID type, 3 reserved bytes, data) and SK_p is SK_pi for the initiator, SK_pr for the
 * responder. Appended to *out (check out->err).
 */
int ike_auth_octets(uint16_t prf, struct ike_chunk msg, struct ike_chunk peer_nonce,
		    struct ike_chunk sk_p, struct ike_chunk id_body, struct ike_wbuf *out);
/* AUTH = prf(prf(PSK, "Key Pad for IKEv2"), octets); out holds ike_prf_len() bytes. */
int ike_auth_psk(uint16_t prf, struct ike_chunk psk, struct ike_chunk octets, uint8_t *out);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/*
 * Fuzz builds only (`make fuzz` defines the macro; no other build does): ike_random() is a
 * deterministic stream and ike_dh_new() hands out key pairs from a small per-group pool of real
 * key pairs whose shared secrets are memoised, so that a fuzz input is reproducible and its
 * handshakes cost no DH. ike_fuzz_reset() restarts the stream (from seed) and the pools' round
 * robin; a harness calls it at the start of each input.
 */
void ike_fuzz_reset(uint64_t seed);
#endif

#endif /* IKE_CRYPTO_H */
