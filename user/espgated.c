// SPDX-License-Identifier: GPL-2.0-only
/*
 * espgated's entry point: command-line options, logging setup and `--check`, which loads and
 * validates the configuration and its secrets file without touching the system (no BPF, no
 * netlink, no sockets, no DNS) and exits 0 if both are valid, 1 with file:line:col errors if not.
 * Without --check it runs the daemon (daemon.c) in the foreground: a service manager supervises it.
 * The test-only options (--record-sas, --export-keys, --record-dump) exist for the namespace tier
 * on kernels without ESP; --export-keys is refused without --record-sas, so a production gateway
 * can never be made to write its keys anywhere.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
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
		"      --detach        remove everything espgated installed (XFRM SAs and policies\n"
		"                      in its reqid/mark ranges, BPF programs and pins), nothing else\n"
		"  -d, --debug         log at debug level to stderr (default: info to syslog)\n"
		"      --ctl PATH      control socket (default " CTL_DEFAULT_PATH ")\n"
		"      --no-datapath   do not load or touch the BPF datapath\n"
		"test only (kernels without ESP; never on a gateway):\n"
		"      --record-sas    record SAs and policies instead of installing them\n"
		"      --record-dump F write the recorded XFRM state to F as JSON on every change\n"
		"      --export-keys F append negotiated ESP keys to F (needs --record-sas)\n"
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
		{ "ctl", required_argument, NULL, 'S' },
		{ "no-datapath", no_argument, NULL, 'N' },
		{ "record-sas", no_argument, NULL, 'R' },
		{ "record-dump", required_argument, NULL, 'D' },
		{ "export-keys", required_argument, NULL, 'K' },
		{ "detach", no_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = EG_CONFIG_DEFAULT_PATH, *secrets = NULL;
	struct egd_opts dopts = { 0 };
	bool do_check = false, debug = false, do_detach = false;
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
		case 'S':
			dopts.ctl_path = optarg;
			break;
		case 'N':
			dopts.no_datapath = true;
			break;
		case 'R':
			dopts.record_sas = true;
			break;
		case 'D':
			dopts.record_dump = optarg;
			break;
		case 'K':
			dopts.export_keys = optarg;
			break;
		case 'X':
			do_detach = true;
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
	if (dopts.export_keys && !dopts.record_sas) {
		fprintf(stderr,
			"espgated: --export-keys is a test option and needs --record-sas\n");
		return EXIT_USAGE;
	}
	/* --check talks to the terminal; the daemon logs to syslog unless -d */
	log_init(do_check || debug, debug ? EG_LOG_DEBUG : EG_LOG_INFO, "espgated");
	if (do_check)
		return check(path, secrets);
	dopts.config_path = path; /* --detach reads it too (the interfaces to detach from) */
	dopts.secrets_path = secrets;
	if (do_detach)
		return egd_detach(&dopts) ? EXIT_INVALID : EXIT_OK;
	return egd_run(&dopts);
}
