/*
 * child.c - what runs in a child process around its target, under every
 * start method: read the start request from the control channel, arm
 * PR_SET_PDEATHSIG (and check the race against a parent that died before
 * prctl), install the crash handlers, run the target, send its result, and
 * finish the child's own children before _exit.
 *
 * Crash reports: SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT are caught on
 * an alternate signal stack. The handler walks the faulting stack with
 * libunwind (unw_init_local2 from the signal context; symbol names come
 * from the ELF symbol tables, so static functions are named too), writes
 * the report to "<rundir>/crash-<pid>" with async-signal-safe calls only,
 * then re-raises the signal with its default action so the exit status
 * still shows the signal (and a core dump, if enabled). Whoever reaps the
 * child turns that file into the exit event's report.
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log_int.h"
#include "process_int.h"
#include "spin.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static char crash_file[300];
static char crash_buf[16384];
static char alt_stack[65536];

struct out {
	char *p;
	size_t left;
};

static void out_str(struct out *o, const char *s)
{
	while (*s && o->left > 1) {
		*o->p++ = *s++;
		o->left--;
	}
	*o->p = '\0';
}

static void out_num(struct out *o, unsigned long v, int base)
{
	char tmp[32];
	int i = (int)sizeof(tmp) - 1;
	tmp[i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v && i > 0);
	if (base == 16)
		out_str(o, "0x");
	out_str(o, tmp + i);
}

static void crash_backtrace(struct out *o, void *uc)
{
	unw_cursor_t cur;
	char sym[256];
	unw_word_t ip, off;
	if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) !=
	    0) {
		out_str(o, "  (no backtrace)\n");
		return;
	}
	for (int i = 0; i < 64; i++) {
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		out_str(o, "  #");
		out_num(o, (unsigned long)i, 10);
		out_str(o, " ");
		out_num(o, (unsigned long)ip, 16);
		if (unw_get_proc_name(&cur, sym, sizeof(sym), &off) == 0) {
			out_str(o, " in ");
			out_str(o, sym);
			out_str(o, "+");
			out_num(o, (unsigned long)off, 16);
		} else {
			out_str(o, " in ??");
		}
		out_str(o, "\n");
		if (unw_step(&cur) <= 0)
			break;
	}
}

static void crash_handler(int sig, siginfo_t *si, void *uc)
{
	struct out o = {crash_buf, sizeof(crash_buf)};
	const char *abbrev = sigabbrev_np(sig), *descr = sigdescr_np(sig);
	out_str(&o, "Process ");
	out_str(&o, tp__pm.self.name);
	out_str(&o, " (pid ");
	out_num(&o, (unsigned long)getpid(), 10);
	out_str(&o, "): killed by SIG");
	out_str(&o, abbrev ? abbrev : "?");
	out_str(&o, " (");
	out_str(&o, descr ? descr : "?");
	out_str(&o, ")");
	if (sig != SIGABRT) {
		out_str(&o, " at address ");
		out_num(&o, (unsigned long)si->si_addr, 16);
	}
	out_str(&o, "\nBacktrace of the child at the fault (most recent "
	            "call first):\n");
	crash_backtrace(&o, uc);
	/* "<rundir>/crash-<pid>" (tp__crash_path), built here rather than
	 * at start: a child that never crashes never runs the printf code */
	struct out path = {crash_file, sizeof(crash_file)};
	out_str(&path, tp__rt.dir);
	out_str(&path, "/crash-");
	out_num(&path, (unsigned long)getpid(), 10);
	int fd =
	    open(crash_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t w = write(fd, crash_buf, strlen(crash_buf));
		(void)w;
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig); /* delivered with the default action when we return */
}

static void crash_install(void)
{
	stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof(alt_stack)};
	struct sigaction sa;
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(int); i++)
		sigaction(crash_signals[i], &sa, NULL);
}

void tp__close_inherited(void)
{
	for (tp_process *p = tp__pm.children; p != NULL; p = p->next) {
		if (p->fd >= 0)
			close(p->fd);
		if (p->kid.pidfd >= 0)
			close(p->kid.pidfd);
	}
	tp__pm.children = NULL;
	if (tp__pm.server_fd >= 0)
		close(tp__pm.server_fd);
	tp__pm.server_fd = -1;
	tp__pm.server_pid = 0;
	tp__server_forget();
	if (tp__pm.ctl_fd >= 0)
		close(tp__pm.ctl_fd);
	tp__pm.ctl_fd = -1;
	tp__exit_log_close();
}

/* getpid through syscall(), already mapped in a fork server's child
 * (libc's getpid is one more page of code to fault in). */
