/*
 * troupe/actor.h - actor modules: the behaviour contract for writing an
 * actor (Erlang's gen_server), the loop that runs one, and the client
 * calls that talk to it.
 *
 * An actor is a process with an address (an nng socket), a state and five
 * callbacks. It handles one message at a time, in arrival order:
 *
 *   init(args)            -> state       once, before it reports ready
 *   handle_call(request)  -> reply       the caller waits (with a timeout)
 *   handle_cast(message)                 one way: the caller only waits
 *                                        until the message is delivered
 *   handle_info(info)                    timers and exit events
 *   terminate(reason)                    once, before the process exits
 *
 *   static int init(tp_actor *a, const tp_payload *args, void **state);
 *   ...
 *   static const tp_actor_module counter = {
 *       "counter", init, handle_call, handle_cast, handle_info, terminate};
 *   TP_ACTOR_MODULE(counter);   // exported for the generic host
 *
 * A module is either built as a shared object and run by the generic host
 * (`troupe-actor MODULE.so [--addr URL] [ARG...]`, typically as a
 * supervised program with `ready = notify`), or linked into a program that
 * calls tp_actor_run() itself. tp_actor_run reports readiness with
 * tp_ready() after init succeeded, so a supervisor starts the next child
 * only once the actor can take calls.
 *
 * Messages are tp_payloads in the one Envelope format (schemas/).
 */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include <sys/types.h>

#include "troupe/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_actor tp_actor;
typedef struct tp_actor_ref tp_actor_ref;

typedef enum tp_actor_info_kind {
	TP_INFO_TIMER = 1, /* a timer set with tp_actor_send_after fired */
	TP_INFO_EXIT,      /* a process watched with tp_actor_watch ended */
} tp_actor_info_kind;

typedef struct tp_actor_info {
	tp_actor_info_kind kind;
	int64_t timer_id; /* TP_INFO_TIMER: the id given */
	pid_t pid;        /* TP_INFO_EXIT: the process */
	int exit_code;    /* TP_INFO_EXIT: exit status, -N for signal N, or
	                     -1 when unknown (not our child) */
} tp_actor_info;

/*
 * The behaviour. Every callback but init may be NULL (a call then replies
 * with TP_ENOENT; casts and infos are dropped). `state` is the pointer
 * init stored; the module owns it (free it in terminate).
 *  - init returns TP_OK, or an error: the actor then exits with status 1
 *    without reporting ready (a supervisor sees a failed start).
 *  - handle_call fills reply and returns TP_OK; another code is sent to
 *    the caller, which gets it from tp_actor_call. The actor goes on.
 *  - handle_cast / handle_info return TP_OK; another code stops the actor
 *    with that code as the reason.
 *  - terminate gets the reason: TP_OK for a normal stop
 *    (tp_actor_stop(a, TP_OK)), TP_ECANCELED for SIGTERM/SIGINT (the
 *    supervisor's shutdown), or the error that stopped it.
 */
typedef struct tp_actor_module {
	const char *name;
	int (*init)(tp_actor *self, const tp_payload *args, void **state);
	int (*handle_call)(tp_actor *self, void *state, const tp_payload *req,
	                   tp_payload *reply);
	int (*handle_cast)(tp_actor *self, void *state, const tp_payload *msg);
	int (*handle_info)(tp_actor *self, void *state,
	                   const tp_actor_info *info);
	void (*terminate)(tp_actor *self, void *state, int reason);
} tp_actor_module;

/* TP_ACTOR_MODULE(var) exports var as the module the host looks up
 * (symbol "tp_actor_module_entry"). */
#define TP_ACTOR_MODULE(var)                                                   \
	const tp_actor_module *tp_actor_module_entry(void)                     \
	{                                                                      \
		return &(var);                                                 \
	}

/*
 * tp_actor_run runs module m in the calling process until it stops, and
 * returns the process exit status to use: 0 after a TP_OK stop, 1
 * otherwise. address: where to listen; NULL takes $TROUPE_ACTOR_ADDR, else
 * a fresh address in the runtime directory (tp_init must have been called
 * then). args is passed to init (NULL: empty). SIGTERM and SIGINT are
 * blocked and taken by the loop (reason TP_ECANCELED): call this before
 * other threads are made. Errors (returned before init ran, as the status
 * 1 after printing to stderr): bad arguments, the address in use.
 */
int tp_actor_run(const tp_actor_module *m, const char *address,
                 const tp_payload *args);

/* Inside a callback: */

/* tp_actor_stop asks the loop to stop after this callback, with reason. */
void tp_actor_stop(tp_actor *self, int reason);

/* tp_actor_address returns the actor's address (owned by the actor). */
const char *tp_actor_address(const tp_actor *self);

/*
 * tp_actor_send_after delivers TP_INFO_TIMER with id to handle_info after
 * ms milliseconds (>= 0). Errors: TP_EINVAL, TP_EFULL (64 timers pending).
 */
int tp_actor_send_after(tp_actor *self, int ms, int64_t id);

/*
 * tp_actor_watch delivers TP_INFO_EXIT when process pid ends (any process
 * this user may see, through a pidfd). Errors: TP_EINVAL, TP_EFULL (64
 * watched), wrapped errno (ESRCH: no such process).
 */
int tp_actor_watch(tp_actor *self, pid_t pid);

/* Counters of the running actor (for monitoring). */
typedef struct tp_actor_stats {
	uint64_t msgs_in;  /* calls and casts received */
	uint64_t msgs_out; /* replies sent */
	uint64_t infos;    /* infos handled */
} tp_actor_stats;

void tp_actor_get_stats(const tp_actor *self, tp_actor_stats *out);

/* Clients (any process): */

/*
 * tp_actor_ref_open makes a client of the actor at address (connection is
 * made lazily; the actor may start later). Errors: TP_EINVAL, TP_ENOMEM,
 * wrapped nng errors.
 */
int tp_actor_ref_open(tp_actor_ref **out, const char *address);

/* tp_actor_ref_close closes the client. NULL is allowed. */
void tp_actor_ref_close(tp_actor_ref *ref);

/*
 * tp_actor_call sends req (NULL: empty) and waits up to timeout_ms (-1:
 * for ever) for the reply, stored in *reply (free with tp_payload_free).
 * Errors: TP_ETIMEDOUT (no reply in time: a late reply is dropped),
 * TP_EINVAL, the handler's own error code, TP_ENOENT (no handle_call),
 * TP_EDECODE/TP_EPROTO (a bad reply).
 */
int tp_actor_call(tp_actor_ref *ref, const tp_payload *req, tp_payload **reply,
                  int timeout_ms);

/*
 * tp_actor_cast sends msg one way; it returns once the actor has received
 * it (not handled it), up to timeout_ms. Errors: TP_ETIMEDOUT, TP_EINVAL.
 */
int tp_actor_cast(tp_actor_ref *ref, const tp_payload *msg, int timeout_ms);

/*
 * tp_actor_query_stats asks a running actor for its counters (answered by
 * its loop between two messages, not by the module; not counted as
 * traffic). Errors: as tp_actor_call.
 */
int tp_actor_query_stats(tp_actor_ref *ref, tp_actor_stats *out,
                         int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
