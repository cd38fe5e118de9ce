#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

static const char *const _names[] = { [STRATEGY_AUTO] = "auto", [STRATEGY_TREE] = "tree", [STRATEGY_TABLE] = "table" };

const char *strategy_name(enum strategy s)
{
	return _names[s];
}

int strategy_parse(const char *s, enum strategy *out)
{
	for (size_t i = 0; i < sizeof(_names) / sizeof(_names[0]); i++) {
		if (strcmp(s, _names[i]) == 0) {
			*out = (enum strategy)i;
			return 0;
		}
	}
	return -EINVAL;
}

static enum strategy _choose(const struct ir_policy *p, enum strategy want)
{
	(void)p;
	if (want == STRATEGY_AUTO)
		return STRATEGY_TREE;
	return want;
}

int backend_build(const struct ir_policy *p, enum strategy want, struct backend_program *out)
{
	struct tree t;
	int r;

	memset(out, 0, sizeof(*out));
	out->strategy = _choose(p, want);
	if (out->strategy != STRATEGY_TREE)
		return -EOPNOTSUPP;
	r = tree_build(p, &t);
	if (r == 0)
		r = tree_emit_c(p, &t, out);
	tree_stats(&t, &out->stats);
	tree_free(&t);
	return r;
}

void backend_print_tree(FILE *f, const struct ir_policy *p, enum strategy want)
{
	struct backend_stats st;
	struct tree t;

	if (tree_build(p, &t) < 0)
		return;
	tree_stats(&t, &st);
	fprintf(f, "strategy %s: %u rules, %llu nodes, depth %llu, %llu map entries (%llu bytes)\n",
		strategy_name(_choose(p, want)), p->nrules, (unsigned long long)st.nodes, (unsigned long long)st.depth,
		(unsigned long long)st.map_entries, (unsigned long long)st.map_bytes);
	tree_print(f, p, &t);
	tree_free(&t);
}

int64_t backend_rule_at(const struct backend_program *bp, uint32_t line)
{
	int64_t rule = -1;

	for (size_t i = 0; i < bp->origins.n && bp->origins.v[i].line <= line; i++)
		rule = bp->origins.v[i].rule;
	return rule;
}

void backend_program_free(struct backend_program *bp)
{
	free(bp->c);
	vec_free(&bp->origins);
	memset(bp, 0, sizeof(*bp));
}
