// SPDX-License-Identifier: GPL-2.0-only
/*
 * Two IKE engines in one process (ike/ike.h): a shuttle moves datagrams between engine A
 * (192.0.2.1) and engine B (192.0.2.2) under a simulated clock, with a drop filter for loss, and
 * records every event. Each side keeps a model of the SAs its "kernel" holds (installed by
 * CHILD_INSTALL / SWITCH_OUT, removed by CHILD_DELETE), and the checks compare the two: every
 * outbound SA of one side must be an inbound SA of the other with the same SPI, algorithms and
 * keys. Covers the handshake for the proposal combinations in both roles, the error
 * paths (wrong PSK, no proposal, INVALID_KE retry, TS mismatch and strict refusal, loss,
 * duplicates, out-of-window IDs), CHILD and IKE rekeys with collisions, delete, DPD and lifetimes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ike.h"
#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_prop.h"
#include "ike_ts.h"
#include "../lib/xorshift.h"

enum {
	MAX_EVENTS = 512,
	MAX_SAS = 64
};

struct kernel_sa {
	bool used;
	bool inbound;
	uint32_t spi;
	uint32_t reqid;
	uint16_t encr, integ;
	uint8_t ek[64], ak[64];
	size_t ek_len, ak_len;
	struct ike_ts_list ts_local, ts_remote;
};

struct side {
	const char *name;
	struct ike_engine *eng;
	struct ike_addr addr;
	uint64_t rng;
	struct ike_event *ev[MAX_EVENTS];
	unsigned int n_ev;
	struct kernel_sa sa[MAX_SAS];
	unsigned int sent; /* datagrams sent */
	unsigned int sent_init;
};

struct net;
typedef bool (*drop_fn)(struct net *n, struct side *from, const struct ike_dgram *d);

struct net {
	struct side a, b;
	uint64_t now;
	drop_fn drop;
	unsigned int dropped;
	void *ctx;
	/* A behind a NAT: its private address/port pairs appear as nat_pub with port
	 * nat_port_base + (private port == 4500) */
	bool nat;
	struct ike_addr nat_pub;
	unsigned int nat_marker; /* datagrams flagged for the non-ESP marker */
};

/* What the receiver sees as (destination, source) after the simulated NAT. */
static void nat_translate(struct net *n, const struct side *from, const struct ike_dgram *d,
			  struct ike_addr *dst, struct ike_addr *src)
{
	*dst = d->remote;
	*src = d->local;
	if (!n->nat)
		return;
	if (from == &n->a) {
		src->family = n->nat_pub.family;
		memcpy(src->addr, n->nat_pub.addr, 16);
		src->port = d->local.port == 4500 ? 40001 : 40000;
	} else if (!memcmp(d->remote.addr, n->nat_pub.addr, 4)) {
		*dst = n->a.addr;
		dst->port = d->remote.port == 40001 ? 4500 : 500;
	}
}

/* ---- deterministic randomness (xorshift64*) ------------------------------------------------- */

static int test_rand(void *ctx, void *buf, size_t len)
{
	struct side *s = ctx;

	xorshift_fill(&s->rng, buf, len);
	return 0;
}

static void test_log(void *ctx, int level, const char *line)
{
	if (getenv("IKE_TEST_LOG"))
		fprintf(stderr, "# [%s] %d %s\n", ((struct side *)ctx)->name, level, line);
}

/* ---- configuration --------------------------------------------------------------------------- */

static void addr4(struct ike_addr *a, const char *s, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = port;
	assert_int_equal(inet_pton(AF_INET, s, a->addr), 1);
}

static void ts_list(struct ike_ts_list *l, const char *csv)
{
	char buf[256], *save = NULL, *tok;

	memset(l, 0, sizeof(*l));
	snprintf(buf, sizeof(buf), "%s", csv);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char err[128];

		assert_int_equal(ike_ts_parse(tok, &l->ts[l->n], err, sizeof(err)), 0);
		l->n++;
	}
}

static void props(struct ike_prop_list *l, const char *s, uint8_t proto)
{
	char err[IKE_PROP_ERR_LEN];

	assert_int_equal(ike_prop_parse(s, proto, IKE_PROP_ALLOW_WEAK, l, NULL, err, sizeof(err)),
			 0);
}

static void id_fqdn(struct ike_id *id, const char *s)
{
	id->type = IKE_ID_FQDN;
	id->len = (uint8_t)strlen(s);
	memcpy(id->data, s, id->len);
}

struct cfg_opts {
	const char *ike, *esp;
	const char *psk;
	const char *local_ts, *remote_ts;
	bool strict, transport;
	enum ike_conn_mode mode;
	uint32_t ike_life, child_life, margin;
	uint8_t fuzz;
	uint32_t dpd_delay, dpd_timeout;
};

static struct ike_child_cfg g_child[2];

/* A peer named "peer" from the point of view of side me towards side other. */
static void make_peer(struct ike_peer_cfg *p, struct ike_child_cfg *c, const struct side *me,
		      const struct side *other, const struct cfg_opts *o)
{
	memset(p, 0, sizeof(*p));
	memset(c, 0, sizeof(*c));
	snprintf(p->name, sizeof(p->name), "peer");
	p->local = me->addr;
	p->remote = other->addr;
	id_fqdn(&p->local_id, me->name);
	id_fqdn(&p->remote_id, other->name);
	p->psk.ptr = (uint8_t *)(uintptr_t)(o->psk ? o->psk : "s3cr3t-psk");
	p->psk.len = strlen((const char *)p->psk.ptr);
	props(&p->ike, o->ike ? o->ike : "aes256-sha256-ecp384", IKE_PROTO_IKE);
	p->ike_life.lifetime_s = o->ike_life;
	p->ike_life.margin_s = o->margin;
	p->ike_life.fuzz_pct = o->fuzz;
	p->dpd_delay_s = o->dpd_delay;
	p->dpd_timeout_s = o->dpd_timeout;
	p->mode = o->mode;
	p->strict_ts = o->strict;
	p->send_initial_contact = true;
	p->n_children = 1;
	p->children = c;
	snprintf(c->name, sizeof(c->name), "net");
	c->reqid = 7;
	ts_list(&c->local_ts, o->local_ts);
	ts_list(&c->remote_ts, o->remote_ts);
	c->transport = o->transport;
	props(&c->esp, o->esp ? o->esp : "aes256-sha256", IKE_PROTO_ESP);
	c->life.lifetime_s = o->child_life;
	c->life.margin_s = o->margin;
	c->life.fuzz_pct = o->fuzz;
}

static void side_init(struct side *s, const char *name, const char *ip, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	addr4(&s->addr, ip, 500);
	s->rng = seed;
}

static void side_start(struct side *s, const struct ike_peer_cfg *p)
{
	struct ike_engine_cfg ec = {
		.peers = p,
		.n_peers = 1,
		.random = test_rand,
		.random_ctx = s,
		.log = test_log,
		.log_ctx = s,
	};

	s->eng = ike_engine_new(&ec);
	assert_non_null(s->eng);
}

/* default: A = "east" 10.1.0.0/16, B = "west" 192.168.88.0/24 */
static void net_setup2(struct net *n, const struct cfg_opts *oa, const struct cfg_opts *ob)
{
	struct ike_peer_cfg pa, pb;

	memset(n, 0, sizeof(*n));
	n->now = 1000000;
	side_init(&n->a, "east", "192.0.2.1", 0x1234567890abcdefULL);
	side_init(&n->b, "west", "192.0.2.2", 0xfedcba0987654321ULL);
	make_peer(&pa, &g_child[0], &n->a, &n->b, oa);
	make_peer(&pb, &g_child[1], &n->b, &n->a, ob);
	side_start(&n->a, &pa);
	side_start(&n->b, &pb);
}

static struct cfg_opts opts_a(void)
{
	return (struct cfg_opts){ .local_ts = "10.1.0.0/16", .remote_ts = "192.168.88.0/24" };
}

static struct cfg_opts opts_b(void)
{
	return (struct cfg_opts){ .local_ts = "192.168.88.0/24", .remote_ts = "10.1.0.0/16" };
}

static void net_free(struct net *n)
{
	struct side *s[2] = { &n->a, &n->b };

	for (int i = 0; i < 2; i++) {
		for (unsigned int j = 0; j < s[i]->n_ev; j++) {
			struct ike_output o = { .kind = IKE_OUT_EVENT, .ev = s[i]->ev[j] };

			ike_output_free(&o);
		}
		ike_engine_free(s[i]->eng);
	}
}

/* ---- the shuttle ---------------------------------------------------------------------------- */

static struct kernel_sa *ksa_find(struct side *s, uint32_t spi, bool inbound)
{
	for (int i = 0; i < MAX_SAS; i++)
		if (s->sa[i].used && s->sa[i].spi == spi && s->sa[i].inbound == inbound)
			return &s->sa[i];
	return NULL;
}

static void ksa_add(struct side *s, const struct ike_child_sa *c)
{
	struct kernel_sa *k = NULL;

	assert_null(ksa_find(s, c->spi, c->inbound));
	for (int i = 0; i < MAX_SAS && !k; i++)
		if (!s->sa[i].used)
			k = &s->sa[i];
	assert_non_null(k);
	memset(k, 0, sizeof(*k));
	k->used = true;
	k->inbound = c->inbound;
	k->spi = c->spi;
	k->reqid = c->reqid;
	k->encr = c->encr;
	k->integ = c->integ;
	assert_true(c->encr_key.len <= sizeof(k->ek) && c->integ_key.len <= sizeof(k->ak));
	memcpy(k->ek, c->encr_key.ptr, c->encr_key.len);
	k->ek_len = c->encr_key.len;
	if (c->integ_key.len)
		memcpy(k->ak, c->integ_key.ptr, c->integ_key.len);
	k->ak_len = c->integ_key.len;
	k->ts_local = c->ts_local;
	k->ts_remote = c->ts_remote;
}

