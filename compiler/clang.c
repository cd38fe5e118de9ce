#include "clang.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"

extern char **environ;

static int _write_file(const char *path, const void *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int _read_file(const char *path, void **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* Puts clang's first error back on the policy rule whose generated code it is about. */
static void _report(const struct ir_policy *p, const struct backend_program *bp, const char *log, bool verbose,
		    struct diag_list *diags)
{
	regex_t re;
	regmatch_t m[4];
	const char *first = log;

	if (regcomp(&re, "prog\\.c:([0-9]+):[0-9]+: (fatal )?error: ([^\n]*)", REG_EXTENDED) == 0) {
		if (regexec(&re, log, 4, m, 0) == 0) {
			uint32_t line = (uint32_t)strtoul(log + m[1].rm_so, NULL, 10);
			int64_t rule = backend_rule_at(bp, line);
			int len = (int)(m[3].rm_eo - m[3].rm_so);
			if (rule >= 0)
				diag_error(diags, &p->rules[rule].loc, "clang rejected the code generated for this rule: %.*s",
					   len, log + m[3].rm_so);
			else
				diag_error(diags, NULL, "clang rejected the generated program: %.*s", len, log + m[3].rm_so);
			first = NULL;
		}
		regfree(&re);
	}
	if (first) {
		const char *nl = strchr(first, '\n');
		diag_error(diags, NULL, "clang failed: %.*s", nl ? (int)(nl - first) : (int)strlen(first), first);
	}
	if (verbose)
		diag_note(diags, NULL, "clang said:\n%s", log);
	else
		diag_note(diags, NULL, "--verbose shows clang's whole output");
}

/* The scratch directory and what clang left in it, removed when it goes out of scope. */
static void _rmtree(char (*dirp)[24])
{
	const char *dir = *dirp;
	static const char *const files[] = { "prog.c", "prog.o", "clang.log" };
	char path[4096];

	if (!dir[0])
		return;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int clang_compile(const struct ir_policy *p, const struct backend_program *bp, const struct clang_opts *o,
		  struct diag_list *diags, void **obj, size_t *len)
{
	const char *clang = o->clang ? o->clang : getenv("STEER_CLANG");
	_cleanup_(_rmtree) char dir[24] = "/tmp/steer-clang-XXXXXX";
	char src[64], out[64], logp[64];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	if (!clang || !*clang)
		clang = "clang";
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return -errno;
	}
	snprintf(src, sizeof(src), "%s/prog.c", dir);
	snprintf(out, sizeof(out), "%s/prog.o", dir);
	snprintf(logp, sizeof(logp), "%s/clang.log", dir);
	if ((r = _write_file(src, bp->c, bp->c_len)) < 0)
		return r;

	/* The temporary directory and the working directory kept out of the debug info: the same C, the same object. */
	char prefix_map[64];
	snprintf(prefix_map, sizeof(prefix_map), "-fdebug-prefix-map=%s=steer", dir);
	char *argv[] = { (char *)clang, "-target", "bpf", "-O2", "-g", "-Wall", "-Wno-unused-function",
			 "-I" STEER_MULTIARCH_INCLUDE, prefix_map, "-fdebug-compilation-dir=steer", "-c", src, "-o", out,
			 NULL };
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	r = posix_spawnp(&pid, clang, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -r;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ void *log = NULL;
		size_t loglen;
		if (_read_file(logp, &log, &loglen) < 0)
			log = strdup("(no output)");
		_report(p, bp, log, o->verbose, diags);
		return -EINVAL;
	}
	return _read_file(out, obj, len);
}
