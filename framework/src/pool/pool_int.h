/*
 * pool_int.h - internal: the pool's objects, shared by pool.c (API and
 * lifecycle), pool_job.c (results and iterators), pool_loop.c (the
 * pool's scheduler on its reactor: dispatch and settling), pool_sup.c (the
 * workers as children of the pool's supervisor), pool_send.c (sending batches),
 * pool_worker.c (the worker process), pool_file.c (shared files), pool_sched.c,
 * and init.c (tp__pool_fini).
 *
 * Locking: pool->mu guards the pool (queue, workers, job list); job->mu
 * guards one job's results. Order: pool->mu before job->mu. Callbacks run
 * with no lock held.
 */
#ifndef TP_POOL_INT_H
#define TP_POOL_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "reactor.h"
#include "troupe/pool.h"
#include "troupe/supervisor.h"
#include "values.h"

enum pool_kind {
	POOL_APPLY,
	POOL_MAP,     /* items: one value per call */
	POOL_STARMAP, /* argv: one payload per call */
	POOL_MAPINT,  /* ints_in -> ints_out */
};

enum pool_iter_mode { POOL_NOITER, POOL_ORDERED, POOL_UNORDERED };

struct pool_terr {
	int rv;   /* what get returns: TP_EREMOTE, TP_EDIED, ... */
	int code; /* the task's return value, or rv; for a worker's death
	             (rv TP_EDIED) tp__pool_death of its status */
	char *origin;
	char *message;
};

/* A dead worker's status (its exit code, or minus its signal) in
 * pool_terr.code, told apart from a plain TP_EDIED (no death of its
 * own); tp__pool_err_public turns it into code TP_EDIED, exitcode and
 * signal. Only ever with rv TP_EDIED, which no task's return value
 * gives. */
#define TP__POOL_DEATH_FLAG 0x40000000
static inline int tp__pool_death(int st)
{
	return TP__POOL_DEATH_FLAG |
	       (st < 0 ? 0x100 | ((-st) & 0xff) : (st & 0xff));
}

/* The public form of e (see tp_pool_error). */
void tp__pool_err_public(const struct pool_terr *e, tp_pool_error *out);

/* A job: what one apply/map call submitted; the user's tp_pool_result. */
struct tp_pool_result {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	enum pool_kind kind;
	enum pool_iter_mode iter;
	const char *func; /* the task's registered name */
	/* The arguments: borrowed from a caller that waits for the job, else
	 * the job's own copies (own_*), which share the values' bytes. */
	const tp_payload *items;       /* apply args / map items */
	const tp_payload *const *argv; /* starmap */
	tp_payload *own_items;
	tp_payload **own_argv;
	const int64_t *ints_in; /* map_int: borrowed, the caller waits */
	int64_t *ints_out;
	char seg[256];    /* large map_int: the shared file ("" if none) */
	int64_t *seg_map; /* its mapping: n inputs, then n outputs */
	size_t n, chunksize, ntasks;
	size_t tasks_done, items_done;
	/* map, starmap, imap: item i's result is value i of res, made n
	 * slots at the first chunk stored, packed when that chunk's results
	 * are all ints or all doubles (and while the others' are too). */
	tp_payload *res;
	/* The results' slots, fresh memory whose first touch (a page fault,
	 * the page zeroed) would otherwise fall to the pool's thread as
	 * results come: a caller waiting for the job faults them in ahead of
	 * it, on a CPU that is otherwise idle (job_prefault in pool_job.c).
	 * [pf_base, pf_base + pf_len), the first pf_done claimed. */
	unsigned char *pf_base;
	size_t pf_len, pf_done;
	/* Then, for values with bytes, spare chunks for the pool's thread to
	 * copy them into (tp__pool_out_spare_make): pf_chunks more to make,
	 * about as many as the items' bytes fill; pf_made made. */
	int pf_chunks, pf_made;
	unsigned char *tdone;   /* per task: finished */
	struct pool_terr *terr; /* imap: per item errors (lazily) */
	size_t *order;          /* unordered: task indices as they finish */
	size_t norder;
	tp_payload *value; /* apply result, or the joined map result */
	int settled;       /* every task is accounted for */
	int ready;         /* visible to callers: settled and callbacks ran */
	int failed, observed;
	struct pool_terr err; /* the job's failure */
	tp_pool_callback callback;
	tp_pool_error_callback error_callback;
	void *arg;
	tp_pool_progress_fn progress;
	void *progress_arg;
	size_t progress_told; /* items the progress function was told of */
	int timeout_ms;       /* per task; 0: none */
	int fire_and_forget;
	struct tp_pool_result *prev, *next; /* the pool's unfinished jobs */
};

