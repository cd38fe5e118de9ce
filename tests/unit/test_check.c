/*
 * compiler/check.c (and the expect and lint stages behind it): every SPEC §2
 * diagnostic, each at the span of the construct at fault.
 */
#include "unit.h"

/* TEXT has exactly one error, spanning NEEDLE on LINE, saying MSG. */
static void one_error(const char *text, unsigned line, const char *needle, const char *msg)
{
	struct frontend fe;

	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error_at(&fe.diags, text, line, needle, msg);
	assert_true(diag_failed(&fe.diags));
	frontend_free(&fe);
}

/* One error at NEEDLE on LINE, and its note at NOTE_NEEDLE on NOTE_LINE pointing back to the first. */
static void error_with_note(const char *text, unsigned line, const char *needle, const char *msg, unsigned note_line,
			    const char *note_needle, const char *note)
{
	struct frontend fe;

	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error_at(&fe.diags, text, line, needle, msg);
	assert_note_at(&fe.diags, text, note_line, note_needle, note);
	frontend_free(&fe);
}

static void test_undefined_variable(void **state)
{
	one_error("match tcp dst $nope -> drop\n", 1, "$nope", "undefined variable '$nope'");
	/* Inside a set, and inside a define. */
	one_error("match tcp port { 80, $nope } -> drop\n", 1, "$nope", "undefined variable '$nope'");
	one_error("define a = { 10.0.0.0/8, $nope }\nmatch tcp dst $a -> drop\n", 1, "$nope",
		  "undefined variable '$nope'");
}

static void test_variable_must_be_defined_before_use(void **state)
{
	one_error("match tcp port $p -> drop\ndefine p = 80\n", 1, "$p", "undefined variable '$p'");
}

static void test_redefinition_notes_the_first(void **state)
{
	error_with_note("define p = 80\ndefine p = 81\n", 2, "p", "redefinition of 'p'", 1, "p", "'p' was defined here");
}

static void test_set_mixing_kinds(void **state)
{
	one_error("define s = { 80, 10.0.0.1 }\n", 1, "10.0.0.1", "set mixes ports and addresses");
	one_error("define a = 10.0.0.0/8\ndefine p = { 80, $a }\n", 2, "$a", "set mixes ports and addresses");
	one_error("match { tcp, 80 } -> drop\n", 1, "80", "set mixes protocols and ports");
	one_error("match tcp iif { eth0, 80 } -> drop\n", 1, "80", "set mixes interface names and ports");
}

static void test_kind_mismatch_in_matchers(void **state)
{
	one_error("match tcp port 10.0.0.1 -> drop\n", 1, "10.0.0.1", "'port' expects ports, got addresses");
	one_error("match tcp dst 80 -> drop\n", 1, "80", "'dst' expects addresses, got ports");
	one_error("match tcp src 1-2 -> drop\n", 1, "1-2", "'src' expects addresses, got ports");
	one_error("match tcp iif 80 -> drop\n", 1, "80", "'iif' expects interface names, got ports");
	one_error("define a = { 10.0.0.0/8 }\nmatch tcp sport $a -> drop\n", 2, "$a",
		  "'sport' expects ports, got addresses");
	one_error("match tcp port udp -> drop\n", 1, "udp", "'port' expects ports, got protocols");
	one_error("match 80 -> drop\n", 1, "80", "a rule's protocol expects protocols, got ports");
}

static void test_a_name_where_a_variable_was_meant(void **state)
{
	one_error("define web = 10.0.0.0/8\nmatch tcp dst web -> drop\n", 2, "web",
		  "'dst' expects addresses, got the name 'web'; did you mean '$web'?");

	/* Without such a define there is nothing to suggest. */
	const char *text = "match tcp dst eth0 -> drop\n";
	struct frontend fe;
	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error_at(&fe.diags, text, 1, "eth0", "'dst' expects addresses, got the name 'eth0'");
	assert_null(diag_find(&fe.diags, DIAG_ERROR, 0, 0, "did you mean"));
	frontend_free(&fe);
}

static void test_rule_starts_with_its_protocol(void **state)
{
	one_error("match tpc dst 10.0.0.1 -> drop\n", 1, "tpc",
		  "a rule starts with its protocol: tcp, udp or { tcp, udp }; got the name 'tpc'");
}

