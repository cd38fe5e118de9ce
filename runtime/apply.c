/*
 * apply: compile, load, attach or swap. The new program, its counters, its
 * rule table and metadata are complete before the link is touched; then one
 * BPF link update switches programs atomically, and the sockets map, shared by
 * both programs, keeps every registered socket.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clang.h"
#include "cleanup.h"
#include "loader.h"
#include "runtime.h"

/* Where a rule comes from, as the rules map keeps it for status. */
struct rule_origin {
	uint32_t file;
	uint32_t line;
};

static int _fail(char **err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int _fail(char **err, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		abort();
	va_end(ap);
	return r;
}

static void _sha256_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Keeps each service's slot from the applied policy; new services take free ones. */
static int _assign_slots(const struct ir_policy *p, json_object *old, uint32_t *slot, char **err)
{
	bool used[STEER_MAX_SERVICES] = { 0 };
	json_object *svcs = NULL;

	if (p->nservices > STEER_MAX_SERVICES)
		return _fail(err, -EINVAL, "%u services: at most %u fit the sockets map", p->nservices, STEER_MAX_SERVICES);
	for (uint32_t i = 0; i < p->nservices; i++)
		slot[i] = UINT32_MAX;
	if (old && json_object_object_get_ex(old, "services", &svcs)) {
		for (size_t k = 0; k < json_object_array_length(svcs); k++) {
			json_object *s = json_object_array_get_idx(svcs, k), *name, *base;
			if (!json_object_object_get_ex(s, "name", &name) || !json_object_object_get_ex(s, "slot", &base))
				continue;
			uint32_t idx = ir_service_lookup(p, json_object_get_string(name));
			if (idx != UINT32_MAX) {
				slot[idx] = (uint32_t)json_object_get_int(base);
				used[slot[idx] / 4] = true;
			}
		}
	}
	for (uint32_t i = 0, next = 0; i < p->nservices; i++) {
		if (slot[i] != UINT32_MAX)
			continue;
		while (used[next])
			next++;
		used[next] = true;
		slot[i] = 4 * next;
	}
	return 0;
}

struct ifindex_ctx {
	const struct ir_policy *p;
	uint32_t *ifindex;
	uint32_t missing; /* first interface not found, or UINT32_MAX */
};

static int _resolve_ifaces(void *ctx)
{
	struct ifindex_ctx *x = ctx;

	for (uint32_t i = 0; i < x->p->nifaces; i++) {
		x->ifindex[i] = if_nametoindex(x->p->ifaces[i]);
		if (!x->ifindex[i] && x->missing == UINT32_MAX)
			x->missing = i;
	}
	return 0;
}

/* The first rule naming interface IDX, to put the error where it is written. */
static const struct ir_rule *_rule_with_iif(const struct ir_policy *p, uint32_t idx)
{
	for (uint32_t i = 0; i < p->nrules; i++)
		for (uint32_t k = 0; k < p->rules[i].m.iif.n; k++)
			if (p->rules[i].m.iif.v[k] == idx)
				return &p->rules[i];
	return NULL;
}

static json_object *_meta(const struct ir_policy *p, const uint32_t *slot, const uint32_t *ifindex, enum strategy s,
			  json_object **files_out)
{
	json_object *m = json_object_new_object(), *svcs = json_object_new_array(), *ifs = json_object_new_array();
	json_object *files = json_object_new_array();
	char hash[65] = "", when[64], abspath[PATH_MAX];
	time_t now = time(NULL);

	if (p->source)
		_sha256_hex(p->source->text, p->source->len, hash);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_object_add(m, "version", json_object_new_int(1));
	json_object_object_add(m, "policy", json_object_new_string(realpath(p->path, abspath) ? abspath : p->path));
	json_object_object_add(m, "sha256", json_object_new_string(hash));
	json_object_object_add(m, "applied", json_object_new_string(when));
	json_object_object_add(m, "strategy", json_object_new_string(strategy_name(s)));
	json_object_object_add(m, "rules", json_object_new_int64(p->nrules));
	for (uint32_t i = 0; i < p->nservices; i++) {
		const struct ir_service *svc = &p->services[i];
		json_object *o = json_object_new_object(), *protos = json_object_new_array(), *listen = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(svc->name));
		json_object_object_add(o, "slot", json_object_new_int((int)slot[i]));
		if (svc->used_protos & PROTO_TCP)
			json_object_array_add(protos, json_object_new_string("tcp"));
		if (svc->used_protos & PROTO_UDP)
			json_object_array_add(protos, json_object_new_string("udp"));
		json_object_object_add(o, "protos", protos);
		json_object_object_add(o, "used_slots", json_object_new_int(svc->used_slots));
		for (uint32_t k = 0; k < svc->nsocks; k++) {
			char buf[PREFIX_STRLEN];
			json_object *a = json_object_new_object();
			json_object_object_add(a, "proto", json_object_new_string(proto_name(svc->socks[k].proto)));
			json_object_object_add(a, "family", json_object_new_int(svc->socks[k].family == FAM_V4 ? 4 : 6));
			json_object_object_add(a, "addr",
					       json_object_new_string(addr_format(svc->socks[k].addr, svc->socks[k].family, buf)));
			json_object_object_add(a, "port", json_object_new_int(svc->socks[k].port));
			json_object_array_add(listen, a);
		}
		json_object_object_add(o, "listen", listen);
		json_object_array_add(svcs, o);
	}
	json_object_object_add(m, "services", svcs);
	for (uint32_t i = 0; i < p->nifaces; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(p->ifaces[i]));
		json_object_object_add(o, "ifindex", json_object_new_int64(ifindex[i]));
		json_object_array_add(ifs, o);
	}
	json_object_object_add(m, "ifaces", ifs);
	json_object_object_add(m, "files", files);
	*files_out = files;
	return m;
}

