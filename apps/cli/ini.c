/*
 * ini.c - a reader for supervisord's config format (Python's configparser
 * as supervisord sets it up), with no limit on the length of a line or a
 * name.
 *
 * Why not libinih: Debian builds it with a 200-byte line buffer and a
 * 50-byte section buffer fixed at compile time, so long command lines were
 * refused and long section names silently cut (issue 17, issue 13).
 *
 * The rules are configparser's: `[section]` headers; `key = value` or
 * `key: value`, the key lowercased, both stripped; a line that starts with
 * blanks continues the previous value (joined with '\n'); whole-line
 * comments start with ';' or '#'; an inline comment is ';' or '#' after a
 * blank (supervisord's inline_comment_prefixes). Every section keeps its
 * file and line, every key its line, for error messages.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"

static void *grow(void *p, int *cap, int n, size_t size)
{
	if (n < *cap)
		return p;
	int c = *cap ? *cap * 2 : 8;
	void *q = realloc(p, (size_t)c * size);
	if (q != NULL)
		*cap = c;
	return q;
}

static char *strip(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Cuts an inline comment: ';' or '#' preceded by a blank. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == ';' || *p == '#') && p > s &&
		    isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
}

static int add_section(struct ini_doc *d, const char *name, const char *file,
                       int line)
{
	struct ini_sect *s = grow(d->s, &d->cap, d->n, sizeof(*s));
	if (s == NULL)
		return -1;
	d->s = s;
	s = &d->s[d->n];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->file = file;
	s->line = line;
	if (s->name == NULL)
		return -1;
	d->n++;
	return 0;
}

static int add_kv(struct ini_sect *s, const char *k, const char *v, int line)
{
	struct ini_kv *kv = grow(s->kv, &s->cap, s->nkv, sizeof(*kv));
	if (kv == NULL)
		return -1;
	s->kv = kv;
	kv = &s->kv[s->nkv];
	kv->key = strdup(k);
	kv->value = strdup(v);
	kv->line = line;
	if (kv->key == NULL || kv->value == NULL) {
		free(kv->key);
		free(kv->value);
		return -1;
	}
	for (char *p = kv->key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	s->nkv++;
	return 0;
}

/* A continuation line: appended to the last value of the section. */
static int add_continuation(struct ini_sect *s, const char *text)
{
	struct ini_kv *kv = &s->kv[s->nkv - 1];
	size_t a = strlen(kv->value), b = strlen(text);
	char *v = realloc(kv->value, a + b + 2);
	if (v == NULL)
		return -1;
	v[a] = '\n';
	memcpy(v + a + 1, text, b + 1);
	kv->value = v;
	return 0;
}

static const char *keep_file(struct ini_doc *d, const char *path)
{
	char **f = grow(d->files, &d->fcap, d->nfiles, sizeof(*f));
	if (f == NULL)
		return NULL;
	d->files = f;
	return d->files[d->nfiles++] = strdup(path);
}

/* One line of the file; returns -1 only when out of memory. */
static int read_line(struct ini_doc *d, int *cur, char *buf, const char *file,
                     int line, ini_err_fn err, void *arg)
{
	int indented = isspace((unsigned char)buf[0]);
	char *s = strip(buf);
	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (indented && *cur >= 0 && d->s[*cur].nkv > 0) {
		cut_comment(s);
		return add_continuation(&d->s[*cur], strip(s));
	}
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (end == NULL) {
			err(arg, file, line,
			    "syntax error: unterminated section header '%s'",
			    s);
			*cur = -1;
			return 0;
		}
		*end = '\0';
		if (add_section(d, strip(s + 1), file, line) != 0)
			return -1;
		*cur = d->n - 1;
		return 0;
	}
	size_t k = strcspn(s, "=:");
	if (s[k] == '\0' || k == 0) {
		err(arg, file, line, "expected 'key = value', got '%.60s'", s);
		return 0;
	}
	if (*cur < 0) {
		err(arg, file, line, "'%.*s' outside of any section", (int)k,
		    s);
		return 0;
	}
	s[k] = '\0';
	char *v = s + k + 1;
	cut_comment(v);
	return add_kv(&d->s[*cur], strip(s), strip(v), line);
}

int ini_read(struct ini_doc *d, const char *path, ini_err_fn err, void *arg)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	int line = 0, rv = 0, cur = -1;
	if (f == NULL) {
		err(arg, path, 0, "cannot open: %s", strerror(errno));
		return 0;
	}
	const char *file = keep_file(d, path);
	if (file == NULL) {
		fclose(f);
		return -1;
	}
	while (rv == 0 && getline(&buf, &cap, f) >= 0) {
		line++;
		char *b = buf;
		if (line == 1 && strncmp(b, "\xEF\xBB\xBF", 3) == 0)
			b += 3; /* a UTF-8 byte order mark */
		rv = read_line(d, &cur, b, file, line, err, arg);
	}
	free(buf);
	fclose(f);
	return rv;
}

void ini_free(struct ini_doc *d)
{
	for (int i = 0; i < d->n; i++) {
		for (int j = 0; j < d->s[i].nkv; j++) {
			free(d->s[i].kv[j].key);
			free(d->s[i].kv[j].value);
		}
		free(d->s[i].kv);
		free(d->s[i].name);
	}
	for (int i = 0; i < d->nfiles; i++)
		free(d->files[i]);
	free(d->files);
	free(d->s);
	memset(d, 0, sizeof(*d));
}

const char *ini_get(const struct ini_sect *s, const char *key, int *line)
{
	const char *v = NULL;
	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0) {
			v = s->kv[i].value; /* the last one wins */
			if (line != NULL)
				*line = s->kv[i].line;
		}
	return v;
}
