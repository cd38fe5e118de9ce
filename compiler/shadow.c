/*
 * How it stays fast on a million rules. For each rule and each (protocol,
 * family) it matches, the earlier rules that could cover it are found through
 * per-(protocol, family) prefix tries: rules with a dst are filed by dst prefix,
 * rules without dst but with a src by src prefix, the rest on a short list.
 *
 * 1. The rules spanning the rule's whole dst prefix are those on the trie path
 *    down to it, plus those without a dst. They are collected first.
 * 2. Rules filed strictly inside the prefix can add at most the fraction of it
 *    their prefixes cover, which each trie node keeps. If even counting them
 *    fully the volumes cannot add up, the rule is not shadowed: the usual
 *    answer for a fresh /24, found without touching a single other rule.
 * 3. Otherwise an exact test: if the spanning rules cover the other dimensions
 *    (split into elementary intervals, recursing on the rules that span each),
 *    it is covered; if not, both halves of the prefix must be covered by rules
 *    filed deeper, walking down the trie only as far as the proof needs and
 *    stopping at the first half that has no node: a hole.
 */
#include "shadow.h"

#include <stdlib.h>
#include <string.h>

#include "ptrie.h"
#include "vec.h"

/* Dimensions of the match space in the order the cover test splits them. */
enum dim { D_DST, D_DPORT, D_SRC, D_SPORT, D_IIF, D__COUNT };

struct ivl {
	u128 lo, hi;
};

/* Where an interval of the rule (who < 0) or of candidate WHO starts or ends. */
struct event {
	u128 pos;
	int32_t who;
	int32_t delta;
};

/* The index of earlier rules for one protocol and family. */
struct slice_index {
	struct ptrie dst, src;
	VEC(uint32_t) wild; /* rules with neither dst nor src */
};

struct shadow {
	const struct ir_policy *p;
	int proto, fam; /* the slice being examined */
	u128 max[D__COUNT];
	struct slice_index idx[2][FAM__COUNT]; /* [tcp, udp][family] */

	const struct ir_rule *b; /* the rule being examined */
	uint32_t *seen; /* per rule id: stamp of the last query that collected it */
	uint32_t stamp;
	VEC(uint32_t) cand;

	/* The cover test's scratch, one per recursion level. */
	struct level {
		VEC(struct event) ev;
		VEC(uint32_t) active, child;
		VEC(int32_t) where; /* position in active, by candidate index */
	} lvl[D__COUNT];

	uint32_t *used_seen;
	uint32_t used_stamp;
	VEC(uint32_t) used; /* rules the cover proof relied on */
};

static uint32_t _dim_count(const struct shadow *s, const struct ir_rule *r, int d)
{
	uint32_t n = 0;

	switch (d) {
	case D_DST:
		n = r->m.dst[s->fam].n;
		break;
	case D_SRC:
		n = r->m.src[s->fam].n;
		break;
	case D_DPORT:
		n = r->m.dport.n;
		break;
	case D_SPORT:
		n = r->m.sport.n;
		break;
	case D_IIF:
		n = r->m.iif.n;
		break;
	}
	return n ? n : 1;
}

/* Interval I of rule R in dimension D; "any" is the whole domain. Interfaces are 1..n, 0 is any other. */
static struct ivl _dim_get(const struct shadow *s, const struct ir_rule *r, int d, uint32_t i)
{
	const struct pfx_list *pl = NULL;
	const struct port_list *ports = NULL;

	switch (d) {
	case D_DST:
		pl = &r->m.dst[s->fam];
		break;
	case D_SRC:
		pl = &r->m.src[s->fam];
		break;
	case D_DPORT:
		ports = &r->m.dport;
		break;
	case D_SPORT:
		ports = &r->m.sport;
		break;
	case D_IIF:
		if (!r->m.iif.n)
			return (struct ivl){ 0, s->max[d] };
		return (struct ivl){ (u128)r->m.iif.v[i] + 1, (u128)r->m.iif.v[i] + 1 };
	}
	if (pl) {
		if (!pl->n)
			return (struct ivl){ 0, s->max[d] };
		return (struct ivl){ pl->v[i].addr, prefix_last(&pl->v[i]) };
	}
	if (!ports->n)
		return (struct ivl){ 0, s->max[d] };
	return (struct ivl){ ports->v[i].lo, ports->v[i].hi };
}

