/* pool_manager_lock - seed 000 "Lock": a Manager Queue, a Manager Value
 * and two Manager Locks shared by two pools. print_lock keeps each line
 * whole; count_lock makes the count of exited producers exact; consumers
 * poll with get_nowait and exit only once every producer has. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

TP_TASK(producer)
{
	tp_proxy *q, *print_lock;
	int id;
	char product[64];
	TP_TRY(tp_unpack(args, "XiX", &q, &id, &print_lock));
	for (int i = 0; i < 5; i++) {
		usleep(random() % 1000000);
		sprintf(product, "product %d from producer %d", i, id);
		tp_mqueue_put(q, tp_str(product), -1);
	}
	tp_mqueue_put(q, tp_str("end"), -1); /* a producer has exited */
	tp_mlock_acquire(print_lock, -1);
	tp_print("sis", "producer", id, "exits");
	tp_mlock_release(print_lock);
	return tp_free("XX", q, print_lock);
}

TP_TASK(consumer)
{
	tp_proxy *q, *print_lock, *exited_producer_count, *count_lock;
	int id, producer_count;
	int64_t exited;
	tp_payload *product;
	TP_TRY(tp_unpack(args, "XiiXXX", &q, &id, &producer_count, &print_lock,
	                 &exited_producer_count, &count_lock));
	for (tp_payload_new(&product);; tp_payload_clear(product)) {
		if (tp_mqueue_get(q, product, 0) != TP_OK) { /* get_nowait */
			tp_mvalue_long(exited_producer_count, &exited);
			if (exited == producer_count)
				break; /* all producers have exited */
			continue;
		}
		if (tp_is_str(product, 0, "end")) {
			tp_mvalue_add(exited_producer_count, count_lock, 1,
			              NULL);
			continue;
		}
		tp_mlock_acquire(print_lock, -1);
		tp_print("psi", product, "consumed by consumer", id);
		tp_mlock_release(print_lock);
	}
	tp_mlock_acquire(print_lock, -1);
	tp_print("sis", "consumer", id, "exits");
	tp_mlock_release(print_lock);
	return tp_free("PXXXX", product, q, print_lock, exited_producer_count,
	               count_lock);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *q, *exited_producer_count, *print_lock, *count_lock;
	tp_pool *producer_pool, *consumer_pool;
	int producer_count = 2, consumer_count = 2;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_manager_queue(manager, 0, &q);
	tp_manager_valuef(manager, &exited_producer_count, "i", 0);
	tp_manager_lock(manager, &print_lock);
	tp_manager_lock(manager, &count_lock);
	tp_pool_new(&producer_pool, producer_count, NULL, NULL, 0);
	tp_pool_new(&consumer_pool, consumer_count, NULL, NULL, 0);
	for (int i = 0; i < producer_count; i++)
		tp_pool_submit(producer_pool, producer, NULL, print_traceback,
		               NULL, NULL, "XiX", q, i, print_lock);
	for (int i = 0; i < consumer_count; i++)
		tp_pool_submit(consumer_pool, consumer, NULL, print_traceback,
		               NULL, NULL, "XiiXXX", q, i, producer_count,
		               print_lock, exited_producer_count, count_lock);
	tp_pool_close(producer_pool), tp_pool_close(consumer_pool);
	tp_pool_join(producer_pool, -1), tp_pool_join(consumer_pool, -1);
	tp_free("OOXXXXM", producer_pool, consumer_pool, q,
	        exited_producer_count, print_lock, count_lock, manager);
	return tp_fini();
}
