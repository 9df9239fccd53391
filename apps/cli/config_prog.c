/*
 * config_prog.c - one [program:NAME] section: supervisord's keys and
 * troupe's own, and its numprocs instances named by process_name.
 *
 * Every value is expanded first (%(here)s, %(program_name)s,
 * %(process_num)02d, %(group_name)s, %(host_node_name)s, %(numprocs)d,
 * %(ENV_X)s), then read. A key troupe does not know is an error that
 * names the nearest known key; a value out of range names the allowed
 * ones. The errors of a section are said once, not once per instance.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

static const char *const prog_keys[] = {
    /* troupe's */
    "command", "group", "restart", "shutdown", "type", "ready", "startsecs",
    "start_timeout", "stopsignal", "directory", "environment", "actor", "log",
    "restart_delay", "restart_delay_max", "significant",
    /* supervisord's */
    "process_name", "numprocs", "numprocs_start", "priority", "autostart",
    "autorestart", "exitcodes", "startretries", "stopwaitsecs", "stopasgroup",
    "killasgroup", "user", "umask", "redirect_stderr", "stdout_logfile",
    "stdout_logfile_maxbytes", "stdout_logfile_backups", "stderr_logfile",
    "stderr_logfile_maxbytes", "stderr_logfile_backups",
    /* supervisord's, accepted and not used */
    "stdout_capture_maxbytes", "stdout_events_enabled", "stdout_syslog",
    "stderr_capture_maxbytes", "stderr_events_enabled", "stderr_syslog",
    "serverurl", NULL};

struct inst {
	struct parse *p;
	const char *program, *group;
	char here[1024], num[16], nprocs[16];
	/* what the section said, checked as a whole */
	int has_restart, has_autorestart, autorestart, has_exitcodes;
	int stopasgroup, killasgroup, redirect_stderr;
	const char *out_log, *err_log;
	uint64_t out_max, err_max;
	long out_backups, err_backups;
};

static const char *lookup(void *arg, const char *name)
{
	struct inst *in = arg;
	if (strcmp(name, "here") == 0)
		return in->here;
	if (strcmp(name, "program_name") == 0)
		return in->program;
	if (strcmp(name, "process_num") == 0)
		return in->num;
	if (strcmp(name, "numprocs") == 0)
		return in->nprocs;
	if (strcmp(name, "group_name") == 0)
		return in->group;
	if (strcmp(name, "host_node_name") == 0)
		return in->p->host;
	if (strncmp(name, "ENV_", 4) == 0)
		return getenv(name + 4);
	return NULL;
}

#define ERR(fmt, ...)                                                          \
	do {                                                                   \
		if (!in->p->quiet)                                             \
			cfg_err(in->p, pr->file, line, fmt, __VA_ARGS__);      \
		return 0;                                                      \
	} while (0)

