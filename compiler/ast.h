/* The abstract syntax tree: what the parser builds, before any check. */
#ifndef STEER_AST_H
#define STEER_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "decision.h"
#include "source.h"

enum expr_kind {
	EXPR_ADDR, /* address or prefix, text as written */
	EXPR_NUMBER, /* a port */
	EXPR_RANGE, /* a port range a-b */
	EXPR_PROTO, /* tcp or udp */
	EXPR_NAME, /* an interface name */
	EXPR_VAR, /* $name */
	EXPR_SET, /* { ... } */
};

struct expr {
	struct expr *next; /* next element of the enclosing set */
	struct location loc;
	enum expr_kind kind;
	union {
		const char *text; /* ADDR as written; NAME; VAR without '$' */
		uint64_t num; /* NUMBER, saturated at UINT64_MAX */
		struct {
			uint64_t lo, hi;
		} range;
		uint8_t proto; /* PROTO_TCP or PROTO_UDP */
		struct expr *elems; /* SET */
	};
};

/* ADDR:PORT or [ADDR6]:PORT. */
struct endpoint {
	struct location loc, addr_loc, port_loc;
	const char *addr;
	bool bracketed;
	bool no_port; /* written without ":PORT" */
	uint64_t port;
};

/* One "PROTO ADDR:PORT" of a service declaration. */
struct sockdecl {
	struct sockdecl *next;
	struct location loc;
	uint8_t proto;
	struct endpoint ep;
};

enum matcher_kind { M_DST, M_SRC, M_PORT, M_SPORT, M_IIF, M__COUNT };

struct matcher {
	struct matcher *next;
	enum matcher_kind kind;
	struct location loc; /* the keyword */
	struct expr *value;
};

/* One entry of "forward sni|host { ... }": "NAME": ADDR:PORT, or default: ADDR:PORT | drop. */
struct fwd_entry {
	struct fwd_entry *next;
	struct location loc, key_loc;
	const char *name; /* the string; NULL for a bare key (only "default" is one) */
	const char *key; /* the bare key as written */
	bool drop; /* "default: drop" */
	struct endpoint ep;
};

struct action {
	enum action_kind kind;
	struct location loc;
	const char *service; /* ACT_SERVICE */
	struct location service_loc;
	enum action_kind fallback; /* ACT_SERVICE: ACT_DROP (default) or ACT_PASS */
	struct endpoint *forward; /* ACT_FORWARD to one upstream */
	const char *forward_by; /* ACT_FORWARD by a name: "sni" or "host" as written, else NULL */
	struct location forward_by_loc;
	struct fwd_entry *forward_map; /* its entries, in order (an expect's verdict has none) */
};

/* "expect PROTO SRC -> DST [iif NAME] : VERDICT", kept out of line: statements stay small. */
struct expect_stmt {
	uint8_t proto;
	struct endpoint src, dst;
	const char *iif; /* NULL: none */
	struct location iif_loc;
	struct action verdict; /* ACT_SERVICE, ACT_DROP or ACT_PASS */
};

enum stmt_kind { STMT_DEFINE, STMT_INCLUDE, STMT_SERVICE, STMT_MATCH, STMT_EXPECT };

struct stmt {
	struct stmt *next;
	struct location loc;
	enum stmt_kind kind;
	union {
		struct {
			const char *name;
			struct location name_loc;
			struct expr *value;
		} define;
		struct {
			const char *path;
			struct location path_loc;
		} include;
		struct {
			const char *name;
			struct location name_loc;
			struct sockdecl *socks;
		} service;
		struct {
			struct expr *proto;
			struct matcher *matchers;
			struct action action;
		} match;
		struct expect_stmt *expect;
	};
};

/* A parsed policy: statements in file order with includes spliced in. */
struct policy_ast {
	struct arena arena;
	struct source_set sources;
	struct stmt *stmts;
};

const char *matcher_name(enum matcher_kind k);
void policy_ast_free(struct policy_ast *ast);

#endif
