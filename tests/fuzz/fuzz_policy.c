/*
 * libFuzzer harness for the front end: any bytes go through parse, check, lint
 * and the expects, and the diagnostics are printed. A policy that checks is also
 * printed as IR and evaluated on tuples derived from the input, under oracles
 * that are cheap to state and catch wrong verdicts, not only crashes:
 *
 * - the IR lists are as ir.h promises (sorted, disjoint), since the evaluator's
 *   binary searches rely on it; a linear first-match scan agrees with eval_tuple;
 * - a tuple built inside rule R is decided by R or an earlier rule;
 * - a rule the lint reports as shadowed never decides anything;
 * - the table strategy's data, walked as the BPF program walks it, decides
 *   every tuple as the reference evaluator does.
 *
 * A broken oracle aborts with a message, which libFuzzer records as a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "eval.h"
#include "expect.h"
#include "frontend.h"
#include "ir.h"
#include "shadow.h"
#include "table.h"

#define NTUPLES 16

__attribute__((noreturn, format(printf, 1, 2))) static void _fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_policy: oracle failed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* splitmix64, seeded from the input: the tuples depend on the bytes alone, so a crash reproduces. */
static uint64_t _next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t _seed(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	return h;
}

/* A memstream that is thrown away: the printers run, nobody reads them. */
struct sink {
	FILE *f;
	char *buf;
	size_t len;
};

static void _sink_open(struct sink *s)
{
	s->buf = NULL;
	s->len = 0;
	s->f = open_memstream(&s->buf, &s->len);
	if (!s->f)
		abort();
}

static void _sink_close(struct sink *s)
{
	fclose(s->f);
	free(s->buf);
}

static void _check_lists(const struct ir_policy *p, const struct ir_rule *r)
{
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		const struct pfx_list *lists[2] = { &r->m.dst[fam], &r->m.src[fam] };
		for (int k = 0; k < 2; k++) {
			const struct pfx_list *l = lists[k];
			for (uint32_t i = 0; i < l->n; i++) {
				const struct prefix *x = &l->v[i];
				if (x->family != fam || x->len > fam_width(fam) || x->addr > fam_max(fam) ||
				    prefix_last(x) > fam_max(fam))
					_fail("rule %u: bad prefix in family %d", r->id, fam);
				if ((x->addr & (prefix_last(x) - x->addr)) != 0)
					_fail("rule %u: prefix with host bits set", r->id);
				if (i && x->addr <= prefix_last(&l->v[i - 1]))
					_fail("rule %u: prefixes not sorted and disjoint", r->id);
			}
		}
	}
	const struct port_list *ports[2] = { &r->m.dport, &r->m.sport };
	for (int k = 0; k < 2; k++) {
		const struct port_list *l = ports[k];
		for (uint32_t i = 0; i < l->n; i++) {
			if (l->v[i].lo == 0 || l->v[i].lo > l->v[i].hi)
				_fail("rule %u: bad port range %u-%u", r->id, l->v[i].lo, l->v[i].hi);
			if (i && (uint32_t)l->v[i].lo <= (uint32_t)l->v[i - 1].hi + 1)
				_fail("rule %u: port ranges not sorted, disjoint and apart", r->id);
		}
	}
	for (uint32_t i = 0; i < r->m.iif.n; i++) {
		if (r->m.iif.v[i] >= p->nifaces)
			_fail("rule %u: interface index %u of %u", r->id, r->m.iif.v[i], p->nifaces);
		if (i && r->m.iif.v[i] <= r->m.iif.v[i - 1])
			_fail("rule %u: interfaces not sorted", r->id);
	}
}

