/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to the engine's state machine (ike_sa.c, ike_exchange.c, ike_child.c): the engine, IKE
 * SA and CHILD SA objects, the request/response bookkeeping of one IKE SA (window 1, §2.3), the
 * queue of exchanges an SA still has to start, and the helpers the exchange code shares. Nothing
 * here is part of the public API (ike.h).
 */
#ifndef IKE_SA_H
#define IKE_SA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "ike.h"
#include "ike_crypto.h"
#include "ike_pld.h"
#include "ike_ts.h"

enum ike_sa_limits {
	IKE_SA_MAX_TASKS = 16,	    /* queued exchanges per IKE SA */
	IKE_COOKIE_SECRET_LEN = 32, /* bytes */
	IKE_COOKIE_LEN = 1 + 32,    /* version byte + HMAC-SHA256 */
	IKE_NATD_LEN = 20,	    /* SHA-1 (§2.23) */
	IKE_NONCE_LEN = 32,	    /* the nonces we send */
	IKE_SA_HASH = 256,	    /* buckets of the SPI table */
	IKE_ERR_RATE = 20,	    /* unauthenticated error events per second */
};

/* Internal states; ike_sa_state in ike.h is the coarse public view. */
enum sa_state {
	SA_INIT_I = 1,	/* initiator: IKE_SA_INIT sent */
	SA_INIT_R,	/* responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open) */
	SA_AUTH_I,	/* initiator: IKE_AUTH sent */
	SA_ESTABLISHED, /* IKE_AUTH done */
	SA_REKEYED,	/* replaced by a rekeyed IKE SA; waits for / sends the DELETE */
	SA_DELETING,	/* DELETE sent, waiting for the answer */
	SA_DEAD,	/* to be freed at the end of the current input */
};

/* What an SA's outstanding request (or a queued one) does. */
enum task_kind {
	TASK_NONE = 0,
	TASK_IKE_INIT,
	TASK_IKE_AUTH,
	TASK_CHILD_CREATE, /* cfg + optional trigger selectors */
	TASK_CHILD_REKEY,  /* child_id */
	TASK_CHILD_DELETE, /* child_id */
	TASK_IKE_REKEY,
	TASK_IKE_DELETE,
	TASK_DPD,
};

struct ike_task {
	enum task_kind kind;
	uint32_t child_id;		 /* REKEY/DELETE: the child; CREATE: unused */
	const struct ike_child_cfg *cfg; /* CREATE */
	uint16_t dh_group;		 /* CREATE/REKEY: the PFS group to use (INVALID_KE) */
	bool has_trig;
	struct ike_ts trig_local, trig_remote;
};

/* One message as it leaves: one datagram, or its RFC 7383 fragments. */
struct ike_wire_dgram {
	uint8_t *data;
	size_t len;
};

struct ike_wire {
	unsigned int n;
	struct ike_wire_dgram *d; /* heap, n entries */
};

enum child_state {
	CHILD_CREATING = 1, /* our request is in flight (or we are answering) */
	CHILD_INSTALLED,
	CHILD_REKEYING, /* our rekey request is in flight */
	CHILD_REKEYED,	/* replaced by a newer CHILD SA; deleted soon */
	CHILD_DELETING, /* our DELETE is in flight */
};

struct ike_child {
	struct ike_child *next;
	const struct ike_child_cfg *cfg;
	uint32_t id;
	enum child_state state;
	uint32_t spi_in, spi_out; /* host order */
	struct ike_suite esp;	  /* encr/encr_bits/integ/dh (PFS); prf unused */
	bool esn;
	bool transport;
	bool installed;	    /* inbound SA reported to the caller */
	bool out_installed; /* outbound SA reported */
	bool superseded;    /* a rekey replaced it */
	struct ike_ts *ts;  /* negotiated: n_local local, then n_remote remote */
	uint8_t n_local, n_remote;
	uint64_t installed_ms;
	uint64_t rekey_ms, expire_ms; /* 0: none */
	uint32_t replaces_id;	      /* a rekey: the child this one replaces */
	uint32_t collision_id;	      /* §2.8.1: the peer's rekey of this child, created by us */
	/* make-before-break (rekey responder): outbound SA held until the initiator switches */
	struct ike_event *pending_out;
	uint64_t switch_ms;
	/* collision bookkeeping (§2.8.1): the lowest nonce of the exchange that created it */
	uint8_t min_nonce[IKE_NONCE_LEN]; /* its first octets (see nonce_cmp()) */
	uint16_t min_nonce_len;
};

/* The request we are waiting to have answered (window 1). */
struct ike_outstanding {
	enum task_kind kind;
	uint32_t mid;
	uint8_t exch;
	struct ike_wire wire;
	unsigned int tries;
	uint64_t sent_ms, next_ms, give_up_ms; /* give_up_ms 0: by tries only */
	/* exchange context */
	uint32_t child_id;		 /* REKEY/DELETE target, or the child being created */
	const struct ike_child_cfg *cfg; /* CREATE */
	struct ike_ts_list *prop_tsi, *prop_tsr;
	uint32_t new_spi;		  /* our new ESP SPI (CREATE/REKEY) */
	uint8_t new_ike_spi[IKE_SPI_LEN]; /* IKE rekey: our new SPI */
	struct ike_secret nonce;
	struct ike_dh *dh;
	uint16_t dh_group;
};

