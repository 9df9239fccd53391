/* test_fuzz_replay.c - replays every file of tests/fuzz/corpus through
 * the manager's fuzz harness, so every build runs the corpus (the
 * libFuzzer target itself is built only with -DTP_FUZZ=ON). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/mgr_harness.h"
#include "testutil.h"

static void test_replay_corpus(void **state)
{
	(void)state;
	DIR *d = opendir(TP_FUZZ_CORPUS);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", TP_FUZZ_CORPUS,
		         e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		static uint8_t buf[1 << 20];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		/* the handshake in the harness must work every time */
		assert_int_equal(tp_mgr_fuzz_one(buf, len), 1);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
	/* and a few fixed edge cases */
	assert_int_equal(tp_mgr_fuzz_one(NULL, 0), 1);
	static const uint8_t big[] = {1, 0xff, 0xff, 0x0a};
	assert_int_equal(tp_mgr_fuzz_one(big, sizeof(big)), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
