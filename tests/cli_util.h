/*
 * cli_util.h - helpers shared by the troupe CLI tests (cli_util.c).
 */
#ifndef TP_TEST_CLI_UTIL_H
#define TP_TEST_CLI_UTIL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"
#include "troupe.pb-c.h"

/* The test's private directory, control socket, config file and the file
 * tp-test-child writes its marks to ("up NAME", "down NAME"). */
extern char dir[256], sock[300], cfg[300], marks[300];
extern pid_t daemon_pid; /* killed by teardown if a test failed */
/* A config of three children: a, group g with b, transient c. */
extern const char *three;

int64_t now_ms(void);
void nap(int ms);

/* Runs `troupe --socket SOCK ARGS` (troupe_raw: `troupe ARGS`) and
 * returns its exit code; its output (stdout and stderr) is stored in
 * out. */
int troupe(char *out, size_t len, const char *args);
int troupe_raw(char *out, size_t len, const char *args);

/* Starts troupe with argv, its stdout on a pipe whose end is *fd. */
pid_t troupe_spawn(char *const argv[], int *fd);
/* Reads fd into out until it holds every string of want (10 s at most);
 * 1 if it does. */
int read_until(int fd, char *out, size_t len, const char *const want[], int n);
/* Sends sig to pid and reaps it: its exit status (128 + N: signal N). */
int signal_and_reap(pid_t pid, int sig);
void write_cfg(const char *text);

/* cmocka setup/teardown: a private directory; teardown kills a daemon a
 * failed test left and checks no child is left. */
int setup(void **state);
int teardown(void **state);

/* Starts `troupe supervise cfg --socket sock` in the foreground as our
 * child; daemon_start also waits until it answers `status`. */
pid_t daemon_spawn(void);
pid_t daemon_start(void);
/* daemon_spawn with the daemon's stderr (its events, in the foreground)
 * on a pipe whose read end is *fd. */
pid_t daemon_spawn_stderr(int *fd);
/* Waits (20 s at most) for the daemon to exit: its exit status. */
int daemon_wait(pid_t pid);

/* The node named name in a --json children array, depth first. */
json_object *json_find(json_object *kids, const char *name);
/* Parses `troupe status --json`; returns the child object named name. */
json_object *status_json(json_object **root, const char *name);
const char *jstr(json_object *o, const char *k);
int jint(json_object *o, const char *k);
/* The pid of name if it is running, else 0. */
int pid_of(const char *name);

/* A packed, framed `status` request (malloc'd; the caller frees it). */
unsigned char *status_frame(size_t *len);
/* The same for command on the child name (NULL: none). */
unsigned char *command_frame(const char *command, const char *name,
                             size_t *len);
/* Reads one reply frame from a raw control connection. */
Troupe__Envelope *read_reply(int fd);

#endif
