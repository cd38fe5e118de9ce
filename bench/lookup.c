/*
 * lookup: nanoseconds per sk_lookup run, with BPF_PROG_TEST_RUN, for steer's
 * program and, in the same process on the same contexts, the floors (an empty
 * program; a minimal one: one sockmap lookup and bpf_sk_assign; lpm, the
 * ideal longest-prefix match on the destination, bench/lpm.bpf.c) and a
 * tubular-style baseline loaded with the policy's rules it can express.
 *
 *   lookup POLICY FLOOR.o TUBULAR.o LPM.o [--contexts N] [--runs K] [--strategy S]
 *          [--variant NAME=OBJ.o]... [--monitor] [--per-round]
 *
 * Contexts: backend_sample_tuple()'s, three quarters inside a rule's
 * destination prefix on a port it takes, the rest random; IPv4 and IPv6 as
 * the policy has them; TCP and UDP as the rules say. Every figure is given
 * per family (ip, ip6: that family's contexts) and for both (all: each
 * family's figure weighted by its share of the contexts).
 *
 * Two figures per program, K rounds each (median, min, max printed):
 *   hot     each of the first 64 contexts of each family run `repeat` 20000
 *           times: the kernel's average per run (the test run's duration,
 *           its loop included); data and code stay in cache;
 *   cycled  every context once, in turn: the lookup data of one context is
 *           cold for the next. The figure is the program's own run time:
 *           the kernel's BPF run-time statistics are on for the cycled
 *           rounds only (BPF_ENABLE_STATS; their clock reads would land in
 *           the hot figures, so hot rounds they counted, turned on by
 *           someone else, fail the run), and each program's run_time_ns and
 *           run_cnt (bpf_prog_info) are read before and after each block:
 *           delta ns / delta runs, the runs checked to be exactly the
 *           block's.
 * Why not the test run's duration for cycled, as before: with repeat 1 it
 * is the kernel's timer around one run, with the run loop's set-up. Measured
 * here (Intel Xeon VM, 2026-12-02), the empty program takes 67-76 ns so,
 * against 44-51 ns by the statistics. The statistics are not free either:
 * they read sched_clock() before and after the program and update two
 * counters, which adds about 60 ns a run to a hot loop in this VM, and the
 * part of the clock reads between the two samples lands inside the window:
 * that is the empty program's 44-51 ns, warm or cold. So cycled
 * PROGRAM - empty is what the program itself takes.
 *
 * The floors reported before (minimal 53-68 ns hot, 144-184 ns cycled, in
 * docs/bench/lookup.tsv of 366abb6) were about twice today's (32-41 ns hot
 * here) not because of the method, sequential with the timer around each
 * run, but because of the machine: they were taken on an AMD EPYC host (the
 * report's Machine line then), this VM now runs on an Intel Xeon. Run in
 * turn on this machine (anycast 1000 and 100000 rules, three runs each), the
 * lookup of 366abb6 (sequential) gave minimal 31.8-41.5 ns hot and 64.7-98.1
 * cycled, empty 22.5-28.2 and 60.4-81.8; the interleaved one before this
 * change 32.2-39.0 and 69.2-92.8, empty 22.1-25.9 and 54.9-68.8: the same
 * within the VM's drift. The empty program moved less than the minimal one:
 * minimal - empty was 20.7-33.7 ns hot on the AMD host, 8.6-15.9 here, so
 * mostly its helper calls (sockmap lookup, bpf_sk_assign, release) cost more
 * there; why, this machine cannot tell (the return-thunk mitigations of
 * AMD parts tax every call and return, a guess).
 *
 * The programs are measured interleaved, finely: the units of work are the
 * contexts (hot, about a millisecond each) or blocks of 256 contexts of one
 * family (cycled; the programs' own runs stay consecutive within a block),
 * IPv4 and IPv6 alternating, and every program runs each unit in turn,
 * each unit starting with the next program. So the machine's drift falls on
 * all of them and both families alike rather than on whichever happened to
 * run in a slow stretch. A round is one pass over the units; each figure is
 * the median over the rounds.
 *
 * lpm: IPv4 in DPDK rte_lpm's DIR-24-8 (tbl24 and tbl8 groups), IPv6 in the
 * kernel's LPM trie, over the policy's destination prefixes; each prefix
 * leads to the first rule with exactly that prefix and its action word
 * (pass, drop, or the floor's socket for the protocol and family). That is
 * the ideal longest-prefix match, not the policy's first match: ports,
 * protocols, sources and rule order are left out. Every context is run
 * through it once against a reference (a binary search per prefix length)
 * before measuring.
 *
 * --variant NAME=OBJ.o (repeatable) adds a program NAME: the same built
 * policy (manifest, table data, load-time constants, the same sockets) with
 * its BPF object replaced by OBJ.o, e.g. the policy's `steer compile --emit c`
 * built with -DSTEER_NO_MONITOR. Before measuring, every context is run
 * through steer and each variant, and a variant that decides any differently
 * (verdict or socket) is refused: it is not the same policy.
 *
 * --monitor adds "steer+monitor": another instance of steer's program (the
 * same object, its own maps) with a monitor attached as `steer monitor`
 * attaches one (its slot's active bit, a lease far in the future, an empty
 * filter, a ring buffer in steer_events). The ring buffer holds the events of
 * one call (20000, hot) or one block (256, cycled) and is drained with
 * ring_buffer__consume after each, outside what is timed. Every event is
 * counted and checked against the context it came from; lost or wrong events
 * fail the run.
 *
 * Output, tab-separated: what steer's program reads of its decision data per
 * lookup (backend_touched(): distinct 4 KiB pages and 64-byte lines, median
 * and worst over the contexts of the family),
 *   #touch family pages_median pages_worst lines_median lines_worst
 * then one line per program, figure and family (ip, ip6, all):
 *   program mode family median min max
 * then, with variants or --monitor, one line per pair measured in the same
 * rounds, the ratio of each round's figures:
 *   #ratio A/B mode family median ci_lo ci_hi min max ratio-of-medians
 * (steer/VARIANT for each variant, then VARIANT/LATER-VARIANT for each pair of
 * variants in the order given, then steer+monitor/steer; ci: the 95 %
 * confidence interval of the median from order statistics, 0 when there are
 * too few rounds). --per-round also prints every figure as
 *   #round round mode family program ns
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "diag.h"
#include "eval.h"
#include "frontend.h"
#include "build.h"
#include "error.h"
#include "loader.h"
#include "testrun.h"

#include "lpm.h"

static void _ctx(const struct tuple *t, struct bpf_sk_lookup *c)
{
	memset(c, 0, sizeof(*c));
	c->family = t->family == FAM_V4 ? AF_INET : AF_INET6;
	c->protocol = t->proto == PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	if (t->family == FAM_V4) {
		addr_to_bytes(t->src, FAM_V4, &c->remote_ip4);
		addr_to_bytes(t->dst, FAM_V4, &c->local_ip4);
	} else {
		addr_to_bytes(t->src, FAM_V6, c->remote_ip6);
		addr_to_bytes(t->dst, FAM_V6, c->local_ip6);
	}
	c->remote_port = htons(t->sport);
	c->local_port = t->dport;
}

#define HOT_CONTEXTS 64 /* per family */
#define HOT_REPEAT 20000
#define CYCLED_BLOCK 256
#define MAX_PROGS 16

