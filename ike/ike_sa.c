// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine object and the life of IKE SAs: configuration copies, the ordered output queue
 * (datagrams and events), randomness and logging through the caller's callbacks, the SPI table,
 * per-SA timers (retransmission with backoff, half-open timeout, DPD, rekey and hard lifetimes,
 * the make-before-break switch) reduced to one next deadline, the queue of exchanges each SA
 * still has to start (window 1, RFC 7296 §2.3), and the administrative entry points of ike.h.
 * Message building and parsing live in ike_exchange.c and ike_child.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ike_msg.h"
#include "ike_sa.h"

/* ---- logging, randomness, ids ----------------------------------------------------------------- */

void eng_log(struct ike_engine *eng, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!eng->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	eng->cfg.log(eng->cfg.log_ctx, level, line);
}

int eng_random(struct ike_engine *eng, void *buf, size_t len)
{
	if (eng->cfg.random)
		return eng->cfg.random(eng->cfg.random_ctx, buf, len);
	return ike_random(buf, len);
}

uint32_t eng_rand_u32(struct ike_engine *eng)
{
	uint32_t v = 0;

	if (eng_random(eng, &v, sizeof(v)))
		v = 0x5a5a5a5a ^ eng->next_id; /* never secret: jitter only */
	return v;
}

uint32_t eng_id(struct ike_engine *eng)
{
	if (++eng->next_id == 0)
		eng->next_id = 1;
	return eng->next_id;
}

/* ---- output queue ----------------------------------------------------------------------------- */

static void oq_push(struct ike_engine *eng, struct ike_outq *q)
{
	q->next = NULL;
	*eng->oq_tail = q;
	eng->oq_tail = &q->next;
}

int eng_push_dgram(struct ike_engine *eng, const struct ike_addr *local,
		   const struct ike_addr *remote, const uint8_t *data, size_t len)
{
	struct ike_outq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->o.kind = IKE_OUT_DGRAM;
	q->o.dgram.data = malloc(len ? len : 1);
	if (!q->o.dgram.data) {
		free(q);
		return -ENOMEM;
	}
	memcpy(q->o.dgram.data, data, len);
	q->o.dgram.len = len;
	q->o.dgram.local = *local;
	q->o.dgram.remote = *remote;
	q->o.dgram.non_esp_marker = local->port != 500 && remote->port != 500;
	oq_push(eng, q);
	return 0;
}

static void event_free(struct ike_event *ev)
{
	if (!ev)
		return;
	ike_secret_free(&ev->child_sa.encr_key);
	ike_secret_free(&ev->child_sa.integ_key);
	ike_cleanse(ev, sizeof(*ev));
	free(ev);
}

void eng_push_event(struct ike_engine *eng, struct ike_event *ev)
{
	struct ike_outq *q;

	if (!ev)
		return;
	q = calloc(1, sizeof(*q));
	if (!q) {
		event_free(ev);
		return;
	}
	q->o.kind = IKE_OUT_EVENT;
	q->o.ev = ev;
	oq_push(eng, q);
}

int ike_engine_next_output(struct ike_engine *eng, struct ike_output *out)
{
	struct ike_outq *q = eng->oq_head;

	memset(out, 0, sizeof(*out));
	if (!q)
		return 0;
	eng->oq_head = q->next;
	if (!eng->oq_head)
		eng->oq_tail = &eng->oq_head;
	*out = q->o;
	free(q);
	return 1;
}

void ike_output_free(struct ike_output *out)
{
	if (!out)
		return;
	free(out->dgram.data);
	event_free(out->ev);
	memset(out, 0, sizeof(*out));
}

struct ike_event *sa_event(struct ike_sa *sa, enum ike_event_type type)
{
	struct ike_event *ev = calloc(1, sizeof(*ev));
	const struct ike_peer_cfg *p = sa->peer ? sa->peer : sa->init_peer;

