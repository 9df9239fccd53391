/*
 * queue_producer_consumer - one producer and one consumer process sharing a
 * Queue, with an 'end' marker (seed 000, "Communication Between
 * Processes"). Prints 0..4, "producer exits", "consumer exits".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int producer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK)
		return 1;
	srand((unsigned)getpid());
	for (int i = 0; i < 5; i++) {
		usleep((useconds_t)(rand() % 300) * 1000);
		tp_queue_put_int(q, i, -1);
	}
	tp_queue_put_string(q, "end", -1); /* tell the consumer we are done */
	printf("producer exits\n");
	fflush(stdout);
	tp_queue_free(q);
	return 0;
}
TP_TARGET(producer)

static int consumer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	tp_payload *product;
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK)
		return 1;
	while (tp_queue_get(q, &product, -1) == TP_OK) {
		const char *s;
		int64_t v;
		int end = tp_payload_get_string(product, 0, &s) == TP_OK &&
		          strcmp(s, "end") == 0;
		if (!end && tp_payload_get_int(product, 0, &v) == TP_OK)
			printf("%lld\n", (long long)v);
		fflush(stdout);
		tp_payload_free(product);
		if (end)
			break;
	}
	printf("consumer exits\n");
	tp_queue_free(q);
	return 0;
}
TP_TARGET(consumer)

int main(void)
{
	tp_queue *q;
	tp_payload *args;
	tp_process *p1, *p2;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_queue_new(&q, NULL);
	tp_payload_new(&args);
	tp_payload_add_queue(args, q);
	tp_process_new(&p1, producer, args, NULL);
	tp_process_new(&p2, consumer, args, NULL);
	tp_process_start(p1);
	tp_process_start(p2);
	tp_process_join(p1, -1);
	tp_process_join(p2, -1);
	tp_process_free(p1);
	tp_process_free(p2);
	tp_payload_free(args);
	tp_queue_free(q);
	return tp_fini();
}
