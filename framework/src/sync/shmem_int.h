/*
 * shmem_int.h - internal: SharedMemory blocks of a group and
 * ShareableLists built in a block made by someone else (for the
 * SharedMemoryManager, mgr/smm.c).
 */
#ifndef TP_SHMEM_INT_H
#define TP_SHMEM_INT_H

#include <stddef.h>

#include "troupe/shared.h"

/* tp_shmem_new in the group tag (shm.h: tp__shm_create_tagged), so that
 * tp__shm_unlink_prefix of the group's prefix removes it. */
int tp__shmem_new_tagged(tp_shmem **out, const char *tag, size_t size);

/* tp_shmem_new in the group of prefix (shm.h: tp__shm_create_in), of
 * this run or another run of this user. */
int tp__shmem_new_in(tp_shmem **out, const char *prefix, size_t size);

/* The block size a list of items needs; 0 when an item cannot be held
 * (a protobuf message) or items is NULL. */
size_t tp__slist_size(const tp_payload *items);

/* Lays items out in m (a fresh block of tp__slist_size bytes) and wraps
 * it; the list takes m on success. */
int tp__slist_new_in(tp_slist **out, tp_shmem *m, const tp_payload *items);

/* Wraps an existing block m as a list (taking m on success); TP_EDECODE
 * when m does not hold one. */
int tp__slist_wrap(tp_slist **out, tp_shmem *m);

#endif