static double _ivl_size(struct ivl v)
{
	return (double)(v.hi - v.lo) + 1.0;
}

static bool _dim_any(const struct shadow *s, const struct ir_rule *r, int d)
{
	switch (d) {
	case D_DST:
		return !r->m.dst[s->fam].n;
	case D_SRC:
		return !r->m.src[s->fam].n;
	case D_DPORT:
		return !r->m.dport.n;
	case D_SPORT:
		return !r->m.sport.n;
	default:
		return !r->m.iif.n;
	}
}

/* The size of rule R's set in dimension D. */
static double _dim_size(const struct shadow *s, const struct ir_rule *r, int d)
{
	uint32_t n = _dim_count(s, r, d);
	double sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += _ivl_size(_dim_get(s, r, d, i));
	return sum;
}

/* |a ∩ b| in dimension D, walking both sorted interval lists. */
static double _overlap(const struct shadow *s, const struct ir_rule *a, const struct ir_rule *b, int d)
{
	uint32_t na, nb, i = 0, j = 0;
	double sum = 0;

	/* Most rules leave most dimensions open. */
	if (_dim_any(s, a, d))
		return _dim_size(s, b, d);
	if (_dim_any(s, b, d))
		return _dim_size(s, a, d);
	na = _dim_count(s, a, d);
	nb = _dim_count(s, b, d);
	while (i < na && j < nb) {
		struct ivl x = _dim_get(s, a, d, i), y = _dim_get(s, b, d, j);
		u128 lo = x.lo > y.lo ? x.lo : y.lo, hi = x.hi < y.hi ? x.hi : y.hi;
		if (lo <= hi)
			sum += _ivl_size((struct ivl){ lo, hi });
		if (x.hi < y.hi)
			i++;
		else
			j++;
	}
	return sum;
}

/* Does rule A contain rule B in dimension D? */
static bool _dim_contains(const struct shadow *s, const struct ir_rule *a, const struct ir_rule *b, int d)
{
	uint32_t na, nb, i = 0;

	if (_dim_any(s, a, d))
		return true;
	na = _dim_count(s, a, d);
	if (_dim_any(s, b, d)) {
		/* Only a set that runs without a gap from 0 to the end of the domain. */
		u128 next = 0;
		for (i = 0; i < na; i++) {
			struct ivl x = _dim_get(s, a, d, i);
			if (x.lo != next)
				return false;
			if (x.hi == s->max[d])
				return true;
			next = x.hi + 1;
		}
		return false;
	}
	nb = _dim_count(s, b, d);
	for (uint32_t j = 0; j < nb; j++) {
		struct ivl y = _dim_get(s, b, d, j);
		while (i < na && _dim_get(s, a, d, i).hi < y.lo)
			i++;
		if (i == na)
			return false;
		struct ivl x = _dim_get(s, a, d, i);
		if (x.lo > y.lo || x.hi < y.hi)
			return false;
	}
	return true;
}

static bool _applies(const struct shadow *s, const struct ir_rule *r)
{
	return (r->m.protos & (s->proto ? PROTO_UDP : PROTO_TCP)) && (r->m.families & FAM_BIT(s->fam));
}

/* Collects rule ID as a candidate if it overlaps the rule under examination. */
static void _collect(void *ctx, uint32_t id)
{
	struct shadow *s = ctx;
	const struct ir_rule *c = &s->p->rules[id];
	double v = 1;

	if (s->seen[id] == s->stamp)
		return;
	s->seen[id] = s->stamp;
	for (int d = 0; d < D__COUNT && v > 0; d++)
		v *= _overlap(s, c, s->b, d);
	if (v > 0)
		vec_push(&s->cand, id);
}

