/*
 * How it stays fast on a million rules. For each rule and each (protocol,
 * family) it matches, the earlier rules that could cover it are found through
 * per-(protocol, family) prefix tries: rules with a dst are filed by dst prefix,
 * rules without dst but with a src by src prefix, the rest on a short list.
 *
 * 1. The rules spanning the rule's whole dst prefix are those on the trie path
 *    down to it, plus those without a dst. They are collected first, and the
 *    first of them that contains the rule in every other dimension ends the
 *    search: the usual answer for a shadowed rule, found without collecting
 *    the rest of the path.
 * 2. Rules filed strictly inside the prefix can add at most the fraction of it
 *    their prefixes cover, which each trie node keeps. If even counting them
 *    fully the volumes cannot add up, the rule is not shadowed: the usual
 *    answer for a fresh /24, found without touching a single other rule.
 * 3. Otherwise an exact test: if the spanning rules cover the other dimensions
 *    (split into elementary intervals, recursing on the rules that span each),
 *    it is covered; if not, both halves of the prefix must be covered by rules
 *    filed deeper, walking down the trie only as far as the proof needs and
 *    stopping at the first half that has no node: a hole. Rules filed by src
 *    prefixes inside the rule's join only then, and only if they might fill
 *    it: not when it spans the rule's whole src set and they leave part out.
 *
 * The tests on a candidate read a small record of its shape (any, one
 * interval, the hull) before any of its lists.
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

/*
 * What the cover test reads of a rule most often, in one small record: per
 * dimension but dst, whether it is any, one interval, or a list that still
 * spans the whole domain, and the hull of the ports and interfaces (src
 * addresses are read from the rule).
 */
struct box {
	uint32_t seen; /* stamp of the last query that collected the rule */
	uint32_t iif[2]; /* lo, hi, as interval points: index + 1 */
	uint16_t port[2][2]; /* [dport, sport][lo, hi] */
	uint8_t any[FAM__COUNT], one[FAM__COUNT], full[FAM__COUNT]; /* bit 1 << dimension */
};

#define NO_HIT UINT32_MAX

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

	struct box *box; /* per rule id */
	const struct ir_rule *b; /* the rule being examined */
	const struct box *bb; /* its box */
	double size[D__COUNT]; /* its size in each dimension but dst, in the slice */
	struct ivl hull[D__COUNT]; /* the hull of its set in each dimension but dst */
	uint32_t stamp;
	VEC(uint32_t) cand;
	bool probe; /* collecting stops at the first candidate containing the rule... */
	uint32_t hit; /* ...which is this one (NO_HIT: none yet) */
	bool hole_spans_src; /* the last hole found spans the rule's whole src set */

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

/* Rule R's set in dimension D (not dst): N intervals from V, none for any. */
struct run {
	int d;
	const void *v;
	uint32_t n;
};

static struct run _run(const struct shadow *s, const struct ir_rule *r, int d)
{
	switch (d) {
	case D_SRC:
		return (struct run){ d, r->m.src[s->fam].v, r->m.src[s->fam].n };
	case D_DPORT:
		return (struct run){ d, r->m.dport.v, r->m.dport.n };
	case D_SPORT:
		return (struct run){ d, r->m.sport.v, r->m.sport.n };
	default:
		return (struct run){ d, r->m.iif.v, r->m.iif.n };
	}
}

static uint32_t _run_count(const struct run *x)
{
	return x->n ? x->n : 1;
}

/* Interval I; "any" is the whole domain. Interfaces are 1..n, 0 is any other. */
static inline struct ivl _run_at(const struct shadow *s, const struct run *x, uint32_t i)
{
	if (!x->n)
		return (struct ivl){ 0, s->max[x->d] };
	switch (x->d) {
	case D_SRC: {
		const struct prefix *q = (const struct prefix *)x->v + i;
		return (struct ivl){ q->addr, prefix_last(q) };
	}
	case D_IIF: {
		u128 v = (u128)((const uint32_t *)x->v)[i] + 1;
		return (struct ivl){ v, v };
	}
	default: {
		const struct port_range *pr = (const struct port_range *)x->v + i;
		return (struct ivl){ pr->lo, pr->hi };
	}
	}
}

