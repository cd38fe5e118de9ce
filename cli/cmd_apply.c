/* steer apply POLICY|BUILT and steer detach: a policy onto a network namespace, and off it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime.h"

static const char _options[] = CLI_TARGET_HELP CLI_BUILD_HELP
	"  --werror         treat warnings as errors: nothing is applied\n"
	"  -h, --help       show this help\n"
	"\nPOLICY is a policy's text, or a built policy from 'steer compile -o', which\n"
	"applies as it was built: without clang and without the policy's source.\n";

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS, CLI_BUILD_OPTIONS,
		{ "werror", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("apply");
	struct frontend_opts fo = { .lint = true, .expects = true };
	struct apply_opts ao = { .verbose = cli_verbose };
	_cleanup_built_ struct built_policy b = { 0 };
	struct apply_result res;
	struct cli_opts co;
	int c, r, status = EXIT_OK;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'W':
			fo.werror = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	const char *path = argv[optind];
	if (built_sniff(path)) {
		if (co.build_given) {
			cli_error("'%s' is a built policy: it applies as it was built, without --strategy or --clang", path);
			return EXIT_INVALID;
		}
		if ((r = built_read(path, &b)) < 0)
			return cli_fail(r);
	} else {
		/* The policy is checked in full, expects included, before anything touches the kernel. */
		struct frontend fe;
		status = cli_frontend(&fe, path, &fo);
		if (status == EXIT_OK)
			status = cli_build(&fe, &co.build, &b);
		frontend_free(&fe);
		if (status != EXIT_OK)
			return status;
	}
	if ((r = rt_apply(&co.target, &b, &ao, &res)) < 0)
		return cli_fail(r);
	if (res.unchanged) {
		printf("unchanged %s: already applied as program %u, link %u; nothing done\n", path, res.prog_id,
		       res.link_id);
		return EXIT_OK;
	}
	printf("%s %s: %u rules, strategy %s, program %u, link %u", res.replaced ? "replaced" : "applied", path,
	       b.m.nrules, strategy_name(b.m.strategy), res.prog_id, res.link_id);
	if (res.removed_services)
		printf(", %u removed service%s released", res.removed_services, res.removed_services == 1 ? "" : "s");
	putchar('\n');
	return EXIT_OK;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char options[] = CLI_TARGET_HELP "  -h, --help       show this help\n";
	const struct cli_cmd *self = cli_find("detach");
	struct cli_opts co;
	bool was_applied;
	int c, r;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		if (c == 'h')
			return cli_usage(self, options, true);
		return cli_usage(self, options, false);
	}
	if (cli_operands(self, options, argc, argv, 0) != EXIT_OK)
		return EXIT_INVALID;
	if ((r = rt_detach(&co.target, &was_applied)) < 0)
		return cli_fail(r);
	/* Not an error, so that ExecStop= and scripts can detach unconditionally. */
	printf(was_applied ? "detached: regular socket lookup again\n" : "nothing to detach: no policy is applied\n");
	return EXIT_OK;
}
