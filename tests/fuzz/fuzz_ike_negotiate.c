// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for proposal negotiation (ike_prop.c) and traffic-selector narrowing
 * (ike_ts.c). The fuzz bytes are decoded straight into the fixed-size structs of ike_prop.h (the
 * codec's output form), biased toward the algorithm ids and address blocks real peers use so that
 * matches happen often, and every result is checked against invariants with abort() on violation:
 *   - a chosen proposal is one transform per type, offered by the peer's proposal it names (the
 *     initiator-side check must accept it) and by one of our proposals (independent oracle);
 *   - a narrowed TSi/TSr lies inside the configuration and inside what the peer proposed, the
 *     initiator-side check accepts it, strict mode returns only what the peer proposed;
 *   - proposing exactly our configuration to ourselves succeeds iff some TSi/TSr pair exists;
 *   - prefix and port-mask splitting cover a range exactly, with aligned blocks;
 *   - proposal and selector strings that parse survive format -> parse unchanged, and a parsed
 *     proposal list always matches itself.
 * Mode = first byte & 3: 0 proposals, 1 selectors, 2 proposal string, 3 selector string.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ike_prop.h"
#include "ike_ts.h"

typedef unsigned __int128 fz_u128;

struct fz_cur {
	const uint8_t *p;
	size_t left;
};

static uint8_t get8(struct fz_cur *c)
{
	if (!c->left)
		return 0;
	c->left--;
	return *c->p++;
}