	if (!ev)
		return NULL;
	ev->type = type;
	if (p)
		snprintf(ev->peer, sizeof(ev->peer), "%s", p->name);
	ev->ike_sa_id = sa->id;
	memcpy(ev->spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(ev->spi_r, sa->spi_r, IKE_SPI_LEN);
	ev->local = sa->local;
	ev->remote = sa->remote;
	return ev;
}

void sa_error(struct ike_sa *sa, enum ike_reason r, uint16_t notify, const char *child,
	      const char *fmt, ...)
{
	struct ike_event *ev;
	va_list ap;

	/* before authentication a peer could make us report errors at its DH rate */
	if (!sa->established_ms && !sa->initiator && !eng_error_allowed(sa->eng))
		return;
	ev = sa_event(sa, IKE_EV_ERROR);
	if (!ev)
		return;
	ev->reason = r;
	ev->notify = notify;
	if (child)
		snprintf(ev->child, sizeof(ev->child), "%s", child);
	va_start(ap, fmt);
	vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
	va_end(ap);
	eng_log(sa->eng, IKE_LOG_DEBUG, "%s: ike sa %u: %s: %s", ev->peer, sa->id,
		ike_reason_name(r), ev->text);
	eng_push_event(sa->eng, ev);
}

/*
 * Errors a peer can cause before it authenticated are reported at most IKE_ERR_RATE times per
 * second (STYLE.md: anything a peer triggers at info level or above is rate-limited).
 */
bool eng_error_allowed(struct ike_engine *eng)
{
	if (eng->now - eng->err_window_ms >= 1000 || eng->now < eng->err_window_ms) {
		eng->err_window_ms = eng->now;
		eng->err_count = 0;
	}
	return ++eng->err_count <= IKE_ERR_RATE;
}

/* ---- configuration ---------------------------------------------------------------------------- */

static void peer_cfg_fini(struct ike_peer_cfg *p)
{
	ike_secret_free(&p->psk);
	free((void *)(uintptr_t)p->children);
	p->children = NULL;
}

static int peer_cfg_copy(struct ike_peer_cfg *dst, const struct ike_peer_cfg *src)
{
	struct ike_child_cfg *ch = NULL;

	if (!src->name[0] || memchr(src->name, 0, IKE_NAME_MAX) == NULL)
		return -EINVAL;
	if (src->ike.n == 0 || src->local_id.len > IKE_ID_MAX || src->remote_id.len > IKE_ID_MAX)
		return -EINVAL;
	*dst = *src;
	dst->psk = (struct ike_secret){ 0 };
	dst->children = NULL;
	if (src->psk.len && ike_secret_set(&dst->psk, src->psk.ptr, src->psk.len))
		return -ENOMEM;
	if (src->n_children) {
		ch = calloc(src->n_children, sizeof(*ch));
		if (!ch) {
			ike_secret_free(&dst->psk);
			return -ENOMEM;
		}
		memcpy(ch, src->children, src->n_children * sizeof(*ch));
		for (unsigned int i = 0; i < src->n_children; i++) {
			if (!ch[i].name[0] || !memchr(ch[i].name, 0, IKE_NAME_MAX) ||
			    ch[i].esp.n == 0 || ch[i].local_ts.n == 0 || ch[i].remote_ts.n == 0) {
				free(ch);
				ike_secret_free(&dst->psk);
				return -EINVAL;
			}
		}
	}
	dst->children = ch;
	if (!dst->local.port)
		dst->local.port = 500;
	if (!dst->remote.port)
		dst->remote.port = 500;
	return 0;
}

const struct ike_peer_cfg *eng_peer_by_name(struct ike_engine *eng, const char *name)
{
	for (unsigned int i = 0; i < eng->n_peers; i++)
		if (!strcmp(eng->peers[i].name, name))
			return &eng->peers[i];
	return NULL;
}

static size_t addr_len(uint8_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

bool addr_equal(const struct ike_addr *a, const struct ike_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, addr_len(a->family));
}

/* Whether address a fits the configured cfg (family 0 = any); ports only when asked. */
bool addr_match(const struct ike_addr *cfg, const struct ike_addr *a, bool with_port)
{
	if (!cfg->family)
		return true;
	if (cfg->family != a->family || memcmp(cfg->addr, a->addr, addr_len(a->family)))
		return false;
	return !with_port || cfg->port == a->port;
}

/* rekey time: now + lifetime - margin - rand(0, margin * fuzz%) (strongSwan semantics) */
uint64_t life_rekey_ms(struct ike_engine *eng, const struct ike_life_cfg *l, uint64_t now)
{
	uint64_t margin, fuzz;

	if (!l->lifetime_s)
		return 0;
	margin = (uint64_t)l->margin_s * 1000;
	if (margin >= (uint64_t)l->lifetime_s * 1000)
		margin = (uint64_t)l->lifetime_s * 500;
	fuzz = margin * l->fuzz_pct / 100;
	if (fuzz)
		fuzz = eng_rand_u32(eng) % (fuzz + 1);
	if (margin + fuzz >= (uint64_t)l->lifetime_s * 1000)
		fuzz = 0;
	return now + (uint64_t)l->lifetime_s * 1000 - margin - fuzz;
}

/* ---- engine ---------------------------------------------------------------------------------- */

struct ike_engine *ike_engine_new(const struct ike_engine_cfg *cfg)
{
	struct ike_engine *eng;
	int err;

