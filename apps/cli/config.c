/*
 * config.c - the supervisord-style INI file of `troupe supervise`, parsed
 * with libinih (see docs/dependencies.md).
 *
 *   [supervisor]              the root: strategy, intensity, period (ms),
 *                             socket, http (host:port for /metrics),
 *                             logfile, loglevel (the logging actor's)
 *   [group:NAME]              a nested supervisor: strategy, intensity,
 *                             period, restart, parent (another group)
 *   [program:NAME]            a child: command, group, restart, shutdown
 *                             (ms | brutal_kill | infinity), type, ready
 *                             (started | notify), startsecs (seconds),
 *                             start_timeout (ms), stopsignal, directory,
 *                             environment (K=V,K=V), log
 *
 * Values may use %(here)s (the file's directory) and %(ENV_NAME)s. Every
 * error names the file and line, and the file is checked as a whole before
 * the daemon starts anything.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

struct parse {
	struct cfg *c;
	FILE *f;
	int line;
	char here[512];
	char err[256];
	int err_line;
	char cur[128]; /* the section being read */
	char seen[CFG_MAX_PROGS + CFG_MAX_GROUPS + 1][72]; /* headers */
	int nseen;
};

/* inih merges a repeated section into the first: catch it on the raw
 * header line. */
static void check_header(struct parse *p, const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	const char *end = strchr(line, ']');
	if (*line != '[' || end == NULL || p->err[0])
		return;
	int n = (int)(end - line - 1);
	for (int i = 0; i < p->nseen; i++) {
		if ((int)strlen(p->seen[i]) == n &&
		    strncmp(p->seen[i], line + 1, (size_t)n) == 0) {
			snprintf(p->err, sizeof(p->err),
			         "duplicate section [%.*s]", n, line + 1);
			p->err_line = p->line;
			return;
		}
	}
	if (p->nseen < (int)(sizeof(p->seen) / sizeof(p->seen[0])))
		snprintf(p->seen[p->nseen++], sizeof(p->seen[0]), "%.*s", n,
		         line + 1);
}

static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *r = fgets(str, num, p->f);
	if (r == NULL)
		return NULL;
	p->line++;
	check_header(p, str);
	size_t n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(p->f) &&
	    p->err[0] == '\0') {
		snprintf(p->err, sizeof(p->err), "line too long (max %d)",
		         num - 2);
		p->err_line = p->line;
	}
	return r;
}

static int fail(struct parse *p, const char *fmt, const char *a, const char *b)
{
	if (p->err[0] == '\0') {
		snprintf(p->err, sizeof(p->err), fmt, a, b);
		p->err_line = p->line;
	}
	return 0;
}

/* Expands %(here)s and %(ENV_X)s into out. */
static int expand(struct parse *p, const char *v, char *out, size_t len)
{
	size_t k = 0;
	while (*v) {
		const char *val = NULL;
		const char *end;
		char name[128];
		if (v[0] == '%' && v[1] == '(' && (end = strstr(v, ")s"))) {
			snprintf(name, sizeof(name), "%.*s", (int)(end - v - 2),
			         v + 2);
			if (strcmp(name, "here") == 0)
				val = p->here;
			else if (strncmp(name, "ENV_", 4) == 0)
				val = getenv(name + 4);
			if (val == NULL)
				return fail(p, "unknown or unset %%(%s)s", name,
				            NULL);
			size_t n = strlen(val);
			if (k + n >= len)
				return fail(p, "value too long", NULL, NULL);
			memcpy(out + k, val, n);
			k += n;
			v = end + 2;
			continue;
		}
		if (k + 1 >= len)
			return fail(p, "value too long", NULL, NULL);
		out[k++] = *v++;
	}
	out[k] = '\0';
	return 1;
}

/* Copies v into dst, refusing what does not fit. */
static int setstr(struct parse *p, char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return fail(p, "value too long: '%.40s...'", v, NULL);
	memcpy(dst, v, strlen(v) + 1);
	return 1;
}

