/*
 * queue_square_negative - two processes put squares and negatives of
 * 1..5 into one Queue; the main process prints what is there (seed 003,
 * "Using a queue in multiprocessing"). Order between the two producers
 * may vary, as in Python.
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int square(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK)
		return 1;
	for (int i = 1; i <= 5; i++)
		tp_queue_put_int(q, i * i, -1);
	tp_queue_free(q);
	return 0;
}
TP_TARGET(square)

static int make_negative(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK)
		return 1;
	for (int i = 1; i <= 5; i++)
		tp_queue_put_int(q, -i, -1);
	tp_queue_free(q);
	return 0;
}
TP_TARGET(make_negative)

int main(void)
{
	tp_queue *q;
	tp_payload *args;
	tp_process *p1, *p2;
	int64_t v;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_queue_new(&q, NULL);
	tp_payload_new(&args);
	tp_payload_add_queue(args, q);
	tp_process_new(&p1, square, args, NULL);
	tp_process_new(&p2, make_negative, args, NULL);
	tp_process_start(p1);
	tp_process_start(p2);
	tp_process_join(p1, -1);
	tp_process_join(p2, -1);
	/* order might not be sequential */
	while (!tp_queue_empty(q) && tp_queue_get_int(q, &v, 0) == TP_OK)
		printf("%lld\n", (long long)v);
	printf("end main\n");
	tp_process_free(p1);
	tp_process_free(p2);
	tp_payload_free(args);
	tp_queue_free(q);
	return tp_fini();
}
