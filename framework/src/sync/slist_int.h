/*
 * slist_int.h - internal: building a ShareableList in a block made by
 * someone else (the SharedMemoryManager's tracked blocks, mgr/smm.c).
 */
#ifndef TP_SLIST_INT_H
#define TP_SLIST_INT_H

#include <stddef.h>

#include "troupe/shared.h"

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
