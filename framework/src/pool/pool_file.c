/*
 * pool_file.c - the pool's shared files in the run's private directory:
 * the slots file (what each worker runs, since when), mapped shared by the
 * parent and its workers, and the segments of large int maps. They are
 * private to the run and go with the run directory at tp_fini.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_int.h"
#include "process_int.h"
#include "troupe/error.h"

int tp__pool_file_create(char *path, size_t len, const char *kind, size_t size,
                         void **addr)
{
	static atomic_ulong seq;
	int fd, n;
	void *p;
	if (tp_runtime_dir() == NULL)
		return TP_ENOTINIT;
	n = snprintf(path, len, "%s/pool-%d-%lu.%s", tp_runtime_dir(),
	             (int)getpid(), atomic_fetch_add(&seq, 1) + 1, kind);
	if (n < 0 || (size_t)n >= len)
		return TP_ETOOBIG;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return tp_err_errno(errno);
	if (ftruncate(fd, (off_t)size) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return tp_err_errno(e);
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		unlink(path);
		return tp_err_errno(errno);
	}
	*addr = p;
	return TP_OK;
}

int tp__pool_file_attach(const char *path, void **addr, size_t *size)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return tp_err_errno(errno);
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return TP_ENOENT;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	         fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return tp_err_errno(errno);
	*addr = p;
	*size = (size_t)st.st_size;
	return TP_OK;
}
