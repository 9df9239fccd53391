/*
 * process.c - placeholder for the process module (issue 3): the runtime's
 * hooks with no fork server yet.
 */
#include "runtime_int.h"
#include "troupe/error.h"

int tp__process_init(const tp_init_opts *opts)
{
	(void)opts;
	return TP_OK;
}

void tp__process_fini(void)
{
}
