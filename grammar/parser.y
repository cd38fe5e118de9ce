/*
 * The policy grammar. A pure parser with locations: every AST node carries its
 * span, syntax errors name what was found and what was expected, and parsing
 * recovers at the end of the statement so one file reports every mistake.
 */
%code requires {
#include <stdint.h>

#include "ast.h"
#include "diag.h"

struct parser_state {
	struct arena *arena;
	struct diag_list *diags;
	struct stmt *head, **tail;
};

#define YYLTYPE_IS_DECLARED 1
typedef struct location YYLTYPE;

/* Spans run from the first to the last symbol; an empty rule sits at the previous end. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                            \
	do {                                                                   \
		if (N) {                                                       \
			(Cur).src = YYRHSLOC(Rhs, 1).src;                      \
			(Cur).line = YYRHSLOC(Rhs, 1).line;                    \
			(Cur).col = YYRHSLOC(Rhs, 1).col;                      \
			(Cur).end_line = YYRHSLOC(Rhs, N).end_line;            \
			(Cur).end_col = YYRHSLOC(Rhs, N).end_col;              \
		} else {                                                       \
			(Cur).src = YYRHSLOC(Rhs, 0).src;                      \
			(Cur).line = (Cur).end_line = YYRHSLOC(Rhs, 0).end_line; \
			(Cur).col = (Cur).end_col = YYRHSLOC(Rhs, 0).end_col;  \
		}                                                              \
	} while (0)

typedef void *yyscan_t;
}

%code provides {
int parse_source(struct source *src, struct arena *arena, struct diag_list *diags, struct stmt **out);
}

%code {
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scanner.h"

int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
int yylex_init_extra(struct scanner_extra *extra, yyscan_t *scanner);
int yylex_destroy(yyscan_t scanner);
void *yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);

static void yyerror(const YYLTYPE *loc, yyscan_t scanner, struct parser_state *ps, const char *msg)
{
	(void)scanner;
	diag_error(ps->diags, loc, "%s", msg);
}

#define NEW(ps, type) ((type *)arena_alloc((ps)->arena, sizeof(type)))

static struct expr *_expr(struct parser_state *ps, enum expr_kind kind, const YYLTYPE *loc)
{
	struct expr *e = NEW(ps, struct expr);

	e->kind = kind;
	e->loc = *loc;
	return e;
}

static struct stmt *_stmt(struct parser_state *ps, enum stmt_kind kind, const YYLTYPE *loc)
{
	struct stmt *s = NEW(ps, struct stmt);

	s->kind = kind;
	s->loc = *loc;
	return s;
}

/* An address written without ":PORT": "::1:80" scans as one IPv6 address, the checker explains the brackets. */
static struct endpoint *_bare_endpoint(struct parser_state *ps, const char *addr, const YYLTYPE *loc)
{
	struct endpoint *ep = NEW(ps, struct endpoint);

	ep->loc = ep->addr_loc = ep->port_loc = *loc;
	ep->addr = addr;
	ep->no_port = true;
	return ep;
}

/* Appends to a singly linked list kept as (head, last). */
/*
 * Lists grow at the front while parsing, one step per item whatever their
 * length (a blocklist set may have a million elements), and are put in
 * written order once, where the construct that holds them is reduced.
 */
#define LIST_PUSH(head, item)                                                  \
	({                                                                     \
		(item)->next = (head);                                         \
		(item);                                                        \
	})
#define LIST_REVERSE(head)                                                     \
	({                                                                     \
		__typeof__(head) _in = (head), _out = NULL;                    \
		while (_in) {                                                  \
			__typeof__(head) _next = _in->next;                    \
			_in->next = _out;                                      \
			_out = _in;                                            \
			_in = _next;                                           \
		}                                                              \
		_out;                                                          \
	})
}

%define api.pure full
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner}
%parse-param {struct parser_state *ps}

%union {
	uint64_t num;
	const char *str;
	uint8_t proto;
	struct expr *expr;
	struct stmt *stmt;
	struct matcher *matcher;
	struct sockdecl *sock;
	struct fwd_entry *fwd;
	struct endpoint *ep;
	struct action action;
	struct expect_stmt *expect;
}

