/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Parsing, validation and building of the body of every IKEv2 payload (RFC 7296 §3.2-§3.15,
 * RFC 7383 §2.5): SA (proposals, transforms, attributes), KE, Nonce, IDi/IDr, AUTH, TSi/TSr,
 * Notify, Delete, Vendor ID, CP (validated, then ignored) and the SKF fragment header. A "body"
 * is what follows the 4-byte generic payload header; the chain walk and the generic header live
 * in ike_msg.c.
 *
 * Parsing is validate-then-interpret: ike_pld_validate() checks the structure of any body with
 * no side effects (ike_msg_parse() runs it on every payload before anyone interprets one); each
 * ike_pld_<x>() validates again and only then fills its output, which may point into the body
 * (so it lives as long as the message buffer). All return 0, or -EBADMSG for a malformed body
 * (the engine answers INVALID_SYNTAX). Reserved fields must be zero: this codec is strict.
 *
 * Building appends whole payloads (generic header included) to a struct ike_chain, which links
 * each payload's Next Payload field to the one after it. Builders set out->err on failure.
 */
#ifndef IKE_PLD_H
#define IKE_PLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_buf.h"
#include "ike_const.h"
#include "ike_prop.h"

/* One payload of a parsed message: its type and critical bit, and its body. */
struct ike_pld {
	uint8_t type;
	bool critical;
	const uint8_t *body;
	uint16_t len;
};

struct ike_pld_ke {
	uint16_t group;
	const uint8_t *data;
	size_t len;
};

/* IDi/IDr (§3.5) and AUTH (§3.8) share a layout: a type octet, 3 reserved, data. body/body_len
 * cover the whole body (ID' for the AUTH computation of §2.15). */
struct ike_pld_id {
	uint8_t type; /* enum ike_id_type / enum ike_auth_method */
	const uint8_t *data;
	size_t len;
	const uint8_t *body;
	size_t body_len;
};

struct ike_pld_notify {
	uint8_t proto; /* 0 when the notify concerns no SA */
	uint8_t spi_len;
	uint8_t spi[IKE_SPI_LEN];
	uint16_t type; /* enum ike_notify_type */
	const uint8_t *data;
	size_t len;
};

struct ike_pld_delete {
	uint8_t proto;
	uint8_t spi_len; /* 0 for IKE, 4 for ESP/AH */
	uint16_t n_spi;
	const uint8_t *spis; /* n_spi * spi_len bytes, wire order */
};

struct ike_pld_cp {
	uint8_t type; /* enum ike_cp_type */
	uint16_t n_attrs;
};

struct ike_pld_skf {
	uint16_t num, total; /* RFC 7383 §2.5: 1 <= num <= total */
};

/* Whether type is a payload this codec recognises (so the critical bit is ignored). */
bool ike_pld_known(uint8_t type);
/* Whether at most one payload of this type may appear in a message. */
bool ike_pld_singleton(uint8_t type);
/* Structure check of a body of a recognised type; no side effects. 0 or -EBADMSG. */
int ike_pld_validate(uint8_t type, const uint8_t *body, size_t len);

int ike_pld_sa(const uint8_t *body, size_t len, struct ike_prop_list *out);
int ike_pld_ke(const uint8_t *body, size_t len, struct ike_pld_ke *out);
int ike_pld_nonce(const uint8_t *body, size_t len, struct ike_chunk *out);
int ike_pld_id(const uint8_t *body, size_t len, struct ike_pld_id *out);
int ike_pld_auth(const uint8_t *body, size_t len, struct ike_pld_id *out);
int ike_pld_ts(const uint8_t *body, size_t len, struct ike_ts_list *out);
int ike_pld_notify(const uint8_t *body, size_t len, struct ike_pld_notify *out);
int ike_pld_delete(const uint8_t *body, size_t len, struct ike_pld_delete *out);
int ike_pld_cp(const uint8_t *body, size_t len, struct ike_pld_cp *out);
int ike_pld_skf(const uint8_t *body, size_t len, struct ike_pld_skf *out);

/* ---- building ------------------------------------------------------------------------------- */

/*
 * A payload chain under construction in w. first is the type of the first payload (for the
 * IKE header or the SK payload's Next Payload field); 0 while the chain is empty.
 */
struct ike_chain {
	struct ike_wbuf *w;
	size_t last; /* offset of the last payload's generic header */
	uint8_t first;
	bool any;
};

void ike_chain_init(struct ike_chain *c, struct ike_wbuf *w);
/* Starts a payload: links it from the previous one, writes a generic header with a length
 * to be patched. Returns the header's offset for ike_chain_end(). */
size_t ike_chain_begin(struct ike_chain *c, uint8_t type, bool critical);
/* Patches the payload's length (-EMSGSIZE in w->err past 65535). */
void ike_chain_end(struct ike_chain *c, size_t hdr_off);

/* SA payload from a proposal list (transform Key Length attributes where keylen != 0). */
void ike_build_sa(struct ike_chain *c, const struct ike_prop_list *props);
void ike_build_ke(struct ike_chain *c, uint16_t group, const uint8_t *data, size_t len);
void ike_build_nonce(struct ike_chain *c, const uint8_t *nonce, size_t len);
/* pld_type is IKE_PLD_IDI or IKE_PLD_IDR. */
void ike_build_id(struct ike_chain *c, uint8_t pld_type, uint8_t id_type, const uint8_t *data,
		  size_t len);
void ike_build_auth(struct ike_chain *c, uint8_t method, const uint8_t *data, size_t len);
/* pld_type is IKE_PLD_TSI or IKE_PLD_TSR. */
void ike_build_ts(struct ike_chain *c, uint8_t pld_type, const struct ike_ts_list *ts);
void ike_build_notify(struct ike_chain *c, uint8_t proto, const uint8_t *spi, uint8_t spi_len,
		      uint16_t type, const uint8_t *data, size_t len);
void ike_build_delete(struct ike_chain *c, uint8_t proto, uint8_t spi_len, uint16_t n_spi,
		      const uint8_t *spis);
void ike_build_vendor(struct ike_chain *c, const uint8_t *data, size_t len);
/* CP with pre-encoded attributes (tests and future use: the engine never sends CP). */
void ike_build_cp(struct ike_chain *c, uint8_t cfg_type, const uint8_t *attrs, size_t len);

#endif /* IKE_PLD_H */
