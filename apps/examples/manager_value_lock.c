/*
 * manager_value_lock.c - a Manager Value and Lock shared by an adding and
 * a subtracting process (the seeds' counter):
 *
 *   def add(v, l):                      def sub(v, l):
 *       for _ in range(50):                 for _ in range(50):
 *           with l: v.value += 3                with l: v.value -= 1
 *   with Manager() as m:
 *       v = m.Value('i', 100); l = m.Lock()
 *       ... start add and sub, join both ...
 *       print(v.value)                  # 200
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int change(const tp_payload *args, int64_t step)
{
	tp_proxy *v = NULL, *l = NULL;
	tp_payload *out = NULL;
	int64_t x;
	int rv;
	if ((rv = tp_payload_get_proxy(args, 0, NULL, 0, &v)) != TP_OK ||
	    (rv = tp_payload_get_proxy(args, 1, NULL, 0, &l)) != TP_OK ||
	    (rv = tp_payload_new(&out)) != TP_OK)
		goto done;
	for (int i = 0; i < 50 && rv == TP_OK; i++) {
		tp_payload_clear(out);
		if ((rv = tp_mlock_acquire(l, -1)) != TP_OK) /* with l: */
			break;
		if ((rv = tp_value_get(v, out)) == TP_OK &&
		    (rv = tp_payload_get_int(out, 0, &x)) == TP_OK)
			rv = tp_value_set(v, tp_int(x + step));
		int rr = tp_mlock_release(l);
		rv = rv != TP_OK ? rv : rr;
	}
done:
	if (rv != TP_OK)
		fprintf(stderr, "counter: %s\n", tp_strerror(rv));
	tp_payload_free(out);
	tp_proxy_free(v);
	tp_proxy_free(l);
	return rv == TP_OK ? 0 : 1;
}

static int add(const tp_payload *args, tp_payload *result)
{
	(void)result;
	return change(args, 3);
}
TP_TARGET(add);

static int sub(const tp_payload *args, tp_payload *result)
{
	(void)result;
	return change(args, -1);
}
TP_TARGET(sub);

int main(void)
{
	tp_manager *m;
	tp_proxy *v = NULL, *l = NULL;
	tp_payload *init, *args;
	tp_process *pa = NULL, *ps = NULL;
	int rv;

	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_manager_start(&m, NULL)) != TP_OK) {
		fprintf(stderr, "manager: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_new(&init);
	tp_payload_add_int(init, 100); /* Value('i', 100) */
	tp_payload_new(&args);
	if ((rv = tp_manager_create(m, "value", init, &v)) == TP_OK &&
	    (rv = tp_manager_lock(m, &l)) == TP_OK &&
	    (rv = tp_payload_add_proxy(args, v)) == TP_OK &&
	    (rv = tp_payload_add_proxy(args, l)) == TP_OK &&
	    (rv = tp_process_new(&pa, add, args, NULL)) == TP_OK &&
	    (rv = tp_process_new(&ps, sub, args, NULL)) == TP_OK &&
	    (rv = tp_process_start(pa)) == TP_OK &&
	    (rv = tp_process_start(ps)) == TP_OK &&
	    (rv = tp_process_join(pa, -1)) == TP_OK &&
	    (rv = tp_process_join(ps, -1)) == TP_OK) {
		tp_payload *out;
		int64_t x = 0;
		tp_payload_new(&out);
		if ((rv = tp_value_get(v, out)) == TP_OK &&
		    (rv = tp_payload_get_int(out, 0, &x)) == TP_OK)
			printf("%lld\n", (long long)x);
		tp_payload_free(out);
	}
	if (rv != TP_OK)
		fprintf(stderr, "manager_value_lock: %s\n", tp_strerror(rv));
	tp_process_free(pa);
	tp_process_free(ps);
	tp_proxy_free(v);
	tp_proxy_free(l);
	tp_payload_free(init);
	tp_payload_free(args);
	tp_manager_shutdown(m);
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
