/*
 * steer metrics: the counters in Prometheus' text exposition format, printed
 * once (for node_exporter's textfile collector) or served at /metrics with
 * libmicrohttpd. Every scrape reads the kernel afresh: no daemon state, no
 * cache. docs/metrics.md lists the series and what a re-apply does to them.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "monitor.h"
#include "runtime.h"

static const char _options[] =
	"  --listen ADDR:PORT  serve /metrics over HTTP there until SIGTERM, e.g. 127.0.0.1:9431\n"
	"  --per-rule          also a series per rule (one per rule: mind a policy's size)\n" CLI_TARGET_HELP
	"  -h, --help          show this help\n";

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_ctx {
	const struct rt_target *target;
	bool per_rule;
};

/* A label value with \, " and newline escaped, as the format asks. */
static void _label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void _family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample of NAME with the service label (and VERDICT or REASON label when given). */
static void _svc_sample(FILE *f, const char *name, const char *service, const char *key, const char *value, uint64_t n)
{
	fprintf(f, "%s{service=\"", name);
	_label(f, service);
	fprintf(f, "\",%s=\"%s\"} %llu\n", key, value, (unsigned long long)n);
}

static void _write(FILE *f, const struct rt_status *s, bool per_rule)
{
	const struct built_manifest *m = &s->cur.m;
	const struct counters *c = &s->counters;
	char buf[PATH_MAX + 64];

	_family(f, "steer_build_info", "gauge", "The steer that serves these metrics.");
	fprintf(f, "steer_build_info{version=\"%s\"} 1\n", STEER_VERSION);
	_family(f, "steer_policy_applied", "gauge", "1 when a policy is applied in this network namespace.");
	fprintf(f, "steer_policy_applied %d\n", s->applied && !s->problem[0]);
	if (!s->applied || s->problem[0])
		return;

	_family(f, "steer_policy_info", "gauge", "The applied policy: its file, hash, strategy and the steer that built it.");
	fprintf(f, "steer_policy_info{path=\"");
	_label(f, m->policy);
	fprintf(f, "\",sha256=\"%s\",strategy=\"%s\",built_by=\"", m->sha256, strategy_name(m->strategy));
	_label(f, m->built_by);
	fprintf(f, "\",program_id=\"%u\"} 1\n", s->cur.prog_id);
	_family(f, "steer_policy_rules", "gauge", "Rules in the applied policy.");
	fprintf(f, "steer_policy_rules %u\n", m->nrules);
	_family(f, "steer_policy_applied_timestamp_seconds", "gauge", "When the applied policy was applied.");
	fprintf(f, "steer_policy_applied_timestamp_seconds %.3f\n", (double)s->cur.applied_ns / 1e9);

	_family(f, "steer_decisions_total", "counter",
		"Lookups decided by a rule: by the service it sent them to (a socket took them, or the rule fell back to "
		"drop or pass), or by drop and pass rules.");
	for (uint32_t k = 0; k < m->nservices; k++) {
		const struct service_counters *sc = &c->services[k];
		uint64_t missed = 0;
		for (int i = 0; i < STEER_MISSED_PER_SERVICE; i++)
			missed += sc->missed[i];
		const char *took = m->services[k].forward ? "forward" : "service";
		_svc_sample(f, "steer_decisions_total", m->services[k].name, "verdict", took,
			    sc->decided > missed ? sc->decided - missed : 0);
		_svc_sample(f, "steer_decisions_total", m->services[k].name, "verdict", "drop",
			    sc->missed[STEER_MISSED_NO_SOCKET * 2] + sc->missed[STEER_MISSED_REFUSED * 2]);
		_svc_sample(f, "steer_decisions_total", m->services[k].name, "verdict", "pass",
			    sc->missed[STEER_MISSED_NO_SOCKET * 2 + 1] + sc->missed[STEER_MISSED_REFUSED * 2 + 1]);
	}
	fprintf(f, "steer_decisions_total{verdict=\"drop\"} %llu\n", (unsigned long long)c->drop);
	fprintf(f, "steer_decisions_total{verdict=\"pass\"} %llu\n", (unsigned long long)c->pass);
	_family(f, "steer_misses_total", "counter", "Lookups no rule matched: the kernel's regular lookup went on.");
	fprintf(f, "steer_misses_total %llu\n", (unsigned long long)c->miss);
	_family(f, "steer_errors_total", "counter",
		"Lookups a service's rule could not hand to a socket: no_socket (none registered for the protocol and "
		"family), refused (the kernel refused the socket, e.g. IPv6-only for IPv4).");
	for (uint32_t k = 0; k < m->nservices; k++) {
		const uint64_t *x = c->services[k].missed;
		_svc_sample(f, "steer_errors_total", m->services[k].name, "reason", "no_socket", x[0] + x[1]);
		_svc_sample(f, "steer_errors_total", m->services[k].name, "reason", "refused", x[2] + x[3]);
	}

	_family(f, "steer_service_sockets", "gauge",
		"Sockets registered for a service, by protocol and family; 0 where its rules send lookups that no socket "
		"takes.");
	uint32_t without = 0;
	for (uint32_t k = 0; s->services && k < m->nservices; k++) {
		const struct status_service *ss = &s->services[k];
		for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++) {
			bool held = false;
			for (uint32_t n = 0; n < ss->nsockets; n++)
				held |= ss->sockets[n].slot == ss->slot + i;
			if (!held && !(ss->svc->used_slots & (1u << i)))
				continue;
			fprintf(f, "steer_service_sockets{service=\"");
			_label(f, ss->svc->name);
			fprintf(f, "\",proto=\"%s\",family=\"%d\"} %d\n", i & STEER_SLOT_UDP ? "udp" : "tcp",
				i & STEER_SLOT_V6 ? 6 : 4, held);
		}
		without += ss->missing != 0;
	}
	_family(f, "steer_services_without_socket", "gauge",
		"Services with a protocol and family their rules use and no socket serves.");
	fprintf(f, "steer_services_without_socket %u\n", without);

	if (per_rule) {
		_family(f, "steer_rule_hits_total", "counter",
			"Lookups each rule decided, by where it is written (FILE:LINE:COL) and its action.");
		/* Every rule, hit or not: a counter's series starts at 0, or rate() misses its first hits. */
		for (uint32_t i = 0; i < m->nrules; i++) {
			const struct steer_rule_record *r = &s->records[i];
			snprintf(buf, sizeof(buf), "%s:%u:%u", r->file < m->nfiles ? m->files[r->file] : "?", r->line, r->col);
			fprintf(f, "steer_rule_hits_total{rule=\"");
			_label(f, buf);
			cli_record_action(m, r->action, buf, sizeof(buf));
			fprintf(f, "\",action=\"");
			_label(f, buf);
			fprintf(f, "\"} %llu\n", (unsigned long long)c->rules[i]);
		}
	}

	uint32_t attached = 0;
	for (uint32_t i = 0; i < STEER_MONITORS; i++)
		attached += rt_monitor_attached(&s->monitors, s->monitors_active, i);
	_family(f, "steer_monitors", "gauge", "steer monitor processes attached.");
	fprintf(f, "steer_monitors %u\n", attached);
	_family(f, "steer_monitor_events_lost_total", "counter",
		"Decisions an attached monitor did not receive, by monitor pid and reason: buffer_full (its ring buffer "
		"was full, or it fell so far behind that its lease ran out), or rate (over its --rate).");
	for (uint32_t i = 0; i < STEER_MONITORS; i++) {
		const struct steer_monitor *x = &s->monitors.m[i];
		if (!rt_monitor_attached(&s->monitors, s->monitors_active, i))
			continue;
		fprintf(f, "steer_monitor_events_lost_total{pid=\"%u\",reason=\"buffer_full\"} %llu\n", x->pid,
			(unsigned long long)x->lost);
		fprintf(f, "steer_monitor_events_lost_total{pid=\"%u\",reason=\"rate\"} %llu\n", x->pid,
			(unsigned long long)x->limited);
	}

	if (s->proxy_known) {
		const struct steer_proxy_stats *p = &s->proxy;
		_family(f, "steer_proxy_up", "gauge", "1 while steer proxy runs for the applied policy.");
		fprintf(f, "steer_proxy_up %d\n", s->proxy_running);
		_family(f, "steer_proxy_connections", "gauge", "Connections steer proxy relays now.");
		fprintf(f, "steer_proxy_connections %llu\n", (unsigned long long)(s->proxy_running ? p->conns_live : 0));
		_family(f, "steer_proxy_connections_total", "counter", "Connections steer proxy accepted.");
		fprintf(f, "steer_proxy_connections_total %llu\n", (unsigned long long)p->conns_total);
		_family(f, "steer_proxy_refused_total", "counter",
			"Connections steer proxy closed unrelayed (no name matched a drop default, upstream refused or timed "
			"out).");
		fprintf(f, "steer_proxy_refused_total %llu\n", (unsigned long long)p->refused);
		_family(f, "steer_proxy_bytes_total", "counter", "Bytes steer proxy relayed, by direction.");
		fprintf(f, "steer_proxy_bytes_total{direction=\"up\"} %llu\n", (unsigned long long)p->bytes_up);
		fprintf(f, "steer_proxy_bytes_total{direction=\"down\"} %llu\n", (unsigned long long)p->bytes_down);
	}
}

