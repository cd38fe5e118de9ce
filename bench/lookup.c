/*
 * lookup: nanoseconds per sk_lookup run, with BPF_PROG_TEST_RUN, for steer's
 * program and, in the same process on the same contexts, the floors (an empty
 * program; a minimal one: one sockmap lookup and bpf_sk_assign) and a
 * tubular-style baseline loaded with the policy's rules it can express.
 *
 *   lookup POLICY FLOOR.o TUBULAR.o [--contexts N] [--runs K] [--strategy S]
 *          [--variant NAME=OBJ.o]... [--monitor] [--per-round]
 *
 * Contexts: three quarters hit a rule (an address inside one of its
 * destination prefixes, a port it takes), the rest random; IPv4 and IPv6 as
 * the policy has them; TCP and UDP as the rules say.
 *
 * Two figures per program, K rounds each (median, min, max printed):
 *   hot     each of 64 contexts run `repeat` 20000 times: the kernel's own
 *           average per run; data and code stay in cache;
 *   cycled  all N contexts once each, in turn (repeat 1): the lookup data of
 *           one context is cold for the next. The kernel's timer is read
 *           around each single run, so these figures carry its cost too, the
 *           same for every program.
 * The programs are measured interleaved, finely: hot, every program in turn
 * on each context (about a millisecond each); cycled, every program in turn
 * on each block of 256 contexts (the programs' own runs stay consecutive
 * within a block). Each context or block starts with the next program. So
 * the machine's drift falls on all of them alike rather than on whichever
 * happened to run in a slow stretch. A round is one pass over the contexts;
 * each figure is the median over the rounds.
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
 * filter, a ring buffer in steer_events). The ring buffer holds the events of one call (20000,
 * hot) or one block (256, cycled) and is drained with ring_buffer__consume
 * after each, outside the kernel's timer. Every event is counted and checked
 * against the context it came from; lost or wrong events fail the run.
 *
 * Output: one line per program and figure, tab-separated:
 *   program mode median min max
 * then, with variants or --monitor, one line per pair measured in the same
 * rounds, the ratio of each round's figures:
 *   #ratio A/B mode median ci_lo ci_hi min max ratio-of-medians
 * (steer/VARIANT for each variant, then VARIANT/LATER-VARIANT for each pair of
 * variants in the order given, then steer+monitor/steer; ci: the 95 %
 * confidence interval of the median from order statistics, 0 when there are
 * too few rounds). --per-round also prints every figure as
 *   #round round mode program ns
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

#include "diag.h"
#include "eval.h"
#include "frontend.h"
#include "build.h"
#include "error.h"
#include "loader.h"
#include "testrun.h"

static uint64_t _state = 0x243f6a8885a308d3ull;

static uint64_t _rand(void)
{
	uint64_t z = (_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

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

/* A context that hits a random rule with a destination, or a random one. */
static struct tuple _tuple(const struct ir_policy *p)
{
	struct tuple t = { .proto = _rand() & 1 ? PROTO_TCP : PROTO_UDP, .family = (uint8_t)(_rand() % 5 == 0) };

	t.dst = ((u128)_rand() << 64 | _rand()) & fam_max(t.family);
	t.src = ((u128)_rand() << 64 | _rand()) & fam_max(t.family);
	t.dport = (uint16_t)(1 + _rand() % 65535);
	t.sport = (uint16_t)(1024 + _rand() % 60000);
	if (!p->nrules || _rand() % 4 == 0)
		return t;
	for (int tries = 0; tries < 64; tries++) {
		const struct ir_rule *r = &p->rules[_rand() % p->nrules];
		int fam = r->m.dst[FAM_V6].n && (!r->m.dst[FAM_V4].n || _rand() & 1) ? FAM_V6 : FAM_V4;
		const struct pfx_list *l = &r->m.dst[fam];
		if (!l->n)
			continue;
		const struct prefix *x = &l->v[_rand() % l->n];
		t.family = (uint8_t)fam;
		t.dst = x->addr | ((((u128)_rand() << 64) | _rand()) & (prefix_last(x) - x->addr));
		t.src = ((u128)_rand() << 64 | _rand()) & fam_max(fam);
		t.proto = r->m.protos & PROTO_TCP ? PROTO_TCP : PROTO_UDP;
		if (r->m.dport.n) {
			const struct port_range *pr = &r->m.dport.v[_rand() % r->m.dport.n];
			t.dport = (uint16_t)(pr->lo + _rand() % ((uint32_t)pr->hi - pr->lo + 1));
		}
		break;
	}
	return t;
}

