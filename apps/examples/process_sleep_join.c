/* process_sleep_join - seed 000 "Process": the child sleeps 2 s while the
 * parent goes on until it joins. */
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(worker)
{
	const char *s;
	TP_TRY(tp_unpack(args, "s", &s));
	tp_print("s", "Start sleeping for 2 seconds...");
	sleep(2);
	tp_print("s", "Sleeping ends.");
	return tp_print("s", s);
}

int main(void)
{
	tp_process *p;
	tp_init(NULL);
	tp_process_startf(&p, worker, "s", "Hello, world.");
	tp_print("s", "before join(), the parent process is not blocked");
	tp_process_join(p, -1);
	tp_print("s", "After join()");
	tp_process_free(p);
	return tp_fini();
}
