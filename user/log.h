/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Logging for espgated and espgatectl (STYLE.md §6): log_warn() appends strerror(errno),
 * log_warnx() does not, log_info() and log_debug() (debug lines start with __func__ by
 * convention), fatal()/fatalx() log and exit(1) and are for startup and broken internal invariants
 * only, never for library code. Output goes to stderr until log_init() picks syslog; -d keeps it
 * on stderr at debug level. All functions are printf-checked and preserve errno. Never pass key
 * material to any of them; packets only at debug level.
 */
#ifndef EG_LOG_H
#define EG_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include <bpf/libbpf.h>

/* Levels are syslog priorities, so they can be handed to syslog() unchanged. */
enum eg_log_level {
	EG_LOG_ERR = 3,
	EG_LOG_WARN = 4,
	EG_LOG_INFO = 6,
	EG_LOG_DEBUG = 7,
};

/*
 * Chooses the sink and level. to_stderr: lines go to stderr (prefixed with ident and the level),
 * otherwise to syslog(LOG_DAEMON) under ident. Before the first call, logging goes to stderr at
 * EG_LOG_INFO with ident "espgate". ident must outlive the logger (a string literal).
 */
void log_init(bool to_stderr, int level, const char *ident);
void log_setlevel(int level);
int log_getlevel(void);
/* True if a line at this level would be emitted (to skip expensive formatting). */
bool log_enabled(int level);

/* "error" / "warning" / "info" / "debug" -> level; -EINVAL for anything else. */
int log_level_parse(const char *s);
const char *log_level_name(int level);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The va_list form behind all of the above: level, optional errno text (errnum 0: none). */
void log_vmsg(int level, int errnum, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * A libbpf_print_fn_t: feeds libbpf's output in one level quieter (libbpf warnings become info,
 * info becomes debug, debug is dropped unless the logger is at debug). Install with
 * libbpf_set_print(log_libbpf).
 */
int log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif /* EG_LOG_H */
