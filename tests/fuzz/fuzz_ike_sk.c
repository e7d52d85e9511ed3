// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the decrypted-payload path. The harness treats the input as an inner
 * payload chain, seals it with a fixed key (so the ICV is always right), then parses and opens
 * the result: mutations reach the inner chain walk and every payload body parser instead of
 * dying at the integrity check. Input: [algorithm selector][first payload type][inner chain].
 * Every other input also goes through RFC 7383 fragmentation and out-of-order reassembly, and
 * the reassembled plaintext must equal the input chain.
 */
#include <stdlib.h>
#include <string.h>

#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_prop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	uint16_t encr, bits, integ;
	size_t klen, alen;
} algs[] = {
	{ IKE_ENCR_AES_CBC, 128, IKE_INTEG_HMAC_SHA1_96, 16, 20 },
	{ IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128, 32, 32 },
	{ IKE_ENCR_AES_GCM_16, 256, IKE_INTEG_NONE, 36, 0 },
	{ IKE_ENCR_AES_GCM_16, 128, IKE_INTEG_NONE, 20, 0 },
};

static void interpret(const struct ike_msg *m)
{
	static struct ike_prop_list pl;
	union {
		struct ike_ts_list tl;
		struct ike_pld_ke ke;
		struct ike_chunk n;
		struct ike_pld_id id;
		struct ike_pld_notify no;
		struct ike_pld_delete d;
		struct ike_pld_cp cp;
	} u;

	for (unsigned i = 0; i < m->n_pld; i++) {
		const struct ike_pld *p = &m->pld[i];
		int err = 0;

		switch (p->type) {
		case IKE_PLD_SA:
			err = ike_pld_sa(p->body, p->len, &pl);
			break;
		case IKE_PLD_KE:
			err = ike_pld_ke(p->body, p->len, &u.ke);
			break;
		case IKE_PLD_NONCE:
			err = ike_pld_nonce(p->body, p->len, &u.n);
			break;
		case IKE_PLD_IDI:
		case IKE_PLD_IDR:
			err = ike_pld_id(p->body, p->len, &u.id);
			break;
		case IKE_PLD_AUTH:
			err = ike_pld_auth(p->body, p->len, &u.id);
			break;
		case IKE_PLD_TSI:
		case IKE_PLD_TSR:
			err = ike_pld_ts(p->body, p->len, &u.tl);
			break;
		case IKE_PLD_NOTIFY:
			err = ike_pld_notify(p->body, p->len, &u.no);
			break;
		case IKE_PLD_DELETE:
			err = ike_pld_delete(p->body, p->len, &u.d);
			break;
		case IKE_PLD_CP:
			err = ike_pld_cp(p->body, p->len, &u.cp);
			break;
		}
		/* ike_msg_parse()/ike_sk_open() validated every body: interpretation agrees */
		if (err)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[64] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	struct ike_hdr h = { .spi_i = { 1 },
			     .spi_r = { 2 },
			     .version = IKE_VERSION_2,
			     .exchange = IKE_AUTH,
			     .flags = IKE_FLAG_INITIATOR,
			     .msgid = 1 };
	struct ike_sk_keys k;
	struct ike_wbuf msg;
	struct ike_msg m;
	unsigned a;

	if (size < 2)
		return 0;
	a = data[0] % (sizeof(algs) / sizeof(algs[0]));
	k = (struct ike_sk_keys){ algs[a].encr,
				  algs[a].bits,
				  algs[a].integ,
				  { key, algs[a].klen },
				  { key + algs[a].klen, algs[a].alen } };
	ike_wbuf_init(&msg);
	if (ike_sk_seal(&h, &k, data[1], data + 2, size - 2, &msg) == 0) {
		if (ike_msg_parse(msg.buf, msg.len, &m) != 0)
			abort(); /* our own SK message must parse */
		if (ike_sk_open(&m, &k) == 0)
			interpret(&m);
		else if (m.plain.ptr && m.plain.len != size - 2)
			abort();
		ike_msg_free(&m);
	}
	ike_wbuf_free(&msg);

	if (data[0] & 0x80) {
		struct ike_wbuf frags[IKE_MAX_FRAGMENTS];
		struct ike_frag_reasm r = { 0 };
		size_t n = 0, max = 120 + (data[0] & 0x3f) * 8;
		int rc = 0;

		for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_init(&frags[i]);
		if (ike_sk_seal_frags(&h, &k, data[1], data + 2, size - 2, max, frags,
				      IKE_MAX_FRAGMENTS, &n) == 0) {
			for (size_t j = 0; j < n; j++) {
				size_t i = (j * 7 + 3) % n; /* a fixed permutation when n % 7 */

				if (n % 7 == 0)
					i = n - 1 - j;
				if (ike_msg_parse(frags[i].buf, frags[i].len, &m) != 0)
					abort();
				rc = ike_frag_add(&r, &m, &k);
				ike_msg_free(&m);
				if (rc < 0)
					abort();
			}
			if (rc != 1)
				abort();
			if (ike_frag_finish(&r, &m) == 0)
				interpret(&m);
			if (m.plain.len != size - 2 ||
			    (m.plain.len && memcmp(m.plain.ptr, data + 2, size - 2)))
				abort();
			ike_msg_free(&m);
		}
		ike_frag_free(&r);
		for (unsigned i = 0; i < IKE_MAX_FRAGMENTS; i++)
			ike_wbuf_free(&frags[i]);
	}
	return 0;
}
