/*
 * genroutes: writes a policy modeled on a real routing table and a real edge
 * configuration, for the benchmarks; genpolicy draws its prefixes uniformly.
 *
 *   genroutes RULES [--seed N]
 *
 * Destinations, four in five IPv4: prefix lengths as in the public BGP table
 * (/24 55 %, /22-/23 20 %, /16-/21 17 %, /8-/15 3 %, /25-/32 5 %, most of
 * those /32 hosts), nine in ten inside a few thousand allocated parent blocks
 * (/12-/20, each drawing prefixes in proportion to its size), so prefixes
 * nest: an aggregate, its /22s, the /24s in those. IPv6: /29-/48
 * allocations holding /48s, /56s, /64s and some /128 hosts. Each prefix is
 * written once, in one to three rules on disjoint ports from a catalogue of
 * real services (single ports, sets, ranges, or every port), or now and then
 * with another prefix of its block in one set. 64 services.
 *
 * Order: source blocklists first (3 % of the rules: single sources, /24s and
 * sets, dropped), then at most 200 rules testing source and destination
 * together (a partner's access to one prefix), then the destinations, more
 * specific prefixes first as an operator orders first-match rules, so that
 * few rules are shadowed. The output is deterministic per seed.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef unsigned __int128 u128;

static uint64_t _state = 0x9e3779b97f4a7c15ull;

static uint64_t _rand(void)
{
	uint64_t z = (_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static unsigned _pick(unsigned n)
{
	return (unsigned)(_rand() % n);
}

/* An index into a table of weights. */
static unsigned _weighted(const unsigned short (*t)[2], unsigned n)
{
	unsigned sum = 0, r;

	for (unsigned i = 0; i < n; i++)
		sum += t[i][1];
	r = _pick(sum);
	for (unsigned i = 0; i < n; i++) {
		if (r < t[i][1])
			return i;
		r -= t[i][1];
	}
	return n - 1;
}

/* IPv4 prefix lengths, per mille: the public BGP table's shape, /32 hosts for the edge's own services. */
static const unsigned short _v4_len[][2] = {
	{ 24, 550 }, { 23, 90 }, { 22, 110 }, { 21, 35 }, { 20, 40 }, { 19, 30 }, { 18, 25 }, { 17, 15 },
	{ 16, 25 },  { 15, 8 },	 { 14, 7 },   { 13, 5 },  { 12, 4 },  { 11, 3 },  { 10, 1 },  { 9, 1 },
	{ 8, 1 },    { 25, 2 },	 { 26, 3 },   { 27, 3 },  { 28, 5 },  { 29, 6 },  { 30, 4 },  { 31, 2 },
	{ 32, 25 },
};
/* Parent blocks: what registries allocate. */
static const unsigned short _v4_parent_len[][2] = {
	{ 12, 5 }, { 13, 5 }, { 14, 10 }, { 15, 10 }, { 16, 30 }, { 17, 10 }, { 18, 10 }, { 19, 10 }, { 20, 10 },
};
static const unsigned short _v6_len[][2] = {
	{ 48, 45 }, { 56, 15 }, { 64, 20 }, { 128, 10 }, { 44, 4 }, { 40, 3 }, { 36, 2 }, { 32, 1 },
};
static const unsigned short _v6_parent_len[][2] = {
	{ 29, 10 }, { 32, 40 }, { 36, 15 }, { 40, 15 }, { 44, 10 }, { 48, 10 },
};

#define TCP 1
#define UDP 2

/* What a prefix offers: ports of one protocol, or both. Entries of one class overlap. */
static const struct service_kind {
	const char *name; /* a define, when the ports are a set */
	const char *ports; /* NULL: every port */
	unsigned protos, class, weight;
} _kinds[] = {
	{ "web_ports", "{ 80, 443 }", TCP, 0, 30 },
	{ "web_alt_ports", "{ 80, 443, 8080, 8443 }", TCP, 0, 8 },
	{ NULL, "443", TCP, 0, 8 },
	{ NULL, "8000-8099", TCP, 0, 3 }, /* 8080 */
	{ NULL, "443", UDP, 1, 6 },
	{ NULL, "53", TCP | UDP, 2, 10 },
	{ "mail_ports", "{ 25, 465, 587 }", TCP, 3, 5 },
	{ "imap_ports", "{ 143, 993 }", TCP, 4, 2 },
	{ NULL, "22", TCP, 5, 5 },
	{ NULL, "123", UDP, 6, 2 },
	{ "sip_ports", "{ 5060, 5061 }", TCP | UDP, 7, 2 },
	{ NULL, "10000-20000", UDP, 8, 2 },
	{ NULL, "27015-27030", UDP, 9, 2 },
	{ NULL, "30000-32767", TCP, 10, 2 },
	{ "db_ports", "{ 3306, 5432, 6379 }", TCP, 11, 2 },
	{ "mqtt_ports", "{ 1883, 8883 }", TCP, 12, 1 },
	{ NULL, "3389", TCP, 13, 1 },
	{ "vpn_ports", "{ 500, 1194, 4500, 51820 }", UDP, 14, 2 },
	{ NULL, NULL, TCP, 15, 5 },
};
#define SERVICES 64

