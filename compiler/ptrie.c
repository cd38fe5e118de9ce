#include "ptrie.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

struct ptrie_node {
	u128 addr;
	struct ptrie_node *child[2];
	uint32_t *ids; /* more than one id */
	uint32_t nids, one; /* one: the id when nids == 1 */
	double cov; /* fraction of this prefix covered by prefixes in the subtree */
	uint8_t len;
};

#define MAX_DEPTH 130

/* 2^-k for every length difference, so coverage sums need no ldexp. */
static double _pow2_neg[MAX_DEPTH];

__attribute__((constructor)) static void _init_pow2(void)
{
	_pow2_neg[0] = 1.0;
	for (int i = 1; i < MAX_DEPTH; i++)
		_pow2_neg[i] = _pow2_neg[i - 1] / 2;
}

void ptrie_init(struct ptrie *t, int family)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
}

/* Bit POS (0 = most significant) of an address of WIDTH bits. */
static inline unsigned _bit(u128 a, unsigned pos, unsigned width)
{
	return (unsigned)(a >> (width - 1 - pos)) & 1;
}

static unsigned _common_len(u128 a, u128 b, unsigned width)
{
	u128 x = a ^ b;
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	unsigned clz;

	if (!x)
		return width;
	clz = hi ? (unsigned)__builtin_clzll(hi) : 64 + (unsigned)__builtin_clzll(lo);
	return clz - (128 - width);
}

static struct ptrie_node *_new(struct ptrie *t, u128 addr, unsigned len)
{
	struct ptrie_node *n = arena_alloc(&t->arena, sizeof(*n));

	n->addr = addr;
	n->len = (uint8_t)len;
	t->nodes++;
	return n;
}

static void _add_id(struct ptrie *t, struct ptrie_node *n, uint32_t id)
{
	if (n->nids == 0) {
		n->one = id;
	} else {
		/* Grow by doubling; the arena keeps old copies, rare enough not to matter. */
		if (n->nids == 1 || (n->nids & (n->nids - 1)) == 0) {
			uint32_t *ids = arena_alloc(&t->arena, sizeof(uint32_t) * n->nids * 2);
			if (n->nids == 1)
				ids[0] = n->one;
			else
				memcpy(ids, n->ids, sizeof(uint32_t) * n->nids);
			n->ids = ids;
		}
		n->ids[n->nids] = id;
	}
	n->nids++;
}

static void _update_cov(struct ptrie_node *n)
{
	if (n->nids) {
		n->cov = 1.0;
		return;
	}
	n->cov = 0;
	for (int i = 0; i < 2; i++)
		if (n->child[i])
			n->cov += n->child[i]->cov * _pow2_neg[n->child[i]->len - n->len];
}

void ptrie_insert(struct ptrie *t, const struct prefix *p, uint32_t id)
{
	unsigned width = fam_width(t->family);
	struct ptrie_node *path[MAX_DEPTH], **pp = &t->root, *n;
	int depth = 0;

	for (;;) {
		n = *pp;
		if (!n) {
			n = *pp = _new(t, p->addr, p->len);
			break;
		}
		unsigned common = _common_len(n->addr, p->addr, width);
		if (common > n->len)
			common = n->len;
		if (common > p->len)
			common = p->len;
		if (common == n->len && n->len == p->len)
			break;
		if (common == n->len) {
			path[depth++] = n;
			pp = &n->child[_bit(p->addr, n->len, width)];
			continue;
		}
		/* P diverges from N, or contains it: a new node above N. */
		struct ptrie_node *up;
		if (common == p->len) {
			up = _new(t, p->addr, p->len);
			up->child[_bit(n->addr, p->len, width)] = n;
			*pp = up;
			_update_cov(up);
			n = up;
			break;
		}
		u128 mask = common == 0 ? 0 : ~(((u128)1 << (width - common)) - 1);
		up = _new(t, p->addr & mask, common);
		struct ptrie_node *leaf = _new(t, p->addr, p->len);
		up->child[_bit(n->addr, common, width)] = n;
		up->child[_bit(p->addr, common, width)] = leaf;
		*pp = up;
		path[depth++] = up;
		n = leaf;
		break;
	}
	_add_id(t, n, id);
	_update_cov(n);
	while (depth > 0)
		_update_cov(path[--depth]);
}

/* Visits the ids at N; true when FN stopped. */
static bool _visit_node(const struct ptrie_node *n, ptrie_visit_fn fn, void *ctx)
{
	if (!fn)
		return false;
	if (n->nids == 1)
		return fn(ctx, n->one);
	for (uint32_t i = 0; i < n->nids; i++)
		if (fn(ctx, n->ids[i]))
			return true;
	return false;
}

const struct ptrie_node *ptrie_find(const struct ptrie *t, const struct prefix *p, ptrie_visit_fn fn, void *ctx)
{
	unsigned width = fam_width(t->family);
	const struct ptrie_node *n = t->root;

	while (n && n->len < p->len) {
		if (_common_len(n->addr, p->addr, width) < n->len)
			return NULL;
		if (_visit_node(n, fn, ctx))
			return NULL;
		n = n->child[_bit(p->addr, n->len, width)];
	}
	if (!n || _common_len(n->addr, p->addr, width) < p->len)
		return NULL;
	if (n->len == p->len && _visit_node(n, fn, ctx))
		return NULL;
	return n;
}

static bool _visit_subtree(const struct ptrie_node *n, ptrie_visit_fn fn, void *ctx)
{
	const struct ptrie_node *stack[MAX_DEPTH];
	int depth = 0;

	stack[depth++] = n;
	while (depth > 0) {
		n = stack[--depth];
		if (_visit_node(n, fn, ctx))
			return true;
		for (int i = 0; i < 2; i++)
			if (n->child[i])
				stack[depth++] = n->child[i];
	}
	return false;
}

void ptrie_visit_inside(const struct ptrie_node *top, const struct prefix *p, ptrie_visit_fn fn, void *ctx)
{
	if (!top)
		return;
	if (top->len > p->len) {
		_visit_subtree(top, fn, ctx);
		return;
	}
	for (int i = 0; i < 2; i++)
		if (top->child[i] && _visit_subtree(top->child[i], fn, ctx))
			return;
}

double ptrie_inside_coverage(const struct ptrie_node *top, const struct prefix *p)
{
	double cov = 0;

	if (!top)
		return 0;
	if (top->len > p->len)
		return top->cov * _pow2_neg[top->len - p->len];
	for (int i = 0; i < 2; i++)
		if (top->child[i])
			cov += top->child[i]->cov * _pow2_neg[top->child[i]->len - p->len];
	return cov;
}

unsigned ptrie_node_len(const struct ptrie_node *n)
{
	return n->len;
}

const struct ptrie_node *ptrie_child(const struct ptrie_node *n, int half)
{
	return n->child[half];
}

void ptrie_node_visit(const struct ptrie_node *n, ptrie_visit_fn fn, void *ctx)
{
	_visit_node(n, fn, ctx);
}

void ptrie_free(struct ptrie *t)
{
	arena_release(&t->arena);
	t->root = NULL;
	t->nodes = 0;
}
