// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel IPsec (XFRM) backend (see xfrm.h for the API and the mark/reqid conventions). Requests
 * are built with libmnl into a stack buffer, sent on one NETLINK_XFRM socket with extended acks
 * and capped acks (so the kernel never echoes a request, keys included, back to us), and answered
 * by an ACK, an error whose extack text goes into the backend's error string, one reply or a dump.
 * Replies and events are walked with explicit bounds: every message and attribute passes the three
 * checks of STYLE.md, attribute payloads are compared with their exact sizes, a repeated attribute
 * or a trailing byte rejects the message. Every buffer that held key material (requests for SAs,
 * replies and events that may carry the kernel's copy of the keys) is zeroed with OPENSSL_cleanse
 * before it is reused or freed. The record mode keeps SAs and policies in two arrays with the
 * kernel's identity rules (SA: daddr/spi/proto within the mark; policy: dir, selector, mark,
 * if_id), so tests see the same -EEXIST/-ESRCH/-ENOENT the kernel would give.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/udp.h>
#include <libmnl/libmnl.h>
#include <openssl/crypto.h>

#include "espgate_abi.h"
#include "xfrm.h"

enum xfrmb_sizes {
	XFRMB_RBUF = 65536, /* replies and dumps; the kernel sizes dump skbs up to 32 KiB */
	XFRMB_EVBUF = 16384,
	XFRMB_EV_RCVBUF = 1 << 20, /* events socket receive buffer, bytes */
	XFRMB_PROBE_LIFETIME = 30, /* s: the kernel removes a forgotten probe SA by itself */
};

struct rec_sa {
	struct xfrm_sa sa; /* keys included: zeroed when removed */
	__u64 added;	   /* unix seconds */
};

struct xfrm_backend {
	enum xfrmb_mode mode;
	struct mnl_socket *nl;
	unsigned int portid;
	__u32 seq;
	unsigned char *rbuf;
	char err[XFRMB_ERR_MAX];
	/* record mode */
	struct rec_sa *sas;
	size_t n_sa, cap_sa;
	struct xfrm_pol *pols;
	size_t n_pol, cap_pol;
	__u32 next_index;
};

struct xfrm_events {
	struct mnl_socket *nl;
	unsigned char *buf;
};

static __u64 life_in(__u64 v)
{
	return v ? v : XFRM_INF;
}

static __u64 life_out(__u64 v)
{
	return v == XFRM_INF ? 0 : v;
}

static __u8 proto_or_esp(__u8 p)
{
	return p ? p : IPPROTO_ESP;
}

static size_t addr_len(__u16 family)
{
	return family == AF_INET6 ? 16 : 4;
}

static bool addr_is_zero(const xfrm_address_t *a)
{
	static const xfrm_address_t zero;

	return !memcmp(a, &zero, sizeof(*a));
}

/* ---- error string ---------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int set_err(struct xfrm_backend *b, int err,
							 const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	n = strlen(b->err);
	if (err && n < sizeof(b->err))
		snprintf(b->err + n, sizeof(b->err) - n, " (%s)", strerror(-err));
	return err;
}

const char *xfrm_backend_error(const struct xfrm_backend *b)
{
	return b ? b->err : "";
}

enum xfrmb_mode xfrm_backend_mode(const struct xfrm_backend *b)
{
	return b->mode;
}

int xfrm_addr_parse(const char *s, __u16 *family, xfrm_address_t *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->a4) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->in6) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static const char *addr_str(__u16 family, const xfrm_address_t *a, char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* ---- validation ------------------------------------------------------------------------------ */

/* Kernel crypto names: "cbc(aes)", "rfc4106(gcm(aes))", "authenc(hmac(sha1),cbc(aes))". Anything
 * else is refused, so a name can be printed in text and JSON without escaping. */
static bool alg_name_ok(const char *n)
{
	size_t i, len = strnlen(n, XFRMB_ALG_NAME_MAX);

	if (len == XFRMB_ALG_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '(' || c == ')' || c == '_' || c == '-' || c == ',' || c == '.'))
			return false;
	}
	return true;
}

static const char *sel_check(const struct xfrm_sel *s, bool wildcard_ok)
{
	unsigned int max;

	if (s->family == 0 && wildcard_ok)
		return NULL;
	if (s->family != AF_INET && s->family != AF_INET6)
		return "selector family is neither IPv4 nor IPv6";
	max = s->family == AF_INET ? 32 : 128;
	if (s->sprefix > max || s->dprefix > max)
		return "selector prefix longer than the address";
	if ((s->sport & ~s->sport_mask) || (s->dport & ~s->dport_mask))
		return "selector port has bits outside its mask";
	return NULL;
}

static const char *mark_check(__u32 v, __u32 m)
{
	if (v & ~m)
		return "mark has bits outside its mask (it would never match)";
	return NULL;
}

static const char *sa_check(const struct xfrm_sa *sa)
{
	const char *why;

	if (sa->family != AF_INET && sa->family != AF_INET6)
		return "SA family is neither IPv4 nor IPv6";
	if (proto_or_esp(sa->proto) != IPPROTO_ESP)
		return "only ESP SAs are supported";
	if (sa->mode != XFRM_MODE_TUNNEL && sa->mode != XFRM_MODE_TRANSPORT)
		return "SA mode is neither tunnel nor transport";
	if (!alg_name_ok(sa->enc_alg) || !alg_name_ok(sa->auth_alg) || !alg_name_ok(sa->aead_alg))
		return "algorithm name too long or with characters outside [A-Za-z0-9(),_.-]";
	if (sa->enc_key_len > XFRMB_KEY_MAX || sa->auth_key_len > XFRMB_KEY_MAX ||
	    sa->aead_key_len > XFRMB_KEY_MAX)
		return "key longer than XFRMB_KEY_MAX";
	if (sa->aead_alg[0]) {
		if (sa->enc_alg[0] || sa->auth_alg[0])
			return "an AEAD SA has no separate encryption or integrity algorithm";
		if (sa->aead_icv_bits != 64 && sa->aead_icv_bits != 96 && sa->aead_icv_bits != 128)
			return "AEAD ICV must be 64, 96 or 128 bits";
	} else {
		if (!sa->enc_alg[0])
			return "SA has no encryption algorithm (use ecb(cipher_null) for none)";
		if (sa->aead_key_len)
			return "AEAD key given without an AEAD algorithm";
	}
	if (!sa->enc_alg[0] && sa->enc_key_len)
		return "encryption key given without an algorithm";
	if (sa->auth_alg[0]) {
		if (!sa->auth_trunc_bits || sa->auth_trunc_bits % 8 || sa->auth_trunc_bits > 512)
			return "integrity truncation must be a non-zero multiple of 8 bits, <= 512";
	} else if (sa->auth_key_len || sa->auth_trunc_bits) {
		return "integrity key or truncation given without an algorithm";
	}
	if (sa->esn && !sa->replay_window)
		return "ESN needs a replay window > 0 (the kernel refuses an ESN SA without one)";
	if (sa->replay_window > XFRMA_REPLAY_ESN_MAX)
		return "replay window larger than the kernel's 4096 packets";
	why = mark_check(sa->mark, sa->mark_mask);
	if (!why)
		why = mark_check(sa->set_mark, sa->set_mark_mask);
	if (!why)
		why = sel_check(&sa->sel, true);
	return why;
}

static const char *pol_check(const struct xfrm_pol *p)
{
	const char *why;
	unsigned int i;

	if (p->dir != XFRM_POLICY_IN && p->dir != XFRM_POLICY_OUT && p->dir != XFRM_POLICY_FWD)
		return "policy direction is not in, out or fwd";
	if (p->action != XFRM_POLICY_ALLOW && p->action != XFRM_POLICY_BLOCK)
		return "policy action is not allow or block";
	if (p->n_tmpl > XFRMB_TMPL_MAX)
		return "too many templates";
	why = sel_check(&p->sel, false);
	if (!why)
		why = mark_check(p->mark, p->mark_mask);
	if (why)
		return why;
	for (i = 0; i < p->n_tmpl; i++) {
		const struct xfrm_tmpl *t = &p->tmpl[i];

		if (t->family && t->family != AF_INET && t->family != AF_INET6)
			return "template family is neither IPv4 nor IPv6";
		if (t->mode != XFRM_MODE_TUNNEL && t->mode != XFRM_MODE_TRANSPORT)
			return "template mode is neither tunnel nor transport";
		if (proto_or_esp(t->proto) != IPPROTO_ESP)
			return "only ESP templates are supported";
	}
	return NULL;
}

/* ---- message builders ------------------------------------------------------------------------ */

static void sel_to_kernel(const struct xfrm_sel *s, struct xfrm_selector *k)
{
	memset(k, 0, sizeof(*k));
	k->family = s->family;
	k->saddr = s->saddr;
	k->daddr = s->daddr;
	k->prefixlen_s = s->sprefix;
	k->prefixlen_d = s->dprefix;
	k->proto = s->proto;
	k->sport = s->sport;
	k->sport_mask = s->sport_mask;
	k->dport = s->dport;
	k->dport_mask = s->dport_mask;
	k->ifindex = s->ifindex;
}

static void sel_from_kernel(const struct xfrm_selector *k, struct xfrm_sel *s)
{
	memset(s, 0, sizeof(*s));
	s->family = k->family;
	s->saddr = k->saddr;
	s->daddr = k->daddr;
	s->sprefix = k->prefixlen_s;
	s->dprefix = k->prefixlen_d;
	s->proto = k->proto;
	s->sport = k->sport;
	s->sport_mask = k->sport_mask;
	s->dport = k->dport;
	s->dport_mask = k->dport_mask;
	s->ifindex = k->ifindex;
}

static struct nlmsghdr *msg_start(void *buf, size_t len, __u16 type, __u16 flags, __u32 seq)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, len);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

