"""Delta temporality across a collector outage: rotel SIGKILLed mid-run and restarted on the same
ports while a thread records without pause. Every count recorded reaches rotel: handle-recorded
series, a family, and the user's SDK instruments alike (at least once: a push whose answer was lost
in the kill may be counted twice).

CI runs an outage of five failed pushes; the long form (a 30 s outage, grpc and HTTP) is
``OTELSVC_DELTA_OUTAGE_SECONDS=30 pytest -m slow tests/reliability/test_delta_outage.py -s``."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from conftest import Rotel, wait_until

import otelsvc
from otelsvc.instruments import ActorMetrics

NAMES = ("outage.handle", "outage.handle.hist", "outage.sdk", "outage.sdk.hist", "actor.started")


@pytest.fixture(autouse=True)
def _delta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")  # milliseconds


def _received(rotel: Rotel) -> dict[str, float]:
    totals = dict.fromkeys(NAMES, 0.0)
    for metric in rotel.metrics():
        if metric.name in totals:
            assert metric.temporality.lower().endswith("delta"), metric.temporality
            for point in metric.points:
                totals[metric.name] += point.count if point.count is not None else (point.value or 0)
    return totals


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_delta_outage_loses_nothing(rotel: Rotel, protocol: str) -> None:
    _outage(rotel, protocol, 0.0)


@pytest.mark.slow
@pytest.mark.skipif("OTELSVC_DELTA_OUTAGE_SECONDS" not in os.environ, reason="set OTELSVC_DELTA_OUTAGE_SECONDS")
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_delta_outage_loses_nothing_long(rotel: Rotel, protocol: str) -> None:
    _outage(rotel, protocol, float(os.environ["OTELSVC_DELTA_OUTAGE_SECONDS"]))


def _outage(rotel: Rotel, protocol: str, seconds: float) -> None:
    guard = otelsvc.start(service_name="outage", prometheus=None, otlp_endpoint=rotel.endpoint(protocol),
                          otlp_protocol=protocol, export_interval=0.2, set_global=False, runtime_metrics=False)
    handle = guard.counter("outage.handle").bind()
    handle_hist = guard.histogram("outage.handle.hist", buckets=(1.0, 10.0)).bind()
    meter = guard.meter("outage")
    sdk_counter, sdk_hist = meter.create_counter("outage.sdk"), meter.create_histogram("outage.sdk.hist")
    actors = ActorMetrics(guard)
    actor = actors.actor("worker")
    stop = threading.Event()
    steps = [0]

    def record() -> None:
        while not stop.is_set():
            handle.add(1)
            handle_hist.record(2.0)
            sdk_counter.add(1)
            sdk_hist.record(2.0)
            actors.actor_started(actor)
            steps[0] += 1
            time.sleep(0.001)

    recorder = threading.Thread(target=record)
    recorder.start()
    health: Any = guard.exporters["metrics"]
    try:
        wait_until(lambda: _received(rotel)["outage.handle"] > 0)
        assert rotel.proc is not None
        rotel.proc.kill()  # SIGKILL: no goodbye to the exporter
        rotel.proc.wait(5)
        rotel.proc = None
        failures = health.total_failures
        wait_until(lambda: health.total_failures >= failures + 5, timeout=30)  # a second or more of outage
        stop.wait(seconds)  # the long form: the outage lasts this long
        rotel.start()
        wait_until(lambda: health.consecutive_failures == 0, timeout=30)
    finally:
        stop.set()
        recorder.join(10)
    assert guard.shutdown(10)
    total = steps[0]
    deadline = time.monotonic() + 20
    received = _received(rotel)
    while min(received.values()) < total and time.monotonic() < deadline:
        time.sleep(0.2)
        received = _received(rotel)
    print(f"{protocol}: {total} recorded per instrument across an outage of {health.total_failures} failed pushes; "
          f"received {received}")
    for name in NAMES:
        assert received[name] >= total, (name, received[name], total)
