/* pool_queue_producer_consumer - seed 000: two pools share a plain Queue.
 * Python refuses ("Queue objects should only be shared between processes
 * through inheritance"); a troupe Queue travels to pool workers in their
 * arguments, so this works - the example says so in its output. As in the
 * seed, a consumer stops at the first 'end' (the next example fixes that);
 * the leftover items go with the queue. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(producer)
{
	tp_queue *q;
	int id;
	char product[64];
	TP_TRY(tp_unpack(args, "Qi", &q, &id));
	for (int i = 0; i < 5; i++) {
		usleep(random() % 1000000);
		sprintf(product, "product %d from producer %d", i, id);
		tp_queue_put_string(q, product, -1);
	}
	tp_queue_put_string(q, "end", -1); /* tells a consumer we exited */
	tp_print("sis", "producer", id, "exits");
	return tp_free("Q", q);
}

TP_TASK(consumer)
{
	tp_queue *q;
	tp_payload *product;
	int id;
	TP_TRY(tp_unpack(args, "Qi", &q, &id));
	while (tp_queue_get(q, &product, -1) == TP_OK &&
	       !tp_is_str(product, 0, "end")) {
		tp_print("psi", product, "consumed by consumer", id);
		tp_payload_free(product);
	}
	tp_print("sis", "consumer", id, "exits");
	return tp_free("PQ", product, q);
}

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

int main(void)
{
	tp_queue *q;
	tp_pool *producer_pool, *consumer_pool;
	int producer_count = 2, consumer_count = 2;
	tp_init(NULL), tp_queue_new(&q, NULL);
	tp_pool_new(&producer_pool, producer_count, NULL, NULL, 0);
	tp_pool_new(&consumer_pool, consumer_count, NULL, NULL, 0);
	for (int i = 0; i < producer_count; i++)
		tp_pool_submit(producer_pool, producer, NULL, print_traceback,
		               NULL, NULL, "Qi", q, i);
	for (int i = 0; i < consumer_count; i++)
		tp_pool_submit(consumer_pool, consumer, NULL, print_traceback,
		               NULL, NULL, "Qi", q, i);
	tp_pool_close(producer_pool), tp_pool_close(consumer_pool);
	tp_pool_join(producer_pool, -1), tp_pool_join(consumer_pool, -1);
	tp_print("s", "(Python: RuntimeError - a plain Queue cannot reach pool "
	              "workers; troupe: it can)");
	tp_free("OOQ", producer_pool, consumer_pool, q);
	return tp_fini();
}
