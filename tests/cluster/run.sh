#!/bin/sh
# run.sh PROG TROUPE - the ctest cluster_mpi: PROG (cluster_prog.c) under mpirun
# over three network-namespace hosts (netns.sh): rank 0 and one agent per
# host (4 ranks, --map-by node). Cases: a map of 1M items over the three
# hosts; tasks that crash on one host; kill -9 of a remote worker under
# load; kill -9 of a stand-in mid-map; kill -9 of an agent; one host's link set down; a job quiet for
# 1.5 s (its loops' waits at their cap) then given work; a link cut while
# the job is quiet; mpirun as a
# permanent child of the troupe daemon (TROUPE supervise), restarted
# whole after an agent is killed. Everything it
# starts is gone at its end (trap), checked with `ip netns pids`.
# Exit 77 (skip) when not root, without ip netns or without mpirun.
here=$(cd "$(dirname "$0")" && pwd)
prog=$1
troupe=$2
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

echo "== kill -9 of a stand-in on rank 0's host mid-map"
# Large results come back through the ring of the slot's stand-in run:
# the one that replaces it gets the slot's next ones, nothing is lost.
start standin standin
if until_line QUARTER 120; then
	p=$(grep "^STANDIN " "$out" | head -1 | awk '{print $2}')
	[ -n "$p" ] && kill -9 "$p" && echo "killed stand-in $p"
fi
finish 300
passed "kill stand-in"

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

echo "== quiet for 1.5 s, then work"
start quiet quiet 1.5
finish 120
passed quiet

echo "== the link of $H2 cut while the job is quiet"
# The loops wait up to half a beat when idle; the beats still find the
# cut within ten of them. The job would be quiet for 300 s: only the
# heartbeat ends it within the 60 s allowed.
TP_HB_MS=200
export TP_HB_MS
start quietcut quiet 300
if until_line QUIET 120; then
	ip -n "$H2" link set eth0 down && echo "link of $H2 down"
fi
finish 60
echo "ended after ${elapsed}s, exit $rc"
[ $rc = 75 ] || fail "link cut while quiet: exit $rc (want 75)"
grep -q "host $H2 sent nothing" "$out" || fail "link cut while quiet: no heartbeat message naming $H2"
show
ip -n "$H2" link set eth0 up
nothing_left "link cut while quiet"
unset TP_HB_MS

echo "== mpirun as a permanent child of the troupe daemon"
# Restarting a whole failed job is the supervisor's work (docs/cluster.md):
# the daemon runs the mpirun line; an agent killed ends that job (Open MPI
# 4.1), the daemon starts it again, and shutdown stops it everywhere.
echo "$TP_MPIRUN --map-by node --bind-to none -n 4 $prog load 20000" >"$TP_NS_DIR/job.cmd"
printf '#!/bin/sh\nexec sh %s >>%s 2>&1\n' "$TP_NS_DIR/job.cmd" "$TP_NS_DIR/job.out" >"$TP_NS_DIR/job.sh"
chmod +x "$TP_NS_DIR/job.sh"
cat >"$TP_NS_DIR/job.ini" <<EOS
[supervisor]
socket = $TP_NS_DIR/d/troupe.sock
intensity = 5
period = 60000

[program:mpijob]
command = $TP_NS_DIR/job.sh
autorestart = true
stopwaitsecs = 20
EOS
out=$TP_NS_DIR/job.out
: >"$out"
mkdir -m 700 "$TP_NS_DIR/d" # the daemon's socket wants a private directory
"$troupe" supervise "$TP_NS_DIR/job.ini" >"$TP_NS_DIR/daemon.out" 2>&1 &
job=$!
if until_line LOAD 120; then
	p=$(grep "^WORKER $H2 " "$out" | head -1 | awk '{print $4}')
	[ -n "$p" ] && kill -9 "$p" && echo "killed agent $p on $H2"
	i=0
	while [ "$(grep -c '^LOAD' "$out")" -lt 2 ] && [ $i -lt 1200 ]; do
		kill -0 $job 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	starts=$(grep -c '^rank 0 of' "$out")
	echo "the daemon started the job $starts times"
	[ "$(grep -c '^LOAD' "$out")" -ge 2 ] || fail "daemon: the job was not started again"
	"$troupe" --socket "$TP_NS_DIR/d/troupe.sock" status || fail "daemon: mpijob not running after the restart"
else
	fail "daemon: the job never ran"
	show
fi
"$troupe" --socket "$TP_NS_DIR/d/troupe.sock" shutdown --timeout 60 >/dev/null 2>&1
finish 60
echo "daemon exit $rc"
[ $rc = 0 ] || fail "daemon: exit $rc after shutdown"
sed 's/^/    /' "$TP_NS_DIR/daemon.out" | tail -5
grep -q "exited on signal 9" "$out" || fail "daemon: no message of the killed agent"
nothing_left "daemon"

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
