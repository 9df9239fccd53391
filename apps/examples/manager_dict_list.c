/* manager_dict_list - seed 001 "Shared State using Manager": a child fills
 * a Manager dict and reverses a Manager list; the parent prints both as
 * Python does: {1: '1', '2': 2, 0.25: None} and [9, 8, ..., 0]. */
#include <troupe/troupe.h>

TP_TASK(f)
{
	tp_proxy *d, *l;
	TP_TRY(tp_unpack(args, "XX", &d, &l));
	tp_dict_set(d, tp_int(1), tp_str("1"));
	tp_dict_set(d, tp_str("2"), tp_int(2));
	tp_dict_set(d, tp_dbl(0.25), tp_none());
	tp_list_reverse(l);
	return tp_free("XX", d, l);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *d, *l;
	tp_payload *range;
	tp_process *p;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_range(&range, 0, 10);
	tp_manager_dict(manager, &d), tp_manager_list(manager, range, &l);
	tp_process_startf(&p, f, "XX", d, l);
	tp_process_join(p, -1);
	tp_print("X", d), tp_print("X", l);
	tp_free("XXPTM", d, l, range, p, manager); /* M: the `with` exit */
	return tp_fini();
}
