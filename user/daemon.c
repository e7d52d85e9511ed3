// SPDX-License-Identifier: GPL-2.0-only
/*
 * espgated's event loop and the glue between the engine, the kernel and the
 * operator (see daemon.h). State kept here is only what the other parts cannot
 * answer: which kernel SAs we installed for which CHILD SA (to delete them and
 * to show their counters), and each tunnel's last error in words.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "dpsync.h"
#include "hairpin.h"
#include "hostcfg.h"
#include "espgate_abi.h"
#include "ike.h"
#include "ike_ts.h"
#include "ikesock.h"
#include "ipsec.h"
#include "log.h"
#include "peercfg.h"
#include "xfrm.h"

enum egd_limits {
	EGD_MAX_EVENTS = 16,
	EGD_ERR_LEN = 1024,	   /* room for the datapath's longest explanation */
	EGD_RETRY_FIRST_MS = 5000, /* restart after a dead peer: first wait after a failure, */
	EGD_RETRY_MAX_MS = 180000, /* doubling up to this, plus up to a fifth of jitter */
};

/* One kernel SA we installed. */
struct egd_sa {
	bool used;
	bool inbound;
	uint32_t engine_child; /* ike_child_sa.child_id */
	uint32_t child_id;     /* ours: reqid - EG_REQID_BASE */
	uint32_t spi;	       /* host order */
	struct xfrm_sa_id id;
	char peer[IKE_NAME_MAX];
	char child[IKE_NAME_MAX];
	uint64_t installed_ms;
	uint16_t encr, encr_bits, integ;
	bool esn, encap;
	struct ike_ts_list ts_local, ts_remote;
	struct ike_addr outer_src, outer_dst; /* this direction's outer addresses */
};

struct egd_tunnel {
	char name[IKE_NAME_MAX];
	char last_error[EGD_ERR_LEN + IKE_REASON_MAX];
	uint64_t up_since_ms; /* 0: no IKE SA */
	bool dead;	      /* DPD gave up on the peer */
	/* Restarting after a dead peer (dpd action restart) until a CHILD SA is installed: every
	 * failed attempt (no answer, NO_PROPOSAL_CHOSEN or AUTHENTICATION_FAILED from a partner
	 * still booting, ...) schedules the next one with exponential backoff. */
	bool retrying;
	unsigned int failures;	/* failed attempts since the peer was declared dead */
	uint64_t next_retry_ms; /* 0: none scheduled (an attempt may be in flight) */
	/* IKE SAs reported up and not yet down: during an IKE rekey the new one comes up before
	 * the old one goes, so the tunnel is up while any is live. */
	uint32_t live[8];
};

struct egd {
	const struct egd_opts *opts;
	struct eg_config_file *cfg;
	struct eg_child_ids ids;
	struct eg_peerset ps;
	struct ike_engine *eng;
	struct xfrm_backend *xb;
	struct xfrm_events *xev;
	struct ikesock s4;
	struct ctl_server ctl;
	int ep, sfd;
	bool stop;
	struct egd_sa *sas;
	size_t n_sas;
	struct egd_tunnel *tun;
	size_t n_tun;
	struct eg_dp *dp;	    /* NULL with --no-datapath */
	struct eg_hairpin_state hp; /* the hairpin routes in place (eg_hairpin_apply) */
	uint64_t next_sweep_ms;	    /* conntrack sweeper, every second */
	/* SAs in our reqid range found at start (a previous espgated's, e.g. after SIGKILL): they
	 * keep forwarding until this instance installs the child's new outbound SA, then go. */
	struct xfrm_sa_id *stale;
	uint32_t *stale_reqid;
	size_t n_stale;
	uint64_t next_keepalive_ms;
};

static int policies_sync(struct egd *d);
static void drain(struct egd *d);
static bool peer_unknown(const struct egd *d, const char *name);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct egd_tunnel *tunnel_find(struct egd *d, const char *name)
{
	for (size_t i = 0; i < d->n_tun; i++)
		if (!strcmp(d->tun[i].name, name))
			return &d->tun[i];
	return NULL;
}

static void engine_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	if (level <= IKE_LOG_WARN)
		log_warnx("%s", line);
	else if (level <= IKE_LOG_INFO)
		log_info("%s", line);
	else
		log_debug("%s", line);
}

static int engine_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

static void ike_addr_from_sock(const struct ikesock_addr *in, struct ike_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)in->family;
	out->port = in->port;
	if (in->family == AF_INET)
		memcpy(out->addr, &in->v4, 4);
	else
		memcpy(out->addr, &in->v6, 16);
}

static void sock_addr_from_ike(const struct ike_addr *in, struct ikesock_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = in->family;
	out->port = in->port;
	if (in->family == AF_INET)
		memcpy(&out->v4, in->addr, 4);
	else
		memcpy(&out->v6, in->addr, 16);
}

static const char *ike_addr_str(const struct ike_addr *a, char *buf, size_t len)
{
	struct ikesock_addr s;

	sock_addr_from_ike(a, &s);
	return ikesock_addr_str(&s, buf, len);
}

/* ---- kernel SAs ------------------------------------------------------------------------------ */

static struct egd_sa *sa_slot(struct egd *d)
{
	struct egd_sa *n;

	for (size_t i = 0; i < d->n_sas; i++)
		if (!d->sas[i].used)
			return &d->sas[i];
	n = realloc(d->sas, (d->n_sas + 16) * sizeof(*n));
	if (!n)
		return NULL;
	memset(n + d->n_sas, 0, 16 * sizeof(*n));
	d->sas = n;
	d->n_sas += 16;
	return &d->sas[d->n_sas - 16];
}

/* Test mode only: the keys of every SA, so a test can decrypt what the peer
 * sent on the wire. */
static void export_keys(struct egd *d, const struct ike_child_sa *c)
{
	FILE *f;

	if (!d->opts->export_keys || !d->opts->record_sas)
		return;
	f = fopen(d->opts->export_keys, "a");
	if (!f)
		return;
	fprintf(f, "spi=%08x dir=%s encr=%u encr_bits=%u integ=%u encap=%d encr_key=", c->spi,
		c->inbound ? "in" : "out", c->encr, c->encr_bits, c->integ, c->encap);
	for (size_t i = 0; i < c->encr_key.len; i++)
		fprintf(f, "%02x", c->encr_key.ptr[i]);
	fprintf(f, " integ_key=");
	for (size_t i = 0; i < c->integ_key.len; i++)
		fprintf(f, "%02x", c->integ_key.ptr[i]);
	fprintf(f, "\n");
	fclose(f);
}

static void record_dump(struct egd *d)
{
	FILE *f;

	if (!d->opts->record_dump || !d->opts->record_sas)
		return;
	f = fopen(d->opts->record_dump, "w");
	if (!f)
		return;
	xfrm_record_dump(d->xb, f, XFRMB_DUMP_JSON);
	fclose(f);
}

/* The configured anti-replay window of a CHILD SA's child (docs/CONFIG.md: replay_window). */
static uint32_t child_replay_window(const struct egd *d, const struct ike_event *ev)
{
	const struct eg_tunnel *t = d->cfg ? eg_config_find_tunnel(d->cfg, ev->peer) : NULL;

	for (size_t i = 0; t && i < t->n_children; i++)
		if (!strcmp(t->children[i].name, ev->child))
			return t->children[i].replay_window;
	return 0;
}

/* Deletes the previous instance's SAs of child reqid (both directions): ours replace them. */
static void stale_delete(struct egd *d, uint32_t reqid)
{
	for (size_t i = 0; i < d->n_stale; i++) {
		int rc;

		if (d->stale_reqid[i] != reqid)
			continue;
		d->stale_reqid[i] = 0;
		if (d->dp) /* its SPI in the allow-list (an outbound SA's is not there: -ENOENT) */
			eg_dp_child_down(d->dp, reqid - EG_REQID_BASE, ntohl(d->stale[i].spi));
		rc = xfrm_sa_del(d->xb, &d->stale[i]);
		if (rc && rc != -ESRCH && rc != -ENOENT)
			log_warnx("deleting a previous instance's SA 0x%08x failed: %s",
				  ntohl(d->stale[i].spi), xfrm_backend_error(d->xb));
		else
			log_info("deleted SA 0x%08x left by a previous espgated (replaced)",
				 ntohl(d->stale[i].spi));
	}
}

/* Whether a previous instance's SA of child reqid is still in place (not yet replaced by ours). */
static bool stale_live(const struct egd *d, uint32_t reqid)
{
	for (size_t i = 0; i < d->n_stale; i++)
		if (d->stale_reqid[i] == reqid)
			return true;
	return false;
}

