/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * espgated's configuration as plain C: the whole file (global settings, the internet masquerade
 * rules and the tunnels with their children, selectors, NAT and firewall rules) and the PSKs of
 * the separate secrets file, owned by one struct eg_config_file. eg_config_load() parses both
 * YAML files with libyaml, validates everything that can be checked without touching the system
 * and either returns a complete config or collects every error as "file:line:col: path: what was
 * expected, got what" (never a secret). docs/CONFIG.md documents each key. Addresses are kept in
 * network order, ports and durations in host order; a value the file did not set holds its
 * documented default, so the daemon never needs to know which keys were written.
 */
#ifndef EG_CONFIG_H
#define EG_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EG_CONFIG_DEFAULT_PATH "/etc/espgate/espgate.yaml"
#define EG_SECRETS_DEFAULT_PATH "/etc/espgate/secrets.yaml"

enum eg_config_limits {
	EG_CFG_MAX_FILE = 1 << 20,   /* bytes per config or secrets file */
	EG_CFG_MAX_TUNNELS = 256,    /* = EG_MAX_TUNNELS of the ABI */
	EG_CFG_MAX_CHILDREN = 64,    /* per tunnel */
	EG_CFG_MAX_SELECTORS = 16,   /* per side of a child (IKE_MAX_TS) */
	EG_CFG_MAX_NAT = 64,	     /* NAT rules per child */
	EG_CFG_MAX_ALLOW = 64,	     /* allow rules per child */
	EG_CFG_MAX_POOL_INSIDE = 16, /* inside prefixes of one many-to-one rule */
	EG_CFG_MAX_MASQ = 16,	     /* global masquerade rules */
	EG_CFG_MAX_LOCAL_ADDRS = 8,
	EG_CFG_MAX_PSKS = 1024,
	EG_CFG_NAME_MAX = 64,	    /* tunnel, child and PSK names, with the NUL */
	EG_CFG_FQDN_MAX = 254,	    /* 253 + NUL */
	EG_CFG_PROPOSAL_MAX = 1024, /* all proposals of ike or esp, ','-joined, with the NUL */
	EG_CFG_ID_MAX = 255,	    /* identity data bytes */
	EG_CFG_PSK_MAX = 512,	    /* decoded PSK bytes */
	EG_CFG_MAX_ERRORS = 32,	    /* errors kept; further ones are counted */
	EG_CFG_ERR_LEN = 1024,	    /* one formatted error line */
};

/* An IPv4 or IPv6 address; af is AF_INET or AF_INET6, unused bytes are zero. */
struct eg_addr {
	uint8_t af;
	uint8_t addr[16]; /* network order; IPv4 in bytes 0..3 */
};

/* A prefix with no host bits set (the parser rejects 10.1.1.0/16). A bare address is /32 or /128. */
struct eg_prefix {
	uint8_t af;
	uint8_t len;
	uint8_t addr[16];
};

/* A traffic selector: prefix, IP protocol (0 = any), port range (0..65535 = any). */
struct eg_selector {
	struct eg_prefix net;
	uint8_t proto;
	uint16_t port_lo, port_hi;
};

/* Identity types carry the IKEv2 ID type numbers (RFC 7296 §3.5). */
enum eg_id_type {
	EG_ID_AUTO = 0, /* not configured: local = the IKE source address, remote = the peer's */
	EG_ID_IPV4 = 1,
	EG_ID_FQDN = 2,
	EG_ID_EMAIL = 3, /* RFC822 address */
	EG_ID_IPV6 = 5,
	EG_ID_KEYID = 11,
};

struct eg_id {
	uint8_t type;		     /* enum eg_id_type */
	uint8_t len;		     /* bytes of data used */
	uint8_t data[EG_CFG_ID_MAX]; /* address bytes, FQDN/email text (no NUL), or raw key id */
};

