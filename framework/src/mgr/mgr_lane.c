/*
 * mgr_lane.c - the shared-memory lane's memory (mgr_lane.h): the
 * client's sealed memfd, the server's check of it, and the spin helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgr_lane.h"
#include "troupe/error.h"

#define LANE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int tp__lane_can_spin(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	return CPU_COUNT(&set) > 1;
}

void tp__lane_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

int tp__lane_create(int *fd, struct tp__lane_shm **out)
{
	int f =
	    memfd_create("troupe-mgr-lane", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return tp_err_errno(errno);
	void *p = MAP_FAILED;
	if (ftruncate(f, TP__LANE_SIZE) != 0 ||
	    fcntl(f, F_ADD_SEALS, LANE_SEALS) != 0 ||
	    (p = mmap(NULL, TP__LANE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	              f, 0)) == MAP_FAILED) {
		int e = errno;
		close(f);
		return tp_err_errno(e);
	}
	/* a forked child never sees (or writes) its parent's slots */
	madvise(p, TP__LANE_SIZE, MADV_DONTFORK);
	*fd = f;
	*out = p;
	return TP_OK;
}

int tp__lane_map(int fd, struct tp__lane_shm **out)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	/* only a memfd created with sealing can carry SHRINK and GROW: a
	 * file that cannot shrink under the mapping (no SIGBUS here) */
	if (seals < 0 || (seals & LANE_SEALS) != LANE_SEALS ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != TP__LANE_SIZE)
		return TP_EINVAL;
	struct tp__lane_shm *l = mmap(
	    NULL, TP__LANE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (l == MAP_FAILED)
		return TP_EINVAL; /* e.g. write-sealed */
	madvise(l, TP__LANE_SIZE, MADV_DONTFORK);
	if (__atomic_load_n(&l->req_seq, __ATOMIC_ACQUIRE) != 0 ||
	    __atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE) != 0) {
		munmap(l, TP__LANE_SIZE);
		return TP_EINVAL;
	}
	*out = l;
	return TP_OK;
}

void tp__lane_unmap(struct tp__lane_shm *l)
{
	if (l != NULL)
		munmap(l, TP__LANE_SIZE);
}
