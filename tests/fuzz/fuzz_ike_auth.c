// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the IKE engine behind an established, authenticated IKE SA. Every input
 * starts from the same state: engines A (initiator) and B (responder) complete IKE_SA_INIT and
 * IKE_AUTH with CHILD SA "net" (deterministic with the fuzz-build crypto, about as cheap as a
 * clone would be). The rest of the input is a script: the most important step injects a
 * *plaintext* inner payload chain, with exchange type, flags and message ID taken from the input,
 * which the harness seals with the keys of one of the target engine's IKE SAs exactly as its
 * peer would (SK, or SKF fragments), so that mutations reach CREATE_CHILD_SA (new CHILD SA, CHILD
 * rekey, IKE rekey), INFORMATIONAL (DELETE, liveness, notifies), rekey collisions, the message
 * ID window and reassembly instead of dying at the ICV. Other steps relay the engines' own
 * datagrams (raw, or decrypted and re-sealed), drop them, advance the simulated clock (timers:
 * retransmissions, DPD, rekeys, expiries) and make administrative requests.
 *
 * After every step the harness checks invariants beyond "no crash, no leak": every datagram an
 * engine sends parses, and decrypts with the keys of its IKE SA (anything after IKE_SA_INIT is
 * encrypted); message IDs never go back; every CHILD SA install carries keys of the negotiated
 * algorithms' sizes and selectors within the configuration; no SA is installed twice or deleted
 * without being installed; every installed SA belongs to a live CHILD SA of the engine; IKE_UP
 * and IKE_DOWN pair up.
 *
 * Seeds: with FUZZ_AUTH_RECORD=<file> in the environment, running one input rewrites it to
 * <file> with every relay-and-reseal step replaced by the equivalent injection of its plaintext
 * (tests/fuzz/auth_seeds.sh builds the committed corpus from short scenario scripts this way).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "ike.h"
#include "ike_crypto.h"
#include "ike_msg.h"
#include "ike_prop.h"
#include "ike_sa.h"
#include "ike_ts.h"
#include "../lib/xorshift.h"

enum {
	MAX_FLIGHT = 32,
	MAX_INST = 256, /* installed ESP SAs tracked per engine (stale IKE SAs pile up) */
	MAX_KC = 64,	/* IKE SA keys remembered per engine */
	MAX_IDS = 64,	/* IKE SA ids and message ID watermarks tracked per engine */
	N_SUITES = 2,
	N_CHILD = 3,
	SPI_MARK0 = 0xfe,
	SPI_MARK1 = 0xed,
	SPI_MARK2 = 0xc0,
};

/* Script steps: op = kind << 1 | engine, kinds taken modulo OP_COUNT. */
enum op_kind {
	OP_DELIVER, /* the next datagram in flight, as is */
	OP_DROP,
	OP_RELAY,  /* the next datagram, decrypted and re-sealed (recorded as OP_INJECT) */
	OP_TIME,   /* arg: bit 7 set: (arg & 0x7f) * 10 s, else arg * 100 ms */
	OP_INIT,   /* arg: child */
	OP_SOFT,   /* arg: installed SA */
	OP_HARD,   /* arg: installed SA */
	OP_DELETE, /* arg % 4: the IKE SA, or child arg % 4 - 1 */
	OP_TRAFFIC,
	OP_INJECT,  /* sel exch flags mid first len_hi len_lo, then len bytes of plaintext */
	OP_ACQUIRE, /* arg: reqid (arg % 4) and the triggering packet's selectors */
	OP_RECONF,  /* arg & 1: the same peers, kept; else new peers (suite (arg >> 1) & 1) */
	OP_COUNT
};

/* OP_INJECT flags byte */
enum inj_flags {
	INJ_RESPONSE = 0x01,
	INJ_FLIP_I = 0x02, /* the wrong Initiator flag */
	INJ_TWICE = 0x04,  /* deliver the message (all fragments) twice */
	INJ_FRAG = 0x08,   /* as RFC 7383 fragments of 96 + 64 * (flags >> 5) bytes */
	INJ_REVERSE = 0x10 /* fragments in reverse order */
};

struct flight {
	int to; /* 0 = A, 1 = B */
	struct ike_addr local, remote;
	uint8_t *data;
	size_t len;
};

/* The keys of one IKE SA of an engine, kept after the SA is gone (late or forged messages). */
struct kc {
	uint32_t sa_id;
	bool initiator;
	uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
	uint16_t encr, encr_bits, integ;
	uint8_t ei[IKE_KEY_MAX], er[IKE_KEY_MAX], ai[IKE_PRF_MAX], ar[IKE_PRF_MAX];
	size_t elen, alen;
};

