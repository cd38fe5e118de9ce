/* The policy's way through the command line: the front end, the build, the program in the kernel for --bpf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "testrun.h"

int cli_frontend(struct frontend *fe, const char *path, const struct frontend_opts *o)
{
	int status = cli_frontend_quiet(fe, path, o, cli_verbose);

	if (status == EXIT_OK || fe->diags.head)
		diag_print(stderr, &fe->diags, cli_color());
	return status;
}

int cli_frontend_quiet(struct frontend *fe, const char *path, const struct frontend_opts *o, bool all_warnings)
{
	struct frontend_opts all = *o;

	all.all_warnings = all_warnings;
	int r = frontend_run(fe, path, &all);

	if (r < 0) {
		error_set(r, "cannot read '%s': %s", path, source_strerror(r));
		/* A policy that is missing, not a file or too large is wrong input, not a refusal of the system. */
		return cli_fail(r == -ENOENT || r == -ENOTDIR || r == -EISDIR || r == -EFBIG || r == -ELOOP ? -EINVAL : r);
	}
	return diag_failed(&fe->diags) ? EXIT_INVALID : EXIT_OK;
}

int cli_build(struct frontend *fe, const struct build_opts *o, struct built_policy *out)
{
	struct diag_list d;
	int r;

	diag_init(&d);
	r = build_policy(&fe->ir, o, &d, out);
	diag_print(stderr, &d, cli_color());
	diag_free(&d);
	return r < 0 ? cli_fail(r) : EXIT_OK;
}

int cli_testrun_open(struct frontend *fe, const struct build_opts *bo, const struct testrun_opts *o,
		     struct built_policy *b, struct testrun *tr)
{
	int status = cli_build(fe, bo, b);
	int r;

	if (status != EXIT_OK)
		return status;
	if ((r = testrun_open(b, o, tr)) < 0) {
		testrun_close(tr);
		/* Refused by the kernel or not root: the system's answer, whatever the errno. */
		return cli_fail(r == -EINVAL ? -EIO : r);
	}
	return EXIT_OK;
}

int cli_testrun_expect(void *ctx, const struct ir_expect *x, struct verdict *out)
{
	struct testrun *tr = ctx;
	int r = testrun_bind_iif(tr, x->iif_name);

	if (r < 0) {
		cli_error("%s", error_message());
		return r;
	}
	return testrun_verdict(tr, &x->t, true, out);
}
