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

/* The largest policy file (or standard input) read. */
#define SOURCE_MAX_BYTES ((size_t)256 << 20)
#define SOURCE_MAX_TEXT "256 MiB"

/*
 * Reads PATH into a new source; 0 or -errno: -EINVAL when it is not a regular
 * file (a device, a FIFO), -EFBIG when it is larger than SOURCE_MAX_BYTES.
 */
int source_load(struct source_set *set, const char *path, struct source **out);
/* Reads a stream (standard input) to its end, bounded the same way. */
int source_read_stream(int fd, char **text, size_t *len);
/* What a source_load error means, for a message. */
const char *source_strerror(int r);
/*
 * The first byte that makes SRC not text: a NUL, or one that is not valid
 * UTF-8. Returns its offset, or -1 when the text is valid.
 */
int64_t source_invalid_byte(const struct source *src);
/* Length of the valid UTF-8 sequence at P (at most N bytes), or 0. */
size_t source_utf8_len(const unsigned char *p, size_t n);
/* The line and column (1-based, in bytes) of byte OFFSET. */
struct location source_location(const struct source *src, size_t offset);
/* A source from memory (tests, fuzzing); takes a copy. */
struct source *source_from_mem(struct source_set *set, const char *name, const char *text, size_t len);
/* The text of line LINE (1-based) and its length without the newline. */
const char *source_line(struct source *src, uint32_t line, size_t *len);
void source_set_free(struct source_set *set);

#endif
