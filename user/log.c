// SPDX-License-Identifier: GPL-2.0-only
/*
 * The logger behind user/log.h: one line per call, formatted once into a stack buffer and written
 * with a single call so that concurrent writers never interleave inside a line. errno is saved on
 * entry and restored on exit, so a log call between a failing syscall and the caller's -errno
 * never changes the error that is returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"

enum {
	LOG_LINE_MAX = 1024, /* longer lines are truncated with "..." */
};

static struct {
	bool to_stderr;
	bool syslog_open;
	int level;
	const char *ident;
} lg = { .to_stderr = true, .level = EG_LOG_INFO, .ident = "espgate" };

void log_init(bool to_stderr, int level, const char *ident)
{
	if (lg.syslog_open) {
		closelog();
		lg.syslog_open = false;
	}
	lg.to_stderr = to_stderr;
	lg.level = level;
	lg.ident = ident ? ident : "espgate";
	if (!to_stderr) {
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		lg.syslog_open = true;
	}
}

void log_setlevel(int level)
{
	lg.level = level;
}

int log_getlevel(void)
{
	return lg.level;
}

bool log_enabled(int level)
{
	return level <= lg.level;
}

static const struct {
	const char *name;
	int level;
} log_names[] = {
	{ "error", EG_LOG_ERR },
	{ "warning", EG_LOG_WARN },
	{ "info", EG_LOG_INFO },
	{ "debug", EG_LOG_DEBUG },
};

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (!strcasecmp(s, log_names[i].name))
			return log_names[i].level;
	return -EINVAL;
}

const char *log_level_name(int level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (log_names[i].level == level)
			return log_names[i].name;
	return "?";
}

void log_vmsg(int level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	int n;

	if (!log_enabled(level))
		goto out;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0) {
		snprintf(line, sizeof(line), "(unformattable log message: %s)", fmt);
		n = (int)strlen(line);
	}
	if ((size_t)n >= sizeof(line)) {
		memcpy(line + sizeof(line) - 4, "...", 4);
		n = sizeof(line) - 1;
	}
	if (errnum) {
		char e[128];

		snprintf(e, sizeof(e), ": %s", strerror(errnum));
		if ((size_t)n + strlen(e) < sizeof(line))
			memcpy(line + n, e, strlen(e) + 1);
	}
	if (lg.to_stderr) {
		const char *tag = level <= EG_LOG_ERR	  ? "error: "
				  : level == EG_LOG_WARN  ? "warning: "
				  : level == EG_LOG_DEBUG ? "debug: "
							  : "";

		fprintf(stderr, "%s: %s%s\n", lg.ident, tag, line);
		fflush(stderr);
	} else {
		syslog(level, "%s", line);
	}
out:
	errno = saved;
}

void log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_WARN, errnum, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_WARN, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_ERR, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(EG_LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;
	int ours;

	/* One level quieter: libbpf's warnings are our info, its info and debug are our debug. */
	ours = level == LIBBPF_WARN ? EG_LOG_INFO : EG_LOG_DEBUG;
	if (!log_enabled(ours))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n') /* libbpf ends its lines with \n, we add our own */
		line[--n] = '\0';
	if (ours == EG_LOG_INFO)
		log_info("libbpf: %s", line);
	else
		log_debug("libbpf: %s", line);
	return 0;
}
