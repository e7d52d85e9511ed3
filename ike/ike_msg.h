/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * IKEv2 message framing (RFC 7296 §3.1-§3.2, §3.14; RFC 5282; RFC 7383): the IKE header, the
 * walk over the payload chain, the SK payload's encryption and integrity, and RFC 7383
 * fragmentation and reassembly (SKF). Sans-IO: bytes in, bytes out.
 *
 * Receiving: ike_msg_parse() checks the header and the whole cleartext chain (every payload
 * body validated, see ike_pld.h) and stops at SK/SKF, which must be last. With the peer's keys,
 * ike_sk_open() checks the ICV, decrypts, and walks the inner chain into the same struct; an SKF
 * message goes to ike_frag_add()/ike_frag_finish() instead. The struct then lists every payload
 * in wire order (outer first) with bodies pointing into the datagram or the decrypted buffer,
 * so the datagram must outlive it. Errors:
 *   -EBADMSG          malformed (answer INVALID_SYNTAX where §2.21 says so)
 *   -EPROTONOSUPPORT  major version is not 2 (hdr is filled: answer INVALID_MAJOR_VERSION)
 *   -ENOTSUP          unknown payload with the critical bit: its type is in unsupported_critical
 *                     (answer UNSUPPORTED_CRITICAL_PAYLOAD, §2.5)
 *   -EACCES           ICV or AEAD tag mismatch (drop silently, §2.21.2)
 *
 * Sending: build payload bodies with a struct ike_chain (ike_pld.h) into a buffer, then wrap them
 * with ike_msg_build() (cleartext, IKE_SA_INIT) or ike_sk_seal() / ike_sk_seal_frags().
 */
#ifndef IKE_MSG_H
#define IKE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_buf.h"
#include "ike_const.h"
#include "ike_pld.h"

/* The IKE header (§3.1), host order. */
struct ike_hdr {
	uint8_t spi_i[IKE_SPI_LEN];
	uint8_t spi_r[IKE_SPI_LEN];
	uint8_t next;	  /* first payload type */
	uint8_t version;  /* IKE_VERSION_2 */
	uint8_t exchange; /* enum ike_exchange */
	uint8_t flags;	  /* enum ike_hdr_flags */
	uint32_t msgid;
	uint32_t length; /* whole message, header included */
};

/* Keys and algorithms protecting one direction of SK payloads (SK_ei/SK_ai or SK_er/SK_ar). */
struct ike_sk_keys {
	uint16_t encr;
	uint16_t encr_bits;
	uint16_t integ; /* IKE_INTEG_NONE with AES-GCM */
	struct ike_chunk ke, ka;
};

struct ike_msg {
	struct ike_hdr hdr;
	const uint8_t *raw; /* the datagram (borrowed); NULL for a reassembled message */
	size_t raw_len;
	uint8_t n_pld;	 /* payloads in pld[] */
	uint8_t n_outer; /* of which cleartext, before SK/SKF */
	struct ike_pld pld[IKE_MAX_PAYLOADS];
	uint8_t sk_type; /* IKE_PLD_SK, IKE_PLD_SKF or 0 */
	uint8_t sk_next; /* Next Payload of SK/SKF: first inner payload */
	size_t sk_off;	 /* offset of the SK/SKF generic header in raw */
	struct ike_pld_skf frag;
	uint8_t unsupported_critical;
	bool decrypted;
	struct ike_secret plain; /* decrypted inner payloads, owned */
};

/* Parses a datagram's IKE message (after any non-ESP marker). out needs no initialisation;
 * call ike_msg_free() after any return. */
int ike_msg_parse(const uint8_t *buf, size_t len, struct ike_msg *out);
/* Verifies and decrypts the SK payload of m with the sender's keys, then parses the inner
 * payloads into m. */
int ike_sk_open(struct ike_msg *m, const struct ike_sk_keys *k);
/* First payload of type in m (outer or decrypted), or NULL. */
const struct ike_pld *ike_msg_find(const struct ike_msg *m, uint8_t type);
/* Frees what m owns (the decrypted buffer, zeroed). */
void ike_msg_free(struct ike_msg *m);

/* Writes the 28-byte header with h's fields. */
void ike_hdr_write(struct ike_wbuf *w, const struct ike_hdr *h);
/* A cleartext message: h (next and length set from the arguments) then the payloads. */
int ike_msg_build(const struct ike_hdr *h, uint8_t first, const uint8_t *plds, size_t len,
		  struct ike_wbuf *out);
/* A message whose only payload is SK holding the inner chain (first, inner[0..len)), with a
 * random IV, padding, and the ICV/tag (§3.14, RFC 5282 §3). */
int ike_sk_seal(const struct ike_hdr *h, const struct ike_sk_keys *k, uint8_t first,
		const uint8_t *inner, size_t len, struct ike_wbuf *out);
/*
 * RFC 7383 §2.5: the same inner chain split over SKF messages of at most max_msg bytes each
 * (IKE header included), written to frags[0..*n). frags must be initialised. -EMSGSIZE if more
 * than min(n_max, IKE_MAX_FRAGMENTS) fragments would be needed or max_msg leaves no room;
 * -EINVAL for an empty chain (first == 0).
 */
int ike_sk_seal_frags(const struct ike_hdr *h, const struct ike_sk_keys *k, uint8_t first,
		      const uint8_t *inner, size_t len, size_t max_msg, struct ike_wbuf *frags,
		      size_t n_max, size_t *n);

/* ---- RFC 7383 reassembly --------------------------------------------------------------------- */

/* Fragments of one message ID being collected. Zero-initialise; ike_frag_free() releases. */
struct ike_frag_reasm {
	bool active;
	uint32_t msgid;
	uint16_t total, have;
	uint8_t first; /* Next Payload of fragment 1 */
	struct ike_hdr hdr;
	struct ike_secret part[IKE_MAX_FRAGMENTS];
};

/*
 * Verifies and decrypts a parsed SKF message m and stores its plaintext. Returns 1 when all
 * fragments are in (call ike_frag_finish()), 0 when more are needed or the fragment was a
 * duplicate or obsolete (§2.6.1: a fragment announcing fewer fragments than the current set is
 * ignored; more restarts the set), -EACCES/-EBADMSG if it is refused (the set is kept).
 */
int ike_frag_add(struct ike_frag_reasm *r, const struct ike_msg *m, const struct ike_sk_keys *k);
/* Parses the reassembled inner chain into out (which takes the plaintext) and resets r. */
int ike_frag_finish(struct ike_frag_reasm *r, struct ike_msg *out);
void ike_frag_free(struct ike_frag_reasm *r);

#endif /* IKE_MSG_H */