static int stale_sa_cb(const struct xfrm_sa *sa, const struct xfrm_sa_stats *st, void *arg)
{
	struct egd *d = arg;
	struct xfrm_sa_id *ids;
	uint32_t *reqids;

	(void)st;
	if (!xfrm_sa_is_ours(sa))
		return 0;
	ids = realloc(d->stale, (d->n_stale + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	d->stale = ids;
	reqids = realloc(d->stale_reqid, (d->n_stale + 1) * sizeof(*reqids));
	if (!reqids)
		return -ENOMEM;
	d->stale_reqid = reqids;
	xfrm_sa_id_of(sa, &d->stale[d->n_stale]);
	d->stale_reqid[d->n_stale++] = sa->reqid;
	return 0;
}

static void sa_install(struct egd *d, const struct ike_event *ev)
{
	const struct ike_child_sa *c = &ev->child_sa;
	char err[EGD_ERR_LEN];
	struct xfrm_sa sa;
	struct egd_sa *rec;
	int rc;

	/* inbound only: the window is the receiver's anti-replay check */
	rc = eg_ipsec_sa(c, c->inbound ? child_replay_window(d, ev) : 0, &sa, err, sizeof(err));
	if (rc) {
		log_warnx("tunnel %s child %s: cannot install SA: %s", ev->peer, ev->child, err);
		return;
	}
	rc = xfrm_sa_add(d->xb, &sa);
	if (rc == -EEXIST)
		rc = xfrm_sa_update(d->xb, &sa);
	if (rc) {
		struct egd_tunnel *t = tunnel_find(d, ev->peer);

		log_warnx("tunnel %s child %s: installing %s SA 0x%08x failed: %s", ev->peer,
			  ev->child, c->inbound ? "inbound" : "outbound", c->spi,
			  xfrm_backend_error(d->xb));
		if (t)
			snprintf(t->last_error, sizeof(t->last_error),
				 "kernel refused SA 0x%08x: %s", c->spi, xfrm_backend_error(d->xb));
		xfrm_sa_clear(&sa);
		return;
	}
	export_keys(d, c);
	if (!c->inbound)
		stale_delete(d, c->reqid);
	rec = sa_slot(d);
	if (rec) {
		memset(rec, 0, sizeof(*rec));
		rec->used = true;
		rec->inbound = c->inbound;
		rec->engine_child = c->child_id;
		rec->child_id = c->reqid - EG_REQID_BASE;
		rec->spi = c->spi;
		xfrm_sa_id_of(&sa, &rec->id);
		snprintf(rec->peer, sizeof(rec->peer), "%s", ev->peer);
		snprintf(rec->child, sizeof(rec->child), "%s", ev->child);
		rec->installed_ms = now_ms();
		rec->encr = c->encr;
		rec->encr_bits = c->encr_bits;
		rec->integ = c->integ;
		rec->esn = c->esn;
		rec->encap = c->encap;
		rec->ts_local = c->ts_local;
		rec->ts_remote = c->ts_remote;
		rec->outer_src = c->src;
		rec->outer_dst = c->dst;
	}
	log_info("tunnel %s child %s: installed %s SA 0x%08x (reqid 0x%x)", ev->peer, ev->child,
		 c->inbound ? "inbound" : "outbound", c->spi, c->reqid);
	/* ESP for it passes XDP, its negotiated selectors guard tc, the child is UP */
	if (d->dp && c->inbound) {
		rc = eg_dp_child_up(d->dp, c->reqid - EG_REQID_BASE, c->spi, &c->dst, &c->ts_local,
				    &c->ts_remote);
		if (rc)
			log_warnx("tunnel %s child %s: datapath: SA 0x%08x: %s", ev->peer,
				  ev->child, c->spi, strerror(-rc));
	}
	xfrm_sa_clear(&sa);
	/* a peer that connected from an address we could not know: its policies come now */
	if (c->inbound && peer_unknown(d, ev->peer))
		policies_sync(d);
	record_dump(d);
}

static void sa_delete_spi(struct egd *d, uint32_t spi, bool inbound)
{
	for (size_t i = 0; i < d->n_sas; i++) {
		struct egd_sa *s = &d->sas[i];
		int rc;

		if (!s->used || s->spi != spi || s->inbound != inbound)
			continue;
		rc = xfrm_sa_del(d->xb, &s->id);
		if (rc && rc != -ESRCH && rc != -ENOENT)
			log_warnx("tunnel %s: deleting SA 0x%08x failed: %s", s->peer, spi,
				  xfrm_backend_error(d->xb));
		else
			log_info("tunnel %s child %s: deleted %s SA 0x%08x", s->peer, s->child,
				 inbound ? "inbound" : "outbound", spi);
		memset(s, 0, sizeof(*s));
	}
	record_dump(d);
}

/* ---- restart after a dead peer --------------------------------------------------------------- */

/* The wait after the n-th failed attempt (n >= 1): 5 s doubling up to 3 min, plus jitter so that
 * gateways that lost each other at the same moment do not retry in lockstep. */
static uint64_t retry_delay_ms(unsigned int n)
{
	uint64_t ms = EGD_RETRY_FIRST_MS;
	uint32_t r = 0;

	while (--n && ms < EGD_RETRY_MAX_MS)
		ms *= 2;
	if (ms > EGD_RETRY_MAX_MS)
		ms = EGD_RETRY_MAX_MS;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)now_ms();
	return ms + r % (ms / 5 + 1);
}

/* An attempt of a restarting tunnel failed: schedule the next one (once per attempt). */
static void retry_schedule(struct egd_tunnel *t)
{
	uint64_t wait;

	if (!t->retrying || t->next_retry_ms)
		return;
	wait = retry_delay_ms(++t->failures);
	t->next_retry_ms = now_ms() + wait;
	log_info("tunnel %s: restart attempt %u failed%s%s; next attempt in %llu s", t->name,
		 t->failures, t->last_error[0] ? ": " : "", t->last_error,
		 (unsigned long long)(wait + 999) / 1000);
}

static void retry_stop(struct egd_tunnel *t)
{
	t->retrying = false;
	t->failures = 0;
	t->next_retry_ms = 0;
}

/* One attempt now. -EALREADY (an attempt or the SAs are already there) is no failure. */
static void retry_attempt(struct egd *d, struct egd_tunnel *t)
{
	int rc;

	t->next_retry_ms = 0;
	rc = ike_engine_initiate(d->eng, now_ms(), t->name, NULL);
	if (rc && rc != -EALREADY) {
		snprintf(t->last_error, sizeof(t->last_error), "restart: %s", strerror(-rc));
		retry_schedule(t);
	}
}

/* Runs the attempts that are due; the earliest scheduled one (or UINT64_MAX). */
static uint64_t retry_run(struct egd *d)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < d->n_tun; i++) {
		struct egd_tunnel *t = &d->tun[i];

		if (t->retrying && t->next_retry_ms && t->next_retry_ms <= now_ms()) {
			log_info("tunnel %s: restart attempt %u", t->name, t->failures + 1);
			retry_attempt(d, t);
			drain(d);
		}
		if (t->retrying && t->next_retry_ms && t->next_retry_ms < next)
			next = t->next_retry_ms;
	}
	return next;
}

/* ---- engine outputs -------------------------------------------------------------------------- */

