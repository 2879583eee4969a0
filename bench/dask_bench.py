"""Dask distributed on the workloads bench/ measures for futuresgen.

Run with Debian's Python, which sees python3-distributed:

    /usr/bin/python3 bench/dask_bench.py [-quick] [-repeat N]

It prints one line per measurement, as bench's other rows:

    system workload ns_per_task allocs_per_task [key=value ...]

allocs_per_task is -1 (not measured, as for Python's concurrent.futures).
Each number is the fastest of -repeat runs on one cluster, after a
warm-up. Every cluster listens on 127.0.0.1 only, with no dashboard, and
keeps its files in a temporary directory removed at the end. -quick keeps
the whole run under about 30 seconds.
"""

import argparse
import hashlib
import logging
import sys
import tempfile
import time

import dask
from distributed import Client, LocalCluster, wait


def double(x):
    return 2 * x


def digest(b):
    return hashlib.sha256(b).digest()


def sleep_ms(ms):
    time.sleep(ms / 1000)
    return ms


def emit(system, workload, ns, **extra):
    line = f"{system} {workload} {ns:.0f} -1.00"
    for k, v in extra.items():
        line += f" {k}={v}"
    print(line, flush=True)


def new_cluster(processes, n_workers, threads_per_worker):
    # silence_logs keeps the workers' INFO lines off stderr. Without
    # processes, Dask talks over its in-process transport and takes no host.
    kw = {"host": "127.0.0.1"} if processes else {}
    return LocalCluster(
        processes=processes,
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        **kw,
    )


def best(repeat, f, n):
    """Fastest of repeat runs of f(n), in ns per task."""
    return min(f(n) for _ in range(repeat)) / n


def timed(f):
    def run(n):
        t = time.perf_counter_ns()
        f(n)
        return time.perf_counter_ns() - t

    return run


def per_task(system, client, n_trivial, n_serial, n_sha, repeat):
    # pure=False everywhere: otherwise Dask gives equal calls one key and
    # runs them once.
    for f in client.map(double, range(16), pure=False):
        f.result()

    def trivial(n):
        fs = [client.submit(double, i, pure=False) for i in range(n)]
        client.gather(fs)

    def serial(n):
        for i in range(n):
            client.submit(double, i, pure=False).result()

    data = bytes(i * 7 % 256 for i in range(64 << 10))

    def sha(n):
        fs = [client.submit(digest, data, pure=False) for _ in range(n)]
        client.gather(fs)

    emit(system, "process-trivial", best(repeat, timed(trivial), n_trivial), tasks=n_trivial)
    emit(system, "process-one-at-a-time", best(repeat, timed(serial), n_serial), tasks=n_serial)
    if n_sha:
        emit(system, "process-sha256-64KiB", best(repeat, timed(sha), n_sha), tasks=n_sha)


def start_up(system, processes, n_workers, threads, runs):
    """From creating the cluster to the first result, best of runs."""
    best_ns = None
    for _ in range(runs):
        t = time.perf_counter_ns()
        cluster = new_cluster(processes, n_workers, threads)
        client = Client(cluster)
        client.submit(double, 1, pure=False).result()
        el = time.perf_counter_ns() - t
        client.close()
        cluster.close()
        best_ns = el if best_ns is None else min(best_ns, el)
    emit(system, "process-start", best_ns, workers=n_workers, runs=runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-quick", action="store_true", help="small counts, under ~30 s")
    ap.add_argument("-repeat", type=int, default=0, help="runs of each measurement (default 3, 1 with -quick)")
    args = ap.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    scale = 10 if args.quick else 1

    with tempfile.TemporaryDirectory(prefix="futuresgen-dask-") as tmp:
        dask.config.set({"temporary-directory": tmp, "distributed.worker.daemon": True})

        # The peer of futuresgen's ProcessPool rows: 2 worker processes of
        # one thread each.
        sysname = "dask-localcluster"
        with new_cluster(True, 2, 1) as cluster, Client(cluster) as client:
            # Fewer tasks than bench's Python rows: at Dask's milliseconds per
            # task, these counts already take minutes.
            per_task(sysname, client, 10_000 // scale, 1_000 // scale, 1_000 // scale, repeat)

            # 4 tasks of 500 ms need 4 workers to run side by side; with 2,
            # they take two rounds.
            fs = [client.submit(sleep_ms, 500, pure=False) for _ in range(4)]
            t = time.perf_counter_ns()
            wait(fs)
            el = time.perf_counter_ns() - t
            emit(sysname, "sleep-500ms-x4", el / 4, tasks=4, workers=2, wall_ms=f"{el / 1e6:.0f}")

        with new_cluster(True, 4, 1) as cluster, Client(cluster) as client:
            for f in client.map(double, range(16), pure=False):
                f.result()
            t = time.perf_counter_ns()
            fs = [client.submit(sleep_ms, 500, pure=False) for _ in range(4)]
            wait(fs)
            el = time.perf_counter_ns() - t
            emit(sysname + "-4w", "sleep-500ms-x4", el / 4, tasks=4, workers=4, wall_ms=f"{el / 1e6:.0f}")

        # Dask's scheduler and workers in this process, on threads: its
        # floor without any process boundary.
        with new_cluster(False, 1, 4) as cluster, Client(cluster) as client:
            per_task(sysname + "-threads", client, 10_000 // scale, 1_000 // scale, 0, repeat)

        start_up(sysname, True, 2, 1, 1 if args.quick else 3)


if __name__ == "__main__":
    sys.exit(main())