struct prefix {
	u128 addr;
	uint8_t v6, len;
};

/* A destination rule: one prefix, or two of the same block. */
struct rule {
	struct prefix p[2];
	uint32_t seq; /* the order drawn, for a stable sort */
	uint8_t np, kind, action, svc;
};

enum { ACT_SERVICE, ACT_SERVICE_OR_PASS, ACT_DROP, ACT_PASS };

static u128 _mask(unsigned len, unsigned width)
{
	u128 all = width == 32 ? (u128)UINT32_MAX : ~(u128)0;

	return len ? all & ~((((u128)1) << (width - len)) - 1) : 0;
}

static u128 _rand128(void)
{
	return (u128)_rand() << 64 | _rand();
}

/* A random unicast address: IPv4 1.0.0.0-223.255.255.255 but 10/8 and 127/8; IPv6 in 2000::/3. */
static u128 _unicast(int v6)
{
	if (v6)
		return (_rand128() & ~((u128)7 << 125)) | (u128)1 << 125;
	for (;;) {
		uint32_t a = (uint32_t)_rand(), first = a >> 24;
		if (first >= 1 && first <= 223 && first != 10 && first != 127)
			return a;
	}
}

static void _print_prefix(FILE *f, const struct prefix *p)
{
	char buf[INET6_ADDRSTRLEN];

	if (p->v6) {
		uint8_t b[16];
		for (int i = 0; i < 16; i++)
			b[i] = (uint8_t)(p->addr >> (120 - 8 * i));
		inet_ntop(AF_INET6, b, buf, sizeof(buf));
	} else {
		uint32_t a = htonl((uint32_t)p->addr);
		inet_ntop(AF_INET, &a, buf, sizeof(buf));
	}
	fprintf(f, "%s/%u", buf, p->len);
}

/* The prefixes written so far: open addressing, so each appears once. */
static struct {
	struct prefix *v;
	uint64_t cap;
} _seen;

static uint64_t _hash(const struct prefix *p)
{
	uint64_t h = (uint64_t)p->addr ^ (uint64_t)(p->addr >> 64) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)p->len << 1 | p->v6) * 0xbf58476d1ce4e5b9ull;
	return (h ^ (h >> 31)) * 0x94d049bb133111ebull;
}

/* Adds P: 0, or -1 when it was there already. */
static int _seen_add(const struct prefix *p)
{
	uint64_t i = _hash(p) & (_seen.cap - 1);

	for (; _seen.v[i].len; i = (i + 1) & (_seen.cap - 1))
		if (_seen.v[i].addr == p->addr && _seen.v[i].len == p->len && _seen.v[i].v6 == p->v6)
			return -1;
	_seen.v[i] = *p;
	return 0;
}

struct block {
	u128 base;
	uint64_t upto; /* the sizes of the blocks before it and its own, in units of the longest block */
	uint8_t len;
};

static struct block *_parents[2];
static unsigned _nparents[2];

