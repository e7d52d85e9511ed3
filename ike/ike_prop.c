// SPDX-License-Identifier: GPL-2.0-only
/*
 * IKEv2 proposals: the strongSwan-style proposal strings operators write ("aes256-sha256-ecp384",
 * "aes256gcm16-prfsha384-ecp384", "null-md5"), their formatting back to that form for status and
 * "no proposal chosen" logs, the responder's choice of one transform per type from the peer's
 * offer (RFC 7296 §2.7, §3.3), the initiator's check of the responder's answer, and the small DH
 * helpers the KE payload and INVALID_KE_PAYLOAD need. Pure functions over the fixed-size structs
 * of ike_prop.h: no allocation, no I/O, no global mutable state. The order in which preferences
 * win is documented in ike_prop.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ike_prop.h"

enum prop_kw_flags {
	KW_WEAK = 1 << 0,     /* refused unless IKE_PROP_ALLOW_WEAK */
	KW_ESP_ONLY = 1 << 1, /* NULL encryption, DH 'none', ESN */
	KW_IKE_ONLY = 1 << 2, /* PRF */
};

enum prop_limits {
	PROP_KW_MAX = 32, /* longest keyword we print in an error, bytes */
	PROP_TYPE_MAX = IKE_TRANS_ESN,
};

struct prop_kw {
	const char *name;
	uint8_t type;
	uint16_t id;
	uint16_t keylen;
	uint8_t flags;
};

/*
 * The keywords we accept, with strongSwan's names. Where several names map to one transform the
 * first is the one ike_prop_format() prints. Only algorithms the engine implements are here:
 * anything else is refused at configuration time rather than negotiated and then failing.
 */
static const struct prop_kw prop_kws[] = {
	{ "aes128", IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 128, 0 },
	{ "aes192", IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 192, 0 },
	{ "aes256", IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 256, 0 },
	{ "aes", IKE_TRANS_ENCR, IKE_ENCR_AES_CBC, 128, 0 },
	{ "aes128gcm16", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128, 0 },
	{ "aes192gcm16", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 192, 0 },
	{ "aes256gcm16", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 256, 0 },
	{ "aes128gcm128", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128, 0 },
	{ "aes192gcm128", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 192, 0 },
	{ "aes256gcm128", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 256, 0 },
	{ "aes128gcm", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 128, 0 },
	{ "aes192gcm", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 192, 0 },
	{ "aes256gcm", IKE_TRANS_ENCR, IKE_ENCR_AES_GCM_16, 256, 0 },
	{ "null", IKE_TRANS_ENCR, IKE_ENCR_NULL, 0, KW_ESP_ONLY },
	{ "sha1", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA1_96, 0, 0 },
	{ "sha", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA1_96, 0, 0 },
	{ "sha256", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0, 0 },
	{ "sha2_256", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0, 0 },
	{ "sha384", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_384_192, 0, 0 },
	{ "sha2_384", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_384_192, 0, 0 },
	{ "sha512", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_512_256, 0, 0 },
	{ "sha2_512", IKE_TRANS_INTEG, IKE_INTEG_HMAC_SHA2_512_256, 0, 0 },
	{ "md5", IKE_TRANS_INTEG, IKE_INTEG_HMAC_MD5_96, 0, KW_WEAK },
	{ "prfsha1", IKE_TRANS_PRF, IKE_PRF_HMAC_SHA1, 0, KW_IKE_ONLY },
	{ "prfsha256", IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_256, 0, KW_IKE_ONLY },
	{ "prfsha384", IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_384, 0, KW_IKE_ONLY },
	{ "prfsha512", IKE_TRANS_PRF, IKE_PRF_HMAC_SHA2_512, 0, KW_IKE_ONLY },
	{ "prfmd5", IKE_TRANS_PRF, IKE_PRF_HMAC_MD5, 0, KW_IKE_ONLY | KW_WEAK },
	{ "modp2048", IKE_TRANS_DH, IKE_DH_MODP2048, 0, 0 },
	{ "modp3072", IKE_TRANS_DH, IKE_DH_MODP3072, 0, 0 },
	{ "modp4096", IKE_TRANS_DH, IKE_DH_MODP4096, 0, 0 },
	{ "modp2048s256", IKE_TRANS_DH, IKE_DH_MODP2048_256, 0, 0 },
	{ "ecp256", IKE_TRANS_DH, IKE_DH_ECP256, 0, 0 },
	{ "ecp384", IKE_TRANS_DH, IKE_DH_ECP384, 0, 0 },
	{ "ecp521", IKE_TRANS_DH, IKE_DH_ECP521, 0, 0 },
	{ "curve25519", IKE_TRANS_DH, IKE_DH_CURVE25519, 0, 0 },
	{ "x25519", IKE_TRANS_DH, IKE_DH_CURVE25519, 0, 0 },
	{ "modp1024", IKE_TRANS_DH, IKE_DH_MODP1024, 0, KW_WEAK },
	{ "none", IKE_TRANS_DH, IKE_DH_NONE, 0, KW_ESP_ONLY },
	{ "modpnone", IKE_TRANS_DH, IKE_DH_NONE, 0, KW_ESP_ONLY },
	{ "noesn", IKE_TRANS_ESN, IKE_ESN_NO, 0, KW_ESP_ONLY },
	{ "esn", IKE_TRANS_ESN, IKE_ESN_YES, 0, KW_ESP_ONLY },
};

