#include "build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clang.h"
#include "error.h"

static char *_xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort();
	return d;
}

/* The index of PATH in the manifest's file list, added when new. */
static uint32_t _file_index(struct built_manifest *m, const char *path)
{
	for (uint32_t i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i], path) == 0)
			return i;
	char **v = realloc(m->files, (m->nfiles + 1) * sizeof(char *));
	if (!v)
		abort();
	m->files = v;
	m->files[m->nfiles] = _xstrdup(path);
	return m->nfiles++;
}

/* Most exact UDP targets kept per service; beyond, it counts as steered anywhere. */
#define UDP_TARGETS_MAX 64

/* What a UDP rule sends to its service: exact address:port pairs, or (false) anything wider. */
static bool _udp_targets(const struct ir_rule *r, struct built_service *o)
{
	for (int fam = 0; fam < FAM__COUNT; fam++) {
		if (!(r->m.families & FAM_BIT(fam)))
			continue;
		const struct pfx_list *dst = &r->m.dst[fam];
		if (!dst->n || !r->m.dport.n)
			return false;
		for (uint32_t i = 0; i < dst->n; i++) {
			if (dst->v[i].len != fam_width(fam))
				return false;
			for (uint32_t k = 0; k < r->m.dport.n; k++) {
				const struct port_range *pr = &r->m.dport.v[k];
				if (pr->lo != pr->hi || o->nudp_to >= UDP_TARGETS_MAX)
					return false;
				o->udp_to[o->nudp_to++] = (struct built_listen){ PROTO_UDP, (uint8_t)fam, pr->lo, dst->v[i].addr };
			}
		}
	}
	return true;
}

static void _udp(const struct ir_policy *p, uint32_t svc, struct built_service *o)
{
	if (!(o->udp_to = calloc(UDP_TARGETS_MAX, sizeof(*o->udp_to))))
		abort();
	for (uint32_t i = 0; i < p->nrules && !o->udp_any; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (r->act.kind == ACT_SERVICE && r->act.service == svc && (r->m.protos & PROTO_UDP))
			o->udp_any = !_udp_targets(r, o);
	}
	if (o->udp_any)
		o->nudp_to = 0;
}

/* A map's name: "forward sni " and a hash of what it says, so the same map keeps its name (and its socket). */
static char *_forward_name(const struct ir_forward *fw)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	char *name = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&name, &len);

	if (!f)
		abort();
	ir_forward_print(f, fw);
	for (uint32_t i = 0; fw->by != FWD_STATIC && i <= fw->nnames; i++) {
		const struct upstream *u = i < fw->nnames ? &fw->names[i].up : &fw->up;
		const char *n = i < fw->nnames ? fw->names[i].name : "";
		char key[320];
		int kl = snprintf(key, sizeof(key), "%s%s|%d|%u|%u|%016llx%016llx;", i < fw->nnames && fw->names[i].wildcard ? "*." : "",
				  n, u->drop, u->family, u->port, (unsigned long long)(u->addr >> 64),
				  (unsigned long long)u->addr);
		for (int k = 0; k < kl; k++)
			h = (h ^ (uint8_t)key[k]) * 0x100000001b3ull;
	}
	if (fw->by != FWD_STATIC)
		fprintf(f, " %016llx", (unsigned long long)h);
	if (fclose(f) != 0)
		abort();
	return name;
}

static void _forward_service(const struct ir_forward *fw, struct built_service *o)
{
	struct built_forward *bf = calloc(1, sizeof(*bf));

	if (!bf || !(bf->names = calloc(fw->nnames + 1, sizeof(*bf->names))))
		abort();
	o->name = _forward_name(fw);
	o->protos = PROTO_TCP;
	for (int fam = 0; fam < FAM__COUNT; fam++)
		if (fw->families & FAM_BIT(fam))
			o->used_slots |= 1u << (fam == FAM_V6 ? STEER_SLOT_V6 : 0);
	if (!(o->listen = calloc(1, sizeof(*o->listen))) || !(o->udp_to = calloc(1, sizeof(*o->udp_to))))
		abort();
	bf->by = fw->by;
	bf->up = fw->up;
	bf->nnames = fw->nnames;
	for (uint32_t i = 0; i < fw->nnames; i++)
		bf->names[i] = (struct built_fwd_name){ _xstrdup(fw->names[i].name), fw->names[i].wildcard, fw->names[i].up };
	o->forward = bf;
}

