/* A library file that forks outside proc/launch.c: layer_forks must
 * catch it (its self-test). */
#include <unistd.h>

int tp__layer_check_fork(void);
int tp__layer_check_fork(void)
{
	return (int)fork();
}
