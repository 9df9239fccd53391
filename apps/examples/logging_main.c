/*
 * logging_main - seed 004 "Logging main": the parent sets up logging once
 * (balsa's Balsa("myapp", "myname") + init_logger), turns the configuration
 * into bytes (config_as_dict) and hands them to the process it starts; the
 * process clones it under its own name (balsa_clone, see calculate_e
 * below). Every record goes through one logging actor, so the console and
 * the file have one writer. At the end the child's records are read back
 * from the file by name, as `troupe logs calculate_e` does.
 *
 * Python:
 *   balsa = Balsa("myapp", "myname"); balsa.init_logger()
 *   balsa_config = balsa.config_as_dict()
 *   e_process = CalculateE(balsa_config); e_process.start()
 *   e_process.exit_event.set(); e_process.join()
 *
 * Usage: logging_main [LOGFILE]   (default /tmp/troupe-logging_main.log)
 */
#include <stdio.h>
#include <stdlib.h>

#include "troupe/troupe.h"

/* The process: clone the configuration it was given, then log its work. */
static int calculate_e(const tp_payload *args, tp_payload *result)
{
	const void *cfg_bytes;
	size_t len;
	tp_log_config *given, *mine;
	double k = 1.0, e_value = 0.0;
	if (tp_payload_get_bytes(args, 0, &cfg_bytes, &len) != TP_OK ||
	    tp_log_config_decode(cfg_bytes, len, &given) != TP_OK)
		return 2;
	/* balsa_clone(self.logging_config, self.name); init_logger() */
	if (tp_log_config_clone(given, tp_process_name(tp_current_process()),
	                        &mine) != TP_OK ||
	    tp_log_init(mine) != TP_OK)
		return 2;
	tp_log_config_free(given);
	tp_log_config_free(mine);
	tp_log_info("calculating e");
	for (int iteration = 0; iteration < 18; iteration++) {
		e_value += 1.0 / k;
		k *= iteration + 1;
		tp_log_debug("iteration %d: e ~ %.15f", iteration, e_value);
	}
	tp_log_info("e = %.15f", e_value);
	tp_payload_add_double(result, e_value);
	return 0;
}
TP_TARGET(calculate_e);

static int print_line(const char *line, size_t len, void *arg)
{
	(void)arg;
	if (line != NULL)
		printf("  %.*s\n", (int)len, line);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : "/tmp/troupe-logging_main.log";
	tp_process_opts o = {.name = "calculate_e"};
	tp_log_config *cfg;
	tp_log_actor *actor;
	tp_payload *args, *res;
	tp_process *p;
	void *bytes;
	size_t len;
	double e;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	/* balsa = Balsa("myapp", "myname"); balsa.init_logger() */
	if ((rv = tp_log_config_new(&cfg, "myapp")) != TP_OK ||
	    (rv = tp_log_config_set_name(cfg, "myname")) != TP_OK ||
	    (rv = tp_log_config_set_file(cfg, file, 1 << 20, 3)) != TP_OK ||
	    (rv = tp_log_config_set_delete_existing(cfg, 1)) != TP_OK ||
	    (rv = tp_log_actor_start(cfg, &actor)) != TP_OK) {
		fprintf(stderr, "logging: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_log_info("logging to %s", file);
	/* balsa_config = balsa.config_as_dict(); CalculateE(balsa_config) */
	if ((rv = tp_log_config_encode(cfg, &bytes, &len)) != TP_OK ||
	    (rv = tp_payload_new(&args)) != TP_OK ||
	    (rv = tp_payload_add_bytes(args, bytes, len)) != TP_OK ||
	    (rv = tp_process_new(&p, calculate_e, args, &o)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK ||
	    (rv = tp_process_result(p, &res, -1)) != TP_OK ||
	    (rv = tp_payload_get_double(res, 0, &e)) != TP_OK) {
		fprintf(stderr, "calculate_e: %s\n", tp_strerror(rv));
		return 1;
	}
	free(bytes);
	tp_process_join(p, -1);
	tp_log_info("%s returned e = %.15f", tp_process_name(p), e);
	printf("%.15f\n", e);
	/* everything is in the file once the actor has it */
	tp_log_flush(5000);
	tp_log_actor_stop(actor);
	printf("records of calculate_e in %s:\n", file);
	tp_log_read(cfg, "calculate_e", 0, print_line, NULL);
	tp_payload_free(res);
	tp_payload_free(args);
	tp_process_free(p);
	tp_log_actor_free(actor);
	tp_log_config_free(cfg);
	return tp_fini();
}
