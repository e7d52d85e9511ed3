// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for SA and TS payload bodies. Input: [selector][body]. Whatever parses must
 * survive a round trip: build it again, re-parse, and get the same struct (the SA builder
 * writes only what the parser kept, so the second parse is the fixed point).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ike_msg.h"
#include "ike_pld.h"
#include "ike_prop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether pl is a list the builder must encode into something that parses back to pl. */
static bool sa_buildable(const struct ike_prop_list *pl)
{
	if (!pl->n)
		return false;
	for (unsigned i = 0; i < pl->n; i++)
		if (pl->n > 1 && pl->prop[i].num != i + 1)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ike_prop_list pl, pl2;
	static struct ike_ts_list tl, tl2;
	struct ike_wbuf w;
	struct ike_chain c;
	struct ike_pld_id id;
	struct ike_pld_notify no;

	if (size < 1)
		return 0;
	ike_wbuf_init(&w);
	ike_chain_init(&c, &w);
	switch (data[0] & 3) {
	case 0:
		if (ike_pld_sa(data + 1, size - 1, &pl))
			break;
		ike_build_sa(&c, &pl);
		if (w.err)
			abort();
		/* proposals dropped for unknown attributes leave gaps in the numbering or an
		 * empty list; any other parse result must come back unchanged */
		if (!sa_buildable(&pl))
			break;
		if (ike_pld_sa(w.buf + 4, w.len - 4, &pl2) || memcmp(&pl, &pl2, sizeof(pl)))
			abort();
		break;
	case 1:
		if (ike_pld_ts(data + 1, size - 1, &tl))
			break;
		ike_build_ts(&c, IKE_PLD_TSI, &tl);
		if (w.err || ike_pld_ts(w.buf + 4, w.len - 4, &tl2) ||
		    memcmp(&tl, &tl2, sizeof(tl)))
			abort();
		/* the exact input comes back */
		if (w.len - 4 != size - 1 || memcmp(w.buf + 4, data + 1, size - 1))
			abort();
		break;
	case 2:
		(void)ike_pld_id(data + 1, size - 1, &id);
		break;
	default:
		(void)ike_pld_notify(data + 1, size - 1, &no);
		break;
	}
	ike_wbuf_free(&w);
	return 0;
}
