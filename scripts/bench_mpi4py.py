# bench_mpi4py.py N [CHUNKSIZE] - Python's answer to a pool across hosts, as
# scripts/bench-mpi.sh runs it against troupe-bench pool_map --backend mpi:
#   mpirun -n R python3 -m mpi4py.futures scripts/bench_mpi4py.py N
# rank 0 maps square over range(N) on the other ranks (MPIPoolExecutor),
# chunksize as Pool.map's default (ceil(N / (4 * workers))), timed after a
# warm-up, and prints "METRIC value unit".
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def square(x):
    return x * x


def main():
    n = int(sys.argv[1])
    with MPIPoolExecutor() as ex:
        workers = MPI.COMM_WORLD.Get_size() - 1  # -m mpi4py.futures
        list(ex.map(square, range(8 * workers), chunksize=1))  # warm-up
        cs = max(1, -(-n // (4 * workers)))
        if len(sys.argv) > 2 and int(sys.argv[2]) > 0:
            cs = int(sys.argv[2])
        t0 = time.perf_counter()
        res = list(ex.map(square, range(n), chunksize=cs))
        dt = time.perf_counter() - t0
    if len(res) != n or res[-1] != (n - 1) ** 2:
        print("WRONG results", file=sys.stderr)
        sys.exit(1)
    # both on stdout, flushed: mpirun forwards stdout and stderr apart, and
    # a stderr line could land inside the metric's line (bench-mpi.sh
    # then lost the metric)
    print("n=%d workers=%d chunksize=%d time=%.3fs" % (n, workers, cs, dt),
          flush=True)
    print("pool_map_mpi4py_futures %.0f items/s" % (n / dt), flush=True)


if __name__ == "__main__":
    main()
