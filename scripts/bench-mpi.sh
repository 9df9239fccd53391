#!/bin/sh
# bench-mpi.sh [N] - troupe-bench pool_map --backend mpi against
# python3 -m mpi4py.futures, mapping square over the same N int items on
# the same three network-namespace hosts (tests/cluster/netns.sh), the
# same number of workers (PROCS per host), alternating RUNS times; root.
#   RUNS=3 PROCS=2 scripts/bench-mpi.sh 1000000
#   CHUNKSIZE=1 scripts/bench-mpi.sh 20000   # one task per item (0: Pool's)
#   TASK_US=1000 PROCS=1 scripts/bench-mpi.sh 3000  # tasks of 1 ms of CPU:
#     the MPI pool (PROCS per host, N items) against a local pool of PROCS
#     workers (N/3 items, in a session of its own like each host's), per
#     worker (per core: scripts/bench-mpi-cpu.sh, CPU time per task)
#   BASE_BUILD=/work/wt/base/build scripts/bench-mpi.sh 1000000  # each
#     run also maps with that build's troupe-bench (lines tagged "base:")
#   LOCAL=1 scripts/bench-mpi.sh 1000000  # each run also maps N items on a
#     local pool of LOCAL_PROCS workers (default 2; no hosts; lines tagged
#     "local:")
# troupe: rank 0 plus one agent per host (-n 4 --map-by node), each agent
# a pool of PROCS workers; mpi4py: rank 0 plus PROCS worker ranks per host.
# BUILD picks the build tree whose troupe-bench runs (default: this one).
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-$root/build}
N=${1:-1000000}
RUNS=${RUNS:-3}
PROCS=${PROCS:-2}
CHUNKSIZE=${CHUNKSIZE:-0}
TASK_US=${TASK_US:-0}
PY=${PY:-/usr/bin/python3} # Debian's python3-mpi4py is for Debian's python
. "$root/tests/cluster/netns.sh"
why=$(tp_netns_check) || { echo "bench-mpi: $why" >&2; exit 1; }
trap tp_netns_down EXIT
trap 'exit 1' INT TERM HUP
tp_netns_up || exit 1
bench=$BUILD/apps/bench/troupe-bench
[ -x "$bench" ] || { echo "bench-mpi: no $bench" >&2; exit 1; }
echo "# N=$N CHUNKSIZE=$CHUNKSIZE PROCS=$PROCS per host, 3 hosts; $(nproc) CPUs shared by every host"
if [ "$TASK_US" -gt 0 ]; then
	# items/s per worker of each line "NAME V items/s" (W workers)
	per() { awk -v w="$1" '/items\/s/{printf "%s %.0f items/s, %.1f per worker\n", $1, $2, $2 / w}'; }
	for r in $(seq 1 "$RUNS"); do
		setsid $bench pool_map --procs $PROCS --task-us $TASK_US --n $((N / 3)) --chunksize $CHUNKSIZE 2>&1 | per $PROCS
		sh -c "$TP_MPIRUN --map-by node --bind-to none -n 4 $bench pool_map --backend mpi --procs $PROCS --task-us $TASK_US --n $N --chunksize $CHUNKSIZE" 2>&1 | per $((3 * PROCS))
	done
	exit 0
fi
base=
if [ -n "${BASE_BUILD:-}" ]; then
	base=$BASE_BUILD/apps/bench/troupe-bench
	[ -x "$base" ] || { echo "bench-mpi: no $base" >&2; exit 1; }
fi
for r in $(seq 1 "$RUNS"); do
	if [ -n "$base" ]; then
		sh -c "$TP_MPIRUN --map-by node --bind-to none -n 4 $base pool_map --backend mpi --procs $PROCS --n $N --chunksize $CHUNKSIZE" 2>&1 | grep -E "items/s|time=|rror" | sed 's/^/base: /'
	fi
	if [ "${LOCAL:-0}" = 1 ]; then
		$bench pool_map --procs ${LOCAL_PROCS:-2} --n $N --chunksize $CHUNKSIZE 2>&1 | grep -E "items/s|time=|rror" | sed 's/^/local: /'
	fi
	sh -c "$TP_MPIRUN --map-by node --bind-to none -n 4 $bench pool_map --backend mpi --procs $PROCS --n $N --chunksize $CHUNKSIZE" 2>&1 | grep -E "items/s|time=|rror"
	sh -c "$TP_MPIRUN --oversubscribe --map-by node --bind-to none -n $((3 * PROCS + 1)) $PY -m mpi4py.futures $here/bench_mpi4py.py $N $CHUNKSIZE" 2>&1 | grep -E "items/s|time=|rror"
done