static int setstr(struct inst *in, struct cfg_prog *pr, int line, char *dst,
                  size_t size, const char *k, const char *v)
{
	if (strlen(v) >= size)
		ERR("%s: value too long (max %zu bytes)", k, size - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 1;
}

static int restart_key(struct inst *in, struct cfg_prog *pr, int line,
                       const char *k, const char *v)
{
	if (strcmp(k, "restart") == 0) {
		in->has_restart = 1;
		for (int i = TP_PERMANENT; i <= TP_TEMPORARY; i++)
			if (strcmp(v, tp_restart_name((tp_restart)i)) == 0)
				return pr->spec.restart = (tp_restart)i, 1;
		ERR("bad restart '%s' (allowed: permanent, transient, "
		    "temporary; supervisord's name: autorestart)",
		    v);
	}
	in->has_autorestart = 1;
	if (strcasecmp(v, "unexpected") == 0)
		return in->autorestart = 2, 1;
	if (cv_bool(v, &in->autorestart))
		return 1;
	ERR("bad autorestart '%s' (allowed: true, false, unexpected; "
	    "troupe's name: restart = permanent|temporary|transient)",
	    v);
}

static int time_key(struct inst *in, struct cfg_prog *pr, int line,
                    const char *k, const char *v)
{
	long x;
	int ms;
	if (strcmp(k, "shutdown") == 0) {
		if (strcmp(v, "brutal_kill") == 0)
			pr->spec.shutdown_ms = TP_SHUTDOWN_BRUTAL;
		else if (strcmp(v, "infinity") == 0)
			pr->spec.shutdown_ms = TP_SHUTDOWN_INFINITY;
		else if (cv_long(v, 1, 86400000, &x))
			pr->spec.shutdown_ms = (int)x;
		else
			ERR("bad shutdown '%s' (milliseconds, brutal_kill or "
			    "infinity; supervisord's: stopwaitsecs)",
			    v);
	} else if (strcmp(k, "stopwaitsecs") == 0) {
		if (!cv_seconds(v, 86400, &ms))
			ERR("bad stopwaitsecs '%s' (seconds, 0 to 86400; "
			    "troupe's: shutdown in ms)",
			    v);
		pr->spec.shutdown_ms = ms == 0 ? TP_SHUTDOWN_BRUTAL : ms;
	} else if (strcmp(k, "startsecs") == 0) {
		if (!cv_seconds(v, 86400, &pr->spec.startsecs_ms))
			ERR("bad startsecs '%s' (seconds, a finite number from "
			    "0 to 86400)",
			    v);
	} else if (strcmp(k, "start_timeout") == 0) {
		if (!cv_long(v, 1, 86400000, &x))
			ERR("bad start_timeout '%s' (milliseconds > 0)", v);
		pr->spec.start_timeout_ms = (int)x;
	} else if (strcmp(k, "restart_delay") == 0 ||
	           strcmp(k, "restart_delay_max") == 0) {
		if (!cv_long(v, 0, 86400000, &x))
			ERR("bad %s '%s' (milliseconds >= 0)", k, v);
		*(k[13] ? &pr->spec.restart_delay_max_ms
		        : &pr->spec.restart_delay_ms) = (int)x;
	} else if (strcmp(k, "startretries") == 0) {
		if (!cv_long(v, 0, 1000000, &x))
			ERR("bad startretries '%s' (a count >= 0)", v);
		pr->spec.start_retries = (int)x;
	} else {
		return -1;
	}
	return 1;
}

static int user_key(struct inst *in, struct cfg_prog *pr, int line,
                    const char *v)
{
	struct passwd *pw = getpwnam(v);
	long x;
	if (pw == NULL && cv_long(v, 0, 0x7fffffff, &x))
		pw = getpwuid((uid_t)x);
	if (pw == NULL)
		ERR("user '%s': no such user", v);
	if (pw->pw_uid != geteuid() && geteuid() != 0)
		ERR("user '%s': only a daemon run as root can switch user", v);
	snprintf(pr->user, sizeof(pr->user), "%s", v);
	pr->spec.set_user = pw->pw_uid != geteuid();
	pr->spec.uid = pw->pw_uid;
	pr->spec.gid = pw->pw_gid;
	return 1;
}

static int log_key(struct inst *in, struct cfg_prog *pr, int line,
                   const char *k, const char *v)
{
	int err = strncmp(k, "stderr", 6) == 0;
	long x;
	if (strcmp(k + 6, "_logfile") == 0) {
		*(err ? &in->err_log : &in->out_log) = v;
	} else if (strcmp(k + 6, "_logfile_maxbytes") == 0) {
		if (!cv_bytes(v, err ? &in->err_max : &in->out_max))
			ERR("bad %s '%s' (bytes: 1024, 1KB, 50MB, 1GB; 0 "
			    "never rotates)",
			    k, v);
	} else if (strcmp(k + 6, "_logfile_backups") == 0) {
		if (!cv_long(v, 0, 1000, &x))
			ERR("bad %s '%s' (a count from 0 to 1000)", k, v);
		*(err ? &in->err_backups : &in->out_backups) = x;
	} else {
		cfg_note(in->p, pr->file, line,
		         "[program:%s] %s is accepted and not used by troupe",
		         in->program, k);
	}
	return 1;
}

static int flag_key(struct inst *in, struct cfg_prog *pr, int line,
                    const char *k, const char *v)
{
	int b;
	if (!cv_bool(v, &b))
		ERR("bad %s '%s' (allowed: true, false)", k, v);
	if (strcmp(k, "autostart") == 0)
		pr->spec.no_autostart = !b;
	else if (strcmp(k, "stopasgroup") == 0)
		in->stopasgroup = b;
	else if (strcmp(k, "killasgroup") == 0)
		in->killasgroup = b;
	else if (strcmp(k, "redirect_stderr") == 0)
		in->redirect_stderr = b;
	else
		pr->spec.significant = b;
	return 1;
}

static int env_key(struct inst *in, struct cfg_prog *pr, int line,
                   const char *v)
{
	char why[200];
	if (!setstr(in, pr, line, pr->envraw, sizeof(pr->envraw), "environment",
	            v))
		return 0;
	snprintf(pr->env_buf, sizeof(pr->env_buf), "%s", v);
	if (!cv_environment(pr->env_buf, pr->env, 120, why, sizeof(why)))
		ERR("bad environment: %s", why);
	pr->spec.env = pr->env;
	return 1;
}

static int misc_key(struct inst *in, struct cfg_prog *pr, int line,
                    const char *k, const char *v)
{
	long x;
	if (strcmp(k, "command") == 0) {
		if (!setstr(in, pr, line, pr->command, sizeof(pr->command), k,
		            v))
			return 0;
		snprintf(pr->argv_buf, sizeof(pr->argv_buf), "%s", v);
		if (cv_split(pr->argv_buf, pr->argv, 256) <= 0)
			ERR("bad command '%.60s' (empty, an unterminated quote "
			    "or more than 255 words)",
			    v);
	} else if (strcmp(k, "type") == 0) {
		if (strcmp(v, "worker") && strcmp(v, "supervisor"))
			ERR("bad type '%s' (allowed: worker, supervisor)", v);
		pr->spec.type = v[0] == 'w' ? TP_WORKER : TP_SUPERVISOR;
	} else if (strcmp(k, "ready") == 0) {
		if (strcmp(v, "started") && strcmp(v, "notify"))
			ERR("bad ready '%s' (allowed: started, notify)", v);
		pr->spec.ready =
		    v[0] == 's' ? TP_READY_STARTED : TP_READY_NOTIFY;
	} else if (strcmp(k, "stopsignal") == 0) {
		if ((pr->spec.stop_signal = cli_signal(v)) == 0)
			ERR("bad stopsignal '%s' (a signal name such as TERM, "
			    "HUP, INT, QUIT, USR1, or a number)",
			    v);
	} else if (strcmp(k, "directory") == 0) {
		if (!setstr(in, pr, line, pr->directory, sizeof(pr->directory),
		            k, v))
			return 0;
		pr->spec.cwd = pr->directory;
	} else if (strcmp(k, "actor") == 0) {
		return setstr(in, pr, line, pr->actor, sizeof(pr->actor), k, v);
	} else if (strcmp(k, "log") == 0) {
		in->out_log = v;
	} else if (strcmp(k, "priority") == 0) {
		if (!cv_long(v, -1000000, 1000000, &x))
			ERR("bad priority '%s' (an integer; lower starts "
			    "first)",
			    v);
		pr->priority = (int)x;
	} else if (strcmp(k, "exitcodes") == 0) {
		in->has_exitcodes = 1;
		if (!cv_exitcodes(v, pr->spec.exit_ok))
			ERR("bad exitcodes '%s' (a list of codes 0-255: 0,2)",
			    v);
	} else if (strcmp(k, "umask") == 0) {
		if (!cv_octal(v, &pr->spec.umask))
			ERR("bad umask '%s' (octal, such as 022)", v);
		pr->spec.set_umask = 1;
	} else if (strcmp(k, "user") == 0) {
		return user_key(in, pr, line, v);
	} else if (strcmp(k, "environment") == 0) {
		return env_key(in, pr, line, v);
	} else {
		return -1;
	}
	return 1;
}

static int prog_key(struct inst *in, struct cfg_prog *pr, int line,
                    const char *k, const char *v)
{
	int r;
	if (strcmp(k, "group") == 0 || strcmp(k, "process_name") == 0 ||
	    strcmp(k, "numprocs") == 0 || strcmp(k, "numprocs_start") == 0)
		return 1; /* read before the instances */
	if (strcmp(k, "restart") == 0 || strcmp(k, "autorestart") == 0)
		return restart_key(in, pr, line, k, v);
	if ((r = time_key(in, pr, line, k, v)) >= 0)
		return r;
	if (strncmp(k, "stdout_", 7) == 0 || strncmp(k, "stderr_", 7) == 0 ||
	    strcmp(k, "serverurl") == 0) {
		if (strcmp(k, "serverurl") == 0) {
			cfg_note(in->p, pr->file, line,
			         "[program:%s] serverurl is not used",
			         in->program);
			return 1;
		}
		return log_key(in, pr, line, k, v);
	}
	if (strcmp(k, "autostart") == 0 || strcmp(k, "stopasgroup") == 0 ||
	    strcmp(k, "killasgroup") == 0 ||
	    strcmp(k, "redirect_stderr") == 0 || strcmp(k, "significant") == 0)
		return flag_key(in, pr, line, k, v);
	if ((r = misc_key(in, pr, line, k, v)) >= 0)
		return r;
	const char *near = cv_suggest(k, prog_keys);
	if (near != NULL)
		ERR("unknown key '%s' in [program:%s] (did you mean '%s'?)", k,
		    in->program, near);
	ERR("unknown key '%s' in [program:%s] (see docs/supervisor.md for "
	    "the keys)",
	    k, in->program);
}

/* supervisord's AUTO is troupe's default (the daemon's log), NONE is no
 * file at all. */
static int logs(struct inst *in, struct cfg_prog *pr)
{
	int line = pr->line;
	const char *o = in->out_log, *e = in->err_log;
	if (o != NULL && strcmp(o, "AUTO") != 0) {
		const char *path = strcmp(o, "NONE") == 0 ? "/dev/null" : o;
		if (!setstr(in, pr, line, pr->log, sizeof(pr->log),
		            "stdout_logfile", path))
			return 0;
		pr->spec.log_path = pr->log;
		/* NONE is /dev/null: never rotated */
		pr->spec.log_max_bytes = path == o ? in->out_max : 0;
		pr->spec.log_backups = (unsigned)in->out_backups;
	}
	if (e != NULL && strcmp(e, "AUTO") != 0 && !in->redirect_stderr) {
		const char *path = strcmp(e, "NONE") == 0 ? "" : e;
		if (!setstr(in, pr, line, pr->err_log, sizeof(pr->err_log),
		            "stderr_logfile", path))
			return 0;
		pr->err_apart = 1;
		pr->spec.err_log_path = pr->err_log;
		pr->spec.err_log_max_bytes = in->err_max;
		pr->spec.err_log_backups = (unsigned)in->err_backups;
	}
	return 1;
}

/* What only the whole section can tell. */
static int finish(struct inst *in, struct cfg_prog *pr)
{
	int line = pr->line;
	if (pr->argv[0] == NULL)
		ERR("[program:%s] has no command", in->program);
	if (in->has_restart && in->has_autorestart)
		ERR("[program:%s]: give restart (troupe) or autorestart "
		    "(supervisord), not both",
		    in->program);
	if (in->has_autorestart)
		pr->spec.restart = in->autorestart == 1   ? TP_PERMANENT
		                   : in->autorestart == 2 ? TP_TRANSIENT
		                                          : TP_TEMPORARY;
	/* autorestart = false keeps the program (it can be started again),
	 * as supervisord does. */
	pr->spec.keep_temporary = in->has_autorestart;
	if (in->has_exitcodes && pr->spec.restart != TP_TRANSIENT)
		cfg_note(in->p, pr->file, line,
		         "[program:%s] exitcodes matter only with "
		         "autorestart = unexpected (restart = transient)",
		         in->program);
	if (pr->spec.significant && pr->spec.restart == TP_PERMANENT)
		ERR("[program:%s]: a significant program must not be "
		    "restarted always (restart = transient or temporary)",
		    in->program);
	/* supervisord signals the program alone unless stopasgroup is
	 * true; troupe signals its process group unless told otherwise. */
	pr->spec.stop_pid_only = in->stopasgroup == 0;
	(void)in->killasgroup; /* SIGKILL always reaches the group */
	return logs(in, pr);
}

static struct cfg_prog *new_prog(struct parse *p)
{
	struct cfg *c = p->c;
	if (c->nprogs == c->cap)
		return NULL; /* sized by size_programs (config.c) */
	struct cfg_prog *pr = &c->progs[c->nprogs++];
	tp_child_spec d = TP_CHILD_SPEC_INIT;
	memset(pr, 0, sizeof(*pr));
	pr->spec = d;
	pr->priority = 999;
	return pr;
}

/* The section's values, expanded for one instance. */
static int one_instance(struct inst *in, const struct ini_sect *s,
                        struct cfg_prog *pr)
{
	char v[8192], why[300];
	int ok = 1;
	in->stopasgroup = -1;
	for (int i = 0; i < s->nkv; i++) {
		const struct ini_kv *kv = &s->kv[i];
		if (!cv_expand(kv->value, v, sizeof(v), lookup, in, why,
		               sizeof(why))) {
			if (!in->p->quiet)
				cfg_err(in->p, s->file, kv->line, "%s (in %s)",
				        why, kv->key);
			ok = 0;
			continue;
		}
		/* Pointers into v must outlive the loop: keep logs. */
		if (strstr(kv->key, "_logfile") != NULL &&
		    strstr(kv->key, "_logfile_") == NULL) {
			char *keep = strdup(v);
			if (keep == NULL)
				return 0;
			free((char *)(kv->key[3] == 'o' ? in->out_log
			                                : in->err_log));
			*(kv->key[3] == 'o' ? &in->out_log : &in->err_log) =
			    keep;
			continue;
		}
		if (strcmp(kv->key, "log") == 0) {
			free((char *)in->out_log);
			in->out_log = strdup(v);
			continue;
		}
		ok &= prog_key(in, pr, kv->line, kv->key, v) == 1;
	}
	ok = ok && finish(in, pr);
	free((char *)in->out_log);
	free((char *)in->err_log);
	in->out_log = in->err_log = NULL;
	return ok;
}

/* numprocs, numprocs_start and process_name, read before the instances. */
static int counts(struct parse *p, const struct ini_sect *s, long *n,
                  long *start, const char **pname)
{
	int line = 0, ok = 1;
	const char *v;
	*n = 1;
	*start = 0;
	if ((v = ini_get(s, "numprocs", &line)) && !cv_long(v, 1, 1000, n)) {
		cfg_err(p, s->file, line, "bad numprocs '%s' (1 to 1000)", v);
		ok = 0;
	}
	if ((v = ini_get(s, "numprocs_start", &line)) &&
	    !cv_long(v, 0, 1000000, start)) {
		cfg_err(p, s->file, line, "bad numprocs_start '%s' (>= 0)", v);
		ok = 0;
	}
	*pname = ini_get(s, "process_name", &line);
	if (*pname == NULL) {
		*pname = "%(program_name)s";
		line = s->line;
	}
	if (*n > 1 && strstr(*pname, "%(process_num)") == NULL) {
		cfg_err(p, s->file, line,
		        "process_name '%s' must contain %%(process_num)s "
		        "(or %%(process_num)02d) when numprocs > 1",
		        *pname);
		ok = 0;
	}
	return ok;
}

/* The group of the program: [group:x] programs=, `group =`, or with
 * numprocs > 1 a group named after the program (as supervisord does). */
static const char *group_of(struct parse *p, const struct ini_sect *s,
                            const char *name, const char *group, long n)
{
	int line = s->line;
	const char *g = ini_get(s, "group", &line);
	if (g != NULL && group != NULL && strcmp(g, group) != 0) {
		cfg_err(p, s->file, line,
		        "[program:%s] is in [group:%s] (programs =) and says "
		        "group = %s",
		        name, group, g);
		return NULL;
	}
	if (group != NULL || g != NULL)
		return group != NULL ? group : g;
	if (n > 1) {
		struct cfg_group *g = cfg_group(p->c, name);
		if (g == NULL &&
		    (g = cfg_new_group(p, name, s->file, s->line)) == NULL)
			return NULL;
		int pl = 0;
		const char *pv = ini_get(s, "priority", &pl);
		long x;
		if (pv != NULL && cv_long(pv, -1000000, 1000000, &x))
			g->priority = (int)x;
		return name;
	}
	return "";
}

static void here_of(const char *file, char *out, size_t len)
{
	char *dup = strdup(file), *slash;
	if (dup == NULL || realpath(dup, out) == NULL)
		snprintf(out, len, "%s", dup ? dup : ".");
	if ((slash = strrchr(out, '/')) != NULL)
		*(slash == out ? slash + 1 : slash) = '\0';
	else
		snprintf(out, len, ".");
	free(dup);
}

void cfg_program(struct parse *p, const struct ini_sect *s, const char *name,
                 const char *group)
{
	long n, start;
	const char *pname;
	char why[300];
	if (!counts(p, s, &n, &start, &pname))
		return;
	struct inst in = {.p = p, .program = name};
	in.group = group_of(p, s, name, group, n);
	if (in.group == NULL)
		return;
	here_of(s->file, in.here, sizeof(in.here));
	snprintf(in.nprocs, sizeof(in.nprocs), "%ld", n);
	for (long k = 0; k < n; k++) {
		snprintf(in.num, sizeof(in.num), "%ld", start + k);
		p->quiet = k > 0;
		struct cfg_prog *pr = new_prog(p);
		if (pr == NULL) {
			cfg_err(p, s->file, s->line, "out of memory");
			break;
		}
		snprintf(pr->program, sizeof(pr->program), "%s", name);
		snprintf(pr->group, sizeof(pr->group), "%s",
		         in.group[0] && strcmp(in.group, name) == 0 && n == 1
		             ? ""
		             : in.group);
		snprintf(pr->file, sizeof(pr->file), "%s", s->file);
		pr->line = s->line;
		pr->order = p->order + (int)k;
		ini_get(s, "group", &pr->group_line);
		pr->spec.id = pr->name;
		pr->spec.argv = pr->argv;
		char nm[300];
		if (!cv_expand(pname, nm, sizeof(nm), lookup, &in, why,
		               sizeof(why))) {
			cfg_err(p, s->file, s->line, "process_name: %s", why);
			p->c->nprogs--;
			break;
		}
		if (!cfg_valid_name(nm)) {
			if (!p->quiet)
				cfg_err(p, s->file, s->line,
				        "bad process name '%s' (1 to 63 of "
				        "A-Z a-z 0-9 _ . -)",
				        nm);
			p->c->nprogs--;
			break;
		}
		snprintf(pr->name, sizeof(pr->name), "%s", nm);
		if (cfg_prog(p->c, nm) != pr || cfg_group(p->c, nm) != NULL) {
			cfg_err(p, s->file, s->line,
			        "duplicate name '%s' (another program, process "
			        "or group has it)",
			        nm);
			p->c->nprogs--;
			break;
		}
		if (!one_instance(&in, s, pr) && !p->quiet) {
			p->c->nprogs--;
			break;
		}
	}
	p->quiet = 0;
}
