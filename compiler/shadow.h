/*
 * Exact shadowing: a rule is shadowed when the union of the rules before it
 * covers its whole match space, so it can never decide anything. Partial
 * overlaps are not reported.
 */
#ifndef STEER_SHADOW_H
#define STEER_SHADOW_H

#include <stdint.h>

#include "ir.h"

/* Called for each shadowed rule with the earlier rules that cover it, sorted by id. */
typedef void (*shadow_report_fn)(void *ctx, const struct ir_rule *r, const uint32_t *by, uint32_t nby);

void shadow_analyze(const struct ir_policy *p, shadow_report_fn report, void *ctx);

#endif
