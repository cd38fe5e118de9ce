/*
 * compiler/eval.c: the reference evaluator, SPEC §2 — first match wins, no
 * match passes, a service without a usable socket falls back — and the
 * printers eval and the expects use.
 */
#include "unit.h"

#include "eval.h"
#include "ir.h"

/* A tuple of the family of its addresses, from no interface a rule names. */
static struct tuple T(uint8_t proto, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct tuple t = { .proto = proto, .sport = sport, .dport = dport, .iif = IIF_NONE };
	int fs = addr_parse(src, -1, &t.src), fd = addr_parse(dst, -1, &t.dst);

	if (fs < 0 || fs != fd)
		fail_msg("bad tuple %s -> %s in the test", src, dst);
	t.family = (uint8_t)fs;
	return t;
}

static void policy(struct frontend *fe, const char *text)
{
	fe_run(fe, text);
	assert_clean(&fe->diags);
}

/* The verdict of T, which must be KIND (and SERVICE when a service) decided by RULE. */
#define assert_verdict(p, t, socks, want_kind, want_service, want_rule)                                            \
	do {                                                                                                      \
		struct verdict _v = eval_tuple(p, t, socks);                                                      \
		assert_int_equal(_v.kind, want_kind);                                                             \
		if ((want_kind) == ACT_SERVICE)                                                                   \
			assert_int_equal(_v.service, want_service);                                               \
		assert_int_equal(_v.rule, want_rule);                                                             \
	} while (0)

/* ---- first match, no match ---- */

static void test_first_match_wins(void **state)
{
	struct frontend fe;

	policy(&fe, "service web\n"
		    "match tcp dst 10.0.0.0/8 -> drop\n"
		    "match tcp dst 10.0.0.1 port 80 -> service web\n"
		    "match tcp dst 10.0.0.0/8 port 80 -> pass\n");
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 40000, "10.0.0.1", 80);
	/* The later, more specific rule does not override the earlier broader one. */
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 0);
	assert_true(eval_rule_matches(&fe.ir.rules[0], &t));
	assert_true(eval_rule_matches(&fe.ir.rules[1], &t));
	assert_true(eval_rule_matches(&fe.ir.rules[2], &t));
	frontend_free(&fe);

	/* Reordered, the specific rule decides first. */
	policy(&fe, "service web\n"
		    "match tcp dst 10.0.0.1 port 80 -> service web\n"
		    "match tcp dst 10.0.0.0/8 -> drop\n");
	assert_verdict(&fe.ir, &t, NULL, ACT_SERVICE, 0, 0);
	t.dport = 81;
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 1);
	frontend_free(&fe);
}

static void test_no_rule_matches_is_pass(void **state)
{
	struct frontend fe;
	struct tuple t4 = T(PROTO_UDP, "192.0.2.1", 1, "198.51.100.1", 53);
	struct tuple t6 = T(PROTO_TCP, "2001:db8::1", 1, "2001:db8::2", 80);

	/* No rules at all. */
	policy(&fe, "");
	assert_verdict(&fe.ir, &t4, NULL, ACT_PASS, 0, RULE_NONE);
	assert_verdict(&fe.ir, &t6, NULL, ACT_PASS, 0, RULE_NONE);
	frontend_free(&fe);

	/* Rules, none of which matches. */
	policy(&fe, "service s\nmatch tcp dst 10.0.0.0/8 -> service s\nmatch udp port 54 -> drop\n");
	assert_verdict(&fe.ir, &t4, NULL, ACT_PASS, 0, RULE_NONE);
	assert_verdict(&fe.ir, &t6, NULL, ACT_PASS, 0, RULE_NONE);
	frontend_free(&fe);
}

