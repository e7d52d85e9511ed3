/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Byte buffers of the IKE engine: the checked read cursor every wire parser uses (STYLE.md §4),
 * a growable write buffer with a sticky error for the builders, a (pointer, length) chunk for
 * passing concatenated inputs to the crypto layer without copying, and the one secret-buffer type
 * that holds keys, nonces, shared secrets and decrypted plaintext and zeroes them when freed.
 */
#ifndef IKE_BUF_H
#define IKE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Read cursor over untrusted bytes. Invariant: off <= len. */
struct ike_cur {
	const uint8_t *buf;
	size_t len, off;
};

static inline void ike_cur_init(struct ike_cur *c, const uint8_t *buf, size_t len)
{
	c->buf = buf;
	c->len = len;
	c->off = 0;
}

static inline size_t ike_cur_left(const struct ike_cur *c)
{
	return c->len - c->off;
}

/* Current read position (valid for ike_cur_left() bytes). */
static inline const uint8_t *ike_cur_ptr(const struct ike_cur *c)
{
	return c->buf + c->off;
}

/* Copies n bytes out and advances; -EBADMSG (nothing consumed) if fewer than n are left. */
int ike_cur_get(struct ike_cur *c, void *dst, size_t n);
/* Advances by n; -EBADMSG if fewer than n are left. */
int ike_cur_skip(struct ike_cur *c, size_t n);
/* Hands the next n bytes out as their own cursor and advances past them; -EBADMSG if short. */
int ike_cur_sub(struct ike_cur *c, size_t n, struct ike_cur *sub);
/* Big-endian integer reads; -EBADMSG if short. */
int ike_cur_u8(struct ike_cur *c, uint8_t *v);
int ike_cur_be16(struct ike_cur *c, uint16_t *v);
int ike_cur_be32(struct ike_cur *c, uint32_t *v);

/* A borrowed byte string, e.g. one part of a PRF input. */
struct ike_chunk {
	const uint8_t *ptr;
	size_t len;
};

/*
 * Secret bytes (SK_*, nonces, DH shared secrets, PSKs, plaintext). Owned by the struct; embed it
 * by value and zero-initialise it. ike_secret_free() zeroes with OPENSSL_cleanse (through
 * ike_cleanse()) before freeing and accepts an empty or already freed buffer.
 */
struct ike_secret {
	uint8_t *ptr;
	size_t len;
};

/* Replaces s's contents with len zero bytes. 0 or -ENOMEM (s is then empty). */
int ike_secret_alloc(struct ike_secret *s, size_t len);
/* Replaces s's contents with a copy of p[0..len). 0 or -ENOMEM. */
int ike_secret_set(struct ike_secret *s, const void *p, size_t len);
void ike_secret_free(struct ike_secret *s);

static inline struct ike_chunk ike_secret_chunk(const struct ike_secret *s)
{
	return (struct ike_chunk){ s->ptr, s->len };
}

/*
 * Growable write buffer for builders. After the first failure (allocation, or a length past
 * IKE_MAX_MSG) every call is a no-op and err keeps -ENOMEM/-EMSGSIZE, so a builder writes its
 * whole output and checks err once. It may carry plaintext payloads before encryption, so
 * ike_wbuf_free() zeroes it too.
 */
struct ike_wbuf {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void ike_wbuf_init(struct ike_wbuf *w);
void ike_wbuf_free(struct ike_wbuf *w);
/* Drops the contents (zeroed) but keeps the allocation; clears err. */
void ike_wbuf_reset(struct ike_wbuf *w);
void ike_wbuf_put(struct ike_wbuf *w, const void *p, size_t n);
void ike_wbuf_u8(struct ike_wbuf *w, uint8_t v);
void ike_wbuf_be16(struct ike_wbuf *w, uint16_t v);
void ike_wbuf_be32(struct ike_wbuf *w, uint32_t v);
/* Appends n zero bytes and returns their offset (for fields patched later). */
size_t ike_wbuf_zero(struct ike_wbuf *w, size_t n);
/* Overwrites 2 bytes at off (written earlier) with v, big-endian. */
void ike_wbuf_patch_be16(struct ike_wbuf *w, size_t off, uint16_t v);
void ike_wbuf_patch_be32(struct ike_wbuf *w, size_t off, uint32_t v);

#endif /* IKE_BUF_H */
