/* steer check POLICY [--werror]: validate, lint and run the expects. */
#include <getopt.h>

#include "cli.h"

static const char _options[] = "  --werror    treat warnings as errors\n"
			       "  -h, --help  show this help\n";

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "werror", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("check");
	struct frontend_opts o = { .lint = true, .expects = true };
	struct frontend fe;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'W':
			o.werror = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	int status = cli_frontend(&fe, argv[optind], &o);
	frontend_free(&fe);
	return status;
}
