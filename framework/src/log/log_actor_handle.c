/*
 * log_actor_handle.c - tp_log_actor, the handle of a logging actor whose
 * server (log_actor.c) runs in a child process of its own under a
 * supervisor.
 *
 * The handle makes the actor's address and its state file (struct
 * tp__log_astate in the run directory: counters and the table of expected
 * sequence numbers, shared with every server it ever has), asks the host
 * (registered by the layer above: tp_init puts the server under the
 * program's root supervisor) to start the server, and waits until the
 * server listens. From then on the supervisor restarts a server that
 * dies (kill -9 included) on the same address, with the same state: the
 * gaps of every sender are reported by the new server. Nothing here polls.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "pshared.h"
#include "troupe/error.h"
#include "troupe/runtime.h"

#define LISTEN_WAIT_MS 20000

struct tp_log_actor {
	tp_log_config *cfg; /* with the actor's address */
	char address[200];
	char id[64];
	char state_path[600];
	struct tp__log_astate *st;
	void *sup;  /* the supervisor its server runs under (NULL: root) */
	int hosted; /* its server's spec exists under sup */
	int watch;  /* the sentinel: pidfd of the last server seen */
	pid_t watch_pid;
	pid_t owner;
	struct tp_log_actor *next;
};

static const struct tp__log_host *host;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_log_actor *registry;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static unsigned counter;

void tp__log_set_host(const struct tp__log_host *h)
{
	host = h;
}

static void fork_child(void)
{
	registry = NULL; /* the parent's actors are not this process's */
	pthread_mutex_init(&reg_mu, NULL);
}