enum { MODE_HOT, MODE_CYCLED, MODE__COUNT };
static const char *const _mode_name[MODE__COUNT] = { "hot", "cycled" };
/* The figures: one per family (enum family), then one over every context. */
#define FIG_ALL FAM__COUNT
#define NFIGS (FAM__COUNT + 1)
static const char *const _fig_name[NFIGS] = { "ip", "ip6", "all" };

/* The contexts, per family. */
struct ctxs {
	struct bpf_sk_lookup *c[FAM__COUNT];
	unsigned n[FAM__COUNT];
};

/* A program measured: its figures per round, [mode][figure]. */
struct prog {
	const char *name;
	int fd;
	bool monitor; /* steer's program, with the harness's monitor attached while it is measured */
	bool variant; /* a --variant: compared with steer */
	double *v[MODE__COUNT][NFIGS]; /* per round */
};

/*
 * The harness's monitor on steer's program: slot 0 of its monitor map
 * (mmap'ed, as steer monitor maps it) and a ring buffer at index 0 of its
 * events map. Events are checked against the contexts they came from.
 */
static struct {
	struct steer_monitors *shared;
	uint32_t *active; /* steer_monitors_active, the program's .bss */
	size_t shared_len;
	int ring_fd;
	struct ring_buffer *rb;
	const struct bpf_sk_lookup *ctxs;
	uint64_t next, per; /* the next event's number in this measurement; runs per context */
	uint64_t runs, events, wrong;
} _mon = { .ring_fd = -1 };

static int _on_event(void *ctx, void *data, size_t len)
{
	const struct steer_event *e = data;
	const struct bpf_sk_lookup *c = &_mon.ctxs[_mon.next++ / _mon.per];

	(void)ctx;
	_mon.events++;
	if (len < sizeof(*e) || e->family != c->family || e->proto != c->protocol || e->dport != c->local_port ||
	    e->sport != ntohs(c->remote_port) ||
	    (c->family == AF_INET ? e->src[0] != c->remote_ip4 || e->dst[0] != c->local_ip4
				  : memcmp(e->src, c->remote_ip6, 16) || memcmp(e->dst, c->local_ip6, 16)))
		_mon.wrong++;
	return 0;
}

static void _drain(void)
{
	if (ring_buffer__consume(_mon.rb) < 0) {
		fprintf(stderr, "lookup: cannot drain the monitor's ring buffer\n");
		exit(1);
	}
}

/* Attaches the harness's monitor to PROG, an instance of steer's program: slot 0, a ring buffer of BYTES. */
static int _monitor_open(const struct rt_program *prog, uint32_t bytes)
{
	struct bpf_map *mm = loader_map(prog, STEER_NAME(STEER_MAP_MONITOR));
	struct bpf_map *em = loader_map(prog, STEER_NAME(STEER_MAP_EVENTS));
	struct bpf_map *am = loader_map(prog, loader_persistent[LOADER_ACTIVE].map);
	uint32_t key = 0;

	if (!mm || !em || !am) {
		fprintf(stderr, "lookup: steer's program has no %s or %s map\n", STEER_NAME(STEER_MAP_MONITOR),
			STEER_NAME(STEER_MAP_EVENTS));
		return -1;
	}
	_mon.shared_len = (sizeof(struct steer_monitors) + 4095) / 4096 * 4096;
	_mon.shared = mmap(NULL, _mon.shared_len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(mm), 0);
	_mon.active = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(am), 0);
	if (_mon.shared == MAP_FAILED || _mon.active == MAP_FAILED) {
		fprintf(stderr, "lookup: cannot map the monitor slots: %s\n", strerror(errno));
		return -1;
	}
	_mon.ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "lookup_mon", 0, 0, bytes, NULL);
	if (_mon.ring_fd < 0 || bpf_map_update_elem(bpf_map__fd(em), &key, &_mon.ring_fd, BPF_ANY) < 0 ||
	    !(_mon.rb = ring_buffer__new(_mon.ring_fd, _on_event, NULL, NULL))) {
		fprintf(stderr, "lookup: cannot install a %u-byte ring buffer: %s\n", bytes, strerror(errno));
		return -1;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now); /* bpf_ktime_get_ns()'s clock */
	struct steer_monitor *m = &_mon.shared->m[0];
	memset(m, 0, sizeof(*m)); /* the filter all zeros: every decision */
	m->pid = (uint32_t)getpid();
	/* A day from now: the lease never runs out during the benchmark. */
	m->lease_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec + 86400ull * 1000000000ull;
	return 0;
}

static void _monitor_active(bool on)
{
	__atomic_store_n(_mon.active, on ? 1u : 0u, __ATOMIC_SEQ_CST);
}