static double _ivl_size(struct ivl v)
{
	u128 n = v.hi - v.lo;

	/* The same value either way; converting 64 bits is much cheaper. */
	if (!(n >> 64))
		return (double)(uint64_t)n + 1.0;
	return (double)n + 1.0;
}

/* The size of a set. */
static double _run_size(const struct shadow *s, const struct run *x)
{
	double sum = 0;

	for (uint32_t i = 0; i < _run_count(x); i++)
		sum += _ivl_size(_run_at(s, x, i));
	return sum;
}

/* |a ∩ b| in dimension D, walking both sorted interval lists. */
static double _overlap(const struct shadow *s, const struct ir_rule *a, const struct ir_rule *b, int d)
{
	struct run x = _run(s, a, d), y = _run(s, b, d);
	uint32_t i = 0, j = 0;
	double sum = 0;

	/* Most rules leave most dimensions open. */
	if (!x.n)
		return _run_size(s, &y);
	if (!y.n)
		return _run_size(s, &x);
	while (i < x.n && j < y.n) {
		struct ivl u = _run_at(s, &x, i), v = _run_at(s, &y, j);
		u128 lo = u.lo > v.lo ? u.lo : v.lo, hi = u.hi < v.hi ? u.hi : v.hi;
		if (lo <= hi)
			sum += _ivl_size((struct ivl){ lo, hi });
		if (u.hi < v.hi)
			i++;
		else
			j++;
	}
	return sum;
}

/* Do two sets (not any) meet? */
static bool _runs_meet(const struct shadow *s, const struct run *x, const struct run *y)
{
	uint32_t i = 0, j = 0;

	while (i < x->n && j < y->n) {
		struct ivl u = _run_at(s, x, i), v = _run_at(s, y, j);
		if (u.hi < v.lo)
			i++;
		else if (v.hi < u.lo)
			j++;
		else
			return true;
	}
	return false;
}

/* Is each interval of set Y (not any) inside one of set X (not any)? */
static bool _runs_hold(const struct shadow *s, const struct run *x, const struct run *y)
{
	uint32_t i = 0;

	for (uint32_t j = 0; j < y->n; j++) {
		struct ivl v = _run_at(s, y, j);
		while (i < x->n && _run_at(s, x, i).hi < v.lo)
			i++;
		if (i == x->n)
			return false;
		struct ivl u = _run_at(s, x, i);
		if (u.lo > v.lo || u.hi < v.hi)
			return false;
	}
	return true;
}

/* Does a set (not any) run without a gap from 0 to the end of the domain, and so contain any? */
static bool _run_full(const struct shadow *s, const struct run *x)
{
	u128 next = 0;

	for (uint32_t i = 0; i < x->n; i++) {
		struct ivl u = _run_at(s, x, i);
		if (u.lo != next)
			return false;
		if (u.hi == s->max[x->d])
			return true;
		next = u.hi + 1;
	}
	return false;
}

/* Fills rule R's box; S's family and domains are set to each family in turn. */
static void _box_fill(struct shadow *s, struct box *x, const struct ir_rule *r)
{
	if (r->m.dport.n) {
		x->port[0][0] = r->m.dport.v[0].lo;
		x->port[0][1] = r->m.dport.v[r->m.dport.n - 1].hi;
	}
	if (r->m.sport.n) {
		x->port[1][0] = r->m.sport.v[0].lo;
		x->port[1][1] = r->m.sport.v[r->m.sport.n - 1].hi;
	}
	if (r->m.iif.n) {
		x->iif[0] = r->m.iif.v[0] + 1;
		x->iif[1] = r->m.iif.v[r->m.iif.n - 1] + 1;
	}
	for (s->fam = 0; s->fam < FAM__COUNT; s->fam++) {
		s->max[D_SRC] = fam_max(s->fam);
		for (int d = D_DST + 1; d < D__COUNT; d++) {
			struct run u = _run(s, r, d);
			uint8_t bit = (uint8_t)(1 << d);
			if (!u.n)
				x->any[s->fam] |= bit;
			else if (u.n == 1)
				x->one[s->fam] |= bit;
			if (u.n && _run_full(s, &u))
				x->full[s->fam] |= bit;
		}
	}
}