struct ike_engine;

struct ike_sa {
	struct ike_sa *next, *hnext;
	struct ike_engine *eng;
	const struct ike_peer_cfg *peer;      /* NULL until the responder knows it (IKE_AUTH) */
	const struct ike_peer_cfg *init_peer; /* responder: the config used for IKE_SA_INIT */
	uint32_t id;
	enum sa_state state;
	bool initiator; /* original initiator of this IKE SA (keys, SPI order, flags) */
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	struct ike_addr local, remote;
	bool natt;		    /* moved to port 4500 */
	bool nat_local, nat_remote; /* §2.23: which side is behind a NAT */
	bool peer_frag;		    /* IKEV2_FRAGMENTATION_SUPPORTED received */
	struct ike_suite suite;
	struct ike_sa_keys keys;
	struct ike_secret ni, nr;
	struct ike_dh *dh;
	uint16_t dh_group;
	struct ike_secret cookie;      /* initiator: COOKIE to echo */
	uint8_t *init_req, *init_resp; /* IKE_SA_INIT messages, for AUTH; freed once up */
	size_t init_req_len, init_resp_len;
	uint32_t req_mid;  /* next request message ID we send */
	uint32_t peer_mid; /* next request message ID we expect from the peer */
	struct ike_outstanding out;
	bool out_active;
	struct ike_wire resp; /* cached last response, for retransmitted requests */
	uint32_t resp_mid;
	bool resp_valid;
	uint8_t req_hash[IKE_NATD_LEN]; /* SHA-1 of the request resp answers (retransmits) */
	struct ike_task *tasks;		/* heap, only while work is queued */
	unsigned int n_tasks;
	struct ike_child *children;
	uint64_t created_ms, established_ms, last_in_ms;
	uint64_t rekey_ms, expire_ms, delete_ms, half_open_ms;
	uint32_t replaced_by; /* IKE rekey: the new SA's id */
	/* IKE rekey collisions: lowest nonce of the exchange that created this SA */
	uint8_t min_nonce[IKE_NONCE_LEN];
	uint16_t min_nonce_len;
	struct ike_frag_reasm *frag; /* RFC 7383 reassembly, allocated on the first fragment */
	uint8_t cookie_tries, ke_tries;
	uint32_t rekeyed_from;	   /* IKE rekey: the SA this one replaced */
	uint32_t ike_collision_id; /* §2.8.1: the peer's rekey of this SA, answered by us */
};

struct ike_outq {
	struct ike_outq *next;
	struct ike_output o;
};

struct ike_engine {
	struct ike_engine_cfg cfg; /* peers point to the copies below */
	struct ike_peer_cfg *peers;
	unsigned int n_peers;
	struct ike_sa *sas;
	struct ike_sa *hash[IKE_SA_HASH]; /* by our SPI */
	unsigned int n_half_open;
	uint32_t next_id;
	struct ike_outq *oq_head, **oq_tail;
	/* stateless cookies (§2.6): the current and the previous secret */
	uint8_t cookie_secret[2][IKE_COOKIE_SECRET_LEN];
	uint8_t cookie_version;
	uint64_t cookie_rotated_ms;
	bool cookie_init;
	uint64_t err_window_ms;
	unsigned int err_count;
	uint64_t now;
	/* peer configs replaced by ike_engine_reconfigure() that SAs may still point to (SAs being
	 * deleted keep their old configuration); freed with the engine */
	struct ike_retired *retired;
};

struct ike_retired {
	struct ike_retired *next;
	struct ike_peer_cfg *peers;
	unsigned int n_peers;
};

struct ike_frag_reasm;

