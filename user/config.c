// SPDX-License-Identifier: GPL-2.0-only
/*
 * The configuration loader behind user/config.h. libyaml does all the YAML: an event pass first
 * rejects what the schema never needs and a hostile file could abuse (aliases, which can make a
 * document cyclic or exponentially large, and more than one document), then libyaml's document
 * API builds the tree, which a schema of key tables walks. Each value is checked where it is
 * read, so an error carries the node's line and column and its path ("tunnels.a.children[0].local");
 * relations between values (lifetimes, NAT rules against selectors, tunnels against each other)
 * are checked after their section is read. Every error is collected, so --check shows them all.
 * The secrets file goes through the same reader, but its values are never echoed and every copy
 * we can reach (file buffer, libyaml's input buffers and scalar nodes) is zeroed before it is
 * freed. That is best effort: libyaml's internal reallocations may leave copies we cannot reach.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "config.h"
#include "ike_const.h"
#include "ike_prop.h"
#include "log.h"

enum {
	CFG_MAX_PAIRS = 4096, /* keys of one mapping; bounds the duplicate-key check */
	CFG_PATH_MAX = 512,
};

/* Defaults (docs/CONFIG.md): strongSwan's ipsec.conf defaults, which the seeds' files start from. */
enum cfg_defaults {
	DEF_IKE_LIFETIME = 3 * 3600, /* s */
	DEF_LIFETIME = 3600,	     /* s */
	DEF_REKEY_MARGIN = 9 * 60,   /* s */
	DEF_REKEY_FUZZ = 100,	     /* % */
	DEF_DPD_DELAY = 30,	     /* s */
	DEF_DPD_TIMEOUT = 150,	     /* s */
	DEF_REPLAY_WINDOW = 32,	     /* packets */
	DEF_IKE_PORT = 500,
	DEF_NATT_PORT = 4500,
	DEF_NATT_KEEPALIVE = 20, /* s, strongSwan's charon.keep_alive */
	DEF_POOL_PORT_LO = 1024,
	DEF_POOL_PORT_HI = 65535,
	MIN_LIFETIME = 2, /* s; short lifetimes are legitimate in rekey tests */
	MAX_DURATION = 7 * 24 * 3600,
};

struct cfg_ctx {
	const char *file; /* name used in messages */
	yaml_document_t doc;
	struct eg_config_err *err;
	unsigned int n_err;
	bool secret; /* never echo scalar values */
	char path[CFG_PATH_MAX];
	size_t path_len;
	struct eg_config_file *cfg;
	/* the tunnel being read: its start: (default depends on mode), ike: and esp: values */
	yaml_node_t *start_node, *ike_node, *esp_node;
};

/* ---- errors and the key path -------------------------------------------------------------- */

static void cfg_vreport(struct cfg_ctx *c, const yaml_mark_t *m, const char *fmt, va_list ap)
{
	char text[EG_CFG_ERR_LEN];
	char *dst;
	int n;

	c->n_err++;
	if (!c->err)
		return;
	if (c->err->n >= EG_CFG_MAX_ERRORS) {
		c->err->n_dropped++;
		return;
	}
	vsnprintf(text, sizeof(text), fmt, ap);
	dst = c->err->msg[c->err->n++];
	/* a message longer than EG_CFG_ERR_LEN is cut; the position and path come first */
	if (m)
		n = snprintf(dst, EG_CFG_ERR_LEN, "%s:%zu:%zu: %s%s%s", c->file, m->line + 1,
			     m->column + 1, c->path, c->path_len ? ": " : "", text);
	else
		n = snprintf(dst, EG_CFG_ERR_LEN, "%s: %s%s%s", c->file, c->path,
			     c->path_len ? ": " : "", text);
	if (n < 0)
		snprintf(dst, EG_CFG_ERR_LEN, "%s: (unprintable error)", c->file);
}

static void __attribute__((format(printf, 3, 4)))
cfg_error(struct cfg_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vreport(c, n ? &n->start_mark : NULL, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
cfg_error_at(struct cfg_ctx *c, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vreport(c, m, fmt, ap);
	va_end(ap);
}

/* File-level errors outside any YAML node (cannot read, permissions). */
static void __attribute__((format(printf, 2, 3)))
err_add(struct eg_config_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	if (err->n >= EG_CFG_MAX_ERRORS) {
		err->n_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err->msg[err->n++], EG_CFG_ERR_LEN, fmt, ap);
	va_end(ap);
}

static size_t path_push_key(struct cfg_ctx *c, const char *key)
{
	size_t saved = c->path_len;
	int n;

	n = snprintf(c->path + c->path_len, sizeof(c->path) - c->path_len, "%s%s",
		     c->path_len ? "." : "", key);
	if (n > 0)
		c->path_len = strnlen(c->path, sizeof(c->path) - 1);
	return saved;
}

static size_t path_push_index(struct cfg_ctx *c, size_t i)
{
	size_t saved = c->path_len;
	int n;

	n = snprintf(c->path + c->path_len, sizeof(c->path) - c->path_len, "[%zu]", i);
	if (n > 0)
		c->path_len = strnlen(c->path, sizeof(c->path) - 1);
	return saved;
}

static void path_pop(struct cfg_ctx *c, size_t saved)
{
	c->path_len = saved;
	c->path[saved] = '\0';
}

/* ---- node access ---------------------------------------------------------------------------- */

static yaml_node_t *node_at(struct cfg_ctx *c, int idx)
{
	return yaml_document_get_node(&c->doc, idx);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* Plain "", "~" and "null" are YAML's null: a key written without a value. */
static bool node_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/*
 * The text of a scalar node, or NULL after reporting "expected <what>". A scalar containing a NUL
 * (possible with a "\0" escape) is refused, so every later string function sees all of it.
 */
static const char *scalar(struct cfg_ctx *c, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		cfg_error(c, n, "expected %s, got %s", what, node_kind(n));
		return NULL;
	}
	if (node_is_null(n)) {
		cfg_error(c, n, "expected %s, got nothing", what);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		cfg_error(c, n, "expected %s, got a value containing a NUL byte", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Shown in messages: the value, shortened, unless it may be secret. */
static const char *shown(struct cfg_ctx *c, const char *v, char *buf, size_t len)
{
	if (c->secret)
		return "<secret not shown>";
	if (strlen(v) >= len - 4) {
		snprintf(buf, len, "%.*s...", (int)(len - 4), v);
		return buf;
	}
	return v;
}

#define SHOW(c, v) shown((c), (v), (char[80]){ 0 }, 80)

/* ---- schema walker -------------------------------------------------------------------------- */

struct key_def {
	const char *name;
	void (*fn)(struct cfg_ctx *c, yaml_node_t *val, void *obj);
	bool required;
};

/*
 * Walks mapping n against defs (NULL-terminated): unknown and duplicate keys are errors, missing
 * required keys too. Returns false if n is not a mapping (already reported).
 */
static bool walk_map(struct cfg_ctx *c, yaml_node_t *n, const struct key_def *defs, void *obj)
{
	bool seen[32] = { 0 };
	yaml_node_pair_t *p, *q;
	size_t npairs, ndefs = 0;

	while (defs[ndefs].name)
		ndefs++;
	if (n->type != YAML_MAPPING_NODE) {
		cfg_error(c, n, "expected a mapping (key: value lines), got %s", node_kind(n));
		return false;
	}
	npairs = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (npairs > CFG_MAX_PAIRS) {
		cfg_error(c, n, "too many keys (%zu, at most %d)", npairs, CFG_MAX_PAIRS);
		return false;
	}
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		const char *key;
		bool dup = false;
		size_t i, saved;

		if (!k || !v)
			continue;
		key = scalar(c, k, "a key name");
		if (!key)
			continue;
		for (q = n->data.mapping.pairs.start; q < p && !dup; q++) {
			yaml_node_t *k2 = node_at(c, q->key);

			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k2->data.scalar.value, key)) {
				cfg_error(c, k, "duplicate key '%s' (first at line %zu)", key,
					  k2->start_mark.line + 1);
				dup = true;
			}
		}
		if (dup)
			continue;
		for (i = 0; i < ndefs; i++)
			if (!strcmp(defs[i].name, key))
				break;
		if (i == ndefs) {
			char list[400];
			size_t off = 0;

			list[0] = '\0';
			for (size_t j = 0; j < ndefs && off < sizeof(list); j++)
				off += snprintf(list + off, sizeof(list) - off, "%s%s",
						j ? ", " : "", defs[j].name);
			cfg_error(c, k, "unknown key '%s' (expected one of: %s)", SHOW(c, key),
				  list);
			continue;
		}
		if (i < 32)
			seen[i] = true;
		saved = path_push_key(c, key);
		defs[i].fn(c, v, obj);
		path_pop(c, saved);
	}
	for (size_t i = 0; i < ndefs && i < 32; i++)
		if (defs[i].required && !seen[i])
			cfg_error(c, n, "missing required key '%s'", defs[i].name);
	return true;
}

/*
 * Calls fn for each item of a list; a single scalar is accepted as a list of one (so
 * `local: 10.1.0.0/16` and `local: [10.1.0.0/16]` mean the same). max bounds the items.
 */
static void walk_list(struct cfg_ctx *c, yaml_node_t *n, size_t max, const char *what,
		      void (*fn)(struct cfg_ctx *c, yaml_node_t *item, size_t i, void *obj),
		      void *obj)
{
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (n->type == YAML_SCALAR_NODE) {
		if (node_is_null(n)) {
			cfg_error(c, n, "expected %s or a list of them, got nothing", what);
			return;
		}
		fn(c, n, 0, obj);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected %s or a list of them, got %s", what, node_kind(n));
		return;
	}
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > max) {
		cfg_error(c, n, "too many items (%zu, at most %zu)", count, max);
		return;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node_at(c, *it);
		size_t saved;

		if (!v)
			continue;
		saved = path_push_index(c, i);
		fn(c, v, i, obj);
		path_pop(c, saved);
	}
}

/* ---- value parsers (also exported for the daemon and tests) --------------------------------- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int eg_parse_duration(const char *s, uint32_t *secs)
{
	char num[32];
	uint64_t v, mul = 1;
	size_t n = strlen(s);
	int err;

	if (!n || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 's':
		mul = 1;
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	default:
		n++; /* no unit: seconds */
		break;
	}
	num[n - 1] = '\0';
	err = parse_u64(num, UINT32_MAX, &v);
	if (err)
		return err;
	if (v > UINT32_MAX / mul)
		return -ERANGE;
	*secs = (uint32_t)(v * mul);
	return 0;
}

/* 0, -EINVAL (syntax), -ERANGE (length too long) or -EDOM (host bits set). */
static int parse_prefix(const char *s, struct eg_prefix *p)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t len;
	int maxlen;

	memset(p, 0, sizeof(*p));
	if (!alen || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, p->addr) == 1) {
		p->af = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
		p->af = AF_INET6;
		maxlen = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (!slash[1] || strlen(slash + 1) > 3 || parse_u64(slash + 1, 255, &len))
			return -EINVAL;
		if (len > (uint64_t)maxlen)
			return -ERANGE;
	} else {
		len = (uint64_t)maxlen;
	}
	p->len = (uint8_t)len;
	for (int bit = (int)len; bit < maxlen; bit++)
		if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EDOM;
	return 0;
}

int eg_parse_prefix(const char *s, struct eg_prefix *p)
{
	return parse_prefix(s, p) ? -EINVAL : 0;
}

static int parse_addr(const char *s, struct eg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1)
		a->af = AF_INET;
	else if (inet_pton(AF_INET6, s, a->addr) == 1)
		a->af = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static const struct {
	const char *name;
	uint8_t num;
} proto_names[] = {
	{ "any", 0 },
	{ "icmp", IPPROTO_ICMP },
	{ "tcp", IPPROTO_TCP },
	{ "udp", IPPROTO_UDP },
	{ "gre", IPPROTO_GRE },
	{ "esp", IPPROTO_ESP },
	{ "icmpv6", IPPROTO_ICMPV6 },
	{ "sctp", IPPROTO_SCTP },
};

