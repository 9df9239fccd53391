/*
 * svc.h - the framework's own services as supervised children (issue
 * 14): svc_log.c runs the logging actor's server as a child of a
 * supervisor. Registered by tp_init.
 */
#ifndef TP_SVC_H
#define TP_SVC_H

/* Gives log/ its host: logging actors' servers become children of the
 * program's root supervisor (or of the supervisor given). */
void tp__svc_log_register(void);

#endif