/* The rules map: FILE:LINE of each rule, for status. Files are indexes into the metadata's list. */
static int _rules_map(const struct ir_policy *p, json_object *files, char **err)
{
	_cleanup_free_ uint32_t *keys = calloc(p->nrules + 1, sizeof(uint32_t));
	_cleanup_free_ struct rule_origin *vals = calloc(p->nrules + 1, sizeof(*vals));
	const struct source *last = NULL;
	uint32_t last_idx = 0;
	int fd;

	if (!keys || !vals)
		return _fail(err, -ENOMEM, "cannot allocate the rule table");
	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct source *src = p->rules[i].loc.src;
		if (src != last) {
			size_t n = json_object_array_length(files), k;
			for (k = 0; k < n && strcmp(json_object_get_string(json_object_array_get_idx(files, k)), src->path); k++)
				;
			if (k == n)
				json_object_array_add(files, json_object_new_string(src->path));
			last = src;
			last_idx = (uint32_t)k;
		}
		keys[i] = i;
		vals[i] = (struct rule_origin){ last_idx, p->rules[i].loc.line };
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "steer_rules", sizeof(uint32_t), sizeof(struct rule_origin),
			    p->nrules ? p->nrules : 1, NULL);
	if (fd < 0)
		return _fail(err, -errno, "cannot create the rule table: %s", strerror(errno));
	uint32_t count = p->nrules;
	if (count && bpf_map_update_batch(fd, keys, vals, &count, NULL) < 0) {
		int e = errno;
		close(fd);
		return _fail(err, -e, "cannot fill the rule table: %s", strerror(e));
	}
	return fd;
}

/* Pins FD as NAME.new; _commit renames it over NAME once the program is swapped. */
static int _stage(struct rt_state *st, int fd, const char *name, char **err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	state_path(st, name, path);
	snprintf(tmp, sizeof(tmp), "%s_new", path);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) < 0)
		return _fail(err, -errno, "cannot pin '%s': %s", tmp, strerror(errno));
	return 0;
}

static void _unstage(struct rt_state *st, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	state_path(st, name, path);
	snprintf(tmp, sizeof(tmp), "%s_new", path);
	unlink(tmp);
}

static int _commit(struct rt_state *st, const char *name, char **err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	state_path(st, name, path);
	snprintf(tmp, sizeof(tmp), "%s_new", path);
	if (rename(tmp, path) < 0)
		return _fail(err, -errno, "cannot replace '%s': %s", path, strerror(errno));
	return 0;
}