static void test_invalid_ports(void **state)
{
	struct frontend fe;
	const char *text = "match tcp port 0 -> drop\nmatch tcp sport 65536 -> drop\n"
			   "match tcp port 99999999999999999999 -> drop\nmatch tcp port 65535 -> drop\n";

	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 3);
	assert_error_at(&fe.diags, text, 1, "0", "invalid port 0 (ports are 1-65535)");
	assert_error_at(&fe.diags, text, 2, "65536", "invalid port 65536 (ports are 1-65535)");
	assert_error_at(&fe.diags, text, 3, "99999999999999999999",
			"invalid port: number too large (ports are 1-65535)");
	frontend_free(&fe);
}

static void test_invalid_port_in_a_range(void **state)
{
	one_error("match tcp port 1-70000 -> drop\n", 1, "1-70000", "invalid port 70000 (ports are 1-65535)");
	one_error("match tcp port 0-10 -> drop\n", 1, "0-10", "invalid port 0 (ports are 1-65535)");
}

static void test_reversed_range_suggests_the_other_way(void **state)
{
	one_error("match tcp port 90-80 -> drop\n", 1, "90-80", "reversed port range 90-80; did you mean 80-90?");
}

static void test_invalid_addresses_and_prefixes(void **state)
{
	one_error("match tcp dst 192.168.400.1 -> drop\n", 1, "192.168.400.1", "invalid address '192.168.400.1'");
	one_error("match tcp dst 192.168.400.0/24 -> drop\n", 1, "192.168.400.0/24",
		  "invalid prefix '192.168.400.0/24'");
	one_error("match tcp src 2001:db8:::1 -> drop\n", 1, "2001:db8:::1", "invalid address '2001:db8:::1'");
}

static void test_prefix_length_out_of_range(void **state)
{
	one_error("match tcp dst 10.0.0.0/33 -> drop\n", 1, "10.0.0.0/33",
		  "invalid prefix '10.0.0.0/33': the length must be 0-32");
	one_error("match tcp dst 2001:db8::/129 -> drop\n", 1, "2001:db8::/129",
		  "invalid prefix '2001:db8::/129': the length must be 0-128");
}

static void test_host_bits_suggest_the_network(void **state)
{
	one_error("match tcp dst 192.168.1.1/24 -> drop\n", 1, "192.168.1.1/24",
		  "prefix '192.168.1.1/24' has host bits set; did you mean '192.168.1.0/24'?");
	one_error("define six = { 2001:db8::1/32 }\n", 1, "2001:db8::1/32",
		  "prefix '2001:db8::1/32' has host bits set; did you mean '2001:db8::/32'?");
}

static void test_an_error_in_a_define_is_reported_once(void **state)
{
	one_error("define p = { 0, 80 }\nmatch tcp port $p -> drop\nmatch udp port { $p, 90 } -> drop\n", 1, "0",
		  "invalid port 0");
}

static void test_duplicate_matcher_notes_the_first(void **state)
{
	const char *text = "match tcp port 80 dst 10.0.0.1 port 81 -> drop\n";
	struct frontend fe;

	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 1, 32, "duplicate 'port' matcher: each matcher may appear once in a rule");
	assert_note_at(&fe.diags, text, 1, "port", "first 'port' is here");
	frontend_free(&fe);
}

static void test_undeclared_service(void **state)
{
	one_error("match tcp -> service nosuch\n", 1, "nosuch", "undeclared service 'nosuch'");
	one_error("service web\nmatch tcp -> service web\nexpect tcp 192.0.2.1:1 -> 192.0.2.2:2 : service nosuch\n",
		  3, "nosuch", "undeclared service 'nosuch'");
}

static void test_service_may_be_declared_after_its_rules(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp -> service web\nservice web\n");
	assert_clean(&fe.diags);
	assert_int_equal(fe.ir.nrules, 1);
	assert_int_equal(fe.ir.rules[0].act.service, 0);
	frontend_free(&fe);
}

static void test_duplicate_service_notes_the_first(void **state)
{
	error_with_note("service web\nmatch tcp -> service web\nservice web = tcp 10.0.0.1:80\n", 3, "web",
			"service 'web' is already declared", 1, "web", "first declared here");
}

static void test_one_socket_address_per_protocol_and_family(void **state)
{
	one_error("service dns = udp 127.0.0.1:53, udp 127.0.0.2:53\nmatch udp -> service dns\n", 1, "udp 127.0.0.2:53",
		  "service 'dns' already has a udp IPv4 socket address");

	/* Another protocol or family is another socket. */
	struct frontend fe;
	fe_run(&fe, "service dns = udp 127.0.0.1:53, tcp 127.0.0.1:53, udp [::1]:53\nmatch udp -> service dns\n");
	assert_clean(&fe.diags);
	assert_int_equal(fe.ir.services[0].nsocks, 3);
	assert_int_equal(fe.ir.services[0].socks[2].family, FAM_V6);
	assert_int_equal(fe.ir.services[0].socks[2].port, 53);
	frontend_free(&fe);
}

