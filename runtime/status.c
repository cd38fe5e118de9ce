/*
 * status: the applied record, checked against the kernel (the link runs the
 * recorded program, every pin is there), per-rule hits, and for each service
 * the sockets in its slots with the processes holding them.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "counters.h"
#include "error.h"
#include "loader.h"
#include "runtime.h"

static int _listeners(void *ctx)
{
	return sockinfo_listeners(ctx);
}

/* Each resolved interface against the namespace now: an index reused or gone leaves its rules on nothing. */
static int _check_ifaces(void *ctx)
{
	struct rt_status *s = ctx;

	for (uint32_t i = 0; i < s->cur.m.nifaces; i++) {
		struct status_iface *x = &s->ifaces[i];
		char name[IF_NAMESIZE];
		if (!if_indextoname(s->cur.ifindex[i], name)) {
			x->state = IFACE_GONE;
		} else if (strcmp(name, s->cur.m.ifaces[i]) != 0) {
			x->state = IFACE_RENAMED;
			snprintf(x->now, sizeof(x->now), "%s", name);
		}
	}
	return 0;
}

/* The sockets in each service's slots, and what its rules steer to it that no socket takes. */
static void _services(struct rt_status *s, int sockets, const sockinfo_vec *socks)
{
	for (uint32_t k = 0; k < s->cur.m.nservices; k++) {
		struct status_service *ss = &s->services[k];
		bool held[STEER_SLOTS_PER_SERVICE] = { false }, dual[STEER_SLOTS_PER_SERVICE] = { false };
		ss->svc = &s->cur.m.services[k];
		ss->slot = s->cur.slot[k];
		for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++) {
			struct status_socket *so = &ss->sockets[ss->nsockets];
			uint32_t slot = ss->slot + i;
			if (bpf_map_lookup_elem(sockets, &slot, &so->cookie) < 0)
				continue;
			so->slot = slot;
			so->proto = i & STEER_SLOT_UDP ? PROTO_UDP : PROTO_TCP;
			so->family = i & STEER_SLOT_V6 ? FAM_V6 : FAM_V4;
			for (size_t n = 0; n < socks->n && !so->found; n++) {
				const struct sockinfo *si = &socks->v[n];
				if (si->cookie != so->cookie)
					continue;
				so->found = true;
				so->addr = si->addr;
				so->port = si->port;
				so->dual_stack = si->family == FAM_V6 && !si->v6only;
				sockinfo_owners(si->inode, &so->owners);
			}
			held[i] = true;
			dual[i] = so->dual_stack;
			ss->nsockets++;
		}
		/* An IPv4 lookup may use a dual-stack IPv6 socket. */
		for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++)
			if ((ss->svc->used_slots & (1u << i)) && !held[i] &&
			    !(!(i & STEER_SLOT_V6) && held[i | STEER_SLOT_V6] && dual[i | STEER_SLOT_V6]))
				ss->missing |= (uint8_t)(1u << i);
	}
}

static void _missing(struct rt_status *s, const char *path)
{
	if (!s->problem[0])
		snprintf(s->problem, sizeof(s->problem), "'%s' is missing; 'steer detach' removes this state", path);
}

/* What steer proxy said last, and whether it is still there to say more. */
static void _proxy(const struct rt_state *st, struct rt_status *out)
{
	char path[PATH_MAX], comm[32] = "";
	uint32_t key = 0;

	state_path(st, "proxy", path);
	_cleanup_close_ int fd = bpf_obj_get(path);
	if (fd < 0 || bpf_map_lookup_elem(fd, &key, &out->proxy) < 0)
		return;
	out->proxy_known = true;
	snprintf(path, sizeof(path), "/proc/%u/comm", out->proxy.pid);
	_cleanup_fclose_ FILE *f = out->proxy.pid ? fopen(path, "r") : NULL;
	out->proxy_running = f && fgets(comm, sizeof(comm), f) && strncmp(comm, "steer", 5) == 0;
}

