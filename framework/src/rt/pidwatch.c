/*
 * pidwatch.c - the pidfd of a process: the only call of pidfd_open in the
 * library (checked by the ctest layer_forks).
 */
#include <errno.h>
#include <sys/pidfd.h>

#include "pidwatch.h"
#include "troupe/error.h"

int tp__pid_watch(pid_t pid, int *fd)
{
	if (pid <= 0)
		return TP_EINVAL;
	*fd = pidfd_open(pid, 0);
	return *fd >= 0 ? TP_OK : tp_err_errno(errno);
}
