/*
 * The vocabulary every stage that decides shares: a connection or datagram as
 * sk_lookup sees it, and the verdict on it. The reference evaluator produces
 * verdicts from the IR, the runtime from the program in the kernel; neither
 * needs the other's types for that.
 */
#ifndef STEER_DECISION_H
#define STEER_DECISION_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

enum proto_bits { PROTO_TCP = 1, PROTO_UDP = 2, PROTO_ALL = 3 };

enum action_kind { ACT_SERVICE, ACT_DROP, ACT_PASS, ACT_FORWARD };

#define IIF_NONE UINT32_MAX /* an interface no rule names */
#define RULE_NONE (-1)

struct tuple {
	uint8_t proto; /* PROTO_TCP or PROTO_UDP */
	uint8_t family;
	u128 src, dst;
	uint16_t sport, dport;
	uint32_t iif; /* index into the policy's interface list, or IIF_NONE */
};

/* Where a forwarded connection goes: one upstream, or nowhere (a map's default may be drop). */
struct upstream {
	bool drop;
	uint8_t family;
	uint16_t port;
	u128 addr;
};

/* How a forward chooses its upstream: one for all, or by the name the first bytes give. */
enum forward_by { FWD_STATIC, FWD_SNI, FWD_HOST };

struct verdict {
	enum action_kind kind; /* ACT_SERVICE, ACT_DROP, ACT_PASS or ACT_FORWARD */
	uint32_t service; /* ACT_SERVICE */
	uint32_t forward; /* ACT_FORWARD: which of the policy's distinct forwards */
	int64_t rule; /* deciding rule id, or RULE_NONE */
};

/* "127.0.0.1:9000", "[::1]:9000" or "drop". */
#define UPSTREAM_STRLEN (PREFIX_STRLEN + 8)
char *upstream_format(const struct upstream *u, char out[UPSTREAM_STRLEN]);

/* "tcp" or "udp" ("{ tcp, udp }" for both, as a policy writes it). */
const char *proto_name(uint8_t proto);

#endif
