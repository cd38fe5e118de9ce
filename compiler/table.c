#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "emit.h"
#include "tree.h"

/* ---- the flat data ---- */

struct data {
	uint32_t *v;
	uint32_t len, cap; /* entries; always whole chunks */
	uint32_t list_next; /* where the next list record goes, 0: in a new chunk */
};

/* Appends N zeroed entries (a multiple of 256); their first index, or -ENOMEM. */
static int64_t _alloc(struct data *d, uint64_t n)
{
	if ((uint64_t)d->len + n > (1ull << 30))
		return -E2BIG; /* entries are addressed with 30 bits */
	if (d->len + n > d->cap) {
		uint64_t cap = d->cap ? d->cap : 65536;
		while (cap < d->len + n)
			cap *= 2;
		uint32_t *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = (uint32_t)cap;
	}
	memset(d->v + d->len, 0, n * sizeof(*d->v));
	d->len += (uint32_t)n;
	return d->len - n;
}

static int64_t _alloc_list(struct data *d)
{
	if (d->list_next % 256 == 0) {
		int64_t at = _alloc(d, 256);
		if (at < 0)
			return at;
		d->list_next = (uint32_t)at;
	}
	d->list_next += 16;
	return d->list_next - 16;
}

/* ---- address classes: the distinct prefixes of one family and dimension ---- */

