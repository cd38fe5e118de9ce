/* JSON at the CLI edge: the same objects, named the same, in every document (docs/json.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eval.h"

json_object *cli_json_doc(void)
{
	json_object *doc = json_object_new_object();

	json_object_object_add(doc, "version", json_object_new_int(CLI_JSON_VERSION));
	return doc;
}

void cli_json_print(json_object *doc, bool pretty)
{
	puts(json_object_to_json_string_ext(doc, (pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

void cli_action_text(enum action_kind kind, const char *service, bool or_pass, char *out, size_t len)
{
	if (kind == ACT_FORWARD)
		snprintf(out, len, "%s", service ? service : "forward"); /* a forward's service is named as it reads */
	else if (kind == ACT_DROP)
		snprintf(out, len, "drop");
	else if (kind == ACT_PASS)
		snprintf(out, len, "pass");
	else
		snprintf(out, len, "service %s%s", service, or_pass ? " or pass" : "");
}

json_object *cli_json_rule(uint32_t number, const char *file, uint32_t line, uint32_t col, const char *action)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "number", json_object_new_int64(number));
	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "line", json_object_new_int64(line));
	json_object_object_add(o, "column", json_object_new_int64(col));
	json_object_object_add(o, "action", json_object_new_string(action));
	return o;
}

static json_object *_diag(const struct diag_list *d, const struct diag *r)
{
	static const char *const levels[] = { [DIAG_ERROR] = "error", [DIAG_WARNING] = "warning", [DIAG_NOTE] = "note" };
	json_object *o = json_object_new_object();
	const struct location *l = &r->loc;

	/* As the text says it: under --werror a warning is an error. */
	json_object_object_add(o, "severity",
			       json_object_new_string(r->level == DIAG_WARNING && d->werror ? "error" : levels[r->level]));
	json_object_object_add(o, "file", l->src ? json_object_new_string(l->src->path) : NULL);
	json_object_object_add(o, "line", l->src ? json_object_new_int64(l->line) : NULL);
	json_object_object_add(o, "column", l->src ? json_object_new_int64(l->col) : NULL);
	json_object_object_add(o, "end_line", l->src ? json_object_new_int64(l->end_line) : NULL);
	json_object_object_add(o, "end_column", l->src ? json_object_new_int64(l->end_col) : NULL);
	json_object_object_add(o, "message", json_object_new_string(r->msg));
	return o;
}

json_object *cli_json_diags(const struct diag_list *d)
{
	json_object *all = json_object_new_array(), *last = NULL;

	for (const struct diag *r = d->head; r; r = r->next) {
		if (r->level == DIAG_NOTE && last) {
			json_object *notes;
			if (!json_object_object_get_ex(last, "notes", &notes)) {
				notes = json_object_new_array();
				json_object_object_add(last, "notes", notes);
			}
			json_object_array_add(notes, _diag(d, r));
			continue;
		}
		last = _diag(d, r);
		json_object_array_add(all, last);
	}
	return all;
}

/* "forward 127.0.0.1:9000" or "forward sni", as the policy writes the action. */
static void _forward_text(const struct ir_forward *fw, char *out, size_t len)
{
	FILE *f = fmemopen(out, len, "w");

	if (!f) {
		snprintf(out, len, "forward");
		return;
	}
	ir_forward_print(f, fw);
	fclose(f);
}

json_object *cli_json_verdict(json_object *o, const struct ir_policy *p, const struct verdict *v)
{
	static const char *const kinds[] = { [ACT_SERVICE] = "service", [ACT_DROP] = "drop", [ACT_PASS] = "pass",
					     [ACT_FORWARD] = "forward" };
	char act[256];

	json_object_object_add(o, "verdict", json_object_new_string(kinds[v->kind]));
	json_object_object_add(o, "service",
			       v->kind == ACT_SERVICE ? json_object_new_string(p->services[v->service].name) : NULL);
	if (v->kind == ACT_FORWARD) {
		_forward_text(&p->forwards[v->forward], act, sizeof(act));
		json_object_object_add(o, "forward", json_object_new_string(act + strlen("forward ")));
	}
	if (v->rule == RULE_NONE) {
		json_object_object_add(o, "rule", NULL);
		return o;
	}
	const struct ir_rule *r = &p->rules[v->rule];
	if (r->act.kind == ACT_FORWARD)
		_forward_text(&p->forwards[r->act.forward], act, sizeof(act));
	else
		cli_action_text(r->act.kind, r->act.kind == ACT_SERVICE ? p->services[r->act.service].name : NULL,
				r->act.fallback == ACT_PASS, act, sizeof(act));
	json_object_object_add(o, "rule", cli_json_rule(r->id + 1, r->loc.src->path, r->loc.line, r->loc.col, act));
	return o;
}

void cli_record_action(const struct built_manifest *m, uint32_t act, char *out, size_t len)
{
	uint32_t kind = act >> STEER_ACT_KIND_SHIFT, svc = act & STEER_ACT_SERVICE_MASK;

	cli_action_text(kind == STEER_ACT_DROP	  ? ACT_DROP
			: kind == STEER_ACT_PASS  ? ACT_PASS
			: kind == STEER_ACT_FORWARD ? ACT_FORWARD
						    : ACT_SERVICE,
			svc < m->nservices ? m->services[svc].name : "?", act & STEER_ACT_OR_PASS, out, len);
}
