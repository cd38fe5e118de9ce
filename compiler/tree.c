#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "emit.h"

static const struct {
	uint8_t family, proto;
} _group_of[4] = {
	{ FAM_V4, PROTO_TCP },
	{ FAM_V4, PROTO_UDP },
	{ FAM_V6, PROTO_TCP },
	{ FAM_V6, PROTO_UDP },
};

/* A rule with no test in this group matches everything the group sees. */
static bool _unconditional(const struct ir_rule *r, int fam)
{
	const struct ir_match *m = &r->m;

	return !m->dst[fam].n && !m->src[fam].n && !m->dport.n && !m->sport.n && !m->iif.n;
}

/*
 * Splitting by port pays when a group has enough rules to walk and they test
 * different ports; it copies every rule without a port test into each class,
 * so it is refused when that would more than TREE_SPLIT_GROWTH-fold the code.
 */
#define TREE_SPLIT_MIN_RULES 8
#define TREE_SPLIT_GROWTH 4

static bool _ports_cover(const struct port_list *l, uint32_t port)
{
	if (!l->n)
		return true;
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i].lo <= port && port <= l->v[i].hi)
			return true;
	return false;
}

static int _cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One class holding the whole group: the rules tested one after another. */
static int _classes_linear(struct tree_group *grp)
{
	grp->classes = calloc(1, sizeof(*grp->classes));
	grp->members = calloc(grp->nrules ? grp->nrules : 1, sizeof(uint32_t));
	if (!grp->classes || !grp->members)
		return -ENOMEM;
	for (uint32_t i = 0; i < grp->nrules; i++)
		grp->members[i] = i;
	grp->classes[0] = (struct tree_class){ .lo = 0, .hi = 65535, .first = 0, .n = grp->nrules };
	grp->nclasses = 1;
	grp->nmembers = grp->nrules;
	return 0;
}

/*
 * The ports where some rule's port test changes, cut into runs; each run keeps
 * the rules (in order) that match there, up to the first that then tests
 * nothing else; neighbouring runs with the same rules are one class.
 */
static int _classes_by_port(const struct ir_policy *p, struct tree_group *grp)
{
	_cleanup_free_ uint32_t *starts = NULL;
	uint32_t nb = 1;
	size_t cap = 1;

	for (uint32_t i = 0; i < grp->nrules; i++)
		cap += 2 * p->rules[grp->rules[i]].m.dport.n;
	if (grp->nrules < TREE_SPLIT_MIN_RULES || cap == 1)
		return _classes_linear(grp);
	starts = malloc(cap * sizeof(*starts));
	if (!starts)
		return -ENOMEM;
	starts[0] = 0;
	for (uint32_t i = 0; i < grp->nrules; i++) {
		const struct port_list *l = &p->rules[grp->rules[i]].m.dport;
		for (uint32_t k = 0; k < l->n; k++) {
			starts[nb++] = l->v[k].lo;
			if (l->v[k].hi < 65535)
				starts[nb++] = l->v[k].hi + 1u;
		}
	}
	qsort(starts, nb, sizeof(*starts), _cmp_u32);
	uint32_t u = 0;
	for (uint32_t i = 0; i < nb; i++)
		if (!u || starts[i] != starts[u - 1])
			starts[u++] = starts[i];
	nb = u;

	size_t limit = (size_t)TREE_SPLIT_GROWTH * grp->nrules;
	grp->classes = calloc(nb, sizeof(*grp->classes));
	grp->members = calloc(limit, sizeof(uint32_t));
	if (!grp->classes || !grp->members)
		return -ENOMEM;
	for (uint32_t c = 0; c < nb; c++) {
		uint32_t port = starts[c], first = grp->nmembers;
		for (uint32_t i = 0; i < grp->nrules; i++) {
			const struct ir_match *m = &p->rules[grp->rules[i]].m;
			if (!_ports_cover(&m->dport, port))
				continue;
			if (grp->nmembers == limit) { /* too much copying: not worth it */
				free(grp->classes);
				free(grp->members);
				grp->classes = NULL, grp->members = NULL, grp->nclasses = grp->nmembers = 0;
				return _classes_linear(grp);
			}
			grp->members[grp->nmembers++] = i;
			if (!m->dst[grp->family].n && !m->src[grp->family].n && !m->sport.n && !m->iif.n)
				break; /* takes the whole class */
		}
		uint32_t n = grp->nmembers - first, hi = c + 1 < nb ? starts[c + 1] - 1 : 65535;
		struct tree_class *prev = grp->nclasses ? &grp->classes[grp->nclasses - 1] : NULL;
		if (prev && prev->n == n && !memcmp(&grp->members[prev->first], &grp->members[first], n * sizeof(uint32_t))) {
			prev->hi = (uint16_t)hi;
			grp->nmembers = first;
			continue;
		}
		grp->classes[grp->nclasses++] = (struct tree_class){ .lo = (uint16_t)port, .hi = (uint16_t)hi, .first = first, .n = n };
	}
	return 0;
}