static int _pfx_cmp(const void *a, const void *b)
{
	const struct prefix *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

struct classes {
	struct prefix *v; /* sorted by address, then length: every prefix after those containing it */
	uint32_t n;
	uint32_t *parent; /* class of the longest prefix containing v[i], 0 for none */
};

/* Class of prefix X (1 + its index), which must be in C. */
static uint32_t _class_of(const struct classes *c, const struct prefix *x)
{
	uint32_t lo = 0, hi = c->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (_pfx_cmp(&c->v[mid], x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

static int _classes_build(struct classes *c, struct prefix *v, uint32_t n)
{
	uint32_t *stack, depth = 0, k = 0;

	qsort(v, n, sizeof(*v), _pfx_cmp);
	for (uint32_t i = 0; i < n; i++)
		if (k == 0 || _pfx_cmp(&v[k - 1], &v[i]) != 0)
			v[k++] = v[i];
	c->v = v;
	c->n = k;
	c->parent = calloc(k ? k : 1, sizeof(*c->parent));
	stack = calloc(k ? k : 1, sizeof(*stack));
	if (!c->parent || !stack) {
		free(stack);
		return -ENOMEM;
	}
	/* In this order the prefixes containing v[i] are on the stack below it. */
	for (uint32_t i = 0; i < k; i++) {
		while (depth && !prefix_contains(&v[stack[depth - 1]], v[i].addr))
			depth--;
		c->parent[i] = depth ? stack[depth - 1] + 1 : 0;
		stack[depth++] = i;
	}
	free(stack);
	return 0;
}

static void _classes_free(struct classes *c)
{
	free(c->v);
	free(c->parent);
	memset(c, 0, sizeof(*c));
}

/* ---- the trie: addresses to classes ---- */

/* N bits of A from bit POS (0 is the most significant of the family's width W). */
static uint32_t _bits(u128 a, unsigned w, unsigned pos, unsigned n)
{
	return (uint32_t)(a >> (w - pos - n)) & ((1u << n) - 1);
}

struct trie_builder {
	struct data *d;
	const struct classes *c;
	unsigned width;
	struct table_trie *t;
};

static int _node(struct trie_builder *b, uint32_t lo, uint32_t hi, unsigned pos, uint32_t dflt, uint32_t *out);

/*
 * The end of the group that starts at I: the prefixes longer than POS + 8
 * with the same next 8 bits. A shorter prefix never falls inside a group:
 * it sorts before every longer one with its bits.
 */
static uint32_t _group_end(const struct trie_builder *b, uint32_t i, uint32_t hi, unsigned pos)
{
	const struct prefix *v = b->c->v;
	uint32_t byte = _bits(v[i].addr, b->width, pos, 8), j = i + 1;

	while (j < hi && v[j].len > pos + 8 && _bits(v[j].addr, b->width, pos, 8) == byte)
		j++;
	return j;
}

/*
 * A list: at most TABLE_LIST_ITEMS (bits, length) items, longest first. Items
 * [lo, hi) all lie below POS; a group (a run of prefixes longer than POS + 8
 * with the same next 8 bits) is one item of length 8 pointing to its node.
 */
static int _list(struct trie_builder *b, uint32_t lo, uint32_t hi, unsigned pos, uint32_t dflt, uint32_t *out)
{
	uint32_t key[TABLE_LIST_ITEMS], ent[TABLE_LIST_ITEMS], len[TABLE_LIST_ITEMS], n = 0;
	const struct prefix *v = b->c->v;
	int64_t at = _alloc_list(b->d);
	int r;

	if (at < 0)
		return (int)at;
	/* Groups first (length 8 is the longest), then the prefixes ending here, longest first. */
	for (uint32_t i = lo; i < hi;) {
		if (v[i].len <= pos + 8) {
			i++;
			continue;
		}
		uint32_t byte = _bits(v[i].addr, b->width, pos, 8), j = _group_end(b, i, hi, pos);
		/* The group's default: the longest prefix ending here that contains it. */
		uint32_t gd = dflt, best = 0;
		for (uint32_t k = lo; k < hi; k++)
			if (v[k].len <= pos + 8 && v[k].len > best &&
			    (byte >> (pos + 8 - v[k].len)) == (_bits(v[k].addr, b->width, pos, 8) >> (pos + 8 - v[k].len)))
				gd = TABLE_LEAF | (k + 1), best = v[k].len;
		if ((r = _node(b, i, j, pos + 8, gd, &ent[n])) < 0)
			return r;
		key[n] = byte << 8 | 8;
		len[n++] = 8;
		i = j;
	}
	for (unsigned l = 8; l >= 1; l--) {
		for (uint32_t i = lo; i < hi; i++) {
			if (v[i].len != pos + l)
				continue;
			uint32_t byte = _bits(v[i].addr, b->width, pos, 8);
			bool grouped = false;
			for (uint32_t k = 0; k < n && l == 8; k++)
				grouped |= len[k] == 8 && key[k] >> 8 == byte;
			if (grouped)
				continue; /* the group's default already says it */
			key[n] = byte << 8 | l;
			ent[n] = TABLE_LEAF | (i + 1);
			len[n++] = l;
		}
	}
	uint32_t *rec = b->d->v + at;
	rec[0] = n | (dflt & ~TABLE_LEAF) << 3;
	for (uint32_t k = 0; k < n; k++) {
		rec[1 + 2 * k] = key[k];
		rec[2 + 2 * k] = ent[k];
	}
	b->t->lists++;
	*out = TABLE_LIST | (uint32_t)at;
	return 0;
}

/* The entries of [lo, hi): all below POS and longer than POS, in class order. */
static int _node(struct trie_builder *b, uint32_t lo, uint32_t hi, unsigned pos, uint32_t dflt, uint32_t *out)
{
	const struct prefix *v = b->c->v;
	uint32_t items = 0, last = UINT32_MAX;

	for (uint32_t i = lo; i < hi; i++) {
		if (v[i].len <= pos + 8) {
			items++;
			continue;
		}
		uint32_t byte = _bits(v[i].addr, b->width, pos, 8);
		items += byte != last;
		last = byte;
	}
	/* A few items fit a list; counting a full-length item twice only errs towards a chunk. */
	if (items <= TABLE_LIST_ITEMS)
		return _list(b, lo, hi, pos, dflt, out);

	int64_t at = _alloc(b->d, 256);
	if (at < 0)
		return (int)at;
	for (uint32_t k = 0; k < 256; k++)
		b->d->v[at + k] = dflt;
	/* Parents come before their children, so the longer prefix is written last. */
	for (uint32_t i = lo; i < hi; i++) {
		if (v[i].len > pos + 8)
			continue;
		uint32_t first = _bits(v[i].addr, b->width, pos, 8), count = 1u << (pos + 8 - v[i].len);
		for (uint32_t k = first; k < first + count; k++)
			b->d->v[at + k] = TABLE_LEAF | (i + 1);
	}
	for (uint32_t i = lo; i < hi;) {
		if (v[i].len <= pos + 8) {
			i++;
			continue;
		}
		uint32_t byte = _bits(v[i].addr, b->width, pos, 8), j = _group_end(b, i, hi, pos), e;
		int r = _node(b, i, j, pos + 8, b->d->v[at + byte], &e);
		if (r < 0)
			return r;
		b->d->v[at + byte] = e;
		i = j;
	}
	b->t->chunks++;
	*out = (uint32_t)(at >> 8);
	return 0;
}

/* The trie of C: a root block of 65536 entries (16 bits), then 8 bits a step. */
static int _trie_build(struct data *d, const struct classes *c, int fam, struct table_trie *t)
{
	struct trie_builder b = { .d = d, .c = c, .width = fam_width(fam), .t = t };
	int64_t root = _alloc(d, 65536);
	unsigned maxlen = 0;

	if (root < 0)
		return (int)root;
	t->root = (uint32_t)root;
	t->nclasses = c->n + 1;
	t->used = true;
	for (uint32_t k = 0; k < 65536; k++)
		d->v[root + k] = TABLE_LEAF;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct prefix *x = &c->v[i];
		if (x->len > maxlen)
			maxlen = x->len;
		if (x->len > 16)
			continue;
		uint32_t first = _bits(x->addr, b.width, 0, 16), count = 1u << (16 - x->len);
		for (uint32_t k = first; k < first + count; k++)
			d->v[root + k] = TABLE_LEAF | (i + 1);
	}
	for (uint32_t i = 0; i < c->n;) {
		if (c->v[i].len <= 16) {
			i++;
			continue;
		}
		uint32_t top = _bits(c->v[i].addr, b.width, 0, 16), j = i + 1, e;
		while (j < c->n && c->v[j].len > 16 && _bits(c->v[j].addr, b.width, 0, 16) == top)
			j++;
		int r = _node(&b, i, j, 16, d->v[root + top], &e);
		if (r < 0)
			return r;
		d->v[root + top] = e;
		i = j;
	}
	t->steps = maxlen > 16 ? (maxlen - 16 + 7) / 8 : 0;
	return 0;
}

/* The class of address A, walking the data as the program does. */
static uint32_t _trie_walk(const struct data *d, const struct table_trie *t, u128 a, int fam)
{
	unsigned w = fam_width(fam);
	uint32_t e = d->v[t->root + _bits(a, w, 0, 16)];

	for (unsigned pos = 16; pos < w && !(e & TABLE_LEAF); pos += 8) {
		uint32_t bits = _bits(a, w, pos, 8);
		if (!(e & TABLE_LIST)) {
			e = d->v[(e << 8) | bits];
			continue;
		}
		const uint32_t *rec = d->v + (e & ~TABLE_LIST);
		uint32_t n = rec[0] & 7, next = TABLE_LEAF | rec[0] >> 3;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t key = rec[1 + 2 * k];
			if ((((key >> 8) ^ bits) & 0xff) >> (8 - (key & 15)) == 0) {
				next = rec[2 + 2 * k];
				break;
			}
		}
		e = next;
	}
	return e & ~TABLE_LEAF;
}

/* ---- port classes: ports matched by the same rules are one class ---- */

struct port_event {
	uint32_t port; /* 1..65536 */
	uint64_t h0, h1; /* the rule's key, XORed in and out */
};

static int _event_cmp(const void *a, const void *b)
{
	const struct port_event *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

static uint64_t _mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Which part a rule is in: see table.h. */
enum part { PART_D, PART_W, PART_X };

static enum part _part(const struct ir_rule *r)
{
	const struct ir_match *m = &r->m;
	bool dst = m->dst[FAM_V4].n || m->dst[FAM_V6].n, src = m->src[FAM_V4].n || m->src[FAM_V6].n;

	if (m->sport.n || m->iif.n || (dst && src))
		return PART_X;
	return src ? PART_W : PART_D;
}

/*
 * Port -> class into data[base .. base + 65536). Two ports are one class
 * when the same rules match them: each rule's 128-bit random key is XORed
 * over its ranges, so a class is a distinct sum.
 */
static int _ports_build(const struct ir_policy *p, const enum part *parts, uint32_t *map, uint32_t *nclasses)
{
	size_t n = 0, k = 0;

	for (uint32_t i = 0; i < p->nrules; i++)
		if (parts[i] != PART_X)
			n += 2 * (size_t)p->rules[i].m.dport.n;
	_cleanup_free_ struct port_event *ev = malloc((n ? n : 1) * sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct port_list *l = &p->rules[i].m.dport;
		if (parts[i] == PART_X)
			continue;
		uint64_t h0 = _mix(2 * (uint64_t)i + 1), h1 = _mix(2 * (uint64_t)i + 0x9e3779b97f4a7c15ull);
		for (uint32_t j = 0; j < l->n; j++) {
			ev[k++] = (struct port_event){ l->v[j].lo, h0, h1 };
			ev[k++] = (struct port_event){ (uint32_t)l->v[j].hi + 1, h0, h1 };
		}
	}
	qsort(ev, n, sizeof(*ev), _event_cmp);

	/* Classes by their sum; few, so a linear search is enough up to a point, then it is a hash. */
	struct cls {
		uint64_t h0, h1;
	};
	uint32_t cap = 1024, ncls = 0;
	_cleanup_free_ struct cls *tab = calloc(cap, sizeof(*tab));
	_cleanup_free_ uint32_t *idx = malloc(cap * sizeof(*idx));
	if (!tab || !idx)
		return -ENOMEM;
	memset(idx, 0xff, cap * sizeof(*idx));
	uint64_t h0 = 0, h1 = 0;
	size_t e = 0;
	for (uint32_t port = 0; port < 65536;) {
		while (e < n && ev[e].port == port) {
			h0 ^= ev[e].h0;
			h1 ^= ev[e].h1;
			e++;
		}
		uint32_t end = e < n ? ev[e].port : 65536;
		/* Open addressing over (h0, h1); grow at half full. */
		if (2 * (ncls + 1) > cap) {
			uint32_t ncap = cap * 2;
			struct cls *nt = calloc(ncap, sizeof(*nt));
			uint32_t *ni = malloc(ncap * sizeof(*ni));
			if (!nt || !ni) {
				free(nt);
				free(ni);
				return -ENOMEM;
			}
			memset(ni, 0xff, ncap * sizeof(*ni));
			for (uint32_t s = 0; s < cap; s++) {
				if (idx[s] == UINT32_MAX)
					continue;
				uint32_t q = (uint32_t)tab[s].h0 & (ncap - 1);
				while (ni[q] != UINT32_MAX)
					q = (q + 1) & (ncap - 1);
				nt[q] = tab[s];
				ni[q] = idx[s];
			}
			free(tab);
			free(idx);
			tab = nt;
			idx = ni;
			cap = ncap;
		}
		uint32_t q = (uint32_t)h0 & (cap - 1);
		while (idx[q] != UINT32_MAX && (tab[q].h0 != h0 || tab[q].h1 != h1))
			q = (q + 1) & (cap - 1);
		if (idx[q] == UINT32_MAX) {
			tab[q] = (struct cls){ h0, h1 };
			idx[q] = ncls++;
		}
		for (uint32_t x = port; x < end; x++)
			map[x] = idx[q];
		port = end;
	}
	*nclasses = ncls;
	return 0;
}

/* The port classes in [lo, hi], each once, into OUT; returns how many. */
static uint32_t _port_classes(const uint32_t *map, uint16_t lo, uint16_t hi, uint32_t *seen, uint32_t stamp,
			      uint32_t *out, uint32_t n)
{
	for (uint32_t x = lo; x <= hi; x++) {
		uint32_t c = map[x];
		if (seen[c] != stamp) {
			seen[c] = stamp;
			out[n++] = c;
		}
	}
	return n;
}

/* ---- the build ---- */

static int _collect(const struct ir_policy *p, const enum part *parts, enum part want, int fam, enum table_dim dim,
		    struct classes *c)
{
	size_t n = 0, k = 0;

	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < p->nrules; i++)
		if (parts[i] == want)
			n += dim == DIM_DST ? p->rules[i].m.dst[fam].n : p->rules[i].m.src[fam].n;
	struct prefix *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nrules; i++) {
		if (parts[i] != want)
			continue;
		const struct pfx_list *l = dim == DIM_DST ? &p->rules[i].m.dst[fam] : &p->rules[i].m.src[fam];
		if (l->n)
			memcpy(v + k, l->v, l->n * sizeof(*v));
		k += l->n;
	}
	return _classes_build(c, v, (uint32_t)n);
}

static const uint8_t _protos[2] = { PROTO_TCP, PROTO_UDP };

/*
 * The rows of one part in one family: rows[class * nportclasses + port class]
 * is the first rule of the part matching both, for each protocol.
 */
static int _rows_build(const struct ir_policy *p, const enum part *parts, enum part want, int fam,
		       enum table_dim dim, const struct classes *c, const uint32_t *portmap, struct data *d,
		       struct table *t)
{
	uint32_t npc = t->nportclasses, nclasses = c->n + 1;
	_cleanup_free_ uint32_t *seen = calloc(npc, sizeof(uint32_t));
	_cleanup_free_ uint32_t *pcs = malloc(npc * sizeof(uint32_t));
	uint32_t stamp = 0;

	if (!seen || !pcs)
		return -ENOMEM;
	for (int pi = 0; pi < 2; pi++) {
		bool any = false;
		for (uint32_t i = 0; i < p->nrules && !any; i++)
			any = parts[i] == want && (p->rules[i].m.protos & _protos[pi]) &&
			      (p->rules[i].m.families & FAM_BIT(fam));
		t->rows[fam][dim][pi] = TABLE_NONE;
		if (!any)
			continue;
		uint64_t size = (uint64_t)nclasses * npc;
		int64_t at = _alloc(d, (size + 255) / 256 * 256);
		if (at < 0)
			return (int)at;
		t->rows[fam][dim][pi] = (uint32_t)at;
		uint32_t *row = d->v + at;
		for (uint64_t k = 0; k < size; k++)
			row[k] = p->nrules;
		for (uint32_t i = 0; i < p->nrules; i++) {
			const struct ir_rule *r = &p->rules[i];
			if (parts[i] != want || !(r->m.protos & _protos[pi]) || !(r->m.families & FAM_BIT(fam)))
				continue;
			uint32_t np = 0;
			if (++stamp == 0)
				memset(seen, 0, npc * sizeof(uint32_t)), stamp = 1;
			if (!r->m.dport.n)
				for (uint32_t x = 0; x < npc; x++)
					pcs[np++] = x;
			for (uint32_t j = 0; j < r->m.dport.n; j++)
				np = _port_classes(portmap, r->m.dport.v[j].lo, r->m.dport.v[j].hi, seen, stamp, pcs, np);
			const struct pfx_list *l = dim == DIM_DST ? &r->m.dst[fam] : &r->m.src[fam];
			for (uint32_t j = 0; j < (l->n ? l->n : 1); j++) {
				uint32_t cls = l->n ? _class_of(c, &l->v[j]) : 0;
				for (uint32_t x = 0; x < np; x++) {
					uint32_t *e = &row[(uint64_t)cls * npc + pcs[x]];
					if (*e == p->nrules)
						*e = i; /* rules come in order: the first one written wins */
				}
			}
		}
		/* A class also gets what its containing prefix gets, parents first. */
		for (uint32_t cls = 1; cls < nclasses; cls++) {
			uint32_t *mine = &row[(uint64_t)cls * npc], *up = &row[(uint64_t)c->parent[cls - 1] * npc];
			for (uint32_t x = 0; x < npc; x++)
				if (up[x] < mine[x])
					mine[x] = up[x];
		}
	}
	return 0;
}

int table_build(const struct ir_policy *p, struct table *t)
{
	_cleanup_free_ enum part *parts = malloc((p->nrules ? p->nrules : 1) * sizeof(*parts));
	_cleanup_free_ uint32_t *portmap = malloc(65536 * sizeof(uint32_t));
	struct data d = { 0 };
	int r;

	memset(t, 0, sizeof(*t));
	t->xrules = malloc((p->nrules ? p->nrules : 1) * sizeof(uint32_t));
	if (!parts || !portmap || !t->xrules)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nrules; i++) {
		parts[i] = _part(&p->rules[i]);
		if (parts[i] == PART_X)
			t->xrules[t->nx++] = i;
		t->nd += parts[i] == PART_D;
		t->nw += parts[i] == PART_W;
	}
	if (t->nx > TABLE_MAX_X)
		return -E2BIG;
	if ((r = _ports_build(p, parts, portmap, &t->nportclasses)) < 0)
		return r;

	int64_t at = _alloc(&d, 65536);
	if (at < 0)
		return (int)at;
	t->dport_base = (uint32_t)at;
	memcpy(d.v + at, portmap, 65536 * sizeof(uint32_t));
	if ((at = _alloc(&d, ((uint64_t)p->nrules + 255) / 256 * 256)) < 0)
		goto fail;
	t->act_base = (uint32_t)at;
	for (uint32_t i = 0; i < p->nrules; i++)
		d.v[at + i] = backend_action_word(p, &p->rules[i]);

	for (int fam = 0; fam < FAM__COUNT; fam++) {
		for (int dim = 0; dim < DIM__COUNT; dim++) {
			enum part want = dim == DIM_DST ? PART_D : PART_W;
			struct classes c;
			if ((r = _collect(p, parts, want, fam, dim, &c)) < 0)
				goto fail_r;
			if (c.n)
				r = _trie_build(&d, &c, fam, &t->trie[fam][dim]);
			if (r == 0)
				r = _rows_build(p, parts, want, fam, dim, &c, portmap, &d, t);
			_classes_free(&c);
			if (r < 0)
				goto fail_r;
		}
	}
	t->data = d.v;
	t->nchunks = d.len / 256;
	return 0;
fail:
	r = (int)at;
fail_r:
	free(d.v);
	return r;
}

