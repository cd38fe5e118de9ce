/* Counters that outlive a re-apply: the fold of a superseded generation, and the read of all of them. */
#include "counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "loader.h"
#include "strmap.h"

/* Generation ID's map NAME, or -1 (errno set) when it is not there. */
static int _gen_map(const struct rt_state *st, uint32_t id, const char *name)
{
	char path[PATH_MAX];

	state_gen_path(st, id, name, path);
	return bpf_obj_get(path);
}

int counters_totals_open(const struct rt_state *st)
{
	return state_map_open(st, "totals", sizeof(uint64_t), TOTALS_ENTRIES);
}

void counters_reset_group(int totals_fd, int missed_fd, uint32_t group)
{
	int ncpus = libbpf_num_possible_cpus();
	_cleanup_free_ uint64_t *zeros = ncpus > 0 ? calloc((size_t)ncpus, sizeof(uint64_t)) : NULL;
	uint64_t zero = 0;

	if (totals_fd >= 0)
		bpf_map_update_elem(totals_fd, &group, &zero, BPF_ANY);
	for (uint32_t i = 0; zeros && missed_fd >= 0 && i < STEER_MISSED_PER_SERVICE; i++) {
		uint32_t key = group * STEER_MISSED_PER_SERVICE + i;
		bpf_map_update_elem(missed_fd, &key, zeros, BPF_ANY);
	}
}

/* Writes VALUES[0..N-1] to plain array FD in one batch. */
static int _write(int fd, uint32_t n, const uint64_t *values)
{
	_cleanup_free_ uint32_t *keys = calloc(n + 1, sizeof(uint32_t));
	uint32_t count = n;

	if (!keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		keys[i] = i;
	return bpf_map_update_batch(fd, keys, values, &count, NULL) < 0 ? -errno : 0;
}

/* A rule's place and action, comparable across two policies: file by name, service by name. */
struct rule_key {
	const char *file, *target;
	uint32_t line, col, kind;
	uint32_t index;
};

static void _key(const struct applied_state *a, const struct steer_rule_record *r, uint32_t i, struct rule_key *k)
{
	uint32_t kind = r->action >> STEER_ACT_KIND_SHIFT, svc = r->action & STEER_ACT_SERVICE_MASK;

	k->file = r->file < a->m.nfiles ? a->m.files[r->file] : "";
	k->line = r->line;
	k->col = r->col;
	k->kind = r->action & ~STEER_ACT_SERVICE_MASK;
	k->target = (kind == STEER_ACT_SERVICE || kind == STEER_ACT_FORWARD) && svc < a->m.nservices ? a->m.services[svc].name : "";
	k->index = i;
}

static int _cmp_key(const void *a, const void *b)
{
	const struct rule_key *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->target, y->target);
}

/* Reads generation A's rule records into a sorted key array. */
static struct rule_key *_rule_keys(const struct rt_state *st, const struct applied_state *a)
{
	uint32_t n = a->m.nrules;
	_cleanup_close_ int fd = _gen_map(st, a->prog_id, "rules");
	_cleanup_free_ struct steer_rule_record *recs = calloc(n + 1, sizeof(*recs));
	struct rule_key *keys = calloc(n + 1, sizeof(*keys));

	if (fd < 0 || !recs || !keys || loader_read_rules(fd, n, recs) < 0) {
		free(keys);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		_key(a, &recs[i], i, &keys[i]);
	return keys;
}

/* Adds each of OLD's rule counts to the rule of CUR written at the same place with the same action. */
static int _carry(const struct rt_state *st, const struct applied_state *old, const struct applied_state *cur,
		  const uint64_t *counts)
{
	_cleanup_close_ int fd = _gen_map(st, cur->prog_id, "carried");
	_cleanup_free_ struct rule_key *ok = NULL, *nk = NULL;
	_cleanup_free_ uint64_t *carried = calloc(cur->m.nrules + 1, sizeof(uint64_t));
	uint32_t n = cur->m.nrules;

	if (fd < 0 || !carried)
		return fd < 0 ? -errno : -ENOMEM;
	if (loader_read_u64(fd, n + 1, carried) < 0)
		return -EIO;
	carried[n] += counts[old->m.nrules]; /* no rule matched: the policy's, whatever its rules */
	if (!(ok = _rule_keys(st, old)) || !(nk = _rule_keys(st, cur)))
		return -EIO;
	qsort(nk, n, sizeof(*nk), _cmp_key);
	for (uint32_t i = 0; i < old->m.nrules; i++) {
		struct rule_key *hit = counts[i] ? bsearch(&ok[i], nk, n, sizeof(*nk), _cmp_key) : NULL;
		if (hit)
			carried[hit->index] += counts[i];
	}
	return _write(fd, n + 1, carried);
}

int counters_fold(struct rt_state *st, const struct applied_state *old, const struct applied_state *cur)
{
	char path[PATH_MAX];
	uint32_t n = old->m.nrules;
	_cleanup_close_ int hits = _gen_map(st, old->prog_id, "hits"), carried = -1, totals = -1;
	_cleanup_free_ uint64_t *counts = calloc(n + 1, sizeof(uint64_t)), *prior = calloc(n + 1, sizeof(uint64_t));
	_cleanup_free_ uint64_t *sum = calloc(TOTALS_ENTRIES, sizeof(uint64_t));
	_cleanup_free_ struct steer_rule_record *recs = calloc(n + 1, sizeof(*recs));
	_cleanup_close_ int rules = _gen_map(st, old->prog_id, "rules");
	struct strmap names = { 0 };
	int r;

	if (hits < 0)
		return 0; /* folded already (or never counted) */
	if (!counts || !prior || !sum || !recs)
		return error_set(-ENOMEM, "out of memory");
	if (rules < 0 || loader_read_counters(hits, n + 1, counts) < 0 ||
	    loader_read_rules(rules, n, recs) < 0)
		return error_set(-EIO, "cannot read the counters of program %u", old->prog_id);
	if ((carried = _gen_map(st, old->prog_id, "carried")) >= 0)
		loader_read_u64(carried, n + 1, prior);
	if ((totals = counters_totals_open(st)) < 0)
		return totals;
	/* From here a second fold must add nothing: an interruption loses these counts rather than doubling them. */
	state_gen_path(st, old->prog_id, "hits", path);
	if (unlink(path) < 0)
		return error_set(-errno, "cannot remove '%s': %s", path, strerror(errno));

	if (loader_read_u64(totals, TOTALS_ENTRIES, sum) < 0)
		return error_set(-EIO, "cannot read the counters' totals");
	for (uint32_t k = 0; k < cur->m.nservices; k++)
		strmap_put(&names, cur->m.services[k].name, &cur->slot[k]);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t kind = recs[i].action >> STEER_ACT_KIND_SHIFT, svc = recs[i].action & STEER_ACT_SERVICE_MASK;
		if (kind == STEER_ACT_DROP) {
			sum[TOTALS_DROP] += counts[i];
		} else if (kind == STEER_ACT_PASS) {
			sum[TOTALS_PASS] += counts[i];
		} else if (svc < old->m.nservices) {
			const uint32_t *slot = strmap_get(&names, old->m.services[svc].name);
			if (slot) /* a service that went takes its counts with it */
				sum[*slot / STEER_SLOTS_PER_SERVICE] += counts[i];
		}
		counts[i] += prior[i];
	}
	sum[TOTALS_MISS] += counts[n];
	counts[n] += prior[n];
	strmap_free(&names);
	if ((r = _write(totals, TOTALS_ENTRIES, sum)) < 0)
		return error_set(r, "cannot write the counters' totals: %s", strerror(-r));
	if ((r = _carry(st, old, cur, counts)) < 0)
		return error_set(r, "cannot carry the rule counters to program %u: %s", cur->prog_id, strerror(-r));
	return 0;
}