static void ksa_del(struct side *s, uint32_t spi, bool inbound)
{
	struct kernel_sa *k = ksa_find(s, spi, inbound);

	if (k)
		k->used = false;
}

static void record(struct side *s, struct ike_event *ev)
{
	assert_true(s->n_ev < MAX_EVENTS);
	s->ev[s->n_ev++] = ev;
	switch (ev->type) {
	case IKE_EV_CHILD_INSTALL:
	case IKE_EV_CHILD_SWITCH_OUT:
		ksa_add(s, &ev->child_sa);
		break;
	case IKE_EV_CHILD_DELETE:
		ksa_del(s, ev->child_sa.spi_in, true);
		if (ev->child_sa.spi_out)
			ksa_del(s, ev->child_sa.spi_out, false);
		break;
	default:
		break;
	}
}

/* Moves every pending output; returns the number of datagrams delivered. */
static unsigned int pump(struct net *n)
{
	unsigned int moved = 0, rounds = 0;
	bool any = true;

	while (any) {
		any = false;
		assert_true(++rounds < 1000);
		for (int i = 0; i < 2; i++) {
			struct side *s = i ? &n->b : &n->a, *o = i ? &n->a : &n->b;
			struct ike_output out;

			while (ike_engine_next_output(s->eng, &out)) {
				any = true;
				if (out.kind == IKE_OUT_EVENT) {
					record(s, out.ev);
					out.ev = NULL;
				} else {
					const struct ike_dgram *d = &out.dgram;

					s->sent++;
					if (d->len > 17 && d->data[18] == IKE_SA_INIT &&
					    !(d->data[19] & IKE_FLAG_RESPONSE))
						s->sent_init++;
					n->nat_marker += d->non_esp_marker;
					if (n->drop && n->drop(n, s, d)) {
						n->dropped++;
					} else {
						struct ike_addr dst, src;

						nat_translate(n, s, d, &dst, &src);
						assert_int_equal(ike_engine_input(o->eng, n->now,
										  &dst, &src,
										  d->data, d->len),
								 0);
						moved++;
					}
				}
				ike_output_free(&out);
			}
		}
	}
	return moved;
}

/* Advances the clock to t, running timers as they fall due. */
static void run_until(struct net *n, uint64_t t)
{
	for (;;) {
		uint64_t da = ike_engine_next_deadline(n->a.eng);
		uint64_t db = ike_engine_next_deadline(n->b.eng);
		uint64_t d = da < db ? da : db;

		pump(n);
		da = ike_engine_next_deadline(n->a.eng);
		db = ike_engine_next_deadline(n->b.eng);
		d = da < db ? da : db;
		if (d > t)
			break;
		if (d > n->now)
			n->now = d;
		ike_engine_timer(n->a.eng, n->now);
		ike_engine_timer(n->b.eng, n->now);
	}
	n->now = t;
	pump(n);
}

static unsigned int count_ev(const struct side *s, enum ike_event_type t, enum ike_reason r)
{
	unsigned int c = 0;

	for (unsigned int i = 0; i < s->n_ev; i++)
		if (s->ev[i]->type == t && (r == IKE_R_NONE || s->ev[i]->reason == r))
			c++;
	return c;
}

static const struct ike_event *last_ev(const struct side *s, enum ike_event_type t)
{
	for (unsigned int i = s->n_ev; i-- > 0;)
		if (s->ev[i]->type == t)
			return s->ev[i];
	return NULL;
}

static unsigned int ksa_count(const struct side *s, bool inbound)
{
	unsigned int c = 0;

	for (int i = 0; i < MAX_SAS; i++)
		c += s->sa[i].used && s->sa[i].inbound == inbound;
	return c;
}

/* Every outbound SA of from is an inbound SA of to with identical algorithms and keys. */
static void check_mirror(struct side *from, struct side *to)
{
	for (int i = 0; i < MAX_SAS; i++) {
		const struct kernel_sa *o = &from->sa[i], *in;

		if (!o->used || o->inbound)
			continue;
		in = ksa_find(to, o->spi, true);
		assert_non_null(in);
		assert_int_equal(in->encr, o->encr);
		assert_int_equal(in->integ, o->integ);
		assert_int_equal(in->ek_len, o->ek_len);
		assert_memory_equal(in->ek, o->ek, o->ek_len);
		assert_int_equal(in->ak_len, o->ak_len);
		if (o->ak_len)
			assert_memory_equal(in->ak, o->ak, o->ak_len);
		/* selectors are mirrored too */
		assert_memory_equal(&in->ts_local, &o->ts_remote, sizeof(o->ts_remote));
		assert_memory_equal(&in->ts_remote, &o->ts_local, sizeof(o->ts_local));
	}
}

static void check_consistent(struct net *n)
{
	check_mirror(&n->a, &n->b);
	check_mirror(&n->b, &n->a);
}

static void establish(struct net *n, struct side *init)
{
	assert_int_equal(ike_engine_initiate(init->eng, n->now, "peer", NULL), 0);
	pump(n);
	assert_int_equal(count_ev(&n->a, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n->b, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(ksa_count(&n->a, true), 1);
	assert_int_equal(ksa_count(&n->a, false), 1);
	assert_int_equal(ksa_count(&n->b, true), 1);
	assert_int_equal(ksa_count(&n->b, false), 1);
	check_consistent(n);
}

/* ---- step 1: API and engine object -------------------------------------------------------------- */

static void test_engine_api(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_engine_cfg bad = { .n_peers = 1, .peers = NULL };
	struct ike_peer_cfg two[2];
	struct ike_child_cfg cc[2];
	struct ike_output out;

	(void)state;
	assert_null(ike_engine_new(NULL));
	assert_null(ike_engine_new(&bad));
	net_setup2(&n, &oa, &ob);
	/* duplicate peer names are refused */
	make_peer(&two[0], &cc[0], &n.a, &n.b, &oa);
	make_peer(&two[1], &cc[1], &n.a, &n.b, &oa);
	bad = (struct ike_engine_cfg){ .peers = two, .n_peers = 2 };
	assert_null(ike_engine_new(&bad));
	assert_int_equal(ike_engine_next_deadline(n.a.eng), UINT64_MAX);
	assert_int_equal(ike_engine_next_output(n.a.eng, &out), 0);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "nobody", NULL), -ENOENT);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", "nochild"), -ENOENT);
	assert_int_equal(ike_engine_acquire(n.a.eng, n.now, 99, NULL, NULL), -ENOENT);
	assert_int_equal(ike_engine_delete(n.a.eng, n.now, "peer", NULL), -ENOENT);
	assert_int_equal(ike_engine_expire(n.a.eng, n.now, 0x1234, false), -ENOENT);
	/* initiate queues exactly one IKE_SA_INIT and arms the 4 s retransmission timer */
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", "net"), -EALREADY);
	assert_int_equal(ike_engine_next_deadline(n.a.eng), n.now + 4000);
	assert_int_equal(ike_engine_next_output(n.a.eng, &out), 1);
	assert_int_equal(out.kind, IKE_OUT_DGRAM);
	assert_int_equal(out.dgram.data[18], IKE_SA_INIT);
	assert_false(out.dgram.non_esp_marker);
	assert_int_equal(out.dgram.remote.port, 500);
	ike_output_free(&out);
	assert_int_equal(ike_engine_next_output(n.a.eng, &out), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	/* garbage never crashes and never answers */
	{
		uint8_t junk[64] = { 1, 2, 3 };

		assert_int_equal(
			ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, junk, sizeof(junk)),
			0);
		assert_int_equal(ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, junk, 3),
				 0);
		assert_int_equal(ike_engine_next_output(n.b.eng, &out), 0);
	}
	net_free(&n);
}

static void test_responder_only(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	oa.mode = IKE_CONN_RESPONDER_ONLY;
	ob.mode = IKE_CONN_INITIATOR_ONLY;
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), -EPERM);
	/* B initiates; A (responder-only) answers */
	establish(&n, &n.b);
	net_free(&n);
	/* and an initiator-only peer never answers */
	oa = opts_a();
	ob = opts_b();
	ob.mode = IKE_CONN_INITIATOR_ONLY;
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 0);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 1); /* NO_PROPOSAL_CHOSEN answer */
	net_free(&n);
}

/* ---- step 2: handshakes --------------------------------------------------------------------------- */

struct combo {
	const char *ike, *esp;
	uint16_t encr, integ;
	size_t ek_len;
};

static const struct combo combos[] = {
	{ "aes256-sha256-ecp384", "aes256-sha256", IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA2_256_128,
	  32 },
	{ "aes256gcm16-prfsha384-ecp384", "aes256gcm16", IKE_ENCR_AES_GCM_16, IKE_INTEG_NONE, 36 },
	{ "aes128-sha256-modp2048", "aes128-sha256", IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA2_256_128,
	  16 },
	{ "aes256-sha256-modp2048s256", "aes256-sha1", IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA1_96,
	  32 },
	{ "aes128gcm16-prfsha256-x25519", "aes128gcm16-esn", IKE_ENCR_AES_GCM_16, IKE_INTEG_NONE,
	  20 },
	{ "aes128-sha1-ecp256", "aes256-sha384", IKE_ENCR_AES_CBC, IKE_INTEG_HMAC_SHA2_384_192,
	  32 },
	{ "aes256-sha512-ecp521", "aes256-sha512-modp3072", IKE_ENCR_AES_CBC,
	  IKE_INTEG_HMAC_SHA2_512_256, 32 },
};

