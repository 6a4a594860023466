"""otelsvc benchmarks: every figure is a ratio against the OTel SDK and prometheus_client, measured
side by side in the same run on the same machine (median of repeats).

    python -m benchmarks            # full run (a few minutes)
    python -m benchmarks --quick    # fewer repeats, shutdown cases against a closed port only

The figures go to stdout, nothing else. The OTLP reader of the recording runs points at a closed
port on purpose, so the guards log failed pushes: log lines go to stderr, errors only unless
``--verbose``.

Recording is measured with both of otelsvc's readers attached (Prometheus and an OTLP periodic
reader with a long interval), and the SDK side likewise with a Prometheus and a periodic reader.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import timeit
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks.api import bench_api, bench_unit_add
from benchmarks.middleware import bench_middleware
from benchmarks.otlp import bench_otlp

ATTRS = {"service": "checkout", "route": "/orders", "code": "200"}
HTTP_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
ROWS: list[tuple[str, str, str, str, str]] = []


def row(what: str, ours: float, theirs: float, unit: str, against: str) -> None:
    ratio = ours / theirs if theirs else float("nan")
    ROWS.append((what, f"{ours:,.1f} {unit}", f"{theirs:,.1f} {unit}", against, f"{ratio:.2f}x"))
    print(
        f"{what:<48} otelsvc {ours:>12,.1f} {unit:<6} {against:<18} {theirs:>12,.1f} {unit:<6} ratio {ratio:6.2f}x",
        flush=True,
    )


def median_per_call(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Median seconds per call over ``repeat`` runs of ``number`` calls."""
    runs = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(runs) / number


def threaded_per_call(fn: Callable[[], Any], number: int, repeat: int, threads: int = 2) -> float:
    """Median wall seconds per call with ``threads`` threads each making ``number`` calls."""
    results = []
    for _ in range(repeat):
        barrier = threading.Barrier(threads + 1)

        def work(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            for _ in range(number):
                fn()

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in pool:
            t.join()
        results.append((time.perf_counter() - t0) / (number * threads))
    return statistics.median(results)


def _sdk_provider(limit: int = 2000) -> tuple[Any, Any]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        MeterProvider,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
        _Gauge,
    )
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
    from prometheus_client import CollectorRegistry

    classes = (Counter, UpDownCounter, Histogram, _Gauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
    limits = {cls: limit for cls in classes}
    registry = CollectorRegistry()
    prom = PrometheusMetricReader(registry=registry, cardinality_limits=limits)
    # the second reader stands in for the OTLP periodic reader (same storage cost, no network)
    push = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[prom, push],
        views=[View(instrument_type=Histogram, aggregation=ExplicitBucketHistogramAggregation(HTTP_BOUNDS))],
    )
    return provider, registry


def _guard(limit: int = 2000, **settings: Any) -> Any:
    import otelsvc

    return otelsvc.start(
        prometheus="127.0.0.1:0",
        otlp_endpoint="http://127.0.0.1:9",
        export_interval=3600,
        shutdown_timeout=0.2,
        set_global=False,
        runtime_metrics=False,
        cardinality_limit=limit,
        **settings,
    )


