#include "check.h"

#include <stdlib.h>
#include <net/if.h>
#include <string.h>

#include "cleanup.h"
#include "steer_abi.h"
#include "strmap.h"
#include "vec.h"

/* What a value expression denotes. */
enum vkind { K_NONE, K_ADDR, K_PORT, K_PROTO, K_IFACE };

/* A value flattened to its elements; sets, nested sets and $names expanded. */
struct value {
	enum vkind kind;
	bool bad; /* an element had an error already reported */
	uint8_t protos;
	VEC(struct prefix) addrs;
	VEC(struct port_range) ports;
	VEC(const char *) names;
};

/* A define, flattened once when it is declared and reused by every $use. */
struct define_sym {
	const struct stmt *stmt;
	struct value val;
};

struct checker {
	struct diag_list *diags;
	struct ir_policy *ir;
	struct strmap defines; /* name -> struct define_sym */
	struct strmap services; /* name -> index + 1 */
	struct strmap ifaces; /* name -> index + 1 */
	VEC(const char *) iface_names;
	struct value scratch[M__COUNT + 1]; /* reused across rules; the last is the protocol */
};

static const char *_kind_plural(enum vkind k)
{
	switch (k) {
	case K_ADDR:
		return "addresses";
	case K_PORT:
		return "ports";
	case K_PROTO:
		return "protocols";
	case K_IFACE:
		return "interface names";
	case K_NONE:
		break;
	}
	return "nothing";
}

static void _value_reset(struct value *v)
{
	v->kind = K_NONE;
	v->bad = false;
	v->protos = 0;
	v->addrs.n = v->ports.n = v->names.n = 0;
}

static void _value_free(struct value *v)
{
	vec_free(&v->addrs);
	vec_free(&v->ports);
	vec_free(&v->names);
}

/* Accepts an element of kind K into OUT, or reports a set that mixes kinds. */
static bool _kind_ok(struct checker *c, struct value *out, enum vkind k, const struct location *loc)
{
	if (out->kind == K_NONE || out->kind == k) {
		out->kind = k;
		return true;
	}
	diag_error(c->diags, loc, "set mixes %s and %s", _kind_plural(out->kind), _kind_plural(k));
	out->bad = true;
	return false;
}

static bool _port_ok(struct checker *c, uint64_t port, const struct location *loc)
{
	if (port >= 1 && port <= 65535)
		return true;
	if (port == UINT64_MAX)
		diag_error(c->diags, loc, "invalid port: number too large (ports are 1-65535)");
	else
		diag_error(c->diags, loc, "invalid port %llu (ports are 1-65535)", (unsigned long long)port);
	return false;
}

/* Parses an address or prefix literal, reporting what is wrong with it. */
static bool _prefix_ok(struct checker *c, const char *text, const struct location *loc, struct prefix *out)
{
	char net[PREFIX_STRLEN];
	bool is_prefix = strchr(text, '/') != NULL;

	switch (prefix_parse(text, out)) {
	case ADDR_OK:
		return true;
	case ADDR_BAD_ADDRESS:
		diag_error(c->diags, loc, "invalid %s '%s'", is_prefix ? "prefix" : "address", text);
		return false;
	case ADDR_BAD_LENGTH:
		diag_error(c->diags, loc, "invalid prefix '%s': the length must be 0-%u", text,
			   strchr(text, ':') ? 128 : 32);
		return false;
	case ADDR_HOST_BITS:
		diag_error(c->diags, loc, "prefix '%s' has host bits set; did you mean '%s'?", text,
			   prefix_format(out, net));
		return false;
	}
	return false;
}

/*
 * A rule's ::ffff:a.b.c.d never matches: the kernel looks such a connection up
 * as IPv4, so sk_lookup never sees the mapped address. (A service may bind
 * one, and an expect may ask about one: those mean what they say.)
 */
static bool _not_mapped(struct checker *c, const char *text, const struct location *loc, const struct prefix *p)
{
	char v4[PREFIX_STRLEN];

	if (p->family != FAM_V6 || p->len < 96 || (p->addr >> 32) != 0xffff)
		return true;
	struct prefix q = { .addr = p->addr & 0xffffffffu, .family = FAM_V4, .len = (uint8_t)(p->len - 96) };
	bool is_prefix = strchr(text, '/') != NULL;
	diag_error(c->diags, loc,
		   "'%s' is an IPv4-mapped IPv6 %s, which no lookup ever sees: the kernel looks such connections up as "
		   "IPv4; write '%s'",
		   text, is_prefix ? "prefix" : "address", is_prefix ? prefix_format(&q, v4) : addr_format(q.addr, FAM_V4, v4));
	return false;
}

