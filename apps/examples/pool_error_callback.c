/* pool_error_callback - seed 000: each task divides by zero, a real
 * SIGFPE in C. The error callback prints what the pool reports: the
 * failure's code, which task in which worker, and why; the dead worker is
 * replaced, so the second task runs (and fails) too. Python's worker
 * survives a ZeroDivisionError; a C worker dies of SIGFPE, and the pool
 * still loses nothing. */
#include <troupe/troupe.h>

static volatile int zero;

__attribute__((no_sanitize("undefined"))) TP_TASK(worker)
{
	int i;
	TP_TRY(tp_unpack(args, "i", &i));
	return tp_printf("%d\n", i / zero);
}

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

int main(void)
{
	tp_pool *p;
	tp_init(NULL), tp_pool_new(&p, 1, NULL, NULL, 0);
	for (int i = 0; i < 2; i++)
		tp_pool_submit(p, worker, NULL, print_traceback, NULL, NULL,
		               "i", i);
	tp_pool_close(p), tp_pool_join(p, -1), tp_pool_free(p);
	return tp_fini();
}
