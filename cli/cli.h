/* The command line: one file per subcommand, shared helpers here. */
#ifndef STEER_CLI_H
#define STEER_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "build.h"
#include "frontend.h"
#include "state.h"

static inline void json_putp(json_object **o)
{
	json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* Exit statuses (SPEC §3): decided here, from a -errno, and nowhere else. */
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
 * After the options: exactly WANT operands, or an error that names the first
 * one too many (or says one is missing) and the usage. EXIT_OK or EXIT_INVALID.
 */
int cli_operands(const struct cli_cmd *cmd, const char *options, int argc, char **argv, int want);
const struct cli_cmd *cli_find(const char *name);
/* Whether diagnostics get colour: a terminal, and no NO_COLOR. */
bool cli_color(void);

/* The exit status for R (0 or -errno): 1 when the input was wrong, 2 when the system refused. */
int cli_status(int r);
/* Prints error.h's message for R and returns cli_status(R). */
int cli_fail(int r);

/* Options several commands share, parsed in one place (options.c). */
struct cli_opts {
	struct rt_target target; /* --netns, --bpffs, --wait */
	struct build_opts build; /* --strategy, --clang */
	bool build_given; /* --strategy or --clang was written */
};
enum { OPT_NETNS = 0x100, OPT_BPFFS, OPT_WAIT, OPT_STRATEGY, OPT_CLANG, OPT_BAD };
#define CLI_TARGET_OPTIONS                                                                                              \
	{ "netns", required_argument, NULL, OPT_NETNS }, { "bpffs", required_argument, NULL, OPT_BPFFS },               \
	{                                                                                                               \
		"wait", required_argument, NULL, OPT_WAIT                                                              \
	}
#define CLI_BUILD_OPTIONS                                                                                               \
	{ "strategy", required_argument, NULL, OPT_STRATEGY },                                                          \
	{                                                                                                               \
		"clang", required_argument, NULL, OPT_CLANG                                                            \
	}
#define CLI_TARGET_HELP                                                                                                 \
	"  --netns PATH     the network namespace (default: this one), e.g. /run/netns/NAME\n"                           \
	"  --bpffs DIR      where the state is pinned (default: /sys/fs/bpf)\n"                                          \
	"  --wait SECONDS   give up when the state stays locked this long (default: wait)\n"
#define CLI_BUILD_HELP                                                                                                  \
	"  --strategy S     auto (default), tree or table\n"                                                             \
	"  --clang PATH     the clang to use (default: $STEER_CLANG, then clang on PATH)\n"
/* The defaults: this namespace, /sys/fs/bpf, wait as long as it takes, auto strategy. */
void cli_opts_init(struct cli_opts *o);
/*
 * getopt_long for a command: takes the shared options into CO itself and
 * returns the next other option, -1 at the end, or OPT_BAD after a shared
 * option whose value is wrong (reported).
 */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts, struct cli_opts *co);

/* A number of seconds, 0 to a day. */
bool cli_seconds(const char *s, double *out);

/*
 * Runs the front end on PATH and prints its diagnostics. Returns EXIT_OK, or the
 * exit status to give up with.
 */
int cli_frontend(struct frontend *fe, const char *path, const struct frontend_opts *o);
/* The same without printing the diagnostics (for --json), every warning kept with ALL_WARNINGS. */
int cli_frontend_quiet(struct frontend *fe, const char *path, const struct frontend_opts *o, bool all_warnings);
/* Builds the checked policy, printing clang's complaints and any error. Returns EXIT_*. */
int cli_build(struct frontend *fe, const struct build_opts *o, struct built_policy *out);

struct testrun;
struct testrun_opts;
/* Builds and opens the in-kernel test harness for --bpf, printing any failure. Returns EXIT_*. */
int cli_testrun_open(struct frontend *fe, const struct build_opts *bo, const struct testrun_opts *o,
		     struct built_policy *b, struct testrun *tr);
/* An expect through the program in the kernel: a verdict_fn (expect.h) whose context is a testrun. */
int cli_testrun_expect(void *ctx, const struct ir_expect *x, struct verdict *out);

/* JSON documents (json.c): each starts with the schema's version, docs/json.md describes them. */
#define CLI_JSON_VERSION 1
json_object *cli_json_doc(void);
void cli_json_print(json_object *doc, bool pretty);
/* A rule, the same object everywhere: NUMBER counts from 1 in policy order. */
json_object *cli_json_rule(uint32_t number, const char *file, uint32_t line, uint32_t col, const char *action);
/* "service web", "service web or pass", "drop" or "pass", as a policy writes it. */
void cli_action_text(enum action_kind kind, const char *service, bool or_pass, char *out, size_t len);
/* A rule record's action word (steer_abi.h), as a policy writes it, with M's names. */
void cli_record_action(const struct built_manifest *m, uint32_t act, char *out, size_t len);
/* Adds "verdict", "service" and "rule" for V to O, and returns O. */
json_object *cli_json_verdict(json_object *o, const struct ir_policy *p, const struct verdict *v);
/* Diagnostics, each with its notes. */
json_object *cli_json_diags(const struct diag_list *d);

int cmd_apply(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_unregister(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_test(int argc, char **argv);

#endif
