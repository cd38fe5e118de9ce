/*
 * apply and detach, as transactions. apply builds a new generation beside the
 * applied one (program loaded, counters, rule records and the state record
 * pinned under p<ID>/) and then commits with one kernel operation: pinning a
 * new link on a first apply, or updating the pinned link to the new program
 * on a re-apply (atomic: never a moment without a program, and the sockets map
 * is the same map, so every registered socket stays). What follows the commit
 * is clean-up that the next command redoes if this one is killed (state.h).
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "counters.h"
#include "error.h"
#include "loader.h"
#include "runtime.h"

/*
 * Each service keeps its slots from the applied policy (matched by name); new
 * ones take slots the applied policy does not use, so its program keeps its
 * sockets until the swap (and the slots of services that go are emptied after
 * it). Only when those run out does a new service take a slot of one that goes.
 */
static int _assign_slots(const struct built_manifest *m, const struct rt_state *st, uint32_t *slot)
{
	bool used[STEER_MAX_SERVICES] = { 0 }, old[STEER_MAX_SERVICES] = { 0 };

	if (m->nservices > STEER_MAX_SERVICES)
		return error_set(-EINVAL, "%u services: at most %u fit the sockets map", m->nservices, STEER_MAX_SERVICES);
	for (uint32_t k = 0; st->applied && k < st->cur.m.nservices; k++)
		old[st->cur.slot[k] / STEER_SLOTS_PER_SERVICE] = true;
	for (uint32_t i = 0; i < m->nservices; i++) {
		slot[i] = UINT32_MAX;
		for (uint32_t k = 0; st->applied && k < st->cur.m.nservices; k++) {
			if (strcmp(st->cur.m.services[k].name, m->services[i].name) == 0) {
				slot[i] = st->cur.slot[k];
				used[slot[i] / STEER_SLOTS_PER_SERVICE] = true;
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0, next = 0; i < m->nservices; i++) {
			if (slot[i] != UINT32_MAX)
				continue;
			while (next < STEER_MAX_SERVICES && (used[next] || (pass == 0 && old[next])))
				next++;
			if (next == STEER_MAX_SERVICES)
				break;
			used[next] = true;
			slot[i] = STEER_SLOTS_PER_SERVICE * next;
		}
	}
	return 0;
}

/* Whether a service of M was given SLOT by name from the applied policy (its sockets are its own). */
static bool _carried(const struct built_manifest *m, const struct rt_state *st, uint32_t i, uint32_t slot)
{
	for (uint32_t k = 0; st->applied && k < st->cur.m.nservices; k++)
		if (st->cur.slot[k] == slot)
			return strcmp(st->cur.m.services[k].name, m->services[i].name) == 0;
	return false;
}

/* Whether the applied policy gives SLOT to a service. */
static bool _slot_taken(const struct applied_state *a, uint32_t slot)
{
	for (uint32_t k = 0; k < a->m.nservices; k++)
		if (a->slot[k] == slot)
			return true;
	return false;
}

/* Empties a service's four slots in the sockets map. */
static void _clear_slots(int sockets_fd, uint32_t base)
{
	for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++) {
		uint32_t slot = base + i;
		bpf_map_delete_elem(sockets_fd, &slot);
	}
}

struct ifindex_ctx {
	const struct built_manifest *m;
	uint32_t *ifindex;
	uint32_t missing; /* first interface not found, or UINT32_MAX */
};

static int _resolve_ifaces(void *ctx)
{
	struct ifindex_ctx *x = ctx;

	for (uint32_t i = 0; i < x->m->nifaces; i++) {
		x->ifindex[i] = if_nametoindex(x->m->ifaces[i]);
		if (!x->ifindex[i] && x->missing == UINT32_MAX)
			x->missing = i;
	}
	return 0;
}

/* The rule records as a map, for status (and whoever reads decisions later). */
static int _rules_map(const struct built_policy *b)
{
	_cleanup_free_ uint32_t *keys = calloc(b->m.nrules + 1, sizeof(uint32_t));
	_cleanup_close_ int fd = -1;
	uint32_t count = b->m.nrules;

	if (!keys)
		return error_set(-ENOMEM, "cannot allocate the rule records");
	for (uint32_t i = 0; i < b->m.nrules; i++)
		keys[i] = i;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "steer_rules", sizeof(uint32_t), sizeof(struct steer_rule_record),
			    b->m.nrules ? b->m.nrules : 1, NULL);
	if (fd < 0)
		return error_set(-errno, "cannot create the rule records: %s", strerror(errno));
	if (count && bpf_map_update_batch(fd, keys, b->rules, &count, NULL) < 0)
		return error_set(-errno, "cannot fill the rule records: %s", strerror(errno));
	return TAKE_FD(fd);
}

