/*
 * ps.c - `troupe ps` and `-p PID`: every troupe program (the daemon
 * included) has its own control socket, "<run dir>/ctl.sock", served by
 * the framework (framework/src/ctl_status.c) with the daemon's protocol.
 * Run directories are "<runtime base>/<pid>.<starttime>", the base being
 * $XDG_RUNTIME_DIR/troupe, else /tmp/troupe-UID (as tp_init makes them);
 * a directory whose pid no longer runs with that start time is stale and
 * skipped. The base is 0700 and the socket 0600, and the program checks
 * each peer's uid: another user's program is refused.
 */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "internal.h"

static void runtime_base(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && xdg[0] == '/' && access(xdg, W_OK) == 0)
		snprintf(buf, len, "%s/troupe", xdg);
	else
		snprintf(buf, len, "/tmp/troupe-%u", (unsigned)getuid());
}

/* 1 when entry "<pid>.<start>" names a live process; sets *pid, *start. */
static int live_entry(const char *name, int *pid, unsigned long long *start)
{
	unsigned long long now;
	char *end;
	long p = strtol(name, &end, 10);
	if (p <= 0 || *end != '.')
		return 0;
	*start = strtoull(end + 1, &end, 10);
	*pid = (int)p;
	return *end == '\0' && tp__proc_starttime(*pid, &now) == TP_OK &&
	       now == *start;
}

/* 1 when "ctl-<pid>.<start>.sock" names a live process (sets both). */
static int live_joined(const char *name, int *pid, unsigned long long *start)
{
	char entry[64];
	size_t n = strlen(name);
	if (strncmp(name, "ctl-", 4) != 0 || n < 9 || n - 4 >= sizeof(entry) ||
	    strcmp(name + n - 5, ".sock") != 0)
		return 0;
	snprintf(entry, sizeof(entry), "%.*s", (int)(n - 9), name + 4);
	return live_entry(entry, pid, start);
}

/* Calls fn for each live troupe program of this user: the owner of each
 * run directory (its ctl.sock), then the programs that joined that run
 * (ctl-PID.START.sock: the command lines a supervisor started, such as a
 * daemon's programs). fn returns non-zero to stop. */
static void each_program(int (*fn)(void *arg, int pid, unsigned long long start,
                                   const char *sock),
                         void *arg)
{
	char base[256], dir[600], sock[900];
	struct dirent *e, *j;
	struct stat st;
	int pid, stop = 0;
	unsigned long long start;
	runtime_base(base, sizeof(base));
	DIR *d = opendir(base);
	while (d != NULL && !stop && (e = readdir(d)) != NULL) {
		if (!live_entry(e->d_name, &pid, &start))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
		if (stat(sock, &st) == 0 && st.st_uid == getuid())
			stop = fn(arg, pid, start, sock);
		DIR *r = stop ? NULL : opendir(dir);
		while (r != NULL && !stop && (j = readdir(r)) != NULL) {
			if (!live_joined(j->d_name, &pid, &start))
				continue;
			snprintf(sock, sizeof(sock), "%s/%s", dir, j->d_name);
			if (stat(sock, &st) == 0 && st.st_uid == getuid())
				stop = fn(arg, pid, start, sock);
		}
		if (r != NULL)
			closedir(r);
	}
	if (d != NULL)
		closedir(d);
}

struct find {
	int pid, found;
	char *buf;
	size_t len;
};

static int find_one(void *arg, int pid, unsigned long long start,
                    const char *sock)
{
	struct find *f = arg;
	(void)start;
	if (pid != f->pid)
		return 0;
	snprintf(f->buf, f->len, "%s", sock);
	f->found = 1;
	return 1;
}

/* Another user's program: its run directory is not even readable (0700
 * base, 0700 run dir), so it is not found: TP_ENOENT, or TP_EPERM when a
 * socket of its pid exists with another owner. */
int cli_program_socket_find(int pid, char *buf, size_t len)
{
	struct find f = {pid, 0, buf, len};
	char base[256], path[600];
	struct dirent *e;
	struct stat st;
	int p, other = 0;
	unsigned long long start;
	each_program(find_one, &f);
	if (f.found)
		return TP_OK;
	runtime_base(base, sizeof(base));
	DIR *d = opendir(base);
	while (d != NULL && !other && (e = readdir(d)) != NULL) {
		if (!live_entry(e->d_name, &p, &start) || p != pid)
			continue;
		snprintf(path, sizeof(path), "%s/%s/ctl.sock", base, e->d_name);
		other = stat(path, &st) == 0 && st.st_uid != getuid();
	}
	if (d != NULL)
		closedir(d);
	return other ? TP_EPERM : TP_ENOENT;
}

int cli_program_socket(int pid, char *buf, size_t len)
{
	int rv = cli_program_socket_find(pid, buf, len);
	if (rv == TP_ENOENT)
		fprintf(stderr,
		        "troupe: no troupe program with pid %d of "
		        "this user\n",
		        pid);
	else if (rv == TP_EPERM)
		fprintf(stderr, "troupe: program %d belongs to another user\n",
		        pid);
	return rv == TP_OK ? 0 : rv == TP_ENOENT ? 2 : 1;
}

static void comm_of(int pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	FILE *f = fopen(path, "r");
	buf[0] = '\0';
	if (f != NULL) {
		if (fgets(buf, (int)len, f) != NULL)
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

static int64_t uptime_ms(unsigned long long start_ticks)
{
	double up = 0;
	FILE *f = fopen("/proc/uptime", "r");
	if (f != NULL) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	long hz = sysconf(_SC_CLK_TCK);
	int64_t ms = (int64_t)(up * 1000) -
	             (int64_t)(start_ticks * 1000 / (hz > 0 ? hz : 100));
	return ms > 0 ? ms : 0;
}

/* The number of children the program's socket reports; -1 if none. */
static int children_of(const char *sock)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *env = NULL;
	req.command = "status";
	if (ctl_call(sock, &req, &env, 5000) != TP_OK)
		return -1;
	int n = env->sup_reply->code == TP_OK ? (int)env->sup_reply->n_children
	                                      : -1;
	tp__envelope_free(env);
	return n;
}

struct listing {
	json_object *arr;
};

static int list_one(void *arg, int pid, unsigned long long start,
                    const char *sock)
{
	struct listing *l = arg;
	char name[64], up[32];
	int kids = children_of(sock);
	int64_t ms = uptime_ms(start);
	comm_of(pid, name, sizeof(name));
	if (l->arr != NULL) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "pid", json_object_new_int(pid));
		json_object_object_add(p, "name", json_object_new_string(name));
		json_object_object_add(p, "uptime_ms",
		                       json_object_new_int64(ms));
		json_object_object_add(
		    p, "children", kids < 0 ? NULL : json_object_new_int(kids));
		json_object_array_add(l->arr, p);
		return 0;
	}
	cli_fmt_uptime(ms, up, sizeof(up));
	if (kids < 0)
		printf("%-8d %-16s %-10s ?\n", pid, name, up);
	else
		printf("%-8d %-16s %-10s %d\n", pid, name, up, kids);
	return 0;
}

int cli_ps(const struct cli_opts *o)
{
	struct listing l = {o->json ? json_object_new_array() : NULL};
	if (!o->json)
		printf("%-8s %-16s %-10s %s\n", "PID", "NAME", "UPTIME",
		       "CHILDREN");
	each_program(list_one, &l);
	if (l.arr != NULL) {
		puts(json_object_to_json_string_ext(
		    l.arr,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(l.arr);
	}
	return 0;
}
