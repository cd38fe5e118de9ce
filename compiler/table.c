#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "emit.h"

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

/* How many /16s below bit K hold prefixes longer than that: the nodes a 16-bit root would need. */
static uint32_t _slots16(const struct classes *c, unsigned width, unsigned k)
{
	uint32_t n = 0, last = UINT32_MAX;

	for (uint32_t i = 0; i < c->n; i++) {
		uint32_t top = _bits(c->v[i].addr, width, k, 16);
		if (c->v[i].len > k + 16 && top != last)
			n++, last = top;
	}
	return n;
}

/* The most leading 32-bit words every prefix of C spans and shares (IPv6: one operator's /32, say), in bits. */
static unsigned _skip_bits(const struct classes *c, unsigned width)
{
	for (unsigned k = width - 32; k > 0; k -= 32) {
		bool all = true;
		for (uint32_t i = 0; i < c->n && all; i++)
			all = c->v[i].len >= k && c->v[i].addr >> (width - k) == c->v[0].addr >> (width - k);
		if (all)
			return k;
	}
	return 0;
}

/*
 * The trie of C: the shared leading words compared, then a root block of
 * 1 << R entries, then 8 bits a step. R is 16, or 24 when many /16s would need
 * a node: a /24 is then found in the root, one page, for 64 MiB of root.
 */
static int _trie_build(struct data *d, const struct classes *c, int fam, struct table_trie *t)
{
	struct trie_builder b = { .d = d, .c = c, .width = fam_width(fam), .t = t };
	unsigned K = _skip_bits(c, b.width), R = _slots16(c, b.width, K) >= TABLE_ROOT24_SLOTS ? 24 : 16, maxlen = 0;
	int64_t root = _alloc(d, 1ull << R);

	if (root < 0)
		return (int)root;
	t->root = (uint32_t)root;
	t->root_bits = R;
	t->skip_bits = K;
	t->skip = K ? c->v[0].addr >> (b.width - K) << (b.width - K) : 0;
	t->nclasses = c->n + 1;
	t->used = true;
	for (uint32_t k = 0; k < 1u << R; k++)
		d->v[root + k] = TABLE_LEAF;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct prefix *x = &c->v[i];
		if (x->len > maxlen)
			maxlen = x->len;
		if (x->len > K + R)
			continue;
		uint32_t first = _bits(x->addr, b.width, K, R), count = 1u << (K + R - x->len);
		for (uint32_t k = first; k < first + count; k++)
			d->v[root + k] = TABLE_LEAF | (i + 1);
	}
	for (uint32_t i = 0; i < c->n;) {
		if (c->v[i].len <= K + R) {
			i++;
			continue;
		}
		uint32_t top = _bits(c->v[i].addr, b.width, K, R), j = i + 1, e;
		while (j < c->n && c->v[j].len > K + R && _bits(c->v[j].addr, b.width, K, R) == top)
			j++;
		int r = _node(&b, i, j, K + R, d->v[root + top], &e);
		if (r < 0)
			return r;
		d->v[root + top] = e;
		i = j;
	}
	t->steps = maxlen > K + R ? (maxlen - K - R + 7) / 8 : 0;
	return 0;
}

/* The data indexes one lookup reads, in order: what its pages and lines are counted from. */
struct reads {
	uint32_t v[64];
	uint32_t n;
};

/* Entry I of the data, noted in RD when there is one. */
static uint32_t _rd(const uint32_t *data, uint32_t i, struct reads *rd)
{
	if (rd && rd->n < sizeof(rd->v) / sizeof(rd->v[0]))
		rd->v[rd->n++] = i;
	return data[i];
}