static void _flatten(struct checker *c, const struct expr *e, struct value *out)
{
	struct prefix p;

	switch (e->kind) {
	case EXPR_ADDR:
		if (!_kind_ok(c, out, K_ADDR, &e->loc))
			return;
		if (_prefix_ok(c, e->text, &e->loc, &p) && _not_mapped(c, e->text, &e->loc, &p))
			vec_push(&out->addrs, p);
		else
			out->bad = true;
		return;
	case EXPR_NUMBER:
		if (!_kind_ok(c, out, K_PORT, &e->loc))
			return;
		if (_port_ok(c, e->num, &e->loc))
			vec_push(&out->ports, ((struct port_range){ (uint16_t)e->num, (uint16_t)e->num }));
		else
			out->bad = true;
		return;
	case EXPR_RANGE:
		if (!_kind_ok(c, out, K_PORT, &e->loc))
			return;
		if (!_port_ok(c, e->range.lo, &e->loc) || !_port_ok(c, e->range.hi, &e->loc)) {
			out->bad = true;
			return;
		}
		if (e->range.lo > e->range.hi) {
			diag_error(c->diags, &e->loc, "reversed port range %llu-%llu; did you mean %llu-%llu?",
				   (unsigned long long)e->range.lo, (unsigned long long)e->range.hi,
				   (unsigned long long)e->range.hi, (unsigned long long)e->range.lo);
			out->bad = true;
			return;
		}
		vec_push(&out->ports, ((struct port_range){ (uint16_t)e->range.lo, (uint16_t)e->range.hi }));
		return;
	case EXPR_PROTO:
		if (_kind_ok(c, out, K_PROTO, &e->loc))
			out->protos |= e->proto;
		return;
	case EXPR_NAME:
		if (!_kind_ok(c, out, K_IFACE, &e->loc))
			return;
		/* The kernel's limit (IFNAMSIZ, with its NUL): a longer name can never be resolved. */
		if (strlen(e->text) >= IFNAMSIZ) {
			diag_error(c->diags, &e->loc, "interface name '%s' is %zu characters: the kernel allows at most %d",
				   e->text, strlen(e->text), IFNAMSIZ - 1);
			out->bad = true;
			return;
		}
		vec_push(&out->names, e->text);
		return;
	case EXPR_VAR: {
		const struct define_sym *sym = strmap_get(&c->defines, e->text);
		if (!sym) {
			diag_error(c->diags, &e->loc, "undefined variable '$%s'", e->text);
			out->bad = true;
			return;
		}
		if (sym->val.kind == K_NONE || !_kind_ok(c, out, sym->val.kind, &e->loc)) {
			out->bad = true; /* its own errors were reported at the define */
			return;
		}
		out->bad |= sym->val.bad;
		out->protos |= sym->val.protos;
		for (size_t i = 0; i < sym->val.addrs.n; i++)
			vec_push(&out->addrs, sym->val.addrs.v[i]);
		for (size_t i = 0; i < sym->val.ports.n; i++)
			vec_push(&out->ports, sym->val.ports.v[i]);
		for (size_t i = 0; i < sym->val.names.n; i++)
			vec_push(&out->names, sym->val.names.v[i]);
		return;
	}
	case EXPR_SET:
		for (const struct expr *x = e->elems; x; x = x->next)
			_flatten(c, x, out);
		return;
	}
}

/* Flattens E and checks it is of kind WANT for the construct named WHAT. */
static bool _resolve(struct checker *c, const struct expr *e, enum vkind want, const char *what, struct value *out)
{
	_value_reset(out);
	_flatten(c, e, out);
	if (out->kind != K_NONE && out->kind != want) {
		if (e->kind == EXPR_NAME && strmap_get(&c->defines, e->text))
			diag_error(c->diags, &e->loc, "%s expects %s, got the name '%s'; did you mean '$%s'?", what,
				   _kind_plural(want), e->text, e->text);
		else if (e->kind == EXPR_NAME && want == K_PROTO)
			diag_error(c->diags, &e->loc, "a rule starts with its protocol: tcp, udp or { tcp, udp }; got the name '%s'",
				   e->text);
		else if (e->kind == EXPR_NAME)
			diag_error(c->diags, &e->loc, "%s expects %s, got the name '%s'", what, _kind_plural(want), e->text);
		else
			diag_error(c->diags, &e->loc, "%s expects %s, got %s", what, _kind_plural(want),
				   _kind_plural(out->kind));
		return false;
	}
	return out->kind == want && !out->bad;
}