/* Names only printed, for what peers offer and we do not accept (MikroTik, Cisco defaults). */
static const struct prop_kw prop_print_only[] = {
	{ "3des", IKE_TRANS_ENCR, IKE_ENCR_3DES, 0, 0 },
	{ "chacha20poly1305", IKE_TRANS_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0, 0 },
	{ "modp1536", IKE_TRANS_DH, IKE_DH_MODP1536, 0, 0 },
};

/* Our defaults (RFC 8247 / RFC 8221 recommendations): the 'default' keyword. */
static const char prop_default_ike[] =
	"aes128-aes256-sha256-sha384-sha512-ecp256-ecp384-ecp521-x25519-modp3072-modp4096-modp2048,"
	"aes128gcm16-aes256gcm16-prfsha256-prfsha384-prfsha512-ecp256-ecp384-ecp521-x25519-"
	"modp3072-modp4096-modp2048";
static const char prop_default_esp[] = "aes128gcm16-aes256gcm16,aes128-aes256-sha256-sha384-sha512";

static const char *const prop_type_names[] = {
	[IKE_TRANS_ENCR] = "encryption", [IKE_TRANS_PRF] = "PRF", [IKE_TRANS_INTEG] = "integrity",
	[IKE_TRANS_DH] = "DH group",	 [IKE_TRANS_ESN] = "ESN",
};

bool ike_prop_encr_is_aead(uint16_t id)
{
	return id == IKE_ENCR_AES_GCM_8 || id == IKE_ENCR_AES_GCM_12 || id == IKE_ENCR_AES_GCM_16 ||
	       id == IKE_ENCR_CHACHA20_POLY1305;
}

/* Which transform types a protocol's proposals carry (RFC 7296 §3.3.3). */
static bool prop_type_applies(uint8_t proto, uint8_t type)
{
	switch (proto) {
	case IKE_PROTO_IKE:
		return type == IKE_TRANS_ENCR || type == IKE_TRANS_PRF || type == IKE_TRANS_INTEG ||
		       type == IKE_TRANS_DH;
	case IKE_PROTO_ESP:
		return type == IKE_TRANS_ENCR || type == IKE_TRANS_INTEG || type == IKE_TRANS_DH ||
		       type == IKE_TRANS_ESN;
	case IKE_PROTO_AH:
		return type == IKE_TRANS_INTEG || type == IKE_TRANS_DH || type == IKE_TRANS_ESN;
	default:
		return false;
	}
}

/*
 * Types whose absence means "value 0": INTEG NONE, DH NONE (§3.3.3 lets a sender omit both),
 * and no ESN (some peers omit the ESN transform; treating it as 'no' is what they mean).
 */
static bool prop_type_has_default(uint8_t type)
{
	return type == IKE_TRANS_INTEG || type == IKE_TRANS_DH || type == IKE_TRANS_ESN;
}

static bool prop_trans_eq(const struct ike_transform *a, const struct ike_transform *b)
{
	return a->type == b->type && a->id == b->id && a->keylen == b->keylen;
}

static unsigned int prop_ntrans(const struct ike_proposal *p)
{
	return p->n_trans <= IKE_MAX_TRANSFORMS ? p->n_trans : IKE_MAX_TRANSFORMS;
}

static bool prop_has_type(const struct ike_proposal *p, uint8_t type)
{
	unsigned int i, n = prop_ntrans(p);

	for (i = 0; i < n; i++)
		if (p->trans[i].type == type)
			return true;
	return false;
}

/* Whether p accepts transform t, counting an absent type as its default (see above). */
static bool prop_offers(const struct ike_proposal *p, const struct ike_transform *t)
{
	unsigned int i, n = prop_ntrans(p);

	if (!prop_has_type(p, t->type))
		return prop_type_has_default(t->type) && t->id == 0 && t->keylen == 0;
	for (i = 0; i < n; i++)
		if (prop_trans_eq(&p->trans[i], t))
			return true;
	return false;
}

const struct ike_transform *ike_prop_find(const struct ike_proposal *p, uint8_t type)
{
	unsigned int i, n = prop_ntrans(p);

	for (i = 0; i < n; i++)
		if (p->trans[i].type == type)
			return &p->trans[i];
	return NULL;
}

/* --- parsing ---------------------------------------------------------------------------------- */

