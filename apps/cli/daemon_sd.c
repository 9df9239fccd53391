/*
 * daemon_sd.c - the daemon under systemd (Type=notify), through
 * libsystemd's sd_notify (see docs/dependencies.md):
 *
 *   READY=1      once the whole tree is up (with MAINPID and a STATUS)
 *   RELOADING=1  when a reload (SIGHUP, `troupe reload`) begins, with
 *                MONOTONIC_USEC, then READY=1 when it is done
 *   STOPPING=1   when the orderly shutdown begins
 *   WATCHDOG=1   from the main loop every half of WATCHDOG_USEC, so a
 *                wedged main loop is what the watchdog catches
 *
 * Without NOTIFY_SOCKET every call is a no-op. The variables stay in the
 * daemon's environment (sd_notify reads them on each call) and are kept
 * from every program by the supervisor (sup_spawn.c).
 */
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static uint64_t watchdog_us; /* WATCHDOG_USEC for us, 0: none */
static int64_t next_ping_ms;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dsd_init(void)
{
	uint64_t us = 0;
	if (sd_watchdog_enabled(0, &us) > 0 && us > 0)
		watchdog_us = us;
}

int dsd_period_ms(void)
{
	return watchdog_us ? (int)(watchdog_us / 2000) : 0;
}

void dsd_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(), status);
}

void dsd_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	           (unsigned long long)ts.tv_sec * 1000000ULL +
	               (unsigned long long)ts.tv_nsec / 1000ULL);
}

void dsd_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping the tree in reverse order");
}

void dsd_watchdog(void)
{
	if (watchdog_us == 0)
		return;
	int64_t now = mono_ms();
	if (now < next_ping_ms)
		return;
	sd_notify(0, "WATCHDOG=1");
	next_ping_ms = now + (int64_t)(watchdog_us / 2000);
}