static void handshake_combo(const struct combo *c, bool a_initiates)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;

	oa.ike = ob.ike = c->ike;
	oa.esp = ob.esp = c->esp;
	net_setup2(&n, &oa, &ob);
	establish(&n, a_initiates ? &n.a : &n.b);
	ev = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	assert_non_null(ev);
	assert_int_equal(ev->child_sa.encr, c->encr);
	assert_int_equal(ev->child_sa.integ, c->integ);
	assert_int_equal(ev->child_sa.encr_key.len, c->ek_len);
	assert_int_equal(ev->child_sa.reqid, 7);
	assert_false(ev->child_sa.encap);
	assert_false(ev->child_sa.transport);
	assert_int_equal(ev->child_sa.ts_local.n, 1);
	/* A's local selector is 10.1.0.0/16 whichever side initiated */
	assert_int_equal(ev->child_sa.ts_local.ts[0].start[0], 10);
	assert_int_equal(ev->child_sa.ts_local.ts[0].start[1], 1);
	assert_int_equal(ev->child_sa.ts_remote.ts[0].start[0], 192);
	assert_string_equal(ev->peer, "peer");
	assert_string_equal(ev->child, "net");
	/* the IKE SA is established on both sides with the same SPIs */
	{
		const struct ike_event *ua = last_ev(&n.a, IKE_EV_IKE_UP);
		const struct ike_event *ub = last_ev(&n.b, IKE_EV_IKE_UP);

		assert_memory_equal(ua->spi_i, ub->spi_i, IKE_SPI_LEN);
		assert_memory_equal(ua->spi_r, ub->spi_r, IKE_SPI_LEN);
	}
	assert_int_equal(n.a.sent + n.b.sent, 4); /* INIT, INIT resp, AUTH, AUTH resp */
	net_free(&n);
}

static void test_handshake_combos(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		handshake_combo(&combos[i], true);
		handshake_combo(&combos[i], false);
	}
}

static void test_handshake_order_of_events(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_output out;
	bool saw_in = false;

	(void)state;
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	/* A -> B INIT, B -> A INIT resp, A -> B AUTH by hand: B must report its inbound SA
	 * before the datagram that carries the IKE_AUTH response */
	for (int step = 0; step < 3; step++) {
		struct side *s = step % 2 ? &n.b : &n.a, *o = step % 2 ? &n.a : &n.b;

		assert_int_equal(ike_engine_next_output(s->eng, &out), 1);
		assert_int_equal(out.kind, IKE_OUT_DGRAM);
		ike_engine_input(o->eng, n.now, &out.dgram.remote, &out.dgram.local, out.dgram.data,
				 out.dgram.len);
		ike_output_free(&out);
	}
	while (ike_engine_next_output(n.b.eng, &out)) {
		if (out.kind == IKE_OUT_EVENT && out.ev->type == IKE_EV_CHILD_INSTALL &&
		    out.ev->child_sa.inbound)
			saw_in = true;
		if (out.kind == IKE_OUT_DGRAM)
			assert_true(saw_in);
		ike_output_free(&out);
	}
	assert_true(saw_in);
	net_free(&n);
}

/* ---- step 3: error paths ------------------------------------------------------------------------ */

static void test_wrong_psk(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	ob.psk = "another-psk";
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 0);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 0);
	assert_int_equal(count_ev(&n.a, IKE_EV_ERROR, IKE_R_AUTH_FAILED), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_ERROR, IKE_R_AUTH_FAILED), 1);
	assert_int_equal(last_ev(&n.a, IKE_EV_ERROR)->notify, IKE_N_AUTHENTICATION_FAILED);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_AUTH_FAILED), 1);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 0);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	net_free(&n);

	/* the responder accepts, the initiator refuses the responder's AUTH: the initiator
	 * tells it in an INFORMATIONAL, so both report the failure */
	oa = opts_a();
	ob = opts_b();
	net_setup2(&n, &oa, &ob);
	{
		struct ike_peer_cfg pa;
		struct ike_child_cfg ca;
		struct cfg_opts o2 = opts_a();

		/* A expects another identity for B */
		make_peer(&pa, &ca, &n.a, &n.b, &o2);
		id_fqdn(&pa.remote_id, "not-west");
		ike_engine_free(n.a.eng);
		side_start(&n.a, &pa);
	}
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_ERROR, IKE_R_AUTH_FAILED), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, IKE_R_AUTH_FAILED), 1);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	assert_int_equal(ksa_count(&n.b, true), 0);
	net_free(&n);
}

static void test_no_proposal(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;

	(void)state;
	oa.ike = "aes128-sha256-modp2048!";
	ob.ike = "aes256gcm16-prfsha384-ecp384!";
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	ev = last_ev(&n.b, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_NO_PROPOSAL);
	/* the responder names both sides' proposals */
	assert_non_null(strstr(ev->text, "aes256gcm16"));
	assert_non_null(strstr(ev->text, "aes128-sha256"));
	ev = last_ev(&n.a, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_NO_PROPOSAL);
	assert_int_equal(ev->notify, IKE_N_NO_PROPOSAL_CHOSEN);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_NO_PROPOSAL), 1);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0); /* stateless refusal */
	net_free(&n);

	/* ESP: the IKE SA comes up, the CHILD SA is refused and reported */
	oa = opts_a();
	ob = opts_b();
	oa.esp = "aes128-sha1!";
	ob.esp = "aes256gcm16!";
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	ev = last_ev(&n.b, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_NO_PROPOSAL);
	assert_non_null(strstr(ev->text, "aes128-sha1"));
	assert_non_null(strstr(ev->text, "aes256gcm16"));
	assert_int_equal(last_ev(&n.a, IKE_EV_ERROR)->reason, IKE_R_NO_PROPOSAL);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	net_free(&n);
}

static void test_invalid_ke_retry(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	oa.ike = "aes256-sha256-ecp384-modp2048!"; /* KE in ecp384 first */
	ob.ike = "aes256-sha256-modp2048!";
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	assert_int_equal(n.a.sent_init, 2); /* one retry in the group B asked for */
	assert_non_null(strstr(last_ev(&n.a, IKE_EV_IKE_UP)->text, "modp2048"));
	net_free(&n);

	/* a group we never offered: the initiator gives up */
	oa = opts_a();
	ob = opts_b();
	oa.ike = "aes256-sha256-ecp384!";
	ob.ike = "aes256-sha256-ecp384-modp2048!";
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1); /* ecp384 is common: no retry */
	assert_int_equal(n.a.sent_init, 1);
	net_free(&n);
}

static void test_ts_mismatch_keeps_ike(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;

	(void)state;
	ob.remote_ts = "10.9.0.0/16"; /* no overlap with A's 10.1.0.0/16 */
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 0);
	ev = last_ev(&n.a, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_TS_UNACCEPTABLE);
	assert_int_equal(ev->notify, IKE_N_TS_UNACCEPTABLE);
	ev = last_ev(&n.b, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_TS_UNACCEPTABLE);
	assert_non_null(strstr(ev->text, "10.1.0.0/16"));
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	/* the IKE SA stays usable: a liveness check gets answered */
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
	net_free(&n);
}

static void test_strict_and_narrowing(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;

	(void)state;
	/* the partner proposes 10.0.0.0/8 <-> 0.0.0.0/0 (seed 001) */
	oa.local_ts = "10.0.0.0/8";
	oa.remote_ts = "0.0.0.0/0";
	ob.remote_ts = "10.1.0.0/16";
	ob.strict = true;
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	ev = last_ev(&n.b, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_TS_UNACCEPTABLE);
	assert_true(strlen(ev->text) > 20); /* the operator sees why */
	assert_int_equal(last_ev(&n.a, IKE_EV_ERROR)->reason, IKE_R_TS_UNACCEPTABLE);
	assert_int_equal(ksa_count(&n.b, true), 0);
	net_free(&n);

	/* default: narrowed to B's configuration, never wider */
	ob.strict = false;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	ev = last_ev(&n.b, IKE_EV_CHILD_INSTALL);
	assert_int_equal(ev->child_sa.ts_remote.n, 1);
	assert_int_equal(ev->child_sa.ts_remote.ts[0].start[0], 10);
	assert_int_equal(ev->child_sa.ts_remote.ts[0].start[1], 1);
	assert_int_equal(ev->child_sa.ts_remote.ts[0].end[1], 1);
	assert_int_equal(ev->child_sa.ts_local.ts[0].start[0], 192);
	net_free(&n);
}

static void test_transport_mode(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	oa.local_ts = "192.0.2.1[tcp/8080]";
	oa.remote_ts = "192.0.2.2";
	ob.local_ts = "192.0.2.2";
	ob.remote_ts = "192.0.2.1[tcp/8080]";
	oa.transport = ob.transport = true;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	assert_true(last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.transport);
	assert_true(last_ev(&n.b, IKE_EV_CHILD_INSTALL)->child_sa.transport);
	assert_int_equal(last_ev(&n.b, IKE_EV_CHILD_INSTALL)->child_sa.ts_remote.ts[0].proto, 6);
	net_free(&n);
}

/* drop the first `ctx` datagrams */
static bool drop_first(struct net *n, struct side *from, const struct ike_dgram *d)
{
	unsigned int *left = n->ctx;

	(void)from;
	(void)d;
	if (*left) {
		(*left)--;
		return true;
	}
	return false;
}

static void test_loss_retransmit(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	unsigned int left = 3; /* INIT, and its first two retransmissions */

	(void)state;
	net_setup2(&n, &oa, &ob);
	n.drop = drop_first;
	n.ctx = &left;
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 0);
	/* 4 s, then 4 * 1.8 = 7.2 s, then 12.96 s */
	run_until(&n, n.now + 3999);
	assert_int_equal(n.a.sent, 1);
	run_until(&n, n.now + 1);
	assert_int_equal(n.a.sent, 2);
	run_until(&n, n.now + 7199);
	assert_int_equal(n.a.sent, 2);
	run_until(&n, n.now + 1);
	assert_int_equal(n.a.sent, 3);
	run_until(&n, n.now + 12960);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	check_consistent(&n);
	net_free(&n);
}

