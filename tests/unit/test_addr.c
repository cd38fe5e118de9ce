/* common/addr.c: prefixes as u128, their text forms, and endpoints. */
#include "unit.h"

#include <errno.h>

#include "addr.h"

#define V6(hi, lo) (((u128)(hi) << 64) | (u128)(lo))

/* cmocka compares 64-bit values: split a u128 so a mismatch prints both halves. */
#define assert_u128_equal(a, b)                                                                                    \
	do {                                                                                                      \
		u128 _a = (a), _b = (b);                                                                          \
		assert_int_equal((uint64_t)(_a >> 64), (uint64_t)(_b >> 64));                                     \
		assert_int_equal((uint64_t)_a, (uint64_t)_b);                                                     \
	} while (0)

static struct prefix parse_ok(const char *text)
{
	struct prefix p;

	memset(&p, 0xa5, sizeof(p));
	assert_int_equal(prefix_parse(text, &p), ADDR_OK);
	return p;
}

static void test_prefix_parse_ipv4(void **state)
{
	struct prefix p = parse_ok("192.0.2.0/24");

	assert_int_equal(p.family, FAM_V4);
	assert_int_equal(p.len, 24);
	assert_u128_equal(p.addr, 0xc0000200);

	p = parse_ok("0.0.0.0/0");
	assert_int_equal(p.len, 0);
	assert_u128_equal(p.addr, 0);

	p = parse_ok("255.255.255.255");
	assert_int_equal(p.len, 32);
	assert_u128_equal(p.addr, 0xffffffff);
}

static void test_prefix_parse_ipv6(void **state)
{
	struct prefix p = parse_ok("2001:db8::/32");

	assert_int_equal(p.family, FAM_V6);
	assert_int_equal(p.len, 32);
	assert_u128_equal(p.addr, V6(0x20010db800000000ull, 0));

	p = parse_ok("::1");
	assert_int_equal(p.len, 128);
	assert_u128_equal(p.addr, 1);

	p = parse_ok("::/0");
	assert_int_equal(p.len, 0);
	assert_int_equal(p.family, FAM_V6);

	/* An IPv4-mapped address is IPv6, not IPv4. */
	p = parse_ok("::ffff:192.0.2.1");
	assert_int_equal(p.family, FAM_V6);
	assert_u128_equal(p.addr, V6(0, 0x0000ffffc0000201ull));
}

static void test_prefix_parse_host_bits_gives_network(void **state)
{
	struct prefix p;

	assert_int_equal(prefix_parse("192.168.1.1/24", &p), ADDR_HOST_BITS);
	assert_int_equal(p.len, 24);
	assert_u128_equal(p.addr, 0xc0a80100);

	assert_int_equal(prefix_parse("2001:db8::1/64", &p), ADDR_HOST_BITS);
	assert_int_equal(p.len, 64);
	assert_u128_equal(p.addr, V6(0x20010db800000000ull, 0));

	/* Lengths 0 are the edge of the shifts: everything is a host bit. */
	assert_int_equal(prefix_parse("1.2.3.4/0", &p), ADDR_HOST_BITS);
	assert_u128_equal(p.addr, 0);
	assert_int_equal(prefix_parse("::1/0", &p), ADDR_HOST_BITS);
	assert_u128_equal(p.addr, 0);
	assert_int_equal(p.family, FAM_V6);
}

static void test_prefix_parse_bad_length(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/1x", "10.0.0.0/ 8", "10.0.0.0/1000",
	};
	struct prefix p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (prefix_parse(bad[i], &p) != ADDR_BAD_LENGTH)
			fail_msg("'%s' is not a bad length", bad[i]);
	/* The family's full width is still a length. */
	assert_int_equal(prefix_parse("10.0.0.1/32", &p), ADDR_OK);
	assert_int_equal(prefix_parse("::1/128", &p), ADDR_OK);
}