static void test_deciding_rule_is_reported(void **state)
{
	struct frontend fe;
	char *buf = NULL;
	size_t len = 0;

	policy(&fe, "service a\n"
		    "match tcp port 1 -> drop\n"
		    "\n"
		    "match tcp port 2 -> pass\n"
		    "match tcp port 3 -> service a\n"
		    "match tcp port 1-3 -> drop\n");
	static const struct {
		uint16_t port;
		enum action_kind kind;
		int64_t rule;
		const char *where;
	} cases[] = {
		{ 1, ACT_DROP, 0, "<test>:2" },
		{ 2, ACT_PASS, 1, "<test>:4" },
		{ 3, ACT_SERVICE, 2, "<test>:5" },
		{ 4, ACT_PASS, RULE_NONE, "-" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tuple t = T(PROTO_TCP, "192.0.2.1", 999, "192.0.2.2", cases[i].port);
		struct verdict v = eval_tuple(&fe.ir, &t, NULL);
		assert_int_equal(v.kind, cases[i].kind);
		assert_int_equal(v.rule, cases[i].rule);

		FILE *f = open_memstream(&buf, &len);
		verdict_print_rule(f, &fe.ir, &v);
		fclose(f);
		assert_string_equal(buf, cases[i].where);
		free(buf);
		buf = NULL;
	}
	frontend_free(&fe);
}

/* ---- matchers ---- */

static void test_dst_sets_and_port_ranges(void **state)
{
	struct frontend fe;

	policy(&fe, "define nets = { 192.0.2.0/24, 198.51.100.128/25 }\n"
		    "match tcp dst $nets port { 80, 8000-8099 } -> drop\n");
	static const struct {
		const char *dst;
		uint16_t port;
		bool match;
	} cases[] = {
		{ "192.0.2.0", 80, true },	    { "192.0.2.255", 8000, true },	{ "192.0.3.0", 80, false },
		{ "192.0.1.255", 80, false },	    { "198.51.100.127", 80, false },	{ "198.51.100.128", 8099, true },
		{ "198.51.100.255", 8050, true },   { "192.0.2.1", 79, false },	{ "192.0.2.1", 81, false },
		{ "192.0.2.1", 7999, false },	    { "192.0.2.1", 8100, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tuple t = T(PROTO_TCP, "203.0.113.1", 5000, cases[i].dst, cases[i].port);
		struct verdict v = eval_tuple(&fe.ir, &t, NULL);
		if ((v.rule == 0) != cases[i].match)
			fail_msg("%s port %u: expected %s", cases[i].dst, cases[i].port,
				 cases[i].match ? "a match" : "no match");
		assert_int_equal(v.kind, cases[i].match ? ACT_DROP : ACT_PASS);
	}
	frontend_free(&fe);
}

static void test_src_and_sport_are_the_remote_side(void **state)
{
	struct frontend fe;

	policy(&fe, "match udp src 203.0.113.0/24 -> drop\n"
		    "match udp sport { 53, 1024-2047 } -> pass\n");
	struct tuple t = T(PROTO_UDP, "203.0.113.255", 9, "192.0.2.1", 9);
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 0);
	/* The destination is not the source: a dst in the src prefix does not match. */
	t = T(PROTO_UDP, "192.0.2.1", 9, "203.0.113.1", 9);
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, RULE_NONE);
	/* sport, with its boundaries; dport 53 is not sport 53. */
	t = T(PROTO_UDP, "192.0.2.1", 53, "192.0.2.2", 9);
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, 1);
	t.sport = 9;
	t.dport = 53;
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, RULE_NONE);
	t.sport = 1023;
	assert_false(eval_rule_matches(&fe.ir.rules[1], &t));
	t.sport = 1024;
	assert_true(eval_rule_matches(&fe.ir.rules[1], &t));
	t.sport = 2047;
	assert_true(eval_rule_matches(&fe.ir.rules[1], &t));
	t.sport = 2048;
	assert_false(eval_rule_matches(&fe.ir.rules[1], &t));
	frontend_free(&fe);
}

