/* Reads a policy into an AST: scanner and parser per file, includes spliced in place. */
#ifndef STEER_PARSE_H
#define STEER_PARSE_H

#include <stddef.h>

#include "ast.h"
#include "diag.h"

/*
 * Parses PATH and everything it includes. Syntax errors go to DIAGS; the return
 * value is 0, or -errno when PATH itself cannot be read.
 */
int policy_parse_file(struct policy_ast *ast, const char *path, struct diag_list *diags);
/* The same from memory; an include there is an error (no directory to resolve it in). */
int policy_parse_mem(struct policy_ast *ast, const char *name, const char *text, size_t len, struct diag_list *diags);

#endif
