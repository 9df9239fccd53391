/*
 * troupe/error.h - error codes and tp_strerror().
 *
 * Every troupe call that can fail returns an int: 0 (TP_OK) on success, a
 * positive TP_E* code otherwise. There is no global "last error". Errors
 * that come from the operating system are returned as TP_ESYSERR | errno,
 * and errors from nng as TP_ENNGERR | nng_err, so the original cause is
 * never lost; tp_strerror() renders both.
 */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum tp_errno {
	TP_OK = 0,
	TP_EINVAL = 1,      /* an argument is invalid (NULL, out of range) */
	TP_ENOMEM = 2,      /* out of memory */
	TP_ETIMEDOUT = 3,   /* the timeout expired before the operation */
	TP_ECLOSED = 4,     /* the handle or its peer is closed */
	TP_EDECODE = 5,     /* a message is malformed and was rejected */
	TP_ETOOBIG = 6,     /* a message exceeds the size limit */
	TP_ETYPE = 7,       /* a value is not of the type asked for */
	TP_ESTATE = 8,      /* the call is not valid in the object's state */
	TP_ENOTINIT = 9,    /* tp_init() has not been called */
	TP_EALREADY = 10,   /* already done (tp_init twice, start twice) */
	TP_ENOENT = 11,     /* no such object, name or entry */
	TP_EEMPTY = 12,     /* a non-blocking get found nothing */
	TP_EFULL = 13,      /* a non-blocking put found no room */
	TP_EPERM = 14,      /* not allowed (release of a lock not owned) */
	TP_EOWNERDEAD = 15, /* acquired, but the previous holder died */
	TP_EBROKEN = 16,    /* a barrier (or similar) is broken */
	TP_ENOTREG = 17,    /* a target is not registered (spawn needs it) */
	TP_EFORKNNG = 18,   /* fork start method after nng was initialised */
	TP_EDAEMON = 19,    /* daemonic processes may not have children */
	TP_EDIED = 20,      /* a worker or peer died while serving the call */
	TP_EAUTH = 21,      /* authentication failed */
	TP_ECANCELED = 22,  /* the operation was cancelled */
	TP_EVALUE = 23,     /* too many releases, task_done too often, ... */
	TP_EREMOTE = 24,    /* the remote target returned an error */
	TP_EPROTO = 25,     /* a peer broke the protocol */
	TP_EOF = 26,        /* end of file: the peer closed after sending all */
	TP_EEXIST = 27,     /* the name is taken (Python's FileExistsError) */
	TP_ENOMODULE = 28,  /* a backend module (libtroupe-mpi.so) is missing,
	                       unloadable or of another troupe build; or
	                       GnuTLS, which tls+tcp:// loads, is missing */
	TP_ESYSERR = 0x10000000, /* flag: low bits are an errno value */
	TP_ENNGERR = 0x20000000, /* flag: low bits are an nng error */
};

/*
 * tp_strerror returns a human-readable message for an error code returned by
 * any troupe call, including wrapped errno and nng errors. The string must
 * not be freed. For TP_E* codes it is static; for wrapped and unknown codes
 * it is one of eight thread-local buffers used in turn, so it stays valid
 * for the next seven tp_strerror calls on the same thread: two calls in one
 * printf() print two messages. Never fails, never returns NULL.
 */
const char *tp_strerror(int err);

/* tp_err_errno wraps an errno value (0 gives TP_OK). */
int tp_err_errno(int errnum);

/* tp_err_nng wraps an nng error code (0 gives TP_OK). */
int tp_err_nng(int nng_err);

#ifdef __cplusplus
}
#endif
#endif
