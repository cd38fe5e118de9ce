#include "ast.h"

const char *matcher_name(enum matcher_kind k)
{
	static const char *const names[M__COUNT] = {
		[M_DST] = "dst", [M_SRC] = "src", [M_PORT] = "port", [M_SPORT] = "sport", [M_IIF] = "iif",
	};
	return names[k];
}

void policy_ast_free(struct policy_ast *ast)
{
	arena_release(&ast->arena);
	source_set_free(&ast->sources);
	ast->stmts = NULL;
}