int counters_read(const struct rt_state *st, const struct applied_state *cur, struct counters *out)
{
	uint32_t n = cur->m.nrules;
	_cleanup_close_ int hits = _gen_map(st, cur->prog_id, "hits"), carried = _gen_map(st, cur->prog_id, "carried");
	_cleanup_close_ int rules = _gen_map(st, cur->prog_id, "rules"), totals = -1, missed = -1;
	_cleanup_free_ uint64_t *own = calloc(n + 1, sizeof(uint64_t)), *sum = calloc(TOTALS_ENTRIES, sizeof(uint64_t));
	_cleanup_free_ uint64_t *miss = calloc(STEER_MISSED_ENTRIES, sizeof(uint64_t));
	_cleanup_free_ struct steer_rule_record *recs = calloc(n + 1, sizeof(*recs));
	char path[PATH_MAX];

	memset(out, 0, sizeof(*out));
	out->nrules = n;
	out->rules = calloc(n + 1, sizeof(uint64_t));
	out->services = calloc(cur->m.nservices + 1, sizeof(*out->services));
	if (!own || !sum || !miss || !recs || !out->rules || !out->services) {
		counters_free(out);
		return error_set(-ENOMEM, "out of memory");
	}
	state_path(st, "totals", path);
	totals = bpf_obj_get(path); /* none before the first re-apply of this steer */
	state_path(st, loader_persistent[LOADER_MISSED].pin, path);
	missed = bpf_obj_get(path);
	if (hits < 0 || rules < 0 || missed < 0 || loader_read_counters(hits, n + 1, own) < 0 ||
	    loader_read_rules(rules, n, recs) < 0 ||
	    loader_read_counters(missed, STEER_MISSED_ENTRIES, miss) < 0 ||
	    (carried >= 0 && loader_read_u64(carried, n + 1, out->rules) < 0) ||
	    (totals >= 0 && loader_read_u64(totals, TOTALS_ENTRIES, sum) < 0)) {
		counters_free(out);
		return error_set(-EIO, "cannot read the counters in '%s'", st->dir);
	}
	for (uint32_t k = 0; k < cur->m.nservices; k++) {
		uint32_t group = cur->slot[k] / STEER_SLOTS_PER_SERVICE;
		out->services[k].decided = sum[group];
		memcpy(out->services[k].missed, &miss[group * STEER_MISSED_PER_SERVICE], sizeof(out->services[k].missed));
	}
	out->drop = sum[TOTALS_DROP];
	out->pass = sum[TOTALS_PASS];
	out->miss = sum[TOTALS_MISS] + own[n];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t kind = recs[i].action >> STEER_ACT_KIND_SHIFT, svc = recs[i].action & STEER_ACT_SERVICE_MASK;
		if (kind == STEER_ACT_DROP)
			out->drop += own[i];
		else if (kind == STEER_ACT_PASS)
			out->pass += own[i];
		else if (svc < cur->m.nservices)
			out->services[svc].decided += own[i];
	}
	for (uint32_t i = 0; i <= n; i++)
		out->rules[i] += own[i];
	return 0;
}

void counters_free(struct counters *c)
{
	free(c->rules);
	free(c->services);
	memset(c, 0, sizeof(*c));
}
