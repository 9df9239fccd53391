/*
 * host.c - troupe-actor, the generic worker host of actor modules:
 *
 *   troupe-actor MODULE.so [--addr URL] [ARG...]
 *
 * It loads MODULE.so, finds its tp_actor_module_entry() (TP_ACTOR_MODULE)
 * and runs it with tp_actor_run: ARGs become init's payload (strings),
 * the address is URL, else $TROUPE_ACTOR_ADDR, else a fresh one in the
 * runtime directory. Supervise it as a program with `ready = notify`.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "troupe/troupe.h"

static int usage(FILE *out)
{
	fprintf(out, "usage: troupe-actor MODULE.so [--addr URL] [ARG...]\n"
	             "Runs an actor module (troupe/actor.h) until it stops or "
	             "gets SIGTERM.\n");
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	tp_payload *args = NULL;
	int rv;
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(stdout);
	if ((rv = tp_init(NULL)) != TP_OK) {
		fprintf(stderr, "troupe-actor: tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	const tp_actor_module *(*entry)(void) = NULL;
	if (h != NULL)
		*(void **)&entry = dlsym(h, "tp_actor_module_entry");
	if (entry == NULL || entry() == NULL) {
		fprintf(stderr, "troupe-actor: %s: %s\n", argv[1],
		        h == NULL ? dlerror() : "no TP_ACTOR_MODULE in it");
		tp_fini();
		return 1;
	}
	if (tp_payload_new(&args) != TP_OK)
		return 1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc)
			addr = argv[++i];
		else
			tp_payload_add_string(args, argv[i]);
	}
	rv = tp_actor_run(entry(), addr, args);
	tp_payload_free(args);
	tp_fini();
	return rv;
}
