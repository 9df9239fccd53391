/*
 * demo_calc_e.c - seed 004's calculate_e worker: sums the series for e
 * until its exit event is set, then prints the value. The exit event is
 * the supervisor's stop signal (`troupe stop calc_e`), checked every 1000
 * iterations as in the Python original.
 */
#include <signal.h>
#include <stdio.h>

#include "troupe/supervisor.h"

static volatile sig_atomic_t exit_event;

static void set_event(int sig)
{
	(void)sig;
	exit_event = 1;
}

static double calculate_e(void)
{
	double k = 1.0, e = 0.0;
	unsigned long iteration = 0;
	while (iteration % 1000 != 0 || !exit_event) {
		e += 1.0 / k;
		k *= (double)(iteration + 1);
		iteration++;
	}
	return e;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = set_event};
	sigaction(SIGTERM, &sa, NULL);
	printf("calculate_e: started\n");
	fflush(stdout);
	tp_ready();
	printf("e = %.15f\n", calculate_e());
	return 0;
}
