/*
 * internal.h - the few internal calls the troupe CLI and daemon
 * (apps/cli) use: framing the control socket's Envelopes, the control
 * socket server (rt/ctlsrv.h), marking the process as an nng user, and
 * reading a process's start time. Not part of
 * the public API and not installed; everything else stays inside
 * libtroupe. The definitions live in base/wire.c and rt/ (init.c checks
 * that these declarations agree with theirs).
 */
#ifndef TP_INTERNAL_H
#define TP_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "rt/ctlsrv.h"
#include "troupe.pb-c.h"
#include "troupe/supervisor.h"

/* Packs env into a new buffer (*buf, *len; free() it). TP_EINVAL,
 * TP_ETOOBIG if it would exceed max bytes, TP_ENOMEM. */
int tp__envelope_pack(const Troupe__Envelope *env, size_t max, void **buf,
                      size_t *len);

/* Unpacks an Envelope of len bytes (at most max) into *out; free it with
 * tp__envelope_free. TP_EINVAL, TP_ETOOBIG, TP_EDECODE if malformed. */
int tp__envelope_unpack(const void *buf, size_t len, size_t max,
                        Troupe__Envelope **out);
void tp__envelope_free(Troupe__Envelope *env);

/* Marks this process as having touched nng: call it before the first nng
 * call (the fork start method then refuses, see runtime_int.h). */
void tp__nng_used(void);

/* Reads the start time (clock ticks since boot) of pid from /proc. */
int tp__proc_starttime(pid_t pid, unsigned long long *out);

/*
 * The control sockets' commands on a supervision tree, the same for the
 * daemon's tree and a program's root supervisor (framework/src/ctl_*.c).
 */

/* A signal name ("TERM", "sigterm", "RTMIN+2", "15"); 0 if unknown.
 * tp__signal_name writes "SIGTERM" (or "SIGRTMIN+2") in buf. */
int tp__signal_parse(const char *name);
const char *tp__signal_name(int sig, char *buf, size_t len);

/* Appends "fmt..." and a newline to rep->message; a code other than TP_OK
 * becomes rep->code unless one is set already. */
void tp__ctl_say(Troupe__SupReply *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The names a request resolves to in root's tree (NAME, GROUP:NAME,
 * GROUP:*, all), in tree order, each once. A group is itself
 * (TP_CTL_CHILDREN: stop, restart, status), every program below it
 * (TP_CTL_PROCS: signal, pid, logs, clear) or itself and everything below
 * it (TP_CTL_NODES: start). An unknown name is said in rep (TP_ENOENT, one
 * line each) and returned as TP_ENOENT; the known ones are still listed. */
struct tp__ctl_targets {
	char (*v)[64];
	int n, cap;
	int wild; /* all or GROUP:* was used */
};
enum { TP_CTL_CHILDREN, TP_CTL_PROCS, TP_CTL_NODES };
int tp__ctl_resolve(tp_sup *root, char **pats, size_t n, int mode,
                    struct tp__ctl_targets *out, Troupe__SupReply *rep);
int tp__ctl_targets_has(const struct tp__ctl_targets *t, const char *name);
void tp__ctl_targets_free(struct tp__ctl_targets *t);

/* The supervisor in root's tree that has the child name, or NULL. */
tp_sup *tp__ctl_owner(tp_sup *root, const char *name);

/* A status node's rss_kb and cpu_ms from /proc/PID/stat (left alone if
 * pid is gone). */
void tp__ctl_proc_stats(pid_t pid, Troupe__SupChild *c);

/* status NAME...: keeps only the children of rep named by req (resolved
 * in root's tree) and what is below them; the others are freed with
 * free_children (called on a reply holding just them). */
void tp__ctl_status_filter(tp_sup *root, const Troupe__SupRequest *req,
                           Troupe__SupReply *rep,
                           void (*free_children)(Troupe__SupReply *));

/* status: root's tree flattened (depth first, in start order), the same
 * for the daemon and every program: nested supervisors (a pool as type
 * "pool" with its workers), Processes, managers, command lines, and then
 * each logging actor of this process as one node "logging" with its
 * counters (its supervised child is not listed, and is no name a request
 * can reach: a service). decor, if not NULL, is called on each node of
 * the tree with the supervisor's view of it, to add what only its owner
 * knows (the daemon: log_path, its config's command, actor counters).
 * req->names filter as tp__ctl_status_filter. Free with
 * tp__ctl_reply_free. */
struct tp__ctl_decor {
	void (*node)(void *arg, Troupe__SupChild *c, const tp_child_info *ci);
	void *arg;
};
void tp__ctl_status_fill(tp_sup *root, const Troupe__SupRequest *req,
                         Troupe__SupReply *rep,
                         const struct tp__ctl_decor *decor);
/* Frees what a reply holds (children and their strings, message,
 * log_file; each string malloc'ed, or NULL, or protobuf-c's empty
 * string), not rep itself; leaves rep without children. */
void tp__ctl_reply_free(Troupe__SupReply *rep);
/* Replaces *field (freed as tp__ctl_reply_free would) by a copy of v. */
void tp__ctl_set_str(char **field, const char *v);
/* 1 when s's child id is a service of the framework (a "tp__svc_*"
 * target: the logging actor's server), which the control commands leave
 * alone and which the daemon's metrics do not count as a program. */
int tp__ctl_is_service(tp_sup *s, const char *id);

/* The root supervisor (otp/sup_root.c, sup.c; declared in sup_int.h
 * too): the daemon gives it its [supervisord] flags and builds its
 * [program:] children into it, stopped, then starts them in order. */
int tp__root_sup_configure(const tp_sup_flags *f);
int tp__sup_add_stopped(tp_sup *sup, const tp_child_spec *spec);

/* start, stop, restart or signal (req->arg: the signal) the children
 * req->names in root's tree, saying the outcome of each in rep. */
void tp__ctl_act(tp_sup *root, const Troupe__SupRequest *req,
                 Troupe__SupReply *rep);
/* As tp__ctl_act for stop, restart and start, without waiting for the
 * children (a program's control socket, whose one thread serves every
 * peer): returns 1 and later calls reply(arg, rep) once, from the tree's
 * loop thread (or this one, when nothing had to wait), with rep filled
 * as tp__ctl_act fills it (rep is the caller's to free with
 * tp__ctl_reply_free, during the call). Returns 0 (nothing done) for
 * other commands, a request without names, or out of memory: serve it
 * with tp__ctl_act. */
int tp__ctl_act_later(tp_sup *root, const Troupe__SupRequest *req,
                      void (*reply)(void *arg, Troupe__SupReply *rep),
                      void *arg);

#endif
