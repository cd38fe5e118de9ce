/* steer compile POLICY [-o OUT] [--emit ir]: a stage's output, for review. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"

static const char _options[] = "  -o, --output FILE  write to FILE instead of standard output\n"
			       "  --emit ir          the normalised IR\n"
			       "  -h, --help         show this help\n";

int cmd_compile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "emit", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("compile");
	struct frontend_opts o = { .lint = true, .expects = true };
	const char *out = NULL, *emit = "ir";
	struct frontend fe;
	int c, status;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'e':
			emit = optarg;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (optind != argc - 1)
		return cli_usage(self, _options, false);
	if (strcmp(emit, "ir") != 0) {
		cli_error("unknown --emit '%s': expected ir", emit);
		return EXIT_INVALID;
	}
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK) {
		_cleanup_fclose_ FILE *f = out ? fopen(out, "we") : NULL;
		if (out && !f) {
			cli_error("cannot write '%s': %s", out, strerror(errno));
			status = EXIT_SYSTEM;
		} else {
			ir_print(f ? f : stdout, &fe.ir);
		}
	}
	frontend_free(&fe);
	return status;
}
