#include "testrun.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clang.h"
#include "cleanup.h"

/* A listening or bound socket on the wildcard address, port chosen by the kernel. */
static int _throwaway(int family, uint8_t proto)
{
	int fam = family == FAM_V4 ? AF_INET : AF_INET6, one = 1;
	_cleanup_close_ int fd = socket(fam, (proto == PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)fam };

	if (fd < 0)
		return -errno;
	/* Only IPv4 lookups reach the IPv4 slot, so IPv6 ones must not serve both. */
	if (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0)
		return -errno;
	if (proto == PROTO_TCP && listen(fd, 1) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int _fail(char **err, int r, const char *what)
{
	if (asprintf(err, "%s: %s", what, strerror(-r)) < 0)
		abort();
	return r;
}

/* Loads the object with IIF bound to ifindex 0, sharing the sockets map once it exists. */
static int _load(struct testrun *tr, const char *iif, char **err)
{
	const struct ir_policy *p = tr->p;
	_cleanup_free_ uint32_t *slots = calloc(p->nservices + 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *ifindex = calloc(p->nifaces + 1, sizeof(uint32_t));
	char *lerr = NULL;
	int r;

	if (!slots || !ifindex)
		return _fail(err, -ENOMEM, "cannot allocate");
	for (uint32_t s = 0; s < p->nservices; s++)
		slots[s] = 4 * s;
	for (uint32_t i = 0; i < p->nifaces; i++)
		ifindex[i] = iif && strcmp(p->ifaces[i], iif) == 0 ? 0 : 0x7fff0000u + i;
	struct load_opts lo = {
		.service_slot = slots, .nservices = p->nservices, .ifindex = ifindex, .nifaces = p->nifaces,
		.sockets_fd = tr->sockets_fd, .verbose = tr->verbose, .data = tr->data, .data_chunks = tr->data_chunks,
	};
	loader_close(&tr->prog);
	r = loader_load(tr->obj, tr->objlen, &lo, &tr->prog, &lerr);
	if (r < 0) {
		if (asprintf(err, "the kernel refused the program: %s", lerr) < 0)
			abort();
		free(lerr);
		return r;
	}
	tr->prog_fd = bpf_program__fd(tr->prog.prog);
	tr->hits_fd = bpf_map__fd(tr->prog.hits);
	free(tr->iif);
	tr->iif = iif ? strdup(iif) : NULL;
	if (tr->sockets_fd < 0 && (tr->sockets_fd = dup(bpf_map__fd(tr->prog.sockets))) < 0)
		return _fail(err, -errno, "cannot keep the sockets map");
	return 0;
}

int testrun_open(const struct ir_policy *p, const struct testrun_opts *o, struct diag_list *diags, struct testrun *tr,
		 char **err)
{
	struct clang_opts co = { .clang = o->clang, .verbose = o->verbose };
	struct backend_program bp;
	int r;

	memset(tr, 0, sizeof(*tr));
	*err = NULL;
	tr->p = p;
	tr->verbose = o->verbose;
	tr->prog_fd = tr->hits_fd = tr->sockets_fd = -1;
	r = backend_build(p, o->strategy, &bp);
	if (r < 0)
		return _fail(err, r, "cannot build the program");
	r = clang_compile(p, &bp, &co, diags, &tr->obj, &tr->objlen);
	tr->data = bp.data;
	tr->data_chunks = bp.data_chunks;
	bp.data = NULL;
	backend_program_free(&bp);
	if (r < 0)
		return r == -EINVAL ? r : _fail(err, r, "cannot run clang");

	if (unshare(CLONE_NEWNET) < 0)
		return _fail(err, -errno, "cannot create a private network namespace (--bpf needs root)");
	if ((r = _load(tr, o->iif, err)) < 0)
		return r;

	tr->cookies = calloc((size_t)p->nservices * 4 + 1, sizeof(uint64_t));
	tr->fds = calloc((size_t)p->nservices * 4 + 1, sizeof(int));
	if (!tr->cookies || !tr->fds)
		return _fail(err, -ENOMEM, "cannot allocate");
	for (uint32_t s = 0; s < p->nservices; s++) {
		for (uint32_t k = 0; k < 4; k++) {
			uint8_t proto = k < 2 ? PROTO_TCP : PROTO_UDP;
			int fam = k % 2 ? FAM_V6 : FAM_V4;
			int fd = _throwaway(fam, proto);
			uint32_t slot = 4 * s + k;
			uint64_t val;
			socklen_t len = sizeof(uint64_t);
			if (fd < 0)
				return _fail(err, fd, "cannot create a socket for a service");
			tr->fds[tr->nfds++] = fd;
			val = (uint64_t)fd;
			if (bpf_map_update_elem(tr->sockets_fd, &slot, &val, BPF_ANY) < 0)
				return _fail(err, -errno, "cannot register a test socket");
			if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &tr->cookies[slot], &len) < 0)
				return _fail(err, -errno, "cannot read a socket's cookie");
		}
	}
	tr->ncpus = libbpf_num_possible_cpus();
	tr->percpu = calloc(tr->ncpus > 0 ? (size_t)tr->ncpus : 1, sizeof(uint64_t));
	tr->before = calloc((size_t)p->nrules + 1, sizeof(uint64_t));
	tr->after = calloc((size_t)p->nrules + 1, sizeof(uint64_t));
	if (tr->ncpus <= 0 || !tr->percpu || !tr->before || !tr->after)
		return _fail(err, -ENOMEM, "cannot allocate");
	return 0;
}

int testrun_bind_iif(struct testrun *tr, const char *iif, char **err)
{
	if ((!iif && !tr->iif) || (iif && tr->iif && strcmp(iif, tr->iif) == 0))
		return 0;
	return _load(tr, iif, err);
}

int testrun_expect(void *ctx, const struct ir_expect *x, struct verdict *out)
{
	struct testrun *tr = ctx;
	char *err = NULL;
	int r = testrun_bind_iif(tr, x->iif_name, &err);

	if (r < 0) {
		fprintf(stderr, "steer: error: %s\n", err);
		free(err);
		return r;
	}
	return testrun_verdict(tr, &x->t, true, out);
}

uint64_t testrun_hits(struct testrun *tr, uint32_t rule)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(tr->hits_fd, &rule, tr->percpu) < 0)
		return 0;
	for (int c = 0; c < tr->ncpus; c++)
		sum += tr->percpu[c];
	return sum;
}

