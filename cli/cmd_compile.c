/* steer compile POLICY [-o OUT] [--emit built|obj|c|tree|ir]: build a policy, or show a stage of it. */
#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"

static const char _options[] =
	"  -o, --output FILE    write to FILE (default for built and obj: POLICY's name\n"
	"                       with .built or .o, here; for the others: standard output)\n"
	"  --emit built         the built policy, for 'steer apply' without clang (default)\n"
	"  --emit obj           the BPF object alone\n"
	"  --emit c             the generated C, each branch annotated with its policy line\n"
	"  --emit tree          the decision structure and its statistics\n"
	"  --emit ir            the normalised IR\n"
	CLI_BUILD_HELP
	"  -h, --help           show this help\n";

enum emit_kind { EMIT_BUILT, EMIT_OBJ, EMIT_C, EMIT_TREE, EMIT_IR };

/* "dir/policy.steer" -> "policy.EXT" */
static char *_default_out(const char *policy, const char *ext)
{
	_cleanup_free_ char *copy = strdup(policy);
	char *base = basename(copy), *dot = strrchr(base, '.'), *out;

	if (dot && dot != base)
		*dot = '\0';
	if (asprintf(&out, "%s.%s", base, ext) < 0)
		abort();
	return out;
}

/* The output: the built policy written whole, or one stage as text or bytes. */
static int _write(struct frontend *fe, enum emit_kind emit, const struct cli_opts *co, const char *out)
{
	_cleanup_built_ struct built_policy b = { 0 };
	struct backend_program bp = { 0 };
	int status = EXIT_OK, r = 0;

	if (emit == EMIT_BUILT || emit == EMIT_OBJ) {
		if ((status = cli_build(fe, &co->build, &b)) != EXIT_OK)
			return status;
		if (emit == EMIT_BUILT)
			return (r = built_write(&b, out)) < 0 ? cli_fail(r) : EXIT_OK;
	} else if (emit == EMIT_C && (r = backend_build(&fe->ir, co->build.strategy, &bp)) < 0) {
		return cli_fail(error_set(r, "cannot build the program: %s", strerror(-r)));
	}
	_cleanup_fclose_ FILE *f = out ? fopen(out, "we") : NULL;
	if (out && !f) {
		backend_program_free(&bp);
		return cli_fail(error_set(-errno, "cannot write '%s': %s", out, strerror(errno)));
	}
	FILE *w = f ? f : stdout;
	switch (emit) {
	case EMIT_OBJ:
		fwrite(b.obj, 1, b.objlen, w);
		break;
	case EMIT_C:
		fwrite(bp.c, 1, bp.c_len, w);
		break;
	case EMIT_TREE:
		if ((r = backend_print_tree(w, &fe->ir, co->build.strategy)) < 0)
			status = cli_fail(error_set(r, "cannot build the program: %s", strerror(-r)));
		break;
	default:
		ir_print(w, &fe->ir);
		break;
	}
	backend_program_free(&bp);
	if (fflush(w) != 0 || ferror(w))
		status = cli_fail(error_set(-EIO, "cannot write '%s': %s", out ? out : "standard output", strerror(errno)));
	return status;
}

int cmd_compile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "emit", required_argument, NULL, 'e' },
		CLI_BUILD_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const emits[] = {
		[EMIT_BUILT] = "built", [EMIT_OBJ] = "obj", [EMIT_C] = "c", [EMIT_TREE] = "tree", [EMIT_IR] = "ir",
	};
	const struct cli_cmd *self = cli_find("compile");
	struct frontend_opts o = { .lint = true, .expects = true };
	const char *out = NULL;
	enum emit_kind emit = EMIT_BUILT;
	_cleanup_free_ char *default_out = NULL;
	struct cli_opts co;
	struct frontend fe;
	int c, status;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "ho:", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'e': {
			size_t i;
			for (i = 0; i < ARRAY_SIZE(emits) && strcmp(optarg, emits[i]) != 0; i++)
				;
			if (i == ARRAY_SIZE(emits)) {
				cli_error("unknown --emit '%s': expected built, obj, c, tree or ir", optarg);
				return EXIT_INVALID;
			}
			emit = (enum emit_kind)i;
			break;
		}
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	status = cli_frontend(&fe, argv[optind], &o);
	if (status == EXIT_OK) {
		if ((emit == EMIT_BUILT || emit == EMIT_OBJ) && !out)
			out = default_out = _default_out(argv[optind], emit == EMIT_BUILT ? "built" : "o");
		status = _write(&fe, emit, &co, out);
	}
	frontend_free(&fe);
	return status;
}
