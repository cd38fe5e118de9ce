/* steer test POLICY: run the expects, one line each, and a count. */
#include <getopt.h>
#include <unistd.h>

#include <string.h>

#include "cli.h"
#include "testrun.h"

static const char _options[] =
	"  --bpf          run the expects through the compiled program in the kernel\n"
	"                 (BPF_PROG_TEST_RUN in a private namespace, needs root)\n"
	"  --strategy S   with --bpf: auto (default), tree or table\n"
	"  --clang PATH   with --bpf: the clang to use\n"
	"  -h, --help     show this help\n";

int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpf", no_argument, NULL, 'b' },
		{ "strategy", required_argument, NULL, 's' },
		{ "clang", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("test");
	struct frontend_opts o = { 0 };
	struct testrun_opts to = { .verbose = cli_verbose };
	struct expect_result res;
	struct testrun tr;
	struct frontend fe;
	bool bpf = false;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bpf = true;
			break;
		case 's':
			if (strategy_parse(optarg, &to.strategy) < 0) {
				cli_error("unknown --strategy '%s': expected auto, tree or table", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'c':
			to.clang = optarg;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (optind != argc - 1)
		return cli_usage(self, _options, false);
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK && bpf)
		status = cli_testrun_open(&fe, &to, &tr);
	if (status == EXIT_OK) {
		struct diag_list failures;
		diag_init(&failures);
		int r = bpf ? expect_run(&fe.ir, testrun_expect, &tr, &failures, stdout, &res)
			    : expect_run(&fe.ir, expect_reference, &fe.ir, &failures, stdout, &res);
		if (r < 0) {
			cli_error("BPF_PROG_TEST_RUN failed: %s", strerror(-r));
			status = EXIT_SYSTEM;
		} else {
			printf("%u passed, %u failed\n", res.passed, res.failed);
			if (res.failed) {
				fflush(stdout);
				diag_print(stderr, &failures, isatty(STDERR_FILENO));
				status = EXIT_INVALID;
			}
		}
		diag_free(&failures);
		if (bpf)
			testrun_close(&tr);
	}
	frontend_free(&fe);
	return status;
}
