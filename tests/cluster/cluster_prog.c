/*
 * cluster_prog.c - the program the MPI tests run under mpirun over the
 * netns hosts (tests/cluster/run.sh). Rank 0 runs one case; the other
 * ranks are node agents. Each case prints what it checked and exits 0
 * when every check held (1 otherwise).
 *
 *   map N       map_int, map, starmap, apply, apply_async and imap over
 *               N items; every result right; every agent's host served
 *   crash HOST  tasks that kill their worker on HOST fail with TP_EDIED,
 *               the rest are right, and the pool works after
 *   load        prints "WORKER host pid agentpid" per remote worker,
 *               then "LOAD", then maps slow tasks (retried on death):
 *               the script kills a worker or an agent meanwhile
 *   quiet SECS  a map, then "QUIET" and SECS seconds without a task (the
 *               loops' waits back off to their cap), then another map:
 *               every result right (the script may cut a link meanwhile)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

static int failures;
#define CHECK(c, ...)                                                          \
	do {                                                                   \
		if (!(c)) {                                                    \
			failures++;                                            \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);            \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
		}                                                              \
	} while (0)

static int square(const tp_payload *a, tp_payload *r)
{
	int64_t x;
	int rv = tp_payload_get_int(a, 0, &x);
	return rv ? rv : tp_payload_add_int(r, x * x);
}
TP_TARGET(square);

static int add(const tp_payload *a, tp_payload *r)
{
	int64_t x, y;
	int rv = tp_payload_get_int(a, 0, &x) || tp_payload_get_int(a, 1, &y);
	return rv ? TP_EINVAL : tp_payload_add_int(r, x + y);
}
TP_TARGET(add);

/* "host pid parent-pid" of the worker that runs it. */
static int whoami(const tp_payload *a, tp_payload *r)
{
	char h[64], s[160];
	(void)a;
	gethostname(h, sizeof(h));
	h[63] = '\0';
	snprintf(s, sizeof(s), "%s %d %d", h, (int)getpid(), (int)getppid());
	return tp_payload_add_string(r, s);
}
TP_TARGET(whoami);

/* Kills its own worker on the host named by its second argument. */
static int crash_on(const tp_payload *a, tp_payload *r)
{
	int64_t x;
	const char *host;
	char h[64];
	if (tp_payload_get_int(a, 0, &x) || tp_payload_get_string(a, 1, &host))
		return TP_EINVAL;
	gethostname(h, sizeof(h));
	if (strcmp(h, host) == 0)
		raise(SIGKILL);
	return tp_payload_add_int(r, x * x);
}
TP_TARGET(crash_on);

/* x * 3 after about ns of sleep. */
static int triple_after(const tp_payload *a, tp_payload *r, long ns)
{
	int64_t x;
	struct timespec ts = {0, ns};
	if (tp_payload_get_int(a, 0, &x))
		return TP_EINVAL;
	nanosleep(&ts, NULL);
	return tp_payload_add_int(r, x * 3);
}

static int slow(const tp_payload *a, tp_payload *r)
{
	return triple_after(a, r, 2000000);
}
TP_TARGET(slow);

static int tick(const tp_payload *a, tp_payload *r)
{
	return triple_after(a, r, 50000);
}
TP_TARGET(tick);

static int fails_odd(const tp_payload *a, tp_payload *r)
{
	int64_t x;
	if (tp_payload_get_int(a, 0, &x))
		return TP_EINVAL;
	if (x % 2)
		return tp_task_fail(r, "odd %lld", (long long)x);
	return tp_payload_add_int(r, x);
}
TP_TARGET(fails_odd);

static int n_hosts(tp_pool *pool, int want)
{
	tp_payload *items = NULL, *out = NULL;
	char seen[16][64];
	int nseen = 0;
	tp_payload_new(&items);
	for (int i = 0; i < 64 * tp_cluster_workers(); i++)
		tp_payload_add_int(items, i);
	tp_pool_call_opts co = {.chunksize = 1};
	int rv = tp_pool_map_opts(pool, whoami, items, &co, &out);
	CHECK(rv == TP_OK, "whoami map: %s", tp_strerror(rv));
	for (size_t i = 0; rv == TP_OK && i < tp_payload_count(out); i++) {
		const char *s;
		char h[64];
		int k;
		tp_payload_get_string(out, i, &s);
		sscanf(s, "%63s", h);
		for (k = 0; k < nseen && strcmp(seen[k], h) != 0; k++)
			;
		if (k == nseen && nseen < 16)
			snprintf(seen[nseen++], 64, "%s", h);
	}
	printf("hosts served: %d (of %d)\n", nseen, want);
	tp_payload_free(items);
	tp_payload_free(out);
	return nseen;
}

