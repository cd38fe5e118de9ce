/* steer test POLICY: run the expects, one line each, and a count. */
#include <getopt.h>
#include <unistd.h>

#include "cli.h"

static const char _options[] = "  -h, --help  show this help\n";

int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("test");
	struct frontend_opts o = { 0 };
	struct expect_result res;
	struct frontend fe;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(self, _options, true);
		return cli_usage(self, _options, false);
	}
	if (optind != argc - 1)
		return cli_usage(self, _options, false);
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK) {
		struct diag_list failures;
		diag_init(&failures);
		expect_run(&fe.ir, expect_reference, &fe.ir, &failures, stdout, &res);
		printf("%u passed, %u failed\n", res.passed, res.failed);
		if (res.failed) {
			fflush(stdout);
			diag_print(stderr, &failures, isatty(STDERR_FILENO));
			status = EXIT_INVALID;
		}
		diag_free(&failures);
	}
	frontend_free(&fe);
	return status;
}
