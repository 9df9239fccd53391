/*
 * queue_many - two producers and two consumers in worker processes sharing
 * one Queue (seed 000). Python refuses to pass a plain Queue to Pool
 * workers ("Queue objects should only be shared between processes through
 * inheritance") and needs a Manager queue; a tp_queue travels in any
 * payload. Consumers stop on an 'end' marker, put once per consumer after
 * every producer has exited, so no product is left behind (the flaw the
 * seed's second version fixes with a shared counter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "troupe/troupe.h"

#define PRODUCERS 2
#define CONSUMERS 2

static int producer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	int64_t id;
	char product[64];
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK ||
	    tp_payload_get_int(args, 1, &id) != TP_OK)
		return 1;
	srand((unsigned)getpid());
	for (int i = 0; i < 5; i++) {
		usleep((useconds_t)(rand() % 300) * 1000);
		snprintf(product, sizeof(product),
		         "product %d from producer %lld", i, (long long)id);
		tp_queue_put_string(q, product, -1);
	}
	printf("producer %lld exits\n", (long long)id);
	fflush(stdout);
	tp_queue_free(q);
	return 0;
}
TP_TARGET(producer)

static int consumer(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	int64_t id;
	char *product;
	(void)result;
	if (tp_payload_get_queue(args, 0, &q) != TP_OK ||
	    tp_payload_get_int(args, 1, &id) != TP_OK)
		return 1;
	while (tp_queue_get_string(q, &product, -1) == TP_OK) {
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
	tp_queue_free(q);
	return 0;
}
TP_TARGET(consumer)

static tp_process *start(tp_target_fn fn, tp_queue *q, int id)
{
	tp_payload *args;
	tp_process *p = NULL;
	tp_payload_new(&args);
	tp_payload_add_queue(args, q);
	tp_payload_add_int(args, id);
	if (tp_process_new(&p, fn, args, NULL) == TP_OK)
		tp_process_start(p);
	tp_payload_free(args);
	return p;
}

int main(void)
{
	tp_queue *q;
	tp_process *prod[PRODUCERS], *cons[CONSUMERS];
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_queue_new(&q, NULL);
	for (int i = 0; i < PRODUCERS; i++)
		prod[i] = start(producer, q, i);
	for (int i = 0; i < CONSUMERS; i++)
		cons[i] = start(consumer, q, i);
	for (int i = 0; i < PRODUCERS; i++) {
		tp_process_join(prod[i], -1);
		tp_process_free(prod[i]);
	}
	for (int i = 0; i < CONSUMERS; i++)
		tp_queue_put_string(q, "end", -1);
	for (int i = 0; i < CONSUMERS; i++) {
		tp_process_join(cons[i], -1);
		tp_process_free(cons[i]);
	}
	tp_queue_free(q);
	return tp_fini();
}
