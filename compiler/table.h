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
 *      dst -> class through a trie of X's own destinations; each class has,
 *      per protocol, a list of records (steer_abi.h) of the rules whose
 *      destination contains it, sorted by rule, scanned until the first match
 *      (bpf_loop); rules of X without a destination are class 0's list,
 *      scanned as well.
 *
 * The answer is min(D, W, X). Every address class is a prefix of the
 * policy: the longest one that contains the address, found by a leaf-pushed
 * multibit trie (a root of 16 or 24 bits, then 8 at a time; sparse nodes are
 * short lists instead of 256-entry chunks).
 *
 * What counts at scale is the pages a lookup touches (every run of the
 * program starts with a cold TLB here), so a row entry is a rule word: the
 * rule in the high bits, its action in the low ones (no separate action
 * read); the port class comes from a binary search in the code when the
 * policy has few port boundaries (no port table read); a row read that could
 * only say "no rule" is skipped.
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
	uint32_t root; /* flat index of its root block, 1 << root_bits entries */
	uint32_t root_bits; /* 16, or 24 when many /16s hold longer prefixes */
	uint32_t skip_bits; /* 0, 32, 64 or 96: the leading words every prefix shares, compared, not walked */
	u128 skip; /* those bits (an address outside them is in no prefix: class 0) */
	uint32_t steps; /* 8-bit steps after the root, enough for the longest prefix */
	uint32_t nclasses; /* distinct prefixes + 1: class 0 is "no prefix" */
	uint64_t chunks, lists; /* nodes below the root block */
	bool used;
};

/* Part X in one family. */
struct table_xpart {
	struct table_trie trie; /* over X's destination prefixes */
	uint32_t heads; /* flat index of (class * 2 + protocol) * 2: first record, count */
	bool used; /* X has rules in this family */
	bool any[2]; /* class 0 (no destination) has records for this protocol: every lookup scans them */
	uint64_t records; /* in all lists */
	uint32_t longest; /* records in the longest list */
};

struct table {
	struct table_trie trie[FAM__COUNT][DIM__COUNT];
	struct table_xpart x[FAM__COUNT];
	/* rows[fam][dim][proto]: flat index of class 0's row, or TABLE_NONE when no rule is there. */
	uint32_t rows[FAM__COUNT][DIM__COUNT][2];
	bool row0_none[FAM__COUNT][DIM__COUNT]; /* class 0's rows say "no rule": not read */
	uint32_t nportclasses;
	/* Port -> port class: runs (first port, class) searched in the code, or a 65536-entry table. */
	uint32_t nport_runs;
	uint32_t *port_first, *port_class;
	uint32_t dport_base; /* the table, TABLE_NONE when the runs are code */
	/* A rule word: rule << act_bits | action (kind, "or pass", service in svc_bits bits). */
	uint32_t act_bits, svc_bits;
	uint32_t none; /* the word no rule's is as large as: nrules << act_bits */
	uint32_t nx, nd, nw; /* rules in each part */
	uint32_t *data; /* the flat data, nchunks * 256 entries */
	uint32_t nchunks;
};

/* Most port runs searched in the code; more take the port table. */
#define TABLE_PORT_CODE_RUNS 64
/* A 24-bit root when at least this many /16s hold longer prefixes (each would be a node, a page, on the way). */
#define TABLE_ROOT24_SLOTS 4096

/* Builds the table for P; -E2BIG when rule words do not fit 32 bits or the data 4 GiB, -ENOMEM. */
int table_build(const struct ir_policy *p, struct table *t);
void table_stats(const struct ir_policy *p, const struct table *t, struct backend_stats *st);
void table_print(FILE *f, const struct ir_policy *p, const struct table *t);
/* Emits the code; hands the data over to OUT (t->data becomes NULL). */
int table_emit_c(const struct ir_policy *p, struct table *t, struct backend_program *out);
void table_free(struct table *t);

/* The reference walk of the data, as the BPF code does it (for tests). */
uint32_t table_lookup(const struct table *t, const struct ir_policy *p, const struct tuple *tp);
/* What that walk (and the action's read) touches of the data: distinct 4 KiB pages and 64-byte lines. */
void table_touched(const struct table *t, const struct ir_policy *p, const struct tuple *tp, uint32_t *pages,
		   uint32_t *lines);

#endif
