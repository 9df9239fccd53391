/*
 * pool_producer_consumer - seed 000 "multi-producer-multi-consumer" with
 * Pool: a producer pool of 2 and a consumer pool of 2 share one Queue
 * through apply_async arguments, with an error_callback. Python refuses a
 * plain Queue here ("Queue objects should only be shared between processes
 * through inheritance") and needs manager.Queue(); a tp_queue travels in
 * any payload. As in the seed, each producer puts 'end' when it is done
 * and a consumer stops at the first 'end' it sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int producer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	int64_t id = 0;
	char product[64];
	int rv = tp_payload_get_queue(args, 0, &q);
	(void)result;
	if (rv != TP_OK)
		return rv;
	tp_payload_get_int(args, 1, &id);
	srand((unsigned)(time(NULL) ^ getpid() ^ (id << 4)));
	for (int i = 0; i < 5; i++) {
		usleep((useconds_t)(rand() % 1000) * 1000); /* random() s */
		snprintf(product, sizeof(product),
		         "product %d from producer %lld", i, (long long)id);
		tp_queue_put_string(q, product, -1);
	}
	tp_queue_put_string(q, "end", -1); /* a producer has exited */
	printf("producer %lld exits\n", (long long)id);
	fflush(stdout);
	tp_queue_free(q);
	return 0;
}
TP_TARGET(producer);

static int consumer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	int64_t id = 0;
	int rv = tp_payload_get_queue(args, 0, &q);
	(void)result;
	if (rv != TP_OK)
		return rv;
	tp_payload_get_int(args, 1, &id);
	for (;;) {
		char *product = NULL;
		if ((rv = tp_queue_get_string(q, &product, -1)) != TP_OK)
			break;
		int end = strcmp(product, "end") == 0;
		if (!end)
			printf("%s consumed by consumer %lld\n", product,
			       (long long)id);
		fflush(stdout);
		free(product);
		if (end)
			break;
	}
	printf("consumer %lld exits\n", (long long)id);
	fflush(stdout);
	tp_queue_free(q);
	return rv == TP_OK ? 0
	                   : tp_task_fail(result, "get: %s", tp_strerror(rv));
}
TP_TARGET(consumer);

static int print_traceback(const tp_pool_error *e, void *arg)
{
	(void)arg;
	printf("%s: %s\n", e->origin, e->message);
	return 0;
}

static void submit(tp_pool *pool, tp_target_fn fn, tp_queue *q, int id)
{
	tp_payload *args;
	tp_payload_new(&args);
	tp_payload_add_queue(args, q);
	tp_payload_add_int(args, id);
	tp_pool_apply_async(pool, fn, args, NULL, print_traceback, NULL, NULL);
	tp_payload_free(args);
}

int main(void)
{
	tp_queue *q;
	tp_pool *producer_pool, *consumer_pool;
	int rv, producer_count = 2, consumer_count = 2;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_queue_new(&q, NULL)) != TP_OK ||
	    (rv = tp_pool_new(&producer_pool, producer_count, NULL, NULL, 0)) !=
	        TP_OK ||
	    (rv = tp_pool_new(&consumer_pool, consumer_count, NULL, NULL, 0)) !=
	        TP_OK) {
		fprintf(stderr, "pool_producer_consumer: %s\n",
		        tp_strerror(rv));
		return 1;
	}
	for (int i = 0; i < producer_count; i++)
		submit(producer_pool, producer, q, i);
	for (int i = 0; i < consumer_count; i++)
		submit(consumer_pool, consumer, q, i);
	tp_pool_close(producer_pool);
	tp_pool_close(consumer_pool);
	tp_pool_join(producer_pool, -1);
	tp_pool_join(consumer_pool, -1);
	tp_pool_free(producer_pool);
	tp_pool_free(consumer_pool);
	tp_queue_free(q);
	tp_fini();
	return 0;
}