/* One unit sent to a worker: an apply, or a chunk of a map (items
 * [first, first + count) of its job). */
struct pool_task {
	uint64_t id;
	struct tp_pool_result *job;
	size_t index, first, count;
	int tries;
	size_t bytes; /* the last task of a batch: the batch's bytes */
	struct pool_task *next;
};

/* The slot of the shared segment where a worker says what it runs. */
struct pool_slot {
	_Atomic uint64_t current;    /* task id + 1, 0 when idle */
	_Atomic uint64_t started_ns; /* when it started (CLOCK_MONOTONIC) */
	char pad[48];
};

/*
 * One worker slot: a child of the pool's supervisor (named name, for ever)
 * and the pool's pair1 socket to its current run. The supervisor starts,
 * watches, reaps and restarts the process; each run dials
 * "<pool address>-<its pid>", so the pool opens a fresh socket per run
 * (learnt from the supervisor's TP_EV_STARTED) and nothing sent to a dead
 * run can reach the next one.
 */
struct pool_worker {
	int slot;
	pid_t pid;      /* the run the pool talks to; 0 none */
	pid_t next_pid; /* a run started before this one was settled */
	int exit_code;  /* of the run that exited (TP_EV_EXITED) */
	nng_socket sock;
	int sock_open;
	int recvfd;
	struct tp__pool_ring *ring; /* this run's batch ring, from its first
	                               large batch (NULL: none yet) */
	int ring_off;               /* the ring could not be made: messages */
	int ring_told; /* a message named the ring: notes may name slots */
	/* The run's local channel (pool_fast.c): the listener until the run
	 * connects, then the connection; -1 none. On the reactor: lsrc,
	 * fsrc. */
	int fast_lfd, fast_fd;
	tp__rsrc *lsrc, *fsrc;
	char fast_path[108];
	char name[32];
	int ready;       /* hello received */
	int retiring;    /* got its maxtasksperchild tasks */
	int stopping;    /* sent Stop */
	int broken;      /* its initializer failed, or the supervisor gave
	                    up: not restarted */
	int exited;      /* its supervisor reported the exit */
	int64_t exit_ms; /* when (tp__now_ms) */
	/* On the pool's reactor (pool_loop.c): the run's receive fd, its
	 * send fd (watched only while a send found the pipe full) and the
	 * grace timer for the last bytes of a run that exited. */
	tp__rsrc *rsrc, *ssrc, *grace;
	int send_wait; /* a send found its pipe full: ssrc is watched */
	atomic_int pipe_gone;
	size_t inflight;
	size_t inflight_bytes; /* of the batches it holds (local pools) */
	struct pool_task *held, *held_tail;
	uint64_t sent, done, restarts, deaths;
	unsigned runs; /* runs attached so far */
	double avg_ns; /* time per item, moving average */
	double head_t; /* when the oldest task in flight became the oldest */
	uint64_t killed_for; /* id + 1 of the task it was killed for running
	                        past its time limit, 0 if none */
	struct tp_pool *pool;
};

enum pool_state { POOL_RUN, POOL_CLOSE, POOL_TERMINATE };

/* An event of the pool's supervisor, queued for the pool thread. */
struct pool_ev {
	tp_sup_event_kind kind;
	int slot; /* -1: the supervisor itself */
	pid_t pid;
	int code;
};

