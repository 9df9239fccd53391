/*
 * test_reactor.c - the one event loop every service stands on
 * (framework/src/rt/reactor.h): fd, timer, pid, signals and wake sources
 * deliver their events on the loop's thread; a source removed from its own
 * callback, or from another's while its event is pending in the same
 * round, is never called again and its memory is not touched; a wake-up
 * from another thread reaches the loop and can stop it; a forked copy (the
 * fork server's children) closes every fd the loop opened and keeps the
 * caller's own; a pid source on the caller's pidfd; the wait hooks run
 * around the wait only; the idle hook runs before every wait, turns it
 * into a poll when it asks to, and may stop the loop. Every wait is bounded
 * (run_once with a timeout inside a deadline).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "pidwatch.h"
#include "reactor.h"
#include "testutil.h"

#define BOUND_MS 5000

/* Runs rounds until *flag is set (or the bound passes: a failure). */
static void run_until(tp__reactor *r, const int *flag)
{
	int64_t end = tp__now_ms() + BOUND_MS;
	while (!*flag && tp__now_ms() < end)
		assert_true(tp__reactor_run_once(r, 100) >= 0);
	assert_true(*flag);
}

struct fdctx {
	int fd, calls;
	uint32_t events;
	char got;
};

static void on_fd(tp__rsrc *s, uint32_t events, void *arg)
{
	struct fdctx *c = arg;
	assert_int_equal(tp__rsrc_fd(s), c->fd);
	c->events = events;
	assert_int_equal(read(c->fd, &c->got, 1), 1);
	c->calls++;
}

static void fd_source(void **state)
{
	(void)state;
	tp__reactor *r;
	int p[2];
	struct fdctx c = {0};
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	assert_int_equal(pipe(p), 0);
	c.fd = p[0];
	TP_OK_OR_FAIL(tp__reactor_add_fd(r, p[0], EPOLLIN, on_fd, &c, NULL));
	/* nothing readable: the round times out, nothing runs */
	assert_int_equal(tp__reactor_run_once(r, 10), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	run_until(r, &c.calls);
	assert_int_equal(c.calls, 1);
	assert_true(c.events & EPOLLIN);
	assert_int_equal(c.got, 'x');
	tp__reactor_free(r); /* frees the source; the fd stays ours */
	assert_int_equal(write(p[1], "y", 1), 1);
	close(p[0]);
	close(p[1]);
	/* bad arguments */
	TP_EXPECT(tp__reactor_add_fd(NULL, 0, EPOLLIN, on_fd, NULL, NULL),
	          TP_EINVAL);
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	TP_EXPECT(tp__reactor_add_fd(r, -1, EPOLLIN, on_fd, NULL, NULL),
	          TP_EINVAL);
	assert_int_not_equal(
	    tp__reactor_add_fd(r, 1000000, EPOLLIN, on_fd, NULL, NULL),
	    TP_OK); /* EBADF, wrapped */
	tp__reactor_free(r);
}

struct timerctx {
	int fired;
	int rearm; /* times left to re-arm itself */
	int64_t at;
};

static void on_timer(tp__rsrc *s, uint32_t events, void *arg)
{
	struct timerctx *t = arg;
	(void)events;
	assert_int_equal(tp__reactor_timer_due(s), 0); /* disarmed first */
	t->fired++;
	t->at = tp__now_ms();
	if (t->rearm-- > 0)
		tp__reactor_timer_set(s, tp__now_ms() + 5);
}

static void timer_source(void **state)
{
	(void)state;
	tp__reactor *r;
	tp__rsrc *s, *idle;
	struct timerctx t = {0}, u = {0};
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	int64_t start = tp__now_ms();
	TP_OK_OR_FAIL(tp__reactor_add_timer(r, start + 20, on_timer, &t, &s));
	TP_OK_OR_FAIL(tp__reactor_add_timer(r, 0, on_timer, &u, &idle));
	run_until(r, &t.fired);
	assert_true(t.at >= start + 20); /* never early */
	assert_int_equal(u.fired, 0);    /* never armed */
	/* fires once per arming; re-armed from its own callback */
	t.fired = 0;
	t.rearm = 2;
	tp__reactor_timer_set(s, tp__now_ms());
	int64_t end = tp__now_ms() + BOUND_MS;
	while (t.fired < 3 && tp__now_ms() < end)
		assert_true(tp__reactor_run_once(r, 100) >= 0);
	assert_int_equal(t.fired, 3);
	assert_int_equal(tp__reactor_run_once(r, 20), 0); /* not again */
	/* a disarmed timer does not fire */
	tp__reactor_timer_set(s, tp__now_ms() + 1);
	tp__reactor_timer_set(s, 0);
	assert_int_equal(tp__reactor_run_once(r, 20), 0);
	assert_int_equal(t.fired, 3);
	tp__reactor_free(r);
}

struct pidctx {
	int fired;
	pid_t pid;
};

static void on_pid(tp__rsrc *s, uint32_t events, void *arg)
{
	struct pidctx *c = arg;
	(void)events;
	c->pid = tp__rsrc_pid(s);
	c->fired++;
}

/* A child that exits 7 once a byte comes on go[1] (the caller's end). */
static pid_t fork_waiting(int go[2])
{
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char b;
		close(go[1]);
		_exit(read(go[0], &b, 1) == 1 ? 7 : 8);
	}
	close(go[0]);
	return pid;
}

