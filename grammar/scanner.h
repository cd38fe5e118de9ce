/* State the reentrant scanner keeps beside flex's own. */
#ifndef STEER_SCANNER_H
#define STEER_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "source.h"

/*
 * Sets nest no deeper: more is no policy anyone writes, and it would exhaust
 * the parser's stack and recurse as deep in the checker.
 */
#define MAX_SET_DEPTH 64

struct scanner_extra {
	struct source *src;
	struct arena *arena;
	uint32_t line, col; /* position of the next character */
	int brace_depth; /* newlines inside braces do not end a statement */
	bool eof_newline_sent; /* a last statement needs no trailing newline */
};

#endif
