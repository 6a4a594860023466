"""OTLP push, collect and encode, beside the OTel SDK's, at 1k, 10k and 100k series.

otelsvc: a guard's metrics push (the direct path: handle series encoded straight to bytes), one
collection through the whole exporter chain into a transport that keeps only the byte count.
"SDK counter" rows: the same through an SDK counter from the guard's meter (the SDK's collection,
otelsvc's encoder). SDK: a MeterProvider with a periodic reader whose exporter runs the SDK OTLP exporters' own
encoding, ``encode_metrics(data).SerializeToString()``. Both with the cardinality limit raised,
the same series (three attributes each, every series with a value), cumulative temporality.

Time: thread CPU seconds of one collection (collect, encode, hand over), median of repeats with the
two sides interleaved. Memory, two ways: the tracemalloc peak above the baseline during one
collection (Python allocations only: the SDK's protobuf objects live in upb arenas it cannot see),
and on Linux the growth of the peak resident size during one collection in a fresh process per side
(after a first collection, free memory handed back with ``malloc_trim``), which counts everything.

    python -m benchmarks --only otlp [--quick]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

__all__ = ["bench_otlp"]

ROW = Callable[[str, float, float, str, str], None]
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class _NullTransport:
    """Takes each request and keeps only its size."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0

    def send(self, body: bytes, timeout: float) -> None:
        self.bytes += len(body)
        self.requests += 1

    def close(self) -> None:
        pass


def _sdk_side(kind: str, n: int) -> tuple[Any, Callable[[], None], Any]:
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        MetricsData,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    from otelsvc._sdk_internals import reader_limits

    class EncodeOnly(MetricExporter):
        size = 0

        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            self.size = len(encode_metrics(metrics_data).SerializeToString())
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    exporter = EncodeOnly()
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000, **reader_limits(n + 10))
    views = [View(instrument_name="otlp.h", aggregation=ExplicitBucketHistogramAggregation(BOUNDS))]
    provider = MeterProvider(metric_readers=[reader], views=views)
    meter = provider.get_meter("bench")
    if kind.endswith("counter"):
        counter = meter.create_counter("otlp.c", unit="{request}")
        for i in range(n):
            counter.add(i + 1, {"id": str(i), "route": "/orders", "code": "200"})
    else:
        histogram = meter.create_histogram("otlp.h", unit="s")
        for i in range(n):
            histogram.record(0.3, {"id": str(i), "route": "/orders", "code": "200"})
    return provider, reader.collect, exporter


def _our_side(kind: str, n: int) -> tuple[Any, Callable[[], None], _NullTransport]:
    import otelsvc
    from otelsvc._export.metrics_push import MetricsPush
    from otelsvc._export.otlp_metric_exporter import DirectMetricExporter

    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint="http://127.0.0.1:9",
        export_interval=3600,
        shutdown_timeout=0.2,
        set_global=False,
        runtime_metrics=False,
        cardinality_limit=n + 10,
    )
    (push,) = [p for p in guard.pipelines if isinstance(p, MetricsPush)]
    exporter = push.proxy.inner
    assert push.direct and isinstance(exporter, DirectMetricExporter)
    transport = _NullTransport()
    exporter._transport = transport  # type: ignore[assignment]
    if kind == "SDK counter":  # guard.meter(...): the SDK's collection, otelsvc's encoder
        sdk_counter = guard.meter("bench").create_counter("otlp.c", unit="{request}")
        for i in range(n):
            sdk_counter.add(i + 1, {"id": str(i), "route": "/orders", "code": "200"})
    elif kind == "counter":
        counter = guard.bridge.instrument("otlp.c", "counter", "{request}", "", ("id", "route", "code"))
        for i in range(n):
            counter.bind(str(i), "/orders", "200").add(i + 1)
    else:
        histogram = guard.bridge.instrument("otlp.h", "histogram", "s", "", ("id", "route", "code"), BOUNDS)
        for i in range(n):
            histogram.bind(str(i), "/orders", "200").record(0.3)
    return guard, push.reader.collect, transport


def _cpu(fn: Callable[[], None]) -> float:
    gc.collect()
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


def _peak(fn: Callable[[], None]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()


def _rss_growth(side: str, kind: str, n: int) -> float:
    """Peak resident memory growth (MiB) of one collection after a first one, in a fresh process
    (free memory handed back to the system before it), so protobuf's own allocations count too."""
    import ctypes
    import re

    make = _our_side if side == "otelsvc" else _sdk_side
    owner, collect, _ = make(kind, n)
    collect()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)

    def status(field: str) -> int:
        with open("/proc/self/status") as fh:
            found = re.search(rf"{field}:\s+(\d+)", fh.read())
        assert found is not None
        return int(found.group(1))

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets the peak (VmHWM) to the current resident size
    before = status("VmRSS")
    collect()
    growth = (status("VmHWM") - before) / 1024
    owner.shutdown()
    return growth


def _rss_in_child(side: str, kind: str, n: int) -> float:
    import subprocess
    import sys

    code = f"from benchmarks.otlp import _rss_growth; print(_rss_growth({side!r}, {kind!r}, {n}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_otlp(quick: bool, row: ROW) -> None:
    """Collect-and-encode time and peak memory, otelsvc's push against the SDK's, per size."""
    cases = [("counter", 1_000), ("counter", 10_000), ("counter", 100_000), ("histogram", 10_000)]
    cases.append(("SDK counter", 10_000))
    if not quick:
        cases += [("histogram", 100_000), ("SDK counter", 100_000)]
    for kind, n in cases:
        repeat = 3 if quick or n >= 100_000 else 7
        guard, ours, transport = _our_side(kind, n)
        provider, sdk, exporter = _sdk_side(kind, n)
        try:
            ours()  # the first collection caches the encoded attributes; later ones are the steady state
            sdk()
            a: list[float] = []
            b: list[float] = []
            for _ in range(repeat):
                a.append(_cpu(ours))
                b.append(_cpu(sdk))
            label = f"OTLP collect+encode {n // 1000}k {kind} series"
            row(label, statistics.median(a) * 1e3, statistics.median(b) * 1e3, "ms", "OTel SDK")
            row(f"OTLP export peak memory {n // 1000}k {kind}", _peak(ours), _peak(sdk), "MiB", "OTel SDK")
            if sys.platform == "linux" and n >= 10_000:
                rss = (_rss_in_child("otelsvc", kind, n), _rss_in_child("sdk", kind, n))
                row(f"OTLP export peak RSS growth {n // 1000}k {kind}", *rss, "MiB", "OTel SDK")
            transport.bytes = transport.requests = 0
            ours()
            label = f"OTLP bytes, {n // 1000}k {kind} ({transport.requests} request(s))"
            row(label, transport.bytes / 2**20, exporter.size / 2**20, "MiB", "OTel SDK (1)")
        finally:
            guard.shutdown()
            provider.shutdown()
