// SPDX-License-Identifier: GPL-2.0-only
/*
 * Payload bodies: validation, interpretation and building (see ike_pld.h). Every
 * length-prefixed element (proposal, transform, attribute, selector, CP attribute) passes the
 * three checks of STYLE.md §4 in order, and every walk is bounded by enum ike_limits: a message
 * past a bound is rejected, never truncated.
 */
#include <errno.h>
#include <string.h>

#include "ike_pld.h"

enum pld_wire {
	PROP_HDR_LEN = 8,  /* §3.3.1 up to the SPI */
	TRANS_HDR_LEN = 8, /* §3.3.2 */
	ATTR_HDR_LEN = 4,  /* §3.3.5 */
	PROP_MORE = 2,	   /* "Last Substruc" of a proposal that is not the last */
	TRANS_MORE = 3,	   /* ... of a transform that is not the last */
	TS_HDR_LEN = 8,	   /* §3.13.1 up to the addresses */
	TS4_LEN = TS_HDR_LEN + 2 * 4,
	TS6_LEN = TS_HDR_LEN + 2 * 16,
	CP_ATTR_HDR_LEN = 4, /* §3.15.1 */
	CP_MAX_ATTRS = 64,   /* bound on the CP attribute walk */
	DELETE_MAX_SPIS = 1024,
};

bool ike_pld_known(uint8_t type)
{
	return (type >= IKE_PLD_SA && type <= IKE_PLD_EAP) || type == IKE_PLD_SKF;
}

bool ike_pld_singleton(uint8_t type)
{
	switch (type) {
	case IKE_PLD_SA:
	case IKE_PLD_KE:
	case IKE_PLD_IDI:
	case IKE_PLD_IDR:
	case IKE_PLD_AUTH:
	case IKE_PLD_NONCE:
	case IKE_PLD_TSI:
	case IKE_PLD_TSR:
	case IKE_PLD_SK:
	case IKE_PLD_CP:
	case IKE_PLD_EAP:
	case IKE_PLD_SKF:
		return true;
	}
	return false;
}

/* Reads n bytes that must all be zero (a reserved field). */
static int get_reserved(struct ike_cur *c, size_t n)
{
	uint8_t r[4] = { 0 };

	if (n > sizeof(r) || ike_cur_get(c, r, n))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (r[i])
			return -EBADMSG;
	return 0;
}

/* ---- SA (§3.3) ------------------------------------------------------------------------------ */

/*
 * One transform's attributes. Only Key Length (TV) is defined for IKEv2 (§3.3.5); it may appear
 * once. Any other attribute, TV or TLV, is walked over and makes *unknown true, so the caller
 * drops the whole proposal (§3.3.6: we cannot honour an attribute we do not understand, and a
 * proposal with one of its transforms silently removed would mean something else).
 */
static int parse_attrs(struct ike_cur *c, uint16_t *keylen, bool *unknown)
{
	bool have_keylen = false;

	*keylen = 0;
	*unknown = false;
	/* each attribute is at least 4 bytes, so the transform length bounds the walk */
	while (ike_cur_left(c)) {
		uint16_t type, val;
		struct ike_cur skip;

		if (ike_cur_be16(c, &type) || ike_cur_be16(c, &val))
			return -EBADMSG; /* short attribute header */
		if (!(type & IKE_ATTR_AF)) {
			/* TLV: val is the value length */
			if (ike_cur_sub(c, val, &skip))
				return -EBADMSG;
			*unknown = true;
			continue;
		}
		if ((type & ~IKE_ATTR_AF) != IKE_ATTR_KEY_LENGTH) {
			*unknown = true;
			continue;
		}
		if (have_keylen || !val)
			return -EBADMSG; /* repeated or zero Key Length */
		have_keylen = true;
		*keylen = val;
	}
	return 0;
}

/* Walks one proposal body (after the 8-byte header); fills p if not NULL. *drop: a transform
 * carried an attribute we do not understand. */