/* struct xfrm_algo / _auth / _aead with its key, built in a scratch buffer that is zeroed after. */
static bool put_algo(struct nlmsghdr *nlh, size_t buflen, __u16 type, const char *name,
		     const __u8 *key, __u32 keylen, bool extra, __u32 extra_bits)
{
	unsigned char tmp[sizeof(struct xfrm_algo_aead) + XFRMB_KEY_MAX];
	size_t hdr = extra ? sizeof(struct xfrm_algo_aead) : sizeof(struct xfrm_algo);
	__u32 bits = keylen * 8;
	bool ok;

	_Static_assert(sizeof(struct xfrm_algo_aead) == sizeof(struct xfrm_algo_auth),
		       "auth and aead algorithm headers have the same layout");
	memset(tmp, 0, sizeof(tmp));
	memcpy(tmp, name, strlen(name));
	memcpy(tmp + offsetof(struct xfrm_algo, alg_key_len), &bits, sizeof(bits));
	if (extra)
		memcpy(tmp + offsetof(struct xfrm_algo_aead, alg_icv_len), &extra_bits,
		       sizeof(extra_bits));
	memcpy(tmp + hdr, key, keylen);
	ok = mnl_attr_put_check(nlh, buflen, type, hdr + keylen, tmp);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return ok;
}

static bool put_mark(struct nlmsghdr *nlh, size_t buflen, __u32 v, __u32 m)
{
	struct xfrm_mark mk = { .v = v, .m = m };

	if (!m)
		return true;
	return mnl_attr_put_check(nlh, buflen, XFRMA_MARK, sizeof(mk), &mk);
}

static int build_sa(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_sa *sa,
		    const char **why)
{
	struct xfrm_usersa_info *si;
	struct nlmsghdr *nlh;
	bool ok = true;

	*why = sa_check(sa);
	if (*why)
		return -EINVAL;
	if (type != XFRM_MSG_NEWSA && type != XFRM_MSG_UPDSA)
		return -EINVAL;
	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*si))) {
		*why = "message buffer too small";
		return -EMSGSIZE;
	}
	nlh = msg_start(buf, len, type, NLM_F_REQUEST | NLM_F_ACK, seq);
	si = mnl_nlmsg_put_extra_header(nlh, sizeof(*si));
	sel_to_kernel(&sa->sel, &si->sel);
	si->id.daddr = sa->daddr;
	si->id.spi = sa->spi;
	si->id.proto = proto_or_esp(sa->proto);
	si->saddr = sa->saddr;
	si->lft.soft_byte_limit = life_in(sa->soft.bytes);
	si->lft.hard_byte_limit = life_in(sa->hard.bytes);
	si->lft.soft_packet_limit = life_in(sa->soft.packets);
	si->lft.hard_packet_limit = life_in(sa->hard.packets);
	si->lft.soft_add_expires_seconds = sa->soft.add_seconds;
	si->lft.hard_add_expires_seconds = sa->hard.add_seconds;
	si->lft.soft_use_expires_seconds = sa->soft.use_seconds;
	si->lft.hard_use_expires_seconds = sa->hard.use_seconds;
	si->reqid = sa->reqid;
	si->family = sa->family;
	si->mode = sa->mode;
	/* Tunnel mode with a wildcard selector: inner packets of either family (strongSwan's
	 * "flag af-unspec"). Transport mode: the kernel fills in the family. */
	if (sa->mode == XFRM_MODE_TUNNEL && !sa->sel.family)
		si->flags |= XFRM_STATE_AF_UNSPEC;
	/* The legacy replay state has a 32-bit bitmap; beyond that, and for ESN, the window goes in
	 * XFRMA_REPLAY_ESN_VAL and the kernel insists the legacy field is 0. */
	bool use_esn_attr = sa->esn || sa->replay_window > 32;

	if (!use_esn_attr)
		si->replay_window = (__u8)sa->replay_window;
	if (sa->esn)
		si->flags |= XFRM_STATE_ESN;

	if (sa->aead_alg[0])
		ok = put_algo(nlh, len, XFRMA_ALG_AEAD, sa->aead_alg, sa->aead_key,
			      sa->aead_key_len, true, sa->aead_icv_bits);
	if (ok && sa->enc_alg[0])
		ok = put_algo(nlh, len, XFRMA_ALG_CRYPT, sa->enc_alg, sa->enc_key, sa->enc_key_len,
			      false, 0);
	if (ok && sa->auth_alg[0])
		ok = put_algo(nlh, len, XFRMA_ALG_AUTH_TRUNC, sa->auth_alg, sa->auth_key,
			      sa->auth_key_len, true, sa->auth_trunc_bits);
	if (ok && sa->encap) {
		struct xfrm_encap_tmpl et = {
			.encap_type = UDP_ENCAP_ESPINUDP,
			.encap_sport = sa->encap_sport,
			.encap_dport = sa->encap_dport,
		};

		ok = mnl_attr_put_check(nlh, len, XFRMA_ENCAP, sizeof(et), &et);
	}
	if (ok)
		ok = put_mark(nlh, len, sa->mark, sa->mark_mask);
	if (ok && sa->set_mark_mask)
		ok = mnl_attr_put_u32_check(nlh, len, XFRMA_SET_MARK, sa->set_mark) &&
		     mnl_attr_put_u32_check(nlh, len, XFRMA_SET_MARK_MASK, sa->set_mark_mask);
	if (ok && sa->if_id)
		ok = mnl_attr_put_u32_check(nlh, len, XFRMA_IF_ID, sa->if_id);
	if (ok && use_esn_attr) {
		__u32 words = (sa->replay_window + 31) / 32;
		unsigned char tmp[sizeof(struct xfrm_replay_state_esn) + XFRMA_REPLAY_ESN_MAX / 8];
		struct xfrm_replay_state_esn rs = {
			.bmp_len = words,
			.replay_window = sa->replay_window,
		};

		memset(tmp, 0, sizeof(tmp));
		memcpy(tmp, &rs, sizeof(rs));
		ok = mnl_attr_put_check(nlh, len, XFRMA_REPLAY_ESN_VAL, sizeof(rs) + words * 4,
					tmp);
	}
	if (!ok) {
		*why = "message buffer too small";
		OPENSSL_cleanse(buf, len);
		return -EMSGSIZE;
	}
	return (int)nlh->nlmsg_len;
}

int xfrm_msg_sa(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_sa *sa)
{
	const char *why;

	return build_sa(buf, len, type, seq, sa, &why);
}

int xfrm_msg_sa_id(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_sa_id *id)
{
	struct xfrm_usersa_id *ui;
	struct nlmsghdr *nlh;
	bool ok = true;

	if ((type != XFRM_MSG_DELSA && type != XFRM_MSG_GETSA) ||
	    (id->family != AF_INET && id->family != AF_INET6) ||
	    mark_check(id->mark, id->mark_mask))
		return -EINVAL;
	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ui)))
		return -EMSGSIZE;
	/* GETSA is answered by the SA itself (or an error), so it asks for no ACK, like iproute2. */
	nlh = msg_start(buf, len, type, NLM_F_REQUEST | (type == XFRM_MSG_DELSA ? NLM_F_ACK : 0),
			seq);
	ui = mnl_nlmsg_put_extra_header(nlh, sizeof(*ui));
	ui->daddr = id->daddr;
	ui->spi = id->spi;
	ui->family = id->family;
	ui->proto = proto_or_esp(id->proto);
	if (!addr_is_zero(&id->saddr))
		ok = mnl_attr_put_check(nlh, len, XFRMA_SRCADDR, sizeof(id->saddr), &id->saddr);
	if (ok)
		ok = put_mark(nlh, len, id->mark, id->mark_mask);
	return ok ? (int)nlh->nlmsg_len : -EMSGSIZE;
}

static int build_pol(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_pol *p,
		     const char **why)
{
	struct xfrm_user_tmpl ut[XFRMB_TMPL_MAX];
	struct xfrm_userpolicy_info *pi;
	struct nlmsghdr *nlh;
	unsigned int i;
	bool ok = true;

	*why = pol_check(p);
	if (*why)
		return -EINVAL;
	if (type != XFRM_MSG_NEWPOLICY && type != XFRM_MSG_UPDPOLICY)
		return -EINVAL;
	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*pi))) {
		*why = "message buffer too small";
		return -EMSGSIZE;
	}
	nlh = msg_start(buf, len, type, NLM_F_REQUEST | NLM_F_ACK, seq);
	pi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pi));
	sel_to_kernel(&p->sel, &pi->sel);
	pi->lft.soft_byte_limit = XFRM_INF;
	pi->lft.hard_byte_limit = XFRM_INF;
	pi->lft.soft_packet_limit = XFRM_INF;
	pi->lft.hard_packet_limit = XFRM_INF;
	pi->priority = p->priority;
	pi->dir = p->dir;
	pi->action = p->action;
	pi->share = XFRM_SHARE_ANY;
	if (p->n_tmpl) {
		memset(ut, 0, sizeof(ut));
		for (i = 0; i < p->n_tmpl; i++) {
			const struct xfrm_tmpl *t = &p->tmpl[i];

			ut[i].id.daddr = t->daddr;
			ut[i].id.spi = t->spi;
			ut[i].id.proto = proto_or_esp(t->proto);
			ut[i].family = t->family ? t->family : p->sel.family;
			ut[i].saddr = t->saddr;
			ut[i].reqid = t->reqid;
			ut[i].mode = t->mode;
			ut[i].share = XFRM_SHARE_ANY;
			ut[i].optional = t->optional;
			ut[i].aalgos = ~0u; /* any algorithm: the SA decides */
			ut[i].ealgos = ~0u;
			ut[i].calgos = ~0u;
		}
		ok = mnl_attr_put_check(nlh, len, XFRMA_TMPL, p->n_tmpl * sizeof(ut[0]), ut);
	}
	if (ok)
		ok = put_mark(nlh, len, p->mark, p->mark_mask);
	if (ok && p->if_id)
		ok = mnl_attr_put_u32_check(nlh, len, XFRMA_IF_ID, p->if_id);
	if (!ok) {
		*why = "message buffer too small";
		return -EMSGSIZE;
	}
	return (int)nlh->nlmsg_len;
}