struct side {
	struct ike_engine *eng;
	uint64_t rng;
	int suite; /* of the engine's current configuration */
	struct ike_addr addr;
	uint32_t spi[MAX_INST];
	bool inbound[MAX_INST];
	unsigned int n_inst;
	bool inst_full; /* more than MAX_INST: the accounting checks stop */
	struct kc kc[MAX_KC];
	unsigned int n_kc;
	bool kc_lost; /* keys of old SAs were dropped: their datagrams go unchecked */
	uint32_t up[MAX_IDS], down[MAX_IDS];
	unsigned int n_up, n_down;
	struct { /* watermarks: per IKE SA id, the message IDs seen last */
		uint32_t id, req_mid, peer_mid;
	} wm[MAX_IDS];
	unsigned int n_wm;
	struct { /* per SPI pair, the highest request / response message ID sent */
		uint8_t spi_i[IKE_SPI_LEN], spi_r[IKE_SPI_LEN];
		uint32_t req, resp;
		bool any_req, any_resp;
	} sent[MAX_IDS];
	unsigned int n_sent;
	struct ike_frag_reasm relay; /* OP_RELAY: fragments sent to this engine */
};

static struct flight fl[MAX_FLIGHT];
static unsigned int n_fl;
static struct side sd[2];
static uint64_t now;
static const char *const child_names[N_CHILD] = { "net", "net2", "host" };

/* Both sides' configurations per IKE suite, parsed once: the engine copies what it keeps. */
static struct ike_peer_cfg pcfg[N_SUITES][2];
static struct ike_child_cfg ccfg[N_SUITES][2][N_CHILD];

/* record mode (FUZZ_AUTH_RECORD; FUZZ_AUTH_RECORD_FRAG: relayed messages as fragments) */
static FILE *rec;
static bool rec_frag;
static int log_level = IKE_LOG_INFO; /* FUZZ_AUTH_LOG: the highest level shown */

static void rec_put(const void *p, size_t n)
{
	if (rec)
		fwrite(p, 1, n, rec);
}

static int rnd(void *ctx, void *buf, size_t len)
{
	struct side *s = ctx;

	xorshift_fill(&s->rng, buf, len);
	return 0;
}

static void addr4(struct ike_addr *a, uint32_t ip)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = 500;
	ip = htonl(ip);
	memcpy(a->addr, &ip, 4);
}

/* ---- key cache --------------------------------------------------------------------------------- */

static struct kc *kc_find(struct side *s, const uint8_t *spi_i, const uint8_t *spi_r)
{
	for (unsigned int i = 0; i < s->n_kc; i++)
		if (!memcmp(s->kc[i].spi_i, spi_i, IKE_SPI_LEN) &&
		    !memcmp(s->kc[i].spi_r, spi_r, IKE_SPI_LEN))
			return &s->kc[i];
	return NULL;
}

