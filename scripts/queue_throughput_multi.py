#!/usr/bin/env python3
"""P producer processes put() N items (in all) into one multiprocessing.Queue,
C consumer processes get() them: the Python twin of
`troupe-bench queue_throughput --producers P --consumers C` (the anchor
shared/anchors/python/queue_throughput.py has one of each and no options
for more).

Timed in the parent from just before the processes are started until every
consumer has been joined. After the producers are joined the parent puts one
None per consumer as an end marker. Each consumer sends its count, sum and
sum of squares back; the parent checks them against 0..N-1 (no item lost or
duplicated) and exits non-zero on a mismatch.
--payload int : the ints 0..N-1 (default); --payload bytes1k : 1024-byte
bytes carrying the number in their first 8 bytes.  Metric: items/s.
"""
import argparse
import multiprocessing as mp
import sys
import time

PAYLOAD_1K = bytes(range(256)) * 4


def producer(q, n, payload, k, procs):
    if payload == "int":
        for i in range(k, n, procs):
            q.put(i)
    else:
        tail = PAYLOAD_1K[8:]
        for i in range(k, n, procs):
            q.put(i.to_bytes(8, "little") + tail)


def consumer(q, payload, out):
    count = total = squares = bad = 0
    while True:
        v = q.get()
        if v is None:
            break
        if payload != "int":
            bad += v[8:] != PAYLOAD_1K[8:]
            v = int.from_bytes(v[:8], "little")
        count += 1
        total += v
        squares += v * v
    out.put((count, total, squares, bad))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=None,
                    help="items (default 500000 ints, or 300000 with bytes1k)")
    ap.add_argument("--payload", choices=["int", "bytes1k"], default="int")
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--consumers", type=int, default=3)
    a = ap.parse_args()
    n = a.n if a.n is not None else (500_000 if a.payload == "int" else 300_000)

    ctx = mp.get_context("fork")
    q, out = ctx.Queue(), ctx.Queue()
    cons = [ctx.Process(target=consumer, args=(q, a.payload, out))
            for _ in range(a.consumers)]
    prods = [ctx.Process(target=producer,
                         args=(q, n, a.payload, k, a.producers))
             for k in range(a.producers)]
    t0 = time.perf_counter()
    for p in cons + prods:
        p.start()
    for p in prods:
        p.join()
    for _ in cons:
        q.put(None)
    results = [out.get() for _ in cons]
    for p in cons:
        p.join()
    dt = time.perf_counter() - t0

    assert all(p.exitcode == 0 for p in cons + prods)
    count = sum(r[0] for r in results)
    total = sum(r[1] for r in results)
    squares = sum(r[2] for r in results)
    bad = sum(r[3] for r in results)
    want = range(n)
    if (count, total, squares, bad) != (n, sum(want),
                                        sum(i * i for i in want), 0):
        print(f"mismatch: {count} items of {n}, {bad} bad", file=sys.stderr)
        sys.exit(1)
    print(f"n={n} payload={a.payload} producers={a.producers} "
          f"consumers={a.consumers} time={dt:.3f}s", file=sys.stderr)
    print(f"queue_throughput_{a.producers}x{a.consumers}_{a.payload} "
          f"{n / dt:.0f} items/s")


if __name__ == "__main__":
    main()
