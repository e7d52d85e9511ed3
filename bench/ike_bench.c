// SPDX-License-Identifier: GPL-2.0-only
/*
 * IKE handshake benchmark: full IKE_SA_INIT + IKE_AUTH (PSK, one CHILD SA) handshakes between two
 * in-process engines, per DH group. Every engine call is timed with the thread's CPU clock and
 * charged to the side that runs it, so the figures are CPU per handshake per side; handshakes per
 * second on one core is the inverse of both sides' sum. The DH/ECDH share is measured by timing,
 * in the same process, the OpenSSL work each side does per handshake (one key pair, its public
 * value, one validated derivation: ike_dh_new/ike_dh_public/ike_dh_derive) and dividing by the
 * handshake's CPU. Memory per established IKE SA with one CHILD SA is the responder engine's heap
 * growth (mallinfo2) over many SAs divided by their number. Prints `bench NAME VALUE UNIT`.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "ike.h"
#include "ike_crypto.h"
#include "ike_prop.h"
#include "ike_ts.h"

struct side {
	struct ike_engine *eng;
	uint64_t cpu_ns;
	unsigned int up, child_in, child_out;
};

static uint64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void addr4(struct ike_addr *a, uint32_t ip)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = 500;
	ip = htonl(ip);
	memcpy(a->addr, &ip, 4);
}

static int make_peer(struct ike_peer_cfg *p, struct ike_child_cfg *c, const struct ike_addr *local,
		     const struct ike_addr *remote, const char *me, const char *them,
		     const char *ike, const char *esp, bool initiator)
{
	char err[IKE_PROP_ERR_LEN];

	memset(p, 0, sizeof(*p));
	memset(c, 0, sizeof(*c));
	snprintf(p->name, sizeof(p->name), "bench");
	p->local = *local;
	p->remote = *remote;
	p->local_id.type = p->remote_id.type = IKE_ID_FQDN;
	p->local_id.len = (uint8_t)strlen(me);
	memcpy(p->local_id.data, me, p->local_id.len);
	p->remote_id.len = (uint8_t)strlen(them);
	memcpy(p->remote_id.data, them, p->remote_id.len);
	p->psk.ptr = (uint8_t *)(uintptr_t) "bench-pre-shared-key";
	p->psk.len = strlen((const char *)p->psk.ptr);
	if (ike_prop_parse(ike, IKE_PROTO_IKE, 0, &p->ike, NULL, err, sizeof(err)) ||
	    ike_prop_parse(esp, IKE_PROTO_ESP, 0, &c->esp, NULL, err, sizeof(err)) ||
	    ike_ts_parse(initiator ? "10.1.0.0/16" : "192.168.88.0/24", &c->local_ts.ts[0], err,
			 sizeof(err)) ||
	    ike_ts_parse(initiator ? "192.168.88.0/24" : "10.1.0.0/16", &c->remote_ts.ts[0], err,
			 sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		return -EINVAL;
	}
	c->local_ts.n = c->remote_ts.n = 1;
	snprintf(c->name, sizeof(c->name), "net");
	c->reqid = 1;
	c->life.lifetime_s = 3600;
	c->life.margin_s = 300;
	p->ike_life.lifetime_s = 14400;
	p->ike_life.margin_s = 900;
	p->n_children = 1;
	p->children = c;
	return 0;
}

/* Moves outputs until both are quiet; every engine call is charged to its side. */
static int pump(struct side *a, struct side *b, uint64_t now)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		bool any = false;

		for (int i = 0; i < 2; i++) {
			struct side *s = i ? b : a, *o = i ? a : b;
			struct ike_output out;

			for (;;) {
				uint64_t t0 = cpu_now();
				int got = ike_engine_next_output(s->eng, &out);

				s->cpu_ns += cpu_now() - t0;
				if (!got)
					break;
				any = true;
				if (out.kind == IKE_OUT_DGRAM) {
					t0 = cpu_now();
					ike_engine_input(o->eng, now, &out.dgram.remote,
							 &out.dgram.local, out.dgram.data,
							 out.dgram.len);
					o->cpu_ns += cpu_now() - t0;
				} else if (out.ev->type == IKE_EV_IKE_UP) {
					s->up++;
				} else if (out.ev->type == IKE_EV_CHILD_INSTALL ||
					   out.ev->type == IKE_EV_CHILD_SWITCH_OUT) {
					if (out.ev->child_sa.inbound)
						s->child_in++;
					else
						s->child_out++;
				} else if (out.ev->type == IKE_EV_ERROR ||
					   out.ev->type == IKE_EV_IKE_DOWN) {
					fprintf(stderr, "bench: %s: %s\n",
						ike_event_name(out.ev->type), out.ev->text);
					ike_output_free(&out);
					return -EIO;
				}
				t0 = cpu_now();
				ike_output_free(&out);
				s->cpu_ns += cpu_now() - t0;
			}
		}
		if (!any)
			return 0;
	}
	return -ELOOP;
}

static struct ike_engine *engine(const struct ike_peer_cfg *p)
{
	struct ike_engine_cfg ec = { .peers = p, .n_peers = 1 };

	return ike_engine_new(&ec);
}

/*
 * n handshakes, each between a fresh initiator (its own address) and one long-lived responder
 * that keeps every SA: the responder's heap growth per SA is the memory figure.
 */
