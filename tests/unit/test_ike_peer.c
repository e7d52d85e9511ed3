// SPDX-License-Identifier: GPL-2.0-only
/*
 * An IKE engine facing a scripted, authenticated peer: two engines complete IKE_SA_INIT and
 * IKE_AUTH, then the test writes the peer's next messages itself (payload chains sealed with the
 * established IKE SA's keys, read from the engine's private state in ike_sa.h) to drive exchanges
 * a well-behaved engine never produces. Holds the regression tests of what fuzz_ike_auth found:
 * a peer choosing an ESP SPI already in use (or a reserved one) for a new CHILD SA must not get
 * a second SA installed under that SPI, as responder nor as initiator.
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
#include "ike_sa.h"
#include "ike_ts.h"
#include "../lib/xorshift.h"

enum {
	MAX_OUT = 32,
};

struct pside {
	struct ike_engine *eng;
	struct ike_addr addr;
	uint64_t rng;
	unsigned int n_install, n_error;
	uint16_t last_error_notify;
	enum ike_reason last_error;
	struct ike_dgram out[MAX_OUT]; /* datagrams sent since the last clear */
	unsigned int n_out;
};

static struct pside ps[2]; /* A (initiator of the IKE SA), B */
static struct ike_peer_cfg pcfg[2];
static struct ike_child_cfg ccfg[2][2];
static const uint64_t now = 1000000;

static int prand(void *ctx, void *buf, size_t len)
{
	struct pside *s = ctx;

	xorshift_fill(&s->rng, buf, len);
	return 0;
}

static void addr4(struct ike_addr *a, const char *ip)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = 500;
	assert_int_equal(inet_pton(AF_INET, ip, a->addr), 1);
}

static void peer_cfg(int me)
{
	static const char *const names[2] = { "east", "west" };
	static const char *const ts[2][2] = { { "10.1.0.0/16", "192.168.88.0/24" },
					      { "10.2.0.0/16", "192.168.99.0/24" } };
	struct ike_peer_cfg *p = &pcfg[me];
	char err[IKE_PROP_ERR_LEN];

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "peer");
	p->local = ps[me].addr;
	p->remote = ps[!me].addr;
	p->local_id.type = p->remote_id.type = IKE_ID_FQDN;
	p->local_id.len = p->remote_id.len = 4;
	memcpy(p->local_id.data, names[me], 4);
	memcpy(p->remote_id.data, names[!me], 4);
	p->psk.ptr = (uint8_t *)(uintptr_t) "peer-psk";
	p->psk.len = 8;
	assert_int_equal(ike_prop_parse("aes256-sha256-x25519", IKE_PROTO_IKE, 0, &p->ike, NULL,
					err, sizeof(err)),
			 0);
	for (int i = 0; i < 2; i++) {
		struct ike_child_cfg *c = &ccfg[me][i];

		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), i ? "net2" : "net");
		c->reqid = (uint32_t)i + 1;
		assert_int_equal(ike_prop_parse("aes256-sha256", IKE_PROTO_ESP, 0, &c->esp, NULL,
						err, sizeof(err)),
				 0);
		assert_int_equal(ike_ts_parse(ts[i][me], &c->local_ts.ts[0], err, sizeof(err)), 0);
		assert_int_equal(ike_ts_parse(ts[i][!me], &c->remote_ts.ts[0], err, sizeof(err)),
				 0);
		c->local_ts.n = c->remote_ts.n = 1;
	}
	p->n_children = 2;
	p->children = ccfg[me];
}

static void out_clear(struct pside *s)
{
	for (unsigned int i = 0; i < s->n_out; i++)
		free(s->out[i].data);
	s->n_out = 0;
}

/* Collects both engines' outputs: counts events, keeps datagrams. */
static void collect(void)
{
	for (int i = 0; i < 2; i++) {
		struct ike_output o;

		while (ike_engine_next_output(ps[i].eng, &o)) {
			if (o.kind == IKE_OUT_DGRAM && ps[i].n_out < MAX_OUT) {
				ps[i].out[ps[i].n_out++] = o.dgram;
				o.dgram.data = NULL;
			} else if (o.kind == IKE_OUT_EVENT) {
				if (o.ev->type == IKE_EV_CHILD_INSTALL)
					ps[i].n_install++;
				if (o.ev->type == IKE_EV_ERROR) {
					ps[i].n_error++;
					ps[i].last_error = o.ev->reason;
					ps[i].last_error_notify = o.ev->notify;
				}
			}
			ike_output_free(&o);
		}
	}
}

