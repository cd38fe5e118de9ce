/* steer status [--json]: what is applied, what it decided, which sockets and processes serve it. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "monitor.h"
#include "runtime.h"

#define MAX_RULES_SHOWN 20

static const char *const _slot_names[STEER_SLOTS_PER_SERVICE] = { "tcp/ipv4", "tcp/ipv6", "udp/ipv4", "udp/ipv6" };

static void _when(int64_t ns, char out[32])
{
	time_t sec = (time_t)(ns / 1000000000);

	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&sec));
}

static const char *_file(const struct rt_status *s, const struct steer_rule_record *r)
{
	return r->file < s->cur.m.nfiles ? s->cur.m.files[r->file] : "?";
}

static void _local(const struct status_socket *so, char *out, size_t len)
{
	char buf[PREFIX_STRLEN];

	if (!so->found) {
		snprintf(out, len, "?");
		return;
	}
	addr_format(so->addr, so->family, buf);
	snprintf(out, len, so->family == FAM_V6 ? "[%s]:%u" : "%s:%u", buf, so->port);
}

static const char *const _relays[] = { "sockmap", "splice", "copy" };

/* What a forward does: "a.example -> 127.0.0.1:9001" per name, then the default (or the one upstream). */
static json_object *_json_forward(const struct built_forward *f)
{
	json_object *o = json_object_new_object(), *names = json_object_new_array();
	char buf[UPSTREAM_STRLEN], key[260]; /* "*." and a name of at most 253 */

	json_object_object_add(o, "by", json_object_new_string(f->by == FWD_SNI ? "sni" : f->by == FWD_HOST ? "host" : "static"));
	for (uint32_t i = 0; i < f->nnames; i++) {
		json_object *n = json_object_new_object();
		snprintf(key, sizeof(key), "%s%s", f->names[i].wildcard ? "*." : "", f->names[i].name);
		json_object_object_add(n, "name", json_object_new_string(key));
		json_object_object_add(n, "upstream", json_object_new_string(upstream_format(&f->names[i].up, buf)));
		json_object_array_add(names, n);
	}
	json_object_object_add(o, f->by == FWD_STATIC ? "upstream" : "default", json_object_new_string(upstream_format(&f->up, buf)));
	json_object_object_add(o, "names", names);
	return o;
}

static json_object *_json_proxy(const struct rt_status *s)
{
	const struct steer_proxy_stats *p = &s->proxy;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pid", p->pid ? json_object_new_int64(p->pid) : NULL);
	json_object_object_add(o, "running", json_object_new_boolean(s->proxy_running));
	json_object_object_add(o, "relay", json_object_new_string(p->relay < 3 ? _relays[p->relay] : "?"));
	json_object_object_add(o, "connections", json_object_new_uint64(s->proxy_running ? p->conns_live : 0));
	json_object_object_add(o, "connections_total", json_object_new_uint64(p->conns_total));
	json_object_object_add(o, "refused_total", json_object_new_uint64(p->refused));
	json_object_object_add(o, "bytes_up", json_object_new_uint64(p->bytes_up));
	json_object_object_add(o, "bytes_down", json_object_new_uint64(p->bytes_down));
	return o;
}

static const char *const _iface_states[] = { [IFACE_OK] = "ok", [IFACE_GONE] = "gone", [IFACE_RENAMED] = "renamed" };

