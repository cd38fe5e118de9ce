#include "backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
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

static uint64_t _next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static u128 _next128(uint64_t *state)
{
	u128 hi = _next(state);

	return hi << 64 | _next(state);
}

struct tuple backend_sample_tuple(const struct ir_policy *p, uint64_t *state)
{
	struct tuple t = { .proto = _next(state) & 1 ? PROTO_TCP : PROTO_UDP, .family = (uint8_t)(_next(state) % 5 == 0) };

	t.dst = _next128(state) & fam_max(t.family);
	t.src = _next128(state) & fam_max(t.family);
	t.dport = (uint16_t)(1 + _next(state) % 65535);
	t.sport = (uint16_t)(1024 + _next(state) % 60000);
	if (!p->nrules || _next(state) % 4 == 0)
		return t;
	for (int tries = 0; tries < 64; tries++) {
		const struct ir_rule *r = &p->rules[_next(state) % p->nrules];
		int fam = r->m.dst[FAM_V6].n && (!r->m.dst[FAM_V4].n || _next(state) & 1) ? FAM_V6 : FAM_V4;
		const struct pfx_list *l = &r->m.dst[fam];
		if (!l->n)
			continue;
		const struct prefix *x = &l->v[_next(state) % l->n];
		t.family = (uint8_t)fam;
		t.dst = x->addr | (_next128(state) & (prefix_last(x) - x->addr));
		t.src = _next128(state) & fam_max(fam);
		t.proto = r->m.protos & PROTO_TCP ? PROTO_TCP : PROTO_UDP;
		if (r->m.dport.n) {
			const struct port_range *pr = &r->m.dport.v[_next(state) % r->m.dport.n];
			t.dport = (uint16_t)(pr->lo + _next(state) % ((uint32_t)pr->hi - pr->lo + 1));
		}
		break;
	}
	return t;
}

static int _u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Median and worst of V[0..n), which it sorts. */
static void _median_worst(uint32_t *v, uint32_t n, uint32_t *median, uint32_t *worst)
{
	qsort(v, n, sizeof(*v), _u32_cmp);
	*median = n ? v[n / 2] : 0;
	*worst = n ? v[n - 1] : 0;
}

/* What TPS[0..n) read of table T (NULL: the tree, which reads none). */
static int _touched(const struct table *t, const struct ir_policy *p, const struct tuple *tps, size_t n,
		    struct backend_touch out[FAM__COUNT])
{
	_cleanup_free_ uint32_t *pages = calloc(n ? n : 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *lines = calloc(n ? n : 1, sizeof(uint32_t));

	memset(out, 0, FAM__COUNT * sizeof(*out));
	if (!pages || !lines)
		return -ENOMEM;
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		uint32_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (tps[i].family != fam)
				continue;
			if (t)
				table_touched(t, p, &tps[i], &pages[k], &lines[k]);
			k++;
		}
		out[fam].n = k;
		_median_worst(pages, k, &out[fam].pages_median, &out[fam].pages_worst);
		_median_worst(lines, k, &out[fam].lines_median, &out[fam].lines_worst);
	}
	return 0;
}

int backend_touched(const struct ir_policy *p, enum strategy want, const struct tuple *tps, size_t n,
		    struct backend_touch out[FAM__COUNT])
{
	struct table t;
	int r;

	if (_choose(p, want) != STRATEGY_TABLE)
		return _touched(NULL, p, tps, n, out);
	if ((r = table_build(p, &t)) < 0)
		return r;
	r = _touched(&t, p, tps, n, out);
	table_free(&t);
	return r;
}

/* Contexts the tree statistics sample, as many as the lookup benchmark's cycled run. */
#define BACKEND_TOUCH_SAMPLES 4096

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
		_cleanup_free_ struct tuple *tps = malloc(BACKEND_TOUCH_SAMPLES * sizeof(*tps));
		struct backend_touch touch[FAM__COUNT];
		uint64_t state = 1;
		r = tps ? 0 : -ENOMEM;
		for (size_t i = 0; tps && i < BACKEND_TOUCH_SAMPLES; i++)
			tps[i] = backend_sample_tuple(p, &state);
		if (r == 0)
			r = _touched(&tb, p, tps, BACKEND_TOUCH_SAMPLES, touch);
		table_free(&tb);
		if (r < 0)
			return r;
		for (int fam = 0; fam < FAM__COUNT; fam++)
			if (touch[fam].n)
				fprintf(f,
					"  reads per %s lookup (%u sampled): %u pages median, %u worst; "
					"%u cache lines median, %u worst\n",
					fam == FAM_V4 ? "ip" : "ip6", touch[fam].n, touch[fam].pages_median,
					touch[fam].pages_worst, touch[fam].lines_median, touch[fam].lines_worst);
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
