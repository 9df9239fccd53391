/*
 * svc_log.c - the logging actor as a supervised child (issue 14): the
 * registered target that runs the actor's server (log/log_actor.c) in a
 * process of its own, and the host log/ calls to start, stop, restart and
 * remove that child under a supervisor (the program's root by default, or
 * the one given: the daemon's tree). log/ cannot start processes (it is
 * below proc/ and otp/), so tp_init registers this host with it.
 *
 * The child is permanent: a server that dies (kill -9 included) is
 * restarted at once by its supervisor on the same address with the same
 * state file, so the table of expected sequence numbers survives and the
 * gaps of every sender are reported. Restarts after short runs back off
 * (10 ms doubling up to 2 s), so a server that cannot start does not spin.
 */
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "svc.h"
#include "troupe/error.h"
#include "troupe/log.h"
#include "troupe/payload.h"
#include "troupe/process.h"
#include "troupe/supervisor.h"

#define LOG_SHUTDOWN_MS 10000 /* time to write what it received */

/* args: the configuration (LogConfig bytes, with the address), the state
 * file's path. */
static int tp__svc_log_actor(const tp_payload *args, tp_payload *result)
{
	const void *bytes;
	const char *state;
	size_t len;
	tp_log_config *c = NULL, *own = NULL;
	(void)result;
	if (tp_payload_get_bytes(args, 0, &bytes, &len) != TP_OK ||
	    tp_payload_get_string(args, 1, &state) != TP_OK ||
	    tp_log_config_decode(bytes, len, &c) != TP_OK)
		return 2;
	/* The server's own records (none, unless it fails) go to stderr,
	 * never through itself. */
	if (tp_log_config_new(&own, "troupe") == TP_OK) {
		tp_log_config_set_name(own, "log-actor");
		tp_log_init(own);
		tp_log_config_free(own);
	}
	int rv = tp__log_serve(c, state);
	tp_log_config_free(c);
	return rv == TP_OK ? 0 : 1;
}
TP_TARGET(tp__svc_log_actor);

static tp_sup *where(void *sup)
{
	return sup != NULL ? sup : tp_sup_root();
}

static int host_start(void *sup, const char *id, const tp_log_config *cfg,
                      const char *state_path)
{
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	tp_payload *args = NULL;
	void *bytes = NULL;
	size_t len = 0;
	tp_sup *s = where(sup);
	if (s == NULL)
		return TP_ESTATE;
	int rv = tp_log_config_encode(cfg, &bytes, &len);
	if (rv == TP_OK)
		rv = tp_payload_new(&args);
	if (rv == TP_OK)
		rv = tp_payload_add_bytes(args, bytes, len);
	if (rv == TP_OK)
		rv = tp_payload_add_string(args, state_path);
	free(bytes);
	if (rv != TP_OK) {
		tp_payload_free(args);
		return rv;
	}
	spec.id = id;
	spec.target = tp__svc_log_actor;
	spec.args = args;
	spec.restart = TP_PERMANENT;
	spec.shutdown_ms = LOG_SHUTDOWN_MS;
	spec.restart_delay_ms = 10;
	spec.restart_delay_max_ms = 2000;
	rv = tp_sup_start_child(s, &spec, NULL);
	if (rv == TP_EFORKNNG) {
		/* The fork method is gone once nng ran here: the actor is
		 * still needed, so it comes from the fork server. */
		spec.method = TP_START_FORKSERVER;
		rv = tp_sup_start_child(s, &spec, NULL);
	}
	tp_payload_free(args);
	return rv;
}

static int host_stop(void *sup, const char *id)
{
	tp_sup *s = where(sup);
	return s != NULL ? tp_sup_terminate_child(s, id) : TP_ESTATE;
}

static int host_restart(void *sup, const char *id)
{
	tp_sup *s = where(sup);
	return s != NULL ? tp_sup_restart_child(s, id) : TP_ESTATE;
}

static void host_remove(void *sup, const char *id)
{
	tp_sup *s = where(sup);
	if (s == NULL)
		return;
	tp_sup_terminate_child(s, id);
	tp_sup_delete_child(s, id);
}

static const struct tp__log_host log_host = {host_start, host_stop,
                                             host_restart, host_remove};

void tp__svc_log_register(void)
{
	tp__log_set_host(&log_host);
}