struct tp_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	struct pool_worker *w;
	char prefix[16];
	char *init_name;
	void *init_buf; /* encoded initargs */
	size_t init_len;
	int maxtasks, max_retries, pipeline;
	int task_timeout_ms;
	size_t max_msg;
	tp_start_method method;
	tp_pool_on_death on_death;
	const tp_pool_sched *sched;
	uintptr_t sched_state;
	struct pool_task *qhead, *qtail;
	size_t queued;
	struct tp_pool_result *jobs; /* unfinished */
	/* The scheduler (pool_loop.c): a reactor served by thr, its
	 * doorbell (tp__pool_kick), the task deadline and send retry timers,
	 * and what the current round found. */
	tp__reactor *r;
	tp__rsrc *bell, *tmo, *retry;
	/* TP__POOL_FAST_MAX bytes for the pool thread's records on the
	 * local channels (read and written under mu, one at a time) */
	unsigned char *fast_buf;
	struct pool_round *rd;
	pthread_t thr;
	int thr_started, thr_done, joined;
	enum pool_state state;
	int stop_sent;
	double term_t;
	uint64_t next_id;
	tp_pool_stats st;
	/* The pool's supervisor (pool_sup.c): simple_one_for_one, under the
	 * program's root supervisor as child sup_id. */
	tp_sup *root, *sup;
	char sup_id[32];
	char addr[256]; /* the workers' address, before "-<pid>" */
	int sup_intensity, sup_period_ms;
	int sup_failed;    /* its restart intensity was exceeded */
	char gave_up[200]; /* then: what pending work fails with */
	int sup_stopped;
	pthread_mutex_t evmu; /* guards evq (taken by the sup's loop) */
	struct pool_ev *evq;
	size_t nev, evcap;
	char shm_name[256]; /* the slots file */
	struct pool_slot *slots;
	size_t shm_size;
	int hellos, init_failed, created;
	struct tp_pool *live_next;              /* every pool not yet freed */
	const struct tp__pool_backend *backend; /* NULL: local workers */
};

/* pool_job.c */
int tp__pool_job_new(struct tp_pool_result **out, enum pool_kind kind,
                     const char *func, size_t n, size_t chunksize);
void tp__pool_job_unref(struct tp_pool_result *j);
void tp__pool_job_ref(struct tp_pool_result *j);
/* What a task gave back: a failure of the whole task (rv != TP_OK), or
 * its values (vr) or ints, and the calls that failed on their own. */
struct pool_outcome {
	int rv, code;
	const char *origin, *message;
	struct tp__vread *vr;
	const int64_t *ints;
	size_t nints;
	Troupe__PoolItemError **ierr;
	size_t nierr;
};

/* Records the outcome of task t; called by the loop under pool->mu. The
 * values are taken. Returns flags: 1 when the job became ready, 2 when it
 * has a progress function (the caller then runs tp__pool_job_notify with
 * no lock held). */
int tp__pool_job_task_done(struct tp_pool_result *j, size_t t, size_t first,
                           size_t count, const struct pool_outcome *o);
/* Fails every unfinished part of j with code (terminate, dead workers). */
int tp__pool_job_fail(struct tp_pool_result *j, int rv, const char *origin,
                      const char *message);
/* Runs callbacks and progress of a job that became ready or advanced. */
void tp__pool_job_notify(struct tp_pool_result *j, int became_ready);
int tp__pool_job_settled(struct tp_pool_result *j);
int tp__pool_iter_new(tp_pool_iter **out, struct tp_pool_result *j);

/* pool_loop.c */
/* Makes the pool's reactor and its sources (before its supervisor, whose
 * events ring the doorbell); freed with tp__pool_loop_free (NULL ok). */
int tp__pool_loop_new(struct tp_pool *pool);
void tp__pool_loop_free(struct tp_pool *pool);
/* The pool's thread: runs the reactor until the pool is done. */
void *tp__pool_loop(void *arg);
/* Rings the doorbell (any thread). */
void tp__pool_kick(struct tp_pool *pool);
void tp__pool_task_free(struct pool_task *t);

/* pool_sup.c: the pool's workers as children of its supervisor */
/* Makes the pool's supervisor under tp_sup_root() (pool->sup). */
int tp__pool_sup_new(struct tp_pool *pool);
/* Starts worker w's first run (any thread but the pool's, no lock). */
int tp__pool_sup_start(struct tp_pool *pool, struct pool_worker *w);
/* Starts again a worker that exited normally (recycled). */
int tp__pool_sup_restart(struct tp_pool *pool, struct pool_worker *w);
/* Sends sig to w's current run. */
void tp__pool_sup_signal(struct tp_pool *pool, struct pool_worker *w, int sig);
/* Stops every worker (no restarts), waiting for them. */
void tp__pool_sup_stop(struct tp_pool *pool);
/* Stops and removes the supervisor from the root; pool->sup becomes NULL. */
void tp__pool_sup_free(struct tp_pool *pool);
/* Takes the queued events (free() the array); *n gets their number. */
struct pool_ev *tp__pool_sup_events(struct tp_pool *pool, size_t *n);
/* In a worker run (any worker kind): dials the pool at addr, the first
 * argument of the worker's target, as "<addr>-<its pid>", without waiting
 * (nng retries every few ms until the pool listens there). nng's code. */
