/*
 * top.c - `troupe top [-n SCREENS] [--interval MS]`: a live view of the
 * tree on ncurses. Keys: q quits, h (or ?) shows the keys, t tree order,
 * c CPU, m memory, r restarts, u uptime, p pid. The screen follows the
 * terminal's size (ncurses' KEY_RESIZE); columns that have nothing to say
 * are hidden (MSG_IN/MSG_OUT appear when an actor child reports them;
 * mailbox depth has no source: nng does not expose a queue's depth).
 * When stdout is not a terminal the same screen is printed as text, each
 * one after the other (batch mode, like top -b).
 */
#include <curses.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "internal.h"

#define MAX_ROWS  1024
#define LINE_MAX_ 512

enum sort { S_TREE, S_CPU, S_MEM, S_RESTARTS, S_UPTIME, S_PID };
static const char *sort_names[] = {"tree",     "cpu",    "memory",
                                   "restarts", "uptime", "pid"};

struct row {
	const Troupe__SupChild *c;
	double cpu; /* % of one CPU since the last screen, -1 unknown */
};

struct top {
	enum sort sort;
	int help;
	int64_t last_ms;
	int prev_pid[MAX_ROWS];
	uint64_t prev_cpu[MAX_ROWS];
	int nprev;
};

static volatile sig_atomic_t stop_batch;

