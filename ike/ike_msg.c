// SPDX-License-Identifier: GPL-2.0-only
/*
 * IKE header, payload chain walk, SK/SKF protection and RFC 7383 fragments (see ike_msg.h).
 * The chain walk applies STYLE.md §4's three length checks to each generic header, bounds the
 * walk by IKE_MAX_PAYLOADS, and validates every recognised body before the caller sees any.
 * Integrity is checked before decryption (CBC) or by the AEAD (GCM); nothing decrypted is
 * parsed unless it authenticated.
 */
#include <errno.h>
#include <string.h>

#include "ike_crypto.h"
#include "ike_msg.h"

enum msg_wire {
	SKF_HDR_LEN = IKE_GEN_PLD_HDR_LEN + 4, /* RFC 7383 §2.5: + fragment number and total */
	HDR_FLAGS_KNOWN = IKE_FLAG_INITIATOR | IKE_FLAG_VERSION | IKE_FLAG_RESPONSE,
};

static void read_hdr(const uint8_t *b, struct ike_hdr *h)
{
	memcpy(h->spi_i, b, IKE_SPI_LEN);
	memcpy(h->spi_r, b + 8, IKE_SPI_LEN);
	h->next = b[16];
	h->version = b[17];
	h->exchange = b[18];
	h->flags = b[19];
	h->msgid = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
	h->length = (uint32_t)b[24] << 24 | (uint32_t)b[25] << 16 | (uint32_t)b[26] << 8 | b[27];
}

void ike_hdr_write(struct ike_wbuf *w, const struct ike_hdr *h)
{
	ike_wbuf_put(w, h->spi_i, IKE_SPI_LEN);
	ike_wbuf_put(w, h->spi_r, IKE_SPI_LEN);
	ike_wbuf_u8(w, h->next);
	ike_wbuf_u8(w, h->version);
	ike_wbuf_u8(w, h->exchange);
	ike_wbuf_u8(w, h->flags);
	ike_wbuf_be32(w, h->msgid);
	ike_wbuf_be32(w, h->length);
}

/*
 * Walks a payload chain starting with type first over c, appending to m->pld. outer: the
 * cleartext chain, which may end with SK/SKF; otherwise the decrypted chain, which may not
 * contain them.
 */
static int walk(struct ike_msg *m, struct ike_cur *c, uint8_t first, bool outer)
{
	uint8_t next = first;

	while (next != IKE_PLD_NONE) {
		uint8_t gh[IKE_GEN_PLD_HDR_LEN];
		struct ike_pld *p;
		struct ike_cur body;
		uint16_t plen;
		uint8_t type = next;

		if (m->n_pld >= IKE_MAX_PAYLOADS)
			return -EBADMSG; /* past the bound: reject, never truncate */
		if (ike_cur_get(c, gh, sizeof(gh)))
			return -EBADMSG; /* short generic header */
		next = gh[0];
		plen = (uint16_t)(gh[2] << 8 | gh[3]);
		if (gh[1] & ~IKE_PLD_CRITICAL)
			return -EBADMSG; /* reserved bits */
		if (plen < IKE_GEN_PLD_HDR_LEN || ike_cur_sub(c, plen - IKE_GEN_PLD_HDR_LEN, &body))
			return -EBADMSG; /* length below the header or past the message */
		if (!ike_pld_known(type)) {
			if (gh[1] & IKE_PLD_CRITICAL) {
				m->unsupported_critical = type;
				return -ENOTSUP;
			}
			continue; /* §2.5: skip unknown non-critical payloads */
		}
		if ((type == IKE_PLD_SK || type == IKE_PLD_SKF) && !outer)
			return -EBADMSG; /* SK inside SK */
		if (ike_pld_singleton(type))
			for (unsigned i = 0; i < m->n_pld; i++)
				if (m->pld[i].type == type)
					return -EBADMSG; /* repeated singleton */
		if (ike_pld_validate(type, ike_cur_ptr(&body), ike_cur_left(&body)))
			return -EBADMSG;
		p = &m->pld[m->n_pld++];
		p->type = type;
		p->critical = gh[1] & IKE_PLD_CRITICAL;
		p->body = ike_cur_ptr(&body);
		p->len = (uint16_t)ike_cur_left(&body);
		if (type == IKE_PLD_SK || type == IKE_PLD_SKF) {
			/* §3.14: SK is last, its Next Payload names the first inner payload.
			 * RFC 7383 §2.5: SKF is the only payload */
			if (type == IKE_PLD_SKF && m->n_pld != 1)
				return -EBADMSG;
			if (type == IKE_PLD_SKF && ike_pld_skf(p->body, p->len, &m->frag))
				return -EBADMSG;
			m->sk_type = type;
			m->sk_next = next;
			m->sk_off = (size_t)(p->body - m->raw) - IKE_GEN_PLD_HDR_LEN;
			m->n_outer = m->n_pld;
			break;
		}
	}
	if (ike_cur_left(c))
		return -EBADMSG; /* trailing bytes after the last payload */
	if (outer)
		m->n_outer = m->n_pld;
	return 0;
}