static int parse_int(const char *v, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || x < min || x > max)
		return 0;
	*out = x;
	return 1;
}

static int parse_strategy(const char *v, tp_strategy *s)
{
	for (int i = TP_ONE_FOR_ONE; i <= TP_SIMPLE_ONE_FOR_ONE; i++)
		if (strcmp(v, tp_strategy_name((tp_strategy)i)) == 0) {
			*s = (tp_strategy)i;
			return 1;
		}
	return 0;
}

static int parse_restart(const char *v, tp_restart *r)
{
	for (int i = TP_PERMANENT; i <= TP_TEMPORARY; i++)
		if (strcmp(v, tp_restart_name((tp_restart)i)) == 0) {
			*r = (tp_restart)i;
			return 1;
		}
	return 0;
}

/* strategy/intensity/period shared by [supervisor] and [group:]. */
static int sup_key(struct parse *p, tp_sup_flags *f, const char *k,
                   const char *v)
{
	long x;
	if (strcmp(k, "strategy") == 0) {
		if (!parse_strategy(v, &f->strategy))
			return fail(p, "bad strategy '%s'", v, NULL);
		return 1;
	}
	if (strcmp(k, "intensity") == 0) {
		if (!parse_int(v, 0, 1000000, &x))
			return fail(p, "bad intensity '%s'", v, NULL);
		f->intensity = (int)x;
		return 1;
	}
	if (strcmp(k, "period") == 0) {
		if (!parse_int(v, 1, 86400000, &x))
			return fail(p, "bad period '%s' (ms)", v, NULL);
		f->period_ms = (int)x;
		return 1;
	}
	return -1;
}

/* Splits a command line on blanks, honouring '...' and "..." quotes. */
static int split(char *buf, char **argv, int max)
{
	int n = 0;
	char *r = buf, *w = buf;
	while (*r) {
		while (isspace((unsigned char)*r))
			r++;
		if (*r == '\0')
			break;
		if (n == max - 1)
			return -1;
		argv[n++] = w;
		char q = 0;
		while (*r && (q || !isspace((unsigned char)*r))) {
			if (!q && (*r == '\'' || *r == '"'))
				q = *r++;
			else if (q && *r == q)
				q = 0, r++;
			else
				*w++ = *r++;
		}
		if (q)
			return -1;
		if (*r)
			r++;
		*w++ = '\0';
	}
	argv[n] = NULL;
	return n;
}

static int split_env(struct cfg_prog *pr, const char *v)
{
	int n = 0;
	if (strlen(v) >= sizeof(pr->envraw))
		return 0;
	snprintf(pr->envraw, sizeof(pr->envraw), "%s", v);
	snprintf(pr->env_buf, sizeof(pr->env_buf), "%s", v);
	for (char *t = strtok(pr->env_buf, ","); t; t = strtok(NULL, ",")) {
		while (isspace((unsigned char)*t))
			t++;
		if (strchr(t, '=') == NULL || n == 31)
			return 0;
		pr->env[n++] = t;
	}
	pr->env[n] = NULL;
	pr->spec.env = pr->env;
	return 1;
}

