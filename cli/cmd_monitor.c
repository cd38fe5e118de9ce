/*
 * steer monitor: each decision of the applied program as it happens, with its
 * rule and the process that received it; or, with --established, the bytes
 * each service's processes move on the connections they accepted.
 */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "established.h"
#include "monitor.h"

static const char _options[] =
	"  --rule FILE:LINE    only the decisions of the rule written there\n"
	"  --service NAME      only those of rules that send to service NAME (or forward NAME)\n"
	"  --verdict LIST      only these: service, forward, drop, pass, miss (comma-separated)\n"
	"  --proto tcp|udp     only this protocol\n"
	"  --src PREFIX        only lookups from PREFIX\n"
	"  --dst PREFIX        only lookups to PREFIX\n"
	"  --rate N            at most N events a second (the rest are counted, not shown)\n"
	"  --count N           stop after N events\n"
	"  --buffer BYTES      the ring buffer's size: a power of 2, K or M allowed (default 1M)\n"
	"  --established       instead: bytes each service's processes move on their connections\n"
	"  --interval SECONDS  with --established, time between samples (default 1)\n"
	"  --json              one JSON object per line\n" CLI_TARGET_HELP "  -h, --help          show this help\n";

static volatile sig_atomic_t _stop;

static void _on_signal(int sig)
{
	(void)sig;
	_stop = 1;
}

struct out {
	bool json;
	uint64_t count, limit;
	char cwd[PATH_MAX];
};

static const char *const _kinds[STEER_EV_KINDS] = { "service", "forward", "drop", "pass", "miss" };
static const char *const _why[] = { NULL, "no_socket", "refused" };

/* A rule's file as the operator would write it: relative to here when it is below. */
static const char *_short(const struct out *o, const char *file)
{
	size_t n = strlen(o->cwd);

	return n > 1 && strncmp(file, o->cwd, n) == 0 && file[n] == '/' ? file + n + 1 : file;
}

static void _endpoint(const struct monitor_event *e, u128 a, uint16_t port, char *out, size_t len)
{
	char buf[PREFIX_STRLEN];

	addr_format(a, e->family, buf);
	snprintf(out, len, e->family == FAM_V6 ? "[%s]:%u" : "%s:%u", buf, port);
}

