/*
 * status: the applied policy, its program and link, per-rule hits, and for
 * each service the sockets in its slots with the processes holding them.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "runtime.h"

#define BATCH 4096

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

/* Sums of the per-CPU counters of rules 0..n (n: no rule matched), read in batches. */
static int _hits(int fd, uint32_t n, uint64_t *out)
{
	int ncpus = libbpf_num_possible_cpus();
	_cleanup_free_ uint32_t *keys = calloc(BATCH, sizeof(uint32_t));
	_cleanup_free_ uint64_t *vals = calloc((size_t)BATCH * (size_t)(ncpus > 0 ? ncpus : 1), sizeof(uint64_t));
	uint32_t next = 0;
	bool first = true;

	if (ncpus <= 0 || !keys || !vals)
		return -ENOMEM;
	for (uint32_t done = 0; done <= n;) {
		uint32_t count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &next, &next, keys, vals, &count, NULL);
		if (r < 0 && errno != ENOENT)
			return -errno;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t sum = 0;
			for (int c = 0; c < ncpus; c++)
				sum += vals[(size_t)i * (size_t)ncpus + (size_t)c];
			if (keys[i] <= n)
				out[keys[i]] = sum;
		}
		done += count;
		first = false;
		if (r < 0 || count == 0)
			break; /* ENOENT: that was the last batch */
	}
	return 0;
}

struct origin {
	uint32_t file, line;
};

static int _origins(int fd, uint32_t n, struct origin *out)
{
	_cleanup_free_ uint32_t *keys = calloc(BATCH, sizeof(uint32_t));
	_cleanup_free_ struct origin *vals = calloc(BATCH, sizeof(struct origin));
	uint32_t next = 0;
	bool first = true;

	if (!keys || !vals)
		return -ENOMEM;
	for (;;) {
		uint32_t count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &next, &next, keys, vals, &count, NULL);
		if (r < 0 && errno != ENOENT)
			return -errno;
		for (uint32_t i = 0; i < count; i++)
			if (keys[i] < n)
				out[keys[i]] = vals[i];
		first = false;
		if (r < 0 || count == 0)
			return 0;
	}
}

static int _listeners(void *ctx)
{
	return sockinfo_listeners(ctx);
}

static json_object *_socket(uint32_t slot, uint64_t cookie, const sockinfo_vec *socks, bool *dual)
{
	json_object *o = json_object_new_object(), *procs = json_object_new_array();
	static const char *const names[] = { "tcp", "tcp", "udp", "udp" };

	json_object_object_add(o, "proto", json_object_new_string(names[slot % 4]));
	json_object_object_add(o, "family", json_object_new_int(slot % 2 ? 6 : 4));
	json_object_object_add(o, "slot", json_object_new_int((int)slot));
	json_object_object_add(o, "cookie", json_object_new_uint64(cookie));
	for (size_t i = 0; i < socks->n; i++) {
		const struct sockinfo *si = &socks->v[i];
		if (si->cookie != cookie)
			continue;
		char buf[PREFIX_STRLEN], local[PREFIX_STRLEN + 16];
		addr_format(si->addr, si->family, buf);
		snprintf(local, sizeof(local), si->family == FAM_V6 ? "[%s]:%u" : "%s:%u", buf, si->port);
		json_object_object_add(o, "local", json_object_new_string(local));
		*dual = si->family == FAM_V6 && !si->v6only;
		json_object_object_add(o, "dual_stack", json_object_new_boolean(*dual));
		owner_vec owners = { 0 };
		sockinfo_owners(si->inode, &owners);
		for (size_t k = 0; k < owners.n; k++) {
			json_object *p = json_object_new_object();
			json_object_object_add(p, "pid", json_object_new_int(owners.v[k].pid));
			json_object_object_add(p, "comm", json_object_new_string(owners.v[k].comm));
			json_object_object_add(p, "cgroup", json_object_new_string(owners.v[k].cgroup));
			json_object_array_add(procs, p);
		}
		vec_free(&owners);
		break;
	}
	json_object_object_add(o, "processes", procs);
	return o;
}

/* Each service of the metadata with the sockets its slots hold and the ones it lacks. */
static json_object *_services(json_object *meta, int sockets, const sockinfo_vec *socks)
{
	json_object *out = json_object_new_array(), *svcs;

	if (!json_object_object_get_ex(meta, "services", &svcs))
		return out;
	for (size_t k = 0; k < json_object_array_length(svcs); k++) {
		json_object *s = json_object_array_get_idx(svcs, k), *name, *base, *protos;
		json_object *o = json_object_new_object(), *list = json_object_new_array(), *missing = json_object_new_array();
		json_object *us;
		uint8_t used = 0;
		json_object_object_get_ex(s, "name", &name);
		json_object_object_get_ex(s, "slot", &base);
		json_object_object_get_ex(s, "protos", &protos);
		if (json_object_object_get_ex(s, "used_slots", &us))
			used = (uint8_t)json_object_get_int(us);
		json_object_object_add(o, "name", json_object_get(name));
		json_object_object_add(o, "slot", json_object_get(base));
		json_object_object_add(o, "protos", json_object_get(protos));
		bool held[4] = { false }, dual[4] = { false };
		for (uint32_t i = 0; i < 4; i++) {
			uint32_t slot = (uint32_t)json_object_get_int(base) + i;
			uint64_t cookie;
			if (bpf_map_lookup_elem(sockets, &slot, &cookie) < 0)
				continue;
			json_object_array_add(list, _socket(slot, cookie, socks, &dual[i]));
			held[i] = true;
		}
		/* What the rules steer here and no slot holds; an IPv4 lookup may use a dual-stack IPv6 socket. */
		static const char *const names[] = { "tcp/ipv4", "tcp/ipv6", "udp/ipv4", "udp/ipv6" };
		for (int i = 0; i < 4; i++)
			if ((used & (1u << i)) && !held[i] && !(i % 2 == 0 && held[i + 1] && dual[i + 1]))
				json_object_array_add(missing, json_object_new_string(names[i]));
		json_object_object_add(o, "sockets", list);
		json_object_object_add(o, "missing", missing);
		json_object_array_add(out, o);
	}
	return out;
}

