/*
 * troupe/log.h - logging: one writer for every child.
 *
 * Python's logging in a multiprocessing program has two problems (seed 004):
 * a child starts with no logging set up, and many processes writing one
 * file interleave and rotate over each other. troupe solves both the balsa
 * way and the actor way:
 *
 *  - A tp_log_config describes logging (application name, process name,
 *    level, console, file with rotation, line format or JSON lines). It can
 *    be encoded to bytes (balsa's config_as_dict) and cloned for a child
 *    under the child's own name (balsa_clone); the clone may not delete
 *    existing log files. The process module applies a clone of the current
 *    configuration to every child it starts.
 *  - A logging actor (tp_log_actor) is the only writer of the console and
 *    the files. Every process of the tree sends it batches of records;
 *    lines never interleave, rotation is done by that one writer, and the
 *    records of one process keep their order.
 *
 *   tp_log_config *cfg;
 *   tp_log_config_new(&cfg, "myapp");
 *   tp_log_config_set_file(cfg, "myapp.log", 1 << 20, 5);
 *   tp_log_actor *actor;
 *   tp_log_actor_start(cfg, &actor);   // this process now logs through it
 *   tp_log_info("started %d workers", n);
 *   ...                                // children log through it too
 *   tp_log_actor_free(actor);
 *
 * A record call is cheap when its level is off (one load and compare, no
 * formatting) and never blocks on a slow or absent actor: records are
 * buffered up to a bound and past it dropped and counted; the next batch
 * that gets through carries the count and the actor writes a warning.
 * See docs/logging.md.
 */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, with Python's numbers. A record is kept when level >= the
 * configured level. */
typedef enum tp_log_level {
	TP_LOG_DEBUG = 10,
	TP_LOG_INFO = 20,
	TP_LOG_WARNING = 30,
	TP_LOG_ERROR = 40,
	TP_LOG_CRITICAL = 50,
} tp_log_level;

/*
 * tp_log_level_name returns "DEBUG", "INFO", "WARNING", "ERROR" or
 * "CRITICAL", or NULL for another value. tp_log_level_parse reads one of
 * those names (any case, "WARN" too) or a number 0..100 into *out, for
 * configuration files. Errors: TP_EINVAL.
 */
const char *tp_log_level_name(int level);
int tp_log_level_parse(const char *s, int *out);

/* Console colour: by level when the console is a terminal, always, never. */
typedef enum tp_log_colour {
	TP_LOG_COLOUR_AUTO = 0,
	TP_LOG_COLOUR_ALWAYS = 1,
	TP_LOG_COLOUR_NEVER = 2,
} tp_log_colour;

/* The default line template: time, level, name[pid], message. Tokens: %T
 * time (UTC, ISO 8601, microseconds), %L level, %N process name, %P pid,
 * %A application name, %M message, %% a percent sign. */
#define TP_LOG_FORMAT_DEFAULT "%T %L %N[%P] %M"

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

typedef struct tp_log_config tp_log_config;

/*
 * tp_log_config_new makes a configuration with the defaults: process name
 * "MainProcess", level INFO, console on (colour auto), no file, the default
 * format, text lines, no actor, a 1 MiB buffer bound. app_name may be NULL.
 * Errors: TP_EINVAL (out NULL), TP_ENOMEM.
 */
int tp_log_config_new(tp_log_config **out, const char *app_name);

/* tp_log_config_free frees a configuration. NULL is allowed. */
void tp_log_config_free(tp_log_config *c);

/*
 * Setters. Strings are copied. set_level accepts any value in 0..100 (a
 * record is kept when its level is >= this). set_file with path NULL or ""
 * removes the file; max_bytes 0 or backup_count 0 disables rotation (as in
 * Python's RotatingFileHandler). set_delete_existing(1) truncates the file
 * when the writer opens it; clones never carry it. set_buffer bounds the
 * bytes of records a process holds while they cannot be sent (at least
 * 64 KiB is used). Errors: TP_EINVAL (NULL c, bad value, a format with an
 * unknown %-token), TP_ENOMEM.
 */
int tp_log_config_set_name(tp_log_config *c, const char *name);
int tp_log_config_set_level(tp_log_config *c, int level);
int tp_log_config_set_console(tp_log_config *c, int on, tp_log_colour colour);
int tp_log_config_set_file(tp_log_config *c, const char *path,
                           uint64_t max_bytes, unsigned backup_count);