int tree_build(const struct ir_policy *p, struct tree *t)
{
	memset(t, 0, sizeof(*t));
	for (int g = 0; g < 4; g++) {
		struct tree_group *grp = &t->groups[g];
		grp->family = _group_of[g].family;
		grp->proto = _group_of[g].proto;
		grp->catch_all = -1;
		grp->rules = calloc(p->nrules ? p->nrules : 1, sizeof(uint32_t));
		if (!grp->rules)
			return -ENOMEM;
		for (uint32_t i = 0; i < p->nrules; i++) {
			const struct ir_rule *r = &p->rules[i];
			if (!(r->m.protos & grp->proto) || !(r->m.families & FAM_BIT(grp->family)))
				continue;
			grp->rules[grp->nrules++] = i;
			/* Nothing after a rule that takes everything can be reached here. */
			if (_unconditional(r, grp->family)) {
				grp->catch_all = grp->nrules - 1;
				break;
			}
		}
		int err = _classes_by_port(p, grp);
		if (err < 0)
			return err;
	}
	return 0;
}

void tree_stats(const struct tree *t, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nodes = 2 + 4; /* the family and protocol tests */
	for (int g = 0; g < 4; g++) {
		const struct tree_group *grp = &t->groups[g];
		uint64_t search = 0; /* port tests to find a class */
		while ((1ull << search) < grp->nclasses)
			search++;
		st->nodes += grp->nmembers + (grp->nclasses - 1);
		for (uint32_t c = 0; c < grp->nclasses; c++)
			if (2 + search + grp->classes[c].n > st->depth)
				st->depth = 2 + search + grp->classes[c].n;
	}
}

void tree_print(FILE *f, const struct ir_policy *p, const struct tree *t)
{
	char where[512];

	for (int g = 0; g < 4; g++) {
		const struct tree_group *grp = &t->groups[g];
		if (g % 2 == 0)
			fprintf(f, "%s\n", grp->family == FAM_V4 ? "ip" : "ip6");
		fprintf(f, "  %s: %u rule%s", proto_name(grp->proto), grp->nrules, grp->nrules == 1 ? "" : "s");
		if (grp->nclasses > 1)
			fprintf(f, " in %u port classes (%u tests)", grp->nclasses, grp->nmembers);
		fputc('\n', f);
		for (uint32_t c = 0; c < grp->nclasses; c++) {
			const struct tree_class *cl = &grp->classes[c];
			if (grp->nclasses > 1 && cl->lo == cl->hi)
				fprintf(f, "    port %u: %u rule%s\n", cl->lo, cl->n, cl->n == 1 ? "" : "s");
			else if (grp->nclasses > 1)
				fprintf(f, "    port %u-%u: %u rule%s\n", cl->lo, cl->hi, cl->n, cl->n == 1 ? "" : "s");
			for (uint32_t k = 0; k < cl->n; k++) {
				uint32_t i = grp->members[cl->first + k];
				const struct ir_rule *r = &p->rules[grp->rules[i]];
				ir_rule_where(r, where, sizeof(where));
				fprintf(f, "%*srule %u %s -> ", grp->nclasses > 1 ? 6 : 4, "", r->id, where);
				ir_action_print(f, p, &r->act);
				fprintf(f, "%s\n", (int64_t)i == grp->catch_all ? " (takes everything left)" : "");
			}
		}
	}
}

