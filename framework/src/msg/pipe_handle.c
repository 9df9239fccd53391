/*
 * pipe_handle.c - a pipe end inside a payload (troupe.Handle "pipe").
 *
 * tp_payload_add_conn moves the end's socket into this process's fd
 * sharer (pipe_share.c) and writes a handle naming it: address = the
 * sharer's socket, id = the token, flags = readable | writable, name =
 * this boot's id, offset = this pid. tp_payload_get_conn fetches the
 * socket once; the end cannot leave this host (another boot id:
 * TP_EPERM).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payload_int.h"
#include "pipe_int.h"
#include "troupe/error.h"
#include "wire.h"

#define CONN_HANDLE_KIND "pipe"

static char boot_id[64];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f == NULL)
		return;
	if (fgets(boot_id, sizeof(boot_id), f) == NULL)
		boot_id[0] = '\0';
	boot_id[strcspn(boot_id, "\n")] = '\0';
	fclose(f);
}

const char *tp__boot_id(void)
{
	pthread_once(&boot_once, read_boot_id);
	return boot_id;
}

int tp_payload_add_conn(tp_payload *p, tp_conn *c)
{
	Troupe__Handle h;
	uint64_t token;
	const char *path;
	int rv;
	if (p == NULL || c == NULL)
		return TP_EINVAL;
	if (c->state == TP_CONN_SENT)
		return TP_ESTATE;
	if (c->state != TP_CONN_OPEN)
		return TP_ECLOSED;
	if (tp__conn_buffered(c))
		return TP_ESTATE; /* moving it would lose what it holds */
	if ((rv = tp__share_put(c->fd, &token, &path)) != TP_OK)
		return rv;
	troupe__handle__init(&h);
	h.kind = CONN_HANDLE_KIND;
	h.address = (char *)path;
	h.name = (char *)tp__boot_id();
	h.id = (int64_t)token;
	h.offset = (uint64_t)getpid();
	h.flags = (c->readable ? 1 : 0) | (c->writable ? 2 : 0);
	if ((rv = tp_payload_add_proto(p, &h.base)) != TP_OK) {
		tp__share_unput(token); /* c keeps its socket */
		return rv;
	}
	c->fd = -1;
	c->state = TP_CONN_SENT;
	return TP_OK;
}

static int conn_from_handle(const Troupe__Handle *h, tp_conn **out)
{
	int fd, rv;
	if (strcmp(h->kind, CONN_HANDLE_KIND) != 0)
		return TP_ETYPE;
	if (h->address[0] != '/' || h->id <= 0 || h->flags < 1 ||
	    h->flags > 3 || h->offset == 0 || h->offset > INT32_MAX)
		return TP_EDECODE;
	if (tp__boot_id()[0] != '\0' && strcmp(h->name, tp__boot_id()) != 0)
		return TP_EPERM; /* made on another host: cannot come here */
	rv = tp__share_get(h->address, (pid_t)h->offset, (uint64_t)h->id, &fd);
	if (rv != TP_OK)
		return rv;
	if ((rv = tp__conn_wrap(fd, (h->flags & 1) != 0, (h->flags & 2) != 0,
	                        out)) != TP_OK)
		close(fd);
	return rv;
}

int tp_payload_get_conn(const tp_payload *p, size_t i, tp_conn **out)
{
	Troupe__Handle *h;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__payload_get_handle(p, i, CONN_HANDLE_KIND, &h);
	if (rv != TP_OK)
		return rv;
	rv = conn_from_handle(h, out);
	tp__handle_free(h);
	return rv;
}
