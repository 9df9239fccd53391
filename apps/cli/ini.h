/*
 * ini.h - supervisord's config format read into sections of key/values,
 * each with its file and line (ini.c).
 */
#ifndef TP_CLI_INI_H
#define TP_CLI_INI_H

struct ini_kv {
	char *key; /* lowercased */
	char *value;
	int line;
};

struct ini_sect {
	char *name;
	const char *file; /* owned by the ini_doc */
	int line;
	struct ini_kv *kv;
	int nkv, cap;
};

struct ini_doc {
	struct ini_sect *s;
	int n, cap;
	char **files;
	int nfiles, fcap;
};

/* Reports a problem of file:line (line 0: the file itself). */
typedef void (*ini_err_fn)(void *arg, const char *file, int line,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends the sections of path to d. Problems go to err and reading goes
 * on; returns -1 only when out of memory. */
int ini_read(struct ini_doc *d, const char *path, ini_err_fn err, void *arg);

/* Frees what d holds (d itself is the caller's) and zeroes it. */
void ini_free(struct ini_doc *d);

/* The last value of key in s, or NULL; *line (if not NULL) its line. */
const char *ini_get(const struct ini_sect *s, const char *key, int *line);

#endif