static void _check_ir(const struct ir_policy *p)
{
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (r->id != i)
			_fail("rule %u has id %u", i, r->id);
		if (!r->m.protos || (r->m.protos & ~PROTO_ALL) || !r->m.families || (r->m.families & ~FAMS_ALL))
			_fail("rule %u: protocols %#x, families %#x", i, r->m.protos, r->m.families);
		if (r->act.kind == ACT_SERVICE && r->act.service >= p->nservices)
			_fail("rule %u: service %u of %u", i, r->act.service, p->nservices);
		if (r->act.kind == ACT_FORWARD && (r->act.forward >= p->nforwards || (r->m.protos & PROTO_UDP)))
			_fail("rule %u: forward %u of %u, protocols %#x", i, r->act.forward, p->nforwards, r->m.protos);
		if (r->act.kind != ACT_SERVICE && r->act.kind != ACT_DROP && r->act.kind != ACT_PASS && r->act.kind != ACT_FORWARD)
			_fail("rule %u: action %d", i, r->act.kind);
		_check_lists(p, r);
	}
}

static bool _pfx_naive(const struct pfx_list *l, u128 a)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (prefix_contains(&l->v[i], a))
			return true;
	return l->n == 0;
}

static bool _ports_naive(const struct port_list *l, uint16_t port)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (port >= l->v[i].lo && port <= l->v[i].hi)
			return true;
	return l->n == 0;
}

static bool _iif_naive(const struct iif_list *l, uint32_t iif)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == iif)
			return true;
	return l->n == 0;
}

/* First match by linear scans: what eval_tuple computes with binary searches. */
static int64_t _first_match_naive(const struct ir_policy *p, const struct tuple *t)
{
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_match *m = &p->rules[i].m;
		if ((m->protos & t->proto) && (m->families & FAM_BIT(t->family)) &&
		    _pfx_naive(&m->dst[t->family], t->dst) && _pfx_naive(&m->src[t->family], t->src) &&
		    _ports_naive(&m->dport, t->dport) && _ports_naive(&m->sport, t->sport) && _iif_naive(&m->iif, t->iif))
			return i;
	}
	return RULE_NONE;
}

/* An address in L, often at a prefix's edge or just past it; any address when L is empty. */
static u128 _pick_addr(const struct pfx_list *l, int fam, bool inside, uint64_t *st)
{
	u128 max = fam_max(fam);
	u128 any = ((u128)_next(st) << 64 | _next(st)) & max;

	if (!l->n)
		return any;
	const struct prefix *p = &l->v[_next(st) % l->n];
	u128 last = prefix_last(p);
	switch (_next(st) % (inside ? 3 : 5)) {
	case 0:
		return p->addr;
	case 1:
		return last;
	case 2:
		return p->addr | (any & (last - p->addr));
	case 3:
		return (p->addr - 1) & max; /* wraps to the top of the family's space at 0 */
	default:
		return last == max ? 0 : last + 1;
	}
}

static uint16_t _pick_port(const struct port_list *l, bool inside, uint64_t *st)
{
	if (!l->n)
		return (uint16_t)_next(st);
	const struct port_range *r = &l->v[_next(st) % l->n];
	switch (_next(st) % (inside ? 3 : 5)) {
	case 0:
		return r->lo;
	case 1:
		return r->hi;
	case 2:
		return (uint16_t)(r->lo + _next(st) % ((uint32_t)r->hi - r->lo + 1));
	case 3:
		return (uint16_t)(r->lo - 1);
	default:
		return (uint16_t)(r->hi + 1);
	}
}

static uint32_t _pick_iif(const struct ir_policy *p, const struct iif_list *l, bool inside, uint64_t *st)
{
	if (inside && l->n)
		return l->v[_next(st) % l->n];
	uint32_t i = (uint32_t)(_next(st) % (p->nifaces + 1));
	return i == p->nifaces ? IIF_NONE : i;
}

/*
 * A tuple inside rule R when INSIDE (R's protocol, family, addresses, ports and
 * interfaces), else one near R's edges or anywhere.
 */
static struct tuple _make_tuple(const struct ir_policy *p, const struct ir_rule *r, bool inside, uint64_t *st)
{
	static const struct ir_rule any = { .m = { .protos = PROTO_ALL, .families = FAMS_ALL } };
	struct tuple t = { 0 };

