/* steer register / unregister SERVICE: a service's sockets in and out of the sockets map. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "runtime.h"

static const char _reg_options[] =
	"  --pid PID --fd FD  take descriptor FD of process PID (pidfd_getfd); the process keeps it\n"
	"  --fd FD            an inherited descriptor (e.g. systemd socket activation: 3)\n"
	"  --auto             find the socket listening on the service's declared address\n"
	CLI_TARGET_HELP
	"  -h, --help         show this help\n";

static bool _number(const char *s, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return *s && !*end && !errno && *out >= 0 && *out <= max;
}

int cmd_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "fd", required_argument, NULL, 'f' },
		{ "auto", no_argument, NULL, 'a' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("register");
	struct register_opts ro = { .fd = -1 };
	struct cli_opts co;
	_cleanup_vec_ registered_vec regs = { 0 };
	long v;
	int c, r;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'p':
			if (!_number(optarg, 1L << 22, &v) || v == 0) {
				cli_error("invalid --pid '%s'", optarg);
				return EXIT_INVALID;
			}
			ro.pid = (pid_t)v;
			break;
		case 'f':
			if (!_number(optarg, 1L << 20, &v)) {
				cli_error("invalid --fd '%s'", optarg);
				return EXIT_INVALID;
			}
			ro.fd = (int)v;
			break;
		case 'a':
			ro.autodetect = true;
			break;
		case 'h':
			return cli_usage(self, _reg_options, true);
		default:
			return cli_usage(self, _reg_options, false);
		}
	}
	if (cli_operands(self, _reg_options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	ro.service = argv[optind];
	if (ro.autodetect == (ro.fd >= 0) || (ro.pid && ro.fd < 0)) {
		cli_error("register takes one of --pid PID --fd FD, --fd FD or --auto");
		return EXIT_INVALID;
	}
	if ((r = rt_register(&co.target, &ro, &regs)) < 0)
		return cli_fail(r == -EINVAL ? error_set(r, "cannot register '%s': %s", ro.service, error_message()) : r);
	for (size_t i = 0; i < regs.n; i++) {
		const struct registered *g = &regs.v[i];
		char buf[PREFIX_STRLEN];
		addr_format(g->addr, g->family, buf);
		printf("registered %s %s/ipv%d %s%s%s:%u cookie %llu", ro.service, proto_name(g->proto),
		       g->family == FAM_V4 ? 4 : 6, g->family == FAM_V6 ? "[" : "", buf, g->family == FAM_V6 ? "]" : "",
		       g->port, (unsigned long long)g->cookie);
		if (g->dual_stack)
			printf(" (dual-stack)");
		if (g->pid)
			printf(" from pid %d (%s)", g->pid, g->comm);
		putchar('\n');
		if (g->warning[0])
			fprintf(stderr, "steer: warning: %s\n", g->warning);
	}
	return EXIT_OK;
}

int cmd_unregister(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'P' },
		{ "family", required_argument, NULL, 'F' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char options[] = "  --proto tcp|udp   only this protocol's sockets\n"
				      "  --family 4|6      only this family's sockets\n" CLI_TARGET_HELP
				      "  -h, --help        show this help\n";
	const struct cli_cmd *self = cli_find("unregister");
	struct unregister_opts uo = { .family = -1 };
	struct cli_opts co;
	unsigned removed;
	int c, r;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'P':
			if (strcmp(optarg, "tcp") && strcmp(optarg, "udp")) {
				cli_error("invalid --proto '%s': expected tcp or udp", optarg);
				return EXIT_INVALID;
			}
			uo.proto = strcmp(optarg, "tcp") == 0 ? PROTO_TCP : PROTO_UDP;
			break;
		case 'F':
			if (strcmp(optarg, "4") && strcmp(optarg, "6")) {
				cli_error("invalid --family '%s': expected 4 or 6", optarg);
				return EXIT_INVALID;
			}
			uo.family = optarg[0] == '4' ? FAM_V4 : FAM_V6;
			break;
		case 'h':
			return cli_usage(self, options, true);
		default:
			return cli_usage(self, options, false);
		}
	}
	if (cli_operands(self, options, argc, argv, 1) != EXIT_OK)
		return EXIT_INVALID;
	uo.service = argv[optind];
	if ((r = rt_unregister(&co.target, &uo, &removed)) < 0)
		return cli_fail(r == -EINVAL ? error_set(r, "cannot unregister '%s': %s", uo.service, error_message()) : r);
	printf("unregistered %s: %u socket%s removed\n", uo.service, removed, removed == 1 ? "" : "s");
	return EXIT_OK;
}
