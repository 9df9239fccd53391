/* process_calculate_e - seed 004 "Wrap the work in a multiprocessing.Process
 * class": CalculateE runs calculate_e in a process named
 * calculate_e_process until main sets its Event, and hands the value back
 * through a SimpleQueue; main prints it as Python does (its repr,
 * 2.7182818284590455). Usage: process_calculate_e [SECONDS] (default 3). */
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

/* calculate "e" to do some work, until exit_event is set */
static double calculate_e(tp_event *exit_event)
{
	double k = 1.0, e_value = 0.0;
	long iteration = 0;
	while (iteration % 1000 != 0 || !tp_event_is_set(exit_event)) {
		e_value += 1.0 / k;
		k *= iteration + 1;
		iteration++;
	}
	return e_value;
}

/* class CalculateE(Process) */
typedef struct {
	tp_process *process;
	tp_queue *result_queue; /* SimpleQueue: the value comes back here */
	tp_event *exit_event;   /* will tell the process to stop */
} CalculateE;

TP_TASK(run) /* CalculateE.run(), in the child */
{
	tp_event *exit_event;
	tp_queue *result_queue;
	TP_TRY(tp_unpack(args, "EQ", &exit_event, &result_queue));
	tp_queue_put_double(result_queue, calculate_e(exit_event), -1);
	return tp_free("EQ", exit_event, result_queue);
}

static int CalculateE_start(CalculateE *self)
{
	tp_payload *args;
	TP_TRY(tp_simple_queue_new(&self->result_queue));
	TP_TRY(tp_event_new(&self->exit_event));
	TP_TRY(tp_pack_new(&args, "EQ", self->exit_event, self->result_queue));
	int rv =
	    tp_process_new(&self->process, run, args,
	                   &(tp_process_opts){.name = "calculate_e_process"});
	tp_payload_free(args);
	return rv ? rv : tp_process_start(self->process);
}

static double CalculateE_get(CalculateE *self)
{
	double result = 0;
	tp_queue_get_double(self->result_queue, &result, -1); /* blocks */
	return result;
}

int main(int argc, char **argv)
{
	CalculateE e_process = {0};
	tp_init(NULL), CalculateE_start(&e_process);
	usleep((argc > 1 ? atof(argv[1]) : 3.0) * 1e6); /* other useful stuff */
	tp_event_set(e_process.exit_event);             /* tell it to stop */
	tp_print("d", CalculateE_get(&e_process));      /* print e */
	tp_process_join(e_process.process, -1);
	tp_free("TQE", e_process.process, e_process.result_queue,
	        e_process.exit_event);
	return tp_fini();
}