int rt_status(const struct rt_target *t, json_object **out, char **err)
{
	struct rt_state st;
	json_object *meta = NULL, *doc = json_object_new_object();
	char path[PATH_MAX];
	_cleanup_close_ int hits = -1, rules = -1, sockets = -1;
	_cleanup_free_ uint64_t *counts = NULL;
	_cleanup_free_ struct origin *origins = NULL;
	sockinfo_vec socks = { 0 };
	int r;

	*err = NULL;
	*out = NULL;
	r = state_open(&st, t, STATE_READ);
	if (r == -ENOENT) {
		json_object_object_add(doc, "applied", json_object_new_boolean(0));
		json_object_object_add(doc, "netns", json_object_new_uint64(st.netns_ino));
		*out = doc;
		state_close(&st);
		return 0;
	}
	if (r < 0) {
		r = _fail(err, r, "%s", st.err);
		goto out;
	}
	if ((r = state_meta_read(&st, &meta)) < 0) {
		r = _fail(err, r, "%s", st.err);
		goto out;
	}
	json_object_object_add(doc, "applied", json_object_new_boolean(1));
	json_object_object_add(doc, "netns", json_object_new_uint64(st.netns_ino));
	json_object_object_add(doc, "state", json_object_new_string(st.dir));
	json_object *policy = json_object_new_object(), *v;
	static const char *const keys[] = { "policy", "sha256", "applied", "strategy", "rules" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (json_object_object_get_ex(meta, keys[i], &v))
			json_object_object_add(policy, strcmp(keys[i], "policy") == 0 ? "path" : keys[i], json_object_get(v));
	json_object_object_add(doc, "policy", policy);

	state_path(&st, "link", path);
	struct bpf_link *link = bpf_link__open(path);
	if (link) {
		struct bpf_link_info li = { 0 };
		uint32_t len = sizeof(li);
		json_object *prog = json_object_new_object();
		if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &len) == 0) {
			json_object_object_add(prog, "id", json_object_new_int64(li.prog_id));
			json_object_object_add(prog, "link_id", json_object_new_int64(li.id));
		}
		json_object_object_add(doc, "program", prog);
		bpf_link__disconnect(link);
		bpf_link__destroy(link);
	}

	uint32_t nrules = json_object_object_get_ex(meta, "rules", &v) ? (uint32_t)json_object_get_int64(v) : 0;
	json_object *files = NULL, *rl = json_object_new_array();
	json_object_object_get_ex(meta, "files", &files);
	counts = calloc(nrules + 1, sizeof(uint64_t));
	origins = calloc(nrules + 1, sizeof(struct origin));
	state_path(&st, "hits", path);
	hits = bpf_obj_get(path);
	state_path(&st, "rules", path);
	rules = bpf_obj_get(path);
	if (!counts || !origins || hits < 0 || rules < 0 || _hits(hits, nrules, counts) < 0 ||
	    _origins(rules, nrules, origins) < 0) {
		json_object_put(rl);
		r = _fail(err, -EIO, "cannot read the rule counters in '%s'", st.dir);
		goto out;
	}
	for (uint32_t i = 0; i < nrules; i++) {
		if (!counts[i])
			continue;
		char where[PATH_MAX + 16];
		json_object *f = files ? json_object_array_get_idx(files, origins[i].file) : NULL;
		snprintf(where, sizeof(where), "%s:%u", f ? json_object_get_string(f) : "?", origins[i].line);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int64(i));
		json_object_object_add(o, "where", json_object_new_string(where));
		json_object_object_add(o, "hits", json_object_new_uint64(counts[i]));
		json_object_array_add(rl, o);
	}
	json_object_object_add(doc, "rules", rl);
	json_object_object_add(doc, "unmatched", json_object_new_uint64(counts[nrules]));

	state_path(&st, "sockets", path);
	if ((sockets = bpf_obj_get(path)) < 0) {
		r = _fail(err, -errno, "cannot open the sockets map at '%s': %s", path, strerror(errno));
		goto out;
	}
	state_in_netns(&st, _listeners, &socks);
	json_object_object_add(doc, "services", _services(meta, sockets, &socks));
	*out = doc;
	doc = NULL;
	r = 0;
out:
	vec_free(&socks);
	json_object_put(doc);
	json_object_put(meta);
	state_close(&st);
	return r;
}
