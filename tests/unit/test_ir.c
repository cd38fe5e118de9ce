/*
 * compiler/ir.c and the lowering in compiler/check.c: the normalised IR every
 * later stage reads. Prefix and port lists sorted and merged, families split,
 * defines flattened, interfaces interned, actions, services and expects.
 */
#include "unit.h"

#include "ir.h"

/* A prefix or address as written; the test fails on text that does not parse cleanly. */
static struct prefix P(const char *text)
{
	struct prefix p;

	if (prefix_parse(text, &p) != ADDR_OK)
		fail_msg("bad prefix '%s' in the test", text);
	return p;
}

static u128 A(const char *text)
{
	u128 a;

	if (addr_parse(text, -1, &a) < 0)
		fail_msg("bad address '%s' in the test", text);
	return a;
}

/* The list as "a, b, c", to compare whole lists in one assertion with a readable failure. */
static const char *pfx_str(const struct prefix *v, uint32_t n)
{
	static char out[1024];
	char buf[PREFIX_STRLEN];
	size_t len = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? ", " : "", prefix_format(&v[i], buf));
	return out;
}

static const char *ports_str(const struct port_range *v, uint32_t n)
{
	static char out[1024];
	size_t len = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < n; i++) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u", i ? ", " : "", v[i].lo);
		if (v[i].hi != v[i].lo)
			len += (size_t)snprintf(out + len, sizeof(out) - len, "-%u", v[i].hi);
	}
	return out;
}

/* Runs TEXT, which must be clean, through parse, check and lower. */
static void lower(struct frontend *fe, const char *text)
{
	fe_run(fe, text);
	assert_clean(&fe->diags);
}

/* ---- ir_pfx_normalize ---- */

static void test_pfx_normalize_sorts_and_drops_covered(void **state)
{
	struct prefix v[] = {
		P("192.168.1.0/24"), P("10.1.0.0/16"),	  P("10.0.0.0/8"),	 P("192.168.0.0/24"),
		P("10.0.0.0/8"),     P("10.255.255.255"), P("172.16.0.0/12"), P("10.0.0.0/16"),
	};
	uint32_t n = ir_pfx_normalize(v, 8);

	/* Covered (10.1/16, 10.255.255.255, 10.0/16 at the same address) and duplicate prefixes go; */
	/* adjacent ones stay two: normalising is not aggregation into a /23. */
	assert_int_equal(n, 4);
	assert_string_equal(pfx_str(v, n), "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/24, 192.168.1.0/24");
}

static void test_pfx_normalize_v6_and_the_whole_space(void **state)
{
	struct prefix v6[] = { P("2001:db8:40::/48"), P("2001:db8::/32"), P("fd00::/8"), P("2001:db8::1"),
			       P("::1") };
	uint32_t n = ir_pfx_normalize(v6, 5);

	assert_int_equal(n, 3);
	assert_string_equal(pfx_str(v6, n), "::1, 2001:db8::/32, fd00::/8");

	/* A /0 covers everything else of its family, wherever it sorts. */
	struct prefix all4[] = { P("192.0.2.0/24"), P("0.0.0.0/0"), P("255.255.255.255") };
	n = ir_pfx_normalize(all4, 3);
	assert_int_equal(n, 1);
	assert_string_equal(pfx_str(all4, n), "0.0.0.0/0");

	struct prefix all6[] = { P("ffff::/16"), P("::/0"), P("::") };
	n = ir_pfx_normalize(all6, 3);
	assert_int_equal(n, 1);
	assert_string_equal(pfx_str(all6, n), "::/0");

	/* Zero and one element are returned as they are. */
	assert_int_equal(ir_pfx_normalize(all6, 0), 0);
	struct prefix one = P("10.0.0.0/8");
	assert_int_equal(ir_pfx_normalize(&one, 1), 1);
	assert_string_equal(pfx_str(&one, 1), "10.0.0.0/8");
}

