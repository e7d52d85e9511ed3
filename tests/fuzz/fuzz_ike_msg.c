// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the whole-datagram parser: ike_msg_parse() on the input, then every
 * interpretation function on every payload it accepted, and the SK/SKF paths with a fixed key
 * (mutations rarely authenticate here; fuzz_ike_sk.c covers what lies behind the ICV).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_prop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void interpret(const struct ike_msg *m)
{
	static struct ike_prop_list pl;
	struct ike_ts_list tl;
	struct ike_pld_ke ke;
	struct ike_chunk n;
	struct ike_pld_id id;
	struct ike_pld_notify no;
	struct ike_pld_delete d;
	struct ike_pld_cp cp;

	for (unsigned i = 0; i < m->n_pld; i++) {
		const struct ike_pld *p = &m->pld[i];

		switch (p->type) {
		case IKE_PLD_SA:
			(void)ike_pld_sa(p->body, p->len, &pl);
			break;
		case IKE_PLD_KE:
			(void)ike_pld_ke(p->body, p->len, &ke);
			break;
		case IKE_PLD_NONCE:
			(void)ike_pld_nonce(p->body, p->len, &n);
			break;
		case IKE_PLD_IDI:
		case IKE_PLD_IDR:
			(void)ike_pld_id(p->body, p->len, &id);
			break;
		case IKE_PLD_AUTH:
			(void)ike_pld_auth(p->body, p->len, &id);
			break;
		case IKE_PLD_TSI:
		case IKE_PLD_TSR:
			(void)ike_pld_ts(p->body, p->len, &tl);
			break;
		case IKE_PLD_NOTIFY:
			(void)ike_pld_notify(p->body, p->len, &no);
			break;
		case IKE_PLD_DELETE:
			(void)ike_pld_delete(p->body, p->len, &d);
			break;
		case IKE_PLD_CP:
			(void)ike_pld_cp(p->body, p->len, &cp);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32 + 4 + 32] = { 1, 2, 3 };
	const struct ike_sk_keys k = {
		IKE_ENCR_AES_CBC, 256, IKE_INTEG_HMAC_SHA2_256_128, { key, 32 }, { key + 32, 32 }
	};
	struct ike_frag_reasm r = { 0 };
	static struct ike_msg m, out;

	if (ike_msg_parse(data, size, &m) == 0) {
		interpret(&m);
		if (m.sk_type == IKE_PLD_SK && ike_sk_open(&m, &k) == 0)
			interpret(&m);
		if (m.sk_type == IKE_PLD_SKF && ike_frag_add(&r, &m, &k) == 1 &&
		    ike_frag_finish(&r, &out) == 0)
			interpret(&out);
	}
	ike_msg_free(&m);
	ike_msg_free(&out);
	ike_frag_free(&r);
	return 0;
}
