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

#endif
