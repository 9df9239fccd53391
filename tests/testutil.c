/* testutil.c - see testutil.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "process_int.h"
#include "runtime_int.h"
#include "testutil.h"

const char *tp_test_base(void)
{
	static char base[64];
	if (base[0] == '\0') {
		snprintf(base, sizeof(base), "/tmp/tp-test-%d", (int)getpid());
		/* It names a dead process with our pid (pids are reused):
		 * what a killed or failed test left there is not ours and
		 * must not fail our checks of what we leave. */
		tp__rmtree(base);
	}
	return base;
}

void tp_test_init(tp_start_method method)
{
	tp_init_opts o = {.start_method = method,
	                  .runtime_base = tp_test_base()};
	TP_OK_OR_FAIL(tp_init(&o));
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int tp_test_children(void)
{
	char path[64];
	FILE *f;
	int n = 0;
	/* the fork server's spare, made after each start, counted steady */
	tp__server_settle(10000);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(),
	         (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	int pid;
	while (fscanf(f, "%d", &pid) == 1)
		n++;
	fclose(f);
	return n;
}

/* Names what a run left under dir (two levels), for a failed check. */
static void say_left(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		print_message("left after tp_fini: %s\n", path);
		if (depth > 0)
			say_left(path, depth - 1);
	}
	closedir(d);
}

/* Names the children still there (pid, state, name), for a failed check. */
static void say_children(void)
{
	char path[64], line[256];
	FILE *f;
	int pid;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(),
	         (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fscanf(f, "%d", &pid) == 1) {
		FILE *st;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		line[0] = '\0';
		if ((st = fopen(path, "r")) != NULL) {
			if (fgets(line, sizeof(line), st) == NULL)
				line[0] = '\0';
			fclose(st);
		}
		print_message("child left after tp_fini: %s\n", line);
	}
	fclose(f);
}

void tp_test_fini(void)
{
	TP_OK_OR_FAIL(tp_fini());
	if (tp_test_children() != 0)
		say_children();
	assert_int_equal(tp_test_children(), 0);
	if (entries(tp_test_base()) != 0)
		say_left(tp_test_base(), 1);
	assert_int_equal(entries(tp_test_base()), 0);
	rmdir(tp_test_base());
}

int64_t tp_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tp_test_nap(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}
