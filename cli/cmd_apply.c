/* steer apply POLICY [--netns PATH] [--bpffs DIR]: compile, load, attach or swap atomically. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runtime.h"

static const char _options[] =
	"  --netns PATH     the network namespace to steer in (default: this one),\n"
	"                   e.g. /run/netns/NAME or /proc/PID/ns/net\n"
	"  --bpffs DIR      where the state is pinned (default: /sys/fs/bpf)\n"
	"  --strategy S     auto (default), tree or table\n"
	"  --clang PATH     the clang to use (default: $STEER_CLANG, then clang on PATH)\n"
	"  --werror         treat warnings as errors: nothing is applied\n"
	"  -h, --help       show this help\n";

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "strategy", required_argument, NULL, 's' },
		{ "clang", required_argument, NULL, 'c' },
		{ "werror", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("apply");
	struct frontend_opts fo = { .lint = true, .expects = true };
	struct apply_opts ao = { .verbose = cli_verbose };
	struct rt_target t = { 0 };
	struct apply_result res;
	struct frontend fe;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			t.netns = optarg;
			break;
		case 'b':
			t.bpffs = optarg;
			break;
		case 's':
			if (strategy_parse(optarg, &ao.strategy) < 0) {
				cli_error("unknown --strategy '%s': expected auto, tree or table", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'c':
			ao.clang = optarg;
			break;
		case 'W':
			fo.werror = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (optind != argc - 1)
		return cli_usage(self, _options, false);
	/* The policy is checked in full, expects included, before anything touches the kernel. */
	status = cli_frontend(&fe, argv[optind], &fo);
	if (status == EXIT_OK) {
		struct diag_list d;
		char *err = NULL;
		diag_init(&d);
		int r = rt_apply(&t, &fe.ir, &ao, &d, &res, &err);
		diag_print(stderr, &d, isatty(STDERR_FILENO) && !getenv("NO_COLOR"));
		diag_free(&d);
		if (r < 0) {
			if (err)
				cli_error("%s", err);
			status = r == -EINVAL ? EXIT_INVALID : EXIT_SYSTEM;
		} else {
			printf("%s %s: %u rules, strategy %s, program %u, link %u", res.replaced ? "replaced" : "applied",
			       argv[optind], fe.ir.nrules, strategy_name(res.strategy), res.prog_id, res.link_id);
			if (res.removed_services)
				printf(", %u removed service%s released", res.removed_services,
				       res.removed_services == 1 ? "" : "s");
			putchar('\n');
		}
		free(err);
	}
	frontend_free(&fe);
	return status;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char options[] = "  --netns PATH  the network namespace (default: this one)\n"
				      "  --bpffs DIR   where the state is pinned (default: /sys/fs/bpf)\n"
				      "  -h, --help    show this help\n";
	const struct cli_cmd *self = cli_find("detach");
	struct rt_target t = { 0 };
	char *err = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			t.netns = optarg;
			break;
		case 'b':
			t.bpffs = optarg;
			break;
		case 'h':
			return cli_usage(self, options, true);
		default:
			return cli_usage(self, options, false);
		}
	}
	if (optind != argc)
		return cli_usage(self, options, false);
	int r = rt_detach(&t, &err);
	if (r < 0) {
		cli_error("%s", err);
		free(err);
		return r == -ENOENT ? EXIT_INVALID : EXIT_SYSTEM;
	}
	printf("detached: regular socket lookup again\n");
	return EXIT_OK;
}
