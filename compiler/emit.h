/*
 * Writing the generated C: the prelude with the sizes, the template, and the
 * decision code a strategy writes, with each rule's policy text as a comment
 * above the code generated for it.
 */
#ifndef STEER_EMIT_H
#define STEER_EMIT_H

#include <stdio.h>

#include "backend.h"
#include "ir.h"

struct emitter {
	FILE *f;
	char *buf;
	size_t len;
	uint32_t line; /* current line of the output, 1-based */
	struct backend_program *out;
};

/* Opens the output and writes the prelude and the template. */
int emit_begin(struct emitter *e, const struct ir_policy *p, struct backend_program *out, const char *strategy);
__attribute__((format(printf, 2, 3))) void emit(struct emitter *e, const char *fmt, ...);
/* "/ * FILE:LINE: the rule as written * /" at INDENT tabs, recording the rule's line. */
void emit_rule_comment(struct emitter *e, const struct ir_policy *p, const struct ir_rule *r, int indent);
/* "return steer_service(...)" or "return steer_verdict(...)" for the rule's action. */
void emit_action(struct emitter *e, const struct ir_policy *p, const struct ir_rule *r);
/* Closes the output into out->c. */
int emit_end(struct emitter *e);

#endif