/* The program's run-time statistics so far (BPF_ENABLE_STATS). */
static void _prog_stats(int fd, uint64_t *ns, uint64_t *cnt)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		fprintf(stderr, "lookup: BPF_OBJ_GET_INFO_BY_FD: %s\n", strerror(errno));
		exit(1);
	}
	*ns = info.run_time_ns;
	*cnt = info.run_cnt;
}

/* What one program's runs on a block cost: ns over runs is its figure. */
struct cost {
	double ns, runs;
};

/*
 * P on contexts CTXS[0..COUNT) in turn (one BPF_PROG_TEST_RUN call each).
 * Hot: REPEAT runs each, the sum of the kernel's per-run averages over COUNT
 * contexts. Cycled: one run each, the program's own time from its run-time
 * statistics, read before and after. With the harness's monitor, attached for
 * these calls only.
 */
static struct cost _block(const struct prog *p, const struct bpf_sk_lookup *ctxs, unsigned count, bool hot)
{
	uint32_t repeat = hot ? HOT_REPEAT : 1;
	uint64_t ns0 = 0, cnt0 = 0, ns1, cnt1;
	struct cost r = { 0, count };
	struct bpf_sk_lookup c;

	if (p->monitor) {
		_mon.ctxs = ctxs;
		_mon.next = 0;
		_mon.per = repeat;
		_monitor_active(true);
	}
	if (!hot)
		_prog_stats(p->fd, &ns0, &cnt0);
	for (unsigned i = 0; i < count; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c), .repeat = repeat);
		c = ctxs[i];
		if (bpf_prog_test_run_opts(p->fd, &o) < 0) {
			fprintf(stderr, "lookup: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			exit(1);
		}
		r.ns += o.duration;
		if (p->monitor && hot)
			_drain(); /* one call's events, outside the kernel's timer */
	}
	if (!hot) {
		_prog_stats(p->fd, &ns1, &cnt1);
		/* Exactly these runs counted, or the figure is not this block's. */
		if (cnt1 - cnt0 != count) {
			fprintf(stderr, "lookup: %s: the run-time statistics counted %llu runs, not %u\n", p->name,
				(unsigned long long)(cnt1 - cnt0), count);
			exit(1);
		}
		r.ns = (double)(ns1 - ns0);
	}
	if (p->monitor) {
		_monitor_active(false);
		_drain();
		_mon.runs += (uint64_t)count * repeat;
	}
	return r;
}

/*
 * One round of every program: ns per run, into OUT[program][figure]. The
 * units of work are the families' contexts (hot: the first 64 of each, 20000
 * runs each) or blocks of CYCLED_BLOCK contexts (cycled: all of them, once),
 * IPv4 and IPv6 alternating; every program in turn runs each unit, and each
 * unit starts with the next program: drift on any time scale longer than a
 * few milliseconds falls on all alike, and on both families.
 */
static void _round(const struct prog *ps, unsigned np, const struct ctxs *cs, bool hot, unsigned round,
		   double out[][NFIGS])
{
	unsigned block = hot ? 1 : CYCLED_BLOCK, limit[FAM__COUNT], most = 0, k = 0;
	struct cost total[MAX_PROGS][FAM__COUNT] = { 0 };

	for (int fam = 0; fam < FAM__COUNT; fam++) {
		limit[fam] = hot && cs->n[fam] > HOT_CONTEXTS ? HOT_CONTEXTS : cs->n[fam];
		if (limit[fam] > most)
			most = limit[fam];
	}
	for (unsigned first = 0; first < most; first += block)
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			if (first >= limit[fam])
				continue;
			unsigned count = limit[fam] - first < block ? limit[fam] - first : block;
			for (unsigned j = 0; j < np; j++) {
				unsigned x = (round + k + j) % np;
				struct cost c = _block(&ps[x], cs->c[fam] + first, count, hot);
				total[x][fam].ns += c.ns;
				total[x][fam].runs += c.runs;
			}
			k++;
		}
	/* All: each family weighted by its share of the contexts, hot as cycled. */
	for (unsigned x = 0; x < np; x++) {
		double all = 0;
		for (int fam = 0; fam < FAM__COUNT; fam++) {
			out[x][fam] = total[x][fam].runs ? total[x][fam].ns / total[x][fam].runs : 0;
			all += out[x][fam] * cs->n[fam];
		}
		out[x][FIG_ALL] = all / (cs->n[FAM_V4] + cs->n[FAM_V6]);
	}
}

static int _cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median (the upper one for an even K), min, max of V[0..K-1], sorted in place. */
static void _stats(double *v, unsigned k, double *med, double *lo, double *hi)
{
	qsort(v, k, sizeof(double), _cmp_double);
	*med = v[k / 2];
	*lo = v[0];
	*hi = v[k - 1];
}

/*
 * The median of V[0..N-1] (sorted in place; the upper one for an even N) and
 * its 95 % interval: order statistics N/2 -+ 0.98 sqrt(N), 0 when N is too small.
 */
static void _median_ci(double *v, size_t n, double *med, double *ci_lo, double *ci_hi)
{
	qsort(v, n, sizeof(double), _cmp_double);
	*med = v[n / 2];
	*ci_lo = *ci_hi = 0;
	long j = (long)floor((double)n / 2.0 - 0.98 * sqrt((double)n)); /* 1-based, as report.sh computes it */
	long l = (long)ceil((double)n / 2.0 + 1 + 0.98 * sqrt((double)n));
	if (j >= 1 && l <= (long)n) {
		*ci_lo = v[j - 1];
		*ci_hi = v[l - 1];
	}
}