uint32_t table_lookup(const struct table *t, const struct ir_policy *p, const struct tuple *tp)
{
	const struct data d = { .v = t->data, .len = t->nchunks * 256 };
	uint32_t best = p->nrules, pc = t->data[t->dport_base + tp->dport];
	int pi = tp->proto == PROTO_UDP;

	for (int dim = 0; dim < DIM__COUNT; dim++) {
		const struct table_trie *tr = &t->trie[tp->family][dim];
		uint32_t rows = t->rows[tp->family][dim][pi];
		if (rows == TABLE_NONE)
			continue;
		uint32_t cls = tr->used ? _trie_walk(&d, tr, dim == DIM_DST ? tp->dst : tp->src, tp->family) : 0;
		uint32_t r = t->data[rows + (uint64_t)cls * t->nportclasses + pc];
		if (r < best)
			best = r;
	}
	for (uint32_t k = 0; k < t->nx && t->xrules[k] < best; k++) {
		const struct ir_match *m = &p->rules[t->xrules[k]].m;
		if ((m->protos & tp->proto) && (m->families & FAM_BIT(tp->family)) &&
		    ir_pfx_list_contains(&m->dst[tp->family], tp->dst) && ir_pfx_list_contains(&m->src[tp->family], tp->src) &&
		    ir_ports_contains(&m->dport, tp->dport) && ir_ports_contains(&m->sport, tp->sport) &&
		    ir_iif_contains(&m->iif, tp->iif)) {
			best = t->xrules[k];
			break;
		}
	}
	return best;
}

