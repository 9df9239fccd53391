/*
 * troupe/shared.h - shared state between processes: Value, Array (with or
 * without a lock: RawValue, RawArray) and SharedMemory, as Python's
 * multiprocessing.Value/Array/sharedctypes and shared_memory.
 *
 * Typecodes are Python's: 'c' char, 'b'/'B' signed/unsigned char, 'h'/'H'
 * short, 'i'/'I' int, 'l'/'L' long, 'q'/'Q' long long, 'f' float,
 * 'd' double; elements have the C type of the typecode.
 *
 * Lifetime and passing follow troupe/sync.h: the creator's free removes
 * the object's name (handles held elsewhere stay valid); tp_payload_add_X
 * / tp_payload_get_X carry an object to any child, and the receiver frees
 * its attached handle with the normal free (detach, never destroy).
 */
#ifndef TROUPE_SHARED_H
#define TROUPE_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/payload.h"
#include "troupe/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Value and Array --------------------------------------------------- */

typedef struct tp_shared_value tp_value;
typedef struct tp_array tp_array;

/*
 * tp_value_new creates a shared Value of typecode, initialised from *init
 * (the C type of the typecode) or zero when init is NULL. lock is the lock
 * that synchronises it: NULL gives the Value its own RLock (Python's
 * lock=True); a tp_lock of the caller's is shared. tp_rawvalue_new makes a
 * Value without any lock (Python's RawValue / lock=False).
 * Errors: TP_EINVAL (unknown typecode, NULL out), TP_ENOTINIT, TP_ENOMEM,
 * wrapped system errors.
 */
int tp_value_new(tp_value **out, char typecode, const void *init,
                 tp_lock *lock);
int tp_rawvalue_new(tp_value **out, char typecode, const void *init);

/* Frees the handle; the creator's free also removes the Value's name (see
 * above). NULL is allowed. */
void tp_value_free(tp_value *v);

/* Python's get_lock(): the Value's lock (borrowed), NULL for a raw one. */
tp_lock *tp_value_get_lock(tp_value *v);

/* The typecode, or 0 for NULL. */
char tp_value_typecode(const tp_value *v);

/* The size in bytes of one element of typecode (1 for 'c', 'b', 'B'; 2 for
 * 'h', 'H'; 4 for 'i', 'I', 'f'; 8 for 'l', 'L', 'q', 'Q', 'd'), or 0 for
 * a typecode Value and Array do not know. */
size_t tp_typecode_size(char typecode);

/* The value's memory, for use while holding its lock (or a raw value). */
void *tp_value_ptr(tp_value *v);

/*
 * Read / write the value under its lock (like Python's .value); an
 * integer typecode uses _long (converted as C converts: a value out of
 * range wraps, as ctypes does), 'f' and 'd' use _double. Errors:
 * TP_ETYPE (wrong family), TP_EOWNERDEAD (done, but the lock's previous
 * holder had died), TP_EINVAL.
 */
int tp_value_get_long(tp_value *v, int64_t *out);
int tp_value_set_long(tp_value *v, int64_t x);
int tp_value_get_double(tp_value *v, double *out);
int tp_value_set_double(tp_value *v, double x);

/*
 * tp_array_new creates a shared Array of size elements of typecode,
 * initialised from init (size elements of the C type) or zeroes.
 * lock as for tp_value_new; tp_rawarray_new has no lock.
 */
int tp_array_new(tp_array **out, char typecode, size_t size, const void *init,
                 tp_lock *lock);
int tp_rawarray_new(tp_array **out, char typecode, size_t size,
                    const void *init);

/* Frees the handle, as tp_value_free. NULL is allowed. */
void tp_array_free(tp_array *a);

/* The Array's lock (borrowed), NULL for a raw one. */
tp_lock *tp_array_get_lock(tp_array *a);
/* The typecode, or 0 for NULL. */
char tp_array_typecode(const tp_array *a);
/* The number of elements (Python's len(a)), 0 for NULL. */
size_t tp_array_len(const tp_array *a);
/* The first element, for use while holding the lock (or a raw array). */
void *tp_array_ptr(tp_array *a);

/* Element access under the lock; TP_ENOENT for an index out of range,
 * otherwise as the tp_value_ calls. */
int tp_array_get_long(tp_array *a, size_t i, int64_t *out);
int tp_array_set_long(tp_array *a, size_t i, int64_t x);
int tp_array_get_double(tp_array *a, size_t i, double *out);
int tp_array_set_double(tp_array *a, size_t i, double x);