%token NEWLINE "end of line"
%token ARROW "'->'"
%token DEFINE "'define'" INCLUDE "'include'" SERVICE "'service'" MATCH "'match'" EXPECT "'expect'"
%token TCP "'tcp'" UDP "'udp'"
%token DST "'dst'" SRC "'src'" PORT "'port'" SPORT "'sport'" IIF "'iif'"
%token DROP "'drop'" PASS "'pass'" OR "'or'" FORWARD "'forward'"
%token <str> ADDR "address"
%token <num> NUMBER "number"
%token <str> VAR "variable"
%token <str> NAME "name"
%token <str> STRING "string"
%token BADSTRING "unterminated string"
%token JUNK "invalid character"
%token DEEPSET "set nested too deeply"

%type <stmt> statement define_stmt include_stmt service_stmt match_stmt expect_stmt
%type <expr> value elem elems set
%type <matcher> matchers matcher
%type <sock> sockdecls sockdecl
%type <fwd> fwd_entries fwd_entry
%type <ep> endpoint expect_src
%type <expect> expect_dst
%type <proto> proto_kw
%type <action> action verdict opt_fallback
%type <str> opt_iif iif

%%

policy		: %empty
		| policy line
		;

line		: terminator
		| statement terminator
		{
			*ps->tail = $1;
			ps->tail = &$1->next;
		}
		| error terminator	{ yyerrok; }
		;

terminator	: NEWLINE | ';' ;

statement	: define_stmt | include_stmt | service_stmt | match_stmt | expect_stmt ;

define_stmt	: DEFINE NAME '=' value
		{
			$$ = _stmt(ps, STMT_DEFINE, &@$);
			$$->define.name = $2;
			$$->define.name_loc = @2;
			$$->define.value = $4;
		}
		;

include_stmt	: INCLUDE STRING
		{
			$$ = _stmt(ps, STMT_INCLUDE, &@$);
			$$->include.path = $2;
			$$->include.path_loc = @2;
		}
		;

service_stmt	: SERVICE NAME
		{
			$$ = _stmt(ps, STMT_SERVICE, &@$);
			$$->service.name = $2;
			$$->service.name_loc = @2;
		}
		| SERVICE NAME '=' sockdecls
		{
			$$ = _stmt(ps, STMT_SERVICE, &@$);
			$$->service.name = $2;
			$$->service.name_loc = @2;
			$$->service.socks = LIST_REVERSE($4);
		}
		;

sockdecls	: sockdecl
		| sockdecls ',' sockdecl	{ $$ = LIST_PUSH($1, $3); }
		;

sockdecl	: proto_kw endpoint
		{
			$$ = NEW(ps, struct sockdecl);
			$$->loc = @$;
			$$->proto = $1;
			$$->ep = *$2;
		}
		| proto_kw ADDR
		{
			$$ = NEW(ps, struct sockdecl);
			$$->loc = @$;
			$$->proto = $1;
			$$->ep = *_bare_endpoint(ps, $2, &@2);
		}
		;

proto_kw	: TCP	{ $$ = PROTO_TCP; }
		| UDP	{ $$ = PROTO_UDP; }
		;

endpoint	: ADDR ':' NUMBER
		{
			$$ = NEW(ps, struct endpoint);
			$$->loc = @$;
			$$->addr = $1;
			$$->addr_loc = @1;
			$$->port = $3;
			$$->port_loc = @3;
		}
		| '[' ADDR ']' ':' NUMBER
		{
			$$ = NEW(ps, struct endpoint);
			$$->loc = @$;
			$$->addr = $2;
			$$->addr_loc = @2;
			$$->bracketed = true;
			$$->port = $5;
			$$->port_loc = @5;
		}
		;

match_stmt	: MATCH value matchers ARROW action
		{
			$$ = _stmt(ps, STMT_MATCH, &@$);
			$$->match.proto = $2;
			$$->match.matchers = LIST_REVERSE($3);
			$$->match.action = $5;
		}
		;

matchers	: %empty		{ $$ = NULL; }
		| matchers matcher	{ $$ = LIST_PUSH($1, $2); }
		;

matcher		: DST value	{ $$ = NEW(ps, struct matcher); $$->kind = M_DST; $$->loc = @1; $$->value = $2; }
		| SRC value	{ $$ = NEW(ps, struct matcher); $$->kind = M_SRC; $$->loc = @1; $$->value = $2; }
		| PORT value	{ $$ = NEW(ps, struct matcher); $$->kind = M_PORT; $$->loc = @1; $$->value = $2; }
		| SPORT value	{ $$ = NEW(ps, struct matcher); $$->kind = M_SPORT; $$->loc = @1; $$->value = $2; }
		| IIF value	{ $$ = NEW(ps, struct matcher); $$->kind = M_IIF; $$->loc = @1; $$->value = $2; }
		;

