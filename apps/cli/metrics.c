/*
 * metrics.c - the opt-in Prometheus endpoint: `http = 127.0.0.1:PORT` in
 * [supervisor] serves GET /metrics in the text exposition format with
 * nng's HTTP server. Only loopback hosts are accepted (127.0.0.0/8 as a
 * plain IPv4 literal, localhost, [::1]); port 0 picks a free port, said in
 * the log.
 *
 * Prometheus conventions: one family per metric with HELP and TYPE,
 * _total counters that never go down, _seconds and _bytes units, and
 * groups as labels: a program is {program="web_00",group="site"}, a
 * nested group is never a series of its own. Counters that must survive
 * a program's restarts (exits by reason, CPU of the runs that ended) are
 * kept here from the tree's events; the CPU of a run comes from wait4 when
 * it ends, so the counter does not drop back at a restart.
 */
#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

#ifndef TROUPE_VERSION
#define TROUPE_VERSION "unknown"
#endif

enum { EXIT_NORMAL, EXIT_ERROR, EXIT_SIGNAL, EXIT_STOPPED, EXIT_KILLED, NR };
static const char *const reasons[NR] = {"normal", "error", "signal", "stopped",
                                        "killed"};

struct pstat {
	char name[64];
	uint64_t exits[NR];
	int last_exit, have_exit;
	int64_t dead_cpu_ms;  /* CPU of the runs that ended */
	int64_t shown_cpu_ms; /* the highest CPU total a scrape was given */
};

struct http {
	nng_http_server *srv;
};

static struct daemon *the_daemon;
static pthread_mutex_t st_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pstat *stats;
static int nstats, capstats;

static struct pstat *pstat_of(const char *name)
{
	for (int i = 0; i < nstats; i++)
		if (strcmp(stats[i].name, name) == 0)
			return &stats[i];
	if (nstats == capstats) {
		int cap = capstats ? capstats * 2 : 32;
		struct pstat *n = realloc(stats, (size_t)cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		stats = n;
		capstats = cap;
	}
	struct pstat *p = &stats[nstats++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

void metrics_on_event(const tp_sup_event *ev)
{
	if (ev->kind != TP_EV_EXITED || ev->pid <= 0)
		return;
	pthread_mutex_lock(&st_mu);
	struct pstat *p = pstat_of(ev->id);
	if (p != NULL) {
		int r = ev->requested && ev->killed ? EXIT_KILLED
		        : ev->requested             ? EXIT_STOPPED
		        : ev->exit_code < 0         ? EXIT_SIGNAL
		        : ev->exit_code > 0         ? EXIT_ERROR
		                                    : EXIT_NORMAL;
		p->exits[r]++;
		p->last_exit = ev->exit_code;
		p->have_exit = 1;
		p->dead_cpu_ms += ev->cpu_ms;
	}
	pthread_mutex_unlock(&st_mu);
}

int metrics_loopback(const char *hostport)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	struct in_addr a;
	long port;
	char *end;
	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		return 0;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	/* a plain dotted IPv4 literal in 127.0.0.0/8, nothing else */
	if (strspn(host, "0123456789.") != strlen(host) ||
	    inet_pton(AF_INET, host, &a) != 1)
		return 0;
	return (ntohl(a.s_addr) >> 24) == 127;
}

void metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		char *b = realloc(*buf, *cap * 2);
		if (b == NULL)
			return;
		*buf = b;
		*cap *= 2;
	}
}

/* One program as the page sees it. */
struct row {
	tp_child_info info;
	char group[200];
	int64_t rss, cpu_ms;
};

static void proc_usage(pid_t pid, int64_t *rss, int64_t *cpu_ms)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, stt = 0, pages = 0;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f != NULL) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		char *r = strrchr(buf, ')');
		/* fields 14 and 15 (utime, stime); after ')' comes field 3 */
		if (r != NULL &&
		    sscanf(r + 2,
		           "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
		           "%*u %*u %llu %llu",
		           &ut, &stt) == 2 &&
		    tick > 0)
			*cpu_ms = (int64_t)((ut + stt) * 1000 / (unsigned)tick);
	}
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "re")) != NULL) {
		if (fscanf(f, "%*u %llu", &pages) == 1)
			*rss = (int64_t)pages * page;
		fclose(f);
	}
}

