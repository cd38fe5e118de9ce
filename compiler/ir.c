#include "ir.h"

#include <stdlib.h>
#include <string.h>

static int _pfx_cmp(const void *a, const void *b)
{
	const struct prefix *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

uint32_t ir_pfx_normalize(struct prefix *v, uint32_t n)
{
	uint32_t out = 0;

	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), _pfx_cmp);
	/* Sorted by address then length, a prefix follows the one containing it. */
	for (uint32_t i = 0; i < n; i++) {
		if (out && v[i].addr <= prefix_last(&v[out - 1]))
			continue;
		v[out++] = v[i];
	}
	return out;
}

static int _port_cmp(const void *a, const void *b)
{
	const struct port_range *x = a, *y = b;

	return (int)x->lo - (int)y->lo;
}

uint32_t ir_ports_normalize(struct port_range *v, uint32_t n)
{
	uint32_t out = 0;

	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), _port_cmp);
	for (uint32_t i = 0; i < n; i++) {
		if (out && (uint32_t)v[i].lo <= (uint32_t)v[out - 1].hi + 1) {
			if (v[i].hi > v[out - 1].hi)
				v[out - 1].hi = v[i].hi;
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

bool ir_pfx_list_contains(const struct pfx_list *l, u128 a)
{
	uint32_t lo = 0, hi = l->n;

	if (l->n == 0)
		return true;
	/* The last prefix starting at or before a is the only candidate: they are disjoint. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && prefix_contains(&l->v[lo - 1], a);
}

bool ir_ports_contains(const struct port_list *l, uint16_t port)
{
	uint32_t lo = 0, hi = l->n;

	if (l->n == 0)
		return true;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && port <= l->v[lo - 1].hi;
}

bool ir_iif_contains(const struct iif_list *l, uint32_t iif)
{
	if (l->n == 0)
		return true;
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == iif)
			return true;
	return false;
}

uint32_t ir_iface_lookup(const struct ir_policy *p, const char *name)
{
	for (uint32_t i = 0; i < p->nifaces; i++)
		if (strcmp(p->ifaces[i], name) == 0)
			return i;
	return IIF_NONE;
}

uint32_t ir_service_lookup(const struct ir_policy *p, const char *name)
{
	for (uint32_t i = 0; i < p->nservices; i++)
		if (strcmp(p->services[i].name, name) == 0)
			return i;
	return UINT32_MAX;
}

int ir_rule_where(const struct ir_rule *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%s:%u", r->loc.src ? r->loc.src->path : "-", r->loc.line);
}

static void _print_pfx(FILE *f, const char *what, const struct pfx_list *l)
{
	char buf[PREFIX_STRLEN];

	if (l->n == 0)
		return;
	fprintf(f, " %s %s", what, l->n > 1 ? "{ " : "");
	for (uint32_t i = 0; i < l->n; i++)
		fprintf(f, "%s%s", i ? ", " : "", prefix_format(&l->v[i], buf));
	fprintf(f, "%s", l->n > 1 ? " }" : "");
}

static void _print_ports(FILE *f, const char *what, const struct port_list *l)
{
	if (l->n == 0)
		return;
	fprintf(f, " %s %s", what, l->n > 1 ? "{ " : "");
	for (uint32_t i = 0; i < l->n; i++) {
		fprintf(f, "%s%u", i ? ", " : "", l->v[i].lo);
		if (l->v[i].hi != l->v[i].lo)
			fprintf(f, "-%u", l->v[i].hi);
	}
	fprintf(f, "%s", l->n > 1 ? " }" : "");
}

void ir_action_print(FILE *f, const struct ir_policy *p, const struct ir_action *a)
{
	switch (a->kind) {
	case ACT_SERVICE:
		fprintf(f, "service %s or %s", p->services[a->service].name, a->fallback == ACT_PASS ? "pass" : "drop");
		break;
	case ACT_DROP:
		fprintf(f, "drop");
		break;
	case ACT_PASS:
		fprintf(f, "pass");
		break;
	case ACT_FORWARD:
		ir_forward_print(f, &p->forwards[a->forward]);
		break;
	}
}

static void _upstream_print(FILE *f, const struct upstream *u)
{
	char buf[UPSTREAM_STRLEN];

	fputs(upstream_format(u, buf), f);
}

void ir_forward_print(FILE *f, const struct ir_forward *fw)
{
	fprintf(f, "forward ");
	if (fw->by == FWD_STATIC)
		_upstream_print(f, &fw->up);
	else
		fprintf(f, "%s", fw->by == FWD_SNI ? "sni" : "host");
}

static bool _upstream_same(const struct upstream *a, const struct upstream *b)
{
	return a->drop == b->drop && (a->drop || (a->family == b->family && a->addr == b->addr && a->port == b->port));
}

bool ir_forward_same(const struct ir_forward *a, const struct ir_forward *b)
{
	if (a->by != b->by || a->nnames != b->nnames || !_upstream_same(&a->up, &b->up))
		return false;
	for (uint32_t i = 0; i < a->nnames; i++)
		if (a->names[i].wildcard != b->names[i].wildcard || strcmp(a->names[i].name, b->names[i].name) ||
		    !_upstream_same(&a->names[i].up, &b->names[i].up))
			return false;
	return true;
}

bool ir_forward_matches(const struct ir_forward *got, const struct ir_forward *want)
{
	if (got->by != want->by)
		return false;
	return got->by != FWD_STATIC || (got->up.family == want->up.family && got->up.addr == want->up.addr &&
					 got->up.port == want->up.port);
}

void ir_print(FILE *f, const struct ir_policy *p)
{
	char where[512];

	for (uint32_t s = 0; s < p->nservices; s++) {
		const struct ir_service *svc = &p->services[s];
		fprintf(f, "service %u %s", s, svc->name);
		for (uint32_t i = 0; i < svc->nsocks; i++) {
			char buf[PREFIX_STRLEN];
			const struct ir_sockaddr *a = &svc->socks[i];
			addr_format(a->addr, a->family, buf);
			fprintf(f, "%s %s %s%s%s:%u", i ? "," : " =", proto_name(a->proto), a->family == FAM_V6 ? "[" : "",
				buf, a->family == FAM_V6 ? "]" : "", a->port);
		}
		fputc('\n', f);
	}
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		ir_rule_where(r, where, sizeof(where));
		fprintf(f, "rule %u %s\n", r->id, where);
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			if (!(r->m.families & FAM_BIT(fam)))
				continue;
			fprintf(f, "    %s %s", proto_name(r->m.protos), fam == FAM_V4 ? "ip" : "ip6");
			_print_pfx(f, "dst", &r->m.dst[fam]);
			_print_pfx(f, "src", &r->m.src[fam]);
			_print_ports(f, "port", &r->m.dport);
			_print_ports(f, "sport", &r->m.sport);
			if (r->m.iif.n) {
				fprintf(f, " iif %s", r->m.iif.n > 1 ? "{ " : "");
				for (uint32_t k = 0; k < r->m.iif.n; k++)
					fprintf(f, "%s%s", k ? ", " : "", p->ifaces[r->m.iif.v[k]]);
				fprintf(f, "%s", r->m.iif.n > 1 ? " }" : "");
			}
			fputc('\n', f);
		}
		fprintf(f, "    -> ");
		ir_action_print(f, p, &r->act);
		fputc('\n', f);
		if (r->act.kind == ACT_FORWARD && p->forwards[r->act.forward].by != FWD_STATIC) {
			const struct ir_forward *fw = &p->forwards[r->act.forward];
			for (uint32_t k = 0; k < fw->nnames; k++) {
				fprintf(f, "       %s%s -> ", fw->names[k].wildcard ? "*." : "", fw->names[k].name);
				_upstream_print(f, &fw->names[k].up);
				fputc('\n', f);
			}
			fprintf(f, "       default -> ");
			_upstream_print(f, &fw->up);
			fputc('\n', f);
		}
	}
}

void ir_policy_free(struct ir_policy *p)
{
	arena_release(&p->arena);
	memset(p, 0, sizeof(*p));
}
