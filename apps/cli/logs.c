/*
 * logs.c - `troupe logs [-n N] [-f] [NAME...]`: the daemon says where each
 * program's output is (ctl_cmd.c): records in the logging actor's file,
 * read with tp_log_read and filtered by process name here (several names
 * at once), or a program's own plain file. -n N keeps the last N lines;
 * -f follows (inotify: tp_log_read for records, here for plain files)
 * until SIGINT or SIGTERM, which end it with status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "troupe/troupe.h"
#include "internal.h"

#define MAX_TARGETS 256

struct target {
	char kind; /* 'r' records, 'p' plain file, '*' every record */
	char *name, *path;
};

struct reader {
	const tp_log_config *cfg;
	struct target *t;
	int n;
	int match;   /* the record a continuation line belongs to matched */
	int lines;   /* -n: keep this many (-1: all) */
	char **ring; /* the last lines until the first idle call */
	int head, count, live;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void emit(struct reader *r, const char *line, size_t len)
{
	if (r->live || r->lines < 0) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		return;
	}
	if (r->lines == 0)
		return;
	int at = (r->head + r->count) % r->lines;
	if (r->count == r->lines) {
		free(r->ring[r->head]);
		r->head = (r->head + 1) % r->lines;
		r->count--;
	}
	r->ring[at] = strndup(line, len);
	r->count++;
}

/* The kept lines, then everything as it comes. */
static void go_live(struct reader *r)
{
	for (int i = 0; i < r->count; i++) {
		char *l = r->ring[(r->head + i) % (r->lines ? r->lines : 1)];
		if (l != NULL)
			puts(l);
		free(l);
	}
	r->count = 0;
	r->live = 1;
	fflush(stdout);
}

static int wanted(struct reader *r, const char *line, size_t len)
{
	char name[256];
	pid_t pid;
	if (r->t[0].kind == '*')
		return 1;
	if (len > 0 && line[0] == '\t')
		return r->match;
	r->match = 0;
	if (tp_log_line_fields(r->cfg, line, len, name, sizeof(name), &pid) !=
	    TP_OK)
		return 0;
	for (int i = 0; i < r->n; i++)
		if (r->t[i].kind == 'r' && strcmp(r->t[i].name, name) == 0)
			r->match = 1;
	return r->match;
}

static int on_line(const char *line, size_t len, void *arg)
{
	struct reader *r = arg;
	if (line == NULL) {
		if (!r->live)
			go_live(r);
		fflush(stdout);
		return interrupted;
	}
	if (wanted(r, line, len))
		emit(r, line, len);
	return 0;
}

static int read_records(const struct cli_opts *o, struct reader *r,
                        const char *path)
{
	tp_log_config *c = NULL;
	int rv = tp_log_config_new(&c, "troupe");
	if (rv == TP_OK)
		rv = tp_log_config_set_file(c, path, 0, 0);
	r->cfg = c;
	if (rv == TP_OK)
		rv = tp_log_read(c, NULL, o->follow, on_line, r);
	if (!r->live)
		go_live(r);
	tp_log_config_free(c);
	if (rv != TP_OK) {
		fprintf(stderr, "troupe: %s: %s\n", path, tp_strerror(rv));
		return 1;
	}
	return 0;
}

/* A plain file: its last lines (all without -n). */
static int read_plain(const struct cli_opts *o, struct reader *r,
                      const struct target *t, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t k;
	(void)o;
	r->live = 0;
	r->t = (struct target *)t;
	while ((k = getline(&line, &cap, f)) > 0) {
		if (line[k - 1] == '\n')
			k--;
		emit(r, line, (size_t)k);
	}
	free(line);
	go_live(r);
	return 0;
}

/* -f over plain files: inotify tells which grew; each new part is printed
 * under a "==> NAME <==" header when the file changes. */
static int follow_plain(struct target *t, FILE **f, int n)
{
	int in = inotify_init1(IN_CLOEXEC), last = -1;
	int *wd = calloc((size_t)n, sizeof(int));
	char buf[65536];
	if (in < 0 || wd == NULL) {
		free(wd);
		return 1;
	}
	for (int i = 0; i < n; i++)
		wd[i] = inotify_add_watch(in, t[i].path, IN_MODIFY);
	while (!interrupted) {
		struct pollfd p = {.fd = in, .events = POLLIN};
		if (poll(&p, 1, -1) <= 0)
			continue;
		(void)!read(in, buf, sizeof(buf)); /* which: read them all */
		for (int i = 0; i < n; i++) {
			size_t k;
			while ((k = fread(buf, 1, sizeof(buf), f[i])) > 0) {
				if (n > 1 && last != i)
					printf("==> %s <==\n", t[i].name);
				last = i;
				fwrite(buf, 1, k, stdout);
			}
			clearerr(f[i]);
		}
		fflush(stdout);
	}
	free(wd);
	close(in);
	return 0;
}