/* A and B with one IKE SA and CHILD SA "net"; no datagram pending, counters reset. */
static int setup(void **state)
{
	(void)state;
	memset(ps, 0, sizeof(ps));
	addr4(&ps[0].addr, "192.0.2.1");
	addr4(&ps[1].addr, "192.0.2.2");
	for (int i = 0; i < 2; i++) {
		struct ike_engine_cfg ec = { .n_peers = 1, .random = prand };

		peer_cfg(i);
		ps[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		ec.peers = &pcfg[i];
		ec.random_ctx = &ps[i];
		ps[i].eng = ike_engine_new(&ec);
		assert_non_null(ps[i].eng);
	}
	assert_int_equal(ike_engine_initiate(ps[0].eng, now, "peer", "net"), 0);
	collect();
	for (int round = 0; round < 8 && (ps[0].n_out || ps[1].n_out); round++) {
		for (int i = 0; i < 2; i++) {
			for (unsigned int j = 0; j < ps[i].n_out; j++)
				ike_engine_input(ps[!i].eng, now, &ps[!i].addr, &ps[i].addr,
						 ps[i].out[j].data, ps[i].out[j].len);
			out_clear(&ps[i]);
		}
		collect();
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ps[i].n_install, 2);
		ps[i].n_install = 0;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		out_clear(&ps[i]);
		ike_engine_free(ps[i].eng);
	}
	return 0;
}

static struct ike_sa *the_sa(int who)
{
	struct ike_sa *sa = ps[who].eng->sas;

	assert_non_null(sa);
	assert_int_equal(sa->state, SA_ESTABLISHED);
	return sa;
}

/* The peer's message to engine who: the chain in inner, sealed with the IKE SA's keys. */
static void peer_send(int who, uint8_t exch, bool response, uint32_t mid, const struct ike_chain *c,
		      const struct ike_wbuf *inner)
{
	struct ike_sa *sa = the_sa(who);
	struct ike_sk_keys k;
	struct ike_hdr h = { .version = IKE_VERSION_2, .exchange = exch, .msgid = mid };
	struct ike_wbuf w;

	memcpy(h.spi_i, sa->spi_i, IKE_SPI_LEN);
	memcpy(h.spi_r, sa->spi_r, IKE_SPI_LEN);
	h.flags = (sa->initiator ? 0 : IKE_FLAG_INITIATOR) | (response ? IKE_FLAG_RESPONSE : 0);
	sa_sk_keys(sa, false, &k);
	ike_wbuf_init(&w);
	assert_int_equal(inner->err, 0);
	assert_int_equal(ike_sk_seal(&h, &k, c->first, inner->buf, inner->len, &w), 0);
	assert_int_equal(
		ike_engine_input(ps[who].eng, now, &ps[who].addr, &ps[!who].addr, w.buf, w.len), 0);
	ike_wbuf_free(&w);
	collect();
}

/* Opens the engine's datagram d (sent on its IKE SA) into m; ike_msg_free(m) afterwards. */
static void engine_msg(int who, const struct ike_dgram *d, struct ike_msg *m)
{
	struct ike_sk_keys k;

	sa_sk_keys(the_sa(who), true, &k);
	assert_int_equal(ike_msg_parse(d->data, d->len, m), 0);
	assert_int_equal(ike_sk_open(m, &k), 0);
}

/* SA (ESP aes256-sha256, proposal num, SPI spi), Nonce, TSi, TSr of child "net2" (A = TSi). */
static void ccsa_chain(struct ike_chain *c, uint8_t num, uint32_t spi)
{
	struct ike_prop_list pl;
	struct ike_ts_list tsi = { 0 }, tsr = { 0 };
	uint8_t nonce[32];
	char err[IKE_PROP_ERR_LEN];

	assert_int_equal(
		ike_prop_parse("aes256-sha256", IKE_PROTO_ESP, 0, &pl, NULL, err, sizeof(err)), 0);
	pl.prop[0].num = num;
	pl.prop[0].spi_len = 4;
	pl.prop[0].spi[0] = (uint8_t)(spi >> 24);
	pl.prop[0].spi[1] = (uint8_t)(spi >> 16);
	pl.prop[0].spi[2] = (uint8_t)(spi >> 8);
	pl.prop[0].spi[3] = (uint8_t)spi;
	memset(nonce, 0x5a, sizeof(nonce));
	assert_int_equal(ike_ts_parse("10.2.0.0/16", &tsi.ts[0], err, sizeof(err)), 0);
	assert_int_equal(ike_ts_parse("192.168.99.0/24", &tsr.ts[0], err, sizeof(err)), 0);
	tsi.n = tsr.n = 1;
	ike_build_sa(c, &pl);
	ike_build_nonce(c, nonce, sizeof(nonce));
	ike_build_ts(c, IKE_PLD_TSI, &tsi);
	ike_build_ts(c, IKE_PLD_TSR, &tsr);
}

