/*
 * libFuzzer harness for the first-bytes scanners: any bytes go through both,
 * on a copy of exactly their length so a read past it is caught, under oracles
 * the proxy relies on:
 *
 * - a name is non-empty, at most FB_NAME_MAX, lower case, made of the allowed
 *   characters, without empty labels or a trailing dot;
 * - the answer never changes once given: if a prefix of the input gets FB_NAME
 *   or FB_NONE, the whole input gets the same (and the same name), since the
 *   proxy acts on the first answer that is not FB_MORE.
 *
 * A broken oracle aborts with a message, which libFuzzer records as a crash.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firstbytes.h"

__attribute__((noreturn, format(printf, 1, 2))) static void _fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_firstbytes: oracle failed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void _check_name(const char *what, const char *name)
{
	const size_t n = strnlen(name, FB_NAME_MAX + 1);

	if (n == 0 || n > FB_NAME_MAX)
		_fail("%s: a name of %zu characters", what, n);
	for (size_t i = 0; i < n; i++) {
		const char c = name[i];

		if (c == '.' ? i == 0 || i == n - 1 || name[i - 1] == '.'
			     : !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			_fail("%s: bad name \"%s\"", what, name);
	}
}

static enum fb_result _run(const char *what, enum fb_result (*fn)(const uint8_t *, size_t, char *),
			   const uint8_t *data, size_t size, char *name)
{
	uint8_t *copy = malloc(size ? size : 1);
	enum fb_result r;

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	r = fn(copy, size, name);
	free(copy);
	if (r == FB_NAME)
		_check_name(what, name);
	else if (r != FB_MORE && r != FB_NONE)
		_fail("%s: answer %d", what, r);
	return r;
}

static void _scanner(const char *what, enum fb_result (*fn)(const uint8_t *, size_t, char *), const uint8_t *data,
		     size_t size)
{
	char whole[FB_NAME_MAX + 1], part[FB_NAME_MAX + 1];
	const enum fb_result r = _run(what, fn, data, size, whole);

	/* Two prefixes, fixed by the input: a crash reproduces from the bytes alone. */
	const size_t cuts[] = { size ? size - 1 : 0, size ? data[0] % size : 0 };

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		const enum fb_result p = _run(what, fn, data, cuts[i], part);

		if (p != FB_MORE && p != r)
			_fail("%s: %zu bytes answer %d, their first %zu %d", what, size, r, cuts[i], p);
		if (p == FB_NAME && strcmp(part, whole))
			_fail("%s: %zu bytes name \"%s\", their first %zu \"%s\"", what, size, whole, cuts[i], part);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_scanner("fb_tls_sni", fb_tls_sni, data, size);
	_scanner("fb_http_host", fb_http_host, data, size);
	return 0;
}