static void _use(struct shadow *s, uint32_t id)
{
	if (s->used_seen[id] == s->used_stamp)
		return;
	s->used_seen[id] = s->used_stamp;
	vec_push(&s->used, id);
}

static int _ev_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Is the rule b, in dimensions D and beyond, covered by the candidates CAND
 * (which all span the part of the earlier dimensions being examined)?
 */
static bool _covered(struct shadow *s, int d, const uint32_t *cand, uint32_t n)
{
	const struct ir_rule *b = s->b;

	if (n == 0)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		const struct ir_rule *c = &s->p->rules[cand[i]];
		int k = d;
		while (k < D__COUNT && _dim_contains(s, c, b, k))
			k++;
		if (k == D__COUNT) {
			_use(s, cand[i]);
			return true;
		}
	}
	if (d == D__COUNT)
		return false; /* unreachable: every candidate contains an empty remainder */

	/* The candidates' volumes must at least add up to the rule's. */
	double need = 1, have = 0;
	for (int k = d; k < D__COUNT; k++)
		need *= _overlap(s, b, b, k);
	for (uint32_t i = 0; i < n && have < need; i++) {
		const struct ir_rule *c = &s->p->rules[cand[i]];
		double v = 1;
		for (int k = d; k < D__COUNT && v > 0; k++)
			v *= _overlap(s, c, b, k);
		have += v;
	}
	if (have < need * (1 - 1e-9))
		return false;

	/* Sweep dimension D: events where the rule's or a candidate's intervals start and end. */
	struct level *L = &s->lvl[d];
	u128 max = s->max[d];
	L->ev.n = 0;
	for (uint32_t j = 0; j < _dim_count(s, b, d); j++) {
		struct ivl v = _dim_get(s, b, d, j);
		vec_push(&L->ev, ((struct event){ v.lo, -1, +1 }));
		if (v.hi < max)
			vec_push(&L->ev, ((struct event){ v.hi + 1, -1, -1 }));
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct ir_rule *c = &s->p->rules[cand[i]];
		for (uint32_t j = 0; j < _dim_count(s, c, d); j++) {
			struct ivl v = _dim_get(s, c, d, j);
			vec_push(&L->ev, ((struct event){ v.lo, (int32_t)i, +1 }));
			if (v.hi < max)
				vec_push(&L->ev, ((struct event){ v.hi + 1, (int32_t)i, -1 }));
		}
	}
	qsort(L->ev.v, L->ev.n, sizeof(*L->ev.v), _ev_cmp);

	vec_reserve(&L->where, n);
	L->active.n = 0;
	int inside = 0;
	for (size_t e = 0; e < L->ev.n;) {
		u128 pos = L->ev.v[e].pos;
		for (; e < L->ev.n && L->ev.v[e].pos == pos; e++) {
			const struct event *ev = &L->ev.v[e];
			if (ev->who < 0) {
				inside += ev->delta;
			} else if (ev->delta > 0) {
				L->where.v[ev->who] = (int32_t)L->active.n;
				vec_push(&L->active, (uint32_t)ev->who);
			} else {
				int32_t at = L->where.v[ev->who];
				uint32_t last = L->active.v[--L->active.n];
				L->active.v[at] = last;
				L->where.v[last] = at;
			}
		}
		if (!inside)
			continue;
		/* The segment from pos to the next event: recurse with the candidates spanning it. */
		L->child.n = 0;
		for (size_t i = 0; i < L->active.n; i++)
			vec_push(&L->child, cand[L->active.v[i]]);
		if (!_covered(s, d + 1, L->child.v, (uint32_t)L->child.n))
			return false;
	}
	return true;
}