static void fork_register(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

static pid_t server_pid(const tp_log_actor *a)
{
	return __atomic_load_n(&a->st->pid, __ATOMIC_ACQUIRE);
}

/* The sentinel follows the current server: its pidfd is put in place of
 * the old one (same fd number), readable once that server ended. */
static void watch_refresh(tp_log_actor *a, pid_t pid)
{
	if (pid <= 0 || pid == a->watch_pid)
		return;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return;
	if (dup3(fd, a->watch, O_CLOEXEC) >= 0)
		a->watch_pid = pid;
	close(fd);
}

/* Waits until a server other than old listens (TP_OK), or a server ended
 * with an error since the state's generation was gen0 (that error). */
static int wait_listen(tp_log_actor *a, pid_t old, uint32_t gen0,
                       int timeout_ms)
{
	struct tp__log_astate *st = a->st;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t dl =
	    (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + timeout_ms;
	for (;;) {
		uint32_t g = __atomic_load_n(&st->gen, __ATOMIC_ACQUIRE);
		pid_t pid = server_pid(a);
		int err = __atomic_load_n(&st->error, __ATOMIC_RELAXED);
		if (pid > 0 && pid != old && tp__pid_alive(pid)) {
			watch_refresh(a, pid);
			return TP_OK;
		}
		if (pid == 0 && err != 0 && g != gen0)
			return err;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		if (ms >= dl)
			return TP_ETIMEDOUT;
		int64_t at = ms + (dl - ms < 100 ? dl - ms : 100);
		struct timespec ts = {(time_t)(at / 1000),
		                      (long)(at % 1000) * 1000000};
		tp__futex_wait(&st->gen, g, &ts);
	}
}

static int state_open(tp_log_actor *a)
{
	int fd =
	    open(a->state_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return tp_err_errno(errno);
	if (ftruncate(fd, sizeof(*a->st)) != 0) {
		int rv = tp_err_errno(errno);
		close(fd);
		unlink(a->state_path);
		return rv;
	}
	void *m = mmap(NULL, sizeof(*a->st), PROT_READ | PROT_WRITE, MAP_SHARED,
	               fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		unlink(a->state_path);
		return tp_err_errno(errno);
	}
	a->st = m;
	return TP_OK;
}

static void actor_release(tp_log_actor *a)
{
	if (a->st != NULL) {
		munmap(a->st, sizeof(*a->st));
		/* the file is its owner's: a forked child leaves it be */
		if (a->owner == 0 || a->owner == getpid())
			unlink(a->state_path);
	}
	if (a->watch >= 0)
		close(a->watch);
	tp_log_config_free(a->cfg);
	free(a);
}

static int actor_new(const tp_log_config *c, void *sup, tp_log_actor **out)
{
	tp_log_actor *a = calloc(1, sizeof(*a));
	uint64_t one = 1;
	int rv;
	if (a == NULL)
		return TP_ENOMEM;
	a->sup = sup;
	a->watch = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(a->id, sizeof(a->id), "log-actor-%u", n);
	snprintf(a->state_path, sizeof(a->state_path), "%s/log-actor-%u.state",
	         tp_runtime_dir(), n);
	if (a->watch < 0 || write(a->watch, &one, sizeof(one)) < 0)
		rv = tp_err_errno(errno);
	else if ((rv = tp__log_config_copy(c, &a->cfg)) == TP_OK &&
	         (rv = tp_address("log", a->address, sizeof(a->address))) ==
	             TP_OK &&
	         (rv = tp__log_strset(&a->cfg->address, a->address)) == TP_OK)
		rv = state_open(a);
	if (rv != TP_OK) {
		actor_release(a);
		return rv;
	}
	*out = a;
	return TP_OK;
}

int tp__log_actor_start_under(const tp_log_config *c, void *sup,
                              tp_log_actor **out)
{
	tp_log_actor *a;
	int rv;
	if (c == NULL || out == NULL)
		return TP_EINVAL;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if (host == NULL)
		return TP_ESTATE;
	pthread_once(&fork_once, fork_register);
	if ((rv = actor_new(c, sup, &a)) != TP_OK)
		return rv;
	rv = host->start(sup, a->id, a->cfg, a->state_path);
	if (rv == TP_OK) {
		a->hosted = 1;
		a->owner = getpid();
		rv = wait_listen(a, 0, 0, LISTEN_WAIT_MS);
	}
	if (rv != TP_OK) {
		if (a->hosted)
			host->remove(sup, a->id);
		actor_release(a);
		return rv;
	}
	a->cfg->delete_existing = 0;
	pthread_mutex_lock(&reg_mu);
	a->next = registry;
	registry = a;
	pthread_mutex_unlock(&reg_mu);
	tp_log_init(a->cfg);
	*out = a;
	return TP_OK;
}

int tp_log_actor_start(const tp_log_config *c, tp_log_actor **out)
{
	return tp__log_actor_start_under(c, NULL, out);
}

static int owned(const tp_log_actor *a)
{
	return a->hosted && a->owner == getpid() && host != NULL;
}

int tp_log_actor_stop(tp_log_actor *a)
{
	if (a == NULL)
		return TP_EINVAL;
	if (!owned(a))
		return TP_OK; /* stopped for good, or not this process's */
	int rv = host->stop(a->sup, a->id);
	return rv == TP_ENOENT ? TP_OK : rv;
}

int tp_log_actor_restart(tp_log_actor *a)
{
	if (a == NULL)
		return TP_EINVAL;
	if (tp_log_actor_alive(a))
		return TP_EALREADY;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if (!owned(a))
		return TP_ESTATE;
	pid_t old = server_pid(a);
	uint32_t gen = __atomic_load_n(&a->st->gen, __ATOMIC_ACQUIRE);
	int rv = host->restart(a->sup, a->id);
	if (rv == TP_OK)
		rv = wait_listen(a, old, gen, LISTEN_WAIT_MS);
	return rv;
}

int tp_log_actor_alive(const tp_log_actor *a)
{
	if (a == NULL || a->st == NULL || !a->hosted)
		return 0;
	pid_t pid = server_pid(a);
	if (pid <= 0 || !tp__pid_alive(pid))
		return 0;
	watch_refresh((tp_log_actor *)a, pid);
	return 1;
}

int tp_log_actor_error(const tp_log_actor *a)
{
	if (a == NULL)
		return TP_EINVAL;
	pid_t pid = server_pid(a);
	if (pid > 0 && !tp__pid_alive(pid))
		return TP_EDIED; /* killed: it could not say why */
	return __atomic_load_n(&a->st->error, __ATOMIC_RELAXED);
}

int tp_log_actor_sentinel(const tp_log_actor *a)
{
	if (a == NULL)
		return -1;
	tp_log_actor_alive(a); /* follows a server restarted meanwhile */
	return a->watch;
}

const char *tp_log_actor_address(const tp_log_actor *a)
{
	return a != NULL ? a->address : NULL;
}

pid_t tp_log_actor_pid(const tp_log_actor *a)
{
	return tp_log_actor_alive(a) ? server_pid(a) : 0;
}

int tp__log_actor_wait_new(tp_log_actor *a, pid_t old, int timeout_ms)
{
	if (a == NULL)
		return TP_EINVAL;
	uint32_t gen = __atomic_load_n(&a->st->gen, __ATOMIC_ACQUIRE);
	return wait_listen(a, old, gen, timeout_ms);
}

int tp_log_actor_stats_get(const tp_log_actor *a, tp_log_actor_stats *out)
{
	if (a == NULL || out == NULL)
		return TP_EINVAL;
	const struct tp__log_astate *st = a->st;
	out->records = __atomic_load_n(&st->records, __ATOMIC_RELAXED);
	out->lost = __atomic_load_n(&st->lost, __ATOMIC_RELAXED);
	out->batches = __atomic_load_n(&st->batches, __ATOMIC_RELAXED);
	out->bad = __atomic_load_n(&st->bad, __ATOMIC_RELAXED);
	out->rotations = __atomic_load_n(&st->rotations, __ATOMIC_RELAXED);
	out->connections = __atomic_load_n(&st->connections, __ATOMIC_RELAXED);
	out->file_error = __atomic_load_n(&st->file_error, __ATOMIC_RELAXED);
	uint32_t starts = __atomic_load_n(&st->starts, __ATOMIC_RELAXED);
	out->restarts = starts > 0 ? starts - 1 : 0;
	return TP_OK;
}

int tp__log_actor_fail(tp_log_actor *a)
{
	pid_t pid = a != NULL && owned(a) ? server_pid(a) : 0;
	if (pid <= 0)
		return TP_ESTATE;
	if (kill(pid, SIGUSR1) != 0)
		return tp_err_errno(errno);
	return TP_OK;
}

static void unregister(tp_log_actor *a)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor **p = &registry; *p != NULL; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

void tp_log_actor_free(tp_log_actor *a)
{
	if (a == NULL)
		return;
	if (owned(a))
		host->remove(a->sup, a->id);
	a->hosted = 0;
	unregister(a);
	tp__log_detach(a->address);
	actor_release(a);
}

void tp__log_actors_stop_all(void)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		if (owned(a))
			host->stop(a->sup, a->id);
	pthread_mutex_unlock(&reg_mu);
}

void tp__log_actors_unhost(void)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next) {
		if (a->owner != getpid())
			continue;
		a->hosted = 0;
		unlink(a->state_path); /* the mapping stays for stats */
		tp__log_detach(a->address);
	}
	pthread_mutex_unlock(&reg_mu);
}

void tp__log_actor_each(void (*fn)(void *arg, tp_log_actor *a), void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		if (a->owner == getpid())
			fn(arg, a);
	pthread_mutex_unlock(&reg_mu);
}