static int prog_key2(struct parse *p, struct cfg_prog *pr, const char *k,
                     const char *v)
{
	long x;
	if (strcmp(k, "start_timeout") == 0) {
		if (!parse_int(v, 1, 86400000, &x))
			return fail(p, "bad start_timeout '%s' (ms)", v, NULL);
		pr->spec.start_timeout_ms = (int)x;
	} else if (strcmp(k, "startsecs") == 0) {
		char *end;
		double s = strtod(v, &end);
		if (end == v || *end || s < 0 || s > 86400)
			return fail(p, "bad startsecs '%s'", v, NULL);
		pr->spec.startsecs_ms = (int)(s * 1000);
	} else if (strcmp(k, "stopsignal") == 0) {
		if ((pr->spec.stop_signal = cli_signal(v)) == 0)
			return fail(p, "bad stopsignal '%s'", v, NULL);
	} else if (strcmp(k, "directory") == 0) {
		if (!setstr(p, pr->directory, sizeof(pr->directory), v))
			return 0;
		pr->spec.cwd = pr->directory;
	} else if (strcmp(k, "environment") == 0) {
		if (!split_env(pr, v))
			return fail(p, "bad environment '%s'", v, NULL);
	} else if (strcmp(k, "actor") == 0) {
		if (!setstr(p, pr->actor, sizeof(pr->actor), v))
			return 0;
	} else if (strcmp(k, "log") == 0) {
		if (!setstr(p, pr->log, sizeof(pr->log), v))
			return 0;
		pr->spec.log_path = pr->log;
	} else {
		return fail(p, "unknown key '%s' in [program:%s]", k, pr->name);
	}
	return 1;
}

static int prog_key(struct parse *p, struct cfg_prog *pr, const char *k,
                    const char *v)
{
	long x;
	if (strcmp(k, "command") == 0) {
		if (!setstr(p, pr->command, sizeof(pr->command), v))
			return 0;
		snprintf(pr->argv_buf, sizeof(pr->argv_buf), "%s", v);
		if (split(pr->argv_buf, pr->argv, 64) <= 0)
			return fail(p, "bad command '%s'", v, NULL);
	} else if (strcmp(k, "group") == 0) {
		return setstr(p, pr->group, sizeof(pr->group), v);
	} else if (strcmp(k, "restart") == 0) {
		if (!parse_restart(v, &pr->spec.restart))
			return fail(p, "bad restart '%s'", v, NULL);
	} else if (strcmp(k, "shutdown") == 0) {
		if (strcmp(v, "brutal_kill") == 0)
			pr->spec.shutdown_ms = TP_SHUTDOWN_BRUTAL;
		else if (strcmp(v, "infinity") == 0)
			pr->spec.shutdown_ms = TP_SHUTDOWN_INFINITY;
		else if (parse_int(v, 1, 86400000, &x))
			pr->spec.shutdown_ms = (int)x;
		else
			return fail(p, "bad shutdown '%s'", v, NULL);
	} else if (strcmp(k, "type") == 0) {
		if (strcmp(v, "worker") == 0)
			pr->spec.type = TP_WORKER;
		else if (strcmp(v, "supervisor") == 0)
			pr->spec.type = TP_SUPERVISOR;
		else
			return fail(p, "bad type '%s'", v, NULL);
	} else if (strcmp(k, "ready") == 0) {
		if (strcmp(v, "started") == 0)
			pr->spec.ready = TP_READY_STARTED;
		else if (strcmp(v, "notify") == 0)
			pr->spec.ready = TP_READY_NOTIFY;
		else
			return fail(p, "bad ready '%s'", v, NULL);
	} else {
		return prog_key2(p, pr, k, v);
	}
	return 1;
}

static int valid_name(const char *n)
{
	if (n[0] == '\0' || strlen(n) >= 64)
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' &&
		    *n != '.')
			return 0;
	return 1;
}

