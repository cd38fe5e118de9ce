/* steer eval POLICY PROTO SRC:PORT DST:PORT: the verdict for one tuple. */
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "eval.h"
#include "testrun.h"

static const char _options[] =
	"  --iif NAME     the interface the packet arrived on\n"
	"  --bpf          run the compiled program in the kernel (BPF_PROG_TEST_RUN, needs root)\n"
	CLI_BUILD_HELP
	"  --json         print one JSON document\n"
	"  -h, --help     show this help\n";

/* Fills T from the command line words; reports and returns false on a bad one. */
static bool _tuple(const struct ir_policy *p, char **w, const char *iif, struct tuple *t)
{
	int sfam, dfam;

	if (strcmp(w[0], "tcp") == 0) {
		t->proto = PROTO_TCP;
	} else if (strcmp(w[0], "udp") == 0) {
		t->proto = PROTO_UDP;
	} else {
		cli_error("invalid protocol '%s': expected tcp or udp", w[0]);
		return false;
	}
	if ((sfam = endpoint_parse(w[1], &t->src, &t->sport)) < 0) {
		cli_error("invalid source '%s': expected ADDR:PORT or [ADDR6]:PORT", w[1]);
		return false;
	}
	if ((dfam = endpoint_parse(w[2], &t->dst, &t->dport)) < 0) {
		cli_error("invalid destination '%s': expected ADDR:PORT or [ADDR6]:PORT", w[2]);
		return false;
	}
	if (sfam != dfam) {
		cli_error("source and destination are of different families");
		return false;
	}
	t->family = (uint8_t)sfam;
	t->iif = iif ? ir_iface_lookup(p, iif) : IIF_NONE;
	return true;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iif", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "bpf", no_argument, NULL, 'b' },
		CLI_BUILD_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("eval");
	struct frontend_opts o = { 0 };
	const char *iif = NULL;
	bool json = false, bpf = false;
	struct testrun_opts to = { .verbose = cli_verbose };
	struct cli_opts co;
	struct frontend fe;
	struct tuple t = { 0 };
	int c, r, status;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'i':
			iif = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			bpf = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 4) != EXIT_OK)
		return EXIT_INVALID;
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK && !_tuple(&fe.ir, argv + optind + 1, iif, &t))
		status = EXIT_INVALID;
	struct verdict v = { 0 };
	if (status == EXIT_OK) {
		v = eval_tuple(&fe.ir, &t, NULL);
		if (bpf) {
			_cleanup_built_ struct built_policy b = { 0 };
			struct testrun tr;
			to.iif = iif;
			status = cli_testrun_open(&fe, &co.build, &to, &b, &tr);
			if (status == EXIT_OK) {
				if ((r = testrun_verdict(&tr, &t, true, &v)) < 0)
					status = cli_fail(error_set(r, "BPF_PROG_TEST_RUN failed: %s", strerror(-r)));
				testrun_close(&tr);
			}
		}
	}
	if (status == EXIT_OK) {
		if (json) {
			_cleanup_json_ json_object *doc = cli_json_verdict(cli_json_doc(), &fe.ir, &v);
			cli_json_print(doc, false);
		} else {
			verdict_print(stdout, &fe.ir, &v);
			putchar('\t');
			verdict_print_rule(stdout, &fe.ir, &v);
			putchar('\n');
		}
	}
	frontend_free(&fe);
	return status;
}