/* The exposition for one scrape into *TEXT. 0, or -errno with the message set. */
static int _render(const struct metrics_ctx *x, char **text, size_t *len)
{
	_cleanup_(rt_status_free) struct rt_status s = { 0 };
	int r;

	if ((r = rt_status(x->target, &s)) < 0)
		return r;
	FILE *f = open_memstream(text, len);
	if (!f)
		return error_set(-ENOMEM, "out of memory");
	_write(f, &s, x->per_rule);
	fclose(f);
	return 0;
}

static enum MHD_Result _serve(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *data, size_t *data_len, void **state)
{
	static const char index[] = "steer metrics: the series are at /metrics\n";
	const struct metrics_ctx *x = cls;
	struct MHD_Response *res;
	unsigned status = MHD_HTTP_OK;
	size_t len = 0;
	char *text = NULL;

	(void)version, (void)data, (void)data_len, (void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		res = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		MHD_add_response_header(res, "Allow", "GET, HEAD");
	} else if (strcmp(url, "/metrics") == 0) {
		if (_render(x, &text, &len) == 0) {
			res = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
			MHD_add_response_header(res, "Content-Type", CONTENT_TYPE);
		} else {
			/* Prometheus marks the target down and keeps the reason: say it. */
			char msg[1024];
			int n = snprintf(msg, sizeof(msg), "steer metrics: %s\n", error_message());
			res = MHD_create_response_from_buffer((size_t)n, msg, MHD_RESPMEM_MUST_COPY);
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			error_clear();
		}
	} else if (strcmp(url, "/") == 0) {
		res = MHD_create_response_from_buffer(sizeof(index) - 1, (void *)index, MHD_RESPMEM_PERSISTENT);
	} else {
		res = MHD_create_response_from_buffer(10, (void *)"not found\n", MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	}
	enum MHD_Result ok = MHD_queue_response(conn, status, res);
	MHD_destroy_response(res);
	return ok;
}

static int _listen(const struct metrics_ctx *x, const char *where)
{
	struct sockaddr_storage ss = { 0 };
	u128 addr;
	uint16_t port;
	int family = endpoint_parse(where, &addr, &port);
	sigset_t set;
	int sig;

	if (family < 0 || port == 0) {
		cli_error("--listen takes ADDRESS:PORT (e.g. 127.0.0.1:9431 or [::1]:9431), not '%s'", where);
		return EXIT_INVALID;
	}
	if (family == FAM_V4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		addr_to_bytes(addr, FAM_V4, &in->sin_addr);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		addr_to_bytes(addr, FAM_V6, &in6->sin6_addr);
	}
	/* Signals are waited for here, not delivered to the server's thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* One thread answers scrapes one at a time: each reads the kernel under the state's lock anyway. */
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | (family == FAM_V6 ? MHD_USE_IPv6 : 0),
						port, NULL, NULL, _serve, (void *)x, MHD_OPTION_SOCK_ADDR, &ss,
						MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!d) {
		cli_error("cannot serve metrics at %s: %s", where, strerror(errno ? errno : EADDRINUSE));
		return EXIT_SYSTEM;
	}
	fprintf(stderr, "steer metrics: serving http://%s/metrics\n", where);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return EXIT_OK;
}

int cmd_metrics(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "per-rule", no_argument, NULL, 'r' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_cmd *self = cli_find("metrics");
	struct cli_opts co;
	struct metrics_ctx x = { 0 };
	const char *listen = NULL;
	int c;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		switch (c) {
		case OPT_BAD:
			return EXIT_INVALID;
		case 'l':
			listen = optarg;
			break;
		case 'r':
			x.per_rule = true;
			break;
		case 'h':
			return cli_usage(self, _options, true);
		default:
			return cli_usage(self, _options, false);
		}
	}
	if (cli_operands(self, _options, argc, argv, 0) != EXIT_OK)
		return EXIT_INVALID;
	x.target = &co.target;
	if (listen)
		return _listen(&x, listen);
	size_t len;
	_cleanup_free_ char *text = NULL;
	int r = _render(&x, &text, &len);
	if (r < 0)
		return cli_fail(r);
	fwrite(text, 1, len, stdout);
	return EXIT_OK;
}