/* The class of address A, walking the data as the program does. */
static uint32_t _trie_walk(const struct data *d, const struct table_trie *t, u128 a, int fam, struct reads *rd)
{
	unsigned w = fam_width(fam);

	if (t->skip_bits && a >> (w - t->skip_bits) != t->skip >> (w - t->skip_bits))
		return 0;
	uint32_t e = _rd(d->v, t->root + _bits(a, w, t->skip_bits, t->root_bits), rd);

	for (unsigned pos = t->skip_bits + t->root_bits; pos < w && !(e & TABLE_LEAF); pos += 8) {
		uint32_t bits = _bits(a, w, pos, 8);
		if (!(e & TABLE_LIST)) {
			e = _rd(d->v, (e << 8) | bits, rd);
			continue;
		}
		uint32_t rec = e & ~TABLE_LIST, head = _rd(d->v, rec, rd);
		uint32_t n = head & 7, next = TABLE_LEAF | head >> 3;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t key = _rd(d->v, rec + 1 + 2 * k, rd);
			if ((((key >> 8) ^ bits) & 0xff) >> (8 - (key & 15)) == 0) {
				next = _rd(d->v, rec + 2 + 2 * k, rd);
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

/* The runs of equal port class in MAP: (first port, class) each. */
static int _port_runs(struct table *t, const uint32_t *map)
{
	uint32_t n = 0;

	for (uint32_t x = 0; x < 65536; x++)
		n += x == 0 || map[x] != map[x - 1];
	t->port_first = malloc(n * sizeof(uint32_t));
	t->port_class = malloc(n * sizeof(uint32_t));
	if (!t->port_first || !t->port_class)
		return -ENOMEM;
	for (uint32_t x = 0; x < 65536; x++) {
		if (x && map[x] == map[x - 1])
			continue;
		t->port_first[t->nport_runs] = x;
		t->port_class[t->nport_runs++] = map[x];
	}
	return 0;
}

/* The class of PORT from the runs, as the code's binary search finds it. */
static uint32_t _port_run_class(const struct table *t, uint32_t port)
{
	uint32_t lo = 0, hi = t->nport_runs;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (port < t->port_first[mid])
			hi = mid;
		else
			lo = mid;
	}
	return t->port_class[lo];
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

/* Rule I's word: the rule above its action (kind, "or pass", service), so that the least word is the first rule. */
static uint32_t _word(const struct table *t, const struct ir_policy *p, uint32_t i)
{
	uint32_t act = backend_action_word(p, &p->rules[i]);
	uint32_t kind = act >> STEER_ACT_KIND_SHIFT, or_pass = !!(act & STEER_ACT_OR_PASS);

	return i << t->act_bits | kind << (t->svc_bits + 1) | or_pass << t->svc_bits | (act & STEER_ACT_SERVICE_MASK);
}

/* The widths of rule words for P: -E2BIG when the rules and services do not fit 32 bits. */
static int _words_init(const struct ir_policy *p, struct table *t)
{
	uint32_t services = p->nservices + p->nforwards;

	t->svc_bits = 0;
	while (t->svc_bits < 29 && (1ull << t->svc_bits) < services)
		t->svc_bits++;
	t->act_bits = t->svc_bits + 3;
	if ((uint64_t)p->nrules << t->act_bits > UINT32_MAX)
		return -E2BIG;
	t->none = p->nrules << t->act_bits;
	return 0;
}

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
	bool none0 = true;

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
			row[k] = t->none;
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
			uint32_t word = _word(t, p, i);
			for (uint32_t j = 0; j < (l->n ? l->n : 1); j++) {
				uint32_t cls = l->n ? _class_of(c, &l->v[j]) : 0;
				for (uint32_t x = 0; x < np; x++) {
					uint32_t *e = &row[(uint64_t)cls * npc + pcs[x]];
					if (*e == t->none)
						*e = word; /* rules come in order: the first one written wins */
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
		for (uint32_t x = 0; x < npc; x++)
			none0 &= row[x] == t->none;
	}
	/* Class 0 is "in no prefix of the part": with no rule there, the program need not read its row. */
	t->row0_none[fam][dim] = c->n && none0;
	return 0;
}

/* ---- part X: per destination class, lists of records ---- */

typedef VEC(uint32_t) u32_vec;

/* Rule I's records in FAM: one per source prefix x destination port range x source port range x interface. */
static void _x_records(const struct table *t, const struct ir_policy *p, uint32_t i, int fam, u32_vec *out)
{
	const struct ir_match *m = &p->rules[i].m;
	const struct pfx_list *src = &m->src[fam];
	unsigned shift = fam_width(fam) - 32;

	for (uint32_t a = 0; a < (src->n ? src->n : 1); a++)
		for (uint32_t b = 0; b < (m->dport.n ? m->dport.n : 1); b++)
			for (uint32_t c = 0; c < (m->sport.n ? m->sport.n : 1); c++)
				for (uint32_t k = 0; k < (m->iif.n ? m->iif.n : 1); k++) {
					u128 addr = src->n ? src->v[a].addr : 0;
					uint32_t rec[STEER_X_RECORD] = { 0 };
					rec[STEER_X_WORD] = _word(t, p, i);
					for (unsigned w = 0; w < fam_width(fam) / 32; w++)
						rec[STEER_X_SRC + w] = (uint32_t)(addr >> (shift - 32 * w));
					rec[STEER_X_LEN_IIF] = (src->n ? src->v[a].len : 0) | (m->iif.n ? m->iif.v[k] + 1 : 0) << 8;
					rec[STEER_X_DPORTS] = m->dport.n ? m->dport.v[b].lo | (uint32_t)m->dport.v[b].hi << 16 : 0xffff0000u;
					rec[STEER_X_SPORTS] = m->sport.n ? m->sport.v[c].lo | (uint32_t)m->sport.v[c].hi << 16 : 0xffff0000u;
					for (unsigned x = 0; x < STEER_X_RECORD; x++)
						vec_push(out, rec[x]);
				}
}

/* The sorted union of rule ids A and B into OUT. */
static void _merge(const u32_vec *a, const u32_vec *b, u32_vec *out)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		uint32_t v = j == b->n || (i < a->n && a->v[i] <= b->v[j]) ? a->v[i++] : b->v[j++];
		if (!out->n || out->v[out->n - 1] != v)
			vec_push(out, v);
	}
}

/*
 * Part X in FAM. A class's list holds the rules whose destination contains
 * the class's prefix: its own and its parents' (not class 0's, which is a
 * list of its own, scanned on every lookup), as records in rule order.
 */
static int _x_build(const struct ir_policy *p, const enum part *parts, int fam, struct data *d, struct table *t)
{
	struct table_xpart *xp = &t->x[fam];
	struct classes c;
	int r;

	for (uint32_t i = 0; i < p->nrules && !xp->used; i++)
		xp->used = parts[i] == PART_X && (p->rules[i].m.families & FAM_BIT(fam));
	if (!xp->used)
		return 0;
	if ((r = _collect(p, parts, PART_X, fam, DIM_DST, &c)) < 0)
		return r;
	if (c.n && (r = _trie_build(d, &c, fam, &xp->trie)) < 0) {
		_classes_free(&c);
		return r;
	}
	uint32_t n = c.n + 1;
	/* Each rule's records once, at rec_at[i] in recs; then each class's own rules, per protocol. */
	u32_vec recs = { 0 }, *own = calloc(2 * (size_t)n, sizeof(*own)), *full = calloc(2 * (size_t)n, sizeof(*full));
	_cleanup_free_ uint64_t *rec_at = calloc(p->nrules + 1, sizeof(uint64_t));
	r = -ENOMEM;
	if (!own || !full || !rec_at)
		goto lists;
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *rule = &p->rules[i];
		rec_at[i] = recs.n;
		if (parts[i] != PART_X || !(rule->m.families & FAM_BIT(fam)))
			continue;
		_x_records(t, p, i, fam, &recs);
		const struct pfx_list *l = &rule->m.dst[fam];
		for (uint32_t j = 0; j < (l->n ? l->n : 1); j++) {
			uint32_t cls = l->n ? _class_of(&c, &l->v[j]) : 0;
			for (int pi = 0; pi < 2; pi++) {
				u32_vec *v = &own[2 * cls + pi];
				if ((rule->m.protos & _protos[pi]) && (!v->n || v->v[v->n - 1] != i))
					vec_push(v, i);
			}
		}
	}
	rec_at[p->nrules] = recs.n;
	/* Parents sort before their children, so a parent's full list is ready when a child needs it. */
	uint64_t total = 0;
	for (uint32_t cls = 0; cls < n; cls++) {
		for (int pi = 0; pi < 2; pi++) {
			uint32_t up = cls ? c.parent[cls - 1] : 0;
			u32_vec none = { 0 };
			_merge(&own[2 * cls + pi], up ? &full[2 * up + pi] : &none, &full[2 * cls + pi]);
			for (size_t k = 0; k < full[2 * cls + pi].n; k++) {
				uint32_t i = full[2 * cls + pi].v[k];
				total += rec_at[i + 1] - rec_at[i];
			}
		}
	}
	int64_t heads = _alloc(d, (4 * (uint64_t)n + 255) / 256 * 256);
	int64_t at = heads < 0 ? heads : _alloc(d, (total + 255) / 256 * 256);
	if ((r = (int)(at < 0 ? at : heads)) < 0)
		goto lists;
	xp->heads = (uint32_t)heads;
	xp->records = total / STEER_X_RECORD;
	for (uint32_t cls = 0; cls < n; cls++) {
		for (int pi = 0; pi < 2; pi++) {
			uint32_t first = (uint32_t)at, count = 0;
			for (size_t k = 0; k < full[2 * cls + pi].n; k++) {
				uint32_t i = full[2 * cls + pi].v[k];
				uint64_t len = rec_at[i + 1] - rec_at[i];
				memcpy(d->v + at, recs.v + rec_at[i], len * sizeof(uint32_t));
				at += (int64_t)len;
				count += (uint32_t)(len / STEER_X_RECORD);
			}
			d->v[heads + 4 * cls + 2 * pi] = first;
			d->v[heads + 4 * cls + 2 * pi + 1] = count;
			if (count > xp->longest)
				xp->longest = count;
		}
	}
	xp->any[0] = own[0].n > 0;
	xp->any[1] = own[1].n > 0;
	r = 0;
lists:
	for (size_t k = 0; own && full && k < 2 * (size_t)n; k++) {
		vec_free(&own[k]);
		vec_free(&full[k]);
	}
	free(own);
	free(full);
	vec_free(&recs);
	_classes_free(&c);
	return r;
}

