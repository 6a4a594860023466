"""Pre-fork benchmarks: otelsvc's worker aggregation beside prometheus_client's multiprocess mode,
measured in one run on one machine (ratios; see docs/performance.md and docs/prefork.md).

    python -m benchmarks.prefork            # 4 workers x (10k counter + 1k histogram series)
    python -m benchmarks.prefork --quick    # 4 workers x (1k counter + 100 histogram series)
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
import tracemalloc
from collections.abc import Callable

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
ROWS: list[tuple[str, str, str, str, str]] = []


def row(what: str, ours: float, theirs: float, unit: str, against: str) -> None:
    ratio = ours / theirs if theirs else float("nan")
    ROWS.append((what, f"{ours:,.1f} {unit}", f"{theirs:,.1f} {unit}", against, f"{ratio:.2f}x"))
    print(f"{what:<52} otelsvc {ours:>10,.1f} {unit:<3} {against:<30} {theirs:>10,.1f} {unit:<3} {ratio:6.2f}x",
          flush=True)


def per_call_ns(fn: Callable[[], object], number: int = 200_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9


def in_child(work: Callable[[], object]) -> object:
    """Run ``work`` in a forked child (a worker of the current guard) and return its result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, pickle.dumps(work()))
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return pickle.loads(data)


PROM_MP = textwrap.dedent("""
    import os, sys, time, timeit, statistics
    from prometheus_client import Counter, Histogram, CollectorRegistry, generate_latest
    from prometheus_client import multiprocess
    counters, hists, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    bounds = %r
    c = Counter("bench_requests", "r", ["series"])
    h = Histogram("bench_latency_seconds", "l", ["series"], buckets=bounds)
    one_c, one_h = c.labels("x"), h.labels("x")
    rec_c = min(timeit.repeat(lambda: one_c.inc(), number=100_000, repeat=5)) / 100_000 * 1e9
    rec_h = min(timeit.repeat(lambda: one_h.observe(0.2), number=100_000, repeat=5)) / 100_000 * 1e9
    pids = []
    for wi in range(workers):
        pid = os.fork()
        if pid == 0:
            for i in range(counters):
                c.labels(str(i)).inc()
            for i in range(hists):
                h.labels(str(i)).observe(0.2)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    times = []
    for _ in range(5):
        t = time.perf_counter(); body = generate_latest(registry); times.append(time.perf_counter() - t)
    print(rec_c, rec_h, statistics.median(times) * 1000, len(body))
""") % (BOUNDS,)


def prometheus_client_multiprocess(counters: int, hists: int, workers: int) -> tuple[float, float, float]:
    directory = tempfile.mkdtemp(prefix="prom-mp-")
    try:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        out = subprocess.run([sys.executable, "-c", PROM_MP, str(counters), str(hists), str(workers)], env=env,
                             capture_output=True, text=True, check=True, timeout=900).stdout.split()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    counters, hists, workers = (1000, 100, 4) if args.quick else (10_000, 1000, 4)
    os.environ.setdefault("OTELSVC_PREFORK_DIR", tempfile.mkdtemp(prefix="otelsvc-pf-bench-"))
    from prometheus_client import CollectorRegistry, Counter, Histogram

    import otelsvc

    guard = otelsvc.start(service_name="bench", prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False,
                          cardinality_limit=counters + hists + 10)
    counter = guard.counter("bench.requests", description="r", labels=("series",))
    histogram = guard.histogram("bench.latency", unit="s", buckets=BOUNDS, description="l", labels=("series",))

    def record_in_worker() -> tuple[float, float]:
        c, h = counter.bind("x"), histogram.bind("x")
        return per_call_ns(lambda: c.add(1)), per_call_ns(lambda: h.record(0.2))

    recorded = in_child(record_in_worker)
    assert isinstance(recorded, tuple)
    ours_c, ours_h = float(recorded[0]), float(recorded[1])
    registry = CollectorRegistry()
    pc = Counter("pc_requests", "r", ["series"], registry=registry).labels("x")
    ph = Histogram("pc_latency_seconds", "l", ["series"], buckets=BOUNDS, registry=registry).labels("x")
    single_c, single_h = per_call_ns(lambda: pc.inc()), per_call_ns(lambda: ph.observe(0.2))
    mp_c, mp_h, mp_scrape = prometheus_client_multiprocess(counters, hists, workers)
    row("record in a worker: counter add", ours_c, single_c, "ns", "prometheus_client bound child")
    row("record in a worker: counter add", ours_c, mp_c, "ns", "prometheus_client multiprocess")
    row("record in a worker: histogram record", ours_h, single_h, "ns", "prometheus_client bound child")
    row("record in a worker: histogram record", ours_h, mp_h, "ns", "prometheus_client multiprocess")

    # four live workers, each with its own series
    r_done, w_done = os.pipe()
    r_go, w_go = os.pipe()
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            for i in range(counters):
                counter.bind(str(i)).add(1)
            for i in range(hists):
                histogram.bind(str(i)).record(0.2)
            os.write(w_done, b"r")
            os.read(r_go, 1)
            guard.shutdown()
            os._exit(0)
        pids.append(pid)
    for _ in range(workers):
        os.read(r_done, 1)
    guard.render_metrics()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        body = guard.render_metrics()
        times.append(time.perf_counter() - t)
    ours_scrape = statistics.median(times) * 1000
    assert b'bench_requests_total{otel_scope_name="otelsvc"' in body
    row(f"scrape {workers} workers x ({counters} counter + {hists} histogram series)", ours_scrape, mp_scrape, "ms",
        "prometheus_client multiprocess")
    os.write(w_go, b"x" * workers)
    for pid in pids:
        os.waitpid(pid, 0)

    # the serving process keeps one snapshot per live worker (and one sum for the workers gone)
    from otelsvc._prefork._merge import Aggregate
    from otelsvc._prefork._snapshot import collect

    def worker_snapshot() -> bytes:
        for i in range(counters):
            counter.bind(str(i)).add(1)
        for i in range(hists):
            histogram.bind(str(i)).record(0.2)
        return pickle.dumps(collect(guard._prometheus, guard.bridge))

    blob = in_child(worker_snapshot)
    assert isinstance(blob, bytes)
    series = sum(len(s[4]) for s in pickle.loads(blob).values())
    tracemalloc.start()
    aggregate = Aggregate()
    before = tracemalloc.get_traced_memory()[0]
    aggregate.update(0, pickle.loads(blob), {})
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"serving process memory per series per live worker: {held / max(series, 1):,.0f} B "
          f"({series} series); message size per series: {len(blob) / max(series, 1):,.0f} B")
    guard.shutdown()
    print("\n| measure | otelsvc | other side | other | ratio |\n|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
