/*
 * render.c - `troupe status` and `troupe tree` from a status reply (the
 * tree flattened depth first, each child with its depth): text with
 * groups as groups, or one JSON document for both (--json, schema in
 * docs/supervisor.md, "version": 1).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

#define JSON_VERSION 1
#define MAX_DEPTH    64

static int is_group(const Troupe__SupChild *c)
{
	/* A program's pool holds its workers (framework ctl_status.c). */
	return strcmp(c->type, "supervisor") == 0 ||
	       strcmp(c->type, "pool") == 0;
}

void cli_fmt_uptime(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	if (ms <= 0)
		snprintf(buf, len, "-");
	else if (s < 3600)
		snprintf(buf, len, "%d:%02d", (int)(s / 60), (int)(s % 60));
	else
		snprintf(buf, len, "%dh%02dm", (int)(s / 3600),
		         (int)(s / 60 % 60));
}

static json_object *int_or_null(int64_t v, int known)
{
	return known ? json_object_new_int64(v) : NULL;
}

static json_object *str_or_null(const char *s)
{
	return s != NULL && s[0] ? json_object_new_string(s) : NULL;
}

static json_object *child_json(const Troupe__SupChild *c)
{
	json_object *o = json_object_new_object();
	int up = c->pid > 0;
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "group", str_or_null(c->parent));
	json_object_object_add(o, "type", json_object_new_string(c->type));
	json_object_object_add(o, "state", json_object_new_string(c->state));
	json_object_object_add(o, "pid", int_or_null(c->pid, up));
	json_object_object_add(o, "restart",
	                       json_object_new_string(c->restart));
	json_object_object_add(o, "restarts",
	                       json_object_new_int64(c->restarts));
	json_object_object_add(o, "uptime_ms",
	                       int_or_null(c->uptime_ms, c->uptime_ms > 0));
	json_object_object_add(
	    o, "last_exit",
	    int_or_null(c->last_exit, c->restarts > 0 || !up || c->last_exit));
	json_object_object_add(o, "rss_kb",
	                       int_or_null((int64_t)c->rss_kb, up));
	json_object_object_add(o, "cpu_ms",
	                       int_or_null((int64_t)c->cpu_ms, up));
	json_object_object_add(o, "msgs_in",
	                       int_or_null(c->msgs_in, c->msgs_in >= 0));
	json_object_object_add(o, "msgs_out",
	                       int_or_null(c->msgs_out, c->msgs_out >= 0));
	if (strcmp(c->type, "worker") == 0 && c->msgs_in >= 0) {
		/* a pool worker: the task it runs now, null when idle */
		int busy = c->task != NULL && c->task[0];
		json_object_object_add(o, "task", str_or_null(c->task));
		json_object_object_add(o, "task_ms",
		                       int_or_null(c->task_ms, busy));
		json_object_object_add(o, "task_item",
		                       int_or_null(c->task_item, busy));
	}
	if (strcmp(c->type, "manager") == 0) {
		json_object_object_add(
		    o, "objects", int_or_null(c->objects, c->objects >= 0));
		json_object_object_add(
		    o, "clients", int_or_null(c->clients, c->clients >= 0));
	}
	json_object_object_add(o, "command", str_or_null(c->command));
	json_object_object_add(o, "log", str_or_null(c->log_path));
	if (is_group(c)) {
		json_object_object_add(o, "strategy", str_or_null(c->strategy));
		json_object_object_add(o, "children", json_object_new_array());
	}
	return o;
}

/* The flattened list back into a tree: a node's parent is the nearest
 * group before it with a smaller depth (top level if none was sent). */
