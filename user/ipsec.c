// SPDX-License-Identifier: GPL-2.0-only
/*
 * CHILD SA events to XFRM SAs (see ipsec.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "espgate_abi.h"
#include "ipsec.h"
#include "policy.h"

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *eg_ipsec_integ_name(uint16_t integ, uint32_t *trunc_bits)
{
	switch (integ) {
	case IKE_INTEG_HMAC_MD5_96:
		*trunc_bits = 96;
		return "hmac(md5)";
	case IKE_INTEG_HMAC_SHA1_96:
		*trunc_bits = 96;
		return "hmac(sha1)";
	case IKE_INTEG_HMAC_SHA2_256_128:
		*trunc_bits = 128;
		return "hmac(sha256)";
	case IKE_INTEG_HMAC_SHA2_384_192:
		*trunc_bits = 192;
		return "hmac(sha384)";
	case IKE_INTEG_HMAC_SHA2_512_256:
		*trunc_bits = 256;
		return "hmac(sha512)";
	default:
		return NULL;
	}
}

static void addr_to_xfrm(const struct ike_addr *a, xfrm_address_t *x)
{
	memset(x, 0, sizeof(*x));
	memcpy(x, a->addr, a->family == AF_INET ? 4 : 16);
}

/*
 * A transport-mode SA's selector also names the negotiated protocol and ports when one selector
 * was negotiated on each side. Decrypted transport-mode packets never pass tc (the kernel delivers
 * them locally without re-injecting them), and a packet that matches no inbound policy is accepted
 * after a transport SA: the kernel's check of the SA's own selector is what keeps a partner from
 * sending other protocols or ports through a TCP-8080-only SA. A port range that is not one port
 * cannot be expressed with the kernel's port mask and is left open (the addresses still hold).
 */
static void transport_sel_ts(const struct ike_child_sa *c, struct xfrm_sel *sel)
{
	const struct ike_ts_list *sl = c->inbound ? &c->ts_remote : &c->ts_local;
	const struct ike_ts_list *dl = c->inbound ? &c->ts_local : &c->ts_remote;
	const struct ike_ts *s, *d;

	if (sl->n != 1 || dl->n != 1)
		return;
	s = &sl->ts[0];
	d = &dl->ts[0];
	if (s->proto != d->proto && s->proto && d->proto)
		return; /* selects nothing; never negotiated */
	sel->proto = s->proto ? s->proto : d->proto;
	if (!sel->proto)
		return;
	if (s->port_lo == s->port_hi) {
		sel->sport = htons(s->port_lo);
		sel->sport_mask = 0xffff;
	}
	if (d->port_lo == d->port_hi) {
		sel->dport = htons(d->port_lo);
		sel->dport_mask = 0xffff;
	}
}

