/* cpu_count - seed 002 "multiprocessing module": the CPUs this process may
 * run on (as os.process_cpu_count(); Python's cpu_count counts all). */
#include <troupe/troupe.h>

int main(void)
{
	/* tp_cpu_count() returns the number of available CPUs */
	return tp_print("si", "CPU count: ", tp_cpu_count());
}
