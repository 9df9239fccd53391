/* version.c - tp_version(): the library's own version string. */
#include "troupe/version.h"

const char *tp_version(void)
{
	return TP_VERSION_STRING;
}