/* Lets fork_waiting's child end: its pid source fires once, though the
 * pidfd stays readable (not reaped yet); then it is reaped (exit 7). */
static void let_go_and_reap(tp__reactor *r, struct pidctx *c, int go[2],
                            pid_t pid)
{
	int st;
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	run_until(r, &c->fired);
	assert_int_equal(c->pid, pid);
	assert_int_equal(tp__reactor_run_once(r, 20), 0);
	assert_int_equal(c->fired, 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

static void pid_source(void **state)
{
	(void)state;
	tp__reactor *r;
	struct pidctx c = {0};
	int go[2];
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	pid_t pid = fork_waiting(go);
	TP_OK_OR_FAIL(tp__reactor_add_pid(r, pid, on_pid, &c, NULL));
	assert_int_equal(tp__reactor_run_once(r, 10), 0); /* still runs */
	let_go_and_reap(r, &c, go, pid);
	/* a pid that is not there; a bad one */
	assert_int_not_equal(tp__reactor_add_pid(r, pid, on_pid, &c, NULL),
	                     TP_OK);
	TP_EXPECT(tp__reactor_add_pid(r, 0, on_pid, &c, NULL), TP_EINVAL);
	tp__reactor_free(r);
}

/* Two readable pipes: whichever callback runs first removes itself and
 * the other, whose event is pending in the same round. */
struct selfdel {
	tp__rsrc *src[2];
	int calls[2];
};

static void on_selfdel(tp__rsrc *s, uint32_t events, void *arg)
{
	struct selfdel *d = arg;
	int i = s == d->src[0] ? 0 : 1;
	(void)events;
	d->calls[i]++;
	tp__reactor_del(s);
	tp__reactor_del(d->src[1 - i]);
	tp__reactor_del(d->src[1 - i]); /* twice: harmless */
}

static void remove_in_callback(void **state)
{
	(void)state;
	tp__reactor *r;
	struct selfdel d = {0};
	int a[2], b[2];
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	TP_OK_OR_FAIL(
	    tp__reactor_add_fd(r, a[0], EPOLLIN, on_selfdel, &d, &d.src[0]));
	TP_OK_OR_FAIL(
	    tp__reactor_add_fd(r, b[0], EPOLLIN, on_selfdel, &d, &d.src[1]));
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* both are ready in the first round; one callback runs */
	assert_int_equal(tp__reactor_run_once(r, 1000), 1);
	assert_int_equal(d.calls[0] + d.calls[1], 1);
	/* still readable, but removed: nothing runs again */
	assert_int_equal(tp__reactor_run_once(r, 20), 0);
	assert_int_equal(d.calls[0] + d.calls[1], 1);
	tp__reactor_free(r);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* A timer that removes itself, and one that removes a due sibling. */
static void on_timer_del(tp__rsrc *s, uint32_t events, void *arg)
{
	struct selfdel *d = arg;
	on_selfdel(s, events, d);
}

static void remove_timer_in_callback(void **state)
{
	(void)state;
	tp__reactor *r;
	struct selfdel d = {0};
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	int64_t now = tp__now_ms();
	TP_OK_OR_FAIL(
	    tp__reactor_add_timer(r, now, on_timer_del, &d, &d.src[0]));
	TP_OK_OR_FAIL(
	    tp__reactor_add_timer(r, now, on_timer_del, &d, &d.src[1]));
	assert_int_equal(tp__reactor_run_once(r, 1000), 1);
	assert_int_equal(d.calls[0] + d.calls[1], 1);
	assert_int_equal(tp__reactor_run_once(r, 20), 0);
	tp__reactor_free(r);
}

struct wakectx {
	tp__reactor *r;
	tp__rsrc *bell;
	int woken;
	pthread_t loop;
};

static void on_wake(tp__rsrc *s, uint32_t events, void *arg)
{
	struct wakectx *w = arg;
	(void)s;
	(void)events;
	assert_true(pthread_equal(pthread_self(), w->loop));
	w->woken++;
	tp__reactor_stop(w->r);
}

static void *ringer(void *arg)
{
	struct wakectx *w = arg;
	tp__reactor_wake(w->bell);
	return NULL;
}

static void wake_from_thread(void **state)
{
	(void)state;
	struct wakectx w = {0};
	pthread_t t;
	TP_OK_OR_FAIL(tp__reactor_new(&w.r));
	TP_OK_OR_FAIL(tp__reactor_add_wake(w.r, on_wake, &w, &w.bell));
	w.loop = pthread_self();
	/* a timer bounds the run should the wake-up be lost */
	struct timerctx guard = {0};
	TP_OK_OR_FAIL(tp__reactor_add_timer(w.r, tp__now_ms() + BOUND_MS,
	                                    on_timer, &guard, NULL));
	assert_int_equal(pthread_create(&t, NULL, ringer, &w), 0);
	while (!tp__reactor_stopped(w.r) && guard.fired == 0)
		assert_true(tp__reactor_run_once(w.r, -1) >= 0);
	pthread_join(t, NULL);
	assert_int_equal(guard.fired, 0);
	assert_int_equal(w.woken, 1);
	assert_true(tp__reactor_stopped(w.r));
	TP_OK_OR_FAIL(tp__reactor_run(w.r)); /* stopped: returns at once */
	tp__reactor_free(w.r);
}

/* Rings coalesce: many before the loop looks are one callback. */
static void wake_coalesces(void **state)
{
	(void)state;
	struct wakectx w = {0};
	TP_OK_OR_FAIL(tp__reactor_new(&w.r));
	TP_OK_OR_FAIL(tp__reactor_add_wake(w.r, on_wake, &w, &w.bell));
	w.loop = pthread_self();
	for (int i = 0; i < 10; i++)
		tp__reactor_wake(w.bell);
	assert_int_equal(tp__reactor_run_once(w.r, 1000), 1);
	assert_int_equal(w.woken, 1);
	tp__reactor_free(w.r);
}

static void on_sig(tp__rsrc *s, uint32_t signo, void *arg)
{
	(void)s;
	*(int *)arg = (int)signo;
}

static void signals_source(void **state)
{
	(void)state;
	tp__reactor *r;
	sigset_t set, old;
	int got = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, NULL, &old);
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	TP_OK_OR_FAIL(tp__reactor_add_signals(r, &set, on_sig, &got, NULL));
	kill(getpid(), SIGUSR2);
	run_until(r, &got);
	assert_int_equal(got, SIGUSR2);
	tp__reactor_free(r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int rounds;
static void on_round(void *arg)
{
	(void)arg;
	rounds++;
}

static void round_hook(void **state)
{
	(void)state;
	tp__reactor *r;
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	tp__reactor_on_round(r, on_round, NULL);
	assert_int_equal(tp__reactor_run_once(r, 0), 0);
	assert_int_equal(tp__reactor_run_once(r, 0), 0);
	assert_int_equal(rounds, 2);
	tp__reactor_free(r);
	tp__reactor_free(NULL);
	tp__reactor_del(NULL);
}

/* The number of open fds of this process. */
static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 3; /* ".", "..", the directory's own fd */
}

static void noop_cb(tp__rsrc *src, uint32_t events, void *arg)
{
	(void)src;
	(void)events;
	(void)arg;
}

/* tp__reactor_forget in a forked copy closes the epoll set, pidfd and
 * eventfd the loop opened, and not an fd source's fd (the caller's). */
static void forget_in_child(void **state)
{
	(void)state;
	tp__reactor *r;
	int p[2];
	assert_int_equal(pipe(p), 0);
	int before = open_fds();
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	TP_OK_OR_FAIL(
	    tp__reactor_add_fd(r, p[0], EPOLLIN, noop_cb, NULL, NULL));
	TP_OK_OR_FAIL(tp__reactor_add_pid(r, getpid(), noop_cb, NULL, NULL));
	TP_OK_OR_FAIL(tp__reactor_add_wake(r, noop_cb, NULL, NULL));
	assert_int_equal(open_fds(), before + 3);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		tp__reactor_forget(r);
		_exit(open_fds() == before && fcntl(p[0], F_GETFD) >= 0 ? 0
		                                                        : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* the parent's loop is untouched */
	assert_int_equal(open_fds(), before + 3);
	assert_int_equal(tp__reactor_run_once(r, 0), 0);
	tp__reactor_free(r);
	assert_int_equal(open_fds(), before);
	close(p[0]);
	close(p[1]);
}

/* A pid source on a pidfd the caller opened: fires once, and the
 * caller's own pidfd may be closed at once (the source holds a dup). */
static void pidfd_source(void **state)
{
	(void)state;
	tp__reactor *r;
	struct pidctx c = {0};
	int go[2], pfd;
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	pid_t pid = fork_waiting(go);
	TP_OK_OR_FAIL(tp__pid_watch(pid, &pfd));
	int d = dup(pfd);
	close(pfd);
	TP_OK_OR_FAIL(tp__reactor_add_pidfd(r, d, pid, on_pid, &c, NULL));
	let_go_and_reap(r, &c, go, pid);
	TP_EXPECT(tp__reactor_add_pidfd(r, -1, pid, on_pid, &c, NULL),
	          TP_EINVAL);
	tp__reactor_free(r);
}

/* The wait hooks run around each round's wait, before any callback. */
static int waits[2], order_ok = 1;
static void before_wait(void *arg)
{
	(void)arg;
	order_ok &= waits[0] == waits[1];
	waits[0]++;
}
static void after_wait(void *arg)
{
	(void)arg;
	waits[1]++;
	order_ok &= waits[0] == waits[1];
}
static void on_wait_fd(tp__rsrc *s, uint32_t events, void *arg)
{
	(void)s;
	(void)events;
	*(int *)arg = waits[0] == waits[1]; /* after the wait ended */
}

static void wait_hooks(void **state)
{
	(void)state;
	tp__reactor *r;
	int p[2], seen = 0;
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	assert_int_equal(pipe(p), 0);
	TP_OK_OR_FAIL(
	    tp__reactor_add_fd(r, p[0], EPOLLIN, on_wait_fd, &seen, NULL));
	tp__reactor_on_wait(r, before_wait, after_wait, NULL);
	assert_int_equal(tp__reactor_run_once(r, 0), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(tp__reactor_run_once(r, 1000), 1);
	assert_int_equal(seen, 1);
	assert_int_equal(waits[0], 2);
	assert_true(order_ok);
	tp__reactor_free(r);
	close(p[0]);
	close(p[1]);
}

/* The idle hook: spins (returns 1) for its first 3 calls, then writes
 * the pipe the loop waits on and lets it sleep. */
struct idle_st {
	int calls, wfd;
};

static int on_idle(void *arg)
{
	struct idle_st *st = arg;
	if (++st->calls <= 3)
		return 1;
	if (st->calls == 4 && write(st->wfd, "x", 1) != 1)
		return 1;
	return 0;
}

static void on_idle_fd(tp__rsrc *s, uint32_t events, void *arg)
{
	char b;
	(void)s;
	(void)events;
	(void)!read(*(int *)arg, &b, 1);
}

static void idle_hook(void **state)
{
	(void)state;
	tp__reactor *r;
	int p[2];
	struct idle_st st = {0, -1};
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	assert_int_equal(pipe(p), 0);
	st.wfd = p[1];
	TP_OK_OR_FAIL(
	    tp__reactor_add_fd(r, p[0], EPOLLIN, on_idle_fd, &p[0], NULL));
	tp__reactor_on_idle(r, on_idle, &st);
	/* nothing to do, no timer: each round would wait forever but for
	 * the hook's 1 */
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(tp__reactor_run_once(r, -1), 0);
		assert_int_equal(st.calls, i);
	}
	/* the hook arms the fd and lets the round wait: it wakes on it */
	assert_int_equal(tp__reactor_run_once(r, BOUND_MS), 1);
	assert_int_equal(st.calls, 4);
	tp__reactor_on_idle(r, NULL, NULL);
	assert_int_equal(tp__reactor_run_once(r, 0), 0);
	assert_int_equal(st.calls, 4);
	tp__reactor_free(r);
	close(p[0]);
	close(p[1]);
}

/* A hook that stops the loop: run returns without waiting. */
static int stop_idle(void *arg)
{
	tp__reactor_stop(arg);
	return 0;
}

static void idle_hook_stops(void **state)
{
	(void)state;
	tp__reactor *r;
	TP_OK_OR_FAIL(tp__reactor_new(&r));
	tp__reactor_on_idle(r, stop_idle, r);
	TP_OK_OR_FAIL(tp__reactor_run(r));
	assert_true(tp__reactor_stopped(r));
	tp__reactor_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fd_source),
	    cmocka_unit_test(timer_source),
	    cmocka_unit_test(pid_source),
	    cmocka_unit_test(remove_in_callback),
	    cmocka_unit_test(remove_timer_in_callback),
	    cmocka_unit_test(wake_from_thread),
	    cmocka_unit_test(wake_coalesces),
	    cmocka_unit_test(signals_source),
	    cmocka_unit_test(round_hook),
	    cmocka_unit_test(forget_in_child),
	    cmocka_unit_test(pidfd_source),
	    cmocka_unit_test(wait_hooks),
	    cmocka_unit_test(idle_hook),
	    cmocka_unit_test(idle_hook_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