static void _time(const struct timespec *t, char out[40])
{
	struct tm tm;
	char sec[32];

	gmtime_r(&t->tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%.24s.%06uZ", sec, (unsigned)(t->tv_nsec / 1000) % 1000000u);
}

/* The verdict's name as eval says it: a forward is named by what it forwards to. */
static const char *_target(const struct monitor_event *e)
{
	if (!e->service)
		return NULL;
	return e->service->forward && strncmp(e->service->name, "forward ", 8) == 0 ? e->service->name + 8
										    : e->service->name;
}

static void _print_json(struct out *o, const struct monitor_event *e)
{
	_cleanup_json_ json_object *doc = json_object_new_object();
	char buf[PATH_MAX + 64];

	_time(&e->time, buf);
	json_object_object_add(doc, "time", json_object_new_string(buf));
	json_object_object_add(doc, "proto", json_object_new_string(proto_name(e->proto)));
	_endpoint(e, e->src, e->sport, buf, sizeof(buf));
	json_object_object_add(doc, "src", json_object_new_string(buf));
	_endpoint(e, e->dst, e->dport, buf, sizeof(buf));
	json_object_object_add(doc, "dst", json_object_new_string(buf));
	json_object_object_add(doc, "iif", e->iif ? json_object_new_string(e->iif) : NULL);
	json_object_object_add(doc, "verdict", json_object_new_string(e->kind < STEER_EV_KINDS ? _kinds[e->kind] : "?"));
	bool fwd = e->service && e->service->forward;
	json_object_object_add(doc, "service", e->service && !fwd ? json_object_new_string(e->service->name) : NULL);
	if (fwd)
		json_object_object_add(doc, "forward", json_object_new_string(_target(e)));
	json_object_object_add(doc, "reason", e->why && e->why < 3 ? json_object_new_string(_why[e->why]) : NULL);
	if (e->rule) {
		cli_record_action(&e->policy->m, e->rule->action, buf, sizeof(buf));
		json_object_object_add(doc, "rule", cli_json_rule(e->rule_index + 1, e->file, e->rule->line, e->rule->col, buf));
	} else {
		json_object_object_add(doc, "rule", NULL);
	}
	if (e->has_socket) {
		json_object *so = json_object_new_object(), *procs = json_object_new_array();
		json_object_object_add(so, "slot", json_object_new_int64(e->slot));
		json_object_object_add(so, "cookie", json_object_new_uint64(e->cookie));
		for (size_t i = 0; i < e->owners->n; i++) {
			json_object *p = json_object_new_object();
			json_object_object_add(p, "pid", json_object_new_int(e->owners->v[i].pid));
			json_object_object_add(p, "comm", json_object_new_string(e->owners->v[i].comm));
			json_object_object_add(p, "cgroup", json_object_new_string(e->owners->v[i].cgroup));
			json_object_array_add(procs, p);
		}
		json_object_object_add(so, "processes", procs);
		json_object_object_add(so, "gone", json_object_new_boolean(e->gone));
		json_object_object_add(doc, "socket", so);
	} else {
		json_object_object_add(doc, "socket", NULL);
	}
	puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
}

static void _print_text(struct out *o, const struct monitor_event *e)
{
	char t[40], src[PREFIX_STRLEN + 8], dst[PREFIX_STRLEN + 8], rule[PATH_MAX + 16], verdict[512];

	_time(&e->time, t);
	_endpoint(e, e->src, e->sport, src, sizeof(src));
	_endpoint(e, e->dst, e->dport, dst, sizeof(dst));
	if (e->rule)
		snprintf(rule, sizeof(rule), "%s:%u", _short(o, e->file), e->rule->line);
	else
		snprintf(rule, sizeof(rule), "no rule");
	if (e->kind == STEER_EV_SERVICE || e->kind == STEER_EV_FORWARD)
		snprintf(verdict, sizeof(verdict), "%s %s", _kinds[e->kind], _target(e) ? _target(e) : "?");
	else if (e->why && e->service)
		snprintf(verdict, sizeof(verdict), "%s (%s %s: %s)", _kinds[e->kind],
			 e->service->forward ? "forward" : "service", _target(e),
			 e->why == STEER_MISSED_NO_SOCKET + 1 ? "no socket" : "socket refused");
	else
		snprintf(verdict, sizeof(verdict), "%s", e->kind < STEER_EV_KINDS ? _kinds[e->kind] : "?");
	printf("%s %s %s -> %s%s%s  %s  %s", t, proto_name(e->proto), src, dst, e->iif ? " iif " : "",
	       e->iif ? e->iif : "", rule, verdict);
	if (e->has_socket) {
		printf("  socket %llu", (unsigned long long)e->cookie);
		if (e->gone)
			printf(" (its process is gone)");
		for (size_t i = 0; i < e->owners->n; i++)
			printf("%s pid %d (%s) cgroup %s", i ? "," : "", e->owners->v[i].pid, e->owners->v[i].comm,
			       e->owners->v[i].cgroup);
	}
	putchar('\n');
}

static void _on_event(void *ctx, const struct monitor_event *e)
{
	struct out *o = ctx;

	if (o->limit && o->count >= o->limit)
		return;
	o->count++;
	if (o->json)
		_print_json(o, e);
	else
		_print_text(o, e);
}

/* What the program counted and could not show, said once each time it grows. */
static void _dropped(const struct out *o, uint64_t n, uint64_t *shown, const char *why, const char *key)
{
	if (n == *shown)
		return;
	if (o->json)
		printf("{\"not_shown\":%llu,\"reason\":\"%s\"}\n", (unsigned long long)(n - *shown), key);
	else
		printf("-- %llu decisions not shown: %s\n", (unsigned long long)(n - *shown), why);
	*shown = n;
}

static bool _kinds_parse(const char *list, uint32_t *out)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	*out = 0;
	for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save)) {
		uint32_t k = 0;
		while (k < STEER_EV_KINDS && strcmp(w, _kinds[k]) != 0)
			k++;
		if (k == STEER_EV_KINDS)
			return false;
		*out |= 1u << k;
	}
	return *out != 0;
}