static void test_iif(void **state)
{
	struct frontend fe;

	policy(&fe, "match tcp iif eth0 -> drop\n"
		    "match tcp iif { lo, wg0 } port 80 -> pass\n");
	uint32_t eth0 = ir_iface_lookup(&fe.ir, "eth0"), lo = ir_iface_lookup(&fe.ir, "lo"),
		 wg0 = ir_iface_lookup(&fe.ir, "wg0");
	assert_int_not_equal(eth0, IIF_NONE);
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 1, "192.0.2.2", 80);

	/* From an interface no rule names: no iif rule matches. */
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, RULE_NONE);
	t.iif = eth0;
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 0);
	t.iif = lo;
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, 1);
	t.iif = wg0;
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, 1);
	t.dport = 81;
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, RULE_NONE);
	frontend_free(&fe);

	/* A rule without iif matches every interface, IIF_NONE included. */
	policy(&fe, "match tcp iif eth0 port 1 -> pass\nmatch tcp port 80 -> drop\n");
	t = T(PROTO_TCP, "192.0.2.1", 1, "192.0.2.2", 80);
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 1);
	t.iif = 0;
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 1);
	frontend_free(&fe);
}

static void test_address_families_do_not_cross(void **state)
{
	struct frontend fe;

	policy(&fe, "match tcp dst 2001:db8::/32 -> drop\n" /* v6 only */
		    "match tcp dst ::/0 port 1 -> drop\n" /* every v6 address, still v6 only */
		    "match tcp dst ::a00:1 -> drop\n" /* ::10.0.0.1, IPv4-compatible, is IPv6 (mapped is refused) */
		    "match tcp src 10.0.0.0/8 -> pass\n" /* v4 only */
		    "match tcp dst { 192.0.2.0/24, 2001:db8:1::/48 } port 9 -> drop\n" /* both */
		    "match tcp port 2 -> pass\n"); /* both */
	struct tuple t4 = T(PROTO_TCP, "10.0.0.5", 1000, "10.0.0.1", 1);
	struct tuple t6 = T(PROTO_TCP, "2001:db8::5", 1000, "2001:db8::1", 1);

	/* A v4 tuple matches none of the v6-only rules, even ::/0 or the compatible address. */
	assert_false(eval_rule_matches(&fe.ir.rules[0], &t4));
	assert_false(eval_rule_matches(&fe.ir.rules[1], &t4));
	assert_false(eval_rule_matches(&fe.ir.rules[2], &t4));
	assert_verdict(&fe.ir, &t4, NULL, ACT_PASS, 0, 3);
	/* And a v6 tuple none of the v4-only ones. */
	assert_verdict(&fe.ir, &t6, NULL, ACT_DROP, 0, 0);
	t6 = T(PROTO_TCP, "::a00:5", 1000, "fd00::1", 7); /* ::10.0.0.5: numerically in 10/8 */
	assert_false(eval_rule_matches(&fe.ir.rules[3], &t6));
	assert_verdict(&fe.ir, &t6, NULL, ACT_PASS, 0, RULE_NONE);

	/* A mixed rule matches each family against its own prefixes. */
	t4 = T(PROTO_TCP, "203.0.113.1", 1000, "192.0.2.9", 9);
	assert_verdict(&fe.ir, &t4, NULL, ACT_DROP, 0, 4);
	t6 = T(PROTO_TCP, "2001:db8::5", 1000, "2001:db8:1::9", 9);
	assert_verdict(&fe.ir, &t6, NULL, ACT_DROP, 0, 0); /* rule 0 covers it first */
	assert_true(eval_rule_matches(&fe.ir.rules[4], &t6));
	t6 = T(PROTO_TCP, "2001:db8::5", 1000, "fd00::9", 9);
	assert_false(eval_rule_matches(&fe.ir.rules[4], &t6));
	/* A rule with no address matcher matches both. */
	t4.dport = t6.dport = 2;
	assert_verdict(&fe.ir, &t4, NULL, ACT_PASS, 0, 5);
	assert_verdict(&fe.ir, &t6, NULL, ACT_PASS, 0, 5);
	frontend_free(&fe);
}

static void test_protocol_filter(void **state)
{
	struct frontend fe;

	policy(&fe, "match tcp port 53 -> drop\nmatch udp port 53 -> pass\nmatch { tcp, udp } port 54 -> drop\n");
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 1, "192.0.2.2", 53);
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 0);
	t.proto = PROTO_UDP;
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, 1);
	assert_false(eval_rule_matches(&fe.ir.rules[0], &t));
	t.dport = 54;
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 2);
	t.proto = PROTO_TCP;
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 2);
	frontend_free(&fe);
}