/* Copies n elements from index start into dst / from src into the array,
 * under the lock, as one step (Python's a[start:start+n]). TP_ENOENT if
 * the range is out of bounds. */
int tp_array_read(tp_array *a, size_t start, size_t n, void *dst);
int tp_array_write(tp_array *a, size_t start, size_t n, const void *src);

/* Pass a Value / an Array to another process (see troupe/sync.h). */
int tp_payload_add_value(tp_payload *p, const tp_value *v);
int tp_payload_get_value(const tp_payload *p, size_t i, tp_value **out);
int tp_payload_add_array(tp_payload *p, const tp_array *a);
int tp_payload_get_array(const tp_payload *p, size_t i, tp_array **out);

/* ---- SharedMemory ------------------------------------------------------ */

typedef struct tp_shmem tp_shmem;

/*
 * tp_shmem_new creates a named block of size (> 0) zeroed bytes, owned by
 * the caller. tp_shmem_attach maps an existing block by its name (Python's
 * SharedMemory(name)). Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOENT (no such
 * block), wrapped system errors.
 */
int tp_shmem_new(tp_shmem **out, size_t size);
int tp_shmem_attach(tp_shmem **out, const char *name);

/*
 * tp_shmem_new_named is Python's SharedMemory(name, create=True, size):
 * a block of size (> 0) zeroed bytes under a name the caller chooses, which
 * any process of this user then passes to tp_shmem_attach (its own run's
 * children, or another troupe program: SharedMemory(name)). name is 1 to
 * 40 characters of [A-Za-z0-9_-]; tp_shmem_name returns it (also where the
 * block was attached by name or received in a payload). The block is
 * owned by the caller and removed as any other (tp_shmem_unlink, or the
 * run's tp_fini, or the next tp_init after a crash), which frees the name.
 * Names are unique among the user's live runs that share a runtime
 * directory base. Errors: TP_EINVAL (NULL, size 0, a name too long, empty
 * or with another character), TP_EEXIST (the name is taken), TP_ENOTINIT,
 * TP_ENOMEM, wrapped system errors. tp_shmem_attach with such a name gives
 * TP_ENOENT when no live block has it, TP_EINVAL for an invalid name.
 */
int tp_shmem_new_named(tp_shmem **out, const char *name, size_t size);

/*
 * tp_shmem_free closes the handle (Python's close()): unmaps, never
 * unlinks. The block itself goes with tp_shmem_unlink, or at the owner
 * run's tp_fini, whichever is first. NULL allowed.
 */
void tp_shmem_free(tp_shmem *m);

/*
 * Removes the block's name (Python's unlink()). Only the creating process
 * may: TP_EPERM for a handle that attached (the fix of Python's bug where
 * an attaching process's resource tracker destroys the block).
 * TP_EALREADY if already unlinked. Mappings stay valid until freed.
 */
int tp_shmem_unlink(tp_shmem *m);

/* The block's name (for tp_shmem_attach: the one chosen at
 * tp_shmem_new_named, else troupe's), its memory, its size in bytes;
 * NULL / NULL / 0 for a NULL handle. */
const char *tp_shmem_name(const tp_shmem *m);
void *tp_shmem_buf(tp_shmem *m);
size_t tp_shmem_size(const tp_shmem *m);

/* Pass a block to another process; the receiver attaches (and may not
 * unlink). Errors as for the other payload calls in troupe/sync.h. */
int tp_payload_add_shmem(tp_payload *p, const tp_shmem *m);
int tp_payload_get_shmem(const tp_payload *p, size_t i, tp_shmem **out);

/* ---- ShareableList ----------------------------------------------------- */

typedef struct tp_slist tp_slist;

/*
 * tp_slist_new is Python's ShareableList(sequence): a list of the values
 * of items (int, float, str, bytes, None; copied) in a new SharedMemory
 * block owned by the caller, which any process attaches by its name
 * (tp_slist_attach, or from a payload). Its length is fixed; each item
 * keeps the room it was created with: 8 bytes for a number, bool or None,
 * a str's UTF-8 bytes or a bytes' length rounded up to 8 (at least 8).
 * tp_slist_new_named is ShareableList(sequence, name=name) (name as for
 * tp_shmem_new_named). Errors: TP_EINVAL (NULL), TP_ETYPE (a protobuf
 * value in items), TP_EEXIST (name taken), TP_ENOTINIT, TP_ENOMEM,
 * wrapped system errors; nothing is left behind on failure.
 *
 * Like Python's, the list has no lock: a reader never reads outside an
 * item, but processes that write the same item at once need a tp_lock.
 */
