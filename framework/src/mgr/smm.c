/*
 * smm.c - SharedMemoryManager: SharedMemory blocks and ShareableLists
 * whose names are all removed at shutdown, or when the process that made
 * them dies, however it dies.
 *
 * The blocks are ordinary run segments in a group of their own (shm.h:
 * "troupe.<uid>.<runid>.<tag>-<seq>"), so the group is found by its
 * prefix in /dev/shm and needs no registry that a crash could leave
 * half-written. A tracker child of the program's root supervisor
 * (tp_sup_root) holds a pidfd of its parent and waits for either its
 * stop signal (shutdown, or tp_fini stopping the root) or the parent's
 * exit (kill -9 included: a pidfd sees the whole process go, where
 * PR_SET_PDEATHSIG would fire at the exit of one thread); either way it
 * unlinks the group. After a death it also removes the segments of every
 * run whose owner is gone, as the next tp_init would. The creator waits
 * until the tracker is armed before the first block can exist.
 *
 * Reachable from other processes (tp_smm_start_opts / tp_smm_connect):
 * a manager server (mgr.c, a child of the root supervisor like any
 * manager) holds one named value, the group's prefix. A client proves the
 * authkey, reads the prefix and makes its blocks itself in the group
 * ("<prefix><pid>x<seq>"), so they go with the group whoever made them.
 * After making one it asks the server whether it still lives: a block
 * made after shutdown is unlinked by its maker (TP_EDIED), and one made
 * before the server stopped is in the group when shutdown unlinks it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "pidwatch.h"
#include "pshared.h"
#include "shm.h"
#include "shmem_int.h"
#include "troupe/error.h"
#include "troupe/manager.h"
#include "troupe/process.h"
#include "troupe/supervisor.h"

#define SMM_READY_MS 10000
/* The manager value holding the group's prefix. */
#define SMM_OBJ "troupe.SharedMemoryManager"

enum { ARM_WAIT = 0, ARM_OK = 1, ARM_FAILED = 2 };

struct tp_smm {
	char id[64]; /* the tracker's id under the root supervisor */
	char tag[TP_SHM_TAG_MAX + 1];
	char prefix[TP_SHM_NAME_MAX];
	pid_t owner; /* the process that may use this handle */
	int down;
	int client;      /* connected (tp_smm_connect), not started */
	tp_manager *mgr; /* the server other processes reach, or NULL */
	tp_proxy *px;    /* its value holding prefix */
};

/* Waits for the parent's exit (1) or a stop signal (0); -1 on error. */
static int tracker_wait(pid_t parent, uint32_t *arm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	int pfd = -1;
	if (tp__pid_watch(parent, &pfd) != TP_OK)
		pfd = -1;
	/* From here the pidfd, not PR_SET_PDEATHSIG, reports the death. */
	prctl(PR_SET_PDEATHSIG, 0);
	int ok = sfd >= 0 && pfd >= 0 && getppid() == parent;
	__atomic_store_n(arm, ok ? ARM_OK : ARM_FAILED, __ATOMIC_SEQ_CST);
	tp__futex_wake(arm, 1);
	struct pollfd pf[2] = {{pfd, POLLIN, 0}, {sfd, POLLIN, 0}};
	int died = getppid() != parent;
	while (ok && !died && pf[1].revents == 0) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		died = pf[0].revents != 0;
	}
	if (sfd >= 0)
		close(sfd);
	if (pfd >= 0)
		close(pfd);
	return died ? 1 : (ok ? 0 : -1);
}

/* args: the group's prefix, the arming word's segment, the parent pid. */
int tp__smm_tracker(const tp_payload *args, tp_payload *result);
int tp__smm_tracker(const tp_payload *args, tp_payload *result)
{
	const char *prefix, *arm_name;
	int64_t parent;
	void *arm = NULL;
	size_t size;
	(void)result;
	if (tp_payload_get_string(args, 0, &prefix) != TP_OK ||
	    tp_payload_get_string(args, 1, &arm_name) != TP_OK ||
	    tp_payload_get_int(args, 2, &parent) != TP_OK ||
	    tp__shm_attach(arm_name, &arm, &size) != TP_OK || size < 4)
		return 2;
	int died = tracker_wait((pid_t)parent, arm);
	tp__shm_unlink_prefix(prefix, NULL);
	if (died == 1)
		tp__shm_clean_stale();
	tp__shm_detach(arm, size);
	return died < 0 ? 1 : 0;
}
TP_TARGET(tp__smm_tracker);