static uint16_t get16(struct fz_cur *c)
{
	uint16_t hi = get8(c);

	return (uint16_t)(hi << 8 | get8(c));
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- proposals -------------------------------------------------------------------------------- */

static const uint16_t fz_ids[6][8] = {
	[IKE_TRANS_ENCR] = { IKE_ENCR_AES_CBC, IKE_ENCR_AES_GCM_16, IKE_ENCR_NULL, IKE_ENCR_AES_CBC,
			     IKE_ENCR_3DES, IKE_ENCR_AES_GCM_16, IKE_ENCR_CHACHA20_POLY1305, 13 },
	[IKE_TRANS_PRF] = { IKE_PRF_HMAC_SHA2_256, IKE_PRF_HMAC_SHA1, IKE_PRF_HMAC_SHA2_384,
			    IKE_PRF_HMAC_SHA2_512, IKE_PRF_HMAC_MD5, 5, 5, 8 },
	[IKE_TRANS_INTEG] = { IKE_INTEG_HMAC_SHA2_256_128, IKE_INTEG_HMAC_SHA1_96, IKE_INTEG_NONE,
			      IKE_INTEG_HMAC_SHA2_384_192, IKE_INTEG_HMAC_SHA2_512_256,
			      IKE_INTEG_HMAC_MD5_96, 12, 5 },
	[IKE_TRANS_DH] = { IKE_DH_ECP384, IKE_DH_MODP2048, IKE_DH_NONE, IKE_DH_ECP256,
			   IKE_DH_CURVE25519, IKE_DH_MODP2048_256, IKE_DH_MODP1024, 20 },
	[IKE_TRANS_ESN] = { IKE_ESN_NO, IKE_ESN_YES, IKE_ESN_NO, IKE_ESN_YES, 0, 1, 2, 0 },
};

static void fz_transform(struct fz_cur *c, struct ike_transform *t)
{
	static const uint16_t keylens[4] = { 128, 256, 0, 192 };
	uint8_t b = get8(c);

	t->type = (uint8_t)(1 + b % 5);
	if (b >= 250) /* now and then a type nobody knows, or 0 */
		t->type = (uint8_t)(b - 245);
	b = get8(c);
	if (b < 240)
		t->id = fz_ids[t->type <= 5 ? t->type : 0][b % 8];
	else
		t->id = get16(c);
	t->keylen = 0;
	if (t->type == IKE_TRANS_ENCR &&
	    (t->id == IKE_ENCR_AES_CBC || t->id == IKE_ENCR_AES_GCM_16))
		t->keylen = keylens[(b >> 3) % 4];
	if (b >= 248)
		t->keylen = get16(c);
}

static void fz_props(struct fz_cur *c, struct ike_prop_list *l, uint8_t proto)
{
	static const uint8_t spis[4] = { 0, 4, 8, 4 };
	unsigned int i, j;
	uint8_t b;

	memset(l, 0, sizeof(*l));
	l->n = get8(c) % 5;
	for (i = 0; i < l->n; i++) {
		struct ike_proposal *p = &l->prop[i];

		b = get8(c);
		p->num = (uint8_t)(i + 1); /* RFC 7296 §3.3.1: numbered from 1 in order */
		p->proto = (b & 0x80) ? (uint8_t)(1 + b % 3) : proto;
		p->spi_len = (b & 0x40) ? spis[b & 3] : (proto == IKE_PROTO_IKE ? 0 : 4);
		memset(p->spi, b, sizeof(p->spi));
		p->n_trans = get8(c) % 10;
		for (j = 0; j < p->n_trans; j++)
			fz_transform(c, &p->trans[j]);
	}
}

static bool fz_applies(uint8_t proto, uint8_t type)
{
	if (proto == IKE_PROTO_IKE)
		return type >= IKE_TRANS_ENCR && type <= IKE_TRANS_DH;
	if (proto == IKE_PROTO_ESP)
		return type == IKE_TRANS_ENCR || (type >= IKE_TRANS_INTEG && type <= IKE_TRANS_ESN);
	if (proto == IKE_PROTO_AH)
		return type >= IKE_TRANS_INTEG && type <= IKE_TRANS_ESN;
	return false;
}

/* Oracle, written independently of ike_prop.c: does proposal o accept transform t? */
static bool fz_offers(const struct ike_proposal *o, const struct ike_transform *t)
{
	bool has = false;
	unsigned int i;

	for (i = 0; i < o->n_trans; i++) {
		if (o->trans[i].type != t->type)
			continue;
		has = true;
		if (o->trans[i].id == t->id && o->trans[i].keylen == t->keylen)
			return true;
	}
	return !has && t->id == 0 && t->keylen == 0 && t->type >= IKE_TRANS_INTEG &&
	       t->type <= IKE_TRANS_ESN;
}

/* Whether ch could have come from o: every chosen transform offered, every omitted type NONE. */
static bool fz_subset(const struct ike_proposal *o, const struct ike_proposal *ch)
{
	struct ike_transform def = { 0 };
	bool seen[6] = { 0 };
	unsigned int i;
	uint8_t type;

	if (o->proto != ch->proto)
		return false;
	for (i = 0; i < ch->n_trans; i++) {
		if (!fz_offers(o, &ch->trans[i]))
			return false;
		seen[ch->trans[i].type] = true;
	}
	for (type = 1; type <= 5; type++) {
		if (seen[type] || !fz_applies(ch->proto, type))
			continue;
		def.type = type;
		if (!fz_offers(o, &def))
			return false;
	}
	return true;
}

static void fz_check_chosen(const struct ike_prop_list *ours, const struct ike_prop_list *theirs,
			    const struct ike_proposal *ch)
{
	struct ike_prop_list reply = { .n = 1 };
	const struct ike_transform *e, *in;
	bool seen[6] = { 0 }, from_ours = false;
	char why[160];
	unsigned int i;

	CHECK(ch->n_trans <= 5);
	for (i = 0; i < ch->n_trans; i++) {
		CHECK(fz_applies(ch->proto, ch->trans[i].type));
		CHECK(!seen[ch->trans[i].type]);
		seen[ch->trans[i].type] = true;
	}
	CHECK(ch->num >= 1 && ch->num <= theirs->n);
	CHECK(fz_subset(&theirs->prop[ch->num - 1], ch));
	CHECK(ch->spi_len == theirs->prop[ch->num - 1].spi_len);
	CHECK(!memcmp(ch->spi, theirs->prop[ch->num - 1].spi, ch->spi_len));
	for (i = 0; i < ours->n && !from_ours; i++)
		from_ours = fz_subset(&ours->prop[i], ch);
	CHECK(from_ours);
	e = ike_prop_find(ch, IKE_TRANS_ENCR);
	in = ike_prop_find(ch, IKE_TRANS_INTEG);
	CHECK(e || ch->proto == IKE_PROTO_AH);
	if (e && ike_prop_encr_is_aead(e->id))
		CHECK(!in || in->id == IKE_INTEG_NONE);
	else
		CHECK(in && in->id != IKE_INTEG_NONE);
	/* the initiator that offered theirs must accept this answer */
	reply.prop[0] = *ch;
	CHECK(ike_prop_check_reply(theirs, &reply, NULL, why, sizeof(why)) == 0);
}

static void fz_mode_props(struct fz_cur *c)
{
	static struct ike_prop_list ours, theirs, tmp;
	struct ike_proposal ch;
	uint8_t proto = (get8(c) & 1) ? IKE_PROTO_ESP : IKE_PROTO_IKE;
	uint16_t hint = fz_ids[IKE_TRANS_DH][get8(c) % 8], g;
	char buf[4096];
	unsigned int i, j;
	int ret;

	fz_props(c, &ours, proto);
	fz_props(c, &theirs, proto);
	ret = ike_prop_select(&ours, &theirs, hint, &ch);
	CHECK(ret == 0 || ret == -ENOENT);
	if (!ret)
		fz_check_chosen(&ours, &theirs, &ch);
	else
		CHECK(ch.n_trans == 0);

	ike_prop_list_format(&ours, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf));
	ike_prop_format(&theirs.prop[0], buf, 7);
	CHECK(strlen(buf) < 7);

	g = ike_prop_first_dh(&ours);
	if (g)
		CHECK(ike_prop_offers_dh(&ours, g));
	CHECK(!ike_prop_offers_dh(&ours, IKE_DH_NONE));
	tmp = ours;
	ike_prop_list_strip_dh(&tmp);
	for (i = 0; i < tmp.n; i++) {
		for (j = 0; j < tmp.prop[i].n_trans; j++)
			CHECK(tmp.prop[i].trans[j].type != IKE_TRANS_DH);
	}
	CHECK(ike_prop_first_dh(&tmp) == 0);
}