static int parse_transforms(struct ike_cur *c, uint8_t n_trans, struct ike_proposal *p, bool *drop)
{
	unsigned seen = 0;

	*drop = false;
	uint8_t last = TRANS_MORE;

	while (last == TRANS_MORE) {
		uint8_t th[TRANS_HDR_LEN];
		struct ike_cur body;
		uint16_t tlen, keylen;
		bool unknown;

		if (seen >= n_trans || seen >= IKE_MAX_TRANSFORMS)
			return -EBADMSG; /* more transforms than announced, or past the bound */
		if (ike_cur_get(c, th, sizeof(th)))
			return -EBADMSG; /* short transform header */
		last = th[0];
		tlen = (uint16_t)(th[2] << 8 | th[3]);
		if ((last != 0 && last != TRANS_MORE) || th[1] || th[5])
			return -EBADMSG; /* bad Last Substruc or reserved bits */
		if (tlen < TRANS_HDR_LEN || ike_cur_sub(c, tlen - TRANS_HDR_LEN, &body))
			return -EBADMSG;
		if (!th[4])
			return -EBADMSG; /* transform type 0 is reserved */
		if (parse_attrs(&body, &keylen, &unknown))
			return -EBADMSG;
		seen++;
		*drop |= unknown;
		if (p) {
			struct ike_transform *t = &p->trans[p->n_trans++];

			t->type = th[4];
			t->id = (uint16_t)(th[6] << 8 | th[7]);
			t->keylen = keylen;
		}
	}
	/* the announced count must match, and the proposal must end with its last transform */
	if (seen != n_trans || ike_cur_left(c))
		return -EBADMSG;
	return 0;
}

/* The SA walk; with out NULL it only validates. */
static int parse_sa(const uint8_t *b, size_t len, struct ike_prop_list *out)
{
	struct ike_cur c;
	uint8_t last = PROP_MORE, prev_num = 0, first_num = 0;
	uint8_t spi_scratch[IKE_SPI_LEN] = { 0 };
	unsigned n = 0;

	ike_cur_init(&c, b, len);
	if (out)
		memset(out, 0, sizeof(*out));
	while (last == PROP_MORE) {
		uint8_t ph[PROP_HDR_LEN];
		struct ike_cur body;
		struct ike_proposal *p = NULL;
		uint16_t plen;
		bool drop;

		if (n >= IKE_MAX_PROPOSALS)
			return -EBADMSG;
		if (ike_cur_get(&c, ph, sizeof(ph)))
			return -EBADMSG; /* short proposal header (this covers an empty SA) */
		last = ph[0];
		plen = (uint16_t)(ph[2] << 8 | ph[3]);
		if ((last != 0 && last != PROP_MORE) || ph[1])
			return -EBADMSG;
		/* a proposal is at least its header and one transform */
		if (plen < PROP_HDR_LEN + TRANS_HDR_LEN ||
		    ike_cur_sub(&c, plen - PROP_HDR_LEN, &body))
			return -EBADMSG;
		/* §3.3.1: a list of proposals is numbered 1, 2, 3...; a lone proposal may carry
		 * any number (a responder echoes the one it chose) */
		if (!ph[4] || (n && (prev_num + 1 != ph[4] || first_num != 1)))
			return -EBADMSG;
		if (!n)
			first_num = ph[4];
		prev_num = ph[4];
		if (ph[5] < IKE_PROTO_IKE || ph[5] > IKE_PROTO_ESP)
			return -EBADMSG;
		if (ph[6] != 0 && ph[6] != IKE_ESP_SPI_LEN && ph[6] != IKE_SPI_LEN)
			return -EBADMSG;
		if (!ph[7])
			return -EBADMSG; /* no transforms */
		if (out) {
			p = &out->prop[out->n];
			p->num = ph[4];
			p->proto = ph[5];
			p->spi_len = ph[6];
		}
		if (ike_cur_get(&body, p ? p->spi : spi_scratch, ph[6]))
			return -EBADMSG;
		if (parse_transforms(&body, ph[7], p, &drop))
			return -EBADMSG;
		n++;
		/* a dropped proposal leaves its slot to the next one; the others keep their
		 * numbers, which a responder echoes */
		if (out && !drop)
			out->n++;
		else if (p)
			memset(p, 0, sizeof(*p));
	}
	if (ike_cur_left(&c))
		return -EBADMSG; /* bytes after the last proposal */
	return 0;
}