struct prop_parser {
	const char *str; /* the whole string, for columns */
	uint8_t proto;
	unsigned int flags;
	unsigned int info;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int prop_err(struct prop_parser *ps, int ret,
							  const char *fmt, ...)
{
	va_list ap;

	if (ps->err && ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err, ps->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static const struct prop_kw *prop_kw_lookup(const char *tok, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(prop_kws) / sizeof(prop_kws[0]); i++)
		if (strlen(prop_kws[i].name) == len && !strncasecmp(prop_kws[i].name, tok, len))
			return &prop_kws[i];
	return NULL;
}

static const char *proto_name(uint8_t proto)
{
	return proto == IKE_PROTO_IKE ? "IKE" : proto == IKE_PROTO_ESP ? "ESP" : "AH";
}

static int col(const struct prop_parser *ps, const char *p)
{
	return (int)(p - ps->str) + 1;
}

static int prop_add(struct ike_proposal *p, const struct ike_transform *t)
{
	unsigned int i;

	for (i = 0; i < p->n_trans; i++)
		if (prop_trans_eq(&p->trans[i], t))
			return 0; /* a repeated keyword adds nothing */
	if (p->n_trans >= IKE_MAX_TRANSFORMS)
		return -E2BIG;
	p->trans[p->n_trans++] = *t;
	return 0;
}

/* Stable sort by type so that equal proposals compare equal and print in one canonical order. */
static void prop_sort(struct ike_proposal *p)
{
	unsigned int i, j;
	struct ike_transform t;

	for (i = 1; i < p->n_trans; i++) {
		t = p->trans[i];
		for (j = i; j > 0 && p->trans[j - 1].type > t.type; j--)
			p->trans[j] = p->trans[j - 1];
		p->trans[j] = t;
	}
}

static uint16_t prop_prf_for_integ(uint16_t integ)
{
	switch (integ) {
	case IKE_INTEG_HMAC_SHA1_96:
		return IKE_PRF_HMAC_SHA1;
	case IKE_INTEG_HMAC_SHA2_256_128:
		return IKE_PRF_HMAC_SHA2_256;
	case IKE_INTEG_HMAC_SHA2_384_192:
		return IKE_PRF_HMAC_SHA2_384;
	case IKE_INTEG_HMAC_SHA2_512_256:
		return IKE_PRF_HMAC_SHA2_512;
	case IKE_INTEG_HMAC_MD5_96:
		return IKE_PRF_HMAC_MD5;
	default:
		return 0;
	}
}

/* Where each kind first appeared in one proposal, for error messages. */
struct prop_seen {
	const char *tok[PROP_TYPE_MAX + 1];
	size_t len[PROP_TYPE_MAX + 1];
	const char *aead, *classic; /* first AEAD and first non-AEAD cipher */
	size_t aead_len, classic_len;
};

/* One proposal, the bytes [s, e) of ps->str, already known non-empty. */
static int prop_parse_one(struct prop_parser *ps, const char *s, const char *e, unsigned int idx,
			  struct ike_proposal *p)
{
	struct prop_seen seen = { 0 };
	const struct prop_kw *kw, *prev = NULL;
	struct ike_transform t = { 0 };
	const char *tok, *dash;
	size_t len, i;
	int n;

	memset(p, 0, sizeof(*p));
	p->proto = ps->proto;
	for (tok = s; tok <= e; tok = dash + 1) {
		dash = memchr(tok, '-', (size_t)(e - tok));
		if (!dash)
			dash = e;
		len = (size_t)(dash - tok);
		n = len > PROP_KW_MAX ? PROP_KW_MAX : (int)len;
		if (!len)
			return prop_err(ps, -EINVAL,
					"empty algorithm name at column %d (proposal %u)",
					col(ps, tok), idx);
		for (i = 0; i < len; i++)
			if (!isalnum((unsigned char)tok[i]) && tok[i] != '_')
				return prop_err(ps, -EINVAL,
						"unexpected '%c' at column %d (proposal %u): "
						"algorithms are separated by '-', proposals by ','",
						tok[i], col(ps, tok + i), idx);
		kw = prop_kw_lookup(tok, len);
		if (!kw && prev && prev->type == IKE_TRANS_DH && prev->id == IKE_DH_MODP2048 &&
		    len == 3 && !strncmp(tok, "256", 3))
			return prop_err(ps, -EINVAL,
					"unknown algorithm '256' at column %d (proposal %u): "
					"MODP 2048-256 (group 24) is written 'modp2048s256'",
					col(ps, tok), idx);
		if (!kw)
			return prop_err(ps, -EINVAL,
					"unknown or unsupported algorithm '%.*s' at column %d "
					"(proposal %u)",
					n, tok, col(ps, tok), idx);
		if ((kw->flags & KW_ESP_ONLY) && ps->proto != IKE_PROTO_ESP)
			return prop_err(ps, -EINVAL,
					"'%.*s' at column %d (proposal %u) is not allowed in %s "
					"proposals",
					n, tok, col(ps, tok), idx, proto_name(ps->proto));
		if ((kw->flags & KW_IKE_ONLY) && ps->proto != IKE_PROTO_IKE)
			return prop_err(ps, -EINVAL,
					"'%.*s' at column %d (proposal %u) is not allowed in %s "
					"proposals",
					n, tok, col(ps, tok), idx, proto_name(ps->proto));
		if (kw->flags & KW_WEAK) {
			if (!(ps->flags & IKE_PROP_ALLOW_WEAK))
				return prop_err(
					ps, -EINVAL,
					"weak algorithm '%.*s' at column %d (proposal %u) is "
					"refused unless weak algorithms are allowed",
					n, tok, col(ps, tok), idx);
			ps->info |= IKE_PROP_INFO_WEAK;
		}
		if (!seen.tok[kw->type]) {
			seen.tok[kw->type] = tok;
			seen.len[kw->type] = len;
		}
		if (kw->type == IKE_TRANS_ENCR) {
			if (ike_prop_encr_is_aead(kw->id) && !seen.aead) {
				seen.aead = tok;
				seen.aead_len = len;
			} else if (!ike_prop_encr_is_aead(kw->id) && !seen.classic) {
				seen.classic = tok;
				seen.classic_len = len;
			}
		}
		t.type = kw->type;
		t.id = kw->id;
		t.keylen = kw->keylen;
		if (prop_add(p, &t))
			return prop_err(ps, -E2BIG,
					"too many algorithms in proposal %u (at most %d)", idx,
					IKE_MAX_TRANSFORMS);
		prev = kw;
	}

	len = (size_t)(e - s);
	n = len > 48 ? 48 : (int)len;
	if (seen.aead && seen.classic) {
		tok = seen.aead > seen.classic ? seen.aead : seen.classic;
		len = seen.aead > seen.classic ? seen.aead_len : seen.classic_len;
		return prop_err(
			ps, -EINVAL,
			"'%.*s' at column %d (proposal %u): AEAD and non-AEAD ciphers cannot "
			"share one proposal (write two proposals separated by ',')",
			(int)len, tok, col(ps, tok), idx);
	}
	if (!seen.tok[IKE_TRANS_ENCR])
		return prop_err(ps, -EINVAL,
				"proposal %u '%.*s' at column %d has no encryption algorithm", idx,
				n, s, col(ps, s));
	if (seen.aead && seen.tok[IKE_TRANS_INTEG])
		return prop_err(ps, -EINVAL,
				"'%.*s' at column %d (proposal %u): AEAD cipher '%.*s' takes no "
				"integrity algorithm",
				(int)seen.len[IKE_TRANS_INTEG], seen.tok[IKE_TRANS_INTEG],
				col(ps, seen.tok[IKE_TRANS_INTEG]), idx, (int)seen.aead_len,
				seen.aead);
	if (!seen.aead && !seen.tok[IKE_TRANS_INTEG])
		return prop_err(ps, -EINVAL,
				"proposal %u '%.*s' at column %d has no integrity algorithm "
				"(e.g. sha256)",
				idx, n, s, col(ps, s));

	if (ps->proto == IKE_PROTO_IKE) {
		if (seen.aead && !seen.tok[IKE_TRANS_PRF])
			return prop_err(
				ps, -EINVAL,
				"proposal %u '%.*s' at column %d: an AEAD cipher in IKE needs "
				"a PRF (e.g. prfsha256)",
				idx, n, s, col(ps, s));
		if (!seen.tok[IKE_TRANS_DH])
			return prop_err(ps, -EINVAL,
					"proposal %u '%.*s' at column %d has no DH group "
					"(e.g. ecp384, modp2048)",
					idx, n, s, col(ps, s));
		if (!seen.tok[IKE_TRANS_PRF]) {
			/* strongSwan's rule: one PRF per integrity algorithm, same hash */
			for (i = 0; i < p->n_trans; i++) {
				if (p->trans[i].type != IKE_TRANS_INTEG)
					continue;
				t.type = IKE_TRANS_PRF;
				t.id = prop_prf_for_integ(p->trans[i].id);
				t.keylen = 0;
				if (prop_add(p, &t))
					return prop_err(ps, -E2BIG,
							"too many algorithms in proposal %u", idx);
			}
		}
	} else if (!seen.tok[IKE_TRANS_ESN]) {
		t.type = IKE_TRANS_ESN;
		t.id = IKE_ESN_NO;
		t.keylen = 0;
		if (prop_add(p, &t))
			return prop_err(ps, -E2BIG, "too many algorithms in proposal %u", idx);
	}
	prop_sort(p);
	return 0;
}

static bool prop_same(const struct ike_proposal *a, const struct ike_proposal *b)
{
	unsigned int i;

	if (a->proto != b->proto || a->n_trans != b->n_trans)
		return false;
	for (i = 0; i < a->n_trans; i++)
		if (!prop_trans_eq(&a->trans[i], &b->trans[i]))
			return false;
	return true;
}

/* Appends p unless an identical proposal is already listed. */
static int prop_list_add(struct ike_prop_list *l, const struct ike_proposal *p)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (prop_same(&l->prop[i], p))
			return 0;
	if (l->n >= IKE_MAX_PROPOSALS)
		return -E2BIG;
	l->prop[l->n] = *p;
	l->prop[l->n].num = (uint8_t)(l->n + 1);
	l->n++;
	return 0;
}

static int prop_parse_list(struct prop_parser *ps, struct ike_prop_list *out, bool internal);

static int prop_add_defaults(struct prop_parser *ps, struct ike_prop_list *out)
{
	struct prop_parser dps = *ps;
	int err;

	dps.str = ps->proto == IKE_PROTO_IKE ? prop_default_ike : prop_default_esp;
	err = prop_parse_list(&dps, out, true);
	ps->info |= IKE_PROP_INFO_DEFAULTS;
	return err;
}

/*
 * Walks ps->str. internal: the string is one of our default lists (no '!', no 'default', no
 * defaults appended).
 */
static int prop_parse_list(struct prop_parser *ps, struct ike_prop_list *out, bool internal)
{
	const char *s = ps->str, *end = s + strlen(s), *bang, *comma, *ps_s, *ps_e;
	bool strict = false, used_default = false;
	struct ike_proposal p;
	unsigned int idx = 0;
	int err;

	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!internal && end > s && end[-1] == '!') {
		strict = true;
		end--;
	}
	bang = memchr(s, '!', (size_t)(end - s));
	if (bang)
		return prop_err(ps, -EINVAL,
				"'!' at column %d: it may only end the whole string (strict: no "
				"default proposals)",
				col(ps, bang));
	for (ps_s = s; ps_s <= end; ps_s = comma + 1) {
		comma = memchr(ps_s, ',', (size_t)(end - ps_s));
		if (!comma)
			comma = end;
		idx++;
		ps_e = comma;
		while (ps_s < ps_e && (*ps_s == ' ' || *ps_s == '\t'))
			ps_s++;
		while (ps_e > ps_s && (ps_e[-1] == ' ' || ps_e[-1] == '\t'))
			ps_e--;
		if (ps_s == ps_e) {
			if (idx == 1 && comma == end)
				return prop_err(ps, -EINVAL, "empty proposal string");
			return prop_err(ps, -EINVAL, "empty proposal %u at column %d", idx,
					col(ps, ps_s));
		}
		if (!internal && ps_e - ps_s == 7 && !strncasecmp(ps_s, "default", 7)) {
			used_default = true;
			err = prop_add_defaults(ps, out);
			if (err)
				return err;
			continue;
		}
		err = prop_parse_one(ps, ps_s, ps_e, idx, &p);
		if (err)
			return err;
		if (prop_list_add(out, &p))
			return prop_err(ps, -E2BIG, "too many proposals (at most %d)",
					IKE_MAX_PROPOSALS);
	}
	/* What the operator wrote is what is offered and accepted: our defaults come only with the
	 * 'default' keyword (as swanctl.conf does; ipsec.conf's silent appending let a peer without
	 * PFS through a configuration that asked for PFS). A trailing '!' is accepted and changes
	 * nothing. */
	(void)used_default;
	(void)internal;
	if (strict)
		ps->info |= IKE_PROP_INFO_STRICT;
	return 0;
}

