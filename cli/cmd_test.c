/* steer test POLICY: run the expects, one line each, and a count. */
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "testrun.h"

static const char _options[] =
	"  --json         print every expect's outcome as one JSON document\n"
	"  --bpf          run the expects through the compiled program in the kernel\n"
	"                 (BPF_PROG_TEST_RUN in a private namespace, needs root)\n"
	CLI_BUILD_HELP
	"  -h, --help     show this help\n";

/* Every expect with what it wanted and what it got, and the failures as diagnostics. */
static json_object *_results(const struct ir_policy *p, const char *path, const struct expect_result *res,
			     const struct diag_list *failures)
{
	json_object *doc = cli_json_doc(), *all = json_object_new_array();

	json_object_object_add(doc, "policy", json_object_new_string(path));
	json_object_object_add(doc, "passed", json_object_new_int64(res->passed));
	json_object_object_add(doc, "failed", json_object_new_int64(res->failed));
	for (uint32_t i = 0; i < p->nexpects; i++) {
		const struct ir_expect *x = &p->expects[i];
		const struct expect_outcome *oc = &res->outcomes[i];
		_cleanup_free_ char *tuple = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&tuple, &len);
		tuple_print(f, p, &x->t);
		fclose(f);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "file", json_object_new_string(x->loc.src->path));
		json_object_object_add(o, "line", json_object_new_int64(x->loc.line));
		json_object_object_add(o, "tuple", json_object_new_string(tuple));
		json_object_object_add(o, "iif", x->iif_name ? json_object_new_string(x->iif_name) : NULL);
		json_object_object_add(o, "ok", json_object_new_boolean(oc->ok));
		json_object_object_add(o, "want", cli_json_verdict(json_object_new_object(), p, &oc->want));
		json_object_object_add(o, "got", cli_json_verdict(json_object_new_object(), p, &oc->got));
		json_object_array_add(all, o);
	}
	json_object_object_add(doc, "results", all);
	json_object_object_add(doc, "diagnostics", cli_json_diags(failures));
	return doc;
}

int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpf", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		CLI_BUILD_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("test");
	struct frontend_opts o = { 0 };
	struct testrun_opts to = { .verbose = cli_verbose };
	_cleanup_built_ struct built_policy b = { 0 };
	struct cli_opts co;
	struct expect_result res = { 0 };
	struct testrun tr;
	struct frontend fe;
	bool bpf = false, json = false;
	int c, r, status;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'b':
			bpf = true;
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
	status = json ? cli_frontend_quiet(&fe, argv[optind], &o, true) : cli_frontend(&fe, argv[optind], &o);
	if (json && status != EXIT_OK && fe.diags.head) {
		_cleanup_json_ json_object *doc = cli_json_doc();
		json_object_object_add(doc, "policy", json_object_new_string(argv[optind]));
		json_object_object_add(doc, "diagnostics", cli_json_diags(&fe.diags));
		cli_json_print(doc, false);
	}
	if (status == EXIT_OK && bpf)
		status = cli_testrun_open(&fe, &co.build, &to, &b, &tr);
	if (status == EXIT_OK) {
		struct diag_list failures;
		diag_init(&failures);
		_cleanup_free_ struct expect_outcome *outcomes = calloc(fe.ir.nexpects + 1, sizeof(*outcomes));
		FILE *report = json ? NULL : stdout;
		res.outcomes = outcomes;
		r = bpf ? expect_run(&fe.ir, cli_testrun_expect, &tr, &failures, report, &res)
			: expect_run(&fe.ir, expect_reference, &fe.ir, &failures, report, &res);
		if (r < 0) {
			status = cli_fail(error_set(r, "BPF_PROG_TEST_RUN failed: %s", strerror(-r)));
		} else if (json) {
			_cleanup_json_ json_object *doc = _results(&fe.ir, argv[optind], &res, &failures);
			cli_json_print(doc, false);
			status = res.failed ? EXIT_INVALID : EXIT_OK;
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
