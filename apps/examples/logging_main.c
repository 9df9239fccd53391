/* logging_main - seed 004 "Logging main": main sets up logging once
 * (Balsa("myapp", "myname"), init_logger) and starts the process; the
 * process logs under its own name through the same single writer (the
 * logging actor). */
#include <troupe/troupe.h>

TP_TASK(calculate_e) /* CalculateE.run(): its logger is set up already */
{
	tp_log_info("calculating e");
	return 0;
}

int main(void)
{
	tp_log_config *cfg;
	tp_log_actor *actor;
	tp_process *p;
	tp_init(NULL), tp_log_config_new(&cfg, "myapp"); /* Balsa(...) */
	tp_log_actor_start(cfg, &actor); /* init_logger(); children clone it */
	tp_process_startf(&p, calculate_e, ""); /* CalculateE(balsa_config) */
	tp_process_join(p, -1);
	tp_log_actor_free(actor), tp_log_config_free(cfg), tp_process_free(p);
	return tp_fini();
}
