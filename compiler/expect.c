#include "expect.h"

#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

int expect_reference(void *ctx, const struct ir_expect *x, struct verdict *out)
{
	*out = eval_tuple(ctx, &x->t, NULL);
	return 0;
}

/* A verdict as text, for messages; an expect's forward (WANT_FWD) as it wants it. */
static char *_verdict_str(const struct ir_policy *p, const struct verdict *v, const struct ir_forward *want_fwd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	if (want_fwd)
		ir_forward_print(f, want_fwd);
	else
		verdict_print(f, p, v);
	fclose(f);
	return buf;
}

int expect_run(const struct ir_policy *p, verdict_fn fn, void *ctx, struct diag_list *diags, FILE *report,
	       struct expect_result *res)
{
	res->passed = res->failed = 0;
	for (uint32_t i = 0; i < p->nexpects; i++) {
		const struct ir_expect *x = &p->expects[i];
		struct verdict want = { .kind = x->want.kind, .service = x->want.service, .rule = RULE_NONE };
		struct verdict got;
		int r = fn(ctx, x, &got);

		if (r < 0)
			return r;
		bool fwd = want.kind == ACT_FORWARD;
		bool ok = fwd ? got.kind == ACT_FORWARD && ir_forward_matches(&p->forwards[got.forward], &x->want_forward)
			      : verdict_equal(&got, &want);
		if (res->outcomes)
			res->outcomes[i] = (struct expect_outcome){ want, got, ok };
		_cleanup_free_ char *g = _verdict_str(p, &got, NULL);
		_cleanup_free_ char *w = _verdict_str(p, &want, fwd ? &x->want_forward : NULL);
		if (ok) {
			res->passed++;
		} else {
			res->failed++;
			char where[512] = "no rule matched";
			if (got.rule != RULE_NONE) {
				ir_rule_where(&p->rules[got.rule], where + 8, sizeof(where) - 8);
				memcpy(where, "rule at ", 8);
			}
			diag_error(diags, &x->loc, "expect failed: got %s (%s), expected %s", g, where, w);
		}
		if (report) {
			fprintf(report, "%s %s:%u: ", ok ? "ok  " : "FAIL", x->loc.src->path, x->loc.line);
			tuple_print(report, p, &x->t);
			fprintf(report, " : %s", w);
			if (!ok)
				fprintf(report, " (got %s)", g);
			fputc('\n', report);
		}
	}
	return 0;
}