static bool _size_parse(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return false;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v < 4096 || v > (1ull << 30) || (v & (v - 1)))
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool _prefix(const char *s, struct prefix *p)
{
	return prefix_parse(s, p) == ADDR_OK;
}

static void _human_bytes(uint64_t n, char out[16])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, 16, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* One process's row of an --established sample. */
static void _print_row(const struct out *o, const char *now, const struct est_row *x, double interval)
{
	char in[16], out[16], rin[16], rout[16];

	if (o->json) {
		_cleanup_json_ json_object *j = json_object_new_object();
		json_object_object_add(j, "time", json_object_new_string(now));
		json_object_object_add(j, "service", json_object_new_string(x->services));
		json_object_object_add(j, "pid", json_object_new_int(x->pid));
		json_object_object_add(j, "comm", json_object_new_string(x->comm));
		json_object_object_add(j, "cgroup", json_object_new_string(x->cgroup));
		json_object_object_add(j, "connections", json_object_new_int64(x->conns));
		json_object_object_add(j, "bytes_in", json_object_new_uint64(x->bytes_in));
		json_object_object_add(j, "bytes_out", json_object_new_uint64(x->bytes_out));
		json_object_object_add(j, "bytes_in_per_second", json_object_new_double((double)x->delta_in / interval));
		json_object_object_add(j, "bytes_out_per_second", json_object_new_double((double)x->delta_out / interval));
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		return;
	}
	_human_bytes(x->bytes_in, in);
	_human_bytes(x->bytes_out, out);
	_human_bytes((uint64_t)((double)x->delta_in / interval), rin);
	_human_bytes((uint64_t)((double)x->delta_out / interval), rout);
	printf("  %-20s %8d %-16s %6u %12s %12s %12s %12s\n", x->services, x->pid, x->comm, x->conns, in, out, rin, rout);
}

static int _established(const struct rt_target *t, const struct out *o, double interval)
{
	_cleanup_(rt_established_free) struct rt_established e = { 0 };
	_cleanup_vec_ est_vec rows = { 0 };
	struct timespec nap = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
	uint64_t samples = 0;
	int r;

	while (!_stop && (!o->limit || samples <= o->limit)) { /* --count N: N samples after the baseline */
		if ((r = rt_established(t, &e, &rows)) < 0)
			return cli_fail(r);
		if (samples++ == 0) { /* the first sample is only the baseline of the rates */
			nanosleep(&nap, NULL);
			continue;
		}
		char now[40];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		_time(&ts, now);
		if (!o->json)
			printf("%s\n  %-20s %8s %-16s %6s %12s %12s %12s %12s\n", now, "SERVICE", "PID", "COMM", "CONNS",
			       "BYTES IN", "BYTES OUT", "IN/S", "OUT/S");
		for (size_t i = 0; i < rows.n; i++)
			_print_row(o, now, &rows.v[i], interval);
		fflush(stdout);
		nanosleep(&nap, NULL);
	}
	return EXIT_OK;
}

