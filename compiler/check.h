/*
 * Semantic checks and lowering: resolves $names and services, validates every
 * literal, checks kinds, and builds the normalised IR. All errors carry the
 * location of the construct at fault.
 */
#ifndef STEER_CHECK_H
#define STEER_CHECK_H

#include "ast.h"
#include "diag.h"
#include "ir.h"

/* Fills IR from AST. Returns 0; errors are in DIAGS (the IR is then incomplete). */
int check_policy(const struct policy_ast *ast, const char *path, struct ir_policy *ir, struct diag_list *diags);

#endif