static void collect(tp_sup *s, const char *group, struct row **rows, int *n,
                    int *cap)
{
	tp_child_info *v;
	int k;
	if (s == NULL || tp_sup_which_children(s, &v, &k) != TP_OK)
		return;
	for (int i = 0; i < k; i++) {
		if (tp__ctl_is_service(s, v[i].id))
			continue; /* the logging actor: its own families */
		if (v[i].nested) {
			char g[200];
			snprintf(g, sizeof(g), "%s%s%s", group,
			         group[0] ? "/" : "", v[i].id);
			collect(tp_sup_child_sup(s, v[i].id), g, rows, n, cap);
			continue;
		}
		if (*n == *cap) {
			int c = *cap ? *cap * 2 : 32;
			struct row *r = realloc(*rows, (size_t)c * sizeof(*r));
			if (r == NULL)
				break;
			*rows = r;
			*cap = c;
		}
		struct row *r = &(*rows)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->info = v[i];
		snprintf(r->group, sizeof(r->group), "%s", group);
		if (v[i].pid > 0)
			proc_usage(v[i].pid, &r->rss, &r->cpu_ms);
	}
	free(v);
}

void metrics_family(char **b, size_t *len, size_t *cap, const char *name,
                    const char *type, const char *help)
{
	metrics_append(b, len, cap, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	               name, type);
}

#define LABELS "{program=\"%s\",group=\"%s\"}"

/* The per-program gauges and counters read from the tree: one table,
 * one loop. */
enum col { COL_UP, COL_START, COL_RESTARTS, COL_RSS };

static const struct {
	const char *name, *type, *help;
	int live_only; /* only while the program runs */
} cols[] = {
    {"troupe_child_up", "gauge", "1 when the program is running (ready).", 0},
    {"troupe_child_start_time_seconds", "gauge",
     "Start time of the running program since the Unix epoch.", 1},
    {"troupe_child_restarts_total", "counter",
     "Restarts of the program by its supervisor.", 0},
    {"troupe_child_resident_memory_bytes", "gauge",
     "Resident memory of the running program's process.", 1},
};

static double value(enum col c, const struct row *r, double epoch)
{
	switch (c) {
	case COL_UP:
		return r->info.state == TP_CHILD_RUNNING;
	case COL_START:
		return epoch + r->info.started_ms / 1000.0;
	case COL_RESTARTS:
		return r->info.restarts;
	case COL_RSS:
		return (double)r->rss;
	}
	return 0;
}

static void programs(char **b, size_t *len, size_t *cap, struct row *r, int n)
{
	struct timespec mono, real;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	/* started_ms is CLOCK_MONOTONIC: the epoch of that clock */
	double epoch = (double)real.tv_sec + real.tv_nsec / 1e9 -
	               ((double)mono.tv_sec + mono.tv_nsec / 1e9);
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		metrics_family(b, len, cap, cols[c].name, cols[c].type,
		               cols[c].help);
		for (int i = 0; i < n; i++)
			if (!cols[c].live_only || r[i].info.pid > 0)
				metrics_append(
				    b, len, cap, "%s" LABELS " %.15g\n",
				    cols[c].name, r[i].info.id, r[i].group,
				    value((enum col)c, &r[i], epoch));
	}
}

static void counters(char **b, size_t *len, size_t *cap, struct row *r, int n)
{
	pthread_mutex_lock(&st_mu);
	metrics_family(
	    b, len, cap, "troupe_child_cpu_seconds_total", "counter",
	    "CPU time (user+system) of the program over all its runs.");
	for (int i = 0; i < n; i++) {
		struct pstat *p = pstat_of(r[i].info.id);
		int64_t ms = r[i].cpu_ms + (p ? p->dead_cpu_ms : 0);
		/* A run that ends between the snapshot and its /proc read
		 * (or before its exit event adds it to dead_cpu_ms) would
		 * read low for a moment: a counter never goes back. */
		if (p != NULL) {
			if (ms < p->shown_cpu_ms)
				ms = p->shown_cpu_ms;
			p->shown_cpu_ms = ms;
		}
		metrics_append(b, len, cap,
		               "troupe_child_cpu_seconds_total" LABELS
		               " %.3f\n",
		               r[i].info.id, r[i].group, ms / 1000.0);
	}
	metrics_family(
	    b, len, cap, "troupe_child_exits_total", "counter",
	    "Exits of the program by reason: normal (status 0), error "
	    "(status > 0), signal (killed by a signal it was not sent "
	    "by its supervisor), stopped (by request), killed (SIGKILL "
	    "after the stop timed out).");
	for (int i = 0; i < n; i++) {
		struct pstat *p = pstat_of(r[i].info.id);
		for (int k = 0; k < NR; k++)
			metrics_append(
			    b, len, cap,
			    "troupe_child_exits_total{program=\"%s\","
			    "group=\"%s\",reason=\"%s\"} %llu\n",
			    r[i].info.id, r[i].group, reasons[k],
			    p ? (unsigned long long)p->exits[k] : 0ULL);
	}
	metrics_family(
	    b, len, cap, "troupe_child_last_exit_code", "gauge",
	    "Exit status of the program's last run; -N for signal N.");
	for (int i = 0; i < n; i++) {
		struct pstat *p = pstat_of(r[i].info.id);
		if (p != NULL && p->have_exit)
			metrics_append(b, len, cap,
			               "troupe_child_last_exit_code" LABELS
			               " %d\n",
			               r[i].info.id, r[i].group, p->last_exit);
	}
	pthread_mutex_unlock(&st_mu);
}

