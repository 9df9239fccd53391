/* testutil.c - see testutil.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

const char *tp_test_base(void)
{
	static char base[64];
	if (base[0] == '\0')
		snprintf(base, sizeof(base), "/tmp/tp-test-%d", (int)getpid());
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

void tp_test_fini(void)
{
	TP_OK_OR_FAIL(tp_fini());
	assert_int_equal(tp_test_children(), 0);
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