	if (!cfg || (cfg->n_peers && !cfg->peers)) {
		errno = EINVAL;
		return NULL;
	}
	eng = calloc(1, sizeof(*eng));
	if (!eng) {
		errno = ENOMEM;
		return NULL;
	}
	eng->cfg = *cfg;
	eng->oq_tail = &eng->oq_head;
	if (!eng->cfg.retransmit_ms)
		eng->cfg.retransmit_ms = IKE_DEF_RETRANSMIT_MS;
	if (!eng->cfg.retransmit_factor_pct)
		eng->cfg.retransmit_factor_pct = IKE_DEF_RETRANSMIT_FACTOR;
	if (!eng->cfg.retransmit_tries)
		eng->cfg.retransmit_tries = IKE_DEF_RETRANSMIT_TRIES;
	if (!eng->cfg.half_open_ms)
		eng->cfg.half_open_ms = IKE_DEF_HALF_OPEN_MS;
	if (!eng->cfg.cookie_threshold)
		eng->cfg.cookie_threshold = IKE_DEF_COOKIE_THRESHOLD;
	if (!eng->cfg.cookie_rotate_ms)
		eng->cfg.cookie_rotate_ms = IKE_DEF_COOKIE_ROTATE_MS;
	if (!eng->cfg.switch_ms)
		eng->cfg.switch_ms = IKE_DEF_SWITCH_MS;
	if (!eng->cfg.delete_ms)
		eng->cfg.delete_ms = IKE_DEF_DELETE_MS;
	if (!eng->cfg.frag_mtu)
		eng->cfg.frag_mtu = IKE_DEF_FRAG_MTU;
	if (cfg->n_peers) {
		eng->peers = calloc(cfg->n_peers, sizeof(*eng->peers));
		if (!eng->peers) {
			err = -ENOMEM;
			goto err_free;
		}
	}
	for (unsigned int i = 0; i < cfg->n_peers; i++) {
		err = peer_cfg_copy(&eng->peers[i], &cfg->peers[i]);
		if (err)
			goto err_free;
		eng->n_peers++;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(eng->peers[j].name, eng->peers[i].name)) {
				err = -EINVAL;
				goto err_free;
			}
	}
	eng->cfg.peers = eng->peers;
	return eng;
err_free:
	ike_engine_free(eng);
	errno = -err;
	return NULL;
}

static void sa_free(struct ike_sa *sa);

void ike_engine_free(struct ike_engine *eng)
{
	struct ike_output o;

	if (!eng)
		return;
	while (eng->sas) {
		struct ike_sa *sa = eng->sas;

		eng->sas = sa->next;
		sa_free(sa);
	}
	while (ike_engine_next_output(eng, &o))
		ike_output_free(&o);
	for (unsigned int i = 0; eng->peers && i < eng->n_peers; i++)
		peer_cfg_fini(&eng->peers[i]);
	free(eng->peers);
	while (eng->retired) {
		struct ike_retired *r = eng->retired;

		eng->retired = r->next;
		for (unsigned int i = 0; i < r->n_peers; i++)
			peer_cfg_fini(&r->peers[i]);
		free(r->peers);
		free(r);
	}
	ike_cleanse(eng->cookie_secret, sizeof(eng->cookie_secret));
	free(eng);
}

/* ---- IKE SA objects ---------------------------------------------------------------------------- */

void wire_free(struct ike_wire *w)
{
	for (unsigned int i = 0; i < w->n; i++) {
		ike_cleanse(w->d[i].data, w->d[i].len);
		free(w->d[i].data);
	}
	free(w->d);
	w->d = NULL;
	w->n = 0;
}

void outstanding_clear(struct ike_outstanding *o)
{
	wire_free(&o->wire);
	ike_secret_free(&o->nonce);
	ike_dh_free(o->dh);
	free(o->prop_tsi);
	free(o->prop_tsr);
	memset(o, 0, sizeof(*o));
}

static bool eng_spi_used(struct ike_engine *eng, const uint8_t *spi);

struct ike_sa *sa_new(struct ike_engine *eng, bool initiator, const uint8_t *want_spi)
{
	struct ike_sa *sa = calloc(1, sizeof(*sa));
	uint8_t *spi;

	if (!sa)
		return NULL;
	sa->eng = eng;
	sa->id = eng_id(eng);
	sa->initiator = initiator;
	sa->created_ms = eng->now;
	sa->last_in_ms = eng->now;
	spi = initiator ? sa->spi_i : sa->spi_r;
	if (want_spi)
		memcpy(spi, want_spi, IKE_SPI_LEN);
	else
		do {
			if (eng_random(eng, spi, IKE_SPI_LEN)) {
				free(sa);
				return NULL;
			}
		} while (!memcmp(spi, "\0\0\0\0\0\0\0\0", IKE_SPI_LEN) || eng_spi_used(eng, spi));
	sa->next = eng->sas;
	eng->sas = sa;
	sa_hash_add(sa);
	return sa;
}

/* whether one of our IKE SAs already uses spi as its own SPI */
static bool eng_spi_used(struct ike_engine *eng, const uint8_t *spi)
{
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next)
		if (!memcmp(sa->initiator ? sa->spi_i : sa->spi_r, spi, IKE_SPI_LEN))
			return true;
	return false;
}

struct ike_sa *sa_by_id(struct ike_engine *eng, uint32_t id)
{
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next)
		if (sa->id == id && sa->state != SA_DEAD)
			return sa;
	return NULL;
}

static unsigned int spi_hash(const uint8_t *spi)
{
	return (spi[0] ^ spi[3] ^ spi[5] ^ spi[7]) % IKE_SA_HASH;
}

static const uint8_t *sa_our_spi(const struct ike_sa *sa)
{
	return sa->initiator ? sa->spi_i : sa->spi_r;
}

void sa_hash_add(struct ike_sa *sa)
{
	unsigned int h = spi_hash(sa_our_spi(sa));

	sa->hnext = sa->eng->hash[h];
	sa->eng->hash[h] = sa;
}

static void sa_hash_del(struct ike_sa *sa)
{
	struct ike_sa **pp = &sa->eng->hash[spi_hash(sa_our_spi(sa))];

	while (*pp && *pp != sa)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = sa->hnext;
}

