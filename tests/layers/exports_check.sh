#!/bin/sh
# exports_only_tp: the shared library's dynamic symbol table defines only
# the public tp_* API (plus the linker's own markers).
so=$1
syms=$(nm -D --defined-only "$so") || exit 1
n=$(echo "$syms" | awk '$3 ~ /^tp_[^_]/' | wc -l)
extra=$(echo "$syms" | awk '{ print $3 }' |
	grep -Ev '^(tp_[^_].*|_init|_fini|_edata|_end|__bss_start)$')
if [ -n "$extra" ]; then
	echo "FAIL: $so exports more than tp_*:"
	echo "$extra"
	exit 1
fi
if [ "$n" -eq 0 ]; then
	echo "FAIL: $so exports no tp_* symbol"
	exit 1
fi
echo "ok: $n tp_* symbols, nothing else"
