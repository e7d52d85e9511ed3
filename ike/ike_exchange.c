// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IKE SA's exchanges (RFC 7296): message-ID bookkeeping with window 1 (§2.3), requests with
 * retransmission and cached responses (§2.1), IKE_SA_INIT on both sides with NAT detection
 * (§2.23), stateless cookies (§2.6), INVALID_KE_PAYLOAD retries (§1.2), IKE_AUTH with pre-shared
 * keys (§2.15) and the peer configuration chosen by identities, and INFORMATIONAL (DELETE of the
 * IKE SA, liveness checks, error notifies). CHILD SA payloads and CREATE_CHILD_SA live in
 * ike_child.c. Wire formats come from ike_msg.c/ike_pld.c; keys from ike_crypto.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_sa.h"

/* SIGNATURE_HASH_ALGORITHMS data (RFC 7427 §4): SHA2-256, SHA2-384, SHA2-512 */
static const uint8_t sig_hashes[] = { 0, 2, 0, 3, 0, 4 };

const char *notify_name(uint16_t type)
{
	switch (type) {
	case IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD:
		return "UNSUPPORTED_CRITICAL_PAYLOAD";
	case IKE_N_INVALID_IKE_SPI:
		return "INVALID_IKE_SPI";
	case IKE_N_INVALID_MAJOR_VERSION:
		return "INVALID_MAJOR_VERSION";
	case IKE_N_INVALID_SYNTAX:
		return "INVALID_SYNTAX";
	case IKE_N_INVALID_MESSAGE_ID:
		return "INVALID_MESSAGE_ID";
	case IKE_N_INVALID_SPI:
		return "INVALID_SPI";
	case IKE_N_NO_PROPOSAL_CHOSEN:
		return "NO_PROPOSAL_CHOSEN";
	case IKE_N_INVALID_KE_PAYLOAD:
		return "INVALID_KE_PAYLOAD";
	case IKE_N_AUTHENTICATION_FAILED:
		return "AUTHENTICATION_FAILED";
	case IKE_N_SINGLE_PAIR_REQUIRED:
		return "SINGLE_PAIR_REQUIRED";
	case IKE_N_NO_ADDITIONAL_SAS:
		return "NO_ADDITIONAL_SAS";
	case IKE_N_TS_UNACCEPTABLE:
		return "TS_UNACCEPTABLE";
	case IKE_N_TEMPORARY_FAILURE:
		return "TEMPORARY_FAILURE";
	case IKE_N_CHILD_SA_NOT_FOUND:
		return "CHILD_SA_NOT_FOUND";
	}
	return "error notify";
}

/* ---- sending ----------------------------------------------------------------------------------- */

void sa_sk_keys(const struct ike_sa *sa, bool sending, struct ike_sk_keys *k)
{
	bool i_keys = sa->initiator == sending;

	k->encr = sa->suite.encr;
	k->encr_bits = sa->suite.encr_bits;
	k->integ = sa->suite.integ;
	k->ke = ike_secret_chunk(i_keys ? &sa->keys.sk_ei : &sa->keys.sk_er);
	k->ka = ike_secret_chunk(i_keys ? &sa->keys.sk_ai : &sa->keys.sk_ar);
}

static void sa_hdr(const struct ike_sa *sa, uint8_t exch, uint32_t mid, bool response,
		   struct ike_hdr *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(h->spi_r, sa->spi_r, IKE_SPI_LEN);
	h->version = IKE_VERSION_2;
	h->exchange = exch;
	h->flags = (sa->initiator ? IKE_FLAG_INITIATOR : 0) | (response ? IKE_FLAG_RESPONSE : 0);
	h->msgid = mid;
}

