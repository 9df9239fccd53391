/*
 * reload.c - `troupe reload` / SIGHUP: re-read the config file and bring
 * the running tree in line with it: start new programs, stop and delete
 * removed ones, restart changed ones. Groups (nested supervisors) cannot
 * change while the daemon runs; such a file is refused and nothing
 * changes. A file with an error is refused the same way (file:line).
 *
 * `update NAME...` (supervisorctl's `update GROUP...`) does the same for
 * the named programs and groups only: the running config becomes the
 * file's version of those and the old one of the others (merged), so a
 * later `reread` still shows what was left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int groups_equal(struct cfg *a, struct cfg *b)
{
	if (a->ngroups != b->ngroups)
		return 0;
	for (int i = 0; i < a->ngroups; i++) {
		struct cfg_group *x = &a->groups[i], *y = &b->groups[i];
		if (strcmp(x->name, y->name) || strcmp(x->parent, y->parent) ||
		    x->flags.strategy != y->flags.strategy ||
		    x->flags.intensity != y->flags.intensity ||
		    x->flags.period_ms != y->flags.period_ms ||
		    x->flags.auto_shutdown != y->flags.auto_shutdown ||
		    x->instances != y->instances ||
		    x->priority != y->priority || x->restart != y->restart)
			return 0;
	}
	return 1;
}

static tp_sup *group_sup(struct daemon *d, const char *group)
{
	return group[0] ? tp_sup_child_sup(daemon_owner(d, group), group)
	                : d->root;
}

static int remove_prog(struct daemon *d, const char *name)
{
	tp_sup *s = daemon_owner(d, name);
	if (s == NULL)
		return TP_OK;
	int rv = tp_sup_terminate_child(s, name);
	if (rv == TP_OK || rv == TP_ENOENT)
		rv = tp_sup_delete_child(s, name);
	return rv == TP_ENOENT ? TP_OK : rv;
}

/* The names of an update: a program, a group (its programs, at any
 * depth) or all; none: everything. */
struct sel {
	char *const *names;
	size_t n;
};

static int named(const struct sel *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->names[i], name) == 0 ||
		    strcmp(w->names[i], "all") == 0)
			return 1;
	return 0;
}

/* Whether program p (of config c) is among what w names. */
static int selected(const struct sel *w, struct cfg *c,
                    const struct cfg_prog *p)
{
	if (w->n == 0 || named(w, p->name))
		return 1;
	const char *g = p->group;
	for (int hops = 0; g[0] && hops < CFG_MAX_GROUPS; hops++) {
		if (named(w, g))
			return 1;
		struct cfg_group *up = cfg_group(c, g);
		g = up ? up->parent : "";
	}
	return 0;
}

/* Each name must be a program of either file or a group. */
static int names_known(const struct sel *w, struct cfg *old, struct cfg *now,
                       char *msg, size_t len)
{
	for (size_t i = 0; i < w->n; i++) {
		const char *x = w->names[i];
		if (strcmp(x, "all") && !cfg_prog(old, x) &&
		    !cfg_prog(now, x) && !cfg_group(now, x)) {
			snprintf(msg, len,
			         "update refused: %s: no such program or group "
			         "in the file or the tree",
			         x);
			return 0;
		}
	}
	return 1;
}

/* What runs after an update of w: the file's [supervisord] section and,
 * program by program, the file's version where w names it, else the
 * running one. NULL when out of memory. */
static struct cfg *merged(struct cfg *old, struct cfg *now, const struct sel *w)
{
	struct cfg *m = malloc(sizeof(*m));
	if (m == NULL)
		return NULL;
	*m = *now;
	m->cap = old->nprogs + now->nprogs;
	m->nprogs = 0;
	if ((m->progs = calloc((size_t)m->cap + 1, sizeof(*m->progs))) ==
	    NULL) {
		free(m);
		return NULL;
	}
	for (int i = 0; i < old->nprogs; i++) {
		struct cfg_prog *o = &old->progs[i],
		                *x = cfg_prog(now, o->name);
		if (!selected(w, old, o))
			cfg_prog_copy(&m->progs[m->nprogs++], o);
		else if (x != NULL)
			cfg_prog_copy(&m->progs[m->nprogs++], x);
	}
	for (int i = 0; i < now->nprogs; i++) {
		struct cfg_prog *x = &now->progs[i];
		if (cfg_prog(old, x->name) == NULL && selected(w, now, x))
			cfg_prog_copy(&m->progs[m->nprogs++], x);
	}
	return m;
}

static int reload(struct daemon *d, const struct sel *w, char *msg, size_t len)
{
	struct cfg *n = calloc(1, sizeof(*n));
	char err[4096];
	int added = 0, removed = 0, changed = 0, rv = TP_OK;
	if (n == NULL) {
		snprintf(msg, len, "reload: out of memory");
		return TP_ENOMEM;
	}
	if (cfg_load(d->cfg->path, n, err, sizeof(err)) != 0) {
		snprintf(msg, len, "reload refused: %s", err);
		cfg_free(n);
		return TP_EINVAL;
	}
	if (!groups_equal(d->cfg, n)) {
		snprintf(msg, len,
		         "reload refused: groups changed; restart "
		         "the daemon to change groups");
		cfg_free(n);
		return TP_ESTATE;
	}
	if (!names_known(w, d->cfg, n, msg, len)) {
		cfg_free(n);
		return TP_ENOENT;
	}
	if (w->n > 0) {
		struct cfg *m = merged(d->cfg, n, w);
		cfg_free(n);
		if ((n = m) == NULL) {
			snprintf(msg, len, "update: out of memory");
			return TP_ENOMEM;
		}
	}
	dlog_apply(d, n);
	for (int i = 0; i < d->cfg->nprogs && rv == TP_OK; i++) {
		struct cfg_prog *old = &d->cfg->progs[i];
		struct cfg_prog *now = cfg_prog(n, old->name);
		if (now == NULL || cfg_prog_changed(old, now)) {
			rv = remove_prog(d, old->name);
			removed += now == NULL;
		}
	}
	for (int i = 0; i < n->nprogs && rv == TP_OK; i++) {
		struct cfg_prog *now = &n->progs[i];
		struct cfg_prog *old = cfg_prog(d->cfg, now->name);
		if (old != NULL && !cfg_prog_changed(old, now))
			continue;
		rv = tp_sup_start_child(group_sup(d, now->group), &now->spec,
		                        NULL);
		if (old == NULL)
			added++;
		else
			changed++;
	}
	n->root.on_event = d->cfg->root.on_event;
	n->root.on_event_arg = d->cfg->root.on_event_arg;
	cfg_free(d->cfg);
	d->cfg = n;
	if (rv != TP_OK)
		snprintf(msg, len, "reload: %s", tp_strerror(rv));
	else
		snprintf(msg, len, "%s: %d added, %d removed, %d changed",
		         w->n > 0 ? "updated" : "reloaded", added, removed,
		         changed);
	return rv;
}

/* systemd hears RELOADING=1 before and READY=1 after, whatever the
 * outcome (the old tree keeps running when the file is refused). */
int daemon_reload(struct daemon *d, char *const *names, size_t n, char *msg,
                  size_t len)
{
	struct sel w = {names, n};
	dsd_reloading();
	int rv = reload(d, &w, msg, len);
	dsd_ready(rv == TP_OK ? "reloaded" : "reload refused");
	return rv;
}