def bench_recording(quick: bool) -> None:
    import prometheus_client as pc

    number, repeat = (50_000, 5) if quick else (300_000, 9)
    reg = pc.CollectorRegistry()
    keys = list(ATTRS)
    values = list(ATTRS.values())
    p_counter = pc.Counter("pc_c", "c", keys, registry=reg).labels(*values)
    p_gauge = pc.Gauge("pc_g", "g", keys, registry=reg).labels(*values)
    p_hist = pc.Histogram("pc_h", "h", keys, registry=reg, buckets=HTTP_BOUNDS).labels(*values)

    guard = _guard()
    bridge = guard.bridge
    o_counter = bridge.instrument("b.c", "counter", "", "", keys).bind(*values)
    o_updown = bridge.instrument("b.u", "updowncounter", "", "", keys).bind(*values)
    o_gauge = bridge.instrument("b.g", "gauge", "", "", keys).bind(*values)
    o_hist = bridge.instrument("b.h", "histogram", "s", "", keys, HTTP_BOUNDS).bind(*values)

    provider, _ = _sdk_provider()
    meter = provider.get_meter("bench")
    s_counter = meter.create_counter("s.c")
    s_updown = meter.create_up_down_counter("s.u")
    s_gauge = meter.create_gauge("s.g")
    s_hist = meter.create_histogram("s.h", unit="s")

    cases = [
        ("counter add", o_counter.add, p_counter.inc, lambda: s_counter.add(1, ATTRS)),
        # another amount than 1 takes the counter's lock (the unit add above takes none outside spans)
        ("counter add(3)", lambda: o_counter.add(3), lambda: p_counter.inc(3), lambda: s_counter.add(3, ATTRS)),
        ("up-down counter add", o_updown.add, p_gauge.inc, lambda: s_updown.add(1, ATTRS)),
        ("gauge set", lambda: o_gauge.set(3.0), lambda: p_gauge.set(3.0), lambda: s_gauge.set(3.0, ATTRS)),
        (
            "histogram record",
            lambda: o_hist.record(0.3),
            lambda: p_hist.observe(0.3),
            lambda: s_hist.record(0.3, ATTRS),
        ),
    ]
    sdk_number = max(2_000, number // 20)
    for name, ours, theirs, sdk in cases:
        o = median_per_call(ours, number, repeat) * 1e9
        p = median_per_call(theirs, number, repeat) * 1e9
        s = median_per_call(sdk, sdk_number, repeat) * 1e9
        row(f"record, 1 thread: {name}", o, p, "ns", "prometheus_client")
        row(f"record, 1 thread: {name}", o, s, "ns", "OTel SDK")
    # Exemplars (trace-based by default): the rows above include the no-span check; with a sampled span
    # current, the bar is prometheus_client's bound child plus 0.5 us.
    with guard.tracer("bench").start_as_current_span("sampled") as span:
        assert span.get_span_context().trace_flags.sampled
        for name, ours, theirs, _sdk in (cases[0], cases[1], cases[4]):
            o = median_per_call(ours, number, repeat) * 1e9
            p = median_per_call(theirs, number, repeat) * 1e9
            row(f"record in a sampled span: {name}", o, p + 500, "ns", "prom_client + 0.5us")
    for name, ours, theirs, sdk in cases[:2] + cases[4:]:
        o = threaded_per_call(ours, number // 2, repeat) * 1e9
        p = threaded_per_call(theirs, number // 2, repeat) * 1e9
        s = threaded_per_call(sdk, sdk_number // 2, repeat) * 1e9
        row(f"record, 2 threads: {name}", o, p, "ns", "prometheus_client")
        row(f"record, 2 threads: {name}", o, s, "ns", "OTel SDK")
    guard.shutdown()
    provider.shutdown()


def _bind_each(inst: Any, values: list[str]) -> None:
    for v in values:
        inst.bind(v).add(1)


def _labels_each(counter: Any, values: list[str]) -> None:
    for v in values:
        counter.labels(v).inc()


def _sdk_add_each(counter: Any, values: list[str]) -> None:
    for v in values:
        counter.add(1, {"k": v})


def _remove_each(target: Any, values: list[str]) -> None:
    for v in values:
        target.remove(v)


def bench_series(quick: bool) -> None:
    """New series on one instrument (1k, 10k, 100k): bind + one add each, then remove each (best of repeats,
    each on a fresh instrument)."""
    import prometheus_client as pc

    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    guard = _guard(max(sizes) + 10)
    provider, _ = _sdk_provider(max(sizes) + 10)
    meter = provider.get_meter("bench.series")
    per_series: dict[str, list[float]] = {"otelsvc": [], "prometheus_client": [], "OTel SDK": []}
    made = 0

    def timed(fn: Callable[[Any, list[str]], Any], target: Any, values: list[str]) -> float:
        gc.collect()
        t0 = time.perf_counter()
        fn(target, values)
        return time.perf_counter() - t0

    for n in sizes:
        values = [f"value-{n}-{i}" for i in range(n)]
        best = {"bind": [math.inf] * 3, "remove": [math.inf] * 2}
        for _ in range(3 if n >= 100_000 else 5):
            made += 1
            inst = guard.bridge.instrument(f"series.c{made}", "counter", "", "", ("k",))
            child = pc.Counter(f"series_c{made}", "c", ["k"], registry=pc.CollectorRegistry())
            sdk = meter.create_counter(f"series.c{made}")
            times = [
                timed(_bind_each, inst, values),
                timed(_labels_each, child, values),
                timed(_sdk_add_each, sdk, values),
            ]
            best["bind"] = [min(a, b) for a, b in zip(best["bind"], times, strict=True)]
            times = [timed(_remove_each, inst, values), timed(_remove_each, child, values)]
            best["remove"] = [min(a, b) for a, b in zip(best["remove"], times, strict=True)]
        ours, theirs, sdk_time = best["bind"]
        for side, cost in zip(per_series, best["bind"], strict=True):
            per_series[side].append(cost / n)
        row(f"new series x{n:,}: bind + add", ours * 1e3, theirs * 1e3, "ms", "prometheus_client")
        row(f"new series x{n:,}: bind + add", ours * 1e3, sdk_time * 1e3, "ms", "OTel SDK")
        row(f"remove series x{n:,}", best["remove"][0] * 1e3, best["remove"][1] * 1e3, "ms", "prometheus_client")
    for side, costs in per_series.items():
        print(
            f"  per-series cost {side}: "
            + ", ".join(f"{c * 1e9:,.0f} ns" for c in costs)
            + f" (largest/smallest {costs[-1] / costs[0]:.2f}x; linear is about 1x)"
        )
    guard.shutdown()
    provider.shutdown()


def bench_scrape(quick: bool) -> None:
    import prometheus_client as pc
    from prometheus_client import generate_latest

    counters, histograms = 10_000, 1_000
    repeat = 3 if quick else 7
    limit = counters + histograms + 10
    guard = _guard(limit)
    c = guard.bridge.instrument("scrape.c", "counter", "", "", ("id", "kind"))
    h = guard.bridge.instrument("scrape.h", "histogram", "s", "", ("id",), HTTP_BOUNDS)
    provider, sdk_registry = _sdk_provider(limit)
    meter = provider.get_meter("bench")
    sc = meter.create_counter("scrape.c")
    sh = meter.create_histogram("scrape.h", unit="s")
    pc.disable_created_metrics()
    reg = pc.CollectorRegistry()
    pcc = pc.Counter("scrape_c", "c", ["id", "kind"], registry=reg)
    pch = pc.Histogram("scrape_h_seconds", "h", ["id"], registry=reg, buckets=HTTP_BOUNDS)
    for i in range(counters):
        c.bind(str(i), "k").add(i)
        sc.add(i, {"id": str(i), "kind": "k"})
        pcc.labels(str(i), "k").inc(i)
    for i in range(histograms):
        h.bind(str(i)).record(0.3)
        sh.record(0.3, {"id": str(i)})
        pch.labels(str(i)).observe(0.3)

    def timed(fn: Callable[[], bytes]) -> tuple[float, float, int]:
        """The first scrape (cold caches) and the median of the repeated ones, in ms, and the size."""
        t0 = time.perf_counter()
        fn()
        first = (time.perf_counter() - t0) * 1e3
        times, size = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            size = len(fn())
            times.append(time.perf_counter() - t0)
        return first, statistics.median(times) * 1e3, size

    ours_first, ours, ours_size = timed(guard.render_metrics)
    sdk_first, sdk, sdk_size = timed(lambda: generate_latest(sdk_registry))
    prom_first, prom, prom_size = timed(lambda: generate_latest(reg))
    what = "scrape 10k counter + 1k histogram series"
    row(f"first {what}", ours_first, sdk_first, "ms", "OTel exporter")
    row(f"first {what}", ours_first, prom_first, "ms", "prometheus_client")
    row(f"repeated {what}", ours, sdk, "ms", "OTel exporter")
    row(f"repeated {what}", ours, prom, "ms", "prometheus_client")
    row("scrape size", ours_size / 1024, sdk_size / 1024, "KiB", "OTel exporter")
    row("scrape size", ours_size / 1024, prom_size / 1024, "KiB", "prometheus_client")
    guard.shutdown()
    bare = _guard(limit, prometheus_scope_info=False)
    bc = bare.bridge.instrument("scrape.c", "counter", "", "", ("id", "kind"))
    bh = bare.bridge.instrument("scrape.h", "histogram", "s", "", ("id",), HTTP_BOUNDS)
    for i in range(counters):
        bc.bind(str(i), "k").add(i)
    for i in range(histograms):
        bh.bind(str(i)).record(0.3)
    _first, bare_time, bare_size = timed(bare.render_metrics)
    row("scrape size, scope labels off", bare_size / 1024, prom_size / 1024, "KiB", "prometheus_client")
    row(f"repeated {what}, scope labels off", bare_time, prom, "ms", "prometheus_client")
    bare.shutdown()
    provider.shutdown()
    bench_openmetrics(quick)


def bench_openmetrics(quick: bool) -> None:
    """OpenMetrics (what Prometheus asks for first) against text 0.0.4 of the same data: 5k counter and 5k
    histogram series, handle-recorded and through SDK instruments (bar: at most 1.2x)."""
    repeat = 3 if quick else 7
    n = 5_000
    guard = _guard(n + 10)
    c = guard.bridge.instrument("om.c", "counter", "", "", ("id", "kind"))
    h = guard.bridge.instrument("om.h", "histogram", "s", "", ("id",), HTTP_BOUNDS)
    meter = guard.meter("bench")
    sc = meter.create_counter("om.sdk.c")
    sh = meter.create_histogram("om.sdk.h", unit="s", explicit_bucket_boundaries_advisory=list(HTTP_BOUNDS))
    for i in range(n):
        c.bind(str(i), "k").add(i)
        h.bind(str(i)).record(0.3)
    for i in range(n // 5):
        sc.add(i, {"id": str(i)})
        sh.record(0.3, {"id": str(i)})

    # The two formats alternate, so that drift on a busy machine weighs on both alike.
    times: dict[bool, list[float]] = {False: [], True: []}
    for index in range(2 * repeat + 2):
        openmetrics = index % 2 == 1
        t0 = time.perf_counter()
        guard.render_metrics(openmetrics)
        if index >= 2:  # the first of each builds the label texts
            times[openmetrics].append(time.perf_counter() - t0)
    text, om = (statistics.median(times[f]) * 1e3 for f in (False, True))
    row("scrape OpenMetrics, 5k counter + 5k histogram", om, text, "ms", "text 0.0.4")
    guard.shutdown()


def _memory(setup: Callable[[], Any], build: Callable[[Any], Any], n: int) -> float:
    state = setup()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = build(state)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return (after - before) / n


def bench_memory(quick: bool) -> None:
    import prometheus_client as pc

    n = 2_000 if quick else 10_000
    limit = n + 10
    guard = _guard(limit)
    provider, _ = _sdk_provider(limit)

    def ours_counter(_: Any) -> Any:
        inst = guard.bridge.instrument("mem.c", "counter", "", "", ("id", "kind"))
        handles = [inst.bind(str(i), "k") for i in range(n)]
        for hd in handles:
            hd.add(1)
        guard.render_metrics()
        return handles

    def ours_hist(_: Any) -> Any:
        inst = guard.bridge.instrument("mem.h", "histogram", "s", "", ("id", "kind"), HTTP_BOUNDS)
        handles = [inst.bind(str(i), "k") for i in range(n)]
        for hd in handles:
            hd.record(0.3)
        guard.render_metrics()
        return handles

    def prom_counter(_: Any) -> Any:
        reg = pc.CollectorRegistry()
        metric = pc.Counter("mem_c", "c", ["id", "kind"], registry=reg)
        for i in range(n):
            metric.labels(str(i), "k").inc()
        return reg

    def prom_hist(_: Any) -> Any:
        reg = pc.CollectorRegistry()
        metric = pc.Histogram("mem_h", "h", ["id", "kind"], registry=reg, buckets=HTTP_BOUNDS)
        for i in range(n):
            metric.labels(str(i), "k").observe(0.3)
        return reg

    def sdk_counter(_: Any) -> Any:
        counter = provider.get_meter("mem").create_counter("mem.c")
        for i in range(n):
            counter.add(1, {"id": str(i), "kind": "k"})
        return counter

    def sdk_hist(_: Any) -> Any:
        hist = provider.get_meter("mem").create_histogram("mem.h", unit="s")
        for i in range(n):
            hist.record(0.3, {"id": str(i), "kind": "k"})
        return hist

    nothing: Callable[[], Any] = lambda: None  # noqa: E731
    oc = _memory(nothing, ours_counter, n)
    row("memory per counter series", oc, _memory(nothing, prom_counter, n), "B", "prometheus_client")
    row("memory per counter series", oc, _memory(nothing, sdk_counter, n), "B", "OTel SDK")
    oh = _memory(nothing, ours_hist, n)
    row("memory per histogram series", oh, _memory(nothing, prom_hist, n), "B", "prometheus_client")
    row("memory per histogram series", oh, _memory(nothing, sdk_hist, n), "B", "OTel SDK")
    guard.shutdown()
    provider.shutdown()


def _import_time(module: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    return statistics.median(times) * 1e3


def bench_import(quick: bool) -> None:
    runs = 5 if quick else 11
    ours = _import_time("otelsvc", runs)
    sdk = _import_time("opentelemetry.sdk.metrics", runs)
    row("import time", ours, sdk, "ms", "import SDK metrics")
    grpc = subprocess.run(
        [sys.executable, "-c", "import sys, otelsvc; print('grpc' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"{'import otelsvc loads grpc':<48} {grpc}", flush=True)


_SHUTDOWN_OURS = """
import sys, time, otelsvc
g = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], otlp_protocol=sys.argv[2], shutdown_timeout=2,
                  export_interval=3600, set_global=False)
g.meter("m").create_counter("c").add(1)
with g.tracer("t").start_as_current_span("s"):
    pass
t = time.perf_counter(); g.shutdown(); print(time.perf_counter() - t)
"""
_SHUTDOWN_SDK = """
import sys, time
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
ep, proto = sys.argv[1], sys.argv[2]
if proto == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as M
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as S
    me, se = M(endpoint=ep, insecure=True), S(endpoint=ep, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as M
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as S
    me, se = M(endpoint=ep + "/v1/metrics"), S(endpoint=ep + "/v1/traces")
mp = MeterProvider(metric_readers=[PeriodicExportingMetricReader(me, export_interval_millis=3600000)])
tp = TracerProvider(); tp.add_span_processor(BatchSpanProcessor(se))
mp.get_meter("m").create_counter("c").add(1)
with tp.get_tracer("t").start_as_current_span("s"):
    pass
t = time.perf_counter(); mp.shutdown(timeout_millis=2000); tp.shutdown(); print(time.perf_counter() - t)
"""


def _silent_listener() -> tuple[socket.socket, threading.Event]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    return server, stop


def bench_shutdown(quick: bool) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    faults = [("closed port", closed_port)]
    listener = None
    if not quick:
        listener, stop = _silent_listener()
        faults.append(("silent listener", listener.getsockname()[1]))
    for fault, port in faults:
        for proto in ("grpc", "http/protobuf"):
            results = {}
            for name, script in (("ours", _SHUTDOWN_OURS), ("sdk", _SHUTDOWN_SDK)):
                t0 = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-c", script, f"http://127.0.0.1:{port}", proto],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                total = time.perf_counter() - t0
                shutdown = float(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else float("nan")
                results[name] = (shutdown, total)
            row(f"shutdown, {fault}, {proto} (timeout 2 s)", results["ours"][0], results["sdk"][0], "s", "bare SDK")
            row(f"process run to exit, {fault}, {proto}", results["ours"][1], results["sdk"][1], "s", "bare SDK")
    if listener is not None:
        stop.set()
        listener.close()


def machine() -> str:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import opentelemetry.sdk.version as sdkv
    import prometheus_client

    pcv = getattr(prometheus_client, "__version__", None)
    if pcv is None:
        from importlib.metadata import version

        pcv = version("prometheus_client")
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, OTel SDK {sdkv.__version__}, "
        f"prometheus_client {pcv}"
    )


def _route_logs(verbose: bool) -> None:
    """Log lines to stderr, prefixed, so that stdout carries the figures alone."""
    level = logging.WARNING if verbose else logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("log: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("otelsvc", "opentelemetry"):
        logging.getLogger(name).setLevel(level)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats; shutdown against a closed port only")
    parser.add_argument(
        "--only",
        action="append",
        choices=[
            "recording",
            "api",
            "unit-add",
            "series",
            "scrape",
            "memory",
            "import",
            "shutdown",
            "middleware",
            "otlp",
        ],
        help="run only this group (repeatable; default: all)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown at the end")
    parser.add_argument(
        "--verbose", action="store_true", help="log warnings too, on stderr (default: errors only, on stderr)"
    )
    args = parser.parse_args()
    _route_logs(args.verbose)
    print(f"machine: {machine()}", flush=True)
    benches = {
        "recording": bench_recording,
        "api": lambda quick: bench_api(quick, row),
        "unit-add": lambda quick: bench_unit_add(quick, row),
        "series": bench_series,
        "scrape": bench_scrape,
        "memory": bench_memory,
        "import": bench_import,
        "shutdown": bench_shutdown,
        "middleware": lambda quick: bench_middleware(quick, row),
        "otlp": lambda quick: bench_otlp(quick, row),
    }
    for name, bench in benches.items():
        if args.only and name not in args.only:
            continue
        bench(args.quick)
    if args.markdown:
        print("\n| measure | otelsvc | other side | other | ratio |\n|---|---|---|---|---|")
        for r in ROWS:
            print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