static void handle_event(struct egd *d, const struct ike_event *ev)
{
	struct egd_tunnel *t = tunnel_find(d, ev->peer);
	char a[64], b[64];

	switch (ev->type) {
	case IKE_EV_IKE_UP:
		log_info("tunnel %s: IKE SA up %s <-> %s", ev->peer,
			 ike_addr_str(&ev->local, a, sizeof(a)),
			 ike_addr_str(&ev->remote, b, sizeof(b)));
		if (t) {
			bool was_up = false;
			size_t free_slot = sizeof(t->live) / sizeof(t->live[0]);

			for (size_t i = 0; i < sizeof(t->live) / sizeof(t->live[0]); i++) {
				if (t->live[i])
					was_up = true;
				else if (free_slot == sizeof(t->live) / sizeof(t->live[0]))
					free_slot = i;
			}
			if (free_slot < sizeof(t->live) / sizeof(t->live[0]))
				t->live[free_slot] = ev->ike_sa_id;
			if (!was_up)
				t->up_since_ms = now_ms();
			t->dead = false;
		}
		break;
	case IKE_EV_IKE_DOWN:
		if (ev->reason == IKE_R_REKEYED)
			log_debug("%s: tunnel %s: IKE SA %u replaced by its rekeyed successor",
				  __func__, ev->peer, ev->ike_sa_id);
		else
			log_info("tunnel %s: IKE SA down (%s)%s%s", ev->peer,
				 ike_reason_name(ev->reason), ev->text[0] ? ": " : "", ev->text);
		if (t) {
			bool still_up = false;

			for (size_t i = 0; i < sizeof(t->live) / sizeof(t->live[0]); i++) {
				if (t->live[i] == ev->ike_sa_id)
					t->live[i] = 0;
				else if (t->live[i])
					still_up = true;
			}
			if (!still_up)
				t->up_since_ms = 0;
			if (ev->reason == IKE_R_DEAD_PEER) {
				t->dead = true;
				snprintf(t->last_error, sizeof(t->last_error),
					 "peer did not answer (dead peer detection)");
			}
		}
		if (!t || ev->reason == IKE_R_REKEYED)
			break;
		if (t->retrying) { /* an attempt failed (its reason is in last_error) */
			if (ev->reason == IKE_R_DEAD_PEER)
				snprintf(t->last_error, sizeof(t->last_error),
					 "peer did not answer");
			retry_schedule(t);
		} else if (ev->reason == IKE_R_DEAD_PEER && d->cfg) {
			const struct eg_tunnel *ct = eg_config_find_tunnel(d->cfg, ev->peer);

			if (ct && ct->dpd_action == EG_DPD_RESTART &&
			    ct->mode != EG_MODE_RESPONDER_ONLY && !t->up_since_ms) {
				t->retrying = true;
				t->failures = 0;
				log_info("tunnel %s: restarting (dpd action restart)", ev->peer);
				retry_attempt(d, t);
			}
		}
		break;
	case IKE_EV_CHILD_INSTALL:
	case IKE_EV_CHILD_SWITCH_OUT:
		sa_install(d, ev);
		if (t && t->retrying && ev->child_sa.inbound) {
			log_info("tunnel %s: restarted after %u failed attempts", ev->peer,
				 t->failures);
			retry_stop(t);
		}
		break;
	case IKE_EV_CHILD_DELETE:
		if (d->dp) /* first: ESP for it is dropped at XDP from now on */
			eg_dp_child_down(d->dp, ev->child_sa.reqid - EG_REQID_BASE,
					 ev->child_sa.spi_in);
		sa_delete_spi(d, ev->child_sa.spi_in, true);
		sa_delete_spi(d, ev->child_sa.spi_out, false);
		if (peer_unknown(d, ev->peer)) /* its last SA gone: back to the fallbacks only */
			policies_sync(d);
		break;
	case IKE_EV_ERROR:
		log_warnx("tunnel %s%s%s: %s: %s", ev->peer, ev->child[0] ? " child " : "",
			  ev->child, ike_reason_name(ev->reason), ev->text);
		if (t)
			snprintf(t->last_error, sizeof(t->last_error), "%s: %s",
				 ike_reason_name(ev->reason), ev->text);
		/* a CHILD SA refused on a live IKE SA: no IKE_DOWN follows, retry from here */
		if (t && t->retrying && t->up_since_ms)
			retry_schedule(t);
		break;
	}
}

static void drain(struct egd *d)
{
	struct ike_output out;

	while (ike_engine_next_output(d->eng, &out) == 1) {
		if (out.kind == IKE_OUT_DGRAM) {
			struct ikesock_addr l, r;
			int rc;

			sock_addr_from_ike(&out.dgram.local, &l);
			sock_addr_from_ike(&out.dgram.remote, &r);
			rc = ikesock_send(&d->s4, l.family ? &l : NULL, &r, out.dgram.data,
					  out.dgram.len);
			if (rc) {
				char rb[64];

				log_debug("%s: send to %s: %s", __func__,
					  ikesock_addr_str(&r, rb, sizeof(rb)), strerror(-rc));
			}
		} else if (out.kind == IKE_OUT_EVENT && out.ev) {
			handle_event(d, out.ev);
		}
		ike_output_free(&out);
	}
}

/* ---- inputs ---------------------------------------------------------------------------------- */

static void read_sock(struct egd *d, int fd)
{
	static uint8_t buf[IKESOCK_MAX_DGRAM];
	struct ikesock_addr l, r;
	struct ike_addr il, ir;

	for (int i = 0; i < 64; i++) {
		ssize_t n = ikesock_recv(&d->s4, fd, buf, sizeof(buf), &l, &r);

		if (n == -EAGAIN)
			break;
		if (n < 0)
			continue; /* keepalive, stray ESP, oversized: dropped */
		ike_addr_from_sock(&l, &il);
		ike_addr_from_sock(&r, &ir);
		ike_engine_input(d->eng, now_ms(), &il, &ir, buf, (size_t)n);
		drain(d);
	}
}

static int xfrm_event(const struct xfrm_event *ev, void *arg)
{
	struct egd *d = arg;
	int rc;

	if (ev->type == XFRMB_EV_EXPIRE) {
		if (!xfrm_reqid_is_ours(ev->expire.reqid))
			return 0;
		rc = ike_engine_expire(d->eng, now_ms(), ntohl(ev->expire.spi), ev->expire.hard);
		if (rc && rc != -ENOENT)
			log_warnx("expire of SA 0x%08x: %s", ntohl(ev->expire.spi), strerror(-rc));
	} else if (ev->type == XFRMB_EV_ACQUIRE) {
		uint32_t child = ev->acquire.reqid - EG_REQID_BASE;
		const struct eg_tunnel *t;

		if (!xfrm_reqid_is_ours(ev->acquire.reqid) || !d->ids.slot[child].used)
			return 0;
		/* on demand: only tunnels that may initiate and are not started by hand only */
		t = eg_config_find_tunnel(d->cfg, d->ids.slot[child].tunnel);
		if (!t || t->start == EG_START_NONE || t->mode == EG_MODE_RESPONDER_ONLY)
			return 0;
		rc = ike_engine_acquire(d->eng, now_ms(), ev->acquire.reqid, NULL, NULL);
		if (rc && rc != -EALREADY)
			log_debug("%s: acquire reqid 0x%x: %s", __func__, ev->acquire.reqid,
				  strerror(-rc));
	}
	drain(d);
	return 0;
}

/* ---- configuration --------------------------------------------------------------------------- */

static int engine_from_config(struct egd *d, struct eg_config_file *cfg, struct ike_engine **out,
			      struct eg_peerset *ps)
{
	struct ike_engine_cfg ec = { 0 };
	char err[EGD_ERR_LEN];
	int rc;

	rc = eg_peerset_build(cfg, &d->ids, ps, err, sizeof(err));
	if (rc) {
		log_warnx("configuration: %s", err);
		return rc;
	}
	if (ps->weak_used)
		log_warnx("weak algorithms (MD5 / MODP 1024) are configured and allowed");
	ec.peers = ps->peers;
	ec.n_peers = ps->n_peers;
	ec.random = engine_random;
	ec.log = engine_log;
	*out = ike_engine_new(&ec);
	if (!*out) {
		rc = -errno;
		log_warn("IKE engine");
		eg_peerset_free(ps);
		return rc;
	}
	return 0;
}

static int tunnels_from_config(struct egd *d)
{
	struct egd_tunnel *t = calloc(d->cfg->n_tunnels ? d->cfg->n_tunnels : 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < d->cfg->n_tunnels; i++) {
		const struct egd_tunnel *old = tunnel_find(d, d->cfg->tunnels[i].name);

		if (old)
			t[i] = *old;
		snprintf(t[i].name, sizeof(t[i].name), "%s", d->cfg->tunnels[i].name);
	}
	free(d->tun);
	d->tun = t;
	d->n_tun = d->cfg->n_tunnels;
	return 0;
}

static void start_tunnels(struct egd *d)
{
	for (size_t i = 0; i < d->cfg->n_tunnels; i++) {
		const struct eg_tunnel *t = &d->cfg->tunnels[i];
		int rc;

		if (t->start != EG_START_START || t->mode == EG_MODE_RESPONDER_ONLY ||
		    t->peer_kind == EG_PEER_ANY)
			continue;
		rc = ike_engine_initiate(d->eng, now_ms(), t->name, NULL);
		if (rc && rc != -EALREADY)
			log_warnx("tunnel %s: initiate: %s", t->name, strerror(-rc));
	}
	drain(d);
}

/* ---- XFRM policies --------------------------------------------------------------------- */

