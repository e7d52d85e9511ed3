/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Parsed forms of the SA payload (proposals and transforms, RFC 7296 §3.3) and of the TS
 * payloads (RFC 7296 §3.13), shared by the message codec (ike_pld.c parses into and builds from
 * them), proposal negotiation (ike_prop.c) and traffic-selector logic (ike_ts.c). They are plain
 * fixed-size structs without pointers so that they can be copied, compared and filled straight
 * from fuzz input; every count is bounded by the limits in ike_const.h and a codec that meets more
 * than the bound rejects the message instead of truncating it.
 */
#ifndef IKE_PROP_H
#define IKE_PROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_const.h"

/*
 * One transform (RFC 7296 §3.3.2). keylen is the Key Length attribute in bits (RFC 7296
 * §3.3.5), 0 when the transform carries no attribute (fixed-size ciphers, PRF, INTEG, DH, ESN).
 * The Key Length attribute is the only one defined; a codec meeting any other attribute rejects
 * the transform as §3.3.6 asks.
 */
struct ike_transform {
	uint8_t type; /* enum ike_transform_type */
	uint16_t id;  /* enum ike_encr_id / ike_prf_id / ike_integ_id / ike_dh_id / ike_esn_id */
	uint16_t keylen;
};

/*
 * One proposal substructure (RFC 7296 §3.3.1). spi holds spi_len bytes (0 in IKE_SA_INIT, 8 for
 * an IKE SA rekey, 4 for ESP/AH), in wire order. Transforms keep the order they had on the wire,
 * which is the sender's preference order within each type.
 */
struct ike_proposal {
	uint8_t num;   /* proposal number, 1-based; a responder echoes the chosen one */
	uint8_t proto; /* enum ike_protocol_id */
	uint8_t spi_len;
	uint8_t spi[IKE_SPI_LEN];
	uint8_t n_trans;
	struct ike_transform trans[IKE_MAX_TRANSFORMS];
};

/* The proposals of one SA payload, in the sender's order of preference. */
struct ike_prop_list {
	uint8_t n;
	struct ike_proposal prop[IKE_MAX_PROPOSALS];
};

/*
 * One traffic selector (RFC 7296 §3.13.1). Addresses are in network order; an IPv4 selector uses
 * bytes 0..3 of start/end and leaves 4..15 zero. proto 0 means any IP protocol; ports are in
 * host order and the full range 0..65535 means any port. The codec does not require
 * start <= end or port_lo <= port_hi (RFC 7296 §3.13.1 writes OPAQUE ports as 65535..0): such a
 * selector is kept as sent, and ike_ts.c treats an empty address or port range as matching
 * nothing.
 */
struct ike_ts {
	uint8_t type;  /* IKE_TS_IPV4_ADDR_RANGE or IKE_TS_IPV6_ADDR_RANGE */
	uint8_t proto; /* IP protocol, 0 = any */
	uint16_t port_lo, port_hi;
	uint8_t start[16], end[16];
};

/* The selectors of one TSi or TSr payload (RFC 7296 §3.13), in wire order. */
struct ike_ts_list {
	uint8_t n;
	struct ike_ts ts[IKE_MAX_TS];
};

/*
 * Proposal strings (strongSwan syntax, see ike_prop_parse()) and negotiation.
 *
 * Selection order: the RESPONDER'S OWN CONFIGURED ORDER WINS (as strongSwan does by default).
 * ike_prop_select() walks our proposals in our order and, for each, the peer's proposals in the
 * peer's order; the first pair that can be satisfied is chosen, and within that pair each
 * transform type takes our most preferred algorithm that the peer also offered. The peer's order
 * only breaks ties between its own proposals. One exception, to save an INVALID_KE_PAYLOAD round
 * trip: when the caller passes the group of the peer's KE payload as ke_hint and the chosen pair
 * accepts that group on both sides, that group is chosen.
 *
 * Transform semantics (RFC 7296 §3.3.3, §3.3.6): every type that applies to the protocol must end
 * with exactly one transform. An absent INTEG or DH type counts as {NONE}, an absent ESN type as
 * {no ESN}; ENCR (IKE, ESP) and PRF (IKE) have no such default. A peer proposal that carries a
 * transform type not defined for its protocol is skipped, as §3.3.6 requires. Algorithms match
 * on (type, id, key length): a Key Length attribute must be equal on both sides. An AEAD cipher
 * (AES-GCM) is only combined with INTEG NONE, any other cipher only with a real INTEG algorithm.
 */
enum ike_prop_flags {
	IKE_PROP_ALLOW_WEAK = 1 << 0, /* accept MD5, PRF-MD5 and MODP 1024 (group 2) */
};

enum ike_prop_info {
	IKE_PROP_INFO_WEAK = 1 << 0, /* a weak algorithm was accepted: the caller logs a warning */
	IKE_PROP_INFO_STRICT = 1 << 1, /* the string ended in '!': no defaults were appended */
	IKE_PROP_INFO_DEFAULTS = 1
				 << 2, /* our default proposals were appended (or 'default' used) */
};