/*
 * ir_pfx_normalize trusts struct prefix's invariant (host bits zero): the
 * parser masks them and the checker refuses such a prefix, so none reaches it.
 */
static void test_host_bits_never_reach_the_ir(void **state)
{
	struct prefix p;
	struct frontend fe;

	assert_int_equal(prefix_parse("10.0.0.5/24", &p), ADDR_HOST_BITS);
	assert_true(p.addr == A("10.0.0.0"));
	assert_int_equal(p.len, 24);
	assert_int_equal(prefix_parse("2001:db8::1/32", &p), ADDR_HOST_BITS);
	assert_true(p.addr == A("2001:db8::"));

	const char *text = "match tcp dst { 10.0.0.0/8, 192.168.1.1/24 } -> drop\nmatch tcp dst 10.0.0.0/8 -> pass\n";
	fe_run(&fe, text);
	assert_nerrors(&fe.diags, 1);
	assert_error_at(&fe.diags, text, 1, "192.168.1.1/24",
			"prefix '192.168.1.1/24' has host bits set; did you mean '192.168.1.0/24'?");
	assert_int_equal(fe.ir.nrules, 1); /* the bad rule is not lowered; the good one is */
	assert_int_equal(fe.ir.rules[0].act.kind, ACT_PASS);
	frontend_free(&fe);
}

/* ---- ir_ports_normalize ---- */

static void test_ports_normalize_merges_overlapping_and_adjacent(void **state)
{
	struct port_range adj[] = { { 91, 100 }, { 80, 90 } };
	uint32_t n = ir_ports_normalize(adj, 2);

	assert_int_equal(n, 1);
	assert_string_equal(ports_str(adj, n), "80-100");

	struct port_range v[] = {
		{ 443, 443 }, { 15, 30 }, { 10, 20 }, { 5, 12 }, { 8000, 8099 }, { 8050, 8050 }, { 443, 443 },
		{ 22, 22 },   { 1, 1 },	  { 3, 3 },
	};
	n = ir_ports_normalize(v, 10);
	/* 1 and 3 stay apart (2 is between); 5-12, 10-20, 15-30 and 22 chain into 5-30. */
	assert_string_equal(ports_str(v, n), "1, 3, 5-30, 443, 8000-8099");
	assert_int_equal(n, 5);

	/* Single ports in a row become one range; a range inside another disappears. */
	struct port_range singles[] = { { 24, 24 }, { 22, 22 }, { 23, 23 }, { 100, 200 }, { 150, 160 } };
	n = ir_ports_normalize(singles, 5);
	assert_string_equal(ports_str(singles, n), "22-24, 100-200");
}

static void test_ports_normalize_full_range(void **state)
{
	struct port_range all[] = { { 1, 65535 } };
	assert_int_equal(ir_ports_normalize(all, 1), 1);
	assert_string_equal(ports_str(all, 1), "1-65535");

	struct port_range halves[] = { { 101, 65535 }, { 1, 100 } };
	uint32_t n = ir_ports_normalize(halves, 2);
	assert_int_equal(n, 1);
	assert_string_equal(ports_str(halves, n), "1-65535");

	/* hi + 1 at 65535 must not wrap to 0 and swallow everything after. */
	struct port_range top[] = { { 65535, 65535 }, { 65534, 65534 }, { 1, 1 } };
	n = ir_ports_normalize(top, 3);
	assert_string_equal(ports_str(top, n), "1, 65534-65535");

	struct port_range cover[] = { { 80, 80 }, { 1, 65535 }, { 65535, 65535 } };
	n = ir_ports_normalize(cover, 3);
	assert_string_equal(ports_str(cover, n), "1-65535");
}

/* ---- containment ---- */