static int parse_proto(const char *s, uint8_t *proto)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (!strcasecmp(s, proto_names[i].name)) {
			*proto = proto_names[i].num;
			return 0;
		}
	if (parse_u64(s, 255, &v))
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static bool proto_has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* "80", "1024-65535"; lo may be 0 only in "0-65535"-style full ranges. */
static int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char a[8], b[8];
	const char *dash = strchr(s, '-');
	uint64_t vlo, vhi;

	if (!dash) {
		if (strlen(s) >= sizeof(a) || parse_u64(s, 65535, &vlo) || !vlo)
			return -EINVAL;
		*lo = *hi = (uint16_t)vlo;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		return -EINVAL;
	memcpy(a, s, dash - s);
	a[dash - s] = '\0';
	strcpy(b, dash + 1);
	if (parse_u64(a, 65535, &vlo) || parse_u64(b, 65535, &vhi) || vlo > vhi)
		return -EINVAL;
	*lo = (uint16_t)vlo;
	*hi = (uint16_t)vhi;
	return 0;
}

/*
 * "prefix[:proto[:port|lo-hi]]". An IPv6 prefix carries a '/', after which the first ':' starts
 * the protocol; a bare IPv6 address is written in brackets ("[2001:db8::1]:tcp:443").
 */
int eg_parse_selector(const char *s, struct eg_selector *sel)
{
	char net[INET6_ADDRSTRLEN + 8], rest[32];
	const char *end, *colon;
	size_t nlen;

	memset(sel, 0, sizeof(*sel));
	sel->port_hi = 65535;
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		nlen = (size_t)(end - s - 1);
		if (nlen >= sizeof(net))
			return -EINVAL;
		memcpy(net, s + 1, nlen);
		net[nlen] = '\0';
		end++;
		if (*end && *end != ':')
			return -EINVAL;
	} else {
		const char *slash = strchr(s, '/');

		struct in6_addr probe;

		if (!slash && inet_pton(AF_INET6, s, &probe) == 1) {
			end = s + strlen(s); /* a bare IPv6 address, no protocol */
		} else {
			colon = strchr(slash ? slash : s, ':');
			end = colon ? colon : s + strlen(s);
		}
		nlen = (size_t)(end - s);
		if (nlen >= sizeof(net))
			return -EINVAL;
		memcpy(net, s, nlen);
		net[nlen] = '\0';
	}
	if (parse_prefix(net, &sel->net))
		return -EINVAL;
	if (!*end)
		return 0;
	end++; /* past ':' */
	if (strlen(end) >= sizeof(rest))
		return -EINVAL;
	strcpy(rest, end);
	colon = strchr(rest, ':');
	if (colon)
		rest[colon - rest] = '\0';
	if (parse_proto(rest, &sel->proto))
		return -EINVAL;
	if (!colon)
		return 0;
	if (!proto_has_ports(sel->proto))
		return -EINVAL;
	return parse_port_range(end + (colon - rest) + 1, &sel->port_lo, &sel->port_hi);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Even number of hex digits (':' and ' ' separators allowed) into out; -EINVAL or -E2BIG. */
