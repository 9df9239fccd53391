#!/bin/sh
# troupe-bench refuses, for every workload, an option it does not take and
# a bad value (exit 2 and a message), before running anything.
bench=$1
fail=0
workloads=$("$bench" --help | awk 'NR > 2 {print $1}')
[ -n "$workloads" ] || { echo "no workloads listed"; exit 1; }
for w in $workloads; do
	"$bench" "$w" --no-such-option 1 >/dev/null 2>err.$$
	rc=$?
	if [ $rc -ne 2 ] || ! grep -q "unknown option '--no-such-option'" err.$$; then
		echo "$w: --no-such-option gave exit $rc: $(cat err.$$)"
		fail=1
	fi
done
"$bench" pool_map --n x >/dev/null 2>err.$$
rc=$?
if [ $rc -ne 2 ] || ! grep -q "takes an integer" err.$$; then
	echo "pool_map --n x gave exit $rc"
	fail=1
fi
"$bench" pool_map --payload nosuch --n 10 >/dev/null 2>err.$$
rc=$?
if [ $rc -ne 2 ]; then
	echo "pool_map --payload nosuch gave exit $rc"
	fail=1
fi
rm -f err.$$
exit $fail
