/*
 * ctl_status.h - the program's own control socket (ctl_status.c), opened
 * by tp_init in the run directory's owner and closed first by tp_fini.
 */
#ifndef TP_CTL_STATUS_H
#define TP_CTL_STATUS_H

/* Opens "<run dir>/ctl.sock"; a no-op in a child that adopted its
 * parent's run directory. Errors: those of tp__ctlsrv_start. */
int tp__ctl_status_start(void);
void tp__ctl_status_stop(void);

#endif
