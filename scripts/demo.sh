#!/bin/sh
# make demo: the main job. Until the supervisor tree exists, it runs the
# most complete example there is: the wire format benchmark.
set -eu
build=${1:-build}
"$build/apps/bench/troupe-bench" wire --n 200000
