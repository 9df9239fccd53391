/*
 * ctl_signame.c - signal names for the control sockets (`troupe signal`,
 * served by the daemon and by every program), the CLI and the daemon's
 * config (`stopsignal`): every signal glibc knows (sigabbrev_np), with or
 * without SIG, in any case, RTMIN+N / RTMAX-N, or a number.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static int number(const char *s, int min, int max)
{
	char *end;
	long x;
	if (*s < '0' || *s > '9')
		return 0;
	x = strtol(s, &end, 10);
	return *end == '\0' && x >= min && x <= max ? (int)x : 0;
}

static int realtime(const char *name)
{
	int n;
	if (strncasecmp(name, "RTMIN", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMIN;
		n = name[5] == '+' ? number(name + 6, 1, SIGRTMAX - SIGRTMIN)
		                   : 0;
		return n ? SIGRTMIN + n : 0;
	}
	if (strncasecmp(name, "RTMAX", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMAX;
		n = name[5] == '-' ? number(name + 6, 1, SIGRTMAX - SIGRTMIN)
		                   : 0;
		return n ? SIGRTMAX - n : 0;
	}
	return 0;
}

int tp__signal_parse(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return 0;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (int s = 1; s < SIGRTMIN; s++) {
		const char *a = sigabbrev_np(s);
		if (a != NULL && strcasecmp(a, name) == 0)
			return s;
	}
	/* Aliases glibc's table leaves out. */
	if (strcasecmp(name, "IOT") == 0)
		return SIGABRT;
	if (strcasecmp(name, "POLL") == 0)
		return SIGIO;
	int rt = realtime(name);
	return rt ? rt : number(name, 1, NSIG - 1);
}

const char *tp__signal_name(int sig, char *buf, size_t len)
{
	const char *a = sig > 0 && sig < SIGRTMIN ? sigabbrev_np(sig) : NULL;
	if (a != NULL)
		snprintf(buf, len, "SIG%s", a);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}