/* drop every datagram B sends after the first `ctx` */
static bool drop_b_after(struct net *n, struct side *from, const struct ike_dgram *d)
{
	unsigned int *left = n->ctx;

	(void)d;
	if (from != &n->b)
		return false;
	if (*left) {
		(*left)--;
		return false;
	}
	return true;
}

static void test_auth_response_lost(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	unsigned int left = 1; /* B's INIT response passes, its first AUTH response is lost */

	(void)state;
	net_setup2(&n, &oa, &ob);
	n.drop = drop_b_after;
	n.ctx = &left;
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 0);
	n.drop = NULL;
	/* A retransmits IKE_AUTH: B answers from its cache and does not process it twice */
	run_until(&n, n.now + 4000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_INSTALL, 0), 2);
	check_consistent(&n);
	net_free(&n);
}

/* capture the datagrams A sends (for replays) */
struct capture {
	uint8_t data[8][2048];
	size_t len[8];
	unsigned int n;
};

static bool capture_a(struct net *n, struct side *from, const struct ike_dgram *d)
{
	struct capture *c = n->ctx;

	if (from == &n->a && c->n < 8 && d->len <= sizeof(c->data[0])) {
		memcpy(c->data[c->n], d->data, d->len);
		c->len[c->n++] = d->len;
	}
	return false;
}

/* drop every datagram A sends after the first `ctx` */
static bool drop_a_after(struct net *n, struct side *from, const struct ike_dgram *d)
{
	unsigned int *left = n->ctx;

	(void)d;
	if (from != &n->a)
		return false;
	if (*left) {
		(*left)--;
		return false;
	}
	return true;
}

static void test_duplicates_and_window(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct capture cap = { 0 };
	struct ike_output o1, o2;

	(void)state;
	oa.dpd_delay = 10;
	net_setup2(&n, &oa, &ob);
	n.drop = capture_a;
	n.ctx = &cap;
	establish(&n, &n.a);
	assert_int_equal(cap.n, 2); /* INIT, AUTH */
	/* a duplicate IKE_AUTH request gets the identical cached response, nothing else */
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[1], cap.len[1]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o1), 1);
	assert_int_equal(o1.kind, IKE_OUT_DGRAM);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o2), 0);
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[1], cap.len[1]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o2), 1);
	assert_int_equal(o1.dgram.len, o2.dgram.len);
	assert_memory_equal(o1.dgram.data, o2.dgram.data, o1.dgram.len);
	ike_output_free(&o1);
	ike_output_free(&o2);
	/* a duplicate IKE_SA_INIT is answered from the cache as well */
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[0], cap.len[0]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o1), 0); /* SA is established now */
	/* a liveness check (message 2) moves the window */
	run_until(&n, n.now + 10000);
	assert_int_equal(cap.n, 3);
	/* message 1 is now outside the window: silently dropped */
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[1], cap.len[1]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o1), 0);
	/* message 2 again: the cached response */
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[2], cap.len[2]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o1), 1);
	ike_output_free(&o1);
	/* a tampered message is dropped without an answer (integrity check) */
	cap.data[2][cap.len[2] - 1] ^= 1;
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[2], cap.len[2]);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o1), 0);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, 0), 0);
	net_free(&n);
}

static bool drop_all_b(struct net *n, struct side *from, const struct ike_dgram *d)
{
	(void)d;
	return from == &n->b;
}

static void test_retransmit_exhausted(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	uint64_t t0;

	(void)state;
	net_setup2(&n, &oa, &ob);
	n.drop = drop_all_b;
	t0 = n.now;
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	/* 4 + 7.2 + 12.96 + 23.33 + 41.99 = 89.48 s of retransmissions, then 75.58 s more */
	run_until(&n, t0 + 165000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 0);
	assert_int_equal(n.a.sent, 6);
	run_until(&n, t0 + 166000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_DEAD_PEER), 1);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 0);
	/* B's half-open SA times out silently */
	run_until(&n, t0 + 200000);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, 0), 0);
	net_free(&n);
}

/* ---- step 4: rekey, delete, collisions, DPD, lifetimes ----------------------------------------- */

static void test_child_rekey(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	uint32_t old_in_a, old_out_a;
	const struct ike_event *ev;
	unsigned int i, sw = 0, del = 0;

	(void)state;
	oa.child_life = 1800;
	oa.margin = 180;
	oa.fuzz = 10;
	ob.child_life = 3600; /* B would rekey later: A is the rekey initiator */
	ob.margin = 180;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	ev = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	old_in_a = ev->child_sa.spi_in;
	old_out_a = ev->child_sa.spi_out;
	/* the rekey happens between lifetime - margin - fuzz and lifetime - margin */
	run_until(&n, n.now + (1800 - 180 - 18) * 1000 - 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0), 2);
	run_until(&n, n.now + 18 * 1000 + 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0), 4);
	/* B: new inbound at once, outbound held until A's DELETE of the old SA arrived, then
	 * the old pair is deleted */
	for (i = 0; i < n.b.n_ev; i++) {
		if (n.b.ev[i]->type == IKE_EV_CHILD_SWITCH_OUT) {
			sw++;
			assert_int_equal(n.b.ev[i]->child_sa.old_spi, old_in_a);
			assert_int_equal(del, 0);
		}
		if (n.b.ev[i]->type == IKE_EV_CHILD_DELETE) {
			del++;
			assert_int_equal(sw, 1);
			assert_int_equal(n.b.ev[i]->reason, IKE_R_REKEYED);
		}
	}
	assert_int_equal(sw, 1);
	assert_int_equal(del, 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, IKE_R_REKEYED), 1);
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.a, false), 1);
	assert_int_equal(ksa_count(&n.b, true), 1);
	assert_int_equal(ksa_count(&n.b, false), 1);
	assert_null(ksa_find(&n.a, old_in_a, true));
	assert_null(ksa_find(&n.a, old_out_a, false));
	check_consistent(&n);
	/* the soft lifetime reported is the fuzzed rekey time */
	ev = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	assert_true(ev->child_sa.soft_s >= 1800 - 180 - 18 && ev->child_sa.soft_s <= 1800 - 180);
	assert_int_equal(ev->child_sa.hard_s, 1800);
	net_free(&n);
}

static void test_child_rekey_traffic_switch(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;
	unsigned int left;
	uint32_t new_in_b;

	(void)state;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	/* A rekeys (soft expire from its kernel), then A's datagrams are lost from its DELETE of
	 * the old SA on: B still switches its outbound SA, by the fallback timer (30 s) */
	ev = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	assert_int_equal(ike_engine_expire(n.a.eng, n.now, ev->child_sa.spi_in, false), 0);
	left = 1; /* the CREATE_CHILD_SA request passes */
	n.ctx = &left;
	n.drop = drop_a_after;
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_INSTALL, 0), 3);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_SWITCH_OUT, 0), 0);
	run_until(&n, n.now + 29999);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_SWITCH_OUT, 0), 0);
	run_until(&n, n.now + 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_SWITCH_OUT, 0), 1);
	net_free(&n);

	/* same again, but B learns of the switch from traffic on its new inbound SA */
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	ev = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	assert_int_equal(ike_engine_expire(n.a.eng, n.now, ev->child_sa.spi_in, false), 0);
	{
		struct ike_output o;
		int step;

		/* A: CREATE_CHILD_SA request -> B; B answers -> A (A queues DELETE, held here) */
		for (step = 0; step < 2; step++) {
			struct side *s = step ? &n.b : &n.a, *t = step ? &n.a : &n.b;

			while (ike_engine_next_output(s->eng, &o)) {
				if (o.kind == IKE_OUT_EVENT) {
					record(s, o.ev);
					o.ev = NULL;
				} else {
					ike_engine_input(t->eng, n.now, &o.dgram.remote,
							 &o.dgram.local, o.dgram.data, o.dgram.len);
				}
				ike_output_free(&o);
			}
		}
	}
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_SWITCH_OUT, 0), 0);
	ev = last_ev(&n.b, IKE_EV_CHILD_INSTALL);
	assert_true(ev->child_sa.inbound);
	new_in_b = ev->child_sa.spi;
	ike_engine_child_traffic(n.b.eng, n.now, new_in_b);
	{
		struct ike_output o;

		assert_int_equal(ike_engine_next_output(n.b.eng, &o), 1);
		assert_int_equal(o.kind, IKE_OUT_EVENT);
		assert_int_equal(o.ev->type, IKE_EV_CHILD_SWITCH_OUT);
		record(&n.b, o.ev);
		o.ev = NULL;
		ike_output_free(&o);
	}
	pump(&n); /* A's DELETE of the old SA */
	assert_int_equal(ksa_count(&n.b, true), 1);
	assert_int_equal(ksa_count(&n.b, false), 1);
	check_consistent(&n);
	net_free(&n);
}

/* hold every datagram in flight until released: simultaneous requests cross */
struct holdq {
	struct {
		struct side *to;
		struct ike_addr local, remote;
		uint8_t data[2048];
		size_t len;
	} q[16];
	unsigned int n;
	bool hold;
};

static bool hold_all(struct net *n, struct side *from, const struct ike_dgram *d)
{
	struct holdq *h = n->ctx;

	if (!h->hold)
		return false;
	assert_true(h->n < 16 && d->len <= 2048);
	h->q[h->n].to = from == &n->a ? &n->b : &n->a;
	h->q[h->n].local = d->remote;
	h->q[h->n].remote = d->local;
	memcpy(h->q[h->n].data, d->data, d->len);
	h->q[h->n].len = d->len;
	h->n++;
	return true;
}

static void release(struct net *n, struct holdq *h)
{
	unsigned int cnt = h->n;

	h->n = 0;
	for (unsigned int i = 0; i < cnt; i++)
		ike_engine_input(h->q[i].to->eng, n->now, &h->q[i].local, &h->q[i].remote,
				 h->q[i].data, h->q[i].len);
}

