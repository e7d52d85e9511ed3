// SPDX-License-Identifier: GPL-2.0-only
/*
 * espgated's entry point: command-line options, logging setup and `--check`, which loads and
 * validates the configuration and its secrets file without touching the system (no BPF, no
 * netlink, no sockets, no DNS) and exits 0 if both are valid, 1 with file:line:col errors if not.
 * The daemon proper (loader, XFRM, IKE sockets, control socket) is not built yet; without --check
 * espgated says so and exits 2.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#ifndef ESPGATE_VERSION
#define ESPGATE_VERSION "0.1.0-dev"
#endif

enum espgated_exit {
	EXIT_OK = 0,
	EXIT_INVALID = 1, /* configuration or secrets invalid */
	EXIT_USAGE = 2,	  /* bad command line, or a mode that is not available */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: espgated [-d] [-c FILE] [-s FILE] [--check]\n"
		"  -c, --config FILE   configuration (default " EG_CONFIG_DEFAULT_PATH ")\n"
		"  -s, --secrets FILE  secrets file (default: global.secrets of the config, else\n"
		"                      " EG_SECRETS_DEFAULT_PATH ")\n"
		"      --check         validate the configuration and secrets, change nothing;\n"
		"                      exit 0 if valid, 1 if not\n"
		"  -d, --debug         stay in the foreground, log at debug level to stderr\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this text\n"
		"The configuration format is described in docs/CONFIG.md.\n");
}

static int check(const char *path, const char *secrets)
{
	struct eg_config_file *cfg = NULL;
	struct eg_config_err err;
	size_t children = 0;
	int ret;

	ret = eg_config_load(path, secrets, &cfg, &err);
	if (ret) {
		eg_config_err_print(&err);
		fprintf(stderr, "%s: configuration is NOT valid (%u error%s)\n", path,
			err.n + err.n_dropped, err.n + err.n_dropped == 1 ? "" : "s");
		return EXIT_INVALID;
	}
	for (size_t i = 0; i < cfg->n_tunnels; i++)
		children += cfg->tunnels[i].n_children;
	printf("%s: OK (%zu tunnel%s, %zu child%s, secrets %s)\n", path, cfg->n_tunnels,
	       cfg->n_tunnels == 1 ? "" : "s", children, children == 1 ? "" : "ren",
	       cfg->global.secrets_path);
	eg_config_free(cfg);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "secrets", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'C' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = EG_CONFIG_DEFAULT_PATH, *secrets = NULL;
	bool do_check = false, debug = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:s:dVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 's':
			secrets = optarg;
			break;
		case 'C':
			do_check = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'V':
			printf("espgated %s\n", ESPGATE_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "espgated: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* --check and -d talk to the terminal; the daemon will log to syslog unless -d */
	log_init(true, debug ? EG_LOG_DEBUG : EG_LOG_INFO, "espgated");
	if (do_check)
		return check(path, secrets);
	log_warnx("the daemon mode is not built yet: only --check is available "
		  "(espgated --check -c %s)",
		  path);
	return EXIT_USAGE;
}
