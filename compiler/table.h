/*
 * The table-driven strategy: the program's code is fixed-size and the
 * decision is data, resolved at compile time and filled into one BPF array
 * map (steer_data) at load time. Best for large policies.
 *
 * First match is the smallest matching rule id, and a minimum splits over any
 * partition of the rules, so the rules go in three parts, each decided cheaply:
 *
 *   D  rules that test the destination (or no address) and the port:
 *      dst -> class through a trie, port -> class through an array, and
 *      rows[class][port class] holds the first rule of D matching both;
 *   W  rules that test the source and the port: the same over the source;
 *   X  the rest (source and destination together, source ports, interfaces):
 *      direct branches, as in the tree strategy; they should be few.
 *
 * The answer is min(D, W, X), then the rule's action from an array. Every
 * address class is a prefix of the policy: the longest one that contains the
 * address, found by a leaf-pushed multibit trie (16 bits, then 8 at a time;
 * sparse nodes are short lists instead of 256-entry chunks).
 *
 * The flat data is an array of u32 in chunks of 256; the bases below are
 * indexes into it and become constants of the generated C.
 */
#ifndef STEER_TABLE_H
#define STEER_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "ir.h"

#define TABLE_LEAF STEER_LEAF
#define TABLE_LIST STEER_LIST
#define TABLE_LIST_ITEMS STEER_LIST_ITEMS
#define TABLE_NONE UINT32_MAX /* no rule of the part matches */

enum table_dim { DIM_DST, DIM_SRC, DIM__COUNT };

/* One address dimension of one family: a trie from addresses to classes. */
struct table_trie {
	uint32_t root; /* flat index of its 65536-entry root block */
	uint32_t steps; /* 8-bit steps after the root, enough for the longest prefix */
	uint32_t nclasses; /* distinct prefixes + 1: class 0 is "no prefix" */
	uint64_t chunks, lists; /* nodes below the root block */
	bool used;
};

struct table {
	struct table_trie trie[FAM__COUNT][DIM__COUNT];
	/* rows[fam][dim][proto]: flat index of class 0's row, or TABLE_NONE when no rule is there. */
	uint32_t rows[FAM__COUNT][DIM__COUNT][2];
	uint32_t dport_base; /* 65536 entries: port -> port class */
	uint32_t nportclasses;
	uint32_t act_base; /* nrules entries: each rule's action */
	uint32_t *xrules; /* part X, in policy order */
	uint32_t nx, nd, nw;
	uint32_t *data; /* the flat data, nchunks * 256 entries */
	uint32_t nchunks;
};

/* Most X rules the table strategy takes: each is code. */
#define TABLE_MAX_X 512

/* Builds the table for P; -E2BIG when part X is too large, -ENOMEM. */
int table_build(const struct ir_policy *p, struct table *t);
void table_stats(const struct ir_policy *p, const struct table *t, struct backend_stats *st);
void table_print(FILE *f, const struct ir_policy *p, const struct table *t);
/* Emits the code; hands the data over to OUT (t->data becomes NULL). */
int table_emit_c(const struct ir_policy *p, struct table *t, struct backend_program *out);
void table_free(struct table *t);

/* The reference walk of the data, as the BPF code does it (for tests). */
uint32_t table_lookup(const struct table *t, const struct ir_policy *p, const struct tuple *tp);

#endif