int ike_msg_parse(const uint8_t *buf, size_t len, struct ike_msg *out)
{
	struct ike_cur c;

	memset(out, 0, offsetof(struct ike_msg, plain));
	out->plain = (struct ike_secret){ 0 };
	if (len < IKE_HDR_LEN)
		return -EBADMSG; /* short header */
	read_hdr(buf, &out->hdr);
	out->raw = buf;
	out->raw_len = len;
	if ((out->hdr.version >> 4) != (IKE_VERSION_2 >> 4))
		return -EPROTONOSUPPORT; /* §2.5: minor version is ignored */
	/* the header's length is the message: compare with ==, so trailing bytes are refused */
	if (out->hdr.length != len)
		return -EBADMSG;
	if (out->hdr.flags & ~HDR_FLAGS_KNOWN)
		return -EBADMSG;
	ike_cur_init(&c, buf + IKE_HDR_LEN, len - IKE_HDR_LEN);
	return walk(out, &c, out->hdr.next, true);
}

const struct ike_pld *ike_msg_find(const struct ike_msg *m, uint8_t type)
{
	for (unsigned i = 0; i < m->n_pld; i++)
		if (m->pld[i].type == type)
			return &m->pld[i];
	return NULL;
}

void ike_msg_free(struct ike_msg *m)
{
	ike_secret_free(&m->plain);
}

/* ---- SK protection ---------------------------------------------------------------------------- */

/* The algorithms' sizes: IV, ICV, block, for k. */
static int sk_sizes(const struct ike_sk_keys *k, struct ike_encr_info *ei, size_t *icv)
{
	size_t klen;

	if (ike_encr_info(k->encr, k->encr_bits, false, ei) || ei->key_len != k->ke.len)
		return -EINVAL;
	if (ei->aead) {
		if (k->integ != IKE_INTEG_NONE)
			return -EINVAL;
		*icv = ei->icv_len;
		return 0;
	}
	/* weak integrity is refused at negotiation; here any supported one will do */
	if (ike_integ_info(k->integ, true, &klen, icv) || klen != k->ka.len)
		return -EINVAL;
	return 0;
}

/*
 * Verifies and decrypts the protected part of msg[0..len): IV at iv_off, then ciphertext, then
 * ICV to the end. Authenticated data is msg[0..iv_off) (RFC 5282 §5.1; RFC 7383 §2.5.3) for an
 * AEAD, msg[0..len - icv) for integrity. The plaintext without padding goes to *plain.
 */
static int sk_decrypt(const uint8_t *msg, size_t len, size_t iv_off, const struct ike_sk_keys *k,
		      struct ike_secret *plain)
{
	struct ike_encr_info ei;
	size_t icv, ct_len, body;
	const uint8_t *iv, *ct;
	uint8_t pad;
	int err;

	err = sk_sizes(k, &ei, &icv);
	if (err)
		return err;
	body = len - iv_off;
	/* IV, ICV and at least the Pad Length octet (a whole block for CBC) */
	if (body < ei.iv_len + icv + ei.block)
		return -EBADMSG;
	ct_len = body - ei.iv_len - icv;
	if (ct_len % ei.block)
		return -EBADMSG;
	iv = msg + iv_off;
	ct = iv + ei.iv_len;
	if (!ei.aead) {
		const struct ike_chunk auth = { msg, len - icv };

		if (ike_integ_verify(k->integ, k->ka, &auth, 1, msg + len - icv))
			return -EACCES;
	}
	err = ike_secret_alloc(plain, ct_len);
	if (err)
		return err;
	err = ike_decrypt(k->encr, k->ke, iv, (struct ike_chunk){ msg, iv_off }, ct, ct_len,
			  plain->ptr, ct + ct_len);
	if (err) {
		ike_secret_free(plain);
		return err == -EBADMSG ? -EACCES : err;
	}
	pad = plain->ptr[ct_len - 1];
	if ((size_t)pad + 1 > ct_len) {
		ike_secret_free(plain);
		return -EBADMSG;
	}
	/* shrink the view; the padding stays in the buffer and is zeroed on free */
	plain->len = ct_len - pad - 1;
	ike_cleanse(plain->ptr + plain->len, (size_t)pad + 1);
	return 0;
}