/* ---- services and sockets ---- */

/*
 * A socket table as SPEC §2 describes it: per service, the (protocol, family)
 * slots it holds a socket for, bit (udp ? 2 : 0) + (IPv6 ? 1 : 0), and whether
 * its IPv6 sockets are dual-stack (may serve IPv4 when it has no IPv4 socket).
 * It also records what the evaluator asked.
 */
struct socks {
	uint8_t slots[4];
	bool dual[4];
	unsigned calls;
	uint32_t last_service;
	uint8_t last_proto, last_family;
};

#define SLOT(proto, fam) (1u << (((proto) == PROTO_UDP ? 2 : 0) + ((fam) == FAM_V6 ? 1 : 0)))

static bool _usable(const void *ctx, uint32_t service, uint8_t proto, uint8_t family)
{
	struct socks *s = (struct socks *)ctx;

	s->calls++;
	s->last_service = service;
	s->last_proto = proto;
	s->last_family = family;
	if (s->slots[service] & SLOT(proto, family))
		return true;
	return family == FAM_V4 && s->dual[service] && (s->slots[service] & SLOT(proto, FAM_V6));
}

static void test_no_usable_socket_falls_back(void **state)
{
	struct frontend fe;
	/* "up" (0) has every socket; "down" (1) none. */
	struct socks s = { .slots = { 0xf, 0 } };
	struct sock_model model = { .usable = _usable, .ctx = &s };

	policy(&fe, "service up\nservice down\n"
		    "match tcp port 1 -> service down\n"
		    "match tcp port 2 -> service down or pass\n"
		    "match tcp port 3 -> service down or drop\n"
		    "match tcp port 4 -> service up\n"
		    "match tcp port 1-4 -> service up\n");
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 1000, "192.0.2.2", 1);

	/* SPEC §2: the default is drop, as a closed port would refuse. */
	assert_verdict(&fe.ir, &t, &model, ACT_DROP, 0, 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.last_service, 1);
	assert_int_equal(s.last_proto, PROTO_TCP);
	assert_int_equal(s.last_family, FAM_V4);
	/* "or pass" is the regular lookup, not the next rule (rule 4 would say service up). */
	t.dport = 2;
	assert_verdict(&fe.ir, &t, &model, ACT_PASS, 0, 1);
	t.dport = 3;
	assert_verdict(&fe.ir, &t, &model, ACT_DROP, 0, 2);
	t.dport = 4;
	assert_verdict(&fe.ir, &t, &model, ACT_SERVICE, 0, 3);

	/* Without a model every service is usable: the sockets are the runtime's business. */
	for (uint16_t p = 1; p <= 3; p++) {
		t.dport = p;
		assert_verdict(&fe.ir, &t, NULL, ACT_SERVICE, 1, p - 1);
	}

	/* Only service actions consult the model; a pass with no rule does not. */
	s.calls = 0;
	t.dport = 5;
	assert_verdict(&fe.ir, &t, &model, ACT_PASS, 0, RULE_NONE);
	assert_int_equal(s.calls, 0);
	frontend_free(&fe);
}

