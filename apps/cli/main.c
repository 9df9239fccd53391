/*
 * main.c - the `troupe` command: `troupe supervise FILE` runs the daemon,
 * every other command talks to it (supervisorctl style).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name, *args, *help;
} cmds[] = {
    {"supervise", "FILE [--detach] [--socket PATH]",
     "run the supervision tree described in FILE"},
    {"status", "[NAME...] [--json]",
     "show children; exit 1 if any is not running"},
    {"tree", "", "show the supervision tree"},
    {"start", "NAME...|all", "start stopped children"},
    {"stop", "NAME...|all", "stop children (reverse order for all)"},
    {"restart", "NAME...|all", "stop and start children"},
    {"signal", "SIG NAME...", "send a signal (TERM, HUP, USR1, 9...)"},
    {"reload", "",
     "re-read the config: start new, stop removed, "
     "restart changed"},
    {"logs", "[-f] [NAME]",
     "print a program's log records (every record "
     "without NAME); -f follows"},
    {"top", "[-n N] [--interval MS]",
     "live view: pid, state, uptime, "
     "restarts, RSS, CPU"},
    {"shutdown", "", "stop the tree in reverse order and the daemon"},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: troupe [--socket PATH] COMMAND [ARGS]\n\n"
	             "commands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-9s %-32s %s\n", cmds[i].name, cmds[i].args,
		        cmds[i].help);
	fprintf(out, "\nEvery command takes --help. The control socket is "
	             "$TROUPE_SOCKET, else the runtime\ndirectory's "
	             "troupe.sock.\n");
}

static int has_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	char sock[256];
	int i = 1;
	cli_default_socket(sock, sizeof(sock));
	if (i + 1 < argc && strcmp(argv[i], "--socket") == 0) {
		snprintf(sock, sizeof(sock), "%s", argv[i + 1]);
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
	    !strcmp(argv[i], "help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	const char *cmd = argv[i];
	for (size_t k = 0; k < NCMDS; k++) {
		if (strcmp(cmd, cmds[k].name) != 0)
			continue;
		if (strcmp(cmd, "supervise") == 0) {
			if (i > 1 && !has_help(argc - i, argv + i)) {
				/* --socket before the command applies too */
				setenv("TROUPE_SOCKET", sock, 1);
			}
			return cmd_supervise(argc - i, argv + i);
		}
		if (has_help(argc - i - 1, argv + i + 1)) {
			printf("usage: troupe %s %s\n%s\n", cmds[k].name,
			       cmds[k].args, cmds[k].help);
			return 0;
		}
		return cmd_client(sock, cmd, argc - i - 1, argv + i + 1);
	}
	fprintf(stderr, "troupe: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return 2;
}
