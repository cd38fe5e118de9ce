/* Compiling the generated C to a BPF object with clang. */
#ifndef STEER_CLANG_H
#define STEER_CLANG_H

#include <stddef.h>

#include "backend.h"
#include "diag.h"
#include "ir.h"

struct clang_opts {
	const char *clang; /* NULL: $STEER_CLANG, then "clang" on PATH */
	bool verbose; /* keep clang's whole output in the error */
};

/*
 * Compiles BP's C into an ELF object (*obj, *len, malloc'd). On a clang error
 * the first complaint is queued in DIAGS at the policy rule whose code it is
 * about (or without location), and -EINVAL returned; -ENOENT when clang is
 * not found; -errno for other failures.
 */
int clang_compile(const struct ir_policy *p, const struct backend_program *bp, const struct clang_opts *o,
		  struct diag_list *diags, void **obj, size_t *len);

#endif