/* The hull of rule ID's set in dimension D (not dst), when it is not any. */
static struct ivl _hull(const struct shadow *s, uint32_t id, int d)
{
	const struct box *x = &s->box[id];
	const struct pfx_list *pl;

	switch (d) {
	case D_DPORT:
		return (struct ivl){ x->port[0][0], x->port[0][1] };
	case D_SPORT:
		return (struct ivl){ x->port[1][0], x->port[1][1] };
	case D_IIF:
		return (struct ivl){ x->iif[0], x->iif[1] };
	default:
		pl = &s->p->rules[id].m.src[s->fam];
		return (struct ivl){ pl->v[0].addr, prefix_last(&pl->v[pl->n - 1]) };
	}
}

/*
 * Candidate ID against the rule under examination in dimension D: do they
 * meet, how much, does the candidate contain the rule. From the boxes when
 * they tell, else from the rules' lists.
 */
static bool _meets(const struct shadow *s, uint32_t id, int d)
{
	const struct box *c = &s->box[id];
	int bit = 1 << d;

	if ((c->any[s->fam] | s->bb->any[s->fam]) & bit)
		return true;
	struct ivl x = _hull(s, id, d), y = s->hull[d];
	if (x.hi < y.lo || y.hi < x.lo)
		return false;
	if (c->one[s->fam] & s->bb->one[s->fam] & bit)
		return true;
	struct run u = _run(s, &s->p->rules[id], d), v = _run(s, s->b, d);
	return _runs_meet(s, &u, &v);
}

static double _common(const struct shadow *s, uint32_t id, int d)
{
	const struct box *c = &s->box[id];
	int bit = 1 << d;

	if (c->any[s->fam] & bit)
		return s->size[d];
	if (c->one[s->fam] & bit) {
		struct ivl x = _hull(s, id, d), y = s->hull[d];
		if (s->bb->any[s->fam] & bit)
			return _ivl_size(x);
		if (s->bb->one[s->fam] & bit) {
			u128 lo = x.lo > y.lo ? x.lo : y.lo, hi = x.hi < y.hi ? x.hi : y.hi;
			return lo <= hi ? _ivl_size((struct ivl){ lo, hi }) : 0;
		}
	}
	return _overlap(s, &s->p->rules[id], s->b, d);
}

static bool _holds(const struct shadow *s, uint32_t id, int d)
{
	const struct box *c = &s->box[id];
	int bit = 1 << d;

	if (c->any[s->fam] & bit)
		return true;
	if (s->bb->any[s->fam] & bit)
		return c->full[s->fam] & bit;
	struct ivl x = _hull(s, id, d), y = s->hull[d];
	if (y.lo < x.lo || x.hi < y.hi)
		return false;
	if (c->one[s->fam] & bit)
		return true;
	struct run u = _run(s, &s->p->rules[id], d), v = _run(s, s->b, d);
	return _runs_hold(s, &u, &v);
}

/* Does candidate ID contain the rule in dimensions D and beyond? */
static bool _holds_from(const struct shadow *s, uint32_t id, int d)
{
	for (; d < D__COUNT; d++)
		if (!_holds(s, id, d))
			return false;
	return true;
}

static bool _applies(const struct shadow *s, const struct ir_rule *r)
{
	return (r->m.protos & (s->proto ? PROTO_UDP : PROTO_TCP)) && (r->m.families & FAM_BIT(s->fam));
}

/*
 * Collects rule ID as a candidate if it overlaps the rule under examination;
 * when probing, stops at the first that contains it. Every rule collected meets
 * the rule in dst: it is filed at a prefix on the path to, or inside, one of
 * the rule's dst prefixes, or has no dst.
 */
