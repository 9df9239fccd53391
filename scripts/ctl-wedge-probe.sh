#!/bin/sh
# ctl-wedge-probe.sh TROUPE [N]: starts N (10) fresh detached daemons; each
# gets 20 connects closed before any byte and 20 reset, then `troupe
# status` must answer within 5 s. Prints how many did not (the wedge of
# issue 13; tests/test_cli_ctl.c is the test, this the figure). Leaves no
# daemon: a wedged one is killed (its programs die with it).
set -u
T=$1
N=${2:-10}
d=$(mktemp -d /tmp/tp-wedge.XXXXXX)
chmod 700 "$d"
trap 'rm -rf "$d"' EXIT
printf '[program:a]\ncommand = /bin/sleep 1000\n' > "$d/p.ini"
wedged=0
for i in $(seq 1 "$N"); do
	S=$d/d$i/ctl.sock
	XDG_RUNTIME_DIR=$d "$T" supervise "$d/p.ini" --socket "$S" --detach \
		>/dev/null 2>&1 || { echo "daemon $i did not start"; continue; }
	python3 - "$S" <<'PY'
import socket, struct, sys
for k in range(20):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
PY
	timeout 5 "$T" --socket "$S" status >/dev/null 2>&1 ||
		wedged=$((wedged + 1))
	pid=$(cut -d' ' -f1 "$S.pid" 2>/dev/null)
	timeout 5 "$T" --socket "$S" shutdown >/dev/null 2>&1 ||
		kill -9 "$pid" 2>/dev/null
done
echo "wedged: $wedged of $N fresh daemons"
