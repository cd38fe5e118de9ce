#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag_list *d)
{
	memset(d, 0, sizeof(*d));
	d->tail = &d->head;
}

static unsigned _limit(const struct diag_list *d)
{
	return d->max_errors ? d->max_errors : DIAG_MAX_ERRORS;
}

/* Under --werror warnings are errors, and count against the same limit. */
static bool _at_limit(const struct diag_list *d)
{
	return d->nerrors + (d->werror ? d->nwarnings : 0) >= _limit(d);
}

/* Only once an error was dropped: a stage stopping earlier would hide "too many errors". */
bool diag_full(const struct diag_list *d)
{
	return d->truncated;
}

void diag_add(struct diag_list *d, enum diag_level level, const struct location *loc, const char *fmt, ...)
{
	static const struct location none;
	va_list ap;

	if (!d->tail)
		diag_init(d);
	/* A note belongs to the record before it: dropped when that one was. */
	if (level == DIAG_NOTE && (!d->head || d->dropped_last))
		return;
	d->dropped_last = false;
	if ((level == DIAG_ERROR || (level == DIAG_WARNING && d->werror)) && _at_limit(d)) {
		d->truncated = d->dropped_last = true;
		d->nwarnings += level == DIAG_WARNING;
		return;
	}
	if (level == DIAG_WARNING && !d->werror && !d->all_warnings && d->nwarnings >= DIAG_MAX_WARNINGS) {
		d->dropped_warnings++;
		d->nwarnings++;
		d->dropped_last = true;
		return;
	}

	struct diag *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->level = level;
	r->loc = loc ? *loc : none;
	va_start(ap, fmt);
	if (vasprintf(&r->msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	*d->tail = r;
	d->tail = &r->next;
	if (level == DIAG_ERROR)
		d->nerrors++;
	else if (level == DIAG_WARNING)
		d->nwarnings++;
}

bool diag_failed(const struct diag_list *d)
{
	return d->nerrors > 0 || (d->werror && d->nwarnings > 0);
}

static const char *_level_name(const struct diag_list *d, enum diag_level l)
{
	switch (l) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return d->werror ? "error" : "warning";
	case DIAG_NOTE:
		return "note";
	}
	return "?";
}

/* An ASCII byte of the source line as shown: control bytes would move the terminal's cursor. */
static int _shown(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?';
}

/* Not in the middle of a UTF-8 sequence. */
static size_t _char_start(const char *line, size_t i)
{
	while (i > 0 && ((unsigned char)line[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/*
 * The source line, then spaces up to the first column and ^~~~ under the span.
 * A long line shows a window of it around the span, "…" where it is cut.
 */
static void _print_caret(FILE *f, const struct location *loc)
{
	size_t len, from = 0, to;
	const char *line = source_line((struct source *)loc->src, loc->line, &len);
	size_t col = loc->col ? loc->col - 1 : 0; /* 0-based */
	size_t end = loc->end_line == loc->line ? loc->end_col : len;

	to = len;
	if (len > DIAG_LINE_WINDOW) {
		from = col > DIAG_LINE_WINDOW / 4 ? col - DIAG_LINE_WINDOW / 4 : 0;
		if (from + DIAG_LINE_WINDOW > len)
			from = len - DIAG_LINE_WINDOW;
		from = _char_start(line, from);
		to = _char_start(line, from + DIAG_LINE_WINDOW < len ? from + DIAG_LINE_WINDOW : len);
		if (to < len && to <= col)
			to = len; /* cannot happen with the window above; never hide the caret's column */
	}
	fputs(from ? "    …" : "    ", f);
	for (size_t i = from; i < to;) {
		size_t n = source_utf8_len((const unsigned char *)line + i, to - i);
		if (n > 1) {
			fwrite(line + i, 1, n, f);
			i += n;
		} else {
			fputc(n ? _shown((unsigned char)line[i]) : '?', f);
			i++;
		}
	}
	fputs(to < len ? "…\n    " : "\n    ", f);
	if (from)
		fputc(' ', f); /* under the "…" */
	for (size_t i = from; i < col && i < to; i++)
		fputc(line[i] == '\t' ? '\t' : ' ', f);
	fputc('^', f);
	for (size_t c = col + 2; c <= end && c <= to; c++)
		fputc('~', f);
	fputc('\n', f);
}

/* A diagnostic with the notes that follow it, the unit of ordering. */
struct diag_unit {
	const struct diag *first;
	size_t seq;
};

static int _unit_cmp(const void *a, const void *b)
{
	const struct diag_unit *x = a, *y = b;
	const struct location *l = &x->first->loc, *m = &y->first->loc;
	uint64_t kx = l->src ? ((uint64_t)l->src->seq + 1) << 32 | l->line : 0;
	uint64_t ky = m->src ? ((uint64_t)m->src->seq + 1) << 32 | m->line : 0;

	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (l->col != m->col)
		return l->col < m->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void _print_one(FILE *f, const struct diag_list *d, const struct diag *r, bool color)
{
	const char *name = _level_name(d, r->level);
	const char *on = "", *off = "";

	if (color) {
		on = r->level == DIAG_NOTE				 ? "\033[1;36m"
		     : (r->level == DIAG_WARNING && !d->werror) ? "\033[1;35m"
								 : "\033[1;31m";
		off = "\033[0m";
	}
	if (r->loc.src)
		fprintf(f, "%s:%u:%u: %s%s:%s %s\n", r->loc.src->path, r->loc.line, r->loc.col, on, name, off, r->msg);
	else
		fprintf(f, "steer: %s%s:%s %s\n", on, name, off, r->msg);
	if (r->loc.src && r->loc.line)
		_print_caret(f, &r->loc);
}

/* Prints in source order, each note after the diagnostic it belongs to. */
void diag_print(FILE *out, const struct diag_list *d, bool color)
{
	size_t n = 0, i = 0, len = 0;
	char *text = NULL;
	/* One write at the end: stderr is unbuffered, and a big policy can have many warnings. */
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();

	for (const struct diag *r = d->head; r; r = r->next)
		n += r->level != DIAG_NOTE;
	struct diag_unit *units = calloc(n ? n : 1, sizeof(*units));
	if (!units)
		abort();
	for (const struct diag *r = d->head; r; r = r->next)
		if (r->level != DIAG_NOTE) {
			units[i].first = r;
			units[i].seq = i;
			i++;
		}
	qsort(units, n, sizeof(*units), _unit_cmp);
	for (i = 0; i < n; i++) {
		_print_one(f, d, units[i].first, color);
		for (const struct diag *r = units[i].first->next; r && r->level == DIAG_NOTE; r = r->next)
			_print_one(f, d, r, color);
	}
	free(units);
	if (d->dropped_warnings)
		fprintf(f, "steer: note: … and %u more warning%s; --verbose shows all\n", d->dropped_warnings,
			d->dropped_warnings == 1 ? "" : "s");
	if (d->truncated)
		fprintf(f, "steer: error: too many errors, stopping after %u\n", _limit(d));
	fclose(f);
	fwrite(text, 1, len, out);
	free(text);
}

void diag_free(struct diag_list *d)
{
	struct diag *r = d->head;

	while (r) {
		struct diag *next = r->next;
		free(r->msg);
		free(r);
		r = next;
	}
	diag_init(d);
}