int table_build(const struct ir_policy *p, struct table *t)
{
	_cleanup_free_ enum part *parts = malloc((p->nrules ? p->nrules : 1) * sizeof(*parts));
	_cleanup_free_ uint32_t *portmap = malloc(65536 * sizeof(uint32_t));
	struct data d = { 0 };
	int r;

	memset(t, 0, sizeof(*t));
	if (!parts || !portmap)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nrules; i++) {
		parts[i] = _part(&p->rules[i]);
		t->nx += parts[i] == PART_X;
		t->nd += parts[i] == PART_D;
		t->nw += parts[i] == PART_W;
	}
	if ((r = _words_init(p, t)) < 0 || (r = _ports_build(p, parts, portmap, &t->nportclasses)) < 0)
		return r;
	if ((r = _port_runs(t, portmap)) < 0)
		return r;
	t->dport_base = TABLE_NONE;
	if (t->nport_runs > TABLE_PORT_CODE_RUNS) {
		int64_t at = _alloc(&d, 65536);
		if (at < 0)
			return (int)at;
		t->dport_base = (uint32_t)at;
		memcpy(d.v + at, portmap, 65536 * sizeof(uint32_t));
	}

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
	for (int fam = 0; fam < FAM__COUNT; fam++)
		if ((r = _x_build(p, parts, fam, &d, t)) < 0)
			goto fail_r;
	/* The map has at least one chunk, also when no part has data. */
	if (d.len == 0 && (r = (int)_alloc(&d, 256)) < 0)
		goto fail_r;
	t->data = d.v;
	t->nchunks = d.len / 256;
	return 0;
