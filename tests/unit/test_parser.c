/* grammar/parser.y and compiler/parse.c: the AST, syntax errors, recovery and the error limit. */
#include "unit.h"

#include "parse.h"
#include "scanner.h"

struct parsed {
	struct policy_ast ast;
	struct diag_list diags;
};

static struct parsed *parse(const char *text)
{
	struct parsed *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	diag_init(&p->diags);
	assert_int_equal(policy_parse_mem(&p->ast, TEST_NAME, text, strlen(text), &p->diags), 0);
	return p;
}

static void parsed_free(struct parsed *p)
{
	policy_ast_free(&p->ast);
	diag_free(&p->diags);
	free(p);
}

static unsigned count_stmts(const struct parsed *p)
{
	unsigned n = 0;

	for (const struct stmt *s = p->ast.stmts; s; s = s->next)
		n++;
	return n;
}

static void assert_loc(const struct location *l, unsigned line, unsigned col, unsigned end_line, unsigned end_col)
{
	if (l->line != line || l->col != col || l->end_line != end_line || l->end_col != end_col)
		fail_msg("span %u:%u-%u:%u, expected %u:%u-%u:%u", l->line, l->col, l->end_line, l->end_col, line, col,
			 end_line, end_col);
}

static void test_define_with_a_set(void **state)
{
	struct parsed *p = parse("define web_ports = { 80, 443, 8000-8099, }");
	const struct stmt *s = p->ast.stmts;

	assert_clean(&p->diags);
	assert_non_null(s);
	assert_int_equal(s->kind, STMT_DEFINE);
	assert_string_equal(s->define.name, "web_ports");
	assert_loc(&s->define.name_loc, 1, 8, 1, 16);
	assert_loc(&s->loc, 1, 1, 1, 42);

	const struct expr *set = s->define.value;
	assert_int_equal(set->kind, EXPR_SET);
	assert_loc(&set->loc, 1, 20, 1, 42);
	const struct expr *e = set->elems;
	assert_int_equal(e->kind, EXPR_NUMBER);
	assert_int_equal(e->num, 80);
	e = e->next;
	assert_int_equal(e->kind, EXPR_NUMBER);
	assert_int_equal(e->num, 443);
	e = e->next;
	assert_int_equal(e->kind, EXPR_RANGE);
	assert_int_equal(e->range.lo, 8000);
	assert_int_equal(e->range.hi, 8099);
	assert_loc(&e->loc, 1, 31, 1, 39);
	assert_null(e->next);
	parsed_free(p);
}

static void test_match_matchers_in_written_order(void **state)
{
	struct parsed *p = parse("match { tcp, udp } port $p dst 10.0.0.0/8 sport 1-2 src ::1 iif eth0 -> service web or pass");
	const struct stmt *s = p->ast.stmts;
	static const enum matcher_kind order[] = { M_PORT, M_DST, M_SPORT, M_SRC, M_IIF };

	assert_clean(&p->diags);
	assert_int_equal(s->kind, STMT_MATCH);
	assert_int_equal(s->match.proto->kind, EXPR_SET);
	assert_int_equal(s->match.proto->elems->proto, PROTO_TCP);
	assert_int_equal(s->match.proto->elems->next->proto, PROTO_UDP);

	const struct matcher *m = s->match.matchers;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++, m = m->next) {
		assert_non_null(m);
		assert_int_equal(m->kind, order[i]);
	}
	assert_null(m);
	m = s->match.matchers;
	assert_loc(&m->loc, 1, 20, 1, 23);
	assert_int_equal(m->value->kind, EXPR_VAR);
	assert_string_equal(m->value->text, "p");
	assert_int_equal(m->next->value->kind, EXPR_ADDR);
	assert_string_equal(m->next->value->text, "10.0.0.0/8");
	assert_int_equal(m->next->next->next->next->value->kind, EXPR_NAME);

	assert_int_equal(s->match.action.kind, ACT_SERVICE);
	assert_string_equal(s->match.action.service, "web");
	assert_int_equal(s->match.action.fallback, ACT_PASS);
	assert_loc(&s->match.action.service_loc, 1, 81, 1, 83);
	parsed_free(p);
}