static void _check_define(struct checker *c, const struct stmt *s)
{
	const struct define_sym *prev = strmap_get(&c->defines, s->define.name);

	if (prev) {
		diag_error(c->diags, &s->define.name_loc, "redefinition of '%s'", s->define.name);
		diag_note(c->diags, &prev->stmt->define.name_loc, "'%s' was defined here", s->define.name);
		return;
	}
	struct define_sym *sym = calloc(1, sizeof(*sym));
	if (!sym)
		abort();
	sym->stmt = s;
	_flatten(c, s->define.value, &sym->val);
	strmap_put(&c->defines, s->define.name, sym);
}

/* A socket endpoint: a plain address (bracketed when IPv6) and a port. */
static bool _endpoint_ok(struct checker *c, const struct endpoint *ep, uint8_t *family, u128 *addr)
{
	struct prefix p;

	if (!_prefix_ok(c, ep->addr, &ep->addr_loc, &p))
		return false;
	if (ep->no_port) {
		if (p.family == FAM_V6)
			diag_error(c->diags, &ep->addr_loc, "an IPv6 endpoint is written [ADDR]:PORT, e.g. [::1]:80");
		else
			diag_error(c->diags, &ep->addr_loc, "an endpoint needs a port: ADDR:PORT");
		return false;
	}
	if (p.len != fam_width(p.family)) {
		diag_error(c->diags, &ep->addr_loc, "an endpoint is one address, not the prefix '%s'", ep->addr);
		return false;
	}
	if (p.family == FAM_V6 && !ep->bracketed) {
		diag_error(c->diags, &ep->addr_loc, "an IPv6 endpoint is written [%s]:%llu", ep->addr,
			   (unsigned long long)ep->port);
		return false;
	}
	if (p.family == FAM_V4 && ep->bracketed) {
		diag_error(c->diags, &ep->addr_loc, "brackets are for IPv6 endpoints; write %s:%llu", ep->addr,
			   (unsigned long long)ep->port);
		return false;
	}
	if (!_port_ok(c, ep->port, &ep->port_loc))
		return false;
	*family = p.family;
	*addr = p.addr;
	return true;
}

static void _declare_service(struct checker *c, const struct stmt *s)
{
	uintptr_t prev = (uintptr_t)strmap_get(&c->services, s->service.name);
	struct ir_policy *ir = c->ir;

	if (prev) {
		diag_error(c->diags, &s->service.name_loc, "service '%s' is already declared", s->service.name);
		diag_note(c->diags, &ir->services[prev - 1].loc, "first declared here");
		return;
	}
	struct ir_service *svc = &ir->services[ir->nservices];
	svc->name = arena_strdup(&ir->arena, s->service.name);
	svc->loc = s->service.name_loc;
	uint32_t n = 0;
	for (const struct sockdecl *d = s->service.socks; d; d = d->next)
		n++;
	svc->socks = arena_alloc(&ir->arena, sizeof(*svc->socks) * (n ? n : 1));
	for (const struct sockdecl *d = s->service.socks; d; d = d->next) {
		struct ir_sockaddr a = { .proto = d->proto, .loc = d->loc, .port = (uint16_t)d->ep.port };
		if (!_endpoint_ok(c, &d->ep, &a.family, &a.addr))
			continue;
		bool dup = false;
		for (uint32_t i = 0; i < svc->nsocks; i++)
			dup |= svc->socks[i].proto == a.proto && svc->socks[i].family == a.family;
		if (dup) {
			diag_error(c->diags, &d->loc, "service '%s' already has a %s %s socket address; a service holds one socket per protocol and family",
				   svc->name, proto_name(a.proto), a.family == FAM_V4 ? "IPv4" : "IPv6");
			continue;
		}
		svc->socks[svc->nsocks++] = a;
	}
	strmap_put(&c->services, svc->name, (void *)(uintptr_t)(++ir->nservices));
}