int tp_log_config_set_format(tp_log_config *c, const char *format);
int tp_log_config_set_json(tp_log_config *c, int on);
int tp_log_config_set_delete_existing(tp_log_config *c, int on);
int tp_log_config_set_buffer(tp_log_config *c, size_t bytes);
/*
 * tp_log_config_set_block lets a record call that finds the buffer full
 * wait up to ms (at most 60000) for the actor to make room before it drops
 * records: back-pressure for programs that prefer slowing down to losing
 * records. It never waits when the actor is unreachable. 0 (the default)
 * never waits. Errors: TP_EINVAL.
 */
int tp_log_config_set_block(tp_log_config *c, unsigned ms);

/* Getters; strings are owned by c ("" when unset). NULL c gives ""/0. */
const char *tp_log_config_app(const tp_log_config *c);
const char *tp_log_config_name(const tp_log_config *c);
int tp_log_config_level(const tp_log_config *c);
const char *tp_log_config_file(const tp_log_config *c);
const char *tp_log_config_format(const tp_log_config *c);
int tp_log_config_json(const tp_log_config *c);
int tp_log_config_delete_existing(const tp_log_config *c);
/* The logging actor's address, "" when records are written directly. */
const char *tp_log_config_address(const tp_log_config *c);

/*
 * tp_log_config_clone makes the configuration of a child (balsa_clone): a
 * copy with child_name as its process name and without the right to delete
 * existing log files; it logs through the same actor. Errors: TP_EINVAL
 * (NULL argument, empty name), TP_ENOMEM.
 */
int tp_log_config_clone(const tp_log_config *c, const char *child_name,
                        tp_log_config **out);

/*
 * tp_log_config_encode packs c as a troupe.LogConfig protobuf message into
 * a new buffer (*buf, free it with free()) - balsa's config_as_dict(), to
 * pass in a process's arguments. tp_log_config_decode is the reverse.
 * Errors: TP_EINVAL, TP_ENOMEM, TP_EDECODE (malformed bytes or values).
 */
int tp_log_config_encode(const tp_log_config *c, void **buf, size_t *len);
int tp_log_config_decode(const void *buf, size_t len, tp_log_config **out);

/* ------------------------------------------------------------------ */
/* This process's logger                                               */
/* ------------------------------------------------------------------ */

/*
 * tp_log_init makes (a copy of) c this process's logging configuration,
 * balsa's init_logger(). Records logged before are flushed under the old
 * configuration. With an actor address, records go to that actor; without
 * one, this process writes the console and file itself (use an actor when
 * several processes share a file). c NULL restores the defaults.
 * Errors: TP_ENOMEM. An unwritable file is not an error here: one message
 * is printed on stderr and records go to the console.
 */
int tp_log_init(const tp_log_config *c);

/*
 * tp_log_config_get stores a copy of this process's current configuration
 * in *out (free with tp_log_config_free): what a child would be cloned
 * from. Errors: TP_EINVAL, TP_ENOMEM.
 */
int tp_log_config_get(tp_log_config **out);

/* tp_log_set_level changes this process's level. Errors: TP_EINVAL. */
int tp_log_set_level(int level);

/* Internal: the current level, read by tp_log_enabled without a lock. */
extern int tp__log_threshold;

/* tp_log_enabled returns 1 when a record of this level would be kept. */
static inline int tp_log_enabled(int level)
{
	return level >= __atomic_load_n(&tp__log_threshold, __ATOMIC_RELAXED);
}

/*
 * tp_log_write formats a record printf-style and logs it under this
 * process's name and pid. It never blocks on the actor; it returns nothing
 * because a logging failure must not change what the caller does (drops
 * are counted and reported, see tp_log_stats). Prefer the macros below,
 * which skip the call (and the evaluation of the arguments) when the level
 * is off.
 */
void tp_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tp_log_vwrite(int level, const char *fmt, va_list ap);

#define tp_log(level, ...)                                                     \
	do {                                                                   \
		if (tp_log_enabled(level))                                     \
			tp_log_write((level), __VA_ARGS__);                    \
	} while (0)
