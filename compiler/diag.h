/*
 * Diagnostics as records: each stage queues errors and warnings with their
 * location; the CLI prints them with the source line and a caret under the span.
 */
#ifndef STEER_DIAG_H
#define STEER_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "source.h"

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

struct diag {
	struct diag *next;
	enum diag_level level;
	struct location loc; /* loc.src NULL: no location */
	char *msg;
};

struct diag_list {
	struct diag *head, **tail;
	unsigned nerrors, nwarnings;
	unsigned max_errors; /* 0: the default limit */
	bool werror; /* warnings count as errors, and against the error limit */
	bool all_warnings; /* keep every warning (--verbose), not only the first DIAG_MAX_WARNINGS */
	bool truncated; /* the limit was reached and later errors dropped */
	unsigned dropped_warnings; /* warnings beyond their limit: counted, not kept */
	bool dropped_last; /* the last record was dropped, so are its notes */
};

/* How many errors, and warnings, are shown; the rest are counted. */
#define DIAG_MAX_ERRORS 20
#define DIAG_MAX_WARNINGS 20
/* The most of a source line a diagnostic shows: a window around the span. */
#define DIAG_LINE_WINDOW 200

void diag_init(struct diag_list *d);
/* Queues one diagnostic; a NOTE attaches to the record queued before it. */
__attribute__((format(printf, 4, 5))) void diag_add(struct diag_list *d, enum diag_level level,
						    const struct location *loc, const char *fmt, ...);
#define diag_error(d, loc, ...) diag_add(d, DIAG_ERROR, loc, __VA_ARGS__)
#define diag_warning(d, loc, ...) diag_add(d, DIAG_WARNING, loc, __VA_ARGS__)
#define diag_note(d, loc, ...) diag_add(d, DIAG_NOTE, loc, __VA_ARGS__)

/* True when the policy must be rejected: errors, or warnings under --werror. */
bool diag_failed(const struct diag_list *d);
/* An error beyond the limit was dropped: stages may stop early, the printout says so. */
bool diag_full(const struct diag_list *d);
void diag_print(FILE *f, const struct diag_list *d, bool color);
void diag_free(struct diag_list *d);

#endif
