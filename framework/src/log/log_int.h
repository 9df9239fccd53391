/*
 * log_int.h - internal interfaces of the logging module, shared between
 * log_config.c (the configuration object), log_sink.c (formatting and the
 * one writer of console and file), log_client.c and log_flush.c (this
 * process's logger: batching, sending, flushing; via log_client_int.h),
 * log_actor.c (the actor thread), log_capture.c (a child's stdout/stderr
 * as records), log_read.c (reading log files back), and the hooks called
 * by the process module (child.c, reap.c, start.c) and tp_fini (init.c).
 */
#ifndef TP_LOG_INT_H
#define TP_LOG_INT_H

/* Ends a line a killed writer left without its newline (log_sink.c). */
#define TP_LOG_CUT_MARK " [line cut: its writer was killed]"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "troupe.pb-c.h"
#include "troupe/log.h"

struct tp_log_config {
	char *app, *name, *file, *format, *address;
	int level;
	int console;
	int colour;
	uint64_t max_bytes;
	unsigned backups;
	int json;
	int delete_existing;
	size_t buffer;
	unsigned block_ms;
};

/* Largest message kept in one record; longer ones are cut. */
#define TP_LOG_MSG_MAX (64 * 1024)

/* A program run by a supervisor that captures its output (troupe
 * supervise) finds its supervisor's logging actor here: its default
 * configuration logs through that actor under that name. */
#define TP_ENV_LOG_ADDRESS "TROUPE_LOG_ADDRESS"
#define TP_ENV_LOG_NAME    "TROUPE_LOG_NAME"
/* Applies those variables, when set, to a default configuration. */
void tp__log_config_env(tp_log_config *c);
/* Largest batch a sender makes, and the actor's receive buffer. */
#define TP_LOG_BATCH_MAX (32 * 1024)
#define TP_LOG_FRAME_MAX (256 * 1024)

/* The config as a LogConfig message, pointing into c (no copies). */
void tp__log_config_to_pb(const tp_log_config *c, Troupe__LogConfig *pb);
/* A new config from a LogConfig message. Errors: TP_EDECODE, TP_ENOMEM. */
int tp__log_config_from_pb(const Troupe__LogConfig *pb, tp_log_config **out);
/* Deep copy. */
int tp__log_config_copy(const tp_log_config *c, tp_log_config **out);
/* Replaces *slot by a copy of s (NULL or "" clears it). */
int tp__log_strset(char **slot, const char *s);
/* Checks a line template. */
int tp__log_format_ok(const char *fmt);
/* The level's name ("INFO"), or NULL for a value between the levels. */
const char *tp__log_level_name(int level);
/* The socket path of an "ipc://" address (or the address itself). */
const char *tp__log_addr_path(const char *address);

/* ---- the sink: the one writer of the console and the file ---- */

typedef struct tp__log_sink tp__log_sink;

/* Opens c's outputs. A file that cannot be opened is reported once on
 * stderr and the console is used instead (file_error tells why). */
int tp__log_sink_open(const tp_log_config *c, tp__log_sink **out);
void tp__log_sink_close(tp__log_sink *s);
/* Formats one record into the sink's buffers (rotating the file between
 * lines when needed); name and msg need not be NUL-terminated. */
void tp__log_sink_add(tp__log_sink *s, int64_t time_us, int level,
                      const char *name, size_t nlen, pid_t pid, const char *msg,
                      size_t mlen);
/* Writes what is buffered. */
void tp__log_sink_flush(tp__log_sink *s);
/* Buffered bytes not yet written. */
size_t tp__log_sink_pending(const tp__log_sink *s);
int tp__log_sink_file_error(const tp__log_sink *s);
uint64_t tp__log_sink_rotations(const tp__log_sink *s);

/* Microseconds since the epoch (wall clock). */
int64_t tp__log_now_us(void);

/* ---- hooks for the runtime and the process module ---- */

/* tp_fini: flush this process's records, stop its actors. */
void tp__log_fini(void);
/* Once in the fork server, before its first clone: the logging module's
 * one-time set-up (its fork and exit handlers), which its children then
 * inherit instead of each registering it (page faults, docs/process.md). */
void tp__log_child_prepare(void);
/* In a new child, before its target runs: install a clone of the parent's
 * configuration (pb may be NULL: keep the defaults) under name. */