int eg_ipsec_sa(const struct ike_child_sa *c, uint32_t replay_window, struct xfrm_sa *sa, char *err,
		size_t errlen)
{
	uint32_t child = c->reqid - EG_REQID_BASE, trunc = 0;
	const char *integ;

	memset(sa, 0, sizeof(*sa));
	if (c->reqid < EG_REQID_BASE || child == 0 || child >= EG_MAX_CHILDREN)
		return errf(err, errlen, "reqid 0x%x is not one of espgate's", c->reqid);
	if (c->src.family != c->dst.family ||
	    (c->src.family != AF_INET && c->src.family != AF_INET6))
		return errf(err, errlen, "SA 0x%08x: bad outer address family", c->spi);
	sa->family = c->src.family;
	addr_to_xfrm(&c->src, &sa->saddr);
	addr_to_xfrm(&c->dst, &sa->daddr);
	sa->spi = htonl(c->spi);
	sa->proto = IPPROTO_ESP;
	sa->mode = c->transport ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL;
	sa->reqid = c->reqid;
	sa->esn = c->esn;
	sa->replay_window = replay_window ? replay_window : (c->esn ? EG_IPSEC_DEF_REPLAY : 0);
	if (c->esn && !sa->replay_window)
		sa->replay_window = EG_IPSEC_DEF_REPLAY;
	if (c->encr_key.len > XFRMB_KEY_MAX || c->integ_key.len > XFRMB_KEY_MAX)
		return errf(err, errlen, "SA 0x%08x: key too long", c->spi);
	switch (c->encr) {
	case IKE_ENCR_AES_GCM_16:
		snprintf(sa->aead_alg, sizeof(sa->aead_alg), "rfc4106(gcm(aes))");
		memcpy(sa->aead_key, c->encr_key.ptr, c->encr_key.len);
		sa->aead_key_len = (uint32_t)c->encr_key.len;
		sa->aead_icv_bits = 128;
		break;
	case IKE_ENCR_AES_CBC:
		snprintf(sa->enc_alg, sizeof(sa->enc_alg), "cbc(aes)");
		memcpy(sa->enc_key, c->encr_key.ptr, c->encr_key.len);
		sa->enc_key_len = (uint32_t)c->encr_key.len;
		break;
	case IKE_ENCR_NULL:
		snprintf(sa->enc_alg, sizeof(sa->enc_alg), "ecb(cipher_null)");
		break;
	default:
		xfrm_sa_clear(sa);
		return errf(err, errlen, "SA 0x%08x: no kernel cipher for ENCR %u", c->spi,
			    c->encr);
	}
	if (c->encr != IKE_ENCR_AES_GCM_16) {
		integ = eg_ipsec_integ_name(c->integ, &trunc);
		if (!integ) {
			xfrm_sa_clear(sa);
			return errf(err, errlen, "SA 0x%08x: no kernel integrity for INTEG %u",
				    c->spi, c->integ);
		}
		snprintf(sa->auth_alg, sizeof(sa->auth_alg), "%s", integ);
		memcpy(sa->auth_key, c->integ_key.ptr, c->integ_key.len);
		sa->auth_key_len = (uint32_t)c->integ_key.len;
		sa->auth_trunc_bits = trunc;
	}
	if (c->encap) {
		sa->encap = true;
		sa->encap_sport = htons(c->src.port);
		sa->encap_dport = htons(c->dst.port);
	}
	sa->soft.add_seconds = c->soft_s;
	sa->hard.add_seconds = c->hard_s;
	sa->soft.bytes = c->soft_bytes;
	sa->hard.bytes = c->hard_bytes;
	sa->soft.packets = c->soft_packets;
	sa->hard.packets = c->hard_packets;
	if (c->inbound) {
		/* decrypted packets carry the child's in mark: tc and the in/fwd policies
     * see it */
		sa->set_mark = EG_MARK_IN(child);
		sa->set_mark_mask = 0xffffffffu;
	} else if (!c->transport) {
		/* the child's out policy (marked) selects this SA; a transport child's out policy
		 * is unmarked (eg_ipsec_child_policies()), and so is its outbound SA */
		sa->mark = EG_MARK_OUT(child);
		sa->mark_mask = 0xffffffffu;
	}
	/* Tunnel mode: wildcard selector (the fwd check re-matches it after BPF
   * reverse NAT). Transport mode: the kernel needs the hosts; take them from
   * the outer addresses. */
	if (c->transport) {
		sa->sel.family = sa->family;
		sa->sel.saddr = sa->saddr;
		sa->sel.daddr = sa->daddr;
		sa->sel.sprefix = sa->sel.dprefix = sa->family == AF_INET ? 32 : 128;
		transport_sel_ts(c, &sa->sel);
	}
	return 0;
}

static void sel_from_cfg(const struct eg_selector *src, const struct eg_selector *dst,
			 struct xfrm_sel *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->family = src->net.af;
	memcpy(&sel->saddr, src->net.addr, src->net.af == AF_INET ? 4 : 16);
	memcpy(&sel->daddr, dst->net.addr, dst->net.af == AF_INET ? 4 : 16);
	sel->sprefix = src->net.len;
	sel->dprefix = dst->net.len;
	sel->proto = src->proto ? src->proto : dst->proto;
	/* The kernel matches one port with a mask: a range that is not a single port is "any". */
	if (src->port_lo == src->port_hi) {
		sel->sport = htons(src->port_lo);
		sel->sport_mask = 0xffff;
	}
	if (dst->port_lo == dst->port_hi) {
		sel->dport = htons(dst->port_lo);
		sel->dport_mask = 0xffff;
	}
}

