#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Reads at most SOURCE_MAX_BYTES + 1 from FD: one more than allowed says "too large". */
static int _read_bounded(int fd, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			cap = cap * 2 > SOURCE_MAX_BYTES + 1 ? SOURCE_MAX_BYTES + 1 : cap * 2;
			char *nb = n < cap ? realloc(buf, cap + 1) : NULL;
			if (!nb) {
				free(buf);
				return n > SOURCE_MAX_BYTES ? -EFBIG : -ENOMEM;
			}
			buf = nb;
		}
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			return -e;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int source_load(struct source_set *set, const char *path, struct source **out)
{
	/* Non-blocking: a FIFO must not hang the open; it is refused below anyway. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *text;
	size_t len;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL; /* a device, a FIFO, a socket: nothing bounded to read */
	if ((uint64_t)st.st_size > SOURCE_MAX_BYTES)
		return -EFBIG;
	if ((r = _read_bounded(fd, &text, &len)) < 0)
		return r;
	*out = _add(set, path, text, len);
	return 0;
}

int source_read_stream(int fd, char **text, size_t *len)
{
	return _read_bounded(fd, text, len);
}

const char *source_strerror(int r)
{
	switch (-r) {
	case EINVAL:
		return "not a regular file: a policy is read from a file, or from standard input as '-'";
	case EFBIG:
		return "larger than " SOURCE_MAX_TEXT ", the most a policy file may be";
	default:
		return strerror(-r);
	}
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

size_t source_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, and beyond U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int64_t source_invalid_byte(const struct source *src)
{
	const unsigned char *p = (const unsigned char *)src->text;

	for (size_t i = 0; i < src->len;) {
		if (p[i] && p[i] < 0x80) {
			i++; /* ASCII, nearly every byte of a policy */
			continue;
		}
		size_t n = p[i] ? source_utf8_len(p + i, src->len - i) : 0;
		if (!n)
			return (int64_t)i;
		i += n;
	}
	return -1;
}

struct location source_location(const struct source *src, size_t offset)
{
	struct location loc = { .src = src, .line = 1, .col = 1 };

	for (size_t i = 0; i < offset && i < src->len; i++) {
		if (src->text[i] == '\n') {
			loc.line++;
			loc.col = 1;
		} else {
			loc.col++;
		}
	}
	loc.end_line = loc.line;
	loc.end_col = loc.col;
	return loc;
}