/*
 * Finds the SA whose SPIs are spi_i/spi_r: one of the two is ours (the table key). Either may be
 * NULL to look up by our SPI only. spi_r_zero_ok: a responder SPI of zero matches (the answer to
 * our IKE_SA_INIT).
 */
struct ike_sa *sa_find(struct ike_engine *eng, const uint8_t spi_i[IKE_SPI_LEN],
		       const uint8_t spi_r[IKE_SPI_LEN], bool spi_r_zero_ok)
{
	static const uint8_t zero[IKE_SPI_LEN];

	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *key = pass == 0 ? spi_i : spi_r;

		if (!key || !memcmp(key, zero, IKE_SPI_LEN))
			continue;
		for (struct ike_sa *sa = eng->hash[spi_hash(key)]; sa; sa = sa->hnext) {
			if (sa->state == SA_DEAD)
				continue;
			if (pass == 0 && !sa->initiator)
				continue;
			if (pass == 1 && sa->initiator)
				continue;
			if (memcmp(sa_our_spi(sa), key, IKE_SPI_LEN))
				continue;
			if (pass == 0 && spi_r && memcmp(sa->spi_r, spi_r, IKE_SPI_LEN) &&
			    !(spi_r_zero_ok && !memcmp(sa->spi_r, zero, IKE_SPI_LEN)))
				continue;
			if (pass == 1 && spi_i && memcmp(sa->spi_i, spi_i, IKE_SPI_LEN))
				continue;
			return sa;
		}
	}
	return NULL;
}

static void sa_free(struct ike_sa *sa)
{
	while (sa->children) {
		struct ike_child *c = sa->children;

		sa->children = c->next;
		child_free(c);
	}
	outstanding_clear(&sa->out);
	wire_free(&sa->resp);
	free(sa->tasks);
	if (sa->frag)
		ike_frag_free(sa->frag);
	free(sa->frag);
	ike_sa_keys_free(&sa->keys);
	ike_secret_free(&sa->ni);
	ike_secret_free(&sa->nr);
	ike_secret_free(&sa->cookie);
	ike_dh_free(sa->dh);
	free(sa->init_req);
	free(sa->init_resp);
	ike_cleanse(sa, sizeof(*sa));
	free(sa);
}

void sa_down(struct ike_sa *sa, enum ike_reason r, const char *fmt, ...)
{
	struct ike_event *ev;
	va_list ap;
	bool was_up = sa->established_ms != 0;

	if (sa->state == SA_DEAD)
		return;
	if (sa->replaced_by && (r == IKE_R_LOCAL_DELETE || r == IKE_R_PEER_DELETE))
		r = IKE_R_REKEYED;
	while (sa->children)
		child_remove(sa, sa->children, r);
	if (sa->state == SA_INIT_R && sa->eng->n_half_open)
		sa->eng->n_half_open--;
	/* a responder that never learned its peer has nothing to report */
	if (sa->peer && (was_up || sa->initiator || r != IKE_R_HALF_OPEN)) {
		ev = sa_event(sa, IKE_EV_IKE_DOWN);
		if (ev) {
			ev->reason = r;
			va_start(ap, fmt);
			vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
			va_end(ap);
			eng_log(sa->eng, IKE_LOG_DEBUG, "%s: ike sa %u down: %s (%s)", ev->peer,
				sa->id, ike_reason_name(r), ev->text);
			eng_push_event(sa->eng, ev);
		}
	}
	sa->state = SA_DEAD;
}

void sa_reap(struct ike_engine *eng)
{
	struct ike_sa **pp = &eng->sas;

	while (*pp) {
		struct ike_sa *sa = *pp;

		if (sa->state != SA_DEAD) {
			pp = &sa->next;
			continue;
		}
		*pp = sa->next;
		sa_hash_del(sa);
		sa_free(sa);
	}
}

/* ---- tasks ----------------------------------------------------------------------------------- */

bool sa_has_task(const struct ike_sa *sa, enum task_kind kind, uint32_t child_id)
{
	for (unsigned int i = 0; i < sa->n_tasks; i++)
		if (sa->tasks[i].kind == kind && (!child_id || sa->tasks[i].child_id == child_id))
			return true;
	return sa->out_active && sa->out.kind == kind &&
	       (!child_id || sa->out.child_id == child_id);
}

int sa_queue(struct ike_sa *sa, const struct ike_task *t)
{
	if (sa->n_tasks >= IKE_SA_MAX_TASKS)
		return -ENOBUFS;
	/* deleting the IKE SA supersedes everything else that waits */
	if (t->kind == TASK_IKE_DELETE)
		sa->n_tasks = 0;
	if (!sa->tasks) {
		sa->tasks = calloc(IKE_SA_MAX_TASKS, sizeof(*sa->tasks));
		if (!sa->tasks)
			return -ENOMEM;
	}
	sa->tasks[sa->n_tasks++] = *t;
	return 0;
}

/* Drops the task array when the queue ran empty: an idle SA keeps nothing. */
static void sa_tasks_trim(struct ike_sa *sa)
{
	if (!sa->n_tasks) {
		free(sa->tasks);
		sa->tasks = NULL;
	}
}

