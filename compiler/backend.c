#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "tree.h"

/*
 * Small policies are fastest as branches: no map lookup but the socket's.
 * Above a few rules a lookup costs more in branches than in the table's
 * fixed handful of array reads; a policy whose rules mostly need branches
 * anyway (part X of the table) stays a tree.
 */
static enum strategy _choose(const struct ir_policy *p, enum strategy want)
{
	if (want != STRATEGY_AUTO)
		return want;
	return p->nrules <= BACKEND_TREE_MAX_RULES ? STRATEGY_TREE : STRATEGY_TABLE;
}

static int _build_tree(const struct ir_policy *p, struct backend_program *out)
{
	struct tree t;
	int r = tree_build(p, &t);

	if (r == 0)
		r = tree_emit_c(p, &t, out);
	tree_stats(&t, &out->stats);
	tree_free(&t);
	return r;
}

static int _build_table(const struct ir_policy *p, struct backend_program *out)
{
	struct table t;
	int r = table_build(p, &t);

	if (r == 0) {
		table_stats(p, &t, &out->stats);
		r = table_emit_c(p, &t, out);
	}
	table_free(&t);
	return r;
}

int backend_build(const struct ir_policy *p, enum strategy want, struct backend_program *out)
{
	memset(out, 0, sizeof(*out));
	out->strategy = _choose(p, want);
	if (out->strategy == STRATEGY_TABLE)
		return _build_table(p, out);
	return _build_tree(p, out);
}

int backend_print_tree(FILE *f, const struct ir_policy *p, enum strategy want)
{
	enum strategy s = _choose(p, want);
	struct backend_stats st;
	struct tree tr;
	struct table tb;
	int r;

	if (s == STRATEGY_TABLE) {
		if ((r = table_build(p, &tb)) < 0)
			return r;
		table_stats(p, &tb, &st);
	} else {
		if ((r = tree_build(p, &tr)) < 0)
			return r;
		tree_stats(&tr, &st);
	}
	fprintf(f, "strategy %s: %u rules, %llu nodes, depth %llu, %llu map entries (%llu bytes)\n", strategy_name(s),
		p->nrules, (unsigned long long)st.nodes, (unsigned long long)st.depth,
		(unsigned long long)st.map_entries, (unsigned long long)st.map_bytes);
	if (s == STRATEGY_TABLE) {
		table_print(f, p, &tb);
		table_free(&tb);
	} else {
		tree_print(f, p, &tr);
		tree_free(&tr);
	}
	return 0;
}

uint32_t backend_action_word(const struct ir_policy *p, const struct ir_rule *r)
{
	switch (r->act.kind) {
	case ACT_DROP:
		return STEER_ACT_DROP << STEER_ACT_KIND_SHIFT;
	case ACT_PASS:
		return STEER_ACT_PASS << STEER_ACT_KIND_SHIFT;
	case ACT_FORWARD:
		return STEER_ACT_FORWARD << STEER_ACT_KIND_SHIFT | backend_forward_service(p, r->act.forward);
	default:
		return (r->act.fallback == ACT_PASS ? STEER_ACT_OR_PASS : 0) | r->act.service;
	}
}

uint32_t backend_forward_service(const struct ir_policy *p, uint32_t forward)
{
	return p->nservices + forward;
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
	free(bp->data);
	vec_free(&bp->origins);
	memset(bp, 0, sizeof(*bp));
}