static json_object *_json(const struct rt_status *s)
{
	json_object *doc = cli_json_doc();
	char buf[PATH_MAX + 64];

	json_object_object_add(doc, "applied", json_object_new_boolean(s->applied));
	json_object_object_add(doc, "netns", json_object_new_uint64(s->netns));
	if (!s->applied)
		return doc;
	const struct built_manifest *m = &s->cur.m;
	json_object_object_add(doc, "state", json_object_new_string(s->dir));
	json_object_object_add(doc, "verified", json_object_new_boolean(!s->problem[0]));
	if (s->problem[0])
		json_object_object_add(doc, "problem", json_object_new_string(s->problem));
	json_object *pol = json_object_new_object();
	json_object_object_add(pol, "path", json_object_new_string(m->policy));
	json_object_object_add(pol, "sha256", json_object_new_string(m->sha256));
	_when(s->cur.applied_ns, buf);
	json_object_object_add(pol, "applied_at", json_object_new_string(buf));
	json_object_object_add(pol, "strategy", json_object_new_string(strategy_name(m->strategy)));
	json_object_object_add(pol, "rules", json_object_new_int64(m->nrules));
	json_object_object_add(pol, "built_by", json_object_new_string(m->built_by));
	json_object_object_add(doc, "policy", pol);
	json_object *prog = json_object_new_object();
	json_object_object_add(prog, "id", json_object_new_int64(s->cur.prog_id));
	json_object_object_add(prog, "link_id", json_object_new_int64(s->link_id));
	json_object_object_add(doc, "program", prog);
	json_object *ifs = json_object_new_array();
	for (uint32_t i = 0; i < m->nifaces; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->ifaces[i]));
		json_object_object_add(o, "ifindex", json_object_new_int64(s->cur.ifindex[i]));
		if (s->ifaces) {
			json_object_object_add(o, "state", json_object_new_string(_iface_states[s->ifaces[i].state]));
			if (s->ifaces[i].state == IFACE_RENAMED)
				json_object_object_add(o, "now", json_object_new_string(s->ifaces[i].now));
		}
		json_object_array_add(ifs, o);
	}
	json_object_object_add(doc, "interfaces", ifs);
	json_object *rules = json_object_new_array();
	for (size_t i = 0; i < s->rules.n; i++) {
		const struct status_rule *r = &s->rules.v[i];
		cli_record_action(&s->cur.m, r->rec.action, buf, sizeof(buf));
		json_object *o = cli_json_rule(r->index + 1, _file(s, &r->rec), r->rec.line, r->rec.col, buf);
		json_object_object_add(o, "hits", json_object_new_uint64(r->hits));
		json_object_array_add(rules, o);
	}
	json_object_object_add(doc, "rules", rules);
	json_object_object_add(doc, "unmatched", json_object_new_uint64(s->unmatched));
	json_object *svcs = json_object_new_array();
	for (uint32_t k = 0; s->services && k < m->nservices; k++) {
		const struct status_service *ss = &s->services[k];
		json_object *o = json_object_new_object(), *protos = json_object_new_array(), *socks = json_object_new_array();
		json_object *missing = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(ss->svc->name));
		json_object_object_add(o, "slot", json_object_new_int64(ss->slot));
		for (uint8_t p = PROTO_TCP; p <= PROTO_UDP; p++)
			if (ss->svc->protos & p)
				json_object_array_add(protos, json_object_new_string(proto_name(p)));
		json_object_object_add(o, "protos", protos);
		for (uint32_t i = 0; i < ss->nsockets; i++) {
			const struct status_socket *so = &ss->sockets[i];
			json_object *x = json_object_new_object(), *procs = json_object_new_array();
			json_object_object_add(x, "proto", json_object_new_string(proto_name(so->proto)));
			json_object_object_add(x, "family", json_object_new_int(so->family == FAM_V6 ? 6 : 4));
			json_object_object_add(x, "slot", json_object_new_int64(so->slot));
			json_object_object_add(x, "cookie", json_object_new_uint64(so->cookie));
			if (so->found) {
				_local(so, buf, sizeof(buf));
				json_object_object_add(x, "local", json_object_new_string(buf));
				json_object_object_add(x, "dual_stack", json_object_new_boolean(so->dual_stack));
			}
			for (size_t n = 0; n < so->owners.n; n++) {
				json_object *p = json_object_new_object();
				json_object_object_add(p, "pid", json_object_new_int(so->owners.v[n].pid));
				json_object_object_add(p, "comm", json_object_new_string(so->owners.v[n].comm));
				json_object_object_add(p, "cgroup", json_object_new_string(so->owners.v[n].cgroup));
				json_object_array_add(procs, p);
			}
			json_object_object_add(x, "processes", procs);
			json_object_array_add(socks, x);
		}
		json_object_object_add(o, "sockets", socks);
		for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++)
			if (ss->missing & (1u << i))
				json_object_array_add(missing, json_object_new_string(_slot_names[i]));
		json_object_object_add(o, "missing", missing);
		if (ss->svc->forward)
			json_object_object_add(o, "forward", _json_forward(ss->svc->forward));
		json_object_array_add(svcs, o);
	}
	json_object_object_add(doc, "services", svcs);
	json_object *mons = json_object_new_array();
	for (uint32_t i = 0; i < STEER_MONITORS; i++) {
		const struct steer_monitor *x = &s->monitors.m[i];
		if (!rt_monitor_attached(&s->monitors, s->monitors_active, i))
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(x->pid));
		json_object_object_add(o, "not_shown_buffer_full", json_object_new_uint64(x->lost));
		json_object_object_add(o, "not_shown_rate", json_object_new_uint64(x->limited));
		json_object_array_add(mons, o);
	}
	json_object_object_add(doc, "monitors", mons);
	json_object_object_add(doc, "proxy", s->proxy_known ? _json_proxy(s) : NULL);
	return doc;
}