void tp__log_child_start(const Troupe__LogConfig *pb, const char *name);
/* A child's crash report (from the process module): logged as CRITICAL
 * under the child's name and pid, or printed on stderr when this process
 * logs nothing at that level. */
void tp__log_crash_report(const char *name, pid_t pid, const char *report);
/* In a child whose target returned, before _exit: flush (bounded). */
void tp__log_child_exit(void);
/* Hands every record made so far to the logging actor's socket (or this
 * process's sink), waiting up to timeout_ms for room, without waiting for
 * the actor: a record in the socket survives this process's death. Cheap
 * when there is nothing to send. Called by a pool worker before it returns
 * results, so a worker stopped after its tasks loses no record. */
int tp__log_handoff(int timeout_ms);
#define TP_LOG_HANDOFF_MS 1000 /* bound of a pool worker's hand-off */

/* The current actor at address is gone: write directly again. */
void tp__log_detach(const char *address);

/* ---- the logging actor: its server process and its handle ---- */

/* The state a logging actor's server shares with its handle: a file in
 * the run directory mapped by both, which outlives any server process. */
#define TP_LOG_PEERS 4096
struct tp__log_apeer {
	int32_t pid;
	uint32_t pad;
	uint64_t next_seq; /* the sequence number its next batch must have */
};
struct tp__log_astate {
	uint32_t gen;    /* futex word: +1 when a server listens or ends */
	int32_t pid;     /* the server while it listens, 0 after a clean end;
	                    a dead pid here: it was killed */
	int32_t error;   /* why the last server ended (0: stopped) */
	uint32_t starts; /* servers that listened so far */
	uint64_t records, lost, batches, bad, rotations, connections;
	int32_t file_error;
	uint32_t npeers, evict;
	struct tp__log_apeer peers[TP_LOG_PEERS];
};

/* The server: listens on cfg's address and serves until SIGTERM (TP_OK)
 * or SIGUSR1 (TP_ECANCELED), with its state in the file at state_path.
 * Run in a child process of its own (the target the layer above starts
 * under a supervisor). Errors: socket and file errors, TP_ENOMEM. */
int tp__log_serve(const tp_log_config *cfg, const char *state_path);

/* Who runs the servers: the layer above registers this (tp_init), so the
 * server is a supervised child process; log/ never calls up. */
struct tp__log_host {
	/* Starts the server of actor id (a child running tp__log_serve(cfg,
	 * state_path)), restarted by its supervisor when it dies. sup: the
	 * supervisor to start it under (NULL: the program's root). */
	int (*start)(void *sup, const char *id, const tp_log_config *cfg,
	             const char *state_path);
	int (*stop)(void *sup, const char *id);    /* stop, keep the spec */
	int (*restart)(void *sup, const char *id); /* start it again */
	void (*remove)(void *sup, const char *id); /* stop and forget it */
};
void tp__log_set_host(const struct tp__log_host *h);
/* tp_log_actor_start under a given supervisor (the daemon's tree). */
int tp__log_actor_start_under(const tp_log_config *c, void *sup,
                              tp_log_actor **out);
/* tp_fini, after the supervisors stopped: every actor of this process is
 * stopped for good (no host any more); this process writes directly. */
void tp__log_actors_unhost(void);
/* Actor registry, for tp__log_fini. */
void tp__log_actors_stop_all(void);
/* Test hook: make the actor's server fail (it ends with TP_ECANCELED and
 * its supervisor restarts it). */
int tp__log_actor_fail(tp_log_actor *a);
/* Waits up to timeout_ms for a server that is not `old` to listen.
 * Errors: TP_ETIMEDOUT. */
int tp__log_actor_wait_new(tp_log_actor *a, pid_t old, int timeout_ms);

/* log_filecap.c: the read end fd of a pipe (taken) appended to path by
 * this process's logging loop (log_loop.h), rotated at max_bytes keeping
 * `backups` files (0: never). */
struct tp__filecap;
int tp__filecap_start(int fd, const char *path, uint64_t max_bytes,
                      unsigned backups, struct tp__filecap **out);
/* Waits up to wait_ms for every writer to close the pipe, then frees. */
void tp__filecap_free(struct tp__filecap *f, int wait_ms);
/* Calls fn for each logging actor this process runs (registry locked:
 * fn must not start or stop actors). For the control socket's status. */
void tp__log_actor_each(void (*fn)(void *arg, tp_log_actor *a), void *arg);

#endif