/* Sockets of services the new policy no longer has would never be used: let them go. */
static uint32_t _drop_removed(const struct ir_policy *p, json_object *old, int sockets_fd)
{
	json_object *svcs = NULL;
	uint32_t n = 0;

	if (!old || !json_object_object_get_ex(old, "services", &svcs))
		return 0;
	for (size_t k = 0; k < json_object_array_length(svcs); k++) {
		json_object *s = json_object_array_get_idx(svcs, k), *name, *base;
		if (!json_object_object_get_ex(s, "name", &name) || !json_object_object_get_ex(s, "slot", &base) ||
		    ir_service_lookup(p, json_object_get_string(name)) != UINT32_MAX)
			continue;
		for (uint32_t i = 0; i < 4; i++) {
			uint32_t slot = (uint32_t)json_object_get_int(base) + i;
			bpf_map_delete_elem(sockets_fd, &slot);
		}
		n++;
	}
	return n;
}

int rt_apply(const struct rt_target *t, const struct ir_policy *p, const struct apply_opts *o,
	     struct diag_list *diags, struct apply_result *res, char **err)
{
	struct rt_state st;
	struct backend_program bp = { 0 };
	struct rt_program prog = { 0 };
	struct bpf_link *link = NULL;
	json_object *old = NULL, *meta = NULL, *files = NULL;
	_cleanup_free_ uint32_t *slot = calloc(p->nservices + 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *ifindex = calloc(p->nifaces + 1, sizeof(uint32_t));
	_cleanup_free_ void *obj = NULL;
	_cleanup_close_ int sockets_fd = -1, rules_fd = -1;
	char linkp[PATH_MAX], socketsp[PATH_MAX];
	bool staged = false;
	size_t objlen;
	int r;

	memset(res, 0, sizeof(*res));
	*err = NULL;
	if (!slot || !ifindex)
		return _fail(err, -ENOMEM, "cannot allocate");
	if ((r = state_open(&st, t, STATE_CREATE)) < 0) {
		state_close(&st);
		return _fail(err, r == -ENOENT ? -EIO : r, "%s", st.err);
	}
	state_path(&st, "link", linkp);
	state_path(&st, "sockets", socketsp);
	res->replaced = access(linkp, F_OK) == 0;
	if (res->replaced && (r = state_meta_read(&st, &old)) < 0) {
		r = _fail(err, r, "%s", st.err);
		goto out;
	}
	if ((r = _assign_slots(p, old, slot, err)) < 0)
		goto out;

	/* Interfaces are named in the policy and resolved where it will run. */
	struct ifindex_ctx ix = { .p = p, .ifindex = ifindex, .missing = UINT32_MAX };
	if ((r = state_in_netns(&st, _resolve_ifaces, &ix)) < 0) {
		r = _fail(err, r, "%s", st.err);
		goto out;
	}
	if (ix.missing != UINT32_MAX) {
		const struct ir_rule *rule = _rule_with_iif(p, ix.missing);
		diag_error(diags, rule ? &rule->loc : NULL, "interface '%s' does not exist in network namespace %lu",
			   p->ifaces[ix.missing], (unsigned long)st.netns_ino);
		r = -EINVAL;
		goto out;
	}

	struct clang_opts co = { .clang = o->clang, .verbose = o->verbose };
	if ((r = backend_build(p, o->strategy, &bp)) < 0) {
		r = _fail(err, r, "cannot build the program: %s", strerror(-r));
		goto out;
	}
	res->strategy = bp.strategy;
	if ((r = clang_compile(p, &bp, &co, diags, &obj, &objlen)) < 0) {
		/* A clang error on generated code is steer's fault, not the policy's. */
		if (r == -ENOENT)
			r = _fail(err, -ENOENT, "clang not found: install clang, or name it with --clang or STEER_CLANG");
		else if (r == -EINVAL)
			r = _fail(err, -EIO, "clang could not compile the generated program");
		else
			r = _fail(err, r, "cannot run clang: %s", strerror(-r));
		goto out;
	}

	if (res->replaced && (sockets_fd = bpf_obj_get(socketsp)) < 0) {
		r = _fail(err, -errno, "cannot open the registered sockets at '%s': %s", socketsp, strerror(errno));
		goto out;
	}
	struct load_opts lo = {
		.service_slot = slot, .nservices = p->nservices, .ifindex = ifindex, .nifaces = p->nifaces,
		.sockets_fd = sockets_fd, .verbose = o->verbose, .data = bp.data, .data_chunks = bp.data_chunks,
	};
	char *lerr = NULL;
	if ((r = loader_load(obj, objlen, &lo, &prog, &lerr)) < 0) {
		r = _fail(err, r, "the kernel refused the program: %s%s", lerr, o->verbose ? "" : " (--verbose shows the verifier's log)");
		free(lerr);
		goto out;
	}

	/* Everything new, staged beside the old before the switch. */
	meta = _meta(p, slot, ifindex, bp.strategy, &files);
	if ((rules_fd = _rules_map(p, files, err)) < 0) {
		r = rules_fd;
		goto out;
	}
	staged = true;
	if ((r = _stage(&st, bpf_map__fd(prog.hits), "hits", err)) < 0 || (r = _stage(&st, rules_fd, "rules", err)) < 0 ||
	    (r = state_meta_stage(&st, meta)) < 0) {
		if (!*err)
			r = _fail(err, r, "%s", st.err);
		goto out;
	}

	if (res->replaced) {
		link = bpf_link__open(linkp);
		if (!link) {
			r = _fail(err, -errno, "cannot open the applied program's link at '%s': %s", linkp, strerror(errno));
			goto out;
		}
		if ((r = bpf_link__update_program(link, prog.prog)) < 0) {
			r = _fail(err, r, "cannot switch to the new program: %s", strerror(-r));
			goto out;
		}
	} else {
		if ((r = bpf_map__pin(prog.sockets, socketsp)) < 0) {
			r = _fail(err, r, "cannot pin the sockets map at '%s': %s", socketsp, strerror(-r));
			goto out;
		}
		link = bpf_program__attach_netns(prog.prog, st.netns_fd);
		if (!link) {
			r = -errno;
			unlink(socketsp);
			r = _fail(err, r, "cannot attach to network namespace %lu: %s", (unsigned long)st.netns_ino, strerror(-r));
			goto out;
		}
		if ((r = bpf_link__pin(link, linkp)) < 0) {
			unlink(socketsp);
			r = _fail(err, r, "cannot pin the link at '%s': %s", linkp, strerror(-r));
			goto out;
		}
	}
	staged = false;
	if ((r = _commit(&st, "hits", err)) < 0 || (r = _commit(&st, "rules", err)) < 0 || (r = _commit(&st, "meta", err)) < 0)
		goto out;
	res->removed_services = _drop_removed(p, old, bpf_map__fd(prog.sockets));

	struct bpf_prog_info pi = { 0 };
	struct bpf_link_info li = { 0 };
	uint32_t len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog.prog), &pi, &len) == 0)
		res->prog_id = pi.id;
	len = sizeof(li);
	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &len) == 0)
		res->link_id = li.id;
	r = 0;
