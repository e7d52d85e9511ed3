// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the IKE state machine (ike/ike.h). The input is a script run against two
 * engines (x25519 keeps each handshake cheap) joined by a lossy, reordering network under a
 * simulated clock: deliver, drop, duplicate, reorder or corrupt the next datagram in flight,
 * advance time (timers: retransmissions, DPD, rekeys, expiries), initiate, soft/hard expire,
 * delete, report traffic, or inject raw bytes from the input into either engine. Whatever the
 * script, nothing may crash or leak, and neither engine may ever ask to install an SA whose SPI
 * and direction are already installed (a broken rekey or collision would do that).
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
#include "ike_prop.h"
#include "ike_ts.h"
#include "../lib/xorshift.h"

enum {
	MAX_FLIGHT = 32,
	MAX_SA = 64
};

struct flight {
	int to; /* 0 = A, 1 = B */
	struct ike_addr local, remote;
	uint8_t *data;
	size_t len;
};

struct side {
	struct ike_engine *eng;
	uint64_t rng;
	uint32_t spi[MAX_SA];
	bool inbound[MAX_SA];
	unsigned int n_sa;
};

static struct flight fl[MAX_FLIGHT];
static unsigned int n_fl;
static struct side sd[2];
static uint64_t now;

static int rnd(void *ctx, void *buf, size_t len)
{
	struct side *s = ctx;

	xorshift_fill(&s->rng, buf, len);
	return 0;
}

static void ksa_install(struct side *s, uint32_t spi, bool inbound)
{
	for (unsigned int i = 0; i < s->n_sa; i++)
		if (s->spi[i] == spi && s->inbound[i] == inbound)
			abort(); /* the same SA installed twice */
	if (s->n_sa < MAX_SA) {
		s->spi[s->n_sa] = spi;
		s->inbound[s->n_sa++] = inbound;
	}
}

static void ksa_remove(struct side *s, uint32_t spi, bool inbound)
{
	for (unsigned int i = 0; i < s->n_sa; i++)
		if (s->spi[i] == spi && s->inbound[i] == inbound) {
			s->spi[i] = s->spi[--s->n_sa];
			s->inbound[i] = s->inbound[s->n_sa];
			return;
		}
}

static void drain(void)
{
	for (int i = 0; i < 2; i++) {
		struct ike_output o;

		while (ike_engine_next_output(sd[i].eng, &o)) {
			if (o.kind == IKE_OUT_DGRAM && n_fl < MAX_FLIGHT) {
				fl[n_fl] = (struct flight){ .to = !i,
							    .local = o.dgram.remote,
							    .remote = o.dgram.local,
							    .data = o.dgram.data,
							    .len = o.dgram.len };
				o.dgram.data = NULL;
				n_fl++;
			} else if (o.kind == IKE_OUT_EVENT) {
				const struct ike_child_sa *c = &o.ev->child_sa;

				if (o.ev->type == IKE_EV_CHILD_INSTALL ||
				    o.ev->type == IKE_EV_CHILD_SWITCH_OUT) {
					ksa_install(&sd[i], c->spi, c->inbound);
				} else if (o.ev->type == IKE_EV_CHILD_DELETE) {
					ksa_remove(&sd[i], c->spi_in, true);
					if (c->spi_out)
						ksa_remove(&sd[i], c->spi_out, false);
				}
			}
			ike_output_free(&o);
		}
	}
}

static void flight_pop(unsigned int i)
{
	free(fl[i].data);
	memmove(&fl[i], &fl[i + 1], (n_fl - i - 1) * sizeof(fl[0]));
	n_fl--;
}

static void deliver(unsigned int i)
{
	ike_engine_input(sd[fl[i].to].eng, now, &fl[i].local, &fl[i].remote, fl[i].data, fl[i].len);
}

static void addr4(struct ike_addr *a, uint32_t ip)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = 500;
	ip = htonl(ip);
	memcpy(a->addr, &ip, 4);
}