/* The source address the kernel would use towards remote (a connected UDP socket's name). */
static int route_src(const struct ike_addr *remote, struct ike_addr *local)
{
	struct ikesock_addr r, l;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, rc = 0;

	sock_addr_from_ike(remote, &r);
	if (!r.port)
		r.port = 500;
	fd = socket(remote->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sl = ikesock_to_sockaddr(&r, &ss);
	if (connect(fd, (struct sockaddr *)&ss, sl) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		rc = -errno;
	} else {
		ikesock_from_sockaddr(&ss, &l);
		l.port = 0;
		ike_addr_from_sock(&l, local);
	}
	close(fd);
	return rc;
}

struct pol_set {
	struct xfrm_pol *p;
	unsigned int n, cap;
};

static bool pol_same(const struct xfrm_pol *a, const struct xfrm_pol *b)
{
	return a->dir == b->dir && a->mark == b->mark && a->mark_mask == b->mark_mask &&
	       !memcmp(&a->sel, &b->sel, sizeof(a->sel));
}

static int stale_cb(const struct xfrm_pol *p, void *arg)
{
	struct pol_set *set = ((struct pol_set **)arg)[0], *stale = ((struct pol_set **)arg)[1];

	if (!xfrm_pol_is_ours(p))
		return 0;
	for (unsigned int i = 0; i < set->n; i++)
		if (pol_same(p, &set->p[i]))
			return 0;
	if (stale->n == stale->cap) {
		struct xfrm_pol *np = realloc(stale->p, (stale->cap + 64) * sizeof(*np));

		if (!np)
			return -ENOMEM;
		stale->p = np;
		stale->cap += 64;
	}
	stale->p[stale->n++] = *p;
	return 0;
}

static int set_reserve(struct pol_set *set)
{
	struct xfrm_pol *np;

	if (set->cap - set->n >= 2 * EG_IPSEC_MAX_POLICIES)
		return 0;
	np = realloc(set->p, (set->cap + 2 * EG_IPSEC_MAX_POLICIES) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	set->p = np;
	set->cap += 2 * EG_IPSEC_MAX_POLICIES;
	return 0;
}

/* The newest inbound SA we installed for child id, or NULL. */
static const struct egd_sa *child_newest_in(const struct egd *d, uint32_t id)
{
	const struct egd_sa *best = NULL;

	for (size_t i = 0; i < d->n_sas; i++) {
		const struct egd_sa *s = &d->sas[i];

		if (s->used && s->inbound && s->child_id == id &&
		    (!best || s->installed_ms >= best->installed_ms))
			best = s;
	}
	return best;
}

/* Negotiated selectors as config selectors (one per prefix of each range). -E2BIG past
 * EG_CFG_MAX_SELECTORS. */
static int ts_to_selectors(const struct ike_ts_list *l, struct eg_selector *out, uint8_t *n)
{
	*n = 0;
	for (unsigned int i = 0; i < l->n; i++) {
		const struct ike_ts *ts = &l->ts[i];
		struct ike_prefix pf[64];
		unsigned int np;

		if (ike_ts_to_prefixes(ts, pf, 64, &np))
			return -E2BIG;
		for (unsigned int k = 0; k < np; k++) {
			struct eg_selector *e;

			if (*n >= EG_CFG_MAX_SELECTORS)
				return -E2BIG;
			e = &out[(*n)++];
			memset(e, 0, sizeof(*e));
			e->net.af = pf[k].family;
			e->net.len = pf[k].plen;
			memcpy(e->net.addr, pf[k].addr, sizeof(e->net.addr));
			e->proto = ts->proto;
			e->port_lo = ts->port_lo;
			e->port_hi = ts->port_hi;
		}
	}
	return 0;
}

/* Is tunnel name one whose peer address is unknown until it connects (peer: any)? */
static bool peer_unknown(const struct egd *d, const char *name)
{
	for (unsigned int i = 0; i < d->ps.n_peers; i++)
		if (!strcmp(d->ps.peers[i].name, name))
			return !d->ps.peers[i].remote.family;
	return false;
}

/*
 * The policies of one child of a tunnel whose peer address is unknown (peer: any, responder
 * only), appended to set. Always the unmarked block fallbacks of its configured selectors, so its
 * traffic is never sent in clear; once an inbound SA of it is installed, also its out/in/fwd
 * policies for the selectors negotiated with that SA and the address the peer connected from
 * (the newest SA's: one peer per child at a time). *armed says whether allow policies were added.
 */
struct pol_keep {
	struct pol_set *set;
	uint32_t reqid;
	unsigned int n;
};

static int keep_cb(const struct xfrm_pol *p, void *arg)
{
	struct pol_keep *k = arg;

	if (!xfrm_pol_is_ours(p) || p->action != XFRM_POLICY_ALLOW || !p->n_tmpl ||
	    p->tmpl[0].reqid != k->reqid)
		return 0;
	if (k->set->n == k->set->cap)
		return -E2BIG;
	k->set->p[k->set->n] = *p;
	k->set->p[k->set->n++].index = 0; /* re-installed as it is: the kernel keeps its index */
	k->n++;
	return 0;
}

/*
 * A responder-only child whose negotiated selectors and peer address only its SAs knew: after a
 * restart the engine has no SA yet, but the previous instance's SAs still carry the traffic
 * (S12). Their allow policies are kept as the kernel has them (so policies_sync does not remove
 * them) and the child stays armed, until the peer's next negotiation replaces both.
 */
static int keep_previous_policies(struct egd *d, const struct eg_tunnel *t,
				  const struct eg_cfg_child *ch, uint32_t id, struct pol_set *set,
				  bool *armed)
{
	struct pol_keep k = { .set = set, .reqid = EG_REQID(id) };
	int rc;

	if (!stale_live(d, EG_REQID(id)))
		return 0;
	rc = xfrm_pol_list(d->xb, keep_cb, &k);
	if (rc)
		return rc;
	if (k.n) {
		*armed = true;
		log_info(
			"tunnel %s child %s: keeping the previous espgated's %u policies while its SAs "
			"carry the traffic (until the peer negotiates again)",
			t->name, ch->name, k.n);
	}
	return 0;
}

static int responder_child_policies(struct egd *d, const struct eg_tunnel *t,
				    const struct eg_cfg_child *ch, uint32_t id, unsigned int order,
				    struct pol_set *set, unsigned int *used, bool *armed)
{
	const struct egd_sa *sa = child_newest_in(d, id);
	struct ike_addr any = { .family = ch->n_local ? ch->local[0].net.af : AF_INET };
	struct eg_cfg_child neg;
	unsigned int n = 0, kept = 0, used_neg = 0;
	int rc;

	*armed = false;
	rc = eg_ipsec_child_policies(ch, id, &any, &any, order, used, set->p + set->n,
				     set->cap - set->n, &n);
	if (rc)
		return rc;
	for (unsigned int k = 0; k < n; k++)
		if (set->p[set->n + k].action == XFRM_POLICY_BLOCK)
			set->p[set->n + kept++] = set->p[set->n + k];
	set->n += kept;
	if (!sa)
		return keep_previous_policies(d, t, ch, id, set, armed);
	neg = *ch;
	if (ts_to_selectors(&sa->ts_local, neg.local, &neg.n_local) ||
	    ts_to_selectors(&sa->ts_remote, neg.remote, &neg.n_remote)) {
		log_warnx(
			"tunnel %s child %s: the negotiated selectors need more than %d prefixes: "
			"no policies (its traffic stays blocked)",
			t->name, ch->name, EG_CFG_MAX_SELECTORS);
		return -E2BIG;
	}
	/* inbound SA: src is the peer, dst is us */
	rc = eg_ipsec_child_policies(&neg, id, &sa->outer_dst, &sa->outer_src, order, &used_neg,
				     set->p + set->n, set->cap - set->n, &n);
	if (rc)
		return rc;
	set->n += n;
	if (used_neg > *used)
		*used = used_neg;
	*armed = true;
	return 0;
}

/*
 * Makes the kernel's policies exactly the configured set: every child's policies added or
 * replaced, then ours that are no longer configured removed. Add-before-remove, so a selector
 * that stays is never without its policy, and a removed tunnel's traffic is blocked until its
 * own policies go (they go last). Children of tunnels whose peer is unknown until it connects get
 * their allow policies from their live SAs (responder_child_policies): call this again when
 * those come or go.
 */
static int policies_sync(struct egd *d)
{
	struct pol_set set = { 0 }, stale = { 0 };
	struct pol_set *args[2] = { &set, &stale };
	unsigned int order = 0, k = 0, n_rng = 0;
	int rc = 0, failed = 0;
	/* which policies are whose: a child is armed in the datapath only if all of its
	 * allow policies went in (a marked packet without its policy would leave in clear) */
	struct {
		uint32_t id;
		unsigned int first, n;
	} *rng = calloc(EG_MAX_CHILDREN, sizeof(*rng));
	bool *bad = NULL;

	if (!rng)
		return -ENOMEM;

	for (size_t i = 0; i < d->cfg->n_tunnels; i++) {
		const struct eg_tunnel *t = &d->cfg->tunnels[i];
		const struct ike_peer_cfg *pc = &d->ps.peers[i];
		struct ike_addr local = pc->local;

		if (!pc->remote.family) {
			for (size_t c = 0; c < t->n_children; c++) {
				uint32_t id =
					eg_child_id_find(&d->ids, t->name, t->children[c].name);
				unsigned int first = set.n, used = 0;
				bool armed = false;
				int r;

				if (set_reserve(&set)) {
					rc = -ENOMEM;
					goto out;
				}
				r = responder_child_policies(d, t, &t->children[c], id, order, &set,
							     &used, &armed);
				if (r && r != -E2BIG)
					log_warnx("tunnel %s child %s: policies: %s", t->name,
						  t->children[c].name, strerror(-r));
				order += used;
				if (!armed) {
					if (d->dp)
						eg_dp_child_policy(d->dp, id, false);
					continue;
				}
				rng[n_rng].id = id;
				rng[n_rng].first = first;
				rng[n_rng++].n = set.n - first;
			}
			continue;
		}
		if (!local.family && route_src(&pc->remote, &local)) {
			log_warnx("tunnel %s: no route to the peer: no policies installed",
				  t->name);
			goto unarmed;
		}
		for (size_t c = 0; c < t->n_children; c++) {
			uint32_t id = eg_child_id_find(&d->ids, t->name, t->children[c].name);
			unsigned int n = 0, used = 0;

			if (set_reserve(&set)) {
				rc = -ENOMEM;
				goto out;
			}
			rc = eg_ipsec_child_policies(&t->children[c], id, &local, &pc->remote,
						     order, &used, set.p + set.n, set.cap - set.n,
						     &n);
			if (rc) {
				log_warnx("tunnel %s child %s: policies: %s", t->name,
					  t->children[c].name, strerror(-rc));
				if (d->dp)
					eg_dp_child_policy(d->dp, id, false);
				continue;
			}
			rng[n_rng].id = id;
			rng[n_rng].first = set.n;
			rng[n_rng++].n = n;
			set.n += n;
			order += used;
		}
		continue;
unarmed:
		for (size_t c = 0; d->dp && c < t->n_children; c++)
			eg_dp_child_policy(d->dp,
					   eg_child_id_find(&d->ids, t->name, t->children[c].name),
					   false);
	}
	/* The hairpin bypass: the VM's own packet routed into eg0 passes in clear (eg1 classifies
	 * and marks it) instead of meeting a fallback block; bound to eg0, so without its route the
	 * same packet leaving another interface is still blocked. */
	for (size_t r = 0; d->dp && d->hp.ifindex_out && r < d->hp.n; r++) {
		struct xfrm_pol *p;

		if (set_reserve(&set)) {
			rc = -ENOMEM;
			goto out;
		}
		p = &set.p[set.n++];
		memset(p, 0, sizeof(*p));
		p->sel.family = AF_INET;
		memcpy(&p->sel.saddr, &d->hp.r[r].src, 4);
		p->sel.sprefix = 32;
		memcpy(&p->sel.daddr, &d->hp.r[r].dst, 4);
		p->sel.dprefix = d->hp.r[r].len;
		p->sel.ifindex = d->hp.ifindex_out;
		p->dir = XFRM_POLICY_OUT;
		p->action = XFRM_POLICY_ALLOW;
		p->priority = EG_PRIO_HAIRPIN;
	}
	bad = calloc(set.n ? set.n : 1, sizeof(*bad));
	if (!bad) {
		rc = -ENOMEM;
		goto out;
	}
	for (k = 0; k < set.n; k++) {
		if (xfrm_pol_update(d->xb, &set.p[k])) {
			/* a fallback shared by two children (same remote range) is already there */
			if (set.p[k].action == XFRM_POLICY_BLOCK)
				continue;
			failed++;
			bad[k] = true;
			log_warnx("installing policy %u failed: %s", k, xfrm_backend_error(d->xb));
		}
	}
	for (unsigned int r = 0; d->dp && r < n_rng; r++) {
		bool ok = true;

		for (unsigned int q = 0; q < rng[r].n; q++)
			ok &= !bad[rng[r].first + q];
		eg_dp_child_policy(d->dp, rng[r].id, ok);
	}
	rc = xfrm_pol_list(d->xb, stale_cb, args);
	for (unsigned int i = 0; i < stale.n; i++)
		xfrm_pol_del(d->xb, &stale.p[i]);
	if (stale.n)
		log_info("removed %u policies no longer configured", stale.n);
	log_info("%u XFRM policies in place%s", set.n - failed, failed ? " (some failed)" : "");
	record_dump(d);
out:
	free(bad);
	free(rng);
	free(set.p);
	free(stale.p);
	return rc ? rc : (failed ? -EIO : 0);
}

/* ---- control socket -------------------------------------------------------------------------- */

static const char *encr_name(uint16_t encr, uint16_t bits, char *buf, size_t len)
{
	switch (encr) {
	case IKE_ENCR_AES_CBC:
		snprintf(buf, len, "aes%u", bits);
		break;
	case IKE_ENCR_AES_GCM_16:
		snprintf(buf, len, "aes%ugcm16", bits);
		break;
	case IKE_ENCR_NULL:
		snprintf(buf, len, "null");
		break;
	default:
		snprintf(buf, len, "encr%u", encr);
	}
	return buf;
}

static const char *integ_short(uint16_t integ)
{
	switch (integ) {
	case IKE_INTEG_HMAC_MD5_96:
		return "-md5";
	case IKE_INTEG_HMAC_SHA1_96:
		return "-sha1";
	case IKE_INTEG_HMAC_SHA2_256_128:
		return "-sha256";
	case IKE_INTEG_HMAC_SHA2_384_192:
		return "-sha384";
	case IKE_INTEG_HMAC_SHA2_512_256:
		return "-sha512";
	default:
		return "";
	}
}

struct status_ctx {
	struct egd *d;
	const char *tunnel;
	bool json;
	struct ctl_out *out;
	int n;
};

static void json_str(struct ctl_out *o, const char *s)
{
	ctl_out_append(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			ctl_out_printf(o, "\\%c", c);
		else if (c < 0x20)
			ctl_out_printf(o, "\\u%04x", c);
		else
			ctl_out_append(o, (const char *)&c, 1);
	}
	ctl_out_append(o, "\"", 1);
}

static int status_sa_cb(void *arg, const struct ike_sa_info *info)
{
	struct status_ctx *sc = arg;
	const struct egd_tunnel *t = tunnel_find(sc->d, info->peer);
	uint64_t up = t && t->up_since_ms ? (now_ms() - t->up_since_ms) / 1000 : 0;
	static const char *const states[] = { "?", "CONNECTING", "ESTABLISHED", "REKEYING",
					      "DELETING" };
	const char *state = info->state <= IKE_SA_DELETING ? states[info->state] : "?";
	char l[64], r[64];

	if (sc->tunnel && strcmp(sc->tunnel, info->peer))
		return 0;
	ike_addr_str(&info->local, l, sizeof(l));
	ike_addr_str(&info->remote, r, sizeof(r));
	if (sc->json) {
		ctl_out_printf(sc->out, "%s{\"tunnel\":", sc->n++ ? "," : "");
		json_str(sc->out, info->peer);
		ctl_out_printf(sc->out, ",\"state\":\"%s\",\"initiator\":%s,\"local\":", state,
			       info->initiator ? "true" : "false");
		json_str(sc->out, l);
		ctl_out_printf(sc->out, ",\"remote\":");
		json_str(sc->out, r);
		ctl_out_printf(sc->out,
			       ",\"uptime_s\":%llu,\"ike_proposal\":", (unsigned long long)up);
		json_str(sc->out, info->ike_proposal);
		ctl_out_printf(sc->out, ",\"children\":%u}", info->n_children);
	} else {
		ctl_out_printf(sc->out, "%-16s %-22s %-12s %6llus  ike %s%s\n", info->peer, r,
			       state, (unsigned long long)up, info->ike_proposal,
			       info->nat_local || info->nat_remote ? "  NAT-T" : "");
	}
	return 0;
}

/* The CHILD SAs of TUNNEL (all with NULL; with ORPHANS, only those of no configured tunnel,
 * e.g. a removed tunnel's SAs while they are being deleted). */
static void status_children(struct egd *d, const char *tunnel, bool orphans, bool json,
			    struct ctl_out *o)
{
	int n = 0;

	for (size_t i = 0; i < d->n_sas; i++) {
		const struct egd_sa *s = &d->sas[i];
		struct xfrm_sa_stats st = { 0 };
		char e[32], tl[512], tr[512];

		if (!s->used || (tunnel && strcmp(tunnel, s->peer)) ||
		    (orphans && tunnel_find(d, s->peer)))
			continue;
		xfrm_sa_get_stats(d->xb, &s->id, &st);
		encr_name(s->encr, s->encr_bits, e, sizeof(e));
		ike_ts_list_format(&s->ts_local, tl, sizeof(tl));
		ike_ts_list_format(&s->ts_remote, tr, sizeof(tr));
		if (json) {
			ctl_out_printf(o, "%s{\"tunnel\":", n++ ? "," : "");
			json_str(o, s->peer);
			ctl_out_printf(o, ",\"child\":");
			json_str(o, s->child);
			ctl_out_printf(o,
				       ",\"dir\":\"%s\",\"spi\":\"%08x\",\"reqid\":%u,"
				       "\"esp\":\"%s%s\",\"encap\":%s,\"local_ts\":",
				       s->inbound ? "in" : "out", s->spi, EG_REQID(s->child_id), e,
				       integ_short(s->integ), s->encap ? "true" : "false");
			json_str(o, tl);
			ctl_out_printf(o, ",\"remote_ts\":");
			json_str(o, tr);
			ctl_out_printf(o, ",\"packets\":%llu,\"bytes\":%llu}",
				       (unsigned long long)st.packets,
				       (unsigned long long)st.bytes);
		} else {
			ctl_out_printf(
				o,
				"  %-12s %-3s spi %08x  esp %s%s%s  %s === %s  %llu pkts %llu B\n",
				s->child, s->inbound ? "in" : "out", s->spi, e,
				integ_short(s->integ), s->encap ? " udp-encap" : "", tl, tr,
				(unsigned long long)st.packets, (unsigned long long)st.bytes);
		}
	}
}

/* Seconds until the tunnel's next restart attempt, rounded up. */
static uint64_t retry_in_s(const struct egd_tunnel *t)
{
	uint64_t now = now_ms();

	return t->next_retry_ms > now ? (t->next_retry_ms - now + 999) / 1000 : 0;
}

static int cmd_status(struct egd *d, const char *tunnel, bool json, struct ctl_out *o)
{
	struct status_ctx sc = { .d = d, .tunnel = tunnel, .json = json, .out = o };

	if (tunnel && !tunnel_find(d, tunnel)) {
		ctl_out_printf(o, "no such tunnel: %s\n", tunnel);
		return CTL_ERR_NOT_FOUND;
	}
	if (json) {
		ctl_out_printf(o, "{\"ike_sas\":[");
		ike_engine_foreach_sa(d->eng, status_sa_cb, &sc);
		ctl_out_printf(o, "],\"child_sas\":[");
		status_children(d, tunnel, false, true, o);
		ctl_out_printf(o, "],\"tunnels\":[");
		for (size_t i = 0, n = 0; i < d->n_tun; i++) {
			if (tunnel && strcmp(tunnel, d->tun[i].name))
				continue;
			ctl_out_printf(o, "%s{\"name\":", n++ ? "," : "");
			json_str(o, d->tun[i].name);
			ctl_out_printf(o,
				       ",\"up\":%s,\"restarting\":%s,\"failed_attempts\":%u,"
				       "\"next_retry_s\":",
				       d->tun[i].up_since_ms ? "true" : "false",
				       d->tun[i].retrying ? "true" : "false", d->tun[i].failures);
			if (d->tun[i].retrying && d->tun[i].next_retry_ms)
				ctl_out_printf(o, "%llu",
					       (unsigned long long)retry_in_s(&d->tun[i]));
			else
				ctl_out_printf(o, "null");
			ctl_out_printf(o, ",\"last_error\":");
			json_str(o, d->tun[i].last_error);
			ctl_out_printf(o, "}");
		}
		ctl_out_printf(o, "]}\n");
		return CTL_OK;
	}
	ctl_out_printf(o, "%-16s %-22s %-12s %7s  %s\n", "TUNNEL", "PEER", "STATE", "UPTIME",
		       "IKE SA / CHILD SAs");
	/* one block per tunnel, in config order: its IKE SA(s), then its CHILD SAs (the child
	 * lines do not name the tunnel, so they must follow their own tunnel's line) */
	for (size_t i = 0; i < d->n_tun; i++) {
		const struct egd_tunnel *t = &d->tun[i];

		if (tunnel && strcmp(tunnel, t->name))
			continue;
		sc.tunnel = t->name;
		ike_engine_foreach_sa(d->eng, status_sa_cb, &sc);
		status_children(d, t->name, false, false, o);
		if (!t->up_since_ms)
			ctl_out_printf(o, "%-16s %-22s %-12s\n", t->name, "", "DOWN");
		if (t->retrying && t->next_retry_ms)
			ctl_out_printf(o, "  restarting: %u attempts failed, next in %llu s\n",
				       t->failures, (unsigned long long)retry_in_s(t));
		else if (t->retrying)
			ctl_out_printf(o, "  restarting: attempt %u in progress\n",
				       t->failures + 1);
		if (t->last_error[0])
			ctl_out_printf(o, "  last error: %s\n", t->last_error);
	}
	if (!tunnel)
		status_children(d, NULL, true, false, o);
	return CTL_OK;
}

static int reload(struct egd *d, struct ctl_out *o);

/* Reload: which tunnels keep their SAs (configuration unchanged). */
struct reload_keep {
	const struct eg_config_file *old, *new;
};

static bool reload_keep_fn(void *ctx, const char *name)
{
	const struct reload_keep *rk = ctx;
	const struct eg_tunnel *a = eg_config_find_tunnel(rk->old, name);
	const struct eg_tunnel *b = eg_config_find_tunnel(rk->new, name);

	return a && b && eg_config_tunnel_equal(a, b);
}

static int ctl_handler(void *arg, int argc, char **argv, bool json, struct ctl_out *o)
{
	struct egd *d = arg;
	struct egd_tunnel *t;
	int rc;

	if (!strcmp(argv[0], "status") || !strcmp(argv[0], "sas"))
		return cmd_status(d, argc > 1 ? argv[1] : NULL, json, o);
	if (!strcmp(argv[0], "up") && argc == 2) {
		if (!tunnel_find(d, argv[1])) {
			ctl_out_printf(o, "no such tunnel: %s\n", argv[1]);
			return CTL_ERR_NOT_FOUND;
		}
		t = tunnel_find(d, argv[1]);
		if (t->retrying) { /* restarting after a dead peer: the next attempt is now */
			unsigned int n = t->failures + 1;

			retry_attempt(d, t);
			drain(d);
			ctl_out_printf(o, "initiating %s (restart attempt %u)\n", argv[1], n);
			return CTL_OK;
		}
		rc = ike_engine_initiate(d->eng, now_ms(), argv[1], NULL);
		drain(d);
		if (rc && rc != -EALREADY) {
			ctl_out_printf(o, "up %s: %s\n", argv[1], strerror(-rc));
			return CTL_ERR_FAILED;
		}
		ctl_out_printf(o, "initiating %s\n", argv[1]);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "down") && argc == 2) {
		if (!tunnel_find(d, argv[1])) {
			ctl_out_printf(o, "no such tunnel: %s\n", argv[1]);
			return CTL_ERR_NOT_FOUND;
		}
		retry_stop(tunnel_find(d, argv[1])); /* the operator's word ends restarting */
		rc = ike_engine_delete(d->eng, now_ms(), argv[1], NULL);
		drain(d);
		if (rc && rc != -ENOENT) {
			ctl_out_printf(o, "down %s: %s\n", argv[1], strerror(-rc));
			return CTL_ERR_FAILED;
		}
		ctl_out_printf(o, "deleting %s\n", argv[1]);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "counters") || !strcmp(argv[0], "nat")) {
		if (!d->dp) {
			ctl_out_printf(o, "the datapath is not loaded (--no-datapath)\n");
			return CTL_ERR_FAILED;
		}
		if (argv[0][0] == 'c')
			rc = eg_dp_counters(d->dp, json, o);
		else
			rc = eg_dp_nat_flows(d->dp, json,
					     argc > 1 ? (unsigned int)atoi(argv[1]) : 0, o);
		return rc ? CTL_ERR_FAILED : CTL_OK;
	}
	if (!strcmp(argv[0], "reload"))
		return reload(d, o);
	ctl_out_printf(o, "unknown command: %s\n", argv[0]);
	return CTL_ERR_USAGE;
}

