/*
 * client.c - the supervisorctl side of `troupe`: every command but
 * `supervise` sends one request to the daemon's control socket and prints
 * the reply (exit codes in client.h). The renderings of status and tree
 * are in render.c, logs in logs.c, top in top.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "internal.h"

#define CALL_TIMEOUT_MS 60000

FILE *cli_err;

static void print_message(const char *m, FILE *out)
{
	if (m == NULL || m[0] == '\0')
		return;
	fputs(m, out);
	if (m[strlen(m) - 1] != '\n')
		fputc('\n', out);
}

int cli_call(const struct cli_opts *o, const char *cmd, char **names, int n,
             const char *arg, int strict, Troupe__Envelope **env)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	req.command = (char *)cmd;
	req.names = names;
	req.n_names = (size_t)n;
	if (arg != NULL)
		req.arg = (char *)arg;
	FILE *err = cli_err != NULL ? cli_err : stderr;
	int rv = ctl_call(o->socket, &req, env, CALL_TIMEOUT_MS);
	if (rv == TP_ENOENT) {
		fprintf(err,
		        "troupe: no daemon at %s (is `troupe supervise` "
		        "running?)\n",
		        o->socket);
		return 3;
	}
	if (rv != TP_OK) {
		fprintf(err, "troupe: %s: %s\n", o->socket, tp_strerror(rv));
		return 1;
	}
	int code = (*env)->sup_reply->code;
	if (code == TP_OK || (!strict && code != TP_EPERM &&
	                      code != TP_EDECODE && code != TP_EPROTO))
		return 0;
	fputs("troupe: ", err);
	print_message((*env)->sup_reply->message, err);
	if ((*env)->sup_reply->message[0] == '\0')
		fprintf(err, "%s\n", tp_strerror(code));
	tp__envelope_free(*env);
	*env = NULL;
	return code == TP_ENOENT ? 2 : 1;
}

/* Prints the reply's lines; 0, 2 for an unknown name, 1 for an error. */
static int simple(const struct cli_opts *o, const char *cmd, char **names,
                  int n, const char *arg)
{
	Troupe__Envelope *env;
	int rv = cli_call(o, cmd, names, n, arg, 0, &env);
	if (rv != 0)
		return rv;
	Troupe__SupReply *r = env->sup_reply;
	print_message(r->message, r->code == TP_OK ? stdout : stderr);
	rv = r->code == TP_OK ? 0 : r->code == TP_ENOENT ? 2 : 1;
	tp__envelope_free(env);
	return rv;
}

static int status_like(const struct cli_opts *o, const char *cmd, int n,
                       char **names)
{
	Troupe__Envelope *env;
	int rv = cli_call(o, "status", names, n, NULL, 1, &env);
	if (rv != 0)
		return rv;
	if (strcmp(cmd, "tree") == 0)
		rv = cli_render_tree(o, env->sup_reply);
	else
		rv = cli_render_status(o, env->sup_reply);
	tp__envelope_free(env);
	return rv;
}

/* `pid`: the daemon's; `pid NAME...`: each program's (0: not running),
 * alone for one program, else "NAME PID" lines. */
static int pid(const struct cli_opts *o, int n, char **names)
{
	Troupe__Envelope *env;
	int rv = cli_call(o, "status", names, n, NULL, 1, &env);
	if (rv != 0)
		return rv;
	const Troupe__SupReply *r = env->sup_reply;
	size_t workers = 0;
	for (size_t k = 0; k < r->n_children; k++)
		workers += strcmp(r->children[k]->type, "supervisor") != 0;
	if (n == 0)
		printf("%d\n", r->daemon_pid);
	for (size_t k = 0; n > 0 && k < r->n_children; k++) {
		const Troupe__SupChild *c = r->children[k];
		if (strcmp(c->type, "supervisor") == 0)
			continue;
		if (workers == 1)
			printf("%d\n", c->pid);
		else
			printf("%s %d\n", c->name, c->pid);
	}
	tp__envelope_free(env);
	return 0;
}

/* Waits for pid to exit (a pidfd, else kill(pid, 0) every 10 ms). */
static int wait_gone(int pid, int timeout_s)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno == ESRCH)
		return 0;
	if (fd >= 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k;
		while ((k = poll(&p, 1, timeout_s * 1000)) < 0 &&
		       errno == EINTR)
			;
		close(fd);
		return k > 0 ? 0 : -1;
	}
	for (int i = 0; i < timeout_s * 100; i++) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return 0;
		poll(NULL, 0, 10);
	}
	return -1;
}

static int shutdown_daemon(const struct cli_opts *o)
{
	Troupe__Envelope *env;
	int rv = cli_call(o, "shutdown", NULL, 0, NULL, 1, &env);
	if (rv != 0)
		return rv;
	int dpid = env->sup_reply->daemon_pid;
	tp__envelope_free(env);
	if (o->no_wait || dpid <= 0) {
		printf("shutting down\n");
		return 0;
	}
	if (wait_gone(dpid, o->timeout_s) != 0) {
		fprintf(stderr,
		        "troupe: the daemon (pid %d) is still running after "
		        "%d s\n",
		        dpid, o->timeout_s);
		return 1;
	}
	printf("shut down (daemon pid %d exited)\n", dpid);
	return 0;
}

int cli_socket_of_config(struct cli_opts *o)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char err[8192];
	if (c == NULL)
		return 1;
	if (cfg_load(o->config, c, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		cfg_free(c);
		return 2;
	}
	if (o->socket[0] == '\0') {
		if (c->socket[0])
			snprintf(o->socket, sizeof(o->socket), "%s", c->socket);
		else
			cli_default_socket(o->socket, sizeof(o->socket));
	}
	cfg_free(c);
	return 0;
}

int cmd_client(const struct cli_opts *o, const char *cmd, int n, char **names)
{
	if (!strcmp(cmd, "status") || !strcmp(cmd, "tree"))
		return status_like(o, cmd, n, names);
	if (strcmp(cmd, "pid") == 0)
		return pid(o, n, names);
	if (strcmp(cmd, "logs") == 0)
		return cli_logs(o, n, names);
	if (strcmp(cmd, "top") == 0)
		return cli_top(o);
	if (strcmp(cmd, "ps") == 0)
		return cli_ps(o);
	if (strcmp(cmd, "shutdown") == 0)
		return shutdown_daemon(o);
	if (strcmp(cmd, "signal") == 0) {
		if (cli_signal(names[0]) == 0) {
			fprintf(stderr, "troupe: bad signal '%s'\n", names[0]);
			return 2;
		}
		return simple(o, cmd, names + 1, n - 1, names[0]);
	}
	if (strcmp(cmd, "update") == 0)
		cmd = "reload";
	return simple(o, cmd, names, n, NULL);
}
