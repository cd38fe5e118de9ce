#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_errno_status(int err)
{
	switch (-err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case EILSEQ:
	case EINVAL:
		return EXIT_INVALID;
	default:
		return EXIT_SYSTEM;
	}
}

int cli_frontend(struct frontend *fe, const char *path, const struct frontend_opts *o)
{
	int r = frontend_run(fe, path, o);

	if (r < 0) {
		cli_error("cannot read '%s': %s", path, r == -EILSEQ ? "not a text file" : strerror(-r));
		return cli_errno_status(r);
	}
	diag_print(stderr, &fe->diags, isatty(STDERR_FILENO) && !getenv("NO_COLOR"));
	return diag_failed(&fe->diags) ? EXIT_INVALID : EXIT_OK;
}
