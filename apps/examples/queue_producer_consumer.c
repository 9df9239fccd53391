/* queue_producer_consumer - seed 000 "Communication Between Processes":
 * a producer puts 0..4 (after random sleeps) then 'end' on a Queue; a
 * consumer prints each item until 'end'. */
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(producer)
{
	tp_queue *q;
	TP_TRY(tp_unpack(args, "Q", &q));
	for (int i = 0; i < 5; i++)
		usleep(random() % 1000000), tp_queue_put_int(q, i, -1);
	tp_queue_put_string(q, "end", -1); /* tells the consumer we exited */
	tp_print("s", "producer exits");
	return tp_free("Q", q);
}

TP_TASK(consumer)
{
	tp_queue *q;
	tp_payload *product;
	TP_TRY(tp_unpack(args, "Q", &q));
	while (tp_queue_get(q, &product, -1) == TP_OK) {
		if (tp_is_str(product, 0, "end"))
			break;
		tp_print("p", product), tp_payload_free(product);
	}
	tp_print("s", "consumer exits");
	return tp_free("PQ", product, q);
}

int main(void)
{
	tp_queue *q;
	tp_process *p1, *p2;
	tp_init(NULL), tp_queue_new(&q, NULL);
	tp_process_startf(&p1, producer, "Q", q);
	tp_process_startf(&p2, consumer, "Q", q);
	tp_process_join(p1, -1), tp_process_join(p2, -1);
	tp_free("TTQ", p1, p2, q);
	return tp_fini();
}
