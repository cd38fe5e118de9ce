/*
 * The differential test: random policies and random tuples, the reference
 * evaluator against the compiled program in the kernel (BPF_PROG_TEST_RUN,
 * through runtime/testrun.h, in a private network namespace). The verdict, the
 * service or forward and the deciding rule must agree. On a mismatch the policy is shrunk
 * rule by rule while the mismatch stays, and the smallest one is printed with
 * the tuple, both verdicts and the seed.
 *
 *   diff [--seed N] [--policies N] [--tuples N] [--strategy S] [--long]
 *   diff --policy FILE [--tuples N] [--strategy S]     one given policy
 *
 * STEER_DIFF_LONG=1 is --long: ten times the policies and tuples.
 * Exit status: 0 agreed, 1 a mismatch (or cannot run under CI=true), 77 skipped.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "eval.h"
#include "frontend.h"
#include "ir.h"
#include "build.h"
#include "error.h"
#include "testrun.h"

#define SKIP 77

static uint64_t _state;

static uint64_t _rand(void)
{
	uint64_t z = (_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned _pick(unsigned n)
{
	return (unsigned)(_rand() % n);
}

/* ---- random policies, as text: the parser and the checks are part of the path ---- */

struct text {
	char *buf;
	size_t len;
	FILE *f;
};

/* A prefix in a small space, so rules overlap: 10.0.0.0/16 and fd00::/112 mostly. */
static void _prefix(FILE *f, bool v6)
{
	unsigned len;

	if (!v6) {
		uint32_t a = 0x0a000000u | (uint32_t)(_rand() & 0xffff);
		if (_pick(8) == 0)
			a = (uint32_t)_rand(); /* now and then anywhere */
		len = _pick(4) == 0 ? 8 + _pick(25) : 16 + _pick(17);
		a &= len ? ~0u << (32 - len) : 0;
		fprintf(f, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
		return;
	}
	uint16_t g[8] = { 0xfd00, 0, 0, 0, 0, 0, (uint16_t)_rand(), (uint16_t)_rand() };
	if (_pick(8) == 0)
		for (int i = 1; i < 8; i++)
			g[i] = (uint16_t)_rand();
	len = _pick(4) == 0 ? 8 + _pick(121) : 96 + _pick(33);
	for (int i = 0; i < 8; i++) {
		int keep = (int)len - 16 * i;
		if (keep <= 0)
			g[i] = 0;
		else if (keep < 16)
			g[i] &= (uint16_t)(0xffff << (16 - keep));
	}
	fprintf(f, "%x:%x:%x:%x:%x:%x:%x:%x/%u", g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], len);
}

static void _addrs(FILE *f, int fam)
{
	unsigned n = _pick(4) == 0 ? 2 + _pick(3) : 1;

	if (n > 1)
		fputs("{ ", f);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		_prefix(f, fam == 2 ? _pick(2) : fam == 1);
	}
	if (n > 1)
		fputs(" }", f);
}

static void _port1(FILE *f)
{
	unsigned lo = 1 + _pick(24);

	if (_pick(10) == 0)
		lo = 65535 - _pick(3);
	if (_pick(3) == 0 && lo < 65535)
		fprintf(f, "%u-%u", lo, lo + _pick(8 < 65535 - lo ? 8 : 65535 - lo) + 1);
	else
		fprintf(f, "%u", lo);
}

static void _ports(FILE *f)
{
	unsigned n = _pick(3) == 0 ? 2 + _pick(3) : 1;

	if (n > 1)
		fputs("{ ", f);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		_port1(f);
	}
	if (n > 1)
		fputs(" }", f);
}

