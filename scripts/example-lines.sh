#!/bin/sh
# Counts the non-blank, non-comment lines of each C example that has its
# Python original in apps/examples/py/NAME.py, prints "NAME py c ratio",
# and fails if any C example is more than twice its Python, unless
# apps/examples/line-waivers.txt names it with its own limit and reason
# (a waiver of an example that fits 2x again fails too: it is stale),
# or if the table in apps/examples/README.md states other counts.
#   scripts/example-lines.sh [apps/examples]
set -eu
dir=${1:-$(dirname "$0")/../apps/examples}
# Python: drop blank lines and lines that are only a # comment.
pylines() { grep -cvE '^[[:space:]]*(#|$)' "$1" || true; }
# C: drop blank lines, // lines and the lines of /* ... */ comments.
clines() {
	awk '
	/^[[:space:]]*$/ { next }
	incomment { if ($0 ~ /\*\//) incomment = 0; next }
	/^[[:space:]]*\/\// { next }
	/^[[:space:]]*\/\*/ { if ($0 !~ /\*\//) incomment = 1; next }
	{ n++ }
	END { print n + 0 }' "$1"
}
status=0
for py in "$dir"/py/*.py; do
	name=$(basename "$py" .py)
	c=$dir/$name.c
	if [ ! -f "$c" ]; then
		echo "$name: no C counterpart $c" >&2
		status=1
		continue
	fi
	p=$(pylines "$py")
	n=$(clines "$c")
	limit=$((2 * p))
	verdict=ok
	waived=$(awk -v n="$name" '$1 == n { print $2 }' \
		"$dir/line-waivers.txt" 2>/dev/null || true)
	if [ -n "$waived" ]; then
		limit=$waived
		verdict="ok (waived: limit $waived, see line-waivers.txt)"
	fi
	if [ "$n" -gt "$limit" ]; then
		verdict="TOO LONG (limit $limit)"
		status=1
	elif [ -n "$waived" ] && [ "$n" -le $((2 * p)) ]; then
		verdict="STALE WAIVER (fits 2x: remove it from line-waivers.txt)"
		status=1
	fi
	# README.md's table states both counts: they must be these.
	row=$(awk -F'|' -v f="[\`$name.c\`]" 'index($4, f) {
		gsub(/ /, "", $5); gsub(/ /, "", $6); print $5, $6 }' \
		"$dir/README.md" 2>/dev/null || true)
	if [ -f "$dir/README.md" ] && [ "$row" != "$p $n" ]; then
		verdict="$verdict; README.md says '$row', not '$p $n'"
		status=1
	fi
	awk -v name="$name" -v p="$p" -v n="$n" -v v="$verdict" \
		'BEGIN { printf "%-28s py %3d  c %3d  x%.2f  %s\n", name, p, n, n / p, v }'
done
exit $status
