"""Collector faults: absent at start, a listener that accepts and never answers, rotel killed and
restarted on the same ports. The program keeps running, recording never blocks or raises, the log
stays a handful of lines however many exports fail, /health shows the failures, the first push
after an outage carries the full cumulative totals, and spans made during it are delivered (or,
past the buffer's bound, counted as dropped: on /health and as ``otelsvc.spans.dropped``)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _faults import SilentListener
from conftest import ReceivedMetric, Rotel, parse_rotel, wait_until

import otelsvc

TOKEN = "faults-token"
PROTOCOLS = ["grpc", "http/protobuf"]


def _start(endpoint: str, protocol: str = "grpc", **extra: Any) -> otelsvc.ProviderGuard:
    return otelsvc.start(service_name="faults", prometheus="127.0.0.1:0", otlp_endpoint=endpoint,
                         otlp_protocol=protocol, export_interval=0.2, set_global=False, runtime_metrics=False,
                         metrics_token=TOKEN, **extra)


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")  # milliseconds, as the spec says
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


def _health(guard: otelsvc.ProviderGuard) -> dict[str, Any]:
    """GET /health over HTTP with the token (the detailed form)."""
    url = guard.prometheus_url.replace("/metrics", "/health")  # type: ignore[union-attr]
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
        payload: dict[str, Any] = json.load(r)
    return payload


def _otelsvc_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in ("otelsvc", "otelsvc.sdk")]


def _record_in_thread(guard: otelsvc.ProviderGuard, name: str, n: int) -> threading.Thread:
    """Record ``n`` on a handle and on an SDK counter from another thread; errors surface on join."""
    handle = guard.counter(name + ".handle").bind()
    counter = guard.meter("faults").create_counter(name + ".sdk")
    tracer = guard.tracer("faults")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for i in range(n):
                handle.add(1)
                counter.add(1)
                if i % 1000 == 0:
                    with tracer.start_as_current_span(f"{name}-{i}"):
                        pass
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.errors = errors  # type: ignore[attr-defined]
    return thread


def _joined(thread: threading.Thread) -> bool:
    """Liveness, not speed: the recorder finishes while every export is failing."""
    thread.join(20)
    assert not thread.errors, thread.errors  # type: ignore[attr-defined]
    return not thread.is_alive()


def _first_after(rotel: Rotel, offset: int, name: str) -> ReceivedMetric:
    """The first push of ``name`` that rotel printed after byte ``offset`` of its output."""
    def first() -> ReceivedMetric | None:
        return next((m for m in parse_rotel(rotel.text()[offset:])[0] if m.name == name), None)

    found: ReceivedMetric = wait_until(first, timeout=30)
    return found


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_collector_at_start_then_it_appears(tmp_path: Path, protocol: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    rotel = Rotel(tmp_path)
    guard = _start(rotel.endpoint(protocol), protocol)
    try:
        with caplog.at_level(logging.DEBUG, logger="otelsvc"):
            recorder = _record_in_thread(guard, "absent", 100_000)
            assert _joined(recorder), "recording blocked on the absent collector"
            wait_until(lambda: guard.exporters["metrics"].total_failures >= 10
                       and guard.exporters["spans"].total_failures >= 5, timeout=30)
            lines = _otelsvc_lines(caplog)
            failures = sum(h.total_failures for h in guard.exporters.values())
            # one line per exporter from otelsvc, one or two from the SDK's own, however many fail
            print(f"absent collector ({protocol}): {failures} failed exports, {len(lines)} log lines")
            assert len(lines) <= 6, (failures, lines)
            health = _health(guard)
            assert health["status"] == "ok"
            for name in ("metrics", "spans"):
                detail = health["exporters"][name]
                assert detail["last_error"] and detail["last_success"] is None
                assert detail["consecutive_failures"] >= 5
            rotel.start()
            for name in ("absent.handle", "absent.sdk"):
                assert _first_after(rotel, 0, name).points[0].value == 100_000
            wait_until(lambda: sum(1 for s in rotel.spans() if str(s.get("name", "")).startswith("absent-"))
                       == 100, timeout=30)
            wait_until(lambda: all(h.consecutive_failures == 0 for h in guard.exporters.values()), timeout=30)
        assert _health(guard)["exporters"]["metrics"]["last_success"] is not None
        assert sum("recovered" in line for line in _otelsvc_lines(caplog)) == 2
        assert guard.exporters["spans"].dropped == 0
    finally:
        guard.shutdown(timeout=3)
        rotel.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_collector_that_never_answers_then_a_real_one(tmp_path: Path, protocol: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    rotel = Rotel(tmp_path)
    silent = [SilentListener(rotel.grpc_port), SilentListener(rotel.http_port)]
    guard = _start(rotel.endpoint(protocol), protocol)
    try:
        with caplog.at_level(logging.DEBUG, logger="otelsvc"):
            recorder = _record_in_thread(guard, "silent", 50_000)
            assert _joined(recorder), "recording blocked on the silent collector"
            wait_until(lambda: guard.exporters["metrics"].total_failures >= 5, timeout=30)
            assert guard.force_flush(timeout=1.0) is False  # returns, and says it could not
            assert len(_otelsvc_lines(caplog)) <= 6, _otelsvc_lines(caplog)
            detail = _health(guard)["exporters"]["metrics"]
            assert detail["consecutive_failures"] >= 5 and detail["last_success"] is None
            for listener in silent:
                listener.close()
            rotel.start()
            for name in ("silent.handle", "silent.sdk"):
                assert _first_after(rotel, 0, name).points[0].value == 50_000
    finally:
        for listener in silent:
            listener.close()
        guard.shutdown(timeout=3)
        rotel.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_collector_killed_and_restarted_loses_nothing(rotel: Rotel, protocol: str) -> None:
    guard = _start(rotel.endpoint(protocol), protocol)
    handle = guard.counter("faults.total").bind()
    counter = guard.meter("faults").create_counter("faults.sdk")
    tracer = guard.tracer("faults")
    try:
        handle.add(10)
        counter.add(10)
        rotel.wait_metric("faults.total", lambda m: m.points[0].value == 10)
        assert rotel.proc is not None
        rotel.proc.kill()  # SIGKILL: no goodbye on open connections
        rotel.proc.wait(5)
        rotel.proc = None
        handle.add(5)
        counter.add(5)
        for i in range(20):
            with tracer.start_as_current_span(f"during-outage-{i}"):
                pass
        wait_until(lambda: guard.exporters["metrics"].consecutive_failures >= 3, timeout=30)
        wait_until(lambda: next(p for p in guard.pipelines if p.signal == "spans").pending() == 20, timeout=30)
        assert _health(guard)["exporters"]["spans"]["consecutive_failures"] >= 1
        offset = len(rotel.text())
        rotel.start()
        # the first push after the outage carries the full cumulative totals
        for name in ("faults.total", "faults.sdk"):
            assert _first_after(rotel, offset, name).points[0].value == 15
        wait_until(lambda: sum(1 for s in rotel.spans() if str(s.get("name", "")).startswith("during-outage"))
                   == 20, timeout=30)
        assert guard.exporters["spans"].dropped == 0
        assert guard.shutdown(timeout=5)
    finally:
        guard.shutdown(timeout=3)


def test_span_buffer_bound_counts_drops_as_metric_and_on_health(tmp_path: Path) -> None:
    rotel = Rotel(tmp_path)
    guard = _start(rotel.grpc_endpoint, span_buffer_size=10)
    try:
        tracer = guard.tracer("faults")
        for i in range(50):
            with tracer.start_as_current_span(f"s{i}"):
                pass
        wait_until(lambda: guard.exporters["spans"].dropped == 40, timeout=30)
        assert _health(guard)["exporters"]["spans"]["dropped_spans"] == 40
        text = guard.render_metrics().decode()
        line = next(x for x in text.splitlines() if x.startswith("otelsvc_spans_dropped_total{"))
        assert float(line.rsplit(" ", 1)[1]) == 40
        rotel.start()
        # the kept 10 (the newest) are delivered, and the collector gets the drop count as a metric
        wait_until(lambda: sorted(s["name"] for s in rotel.spans()) == sorted(f"s{i}" for i in range(40, 50)),
                   timeout=30)
        rotel.wait_metric("otelsvc.spans.dropped", lambda m: m.points[0].value == 40)
    finally:
        guard.shutdown(timeout=2)
        rotel.stop()