/* A's figures over B's, round by round: median, its interval, min, max; and the ratio of the medians. */
static void _ratio(const struct prog *a, const struct prog *b, int mode, int fig, unsigned k)
{
	double *q = calloc(k, sizeof(double)), *va = calloc(k, sizeof(double)), *vb = calloc(k, sizeof(double));
	double med, lo, hi, ma, mb, x, y, ci_lo, ci_hi;

	if (!q || !va || !vb)
		exit(1);
	for (unsigned i = 0; i < k; i++) {
		q[i] = a->v[mode][fig][i] / b->v[mode][fig][i];
		va[i] = a->v[mode][fig][i];
		vb[i] = b->v[mode][fig][i];
	}
	_median_ci(q, k, &med, &ci_lo, &ci_hi);
	lo = q[0];
	hi = q[k - 1];
	_stats(va, k, &ma, &x, &y);
	_stats(vb, k, &mb, &x, &y);
	printf("#ratio\t%s/%s\t%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", a->name, b->name, _mode_name[mode],
	       _fig_name[fig], med, ci_lo, ci_hi, lo, hi, ma / mb);
	free(q);
	free(va);
	free(vb);
}

/* The runs of every program the run-time statistics have counted so far. */
static uint64_t _counted(const struct prog *ps, unsigned np)
{
	uint64_t sum = 0, ns, cnt;

	for (unsigned j = 0; j < np; j++) {
		_prog_stats(ps[j].fd, &ns, &cnt);
		sum += cnt;
	}
	return sum;
}

/*
 * Every program, K interleaved rounds per figure (hot, then cycled), after a
 * warm-up round. The run-time statistics are on for the cycled rounds only:
 * their two clock reads per run would be in the hot figures, so hot rounds
 * the statistics counted (someone else turned them on) fail the run.
 */
static void _report(struct prog *ps, unsigned np, const struct ctxs *cs, unsigned k, bool per_round)
{
	for (int mode = 0; mode < MODE__COUNT; mode++) {
		bool hot = mode == MODE_HOT;
		double fig[MAX_PROGS][NFIGS];
		uint64_t counted = _counted(ps, np);
		int stats = -1;
		for (unsigned j = 0; j < np; j++)
			for (int f = 0; f < NFIGS; f++)
				if (!(ps[j].v[mode][f] = calloc(k, sizeof(double))))
					exit(1);
		if (!hot && (stats = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
			fprintf(stderr, "lookup: cannot enable the BPF run-time statistics: %s\n", strerror(errno));
			exit(1);
		}
		_round(ps, np, cs, hot, 0, fig); /* warm up */
		for (unsigned i = 0; i < k; i++) {
			_round(ps, np, cs, hot, i, fig);
			for (unsigned j = 0; j < np; j++)
				for (int f = 0; f < NFIGS; f++)
					ps[j].v[mode][f][i] = fig[j][f];
		}
		if (stats >= 0)
			close(stats);
		if (hot && _counted(ps, np) != counted) {
			fprintf(stderr, "lookup: the kernel's BPF run-time statistics were on during the hot rounds (another "
					"process, or sysctl kernel.bpf_stats_enabled): their clock reads are in the figures\n");
			exit(1);
		}
		for (int f = 0; f < NFIGS; f++) {
			if (f != FIG_ALL && !cs->n[f])
				continue;
			if (per_round)
				for (unsigned i = 0; i < k; i++)
					for (unsigned j = 0; j < np; j++)
						printf("#round\t%u\t%s\t%s\t%s\t%.2f\n", i + 1, _mode_name[mode], _fig_name[f],
						       ps[j].name, ps[j].v[mode][f][i]);
			const struct prog *steer = NULL;
			for (unsigned j = 0; j < np; j++)
				if (strcmp(ps[j].name, "steer") == 0)
					steer = &ps[j];
			for (unsigned j = 0; j < np; j++) {
				double *v = calloc(k, sizeof(double)), med, lo, hi;
				if (!v)
					exit(1);
				memcpy(v, ps[j].v[mode][f], k * sizeof(double));
				_stats(v, k, &med, &lo, &hi);
				printf("%s\t%s\t%s\t%.1f\t%.1f\t%.1f\n", ps[j].name, _mode_name[mode], _fig_name[f], med, lo, hi);
				free(v);
			}
			/* The pairs: steer against each variant, each variant against the later ones, steer+monitor against steer. */
			for (unsigned j = 0; j < np && steer; j++)
				if (ps[j].variant)
					_ratio(steer, &ps[j], mode, f, k);
			for (unsigned i = 0; i < np; i++)
				for (unsigned j = i + 1; j < np; j++)
					if (ps[i].variant && ps[j].variant)
						_ratio(&ps[i], &ps[j], mode, f, k);
			for (unsigned j = 0; j < np && steer; j++)
				if (ps[j].monitor)
					_ratio(&ps[j], steer, mode, f, k);
		}
		fflush(stdout);
	}
}

/*
 * Runs every context through steer's program and VARIANT once: 0 when they
 * decide alike everywhere (return value and the socket selected, by cookie:
 * they share the sockets map).
 */
static int _same_decisions(int steer, int variant, const struct bpf_sk_lookup *ctxs, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		struct bpf_sk_lookup a = ctxs[i], b = ctxs[i];
		LIBBPF_OPTS(bpf_test_run_opts, oa, .ctx_in = &a, .ctx_size_in = sizeof(a), .ctx_out = &a,
			    .ctx_size_out = sizeof(a));
		LIBBPF_OPTS(bpf_test_run_opts, ob, .ctx_in = &b, .ctx_size_in = sizeof(b), .ctx_out = &b,
			    .ctx_size_out = sizeof(b));
		if (bpf_prog_test_run_opts(steer, &oa) < 0 || bpf_prog_test_run_opts(variant, &ob) < 0) {
			fprintf(stderr, "lookup: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return -1;
		}
		if (oa.retval != ob.retval || a.cookie != b.cookie) {
			fprintf(stderr,
				"lookup: variant %s decides context %u differently from steer (return %u, socket %llu; steer: "
				"%u, %llu): built from another policy or strategy?\n",
				name, i, ob.retval, (unsigned long long)b.cookie, oa.retval, (unsigned long long)a.cookie);
			return -1;
		}
	}
	return 0;
}

/*
 * Loads another instance of B with OBJ as its object (NULL: B's own): the
 * same manifest, table data and load-time constants as testrun gives steer's
 * (service s at slot 4s, no named interface at ifindex 0), steer's sockets
 * map; maps of its own otherwise, its data and monitor map included.
 */
static int _load_copy(const struct testrun *tr, const struct built_policy *b, void *obj, size_t len,
		      struct rt_program *out)
{
	struct built_policy v = *b; /* shallow: only obj and objlen differ, and v is never freed */
	uint32_t *slots = calloc(b->m.nservices + 1, sizeof(uint32_t)), *ifindex = calloc(b->m.nifaces + 1, sizeof(uint32_t));
	int persistent[LOADER_NPERSISTENT];

	for (size_t i = 0; i < LOADER_NPERSISTENT; i++)
		persistent[i] = -1; /* fresh maps, but the harness's sockets */
	persistent[LOADER_SOCKETS] = tr->sockets_fd;

	if (!slots || !ifindex)
		return -1;
	if (obj) {
		v.obj = obj;
		v.objlen = len;
	}
	for (uint32_t s = 0; s < b->m.nservices; s++)
		slots[s] = STEER_SLOTS_PER_SERVICE * s;
	for (uint32_t i = 0; i < b->m.nifaces; i++)
		ifindex[i] = 0x7fff0000u + i;
	struct load_opts lo = { .service_slot = slots, .ifindex = ifindex, .persistent_fd = persistent };
	int r = loader_load(&v, &lo, out);
	free(slots);
	free(ifindex);
	return r;
}

/* OBJ.o at PATH in place of B's object. */
static int _load_variant(const struct testrun *tr, const struct built_policy *b, const char *path,
			 struct rt_program *out)
{
	FILE *f = fopen(path, "rb");
	long len;
	void *obj;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "lookup: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!(obj = malloc((size_t)len)) || fread(obj, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "lookup: cannot read %s\n", path);
		return -1;
	}
	fclose(f);
	int r = _load_copy(tr, b, obj, (size_t)len, out);
	free(obj);
	if (r < 0) {
		fprintf(stderr, "lookup: cannot load %s: %s\n", path, error_message());
		return -1;
	}
	return 0;
}