fail_r:
	free(d.v);
	return r;
}

/* The best of BEST and the part X list whose head is at HEAD, as steer_x_record scans it. */
static uint32_t _x_scan(const struct table *t, uint32_t head, const struct tuple *tp, uint32_t best, struct reads *rd)
{
	uint32_t at = _rd(t->data, head, rd), n = _rd(t->data, head + 1, rd);
	unsigned w = fam_width(tp->family);

	for (uint32_t i = 0; i < n; i++) {
		uint32_t rec = at + i * STEER_X_RECORD, word = _rd(t->data, rec + STEER_X_WORD, rd);
		if (word >= best)
			break;
		uint32_t dports = _rd(t->data, rec + STEER_X_DPORTS, rd), sports = _rd(t->data, rec + STEER_X_SPORTS, rd);
		uint32_t meta = _rd(t->data, rec + STEER_X_LEN_IIF, rd), len = meta & 255, k = meta >> 8;
		u128 a = 0;
		for (unsigned x = 0; x < w / 32; x++)
			a = a << 32 | _rd(t->data, rec + STEER_X_SRC + x, rd);
		if (tp->dport < (dports & 0xffff) || tp->dport > dports >> 16 || tp->sport < (sports & 0xffff) ||
		    tp->sport > sports >> 16 || (k && tp->iif != k - 1) || (len && (tp->src ^ a) >> (w - len)))
			continue;
		return word;
	}
	return best;
}

