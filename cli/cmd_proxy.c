/* steer proxy: carries the applied policy's forward rules, in the foreground until SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "proxy.h"

static const char _proxy_options[] =
	"  --relay MODE            sockmap, splice or copy (default: splice; docs/proxy.md says why)\n"
	"  --grace SECONDS         after SIGTERM, how long live connections may go on (default 30)\n"
	"  --first-timeout SECONDS how long to wait for the name of sni and host forwards (default 5)\n"
	"  --connect-timeout SECONDS  how long to wait for an upstream (default 5)\n"
	"  --threads N             worker threads (default: one per CPU)\n"
	"  -v, --verbose           a line per connection on standard error\n"
	CLI_TARGET_HELP
	"  -h, --help              show this help\n";

int cmd_proxy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "grace", required_argument, NULL, 'g' },
		{ "first-timeout", required_argument, NULL, 'F' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("proxy");
	struct proxy_opts po = { .relay = RELAY_SPLICE, .grace = 30, .first_timeout = 5, .connect_timeout = 5, .out = stdout };
	struct cli_opts co;
	double *sec;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	int c, r;

	po.threads = cpus < 1 ? 1 : cpus > PROXY_MAX_THREADS ? PROXY_MAX_THREADS : (unsigned)cpus;
	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "hv", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'r':
			if ((r = relay_mode_parse(optarg, &po.relay)) < 0)
				return cli_fail(r);
			break;
		case 'g':
		case 'F':
		case 'C':
			sec = c == 'g' ? &po.grace : c == 'F' ? &po.first_timeout : &po.connect_timeout;
			if (!cli_seconds(optarg, sec)) {
				cli_error("invalid seconds '%s'", optarg);
				return EXIT_INVALID;
			}
			break;
		case 't':
			errno = 0;
			po.threads = (unsigned)strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || po.threads < 1 || po.threads > PROXY_MAX_THREADS) {
				cli_error("--threads is 1 to %u, not '%s'", PROXY_MAX_THREADS, optarg);
				return EXIT_INVALID;
			}
			break;
		case 'v':
			po.verbose = true;
			break;
		case 'h':
			return cli_usage(self, _proxy_options, true);
		default:
			return cli_usage(self, _proxy_options, false);
		}
	}
	if (cli_operands(self, _proxy_options, argc, argv, 0) != EXIT_OK)
		return EXIT_INVALID;
	po.target = co.target;
	if ((r = proxy_run(&po)) < 0)
		return cli_fail(r);
	return EXIT_OK;
}