static void test_prefix_parse_bad_address(void **state)
{
	static const char *const bad[] = {
		"192.168.400.0/24", "1.2.3", "1.2.3.4.5", "", "/24", "foo", "1:2:3:4:5:6:7:8:9", "2001:db8:::1",
		"1.2.3.4 ", "0123456789012345678901234567890123456789012345678901234567890123456789/8",
	};
	struct prefix p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (prefix_parse(bad[i], &p) != ADDR_BAD_ADDRESS)
			fail_msg("'%s' is not a bad address", bad[i]);
}

static void test_prefix_last(void **state)
{
	struct prefix p = parse_ok("192.0.2.0/24");

	assert_u128_equal(prefix_last(&p), 0xc00002ff);
	p = parse_ok("192.0.2.7");
	assert_u128_equal(prefix_last(&p), 0xc0000207);
	/* An IPv4 /0 ends at the family's top, not at the top of u128. */
	p = parse_ok("0.0.0.0/0");
	assert_u128_equal(prefix_last(&p), 0xffffffff);
	p = parse_ok("::/0");
	assert_u128_equal(prefix_last(&p), ~(u128)0);
	p = parse_ok("8000::/1");
	assert_u128_equal(prefix_last(&p), ~(u128)0);
	p = parse_ok("::/1");
	assert_u128_equal(prefix_last(&p), ~(u128)0 >> 1);
	p = parse_ok("2001:db8::/32");
	assert_u128_equal(prefix_last(&p), V6(0x20010db8ffffffffull, ~0ull));
}

static void test_prefix_contains_bounds(void **state)
{
	struct prefix p = parse_ok("10.1.0.0/16");

	assert_true(prefix_contains(&p, 0x0a010000));
	assert_true(prefix_contains(&p, 0x0a01ffff));
	assert_false(prefix_contains(&p, 0x0a00ffff));
	assert_false(prefix_contains(&p, 0x0a020000));

	p = parse_ok("2001:db8::/32");
	assert_true(prefix_contains(&p, V6(0x20010db800000000ull, 0)));
	assert_true(prefix_contains(&p, V6(0x20010db8ffffffffull, ~0ull)));
	assert_false(prefix_contains(&p, V6(0x20010db900000000ull, 0)));
	assert_false(prefix_contains(&p, V6(0x20010db7ffffffffull, ~0ull)));

	p = parse_ok("::/0");
	assert_true(prefix_contains(&p, 0));
	assert_true(prefix_contains(&p, ~(u128)0));
}

static void test_prefix_format_round_trip(void **state)
{
	static const char *const texts[] = {
		"192.0.2.0/24", "0.0.0.0/0", "10.0.0.1", "2001:db8::/32", "::/0", "::1", "fe80::1:2", "::ffff:192.0.2.1",
	};
	char buf[PREFIX_STRLEN];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct prefix p = parse_ok(texts[i]);
		assert_string_equal(prefix_format(&p, buf), texts[i]);
	}
	/* Text forms are canonical: leading zeros and long runs of zeros go. */
	struct prefix p = parse_ok("2001:0db8:0000:0000:0000:0000:0000:0001/128");
	assert_string_equal(prefix_format(&p, buf), "2001:db8::1");
	/* The longest forms still fit. */
	p = parse_ok("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.254/127");
	assert_string_equal(prefix_format(&p, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
}

static void test_addr_parse_family_filter(void **state)
{
	u128 a = 0;

	assert_int_equal(addr_parse("192.0.2.1", -1, &a), FAM_V4);
	assert_u128_equal(a, 0xc0000201);
	assert_int_equal(addr_parse("192.0.2.1", FAM_V4, &a), FAM_V4);
	assert_int_equal(addr_parse("192.0.2.1", FAM_V6, &a), -EINVAL);
	assert_int_equal(addr_parse("::1", FAM_V6, &a), FAM_V6);
	assert_u128_equal(a, 1);
	assert_int_equal(addr_parse("::1", FAM_V4, &a), -EINVAL);
	/* A prefix is not an address. */
	assert_int_equal(addr_parse("10.0.0.0/8", -1, &a), -EINVAL);
}

static void test_addr_bytes_are_network_order(void **state)
{
	unsigned char v4[4] = { 192, 0, 2, 1 }, out4[4];
	unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 }, out6[16];
	char buf[PREFIX_STRLEN];

	assert_u128_equal(addr_from_bytes(v4, FAM_V4), 0xc0000201);
	addr_to_bytes(0xc0000201, FAM_V4, out4);
	assert_memory_equal(out4, v4, 4);

	u128 a = addr_from_bytes(v6, FAM_V6);
	assert_u128_equal(a, V6(0x20010db800000000ull, 0x42));
	addr_to_bytes(a, FAM_V6, out6);
	assert_memory_equal(out6, v6, 16);
	assert_string_equal(addr_format(a, FAM_V6, buf), "2001:db8::42");
	assert_string_equal(addr_format(0xc0000201, FAM_V4, buf), "192.0.2.1");
}

