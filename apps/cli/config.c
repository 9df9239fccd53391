/*
 * config.c - the config file of `troupe supervise`: troupe's own sections
 * and supervisord's, read as a whole (ini.c) before the daemon starts
 * anything. docs/supervisor.md has every key with its supervisord name.
 *
 *   [supervisor] / [supervisord]  the root: strategy, intensity, period
 *                  (ms), auto_shutdown, socket, http (/metrics), logfile
 *                  (+ _maxbytes, _backups), loglevel, pidfile, umask,
 *                  environment (for every program), minfds
 *   [unix_http_server]   file = the control socket
 *   [group:NAME]   a nested supervisor: strategy, intensity, period,
 *                  restart, parent, auto_shutdown, priority, programs
 *   [program:NAME] a program (config_prog.c)
 *   [include]      files = globs, relative to the including file
 *   [supervisorctl], [rpcinterface:x], [inet_http_server]: accepted, said
 *                  to be unused
 *
 * Every error of the file is reported in one run, each as FILE:LINE with a
 * hint (the other name of a key, the allowed values).
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_int.h"

static void vsay(struct parse *p, char *buf, size_t *len, size_t cap,
                 const char *file, int line, const char *fmt, va_list ap)
{
	char msg[700];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	int n = line > 0
	            ? snprintf(buf + *len, cap - *len, "%s:%d: %s\n", file,
	                       line, msg)
	            : snprintf(buf + *len, cap - *len, "%s: %s\n", file, msg);
	if (n > 0 && (size_t)n < cap - *len)
		*len += (size_t)n;
	(void)p;
}

void cfg_err(struct parse *p, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	if (p->elen + 1024 > p->ecap) {
		size_t cap = p->ecap ? p->ecap * 2 : 4096;
		char *e = realloc(p->errs, cap);
		if (e == NULL)
			return;
		p->errs = e;
		p->ecap = cap;
	}
	va_start(ap, fmt);
	vsay(p, p->errs, &p->elen, p->ecap, file, line, fmt, ap);
	va_end(ap);
	p->nerr++;
}

void cfg_note(struct parse *p, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(p->c->notes);
	va_start(ap, fmt);
	vsay(p, p->c->notes, &len, sizeof(p->c->notes), file, line, fmt, ap);
	va_end(ap);
}

static void ini_error(void *arg, const char *file, int line, const char *fmt,
                      ...)
{
	struct parse *p = arg;
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_err(p, file, line, "%s", msg);
}

int cfg_valid_name(const char *n)
{
	if (n[0] == '\0' || strlen(n) >= 64)
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' &&
		    *n != '.')
			return 0;
	return 1;
}

struct cfg_group *cfg_new_group(struct parse *p, const char *name,
                                const char *file, int line)
{
	struct cfg *c = p->c;
	if (c->ngroups == CFG_MAX_GROUPS) {
		cfg_err(p, file, line, "too many groups (max %d)",
		        CFG_MAX_GROUPS);
		return NULL;
	}
	struct cfg_group *g = &c->groups[c->ngroups++];
	tp_sup_flags d = TP_SUP_FLAGS_INIT;
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->file, sizeof(g->file), "%s", file);
	g->flags = d;
	g->line = line;
	g->priority = 999;
	g->order = p->order;
	return g;
}

static int parse_strategy(const char *v, tp_strategy *s)
{
	for (int i = TP_ONE_FOR_ONE; i <= TP_SIMPLE_ONE_FOR_ONE; i++)
		if (strcmp(v, tp_strategy_name((tp_strategy)i)) == 0)
			return *s = (tp_strategy)i, 1;
	return 0;
}

/* strategy, intensity, period, auto_shutdown: [supervisor] and [group:].
 * 1 read, 0 bad value (reported), -1 not one of them. */