out:
	if (staged) {
		_unstage(&st, "hits");
		_unstage(&st, "rules");
		_unstage(&st, "meta");
	}
	if (link) {
		bpf_link__disconnect(link); /* the pin keeps it; closing our handle must not detach */
		bpf_link__destroy(link);
	}
	loader_close(&prog);
	backend_program_free(&bp);
	json_object_put(old);
	json_object_put(meta);
	if (r < 0 && !res->replaced && !staged) {
		/* A first apply that failed leaves no empty directory behind. */
		char path[PATH_MAX];
		state_path(&st, "link", path);
		if (access(path, F_OK) != 0)
			rmdir(st.dir);
	}
	state_close(&st);
	return r;
}

int rt_detach(const struct rt_target *t, char **err)
{
	struct rt_state st;
	char linkp[PATH_MAX];
	int r;

	*err = NULL;
	if ((r = state_open(&st, t, STATE_WRITE)) < 0) {
		r = _fail(err, r, "%s", st.err);
		state_close(&st);
		return r;
	}
	state_path(&st, "link", linkp);
	struct bpf_link *link = bpf_link__open(linkp);
	if (link) {
		/* Detach now, not when the last reference to the link goes. */
		bpf_link__detach(link);
		bpf_link__destroy(link);
	}
	if ((r = state_remove(&st)) < 0)
		r = _fail(err, r, "%s", st.err);
	state_close(&st);
	return r;
}