static void test_forward_mistakes(void **state)
{
	one_error("match udp dst 10.0.0.1 -> forward 10.0.0.2:53\n", 1, "forward 10.0.0.2:53",
		  "'forward' is TCP only, and this rule matches udp");
	one_error("match tcp dst 10.0.0.1 -> forward sni { }\n", 1, "forward sni { }", "needs at least one");
	one_error("match tcp dst 10.0.0.1 -> forward tls { \"a\": 10.0.0.2:1 }\n", 1, "tls",
		  "'forward' takes ADDR:PORT, sni { ... } or host { ... }, not 'tls'");
	one_error("match tcp port 1 -> forward sni { \"a_b.example\": 10.0.0.2:1 }\n", 1, "\"a_b.example\"",
		  "'a_b.example' is not a server name: a character that is not a letter, digit, '-' or '.'");
	one_error("match tcp port 1 -> forward sni { \"a-.example\": 10.0.0.2:1 }\n", 1, "\"a-.example\"",
		  "a label that ends with '-'");
	one_error("match tcp port 1 -> forward host { \"*\": 10.0.0.2:1 }\n", 1, "\"*\"", "'*' anywhere but a leading '*.'");
	error_with_note("match tcp port 1 -> forward sni {\n \"a.example\": 10.0.0.2:1,\n \"A.Example\": 10.0.0.3:1 }\n", 3,
			"\"A.Example\"", "'A.Example' is already in the forward map", 2, "\"a.example\"", "first here");
	one_error("match tcp port 1 -> forward sni { \"a.example\": 10.0.0.2 }\n", 1, "10.0.0.2", "an endpoint needs a port");
}

static void test_forward_lowered(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp port 1 -> forward sni { \"A.example\": [::1]:9, \"*.b.EXAMPLE\": 10.0.0.2:8 }\n"
		    "match tcp port 2 -> forward 10.0.0.3:7\n"
		    "match tcp port 3 -> forward host { \"c.example\": 10.0.0.4:6, default: 10.0.0.5:5 }\n");
	assert_int_equal(fe.diags.nerrors, 0);
	assert_int_equal(fe.ir.nforwards, 3);
	const struct ir_forward *sni = &fe.ir.forwards[fe.ir.rules[0].act.forward];
	assert_int_equal(sni->by, FWD_SNI);
	assert_true(sni->up.drop); /* no default written: drop */
	assert_int_equal(sni->nnames, 2);
	assert_string_equal(sni->names[0].name, "a.example");
	assert_false(sni->names[0].wildcard);
	assert_int_equal(sni->names[0].up.family, FAM_V6);
	assert_string_equal(sni->names[1].name, "b.example");
	assert_true(sni->names[1].wildcard);
	assert_int_equal(sni->names[1].up.port, 8);
	const struct ir_forward *fixed = &fe.ir.forwards[fe.ir.rules[1].act.forward];
	assert_int_equal(fixed->by, FWD_STATIC);
	assert_true(fixed->up.addr == 0x0a000003 && fixed->up.port == 7 && !fixed->up.drop);
	const struct ir_forward *host = &fe.ir.forwards[fe.ir.rules[2].act.forward];
	assert_int_equal(host->by, FWD_HOST);
	assert_true(!host->up.drop && host->up.port == 5);
	frontend_free(&fe);
	(void)state;
}

static void test_rule_that_can_never_match(void **state)
{
	one_error("match tcp dst 10.0.0.1 src 2001:db8::1 -> drop\n", 1, "match tcp dst 10.0.0.1 src 2001:db8::1 -> drop",
		  "rule can never match: its dst addresses are IPv4 only and its src addresses IPv6 only");
	one_error("match udp src { 10.0.0.0/8 } dst { ::/0 } port 53 -> pass\n", 1,
		  "match udp src { 10.0.0.0/8 } dst { ::/0 } port 53 -> pass",
		  "its dst addresses are IPv6 only and its src addresses IPv4 only");
}

