/*
 * client.c - the supervisorctl side of `troupe`: every command but
 * `supervise` sends one request to the daemon's control socket and prints
 * the reply (text, or JSON with --json for status).
 *
 * Exit codes: 0 success; 1 the daemon reported an error, or (status) some
 * child is not running; 2 bad usage; 3 no daemon at the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

static int call(const char *sock, const char *cmd, char **names, int n,
                const char *arg, Troupe__Envelope **rep)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	req.command = (char *)cmd;
	req.names = names;
	req.n_names = (size_t)n;
	if (arg != NULL)
		req.arg = (char *)arg;
	int rv = ctl_call(sock, &req, rep, 60000);
	if (rv == TP_ENOENT)
		fprintf(stderr,
		        "troupe: no daemon at %s (is `troupe "
		        "supervise` running?)\n",
		        sock);
	else if (rv != TP_OK)
		fprintf(stderr, "troupe: %s: %s\n", sock, tp_strerror(rv));
	return rv == TP_OK ? 0 : rv == TP_ENOENT ? 3 : 1;
}

static void fmt_uptime(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	if (ms <= 0)
		snprintf(buf, len, "-");
	else if (s < 3600)
		snprintf(buf, len, "%d:%02d", (int)(s / 60), (int)(s % 60));
	else
		snprintf(buf, len, "%dh%02dm", (int)(s / 3600),
		         (int)(s / 60 % 60));
}

static int wanted(Troupe__SupChild *c, char **names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], c->name) == 0)
			return 1;
	return n == 0;
}

static json_object *child_json(const Troupe__SupChild *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "parent", json_object_new_string(c->parent));
	json_object_object_add(o, "type", json_object_new_string(c->type));
	json_object_object_add(o, "state", json_object_new_string(c->state));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "restart",
	                       json_object_new_string(c->restart));
	json_object_object_add(o, "restarts",
	                       json_object_new_int64(c->restarts));
	json_object_object_add(o, "uptime_ms",
	                       json_object_new_int64(c->uptime_ms));
	json_object_object_add(o, "last_exit",
	                       json_object_new_int(c->last_exit));
	json_object_object_add(o, "rss_kb",
	                       json_object_new_int64((int64_t)c->rss_kb));
	json_object_object_add(o, "cpu_ms",
	                       json_object_new_int64((int64_t)c->cpu_ms));
	if (c->strategy[0])
		json_object_object_add(o, "strategy",
		                       json_object_new_string(c->strategy));
	json_object_object_add(o, "msgs_in", json_object_new_int64(c->msgs_in));
	json_object_object_add(o, "msgs_out",
	                       json_object_new_int64(c->msgs_out));
	json_object_object_add(o, "command",
	                       json_object_new_string(c->command));
	json_object_object_add(o, "log", json_object_new_string(c->log_path));
	return o;
}

static int status(const char *sock, char **names, int n, int json)
{
	Troupe__Envelope *env;
	int rv = call(sock, "status", NULL, 0, NULL, &env), bad = 0;
	if (rv != 0)
		return rv;
	Troupe__SupReply *r = env->sup_reply;
	for (int i = 0; i < n; i++) {
		int found = 0;
		for (size_t k = 0; k < r->n_children; k++)
			found |= strcmp(r->children[k]->name, names[i]) == 0;
		if (!found) {
			fprintf(stderr,
			        "troupe: %s: no such program or group\n",
			        names[i]);
			tp__envelope_free(env);
			return 2;
		}
	}
	json_object *arr = json ? json_object_new_array() : NULL;
	for (size_t k = 0; k < r->n_children; k++) {
		Troupe__SupChild *c = r->children[k];
		char up[32];
		if (!wanted(c, names, n))
			continue;
		bad |= strcmp(c->state, "running") != 0;
		if (json) {
			json_object_array_add(arr, child_json(c));
			continue;
		}
		fmt_uptime(c->uptime_ms, up, sizeof(up));
		printf("%-20s %-9s pid %-7d uptime %-7s restarts %u\n", c->name,
		       c->state, c->pid, up, c->restarts);
	}
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "daemon_pid",
		                       json_object_new_int(r->daemon_pid));
		json_object_object_add(o, "log_file",
		                       json_object_new_string(r->log_file));
		json_object_object_add(
		    o, "log_restarts",
		    json_object_new_int64((int64_t)r->log_restarts));
		json_object_object_add(o, "children", arr);
		puts(
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	}
	tp__envelope_free(env);
	return bad ? 1 : 0;
}

static int tree(const char *sock)
{
	Troupe__Envelope *env;
	int rv = call(sock, "status", NULL, 0, NULL, &env);
	if (rv != 0)
		return rv;
	Troupe__SupReply *r = env->sup_reply;
	printf("troupe (pid %d) [%s]\n", r->daemon_pid, r->strategy);
	for (size_t k = 0; k < r->n_children; k++) {
		Troupe__SupChild *c = r->children[k];
		int last = 1;
		for (size_t j = k + 1; j < r->n_children; j++) {
			if (r->children[j]->depth < c->depth)
				break;
			if (r->children[j]->depth == c->depth) {
				last = 0;
				break;
			}
		}
		for (int d = 0; d < c->depth; d++)
			printf("   ");
		printf("%s %s", last ? "└─" : "├─", c->name);
		if (strcmp(c->type, "supervisor") == 0 && c->strategy[0])
			printf(" [%s]", c->strategy);
		printf(" (%s, %s", c->state, c->restart);
		if (c->pid > 0)
			printf(", pid %d", c->pid);
		printf(")\n");
	}
	tp__envelope_free(env);
	return 0;
}

static int simple(const char *sock, const char *cmd, char **names, int n,
                  const char *arg)
{
	Troupe__Envelope *env;
	int rv = call(sock, cmd, names, n, arg, &env);
	if (rv != 0)
		return rv;
	Troupe__SupReply *r = env->sup_reply;
	fputs(r->message, r->code == TP_OK ? stdout : stderr);
	rv = r->code == TP_OK ? 0 : r->code == TP_ENOENT ? 2 : 1;
	tp__envelope_free(env);
	return rv;
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int print_line(const char *line, size_t len, void *arg)
{
	(void)arg;
	if (line == NULL) {
		fflush(stdout);
		return interrupted;
	}
	fwrite(line, 1, len, stdout);
	putchar('\n');
	return 0;
}

/* The logging actor's file: the records of name (every record without
 * one), through tp_log_read; -f follows it across rotations. */
