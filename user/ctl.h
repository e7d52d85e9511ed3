/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control channel between espgatectl and espgated: a root-only UNIX stream socket (mode 0600
 * in a 0700 directory, and the peer's uid checked with SO_PEERCRED). One request per connection:
 * the client writes one line of space-separated words (at most CTL_MAX_ARGS, CTL_MAX_REQ bytes),
 * the server answers with a status line ("OK" or "ERR <code>") followed by the body, and closes.
 * The request comes from a local root user but is parsed as untrusted input all the same.
 */
#ifndef EG_CTL_H
#define EG_CTL_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_DEFAULT_PATH "/run/espgate/espgated.sock"

enum ctl_limits {
	CTL_MAX_REQ = 1024,	  /* bytes in a request line, newline included */
	CTL_MAX_ARGS = 16,	  /* words in a request */
	CTL_MAX_RESP = 64 << 20,  /* bytes a client accepts in one answer */
	CTL_IO_TIMEOUT_MS = 2000, /* per request, both sides */
};

/* Exit codes of espgatectl, and the <code> of an "ERR" answer. Stable: scripts rely on them. */
enum ctl_status {
	CTL_OK = 0,
	CTL_ERR_FAILED = 1,	/* the command ran and failed (e.g. reload with an invalid file) */
	CTL_ERR_USAGE = 2,	/* unknown command or bad arguments */
	CTL_ERR_CONNECT = 3,	/* espgated not running or not reachable */
	CTL_ERR_NOT_FOUND = 4,	/* no such tunnel */
	CTL_ERR_PERMISSION = 5, /* not root */
};

/* A growable output buffer; on allocation failure it keeps what fits and sets oom. */
struct ctl_out {
	char *buf;
	size_t len, cap;
	bool oom;
};

void ctl_out_printf(struct ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_out_append(struct ctl_out *o, const char *s, size_t len);
void ctl_out_free(struct ctl_out *o);

/*
 * A command handler: argv[0] is the command word; json is set when the client asked for JSON
 * (--json anywhere in the request, removed from argv). Writes the body into out and returns an
 * enum ctl_status.
 */
typedef int (*ctl_handler_fn)(void *arg, int argc, char **argv, bool json, struct ctl_out *out);

struct ctl_server {
	int fd;
	char path[108];
};

/* Creates the directory (0700) and the listening socket (0600), replacing a stale socket file
 * but refusing to take over one that a running espgated still answers on (-EADDRINUSE). */
int ctl_server_open(struct ctl_server *s, const char *path);
/* Accepts one connection and serves its one request (bounded by CTL_IO_TIMEOUT_MS). */
int ctl_server_serve_one(struct ctl_server *s, ctl_handler_fn fn, void *arg);
void ctl_server_close(struct ctl_server *s);

/* Splits a request line into words in place; returns the count or -EINVAL (too many words,
 * control characters, no newline-free content). */
int ctl_split(char *line, char **argv, int max);

/*
 * Client: sends argv as one request to path, reads the answer into body. Returns the server's
 * enum ctl_status, or CTL_ERR_CONNECT / CTL_ERR_PERMISSION when it cannot talk to espgated.
 */
int ctl_request(const char *path, int argc, char *const *argv, bool json, struct ctl_out *body);

#endif /* EG_CTL_H */
