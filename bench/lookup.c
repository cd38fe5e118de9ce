/*
 * lookup: nanoseconds per sk_lookup run, with BPF_PROG_TEST_RUN, for steer's
 * program and, in the same process on the same contexts, the floors (an empty
 * program; a minimal one: one sockmap lookup and bpf_sk_assign) and a
 * tubular-style baseline loaded with the policy's rules it can express.
 *
 *   lookup POLICY FLOOR.o TUBULAR.o [--contexts N] [--runs K] [--strategy S]
 *
 * Contexts: three quarters hit a rule (an address inside one of its
 * destination prefixes, a port it takes), the rest random; IPv4 and IPv6 as
 * the policy has them; TCP and UDP as the rules say.
 *
 * Two figures per program, K runs each (median, min, max printed):
 *   hot     each of 64 contexts run `repeat` 20000 times: the kernel's own
 *           average per run; data and code stay in cache;
 *   cycled  all N contexts once each, in turn (repeat 1): the lookup data of
 *           one context is cold for the next. The kernel's timer is read
 *           around each single run, so these figures carry its cost too, the
 *           same for every program.
 *
 * Output: one line per program and figure, tab-separated:
 *   program mode median min max
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "eval.h"
#include "frontend.h"
#include "build.h"
#include "error.h"
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

static int _cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ns per run: hot (64 contexts x repeat) or cycled (every context once). */
static double _measure(int fd, const struct bpf_sk_lookup *ctxs, unsigned n, bool hot)
{
	struct bpf_sk_lookup c;
	uint64_t total = 0, runs = 0;
	unsigned count = hot ? (n < 64 ? n : 64) : n;

	for (unsigned i = 0; i < count; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c), .repeat = hot ? 20000 : 1);
		c = ctxs[i];
		if (bpf_prog_test_run_opts(fd, &o) < 0) {
			fprintf(stderr, "lookup: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			exit(1);
		}
		total += o.duration;
		runs++;
	}
	return (double)total / (double)runs;
}

static void _report(const char *name, int fd, const struct bpf_sk_lookup *ctxs, unsigned n, unsigned k)
{
	for (int hot = 1; hot >= 0; hot--) {
		double *v = calloc(k, sizeof(double));
		if (!v)
			exit(1);
		_measure(fd, ctxs, n, hot); /* warm up */
		for (unsigned i = 0; i < k; i++)
			v[i] = _measure(fd, ctxs, n, hot);
		qsort(v, k, sizeof(double), _cmp_double);
		printf("%s\t%s\t%.1f\t%.1f\t%.1f\n", name, hot ? "hot" : "cycled", v[k / 2], v[0], v[k - 1]);
		fflush(stdout);
		free(v);
	}
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
		{ 0 },
	};
	unsigned n = 4096, k = 5;
	struct build_opts bo = { .strategy = STRATEGY_AUTO };
	struct testrun_opts to = { 0 };
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
		default:
			return 1;
		}
	}
	if (argc - optind != 3 || !n || !k) {
		fprintf(stderr, "usage: lookup POLICY FLOOR.o TUBULAR.o [--contexts N] [--runs K] [--strategy S]\n");
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
	fprintf(stderr, "lookup: %u rules, strategy %s, %u contexts, %lu tubular bindings\n", p->nrules,
		strategy_name(b.m.strategy), n, bindings);

	_report("empty", bpf_program__fd(bpf_object__find_program_by_name(floor, "empty")), ctxs, n, k);
	_report("minimal", bpf_program__fd(bpf_object__find_program_by_name(floor, "minimal")), ctxs, n, k);
	_report("steer", tr.prog_fd, ctxs, n, k);
	_report("tubular", bpf_program__fd(bpf_object__find_program_by_name(tub, "tubular")), ctxs, n, k);

	bpf_object__close(floor);
	bpf_object__close(tub);
	testrun_close(&tr);
	diag_free(&d);
	frontend_free(&fe);
	free(ctxs);
	return 0;
}
