/* grammar/scanner.l: tokens, their values and their exact spans, driven through yylex. */
#include "unit.h"

#include "parser.h"
#include "scanner.h"

/* The reentrant scanner's entry points, as the parser declares them. */
int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
int yylex_init_extra(struct scanner_extra *extra, yyscan_t *scanner);
int yylex_destroy(yyscan_t scanner);
void *yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);

#define MAX_TOKENS 256

struct tok {
	int kind;
	YYSTYPE val;
	YYLTYPE loc;
};

struct scan {
	struct source_set sources;
	struct arena arena;
	struct tok t[MAX_TOKENS];
	unsigned n; /* tokens before the end of input (0) */
};

static struct scan *scan(const char *text)
{
	struct scan *s = calloc(1, sizeof(*s));
	struct source *src;
	yyscan_t scanner;

	assert_non_null(s);
	src = source_from_mem(&s->sources, TEST_NAME, text, strlen(text));
	struct scanner_extra extra = { .src = src, .arena = &s->arena, .line = 1, .col = 1 };
	assert_int_equal(yylex_init_extra(&extra, &scanner), 0);
	yy_scan_bytes(src->text, (int)src->len, scanner);
	for (;;) {
		struct tok *t = &s->t[s->n];
		assert_true(s->n < MAX_TOKENS);
		t->kind = yylex(&t->val, &t->loc, scanner);
		if (t->kind == 0)
			break;
		s->n++;
	}
	yylex_destroy(scanner);
	return s;
}

static void scan_free(struct scan *s)
{
	arena_release(&s->arena);
	source_set_free(&s->sources);
	free(s);
}

static void assert_kinds(const struct scan *s, const int *kinds, unsigned n)
{
	for (unsigned i = 0; i < n && i < s->n; i++) {
		if (s->t[i].kind != kinds[i])
			fail_msg("token %u is %d, expected %d", i, s->t[i].kind, kinds[i]);
	}
	assert_int_equal(s->n, n);
}

#define ASSERT_KINDS(s, ...)                                                                                       \
	do {                                                                                                      \
		static const int _k[] = { __VA_ARGS__ };                                                          \
		assert_kinds(s, _k, sizeof(_k) / sizeof(_k[0]));                                                  \
	} while (0)

static void assert_span(const struct tok *t, unsigned line, unsigned col, unsigned end_line, unsigned end_col)
{
	if (t->loc.line != line || t->loc.col != col || t->loc.end_line != end_line || t->loc.end_col != end_col)
		fail_msg("span %u:%u-%u:%u, expected %u:%u-%u:%u", t->loc.line, t->loc.col, t->loc.end_line,
			 t->loc.end_col, line, col, end_line, end_col);
}

static void test_keywords_are_lower_case_and_whole_words(void **state)
{
	struct scan *s = scan("match tcp udp dst src port sport iif drop pass or forward define include service expect "
			      "Match matches tcpx");

	ASSERT_KINDS(s, MATCH, TCP, UDP, DST, SRC, PORT, SPORT, IIF, DROP, PASS, OR, FORWARD, DEFINE, INCLUDE, SERVICE,
		     EXPECT, NAME, NAME, NAME, NEWLINE);
	assert_string_equal(s->t[16].val.str, "Match");
	assert_string_equal(s->t[17].val.str, "matches");
	scan_free(s);
}

static void test_spans_of_a_rule(void **state)
{
	struct scan *s = scan("match tcp dst 10.0.0.0/8 port 80 -> service web");

	ASSERT_KINDS(s, MATCH, TCP, DST, ADDR, PORT, NUMBER, ARROW, SERVICE, NAME, NEWLINE);
	assert_span(&s->t[0], 1, 1, 1, 5);
	assert_span(&s->t[1], 1, 7, 1, 9);
	assert_span(&s->t[2], 1, 11, 1, 13);
	assert_span(&s->t[3], 1, 15, 1, 24);
	assert_span(&s->t[4], 1, 26, 1, 29);
	assert_span(&s->t[5], 1, 31, 1, 32);
	assert_span(&s->t[6], 1, 34, 1, 35);
	assert_span(&s->t[8], 1, 45, 1, 47);
	assert_string_equal(s->t[3].val.str, "10.0.0.0/8");
	assert_int_equal(s->t[5].val.num, 80);
	assert_string_equal(s->t[8].val.str, "web");
	/* The end-of-input newline sits just past the last character. */
	assert_span(&s->t[9], 1, 48, 1, 48);
	scan_free(s);
}