/* ---- ike_sa.c: engine services --------------------------------------------------------------- */
void eng_log(struct ike_engine *eng, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int eng_random(struct ike_engine *eng, void *buf, size_t len);
bool eng_error_allowed(struct ike_engine *eng);
uint32_t eng_rand_u32(struct ike_engine *eng);
/* a fresh non-zero id */
uint32_t eng_id(struct ike_engine *eng);
int eng_push_dgram(struct ike_engine *eng, const struct ike_addr *local,
		   const struct ike_addr *remote, const uint8_t *data, size_t len);
/* queues ev (the engine takes ownership); NULL-safe on allocation failure */
void eng_push_event(struct ike_engine *eng, struct ike_event *ev);
/* a zeroed event filled with the SA's identity */
struct ike_event *sa_event(struct ike_sa *sa, enum ike_event_type type);
void sa_error(struct ike_sa *sa, enum ike_reason r, uint16_t notify, const char *child,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* a new SA with our SPI (random when spi is NULL), linked and hashed */
struct ike_sa *sa_new(struct ike_engine *eng, bool initiator, const uint8_t *spi);
void sa_hash_add(struct ike_sa *sa);
struct ike_sa *sa_find(struct ike_engine *eng, const uint8_t spi_i[IKE_SPI_LEN],
		       const uint8_t spi_r[IKE_SPI_LEN], bool spi_r_zero_ok);
/* marks the SA dead after emitting IKE_DOWN (and child deletes); freed by the reaper */
void sa_down(struct ike_sa *sa, enum ike_reason r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sa_reap(struct ike_engine *eng);
struct ike_sa *sa_by_id(struct ike_engine *eng, uint32_t id);
/* a fresh ESP SPI (>= 256), unique among this engine's CHILD SAs */
uint32_t eng_alloc_spi(struct ike_engine *eng);
struct ike_child *eng_child_by_spi(struct ike_engine *eng, uint32_t spi, struct ike_sa **sap);
void wire_free(struct ike_wire *w);
void outstanding_clear(struct ike_outstanding *o);
uint64_t sa_next_deadline(const struct ike_sa *sa);

/* tasks */
int sa_queue(struct ike_sa *sa, const struct ike_task *t);
/* starts the next queued task if the window is free */
void sa_kick(struct ike_sa *sa);
bool sa_has_task(const struct ike_sa *sa, enum task_kind kind, uint32_t child_id);

/* config */
const struct ike_peer_cfg *eng_peer_by_name(struct ike_engine *eng, const char *name);
bool addr_match(const struct ike_addr *cfg, const struct ike_addr *a, bool with_port);
bool addr_equal(const struct ike_addr *a, const struct ike_addr *b);
uint64_t life_rekey_ms(struct ike_engine *eng, const struct ike_life_cfg *l, uint64_t now);

/* ---- ike_exchange.c: messages, IKE_SA_INIT, IKE_AUTH, INFORMATIONAL --------------------------- */
struct ike_msg;
struct ike_chain;
struct ike_wbuf;

int exch_input(struct ike_engine *eng, const struct ike_addr *local, const struct ike_addr *remote,
	       const uint8_t *dgram, size_t len);
/* starts the exchange of task t; <0 when nothing was sent (the task is dropped) */
int exch_start(struct ike_sa *sa, const struct ike_task *t);
void exch_retransmit(struct ike_sa *sa);
/* seals the chain built in inner and sends it as our next request (sa->out must be filled) */
int sa_send_req(struct ike_sa *sa, uint8_t exch, const struct ike_chain *c,
		const struct ike_wbuf *inner);
int sa_send_resp(struct ike_sa *sa, uint8_t exch, uint32_t mid, const struct ike_chain *c,
		 const struct ike_wbuf *inner);
void sa_established(struct ike_sa *sa);
struct ike_sk_keys;
/* the SK keys for a message this side sends (sending) or receives on sa */
void sa_sk_keys(const struct ike_sa *sa, bool sending, struct ike_sk_keys *k);
/* the first notify of this type in m (0) or -ENOENT */
int msg_notify(const struct ike_msg *m, uint16_t type, struct ike_pld_notify *out);
/* the first error notify type in m, or 0 */
uint16_t msg_error_notify(const struct ike_msg *m);
void suite_from_proposal(const struct ike_proposal *p, bool weak, struct ike_suite *s);
const char *notify_name(uint16_t type);
int sa_random_nonce(struct ike_sa *sa, struct ike_secret *n);

/* ---- ike_child.c --------------------------------------------------------------------------- */
struct ike_child *child_find(struct ike_sa *sa, uint32_t id);
struct ike_child *child_by_spi(struct ike_sa *sa, uint32_t spi);
void child_free(struct ike_child *c);
/* emits CHILD_DELETE (if installed) and unlinks/frees */
void child_remove(struct ike_sa *sa, struct ike_child *c, enum ike_reason r);
void child_switch_out(struct ike_sa *sa, struct ike_child *c);
/* initiator: appends the CHILD SA part of an IKE_AUTH / CREATE_CHILD_SA request, fills o */
int child_req_build(struct ike_sa *sa, struct ike_outstanding *o, const struct ike_task *t,
		    bool in_auth, struct ike_chain *c);
/* initiator: the CHILD SA part of the answer */
void child_req_done(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o,
		    bool in_auth);
/* responder: the CHILD SA part of an IKE_AUTH request; appends the answer to c */
void child_respond_auth(struct ike_sa *sa, const struct ike_msg *m, struct ike_chain *c);
/* CREATE_CHILD_SA: start (CHILD create/rekey, IKE rekey), request, response */
int child_start(struct ike_sa *sa, const struct ike_task *t);
void ccsa_request(struct ike_sa *sa, const struct ike_msg *m);
void ccsa_response(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o);
/* INFORMATIONAL DELETE of CHILD SAs */
int child_delete_start(struct ike_sa *sa, const struct ike_task *t);
/* responder: removes the SAs named by a DELETE payload, appends our SPIs to spis */
void child_delete_request(struct ike_sa *sa, const struct ike_pld_delete *d, uint32_t *spis,
			  unsigned int max, unsigned int *n);
void child_delete_response(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o);

#endif /* IKE_SA_H */