static int plain_files(const struct cli_opts *o, struct reader *r,
                       struct target *t, int n)
{
	FILE *f[MAX_TARGETS];
	int rv = 0, k = 0;
	for (int i = 0; i < n; i++) {
		if ((f[k] = fopen(t[i].path, "re")) == NULL) {
			fprintf(stderr, "troupe: %s: %s: %s\n", t[i].name,
			        t[i].path, strerror(errno));
			rv = 1;
			continue;
		}
		if (n > 1)
			printf("%s==> %s <==\n", k ? "\n" : "", t[i].name);
		read_plain(o, r, &t[i], f[k]);
		t[k++] = t[i];
	}
	fflush(stdout);
	if (o->follow && k > 0)
		rv |= follow_plain(t, f, k);
	for (int i = 0; i < k; i++)
		fclose(f[i]);
	return rv;
}

/* The reply's lines into targets (they point into msg). */
static int parse_targets(char *msg, struct target *t)
{
	int n = 0;
	for (char *line = strtok(msg, "\n"); line && n < MAX_TARGETS;
	     line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');
		if (sp == NULL)
			continue;
		t[n].kind = line[0];
		if (line[0] == '*') {
			t[n].name = "";
			t[n].path = sp + 1;
		} else {
			t[n].name = sp + 1;
			if ((sp = strchr(sp + 1, ' ')) == NULL)
				continue;
			*sp = '\0';
			t[n].path = sp + 1;
		}
		n++;
	}
	return n;
}

/* The logging actor's file: every target that is not plain is in it. */
static const char *records_path(const struct target *t, int n)
{
	for (int i = 0; i < n; i++)
		if (t[i].kind != 'p')
			return t[i].path;
	return NULL;
}

static int show(const struct cli_opts *o, struct target *t, int n, int records)
{
	struct reader r = {.t = t, .n = n, .lines = o->lines};
	int nplain = 0, rv = 0;
	if (o->lines > 0 &&
	    (r.ring = calloc((size_t)o->lines, sizeof(char *))) == NULL)
		return 1;
	for (int i = 0; i < n; i++)
		nplain += t[i].kind == 'p' || (t[i].kind == '*' && !records);
	if (o->follow && nplain > 0 && nplain < n) {
		fprintf(stderr, "troupe: logs -f cannot follow programs with "
		                "their own log file together with captured "
		                "ones; run one `troupe logs -f` for each\n");
		rv = 2;
	} else if (nplain < n) {
		rv = read_records(o, &r, records_path(t, n));
	}
	if (rv == 0 && nplain > 0) {
		struct target *p = calloc((size_t)nplain, sizeof(*p));
		int k = 0;
		for (int i = 0; p != NULL && i < n; i++)
			if (t[i].kind == 'p' || (t[i].kind == '*' && !records))
				p[k++] = t[i];
		rv = p ? plain_files(o, &r, p, k) : 1;
		free(p);
	}
	free(r.ring);
	return rv;
}

/* The daemon is gone: its log outlives it (the config's `logfile`, else
 * cfg_default_log), so `troupe logs -c FILE` reads it there. */
static int logs_of_dead_daemon(const struct cli_opts *o, int n, char **names)
{
	struct cfg *c = calloc(1, sizeof(*c));
	struct target t[MAX_TARGETS];
	char err[8192], path[1024];
	int nt = 0, rv = 3;
	if (c == NULL || cfg_load(o->config, c, err, sizeof(err)) != 0) {
		cfg_free(c);
		return 3;
	}
	if (c->logfile[0])
		snprintf(path, sizeof(path), "%s", c->logfile);
	else
		cfg_default_log(c, path, sizeof(path));
	if (access(path, R_OK) == 0) {
		fprintf(stderr, "troupe: the daemon is gone; its log is %s\n",
		        path);
		for (int i = 0; i < n && nt < MAX_TARGETS; i++)
			t[nt++] = (struct target){'r', names[i], path};
		if (n == 0)
			t[nt++] = (struct target){'*', "", path};
		rv = show(o, t, nt, 1);
	}
	cfg_free(c);
	return rv;
}

int cli_logs(const struct cli_opts *o, int n, char **names)
{
	Troupe__Envelope *env;
	struct target t[MAX_TARGETS];
	int rv = cli_call(o, "logs", names, n, NULL, 1, &env);
	if (rv == 3 && o->config != NULL)
		return logs_of_dead_daemon(o, n, names);
	if (rv != 0)
		return rv;
	const Troupe__SupReply *r = env->sup_reply;
	int records = r->log_records;
	int nt = parse_targets(r->message, t);
	if (nt == 0) {
		fprintf(stderr, "troupe: no log to show\n");
		tp__envelope_free(env);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rv = show(o, t, nt, records);
	tp__envelope_free(env);
	return rv;
}