int ike_sk_open(struct ike_msg *m, const struct ike_sk_keys *k)
{
	struct ike_cur c;
	int err;

	if (m->sk_type != IKE_PLD_SK || m->decrypted || !m->raw)
		return -EINVAL;
	err = sk_decrypt(m->raw, m->raw_len, m->sk_off + IKE_GEN_PLD_HDR_LEN, k, &m->plain);
	if (err)
		return err;
	m->decrypted = true;
	ike_cur_init(&c, m->plain.ptr, m->plain.len);
	return walk(m, &c, m->sk_next, false);
}

/*
 * Appends an SK (or SKF, frag != NULL) message protecting inner[0..len) to out: header, generic
 * header, IV, encrypted inner | padding | pad length, ICV.
 */
static int seal_one(const struct ike_hdr *h, const struct ike_sk_keys *k, uint8_t first,
		    const struct ike_pld_skf *frag, const uint8_t *inner, size_t len,
		    struct ike_wbuf *out)
{
	struct ike_encr_info ei;
	struct ike_hdr hh = *h;
	size_t icv, pad, ct_len, iv_off, ph_len, total, start = out->len;
	uint8_t *iv;
	int err;

	err = sk_sizes(k, &ei, &icv);
	if (err)
		return err;
	/* pad so that inner | padding | pad length fills whole blocks (§3.14) */
	pad = (ei.block - (len + 1) % ei.block) % ei.block;
	ct_len = len + pad + 1;
	ph_len = frag ? SKF_HDR_LEN : IKE_GEN_PLD_HDR_LEN;
	total = IKE_HDR_LEN + ph_len + ei.iv_len + ct_len + icv;
	if (total > IKE_MAX_MSG)
		return -EMSGSIZE;
	hh.next = frag ? IKE_PLD_SKF : IKE_PLD_SK;
	hh.length = (uint32_t)total;
	ike_hdr_write(out, &hh);
	ike_wbuf_u8(out, first);
	ike_wbuf_u8(out, 0);
	ike_wbuf_be16(out, (uint16_t)(total - IKE_HDR_LEN));
	if (frag) {
		ike_wbuf_be16(out, frag->num);
		ike_wbuf_be16(out, frag->total);
	}
	iv_off = ike_wbuf_zero(out, ei.iv_len) - start;
	ike_wbuf_put(out, inner, len);
	ike_wbuf_zero(out, pad + 1);
	ike_wbuf_zero(out, icv);
	if (out->err)
		return out->err;
	out->buf[start + iv_off + ei.iv_len + ct_len - 1] = (uint8_t)pad;
	iv = out->buf + start + iv_off;
	err = ike_random(iv, ei.iv_len);
	if (err)
		goto err_trunc;
	err = ike_encrypt(k->encr, k->ke, iv, (struct ike_chunk){ out->buf + start, iv_off },
			  iv + ei.iv_len, ct_len, iv + ei.iv_len, iv + ei.iv_len + ct_len);
	if (err)
		goto err_trunc;
	if (!ei.aead) {
		const struct ike_chunk auth = { out->buf + start, total - icv };

		err = ike_integ(k->integ, k->ka, &auth, 1, out->buf + start + total - icv);
		if (err)
			goto err_trunc;
	}
	return 0;
err_trunc:
	/* never leave plaintext in the output buffer */
	ike_cleanse(out->buf + start, out->len - start);
	out->len = start;
	return err;
}

int ike_msg_build(const struct ike_hdr *h, uint8_t first, const uint8_t *plds, size_t len,
		  struct ike_wbuf *out)
{
	struct ike_hdr hh = *h;

	if (len > IKE_MAX_MSG - IKE_HDR_LEN)
		return -EMSGSIZE;
	hh.next = first;
	hh.length = (uint32_t)(IKE_HDR_LEN + len);
	ike_hdr_write(out, &hh);
	ike_wbuf_put(out, plds, len);
	return out->err;
}

int ike_sk_seal(const struct ike_hdr *h, const struct ike_sk_keys *k, uint8_t first,
		const uint8_t *inner, size_t len, struct ike_wbuf *out)
{
	return seal_one(h, k, first, NULL, inner, len, out);
}

