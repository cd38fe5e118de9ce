/* What every command shares: options, exit statuses, messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"

bool cli_color(void)
{
	return isatty(STDERR_FILENO) && !getenv("NO_COLOR");
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("steer: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_status(int r)
{
	switch (-r) {
	case 0:
		return EXIT_OK;
	case EINVAL: /* the request: a policy, a socket, an argument */
	case EILSEQ: /* a policy that is not text */
	case ENOEXEC: /* a file that is not a built policy */
	case EBADMSG: /* a built policy that is damaged */
	case EPROTO: /* a built policy of another format */
		return EXIT_INVALID;
	default:
		return EXIT_SYSTEM;
	}
}

int cli_fail(int r)
{
	const char *msg = error_message()[0] ? error_message() : strerror(-r);

	/* EPERM is the kernel's answer to a missing privilege (files say EACCES): say which. */
	if (r == -EPERM)
		cli_error("%s: steer needs root, or CAP_BPF and CAP_NET_ADMIN (and CAP_SYS_ADMIN for --netns and mounts)", msg);
	else
		cli_error("%s", msg);
	return cli_status(r);
}

static void _notice(const char *line)
{
	fprintf(stderr, "steer: %s\n", line);
}

void cli_opts_init(struct cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->target.wait = -1;
	o->target.notice = _notice;
	o->build.strategy = STRATEGY_AUTO;
	o->build.verbose = cli_verbose;
}

/* 1 when C was a shared option (and valid), 0 when it is not one, -1 when its value is wrong (reported). */
static int _shared_option(int c, const char *arg, struct cli_opts *o)
{
	char *end;

	switch (c) {
	case OPT_NETNS:
		o->target.netns = arg;
		return 1;
	case OPT_BPFFS:
		o->target.bpffs = arg;
		return 1;
	case OPT_WAIT:
		o->target.wait = strtod(arg, &end);
		if (!*arg || *end || o->target.wait < 0 || o->target.wait > 1e6) {
			cli_error("invalid --wait '%s': expected seconds, e.g. 5 or 0.5", arg);
			return -1;
		}
		return 1;
	case OPT_STRATEGY:
		if (strategy_parse(arg, &o->build.strategy) < 0) {
			cli_error("unknown --strategy '%s': expected auto, tree or table", arg);
			return -1;
		}
		o->build_given = true;
		return 1;
	case OPT_CLANG:
		o->build.clang = arg;
		o->build_given = true;
		return 1;
	default:
		return 0;
	}
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts, struct cli_opts *co)
{
	int c, r;

	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if ((r = _shared_option(c, optarg, co)) == 0)
			return c;
		if (r < 0)
			return OPT_BAD;
	}
	return -1;
}

bool cli_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return *s && !*end && !errno && *out >= 0 && *out <= 86400;
}
