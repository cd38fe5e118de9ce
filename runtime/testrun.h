/*
 * Verdicts from the compiled program in the kernel, without sending a packet:
 * the program is loaded in a private network namespace with one throwaway
 * socket per service, protocol and family, and run with BPF_PROG_TEST_RUN.
 */
#ifndef STEER_TESTRUN_H
#define STEER_TESTRUN_H

#include <stdint.h>

#include "built.h"
#include "decision.h"
#include "loader.h"

struct testrun_opts {
	bool verbose;
	/*
	 * The interface test runs arrive on: BPF_PROG_TEST_RUN always reports
	 * ifindex 0, so this name is bound to 0 and every other name to an index
	 * no interface has. NULL: no named interface matches.
	 */
	const char *iif;
};

struct testrun {
	const struct built_policy *b; /* borrowed: kept to reload with another interface bound */
	bool verbose;
	char *iif; /* the interface bound to ifindex 0, or NULL */
	struct rt_program prog;
	int prog_fd, hits_fd, sockets_fd;
	uint64_t *cookies; /* [service * 4 + slot] */
	int *fds;
	size_t nfds;
	int ncpus;
	uint64_t *before, *after, *percpu; /* counter snapshots */
};

/*
 * Moves this process into a new network namespace, creates the sockets and
 * loads B's program. 0, or -errno with the message set (EPERM: not root).
 */
int testrun_open(const struct built_policy *b, const struct testrun_opts *o, struct testrun *tr);
/*
 * The program's verdict for T. With WANT_RULE the deciding rule is found from
 * the counters (a read of every rule's); otherwise out->rule is RULE_NONE.
 */
int testrun_verdict(struct testrun *tr, const struct tuple *t, bool want_rule, struct verdict *out);
/*
 * The same with the deciding rule, when it is most likely HINT (e.g. the
 * reference evaluator's answer): two counter reads when it is, a full scan
 * when it is not. For large policies, where a full scan per run is slow.
 */
int testrun_verdict_hint(struct testrun *tr, const struct tuple *t, int64_t hint, struct verdict *out);
/* Reloads the program with interface IIF (or none) as the one test runs arrive on. */
int testrun_bind_iif(struct testrun *tr, const char *iif);
/* Times rule RULE (or the no-match counter, at nrules) has decided so far. */
uint64_t testrun_hits(struct testrun *tr, uint32_t rule);
void testrun_close(struct testrun *tr);

#endif