static int ok_cb(const tp_payload *v, void *arg)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static void case_map(tp_pool *pool, size_t n)
{
	int64_t *in = calloc(n + 1, sizeof(*in));
	int64_t *out = calloc(n + 1, sizeof(*out));
	tp_payload *items = NULL, *res = NULL, *args = NULL;
	size_t bad = 0;
	int rv;
	for (size_t i = 0; i < n; i++)
		in[i] = (int64_t)i - 1000;
	rv = tp_pool_map_int(pool, square, in, n, 0, out);
	for (size_t i = 0; rv == TP_OK && i < n; i++)
		bad += out[i] != in[i] * in[i];
	CHECK(rv == TP_OK && bad == 0, "map_int over %zu: %s, %zu wrong", n,
	      tp_strerror(rv), bad);
	printf("map_int %zu items: %s\n", n,
	       rv == TP_OK && !bad ? "ok" : "bad");

	size_t m = n < 100000 ? n : 100000;
	tp_payload_new(&items);
	for (size_t i = 0; i < m; i++)
		tp_payload_add_int(items, (int64_t)i);
	rv = tp_pool_map(pool, square, items, 0, &res);
	bad = 0;
	for (size_t i = 0; rv == TP_OK && i < m; i++) {
		int64_t v = -1;
		tp_payload_get_int(res, i, &v);
		bad += v != (int64_t)(i * i);
	}
	CHECK(rv == TP_OK && bad == 0 && tp_payload_count(res) == m,
	      "map: %s, %zu wrong", tp_strerror(rv), bad);
	printf("map %zu items: %s\n", m, rv == TP_OK && !bad ? "ok" : "bad");
	tp_payload_free(res);
	res = NULL;

	tp_payload *argv[100];
	for (int i = 0; i < 100; i++) {
		tp_payload_new(&argv[i]);
		tp_payload_add_int(argv[i], i);
		tp_payload_add_int(argv[i], 2 * i);
	}
	rv = tp_pool_starmap(pool, add, (const tp_payload *const *)argv, 100, 0,
	                     &res);
	bad = 0;
	for (int i = 0; rv == TP_OK && i < 100; i++) {
		int64_t v = -1;
		tp_payload_get_int(res, (size_t)i, &v);
		bad += v != 3 * i;
	}
	CHECK(rv == TP_OK && bad == 0, "starmap: %s", tp_strerror(rv));
	printf("starmap: %s\n", rv == TP_OK && !bad ? "ok" : "bad");
	for (int i = 0; i < 100; i++)
		tp_payload_free(argv[i]);
	tp_payload_free(res);
	res = NULL;

	int64_t v = 0;
	tp_payload_new(&args);
	tp_payload_add_int(args, 12);
	rv = tp_pool_apply(pool, square, args, &res);
	if (rv == TP_OK)
		tp_payload_get_int(res, 0, &v);
	CHECK(rv == TP_OK && v == 144, "apply: %s %lld", tp_strerror(rv),
	      (long long)v);
	printf("apply: %s\n", rv == TP_OK && v == 144 ? "ok" : "bad");
	tp_payload_free(res);
	res = NULL;

	int calls = 0;
	tp_pool_result *ar[50];
	for (int i = 0; i < 50; i++)
		tp_pool_apply_async(pool, square, args, ok_cb, NULL, &calls,
		                    &ar[i]);
	int okn = 0;
	for (int i = 0; i < 50; i++) {
		tp_payload *o = NULL;
		okn += tp_pool_result_get(ar[i], &o, 60000) == TP_OK;
		tp_payload_free(o);
		tp_pool_result_free(ar[i]);
	}
	CHECK(okn == 50 && calls == 50, "apply_async: %d ok, %d callbacks", okn,
	      calls);
	printf("apply_async: %d ok, %d callbacks\n", okn, calls);

	tp_pool_iter *it = NULL;
	tp_payload *few = NULL;
	tp_payload_new(&few);
	for (int i = 0; i < 200; i++)
		tp_payload_add_int(few, i);
	rv = tp_pool_imap(pool, fails_odd, few, 7, &it);
	int good = 0, failed = 0, wrongmsg = 0;
	for (;;) {
		tp_payload *o = NULL;
		size_t idx;
		tp_pool_error e;
		int r = tp_pool_iter_next(it, &o, &idx, 60000);
		if (r == TP_ENOENT || r == TP_ETIMEDOUT)
			break;
		if (r == TP_OK) {
			int64_t x = -1;
			tp_payload_get_int(o, 0, &x);
			good += x == (int64_t)idx && idx % 2 == 0;
		} else {
			failed += r == TP_EREMOTE && idx % 2 == 1;
			tp_pool_iter_err(it, &e);
			char want[32];
			snprintf(want, sizeof(want), "odd %zu", idx);
			wrongmsg +=
			    e.message == NULL || strcmp(e.message, want) != 0;
		}
		tp_payload_free(o);
	}
	tp_pool_iter_free(it);
	CHECK(good == 100 && failed == 100 && wrongmsg == 0,
	      "imap: %d good, %d failed, %d wrong messages", good, failed,
	      wrongmsg);
	printf("imap with failing items: %d good, %d failed as they should\n",
	       good, failed);
	tp_payload_free(few);
	tp_payload_free(args);
	tp_payload_free(items);
	free(in);
	free(out);
}