#define HOT_CONTEXTS 64
#define HOT_REPEAT 20000
#define CYCLED_BLOCK 256
#define MAX_PROGS 16

/* A program measured: its figures per round, [hot] and [cycled]. */
struct prog {
	const char *name;
	int fd;
	bool monitor; /* steer's program, with the harness's monitor attached while it is measured */
	bool variant; /* a --variant: compared with steer */
	double *v[2]; /* per round */
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

/*
 * P on contexts FIRST..FIRST+COUNT-1 in turn, REPEAT times each (one
 * BPF_PROG_TEST_RUN call per context): the sum of the kernel's per-run
 * averages. With the harness's monitor, attached for these calls only.
 */
static double _block(const struct prog *p, const struct bpf_sk_lookup *ctxs, unsigned first, unsigned count,
		     uint32_t repeat)
{
	struct bpf_sk_lookup c;
	double total = 0;

	if (p->monitor) {
		_mon.ctxs = ctxs + first;
		_mon.next = 0;
		_mon.per = repeat;
		_monitor_active(true);
	}
	for (unsigned i = first; i < first + count; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c), .repeat = repeat);
		c = ctxs[i];
		if (bpf_prog_test_run_opts(p->fd, &o) < 0) {
			fprintf(stderr, "lookup: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			exit(1);
		}
		total += o.duration;
		if (p->monitor && repeat > 1)
			_drain(); /* one call's events, outside the kernel's timer */
	}
	if (p->monitor) {
		_monitor_active(false);
		_drain();
		_mon.runs += (uint64_t)count * repeat;
	}
	return total;
}

/*
 * One round of every program: ns per run, into OUT[program]. Hot: the 64
 * contexts, 20000 runs each, every program in turn on each context. Cycled:
 * the N contexts in blocks of CYCLED_BLOCK, every program in turn running the
 * whole block once. Each context (block) starts with the next program: drift
 * on any time scale longer than a few milliseconds falls on all alike.
 */
