/*
 * config_int.h - internal to the config reader: config.c (the file as a
 * whole: sections, includes, groups, checks), config_prog.c ([program:x])
 * and config_val.c (values).
 */
#ifndef TP_CLI_CONFIG_INT_H
#define TP_CLI_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "ini.h"

struct parse {
	struct cfg *c;
	struct ini_doc doc;
	char *errs; /* "FILE:LINE: message\n" ... */
	size_t elen, ecap;
	int nerr;
	int quiet; /* the 2nd.. instance of a program: errors said once */
	int order; /* the section being read, times 1000 */
	char host[256];
};

/* Records an error of file:line (every one is reported). */
void cfg_err(struct parse *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A note: a supervisord key troupe accepts and does not use. */
void cfg_note(struct parse *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* config_prog.c: the instances of one [program:NAME] section; group is
 * its [group:x] (from `programs =`) or NULL. */
void cfg_program(struct parse *p, const struct ini_sect *s, const char *name,
                 const char *group);
/* A new group (or NULL when there are too many: reported). */
struct cfg_group *cfg_new_group(struct parse *p, const char *name,
                                const char *file, int line);
int cfg_valid_name(const char *n);

/* config_val.c */
typedef const char *(*cv_lookup_fn)(void *arg, const char *name);
int cv_bool(const char *v, int *out);
int cv_long(const char *v, long min, long max, long *out);
int cv_seconds(const char *v, double max, int *ms); /* finite, >= 0 */
int cv_bytes(const char *v, uint64_t *out);         /* 10, 1KB, 50MB */
int cv_octal(const char *v, int *out);
int cv_exitcodes(const char *v, uint32_t ok[8]);
int cv_split(char *buf, char **argv, int max); /* -1: bad quoting */
int cv_environment(char *buf, char **env, int max, char *why, size_t wlen);
int cv_expand(const char *v, char *out, size_t len, cv_lookup_fn look,
              void *arg, char *why, size_t wlen);
/* The known key nearest to key (2 edits at most), or NULL. */
const char *cv_suggest(const char *key, const char *const *known);

#endif