static void test_sockets_per_protocol_and_family(void **state)
{
	struct frontend fe;
	/* web: a TCP IPv4 socket only. dual: a dual-stack TCP IPv6 socket. v6only: an IPV6_V6ONLY TCP one. */
	struct socks s = {
		.slots = { SLOT(PROTO_TCP, FAM_V4), SLOT(PROTO_TCP, FAM_V6), SLOT(PROTO_TCP, FAM_V6) },
		.dual = { false, true, false },
	};
	struct sock_model model = { .usable = _usable, .ctx = &s };

	policy(&fe, "service web\nservice dual\nservice v6only\n"
		    "match { tcp, udp } port 80 -> service web\n"
		    "match tcp port 81 -> service dual\n"
		    "match tcp port 82 -> service v6only or pass\n");
	struct tuple t4 = T(PROTO_TCP, "192.0.2.1", 1000, "192.0.2.2", 80);
	struct tuple t6 = T(PROTO_TCP, "2001:db8::1", 1000, "2001:db8::2", 80);

	assert_verdict(&fe.ir, &t4, &model, ACT_SERVICE, 0, 0);
	assert_verdict(&fe.ir, &t6, &model, ACT_DROP, 0, 0); /* no IPv6 socket */
	assert_int_equal(s.last_family, FAM_V6);
	t4.proto = PROTO_UDP;
	assert_verdict(&fe.ir, &t4, &model, ACT_DROP, 0, 0); /* no UDP socket */
	assert_int_equal(s.last_proto, PROTO_UDP);

	/* The dual-stack IPv6 socket serves IPv4 as well; an IPV6_V6ONLY one does not. */
	t4.proto = PROTO_TCP;
	t4.dport = t6.dport = 81;
	assert_verdict(&fe.ir, &t4, &model, ACT_SERVICE, 1, 1);
	assert_verdict(&fe.ir, &t6, &model, ACT_SERVICE, 1, 1);
	t4.dport = t6.dport = 82;
	assert_verdict(&fe.ir, &t4, &model, ACT_PASS, 0, 2);
	assert_verdict(&fe.ir, &t6, &model, ACT_SERVICE, 2, 2);
	frontend_free(&fe);
}

/* The SPEC §1 example, its expects and a few tuples more. */
static void test_spec_example(void **state)
{
	const char *text = SPEC_EXAMPLE;
	struct frontend fe;

	assert_int_equal(fe_run_opts(&fe, text, true, true), 0);
	assert_clean(&fe.diags);
	assert_int_equal(fe.expects.passed, 2);
	assert_int_equal(fe.expects.failed, 0);

	uint32_t web = ir_service_lookup(&fe.ir, "web"), dns = ir_service_lookup(&fe.ir, "dns");
	struct tuple t = T(PROTO_TCP, "203.0.113.5", 40000, "192.0.2.10", 443);
	assert_verdict(&fe.ir, &t, NULL, ACT_DROP, 0, 4); /* the src drop comes before the anycast web rule */
	t = T(PROTO_TCP, "2001:db8::5", 40000, "2001:db8:40::1", 8080);
	assert_verdict(&fe.ir, &t, NULL, ACT_SERVICE, web, 5);
	t = T(PROTO_TCP, "2001:db8::5", 40000, "2001:db8:40::1", 53);
	assert_verdict(&fe.ir, &t, NULL, ACT_SERVICE, dns, 3);
	t = T(PROTO_UDP, "192.0.2.1", 40000, "10.9.9.9", 7);
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, 6);
	t = T(PROTO_UDP, "192.0.2.1", 40000, "192.168.40.7", 80);
	assert_verdict(&fe.ir, &t, NULL, ACT_PASS, 0, RULE_NONE);
	frontend_free(&fe);
}

/* ---- verdicts and tuples ---- */

static void test_verdict_equal(void **state)
{
	struct verdict s0 = { .kind = ACT_SERVICE, .service = 0, .rule = 1 };
	struct verdict s0b = { .kind = ACT_SERVICE, .service = 0, .rule = 7 };
	struct verdict s1 = { .kind = ACT_SERVICE, .service = 1, .rule = 1 };
	struct verdict d = { .kind = ACT_DROP, .service = 0, .rule = 1 };
	struct verdict d2 = { .kind = ACT_DROP, .service = 5, .rule = RULE_NONE };
	struct verdict p = { .kind = ACT_PASS, .rule = RULE_NONE };
	struct verdict p2 = { .kind = ACT_PASS, .service = 3, .rule = 2 };

	assert_true(verdict_equal(&s0, &s0));
	/* The verdict, not the rule that gave it: the compiled program only knows the former. */
	assert_true(verdict_equal(&s0, &s0b));
	assert_false(verdict_equal(&s0, &s1));
	assert_false(verdict_equal(&s0, &d));
	assert_false(verdict_equal(&d, &s0));
	/* The service field means nothing for drop and pass. */
	assert_true(verdict_equal(&d, &d2));
	assert_true(verdict_equal(&p, &p2));
	assert_false(verdict_equal(&d, &p));
}

