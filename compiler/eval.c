#include "eval.h"

bool eval_rule_matches(const struct ir_rule *r, const struct tuple *t)
{
	const struct ir_match *m = &r->m;

	return (m->protos & t->proto) && (m->families & FAM_BIT(t->family)) &&
	       ir_pfx_list_contains(&m->dst[t->family], t->dst) && ir_pfx_list_contains(&m->src[t->family], t->src) &&
	       ir_ports_contains(&m->dport, t->dport) && ir_ports_contains(&m->sport, t->sport) &&
	       ir_iif_contains(&m->iif, t->iif);
}

struct verdict eval_tuple(const struct ir_policy *p, const struct tuple *t, const struct sock_model *socks)
{
	struct verdict v = { .kind = ACT_PASS, .rule = RULE_NONE };

	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (!eval_rule_matches(r, t))
			continue;
		v.rule = r->id;
		v.kind = r->act.kind;
		v.forward = r->act.forward;
		if (r->act.kind == ACT_SERVICE) {
			v.service = r->act.service;
			/* No usable socket: the rule's fallback decides, drop unless "or pass". */
			if (socks && !socks->usable(socks->ctx, r->act.service, t->proto, t->family))
				v.kind = r->act.fallback;
		}
		return v;
	}
	return v;
}

bool verdict_equal(const struct verdict *a, const struct verdict *b)
{
	return a->kind == b->kind && (a->kind != ACT_SERVICE || a->service == b->service) &&
	       (a->kind != ACT_FORWARD || a->forward == b->forward);
}

void verdict_print(FILE *f, const struct ir_policy *p, const struct verdict *v)
{
	if (v->kind == ACT_SERVICE)
		fprintf(f, "service %s", p->services[v->service].name);
	else if (v->kind == ACT_FORWARD)
		ir_forward_print(f, &p->forwards[v->forward]);
	else
		fprintf(f, "%s", v->kind == ACT_DROP ? "drop" : "pass");
}

void verdict_print_rule(FILE *f, const struct ir_policy *p, const struct verdict *v)
{
	char where[512];

	if (v->rule == RULE_NONE) {
		fputc('-', f);
		return;
	}
	ir_rule_where(&p->rules[v->rule], where, sizeof(where));
	fputs(where, f);
}

void tuple_print(FILE *f, const struct ir_policy *p, const struct tuple *t)
{
	char s[PREFIX_STRLEN], d[PREFIX_STRLEN];
	const char *o = t->family == FAM_V6 ? "[" : "", *c = t->family == FAM_V6 ? "]" : "";

	addr_format(t->src, t->family, s);
	addr_format(t->dst, t->family, d);
	fprintf(f, "%s %s%s%s:%u -> %s%s%s:%u", proto_name(t->proto), o, s, c, t->sport, o, d, c, t->dport);
	if (t->iif != IIF_NONE)
		fprintf(f, " iif %s", p->ifaces[t->iif]);
}