/* Tests of one family's address words: dst, or src with SRC. */
static void _emit_prefix(struct emitter *e, const struct prefix *pf, bool src)
{
	const char *var = src ? "src" : "dst";

	if (pf->family == FAM_V4) {
		uint32_t a = (uint32_t)pf->addr;
		if (pf->len == 32)
			emit(e, "%s == 0x%08x", var, a);
		else
			emit(e, "(%s & 0x%08x) == 0x%08x", var, pf->len ? ~0u << (32 - pf->len) : 0, a);
		return;
	}
	int words = (pf->len + 31) / 32;

	/* Parenthesised when it is more than one test, as part of a larger condition. */
	if (words == 0) {
		emit(e, "1");
		return;
	}
	emit(e, "%s", words > 1 ? "(" : "");
	for (int w = 0; w < words; w++) {
		int bits = pf->len - 32 * w;
		uint32_t word = (uint32_t)(pf->addr >> (96 - 32 * w));
		emit(e, "%s", w ? " && " : "");
		if (bits >= 32)
			emit(e, "%s%d == 0x%08x", var, w, word);
		else
			emit(e, "(%s%d & 0x%08x) == 0x%08x", var, w, ~0u << (32 - bits), word);
	}
	emit(e, "%s", words > 1 ? ")" : "");
}

static void _emit_prefixes(struct emitter *e, const struct pfx_list *l, bool src)
{
	emit(e, "%s", l->n > 1 ? "(" : "");
	for (uint32_t i = 0; i < l->n; i++) {
		emit(e, "%s", i ? " || " : "");
		_emit_prefix(e, &l->v[i], src);
	}
	emit(e, "%s", l->n > 1 ? ")" : "");
}

static void _emit_ports(struct emitter *e, const struct port_list *l, const char *var)
{
	emit(e, "%s", l->n > 1 ? "(" : "");
	for (uint32_t i = 0; i < l->n; i++) {
		emit(e, "%s", i ? " || " : "");
		if (l->v[i].lo == l->v[i].hi)
			emit(e, "%s == %u", var, l->v[i].lo);
		else
			emit(e, "(%s >= %u && %s <= %u)", var, l->v[i].lo, var, l->v[i].hi);
	}
	emit(e, "%s", l->n > 1 ? ")" : "");
}

static const char _tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";

/* R's condition in family FAM; without its port test when the port class implies it. */
static void _emit_cond(struct emitter *e, const struct ir_rule *r, int fam, bool dport, int indent)
{
	const struct ir_match *m = &r->m;
	bool any = false;

#define AND()                                                  \
	do {                                                   \
		if (any)                                       \
			emit(e, " &&\n%.*s    ", indent, _tabs); \
		any = true;                                    \
	} while (0)
	if (m->dst[fam].n) {
		AND();
		_emit_prefixes(e, &m->dst[fam], false);
	}
	if (m->src[fam].n) {
		AND();
		_emit_prefixes(e, &m->src[fam], true);
	}
	if (m->dport.n && dport) {
		AND();
		_emit_ports(e, &m->dport, "dport");
	}
	if (m->sport.n) {
		AND();
		_emit_ports(e, &m->sport, "sport");
	}
	if (m->iif.n) {
		AND();
		emit(e, "%s", m->iif.n > 1 ? "(" : "");
		for (uint32_t i = 0; i < m->iif.n; i++)
			emit(e, "%siif == steer_ifindex[%u]", i ? " || " : "", m->iif.v[i]);
		emit(e, "%s", m->iif.n > 1 ? ")" : "");
	}
#undef AND
	if (!any)
		emit(e, "1");
}

/* One rule at INDENT tabs; in a class of several (PORTS false) its port test is implied. */
static void _emit_rule(struct emitter *e, const struct ir_policy *p, const struct ir_rule *r, int fam, bool ports,
		       int indent)
{
	const struct ir_match *m = &r->m;

	emit_rule_comment(e, p, r, indent);
	if (!m->dst[fam].n && !m->src[fam].n && !(m->dport.n && ports) && !m->sport.n && !m->iif.n) {
		emit(e, "%.*s", indent, _tabs);
		emit_action(e, p, r);
		return;
	}
	emit(e, "%.*sif (", indent, _tabs);
	_emit_cond(e, r, fam, ports, indent);
	emit(e, ")\n%.*s", indent + 1, _tabs);
	emit_action(e, p, r);
}

/* Classes LO..HI of a group: a binary search on the port down to each class's rules. */
static void _emit_classes(struct emitter *e, const struct ir_policy *p, const struct tree_group *grp, uint32_t lo,
			  uint32_t hi, int indent)
{
	uint32_t n = 0;

	for (uint32_t c = lo; c <= hi; c++)
		n += grp->classes[c].n;
	if (!n) /* nothing can match here: on to the end */
		return;
	if (lo == hi) {
		const struct tree_class *cl = &grp->classes[lo];
		for (uint32_t k = 0; k < cl->n; k++)
			_emit_rule(e, p, &p->rules[grp->rules[grp->members[cl->first + k]]], grp->family,
				   grp->nclasses == 1, indent);
		return;
	}
	uint32_t mid = lo + (hi - lo + 1) / 2;
	emit(e, "%.*sif (dport < %u) {\n", indent, _tabs, grp->classes[mid].lo);
	_emit_classes(e, p, grp, lo, mid - 1, indent + 1);
	emit(e, "%.*s} else {\n", indent, _tabs);
	_emit_classes(e, p, grp, mid, hi, indent + 1);
	emit(e, "%.*s}\n", indent, _tabs);
}

