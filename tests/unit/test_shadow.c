/*
 * The exact shadowing lint against brute force in every dimension: random
 * policies of both protocols and families, with sets of prefixes, sources,
 * port lists, source ports and interfaces, over a universe small enough to
 * enumerate, where each point outside the prefixes and ports written stands
 * for all the others. A rule is shadowed exactly when it decides no tuple, and
 * the rules the warning names cover it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "eval.h"
#include "frontend.h"
#include "ir.h"
#include "shadow.h"

#define MAX_RULES 12

static uint64_t _s = 4242;

static unsigned _r(unsigned n)
{
	_s = _s * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((_s >> 33) % n);
}

/*
 * The universe: dst inside 10.0.0.0/29 or 2001:db8::/125, src inside
 * 192.0.2.0/30 or 2001:db8:1::/126 or a half of all addresses, ports up to 6
 * (sport 4) written one by one, and what comes after.
 */
static void _dst(FILE *f, int fam)
{
	unsigned len = 29 + _r(4), a = _r(8) & ~((1u << (32 - len)) - 1);

	if (fam == FAM_V4)
		fprintf(f, "10.0.0.%u/%u", a, len);
	else
		fprintf(f, "2001:db8::%x/%u", a, len + 96);
}

static void _src(FILE *f, int fam)
{
	unsigned len = 30 + _r(3), a = _r(4) & ~((1u << (32 - len)) - 1);

	if (!_r(12)) /* every address, in two halves: contains any */
		fputs(fam == FAM_V4 ? "0.0.0.0/1, 128.0.0.0/1" : "::/1, 8000::/1", f);
	else if (fam == FAM_V4)
		fprintf(f, "192.0.2.%u/%u", a, len);
	else
		fprintf(f, "2001:db8:1::%x/%u", a, len + 96);
}

/* One or two prefixes of the rule's family, or one of each for both. */
static void _addrs(FILE *f, const char *kw, int fams, void (*one)(FILE *, int))
{
	int fam = fams == 2 ? FAM_V4 : fams;
	unsigned n = fams == 2 ? 2 : 1 + _r(2);

	fprintf(f, " %s { ", kw);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		one(f, i && fams == 2 ? FAM_V6 : fam);
	}
	fputs(" }", f);
}

static void _ports(FILE *f, const char *kw, unsigned top)
{
	unsigned lo = 1 + _r(top), hi = lo + _r(top + 1 - lo);

	if (!_r(8))
		fprintf(f, " %s 1-65535", kw);
	else if (!_r(3))
		fprintf(f, " %s { %u, %u-65535 }", kw, lo, top + 2);
	else
		fprintf(f, " %s %u-%u", kw, lo, hi);
}

static char *_random_policy(unsigned nrules)
{
	static const char *const protos[] = { "tcp", "udp", "{ tcp, udp }" };
	static const char *const ifaces[] = { "eth0", "eth1", "{ eth0, eth1 }" };
	static const char *const actions[] = { "service a", "drop", "pass" };
	/* How often each matcher is written varies from policy to policy. */
	unsigned pdst = 3 + _r(6), psrc = 2 + _r(7), pport = 2 + _r(5);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fputs("service a\n", f);
	for (unsigned i = 0; i < nrules; i++) {
		int fams = (int)_r(3); /* FAM_V4, FAM_V6 or 2: both */
		fprintf(f, "match %s", protos[_r(3)]);
		if (_r(10) < pdst)
			_addrs(f, "dst", fams, _dst);
		if (_r(10) < psrc)
			_addrs(f, "src", fams, _src);
		if (_r(10) < pport)
			_ports(f, "port", 4);
		if (_r(10) < 2)
			_ports(f, "sport", 2);
		if (_r(10) < 2)
			fprintf(f, " iif %s", ifaces[_r(3)]);
		fprintf(f, " -> %s\n", actions[_r(3)]);
	}
	fclose(f);
	return buf;
}

/* Calls FN on every tuple of the universe. */
static void _each_tuple(const struct ir_policy *p, void (*fn)(void *, const struct tuple *), void *ctx)
{
	static const uint16_t dports[] = { 0, 1, 2, 3, 4, 5, 6 }, sports[] = { 0, 1, 2, 3, 4 };
	static const uint32_t src4[] = { 0xc0000200, 0xc0000201, 0xc0000202, 0xc0000203, 0xc6336401, 0x0a090909 };
	const u128 net6 = (u128)0x20010db8 << 96;
	const u128 src6[] = { net6 | (u128)1 << 80, net6 | (u128)1 << 80 | 1, net6 | (u128)1 << 80 | 2,
			      net6 | (u128)1 << 80 | 3, net6 | (u128)0xffff << 80 | 2, (u128)0x8000 << 112 | 1 };

	for (int fam = 0; fam < FAM__COUNT; fam++) {
		for (uint32_t d = 0; d <= 8; d++) {
			for (size_t s = 0; s < sizeof(src4) / sizeof(*src4); s++) {
				struct tuple t = { .family = (uint8_t)fam };
				if (fam == FAM_V4) {
					t.dst = d < 8 ? 0x0a000000 | d : 0x0b000001;
					t.src = src4[s];
				} else {
					t.dst = d < 8 ? net6 | d : net6 | (u128)0xffff << 80 | 1;
					t.src = src6[s];
				}
				for (int proto = 0; proto < 2; proto++) {
					t.proto = proto ? PROTO_UDP : PROTO_TCP;
					for (size_t dp = 0; dp < sizeof(dports) / sizeof(*dports); dp++) {
						for (size_t sp = 0; sp < sizeof(sports) / sizeof(*sports); sp++) {
							t.dport = dports[dp];
							t.sport = sports[sp];
							for (uint32_t i = 0; i <= p->nifaces; i++) {
								t.iif = i < p->nifaces ? i : IIF_NONE;
								fn(ctx, &t);
							}
						}
					}
				}
			}
		}
	}
}