void sa_kick(struct ike_sa *sa)
{
	while (!sa->out_active && sa->n_tasks && sa->state != SA_DEAD) {
		struct ike_task t = sa->tasks[0];

		/* only IKE_AUTH-completing and teardown work may run before establishment */
		if (sa->state != SA_ESTABLISHED && t.kind != TASK_IKE_INIT &&
		    t.kind != TASK_IKE_DELETE)
			return;
		memmove(&sa->tasks[0], &sa->tasks[1], (sa->n_tasks - 1) * sizeof(sa->tasks[0]));
		sa->n_tasks--;
		sa_tasks_trim(sa);
		if (exch_start(sa, &t) < 0)
			continue;
	}
	sa_tasks_trim(sa);
}

/* ---- timers ----------------------------------------------------------------------------------- */

static uint64_t dmin(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static uint64_t sa_dpd_ms(const struct ike_sa *sa)
{
	const struct ike_peer_cfg *p = sa->peer;

	if (!p || !p->dpd_delay_s || sa->state != SA_ESTABLISHED || sa->out_active || sa->n_tasks)
		return 0;
	return sa->last_in_ms + (uint64_t)p->dpd_delay_s * 1000;
}

uint64_t sa_next_deadline(const struct ike_sa *sa)
{
	uint64_t d = 0;

	if (sa->state == SA_DEAD)
		return 0;
	if (sa->out_active)
		d = dmin(d, sa->out.next_ms);
	if (sa->state == SA_INIT_R)
		d = dmin(d, sa->half_open_ms);
	if (sa->state == SA_REKEYED)
		d = dmin(d, sa->delete_ms);
	if (sa->state == SA_ESTABLISHED) {
		d = dmin(d, sa_dpd_ms(sa));
		if (!sa_has_task(sa, TASK_IKE_REKEY, 0))
			d = dmin(d, sa->rekey_ms);
		d = dmin(d, sa->expire_ms);
		for (const struct ike_child *c = sa->children; c; c = c->next) {
			if (c->state == CHILD_INSTALLED)
				d = dmin(d, c->rekey_ms);
			d = dmin(d, c->expire_ms);
			if (c->pending_out)
				d = dmin(d, c->switch_ms);
		}
	}
	return d;
}

uint64_t ike_engine_next_deadline(const struct ike_engine *eng)
{
	uint64_t d = 0;

	for (const struct ike_sa *sa = eng->sas; sa; sa = sa->next)
		d = dmin(d, sa_next_deadline(sa));
	return d ? d : UINT64_MAX;
}

static void sa_timer(struct ike_sa *sa, uint64_t now)
{
	struct ike_task t = { 0 };

	if (sa->state == SA_DEAD)
		return;
	if (sa->out_active && now >= sa->out.next_ms) {
		exch_retransmit(sa);
		if (sa->state == SA_DEAD)
			return;
	}
	if (sa->state == SA_INIT_R && now >= sa->half_open_ms) {
		sa_down(sa, IKE_R_HALF_OPEN, "no IKE_AUTH within %u ms", sa->eng->cfg.half_open_ms);
		return;
	}
	if (sa->state == SA_REKEYED && now >= sa->delete_ms) {
		/* the rekey initiator never deleted it: its children moved already */
		sa_down(sa, IKE_R_REKEYED, "replaced by ike sa %u", sa->replaced_by);
		return;
	}
	if (sa->state != SA_ESTABLISHED)
		return;
	if (sa->expire_ms && now >= sa->expire_ms) {
		sa->expire_ms = 0;
		eng_log(sa->eng, IKE_LOG_INFO, "ike sa %u: hard lifetime reached", sa->id);
		t.kind = TASK_IKE_DELETE;
		sa_queue(sa, &t);
	}
	if (sa->rekey_ms && now >= sa->rekey_ms && !sa_has_task(sa, TASK_IKE_REKEY, 0)) {
		sa->rekey_ms = 0;
		t.kind = TASK_IKE_REKEY;
		sa_queue(sa, &t);
	}
	for (struct ike_child *c = sa->children, *n; c; c = n) {
		n = c->next;
		if (c->pending_out && now >= c->switch_ms)
			child_switch_out(sa, c);
		if (c->expire_ms && now >= c->expire_ms) {
			c->expire_ms = 0;
			t = (struct ike_task){ .kind = TASK_CHILD_DELETE, .child_id = c->id };
			if (!sa_has_task(sa, TASK_CHILD_DELETE, c->id))
				sa_queue(sa, &t);
		} else if (c->state == CHILD_INSTALLED && c->rekey_ms && now >= c->rekey_ms) {
			c->rekey_ms = 0;
			t = (struct ike_task){ .kind = TASK_CHILD_REKEY, .child_id = c->id };
			if (!sa_has_task(sa, TASK_CHILD_REKEY, c->id))
				sa_queue(sa, &t);
		}
	}
	if (sa_dpd_ms(sa) && now >= sa_dpd_ms(sa)) {
		t = (struct ike_task){ .kind = TASK_DPD };
		sa_queue(sa, &t);
	}
	sa_kick(sa);
}

int ike_engine_timer(struct ike_engine *eng, uint64_t now_ms)
{
	eng->now = now_ms;
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next)
		sa_timer(sa, now_ms);
	sa_reap(eng);
	return 0;
}

