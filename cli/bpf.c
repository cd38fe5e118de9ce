/* What --bpf shares across commands: the program in the kernel as a verdict source. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "testrun.h"

int cli_testrun_open(struct frontend *fe, const struct testrun_opts *o, struct testrun *tr)
{
	struct diag_list d;
	char *err = NULL;
	int r;

	diag_init(&d);
	r = testrun_open(&fe->ir, o, &d, tr, &err);
	diag_print(stderr, &d, isatty(STDERR_FILENO) && !getenv("NO_COLOR"));
	diag_free(&d);
	if (r == 0)
		return EXIT_OK;
	if (r == -ENOENT && !err)
		cli_error("clang not found: install clang, or name it with --clang or STEER_CLANG");
	else if (err)
		cli_error("%s", err);
	free(err);
	testrun_close(tr);
	return EXIT_SYSTEM;
}
