/*
 * shmem.c - SharedMemory: named blocks of raw bytes.
 *
 * A block is a run-scoped segment (shm.h) with no header, so its name is
 * all another process needs. Unlike Python, only the process that created
 * a block can unlink it: a process that attached (by name or from a
 * payload) only ever unmaps, and the owner run's tp_fini removes every
 * block that is left, so neither a leak nor Python's "attacher's resource
 * tracker destroys the block" bug can happen. A block may also carry a
 * name its creator chose (tp_shmem_new_named); it is then found by that
 * name (shm.h), and payloads still carry the segment's own name.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"
#include "shmem_int.h"
#include "sobj.h"
#include "troupe.pb-c.h"
#include "troupe/error.h"
#include "troupe/shared.h"

struct tp_shmem {
	char name[TP_SHM_NAME_MAX];
	char uname[TP_SHM_UNAME_MAX + 1]; /* the user's name, "" for none */
	void *buf;
	size_t size;
	pid_t creator; /* 0 for an attached block */
	int unlinked;
};

/* A new block: in group tag (or, with in set, the group of prefix tag),
 * or a plain one (tag NULL). */
static int shmem_make(tp_shmem **out, const char *tag, int in, size_t size)
{
	int rv;
	if (out == NULL || size == 0)
		return TP_EINVAL;
	tp_shmem *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return TP_ENOMEM;
	rv = in    ? tp__shm_create_in(tag, size, m->name, &m->buf)
	     : tag ? tp__shm_create_tagged(tag, size, m->name, &m->buf)
	           : tp__shm_create(size, m->name, &m->buf);
	if (rv != TP_OK) {
		free(m);
		return rv;
	}
	m->size = size;
	m->creator = getpid();
	*out = m;
	return TP_OK;
}

int tp_shmem_new(tp_shmem **out, size_t size)
{
	return shmem_make(out, NULL, 0, size);
}

int tp__shmem_new_tagged(tp_shmem **out, const char *tag, size_t size)
{
	return tag == NULL ? TP_EINVAL : shmem_make(out, tag, 0, size);
}

int tp__shmem_new_in(tp_shmem **out, const char *prefix, size_t size)
{
	return prefix == NULL ? TP_EINVAL : shmem_make(out, prefix, 1, size);
}

/* A name a user may choose: 1 to TP_SHM_UNAME_MAX of [A-Za-z0-9_-]. */
static int uname_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TP_SHM_UNAME_MAX)
		return 0;
	for (const char *c = s; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return 0;
	return 1;
}

int tp_shmem_new_named(tp_shmem **out, const char *name, size_t size)
{
	int rv;
	if (out == NULL || name == NULL || size == 0 || !uname_ok(name))
		return TP_EINVAL;
	tp_shmem *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return TP_ENOMEM;
	rv = tp__shm_create_named(name, size, m->name, &m->buf);
	if (rv != TP_OK) {
		free(m);
		return rv;
	}
	snprintf(m->uname, sizeof(m->uname), "%s", name);
	m->size = size;
	m->creator = getpid();
	*out = m;
	return TP_OK;
}

int tp_shmem_attach(tp_shmem **out, const char *name)
{
	char seg[TP_SHM_NAME_MAX];
	int rv, user;
	if (out == NULL || name == NULL || strlen(name) >= TP_SHM_NAME_MAX)
		return TP_EINVAL;
	user = name[0] != '/';
	if (user && !uname_ok(name))
		return TP_EINVAL;
	if (user && (rv = tp__shm_find_named(name, seg)) != TP_OK)
		return rv;
	tp_shmem *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return TP_ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", user ? seg : name);
	if ((rv = tp__shm_attach(m->name, &m->buf, &m->size)) != TP_OK) {
		free(m);
		return rv;
	}
	/* A named block's segment ends in ".n.<name>" (shm.h); other
	 * segment names never hold ".n.", so a payload keeps the name too. */
	const char *tail = user ? name : strstr(name, ".n.");
	if (tail != NULL && !user)
		tail += 3;
	if (tail != NULL && uname_ok(tail))
		snprintf(m->uname, sizeof(m->uname), "%s", tail);
	*out = m;
	return TP_OK;
}

void tp_shmem_free(tp_shmem *m)
{
	if (m == NULL)
		return;
	tp__shm_detach(m->buf, m->size);
	free(m);
}

int tp_shmem_unlink(tp_shmem *m)
{
	if (m == NULL)
		return TP_EINVAL;
	if (m->creator != getpid())
		return TP_EPERM;
	if (m->unlinked)
		return TP_EALREADY;
	m->unlinked = 1;
	return tp__shm_unlink(m->name);
}

const char *tp_shmem_name(const tp_shmem *m)
{
	if (m == NULL)
		return NULL;
	return m->uname[0] != '\0' ? m->uname : m->name;
}

void *tp_shmem_buf(tp_shmem *m)
{
	return m == NULL ? NULL : m->buf;
}

size_t tp_shmem_size(const tp_shmem *m)
{
	return m == NULL ? 0 : m->size;
}

int tp_payload_add_shmem(tp_payload *p, const tp_shmem *m)
{
	Troupe__Handle h = TROUPE__HANDLE__INIT;
	if (p == NULL || m == NULL)
		return TP_EINVAL;
	h.kind = (char *)tp__kind_name(TP__KSHMEM);
	h.name = (char *)m->name;
	h.size = m->size;
	return tp_payload_add_proto(p, &h.base);
}

int tp_payload_get_shmem(const tp_payload *p, size_t i, tp_shmem **out)
{
	Troupe__Handle *h;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	rv = tp__payload_get_handle(p, i, tp__kind_name(TP__KSHMEM), &h);
	if (rv != TP_OK)
		return rv;
	if ((rv = tp_shmem_attach(out, h->name)) == TP_EINVAL)
		rv = TP_EDECODE;
	tp__handle_free(h);
	return rv;
}
