/* A user's program built against an installed troupe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

int main(void)
{
	tp_payload *p;
	void *buf;
	size_t len;
	if (strcmp(tp_version(), TP_VERSION_STRING) != 0) {
		fprintf(stderr, "built with %s, runs with %s\n",
		        TP_VERSION_STRING, tp_version());
		return 1;
	}
	if (tp_payload_new(&p) != TP_OK || tp_payload_add_int(p, 42) != TP_OK ||
	    tp_payload_encode(p, 0, &buf, &len) != TP_OK)
		return 1;
	printf("troupe %s: encoded %zu bytes: %s\n", tp_version(), len,
	       tp_strerror(TP_OK));
	free(buf);
	tp_payload_free(p);
	return 0;
}