int ike_pld_sa(const uint8_t *body, size_t len, struct ike_prop_list *out)
{
	int err = parse_sa(body, len, NULL);

	if (err)
		return err;
	return parse_sa(body, len, out);
}

/* ---- KE, Nonce, ID, AUTH --------------------------------------------------------------------- */

int ike_pld_ke(const uint8_t *body, size_t len, struct ike_pld_ke *out)
{
	struct ike_cur c;
	uint16_t group;

	ike_cur_init(&c, body, len);
	if (ike_cur_be16(&c, &group) || get_reserved(&c, 2) || !ike_cur_left(&c))
		return -EBADMSG;
	out->group = group;
	out->data = ike_cur_ptr(&c);
	out->len = ike_cur_left(&c);
	return 0;
}

int ike_pld_nonce(const uint8_t *body, size_t len, struct ike_chunk *out)
{
	if (len < IKE_NONCE_MIN || len > IKE_NONCE_MAX)
		return -EBADMSG;
	out->ptr = body;
	out->len = len;
	return 0;
}

/* type octet, 3 reserved, at least one byte of data */
static int parse_typed(const uint8_t *body, size_t len, struct ike_pld_id *out)
{
	struct ike_cur c;
	uint8_t type;

	ike_cur_init(&c, body, len);
	if (ike_cur_u8(&c, &type) || get_reserved(&c, 3) || !ike_cur_left(&c))
		return -EBADMSG;
	out->type = type;
	out->data = ike_cur_ptr(&c);
	out->len = ike_cur_left(&c);
	out->body = body;
	out->body_len = len;
	return 0;
}

int ike_pld_id(const uint8_t *body, size_t len, struct ike_pld_id *out)
{
	struct ike_pld_id id;

	if (parse_typed(body, len, &id))
		return -EBADMSG;
	/* address identities have a fixed size (§3.5) */
	if ((id.type == IKE_ID_IPV4_ADDR && id.len != 4) ||
	    (id.type == IKE_ID_IPV6_ADDR && id.len != 16))
		return -EBADMSG;
	*out = id;
	return 0;
}

int ike_pld_auth(const uint8_t *body, size_t len, struct ike_pld_id *out)
{
	return parse_typed(body, len, out);
}

/* ---- TS (§3.13) ------------------------------------------------------------------------------ */

static int parse_ts(const uint8_t *body, size_t len, struct ike_ts_list *out)
{
	struct ike_cur c;
	uint8_t n;

	ike_cur_init(&c, body, len);
	if (ike_cur_u8(&c, &n) || get_reserved(&c, 3))
		return -EBADMSG;
	if (!n || n > IKE_MAX_TS)
		return -EBADMSG;
	if (out)
		memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++) {
		uint8_t h[TS_HDR_LEN];
		struct ike_cur sel;
		uint16_t slen;
		size_t alen;

		if (ike_cur_get(&c, h, sizeof(h)))
			return -EBADMSG;
		slen = (uint16_t)(h[2] << 8 | h[3]);
		if (h[0] == IKE_TS_IPV4_ADDR_RANGE)
			alen = 4;
		else if (h[0] == IKE_TS_IPV6_ADDR_RANGE)
			alen = 16;
		else
			return -EBADMSG; /* a selector type we cannot represent */
		/* fixed-size selectors: compare with == */
		if (slen != TS_HDR_LEN + 2 * alen || ike_cur_sub(&c, slen - TS_HDR_LEN, &sel))
			return -EBADMSG;
		if (out) {
			struct ike_ts *t = &out->ts[i];

			t->type = h[0];
			t->proto = h[1];
			t->port_lo = (uint16_t)(h[4] << 8 | h[5]);
			t->port_hi = (uint16_t)(h[6] << 8 | h[7]);
			if (ike_cur_get(&sel, t->start, alen) || ike_cur_get(&sel, t->end, alen))
				return -EBADMSG;
			out->n = (uint8_t)(i + 1);
		}
	}
	if (ike_cur_left(&c))
		return -EBADMSG; /* more bytes than the announced selectors */
	return 0;
}