/*
 * B answers a CREATE_CHILD_SA whose SPI is A's inbound SPI of child "net" (B's outbound: it
 * would be installed twice), B's own inbound SPI, 0 or reserved with NO_PROPOSAL_CHOSEN and
 * installs nothing; a fresh SPI in the same request is accepted.
 */
static void test_responder_refuses_spi_in_use(void **state)
{
	struct ike_child *net = the_sa(1)->children;
	const uint32_t spis[] = { net->spi_out, net->spi_in, 0, 255, 0x12345678 };

	(void)state;
	for (unsigned int i = 0; i < sizeof(spis) / sizeof(spis[0]); i++) {
		bool fresh = spis[i] == 0x12345678;
		struct ike_wbuf inner;
		struct ike_chain c;
		struct ike_msg m;
		struct ike_pld_notify n;

		ike_wbuf_init(&inner);
		ike_chain_init(&c, &inner);
		ccsa_chain(&c, 1, spis[i]);
		peer_send(1, IKE_CREATE_CHILD_SA, false, the_sa(1)->peer_mid, &c, &inner);
		ike_wbuf_free(&inner);
		assert_int_equal(ps[1].n_out, 1);
		engine_msg(1, &ps[1].out[0], &m);
		assert_true(m.hdr.flags & IKE_FLAG_RESPONSE);
		if (fresh) {
			assert_int_equal(ps[1].n_install, 2);
			assert_non_null(ike_msg_find(&m, IKE_PLD_SA));
		} else {
			assert_int_equal(ps[1].n_install, 0);
			assert_int_equal(msg_notify(&m, IKE_N_NO_PROPOSAL_CHOSEN, &n), 0);
			assert_int_equal(ps[1].last_error, IKE_R_NO_PROPOSAL);
		}
		ike_msg_free(&m);
		out_clear(&ps[1]);
	}
}

/*
 * A's CREATE_CHILD_SA for "net2" is answered with the SPI B already uses for "net" (A's
 * outbound), or SPI 0: A installs nothing and reports NO_PROPOSAL. For the SPI in use it sends no
 * DELETE naming it (that would delete the peer's SA of "net"); the answer with a fresh SPI
 * installs the child.
 */
static void test_initiator_refuses_spi_in_use(void **state)
{
	const uint32_t spis[] = { the_sa(0)->children->spi_out, 0, 0x2468ace0 };

	(void)state;
	for (unsigned int i = 0; i < sizeof(spis) / sizeof(spis[0]); i++) {
		bool fresh = spis[i] == 0x2468ace0;
		struct ike_wbuf inner;
		struct ike_chain c;
		struct ike_msg req;
		uint32_t mid;

		assert_int_equal(ike_engine_initiate(ps[0].eng, now, "peer", "net2"), 0);
		collect();
		assert_int_equal(ps[0].n_out, 1);
		engine_msg(0, &ps[0].out[0], &req);
		assert_int_equal(req.hdr.exchange, IKE_CREATE_CHILD_SA);
		mid = req.hdr.msgid;
		ike_msg_free(&req);
		out_clear(&ps[0]);
		ps[0].n_error = 0;
		ike_wbuf_init(&inner);
		ike_chain_init(&c, &inner);
		ccsa_chain(&c, 1, spis[i]);
		peer_send(0, IKE_CREATE_CHILD_SA, true, mid, &c, &inner);
		ike_wbuf_free(&inner);
		if (fresh) {
			assert_int_equal(ps[0].n_install, 2);
			continue;
		}
		assert_int_equal(ps[0].n_install, 0);
		assert_int_equal(ps[0].n_error, 1);
		assert_int_equal(ps[0].last_error, IKE_R_NO_PROPOSAL);
		if (spis[i]) {
			assert_int_equal(ps[0].n_out, 0); /* no DELETE of the peer's SPI in use */
		} else {
			struct ike_msg del;
			const struct ike_pld *d;

			/* the reserved SPI's half-made SA: the peer is asked to delete it */
			assert_int_equal(ps[0].n_out, 1);
			engine_msg(0, &ps[0].out[0], &del);
			d = ike_msg_find(&del, IKE_PLD_DELETE);
			assert_non_null(d);
			/* answer it, so that the next CREATE_CHILD_SA can start */
			ike_wbuf_init(&inner);
			ike_chain_init(&c, &inner);
			ike_build_delete(&c, IKE_PROTO_ESP, 4, 1, d->body + 4);
			peer_send(0, IKE_INFORMATIONAL, true, del.hdr.msgid, &c, &inner);
			ike_wbuf_free(&inner);
			ike_msg_free(&del);
		}
		out_clear(&ps[0]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_responder_refuses_spi_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initiator_refuses_spi_in_use, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
