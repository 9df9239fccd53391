/*
 * ctl_view.c - what a `status` reply of a control socket (the daemon's
 * and every program's) says of each child besides its tree: its figures
 * from /proc, and the filter of `status NAME...`.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "troupe/error.h"

void tp__ctl_proc_stats(pid_t pid, Troupe__SupChild *c)
{
	char path[64], buf[1024];
	FILE *f;
	unsigned long utime, stime;
	long rss;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		char *p = strrchr(buf, ')');
		if (p != NULL &&
		    sscanf(p + 2,
		           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		           "%*u %lu %lu %*d %*d %*d %*d %*d %*d %*u "
		           "%*u %ld",
		           &utime, &stime, &rss) == 3) {
			long tck = sysconf(_SC_CLK_TCK);
			c->cpu_ms = (utime + stime) * 1000 / tck;
			c->rss_kb =
			    (uint64_t)rss * sysconf(_SC_PAGESIZE) / 1024;
		}
	}
	fclose(f);
}

void tp__ctl_status_filter(tp_sup *root, const Troupe__SupRequest *req,
                           Troupe__SupReply *rep,
                           void (*free_children)(Troupe__SupReply *))
{
	struct tp__ctl_targets t;
	size_t keep = 0;
	if (tp__ctl_resolve(root, req->names, req->n_names, TP_CTL_CHILDREN, &t,
	                    rep) != TP_OK) {
		tp__ctl_targets_free(&t);
		return;
	}
	int depth = -1; /* inside a kept group down to this depth */
	for (size_t k = 0; k < rep->n_children; k++) {
		Troupe__SupChild *c = rep->children[k];
		if (depth >= 0 && c->depth <= depth)
			depth = -1;
		if (depth < 0 && tp__ctl_targets_has(&t, c->name))
			depth = c->depth;
		Troupe__SupReply one = TROUPE__SUP_REPLY__INIT;
		if (depth >= 0) {
			rep->children[keep++] = c;
			continue;
		}
		one.children = &rep->children[k];
		one.n_children = 1;
		free_children(&one);
	}
	rep->n_children = keep;
	tp__ctl_targets_free(&t);
}