static int _pin(int fd, const char *path)
{
	if (bpf_obj_pin(fd, path) < 0)
		return error_set(-errno, "cannot pin '%s': %s", path, strerror(errno));
	return 0;
}

/* The new generation, complete beside the applied one: counters, rule records, the record. */
static int _stage(struct rt_state *st, const struct built_policy *b, const struct rt_program *prog,
		  const struct applied_state *rec)
{
	char path[PATH_MAX];
	_cleanup_close_ int rules = -1, carried = -1;
	int r;

	if ((r = state_gen_create(st, rec->prog_id)) < 0)
		return r;
	state_gen_path(st, rec->prog_id, "hits", path);
	if ((r = _pin(bpf_map__fd(loader_map(prog, STEER_NAME(STEER_MAP_HITS))), path)) < 0)
		return r;
	if ((rules = _rules_map(b)) < 0)
		return rules;
	state_gen_path(st, rec->prog_id, "rules", path);
	if ((r = _pin(rules, path)) < 0)
		return r;
	carried = bpf_map_create(BPF_MAP_TYPE_ARRAY, "steer_carried", sizeof(uint32_t), sizeof(uint64_t), b->m.nrules + 1, NULL);
	if (carried < 0)
		return error_set(-errno, "cannot create the carried counters: %s", strerror(errno));
	state_gen_path(st, rec->prog_id, "carried", path);
	if ((r = _pin(carried, path)) < 0)
		return r;
	return state_record_pin(st, rec);
}

/* The commit of a first apply: the maps that outlive programs are pinned, then the link. */
static int _attach(struct rt_state *st, const struct rt_program *prog, int prog_fd, uint32_t *link_id)
{
	char path[PATH_MAX];
	_cleanup_close_ int link = -1;
	int r;

	for (size_t i = 0; i < LOADER_NPERSISTENT; i++) {
		struct bpf_map *m = loader_map(prog, loader_persistent[i].map);
		state_path(st, loader_persistent[i].pin, path);
		if (m && (r = _pin(bpf_map__fd(m), path)) < 0)
			return r;
	}
	link = bpf_link_create(prog_fd, st->netns_fd, BPF_SK_LOOKUP, NULL);
	if (link < 0)
		return error_set(-errno, "cannot attach to network namespace %lu: %s", (unsigned long)st->netns_ino,
				 strerror(errno));
	state_path(st, "link", path);
	/* Until this pin exists the link lives by this process alone: killed before it, the kernel detaches it. */
	if ((r = _pin(link, path)) < 0)
		return r;
	struct bpf_link_info li = { 0 };
	uint32_t len = sizeof(li);
	if (bpf_obj_get_info_by_fd(link, &li, &len) == 0)
		*link_id = li.id;
	return 0;
}

/* The commit of a re-apply: the pinned link switches programs in one step. */
static int _swap(struct rt_state *st, int prog_fd)
{
	char path[PATH_MAX];
	_cleanup_close_ int link = -1;

	state_path(st, "link", path);
	if ((link = bpf_obj_get(path)) < 0)
		return error_set(-errno, "cannot open the applied program's link at '%s': %s", path, strerror(errno));
	if (bpf_link_update(link, prog_fd, NULL) < 0)
		return error_set(-errno, "cannot switch to the new program: %s", strerror(errno));
	return 0;
}

