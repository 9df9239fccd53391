/*
 * shm.c - named shared-memory segments tied to a run; see shm.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime_int.h"
#include "shm.h"
#include "troupe/error.h"

static unsigned long shm_seq;

/* Creates segment name (already written) of size bytes and maps it. */
static int shm_open_new(size_t size, int reserve, const char *name, void **addr)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return tp_err_errno(errno);
	int e = reserve ? posix_fallocate(fd, 0, (off_t)size)
	                : (ftruncate(fd, (off_t)size) != 0 ? errno : 0);
	if (e != 0) {
		close(fd);
		shm_unlink(name);
		return tp_err_errno(e);
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		shm_unlink(name);
		return tp_err_errno(e);
	}
	*addr = p;
	return TP_OK;
}

static int shm_make(size_t size, int reserve, char *name, void **addr)
{
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if (size == 0 || name == NULL || addr == NULL)
		return TP_EINVAL;
	unsigned long seq = __atomic_add_fetch(&shm_seq, 1, __ATOMIC_RELAXED);
	snprintf(name, TP_SHM_NAME_MAX, "/troupe.%u.%s.%d-%lu",
	         (unsigned)getuid(), tp__rt.id, (int)getpid(), seq);
	return shm_open_new(size, reserve, name, addr);
}

int tp__shm_create(size_t size, char *name, void **addr)
{
	return shm_make(size, 0, name, addr);
}

int tp__shm_create_reserved(size_t size, char *name, void **addr)
{
	return shm_make(size, 1, name, addr);
}

int tp__shm_attach(const char *name, void **addr, size_t *size)
{
	struct stat st;
	if (name == NULL || addr == NULL || size == NULL ||
	    strncmp(name, "/troupe.", 8) != 0)
		return TP_EINVAL;
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOENT ? TP_ENOENT : tp_err_errno(errno);
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return TP_ENOENT;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	               MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED)
		return tp_err_errno(e);
	*addr = p;
	*size = (size_t)st.st_size;
	return TP_OK;
}

void tp__shm_detach(void *addr, size_t size)
{
	if (addr != NULL)
		munmap(addr, size);
}

int tp__shm_unlink(const char *name)
{
	if (name == NULL)
		return TP_EINVAL;
	return shm_unlink(name) == 0 ? TP_OK : tp_err_errno(errno);
}

/* Calls fn on every /dev/shm entry of this user whose name starts with
 * "troupe.<uid>.", passing the rest of the name. */
static void each_segment(void (*fn)(const char *full, const char *rest,
                                    const void *arg),
                         const void *arg)
{
	char prefix[48];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	if (d == NULL)
		return;
	int n =
	    snprintf(prefix, sizeof(prefix), "troupe.%u.", (unsigned)getuid());
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, (size_t)n) == 0)
			fn(e->d_name, e->d_name + n, arg);
	closedir(d);
}

static void unlink_if_run(const char *full, const char *rest, const void *arg)
{
	const char *runid = arg;
	size_t n = strlen(runid);
	char name[300];
	if (strncmp(rest, runid, n) == 0 && rest[n] == '.') {
		snprintf(name, sizeof(name), "/%s", full);
		shm_unlink(name);
	}
}

void tp__shm_clean_run(const char *runid)
{
	if (runid != NULL && runid[0] != '\0')
		each_segment(unlink_if_run, runid);
}

static void unlink_if_stale(const char *full, const char *rest, const void *arg)
{
	unsigned long long start, now;
	int pid;
	char name[300];
	(void)arg;
	if (sscanf(rest, "%d.%llu.", &pid, &start) != 2)
		return;
	if (tp__proc_starttime(pid, &now) == TP_OK && now == start)
		return;
	snprintf(name, sizeof(name), "/%s", full);
	shm_unlink(name);
}

void tp__shm_clean_stale(void)
{
	each_segment(unlink_if_stale, NULL);
}

struct named_find {
	const char *uname;
	char *name; /* receives the match; "" when none */
};

/* A segment named uname of a live run; those of dead runs are removed. */
static void match_named(const char *full, const char *rest, const void *arg)
{
	const struct named_find *f = arg;
	unsigned long long start, now;
	int pid, n = -1;
	if (sscanf(rest, "%d.%llu.n.%n", &pid, &start, &n) != 2 || n < 0 ||
	    strcmp(rest + n, f->uname) != 0)
		return;
	if (tp__proc_starttime(pid, &now) != TP_OK || now != start) {
		char stale[300];
		snprintf(stale, sizeof(stale), "/%s", full);
		shm_unlink(stale);
		return;
	}
	size_t len = strlen(full);
	if (len + 2 <= TP_SHM_NAME_MAX) {
		f->name[0] = '/';
		memcpy(f->name + 1, full, len + 1);
	}
}