static uint32_t _lookup(const struct table *t, const struct ir_policy *p, const struct tuple *tp, struct reads *rd)
{
	const struct data d = { .v = t->data, .len = t->nchunks * 256 };
	uint32_t best = t->none;
	uint32_t pc = t->dport_base == TABLE_NONE ? _port_run_class(t, tp->dport) : _rd(t->data, t->dport_base + tp->dport, rd);
	int pi = tp->proto == PROTO_UDP;

	for (int dim = 0; dim < DIM__COUNT; dim++) {
		const struct table_trie *tr = &t->trie[tp->family][dim];
		uint32_t rows = t->rows[tp->family][dim][pi];
		if (rows == TABLE_NONE)
			continue;
		uint32_t cls = tr->used ? _trie_walk(&d, tr, dim == DIM_DST ? tp->dst : tp->src, tp->family, rd) : 0;
		if (cls == 0 && t->row0_none[tp->family][dim])
			continue;
		uint32_t r = _rd(t->data, rows + cls * t->nportclasses + pc, rd);
		if (r < best)
			best = r;
	}
	const struct table_xpart *xp = &t->x[tp->family];
	if (xp->used) {
		uint32_t cls = xp->trie.used ? _trie_walk(&d, &xp->trie, tp->dst, tp->family, rd) : 0;
		best = _x_scan(t, xp->heads + 4 * cls + 2 * pi, tp, best, rd);
		if (cls && xp->any[pi])
			best = _x_scan(t, xp->heads + 2 * pi, tp, best, rd);
	}
	return best >> t->act_bits;
}

uint32_t table_lookup(const struct table *t, const struct ir_policy *p, const struct tuple *tp)
{
	return _lookup(t, p, tp, NULL);
}

static int _u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Distinct values of V[0..n) >> SHIFT (V sorted). */
static uint32_t _distinct(const uint32_t *v, uint32_t n, unsigned shift)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		k += i == 0 || v[i] >> shift != v[i - 1] >> shift;
	return k;
}

void table_touched(const struct table *t, const struct ir_policy *p, const struct tuple *tp, uint32_t *pages,
		   uint32_t *lines)
{
	struct reads rd = { .n = 0 };

	_lookup(t, p, tp, &rd);
	qsort(rd.v, rd.n, sizeof(rd.v[0]), _u32_cmp);
	/* Entries are 4 bytes from a page-aligned start (the map is mmapable): 1024 a page, 16 a line. */
	*pages = _distinct(rd.v, rd.n, 10);
	*lines = _distinct(rd.v, rd.n, 4);
}

void table_stats(const struct ir_policy *p, const struct table *t, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->depth = 0;
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		const struct table_xpart *xp = &t->x[fam];
		uint64_t depth = xp->used ? (xp->trie.used ? 1 + xp->trie.steps : 0) + xp->longest : 0;
		if (xp->trie.used)
			st->nodes += 1 + xp->trie.chunks + xp->trie.lists;
		st->nodes += xp->records;
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
	st->depth += t->dport_base != TABLE_NONE; /* the port table, if read */
	st->map_entries = (uint64_t)t->nchunks * 256;
	st->map_bytes = (uint64_t)t->nchunks * sizeof(uint32_t[256]);
	(void)p;
}

static void _print_trie(FILE *f, const struct table_trie *tr)
{
	fprintf(f, "%u classes, trie of %s%u-bit root + %u steps, %llu chunks, %llu lists", tr->nclasses,
		tr->skip_bits ? "the shared leading bits, a " : "a ", tr->root_bits, tr->steps,
		(unsigned long long)tr->chunks, (unsigned long long)tr->lists);
}

