/*
 * What the CLI asks of the kernel: apply a policy, register and unregister
 * sockets, report status, detach. Each call opens the state (state.h), takes
 * its lock, and leaves the state as it was when it fails.
 *
 * Return values: 0; -EINVAL when the request itself is wrong (the policy does
 * not fit the target, the socket is refused): *err or DIAGS say why, exit 1;
 * any other -errno when the system refused: *err says why, exit 2.
 */
#ifndef STEER_RUNTIME_H
#define STEER_RUNTIME_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "diag.h"
#include "ir.h"
#include "sockinfo.h"
#include "state.h"

struct apply_opts {
	const char *clang;
	enum strategy strategy;
	bool verbose;
};

struct apply_result {
	bool replaced; /* an applied policy was swapped, not a first attach */
	enum strategy strategy;
	uint32_t prog_id, link_id;
	uint32_t removed_services; /* services dropped with their sockets */
};

int rt_apply(const struct rt_target *t, const struct ir_policy *p, const struct apply_opts *o,
	     struct diag_list *diags, struct apply_result *res, char **err);

int rt_detach(const struct rt_target *t, char **err);

struct register_opts {
	const char *service;
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
};

typedef VEC(struct registered) registered_vec;

int rt_register(const struct rt_target *t, const struct register_opts *o, registered_vec *out, char **err);

struct unregister_opts {
	const char *service;
	uint8_t proto; /* 0: both */
	int family; /* -1: both */
};

/* Removes the service's sockets; *removed counts the slots that held one. */
int rt_unregister(const struct rt_target *t, const struct unregister_opts *o, unsigned *removed, char **err);

/* Everything status shows, as one JSON document (see docs/runtime.md). */
int rt_status(const struct rt_target *t, json_object **out, char **err);

#endif
