/*
 * manager_dict_list.c - the Manager example of seed 001:
 *
 *   def f(d, l):
 *       d[1] = '1'; d['2'] = 2; d[0.25] = None
 *       l.reverse()
 *   with Manager() as manager:
 *       d = manager.dict(); l = manager.list(range(10))
 *       p = Process(target=f, args=(d, l)); p.start(); p.join()
 *       print(d); print(l)
 *
 * prints, as Python 3 does (insertion order):
 *   {1: '1', '2': 2, 0.25: None}
 *   [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int f(const tp_payload *args, tp_payload *result)
{
	tp_proxy *d = NULL, *l = NULL;
	int rv;
	(void)result;
	if ((rv = tp_payload_get_proxy(args, 0, NULL, 0, &d)) == TP_OK &&
	    (rv = tp_payload_get_proxy(args, 1, NULL, 0, &l)) == TP_OK &&
	    (rv = tp_dict_set(d, tp_int(1), tp_str("1"))) == TP_OK &&
	    (rv = tp_dict_set(d, tp_str("2"), tp_int(2))) == TP_OK &&
	    (rv = tp_dict_set(d, tp_dbl(0.25), tp_none())) == TP_OK)
		rv = tp_list_reverse(l);
	if (rv != TP_OK)
		fprintf(stderr, "f: %s\n", tp_strerror(rv));
	tp_proxy_free(d);
	tp_proxy_free(l);
	return rv == TP_OK ? 0 : 1;
}
TP_TARGET(f);

int main(void)
{
	tp_manager *m;
	tp_proxy *d = NULL, *l = NULL;
	tp_payload *items, *args;
	tp_process *p;
	char buf[256];
	int rv, code = 1;

	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_manager_start(&m, NULL)) != TP_OK) {
		fprintf(stderr, "manager: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_new(&items);
	for (int i = 0; i < 10; i++) /* range(10) */
		tp_payload_add_int(items, i);
	tp_payload_new(&args);
	if ((rv = tp_manager_dict(m, &d)) == TP_OK &&
	    (rv = tp_manager_list(m, items, &l)) == TP_OK &&
	    (rv = tp_payload_add_proxy(args, d)) == TP_OK &&
	    (rv = tp_payload_add_proxy(args, l)) == TP_OK &&
	    (rv = tp_process_new(&p, f, args, NULL)) == TP_OK) {
		if ((rv = tp_process_start(p)) == TP_OK &&
		    (rv = tp_process_join(p, -1)) == TP_OK)
			tp_process_exitcode(p, &code);
		printf("%s\n", tp_proxy_repr(d, buf, sizeof(buf)));
		printf("%s\n", tp_proxy_repr(l, buf, sizeof(buf)));
		tp_process_free(p);
	}
	if (rv != TP_OK)
		fprintf(stderr, "manager_dict_list: %s\n", tp_strerror(rv));
	tp_proxy_free(d);
	tp_proxy_free(l);
	tp_payload_free(items);
	tp_payload_free(args);
	tp_manager_shutdown(m);
	tp_fini();
	return rv == TP_OK ? code : 1;
}