/* Outbound SAs side s installed (INSTALL or SWITCH_OUT) from its event index from on. */
static unsigned int count_out_installs(const struct side *s, unsigned int from)
{
	unsigned int c = 0;

	for (unsigned int i = from; i < s->n_ev; i++)
		if ((s->ev[i]->type == IKE_EV_CHILD_INSTALL ||
		     s->ev[i]->type == IKE_EV_CHILD_SWITCH_OUT) &&
		    !s->ev[i]->child_sa.inbound)
			c++;
	return c;
}

static void test_child_rekey_collision(void **state)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct net n;
		struct cfg_opts oa = opts_a(), ob = opts_b();
		struct holdq h = { 0 };
		const struct ike_event *ea, *eb;
		unsigned int na, nb;

		(void)state;
		net_setup2(&n, &oa, &ob);
		n.a.rng ^= seed * 0x9E3779B97F4A7C15ULL; /* vary which nonce is lowest */
		establish(&n, &n.a);
		ea = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
		eb = last_ev(&n.b, IKE_EV_CHILD_INSTALL);
		na = n.a.n_ev;
		nb = n.b.n_ev;
		n.drop = hold_all;
		n.ctx = &h;
		h.hold = true;
		/* both sides start a rekey of the same CHILD SA at the same time */
		assert_int_equal(ike_engine_expire(n.a.eng, n.now, ea->child_sa.spi_in, false), 0);
		assert_int_equal(ike_engine_expire(n.b.eng, n.now, eb->child_sa.spi_in, false), 0);
		pump(&n);
		assert_int_equal(h.n, 2); /* the two requests cross */
		release(&n, &h);
		pump(&n); /* the two responses */
		assert_int_equal(h.n, 2);
		release(&n, &h);
		h.hold = false;
		run_until(&n, n.now + 60000);
		/* exactly one CHILD SA pair survives on each side, and they match */
		assert_int_equal(ksa_count(&n.a, true), 1);
		assert_int_equal(ksa_count(&n.a, false), 1);
		assert_int_equal(ksa_count(&n.b, true), 1);
		assert_int_equal(ksa_count(&n.b, false), 1);
		check_consistent(&n);
		/* and it is not the original one */
		assert_null(ksa_find(&n.a, ea->child_sa.spi_in, true));
		/* the redundant SA never carried traffic: each side installed one new outbound SA,
		 * the survivor's (the kernel sends on the newest) */
		assert_int_equal(count_out_installs(&n.a, na), 1);
		assert_int_equal(count_out_installs(&n.b, nb), 1);
		net_free(&n);
	}
}

static void test_ike_rekey(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *up1, *up2;

	(void)state;
	oa.ike_life = 1800;
	oa.margin = 180;
	oa.dpd_delay = 30;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	up1 = last_ev(&n.a, IKE_EV_IKE_UP);
	run_until(&n, n.now + 1800 * 1000 - 180 * 1000 + 1000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 2);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 2);
	up2 = last_ev(&n.a, IKE_EV_IKE_UP);
	assert_true(memcmp(up1->spi_i, up2->spi_i, IKE_SPI_LEN) != 0);
	assert_memory_equal(up2->spi_i, last_ev(&n.b, IKE_EV_IKE_UP)->spi_i, IKE_SPI_LEN);
	assert_memory_equal(up2->spi_r, last_ev(&n.b, IKE_EV_IKE_UP)->spi_r, IKE_SPI_LEN);
	run_until(&n, n.now + 30000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_REKEYED), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, IKE_R_REKEYED), 1);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
	/* the CHILD SA survived the IKE rekey untouched */
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, 0), 0);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);
	/* and is rekeyed, and deleted, through the new IKE SA */
	assert_int_equal(ike_engine_expire(n.b.eng, n.now,
					   last_ev(&n.b, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					   false),
			 0);
	run_until(&n, n.now + 1000);
	/* A answered this rekey: its new outbound SA came as SWITCH_OUT */
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0), 3);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_SWITCH_OUT, 0), 1);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);
	assert_int_equal(ike_engine_delete(n.a.eng, n.now, "peer", NULL), 0);
	run_until(&n, n.now + 1000);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 0);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	/* every IKE_UP got its IKE_DOWN */
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), count_ev(&n.a, IKE_EV_IKE_DOWN, 0));
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), count_ev(&n.b, IKE_EV_IKE_DOWN, 0));
	net_free(&n);
}

static void test_ike_rekey_collision(void **state)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct net n;
		struct cfg_opts oa = opts_a(), ob = opts_b();
		struct holdq h = { 0 };

		(void)state;
		oa.ike_life = ob.ike_life = 1000;
		oa.margin = ob.margin = 100;
		net_setup2(&n, &oa, &ob);
		n.b.rng ^= seed * 0x9E3779B97F4A7C15ULL;
		n.a.rng ^= seed * 0xD1B54A32D192ED03ULL;
		establish(&n, &n.a);
		n.drop = hold_all;
		n.ctx = &h;
		h.hold = true;
		/* both rekey timers fire at the same instant (no fuzz) */
		run_until(&n, n.now + 900 * 1000);
		assert_int_equal(h.n, 2);
		release(&n, &h);
		pump(&n);
		assert_int_equal(h.n, 2);
		release(&n, &h);
		h.hold = false;
		run_until(&n, n.now + 60000);
		assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
		assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
		assert_int_equal(
			count_ev(&n.a, IKE_EV_IKE_UP, 0) - count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 1);
		assert_int_equal(ksa_count(&n.a, true), 1);
		assert_int_equal(ksa_count(&n.b, true), 1);
		check_consistent(&n);
		/* the survivor works: a CHILD rekey goes through */
		assert_int_equal(
			ike_engine_expire(n.a.eng, n.now,
					  last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					  false),
			0);
		run_until(&n, n.now + 1000);
		assert_int_equal(ksa_count(&n.a, true), 1);
		assert_int_equal(ksa_count(&n.b, true), 1);
		check_consistent(&n);
		net_free(&n);
	}
}

/* Delivers held datagram i alone (and drops it from the queue). */
static void release_nth(struct net *n, struct holdq *h, unsigned int i)
{
	assert_true(i < h->n);
	ike_engine_input(h->q[i].to->eng, n->now, &h->q[i].local, &h->q[i].remote, h->q[i].data,
			 h->q[i].len);
	memmove(&h->q[i], &h->q[i + 1], (h->n - i - 1) * sizeof(h->q[0]));
	h->n--;
}

/* Delivers the first held datagram addressed to side to. */
static void release_to(struct net *n, struct holdq *h, const struct side *to)
{
	for (unsigned int i = 0; i < h->n; i++) {
		if (h->q[i].to == to) {
			release_nth(n, h, i);
			return;
		}
	}
	fail_msg("nothing held for %s", to->name);
}

/*
 * An IKE rekey collision that B's rekey wins before B ever sees A's request (seen against
 * strongSwan in the interop tier): A answers B's rekey while its own is in flight, B completes
 * and deletes the old IKE SA, and A's request then reaches B's old SA, which refuses it with
 * TEMPORARY_FAILURE (§2.25). Whether A sees the DELETE (variant 0) or the TEMPORARY_FAILURE
 * (variant 1) first, the old SA was rekeyed into B's new one, which carries the CHILD SA: A must
 * report IKE_DOWN(REKEYED), not a peer delete, and keep the tunnel on B's SA without retrying.
 */
static void test_ike_rekey_collision_peer_finishes_first(void **state)
{
	for (int variant = 0; variant < 2; variant++) {
		struct net n;
		struct cfg_opts oa = opts_a(), ob = opts_b();
		struct holdq h = { 0 };

		(void)state;
		oa.ike_life = ob.ike_life = 1000;
		oa.margin = ob.margin = 100;
		net_setup2(&n, &oa, &ob);
		establish(&n, &n.a);
		n.drop = hold_all;
		n.ctx = &h;
		h.hold = true;
		run_until(&n, n.now + 900 * 1000);
		assert_int_equal(h.n, 2); /* [A's request RA -> B, B's request RB -> A] */
		release_to(&n, &h, &n.a); /* RB: A answers, its own RA still out */
		pump(&n);
		assert_int_equal(h.n, 2); /* [RA -> B, answer -> B] */
		/* B gets the answer (RA, older, is still in flight): its rekey is done, it deletes
		 * the old IKE SA */
		release_nth(&n, &h, 1);
		pump(&n);
		assert_int_equal(h.n, 2); /* [RA -> B, DELETE(old IKE SA) -> A] */
		if (variant == 1) {
			release_to(&n, &h, &n.b); /* RA reaches B's leaving SA */
			pump(&n);
			assert_int_equal(h.n, 2); /* [DELETE -> A, TEMPORARY_FAILURE -> A] */
			release_nth(&n, &h, 1);	  /* the TEMPORARY_FAILURE first */
		}
		release_to(&n, &h, &n.a); /* the DELETE */
		pump(&n);
		h.hold = false;
		release(&n, &h);
		run_until(&n, n.now + 60000);
		assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_PEER_DELETE), 0);
		assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0),
				 count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_REKEYED));
		assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, 0), 0);
		assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
		assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
		assert_int_equal(
			count_ev(&n.a, IKE_EV_IKE_UP, 0) - count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 1);
		assert_int_equal(ksa_count(&n.a, true), 1);
		assert_int_equal(ksa_count(&n.b, true), 1);
		check_consistent(&n);
		/* and the surviving IKE SA carries a CHILD rekey */
		assert_int_equal(
			ike_engine_expire(n.a.eng, n.now,
					  last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					  false),
			0);
		run_until(&n, n.now + 1000);
		assert_int_equal(ksa_count(&n.a, true), 1);
		assert_int_equal(ksa_count(&n.b, true), 1);
		check_consistent(&n);
		net_free(&n);
	}
}