static void test_lines_and_columns_across_newlines(void **state)
{
	struct scan *s = scan("pass\n\n  drop ;\tpass\n");

	ASSERT_KINDS(s, PASS, NEWLINE, NEWLINE, DROP, ';', PASS, NEWLINE, NEWLINE);
	assert_span(&s->t[1], 1, 5, 1, 5);
	assert_span(&s->t[2], 2, 1, 2, 1);
	assert_span(&s->t[3], 3, 3, 3, 6);
	assert_span(&s->t[4], 3, 8, 3, 8);
	/* A tab is one column, as the caret printer reproduces tabs. */
	assert_span(&s->t[5], 3, 10, 3, 13);
	assert_span(&s->t[7], 4, 1, 4, 1);
	scan_free(s);
}

static void test_last_statement_needs_no_newline(void **state)
{
	struct scan *s = scan("pass");

	ASSERT_KINDS(s, PASS, NEWLINE);
	scan_free(s);
	s = scan("");
	ASSERT_KINDS(s, NEWLINE);
	scan_free(s);
}

static void test_comments_and_carriage_returns_are_skipped(void **state)
{
	struct scan *s = scan("# a comment, with -> and { braces\r\npass # trailing\r\n#\xc3\xa9t\xc3\xa9\ndrop");

	ASSERT_KINDS(s, NEWLINE, PASS, NEWLINE, NEWLINE, DROP, NEWLINE);
	assert_span(&s->t[4], 4, 1, 4, 4);
	scan_free(s);
}

static void test_newlines_inside_braces_do_not_end_a_statement(void **state)
{
	struct scan *s = scan("define x = {\n 80,\n 443\n}\npass");

	ASSERT_KINDS(s, DEFINE, NAME, '=', '{', NUMBER, ',', NUMBER, '}', NEWLINE, PASS, NEWLINE);
	assert_span(&s->t[6], 3, 2, 3, 4);
	assert_span(&s->t[7], 4, 1, 4, 1);
	scan_free(s);
}

static void test_addresses_are_one_token_even_when_invalid(void **state)
{
	struct scan *s = scan("192.168.400.0/24 2001:db8::/32 ::1 ::ffff:192.0.2.1 1.2.3 fe80::1:2:3 ::");

	ASSERT_KINDS(s, ADDR, ADDR, ADDR, ADDR, ADDR, ADDR, ADDR, NEWLINE);
	assert_string_equal(s->t[0].val.str, "192.168.400.0/24");
	assert_span(&s->t[0], 1, 1, 1, 16);
	assert_string_equal(s->t[1].val.str, "2001:db8::/32");
	assert_string_equal(s->t[3].val.str, "::ffff:192.0.2.1");
	assert_string_equal(s->t[4].val.str, "1.2.3");
	assert_string_equal(s->t[6].val.str, "::");
	scan_free(s);
}

static void test_endpoints_split_at_the_port(void **state)
{
	struct scan *s = scan("192.0.2.1:80 [2001:db8::1]:443");

	ASSERT_KINDS(s, ADDR, ':', NUMBER, '[', ADDR, ']', ':', NUMBER, NEWLINE);
	assert_string_equal(s->t[0].val.str, "192.0.2.1");
	assert_int_equal(s->t[2].val.num, 80);
	assert_string_equal(s->t[4].val.str, "2001:db8::1");
	assert_span(&s->t[4], 1, 15, 1, 25);
	assert_int_equal(s->t[7].val.num, 443);
	scan_free(s);

	/* Unbracketed, an IPv6 address swallows the port: the checker explains it. */
	s = scan("::1:80");
	ASSERT_KINDS(s, ADDR, NEWLINE);
	assert_string_equal(s->t[0].val.str, "::1:80");
	scan_free(s);
}