static int parse_hex(const char *s, size_t slen, uint8_t *out, size_t max, size_t *outlen)
{
	size_t n = 0;
	int hi = -1;

	for (size_t i = 0; i < slen; i++) {
		int v;

		if ((s[i] == ':' || s[i] == ' ') && hi < 0)
			continue;
		v = hexval(s[i]);
		if (v < 0)
			return -EINVAL;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= max)
			return -E2BIG;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0 || !n)
		return -EINVAL;
	*outlen = n;
	return 0;
}

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with '=' padding (RFC 4648 §4); whitespace ignored. */
static int parse_b64(const char *s, size_t slen, uint8_t *out, size_t max, size_t *outlen)
{
	uint32_t acc = 0;
	size_t n = 0, pad = 0, digits = 0;

	for (size_t i = 0; i < slen; i++) {
		int v;

		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')
			continue;
		if (s[i] == '=') {
			pad++;
			digits++;
			continue;
		}
		if (pad)
			return -EINVAL; /* data after padding */
		v = b64val(s[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		digits++;
		if (digits % 4 == 0) {
			if (n + 3 > max)
				return -E2BIG;
			out[n++] = (uint8_t)(acc >> 16);
			out[n++] = (uint8_t)(acc >> 8);
			out[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (pad > 2 || digits % 4)
		return -EINVAL;
	if (pad) {
		/* the last quantum was completed by the padding: drop the bytes it stands for */
		acc <<= 6 * pad;
		if (n + 3 - pad > max)
			return -E2BIG;
		out[n++] = (uint8_t)(acc >> 16);
		if (pad == 1)
			out[n++] = (uint8_t)(acc >> 8);
	}
	OPENSSL_cleanse(&acc, sizeof(acc)); /* held key bits */
	if (!n)
		return -EINVAL;
	*outlen = n;
	return 0;
}

int eg_parse_psk(const char *s, size_t slen, uint8_t *out, size_t *outlen)
{
	if (slen >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_hex(s + 2, slen - 2, out, EG_CFG_PSK_MAX, outlen);
	if (slen >= 2 && s[0] == '0' && s[1] == 's')
		return parse_b64(s + 2, slen - 2, out, EG_CFG_PSK_MAX, outlen);
	if (!slen)
		return -EINVAL;
	if (slen > EG_CFG_PSK_MAX)
		return -E2BIG;
	memcpy(out, s, slen);
	*outlen = slen;
	return 0;
}

/* RFC 1123 host name: labels of [A-Za-z0-9-], not starting or ending with '-', <= 63 each. */
static bool fqdn_valid(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
		if (ch == '-' && !label)
			return false;
		if (++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

/*
 * An identity, typed the way strongSwan infers it: an IPv4/IPv6 literal is an address, "@name"
 * an FQDN taken as written (no DNS), "@#hex" a key id, "user@host" an RFC822 address, anything
 * else that is a host name an FQDN. A "ipv4:", "ipv6:", "fqdn:", "email:" or "keyid:" prefix
 * forces the type.
 */
int eg_parse_id(const char *s, struct eg_id *id)
{
	static const struct {
		const char *prefix;
		uint8_t type;
	} forced[] = {
		{ "ipv4:", EG_ID_IPV4 },   { "ipv6:", EG_ID_IPV6 },   { "fqdn:", EG_ID_FQDN },
		{ "email:", EG_ID_EMAIL }, { "keyid:", EG_ID_KEYID },
	};
	uint8_t type = 0;
	size_t n, klen;

	memset(id, 0, sizeof(*id));
	for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++)
		if (!strncasecmp(s, forced[i].prefix, strlen(forced[i].prefix))) {
			type = forced[i].type;
			s += strlen(forced[i].prefix);
			break;
		}
	if (!type) {
		if (s[0] == '@' && s[1] == '#') {
			type = EG_ID_KEYID;
			s += 2;
		} else if (s[0] == '@') {
			type = EG_ID_FQDN;
			s++;
		} else if (inet_pton(AF_INET, s, id->data) == 1) {
			type = EG_ID_IPV4;
		} else if (inet_pton(AF_INET6, s, id->data) == 1) {
			type = EG_ID_IPV6;
		} else if (strchr(s, '@')) {
			type = EG_ID_EMAIL;
		} else {
			type = EG_ID_FQDN;
		}
	}
	n = strlen(s);
	switch (type) {
	case EG_ID_IPV4:
		if (inet_pton(AF_INET, s, id->data) != 1)
			return -EINVAL;
		id->len = 4;
		break;
	case EG_ID_IPV6:
		if (inet_pton(AF_INET6, s, id->data) != 1)
			return -EINVAL;
		id->len = 16;
		break;
	case EG_ID_KEYID:
		if (parse_hex(s, n, id->data, sizeof(id->data), &klen))
			return -EINVAL;
		id->len = (uint8_t)klen;
		break;
	case EG_ID_EMAIL: {
		const char *at = strchr(s, '@');

		if (!at || at == s || strchr(at + 1, '@') || !fqdn_valid(at + 1) ||
		    n > sizeof(id->data))
			return -EINVAL;
		memcpy(id->data, s, n);
		id->len = (uint8_t)n;
		break;
	}
	default: /* FQDN; "@name" need not be a resolvable name, only printable and non-empty */
		if (!n || n > sizeof(id->data))
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if (s[i] <= ' ' || s[i] > '~')
				return -EINVAL;
		memcpy(id->data, s, n);
		id->len = (uint8_t)n;
		break;
	}
	id->type = type;
	return 0;
}

const char *eg_prefix_str(const struct eg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->af == AF_INET6 ? AF_INET6 : AF_INET, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

const char *eg_selector_str(const struct eg_selector *s, char *buf, size_t len)
{
	char p[INET6_ADDRSTRLEN + 8], proto[8];

	eg_prefix_str(&s->net, p, sizeof(p));
	snprintf(proto, sizeof(proto), "%u", s->proto);
	for (size_t i = 1; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (proto_names[i].num == s->proto)
			snprintf(proto, sizeof(proto), "%s", proto_names[i].name);
	if (!s->proto)
		snprintf(buf, len, "%s", p);
	else if (s->port_lo == 0 && s->port_hi == 65535)
		snprintf(buf, len, "%s:%s", p, proto);
	else if (s->port_lo == s->port_hi)
		snprintf(buf, len, "%s:%s:%u", p, proto, s->port_lo);
	else
		snprintf(buf, len, "%s:%s:%u-%u", p, proto, s->port_lo, s->port_hi);
	return buf;
}

const char *eg_id_str(const struct eg_id *id, char *buf, size_t len)
{
	switch (id->type) {
	case EG_ID_IPV4:
	case EG_ID_IPV6:
		if (!inet_ntop(id->type == EG_ID_IPV4 ? AF_INET : AF_INET6, id->data, buf, len))
			snprintf(buf, len, "?");
		break;
	case EG_ID_FQDN:
		snprintf(buf, len, "@%.*s", id->len, (const char *)id->data);
		break;
	case EG_ID_EMAIL:
		snprintf(buf, len, "%.*s", id->len, (const char *)id->data);
		break;
	case EG_ID_KEYID: {
		size_t off = (size_t)snprintf(buf, len, "@#");

		for (size_t i = 0; i < id->len && off + 3 <= len; i++)
			off += (size_t)snprintf(buf + off, len - off, "%02x", id->data[i]);
		break;
	}
	default:
		snprintf(buf, len, "%%auto");
		break;
	}
	return buf;
}

/* ---- typed value readers: parse a node into a field, reporting what was expected ------------ */

static void get_bool(struct cfg_ctx *c, yaml_node_t *n, bool *out)
{
	static const char *const t[] = { "true", "yes", "on" }, *const f[] = { "false", "no",
									       "off" };
	const char *v = scalar(c, n, "true or false");

	if (!v)
		return;
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(v, t[i])) {
			*out = true;
			return;
		}
		if (!strcasecmp(v, f[i])) {
			*out = false;
			return;
		}
	}
	cfg_error(c, n, "expected true or false, got '%s'", SHOW(c, v));
}

static void get_duration(struct cfg_ctx *c, yaml_node_t *n, uint32_t *out)
{
	const char *v = scalar(c, n, "a duration like 30m");
	uint32_t s;

	if (!v)
		return;
	if (eg_parse_duration(v, &s) || s > MAX_DURATION) {
		cfg_error(c, n,
			  "expected a duration like 10s, 30m, 3h or 1d (at most 7d), got '%s'",
			  SHOW(c, v));
		return;
	}
	*out = s;
}

static void get_port(struct cfg_ctx *c, yaml_node_t *n, uint16_t *out)
{
	const char *v = scalar(c, n, "a port number");
	uint64_t p;

	if (!v)
		return;
	if (parse_u64(v, 65535, &p) || !p) {
		cfg_error(c, n, "expected a port number 1-65535, got '%s'", SHOW(c, v));
		return;
	}
	*out = (uint16_t)p;
}

/* A size with an optional K/M/G/T suffix (powers of 1024), 0 = unlimited. */
static void get_size(struct cfg_ctx *c, yaml_node_t *n, uint64_t *out)
{
	const char *v = scalar(c, n, "a count like 100M");
	char num[24];
	uint64_t val, mul = 1;
	size_t len;

	if (!v)
		return;
	len = strlen(v);
	if (!len || len >= sizeof(num))
		goto bad;
	memcpy(num, v, len + 1);
	switch (num[len - 1]) {
	case 'K':
	case 'k':
		mul = 1ull << 10;
		break;
	case 'M':
		mul = 1ull << 20;
		break;
	case 'G':
		mul = 1ull << 30;
		break;
	case 'T':
		mul = 1ull << 40;
		break;
	default:
		len++;
		break;
	}
	num[len - 1] = '\0';
	if (parse_u64(num, UINT64_MAX, &val) || val > UINT64_MAX / mul)
		goto bad;
	*out = val * mul;
	return;
bad:
	cfg_error(c, n, "expected a count with an optional K, M, G or T suffix like 100M, got '%s'",
		  SHOW(c, v));
}

struct enum_def {
	const char *name;
	uint8_t val;
};

static void get_enum(struct cfg_ctx *c, yaml_node_t *n, const struct enum_def *defs, size_t ndefs,
		     uint8_t *out)
{
	char list[200];
	size_t off = 0;
	const char *v = scalar(c, n, "a keyword");

	if (!v)
		return;
	for (size_t i = 0; i < ndefs; i++)
		if (!strcmp(v, defs[i].name)) {
			*out = defs[i].val;
			return;
		}
	list[0] = '\0';
	for (size_t i = 0; i < ndefs && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					i ? (i + 1 == ndefs ? " or " : ", ") : "", defs[i].name);
	cfg_error(c, n, "expected %s, got '%s'", list, SHOW(c, v));
}

#define GET_ENUM(c, n, defs, out) get_enum(c, n, defs, sizeof(defs) / sizeof(defs[0]), out)

static void get_name(struct cfg_ctx *c, yaml_node_t *n, char *out, const char *what)
{
	const char *v = scalar(c, n, what);
	size_t len;

	if (!v)
		return;
	len = strlen(v);
	if (len >= EG_CFG_NAME_MAX) {
		cfg_error(c, n, "expected %s of at most %d characters, got '%s'", what,
			  EG_CFG_NAME_MAX - 1, SHOW(c, v));
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = v[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) {
			cfg_error(c, n,
				  "expected %s made of letters, digits, '-', '_' and '.', got '%s'",
				  what, SHOW(c, v));
			return;
		}
	}
	memcpy(out, v, len + 1);
}

static const char *prefix_why(int err)
{
	switch (err) {
	case -ERANGE:
		return "the prefix length is too long";
	case -EDOM:
		return "it has host bits set: write the network address";
	default:
		return NULL;
	}
}

/* A prefix; IPv4 only where the datapath needs it (v4only). */
static bool get_prefix(struct cfg_ctx *c, yaml_node_t *n, struct eg_prefix *out, bool v4only)
{
	const char *v = scalar(c, n, "a CIDR prefix like 10.1.0.0/16");
	const char *why;
	int err;

	if (!v)
		return false;
	err = parse_prefix(v, out);
	if (err) {
		why = prefix_why(err);
		cfg_error(c, n, "expected a CIDR prefix like 10.1.0.0/16, got '%s'%s%s", SHOW(c, v),
			  why ? ": " : "", why ? why : "");
		return false;
	}
	if (v4only && out->af != AF_INET) {
		cfg_error(c, n, "'%s': IPv6 is not supported here yet (the datapath is IPv4-only)",
			  SHOW(c, v));
		return false;
	}
	return true;
}

static bool get_addr(struct cfg_ctx *c, yaml_node_t *n, struct eg_addr *out, bool v4only)
{
	const char *v = scalar(c, n, "an IP address like 10.1.1.66");

	if (!v)
		return false;
	if (parse_addr(v, out)) {
		cfg_error(c, n, "expected an IP address like 10.1.1.66, got '%s'", SHOW(c, v));
		return false;
	}
	if (v4only && out->af != AF_INET) {
		cfg_error(c, n, "'%s': IPv6 is not supported here yet (the datapath is IPv4-only)",
			  SHOW(c, v));
		return false;
	}
	return true;
}

/* A host: an address, or a prefix of full length (/32). */
static bool get_host(struct cfg_ctx *c, yaml_node_t *n, struct eg_prefix *out)
{
	struct eg_addr a;

	if (!get_addr(c, n, &a, true))
		return false;
	memset(out, 0, sizeof(*out));
	out->af = a.af;
	out->len = 32;
	memcpy(out->addr, a.addr, sizeof(a.addr));
	return true;
}

/* "10.1.2.10:80" (IPv4 only). */
static bool get_addr_port(struct cfg_ctx *c, yaml_node_t *n, struct eg_prefix *host, uint16_t *port)
{
	const char *v = scalar(c, n, "an address:port like 10.1.2.10:80");
	char a[INET_ADDRSTRLEN + 1];
	const char *colon;
	uint64_t p;

	if (!v)
		return false;
	colon = strrchr(v, ':');
	if (!colon || (size_t)(colon - v) >= sizeof(a))
		goto bad;
	memcpy(a, v, colon - v);
	a[colon - v] = '\0';
	memset(host, 0, sizeof(*host));
	if (inet_pton(AF_INET, a, host->addr) != 1 || parse_u64(colon + 1, 65535, &p) || !p)
		goto bad;
	host->af = AF_INET;
	host->len = 32;
	*port = (uint16_t)p;
	return true;
bad:
	cfg_error(c, n, "expected an IPv4 address:port like 10.1.2.10:80, got '%s'", SHOW(c, v));
	return false;
}

/* ---- proposals ------------------------------------------------------------------------------ */

/*
 * `ike:`/`esp:` take one strongSwan proposal string or a list of them; list items are joined with
 * ',' into the one string ike_prop_parse() reads. It is checked once the tunnel is read, because
 * whether weak algorithms are allowed is a global setting.
 */
static void one_proposal(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	char *dst = obj;
	const char *v = scalar(c, n, "a proposal like aes256-sha256-ecp384");
	size_t used = i ? strlen(dst) : 0;

	if (!v)
		return;
	if (used + 1 + strlen(v) >= EG_CFG_PROPOSAL_MAX) {
		cfg_error(c, n, "proposals longer than %d characters", EG_CFG_PROPOSAL_MAX - 1);
		return;
	}
	snprintf(dst + used, EG_CFG_PROPOSAL_MAX - used, "%s%s", i ? "," : "", v);
}

static void get_proposals(struct cfg_ctx *c, yaml_node_t *n, char *dst, yaml_node_t **where)
{
	dst[0] = '\0';
	*where = n;
	walk_list(c, n, 64, "a proposal", one_proposal, dst);
	if (!dst[0])
		snprintf(dst, EG_CFG_PROPOSAL_MAX, "default");
}

static void check_proposals(struct cfg_ctx *c, yaml_node_t *n, const char *key, const char *str,
			    uint8_t proto)
{
	struct ike_prop_list *list;
	char msg[IKE_PROP_ERR_LEN];
	unsigned int info = 0;
	size_t saved;
	int err;

	list = calloc(1, sizeof(*list));
	if (!list) {
		cfg_error(c, n, "out of memory");
		return;
	}
	msg[0] = '\0';
	err = ike_prop_parse(str, proto,
			     c->cfg->global.allow_weak_algorithms ? IKE_PROP_ALLOW_WEAK : 0, list,
			     &info, msg, sizeof(msg));
	saved = key[0] ? path_push_key(c, key) : c->path_len;
	if (err == -E2BIG)
		cfg_error(c, n, "'%s': too many proposals or algorithms", SHOW(c, str));
	else if (err)
		cfg_error(c, n,
			  "expected a strongSwan proposal like aes256-sha256-ecp384, got '%s': %s",
			  SHOW(c, str), msg[0] ? msg : "invalid");
	path_pop(c, saved);
	free(list);
}

/* ---- global --------------------------------------------------------------------------------- */

static bool ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static void get_ifname(struct cfg_ctx *c, yaml_node_t *n, char *out)
{
	const char *v = scalar(c, n, "an interface name like eth0");

	if (!v)
		return;
	if (!ifname_valid(v)) {
		cfg_error(c, n,
			  "expected an interface name like eth0 (at most %d characters), got '%s'",
			  IF_NAMESIZE - 1, SHOW(c, v));
		return;
	}
	memcpy(out, v, strlen(v) + 1);
}

static void g_if_outside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_ifname(c, n, ((struct eg_global *)obj)->outside_if);
}

static void g_if_inside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_ifname(c, n, ((struct eg_global *)obj)->inside_if);
}

static const struct key_def interfaces_keys[] = {
	{ "outside", g_if_outside, true },
	{ "inside", g_if_inside, false },
	{ NULL, NULL, false },
};

/* `interfaces: eth0` (single NIC) or `interfaces: {outside: eth1, inside: eth2}`. */
static void g_interfaces(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_global *g = obj;

	if (n->type == YAML_SCALAR_NODE) {
		get_ifname(c, n, g->outside_if);
		return;
	}
	walk_map(c, n, interfaces_keys, g);
	if (g->inside_if[0] && !strcmp(g->inside_if, g->outside_if))
		cfg_error(
			c, n,
			"inside and outside are the same interface '%s': for a single NIC write `interfaces: %s`",
			g->inside_if, g->inside_if);
}

static void one_local_addr(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_global *g = obj;
	struct eg_addr a;

	(void)i;
	if (!get_addr(c, n, &a, false))
		return;
	for (size_t j = 0; j < g->n_local_addrs; j++)
		if (!memcmp(&g->local_addrs[j], &a, sizeof(a))) {
			cfg_error(c, n, "address listed twice");
			return;
		}
	g->local_addrs[g->n_local_addrs++] = a;
}

static void g_local_addrs(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	walk_list(c, n, EG_CFG_MAX_LOCAL_ADDRS, "an IP address", one_local_addr, obj);
}

static void g_ike_port(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_port(c, n, &((struct eg_global *)obj)->ike_port);
}

static void g_natt_port(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_port(c, n, &((struct eg_global *)obj)->natt_port);
}

static void g_natt_keepalive(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_global *)obj)->natt_keepalive);
}

static void g_weak(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_bool(c, n, &((struct eg_global *)obj)->allow_weak_algorithms);
}

static void g_log_level(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	const char *v = scalar(c, n, "error, warning, info or debug");
	int lvl;

	if (!v)
		return;
	lvl = log_level_parse(v);
	if (lvl < 0) {
		cfg_error(c, n, "expected error, warning, info or debug, got '%s'", SHOW(c, v));
		return;
	}
	((struct eg_global *)obj)->log_level = lvl;
}

static void g_secrets(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_global *g = obj;
	const char *v = scalar(c, n, "a file path");

	if (!v)
		return;
	if (strlen(v) >= sizeof(g->secrets_path)) {
		cfg_error(c, n, "path too long");
		return;
	}
	memcpy(g->secrets_path, v, strlen(v) + 1);
}

static const struct key_def global_keys[] = {
	{ "interfaces", g_interfaces, true },
	{ "local_addresses", g_local_addrs, false },
	{ "ike_port", g_ike_port, false },
	{ "natt_port", g_natt_port, false },
	{ "natt_keepalive", g_natt_keepalive, false },
	{ "allow_weak_algorithms", g_weak, false },
	{ "log_level", g_log_level, false },
	{ "secrets", g_secrets, false },
	{ NULL, NULL, false },
};

static void top_global(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_config_file *cfg = obj;

	walk_map(c, n, global_keys, &cfg->global);
	if (cfg->global.ike_port == cfg->global.natt_port)
		cfg_error(c, n, "ike_port and natt_port are both %u: they must differ",
			  cfg->global.ike_port);
}

/* ---- masquerade ----------------------------------------------------------------------------- */

static void one_masq_inside(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_masq_rule *m = obj;

	if (get_prefix(c, n, &m->inside[i], true))
		m->n_inside = (uint8_t)(i + 1);
}

static void m_inside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	walk_list(c, n, EG_CFG_MAX_POOL_INSIDE, "a CIDR prefix", one_masq_inside, obj);
}

static void m_outside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_addr(c, n, &((struct eg_masq_rule *)obj)->outside, true);
}