#define tp_log_debug(...)    tp_log(TP_LOG_DEBUG, __VA_ARGS__)
#define tp_log_info(...)     tp_log(TP_LOG_INFO, __VA_ARGS__)
#define tp_log_warning(...)  tp_log(TP_LOG_WARNING, __VA_ARGS__)
#define tp_log_error(...)    tp_log(TP_LOG_ERROR, __VA_ARGS__)
#define tp_log_critical(...) tp_log(TP_LOG_CRITICAL, __VA_ARGS__)

/*
 * tp_log_record logs a ready message of len bytes on behalf of another
 * process (name, pid; NULL/0 for this process's own) - used to turn a
 * child's output into its records. The level filter applies. Errors:
 * TP_EINVAL (msg NULL with len > 0).
 */
int tp_log_record(int level, const char *name, pid_t pid, const char *msg,
                  size_t len);

/*
 * tp_log_flush sends every buffered record, waiting up to timeout_ms (-1:
 * forever, 0: try once) for room. Runs at exit on its own (bounded).
 * Errors: TP_ETIMEDOUT (records still buffered), TP_ECLOSED (the actor is
 * unreachable; the records stay buffered up to the bound).
 */
int tp_log_flush(int timeout_ms);

typedef struct tp_log_stats {
	uint64_t records;   /* records accepted (level on) */
	uint64_t dropped;   /* records dropped: buffer full, actor down */
	uint64_t batches;   /* batches handed to the actor */
	uint64_t waited_us; /* time record calls waited for room (block) */
} tp_log_stats;

/* tp_log_stats reports this process's counters. Errors: TP_EINVAL. */
int tp_log_stats_get(tp_log_stats *out);

/* ------------------------------------------------------------------ */
/* The logging actor                                                   */
/* ------------------------------------------------------------------ */

typedef struct tp_log_actor tp_log_actor;

/*
 * tp_log_actor_start starts the logging actor of c: a child process of
 * the program's root supervisor (tp_sup_root, troupe/supervisor.h; a
 * permanent child "log-actor-N", started with the runtime's start method)
 * listening on a fresh tp_address("log", ...), the only writer of c's
 * console and file. When it dies (kill -9 included) its supervisor
 * restarts it at once on the same address; its counters and the expected
 * sequence number of every sender live in a state file in the run
 * directory, so the new one reports every record lost meanwhile. It
 * returns once the actor listens, and makes c (with the actor's address)
 * this process's configuration, so this process and every child started
 * afterwards log through the actor. Several actors may run; the last
 * started is the current one. Errors: TP_EINVAL, TP_ENOTINIT (tp_init not
 * called), TP_ENOMEM, TP_ETIMEDOUT (not listening within 20 s), process
 * start errors (troupe/process.h), wrapped system errors (socket, state
 * file). An unwritable file is reported once on stderr and the actor
 * writes the console instead (tp_log_actor_stats).
 */
int tp_log_actor_start(const tp_log_config *c, tp_log_actor **out);

/*
 * tp_log_actor_stop writes everything already received, then stops the
 * actor (through its supervisor: not restarted) and closes its socket and
 * file. Processes logging meanwhile buffer up to their bound, then drop
 * and count. Stopping twice is allowed. Errors: TP_EINVAL.
 */
int tp_log_actor_stop(tp_log_actor *a);

/*
 * tp_log_actor_restart starts a stopped actor again on the same address
 * and returns once it listens; senders reconnect on their own, and the
 * first batch of each reports the records lost meanwhile. (A dead actor
 * needs no call: its supervisor restarts it.) Errors: TP_EALREADY
 * (running), TP_EINVAL, TP_ENOTINIT (after tp_fini), TP_ESTATE (stopped
 * for good by tp_fini), as tp_log_actor_start.
 */
int tp_log_actor_restart(tp_log_actor *a);

/*
 * tp_log_actor_alive returns 1 while a process of the actor runs and
 * listens. tp_log_actor_error gives why the last one ended: 0 (stopped, or
 * running), TP_EDIED (killed, not yet restarted), or its failure (its
 * socket failing, out of memory; TP_EINVAL for a NULL a).
 */
int tp_log_actor_alive(const tp_log_actor *a);
int tp_log_actor_error(const tp_log_actor *a);