int ike_prop_parse(const char *str, uint8_t proto, unsigned int flags, struct ike_prop_list *out,
		   unsigned int *info, char *err, size_t errlen)
{
	struct prop_parser ps = {
		.str = str, .proto = proto, .flags = flags, .err = err, .errlen = errlen
	};
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (info)
		*info = 0;
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!str)
		return prop_err(&ps, -EINVAL, "no proposal string");
	if (proto != IKE_PROTO_IKE && proto != IKE_PROTO_ESP)
		return prop_err(&ps, -EINVAL, "proposal strings exist for IKE and ESP only");
	ret = prop_parse_list(&ps, out, false);
	if (ret) {
		memset(out, 0, sizeof(*out));
		return ret;
	}
	if (info)
		*info = ps.info;
	return 0;
}

/* --- formatting ------------------------------------------------------------------------------- */

struct prop_sb {
	char *buf;
	size_t len, off;
	bool trunc;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct prop_sb *sb, const char *fmt,
							    ...)
{
	va_list ap;
	int n;

	if (sb->trunc || !sb->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->off, sb->len - sb->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sb->len - sb->off) {
		sb->trunc = true;
		sb->off = sb->len - 1;
		return;
	}
	sb->off += (size_t)n;
}

static const char *prop_table_name(const struct prop_kw *tab, size_t n,
				   const struct ike_transform *t)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tab[i].type == t->type && tab[i].id == t->id && tab[i].keylen == t->keylen)
			return tab[i].name;
	return NULL;
}

