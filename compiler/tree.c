#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	}
	return 0;
}

void tree_stats(const struct tree *t, struct backend_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nodes = 2 + 4; /* the family and protocol tests */
	for (int g = 0; g < 4; g++) {
		st->nodes += t->groups[g].nrules;
		if (t->groups[g].nrules + 2 > st->depth)
			st->depth = t->groups[g].nrules + 2;
	}
}

void tree_print(FILE *f, const struct ir_policy *p, const struct tree *t)
{
	char where[512];

	for (int g = 0; g < 4; g++) {
		const struct tree_group *grp = &t->groups[g];
		if (g % 2 == 0)
			fprintf(f, "%s\n", grp->family == FAM_V4 ? "ip" : "ip6");
		fprintf(f, "  %s: %u rule%s\n", proto_name(grp->proto), grp->nrules, grp->nrules == 1 ? "" : "s");
		for (uint32_t i = 0; i < grp->nrules; i++) {
			const struct ir_rule *r = &p->rules[grp->rules[i]];
			ir_rule_where(r, where, sizeof(where));
			fprintf(f, "    rule %u %s -> ", r->id, where);
			ir_action_print(f, p, &r->act);
			fprintf(f, "%s\n", (int64_t)i == grp->catch_all ? " (takes everything left)" : "");
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

void tree_emit_cond(struct emitter *e, const struct ir_rule *r, int fam)
{
	const struct ir_match *m = &r->m;
	bool any = false;

#define AND() emit(e, "%s", any ? " &&\n\t\t\t    " : ""), any = true
	if (m->dst[fam].n) {
		AND();
		_emit_prefixes(e, &m->dst[fam], false);
	}
	if (m->src[fam].n) {
		AND();
		_emit_prefixes(e, &m->src[fam], true);
	}
	if (m->dport.n) {
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

static void _emit_rule(struct emitter *e, const struct ir_policy *p, const struct ir_rule *r, int fam)
{
	emit_rule_comment(e, p, r, 3);
	if (_unconditional(r, fam)) {
		emit(e, "\t\t\t");
		emit_action(e, r);
		return;
	}
	emit(e, "\t\t\tif (");
	tree_emit_cond(e, r, fam);
	emit(e, ")\n\t\t\t\t");
	emit_action(e, r);
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
	emit(&e, "\nstatic __always_inline int steer_decide(struct bpf_sk_lookup *ctx)\n{\n");
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
			for (uint32_t i = 0; i < grp->nrules; i++)
				_emit_rule(&e, p, &p->rules[grp->rules[i]], fam);
			emit(&e, "\t\t}\n");
		}
		emit(&e, "\t}\n");
	}
	emit(&e, "\treturn steer_verdict(STEER_NRULES, SK_PASS);\n}\n");
	return emit_end(&e);
}

void tree_free(struct tree *t)
{
	for (int g = 0; g < 4; g++)
		free(t->groups[g].rules);
	memset(t, 0, sizeof(*t));
}