static void test_delete(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	assert_int_equal(ike_engine_delete(n.b.eng, n.now, "peer", "net"), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, IKE_R_PEER_DELETE), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_DELETE, IKE_R_LOCAL_DELETE), 1);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	assert_int_equal(ksa_count(&n.a, false) + ksa_count(&n.b, false), 0);
	/* re-create it over the same IKE SA (CREATE_CHILD_SA) */
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", "net"), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.b, false), 1);
	check_consistent(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	/* delete the IKE SA: both sides report it and its child */
	assert_int_equal(ike_engine_delete(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_LOCAL_DELETE), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, IKE_R_PEER_DELETE), 1);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 0);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	net_free(&n);
}

static void test_pfs_create_child(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	/* S1: esp aes256-sha256 with PFS ecp384 */
	oa.esp = ob.esp = "aes256-sha256-ecp384";
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	assert_int_equal(ike_engine_expire(n.a.eng, n.now,
					   last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					   false),
			 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0), 4);
	check_consistent(&n);
	net_free(&n);

	/* the responder wants another PFS group: INVALID_KE then retry */
	oa.esp = "aes256-sha256-ecp384-modp2048";
	ob.esp = "aes256-sha256-modp2048!";
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	assert_int_equal(ike_engine_expire(n.a.eng, n.now,
					   last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					   false),
			 0);
	run_until(&n, n.now + 1000);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);
	net_free(&n);
}

static void test_dpd_under_loss(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	uint64_t t0;

	(void)state;
	oa.dpd_delay = 10;
	oa.dpd_timeout = 30;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	/* idle: a liveness check every 10 s, answered */
	t0 = n.now;
	run_until(&n, t0 + 35000);
	assert_int_equal(n.a.sent, 2 + 3);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 0);
	/* the peer vanishes: the next check is due 10 s after the last answer (at 30 s, so
	 * t0 + 5 s); it is declared dead 30 s later, not after the 165 s of the default
	 * backoff, with retransmissions at 4, 11.2 and 24.16 s */
	n.drop = drop_all_b;
	t0 = n.now;
	run_until(&n, t0 + 5000 + 29999);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 0);
	assert_int_equal(n.a.sent, 2 + 3 + 4);
	run_until(&n, t0 + 5000 + 30000);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, IKE_R_DEAD_PEER), 1);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, IKE_R_DEAD_PEER), 1);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.a, false), 0);
	net_free(&n);
}

static void test_lifetime_hard_and_reestablish(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	/* no margin: the CHILD SA is never rekeyed, it expires and is deleted */
	oa.child_life = 600;
	oa.margin = 600;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	run_until(&n, n.now + 600 * 1000 + 1000);
	/* a margin equal to the lifetime is clamped to half of it: rekeyed at 300 s */
	assert_true(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0) >= 4);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);
	/* a hard expiry from the kernel deletes the pair on both sides */
	assert_int_equal(ike_engine_expire(n.a.eng, n.now,
					   last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_out,
					   true),
			 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	/* an acquire re-creates it */
	assert_int_equal(ike_engine_acquire(n.a.eng, n.now, 7, NULL, NULL), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);
	net_free(&n);
}

static void test_half_open_and_cookies(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pb;
	struct ike_child_cfg cb;
	struct ike_engine_cfg ec;

	(void)state;
	net_setup2(&n, &oa, &ob);
	/* B demands cookies from the first half-open SA on */
	make_peer(&pb, &cb, &n.b, &n.a, &ob);
	ike_engine_free(n.b.eng);
	ec = (struct ike_engine_cfg){ .peers = &pb,
				      .n_peers = 1,
				      .random = test_rand,
				      .random_ctx = &n.b,
				      .cookie_threshold = 1 };
	n.b.eng = ike_engine_new(&ec);
	assert_non_null(n.b.eng);
	/* one half-open SA from a host that never completes */
	{
		struct side c;
		struct ike_peer_cfg pc;
		struct ike_child_cfg cc;
		struct ike_output o;
		struct cfg_opts oc = opts_a();

		side_init(&c, "east", "192.0.2.1", 77);
		make_peer(&pc, &cc, &c, &n.b, &oc);
		side_start(&c, &pc);
		assert_int_equal(ike_engine_initiate(c.eng, n.now, "peer", NULL), 0);
		assert_int_equal(ike_engine_next_output(c.eng, &o), 1);
		ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, o.dgram.data, o.dgram.len);
		ike_output_free(&o);
		assert_int_equal(ike_engine_next_output(n.b.eng, &o), 1); /* answered, half-open */
		ike_output_free(&o);
		ike_engine_free(c.eng);
	}
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
	/* A must now echo a COOKIE: three IKE_SA_INITs from A's view (challenge, retry) */
	establish(&n, &n.a);
	assert_int_equal(n.a.sent_init, 2);
	/* the half-open SA expires after 30 s, silently */
	run_until(&n, n.now + 31000);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
	net_free(&n);
}

static void test_initial_contact(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa;
	struct ike_child_cfg ca;

	(void)state;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	/* A restarts (loses all state) and connects again with INITIAL_CONTACT */
	ike_engine_free(n.a.eng);
	memset(n.a.sa, 0, sizeof(n.a.sa));
	make_peer(&pa, &ca, &n.a, &n.b, &oa);
	side_start(&n.a, &pa);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, IKE_R_INITIAL_CONTACT), 1);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 1);
	assert_int_equal(ksa_count(&n.b, true), 1);
	check_consistent(&n);
	net_free(&n);
}

static void test_nat_traversal(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pb;
	struct ike_child_cfg cb;
	const struct ike_event *ea, *eb;

	(void)state;
	/* seed 004: A (FQDN id @east) behind a NAT, B accepts any remote address */
	net_setup2(&n, &oa, &ob);
	n.nat = true;
	addr4(&n.nat_pub, "203.0.113.5", 0);
	make_peer(&pb, &cb, &n.b, &n.a, &ob);
	pb.remote.family = 0;
	ike_engine_free(n.b.eng);
	side_start(&n.b, &pb);
	establish(&n, &n.a);
	ea = last_ev(&n.a, IKE_EV_CHILD_INSTALL);
	eb = last_ev(&n.b, IKE_EV_CHILD_INSTALL);
	/* both sides encapsulate ESP in UDP between the floated 4500 ports */
	assert_true(ea->child_sa.encap);
	assert_true(eb->child_sa.encap);
	assert_false(ea->child_sa.inbound);
	assert_int_equal(ea->child_sa.src.port, 4500);
	assert_int_equal(ea->child_sa.dst.port, 4500);
	assert_int_equal(eb->child_sa.dst.port, 40001); /* B sends to the NAT's mapping */
	assert_int_equal(eb->child_sa.dst.addr[0], 203);
	assert_non_null(strstr(last_ev(&n.a, IKE_EV_IKE_UP)->text, "we are behind NAT"));
	assert_non_null(strstr(last_ev(&n.b, IKE_EV_IKE_UP)->text, "peer behind NAT"));
	assert_int_equal(n.nat_marker, 2); /* IKE_AUTH and its answer travel on 4500 */
	/* a rekey over the NAT still works */
	assert_int_equal(ike_engine_expire(n.b.eng, n.now, eb->child_sa.spi_out, false), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.b, false), 1);
	check_consistent(&n);
	net_free(&n);
}

static void test_fragmentation(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa, pb;
	struct ike_child_cfg ca, cb;
	struct ike_engine_cfg ec;

	(void)state;
	/* RFC 7383: with a small fragment size, IKE_AUTH and later messages go as SKF */
	oa.local_ts = "10.1.0.0/16,10.2.0.0/16,10.3.0.0/16,10.4.0.0/16,10.5.0.0/16,10.6.0.0/16";
	ob.remote_ts = oa.local_ts;
	net_setup2(&n, &oa, &ob);
	make_peer(&pa, &ca, &n.a, &n.b, &oa);
	make_peer(&pb, &cb, &n.b, &n.a, &ob);
	ike_engine_free(n.a.eng);
	ike_engine_free(n.b.eng);
	ec = (struct ike_engine_cfg){
		.peers = &pa, .n_peers = 1, .random = test_rand, .random_ctx = &n.a, .frag_mtu = 120
	};
	n.a.eng = ike_engine_new(&ec);
	ec.peers = &pb;
	ec.random_ctx = &n.b;
	n.b.eng = ike_engine_new(&ec);
	assert_non_null(n.a.eng);
	assert_non_null(n.b.eng);
	establish(&n, &n.a);
	assert_true(n.a.sent > 3); /* IKE_AUTH request in several fragments */
	assert_true(n.b.sent > 2);
	assert_int_equal(last_ev(&n.b, IKE_EV_CHILD_INSTALL)->child_sa.ts_remote.n, 6);
	/* a CHILD rekey in fragments too */
	assert_int_equal(ike_engine_expire(n.a.eng, n.now,
					   last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					   false),
			 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.b, true), 1);
	check_consistent(&n);
	net_free(&n);
}