static struct prefix _any(int fam)
{
	return (struct prefix){ .addr = 0, .len = 0, .family = (uint8_t)fam };
}

static double _prefix_size(const struct prefix *p)
{
	return _ivl_size((struct ivl){ p->addr, prefix_last(p) });
}

/* Adds the ids at trie node N that overlap the rule as candidates. */
static void _collect_node(struct shadow *s, const struct ptrie_node *n)
{
	s->stamp++;
	ptrie_node_visit(n, _collect, s);
}

/*
 * Is the part of the rule with dst inside the prefix of trie node N (or P,
 * when N is the node at P) covered? The candidates collected so far all span
 * that whole dst range. If they cover the other dimensions, yes; otherwise
 * each half must be covered by rules filed deeper, and a half without a node
 * of its own is a hole.
 */
static bool _dst_covered(struct shadow *s, const struct ptrie_node *n)
{
	if (_covered(s, D_DST + 1, s->cand.v, (uint32_t)s->cand.n))
		return true;
	if (!n)
		return false;
	for (int half = 0; half < 2; half++) {
		const struct ptrie_node *c = ptrie_child(n, half);
		size_t mark = s->cand.n;

		if (!c || ptrie_node_len(c) != ptrie_node_len(n) + 1)
			return false;
		_collect_node(s, c);
		bool ok = _dst_covered(s, c);
		s->cand.n = mark;
		if (!ok)
			return false;
	}
	return true;
}

/* Is rule b covered, within the current slice, by earlier rules? */
static bool _slice_covered(struct shadow *s)
{
	const struct ir_rule *b = s->b;
	struct slice_index *ix = &s->idx[s->proto][s->fam];
	const struct pfx_list *dst = &b->m.dst[s->fam], *src = &b->m.src[s->fam];
	uint32_t ndst = dst->n ? dst->n : 1, nsrc = src->n ? src->n : 1;
	double size[D__COUNT], src_inside = 0, rest = 1;
	bool src_enumerated = false;

	for (int d = 0; d < D__COUNT; d++) {
		size[d] = _overlap(s, b, b, d);
		if (d != D_DST && d != D_SRC)
			rest *= size[d];
	}
	/* Rules without a dst span every dst: those filed by src, and the rest. */
	s->stamp++;
	s->cand.n = 0;
	for (uint32_t i = 0; i < nsrc; i++) {
		struct prefix q = src->n ? src->v[i] : _any(s->fam);
		const struct ptrie_node *top = ptrie_find(&ix->src, &q, _collect, s);
		src_inside += ptrie_inside_coverage(top, &q) * _prefix_size(&q);
	}
	for (size_t i = 0; i < ix->wild.n; i++)
		_collect(s, ix->wild.v[i]);
	size_t nspan = s->cand.n;

	for (uint32_t i = 0; i < ndst; i++) {
		struct prefix p = dst->n ? dst->v[i] : _any(s->fam);
		double psize = _prefix_size(&p), vol = psize * size[D_SRC] * rest, bound = 0;

		s->cand.n = nspan;
		s->stamp++;
		const struct ptrie_node *top = ptrie_find(&ix->dst, &p, _collect, s);
		const struct ptrie_node *at = top && ptrie_node_len(top) == p.len ? top : NULL;
		/*
		 * An upper bound on what earlier rules can cover of this part: the
		 * spanning rules exactly, rules inside P or inside the src prefixes
		 * as if they covered everything else.
		 */
		for (size_t k = 0; k < s->cand.n; k++) {
			const struct ir_rule *c = &s->p->rules[s->cand.v[k]];
			double v = psize;
			for (int d = D_DST + 1; d < D__COUNT; d++)
				v *= _overlap(s, c, b, d);
			bound += v;
		}
		bound += ptrie_inside_coverage(top, &p) * psize * size[D_SRC] * rest;
		bound += src_inside * psize * rest;
		if (bound < vol * (1 - 1e-9))
			return false;
		if (_dst_covered(s, at))
			continue;
		if (src_inside == 0 || src_enumerated)
			return false;
		/*
		 * Rules filed by src prefixes inside ours are rarely needed, so they
		 * are gathered only now, once, and kept among those spanning every dst.
		 */
		size_t have = s->cand.n;
		VEC(uint32_t) keep = { 0 };
		for (size_t k = nspan; k < have; k++)
			vec_push(&keep, s->cand.v[k]);
		s->cand.n = nspan;
		for (uint32_t j = 0; j < nsrc; j++) {
			struct prefix q = src->n ? src->v[j] : _any(s->fam);
			ptrie_visit_inside(ptrie_find(&ix->src, &q, NULL, NULL), &q, _collect, s);
		}
		nspan = s->cand.n;
		for (size_t k = 0; k < keep.n; k++)
			vec_push(&s->cand, keep.v[k]);
		vec_free(&keep);
		src_enumerated = true;
		if (!_dst_covered(s, at))
			return false;
	}
	return true;
}

