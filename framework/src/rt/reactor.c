/*
 * reactor.c - the one event loop (reactor.h): epoll for fds, pidfds,
 * signalfds and eventfds; timers kept in a list and turned into the
 * epoll timeout.
 *
 * Why the deferred free: epoll_wait returns a batch of events whose
 * data.ptr are sources; a callback may remove any source (its own, or one
 * whose event comes later in the same batch). A removed source is marked
 * dead, taken out of epoll and its lists at once, and kept on a graveyard
 * until the batch is done, so a pending event of it is seen as dead and
 * skipped instead of touching freed memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "pidwatch.h"
#include "reactor.h"
#include "troupe/error.h"

#define MAX_EVENTS 64

enum kind { K_FD, K_TIMER, K_PID, K_SIG, K_WAKE };

struct tp__rsrc {
	tp__reactor *r;
	enum kind kind;
	int fd;
	int own_fd; /* closed at removal */
	pid_t pid;
	int fired; /* a pid source said so */
	int dead;
	int64_t due; /* a timer: 0 when not armed */
	tp__rsrc_fn fn;
	void *arg;
	tp__rsrc *prev, *next; /* r->live or r->grave */
};

struct tp__reactor {
	int epfd;
	int stop;
	tp__rsrc *live, *grave;
	int ntimers;
	void (*round_fn)(void *arg);
	void *round_arg;
	void (*wait_before)(void *arg), (*wait_after)(void *arg);
	void *wait_arg;
	int (*idle_fn)(void *arg);
	void *idle_arg;
};

int tp__reactor_new(tp__reactor **out)
{
	tp__reactor *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return TP_ENOMEM;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		int e = errno;
		free(r);
		return tp_err_errno(e);
	}
	*out = r;
	return TP_OK;
}

static void unlink_src(tp__rsrc **head, tp__rsrc *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void push_src(tp__rsrc **head, tp__rsrc *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head != NULL)
		(*head)->prev = s;
	*head = s;
}

static void bury(tp__reactor *r)
{
	while (r->grave != NULL) {
		tp__rsrc *s = r->grave;
		r->grave = s->next;
		free(s);
	}
}

void tp__reactor_free(tp__reactor *r)
{
	if (r == NULL)
		return;
	while (r->live != NULL)
		tp__reactor_del(r->live);
	bury(r);
	close(r->epfd);
	free(r);
}

void tp__reactor_forget(tp__reactor *r)
{
	if (r == NULL)
		return;
	for (tp__rsrc *s = r->live; s != NULL; s = s->next)
		if (s->own_fd && s->fd >= 0)
			close(s->fd);
	close(r->epfd);
}

/* A new source; an fd one is added to epoll (taking own_fd on failure). */
static int add(tp__reactor *r, enum kind k, int fd, int own, uint32_t events,
               tp__rsrc_fn fn, void *arg, tp__rsrc **out)
{
	tp__rsrc *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		if (own && fd >= 0)
			close(fd);
		return TP_ENOMEM;
	}
	*s = (tp__rsrc){
	    .r = r, .kind = k, .fd = fd, .own_fd = own, .fn = fn, .arg = arg};
	if (fd >= 0) {
		struct epoll_event ev = {.events = events, .data.ptr = s};
		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			int e = errno;
			if (own)
				close(fd);
			free(s);
			return tp_err_errno(e);
		}
	}
	push_src(&r->live, s);
	if (out != NULL)
		*out = s;
	return TP_OK;
}

int tp__reactor_add_fd(tp__reactor *r, int fd, uint32_t events, tp__rsrc_fn fn,
                       void *arg, tp__rsrc **out)
{
	if (r == NULL || fd < 0 || fn == NULL)
		return TP_EINVAL;
	return add(r, K_FD, fd, 0, events, fn, arg, out);
}

int tp__reactor_mod_fd(tp__rsrc *s, uint32_t events)
{
	if (s == NULL || s->dead || s->kind != K_FD)
		return TP_EINVAL;
	struct epoll_event ev = {.events = events, .data.ptr = s};
	if (epoll_ctl(s->r->epfd, EPOLL_CTL_MOD, s->fd, &ev) != 0)
		return tp_err_errno(errno);
	return TP_OK;
}

