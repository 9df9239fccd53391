/*
 * shm.h - internal: named POSIX shared-memory segments tied to a run.
 *
 * Names have the form "/troupe.<uid>.<runid>.<seq>" where runid is the
 * owner run's "<pid>.<starttime>" (tp__rt.id). Every segment of a run is
 * unlinked when the owner calls tp_fini, and segments of dead runs are
 * unlinked by the next tp_init, so nothing leaks in /dev/shm.
 */
#ifndef TP_SHM_H
#define TP_SHM_H

#include <stddef.h>

#define TP_SHM_NAME_MAX 96

/*
 * Creates a new zero-filled segment of size bytes and maps it read/write.
 * name receives its name (TP_SHM_NAME_MAX bytes). Errors: TP_ENOTINIT,
 * TP_EINVAL, wrapped system errors.
 */
int tp__shm_create(size_t size, char *name, void **addr);

/*
 * The same with its memory allocated up front (posix_fallocate), so that
 * a full /dev/shm is an error here (wrapped ENOSPC) and not a SIGBUS at
 * the first write.
 */
int tp__shm_create_reserved(size_t size, char *name, void **addr);

/* Maps an existing segment; *size receives its size. TP_ENOENT if gone. */
int tp__shm_attach(const char *name, void **addr, size_t *size);

/*
 * Segments under a name the user chose: "/troupe.<uid>.<runid>.n.<uname>",
 * still tied to the run that made them (removed at its tp_fini, or by the
 * next tp_init once it is gone). uname must be 1 to TP_SHM_UNAME_MAX
 * characters of [A-Za-z0-9_-] (the caller checks). A name is unique among
 * this user's live runs sharing a runtime base directory: the check and
 * the creation happen under a lock on that directory.
 * tp__shm_create_named: as tp__shm_create; TP_EEXIST if the name is taken.
 * tp__shm_find_named: writes the segment's name; TP_ENOENT if there is
 * none (or only one of a run that is gone).
 */
#define TP_SHM_UNAME_MAX 40
int tp__shm_create_named(const char *uname, size_t size, char *name,
                         void **addr);
int tp__shm_find_named(const char *uname, char *name);

/*
 * Segments of a group (the SharedMemoryManager's, mgr/smm.c):
 * "/troupe.<uid>.<runid>.<tag>-<seq>", tag 1 to 32 of [A-Za-z0-9]
 * (no '.', so no ".n." either). tp__shm_tag_prefix writes the /dev/shm
 * entry prefix "troupe.<uid>.<runid>.<tag>-" of this run's group tag;
 * tp__shm_unlink_prefix unlinks every entry of this user with that
 * prefix (TP_EINVAL for one not of this user's troupe segments) and
 * returns how many it removed in *n (may be NULL).
 */
#define TP_SHM_TAG_MAX 32
int tp__shm_create_tagged(const char *tag, size_t size, char *name,
                          void **addr);
int tp__shm_tag_prefix(const char *tag, char *buf, size_t len);
/* A segment of the group whose prefix (as tp__shm_tag_prefix wrote it,
 * possibly in another run of this user: a SharedMemoryManager's client)
 * is given: "/<prefix><pid>x<seq>", so no two processes pick one name.
 * TP_EINVAL for a prefix not of this user's troupe segments or not
 * ending in '-'; else as tp__shm_create. */
int tp__shm_create_in(const char *prefix, size_t size, char *name, void **addr);
int tp__shm_unlink_prefix(const char *prefix, int *n);

/* Unmaps a mapping made by tp__shm_create/attach. NULL is allowed. */
void tp__shm_detach(void *addr, size_t size);

/* Unlinks a segment by name (mappings stay valid). */
int tp__shm_unlink(const char *name);

/* Unlinks every segment of run runid. */
void tp__shm_clean_run(const char *runid);

/* Unlinks the segments of runs whose owner is gone. */
void tp__shm_clean_stale(void);

#endif