static int logs_records(const char *path, const char *name, int follow)
{
	tp_log_config *c = NULL;
	int rv = tp_log_config_new(&c, "troupe");
	if (rv == TP_OK)
		rv = tp_log_config_set_file(c, path, 0, 0);
	if (rv == TP_OK)
		rv = tp_log_read(c, name, follow, print_line, NULL);
	tp_log_config_free(c);
	fflush(stdout);
	if (rv != TP_OK) {
		fprintf(stderr, "troupe: %s: %s\n", path, tp_strerror(rv));
		return 1;
	}
	return 0;
}

/* A plain file (a program's own `log =`, or the fallback without the
 * logging actor), printed as it is. */
static int logs_plain(const char *path, int follow)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "troupe: %s: %s\n", path, strerror(errno));
		return 1;
	}
	char buf[4096];
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k > 0) {
			fwrite(buf, 1, (size_t)k, stdout);
			continue;
		}
		if (!follow || interrupted)
			break;
		fflush(stdout);
		poll(NULL, 0, 200);
	}
	close(fd);
	return 0;
}

static int logs(const char *sock, char **names, int n, int follow)
{
	Troupe__Envelope *env;
	char path[512];
	int rv = call(sock, "logs", names, n > 0 ? 1 : 0, NULL, &env);
	if (rv != 0)
		return rv;
	Troupe__SupReply *r = env->sup_reply;
	if (r->code != TP_OK) {
		fputs(r->message, stderr);
		tp__envelope_free(env);
		return 2;
	}
	int records = r->log_records;
	snprintf(path, sizeof(path), "%s", r->message);
	path[strcspn(path, "\n")] = '\0';
	tp__envelope_free(env);
	signal(SIGINT, on_int);
	if (records)
		return logs_records(path, n > 0 ? names[0] : NULL, follow);
	return logs_plain(path, follow);
}

/* `troupe top`: refreshes every --interval ms (default 1000); -n N stops
 * after N screens. CPU% is measured between two screens. */