/* How many 32-bit words of dst and src a family's rules test, so only those are loaded. */
static void _uses(const struct ir_policy *p, const struct tree *t, int fam, int *dst, int *src)
{
	*dst = *src = 0;
	for (int g = 0; g < 4; g++) {
		const struct tree_group *grp = &t->groups[g];
		if (grp->family != fam)
			continue;
		for (uint32_t i = 0; i < grp->nrules; i++) {
			const struct ir_match *m = &p->rules[grp->rules[i]].m;
			for (uint32_t k = 0; k < m->dst[fam].n; k++)
				if ((m->dst[fam].v[k].len + 31) / 32 > *dst)
					*dst = (m->dst[fam].v[k].len + 31) / 32;
			for (uint32_t k = 0; k < m->src[fam].n; k++)
				if ((m->src[fam].v[k].len + 31) / 32 > *src)
					*src = (m->src[fam].v[k].len + 31) / 32;
		}
	}
}

int tree_emit_c(const struct ir_policy *p, const struct tree *t, struct backend_program *out)
{
	struct emitter e;
	bool dport = false, sport = false, iif = false;
	int r = emit_begin(&e, p, out, "tree");

	if (r < 0)
		return r;
	for (int g = 0; g < 4; g++) {
		for (uint32_t i = 0; i < t->groups[g].nrules; i++) {
			dport |= p->rules[t->groups[g].rules[i]].m.dport.n > 0;
			sport |= p->rules[t->groups[g].rules[i]].m.sport.n > 0;
			iif |= p->rules[t->groups[g].rules[i]].m.iif.n > 0;
		}
	}
	emit(&e, "\nstatic __always_inline __u64 steer_decide(struct bpf_sk_lookup *ctx)\n{\n");
	emit(&e, "\t__u32 family = STEER_CTX(ctx, family), protocol = STEER_CTX(ctx, protocol);\n");
	if (dport)
		emit(&e, "\t__u32 dport = ctx->local_port;\n");
	if (iif)
		emit(&e, "\t__u32 iif = STEER_CTX(ctx, ingress_ifindex);\n");
	if (sport)
		emit(&e, "\t__u32 sport = bpf_ntohs(ctx->remote_port);\n");
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		int dst, src;
		_uses(p, t, fam, &dst, &src);
		emit(&e, "\n\tif (family == %s) {\n", fam == FAM_V4 ? "AF_INET" : "AF_INET6");
		if (fam == FAM_V4) {
			if (dst)
				emit(&e, "\t\t__u32 dst = bpf_ntohl(ctx->local_ip4);\n");
			if (src)
				emit(&e, "\t\t__u32 src = bpf_ntohl(ctx->remote_ip4);\n");
		} else {
			for (int w = 0; w < dst; w++)
				emit(&e, "\t\t__u32 dst%d = bpf_ntohl(ctx->local_ip6[%d]);\n", w, w);
			for (int w = 0; w < src; w++)
				emit(&e, "\t\t__u32 src%d = bpf_ntohl(ctx->remote_ip6[%d]);\n", w, w);
		}
		for (int g = 0; g < 4; g++) {
			const struct tree_group *grp = &t->groups[g];
			if (grp->family != fam)
				continue;
			emit(&e, "\n\t\tif (protocol == %s) {\n", grp->proto == PROTO_TCP ? "IPPROTO_TCP" : "IPPROTO_UDP");
			if (grp->nclasses)
				_emit_classes(&e, p, grp, 0, grp->nclasses - 1, 3);
			emit(&e, "\t\t}\n");
		}
		emit(&e, "\t}\n");
	}
	emit(&e, "\treturn steer_verdict(ctx, STEER_NRULES, SK_PASS);\n}\n");
	return emit_end(&e);
}

void tree_free(struct tree *t)
{
	for (int g = 0; g < 4; g++) {
		free(t->groups[g].rules);
		free(t->groups[g].classes);
		free(t->groups[g].members);
	}
	memset(t, 0, sizeof(*t));
}