static uint32_t _intern_iface(struct checker *c, const char *name)
{
	uintptr_t idx = (uintptr_t)strmap_get(&c->ifaces, name);

	if (idx)
		return (uint32_t)(idx - 1);
	name = arena_strdup(&c->ir->arena, name);
	vec_push(&c->iface_names, name);
	strmap_put(&c->ifaces, name, (void *)(uintptr_t)c->iface_names.n);
	return (uint32_t)(c->iface_names.n - 1);
}

static bool _service_ref(struct checker *c, const struct action *a, uint32_t *out)
{
	uintptr_t idx = (uintptr_t)strmap_get(&c->services, a->service);

	if (!idx) {
		diag_error(c->diags, &a->service_loc, "undeclared service '%s'", a->service);
		return false;
	}
	*out = (uint32_t)(idx - 1);
	return true;
}

static uint8_t _families(const struct value *v)
{
	uint8_t f = 0;

	for (size_t i = 0; i < v->addrs.n; i++)
		f |= (uint8_t)FAM_BIT(v->addrs.v[i].family);
	return f;
}

/* Copies the prefixes of one family of V into the IR, normalised. */
static struct pfx_list _pfx_list(struct checker *c, const struct value *v, int fam)
{
	struct pfx_list l = { 0 };
	uint32_t n = 0;

	for (size_t i = 0; i < v->addrs.n; i++)
		n += v->addrs.v[i].family == fam;
	if (!n)
		return l;
	l.v = arena_alloc(&c->ir->arena, sizeof(*l.v) * n);
	for (size_t i = 0; i < v->addrs.n; i++)
		if (v->addrs.v[i].family == fam)
			l.v[l.n++] = v->addrs.v[i];
	l.n = ir_pfx_normalize(l.v, l.n);
	/* A /0 only says which family: within it, the same as no address matcher. */
	if (l.n == 1 && l.v[0].len == 0)
		l.n = 0;
	return l;
}

static struct port_list _port_list(struct checker *c, const struct value *v)
{
	struct port_list l = { 0 };

	if (!v->ports.n)
		return l;
	l.v = arena_memdup(&c->ir->arena, v->ports.v, sizeof(*l.v) * v->ports.n);
	l.n = ir_ports_normalize(l.v, (uint32_t)v->ports.n);
	/* The whole port space is the same as no port matcher. */
	if (l.n == 1 && l.v[0].lo == 1 && l.v[0].hi == 65535)
		l.n = 0;
	return l;
}

static int _u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool _upstream_ok(struct checker *c, const struct endpoint *ep, struct upstream *out)
{
	uint8_t family;
	u128 addr;

	if (!_endpoint_ok(c, ep, &family, &addr))
		return false;
	*out = (struct upstream){ .family = family, .port = (uint16_t)ep->port, .addr = addr };
	return true;
}

/*
 * A name of a forward map, as TLS server names and Host headers are: DNS
 * labels of letters, digits and '-' (1-63 each, 253 in all), compared without
 * case; "*." first stands for the names below the rest.
 */