/* A parent block index, in proportion to its size: as many prefixes per address in every block. */
static unsigned _parent(int v6)
{
	uint64_t x = _rand() % _parents[v6][_nparents[v6] - 1].upto;
	unsigned lo = 0, hi = _nparents[v6] - 1;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (_parents[v6][mid].upto <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void _make_parents(unsigned n4, unsigned n6)
{
	for (int v6 = 0; v6 < 2; v6++) {
		unsigned n = v6 ? n6 : n4, width = v6 ? 128 : 32, longest = v6 ? 48 : 20;
		uint64_t upto = 0;
		if (!(_parents[v6] = calloc(n, sizeof(struct block))))
			exit(1);
		for (unsigned i = 0; i < n; i++) {
			unsigned len = v6 ? _v6_parent_len[_weighted(_v6_parent_len, LEN(_v6_parent_len))][0]
					  : _v4_parent_len[_weighted(_v4_parent_len, LEN(_v4_parent_len))][0];
			upto += 1ull << (longest - len);
			_parents[v6][i] =
				(struct block){ .base = _unicast(v6) & _mask(len, width), .upto = upto, .len = (uint8_t)len };
		}
		_nparents[v6] = n;
	}
}

/*
 * A new destination prefix of the family: a length from the family's
 * distribution, in a parent block (nine in ten), else anywhere. A prefix
 * shorter than its block is the aggregate that covers it. *PARENT is the
 * block's index, or the count of blocks for none.
 */
static struct prefix _dst(int v6, unsigned *parent)
{
	unsigned width = v6 ? 128 : 32;

	for (;;) {
		unsigned len = v6 ? _v6_len[_weighted(_v6_len, LEN(_v6_len))][0]
				  : _v4_len[_weighted(_v4_len, LEN(_v4_len))][0];
		for (int tries = 0; tries < 8; tries++) {
			struct prefix p = { .v6 = (uint8_t)v6, .len = (uint8_t)len };
			*parent = _nparents[v6];
			if (_pick(10)) {
				*parent = _parent(v6);
				const struct block *b = &_parents[v6][*parent];
				p.addr = b->base | (_rand128() & ~_mask(b->len, width));
			} else {
				p.addr = _unicast(v6);
			}
			p.addr &= _mask(len, width);
			if (_seen_add(&p) == 0)
				return p;
		}
	}
}

/* A new prefix of length LEN in block PARENT when it fits there, else anywhere: 0, or -1 when none was found. */
static int _sibling(int v6, unsigned parent, unsigned len, struct prefix *out)
{
	unsigned width = v6 ? 128 : 32;

	for (int tries = 0; tries < 8; tries++) {
		struct prefix p = { .v6 = (uint8_t)v6, .len = (uint8_t)len };
		if (parent < _nparents[v6] && _parents[v6][parent].len <= len)
			p.addr = _parents[v6][parent].base | (_rand128() & ~_mask(_parents[v6][parent].len, width));
		else
			p.addr = _unicast(v6);
		p.addr &= _mask(len, width);
		if (_seen_add(&p) == 0) {
			*out = p;
			return 0;
		}
	}
	return -1;
}

static unsigned _kind(void)
{
	unsigned sum = 0, r;

	for (unsigned i = 0; i < LEN(_kinds); i++)
		sum += _kinds[i].weight;
	r = _pick(sum);
	for (unsigned i = 0; i < LEN(_kinds); i++) {
		if (r < _kinds[i].weight)
			return i;
		r -= _kinds[i].weight;
	}
	return 0;
}

static const char *_protos(unsigned protos)
{
	return protos == (TCP | UDP) ? "{ tcp, udp }" : protos == UDP ? "udp" : "tcp";
}

static void _print_ports(const struct service_kind *k)
{
	if (k->name)
		printf(" port $%s", k->name);
	else if (k->ports)
		printf(" port %s", k->ports);
}

/* More specific first; IPv6 lengths count a quarter, so the families interleave; stable. */
static int _rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	unsigned kx = x->p[0].v6 ? x->p[0].len / 4 : x->p[0].len, ky = y->p[0].v6 ? y->p[0].len / 4 : y->p[0].len;

	if (kx != ky)
		return kx > ky ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* A source to block: a host, a /24, or a shorter block; one in twenty IPv6. */
static void _print_source(void)
{
	struct prefix p = { .v6 = _pick(20) == 0 };
	unsigned r = _pick(100);

	p.len = (uint8_t)(p.v6 ? (r < 50 ? 48 : 64) : r < 45 ? 32 : r < 85 ? 24 : 16 + _pick(8));
	p.addr = _unicast(p.v6) & _mask(p.len, p.v6 ? 128 : 32);
	_print_prefix(stdout, &p);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ 0 },
	};
	unsigned long n, seed = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			_state ^= seed * 0xd1b54a32d192ed03ull;
			break;
		default:
			return 1;
		}
	}
	if (optind != argc - 1 || (n = strtoul(argv[optind], NULL, 0)) == 0) {
		fprintf(stderr, "usage: genroutes RULES [--seed N]\n");
		return 1;
	}
	unsigned long nblock = n * 3 / 100, nboth = n / 50 < 200 ? n / 50 : 200;
	if (nblock + nboth > n)
		nblock = nboth = 0;
	unsigned long ndst = n - nblock - nboth, nrules = 0;
	unsigned n4 = (unsigned)(n / 128 < 8 ? 8 : n / 128 > 4096 ? 4096 : n / 128);
	unsigned n6 = n4 / 4 < 4 ? 4 : n4 / 4;
	struct rule *rules = calloc(ndst, sizeof(*rules));

	for (_seen.cap = 1024; _seen.cap < 2 * (ndst + nboth) + 1024; _seen.cap <<= 1)
		;
	if (!rules || !(_seen.v = calloc(_seen.cap, sizeof(struct prefix))))
		return 1;
	_make_parents(n4, n6);

	while (nrules < ndst) {
		int v6 = _pick(5) == 0;
		unsigned parent, taken = 0, nk = _pick(100) < 70 ? 1 : _pick(100) < 73 ? 2 : 3;
		struct rule r = { .np = 1 };
		r.p[0] = _dst(v6, &parent);
		/* One in twenty: a set with another prefix of the same block and length. */
		if (_pick(20) == 0 && _sibling(v6, parent, r.p[0].len, &r.p[1]) == 0)
			r.np = 2;
		for (unsigned i = 0; i < nk && nrules < ndst; i++) {
			unsigned k = _kind(), tries = 0;
			/* Disjoint ports per prefix, so that none of its rules shadows another. */
			while (i && (taken & 1u << _kinds[k].class || !_kinds[k].ports) && ++tries < 16)
				k = _kind();
			if (tries == 16)
				break;
			taken |= 1u << _kinds[k].class;
			unsigned a = _pick(100);
			r.kind = (uint8_t)k;
			r.action = a < 78 ? ACT_SERVICE : a < 88 ? ACT_SERVICE_OR_PASS : a < 96 ? ACT_DROP : ACT_PASS;
			/* A block's kind of service goes to the same service, mostly. */
			r.svc = (uint8_t)((parent * 31 + k * 7 + (_pick(4) == 0 ? _pick(SERVICES) : 0)) % SERVICES);
			r.seq = (uint32_t)nrules;
			rules[nrules++] = r;
			if (!_kinds[k].ports)
				break; /* every port: the prefix's only rule */
		}
	}
	qsort(rules, nrules, sizeof(*rules), _rule_cmp);

	printf("# generated by genroutes: %lu rules (%lu blocklist, %lu source and destination), seed %lu\n", n,
	       nblock, nboth, seed);
	for (unsigned i = 0; i < LEN(_kinds); i++)
		if (_kinds[i].name)
			printf("define %s = %s\n", _kinds[i].name, _kinds[i].ports);
	for (unsigned s = 0; s < SERVICES; s++)
		printf("service svc%u\n", s);

	for (unsigned long i = 0; i < nblock; i++) {
		unsigned r = _pick(10);
		printf("match %s src ", r < 5 ? "{ tcp, udp }" : "tcp");
		if (r < 8) {
			_print_source();
		} else {
			printf("{ ");
			for (unsigned j = 0, m = 2 + _pick(6); j < m; j++) {
				_print_source();
				printf(j + 1 < m ? ", " : " }");
			}
		}
		printf("%s -> drop\n", r >= 5 && r < 8 ? " port $web_ports" : "");
	}
	/* A partner's network to one of the prefixes above, on an administrative port. */
	static const char *const admin[] = { "22", "3389", "$db_ports", "443" };
	for (unsigned long i = 0; i < nboth; i++) {
		const struct rule *d = &rules[_pick((unsigned)nrules)];
		struct prefix s = { .v6 = d->p[0].v6, .len = (uint8_t)(d->p[0].v6 ? 48 : 24 + 4 * _pick(3)) };
		s.addr = _unicast(s.v6) & _mask(s.len, s.v6 ? 128 : 32);
		printf("match tcp src ");
		_print_prefix(stdout, &s);
		printf(" dst ");
		_print_prefix(stdout, &d->p[0]);
		printf(" port %s -> service svc%u\n", admin[_pick(4)], _pick(SERVICES));
	}
	for (unsigned long i = 0; i < nrules; i++) {
		const struct rule *r = &rules[i];
		const struct service_kind *k = &_kinds[r->kind];
		printf("match %s dst ", _protos(k->protos));
		if (r->np == 2)
			printf("{ ");
		_print_prefix(stdout, &r->p[0]);
		if (r->np == 2) {
			printf(", ");
			_print_prefix(stdout, &r->p[1]);
			printf(" }");
		}
		_print_ports(k);
		switch (r->action) {
		case ACT_SERVICE:
			printf(" -> service svc%u\n", r->svc);
			break;
		case ACT_SERVICE_OR_PASS:
			printf(" -> service svc%u or pass\n", r->svc);
			break;
		case ACT_DROP:
			printf(" -> drop\n");
			break;
		default:
			printf(" -> pass\n");
		}
	}
	free(rules);
	free(_seen.v);
	free(_parents[0]);
	free(_parents[1]);
	return 0;
}
