/*
 * error.c - error messages. Wrapped errno and nng errors keep their original
 * code in the low bits so nothing is lost; their text is built in one of a
 * small ring of thread-local buffers, so several tp_strerror calls in one
 * expression (one printf) each keep their own text.
 */
#include <nng/nng.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "troupe/error.h"

static const char *const messages[] = {
    [TP_OK] = "Success",
    [TP_EINVAL] = "Invalid argument",
    [TP_ENOMEM] = "Out of memory",
    [TP_ETIMEDOUT] = "Timed out",
    [TP_ECLOSED] = "Object or peer closed",
    [TP_EDECODE] = "Malformed message",
    [TP_ETOOBIG] = "Message too large",
    [TP_ETYPE] = "Wrong value type",
    [TP_ESTATE] = "Operation not valid in this state",
    [TP_ENOTINIT] = "troupe not initialised (call tp_init first)",
    [TP_EALREADY] = "Already done",
    [TP_ENOENT] = "No such entry",
    [TP_EEMPTY] = "Empty",
    [TP_EFULL] = "Full",
    [TP_EPERM] = "Operation not permitted",
    [TP_EOWNERDEAD] = "Previous owner died",
    [TP_EBROKEN] = "Broken",
    [TP_ENOTREG] = "Target not registered (use TP_TARGET)",
    [TP_EFORKNNG] = ("fork start method unavailable after nng started "
                     "(use forkserver or spawn)"),
    [TP_EDAEMON] = "Daemonic processes are not allowed to have children",
    [TP_EDIED] = "Worker or peer died",
    [TP_EAUTH] = "Authentication failed",
    [TP_ECANCELED] = "Operation cancelled",
    [TP_EVALUE] = "Value out of bounds (released or done too many times)",
    [TP_EREMOTE] = "Remote error",
    [TP_EPROTO] = "Protocol error",
    [TP_EOF] = "End of file (the peer closed; everything it sent was "
               "received)",
    [TP_EEXIST] = "Name already in use",
    [TP_ENOMODULE] = ("Backend module not loadable (the MPI backend "
                      "libtroupe-mpi.so: missing, or of another troupe "
                      "build, see TROUPE_MPI_MODULE; or GnuTLS, "
                      "libgnutls.so.30, for tls+tcp://)"),
};

#define RING 8 /* formatted messages that stay valid at once, per thread */

static _Thread_local char ring[RING][160];
static _Thread_local unsigned ring_next;

static char *slot(void)
{
	return ring[ring_next++ % RING];
}

const char *tp_strerror(int err)
{
	char *wrapped;
	if (err & TP_ESYSERR) {
		char buf[128];
		const char *s = strerror_r(err & ~TP_ESYSERR, buf, sizeof(buf));
		wrapped = slot();
		snprintf(wrapped, sizeof(ring[0]), "System error: %s", s);
		return wrapped;
	}
	if (err & TP_ENNGERR) {
		wrapped = slot();
		snprintf(wrapped, sizeof(ring[0]), "nng error: %s",
		         nng_strerror(err & ~TP_ENNGERR));
		return wrapped;
	}
	if (err >= 0 && (size_t)err < sizeof(messages) / sizeof(messages[0]) &&
	    messages[err] != NULL)
		return messages[err];
	wrapped = slot();
	snprintf(wrapped, sizeof(ring[0]), "Unknown error #%d", err);
	return wrapped;
}

int tp_err_errno(int errnum)
{
	if (errnum == 0)
		return TP_OK;
	if (errnum == ENOMEM)
		return TP_ENOMEM;
	return TP_ESYSERR | errnum;
}

int tp_err_nng(int nng_err)
{
	switch (nng_err) {
	case 0:
		return TP_OK;
	case NNG_ETIMEDOUT:
		return TP_ETIMEDOUT;
	case NNG_ECLOSED:
		return TP_ECLOSED;
	case NNG_ENOMEM:
		return TP_ENOMEM;
	case NNG_EMSGSIZE:
		return TP_ETOOBIG;
	case NNG_ECANCELED:
		return TP_ECANCELED;
	default:
		return TP_ENNGERR | nng_err;
	}
}
