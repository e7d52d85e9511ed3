// SPDX-License-Identifier: GPL-2.0-only
/*
 * CHILD SAs and CREATE_CHILD_SA (RFC 7296 §1.3, §2.8, §2.17): the CHILD SA part of IKE_AUTH on
 * both sides, new CHILD SAs, CHILD rekeys with REKEY_SA and IKE SA rekeys with new SPIs and KE,
 * their collisions (§2.8.1: the SA created by the exchange holding the lowest of the four nonces
 * is redundant and is deleted by its initiator), INFORMATIONAL DELETE of CHILD SAs (§1.4.1), and
 * the events that tell the caller which SA to install when. The rekey responder reports the new
 * inbound SA at once but holds the outbound one until the initiator has switched (its DELETE
 * of the old SA arrives, or traffic arrives on the new inbound SA, or a fallback timer fires),
 * so that no packet is sent on an SA the peer cannot decrypt yet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_sa.h"

/* ---- objects ----------------------------------------------------------------------------------- */

struct ike_child *child_find(struct ike_sa *sa, uint32_t id)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

struct ike_child *child_by_spi(struct ike_sa *sa, uint32_t spi)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->spi_in == spi || c->spi_out == spi)
			return c;
	return NULL;
}

static struct ike_child *child_by_spi_out(struct ike_sa *sa, uint32_t spi)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->spi_out == spi)
			return c;
	return NULL;
}

static void ev_free(struct ike_event *ev)
{
	if (!ev)
		return;
	ike_secret_free(&ev->child_sa.encr_key);
	ike_secret_free(&ev->child_sa.integ_key);
	free(ev);
}

void child_free(struct ike_child *c)
{
	if (!c)
		return;
	free(c->ts);
	ev_free(c->pending_out);
	ike_cleanse(c, sizeof(*c));
	free(c);
}

static void child_unlink(struct ike_sa *sa, struct ike_child *c)
{
	struct ike_child **pp = &sa->children;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
}

/* The negotiated selectors of c as lists (local side, remote side). */
static void child_ts(const struct ike_child *c, struct ike_ts_list *local,
		     struct ike_ts_list *remote)
{
	memset(local, 0, sizeof(*local));
	memset(remote, 0, sizeof(*remote));
	local->n = c->n_local;
	remote->n = c->n_remote;
	memcpy(local->ts, c->ts, c->n_local * sizeof(*c->ts));
	memcpy(remote->ts, c->ts + c->n_local, c->n_remote * sizeof(*c->ts));
}

static void child_fill(struct ike_sa *sa, const struct ike_child *c, struct ike_child_sa *s)
{
	const struct ike_life_cfg *l = &c->cfg->life;
	uint64_t now = sa->eng->now;

	s->reqid = c->cfg->reqid;
	s->child_id = c->id;
	s->spi_in = c->spi_in;
	s->spi_out = c->spi_out;
	s->transport = c->transport;
	s->encr = c->esp.encr;
	s->encr_bits = c->esp.encr_bits;
	s->integ = c->esp.integ;
	s->esn = c->esn;
	s->encap = sa->nat_local || sa->nat_remote;
	child_ts(c, &s->ts_local, &s->ts_remote);
	s->hard_s = l->lifetime_s;
	s->soft_s = c->rekey_ms > now ? (c->rekey_ms - now) / 1000 : 0;
	s->hard_bytes = l->bytes;
	s->soft_bytes = l->bytes > l->margin_bytes ? l->bytes - l->margin_bytes : 0;
	s->hard_packets = l->packets;
	s->soft_packets = l->packets > l->margin_packets ? l->packets - l->margin_packets : 0;
}

static struct ike_event *child_event(struct ike_sa *sa, const struct ike_child *c,
				     enum ike_event_type type)
{
	struct ike_event *ev = sa_event(sa, type);

	if (!ev)
		return NULL;
	snprintf(ev->child, sizeof(ev->child), "%s", c->cfg->name);
	child_fill(sa, c, &ev->child_sa);
	return ev;
}

void child_remove(struct ike_sa *sa, struct ike_child *c, enum ike_reason r)
{
	child_unlink(sa, c);
	if (c->installed) {
		struct ike_event *ev = child_event(sa, c, IKE_EV_CHILD_DELETE);

		if (ev) {
			ev->reason = r;
			if (!c->out_installed)
				ev->child_sa.spi_out = 0; /* never installed: nothing to remove */
			snprintf(ev->text, sizeof(ev->text), "%s", ike_reason_name(r));
			eng_push_event(sa->eng, ev);
		}
	}
	child_free(c);
}

void child_switch_out(struct ike_sa *sa, struct ike_child *c)
{
	struct ike_event *ev = c->pending_out;

	if (!ev)
		return;
	c->pending_out = NULL;
	c->switch_ms = 0;
	c->out_installed = true;
	eng_log(sa->eng, IKE_LOG_DEBUG, "child %u: outbound switched to spi %08x", c->id,
		c->spi_out);
	eng_push_event(sa->eng, ev);
}

/* Switches the outbound SA of every successor of old that still waits (make-before-break). */
static void child_switch_successors(struct ike_sa *sa, const struct ike_child *old)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->replaces_id == old->id && c->pending_out)
			child_switch_out(sa, c);
}

static int keys_copy(struct ike_secret *dst, const struct ike_secret *src)
{
	return src->len ? ike_secret_set(dst, src->ptr, src->len) : 0;
}

/*
 * Reports a new CHILD SA: inbound at once; outbound at once too, except for the responder of a
 * rekey (defer_out), whose outbound SA is held until the initiator switched. we_init: we
 * initiated the exchange that created it (KEYMAT order, §2.17).
 */
static int child_install(struct ike_sa *sa, struct ike_child *c, struct ike_child_keys *k,
			 bool we_init, bool defer_out, const struct ike_child *old)
{
	const struct ike_life_cfg *l = &c->cfg->life;
	struct ike_engine *eng = sa->eng;
	struct ike_event *in, *out;

	c->installed_ms = eng->now;
	c->rekey_ms = life_rekey_ms(eng, l, eng->now);
	c->expire_ms = l->lifetime_s ? eng->now + (uint64_t)l->lifetime_s * 1000 : 0;
	in = child_event(sa, c, IKE_EV_CHILD_INSTALL);
	out = child_event(sa, c, defer_out ? IKE_EV_CHILD_SWITCH_OUT : IKE_EV_CHILD_INSTALL);
	if (!in || !out)
		goto err;
	in->child_sa.inbound = true;
	in->child_sa.spi = c->spi_in;
	in->child_sa.src = sa->remote;
	in->child_sa.dst = sa->local;
	in->child_sa.old_spi = old ? old->spi_in : 0;
	out->child_sa.inbound = false;
	out->child_sa.spi = c->spi_out;
	out->child_sa.src = sa->local;
	out->child_sa.dst = sa->remote;
	out->child_sa.old_spi = old ? old->spi_out : 0;
	if (keys_copy(&in->child_sa.encr_key, we_init ? &k->er : &k->ei) ||
	    keys_copy(&in->child_sa.integ_key, we_init ? &k->ar : &k->ai) ||
	    keys_copy(&out->child_sa.encr_key, we_init ? &k->ei : &k->er) ||
	    keys_copy(&out->child_sa.integ_key, we_init ? &k->ai : &k->ar))
		goto err;
	eng_push_event(eng, in);
	c->installed = true;
	if (defer_out) {
		c->pending_out = out;
		c->switch_ms = eng->now + eng->cfg.switch_ms;
	} else {
		c->out_installed = true;
		eng_push_event(eng, out);
	}
	c->state = CHILD_INSTALLED;
	eng_log(eng, IKE_LOG_INFO, "%s: child %s %u up: spi in %08x out %08x%s",
		sa->peer ? sa->peer->name : "-", c->cfg->name, c->id, c->spi_in, c->spi_out,
		old ? " (rekeyed)" : "");
	return 0;
err:
	ev_free(in);
	ev_free(out);
	return -ENOMEM;
}

