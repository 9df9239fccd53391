/*
 * ctl_config.c - the control commands that compare the config file on
 * disk with the running tree, supervisorctl style: `reread` says what a
 * `reload` (or `update`) would change and changes nothing; `avail` lists
 * every program of the file, in use or not. And `clear`, which empties
 * log files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_int.h"

static void reread(struct daemon *d, struct cfg *n, Troupe__SupReply *rep)
{
	int changes = 0;
	for (int i = 0; i < n->nprogs; i++) {
		struct cfg_prog *old = cfg_prog(d->cfg, n->progs[i].name);
		if (old == NULL || cfg_prog_changed(old, &n->progs[i])) {
			ctl_say(rep, TP_OK, "%s: %s", n->progs[i].name,
			        old == NULL ? "available" : "changed");
			changes++;
		}
	}
	for (int i = 0; i < d->cfg->nprogs; i++) {
		if (cfg_prog(n, d->cfg->progs[i].name) == NULL) {
			ctl_say(rep, TP_OK, "%s: disappeared",
			        d->cfg->progs[i].name);
			changes++;
		}
	}
	if (changes == 0)
		ctl_say(rep, TP_OK, "no config updates");
}

static void avail(struct daemon *d, struct cfg *n, Troupe__SupReply *rep)
{
	for (int i = 0; i < n->ngroups; i++)
		ctl_say(rep, TP_OK, "%-24s %-7s group%s%s", n->groups[i].name,
		        daemon_owner(d, n->groups[i].name) ? "in use" : "avail",
		        n->groups[i].parent[0] ? " in " : "",
		        n->groups[i].parent);
	for (int i = 0; i < n->nprogs; i++)
		ctl_say(rep, TP_OK, "%-24s %-7s program%s%s", n->progs[i].name,
		        daemon_owner(d, n->progs[i].name) ? "in use" : "avail",
		        n->progs[i].group[0] ? " in " : "", n->progs[i].group);
}

void ctl_config_cmd(struct daemon *d, const char *cmd, Troupe__SupReply *rep)
{
	struct cfg *n = calloc(1, sizeof(*n));
	char err[4096];
	if (n == NULL) {
		ctl_say(rep, TP_ENOMEM, "%s: out of memory", cmd);
		return;
	}
	if (cfg_load(d->cfg->path, n, err, sizeof(err)) != 0)
		ctl_say(rep, TP_EINVAL, "%s", err);
	else if (strcmp(cmd, "reread") == 0)
		reread(d, n, rep);
	else
		avail(d, n, rep);
	cfg_free(n);
}

static void clear_file(const char *what, const char *path,
                       Troupe__SupReply *rep)
{
	if (truncate(path, 0) == 0)
		ctl_say(rep, TP_OK, "%s: cleared %s", what, path);
	else
		ctl_say(rep, tp_err_errno(errno), "%s: %s: %s", what, path,
		        strerror(errno));
}

/* A program's own `log =` file is emptied; the records of a captured
 * program share the logging actor's file, which `clear all` empties. */
void ctl_clear(struct daemon *d, const Troupe__SupRequest *req,
               Troupe__SupReply *rep)
{
	struct ctl_targets t;
	int all = 0;
	if (req->n_names == 0) {
		ctl_say(rep, TP_EINVAL, "clear: no name given");
		return;
	}
	for (size_t i = 0; i < req->n_names; i++)
		all |= strcmp(req->names[i], "all") == 0;
	pthread_mutex_lock(&d->mu);
	ctl_resolve(d, req->names, req->n_names, CTL_PROCS, &t, rep);
	for (int i = 0; i < t.n; i++) {
		struct cfg_prog *p = cfg_prog(d->cfg, t.v[i]);
		if (p != NULL && p->log[0])
			clear_file(p->name, p->log, rep);
		else if (!all)
			ctl_say(rep, TP_ESTATE,
			        "%s: its records are in the shared log %s "
			        "(`clear all` empties it)",
			        t.v[i], d->log_path);
	}
	if (all && d->log_path[0])
		clear_file("troupe", d->log_path, rep);
	pthread_mutex_unlock(&d->mu);
	ctl_targets_free(&t);
}