static void test_numbers_ranges_and_saturation(void **state)
{
	struct scan *s = scan("8000-8099 65536 0 99999999999999999999999 18446744073709551615");

	ASSERT_KINDS(s, NUMBER, '-', NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NEWLINE);
	assert_int_equal(s->t[0].val.num, 8000);
	assert_int_equal(s->t[2].val.num, 8099);
	assert_int_equal(s->t[3].val.num, 65536);
	assert_int_equal(s->t[4].val.num, 0);
	assert_true(s->t[5].val.num == UINT64_MAX);
	/* Saturation is conservative: the largest values read as "too large" too. */
	assert_true(s->t[6].val.num == UINT64_MAX);
	scan_free(s);
}

static void test_variables_names_and_dashes(void **state)
{
	struct scan *s = scan("$web_ports eth0 my-svc eth0.100 a- -> $");

	ASSERT_KINDS(s, VAR, NAME, NAME, NAME, NAME, '-', ARROW, JUNK, NEWLINE);
	assert_string_equal(s->t[0].val.str, "web_ports");
	assert_span(&s->t[0], 1, 1, 1, 10);
	assert_string_equal(s->t[2].val.str, "my-svc");
	assert_string_equal(s->t[3].val.str, "eth0.100");
	assert_string_equal(s->t[4].val.str, "a");
	scan_free(s);
}

static void test_strings_and_unterminated_strings(void **state)
{
	struct scan *s = scan("include \"dir/x.steer\"\ninclude \"open\npass");

	ASSERT_KINDS(s, INCLUDE, STRING, NEWLINE, INCLUDE, BADSTRING, NEWLINE, PASS, NEWLINE);
	assert_string_equal(s->t[1].val.str, "dir/x.steer");
	assert_span(&s->t[1], 1, 9, 1, 21);
	assert_span(&s->t[4], 2, 9, 2, 13);
	scan_free(s);
}

static void test_invalid_bytes_are_junk_tokens(void **state)
{
	struct scan *s = scan("pass @ \xc3\xa9");

	ASSERT_KINDS(s, PASS, JUNK, JUNK, JUNK, NEWLINE);
	assert_span(&s->t[1], 1, 6, 1, 6);
	scan_free(s);
}

static void test_set_depth_limit(void **state)
{
	char text[MAX_SET_DEPTH + 2];

	memset(text, '{', MAX_SET_DEPTH + 1);
	text[MAX_SET_DEPTH + 1] = '\0';
	struct scan *s = scan(text);
	assert_int_equal(s->n, MAX_SET_DEPTH + 2);
	assert_int_equal(s->t[MAX_SET_DEPTH - 1].kind, '{');
	assert_int_equal(s->t[MAX_SET_DEPTH].kind, DEEPSET);
	assert_span(&s->t[MAX_SET_DEPTH], 1, MAX_SET_DEPTH + 1, 1, MAX_SET_DEPTH + 1);
	scan_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keywords_are_lower_case_and_whole_words),
		cmocka_unit_test(test_spans_of_a_rule),
		cmocka_unit_test(test_lines_and_columns_across_newlines),
		cmocka_unit_test(test_last_statement_needs_no_newline),
		cmocka_unit_test(test_comments_and_carriage_returns_are_skipped),
		cmocka_unit_test(test_newlines_inside_braces_do_not_end_a_statement),
		cmocka_unit_test(test_addresses_are_one_token_even_when_invalid),
		cmocka_unit_test(test_endpoints_split_at_the_port),
		cmocka_unit_test(test_numbers_ranges_and_saturation),
		cmocka_unit_test(test_variables_names_and_dashes),
		cmocka_unit_test(test_strings_and_unterminated_strings),
		cmocka_unit_test(test_invalid_bytes_are_junk_tokens),
		cmocka_unit_test(test_set_depth_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
