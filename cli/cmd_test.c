/* steer test POLICY: run the expects, one line each, and a count. */
#include <getopt.h>
#include <unistd.h>

#include <string.h>

#include "cli.h"
#include "error.h"
#include "testrun.h"

static const char _options[] =
	"  --bpf          run the expects through the compiled program in the kernel\n"
	"                 (BPF_PROG_TEST_RUN in a private namespace, needs root)\n"
	CLI_BUILD_HELP
	"  -h, --help     show this help\n";

int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpf", no_argument, NULL, 'b' },
		CLI_BUILD_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("test");
	struct frontend_opts o = { 0 };
	struct testrun_opts to = { .verbose = cli_verbose };
	_cleanup_built_ struct built_policy b = { 0 };
	struct cli_opts co;
	struct expect_result res;
	struct testrun tr;
	struct frontend fe;
	bool bpf = false;
	int c, r, status;

	cli_opts_init(&co);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if ((r = cli_shared_option(c, optarg, &co)) != 0) {
			if (r < 0)
				return EXIT_INVALID;
			continue;
		}
		switch (c) {
		case 'b':
			bpf = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK && bpf)
		status = cli_testrun_open(&fe, &co.build, &to, &b, &tr);
	if (status == EXIT_OK) {
		struct diag_list failures;
		diag_init(&failures);
		r = bpf ? expect_run(&fe.ir, cli_testrun_expect, &tr, &failures, stdout, &res)
			: expect_run(&fe.ir, expect_reference, &fe.ir, &failures, stdout, &res);
		if (r < 0) {
			status = cli_fail(error_set(r, "BPF_PROG_TEST_RUN failed: %s", strerror(-r)));
		} else {
			printf("%u passed, %u failed\n", res.passed, res.failed);
			if (res.failed) {
				fflush(stdout);
				diag_print(stderr, &failures, cli_color());
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