struct trial {
	const struct ir_policy *p;
	bool decides[MAX_RULES], shadowed[MAX_RULES];
	uint32_t by[MAX_RULES][MAX_RULES], nby[MAX_RULES];
	unsigned uncovered; /* tuples of a shadowed rule that no rule it names matches */
};

static void _report(void *ctx, const struct ir_rule *r, const uint32_t *by, uint32_t nby)
{
	struct trial *run = ctx;

	assert_true(nby > 0 && nby <= r->id);
	for (uint32_t i = 0; i < nby; i++) {
		assert_true(by[i] < r->id);
		assert_true(i == 0 || by[i - 1] < by[i]);
		run->by[r->id][i] = by[i];
	}
	run->nby[r->id] = nby;
	run->shadowed[r->id] = true;
}

static void _decide(void *ctx, const struct tuple *t)
{
	struct trial *run = ctx;
	struct verdict v = eval_tuple(run->p, t, NULL);

	if (v.rule != RULE_NONE)
		run->decides[v.rule] = true;
}

static void _check_cover(void *ctx, const struct tuple *t)
{
	struct trial *run = ctx;

	for (uint32_t i = 0; i < run->p->nrules; i++) {
		if (!run->shadowed[i] || !eval_rule_matches(&run->p->rules[i], t))
			continue;
		bool covered = false;
		for (uint32_t k = 0; k < run->nby[i] && !covered; k++)
			covered = eval_rule_matches(&run->p->rules[run->by[i][k]], t);
		run->uncovered += !covered;
	}
}

/* Runs the lint on TEXT against brute force; adds up the rules shadowed, and those by several rules. */
static void _check(const char *text, unsigned *nshadowed, unsigned *nseveral)
{
	struct frontend fe;
	struct frontend_opts o = { 0 };
	struct trial run = { 0 };

	assert_int_equal(frontend_run_mem(&fe, "<test>", text, strlen(text), &o), 0);
	if (fe.diags.nerrors)
		fail_msg("%s", text);
	assert_true(fe.ir.nrules <= MAX_RULES);
	run.p = &fe.ir;
	_each_tuple(&fe.ir, _decide, &run);
	shadow_analyze(&fe.ir, _report, &run);
	_each_tuple(&fe.ir, _check_cover, &run);
	for (uint32_t i = 0; i < fe.ir.nrules; i++) {
		if (run.shadowed[i] == run.decides[i])
			fail_msg("rule %u: lint says %s, brute force says %s\n%s", i,
				 run.shadowed[i] ? "shadowed" : "reachable", run.decides[i] ? "reachable" : "shadowed",
				 text);
		*nshadowed += run.shadowed[i];
		*nseveral += run.nby[i] > 1;
	}
	if (run.uncovered)
		fail_msg("%u tuples of shadowed rules not matched by the rules named\n%s", run.uncovered, text);
	frontend_free(&fe);
}

/* Rules filed by a src inside the rule's, which the lint gathers only when they might fill a hole. */
static void test_sources_inside(void **state)
{
	static const char *const policies[] = {
		/* They fill what the rule spanning the dst leaves. */
		"service a\n"
		"match tcp src 192.0.2.0/31 -> drop\n"
		"match tcp dst 10.0.0.0/29 src 192.0.2.2/31 -> pass\n"
		"match tcp dst 10.0.0.0/29 src 192.0.2.0/30 -> service a\n",
		/* They fill the rule's src entirely, with nothing spanning the dst. */
		"service a\n"
		"match tcp src 192.0.2.0/31 -> drop\n"
		"match tcp src 192.0.2.2/31 -> drop\n"
		"match tcp dst 10.0.0.0/29 src 192.0.2.0/30 port 80 -> service a\n",
		/* The hole spans the src the only one of them leaves out. */
		"service a\n"
		"match tcp src 192.0.2.0/31 -> drop\n"
		"match tcp dst 10.0.0.0/29 port 1-3 -> pass\n"
		"match tcp dst 10.0.0.0/29 src 192.0.2.0/30 port 1-4 -> service a\n",
		/* After them, the rule's second dst prefix. */
		"service a\n"
		"match tcp src 2001:db8:1::/127 -> drop\n"
		"match tcp dst { 10.0.0.0/30, 2001:db8::/126 } src { 192.0.2.2/31, 2001:db8:1::2/127 } -> pass\n"
		"match tcp dst { 10.0.0.4/30, 2001:db8::4/126 } -> pass\n"
		"match tcp dst { 2001:db8::/126, 2001:db8::4/126 } src 2001:db8:1::/126 -> service a\n",
	};
	unsigned nshadowed = 0, nseveral = 0;

	for (size_t i = 0; i < sizeof(policies) / sizeof(*policies); i++)
		_check(policies[i], &nshadowed, &nseveral);
	assert_int_equal(nshadowed, 3);
	assert_int_equal(nseveral, 3);
}

static void test_shadow_exact_in_every_dimension(void **state)
{
	unsigned nshadowed = 0, nseveral = 0;

	for (int round = 0; round < 600; round++) {
		char *text = _random_policy(1 + _r(MAX_RULES));
		_check(text, &nshadowed, &nseveral);
		free(text);
	}
	/* The generator exercises both answers, and covers by several rules. */
	assert_true(nshadowed > 100);
	assert_true(nseveral > 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources_inside),
		cmocka_unit_test(test_shadow_exact_in_every_dimension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