	if (!r)
		r = &any;
	uint8_t protos = inside ? r->m.protos : PROTO_ALL;
	uint8_t fams = inside ? r->m.families : FAMS_ALL;
	t.proto = protos == PROTO_ALL ? (_next(st) & 1 ? PROTO_TCP : PROTO_UDP) : protos;
	t.family = fams == FAMS_ALL ? (uint8_t)(_next(st) & 1) : (fams == FAM_BIT(FAM_V6) ? FAM_V6 : FAM_V4);
	t.dst = _pick_addr(&r->m.dst[t.family], t.family, inside, st);
	t.src = _pick_addr(&r->m.src[t.family], t.family, inside, st);
	t.dport = _pick_port(&r->m.dport, inside, st);
	t.sport = _pick_port(&r->m.sport, inside, st);
	t.iif = _pick_iif(p, &r->m.iif, inside, st);
	return t;
}

static void _mark_shadowed(void *ctx, const struct ir_rule *r, const uint32_t *by, uint32_t nby)
{
	bool *shadowed = ctx;

	for (uint32_t i = 0; i < nby; i++)
		if (by[i] >= r->id)
			_fail("rule %u reported shadowed by the later rule %u", r->id, by[i]);
	shadowed[r->id] = true;
}

static void _run_tuples(const struct ir_policy *p, uint64_t *st, FILE *out)
{
	bool *shadowed = calloc(p->nrules ? p->nrules : 1, sizeof(*shadowed));
	struct table tab;
	int tr = table_build(p, &tab);

	if (!shadowed || (tr < 0 && tr != -E2BIG))
		abort();
	shadow_analyze(p, _mark_shadowed, shadowed);
	for (int k = 0; k < NTUPLES; k++) {
		const struct ir_rule *r = p->nrules ? &p->rules[_next(st) % p->nrules] : NULL;
		bool inside = r && k % 2 == 0;
		struct tuple t = _make_tuple(p, r, inside, st);
		struct verdict v = eval_tuple(p, &t, NULL);
		int64_t naive = _first_match_naive(p, &t);

		if (v.rule != naive)
			_fail("eval_tuple decided by rule %lld, a linear scan by rule %lld", (long long)v.rule,
			      (long long)naive);
		if (inside && (v.rule == RULE_NONE || v.rule > r->id))
			_fail("a tuple inside rule %u was decided by rule %lld", r->id, (long long)v.rule);
		if (v.rule != RULE_NONE && shadowed[v.rule])
			_fail("rule %lld was reported shadowed but decides a tuple", (long long)v.rule);
		if (tr == 0) {
			uint32_t got = table_lookup(&tab, p, &t);
			if ((got == p->nrules ? (int64_t)RULE_NONE : (int64_t)got) != v.rule)
				_fail("the table decided by rule %u, the evaluator by rule %lld", got, (long long)v.rule);
		}
		tuple_print(out, p, &t);
		fputs(" : ", out);
		verdict_print(out, p, &v);
		fputc('\t', out);
		verdict_print_rule(out, p, &v);
		fputc('\n', out);
	}
	free(shadowed);
	table_free(&tab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t st = _seed(data, size);
	struct frontend_opts o = { .lint = true, .expects = true, .werror = st & 1 };
	struct frontend fe;
	struct sink out;

	/* A name in angle brackets: includes are refused, the file system is never read. */
	if (frontend_run_mem(&fe, "<fuzz>", (const char *)data, size, &o) < 0) {
		frontend_free(&fe);
		return 0;
	}
	_sink_open(&out);
	diag_print(out.f, &fe.diags, st & 2);
	/* Failing expects leave a complete IR; any other error does not. */
	if (fe.diags.nerrors == fe.expects.failed && !fe.diags.truncated) {
		struct diag_list d;
		struct expect_result res = { 0 };

		_check_ir(&fe.ir);
		ir_print(out.f, &fe.ir);
		diag_init(&d);
		expect_run(&fe.ir, expect_reference, &fe.ir, &d, out.f, &res);
		if (res.failed != fe.expects.failed)
			_fail("expects failed %u times, then %u times", fe.expects.failed, res.failed);
		diag_free(&d);
		_run_tuples(&fe.ir, &st, out.f);
	}
	_sink_close(&out);
	frontend_free(&fe);
	return 0;
}
