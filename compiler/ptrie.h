/*
 * A path-compressed binary trie of prefixes, each node holding the ids inserted
 * at exactly its prefix and the fraction of its address range that the
 * prefixes in its subtree cover. The shadowing lint uses it to find the rules
 * whose addresses overlap a given prefix without scanning all of them.
 */
#ifndef STEER_PTRIE_H
#define STEER_PTRIE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "arena.h"

struct ptrie_node;

struct ptrie {
	struct arena arena;
	struct ptrie_node *root;
	int family;
	uint64_t nodes;
};

/* Called for each id visited; returning true stops the walk. */
typedef bool (*ptrie_visit_fn)(void *ctx, uint32_t id);

void ptrie_init(struct ptrie *t, int family);
void ptrie_insert(struct ptrie *t, const struct prefix *p, uint32_t id);
/*
 * One walk down to P: visits the ids at every prefix containing P, top down,
 * and at P, and returns the topmost node at or strictly inside P (NULL:
 * nothing there, or FN stopped the walk).
 */
const struct ptrie_node *ptrie_find(const struct ptrie *t, const struct prefix *p, ptrie_visit_fn fn, void *ctx);
/* Ids at prefixes strictly inside P, TOP being what ptrie_find returned. */
void ptrie_visit_inside(const struct ptrie_node *top, const struct prefix *p, ptrie_visit_fn fn, void *ctx);
/* The fraction (0..1) of P's addresses covered by prefixes strictly inside P. */
double ptrie_inside_coverage(const struct ptrie_node *top, const struct prefix *p);

/* A node's prefix length, its children, the ids filed at it. */
unsigned ptrie_node_len(const struct ptrie_node *n);
const struct ptrie_node *ptrie_child(const struct ptrie_node *n, int half);
void ptrie_node_visit(const struct ptrie_node *n, ptrie_visit_fn fn, void *ctx);
void ptrie_free(struct ptrie *t);

#endif
