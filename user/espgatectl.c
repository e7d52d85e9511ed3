// SPDX-License-Identifier: GPL-2.0-only
/*
 * espgatectl: the operator's view of a running espgated, over its root-only control socket.
 * Each command is one request; the answer is printed as is (tables, or JSON with --json) and the
 * exit status is the daemon's enum ctl_status, so scripts can rely on it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const struct {
	const char *name;
	int nargs; /* words after the command */
	const char *help;
} commands[] = {
	{ "status", -1, "status [TUNNEL]   tunnels, peers, SAs, selectors, traffic, last error" },
	{ "sas", -1, "sas [TUNNEL]      IKE and CHILD SAs with SPIs and algorithms" },
	{ "nat", 0, "nat               live NAT flows: original and translated tuples" },
	{ "counters", 0, "counters          drops by reason (datapath and kernel XFRM)" },
	{ "up", 1, "up TUNNEL         initiate the tunnel now" },
	{ "down", 1, "down TUNNEL       delete its SAs (they come back per start action)" },
	{ "reload", 0, "reload            re-read the config; an invalid file changes nothing" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: espgatectl [-s SOCKET] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].help);
	fprintf(f, "\nexit status: 0 ok, 1 failed, 2 usage, 3 espgated not reachable, "
		   "4 no such tunnel, 5 permission denied\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = CTL_DEFAULT_PATH;
	struct ctl_out body = { 0 };
	bool json = false;
	int c, status, nwords;
	size_t i;

	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_ERR_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_ERR_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			break;
	nwords = argc - optind - 1;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "espgatectl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return CTL_ERR_USAGE;
	}
	if ((commands[i].nargs >= 0 && nwords != commands[i].nargs) ||
	    (commands[i].nargs < 0 && nwords > 1)) {
		fprintf(stderr, "espgatectl: usage: %s\n", commands[i].help);
		return CTL_ERR_USAGE;
	}
	status = ctl_request(path, argc - optind, argv + optind, json, &body);
	if (body.len)
		fputs(body.buf, status == CTL_OK ? stdout : stderr);
	ctl_out_free(&body);
	return status;
}
