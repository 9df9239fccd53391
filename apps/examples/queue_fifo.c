/* queue_fifo - seed 003 "The queue": first in, first out, in one
 * process. */
#include <troupe/troupe.h>

int main(void)
{
	tp_queue *q;
	int64_t first;
	tp_init(NULL), tp_queue_new(&q, NULL); /* create queue */
	tp_queue_put_int(q, 1, -1);            /* 1 */
	tp_queue_put_int(q, 2, -1);            /* 2 1 */
	tp_queue_put_int(q, 3, -1);            /* 3 2 1 */
	/* now q looks like this: back --> 3 2 1 --> front */
	tp_queue_get_int(q, &first, -1); /* get and remove first: 1 */
	tp_print("l", first);
	/* q looks like this: back --> 3 2 --> front */
	tp_queue_free(q);
	return tp_fini();
}
