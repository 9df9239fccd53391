/*
 * ctl_names.c - what the names of a control request mean (the daemon's
 * and every program's control socket alike), supervisorctl
 * style: `NAME` (a program or a group, unique in the tree), `GROUP:NAME`
 * (NAME inside GROUP), `GROUP:*` (GROUP's children), `all` (the root's
 * children). Commands that act on children (stop, restart, status) take
 * a group as itself; those that reach processes (signal, pid, logs) take
 * it as every program below it; start takes it and everything below it,
 * so that `start all` also starts a program stopped inside a group.
 * The framework's services (the logging actor's child) are no names:
 * `stop all` leaves them running.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "troupe/error.h"
#include "troupe/supervisor.h"

struct node {
	char name[64];
	int parent; /* index in the list, -1 for the root's children */
	int nested;
};

struct nodes {
	struct node *v;
	int n, cap;
};

/* Room for one more of size bytes in *v (n used, *cap allocated). */
static int grow(void **v, int n, int *cap, size_t size)
{
	if (n < *cap)
		return 1;
	int c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, (size_t)c * size);
	if (p == NULL)
		return 0;
	*v = p;
	*cap = c;
	return 1;
}

static void walk(tp_sup *s, int parent, struct nodes *t)
{
	tp_child_info *v;
	int n;
	if (tp_sup_which_children(s, &v, &n) != TP_OK)
		return;
	for (int i = 0; i < n; i++) {
		if (tp__ctl_is_service(s, v[i].id))
			continue; /* the logging actor: not a program */
		if (!grow((void **)&t->v, t->n, &t->cap, sizeof(*t->v)))
			break;
		struct node *k = &t->v[t->n++];
		memcpy(k->name, v[i].id, sizeof(k->name));
		k->parent = parent;
		k->nested = v[i].nested;
		if (v[i].nested)
			walk(tp_sup_child_sup(s, v[i].id), t->n - 1, t);
	}
	free(v);
}

static int find(const struct nodes *t, const char *name, size_t len)
{
	for (int i = 0; i < t->n; i++)
		if (strlen(t->v[i].name) == len &&
		    strncmp(t->v[i].name, name, len) == 0)
			return i;
	return -1;
}

static int below(const struct nodes *t, int i, int anc)
{
	for (int p = t->v[i].parent; p >= 0; p = t->v[p].parent)
		if (p == anc)
			return 1;
	return anc < 0;
}

static void add(struct tp__ctl_targets *out, const char *name)
{
	for (int i = 0; i < out->n; i++)
		if (strcmp(out->v[i], name) == 0)
			return;
	if (!grow((void **)&out->v, out->n, &out->cap, sizeof(*out->v)))
		return;
	memcpy(out->v[out->n++], name, sizeof(out->v[0]));
}

/* Node i itself (TP_CTL_CHILDREN), every program at or below it
 * (TP_CTL_PROCS), or it and everything below it (TP_CTL_NODES). */
static void add_node(const struct nodes *t, int i, int mode,
                     struct tp__ctl_targets *out)
{
	if (mode != TP_CTL_PROCS || !t->v[i].nested)
		add(out, t->v[i].name);
	if (mode == TP_CTL_CHILDREN || !t->v[i].nested)
		return;
	for (int k = 0; k < t->n; k++)
		if ((mode == TP_CTL_NODES || !t->v[k].nested) && below(t, k, i))
			add(out, t->v[k].name);
}

/* The children of g (-1: the root), as add_node takes each. */
static void add_children(const struct nodes *t, int g, int mode,
                         struct tp__ctl_targets *out)
{
	for (int k = 0; k < t->n; k++)
		if (t->v[k].parent == g)
			add_node(t, k, mode, out);
}

static int one(const struct nodes *t, const char *pat, int mode,
               struct tp__ctl_targets *out, Troupe__SupReply *rep)
{
	const char *colon = strchr(pat, ':');
	if (strcmp(pat, "all") == 0) {
		add_children(t, -1, mode, out);
		out->wild = 1;
		return 0;
	}
	if (colon == NULL) {
		int i = find(t, pat, strlen(pat));
		if (i >= 0)
			add_node(t, i, mode, out);
		else
			tp__ctl_say(rep, TP_ENOENT,
			            "%s: no such program or group", pat);
		return i < 0;
	}
	int g = find(t, pat, (size_t)(colon - pat));
	if (g < 0 || !t->v[g].nested) {
		tp__ctl_say(rep, TP_ENOENT, "%s: no such group", pat);
		return 1;
	}
	if (strcmp(colon + 1, "*") == 0) {
		add_children(t, g, mode, out);
		out->wild = 1;
		return 0;
	}
	int i = find(t, colon + 1, strlen(colon + 1));
	if (i < 0 || !below(t, i, g)) {
		tp__ctl_say(rep, TP_ENOENT, "%s: no such program in the group",
		            pat);
		return 1;
	}
	add_node(t, i, mode, out);
	return 0;
}

int tp__ctl_resolve(tp_sup *root, char **pats, size_t n, int mode,
                    struct tp__ctl_targets *out, Troupe__SupReply *rep)
{
	struct nodes t = {0};
	int bad = 0;
	memset(out, 0, sizeof(*out));
	walk(root, -1, &t);
	for (size_t i = 0; i < n; i++)
		bad |= one(&t, pats[i], mode, out, rep);
	free(t.v);
	return bad ? TP_ENOENT : TP_OK;
}

void tp__ctl_say(Troupe__SupReply *rep, int code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t old = rep->message ? strlen(rep->message) : 0;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	char *m = realloc(old ? rep->message : NULL, old + (size_t)n + 2);
	if (m == NULL)
		return;
	memcpy(m + old, buf, (size_t)n);
	m[old + n] = '\n';
	m[old + n + 1] = '\0';
	rep->message = m;
	if (code != TP_OK && rep->code == TP_OK)
		rep->code = code;
}

int tp__ctl_targets_has(const struct tp__ctl_targets *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->v[i], name) == 0)
			return 1;
	return 0;
}

void tp__ctl_targets_free(struct tp__ctl_targets *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
