"""Dask distributed on the workloads bench/ measures for futuresgen.

Run with Debian's Python, which sees python3-distributed:

    /usr/bin/python3 bench/dask_bench.py [-quick] [-repeat N] [-only W,W...]

It prints one line per measurement, as bench's other rows, under the
names of bench's cluster-* workloads (-only runs just the ones named):

    system workload ns_per_task allocs_per_task [key=value ...]

allocs_per_task is -1 (not measured, as for Python's concurrent.futures);
floor=1 marks a floor (Dask on threads in one process), not a peer.
cluster-4x500ms is the wall time of all 4 tasks, not a time per task.
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


def emit(system, workload, ns_per_task, **extra):
    line = f"{system} {workload} {ns_per_task:.0f} -1.00"
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


def per_task(system, client, n_trivial, n_serial, n_sha, repeat, want, **extra):
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

    if want("cluster-trivial"):
        emit(system, "cluster-trivial", best(repeat, timed(trivial), n_trivial), tasks=n_trivial, **extra)
    if want("cluster-one-at-a-time"):
        emit(system, "cluster-one-at-a-time", best(repeat, timed(serial), n_serial), tasks=n_serial, **extra)
    if n_sha and want("cluster-sha256-64KiB"):
        emit(system, "cluster-sha256-64KiB", best(repeat, timed(sha), n_sha), tasks=n_sha, **extra)


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
    emit(system, "cluster-start", best_ns, workers=n_workers, runs=runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-quick", action="store_true", help="small counts, under ~30 s")
    ap.add_argument("-repeat", type=int, default=0, help="runs of each measurement (default 3, 1 with -quick)")
    ap.add_argument("-only", default="", help="comma-separated workloads to run (default all)")
    args = ap.parse_args()
    only = [w for w in args.only.split(",") if w]

    def want(workload):
        return not only or workload in only

    repeat = args.repeat or (1 if args.quick else 3)
    scale = 10 if args.quick else 1

    with tempfile.TemporaryDirectory(prefix="futuresgen-dask-") as tmp:
        dask.config.set({"temporary-directory": tmp, "distributed.worker.daemon": True})

        # The peer of futuresgen's cluster rows (StartLocal with 2 workers
        # of one slot each): 2 worker processes of one thread each.
        sysname = "dask-localcluster"
        per_task_rows = ("cluster-trivial", "cluster-one-at-a-time", "cluster-sha256-64KiB")
        if any(want(w) for w in per_task_rows):
            with new_cluster(True, 2, 1) as cluster, Client(cluster) as client:
                # Fewer tasks than bench's Python rows: at Dask's milliseconds
                # per task, these counts already take minutes.
                per_task(sysname, client, 10_000 // scale, 1_000 // scale, 1_000 // scale, repeat, want, workers=2)

        if want("cluster-4x500ms"):
            # 4 tasks of 500 ms need 4 workers to run side by side.
            with new_cluster(True, 4, 1) as cluster, Client(cluster) as client:
                for f in client.map(double, range(16), pure=False):
                    f.result()
                best_ns = None
                for _ in range(repeat):
                    t = time.perf_counter_ns()
                    fs = [client.submit(sleep_ms, 500, pure=False) for _ in range(4)]
                    wait(fs)
                    el = time.perf_counter_ns() - t
                    best_ns = el if best_ns is None else min(best_ns, el)
                emit(sysname, "cluster-4x500ms", best_ns, tasks=4, workers=4, ns="wall-time-of-all-4")

        # Dask's scheduler and workers in this process, on threads: its
        # floor without any process boundary.
        if any(want(w) for w in per_task_rows[:2]):
            with new_cluster(False, 1, 4) as cluster, Client(cluster) as client:
                per_task(sysname + "-threads", client, 10_000 // scale, 1_000 // scale, 0, repeat, want, floor=1)

        if want("cluster-start"):
            start_up(sysname, True, 2, 1, repeat if args.repeat else (1 if args.quick else 3))


if __name__ == "__main__":
    sys.exit(main())