int tp_slist_new(tp_slist **out, const tp_payload *items);
int tp_slist_new_named(tp_slist **out, const char *name,
                       const tp_payload *items);

/*
 * tp_slist_attach is ShareableList(name=name): maps the list of the block
 * called name (tp_slist_name of the creator, or its chosen name).
 * Errors: TP_EINVAL, TP_ENOENT (no such block), TP_EDECODE (the block is
 * not a ShareableList: checked before any item is read).
 */
int tp_slist_attach(tp_slist **out, const char *name);

/* Closes the handle (Python's shm.close()); never unlinks. NULL allowed. */
void tp_slist_free(tp_slist *l);

/* Removes the block's name (shm.unlink()); only the creator may, as for
 * tp_shmem_unlink (TP_EPERM, TP_EALREADY). */
int tp_slist_unlink(tp_slist *l);

/* len(l) (0 for NULL); the name to attach by; the block (Python's l.shm,
 * borrowed: freed with the list). */
size_t tp_slist_len(const tp_slist *l);
const char *tp_slist_name(const tp_slist *l);
tp_shmem *tp_slist_shmem(tp_slist *l);

/*
 * tp_slist_get appends l[i] to dst (a bool as the int 0 or 1, as Python's
 * bool is an int; tp_slist_is_bool tells it apart). tp_slist_get_all
 * appends every item (list(l)). Errors: TP_EINVAL (NULL), TP_ENOENT (i out
 * of range), TP_ENOMEM, TP_EDECODE (the slot was overwritten with
 * garbage by a process that does not follow this layout).
 */
int tp_slist_get(tp_slist *l, size_t i, tp_payload *dst);
int tp_slist_get_all(tp_slist *l, tp_payload *dst);
/* 1 when l[i] is a bool, else 0 (also for NULL or i out of range). */
int tp_slist_is_bool(tp_slist *l, size_t i);

/*
 * l[i] = value. Any type may replace any other, as long as it fits the
 * item's room (see tp_slist_new): a longer str or bytes gives TP_ETOOBIG
 * (Python's ValueError) and changes nothing. tp_slist_set copies value j
 * of src. Errors: TP_EINVAL (NULL), TP_ENOENT (i or j out of range),
 * TP_ETOOBIG, TP_ETYPE (a protobuf value).
 */
int tp_slist_set_int(tp_slist *l, size_t i, int64_t v);
int tp_slist_set_double(tp_slist *l, size_t i, double v);
int tp_slist_set_bool(tp_slist *l, size_t i, int v);
int tp_slist_set_none(tp_slist *l, size_t i);
int tp_slist_set_str(tp_slist *l, size_t i, const char *s);
int tp_slist_set_bytes(tp_slist *l, size_t i, const void *data, size_t n);
int tp_slist_set(tp_slist *l, size_t i, const tp_payload *src, size_t j);

/*
 * l.count(value) and l.index(value), value being value j of v: how many
 * items equal it, and the position of the first that does. Equality is
 * Python's ==: 1, 1.0 and True are equal (an int and a float exactly:
 * 2**53 + 1 is not 2.0**53), a NaN equals nothing, a str never equals
 * bytes, None only None. Each item is read once, as tp_slist_get would.
 * Errors: TP_EINVAL (NULL, j out of range), TP_ETYPE (a protobuf value),
 * and for tp_slist_index TP_ENOENT when no item equals value (Python's
 * ValueError "... not in this container"; *out is left alone).
 */
int tp_slist_count(tp_slist *l, const tp_payload *v, size_t j, size_t *out);
int tp_slist_index(tp_slist *l, const tp_payload *v, size_t j, size_t *out);

/* Pass a list to another process: it travels as its SharedMemory block;
 * the receiver attaches (TP_EDECODE if the block is no list) and may not
 * unlink. */
int tp_payload_add_slist(tp_payload *p, const tp_slist *l);
int tp_payload_get_slist(const tp_payload *p, size_t i, tp_slist **out);

#ifdef __cplusplus
}
#endif
#endif