static void tmpl_set(struct xfrm_tmpl *t, const struct ike_addr *src, const struct ike_addr *dst,
		     bool transport, uint32_t child_id)
{
	memset(t, 0, sizeof(*t));
	t->proto = IPPROTO_ESP;
	t->mode = transport ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL;
	t->reqid = EG_REQID(child_id);
	if (!transport) {
		t->family = src->family;
		addr_to_xfrm(src, &t->saddr);
		addr_to_xfrm(dst, &t->daddr);
	}
}

/* true if prefix p (af, len bits of addr) contains address a's first len bits */
static bool prefix_has(const struct eg_prefix *p, const struct eg_prefix *a)
{
	unsigned int full = p->len / 8, rest = p->len % 8;

	if (p->af != a->af || p->len > a->len)
		return false;
	if (memcmp(p->addr, a->addr, full))
		return false;
	return !rest || !((p->addr[full] ^ a->addr[full]) & (0xff << (8 - rest)));
}

/*
 * The sources a partner's plaintext from remote prefix r carries when the kernel's in/fwd policy
 * check sees it: tc has already applied the child's remote-netmap rules (S5: red's 10.0.0.0/16
 * arrives as 10.201.0.0/16). r wholly inside a rule's real prefix becomes its mapped part (same
 * host bits, same length); a rule inside r adds its mapped prefix to r itself. Blocking the real
 * prefix of a wholly mapped selector would instead block our own network wherever it overlaps
 * the partner's — which is why the mapping exists: the VNet's hosts could no longer reach the
 * gateway or be forwarded by it. Returns the number of prefixes written to out (at least 1).
 */
static unsigned int remote_post_nat(const struct eg_cfg_child *c, const struct eg_prefix *r,
				    struct eg_prefix *out)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->n_nat; i++) {
		const struct eg_cfg_nat_rule *m = &c->nat[i];

		if (m->type != EG_CFG_NAT_REMOTE_NETMAP || m->outside.af != r->af ||
		    m->inside.len != m->outside.len)
			continue;
		if (prefix_has(&m->outside, r)) {
			/* r lies in the mapped range: only its mapped form ever reaches XFRM */
			out[0] = *r;
			for (unsigned int b = 0; b < m->inside.len; b++) {
				uint8_t bit = (uint8_t)(0x80 >> (b % 8));

				out[0].addr[b / 8] = (uint8_t)((out[0].addr[b / 8] & ~bit) |
							       (m->inside.addr[b / 8] & bit));
			}
			return 1;
		}
		if (prefix_has(r, &m->outside))
			out[1 + n++] = m->inside;
	}
	out[0] = *r;
	return 1 + n;
}

