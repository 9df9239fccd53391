#!/bin/sh
# scripts/reaper-latency.sh [BUILD] [RUNS]: how long after kill -9 of the
# `troupe supervise` daemon the last live process of a program's process
# group (a shell and two grandchildren) is gone; the reaper (apps/cli/
# reaper.c) does it. Zombies are left out: they run nothing and are
# reaped by init. Prints one `METRIC` line per run.
set -eu
BUILD=${1:-build}
RUNS=${2:-5}
T=$(cd "$BUILD" && pwd)/apps/cli/troupe
D=$(mktemp -d /tmp/troupe-reaper.XXXXXX)
trap 'rm -rf "$D"' EXIT
export XDG_STATE_HOME="$D" XDG_RUNTIME_DIR="$D"
printf "[program:tree]\ncommand = /bin/sh -c 'sleep 1000 & sleep 1000 & wait'\n" \
	> "$D/t.conf"
live() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/' | wc -l; }
for i in $(seq "$RUNS"); do
	mkdir -p -m 700 "$D/rt"
	"$T" supervise "$D/t.conf" --socket "$D/rt/s.sock" > "$D/out" 2>&1 &
	P=$!
	until grep -q "ok: troupe" "$D/out"; do sleep 0.01; done
	until [ -s "$D/rt/s.sock.groups" ]; do sleep 0.01; done
	G=$(cut -d' ' -f1 "$D/rt/s.sock.groups")
	n=0
	while [ "$(live "$G")" -lt 3 ] && [ $n -lt 500 ]; do
		sleep 0.01
		n=$((n + 1))
	done
	s=$(date +%s%N)
	kill -9 "$P"
	while [ "$(live "$G")" -gt 0 ]; do :; done
	e=$(date +%s%N)
	wait "$P" 2>/dev/null || true
	echo "METRIC reaper_group_gone_after_kill9 $(( (e - s) / 1000 )) us"
done
