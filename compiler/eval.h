/*
 * The reference evaluator: SPEC §2 written as directly as possible. It is the
 * oracle every compiled program is tested against, so clarity beats speed.
 */
#ifndef STEER_EVAL_H
#define STEER_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"

/*
 * Which services have a usable socket for a protocol and family (a dual-stack
 * IPv6 socket counts for IPv4 when the model says so). NULL: all of them.
 */
struct sock_model {
	bool (*usable)(const void *ctx, uint32_t service, uint8_t proto, uint8_t family);
	const void *ctx;
};

bool eval_rule_matches(const struct ir_rule *r, const struct tuple *t);
/* First-match evaluation; no rule matching means pass. */
struct verdict eval_tuple(const struct ir_policy *p, const struct tuple *t, const struct sock_model *socks);

bool verdict_equal(const struct verdict *a, const struct verdict *b);
/* "service web", "drop" or "pass". */
void verdict_print(FILE *f, const struct ir_policy *p, const struct verdict *v);
/* "FILE:LINE" of the deciding rule, or "-". */
void verdict_print_rule(FILE *f, const struct ir_policy *p, const struct verdict *v);
/* "tcp 192.0.2.1:5000 -> 192.0.2.53:53", IPv6 endpoints bracketed. */
void tuple_print(FILE *f, const struct ir_policy *p, const struct tuple *t);

#endif