/* ---- traffic selectors ------------------------------------------------------------------------ */

static const uint8_t fz_v4[8][5] = {
	/* address, prefix length */
	{ 0, 0, 0, 0, 0 },     { 10, 0, 0, 0, 8 },  { 10, 1, 0, 0, 16 },   { 10, 2, 0, 0, 16 },
	{ 172, 16, 1, 0, 24 }, { 10, 1, 2, 3, 32 }, { 10, 1, 128, 0, 17 }, { 172, 16, 0, 0, 12 },
};

static void fz_ts(struct fz_cur *c, struct ike_ts *ts)
{
	static const uint8_t protos[4] = { 0, 6, 17, 1 };
	static const uint16_t ports[4] = { 80, 443, 8080, 500 };
	uint8_t b = get8(c), a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	unsigned int plen;

	if ((b & 3) == 3) {
		/* raw: any type, any range (possibly inverted), any ports */
		memset(ts, 0, sizeof(*ts));
		ts->type = (b & 4) ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;
		if ((b & 0xf8) == 0xf8)
			ts->type = get8(c);
		ts->proto = get8(c);
		ts->port_lo = get16(c);
		ts->port_hi = get16(c);
		for (plen = 0; plen < 16; plen++)
			ts->start[plen] = get8(c);
		for (plen = 0; plen < 16; plen++)
			ts->end[plen] = get8(c);
		return;
	}
	if (b & 1) {
		a6[4] = get8(c) & 3;
		plen = (unsigned int)(get8(c) % 4) * 16; /* 0, 16, 32, 48 */
		ike_ts_from_prefix(ts, AF_INET6, a6, plen, 0, 0, 65535);
	} else {
		const uint8_t *v = fz_v4[(b >> 2) & 7];

		ike_ts_from_prefix(ts, AF_INET, v, v[4], 0, 0, 65535);
	}
	b = get8(c);
	ts->proto = protos[b & 3];
	switch ((b >> 2) & 3) {
	case 1:
		ts->port_lo = ts->port_hi = ports[(b >> 4) & 3];
		break;
	case 2:
		ts->port_lo = ports[(b >> 4) & 3];
		ts->port_hi = 9000;
		if (ts->port_lo > ts->port_hi)
			ts->port_lo = 0;
		break;
	default:
		break;
	}
}