/* ---- reload ---------------------------------------------------------------------------------- */

/*
 * Re-reads the configuration. An invalid file changes nothing. A valid one
 * replaces the engine configuration; tunnels whose configuration is unchanged
 * keep their SAs, the others are deleted with their peers and brought up again
 * per their start action.
 */
static int reload(struct egd *d, struct ctl_out *o)
{
	struct eg_config_file *cfg = NULL, *old_cfg;
	struct eg_config_err err = { 0 };
	int rc;

	rc = eg_config_load(d->opts->config_path, d->opts->secrets_path, &cfg, &err);
	if (rc) {
		ctl_out_printf(o, "reload refused, nothing changed:\n");
		for (unsigned int i = 0; i < err.n; i++)
			ctl_out_printf(o, "  %s\n", err.msg[i]);
		log_warnx("reload refused: invalid configuration (%u errors)", err.n);
		return CTL_ERR_FAILED;
	}
	/* Tunnels whose configuration is unchanged keep their SAs; the others are deleted with
	 * their peers (under their old configuration) and come back per their start action. */
	{
		struct reload_keep rk = { .old = d->cfg, .new = cfg };
		struct eg_peerset ps;
		char why[EGD_ERR_LEN];

		rc = eg_peerset_build(cfg, &d->ids, &ps, why, sizeof(why));
		if (rc) {
			ctl_out_printf(o, "reload refused, nothing changed: %s\n", why);
			log_warnx("reload refused: %s", why);
			eg_config_free(cfg);
			return CTL_ERR_FAILED;
		}
		/* One generation switch; unchanged children keep their SA state. New children
		 * stay down until policies_sync() arms them; removed ones are dropped at once (their
		 * fallback policies still block them until policies_sync() removes those). */
		if (d->dp) {
			rc = eg_dp_apply(d->dp, cfg, &d->ids, why, sizeof(why));
			if (rc) {
				ctl_out_printf(o, "reload refused, nothing changed: datapath: %s\n",
					       why);
				log_warnx("reload refused: datapath: %s", why);
				eg_peerset_free(&ps);
				eg_config_free(cfg);
				return CTL_ERR_FAILED;
			}
		}
		rc = ike_engine_reconfigure(d->eng, now_ms(), ps.peers, ps.n_peers, reload_keep_fn,
					    &rk);
		if (rc) {
			if (d->dp && eg_dp_apply(d->dp, d->cfg, &d->ids, why, sizeof(why)))
				log_warnx("datapath: restoring the previous configuration: %s",
					  why);
			ctl_out_printf(o, "reload refused, nothing changed: %s\n", strerror(-rc));
			eg_peerset_free(&ps);
			eg_config_free(cfg);
			return CTL_ERR_FAILED;
		}
		for (size_t i = 0; i < d->cfg->n_tunnels; i++) {
			const char *name = d->cfg->tunnels[i].name;

			if (!reload_keep_fn(&rk, name))
				ctl_out_printf(o, "tunnel %s: %s\n", name,
					       eg_config_find_tunnel(cfg, name)
						       ? "changed, restarted"
						       : "removed");
		}
		for (size_t i = 0; i < cfg->n_tunnels; i++)
			if (!eg_config_find_tunnel(d->cfg, cfg->tunnels[i].name))
				ctl_out_printf(o, "tunnel %s: added\n", cfg->tunnels[i].name);
		drain(d); /* the deletes' events, under the old configuration */
		eg_peerset_free(&d->ps);
		d->ps = ps;
	}
	old_cfg = d->cfg;
	d->cfg = cfg;
	tunnels_from_config(d);
	for (size_t i = 0; i < d->n_tun; i++) { /* changed: back to their start action */
		struct reload_keep rk = { .old = old_cfg, .new = cfg };

		if (!reload_keep_fn(&rk, d->tun[i].name))
			retry_stop(&d->tun[i]);
	}
	eg_config_free(old_cfg);
	if (d->dp) { /* the hairpin follows: routes, eg1's settings and program */
		char why[EGD_ERR_LEN];
		unsigned int changed = 0;

		if (eg_hairpin_apply(cfg, &d->hp, why, sizeof(why)))
			log_warnx("hairpin: %s (the host's own tunnel traffic is not translated)",
				  why);
		rc = eg_host_apply(cfg, false, NULL, &changed, why, sizeof(why));
		if (rc)
			log_warnx("host settings: %s", why);
		if (eg_dp_hairpin(d->dp, why, sizeof(why)))
			log_warnx("hairpin: %s", why);
	}
	if (policies_sync(d))
		ctl_out_printf(o,
			       "warning: not every XFRM policy could be installed (see the log)\n");
	start_tunnels(d);
	ctl_out_printf(o, "reloaded %s: %zu tunnels\n", d->opts->config_path, cfg->n_tunnels);
	log_info("reloaded %s", d->opts->config_path);
	return CTL_OK;
}