static void test_unknown_critical_payload(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_wbuf inner, w;
	struct ike_chain c;
	struct ike_hdr h = { 0 };
	struct ike_output o;
	struct ike_msg m;
	struct ike_pld_notify nt;
	size_t off;
	static const uint8_t nonce[32] = { 1 };

	(void)state;
	net_setup2(&n, &oa, &ob);
	ike_wbuf_init(&inner);
	ike_wbuf_init(&w);
	ike_chain_init(&c, &inner);
	ike_build_nonce(&c, nonce, sizeof(nonce));
	off = ike_chain_begin(&c, 200, true); /* unknown type, critical bit set (§2.5) */
	ike_wbuf_put(&inner, "x", 1);
	ike_chain_end(&c, off);
	memset(h.spi_i, 0x42, IKE_SPI_LEN);
	h.version = IKE_VERSION_2;
	h.exchange = IKE_SA_INIT;
	h.flags = IKE_FLAG_INITIATOR;
	assert_int_equal(ike_msg_build(&h, c.first, inner.buf, inner.len, &w), 0);
	assert_int_equal(ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, w.buf, w.len), 0);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o), 1);
	assert_int_equal(o.kind, IKE_OUT_DGRAM);
	assert_int_equal(ike_msg_parse(o.dgram.data, o.dgram.len, &m), 0);
	assert_true(m.hdr.flags & IKE_FLAG_RESPONSE);
	assert_int_equal(m.n_pld, 1);
	assert_int_equal(ike_pld_notify(m.pld[0].body, m.pld[0].len, &nt), 0);
	assert_int_equal(nt.type, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	assert_int_equal(nt.len, 1);
	assert_int_equal(nt.data[0], 200);
	ike_msg_free(&m);
	ike_output_free(&o);
	/* the same payload without the critical bit is ignored: the request lacks SA/KE and is
	 * refused as INVALID_SYNTAX instead */
	ike_wbuf_reset(&inner);
	ike_wbuf_reset(&w);
	ike_chain_init(&c, &inner);
	ike_build_nonce(&c, nonce, sizeof(nonce));
	off = ike_chain_begin(&c, 200, false);
	ike_chain_end(&c, off);
	assert_int_equal(ike_msg_build(&h, c.first, inner.buf, inner.len, &w), 0);
	assert_int_equal(ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, w.buf, w.len), 0);
	assert_int_equal(ike_engine_next_output(n.b.eng, &o), 1);
	assert_int_equal(ike_msg_parse(o.dgram.data, o.dgram.len, &m), 0);
	assert_int_equal(ike_pld_notify(m.pld[0].body, m.pld[0].len, &nt), 0);
	assert_int_equal(nt.type, IKE_N_INVALID_SYNTAX);
	ike_msg_free(&m);
	ike_output_free(&o);
	assert_int_equal(ike_engine_foreach_sa(n.b.eng, NULL, NULL), 0);
	ike_wbuf_free(&inner);
	ike_wbuf_free(&w);
	net_free(&n);
}

/* Cisco-style: one TS pair per CHILD SA, two children to one peer */
static void test_two_children(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa, pb;
	struct ike_child_cfg ca[2], cb[2];

	(void)state;
	net_setup2(&n, &oa, &ob);
	make_peer(&pa, &ca[0], &n.a, &n.b, &oa);
	make_peer(&pb, &cb[0], &n.b, &n.a, &ob);
	ca[1] = ca[0];
	cb[1] = cb[0];
	snprintf(ca[1].name, sizeof(ca[1].name), "net2");
	snprintf(cb[1].name, sizeof(cb[1].name), "net2");
	ca[1].reqid = cb[1].reqid = 8;
	ts_list(&ca[1].remote_ts, "172.16.1.0/24");
	ts_list(&cb[1].local_ts, "172.16.1.0/24");
	pa.n_children = pb.n_children = 2;
	pa.children = ca;
	pb.children = cb;
	ike_engine_free(n.a.eng);
	ike_engine_free(n.b.eng);
	side_start(&n.a, &pa);
	side_start(&n.b, &pb);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 2);
	assert_int_equal(ksa_count(&n.b, true), 2);
	check_consistent(&n);
	/* the responder matched each proposal to its own child by selectors */
	for (int i = 0; i < MAX_SAS; i++)
		if (n.b.sa[i].used)
			assert_int_equal(n.b.sa[i].reqid,
					 n.b.sa[i].ts_local.ts[0].start[0] == 172 ? 8 : 7);
	/* an ACQUIRE with the triggering packet proposes its selectors first (§2.9) */
	assert_int_equal(ike_engine_delete(n.a.eng, n.now, "peer", "net"), 0);
	pump(&n);
	{
		struct ike_ts src, dst;
		char err[64];

		assert_int_equal(ike_ts_parse("10.1.2.3[udp/5000]", &src, err, sizeof(err)), 0);
		assert_int_equal(ike_ts_parse("192.168.88.7[udp/53]", &dst, err, sizeof(err)), 0);
		assert_int_equal(ike_engine_acquire(n.a.eng, n.now, 7, &src, &dst), 0);
	}
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 2);
	check_consistent(&n);
	net_free(&n);
}

/* S8 (seed 003): two transport children per host, "my clients to your 8080" and "your clients to
 * my 8080", listed in opposite orders on the two sides. Each proposal must land on the child whose
 * selectors cover it exactly, not on the first one it merely intersects (which narrows it to
 * tcp/8080 === tcp/8080, an SA no connection ever uses). */
static void test_transport_best_child(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa, pb;
	struct ike_child_cfg ca[2], cb[2];
	unsigned int seen = 0;

	(void)state;
	oa.transport = ob.transport = true;
	oa.local_ts = "192.0.2.1[tcp]";
	oa.remote_ts = "192.0.2.2[tcp/8080]";
	ob.local_ts = "192.0.2.2[tcp]";
	ob.remote_ts = "192.0.2.1[tcp/8080]";
	net_setup2(&n, &oa, &ob);
	make_peer(&pa, &ca[0], &n.a, &n.b, &oa);
	make_peer(&pb, &cb[1], &n.b, &n.a, &ob);
	ca[1] = ca[0];
	cb[0] = cb[1];
	snprintf(ca[1].name, sizeof(ca[1].name), "serve");
	snprintf(cb[0].name, sizeof(cb[0].name), "serve");
	ca[1].reqid = cb[0].reqid = 8;
	ts_list(&ca[1].local_ts, "192.0.2.1[tcp/8080]");
	ts_list(&ca[1].remote_ts, "192.0.2.2[tcp]");
	ts_list(&cb[0].local_ts, "192.0.2.2[tcp/8080]");
	ts_list(&cb[0].remote_ts, "192.0.2.1[tcp]");
	pa.n_children = pb.n_children = 2;
	pa.children = ca;
	pb.children = cb;
	ike_engine_free(n.a.eng);
	ike_engine_free(n.b.eng);
	side_start(&n.a, &pa);
	side_start(&n.b, &pb);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 2);
	assert_int_equal(ksa_count(&n.b, true), 2);
	check_consistent(&n);
	for (int i = 0; i < MAX_SAS; i++) {
		const struct kernel_sa *k = &n.b.sa[i];
		bool local_8080;

		if (!k->used)
			continue;
		assert_int_equal(k->ts_local.n, 1);
		assert_int_equal(k->ts_remote.n, 1);
		local_8080 = k->ts_local.ts[0].port_lo == 8080 && k->ts_local.ts[0].port_hi == 8080;
		/* exactly one side of each SA is port 8080, and it is the child's own */
		assert_int_equal(local_8080, !(k->ts_remote.ts[0].port_lo == 8080 &&
					       k->ts_remote.ts[0].port_hi == 8080));
		assert_int_equal(k->reqid, local_8080 ? 8 : 7);
		seen |= 1u << (local_8080 ? 1 : 0);
	}
	assert_int_equal(seen, 3);
	net_free(&n);
}

/* B serves two peers from "any" address, told apart by identity (PSK per peer) */
static void test_peer_selection_by_id(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b(), ob2 = opts_b();
	struct ike_peer_cfg pb[2];
	struct ike_child_cfg cb[2];
	struct ike_engine_cfg ec;

	(void)state;
	for (int round = 0; round < 2; round++) {
		net_setup2(&n, &oa, &ob);
		ob2.psk = "east-psk";
		/* round 1: east's entry accepts only a suite the first entry did not negotiate */
		ob2.ike = round ? "aes128gcm16-prfsha256-ecp256!" : NULL;
		make_peer(&pb[0], &cb[0], &n.b, &n.a, &ob);
		make_peer(&pb[1], &cb[1], &n.b, &n.a, &ob2);
		snprintf(pb[0].name, sizeof(pb[0].name), "other");
		id_fqdn(&pb[0].remote_id, "somebody-else");
		pb[0].remote.family = pb[1].remote.family = 0;
		ike_engine_free(n.b.eng);
		ec = (struct ike_engine_cfg){
			.peers = pb, .n_peers = 2, .random = test_rand, .random_ctx = &n.b
		};
		n.b.eng = ike_engine_new(&ec);
		assert_non_null(n.b.eng);
		/* A uses east-psk too */
		{
			struct ike_peer_cfg pa;
			struct ike_child_cfg ca;
			struct cfg_opts o = opts_a();

			o.psk = "east-psk";
			make_peer(&pa, &ca, &n.a, &n.b, &o);
			ike_engine_free(n.a.eng);
			side_start(&n.a, &pa);
		}
		assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
		pump(&n);
		if (!round) {
			assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 1);
			assert_string_equal(last_ev(&n.b, IKE_EV_IKE_UP)->peer, "peer");
			check_consistent(&n);
		} else {
			assert_int_equal(count_ev(&n.b, IKE_EV_IKE_UP, 0), 0);
			assert_int_equal(count_ev(&n.a, IKE_EV_ERROR, IKE_R_AUTH_FAILED), 1);
		}
		net_free(&n);
	}
}

static void test_dpd_quiet_with_traffic(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	uint32_t spi;

	(void)state;
	oa.dpd_delay = 10;
	oa.dpd_timeout = 30;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	spi = last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in;
	/* inbound ESP every 5 s: no liveness check goes out */
	for (int i = 0; i < 10; i++) {
		run_until(&n, n.now + 5000);
		assert_int_equal(ike_engine_child_traffic(n.a.eng, n.now, spi), 0);
	}
	assert_int_equal(n.a.sent, 2);
	assert_int_equal(ike_engine_child_traffic(n.a.eng, n.now, 0xdeadbeef), -ENOENT);
	/* traffic stops: the check follows 10 s later */
	run_until(&n, n.now + 10000);
	assert_int_equal(n.a.sent, 3);
	net_free(&n);
}