int xfrm_msg_pol(void *buf, size_t len, __u16 type, __u32 seq, const struct xfrm_pol *p)
{
	const char *why;

	return build_pol(buf, len, type, seq, p, &why);
}

int xfrm_msg_pol_del(void *buf, size_t len, __u32 seq, const struct xfrm_pol *p)
{
	struct xfrm_userpolicy_id *pid;
	struct nlmsghdr *nlh;
	bool ok = true;

	if (pol_check(p))
		return -EINVAL;
	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*pid)))
		return -EMSGSIZE;
	nlh = msg_start(buf, len, XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq);
	pid = mnl_nlmsg_put_extra_header(nlh, sizeof(*pid));
	sel_to_kernel(&p->sel, &pid->sel);
	pid->dir = p->dir;
	ok = put_mark(nlh, len, p->mark, p->mark_mask);
	if (ok && p->if_id)
		ok = mnl_attr_put_u32_check(nlh, len, XFRMA_IF_ID, p->if_id);
	return ok ? (int)nlh->nlmsg_len : -EMSGSIZE;
}

/* ---- bounded walks --------------------------------------------------------------------------- */

/*
 * The attributes after a fixed header of hdr bytes, into tb[type] (types above max are skipped).
 * Each one passes the three checks in order (bytes left >= attribute header, declared length >=
 * header, declared length <= bytes left); a repeated attribute or bytes that do not form one
 * reject the message. libmnl's mnl_attr_for_each() would stop silently at a bad attribute.
 */
static int attr_walk(const struct nlmsghdr *nlh, size_t hdr, const struct nlattr **tb,
		     unsigned int max)
{
	size_t off = MNL_NLMSG_HDRLEN + MNL_ALIGN(hdr), left;
	const unsigned char *p = (const unsigned char *)nlh;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (nlh->nlmsg_len < off)
		return -EBADMSG;
	left = nlh->nlmsg_len - off;
	p += off;
	while (left) {
		const struct nlattr *a = (const struct nlattr *)p;
		size_t step;
		__u16 type;

		if (left < sizeof(*a) || a->nla_len < sizeof(*a) || a->nla_len > left)
			return -EBADMSG;
		type = a->nla_type & NLA_TYPE_MASK;
		if (type <= max) {
			if (tb[type])
				return -EBADMSG;
			tb[type] = a;
		}
		step = MNL_ALIGN(a->nla_len);
		if (step >= left) /* the last one may lack its padding */
			break;
		left -= step;
		p += step;
	}
	return 0;
}

static size_t attr_plen(const struct nlattr *a)
{
	return a->nla_len - sizeof(*a);
}

/* The fixed-size attribute a (may be NULL: absent) into out; -EBADMSG unless its size is n. */
static int attr_fixed(const struct nlattr *a, void *out, size_t n)
{
	if (!a)
		return 0;
	if (attr_plen(a) != n)
		return -EBADMSG;
	memcpy(out, mnl_attr_get_payload(a), n);
	return 0;
}

/* A struct xfrm_algo* attribute: name (NUL-terminated inside its 64 bytes), key length in bits
 * (the key must fit in the payload) and, for auth/aead, the truncation/ICV bits. */
static int attr_algo(const struct nlattr *a, bool extra, char *name, __u32 *keylen,
		     __u32 *extra_bits)
{
	size_t hdr = extra ? sizeof(struct xfrm_algo_aead) : sizeof(struct xfrm_algo);
	const unsigned char *pl;
	__u32 bits;

	if (!a)
		return 0;
	if (attr_plen(a) < hdr)
		return -EBADMSG;
	pl = mnl_attr_get_payload(a);
	if (strnlen((const char *)pl, XFRMB_ALG_NAME_MAX) == XFRMB_ALG_NAME_MAX)
		return -EBADMSG;
	memcpy(&bits, pl + offsetof(struct xfrm_algo, alg_key_len), sizeof(bits));
	if ((bits + 7) / 8 > attr_plen(a) - hdr)
		return -EBADMSG;
	memcpy(name, pl, XFRMB_ALG_NAME_MAX);
	*keylen = (bits + 7) / 8;
	if (extra)
		memcpy(extra_bits, pl + offsetof(struct xfrm_algo_aead, alg_icv_len),
		       sizeof(*extra_bits));
	return 0;
}

static size_t msg_plen(const struct nlmsghdr *nlh)
{
	return nlh->nlmsg_len - MNL_NLMSG_HDRLEN;
}

int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa *sa, struct xfrm_sa_stats *st)
{
	const struct nlattr *tb[XFRMA_MAX + 1];
	struct xfrm_usersa_info si;
	struct xfrm_sa_stats dummy;
	struct xfrm_mark mk = { 0 };
	int err;

	if (!st)
		st = &dummy;
	memset(sa, 0, sizeof(*sa));
	memset(st, 0, sizeof(*st));
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN ||
	    (nlh->nlmsg_type != XFRM_MSG_NEWSA && nlh->nlmsg_type != XFRM_MSG_UPDSA) ||
	    msg_plen(nlh) < sizeof(si))
		return -EBADMSG;
	memcpy(&si, mnl_nlmsg_get_payload(nlh), sizeof(si));
	err = attr_walk(nlh, sizeof(si), tb, XFRMA_MAX);
	if (err)
		return err;

	sa->family = si.family;
	sa->saddr = si.saddr;
	sa->daddr = si.id.daddr;
	sa->spi = si.id.spi;
	sa->proto = si.id.proto;
	sa->mode = si.mode;
	sa->reqid = si.reqid;
	sa->replay_window = si.replay_window;
	sa->esn = si.flags & XFRM_STATE_ESN;
	sel_from_kernel(&si.sel, &sa->sel);
	sa->soft.bytes = life_out(si.lft.soft_byte_limit);
	sa->hard.bytes = life_out(si.lft.hard_byte_limit);
	sa->soft.packets = life_out(si.lft.soft_packet_limit);
	sa->hard.packets = life_out(si.lft.hard_packet_limit);
	sa->soft.add_seconds = si.lft.soft_add_expires_seconds;
	sa->hard.add_seconds = si.lft.hard_add_expires_seconds;
	sa->soft.use_seconds = si.lft.soft_use_expires_seconds;
	sa->hard.use_seconds = si.lft.hard_use_expires_seconds;
	st->bytes = si.curlft.bytes;
	st->packets = si.curlft.packets;
	st->add_time = si.curlft.add_time;
	st->use_time = si.curlft.use_time;
	st->replay_window_errs = si.stats.replay_window;
	st->replay = si.stats.replay;
	st->integrity_failed = si.stats.integrity_failed;

	/* Key bytes are never copied: only names and lengths. */
	err = attr_algo(tb[XFRMA_ALG_CRYPT], false, sa->enc_alg, &sa->enc_key_len, NULL);
	if (!err)
		err = attr_algo(tb[XFRMA_ALG_AEAD], true, sa->aead_alg, &sa->aead_key_len,
				&sa->aead_icv_bits);
	if (!err && tb[XFRMA_ALG_AUTH_TRUNC])
		err = attr_algo(tb[XFRMA_ALG_AUTH_TRUNC], true, sa->auth_alg, &sa->auth_key_len,
				&sa->auth_trunc_bits);
	else if (!err && tb[XFRMA_ALG_AUTH]) /* an SA someone installed without truncation */
		err = attr_algo(tb[XFRMA_ALG_AUTH], false, sa->auth_alg, &sa->auth_key_len, NULL);
	if (!err && tb[XFRMA_ENCAP]) {
		struct xfrm_encap_tmpl et = { 0 };

		err = attr_fixed(tb[XFRMA_ENCAP], &et, sizeof(et));
		sa->encap = true;
		sa->encap_sport = et.encap_sport;
		sa->encap_dport = et.encap_dport;
	}
	if (!err)
		err = attr_fixed(tb[XFRMA_MARK], &mk, sizeof(mk));
	sa->mark = mk.v;
	sa->mark_mask = mk.m;
	if (!err)
		err = attr_fixed(tb[XFRMA_SET_MARK], &sa->set_mark, sizeof(__u32));
	if (!err && tb[XFRMA_SET_MARK]) {
		sa->set_mark_mask = ~0u; /* the kernel's default when no mask is given */
		err = attr_fixed(tb[XFRMA_SET_MARK_MASK], &sa->set_mark_mask, sizeof(__u32));
	}
	if (!err)
		err = attr_fixed(tb[XFRMA_IF_ID], &sa->if_id, sizeof(__u32));
	if (!err)
		err = attr_fixed(tb[XFRMA_LASTUSED], &st->lastused, sizeof(__u64));
	if (!err && tb[XFRMA_REPLAY_VAL]) {
		struct xfrm_replay_state rs = { 0 };

		err = attr_fixed(tb[XFRMA_REPLAY_VAL], &rs, sizeof(rs));
		st->oseq = rs.oseq;
		st->seq = rs.seq;
	}
	if (!err && tb[XFRMA_REPLAY_ESN_VAL]) {
		const struct nlattr *a = tb[XFRMA_REPLAY_ESN_VAL];
		struct xfrm_replay_state_esn rs;

		if (attr_plen(a) < sizeof(rs))
			return -EBADMSG;
		memcpy(&rs, mnl_attr_get_payload(a), sizeof(rs));
		if (rs.bmp_len > XFRMA_REPLAY_ESN_MAX / 32 ||
		    rs.bmp_len * 4 > attr_plen(a) - sizeof(rs))
			return -EBADMSG;
		st->oseq = (__u64)rs.oseq_hi << 32 | rs.oseq;
		st->seq = (__u64)rs.seq_hi << 32 | rs.seq;
		sa->replay_window = rs.replay_window;
	}
	return err;
}