enum ike_prop_sizes {
	IKE_PROP_ERR_LEN = 160, /* room for any message of ike_prop_parse() */
	IKE_PROP_STR_LEN = 256, /* room for one formatted proposal of ours */
};

/*
 * Parses a proposal string for proto (IKE_PROTO_IKE or IKE_PROTO_ESP) into out, numbering the
 * proposals from 1 and leaving their SPIs empty. Syntax: proposals separated by ',', algorithm
 * keywords inside a proposal separated by '-', several algorithms of one kind in preference order
 * ("aes256-aes128-sha256-ecp384-modp3072"); the keyword 'default' stands for our default
 * proposals, the only way they are offered; what is written is exactly what is offered and
 * accepted (a trailing '!', strongSwan's ipsec.conf marker for that, is accepted and changes nothing).
 * IKE: ENCR + INTEG + DH, PRF implied from each INTEG when none is given (sha256 -> prfsha256),
 * AEAD needs an explicit PRF and takes no INTEG. ESP: ENCR + INTEG (none with AEAD), optional DH
 * groups for PFS ('none' makes PFS optional), esn/noesn (default noesn).
 * Weak algorithms are refused unless flags has IKE_PROP_ALLOW_WEAK; *info (may be NULL) gets
 * IKE_PROP_INFO_* bits. Returns 0, or -EINVAL with a message in err (may be NULL) that names the
 * offending token and its column, or -E2BIG when the proposals exceed the list bounds.
 */
int ike_prop_parse(const char *str, uint8_t proto, unsigned int flags, struct ike_prop_list *out,
		   unsigned int *info, char *err, size_t errlen);

/*
 * Writes one proposal as a keyword string ("aes256-sha256-ecp384", "aes128gcm16-prfsha256-
 * x25519", "null-md5"); transforms we have no keyword for are written as "<type><id>[_<keylen>]"
 * (e.g. "encr23", "dh5"). The list form separates proposals with ','. The output is always
 * NUL-terminated; returns 0, or -ENOSPC if it had to be truncated.
 */
int ike_prop_format(const struct ike_proposal *p, char *buf, size_t len);
int ike_prop_list_format(const struct ike_prop_list *l, char *buf, size_t len);
/* "no proposal chosen: ours X, theirs Y" for the log line of a failed selection. */
int ike_prop_mismatch_msg(const struct ike_prop_list *ours, const struct ike_prop_list *theirs,
			  char *buf, size_t len);

/*
 * Responder: chooses one transform of each type from the peer's offer (see the order above).
 * chosen gets the peer's proposal number, protocol and SPI (the caller puts its own SPI there
 * before answering) and the transforms in type order. Peer proposals whose SPI size does not
 * fit the protocol (4 for ESP/AH, 0 or 8 for IKE) are skipped. Returns 0, or -ENOENT when
 * nothing matches (send NO_PROPOSAL_CHOSEN).
 */
int ike_prop_select(const struct ike_prop_list *ours, const struct ike_prop_list *theirs,
		    uint16_t ke_hint, struct ike_proposal *chosen);

/*
 * Initiator: checks the responder's SA payload against what we offered: exactly one proposal,
 * whose number names one of ours with the same protocol and SPI size, carrying exactly one
 * transform of each applicable type, each one we offered in that proposal (a type left out counts
 * as NONE / no ESN, accepted only if we offered that). On success copies it to chosen (may be
 * NULL). Returns 0, or -EBADMSG with the reason in why (may be NULL).
 */
int ike_prop_check_reply(const struct ike_prop_list *offered, const struct ike_prop_list *reply,
			 struct ike_proposal *chosen, char *why, size_t whylen);

/* The transform of the given type in p, or NULL. */
const struct ike_transform *ike_prop_find(const struct ike_proposal *p, uint8_t type);

/*
 * Initiator: the DH group to send in KE first, the first group of our first proposal that has
 * one (0 when no proposal asks for DH, e.g. ESP without PFS).
 */
uint16_t ike_prop_first_dh(const struct ike_prop_list *ours);

/*
 * INVALID_KE_PAYLOAD (RFC 7296 §1.2, §3.10.1): whether the group the responder asks for is one
 * we offered, so that we may retry with it. NONE is never acceptable.
 */
bool ike_prop_offers_dh(const struct ike_prop_list *ours, uint16_t group);

/*
 * IKE_AUTH carries no KE (RFC 7296 §1.2): removes DH transforms from every proposal, for the
 * CHILD SA offered or selected there. Later CREATE_CHILD_SA exchanges use the full list.
 */
void ike_prop_list_strip_dh(struct ike_prop_list *l);

/* Whether the ENCR id is a combined-mode (AEAD) cipher that takes no INTEG transform. */
bool ike_prop_encr_is_aead(uint16_t id);

#endif /* IKE_PROP_H */