static int new_section(struct parse *p, const char *sec)
{
	struct cfg *c = p->c;
	const char *name = strchr(sec, ':');
	if (strcmp(sec, "supervisor") == 0 || sec[0] == '\0')
		return 1;
	if (name == NULL || !valid_name(name + 1))
		return fail(p, "bad section [%s]", sec, NULL);
	name++;
	if (cfg_prog(c, name) || cfg_group(c, name))
		return fail(p, "duplicate name '%s'", name, NULL);
	if (strncmp(sec, "program:", 8) == 0) {
		if (c->nprogs == CFG_MAX_PROGS)
			return fail(p, "too many programs", NULL, NULL);
		struct cfg_prog *pr = &c->progs[c->nprogs++];
		tp_child_spec d = TP_CHILD_SPEC_INIT;
		snprintf(pr->name, sizeof(pr->name), "%s", name);
		pr->spec = d;
		pr->spec.id = pr->name;
		pr->spec.argv = pr->argv;
		pr->line = p->line;
		return 1;
	}
	if (strncmp(sec, "group:", 6) == 0) {
		if (c->ngroups == CFG_MAX_GROUPS)
			return fail(p, "too many groups", NULL, NULL);
		struct cfg_group *g = &c->groups[c->ngroups++];
		tp_sup_flags d = TP_SUP_FLAGS_INIT;
		snprintf(g->name, sizeof(g->name), "%s", name);
		g->flags = d;
		g->line = p->line;
		return 1;
	}
	return fail(p, "unknown section [%s]", sec, NULL);
}

static int handler(void *user, const char *sec, const char *key,
                   const char *raw)
{
	struct parse *p = user;
	struct cfg *c = p->c;
	char v[1024];
	const char *name = strchr(sec, ':');
	if (p->err[0])
		return 0;
	if (strcmp(sec, p->cur) != 0) {
		/* inih reports sections through their keys: a new name is a
		 * new section (an empty one is never seen, and harmless). */
		snprintf(p->cur, sizeof(p->cur), "%s", sec);
		if (!new_section(p, sec))
			return 0;
	}
	if (sec[0] == '\0')
		return fail(p, "'%s' outside of any section", key, NULL);
	if (!expand(p, raw, v, sizeof(v)))
		return 0;
	if (strcmp(sec, "supervisor") == 0) {
		int r = sup_key(p, &c->root, key, v);
		if (r >= 0)
			return r;
		if (strcmp(key, "socket") == 0)
			return setstr(p, c->socket, sizeof(c->socket), v);
		else if (strcmp(key, "http") == 0)
			return setstr(p, c->http, sizeof(c->http), v);
		else if (strcmp(key, "logfile") == 0)
			return setstr(p, c->logfile, sizeof(c->logfile), v);
		else if (strcmp(key, "loglevel") == 0) {
			if (tp_log_level_parse(v, &c->loglevel) != TP_OK)
				return fail(p, "bad loglevel '%s'", v, NULL);
		} else
			return fail(p, "unknown key '%s' in [supervisor]", key,
			            NULL);
		return 1;
	}
	if (strncmp(sec, "group:", 6) == 0) {
		struct cfg_group *g = cfg_group(c, name + 1);
		int r = sup_key(p, &g->flags, key, v);
		if (r >= 0)
			return r;
		if (strcmp(key, "parent") == 0)
			return setstr(p, g->parent, sizeof(g->parent), v);
		else if (strcmp(key, "restart") == 0) {
			if (!parse_restart(v, &g->restart))
				return fail(p, "bad restart '%s'", v, NULL);
		} else
			return fail(p, "unknown key '%s' in [group:%s]", key,
			            name + 1);
		return 1;
	}
	return prog_key(p, cfg_prog(c, name + 1), key, v);
}

/* actor = URL: the child gets TROUPE_ACTOR_ADDR=URL, and the daemon asks
 * it for its counters (troupe top). */
static int add_actor_env(struct cfg_prog *pr)
{
	int n = 0;
	while (pr->env[n] != NULL)
		n++;
	if (n >= 31)
		return 0;
	snprintf(pr->actor_env, sizeof(pr->actor_env), "TROUPE_ACTOR_ADDR=%s",
	         pr->actor);
	pr->env[n] = pr->actor_env;
	pr->env[n + 1] = NULL;
	pr->spec.env = pr->env;
	return 1;
}

