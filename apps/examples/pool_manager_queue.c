/* pool_manager_queue - seed 000: two pools share a Manager Queue (the
 * seed's fix for the plain Queue). As in the seed, a consumer stops at the
 * first 'end' it gets (pool_manager_lock fixes that); items left then go
 * with the manager. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(producer)
{
	tp_proxy *q;
	int id;
	char product[64];
	TP_TRY(tp_unpack(args, "Xi", &q, &id));
	for (int i = 0; i < 5; i++) {
		usleep(random() % 1000000);
		sprintf(product, "product %d from producer %d", i, id);
		tp_mqueue_put(q, tp_str(product), -1);
	}
	tp_mqueue_put(q, tp_str("end"), -1); /* tells a consumer we exited */
	tp_print("sis", "producer", id, "exits");
	return tp_free("X", q);
}

TP_TASK(consumer)
{
	tp_proxy *q;
	tp_payload *product;
	int id;
	TP_TRY(tp_unpack(args, "Xi", &q, &id));
	tp_payload_new(&product);
	while (tp_mqueue_get(q, product, -1) == TP_OK &&
	       !tp_is_str(product, 0, "end")) {
		tp_print("psi", product, "consumed by consumer", id);
		tp_payload_clear(product);
	}
	tp_print("sis", "consumer", id, "exits");
	return tp_free("PX", product, q);
}

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *q;
	tp_pool *producer_pool, *consumer_pool;
	int producer_count = 2, consumer_count = 2;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_manager_queue(manager, 0, &q);
	tp_pool_new(&producer_pool, producer_count, NULL, NULL, 0);
	tp_pool_new(&consumer_pool, consumer_count, NULL, NULL, 0);
	for (int i = 0; i < producer_count; i++)
		tp_pool_submit(producer_pool, producer, NULL, print_traceback,
		               NULL, NULL, "Xi", q, i);
	for (int i = 0; i < consumer_count; i++)
		tp_pool_submit(consumer_pool, consumer, NULL, print_traceback,
		               NULL, NULL, "Xi", q, i);
	tp_pool_close(producer_pool), tp_pool_close(consumer_pool);
	tp_pool_join(producer_pool, -1), tp_pool_join(consumer_pool, -1);
	tp_free("OOXM", producer_pool, consumer_pool, q, manager);
	return tp_fini();
}