int ike_sk_seal_frags(const struct ike_hdr *h, const struct ike_sk_keys *k, uint8_t first,
		      const uint8_t *inner, size_t len, size_t max_msg, struct ike_wbuf *frags,
		      size_t n_max, size_t *n)
{
	struct ike_encr_info ei;
	size_t icv, over, room, chunk, count;
	int err;

	*n = 0;
	if (first == IKE_PLD_NONE)
		return -EINVAL; /* fragment 1 must name the first inner payload */
	err = sk_sizes(k, &ei, &icv);
	if (err)
		return err;
	over = IKE_HDR_LEN + SKF_HDR_LEN + ei.iv_len + icv;
	if (max_msg > IKE_MAX_MSG)
		max_msg = IKE_MAX_MSG;
	if (max_msg < over + ei.block)
		return -EMSGSIZE;
	/* whole blocks of ciphertext, one octet of which is the Pad Length */
	room = (max_msg - over) / ei.block * ei.block;
	chunk = room - 1;
	if (!chunk)
		return -EMSGSIZE;
	count = len ? (len + chunk - 1) / chunk : 1;
	if (count > n_max || count > IKE_MAX_FRAGMENTS)
		return -EMSGSIZE;
	for (size_t i = 0; i < count; i++) {
		const struct ike_pld_skf f = { (uint16_t)(i + 1), (uint16_t)count };
		size_t off = i * chunk, l = len - off < chunk ? len - off : chunk;

		ike_wbuf_reset(&frags[i]);
		/* RFC 7383 §2.5: only the first fragment names the first inner payload */
		err = seal_one(h, k, i ? 0 : first, &f, inner + off, l, &frags[i]);
		if (err)
			return err;
	}
	*n = count;
	return 0;
}

/* ---- reassembly ------------------------------------------------------------------------------- */

void ike_frag_free(struct ike_frag_reasm *r)
{
	for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
		ike_secret_free(&r->part[i]);
	memset(r, 0, sizeof(*r));
}

int ike_frag_add(struct ike_frag_reasm *r, const struct ike_msg *m, const struct ike_sk_keys *k)
{
	struct ike_secret plain = { 0 };
	uint16_t num = m->frag.num, total = m->frag.total;
	int err;

	if (m->sk_type != IKE_PLD_SKF || !m->raw)
		return -EINVAL;
	/* §2.5: fragment 1 names the first inner payload; later ones MUST send zero, which we
	 * ignore on receipt (only fragment 1's value is ever used) */
	if (num == 1 && m->sk_next == IKE_PLD_NONE)
		return -EBADMSG;
	if (r->active && r->msgid == m->hdr.msgid) {
		if (total < r->total)
			return 0; /* §2.6.1: stale fragment of a larger set */
		if (total == r->total && r->part[num - 1].ptr)
			return 0; /* duplicate */
	}
	/* authenticate before letting the fragment change any state */
	err = sk_decrypt(m->raw, m->raw_len, m->sk_off + SKF_HDR_LEN, k, &plain);
	if (err)
		return err;
	if (!r->active || r->msgid != m->hdr.msgid || total > r->total) {
		ike_frag_free(r);
		r->active = true;
		r->msgid = m->hdr.msgid;
		r->total = total;
	}
	r->part[num - 1] = plain; /* takes ownership */
	r->have++;
	if (num == 1) {
		r->first = m->sk_next;
		r->hdr = m->hdr;
	}
	return r->have == r->total ? 1 : 0;
}

int ike_frag_finish(struct ike_frag_reasm *r, struct ike_msg *out)
{
	struct ike_cur c;
	size_t len = 0, off = 0;
	int err;

	memset(out, 0, offsetof(struct ike_msg, plain));
	out->plain = (struct ike_secret){ 0 };
	if (!r->active || r->have != r->total)
		return -EINVAL;
	for (unsigned i = 0; i < r->total; i++)
		len += r->part[i].len;
	err = ike_secret_alloc(&out->plain, len);
	if (err)
		return err;
	for (unsigned i = 0; i < r->total; i++) {
		if (r->part[i].len)
			memcpy(out->plain.ptr + off, r->part[i].ptr, r->part[i].len);
		off += r->part[i].len;
	}
	out->hdr = r->hdr;
	out->hdr.next = IKE_PLD_SK; /* reads as an ordinary protected message */
	out->sk_type = IKE_PLD_SK;
	out->sk_next = r->first;
	out->decrypted = true;
	ike_frag_free(r);
	ike_cur_init(&c, out->plain.ptr, out->plain.len);
	err = walk(out, &c, out->sk_next, false);
	return err;
}