int tp__reactor_add_timer(tp__reactor *r, int64_t due_ms, tp__rsrc_fn fn,
                          void *arg, tp__rsrc **out)
{
	tp__rsrc *s;
	if (r == NULL || fn == NULL || due_ms < 0)
		return TP_EINVAL;
	int rv = add(r, K_TIMER, -1, 0, 0, fn, arg, &s);
	if (rv != TP_OK)
		return rv;
	r->ntimers++;
	s->due = due_ms;
	if (out != NULL)
		*out = s;
	return TP_OK;
}

void tp__reactor_timer_set(tp__rsrc *s, int64_t due_ms)
{
	if (s != NULL && !s->dead && s->kind == K_TIMER)
		s->due = due_ms > 0 ? due_ms : 0;
}

int64_t tp__reactor_timer_due(const tp__rsrc *s)
{
	return s != NULL && s->kind == K_TIMER ? s->due : 0;
}

int tp__reactor_add_pid(tp__reactor *r, pid_t pid, tp__rsrc_fn fn, void *arg,
                        tp__rsrc **out)
{
	int fd, rv;
	if (r == NULL || fn == NULL || pid <= 0)
		return TP_EINVAL;
	if ((rv = tp__pid_watch(pid, &fd)) != TP_OK)
		return rv;
	return tp__reactor_add_pidfd(r, fd, pid, fn, arg, out);
}

int tp__reactor_add_pidfd(tp__reactor *r, int pidfd, pid_t pid, tp__rsrc_fn fn,
                          void *arg, tp__rsrc **out)
{
	tp__rsrc *s;
	int rv;
	if (r == NULL || fn == NULL || pidfd < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return TP_EINVAL;
	}
	if ((rv = add(r, K_PID, pidfd, 1, EPOLLIN, fn, arg, &s)) != TP_OK)
		return rv;
	s->pid = pid;
	if (out != NULL)
		*out = s;
	return TP_OK;
}

int tp__reactor_add_signals(tp__reactor *r, const sigset_t *set, tp__rsrc_fn fn,
                            void *arg, tp__rsrc **out)
{
	if (r == NULL || set == NULL || fn == NULL)
		return TP_EINVAL;
	pthread_sigmask(SIG_BLOCK, set, NULL);
	int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return tp_err_errno(errno);
	return add(r, K_SIG, fd, 1, EPOLLIN, fn, arg, out);
}

int tp__reactor_add_wake(tp__reactor *r, tp__rsrc_fn fn, void *arg,
                         tp__rsrc **out)
{
	if (r == NULL || fn == NULL)
		return TP_EINVAL;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return tp_err_errno(errno);
	return add(r, K_WAKE, fd, 1, EPOLLIN, fn, arg, out);
}

void tp__reactor_wake(tp__rsrc *s)
{
	uint64_t one = 1;
	if (s != NULL && s->kind == K_WAKE)
		(void)!write(s->fd, &one, sizeof(one));
}

void tp__reactor_del(tp__rsrc *s)
{
	if (s == NULL || s->dead)
		return;
	tp__reactor *r = s->r;
	s->dead = 1;
	if (s->fd >= 0 && !s->fired)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	if (s->kind == K_TIMER)
		r->ntimers--;
	unlink_src(&r->live, s);
	push_src(&r->grave, s);
}

int tp__rsrc_fd(const tp__rsrc *s)
{
	return s != NULL && s->kind == K_FD ? s->fd : -1;
}

pid_t tp__rsrc_pid(const tp__rsrc *s)
{
	return s != NULL && s->kind == K_PID ? s->pid : 0;
}

void tp__reactor_on_round(tp__reactor *r, void (*fn)(void *arg), void *arg)
{
	r->round_fn = fn;
	r->round_arg = arg;
}

void tp__reactor_on_wait(tp__reactor *r, void (*before)(void *arg),
                         void (*after)(void *arg), void *arg)
{
	r->wait_before = before;
	r->wait_after = after;
	r->wait_arg = arg;
}

void tp__reactor_on_idle(tp__reactor *r, int (*fn)(void *arg), void *arg)
{
	r->idle_fn = fn;
	r->idle_arg = arg;
}

