/* cpu_count - seed 002 "multiprocessing module": the CPUs this process may
 * run on (as os.process_cpu_count(); Python's cpu_count counts all). */
#include <troupe/troupe.h>

/* tp_cpu_count() returns the number of available CPUs. A one-call program
 * is one line of main, as C programmers write it; the project's style
 * (BreakBeforeBraces Linux, no short functions on one line) is switched
 * off for that line only. */
// clang-format off
int main(void) { return tp_print("si", "CPU count: ", tp_cpu_count()); }
// clang-format on
