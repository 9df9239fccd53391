#!/bin/sh
# run.sh PROG - the ctest cluster_mpi: PROG (cluster_prog.c) under mpirun
# over three network-namespace hosts (netns.sh): rank 0 and one agent per
# host (4 ranks, --map-by node). Cases: a map of 1M items over the three
# hosts; tasks that crash on one host; kill -9 of a remote worker under
# load; kill -9 of an agent; one host's link set down. Everything it
# starts is gone at its end (trap), checked with `ip netns pids`.
# Exit 77 (skip) when not root, without ip netns or without mpirun.
here=$(cd "$(dirname "$0")" && pwd)
prog=$1
. "$here/netns.sh"
if ! why=$(tp_netns_check); then
	echo "SKIP: cluster tests need root, ip netns and mpirun: $why"
	exit 77
fi
trap 'tp_netns_down' EXIT
trap 'exit 1' INT TERM HUP
tp_netns_up || { echo "FAIL: could not make the hosts"; exit 1; }
H2=$(tp_netns_host 2)
H3=$(tp_netns_host 3)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# start NAME ARGS...: mpirun in the background, output in $TP_NS_DIR/NAME
start() {
	name=$1; shift
	out=$TP_NS_DIR/$name.out
	sh -c "exec $TP_MPIRUN --map-by node --bind-to none -n 4 $prog $*" >"$out" 2>&1 &
	job=$!
}

# finish SECONDS: waits for the job at most that long; rc gets its status
# (124: it did not end in time, and was killed)
finish() {
	i=0
	while kill -0 $job 2>/dev/null && [ $i -lt $(($1 * 10)) ]; do
		sleep 0.1; i=$((i + 1))
	done
	if kill -0 $job 2>/dev/null; then
		kill -9 $job 2>/dev/null
		wait $job
		rc=124
	else
		wait $job
		rc=$?
	fi
	elapsed=$(echo "$i" | awk '{printf "%.1f", $1 / 10}')
}

# until_line PATTERN SECONDS: waits until the job's output has the line
until_line() {
	i=0
	while ! grep -q "$1" "$out" && [ $i -lt $(($2 * 10)) ]; do
		kill -0 $job 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	grep -q "$1" "$out"
}

# nothing_left: no process in any host (a few seconds' grace to exit)
nothing_left() {
	i=0
	while [ -n "$(tp_netns_left)" ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	left=$(tp_netns_left)
	[ -z "$left" ] || { fail "$1: processes left: $left"; ps -o pid,ppid,args -p "$(echo $left | tr ' ' ,)"; }
}

show() { sed 's/^/    /' "$out"; }

# passed CASE: the job ended with 0 and PASSED, left nothing
passed() {
	[ $rc = 0 ] && grep -q PASSED "$out" || fail "$1: exit $rc"
	show
	nothing_left "$1"
}

# kill_on HOST FIELD WHAT: once the job is under load, kill -9 the process
# of the job's "WORKER host pid agentpid" line (FIELD 3: the worker, 4:
# its agent) on HOST
kill_on() {
	until_line LOAD 120 || return
	p=$(grep "^WORKER $1 " "$out" | head -1 | awk "{print \$$2}")
	[ -n "$p" ] && kill -9 "$p" && echo "killed $3 $p on $1"
}

echo "== map over three hosts"
start map map 1000000
finish 300
grep -q "hosts served: 3 (of 3)" "$out" || fail "map: not every host served"
passed map

echo "== tasks that crash on $H2"
start crash crash "$H2"
finish 300
passed crash

echo "== kill -9 of a worker on $H3 under load"
start killw load 6000
kill_on "$H3" 3 worker
finish 300
passed "kill worker"

echo "== kill -9 of the agent on $H2"
start killa load 20000
kill_on "$H2" 4 agent
finish 60
echo "ended after ${elapsed}s, exit $rc"
[ $rc != 0 ] && [ $rc != 124 ] || fail "kill agent: exit $rc"
grep -q "$H2" "$out" || fail "kill agent: no message naming $H2"
show
nothing_left "kill agent"

echo "== the link of $H3 set down"
TP_HB_MS=200
export TP_HB_MS
start linkdown load 20000
if until_line LOAD 120; then
	ip -n "$H3" link set eth0 down && echo "link of $H3 down"
fi
finish 60
echo "ended after ${elapsed}s, exit $rc"
[ $rc = 75 ] || fail "link down: exit $rc (want 75)"
grep -q "host $H3 sent nothing" "$out" || fail "link down: no heartbeat message naming $H3"
show
ip -n "$H3" link set eth0 up
nothing_left "link down"
unset TP_HB_MS

# Open MPI 5's ULFM would let the pool go on without a dead agent; troupe
# does not use it yet (cluster.c, TP__CL_ULFM: a failed rank stays
# fatal), and 4.1 has none: the kill agent case above is what happens.
ver=$(mpirun --version 2>/dev/null | head -1 | sed 's/.*(Open MPI) *//')
if ompi_info --all --parsable 2>/dev/null | grep -q mpi_ft_enable; then
	echo "SKIP: agent death under ULFM (requeue its batches, go on): Open MPI $ver has ULFM, but troupe keeps rank failures fatal (not written yet)"
else
	echo "SKIP: agent death under ULFM (requeue its batches, go on): skipped: ULFM not available (Open MPI $ver)"
fi

[ $fails = 0 ] && echo PASSED || echo "FAILED ($fails)"
[ $fails = 0 ]
