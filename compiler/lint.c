#include "lint.h"

#include <stdlib.h>

#include "shadow.h"

#define MAX_NAMED 8

struct lint_ctx {
	const struct ir_policy *p;
	struct diag_list *diags;
};

/* "the rule at f:3" or "the rules at f:3, f:5 and 4 more". */
static void _report_shadowed(void *ctx, const struct ir_rule *r, const uint32_t *by, uint32_t nby)
{
	struct lint_ctx *l = ctx;
	char *names = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&names, &len);

	if (!f)
		abort();
	for (uint32_t i = 0; i < nby && i < MAX_NAMED; i++) {
		char where[512];
		ir_rule_where(&l->p->rules[by[i]], where, sizeof(where));
		fprintf(f, "%s%s", i ? ", " : "", where);
	}
	if (nby > MAX_NAMED)
		fprintf(f, " and %u more", nby - MAX_NAMED);
	fclose(f);
	diag_warning(l->diags, &r->loc, "rule is never reached: shadowed by the %s at %s", nby > 1 ? "rules" : "rule",
		     names);
	free(names);
}

void lint_policy(const struct ir_policy *p, struct diag_list *diags)
{
	struct lint_ctx l = { .p = p, .diags = diags };

	for (uint32_t i = 0; i < p->nservices; i++)
		if (!p->services[i].nrules)
			diag_warning(diags, &p->services[i].loc, "service '%s' is declared but no rule uses it",
				     p->services[i].name);
	shadow_analyze(p, _report_shadowed, &l);
}
