/*
 * From the IR to a BPF program: a strategy builds a decision structure and
 * emits C into the template (bpf-templates/steer.bpf.c). Strategies plug in
 * here; the runtime only sees the C text and what to fill in at load time.
 */
#ifndef STEER_BACKEND_H
#define STEER_BACKEND_H

#include <stdint.h>
#include <stdio.h>

#include "built.h"
#include "diag.h"
#include "ir.h"
#include "steer_abi.h"
#include "vec.h"

struct backend_stats {
	uint64_t nodes; /* branches in the decision structure */
	uint64_t depth; /* longest chain of tests */
	uint64_t map_entries; /* entries the loader fills */
	uint64_t map_bytes;
};

/* Which rule a line of the generated C belongs to, to put clang's complaints back on the policy. */
struct c_origin {
	uint32_t line;
	uint32_t rule;
};

struct backend_program {
	enum strategy strategy;
	char *c; /* the whole BPF C source */
	size_t c_len;
	VEC(struct c_origin) origins; /* sorted by line */
	struct backend_stats stats;
	/* The table strategy's data, for the steer_data map (256 entries a chunk); NULL for tree. */
	uint32_t *data;
	uint32_t data_chunks;
};

/*
 * What the program reads of its decision data (the table's map; nothing for
 * tree, whose decision is code) to look up a set of tuples: distinct 4 KiB
 * pages and 64-byte cache lines per lookup, median and worst, per family.
 * The sockets map, the counters and the code are read by every strategy and
 * not counted.
 */
struct backend_touch {
	uint32_t n; /* lookups of this family */
	uint32_t pages_median, pages_worst, lines_median, lines_worst;
};

/*
 * A tuple as the lookup benchmark draws them: three in four inside a random
 * rule's destination prefix, on a port and protocol it takes; the rest
 * random. STATE is the generator's state.
 */
struct tuple backend_sample_tuple(const struct ir_policy *p, uint64_t *state);
/* Pages and lines per lookup of TPS[0..n) with strategy WANT. 0 or -errno. */
int backend_touched(const struct ir_policy *p, enum strategy want, const struct tuple *tps, size_t n,
		    struct backend_touch out[FAM__COUNT]);

/* Builds the program for P with strategy WANT (AUTO chooses). 0 or -errno. */
int backend_build(const struct ir_policy *p, enum strategy want, struct backend_program *out);
/* The decision structure with statistics (steer compile --emit tree). 0 or -errno. */
int backend_print_tree(FILE *f, const struct ir_policy *p, enum strategy s);
/* The rule's action as the programs encode it (STEER_ACT_*, steer_abi.h). */
uint32_t backend_action_word(const struct ir_policy *p, const struct ir_rule *r);
/* The manifest's service for one of P's forwards: after the policy's own services. */
uint32_t backend_forward_service(const struct ir_policy *p, uint32_t forward);
/* The rule whose code is at LINE of the generated C, or -1. */
int64_t backend_rule_at(const struct backend_program *bp, uint32_t line);
void backend_program_free(struct backend_program *bp);

/* Auto picks tree up to this many rules, table above. */
#define BACKEND_TREE_MAX_RULES 64

/* The shared header's and the templates' texts, embedded at build time. */
extern const char steer_abi_header[];
extern const char steer_bpf_template[];
extern const char steer_table_template[];

#endif
