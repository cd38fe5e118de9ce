/* Warnings on a valid policy: shadowed rules and services no rule uses. */
#ifndef STEER_LINT_H
#define STEER_LINT_H

#include "diag.h"
#include "ir.h"

void lint_policy(const struct ir_policy *p, struct diag_list *diags);

#endif