static void _round(const struct prog *ps, unsigned np, const struct bpf_sk_lookup *ctxs, unsigned n, bool hot,
		   unsigned round, double *out)
{
	unsigned count = hot ? (n < HOT_CONTEXTS ? n : HOT_CONTEXTS) : n, block = hot ? 1 : CYCLED_BLOCK;
	double total[MAX_PROGS] = { 0 };

	for (unsigned first = 0, k = 0; first < count; first += block, k++)
		for (unsigned j = 0; j < np; j++) {
			unsigned x = (round + k + j) % np;
			total[x] += _block(&ps[x], ctxs, first, count - first < block ? count - first : block,
					   hot ? HOT_REPEAT : 1);
		}
	for (unsigned x = 0; x < np; x++)
		out[x] = total[x] / count;
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
static void _ratio(const struct prog *a, const struct prog *b, int mode, unsigned k)
{
	double *q = calloc(k, sizeof(double)), *va = calloc(k, sizeof(double)), *vb = calloc(k, sizeof(double));
	double med, lo, hi, ma, mb, x, y, ci_lo, ci_hi;

	if (!q || !va || !vb)
		exit(1);
	for (unsigned i = 0; i < k; i++) {
		q[i] = a->v[mode][i] / b->v[mode][i];
		va[i] = a->v[mode][i];
		vb[i] = b->v[mode][i];
	}
	_median_ci(q, k, &med, &ci_lo, &ci_hi);
	lo = q[0];
	hi = q[k - 1];
	_stats(va, k, &ma, &x, &y);
	_stats(vb, k, &mb, &x, &y);
	printf("#ratio\t%s/%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", a->name, b->name, mode ? "cycled" : "hot", med,
	       ci_lo, ci_hi, lo, hi, ma / mb);
	free(q);
	free(va);
	free(vb);
}

/* Every program, K interleaved rounds per figure (hot, then cycled), after a warm-up round. */
static void _report(struct prog *ps, unsigned np, const struct bpf_sk_lookup *ctxs, unsigned n, unsigned k,
		    bool per_round)
{
	for (int mode = 0; mode < 2; mode++) {
		bool hot = mode == 0;
		double fig[MAX_PROGS];
		for (unsigned j = 0; j < np; j++)
			if (!(ps[j].v[mode] = calloc(k, sizeof(double))))
				exit(1);
		_round(ps, np, ctxs, n, hot, 0, fig); /* warm up */
		for (unsigned i = 0; i < k; i++) {
			_round(ps, np, ctxs, n, hot, i, fig);
			for (unsigned j = 0; j < np; j++)
				ps[j].v[mode][i] = fig[j];
		}
		if (per_round)
			for (unsigned i = 0; i < k; i++)
				for (unsigned j = 0; j < np; j++)
					printf("#round\t%u\t%s\t%s\t%.2f\n", i + 1, hot ? "hot" : "cycled", ps[j].name, ps[j].v[mode][i]);
		const struct prog *steer = NULL;
		for (unsigned j = 0; j < np; j++)
			if (strcmp(ps[j].name, "steer") == 0)
				steer = &ps[j];
		for (unsigned j = 0; j < np; j++) {
			double *v = calloc(k, sizeof(double)), med, lo, hi;
			if (!v)
				exit(1);
			memcpy(v, ps[j].v[mode], k * sizeof(double));
			_stats(v, k, &med, &lo, &hi);
			printf("%s\t%s\t%.1f\t%.1f\t%.1f\n", ps[j].name, hot ? "hot" : "cycled", med, lo, hi);
			free(v);
		}
		/* The pairs: steer against each variant, each variant against the later ones, steer+monitor against steer. */
		for (unsigned j = 0; j < np && steer; j++)
			if (ps[j].variant)
				_ratio(steer, &ps[j], mode, k);
		for (unsigned i = 0; i < np; i++)
			for (unsigned j = i + 1; j < np; j++)
				if (ps[i].variant && ps[j].variant)
					_ratio(&ps[i], &ps[j], mode, k);
		for (unsigned j = 0; j < np && steer; j++)
			if (ps[j].monitor)
				_ratio(&ps[j], steer, mode, k);
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
	} variants[MAX_PROGS - 5];
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
	if (argc - optind != 3 || !n || !k) {
		fprintf(stderr, "usage: lookup POLICY FLOOR.o TUBULAR.o [--contexts N] [--runs K] [--strategy S]\n"
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
	if (!ctxs)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		struct tuple t = _tuple(p);
		_ctx(&t, &ctxs[i]);
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
	fprintf(stderr, "lookup: %u rules, strategy %s, %u contexts, %lu tubular bindings, %u rounds\n", p->nrules,
		strategy_name(b.m.strategy), n, bindings, k);

	struct prog ps[MAX_PROGS] = {
		{ .name = "empty", .fd = bpf_program__fd(bpf_object__find_program_by_name(floor, "empty")) },
		{ .name = "minimal", .fd = bpf_program__fd(bpf_object__find_program_by_name(floor, "minimal")) },
		{ .name = "steer", .fd = tr.prog_fd },
		{ .name = "tubular", .fd = bpf_program__fd(bpf_object__find_program_by_name(tub, "tubular")) },
	};
	unsigned np = 4;
	for (unsigned v = 0; v < nvariants; v++)
		ps[np++] = (struct prog){ .name = variants[v].name,
					  .fd = bpf_program__fd(loader_prog(&variants[v].prog, STEER_NAME(STEER_PROG_LOOKUP))),
					  .variant = true };
	if (monitor)
		ps[np++] = (struct prog){ .name = "steer+monitor",
					  .fd = bpf_program__fd(loader_prog(&monprog, STEER_NAME(STEER_PROG_LOOKUP))),
					  .monitor = true };
	_report(ps, np, ctxs, n, k, per_round);

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
	for (unsigned j = 0; j < np; j++) {
		free(ps[j].v[0]);
		free(ps[j].v[1]);
	}
	for (unsigned v = 0; v < nvariants; v++) {
		loader_close(&variants[v].prog);
		free(variants[v].name);
	}
	bpf_object__close(floor);
	bpf_object__close(tub);
	testrun_close(&tr);
	diag_free(&d);
	frontend_free(&fe);
	free(ctxs);
	return rc;
}
