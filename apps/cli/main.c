/*
 * main.c - the `troupe` command: `troupe supervise FILE` runs the daemon,
 * every other command talks to it (supervisorctl style).
 *
 * Options are parsed with getopt_long and may come anywhere (`troupe
 * status --socket P`); each command accepts only the options that mean
 * something to it. Bad input (an unknown command or option, a missing or
 * malformed value) prints a message and exits 2. `supervise` keeps its
 * own parser (daemon.c): what follows its name goes to it unchanged.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#ifndef TROUPE_VERSION
#define TROUPE_VERSION "unknown"
#endif

enum {
	O_JSON = 1 << 0,
	O_FOLLOW = 1 << 1,
	O_LINES = 1 << 2, /* -n: lines (logs), screens (top) */
	O_INTERVAL = 1 << 3,
	O_NOWAIT = 1 << 4,
	O_TIMEOUT = 1 << 5,
	O_PID = 1 << 6,
};

static const struct cmd {
	const char *name, *args, *help;
	int opts, min, max; /* operands after the command */
} cmds[] = {
    {"supervise", "FILE [--detach] [--socket PATH]",
     "run the supervision tree described in FILE", 0, 0, -1},
    {"status", "[-p PID] [NAME...] [--json]",
     "show children; exit 1 if any is not running", O_JSON | O_PID, 0, -1},
    {"tree", "[-p PID] [--json]", "show the supervision tree", O_JSON | O_PID,
     0, 0},
    {"ps", "[--json]", "list this user's live troupe programs", O_JSON, 0, 0},
    {"start", "[-p PID] NAME...", "start stopped children", O_PID, 1, -1},
    {"stop", "[-p PID] NAME...", "stop children (all: reverse order)", O_PID, 1,
     -1},
    {"restart", "[-p PID] NAME...", "stop and start children", O_PID, 1, -1},
    {"signal", "[-p PID] SIG NAME...", "send a signal to programs", O_PID, 2,
     -1},
    {"pid", "[NAME...]", "the daemon's pid, or the programs'", 0, 0, -1},
    {"reread", "", "say what reload would change", 0, 0, 0},
    {"reload", "",
     "apply the config: start new, stop removed, "
     "restart changed",
     0, 0, 0},
    {"update", "[NAME...]",
     "reload for NAME... only (programs, groups); none: all", 0, 0, -1},
    {"avail", "", "every program and group of the config file", 0, 0, 0},
    {"logs", "[-n N] [-f] [NAME...]",
     "print programs' log records (all without NAME)", O_FOLLOW | O_LINES, 0,
     -1},
    {"clear", "NAME...", "empty programs' log files", 0, 1, -1},
    {"top", "[-p PID] [-n SCREENS] [--interval MS]",
     "live view (q quits, h help)", O_LINES | O_INTERVAL | O_PID, 0, 0},
    {"shutdown", "[--no-wait] [--timeout S]",
     "stop the tree and wait for the daemon to exit", O_NOWAIT | O_TIMEOUT, 0,
     0},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: troupe [--socket PATH | -c FILE] COMMAND [ARGS]\n"
	             "       troupe --version | --help\n\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-9s %-31s %s\n", cmds[i].name, cmds[i].args,
		        cmds[i].help);
	fprintf(out,
	        "\nNAME is a program or group, GROUP:NAME, GROUP:* or all.\n"
	        "The control socket is --socket PATH, else the one of the "
	        "config -c FILE,\nelse $TROUPE_SOCKET, else the runtime "
	        "directory's troupe.sock.\nEvery command takes --help; "
	        "`man troupe-COMMAND` says more.\n");
}

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "troupe: %s '%s' (see troupe --help)\n", what, arg);
	return 2;
}

static int number(const char *s, long min, long max, int *out)
{
	char *end;
	if (s == NULL || *s == '\0')
		return 0;
	long x = strtol(s, &end, 10);
	if (*end != '\0' || x < min || x > max)
		return 0;
	*out = (int)x;
	return 1;
}

/* The first word that is not an option (or an option's value). */
static int command_index(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (!strcmp(a, "--socket") || !strcmp(a, "-s") ||
		    !strcmp(a, "--config") || !strcmp(a, "-c") ||
		    !strcmp(a, "-n") || !strcmp(a, "--lines") ||
		    !strcmp(a, "--interval") || !strcmp(a, "--timeout") ||
		    !strcmp(a, "-p") || !strcmp(a, "--pid"))
			i++;
	}
	return -1;
}

/* `supervise`: what precedes it (--socket, -c FILE) is handed on. */
static int supervise(int argc, char **argv, int at)
{
	char **v = calloc((size_t)argc + 4, sizeof(char *));
	int n = 0;
	if (v == NULL)
		return 1;
	for (int i = at; i < argc; i++)
		v[n++] = argv[i];
	for (int i = 1; i < at; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "--socket") || !strcmp(a, "-s")) &&
		    i + 1 < at) {
			v[n++] = "--socket";
			v[n++] = argv[++i];
		} else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) &&
		           i + 1 < at) {
			v[n++] = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			v[n++] = "--socket";
			v[n++] = (char *)a + 9;
		} else {
			v[n++] = argv[i]; /* --help, --detach: its parser's */
		}
	}
	int rv = cmd_supervise(n, v);
	free(v);
	return rv;
}