static void case_crash(tp_pool *pool, const char *host)
{
	tp_payload *argv[300];
	tp_pool_result *r = NULL;
	for (int i = 0; i < 300; i++) {
		tp_payload_new(&argv[i]);
		tp_payload_add_int(argv[i], i);
		tp_payload_add_string(argv[i], host);
	}
	/* one task per call: the crashes on HOST fail their own tasks */
	int died = 0, good = 0, other = 0;
	tp_pool_result *rs[300];
	for (int i = 0; i < 300; i++)
		tp_pool_apply_async(pool, crash_on, argv[i], NULL, NULL, NULL,
		                    &rs[i]);
	for (int i = 0; i < 300; i++) {
		tp_payload *o = NULL;
		int rv = tp_pool_result_get(rs[i], &o, 120000);
		int64_t v = -1;
		if (rv == TP_OK && tp_payload_get_int(o, 0, &v) == TP_OK &&
		    v == (int64_t)i * i)
			good++;
		else if (rv == TP_EDIED)
			died++;
		else
			other++;
		tp_payload_free(o);
		tp_pool_result_free(rs[i]);
	}
	printf("crash on %s: %d right, %d TP_EDIED, %d other\n", host, good,
	       died, other);
	CHECK(died > 0 && good > 0 && other == 0 && good + died == 300,
	      "crash: %d right %d died %d other", good, died, other);
	(void)r;
	for (int i = 0; i < 300; i++)
		tp_payload_free(argv[i]);
	/* the pool goes on: every host serves again */
	case_map(pool, 10000);
}

/* How many of the n results of a map of triple_after's are not 3 i. */
static size_t wrong_triples(const tp_payload *out, size_t n)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t v = -1;
		tp_payload_get_int(out, i, &v);
		bad += v != (int64_t)(3 * i);
	}
	return bad;
}

static void case_load(tp_pool *pool, size_t n)
{
	tp_payload *items = NULL, *out = NULL;
	tp_payload_new(&items);
	for (int i = 0; i < 8 * tp_cluster_workers(); i++)
		tp_payload_add_int(items, i);
	tp_pool_call_opts co = {.chunksize = 1};
	if (tp_pool_map_opts(pool, whoami, items, &co, &out) == TP_OK)
		for (size_t i = 0; i < tp_payload_count(out); i++) {
			const char *s, *p;
			size_t k;
			tp_payload_get_string(out, i, &s);
			for (k = 0; k < i; k++)
				if (tp_payload_get_string(out, k, &p) ==
				        TP_OK &&
				    strcmp(p, s) == 0)
					break;
			if (k == i)
				printf("WORKER %s\n", s);
		}
	tp_payload_free(out);
	tp_payload_free(items);
	out = NULL;
	tp_payload_new(&items);
	for (size_t i = 0; i < n; i++)
		tp_payload_add_int(items, (int64_t)i);
	printf("LOAD\n");
	fflush(stdout);
	co.chunksize = 4;
	int rv = tp_pool_map_opts(pool, slow, items, &co, &out);
	size_t bad = rv == TP_OK ? wrong_triples(out, n) : 0;
	printf("load map of %zu slow items: %s, %zu wrong\n", n,
	       tp_strerror(rv), bad);
	CHECK(rv == TP_OK && bad == 0, "load: %s", tp_strerror(rv));
	tp_payload_free(out);
	tp_payload_free(items);
}

/* Says QUARTER once a quarter of the items are done. */
static void quarter(size_t done, size_t total, void *arg)
{
	int *said = arg;
	if (!*said && done * 4 >= total) {
		*said = 1;
		printf("QUARTER\n");
		fflush(stdout);
	}
}

/* A map whose batches of results are large (they come back through the
 * ring of the slot's stand-in run) while the stand-in of slot 0 is killed
 * (run.sh, at QUARTER): its tasks are run again through the stand-in
 * that replaces it, and every result is right. */