/* A listening TCP or bound UDP socket (any address: lo is down in the private netns), for the floors' and the baseline's sockmaps. */
static int _socket(int family, int type)
{
	int fd = socket(family, type, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1;

	if (fd < 0)
		return -1;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((family == AF_INET ? bind(fd, (struct sockaddr *)&a4, sizeof(a4))
			       : bind(fd, (struct sockaddr *)&a6, sizeof(a6))) < 0)
		return -1;
	if (type == SOCK_STREAM && listen(fd, 16) < 0)
		return -1;
	return fd;
}

/* Four sockets (tcp/udp x IPv4/IPv6) into slots base..base+3 of MAP. */
static int _fill_sockets(int map, uint32_t base)
{
	static const int kinds[4][2] = { { AF_INET, SOCK_STREAM }, { AF_INET6, SOCK_STREAM }, { AF_INET, SOCK_DGRAM },
					 { AF_INET6, SOCK_DGRAM } };

	for (uint32_t k = 0; k < 4; k++) {
		int fd = _socket(kinds[k][0], kinds[k][1]);
		uint64_t v = (uint64_t)fd;
		uint32_t key = base + k;
		if (fd < 0 || bpf_map_update_elem(map, &key, &v, BPF_ANY) < 0)
			return -1;
	}
	return 0;
}

struct tub_key {
	uint32_t prefixlen;
	uint8_t protocol;
	uint16_t port;
	uint8_t addr[16];
} __attribute__((packed));

/*
 * The rules tubular can express: service actions on destination prefixes and
 * single ports (sets up to 128 ports expanded) or any port, without a source.
 * First match on equal keys; across nested prefixes tubular's answer is the
 * longest prefix, which is what a tubular user would have configured.
 */
static unsigned long _load_tubular(const struct ir_policy *p, int map)
{
	unsigned long n = 0;

	for (uint32_t i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		uint32_t nports = 0;
		if (r->act.kind != ACT_SERVICE || r->m.src[0].n || r->m.src[1].n || r->m.sport.n || r->m.iif.n)
			continue;
		for (uint32_t k = 0; k < r->m.dport.n; k++)
			nports += (uint32_t)r->m.dport.v[k].hi - r->m.dport.v[k].lo + 1;
		if (nports > 128)
			continue;
		for (int pi = 0; pi < 2; pi++) {
			uint8_t proto = pi ? PROTO_UDP : PROTO_TCP;
			if (!(r->m.protos & proto))
				continue;
			for (int fam = 0; fam < FAM__COUNT; fam++) {
				if (!(r->m.families & FAM_BIT(fam)))
					continue;
				for (uint32_t a = 0; a < (r->m.dst[fam].n ? r->m.dst[fam].n : 1); a++) {
					struct prefix x = r->m.dst[fam].n ? r->m.dst[fam].v[a] : (struct prefix){ .family = (uint8_t)fam };
					struct tub_key key = { .protocol = pi ? IPPROTO_UDP : IPPROTO_TCP };
					if (fam == FAM_V4) {
						key.addr[10] = key.addr[11] = 0xff;
						addr_to_bytes(x.addr, FAM_V4, key.addr + 12);
						key.prefixlen = 8 + 16 + 96 + x.len;
					} else {
						addr_to_bytes(x.addr, FAM_V6, key.addr);
						key.prefixlen = 8 + 16 + x.len;
					}
					uint32_t dest = r->act.service * 4 + (pi ? 2 : 0);
					for (uint32_t k = 0; k < (r->m.dport.n ? r->m.dport.n : 1); k++) {
						uint32_t lo = r->m.dport.n ? r->m.dport.v[k].lo : 0;
						uint32_t hi = r->m.dport.n ? r->m.dport.v[k].hi : 0;
						for (uint32_t port = lo; port <= hi; port++) {
							key.port = htons((uint16_t)port);
							if (bpf_map_update_elem(map, &key, &dest, BPF_NOEXIST) == 0)
								n++;
						}
					}
				}
			}
		}
	}
	return n;
}

static int _u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* A destination prefix of the policy and the first rule that has it, exactly. */
struct lpm_pfx {
	u128 addr;
	uint32_t rule;
	uint8_t family, len;
};

static int _lpm_cmp(const void *a, const void *b)
{
	const struct lpm_pfx *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->rule > y->rule) - (x->rule < y->rule);
}