static struct ike_child *child_new(struct ike_sa *sa, const struct ike_child_cfg *cfg,
				   const struct ike_ts_list *ts_local,
				   const struct ike_ts_list *ts_remote)
{
	struct ike_child *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cfg = cfg;
	c->id = eng_id(sa->eng);
	c->state = CHILD_CREATING;
	/* exactly the negotiated selectors: a CHILD SA lives long, keep it small */
	c->n_local = ts_local->n;
	c->n_remote = ts_remote->n;
	c->ts = malloc(((size_t)c->n_local + c->n_remote + 1) * sizeof(*c->ts));
	if (!c->ts) {
		child_free(c);
		return NULL;
	}
	memcpy(c->ts, ts_local->ts, c->n_local * sizeof(*c->ts));
	memcpy(c->ts + c->n_local, ts_remote->ts, c->n_remote * sizeof(*c->ts));
	c->next = sa->children;
	sa->children = c;
	return c;
}

/*
 * §2.8.1 compares nonces. Only the lowest nonce of an exchange matters, and only its first
 * IKE_NONCE_LEN octets are kept (with its length): nonces are random, so two that share 32
 * leading octets do not occur.
 */
static int nonce_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int cmp;

	if (n > IKE_NONCE_LEN)
		n = IKE_NONCE_LEN;
	cmp = memcmp(a, b, n);
	if (cmp)
		return cmp;
	return alen < blen ? -1 : alen > blen;
}

static void nonce_min(const struct ike_chunk *a, const struct ike_chunk *b, uint8_t *out,
		      uint16_t *out_len)
{
	const struct ike_chunk *lo = nonce_cmp(a->ptr, a->len, b->ptr, b->len) <= 0 ? a : b;

	memcpy(out, lo->ptr, lo->len < IKE_NONCE_LEN ? lo->len : IKE_NONCE_LEN);
	*out_len = (uint16_t)lo->len;
}

static void spi_put(uint8_t *p, uint32_t spi)
{
	p[0] = (uint8_t)(spi >> 24);
	p[1] = (uint8_t)(spi >> 16);
	p[2] = (uint8_t)(spi >> 8);
	p[3] = (uint8_t)spi;
}

static uint32_t spi_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ts_cfg(const struct ike_child_cfg *cc, bool strict, struct ike_ts_cfg *t)
{
	t->local = cc->local_ts;
	t->remote = cc->remote_ts;
	t->strict = strict;
}

/* Our ESP proposals with our SPI, DH removed inside IKE_AUTH (§1.2). Heap; NULL on ENOMEM. */
static struct ike_prop_list *esp_offer(const struct ike_child_cfg *cc, uint32_t spi, bool in_auth)
{
	struct ike_prop_list *l = malloc(sizeof(*l));

	if (!l)
		return NULL;
	*l = cc->esp;
	for (unsigned int i = 0; i < l->n; i++) {
		l->prop[i].proto = IKE_PROTO_ESP;
		l->prop[i].spi_len = IKE_ESP_SPI_LEN;
		spi_put(l->prop[i].spi, spi);
	}
	if (in_auth)
		ike_prop_list_strip_dh(l);
	return l;
}

