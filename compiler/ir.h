/*
 * The normalised IR: each rule as sets of prefixes per family and port
 * intervals, sorted and merged. Every later stage (lints, evaluator, optimiser,
 * emitter) reads only this.
 */
#ifndef STEER_IR_H
#define STEER_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "arena.h"
#include "ast.h"
#include "source.h"

#define FAM_BIT(f) (1u << (f))
#define FAMS_ALL (FAM_BIT(FAM_V4) | FAM_BIT(FAM_V6))

struct port_range {
	uint16_t lo, hi;
};

/* Sorted, no element inside another. n == 0 means any. */
struct pfx_list {
	struct prefix *v;
	uint32_t n;
};

/* Sorted, disjoint, not adjacent. n == 0 means any. */
struct port_list {
	struct port_range *v;
	uint32_t n;
};

/* Sorted interface indexes into ir_policy.ifaces. n == 0 means any. */
struct iif_list {
	uint32_t *v;
	uint32_t n;
};

struct ir_match {
	uint8_t protos; /* PROTO_TCP | PROTO_UDP */
	uint8_t families; /* FAM_BIT(FAM_V4) | FAM_BIT(FAM_V6) */
	struct pfx_list dst[FAM__COUNT], src[FAM__COUNT];
	struct port_list dport, sport;
	struct iif_list iif;
};

struct ir_action {
	enum action_kind kind; /* ACT_SERVICE, ACT_DROP, ACT_PASS or ACT_FORWARD */
	uint32_t service; /* ACT_SERVICE: index into ir_policy.services */
	enum action_kind fallback; /* ACT_SERVICE without a socket: ACT_DROP or ACT_PASS */
	uint32_t forward; /* ACT_FORWARD: index into ir_policy.forwards */
};

/* A name of a forward map: exact, or "*.SUFFIX" for the names below SUFFIX. */
struct ir_fwd_name {
	const char *name; /* lower case, without "*." */
	bool wildcard;
	struct upstream up;
};

/* One forward action: to an upstream, or by the name the connection's first bytes give. */
struct ir_forward {
	enum forward_by by;
	struct upstream up; /* FWD_STATIC: the upstream; a map: its default (drop unless written) */
	struct ir_fwd_name *names; /* a map's names, as written */
	uint32_t nnames;
	struct location loc; /* its first use */
	uint8_t families; /* FAM_BIT()s of the rules that use it: the proxy's sockets */
};

struct ir_rule {
	uint32_t id; /* 0-based, in file order */
	struct location loc;
	struct ir_match m;
	struct ir_action act;
};

/* Where a service's socket listens, from "service NAME = PROTO ADDR:PORT". */
struct ir_sockaddr {
	uint8_t proto;
	uint8_t family;
	u128 addr;
	uint16_t port;
	struct location loc;
};

struct ir_service {
	const char *name;
	struct location loc;
	struct ir_sockaddr *socks;
	uint32_t nsocks;
	uint8_t used_protos; /* protocols the rules steer to it */
	uint8_t used_slots; /* bit (udp ? 2 : 0) + (IPv6 ? 1 : 0): what the rules steer to it */
	uint32_t nrules; /* rules whose action names it */
};

struct ir_expect {
	struct location loc;
	struct tuple t;
	const char *iif_name; /* as written, NULL when none */
	struct ir_action want; /* ACT_SERVICE, ACT_DROP, ACT_PASS or ACT_FORWARD */
	struct ir_forward want_forward; /* ACT_FORWARD: the upstream, or by which name (its names unused) */
};

struct ir_policy {
	struct arena arena;
	const char *path; /* the top-level policy file */
	const struct source *source; /* its text */
	struct ir_rule *rules;
	uint32_t nrules;
	struct ir_service *services;
	uint32_t nservices;
	const char **ifaces;
	uint32_t nifaces;
	struct ir_expect *expects;
	uint32_t nexpects;
	struct ir_forward *forwards; /* the distinct forward actions: identical ones are one */
	uint32_t nforwards;
};

/* Normalises in place: sorts, drops covered prefixes, merges ranges. Returns the new count. */
uint32_t ir_pfx_normalize(struct prefix *v, uint32_t n);
uint32_t ir_ports_normalize(struct port_range *v, uint32_t n);

bool ir_pfx_list_contains(const struct pfx_list *l, u128 a);
bool ir_ports_contains(const struct port_list *l, uint16_t port);
bool ir_iif_contains(const struct iif_list *l, uint32_t iif);

/* Index of a named interface, or IIF_NONE. */
uint32_t ir_iface_lookup(const struct ir_policy *p, const char *name);
/* Index of a service by name, or UINT32_MAX. */
uint32_t ir_service_lookup(const struct ir_policy *p, const char *name);

/* "FILE:LINE", as eval and the emitter name rules. */
int ir_rule_where(const struct ir_rule *r, char *buf, size_t len);
/* Prints the normalised IR, one rule per block (steer compile --emit ir). */
void ir_print(FILE *f, const struct ir_policy *p);
void ir_action_print(FILE *f, const struct ir_policy *p, const struct ir_action *a);
/* "forward 127.0.0.1:9000", "forward [::1]:9000", "forward sni" or "forward host". */
void ir_forward_print(FILE *f, const struct ir_forward *fw);
/* Whether two forwards go to the same places by the same names, in the same order. */
bool ir_forward_same(const struct ir_forward *a, const struct ir_forward *b);
/* Whether a forward verdict is what an expect wants: the same upstream, or forwarding by the same name. */
bool ir_forward_matches(const struct ir_forward *got, const struct ir_forward *want);
void ir_policy_free(struct ir_policy *p);

#endif