/* Every rule's counter, summed over CPUs: batched, a syscall per 64k rules rather than per rule. */
static void _snapshot(struct testrun *tr, uint64_t *out)
{
	enum { BATCH = 65536 };
	uint32_t n = tr->p->nrules + 1, done = 0, next = 0;
	_cleanup_free_ uint32_t *keys = malloc(BATCH * sizeof(uint32_t));
	_cleanup_free_ uint64_t *vals = malloc((size_t)BATCH * (size_t)tr->ncpus * sizeof(uint64_t));

	if (keys && vals) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		bool first = true;
		while (done < n) {
			uint32_t count = n - done < BATCH ? n - done : BATCH, in = next;
			int r = bpf_map_lookup_batch(tr->hits_fd, first ? NULL : &in, &next, keys, vals, &count, &bo);
			if ((r < 0 && errno != ENOENT) || count == 0)
				break;
			for (uint32_t k = 0; k < count; k++) {
				uint64_t sum = 0;
				for (int c = 0; c < tr->ncpus; c++)
					sum += vals[(size_t)k * tr->ncpus + c];
				if (keys[k] < n)
					out[keys[k]] = sum;
			}
			done += count;
			first = false;
			if (r < 0)
				break;
		}
		if (done >= n)
			return;
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = testrun_hits(tr, i);
}

/* One run of the program on T: the verdict without the rule. */
static int _run(struct testrun *tr, const struct tuple *t, struct verdict *out)
{
	struct bpf_sk_lookup ctx = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx));

	ctx.family = t->family == FAM_V4 ? AF_INET : AF_INET6;
	ctx.protocol = t->proto == PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	if (t->family == FAM_V4) {
		addr_to_bytes(t->src, FAM_V4, &ctx.remote_ip4);
		addr_to_bytes(t->dst, FAM_V4, &ctx.local_ip4);
	} else {
		addr_to_bytes(t->src, FAM_V6, ctx.remote_ip6);
		addr_to_bytes(t->dst, FAM_V6, ctx.local_ip6);
	}
	ctx.remote_port = htons(t->sport);
	ctx.local_port = t->dport;
	if (bpf_prog_test_run_opts(tr->prog_fd, &opts) < 0)
		return -errno;

	out->rule = RULE_NONE;
	out->service = 0;
	if (opts.retval == SK_DROP) {
		out->kind = ACT_DROP;
	} else if (ctx.cookie) {
		out->kind = ACT_PASS;
		for (uint32_t i = 0; i < tr->p->nservices * 4; i++) {
			if (tr->cookies[i] == ctx.cookie) {
				out->kind = ACT_SERVICE;
				out->service = i / 4;
			}
		}
	} else {
		out->kind = ACT_PASS;
	}
	return 0;
}

int testrun_verdict(struct testrun *tr, const struct tuple *t, bool want_rule, struct verdict *out)
{
	int r;

	if (want_rule)
		_snapshot(tr, tr->before);
	if ((r = _run(tr, t, out)) < 0 || !want_rule)
		return r;
	_snapshot(tr, tr->after);
	for (uint32_t i = 0; i < tr->p->nrules; i++)
		if (tr->after[i] != tr->before[i])
			out->rule = i;
	return 0;
}

int testrun_verdict_hint(struct testrun *tr, const struct tuple *t, int64_t hint, struct verdict *out)
{
	uint32_t c = hint == RULE_NONE ? tr->p->nrules : (uint32_t)hint;
	uint64_t before = testrun_hits(tr, c);
	int r = _run(tr, t, out);

	if (r < 0)
		return r;
	if (testrun_hits(tr, c) == before + 1) {
		out->rule = hint;
		return 0;
	}
	/* Not the rule expected: find which, the slow way (the program is deterministic). */
	return testrun_verdict(tr, t, true, out);
}

void testrun_close(struct testrun *tr)
{
	for (size_t i = 0; i < tr->nfds; i++)
		close(tr->fds[i]);
	free(tr->fds);
	free(tr->cookies);
	free(tr->percpu);
	free(tr->before);
	free(tr->after);
	free(tr->obj);
	free(tr->data);
	free(tr->iif);
	if (tr->sockets_fd >= 0)
		close(tr->sockets_fd);
	loader_close(&tr->prog);
	memset(tr, 0, sizeof(*tr));
}