static void fmt_props(const struct ike_prop_list *l, char *buf, size_t len)
{
	if (ike_prop_list_format(l, buf, len) && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/* ---- initiator ------------------------------------------------------------------------------- */

int child_req_build(struct ike_sa *sa, struct ike_outstanding *o, const struct ike_task *t,
		    bool in_auth, struct ike_chain *c)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_child_cfg *cc = t->cfg;
	struct ike_child *old = NULL;
	struct ike_prop_list *props;
	struct ike_ts_cfg tc;
	uint8_t pub[IKE_DH_PUB_MAX];
	size_t pub_len = 0;

	if (t->kind == TASK_CHILD_REKEY) {
		old = child_find(sa, t->child_id);
		if (!old)
			return -ENOENT;
		cc = old->cfg;
	}
	if (!cc)
		return -EINVAL;
	o->cfg = cc;
	o->child_id = t->child_id;
	o->new_spi = eng_alloc_spi(sa->eng);
	o->prop_tsi = malloc(sizeof(*o->prop_tsi));
	o->prop_tsr = malloc(sizeof(*o->prop_tsr));
	if (!o->prop_tsi || !o->prop_tsr)
		return -ENOMEM;
	if (old) {
		child_ts(old, o->prop_tsi, o->prop_tsr);
	} else {
		ts_cfg(cc, p->strict_ts, &tc);
		if (ike_ts_propose(&tc, t->has_trig ? &t->trig_local : NULL,
				   t->has_trig ? &t->trig_remote : NULL, o->prop_tsi, o->prop_tsr))
			return -EINVAL;
	}
	props = esp_offer(cc, o->new_spi, in_auth);
	if (!props)
		return -ENOMEM;
	if (!in_auth) {
		o->dh_group = ike_prop_first_dh(props);
		if (t->dh_group && ike_prop_offers_dh(props, t->dh_group))
			o->dh_group = t->dh_group; /* the responder asked for it (INVALID_KE) */
		if (sa_random_nonce(sa, &o->nonce))
			goto err;
		if (o->dh_group) {
			o->dh = ike_dh_new(o->dh_group, p->weak);
			pub_len = ike_dh_pub_len(o->dh_group, p->weak);
			if (!o->dh || !pub_len || ike_dh_public(o->dh, pub, pub_len))
				goto err;
		}
	}
	if (old) {
		uint8_t spi[4];

		spi_put(spi, old->spi_in);
		ike_build_notify(c, IKE_PROTO_ESP, spi, 4, IKE_N_REKEY_SA, NULL, 0);
	}
	if (cc->transport)
		ike_build_notify(c, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
	ike_build_sa(c, props);
	if (!in_auth) {
		ike_build_nonce(c, o->nonce.ptr, o->nonce.len);
		if (o->dh)
			ike_build_ke(c, o->dh_group, pub, pub_len);
	}
	ike_build_ts(c, IKE_PLD_TSI, o->prop_tsi);
	ike_build_ts(c, IKE_PLD_TSR, o->prop_tsr);
	free(props);
	return c->w->err;
err:
	free(props);
	return -EIO;
}

/*
 * The SPI the peer chose for a new CHILD SA (our outbound SA) must be a valid ESP SPI (RFC 4303
 * §2.1: 0 is never sent, 1-255 are reserved) and differ from every SPI of the engine's CHILD SAs.
 * An outbound SPI the peer already uses (-EEXIST) would have two children share one kernel SA:
 * installed twice, then removed with the wrong child. One equal to one of our inbound SPIs
 * (-EADDRINUSE) would make ike_engine_expire() and ike_engine_child_traffic(), which name an SA
 * by its SPI alone, ambiguous; an honest peer hits that only by chance (n / 2^32 per
 * negotiation, n our CHILD SAs) and the negotiation then fails and is retried like any other.
 */
static int peer_spi_check(struct ike_sa *sa, uint32_t spi)
{
	struct ike_sa *other;
	struct ike_child *c;

	if (spi < 256)
		return -EINVAL;
	c = eng_child_by_spi(sa->eng, spi, &other);
	if (!c)
		return 0;
	return c->spi_out == spi ? -EEXIST : -EADDRINUSE;
}

/* A CHILD SA the peer created for us that we cannot use: have it deleted (§2.9 note). */
static void child_abort(struct ike_sa *sa, const struct ike_child_cfg *cc, uint32_t spi_in,
			uint32_t spi_out)
{
	struct ike_ts_list empty = { 0 };
	struct ike_child *c = child_new(sa, cc, &empty, &empty);

	if (!c)
		return;
	c->spi_in = spi_in;
	c->spi_out = spi_out;
	c->state = CHILD_INSTALLED;
	sa_queue(sa, &(struct ike_task){ .kind = TASK_CHILD_DELETE, .child_id = c->id });
}

/* A failed rekey leaves the old CHILD SA in service; try again a little later. */
static void rekey_failed(struct ike_sa *sa, struct ike_child *old, uint64_t retry_ms)
{
	if (!old || old->state != CHILD_REKEYING)
		return;
	old->state = CHILD_INSTALLED;
	old->collision_id = 0;
	old->rekey_ms = sa->eng->now + retry_ms;
}

void child_req_done(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o,
		    bool in_auth)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_child_cfg *cc = o->cfg;
	struct ike_child *old = o->kind == TASK_CHILD_REKEY ? child_find(sa, o->child_id) : NULL;
	const struct ike_pld *psa = ike_msg_find(m, IKE_PLD_SA);
	const struct ike_pld *ptsi = ike_msg_find(m, IKE_PLD_TSI);
	const struct ike_pld *ptsr = ike_msg_find(m, IKE_PLD_TSR);
	struct ike_prop_list *offered = NULL, *reply = NULL;
	struct ike_ts_list tsi, tsr;
	struct ike_proposal chosen;
	struct ike_child_keys keys = { 0 };
	struct ike_secret gir = { 0 };
	struct ike_chunk ni, nr = { 0 };
	struct ike_ts_cfg tc;
	struct ike_child *c, *peer_new;
	struct ike_pld_notify n;
	uint16_t err_n = msg_error_notify(m);
	char why[IKE_TS_WHY_LEN];
	int spi_err;
	bool lost;

	if (!cc)
		return;
	if (err_n) {
		enum ike_reason r = err_n == IKE_N_NO_PROPOSAL_CHOSEN ? IKE_R_NO_PROPOSAL
				    : err_n == IKE_N_TS_UNACCEPTABLE  ? IKE_R_TS_UNACCEPTABLE
								      : IKE_R_PEER_ERROR;

		if (err_n == IKE_N_INVALID_KE_PAYLOAD && !in_auth &&
		    !msg_notify(m, IKE_N_INVALID_KE_PAYLOAD, &n) && n.len == 2) {
			/* §1.3: retry with the group the responder wants, if we offer it */
			uint16_t g = (uint16_t)(n.data[0] << 8 | n.data[1]);

			if (ike_prop_offers_dh(&cc->esp, g) && g != o->dh_group) {
				eng_log(sa->eng, IKE_LOG_INFO, "child %s: peer wants group %u",
					cc->name, g);
				rekey_failed(sa, old, 0);
				if (old)
					old->rekey_ms = 0;
				sa_queue(sa, &(struct ike_task){ .kind = o->kind,
								 .cfg = cc,
								 .child_id = o->child_id,
								 .dh_group = g });
				return;
			}
		}
		if (err_n == IKE_N_TEMPORARY_FAILURE && old) {
			/* §2.25: the peer is busy (e.g. rekeying the same SA): try again later */
			rekey_failed(sa, old, 2000 + eng_rand_u32(sa->eng) % 3000);
			return;
		}
		if (err_n == IKE_N_TEMPORARY_FAILURE && o->kind == TASK_CHILD_REKEY)
			return; /* the SA went away meanwhile */
		if (err_n == IKE_N_CHILD_SA_NOT_FOUND && o->kind == TASK_CHILD_REKEY) {
			/* the peer lost the SA (or deleted it while we rekeyed: then it is gone
			 * here too): replace a lost one by a new one */
			if (old) {
				child_remove(sa, old, IKE_R_PEER_DELETE);
				sa_queue(sa, &(struct ike_task){ .kind = TASK_CHILD_CREATE,
								 .cfg = cc });
			}
			return;
		}
		rekey_failed(sa, old, 30000);
		if (err_n == IKE_N_NO_PROPOSAL_CHOSEN) {
			char ours[IKE_REASON_MAX - 64];

			fmt_props(&cc->esp, ours, sizeof(ours));
			sa_error(sa, r, err_n, cc->name, "peer chose none of our ESP proposals: %s",
				 ours);
		} else {
			char tsi_s[160], tsr_s[160];

			ike_ts_list_format(o->prop_tsi, tsi_s, sizeof(tsi_s));
			ike_ts_list_format(o->prop_tsr, tsr_s, sizeof(tsr_s));
			sa_error(sa, r, err_n, cc->name,
				 "CHILD SA refused: %s (proposed %s === %s)", notify_name(err_n),
				 tsi_s, tsr_s);
		}
		return;
	}
	offered = esp_offer(cc, o->new_spi, in_auth);
	reply = calloc(1, sizeof(*reply));
	if (!offered || !reply || !psa || !ptsi || !ptsr ||
	    ike_pld_sa(psa->body, psa->len, reply) || ike_pld_ts(ptsi->body, ptsi->len, &tsi) ||
	    ike_pld_ts(ptsr->body, ptsr->len, &tsr)) {
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_SYNTAX, 0, cc->name, "CHILD SA answer lacks SA/TSi/TSr");
		goto out;
	}
	if (in_auth)
		ike_prop_list_strip_dh(reply);
	if (ike_prop_check_reply(offered, reply, &chosen, why, sizeof(why)) ||
	    chosen.spi_len != IKE_ESP_SPI_LEN) {
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_NO_PROPOSAL, 0, cc->name, "unacceptable ESP proposal: %s", why);
		if (chosen.spi_len == IKE_ESP_SPI_LEN)
			child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
		goto out;
	}
	spi_err = peer_spi_check(sa, spi_get(chosen.spi));
	if (spi_err) {
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_NO_PROPOSAL, 0, cc->name, "responder's SPI %08x %s",
			 spi_get(chosen.spi), spi_err == -EINVAL ? "is reserved" : "is in use");
		/* a DELETE naming an SPI the peer uses for another SA would remove that one */
		if (spi_err != -EEXIST)
			child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
		goto out;
	}
	ts_cfg(cc, p->strict_ts, &tc);
	if (ike_ts_check_reply(&tc, o->prop_tsi, o->prop_tsr, &tsi, &tsr, why, sizeof(why))) {
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_TS_UNACCEPTABLE, 0, cc->name,
			 "responder's selectors refused: %s", why);
		child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
		goto out;
	}
	if (cc->transport && msg_notify(m, IKE_N_USE_TRANSPORT_MODE, NULL)) {
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_PEER_ERROR, 0, cc->name, "peer refused transport mode");
		child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
		goto out;
	}
	if (in_auth) {
		ni = ike_secret_chunk(&sa->ni);
		nr = ike_secret_chunk(&sa->nr);
	} else {
		const struct ike_pld *pno = ike_msg_find(m, IKE_PLD_NONCE);
		const struct ike_pld *pke = ike_msg_find(m, IKE_PLD_KE);
		const struct ike_transform *dh = ike_prop_find(&chosen, IKE_TRANS_DH);
		struct ike_pld_ke ke;

		ni = ike_secret_chunk(&o->nonce);
		if (!pno || ike_pld_nonce(pno->body, pno->len, &nr)) {
			rekey_failed(sa, old, 30000);
			sa_error(sa, IKE_R_SYNTAX, 0, cc->name, "CREATE_CHILD_SA answer: no nonce");
			child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
			goto out;
		}
		if (dh && dh->id != IKE_DH_NONE) {
			if (!pke || ike_pld_ke(pke->body, pke->len, &ke) || ke.group != dh->id ||
			    dh->id != o->dh_group || !o->dh ||
			    ike_dh_derive(o->dh, ke.data, ke.len, &gir)) {
				rekey_failed(sa, old, 30000);
				sa_error(sa, IKE_R_SYNTAX, 0, cc->name, "bad KE in answer (PFS)");
				child_abort(sa, cc, o->new_spi, spi_get(chosen.spi));
				goto out;
			}
		}
	}
	c = child_new(sa, cc, &tsi, &tsr);
	if (!c)
		goto out;
	suite_from_proposal(&chosen, p->weak, &c->esp);
	{
		const struct ike_transform *esn = ike_prop_find(&chosen, IKE_TRANS_ESN);

		c->esn = esn && esn->id == IKE_ESN_YES;
	}
	c->transport = cc->transport;
	c->spi_in = o->new_spi;
	c->spi_out = spi_get(chosen.spi);
	nonce_min(&ni, &nr, c->min_nonce, &c->min_nonce_len);
	peer_new = old && old->collision_id ? child_find(sa, old->collision_id) : NULL;
	/* §2.8.1: ours holds the lowest nonce: it is redundant */
	lost = peer_new && nonce_cmp(c->min_nonce, c->min_nonce_len, peer_new->min_nonce,
				     peer_new->min_nonce_len) < 0;
	if (ike_kdf_child_keys(sa->suite.prf, &c->esp, ike_secret_chunk(&sa->keys.sk_d),
			       ike_secret_chunk(&gir), ni, nr, &keys) ||
	    child_install(sa, c, &keys, true, lost, old)) {
		child_remove(sa, c, IKE_R_INTERNAL);
		rekey_failed(sa, old, 30000);
		sa_error(sa, IKE_R_INTERNAL, 0, cc->name, "CHILD SA key derivation failed");
		goto out;
	}
	if (lost) {
		/* a redundant SA never carries traffic: only its inbound half is installed (the
		 * peer may still send on it until our DELETE), its outbound never */
		ev_free(c->pending_out);
		c->pending_out = NULL;
		c->switch_ms = 0;
	}
	if (old) {
		c->replaces_id = old->id;
		old->state = CHILD_REKEYED;
		old->superseded = true;
		old->rekey_ms = 0;
		if (lost) {
			/* the peer deletes the old SA, we delete ours */
			eng_log(sa->eng, IKE_LOG_INFO, "child %u: rekey collision lost", c->id);
			c->state = CHILD_REKEYED;
			c->superseded = true;
			c->rekey_ms = 0;
			sa_queue(sa, &(struct ike_task){ .kind = TASK_CHILD_DELETE,
							 .child_id = c->id });
		} else {
			if (peer_new) {
				/* the peer deletes its redundant SA: never send on it */
				eng_log(sa->eng, IKE_LOG_INFO, "child %u: rekey collision won",
					c->id);
				ev_free(peer_new->pending_out);
				peer_new->pending_out = NULL;
				peer_new->switch_ms = 0;
				peer_new->rekey_ms = 0;
			}
			sa_queue(sa, &(struct ike_task){ .kind = TASK_CHILD_DELETE,
							 .child_id = old->id });
		}
	}