/* Returns 0, 1 for a sub policy (which the lists skip) or -EBADMSG. */
int xfrm_parse_pol(const struct nlmsghdr *nlh, struct xfrm_pol *p)
{
	const struct nlattr *tb[XFRMA_MAX + 1];
	struct xfrm_userpolicy_info pi;
	struct xfrm_mark mk = { 0 };
	int err;

	memset(p, 0, sizeof(*p));
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN ||
	    (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY && nlh->nlmsg_type != XFRM_MSG_UPDPOLICY) ||
	    msg_plen(nlh) < sizeof(pi))
		return -EBADMSG;
	memcpy(&pi, mnl_nlmsg_get_payload(nlh), sizeof(pi));
	err = attr_walk(nlh, sizeof(pi), tb, XFRMA_MAX);
	if (err)
		return err;
	sel_from_kernel(&pi.sel, &p->sel);
	p->dir = pi.dir;
	p->action = pi.action;
	p->priority = pi.priority;
	p->index = pi.index;
	if (tb[XFRMA_TMPL]) {
		const struct nlattr *a = tb[XFRMA_TMPL];
		const unsigned char *pl = mnl_attr_get_payload(a);
		size_t n = attr_plen(a) / sizeof(struct xfrm_user_tmpl), i;

		if (attr_plen(a) % sizeof(struct xfrm_user_tmpl) || n > XFRMB_TMPL_MAX)
			return -EBADMSG;
		for (i = 0; i < n; i++) {
			struct xfrm_user_tmpl ut;

			memcpy(&ut, pl + i * sizeof(ut), sizeof(ut));
			p->tmpl[i].family = ut.family;
			p->tmpl[i].saddr = ut.saddr;
			p->tmpl[i].daddr = ut.id.daddr;
			p->tmpl[i].spi = ut.id.spi;
			p->tmpl[i].proto = ut.id.proto;
			p->tmpl[i].mode = ut.mode;
			p->tmpl[i].optional = ut.optional;
			p->tmpl[i].reqid = ut.reqid;
		}
		p->n_tmpl = (unsigned int)n;
	}
	err = attr_fixed(tb[XFRMA_MARK], &mk, sizeof(mk));
	p->mark = mk.v;
	p->mark_mask = mk.m;
	if (!err)
		err = attr_fixed(tb[XFRMA_IF_ID], &p->if_id, sizeof(__u32));
	if (!err && tb[XFRMA_POLICY_TYPE]) {
		struct xfrm_userpolicy_type t;

		err = attr_fixed(tb[XFRMA_POLICY_TYPE], &t, sizeof(t));
		if (!err && t.type != XFRM_POLICY_TYPE_MAIN)
			return 1;
	}
	return err;
}

int xfrm_parse_nlerr(const struct nlmsghdr *nlh, char *msg, size_t msglen)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct nlmsgerr e;
	size_t hdr;
	int err;

	if (msglen)
		msg[0] = '\0';
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN || nlh->nlmsg_type != NLMSG_ERROR ||
	    msg_plen(nlh) < sizeof(e))
		return -EBADMSG;
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	if (e.error > 0 || e.error < -4095)
		return -EBADMSG;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return e.error;
	/* Without NETLINK_CAP_ACK (or for an ACK) the request follows the error code. */
	hdr = sizeof(e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e.msg.nlmsg_len < sizeof(e.msg) ||
		    e.msg.nlmsg_len - sizeof(e.msg) > msg_plen(nlh) - sizeof(e))
			return -EBADMSG;
		hdr += e.msg.nlmsg_len - sizeof(e.msg);
	}
	err = attr_walk(nlh, hdr, tb, NLMSGERR_ATTR_MAX);
	if (err)
		return err;
	if (tb[NLMSGERR_ATTR_MSG] && msglen) {
		const struct nlattr *a = tb[NLMSGERR_ATTR_MSG];
		size_t n = attr_plen(a);
		const char *s = mnl_attr_get_payload(a);

		if (!n || s[n - 1] != '\0') /* a string attribute carries its NUL */
			return -EBADMSG;
		snprintf(msg, msglen, "%s", s);
	}
	return e.error;
}

/* ---- talking to the kernel ------------------------------------------------------------------- */

struct talk {
	int (*cb)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	bool dump;
	bool stopped; /* the callback returned non-zero: drain the rest of the dump */
	int err;      /* from the kernel (NLMSG_ERROR) */
	int cb_ret;   /* the callback's non-zero return */
	char ext[160];
};

static int talk_data(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	int ret = 0;

	if (t->stopped)
		return MNL_CB_OK;
	if (t->cb)
		ret = t->cb(nlh, t->arg);
	if (ret) {
		t->cb_ret = ret;
		t->stopped = true;
	}
	/* A dump is always read to its NLMSG_DONE, or its tail would answer the next request. */
	return t->dump ? MNL_CB_OK : MNL_CB_STOP;
}

static int talk_error(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	int err = xfrm_parse_nlerr(nlh, t->ext, sizeof(t->ext));

	if (!err)
		return MNL_CB_STOP; /* the ACK */
	t->err = err;
	return MNL_CB_ERROR;
}

static int talk_done(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_STOP;
}

