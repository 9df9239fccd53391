/* readme_square.c - the twenty-line example of README.md, built and run
 * by the test suite so that the README never lies. */
#include <stdio.h>
#include <troupe/troupe.h>

static int square(const tp_payload *args, tp_payload *result)
{
	int64_t x;
	tp_payload_get_int(args, 0, &x);
	return tp_payload_add_int(result, x * x); /* returned to the parent */
}
TP_TARGET(square); /* registered by name: works with every start method */

int main(void)
{
	tp_init(NULL); /* the `if __name__ == "__main__":` guard */
	tp_payload *args, *res;
	tp_process *p;
	tp_payload_new(&args);
	tp_payload_add_int(args, 7);
	tp_process_new(&p, square, args, NULL);
	tp_process_start(p);
	if (tp_process_result(p, &res, 5000) == TP_OK) {
		int64_t y;
		tp_payload_get_int(res, 0, &y);
		printf("%s returned %lld\n", tp_process_name(p), (long long)y);
	}
	tp_process_join(p, -1);
	tp_payload_free(res), tp_payload_free(args), tp_process_free(p);
	return tp_fini();
}