out:
	ike_child_keys_free(&keys);
	ike_secret_free(&gir);
	free(offered);
	free(reply);
}

int child_start(struct ike_sa *sa, const struct ike_task *t);

/* ---- IKE SA rekey ------------------------------------------------------------------------------ */

static int ike_rekey_start(struct ike_sa *sa)
{
	const struct ike_peer_cfg *p = sa->peer;
	struct ike_outstanding *o = &sa->out;
	struct ike_prop_list *props;
	struct ike_wbuf inner;
	struct ike_chain c;
	uint8_t pub[IKE_DH_PUB_MAX];
	size_t pub_len;
	int err = -EIO;

	outstanding_clear(o);
	o->kind = TASK_IKE_REKEY;
	props = malloc(sizeof(*props));
	if (!props)
		return -ENOMEM;
	*props = p->ike;
	if (eng_random(sa->eng, o->new_ike_spi, IKE_SPI_LEN))
		goto out;
	for (unsigned int i = 0; i < props->n; i++) {
		props->prop[i].spi_len = IKE_SPI_LEN;
		memcpy(props->prop[i].spi, o->new_ike_spi, IKE_SPI_LEN);
	}
	o->dh_group = sa->suite.dh ? sa->suite.dh : ike_prop_first_dh(&p->ike);
	o->dh = ike_dh_new(o->dh_group, p->weak);
	pub_len = ike_dh_pub_len(o->dh_group, p->weak);
	if (!o->dh || !pub_len || ike_dh_public(o->dh, pub, pub_len) ||
	    sa_random_nonce(sa, &o->nonce))
		goto out;
	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	ike_build_sa(&c, props);
	ike_build_nonce(&c, o->nonce.ptr, o->nonce.len);
	ike_build_ke(&c, o->dh_group, pub, pub_len);
	err = sa_send_req(sa, IKE_CREATE_CHILD_SA, &c, &inner);
	ike_wbuf_free(&inner);
out:
	free(props);
	if (err)
		outstanding_clear(o);
	return err;
}

/*
 * The new IKE SA of a rekey (§2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the
 * old SA's PRF, then the usual key split with the new suite and SPIs. we_init: we initiated the
 * rekey exchange, so we are the new SA's initiator.
 */