/* Checks what only the whole file can tell. */
static int check(struct parse *p)
{
	struct cfg *c = p->c;
	for (int i = 0; i < c->nprogs; i++) {
		struct cfg_prog *pr = &c->progs[i];
		p->line = pr->line;
		if (pr->argv[0] == NULL)
			return fail(p, "[program:%s] has no command", pr->name,
			            NULL);
		if (pr->actor[0] && !add_actor_env(pr))
			return fail(p,
			            "[program:%s]: too many environment "
			            "entries",
			            pr->name, NULL);
		struct cfg_group *g =
		    pr->group[0] ? cfg_group(c, pr->group) : NULL;
		if (pr->group[0] && g == NULL)
			return fail(p, "[program:%s]: unknown group '%s'",
			            pr->name, pr->group);
		if (g != NULL && g->line > pr->line)
			return fail(p,
			            "[program:%s]: group '%s' must come first",
			            pr->name, pr->group);
	}
	for (int i = 0; i < c->ngroups; i++) {
		struct cfg_group *g = &c->groups[i];
		p->line = g->line;
		if (g->parent[0] && cfg_group(c, g->parent) == NULL)
			return fail(p, "[group:%s]: unknown parent '%s'",
			            g->name, g->parent);
		/* A parent must be defined earlier: no cycles. */
		if (g->parent[0] && cfg_group(c, g->parent) >= g)
			return fail(p,
			            "[group:%s]: parent '%s' must come first",
			            g->name, g->parent);
	}
	if (c->nprogs == 0) {
		p->line = 1;
		return fail(p, "no [program:...] section", NULL, NULL);
	}
	return 1;
}

int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen)
{
	struct parse p = {.c = c};
	tp_sup_flags d = TP_SUP_FLAGS_INIT;
	memset(c, 0, sizeof(*c));
	c->root = d;
	snprintf(c->path, sizeof(c->path), "%s", path);
	char *dup = strdup(path);
	if (dup == NULL)
		return -1;
	if (realpath(dirname(dup), p.here) == NULL)
		snprintf(p.here, sizeof(p.here), ".");
	free(dup);
	if ((p.f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rv = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.f);
	if (rv == 0 && p.err[0] == '\0')
		check(&p);
	if (p.err[0] != '\0' && (rv <= 0 || p.err_line <= rv)) {
		snprintf(err, errlen, "%s:%d: %s", path, p.err_line, p.err);
		return -1;
	}
	if (rv != 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, rv);
		return -1;
	}
	return 0;
}

struct cfg_prog *cfg_prog(struct cfg *c, const char *name)
{
	for (int i = 0; i < c->nprogs; i++)
		if (strcmp(c->progs[i].name, name) == 0)
			return &c->progs[i];
	return NULL;
}

struct cfg_group *cfg_group(struct cfg *c, const char *name)
{
	for (int i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

void cli_default_socket(char *buf, size_t len)
{
	const char *env = getenv("TROUPE_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (env != NULL && env[0] != '\0')
		snprintf(buf, len, "%s", env);
	else if (xdg != NULL && xdg[0] == '/' && access(xdg, W_OK) == 0)
		snprintf(buf, len, "%s/troupe/troupe.sock", xdg);
	else
		snprintf(buf, len, "/tmp/troupe-%u/troupe.sock",
		         (unsigned)getuid());
}

int cfg_prog_changed(const struct cfg_prog *a, const struct cfg_prog *b)
{
	const tp_child_spec *x = &a->spec, *y = &b->spec;
	return strcmp(a->command, b->command) || strcmp(a->group, b->group) ||
	       strcmp(a->directory, b->directory) || strcmp(a->log, b->log) ||
	       strcmp(a->envraw, b->envraw) || strcmp(a->actor, b->actor) ||
	       x->restart != y->restart || x->shutdown_ms != y->shutdown_ms ||
	       x->type != y->type || x->ready != y->ready ||
	       x->startsecs_ms != y->startsecs_ms ||
	       x->start_timeout_ms != y->start_timeout_ms ||
	       x->stop_signal != y->stop_signal;
}
