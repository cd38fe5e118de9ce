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

#include "cleanup.h"
#include "error.h"

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

/* Loads the object with IIF bound to ifindex 0, sharing the sockets map once it exists. */
static int _load(struct testrun *tr, const char *iif)
{
	const struct built_manifest *m = &tr->b->m;
	_cleanup_free_ uint32_t *slots = calloc(m->nservices + 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *ifindex = calloc(m->nifaces + 1, sizeof(uint32_t));
	int persistent[LOADER_NPERSISTENT];
	int r;

	/* The sockets map once it exists; the other maps outliving a program are of no use to a test run. */
	for (size_t i = 0; i < LOADER_NPERSISTENT; i++)
		persistent[i] = -1;
	persistent[LOADER_SOCKETS] = tr->sockets_fd;
	if (!slots || !ifindex)
		return error_set(-ENOMEM, "cannot allocate: out of memory");
	for (uint32_t s = 0; s < m->nservices; s++)
		slots[s] = STEER_SLOTS_PER_SERVICE * s;
	for (uint32_t i = 0; i < m->nifaces; i++)
		ifindex[i] = iif && strcmp(m->ifaces[i], iif) == 0 ? 0 : 0x7fff0000u + i;
	struct load_opts lo = { .service_slot = slots, .ifindex = ifindex, .persistent_fd = persistent, .verbose = tr->verbose };
	loader_close(&tr->prog);
	if ((r = loader_load(tr->b, &lo, &tr->prog)) < 0)
		return r;
	tr->prog_fd = bpf_program__fd(loader_prog(&tr->prog, STEER_NAME(STEER_PROG_LOOKUP)));
	tr->hits_fd = bpf_map__fd(loader_map(&tr->prog, STEER_NAME(STEER_MAP_HITS)));
	free(tr->iif);
	tr->iif = iif ? strdup(iif) : NULL;
	if (tr->sockets_fd < 0 &&
	    (tr->sockets_fd = dup(bpf_map__fd(loader_map(&tr->prog, loader_persistent[LOADER_SOCKETS].map)))) < 0)
		return error_set(-errno, "cannot keep the sockets map: %s", strerror(errno));
	return 0;
}

int testrun_open(const struct built_policy *b, const struct testrun_opts *o, struct testrun *tr)
{
	const struct built_manifest *m = &b->m;
	int r;

	memset(tr, 0, sizeof(*tr));
	tr->b = b;
	tr->verbose = o->verbose;
	tr->prog_fd = tr->hits_fd = tr->sockets_fd = -1;
	if (unshare(CLONE_NEWNET) < 0)
		return error_set(-errno, "cannot create a private network namespace for --bpf: %s", strerror(errno));
	if ((r = _load(tr, o->iif)) < 0)
		return r;

	tr->cookies = calloc((size_t)m->nservices * STEER_SLOTS_PER_SERVICE + 1, sizeof(uint64_t));
	tr->fds = calloc((size_t)m->nservices * STEER_SLOTS_PER_SERVICE + 1, sizeof(int));
	if (!tr->cookies || !tr->fds)
		return error_set(-ENOMEM, "cannot allocate: out of memory");
	for (uint32_t s = 0; s < m->nservices; s++) {
		for (uint32_t k = 0; k < STEER_SLOTS_PER_SERVICE; k++) {
			uint8_t proto = k & STEER_SLOT_UDP ? PROTO_UDP : PROTO_TCP;
			int fam = k & STEER_SLOT_V6 ? FAM_V6 : FAM_V4;
			int fd = _throwaway(fam, proto);
			uint32_t slot = STEER_SLOTS_PER_SERVICE * s + k;
			uint64_t val;
			socklen_t len = sizeof(uint64_t);
			if (fd < 0)
				return error_set(fd, "cannot create a socket for a service: %s", strerror(-fd));
			tr->fds[tr->nfds++] = fd;
			val = (uint64_t)fd;
			if (bpf_map_update_elem(tr->sockets_fd, &slot, &val, BPF_ANY) < 0)
				return error_set(-errno, "cannot register a test socket: %s", strerror(errno));
			if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &tr->cookies[slot], &len) < 0)
				return error_set(-errno, "cannot read a socket's cookie: %s", strerror(errno));
		}
	}
	tr->ncpus = libbpf_num_possible_cpus();
	tr->percpu = calloc(tr->ncpus > 0 ? (size_t)tr->ncpus : 1, sizeof(uint64_t));
	tr->before = calloc((size_t)m->nrules + 1, sizeof(uint64_t));
	tr->after = calloc((size_t)m->nrules + 1, sizeof(uint64_t));
	if (tr->ncpus <= 0 || !tr->percpu || !tr->before || !tr->after)
		return error_set(-ENOMEM, "cannot allocate: out of memory");
	return 0;
}

int testrun_bind_iif(struct testrun *tr, const char *iif)
{
	if ((!iif && !tr->iif) || (iif && tr->iif && strcmp(iif, tr->iif) == 0))
		return 0;
	return _load(tr, iif);
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

/* Every rule's counter, summed over CPUs: batched, a syscall per few thousand rules rather than per rule. */
static void _snapshot(struct testrun *tr, uint64_t *out)
{
	uint32_t n = tr->b->m.nrules + 1;

	if (loader_read_counters(tr->hits_fd, n, out) == 0)
		return;
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
		for (uint32_t i = 0; i < tr->b->m.nservices * STEER_SLOTS_PER_SERVICE; i++) {
			if (tr->cookies[i] != ctx.cookie)
				continue;
			out->kind = ACT_SERVICE;
			out->service = i / STEER_SLOTS_PER_SERVICE;
			if (tr->b->m.services[out->service].forward) {
				out->kind = ACT_FORWARD;
				out->forward = out->service - built_first_forward(&tr->b->m);
				out->service = 0;
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
	for (uint32_t i = 0; i < tr->b->m.nrules; i++)
		if (tr->after[i] != tr->before[i])
			out->rule = i;
	return 0;
}

int testrun_verdict_hint(struct testrun *tr, const struct tuple *t, int64_t hint, struct verdict *out)
{
	uint32_t c = hint == RULE_NONE ? tr->b->m.nrules : (uint32_t)hint;
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
	free(tr->iif);
	if (tr->sockets_fd >= 0)
		close(tr->sockets_fd);
	loader_close(&tr->prog);
	memset(tr, 0, sizeof(*tr));
}
