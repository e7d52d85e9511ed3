// SPDX-License-Identifier: GPL-2.0-only
/*
 * Read cursor, write buffer and secret buffer (see ike_buf.h). The only code here that touches
 * untrusted lengths compares them with the bytes left before any arithmetic (STYLE.md §4).
 * Zeroing goes through ike_cleanse() so that ike_crypto.c stays the only OpenSSL user.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ike_buf.h"
#include "ike_const.h"
#include "ike_crypto.h"

int ike_cur_get(struct ike_cur *c, void *dst, size_t n)
{
	if (n > ike_cur_left(c))
		return -EBADMSG;
	if (n)
		memcpy(dst, c->buf + c->off, n);
	c->off += n;
	return 0;
}

int ike_cur_skip(struct ike_cur *c, size_t n)
{
	if (n > ike_cur_left(c))
		return -EBADMSG;
	c->off += n;
	return 0;
}

int ike_cur_sub(struct ike_cur *c, size_t n, struct ike_cur *sub)
{
	if (n > ike_cur_left(c))
		return -EBADMSG;
	ike_cur_init(sub, c->buf + c->off, n);
	c->off += n;
	return 0;
}

int ike_cur_u8(struct ike_cur *c, uint8_t *v)
{
	return ike_cur_get(c, v, 1);
}

int ike_cur_be16(struct ike_cur *c, uint16_t *v)
{
	uint8_t b[2];

	if (ike_cur_get(c, b, sizeof(b)))
		return -EBADMSG;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

int ike_cur_be32(struct ike_cur *c, uint32_t *v)
{
	uint8_t b[4];

	if (ike_cur_get(c, b, sizeof(b)))
		return -EBADMSG;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

int ike_secret_alloc(struct ike_secret *s, size_t len)
{
	ike_secret_free(s);
	/* calloc(0) may return NULL: keep one byte so that ptr != NULL means allocated */
	s->ptr = calloc(1, len ? len : 1);
	if (!s->ptr)
		return -ENOMEM;
	s->len = len;
	return 0;
}

int ike_secret_set(struct ike_secret *s, const void *p, size_t len)
{
	int err = ike_secret_alloc(s, len);

	if (err)
		return err;
	if (len)
		memcpy(s->ptr, p, len);
	return 0;
}

void ike_secret_free(struct ike_secret *s)
{
	if (!s->ptr)
		return;
	ike_cleanse(s->ptr, s->len);
	free(s->ptr);
	s->ptr = NULL;
	s->len = 0;
}

void ike_wbuf_init(struct ike_wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

void ike_wbuf_free(struct ike_wbuf *w)
{
	if (w->buf) {
		ike_cleanse(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

void ike_wbuf_reset(struct ike_wbuf *w)
{
	if (w->buf)
		ike_cleanse(w->buf, w->len);
	w->len = 0;
	w->err = 0;
}

/* Makes room for n more bytes; 0 or sets the sticky error. */
static int wbuf_grow(struct ike_wbuf *w, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (w->err)
		return w->err;
	if (n > IKE_MAX_MSG - w->len) {
		w->err = -EMSGSIZE;
		return w->err;
	}
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	/* no realloc: the old block may hold secrets and must be zeroed before it is freed */
	nb = malloc(cap);
	if (!nb) {
		w->err = -ENOMEM;
		return w->err;
	}
	if (w->buf) {
		memcpy(nb, w->buf, w->len);
		ike_cleanse(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nb;
	w->cap = cap;
	return 0;
}

void ike_wbuf_put(struct ike_wbuf *w, const void *p, size_t n)
{
	if (wbuf_grow(w, n))
		return;
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void ike_wbuf_u8(struct ike_wbuf *w, uint8_t v)
{
	ike_wbuf_put(w, &v, 1);
}

void ike_wbuf_be16(struct ike_wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	ike_wbuf_put(w, b, sizeof(b));
}

void ike_wbuf_be32(struct ike_wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	ike_wbuf_put(w, b, sizeof(b));
}

size_t ike_wbuf_zero(struct ike_wbuf *w, size_t n)
{
	size_t off = w->len;

	if (wbuf_grow(w, n))
		return off;
	memset(w->buf + w->len, 0, n);
	w->len += n;
	return off;
}

void ike_wbuf_patch_be16(struct ike_wbuf *w, size_t off, uint16_t v)
{
	if (w->err || off > w->len || w->len - off < 2)
		return;
	w->buf[off] = (uint8_t)(v >> 8);
	w->buf[off + 1] = (uint8_t)v;
}

void ike_wbuf_patch_be32(struct ike_wbuf *w, size_t off, uint32_t v)
{
	if (w->err || off > w->len || w->len - off < 4)
		return;
	w->buf[off] = (uint8_t)(v >> 24);
	w->buf[off + 1] = (uint8_t)(v >> 16);
	w->buf[off + 2] = (uint8_t)(v >> 8);
	w->buf[off + 3] = (uint8_t)v;
}