static void test_pfx_list_contains_boundaries(void **state)
{
	struct prefix v[] = { P("10.0.0.0/8"), P("192.168.1.0/24"), P("203.0.113.7") };
	struct pfx_list l = { v, 3 }, any = { 0 };

	assert_false(ir_pfx_list_contains(&l, A("9.255.255.255")));
	assert_true(ir_pfx_list_contains(&l, A("10.0.0.0")));
	assert_true(ir_pfx_list_contains(&l, A("10.255.255.255")));
	assert_false(ir_pfx_list_contains(&l, A("11.0.0.0")));
	assert_false(ir_pfx_list_contains(&l, A("192.168.0.255")));
	assert_true(ir_pfx_list_contains(&l, A("192.168.1.0")));
	assert_true(ir_pfx_list_contains(&l, A("192.168.1.255")));
	assert_false(ir_pfx_list_contains(&l, A("192.168.2.0")));
	assert_false(ir_pfx_list_contains(&l, A("203.0.113.6")));
	assert_true(ir_pfx_list_contains(&l, A("203.0.113.7")));
	assert_false(ir_pfx_list_contains(&l, A("203.0.113.8")));
	assert_false(ir_pfx_list_contains(&l, A("0.0.0.0")));
	assert_false(ir_pfx_list_contains(&l, A("255.255.255.255")));

	/* An empty list is any address. */
	assert_true(ir_pfx_list_contains(&any, 0));
	assert_true(ir_pfx_list_contains(&any, A("255.255.255.255")));
	assert_true(ir_pfx_list_contains(&any, ~(u128)0));

	struct prefix w[] = { P("2001:db8::/32"), P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120") };
	struct pfx_list l6 = { w, 2 };
	assert_false(ir_pfx_list_contains(&l6, A("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
	assert_true(ir_pfx_list_contains(&l6, A("2001:db8::")));
	assert_true(ir_pfx_list_contains(&l6, A("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
	assert_false(ir_pfx_list_contains(&l6, A("2001:db9::")));
	assert_false(ir_pfx_list_contains(&l6, A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff")));
	assert_true(ir_pfx_list_contains(&l6, ~(u128)0));
	assert_false(ir_pfx_list_contains(&l6, 0));

	struct prefix all6 = P("::/0");
	struct pfx_list l0 = { &all6, 1 };
	assert_true(ir_pfx_list_contains(&l0, 0));
	assert_true(ir_pfx_list_contains(&l0, ~(u128)0));
}

static void test_ports_contains_boundaries(void **state)
{
	struct port_range v[] = { { 1, 1 }, { 80, 90 }, { 443, 443 }, { 65535, 65535 } };
	struct port_list l = { v, 4 }, any = { 0 };

	assert_false(ir_ports_contains(&l, 0));
	assert_true(ir_ports_contains(&l, 1));
	assert_false(ir_ports_contains(&l, 2));
	assert_false(ir_ports_contains(&l, 79));
	assert_true(ir_ports_contains(&l, 80));
	assert_true(ir_ports_contains(&l, 85));
	assert_true(ir_ports_contains(&l, 90));
	assert_false(ir_ports_contains(&l, 91));
	assert_false(ir_ports_contains(&l, 442));
	assert_true(ir_ports_contains(&l, 443));
	assert_false(ir_ports_contains(&l, 444));
	assert_false(ir_ports_contains(&l, 65534));
	assert_true(ir_ports_contains(&l, 65535));

	assert_true(ir_ports_contains(&any, 0));
	assert_true(ir_ports_contains(&any, 1));
	assert_true(ir_ports_contains(&any, 65535));
}

static void test_iif_contains(void **state)
{
	uint32_t v[] = { 0, 2 };
	struct iif_list l = { v, 2 }, any = { 0 };

	assert_true(ir_iif_contains(&l, 0));
	assert_false(ir_iif_contains(&l, 1));
	assert_true(ir_iif_contains(&l, 2));
	assert_false(ir_iif_contains(&l, 3));
	/* A packet from an interface no rule names never matches a rule that names some. */
	assert_false(ir_iif_contains(&l, IIF_NONE));
	assert_true(ir_iif_contains(&any, IIF_NONE));
	assert_true(ir_iif_contains(&any, 7));
}

/* ---- lowering ---- */

static void test_lower_covered_prefix_in_a_set(void **state)
{
	struct frontend fe;

	lower(&fe, "match tcp dst { 10.0.0.0/8, 10.1.0.0/16 } -> drop\n");
	assert_int_equal(fe.ir.nrules, 1);
	const struct ir_match *m = &fe.ir.rules[0].m;
	assert_int_equal(m->families, FAM_BIT(FAM_V4));
	assert_int_equal(m->dst[FAM_V4].n, 1);
	assert_string_equal(pfx_str(m->dst[FAM_V4].v, 1), "10.0.0.0/8");
	assert_int_equal(m->dst[FAM_V6].n, 0);
	assert_int_equal(m->src[FAM_V4].n, 0);
	frontend_free(&fe);
}

static void test_lower_families(void **state)
{
	struct frontend fe;

	lower(&fe, "match tcp dst { 198.51.100.0/24, 2001:db8::/32, 192.0.2.0/24 } -> drop\n" /* both */
		   "match tcp dst 2001:db8::1 -> drop\n" /* v6 only */
		   "match tcp port 80 -> drop\n" /* no address: both */
		   "match tcp dst { 10.0.0.0/8, ::1 } src 192.0.2.0/24 -> drop\n" /* src narrows to v4 */
		   "match tcp dst 0.0.0.0/0 -> drop\n" /* v4 only, any v4 address */
		   "match udp src ::/0 -> drop\n");
	assert_int_equal(fe.ir.nrules, 6);
	const struct ir_rule *r = fe.ir.rules;

	assert_int_equal(r[0].m.families, FAMS_ALL);
	assert_string_equal(pfx_str(r[0].m.dst[FAM_V4].v, r[0].m.dst[FAM_V4].n), "192.0.2.0/24, 198.51.100.0/24");
	assert_string_equal(pfx_str(r[0].m.dst[FAM_V6].v, r[0].m.dst[FAM_V6].n), "2001:db8::/32");

	assert_int_equal(r[1].m.families, FAM_BIT(FAM_V6));
	assert_int_equal(r[1].m.dst[FAM_V6].n, 1);
	assert_int_equal(r[1].m.dst[FAM_V6].v[0].len, 128);
	assert_int_equal(r[1].m.dst[FAM_V4].n, 0);

	assert_int_equal(r[2].m.families, FAMS_ALL);
	assert_int_equal(r[2].m.dst[FAM_V4].n + r[2].m.dst[FAM_V6].n, 0);

	assert_int_equal(r[3].m.families, FAM_BIT(FAM_V4));
	assert_string_equal(pfx_str(r[3].m.dst[FAM_V4].v, r[3].m.dst[FAM_V4].n), "10.0.0.0/8");
	assert_int_equal(r[3].m.dst[FAM_V6].n, 0); /* ::1 is unreachable with a v4 src: not lowered */
	assert_string_equal(pfx_str(r[3].m.src[FAM_V4].v, r[3].m.src[FAM_V4].n), "192.0.2.0/24");

	/* A /0 keeps only its family: within it, the same as no address matcher. */
	assert_int_equal(r[4].m.families, FAM_BIT(FAM_V4));
	assert_int_equal(r[4].m.dst[FAM_V4].n, 0);
	assert_int_equal(r[5].m.families, FAM_BIT(FAM_V6));
	assert_int_equal(r[5].m.src[FAM_V6].n, 0);
	frontend_free(&fe);
}

static void test_lower_protocols(void **state)
{
	struct frontend fe;

	lower(&fe, "define both = { udp, tcp }\ndefine t = tcp\n"
		   "match tcp -> drop\nmatch udp -> drop\nmatch { tcp, udp } -> drop\nmatch $both -> drop\n"
		   "match { $t } port 1 -> drop\nmatch { tcp, tcp } -> drop\n");
	assert_int_equal(fe.ir.nrules, 6);
	assert_int_equal(fe.ir.rules[0].m.protos, PROTO_TCP);
	assert_int_equal(fe.ir.rules[1].m.protos, PROTO_UDP);
	assert_int_equal(fe.ir.rules[2].m.protos, PROTO_TCP | PROTO_UDP);
	assert_int_equal(fe.ir.rules[3].m.protos, PROTO_ALL);
	assert_int_equal(fe.ir.rules[4].m.protos, PROTO_TCP);
	assert_int_equal(fe.ir.rules[5].m.protos, PROTO_TCP);
	frontend_free(&fe);

	/* SPEC §1: the protocol comes first and is not optional; leaving it out is a syntax error. */
	fe_run(&fe, "match dst 10.0.0.1 -> drop\n");
	assert_true(diag_failed(&fe.diags));
	assert_int_equal(fe.ir.nrules, 0);
	frontend_free(&fe);
}

static void test_lower_nested_defines_flatten(void **state)
{
	struct frontend fe;

	lower(&fe, "define inner = { 10.0.0.0/8, 2001:db8:40::/48 }\n"
		   "define mid = { $inner, 192.0.2.0/24 }\n"
		   "define outer = { $mid, 10.2.0.0/16, 2001:db8::/32, 198.51.100.1 }\n"
		   "define p1 = { 80, 443 }\ndefine p2 = { $p1, 81-82, 8000-8099 }\n"
		   "match tcp dst $outer port { $p2, 444 } -> drop\n");
	const struct ir_match *m = &fe.ir.rules[0].m;
	assert_int_equal(m->families, FAMS_ALL);
	assert_string_equal(pfx_str(m->dst[FAM_V4].v, m->dst[FAM_V4].n), "10.0.0.0/8, 192.0.2.0/24, 198.51.100.1");
	assert_string_equal(pfx_str(m->dst[FAM_V6].v, m->dst[FAM_V6].n), "2001:db8::/32");
	assert_string_equal(ports_str(m->dport.v, m->dport.n), "80-82, 443-444, 8000-8099");
	frontend_free(&fe);
}

static void test_lower_ports_and_sport(void **state)
{
	struct frontend fe;

	lower(&fe, "match tcp port { 91-100, 80-90, 443, 8050, 8000-8099 } -> drop\n"
		   "match tcp port { 1-1000, 1001-65535 } -> drop\n"
		   "match udp sport { 53, 1024-65535, 1023 } -> drop\n"
		   "match udp port 7 sport 7 -> drop\n");
	const struct ir_rule *r = fe.ir.rules;
	assert_string_equal(ports_str(r[0].m.dport.v, r[0].m.dport.n), "80-100, 443, 8000-8099");
	assert_int_equal(r[0].m.sport.n, 0);
	/* Every port is the same as no port matcher. */
	assert_int_equal(r[1].m.dport.n, 0);
	assert_int_equal(r[2].m.dport.n, 0);
	assert_string_equal(ports_str(r[2].m.sport.v, r[2].m.sport.n), "53, 1023-65535");
	assert_string_equal(ports_str(r[3].m.dport.v, r[3].m.dport.n), "7");
	assert_string_equal(ports_str(r[3].m.sport.v, r[3].m.sport.n), "7");
	frontend_free(&fe);
}

static void test_lower_iif_shares_indexes(void **state)
{
	struct frontend fe;

	lower(&fe, "define ifs = { lo, eth0 }\n"
		   "match tcp iif eth0 -> drop\n"
		   "match tcp iif $ifs -> drop\n"
		   "match tcp iif lo -> drop\n"
		   "match tcp iif { wg0, eth0, wg0 } -> drop\n"
		   "match tcp port 1 -> drop\n");
	assert_int_equal(fe.ir.nifaces, 3);
	assert_string_equal(fe.ir.ifaces[0], "eth0");
	assert_string_equal(fe.ir.ifaces[1], "lo");
	assert_string_equal(fe.ir.ifaces[2], "wg0");
	assert_int_equal(ir_iface_lookup(&fe.ir, "lo"), 1);
	assert_int_equal(ir_iface_lookup(&fe.ir, "eth1"), IIF_NONE);

	const struct ir_rule *r = fe.ir.rules;
	assert_int_equal(r[0].m.iif.n, 1);
	assert_int_equal(r[0].m.iif.v[0], 0);
	assert_int_equal(r[1].m.iif.n, 2); /* sorted by index, not as written */
	assert_int_equal(r[1].m.iif.v[0], 0);
	assert_int_equal(r[1].m.iif.v[1], 1);
	assert_int_equal(r[2].m.iif.n, 1);
	assert_int_equal(r[2].m.iif.v[0], 1);
	assert_int_equal(r[3].m.iif.n, 2); /* the duplicate wg0 once */
	assert_int_equal(r[3].m.iif.v[0], 0);
	assert_int_equal(r[3].m.iif.v[1], 2);
	assert_int_equal(r[4].m.iif.n, 0);
	frontend_free(&fe);
}

static void test_lower_actions(void **state)
{
	struct frontend fe;

	lower(&fe, "service a\nservice b\n"
		   "match tcp port 1 -> service b\n"
		   "match tcp port 2 -> service a or pass\n"
		   "match tcp port 3 -> service b or drop\n"
		   "match tcp port 4 -> drop\n"
		   "match tcp port 5 -> pass\n"
		   "match tcp port 6 -> service c\n"
		   "service c\n");
	const struct ir_rule *r = fe.ir.rules;
	assert_int_equal(fe.ir.nrules, 6);
	assert_int_equal(r[0].act.kind, ACT_SERVICE);
	assert_int_equal(r[0].act.service, 1);
	assert_int_equal(r[0].act.fallback, ACT_DROP); /* SPEC §2: no usable socket means drop by default */
	assert_int_equal(r[1].act.kind, ACT_SERVICE);
	assert_int_equal(r[1].act.service, 0);
	assert_int_equal(r[1].act.fallback, ACT_PASS);
	assert_int_equal(r[2].act.service, 1);
	assert_int_equal(r[2].act.fallback, ACT_DROP);
	assert_int_equal(r[3].act.kind, ACT_DROP);
	assert_int_equal(r[4].act.kind, ACT_PASS);
	/* A service declared after the rule that names it. */
	assert_int_equal(r[5].act.kind, ACT_SERVICE);
	assert_int_equal(r[5].act.service, 2);
	assert_int_equal(ir_service_lookup(&fe.ir, "c"), 2);
	assert_int_equal(ir_service_lookup(&fe.ir, "nope"), UINT32_MAX);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int i = 0; i < 5; i++) {
		ir_action_print(f, &fe.ir, &r[i].act);
		fputc('|', f);
	}
	fclose(f);
	assert_string_equal(buf, "service b or drop|service a or pass|service b or drop|drop|pass|");
	free(buf);
	frontend_free(&fe);
}

static void test_lower_rule_ids_and_locations(void **state)
{
	struct frontend fe;
	char where[64];

	const char *text = "# a comment\n"
			   "define p = 80\n"
			   "match tcp port $p -> drop\n"
			   "\n"
			   "match udp port {\n  53,\n  54 } -> pass; match tcp port 9 -> drop\n"
			   "  match tcp port 10 -> pass # trailing\n";

	lower(&fe, text);
	assert_int_equal(fe.ir.nrules, 4);
	/* Two rules on line 7: the second starts after the ';'. */
	const unsigned line[] = { 3, 5, 7, 8 }, col[] = { 1, 1, col_of(text, 7, "match"), 3 };
	assert_int_equal(col[2], 17);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(fe.ir.rules[i].id, i);
		assert_int_equal(fe.ir.rules[i].loc.line, line[i]);
		assert_int_equal(fe.ir.rules[i].loc.col, col[i]);
	}
	assert_int_equal(fe.ir.rules[1].loc.end_line, 7);
	ir_rule_where(&fe.ir.rules[2], where, sizeof(where));
	assert_string_equal(where, "<test>:7");
	frontend_free(&fe);
}

static void test_lower_service_sockets(void **state)
{
	struct frontend fe;

	lower(&fe, "service web\n"
		   "service dns = udp 127.0.0.1:5353\n"
		   "service api = tcp [::1]:9000\n"
		   "service both = tcp 192.0.2.1:80, tcp [2001:db8::80]:80, udp 192.0.2.1:80\n");
	assert_int_equal(fe.ir.nservices, 4);
	const struct ir_service *s = fe.ir.services;
	assert_string_equal(s[0].name, "web");
	assert_int_equal(s[0].nsocks, 0);
	assert_int_equal(s[0].loc.line, 1);
	assert_int_equal(s[0].loc.col, 9);

	assert_string_equal(s[1].name, "dns");
	assert_int_equal(s[1].nsocks, 1);
	assert_int_equal(s[1].socks[0].proto, PROTO_UDP);
	assert_int_equal(s[1].socks[0].family, FAM_V4);
	assert_true(s[1].socks[0].addr == A("127.0.0.1"));
	assert_int_equal(s[1].socks[0].port, 5353);
	assert_int_equal(s[1].socks[0].loc.line, 2);

	assert_int_equal(s[2].nsocks, 1);
	assert_int_equal(s[2].socks[0].proto, PROTO_TCP);
	assert_int_equal(s[2].socks[0].family, FAM_V6);
	assert_true(s[2].socks[0].addr == A("::1"));
	assert_int_equal(s[2].socks[0].port, 9000);

	assert_int_equal(s[3].nsocks, 3);
	assert_int_equal(s[3].socks[1].proto, PROTO_TCP);
	assert_int_equal(s[3].socks[1].family, FAM_V6);
	assert_true(s[3].socks[1].addr == A("2001:db8::80"));
	assert_int_equal(s[3].socks[2].proto, PROTO_UDP);
	assert_int_equal(s[3].socks[2].family, FAM_V4);
	assert_int_equal(s[3].socks[2].port, 80);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ir_print(f, &fe.ir);
	fclose(f);
	assert_non_null(strstr(buf, "service 2 api = tcp [::1]:9000\n"));
	assert_non_null(strstr(buf, "service 3 both = tcp 192.0.2.1:80, tcp [2001:db8::80]:80, udp 192.0.2.1:80\n"));
	free(buf);
	frontend_free(&fe);
}

/* used_slots bit: (udp ? 2 : 0) + (IPv6 ? 1 : 0). */
#define SLOT(udp, v6) (1u << ((udp) * 2 + (v6)))

static void test_lower_service_usage(void **state)
{
	struct frontend fe;

	lower(&fe, "service a\nservice b\nservice c\nservice d\n"
		   "match tcp dst 10.0.0.0/8 -> service a\n"
		   "match udp dst ::1 -> service a or pass\n"
		   "match { tcp, udp } port 53 -> service b\n"
		   "match tcp port 1 -> drop\n"
		   "match tcp dst 2001:db8::/32 -> service d\n"
		   "match tcp src 2001:db8::/32 port 2 -> service d\n");
	const struct ir_service *s = fe.ir.services;
	assert_int_equal(s[0].used_protos, PROTO_TCP | PROTO_UDP);
	assert_int_equal(s[0].used_slots, SLOT(0, 0) | SLOT(1, 1));
	assert_int_equal(s[0].nrules, 2);
	assert_int_equal(s[1].used_protos, PROTO_ALL);
	assert_int_equal(s[1].used_slots, 0xf);
	assert_int_equal(s[1].nrules, 1);
	assert_int_equal(s[2].used_protos, 0); /* named by no rule; drop does not count */
	assert_int_equal(s[2].used_slots, 0);
	assert_int_equal(s[2].nrules, 0);
	assert_int_equal(s[3].used_protos, PROTO_TCP);
	assert_int_equal(s[3].used_slots, SLOT(0, 1));
	assert_int_equal(s[3].nrules, 2);
	frontend_free(&fe);
}

static void test_lower_expects(void **state)
{
	struct frontend fe;

	lower(&fe, "service web\nmatch tcp iif eth0 -> service web\n"
		   "expect tcp 198.51.100.9:41000 -> 192.168.40.7:80 : service web\n"
		   "expect udp [2001:db8::1]:5000 -> [2001:db8::53]:53 : drop\n"
		   "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 iif eth0 : service web\n"
		   "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 iif eth9 : pass\n");
	assert_int_equal(fe.ir.nexpects, 4);
	const struct ir_expect *x = fe.ir.expects;

	assert_int_equal(x[0].loc.line, 3);
	assert_int_equal(x[0].t.proto, PROTO_TCP);
	assert_int_equal(x[0].t.family, FAM_V4);
	assert_true(x[0].t.src == A("198.51.100.9"));
	assert_int_equal(x[0].t.sport, 41000);
	assert_true(x[0].t.dst == A("192.168.40.7"));
	assert_int_equal(x[0].t.dport, 80);
	assert_int_equal(x[0].t.iif, IIF_NONE);
	assert_null(x[0].iif_name);
	assert_int_equal(x[0].want.kind, ACT_SERVICE);
	assert_int_equal(x[0].want.service, 0);

	assert_int_equal(x[1].t.proto, PROTO_UDP);
	assert_int_equal(x[1].t.family, FAM_V6);
	assert_true(x[1].t.src == A("2001:db8::1"));
	assert_true(x[1].t.dst == A("2001:db8::53"));
	assert_int_equal(x[1].t.sport, 5000);
	assert_int_equal(x[1].t.dport, 53);
	assert_int_equal(x[1].want.kind, ACT_DROP);

	assert_int_equal(x[2].t.iif, 0);
	assert_string_equal(x[2].iif_name, "eth0");
	/* An interface no rule names keeps its name but matches no rule's iif. */
	assert_int_equal(x[3].t.iif, IIF_NONE);
	assert_string_equal(x[3].iif_name, "eth9");
	assert_int_equal(x[3].want.kind, ACT_PASS);
	assert_int_equal(fe.ir.nifaces, 1);
	frontend_free(&fe);

	/* And they hold when run against the reference evaluator. */
	const char *text = "service web\nmatch tcp iif eth0 -> service web\n"
			   "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 iif eth0 : service web\n"
			   "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 iif eth9 : pass\n"
			   "expect tcp 192.0.2.1:1 -> 192.0.2.2:2 : pass\n";
	assert_int_equal(fe_run_opts(&fe, text, false, true), 0);
	assert_clean(&fe.diags);
	assert_int_equal(fe.expects.passed, 3);
	assert_int_equal(fe.expects.failed, 0);
	frontend_free(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pfx_normalize_sorts_and_drops_covered),
		cmocka_unit_test(test_pfx_normalize_v6_and_the_whole_space),
		cmocka_unit_test(test_host_bits_never_reach_the_ir),
		cmocka_unit_test(test_ports_normalize_merges_overlapping_and_adjacent),
		cmocka_unit_test(test_ports_normalize_full_range),
		cmocka_unit_test(test_pfx_list_contains_boundaries),
		cmocka_unit_test(test_ports_contains_boundaries),
		cmocka_unit_test(test_iif_contains),
		cmocka_unit_test(test_lower_covered_prefix_in_a_set),
		cmocka_unit_test(test_lower_families),
		cmocka_unit_test(test_lower_protocols),
		cmocka_unit_test(test_lower_nested_defines_flatten),
		cmocka_unit_test(test_lower_ports_and_sport),
		cmocka_unit_test(test_lower_iif_shares_indexes),
		cmocka_unit_test(test_lower_actions),
		cmocka_unit_test(test_lower_rule_ids_and_locations),
		cmocka_unit_test(test_lower_service_sockets),
		cmocka_unit_test(test_lower_service_usage),
		cmocka_unit_test(test_lower_expects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