static void prop_fmt_trans(struct prop_sb *sb, const struct ike_transform *t)
{
	static const char *const generic[] = { "", "encr", "prf", "integ", "dh", "esn" };
	const char *name, *aes_mode = NULL;

	sb_printf(sb, "%s", sb->off ? "-" : "");
	name = prop_table_name(prop_kws, sizeof(prop_kws) / sizeof(prop_kws[0]), t);
	if (!name)
		name = prop_table_name(prop_print_only,
				       sizeof(prop_print_only) / sizeof(prop_print_only[0]), t);
	if (name) {
		sb_printf(sb, "%s", name);
		return;
	}
	if (t->type == IKE_TRANS_ENCR && t->keylen) {
		switch (t->id) {
		case IKE_ENCR_AES_CBC:
			aes_mode = "";
			break;
		case IKE_ENCR_AES_CTR:
			aes_mode = "ctr";
			break;
		case IKE_ENCR_AES_GCM_8:
			aes_mode = "gcm8";
			break;
		case IKE_ENCR_AES_GCM_12:
			aes_mode = "gcm12";
			break;
		case IKE_ENCR_AES_GCM_16:
			aes_mode = "gcm16";
			break;
		}
	}
	if (aes_mode) {
		sb_printf(sb, "aes%u%s", t->keylen, aes_mode);
		return;
	}
	if (t->type < IKE_TRANS_ENCR || t->type > PROP_TYPE_MAX)
		sb_printf(sb, "type%u_%u", t->type, t->id);
	else
		sb_printf(sb, "%s%u", generic[t->type], t->id);
	if (t->keylen)
		sb_printf(sb, "_%u", t->keylen);
}

