/* steer compile POLICY [-o OUT] [--emit obj|c|tree|ir] [--strategy auto|tree|table]: build, or show a stage. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "clang.h"
#include "cleanup.h"
#include "cli.h"

static const char _options[] =
	"  -o, --output FILE    write to FILE (obj default: POLICY's name with .o, here)\n"
	"  --emit obj           the BPF object (default)\n"
	"  --emit c             the generated C, each branch annotated with its policy line\n"
	"  --emit tree          the decision structure and its statistics\n"
	"  --emit ir            the normalised IR\n"
	"  --strategy S         auto (default), tree or table\n"
	"  --clang PATH         the clang to use (default: $STEER_CLANG, then clang on PATH)\n"
	"  -h, --help           show this help\n";

enum emit_kind { EMIT_OBJ, EMIT_C, EMIT_TREE, EMIT_IR };

/* "dir/policy.steer" -> "policy.o" */
static char *_default_obj(const char *policy)
{
	_cleanup_free_ char *copy = strdup(policy);
	char *base = basename(copy), *dot = strrchr(base, '.'), *out;

	if (dot && dot != base)
		*dot = '\0';
	if (asprintf(&out, "%s.o", base) < 0)
		abort();
	return out;
}

/* Builds the program and, for obj, the object. Diagnostics go through cli_frontend's printer. */
static int _build(struct frontend *fe, enum strategy strategy, enum emit_kind emit, const char *clang,
		  struct backend_program *bp, void **obj, size_t *len)
{
	struct clang_opts co = { .clang = clang, .verbose = cli_verbose };
	int r = backend_build(&fe->ir, strategy, bp);

	if (r < 0) {
		cli_error("cannot build the program: %s", strerror(-r));
		return EXIT_SYSTEM;
	}
	if (emit != EMIT_OBJ)
		return EXIT_OK;
	struct diag_list d;
	diag_init(&d);
	r = clang_compile(&fe->ir, bp, &co, &d, obj, len);
	diag_print(stderr, &d, isatty(STDERR_FILENO) && !getenv("NO_COLOR"));
	diag_free(&d);
	if (r == -ENOENT)
		cli_error("clang not found: install clang, or name it with --clang or STEER_CLANG");
	else if (r < 0 && r != -EINVAL)
		cli_error("cannot run clang: %s", strerror(-r));
	return r < 0 ? EXIT_SYSTEM : EXIT_OK;
}

int cmd_compile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "emit", required_argument, NULL, 'e' },
		{ "strategy", required_argument, NULL, 's' },
		{ "clang", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const emits[] = { [EMIT_OBJ] = "obj", [EMIT_C] = "c", [EMIT_TREE] = "tree", [EMIT_IR] = "ir" };
	const struct cli_cmd *self = cli_find("compile");
	struct frontend_opts o = { .lint = true, .expects = true };
	const char *out = NULL, *clang = NULL;
	enum strategy strategy = STRATEGY_AUTO;
	enum emit_kind emit = EMIT_OBJ;
	struct backend_program bp = { 0 };
	_cleanup_free_ void *obj = NULL;
	_cleanup_free_ char *default_out = NULL;
	size_t objlen = 0;
	struct frontend fe;
	int c, status;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'e': {
			size_t i;
			for (i = 0; i < ARRAY_SIZE(emits) && strcmp(optarg, emits[i]) != 0; i++)
				;
			if (i == ARRAY_SIZE(emits)) {
				cli_error("unknown --emit '%s': expected obj, c, tree or ir", optarg);
				return EXIT_INVALID;
			}
			emit = (enum emit_kind)i;
			break;
		}
		case 's':
			if (strategy_parse(optarg, &strategy) < 0) {
				cli_error("unknown --strategy '%s': expected auto, tree or table", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'c':
			clang = optarg;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (optind != argc - 1)
		return cli_usage(self, _options, false);
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK && (emit == EMIT_OBJ || emit == EMIT_C))
		status = _build(&fe, strategy, emit, clang, &bp, &obj, &objlen);
	if (status == EXIT_OK) {
		if (emit == EMIT_OBJ && !out)
			out = default_out = _default_obj(argv[optind]);
		_cleanup_fclose_ FILE *f = out ? fopen(out, "we") : NULL;
		if (out && !f) {
			cli_error("cannot write '%s': %s", out, strerror(errno));
			status = EXIT_SYSTEM;
		} else {
			FILE *w = f ? f : stdout;
			switch (emit) {
			case EMIT_OBJ:
				fwrite(obj, 1, objlen, w);
				break;
			case EMIT_C:
				fwrite(bp.c, 1, bp.c_len, w);
				break;
			case EMIT_TREE: {
				int r = backend_print_tree(w, &fe.ir, strategy);
				if (r < 0) {
					cli_error("cannot build the program: %s", strerror(-r));
					status = EXIT_SYSTEM;
				}
				break;
			}
			case EMIT_IR:
				ir_print(w, &fe.ir);
				break;
			}
			if (ferror(w)) {
				cli_error("cannot write '%s': %s", out ? out : "standard output", strerror(errno));
				status = EXIT_SYSTEM;
			}
		}
	}
	backend_program_free(&bp);
	frontend_free(&fe);
	return status;
}
