/* spin.c - the spin budget and step of spin.h. */
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "spin.h"

#define TP__SPIN_NS_DEFAULT 50000

int64_t tp__spin_ns(void)
{
	static atomic_llong ns = -1;
	long long v = atomic_load_explicit(&ns, memory_order_relaxed);
	if (v >= 0)
		return v;
	const char *e = getenv("TROUPE_SPIN_US");
	char *end = NULL;
	long long us = e != NULL && *e != '\0' ? strtoll(e, &end, 10) : -1;
	if (end == NULL || *end != '\0' || us < 0)
		v = TP__SPIN_NS_DEFAULT;
	else
		v = us > 1000000 ? 1000000000LL : us * 1000;
	atomic_store_explicit(&ns, v, memory_order_relaxed);
	return v;
}

void tp__spin_yield(void)
{
	sched_yield();
}

int tp__spin_poll(struct tp__spin *s, int fd, int64_t dl)
{
	int64_t now = (int64_t)tp__now_ns(), b;
	if ((dl >= 0 && now / 1000000 >= dl) || (b = tp__spin_budget(s)) == 0)
		return 0; /* (a wait of 0 ms is a look, not a wait) */
	int64_t end = now + b;
	do {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) != 0) { /* ready, or an error to see */
			tp__spin_end(s, 1);
			return 1;
		}
		tp__spin_yield();
		now = (int64_t)tp__now_ns();
	} while (now < end && (dl < 0 || now / 1000000 < dl));
	tp__spin_end(s, 0);
	return 0;
}
