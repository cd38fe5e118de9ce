/* steer check POLICY [--werror]: validate, lint and run the expects. */
#include <getopt.h>

#include "cli.h"

static const char _options[] = "  --werror    treat warnings as errors\n"
			       "  --json      print the diagnostics and the expects' count as one JSON document\n"
			       "  -h, --help  show this help\n";

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "werror", no_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("check");
	struct frontend_opts o = { .lint = true, .expects = true };
	struct frontend fe;
	bool json = false;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'W':
			o.werror = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	if (!json) {
		status = cli_frontend(&fe, argv[optind], &o);
		frontend_free(&fe);
		return status;
	}
	status = cli_frontend_quiet(&fe, argv[optind], &o, true);
	if (status == EXIT_OK || fe.diags.head) {
		_cleanup_json_ json_object *doc = cli_json_doc();
		json_object *x = json_object_new_object(); /* doc takes it */
		json_object_object_add(doc, "policy", json_object_new_string(argv[optind]));
		json_object_object_add(doc, "ok", json_object_new_boolean(status == EXIT_OK));
		json_object_object_add(doc, "errors", json_object_new_int64(fe.diags.nerrors));
		json_object_object_add(doc, "warnings", json_object_new_int64(fe.diags.nwarnings));
		json_object_object_add(doc, "diagnostics", cli_json_diags(&fe.diags));
		json_object_object_add(x, "passed", json_object_new_int64(fe.expects.passed));
		json_object_object_add(x, "failed", json_object_new_int64(fe.expects.failed));
		json_object_object_add(doc, "expects", x);
		cli_json_print(doc, false);
	}
	frontend_free(&fe);
	return status;
}