void table_stats(const struct ir_policy *p, const struct table *t, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nodes = t->nx;
	st->depth = 0;
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		uint64_t depth = 0;
		for (int dim = 0; dim < DIM__COUNT; dim++) {
			const struct table_trie *tr = &t->trie[fam][dim];
			if (tr->used) {
				st->nodes += 1 + tr->chunks + tr->lists;
				depth += 1 + tr->steps;
			}
			depth += t->rows[fam][dim][0] != TABLE_NONE || t->rows[fam][dim][1] != TABLE_NONE;
		}
		if (depth > st->depth)
			st->depth = depth;
	}
	st->depth += 2 + t->nx; /* the port class and the action; then the branches */
	st->map_entries = (uint64_t)t->nchunks * 256;
	st->map_bytes = (uint64_t)t->nchunks * sizeof(uint32_t[256]);
	(void)p;
}

void table_print(FILE *f, const struct ir_policy *p, const struct table *t)
{
	static const char *const dims[] = { "dst", "src" };
	static const char *const parts[] = { "D (destination and port)", "W (source and port)" };

	fprintf(f, "  port classes: %u\n", t->nportclasses);
	for (int dim = 0; dim < DIM__COUNT; dim++) {
		fprintf(f, "  part %s: %u rules\n", parts[dim], dim == DIM_DST ? t->nd : t->nw);
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			const struct table_trie *tr = &t->trie[fam][dim];
			if (!tr->used && t->rows[fam][dim][0] == TABLE_NONE && t->rows[fam][dim][1] == TABLE_NONE)
				continue;
			fprintf(f, "    %s %s: ", fam == FAM_V4 ? "ip" : "ip6", dims[dim]);
			if (tr->used)
				fprintf(f, "%u classes, trie of 1 + %u steps, %llu chunks, %llu lists", tr->nclasses,
					tr->steps, (unsigned long long)tr->chunks, (unsigned long long)tr->lists);
			else
				fprintf(f, "no prefixes");
			for (int pi = 0; pi < 2; pi++)
				if (t->rows[fam][dim][pi] != TABLE_NONE)
					fprintf(f, "; %s rows %llu entries", proto_name(_protos[pi]),
						(unsigned long long)(tr->used ? tr->nclasses : 1) * t->nportclasses);
			fputc('\n', f);
		}
	}
	fprintf(f, "  part X (branches): %u rules\n", t->nx);
	for (uint32_t k = 0; k < t->nx; k++) {
		char where[512];
		const struct ir_rule *r = &p->rules[t->xrules[k]];
		ir_rule_where(r, where, sizeof(where));
		fprintf(f, "    rule %u %s -> ", r->id, where);
		ir_action_print(f, p, &r->act);
		fputc('\n', f);
	}
}