static void on_int(int sig)
{
	(void)sig;
	stop_batch = 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU% from the previous screen's counter of the same pid. */
static double cpu_of(struct top *t, const Troupe__SupChild *c, int64_t dt)
{
	for (int i = 0; i < t->nprev && dt > 0 && c->pid > 0; i++)
		if (t->prev_pid[i] == c->pid)
			return (double)(c->cpu_ms - t->prev_cpu[i]) * 100.0 /
			       (double)dt;
	return -1;
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct row *x = a, *y = b;
	enum sort s = *(enum sort *)arg;
	double d = 0;
	switch (s) {
	case S_CPU:
		d = y->cpu - x->cpu;
		break;
	case S_MEM:
		d = (double)y->c->rss_kb - (double)x->c->rss_kb;
		break;
	case S_RESTARTS:
		d = (double)y->c->restarts - x->c->restarts;
		break;
	case S_UPTIME:
		d = (double)y->c->uptime_ms - x->c->uptime_ms;
		break;
	case S_PID:
		d = (double)x->c->pid - y->c->pid;
		break;
	default:
		break;
	}
	return d < 0 ? -1 : d > 0 ? 1 : strcmp(x->c->name, y->c->name);
}

/* Rows in tree order (groups too), or programs only, sorted. */
static int rows_of(struct top *t, const Troupe__SupReply *r, struct row *v)
{
	int64_t now = mono_ms(), dt = t->last_ms ? now - t->last_ms : 0;
	int n = 0;
	for (size_t k = 0; k < r->n_children && n < MAX_ROWS; k++) {
		const Troupe__SupChild *c = r->children[k];
		if (t->sort != S_TREE && !strcmp(c->type, "supervisor"))
			continue;
		v[n].c = c;
		v[n++].cpu = cpu_of(t, c, dt);
	}
	t->nprev = 0;
	for (size_t k = 0; k < r->n_children && t->nprev < MAX_ROWS; k++) {
		t->prev_pid[t->nprev] = r->children[k]->pid;
		t->prev_cpu[t->nprev++] = r->children[k]->cpu_ms;
	}
	t->last_ms = now;
	if (t->sort != S_TREE)
		qsort_r(v, (size_t)n, sizeof(*v), cmp_rows, &t->sort);
	return n;
}

static int has_actor(const Troupe__SupReply *r)
{
	for (size_t k = 0; k < r->n_children; k++)
		if (r->children[k]->msgs_in >= 0)
			return 1;
	return 0;
}

/* The layout of a screen: the name column is as wide as the widest
 * name (its indent included), within what the others leave. */
struct layout {
	int width, nw, actors, tree;
};

static void name_of(const Troupe__SupChild *c, int tree, char *buf, size_t len)
{
	snprintf(buf, len, "%*s%s%s", tree ? 2 * c->depth : 0, "", c->name,
	         strcmp(c->type, "supervisor") == 0 ? "/" : "");
}

static struct layout layout_of(const struct row *v, int n, int width,
                               int actors, int tree)
{
	struct layout l = {width, 8, actors, tree};
	int fixed =
	    7 + 1 + 9 + 1 + 8 + 1 + 8 + 1 + 9 + 1 + 6 + (actors ? 18 : 0) + 1;
	char name[160];
	for (int i = 0; i < n; i++) {
		name_of(v[i].c, tree, name, sizeof(name));
		if ((int)strlen(name) > l.nw)
			l.nw = (int)strlen(name);
	}
	if (l.nw > width - fixed)
		l.nw = width - fixed < 8 ? 8 : width - fixed;
	return l;
}

static void clip(char *buf, int width)
{
	buf[width > 0 && width < LINE_MAX_ ? width : LINE_MAX_ - 1] = '\0';
}

/* One row of text, clipped to the width. */
static void format_row(char *buf, const struct layout *l, const struct row *w)
{
	const Troupe__SupChild *c = w->c;
	char up[32], pid[16] = "-", rss[24] = "-", cpu[16] = "-", in[48] = "";
	char name[160];
	cli_fmt_uptime(c->uptime_ms, up, sizeof(up));
	if (c->pid > 0) {
		snprintf(pid, sizeof(pid), "%d", c->pid);
		snprintf(rss, sizeof(rss), "%lluK",
		         (unsigned long long)c->rss_kb);
	}
	if (w->cpu >= 0)
		snprintf(cpu, sizeof(cpu), "%.1f", w->cpu);
	if (l->actors && c->msgs_in >= 0)
		snprintf(in, sizeof(in), " %8lld %8lld", (long long)c->msgs_in,
		         (long long)c->msgs_out);
	else if (l->actors)
		snprintf(in, sizeof(in), " %8s %8s", "-", "-");
	name_of(c, l->tree, name, sizeof(name));
	snprintf(buf, LINE_MAX_, "%-*.*s %7s %-9s %8s %8u %9s %6s%s", l->nw,
	         l->nw, name, pid, c->state, up, c->restarts, rss, cpu, in);
	clip(buf, l->width);
}

static void format_header(char *buf, const struct layout *l)
{
	snprintf(buf, LINE_MAX_, "%-*s %7s %-9s %8s %8s %9s %6s%s", l->nw,
	         "NAME", "PID", "STATE", "UPTIME", "RESTARTS", "RSS", "CPU%",
	         l->actors ? "   MSG_IN  MSG_OUT" : "");
	clip(buf, l->width);
}

static int fetch(const struct cli_opts *o, Troupe__Envelope **env)
{
	return cli_call(o, "status", NULL, 0, "stats", 1, env);
}

/* Batch mode: screens as text until -n SCREENS or SIGINT. */
static int batch(const struct cli_opts *o, struct top *t)
{
	static struct row v[MAX_ROWS];
	char line[LINE_MAX_];
	signal(SIGINT, on_int);
	for (int it = 0; !stop_batch && (o->lines <= 0 || it < o->lines);
	     it++) {
		Troupe__Envelope *env;
		int rv = fetch(o, &env);
		if (rv != 0)
			return rv;
		const Troupe__SupReply *r = env->sup_reply;
		int n = rows_of(t, r, v);
		struct layout l = layout_of(v, n, 120, has_actor(r), 1);
		printf("troupe top - daemon pid %d, %zu children\n",
		       r->daemon_pid, r->n_children);
		format_header(line, &l);
		puts(line);
		for (int i = 0; i < n; i++) {
			format_row(line, &l, &v[i]);
			puts(line);
		}
		fflush(stdout);
		tp__envelope_free(env);
		if (o->lines <= 0 || it + 1 < o->lines)
			poll(NULL, 0, o->interval_ms);
	}
	return 0;
}

static void draw_help(void)
{
	static const char *keys[] = {
	    "troupe top keys",
	    "",
	    "  q      quit",
	    "  h ?    this help (any key closes)",
	    "  t      tree order",
	    "  c      sort by CPU",
	    "  m      sort by memory (RSS)",
	    "  r      sort by restarts",
	    "  u      sort by uptime",
	    "  p      sort by pid",
	};
	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		mvaddnstr(2 + i, 2, keys[i], COLS - 2);
}

static void draw(struct top *t, const Troupe__SupReply *r)
{
	static struct row v[MAX_ROWS];
	char line[LINE_MAX_];
	int n = rows_of(t, r, v);
	struct layout l =
	    layout_of(v, n, COLS, has_actor(r), t->sort == S_TREE);
	erase();
	snprintf(line, sizeof(line),
	         "troupe top - daemon pid %d, %zu children, sort: %s "
	         "(h: keys, q: quit)",
	         r->daemon_pid, r->n_children, sort_names[t->sort]);
	mvaddnstr(0, 0, line, COLS);
	if (t->help) {
		draw_help();
		refresh();
		return;
	}
	format_header(line, &l);
	attron(A_REVERSE);
	mvaddnstr(2, 0, line, COLS);
	attroff(A_REVERSE);
	for (int i = 0; i < n && 3 + i < LINES; i++) {
		format_row(line, &l, &v[i]);
		mvaddnstr(3 + i, 0, line, COLS);
	}
	refresh();
}

/* A key: 1 to quit. */
static int key(struct top *t, int ch)
{
	static const char sorts[] = "tcmrup";
	if (t->help && ch != ERR && ch != KEY_RESIZE) {
		t->help = 0;
		return 0;
	}
	if (ch == 'q' || ch == 'Q')
		return 1;
	if (ch == 'h' || ch == '?')
		t->help = 1;
	const char *s = ch > 0 && ch < 256 ? strchr(sorts, ch) : NULL;
	if (s != NULL)
		t->sort = (enum sort)(s - sorts);
	return 0;
}

static int interactive(const struct cli_opts *o, struct top *t)
{
	Troupe__Envelope *env = NULL;
	int rv = fetch(o, &env), screens = 0;
	if (rv != 0)
		return rv;
	char *held = NULL;
	size_t heldlen = 0;
	cli_err = open_memstream(&held, &heldlen);
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	int64_t next = 0;
	for (;;) {
		if (mono_ms() >= next) {
			if (screens > 0) {
				tp__envelope_free(env);
				env = NULL;
				if ((rv = fetch(o, &env)) != 0)
					break;
			}
			next = mono_ms() + o->interval_ms;
			if (o->lines > 0 && screens >= o->lines)
				break;
			screens++;
		}
		draw(t, env->sup_reply);
		int64_t left = next - mono_ms();
		timeout(left > 0 ? (int)left : 0);
		int ch = getch();
		if (key(t, ch))
			break;
	}
	endwin();
	if (cli_err != NULL) {
		fclose(cli_err);
		cli_err = NULL;
		if (held != NULL)
			fputs(held, stderr);
	}
	free(held);
	if (rv == 0)
		tp__envelope_free(env);
	return rv;
}

int cli_top(const struct cli_opts *o)
{
	struct top t = {0};
	if (!isatty(1) || !isatty(0))
		return batch(o, &t);
	return interactive(o, &t);
}