static bool _fwd_name_ok(struct checker *c, const struct fwd_entry *e, struct ir_fwd_name *out)
{
	const char *name = e->name;
	bool wildcard = strncmp(name, "*.", 2) == 0;
	const char *p = name + (wildcard ? 2 : 0), *why = NULL;
	size_t len = strlen(p), label = 0;

	if (!len || len > 253)
		why = len ? "longer than 253 characters" : "empty";
	for (size_t i = 0; !why && i <= len; i++) {
		char ch = p[i];
		if (ch == '.' || ch == '\0') {
			if (!label)
				why = "an empty label (two dots, or a dot at an end)";
			else if (p[i - 1] == '-')
				why = "a label that ends with '-'";
			label = 0;
		} else if (ch == '*') {
			why = "'*' anywhere but a leading '*.'";
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) {
			why = "a character that is not a letter, digit, '-' or '.'";
		} else if (ch == '-' && !label) {
			why = "a label that starts with '-'";
		} else if (++label > 63) {
			why = "a label longer than 63 characters";
		}
	}
	if (why) {
		diag_error(c->diags, &e->key_loc, "'%s' is not a server name: %s", name, why);
		return false;
	}
	char *lower = arena_strdup(&c->ir->arena, p);
	for (char *q = lower; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	*out = (struct ir_fwd_name){ .name = lower, .wildcard = wildcard };
	return true;
}

/* A forward action lowered into ir->forwards; *idx is where. */
static bool _forward(struct checker *c, const struct action *a, uint8_t protos, uint32_t *idx)
{
	struct ir_forward fw = { .loc = a->loc, .up = { .drop = true } };
	bool ok = true;

	if (protos & PROTO_UDP) {
		diag_error(c->diags, &a->loc, "'forward' is TCP only, and this rule matches udp");
		ok = false;
	}
	if (!a->forward_by) {
		fw.by = FWD_STATIC;
		ok &= _upstream_ok(c, a->forward, &fw.up);
	} else if (strcmp(a->forward_by, "sni") == 0 || strcmp(a->forward_by, "host") == 0) {
		fw.by = a->forward_by[0] == 's' ? FWD_SNI : FWD_HOST;
		const struct fwd_entry *dflt = NULL, **seen;
		uint32_t n = 0;
		for (const struct fwd_entry *e = a->forward_map; e; e = e->next)
			n++;
		fw.names = arena_alloc(&c->ir->arena, sizeof(*fw.names) * (n ? n : 1));
		seen = calloc(n ? n : 1, sizeof(*seen));
		if (!seen)
			abort();
		for (const struct fwd_entry *e = a->forward_map; e; e = e->next) {
			if (!e->name && strcmp(e->key, "default") != 0) {
				diag_error(c->diags, &e->key_loc, "a name in a forward map is a string (\"%s\"); the one bare key is 'default'",
					   e->key);
				ok = false;
			} else if (!e->name && dflt) {
				diag_error(c->diags, &e->key_loc, "a second 'default' in the forward map");
				diag_note(c->diags, &dflt->key_loc, "the first is here");
				ok = false;
			} else if (!e->name) {
				dflt = e;
				if (!e->drop)
					ok &= _upstream_ok(c, &e->ep, &fw.up);
			} else {
				struct ir_fwd_name nm;
				uint32_t k;
				if (!_fwd_name_ok(c, e, &nm)) {
					ok = false;
					continue;
				}
				for (k = 0; k < fw.nnames && !(fw.names[k].wildcard == nm.wildcard && !strcmp(fw.names[k].name, nm.name)); k++)
					;
				if (k < fw.nnames) {
					diag_error(c->diags, &e->key_loc, "'%s' is already in the forward map", e->name);
					diag_note(c->diags, &seen[k]->key_loc, "first here");
					ok = false;
					continue;
				}
				ok &= _upstream_ok(c, &e->ep, &nm.up);
				seen[fw.nnames] = e;
				fw.names[fw.nnames++] = nm;
			}
		}
		free(seen);
		if (!fw.nnames && ok) {
			diag_error(c->diags, &a->loc, "'forward %s' needs at least one \"NAME\": ADDR:PORT; to send everything to one upstream, write 'forward ADDR:PORT'",
				   a->forward_by);
			ok = false;
		}
	} else {
		diag_error(c->diags, &a->forward_by_loc, "'forward' takes ADDR:PORT, sni { ... } or host { ... }, not '%s'",
			   a->forward_by);
		ok = false;
	}
	if (!ok)
		return false;
	/* Identical forwards are one: the proxy listens once for each distinct one. */
	for (*idx = 0; *idx < c->ir->nforwards && !ir_forward_same(&c->ir->forwards[*idx], &fw); ++*idx)
		;
	if (*idx < c->ir->nforwards)
		return true;
	if (c->ir->nforwards >= STEER_MAX_FORWARDS) {
		diag_error(c->diags, &a->loc, "more than %u distinct forwards: steer proxy listens for at most %u",
			   STEER_MAX_FORWARDS, STEER_MAX_FORWARDS);
		return false;
	}
	c->ir->forwards[c->ir->nforwards++] = fw;
	return true;
}

static void _check_match(struct checker *c, const struct stmt *s)
{
	struct value *val = c->scratch;
	struct value *proto = &c->scratch[M__COUNT];
	const struct matcher *seen[M__COUNT] = { 0 };
	static const enum vkind want[M__COUNT] = {
		[M_DST] = K_ADDR, [M_SRC] = K_ADDR, [M_PORT] = K_PORT, [M_SPORT] = K_PORT, [M_IIF] = K_IFACE,
	};
	bool ok = _resolve(c, s->match.proto, K_PROTO, "a rule's protocol", proto);

	for (const struct matcher *m = s->match.matchers; m; m = m->next) {
		char what[32];
		if (seen[m->kind]) {
			diag_error(c->diags, &m->loc, "duplicate '%s' matcher: each matcher may appear once in a rule",
				   matcher_name(m->kind));
			diag_note(c->diags, &seen[m->kind]->loc, "first '%s' is here", matcher_name(m->kind));
			ok = false;
			continue;
		}
		seen[m->kind] = m;
		snprintf(what, sizeof(what), "'%s'", matcher_name(m->kind));
		ok &= _resolve(c, m->value, want[m->kind], what, &val[m->kind]);
	}

	struct ir_rule r = { .id = c->ir->nrules, .loc = s->loc };
	const struct action *a = &s->match.action;
	r.act.kind = a->kind;
	r.act.fallback = a->fallback;
	if (a->kind == ACT_FORWARD) {
		ok &= _forward(c, a, ok ? proto->protos : 0, &r.act.forward);
	} else if (a->kind == ACT_SERVICE) {
		ok &= _service_ref(c, a, &r.act.service);
	}
	if (!ok)
		return;

	uint8_t fams = FAMS_ALL;
	if (seen[M_DST])
		fams &= _families(&val[M_DST]);
	if (seen[M_SRC])
		fams &= _families(&val[M_SRC]);
	if (!fams) {
		diag_error(c->diags, &s->loc, "rule can never match: its dst addresses are %s only and its src addresses %s only",
			   _families(&val[M_DST]) == FAM_BIT(FAM_V4) ? "IPv4" : "IPv6",
			   _families(&val[M_SRC]) == FAM_BIT(FAM_V4) ? "IPv4" : "IPv6");
		return;
	}
	if (a->kind == ACT_FORWARD)
		c->ir->forwards[r.act.forward].families |= fams;

	r.m.protos = proto->protos;
	r.m.families = fams;
	for (int f = 0; f < FAM__COUNT; f++) {
		if (!(fams & FAM_BIT(f)))
			continue;
		if (seen[M_DST])
			r.m.dst[f] = _pfx_list(c, &val[M_DST], f);
		if (seen[M_SRC])
			r.m.src[f] = _pfx_list(c, &val[M_SRC], f);
	}
	if (seen[M_PORT])
		r.m.dport = _port_list(c, &val[M_PORT]);
	if (seen[M_SPORT])
		r.m.sport = _port_list(c, &val[M_SPORT]);
	if (seen[M_IIF]) {
		const struct value *v = &val[M_IIF];
		r.m.iif.v = arena_alloc(&c->ir->arena, sizeof(uint32_t) * v->names.n);
		for (size_t i = 0; i < v->names.n; i++)
			r.m.iif.v[r.m.iif.n++] = _intern_iface(c, v->names.v[i]);
		qsort(r.m.iif.v, r.m.iif.n, sizeof(uint32_t), _u32_cmp);
		uint32_t n = 0;
		for (uint32_t i = 0; i < r.m.iif.n; i++)
			if (!n || r.m.iif.v[n - 1] != r.m.iif.v[i])
				r.m.iif.v[n++] = r.m.iif.v[i];
		r.m.iif.n = n;
	}
	if (r.act.kind == ACT_SERVICE) {
		struct ir_service *svc = &c->ir->services[r.act.service];
		for (int k = 0; k < 4; k++)
			if ((r.m.protos & (k < 2 ? PROTO_TCP : PROTO_UDP)) && (fams & FAM_BIT(k % 2 ? FAM_V6 : FAM_V4)))
				svc->used_slots |= (uint8_t)(1u << k);
		c->ir->services[r.act.service].used_protos |= r.m.protos;
		c->ir->services[r.act.service].nrules++;
	}
	c->ir->rules[c->ir->nrules++] = r;
}

static void _check_expect(struct checker *c, const struct stmt *s)
{
	struct ir_expect x = { .loc = s->loc };
	bool ok = _endpoint_ok(c, &s->expect->src, &x.t.family, &x.t.src);
	uint8_t dfam = 0;

	ok &= _endpoint_ok(c, &s->expect->dst, &dfam, &x.t.dst);
	if (ok && dfam != x.t.family) {
		diag_error(c->diags, &s->expect->dst.loc, "expect mixes an IPv%d source with an IPv%d destination",
			   x.t.family == FAM_V4 ? 4 : 6, dfam == FAM_V4 ? 4 : 6);
		ok = false;
	}
	x.t.proto = s->expect->proto;
	x.t.sport = (uint16_t)s->expect->src.port;
	x.t.dport = (uint16_t)s->expect->dst.port;
	x.iif_name = s->expect->iif ? arena_strdup(&c->ir->arena, s->expect->iif) : NULL;
	x.t.iif = s->expect->iif ? ir_iface_lookup(c->ir, s->expect->iif) : IIF_NONE;
	x.want.kind = s->expect->verdict.kind;
	if (x.want.kind == ACT_SERVICE)
		ok &= _service_ref(c, &s->expect->verdict, &x.want.service);
	if (x.want.kind == ACT_FORWARD) {
		const struct action *v = &s->expect->verdict;
		if (!v->forward_by) {
			x.want_forward.by = FWD_STATIC;
			ok &= _upstream_ok(c, v->forward, &x.want_forward.up);
		} else if (strcmp(v->forward_by, "sni") == 0 || strcmp(v->forward_by, "host") == 0) {
			x.want_forward.by = v->forward_by[0] == 's' ? FWD_SNI : FWD_HOST;
		} else {
			diag_error(c->diags, &v->forward_by_loc, "an expect's 'forward' is ADDR:PORT, sni or host, not '%s'",
				   v->forward_by);
			ok = false;
		}
	}
	if (ok)
		c->ir->expects[c->ir->nexpects++] = x;
}

int check_policy(const struct policy_ast *ast, const char *path, struct ir_policy *ir, struct diag_list *diags)
{
	struct checker c = { .diags = diags, .ir = ir };
	uint32_t nrules = 0, nservices = 0, nexpects = 0, nforwards = 0;

	ir->path = path;
	/* Sources are kept newest first: the top-level file is the last. */
	for (const struct source *src = ast->sources.head; src; src = src->next)
		ir->source = src;
	for (const struct stmt *s = ast->stmts; s; s = s->next) {
		nrules += s->kind == STMT_MATCH;
		nservices += s->kind == STMT_SERVICE;
		nexpects += s->kind == STMT_EXPECT;
		nforwards += s->kind == STMT_MATCH && s->match.action.kind == ACT_FORWARD;
	}
	ir->rules = arena_alloc(&ir->arena, sizeof(*ir->rules) * (nrules ? nrules : 1));
	ir->services = arena_alloc(&ir->arena, sizeof(*ir->services) * (nservices ? nservices : 1));
	ir->expects = arena_alloc(&ir->arena, sizeof(*ir->expects) * (nexpects ? nexpects : 1));
	ir->forwards = arena_alloc(&ir->arena, sizeof(*ir->forwards) * (nforwards ? nforwards : 1));

	/* Services first: a rule may name a service declared further down. */
	for (const struct stmt *s = ast->stmts; s; s = s->next)
		if (s->kind == STMT_SERVICE)
			_declare_service(&c, s);
	/* Then in order: a $name must be defined before it is used, as in nft. */
	for (const struct stmt *s = ast->stmts; s && !diag_full(diags); s = s->next) {
		if (s->kind == STMT_DEFINE)
			_check_define(&c, s);
		else if (s->kind == STMT_MATCH)
			_check_match(&c, s);
	}
	ir->nifaces = (uint32_t)c.iface_names.n;
	ir->ifaces = arena_alloc(&ir->arena, sizeof(char *) * (ir->nifaces ? ir->nifaces : 1));
	for (uint32_t i = 0; i < ir->nifaces; i++)
		ir->ifaces[i] = c.iface_names.v[i];
	for (const struct stmt *s = ast->stmts; s && !diag_full(diags); s = s->next)
		if (s->kind == STMT_EXPECT)
			_check_expect(&c, s);

	for (size_t i = 0; i < c.defines.cap; i++) {
		struct define_sym *sym = c.defines.slots[i].value;
		if (sym) {
			_value_free(&sym->val);
			free(sym);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(c.scratch); i++)
		_value_free(&c.scratch[i]);
	vec_free(&c.iface_names);
	strmap_free(&c.defines);
	strmap_free(&c.services);
	strmap_free(&c.ifaces);
	return 0;
}
