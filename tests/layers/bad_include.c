/* A base-layer file including a header of the rt layer above it: the
 * build must refuse it (layer_include checks that it does). */
#include "runtime_int.h"

int tp__layer_check_bad(void);
int tp__layer_check_bad(void)
{
	return 0;
}