int eg_ipsec_child_policies(const struct eg_cfg_child *c, uint32_t child_id,
			    const struct ike_addr *local, const struct ike_addr *remote,
			    unsigned int order, unsigned int *order_used, struct xfrm_pol *out,
			    unsigned int max, unsigned int *n)
{
	bool transport = c->mode == EG_CHILD_MODE_TRANSPORT;
	unsigned int k = 0, used = 0;

	*n = 0;
	if (!child_id || child_id >= EG_MAX_CHILDREN)
		return -EINVAL;
	if (local->family != remote->family)
		return -EINVAL;
	for (unsigned int i = 0; i < c->n_local; i++) {
		for (unsigned int j = 0; j < c->n_remote; j++) {
			const struct eg_selector *l = &c->local[i], *r = &c->remote[j];
			unsigned int ord = order + used < EG_PRIO_MAX_ORDER ? order + used
									    : EG_PRIO_MAX_ORDER - 1;
			uint32_t prio;

			if (l->net.af != r->net.af)
				continue; /* an IPv4/IPv6 pair selects nothing */
			if (k + 2 > max)
				return -ENOSPC;
			prio = eg_policy_priority(l, r, ord);
			if (!prio)
				return -EINVAL;
			used++;
			/* out: marked, carries the template */
			memset(&out[k], 0, sizeof(out[k]));
			sel_from_cfg(l, r, &out[k].sel);
			out[k].dir = XFRM_POLICY_OUT;
			out[k].action = XFRM_POLICY_ALLOW;
			out[k].priority = prio;
			out[k].n_tmpl = 1;
			tmpl_set(&out[k].tmpl[0], local, remote, transport, child_id);
			k++;
			/* Transport mode carries this host's own traffic (its local selectors are the
			 * host's /32), which never passes the classifier that sets out marks: the out
			 * policy is unmarked. Only the host's own packets can match it (a forwarded
			 * packet with a local source is a martian), and with no SA it still blocks
			 * (acquire), so there is nothing for a fallback to catch. */
			if (transport)
				continue;
			out[k - 1].mark = EG_MARK_OUT(child_id);
			out[k - 1].mark_mask = 0xffffffffu;
			/* fallback: the same selectors unmarked, blocked (fail closed) */
			out[k] = out[k - 1];
			out[k].action = XFRM_POLICY_BLOCK;
			out[k].priority = prio - EG_PRIO_CHILD_BASE + EG_PRIO_FALLBACK_BASE;
			out[k].mark = out[k].mark_mask = 0;
			out[k].n_tmpl = 0;
			memset(out[k].tmpl, 0, sizeof(out[k].tmpl));
			k++;
		}
	}
	/* in and fwd: any selectors, the child's in mark, its template */
	for (int dir = 0; dir < 2; dir++) {
		if (transport && dir == 1)
			break; /* transport mode SAs end here: nothing to forward */
		if (k + 1 > max)
			return -ENOSPC;
		memset(&out[k], 0, sizeof(out[k]));
		out[k].sel.family = local->family;
		out[k].dir = dir == 0 ? XFRM_POLICY_IN : XFRM_POLICY_FWD;
		out[k].action = XFRM_POLICY_ALLOW;
		out[k].priority = EG_PRIO_CHILD_BASE;
		out[k].mark = EG_MARK_IN(child_id);
		out[k].mark_mask = 0xffffffffu;
		out[k].n_tmpl = 1;
		tmpl_set(&out[k].tmpl[0], remote, local, transport, child_id);
		k++;
	}
	/* Plaintext from the partner's ranges must have come through the SA: block what the in/fwd
	 * policies would have required an SA for, in the addresses the policy check sees (after
	 * reverse NAT: remote_post_nat). In tunnel mode the destination is left open, since reverse
	 * NAT may have rewritten it; in transport mode it is the local host. */
	for (unsigned int i = 0; i < c->n_local; i++) {
		for (unsigned int j = 0; j < c->n_remote; j++) {
			const struct eg_selector *l = &c->local[i];
			struct eg_prefix srcs[1 + EG_CFG_MAX_NAT];
			unsigned int n_src;

			if (l->net.af != c->remote[j].net.af)
				continue;
			n_src = remote_post_nat(c, &c->remote[j].net, srcs);
			for (unsigned int s = 0; s < n_src; s++) {
				struct eg_selector r = c->remote[j];
				struct xfrm_sel sel;
				bool dup = false;

				r.net = srcs[s];
				sel_from_cfg(&r, l, &sel);
				if (!transport) {
					memset(&sel.daddr, 0, sizeof(sel.daddr));
					sel.dprefix = 0;
				}
				for (unsigned int x = 0; x < k && !dup; x++)
					dup = out[x].action == XFRM_POLICY_BLOCK &&
					      out[x].dir == XFRM_POLICY_IN &&
					      !memcmp(&out[x].sel, &sel, sizeof(sel));
				if (dup)
					continue;
				for (int dir = 0; dir < 2; dir++) {
					if (transport && dir == 1)
						break;
					if (k + 1 > max)
						return -ENOSPC;
					memset(&out[k], 0, sizeof(out[k]));
					out[k].sel = sel;
					out[k].dir = dir == 0 ? XFRM_POLICY_IN : XFRM_POLICY_FWD;
					out[k].action = XFRM_POLICY_BLOCK;
					out[k].priority = EG_PRIO_FALLBACK_BASE +
							  (EG_PRIO_FALLBACK_BASE >> 1);
					k++;
				}
			}
		}
	}
	*n = k;
	if (order_used)
		*order_used = used;
	return 0;
}
