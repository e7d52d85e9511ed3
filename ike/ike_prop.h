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

#endif /* IKE_PROP_H */