/* Whether p's PRFs are exactly those its INTEG algorithms imply, in order (then not printed). */
static bool prop_prf_implied(const struct ike_proposal *p)
{
	struct ike_proposal implied = { 0 };
	struct ike_transform t = { .type = IKE_TRANS_PRF };
	unsigned int i, j, n = prop_ntrans(p);

	for (i = 0; i < n; i++) {
		if (p->trans[i].type != IKE_TRANS_INTEG)
			continue;
		t.id = prop_prf_for_integ(p->trans[i].id);
		if (!t.id || prop_add(&implied, &t))
			return false;
	}
	if (!implied.n_trans)
		return false;
	for (i = 0, j = 0; i < n; i++) {
		if (p->trans[i].type != IKE_TRANS_PRF)
			continue;
		if (j >= implied.n_trans || !prop_trans_eq(&p->trans[i], &implied.trans[j]))
			return false;
		j++;
	}
	return j == implied.n_trans;
}

static void prop_fmt_one(struct prop_sb *sb, const struct ike_proposal *p)
{
	static const uint8_t order[] = { IKE_TRANS_ENCR, IKE_TRANS_INTEG, IKE_TRANS_PRF,
					 IKE_TRANS_DH, IKE_TRANS_ESN };
	const struct ike_transform *esn = ike_prop_find(p, IKE_TRANS_ESN);
	unsigned int i, k, n = prop_ntrans(p), n_esn = 0;
	bool skip_prf = p->proto == IKE_PROTO_IKE && prop_prf_implied(p);
	size_t start = sb->off;
	struct prop_sb one;

	for (i = 0; i < n; i++)
		n_esn += p->trans[i].type == IKE_TRANS_ESN;
	/* the dash logic in prop_fmt_trans() looks at sb->off: format into a view that starts here */
	one.buf = sb->buf + start;
	one.len = sb->len > start ? sb->len - start : 0;
	one.off = 0;
	one.trunc = sb->trunc;
	for (k = 0; k < sizeof(order); k++) {
		for (i = 0; i < n; i++) {
			const struct ike_transform *t = &p->trans[i];

			if (t->type != order[k])
				continue;
			if (t->type == IKE_TRANS_INTEG && t->id == IKE_INTEG_NONE && !t->keylen)
				continue;
			if (t->type == IKE_TRANS_PRF && skip_prf)
				continue;
			if (t->type == IKE_TRANS_ESN && n_esn == 1 && esn->id == IKE_ESN_NO &&
			    !esn->keylen)
				continue;
			prop_fmt_trans(&one, t);
		}
	}
	for (i = 0; i < n; i++)
		if (p->trans[i].type < IKE_TRANS_ENCR || p->trans[i].type > PROP_TYPE_MAX)
			prop_fmt_trans(&one, &p->trans[i]);
	sb->off = start + one.off;
	sb->trunc = one.trunc;
}

int ike_prop_format(const struct ike_proposal *p, char *buf, size_t len)
{
	struct prop_sb sb = { .buf = buf, .len = len };

	if (!buf || !len)
		return -ENOSPC;
	buf[0] = '\0';
	prop_fmt_one(&sb, p);
	return sb.trunc ? -ENOSPC : 0;
}

static void prop_fmt_list(struct prop_sb *sb, const struct ike_prop_list *l)
{
	unsigned int i, n = l->n <= IKE_MAX_PROPOSALS ? l->n : IKE_MAX_PROPOSALS;

	if (!n)
		sb_printf(sb, "(none)");
	for (i = 0; i < n; i++) {
		if (i)
			sb_printf(sb, ",");
		prop_fmt_one(sb, &l->prop[i]);
	}
}

int ike_prop_list_format(const struct ike_prop_list *l, char *buf, size_t len)
{
	struct prop_sb sb = { .buf = buf, .len = len };

	if (!buf || !len)
		return -ENOSPC;
	buf[0] = '\0';
	prop_fmt_list(&sb, l);
	return sb.trunc ? -ENOSPC : 0;
}

int ike_prop_mismatch_msg(const struct ike_prop_list *ours, const struct ike_prop_list *theirs,
			  char *buf, size_t len)
{
	struct prop_sb sb = { .buf = buf, .len = len };

	if (!buf || !len)
		return -ENOSPC;
	buf[0] = '\0';
	sb_printf(&sb, "no proposal chosen: ours ");
	prop_fmt_list(&sb, ours);
	sb_printf(&sb, ", theirs ");
	prop_fmt_list(&sb, theirs);
	return sb.trunc ? -ENOSPC : 0;
}

/* --- negotiation ------------------------------------------------------------------------------ */

static bool prop_spi_ok(const struct ike_proposal *p)
{
	if (p->proto == IKE_PROTO_IKE)
		return p->spi_len == 0 || p->spi_len == IKE_SPI_LEN;
	return p->spi_len == IKE_ESP_SPI_LEN;
}