static void case_standin(tp_pool *pool)
{
	enum { CHUNK = 6000 };
	size_t n = (size_t)CHUNK * 4 * (size_t)tp_cluster_workers(), bad = 0;
	tp_payload *items = NULL, *out = NULL;
	int said = 0;
	tp_payload_new(&items);
	for (size_t i = 0; i < n; i++)
		tp_payload_add_int(items, (int64_t)i);
	printf("STANDIN %d\n", (int)tp_pool_worker_pid(pool, 0));
	tp_pool_call_opts co = {
	    .chunksize = CHUNK, .progress = quarter, .progress_arg = &said};
	int rv = tp_pool_map_opts(pool, tick, items, &co, &out);
	if (rv == TP_OK)
		bad = wrong_triples(out, n);
	printf("map of %zu with a stand-in killed: %s, %zu wrong\n", n,
	       tp_strerror(rv), bad);
	CHECK(rv == TP_OK && bad == 0, "standin: %s", tp_strerror(rv));
	CHECK(tp_pool_worker_pid(pool, 0) != 0, "slot 0 has no stand-in");
	tp_payload_free(out);
	tp_payload_free(items);
}

/* A map of n squares; 1 when every result is right. */
static int squares(tp_pool *pool, size_t n)
{
	tp_payload *items = NULL, *out = NULL;
	size_t bad = 0;
	tp_payload_new(&items);
	for (size_t i = 0; i < n; i++)
		tp_payload_add_int(items, (int64_t)i);
	tp_pool_call_opts co = {.chunksize = 1};
	int rv = tp_pool_map_opts(pool, square, items, &co, &out);
	for (size_t i = 0; rv == TP_OK && i < n; i++) {
		int64_t v = -1;
		tp_payload_get_int(out, i, &v);
		bad += v != (int64_t)(i * i);
	}
	CHECK(rv == TP_OK && bad == 0, "map of %zu: %s, %zu wrong", n,
	      tp_strerror(rv), bad);
	tp_payload_free(out);
	tp_payload_free(items);
	return rv == TP_OK && bad == 0;
}

static void case_quiet(tp_pool *pool, double secs)
{
	struct timespec ts = {(time_t)secs,
	                      (long)((secs - (time_t)secs) * 1e9)};
	int ok = squares(pool, 100);
	printf("before the quiet: %s\nQUIET\n", ok ? "ok" : "bad");
	fflush(stdout);
	/* the quiet spell is the case, not a synchronisation */
	while (nanosleep(&ts, &ts) != 0)
		;
	ok = squares(pool, 2000);
	printf("after %.1f s quiet: %s\n", secs, ok ? "ok" : "bad");
}

int main(int argc, char **argv)
{
	tp_init_opts io = {0};
	tp_pool_opts po = {0};
	tp_pool *pool = NULL;
	int rv;
	if (argc < 2)
		return 2;
	io.mpi = 1;
	io.mpi_workers = getenv("TP_WORKERS") ? atoi(getenv("TP_WORKERS")) : 2;
	io.mpi_heartbeat_ms = getenv("TP_HB_MS") ? atoi(getenv("TP_HB_MS")) : 0;
	if ((rv = tp_init(&io)) != TP_OK) {
		printf("tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	/* rank 0 only from here */
	printf("rank %d of %d, %d remote workers\n", tp_cluster_rank(),
	       tp_cluster_size(), tp_cluster_workers());
	po.backend = TP_POOL_MPI;
	po.on_death =
	    strcmp(argv[1], "load") == 0 || strcmp(argv[1], "standin") == 0
	        ? TP_POOL_RETRY
	        : TP_POOL_FAIL;
	po.max_retries = 3;
	if ((rv = tp_pool_new_opts(&pool, &po)) != TP_OK) {
		printf("tp_pool_new_opts: %s\n", tp_strerror(rv));
		return 1;
	}
	int agents = tp_cluster_size() - 1;
	if (strcmp(argv[1], "map") == 0) {
		CHECK(n_hosts(pool, agents) == agents, "not every host served");
		case_map(pool, argc > 2 ? strtoul(argv[2], NULL, 10) : 100000);
	} else if (strcmp(argv[1], "crash") == 0 && argc > 2) {
		case_crash(pool, argv[2]);
	} else if (strcmp(argv[1], "quiet") == 0 && argc > 2) {
		case_quiet(pool, strtod(argv[2], NULL));
	} else if (strcmp(argv[1], "standin") == 0) {
		case_standin(pool);
	} else if (strcmp(argv[1], "load") == 0) {
		case_load(pool, argc > 2 ? strtoul(argv[2], NULL, 10) : 4000);
	} else {
		printf("unknown case %s\n", argv[1]);
		failures++;
	}
	tp_pool_close(pool);
	tp_pool_join(pool, -1);
	tp_pool_free(pool);
	tp_fini();
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