static int sup_key(struct parse *p, tp_sup_flags *f, const struct ini_sect *s,
                   const struct ini_kv *kv)
{
	static const char *autos[] = {"never", "any_significant",
	                              "all_significant"};
	const char *k = kv->key, *v = kv->value;
	long x;
	if (strcmp(k, "strategy") == 0) {
		if (parse_strategy(v, &f->strategy))
			return 1;
		cfg_err(p, s->file, kv->line,
		        "bad strategy '%s' (allowed: one_for_one, one_for_all, "
		        "rest_for_one, simple_one_for_one)",
		        v);
	} else if (strcmp(k, "intensity") == 0) {
		if (cv_long(v, 0, 1000000, &x))
			return f->intensity = (int)x, 1;
		cfg_err(p, s->file, kv->line,
		        "bad intensity '%s' (restarts allowed in a period, "
		        ">= 0)",
		        v);
	} else if (strcmp(k, "period") == 0) {
		if (cv_long(v, 1, 86400000, &x))
			return f->period_ms = (int)x, 1;
		cfg_err(p, s->file, kv->line,
		        "bad period '%s' (milliseconds, 1 to 86400000)", v);
	} else if (strcmp(k, "auto_shutdown") == 0) {
		for (int i = 0; i < 3; i++)
			if (strcmp(v, autos[i]) == 0)
				return f->auto_shutdown = (tp_auto_shutdown)i,
				       1;
		cfg_err(p, s->file, kv->line,
		        "bad auto_shutdown '%s' (allowed: never, "
		        "any_significant, all_significant)",
		        v);
	} else {
		return -1;
	}
	return 0;
}

static void unknown(struct parse *p, const struct ini_sect *s,
                    const struct ini_kv *kv, const char *const *known)
{
	const char *near = cv_suggest(kv->key, known);
	if (near != NULL)
		cfg_err(p, s->file, kv->line,
		        "unknown key '%s' in [%s] (did you mean '%s'?)",
		        kv->key, s->name, near);
	else
		cfg_err(p, s->file, kv->line, "unknown key '%s' in [%s]",
		        kv->key, s->name);
}

static void setstr(struct parse *p, const struct ini_sect *s,
                   const struct ini_kv *kv, char *dst, size_t size)
{
	if (strlen(kv->value) >= size)
		cfg_err(p, s->file, kv->line, "%s: too long (max %zu bytes)",
		        kv->key, size - 1);
	else
		memcpy(dst, kv->value, strlen(kv->value) + 1);
}

/* A Unix socket path must fit sockaddr_un (107 bytes on Linux). */
static void socket_key(struct parse *p, const struct ini_sect *s,
                       const struct ini_kv *kv)
{
	struct sockaddr_un un;
	if (strlen(kv->value) >= sizeof(un.sun_path)) {
		cfg_err(p, s->file, kv->line,
		        "%s: the socket path is %zu bytes, over the Unix "
		        "limit of %zu",
		        kv->key, strlen(kv->value), sizeof(un.sun_path) - 1);
		return;
	}
	setstr(p, s, kv, p->c->socket, sizeof(p->c->socket));
	p->c->socket_line = kv->line;
}

