#include "parse.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "parser.h"

#define MAX_INCLUDE_DEPTH 16

/* The chain of files being parsed, innermost first, to detect include cycles. */
struct include_frame {
	const struct include_frame *up;
	dev_t dev;
	ino_t ino;
	const char *path;
};

static void _expand(struct policy_ast *ast, struct stmt **list, const struct source *src,
		    const struct include_frame *frame, unsigned depth, struct diag_list *diags);

/* A policy is UTF-8 text: the first byte that is not is an error there, and the file is not parsed. */
static bool _is_text(const struct source *src, struct diag_list *diags)
{
	int64_t at = source_invalid_byte(src);

	if (at < 0)
		return true;
	struct location loc = source_location(src, (size_t)at);
	unsigned char c = (unsigned char)src->text[at];
	if (c == 0)
		diag_error(diags, &loc, "a NUL byte: a policy is text");
	else
		diag_error(diags, &loc, "byte 0x%02x is not valid UTF-8: a policy is UTF-8 text", c);
	return false;
}

static int _parse_one(struct policy_ast *ast, struct source *src, const struct include_frame *frame, unsigned depth,
		      struct diag_list *diags, struct stmt **out)
{
	*out = NULL;
	if (!_is_text(src, diags))
		return 0;
	int r = parse_source(src, &ast->arena, diags, out);

	if (r < 0)
		return r;
	_expand(ast, out, src, frame, depth, diags);
	return 0;
}

/* "dir/of/including/file" + "rel" unless rel is absolute. */
static char *_resolve(const char *including, const char *rel)
{
	_cleanup_free_ char *copy = strdup(including);
	char *out;

	if (!copy)
		abort();
	if (rel[0] == '/' || !strchr(including, '/'))
		out = strdup(rel);
	else if (asprintf(&out, "%s/%s", dirname(copy), rel) < 0)
		out = NULL;
	if (!out)
		abort();
	return out;
}

static struct stmt *_include(struct policy_ast *ast, const struct stmt *inc, const struct source *src,
			     const struct include_frame *frame, unsigned depth, struct diag_list *diags)
{
	_cleanup_free_ char *path = NULL;
	struct source *child;
	struct stmt *stmts = NULL;
	struct stat st;

	if (!src->path[0] || src->path[0] == '<') {
		diag_error(diags, &inc->include.path_loc, "include is not available in a policy read from %s", src->path);
		return NULL;
	}
	path = _resolve(src->path, inc->include.path);
	if (stat(path, &st) < 0) {
		diag_error(diags, &inc->include.path_loc, "cannot include '%s': %s", path, strerror(errno));
		return NULL;
	}
	for (const struct include_frame *f = frame; f; f = f->up) {
		if (f->dev == st.st_dev && f->ino == st.st_ino) {
			diag_error(diags, &inc->include.path_loc, "include cycle: '%s' is already being read", path);
			return NULL;
		}
	}
	if (depth >= MAX_INCLUDE_DEPTH) {
		diag_error(diags, &inc->include.path_loc, "includes nested deeper than %d", MAX_INCLUDE_DEPTH);
		return NULL;
	}
	int r = source_load(&ast->sources, path, &child);
	if (r < 0) {
		diag_error(diags, &inc->include.path_loc, "cannot include '%s': %s", path, source_strerror(r));
		return NULL;
	}
	struct include_frame here = { .up = frame, .dev = st.st_dev, .ino = st.st_ino, .path = child->path };
	if (_parse_one(ast, child, &here, depth + 1, diags, &stmts) < 0)
		abort();
	return stmts;
}

/* Replaces each include statement by the statements of the file it names. */
static void _expand(struct policy_ast *ast, struct stmt **list, const struct source *src,
		    const struct include_frame *frame, unsigned depth, struct diag_list *diags)
{
	for (struct stmt **pp = list; *pp;) {
		struct stmt *s = *pp;

		if (s->kind != STMT_INCLUDE) {
			pp = &s->next;
			continue;
		}
		struct stmt *child = _include(ast, s, src, frame, depth, diags);
		*pp = s->next;
		if (child) {
			struct stmt *last = child;
			while (last->next)
				last = last->next;
			last->next = s->next;
			*pp = child;
			pp = &last->next;
		}
	}
}

int policy_parse_file(struct policy_ast *ast, const char *path, struct diag_list *diags)
{
	struct source *src;
	struct stat st;
	int r = source_load(&ast->sources, path, &src);

	if (r < 0)
		return r;
	if (stat(path, &st) < 0)
		return -errno;
	struct include_frame top = { .dev = st.st_dev, .ino = st.st_ino, .path = src->path };
	return _parse_one(ast, src, &top, 0, diags, &ast->stmts);
}

int policy_parse_mem(struct policy_ast *ast, const char *name, const char *text, size_t len, struct diag_list *diags)
{
	struct source *src = source_from_mem(&ast->sources, name, text, len);

	return _parse_one(ast, src, NULL, 0, diags, &ast->stmts);
}