static void get_ports(struct cfg_ctx *c, yaml_node_t *n, uint16_t *lo, uint16_t *hi)
{
	const char *v = scalar(c, n, "a port range like 1024-65535");

	if (!v)
		return;
	if (parse_port_range(v, lo, hi))
		cfg_error(c, n, "expected a port or port range like 1024-65535, got '%s'",
			  SHOW(c, v));
}

static void m_ports(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_masq_rule *m = obj;

	get_ports(c, n, &m->port_lo, &m->port_hi);
}

static const struct key_def masq_keys[] = {
	{ "inside", m_inside, true },
	{ "outside", m_outside, true },
	{ "ports", m_ports, false },
	{ NULL, NULL, false },
};

static void one_masq(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_config_file *cfg = obj;
	struct eg_masq_rule *m = &cfg->masq[i];

	m->port_lo = DEF_POOL_PORT_LO;
	m->port_hi = DEF_POOL_PORT_HI;
	m->line = (uint32_t)n->start_mark.line + 1;
	walk_map(c, n, masq_keys, m);
	cfg->n_masq = i + 1;
}

static void top_masq(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list of rules, got %s", node_kind(n));
		return;
	}
	walk_list(c, n, EG_CFG_MAX_MASQ, "a masquerade rule", one_masq, obj);
}

/* ---- children: selectors, NAT, allow -------------------------------------------------------- */

struct sel_list {
	struct eg_selector *sel;
	uint8_t *n;
};

static void one_selector(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct sel_list *l = obj;
	const char *v = scalar(c, n, "a selector like 10.1.0.0/16 or 10.1.0.0/16:tcp:80");
	struct eg_selector *s = &l->sel[i];
	struct eg_prefix probe;
	char head[64];
	int err;

	if (!v)
		return;
	if (eg_parse_selector(v, s)) {
		/* say which part is wrong: the prefix, or what follows it */
		const char *slash = strchr(v, '/');
		size_t plen = v[0] == '[' ? 0
					  : strcspn(slash ? slash : v, ":") +
						    (size_t)(slash ? slash - v : 0);

		snprintf(head, sizeof(head), "%.*s", (int)plen, v);
		err = plen ? parse_prefix(head, &probe) : -EINVAL;
		if (plen && err)
			cfg_error(c, n, "expected a CIDR prefix like 10.1.0.0/16, got '%s'%s%s",
				  SHOW(c, head), prefix_why(err) ? ": " : "",
				  prefix_why(err) ? prefix_why(err) : "");
		else
			cfg_error(
				c, n,
				"expected a selector prefix[:proto[:port|lo-hi]] like 10.1.0.0/16 or 10.1.0.0/16:tcp:8080 (ports only with tcp, udp or sctp), got '%s'",
				SHOW(c, v));
		return;
	}
	if (s->net.af != AF_INET) {
		cfg_error(c, n,
			  "'%s': IPv6 selectors are not supported yet (the datapath is IPv4-only)",
			  SHOW(c, v));
		return;
	}
	for (size_t j = 0; j < i; j++)
		if (!memcmp(&l->sel[j], s, sizeof(*s))) {
			cfg_error(c, n, "selector '%s' listed twice", SHOW(c, v));
			return;
		}
	*l->n = (uint8_t)(i + 1);
}

static void ch_local(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_cfg_child *ch = obj;
	struct sel_list l = { ch->local, &ch->n_local };

	walk_list(c, n, EG_CFG_MAX_SELECTORS, "a selector", one_selector, &l);
}

static void ch_remote(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_cfg_child *ch = obj;
	struct sel_list l = { ch->remote, &ch->n_remote };

	walk_list(c, n, EG_CFG_MAX_SELECTORS, "a selector", one_selector, &l);
}

static void ch_name(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_name(c, n, ((struct eg_cfg_child *)obj)->name, "a child name");
}

static const struct enum_def child_modes[] = {
	{ "tunnel", EG_CHILD_MODE_TUNNEL },
	{ "transport", EG_CHILD_MODE_TRANSPORT },
};

static void ch_mode(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, child_modes, &((struct eg_cfg_child *)obj)->mode);
}

static const struct enum_def directions[] = {
	{ "one-way", EG_DIR_ONE_WAY },
	{ "both", EG_DIR_BOTH },
};

static void ch_direction(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, directions, &((struct eg_cfg_child *)obj)->direction);
}

static void ch_replay(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	const char *v = scalar(c, n, "a packet count");
	uint64_t w;

	if (!v)
		return;
	if (parse_u64(v, 4096, &w)) {
		cfg_error(c, n, "expected a replay window of 0-4096 packets, got '%s'", SHOW(c, v));
		return;
	}
	((struct eg_cfg_child *)obj)->replay_window = (uint32_t)w;
}

/* NAT rule fields: each reader fills the rule; which ones a type needs is checked after. */
enum nat_field {
	NF_INSIDE = 1 << 0,
	NF_OUTSIDE = 1 << 1,
	NF_PORTS = 1 << 2,
	NF_PROTO = 1 << 3,
	NF_TYPE = 1 << 4,
	NF_REMOTE = 1 << 5,
};

struct nat_ctx {
	struct eg_cfg_nat_rule *r;
	unsigned int seen;
	yaml_node_t *inside, *outside, *remote; /* parsed once the type is known */
};

static const struct enum_def nat_types[] = {
	{ "snat", EG_CFG_NAT_SNAT },
	{ "netmap", EG_CFG_NAT_NETMAP },
	{ "remote-netmap", EG_CFG_NAT_REMOTE_NETMAP },
	{ "pool", EG_CFG_NAT_POOL },
	{ "publish", EG_CFG_NAT_PUBLISH },
	{ "forward", EG_CFG_NAT_FORWARD },
};

static void nat_type(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;

	GET_ENUM(c, n, nat_types, &x->r->type);
	x->seen |= NF_TYPE;
}

static void nat_inside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;

	(void)c;
	x->inside = n;
	x->seen |= NF_INSIDE;
}

static void nat_outside(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;

	(void)c;
	x->outside = n;
	x->seen |= NF_OUTSIDE;
}

static void nat_remote(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;

	(void)c;
	x->remote = n;
	x->seen |= NF_REMOTE;
}

static void nat_ports(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;

	get_ports(c, n, &x->r->port_lo, &x->r->port_hi);
	x->seen |= NF_PORTS;
}

static void nat_proto(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct nat_ctx *x = obj;
	const char *v = scalar(c, n, "tcp or udp");

	x->seen |= NF_PROTO;
	if (!v)
		return;
	if (!strcmp(v, "tcp"))
		x->r->proto = IPPROTO_TCP;
	else if (!strcmp(v, "udp"))
		x->r->proto = IPPROTO_UDP;
	else
		cfg_error(c, n, "expected tcp or udp, got '%s'", SHOW(c, v));
}

static const struct key_def nat_keys[] = {
	{ "type", nat_type, true },
	{ "inside", nat_inside, false },
	{ "outside", nat_outside, false },
	{ "remote", nat_remote, false },
	{ "ports", nat_ports, false },
	{ "proto", nat_proto, false },
	{ NULL, NULL, false },
};

static void nat_pool_inside(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_cfg_nat_rule *r = obj;

	if (get_prefix(c, n, &r->pool_inside[i], true))
		r->n_pool_inside = (uint8_t)(i + 1);
}

/* Reads the fields that depend on the rule type, with messages that say what that type wants. */
static void nat_finish(struct cfg_ctx *c, yaml_node_t *n, struct nat_ctx *x)
{
	struct eg_cfg_nat_rule *r = x->r;
	const char *tname = "";
	unsigned int need = 0, allowed = NF_TYPE;
	size_t saved;

	for (size_t i = 0; i < sizeof(nat_types) / sizeof(nat_types[0]); i++)
		if (nat_types[i].val == r->type)
			tname = nat_types[i].name;
	switch (r->type) {
	case EG_CFG_NAT_SNAT:
	case EG_CFG_NAT_NETMAP:
		need = NF_INSIDE | NF_OUTSIDE;
		break;
	case EG_CFG_NAT_REMOTE_NETMAP:
		need = NF_INSIDE | NF_REMOTE;
		break;
	case EG_CFG_NAT_POOL:
		need = NF_INSIDE | NF_OUTSIDE;
		allowed |= NF_PORTS;
		break;
	case EG_CFG_NAT_PUBLISH:
	case EG_CFG_NAT_FORWARD:
		need = NF_INSIDE | NF_OUTSIDE;
		allowed |= NF_PROTO;
		break;
	default:
		return; /* bad or missing type: already reported */
	}
	allowed |= need;
	{
		static const char *const names[] = { "inside", "outside", "ports",
						     "proto",  "type",	  "remote" };

		for (unsigned int b = 0; b < 6; b++) {
			if ((need & (1u << b)) && !(x->seen & (1u << b)))
				cfg_error(c, n, "a %s rule needs '%s'", tname, names[b]);
			if ((x->seen & (1u << b)) && !(allowed & (1u << b)))
				cfg_error(c, n, "a %s rule has no '%s'", tname, names[b]);
		}
	}
	if ((x->seen & need) != need)
		return;
	switch (r->type) {
	case EG_CFG_NAT_SNAT:
		saved = path_push_key(c, "inside");
		get_host(c, x->inside, &r->inside);
		path_pop(c, saved);
		saved = path_push_key(c, "outside");
		get_host(c, x->outside, &r->outside);
		path_pop(c, saved);
		break;
	case EG_CFG_NAT_NETMAP:
	case EG_CFG_NAT_REMOTE_NETMAP: {
		yaml_node_t *other = r->type == EG_CFG_NAT_NETMAP ? x->outside : x->remote;
		const char *oname = r->type == EG_CFG_NAT_NETMAP ? "outside" : "remote";

		saved = path_push_key(c, "inside");
		get_prefix(c, x->inside, &r->inside, true);
		path_pop(c, saved);
		saved = path_push_key(c, oname);
		if (get_prefix(c, other, &r->outside, true) && r->inside.af &&
		    r->inside.len != r->outside.len)
			cfg_error(
				c, other,
				"a %s rule maps prefixes 1:1, so both need the same length (inside is /%u, %s is /%u)",
				tname, r->inside.len, oname, r->outside.len);
		path_pop(c, saved);
		break;
	}
	case EG_CFG_NAT_POOL:
		if (!(x->seen & NF_PORTS)) {
			r->port_lo = DEF_POOL_PORT_LO;
			r->port_hi = DEF_POOL_PORT_HI;
		}
		saved = path_push_key(c, "inside");
		walk_list(c, x->inside, EG_CFG_MAX_POOL_INSIDE, "a CIDR prefix", nat_pool_inside,
			  r);
		path_pop(c, saved);
		saved = path_push_key(c, "outside");
		get_host(c, x->outside, &r->outside);
		path_pop(c, saved);
		break;
	case EG_CFG_NAT_PUBLISH:
	case EG_CFG_NAT_FORWARD:
		if (!(x->seen & NF_PROTO))
			r->proto = IPPROTO_TCP;
		saved = path_push_key(c, "inside");
		get_addr_port(c, x->inside, &r->inside, &r->inside_port);
		path_pop(c, saved);
		saved = path_push_key(c, "outside");
		get_addr_port(c, x->outside, &r->outside, &r->outside_port);
		path_pop(c, saved);
		break;
	default:
		break;
	}
}