value		: elem
		;

elem		: ADDR			{ $$ = _expr(ps, EXPR_ADDR, &@$); $$->text = $1; }
		| NUMBER		{ $$ = _expr(ps, EXPR_NUMBER, &@$); $$->num = $1; }
		| NUMBER '-' NUMBER	{ $$ = _expr(ps, EXPR_RANGE, &@$); $$->range.lo = $1; $$->range.hi = $3; }
		| proto_kw		{ $$ = _expr(ps, EXPR_PROTO, &@$); $$->proto = $1; }
		| NAME			{ $$ = _expr(ps, EXPR_NAME, &@$); $$->text = $1; }
		| VAR			{ $$ = _expr(ps, EXPR_VAR, &@$); $$->text = $1; }
		| set
		;

set		: '{' elems opt_comma '}'	{ $$ = _expr(ps, EXPR_SET, &@$); $$->elems = LIST_REVERSE($2); }
		;

elems		: elem
		| elems ',' elem	{ $$ = LIST_PUSH($1, $3); }
		;

opt_comma	: %empty | ',' ;

action		: SERVICE NAME opt_fallback
		{
			$$ = $3;
			$$.kind = ACT_SERVICE;
			$$.loc = @$;
			$$.service = $2;
			$$.service_loc = @2;
		}
		| DROP			{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_DROP; $$.loc = @$; }
		| PASS			{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_PASS; $$.loc = @$; }
		| FORWARD endpoint	{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_FORWARD; $$.loc = @$; $$.forward = $2; }
		| FORWARD NAME '{' fwd_entries opt_comma '}'
		{
			memset(&$$, 0, sizeof($$));
			$$.kind = ACT_FORWARD;
			$$.loc = @$;
			$$.forward_by = $2;
			$$.forward_by_loc = @2;
			$$.forward_map = LIST_REVERSE($4);
		}
		| FORWARD NAME '{' '}'
		{
			memset(&$$, 0, sizeof($$));
			$$.kind = ACT_FORWARD;
			$$.loc = @$;
			$$.forward_by = $2;
			$$.forward_by_loc = @2;
		}
		;

fwd_entries	: fwd_entry
		| fwd_entries ',' fwd_entry	{ $$ = LIST_PUSH($1, $3); }
		;

fwd_entry	: STRING ':' endpoint	{ $$ = NEW(ps, struct fwd_entry); $$->loc = @$; $$->key_loc = @1; $$->name = $1; $$->ep = *$3; }
		| STRING ':' ADDR	{ $$ = NEW(ps, struct fwd_entry); $$->loc = @$; $$->key_loc = @1; $$->name = $1; $$->ep = *_bare_endpoint(ps, $3, &@3); }
		| NAME ':' endpoint	{ $$ = NEW(ps, struct fwd_entry); $$->loc = @$; $$->key_loc = @1; $$->key = $1; $$->ep = *$3; }
		| NAME ':' DROP		{ $$ = NEW(ps, struct fwd_entry); $$->loc = @$; $$->key_loc = @1; $$->key = $1; $$->drop = true; }
		;

opt_fallback	: %empty	{ memset(&$$, 0, sizeof($$)); $$.fallback = ACT_DROP; }
		| OR PASS	{ memset(&$$, 0, sizeof($$)); $$.fallback = ACT_PASS; }
		| OR DROP	{ memset(&$$, 0, sizeof($$)); $$.fallback = ACT_DROP; }
		;

expect_stmt	: EXPECT proto_kw expect_src ARROW expect_dst
		{
			$$ = _stmt(ps, STMT_EXPECT, &@$);
			$$->expect = $5;
			$$->expect->proto = $2;
			$$->expect->src = *$3;
		}
		;

expect_src	: endpoint
		| ADDR		{ $$ = _bare_endpoint(ps, $1, &@1); }
		;

/*
 * The destination, its interface and the verdict. An address without ":PORT"
 * has alternatives of its own, not sharing the empty opt_iif, so that after
 * "ADDR :" one token tells a port (a number) from a missing one (a verdict).
 */