static int talk_noop(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

static mnl_cb_t talk_ctl[NLMSG_MIN_TYPE] = {
	[NLMSG_NOOP] = talk_noop,
	[NLMSG_ERROR] = talk_error,
	[NLMSG_DONE] = talk_done,
};

/*
 * Sends the request in buf (zeroing buf afterwards: it may hold keys) and runs the answer through
 * cb. Returns 0, the callback's positive stop value, or -errno (the kernel's or the callback's)
 * with b->err set to "<what>: <kernel's extack> (<strerror>)".
 */
static int talk(struct xfrm_backend *b, void *buf, size_t buflen, bool dump,
		int (*cb)(const struct nlmsghdr *, void *), void *arg, const char *what)
{
	struct nlmsghdr *nlh = buf;
	struct talk t = { .cb = cb, .arg = arg, .dump = dump };
	__u32 seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	n = mnl_socket_sendto(b->nl, buf, nlh->nlmsg_len);
	ret = n < 0 ? -errno : 0;
	OPENSSL_cleanse(buf, buflen);
	if (ret)
		return set_err(b, ret, "%s: netlink send failed", what);
	do {
		n = mnl_socket_recvfrom(b->nl, b->rbuf, XFRMB_RBUF);
		if (n < 0) {
			ret = -errno;
			return set_err(b, ret, "%s: netlink receive failed", what);
		}
		errno = 0;
		ret = mnl_cb_run2(b->rbuf, (size_t)n, seq, b->portid, talk_data, &t, talk_ctl,
				  NLMSG_MIN_TYPE);
		/* Replies (GETSA, SA dumps) carry the kernel's copy of the keys. */
		OPENSSL_cleanse(b->rbuf, (size_t)n);
	} while (ret == MNL_CB_OK);
	if (ret == MNL_CB_ERROR) {
		int err = t.err ? t.err : (errno ? -errno : -EPROTO);

		if (t.ext[0])
			return set_err(b, err, "%s: %s", what, t.ext);
		return set_err(b, err, "%s", what);
	}
	if (t.cb_ret < 0)
		return set_err(b, t.cb_ret, "%s", what);
	b->err[0] = '\0';
	return t.cb_ret;
}

static __u32 next_seq(struct xfrm_backend *b)
{
	return ++b->seq;
}

struct xfrm_backend *xfrm_backend_new(enum xfrmb_mode mode)
{
	struct xfrm_backend *b;
	int one = 1, err;

	if (mode != XFRMB_KERNEL && mode != XFRMB_RECORD) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->mode = mode;
	b->seq = (__u32)time(NULL);
	if (mode == XFRMB_RECORD)
		return b;
	b->rbuf = malloc(XFRMB_RBUF);
	if (!b->rbuf)
		goto err_free;
	b->nl = mnl_socket_open(NETLINK_XFRM);
	if (!b->nl)
		goto err_free;
	if (mnl_socket_bind(b->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err_close;
	b->portid = mnl_socket_get_portid(b->nl);
	/* Best effort: older kernels answer without the text or with the request echoed. */
	mnl_socket_setsockopt(b->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(b->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	return b;
err_close:
	err = errno;
	mnl_socket_close(b->nl);
	errno = err;
err_free:
	err = errno;
	free(b->rbuf);
	free(b);
	errno = err;
	return NULL;
}

static void rec_sa_wipe(struct rec_sa *r)
{
	OPENSSL_cleanse(r, sizeof(*r));
}

void xfrm_backend_free(struct xfrm_backend *b)
{
	size_t i;

	if (!b)
		return;
	if (b->nl)
		mnl_socket_close(b->nl);
	if (b->rbuf) {
		OPENSSL_cleanse(b->rbuf, XFRMB_RBUF);
		free(b->rbuf);
	}
	for (i = 0; i < b->n_sa; i++)
		rec_sa_wipe(&b->sas[i]);
	free(b->sas);
	free(b->pols);
	free(b);
}

void xfrm_sa_clear(struct xfrm_sa *sa)
{
	OPENSSL_cleanse(sa, sizeof(*sa));
}

void xfrm_sa_id_of(const struct xfrm_sa *sa, struct xfrm_sa_id *id)
{
	memset(id, 0, sizeof(*id));
	id->family = sa->family;
	id->saddr = sa->saddr;
	id->daddr = sa->daddr;
	id->spi = sa->spi;
	id->proto = proto_or_esp(sa->proto);
	id->mark = sa->mark;
	id->mark_mask = sa->mark_mask;
}

static const char *sa_name(const struct xfrm_sa_id *id, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "SA spi 0x%08x dst %s", ntohl(id->spi),
		 addr_str(id->family, &id->daddr, a, sizeof(a)));
	return buf;
}

/* ---- record mode ----------------------------------------------------------------------------- */

static bool rec_sa_match(const struct xfrm_sa *s, const struct xfrm_sa_id *id)
{
	return s->family == id->family && s->spi == id->spi &&
	       proto_or_esp(s->proto) == proto_or_esp(id->proto) &&
	       !memcmp(&s->daddr, &id->daddr, addr_len(s->family)) &&
	       ((id->mark & id->mark_mask) & s->mark_mask) == s->mark;
}

static struct rec_sa *rec_sa_find(struct xfrm_backend *b, const struct xfrm_sa_id *id)
{
	size_t i;

	for (i = 0; i < b->n_sa; i++)
		if (rec_sa_match(&b->sas[i].sa, id))
			return &b->sas[i];
	return NULL;
}

static int rec_sa_put(struct xfrm_backend *b, const struct xfrm_sa *sa, bool update)
{
	struct xfrm_sa_id id;
	struct rec_sa *r;

	xfrm_sa_id_of(sa, &id);
	r = rec_sa_find(b, &id);
	if (r && !update)
		return -EEXIST;
	if (!r && update)
		return -ESRCH;
	if (!r) {
		if (b->n_sa == b->cap_sa) {
			size_t cap = b->cap_sa ? b->cap_sa * 2 : 16;
			struct rec_sa *n = calloc(cap, sizeof(*n));

			if (!n)
				return -ENOMEM;
			if (b->n_sa)
				memcpy(n, b->sas, b->n_sa * sizeof(*n));
			OPENSSL_cleanse(b->sas, b->cap_sa * sizeof(*n));
			free(b->sas);
			b->sas = n;
			b->cap_sa = cap;
		}
		r = &b->sas[b->n_sa++];
		r->added = (__u64)time(NULL);
	}
	r->sa = *sa;
	r->sa.proto = proto_or_esp(sa->proto);
	return 0;
}

static bool sel_equal(const struct xfrm_sel *a, const struct xfrm_sel *b)
{
	return a->family == b->family && !memcmp(&a->saddr, &b->saddr, sizeof(a->saddr)) &&
	       !memcmp(&a->daddr, &b->daddr, sizeof(a->daddr)) && a->sprefix == b->sprefix &&
	       a->dprefix == b->dprefix && a->proto == b->proto && a->sport == b->sport &&
	       a->sport_mask == b->sport_mask && a->dport == b->dport &&
	       a->dport_mask == b->dport_mask && a->ifindex == b->ifindex;
}

static struct xfrm_pol *rec_pol_find(struct xfrm_backend *b, const struct xfrm_pol *p)
{
	size_t i;

	for (i = 0; i < b->n_pol; i++) {
		struct xfrm_pol *q = &b->pols[i];

		if (q->dir == p->dir && sel_equal(&q->sel, &p->sel) && q->mark == p->mark &&
		    q->mark_mask == p->mark_mask && q->if_id == p->if_id)
			return q;
	}
	return NULL;
}

static int rec_pol_put(struct xfrm_backend *b, const struct xfrm_pol *p, bool update)
{
	struct xfrm_pol *q = rec_pol_find(b, p);
	__u32 index;

	if (q && !update)
		return -EEXIST;
	if (!q) {
		if (b->n_pol == b->cap_pol) {
			size_t cap = b->cap_pol ? b->cap_pol * 2 : 16;
			struct xfrm_pol *n = realloc(b->pols, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			b->pols = n;
			b->cap_pol = cap;
		}
		q = &b->pols[b->n_pol++];
		/* like the kernel: a per-direction index, the direction in the low 3 bits */
		index = (++b->next_index << 3) | p->dir;
	} else {
		index = q->index;
	}
	*q = *p;
	q->index = index;
	return 0;
}

/* ---- SAs ------------------------------------------------------------------------------------- */

static int sa_put(struct xfrm_backend *b, const struct xfrm_sa *sa, __u16 type)
{
	unsigned char buf[XFRMB_MSG_MAX];
	bool update = type == XFRM_MSG_UPDSA;
	const char *why, *verb = update ? "update" : "add";
	char name[96], what[128];
	struct xfrm_sa_id id;
	int n, err;

	xfrm_sa_id_of(sa, &id);
	sa_name(&id, name, sizeof(name));
	if (b->mode == XFRMB_RECORD) {
		why = sa_check(sa);
		if (why)
			return set_err(b, -EINVAL, "%s %s: %s", verb, name, why);
		err = rec_sa_put(b, sa, update);
		if (err)
			return set_err(b, err, "%s %s", verb, name);
		b->err[0] = '\0';
		return 0;
	}
	n = build_sa(buf, sizeof(buf), type, next_seq(b), sa, &why);
	if (n < 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return set_err(b, n, "%s %s: %s", verb, name, why);
	}
	snprintf(what, sizeof(what), "%s %s", verb, name);
	return talk(b, buf, sizeof(buf), false, NULL, NULL, what);
}

int xfrm_sa_add(struct xfrm_backend *b, const struct xfrm_sa *sa)
{
	return sa_put(b, sa, XFRM_MSG_NEWSA);
}

int xfrm_sa_update(struct xfrm_backend *b, const struct xfrm_sa *sa)
{
	return sa_put(b, sa, XFRM_MSG_UPDSA);
}

int xfrm_sa_del(struct xfrm_backend *b, const struct xfrm_sa_id *id)
{
	unsigned char buf[XFRMB_MSG_MAX];
	char name[96], what[128];
	int n;

	sa_name(id, name, sizeof(name));
	snprintf(what, sizeof(what), "delete %s", name);
	if (b->mode == XFRMB_RECORD) {
		struct rec_sa *r = rec_sa_find(b, id);
		size_t i;

		if (!r)
			return set_err(b, -ESRCH, "%s", what);
		i = (size_t)(r - b->sas);
		rec_sa_wipe(r);
		memmove(r, r + 1, (b->n_sa - i - 1) * sizeof(*r));
		b->n_sa--;
		rec_sa_wipe(&b->sas[b->n_sa]);
		b->err[0] = '\0';
		return 0;
	}
	n = xfrm_msg_sa_id(buf, sizeof(buf), XFRM_MSG_DELSA, next_seq(b), id);
	if (n < 0)
		return set_err(b, n, "%s: bad SA id", what);
	return talk(b, buf, sizeof(buf), false, NULL, NULL, what);
}

struct sa_get {
	struct xfrm_sa_stats *st;
	bool got;
};

static int sa_get_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct sa_get *g = arg;
	struct xfrm_sa sa;
	int err = xfrm_parse_sa(nlh, &sa, g->st);

	xfrm_sa_clear(&sa);
	if (err)
		return err;
	g->got = true;
	return 0;
}

int xfrm_sa_get_stats(struct xfrm_backend *b, const struct xfrm_sa_id *id, struct xfrm_sa_stats *st)
{
	unsigned char buf[XFRMB_MSG_MAX];
	struct sa_get g = { .st = st };
	char name[96], what[128];
	int n, err;

	memset(st, 0, sizeof(*st));
	sa_name(id, name, sizeof(name));
	snprintf(what, sizeof(what), "get %s", name);
	if (b->mode == XFRMB_RECORD) {
		struct rec_sa *r = rec_sa_find(b, id);

		if (!r)
			return set_err(b, -ESRCH, "%s", what);
		st->add_time = r->added;
		b->err[0] = '\0';
		return 0;
	}
	n = xfrm_msg_sa_id(buf, sizeof(buf), XFRM_MSG_GETSA, next_seq(b), id);
	if (n < 0)
		return set_err(b, n, "%s: bad SA id", what);
	err = talk(b, buf, sizeof(buf), false, sa_get_cb, &g, what);
	if (!err && !g.got)
		err = set_err(b, -EPROTO, "%s: no answer", what);
	return err;
}

struct sa_walk {
	xfrm_sa_cb cb;
	void *arg;
};

static int sa_walk_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct sa_walk *w = arg;
	struct xfrm_sa_stats st;
	struct xfrm_sa sa;
	int err = xfrm_parse_sa(nlh, &sa, &st);

	if (!err)
		err = w->cb(&sa, &st, w->arg);
	xfrm_sa_clear(&sa);
	return err;
}

int xfrm_sa_list(struct xfrm_backend *b, xfrm_sa_cb cb, void *arg)
{
	unsigned char buf[XFRMB_MSG_MAX];
	struct sa_walk w = { .cb = cb, .arg = arg };

	if (b->mode == XFRMB_RECORD) {
		size_t i;
		int ret;

		for (i = 0; i < b->n_sa; i++) {
			struct xfrm_sa_stats st = { .add_time = b->sas[i].added };
			struct xfrm_sa sa = b->sas[i].sa;

			/* like the kernel dump: names and lengths, never the keys */
			OPENSSL_cleanse(sa.enc_key, sizeof(sa.enc_key));
			OPENSSL_cleanse(sa.auth_key, sizeof(sa.auth_key));
			OPENSSL_cleanse(sa.aead_key, sizeof(sa.aead_key));
			ret = cb(&sa, &st, arg);
			xfrm_sa_clear(&sa);
			if (ret)
				return ret;
		}
		return 0;
	}
	msg_start(buf, sizeof(buf), XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, next_seq(b));
	return talk(b, buf, sizeof(buf), true, sa_walk_cb, &w, "list SAs");
}

/* ---- policies -------------------------------------------------------------------------------- */

static const char *dir_name(__u8 dir)
{
	switch (dir) {
	case XFRM_POLICY_IN:
		return "in";
	case XFRM_POLICY_OUT:
		return "out";
	case XFRM_POLICY_FWD:
		return "fwd";
	}
	return "?";
}

static const char *pol_name(const struct xfrm_pol *p, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	snprintf(buf, len, "policy %s %s/%u -> %s/%u mark 0x%x/0x%x", dir_name(p->dir),
		 addr_str(p->sel.family, &p->sel.saddr, s, sizeof(s)), p->sel.sprefix,
		 addr_str(p->sel.family, &p->sel.daddr, d, sizeof(d)), p->sel.dprefix, p->mark,
		 p->mark_mask);
	return buf;
}

static int pol_put(struct xfrm_backend *b, const struct xfrm_pol *p, __u16 type)
{
	unsigned char buf[XFRMB_MSG_MAX];
	bool update = type == XFRM_MSG_UPDPOLICY;
	const char *why;
	char name[160], what[192];
	int n, err;

	pol_name(p, name, sizeof(name));
	snprintf(what, sizeof(what), "%s %s", update ? "update" : "add", name);
	if (b->mode == XFRMB_RECORD) {
		why = pol_check(p);
		if (why)
			return set_err(b, -EINVAL, "%s: %s", what, why);
		err = rec_pol_put(b, p, update);
		if (err)
			return set_err(b, err, "%s", what);
		b->err[0] = '\0';
		return 0;
	}
	n = build_pol(buf, sizeof(buf), type, next_seq(b), p, &why);
	if (n < 0)
		return set_err(b, n, "%s: %s", what, why);
	return talk(b, buf, sizeof(buf), false, NULL, NULL, what);
}

int xfrm_pol_add(struct xfrm_backend *b, const struct xfrm_pol *p)
{
	return pol_put(b, p, XFRM_MSG_NEWPOLICY);
}

int xfrm_pol_update(struct xfrm_backend *b, const struct xfrm_pol *p)
{
	return pol_put(b, p, XFRM_MSG_UPDPOLICY);
}

int xfrm_pol_del(struct xfrm_backend *b, const struct xfrm_pol *p)
{
	unsigned char buf[XFRMB_MSG_MAX];
	char name[160], what[192];
	int n;

	pol_name(p, name, sizeof(name));
	snprintf(what, sizeof(what), "delete %s", name);
	if (b->mode == XFRMB_RECORD) {
		struct xfrm_pol *q = rec_pol_find(b, p);
		size_t i;

		if (!q)
			return set_err(b, -ENOENT, "%s", what);
		i = (size_t)(q - b->pols);
		memmove(q, q + 1, (b->n_pol - i - 1) * sizeof(*q));
		b->n_pol--;
		b->err[0] = '\0';
		return 0;
	}
	n = xfrm_msg_pol_del(buf, sizeof(buf), next_seq(b), p);
	if (n < 0)
		return set_err(b, n, "%s: invalid policy", what);
	return talk(b, buf, sizeof(buf), false, NULL, NULL, what);
}

struct pol_walk {
	xfrm_pol_cb cb;
	void *arg;
};

static int pol_walk_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct pol_walk *w = arg;
	struct xfrm_pol p;
	int err = xfrm_parse_pol(nlh, &p);

	if (err == 1)
		return 0;
	if (err)
		return err;
	return w->cb(&p, w->arg);
}

int xfrm_pol_list(struct xfrm_backend *b, xfrm_pol_cb cb, void *arg)
{
	unsigned char buf[XFRMB_MSG_MAX];
	struct pol_walk w = { .cb = cb, .arg = arg };

	if (b->mode == XFRMB_RECORD) {
		size_t i;
		int ret;

		for (i = 0; i < b->n_pol; i++) {
			struct xfrm_pol p = b->pols[i];

			ret = cb(&p, arg);
			if (ret)
				return ret;
		}
		return 0;
	}
	msg_start(buf, sizeof(buf), XFRM_MSG_GETPOLICY, NLM_F_REQUEST | NLM_F_DUMP, next_seq(b));
	return talk(b, buf, sizeof(buf), true, pol_walk_cb, &w, "list policies");
}

/* ---- ours, and flushing them ----------------------------------------------------------------- */

bool xfrm_reqid_is_ours(__u32 reqid)
{
	return reqid >= EG_REQID_BASE && reqid - EG_REQID_BASE < EG_MAX_CHILDREN;
}

bool xfrm_mark_is_ours(__u32 mark, __u32 mask)
{
	return mask && (mark & EG_MARK_MAGIC_MASK) == EG_MARK_MAGIC;
}

bool xfrm_sa_is_ours(const struct xfrm_sa *sa)
{
	return xfrm_reqid_is_ours(sa->reqid) || xfrm_mark_is_ours(sa->mark, sa->mark_mask);
}

bool xfrm_pol_is_ours(const struct xfrm_pol *p)
{
	unsigned int i;

	if (xfrm_mark_is_ours(p->mark, p->mark_mask))
		return true;
	for (i = 0; i < p->n_tmpl && i < XFRMB_TMPL_MAX; i++)
		if (xfrm_reqid_is_ours(p->tmpl[i].reqid))
			return true;
	/* The fail-closed block policies and the hairpin bypasses carry neither mark nor template:
	 * they are recognised by their reserved priorities (espgate_abi.h). */
	if (!p->n_tmpl && !p->mark_mask && p->action == XFRM_POLICY_ALLOW && p->sel.ifindex &&
	    p->priority == EG_PRIO_HAIRPIN)
		return true;
	return !p->n_tmpl && p->action == XFRM_POLICY_BLOCK && !p->mark_mask &&
	       p->priority >= EG_PRIO_FALLBACK_BASE && p->priority < EG_PRIO_FALLBACK_END;
}

struct collect {
	void *items;
	size_t n, cap, size;
	int err;
};

static int collect_add(struct collect *c, const void *item)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		void *n = realloc(c->items, cap * c->size);

		if (!n)
			return -ENOMEM;
		c->items = n;
		c->cap = cap;
	}
	memcpy((char *)c->items + c->n * c->size, item, c->size);
	c->n++;
	return 0;
}