/* ---- administrative entry points ------------------------------------------------------------ */

/* The IKE SA with this peer that new work should go to (not rekeyed, deleting or dead). */
static struct ike_sa *sa_by_peer(struct ike_engine *eng, const struct ike_peer_cfg *p)
{
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next)
		if (sa->peer == p && sa->state != SA_DEAD && sa->state != SA_REKEYED &&
		    sa->state != SA_DELETING && !sa_has_task(sa, TASK_IKE_DELETE, 0))
			return sa;
	return NULL;
}

static bool child_wanted(struct ike_sa *sa, const struct ike_child_cfg *cc)
{
	for (unsigned int i = 0; i < sa->n_tasks; i++)
		if (sa->tasks[i].kind == TASK_CHILD_CREATE && sa->tasks[i].cfg == cc)
			return true;
	if (sa->out_active &&
	    (sa->out.kind == TASK_CHILD_CREATE || sa->out.kind == TASK_IKE_AUTH) &&
	    sa->out.cfg == cc)
		return true;
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->cfg == cc && c->state != CHILD_REKEYED && c->state != CHILD_DELETING)
			return true;
	return false;
}

static int start_child(struct ike_engine *eng, const struct ike_peer_cfg *p,
		       const struct ike_child_cfg *cc, const struct ike_ts *src,
		       const struct ike_ts *dst)
{
	struct ike_sa *sa = sa_by_peer(eng, p);
	struct ike_task t = { .kind = TASK_CHILD_CREATE, .cfg = cc };
	int err;

	if (p->mode == IKE_CONN_RESPONDER_ONLY)
		return -EPERM;
	if (src && dst) {
		t.has_trig = true;
		t.trig_local = *src;
		t.trig_remote = *dst;
	}
	if (sa && child_wanted(sa, cc))
		return -EALREADY;
	if (!sa) {
		if (!p->remote.family)
			return -EDESTADDRREQ;
		sa = sa_new(eng, true, NULL);
		if (!sa)
			return -ENOMEM;
		sa->peer = p;
		sa->local = p->local;
		sa->remote = p->remote;
		err = sa_queue(sa, &(struct ike_task){ .kind = TASK_IKE_INIT });
		if (err)
			return err;
	}
	err = sa_queue(sa, &t);
	if (err)
		return err;
	sa_kick(sa);
	return 0;
}

int ike_engine_initiate(struct ike_engine *eng, uint64_t now_ms, const char *peer_name,
			const char *child_name)
{
	const struct ike_peer_cfg *p;
	int err = -ENOENT, started = 0;

	eng->now = now_ms;
	p = peer_name ? eng_peer_by_name(eng, peer_name) : NULL;
	if (!p)
		return -ENOENT;
	if (p->mode == IKE_CONN_RESPONDER_ONLY)
		return -EPERM;
	for (unsigned int i = 0; i < p->n_children; i++) {
		if (child_name && strcmp(child_name, p->children[i].name))
			continue;
		err = start_child(eng, p, &p->children[i], NULL, NULL);
		if (!err)
			started++;
		else if (err != -EALREADY)
			break;
		if (child_name)
			break;
	}
	sa_reap(eng);
	if (!child_name && started)
		return 0;
	return err;
}

int ike_engine_acquire(struct ike_engine *eng, uint64_t now_ms, uint32_t reqid,
		       const struct ike_ts *src, const struct ike_ts *dst)
{
	eng->now = now_ms;
	for (unsigned int i = 0; i < eng->n_peers; i++) {
		const struct ike_peer_cfg *p = &eng->peers[i];

		for (unsigned int j = 0; j < p->n_children; j++)
			if (p->children[j].reqid == reqid) {
				int err = start_child(eng, p, &p->children[j], src, dst);

				return err == -EALREADY ? 0 : err;
			}
	}
	return -ENOENT;
}

struct ike_child *eng_child_by_spi(struct ike_engine *eng, uint32_t spi, struct ike_sa **sap)
{
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next) {
		struct ike_child *c;

		if (sa->state == SA_DEAD)
			continue;
		c = child_by_spi(sa, spi);
		if (c) {
			*sap = sa;
			return c;
		}
	}
	return NULL;
}

uint32_t eng_alloc_spi(struct ike_engine *eng)
{
	struct ike_sa *sa;
	uint32_t spi;

	do {
		spi = eng_rand_u32(eng);
	} while (spi < 256 || eng_child_by_spi(eng, spi, &sa));
	return spi;
}

int ike_engine_expire(struct ike_engine *eng, uint64_t now_ms, uint32_t spi, bool hard)
{
	struct ike_sa *sa = NULL;
	struct ike_child *c;
	struct ike_task t = { .kind = hard ? TASK_CHILD_DELETE : TASK_CHILD_REKEY };

	eng->now = now_ms;
	c = eng_child_by_spi(eng, spi, &sa);
	if (!c)
		return -ENOENT;
	if (!hard && c->state != CHILD_INSTALLED)
		return 0;
	t.child_id = c->id;
	if (!sa_has_task(sa, t.kind, c->id))
		sa_queue(sa, &t);
	if (!hard)
		c->rekey_ms = 0;
	sa_kick(sa);
	sa_reap(eng);
	return 0;
}