int rt_current(const struct rt_target *t, bool *applied, struct applied_state *out)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	int r;

	memset(out, 0, sizeof(*out));
	*applied = false;
	if ((r = state_open(&st, t, STATE_READ)) < 0)
		return r;
	if (!st.applied)
		return 0;
	if (st.problem[0])
		return error_set(-EIO, "the applied state in '%s' disagrees with the kernel: %s", st.dir, st.problem);
	*applied = true;
	*out = st.cur;
	memset(&st.cur, 0, sizeof(st.cur));
	return 0;
}

int rt_proxy_stats_open(const struct rt_target *t)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	int r;

	if ((r = state_open(&st, t, STATE_READ)) < 0)
		return r;
	if (!st.applied)
		return error_set(-ENOENT, "no policy is applied in network namespace %lu", (unsigned long)st.netns_ino);
	return state_map_open(&st, "proxy", sizeof(struct steer_proxy_stats), 1);
}

int rt_status(const struct rt_target *t, struct rt_status *out)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	_cleanup_close_ int rules = -1, sockets = -1, monitor = -1;
	_cleanup_free_ struct steer_rule_record *recs = NULL;
	char path[PATH_MAX];
	_cleanup_vec_ sockinfo_vec socks = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = state_open(&st, t, STATE_READ)) < 0)
		return r;
	out->netns = st.netns_ino;
	snprintf(out->dir, sizeof(out->dir), "%s", st.dir);
	if (!st.applied)
		return 0;
	out->applied = true;
	out->link_id = st.link_id;
	memcpy(out->problem, st.problem, sizeof(out->problem));
	out->cur = st.cur;
	memset(&st.cur, 0, sizeof(st.cur)); /* out owns it now */
	_proxy(&st, out);
	if (out->problem[0] || !(out->services = calloc(out->cur.m.nservices + 1, sizeof(*out->services))) ||
	    !(out->ifaces = calloc(out->cur.m.nifaces + 1, sizeof(*out->ifaces))))
		return 0;

	uint32_t n = out->cur.m.nrules;
	recs = calloc(n + 1, sizeof(*recs));
	state_gen_path(&st, out->cur.prog_id, "hits", path);
	if (access(path, F_OK) < 0)
		_missing(out, path);
	state_gen_path(&st, out->cur.prog_id, "rules", path);
	if ((rules = bpf_obj_get(path)) < 0)
		_missing(out, path);
	state_path(&st, loader_persistent[LOADER_SOCKETS].pin, path);
	if ((sockets = bpf_obj_get(path)) < 0)
		_missing(out, path);
	state_path(&st, loader_persistent[LOADER_MONITOR].pin, path);
	if ((monitor = bpf_obj_get(path)) < 0)
		_missing(out, path);
	if (out->problem[0])
		return 0;
	if (!recs || (r = counters_read(&st, &out->cur, &out->counters)) < 0 ||
	    loader_read_rules(rules, n, recs) < 0)
		return error_set(-EIO, "cannot read the rule counters in '%s'", st.dir);
	for (uint32_t i = 0; i < n; i++)
		if (out->counters.rules[i])
			vec_push(&out->rules, ((struct status_rule){ i, recs[i], out->counters.rules[i] }));
	out->records = TAKE_PTR(recs);
	out->unmatched = out->counters.rules[n];
	uint32_t zero = 0;
	bpf_map_lookup_elem(monitor, &zero, &out->monitors);
	state_path(&st, loader_persistent[LOADER_ACTIVE].pin, path);
	_cleanup_close_ int active = bpf_obj_get(path);
	if (active < 0 || bpf_map_lookup_elem(active, &zero, &out->monitors_active) < 0)
		out->monitors_active = 0;

	state_in_netns(&st, _listeners, &socks);
	state_in_netns(&st, _check_ifaces, out);
	_services(out, sockets, &socks);
	error_clear();
	return 0;
}

void rt_status_free(struct rt_status *s)
{
	for (uint32_t k = 0; s->services && k < s->cur.m.nservices; k++)
		for (uint32_t i = 0; i < s->services[k].nsockets; i++)
			vec_free(&s->services[k].sockets[i].owners);
	free(s->services);
	free(s->ifaces);
	vec_free(&s->rules);
	counters_free(&s->counters);
	free(s->records);
	applied_state_free(&s->cur);
	memset(s, 0, sizeof(*s));
}
