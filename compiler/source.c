#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static struct source *_add(struct source_set *set, const char *path, char *text, size_t len)
{
	struct source *s = calloc(1, sizeof(*s));

	if (!s || !(s->path = strdup(path)))
		abort();
	s->text = text;
	s->len = len;
	s->seq = set->count++;
	s->next = set->head;
	set->head = s;
	return s;
}

int source_load(struct source_set *set, const char *path, struct source **out)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			/* fread's errno: EISDIR for a directory is a wrong argument, not an I/O failure. */
			if (ferror(f))
				return errno ? -errno : -EIO;
			break;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		return -EILSEQ; /* a NUL byte: not a text file */
	*out = _add(set, path, TAKE_PTR(buf), len);
	return 0;
}

struct source *source_from_mem(struct source_set *set, const char *name, const char *text, size_t len)
{
	char *buf = malloc(len + 1);

	if (!buf)
		abort();
	memcpy(buf, text, len);
	buf[len] = '\0';
	return _add(set, name, buf, len);
}

static void _index_lines(struct source *src)
{
	uint32_t n = 1;

	for (size_t i = 0; i < src->len; i++)
		n += src->text[i] == '\n';
	src->line_start = malloc(sizeof(*src->line_start) * n);
	if (!src->line_start)
		abort();
	src->line_start[0] = 0;
	n = 1;
	for (size_t i = 0; i < src->len; i++)
		if (src->text[i] == '\n')
			src->line_start[n++] = (uint32_t)(i + 1);
	src->nlines = n;
}

const char *source_line(struct source *src, uint32_t line, size_t *len)
{
	if (!src->line_start)
		_index_lines(src);
	if (line == 0 || line > src->nlines) {
		*len = 0;
		return "";
	}
	const char *start = src->text + src->line_start[line - 1];
	const char *end = strchr(start, '\n');
	*len = end ? (size_t)(end - start) : strlen(start);
	return start;
}

void source_set_free(struct source_set *set)
{
	struct source *s = set->head;

	while (s) {
		struct source *next = s->next;
		free(s->path);
		free(s->text);
		free(s->line_start);
		free(s);
		s = next;
	}
	set->head = NULL;
}