/* A peer proposal we may consider at all: known protocol, sane SPI, only types it may carry. */
static bool prop_valid(const struct ike_proposal *p)
{
	unsigned int i;

	if (p->n_trans > IKE_MAX_TRANSFORMS || !prop_spi_ok(p))
		return false;
	for (i = 0; i < p->n_trans; i++)
		if (!prop_type_applies(p->proto, p->trans[i].type))
			return false;
	return true;
}

enum prop_aead_need {
	AEAD_ANY,
	AEAD_INTEG_NONE, /* the chosen cipher is AEAD: INTEG must be NONE */
	AEAD_INTEG_REAL, /* the chosen cipher is not: INTEG must not be NONE */
};

static bool prop_cand_ok(const struct ike_transform *t, enum prop_aead_need need)
{
	if (t->type != IKE_TRANS_INTEG || need == AEAD_ANY)
		return true;
	return (t->id == IKE_INTEG_NONE) == (need == AEAD_INTEG_NONE);
}

/*
 * Our most preferred transform of the type that the peer's proposal also accepts. An absent type
 * on our side offers only its default (NONE / no ESN).
 */
static bool prop_pick(const struct ike_proposal *o, const struct ike_proposal *t, uint8_t type,
		      enum prop_aead_need need, uint16_t hint, struct ike_transform *res)
{
	struct ike_transform c = { .type = type };
	unsigned int i, n = prop_ntrans(o);

	if (type == IKE_TRANS_DH && hint) {
		c.id = hint;
		if (prop_offers(o, &c) && prop_offers(t, &c)) {
			*res = c;
			return true;
		}
		c.id = 0;
	}
	if (!prop_has_type(o, type)) {
		if (!prop_type_has_default(type) || !prop_cand_ok(&c, need) || !prop_offers(t, &c))
			return false;
		*res = c;
		return true;
	}
	for (i = 0; i < n; i++) {
		if (o->trans[i].type != type || !prop_cand_ok(&o->trans[i], need))
			continue;
		if (prop_offers(t, &o->trans[i])) {
			*res = o->trans[i];
			return true;
		}
	}
	return false;
}

static bool prop_match(const struct ike_proposal *o, const struct ike_proposal *t, uint16_t hint,
		       struct ike_proposal *chosen)
{
	struct ike_transform pick[PROP_TYPE_MAX + 1] = { 0 };
	bool have[PROP_TYPE_MAX + 1] = { 0 };
	enum prop_aead_need need = AEAD_ANY;
	unsigned int i, n = prop_ntrans(o);
	uint8_t type;
	bool found;

	if (o->proto != t->proto)
		return false;
	if (prop_type_applies(o->proto, IKE_TRANS_ENCR)) {
		found = false;
		for (i = 0; i < n && !found; i++) {
			if (o->trans[i].type != IKE_TRANS_ENCR || !prop_offers(t, &o->trans[i]))
				continue;
			need = ike_prop_encr_is_aead(o->trans[i].id) ? AEAD_INTEG_NONE
								     : AEAD_INTEG_REAL;
			if (!prop_pick(o, t, IKE_TRANS_INTEG, need, 0, &pick[IKE_TRANS_INTEG]))
				continue;
			pick[IKE_TRANS_ENCR] = o->trans[i];
			have[IKE_TRANS_ENCR] = have[IKE_TRANS_INTEG] = found = true;
		}
		if (!found)
			return false;
	}
	for (type = IKE_TRANS_ENCR; type <= PROP_TYPE_MAX; type++) {
		if (have[type] || !prop_type_applies(o->proto, type))
			continue;
		/* AH has no cipher; its INTEG must still be real */
		need = type == IKE_TRANS_INTEG ? AEAD_INTEG_REAL : AEAD_ANY;
		if (!prop_pick(o, t, type, need, hint, &pick[type]))
			return false;
		have[type] = true;
	}

	memset(chosen, 0, sizeof(*chosen));
	chosen->num = t->num;
	chosen->proto = t->proto;
	chosen->spi_len = t->spi_len;
	memcpy(chosen->spi, t->spi, sizeof(chosen->spi));
	for (type = IKE_TRANS_ENCR; type <= PROP_TYPE_MAX; type++) {
		if (!have[type])
			continue;
		/* a default value the peer left out stays out of the answer too */
		if (prop_type_has_default(type) && !pick[type].id && !pick[type].keylen &&
		    !prop_has_type(t, type))
			continue;
		chosen->trans[chosen->n_trans++] = pick[type];
	}
	return true;
}

int ike_prop_select(const struct ike_prop_list *ours, const struct ike_prop_list *theirs,
		    uint16_t ke_hint, struct ike_proposal *chosen)
{
	unsigned int i, j;

	if (!ours || !theirs || !chosen || ours->n > IKE_MAX_PROPOSALS ||
	    theirs->n > IKE_MAX_PROPOSALS)
		return -EINVAL;
	for (i = 0; i < ours->n; i++) {
		if (ours->prop[i].n_trans > IKE_MAX_TRANSFORMS)
			continue;
		for (j = 0; j < theirs->n; j++) {
			if (!prop_valid(&theirs->prop[j]))
				continue;
			if (prop_match(&ours->prop[i], &theirs->prop[j], ke_hint, chosen))
				return 0;
		}
	}
	memset(chosen, 0, sizeof(*chosen));
	return -ENOENT;
}