enum eg_peer_kind {
	EG_PEER_ADDR = 0, /* addr is set */
	EG_PEER_FQDN,	  /* fqdn is resolved at runtime */
	EG_PEER_ANY,	  /* "any": responder-only, the peer is whoever authenticates */
};

enum eg_tunnel_mode {
	EG_MODE_BOTH = 0, /* initiate and respond */
	EG_MODE_INITIATOR_ONLY,
	EG_MODE_RESPONDER_ONLY,
};

enum eg_start_action {
	EG_START_START = 0, /* bring the tunnel up when espgated starts */
	EG_START_ON_DEMAND, /* on the first packet (XFRM acquire) */
	EG_START_NONE,	    /* only by `espgatectl up` or when the peer initiates */
};

enum eg_dpd_action {
	EG_DPD_RESTART = 0, /* re-establish the tunnel */
	EG_DPD_CLEAR,	    /* delete the SAs; traffic is dropped until something brings it up */
	EG_DPD_NONE,	    /* no dead peer detection at all */
};

enum eg_natt {
	EG_NATT_AUTO = 0, /* detect NAT (RFC 7296 §2.23), float to 4500 when found */
	EG_NATT_FORCE,	  /* always encapsulate ESP in UDP 4500 (pretend a NAT is there) */
};

enum eg_child_mode {
	EG_CHILD_MODE_TUNNEL = 0,
	EG_CHILD_MODE_TRANSPORT,
};

enum eg_direction {
	EG_DIR_ONE_WAY = 0, /* only our side opens flows, except to published/allowed services */
	EG_DIR_BOTH,	    /* either side opens flows within the selectors */
};

/*
 * NAT rules of a child (docs/CONFIG.md, "nat"). "inside" is the address as our network knows it,
 * "outside" as the partner sees it through the tunnel (within the child's local selectors).
 */
enum eg_cfg_nat_type {
	EG_CFG_NAT_SNAT = 1,	  /* 1:1 host: inside host <-> outside host */
	EG_CFG_NAT_NETMAP,	  /* 1:1 prefix: inside prefix <-> outside prefix, same length */
	EG_CFG_NAT_REMOTE_NETMAP, /* the partner's remote prefix appears to us as inside prefix */
	EG_CFG_NAT_POOL,    /* many-to-one: pool_inside[] -> outside host, ports port_lo..hi */
	EG_CFG_NAT_PUBLISH, /* partner opens outside:port/proto -> inside:inside_port */
	EG_CFG_NAT_FORWARD, /* we open inside:port/proto -> partner's outside:outside_port */
};

struct eg_cfg_nat_rule {
	uint8_t type;  /* enum eg_cfg_nat_type */
	uint8_t proto; /* publish/forward: IPPROTO_TCP or IPPROTO_UDP; else 0 */
	/*
	 * snat/netmap/pool/publish: inside = ours, outside = our address as the partner sees it.
	 * remote-netmap: inside = how we see the partner's prefix, outside = the partner's real one.
	 * forward: inside = the address:port our clients connect to, outside = partner host:port.
	 */
	struct eg_prefix inside, outside;
	uint16_t inside_port, outside_port; /* publish/forward */
	uint16_t port_lo, port_hi;	    /* pool: source ports to allocate from */
	uint8_t n_pool_inside;
	struct eg_prefix pool_inside[EG_CFG_MAX_POOL_INSIDE];
	uint32_t line; /* where the rule starts in the file (for diagnostics, ignored by _equal) */
};

enum eg_cfg_allow_dir {
	EG_CFG_ALLOW_OUT = 0, /* our side opens */
	EG_CFG_ALLOW_IN,      /* the partner opens */
	EG_CFG_ALLOW_BOTH,
};

/*
 * Firewall allow rule of a child. With no allow rules, everything within the selectors may flow
 * (subject to the direction rule); with one or more, only what some rule matches.
 */