expect_dst	: endpoint opt_iif ':' verdict
		{
			$$ = NEW(ps, struct expect_stmt);
			$$->dst = *$1;
			$$->iif = $2;
			$$->iif_loc = @2;
			$$->verdict = $4;
		}
		| ADDR ':' verdict
		{
			$$ = NEW(ps, struct expect_stmt);
			$$->dst = *_bare_endpoint(ps, $1, &@1);
			$$->verdict = $3;
		}
		| ADDR iif ':' verdict
		{
			$$ = NEW(ps, struct expect_stmt);
			$$->dst = *_bare_endpoint(ps, $1, &@1);
			$$->iif = $2;
			$$->iif_loc = @2;
			$$->verdict = $4;
		}
		;

opt_iif		: %empty	{ $$ = NULL; }
		| iif
		;

iif		: IIF NAME	{ $$ = $2; }
		;

verdict		: SERVICE NAME
		{
			memset(&$$, 0, sizeof($$));
			$$.kind = ACT_SERVICE;
			$$.loc = @$;
			$$.service = $2;
			$$.service_loc = @2;
		}
		| DROP	{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_DROP; $$.loc = @$; }
		| PASS	{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_PASS; $$.loc = @$; }
		| FORWARD endpoint	{ memset(&$$, 0, sizeof($$)); $$.kind = ACT_FORWARD; $$.loc = @$; $$.forward = $2; }
		| FORWARD NAME
		{
			memset(&$$, 0, sizeof($$));
			$$.kind = ACT_FORWARD;
			$$.loc = @$;
			$$.forward_by = $2;
			$$.forward_by_loc = @2;
		}
		;

%%

/* Token names without bison's double quotes: "'match'" reads as 'match'. */
static const char *_token_name(yysymbol_kind_t kind)
{
	const char *name = yysymbol_name(kind);
	static char buf[64];
	size_t n = strlen(name);

	if (n >= 2 && name[0] == '"' && name[n - 1] == '"' && n - 2 < sizeof(buf)) {
		memcpy(buf, name + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return name;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, struct parser_state *ps)
{
	enum { MAX_EXPECTED = 8 };
	yysymbol_kind_t expected[MAX_EXPECTED];
	const YYLTYPE *loc = yypcontext_location(ctx);
	yysymbol_kind_t found = yypcontext_token(ctx);
	int n = yypcontext_expected_tokens(ctx, expected, MAX_EXPECTED);
	char msg[512];
	size_t len;

	(void)scanner;
	if (found == YYSYMBOL_JUNK || found == YYSYMBOL_BADSTRING) {
		diag_error(ps->diags, loc, "%s", found == YYSYMBOL_JUNK ? "invalid character" : "unterminated string");
		return 0;
	}
	if (found == YYSYMBOL_DEEPSET) {
		diag_error(ps->diags, loc, "sets nested deeper than %d", MAX_SET_DEPTH);
		return 0;
	}
	/* The lookahead as written helps more than its class: "unexpected name 'tpc'". */
	len = (size_t)snprintf(msg, sizeof(msg), "syntax error, unexpected %s", _token_name(found));
	if (found == YYSYMBOL_NAME || found == YYSYMBOL_ADDR || found == YYSYMBOL_NUMBER || found == YYSYMBOL_VAR) {
		size_t llen;
		const char *line = source_line((struct source *)loc->src, loc->line, &llen);
		uint32_t end = loc->end_line == loc->line ? loc->end_col : (uint32_t)llen;
		if (loc->col >= 1 && end <= llen && end >= loc->col)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, " '%.*s'", (int)(end - loc->col + 1),
						line + loc->col - 1);
	}
	for (int i = 0; i < n && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s", i == 0 ? (n > 1 ? ", expected one of: " : ", expected ") : ", ",
					_token_name(expected[i]));
	diag_error(ps->diags, loc, "%s", msg);
	return 0;
}

int parse_source(struct source *src, struct arena *arena, struct diag_list *diags, struct stmt **out)
{
	struct scanner_extra extra = { .src = src, .arena = arena, .line = 1, .col = 1 };
	struct parser_state ps = { .arena = arena, .diags = diags, .head = NULL };
	yyscan_t scanner;
	int ret;

	ps.tail = &ps.head;
	if (yylex_init_extra(&extra, &scanner))
		return -ENOMEM;
	yy_scan_bytes(src->text, (int)src->len, scanner);
	ret = yyparse(scanner, &ps);
	yylex_destroy(scanner);
	*out = ps.head;
	return ret == 2 ? -ENOMEM : 0;
}