__attribute__((format(printf, 3, 4))) static int prop_why(char *why, size_t len, const char *fmt,
							  ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

int ike_prop_check_reply(const struct ike_prop_list *offered, const struct ike_prop_list *reply,
			 struct ike_proposal *chosen, char *why, size_t whylen)
{
	bool seen[PROP_TYPE_MAX + 1] = { 0 };
	const struct ike_proposal *o = NULL, *r;
	const struct ike_transform *e, *in;
	struct ike_transform def = { 0 };
	char name[48];
	unsigned int i;
	uint8_t type;

	if (why && whylen)
		why[0] = '\0';
	if (!offered || !reply || offered->n > IKE_MAX_PROPOSALS)
		return -EINVAL;
	if (reply->n != 1)
		return prop_why(why, whylen,
				"responder returned %u proposals, expected exactly one", reply->n);
	r = &reply->prop[0];
	for (i = 0; i < offered->n && !o; i++)
		if (offered->prop[i].num == r->num)
			o = &offered->prop[i];
	if (!o)
		return prop_why(why, whylen, "responder chose proposal %u, which we did not offer",
				r->num);
	if (r->proto != o->proto)
		return prop_why(why, whylen, "responder chose protocol %u, we offered %u", r->proto,
				o->proto);
	if (r->n_trans > IKE_MAX_TRANSFORMS)
		return prop_why(why, whylen, "responder's proposal has %u transforms", r->n_trans);
	if (r->proto == IKE_PROTO_IKE ? r->spi_len != o->spi_len : r->spi_len != IKE_ESP_SPI_LEN)
		return prop_why(why, whylen, "responder's SPI size %u is wrong for %s", r->spi_len,
				proto_name(r->proto));
	for (i = 0; i < r->n_trans; i++) {
		const struct ike_transform *t = &r->trans[i];

		if (!prop_type_applies(r->proto, t->type))
			return prop_why(why, whylen, "transform type %u is not valid for %s",
					t->type, proto_name(r->proto));
		if (seen[t->type])
			return prop_why(why, whylen, "responder chose two %s transforms",
					prop_type_names[t->type]);
		seen[t->type] = true;
		if (!prop_offers(o, t)) {
			struct prop_sb sb = { .buf = name, .len = sizeof(name) };

			prop_fmt_trans(&sb, t);
			return prop_why(why, whylen,
					"responder chose %s '%s', which we did not offer",
					prop_type_names[t->type], name);
		}
	}
	for (type = IKE_TRANS_ENCR; type <= PROP_TYPE_MAX; type++) {
		if (seen[type] || !prop_type_applies(r->proto, type))
			continue;
		def.type = type;
		if (!prop_type_has_default(type) || !prop_offers(o, &def))
			return prop_why(why, whylen, "responder chose no %s transform",
					prop_type_names[type]);
	}
	e = ike_prop_find(r, IKE_TRANS_ENCR);
	in = ike_prop_find(r, IKE_TRANS_INTEG);
	if (e && ike_prop_encr_is_aead(e->id) && in && in->id != IKE_INTEG_NONE)
		return prop_why(why, whylen, "responder combined an AEAD cipher with integrity");
	if ((!e || !ike_prop_encr_is_aead(e->id)) && (!in || in->id == IKE_INTEG_NONE))
		return prop_why(why, whylen, "responder chose no integrity for a non-AEAD cipher");
	if (chosen)
		*chosen = *r;
	return 0;
}

uint16_t ike_prop_first_dh(const struct ike_prop_list *ours)
{
	const struct ike_proposal *p;
	unsigned int i, n;

	if (!ours->n || ours->n > IKE_MAX_PROPOSALS)
		return 0;
	p = &ours->prop[0];
	n = prop_ntrans(p);
	for (i = 0; i < n; i++)
		if (p->trans[i].type == IKE_TRANS_DH && p->trans[i].id != IKE_DH_NONE)
			return p->trans[i].id;
	return 0;
}

bool ike_prop_offers_dh(const struct ike_prop_list *ours, uint16_t group)
{
	unsigned int i, j, n = ours->n <= IKE_MAX_PROPOSALS ? ours->n : IKE_MAX_PROPOSALS;

	if (group == IKE_DH_NONE)
		return false;
	for (i = 0; i < n; i++)
		for (j = 0; j < prop_ntrans(&ours->prop[i]); j++)
			if (ours->prop[i].trans[j].type == IKE_TRANS_DH &&
			    ours->prop[i].trans[j].id == group)
				return true;
	return false;
}

void ike_prop_list_strip_dh(struct ike_prop_list *l)
{
	unsigned int i, j, k, n = l->n <= IKE_MAX_PROPOSALS ? l->n : IKE_MAX_PROPOSALS;
	struct ike_proposal *p;

	for (i = 0; i < n; i++) {
		p = &l->prop[i];
		for (j = 0, k = 0; j < prop_ntrans(p); j++)
			if (p->trans[j].type != IKE_TRANS_DH)
				p->trans[k++] = p->trans[j];
		p->n_trans = (uint8_t)k;
	}
}
