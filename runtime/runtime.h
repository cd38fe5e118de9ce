/*
 * What the CLI asks of the kernel: apply a built policy, register and
 * unregister sockets, report status, detach. Each call opens the state
 * (state.h), which finishes whatever an interrupted command left, takes its
 * lock, and leaves the state as it was when it fails.
 *
 * Every call returns 0 or -errno, with the message in error.h's channel:
 * -EINVAL when the request itself is wrong (the policy does not fit the
 * target, the socket is refused); anything else when the system refused.
 */
#ifndef STEER_RUNTIME_H
#define STEER_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "built.h"
#include "counters.h"
#include "decision.h"
#include "sockinfo.h"
#include "state.h"

struct apply_opts {
	bool verbose; /* the verifier's whole log on a refusal */
};

struct apply_result {
	bool replaced; /* an applied policy was swapped, not a first attach */
	bool unchanged; /* the same built policy was applied already, where it is: nothing was done */
	uint32_t prog_id, link_id;
	uint32_t removed_services; /* services dropped with their sockets */
};

int rt_apply(const struct rt_target *t, const struct built_policy *b, const struct apply_opts *o,
	     struct apply_result *res);

/* Detaches and removes the state; *was_applied false when nothing was applied (not an error). */
int rt_detach(const struct rt_target *t, bool *was_applied);

struct register_opts {
	const char *service;
	bool proxy; /* steer proxy registering its own socket for a forward: the one way to fill a forward's slots */
	pid_t pid; /* with fd: take the descriptor from this process */
	int fd; /* -1: none */
	bool autodetect; /* find the socket by the service's declared address */
};

/* One socket put in place. */
struct registered {
	uint8_t proto, family;
	uint32_t slot;
	uint64_t cookie;
	u128 addr;
	uint16_t port;
	bool dual_stack;
	pid_t pid; /* the process it was taken from, 0 when inherited */
	char comm[32];
	/* Registered, but something will not work: a UDP server that cannot answer from where it was asked. */
	char warning[512];
};

typedef VEC(struct registered) registered_vec;

int rt_register(const struct rt_target *t, const struct register_opts *o, registered_vec *out);

struct unregister_opts {
	const char *service;
	uint8_t proto; /* 0: both */
	int family; /* -1: both */
};

/* Removes the service's sockets; *removed counts the slots that held one. */
int rt_unregister(const struct rt_target *t, const struct unregister_opts *o, unsigned *removed);

/* A socket in one of a service's slots, and who holds it. */
struct status_socket {
	uint8_t proto, family;
	uint32_t slot;
	uint64_t cookie;
	bool found; /* sock_diag found it in the namespace: local and dual_stack are known */
	u128 addr;
	uint16_t port;
	bool dual_stack;
	owner_vec owners;
};

struct status_service {
	const struct built_service *svc; /* in the record */
	uint32_t slot;
	struct status_socket sockets[STEER_SLOTS_PER_SERVICE];
	uint32_t nsockets;
	uint8_t missing; /* used_slots bits no socket can serve */
};

/* An interface the applied policy resolved, as it is now. */
struct status_iface {
	enum { IFACE_OK, IFACE_GONE, IFACE_RENAMED } state; /* its index names no interface, or another one */
	char now[16]; /* IFACE_RENAMED: the name the index has now */
};

struct status_rule {
	uint32_t index;
	struct steer_rule_record rec;
	uint64_t hits;
};

/* Everything status shows, read from the state and checked against the kernel. */
struct rt_status {
	bool applied;
	ino_t netns;
	char dir[PATH_MAX];
	struct applied_state cur; /* the record of the applied policy */
	uint32_t link_id; /* as the kernel reports it; the program is cur.prog_id, the one the link runs */
	VEC(struct status_rule) rules; /* those with hits */
	struct steer_rule_record *records; /* every rule's, cur.m.nrules */
	uint64_t unmatched;
	struct status_service *services; /* cur.m.nservices */
	struct status_iface *ifaces; /* cur.m.nifaces */
	char problem[PATH_MAX + 512]; /* where the state and the kernel disagree; "" when they agree */
	struct counters counters; /* every count, surviving re-applies (counters.h) */
	struct steer_monitors monitors; /* the monitors' slots as the program sees them */
	uint32_t monitors_active; /* and the bit per slot held (the program's .bss) */
	bool proxy_known; /* steer proxy has run here since the policy was applied: proxy holds what it said last */
	bool proxy_running; /* and its pid is still a steer proxy */
	struct steer_proxy_stats proxy;
};

/* The record of the applied policy in OUT, *APPLIED false when none is. 0 or -errno. */
int rt_current(const struct rt_target *t, bool *applied, struct applied_state *out);

/*
 * steer proxy's stats entry (DIR/proxy), created when missing: a map
 * descriptor to write struct steer_proxy_stats to, or -errno.
 */
int rt_proxy_stats_open(const struct rt_target *t);

/* 0 with OUT filled (a disagreement is in out->problem), or -errno. */
int rt_status(const struct rt_target *t, struct rt_status *out);
void rt_status_free(struct rt_status *s);

#endif