int tp__pool_worker_dial(nng_socket s, const char *addr);
/* Opens the pool's socket to w's run pid (the pool thread). */
int tp__pool_worker_attach(struct tp_pool *pool, struct pool_worker *w,
                           pid_t pid);

/* pool_send.c: sends worker w up to room queued tasks in one message. */
int tp__pool_send_batch(struct tp_pool *pool, struct pool_worker *w,
                        size_t room);

/* pool_worker.c: the worker process's target */
int tp__pool_worker(const tp_payload *args, tp_payload *result);
/* The message of the last tp_task_fail in this process (NULL: none since
 * the last reset); reset: forget it. For task runners of other kinds. */
const char *tp__task_fail_message(int reset);

/* pool_send.c: packs an Envelope into one nng message and sends it
 * (flags: nng's). */
int tp__pool_send(nng_socket s, const void *env_msg, int flags);
/* The same when its packed size (len) is known already. */
int tp__pool_send_sized(nng_socket s, const void *env_msg, size_t len,
                        int flags);

/* pool_wire.c: a received batch of tasks or results read in place (the
 * structs point into the message; values read from their args/values
 * with tp__vread_init_at(.., blob) borrow from it). */
struct tp__pool_in {
	size_t n;
	Troupe__PoolTask **tasks;     /* tasks_read */
	Troupe__PoolResult **results; /* results_read */
	unsigned char *own;           /* per result: protobuf-c's (errors) */
	struct tp__blob *blob;        /* holds the message */
	void *mem;
};
/* Reads an Envelope{pool_tasks} (or pool_results) from m. Takes m (also
 * on failure: TP_EDECODE malformed, TP_ENOMEM), except on TP_ENOENT: m
 * has another body and stays the caller's. Free with tp__pool_in_free
 * (the message lives on while values read from it do). */
int tp__pool_tasks_read(nng_msg *m, struct tp__pool_in *in);
int tp__pool_results_read(nng_msg *m, struct tp__pool_in *in);
void tp__pool_in_free(struct tp__pool_in *in);

/* Reads an Envelope{pool_tasks} (pool_results) from len bytes at buf,
 * which stay valid until release(arg) runs: with the last value read from
 * them, or at once on failure (TP_EDECODE, TP_ENOMEM). */
int tp__pool_tasks_read_mem(const unsigned char *buf, size_t len,
                            void (*release)(void *), void *arg,
                            struct tp__pool_in *in);
int tp__pool_results_read_mem(const unsigned char *buf, size_t len,
                              void (*release)(void *), void *arg,
                              struct tp__pool_in *in);

/* pool_ring.c: a worker run's batch ring (slots in a shared-memory
 * segment of the run, rt/shm.h). Batches from TP__POOL_RING_MIN bytes go
 * through it. */
#define TP__POOL_RING_MIN ((size_t)32 << 10)
struct tp__pool_ring;
/* Creates and maps a ring: TP_OK, or rt/shm.h's errors. */
int tp__pool_ring_new(struct tp__pool_ring **out);

/* Results copied out of a ring go into chunks of this size; at most
 * TP__POOL_SPARES_MAX spare chunks wait (pool_ring.c). */
#define TP__POOL_OUT_CHUNK  ((size_t)2 << 20)
#define TP__POOL_SPARES_MAX 32

/* Makes one spare results chunk (mapped, faulted in) for the pool's
 * thread to copy results into (pool_ring.c): 1 if made, 0 if the spares
 * are full or memory is short. tp__pool_out_spares_trim keeps the few a
 * next map starts with and gives back the rest. Any thread. */