static void one_nat(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_cfg_child *ch = obj;
	struct nat_ctx x = { .r = &ch->nat[i] };

	x.r->line = (uint32_t)n->start_mark.line + 1;
	if (!walk_map(c, n, nat_keys, &x))
		return;
	nat_finish(c, n, &x);
	ch->n_nat = (uint16_t)(i + 1);
}

static void ch_nat(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list of NAT rules, got %s", node_kind(n));
		return;
	}
	walk_list(c, n, EG_CFG_MAX_NAT, "a NAT rule", one_nat, obj);
}

static const struct enum_def allow_dirs[] = {
	{ "out", EG_CFG_ALLOW_OUT },
	{ "in", EG_CFG_ALLOW_IN },
	{ "both", EG_CFG_ALLOW_BOTH },
};

static void al_dir(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, allow_dirs, &((struct eg_cfg_allow_rule *)obj)->dir);
}

static void al_proto(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	const char *v = scalar(c, n, "a protocol like tcp");

	if (!v)
		return;
	if (parse_proto(v, &((struct eg_cfg_allow_rule *)obj)->proto))
		cfg_error(c, n, "expected a protocol (tcp, udp, icmp, any or a number), got '%s'",
			  SHOW(c, v));
}

static void al_ports(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_cfg_allow_rule *a = obj;

	get_ports(c, n, &a->port_lo, &a->port_hi);
}

static void al_local(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_cfg_allow_rule *a = obj;

	a->has_local = get_prefix(c, n, &a->local, true);
}

static void al_remote(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_cfg_allow_rule *a = obj;

	a->has_remote = get_prefix(c, n, &a->remote, true);
}

static const struct key_def allow_keys[] = {
	{ "direction", al_dir, false }, { "proto", al_proto, false },
	{ "ports", al_ports, false },	{ "local", al_local, false },
	{ "remote", al_remote, false }, { NULL, NULL, false },
};

static void one_allow(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_cfg_child *ch = obj;
	struct eg_cfg_allow_rule *a = &ch->allow[i];

	a->port_lo = 0;
	a->port_hi = 65535;
	a->line = (uint32_t)n->start_mark.line + 1;
	if (!walk_map(c, n, allow_keys, a))
		return;
	if ((a->port_lo != 0 || a->port_hi != 65535) && !proto_has_ports(a->proto))
		cfg_error(c, n, "ports need proto tcp, udp or sctp");
	ch->n_allow = (uint16_t)(i + 1);
}

static void ch_allow(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list of allow rules, got %s", node_kind(n));
		return;
	}
	walk_list(c, n, EG_CFG_MAX_ALLOW, "an allow rule", one_allow, obj);
}

static const struct key_def child_keys[] = {
	{ "name", ch_name, true },
	{ "local", ch_local, true },
	{ "remote", ch_remote, true },
	{ "mode", ch_mode, false },
	{ "direction", ch_direction, false },
	{ "replay_window", ch_replay, false },
	{ "nat", ch_nat, false },
	{ "allow", ch_allow, false },
	{ NULL, NULL, false },
};

static bool prefix_contains(const struct eg_prefix *outer, const struct eg_prefix *inner)
{
	if (outer->af != inner->af || outer->len > inner->len)
		return false;
	for (int bit = 0; bit < outer->len; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if ((outer->addr[bit / 8] & m) != (inner->addr[bit / 8] & m))
			return false;
	}
	return true;
}

static bool prefix_overlaps(const struct eg_prefix *a, const struct eg_prefix *b)
{
	return prefix_contains(a, b) || prefix_contains(b, a);
}

static bool in_selectors(const struct eg_selector *sel, size_t n, const struct eg_prefix *p)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_contains(&sel[i].net, p))
			return true;
	return false;
}

/* Relations inside one child: NAT against selectors, NAT rules against each other. */
static void child_validate(struct cfg_ctx *c, yaml_node_t *n, struct eg_cfg_child *ch)
{
	char a[64], b[64];

	if (ch->mode == EG_CHILD_MODE_TRANSPORT) {
		for (size_t i = 0; i < ch->n_local + ch->n_remote; i++) {
			const struct eg_selector *s =
				i < ch->n_local ? &ch->local[i] : &ch->remote[i - ch->n_local];

			if (s->net.len != 32)
				cfg_error(
					c, n,
					"transport mode protects traffic between two hosts: selector %s must be a /32",
					eg_selector_str(s, a, sizeof(a)));
		}
		if (ch->n_nat)
			cfg_error(c, n, "NAT rules need mode: tunnel");
		/* Decrypted transport packets go straight to local delivery: the datapath never
		 * sees them, only the kernel's check of the SA's selectors applies. */
		if (ch->direction != EG_DIR_BOTH || ch->n_allow)
			cfg_error(
				c, n,
				"transport mode: set direction: both and no allow rules (what a transport SA delivers is checked against its negotiated selectors only; one-way and allow rules cannot be enforced on it)");
	}
	for (size_t i = 0; i < ch->n_nat; i++) {
		const struct eg_cfg_nat_rule *r = &ch->nat[i];
		bool remote_side =
			r->type == EG_CFG_NAT_REMOTE_NETMAP || r->type == EG_CFG_NAT_FORWARD;

		if (!r->outside.af)
			continue; /* not parsed: already reported */
		if (remote_side ? !in_selectors(ch->remote, ch->n_remote, &r->outside)
				: !in_selectors(ch->local, ch->n_local, &r->outside))
			cfg_error(
				c, n,
				"nat rule at line %u: %s is not inside this child's %s selectors, so translated packets would never match the tunnel",
				r->line, eg_prefix_str(&r->outside, a, sizeof(a)),
				remote_side ? "remote" : "local");
		for (size_t j = 0; j < i; j++) {
			const struct eg_cfg_nat_rule *q = &ch->nat[j];

			if (!q->outside.af)
				continue;
			/* two translations of the same inside source are ambiguous */
			if ((r->type == EG_CFG_NAT_SNAT || r->type == EG_CFG_NAT_NETMAP) &&
			    (q->type == EG_CFG_NAT_SNAT || q->type == EG_CFG_NAT_NETMAP) &&
			    prefix_overlaps(&r->inside, &q->inside))
				cfg_error(
					c, n,
					"nat rules at lines %u and %u both translate %s: only one can apply",
					q->line, r->line, eg_prefix_str(&r->inside, a, sizeof(a)));
			/* two inside sources sharing one outside address cannot be told apart */
			if ((r->type == EG_CFG_NAT_SNAT || r->type == EG_CFG_NAT_NETMAP) &&
			    (q->type == EG_CFG_NAT_SNAT || q->type == EG_CFG_NAT_NETMAP ||
			     q->type == EG_CFG_NAT_POOL) &&
			    prefix_overlaps(&r->outside, &q->outside))
				cfg_error(
					c, n,
					"nat rules at lines %u and %u both use %s as the outside address: replies could not be told apart",
					q->line, r->line, eg_prefix_str(&r->outside, b, sizeof(b)));
			if (r->type == EG_CFG_NAT_REMOTE_NETMAP &&
			    q->type == EG_CFG_NAT_REMOTE_NETMAP &&
			    (prefix_overlaps(&r->inside, &q->inside) ||
			     prefix_overlaps(&r->outside, &q->outside)))
				cfg_error(c, n, "remote-netmap rules at lines %u and %u overlap",
					  q->line, r->line);
			if (r->type == EG_CFG_NAT_PUBLISH && q->type == EG_CFG_NAT_PUBLISH &&
			    r->proto == q->proto && r->outside_port == q->outside_port &&
			    !memcmp(r->outside.addr, q->outside.addr, 4))
				cfg_error(
					c, n, "nat rules at lines %u and %u publish the same %s:%u",
					q->line, r->line, eg_prefix_str(&r->outside, a, sizeof(a)),
					r->outside_port);
		}
	}
}

struct children_ctx {
	struct eg_tunnel *t;
};

static void one_child(struct cfg_ctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct eg_tunnel *t = obj;
	struct eg_cfg_child *ch = &t->children[i];

	ch->mode = EG_CHILD_MODE_TUNNEL;
	ch->direction = EG_DIR_ONE_WAY;
	ch->replay_window = DEF_REPLAY_WINDOW;
	ch->line = (uint32_t)n->start_mark.line + 1;
	ch->col = (uint32_t)n->start_mark.column + 1;
	t->n_children = i + 1;
	if (!walk_map(c, n, child_keys, ch))
		return;
	for (size_t j = 0; j < i; j++)
		if (ch->name[0] && !strcmp(t->children[j].name, ch->name))
			cfg_error(c, n, "duplicate child name '%s' (first at line %u)", ch->name,
				  t->children[j].line);
	child_validate(c, n, ch);
}

/* ---- tunnels -------------------------------------------------------------------------------- */

static void t_peer(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_tunnel *t = obj;
	const char *v = scalar(c, n, "an IP address, a host name or any");

	if (!v)
		return;
	if (!strcmp(v, "any") || !strcmp(v, "%any")) {
		t->peer_kind = EG_PEER_ANY;
	} else if (!parse_addr(v, &t->peer_addr)) {
		t->peer_kind = EG_PEER_ADDR;
	} else if (fqdn_valid(v) && strspn(v, "0123456789.") != strlen(v)) {
		t->peer_kind = EG_PEER_FQDN;
		memcpy(t->peer_fqdn, v, strlen(v) + 1);
	} else {
		cfg_error(
			c, n,
			"expected an IP address, a host name like vpn.example.com or any, got '%s'",
			SHOW(c, v));
	}
}

static void t_peer_port(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_port(c, n, &((struct eg_tunnel *)obj)->peer_port);
}

static void t_local_addr(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_tunnel *t = obj;

	t->has_local_addr = get_addr(c, n, &t->local_addr, false);
}

static void get_id(struct cfg_ctx *c, yaml_node_t *n, struct eg_id *id)
{
	const char *v = scalar(c, n, "an identity like 203.0.113.5, @east or user@example.com");

	if (!v)
		return;
	if (eg_parse_id(v, id))
		cfg_error(
			c, n,
			"expected an identity (IP address, @fqdn, user@domain, @#hex key id, or fqdn:/email:/keyid:/ipv4:/ipv6: followed by one), got '%s'",
			SHOW(c, v));
}

static void t_local_id(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_id(c, n, &((struct eg_tunnel *)obj)->local_id);
}

static void t_remote_id(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_id(c, n, &((struct eg_tunnel *)obj)->remote_id);
}

static void t_psk(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_name(c, n, ((struct eg_tunnel *)obj)->psk_name,
		 "the name of a PSK in the secrets file");
}

static void t_ike(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_proposals(c, n, ((struct eg_tunnel *)obj)->ike, &c->ike_node);
}

static void t_esp(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_proposals(c, n, ((struct eg_tunnel *)obj)->esp, &c->esp_node);
}

static void t_ike_lifetime(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_tunnel *)obj)->ike_lifetime);
}

static void t_lifetime(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_tunnel *)obj)->lifetime);
}

static void t_rekey_margin(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_tunnel *)obj)->rekey_margin);
}

static void t_rekey_fuzz(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	const char *v = scalar(c, n, "a percentage like 10%");
	char num[8];
	size_t len;
	uint64_t p;

	if (!v)
		return;
	len = strlen(v);
	if (len && v[len - 1] == '%')
		len--;
	if (!len || len >= sizeof(num))
		goto bad;
	memcpy(num, v, len);
	num[len] = '\0';
	if (parse_u64(num, 100, &p))
		goto bad;
	((struct eg_tunnel *)obj)->rekey_fuzz = (uint8_t)p;
	return;
bad:
	cfg_error(c, n, "expected a percentage from 0%% to 100%%, got '%s'", SHOW(c, v));
}