/* Waits until the tracker has armed (or failed, or the time is up). */
static int wait_armed(uint32_t *arm)
{
	int64_t dl = tp__deadline(SMM_READY_MS);
	uint32_t v;
	while ((v = __atomic_load_n(arm, __ATOMIC_SEQ_CST)) == ARM_WAIT &&
	       tp__remaining(dl) > 0) {
		struct timespec at;
		tp__deadline_ts(&at, tp__remaining(dl) < 100 ? tp__remaining(dl)
		                                             : 100);
		tp__futex_wait(arm, ARM_WAIT, &at);
	}
	return v == ARM_OK ? TP_OK : v == ARM_FAILED ? TP_EDIED : TP_ETIMEDOUT;
}

static int start_tracker(tp_smm *s, const char *arm_name)
{
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	tp_payload *args;
	char id[64];
	int rv = tp_payload_new(&args);
	if (rv == TP_OK)
		rv = tp_payload_add_string(args, s->prefix);
	if (rv == TP_OK)
		rv = tp_payload_add_string(args, arm_name);
	if (rv == TP_OK)
		rv = tp_payload_add_int(args, (int64_t)getpid());
	spec.id = s->id;
	spec.target = tp__smm_tracker;
	spec.args = args;
	spec.restart = TP_TEMPORARY;
	spec.shutdown_ms = 5000;
	if (rv == TP_OK)
		rv = tp_sup_start_child(tp_sup_root(), &spec, id);
	tp_payload_free(args);
	return rv;
}

int tp_smm_start(tp_smm **out)
{
	static unsigned seq;
	char arm_name[TP_SHM_NAME_MAX];
	void *arm;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if (!tp_initialized() || tp_sup_root() == NULL)
		return TP_ENOTINIT;
	tp_smm *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TP_ENOMEM;
	unsigned n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	snprintf(s->tag, sizeof(s->tag), "smm%dx%u", (int)getpid(), n);
	snprintf(s->id, sizeof(s->id), "SharedMemoryManager-%d-%u",
	         (int)getpid(), n);
	s->owner = getpid();
	rv = tp__shm_tag_prefix(s->tag, s->prefix, sizeof(s->prefix));
	if (rv == TP_OK)
		rv = tp__shm_create_tagged(s->tag, sizeof(uint32_t), arm_name,
		                           &arm);
	if (rv != TP_OK) {
		free(s);
		return rv;
	}
	if ((rv = start_tracker(s, arm_name)) == TP_OK)
		rv = wait_armed(arm);
	tp__shm_detach(arm, sizeof(uint32_t));
	if (rv != TP_OK) {
		tp_smm_free(s);
		return rv;
	}
	*out = s;
	return TP_OK;
}

int tp_smm_start_opts(tp_smm **out, const tp_manager_opts *opts)
{
	tp_manager_opts o;
	tp_payload *args = NULL;
	tp_smm *s = NULL;
	if (out == NULL || opts == NULL || opts->authkey == NULL ||
	    opts->authkey_len == 0)
		return TP_EINVAL;
	o = *opts;
	o.permanent = 0; /* a restarted server would not know the group */
	int rv = tp_smm_start(&s);
	if (rv == TP_OK)
		rv = tp_manager_start(&s->mgr, &o);
	if (rv == TP_OK)
		rv = tp_payload_new(&args);
	if (rv == TP_OK)
		rv = tp_payload_add_string(args, s->prefix);
	if (rv == TP_OK)
		rv = tp_manager_get(s->mgr, "value", SMM_OBJ, args, &s->px);
	tp_payload_free(args);
	if (rv != TP_OK) {
		tp_smm_free(s);
		return rv;
	}
	*out = s;
	return TP_OK;
}

/* The group's prefix, read from the server's value into s. */
static int read_prefix(tp_smm *s)
{
	tp_payload *v = NULL;
	const char *p;
	char mine[48];
	int rv = tp_payload_new(&v);
	if (rv == TP_OK)
		rv = tp_value_get(s->px, v);
	if (rv == TP_OK && (tp_payload_get_string(v, 0, &p) != TP_OK ||
	                    strlen(p) >= sizeof(s->prefix)))
		rv = TP_EPROTO; /* a manager, but no SharedMemoryManager */
	snprintf(mine, sizeof(mine), "troupe.%u.", (unsigned)getuid());
	if (rv == TP_OK && strncmp(p, mine, strlen(mine)) != 0)
		rv = TP_EPERM; /* another user's: its blocks are not ours */
	if (rv == TP_OK)
		snprintf(s->prefix, sizeof(s->prefix), "%s", p);
	tp_payload_free(v);
	return rv;
}

