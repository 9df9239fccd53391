/* sync_lock_print - seed 001 "Synchronisation using Lock": ten processes
 * print 'hello world i' while holding one Lock, so no lines mix. The lock
 * reaches each child in its arguments (the 'L' letter). */
#include <troupe/troupe.h>

TP_TASK(f)
{
	tp_lock *l;
	int i;
	TP_TRY(tp_unpack(args, "Li", &l, &i));
	tp_lock_acquire(l, -1);
	tp_print("si", "hello world", i);
	tp_lock_release(l);
	return tp_free("L", l);
}

int main(void)
{
	tp_lock *lock;
	tp_init(NULL), tp_lock_new(&lock);
	for (int num = 0; num < 10; num++)
		tp_process_startf(NULL, f, "Li", lock, num);
	int rv = tp_fini(); /* joins the ten, as Python does at exit */
	tp_lock_free(lock);
	return rv;
}