static int _cmp_hits(const void *a, const void *b)
{
	const struct status_rule *x = a, *y = b;

	return x->hits < y->hits ? 1 : x->hits > y->hits ? -1 : (x->index > y->index) - (x->index < y->index);
}

static void _print_human(struct rt_status *s)
{
	const struct built_manifest *m = &s->cur.m;
	char buf[PATH_MAX + 64], act[256];

	if (!s->applied) {
		printf("no policy applied in network namespace %lu\n", (unsigned long)s->netns);
		return;
	}
	_when(s->cur.applied_ns, buf);
	printf("policy    %s\n", m->policy);
	printf("          sha256 %s, applied %s, %u rules, strategy %s, built by steer %s\n", m->sha256, buf, m->nrules,
	       strategy_name(m->strategy), m->built_by);
	printf("program   id %u, link %u, network namespace %lu\n", s->cur.prog_id, s->link_id, (unsigned long)s->netns);
	if (s->problem[0]) {
		printf("problem   %s\n", s->problem);
		return;
	}
	for (uint32_t i = 0; i < m->nifaces; i++) {
		printf("%s %s ifindex %u", i ? "         " : "interface", m->ifaces[i], s->cur.ifindex[i]);
		if (s->ifaces && s->ifaces[i].state == IFACE_GONE)
			printf(" (gone: its rules match nothing; apply again to follow a new %s)", m->ifaces[i]);
		else if (s->ifaces && s->ifaces[i].state == IFACE_RENAMED)
			printf(" (now %s: its rules match that interface; apply again to follow %s)", s->ifaces[i].now,
			       m->ifaces[i]);
		putchar('\n');
	}
	if (s->rules.n)
		qsort(s->rules.v, s->rules.n, sizeof(*s->rules.v), _cmp_hits);
	printf("hits      %llu lookups matched no rule%s\n", (unsigned long long)s->unmatched, s->rules.n ? "; by rule:" : "");
	for (size_t i = 0; i < s->rules.n && i < MAX_RULES_SHOWN; i++) {
		const struct status_rule *r = &s->rules.v[i];
		cli_record_action(&s->cur.m, r->rec.action, act, sizeof(act));
		printf("          %10llu  rule %u at %s:%u -> %s\n", (unsigned long long)r->hits, r->index + 1, _file(s, &r->rec),
		       r->rec.line, act);
	}
	if (s->rules.n > MAX_RULES_SHOWN)
		printf("          ... and %zu more rules with hits (--json lists them all)\n", s->rules.n - MAX_RULES_SHOWN);
	if (s->proxy_known) {
		const struct steer_proxy_stats *p = &s->proxy;
		if (s->proxy_running)
			printf("proxy     pid %u, relay %s: %llu live connections, %llu in all, %llu refused, %llu bytes up, %llu down\n",
			       p->pid, p->relay < 3 ? _relays[p->relay] : "?", (unsigned long long)p->conns_live,
			       (unsigned long long)p->conns_total, (unsigned long long)p->refused,
			       (unsigned long long)p->bytes_up, (unsigned long long)p->bytes_down);
		else
			printf("proxy     not running (it had %llu connections, %llu bytes up, %llu down)\n",
			       (unsigned long long)p->conns_total, (unsigned long long)p->bytes_up,
			       (unsigned long long)p->bytes_down);
	}
	for (uint32_t i = 0, n = 0; i < STEER_MONITORS; i++) {
		const struct steer_monitor *x = &s->monitors.m[i];
		if (!rt_monitor_attached(&s->monitors, s->monitors_active, i))
			continue;
		printf("%s pid %u: %llu decisions not shown (buffer full), %llu over its --rate\n", n++ ? "         " : "monitor  ",
		       x->pid, (unsigned long long)x->lost, (unsigned long long)x->limited);
	}
	printf("services\n");
	for (uint32_t k = 0; s->services && k < m->nservices; k++) {
		const struct status_service *ss = &s->services[k];
		const struct built_forward *f = ss->svc->forward;
		printf("  %s%s\n", ss->svc->name, f ? " (steer proxy)" : "");
		for (uint32_t i = 0; f && f->by != FWD_STATIC && i <= f->nnames; i++) {
			char up[UPSTREAM_STRLEN];
			if (i < f->nnames)
				printf("    %s%s -> %s\n", f->names[i].wildcard ? "*." : "", f->names[i].name,
				       upstream_format(&f->names[i].up, up));
			else
				printf("    default -> %s\n", upstream_format(&f->up, up));
		}
		for (uint32_t i = 0; i < ss->nsockets; i++) {
			const struct status_socket *so = &ss->sockets[i];
			_local(so, buf, sizeof(buf));
			printf("    %s/ipv%d  %-24s cookie %llu%s", proto_name(so->proto), so->family == FAM_V6 ? 6 : 4, buf,
			       (unsigned long long)so->cookie, so->dual_stack ? " dual-stack" : "");
			for (size_t n = 0; n < so->owners.n; n++)
				printf("%s pid %d (%s) cgroup %s", n ? "," : "", so->owners.v[n].pid, so->owners.v[n].comm,
				       so->owners.v[n].cgroup);
			putchar('\n');
		}
		for (uint32_t i = 0; i < STEER_SLOTS_PER_SERVICE; i++)
			if (ss->missing & (1u << i))
				printf("    %s  no socket\n", _slot_names[i]);
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		CLI_TARGET_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char options[] = "  --json           print one JSON document\n" CLI_TARGET_HELP
				      "  -h, --help       show this help\n";
	const struct cli_cmd *self = cli_find("status");
	_cleanup_(rt_status_free) struct rt_status s = { 0 };
	struct cli_opts co;
	bool json = false;
	int c, r;

	cli_opts_init(&co);
	while ((c = cli_getopt(argc, argv, "h", opts, &co)) != -1) {
		if (c == OPT_BAD)
			return EXIT_INVALID;
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			return cli_usage(self, options, true);
		default:
			return cli_usage(self, options, false);
		}
	}
	if (cli_operands(self, options, argc, argv, 0) != EXIT_OK)
		return EXIT_INVALID;
	if ((r = rt_status(&co.target, &s)) < 0)
		return cli_fail(r);
	if (json) {
		_cleanup_json_ json_object *doc = _json(&s);
		cli_json_print(doc, true);
	} else {
		_print_human(&s);
	}
	/* A state that disagrees with the kernel is not healthy, whatever else status could read. */
	int status = s.problem[0] ? EXIT_SYSTEM : EXIT_OK;
	if (s.problem[0])
		cli_error("the applied state disagrees with the kernel: %s", s.problem);
	return status;
}
