/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Public API of the IKEv2 engine (RFC 7296). The engine is sans-IO: it opens no socket, reads no
 * clock and keeps no global state. The caller feeds it datagrams (with the addresses they came
 * from and to), timer ticks and administrative requests, each with the current time in
 * milliseconds from any monotonic origin, then pulls outputs in order with
 * ike_engine_next_output(): datagrams to send and events (IKE SA up/down, CHILD SA install,
 * outbound switch and delete with full keying material, errors with a reason). Randomness
 * (SPIs, nonces, jitter) comes from an injectable callback so that two engines in one process
 * run deterministically in tests; DH key pairs come from OpenSSL (ike_crypto.h).
 *
 * Outputs must be handled in the order they are returned: an inbound CHILD SA is always reported
 * before the datagram that lets the peer use it, and the outbound SA only when it may carry
 * traffic (after a rekey, the rekey responder gets IKE_EV_CHILD_SWITCH_OUT once the initiator has
 * moved to the new SA, so no packet is lost; §2.8 and strongSwan's make-before-break).
 */
#ifndef IKE_H
#define IKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike_buf.h"
#include "ike_const.h"
#include "ike_prop.h"

enum ike_api_sizes {
	IKE_NAME_MAX = 64,   /* peer and child names, including the NUL */
	IKE_ID_MAX = 128,    /* identification data bytes */
	IKE_REASON_MAX = 512 /* human-readable reason text of an event, including the NUL */
};

/* Defaults applied where a config field is 0. */
enum ike_defaults {
	IKE_DEF_RETRANSMIT_MS = 4000,	  /* first retransmission timeout (strongSwan: 4 s) */
	IKE_DEF_RETRANSMIT_FACTOR = 180,  /* percent: timeout grows ×1.8 per try */
	IKE_DEF_RETRANSMIT_TRIES = 5,	  /* retransmissions before giving up */
	IKE_DEF_HALF_OPEN_MS = 30000,	  /* a responder SA waiting for IKE_AUTH */
	IKE_DEF_COOKIE_THRESHOLD = 64,	  /* half-open SAs before COOKIE is required (§2.6) */
	IKE_DEF_COOKIE_ROTATE_MS = 60000, /* cookie secret lifetime; the previous one is accepted */
	IKE_DEF_SWITCH_MS = 30000,	  /* rekey responder: switch outbound at the latest after */
	IKE_DEF_DELETE_MS = 5000,	  /* keep a rekeyed IKE SA this long for late requests */
	IKE_DEF_FRAG_MTU = 1280,	  /* RFC 7383: default fragment size target */
};

/* A transport address; port and address in host / network order respectively. */
struct ike_addr {
	uint8_t family; /* AF_INET, AF_INET6, or 0: "any" (remote peer config only) */
	uint16_t port;	/* host order; 0 in a config means 500 */
	uint8_t addr[16];
};

/* An identity (RFC 7296 §3.5). type 0 in a remote_id means "accept any identity". */
struct ike_id {
	uint8_t type; /* enum ike_id_type */
	uint8_t len;
	uint8_t data[IKE_ID_MAX];
};

/*
 * Lifetimes of an IKE or CHILD SA. The SA is rekeyed at lifetime - margin - rand(0, margin *
 * fuzz_pct / 100) (strongSwan's rekeymargin/rekeyfuzz) and deleted at lifetime if still there.
 * Byte/packet limits apply to CHILD SAs only and are passed down to the kernel (hard = limit,
 * soft = limit - margin, fuzzed likewise). 0 means unlimited / no rekey.
 */
struct ike_life_cfg {
	uint32_t lifetime_s;
	uint32_t margin_s;
	uint8_t fuzz_pct;
	uint64_t bytes, margin_bytes;
	uint64_t packets, margin_packets;
};

/* One CHILD SA configuration of a peer. */
struct ike_child_cfg {
	char name[IKE_NAME_MAX];
	uint32_t reqid;		     /* assigned by the daemon, carried in every child event */
	struct ike_ts_list local_ts; /* our side: TSi when we initiate */
	struct ike_ts_list remote_ts;
	bool transport;		  /* USE_TRANSPORT_MODE */
	struct ike_prop_list esp; /* ESP proposals incl. PFS groups (ike_prop_parse) */
	struct ike_life_cfg life;
};

enum ike_conn_mode {
	IKE_CONN_BOTH = 0,
	IKE_CONN_INITIATOR_ONLY, /* never answers an IKE_SA_INIT for this peer */
	IKE_CONN_RESPONDER_ONLY, /* never initiates (no initiate/acquire/rekey-by-recreate) */
};

/*
 * One peer (connection). The engine copies it at ike_engine_new() (including the PSK and the
 * children), so the caller may free its copy at once.
 */
struct ike_peer_cfg {
	char name[IKE_NAME_MAX];
	struct ike_addr local;	/* family 0: any local address */
	struct ike_addr remote; /* family 0: any (responder only) */
	struct ike_id local_id;
	struct ike_id remote_id; /* type 0: any identity */
	struct ike_secret psk;	 /* borrowed for the call, copied */
	struct ike_prop_list ike;
	struct ike_life_cfg ike_life;
	uint32_t dpd_delay_s;	/* liveness check after this idle time; 0: off */
	uint32_t dpd_timeout_s; /* peer dead when a liveness check is unanswered this long */
	enum ike_conn_mode mode;
	bool strict_ts; /* refuse (TS_UNACCEPTABLE) instead of narrowing (see ike_ts.h) */
	bool weak;	/* allow MD5 / MODP 1024 (logged) */
	bool send_initial_contact;
	unsigned int n_children;
	const struct ike_child_cfg *children;
};

/* log levels of the log callback (syslog's numbers). */
enum ike_log_level {
	IKE_LOG_WARN = 4,
	IKE_LOG_INFO = 6,
	IKE_LOG_DEBUG = 7,
};

struct ike_engine_cfg {
	const struct ike_peer_cfg *peers;
	unsigned int n_peers;
	/* randomness for SPIs, nonces, jitter and cookie secrets; NULL: ike_random() */
	int (*random)(void *ctx, void *buf, size_t len);
	void *random_ctx;
	/* log sink; NULL: silent. Lines never contain key material. */
	void (*log)(void *ctx, int level, const char *line);
	void *log_ctx;
	/* 0 = the IKE_DEF_* defaults */
	uint32_t retransmit_ms;
	uint32_t retransmit_factor_pct;
	uint32_t retransmit_tries;
	uint32_t half_open_ms;
	uint32_t cookie_threshold;
	uint32_t cookie_rotate_ms;
	uint32_t switch_ms;
	uint32_t delete_ms;
	uint32_t frag_mtu;
};

struct ike_engine;

/* NULL with errno set (EINVAL for a bad config, ENOMEM). */
struct ike_engine *ike_engine_new(const struct ike_engine_cfg *cfg);
/* Frees everything (keys zeroed), including undelivered outputs. Accepts NULL. */
void ike_engine_free(struct ike_engine *eng);

/*
 * A datagram received on local from remote. dgram starts at the IKE header: the caller strips
 * the 4-byte non-ESP marker of port-4500 datagrams (RFC 3948) and handles NAT keepalives and ESP
 * itself. Returns 0 (also when the datagram was dropped or answered with an error notify:
 * malformed input never fails the call), or -ENOMEM.
 */
int ike_engine_input(struct ike_engine *eng, uint64_t now_ms, const struct ike_addr *local,
		     const struct ike_addr *remote, const uint8_t *dgram, size_t len);
/* Runs every timer due at now_ms (retransmissions, DPD, rekeys, expiries, half-open). */
int ike_engine_timer(struct ike_engine *eng, uint64_t now_ms);
/* The earliest absolute time at which ike_engine_timer() has work, or UINT64_MAX. */
uint64_t ike_engine_next_deadline(const struct ike_engine *eng);

/*
 * Establishes the CHILD SA child_name (NULL: every child of the peer) with peer_name, creating
 * the IKE SA first if there is none. -ENOENT unknown peer/child, -EPERM responder-only peer,
 * -EALREADY when that child is already up or being created.
 */
int ike_engine_initiate(struct ike_engine *eng, uint64_t now_ms, const char *peer_name,
			const char *child_name);
/*
 * A kernel ACQUIRE for the child with this reqid; src/dst (may be NULL) is the triggering
 * packet, proposed first in TSi/TSr (§2.9). -ENOENT when no child has the reqid.
 */
int ike_engine_acquire(struct ike_engine *eng, uint64_t now_ms, uint32_t reqid,
		       const struct ike_ts *src, const struct ike_ts *dst);
/*
 * A kernel EXPIRE for the CHILD SA whose inbound or outbound SPI is spi: soft starts a rekey,
 * hard deletes the CHILD SA (and its peer half). -ENOENT unknown SPI.
 */
int ike_engine_expire(struct ike_engine *eng, uint64_t now_ms, uint32_t spi, bool hard);
/*
 * Deletes the CHILD SA child_name of peer_name, or the whole IKE SA with its children when
 * child_name is NULL (INFORMATIONAL with DELETE, §1.4.1). -ENOENT when nothing is up.
 */
int ike_engine_delete(struct ike_engine *eng, uint64_t now_ms, const char *peer_name,
		      const char *child_name);
/*
 * Replaces the peer configurations (a reload). For each current peer, keep(ctx, name) says
 * whether its configuration is unchanged: SAs of kept peers continue with the new copy (no
 * renegotiation); SAs of peers that changed or are gone are deleted with the peer (DELETE, as
 * ike_engine_delete()) under their old configuration. New peers start idle. The new list is
 * copied. Returns 0, -EINVAL (duplicate names, a bad config: nothing changed) or -ENOMEM.
 */
int ike_engine_reconfigure(struct ike_engine *eng, uint64_t now_ms,
			   const struct ike_peer_cfg *peers, unsigned int n_peers,
			   bool (*keep)(void *ctx, const char *peer), void *ctx);
/*
 * Traffic was seen on the inbound SA spi (e.g. its kernel use time moved). After a rekey the
 * responder uses this to switch its outbound SA (the initiator has switched); it also counts as
 * a sign of life, so DPD sends no liveness check while traffic flows. Cheap; -ENOENT for an SPI
 * that is not one of our inbound SAs.
 */
int ike_engine_child_traffic(struct ike_engine *eng, uint64_t now_ms, uint32_t spi_in);

/* ---- outputs --------------------------------------------------------------------------------- */

/*
 * Event order and meaning. Every IKE_UP is followed, eventually, by one IKE_DOWN with the same
 * ike_sa_id; a negotiation that fails reports IKE_DOWN (and an ERROR) without IKE_UP. An IKE
 * rekey reports IKE_UP for the new SA first and later IKE_DOWN with IKE_R_REKEYED for the old
 * one (and for the redundant SA of a collision): its CHILD SAs moved to the new SA without any
 * CHILD event, so the tunnel stays up.
 * CHILD_DELETE names both SPIs; spi_out is 0 when the outbound SA was never installed (a
 * redundant SA of a rekey collision whose outbound switch never happened).
 */
enum ike_event_type {
	IKE_EV_IKE_UP = 1,	 /* IKE SA established (or a rekeyed one took over) */
	IKE_EV_IKE_DOWN,	 /* IKE SA gone; reason says why; its children are deleted first */
	IKE_EV_CHILD_INSTALL,	 /* install one SA (child.inbound says which direction) */
	IKE_EV_CHILD_SWITCH_OUT, /* install this outbound SA now: it replaces child.old_spi */
	IKE_EV_CHILD_DELETE,	 /* remove both SAs (child.spi_in / child.spi_out) */
	IKE_EV_ERROR,		 /* a negotiation failed; code + text; SAs may stay up */
};

enum ike_reason {
	IKE_R_NONE = 0,
	IKE_R_LOCAL_DELETE,    /* ike_engine_delete() or a hard expiry */
	IKE_R_PEER_DELETE,     /* the peer sent DELETE */
	IKE_R_DEAD_PEER,       /* DPD or retransmissions exhausted */
	IKE_R_REKEYED,	       /* replaced by a rekeyed SA */
	IKE_R_EXPIRED,	       /* hard lifetime */
	IKE_R_HALF_OPEN,       /* responder: IKE_AUTH never came */
	IKE_R_INITIAL_CONTACT, /* the peer restarted (INITIAL_CONTACT on a new SA) */
	IKE_R_AUTH_FAILED,     /* AUTHENTICATION_FAILED (ours or theirs) */
	IKE_R_NO_PROPOSAL,     /* NO_PROPOSAL_CHOSEN (ours or theirs) */
	IKE_R_INVALID_KE,      /* INVALID_KE_PAYLOAD with no acceptable group */
	IKE_R_TS_UNACCEPTABLE, /* TS_UNACCEPTABLE (ours or theirs); the IKE SA stays */
	IKE_R_NO_CONFIG,       /* no peer/child configuration matches */
	IKE_R_PEER_ERROR,      /* the peer answered with another error notify */
	IKE_R_SYNTAX,	       /* malformed message (INVALID_SYNTAX) */
	IKE_R_INTERNAL,	       /* local failure (memory, crypto) */
	IKE_R_REDUNDANT,       /* the loser of a rekey collision (§2.8.1) */
};

/* A CHILD SA, or one of its two directions, as the kernel needs it. */
struct ike_child_sa {
	uint32_t reqid;
	uint32_t child_id; /* engine-unique id of the CHILD SA pair; a rekey gets a new one */
	bool inbound;	   /* INSTALL/SWITCH_OUT: which direction this event installs */
	uint32_t spi;	   /* the SPI of that direction (host order) */
	uint32_t spi_in, spi_out;
	uint32_t old_spi; /* rekey: the same direction's SPI of the SA being replaced, else 0 */
	struct ike_addr src, dst; /* outer addresses of this direction (ports: UDP encap) */
	bool encap;		  /* ESP in UDP (RFC 3948) with src.port / dst.port */
	bool transport;
	uint16_t encr, encr_bits, integ;
	bool esn;
	struct ike_secret encr_key; /* GCM: includes the 4-byte salt */
	struct ike_secret integ_key;
	struct ike_ts_list ts_local, ts_remote; /* negotiated */
	uint64_t soft_s, hard_s;		/* lifetimes relative to installation */
	uint64_t soft_bytes, hard_bytes, soft_packets, hard_packets;
};

struct ike_event {
	enum ike_event_type type;
	char peer[IKE_NAME_MAX];
	char child[IKE_NAME_MAX]; /* child events, errors about a child */
	uint32_t ike_sa_id;	  /* engine-unique */
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	struct ike_addr local, remote;
	enum ike_reason reason;
	uint16_t notify;	   /* the notify type sent or received, 0 if none */
	char text[IKE_REASON_MAX]; /* human-readable detail (proposals, narrowing reason) */
	struct ike_child_sa child_sa;
};

struct ike_dgram {
	struct ike_addr local, remote;
	bool non_esp_marker; /* prepend 4 zero bytes: sent on port 4500 (RFC 3948 §2.2) */
	uint8_t *data;
	size_t len;
};

enum ike_output_kind {
	IKE_OUT_NONE = 0,
	IKE_OUT_DGRAM,
	IKE_OUT_EVENT,
};

struct ike_output {
	enum ike_output_kind kind;
	struct ike_dgram dgram;
	struct ike_event *ev;
};

/*
 * Moves the oldest pending output into *out (the caller owns it and releases it with
 * ike_output_free()). Returns 1 when an output was returned, 0 when none is pending.
 */
int ike_engine_next_output(struct ike_engine *eng, struct ike_output *out);
/* Frees an output's data; zeroes the keys of a CHILD SA event. Accepts a zeroed output. */
void ike_output_free(struct ike_output *out);

/* ---- status ------------------------------------------------------------------------------- */

enum ike_sa_state {
	IKE_SA_CONNECTING = 1, /* IKE_SA_INIT / IKE_AUTH in progress */
	IKE_SA_ESTABLISHED,
	IKE_SA_REKEYING,
	IKE_SA_DELETING,
};

struct ike_sa_info {
	uint32_t ike_sa_id;
	char peer[IKE_NAME_MAX];
	enum ike_sa_state state;
	bool initiator;
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	struct ike_addr local, remote;
	bool nat_local, nat_remote;
	char ike_proposal[IKE_PROP_STR_LEN]; /* negotiated, formatted */
	unsigned int n_children;
};

/* Calls cb for every IKE SA (stop early by returning non-zero). Returns the number visited. */
unsigned int ike_engine_foreach_sa(const struct ike_engine *eng,
				   int (*cb)(void *ctx, const struct ike_sa_info *info), void *ctx);

/* A printable name for a reason or event type (never NULL). */
const char *ike_reason_name(enum ike_reason r);
const char *ike_event_name(enum ike_event_type t);

#endif /* IKE_H */