/* Every destination prefix of P once, with its first rule; by family, then length, then address. */
static struct lpm_pfx *_lpm_prefixes(const struct ir_policy *p, size_t *n)
{
	size_t total = 0, k = 0;

	for (uint32_t i = 0; i < p->nrules; i++)
		total += p->rules[i].m.dst[FAM_V4].n + p->rules[i].m.dst[FAM_V6].n;
	struct lpm_pfx *v = calloc(total ? total : 1, sizeof(*v));
	if (!v)
		exit(1);
	for (uint32_t i = 0; i < p->nrules; i++)
		for (int fam = 0; fam < FAM__COUNT; fam++)
			for (uint32_t j = 0; j < p->rules[i].m.dst[fam].n; j++) {
				const struct prefix *x = &p->rules[i].m.dst[fam].v[j];
				v[k++] = (struct lpm_pfx){ .addr = x->addr, .rule = i, .family = (uint8_t)fam, .len = x->len };
			}
	qsort(v, total, sizeof(*v), _lpm_cmp);
	k = 0;
	for (size_t i = 0; i < total; i++)
		if (!k || v[k - 1].family != v[i].family || v[k - 1].len != v[i].len || v[k - 1].addr != v[i].addr)
			v[k++] = v[i];
	*n = k;
	return v;
}

/* The rule of the longest of V[0..n) holding ADDR of FAMILY, or -1: the reference, by binary search per length. */
static int64_t _lpm_ref(const struct lpm_pfx *v, size_t n, int family, u128 addr)
{
	for (int len = (int)fam_width(family); len >= 0; len--) {
		u128 mask = len ? fam_max(family) & ~(((u128)1 << (fam_width(family) - len)) - 1) : 0;
		struct lpm_pfx key = { .addr = addr & mask, .family = (uint8_t)family, .len = (uint8_t)len };
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			struct lpm_pfx m = v[mid];
			m.rule = 0;
			if (_lpm_cmp(&m, &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && v[lo].family == family && v[lo].len == len && v[lo].addr == key.addr)
			return v[lo].rule;
	}
	return -1;
}

static uint32_t _lpm_action(const struct ir_rule *r)
{
	return r->act.kind == ACT_DROP ? LPM_DROP : r->act.kind == ACT_PASS ? LPM_PASS : LPM_SOCKET;
}

/* The bytes of an mmapable array map: the kernel rounds each value up to 8 bytes. */
static size_t _lpm_map_len(struct bpf_map *m)
{
	return (((size_t)bpf_map__value_size(m) + 7) / 8 * 8 * bpf_map__max_entries(m) + 4095) / 4096 * 4096;
}

/* An mmapable array map of OBJ, mapped. */
static uint32_t *_lpm_map(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	void *a = mmap(NULL, _lpm_map_len(m), PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);

	if (a == MAP_FAILED) {
		fprintf(stderr, "lookup: cannot map %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return a;
}

static void _lpm_unmap(struct bpf_object *obj, const char *name, uint32_t *a)
{
	munmap(a, _lpm_map_len(bpf_object__find_map_by_name(obj, name)));
}

/*
 * Opens LPM.o, sizes its maps for P's destination prefixes V[0..n), loads it
 * and fills them: tbl24 with the prefixes up to /24 from the shortest, so a
 * longer one overwrites what it covers; then each longer one in a tbl8 group
 * of its /24, which starts as a copy of the /24's entry; the IPv6 prefixes
 * into the trie; each rule's action word.
 */
static struct bpf_object *_lpm_load(const char *path, const struct ir_policy *p, const struct lpm_pfx *v, size_t n)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	uint32_t *keys = calloc(n ? n : 1, sizeof(uint32_t)), ngroups = 0, nkeys = 0, n6 = 0;

	if (!obj || !keys) {
		fprintf(stderr, "lookup: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].family == FAM_V4 && v[i].len > 24)
			keys[nkeys++] = (uint32_t)(v[i].addr >> 8);
		else if (v[i].family == FAM_V6)
			n6++;
	qsort(keys, nkeys, sizeof(uint32_t), _u32_cmp);
	for (uint32_t i = 0; i < nkeys; i++)
		ngroups += !i || keys[i] != keys[i - 1];
	free(keys);
	if (bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "lpm_tbl8"), ngroups ? ngroups : 1) < 0 ||
	    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "lpm_tbl6"), n6 ? n6 : 1) < 0 ||
	    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "lpm_actions"), p->nrules ? p->nrules : 1) < 0 ||
	    bpf_object__load(obj) < 0) {
		fprintf(stderr, "lookup: cannot load %s: %s\n", path, strerror(errno));
		exit(1);
	}
	uint32_t *tbl24 = _lpm_map(obj, "lpm_tbl24"), *tbl8 = _lpm_map(obj, "lpm_tbl8");
	uint32_t *act = _lpm_map(obj, "lpm_actions"), g = 0;
	int trie = bpf_map__fd(bpf_object__find_map_by_name(obj, "lpm_tbl6"));
	for (size_t i = 0; i < n; i++) {
		const struct lpm_pfx *x = &v[i];
		if (x->family == FAM_V6) {
			struct {
				uint32_t prefixlen;
				uint8_t addr[16];
			} key = { .prefixlen = x->len };
			addr_to_bytes(x->addr, FAM_V6, key.addr);
			if (bpf_map_update_elem(trie, &key, &x->rule, BPF_NOEXIST) < 0) {
				fprintf(stderr, "lookup: cannot fill lpm_tbl6: %s\n", strerror(errno));
				exit(1);
			}
			continue;
		}
		uint32_t a = (uint32_t)x->addr;
		if (x->len <= 24) {
			for (uint32_t e = a >> 8, end = e + (1u << (24 - x->len)); e < end; e++)
				tbl24[e] = LPM_VALID | x->rule;
			continue;
		}
		uint32_t *t = &tbl24[a >> 8];
		if (!(*t & LPM_GROUP)) {
			for (uint32_t e = 0; e < LPM_CHUNK; e++)
				tbl8[g * LPM_CHUNK + e] = *t;
			*t = LPM_GROUP | g++;
		}
		uint32_t *group = &tbl8[(*t & LPM_INDEX) * LPM_CHUNK];
		for (uint32_t e = a & 255, end = e + (1u << (32 - x->len)); e < end; e++)
			group[e] = LPM_VALID | x->rule;
	}
	for (uint32_t i = 0; i < p->nrules; i++)
		act[2 * i] = _lpm_action(&p->rules[i]); /* a u32 in 8 bytes */
	_lpm_unmap(obj, "lpm_tbl24", tbl24);
	_lpm_unmap(obj, "lpm_tbl8", tbl8);
	_lpm_unmap(obj, "lpm_actions", act);
	fprintf(stderr, "lookup: lpm: %zu IPv4 prefixes (%u tbl8 groups), %u IPv6 prefixes\n", n - n6, ngroups, n6);
	return obj;
}

