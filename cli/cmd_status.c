/* steer status [--json]: what is applied, what it decided, which sockets and processes serve it. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime.h"

#define MAX_RULES_SHOWN 20

static const char *_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "?";
}

static int _cmp_hits(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b, *hx, *hy;
	uint64_t vx = 0, vy = 0;

	if (json_object_object_get_ex(x, "hits", &hx))
		vx = json_object_get_uint64(hx);
	if (json_object_object_get_ex(y, "hits", &hy))
		vy = json_object_get_uint64(hy);
	return vx < vy ? 1 : vx > vy ? -1 : 0;
}

static void _print_human(json_object *doc)
{
	json_object *policy, *prog, *rules, *svcs, *v;

	if (json_object_object_get_ex(doc, "applied", &v) && !json_object_get_boolean(v)) {
		printf("no policy applied in network namespace %s\n", _str(doc, "netns"));
		return;
	}
	json_object_object_get_ex(doc, "policy", &policy);
	printf("policy    %s\n", _str(policy, "path"));
	printf("          sha256 %s, applied %s, %s rules, strategy %s\n", _str(policy, "sha256"), _str(policy, "applied"),
	       _str(policy, "rules"), _str(policy, "strategy"));
	if (json_object_object_get_ex(doc, "program", &prog))
		printf("program   id %s, link %s, network namespace %s\n", _str(prog, "id"), _str(prog, "link_id"),
		       _str(doc, "netns"));

	json_object_object_get_ex(doc, "rules", &rules);
	size_t n = rules ? json_object_array_length(rules) : 0;
	json_object **sorted = calloc(n + 1, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_object_array_get_idx(rules, i);
	qsort(sorted, n, sizeof(*sorted), _cmp_hits);
	printf("hits      %s lookups matched no rule%s\n", _str(doc, "unmatched"), n ? "; by rule:" : "");
	for (size_t i = 0; i < n && i < MAX_RULES_SHOWN; i++)
		printf("          %10s  rule %s at %s\n", _str(sorted[i], "hits"), _str(sorted[i], "index"),
		       _str(sorted[i], "where"));
	if (n > MAX_RULES_SHOWN)
		printf("          ... and %zu more rules with hits (--json lists them all)\n", n - MAX_RULES_SHOWN);
	free(sorted);

	printf("services\n");
	json_object_object_get_ex(doc, "services", &svcs);
	for (size_t i = 0; svcs && i < json_object_array_length(svcs); i++) {
		json_object *s = json_object_array_get_idx(svcs, i), *socks, *missing;
		printf("  %s\n", _str(s, "name"));
		json_object_object_get_ex(s, "sockets", &socks);
		for (size_t k = 0; socks && k < json_object_array_length(socks); k++) {
			json_object *so = json_object_array_get_idx(socks, k), *procs;
			json_object *dual;
			printf("    %s/ipv%s  %-24s cookie %s%s", _str(so, "proto"), _str(so, "family"),
			       json_object_object_get_ex(so, "local", &v) ? json_object_get_string(v) : "?", _str(so, "cookie"),
			       json_object_object_get_ex(so, "dual_stack", &dual) && json_object_get_boolean(dual)
				       ? " dual-stack"
				       : "");
			if (json_object_object_get_ex(so, "processes", &procs))
				for (size_t p = 0; p < json_object_array_length(procs); p++) {
					json_object *pr = json_object_array_get_idx(procs, p);
					printf("%s pid %s (%s) cgroup %s", p ? "," : "", _str(pr, "pid"), _str(pr, "comm"),
					       _str(pr, "cgroup"));
				}
			putchar('\n');
		}
		if (json_object_object_get_ex(s, "missing", &missing))
			for (size_t k = 0; k < json_object_array_length(missing); k++)
				printf("    %s  no socket\n", json_object_get_string(json_object_array_get_idx(missing, k)));
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "netns", required_argument, NULL, 'n' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char options[] = "  --json        print one JSON document\n"
				      "  --netns PATH  the network namespace (default: this one)\n"
				      "  --bpffs DIR   where the state is pinned (default: /sys/fs/bpf)\n"
				      "  -h, --help    show this help\n";
	const struct cli_cmd *self = cli_find("status");
	struct rt_target t = { 0 };
	json_object *doc = NULL;
	bool json = false;
	char *err = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			t.netns = optarg;
			break;
		case 'b':
			t.bpffs = optarg;
			break;
		case 'h':
			return cli_usage(self, options, true);
		default:
			return cli_usage(self, options, false);
		}
	}
	if (optind != argc)
		return cli_usage(self, options, false);
	int r = rt_status(&t, &doc, &err);
	if (r < 0) {
		cli_error("%s", err);
		free(err);
		return EXIT_SYSTEM;
	}
	if (json)
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		_print_human(doc);
	json_object_put(doc);
	return EXIT_OK;
}
