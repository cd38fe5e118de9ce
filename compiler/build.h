/*
 * The build stage: a checked policy in, a built policy (built.h) out. The
 * strategy builds the decision structure and the C, clang compiles it, and
 * the manifest records what the runtime needs. `compile`, `apply`, `test
 * --bpf` and `eval --bpf` all build through here.
 */
#ifndef STEER_BUILD_H
#define STEER_BUILD_H

#include <stdbool.h>

#include "built.h"
#include "diag.h"
#include "ir.h"

struct build_opts {
	const char *clang; /* NULL: $STEER_CLANG, then clang on PATH */
	enum strategy strategy;
	bool verbose; /* clang's whole output with its complaint */
};

/*
 * Builds P into OUT. 0, or -errno with the message in error.h's channel:
 * -ENOENT when clang is missing, -EIO when clang refused the generated code
 * (its complaint is in DIAGS, at the rule the code is for).
 */
int build_policy(const struct ir_policy *p, const struct build_opts *o, struct diag_list *diags,
		 struct built_policy *out);

#endif