static int collect_pol(const struct xfrm_pol *p, void *arg)
{
	return xfrm_pol_is_ours(p) ? collect_add(arg, p) : 0;
}

static int collect_sa(const struct xfrm_sa *sa, const struct xfrm_sa_stats *st, void *arg)
{
	struct xfrm_sa_id id;

	(void)st;
	if (!xfrm_sa_is_ours(sa))
		return 0;
	xfrm_sa_id_of(sa, &id);
	return collect_add(arg, &id);
}

int xfrm_flush_ours(struct xfrm_backend *b, unsigned int *n_pol, unsigned int *n_sa)
{
	struct collect pols = { .size = sizeof(struct xfrm_pol) };
	struct collect sas = { .size = sizeof(struct xfrm_sa_id) };
	unsigned int dp = 0, ds = 0;
	size_t i;
	int err;

	/* Collect first, then delete: a dump is not walked while it changes. Policies go first so
	 * no packet finds a policy whose SA is already gone and triggers an acquire. */
	err = xfrm_pol_list(b, collect_pol, &pols);
	for (i = 0; !err && i < pols.n; i++) {
		err = xfrm_pol_del(b, (struct xfrm_pol *)pols.items + i);
		if (err == -ENOENT) /* gone meanwhile */
			err = 0;
		else if (!err)
			dp++;
	}
	if (!err)
		err = xfrm_sa_list(b, collect_sa, &sas);
	for (i = 0; !err && i < sas.n; i++) {
		err = xfrm_sa_del(b, (struct xfrm_sa_id *)sas.items + i);
		if (err == -ESRCH)
			err = 0;
		else if (!err)
			ds++;
	}
	free(pols.items);
	free(sas.items);
	if (n_pol)
		*n_pol = dp;
	if (n_sa)
		*n_sa = ds;
	return err;
}

/* ---- record dump ----------------------------------------------------------------------------- */

static void put_hex(FILE *f, const __u8 *k, __u32 n)
{
	__u32 i;

	fputs("0x", f);
	for (i = 0; i < n; i++)
		fprintf(f, "%02x", k[i]);
}

static void dump_alg(FILE *f, bool json, const char *tag, const char *name, const __u8 *key,
		     __u32 keylen, __u32 bits, bool keys)
{
	if (json) {
		fprintf(f, ",\"%s\":{\"name\":\"%s\",\"key_bits\":%u", tag, name, keylen * 8);
		if (bits)
			fprintf(f, ",\"%s\":%u", !strcmp(tag, "aead") ? "icv_bits" : "trunc_bits",
				bits);
		if (keys) {
			fputs(",\"key\":\"", f);
			put_hex(f, key, keylen);
			fputc('"', f);
		}
		fputc('}', f);
		return;
	}
	fprintf(f, " %s %s %u", tag, name, keylen * 8);
	if (bits)
		fprintf(f, "/%u", bits);
	if (keys) {
		fputc(' ', f);
		put_hex(f, key, keylen);
	}
}

static void dump_sa(FILE *f, const struct rec_sa *r, unsigned int flags)
{
	const struct xfrm_sa *sa = &r->sa;
	bool json = flags & XFRMB_DUMP_JSON, keys = flags & XFRMB_DUMP_KEYS;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *mode = sa->mode == XFRM_MODE_TUNNEL ? "tunnel" : "transport";

	addr_str(sa->family, &sa->saddr, s, sizeof(s));
	addr_str(sa->family, &sa->daddr, d, sizeof(d));
	if (json)
		fprintf(f,
			"{\"src\":\"%s\",\"dst\":\"%s\",\"proto\":\"esp\",\"spi\":\"0x%08x\","
			"\"reqid\":%u,\"mode\":\"%s\",\"replay_window\":%u,\"esn\":%s",
			s, d, ntohl(sa->spi), sa->reqid, mode, sa->replay_window,
			sa->esn ? "true" : "false");
	else
		fprintf(f,
			"sa src %s dst %s proto esp spi 0x%08x reqid 0x%x mode %s replay-window %u%s",
			s, d, ntohl(sa->spi), sa->reqid, mode, sa->replay_window,
			sa->esn ? " esn" : "");
	if (sa->aead_alg[0])
		dump_alg(f, json, "aead", sa->aead_alg, sa->aead_key, sa->aead_key_len,
			 sa->aead_icv_bits, keys);
	if (sa->enc_alg[0])
		dump_alg(f, json, "enc", sa->enc_alg, sa->enc_key, sa->enc_key_len, 0, keys);
	if (sa->auth_alg[0])
		dump_alg(f, json, "auth", sa->auth_alg, sa->auth_key, sa->auth_key_len,
			 sa->auth_trunc_bits, keys);
	if (json) {
		if (sa->encap)
			fprintf(f, ",\"encap\":{\"sport\":%u,\"dport\":%u}", ntohs(sa->encap_sport),
				ntohs(sa->encap_dport));
		fprintf(f,
			",\"mark\":%u,\"mark_mask\":%u,\"set_mark\":%u,\"set_mark_mask\":%u,"
			"\"if_id\":%u",
			sa->mark, sa->mark_mask, sa->set_mark, sa->set_mark_mask, sa->if_id);
		fprintf(f,
			",\"soft\":{\"bytes\":%llu,\"packets\":%llu,\"add_seconds\":%llu,"
			"\"use_seconds\":%llu}",
			(unsigned long long)sa->soft.bytes, (unsigned long long)sa->soft.packets,
			(unsigned long long)sa->soft.add_seconds,
			(unsigned long long)sa->soft.use_seconds);
		fprintf(f,
			",\"hard\":{\"bytes\":%llu,\"packets\":%llu,\"add_seconds\":%llu,"
			"\"use_seconds\":%llu}}",
			(unsigned long long)sa->hard.bytes, (unsigned long long)sa->hard.packets,
			(unsigned long long)sa->hard.add_seconds,
			(unsigned long long)sa->hard.use_seconds);
		return;
	}
	if (sa->encap)
		fprintf(f, " encap espinudp %u %u", ntohs(sa->encap_sport), ntohs(sa->encap_dport));
	if (sa->mark_mask)
		fprintf(f, " mark 0x%x/0x%x", sa->mark, sa->mark_mask);
	if (sa->set_mark_mask)
		fprintf(f, " set-mark 0x%x/0x%x", sa->set_mark, sa->set_mark_mask);
	if (sa->if_id)
		fprintf(f, " if_id %u", sa->if_id);
	fprintf(f, " soft %llub/%llup/%llus/%llus hard %llub/%llup/%llus/%llus\n",
		(unsigned long long)sa->soft.bytes, (unsigned long long)sa->soft.packets,
		(unsigned long long)sa->soft.add_seconds, (unsigned long long)sa->soft.use_seconds,
		(unsigned long long)sa->hard.bytes, (unsigned long long)sa->hard.packets,
		(unsigned long long)sa->hard.add_seconds, (unsigned long long)sa->hard.use_seconds);
}