struct eg_cfg_allow_rule {
	uint8_t dir;		   /* enum eg_cfg_allow_dir */
	uint8_t proto;		   /* 0 = any */
	uint16_t port_lo, port_hi; /* destination port of the opening packet; 0..65535 = any */
	bool has_local, has_remote;
	struct eg_prefix local, remote; /* optional narrowing, inside addresses */
	uint32_t line;
};

struct eg_cfg_child {
	char name[EG_CFG_NAME_MAX];
	uint8_t mode;	   /* enum eg_child_mode */
	uint8_t direction; /* enum eg_direction */
	uint8_t n_local, n_remote;
	struct eg_selector local[EG_CFG_MAX_SELECTORS];	 /* as negotiated: post-NAT, our side */
	struct eg_selector remote[EG_CFG_MAX_SELECTORS]; /* the partner's real addresses */
	uint32_t replay_window;				 /* packets; 0 disables anti-replay */
	uint16_t n_nat, n_allow;
	struct eg_cfg_nat_rule nat[EG_CFG_MAX_NAT];
	struct eg_cfg_allow_rule allow[EG_CFG_MAX_ALLOW];
	uint32_t line, col; /* position in the file, for diagnostics (ignored by _equal) */
};

struct eg_psk {
	char name[EG_CFG_NAME_MAX];
	uint8_t *key; /* secret: zeroed (OPENSSL_cleanse) before free, never logged */
	size_t len;
};

struct eg_tunnel {
	char name[EG_CFG_NAME_MAX];
	uint8_t peer_kind; /* enum eg_peer_kind */
	struct eg_addr peer_addr;
	char peer_fqdn[EG_CFG_FQDN_MAX];
	uint16_t peer_port;  /* default: global ike_port */
	bool has_local_addr; /* else: the global one, or the route to the peer */
	struct eg_addr local_addr;
	struct eg_id local_id, remote_id;
	char psk_name[EG_CFG_NAME_MAX];
	const struct eg_psk *psk; /* into eg_config_file.psks; never NULL in a loaded config */
	/*
	 * strongSwan proposal strings, list items joined with ',' ("default" when not configured),
	 * validated with ike_prop_parse(); the engine parses them the same way.
	 */
	char ike[EG_CFG_PROPOSAL_MAX], esp[EG_CFG_PROPOSAL_MAX];
	uint32_t ike_lifetime; /* s */
	uint32_t lifetime;     /* s, CHILD SAs */
	uint32_t rekey_margin; /* s before expiry when rekeying starts */
	uint8_t rekey_fuzz;    /* percent of the margin added at random, 0..100 */
	uint64_t life_bytes;   /* CHILD SA hard limit in bytes, 0 = none */
	uint64_t life_packets; /* CHILD SA hard limit in packets, 0 = none */
	uint32_t dpd_delay;    /* s */
	uint32_t dpd_timeout;  /* s */
	uint8_t dpd_action;    /* enum eg_dpd_action */
	uint8_t mode;	       /* enum eg_tunnel_mode */
	uint8_t start;	       /* enum eg_start_action */
	uint8_t nat_traversal; /* enum eg_natt */
	bool strict_selectors; /* refuse (TS_UNACCEPTABLE) instead of narrowing wider proposals */
	size_t n_children;
	struct eg_cfg_child *children;
	uint32_t line, col; /* position in the file, for diagnostics (ignored by _equal) */
};

/* Global internet masquerade: inside prefixes leave as outside address, never tunnel traffic. */
struct eg_masq_rule {
	uint8_t n_inside;
	struct eg_prefix inside[EG_CFG_MAX_POOL_INSIDE];
	struct eg_addr outside;
	uint16_t port_lo, port_hi;
	uint32_t line;
};

struct eg_global {
	char outside_if[IF_NAMESIZE]; /* the NIC facing partners (the only one on a single NIC) */
	char inside_if[IF_NAMESIZE];  /* "" on a single NIC */
	uint8_t n_local_addrs;
	struct eg_addr local_addrs[EG_CFG_MAX_LOCAL_ADDRS]; /* IKE addresses; none = the NIC's */
	uint16_t ike_port, natt_port;
	uint32_t natt_keepalive; /* s; behind a NAT, send 0xff keepalives this often; 0 = never */
	bool allow_weak_algorithms;
	int log_level; /* enum eg_log_level */
	char secrets_path[4096];
};