static int top(const char *sock, int iterations, int interval)
{
	uint64_t prev_cpu[256] = {0};
	int prev_pid[256] = {0};
	signal(SIGINT, on_int);
	for (int it = 0; !interrupted && (iterations <= 0 || it < iterations);
	     it++) {
		Troupe__Envelope *env;
		int rv = call(sock, "status", NULL, 0, "stats", &env);
		if (rv != 0)
			return rv;
		Troupe__SupReply *r = env->sup_reply;
		if (isatty(1))
			printf("\033[H\033[2J");
		printf("troupe top - daemon pid %d\n", r->daemon_pid);
		printf("%-18s %7s %-9s %8s %8s %7s %7s %7s %9s %6s\n", "NAME",
		       "PID", "STATE", "UPTIME", "RESTARTS", "MAILBOX",
		       "MSG_IN", "MSG_OUT", "RSS", "CPU%");
		for (size_t k = 0; k < r->n_children && k < 256; k++) {
			Troupe__SupChild *c = r->children[k];
			char up[32];
			double cpu = 0;
			fmt_uptime(c->uptime_ms, up, sizeof(up));
			if (it > 0 && prev_pid[k] == c->pid && c->pid > 0)
				cpu = (double)(c->cpu_ms - prev_cpu[k]) *
				      100.0 / interval;
			prev_pid[k] = c->pid;
			prev_cpu[k] = c->cpu_ms;
			char in[24] = "-", out[24] = "-";
			if (c->msgs_in >= 0)
				snprintf(in, sizeof(in), "%lld",
				         (long long)c->msgs_in);
			if (c->msgs_out >= 0)
				snprintf(out, sizeof(out), "%lld",
				         (long long)c->msgs_out);
			printf("%-18.18s %7d %-9s %8s %8u %7s %7s %7s %7lluK "
			       "%5.1f\n",
			       c->name, c->pid, c->state, up, c->restarts, "-",
			       in, out, (unsigned long long)c->rss_kb, cpu);
		}
		fflush(stdout);
		tp__envelope_free(env);
		if (iterations <= 0 || it + 1 < iterations)
			poll(NULL, 0, interval);
	}
	return 0;
}

int cmd_client(const char *sock, const char *cmd, int argc, char **argv)
{
	char *names[64];
	int n = 0, json = 0, follow = 0, iters = 0, interval = 1000;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && !strcmp(cmd, "status"))
			json = 1;
		else if (strcmp(argv[i], "-f") == 0 && !strcmp(cmd, "logs"))
			follow = 1;
		else if (strcmp(argv[i], "-n") == 0 && !strcmp(cmd, "top") &&
		         i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (strcmp(argv[i], "--interval") == 0 &&
		         !strcmp(cmd, "top") && i + 1 < argc)
			interval = atoi(argv[++i]);
		else if (argv[i][0] == '-' || n == 64) {
			fprintf(stderr,
			        "troupe %s: bad argument '%s' (see "
			        "troupe %s --help)\n",
			        cmd, argv[i], cmd);
			return 2;
		} else
			names[n++] = argv[i];
	}
	if (strcmp(cmd, "status") == 0)
		return status(sock, names, n, json);
	if (strcmp(cmd, "tree") == 0)
		return n ? 2 : tree(sock);
	if (strcmp(cmd, "top") == 0)
		return n ? 2 : top(sock, iters, interval > 0 ? interval : 1000);
	if (strcmp(cmd, "logs") == 0)
		return n > 1 ? 2 : logs(sock, names, n, follow);
	if (strcmp(cmd, "signal") == 0) {
		if (n < 2) {
			fprintf(stderr, "usage: troupe signal SIG NAME...\n");
			return 2;
		}
		if (cli_signal(names[0]) == 0) {
			fprintf(stderr, "troupe: bad signal '%s'\n", names[0]);
			return 2;
		}
		return simple(sock, cmd, names + 1, n - 1, names[0]);
	}
	if (!strcmp(cmd, "start") || !strcmp(cmd, "stop") ||
	    !strcmp(cmd, "restart")) {
		if (n == 0) {
			fprintf(stderr, "usage: troupe %s NAME...|all\n", cmd);
			return 2;
		}
		return simple(sock, cmd, names, n, NULL);
	}
	if (n != 0) {
		fprintf(stderr, "troupe %s takes no names\n", cmd);
		return 2;
	}
	return simple(sock, cmd, NULL, 0, NULL);
}
