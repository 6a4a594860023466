"""The standard OTel API on a guard (the fast path) beside the bare SDK and prometheus_client, and the
unit ``add()`` of a counter handle beside prometheus_client's ``inc()``.

Every variant runs ``number`` calls per round; the rounds of all variants are interleaved (so load on a
shared machine hits them alike) and each is timed in CPU time of the measuring thread. Reported: the
median over rounds, and the best round, as ratios in the same run.

    python -m benchmarks --only api [--quick]
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["bench_api", "bench_unit_add", "interleaved"]

ROW = Callable[[str, float, float, str, str], None]
ATTRS = {"service": "checkout", "route": "/orders", "code": "200"}
VALUES = tuple(ATTRS.values())
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def _loop(fn: Callable[[], Any], number: int) -> float:
    """CPU seconds of this thread per call of ``fn`` over ``number`` calls."""
    t0 = time.thread_time()
    for _ in range(number):
        fn()
    return (time.thread_time() - t0) / number


def interleaved(cases: dict[str, Callable[[], Any]], number: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each case in every round, the cases interleaved within each round."""
    out: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up: caches, first series, lazily built state
        _loop(fn, 1000)
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in cases.items():
                out[name].append(_loop(fn, number))
    finally:
        gc.enable()
    return out


def _report(row: ROW, what: str, times: dict[str, list[float]], ours: str, theirs: str, against: str) -> None:
    med = statistics.median(times[ours]) * 1e9, statistics.median(times[theirs]) * 1e9
    best = min(times[ours]) * 1e9, min(times[theirs]) * 1e9
    row(f"{what} (median)", med[0], med[1], "ns", against)
    row(f"{what} (best)", best[0], best[1], "ns", against)


def bench_api(quick: bool, row: ROW) -> None:
    """``add(1, attrs)`` / ``record(x, attrs)`` through the guard's meter against the SDK and prometheus_client."""
    import prometheus_client as pc
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from benchmarks.run import _guard  # run.py imports this module: here, not at the top

    number, rounds = (5_000, 15) if quick else (20_000, 41)
    guard = _guard()
    meter = guard.meter("bench.api")
    counter = meter.create_counter("api.c")
    hist = meter.create_histogram("api.h", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    assert type(counter).__name__ == "_FastCounter", "the fast path is off for this guard"
    sdk_provider = MeterProvider(metric_readers=[PrometheusMetricReader(), InMemoryMetricReader()])
    sdk_meter = sdk_provider.get_meter("bench.api")
    s_counter = sdk_meter.create_counter("api.c")
    s_hist = sdk_meter.create_histogram("api.h", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    reg = pc.CollectorRegistry()
    p_counter = pc.Counter("api_c", "c", list(ATTRS), registry=reg)
    p_hist = pc.Histogram("api_h", "h", list(ATTRS), registry=reg, buckets=BOUNDS)
    a = ATTRS

    cases: dict[str, Callable[[], Any]] = {
        "fast add": lambda: counter.add(1, a),
        "fast add, dict per call": lambda: counter.add(1, {"service": "checkout", "route": "/orders", "code": "200"}),
        "pc labels inc": lambda: p_counter.labels("checkout", "/orders", "200").inc(),
        "fast record": lambda: hist.record(0.3, a),
        "fast record, dict per call": lambda: hist.record(
            0.3, {"service": "checkout", "route": "/orders", "code": "200"}
        ),
        "pc labels observe": lambda: p_hist.labels("checkout", "/orders", "200").observe(0.3),
    }
    times = interleaved(cases, number, rounds)
    sdk_cases: dict[str, Callable[[], Any]] = {
        "sdk add": lambda: s_counter.add(1, a),
        "sdk record": lambda: s_hist.record(0.3, a),
        "fast add": cases["fast add"],
        "fast record": cases["fast record"],
    }
    sdk_times = interleaved(sdk_cases, max(1_000, number // 10), rounds)
    _report(row, "API counter add(1, attrs)", times, "fast add", "pc labels inc", "pc .labels(3).inc()")
    _report(
        row,
        "API counter add(1, {dict per call})",
        times,
        "fast add, dict per call",
        "pc labels inc",
        "pc .labels(3).inc()",
    )
    _report(row, "API counter add(1, attrs)", sdk_times, "fast add", "sdk add", "OTel SDK add(1, attrs)")
    _report(row, "API histogram record(x, attrs)", times, "fast record", "pc labels observe", "pc .labels(3).observe()")
    _report(
        row,
        "API histogram record(x, {dict per call})",
        times,
        "fast record, dict per call",
        "pc labels observe",
        "pc .labels(3).observe()",
    )
    _report(row, "API histogram record(x, attrs)", sdk_times, "fast record", "sdk record", "OTel SDK record")
    guard.shutdown()
    sdk_provider.shutdown()


def bench_unit_add(quick: bool, row: ROW) -> None:
    """A unit ``add()`` on a counter handle against prometheus_client's bound child ``inc()``, and its
    exactness with 2 threads x 500k adds on both."""
    import prometheus_client as pc

    import otelsvc

    number, rounds = (20_000, 15) if quick else (100_000, 41)
    saved = os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER")
    os.environ["OTEL_METRICS_EXEMPLAR_FILTER"] = "always_off"  # the lock-free unit path is for exemplars off
    try:
        guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    finally:
        if saved is None:
            del os.environ["OTEL_METRICS_EXEMPLAR_FILTER"]
        else:
            os.environ["OTEL_METRICS_EXEMPLAR_FILTER"] = saved
    handle = guard.counter("unit.add", labels=("k",)).bind("v")
    child = pc.Counter("unit_add", "c", ["k"], registry=pc.CollectorRegistry()).labels("v")
    times = interleaved({"handle add()": handle.add, "pc inc()": child.inc}, number, rounds)
    _report(row, "handle unit add()", times, "handle add()", "pc inc()", "pc bound inc()")

    adds = 100_000 if quick else 500_000
    exact = guard.counter("unit.exact", labels=("k",)).bind("v")

    def work() -> None:
        add = exact.add
        for _ in range(adds):
            add()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = exact.snapshot()
    print(
        f"  handle unit add, 2 threads x {adds:,}: {total:,} ({'exact' if total == 2 * adds else 'NOT EXACT'})",
        flush=True,
    )
    guard.shutdown()