void table_print(FILE *f, const struct ir_policy *p, const struct table *t)
{
	static const char *const dims[] = { "dst", "src" };
	static const char *const parts[] = { "D (destination and port)", "W (source and port)" };

	fprintf(f, "  port classes: %u, from %u runs of ports %s\n", t->nportclasses, t->nport_runs,
		t->dport_base == TABLE_NONE ? "by a binary search in the code" : "by a 65536-entry table");
	fprintf(f, "  rule words: rule << %u | action (%u service bits)\n", t->act_bits, t->svc_bits);
	for (int dim = 0; dim < DIM__COUNT; dim++) {
		fprintf(f, "  part %s: %u rules\n", parts[dim], dim == DIM_DST ? t->nd : t->nw);
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			const struct table_trie *tr = &t->trie[fam][dim];
			if (!tr->used && t->rows[fam][dim][0] == TABLE_NONE && t->rows[fam][dim][1] == TABLE_NONE)
				continue;
			fprintf(f, "    %s %s: ", fam == FAM_V4 ? "ip" : "ip6", dims[dim]);
			if (tr->used)
				_print_trie(f, tr);
			else
				fprintf(f, "no prefixes");
			for (int pi = 0; pi < 2; pi++)
				if (t->rows[fam][dim][pi] != TABLE_NONE)
					fprintf(f, "; %s rows %llu entries", proto_name(_protos[pi]),
						(unsigned long long)(tr->used ? tr->nclasses : 1) * t->nportclasses);
			fputc('\n', f);
		}
	}
	fprintf(f, "  part X (source and destination, source ports, interfaces): %u rules\n", t->nx);
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		const struct table_xpart *xp = &t->x[fam];
		const struct table_trie *tr = &xp->trie;
		if (!xp->used)
			continue;
		fprintf(f, "    %s dst: ", fam == FAM_V4 ? "ip" : "ip6");
		if (tr->used) {
			_print_trie(f, tr);
			fprintf(f, "; ");
		}
		fprintf(f, "%llu records in lists, the longest %u%s\n", (unsigned long long)xp->records, xp->longest,
			xp->any[0] || xp->any[1] ? "; rules without a destination are scanned on every lookup" : "");
	}
	(void)p;
}

/* ---- the code ---- */

/* The port class of runs [lo, hi): a binary search on the first ports, as constants. */
static void _emit_ports(struct emitter *e, const struct table *t, uint32_t lo, uint32_t hi, unsigned depth)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t";

	if (hi - lo == 1) {
		emit(e, "%.*spc = %u;\n", (int)depth, tabs, t->port_class[lo]);
		return;
	}
	uint32_t mid = lo + (hi - lo) / 2;
	emit(e, "%.*sif (dport < %u) {\n", (int)depth, tabs, t->port_first[mid]);
	_emit_ports(e, t, lo, mid, depth + 1);
	emit(e, "%.*s} else {\n", (int)depth, tabs);
	_emit_ports(e, t, mid, hi, depth + 1);
	emit(e, "%.*s}\n", (int)depth, tabs);
}