/*
 * Runs every context through the lpm program once against the reference: the
 * longest prefix's rule, its action (a socket assigned for a service). 0 when
 * they agree everywhere.
 */
static int _lpm_check(int fd, const struct ir_policy *p, const struct lpm_pfx *v, size_t n, const struct tuple *tps,
		      const struct bpf_sk_lookup *ctxs, unsigned nctx)
{
	for (unsigned i = 0; i < nctx; i++) {
		struct bpf_sk_lookup c = ctxs[i];
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c), .ctx_out = &c,
			    .ctx_size_out = sizeof(c));
		int64_t rule = _lpm_ref(v, n, tps[i].family, tps[i].dst);
		uint32_t act = rule < 0 ? LPM_PASS : _lpm_action(&p->rules[rule]);
		if (bpf_prog_test_run_opts(fd, &o) < 0) {
			fprintf(stderr, "lookup: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return -1;
		}
		if (o.retval != (act == LPM_DROP ? SK_DROP : SK_PASS) || (c.cookie != 0) != (act == LPM_SOCKET)) {
			fprintf(stderr,
				"lookup: lpm decides context %u wrongly (return %u, socket %llu; the longest prefix's rule: %lld)\n", i,
				o.retval, (unsigned long long)c.cookie, (long long)rule);
			return -1;
		}
	}
	return 0;
}

