/*
 * pool_wire.c - small helpers of the pool: sending an envelope as one nng
 * message (packed straight into the message body, no extra copy), the
 * clock, target names, moving a value between payloads without copying
 * its bytes, and the slots file.
 *
 * The slots (what each worker is running) live in a small file in the
 * run's private directory, mapped shared by the parent and its workers:
 * it is private to the run and goes with the run directory at tp_fini.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "troupe/error.h"
#include "wire.h"

int tp__pool_send(nng_socket s, const void *env_msg, int flags)
{
	const ProtobufCMessage *m = env_msg;
	size_t len = protobuf_c_message_get_packed_size(m);
	nng_msg *msg;
	int rv;
	if ((rv = nng_msg_alloc(&msg, len)) != 0)
		return tp_err_nng(rv);
	protobuf_c_message_pack(m, nng_msg_body(msg));
	if ((rv = nng_sendmsg(s, msg, flags)) != 0) {
		nng_msg_free(msg);
		return tp_err_nng(rv);
	}
	return TP_OK;
}

double tp__pool_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *tp__pool_target_name(tp_target_fn fn)
{
	return fn == NULL ? NULL : tp__target_name(fn);
}

tp_target_fn tp__pool_target_find(const char *name)
{
	return name == NULL ? NULL : tp__target_find(name);
}

/* Appends src's value i to dst, taking its memory; src's slot becomes an
 * empty none value. */
void tp__pool_value_move(tp_payload *dst, tp_payload *src, size_t i)
{
	if (tp_payload_add_none(dst) != TP_OK)
		return;
	struct tp_value *v = &dst->values[dst->count - 1];
	*v = src->values[i];
	memset(&src->values[i], 0, sizeof(src->values[i]));
	src->values[i].type = TP_TNONE;
}

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