/* The class of DIM's address in FAM: the root lookup, then one step per 8 bits. */
static void _emit_walk(struct emitter *e, const struct table_trie *tr, int fam, const char *var, const char *name)
{
	if (fam == FAM_V4) {
		emit(e, "\t\t%s = steer_at(%uu + (%s >> %u));\n", name, tr->root, var, 32 - tr->root_bits);
	} else {
		/* Outside the leading words every prefix shares, the address is in none. */
		emit(e, "\t\t%s = STEER_LEAF;\n\t\tif (", name);
		for (unsigned w = 0; w < tr->skip_bits / 32; w++)
			emit(e, "%s%s%u == %uu", w ? " && " : "", var, w, (uint32_t)(tr->skip >> (96 - 32 * w)));
		emit(e, "%s)\n\t\t\t%s = steer_at(%uu + (%s%u >> %u));\n", tr->skip_bits ? "" : "1", name, tr->root,
		     var, tr->skip_bits / 32, 32 - tr->root_bits);
	}
	for (uint32_t s = 0; s < tr->steps; s++) {
		unsigned pos = tr->skip_bits + tr->root_bits + 8 * s;
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
	int r = emit_begin(&e, p, out, "table");

	if (r < 0)
		return r;
	emit(&e, "\n#define STEER_DATA_CHUNKS %u\n", t->nchunks);
	emit(&e, "#define STEER_PORT_CLASSES %uu\n", t->nportclasses);
	emit(&e, "#define STEER_ACT_BITS %u /* a rule word: rule << STEER_ACT_BITS | action */\n", t->act_bits);
	emit(&e, "#define STEER_SVC_BITS %u\n", t->svc_bits);
	emit(&e, "#define STEER_NONE %uu /* no rule: STEER_NRULES << STEER_ACT_BITS */\n", t->none);
	emit(&e, "%s", steer_table_template);
	emit(&e, "\n/*\n * %u rules in the data: %u by destination and port, %u by source and port,\n"
		 " * %u in lists by destination. `steer compile --emit tree` shows the tables.\n */\n",
	     t->nd + t->nw + t->nx, t->nd, t->nw, t->nx);
	if (t->dport_base == TABLE_NONE) {
		/*
		 * A global function: the verifier sees its answer as one unknown, not one
		 * constant per class, each a path of its own through the rest.
		 */
		emit(&e, "\n/* port -> port class: a binary search on the first ports of the runs of equal class */\n");
		emit(&e, "__attribute__((noinline)) __u32 steer_port_class(__u32 dport)\n{\n\t__u32 pc;\n\n");
		_emit_ports(&e, t, 0, t->nport_runs, 1);
		emit(&e, "\treturn pc;\n}\n");
	}
	emit(&e, "\nstatic __always_inline __u64 steer_decide(struct bpf_sk_lookup *ctx)\n{\n");
	emit(&e, "\t__u32 family = STEER_CTX(ctx, family), protocol = STEER_CTX(ctx, protocol);\n");
	emit(&e, "\t__u32 dport = ctx->local_port;\n");
	emit(&e, "\t__u32 best = STEER_NONE, r, d = 0, s = 0, pc;\n");
	if (t->x[FAM_V4].used || t->x[FAM_V6].used)
		emit(&e, "\t__u32 x = 0;\n");
	if (t->dport_base != TABLE_NONE)
		emit(&e, "\n\tpc = steer_at(%uu + (dport & 0xffff)); /* port -> port class */\n", t->dport_base);
	else
		emit(&e, "\n\tpc = steer_port_class(dport & 0xffff);\n");
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
		if (t->x[fam].trie.used) {
			emit(&e, "\t\t/* dst -> class of part X: the longest destination of its rules containing it */\n");
			_emit_walk(&e, &t->x[fam].trie, fam, "dst", "x");
		}
		for (int pi = 0; pi < 2; pi++) {
			emit(&e, "\n\t\tif (protocol == %s) {\n", pi ? "IPPROTO_UDP" : "IPPROTO_TCP");
			for (int dim = 0; dim < DIM__COUNT; dim++) {
				uint32_t rows = t->rows[fam][dim][pi];
				if (rows == TABLE_NONE)
					continue;
				if (t->row0_none[fam][dim])
					emit(&e, "\t\t\tr = %s ? steer_at(%uu + %s * STEER_PORT_CLASSES + pc) : STEER_NONE; /* part %s */\n",
					     dims[dim], rows, dims[dim], dim == DIM_DST ? "D" : "W");
				else
					emit(&e, "\t\t\tr = steer_at(%uu + %s * STEER_PORT_CLASSES + pc); /* part %s */\n", rows,
					     t->trie[fam][dim].used ? dims[dim] : "0", dim == DIM_DST ? "D" : "W");
				emit(&e, "\t\t\tif (r < best)\n\t\t\t\tbest = r;\n");
			}
			const struct table_xpart *xp = &t->x[fam];
			if (xp->used) {
				emit(&e, "\t\t\t/* part X: the list of x's class, and class 0's */\n");
				if (xp->any[pi])
					emit(&e, "\t\t\tbest = steer_x_lists(ctx, %uu + x * 4 + %d, x ? %uu : STEER_X_NO_LIST, best);\n",
					     xp->heads, 2 * pi, xp->heads + 2 * pi);
				else
					emit(&e, "\t\t\tbest = steer_x_lists(ctx, %uu + x * 4 + %d, STEER_X_NO_LIST, best);\n",
					     xp->heads, 2 * pi);
			}
			emit(&e, "\t\t}\n");
		}
		emit(&e, "\t}\n");
	}
	emit(&e, "\n\tif (best >= STEER_NONE)\n\t\treturn steer_verdict(ctx, STEER_NRULES, SK_PASS);\n");
	emit(&e, "\treturn steer_act(ctx, best >> STEER_ACT_BITS, steer_act_word(best));\n}\n");
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
	free(t->port_first);
	free(t->port_class);
	free(t->data);
	memset(t, 0, sizeof(*t));
}
