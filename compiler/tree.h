/*
 * The direct-branch strategy: per family and protocol, the rules that can
 * match there, in order, each a straight test of constants. Best for small
 * policies: no map lookup but the socket's.
 */
#ifndef STEER_TREE_H
#define STEER_TREE_H

#include <stdio.h>

#include "backend.h"
#include "ir.h"

/*
 * A run of destination ports that every rule of a group treats alike, and the
 * rules that can match there (a slice of tree_group.members, in policy order,
 * their port tests implied). The program finds the class with a binary search
 * on the port, then tests only its rules.
 */
struct tree_class {
	uint16_t lo, hi;
	uint32_t first, n;
};

/* The rules that apply to one family and protocol, in policy order. */
struct tree_group {
	uint8_t family; /* enum family */
	uint8_t proto; /* PROTO_TCP or PROTO_UDP */
	uint32_t *rules;
	uint32_t nrules;
	int64_t catch_all; /* index in rules of the first rule with no test, or -1 */
	/* By port: one class [0, 65535] holding every rule when splitting does not pay. */
	struct tree_class *classes;
	uint32_t nclasses;
	uint32_t *members; /* indices into rules */
	uint32_t nmembers;
};

struct tree {
	struct tree_group groups[4]; /* ip tcp, ip udp, ip6 tcp, ip6 udp */
};

int tree_build(const struct ir_policy *p, struct tree *t);
void tree_stats(const struct tree *t, struct backend_stats *st);
void tree_print(FILE *f, const struct ir_policy *p, const struct tree *t);
int tree_emit_c(const struct ir_policy *p, const struct tree *t, struct backend_program *out);
void tree_free(struct tree *t);

#endif
