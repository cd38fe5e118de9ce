/*
 * The table strategy's data and the tree's port classes against the reference
 * evaluator, and the exact shadowing lint against brute force, on random
 * policies over a universe small enough to enumerate; and the evaluator's
 * fallbacks.
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
#include "table.h"
#include "tree.h"

static void policy(struct frontend *fe, const char *text)
{
	struct frontend_opts o = { .lint = true, .expects = true };

	assert_int_equal(frontend_run_mem(fe, "<test>", text, strlen(text), &o), 0);
}

static struct tuple _t4(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	return (struct tuple){ .proto = proto, .family = FAM_V4, .src = src, .dst = dst, .sport = sport, .dport = dport,
			       .iif = IIF_NONE };
}

static void test_first_match_and_default(void **state)
{
	struct frontend fe;

	policy(&fe, "service a\nservice b\n"
		    "match tcp src 192.0.2.0/24 -> drop\n"
		    "match tcp dst 10.0.0.0/8 port 80 -> service a\n"
		    "match { tcp, udp } dst 10.0.0.0/8 -> service b or pass\n"
		    "match udp sport 53 -> pass\n");
	struct verdict v = eval_tuple(&fe.ir, &(struct tuple){ 0 }, NULL);
	struct tuple t = _t4(PROTO_TCP, 0xc0000201, 1000, 0x0a000001, 80);
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_int_equal(v.kind, ACT_DROP);
	assert_int_equal(v.rule, 0);
	t.src = 0xc6336401;
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_int_equal(v.kind, ACT_SERVICE);
	assert_int_equal(v.service, 0);
	t.dport = 81;
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_int_equal(v.rule, 2);
	t.dst = 0x0b000001; /* no rule: pass */
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_int_equal(v.kind, ACT_PASS);
	assert_int_equal(v.rule, RULE_NONE);
	t = _t4(PROTO_UDP, 1, 53, 0x0b000001, 9);
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_int_equal(v.rule, 3);
	frontend_free(&fe);
}

static bool _no_socket(const void *ctx, uint32_t service, uint8_t proto, uint8_t family)
{
	return false;
}

static void test_fallbacks(void **state)
{
	struct frontend fe;
	struct sock_model none = { .usable = _no_socket };

	policy(&fe, "service a\nmatch tcp port 80 -> service a\nmatch tcp port 81 -> service a or pass\n");
	struct tuple t = _t4(PROTO_TCP, 1, 1, 2, 80);
	assert_int_equal(eval_tuple(&fe.ir, &t, &none).kind, ACT_DROP);
	t.dport = 81;
	assert_int_equal(eval_tuple(&fe.ir, &t, &none).kind, ACT_PASS);
	frontend_free(&fe);
}

/* ---- random policies over a tiny universe: 10.0.0.0/28 x ports 1-8 ---- */

static uint64_t _s = 12345;

static unsigned _r(unsigned n)
{
	_s = _s * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((_s >> 33) % n);
}

/* NRULES tcp rules on 10.0.0.0/28 and ports 1-8; with PORTLESS, some test no port. */
static char *_random_policy_of(unsigned nrules, bool portless)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fputs("service a\n", f);
	for (unsigned i = 0; i < nrules; i++) {
		unsigned plen = 28 + _r(5), addr = _r(16) & ~((1u << (32 - plen)) - 1);
		unsigned lo = 1 + _r(8), hi = lo + _r(9 - lo);
		if (portless && !_r(4))
			fprintf(f, "match tcp dst 10.0.0.%u/%u -> %s\n", addr, plen, _r(2) ? "service a" : "drop");
		else if (portless && !_r(6)) /* takes its ports: later rules' edges inside them make no new class */
			fprintf(f, "match tcp port %u-%u -> pass\n", lo, hi);
		else
			fprintf(f, "match tcp dst 10.0.0.%u/%u port %u-%u -> %s\n", addr, plen, lo, hi,
				_r(3) ? "service a" : _r(2) ? "drop" : "pass");
	}
	fclose(f);
	return buf;
}

static char *_random_policy(unsigned nrules)
{
	return _random_policy_of(nrules, false);
}

static void _mark(void *ctx, const struct ir_rule *r, const uint32_t *by, uint32_t nby)
{
	bool *shadowed = ctx;

	assert_true(nby > 0);
	for (uint32_t i = 0; i < nby; i++)
		assert_true(by[i] < r->id);
	shadowed[r->id] = true;
}