int rt_apply(const struct rt_target *t, const struct built_policy *b, const struct apply_opts *o,
	     struct apply_result *res)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	_cleanup_program_ struct rt_program prog = { 0 };
	_cleanup_free_ uint32_t *slot = calloc(b->m.nservices + 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *ifindex = calloc(b->m.nifaces + 1, sizeof(uint32_t));
	int persistent[LOADER_NPERSISTENT];
	char path[PATH_MAX];
	int r;

	memset(res, 0, sizeof(*res));
	if (!slot || !ifindex)
		return error_set(-ENOMEM, "out of memory");
	if ((r = state_open(&st, t, STATE_CREATE)) < 0)
		return r;
	if (st.problem[0])
		return error_set(-EIO, "the applied state in '%s' disagrees with the kernel: %s", st.dir, st.problem);
	res->replaced = st.applied;
	if ((r = _assign_slots(&b->m, &st, slot)) < 0)
		return r;

	/* Interfaces are named in the policy and resolved where it will run. */
	struct ifindex_ctx ix = { .m = &b->m, .ifindex = ifindex, .missing = UINT32_MAX };
	if ((r = state_in_netns(&st, _resolve_ifaces, &ix)) < 0)
		return r;
	if (ix.missing != UINT32_MAX)
		return error_set(-EINVAL, "interface '%s' (iif in the policy) does not exist in network namespace %lu",
				 b->m.ifaces[ix.missing], (unsigned long)st.netns_ino);

	/* The same program with the same data, on the same interfaces: what runs already is what was asked for. */
	char digest[65];
	built_digest(b, digest);
	if (st.applied && strcmp(digest, st.cur.digest) == 0 &&
	    memcmp(ifindex, st.cur.ifindex, b->m.nifaces * sizeof(uint32_t)) == 0) {
		res->unchanged = true;
		res->prog_id = st.cur.prog_id;
		res->link_id = st.link_id;
		return 0;
	}

	for (size_t i = 0; i < LOADER_NPERSISTENT; i++) {
		state_path(&st, loader_persistent[i].pin, path);
		persistent[i] = st.applied ? bpf_obj_get(path) : -1;
		if (st.applied && persistent[i] < 0)
			r = error_set(-errno, "cannot open '%s': %s", path, strerror(errno));
	}
	struct load_opts lo = { .service_slot = slot, .ifindex = ifindex, .persistent_fd = persistent, .verbose = o->verbose };
	if (r == 0 && st.applied) {
		/* A slot new to a service may hold what an interrupted apply, or a service that goes, left. */
		_cleanup_close_ int totals = counters_totals_open(&st);
		for (uint32_t i = 0; i < b->m.nservices; i++) {
			if (!_carried(&b->m, &st, i, slot[i])) {
				_clear_slots(persistent[LOADER_SOCKETS], slot[i]);
				counters_reset_group(totals, persistent[LOADER_MISSED], slot[i] / STEER_SLOTS_PER_SERVICE);
			}
		}
	}
	uint32_t generation = 0;
	while (generation == 0 && getrandom(&generation, sizeof(generation), 0) != sizeof(generation))
		;
	lo.generation = generation;
	if (r == 0)
		r = loader_load(b, &lo, &prog);
	for (size_t i = 0; i < LOADER_NPERSISTENT; i++)
		if (persistent[i] >= 0)
			close(persistent[i]);
	if (r < 0)
		return r;

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int prog_fd = bpf_program__fd(loader_prog(&prog, STEER_NAME(STEER_PROG_LOOKUP)));
	struct applied_state rec = {
		.m = b->m, .slot = slot, .ifindex = ifindex, .prog_id = loader_prog_id(prog_fd),
		.applied_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, .generation = generation,
	};
	memcpy(rec.digest, digest, sizeof(digest));
	res->prog_id = rec.prog_id;
	if ((r = _stage(&st, b, &prog, &rec)) == 0)
		r = st.applied ? _swap(&st, prog_fd) : _attach(&st, &prog, prog_fd, &res->link_id);
	if (r < 0) {
		/* Not committed: the applied policy (or none) stays, and so does its state. */
		if (st.applied) {
			state_gen_remove(&st, rec.prog_id);
		} else {
			state_remove_all(&st);
			state_remove_dir(&st);
		}
		return r;
	}

	/* Committed. The rest only tidies; the next command redoes it if this one is interrupted. */
	if (st.applied) {
		res->link_id = st.link_id;
		counters_fold(&st, &st.cur, &rec);
		state_gen_remove(&st, st.cur.prog_id);
		struct bpf_map *socks = loader_map(&prog, loader_persistent[LOADER_SOCKETS].map);
		for (uint32_t k = 0; k < st.cur.m.nservices; k++) {
			if (socks && !_slot_taken(&rec, st.cur.slot[k])) { /* a service that went, its slot not reused */
				_clear_slots(bpf_map__fd(socks), st.cur.slot[k]);
				res->removed_services++;
			}
		}
	}
	error_clear();
	return 0;
}

int rt_detach(const struct rt_target *t, bool *was_applied)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	int r;

	*was_applied = false;
	if ((r = state_open(&st, t, STATE_READ)) < 0)
		return r;
	if (!st.applied) {
		if (st.lock_fd >= 0)
			state_remove_dir(&st); /* emptied by a recovery just now, or by an interrupted detach */
		return 0;
	}
	*was_applied = true;
	if ((r = state_remove_all(&st)) < 0)
		return r;
	state_remove_dir(&st);
	return 0;
}