int tp__pool_out_spare_make(void);
void tp__pool_out_spares_trim(void);
int tp__pool_out_spares(void); /* how many wait (for tests) */
/* Unmaps and removes it (a run still mapping it keeps its pages). */
void tp__pool_ring_free(struct tp__pool_ring *r);
const char *tp__pool_ring_path(const struct tp__pool_ring *r);
/* A free slot for len bytes, marked busy (*slot its number); NULL when
 * len is over a slot or every slot is busy (or could not be reserved:
 * /dev/shm is full). */
unsigned char *tp__pool_ring_take(struct tp__pool_ring *r, size_t len,
                                  uint32_t *slot);
/* A taken slot whose batch was not sent. */
void tp__pool_ring_put_back(struct tp__pool_ring *r, uint32_t slot);
/* The worker's side: the ring it maps. */
struct tp__pool_wring {
	char path[256];
	unsigned char *map;
	size_t size;
	int fd;             /* for reserving result slots (-1: none) */
	int full;           /* a reservation failed: no result slots */
	size_t reserved[8]; /* bytes of each result slot reserved so far */
	size_t seen[8];     /* of each task slot, mapped so far */
};
/* Reads the batch of len bytes in slot of the ring named path (mapped on
 * first use, until the process exits) into in; the slot is freed when
 * in's values go. TP_EDECODE: not a ring of this build, another ring than
 * the first, a slot or length out of range, a malformed batch; the file's
 * errors. */
int tp__pool_wring_read(struct tp__pool_wring *w, const char *path,
                        uint32_t slot, uint64_t len, struct tp__pool_in *in);
/* A free result slot of the worker's ring for len bytes, reserved (*slot
 * its number); NULL when there is no ring yet, len is over a slot, every
 * result slot still waits for the pool, or /dev/shm is full. Mark it full
 * just before sending the message that names it, empty again if that
 * send fails. */
unsigned char *tp__pool_wring_take(struct tp__pool_wring *w, size_t len,
                                   uint32_t *slot);
void tp__pool_wring_mark(struct tp__pool_wring *w, uint32_t slot, int full);
/* The pool's side: reads the results a worker of ring r's run wrote in
 * slot (len bytes) into in, after copying them out and freeing the slot.
 * TP_EDECODE: another ring, a slot or length out of range, a slot not
 * marked full, a malformed batch; TP_ENOMEM. */
int tp__pool_ring_results(struct tp__pool_ring *r, const char *path,
                          uint32_t slot, uint64_t len, struct tp__pool_in *in);
/* For a process that passes a batch on as it is (the MPI bridge, in the
 * pool's own process): *out is the batch's len bytes in slot of the ring
 * named path (mapped into w as by wring_read), busy until
 * tp__pool_wring_free. Errors: wring_read's (TP_ENOENT: the ring is gone
 * with its run). */
int tp__pool_wring_bytes(struct tp__pool_wring *w, const char *path,
                         uint32_t slot, uint64_t len,
                         const unsigned char **out);
void tp__pool_wring_free(struct tp__pool_wring *w, uint32_t slot);
/* Unmaps w's ring (its slots' bytes are no longer read). */
void tp__pool_wring_close(struct tp__pool_wring *w);

/* pool_fast.c: a worker run's local channel (a Unix SOCK_SEQPACKET
 * connection) for the notes that say a batch is in the run's ring and for
 * batches under TP__POOL_FAST_MAX bytes, both ways; nng carries the rest. */
struct tp__pool_note {
	uint32_t kind; /* TP__POOL_NOTE_* */
	uint32_t slot; /* of the run's ring */
	uint64_t len;  /* bytes of the batch there */
};
/* TASKS, RESULTS: in slot of the run's ring; BYTES: the len bytes of an
 * Envelope{pool_tasks} (to the worker) or {pool_results} (to the pool)
 * follow the note in its record. */
enum {
	TP__POOL_NOTE_TASKS = 1,
	TP__POOL_NOTE_RESULTS = 2,
	TP__POOL_NOTE_BYTES = 3
};
#define TP__POOL_FAST_MAX ((size_t)32 << 10) /* TP__POOL_RING_MIN */
/* The channel's path for the run pid of a pool at addr ("ipc://..."):
 * TP_EINVAL for another transport, ENAMETOOLONG. */