/* tp_log_actor_sentinel returns an fd (owned by a), readable once the
 * actor's current process ended, for poll() or tp_wait(). When a new
 * process of the actor runs, tp_log_actor_alive and this call make the
 * same fd follow it (no longer readable). -1 for NULL. */
int tp_log_actor_sentinel(const tp_log_actor *a);

/* tp_log_actor_pid returns the pid of the process the actor runs in, 0
 * while none runs (stopped, or dead and not yet restarted). */
pid_t tp_log_actor_pid(const tp_log_actor *a);

/* tp_log_actor_address returns the actor's address (owned by a). */
const char *tp_log_actor_address(const tp_log_actor *a);

typedef struct tp_log_actor_stats {
	uint64_t records;     /* records written */
	uint64_t lost;        /* records reported lost by senders */
	uint64_t batches;     /* batches received */
	uint64_t bad;         /* malformed batches rejected */
	uint64_t rotations;   /* file rotations done */
	uint64_t connections; /* senders connected so far */
	int file_error;       /* why the file is not written, 0 if it is */
	uint64_t restarts;    /* times its supervisor restarted it */
} tp_log_actor_stats;

/* tp_log_actor_stats copies the actor's counters. Errors: TP_EINVAL. */
int tp_log_actor_stats_get(const tp_log_actor *a, tp_log_actor_stats *out);

/*
 * tp_log_actor_free stops the actor if running, removes it from its
 * supervisor and frees it; if it was the current one, this process goes
 * back to writing directly. NULL is allowed.
 */
void tp_log_actor_free(tp_log_actor *a);

/* ------------------------------------------------------------------ */
/* Capturing a child's output                                          */
/* ------------------------------------------------------------------ */

typedef struct tp_log_capture tp_log_capture;

/*
 * tp_log_capture_start turns the lines read from fd into records of level
 * logged under name and pid (the child's), through this process's logger.
 * It takes ownership of fd (the read end of a pipe whose write end is the
 * child's stdout or stderr) and reads it until end of file on this
 * process's logging loop (one thread serves every capture). A
 * line longer than 4 KiB is split; a last line without a newline is kept.
 * Errors: TP_EINVAL (fd < 0, name NULL or empty), TP_ENOMEM, wrapped
 * system errors. On error fd is not taken.
 */
int tp_log_capture_start(int fd, const char *name, pid_t pid, int level,
                         tp_log_capture **out);

/*
 * tp_log_capture_wait waits up to timeout_ms (-1: forever) for end of file
 * on the captured fd. Errors: TP_ETIMEDOUT, TP_EINVAL.
 */
int tp_log_capture_wait(tp_log_capture *c, int timeout_ms);

/* tp_log_capture_lines returns the number of records made so far. */
uint64_t tp_log_capture_lines(const tp_log_capture *c);

/* tp_log_capture_free stops reading (what is unread is lost), closes the
 * fd and frees. NULL is allowed. */
void tp_log_capture_free(tp_log_capture *c);

/* ------------------------------------------------------------------ */
/* Reading log files (`troupe logs [-f] [NAME]`)                      */
/* ------------------------------------------------------------------ */

/* Called with each matching line (without its newline; continuation lines
 * of a multi-line message included), and in follow mode with line NULL
 * when idle. A non-zero return stops tp_log_read. */
typedef int (*tp_log_line_fn)(const char *line, size_t len, void *arg);

/*
 * tp_log_read reads the log file of c (its file, format and json setting)
 * and calls fn with every line whose process name is name (NULL: every
 * line). With follow it then waits for new lines like `tail -F`, also
 * across rotations, until fn returns non-zero. Errors: TP_EINVAL (NULL c
 * or fn, no file in c, a name filter with a format lacking %N), wrapped
 * system errors (the file cannot be read).
 */
int tp_log_read(const tp_log_config *c, const char *name, int follow,
                tp_log_line_fn fn, void *arg);

/*
 * tp_log_line_fields extracts the process name and pid of one line written
 * under c's format (or JSON lines). Returns TP_OK, TP_EDECODE (the line
 * does not have the format, or is a continuation line) or TP_EINVAL. name
 * is copied into name_buf (NUL-terminated, truncated to name_len - 1).
 */
int tp_log_line_fields(const tp_log_config *c, const char *line, size_t len,
                       char *name_buf, size_t name_len, pid_t *pid);

#ifdef __cplusplus
}
#endif
#endif
