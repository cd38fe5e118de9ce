/*
 * The built policy file: what compile writes, apply reads back exactly, and
 * any damage (a flipped byte anywhere, a truncation at any length, another
 * format) is refused with the errno that says which, never read as something else.
 */
#include "unit.h"

#include <errno.h>
#include <unistd.h>

#include "built.h"
#include "error.h"

static char *_dup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

/* A built policy with every field set, as the build stage would make it (the object is opaque bytes here). */
static void _sample(struct built_policy *b)
{
	memset(b, 0, sizeof(*b));
	b->m.policy = _dup("/etc/steer/edge.steer");
	strcpy(b->m.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	b->m.built_by = _dup("0.1.0");
	b->m.strategy = STRATEGY_TABLE;
	b->m.nrules = 3;
	b->m.nfiles = 2;
	b->m.files = calloc(2, sizeof(char *));
	b->m.files[0] = _dup("/etc/steer/edge.steer");
	b->m.files[1] = _dup("/etc/steer/inc/dns.steer");
	b->m.nifaces = 1;
	b->m.ifaces = calloc(1, sizeof(char *));
	b->m.ifaces[0] = _dup("eth0");
	b->m.nservices = 3;
	b->m.services = calloc(3, sizeof(*b->m.services));
	b->m.services[0] = (struct built_service){ .name = _dup("web"), .protos = PROTO_TCP, .used_slots = 1, .udp_any = true };
	b->m.services[1] = (struct built_service){ .name = _dup("dns"), .protos = PROTO_UDP | PROTO_TCP, .used_slots = 0xc,
						   .listen = calloc(2, sizeof(struct built_listen)), .nlisten = 2,
						   .udp_to = calloc(1, sizeof(struct built_listen)), .nudp_to = 1 };
	b->m.services[1].udp_to[0] = (struct built_listen){ PROTO_UDP, FAM_V4, 53, 0x7f350001 };
	b->m.services[1].listen[0] = (struct built_listen){ PROTO_UDP, FAM_V4, 5353, 0x7f000001 };
	b->m.services[1].listen[1] = (struct built_listen){ PROTO_UDP, FAM_V6, 53, (u128)0xfd00 << 112 | 1 };
	struct built_forward *fw = calloc(1, sizeof(*fw));
	fw->by = FWD_SNI;
	fw->up = (struct upstream){ .drop = true };
	fw->nnames = 3;
	fw->names = calloc(3, sizeof(*fw->names));
	fw->names[0] = (struct built_fwd_name){ _dup("a.example"), false, { false, FAM_V4, 9001, 0x7f000001 } };
	fw->names[1] = (struct built_fwd_name){ _dup("example"), true, { false, FAM_V6, 9002, 1 } };
	fw->names[2] = (struct built_fwd_name){ _dup("b.example"), true, { false, FAM_V4, 9003, 0x7f000001 } };
	b->m.services[2] = (struct built_service){ .name = _dup("forward sni 0123456789abcdef"), .protos = PROTO_TCP,
						   .used_slots = 1, .forward = fw };
	b->rules = calloc(3, sizeof(*b->rules));
	b->rules[0] = (struct steer_rule_record){ 0, 4, 1, 0 };
	b->rules[1] = (struct steer_rule_record){ 1, 2, 1, STEER_ACT_DROP << STEER_ACT_KIND_SHIFT };
	b->rules[2] = (struct steer_rule_record){ 0, 9, 3, STEER_ACT_OR_PASS | 1 };
	b->objlen = 300;
	b->obj = malloc(b->objlen);
	for (size_t i = 0; i < b->objlen; i++)
		((uint8_t *)b->obj)[i] = (uint8_t)(i * 7);
	b->data_chunks = 2;
	b->data = calloc(2 * STEER_CHUNK_ENTRIES, sizeof(uint32_t));
	for (uint32_t i = 0; i < 2 * STEER_CHUNK_ENTRIES; i++)
		b->data[i] = i * 2654435761u;
}

static char _path[] = "/tmp/steer-built-XXXXXX";

static int _setup(void **state)
{
	int fd = mkstemp(_path);

	close(fd);
	(void)state;
	return 0;
}

static int _teardown(void **state)
{
	unlink(_path);
	(void)state;
	return 0;
}

static void test_round_trip(void **state)
{
	struct built_policy a, b;

	_sample(&a);
	assert_int_equal(built_write(&a, _path), 0);
	assert_true(built_sniff(_path));
	assert_int_equal(built_read(_path, &b), 0);
	assert_string_equal(b.m.policy, a.m.policy);
	assert_string_equal(b.m.sha256, a.m.sha256);
	assert_string_equal(b.m.built_by, a.m.built_by);
	assert_int_equal(b.m.strategy, a.m.strategy);
	assert_int_equal(b.m.nrules, 3);
	assert_int_equal(b.m.nfiles, 2);
	assert_string_equal(b.m.files[1], "/etc/steer/inc/dns.steer");
	assert_int_equal(b.m.nifaces, 1);
	assert_string_equal(b.m.ifaces[0], "eth0");
	assert_int_equal(b.m.nservices, 3);
	assert_null(b.m.services[1].forward);
	assert_int_equal(built_first_forward(&b.m), 2);
	const struct built_forward *fw = b.m.services[2].forward;
	assert_non_null(fw);
	assert_int_equal(fw->by, FWD_SNI);
	assert_true(fw->up.drop);
	assert_int_equal(fw->nnames, 3);
	assert_string_equal(fw->names[1].name, "example");
	assert_true(fw->names[1].wildcard);
	assert_int_equal(fw->names[1].up.family, FAM_V6);
	assert_int_equal(fw->names[2].up.port, 9003);
	assert_string_equal(b.m.services[1].name, "dns");
	assert_int_equal(b.m.services[1].protos, PROTO_UDP | PROTO_TCP);
	assert_int_equal(b.m.services[1].used_slots, 0xc);
	assert_int_equal(b.m.services[1].nlisten, 2);
	assert_true(b.m.services[1].listen[1].addr == a.m.services[1].listen[1].addr);
	assert_int_equal(b.m.services[1].listen[0].port, 5353);
	assert_true(b.m.services[0].udp_any);
	assert_false(b.m.services[1].udp_any);
	assert_int_equal(b.m.services[1].nudp_to, 1);
	assert_true(b.m.services[1].udp_to[0].addr == 0x7f350001);
	assert_memory_equal(b.rules, a.rules, 3 * sizeof(*a.rules));
	assert_int_equal(b.objlen, a.objlen);
	assert_memory_equal(b.obj, a.obj, a.objlen);
	assert_int_equal(b.data_chunks, 2);
	assert_memory_equal(b.data, a.data, 2 * STEER_CHUNK_ENTRIES * sizeof(uint32_t));
	built_policy_free(&a);
	built_policy_free(&b);
	(void)state;
}

/* An exact name wins, then the longest wildcard that covers the name, then the default. */
static void test_forward_choose(void **state)
{
	struct built_policy a;

	_sample(&a);
	const struct built_forward *fw = a.m.services[2].forward;
	assert_int_equal(built_forward_choose(fw, "a.example")->port, 9001);
	assert_int_equal(built_forward_choose(fw, "x.b.example")->port, 9003);
	assert_int_equal(built_forward_choose(fw, "y.x.b.example")->port, 9003);
	assert_int_equal(built_forward_choose(fw, "b.example")->port, 9002); /* "*.b.example" is below it only */
	assert_int_equal(built_forward_choose(fw, "c.example")->port, 9002);
	assert_true(built_forward_choose(fw, "example")->drop);
	assert_true(built_forward_choose(fw, "xb.example.org")->drop);
	assert_true(built_forward_choose(fw, NULL)->drop);
	built_policy_free(&a);
	(void)state;
}

static uint8_t *_slurp(size_t *len)
{
	FILE *f = fopen(_path, "rb");
	uint8_t *buf = malloc(1 << 20);

	assert_non_null(f);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void _spill(const uint8_t *buf, size_t len)
{
	FILE *f = fopen(_path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void test_every_flipped_byte_is_refused(void **state)
{
	struct built_policy a, b;
	size_t len;

	_sample(&a);
	assert_int_equal(built_write(&a, _path), 0);
	uint8_t *good = _slurp(&len);
	for (size_t i = 0; i < len; i++) {
		/* Bytes 12..31 name the steer that wrote the file: informative, not checked. 44..47 are reserved. */
		if ((i >= 12 && i < 32) || (i >= 44 && i < 48))
			continue;
		good[i] ^= 0x5a;
		_spill(good, len);
		int r = built_read(_path, &b);
		if (r == 0)
			fail_msg("byte %zu flipped: read back as a good built policy", i);
		assert_true(r == -EBADMSG || r == -EPROTO || r == -ENOEXEC);
		good[i] ^= 0x5a;
	}
	free(good);
	built_policy_free(&a);
	(void)state;
}

static void test_every_truncation_is_refused(void **state)
{
	struct built_policy a, b;
	size_t len;

	_sample(&a);
	assert_int_equal(built_write(&a, _path), 0);
	uint8_t *good = _slurp(&len);
	for (size_t n = 0; n < len; n++) {
		_spill(good, n);
		int r = built_read(_path, &b);
		assert_true(r == -EBADMSG || r == -ENOEXEC);
	}
	free(good);
	built_policy_free(&a);
	(void)state;
}

static void test_another_format_is_named(void **state)
{
	struct built_policy a, b;
	size_t len;

	_sample(&a);
	assert_int_equal(built_write(&a, _path), 0);
	uint8_t *buf = _slurp(&len);
	buf[8] = 1;
	_spill(buf, len);
	assert_int_equal(built_read(_path, &b), -EPROTO);
	assert_non_null(strstr(error_message(), "format 1; this steer"));
	memcpy(buf, "\177ELF", 4);
	_spill(buf, len);
	assert_int_equal(built_read(_path, &b), -ENOEXEC);
	assert_false(built_sniff(_path));
	free(buf);
	built_policy_free(&a);
	(void)state;
}

static void test_wire_counts_are_bounded(void **state)
{
	wire_buf w = { 0 };

	wire_u32(&w, 1000000); /* a count of strings, with nothing after it */
	struct wire_reader r = { .p = w.v, .len = w.n };
	assert_int_equal(wire_get_count(&r, 4), 0);
	assert_true(r.bad);
	assert_null(wire_get_str(&r));
	vec_free(&w);
	wire_str(&w, "ab");
	w.v[4] = '\0'; /* a NUL inside a string is damage, not an early end */
	struct wire_reader r2 = { .p = w.v, .len = w.n };
	assert_null(wire_get_str(&r2));
	assert_true(r2.bad);
	vec_free(&w);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_every_flipped_byte_is_refused, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation_is_refused, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_another_format_is_named, _setup, _teardown),
		cmocka_unit_test(test_wire_counts_are_bounded),
		cmocka_unit_test(test_forward_choose),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