static int setup_peer(struct ike_peer_cfg *p, struct ike_child_cfg *c, int me)
{
	static const char *names[2] = { "east", "west" };
	char err[IKE_PROP_ERR_LEN];

	memset(p, 0, sizeof(*p));
	memset(c, 0, sizeof(*c));
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
	if (ike_prop_parse("aes128gcm16-prfsha256-x25519-ecp256", IKE_PROTO_IKE, 0, &p->ike, NULL,
			   err, sizeof(err)) ||
	    ike_prop_parse("aes128gcm16-x25519,aes128-sha256", IKE_PROTO_ESP, 0, &c->esp, NULL, err,
			   sizeof(err)) ||
	    ike_ts_parse(me ? "192.168.88.0/24" : "10.1.0.0/16", &c->local_ts.ts[0], err,
			 sizeof(err)) ||
	    ike_ts_parse(me ? "10.1.0.0/16" : "192.168.88.0/24", &c->remote_ts.ts[0], err,
			 sizeof(err)))
		return -1;
	c->local_ts.n = c->remote_ts.n = 1;
	snprintf(c->name, sizeof(c->name), "net");
	c->reqid = 1;
	c->life.lifetime_s = 300;
	c->life.margin_s = 60;
	c->life.fuzz_pct = 50;
	p->n_children = 1;
	p->children = c;
	return 0;
}

/* Both sides' configurations, parsed once: the engine copies what it keeps. */
static struct ike_peer_cfg pcfg[2];
static struct ike_child_cfg ccfg[2];

/*
 * A 4 MB quarantine instead of ASan's 256 MB: each input's allocations are far smaller, so a
 * use after free within an input is still caught, while the default made every input fault in
 * fresh pages (most of the time went to the kernel). ASAN_OPTIONS in the environment still wins.
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
	(void)argc;
	(void)argv;
	for (int i = 0; i < 2; i++)
		if (setup_peer(&pcfg[i], &ccfg[i], i))
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	now = 1000000;
	n_fl = 0;
	/* deterministic ike_random() and DH key pairs from the fuzz pool: reproducible inputs */
	ike_fuzz_reset(0);
	for (int i = 0; i < 2; i++) {
		struct ike_engine_cfg ec = { 0 };

		memset(&sd[i], 0, sizeof(sd[i]));
		sd[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		ec.peers = &pcfg[i];
		ec.n_peers = 1;
		ec.random = rnd;
		ec.random_ctx = &sd[i];
		ec.cookie_threshold = 2;
		sd[i].eng = ike_engine_new(&ec);
		if (!sd[i].eng)
			abort();
	}
	while (off < size) {
		uint8_t op = data[off++];
		uint8_t arg = off < size ? data[off] : 0;
		int who = op & 1;
		struct side *s = &sd[who];

		switch ((op >> 1) % 12) {
		case 0: /* deliver the next datagram */
			if (n_fl) {
				deliver(0);
				flight_pop(0);
			}
			break;
		case 1: /* drop it */
			if (n_fl)
				flight_pop(0);
			break;
		case 2: /* duplicate it */
			if (n_fl)
				deliver(0);
			break;
		case 3: /* reorder */
			if (n_fl > 1) {
				struct flight t = fl[0];

				fl[0] = fl[1];
				fl[1] = t;
			}
			break;
		case 4: /* time passes */
			off++;
			now += (uint64_t)arg * 500;
			ike_engine_timer(sd[0].eng, now);
			ike_engine_timer(sd[1].eng, now);
			break;
		case 5:
			ike_engine_initiate(s->eng, now, "peer", NULL);
			break;
		case 6: /* soft / hard expire of one of its SAs */
		case 7:
			off++;
			if (s->n_sa)
				ike_engine_expire(s->eng, now, s->spi[arg % s->n_sa],
						  ((op >> 1) % 12) == 7);
			break;
		case 8:
			ike_engine_delete(s->eng, now, "peer", (arg & 1) ? "net" : NULL);
			off++;
			break;
		case 9:
			off++;
			if (s->n_sa)
				ike_engine_child_traffic(s->eng, now, s->spi[arg % s->n_sa]);
			break;
		case 10: /* corrupt one byte of the next datagram, then deliver it */
			off++;
			if (n_fl) {
				fl[0].data[arg % fl[0].len] ^= (uint8_t)(op | 1);
				deliver(0);
				flight_pop(0);
			}
			break;
		case 11: { /* raw bytes from the input */
			size_t len = arg;
			struct ike_addr la, ra;

			off++;
			if (len > size - off)
				len = size - off;
			addr4(&la, who ? 0xc0000202 : 0xc0000201);
			addr4(&ra, who ? 0xc0000201 : 0xc0000202);
			ike_engine_input(s->eng, now, &la, &ra, data + off, len);
			off += len;
			break;
		}
		}
		drain();
		ike_engine_next_deadline(sd[0].eng);
	}
	for (int i = 0; i < 2; i++)
		ike_engine_free(sd[i].eng);
	while (n_fl)
		flight_pop(0);
	return 0;
}