static void _manifest(const struct ir_policy *p, enum strategy s, struct built_policy *b)
{
	struct built_manifest *m = &b->m;
	char abspath[PATH_MAX];

	m->policy = _xstrdup(realpath(p->path, abspath) ? abspath : p->path);
	if (p->source)
		built_sha256_hex(p->source->text, p->source->len, m->sha256);
	m->built_by = _xstrdup(STEER_VERSION);
	m->strategy = s;
	m->nrules = p->nrules;
	b->rules = calloc(p->nrules + 1, sizeof(*b->rules));
	m->services = calloc(p->nservices + p->nforwards + 1, sizeof(*m->services));
	m->ifaces = calloc(p->nifaces + 1, sizeof(char *));
	if (!b->rules || !m->services || !m->ifaces)
		abort();
	const struct source *last = NULL;
	uint32_t file = 0;
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (r->loc.src != last) {
			last = r->loc.src;
			file = _file_index(m, last->path);
		}
		b->rules[i] = (struct steer_rule_record){ file, r->loc.line, r->loc.col, backend_action_word(p, r) };
	}
	m->nservices = p->nservices;
	for (uint32_t i = 0; i < p->nservices; i++) {
		const struct ir_service *svc = &p->services[i];
		struct built_service *o = &m->services[i];
		o->name = _xstrdup(svc->name);
		o->protos = svc->used_protos;
		o->used_slots = svc->used_slots;
		o->nlisten = svc->nsocks;
		if (!(o->listen = calloc(svc->nsocks + 1, sizeof(*o->listen))))
			abort();
		for (uint32_t k = 0; k < svc->nsocks; k++)
			o->listen[k] = (struct built_listen){ svc->socks[k].proto, svc->socks[k].family, svc->socks[k].port,
							      svc->socks[k].addr };
		_udp(p, i, o);
	}
	for (uint32_t k = 0; k < p->nforwards; k++)
		_forward_service(&p->forwards[k], &m->services[backend_forward_service(p, k)]);
	m->nservices = p->nservices + p->nforwards;
	m->nifaces = p->nifaces;
	for (uint32_t i = 0; i < p->nifaces; i++)
		m->ifaces[i] = _xstrdup(p->ifaces[i]);
}

int build_policy(const struct ir_policy *p, const struct build_opts *o, struct diag_list *diags,
		 struct built_policy *out)
{
	struct clang_opts co = { .clang = o->clang, .verbose = o->verbose };
	struct backend_program bp;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = backend_build(p, o->strategy, &bp)) < 0) {
		backend_program_free(&bp);
		return error_set(r, "cannot build the program: %s", strerror(-r));
	}
	r = clang_compile(p, &bp, &co, diags, &out->obj, &out->objlen);
	if (r == -ENOENT)
		r = error_set(r, "clang not found: install clang, or name it with --clang or STEER_CLANG");
	else if (r == -EINVAL) /* on generated code: steer's fault, not the policy's */
		r = error_set(-EIO, "clang could not compile the generated program");
	else if (r < 0)
		r = error_set(r, "cannot run clang: %s", strerror(-r));
	if (r == 0) {
		_manifest(p, bp.strategy, out);
		out->data = TAKE_PTR(bp.data);
		out->data_chunks = bp.data_chunks;
	}
	backend_program_free(&bp);
	if (r < 0)
		built_policy_free(out);
	return r;
}