static void dump_pol(FILE *f, const struct xfrm_pol *p, unsigned int flags)
{
	bool json = flags & XFRMB_DUMP_JSON;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *action = p->action == XFRM_POLICY_BLOCK ? "block" : "allow";
	unsigned int i;

	addr_str(p->sel.family, &p->sel.saddr, s, sizeof(s));
	addr_str(p->sel.family, &p->sel.daddr, d, sizeof(d));
	if (json)
		fprintf(f,
			"{\"dir\":\"%s\",\"src\":\"%s/%u\",\"dst\":\"%s/%u\",\"proto\":%u,"
			"\"sport\":%u,\"sport_mask\":%u,\"dport\":%u,\"dport_mask\":%u,"
			"\"action\":\"%s\",\"priority\":%u,\"index\":%u,\"mark\":%u,"
			"\"mark_mask\":%u,\"if_id\":%u,",
			dir_name(p->dir), s, p->sel.sprefix, d, p->sel.dprefix, p->sel.proto,
			ntohs(p->sel.sport), ntohs(p->sel.sport_mask), ntohs(p->sel.dport),
			ntohs(p->sel.dport_mask), action, p->priority, p->index, p->mark,
			p->mark_mask, p->if_id);
	else
		fprintf(f,
			"pol dir %s src %s/%u dst %s/%u proto %u sport %u/0x%x dport %u/0x%x "
			"action %s priority %u index %u",
			dir_name(p->dir), s, p->sel.sprefix, d, p->sel.dprefix, p->sel.proto,
			ntohs(p->sel.sport), ntohs(p->sel.sport_mask), ntohs(p->sel.dport),
			ntohs(p->sel.dport_mask), action, p->priority, p->index);
	if (json && p->sel.ifindex)
		fprintf(f, "\"ifindex\":%d,", p->sel.ifindex);
	if (json)
		fprintf(f, "\"tmpl\":[");
	if (!json && p->sel.ifindex)
		fprintf(f, " dev %d", p->sel.ifindex);
	if (!json && p->mark_mask)
		fprintf(f, " mark 0x%x/0x%x", p->mark, p->mark_mask);
	if (!json && p->if_id)
		fprintf(f, " if_id %u", p->if_id);
	for (i = 0; i < p->n_tmpl && i < XFRMB_TMPL_MAX; i++) {
		const struct xfrm_tmpl *t = &p->tmpl[i];
		__u16 fam = t->family ? t->family : p->sel.family;
		const char *mode = t->mode == XFRM_MODE_TUNNEL ? "tunnel" : "transport";

		addr_str(fam, &t->saddr, s, sizeof(s));
		addr_str(fam, &t->daddr, d, sizeof(d));
		if (json)
			fprintf(f,
				"%s{\"src\":\"%s\",\"dst\":\"%s\",\"proto\":\"esp\",\"mode\":\"%s\","
				"\"reqid\":%u,\"spi\":\"0x%08x\",\"optional\":%s}",
				i ? "," : "", s, d, mode, t->reqid, ntohl(t->spi),
				t->optional ? "true" : "false");
		else
			fprintf(f, " tmpl src %s dst %s proto esp mode %s reqid 0x%x%s", s, d, mode,
				t->reqid, t->optional ? " level use" : "");
	}
	fputs(json ? "]}" : "\n", f);
}