static void fz_ts_list(struct fz_cur *c, struct ike_ts_list *l)
{
	unsigned int i;
	uint8_t b = get8(c);

	memset(l, 0, sizeof(*l));
	l->n = b >= 250 ? b : b % 5; /* now and then a count past the array */
	for (i = 0; i < IKE_MAX_TS && i < l->n; i++)
		fz_ts(c, &l->ts[i]);
}

static unsigned int fz_n(const struct ike_ts_list *l)
{
	return l->n < IKE_MAX_TS ? l->n : IKE_MAX_TS;
}

static bool fz_in(const struct ike_ts_list *l, const struct ike_ts *x)
{
	unsigned int i;

	for (i = 0; i < fz_n(l); i++)
		if (ike_ts_contains(&l->ts[i], x))
			return true;
	return false;
}

static bool fz_equal_in(const struct ike_ts_list *l, const struct ike_ts *x)
{
	unsigned int i;

	for (i = 0; i < fz_n(l); i++)
		if (ike_ts_valid(&l->ts[i]) && ike_ts_equal(&l->ts[i], x))
			return true;
	return false;
}

static fz_u128 fz_load(const uint8_t *a, unsigned int alen)
{
	fz_u128 v = 0;
	unsigned int i;

	for (i = 0; i < alen; i++)
		v = (v << 8) | a[i];
	return v;
}

/* The prefixes are aligned, contiguous and cover exactly [start, end]. */
static void fz_check_prefixes(const struct ike_ts *ts)
{
	static struct ike_prefix p[IKE_TS_MAX_PREFIXES];
	unsigned int alen = ts->type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16, bits = alen * 8, i, n;
	fz_u128 cur, end, a, host;

	CHECK(ike_ts_to_prefixes(ts, p, IKE_TS_MAX_PREFIXES, &n) == 0);
	CHECK(n >= 1 && n <= 2 * bits);
	cur = fz_load(ts->start, alen);
	end = fz_load(ts->end, alen);
	for (i = 0; i < n; i++) {
		CHECK(p[i].plen <= bits);
		a = fz_load(p[i].addr, alen);
		CHECK(a == cur);
		host = p[i].plen == 0 ? (bits == 128 ? ~(fz_u128)0 : ((fz_u128)1 << bits) - 1)
				      : (((fz_u128)1 << (bits - p[i].plen)) - 1);
		CHECK((a & host) == 0);
		CHECK(a + host <= end);
		if (i + 1 == n)
			CHECK(a + host == end);
		else
			cur = a + host + 1;
	}
}

/* The port blocks are aligned, contiguous and cover exactly port_lo..port_hi. */
static void fz_check_ports(const struct ike_ts *ts)
{
	struct ike_port_mask m[IKE_TS_MAX_PORT_MASKS];
	unsigned int i, n, cur = ts->port_lo, size;

	CHECK(ike_ts_port_masks(ts, m, IKE_TS_MAX_PORT_MASKS, &n) == 0);
	CHECK(n >= 1);
	for (i = 0; i < n; i++) {
		size = (uint16_t)~m[i].mask + 1u;
		CHECK(m[i].port == cur);
		CHECK((m[i].port & (uint16_t)~m[i].mask) == 0);
		CHECK(((m[i].mask + 0u) | (size - 1)) == 0xffff); /* a contiguous mask */
		CHECK(cur + size - 1 <= ts->port_hi);
		cur += size;
	}
	CHECK(cur - 1 == ts->port_hi);
}