static void test_endpoint_mistakes(void **state)
{
	static const char *svc = "match tcp -> service s\n";
	char text[256];

	snprintf(text, sizeof(text), "%sservice s = tcp 10.0.0.1\n", svc);
	one_error(text, 2, "10.0.0.1", "an endpoint needs a port: ADDR:PORT");
	snprintf(text, sizeof(text), "%sservice s = tcp ::1\n", svc);
	one_error(text, 2, "::1", "an IPv6 endpoint is written [ADDR]:PORT, e.g. [::1]:80");
	snprintf(text, sizeof(text), "%sservice s = tcp 10.0.0.0/24:80\n", svc);
	one_error(text, 2, "10.0.0.0/24", "an endpoint is one address, not the prefix '10.0.0.0/24'");
	snprintf(text, sizeof(text), "%sservice s = tcp ::ffff:192.0.2.1:80\n", svc);
	one_error(text, 2, "::ffff:192.0.2.1", "an IPv6 endpoint is written [::ffff:192.0.2.1]:80");
	snprintf(text, sizeof(text), "%sservice s = tcp [10.0.0.1]:80\n", svc);
	one_error(text, 2, "10.0.0.1", "brackets are for IPv6 endpoints; write 10.0.0.1:80");
	snprintf(text, sizeof(text), "%sservice s = tcp 10.0.0.300:80\n", svc);
	one_error(text, 2, "10.0.0.300", "invalid address '10.0.0.300'");
	snprintf(text, sizeof(text), "%sservice s = tcp 10.0.0.1:65536\n", svc);
	one_error(text, 2, "65536", "invalid port 65536");
}

static void test_endpoint_port_zero_points_at_the_port(void **state)
{
	struct frontend fe;

	fe_run(&fe, "match tcp -> service s\nservice s = tcp 10.0.0.1:0\n");
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 2, 26, "invalid port 0");
	frontend_free(&fe);
}

static void test_expect_endpoints(void **state)
{
	one_error("expect tcp 192.0.2.1:1 -> [::1]:80 : drop\n", 1, "[::1]:80",
		  "expect mixes an IPv4 source with an IPv6 destination");
	one_error("expect tcp [::1]:1 -> 192.0.2.1:80 : drop\n", 1, "192.0.2.1:80",
		  "expect mixes an IPv6 source with an IPv4 destination");
	one_error("expect tcp 192.0.2.1:1 -> 2001:db8::1 : drop\n", 1, "2001:db8::1", "an IPv6 endpoint is written");
	one_error("expect tcp 192.0.2.1 -> 192.0.2.2:80 : drop\n", 1, "192.0.2.1", "an endpoint needs a port");

	/* The port's span, not the endpoint's. */
	const char *text = "expect udp 192.0.2.1:1 -> 192.0.2.2:0 : drop\n";
	struct frontend fe;
	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error(&fe.diags, 1, col_of(text, 1, ":0 ") + 1, "invalid port 0");
	frontend_free(&fe);
}

static void test_failing_expect(void **state)
{
	const char *text = "service web\nmatch tcp dst 10.0.0.0/8 -> service web\n"
			   "expect tcp 192.0.2.1:1000 -> 10.0.0.1:80 : drop\n"
			   "expect tcp 192.0.2.1:1000 -> 11.0.0.1:80 : service web\n"
			   "expect tcp 192.0.2.1:1000 -> 10.0.0.1:80 : service web\n";
	struct frontend fe;

	assert_int_equal(fe_run_opts(&fe, text, false, true), 0);
	assert_nerrors(&fe.diags, 2);
	assert_error(&fe.diags, 3, 1, "expect failed: got service web (rule at <test>:2), expected drop");
	assert_error(&fe.diags, 4, 1, "expect failed: got pass (no rule matched), expected service web");
	assert_int_equal(fe.expects.passed, 1);
	assert_int_equal(fe.expects.failed, 2);
	frontend_free(&fe);
}

static void test_unused_service_warning(void **state)
{
	const char *text = "service web\nservice idle = tcp 10.0.0.1:80\nmatch tcp -> service web\n";
	struct frontend fe;

	assert_int_equal(fe_run_opts(&fe, text, true, false), 0);
	assert_nerrors(&fe.diags, 0);
	assert_int_equal(fe.diags.nwarnings, 1);
	assert_warning_at(&fe.diags, text, 2, "idle", "service 'idle' is declared but no rule uses it");
	assert_false(diag_failed(&fe.diags));
	frontend_free(&fe);

	/* Without lints, no warning. */
	fe_run(&fe, text);
	assert_int_equal(fe.diags.nwarnings, 0);
	frontend_free(&fe);
}