int tp_smm_connect(tp_smm **out, const char *address, const void *authkey,
                   size_t keylen, int timeout_ms)
{
	if (out == NULL || address == NULL || authkey == NULL || keylen == 0)
		return TP_EINVAL;
	tp_smm *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TP_ENOMEM;
	s->client = 1;
	s->owner = getpid();
	int rv =
	    tp_manager_connect(&s->mgr, address, authkey, keylen, timeout_ms);
	if (rv == TP_OK)
		rv = tp_manager_get(s->mgr, "value", SMM_OBJ, NULL, &s->px);
	if (rv == TP_OK)
		rv = read_prefix(s);
	if (rv != TP_OK) {
		tp_smm_free(s);
		return rv;
	}
	*out = s;
	return TP_OK;
}

const char *tp_smm_address(const tp_smm *s)
{
	return s == NULL ? NULL : tp_manager_address(s->mgr);
}

static int usable(const tp_smm *s)
{
	if (s == NULL)
		return TP_EINVAL;
	if (s->owner != getpid())
		return TP_EPERM;
	return s->down ? TP_ESTATE : TP_OK;
}

/* A new block of size bytes in s's group. A client's is kept only while
 * the server lives (see the top of this file). */
static int new_block(tp_smm *s, size_t size, tp_shmem **out)
{
	tp_payload *v = NULL;
	int rv = usable(s);
	if (rv != TP_OK)
		return rv;
	if (!s->client)
		return tp__shmem_new_tagged(out, s->tag, size);
	if ((rv = tp__shmem_new_in(out, s->prefix, size)) != TP_OK)
		return rv;
	if ((rv = tp_payload_new(&v)) == TP_OK)
		rv = tp_value_get(s->px, v);
	tp_payload_free(v);
	if (rv != TP_OK) {
		tp_shmem_unlink(*out);
		tp_shmem_free(*out);
		*out = NULL;
	}
	return rv;
}

int tp_smm_shmem(tp_smm *s, size_t size, tp_shmem **out)
{
	return new_block(s, size, out);
}

int tp_smm_slist(tp_smm *s, const tp_payload *items, tp_slist **out)
{
	tp_shmem *m = NULL;
	size_t size = tp__slist_size(items);
	int rv = usable(s);
	if (rv != TP_OK)
		return rv;
	if (out == NULL || items == NULL)
		return TP_EINVAL;
	if (size == 0)
		return TP_ETYPE;
	if ((rv = new_block(s, size, &m)) != TP_OK)
		return rv;
	if ((rv = tp__slist_new_in(out, m, items)) != TP_OK) {
		tp_shmem_unlink(m);
		tp_shmem_free(m);
	}
	return rv;
}

/* Stops the server (first: no client makes a block after the unlink),
 * the tracker, and unlinks the group. */
static int stop(tp_smm *s)
{
	s->down = 1;
	tp_proxy_free(s->px);
	s->px = NULL;
	tp_manager_shutdown(s->mgr);
	s->mgr = NULL;
	/* The tracker unlinks the group when it stops; unlinking here too
	 * makes shutdown complete even if the tracker was killed. */
	int trv = TP_OK;
	if (tp_initialized() && tp_sup_root() != NULL)
		trv = tp_sup_terminate_child(tp_sup_root(), s->id);
	tp__shm_unlink_prefix(s->prefix, NULL);
	return trv == TP_ENOENT ? TP_OK : trv;
}

int tp_smm_shutdown(tp_smm *s)
{
	int rv = usable(s);
	if (rv == TP_ESTATE)
		return TP_EALREADY;
	if (rv != TP_OK)
		return rv;
	return s->client ? TP_EPERM : stop(s);
}

void tp_smm_free(tp_smm *s)
{
	if (s == NULL)
		return;
	/* In another process (a fork child) the handle is only freed. */
	if (s->owner == getpid() && s->client) {
		tp_proxy_free(s->px);
		tp_manager_free(s->mgr); /* disconnects only */
	} else if (s->owner == getpid() && !s->down) {
		stop(s);
	}
	free(s);
}