static void t_life_bytes(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_size(c, n, &((struct eg_tunnel *)obj)->life_bytes);
}

static void t_life_packets(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_size(c, n, &((struct eg_tunnel *)obj)->life_packets);
}

static void d_delay(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_tunnel *)obj)->dpd_delay);
}

static void d_timeout(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_duration(c, n, &((struct eg_tunnel *)obj)->dpd_timeout);
}

static const struct enum_def dpd_actions[] = {
	{ "restart", EG_DPD_RESTART },
	{ "clear", EG_DPD_CLEAR },
	{ "none", EG_DPD_NONE },
};

static void d_action(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, dpd_actions, &((struct eg_tunnel *)obj)->dpd_action);
}

static const struct key_def dpd_keys[] = {
	{ "delay", d_delay, false },
	{ "timeout", d_timeout, false },
	{ "action", d_action, false },
	{ NULL, NULL, false },
};

static void t_dpd(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	walk_map(c, n, dpd_keys, obj);
}

static const struct enum_def tunnel_modes[] = {
	{ "both", EG_MODE_BOTH },
	{ "initiator-only", EG_MODE_INITIATOR_ONLY },
	{ "responder-only", EG_MODE_RESPONDER_ONLY },
};

static void t_mode(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, tunnel_modes, &((struct eg_tunnel *)obj)->mode);
}

static const struct enum_def start_actions[] = {
	{ "start", EG_START_START },
	{ "on-demand", EG_START_ON_DEMAND },
	{ "none", EG_START_NONE },
};

static void t_strict(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	get_bool(c, n, &((struct eg_tunnel *)obj)->strict_selectors);
}

static const struct enum_def natt_modes[] = {
	{ "auto", EG_NATT_AUTO },
	{ "force", EG_NATT_FORCE },
};

static void t_natt(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, natt_modes, &((struct eg_tunnel *)obj)->nat_traversal);
}

static void t_children(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_tunnel *t = obj;
	size_t count;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list of children, got %s", node_kind(n));
		return;
	}
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (!count) {
		cfg_error(c, n, "a tunnel needs at least one child");
		return;
	}
	if (count > EG_CFG_MAX_CHILDREN) {
		cfg_error(c, n, "too many children (%zu, at most %d)", count, EG_CFG_MAX_CHILDREN);
		return;
	}
	t->children = calloc(count, sizeof(*t->children));
	if (!t->children) {
		cfg_error(c, n, "out of memory");
		return;
	}
	walk_list(c, n, count, "a child", one_child, t);
}

static void t_start(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	GET_ENUM(c, n, start_actions, &((struct eg_tunnel *)obj)->start);
	c->start_node = n;
}

static const struct key_def tunnel_keys[] = {
	{ "peer", t_peer, true },
	{ "peer_port", t_peer_port, false },
	{ "local_address", t_local_addr, false },
	{ "local_id", t_local_id, false },
	{ "remote_id", t_remote_id, false },
	{ "psk", t_psk, true },
	{ "ike", t_ike, false },
	{ "esp", t_esp, false },
	{ "ike_lifetime", t_ike_lifetime, false },
	{ "lifetime", t_lifetime, false },
	{ "rekey_margin", t_rekey_margin, false },
	{ "rekey_fuzz", t_rekey_fuzz, false },
	{ "life_bytes", t_life_bytes, false },
	{ "life_packets", t_life_packets, false },
	{ "dpd", t_dpd, false },
	{ "mode", t_mode, false },
	{ "start", t_start, false },
	{ "strict_selectors", t_strict, false },
	{ "nat_traversal", t_natt, false },
	{ "children", t_children, true },
	{ NULL, NULL, false },
};

static void tunnel_defaults(struct eg_tunnel *t, const struct eg_global *g)
{
	t->peer_port = g->ike_port;
	t->ike_lifetime = DEF_IKE_LIFETIME;
	t->lifetime = DEF_LIFETIME;
	t->rekey_margin = DEF_REKEY_MARGIN;
	t->rekey_fuzz = DEF_REKEY_FUZZ;
	t->dpd_delay = DEF_DPD_DELAY;
	t->dpd_timeout = DEF_DPD_TIMEOUT;
	t->dpd_action = EG_DPD_RESTART;
	t->mode = EG_MODE_BOTH;
	t->start = EG_START_START;
	t->nat_traversal = EG_NATT_AUTO;
	snprintf(t->ike, sizeof(t->ike), "default");
	snprintf(t->esp, sizeof(t->esp), "default");
}

/* Relations inside one tunnel: peer and mode, lifetimes, DPD. */
static void tunnel_validate(struct cfg_ctx *c, yaml_node_t *n, struct eg_tunnel *t)
{
	const struct eg_global *g = &c->cfg->global;
	uint64_t margin_max;

	if (t->peer_kind == EG_PEER_ANY) {
		if (t->mode != EG_MODE_RESPONDER_ONLY)
			cfg_error(
				c, n,
				"peer: any can only respond (espgate does not know where to send): set mode: responder-only");
		if (t->remote_id.type == EG_ID_AUTO)
			cfg_error(
				c, n,
				"peer: any needs remote_id, the identity the partner must prove (e.g. @west)");
	}
	if (t->peer_kind == EG_PEER_FQDN && t->remote_id.type == EG_ID_AUTO)
		cfg_error(
			c, n,
			"peer '%s' is a host name: set remote_id (e.g. @%s or the partner's address)",
			t->peer_fqdn, t->peer_fqdn);
	if (c->start_node) {
		if (t->mode == EG_MODE_RESPONDER_ONLY && t->start != EG_START_NONE)
			cfg_error(c, c->start_node,
				  "a responder-only tunnel never initiates: start must be none");
	} else if (t->mode == EG_MODE_RESPONDER_ONLY) {
		t->start = EG_START_NONE;
	}
	if (t->has_local_addr && t->peer_kind == EG_PEER_ADDR &&
	    t->local_addr.af != t->peer_addr.af)
		cfg_error(c, n, "local_address and peer are of different address families");
	if (t->has_local_addr && g->n_local_addrs) {
		bool found = false;

		for (size_t i = 0; i < g->n_local_addrs; i++)
			if (!memcmp(&g->local_addrs[i], &t->local_addr, sizeof(t->local_addr)))
				found = true;
		if (!found)
			cfg_error(c, n, "local_address is not one of global.local_addresses");
	}
	if (t->ike_lifetime < MIN_LIFETIME || t->lifetime < MIN_LIFETIME)
		cfg_error(c, n, "ike_lifetime and lifetime must be at least %ds", MIN_LIFETIME);
	/* rekeying starts margin + random(0..margin*fuzz%) before expiry: that must be > 0 */
	margin_max = (uint64_t)t->rekey_margin + (uint64_t)t->rekey_margin * t->rekey_fuzz / 100;
	if (!t->rekey_margin)
		cfg_error(c, n,
			  "rekey_margin must be at least 1s, or SAs expire before they rekey");
	else if (margin_max >= t->lifetime || margin_max >= t->ike_lifetime)
		cfg_error(
			c, n,
			"rekey_margin %us plus rekey_fuzz %u%% (up to %llus) must be shorter than lifetime (%us) and ike_lifetime (%us)",
			t->rekey_margin, t->rekey_fuzz, (unsigned long long)margin_max, t->lifetime,
			t->ike_lifetime);
	if (t->dpd_action != EG_DPD_NONE) {
		if (!t->dpd_delay)
			cfg_error(c, n, "dpd.delay must be at least 1s (or set dpd.action: none)");
		else if (t->dpd_timeout < t->dpd_delay)
			cfg_error(c, n, "dpd.timeout (%us) must be at least dpd.delay (%us)",
				  t->dpd_timeout, t->dpd_delay);
	}
	/* the tunnel's own key when written, else the tunnel (for the "default" proposals) */
	check_proposals(c, c->ike_node ? c->ike_node : n, "ike", t->ike, IKE_PROTO_IKE);
	check_proposals(c, c->esp_node ? c->esp_node : n, "esp", t->esp, IKE_PROTO_ESP);
}

static void top_tunnels(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	struct eg_config_file *cfg = obj;
	yaml_node_pair_t *p;
	size_t count, i = 0;

	if (n->type != YAML_MAPPING_NODE) {
		cfg_error(c, n, "expected a mapping of tunnel names to tunnels, got %s",
			  node_kind(n));
		return;
	}
	count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (count > EG_CFG_MAX_TUNNELS) {
		cfg_error(c, n, "too many tunnels (%zu, at most %d)", count, EG_CFG_MAX_TUNNELS);
		return;
	}
	cfg->tunnels = calloc(count ? count : 1, sizeof(*cfg->tunnels));
	if (!cfg->tunnels) {
		cfg_error(c, n, "out of memory");
		return;
	}
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		struct eg_tunnel *t = &cfg->tunnels[i];
		const char *name;
		size_t saved;
		bool dup = false;

		if (!k || !v)
			continue;
		name = scalar(c, k, "a tunnel name");
		if (!name)
			continue;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->tunnels[j].name, name)) {
				cfg_error(c, k, "duplicate tunnel '%s' (first at line %u)", name,
					  cfg->tunnels[j].line);
				dup = true;
			}
		if (dup)
			continue;
		get_name(c, k, t->name, "a tunnel name");
		if (!t->name[0])
			continue;
		t->line = (uint32_t)k->start_mark.line + 1;
		t->col = (uint32_t)k->start_mark.column + 1;
		tunnel_defaults(t, &cfg->global);
		saved = path_push_key(c, name);
		c->start_node = NULL;
		c->ike_node = c->esp_node = NULL;
		/* the list of a key written in the file replaces the defaults */
		if (walk_map(c, v, tunnel_keys, t))
			tunnel_validate(c, v, t);
		path_pop(c, saved);
		i++;
		cfg->n_tunnels = i;
	}
}

/* global was read before the walk (parse_top) */
static void top_global_done(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	(void)c;
	(void)n;
	(void)obj;
}

static const struct key_def top_keys[] = {
	{ "global", top_global_done, true },
	{ "masquerade", top_masq, false },
	{ "tunnels", top_tunnels, false },
	{ NULL, NULL, false },
};

/* ---- cross-tunnel checks -------------------------------------------------------------------- */