static int print_json(const Troupe__SupReply *r)
{
	json_object *doc = json_object_new_object(), *top;
	json_object *arr[MAX_DEPTH + 1];
	int depth[MAX_DEPTH + 1], sp = 0;
	top = json_object_new_array();
	json_object_object_add(doc, "version",
	                       json_object_new_int(JSON_VERSION));
	json_object_object_add(doc, "daemon_pid",
	                       json_object_new_int(r->daemon_pid));
	json_object_object_add(doc, "strategy", str_or_null(r->strategy));
	json_object_object_add(doc, "log_file", str_or_null(r->log_file));
	json_object_object_add(doc, "log_restarts",
	                       json_object_new_int64(r->log_restarts));
	json_object_object_add(doc, "children", top);
	for (size_t k = 0; k < r->n_children; k++) {
		const Troupe__SupChild *c = r->children[k];
		while (sp > 0 && depth[sp - 1] >= c->depth)
			sp--;
		json_object *o = child_json(c), *kids;
		json_object_array_add(sp > 0 ? arr[sp - 1] : top, o);
		if (is_group(c) && sp < MAX_DEPTH &&
		    json_object_object_get_ex(o, "children", &kids)) {
			depth[sp] = c->depth;
			arr[sp++] = kids;
		}
	}
	puts(json_object_to_json_string_ext(
	    doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return 0;
}

static int count_children(const Troupe__SupReply *r, size_t k)
{
	int n = 0;
	for (size_t j = k + 1; j < r->n_children; j++) {
		if (r->children[j]->depth <= r->children[k]->depth)
			break;
		n += r->children[j]->depth == r->children[k]->depth + 1;
	}
	return n;
}

int cli_render_status(const struct cli_opts *o, const Troupe__SupReply *r)
{
	int bad = 0, base = r->n_children ? r->children[0]->depth : 0;
	for (size_t k = 0; k < r->n_children; k++) {
		const Troupe__SupChild *c = r->children[k];
		char name[160], up[32], pid[16];
		int indent = 2 * (c->depth - base);
		bad |= strcmp(c->state, "running") != 0;
		if (o->json)
			continue;
		cli_fmt_uptime(c->uptime_ms, up, sizeof(up));
		snprintf(name, sizeof(name), "%*s%s%s", indent < 0 ? 0 : indent,
		         "", c->name, is_group(c) ? "/" : "");
		if (is_group(c)) {
			int n = count_children(r, k);
			printf("%-24s %-9s group %s, %d child%s\n", name,
			       c->state, c->strategy, n, n == 1 ? "" : "ren");
			continue;
		}
		snprintf(pid, sizeof(pid), c->pid > 0 ? "%d" : "-", c->pid);
		printf("%-24s %-9s pid %-7s uptime %-7s restarts %u\n", name,
		       c->state, pid, up, c->restarts);
	}
	if (o->json)
		print_json(r);
	return bad ? 1 : 0;
}

/* Whether child k is the last of its siblings. */
static int is_last(const Troupe__SupReply *r, size_t k)
{
	for (size_t j = k + 1; j < r->n_children; j++) {
		if (r->children[j]->depth < r->children[k]->depth)
			return 1;
		if (r->children[j]->depth == r->children[k]->depth)
			return 0;
	}
	return 1;
}

int cli_render_tree(const struct cli_opts *o, const Troupe__SupReply *r)
{
	int last[MAX_DEPTH] = {0};
	if (o->json)
		return print_json(r);
	printf("troupe (pid %d) [%s]\n", r->daemon_pid, r->strategy);
	for (size_t k = 0; k < r->n_children; k++) {
		const Troupe__SupChild *c = r->children[k];
		int d = c->depth < MAX_DEPTH ? c->depth : MAX_DEPTH - 1;
		last[d] = is_last(r, k);
		/* An ancestor with siblings after it keeps its line going. */
		for (int i = 0; i < d; i++)
			fputs(last[i] ? "   " : "│  ", stdout);
		printf("%s %s", last[d] ? "└─" : "├─", c->name);
		if (is_group(c))
			printf(" [%s]", c->strategy);
		printf(" (%s, %s", c->state, c->restart);
		if (c->pid > 0)
			printf(", pid %d", c->pid);
		if (c->task != NULL && c->task[0])
			printf(", running %s for %lld ms", c->task,
			       (long long)c->task_ms);
		if (strcmp(c->type, "manager") == 0 && c->objects >= 0)
			printf(
			    ", %lld object%s, %lld client%s",
			    (long long)c->objects, c->objects == 1 ? "" : "s",
			    (long long)c->clients, c->clients == 1 ? "" : "s");
		printf(")\n");
	}
	return 0;
}
