/*
 * demo_status.c - seed 004's status printer: while the others work it
 * prints a status line every second (uptime and the system load), until
 * it is stopped. A plain program: it knows nothing of troupe, and the
 * supervisor counts it ready once it has stayed up for `startsecs`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_term};
	double load[1] = {0};
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int tick = 1; !stop; tick++) {
		getloadavg(load, 1);
		printf("status: tick %d, load %.2f\n", tick, load[0]);
		sleep(1);
	}
	printf("status: stopped\n");
	return 0;
}