/* ---- the code ---- */

/* The class of DIM's address in FAM: the root lookup, then one step per 8 bits. */
static void _emit_walk(struct emitter *e, const struct table_trie *tr, int fam, const char *var, const char *name)
{
	if (fam == FAM_V4)
		emit(e, "\t\t%s = steer_at(%uu + (%s >> 16));\n", name, tr->root, var);
	else
		emit(e, "\t\t%s = steer_at(%uu + (%s0 >> 16));\n", name, tr->root, var);
	for (uint32_t s = 0; s < tr->steps; s++) {
		unsigned pos = 16 + 8 * s;
		if (fam == FAM_V4)
			emit(e, "\t\t%s = steer_step(%s, (%s >> %u) & 0xff);\n", name, name, var, 24 - pos);
		else
			emit(e, "\t\t%s = steer_step(%s, (%s%u >> %u) & 0xff);\n", name, name, var, pos / 32, 24 - pos % 32);
	}
	emit(e, "\t\t%s &= ~STEER_LEAF;\n", name);
}

int table_emit_c(const struct ir_policy *p, struct table *t, struct backend_program *out)
{
	static const char *const dims[] = { "d", "s" };
	static const char *const vars[] = { "dst", "src" };
	struct emitter e;
	bool sport = false, iif = false;
	int r = emit_begin(&e, p, out, "table");

	if (r < 0)
		return r;
	for (uint32_t k = 0; k < t->nx; k++) {
		sport |= p->rules[t->xrules[k]].m.sport.n > 0;
		iif |= p->rules[t->xrules[k]].m.iif.n > 0;
	}
	emit(&e, "\n#define STEER_DATA_CHUNKS %u\n", t->nchunks ? t->nchunks : 1);
	emit(&e, "%s", steer_table_template);
	emit(&e, "\n/*\n * %u rules in the data: %u by destination and port, %u by source and port;\n"
		 " * %u as branches below. `steer compile --emit tree` shows the tables.\n */\n",
	     t->nd + t->nw, t->nd, t->nw, t->nx);
	emit(&e, "#define STEER_DPORT_CLASS %uu /* port -> port class */\n", t->dport_base);
	emit(&e, "#define STEER_PORT_CLASSES %uu\n", t->nportclasses);
	emit(&e, "#define STEER_ACTIONS %uu /* rule -> action */\n", t->act_base);
	emit(&e, "\nstatic __always_inline __u64 steer_decide(struct bpf_sk_lookup *ctx)\n{\n");
	emit(&e, "\t__u32 family = STEER_CTX(ctx, family), protocol = STEER_CTX(ctx, protocol);\n");
	emit(&e, "\t__u32 dport = ctx->local_port;\n");
	if (sport)
		emit(&e, "\t__u32 sport = bpf_ntohs(ctx->remote_port);\n");
	if (iif)
		emit(&e, "\t__u32 iif = STEER_CTX(ctx, ingress_ifindex);\n");
	emit(&e, "\t__u32 pc = steer_at(STEER_DPORT_CLASS + (dport & 0xffff));\n");
	emit(&e, "\t__u32 best = STEER_NRULES, r, d = 0, s = 0;\n");
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		emit(&e, "\n\tif (family == %s) {\n", fam == FAM_V4 ? "AF_INET" : "AF_INET6");
		if (fam == FAM_V4) {
			emit(&e, "\t\t__u32 dst = bpf_ntohl(ctx->local_ip4);\n");
			emit(&e, "\t\t__u32 src = bpf_ntohl(ctx->remote_ip4);\n");
		} else {
			for (int w = 0; w < 4; w++)
				emit(&e, "\t\t__u32 dst%d = bpf_ntohl(ctx->local_ip6[%d]);\n", w, w);
			for (int w = 0; w < 4; w++)
				emit(&e, "\t\t__u32 src%d = bpf_ntohl(ctx->remote_ip6[%d]);\n", w, w);
		}
		for (int dim = 0; dim < DIM__COUNT; dim++) {
			if (t->trie[fam][dim].used && (t->rows[fam][dim][0] != TABLE_NONE || t->rows[fam][dim][1] != TABLE_NONE)) {
				emit(&e, "\t\t/* %s -> class: the longest %s prefix of the policy containing it */\n",
				     vars[dim], vars[dim]);
				_emit_walk(&e, &t->trie[fam][dim], fam, vars[dim], dims[dim]);
			}
		}
		for (int pi = 0; pi < 2; pi++) {
			emit(&e, "\n\t\tif (protocol == %s) {\n", pi ? "IPPROTO_UDP" : "IPPROTO_TCP");
			for (int dim = 0; dim < DIM__COUNT; dim++) {
				uint32_t rows = t->rows[fam][dim][pi];
				if (rows == TABLE_NONE)
					continue;
				emit(&e, "\t\t\tr = steer_at(%uu + %s * STEER_PORT_CLASSES + pc); /* part %s */\n", rows,
				     t->trie[fam][dim].used ? dims[dim] : "0", dim == DIM_DST ? "D" : "W");
				emit(&e, "\t\t\tif (r < best)\n\t\t\t\tbest = r;\n");
			}
			for (uint32_t k = 0; k < t->nx; k++) {
				const struct ir_rule *x = &p->rules[t->xrules[k]];
				if (!(x->m.protos & _protos[pi]) || !(x->m.families & FAM_BIT(fam)))
					continue;
				emit_rule_comment(&e, p, x, 3);
				emit(&e, "\t\t\tif (best > %u && ", x->id);
				tree_emit_cond(&e, x, fam);
				emit(&e, ")\n\t\t\t\tbest = %u;\n", x->id);
			}
			emit(&e, "\t\t}\n");
		}
		emit(&e, "\t}\n");
	}
	emit(&e, "\n\tif (best >= STEER_NRULES)\n\t\treturn steer_verdict(ctx, STEER_NRULES, SK_PASS);\n");
	emit(&e, "\treturn steer_act(ctx, best, steer_at(STEER_ACTIONS + best));\n}\n");
	(void)dims;
	if ((r = emit_end(&e)) < 0)
		return r;
	out->data = t->data;
	out->data_chunks = t->nchunks;
	t->data = NULL;
	return 0;
}

void table_free(struct table *t)
{
	free(t->xrules);
	free(t->data);
	memset(t, 0, sizeof(*t));
}