int xfrm_record_dump(const struct xfrm_backend *b, FILE *f, unsigned int flags)
{
	size_t i;

	if (b->mode != XFRMB_RECORD)
		return -EOPNOTSUPP;
	if (flags & XFRMB_DUMP_JSON)
		fputs("{\"sas\":[", f);
	for (i = 0; i < b->n_sa; i++) {
		if ((flags & XFRMB_DUMP_JSON) && i)
			fputc(',', f);
		dump_sa(f, &b->sas[i], flags);
	}
	if (flags & XFRMB_DUMP_JSON)
		fputs("],\"policies\":[", f);
	for (i = 0; i < b->n_pol; i++) {
		if ((flags & XFRMB_DUMP_JSON) && i)
			fputc(',', f);
		dump_pol(f, &b->pols[i], flags);
	}
	if (flags & XFRMB_DUMP_JSON)
		fputs("]}\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ---- sockets, probe -------------------------------------------------------------------------- */

int xfrm_socket_bypass(int fd, int family)
{
	struct xfrm_userpolicy_info pol;
	int level, opt;
	__u8 dirs[] = { XFRM_POLICY_IN, XFRM_POLICY_OUT };
	size_t i;

	if (family == AF_INET) {
		level = IPPROTO_IP;
		opt = IP_XFRM_POLICY;
	} else if (family == AF_INET6) {
		level = IPPROTO_IPV6;
		opt = IPV6_XFRM_POLICY;
	} else {
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < sizeof(dirs); i++) {
		memset(&pol, 0, sizeof(pol));
		pol.sel.family = family;
		pol.lft.soft_byte_limit = XFRM_INF;
		pol.lft.hard_byte_limit = XFRM_INF;
		pol.lft.soft_packet_limit = XFRM_INF;
		pol.lft.hard_packet_limit = XFRM_INF;
		pol.dir = dirs[i];
		pol.action = XFRM_POLICY_ALLOW;
		pol.share = XFRM_SHARE_ANY;
		if (setsockopt(fd, level, opt, &pol, sizeof(pol)) < 0)
			return -errno;
	}
	return 0;
}

int xfrm_probe_esp(int family, char *msg, size_t msglen)
{
	const char *fam = family == AF_INET6 ? "IPv6" : "IPv4";
	const char *mod = family == AF_INET6 ? "CONFIG_INET6_ESP, module esp6"
					     : "CONFIG_INET_ESP, module esp4";
	struct xfrm_backend *b;
	struct xfrm_sa_id id;
	struct xfrm_sa sa;
	int err;

	if (family != AF_INET && family != AF_INET6) {
		snprintf(msg, msglen, "ESP probe: unknown address family %d", family);
		return -EAFNOSUPPORT;
	}
	b = xfrm_backend_new(XFRMB_KERNEL);
	if (!b) {
		err = -errno;
		if (err == -EPROTONOSUPPORT)
			snprintf(msg, msglen,
				 "kernel has no XFRM netlink interface (CONFIG_XFRM_USER, module "
				 "xfrm_user)");
		else
			snprintf(msg, msglen, "cannot open the XFRM netlink socket: %s",
				 strerror(-err));
		return err;
	}
	memset(&sa, 0, sizeof(sa));
	sa.family = family;
	/* documentation addresses (RFC 5737/3849): nothing real is ever sent to them */
	if (family == AF_INET) {
		xfrm_addr_parse("192.0.2.1", &sa.family, &sa.saddr);
		xfrm_addr_parse("192.0.2.2", &sa.family, &sa.daddr);
	} else {
		xfrm_addr_parse("2001:db8::1", &sa.family, &sa.saddr);
		xfrm_addr_parse("2001:db8::2", &sa.family, &sa.daddr);
	}
	sa.spi = htonl(0xe5900000u | ((__u32)getpid() & 0xffff));
	sa.proto = IPPROTO_ESP;
	sa.mode = XFRM_MODE_TUNNEL;
	/* child 0 ("none"): inside our reserved ranges, so xfrm_flush_ours() removes a leftover */
	sa.reqid = EG_REQID(0);
	sa.mark = EG_MARK_MAGIC;
	sa.mark_mask = ~0u;
	snprintf(sa.enc_alg, sizeof(sa.enc_alg), "cbc(aes)");
	sa.enc_key_len = 16;
	snprintf(sa.auth_alg, sizeof(sa.auth_alg), "hmac(sha256)");
	sa.auth_key_len = 32;
	sa.auth_trunc_bits = 128;
	sa.hard.add_seconds = XFRMB_PROBE_LIFETIME;
	xfrm_sa_id_of(&sa, &id);

	err = xfrm_sa_add(b, &sa);
	if (err == -EEXIST) { /* left by an earlier probe of this pid number */
		xfrm_sa_del(b, &id);
		err = xfrm_sa_add(b, &sa);
	}
	if (err == -EPROTONOSUPPORT)
		snprintf(msg, msglen, "kernel has no ESP for %s (%s): %s", fam, mod,
			 xfrm_backend_error(b));
	else if (err == -ENOSYS || err == -ENOENT)
		snprintf(msg, msglen, "kernel crypto lacks cbc(aes) or hmac(sha256): %s",
			 xfrm_backend_error(b));
	else if (err == -EPERM)
		snprintf(msg, msglen, "not allowed to install SAs (needs CAP_NET_ADMIN): %s",
			 xfrm_backend_error(b));
	else if (err)
		snprintf(msg, msglen, "installing a test ESP SA failed: %s", xfrm_backend_error(b));
	if (!err) {
		err = xfrm_sa_del(b, &id);
		if (err)
			snprintf(msg, msglen, "the ESP probe SA could not be removed: %s",
				 xfrm_backend_error(b));
		else
			snprintf(msg, msglen, "kernel ESP for %s: ok", fam);
	}
	xfrm_sa_clear(&sa);
	xfrm_backend_free(b);
	return err;
}

/* ---- events ---------------------------------------------------------------------------------- */

static int parse_expire(const struct nlmsghdr *nlh, struct xfrm_ev_expire *e)
{
	const struct nlattr *tb[XFRMA_MAX + 1];
	struct xfrm_user_expire ue;
	struct xfrm_mark mk = { 0 };
	int err;

	if (msg_plen(nlh) < sizeof(ue))
		return -EBADMSG;
	memcpy(&ue, mnl_nlmsg_get_payload(nlh), sizeof(ue));
	err = attr_walk(nlh, sizeof(ue), tb, XFRMA_MAX);
	if (!err)
		err = attr_fixed(tb[XFRMA_MARK], &mk, sizeof(mk));
	if (!err)
		err = attr_fixed(tb[XFRMA_IF_ID], &e->if_id, sizeof(__u32));
	if (err)
		return err;
	e->hard = ue.hard != 0;
	e->family = ue.state.family;
	e->saddr = ue.state.saddr;
	e->daddr = ue.state.id.daddr;
	e->spi = ue.state.id.spi;
	e->proto = ue.state.id.proto;
	e->mode = ue.state.mode;
	e->reqid = ue.state.reqid;
	e->mark = mk.v;
	e->mark_mask = mk.m;
	return 0;
}

static int parse_acquire(const struct nlmsghdr *nlh, struct xfrm_ev_acquire *a)
{
	const struct nlattr *tb[XFRMA_MAX + 1];
	struct xfrm_user_acquire ua;
	struct xfrm_mark mk = { 0 };
	int err;

	if (msg_plen(nlh) < sizeof(ua))
		return -EBADMSG;
	memcpy(&ua, mnl_nlmsg_get_payload(nlh), sizeof(ua));
	err = attr_walk(nlh, sizeof(ua), tb, XFRMA_MAX);
	if (!err)
		err = attr_fixed(tb[XFRMA_MARK], &mk, sizeof(mk));
	if (!err)
		err = attr_fixed(tb[XFRMA_IF_ID], &a->if_id, sizeof(__u32));
	if (err)
		return err;
	/* The wanted SA's addresses are in its template's family, which differs from the flow's
	 * (the selector's) for IPv6-over-IPv4 tunnels. */
	a->family = ua.sel.family;
	if (tb[XFRMA_TMPL]) {
		const struct nlattr *t = tb[XFRMA_TMPL];
		const unsigned char *pl = mnl_attr_get_payload(t);
		size_t n = attr_plen(t) / sizeof(struct xfrm_user_tmpl), i;

		if (attr_plen(t) % sizeof(struct xfrm_user_tmpl) || n > XFRMB_TMPL_MAX)
			return -EBADMSG;
		for (i = 0; i < n; i++) {
			struct xfrm_user_tmpl ut;

			memcpy(&ut, pl + i * sizeof(ut), sizeof(ut));
			if (ut.id.proto == ua.id.proto) {
				a->reqid = ut.reqid;
				if (ut.family)
					a->family = ut.family;
				break;
			}
		}
	}
	a->saddr = ua.saddr;
	a->daddr = ua.id.daddr;
	a->proto = ua.id.proto;
	sel_from_kernel(&ua.sel, &a->sel);
	a->policy_index = ua.policy.index;
	a->policy_dir = ua.policy.dir;
	a->policy_priority = ua.policy.priority;
	a->seq = ua.seq;
	a->mark = mk.v;
	a->mark_mask = mk.m;
	return 0;
}

/*
 * The framing of a datagram: each message passes the three checks, in size_t (libmnl's
 * mnl_nlmsg_ok() casts nlmsg_len to int, so a length >= 2^31 would pass it), and nothing is left
 * over. Checked for the whole datagram before any event is delivered.
 */
static int msgs_validate(const unsigned char *p, size_t len)
{
	while (len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		size_t step;

		if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
			return -EBADMSG;
		step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= len)
			break;
		len -= step;
		p += step;
	}
	return 0;
}

int xfrm_events_parse(const void *buf, size_t len, xfrm_event_cb cb, void *arg)
{
	const unsigned char *p = buf;
	int n = 0, err;

	err = msgs_validate(p, len);
	if (err)
		return err;
	while (len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		struct xfrm_event ev;
		size_t step;

		memset(&ev, 0, sizeof(ev));
		ev.msg_type = nlh->nlmsg_type;
		switch (nlh->nlmsg_type) {
		case XFRM_MSG_EXPIRE:
			ev.type = XFRMB_EV_EXPIRE;
			err = parse_expire(nlh, &ev.expire);
			break;
		case XFRM_MSG_ACQUIRE:
			ev.type = XFRMB_EV_ACQUIRE;
			err = parse_acquire(nlh, &ev.acquire);
			break;
		case NLMSG_NOOP:
		case NLMSG_DONE:
			err = 1;
			break;
		case NLMSG_ERROR:
			err = -EBADMSG; /* nothing was asked on this socket */
			break;
		default:
			ev.type = XFRMB_EV_OTHER;
			err = 0;
			break;
		}
		if (err < 0)
			return err;
		if (!err) {
			int ret = cb(&ev, arg);

			n++;
			if (ret)
				return ret < 0 ? ret : n;
		}
		step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= len)
			break;
		len -= step;
		p += step;
	}
	return n;
}

struct xfrm_events *xfrm_events_open(unsigned int groups)
{
	unsigned int grp[4], n = 0, i;
	struct xfrm_events *ev;
	int rcvbuf = XFRMB_EV_RCVBUF, err;

	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->buf = malloc(XFRMB_EVBUF);
	if (!ev->buf)
		goto err_free;
	ev->nl = mnl_socket_open2(NETLINK_XFRM, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!ev->nl)
		goto err_free;
	if (mnl_socket_bind(ev->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err_close;
	grp[n++] = XFRMNLGRP_EXPIRE;
	grp[n++] = XFRMNLGRP_ACQUIRE;
	if (groups & XFRMB_GRP_SA)
		grp[n++] = XFRMNLGRP_SA;
	if (groups & XFRMB_GRP_POLICY)
		grp[n++] = XFRMNLGRP_POLICY;
	for (i = 0; i < n; i++)
		if (mnl_socket_setsockopt(ev->nl, NETLINK_ADD_MEMBERSHIP, &grp[i], sizeof(grp[i])) <
		    0)
			goto err_close;
	/* best effort: a burst of expires must not overflow a default-sized buffer */
	setsockopt(mnl_socket_get_fd(ev->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return ev;
err_close:
	err = errno;
	mnl_socket_close(ev->nl);
	errno = err;
err_free:
	err = errno;
	free(ev->buf);
	free(ev);
	errno = err;
	return NULL;
}

void xfrm_events_close(struct xfrm_events *ev)
{
	if (!ev)
		return;
	mnl_socket_close(ev->nl);
	OPENSSL_cleanse(ev->buf, XFRMB_EVBUF);
	free(ev->buf);
	free(ev);
}

int xfrm_events_fd(const struct xfrm_events *ev)
{
	return mnl_socket_get_fd(ev->nl);
}

int xfrm_events_read(struct xfrm_events *ev, xfrm_event_cb cb, void *arg)
{
	struct sockaddr_nl sa;
	struct iovec iov = { .iov_base = ev->buf, .iov_len = XFRMB_EVBUF };
	struct msghdr mh = {
		.msg_name = &sa,
		.msg_namelen = sizeof(sa),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;
	int ret;

	n = recvmsg(mnl_socket_get_fd(ev->nl), &mh, MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Any local process may unicast to our port id; only the kernel (port 0) is listened to. */
	if (mh.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid != 0) {
		ret = 0;
		goto out;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		ret = -EMSGSIZE;
		goto out;
	}
	ret = xfrm_events_parse(ev->buf, (size_t)n, cb, arg);
out:
	/* XFRMNLGRP_SA notifications carry the SA's keys */
	OPENSSL_cleanse(ev->buf, (size_t)n);
	return ret;
}

/* ---- /proc/net/xfrm_stat --------------------------------------------------------------------- */

int xfrm_stat_read(const char *path, xfrm_stat_cb cb, void *arg)
{
	char line[256];
	FILE *f;
	int ret = 0;

	f = fopen(path ? path : "/proc/net/xfrm_stat", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char name[XFRMB_STAT_NAME_MAX], *p = line, *end;
		size_t n = 0;
		uint64_t v;

		if (!strchr(line, '\n') && !feof(f)) {
			ret = -EBADMSG; /* longer than any counter line */
			break;
		}
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		       (*p >= '0' && *p <= '9')) {
			if (n + 1 >= sizeof(name)) {
				ret = -EBADMSG;
				goto out;
			}
			name[n++] = *p++;
		}
		name[n] = '\0';
		if (!n || (*p != ' ' && *p != '\t')) {
			ret = -EBADMSG;
			break;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9') {
			ret = -EBADMSG;
			break;
		}
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || (*end != '\n' && *end != '\0')) {
			ret = -EBADMSG;
			break;
		}
		ret = cb(name, v, arg);
		if (ret)
			break;
	}
out:
	fclose(f);
	return ret;
}