static void kc_add(struct side *s, const struct ike_sa *sa)
{
	const struct ike_sa_keys *k = &sa->keys;
	struct kc *e;

	if (!k->sk_ei.len || kc_find(s, sa->spi_i, sa->spi_r))
		return;
	if (k->sk_ei.len > IKE_KEY_MAX || k->sk_ai.len > IKE_PRF_MAX ||
	    k->sk_er.len != k->sk_ei.len || k->sk_ar.len != k->sk_ai.len)
		abort(); /* key lengths the suite cannot have */
	if (s->n_kc == MAX_KC) {
		memmove(&s->kc[0], &s->kc[1], (MAX_KC - 1) * sizeof(s->kc[0]));
		s->n_kc--;
		s->kc_lost = true;
	}
	e = &s->kc[s->n_kc++];
	memset(e, 0, sizeof(*e));
	e->sa_id = sa->id;
	e->initiator = sa->initiator;
	memcpy(e->spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(e->spi_r, sa->spi_r, IKE_SPI_LEN);
	e->encr = sa->suite.encr;
	e->encr_bits = sa->suite.encr_bits;
	e->integ = sa->suite.integ;
	e->elen = k->sk_ei.len;
	e->alen = k->sk_ai.len;
	memcpy(e->ei, k->sk_ei.ptr, e->elen);
	memcpy(e->er, k->sk_er.ptr, e->elen);
	if (e->alen) {
		memcpy(e->ai, k->sk_ai.ptr, e->alen);
		memcpy(e->ar, k->sk_ar.ptr, e->alen);
	}
}

/* The keys protecting what the engine sends (sending) or receives on the SA of e. */
static void kc_keys(const struct kc *e, bool sending, struct ike_sk_keys *k)
{
	bool i_keys = e->initiator == sending;

	k->encr = e->encr;
	k->encr_bits = e->encr_bits;
	k->integ = e->integ;
	k->ke = (struct ike_chunk){ i_keys ? e->ei : e->er, e->elen };
	k->ka = (struct ike_chunk){ i_keys ? e->ai : e->ar, e->alen };
}

/* ---- invariants ------------------------------------------------------------------------------- */

static bool ids_has(const uint32_t *ids, unsigned int n, uint32_t id)
{
	for (unsigned int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void inst_add(struct side *s, uint32_t spi, bool inbound)
{
	for (unsigned int i = 0; i < s->n_inst; i++)
		if (s->spi[i] == spi && s->inbound[i] == inbound)
			abort(); /* the same SA installed twice */
	if (s->n_inst < MAX_INST) {
		s->spi[s->n_inst] = spi;
		s->inbound[s->n_inst++] = inbound;
	} else {
		s->inst_full = true;
	}
}

static bool inst_del(struct side *s, uint32_t spi, bool inbound)
{
	for (unsigned int i = 0; i < s->n_inst; i++)
		if (s->spi[i] == spi && s->inbound[i] == inbound) {
			s->spi[i] = s->spi[--s->n_inst];
			s->inbound[i] = s->inbound[s->n_inst];
			return true;
		}
	return false;
}

static const struct ike_child_cfg *child_cfg(int who, const char *name)
{
	const struct ike_peer_cfg *p = &pcfg[0][who];

	for (unsigned int i = 0; i < p->n_children; i++)
		if (!strcmp(p->children[i].name, name))
			return &p->children[i];
	return NULL;
}

static bool ts_within(const struct ike_ts_list *got, const struct ike_ts_list *cfg)
{
	if (!got->n || got->n > IKE_MAX_TS)
		return false;
	for (unsigned int i = 0; i < got->n; i++) {
		bool in = false;

		for (unsigned int j = 0; j < cfg->n && !in; j++)
			in = ike_ts_contains(&cfg->ts[j], &got->ts[i]);
		if (!in)
			return false;
	}
	return true;
}

/* An install: keys of the negotiated sizes, the right SPI, selectors within the config. */
static void check_install(int who, const struct ike_event *ev)
{
	const struct ike_child_sa *c = &ev->child_sa;
	const struct ike_child_cfg *cc = child_cfg(who, ev->child);
	struct ike_encr_info ei;
	size_t klen = 0, icv;

	if (!cc || c->reqid != cc->reqid || !c->spi ||
	    c->spi != (c->inbound ? c->spi_in : c->spi_out))
		abort();
	if (ike_encr_info(c->encr, c->encr_bits, true, &ei) || c->encr_key.len != ei.key_len ||
	    (ei.key_len && !c->encr_key.ptr))
		abort();
	if (c->integ != IKE_INTEG_NONE && ike_integ_info(c->integ, false, &klen, &icv))
		abort();
	if (c->integ == IKE_INTEG_NONE && !ei.aead)
		abort(); /* ESP without integrity */
	if (c->integ_key.len != klen || (klen && !c->integ_key.ptr))
		abort();
	if (!ts_within(&c->ts_local, &cc->local_ts) || !ts_within(&c->ts_remote, &cc->remote_ts))
		abort(); /* wider than configured: the narrowing guarantee is broken */
}

static void check_event(int who, const struct ike_event *ev)
{
	struct side *s = &sd[who];
	const struct ike_child_sa *c = &ev->child_sa;

	if (rec) /* what the scenario being recorded did */
		fprintf(stderr, "%c %s %s %s ike %u spi %08x\n", 'A' + who,
			ike_event_name(ev->type), ev->child, ike_reason_name(ev->reason),
			ev->ike_sa_id, c->spi);
	switch (ev->type) {
	case IKE_EV_IKE_UP:
		if (ids_has(s->up, s->n_up, ev->ike_sa_id))
			abort(); /* up twice */
		if (s->n_up < MAX_IDS)
			s->up[s->n_up++] = ev->ike_sa_id;
		break;
	case IKE_EV_IKE_DOWN:
		if (ids_has(s->down, s->n_down, ev->ike_sa_id))
			abort(); /* down twice */
		if (s->n_down < MAX_IDS)
			s->down[s->n_down++] = ev->ike_sa_id;
		break;
	case IKE_EV_CHILD_INSTALL:
		check_install(who, ev);
		inst_add(s, c->spi, c->inbound);
		break;
	case IKE_EV_CHILD_SWITCH_OUT:
		check_install(who, ev);
		if (c->inbound)
			abort();
		inst_add(s, c->spi, false);
		break;
	case IKE_EV_CHILD_DELETE:
		if (!inst_del(s, c->spi_in, true) && !s->inst_full)
			abort(); /* deletes an inbound SA it never installed */
		if (c->spi_out && !inst_del(s, c->spi_out, false) && !s->inst_full)
			abort();
		break;
	case IKE_EV_ERROR:
		break;
	default:
		abort();
	}
}

/* Every datagram parses; after IKE_SA_INIT it is encrypted with its IKE SA's keys. */
static void check_dgram(int who, const uint8_t *d, size_t len)
{
	struct side *s = &sd[who];
	struct ike_sk_keys k;
	struct ike_msg m;
	struct kc *e;
	bool resp;
	int err;

	if (ike_msg_parse(d, len, &m))
		abort();
	if (m.hdr.exchange == IKE_SA_INIT) {
		ike_msg_free(&m);
		return;
	}
	e = kc_find(s, m.hdr.spi_i, m.hdr.spi_r);
	if (!e && s->kc_lost) {
		ike_msg_free(&m);
		return;
	}
	if (!e || !m.sk_type || !!(m.hdr.flags & IKE_FLAG_INITIATOR) != e->initiator)
		abort();
	kc_keys(e, true, &k);
	if (m.sk_type == IKE_PLD_SK) {
		err = ike_sk_open(&m, &k);
	} else {
		struct ike_frag_reasm r = { 0 };

		err = ike_frag_add(&r, &m, &k);
		err = err < 0 ? err : 0;
		ike_frag_free(&r);
	}
	if (err)
		abort();
	/* message IDs per SPI pair and direction never go back (retransmits repeat them) */
	resp = m.hdr.flags & IKE_FLAG_RESPONSE;
	for (unsigned int i = 0; i <= s->n_sent && i < MAX_IDS; i++) {
		if (i == s->n_sent) {
			memset(&s->sent[i], 0, sizeof(s->sent[i]));
			memcpy(s->sent[i].spi_i, m.hdr.spi_i, IKE_SPI_LEN);
			memcpy(s->sent[i].spi_r, m.hdr.spi_r, IKE_SPI_LEN);
			s->n_sent++;
		} else if (memcmp(s->sent[i].spi_i, m.hdr.spi_i, IKE_SPI_LEN) ||
			   memcmp(s->sent[i].spi_r, m.hdr.spi_r, IKE_SPI_LEN)) {
			continue;
		}
		if (resp) {
			if (s->sent[i].any_resp && m.hdr.msgid < s->sent[i].resp)
				abort();
			s->sent[i].resp = m.hdr.msgid;
			s->sent[i].any_resp = true;
		} else {
			if (s->sent[i].any_req && m.hdr.msgid < s->sent[i].req)
				abort();
			s->sent[i].req = m.hdr.msgid;
			s->sent[i].any_req = true;
		}
		break;
	}
	ike_msg_free(&m);
}

static bool child_holds(struct ike_engine *eng, uint32_t spi, bool inbound)
{
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next) {
		if (sa->state == SA_DEAD)
			continue;
		for (struct ike_child *c = sa->children; c; c = c->next)
			if (inbound ? (c->installed && c->spi_in == spi)
				    : (c->out_installed && c->spi_out == spi))
				return true;
	}
	return false;
}

/*
 * Engine state after a step: keys cached (before its datagrams are checked), and once its outputs
 * are drained (full): message IDs monotonic, installed SAs accounted for.
 */
static void check_engine(int who, bool full)
{
	struct side *s = &sd[who];

	for (struct ike_sa *sa = s->eng->sas; sa; sa = sa->next) {
		unsigned int i;

		kc_add(s, sa);
		if (!full)
			continue;
		for (i = 0; i < s->n_wm && s->wm[i].id != sa->id; i++)
			;
		if (i == s->n_wm) {
			if (i == MAX_IDS)
				continue;
			s->wm[i].id = sa->id;
			s->n_wm++;
		} else if (sa->req_mid < s->wm[i].req_mid || sa->peer_mid < s->wm[i].peer_mid) {
			abort(); /* a message ID counter went back */
		}
		s->wm[i].req_mid = sa->req_mid;
		s->wm[i].peer_mid = sa->peer_mid;
		if (sa->state == SA_DEAD || s->inst_full)
			continue;
		for (struct ike_child *c = sa->children; c; c = c->next) {
			if (c->installed && !ids_has(s->spi, s->n_inst, c->spi_in))
				abort(); /* an engine child the caller never installed */
		}
	}
	if (!full)
		return;
	for (unsigned int i = 0; i < s->n_inst; i++)
		if (!child_holds(s->eng, s->spi[i], s->inbound[i]))
			abort(); /* an installed SA no CHILD SA owns: it would leak in the kernel */
}

/* ---- the network -------------------------------------------------------------------------------- */

static void drain(void)
{
	for (int i = 0; i < 2; i++) {
		struct ike_output o;

		check_engine(i, false);
		while (ike_engine_next_output(sd[i].eng, &o)) {
			if (o.kind == IKE_OUT_DGRAM) {
				check_dgram(i, o.dgram.data, o.dgram.len);
				if (n_fl < MAX_FLIGHT) {
					fl[n_fl] = (struct flight){ .to = !i,
								    .local = o.dgram.remote,
								    .remote = o.dgram.local,
								    .data = o.dgram.data,
								    .len = o.dgram.len };
					o.dgram.data = NULL;
					n_fl++;
				}
			} else if (o.kind == IKE_OUT_EVENT) {
				check_event(i, o.ev);
			}
			ike_output_free(&o);
		}
	}
	for (int i = 0; i < 2; i++)
		check_engine(i, true);
}

static void flight_pop(void)
{
	free(fl[0].data);
	memmove(&fl[0], &fl[1], (n_fl - 1) * sizeof(fl[0]));
	n_fl--;
}

/* ---- injection ---------------------------------------------------------------------------------- */

/*
 * Replaces each 4-byte marker fe ed c0 KK in the plaintext with an ESP SPI of a CHILD SA of the
 * target's IKE SA: the one the peer names (the target's outbound SPI) for even KK, the inbound
 * one for odd KK, of child (KK >> 1) mod n. DELETE and REKEY_SA payloads then stay valid however
 * the SPIs of the run turn out.
 */
static void spi_patch(struct ike_sa *sa, uint8_t *p, size_t len)
{
	unsigned int n = 0;

	if (!sa)
		return;
	for (struct ike_child *c = sa->children; c; c = c->next)
		n++;
	for (size_t i = 0; n && i + 4 <= len; i++) {
		struct ike_child *c = sa->children;
		uint32_t spi;

		if (p[i] != SPI_MARK0 || p[i + 1] != SPI_MARK1 || p[i + 2] != SPI_MARK2)
			continue;
		for (unsigned int k = (p[i + 3] >> 1) % n; k; k--)
			c = c->next;
		spi = (p[i + 3] & 1) ? c->spi_in : c->spi_out;
		p[i] = (uint8_t)(spi >> 24);
		p[i + 1] = (uint8_t)(spi >> 16);
		p[i + 2] = (uint8_t)(spi >> 8);
		p[i + 3] = (uint8_t)spi;
		i += 3;
	}
}

static struct ike_sa *kc_sa(int who, const struct kc *e)
{
	struct ike_sa *sa = sa_by_id(sd[who].eng, e->sa_id);

	return sa && sa->state != SA_DEAD ? sa : NULL;
}

static uint8_t exch_decode(uint8_t e)
{
	return (e & 0x80) ? (e & 0x7f) : (uint8_t)(IKE_SA_INIT + (e & 3));
}

static uint32_t mid_base(const struct ike_sa *sa, bool response)
{
	if (!sa)
		return 0;
	if (response)
		return sa->out_active ? sa->out.mid : sa->req_mid;
	return sa->peer_mid;
}

/* The input step OP_INJECT: seals plaintext as the target's peer and delivers it. */
static void inject(int who, const uint8_t *hdr7, const uint8_t *pt, size_t len)
{
	struct side *s = &sd[who];
	struct ike_wbuf frags[IKE_MAX_FRAGMENTS];
	uint8_t flags = hdr7[2], *buf;
	struct ike_sk_keys k;
	struct ike_sa *sa;
	struct ike_hdr h;
	struct kc *e;
	size_t n = 0;
	int err;

	if (!s->n_kc)
		return;
	e = &s->kc[s->n_kc - 1 - hdr7[0] % s->n_kc];
	sa = kc_sa(who, e);
	buf = malloc(len ? len : 1);
	if (!buf)
		return;
	memcpy(buf, pt, len);
	spi_patch(sa, buf, len);
	memset(&h, 0, sizeof(h));
	memcpy(h.spi_i, e->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, e->spi_r, IKE_SPI_LEN);
	h.version = IKE_VERSION_2;
	h.exchange = exch_decode(hdr7[1]);
	h.flags = (!e->initiator ? IKE_FLAG_INITIATOR : 0) ^
		  ((flags & INJ_FLIP_I) ? IKE_FLAG_INITIATOR : 0);
	h.flags |= (flags & INJ_RESPONSE) ? IKE_FLAG_RESPONSE : 0;
	h.msgid = mid_base(sa, flags & INJ_RESPONSE) + (uint32_t)(int32_t)(int8_t)hdr7[3];
	kc_keys(e, false, &k);
	for (unsigned int i = 0; i < IKE_MAX_FRAGMENTS; i++)
		ike_wbuf_init(&frags[i]);
	if (flags & INJ_FRAG)
		err = ike_sk_seal_frags(&h, &k, hdr7[4], buf, len, 96 + 64 * (size_t)(flags >> 5),
					frags, IKE_MAX_FRAGMENTS, &n);
	else
		err = ike_sk_seal(&h, &k, hdr7[4], buf, len, &frags[0]);
	if (!err && !(flags & INJ_FRAG))
		n = 1;
	for (int rep = 0; !err && rep < ((flags & INJ_TWICE) ? 2 : 1); rep++) {
		for (size_t i = 0; i < n; i++) {
			size_t j = (flags & INJ_REVERSE) ? n - 1 - i : i;

			ike_engine_input(s->eng, now, &s->addr, &sd[!who].addr, frags[j].buf,
					 frags[j].len);
		}
	}
	for (unsigned int i = 0; i < IKE_MAX_FRAGMENTS; i++)
		ike_wbuf_free(&frags[i]);
	free(buf);
}

/*
 * Record mode: DELETE SPIs and REKEY_SA notify SPIs of the target's children become markers,
 * so that a mutated script still names live SAs.
 */
static void spi_mark(struct ike_sa *sa, const struct ike_msg *m, uint8_t *pt)
{
	const uint8_t *base = m->plain.ptr;

	if (!sa || !base)
		return;
	for (unsigned int i = m->n_outer; i < m->n_pld; i++) {
		const struct ike_pld *p = &m->pld[i];
		size_t off, cnt;

		if (p->type == IKE_PLD_DELETE && p->len >= 4 && p->body[0] == IKE_PROTO_ESP &&
		    p->body[1] == 4) {
			off = 4;
			cnt = (size_t)(p->len - 4) / 4;
		} else if (p->type == IKE_PLD_NOTIFY && p->len >= 8 && p->body[1] == 4 &&
			   ((p->body[2] << 8) | p->body[3]) == IKE_N_REKEY_SA) {
			off = 4;
			cnt = 1;
		} else {
			continue;
		}
		for (size_t j = 0; j < cnt; j++) {
			const uint8_t *q = p->body + off + 4 * j;
			uint32_t spi = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
				       (uint32_t)q[2] << 8 | q[3];
			unsigned int idx = 0;

			for (struct ike_child *c = sa->children; c; c = c->next, idx++) {
				uint8_t *w = pt + (q - base);

				if (spi != c->spi_out && spi != c->spi_in)
					continue;
				w[0] = SPI_MARK0;
				w[1] = SPI_MARK1;
				w[2] = SPI_MARK2;
				w[3] = (uint8_t)(idx << 1 | (spi == c->spi_out ? 0 : 1));
				break;
			}
		}
	}
}

/*
 * OP_RELAY: the next datagram, decrypted with its IKE SA's keys and injected again through
 * inject(). Datagrams without cached keys (IKE_SA_INIT, IKE_AUTH) go as they are; fragments
 * are collected and the whole message is injected (as fragments) with the last one.
 */
static void relay(void)
{
	int who = fl[0].to;
	struct side *s = &sd[who];
	struct ike_msg m, full;
	struct ike_msg *mm = &m;
	struct ike_sk_keys k;
	struct kc *e = NULL;
	int err = -1;

	memset(&full, 0, sizeof(full));
	if (ike_msg_parse(fl[0].data, fl[0].len, &m) == 0 && m.sk_type &&
	    m.hdr.exchange != IKE_SA_INIT)
		e = kc_find(s, m.hdr.spi_i, m.hdr.spi_r);
	if (e) {
		kc_keys(e, false, &k);
		if (m.sk_type == IKE_PLD_SK) {
			err = ike_sk_open(&m, &k);
		} else {
			err = ike_frag_add(&s->relay, &m, &k);
			if (err == 0) { /* more to come: consumed */
				static const uint8_t op = OP_DROP << 1;

				rec_put(&op, 1);
				goto out;
			}
			if (err == 1)
				err = ike_frag_finish(&s->relay, &full);
			mm = &full;
		}
	}
	if (err) {
		uint8_t op = OP_DELIVER << 1;

		rec_put(&op, 1);
		ike_engine_input(s->eng, now, &fl[0].local, &fl[0].remote, fl[0].data, fl[0].len);
	} else {
		struct ike_sa *sa = kc_sa(who, e);
		bool resp = m.hdr.flags & IKE_FLAG_RESPONSE;
		size_t len = mm->plain.len;
		uint8_t *pt = malloc(len ? len : 1);
		uint8_t hdr[8] = { 0 };

		if (!pt)
			goto out;
		memcpy(pt, mm->plain.ptr, len);
		spi_mark(sa, mm, pt);
		hdr[0] = (uint8_t)(OP_INJECT << 1 | who);
		for (unsigned int i = 0; i < s->n_kc; i++)
			if (&s->kc[s->n_kc - 1 - i] == e)
				hdr[1] = (uint8_t)i;
		hdr[2] = m.hdr.exchange >= IKE_SA_INIT && m.hdr.exchange <= IKE_INFORMATIONAL
				 ? (uint8_t)(m.hdr.exchange - IKE_SA_INIT)
				 : (uint8_t)(0x80 | m.hdr.exchange);
		hdr[3] =
			(uint8_t)((resp ? INJ_RESPONSE : 0) |
				  (!!(m.hdr.flags & IKE_FLAG_INITIATOR) == e->initiator ? INJ_FLIP_I
											: 0) |
				  (m.sk_type == IKE_PLD_SKF ? INJ_FRAG | 0x80 : 0));
		hdr[4] = (uint8_t)(m.hdr.msgid - mid_base(sa, resp));
		hdr[5] = mm->sk_next;
		hdr[6] = (uint8_t)(len >> 8);
		hdr[7] = (uint8_t)len;
		rec_put(hdr, 8);
		rec_put(pt, len);
		inject(who, hdr + 1, pt, len);
		free(pt);
	}
out:
	ike_msg_free(&full);
	ike_msg_free(&m);
}

/* ---- setup ------------------------------------------------------------------------------------ */

static int setup_peer(int suite, int me)
{
	static const char *const names[2] = { "east", "west" };
	/* a second DH group on each side makes INVALID_KE_PAYLOAD answers acceptable */
	static const char *const ike[N_SUITES] = { "aes128gcm16-prfsha256-x25519-ecp256",
						   "aes256-sha256-x25519-ecp256" };
	static const char *const esp[N_CHILD] = { "aes128gcm16-x25519-ecp256,aes128-sha256",
						  "aes256-sha256,aes128gcm16",
						  "aes128gcm16-ecp256" };
	static const char *const ts[N_CHILD][2] = { { "10.1.0.0/16", "192.168.88.0/24" },
						    { "10.2.0.0/16", "192.168.99.0/24" },
						    { "192.0.2.1[gre]", "192.0.2.2[gre]" } };
	struct ike_peer_cfg *p = &pcfg[suite][me];
	char err[IKE_PROP_ERR_LEN];

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "peer");
	addr4(&p->local, me ? 0xc0000202 : 0xc0000201);
	addr4(&p->remote, me ? 0xc0000201 : 0xc0000202);
	p->local_id.type = p->remote_id.type = IKE_ID_FQDN;
	p->local_id.len = 4;
	memcpy(p->local_id.data, names[me], 4);
	p->remote_id.len = 4;
	memcpy(p->remote_id.data, names[!me], 4);
	p->psk.ptr = (uint8_t *)(uintptr_t) "fuzz-psk";
	p->psk.len = 8;
	p->dpd_delay_s = 10;
	p->dpd_timeout_s = 30;
	p->ike_life.lifetime_s = 600;
	p->ike_life.margin_s = 60;
	p->ike_life.fuzz_pct = 50;
	p->send_initial_contact = true;
	if (ike_prop_parse(ike[suite], IKE_PROTO_IKE, 0, &p->ike, NULL, err, sizeof(err)))
		return -1;
	for (int i = 0; i < N_CHILD; i++) {
		struct ike_child_cfg *c = &ccfg[suite][me][i];

		memset(c, 0, sizeof(*c));
		if (ike_prop_parse(esp[i], IKE_PROTO_ESP, 0, &c->esp, NULL, err, sizeof(err)) ||
		    ike_ts_parse(ts[i][me], &c->local_ts.ts[0], err, sizeof(err)) ||
		    ike_ts_parse(ts[i][!me], &c->remote_ts.ts[0], err, sizeof(err)))
			return -1;
		c->local_ts.n = c->remote_ts.n = 1;
		snprintf(c->name, sizeof(c->name), "%s", child_names[i]);
		c->reqid = (uint32_t)i + 1;
		c->transport = i == 2;
		c->life.lifetime_s = 300;
		c->life.margin_s = 60;
		c->life.fuzz_pct = 50;
	}
	p->n_children = N_CHILD;
	p->children = ccfg[suite][me];
	return 0;
}

/*
 * A 4 MB quarantine instead of ASan's 256 MB (as fuzz_ike_engine): each input allocates little,
 * so a use after free within an input is still caught without faulting in fresh pages.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=4";
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *r = getenv("FUZZ_AUTH_RECORD");

	(void)argc;
	(void)argv;
	for (int s = 0; s < N_SUITES; s++)
		for (int i = 0; i < 2; i++)
			if (setup_peer(s, i))
				abort();
	if (r && *r) {
		rec = fopen(r, "wb");
		if (!rec)
			abort();
		rec_frag = getenv("FUZZ_AUTH_RECORD_FRAG") != NULL;
		if (getenv("FUZZ_AUTH_LOG"))
			log_level = atoi(getenv("FUZZ_AUTH_LOG"));
	}
	return 0;
}

static bool keep_all(void *ctx, const char *peer)
{
	(void)ctx;
	(void)peer;
	return true;
}

static bool keep_none(void *ctx, const char *peer)
{
	(void)ctx;
	(void)peer;
	return false;
}

/* Formats every log line (format bugs show under ASan/UBSan), then drops it. */
static void log_sink(void *ctx, int level, const char *line)
{
	(void)ctx;
	if (strlen(line) >= 4096)
		abort();
	if (rec && level <= log_level) /* record mode: what the scenario did */
		fprintf(stderr, "  log %s\n", line);
}

/* Both engines up with IKE SA and CHILD SA "net"; the flight is empty. */
static void setup(int suite)
{
	now = 1000000;
	n_fl = 0;
	/* deterministic ike_random() and DH key pairs from the fuzz pool: reproducible inputs */
	ike_fuzz_reset(0);
	for (int i = 0; i < 2; i++) {
		struct ike_engine_cfg ec = { 0 };

		memset(&sd[i], 0, sizeof(sd[i]));
		sd[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		sd[i].suite = suite;
		addr4(&sd[i].addr, i ? 0xc0000202 : 0xc0000201);
		ec.peers = &pcfg[suite][i];
		ec.n_peers = 1;
		ec.random = rnd;
		ec.random_ctx = &sd[i];
		ec.log = log_sink;
		/* B fragments anything larger than a CREATE_CHILD_SA with KE; A does not */
		ec.frag_mtu = i ? 256 : 0;
		sd[i].eng = ike_engine_new(&ec);
		if (!sd[i].eng)
			abort();
	}
	if (ike_engine_initiate(sd[0].eng, now, "peer", "net"))
		abort();
	drain();
	for (int i = 0; i < 16 && n_fl; i++) {
		ike_engine_input(sd[fl[0].to].eng, now, &fl[0].local, &fl[0].remote, fl[0].data,
				 fl[0].len);
		flight_pop();
		drain();
	}
	if (n_fl || sd[0].n_inst != 2 || sd[1].n_inst != 2 || sd[0].n_kc != 1 || sd[1].n_kc != 1)
		abort(); /* the handshake itself failed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 1;

	if (!size)
		return 0;
	setup(data[0] % N_SUITES);
	rec_put(data, 1);
	while (off < size) {
		uint8_t op = data[off++];
		uint8_t arg = off < size ? data[off] : 0;
		int who = op & 1;
		struct side *s = &sd[who];
		enum op_kind kind = (enum op_kind)((op >> 1) % OP_COUNT);
		size_t start = off - 1;

		switch (kind) {
		case OP_DELIVER:
			if (n_fl) {
				ike_engine_input(sd[fl[0].to].eng, now, &fl[0].local, &fl[0].remote,
						 fl[0].data, fl[0].len);
				flight_pop();
			}
			break;
		case OP_DROP:
			if (n_fl)
				flight_pop();
			break;
		case OP_RELAY:
			if (n_fl) {
				relay();
				flight_pop();
			}
			start = off; /* relay() recorded its equivalent */
			break;
		case OP_TIME:
			off++;
			now += (arg & 0x80) ? (uint64_t)(arg & 0x7f) * 10000 : (uint64_t)arg * 100;
			ike_engine_timer(sd[0].eng, now);
			ike_engine_timer(sd[1].eng, now);
			break;
		case OP_INIT:
			off++;
			ike_engine_initiate(s->eng, now, "peer", child_names[arg % N_CHILD]);
			break;
		case OP_SOFT:
		case OP_HARD:
			off++;
			if (s->n_inst)
				ike_engine_expire(s->eng, now, s->spi[arg % s->n_inst],
						  kind == OP_HARD);
			break;
		case OP_DELETE:
			off++;
			ike_engine_delete(s->eng, now, "peer",
					  arg % 4 ? child_names[arg % 4 - 1] : NULL);
			break;
		case OP_TRAFFIC:
			off++;
			if (s->n_inst)
				ike_engine_child_traffic(s->eng, now, s->spi[arg % s->n_inst]);
			break;
		case OP_INJECT: {
			size_t len;

			if (size - off < 7) {
				off = size;
				break;
			}
			len = (size_t)data[off + 5] << 8 | data[off + 6];
			if (len > size - off - 7)
				len = size - off - 7;
			inject(who, data + off, data + off + 7, len);
			off += 7 + len;
			break;
		}
		case OP_ACQUIRE: {
			/* a packet of child (arg % 4 - 1), or of nothing configured (arg % 4 == 0) */
			uint8_t src[4] = { 10, (uint8_t)(1 + ((arg >> 3) & 1)), 0, 5 };
			uint8_t dst[4] = { 192, 168, (arg & 0x20) ? 99 : 88, 7 };
			static const uint8_t proto[4] = { 0, 6, 17, 47 };
			struct ike_ts ts_s, ts_d;

			off++;
			if (who) { /* B's local side is 192.168.x */
				uint8_t t[4];

				memcpy(t, src, 4);
				memcpy(src, dst, 4);
				memcpy(dst, t, 4);
			}
			if (ike_ts_from_prefix(&ts_s, AF_INET, src, 32, proto[(arg >> 4) & 3], 0,
					       65535) ||
			    ike_ts_from_prefix(&ts_d, AF_INET, dst, 32, proto[(arg >> 4) & 3], 0,
					       65535))
				abort();
			ike_engine_acquire(s->eng, now, arg % 4, (arg & 4) ? &ts_s : NULL,
					   (arg & 4) ? &ts_d : NULL);
			break;
		}
		case OP_RECONF:
			off++;
			if (!(arg & 1)) {
				ike_engine_reconfigure(s->eng, now, &pcfg[s->suite][who], 1,
						       keep_all, NULL);
			} else {
				s->suite = (arg >> 1) & 1;
				ike_engine_reconfigure(s->eng, now, &pcfg[s->suite][who], 1,
						       keep_none, NULL);
			}
			break;
		case OP_COUNT:
			break;
		}
		if (off > size)
			off = size;
		rec_put(data + start, off - start);
		drain();
		ike_engine_next_deadline(sd[0].eng);
	}
	for (int i = 0; i < 2; i++) {
		ike_engine_free(sd[i].eng);
		ike_frag_free(&sd[i].relay);
	}
	while (n_fl)
		flight_pop();
	if (rec) {
		fclose(rec);
		rec = NULL;
	}
	return 0;
}
