/* logging_process - seed 004 "Logging Process": in Python each process
 * must clone the logging configuration in run() (balsa_clone). troupe's
 * process module installs the clone, under the child's own name, before
 * any target runs - this example says so in its output. */
#include <troupe/troupe.h>

TP_TASK(run) /* no balsa_clone/init_logger: done before run() */
{
	tp_log_info("doing the work");
	return 0;
}

int main(void)
{
	tp_log_config *cfg;
	tp_log_actor *actor;
	tp_process *p;
	tp_init(NULL), tp_log_config_new(&cfg, "myapp");
	tp_log_actor_start(cfg, &actor);
	tp_process_new(&p, run, NULL, &(tp_process_opts){.name = "worker-1"});
	tp_process_start(p), tp_process_join(p, -1);
	tp_print("s", "(troupe cloned the logging configuration into worker-1; "
	              "Python's run() has to call balsa_clone itself)");
	tp_log_actor_free(actor), tp_log_config_free(cfg), tp_process_free(p);
	return tp_fini();
}
