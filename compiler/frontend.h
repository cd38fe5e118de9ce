/* The front end as one call: parse, check and lower, lint, run the expects. */
#ifndef STEER_FRONTEND_H
#define STEER_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>

#include "ast.h"
#include "diag.h"
#include "expect.h"
#include "ir.h"

struct frontend_opts {
	bool werror; /* warnings fail the policy */
	bool all_warnings; /* show every warning, not the first DIAG_MAX_WARNINGS */
	bool lint; /* shadowed rules, unused services */
	bool expects; /* run the expects against the reference evaluator */
};

struct frontend {
	struct policy_ast ast;
	struct ir_policy ir;
	struct diag_list diags;
	struct expect_result expects;
};

/*
 * Runs the front end on PATH ("-" reads standard input). Returns 0 when the
 * stages ran (look at diag_failed(&fe->diags) for the verdict), or -errno when
 * the policy file could not be read.
 */
int frontend_run(struct frontend *fe, const char *path, const struct frontend_opts *o);
/* The same on a policy in memory, named NAME in diagnostics. */
int frontend_run_mem(struct frontend *fe, const char *name, const char *text, size_t len, const struct frontend_opts *o);
void frontend_free(struct frontend *fe);

#endif