/* Every tuple of the universe: the lint's shadowed set is exactly the rules that decide none. */
static void test_shadow_exact_brute_force(void **state)
{
	for (int round = 0; round < 300; round++) {
		unsigned n = 1 + _r(8);
		char *text = _random_policy(n);
		struct frontend fe;
		struct frontend_opts o = { 0 };
		bool decides[8] = { 0 }, shadowed[8] = { 0 };

		assert_int_equal(frontend_run_mem(&fe, "<test>", text, strlen(text), &o), 0);
		assert_int_equal(fe.diags.nerrors, 0);
		for (uint32_t a = 0; a < 16; a++) {
			for (uint16_t port = 1; port <= 8; port++) {
				struct tuple t = _t4(PROTO_TCP, 0xc0000201, 4000, 0x0a000000 | a, port);
				struct verdict v = eval_tuple(&fe.ir, &t, NULL);
				if (v.rule != RULE_NONE)
					decides[v.rule] = true;
			}
		}
		shadow_analyze(&fe.ir, _mark, shadowed);
		for (unsigned i = 0; i < n; i++)
			if (shadowed[i] == decides[i])
				fail_msg("rule %u: lint says %s, brute force says %s\n%s", i,
					 shadowed[i] ? "shadowed" : "reachable", decides[i] ? "reachable" : "shadowed", text);
		frontend_free(&fe);
		free(text);
	}
}

/* The table's data, walked as the BPF program walks it, decides every tuple as the evaluator does. */
static void test_table_agrees(void **state)
{
	for (int round = 0; round < 200; round++) {
		char *text = _random_policy(1 + _r(12));
		struct frontend fe;
		struct frontend_opts o = { 0 };
		struct table tab;

		assert_int_equal(frontend_run_mem(&fe, "<test>", text, strlen(text), &o), 0);
		assert_int_equal(table_build(&fe.ir, &tab), 0);
		for (uint32_t a = 0; a < 20; a++) {
			for (uint16_t port = 0; port <= 9; port++) {
				struct tuple t = _t4(PROTO_TCP, 0xc0000201, 4000, 0x0a000000 | a, port);
				struct verdict v = eval_tuple(&fe.ir, &t, NULL);
				uint32_t got = table_lookup(&tab, &fe.ir, &t);
				int64_t want = v.rule == RULE_NONE ? fe.ir.nrules : v.rule;
				if ((int64_t)got != want)
					fail_msg("10.0.0.%u port %u: table %u, evaluator %lld\n%s", a, port, got,
						 (long long)v.rule, text);
			}
		}
		table_free(&tab);
		frontend_free(&fe);
		free(text);
	}
}

/*
 * The tree's port classes cover every port once, and the class of a port,
 * its rules tested in order, decides every tuple as the evaluator does.
 */
static void test_tree_classes_agree(void **state)
{
	unsigned split = 0, merged = 0;

	for (int round = 0; round < 200; round++) {
		char *text = _random_policy_of(8 + _r(16), true);
		struct frontend fe;
		struct frontend_opts o = { 0 };
		struct tree tr;

		assert_int_equal(frontend_run_mem(&fe, "<test>", text, strlen(text), &o), 0);
		assert_int_equal(tree_build(&fe.ir, &tr), 0);
		const struct tree_group *g = &tr.groups[0]; /* ip tcp: every rule is there */
		assert_int_equal(g->family, FAM_V4);
		assert_int_equal(g->proto, PROTO_TCP);
		assert_true(g->nclasses >= 1);
		assert_int_equal(g->classes[0].lo, 0);
		assert_int_equal(g->classes[g->nclasses - 1].hi, 65535);
		for (uint32_t c = 1; c < g->nclasses; c++)
			assert_int_equal(g->classes[c].lo, g->classes[c - 1].hi + 1);
		split += g->nclasses > 1;
		for (uint32_t c = 0; c < g->nclasses; c++) /* a class over some rule's edge: two runs merged */
			for (uint32_t i = 0; i < g->nrules; i++)
				for (uint32_t k = 0; k < fe.ir.rules[g->rules[i]].m.dport.n; k++)
					merged += g->classes[c].lo < fe.ir.rules[g->rules[i]].m.dport.v[k].lo &&
						  fe.ir.rules[g->rules[i]].m.dport.v[k].lo <= g->classes[c].hi;
		for (uint32_t a = 0; a < 20; a++) {
			for (uint16_t port = 0; port <= 10; port++) {
				struct tuple t = _t4(PROTO_TCP, 0xc0000201, 4000, 0x0a000000 | a, port);
				struct verdict v = eval_tuple(&fe.ir, &t, NULL);
				uint32_t c = 0;
				int64_t got = RULE_NONE;
				while (g->classes[c].hi < port)
					c++;
				for (uint32_t k = 0; k < g->classes[c].n && got == RULE_NONE; k++) {
					const struct ir_rule *r = &fe.ir.rules[g->rules[g->members[g->classes[c].first + k]]];
					if (eval_rule_matches(r, &t))
						got = r->id;
				}
				if (got != v.rule)
					fail_msg("10.0.0.%u port %u: tree %lld, evaluator %lld\n%s", a, port, (long long)got,
						 (long long)v.rule, text);
			}
		}
		tree_free(&tr);
		frontend_free(&fe);
		free(text);
	}
	/* Most of these policies are split, with classes of several ports; the test would prove little otherwise. */
	assert_true(split > 100);
	assert_true(merged > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match_and_default),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_shadow_exact_brute_force),
		cmocka_unit_test(test_table_agrees),
		cmocka_unit_test(test_tree_classes_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