static struct ike_sa *ike_rekey_new_sa(struct ike_sa *old, bool we_init, const uint8_t *spi_i,
				       const uint8_t *spi_r, const struct ike_proposal *chosen,
				       struct ike_chunk gir, struct ike_chunk ni,
				       struct ike_chunk nr)
{
	struct ike_engine *eng = old->eng;
	struct ike_secret skeyseed = { 0 };
	struct ike_sa *sa = sa_new(eng, we_init, we_init ? spi_i : spi_r);
	int err;

	if (!sa)
		return NULL;
	memcpy(sa->spi_i, spi_i, IKE_SPI_LEN);
	memcpy(sa->spi_r, spi_r, IKE_SPI_LEN);
	sa->peer = old->peer;
	sa->local = old->local;
	sa->remote = old->remote;
	sa->natt = old->natt;
	sa->nat_local = old->nat_local;
	sa->nat_remote = old->nat_remote;
	sa->peer_frag = old->peer_frag;
	sa->rekeyed_from = old->id;
	suite_from_proposal(chosen, old->peer->weak, &sa->suite);
	err = ike_kdf_skeyseed_rekey(old->suite.prf, ike_secret_chunk(&old->keys.sk_d), gir, ni, nr,
				     &skeyseed);
	if (!err)
		err = ike_kdf_sa_keys(&sa->suite, ike_secret_chunk(&skeyseed), ni, nr, sa->spi_i,
				      sa->spi_r, &sa->keys);
	ike_secret_free(&skeyseed);
	if (err) {
		sa->state = SA_DEAD;
		return NULL;
	}
	nonce_min(&ni, &nr, sa->min_nonce, &sa->min_nonce_len);
	sa->state = SA_INIT_I; /* not yet established: sa_established() reports it */
	return sa;
}

/* Moves old's CHILD SAs to sa (§2.18: they belong to the new IKE SA now). */
static void ike_move_children(struct ike_sa *old, struct ike_sa *sa)
{
	struct ike_child **tail = &sa->children;

	while (*tail)
		tail = &(*tail)->next;
	*tail = old->children;
	old->children = NULL;
	/* queued CHILD work follows the children */
	for (unsigned int i = 0; i < old->n_tasks;) {
		enum task_kind k = old->tasks[i].kind;

		if (k == TASK_CHILD_CREATE || k == TASK_CHILD_REKEY || k == TASK_CHILD_DELETE) {
			sa_queue(sa, &old->tasks[i]);
			memmove(&old->tasks[i], &old->tasks[i + 1],
				(old->n_tasks - i - 1) * sizeof(old->tasks[0]));
			old->n_tasks--;
		} else {
			i++;
		}
	}
}

static void ike_rekey_response(struct ike_sa *sa, const struct ike_msg *m,
			       struct ike_outstanding *o)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_pld *psa = ike_msg_find(m, IKE_PLD_SA);
	const struct ike_pld *pno = ike_msg_find(m, IKE_PLD_NONCE);
	const struct ike_pld *pke = ike_msg_find(m, IKE_PLD_KE);
	struct ike_prop_list *offered = NULL, *reply = NULL;
	struct ike_proposal chosen;
	struct ike_secret gir = { 0 };
	struct ike_pld_ke ke;
	struct ike_chunk nr;
	struct ike_sa *nsa, *peer_new;
	uint16_t err_n = msg_error_notify(m);
	char why[IKE_REASON_MAX / 2];

	peer_new = sa->ike_collision_id ? sa_by_id(sa->eng, sa->ike_collision_id) : NULL;
	if (err_n && peer_new) {
		/*
		 * §2.8.1: the peer's rekey, which we answered while ours was in flight, completed
		 * before it saw ours, and it refuses ours (TEMPORARY_FAILURE: it is deleting this SA).
		 * Its new SA, which got the children when we answered, is the successor.
		 */
		eng_log(sa->eng, IKE_LOG_INFO, "ike sa %u: rekey collision: peer's rekey completed",
			sa->id);
		sa->ike_collision_id = 0;
		sa->replaced_by = peer_new->id;
		sa->rekey_ms = 0;
		sa->state = SA_REKEYED;
		sa->delete_ms = sa->eng->now + sa->eng->cfg.delete_ms * 4;
		return;
	}
	if (err_n) {
		struct ike_pld_notify n;

		if (err_n == IKE_N_INVALID_KE_PAYLOAD &&
		    !msg_notify(m, IKE_N_INVALID_KE_PAYLOAD, &n) && n.len == 2) {
			uint16_t g = (uint16_t)(n.data[0] << 8 | n.data[1]);

			if (ike_prop_offers_dh(&p->ike, g) && g != o->dh_group) {
				sa->suite.dh = g; /* ike_rekey_start() uses it */
				sa_queue(sa, &(struct ike_task){ .kind = TASK_IKE_REKEY });
				return;
			}
		}
		/* TEMPORARY_FAILURE (§2.25) or a refusal: keep the SA, retry later */
		sa->rekey_ms = sa->eng->now + (err_n == IKE_N_TEMPORARY_FAILURE
						       ? 2000 + eng_rand_u32(sa->eng) % 3000
						       : 30000);
		if (err_n != IKE_N_TEMPORARY_FAILURE)
			sa_error(sa, IKE_R_PEER_ERROR, err_n, NULL, "IKE rekey refused: %s",
				 notify_name(err_n));
		return;
	}
	if (sa->state != SA_ESTABLISHED && sa->state != SA_REKEYED)
		return;
	offered = malloc(sizeof(*offered));
	reply = calloc(1, sizeof(*reply));
	if (!offered || !reply || !psa || !pno || !pke || ike_pld_sa(psa->body, psa->len, reply) ||
	    ike_pld_nonce(pno->body, pno->len, &nr) || ike_pld_ke(pke->body, pke->len, &ke))
		goto bad;
	*offered = p->ike;
	for (unsigned int i = 0; i < offered->n; i++) {
		offered->prop[i].spi_len = IKE_SPI_LEN;
		memcpy(offered->prop[i].spi, o->new_ike_spi, IKE_SPI_LEN);
	}
	if (ike_prop_check_reply(offered, reply, &chosen, why, sizeof(why)) ||
	    chosen.spi_len != IKE_SPI_LEN)
		goto bad;
	{
		const struct ike_transform *dh = ike_prop_find(&chosen, IKE_TRANS_DH);

		if (!dh || dh->id != o->dh_group || ke.group != o->dh_group ||
		    ike_dh_derive(o->dh, ke.data, ke.len, &gir))
			goto bad;
	}
	nsa = ike_rekey_new_sa(sa, true, o->new_ike_spi, chosen.spi, &chosen,
			       ike_secret_chunk(&gir), ike_secret_chunk(&o->nonce), nr);
	if (!nsa)
		goto bad;
	sa_established(nsa);
	sa->replaced_by = nsa->id;
	sa->rekey_ms = 0;
	if (peer_new && nonce_cmp(nsa->min_nonce, nsa->min_nonce_len, peer_new->min_nonce,
				  peer_new->min_nonce_len) < 0) {
		/* §2.8.1: our new SA is redundant: we delete it, the peer deletes the old */
		eng_log(sa->eng, IKE_LOG_INFO, "ike sa %u: rekey collision lost", sa->id);
		nsa->replaced_by = peer_new->id;
		sa_queue(nsa, &(struct ike_task){ .kind = TASK_IKE_DELETE });
		sa->state = SA_REKEYED;
		sa->delete_ms = sa->eng->now + sa->eng->cfg.delete_ms * 4;
		sa_kick(nsa);
	} else {
		if (peer_new) {
			/* the peer's new SA is the redundant one: it got the children when we
			 * answered; take them back */
			ike_move_children(peer_new, nsa);
			peer_new->replaced_by = nsa->id;
			eng_log(sa->eng, IKE_LOG_INFO, "ike sa %u: rekey collision won", sa->id);
		}
		ike_move_children(sa, nsa);
		sa->state = SA_ESTABLISHED; /* allowed to run its DELETE */
		sa_queue(sa, &(struct ike_task){ .kind = TASK_IKE_DELETE });
		sa_kick(nsa);
	}
	goto out;