static int loglevel(const char *v, int *out)
{
	/* supervisord's names first, then troupe's (troupe/log.h). */
	static const struct {
		const char *n;
		int l;
	} t[] = {{"critical", TP_LOG_CRITICAL},
	         {"warn", TP_LOG_WARNING},
	         {"trace", TP_LOG_DEBUG},
	         {"blather", TP_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(v, t[i].n) == 0)
			return *out = t[i].l, 1;
	return tp_log_level_parse(v, out) == TP_OK;
}

static const char *const root_keys[] = {"strategy",
                                        "intensity",
                                        "period",
                                        "auto_shutdown",
                                        "socket",
                                        "http",
                                        "logfile",
                                        "logfile_maxbytes",
                                        "logfile_backups",
                                        "loglevel",
                                        "pidfile",
                                        "umask",
                                        "environment",
                                        "minfds",
                                        "nodaemon",
                                        "minprocs",
                                        "user",
                                        "directory",
                                        "childlogdir",
                                        "identifier",
                                        "strip_ansi",
                                        "nocleanup",
                                        "silent",
                                        NULL};

static void root_key2(struct parse *p, const struct ini_sect *s,
                      const struct ini_kv *kv)
{
	struct cfg *c = p->c;
	const char *k = kv->key, *v = kv->value;
	long x;
	int m;
	if (strcmp(k, "umask") == 0) {
		if (cv_octal(v, &m))
			umask((mode_t)m);
		else
			cfg_err(p, s->file, kv->line,
			        "bad umask '%s' (octal, such as 022)", v);
	} else if (strcmp(k, "minfds") == 0) {
		struct rlimit rl;
		if (!cv_long(v, 1, 1 << 30, &x))
			cfg_err(p, s->file, kv->line, "bad minfds '%s'", v);
		else if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		         rl.rlim_cur < (rlim_t)x) {
			rl.rlim_cur =
			    (rlim_t)x < rl.rlim_max ? (rlim_t)x : rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	} else if (strcmp(k, "environment") == 0) {
		setstr(p, s, kv, c->progs_env, sizeof(c->progs_env));
	} else if (strcmp(k, "nodaemon") == 0 || strcmp(k, "minprocs") == 0 ||
	           strcmp(k, "user") == 0 || strcmp(k, "directory") == 0 ||
	           strcmp(k, "childlogdir") == 0 ||
	           strcmp(k, "identifier") == 0 ||
	           strcmp(k, "strip_ansi") == 0 ||
	           strcmp(k, "nocleanup") == 0 || strcmp(k, "silent") == 0) {
		cfg_note(p, s->file, kv->line,
		         "[%s] %s is accepted and not used (troupe runs in the "
		         "foreground unless --detach; logs go to logfile)",
		         s->name, k);
	} else {
		unknown(p, s, kv, root_keys);
	}
}

static void root_key(struct parse *p, const struct ini_sect *s,
                     const struct ini_kv *kv)
{
	struct cfg *c = p->c;
	const char *k = kv->key, *v = kv->value;
	long x;
	if (sup_key(p, &c->root, s, kv) >= 0)
		return;
	if (strcmp(k, "socket") == 0) {
		socket_key(p, s, kv);
	} else if (strcmp(k, "http") == 0) {
		if (metrics_loopback(v))
			setstr(p, s, kv, c->http, sizeof(c->http));
		else
			cfg_err(
			    p, s->file, kv->line,
			    "bad http '%s' (HOST:PORT with a loopback host: "
			    "127.0.0.1, localhost or [::1]; port 0 picks "
			    "one)",
			    v);
	} else if (strcmp(k, "logfile") == 0) {
		setstr(p, s, kv, c->logfile, sizeof(c->logfile));
	} else if (strcmp(k, "logfile_maxbytes") == 0) {
		if (!cv_bytes(v, &c->log_max_bytes))
			cfg_err(p, s->file, kv->line,
			        "bad logfile_maxbytes '%s' (1024, 1KB, 50MB, "
			        "1GB)",
			        v);
	} else if (strcmp(k, "logfile_backups") == 0) {
		if (cv_long(v, 0, 1000, &x))
			c->log_backups = (unsigned)x;
		else
			cfg_err(p, s->file, kv->line,
			        "bad logfile_backups '%s' (0 to 1000)", v);
	} else if (strcmp(k, "loglevel") == 0) {
		if (!loglevel(v, &c->loglevel))
			cfg_err(p, s->file, kv->line,
			        "bad loglevel '%s' (allowed: critical, error, "
			        "warn, info, debug)",
			        v);
	} else if (strcmp(k, "pidfile") == 0) {
		setstr(p, s, kv, c->pidfile, sizeof(c->pidfile));
	} else {
		root_key2(p, s, kv);
	}
}

static const char *const group_keys[] = {
    "strategy", "intensity", "period",   "auto_shutdown", "parent",
    "restart",  "priority",  "programs", "instances",     NULL};

static void group_section(struct parse *p, const struct ini_sect *s,
                          const char *name)
{
	struct cfg_group *g = cfg_new_group(p, name, s->file, s->line);
	long x;
	for (int i = 0; g != NULL && i < s->nkv; i++) {
		const struct ini_kv *kv = &s->kv[i];
		const char *k = kv->key, *v = kv->value;
		if (sup_key(p, &g->flags, s, kv) >= 0 ||
		    strcmp(k, "programs") == 0)
			continue;
		if (strcmp(k, "parent") == 0) {
			setstr(p, s, kv, g->parent, sizeof(g->parent));
		} else if (strcmp(k, "instances") == 0) {
			if (cv_long(v, 0, 1000, &x))
				g->instances = (int)x;
			else
				cfg_err(p, s->file, kv->line,
				        "bad instances '%s' (0 to 1000)", v);
		} else if (strcmp(k, "priority") == 0) {
			if (cv_long(v, -1000000, 1000000, &x))
				g->priority = (int)x;
			else
				cfg_err(p, s->file, kv->line,
				        "bad priority '%s' (an integer)", v);
		} else if (strcmp(k, "restart") == 0) {
			int ok = 0;
			for (int r = TP_PERMANENT; r <= TP_TEMPORARY; r++)
				if (strcmp(v, tp_restart_name((tp_restart)r)) ==
				    0)
					g->restart = (tp_restart)r, ok = 1;
			if (!ok)
				cfg_err(p, s->file, kv->line,
				        "bad restart '%s' (allowed: permanent, "
				        "transient, temporary)",
				        v);
		} else {
			unknown(p, s, kv, group_keys);
		}
	}
}

/* [include] files = globs relative to the including file's directory. */
static int include(struct parse *p, const struct ini_sect *sect)
{
	struct ini_sect copy = *sect; /* p->doc.s moves as files are read */
	const struct ini_sect *s = &copy;
	char dir[PATH_MAX], pat[PATH_MAX + 256], *save = NULL;
	for (int i = 0; i < s->nkv; i++) {
		const struct ini_kv *kv = &s->kv[i];
		if (strcmp(kv->key, "files") != 0) {
			static const char *const k[] = {"files", NULL};
			unknown(p, s, kv, k);
			continue;
		}
		snprintf(dir, sizeof(dir), "%s", s->file);
		char *slash = strrchr(dir, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		char *list = strdup(kv->value);
		if (list == NULL)
			return -1;
		for (char *t = strtok_r(list, " \t\n", &save); t;
		     t = strtok_r(NULL, " \t\n", &save)) {
			glob_t g;
			if (t[0] == '/')
				snprintf(pat, sizeof(pat), "%s", t);
			else
				snprintf(pat, sizeof(pat), "%s/%s", dir, t);
			if (glob(pat, 0, NULL, &g) != 0)
				continue; /* supervisord: no match is fine */
			for (size_t j = 0; j < g.gl_pathc; j++) {
				if (p->doc.nfiles >= 256) {
					cfg_err(p, s->file, kv->line,
					        "more than 256 files included "
					        "(an include loop?)");
					break;
				}
				if (ini_read(&p->doc, g.gl_pathv[j], ini_error,
				             p) != 0) {
					globfree(&g);
					free(list);
					return -1;
				}
			}
			globfree(&g);
		}
		free(list);
	}
	return 0;
}

static const char *after_colon(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(name, prefix, n) == 0 ? name + n : NULL;
}

/* Which [group:x] lists program name in `programs =`; NULL: none. */
static const char *member_of(struct parse *p, const char *name)
{
	const char *found = NULL;
	for (int i = 0; i < p->doc.n; i++) {
		const struct ini_sect *s = &p->doc.s[i];
		const char *g = after_colon(s->name, "group:");
		const char *list = g ? ini_get(s, "programs", NULL) : NULL;
		if (list == NULL)
			continue;
		char *dup = strdup(list), *save = NULL;
		for (char *t = dup ? strtok_r(dup, ", \t\n", &save) : NULL; t;
		     t = strtok_r(NULL, ", \t\n", &save))
			if (strcmp(t, name) == 0)
				found = g;
		free(dup);
	}
	return found;
}

static int ignored_section(struct parse *p, const struct ini_sect *s)
{
	if (strcmp(s->name, "supervisorctl") == 0 ||
	    after_colon(s->name, "rpcinterface:") != NULL)
		return 1; /* the client's, and supervisord's XML-RPC */
	if (strcmp(s->name, "inet_http_server") == 0) {
		cfg_note(p, s->file, s->line,
		         "[inet_http_server] is not used: troupe is driven "
		         "through its Unix socket; [supervisor] http = "
		         "HOST:PORT serves /metrics");
		return 1;
	}
	return 0;
}

static void unix_http_server(struct parse *p, const struct ini_sect *s)
{
	for (int i = 0; i < s->nkv; i++) {
		const struct ini_kv *kv = &s->kv[i];
		if (strcmp(kv->key, "file") == 0) {
			if (p->c->socket_line == 0)
				socket_key(p, s, kv);
		} else if (strcmp(kv->key, "chmod") != 0 &&
		           strcmp(kv->key, "chown") != 0 &&
		           strcmp(kv->key, "username") != 0 &&
		           strcmp(kv->key, "password") != 0) {
			static const char *const k[] = {"file",     "chmod",
			                                "chown",    "username",
			                                "password", NULL};
			unknown(p, s, kv, k);
		}
	}
}

struct here {
	char dir[PATH_MAX];
};

static const char *here_lookup(void *arg, const char *name)
{
	struct here *h = arg;
	if (strcmp(name, "here") == 0)
		return h->dir;
	if (strncmp(name, "ENV_", 4) == 0)
		return getenv(name + 4);
	return NULL;
}

/* %(here)s and %(ENV_X)s in the values of a section other than a
 * program's (a program's are expanded per instance, config_prog.c). */
static int expand_section(struct parse *p, struct ini_sect *s)
{
	struct here h;
	char v[8192], why[300];
	if (strncmp(s->name, "program:", 8) == 0)
		return 0;
	if (realpath(s->file, h.dir) == NULL)
		snprintf(h.dir, sizeof(h.dir), "%s", s->file);
	char *slash = strrchr(h.dir, '/');
	if (slash != NULL)
		*(slash == h.dir ? slash + 1 : slash) = '\0';
	for (int i = 0; i < s->nkv; i++) {
		struct ini_kv *kv = &s->kv[i];
		if (strchr(kv->value, '%') == NULL)
			continue;
		if (!cv_expand(kv->value, v, sizeof(v), here_lookup, &h, why,
		               sizeof(why))) {
			cfg_err(p, s->file, kv->line, "%s (in %s)", why,
			        kv->key);
			continue;
		}
		char *dup = strdup(v);
		if (dup == NULL)
			return -1;
		free(kv->value);
		kv->value = dup;
	}
	return 0;
}

/* Headers, includes and repeated sections; -1 out of memory. */
static int first_pass(struct parse *p)
{
	for (int i = 0; i < p->doc.n; i++) {
		const struct ini_sect *s = &p->doc.s[i];
		for (int j = 0; j < i; j++)
			if (strcmp(p->doc.s[j].name, s->name) == 0) {
				cfg_err(p, s->file, s->line,
				        "duplicate section [%s] (first at "
				        "%s:%d)",
				        s->name, p->doc.s[j].file,
				        p->doc.s[j].line);
				break;
			}
		if (expand_section(p, &p->doc.s[i]) != 0)
			return -1;
		if (strcmp(s->name, "include") == 0 && include(p, s) != 0)
			return -1;
	}
	return 0;
}

static void section(struct parse *p, int i, int programs)
{
	const struct ini_sect *s = &p->doc.s[i];
	const char *name;
	p->order = i * 1000;
	for (int j = 0; j < i; j++)
		if (strcmp(p->doc.s[j].name, s->name) == 0)
			return; /* a duplicate: said once */
	if ((name = after_colon(s->name, "program:")) != NULL) {
		if (!programs)
			return;
		if (!cfg_valid_name(name))
			cfg_err(p, s->file, s->line,
			        "bad program name '%s' (1 to 63 of A-Z a-z "
			        "0-9 _ . -; it is %zu bytes)",
			        name, strlen(name));
		else
			cfg_program(p, s, name, member_of(p, name));
		return;
	}
	if (programs)
		return;
	if (strcmp(s->name, "supervisor") == 0 ||
	    strcmp(s->name, "supervisord") == 0) {
		for (int k = 0; k < s->nkv; k++)
			root_key(p, s, &s->kv[k]);
	} else if ((name = after_colon(s->name, "group:")) != NULL) {
		if (!cfg_valid_name(name))
			cfg_err(p, s->file, s->line,
			        "bad group name '%s' (1 to 63 of A-Z a-z 0-9 "
			        "_ . -; it is %zu bytes)",
			        name, strlen(name));
		else
			group_section(p, s, name);
	} else if (strcmp(s->name, "unix_http_server") == 0) {
		unix_http_server(p, s);
	} else if (strcmp(s->name, "include") != 0 && !ignored_section(p, s)) {
		cfg_err(p, s->file, s->line,
		        "unknown section [%s] (known: supervisor(d), "
		        "program:NAME, group:NAME, include, unix_http_server; "
		        "eventlistener and fcgi-program are not supported)",
		        s->name);
	}
}

/* Groups: parents exist, no cycles; programs' groups exist. */
static void check(struct parse *p)
{
	struct cfg *c = p->c;
	for (int i = 0; i < c->ngroups; i++) {
		struct cfg_group *g = &c->groups[i];
		struct cfg_group *up = g;
		int depth = 0;
		while (up != NULL && up->parent[0] && depth <= c->ngroups) {
			struct cfg_group *next = cfg_group(c, up->parent);
			if (next == NULL)
				cfg_err(p, g->file, g->line,
				        "[group:%s]: unknown parent '%s'",
				        up->name, up->parent);
			up = next;
			depth++;
		}
		if (depth > c->ngroups)
			cfg_err(p, g->file, g->line,
			        "[group:%s]: its parents make a cycle",
			        g->name);
		int members = 0;
		for (int k = 0; k < c->nprogs; k++)
			members += strcmp(c->progs[k].group, g->name) == 0;
		if (g->instances > 0 &&
		    (g->flags.strategy != TP_SIMPLE_ONE_FOR_ONE ||
		     members != 1))
			cfg_err(p, g->file, g->line,
			        "[group:%s]: instances needs strategy = "
			        "simple_one_for_one and one program (the "
			        "template); it has %d",
			        g->name, members);
	}
	for (int i = 0; i < c->nprogs; i++) {
		struct cfg_prog *pr = &c->progs[i];
		if (pr->group[0] && cfg_group(c, pr->group) == NULL)
			cfg_err(p, pr->file,
			        pr->group_line ? pr->group_line : pr->line,
			        "[program:%s]: unknown group '%s'", pr->program,
			        pr->group);
	}
	if (c->nprogs == 0 && p->nerr == 0)
		cfg_err(p, c->path, 0, "no [program:...] section");
}

/* [supervisord] environment reaches every program; a program's own
 * variables come first and win. */
static void global_env(struct parse *p)
{
	struct cfg *c = p->c;
	char why[200];
	if (c->progs_env[0] == '\0')
		return;
	for (int i = 0; i < c->nprogs; i++) {
		struct cfg_prog *pr = &c->progs[i];
		int n = 0;
		while (pr->spec.env != NULL && pr->env[n] != NULL)
			n++;
		size_t used = 0;
		for (int j = 0; j < n; j++)
			used = (size_t)(pr->env[j] - pr->env_buf) +
			       strlen(pr->env[j]) + 1;
		if (used + strlen(c->progs_env) + 1 > sizeof(pr->env_buf)) {
			cfg_err(p, pr->file, pr->line,
			        "[program:%s]: environment too long",
			        pr->program);
			continue;
		}
		char *dst = pr->env_buf + used;
		memcpy(dst, c->progs_env, strlen(c->progs_env) + 1);
		if (!cv_environment(dst, pr->env + n, 120 - n, why,
		                    sizeof(why))) {
			cfg_err(p, c->path, 0, "[supervisord] environment: %s",
			        why);
			return;
		}
		pr->spec.env = pr->env;
	}
}

/* actor = URL: the child gets TROUPE_ACTOR_ADDR=URL, and the daemon asks
 * it for its counters (troupe top). */
static void actor_env(struct parse *p)
{
	for (int i = 0; i < p->c->nprogs; i++) {
		struct cfg_prog *pr = &p->c->progs[i];
		int n = 0;
		if (pr->actor[0] == '\0')
			continue;
		while (pr->spec.env != NULL && pr->env[n] != NULL)
			n++;
		if (n >= 126) {
			cfg_err(p, pr->file, pr->line,
			        "[program:%s]: too many environment entries",
			        pr->program);
			continue;
		}
		snprintf(pr->actor_env, sizeof(pr->actor_env),
		         "TROUPE_ACTOR_ADDR=%s", pr->actor);
		pr->env[n] = pr->actor_env;
		pr->env[n + 1] = NULL;
		pr->spec.env = pr->env;
	}
}

/* Programs point into their own struct (argv, env, spec): the array is
 * sized once, before the first is read, and never moves. */
static int size_programs(struct parse *p)
{
	long n, total = 0;
	for (int i = 0; i < p->doc.n; i++) {
		const struct ini_sect *s = &p->doc.s[i];
		const char *v = ini_get(s, "numprocs", NULL);
		if (after_colon(s->name, "program:") == NULL)
			continue;
		total += v != NULL && cv_long(v, 1, 1000, &n) ? n : 1;
	}
	if (total > CFG_MAX_PROGS) {
		cfg_err(p, p->c->path, 0, "more than %d processes",
		        CFG_MAX_PROGS);
		return 0;
	}
	p->c->cap = (int)total;
	p->c->progs = calloc(total ? (size_t)total : 1, sizeof(*p->c->progs));
	return p->c->progs != NULL ? 0 : -1;
}

int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen)
{
	struct parse p = {.c = c};
	tp_sup_flags d = TP_SUP_FLAGS_INIT;
	memset(c, 0, sizeof(*c));
	c->root = d;
	snprintf(c->path, sizeof(c->path), "%s", path);
	gethostname(p.host, sizeof(p.host) - 1);
	int rv = ini_read(&p.doc, path, ini_error, &p);
	if (rv == 0)
		rv = first_pass(&p);
	for (int i = 0; rv == 0 && i < p.doc.n; i++)
		section(&p, i, 0);
	if (rv == 0)
		rv = size_programs(&p);
	for (int i = 0; rv == 0 && c->progs != NULL && i < p.doc.n; i++)
		section(&p, i, 1);
	if (rv == 0) {
		global_env(&p);
		actor_env(&p);
		check(&p);
	}
	ini_free(&p.doc);
	if (rv != 0)
		cfg_err(&p, path, 0, "out of memory");
	if (p.nerr > 0) {
		size_t n = p.elen;
		while (n > 0 && p.errs[n - 1] == '\n')
			n--;
		snprintf(err, errlen, "%.*s", (int)n, p.errs ? p.errs : "");
		if (n >= errlen && errlen > 40)
			snprintf(err + errlen - 40, 40, "\n... (%d errors)",
			         p.nerr);
	}
	free(p.errs);
	return p.nerr > 0 ? -1 : 0;
}

void cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	free(c->progs);
	free(c);
}