static char *print_verdict(const struct ir_policy *p, const struct verdict *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	verdict_print(f, p, v);
	fclose(f);
	return buf;
}

static char *print_tuple(const struct ir_policy *p, const struct tuple *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tuple_print(f, p, t);
	fclose(f);
	return buf;
}

#define assert_printed(expr, want)                                                                                 \
	do {                                                                                                      \
		char *_s = (expr);                                                                                \
		assert_string_equal(_s, want);                                                                    \
		free(_s);                                                                                         \
	} while (0)

static void test_verdict_print(void **state)
{
	struct frontend fe;

	policy(&fe, "service web\nservice dns\nmatch tcp port 1 -> service dns\n");
	assert_printed(print_verdict(&fe.ir, &(struct verdict){ .kind = ACT_SERVICE, .service = 0 }), "service web");
	assert_printed(print_verdict(&fe.ir, &(struct verdict){ .kind = ACT_SERVICE, .service = 1 }), "service dns");
	assert_printed(print_verdict(&fe.ir, &(struct verdict){ .kind = ACT_DROP, .rule = RULE_NONE }), "drop");
	assert_printed(print_verdict(&fe.ir, &(struct verdict){ .kind = ACT_PASS, .rule = RULE_NONE }), "pass");

	/* A fallback prints as what happens, not as the service the rule names. */
	struct socks s = { 0 };
	struct sock_model model = { .usable = _usable, .ctx = &s };
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 1, "192.0.2.2", 1);
	struct verdict v = eval_tuple(&fe.ir, &t, &model);
	assert_printed(print_verdict(&fe.ir, &v), "drop");
	v = eval_tuple(&fe.ir, &t, NULL);
	assert_printed(print_verdict(&fe.ir, &v), "service dns");
	frontend_free(&fe);
}

static void test_tuple_print(void **state)
{
	struct frontend fe;

	policy(&fe, "match tcp iif eth0 -> drop\nmatch udp iif lo -> drop\n");
	struct tuple t = T(PROTO_TCP, "192.0.2.1", 5000, "192.0.2.53", 53);
	assert_printed(print_tuple(&fe.ir, &t), "tcp 192.0.2.1:5000 -> 192.0.2.53:53");

	t = T(PROTO_UDP, "2001:db8::1", 5000, "2001:db8:40::53", 53);
	assert_printed(print_tuple(&fe.ir, &t), "udp [2001:db8::1]:5000 -> [2001:db8:40::53]:53");

	t = T(PROTO_TCP, "::", 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	assert_printed(print_tuple(&fe.ir, &t), "tcp [::]:0 -> [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

	t = T(PROTO_UDP, "0.0.0.0", 1, "255.255.255.255", 2);
	t.iif = ir_iface_lookup(&fe.ir, "lo");
	assert_printed(print_tuple(&fe.ir, &t), "udp 0.0.0.0:1 -> 255.255.255.255:2 iif lo");
	t.iif = ir_iface_lookup(&fe.ir, "eth0");
	assert_printed(print_tuple(&fe.ir, &t), "udp 0.0.0.0:1 -> 255.255.255.255:2 iif eth0");
	frontend_free(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_no_rule_matches_is_pass),
		cmocka_unit_test(test_deciding_rule_is_reported),
		cmocka_unit_test(test_dst_sets_and_port_ranges),
		cmocka_unit_test(test_src_and_sport_are_the_remote_side),
		cmocka_unit_test(test_iif),
		cmocka_unit_test(test_address_families_do_not_cross),
		cmocka_unit_test(test_protocol_filter),
		cmocka_unit_test(test_no_usable_socket_falls_back),
		cmocka_unit_test(test_sockets_per_protocol_and_family),
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_verdict_equal),
		cmocka_unit_test(test_verdict_print),
		cmocka_unit_test(test_tuple_print),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