struct eg_config_file {
	char path[4096];
	struct eg_global global;
	size_t n_masq;
	struct eg_masq_rule masq[EG_CFG_MAX_MASQ];
	size_t n_tunnels;
	struct eg_tunnel *tunnels;
	size_t n_psks;
	struct eg_psk *psks;
};

/* Every problem found, in file order; n_dropped counts errors past EG_CFG_MAX_ERRORS. */
struct eg_config_err {
	unsigned int n, n_dropped;
	char msg[EG_CFG_MAX_ERRORS][EG_CFG_ERR_LEN];
};

/*
 * Loads and validates path and its secrets file. secrets_path overrides global.secrets; NULL
 * uses the config's (relative paths are relative to the config file's directory), else
 * EG_SECRETS_DEFAULT_PATH. On success returns 0 and *cfg owns a complete config
 * (eg_config_free() it). On failure returns -EINVAL (invalid contents: err lists every problem),
 * -EACCES/-EPERM (the secrets file is open to group/other or not root's; err says how to fix it),
 * -ENOENT/-errno (a file cannot be read; err says which) or -ENOMEM; *cfg is then NULL. err may
 * be NULL. Touches nothing but the two files (no DNS, no interface lookup).
 */
int eg_config_load(const char *path, const char *secrets_path, struct eg_config_file **cfg,
		   struct eg_config_err *err);

/* The same from memory (tests, fuzzing): name is used in messages only. Secrets: see above;
 * secrets_buf NULL means "no secrets file" and any psk reference is then an error. */
int eg_config_parse(const char *name, const char *buf, size_t len, const char *secrets_name,
		    const char *secrets_buf, size_t secrets_len, struct eg_config_file **cfg,
		    struct eg_config_err *err);

/* Frees everything cfg owns, zeroing the PSKs. Accepts NULL. */
void eg_config_free(struct eg_config_file *cfg);

/*
 * True if two tunnels have the same effective configuration (every field, the PSK bytes
 * included, children in order; source line numbers ignored). A reload keeps the SAs of tunnels
 * for which this holds, and re-establishes the others.
 */
bool eg_config_tunnel_equal(const struct eg_tunnel *a, const struct eg_tunnel *b);
/* True if the global sections and masquerade rules are equal (those need a datapath reload). */
bool eg_config_global_equal(const struct eg_config_file *a, const struct eg_config_file *b);

const struct eg_tunnel *eg_config_find_tunnel(const struct eg_config_file *cfg, const char *name);

/* Writes the errors of err to stderr, one per line (used by --check and at startup). */
void eg_config_err_print(const struct eg_config_err *err);

/* Formatting helpers for logs and status output: "10.1.0.0/16", "10.1.0.0/16:tcp:80-88". */
const char *eg_prefix_str(const struct eg_prefix *p, char *buf, size_t len);
const char *eg_selector_str(const struct eg_selector *s, char *buf, size_t len);
const char *eg_id_str(const struct eg_id *id, char *buf, size_t len);

/* Parsers shared with the daemon and tests; 0 or -EINVAL. */
int eg_parse_duration(const char *s, uint32_t *secs);
int eg_parse_prefix(const char *s, struct eg_prefix *p);
int eg_parse_selector(const char *s, struct eg_selector *sel);
int eg_parse_id(const char *s, struct eg_id *id);
/* Decodes a PSK: "0x<hex>", "0s<base64>" or the literal text. 0 or -EINVAL. out must hold
 * EG_CFG_PSK_MAX bytes; the caller zeroes it. */
int eg_parse_psk(const char *s, size_t slen, uint8_t *out, size_t *outlen);

#endif /* EG_CONFIG_H */
