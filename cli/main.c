/* steer: compile socket-lookup policies to BPF and keep them running. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <unistd.h>

#include "cli.h"

bool cli_verbose;

static const struct cli_cmd _cmds[] = {
	{ "check", cmd_check, "POLICY [--werror] [--json]", "validate a policy and run its expects; no kernel needed" },
	{ "compile", cmd_compile, "POLICY [-o OUT] [--emit built|obj|c|tree|ir] [--strategy auto|tree|table]",
	  "build a policy into a file apply takes without clang, or show a stage of it" },
	{ "eval", cmd_eval, "POLICY PROTO SRC:PORT DST:PORT [--iif NAME] [--bpf] [--json]",
	  "the verdict for one connection or datagram" },
	{ "test", cmd_test, "POLICY [--bpf] [--json]", "run the policy's expects and report each" },
	{ "apply", cmd_apply, "POLICY|BUILT [--netns PATH] [--bpffs DIR] [--wait SECONDS]",
	  "compile, load and attach a policy, or replace the applied one atomically" },
	{ "register", cmd_register, "SERVICE [--pid PID --fd FD | --fd FD | --auto] [--netns PATH] [--bpffs DIR] [--wait SECONDS]",
	  "give a service its listening socket" },
	{ "unregister", cmd_unregister, "SERVICE [--proto P --family 4|6] [--netns PATH] [--bpffs DIR] [--wait SECONDS]",
	  "take a service's sockets away" },
	{ "status", cmd_status, "[--json] [--netns PATH] [--bpffs DIR] [--wait SECONDS]",
	  "the applied policy, its hits, and the sockets and processes serving it" },
	{ "monitor", cmd_monitor,
	  "[--rule FILE:LINE] [--service NAME] [--verdict LIST] [--proto P] [--src PREFIX] [--dst PREFIX] [--rate N] [--count N] [--json] | --established",
	  "each decision as it happens, with its rule and the process that got it" },
	{ "metrics", cmd_metrics, "[--listen ADDR:PORT] [--per-rule] [--netns PATH] [--bpffs DIR]",
	  "the counters in Prometheus' text format, once or served over HTTP" },
	{ "proxy", cmd_proxy, "[--relay sockmap|splice|copy] [--threads N] [--grace SECONDS] [--netns PATH] [--bpffs DIR]",
	  "carry the applied policy's forward rules (foreground, until SIGTERM)" },
	{ "detach", cmd_detach, "[--netns PATH] [--bpffs DIR] [--wait SECONDS]", "remove the program and its state" },
};

const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < sizeof(_cmds) / sizeof(_cmds[0]); i++)
		if (strcmp(_cmds[i].name, name) == 0)
			return &_cmds[i];
	return NULL;
}

int cli_usage(const struct cli_cmd *cmd, const char *options, bool help)
{
	FILE *f = help ? stdout : stderr;

	fprintf(f, "usage: steer %s %s\n\n%s.\n", cmd->name, cmd->usage, cmd->summary);
	if (options)
		fprintf(f, "\noptions:\n%s", options);
	return help ? EXIT_OK : EXIT_INVALID;
}

int cli_operands(const struct cli_cmd *cmd, const char *options, int argc, char **argv, int want)
{
	if (argc - optind == want)
		return EXIT_OK;
	if (argc - optind > want)
		cli_error("unexpected argument '%s'", argv[optind + want]);
	else
		cli_error("missing argument: %s", cmd->usage);
	return cli_usage(cmd, options, false);
}

static void _help(FILE *f)
{
	fprintf(f, "usage: steer [--verbose] COMMAND [ARGS]\n       steer --version\n\n"
		   "steer compiles a socket-lookup policy to a BPF sk_lookup program.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(_cmds) / sizeof(_cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", _cmds[i].name, _cmds[i].summary);
	fprintf(f, "\n'steer COMMAND --help' describes one command.\n"
		   "exit status: 0 success, 1 invalid input, 2 the system refused.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			cli_verbose = true;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts("steer " STEER_VERSION);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			_help(stdout);
			return EXIT_OK;
		} else {
			cli_error("unknown option '%s'", argv[i]);
			_help(stderr);
			return EXIT_INVALID;
		}
	}
	if (i == argc) {
		_help(stderr);
		return EXIT_INVALID;
	}
	if (strcmp(argv[i], "version") == 0) {
		puts("steer " STEER_VERSION);
		return EXIT_OK;
	}
	const struct cli_cmd *cmd = cli_find(argv[i]);
	if (!cmd) {
		cli_error("unknown command '%s'", argv[i]);
		_help(stderr);
		return EXIT_INVALID;
	}
	return cmd->run(argc - i, argv + i);
}