void tp__reactor_stop(tp__reactor *r)
{
	if (r != NULL)
		r->stop = 1;
}

int tp__reactor_stopped(const tp__reactor *r)
{
	return r != NULL && r->stop;
}

/* The earliest armed timer (0: none). */
static int64_t next_due(const tp__reactor *r)
{
	int64_t due = 0;
	if (r->ntimers == 0)
		return 0;
	for (const tp__rsrc *s = r->live; s != NULL; s = s->next)
		if (s->kind == K_TIMER && s->due != 0 &&
		    (due == 0 || s->due < due))
			due = s->due;
	return due;
}

/* Fires every timer due by now; returns how many. A timer armed by a
 * callback for a time already past fires in the next round. */
static int fire_timers(tp__reactor *r)
{
	int64_t now = tp__now_ms();
	int n = 0;
	if (r->ntimers == 0)
		return 0;
	/* Disarm the due ones first, so that a callback's re-arming or
	 * removal does not upset the walk. */
	tp__rsrc *due = NULL;
	for (tp__rsrc *s = r->live; s != NULL; s = s->next)
		if (s->kind == K_TIMER && s->due != 0 && s->due <= now)
			s->due = -1; /* marked: due this round */
	for (tp__rsrc *s = r->live; s != NULL;) {
		tp__rsrc *next = s->next;
		if (s->kind == K_TIMER && s->due == -1) {
			s->due = 0;
			due = s;
			break;
		}
		s = next;
	}
	while (due != NULL && !r->stop) {
		due->fn(due, 0, due->arg);
		n++;
		due = NULL;
		for (tp__rsrc *s = r->live; s != NULL; s = s->next)
			if (s->kind == K_TIMER && s->due == -1) {
				s->due = 0;
				due = s;
				break;
			}
	}
	for (tp__rsrc *s = r->live; s != NULL; s = s->next)
		if (s->kind == K_TIMER && s->due == -1)
			s->due = now; /* stopped mid-way: due again */
	return n;
}

static void dispatch(tp__rsrc *s, uint32_t events)
{
	if (s->kind == K_SIG) {
		struct signalfd_siginfo si;
		if (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			s->fn(s, si.ssi_signo, s->arg);
	} else if (s->kind == K_WAKE) {
		uint64_t v;
		(void)!read(s->fd, &v, sizeof(v));
		s->fn(s, 0, s->arg);
	} else if (s->kind == K_PID) {
		/* Once: a pidfd stays readable after the exit. */
		epoll_ctl(s->r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->fired = 1;
		s->fn(s, 0, s->arg);
	} else {
		s->fn(s, events, s->arg);
	}
}

int tp__reactor_run_once(tp__reactor *r, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	if (r->idle_fn != NULL && (r->idle_fn(r->idle_arg) || r->stop))
		timeout_ms = 0; /* it spins (or stopped the loop): a poll */
	int64_t due = next_due(r);
	if (due != 0) {
		int64_t left = due - tp__now_ms();
		if (left < 0)
			left = 0;
		if (timeout_ms < 0 || left < timeout_ms)
			timeout_ms = left > INT32_MAX ? INT32_MAX : (int)left;
	}
	if (r->wait_before != NULL)
		r->wait_before(r->wait_arg);
	int n = epoll_wait(r->epfd, evs, MAX_EVENTS, timeout_ms);
	int e = errno;
	if (r->wait_after != NULL)
		r->wait_after(r->wait_arg);
	if (n < 0 && e != EINTR)
		return tp_err_errno(e);
	int ran = 0;
	for (int i = 0; i < n && !r->stop; i++) {
		tp__rsrc *s = evs[i].data.ptr;
		if (s->dead)
			continue;
		dispatch(s, evs[i].events);
		ran++;
	}
	if (!r->stop)
		ran += fire_timers(r);
	if (r->round_fn != NULL)
		r->round_fn(r->round_arg);
	bury(r);
	return ran;
}

int tp__reactor_run(tp__reactor *r)
{
	while (!r->stop) {
		int rv = tp__reactor_run_once(r, -1);
		if (rv < 0)
			return rv;
	}
	return TP_OK;
}
