# perf_ns_cpu.py PERF_DATA [INODE=HOST ...] - CPU time (s) a job spent, per
# host and kind, from `perf record --namespaces -e cpu-clock` samples taken
# while its tasks ran (from the first sample in the task's function, b_spin,
# to the last: start-up and the end are left out): each thread's host is its
# network namespace (INODE: `stat -L -c %i /run/netns/HOST`); kind: troupe
# (troupe-bench, its fork server's children, nng threads), mpi (mpirun,
# orted), other. Used by scripts/bench-mpi-cpu.sh.
import collections
import re
import subprocess
import sys


def main():
    hosts = dict(a.split("=", 1) for a in sys.argv[2:])
    out = subprocess.run(
        ["perf", "script", "-i", sys.argv[1], "--show-namespace-events",
         "-F", "comm,pid,tid,time,event,period,ip,sym"],
        capture_output=True, text=True, check=True).stdout
    net, who, samples = {}, None, []
    for line in out.splitlines():
        m = re.search(r"PERF_RECORD_NAMESPACES \d+/(\d+)", line)
        if m:
            who = int(m.group(1))
            continue
        m = re.search(r"0/net: \d+/0x([0-9a-f]+)", line)
        if m and who is not None:
            net[who] = str(int(m.group(1), 16))
            who = None
            continue
        m = re.match(r"\s*(.*?)\s+(\d+)/(\d+)\s+([0-9.]+):\s+(\d+)"
                     r"\s+cpu-clock\S*\s+[0-9a-f]+\s+(\S+)", line)
        if m:
            samples.append(m.groups())
    spin = [float(t) for (_, _, _, t, _, sym) in samples if sym == "b_spin"]
    t0, t1 = (min(spin), max(spin)) if spin else (0, float("inf"))
    cpu = collections.Counter()
    for comm, pid, tid, t, ns, sym in samples:
        if not t0 <= float(t) <= t1:
            continue
        host = hosts.get(net.get(int(tid), net.get(int(pid), "")), "-")
        kind = ("troupe" if comm.startswith(("troupe", "nng"))
                else "mpi" if comm in ("orted", "mpirun") else "other")
        cpu[(host, kind)] += int(ns)
    print("window %.3f" % (t1 - t0))
    for (host, kind), ns in sorted(cpu.items()):
        print("%s %s %.3f" % (host, kind, ns / 1e9))


if __name__ == "__main__":
    main()
