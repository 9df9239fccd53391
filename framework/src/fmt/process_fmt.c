/*
 * process_fmt.c - Process(target=f, args=(...)).start() in one call, the
 * arguments given inline by a format (troupe/fmt.h). Built on the public
 * process and payload calls only. Processes started without a handle for
 * the caller are kept here, and freed when the program exits (after main
 * returned tp_fini(), which joined them).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "troupe/error.h"
#include "troupe/fmt.h"

static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_process **kept;
static size_t nkept, capkept;
static pid_t kept_owner; /* a forked child must not free its parent's */

static void free_kept(void)
{
	pthread_mutex_lock(&kept_mu);
	for (size_t i = 0; i < nkept && getpid() == kept_owner; i++)
		tp_process_free(kept[i]);
	free(kept);
	kept = NULL;
	nkept = capkept = 0;
	pthread_mutex_unlock(&kept_mu);
}

static int keep(tp_process *p)
{
	int rv = TP_OK;
	pthread_mutex_lock(&kept_mu);
	if (kept_owner != getpid()) { /* first use here */
		kept_owner = getpid();
		kept = NULL,
		nkept = capkept = 0; /* a fork's copy is not ours */
		atexit(free_kept);
	}
	if (nkept == capkept) {
		size_t cap = capkept ? 2 * capkept : 16;
		tp_process **k = realloc(kept, cap * sizeof(*k));
		if (k == NULL)
			rv = TP_ENOMEM;
		else
			kept = k, capkept = cap;
	}
	if (rv == TP_OK)
		kept[nkept++] = p;
	pthread_mutex_unlock(&kept_mu);
	return rv;
}

int tp_process_startf(tp_process **out, tp_target_fn fn, const char *fmt, ...)
{
	tp_payload *args = NULL;
	tp_process *p = NULL;
	va_list ap;
	int rv;
	if (out != NULL)
		*out = NULL;
	if ((rv = tp_payload_new(&args)) != TP_OK)
		return rv;
	va_start(ap, fmt);
	rv = tp_vpack(args, fmt, ap);
	va_end(ap);
	if (rv == TP_OK && (rv = tp_process_new(&p, fn, args, NULL)) == TP_OK &&
	    (rv = out ? TP_OK : keep(p)) == TP_OK &&
	    (rv = tp_process_start(p)) != TP_OK && out == NULL)
		p = NULL; /* kept: freed at exit */
	if (rv != TP_OK)
		tp_process_free(p);
	else if (out != NULL)
		*out = p;
	tp_payload_free(args);
	return rv;
}