static void test_actions_and_fallbacks(void **state)
{
	struct parsed *p = parse("match tcp -> service a\nmatch tcp -> service a or drop\nmatch tcp -> drop\n"
				 "match tcp -> pass\nmatch tcp -> forward 10.0.0.1:80\n");
	const struct stmt *s = p->ast.stmts;

	assert_clean(&p->diags);
	assert_int_equal(s->match.action.kind, ACT_SERVICE);
	assert_int_equal(s->match.action.fallback, ACT_DROP);
	s = s->next;
	assert_int_equal(s->match.action.fallback, ACT_DROP);
	s = s->next;
	assert_int_equal(s->match.action.kind, ACT_DROP);
	s = s->next;
	assert_int_equal(s->match.action.kind, ACT_PASS);
	s = s->next;
	assert_int_equal(s->match.action.kind, ACT_FORWARD);
	assert_non_null(s->match.action.forward);
	assert_string_equal(s->match.action.forward->addr, "10.0.0.1");
	assert_int_equal(s->match.action.forward->port, 80);
	assert_int_equal(s->loc.line, 5);
	parsed_free(p);
}

static void test_service_declarations(void **state)
{
	struct parsed *p = parse("service web\nservice dns = udp 127.0.0.1:5353, tcp [::1]:53");
	const struct stmt *s = p->ast.stmts;

	assert_clean(&p->diags);
	assert_int_equal(s->kind, STMT_SERVICE);
	assert_string_equal(s->service.name, "web");
	assert_null(s->service.socks);
	s = s->next;
	assert_string_equal(s->service.name, "dns");
	const struct sockdecl *d = s->service.socks;
	assert_int_equal(d->proto, PROTO_UDP);
	assert_string_equal(d->ep.addr, "127.0.0.1");
	assert_false(d->ep.bracketed);
	assert_int_equal(d->ep.port, 5353);
	assert_loc(&d->ep.port_loc, 2, 29, 2, 32);
	d = d->next;
	assert_int_equal(d->proto, PROTO_TCP);
	assert_string_equal(d->ep.addr, "::1");
	assert_true(d->ep.bracketed);
	assert_loc(&d->ep.addr_loc, 2, 40, 2, 42);
	assert_int_equal(d->ep.port, 53);
	assert_null(d->next);
	parsed_free(p);
}

static void test_expect_statement(void **state)
{
	struct parsed *p = parse("expect udp [2001:db8::1]:5000 -> [2001:db8::53]:53 iif eth0 : service dns\n"
				 "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 : drop");
	const struct stmt *s = p->ast.stmts;

	assert_clean(&p->diags);
	assert_int_equal(s->kind, STMT_EXPECT);
	const struct expect_stmt *x = s->expect;
	assert_int_equal(x->proto, PROTO_UDP);
	assert_string_equal(x->src.addr, "2001:db8::1");
	assert_true(x->src.bracketed);
	assert_int_equal(x->src.port, 5000);
	assert_string_equal(x->dst.addr, "2001:db8::53");
	assert_int_equal(x->dst.port, 53);
	assert_string_equal(x->iif, "eth0");
	assert_int_equal(x->verdict.kind, ACT_SERVICE);
	assert_string_equal(x->verdict.service, "dns");
	x = s->next->expect;
	assert_null(x->iif);
	assert_int_equal(x->verdict.kind, ACT_DROP);
	parsed_free(p);
}

static void test_semicolons_and_blank_lines_separate_statements(void **state)
{
	struct parsed *p = parse("\n\nservice a; service b ;; match tcp -> pass\n# c\n\n;match udp -> drop");

	assert_clean(&p->diags);
	assert_int_equal(count_stmts(p), 4);
	assert_int_equal(p->ast.stmts->next->next->loc.line, 3);
	assert_int_equal(p->ast.stmts->next->next->next->loc.line, 6);
	parsed_free(p);
}