/* One rule line; FAM: 0 IPv4, 1 IPv6, 2 both, for the addresses it uses. */
static void _rule(FILE *f, unsigned nservices, bool iif)
{
	static const char *const protos[] = { "tcp", "udp", "{ tcp, udp }" };
	int fam = (int)_pick(3);
	unsigned proto = _pick(3);

	fprintf(f, "match %s", protos[proto]);
	if (_pick(4) != 0) {
		fputs(" dst ", f);
		_addrs(f, fam);
	}
	if (_pick(5) == 0) {
		fputs(" src ", f);
		_addrs(f, fam);
	}
	if (_pick(3) != 0) {
		fputs(" port ", f);
		_ports(f);
	}
	if (_pick(8) == 0) {
		fputs(" sport ", f);
		_ports(f);
	}
	if (iif && _pick(8) == 0)
		fputs(_pick(2) ? " iif eth0" : " iif { eth0, eth1 }", f);
	switch (_pick(8)) {
	case 0:
		fputs(" -> drop\n", f);
		break;
	case 1:
		fputs(" -> pass\n", f);
		break;
	case 2:
		if (proto == 0) { /* forward is TCP only; a few upstreams, so rules share forwards */
			if (_pick(3))
				fprintf(f, " -> forward 127.0.0.1:%u\n", 9000 + _pick(3));
			else
				fprintf(f, " -> forward sni { \"a.example\": [::1]:%u }\n", 9100 + _pick(2));
			break;
		}
		/* fall through */
	default:
		fprintf(f, " -> service s%u%s\n", _pick(nservices), _pick(3) ? "" : _pick(2) ? " or pass" : " or drop");
	}
}

static char *_policy(unsigned maxrules)
{
	unsigned nservices = 1 + _pick(4), nrules = 1 + _pick(maxrules);
	bool iif = _pick(3) == 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	for (unsigned s = 0; s < nservices; s++)
		fprintf(f, "service s%u\n", s);
	/* One policy in four has a rule with ports all over the range: too many runs for the code, the port table. */
	unsigned wide = _pick(4) == 0 ? _pick(nrules) : nrules;
	for (unsigned i = 0; i < nrules; i++) {
		if (i == wide) {
			fputs("match { tcp, udp } port { 1", f);
			for (unsigned k = 1; k < 40; k++)
				fprintf(f, ", %u", 1 + k * 1600 + _pick(1600));
			fprintf(f, " } -> service s%u\n", _pick(nservices));
		}
		_rule(f, nservices, iif);
	}
	fclose(f);
	return buf;
}

/* ---- tuples: near the rules' edges, inside and just outside ---- */

static u128 _addr_near(const struct ir_policy *p, int fam, bool dst)
{
	u128 any = ((u128)_rand() << 64 | _rand()) & fam_max(fam);

	if (!p->nrules || _pick(6) == 0)
		return any;
	const struct ir_rule *r = &p->rules[_pick(p->nrules)];
	const struct pfx_list *l = dst ? &r->m.dst[fam] : &r->m.src[fam];
	if (!l->n)
		return fam == FAM_V4 ? (0x0a000000u | (uint32_t)(any & 0xffff)) : any;
	const struct prefix *x = &l->v[_pick(l->n)];
	u128 last = prefix_last(x);
	switch (_pick(5)) {
	case 0:
		return x->addr;
	case 1:
		return last;
	case 2:
		return x->addr - 1;
	case 3:
		return last + 1 > fam_max(fam) ? 0 : last + 1;
	default:
		return x->addr | (any & (last - x->addr));
	}
}

static uint16_t _port_near(const struct ir_policy *p, bool dport)
{
	if (!p->nrules || _pick(6) == 0)
		return (uint16_t)(1 + _pick(30));
	const struct ir_rule *r = &p->rules[_pick(p->nrules)];
	const struct port_list *l = dport ? &r->m.dport : &r->m.sport;
	if (!l->n)
		return (uint16_t)(1 + _pick(65535));
	const struct port_range *x = &l->v[_pick(l->n)];
	switch (_pick(4)) {
	case 0:
		return x->lo;
	case 1:
		return x->hi;
	case 2:
		return x->lo > 1 ? x->lo - 1 : 1;
	default:
		return x->hi < 65535 ? x->hi + 1 : 65535;
	}
}

static struct tuple _tuple(const struct ir_policy *p, uint32_t iif)
{
	struct tuple t = { 0 };

	t.proto = _pick(2) ? PROTO_TCP : PROTO_UDP;
	t.family = (uint8_t)_pick(2);
	t.dst = _addr_near(p, t.family, true);
	t.src = _addr_near(p, t.family, false);
	t.dport = _port_near(p, true);
	t.sport = _port_near(p, false);
	t.iif = iif;
	return t;
}

/* ---- running one policy ---- */

struct opts {
	enum strategy strategy;
	const char *clang;
};

static void _say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Why the last _open failed (-errno): -EPERM means the test cannot run here, not that steer failed. */
static int _open_err;

