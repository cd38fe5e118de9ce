#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* Long enough for a path, a system error and a hint. */
static _Thread_local char _msg[2048];

int error_set(int r, const char *fmt, ...)
{
	char tmp[sizeof(_msg)];
	va_list ap;

	/* Formatted aside first: a message may quote the previous one. */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	snprintf(_msg, sizeof(_msg), "%s", tmp);
	return r;
}

const char *error_message(void)
{
	return _msg;
}

void error_clear(void)
{
	_msg[0] = '\0';
}
