#include "frontend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cleanup.h"
#include "lint.h"
#include "parse.h"

static void _start(struct frontend *fe, const struct frontend_opts *o)
{
	memset(fe, 0, sizeof(*fe));
	diag_init(&fe->diags);
	fe->diags.werror = o->werror;
	fe->diags.all_warnings = o->all_warnings;
}

static void _stages(struct frontend *fe, const char *path, const struct frontend_opts *o)
{
	/* Statements that parsed are checked even after a syntax error elsewhere, so every mistake is reported. */
	check_policy(&fe->ast, path, &fe->ir, &fe->diags);
	/* The IR holds all later stages need; the sources stay for diagnostics. */
	arena_release(&fe->ast.arena);
	fe->ast.stmts = NULL;
	if (fe->diags.nerrors)
		return;
	if (o->lint)
		lint_policy(&fe->ir, &fe->diags);
	if (o->expects)
		expect_run(&fe->ir, expect_reference, &fe->ir, &fe->diags, NULL, &fe->expects);
}

int frontend_run(struct frontend *fe, const char *path, const struct frontend_opts *o)
{
	int r;

	_start(fe, o);
	if (strcmp(path, "-") == 0) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		if ((r = source_read_stream(STDIN_FILENO, &text, &len)) < 0)
			return r;
		return frontend_run_mem(fe, "<stdin>", text, len, o);
	}
	r = policy_parse_file(&fe->ast, path, &fe->diags);
	if (r < 0)
		return r;
	_stages(fe, path, o);
	return 0;
}

int frontend_run_mem(struct frontend *fe, const char *name, const char *text, size_t len, const struct frontend_opts *o)
{
	_start(fe, o);
	int r = policy_parse_mem(&fe->ast, name, text, len, &fe->diags);
	if (r < 0)
		return r;
	_stages(fe, name, o);
	return 0;
}

void frontend_free(struct frontend *fe)
{
	ir_policy_free(&fe->ir);
	policy_ast_free(&fe->ast);
	diag_free(&fe->diags);
}