/* Builds the checked policy and loads it into a private namespace, as `steer eval --bpf` does. */
static int _open(struct frontend *fe, const char *iif, const struct opts *o, struct built_policy *b, struct testrun *tr,
		 char **why)
{
	struct build_opts bo = { .clang = o->clang, .strategy = o->strategy };
	struct testrun_opts to = { .iif = iif };
	struct diag_list d;
	int r;

	diag_init(&d);
	r = build_policy(&fe->ir, &bo, &d, b);
	if (r == 0)
		r = testrun_open(b, &to, tr);
	else
		memset(tr, 0, sizeof(*tr));
	_open_err = r;
	if (r < 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		diag_print(f, &d, false);
		fprintf(f, "%s", error_message());
		fclose(f);
		*why = buf;
	}
	diag_free(&d);
	return r;
}

/*
 * Loads TEXT and compares every tuple of TS (or generates N with the policy's
 * edges when TS is NULL). Returns the index of the first mismatch, -1 when all
 * agree, -2 when the policy does not check, -3 when the kernel refused.
 */
static int64_t _run(const char *text, const char *iif, const struct opts *o, struct tuple *ts, size_t n,
		    bool generate, struct frontend *fe, char **why)
{
	struct frontend_opts fo = { 0 };
	_cleanup_built_ struct built_policy b = { 0 };
	struct testrun tr;
	int64_t bad = -1;
	int r;

	*why = NULL;
	if (frontend_run_mem(fe, "diff.steer", text, strlen(text), &fo) < 0 || diag_failed(&fe->diags))
		return -2;
	if (_open(fe, iif, o, &b, &tr, why) < 0) {
		testrun_close(&tr);
		return -3;
	}
	uint32_t iifx = iif ? ir_iface_lookup(&fe->ir, iif) : IIF_NONE;
	for (size_t i = 0; i < n; i++) {
		if (generate)
			ts[i] = _tuple(&fe->ir, iifx);
		else
			ts[i].iif = iifx;
		struct verdict want = eval_tuple(&fe->ir, &ts[i], NULL), got;
		if ((r = testrun_verdict_hint(&tr, &ts[i], want.rule, &got)) < 0) {
			if (asprintf(why, "BPF_PROG_TEST_RUN failed: %s", strerror(-r)) < 0)
				abort();
			bad = -3;
			break;
		}
		if (!verdict_equal(&want, &got) || want.rule != got.rule) {
			bad = (int64_t)i;
			break;
		}
	}
	testrun_close(&tr);
	return bad;
}

/* The policy without its line K (0-based). */
static char *_without_line(const char *text, unsigned k)
{
	char *out = malloc(strlen(text) + 1), *w = out;
	unsigned line = 0;

	if (!out)
		abort();
	for (const char *c = text; *c; c++) {
		if (line != k)
			*w++ = *c;
		line += *c == '\n';
	}
	*w = '\0';
	return out;
}

static void _report(const char *text, const char *iif, const struct opts *o, struct tuple t, uint64_t seed)
{
	char *cur = strdup(text), *why;
	struct frontend fe;

	/* Drop lines (rules, then unused services) while the mismatch stays. */
	for (bool again = true; again;) {
		again = false;
		unsigned lines = 0;
		for (const char *c = cur; *c; c++)
			lines += *c == '\n';
		for (unsigned k = lines; k-- > 0;) {
			char *less = _without_line(cur, k);
			int64_t r = _run(less, iif, o, &t, 1, false, &fe, &why);
			frontend_free(&fe);
			free(why);
			if (r == 0) {
				free(cur);
				cur = less;
				again = true;
			} else {
				free(less);
			}
		}
	}
	_run(cur, iif, o, &t, 1, false, &fe, &why);
	struct verdict want = eval_tuple(&fe.ir, &t, NULL);
	_say("diff: MISMATCH (seed %llu, strategy %s%s%s)\n----- policy -----\n%s------------------\n",
	     (unsigned long long)seed, strategy_name(o->strategy), iif ? ", arriving on " : "", iif ? iif : "", cur);
	_say("tuple:     ");
	tuple_print(stderr, &fe.ir, &t);
	_say("\nreference: ");
	verdict_print(stderr, &fe.ir, &want);
	_say("\t");
	verdict_print_rule(stderr, &fe.ir, &want);
	_cleanup_built_ struct built_policy b = { 0 };
	struct testrun tr;
	struct verdict got;
	free(why);
	why = NULL;
	if (_open(&fe, iif, o, &b, &tr, &why) == 0 && testrun_verdict(&tr, &t, true, &got) == 0) {
		_say("\nkernel:    ");
		verdict_print(stderr, &fe.ir, &got);
		_say("\t");
		verdict_print_rule(stderr, &fe.ir, &got);
	}
	_say("\n");
	testrun_close(&tr);
	frontend_free(&fe);
	free(why);
	free(cur);
}

