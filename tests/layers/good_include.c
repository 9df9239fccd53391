/* A base-layer file including a base header: must compile (the control
 * of layer_include, so that the bad one fails for its include only). */
#include "clock.h"

int tp__layer_check_good(void);
int tp__layer_check_good(void)
{
	return 0;
}