static const struct option longopts[] = {
    {"socket", required_argument, NULL, 's'},
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"json", no_argument, NULL, 'j'},
    {"follow", no_argument, NULL, 'f'},
    {"lines", required_argument, NULL, 'n'},
    {"interval", required_argument, NULL, 'i'},
    {"no-wait", no_argument, NULL, 'W'},
    {"timeout", required_argument, NULL, 't'},
    {"pid", required_argument, NULL, 'p'},
    {NULL, 0, NULL, 0},
};

static int opt_bit(int c)
{
	switch (c) {
	case 'j':
		return O_JSON;
	case 'f':
		return O_FOLLOW;
	case 'n':
		return O_LINES;
	case 'i':
		return O_INTERVAL;
	case 'W':
		return O_NOWAIT;
	case 't':
		return O_TIMEOUT;
	case 'p':
		return O_PID;
	default:
		return 0;
	}
}

static int set_value(struct cli_opts *o, int c, const char *v)
{
	switch (c) {
	case 's':
		snprintf(o->socket, sizeof(o->socket), "%s", v);
		return 1;
	case 'c':
		o->config = v;
		return 1;
	case 'j':
		o->json = 1;
		return 1;
	case 'f':
		o->follow = 1;
		return 1;
	case 'W':
		o->no_wait = 1;
		return 1;
	case 'n':
		return number(v, 0, 1000000000, &o->lines);
	case 'i':
		return number(v, 10, 3600000, &o->interval_ms);
	case 't':
		return number(v, 0, 86400, &o->timeout_s);
	case 'p':
		return number(v, 1, 0x3fffffff, &o->pid);
	default:
		return 1;
	}
}

/* Parses argv into *o; the operands (command first) end up at
 * argv[optind..]. 0 to go on, else the exit status. */
static int parse(int argc, char **argv, struct cli_opts *o, int *used)
{
	int c, help = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:c:hVjfn:i:t:p:", longopts,
	                        NULL)) != -1) {
		if (c == '?')
			return optopt ? bad("unknown option",
			                    (char[]){'-', (char)optopt, 0})
			              : bad("unknown option", argv[optind - 1]);
		if (c == ':')
			return bad("missing value for", argv[optind - 1]);
		if (c == 'h')
			help = 1;
		else if (c == 'V') {
			printf("troupe %s\n", TROUPE_VERSION);
			return -1;
		} else if (!set_value(o, c, optarg))
			return bad("bad value", optarg);
		*used |= opt_bit(c);
	}
	o->help = help;
	return 0;
}

static int run(const struct cmd *k, struct cli_opts *o, int n, char **v)
{
	if (o->help) {
		printf("usage: troupe %s %s\n%s\n", k->name, k->args, k->help);
		return 0;
	}
	if (n < k->min || (k->max >= 0 && n > k->max)) {
		fprintf(stderr, "usage: troupe %s %s\n", k->name, k->args);
		return 2;
	}
	if (o->config != NULL && cli_socket_of_config(o) != 0)
		return 2;
	if (o->pid > 0) {
		int rv =
		    cli_program_socket(o->pid, o->socket, sizeof(o->socket));
		if (rv != 0)
			return rv;
	}
	return cmd_client(o, k->name, n, v);
}

int main(int argc, char **argv)
{
	struct cli_opts o = {.lines = -1, .interval_ms = 1000, .timeout_s = 60};
	int used = 0, at = command_index(argc, argv);
	if (at > 0 && strcmp(argv[at], "supervise") == 0)
		return supervise(argc, argv, at);
	int rv = parse(argc, argv, &o, &used);
	if (rv != 0)
		return rv < 0 ? 0 : rv;
	if (optind >= argc) {
		usage(o.help ? stdout : stderr);
		return o.help ? 0 : 2;
	}
	const char *name = argv[optind];
	const struct cmd *k = find_cmd(name);
	if (k == NULL && strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (k == NULL) {
		fprintf(stderr, "troupe: unknown command '%s'\n\n", name);
		usage(stderr);
		return 2;
	}
	static const char *names[] = {"--json",     "--follow",  "-n",
	                              "--interval", "--no-wait", "--timeout",
	                              "-p"};
	for (int b = 0; (1 << b) <= O_PID; b++)
		if ((used & (1 << b)) && !(k->opts & (1 << b))) {
			fprintf(stderr,
			        "troupe %s: %s does not apply here (usage: "
			        "troupe %s %s)\n",
			        k->name, names[b], k->name, k->args);
			return 2;
		}
	if (o.socket[0] == '\0' && o.config == NULL)
		cli_default_socket(o.socket, sizeof(o.socket));
	return run(k, &o, argc - optind - 1, argv + optind + 1);
}