static char *_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },   { "policies", required_argument, NULL, 'p' },
		{ "tuples", required_argument, NULL, 't' }, { "strategy", required_argument, NULL, 'S' },
		{ "long", no_argument, NULL, 'l' },         { "policy", required_argument, NULL, 'f' },
		{ "clang", required_argument, NULL, 'c' },  { 0 },
	};
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	unsigned policies = 25, tuples = 500, maxrules = 40;
	const char *file = NULL;
	bool ci = getenv("CI") && strcmp(getenv("CI"), "true") == 0;
	bool lng = getenv("STEER_DIFF_LONG") && strcmp(getenv("STEER_DIFF_LONG"), "1") == 0;
	struct opts o = { .strategy = STRATEGY_AUTO };
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			policies = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 't':
			tuples = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			if (strategy_parse(optarg, &o.strategy) < 0) {
				_say("diff: unknown strategy '%s'\n", optarg);
				return 1;
			}
			break;
		case 'l':
			lng = true;
			break;
		case 'f':
			file = optarg;
			break;
		case 'c':
			o.clang = optarg;
			break;
		default:
			return 1;
		}
	}
	if (lng) {
		policies *= 10;
		tuples *= 10;
		maxrules *= 3;
	}
	if (geteuid() != 0) {
		_say("diff: %s: BPF_PROG_TEST_RUN needs root\n", ci ? "FAIL" : "SKIP");
		return ci ? 1 : SKIP;
	}
	_state = seed;
	_say("diff: seed %llu, strategy %s\n", (unsigned long long)seed, strategy_name(o.strategy));

	struct tuple *ts = calloc(tuples ? tuples : 1, sizeof(*ts));
	unsigned long compared = 0, ran = 0, rejected = 0;
	if (!ts)
		return 1;
	for (unsigned k = 0; k < (file ? 1 : policies); k++) {
		char *text = file ? _read_file(file) : _policy(maxrules), *why = NULL;
		const char *iif = !file && _pick(2) ? "eth0" : NULL;
		struct frontend fe;
		if (!text) {
			_say("diff: cannot read '%s': %s\n", file, strerror(errno));
			return 1;
		}
		int64_t r = _run(text, iif, &o, ts, tuples, true, &fe, &why);
		frontend_free(&fe);
		if (r == -2) {
			/* A random policy may not check (e.g. a rule that can never match): not what is tested here. */
			if (file) {
				_say("diff: '%s' does not check\n", file);
				return 1;
			}
			free(text);
			/* Bounded: a generator that stops making valid policies is a bug to report, not to wait out. */
			if (++rejected > 20ul * policies + 100) {
				_say("diff: FAIL: %lu generated policies did not check\n", rejected);
				return 1;
			}
			k--;
			continue;
		}
		if (r == -3) {
			/* Told by the errno, not the message: only a missing privilege means "cannot run here". */
			bool setup = _open_err == -EPERM;
			_say("diff: %s: %s\n", setup && !ci ? "SKIP" : "FAIL", why ? why : "the kernel refused the program");
			if (!setup || !ci)
				_say("----- policy -----\n%s------------------\n", file ? "(the file)\n" : text);
			return setup && !ci ? SKIP : 1;
		}
		ran++;
		if (r >= 0) {
			_report(text, iif, &o, ts[r], seed);
			return 1;
		}
		compared += tuples;
		free(text);
		free(why);
	}
	printf("diff: %lu policies, %lu tuples: the kernel agreed with the reference evaluator on every one (seed %llu, "
	       "strategy %s)\n",
	       ran, compared, (unsigned long long)seed, strategy_name(o.strategy));
	free(ts);
	return 0;
}