static void _index(struct shadow *s, const struct ir_rule *r)
{
	for (int proto = 0; proto < 2; proto++) {
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			struct slice_index *ix = &s->idx[proto][fam];
			if (!(r->m.protos & (proto ? PROTO_UDP : PROTO_TCP)) || !(r->m.families & FAM_BIT(fam)))
				continue;
			if (r->m.dst[fam].n) {
				for (uint32_t i = 0; i < r->m.dst[fam].n; i++)
					ptrie_insert(&ix->dst, &r->m.dst[fam].v[i], r->id);
			} else if (r->m.src[fam].n) {
				for (uint32_t i = 0; i < r->m.src[fam].n; i++)
					ptrie_insert(&ix->src, &r->m.src[fam].v[i], r->id);
			} else {
				vec_push(&ix->wild, r->id);
			}
		}
	}
}

static int _u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void shadow_analyze(const struct ir_policy *p, shadow_report_fn report, void *ctx)
{
	struct shadow s = { .p = p };

	s.seen = calloc(p->nrules ? p->nrules : 1, sizeof(uint32_t));
	s.used_seen = calloc(p->nrules ? p->nrules : 1, sizeof(uint32_t));
	if (!s.seen || !s.used_seen)
		abort();
	for (int proto = 0; proto < 2; proto++) {
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			ptrie_init(&s.idx[proto][fam].dst, fam);
			ptrie_init(&s.idx[proto][fam].src, fam);
		}
	}
	s.max[D_DPORT] = s.max[D_SPORT] = 65535;
	s.max[D_IIF] = p->nifaces;

	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		bool shadowed = true;

		s.b = r;
		s.used_stamp++;
		s.used.n = 0;
		for (s.proto = 0; s.proto < 2 && shadowed; s.proto++) {
			for (s.fam = 0; s.fam < FAM__COUNT && shadowed; s.fam++) {
				if (!_applies(&s, r))
					continue;
				s.max[D_DST] = s.max[D_SRC] = fam_max(s.fam);
				shadowed = _slice_covered(&s);
			}
		}
		if (shadowed) {
			qsort(s.used.v, s.used.n, sizeof(uint32_t), _u32_cmp);
			report(ctx, r, s.used.v, (uint32_t)s.used.n);
		}
		_index(&s, r);
	}

	for (int proto = 0; proto < 2; proto++) {
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			ptrie_free(&s.idx[proto][fam].dst);
			ptrie_free(&s.idx[proto][fam].src);
			vec_free(&s.idx[proto][fam].wild);
		}
	}
	for (int d = 0; d < D__COUNT; d++) {
		vec_free(&s.lvl[d].ev);
		vec_free(&s.lvl[d].active);
		vec_free(&s.lvl[d].child);
		vec_free(&s.lvl[d].where);
	}
	vec_free(&s.cand);
	vec_free(&s.used);
	free(s.seen);
	free(s.used_seen);
}
