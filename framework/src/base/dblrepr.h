/*
 * dblrepr.h - Python's repr(float): the shortest text that reads back as
 * the same double. Used by the payload reprs (fmt/repr.c) and by the
 * manager's reprs of its objects (mgr/mgr_val.c).
 */
#ifndef TP_DBLREPR_H
#define TP_DBLREPR_H

/* Large enough for any repr: "-2.2250738585072014e-308" and its NUL. */
#define TP__DBLREPR_MAX 32

/* Writes repr(v) into buf ("2.7182818284590455", "0.1", "100.0", "1e+16",
 * "2.5e-05", "-0.0", "inf", "nan") and returns buf. */
char *tp__double_repr(double v, char buf[TP__DBLREPR_MAX]);

#endif