/* p, a pointer into the struct at src, moved to the same place in dst;
 * anything else (NULL, a string outside) is kept. */
static const void *rebase(const void *p, const struct cfg_prog *src,
                          struct cfg_prog *dst)
{
	const char *q = p, *lo = (const char *)src;
	if (q == NULL || q < lo || q >= lo + sizeof(*src))
		return p;
	return (const char *)dst + (q - lo);
}

void cfg_prog_copy(struct cfg_prog *dst, const struct cfg_prog *src)
{
	memcpy(dst, src, sizeof(*dst));
	for (size_t i = 0; i < sizeof(dst->argv) / sizeof(dst->argv[0]); i++)
		dst->argv[i] = (char *)rebase(src->argv[i], src, dst);
	for (size_t i = 0; i < sizeof(dst->env) / sizeof(dst->env[0]); i++)
		dst->env[i] = (char *)rebase(src->env[i], src, dst);
	dst->spec.id = rebase(src->spec.id, src, dst);
	dst->spec.argv = rebase(src->spec.argv, src, dst);
	dst->spec.env = rebase(src->spec.env, src, dst);
	dst->spec.cwd = rebase(src->spec.cwd, src, dst);
	dst->spec.log_path = rebase(src->spec.log_path, src, dst);
	dst->spec.err_log_path = rebase(src->spec.err_log_path, src, dst);
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

void cfg_default_log(const struct cfg *c, char *buf, size_t len)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	const char *base = strrchr(c->path, '/');
	char name[256];
	snprintf(name, sizeof(name), "%s", base ? base + 1 : c->path);
	char *dot = strrchr(name, '.');
	if (dot != NULL && dot != name)
		*dot = '\0';
	if (state != NULL && state[0] == '/')
		snprintf(buf, len, "%s/troupe/%s.log", state, name);
	else if (geteuid() == 0)
		snprintf(buf, len, "/var/log/troupe/%s.log", name);
	else
		snprintf(buf, len, "%s/.local/state/troupe/%s.log",
		         home != NULL ? home : "/tmp", name);
}

