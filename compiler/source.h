/* Policy source files and spans within them. */
#ifndef STEER_SOURCE_H
#define STEER_SOURCE_H

#include <stddef.h>
#include <stdint.h>

struct source {
	struct source *next;
	char *path; /* as the user or the include wrote it, resolved relative to cwd */
	char *text; /* whole file, NUL-terminated */
	size_t len;
	uint32_t *line_start; /* offsets of each line, built on first diagnostic */
	uint32_t nlines;
	uint32_t seq; /* order of loading: diagnostics sort by it */
};

/* A span: 1-based line and column of its first and last character. */
struct location {
	const struct source *src;
	uint32_t line, col;
	uint32_t end_line, end_col;
};

/* All sources of one policy, owned together. */
struct source_set {
	struct source *head;
	uint32_t count;
};

/* Reads PATH into a new source; 0 or -errno. */
int source_load(struct source_set *set, const char *path, struct source **out);
/* A source from memory (tests, fuzzing); takes a copy. */
struct source *source_from_mem(struct source_set *set, const char *name, const char *text, size_t len);
/* The text of line LINE (1-based) and its length without the newline. */
const char *source_line(struct source *src, uint32_t line, size_t *len);
void source_set_free(struct source_set *set);

#endif
