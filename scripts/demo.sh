#!/bin/sh
# `make demo`: start a real supervision tree with the troupe daemon (seed
# 004: a directory-statistics worker, a calculate-e worker stopped by an
# event, a status printer, under one supervisor), show it with
# `troupe status` and `troupe tree`, kill -9 a worker to watch it be
# restarted, stop calc_e through its exit event, then shut the daemon down
# and check that no process is left behind.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$BUILD" && pwd)
TROUPE="$BIN/apps/cli/troupe"
export TROUPE_DEMO_BIN="$BIN/apps/demo"
SOCKDIR=$(mktemp -d /tmp/troupe-demo.XXXXXX)   # mode 0700
export TROUPE_SOCKET="$SOCKDIR/troupe.sock"
# The daemon's log outlives it (under $XDG_STATE_HOME/troupe, or
# /var/log/troupe as root): the demo keeps it in its own directory.
export XDG_STATE_HOME="$SOCKDIR/state"
DAEMON=
cleanup() { # on any failure too: never leave the daemon behind
	if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
		"$TROUPE" shutdown >/dev/null 2>&1 || kill -9 "$DAEMON"
	fi
	rm -rf "$SOCKDIR"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
json_field() { # NAME FIELD: reads `troupe status --json` on stdin
	python3 -c 'import json,sys
d=json.load(sys.stdin)
print([c for c in d["children"] if c["name"]==sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}

step troupe supervise apps/demo/demo.ini --detach
"$TROUPE" supervise "$ROOT/apps/demo/demo.ini" --detach
DAEMON=$("$TROUPE" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["daemon_pid"])')
# Every child of the daemon (workers and its fork server).
PIDS=$(cat /proc/"$DAEMON"/task/*/children)

step troupe status
"$TROUPE" status
step troupe tree
"$TROUPE" tree

sleep 2   # let the workers work
OLD=$("$TROUPE" status --json | json_field dirstat pid)
step "kill -9 $OLD   # dirstat, a permanent child"
kill -9 "$OLD"
i=0
while [ "$("$TROUPE" status --json | json_field dirstat state)" != running ] ||
      [ "$("$TROUPE" status --json | json_field dirstat pid)" = "$OLD" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "dirstat not restarted"; exit 1; }
	sleep 0.1
done
"$TROUPE" status dirstat
PIDS="$PIDS $("$TROUPE" status --json | json_field dirstat pid)"

step "troupe stop calc_e   # sets its exit event"
"$TROUPE" stop calc_e
step troupe logs calc_e
"$TROUPE" logs calc_e
step "troupe logs dirstat | tail -2"
"$TROUPE" logs dirstat | tail -2
step "troupe status   # exit code 1: calc_e is stopped"
"$TROUPE" status || echo "(exit code $?)"

step troupe shutdown
"$TROUPE" shutdown
i=0
while kill -0 "$DAEMON" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "daemon still running"; exit 1; }
	sleep 0.05
done
for p in $PIDS; do
	if [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null; then
		echo "process $p left behind"; exit 1
	fi
done
echo "demo done: daemon and all workers gone"