int tp__shm_find_named(const char *uname, char *name)
{
	struct named_find f = {uname, name};
	if (uname == NULL || name == NULL)
		return TP_EINVAL;
	name[0] = '\0';
	each_segment(match_named, &f);
	return name[0] != '\0' ? TP_OK : TP_ENOENT;
}

int tp__shm_create_named(const char *uname, size_t size, char *name,
                         void **addr)
{
	char other[TP_SHM_NAME_MAX];
	int rv;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if (uname == NULL || size == 0 || name == NULL || addr == NULL)
		return TP_EINVAL;
	int n = snprintf(name, TP_SHM_NAME_MAX, "/troupe.%u.%s.n.%s",
	                 (unsigned)getuid(), tp__rt.id, uname);
	if (n < 0 || n >= TP_SHM_NAME_MAX)
		return TP_EINVAL;
	int lk = open(tp__rt.base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lk < 0)
		return tp_err_errno(errno);
	while (flock(lk, LOCK_EX) != 0 && errno == EINTR)
		;
	if (tp__shm_find_named(uname, other) == TP_OK)
		rv = TP_EEXIST;
	else if ((rv = shm_open_new(size, 0, name, addr)) ==
	         tp_err_errno(EEXIST))
		rv = TP_EEXIST;
	close(lk); /* releases the lock */
	return rv;
}

static int tag_ok(const char *tag)
{
	size_t n = tag ? strlen(tag) : 0;
	if (n == 0 || n > TP_SHM_TAG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)tag[i]))
			return 0;
	return 1;
}

int tp__shm_tag_prefix(const char *tag, char *buf, size_t len)
{
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if (!tag_ok(tag) || buf == NULL)
		return TP_EINVAL;
	int n = snprintf(buf, len, "troupe.%u.%s.%s-", (unsigned)getuid(),
	                 tp__rt.id, tag);
	return n > 0 && (size_t)n < len ? TP_OK : TP_EINVAL;
}

int tp__shm_create_tagged(const char *tag, size_t size, char *name, void **addr)
{
	char prefix[TP_SHM_NAME_MAX];
	int rv = tp__shm_tag_prefix(tag, prefix, sizeof(prefix));
	if (rv != TP_OK)
		return rv;
	if (size == 0 || name == NULL || addr == NULL)
		return TP_EINVAL;
	unsigned long seq = __atomic_add_fetch(&shm_seq, 1, __ATOMIC_RELAXED);
	int n = snprintf(name, TP_SHM_NAME_MAX, "/%s%lu", prefix, seq);
	if (n < 0 || n >= TP_SHM_NAME_MAX)
		return TP_EINVAL;
	return shm_open_new(size, 0, name, addr);
}

/* 1 when prefix names a group of this user's troupe segments. */
static int prefix_ok(const char *prefix)
{
	char mine[48];
	size_t n = prefix ? strlen(prefix) : 0;
	snprintf(mine, sizeof(mine), "troupe.%u.", (unsigned)getuid());
	return n > strlen(mine) && strncmp(prefix, mine, strlen(mine)) == 0 &&
	       strchr(prefix, '/') == NULL && prefix[n - 1] == '-';
}

int tp__shm_create_in(const char *prefix, size_t size, char *name, void **addr)
{
	if (!prefix_ok(prefix) || size == 0 || name == NULL || addr == NULL)
		return TP_EINVAL;
	unsigned long seq = __atomic_add_fetch(&shm_seq, 1, __ATOMIC_RELAXED);
	int n = snprintf(name, TP_SHM_NAME_MAX, "/%s%dx%lu", prefix,
	                 (int)getpid(), seq);
	if (n < 0 || n >= TP_SHM_NAME_MAX)
		return TP_EINVAL;
	return shm_open_new(size, 0, name, addr);
}

struct prefix_unlink {
	const char *prefix;
	int n;
};

static void unlink_if_prefix(const char *full, const char *rest,
                             const void *arg)
{
	struct prefix_unlink *u = (struct prefix_unlink *)arg;
	char name[300];
	(void)rest;
	if (strncmp(full, u->prefix, strlen(u->prefix)) != 0)
		return;
	snprintf(name, sizeof(name), "/%s", full);
	if (shm_unlink(name) == 0)
		u->n++;
}

int tp__shm_unlink_prefix(const char *prefix, int *n)
{
	char mine[48];
	struct prefix_unlink u = {prefix, 0};
	snprintf(mine, sizeof(mine), "troupe.%u.", (unsigned)getuid());
	if (prefix == NULL || strncmp(prefix, mine, strlen(mine)) != 0 ||
	    strlen(prefix) <= strlen(mine) || strchr(prefix, '/') != NULL)
		return TP_EINVAL;
	each_segment(unlink_if_prefix, &u);
	if (n != NULL)
		*n = u.n;
	return TP_OK;
}
