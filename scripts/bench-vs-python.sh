#!/usr/bin/env bash
# Run troupe-bench workloads and their Python multiprocessing anchors
# (shared/anchors/python) alternately, in one run on this machine, and print
# a table: metric, troupe, Python, and how many times better troupe is.
#
#   scripts/bench-vs-python.sh [LABEL...]     (default: every workload)
#   RUNS=5 BUILD=build scripts/bench-vs-python.sh queue_throughput_int
#
# Each side runs RUNS times (default 3), alternating troupe / Python, and
# the median is reported. A workload troupe-bench does not know yet is
# listed as "-". Lower-is-better units (ms, us, KiB, count, x) are compared as
# Python / troupe, the others as troupe / Python, so > 1 always means troupe
# is better. Per-run output goes to $LOG_DIR.
#
#   BASE_BENCH=/path/to/old/troupe-bench scripts/bench-vs-python.sh ...
#
# adds a third side, an older build's troupe-bench, to the same alternation
# (troupe / base / Python each round, troupe and base taking turns to go
# first) and two columns: its median and how many times better the current
# build is than it (same rule as above).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
BENCH=${BENCH:-$BUILD/apps/bench/troupe-bench}
ANCHORS=${ANCHORS:-$top/../shared/anchors/python}
RUNS=${RUNS:-3}
BASE_BENCH=${BASE_BENCH:-}
PY=${PYTHON:-python3}
LOG_DIR=${LOG_DIR:-$(mktemp -d /tmp/troupe-bench.XXXXXX)}
mkdir -p "$LOG_DIR"

# label | troupe-bench arguments | anchor script and arguments (a path
# under scripts/ is a twin of ours, for a case the anchors do not cover)
WORKLOADS='
wire_roundtrip|wire|
pool_map|pool_map|pool_map.py
pool_map_int_api|pool_map --payload map_int|pool_map.py
pool_map_str|pool_map --payload str|pool_map.py --payload str
pool_map_bytes1k|pool_map --payload bytes1k|pool_map.py --payload bytes1k
pool_map_double|pool_map --payload double|pool_map.py --payload double
pool_map_chunksize1|pool_map --chunksize 1|pool_map.py --chunksize 1
pool_map_chunksize1_str|pool_map --payload str --chunksize 1|pool_map.py --payload str --chunksize 1
pool_map_chunksize1_bytes1k|pool_map --payload bytes1k --chunksize 1|pool_map.py --payload bytes1k --chunksize 1
pool_map_chunksize1_double|pool_map --payload double --chunksize 1|pool_map.py --payload double --chunksize 1
pool_apply_async|pool_apply_async|pool_apply_async.py
queue_throughput_int|queue_throughput --payload int|queue_throughput.py --payload int
queue_throughput_bytes1k|queue_throughput --payload bytes1k|queue_throughput.py --payload bytes1k
queue_throughput_3x3_int|queue_throughput --producers 3 --consumers 3 --n 200000|scripts/queue_throughput_multi.py --producers 3 --consumers 3 --n 200000
queue_throughput_3x3_bytes1k|queue_throughput --producers 3 --consumers 3 --payload bytes1k --n 200000|scripts/queue_throughput_multi.py --producers 3 --consumers 3 --payload bytes1k --n 200000
pipe_pingpong_rtt_median|pipe_pingpong|pipe_pingpong.py
pipe_pingpong_over_raw|pipe_pingpong --compare|
pipe_bytes_over_raw|pipe_pingpong --compare --bytes|
pipe_pingpong_over_raw_1cpu|pipe_pingpong --compare --same-cpu|
pipe_bytes_over_raw_1cpu|pipe_pingpong --compare --bytes --same-cpu|
process_spawn_fork|process_spawn --method fork|process_spawn.py --method fork
process_spawn_spawn|process_spawn --method spawn|process_spawn.py --method spawn
process_spawn_forkserver|process_spawn --method forkserver|process_spawn.py --method forkserver
value_lock|value_lock|value_lock.py
manager_dict|manager_dict|manager_dict.py
worker_rss_fork|worker_rss|worker_rss.py
killed_worker_lost_tasks|pool_killed_worker|pool_killed_worker.py
supervisor_restart|supervisor_restart|
log_throughput|log_throughput|
'

if [[ ! -x $BENCH ]]; then
	echo "bench-vs-python: $BENCH not built (run make first)" >&2
	exit 1
fi
known=$("$BENCH" --help 2>/dev/null | awk 'NR > 2 {print $1}')
if [[ -n $BASE_BENCH ]]; then
	if [[ ! -x $BASE_BENCH ]]; then
		echo "bench-vs-python: BASE_BENCH=$BASE_BENCH is not executable" >&2
		exit 1
	fi
	base_known=$("$BASE_BENCH" --help 2>/dev/null | awk 'NR > 2 {print $1}')
