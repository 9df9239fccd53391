/*
 * reload.c - `troupe reload` / SIGHUP: re-read the config file and bring
 * the running tree in line with it: start new programs, stop and delete
 * removed ones, restart changed ones. Groups (nested supervisors) cannot
 * change while the daemon runs; such a file is refused and nothing
 * changes. A file with an error is refused the same way (file:line).
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

static int reload(struct daemon *d, char *msg, size_t len)
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
	dlog_apply(d, n);
	if (!groups_equal(d->cfg, n)) {
		snprintf(msg, len,
		         "reload refused: groups changed; restart "
		         "the daemon to change groups");
		cfg_free(n);
		return TP_ESTATE;
	}
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
		snprintf(msg, len, "reloaded: %d added, %d removed, %d changed",
		         added, removed, changed);
	return rv;
}

/* systemd hears RELOADING=1 before and READY=1 after, whatever the
 * outcome (the old tree keeps running when the file is refused). */
int daemon_reload(struct daemon *d, char *msg, size_t len)
{
	dsd_reloading();
	int rv = reload(d, msg, len);
	dsd_ready(rv == TP_OK ? "reloaded" : "reload refused");
	return rv;
}