static void test_sets_span_lines_and_nest(void **state)
{
	struct parsed *p = parse("define a = {\n  10.0.0.0/8,\n  { $b, 2001:db8::/32 }\n}\nservice x");

	assert_clean(&p->diags);
	assert_int_equal(count_stmts(p), 2);
	const struct expr *inner = p->ast.stmts->define.value->elems->next;
	assert_int_equal(inner->kind, EXPR_SET);
	assert_loc(&inner->loc, 3, 3, 3, 23);
	assert_int_equal(inner->elems->kind, EXPR_VAR);
	assert_loc(&p->ast.stmts->loc, 1, 1, 4, 1);
	parsed_free(p);
}

static void test_syntax_error_names_found_and_expected(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp dst 10.0.0.0/8 port 80 service web\n");
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 1, 34,
		     "syntax error, unexpected 'service', expected one of: '->', 'dst', 'src', 'port', 'sport', 'iif', '-'");
	frontend_free(&fe);

	fe_run(&fe, "define x 80\n");
	assert_error(&fe.diags, 1, 10, "syntax error, unexpected number '80', expected '='");
	frontend_free(&fe);

	/* A keyword where a name belongs says which keyword. */
	fe_run(&fe, "service match\n");
	assert_error(&fe.diags, 1, 9, "unexpected 'match', expected name");
	frontend_free(&fe);

	fe_run(&fe, "match tcp -> service\n");
	assert_error(&fe.diags, 1, 21, "unexpected end of line, expected name");
	frontend_free(&fe);

	fe_run(&fe, "service web = tcp 10.0.0.1:80 udp\n");
	assert_error(&fe.diags, 1, 31, "unexpected 'udp'");
	frontend_free(&fe);
}

static void test_syntax_error_quotes_the_token_text(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp dst 10.0.0.1 10.0.0.2 -> drop\nmatch tcp port 80 $v -> drop\nmatch tcp eth0 -> drop");
	assert_nerrors(&fe.diags, 3);
	assert_error(&fe.diags, 1, 24, "unexpected address '10.0.0.2'");
	assert_error(&fe.diags, 2, 19, "unexpected variable '$v'");
	assert_error(&fe.diags, 3, 11, "unexpected name 'eth0'");
	frontend_free(&fe);
}

static void test_unclosed_set_reports_at_the_end(void **state)
{
	struct frontend fe;

	fe_run(&fe, "define y = { 1, 2\n");
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 2, 1, "unexpected end of line, expected one of: ',', '-', '}'");
	frontend_free(&fe);
}

static void test_lexical_errors(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp dst 10.0.0.1 @ -> drop\ninclude \"x\n");
	assert_nerrors(&fe.diags, 2);
	assert_error(&fe.diags, 1, 24, "invalid character");
	assert_error(&fe.diags, 2, 9, "unterminated string");
	frontend_free(&fe);
}

static void test_deep_sets_are_refused(void **state)
{
	char text[256] = "define x = ";
	size_t n = strlen(text);
	struct frontend fe;

	for (int i = 0; i < MAX_SET_DEPTH + 1; i++)
		text[n++] = '{';
	text[n++] = '1';
	for (int i = 0; i < MAX_SET_DEPTH + 1; i++)
		text[n++] = '}';
	text[n] = '\0';
	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 1, 12 + MAX_SET_DEPTH, "sets nested deeper than 64");
	frontend_free(&fe);
}

static void test_recovery_reports_every_bad_statement(void **state)
{
	struct frontend fe;

	fe_run(&fe, "service web\n"
		    "match tcp dst 10.0.0.0/8 port -> service web\n"
		    "match tcp dst 10.1.0.0/16 -> service web\n"
		    "define = 3\n"
		    "match udp port 53 -> drop; match udp -> ; match tcp -> pass\n"
		    "expect tcp 192.0.2.1:1 -> 10.1.0.1:80 : service web\n");
	assert_nerrors(&fe.diags, 3);
	assert_error(&fe.diags, 2, 31, "unexpected '->'");
	assert_error(&fe.diags, 4, 8, "unexpected '=', expected name");
	assert_error(&fe.diags, 5, 41, "unexpected ';'");
	frontend_free(&fe);

	/* The statements around the errors are still in the AST. */
	struct parsed *p = parse("service web\nmatch tcp dst -> drop\nmatch tcp -> pass\nbogus\nmatch udp -> drop\n");
	assert_int_equal(p->diags.nerrors, 2);
	assert_int_equal(count_stmts(p), 3);
	assert_int_equal(p->ast.stmts->next->loc.line, 3);
	assert_int_equal(p->ast.stmts->next->next->loc.line, 5);
	parsed_free(p);
}