int cmd_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },     { "service", required_argument, NULL, 's' },
		{ "verdict", required_argument, NULL, 'V' },  { "proto", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 'S' },      { "dst", required_argument, NULL, 'D' },
		{ "rate", required_argument, NULL, 'R' },     { "count", required_argument, NULL, 'c' },
		{ "buffer", required_argument, NULL, 'b' },   { "established", no_argument, NULL, 'e' },
		{ "interval", required_argument, NULL, 'i' }, { "json", no_argument, NULL, 'j' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },           { 0 },
	};
	const struct cli_cmd *self = cli_find("monitor");
	struct monitor_opts mo = { .buffer = 1u << 20 };
	struct out o = { 0 };
	struct cli_opts co;
	bool established = false;
	double interval = 1;
	char *end;
	int c, r;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		switch (c) {
		case OPT_BAD:
			return EXIT_INVALID;
		case 'r':
			mo.rule = optarg;
			break;
		case 's':
			mo.service = optarg;
			break;
		case 'V':
			if (!_kinds_parse(optarg, &mo.kinds)) {
				cli_error("--verdict takes service, forward, drop, pass and miss, comma-separated, not '%s'", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'p':
			if (strcmp(optarg, "tcp") && strcmp(optarg, "udp")) {
				cli_error("--proto takes tcp or udp, not '%s'", optarg);
				return EXIT_INVALID;
			}
			mo.proto = (uint8_t)((strcmp(optarg, "tcp") == 0 ? PROTO_TCP : PROTO_UDP) + 1);
			break;
		case 'S':
		case 'D':
			if (!_prefix(optarg, c == 'S' ? &mo.src : &mo.dst)) {
				cli_error("--%s takes an address or a prefix (host bits zero), not '%s'", c == 'S' ? "src" : "dst",
					  optarg);
				return EXIT_INVALID;
			}
			*(c == 'S' ? &mo.has_src : &mo.has_dst) = true;
			break;
		case 'R':
		case 'c':
			errno = 0;
			uint64_t n = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || n == 0 || *optarg == '-') {
				cli_error("--%s takes a positive whole number, not '%s'", c == 'R' ? "rate" : "count", optarg);
				return EXIT_INVALID;
			}
			*(c == 'R' ? &mo.rate : &o.limit) = n;
			break;
		case 'b':
			if (!_size_parse(optarg, &mo.buffer)) {
				cli_error("--buffer takes a power of 2 from 4096 to 1G (K and M allowed), not '%s'", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'e':
			established = true;
			break;
		case 'i':
			if (!cli_seconds(optarg, &interval) || interval < 0.01) {
				cli_error("--interval takes seconds, at least 0.01, not '%s'", optarg);
				return EXIT_INVALID;
			}
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 0) != EXIT_OK)
		return EXIT_INVALID;
	if (!getcwd(o.cwd, sizeof(o.cwd)))
		o.cwd[0] = '\0';
	struct sigaction sa = { .sa_handler = _on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (established)
		return _established(&co.target, &o, interval);

	_cleanup_monitor_ struct rt_monitor m = { .slot = -1 };
	uint64_t lost = 0, limited = 0, shown_lost = 0, shown_limited = 0;
	if ((r = rt_monitor_open(&co.target, &mo, &m)) < 0)
		return cli_fail(r);
	if (!o.json)
		fprintf(stderr, "steer monitor: watching %s (slot %d, %u-byte buffer); Ctrl-C stops\n",
			m.gens[0].rec.m.policy, m.slot, mo.buffer);
	/* A line at a time to a terminal; to a file or pipe in blocks, flushed after each drain. */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	char note[sizeof(m.note)] = "";
	struct timespec flushed, now;
	clock_gettime(CLOCK_MONOTONIC, &flushed);
	while (!_stop && (!o.limit || o.count < o.limit)) {
		if ((r = rt_monitor_poll(&m, 200, _on_event, &o)) < 0)
			return cli_fail(r);
		/* Blocks, not a write per drain: a few events a drain at a low rate would be a write each. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (r == 0 || (now.tv_sec - flushed.tv_sec) * 1000000000L + now.tv_nsec - flushed.tv_nsec > 100000000L) {
			fflush(stdout);
			flushed = now;
		}
		if (strcmp(note, m.note) != 0) {
			snprintf(note, sizeof(note), "%s", m.note);
			if (note[0])
				fprintf(stderr, "steer monitor: %s\n", note);
		}
		rt_monitor_dropped(&m, &lost, &limited);
		_dropped(&o, lost, &shown_lost, "the monitor fell behind (a larger --buffer keeps more)", "buffer_full");
		_dropped(&o, limited, &shown_limited, "over --rate", "rate");
	}
	/* The last word: nothing new is written, what the buffer holds is read, then what was missed. */
	rt_monitor_stop(&m);
	while (rt_monitor_poll(&m, 0, _on_event, &o) > 0)
		;
	rt_monitor_dropped(&m, &lost, &limited);
	_dropped(&o, lost, &shown_lost, "the monitor fell behind (a larger --buffer keeps more)", "buffer_full");
	_dropped(&o, limited, &shown_limited, "over --rate", "rate");
	return EXIT_OK;
}