static bool _collect(void *ctx, uint32_t id)
{
	struct shadow *s = ctx;

	if (s->box[id].seen == s->stamp)
		return false;
	s->box[id].seen = s->stamp;
	for (int d = D_DST + 1; d < D__COUNT; d++)
		if (!_meets(s, id, d))
			return false;
	vec_push(&s->cand, id);
	if (s->probe && _holds_from(s, id, D_DST + 1)) {
		s->hit = id;
		return true;
	}
	return false;
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

/* A running sum of candidates' volumes: the first N of them add up to HAVE. */
struct tally {
	double have;
	uint32_t n;
};

/*
 * Is the rule b, in dimensions D and beyond, covered by the candidates CAND
 * (which all span the part of the earlier dimensions being examined)? None of
 * the first TESTED contains it alone, and T sums the volumes of the first few.
 */
static bool _covered(struct shadow *s, int d, const uint32_t *cand, uint32_t n, uint32_t tested, struct tally *t)
{
	const struct ir_rule *b = s->b;

	if (n == 0)
		return false;
	for (uint32_t i = tested; i < n; i++) {
		if (_holds_from(s, cand[i], d)) {
			_use(s, cand[i]);
			return true;
		}
	}
	if (d == D__COUNT)
		return false; /* unreachable: every candidate contains an empty remainder */

	/* The candidates' volumes must at least add up to the rule's. */
	double need = 1;
	for (int k = d; k < D__COUNT; k++)
		need *= s->size[k];
	for (; t->n < n && t->have < need; t->n++) {
		double v = 1;
		for (int k = d; k < D__COUNT && v > 0; k++)
			v *= _common(s, cand[t->n], k);
		t->have += v;
	}
	if (t->have < need * (1 - 1e-9))
		return false;

	/* Sweep dimension D: events where the rule's or a candidate's intervals start and end. */
	struct level *L = &s->lvl[d];
	u128 max = s->max[d];
	struct run x = _run(s, b, d);
	L->ev.n = 0;
	for (uint32_t j = 0; j < _run_count(&x); j++) {
		struct ivl v = _run_at(s, &x, j);
		vec_push(&L->ev, ((struct event){ v.lo, -1, +1 }));
		if (v.hi < max)
			vec_push(&L->ev, ((struct event){ v.hi + 1, -1, -1 }));
	}
	for (uint32_t i = 0; i < n; i++) {
		struct run y = _run(s, &s->p->rules[cand[i]], d);
		for (uint32_t j = 0; j < _run_count(&y); j++) {
			struct ivl v = _run_at(s, &y, j);
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
		struct tally sub = { 0, 0 };
		L->child.n = 0;
		for (size_t i = 0; i < L->active.n; i++)
			vec_push(&L->child, cand[L->active.v[i]]);
		if (!_covered(s, d + 1, L->child.v, (uint32_t)L->child.n, 0, &sub))
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
 * A hole: a dst range where no rule is filed deeper and that the candidates
 * leave partly uncovered. They are all the earlier rules meeting it but those
 * filed by src prefixes inside the rule's; notes whether they all hold the
 * rule's whole src set, so that the hole spans it too.
 */
static bool _hole(struct shadow *s)
{
	s->hole_spans_src = true;
	for (size_t i = 0; i < s->cand.n && s->hole_spans_src; i++)
		s->hole_spans_src = _holds(s, s->cand.v[i], D_SRC);
	return false;
}

/*
 * Is the part of the rule with dst inside the prefix of trie node N (or P,
 * when N is the node at P) covered? The candidates collected so far all span
 * that whole dst range; none of the first TESTED contains the rule alone, and
 * T sums the volumes of the first few. If they cover the other dimensions,
 * yes; otherwise each half must be covered by rules filed deeper, and a half
 * without a node of its own is a hole.
 */
static bool _dst_covered(struct shadow *s, const struct ptrie_node *n, size_t tested, const struct tally *t0)
{
	struct tally t = *t0;

	if (_covered(s, D_DST + 1, s->cand.v, (uint32_t)s->cand.n, (uint32_t)tested, &t))
		return true;
	if (!n)
		return _hole(s);
	for (int half = 0; half < 2; half++) {
		const struct ptrie_node *c = ptrie_child(n, half);
		size_t mark = s->cand.n;

		if (!c || ptrie_node_len(c) != ptrie_node_len(n) + 1)
			return _hole(s);
		_collect_node(s, c);
		bool ok = _dst_covered(s, c, mark, &t);
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
	double src_inside = 0, rest = 1;
	bool src_enumerated = false, src_filled = true;

	for (int d = D_DST + 1; d < D__COUNT; d++) {
		s->size[d] = _overlap(s, b, b, d);
		if (!(s->bb->any[s->fam] & (1 << d)))
			s->hull[d] = _hull(s, b->id, d);
		if (d != D_SRC)
			rest *= s->size[d];
	}
	/* Rules without a dst span every dst: those filed by src, and the rest. */
	s->stamp++;
	s->cand.n = 0;
	s->probe = true;
	s->hit = NO_HIT;
	for (uint32_t i = 0; i < nsrc && s->hit == NO_HIT; i++) {
		struct prefix q = src->n ? src->v[i] : _any(s->fam);
		const struct ptrie_node *top = ptrie_find(&ix->src, &q, _collect, s);
		double cov = ptrie_inside_coverage(top, &q);
		/* Below 1 only when not filled: a filled prefix's halves sum to 1 exactly. */
		src_filled &= cov >= 1;
		src_inside += cov * _prefix_size(&q);
	}
	for (size_t i = 0; i < ix->wild.n && s->hit == NO_HIT; i++)
		_collect(s, ix->wild.v[i]);
	s->probe = false;
	/* One of them contains the rule: it comes first for every dst prefix. */
	if (s->hit != NO_HIT) {
		_use(s, s->hit);
		return true;
	}
	size_t nspan = s->cand.n;

	for (uint32_t i = 0; i < ndst; i++) {
		struct prefix p = dst->n ? dst->v[i] : _any(s->fam);
		double psize = _prefix_size(&p), vol = psize * s->size[D_SRC] * rest, bound = 0;

		s->cand.n = nspan;
		s->stamp++;
		s->probe = true;
		const struct ptrie_node *top = ptrie_find(&ix->dst, &p, _collect, s);
		s->probe = false;
		if (s->hit != NO_HIT) {
			_use(s, s->hit);
			s->hit = NO_HIT;
			continue;
		}
		const struct ptrie_node *at = top && ptrie_node_len(top) == p.len ? top : NULL;
		/*
		 * An upper bound on what earlier rules can cover of this part: the
		 * spanning rules exactly, rules inside P or inside the src prefixes
		 * as if they covered everything else.
		 */
		for (size_t k = 0; k < s->cand.n; k++) {
			double v = psize;
			for (int d = D_DST + 1; d < D__COUNT && v > 0; d++)
				v *= _common(s, s->cand.v[k], d);
			bound += v;
		}
		bound += ptrie_inside_coverage(top, &p) * psize * s->size[D_SRC] * rest;
		bound += src_inside * psize * rest;
		if (bound < vol * (1 - 1e-9))
			return false;
		if (_dst_covered(s, at, s->cand.n, &(struct tally){ 0, 0 }))
			continue;
		/* Rules inside the src prefixes cannot fill a hole that spans a part of them they leave out. */
		if (src_inside == 0 || src_enumerated || (s->hole_spans_src && !src_filled))
			return false;
		/*
		 * Rules filed by src prefixes inside ours are rarely needed, so they
		 * are gathered only now, once, and kept among those spanning every dst.
		 * None contains the rule alone: the prefixes of a set do not nest, so
		 * a rule with one strictly inside one of ours has none holding it.
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
		if (!_dst_covered(s, at, s->cand.n, &(struct tally){ 0, 0 }))
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

	s.box = calloc(p->nrules ? p->nrules : 1, sizeof(*s.box));
	s.used_seen = calloc(p->nrules ? p->nrules : 1, sizeof(uint32_t));
	if (!s.box || !s.used_seen)
		abort();
	for (int proto = 0; proto < 2; proto++) {
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			ptrie_init(&s.idx[proto][fam].dst, fam);
			ptrie_init(&s.idx[proto][fam].src, fam);
		}
	}
	s.max[D_DPORT] = s.max[D_SPORT] = 65535;
	s.max[D_IIF] = p->nifaces;
	for (uint32_t i = 0; i < p->nrules; i++)
		_box_fill(&s, &s.box[i], &p->rules[i]);

	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		bool shadowed = true;

		s.b = r;
		s.bb = &s.box[i];
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
	free(s.box);
	free(s.used_seen);
}