static bool fz_has_pair(const struct ike_ts_list *a, const struct ike_ts_list *b)
{
	unsigned int i, j;

	for (i = 0; i < fz_n(a); i++)
		for (j = 0; j < fz_n(b); j++)
			if (ike_ts_valid(&a->ts[i]) && ike_ts_valid(&b->ts[j]) &&
			    ike_ts_pair_ok(&a->ts[i], &b->ts[j]))
				return true;
	return false;
}

static void fz_mode_ts(struct fz_cur *c)
{
	static struct ike_ts_cfg cfg, icfg;
	static struct ike_ts_list tsi, tsr, oi, orr;
	char why[IKE_TS_WHY_LEN];
	struct ike_ts x;
	unsigned int i;
	int ret;

	cfg.strict = get8(c) & 1;
	fz_ts_list(c, &cfg.local);
	fz_ts_list(c, &cfg.remote);
	fz_ts_list(c, &tsi);
	fz_ts_list(c, &tsr);

	ret = ike_ts_narrow(&cfg, &tsi, &tsr, &oi, &orr, why, sizeof(why));
	CHECK(ret == 0 || ret == -ENOENT || (ret == -EACCES && cfg.strict));
	if (ret) {
		CHECK(oi.n == 0 && orr.n == 0 && why[0]);
	} else {
		CHECK(oi.n >= 1 && oi.n <= IKE_MAX_TS && orr.n >= 1 && orr.n <= IKE_MAX_TS);
		for (i = 0; i < oi.n; i++) {
			CHECK(ike_ts_valid(&oi.ts[i]));
			CHECK(fz_in(&cfg.remote, &oi.ts[i])); /* never wider than configured */
			CHECK(fz_in(&tsi, &oi.ts[i]));	      /* never wider than proposed */
			if (cfg.strict)
				CHECK(fz_equal_in(&tsi, &oi.ts[i]));
			fz_check_prefixes(&oi.ts[i]);
			fz_check_ports(&oi.ts[i]);
		}
		for (i = 0; i < orr.n; i++) {
			CHECK(ike_ts_valid(&orr.ts[i]));
			CHECK(fz_in(&cfg.local, &orr.ts[i]));
			CHECK(fz_in(&tsr, &orr.ts[i]));
			if (cfg.strict)
				CHECK(fz_equal_in(&tsr, &orr.ts[i]));
			fz_check_prefixes(&orr.ts[i]);
			fz_check_ports(&orr.ts[i]);
		}
		CHECK(fz_has_pair(&oi, &orr));
		/* the initiator that proposed tsi/tsr (and is configured so) accepts the answer */
		icfg.strict = false;
		icfg.local = tsi;
		icfg.remote = tsr;
		CHECK(ike_ts_check_reply(&icfg, &tsi, &tsr, &oi, &orr, why, sizeof(why)) == 0);
	}

	/* proposing exactly our own configuration works iff a usable pair exists */
	ret = ike_ts_narrow(&cfg, &cfg.remote, &cfg.local, &oi, &orr, why, sizeof(why));
	CHECK((ret == 0) == fz_has_pair(&cfg.remote, &cfg.local));

	/* algebra on two selectors */
	if (tsi.n && cfg.remote.n) {
		const struct ike_ts *a = &tsi.ts[0], *b = &cfg.remote.ts[0];

		if (!ike_ts_intersect(a, b, &x)) {
			CHECK(ike_ts_contains(a, &x) && ike_ts_contains(b, &x));
		}
		if (ike_ts_contains(a, b)) {
			CHECK(ike_ts_intersect(a, b, &x) == 0 && ike_ts_equal(&x, b));
		}
		if (ike_ts_valid(a))
			fz_check_prefixes(a);
	}
	ike_ts_list_format(&tsi, why, sizeof(why));
}

