/*
 * Shared helpers for the unit tests: run the front end on a policy held in a
 * string and look diagnostics up by level, position and message.
 */
#ifndef STEER_TEST_UNIT_H
#define STEER_TEST_UNIT_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

/* The policy of SPEC §1's example, with its two expects. */
#define SPEC_EXAMPLE \
	"define anycast = { 192.0.2.0/24, 198.51.100.0/24, 2001:db8:40::/48 }\n" \
	"define web_ports = { 80, 443, 8000-8099 }\n" \
	"service web\n" \
	"service dns = udp 127.0.0.1:5353\n" \
	"service api = tcp [::1]:9000\n" \
	"match tcp dst 192.168.40.0/24 port 80        -> service web\n" \
	"match tcp dst 172.16.40.0/24 port 80         -> service api\n" \
	"match tcp dst 192.168.56.110 port 1234       -> service web\n" \
	"match { tcp, udp } dst $anycast port 53      -> service dns\n" \
	"match tcp src 203.0.113.0/24 port $web_ports -> drop\n" \
	"match tcp dst $anycast port $web_ports       -> service web or pass\n" \
	"match udp port 7                             -> pass\n" \
	"expect tcp 198.51.100.9:41000 -> 192.168.40.7:80 : service web\n" \
	"expect udp 192.0.2.1:5000 -> 192.0.2.53:53       : service dns\n"

/* In angle brackets, as stdin is: the front end refuses includes there. */
#define TEST_NAME "<test>"

static inline int fe_run_opts(struct frontend *fe, const char *text, bool lint, bool expects)
{
	struct frontend_opts o = { .lint = lint, .expects = expects };

	return frontend_run_mem(fe, TEST_NAME, text, strlen(text), &o);
}

/* Parse, check and lower only: most tests want exactly the diagnostics of one stage. */
static inline void fe_run(struct frontend *fe, const char *text)
{
	assert_int_equal(fe_run_opts(fe, text, false, false), 0);
}

static inline unsigned diag_count(const struct diag_list *d, enum diag_level level)
{
	unsigned n = 0;

	for (const struct diag *r = d->head; r; r = r->next)
		n += r->level == level;
	return n;
}

/* The first diagnostic of LEVEL at LINE:COL whose message contains MSG; line 0 matches any position. */
static inline const struct diag *diag_find(const struct diag_list *d, enum diag_level level, unsigned line,
					   unsigned col, const char *msg)
{
	for (const struct diag *r = d->head; r; r = r->next) {
		if (r->level != level || !strstr(r->msg, msg))
			continue;
		if (line && (r->loc.line != line || r->loc.col != col))
			continue;
		return r;
	}
	return NULL;
}

/* On a miss, print what there was: a failing test then says why by itself. */
#define assert_diag(d, level, line, col, msg)                                                                     \
	do {                                                                                                      \
		if (!diag_find(d, level, line, col, msg)) {                                                       \
			diag_print(stdout, d, false);                                                             \
			fail_msg("no %s at %u:%u containing \"%s\"",                                              \
				 (level) == DIAG_ERROR ? "error" : (level) == DIAG_WARNING ? "warning" : "note",  \
				 (unsigned)(line), (unsigned)(col), msg);                                         \
		}                                                                                                 \
	} while (0)

#define assert_error(d, line, col, msg) assert_diag(d, DIAG_ERROR, line, col, msg)
#define assert_warning(d, line, col, msg) assert_diag(d, DIAG_WARNING, line, col, msg)
#define assert_note(d, line, col, msg) assert_diag(d, DIAG_NOTE, line, col, msg)

/* The 1-based column of the first NEEDLE on LINE of TEXT: tests say where, not count. */
static inline unsigned col_of(const char *text, unsigned line, const char *needle)
{
	const char *s = text, *end, *hit;

	for (unsigned l = 1; l < line && s; l++) {
		s = strchr(s, '\n');
		s = s ? s + 1 : NULL;
	}
	if (!s)
		fail_msg("no line %u", line);
	end = strchr(s, '\n');
	hit = strstr(s, needle);
	if (!hit || (end && hit >= end))
		fail_msg("no \"%s\" on line %u", needle, line);
	return (unsigned)(hit - s) + 1;
}

/* A diagnostic whose span is exactly the first NEEDLE on LINE. */
#define assert_diag_at(d, level, text, line, needle, msg)                                                         \
	do {                                                                                                      \
		unsigned _col = col_of(text, line, needle);                                                       \
		assert_diag(d, level, line, _col, msg);                                                           \
		const struct diag *_r = diag_find(d, level, line, _col, msg);                                     \
		if (_r->loc.end_line != (line) || _r->loc.end_col != _col + strlen(needle) - 1)                   \
			fail_msg("span ends at %u:%u, expected %u:%zu", _r->loc.end_line, _r->loc.end_col,       \
				 (unsigned)(line), _col + strlen(needle) - 1);                                    \
	} while (0)

#define assert_error_at(d, text, line, needle, msg) assert_diag_at(d, DIAG_ERROR, text, line, needle, msg)
#define assert_warning_at(d, text, line, needle, msg) assert_diag_at(d, DIAG_WARNING, text, line, needle, msg)
#define assert_note_at(d, text, line, needle, msg) assert_diag_at(d, DIAG_NOTE, text, line, needle, msg)

/* Exactly N errors: a test pinning one mistake also pins that nothing else was reported. */
#define assert_nerrors(d, n)                                                                                       \
	do {                                                                                                      \
		if ((d)->nerrors != (unsigned)(n)) {                                                              \
			diag_print(stdout, d, false);                                                             \
			fail_msg("%u errors, expected %u", (d)->nerrors, (unsigned)(n));                          \
		}                                                                                                 \
	} while (0)

#define assert_clean(d)                                                                                            \
	do {                                                                                                      \
		if ((d)->head) {                                                                                  \
			diag_print(stdout, d, false);                                                             \
			fail_msg("expected no diagnostics");                                                      \
		}                                                                                                 \
	} while (0)

#endif
