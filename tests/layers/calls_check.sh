#!/bin/sh
# layer_calls: every symbol a layer's objects use that some layer defines
# is defined by that layer itself or by one it may use.
# Arguments: NAME=USES(comma-separated)=OBJECTS(colon-separated), one per
# layer.
defs=$(mktemp) || exit 1
trap 'rm -f "$defs"' EXIT
for arg in "$@"; do
	name=${arg%%=*}
	objs=${arg#*=*=}
	echo "$objs" | tr ':' '\n' | xargs nm --defined-only |
		awk -v l="$name" 'NF == 3 && $2 ~ /[TDBRSVW]/ { print $3, l }'
done >"$defs"
bad=0
for arg in "$@"; do
	name=${arg%%=*}
	rest=${arg#*=}
	uses=${rest%%=*}
	objs=${rest#*=}
	echo "$objs" | tr ':' '\n' | xargs nm -u | awk '{ print $2 }' |
		sort -u >"$defs.u"
	out=$(awk -v l="$name" -v uses=",$uses," '
		NR == FNR { owner[$1] = $2; next }
		($1 in owner) && owner[$1] != l &&
		    index(uses, "," owner[$1] ",") == 0 {
			print l " uses " $1 " of " owner[$1]
		}' "$defs" "$defs.u")
	rm -f "$defs.u"
	if [ -n "$out" ]; then
		echo "$out"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "ok: no layer calls a layer it may not use"
exit $bad