static pid_t self_pid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

static void child_atexit(void)
{
	if (tp__pm.is_child && self_pid() == tp__pm.self_pid) {
		pthread_mutex_lock(&tp__pm.mu);
		int any = tp__pm.children != NULL || tp__pm.server_fd >= 0;
		pthread_mutex_unlock(&tp__pm.mu);
		if (any) /* else nothing to finish: its code stays unmapped */
			tp__finish_children();
		tp__pm.is_child = 0;
	}
}

/* Copies s, cut to fit n bytes (snprintf's "%s" without the printf code,
 * which a child would otherwise page in on every start). */
static void copy_str(char *d, size_t n, const char *s)
{
	size_t len = strnlen(s, n - 1);
	memcpy(d, s, len);
	d[len] = '\0';
}

/* The child's view of itself and its parent, from the start request. */
static void child_identity(const Troupe__ProcessStart *st)
{
	tp_process *self = &tp__pm.self, *parent = &tp__pm.parent;
	copy_str(parent->name, sizeof(parent->name), st->parent_name);
	parent->pid = st->parent_pid;
	parent->state = PROC_SELF;
	tp__pm.have_parent = 1;
	copy_str(self->name, sizeof(self->name), st->name);
	copy_str(self->identity, sizeof(self->identity), st->identity);
	self->daemon = st->daemon;
	self->pid = tp__pm.self_pid;
	self->state = PROC_SELF;
	if (st->default_method > TP_START_DEFAULT &&
	    st->default_method <= TP_START_FORK)
		tp__rt.method = (tp_start_method)st->default_method;
}

static int child_send_started(int fd)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ProcessStarted st = TROUPE__PROCESS_STARTED__INIT;
	st.pid = tp__pm.self_pid;
	env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_STARTED;
	env.process_started = &st;
	return tp__ctl_send(fd, &env);
}

int tp__process_ready_send(void)
{
	static int sent;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ProcessReady r = TROUPE__PROCESS_READY__INIT;
	if (!tp__pm.is_child || tp__pm.ctl_fd < 0 ||
	    tp__pm.self_pid != getpid())
		return TP_ENOENT;
	if (sent)
		return TP_OK;
	sent = 1;
	env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_READY;
	env.process_ready = &r;
	return tp__ctl_send(tp__pm.ctl_fd, &env);
}

static void child_send_result(int fd, const tp_payload *res)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ProcessResult pr = TROUPE__PROCESS_RESULT__INIT;
	Troupe__Payload pb;
	if (tp__payload_to_pb(res, &pb) != TP_OK)
		return;
	pr.result = &pb;
	env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_RESULT;
	env.process_result = &pr;
	int rv = tp__ctl_send(fd, &env);
	if (rv != TP_OK && rv != TP_ECLOSED)
		fprintf(stderr, "troupe: %s: result not sent: %s\n",
		        tp__pm.self.name, tp_strerror(rv));
	tp__payload_pb_release(&pb);
}

/* As Python: a child's stdin is /dev/null, so that children never compete
 * with the parent for the terminal. */
static void stdin_devnull(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	} else {
		fcntl(fd, F_SETFD, 0);
	}
}

/* Set in the fork server by tp__child_prepare: its clones inherit stdin
 * on /dev/null, the crash handlers (with their alternate stack), the
 * exit handlers (this module's and the logging module's, with its fork
 * handlers) and a buffer for the start request, so a child started by the
 * server makes none of those calls. Each would cost the child system
 * calls and page faults (its first write to a page it shares with the
 * server, its first call into a page of code): about 10 us each on this
 * VM (docs/performance.md, "Fork-server start, per child"). */
static int prepared;
static struct tp_ctlbuf prepared_rb;

void tp__child_prepare(void)
{
	stdin_devnull();
	crash_install();
	tp__log_child_prepare(); /* registers its atexit first, as before */
	if (!tp__pm.atexit_set && atexit(child_atexit) == 0)
		tp__pm.atexit_set = 1;
	prepared_rb.data = malloc(16384);
	prepared_rb.cap = prepared_rb.data != NULL ? 16384 : 0;
	tp__spin_ns(); /* TROUPE_SPIN_US read once, here */
	prepared = 1;
}

static void warm_once(void)
{
}

/* Set by tp__child_warm: the parent-death signal is armed, the module's
 * state reset. */
static pid_t warmed;

/* The part of a child's start that needs no request: the parent-death
 * signal, the module's state, and the first writes to the pages the
 * start writes (the request's buffer, the stack), each a page fault
 * taken here instead of on the start's path. */
