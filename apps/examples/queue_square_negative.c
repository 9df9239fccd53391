/* queue_square_negative - seed 003 "Using a queue in multiprocessing": two
 * processes put squares and negatives of 1..5 on one Queue; main prints
 * what is there once both are joined. */
#include <troupe/troupe.h>

TP_TASK(square)
{
	tp_queue *queue;
	int lo, hi;
	TP_TRY(tp_unpack(args, "iiQ", &lo, &hi, &queue)); /* range(lo, hi) */
	for (int i = lo; i < hi; i++)
		tp_queue_put_int(queue, i * i, -1);
	return tp_free("Q", queue);
}

TP_TASK(make_negative)
{
	tp_queue *queue;
	int lo, hi;
	TP_TRY(tp_unpack(args, "iiQ", &lo, &hi, &queue));
	for (int i = lo; i < hi; i++)
		tp_queue_put_int(queue, i * -1, -1);
	return tp_free("Q", queue);
}

int main(void)
{
	tp_queue *q;
	tp_process *p1, *p2;
	int64_t x;
	tp_init(NULL), tp_queue_new(&q, NULL);
	tp_process_startf(&p1, square, "iiQ", 1, 6,
	                  q); /* numbers = range(1, 6) */
	tp_process_startf(&p2, make_negative, "iiQ", 1, 6, q);
	tp_process_join(p1, -1), tp_process_join(p2, -1);
	while (!tp_queue_empty(q)) /* order might not be sequential */
		tp_queue_get_int(q, &x, -1), tp_print("l", x);
	tp_print("s", "end main");
	tp_free("TTQ", p1, p2, q);
	return tp_fini();
}
