/* Policy tests: each expect's tuple through a verdict source, compared with what it wants. */
#ifndef STEER_EXPECT_H
#define STEER_EXPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "eval.h"
#include "ir.h"

/* Where verdicts come from: the reference evaluator, or the program in the kernel. */
typedef int (*verdict_fn)(void *ctx, const struct ir_expect *x, struct verdict *out);

/* One expect's outcome, for a report that is not text (test --json). */
struct expect_outcome {
	struct verdict want, got;
	bool ok;
};

struct expect_result {
	unsigned passed, failed;
	struct expect_outcome *outcomes; /* NULL, or room for every expect: filled in order */
};

/* The reference evaluator as a verdict_fn; CTX is the policy. */
int expect_reference(void *ctx, const struct ir_expect *x, struct verdict *out);

/*
 * Runs every expect. A failure is queued as an error at the expect; with REPORT,
 * one line per expect is printed there as well. Returns 0 or the verdict
 * source's negative errno.
 */
int expect_run(const struct ir_policy *p, verdict_fn fn, void *ctx, struct diag_list *diags, FILE *report,
	       struct expect_result *res);

#endif
