package main

// pythonScript measures Python's concurrent.futures on the same workloads.
// It prints the nanoseconds per task of the workload named by argv[1].
const pythonScript = `
import sys, time, hashlib, multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor

def double(x): return 2 * x
def sleep(d): time.sleep(d)
def digest(b): return hashlib.sha256(b).digest()

def main():
    workload, n = sys.argv[1], int(sys.argv[2])
    if workload == "futures-shape":
        with ThreadPoolExecutor(4) as ex:
            t = time.perf_counter()
            fs = [ex.submit(double, i) for i in range(n)]
            for f in fs: f.result()
            el = time.perf_counter() - t
    elif workload == "trivial":
        with ThreadPoolExecutor(4) as ex:
            t = time.perf_counter()
            list(ex.map(double, range(n)))
            el = time.perf_counter() - t
    elif workload.startswith("process-start"):
        method = workload.split("-")[-1]
        el = 0
        for _ in range(n):
            t = time.perf_counter()
            with ProcessPoolExecutor(1, mp_context=mp.get_context(method)) as ex:
                ex.submit(double, 1).result()
                el += time.perf_counter() - t
    elif workload == "process-4x500ms":
        with ProcessPoolExecutor(4) as ex:
            list(ex.map(sleep, [0.01] * 4))
            t = time.perf_counter()
            list(ex.map(sleep, [0.5] * 4))
            el = time.perf_counter() - t
    else:
        with ProcessPoolExecutor(2) as ex:
            ex.submit(double, 1).result(); ex.submit(double, 1).result()
            t = time.perf_counter()
            if workload == "process-one-at-a-time":
                for i in range(n): ex.submit(double, i).result()
            elif workload == "process-trivial":
                fs = [ex.submit(double, i) for i in range(n)]
                for f in fs: f.result()
            elif workload == "process-map-chunk256":
                list(ex.map(double, range(n), chunksize=256))
            elif workload == "process-sha256-64KiB":
                data = bytes(i * 7 % 256 for i in range(64 << 10))
                fs = [ex.submit(digest, data) for i in range(n)]
                for f in fs: f.result()
            el = time.perf_counter() - t
    print(int(el * 1e9 / n))

if __name__ == "__main__":
    main()
`