static struct bpf_object *_open(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (!obj || bpf_object__load(obj) < 0) {
		fprintf(stderr, "lookup: cannot load %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return obj;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "contexts", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'k' },
		{ "strategy", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'v' },
		{ "monitor", no_argument, NULL, 'm' },
		{ "per-round", no_argument, NULL, 'r' },
		{ 0 },
	};
	unsigned n = 4096, k = 5, nvariants = 0;
	struct build_opts bo = { .strategy = STRATEGY_AUTO };
	struct testrun_opts to = { 0 };
	struct {
		char *name;
		const char *path;
		struct rt_program prog;
	} variants[MAX_PROGS - 6];
	bool monitor = false, per_round = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			k = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			if (strategy_parse(optarg, &bo.strategy) < 0)
				return 1;
			break;
		case 'v': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1] || nvariants == sizeof(variants) / sizeof(variants[0])) {
				fprintf(stderr, "lookup: --variant takes NAME=OBJ.o (at most %zu)\n",
					sizeof(variants) / sizeof(variants[0]));
				return 1;
			}
			variants[nvariants].name = strndup(optarg, (size_t)(eq - optarg));
			variants[nvariants++].path = eq + 1;
			break;
		}
		case 'm':
			monitor = true;
			break;
		case 'r':
			per_round = true;
			break;
		default:
			return 1;
		}
	}
	if (argc - optind != 4 || !n || !k) {
		fprintf(stderr, "usage: lookup POLICY FLOOR.o TUBULAR.o LPM.o [--contexts N] [--runs K] [--strategy S]\n"
				"              [--variant NAME=OBJ.o]... [--monitor] [--per-round]\n");
		return 1;
	}
	struct frontend_opts fo = { 0 };
	struct frontend fe;
	if (frontend_run(&fe, argv[optind], &fo) < 0 || diag_failed(&fe.diags)) {
		diag_print(stderr, &fe.diags, false);
		return 1;
	}
	const struct ir_policy *p = &fe.ir;
	struct bpf_sk_lookup *ctxs = calloc(n, sizeof(*ctxs));
	struct tuple *tps = calloc(n, sizeof(*tps));
	struct ctxs cs = { 0 };
	uint64_t state = 0x243f6a8885a308d3ull;
	for (int fam = 0; fam < FAM__COUNT; fam++)
		if (!(cs.c[fam] = calloc(n, sizeof(*ctxs))))
			return 1;
	if (!ctxs || !tps)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		tps[i] = backend_sample_tuple(p, &state);
		_ctx(&tps[i], &ctxs[i]);
		cs.c[tps[i].family][cs.n[tps[i].family]++] = ctxs[i];
	}

	/* steer's program: built, compiled and loaded as `steer eval --bpf` does, in a private netns. */
	_cleanup_built_ struct built_policy b = { 0 };
	struct testrun tr;
	struct diag_list d;
	diag_init(&d);
	if (build_policy(p, &bo, &d, &b) < 0 || testrun_open(&b, &to, &tr) < 0) {
		diag_print(stderr, &d, false);
		fprintf(stderr, "lookup: cannot load steer's program: %s\n", error_message());
		return 1;
	}
	/* What steer's program reads of its decision data for these contexts. */
	struct backend_touch touch[FAM__COUNT];
	if (backend_touched(p, bo.strategy, tps, n, touch) < 0) {
		fprintf(stderr, "lookup: cannot count the pages and lines per lookup\n");
		return 1;
	}
	for (int fam = 0; fam < FAM__COUNT; fam++)
		if (touch[fam].n)
			printf("#touch\t%s\t%u\t%u\t%u\t%u\n", _fig_name[fam], touch[fam].pages_median, touch[fam].pages_worst,
			       touch[fam].lines_median, touch[fam].lines_worst);
	for (unsigned v = 0; v < nvariants; v++)
		if (_load_variant(&tr, &b, variants[v].path, &variants[v].prog) < 0 ||
		    _same_decisions(tr.prog_fd, bpf_program__fd(loader_prog(&variants[v].prog, STEER_NAME(STEER_PROG_LOOKUP))),
				    ctxs, n, variants[v].name) < 0)
			return 1;
	/* Room for the events between two drains: 20000 hot, a block cycled; 8 bytes of header each. */
	uint64_t need = (uint64_t)(HOT_REPEAT > CYCLED_BLOCK ? HOT_REPEAT : CYCLED_BLOCK) * (sizeof(struct steer_event) + 8);
	uint32_t ring = 4096;
	while (ring < need)
		ring <<= 1;
	/*
	 * steer+monitor: an instance of its own (the same object), so that in the
	 * cycled figure neither it nor steer finds table lines the other just
	 * brought into the cache for the same contexts.
	 */
	_cleanup_program_ struct rt_program monprog = { 0 };
	if (monitor) {
		if (_load_copy(&tr, &b, NULL, 0, &monprog) < 0) {
			fprintf(stderr, "lookup: cannot load steer's program again: %s\n", error_message());
			return 1;
		}
		if (_monitor_open(&monprog, ring) < 0)
			return 1;
	}
	libbpf_set_print(NULL);
	struct bpf_object *floor = _open(argv[optind + 1]), *tub = _open(argv[optind + 2]);
	if (_fill_sockets(bpf_map__fd(bpf_object__find_map_by_name(floor, "floor_sockets")), 0) < 0) {
		fprintf(stderr, "lookup: cannot create the floor's sockets: %s\n", strerror(errno));
		return 1;
	}
	int tsock = bpf_map__fd(bpf_object__find_map_by_name(tub, "tub_sockets"));
	for (uint32_t s = 0; s < p->nservices && s < 1024; s++)
		if (_fill_sockets(tsock, 4 * s) < 0) {
			fprintf(stderr, "lookup: cannot create the baseline's sockets: %s\n", strerror(errno));
			return 1;
		}
	unsigned long bindings = _load_tubular(p, bpf_map__fd(bpf_object__find_map_by_name(tub, "tub_bindings")));
	size_t npfx;
	struct lpm_pfx *pfx = _lpm_prefixes(p, &npfx);
	struct bpf_object *lpm = _lpm_load(argv[optind + 3], p, pfx, npfx);
	int lpm_fd = bpf_program__fd(bpf_object__find_program_by_name(lpm, "lpm"));
	if (_fill_sockets(bpf_map__fd(bpf_object__find_map_by_name(lpm, "lpm_sockets")), 0) < 0) {
		fprintf(stderr, "lookup: cannot create the lpm floor's sockets: %s\n", strerror(errno));
		return 1;
	}
	if (_lpm_check(lpm_fd, p, pfx, npfx, tps, ctxs, n) < 0)
		return 1;
	free(pfx);
	fprintf(stderr, "lookup: %u rules, strategy %s, %u contexts (%u IPv4, %u IPv6), %lu tubular bindings, %u rounds\n",
		p->nrules, strategy_name(b.m.strategy), n, cs.n[FAM_V4], cs.n[FAM_V6], bindings, k);

	struct prog ps[MAX_PROGS] = {
		{ .name = "empty", .fd = bpf_program__fd(bpf_object__find_program_by_name(floor, "empty")) },
		{ .name = "minimal", .fd = bpf_program__fd(bpf_object__find_program_by_name(floor, "minimal")) },
		{ .name = "lpm", .fd = lpm_fd },
		{ .name = "steer", .fd = tr.prog_fd },
		{ .name = "tubular", .fd = bpf_program__fd(bpf_object__find_program_by_name(tub, "tubular")) },
	};
	unsigned np = 5;
	for (unsigned v = 0; v < nvariants; v++)
		ps[np++] = (struct prog){ .name = variants[v].name,
					  .fd = bpf_program__fd(loader_prog(&variants[v].prog, STEER_NAME(STEER_PROG_LOOKUP))),
					  .variant = true };
	if (monitor)
		ps[np++] = (struct prog){ .name = "steer+monitor",
					  .fd = bpf_program__fd(loader_prog(&monprog, STEER_NAME(STEER_PROG_LOOKUP))),
					  .monitor = true };
	_report(ps, np, &cs, k, per_round);

	int rc = 0;
	if (monitor) {
		uint64_t lost = __atomic_load_n(&_mon.shared->m[0].lost, __ATOMIC_RELAXED);
		fprintf(stderr, "lookup: steer+monitor: %llu decisions, %llu events received, %llu lost, %llu not matching their context\n",
			(unsigned long long)_mon.runs, (unsigned long long)_mon.events, (unsigned long long)lost,
			(unsigned long long)_mon.wrong);
		if (_mon.events != _mon.runs || lost || _mon.wrong) {
			fprintf(stderr, "lookup: the monitor did not receive every decision intact\n");
			rc = 1;
		}
		ring_buffer__free(_mon.rb);
		close(_mon.ring_fd);
		munmap(_mon.shared, _mon.shared_len);
	}
	for (unsigned j = 0; j < np; j++)
		for (int mode = 0; mode < MODE__COUNT; mode++)
			for (int f = 0; f < NFIGS; f++)
				free(ps[j].v[mode][f]);
	for (unsigned v = 0; v < nvariants; v++) {
		loader_close(&variants[v].prog);
		free(variants[v].name);
	}
	bpf_object__close(floor);
	bpf_object__close(tub);
	bpf_object__close(lpm);
	testrun_close(&tr);
	diag_free(&d);
	frontend_free(&fe);
	free(ctxs);
	free(tps);
	for (int fam = 0; fam < FAM__COUNT; fam++)
		free(cs.c[fam]);
	return rc;
}