int tp__pool_fast_path(const char *addr, pid_t pid, char *path, size_t size);
/* The pool: listens at path (non-blocking, close-on-exec), then accepts
 * the one connection whose peer is pid: TP_EEMPTY none waiting, TP_EPERM
 * a peer that is not pid (closed), errno's. */
int tp__pool_fast_listen(const char *path, int *fd);
int tp__pool_fast_accept(int lfd, pid_t pid, int *fd);
/* The worker: connects to path (a blocking socket). */
int tp__pool_fast_dial(const char *path, int *fd);
/* One note, without blocking: TP_EFULL the socket is full, TP_ECLOSED the
 * other end is gone. */
int tp__pool_fast_send(int fd, uint32_t kind, uint32_t slot, uint64_t len);
/* A note BYTES with len (1..TP__POOL_FAST_MAX) bytes at p, without
 * blocking: TP_ETOOBIG, TP_EFULL, TP_ECLOSED. */
int tp__pool_fast_send_bytes(int fd, const void *p, size_t len);
/* The next note, without blocking, and for BYTES its bytes into buf (cap
 * bytes; NULL: BYTES is refused): TP_EEMPTY none yet, TP_ECLOSED the
 * other end is gone, TP_EDECODE a record that is not a note or is cut
 * (dropped). */
int tp__pool_fast_recv(int fd, struct tp__pool_note *n, void *buf, size_t cap);
/* Reads every note waiting on fd, without blocking, and hands each to
 * fn (a BYTES note's bytes in buf, cap bytes; records that are not notes
 * are dropped): TP_OK when none is left, TP_ECLOSED once the other end is
 * gone (after the notes it sent before). */
int tp__pool_fast_drain(int fd, void *buf, size_t cap,
                        void (*fn)(const struct tp__pool_note *n,
                                   const unsigned char *bytes, void *arg),
                        void *arg);

/* pool_file.c: shared files in the run directory (the slots file, int map
 * segments), created and mapped by the pool (path gets
 * "<rundir>/pool-PID-SEQ.kind"), mapped by workers. */
int tp__pool_file_create(char *path, size_t len, const char *kind, size_t size,
                         void **addr);
int tp__pool_file_attach(const char *path, void **addr, size_t *size);

/* pool_remote.c: worker kinds. A backend (registered by a layer above)
 * offers workers elsewhere: open gives their number (or an error) and
 * reserves them for one pool with its options (on_death, max_retries,
 * task_timeout_ms: the remote side applies them), close releases them; each
 * worker slot runs the target worker, a local stand-in that speaks the worker
 * protocol. Its pools use no shared files (the workers cannot map them). */
struct tp__pool_backend {
	int (*open)(const tp_pool_opts *o, int *n);
	void (*close)(void);
	tp_target_fn worker;
	/* Work to keep queued per worker (ns; 0: the local pool's 2 ms):
	 * a remote worker's round trip is longer, so it needs more in
	 * hand never to wait for its next task. */
	double depth_ns;
	/* Its worker processes are local and pass a batch in the run's
	 * ring on by where it is (Envelope{pool_tasks_ring}), freeing the
	 * slot once it is sent: large batches go through the ring as for
	 * local workers. */
	int ring;
	/* Its runs get a local channel (pool_fast.c) too, dialled not by
	 * the run but by this process (the backend's own thread, which
	 * then carries the run's notes and small batches both ways
	 * without the stand-in): its peer is this pid. */
	int fast_here;
};
void tp__pool_backend_set(tp_pool_backend which,
                          const struct tp__pool_backend *b);
/* From tp_pool_new_opts: sets pool->n and pool->backend for o->backend. */
int tp__pool_backend_open(struct tp_pool *pool, const tp_pool_opts *o);
void tp__pool_backend_close(struct tp_pool *pool);
/* The target a worker process of pool runs. */
tp_target_fn tp__pool_worker_target(const struct tp_pool *pool);

/* The pool module's part of tp_fini (pool.c, called by init.c): terminates
 * and joins every pool still open, as Python finalizes pools at exit,
 * before children are finished. */
void tp__pool_fini(void);

/* Calls fn for each live pool (the live list locked: fn must not create
 * or free pools). For the control socket's status. */
void tp__pool_each(void (*fn)(void *arg, tp_pool *p), void *arg);

#endif
