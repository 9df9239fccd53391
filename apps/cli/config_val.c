/*
 * config_val.c - the values of the config file: supervisord's booleans,
 * byte sizes ("50MB"), signal names, octal umasks, exit code lists,
 * command lines and `environment` split the way supervisord's shlex does,
 * Python-style %(name)s / %(name)02d expansion, and the "did you mean"
 * hint for a misspelt key.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "config_int.h"

int cv_bool(const char *v, int *out)
{
	static const char *yes[] = {"true", "yes", "on", "1"};
	static const char *no[] = {"false", "no", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 1;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 1;
	}
	return 0;
}

int cv_long(const char *v, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || x < min || x > max)
		return 0;
	*out = x;
	return 1;
}

int cv_seconds(const char *v, double max, int *ms)
{
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(s) || s < 0 || s > max)
		return 0;
	*ms = (int)(s * 1000 + 0.5);
	return 1;
}

int cv_bytes(const char *v, uint64_t *out)
{
	static const struct {
		const char *sfx;
		uint64_t mul;
	} u[] = {{"KB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || v[0] == '-')
		return 0;
	uint64_t mul = 1;
	if (*end != '\0') {
		mul = 0;
		for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
			if (strcasecmp(end, u[i].sfx) == 0)
				mul = u[i].mul;
		if (mul == 0)
			return 0;
	}
	if (x > UINT64_MAX / mul)
		return 0;
	*out = x * mul;
	return 1;
}

int cv_octal(const char *v, int *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 8);
	if (errno || end == v || *end || x < 0 || x > 0777)
		return 0;
	*out = (int)x;
	return 1;
}

int cv_exitcodes(const char *v, uint32_t ok[8])
{
	char buf[1024], *save = NULL;
	long x;
	if (strlen(v) >= sizeof(buf))
		return 0;
	snprintf(buf, sizeof(buf), "%s", v);
	memset(ok, 0, 8 * sizeof(uint32_t));
	int n = 0;
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save), n++) {
		while (isspace((unsigned char)*t))
			t++;
		char *e = t + strlen(t);
		while (e > t && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!cv_long(t, 0, 255, &x))
			return 0;
		ok[x / 32] |= 1u << (x % 32);
	}
	return n > 0;
}

/* One shell-like word of s (quotes and backslashes as shlex in posix
 * mode); stops at a blank or, with stop, at one of its characters. */
static int word(const char **s, char **w, const char *stop)
{
	const char *r = *s;
	char q = 0;
	while (*r && (q || (!isspace((unsigned char)*r) &&
	                    (stop == NULL || !strchr(stop, *r))))) {
		if (!q && (*r == '\'' || *r == '"')) {
			q = *r++;
		} else if (q && *r == q) {
			q = 0;
			r++;
		} else if (*r == '\\' && q != '\'' && r[1] != '\0') {
			r++;
			*(*w)++ = *r++;
		} else {
			*(*w)++ = *r++;
		}
	}
	*s = r;
	return q == 0;
}

int cv_split(char *buf, char **argv, int max)
{
	int n = 0;
	const char *r = buf;
	char *w = buf; /* the words are written over the text */
	for (;;) {
		while (isspace((unsigned char)*r))
			r++;
		if (*r == '\0')
			break;
		if (n == max - 1)
			return -1;
		argv[n++] = w;
		if (!word(&r, &w, NULL))
			return -1;
		if (*r != '\0')
			r++; /* the blank: w may point at it */
		*w++ = '\0';
	}
	argv[n] = NULL;
	return n;
}

/* supervisord: KEY="a value, with commas",KEY2=plain,KEY3='x' (blanks and
 * newlines between pairs allowed). */