static void daemon_metrics(struct daemon *d, char **b, size_t *len, size_t *cap)
{
	tp_log_stats ls = {0};
	tp_log_actor_stats as = {0};
	tp_log_stats_get(&ls);
	if (d->log_actor != NULL)
		tp_log_actor_stats_get(d->log_actor, &as);
	const struct {
		const char *name, *help;
		unsigned long long v;
	} c[] = {
	    {"troupe_log_dropped_total",
	     "Log records the daemon dropped (buffer full, actor down).",
	     ls.dropped},
	    {"troupe_log_lost_total",
	     "Log records the logging actor was told senders lost.", as.lost},
	    {"troupe_log_records_total",
	     "Log records written by the logging actor.", as.records},
	    {"troupe_log_actor_restarts_total",
	     "Times the logging actor was restarted.", as.restarts},
	};
	metrics_family(b, len, cap, "troupe_build_info", "gauge",
	               "Always 1; the version of troupe in a label.");
	metrics_append(b, len, cap, "troupe_build_info{version=\"%s\"} 1\n",
	               TROUPE_VERSION);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		metrics_family(b, len, cap, c[i].name, "counter", c[i].help);
		metrics_append(b, len, cap, "%s %llu\n", c[i].name, c[i].v);
	}
}

char *metrics_text(struct daemon *d)
{
	size_t len = 0, cap = 4096;
	struct row *rows = NULL;
	int n = 0, rcap = 0;
	char *b = malloc(cap);
	if (b == NULL)
		return NULL;
	b[0] = '\0';
	collect(d->root, "", &rows, &n, &rcap);
	programs(&b, &len, &cap, rows, n);
	counters(&b, &len, &cap, rows, n);
	struct mprog *mp = calloc((size_t)n + 1, sizeof(*mp));
	for (int i = 0; mp != NULL && i < n; i++)
		mp[i] = (struct mprog){rows[i].info.id, rows[i].group,
		                       rows[i].info.pid};
	if (mp != NULL)
		metrics_pools(&b, &len, &cap, mp, n);
	free(mp);
	daemon_metrics(d, &b, &len, &cap);
	free(rows);
	return b;
}

static void serve_metrics(nng_aio *aio)
{
	nng_http_res *res;
	char *text = metrics_text(the_daemon);
	if (text == NULL || nng_http_res_alloc(&res) != 0) {
		free(text);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_header(res, "Content-Type",
	                        "text/plain; version=0.0.4");
	nng_http_res_copy_data(res, text, strlen(text));
	free(text);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int metrics_start(struct daemon *d, const char *hostport)
{
	struct http *h = calloc(1, sizeof(*h));
	nng_http_handler *hd;
	nng_url *url;
	char u[200];
	int rv;
	if (h == NULL)
		return TP_ENOMEM;
	if (!metrics_loopback(hostport)) {
		free(h);
		return TP_EPERM; /* loopback only */
	}
	snprintf(u, sizeof(u), "http://%s", hostport);
	the_daemon = d;
	tp__nng_used();
	if ((rv = nng_url_parse(&url, u)) != 0) {
		free(h);
		return tp_err_nng(rv);
	}
	rv = nng_http_server_hold(&h->srv, url);
	nng_url_free(url);
	if (rv == 0 &&
	    (rv = nng_http_handler_alloc(&hd, "/metrics", serve_metrics)) ==
	        0 &&
	    (rv = nng_http_handler_set_method(hd, "GET")) == 0 &&
	    (rv = nng_http_server_add_handler(h->srv, hd)) == 0)
		rv = nng_http_server_start(h->srv);
	nng_sockaddr sa;
	if (rv == 0 && nng_http_server_get_addr(h->srv, &sa) == 0 &&
	    sa.s_family == NNG_AF_INET)
		dlog_say(d, TP_LOG_INFO, "metrics at http://%.*s:%u/metrics",
		         (int)(strrchr(hostport, ':') - hostport), hostport,
		         (unsigned)ntohs(sa.s_in.sa_port));
	if (rv != 0) {
		if (h->srv != NULL)
			nng_http_server_release(h->srv);
		free(h);
		return tp_err_nng(rv);
	}
	d->http = h;
	return TP_OK;
}

void metrics_stop(struct daemon *d)
{
	struct http *h = d->http;
	if (h == NULL)
		return;
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv);
	free(h);
	d->http = NULL;
}