static void test_werror_fails_on_warnings(void **state)
{
	struct frontend_opts o = { .lint = true, .werror = true };
	const char *text = "service idle\n";
	struct frontend fe;

	assert_int_equal(frontend_run_mem(&fe, TEST_NAME, text, strlen(text), &o), 0);
	assert_int_equal(fe.diags.nerrors, 0);
	assert_int_equal(fe.diags.nwarnings, 1);
	assert_true(diag_failed(&fe.diags));
	frontend_free(&fe);
}

static void test_errors_stop_the_lints_and_expects(void **state)
{
	const char *text = "service idle\nmatch tcp -> service nosuch\nexpect tcp 192.0.2.1:1 -> 192.0.2.2:2 : drop\n";
	struct frontend fe;

	assert_int_equal(fe_run_opts(&fe, text, true, true), 0);
	assert_nerrors(&fe.diags, 1);
	assert_int_equal(fe.diags.nwarnings, 0);
	assert_int_equal(fe.expects.passed + fe.expects.failed, 0);
	frontend_free(&fe);
}

static void test_every_mistake_of_a_file_is_reported(void **state)
{
	const char *text = "service web\n"
			   "match tcp dst 10.0.0.1/8 port 80 -> service web\n"
			   "match tcp dst 10.0.0.0/8 port 0 -> service web\n"
			   "match tcp dst $x -> service nope\n";
	struct frontend fe;

	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 4);
	assert_error_at(&fe.diags, text, 2, "10.0.0.1/8", "has host bits set");
	assert_error(&fe.diags, 3, col_of(text, 3, " 0 ") + 1, "invalid port 0");
	assert_error_at(&fe.diags, text, 4, "$x", "undefined variable");
	assert_error_at(&fe.diags, text, 4, "nope", "undeclared service 'nope'");
	frontend_free(&fe);
}

static void test_valid_policy_from_the_spec_is_clean(void **state)
{
	const char *text = "# comments run to the end of the line\n" SPEC_EXAMPLE;
	struct frontend fe;

	assert_int_equal(fe_run_opts(&fe, text, true, true), 0);
	assert_clean(&fe.diags);
	assert_int_equal(fe.ir.nrules, 7);
	assert_int_equal(fe.ir.nservices, 3);
	assert_int_equal(fe.expects.passed, 2);
	frontend_free(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_undefined_variable),
		cmocka_unit_test(test_variable_must_be_defined_before_use),
		cmocka_unit_test(test_redefinition_notes_the_first),
		cmocka_unit_test(test_set_mixing_kinds),
		cmocka_unit_test(test_kind_mismatch_in_matchers),
		cmocka_unit_test(test_a_name_where_a_variable_was_meant),
		cmocka_unit_test(test_rule_starts_with_its_protocol),
		cmocka_unit_test(test_invalid_ports),
		cmocka_unit_test(test_invalid_port_in_a_range),
		cmocka_unit_test(test_reversed_range_suggests_the_other_way),
		cmocka_unit_test(test_invalid_addresses_and_prefixes),
		cmocka_unit_test(test_prefix_length_out_of_range),
		cmocka_unit_test(test_host_bits_suggest_the_network),
		cmocka_unit_test(test_an_error_in_a_define_is_reported_once),
		cmocka_unit_test(test_duplicate_matcher_notes_the_first),
		cmocka_unit_test(test_undeclared_service),
		cmocka_unit_test(test_service_may_be_declared_after_its_rules),
		cmocka_unit_test(test_duplicate_service_notes_the_first),
		cmocka_unit_test(test_one_socket_address_per_protocol_and_family),
		cmocka_unit_test(test_forward_mistakes),
		cmocka_unit_test(test_forward_lowered),
		cmocka_unit_test(test_rule_that_can_never_match),
		cmocka_unit_test(test_endpoint_mistakes),
		cmocka_unit_test(test_endpoint_port_zero_points_at_the_port),
		cmocka_unit_test(test_expect_endpoints),
		cmocka_unit_test(test_failing_expect),
		cmocka_unit_test(test_unused_service_warning),
		cmocka_unit_test(test_werror_fails_on_warnings),
		cmocka_unit_test(test_errors_stop_the_lints_and_expects),
		cmocka_unit_test(test_every_mistake_of_a_file_is_reported),
		cmocka_unit_test(test_valid_policy_from_the_spec_is_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