bad:
	sa->rekey_ms = sa->eng->now + 30000;
	sa_error(sa, IKE_R_SYNTAX, 0, NULL, "unusable IKE rekey answer");
out:
	ike_secret_free(&gir);
	free(offered);
	free(reply);
}

/* Responder: a CREATE_CHILD_SA that rekeys this IKE SA. */
static void ike_rekey_request(struct ike_sa *sa, const struct ike_msg *m,
			      const struct ike_prop_list *theirs, struct ike_chain *c)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_pld *pno = ike_msg_find(m, IKE_PLD_NONCE);
	const struct ike_pld *pke = ike_msg_find(m, IKE_PLD_KE);
	struct ike_prop_list *one = NULL;
	struct ike_proposal chosen;
	struct ike_secret gir = { 0 }, nr = { 0 };
	struct ike_pld_ke ke;
	struct ike_chunk ni;
	struct ike_dh *dh = NULL;
	struct ike_sa *nsa = NULL;
	uint8_t pub[IKE_DH_PUB_MAX], spi_r[IKE_SPI_LEN], peer_spi[IKE_SPI_LEN];
	size_t pub_len;
	const struct ike_transform *t;

	if (sa->state != SA_ESTABLISHED || sa_has_task(sa, TASK_IKE_DELETE, 0) ||
	    (sa->out_active && sa->out.kind != TASK_IKE_REKEY && sa->out.kind != TASK_DPD)) {
		/* §2.25.2: busy with other work on this SA (or leaving): try again later */
		ike_build_notify(c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
		return;
	}
	if (!pno || !pke || ike_pld_nonce(pno->body, pno->len, &ni) ||
	    ike_pld_ke(pke->body, pke->len, &ke)) {
		ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		return;
	}
	if (ike_prop_select(&p->ike, theirs, ke.group, &chosen) || chosen.spi_len != IKE_SPI_LEN) {
		ike_build_notify(c, 0, NULL, 0, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		return;
	}
	t = ike_prop_find(&chosen, IKE_TRANS_DH);
	if (!t || t->id != ke.group) {
		uint8_t g[2] = { (uint8_t)((t ? t->id : 0) >> 8), (uint8_t)(t ? t->id : 0) };

		ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_KE_PAYLOAD, g, 2);
		return;
	}
	memcpy(peer_spi, chosen.spi, IKE_SPI_LEN);
	do {
		if (eng_random(sa->eng, spi_r, IKE_SPI_LEN))
			goto fail;
	} while (!memcmp(spi_r, "\0\0\0\0\0\0\0\0", IKE_SPI_LEN));
	dh = ike_dh_new(ke.group, p->weak);
	pub_len = ike_dh_pub_len(ke.group, p->weak);
	one = malloc(sizeof(*one));
	if (!one || !dh || !pub_len || ike_dh_public(dh, pub, pub_len) || sa_random_nonce(sa, &nr))
		goto fail;
	if (ike_dh_derive(dh, ke.data, ke.len, &gir)) {
		ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		goto out;
	}
	nsa = ike_rekey_new_sa(sa, false, peer_spi, spi_r, &chosen, ike_secret_chunk(&gir), ni,
			       ike_secret_chunk(&nr));
	if (!nsa)
		goto fail;
	memcpy(chosen.spi, spi_r, IKE_SPI_LEN);
	one->n = 1;
	one->prop[0] = chosen;
	ike_build_sa(c, one);
	ike_build_nonce(c, nr.ptr, nr.len);
	ike_build_ke(c, ke.group, pub, pub_len);
	sa_established(nsa);
	if (sa->out_active && sa->out.kind == TASK_IKE_REKEY) {
		/* §2.8.1 collision: decided when our own rekey is answered */
		sa->ike_collision_id = nsa->id;
	} else {
		sa->replaced_by = nsa->id;
		sa->state = SA_REKEYED;
		sa->delete_ms = sa->eng->now + sa->eng->cfg.delete_ms * 4;
	}
	ike_move_children(sa, nsa);
	goto out;
fail:
	ike_build_notify(c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
out:
	ike_dh_free(dh);
	ike_secret_free(&gir);
	ike_secret_free(&nr);
	free(one);
}

/* ---- responder: CHILD SA part ---------------------------------------------------------------- */

/*
 * Answers the CHILD SA part of a request (IKE_AUTH when in_auth, else CREATE_CHILD_SA; old is
 * the CHILD SA a REKEY_SA names). Appends either the SA/[Nr/KEr]/TSi/TSr answer or one error
 * notify to c. Errors that concern configuration are reported as events.
 */
static void child_respond(struct ike_sa *sa, const struct ike_msg *m, bool in_auth,
			  struct ike_child *old, struct ike_chain *c)
{
	const struct ike_peer_cfg *p = sa->peer;
	const struct ike_pld *psa = ike_msg_find(m, IKE_PLD_SA);
	const struct ike_pld *ptsi = ike_msg_find(m, IKE_PLD_TSI);
	const struct ike_pld *ptsr = ike_msg_find(m, IKE_PLD_TSR);
	const struct ike_child_cfg *cc = NULL;
	struct ike_prop_list *theirs = NULL, *ours = NULL;
	struct ike_ts_list tsi, tsr, out_tsi, out_tsr;
	struct ike_proposal chosen;
	struct ike_child_keys keys = { 0 };
	struct ike_secret gir = { 0 }, nr_s = { 0 };
	struct ike_chunk ni, nr;
	struct ike_dh *dh = NULL;
	struct ike_child *ch;
	uint8_t pub[IKE_DH_PUB_MAX];
	size_t pub_len = 0;
	uint32_t spi_out, spi_in;
	uint16_t group = 0;
	bool transport_req = !msg_notify(m, IKE_N_USE_TRANSPORT_MODE, NULL);
	char why[IKE_TS_WHY_LEN + IKE_NAME_MAX + 16] = "";
	char a[IKE_REASON_MAX / 3], b[IKE_REASON_MAX / 3];
	int err = 0;

	if (!psa || !ptsi || !ptsr) {
		if (!in_auth)
			ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		return; /* IKE_AUTH without a CHILD SA (RFC 6023): nothing to answer */
	}
	theirs = calloc(1, sizeof(*theirs));
	ours = malloc(sizeof(*ours));
	if (!theirs || !ours || ike_pld_sa(psa->body, psa->len, theirs) ||
	    ike_pld_ts(ptsi->body, ptsi->len, &tsi) || ike_pld_ts(ptsr->body, ptsr->len, &tsr)) {
		ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		goto out;
	}
	/* IKE_AUTH has no KE: DH transforms a peer still lists there are ignored (§1.2) */
	if (in_auth)
		ike_prop_list_strip_dh(theirs);
	/* Which child: the one being rekeyed, else the first whose selectors cover the proposal
	 * as it is, else the first whose selectors fit after narrowing. Taking the first that
	 * merely fits would narrow S8's "partner's clients to our 8080" proposal (their tcp ===
	 * our tcp/8080) into the child "our clients to their 8080" (our tcp === their tcp/8080) as
	 * tcp/8080 === tcp/8080, an SA no connection uses, when the exact child comes second. */
	for (unsigned int i = 0; !old && i < p->n_children; i++) {
		struct ike_ts_cfg tc;

		ts_cfg(&p->children[i], true, &tc);
		if (!ike_ts_narrow(&tc, &tsi, &tsr, &out_tsi, &out_tsr, NULL, 0)) {
			cc = &p->children[i];
			break;
		}
	}
	for (unsigned int i = 0; !cc && i < (old ? 1 : p->n_children); i++) {
		const struct ike_child_cfg *cand = old ? old->cfg : &p->children[i];
		struct ike_ts_cfg tc;
		char w[IKE_TS_WHY_LEN];

		if (old) {
			child_ts(old, &out_tsr, &out_tsi);
			cc = cand;
			break;
		}
		ts_cfg(cand, p->strict_ts, &tc);
		if (!ike_ts_narrow(&tc, &tsi, &tsr, &out_tsi, &out_tsr, w, sizeof(w))) {
			cc = cand;
			break;
		}
		if (!why[0])
			snprintf(why, sizeof(why), "child %s: %s", cand->name, w);
	}
	if (!cc) {
		ike_ts_list_format(&tsi, a, sizeof(a));
		ike_ts_list_format(&tsr, b, sizeof(b));
		sa_error(sa, IKE_R_TS_UNACCEPTABLE, IKE_N_TS_UNACCEPTABLE, NULL,
			 "proposed %s === %s refused: %s", a, b,
			 why[0] ? why : "no child configured");
		ike_build_notify(c, 0, NULL, 0, IKE_N_TS_UNACCEPTABLE, NULL, 0);
		goto out;
	}
	*ours = cc->esp;
	if (in_auth)
		ike_prop_list_strip_dh(ours);
	if (!in_auth) {
		const struct ike_pld *pke = ike_msg_find(m, IKE_PLD_KE);
		struct ike_pld_ke ke;

		if (pke && !ike_pld_ke(pke->body, pke->len, &ke))
			group = ke.group;
	}
	if (ike_prop_select(ours, theirs, group, &chosen) || chosen.spi_len != IKE_ESP_SPI_LEN) {
		fmt_props(ours, a, sizeof(a));
		fmt_props(theirs, b, sizeof(b));
		sa_error(sa, IKE_R_NO_PROPOSAL, IKE_N_NO_PROPOSAL_CHOSEN, cc->name,
			 "no ESP proposal chosen: ours %s, theirs %s", a, b);
		ike_build_notify(c, 0, NULL, 0, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		goto out;
	}
	if (peer_spi_check(sa, spi_get(chosen.spi))) {
		sa_error(sa, IKE_R_NO_PROPOSAL, IKE_N_NO_PROPOSAL_CHOSEN, cc->name,
			 "peer's SPI %08x is reserved or in use", spi_get(chosen.spi));
		ike_build_notify(c, 0, NULL, 0, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		goto out;
	}
	if (cc->transport && !transport_req) {
		sa_error(sa, IKE_R_NO_PROPOSAL, IKE_N_NO_PROPOSAL_CHOSEN, cc->name,
			 "peer wants tunnel mode, child %s is transport", cc->name);
		ike_build_notify(c, 0, NULL, 0, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		goto out;
	}
	if (in_auth) {
		ni = ike_secret_chunk(&sa->ni);
		nr = ike_secret_chunk(&sa->nr);
	} else {
		const struct ike_pld *pno = ike_msg_find(m, IKE_PLD_NONCE);
		const struct ike_pld *pke = ike_msg_find(m, IKE_PLD_KE);
		const struct ike_transform *t = ike_prop_find(&chosen, IKE_TRANS_DH);
		struct ike_pld_ke ke;

		if (!pno || ike_pld_nonce(pno->body, pno->len, &ni) || sa_random_nonce(sa, &nr_s)) {
			ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
			goto out;
		}
		nr = ike_secret_chunk(&nr_s);
		if (t && t->id != IKE_DH_NONE) {
			if (!pke || ike_pld_ke(pke->body, pke->len, &ke) || ke.group != t->id) {
				uint8_t g[2] = { (uint8_t)(t->id >> 8), (uint8_t)t->id };

				ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_KE_PAYLOAD, g, 2);
				goto out;
			}
			dh = ike_dh_new(t->id, p->weak);
			pub_len = ike_dh_pub_len(t->id, p->weak);
			if (!dh || !pub_len || ike_dh_public(dh, pub, pub_len)) {
				ike_build_notify(c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
				goto out;
			}
			if (ike_dh_derive(dh, ke.data, ke.len, &gir)) {
				ike_build_notify(c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
				goto out;
			}
			group = t->id;
		} else {
			group = 0;
		}
	}
	spi_out = spi_get(chosen.spi);
	spi_in = eng_alloc_spi(sa->eng);
	spi_put(chosen.spi, spi_in);
	/* the child's "local" side is TSr as responder */
	ch = child_new(sa, cc, &out_tsr, &out_tsi);
	if (!ch) {
		ike_build_notify(c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
		goto out;
	}
	suite_from_proposal(&chosen, p->weak, &ch->esp);
	{
		const struct ike_transform *esn = ike_prop_find(&chosen, IKE_TRANS_ESN);

		ch->esn = esn && esn->id == IKE_ESN_YES;
	}
	ch->transport = cc->transport && transport_req;
	ch->spi_in = spi_in;
	ch->spi_out = spi_out;
	ch->replaces_id = old ? old->id : 0;
	nonce_min(&ni, &nr, ch->min_nonce, &ch->min_nonce_len);
	err = ike_kdf_child_keys(sa->suite.prf, &ch->esp, ike_secret_chunk(&sa->keys.sk_d),
				 ike_secret_chunk(&gir), ni, nr, &keys);
	if (!err)
		err = child_install(sa, ch, &keys, false, old != NULL, old);
	if (err) {
		child_remove(sa, ch, IKE_R_INTERNAL);
		ike_build_notify(c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
		goto out;
	}
	if (old) {
		if (old->state == CHILD_REKEYING) {
			old->collision_id = ch->id; /* §2.8.1: decided when ours is answered */
		} else {
			old->state = CHILD_REKEYED;
			old->superseded = true;
		}
		old->rekey_ms = 0;
	}
	ours->n = 1;
	ours->prop[0] = chosen;
	if (ch->transport)
		ike_build_notify(c, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0);
	ike_build_sa(c, ours);
	if (!in_auth) {
		ike_build_nonce(c, nr.ptr, nr.len);
		if (dh)
			ike_build_ke(c, group, pub, pub_len);
	}
	ike_build_ts(c, IKE_PLD_TSI, &out_tsi);
	ike_build_ts(c, IKE_PLD_TSR, &out_tsr);
out:
	ike_dh_free(dh);
	ike_child_keys_free(&keys);
	ike_secret_free(&gir);
	ike_secret_free(&nr_s);
	free(theirs);
	free(ours);
}

void child_respond_auth(struct ike_sa *sa, const struct ike_msg *m, struct ike_chain *c)
{
	child_respond(sa, m, true, NULL, c);
}

/* ---- CREATE_CHILD_SA --------------------------------------------------------------------------- */

int child_start(struct ike_sa *sa, const struct ike_task *t)
{
	struct ike_child *old = NULL;
	struct ike_wbuf inner;
	struct ike_chain c;
	int err;

	if (t->kind == TASK_IKE_REKEY)
		return ike_rekey_start(sa);
	if (t->kind == TASK_CHILD_REKEY) {
		old = child_find(sa, t->child_id);
		if (!old || old->state != CHILD_INSTALLED)
			return -ENOENT;
	} else if (t->kind == TASK_CHILD_CREATE && t->cfg) {
		/* a CHILD SA of this config appeared meanwhile (e.g. the peer created it) */
		for (struct ike_child *ch = sa->children; ch; ch = ch->next)
			if (ch->cfg == t->cfg && ch->state == CHILD_INSTALLED && !t->has_trig)
				return -EALREADY;
	}
	outstanding_clear(&sa->out);
	sa->out.kind = t->kind;
	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	err = child_req_build(sa, &sa->out, t, false, &c);
	if (!err)
		err = sa_send_req(sa, IKE_CREATE_CHILD_SA, &c, &inner);
	ike_wbuf_free(&inner);
	if (err) {
		const struct ike_child_cfg *cc = old ? old->cfg : t->cfg;

		outstanding_clear(&sa->out);
		sa_error(sa, IKE_R_INTERNAL, 0, cc ? cc->name : NULL,
			 "cannot build CREATE_CHILD_SA (%d)", err);
		return err;
	}
	if (old)
		old->state = CHILD_REKEYING;
	return 0;
}

void ccsa_request(struct ike_sa *sa, const struct ike_msg *m)
{
	const struct ike_pld *psa = ike_msg_find(m, IKE_PLD_SA);
	struct ike_prop_list *theirs = calloc(1, sizeof(*theirs));
	struct ike_pld_notify n;
	struct ike_child *old = NULL;
	struct ike_wbuf inner;
	struct ike_chain c;

	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	if (!theirs || !psa || ike_pld_sa(psa->body, psa->len, theirs) || !theirs->n) {
		ike_build_notify(&c, 0, NULL, 0, IKE_N_INVALID_SYNTAX, NULL, 0);
		goto send;
	}
	if (sa->state != SA_ESTABLISHED) {
		/* a rekeyed or deleting SA takes no new work (§2.25) */
		ike_build_notify(&c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
		goto send;
	}
	if (theirs->prop[0].proto == IKE_PROTO_IKE) {
		ike_rekey_request(sa, m, theirs, &c);
		goto send;
	}
	if (!msg_notify(m, IKE_N_REKEY_SA, &n)) {
		uint32_t spi = n.spi_len == IKE_ESP_SPI_LEN ? spi_get(n.spi) : 0;

		old = child_by_spi_out(sa, spi);
		if (!old || old->state == CHILD_DELETING) {
			uint8_t s[4];

			spi_put(s, spi);
			ike_build_notify(&c, IKE_PROTO_ESP, s, 4, IKE_N_CHILD_SA_NOT_FOUND, NULL,
					 0);
			goto send;
		}
		if (old->state == CHILD_REKEYED) {
			/* already replaced (we won a race with our own rekey): §2.25.1 */
			ike_build_notify(&c, 0, NULL, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0);
			goto send;
		}
	}
	child_respond(sa, m, false, old, &c);
send:
	sa_send_resp(sa, IKE_CREATE_CHILD_SA, m->hdr.msgid, &c, &inner);
	ike_wbuf_free(&inner);
	free(theirs);
	/* the new IKE SA may have inherited queued work */
	for (struct ike_sa *s = sa->eng->sas; s; s = s->next)
		if (s->rekeyed_from == sa->id)
			sa_kick(s);
}

void ccsa_response(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o)
{
	if (o->kind == TASK_IKE_REKEY)
		ike_rekey_response(sa, m, o);
	else
		child_req_done(sa, m, o, false);
}

/* ---- DELETE ------------------------------------------------------------------------------------- */

int child_delete_start(struct ike_sa *sa, const struct ike_task *t)
{
	struct ike_child *ch = child_find(sa, t->child_id);
	struct ike_wbuf inner;
	struct ike_chain c;
	uint8_t spi[4];
	int err;

	if (!ch)
		return -ENOENT;
	outstanding_clear(&sa->out);
	sa->out.kind = TASK_CHILD_DELETE;
	sa->out.child_id = ch->id;
	ike_wbuf_init(&inner);
	ike_chain_init(&c, &inner);
	spi_put(spi, ch->spi_in);
	ike_build_delete(&c, IKE_PROTO_ESP, IKE_ESP_SPI_LEN, 1, spi);
	err = sa_send_req(sa, IKE_INFORMATIONAL, &c, &inner);
	ike_wbuf_free(&inner);
	if (err) {
		child_remove(sa, ch, IKE_R_LOCAL_DELETE);
		return err;
	}
	ch->state = CHILD_DELETING;
	return 0;
}

void child_delete_request(struct ike_sa *sa, const struct ike_pld_delete *d, uint32_t *spis,
			  unsigned int max, unsigned int *n)
{
	if (d->spi_len != IKE_ESP_SPI_LEN)
		return;
	for (unsigned int i = 0; i < d->n_spi; i++) {
		struct ike_child *ch = child_by_spi_out(sa, spi_get(d->spis + 4 * i));
		enum ike_reason r = IKE_R_PEER_DELETE;

		if (!ch)
			continue;
		/* make-before-break: the initiator deletes the old SA once it sends on the new */
		if (ch->superseded) {
			child_switch_successors(sa, ch);
			r = IKE_R_REKEYED;
		}
		/* §1.4.1: crossing deletes: no Delete payload for an SA we are deleting */
		if (ch->state != CHILD_DELETING && *n < max)
			spis[(*n)++] = ch->spi_in;
		child_remove(sa, ch, r);
	}
}

void child_delete_response(struct ike_sa *sa, const struct ike_msg *m, struct ike_outstanding *o)
{
	struct ike_child *ch = child_find(sa, o->child_id);

	(void)m;
	if (!ch)
		return;
	/* no outbound switch here: the successors we created are already in use, and a held
	 * outbound SA of the peer's is either switched by its DELETE or redundant */
	child_remove(sa, ch, ch->superseded ? IKE_R_REKEYED : IKE_R_LOCAL_DELETE);
}
