#!/bin/sh
# layer_include: a forbidden include fails to compile, an allowed one
# compiles. $1: the build directory.
b=$1
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
if ! cmake --build "$b" --target tp_layer_check_good >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: the allowed include did not compile"
	exit 1
fi
if cmake --build "$b" --target tp_layer_check_bad >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: base compiled an include of rt (a layer above it)"
	exit 1
fi
if ! grep -q 'runtime_int.h' "$out"; then
	cat "$out"
	echo "FAIL: the bad target failed, but not on its forbidden include"
	exit 1
fi
echo "ok: base cannot include runtime_int.h"
