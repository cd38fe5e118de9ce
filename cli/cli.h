/* The command line: one file per subcommand, shared helpers here. */
#ifndef STEER_CLI_H
#define STEER_CLI_H

#include <stdbool.h>

#include "frontend.h"

/* Exit statuses (SPEC §3). */
enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_SYSTEM = 2 };

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage; /* argument synopsis */
	const char *summary;
};

extern bool cli_verbose;

__attribute__((format(printf, 1, 2))) void cli_error(const char *fmt, ...);
/* Prints the usage of CMD to stdout (help) or stderr (misuse) and returns the exit status. */
int cli_usage(const struct cli_cmd *cmd, const char *options, bool help);

/*
 * Runs the front end on PATH and prints its diagnostics. Returns EXIT_OK, or the
 * exit status to give up with.
 */
int cli_frontend(struct frontend *fe, const char *path, const struct frontend_opts *o);
/* An exit status for a negative errno from the system. */
int cli_errno_status(int err);

struct testrun;
struct testrun_opts;
/* Opens the in-kernel test harness for --bpf, printing any failure. Returns EXIT_*. */
int cli_testrun_open(struct frontend *fe, const struct testrun_opts *o, struct testrun *tr);

int cmd_apply(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_unregister(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_test(int argc, char **argv);

const struct cli_cmd *cli_find(const char *name);

#endif
