/* pool_apply_async_sleep - seed 000 "Process Pool": 8 tasks on a Pool(4),
 * each sleeping a random time (up to 1 s) then printing its number. */
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(worker)
{
	int i;
	TP_TRY(tp_unpack(args, "i", &i));
	srandom(getpid() ^ i), usleep(random() % 1000000);
	return tp_print("i", i);
}

int main(void)
{
	tp_pool *p;
	tp_init(NULL), tp_pool_new(&p, 4, NULL, NULL, 0);
	for (int i = 0; i < 8; i++)
		tp_pool_submit(p, worker, NULL, NULL, NULL, NULL, "i", i);
	tp_pool_close(p), tp_pool_join(p, -1);
	tp_pool_free(p);
	return tp_fini();
}