/* ---- main loop ------------------------------------------------------------------------------- */

static int ep_add(int ep, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

static int count_sa_cb(void *ctx, const struct ike_sa_info *info)
{
	(void)ctx;
	(void)info;
	return 0;
}

static int keepalive_cb(void *ctx, const struct ike_sa_info *info)
{
	struct egd *d = ctx;
	struct ikesock_addr r;
	char rb[64];
	int rc;

	if (!info->nat_local ||
	    (info->state != IKE_SA_ESTABLISHED && info->state != IKE_SA_REKEYING))
		return 0;
	sock_addr_from_ike(&info->remote, &r);
	rc = ikesock_keepalive(&d->s4, &r);
	if (rc)
		log_debug("%s: keepalive to %s: %s", __func__, ikesock_addr_str(&r, rb, sizeof(rb)),
			  strerror(-rc));
	return 0;
}

/*
 * RFC 3948 §2.3: behind a NAT, a 0xff keepalive to every peer of an established IKE SA, every
 * global.natt_keepalive seconds, so the NAT keeps the 4500 mapping through idle periods.
 */
static void send_keepalives(struct egd *d)
{
	uint64_t now = now_ms();

	if (!d->cfg->global.natt_keepalive || now < d->next_keepalive_ms)
		return;
	d->next_keepalive_ms = now + (uint64_t)d->cfg->global.natt_keepalive * 1000;
	ike_engine_foreach_sa(d->eng, keepalive_cb, d);
}

static void shutdown_gracefully(struct egd *d)
{
	uint64_t deadline;

	for (size_t i = 0; i < d->n_tun; i++)
		ike_engine_delete(d->eng, now_ms(), d->tun[i].name, NULL);
	drain(d);
	/* Give the peers a moment to answer the DELETEs, bounded; done when every SA is gone. */
	deadline = now_ms() + 1000;
	while (now_ms() < deadline && ike_engine_foreach_sa(d->eng, count_sa_cb, NULL)) {
		struct epoll_event evs[EGD_MAX_EVENTS];
		int n = epoll_wait(d->ep, evs, EGD_MAX_EVENTS, 20);

		for (int i = 0; i < n; i++)
			if (evs[i].data.fd == d->s4.fd500 || evs[i].data.fd == d->s4.fd4500)
				read_sock(d, evs[i].data.fd);
	}
}

static int setup(struct egd *d)
{
	struct eg_config_err err = { 0 };
	sigset_t ss;
	char msg[256];
	int rc;

	rc = eg_config_load(d->opts->config_path, d->opts->secrets_path, &d->cfg, &err);
	if (rc) {
		eg_config_err_print(&err);
		log_warnx("cannot start: %s is not valid", d->opts->config_path);
		return rc;
	}
	if (!d->opts->record_sas && xfrm_probe_esp(AF_INET, msg, sizeof(msg))) {
		log_warnx("cannot start: %s (run with --record-sas only for tests)", msg);
		return -EPROTONOSUPPORT;
	}
	d->xb = xfrm_backend_new(d->opts->record_sas ? XFRMB_RECORD : XFRMB_KERNEL);
	if (!d->xb) {
		log_warn("XFRM backend");
		return -errno;
	}
	if (!d->opts->record_sas) {
		d->xev = xfrm_events_open(0);
		if (!d->xev) {
			log_warn("XFRM events");
			return -errno;
		}
	}
	rc = engine_from_config(d, d->cfg, &d->eng, &d->ps);
	if (rc)
		return rc;
	rc = tunnels_from_config(d);
	if (rc)
		return rc;
	if (!d->opts->no_datapath) {
		char why[EGD_ERR_LEN];
		unsigned int changed = 0;

		/* before the host settings and the attach: both configure eg1 when it exists */
		rc = eg_hairpin_apply(d->cfg, &d->hp, why, sizeof(why));
		if (rc)
			log_warnx("hairpin: %s (the host's own tunnel traffic is not translated)",
				  why);
		rc = eg_host_apply(d->cfg, false, NULL, &changed, why, sizeof(why));
		if (rc == -EADDRINUSE) {
			log_warnx("cannot start: %s", why);
			return rc;
		}
		if (rc)
			log_warnx("host settings: %s", why);
		rc = eg_dp_open(&d->dp, d->cfg, EG_PIN_ROOT, 0, why, sizeof(why));
		if (rc) {
			log_warnx("cannot start: datapath: %s", why);
			return rc;
		}
	}
	/* the previous instance's SAs first: policies_sync keeps what still carries them */
	if (!d->opts->record_sas) {
		if (xfrm_sa_list(d->xb, stale_sa_cb, d))
			log_warnx("listing the kernel's SAs failed: %s", xfrm_backend_error(d->xb));
		else if (d->n_stale)
			log_info("%zu SAs of a previous espgated keep forwarding until replaced",
				 d->n_stale);
	}
	rc = policies_sync(d); /* arms each child whose policies are in */
	if (rc)
		log_warnx("not every XFRM policy could be installed: see above");
	if (d->dp) {
		char why[EGD_ERR_LEN];

		rc = eg_dp_apply(d->dp, d->cfg, &d->ids, why, sizeof(why));
		if (rc) {
			log_warnx("cannot start: datapath: %s", why);
			return rc;
		}
	}
	rc = ikesock_open(
		&d->s4, AF_INET, NULL, d->cfg->global.ike_port ? d->cfg->global.ike_port : 500,
		d->cfg->global.natt_port ? d->cfg->global.natt_port : 4500, !d->opts->record_sas);
	if (rc) {
		log_warnx("cannot open IKE sockets: %s", strerror(-rc));
		return rc;
	}
	if (xfrm_socket_bypass(d->s4.fd500, AF_INET) || xfrm_socket_bypass(d->s4.fd4500, AF_INET))
		log_warnx("IKE socket bypass policies could not be set: a 0.0.0.0/0 selector may "
			  "capture IKE");
	rc = ctl_server_open(&d->ctl, d->opts->ctl_path ? d->opts->ctl_path : CTL_DEFAULT_PATH);
	if (rc) {
		log_warnx("control socket %s: %s",
			  d->opts->ctl_path ? d->opts->ctl_path : CTL_DEFAULT_PATH,
			  rc == -EADDRINUSE ? "another espgated is running" : strerror(-rc));
		return rc;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->sfd < 0 || d->ep < 0)
		return -errno;
	if (ep_add(d->ep, d->s4.fd500) || ep_add(d->ep, d->s4.fd4500) || ep_add(d->ep, d->sfd) ||
	    ep_add(d->ep, d->ctl.fd) || (d->xev && ep_add(d->ep, xfrm_events_fd(d->xev))))
		return -errno;
	return 0;
}

static void teardown(struct egd *d)
{
	eg_dp_close(d->dp, false); /* programs stay attached, maps pinned: forwarding goes on */
	d->dp = NULL;
	ctl_server_close(&d->ctl);
	ikesock_close(&d->s4);
	ike_engine_free(d->eng);
	eg_peerset_free(&d->ps);
	xfrm_events_close(d->xev);
	xfrm_backend_free(d->xb);
	eg_config_free(d->cfg);
	if (d->ep >= 0)
		close(d->ep);
	if (d->sfd >= 0)
		close(d->sfd);
	free(d->sas);
	free(d->tun);
	free(d->stale);
	free(d->stale_reqid);
}

int egd_run(const struct egd_opts *opts)
{
	struct egd *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		log_warn("espgated");
		return 1;
	}
	d->opts = opts;
	d->ep = d->sfd = -1;
	d->ctl.fd = -1;
	d->s4.fd500 = d->s4.fd4500 = -1;
	rc = setup(d);
	if (rc) {
		teardown(d);
		free(d);
		return 1;
	}
	log_info("espgated running: %zu tunnels from %s%s", d->cfg->n_tunnels, opts->config_path,
		 opts->record_sas ? " (test mode: SAs recorded, not installed)" : "");
	start_tunnels(d);
	record_dump(d);
	while (!d->stop) {
		struct epoll_event evs[EGD_MAX_EVENTS];
		uint64_t dl = ike_engine_next_deadline(d->eng), rdl = retry_run(d), now = now_ms();
		int timeout;
		int n;

		if (rdl < dl)
			dl = rdl;
		timeout = dl == UINT64_MAX ? 1000
			  : dl <= now	   ? 0
					   : (int)(dl - now > 1000 ? 1000 : dl - now);
		n = epoll_wait(d->ep, evs, EGD_MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_warn("epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->s4.fd500 || fd == d->s4.fd4500) {
				read_sock(d, fd);
			} else if (fd == d->ctl.fd) {
				ctl_server_serve_one(&d->ctl, ctl_handler, d);
			} else if (d->xev && fd == xfrm_events_fd(d->xev)) {
				while (xfrm_events_read(d->xev, xfrm_event, d) > 0)
					;
			} else if (fd == d->sfd) {
				struct signalfd_siginfo si;

				while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						struct ctl_out o = { 0 };

						reload(d, &o);
						ctl_out_free(&o);
					} else {
						d->stop = true;
					}
				}
			}
		}
		if (ike_engine_next_deadline(d->eng) <= now_ms()) {
			ike_engine_timer(d->eng, now_ms());
			drain(d);
		}
		if (d->dp && now_ms() >= d->next_sweep_ms) {
			long swept = eg_dp_sweep(d->dp);

			if (swept < 0)
				log_warnx("conntrack sweep: %s", strerror((int)-swept));
			d->next_sweep_ms = now_ms() + 1000;
		}
		send_keepalives(d);
	}
	log_info("espgated stopping: deleting IKE SAs with their peers");
	shutdown_gracefully(d);
	teardown(d);
	free(d);
	return 0;
}