int cv_environment(char *buf, char **env, int max, char *why, size_t wlen)
{
	int n = 0;
	const char *r = buf;
	char *w = buf;
	for (;;) {
		while (isspace((unsigned char)*r) || *r == ',')
			r++;
		if (*r == '\0')
			break;
		if (n == max - 1) {
			snprintf(why, wlen, "more than %d variables", max - 1);
			return 0;
		}
		char *start = w;
		while (*r && (isalnum((unsigned char)*r) || *r == '_' ||
		              *r == '.' || *r == '-'))
			*w++ = *r++;
		while (isspace((unsigned char)*r))
			r++;
		if (w == start || *r != '=') {
			snprintf(why, wlen,
			         "expected KEY=VALUE at '%.30s' (quote a "
			         "value with commas: KEY=\"a,b\")",
			         r);
			return 0;
		}
		*w++ = *r++;
		while (*r == ' ' || *r == '\t')
			r++;
		if (!word(&r, &w, ",")) {
			snprintf(why, wlen, "unterminated quote");
			return 0;
		}
		char end = *r;
		if (end != '\0')
			r++; /* ',' or a blank: w may point at it */
		*w++ = '\0';
		env[n++] = start;
		while (end != ',' && isspace((unsigned char)*r))
			r++;
		if (end != ',' && *r != '\0' && *r != ',') {
			snprintf(why, wlen,
			         "a blank inside a value must be quoted "
			         "(KEY=\"a b\")");
			return 0;
		}
	}
	env[n] = NULL;
	return 1;
}

/* %(name)<flags><width><conversion> with conversion s, d or i. */
int cv_expand(const char *v, char *out, size_t len, cv_lookup_fn look,
              void *arg, char *why, size_t wlen)
{
	size_t k = 0;
	while (*v) {
		char piece[1100], name[128], fmt[32];
		const char *end;
		if (v[0] == '%' && v[1] == '%') {
			piece[0] = '%', piece[1] = '\0';
			v += 2;
		} else if (v[0] == '%' && v[1] == '(' &&
		           (end = strchr(v, ')')) != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(end - v - 2),
			         v + 2);
			size_t f = strspn(end + 1, "-0 #+123456789.");
			char conv = end[1 + f];
			if ((conv != 's' && conv != 'd' && conv != 'i') ||
			    f > 10) {
				snprintf(why, wlen,
				         "bad expansion '%%(%s)' (use "
				         "%%(%s)s or %%(%s)d)",
				         name, name, name);
				return 0;
			}
			const char *val = look(arg, name);
			if (val == NULL) {
				snprintf(
				    why, wlen,
				    "unknown or unset %%(%s)s (known: "
				    "here, program_name, process_num, "
				    "group_name, host_node_name, numprocs, "
				    "ENV_NAME)",
				    name);
				return 0;
			}
			if (conv == 's') {
				snprintf(fmt, sizeof(fmt), "%%%.*ss", (int)f,
				         end + 1);
				snprintf(piece, sizeof(piece), fmt, val);
			} else {
				long x;
				if (!cv_long(val, LONG_MIN, LONG_MAX, &x)) {
					snprintf(
					    why, wlen,
					    "%%(%s)d: '%s' is not a number",
					    name, val);
					return 0;
				}
				snprintf(fmt, sizeof(fmt), "%%%.*sld", (int)f,
				         end + 1);
				snprintf(piece, sizeof(piece), fmt, x);
			}
			v = end + 2 + f;
		} else {
			piece[0] = *v++, piece[1] = '\0';
		}
		size_t n = strlen(piece);
		if (k + n >= len) {
			snprintf(why, wlen, "value too long (max %zu bytes)",
			         len - 1);
			return 0;
		}
		memcpy(out + k, piece, n);
		k += n;
	}
	out[k] = '\0';
	return 1;
}

static int distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b);
	int d[64][64];
	if (la >= 64 || lb >= 64)
		return 99;
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++)
		for (int j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

const char *cv_suggest(const char *key, const char *const *known)
{
	const char *best = NULL;
	int bd = 3;
	for (int i = 0; known[i] != NULL; i++) {
		int d = distance(key, known[i]);
		if (d < bd) {
			bd = d;
			best = known[i];
		}
	}
	return best;
}