static int run_group(const char *ike, const char *esp, unsigned int n, double *per_s,
		     double *cpu_i_us, double *cpu_r_us, double *mem_per_sa)
{
	struct ike_peer_cfg pa, pb;
	struct ike_child_cfg ca, cb;
	struct ike_addr la, lb, any = { 0 };
	struct side a = { 0 }, b = { 0 };
	struct mallinfo2 m0, m1;
	uint64_t now = 1000;
	int err = 0;

	addr4(&lb, 0xc0000202); /* 192.0.2.2 */
	addr4(&la, 0xc6120001); /* 198.18.0.1 */
	if (make_peer(&pb, &cb, &lb, &any, "west", "east", ike, esp, false))
		return -EINVAL;
	b.eng = engine(&pb);
	if (!b.eng)
		return -ENOMEM;
	/* one warm-up handshake so that lazily allocated OpenSSL state is not counted */
	for (unsigned int i = 0; i <= n; i++) {
		if (i == 1) {
			m0 = mallinfo2();
			a.cpu_ns = b.cpu_ns = 0;
		}
		addr4(&la, 0xc6120001 + i);
		if (make_peer(&pa, &ca, &la, &lb, "east", "west", ike, esp, true)) {
			err = -EINVAL;
			break;
		}
		a.eng = engine(&pa);
		if (!a.eng) {
			err = -ENOMEM;
			break;
		}
		{
			uint64_t t0 = cpu_now();

			err = ike_engine_initiate(a.eng, now, "bench", NULL);
			a.cpu_ns += cpu_now() - t0;
		}
		if (!err)
			err = pump(&a, &b, now);
		ike_engine_free(a.eng);
		a.eng = NULL;
		if (err)
			break;
		now += 1;
	}
	m1 = mallinfo2();
	if (!err &&
	    (b.up != n + 1 || b.child_in != n + 1 || b.child_out != n + 1 || a.up != n + 1)) {
		fprintf(stderr, "bench: %u/%u handshakes completed\n", b.up, n + 1);
		err = -EIO;
	}
	if (!err) {
		double tot = (double)(a.cpu_ns + b.cpu_ns) / n;

		*per_s = 1e9 / tot;
		*cpu_i_us = (double)a.cpu_ns / n / 1000.0;
		*cpu_r_us = (double)b.cpu_ns / n / 1000.0;
		*mem_per_sa = (double)(m1.uordblks - m0.uordblks) / n;
		if (ike_engine_foreach_sa(b.eng, NULL, NULL) != n + 1)
			err = -EIO;
	}
	ike_engine_free(b.eng);
	return err;
}

/* CPU ns one side spends in OpenSSL's DH/ECDH per handshake: key pair, public value, derive. */
static double dh_cost_ns(uint16_t group, unsigned int n)
{
	uint8_t pub_a[IKE_DH_PUB_MAX], pub_b[IKE_DH_PUB_MAX];
	size_t len = ike_dh_pub_len(group, false);
	struct ike_dh *peer = ike_dh_new(group, false);
	uint64_t t0, total = 0;

	if (!peer || !len || ike_dh_public(peer, pub_b, len))
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		struct ike_secret s = { 0 };
		struct ike_dh *dh;
		int err;

		t0 = cpu_now();
		dh = ike_dh_new(group, false);
		err = !dh || ike_dh_public(dh, pub_a, len) || ike_dh_derive(dh, pub_b, len, &s);
		total += cpu_now() - t0;
		ike_secret_free(&s);
		ike_dh_free(dh);
		if (err) {
			ike_dh_free(peer);
			return -1;
		}
	}
	ike_dh_free(peer);
	return (double)total / n;
}

int main(int argc, char **argv)
{
	unsigned int n = argc > 1 ? (unsigned int)atoi(argv[1]) : 200;
	/* "ecp384" / "modp2048": only that group's handshakes (for a profiler run) */
	const char *only = argc > 2 ? argv[2] : NULL;
	struct {
		const char *name, *ike, *esp;
		uint16_t group;
	} groups[] = {
		{ "ecp384", "aes256-sha256-ecp384!", "aes256-sha256!", IKE_DH_ECP384 },
		{ "modp2048", "aes256-sha256-modp2048!", "aes256-sha256!", IKE_DH_MODP2048 },
	};
	double mem_ecp = 0;
	int rc = 0;

	if (!n)
		n = 200;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		double per_s, ci, cr, mem, dh;

		if (only && strcmp(only, groups[g].name))
			continue;
		if (run_group(groups[g].ike, groups[g].esp, n, &per_s, &ci, &cr, &mem)) {
			fprintf(stderr, "bench ike %s failed\n", groups[g].name);
			rc = 1;
			continue;
		}
		dh = only ? -1 : dh_cost_ns(groups[g].group, n);
		printf("bench ike_handshakes_%s %.0f per_s\n", groups[g].name, per_s);
		printf("bench ike_cpu_initiator_%s %.1f us\n", groups[g].name, ci);
		printf("bench ike_cpu_responder_%s %.1f us\n", groups[g].name, cr);
		if (dh > 0) {
			double side_ns = (ci + cr) * 1000.0 / 2;
			double nondh = 100.0 * (1.0 - dh / side_ns);

			printf("bench ike_dh_per_side_%s %.1f us\n", groups[g].name, dh / 1000.0);
			printf("bench ike_nondh_share_%s %.1f percent\n", groups[g].name,
			       nondh < 0 ? 0.0 : nondh);
		}
		if (g == 0)
			mem_ecp = mem;
	}
	if (!only)
		printf("bench ike_mem_per_sa %.0f bytes\n", mem_ecp);
	return rc;
}