static void test_statements_after_a_syntax_error_are_checked(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp dst 10.0.0.0/8 port -> drop\nmatch tcp -> service nosuch\n");
	assert_nerrors(&fe.diags, 2);
	assert_error(&fe.diags, 2, 22, "undeclared service 'nosuch'");
	frontend_free(&fe);
}

/* N lines each with one syntax error. */
static char *bad_lines(unsigned n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "match tcp port -> drop\n");
	fclose(f);
	return text;
}

static void test_error_limit(void **state)
{
	struct frontend fe;
	char *text = bad_lines(25);

	fe_run(&fe, text);
	assert_int_equal(fe.diags.nerrors, 20);
	assert_true(fe.diags.truncated);
	assert_true(diag_full(&fe.diags));
	assert_true(diag_failed(&fe.diags));
	assert_error(&fe.diags, 20, 16, "unexpected '->'");
	assert_null(diag_find(&fe.diags, DIAG_ERROR, 21, 16, "unexpected"));
	frontend_free(&fe);
	free(text);

	/* Exactly at the limit nothing is dropped. */
	text = bad_lines(20);
	fe_run(&fe, text);
	assert_int_equal(fe.diags.nerrors, 20);
	assert_false(fe.diags.truncated);
	frontend_free(&fe);
	free(text);
}

static void test_error_limit_is_settable(void **state)
{
	struct diag_list d;
	struct location loc = { 0 };

	diag_init(&d);
	d.max_errors = 2;
	diag_error(&d, &loc, "one");
	diag_warning(&d, &loc, "a warning is not counted");
	diag_error(&d, &loc, "two");
	diag_note(&d, &loc, "note on two");
	diag_error(&d, &loc, "three");
	diag_note(&d, &loc, "note on three, dropped with it");
	assert_int_equal(d.nerrors, 2);
	assert_int_equal(d.nwarnings, 1);
	assert_true(d.truncated);
	assert_non_null(diag_find(&d, DIAG_NOTE, 0, 0, "note on two"));
	assert_null(diag_find(&d, DIAG_NOTE, 0, 0, "note on three"));
	assert_null(diag_find(&d, DIAG_ERROR, 0, 0, "three"));
	diag_free(&d);
}

static void test_include_refused_in_memory(void **state)
{
	struct frontend fe;

	fe_run(&fe, "service web\ninclude \"other.steer\"\nmatch tcp -> service web\n");
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 2, 9, "include is not available in a policy read from <test>");
	assert_int_equal(fe.ir.nrules, 1);
	frontend_free(&fe);
}

static void test_empty_policy_is_valid(void **state)
{
	struct frontend fe;

	fe_run(&fe, "");
	assert_clean(&fe.diags);
	assert_int_equal(fe.ir.nrules, 0);
	frontend_free(&fe);
	fe_run(&fe, "# only a comment\n\n;\n");
	assert_clean(&fe.diags);
	frontend_free(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_define_with_a_set),
		cmocka_unit_test(test_match_matchers_in_written_order),
		cmocka_unit_test(test_actions_and_fallbacks),
		cmocka_unit_test(test_service_declarations),
		cmocka_unit_test(test_expect_statement),
		cmocka_unit_test(test_semicolons_and_blank_lines_separate_statements),
		cmocka_unit_test(test_sets_span_lines_and_nest),
		cmocka_unit_test(test_syntax_error_names_found_and_expected),
		cmocka_unit_test(test_syntax_error_quotes_the_token_text),
		cmocka_unit_test(test_unclosed_set_reports_at_the_end),
		cmocka_unit_test(test_lexical_errors),
		cmocka_unit_test(test_deep_sets_are_refused),
		cmocka_unit_test(test_recovery_reports_every_bad_statement),
		cmocka_unit_test(test_statements_after_a_syntax_error_are_checked),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test(test_error_limit_is_settable),
		cmocka_unit_test(test_include_refused_in_memory),
		cmocka_unit_test(test_empty_policy_is_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