/* §1.4.1: both ends delete the same CHILD SA at once; then a rekey crossing a delete */
static void test_delete_collisions(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct holdq h = { 0 };

	(void)state;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	n.drop = hold_all;
	n.ctx = &h;
	h.hold = true;
	assert_int_equal(ike_engine_delete(n.a.eng, n.now, "peer", "net"), 0);
	assert_int_equal(ike_engine_delete(n.b.eng, n.now, "peer", "net"), 0);
	pump(&n);
	assert_int_equal(h.n, 2);
	release(&n, &h);
	pump(&n);
	h.hold = false;
	release(&n, &h);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.a, false), 0);
	assert_int_equal(ksa_count(&n.b, true) + ksa_count(&n.b, false), 0);
	assert_int_equal(count_ev(&n.a, IKE_EV_ERROR, 0) + count_ev(&n.b, IKE_EV_ERROR, 0), 0);
	assert_int_equal(count_ev(&n.a, IKE_EV_CHILD_DELETE, 0), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_DELETE, 0), 1);
	/* the IKE SA is fine: a new CHILD SA comes up */
	assert_int_equal(ike_engine_initiate(n.b.eng, n.now, "peer", "net"), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	check_consistent(&n);

	/* A rekeys the CHILD SA while B deletes it: the SA ends up gone on both sides */
	h.hold = true;
	assert_int_equal(ike_engine_expire(n.a.eng, n.now,
					   last_ev(&n.a, IKE_EV_CHILD_INSTALL)->child_sa.spi_in,
					   false),
			 0);
	assert_int_equal(ike_engine_delete(n.b.eng, n.now, "peer", "net"), 0);
	pump(&n);
	assert_int_equal(h.n, 2);
	release(&n, &h);
	pump(&n);
	h.hold = false;
	release(&n, &h);
	run_until(&n, n.now + 60000);
	check_consistent(&n);
	assert_int_equal(ksa_count(&n.a, true), ksa_count(&n.b, true));
	assert_int_equal(ksa_count(&n.a, false), ksa_count(&n.b, false));
	assert_true(ksa_count(&n.a, true) <= 1);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	net_free(&n);
}

/* strict initiator (seed 001's fixed Azure side): a narrowed answer is refused and the CHILD SA
 * the responder installed is deleted again */
static void test_strict_initiator(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	const struct ike_event *ev;

	(void)state;
	oa.strict = true;
	ob.remote_ts = "10.1.1.0/24"; /* B narrows A's 10.1.0.0/16 */
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_UP, 0), 1);
	ev = last_ev(&n.a, IKE_EV_ERROR);
	assert_non_null(ev);
	assert_int_equal(ev->reason, IKE_R_TS_UNACCEPTABLE);
	assert_string_equal(ev->child, "net");
	/* B had installed it; A's DELETE removed it: nothing is left on either side */
	assert_int_equal(count_ev(&n.b, IKE_EV_CHILD_DELETE, IKE_R_PEER_DELETE), 1);
	assert_int_equal(ksa_count(&n.a, true) + ksa_count(&n.b, true), 0);
	assert_int_equal(ksa_count(&n.a, false) + ksa_count(&n.b, false), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	net_free(&n);

	/* the exact configuration is accepted */
	ob.remote_ts = "10.1.0.0/16";
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	net_free(&n);
}

/* errors a peer causes before authenticating are rate-limited (STYLE.md) */
static void test_error_rate_limit(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct capture cap = { 0 };

	(void)state;
	oa.ike = "aes128-sha256-modp2048!";
	ob.ike = "aes256gcm16-prfsha384-ecp384!";
	net_setup2(&n, &oa, &ob);
	n.drop = capture_a;
	n.ctx = &cap;
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_ERROR, IKE_R_NO_PROPOSAL), 1);
	n.drop = NULL;
	for (int i = 0; i < 100; i++)
		ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[0], cap.len[0]);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_ERROR, IKE_R_NO_PROPOSAL), 20);
	n.now += 1000;
	ike_engine_input(n.b.eng, n.now, &n.b.addr, &n.a.addr, cap.data[0], cap.len[0]);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_ERROR, IKE_R_NO_PROPOSAL), 21);
	net_free(&n);
}

/* both gateways start the tunnel at the same moment */
static void test_simultaneous_initiation(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();

	(void)state;
	net_setup2(&n, &oa, &ob);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	assert_int_equal(ike_engine_initiate(n.b.eng, n.now, "peer", NULL), 0);
	run_until(&n, n.now + 60000);
	assert_true(count_ev(&n.a, IKE_EV_IKE_UP, 0) >= 1);
	assert_true(ike_engine_foreach_sa(n.a.eng, NULL, NULL) >= 1);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL),
			 ike_engine_foreach_sa(n.b.eng, NULL, NULL));
	assert_true(ksa_count(&n.a, true) >= 1);
	assert_int_equal(ksa_count(&n.a, true), ksa_count(&n.b, true));
	check_consistent(&n);
	net_free(&n);
}

/* ---- reconfiguration (reload) ------------------------------------------------------------------- */

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

/* An unchanged peer keeps its IKE and CHILD SAs across a reload, and they go on working: the
 * CHILD SA still rekeys under the new copy of the configuration. */
static void test_reconfigure_keeps_unchanged(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa;
	struct ike_child_cfg ca;

	(void)state;
	oa.child_life = 1800;
	oa.margin = 180;
	ob.child_life = 3600;
	ob.margin = 180;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	make_peer(&pa, &ca, &n.a, &n.b, &oa);
	assert_int_equal(ike_engine_reconfigure(n.a.eng, n.now, &pa, 1, keep_all, NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.a, IKE_EV_IKE_DOWN, 0), 0);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, 0), 0);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	/* the old configuration is no longer referenced: overwrite the caller's copy */
	memset(&ca, 0xa5, sizeof(ca));
	run_until(&n, n.now + 1800 * 1000);
	assert_true(count_ev(&n.a, IKE_EV_CHILD_INSTALL, 0) >= 4); /* rekeyed */
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.b, true), 1);
	check_consistent(&n);
	net_free(&n);
}

/* A changed (or removed) peer's SAs are deleted with the peer; a new configuration can then
 * bring the tunnel up again; a duplicate name is refused and changes nothing. */
static void test_reconfigure_deletes_changed(void **state)
{
	struct net n;
	struct cfg_opts oa = opts_a(), ob = opts_b();
	struct ike_peer_cfg pa[2];
	struct ike_child_cfg ca[2];

	(void)state;
	net_setup2(&n, &oa, &ob);
	establish(&n, &n.a);
	make_peer(&pa[0], &ca[0], &n.a, &n.b, &oa);
	make_peer(&pa[1], &ca[1], &n.a, &n.b, &oa);
	assert_int_equal(ike_engine_reconfigure(n.a.eng, n.now, pa, 2, keep_all, NULL), -EINVAL);
	pump(&n);
	assert_int_equal(ike_engine_foreach_sa(n.a.eng, NULL, NULL), 1);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, 0), 0);
	assert_int_equal(ike_engine_reconfigure(n.a.eng, n.now, pa, 1, keep_none, NULL), 0);
	pump(&n);
	assert_int_equal(count_ev(&n.b, IKE_EV_IKE_DOWN, IKE_R_PEER_DELETE), 1);
	assert_int_equal(ksa_count(&n.a, true), 0);
	assert_int_equal(ksa_count(&n.b, true), 0);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 1);
	assert_int_equal(ksa_count(&n.b, true), 1);
	check_consistent(&n);
	/* removing the peer altogether */
	assert_int_equal(ike_engine_reconfigure(n.a.eng, n.now, NULL, 0, keep_all, NULL), 0);
	pump(&n);
	assert_int_equal(ksa_count(&n.a, true), 0);
	assert_int_equal(ike_engine_initiate(n.a.eng, n.now, "peer", NULL), -ENOENT);
	net_free(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_api),
		cmocka_unit_test(test_responder_only),
		cmocka_unit_test(test_handshake_combos),
		cmocka_unit_test(test_handshake_order_of_events),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_no_proposal),
		cmocka_unit_test(test_invalid_ke_retry),
		cmocka_unit_test(test_ts_mismatch_keeps_ike),
		cmocka_unit_test(test_strict_and_narrowing),
		cmocka_unit_test(test_transport_mode),
		cmocka_unit_test(test_loss_retransmit),
		cmocka_unit_test(test_auth_response_lost),
		cmocka_unit_test(test_duplicates_and_window),
		cmocka_unit_test(test_retransmit_exhausted),
		cmocka_unit_test(test_child_rekey),
		cmocka_unit_test(test_child_rekey_traffic_switch),
		cmocka_unit_test(test_child_rekey_collision),
		cmocka_unit_test(test_ike_rekey),
		cmocka_unit_test(test_ike_rekey_collision),
		cmocka_unit_test(test_ike_rekey_collision_peer_finishes_first),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_pfs_create_child),
		cmocka_unit_test(test_dpd_under_loss),
		cmocka_unit_test(test_lifetime_hard_and_reestablish),
		cmocka_unit_test(test_half_open_and_cookies),
		cmocka_unit_test(test_initial_contact),
		cmocka_unit_test(test_nat_traversal),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_unknown_critical_payload),
		cmocka_unit_test(test_two_children),
		cmocka_unit_test(test_transport_best_child),
		cmocka_unit_test(test_peer_selection_by_id),
		cmocka_unit_test(test_dpd_quiet_with_traffic),
		cmocka_unit_test(test_delete_collisions),
		cmocka_unit_test(test_strict_initiator),
		cmocka_unit_test(test_error_rate_limit),
		cmocka_unit_test(test_simultaneous_initiation),
		cmocka_unit_test(test_reconfigure_keeps_unchanged),
		cmocka_unit_test(test_reconfigure_deletes_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