static void test_endpoint_parse_ipv4(void **state)
{
	u128 a = 0;
	uint16_t port = 0;

	assert_int_equal(endpoint_parse("192.0.2.1:80", &a, &port), FAM_V4);
	assert_u128_equal(a, 0xc0000201);
	assert_int_equal(port, 80);
	assert_int_equal(endpoint_parse("0.0.0.0:0", &a, &port), FAM_V4);
	assert_int_equal(port, 0);
	assert_int_equal(endpoint_parse("255.255.255.255:65535", &a, &port), FAM_V4);
	assert_int_equal(port, 65535);
}

static void test_endpoint_parse_bracketed_ipv6(void **state)
{
	u128 a = 0;
	uint16_t port = 0;

	assert_int_equal(endpoint_parse("[2001:db8::1]:443", &a, &port), FAM_V6);
	assert_u128_equal(a, V6(0x20010db800000000ull, 1));
	assert_int_equal(port, 443);
	assert_int_equal(endpoint_parse("[::]:53", &a, &port), FAM_V6);
	assert_u128_equal(a, 0);
	assert_int_equal(port, 53);
	assert_int_equal(endpoint_parse("[::ffff:192.0.2.1]:8080", &a, &port), FAM_V6);
	assert_u128_equal(a, V6(0, 0x0000ffffc0000201ull));
}

static void test_endpoint_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"192.0.2.1", /* no port */
		"192.0.2.1:", "192.0.2.1:65536", "192.0.2.1:-1", "192.0.2.1:+1", "192.0.2.1:80x", "192.0.2.1:0x50",
		"192.0.2.1:99999999999999999999999", "192.0.2.1/24:80", "300.0.2.1:80", ":80",
		"::1:80", /* IPv6 needs brackets */
		"2001:db8::1:443",
		"[192.0.2.1]:80", /* brackets are for IPv6 */
		"[::1]80", "[::1]", "[::1:80", "[::1]:", "[::1]:65536", "[]:80", "[::1/128]:80",
	};
	u128 a;
	uint16_t port = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (endpoint_parse(bad[i], &a, &port) != -EINVAL)
			fail_msg("'%s' parsed as an endpoint", bad[i]);
	assert_int_equal(port, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_ipv4),
		cmocka_unit_test(test_prefix_parse_ipv6),
		cmocka_unit_test(test_prefix_parse_host_bits_gives_network),
		cmocka_unit_test(test_prefix_parse_bad_length),
		cmocka_unit_test(test_prefix_parse_bad_address),
		cmocka_unit_test(test_prefix_last),
		cmocka_unit_test(test_prefix_contains_bounds),
		cmocka_unit_test(test_prefix_format_round_trip),
		cmocka_unit_test(test_addr_parse_family_filter),
		cmocka_unit_test(test_addr_bytes_are_network_order),
		cmocka_unit_test(test_endpoint_parse_ipv4),
		cmocka_unit_test(test_endpoint_parse_bracketed_ipv6),
		cmocka_unit_test(test_endpoint_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
