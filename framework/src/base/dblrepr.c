/*
 * dblrepr.c - Python's repr(float) (dblrepr.h): the fewest significant
 * digits that read back as the same double, laid out as Python's
 * float_repr_style 'short' does (exponent form below 1e-4 and from 1e16).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblrepr.h"

/* The shortest %.{p}e that reads back as d: its digits and exponent. */
static int shortest(double d, char *digits, size_t len)
{
	char tmp[40], *e;
	for (int prec = 0; prec <= 16; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	e = strchr(tmp, 'e');
	int exp = atoi(e + 1);
	size_t n = 0;
	for (const char *c = tmp; c < e && n + 1 < len; c++)
		if (*c >= '0' && *c <= '9')
			digits[n++] = *c;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	return exp;
}

char *tp__double_repr(double v, char buf[TP__DBLREPR_MAX])
{
	char dig[24], *o = buf;
	if (isnan(v) || isinf(v)) {
		strcpy(buf, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return buf;
	}
	int exp = shortest(fabs(v), dig, sizeof(dig));
	int nd = (int)strlen(dig);
	if (signbit(v))
		*o++ = '-';
	if (exp < -4 || exp >= 16) { /* Python: 1e+16, 2.5e-05 */
		*o++ = dig[0];
		if (nd > 1)
			o += sprintf(o, ".%s", dig + 1);
		sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	} else if (exp < 0) { /* 0.000123 */
		o += sprintf(o, "0.");
		for (int i = -1; i > exp; i--)
			*o++ = '0';
		strcpy(o, dig);
	} else { /* 123.45, 100.0 */
		for (int i = 0; i <= exp; i++)
			*o++ = i < nd ? dig[i] : '0';
		sprintf(o, ".%s", nd > exp + 1 ? dig + exp + 1 : "0");
	}
	return buf;
}
