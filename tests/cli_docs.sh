#!/bin/sh
# cli_docs.sh BUILD SRC: the CLI's man pages and bash completion. Every
# command of `troupe --help` has its page and every page its command;
# pages render with man without warnings; `cmake --install` puts the
# pages and the completion where man and bash-completion look; the
# completion offers commands, options, signals and names.
set -eu
build=$1
src=$2
troupe=$build/apps/cli/troupe
man=$build/apps/cli/man
fail() { echo "FAIL: $*" >&2; exit 1; }
cmds=$("$troupe" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } /^$/ && on { exit }')
[ -n "$cmds" ] || fail "no commands in troupe --help"
for c in $cmds; do
	[ -s "$man/troupe-$c.1" ] || fail "no man page for troupe $c"
	grep -q "troupe $c" "$man/troupe.1" || fail "troupe.1 does not list $c"
done
for f in "$man"/troupe-*.1; do
	c=${f##*/troupe-}; c=${c%.1}
	echo "$cmds" | grep -qx "$c" || fail "page $f has no command"
done
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
	for f in "$man"/*.1; do
		w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null) || fail "man $f"
		[ -z "$w" ] || fail "man $f: $w"
	done
fi
work=$(mktemp -d /tmp/tp-cli-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/p" >/dev/null
[ -s "$work/p/share/man/man1/troupe-status.1" ] || fail "man pages not installed"
[ -s "$work/p/share/bash-completion/completions/troupe" ] ||
	fail "completion not installed"
# Completion, in bash, with a troupe on PATH that has no daemon.
PATH=$build/apps/cli:$PATH TROUPE_SOCKET=$work/none.sock bash -c '
	. "$1"
	c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
	      _troupe; echo "${COMPREPLY[*]}"; }
	r=$(c troupe st);              [[ " $r " == *" status "* && " $r " == *" stop "* ]] || { echo "commands: $r"; exit 1; }
	r=$(c troupe logs --f);        [[ $r == "--follow" ]] || { echo "logs options: $r"; exit 1; }
	r=$(c troupe signal SIGHU);    [[ $r == *SIGHUP* ]] || { echo "signals: $r"; exit 1; }
	r=$(c troupe stop a);          [[ $r == "all" ]] || { echo "names: $r"; exit 1; }
	r=$(c troupe status --j);      [[ $r == "--json" ]] || { echo "status options: $r"; exit 1; }
' sh "$src/apps/cli/troupe.bash" || fail "completion"
echo "cli docs: $(echo $cmds | wc -w) commands, pages and completion checked"