static bool id_equal(const struct eg_id *a, const struct eg_id *b)
{
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static bool addr_equal(const struct eg_addr *a, const struct eg_addr *b)
{
	return a->af == b->af && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/*
 * The remote selector as our network addresses it: a remote-netmap rule makes the partner's
 * prefix appear under another one, and that is what tells two partners with the same network
 * apart (S5).
 */
static struct eg_prefix remote_inside_view(const struct eg_cfg_child *ch,
					   const struct eg_selector *s)
{
	for (size_t i = 0; i < ch->n_nat; i++) {
		const struct eg_cfg_nat_rule *r = &ch->nat[i];

		if (r->type == EG_CFG_NAT_REMOTE_NETMAP && prefix_contains(&r->outside, &s->net))
			return r->inside;
	}
	return s->net;
}

static void cross_validate(struct cfg_ctx *c)
{
	const struct eg_config_file *cfg = c->cfg;
	char a[64], b[64];

	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		const struct eg_tunnel *t = &cfg->tunnels[i];

		for (size_t j = 0; j < i; j++) {
			const struct eg_tunnel *u = &cfg->tunnels[j];

			/* an incoming IKE_SA is matched to a tunnel by peer address and identity */
			if (t->mode != EG_MODE_INITIATOR_ONLY &&
			    u->mode != EG_MODE_INITIATOR_ONLY && t->peer_kind == u->peer_kind &&
			    id_equal(&t->remote_id, &u->remote_id) &&
			    (t->peer_kind == EG_PEER_ANY ||
			     (t->peer_kind == EG_PEER_ADDR &&
			      addr_equal(&t->peer_addr, &u->peer_addr)) ||
			     (t->peer_kind == EG_PEER_FQDN && !strcmp(t->peer_fqdn, u->peer_fqdn))))
				err_add(c->err,
					"%s:%u:%u: tunnels.%s: same peer and remote_id as tunnel '%s' (line %u): an incoming connection could not be told apart; give them distinct remote_id values",
					c->file, t->line, t->col, t->name, u->name, u->line),
					c->n_err++;
			for (size_t ci = 0; ci < t->n_children; ci++)
				for (size_t cj = 0; cj < u->n_children; cj++) {
					const struct eg_cfg_child *x = &t->children[ci];
					const struct eg_cfg_child *y = &u->children[cj];

					for (size_t li = 0; li < x->n_local; li++)
						for (size_t lj = 0; lj < y->n_local; lj++)
							for (size_t ri = 0; ri < x->n_remote; ri++)
								for (size_t rj = 0;
								     rj < y->n_remote; rj++) {
									struct eg_prefix vx, vy;

									if (memcmp(&x->local[li],
										   &y->local[lj],
										   sizeof(x->local[li])))
										continue;
									vx = remote_inside_view(
										x, &x->remote[ri]);
									vy = remote_inside_view(
										y, &y->remote[rj]);
									if (memcmp(&vx, &vy,
										   sizeof(vx)) ||
									    x->remote[ri].proto !=
										    y->remote[rj]
											    .proto ||
									    x->remote[ri].port_lo !=
										    y->remote[rj]
											    .port_lo ||
									    x->remote[ri].port_hi !=
										    y->remote[rj]
											    .port_hi)
										continue;
									err_add(c->err,
										"%s:%u:%u: tunnels.%s.children '%s': claims the same traffic %s <-> %s as tunnel '%s' child '%s' (line %u), which would always win; give one a remote-netmap rule or different selectors",
										c->file, x->line,
										x->col, t->name,
										x->name,
										eg_selector_str(
											&x->local[li],
											a,
											sizeof(a)),
										eg_prefix_str(
											&vx, b,
											sizeof(b)),
										u->name, y->name,
										y->line);
									c->n_err++;
								}
				}
		}
	}
}

/* ---- YAML plumbing -------------------------------------------------------------------------- */

static void report_yaml_error(struct cfg_ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (p->error == YAML_MEMORY_ERROR) {
		cfg_error_at(c, NULL, "out of memory while parsing");
		return;
	}
	if (p->context)
		cfg_error_at(c, &p->problem_mark, "YAML syntax error: %s (%s at line %zu)", problem,
			     p->context, p->context_mark.line + 1);
	else
		cfg_error_at(c, &p->problem_mark, "YAML syntax error: %s", problem);
}

/* Zeroes what libyaml's parser still holds of the input (secrets). */
static void parser_cleanse(yaml_parser_t *p)
{
	if (p->raw_buffer.start)
		OPENSSL_cleanse(p->raw_buffer.start,
				(size_t)(p->raw_buffer.end - p->raw_buffer.start));
	if (p->buffer.start)
		OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
}

/*
 * First pass over the events: syntax errors, aliases and extra documents are refused before a
 * tree is built. Returns 0 or -EINVAL (reported).
 */
static int yaml_prescan(struct cfg_ctx *c, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, ret = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p)) {
		cfg_error_at(c, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			report_yaml_error(c, &p);
			ret = -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			cfg_error_at(c, &ev.start_mark,
				     "YAML aliases (*name) are not supported: write the value out");
			ret = -EINVAL;
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				cfg_error_at(
					c, &ev.start_mark,
					"only one YAML document is allowed (found a second '---')");
				ret = -EINVAL;
				done = true;
			}
			break;
		case YAML_SCALAR_EVENT:
			if (c->secret)
				OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	parser_cleanse(&p);
	yaml_parser_delete(&p);
	return ret;
}

/* Loads buf into c->doc. Returns the root node, or NULL (reported; c->doc is then empty). */
static yaml_node_t *yaml_load(struct cfg_ctx *c, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_node_t *root;
	int ok;

	memset(&c->doc, 0, sizeof(c->doc));
	if (yaml_prescan(c, buf, len))
		return NULL;
	if (!yaml_parser_initialize(&p)) {
		cfg_error_at(c, NULL, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	ok = yaml_parser_load(&p, &c->doc);
	if (!ok)
		report_yaml_error(c, &p);
	parser_cleanse(&p);
	yaml_parser_delete(&p);
	if (!ok) {
		memset(&c->doc, 0, sizeof(c->doc));
		return NULL;
	}
	root = yaml_document_get_root_node(&c->doc);
	if (!root || node_is_null(root)) {
		cfg_error_at(c, NULL, "the file is empty");
		return NULL;
	}
	return root;
}

static void yaml_unload(struct cfg_ctx *c)
{
	if (c->secret)
		for (yaml_node_t *n = c->doc.nodes.start; n && n < c->doc.nodes.top; n++)
			if (n->type == YAML_SCALAR_NODE)
				OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(&c->doc);
	memset(&c->doc, 0, sizeof(c->doc));
}

/* ---- secrets -------------------------------------------------------------------------------- */

static void one_psk(struct cfg_ctx *c, yaml_node_t *k, yaml_node_t *v)
{
	struct eg_config_file *cfg = c->cfg;
	uint8_t *tmp;
	struct eg_psk *psk;
	const char *name, *val;
	size_t len = 0;
	int err;

	name = scalar(c, k, "a PSK name");
	if (!name)
		return;
	for (size_t i = 0; i < cfg->n_psks; i++)
		if (!strcmp(cfg->psks[i].name, name)) {
			cfg_error(c, k, "duplicate PSK '%s'", name);
			return;
		}
	psk = &cfg->psks[cfg->n_psks];
	get_name(c, k, psk->name, "a PSK name");
	if (!psk->name[0])
		return;
	val = scalar(c, v, "a secret");
	if (!val)
		return;
	tmp = calloc(1, EG_CFG_PSK_MAX); /* zeroed below before it is freed */
	if (!tmp) {
		cfg_error(c, v, "out of memory");
		return;
	}
	err = eg_parse_psk(val, v->data.scalar.length, tmp, &len);
	if (err == -E2BIG)
		cfg_error(c, v, "the secret is longer than %d bytes", EG_CFG_PSK_MAX);
	else if (err && val[0] == '0' && (val[1] == 'x' || val[1] == 'X'))
		cfg_error(c, v, "expected hex digits after 0x (an even number of them)");
	else if (err && val[0] == '0' && val[1] == 's')
		cfg_error(c, v, "expected base64 after 0s");
	else if (err)
		cfg_error(c, v, "expected a secret");
	if (!err) {
		psk->key = malloc(len);
		if (psk->key) {
			memcpy(psk->key, tmp, len);
			psk->len = len;
			cfg->n_psks++;
			if (len < 16)
				log_warnx(
					"%s:%zu: PSK '%s' is only %zu bytes: use at least 16 random bytes (openssl rand -base64 32)",
					c->file, v->start_mark.line + 1, psk->name, len);
		} else {
			cfg_error(c, v, "out of memory");
		}
	}
	OPENSSL_cleanse(tmp, EG_CFG_PSK_MAX);
	free(tmp);
	if (!psk->key)
		memset(psk, 0, sizeof(*psk));
}

static void s_psk(struct cfg_ctx *c, yaml_node_t *n, void *obj)
{
	size_t count;

	(void)obj;
	if (n->type != YAML_MAPPING_NODE) {
		cfg_error(c, n, "expected a mapping of PSK names to secrets, got %s", node_kind(n));
		return;
	}
	count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (count > EG_CFG_MAX_PSKS) {
		cfg_error(c, n, "too many PSKs (%zu, at most %d)", count, EG_CFG_MAX_PSKS);
		return;
	}
	c->cfg->psks = calloc(count ? count : 1, sizeof(*c->cfg->psks));
	if (!c->cfg->psks) {
		cfg_error(c, n, "out of memory");
		return;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		const char *name;
		size_t saved;

		if (!k || !v || k->type != YAML_SCALAR_NODE) {
			if (k)
				cfg_error(c, k, "expected a PSK name, got %s", node_kind(k));
			continue;
		}
		name = (const char *)k->data.scalar.value;
		saved = path_push_key(c, strlen(name) < EG_CFG_NAME_MAX ? name : "?");
		one_psk(c, k, v);
		path_pop(c, saved);
	}
}

static const struct key_def secrets_keys[] = {
	{ "psk", s_psk, true },
	{ NULL, NULL, false },
};

static void parse_secrets(struct cfg_ctx *c, const char *name, const char *buf, size_t len)
{
	struct cfg_ctx sc = { .file = name, .err = c->err, .secret = true, .cfg = c->cfg };
	yaml_node_t *root;

	root = yaml_load(&sc, buf, len);
	if (root)
		walk_map(&sc, root, secrets_keys, c->cfg);
	yaml_unload(&sc);
	c->n_err += sc.n_err;
}

/*
 * Every tunnel's psk must name a secret; the tunnel points at it. Without secrets (none given,
 * or the file could not be read: reported already when `quiet`) the names cannot be checked.
 */
static void link_psks(struct cfg_ctx *c, bool have_secrets, bool quiet, const char *secrets_name)
{
	struct eg_config_file *cfg = c->cfg;

	for (size_t i = 0; i < cfg->n_tunnels; i++) {
		struct eg_tunnel *t = &cfg->tunnels[i];

		if (!t->psk_name[0])
			continue;
		for (size_t j = 0; j < cfg->n_psks; j++)
			if (!strcmp(cfg->psks[j].name, t->psk_name))
				t->psk = &cfg->psks[j];
		if (!t->psk && have_secrets) {
			err_add(c->err, "%s:%u:%u: tunnels.%s.psk: no PSK named '%s' in %s",
				c->file, t->line, t->col, t->name, t->psk_name, secrets_name);
			c->n_err++;
		} else if (!t->psk && !quiet) {
			err_add(c->err, "%s:%u:%u: tunnels.%s.psk: no secrets file to find '%s' in",
				c->file, t->line, t->col, t->name, t->psk_name);
			c->n_err++;
		}
	}
}

/* ---- entry points --------------------------------------------------------------------------- */

void eg_config_free(struct eg_config_file *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		free(cfg->tunnels[i].children);
	free(cfg->tunnels);
	for (size_t i = 0; i < cfg->n_psks; i++) {
		if (cfg->psks[i].key)
			OPENSSL_cleanse(cfg->psks[i].key, cfg->psks[i].len);
		free(cfg->psks[i].key);
	}
	free(cfg->psks);
	free(cfg);
}

static void global_defaults(struct eg_global *g)
{
	g->ike_port = DEF_IKE_PORT;
	g->natt_port = DEF_NATT_PORT;
	g->natt_keepalive = DEF_NATT_KEEPALIVE;
	g->log_level = EG_LOG_INFO;
}

/*
 * The global section must be read first: tunnel defaults (peer_port) and the weak-algorithm
 * check depend on it, wherever it sits in the file. So the top level is walked twice: once for
 * global only, once for the rest.
 */
static void parse_top(struct cfg_ctx *c, yaml_node_t *root)
{
	yaml_node_pair_t *p;

	if (root->type != YAML_MAPPING_NODE) {
		cfg_error(c, root, "expected a mapping with global and tunnels, got %s",
			  node_kind(root));
		return;
	}
	/* the full walk reports unknown/duplicate/missing keys; the first only reads global */
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);

		if (k && v && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, "global")) {
			size_t saved = path_push_key(c, "global");

			top_global(c, v, c->cfg);
			path_pop(c, saved);
			break; /* a duplicate global is reported by the walk below */
		}
	}
	walk_map(c, root, top_keys, c->cfg);
}