int ike_engine_delete(struct ike_engine *eng, uint64_t now_ms, const char *peer_name,
		      const char *child_name)
{
	const struct ike_peer_cfg *p;
	struct ike_sa *sa;
	int found = 0;

	eng->now = now_ms;
	p = peer_name ? eng_peer_by_name(eng, peer_name) : NULL;
	if (!p)
		return -ENOENT;
	for (sa = eng->sas; sa; sa = sa->next) {
		if (sa->peer != p || sa->state == SA_DEAD)
			continue;
		if (!child_name) {
			found++;
			if (sa->state != SA_ESTABLISHED) {
				/* nothing to tell the peer yet: drop it silently */
				sa_down(sa, IKE_R_LOCAL_DELETE, "deleted before establishment");
				continue;
			}
			sa_queue(sa, &(struct ike_task){ .kind = TASK_IKE_DELETE });
		} else {
			for (struct ike_child *c = sa->children; c; c = c->next) {
				if (strcmp(c->cfg->name, child_name) || c->state == CHILD_DELETING)
					continue;
				found++;
				if (!sa_has_task(sa, TASK_CHILD_DELETE, c->id))
					sa_queue(sa, &(struct ike_task){ .kind = TASK_CHILD_DELETE,
									 .child_id = c->id });
			}
		}
		sa_kick(sa);
	}
	sa_reap(eng);
	return found ? 0 : -ENOENT;
}

int ike_engine_child_traffic(struct ike_engine *eng, uint64_t now_ms, uint32_t spi_in)
{
	struct ike_sa *sa = NULL;
	struct ike_child *c;

	eng->now = now_ms;
	c = eng_child_by_spi(eng, spi_in, &sa);
	if (!c || c->spi_in != spi_in)
		return -ENOENT;
	/* inbound ESP proves the peer alive: no liveness check while traffic flows */
	if (sa->last_in_ms < now_ms)
		sa->last_in_ms = now_ms;
	if (c->pending_out)
		child_switch_out(sa, c);
	return 0;
}

int ike_engine_input(struct ike_engine *eng, uint64_t now_ms, const struct ike_addr *local,
		     const struct ike_addr *remote, const uint8_t *dgram, size_t len)
{
	int err;

	eng->now = now_ms;
	if (!local || !remote || (!dgram && len))
		return -EINVAL;
	err = exch_input(eng, local, remote, dgram, len);
	sa_reap(eng);
	return err == -ENOMEM ? err : 0;
}

/* ---- status ---------------------------------------------------------------------------------- */

unsigned int ike_engine_foreach_sa(const struct ike_engine *eng,
				   int (*cb)(void *ctx, const struct ike_sa_info *info), void *ctx)
{
	unsigned int n = 0;

	for (const struct ike_sa *sa = eng->sas; sa; sa = sa->next) {
		struct ike_sa_info info = { 0 };

		if (sa->state == SA_DEAD)
			continue;
		info.ike_sa_id = sa->id;
		if (sa->peer)
			snprintf(info.peer, sizeof(info.peer), "%s", sa->peer->name);
		switch (sa->state) {
		case SA_ESTABLISHED:
			info.state = sa_has_task(sa, TASK_IKE_REKEY, 0) ? IKE_SA_REKEYING
									: IKE_SA_ESTABLISHED;
			break;
		case SA_REKEYED:
		case SA_DELETING:
			info.state = IKE_SA_DELETING;
			break;
		default:
			info.state = IKE_SA_CONNECTING;
		}
		info.initiator = sa->initiator;
		memcpy(info.spi_i, sa->spi_i, IKE_SPI_LEN);
		memcpy(info.spi_r, sa->spi_r, IKE_SPI_LEN);
		info.local = sa->local;
		info.remote = sa->remote;
		info.nat_local = sa->nat_local;
		info.nat_remote = sa->nat_remote;
		if (sa->suite.encr) {
			struct ike_proposal p = { .proto = IKE_PROTO_IKE };

			p.trans[p.n_trans++] =
				(struct ike_transform){ IKE_TRANS_ENCR, sa->suite.encr,
							sa->suite.encr_bits };
			if (sa->suite.integ)
				p.trans[p.n_trans++] = (struct ike_transform){ IKE_TRANS_INTEG,
									       sa->suite.integ, 0 };
			p.trans[p.n_trans++] =
				(struct ike_transform){ IKE_TRANS_PRF, sa->suite.prf, 0 };
			p.trans[p.n_trans++] =
				(struct ike_transform){ IKE_TRANS_DH, sa->suite.dh, 0 };
			ike_prop_format(&p, info.ike_proposal, sizeof(info.ike_proposal));
		}
		for (const struct ike_child *c = sa->children; c; c = c->next)
			info.n_children++;
		n++;
		if (cb && cb(ctx, &info))
			break;
	}
	return n;
}

