/* processes_cpu_count - seed 003 "Create and run processes": one process
 * per CPU, each squaring the numbers below 1000, all started then joined. */
#include <troupe/troupe.h>

TP_TASK(square_numbers)
{
	int64_t square = 0;
	for (int64_t i = 0; i < 1000; i++)
		square = i * i;
	return square != 999 * 999;
}

int main(void)
{
	tp_init(NULL);
	int num_processes = tp_cpu_count(); /* usually a good number */
	tp_process *processes[num_processes];
	for (int i = 0; i < num_processes; i++) /* one process per CPU */
		tp_process_new(&processes[i], square_numbers, NULL, NULL);
	for (int i = 0; i < num_processes; i++) /* start all processes */
		tp_process_start(processes[i]);
	for (int i = 0; i < num_processes; i++) /* wait for all to finish */
		tp_process_join(processes[i], -1),
		    tp_process_free(processes[i]);
	return tp_fini();
}