int cfg_prog_changed(const struct cfg_prog *a, const struct cfg_prog *b)
{
	const tp_child_spec *x = &a->spec, *y = &b->spec;
	return strcmp(a->command, b->command) || strcmp(a->group, b->group) ||
	       strcmp(a->directory, b->directory) || strcmp(a->log, b->log) ||
	       strcmp(a->err_log, b->err_log) || strcmp(a->envraw, b->envraw) ||
	       strcmp(a->actor, b->actor) || strcmp(a->user, b->user) ||
	       x->restart != y->restart || x->shutdown_ms != y->shutdown_ms ||
	       x->type != y->type || x->ready != y->ready ||
	       x->startsecs_ms != y->startsecs_ms ||
	       x->start_timeout_ms != y->start_timeout_ms ||
	       x->stop_signal != y->stop_signal ||
	       x->no_autostart != y->no_autostart ||
	       memcmp(x->exit_ok, y->exit_ok, sizeof(x->exit_ok)) ||
	       x->set_umask != y->set_umask || x->umask != y->umask ||
	       x->stop_pid_only != y->stop_pid_only ||
	       x->restart_delay_ms != y->restart_delay_ms ||
	       x->restart_delay_max_ms != y->restart_delay_max_ms ||
	       x->significant != y->significant ||
	       x->start_retries != y->start_retries ||
	       x->log_max_bytes != y->log_max_bytes ||
	       x->log_backups != y->log_backups ||
	       x->err_log_max_bytes != y->err_log_max_bytes ||
	       x->err_log_backups != y->err_log_backups ||
	       a->priority != b->priority;
}