int egd_detach(const struct egd_opts *opts)
{
	struct xfrm_backend *xb = xfrm_backend_new(opts->record_sas ? XFRMB_RECORD : XFRMB_KERNEL);
	unsigned int n_pol = 0, n_sa = 0;
	int rc;

	if (!xb) {
		log_warn("XFRM backend");
		return -errno;
	}
	rc = xfrm_flush_ours(xb, &n_pol, &n_sa);
	if (rc)
		log_warnx("detach: %s", xfrm_backend_error(xb));
	else
		log_info("detach: removed %u XFRM policies and %u SAs of espgate", n_pol, n_sa);
	xfrm_backend_free(xb);
	if (!opts->no_datapath && access(EG_PIN_ROOT, F_OK)) {
		log_info("detach: no datapath pinned at %s", EG_PIN_ROOT);
	} else if (!opts->no_datapath) {
		/* the datapath: espgate's XDP program and tc filters on the configured interfaces
		 * (adopted, so nothing is reloaded), then the pins */
		struct eg_config_file *cfg = NULL;
		struct eg_config_err cerr = { 0 };
		struct eg_dp *dp = NULL;
		char why[EGD_ERR_LEN];
		int r2;

		r2 = eg_config_load(opts->config_path, opts->secrets_path, &cfg, &cerr);
		if (!r2)
			r2 = eg_dp_open(&dp, cfg, EG_PIN_ROOT, 0, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s is not valid", opts->config_path);
		if (r2)
			log_warnx("detach: datapath: %s", why);
		eg_dp_close(dp, true);
		eg_config_free(cfg);
		rc = rc ? rc : r2;
	}
	if (!opts->no_datapath) {
		char why[EGD_ERR_LEN];
		int r3 = eg_hairpin_remove(why, sizeof(why)); /* ours only, pinned or not */

		if (r3)
			log_warnx("detach: %s", why);
		rc = rc ? rc : r3;
	}
	return rc;
}