const char *ike_reason_name(enum ike_reason r)
{
	static const char *const names[] = {
		[IKE_R_NONE] = "none",
		[IKE_R_LOCAL_DELETE] = "local delete",
		[IKE_R_PEER_DELETE] = "peer delete",
		[IKE_R_DEAD_PEER] = "dead peer",
		[IKE_R_REKEYED] = "rekeyed",
		[IKE_R_EXPIRED] = "expired",
		[IKE_R_HALF_OPEN] = "half-open timeout",
		[IKE_R_INITIAL_CONTACT] = "initial contact",
		[IKE_R_AUTH_FAILED] = "AUTHENTICATION_FAILED",
		[IKE_R_NO_PROPOSAL] = "NO_PROPOSAL_CHOSEN",
		[IKE_R_INVALID_KE] = "INVALID_KE_PAYLOAD",
		[IKE_R_TS_UNACCEPTABLE] = "TS_UNACCEPTABLE",
		[IKE_R_NO_CONFIG] = "no matching config",
		[IKE_R_PEER_ERROR] = "peer error",
		[IKE_R_SYNTAX] = "INVALID_SYNTAX",
		[IKE_R_INTERNAL] = "internal error",
		[IKE_R_REDUNDANT] = "redundant (rekey collision)",
	};

	if ((unsigned int)r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "unknown";
}

const char *ike_event_name(enum ike_event_type t)
{
	switch (t) {
	case IKE_EV_IKE_UP:
		return "IKE_UP";
	case IKE_EV_IKE_DOWN:
		return "IKE_DOWN";
	case IKE_EV_CHILD_INSTALL:
		return "CHILD_INSTALL";
	case IKE_EV_CHILD_SWITCH_OUT:
		return "CHILD_SWITCH_OUT";
	case IKE_EV_CHILD_DELETE:
		return "CHILD_DELETE";
	case IKE_EV_ERROR:
		return "ERROR";
	}
	return "unknown";
}

/* ---- reconfiguration ---------------------------------------------------------------------------- */

static const struct ike_peer_cfg *peer_in(const struct ike_peer_cfg *peers, unsigned int n,
					  const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(peers[i].name, name))
			return &peers[i];
	return NULL;
}

static const struct ike_child_cfg *child_in(const struct ike_peer_cfg *p, const char *name)
{
	if (!p->children)
		return NULL;
	for (unsigned int i = 0; i < p->n_children; i++)
		if (!strcmp(p->children[i].name, name))
			return &p->children[i];
	return NULL;
}

/* Re-points a child config pointer of a kept peer to the new copy (same name). */
static const struct ike_child_cfg *child_remap(const struct ike_child_cfg *old,
					       const struct ike_peer_cfg *np)
{
	const struct ike_child_cfg *n;

	if (!old)
		return NULL;
	n = child_in(np, old->name);
	return n ? n : old;
}

int ike_engine_reconfigure(struct ike_engine *eng, uint64_t now_ms,
			   const struct ike_peer_cfg *peers, unsigned int n_peers,
			   bool (*keep)(void *ctx, const char *peer), void *ctx)
{
	struct ike_peer_cfg *np = NULL;
	struct ike_retired *r;
	unsigned int n = 0;
	int err = 0;

	if (n_peers && !peers)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (n_peers) {
		np = calloc(n_peers, sizeof(*np));
		if (!np) {
			free(r);
			return -ENOMEM;
		}
	}
	for (; n < n_peers; n++) {
		err = peer_cfg_copy(&np[n], &peers[n]); /* cleans up after itself on failure */
		if (err)
			goto err_free;
		if (peer_in(np, n, np[n].name)) {
			peer_cfg_fini(&np[n]);
			err = -EINVAL;
			goto err_free;
		}
	}
	/* Peers that are gone or changed: their IKE SAs are deleted with the old configuration,
	 * which stays allocated (retired) while those SAs finish. */
	for (unsigned int i = 0; i < eng->n_peers; i++) {
		const char *name = eng->peers[i].name;

		if (!peer_in(np, n_peers, name) || !keep || !keep(ctx, name))
			ike_engine_delete(eng, now_ms, name, NULL);
	}
	/* Kept peers: every pointer into the old configuration moves to the new copy. */
	for (struct ike_sa *sa = eng->sas; sa; sa = sa->next) {
		const struct ike_peer_cfg *p = sa->peer ? sa->peer : sa->init_peer, *q;

		if (!p || !keep || !keep(ctx, p->name))
			continue;
		q = peer_in(np, n_peers, p->name);
		if (!q)
			continue;
		if (sa->peer)
			sa->peer = q;
		if (sa->init_peer && peer_in(np, n_peers, sa->init_peer->name))
			sa->init_peer = peer_in(np, n_peers, sa->init_peer->name);
		for (struct ike_child *c = sa->children; c; c = c->next)
			c->cfg = child_remap(c->cfg, q);
		for (unsigned int t = 0; t < sa->n_tasks; t++)
			sa->tasks[t].cfg = child_remap(sa->tasks[t].cfg, q);
		sa->out.cfg = child_remap(sa->out.cfg, q);
	}
	r->peers = eng->peers;
	r->n_peers = eng->n_peers;
	r->next = eng->retired;
	eng->retired = r;
	eng->peers = np;
	eng->n_peers = n_peers;
	eng->cfg.peers = np;
	eng->cfg.n_peers = n_peers;
	return 0;
err_free:
	for (unsigned int i = 0; i < n; i++)
		peer_cfg_fini(&np[i]);
	free(np);
	free(r);
	return err;
}