void tp__child_warm(pid_t expected_parent)
{
	/* prctl and getppid through syscall(): its code is already mapped in
	 * a clone (the clone returned through it), theirs would fault in. */
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if ((pid_t)syscall(SYS_getppid) != expected_parent)
		_exit(255); /* the parent died before prctl: no orphans */
	tp__pm.mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	tp__pm.children = NULL;
	tp__pm.counter = 0;
	tp__pm.is_child = 1;
	tp__pm.self_pid = self_pid();
	tp__rt.owner = 0; /* the run directory belongs to the main process */
	if (prepared_rb.data != NULL)
		((volatile unsigned char *)prepared_rb.data)[0] = 0;
	volatile unsigned char stack[12288];
	for (size_t i = 0; i < sizeof(stack); i += 4096)
		stack[i] = 0;
	/* a start request encoded, decoded and freed: protobuf-c's code
	 * and tables, malloc's state and the heap page the request uses */
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT, *back = NULL;
	Troupe__ProcessStart st = TROUPE__PROCESS_START__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	unsigned char buf[256];
	st.target = st.name = st.identity = st.parent_name = "warm";
	st.args = &pb;
	env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_START;
	env.process_start = &st;
	size_t n = protobuf_c_message_get_packed_size(&env.base);
	if (n <= sizeof(buf)) {
		protobuf_c_message_pack(&env.base, buf);
		if (tp__envelope_unpack(buf, n, 0, &back) == TP_OK)
			tp__envelope_free(back);
	}
	/* two more pages of code the start calls: libc's getpid and
	 * pthread_once (the logging module's set-up) */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, warm_once);
	(void)getpid();
	warmed = expected_parent;
}

/* Flushes the user's stdio buffers; glibc: only those holding output (or
 * wide-oriented, whose output waits in another buffer), so that a child
 * that printed nothing does not page fflush in. */
#ifdef __GLIBC__
static int has_output(FILE *f)
{
	return f->_mode > 0 || f->_IO_write_ptr > f->_IO_write_base;
}
#endif

static void flush_stdio(void)
{
#ifdef __GLIBC__
	if (has_output(stdout))
		fflush(stdout);
	if (has_output(stderr))
		fflush(stderr);
#else
	fflush(stdout);
	fflush(stderr);
#endif
}

_Noreturn void tp__child_run(int fd, pid_t expected_parent)
{
	/* The server's buffer, taken (never freed here: a free would write
	 * malloc's state, more pages copied, for a child about to exit). */
	struct tp_ctlbuf rb = prepared ? prepared_rb : (struct tp_ctlbuf){0};
	Troupe__Envelope *env = NULL;
	tp_payload *args = NULL, *res = NULL;
	if (warmed != expected_parent) /* a spare has done it already */
		tp__child_warm(expected_parent);
	tp__pm.ctl_fd = fd;
	if (tp__ctl_read(fd, &rb, &env) != TP_OK ||
	    env->body_case != TROUPE__ENVELOPE__BODY_PROCESS_START)
		_exit(255);
	const Troupe__ProcessStart *st = env->process_start;
	if (!prepared)
		stdin_devnull();
	if (st->new_group)
		setpgid(0, 0);
	child_identity(st);
	tp__log_child_start(st->log_config, st->name); /* balsa_clone */
	if (child_send_started(fd) != TP_OK)
		_exit(255);
	tp_target_fn fn = tp__target_find(st->target);
	if (fn == NULL) {
		fprintf(stderr, "troupe: %s: target '%s' is not registered\n",
		        st->name, st->target);
		_exit(255);
	}
	if (st->args != NULL ? tp__payload_from_pb(st->args, &args) != TP_OK
	                     : tp_payload_new(&args) != TP_OK)
		_exit(255);
	tp__envelope_free(env);
	if (!prepared || rb.data != prepared_rb.data)
		tp__ctlbuf_free(&rb); /* a large request's buffer: not kept */
	if (tp_payload_new(&res) != TP_OK)
		_exit(255);
	if (!prepared)
		crash_install();
	if (!tp__pm.atexit_set && atexit(child_atexit) == 0)
		tp__pm.atexit_set = 1;
	int code = fn(args, res);
	child_send_result(fd, res);
	/* args and res are not freed: _exit follows, and a free would keep
	 * one as the thread's spare payload (pthread_once, a key: two more
	 * pages written per child). */
	child_atexit();
	tp__log_child_exit(); /* the last records, bounded wait */
	flush_stdio();
	_exit(code & 0xff);
}