int ike_pld_ts(const uint8_t *body, size_t len, struct ike_ts_list *out)
{
	int err = parse_ts(body, len, NULL);

	return err ? err : parse_ts(body, len, out);
}

/* ---- Notify, Delete, CP, SKF ----------------------------------------------------------------- */

int ike_pld_notify(const uint8_t *body, size_t len, struct ike_pld_notify *out)
{
	struct ike_pld_notify n = { 0 };
	struct ike_cur c;

	ike_cur_init(&c, body, len);
	if (ike_cur_u8(&c, &n.proto) || ike_cur_u8(&c, &n.spi_len) || ike_cur_be16(&c, &n.type))
		return -EBADMSG;
	if (n.proto > IKE_PROTO_ESP)
		return -EBADMSG;
	if (n.spi_len != 0 && n.spi_len != IKE_ESP_SPI_LEN && n.spi_len != IKE_SPI_LEN)
		return -EBADMSG;
	if (ike_cur_get(&c, n.spi, n.spi_len))
		return -EBADMSG;
	n.data = ike_cur_ptr(&c);
	n.len = ike_cur_left(&c);
	*out = n;
	return 0;
}

int ike_pld_delete(const uint8_t *body, size_t len, struct ike_pld_delete *out)
{
	struct ike_pld_delete d = { 0 };
	struct ike_cur c;

	ike_cur_init(&c, body, len);
	if (ike_cur_u8(&c, &d.proto) || ike_cur_u8(&c, &d.spi_len) || ike_cur_be16(&c, &d.n_spi))
		return -EBADMSG;
	/* §3.11: IKE SA deletes carry no SPI; ESP/AH deletes carry n 4-byte SPIs */
	if (d.proto == IKE_PROTO_IKE) {
		if (d.spi_len || d.n_spi || ike_cur_left(&c))
			return -EBADMSG;
	} else if (d.proto == IKE_PROTO_AH || d.proto == IKE_PROTO_ESP) {
		if (d.spi_len != IKE_ESP_SPI_LEN || !d.n_spi || d.n_spi > DELETE_MAX_SPIS ||
		    ike_cur_left(&c) != (size_t)d.n_spi * IKE_ESP_SPI_LEN)
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	d.spis = ike_cur_ptr(&c);
	*out = d;
	return 0;
}

int ike_pld_cp(const uint8_t *body, size_t len, struct ike_pld_cp *out)
{
	struct ike_pld_cp cp = { 0 };
	struct ike_cur c;

	ike_cur_init(&c, body, len);
	if (ike_cur_u8(&c, &cp.type) || get_reserved(&c, 3))
		return -EBADMSG;
	if (cp.type < IKE_CFG_REQUEST || cp.type > IKE_CFG_ACK)
		return -EBADMSG;
	while (ike_cur_left(&c)) {
		uint16_t type, alen;
		struct ike_cur val;

		if (cp.n_attrs >= CP_MAX_ATTRS)
			return -EBADMSG;
		if (ike_cur_be16(&c, &type) || ike_cur_be16(&c, &alen))
			return -EBADMSG;
		if ((type & 0x8000) || ike_cur_sub(&c, alen, &val))
			return -EBADMSG; /* reserved bit, or value past the payload */
		cp.n_attrs++;
	}
	*out = cp;
	return 0;
}

int ike_pld_skf(const uint8_t *body, size_t len, struct ike_pld_skf *out)
{
	struct ike_pld_skf f;
	struct ike_cur c;

	ike_cur_init(&c, body, len);
	if (ike_cur_be16(&c, &f.num) || ike_cur_be16(&c, &f.total))
		return -EBADMSG;
	if (!f.num || f.num > f.total || f.total > IKE_MAX_FRAGMENTS)
		return -EBADMSG;
	*out = f;
	return 0;
}

int ike_pld_validate(uint8_t type, const uint8_t *body, size_t len)
{
	union {
		struct ike_pld_ke ke;
		struct ike_chunk ch;
		struct ike_pld_id id;
		struct ike_pld_notify n;
		struct ike_pld_delete d;
		struct ike_pld_cp cp;
		struct ike_pld_skf skf;
	} u;

	switch (type) {
	case IKE_PLD_SA:
		return parse_sa(body, len, NULL);
	case IKE_PLD_KE:
		return ike_pld_ke(body, len, &u.ke);
	case IKE_PLD_IDI:
	case IKE_PLD_IDR:
		return ike_pld_id(body, len, &u.id);
	case IKE_PLD_AUTH:
		return ike_pld_auth(body, len, &u.id);
	case IKE_PLD_NONCE:
		return ike_pld_nonce(body, len, &u.ch);
	case IKE_PLD_NOTIFY:
		return ike_pld_notify(body, len, &u.n);
	case IKE_PLD_DELETE:
		return ike_pld_delete(body, len, &u.d);
	case IKE_PLD_TSI:
	case IKE_PLD_TSR:
		return parse_ts(body, len, NULL);
	case IKE_PLD_CP:
		return ike_pld_cp(body, len, &u.cp);
	case IKE_PLD_SKF:
		return ike_pld_skf(body, len, &u.skf);
	}
	/* V, CERT, CERTREQ, EAP: opaque here; SK: checked when decrypted */
	return 0;
}

/* ---- building -------------------------------------------------------------------------------- */

void ike_chain_init(struct ike_chain *c, struct ike_wbuf *w)
{
	c->w = w;
	c->last = 0;
	c->first = 0;
	c->any = false;
}

size_t ike_chain_begin(struct ike_chain *c, uint8_t type, bool critical)
{
	size_t off;

	if (c->any && !c->w->err)
		c->w->buf[c->last] = type; /* previous payload's Next Payload */
	else if (!c->any)
		c->first = type;
	off = ike_wbuf_zero(c->w, IKE_GEN_PLD_HDR_LEN);
	if (!c->w->err)
		c->w->buf[off + 1] = critical ? IKE_PLD_CRITICAL : 0;
	c->last = off;
	c->any = true;
	return off;
}

void ike_chain_end(struct ike_chain *c, size_t hdr_off)
{
	size_t len = c->w->len - hdr_off;

	if (len > UINT16_MAX) {
		if (!c->w->err)
			c->w->err = -EMSGSIZE;
		return;
	}
	ike_wbuf_patch_be16(c->w, hdr_off + 2, (uint16_t)len);
}

void ike_build_sa(struct ike_chain *c, const struct ike_prop_list *props)
{
	struct ike_wbuf *w = c->w;
	size_t off = ike_chain_begin(c, IKE_PLD_SA, false);

	for (unsigned i = 0; i < props->n && i < IKE_MAX_PROPOSALS; i++) {
		const struct ike_proposal *p = &props->prop[i];
		size_t poff = w->len;

		ike_wbuf_u8(w, i + 1 < props->n ? PROP_MORE : 0);
		ike_wbuf_u8(w, 0);
		ike_wbuf_be16(w, 0); /* patched below */
		ike_wbuf_u8(w, p->num);
		ike_wbuf_u8(w, p->proto);
		ike_wbuf_u8(w, p->spi_len);
		ike_wbuf_u8(w, p->n_trans);
		ike_wbuf_put(w, p->spi, p->spi_len <= IKE_SPI_LEN ? p->spi_len : 0);
		for (unsigned j = 0; j < p->n_trans && j < IKE_MAX_TRANSFORMS; j++) {
			const struct ike_transform *t = &p->trans[j];

			ike_wbuf_u8(w, j + 1 < p->n_trans ? TRANS_MORE : 0);
			ike_wbuf_u8(w, 0);
			ike_wbuf_be16(w, t->keylen ? TRANS_HDR_LEN + ATTR_HDR_LEN : TRANS_HDR_LEN);
			ike_wbuf_u8(w, t->type);
			ike_wbuf_u8(w, 0);
			ike_wbuf_be16(w, t->id);
			if (t->keylen) {
				ike_wbuf_be16(w, IKE_ATTR_AF | IKE_ATTR_KEY_LENGTH);
				ike_wbuf_be16(w, t->keylen);
			}
		}
		if (w->len - poff > UINT16_MAX && !w->err)
			w->err = -EMSGSIZE;
		ike_wbuf_patch_be16(w, poff + 2, (uint16_t)(w->len - poff));
	}
	ike_chain_end(c, off);
}

/* a payload made of a fixed prefix and opaque data */
static void build_simple(struct ike_chain *c, uint8_t type, const uint8_t *pre, size_t pre_len,
			 const uint8_t *data, size_t len)
{
	size_t off = ike_chain_begin(c, type, false);

	ike_wbuf_put(c->w, pre, pre_len);
	ike_wbuf_put(c->w, data, len);
	ike_chain_end(c, off);
}

void ike_build_ke(struct ike_chain *c, uint16_t group, const uint8_t *data, size_t len)
{
	const uint8_t pre[4] = { (uint8_t)(group >> 8), (uint8_t)group, 0, 0 };

	build_simple(c, IKE_PLD_KE, pre, sizeof(pre), data, len);
}

void ike_build_nonce(struct ike_chain *c, const uint8_t *nonce, size_t len)
{
	build_simple(c, IKE_PLD_NONCE, NULL, 0, nonce, len);
}

void ike_build_id(struct ike_chain *c, uint8_t pld_type, uint8_t id_type, const uint8_t *data,
		  size_t len)
{
	const uint8_t pre[4] = { id_type, 0, 0, 0 };

	build_simple(c, pld_type, pre, sizeof(pre), data, len);
}

void ike_build_auth(struct ike_chain *c, uint8_t method, const uint8_t *data, size_t len)
{
	const uint8_t pre[4] = { method, 0, 0, 0 };

	build_simple(c, IKE_PLD_AUTH, pre, sizeof(pre), data, len);
}

void ike_build_ts(struct ike_chain *c, uint8_t pld_type, const struct ike_ts_list *ts)
{
	size_t off = ike_chain_begin(c, pld_type, false);

	ike_wbuf_u8(c->w, ts->n);
	ike_wbuf_zero(c->w, 3);
	for (unsigned i = 0; i < ts->n && i < IKE_MAX_TS; i++) {
		const struct ike_ts *t = &ts->ts[i];
		size_t alen = t->type == IKE_TS_IPV6_ADDR_RANGE ? 16 : 4;

		ike_wbuf_u8(c->w, t->type);
		ike_wbuf_u8(c->w, t->proto);
		ike_wbuf_be16(c->w, (uint16_t)(TS_HDR_LEN + 2 * alen));
		ike_wbuf_be16(c->w, t->port_lo);
		ike_wbuf_be16(c->w, t->port_hi);
		ike_wbuf_put(c->w, t->start, alen);
		ike_wbuf_put(c->w, t->end, alen);
	}
	ike_chain_end(c, off);
}

void ike_build_notify(struct ike_chain *c, uint8_t proto, const uint8_t *spi, uint8_t spi_len,
		      uint16_t type, const uint8_t *data, size_t len)
{
	size_t off = ike_chain_begin(c, IKE_PLD_NOTIFY, false);

	ike_wbuf_u8(c->w, proto);
	ike_wbuf_u8(c->w, spi_len);
	ike_wbuf_be16(c->w, type);
	ike_wbuf_put(c->w, spi, spi_len);
	ike_wbuf_put(c->w, data, len);
	ike_chain_end(c, off);
}

void ike_build_delete(struct ike_chain *c, uint8_t proto, uint8_t spi_len, uint16_t n_spi,
		      const uint8_t *spis)
{
	size_t off = ike_chain_begin(c, IKE_PLD_DELETE, false);

	ike_wbuf_u8(c->w, proto);
	ike_wbuf_u8(c->w, spi_len);
	ike_wbuf_be16(c->w, n_spi);
	ike_wbuf_put(c->w, spis, (size_t)spi_len * n_spi);
	ike_chain_end(c, off);
}

void ike_build_vendor(struct ike_chain *c, const uint8_t *data, size_t len)
{
	build_simple(c, IKE_PLD_VENDOR, NULL, 0, data, len);
}

void ike_build_cp(struct ike_chain *c, uint8_t cfg_type, const uint8_t *attrs, size_t len)
{
	const uint8_t pre[4] = { cfg_type, 0, 0, 0 };

	build_simple(c, IKE_PLD_CP, pre, sizeof(pre), attrs, len);
}
