/*
 * mgr_reg.c - the manager's type registry: the built-in shared types and
 * the user's own (tp_manager_register, Python's BaseManager.register).
 * Registration happens before tp_init (TP_MANAGER_TYPE runs before main)
 * so the manager's process, forked from the fork server, sees it.
 */
#include <pthread.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

#define MAX_TYPES 32

static const struct tp__mgr_type *const builtins[] = {
    &tp__mgr_dict,  &tp__mgr_list,  &tp__mgr_ns,     &tp__mgr_value,
    &tp__mgr_queue, &tp__mgr_lock,  &tp__mgr_rlock,  &tp__mgr_sem,
    &tp__mgr_bsem,  &tp__mgr_event, &tp__mgr_jqueue, &tp__mgr_barrier,
    &tp__mgr_cond,  &tp__mgr_array,
};

static struct {
	char name[64];
	const tp_manager_type *t;
} users[MAX_TYPES];
static int nusers;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

const struct tp__mgr_type *tp__mgr_find_type(const char *name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return NULL;
}

const tp_manager_type *tp__mgr_find_user(const char *name)
{
	const tp_manager_type *t = NULL;
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < nusers && t == NULL; i++)
		if (strcmp(users[i].name, name) == 0)
			t = users[i].t;
	pthread_mutex_unlock(&reg_mu);
	return t;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int tp_manager_register(const char *name, const tp_manager_type *type)
{
	if (name == NULL || type == NULL || type->call == NULL ||
	    !name_ok(name) || tp__mgr_find_type(name) != NULL)
		return TP_EINVAL;
	const tp_manager_type *old = tp__mgr_find_user(name);
	if (old != NULL)
		return old == type ? TP_OK : TP_EALREADY;
	int rv = TP_OK;
	pthread_mutex_lock(&reg_mu);
	if (nusers == MAX_TYPES) {
		rv = TP_ENOMEM;
	} else {
		strcpy(users[nusers].name, name);
		users[nusers++].t = type;
	}
	pthread_mutex_unlock(&reg_mu);
	return rv;
}