/* eg_config_parse() that appends to err; secrets_failed: the file was unreadable (reported). */
static int config_parse(const char *name, const char *buf, size_t len, const char *secrets_name,
			const char *secrets_buf, size_t secrets_len, bool secrets_failed,
			struct eg_config_file **out, struct eg_config_err *err)
{
	struct cfg_ctx c = { .file = name ? name : "<config>", .err = err };
	yaml_node_t *root;

	*out = NULL;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg)
		return -ENOMEM;
	global_defaults(&c.cfg->global);
	snprintf(c.cfg->path, sizeof(c.cfg->path), "%s", c.file);
	if (secrets_buf)
		parse_secrets(&c, secrets_name ? secrets_name : "<secrets>", secrets_buf,
			      secrets_len);
	root = yaml_load(&c, buf, len);
	if (root)
		parse_top(&c, root);
	yaml_unload(&c);
	if (root && !c.n_err) {
		cross_validate(&c);
		link_psks(&c, secrets_buf != NULL, secrets_failed,
			  secrets_name ? secrets_name : "the secrets file");
	}
	if (c.n_err) {
		eg_config_free(c.cfg);
		return -EINVAL;
	}
	*out = c.cfg;
	return 0;
}

int eg_config_parse(const char *name, const char *buf, size_t len, const char *secrets_name,
		    const char *secrets_buf, size_t secrets_len, struct eg_config_file **out,
		    struct eg_config_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
	return config_parse(name, buf, len, secrets_name, secrets_buf, secrets_len, false, out,
			    err);
}

/*
 * Reads a whole regular file (at most EG_CFG_MAX_FILE bytes) into a NUL-terminated buffer.
 * For the secrets file (secret = true) the mode and owner are checked on the open descriptor.
 */
static int read_file(const char *path, bool secret, char **buf, size_t *len,
		     struct eg_config_err *err)
{
	struct stat st;
	ssize_t n;
	size_t off = 0;
	char *b;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		err_add(err, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		err_add(err, "%s: cannot stat: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err_add(err, "%s: not a regular file", path);
		ret = -EINVAL;
		goto out_close;
	}
	if (secret && (st.st_mode & 077)) {
		err_add(err,
			"%s: the secrets file is accessible by group or others (mode %04o): run chmod 600 %s",
			path, (unsigned int)(st.st_mode & 07777), path);
		ret = -EACCES;
		goto out_close;
	}
	if (secret && geteuid() == 0 && st.st_uid != 0) {
		err_add(err,
			"%s: the secrets file is owned by uid %u, not root: run chown root:root %s",
			path, (unsigned int)st.st_uid, path);
		ret = -EPERM;
		goto out_close;
	}
	if (st.st_size > EG_CFG_MAX_FILE) {
		err_add(err, "%s: larger than %d bytes", path, EG_CFG_MAX_FILE);
		ret = -EFBIG;
		goto out_close;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		ret = -ENOMEM;
		goto out_close;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, b + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	b[off] = '\0';
	*buf = b;
	*len = off;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

/*
 * The secrets path: global.secrets if the config names one (relative to the config file's
 * directory), else EG_SECRETS_DEFAULT_PATH. Only that key is looked up here; whatever else is
 * wrong with the file is reported by the real parse.
 */
static void secrets_path_of(const char *cfg_path, const char *cfg_buf, size_t cfg_len, char *out,
			    size_t outlen)
{
	struct cfg_ctx c = { .file = cfg_path };
	const char *rel = EG_SECRETS_DEFAULT_PATH, *slash;
	yaml_node_t *root, *global = NULL;

	root = yaml_load(&c, cfg_buf, cfg_len);
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_at(&c, p->key);

			if (k && k->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k->data.scalar.value, "global"))
				global = node_at(&c, p->value);
		}
	}
	if (global && global->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = global->data.mapping.pairs.start;
		     p < global->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_at(&c, p->key), *v = node_at(&c, p->value);

			if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k->data.scalar.value, "secrets") &&
			    v->data.scalar.length)
				rel = (const char *)v->data.scalar.value;
		}
	}
	if (rel[0] == '/' || !(slash = strrchr(cfg_path, '/')))
		snprintf(out, outlen, "%s", rel);
	else
		snprintf(out, outlen, "%.*s/%s", (int)(slash - cfg_path), cfg_path, rel);
	yaml_unload(&c);
}

int eg_config_load(const char *path, const char *secrets_path, struct eg_config_file **cfg,
		   struct eg_config_err *err)
{
	struct eg_config_err scratch;
	char spath[4096];
	char *cbuf = NULL, *sbuf = NULL;
	size_t clen = 0, slen = 0;
	int ret, sret;

	*cfg = NULL;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	ret = read_file(path, false, &cbuf, &clen, err);
	if (ret)
		return ret;
	if (secrets_path)
		snprintf(spath, sizeof(spath), "%s", secrets_path);
	else
		secrets_path_of(path, cbuf, clen, spath, sizeof(spath));
	sret = read_file(spath, true, &sbuf, &slen, err);
	/* the config is checked even when the secrets file is unusable, so --check shows all */
	ret = config_parse(path, cbuf, clen, spath, sbuf, slen, sret != 0, cfg, err);
	if (sret) {
		eg_config_free(*cfg);
		*cfg = NULL;
		ret = sret;
	} else if (!ret) {
		snprintf((*cfg)->global.secrets_path, sizeof((*cfg)->global.secrets_path), "%s",
			 spath);
	}

	if (sbuf) {
		OPENSSL_cleanse(sbuf, slen);
		free(sbuf);
	}
	free(cbuf);
	return ret;
}

void eg_config_err_print(const struct eg_config_err *err)
{
	for (unsigned int i = 0; i < err->n; i++)
		fprintf(stderr, "%s\n", err->msg[i]);
	if (err->n_dropped)
		fprintf(stderr, "... and %u more errors\n", err->n_dropped);
}

const struct eg_tunnel *eg_config_find_tunnel(const struct eg_config_file *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		if (!strcmp(cfg->tunnels[i].name, name))
			return &cfg->tunnels[i];
	return NULL;
}

/* ---- comparison ----------------------------------------------------------------------------- */

static bool prefix_eq(const struct eg_prefix *a, const struct eg_prefix *b)
{
	return a->af == b->af && a->len == b->len && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static bool selector_eq(const struct eg_selector *a, const struct eg_selector *b)
{
	return prefix_eq(&a->net, &b->net) && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi;
}

static bool nat_eq(const struct eg_cfg_nat_rule *a, const struct eg_cfg_nat_rule *b)
{
	if (a->type != b->type || a->proto != b->proto || !prefix_eq(&a->inside, &b->inside) ||
	    !prefix_eq(&a->outside, &b->outside) || a->inside_port != b->inside_port ||
	    a->outside_port != b->outside_port || a->port_lo != b->port_lo ||
	    a->port_hi != b->port_hi || a->n_pool_inside != b->n_pool_inside)
		return false;
	for (size_t i = 0; i < a->n_pool_inside; i++)
		if (!prefix_eq(&a->pool_inside[i], &b->pool_inside[i]))
			return false;
	return true;
}

static bool allow_eq(const struct eg_cfg_allow_rule *a, const struct eg_cfg_allow_rule *b)
{
	return a->dir == b->dir && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && a->has_local == b->has_local &&
	       a->has_remote == b->has_remote &&
	       (!a->has_local || prefix_eq(&a->local, &b->local)) &&
	       (!a->has_remote || prefix_eq(&a->remote, &b->remote));
}

static bool child_eq(const struct eg_cfg_child *a, const struct eg_cfg_child *b)
{
	if (strcmp(a->name, b->name) || a->mode != b->mode || a->direction != b->direction ||
	    a->n_local != b->n_local || a->n_remote != b->n_remote ||
	    a->replay_window != b->replay_window || a->n_nat != b->n_nat ||
	    a->n_allow != b->n_allow)
		return false;
	for (size_t i = 0; i < a->n_local; i++)
		if (!selector_eq(&a->local[i], &b->local[i]))
			return false;
	for (size_t i = 0; i < a->n_remote; i++)
		if (!selector_eq(&a->remote[i], &b->remote[i]))
			return false;
	for (size_t i = 0; i < a->n_nat; i++)
		if (!nat_eq(&a->nat[i], &b->nat[i]))
			return false;
	for (size_t i = 0; i < a->n_allow; i++)
		if (!allow_eq(&a->allow[i], &b->allow[i]))
			return false;
	return true;
}

bool eg_config_tunnel_equal(const struct eg_tunnel *a, const struct eg_tunnel *b)
{
	if (strcmp(a->name, b->name) || a->peer_kind != b->peer_kind ||
	    (a->peer_kind == EG_PEER_ADDR && !addr_equal(&a->peer_addr, &b->peer_addr)) ||
	    (a->peer_kind == EG_PEER_FQDN && strcmp(a->peer_fqdn, b->peer_fqdn)) ||
	    a->peer_port != b->peer_port || a->has_local_addr != b->has_local_addr ||
	    (a->has_local_addr && !addr_equal(&a->local_addr, &b->local_addr)) ||
	    !id_equal(&a->local_id, &b->local_id) || !id_equal(&a->remote_id, &b->remote_id) ||
	    strcmp(a->psk_name, b->psk_name) || strcmp(a->ike, b->ike) || strcmp(a->esp, b->esp) ||
	    a->ike_lifetime != b->ike_lifetime || a->lifetime != b->lifetime ||
	    a->rekey_margin != b->rekey_margin || a->rekey_fuzz != b->rekey_fuzz ||
	    a->life_bytes != b->life_bytes || a->life_packets != b->life_packets ||
	    a->dpd_delay != b->dpd_delay || a->dpd_timeout != b->dpd_timeout ||
	    a->dpd_action != b->dpd_action || a->mode != b->mode || a->start != b->start ||
	    a->nat_traversal != b->nat_traversal || a->strict_selectors != b->strict_selectors ||
	    a->n_children != b->n_children)
		return false;
	/* a changed PSK changes the tunnel even though its name did not */
	if (!a->psk != !b->psk)
		return false;
	if (a->psk &&
	    (a->psk->len != b->psk->len || CRYPTO_memcmp(a->psk->key, b->psk->key, a->psk->len)))
		return false;
	for (size_t i = 0; i < a->n_children; i++)
		if (!child_eq(&a->children[i], &b->children[i]))
			return false;
	return true;
}

bool eg_config_global_equal(const struct eg_config_file *a, const struct eg_config_file *b)
{
	const struct eg_global *x = &a->global, *y = &b->global;

	if (strcmp(x->outside_if, y->outside_if) || strcmp(x->inside_if, y->inside_if) ||
	    x->n_local_addrs != y->n_local_addrs || x->ike_port != y->ike_port ||
	    x->natt_port != y->natt_port || x->natt_keepalive != y->natt_keepalive ||
	    x->allow_weak_algorithms != y->allow_weak_algorithms || x->log_level != y->log_level ||
	    strcmp(x->secrets_path, y->secrets_path) || a->n_masq != b->n_masq)
		return false;
	for (size_t i = 0; i < x->n_local_addrs; i++)
		if (!addr_equal(&x->local_addrs[i], &y->local_addrs[i]))
			return false;
	for (size_t i = 0; i < a->n_masq; i++) {
		const struct eg_masq_rule *m = &a->masq[i], *n = &b->masq[i];

		if (m->n_inside != n->n_inside || !addr_equal(&m->outside, &n->outside) ||
		    m->port_lo != n->port_lo || m->port_hi != n->port_hi)
			return false;
		for (size_t j = 0; j < m->n_inside; j++)
			if (!prefix_eq(&m->inside[j], &n->inside[j]))
				return false;
	}
	return true;
}
