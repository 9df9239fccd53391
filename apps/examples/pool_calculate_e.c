/* pool_calculate_e - seed 004 "multiprocessing.Pool Example": calculate_e
 * runs in a pool worker (apply_async) until main sets an Event from a
 * manager (Python's SyncManager), then main prints get()'s value as Python
 * does (2.7182818284590455). Usage: pool_calculate_e [SECONDS] (default
 * 3). */
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(calculate_e)
{
	tp_proxy *exit_event;
	double k = 1.0, e_value = 0.0;
	long iteration = 0;
	int is_set = 0;
	TP_TRY(tp_unpack(args, "X", &exit_event));
	/* exit when exit_event is set */
	while (iteration % 1000 != 0 ||
	       (tp_mevent_is_set(exit_event, &is_set) == TP_OK && !is_set)) {
		e_value += 1.0 / k;
		k *= iteration + 1;
		iteration++;
	}
	tp_proxy_free(exit_event);
	return tp_pack(result, "d", e_value);
}

int main(int argc, char **argv)
{
	tp_manager *sync_manager;
	tp_pool *pool;
	tp_proxy *e_exit_event;
	tp_pool_result *e_proc;
	tp_payload *e = NULL;
	tp_init(NULL), tp_manager_start(&sync_manager, NULL);
	tp_pool_new(&pool, 0, NULL, NULL, 0); /* with Pool() as pool: */
	tp_manager_event(sync_manager, &e_exit_event); /* for the pool */
	tp_pool_submit(pool, calculate_e, NULL, NULL, NULL, &e_proc, "X",
	               e_exit_event);
	usleep((argc > 1 ? atof(argv[1]) : 3.0) * 1e6); /* do other stuff */
	tp_mevent_set(e_exit_event); /* tell calculate_e to stop */
	if (tp_pool_result_get(e_proc, &e, -1) == TP_OK)
		tp_print("p", e);
	tp_free("PROXM", e, e_proc, pool, e_exit_event, sync_manager);
	return tp_fini();
}