/* ---- strings ---------------------------------------------------------------------------------- */

static bool fz_same_list(const struct ike_prop_list *a, const struct ike_prop_list *b)
{
	unsigned int i, j;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (a->prop[i].proto != b->prop[i].proto ||
		    a->prop[i].n_trans != b->prop[i].n_trans)
			return false;
		for (j = 0; j < a->prop[i].n_trans; j++)
			if (a->prop[i].trans[j].type != b->prop[i].trans[j].type ||
			    a->prop[i].trans[j].id != b->prop[i].trans[j].id ||
			    a->prop[i].trans[j].keylen != b->prop[i].trans[j].keylen)
				return false;
	}
	return true;
}

static void fz_mode_prop_string(struct fz_cur *c)
{
	static struct ike_prop_list l, back, peer;
	static char s[1024], buf[16384];
	struct ike_prop_list reply = { .n = 1 };
	char err[IKE_PROP_ERR_LEN];
	uint8_t b = get8(c), proto = (b & 1) ? IKE_PROTO_ESP : IKE_PROTO_IKE;
	unsigned int flags = (b & 2) ? IKE_PROP_ALLOW_WEAK : 0, info, i;
	size_t n = c->left < sizeof(s) - 1 ? c->left : sizeof(s) - 1;
	struct ike_proposal ch;
	int ret;

	memcpy(s, c->p, n);
	s[n] = '\0';
	ret = ike_prop_parse(s, proto, flags, &l, &info, err, sizeof(err));
	CHECK(ret == 0 || ret == -EINVAL || ret == -E2BIG);
	if (ret) {
		CHECK(err[0] && l.n == 0);
		return;
	}
	CHECK(l.n >= 1 && l.n <= IKE_MAX_PROPOSALS);
	if (!(flags & IKE_PROP_ALLOW_WEAK))
		CHECK(!(info & IKE_PROP_INFO_WEAK));
	CHECK(ike_prop_list_format(&l, buf, sizeof(buf) - 1) == 0);
	strcat(buf, "!");
	CHECK(ike_prop_parse(buf, proto, flags, &back, NULL, err, sizeof(err)) == 0);
	CHECK(fz_same_list(&l, &back));

	/* our own list always matches itself, on the first proposal */
	peer = l;
	for (i = 0; i < peer.n; i++)
		peer.prop[i].spi_len = proto == IKE_PROTO_ESP ? 4 : 0;
	CHECK(ike_prop_select(&l, &peer, 0, &ch) == 0);
	CHECK(ch.num == 1);
	reply.prop[0] = ch;
	CHECK(ike_prop_check_reply(&peer, &reply, NULL, err, sizeof(err)) == 0);
	if (ike_prop_first_dh(&l))
		CHECK(ike_prop_offers_dh(&l, ike_prop_first_dh(&l)));
}

static void fz_mode_ts_string(struct fz_cur *c)
{
	static char s[256];
	char buf[IKE_TS_STR_LEN];
	struct ike_ts ts, back;
	size_t n = c->left < sizeof(s) - 1 ? c->left : sizeof(s) - 1;

	memcpy(s, c->p, n);
	s[n] = '\0';
	if (ike_ts_parse(s, &ts, buf, sizeof(buf)))
		return;
	CHECK(ike_ts_valid(&ts));
	CHECK(ike_ts_format(&ts, buf, sizeof(buf)) == 0);
	CHECK(ike_ts_parse(buf, &back, NULL, 0) == 0);
	CHECK(ike_ts_equal(&ts, &back));
	fz_check_prefixes(&ts);
	fz_check_ports(&ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_cur c = { data, size };

	switch (get8(&c) & 3) {
	case 0:
		fz_mode_props(&c);
		break;
	case 1:
		fz_mode_ts(&c);
		break;
	case 2:
		fz_mode_prop_string(&c);
		break;
	default:
		fz_mode_ts_string(&c);
		break;
	}
	return 0;
}