fi

# run_one OUTFILE CMD... -> prints "value unit" of the last stdout line
run_one() {
	local out=$1
	shift
	if "$@" >"$out" 2>"$out.err"; then
		tail -n 1 "$out" | awk '{print $2, $3}'
	fi
}

# CPU time the hypervisor gave to others (steal), in seconds since boot: a
# run with much steal measures the host, not troupe or Python.
steal_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu /{printf "%.1f", $9 / hz}' /proc/stat; }
steal0=$(steal_s)
t0=$(date +%s)

median() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'; }

# ratio A B UNIT -> how many times better A is than B ("-" if unknown)
ratio() {
	awk -v t="${1:-}" -v p="${2:-}" -v u="$3" 'BEGIN {
		if (t == "" || p == "" || t + 0 == 0 || p + 0 == 0) { print "-"; exit }
		low = (u == "ms" || u == "us" || u == "KiB" || u == "count" || u == "x")
		printf "%.2fx", low ? p / t : t / p }'
}

# One troupe (run_troupe) or base (run_base) run of round $i of $label.
run_troupe() {
	((have_t)) || return 0
	# shellcheck disable=SC2086
	r=$(run_one "$LOG_DIR/$label.troupe.$i" "$BENCH" $targs)
	if [[ -n $r ]]; then
		tvals+=("${r% *}")
		unit=${r#* }
	else
		echo "# $label: troupe run $i failed, see $LOG_DIR" >&2
		failed=1
	fi
}
run_base() {
	((have_b)) || return 0
	# shellcheck disable=SC2086
	r=$(run_one "$LOG_DIR/$label.base.$i" "$BASE_BENCH" $targs)
	if [[ -n $r ]]; then
		bvals+=("${r% *}")
		unit=${unit:-${r#* }}
	else
		echo "# $label: base run $i failed, see $LOG_DIR" >&2
	fi
}

if [[ -n $BASE_BENCH ]]; then
	printf '%-26s %14s %14s %14s %-8s %8s %8s\n' metric troupe base python \
		unit better vs-base
else
	printf '%-26s %14s %14s %-8s %8s\n' metric troupe python unit better
fi
failed=0
while IFS='|' read -r label targs pargs; do
	[[ -z $label ]] && continue
	if [[ $# -gt 0 ]] && ! printf '%s\n' "$@" | grep -qx "$label"; then
		continue
	fi
	workload=${targs%% *}
	tvals=() pvals=() bvals=() unit=""
	have_t=0 have_b=0
	grep -qx "$workload" <<<"$known" && have_t=1
	[[ -n $BASE_BENCH ]] && grep -qx "$workload" <<<"$base_known" && have_b=1
	for ((i = 1; i <= RUNS; i++)); do
		# The side that runs right after Python was measured 10-30 %
		# slower on some workloads, whichever build it was: troupe and
		# base take turns to go first.
		if ((i % 2 == 1)); then
			run_troupe
			run_base
		else
			run_base
			run_troupe
		fi
		if [[ -n $pargs ]]; then
			pdir=$ANCHORS
			[[ $pargs == scripts/* ]] && pdir=$top
			# shellcheck disable=SC2086
			r=$(cd "$pdir" && run_one "$LOG_DIR/$label.python.$i" "$PY" $pargs)
			if [[ -n $r ]]; then
				pvals+=("${r% *}")
				unit=${unit:-${r#* }}
			fi
		fi
	done
	t=$( ((${#tvals[@]})) && printf '%s\n' "${tvals[@]}" | median)
	p=$( ((${#pvals[@]})) && printf '%s\n' "${pvals[@]}" | median)
	better=$(ratio "${t:-}" "${p:-}" "$unit")
	if [[ -n $BASE_BENCH ]]; then
		b=$( ((${#bvals[@]})) && printf '%s\n' "${bvals[@]}" | median)
		printf '%-26s %14s %14s %14s %-8s %8s %8s\n' "$label" "${t:--}" \
			"${b:--}" "${p:--}" "${unit:--}" "$better" \
			"$(ratio "${t:-}" "${b:-}" "$unit")"
	else
		printf '%-26s %14s %14s %-8s %8s\n' "$label" "${t:--}" "${p:--}" \
			"${unit:--}" "$better"
	fi
done <<<"$WORKLOADS"
steal=$(awk -v a="$steal0" -v b="$(steal_s)" 'BEGIN {printf "%.1f", b - a}')
echo "# $RUNS runs each, alternating; $(($(date +%s) - t0)) s wall," \
	"${steal} CPU-s stolen by the hypervisor; logs in $LOG_DIR" >&2
exit $failed