/* Moves w's bytes into the next slot of out (w is left empty and reusable). */
static int wire_take(struct ike_wire *out, struct ike_wbuf *w)
{
	struct ike_wire_dgram *d;

	if (w->err)
		return w->err;
	if (out->n >= IKE_MAX_FRAGMENTS)
		return -E2BIG;
	d = realloc(out->d, (out->n + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	out->d = d;
	out->d[out->n].data = w->buf;
	out->d[out->n].len = w->len;
	out->n++;
	ike_wbuf_init(w);
	return 0;
}

static int sa_seal(struct ike_sa *sa, uint8_t exch, uint32_t mid, bool response,
		   const struct ike_chain *c, const struct ike_wbuf *inner, struct ike_wire *out)
{
	struct ike_sk_keys k;
	struct ike_hdr h;
	struct ike_wbuf w;
	int err;

	wire_free(out);
	if (inner->err)
		return inner->err;
	sa_hdr(sa, exch, mid, response, &h);
	sa_sk_keys(sa, true, &k);
	/* RFC 7383 §2.5: fragment only when the peer said it can reassemble */
	if (sa->peer_frag && inner->len + IKE_HDR_LEN + 64 > sa->eng->cfg.frag_mtu) {
		struct ike_wbuf frags[IKE_MAX_FRAGMENTS];
		size_t n = 0;

		for (unsigned int i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_init(&frags[i]);
		err = ike_sk_seal_frags(&h, &k, c->first, inner->buf, inner->len,
					sa->eng->cfg.frag_mtu, frags, IKE_MAX_FRAGMENTS, &n);
		for (size_t i = 0; !err && i < n; i++)
			err = wire_take(out, &frags[i]);
		for (unsigned int i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_free(&frags[i]);
		if (err)
			wire_free(out);
		return err;
	}
	ike_wbuf_init(&w);
	err = ike_sk_seal(&h, &k, c->first, inner->buf, inner->len, &w);
	if (!err)
		err = wire_take(out, &w);
	ike_wbuf_free(&w);
	return err;
}

static void sa_transmit(struct ike_sa *sa, const struct ike_wire *w, const struct ike_addr *local,
			const struct ike_addr *remote)
{
	for (unsigned int i = 0; i < w->n; i++)
		eng_push_dgram(sa->eng, local ? local : &sa->local, remote ? remote : &sa->remote,
			       w->d[i].data, w->d[i].len);
}

static uint64_t retransmit_timeout(const struct ike_engine *eng, unsigned int tries)
{
	uint64_t t = eng->cfg.retransmit_ms;

	for (unsigned int i = 0; i < tries && t < 3600000; i++)
		t = t * eng->cfg.retransmit_factor_pct / 100;
	return t;
}

static void out_arm(struct ike_sa *sa)
{
	uint64_t now = sa->eng->now;

	sa->out_active = true;
	sa->out.tries = 0;
	sa->out.sent_ms = now;
	sa->out.next_ms = now + retransmit_timeout(sa->eng, 0);
	if (sa->out.give_up_ms && sa->out.next_ms > sa->out.give_up_ms)
		sa->out.next_ms = sa->out.give_up_ms;
}

int sa_send_req(struct ike_sa *sa, uint8_t exch, const struct ike_chain *c,
		const struct ike_wbuf *inner)
{
	int err = sa_seal(sa, exch, sa->req_mid, false, c, inner, &sa->out.wire);

	if (err) {
		eng_log(sa->eng, IKE_LOG_WARN, "ike sa %u: cannot build request: %d", sa->id, err);
		return err;
	}
	sa->out.mid = sa->req_mid++;
	sa->out.exch = exch;
	out_arm(sa);
	sa_transmit(sa, &sa->out.wire, NULL, NULL);
	return 0;
}

int sa_send_resp(struct ike_sa *sa, uint8_t exch, uint32_t mid, const struct ike_chain *c,
		 const struct ike_wbuf *inner)
{
	int err = sa_seal(sa, exch, mid, true, c, inner, &sa->resp);

	if (err) {
		sa->resp_valid = false;
		eng_log(sa->eng, IKE_LOG_WARN, "ike sa %u: cannot build response: %d", sa->id, err);
		return err;
	}
	sa->resp_mid = mid;
	sa->resp_valid = true;
	sa_transmit(sa, &sa->resp, NULL, NULL);
	return 0;
}

void exch_retransmit(struct ike_sa *sa)
{
	struct ike_engine *eng = sa->eng;
	uint64_t now = eng->now;
	struct ike_outstanding *o = &sa->out;

	if (o->tries >= eng->cfg.retransmit_tries || (o->give_up_ms && now >= o->give_up_ms)) {
		if (o->kind == TASK_IKE_DELETE)
			sa_down(sa, IKE_R_LOCAL_DELETE, "no answer to DELETE");
		else
			sa_down(sa, IKE_R_DEAD_PEER,
				"no answer to request %u (exchange %u) after %u retransmissions",
				o->mid, o->exch, o->tries);
		return;
	}
	o->tries++;
	o->next_ms = now + retransmit_timeout(eng, o->tries);
	if (o->give_up_ms && o->next_ms > o->give_up_ms)
		o->next_ms = o->give_up_ms;
	eng_log(eng, IKE_LOG_DEBUG, "ike sa %u: retransmit %u of request %u", sa->id, o->tries,
		o->mid);
	sa_transmit(sa, &o->wire, NULL, NULL);
}

/* An unauthenticated answer to an IKE_SA_INIT request carrying one notify (§2.6, §1.2, §2.21). */
static void send_init_notify(struct ike_engine *eng, const struct ike_hdr *req,
			     const struct ike_addr *local, const struct ike_addr *remote,
			     uint16_t type, const uint8_t *data, size_t len)
{
	struct ike_wbuf inner, w;
	struct ike_chain c;
	struct ike_hdr h = { 0 };

	ike_wbuf_init(&inner);
	ike_wbuf_init(&w);
	ike_chain_init(&c, &inner);
	ike_build_notify(&c, 0, NULL, 0, type, data, len);
	memcpy(h.spi_i, req->spi_i, IKE_SPI_LEN);
	h.version = IKE_VERSION_2;
	h.exchange = IKE_SA_INIT;
	h.flags = IKE_FLAG_RESPONSE;
	h.msgid = req->msgid;
	if (!inner.err && !ike_msg_build(&h, c.first, inner.buf, inner.len, &w))
		eng_push_dgram(eng, local, remote, w.buf, w.len);
	ike_wbuf_free(&inner);
	ike_wbuf_free(&w);
}

/* ---- small helpers --------------------------------------------------------------------------- */

int msg_notify(const struct ike_msg *m, uint16_t type, struct ike_pld_notify *out)
{
	for (unsigned int i = 0; i < m->n_pld; i++) {
		struct ike_pld_notify n;

		if (m->pld[i].type != IKE_PLD_NOTIFY ||
		    ike_pld_notify(m->pld[i].body, m->pld[i].len, &n))
			continue;
		if (n.type == type) {
			if (out)
				*out = n;
			return 0;
		}
	}
	return -ENOENT;
}

uint16_t msg_error_notify(const struct ike_msg *m)
{
	for (unsigned int i = 0; i < m->n_pld; i++) {
		struct ike_pld_notify n;

		if (m->pld[i].type != IKE_PLD_NOTIFY ||
		    ike_pld_notify(m->pld[i].body, m->pld[i].len, &n))
			continue;
		if (n.type && n.type <= IKE_N_ERROR_MAX)
			return n.type;
	}
	return 0;
}

void suite_from_proposal(const struct ike_proposal *p, bool weak, struct ike_suite *s)
{
	const struct ike_transform *t;

	memset(s, 0, sizeof(*s));
	t = ike_prop_find(p, IKE_TRANS_ENCR);
	if (t) {
		s->encr = t->id;
		s->encr_bits = t->keylen;
	}
	t = ike_prop_find(p, IKE_TRANS_INTEG);
	s->integ = t ? t->id : IKE_INTEG_NONE;
	t = ike_prop_find(p, IKE_TRANS_PRF);
	s->prf = t ? t->id : 0;
	t = ike_prop_find(p, IKE_TRANS_DH);
	s->dh = t ? t->id : IKE_DH_NONE;
	s->weak = weak;
}

int sa_random_nonce(struct ike_sa *sa, struct ike_secret *n)
{
	int err = ike_secret_alloc(n, IKE_NONCE_LEN);

	if (!err)
		err = eng_random(sa->eng, n->ptr, n->len);
	return err;
}

static bool id_equal(const struct ike_id *a, const struct ike_id *b)
{
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

/* ID' of §2.15: the ID payload body (type, 3 reserved octets, data). */
static size_t id_body(const struct ike_id *id, uint8_t *buf)
{
	buf[0] = id->type;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, id->data, id->len);
	return 4 + (size_t)id->len;
}

static int id_from_pld(const struct ike_pld *p, struct ike_id *id)
{
	struct ike_pld_id pi;

	memset(id, 0, sizeof(*id));
	if (ike_pld_id(p->body, p->len, &pi) || pi.len > IKE_ID_MAX)
		return -EBADMSG;
	id->type = pi.type;
	id->len = (uint8_t)pi.len;
	memcpy(id->data, pi.data, pi.len);
	return 0;
}

static void id_format(const struct ike_id *id, char *buf, size_t len)
{
	size_t o = 0;

	switch (id->type) {
	case IKE_ID_FQDN:
	case IKE_ID_RFC822_ADDR:
		snprintf(buf, len, "%s%.*s", id->type == IKE_ID_FQDN ? "@" : "", (int)id->len,
			 (const char *)id->data);
		for (size_t i = 0; buf[i]; i++)
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				buf[i] = '?';
		return;
	case IKE_ID_IPV4_ADDR:
		if (id->len == 4) {
			snprintf(buf, len, "%u.%u.%u.%u", id->data[0], id->data[1], id->data[2],
				 id->data[3]);
			return;
		}
		break;
	default:
		break;
	}
	o = (size_t)snprintf(buf, len, "id%u:", id->type);
	for (size_t i = 0; i < id->len && o + 3 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", id->data[i]);
}

/* ---- NAT detection (§2.23) ------------------------------------------------------------------- */

static int natd_hash(const uint8_t *spi_i, const uint8_t *spi_r, const struct ike_addr *a,
		     uint8_t out[IKE_NATD_LEN])
{
	uint8_t port[2] = { (uint8_t)(a->port >> 8), (uint8_t)a->port };
	struct ike_chunk in[4] = {
		{ spi_i, IKE_SPI_LEN },
		{ spi_r, IKE_SPI_LEN },
		{ a->addr, a->family == AF_INET6 ? 16 : 4 },
		{ port, 2 },
	};

	return ike_sha1(in, 4, out);
}

static void build_natd(struct ike_chain *c, const uint8_t *spi_i, const uint8_t *spi_r,
		       const struct ike_addr *local, const struct ike_addr *remote)
{
	uint8_t h[IKE_NATD_LEN];

	if (!natd_hash(spi_i, spi_r, local, h))
		ike_build_notify(c, 0, NULL, 0, IKE_N_NAT_DETECTION_SOURCE_IP, h, sizeof(h));
	if (!natd_hash(spi_i, spi_r, remote, h))
		ike_build_notify(c, 0, NULL, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, h, sizeof(h));
}

/*
 * Compares the peer's NAT_DETECTION_* notifies with the addresses the message really had: a
 * source mismatch means the peer is behind a NAT, a destination mismatch that we are.
 */
static void natd_check(struct ike_sa *sa, const struct ike_msg *m, const struct ike_addr *local,
		       const struct ike_addr *remote)
{
	uint8_t hs[IKE_NATD_LEN], hd[IKE_NATD_LEN];
	bool any_s = false, any_d = false, match_s = false, match_d = false;

	if (natd_hash(m->hdr.spi_i, m->hdr.spi_r, remote, hs) ||
	    natd_hash(m->hdr.spi_i, m->hdr.spi_r, local, hd))
		return;
	for (unsigned int i = 0; i < m->n_pld; i++) {
		struct ike_pld_notify n;

		if (m->pld[i].type != IKE_PLD_NOTIFY ||
		    ike_pld_notify(m->pld[i].body, m->pld[i].len, &n))
			continue;
		if (n.type == IKE_N_NAT_DETECTION_SOURCE_IP) {
			any_s = true;
			match_s |= n.len == IKE_NATD_LEN && !memcmp(n.data, hs, IKE_NATD_LEN);
		} else if (n.type == IKE_N_NAT_DETECTION_DESTINATION_IP) {
			any_d = true;
			match_d |= n.len == IKE_NATD_LEN && !memcmp(n.data, hd, IKE_NATD_LEN);
		}
	}
	/* no NAT-D at all: the peer does not do NAT-T; assume no NAT */
	sa->nat_remote = any_s && !match_s;
	sa->nat_local = any_d && !match_d;
}

/* ---- cookies (§2.6) --------------------------------------------------------------------------- */

static void cookie_rotate(struct ike_engine *eng)
{
	uint64_t now = eng->now;

	if (eng->cookie_init && now - eng->cookie_rotated_ms < eng->cfg.cookie_rotate_ms)
		return;
	eng->cookie_version++;
	if (eng_random(eng, eng->cookie_secret[eng->cookie_version & 1], IKE_COOKIE_SECRET_LEN))
		memset(eng->cookie_secret[eng->cookie_version & 1], eng->cookie_version,
		       IKE_COOKIE_SECRET_LEN);
	if (!eng->cookie_init) /* the "previous" secret must not be all zeroes either */
		memcpy(eng->cookie_secret[(eng->cookie_version + 1) & 1],
		       eng->cookie_secret[eng->cookie_version & 1], IKE_COOKIE_SECRET_LEN);
	eng->cookie_rotated_ms = now;
	eng->cookie_init = true;
}

/* COOKIE = version | HMAC-SHA256(secret<version>, Ni | IPi | port | SPIi) */
static int cookie_make(struct ike_engine *eng, uint8_t version, struct ike_chunk ni,
		       const struct ike_addr *remote, const uint8_t *spi_i,
		       uint8_t out[IKE_COOKIE_LEN])
{
	uint8_t port[2] = { (uint8_t)(remote->port >> 8), (uint8_t)remote->port };
	struct ike_chunk in[4] = {
		ni,
		{ remote->addr, remote->family == AF_INET6 ? 16 : 4 },
		{ port, 2 },
		{ spi_i, IKE_SPI_LEN },
	};
	struct ike_chunk key = { eng->cookie_secret[version & 1], IKE_COOKIE_SECRET_LEN };

	out[0] = version;
	return ike_prf(IKE_PRF_HMAC_SHA2_256, key, in, 4, out + 1);
}

/* 0 if the request's first payload is a COOKIE we issued (current or previous secret). */
static int cookie_verify(struct ike_engine *eng, const struct ike_msg *m, struct ike_chunk ni,
			 const struct ike_addr *remote)
{
	struct ike_pld_notify n;
	uint8_t want[IKE_COOKIE_LEN];
	uint8_t v;

	if (!m->n_pld || m->pld[0].type != IKE_PLD_NOTIFY ||
	    ike_pld_notify(m->pld[0].body, m->pld[0].len, &n) || n.type != IKE_N_COOKIE ||
	    n.len != IKE_COOKIE_LEN)
		return -EACCES;
	v = n.data[0];
	if (v != eng->cookie_version && (uint8_t)(v + 1) != eng->cookie_version)
		return -EACCES;
	if (cookie_make(eng, v, ni, remote, m->hdr.spi_i, want))
		return -EACCES;
	return ike_memcmp_ct(want, n.data, IKE_COOKIE_LEN) ? -EACCES : 0;
}

/* ---- peer configuration lookup ---------------------------------------------------------------- */

static const struct ike_peer_cfg *
peer_for_init(struct ike_engine *eng, const struct ike_addr *local, const struct ike_addr *remote)
{
	const struct ike_peer_cfg *best = NULL;
	int best_score = -1;

	for (unsigned int i = 0; i < eng->n_peers; i++) {
		const struct ike_peer_cfg *p = &eng->peers[i];
		int score;

		if (p->mode == IKE_CONN_INITIATOR_ONLY || !addr_match(&p->local, local, false) ||
		    !addr_match(&p->remote, remote, false))
			continue;
		score = (p->remote.family ? 2 : 0) + (p->local.family ? 1 : 0);
		if (score > best_score) {
			best = p;
			best_score = score;
		}
	}
	return best;
}

/* The peer whose identities match IDi (and IDr if sent); the IKE_SA_INIT guess first. */
static const struct ike_peer_cfg *peer_for_auth(struct ike_sa *sa, const struct ike_id *idi,
						const struct ike_id *idr)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_cfg *best = NULL;
	int best_score = -1;

	for (unsigned int i = 0; i < eng->n_peers; i++) {
		const struct ike_peer_cfg *p = &eng->peers[i];
		int score = 0;

		if (p->mode == IKE_CONN_INITIATOR_ONLY ||
		    !addr_match(&p->local, &sa->local, false) ||
		    !addr_match(&p->remote, &sa->remote, false))
			continue;
		if (p->remote_id.type) {
			if (!id_equal(&p->remote_id, idi))
				continue;
			score += 4;
		}
		if (idr && !id_equal(&p->local_id, idr))
			continue;
		score += (p->remote.family ? 2 : 0) + (p == sa->init_peer ? 1 : 0);
		if (score > best_score) {
			best = p;
			best_score = score;
		}
	}
	return best;
}

/* Whether p's IKE proposals allow the suite negotiated in IKE_SA_INIT (with another config). */
static bool suite_acceptable(const struct ike_peer_cfg *p, const struct ike_suite *s)
{
	struct ike_prop_list *l = calloc(1, sizeof(*l));
	struct ike_proposal *pr, chosen;
	bool ok;

	if (!l)
		return false;
	l->n = 1;
	pr = &l->prop[0];
	pr->num = 1;
	pr->proto = IKE_PROTO_IKE;
	pr->trans[pr->n_trans++] = (struct ike_transform){ IKE_TRANS_ENCR, s->encr, s->encr_bits };
	pr->trans[pr->n_trans++] = (struct ike_transform){ IKE_TRANS_PRF, s->prf, 0 };
	if (s->integ)
		pr->trans[pr->n_trans++] = (struct ike_transform){ IKE_TRANS_INTEG, s->integ, 0 };
	pr->trans[pr->n_trans++] = (struct ike_transform){ IKE_TRANS_DH, s->dh, 0 };
	ok = !ike_prop_select(&p->ike, l, s->dh, &chosen);
	free(l);
	return ok;
}

/* ---- engine-level errors (no SA yet) ---------------------------------------------------------- */

static void eng_error(struct ike_engine *eng, const struct ike_peer_cfg *p,
		      const struct ike_addr *local, const struct ike_addr *remote,
		      enum ike_reason r, uint16_t notify, const char *text)
{
	struct ike_event *ev;

	if (!eng_error_allowed(eng))
		return;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return;
	ev->type = IKE_EV_ERROR;
	if (p)
		snprintf(ev->peer, sizeof(ev->peer), "%s", p->name);
	ev->local = *local;
	ev->remote = *remote;
	ev->reason = r;
	ev->notify = notify;
	snprintf(ev->text, sizeof(ev->text), "%s", text);
	/* the caller logs events; a peer can trigger these before authenticating */
	eng_log(eng, IKE_LOG_DEBUG, "%s: %s: %s", p ? p->name : "-", ike_reason_name(r), text);
	eng_push_event(eng, ev);
}

/* ---- IKE_SA_INIT ------------------------------------------------------------------------------- */

static int init_start(struct ike_sa *sa)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_wbuf inner, w;
	struct ike_chain c;
	struct ike_hdr h;
	uint8_t pub[IKE_DH_PUB_MAX];
	size_t pub_len;
	int err;

	if (!sa->dh_group)
		sa->dh_group = ike_prop_first_dh(&p->ike);
	/* §2.6: a retry with a COOKIE keeps every other payload (same KE, same nonce) */
	if (sa->dh && ike_dh_group(sa->dh) != sa->dh_group) {
		ike_dh_free(sa->dh);
		sa->dh = NULL;
	}
	if (!sa->dh)
		sa->dh = ike_dh_new(sa->dh_group, p->weak);
	pub_len = ike_dh_pub_len(sa->dh_group, p->weak);
	if (!sa->dh || !pub_len || pub_len > sizeof(pub) || ike_dh_public(sa->dh, pub, pub_len)) {
		sa_error(sa, IKE_R_INTERNAL, 0, NULL, "cannot create a DH key in group %u",
			 sa->dh_group);
		sa_down(sa, IKE_R_INTERNAL, "DH group %u unavailable", sa->dh_group);
		return -EINVAL;
	}
	if (!sa->ni.len && sa_random_nonce(sa, &sa->ni)) {
		sa_down(sa, IKE_R_INTERNAL, "no randomness");
		return -EIO;
	}
	ike_wbuf_init(&inner);
	ike_wbuf_init(&w);
	ike_chain_init(&c, &inner);
	if (sa->cookie.len) /* §2.6: COOKIE comes first */
		ike_build_notify(&c, 0, NULL, 0, IKE_N_COOKIE, sa->cookie.ptr, sa->cookie.len);
	ike_build_sa(&c, &p->ike);
	ike_build_ke(&c, sa->dh_group, pub, pub_len);
	ike_build_nonce(&c, sa->ni.ptr, sa->ni.len);
	build_natd(&c, sa->spi_i, sa->spi_r, &sa->local, &sa->remote);
	ike_build_notify(&c, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	ike_build_notify(&c, 0, NULL, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, sig_hashes,
			 sizeof(sig_hashes));
	sa->req_mid = 0;
	sa_hdr(sa, IKE_SA_INIT, 0, false, &h);
	err = inner.err ? inner.err : ike_msg_build(&h, c.first, inner.buf, inner.len, &w);
	if (!err) {
		free(sa->init_req);
		sa->init_req = malloc(w.len);
		if (!sa->init_req)
			err = -ENOMEM;
	}
	if (err) {
		ike_wbuf_free(&inner);
		ike_wbuf_free(&w);
		sa_down(sa, IKE_R_INTERNAL, "cannot build IKE_SA_INIT (%d)", err);
		return err;
	}
	memcpy(sa->init_req, w.buf, w.len);
	sa->init_req_len = w.len;
	ike_wbuf_free(&inner);
	sa->state = SA_INIT_I;
	wire_free(&sa->out.wire);
	sa->out.kind = TASK_IKE_INIT;
	err = wire_take(&sa->out.wire, &w);
	ike_wbuf_free(&w);
	if (err)
		return err;
	sa->out.mid = sa->req_mid++;
	sa->out.exch = IKE_SA_INIT;
	out_arm(sa);
	sa_transmit(sa, &sa->out.wire, NULL, NULL);
	eng_log(sa->eng, IKE_LOG_INFO, "%s: initiating ike sa %u (group %u)", p->name, sa->id,
		sa->dh_group);
	return 0;
}

static int sa_derive(struct ike_sa *sa, const uint8_t *peer_pub, size_t len)
{
	struct ike_secret gir = { 0 }, skeyseed = { 0 };
	int err;

	err = ike_dh_derive(sa->dh, peer_pub, len, &gir);
	if (!err)
		err = ike_kdf_skeyseed(sa->suite.prf, ike_secret_chunk(&sa->ni),
				       ike_secret_chunk(&sa->nr), ike_secret_chunk(&gir),
				       &skeyseed);
	if (!err)
		err = ike_kdf_sa_keys(&sa->suite, ike_secret_chunk(&skeyseed),
				      ike_secret_chunk(&sa->ni), ike_secret_chunk(&sa->nr),
				      sa->spi_i, sa->spi_r, &sa->keys);
	ike_secret_free(&gir);
	ike_secret_free(&skeyseed);
	ike_dh_free(sa->dh);
	sa->dh = NULL;
	return err;
}

static void sa_nat_update(struct ike_sa *sa)
{
	if (!sa->nat_local && !sa->nat_remote)
		return;
	/* §2.23: move to port 4500 once a NAT is detected */
	sa->natt = true;
	if (sa->local.port == 500)
		sa->local.port = 4500;
	if (sa->remote.port == 500)
		sa->remote.port = 4500;
}

static void fmt_props(const struct ike_prop_list *l, char *buf, size_t len)
{
	if (ike_prop_list_format(l, buf, len))
		snprintf(buf + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
}

/* Responder: an IKE_SA_INIT request (no SA exists yet: everything here is stateless until the
 * proposal, KE and cookie checks pass). */
static void init_request(struct ike_engine *eng, const struct ike_msg *m, int perr,
			 const struct ike_addr *local, const struct ike_addr *remote)
{
	const struct ike_peer_cfg *p;
	const struct ike_pld *psa, *pke, *pno;
	struct ike_prop_list *theirs = NULL, *chosen_l = NULL;
	struct ike_proposal chosen;
	struct ike_pld_ke ke;
	struct ike_chunk ni;
	struct ike_sa *sa;
	uint8_t pub[IKE_DH_PUB_MAX];
	size_t pub_len;
	struct ike_wbuf inner, w;
	struct ike_chain c;
	struct ike_hdr h;
	char text[IKE_REASON_MAX], ours_s[200], theirs_s[200];
	int err;

	if (m->hdr.msgid != 0 || !(m->hdr.flags & IKE_FLAG_INITIATOR))
		return;
	/* a retransmitted request: answer with the cached response (§2.1) */
	for (sa = eng->sas; sa; sa = sa->next) {
		if (sa->initiator || sa->state == SA_DEAD ||
		    memcmp(sa->spi_i, m->hdr.spi_i, IKE_SPI_LEN) ||
		    !addr_equal(&sa->remote, remote))
			continue;
		if (sa->state == SA_INIT_R && sa->resp_valid && sa->resp_mid == 0)
			sa_transmit(sa, &sa->resp, local, remote);
		return;
	}
	if (perr == -ENOTSUP) {
		uint8_t t = m->unsupported_critical;

		send_init_notify(eng, &m->hdr, local, remote, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD,
				 &t, 1);
		return;
	}
	if (perr)
		return;
	p = peer_for_init(eng, local, remote);
	if (!p) {
		eng_log(eng, IKE_LOG_DEBUG,
			"IKE_SA_INIT from an address no peer is configured for");
		send_init_notify(eng, &m->hdr, local, remote, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		return;
	}
	psa = ike_msg_find(m, IKE_PLD_SA);
	pke = ike_msg_find(m, IKE_PLD_KE);
	pno = ike_msg_find(m, IKE_PLD_NONCE);
	if (!psa || !pke || !pno || ike_pld_ke(pke->body, pke->len, &ke) ||
	    ike_pld_nonce(pno->body, pno->len, &ni)) {
		send_init_notify(eng, &m->hdr, local, remote, IKE_N_INVALID_SYNTAX, NULL, 0);
		return;
	}
	/* §2.6: under load, demand a cookie before keeping any state */
	if (eng->n_half_open >= eng->cfg.cookie_threshold) {
		cookie_rotate(eng);
		if (cookie_verify(eng, m, ni, remote)) {
			uint8_t ck[IKE_COOKIE_LEN];

			if (!cookie_make(eng, eng->cookie_version, ni, remote, m->hdr.spi_i, ck))
				send_init_notify(eng, &m->hdr, local, remote, IKE_N_COOKIE, ck,
						 sizeof(ck));
			return;
		}
	}
	theirs = calloc(1, sizeof(*theirs));
	chosen_l = calloc(1, sizeof(*chosen_l));
	if (!theirs || !chosen_l)
		goto out;
	if (ike_pld_sa(psa->body, psa->len, theirs)) {
		send_init_notify(eng, &m->hdr, local, remote, IKE_N_INVALID_SYNTAX, NULL, 0);
		goto out;
	}
	if (ike_prop_select(&p->ike, theirs, ke.group, &chosen)) {
		fmt_props(&p->ike, ours_s, sizeof(ours_s));
		fmt_props(theirs, theirs_s, sizeof(theirs_s));
		snprintf(text, sizeof(text), "no IKE proposal chosen: ours %s, theirs %s", ours_s,
			 theirs_s);
		eng_error(eng, p, local, remote, IKE_R_NO_PROPOSAL, IKE_N_NO_PROPOSAL_CHOSEN, text);
		send_init_notify(eng, &m->hdr, local, remote, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		goto out;
	}
	{
		const struct ike_transform *dh = ike_prop_find(&chosen, IKE_TRANS_DH);
		uint16_t want = dh ? dh->id : 0;

		if (!want || want != ke.group) {
			uint8_t g[2] = { (uint8_t)(want >> 8), (uint8_t)want };

			eng_log(eng, IKE_LOG_DEBUG, "%s: KE group %u, asking for %u", p->name,
				ke.group, want);
			send_init_notify(eng, &m->hdr, local, remote, IKE_N_INVALID_KE_PAYLOAD, g,
					 sizeof(g));
			goto out;
		}
	}
	sa = sa_new(eng, false, NULL);
	if (!sa)
		goto out;
	memcpy(sa->spi_i, m->hdr.spi_i, IKE_SPI_LEN);
	sa->init_peer = p;
	sa->local = *local;
	sa->remote = *remote;
	suite_from_proposal(&chosen, p->weak, &sa->suite);
	sa->dh_group = ke.group;
	sa->dh = ike_dh_new(ke.group, p->weak);
	pub_len = ike_dh_pub_len(ke.group, p->weak);
	if (!sa->dh || !pub_len || ike_dh_public(sa->dh, pub, pub_len) ||
	    ike_secret_set(&sa->ni, ni.ptr, ni.len) || sa_random_nonce(sa, &sa->nr)) {
		sa->state = SA_DEAD;
		goto out;
	}
	err = sa_derive(sa, ke.data, ke.len);
	if (err) {
		/* RFC 6989: an invalid public value is INVALID_SYNTAX */
		sa->state = SA_DEAD;
		send_init_notify(eng, &m->hdr, local, remote, IKE_N_INVALID_SYNTAX, NULL, 0);
		goto out;
	}
	natd_check(sa, m, local, remote);
	sa->peer_frag = !msg_notify(m, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL);

	chosen_l->n = 1;
	chosen_l->prop[0] = chosen;
	ike_wbuf_init(&inner);
	ike_wbuf_init(&w);
	ike_chain_init(&c, &inner);
	ike_build_sa(&c, chosen_l);
	ike_build_ke(&c, ke.group, pub, pub_len);
	ike_build_nonce(&c, sa->nr.ptr, sa->nr.len);
	build_natd(&c, sa->spi_i, sa->spi_r, local, remote);
	ike_build_notify(&c, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	ike_build_notify(&c, 0, NULL, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, sig_hashes,
			 sizeof(sig_hashes));
	sa_hdr(sa, IKE_SA_INIT, 0, true, &h);
	err = inner.err ? inner.err : ike_msg_build(&h, c.first, inner.buf, inner.len, &w);
	ike_wbuf_free(&inner);
	sa->init_req = malloc(m->raw_len);
	sa->init_resp = malloc(w.len ? w.len : 1);
	if (err || !sa->init_req || !sa->init_resp) {
		ike_wbuf_free(&w);
		sa->state = SA_DEAD;
		goto out;
	}
	memcpy(sa->init_req, m->raw, m->raw_len);
	sa->init_req_len = m->raw_len;
	memcpy(sa->init_resp, w.buf, w.len);
	sa->init_resp_len = w.len;
	wire_take(&sa->resp, &w);
	ike_wbuf_free(&w);
	sa->resp_mid = 0;
	sa->resp_valid = true;
	sa->peer_mid = 1;
	sa->state = SA_INIT_R;
	sa->half_open_ms = eng->now + eng->cfg.half_open_ms;
	eng->n_half_open++;
	sa_transmit(sa, &sa->resp, NULL, NULL);
	eng_log(eng, IKE_LOG_DEBUG, "%s: ike sa %u: answered IKE_SA_INIT%s%s", p->name, sa->id,
		sa->nat_remote ? " (peer behind NAT)" : "",
		sa->nat_local ? " (we are behind NAT)" : "");
out:
	free(theirs);
	free(chosen_l);
}

static void auth_start(struct ike_sa *sa);

/* Initiator: the IKE_SA_INIT response. */
static void init_response(struct ike_sa *sa, const struct ike_msg *m, int perr,
			  const struct ike_addr *local, const struct ike_addr *remote)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_pld_notify n;
	const struct ike_pld *psa, *pke, *pno;
	struct ike_prop_list *reply = NULL;
	struct ike_proposal chosen;
	struct ike_pld_ke ke;
	struct ike_chunk nr;
	uint16_t err_n;
	char why[IKE_REASON_MAX / 2];

	if (sa->state != SA_INIT_I)
		return;
	if (perr)
		return; /* maybe a forged answer: keep retransmitting */
	if (!msg_notify(m, IKE_N_COOKIE, &n)) {
		if (n.len < 1 || n.len > 64 || ++sa->cookie_tries > 3 ||
		    ike_secret_set(&sa->cookie, n.data, n.len)) {
			sa_down(sa, IKE_R_PEER_ERROR, "unusable COOKIE challenge");
			return;
		}
		init_start(sa);
		return;
	}
	if (!msg_notify(m, IKE_N_INVALID_KE_PAYLOAD, &n)) {
		uint16_t g = n.len == 2 ? (uint16_t)(n.data[0] << 8 | n.data[1]) : 0;

		if (g && g != sa->dh_group && ike_prop_offers_dh(&p->ike, g) &&
		    ++sa->ke_tries <= 3) {
			eng_log(sa->eng, IKE_LOG_INFO, "%s: peer wants DH group %u, retrying",
				p->name, g);
			sa->dh_group = g;
			init_start(sa);
			return;
		}
		sa_error(sa, IKE_R_INVALID_KE, IKE_N_INVALID_KE_PAYLOAD, NULL,
			 "peer asks for DH group %u, which we do not offer", g);
		sa_down(sa, IKE_R_INVALID_KE, "no acceptable DH group");
		return;
	}
	err_n = msg_error_notify(m);
	if (err_n) {
		char ours_s[IKE_REASON_MAX / 2];

		if (err_n == IKE_N_NO_PROPOSAL_CHOSEN) {
			fmt_props(&p->ike, ours_s, sizeof(ours_s));
			sa_error(sa, IKE_R_NO_PROPOSAL, err_n, NULL,
				 "peer chose none of our IKE proposals: %s", ours_s);
			sa_down(sa, IKE_R_NO_PROPOSAL, "NO_PROPOSAL_CHOSEN");
		} else {
			sa_error(sa, IKE_R_PEER_ERROR, err_n, NULL, "IKE_SA_INIT refused: %s (%u)",
				 notify_name(err_n), err_n);
			sa_down(sa, IKE_R_PEER_ERROR, "%s", notify_name(err_n));
		}
		return;
	}
	psa = ike_msg_find(m, IKE_PLD_SA);
	pke = ike_msg_find(m, IKE_PLD_KE);
	pno = ike_msg_find(m, IKE_PLD_NONCE);
	reply = calloc(1, sizeof(*reply));
	if (!reply || !psa || !pke || !pno || ike_pld_ke(pke->body, pke->len, &ke) ||
	    ike_pld_nonce(pno->body, pno->len, &nr) || ike_pld_sa(psa->body, psa->len, reply) ||
	    !memcmp(m->hdr.spi_r, "\0\0\0\0\0\0\0\0", IKE_SPI_LEN)) {
		sa_error(sa, IKE_R_SYNTAX, 0, NULL, "malformed IKE_SA_INIT response");
		sa_down(sa, IKE_R_SYNTAX, "malformed IKE_SA_INIT response");
		goto out;
	}
	if (ike_prop_check_reply(&p->ike, reply, &chosen, why, sizeof(why))) {
		sa_error(sa, IKE_R_NO_PROPOSAL, 0, NULL, "unacceptable IKE proposal in reply: %s",
			 why);
		sa_down(sa, IKE_R_NO_PROPOSAL, "bad proposal reply");
		goto out;
	}
	suite_from_proposal(&chosen, p->weak, &sa->suite);
	if (sa->suite.dh != sa->dh_group || ke.group != sa->dh_group) {
		sa_error(sa, IKE_R_SYNTAX, 0, NULL, "responder chose DH group %u/%u, we sent %u",
			 sa->suite.dh, ke.group, sa->dh_group);
		sa_down(sa, IKE_R_SYNTAX, "DH group mismatch");
		goto out;
	}
	memcpy(sa->spi_r, m->hdr.spi_r, IKE_SPI_LEN);
	if (ike_secret_set(&sa->nr, nr.ptr, nr.len) || sa_derive(sa, ke.data, ke.len)) {
		sa_error(sa, IKE_R_SYNTAX, IKE_N_INVALID_SYNTAX, NULL,
			 "invalid DH public value from peer");
		sa_down(sa, IKE_R_SYNTAX, "key derivation failed");
		goto out;
	}
	sa->init_resp = malloc(m->raw_len);
	if (!sa->init_resp) {
		sa_down(sa, IKE_R_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(sa->init_resp, m->raw, m->raw_len);
	sa->init_resp_len = m->raw_len;
	if (local->family)
		sa->local = *local;
	sa->remote = *remote;
	natd_check(sa, m, local, remote);
	sa_nat_update(sa);
	sa->peer_frag = !msg_notify(m, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL);
	auth_start(sa);
out:
	free(reply);
}

/* ---- IKE_AUTH --------------------------------------------------------------------------------- */

/* AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <msg> | Nonce | prf(SK_p, ID')) (§2.15) */
static int auth_compute(struct ike_sa *sa, bool for_initiator, const uint8_t *idb, size_t idb_len,
			uint8_t *out, size_t *out_len)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_wbuf oct;
	struct ike_chunk msg, nonce, skp;
	size_t plen = ike_prf_len(sa->suite.prf, true);
	int err;

	if (!p || !p->psk.len || !plen)
		return -EACCES;
	if (for_initiator) {
		msg = (struct ike_chunk){ sa->init_req, sa->init_req_len };
		nonce = ike_secret_chunk(&sa->nr);
		skp = ike_secret_chunk(&sa->keys.sk_pi);
	} else {
		msg = (struct ike_chunk){ sa->init_resp, sa->init_resp_len };
		nonce = ike_secret_chunk(&sa->ni);
		skp = ike_secret_chunk(&sa->keys.sk_pr);
	}
	ike_wbuf_init(&oct);
	err = ike_auth_octets(sa->suite.prf, msg, nonce, skp, (struct ike_chunk){ idb, idb_len },
			      &oct);
	if (!err)
		err = ike_auth_psk(sa->suite.prf, ike_secret_chunk(&p->psk),
				   (struct ike_chunk){ oct.buf, oct.len }, out);
	ike_wbuf_free(&oct);
	*out_len = plen;
	return err;
}

static int auth_verify(struct ike_sa *sa, bool for_initiator, const struct ike_pld *id_pld,
		       const struct ike_pld *auth_pld)
{
	struct ike_pld_id idp, ap;
	uint8_t want[IKE_PRF_MAX];
	size_t want_len = 0;
	int err;

	if (ike_pld_id(id_pld->body, id_pld->len, &idp) ||
	    ike_pld_auth(auth_pld->body, auth_pld->len, &ap))
		return -EBADMSG;
	if (ap.type != IKE_AUTH_SHARED_KEY_MIC)
		return -EACCES;
	err = auth_compute(sa, for_initiator, idp.body, idp.body_len, want, &want_len);
	if (!err && (ap.len != want_len || ike_memcmp_ct(ap.data, want, want_len)))
		err = -EACCES;
	ike_cleanse(want, sizeof(want));
	return err;
}

static void build_auth(struct ike_sa *sa, bool initiator, struct ike_chain *c)
{
	const struct ike_peer_cfg *p = sa->peer;
	uint8_t idb[4 + IKE_ID_MAX], mac[IKE_PRF_MAX];
	size_t idb_len = id_body(&p->local_id, idb), mac_len = 0;

	ike_build_id(c, initiator ? IKE_PLD_IDI : IKE_PLD_IDR, p->local_id.type, p->local_id.data,
		     p->local_id.len);
	if (auth_compute(sa, initiator, idb, idb_len, mac, &mac_len)) {
		c->w->err = -EACCES;
		return;
	}
	ike_build_auth(c, IKE_AUTH_SHARED_KEY_MIC, mac, mac_len);
	ike_cleanse(mac, sizeof(mac));
}

void sa_established(struct ike_sa *sa)
{
	struct ike_engine *eng = sa->eng;
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_event *ev;

	if (sa->state == SA_INIT_R && eng->n_half_open)
		eng->n_half_open--;
	sa->state = SA_ESTABLISHED;
	sa->established_ms = eng->now;
	sa->last_in_ms = eng->now;
	sa->rekey_ms = life_rekey_ms(eng, &p->ike_life, eng->now);
	sa->expire_ms =
		p->ike_life.lifetime_s ? eng->now + (uint64_t)p->ike_life.lifetime_s * 1000 : 0;
	ev = sa_event(sa, IKE_EV_IKE_UP);
	if (ev) {
		struct ike_proposal pr = { 0 };
		char s[IKE_PROP_STR_LEN];

		/* a readable summary of the negotiated suite */
		pr.proto = IKE_PROTO_IKE;
		pr.trans[pr.n_trans++] = (struct ike_transform){ IKE_TRANS_ENCR, sa->suite.encr,
								 sa->suite.encr_bits };
		if (sa->suite.integ)
			pr.trans[pr.n_trans++] =
				(struct ike_transform){ IKE_TRANS_INTEG, sa->suite.integ, 0 };
		pr.trans[pr.n_trans++] = (struct ike_transform){ IKE_TRANS_PRF, sa->suite.prf, 0 };
		pr.trans[pr.n_trans++] = (struct ike_transform){ IKE_TRANS_DH, sa->suite.dh, 0 };
		ike_prop_format(&pr, s, sizeof(s));
		snprintf(ev->text, sizeof(ev->text), "%s%s%s%s", s,
			 sa->nat_local ? ", we are behind NAT" : "",
			 sa->nat_remote ? ", peer behind NAT" : "",
			 sa->rekeyed_from ? ", rekeyed" : "");
		eng_log(eng, IKE_LOG_INFO, "%s: ike sa %u established (%s)", p->name, sa->id,
			ev->text);
		eng_push_event(eng, ev);
	}
}

static void sa_auth_done_cleanup(struct ike_sa *sa)
{
	/* what only IKE_SA_INIT/IKE_AUTH needed */
	ike_secret_free(&sa->ni);
	ike_secret_free(&sa->nr);
	ike_secret_free(&sa->keys.sk_pi);
	ike_secret_free(&sa->keys.sk_pr);
	free(sa->init_req);
	free(sa->init_resp);
	sa->init_req = sa->init_resp = NULL;
	sa->init_req_len = sa->init_resp_len = 0;
	ike_secret_free(&sa->cookie);
}

/* Whether another IKE SA with sa's peer exists (established or being negotiated either way):
 * then INITIAL_CONTACT would be wrong (strongSwan sends it only for the first SA too). */
static bool sa_peer_busy(const struct ike_sa *sa)
{
	for (const struct ike_sa *o = sa->eng->sas; o; o = o->next) {
		const struct ike_peer_cfg *op = o->peer ? o->peer : o->init_peer;

		if (o != sa && o->state != SA_DEAD && op == sa->peer)
			return true;
	}
	return false;
}

static void auth_start(struct ike_sa *sa)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_task t = { 0 };
	struct ike_wbuf inner;
	struct ike_chain c;
	unsigned int i;

	for (i = 0; i < sa->n_tasks; i++)
		if (sa->tasks[i].kind == TASK_CHILD_CREATE)
			break;
	if (i == sa->n_tasks) {
		sa_down(sa, IKE_R_NO_CONFIG, "no CHILD SA to create");
		return;
	}
	t = sa->tasks[i];
	memmove(&sa->tasks[i], &sa->tasks[i + 1], (sa->n_tasks - i - 1) * sizeof(sa->tasks[0]));
	sa->n_tasks--;
	sa->state = SA_AUTH_I;
	outstanding_clear(&sa->out);
	sa->out_active = false;
	sa->out.kind = TASK_IKE_AUTH;
	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	build_auth(sa, true, &c);
	if (p->remote_id.type)
		ike_build_id(&c, IKE_PLD_IDR, p->remote_id.type, p->remote_id.data,
			     p->remote_id.len);
	if (p->send_initial_contact && !sa_peer_busy(sa))
		ike_build_notify(&c, 0, NULL, 0, IKE_N_INITIAL_CONTACT, NULL, 0);
	if (child_req_build(sa, &sa->out, &t, true, &c) || inner.err ||
	    sa_send_req(sa, IKE_AUTH, &c, &inner)) {
		ike_wbuf_free(&inner);
		sa_error(sa, IKE_R_INTERNAL, 0, t.cfg ? t.cfg->name : NULL,
			 "cannot build IKE_AUTH request");
		sa_down(sa, IKE_R_INTERNAL, "cannot build IKE_AUTH");
		return;
	}
	ike_wbuf_free(&inner);
}

/* Sends an INFORMATIONAL request carrying one error notify, without waiting for its answer. */
static void send_info_notify(struct ike_sa *sa, uint16_t type)
{
	struct ike_wbuf inner;
	struct ike_chain c;

	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	ike_build_notify(&c, 0, NULL, 0, type, NULL, 0);
	outstanding_clear(&sa->out);
	sa->out.kind = TASK_NONE;
	sa_send_req(sa, IKE_INFORMATIONAL, &c, &inner);
	sa->out_active = false;
	ike_wbuf_free(&inner);
}

/* Responder: IKE_AUTH request. */
static void auth_request(struct ike_sa *sa, const struct ike_msg *m)
{
	const struct ike_pld *pidi = ike_msg_find(m, IKE_PLD_IDI);
	const struct ike_pld *pidr = ike_msg_find(m, IKE_PLD_IDR);
	const struct ike_pld *pauth = ike_msg_find(m, IKE_PLD_AUTH);
	const struct ike_peer_cfg *p;
	struct ike_id idi, idr;
	struct ike_wbuf inner;
	struct ike_chain c;
	char ids[IKE_ID_MAX * 2 + 16];
	uint32_t mid = m->hdr.msgid;
	int err;

	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	if (!pidi || !pauth || id_from_pld(pidi, &idi) || (pidr && id_from_pld(pidr, &idr))) {
		ike_build_notify(&c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		sa_send_resp(sa, IKE_AUTH, mid, &c, &inner);
		sa->peer = sa->init_peer;
		sa_down(sa, IKE_R_SYNTAX, "malformed IKE_AUTH request");
		goto out;
	}
	id_format(&idi, ids, sizeof(ids));
	p = peer_for_auth(sa, &idi, pidr ? &idr : NULL);
	if (p && p != sa->init_peer && !suite_acceptable(p, &sa->suite)) {
		/* the IKE SA was negotiated with another peer's proposals */
		eng_log(sa->eng, IKE_LOG_DEBUG,
			"%s: negotiated IKE suite not allowed for this peer", p->name);
		p = NULL;
	}
	sa->peer = p;
	err = p ? auth_verify(sa, true, pidi, pauth) : -ENOENT;
	if (err) {
		ike_build_notify(&c, 0, NULL, 0, IKE_N_AUTHENTICATION_FAILED, NULL, 0);
		sa_send_resp(sa, IKE_AUTH, mid, &c, &inner);
		if (!p)
			sa->peer = sa->init_peer;
		sa_error(sa, p ? IKE_R_AUTH_FAILED : IKE_R_NO_CONFIG, IKE_N_AUTHENTICATION_FAILED,
			 NULL, "%s '%s'",
			 p ? "pre-shared key authentication failed for"
			   : "no peer configuration matches identity",
			 ids);
		sa_down(sa, IKE_R_AUTH_FAILED, "authentication of '%s' failed", ids);
		goto out;
	}
	/* §2.4: INITIAL_CONTACT: the peer restarted, our established SAs with it are stale
	 * (SAs still negotiating are not: both ends may be starting the tunnel at once) */
	if (!msg_notify(m, IKE_N_INITIAL_CONTACT, NULL)) {
		for (struct ike_sa *o = sa->eng->sas; o; o = o->next)
			if (o != sa && o->peer == p &&
			    (o->state == SA_ESTABLISHED || o->state == SA_REKEYED))
				sa_down(o, IKE_R_INITIAL_CONTACT, "peer sent INITIAL_CONTACT");
	}
	build_auth(sa, false, &c);
	if (inner.err) {
		sa_down(sa, IKE_R_INTERNAL, "cannot compute AUTH");
		goto out;
	}
	sa_established(sa);
	child_respond_auth(sa, m, &c);
	sa_send_resp(sa, IKE_AUTH, mid, &c, &inner);
	sa_auth_done_cleanup(sa);
out:
	ike_wbuf_free(&inner);
}

/* Initiator: IKE_AUTH response. */
static void auth_response(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_pld *pidr = ike_msg_find(m, IKE_PLD_IDR);
	const struct ike_pld *pauth = ike_msg_find(m, IKE_PLD_AUTH);
	const char *child = o->cfg ? o->cfg->name : NULL;
	struct ike_id idr;
	uint16_t err_n;
	char ids[IKE_ID_MAX * 2 + 16];

	if (!msg_notify(m, IKE_N_AUTHENTICATION_FAILED, NULL)) {
		sa_error(sa, IKE_R_AUTH_FAILED, IKE_N_AUTHENTICATION_FAILED, child,
			 "peer refused our authentication (AUTHENTICATION_FAILED)");
		sa_down(sa, IKE_R_AUTH_FAILED, "peer sent AUTHENTICATION_FAILED");
		return;
	}
	if (!pidr || !pauth) {
		err_n = msg_error_notify(m);
		sa_error(sa, IKE_R_PEER_ERROR, err_n, child, "IKE_AUTH refused: %s (%u)",
			 err_n ? notify_name(err_n) : "no AUTH payload", err_n);
		sa_down(sa, IKE_R_PEER_ERROR, "IKE_AUTH failed");
		return;
	}
	if (id_from_pld(pidr, &idr)) {
		sa_down(sa, IKE_R_SYNTAX, "malformed IDr");
		return;
	}
	id_format(&idr, ids, sizeof(ids));
	if ((p->remote_id.type && !id_equal(&p->remote_id, &idr)) ||
	    auth_verify(sa, false, pidr, pauth)) {
		/* §2.21.2: tell the responder in a separate INFORMATIONAL exchange */
		send_info_notify(sa, IKE_N_AUTHENTICATION_FAILED);
		sa_error(sa, IKE_R_AUTH_FAILED, IKE_N_AUTHENTICATION_FAILED, child,
			 "authentication of responder '%s' failed", ids);
		sa_down(sa, IKE_R_AUTH_FAILED, "responder '%s' not authenticated", ids);
		return;
	}
	sa_established(sa);
	child_req_done(sa, m, o, true);
	sa_auth_done_cleanup(sa);
}

/* ---- INFORMATIONAL --------------------------------------------------------------------------- */

static int info_start(struct ike_sa *sa, const struct ike_task *t)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_wbuf inner;
	struct ike_chain c;
	int err;

	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	outstanding_clear(&sa->out);
	sa->out.kind = t->kind;
	if (t->kind == TASK_IKE_DELETE) {
		ike_build_delete(&c, IKE_PROTO_IKE, 0, 0, NULL);
		sa->state = SA_DELETING;
	} else if (p && p->dpd_timeout_s) {
		/* DPD: the configured timeout bounds the retransmissions of the liveness check */
		sa->out.give_up_ms = sa->eng->now + (uint64_t)p->dpd_timeout_s * 1000;
	}
	err = sa_send_req(sa, IKE_INFORMATIONAL, &c, &inner);
	ike_wbuf_free(&inner);
	if (err && t->kind == TASK_IKE_DELETE)
		sa_down(sa, IKE_R_LOCAL_DELETE, "deleted");
	return err;
}

static void info_request(struct ike_sa *sa, const struct ike_msg *m)
{
	struct ike_wbuf inner;
	struct ike_chain c;
	uint32_t spis[64];
	unsigned int n_spis = 0;
	bool del_ike = false, auth_failed = false;

	for (unsigned int i = 0; i < m->n_pld; i++) {
		const struct ike_pld *pl = &m->pld[i];
		struct ike_pld_delete d;
		struct ike_pld_notify n;

		if (pl->type == IKE_PLD_DELETE && !ike_pld_delete(pl->body, pl->len, &d)) {
			if (d.proto == IKE_PROTO_IKE)
				del_ike = true;
			else if (d.proto == IKE_PROTO_ESP)
				child_delete_request(sa, &d, spis, 64, &n_spis);
		} else if (pl->type == IKE_PLD_NOTIFY && !ike_pld_notify(pl->body, pl->len, &n)) {
			if (n.type == IKE_N_AUTHENTICATION_FAILED)
				auth_failed = true;
			else if (n.type <= IKE_N_ERROR_MAX)
				eng_log(sa->eng, IKE_LOG_INFO, "ike sa %u: peer notifies %s (%u)",
					sa->id, notify_name(n.type), n.type);
		}
	}
	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	if (n_spis && !del_ike) {
		uint8_t raw[64 * 4];

		for (unsigned int i = 0; i < n_spis; i++) {
			raw[4 * i] = (uint8_t)(spis[i] >> 24);
			raw[4 * i + 1] = (uint8_t)(spis[i] >> 16);
			raw[4 * i + 2] = (uint8_t)(spis[i] >> 8);
			raw[4 * i + 3] = (uint8_t)spis[i];
		}
		ike_build_delete(&c, IKE_PROTO_ESP, IKE_ESP_SPI_LEN, (uint16_t)n_spis, raw);
	}
	sa_send_resp(sa, IKE_INFORMATIONAL, m->hdr.msgid, &c, &inner);
	ike_wbuf_free(&inner);
	if (auth_failed) {
		sa_error(sa, IKE_R_AUTH_FAILED, IKE_N_AUTHENTICATION_FAILED, NULL,
			 "peer could not authenticate us (AUTHENTICATION_FAILED)");
		sa_down(sa, IKE_R_AUTH_FAILED, "peer sent AUTHENTICATION_FAILED");
	} else if (del_ike) {
		/*
		 * After a rekey the children moved already: this reports IKE_DOWN(REKEYED). So
		 * does a collision whose answer to our own rekey has not come yet: the peer's rekey,
		 * which we answered, completed first (§2.8.1) and its new SA has the children.
		 */
		if (!sa->replaced_by && sa->ike_collision_id &&
		    sa_by_id(sa->eng, sa->ike_collision_id))
			sa->replaced_by = sa->ike_collision_id;
		sa_down(sa, IKE_R_PEER_DELETE, "peer deleted the IKE SA");
	}
}

/* ---- dispatch ----------------------------------------------------------------------------------- */

int exch_start(struct ike_sa *sa, const struct ike_task *t)
{
	switch (t->kind) {
	case TASK_IKE_INIT:
		return init_start(sa);
	case TASK_CHILD_CREATE:
	case TASK_CHILD_REKEY:
	case TASK_IKE_REKEY:
		return child_start(sa, t);
	case TASK_CHILD_DELETE:
		return child_delete_start(sa, t);
	case TASK_IKE_DELETE:
	case TASK_DPD:
		return info_start(sa, t);
	default:
		return -EINVAL;
	}
}

static struct ike_sa *sa_lookup(struct ike_engine *eng, const struct ike_hdr *h)
{
	static const uint8_t zero[IKE_SPI_LEN];

	/* the I flag says the sender is the original initiator: then our SPI is SPIr */
	if (h->flags & IKE_FLAG_INITIATOR) {
		struct ike_sa *s;

		if (!memcmp(h->spi_r, zero, IKE_SPI_LEN))
			return NULL;
		s = sa_find(eng, NULL, h->spi_r, false);
		return s && !memcmp(s->spi_i, h->spi_i, IKE_SPI_LEN) ? s : NULL;
	}
	return sa_find(eng, h->spi_i, h->spi_r, h->exchange == IKE_SA_INIT);
}

static void response_dispatch(struct ike_sa *sa, const struct ike_msg *m)
{
	struct ike_outstanding o = sa->out;

	memset(&sa->out, 0, sizeof(sa->out));
	sa->out_active = false;
	switch (o.kind) {
	case TASK_IKE_AUTH:
		auth_response(sa, m, &o);
		break;
	case TASK_CHILD_CREATE:
	case TASK_CHILD_REKEY:
	case TASK_IKE_REKEY:
		ccsa_response(sa, m, &o);
		break;
	case TASK_CHILD_DELETE:
		child_delete_response(sa, m, &o);
		break;
	case TASK_IKE_DELETE:
		sa_down(sa, IKE_R_LOCAL_DELETE, "deleted");
		break;
	default:
		break; /* liveness check answered */
	}
	outstanding_clear(&o);
}

static void request_dispatch(struct ike_sa *sa, const struct ike_msg *m)
{
	switch (m->hdr.exchange) {
	case IKE_AUTH:
		if (sa->state == SA_INIT_R)
			auth_request(sa, m);
		break;
	case IKE_CREATE_CHILD_SA:
		if (sa->state == SA_ESTABLISHED || sa->state == SA_REKEYED ||
		    sa->state == SA_DELETING)
			ccsa_request(sa, m);
		break;
	case IKE_INFORMATIONAL:
		if (sa->state != SA_INIT_R && sa->state != SA_INIT_I)
			info_request(sa, m);
		break;
	default:
		break;
	}
}

static int dgram_hash(const uint8_t *d, size_t len, uint8_t out[IKE_NATD_LEN])
{
	struct ike_chunk c = { d, len };

	return ike_sha1(&c, 1, out);
}

/* An encrypted request we cannot process: answer with one notify. */
static void reply_error(struct ike_sa *sa, const struct ike_msg *m, uint16_t type,
			const uint8_t *data, size_t len)
{
	struct ike_wbuf inner;
	struct ike_chain c;

	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	ike_build_notify(&c, 0, NULL, 0, type, data, len);
	sa_send_resp(sa, m->hdr.exchange, m->hdr.msgid, &c, &inner);
	ike_wbuf_free(&inner);
}

int exch_input(struct ike_engine *eng, const struct ike_addr *local, const struct ike_addr *remote,
	       const uint8_t *dgram, size_t len)
{
	struct ike_msg m, full;
	struct ike_msg *mm = &m;
	struct ike_sk_keys k;
	struct ike_sa *sa;
	uint8_t h[IKE_NATD_LEN];
	bool is_resp;
	int perr, err;

	memset(&full, 0, sizeof(full));
	perr = ike_msg_parse(dgram, len, &m);
	if (perr && perr != -ENOTSUP) {
		eng_log(eng, IKE_LOG_DEBUG, "%s: dropping malformed datagram (%d, %zu bytes)",
			__func__, perr, len);
		goto out;
	}
	is_resp = m.hdr.flags & IKE_FLAG_RESPONSE;
	if (m.hdr.exchange == IKE_SA_INIT && !is_resp) {
		init_request(eng, &m, perr, local, remote);
		goto out;
	}
	sa = sa_lookup(eng, &m.hdr);
	if (!sa || sa->state == SA_DEAD) {
		eng_log(eng, IKE_LOG_DEBUG, "%s: no IKE SA for the SPIs of a %s", __func__,
			is_resp ? "response" : "request");
		goto out;
	}
	if (is_resp) {
		if (!sa->out_active || m.hdr.msgid != sa->out.mid || m.hdr.exchange != sa->out.exch)
			goto out; /* not the answer we wait for (§2.3) */
	} else {
		if (sa->resp_valid && m.hdr.msgid == sa->resp_mid &&
		    m.hdr.msgid + 1 == sa->peer_mid) {
			/* a retransmitted request: the cached response again (§2.1), but only
			 * for the very bytes we processed (no reflection of forged datagrams) */
			if (!dgram_hash(dgram, len, h) && !memcmp(h, sa->req_hash, sizeof(h)))
				sa_transmit(sa, &sa->resp, local, remote);
			goto out;
		}
		if (m.hdr.msgid != sa->peer_mid) {
			eng_log(eng, IKE_LOG_DEBUG, "%s: request %u outside the window (want %u)",
				__func__, m.hdr.msgid, sa->peer_mid);
			goto out;
		}
		/* before IKE_AUTH only IKE_AUTH; afterwards never again (§1.2) */
		if ((sa->state == SA_INIT_R) != (m.hdr.exchange == IKE_AUTH) ||
		    m.hdr.exchange == IKE_SA_INIT)
			goto out;
	}
	if (m.hdr.exchange == IKE_SA_INIT) {
		init_response(sa, &m, perr, local, remote);
		goto out;
	}
	if (sa->state == SA_INIT_I || perr == -EBADMSG)
		goto out;
	sa_sk_keys(sa, false, &k);
	if (m.sk_type == IKE_PLD_SKF) {
		if (!sa->frag) {
			sa->frag = calloc(1, sizeof(*sa->frag));
			if (!sa->frag)
				goto out;
		}
		err = ike_frag_add(sa->frag, &m, &k);
		if (err != 1)
			goto out;
		err = ike_frag_finish(sa->frag, &full);
		mm = &full;
	} else if (m.sk_type == IKE_PLD_SK) {
		err = ike_sk_open(&m, &k);
	} else {
		goto out; /* after IKE_SA_INIT everything is encrypted */
	}
	if (err == -EACCES || (err && is_resp)) {
		eng_log(eng, IKE_LOG_DEBUG, "%s: ike sa %u: dropping message %u (%d)", __func__,
			sa->id, m.hdr.msgid, err);
		goto out;
	}
	/* authenticated from here on */
	sa->last_in_ms = eng->now;
	if (!addr_equal(&sa->remote, remote) || (local->family && !addr_equal(&sa->local, local))) {
		/* a NAT mapping changed or the initiator floated to 4500 (§2.23) */
		sa->remote = *remote;
		if (local->family)
			sa->local = *local;
	}
	if (!is_resp) {
		sa->peer_mid++;
		if (dgram_hash(dgram, len, sa->req_hash))
			memset(sa->req_hash, 0, sizeof(sa->req_hash));
		if (err == -ENOTSUP) {
			uint8_t t = mm->unsupported_critical;

			reply_error(sa, mm, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, &t, 1);
		} else if (err) {
			reply_error(sa, mm, IKE_N_INVALID_SYNTAX, NULL, 0);
			if (mm->hdr.exchange == IKE_AUTH && sa->state == SA_INIT_R)
				sa_down(sa, IKE_R_SYNTAX, "malformed IKE_AUTH");
		} else {
			request_dispatch(sa, mm);
		}
	} else {
		response_dispatch(sa, mm);
	}
	if (sa->state != SA_DEAD)
		sa_kick(sa);
out:
	ike_msg_free(&full);
	ike_msg_free(&m);
	return 0;
}
