"""Collector faults: absent at start, killed and restarted, silent. The program keeps running,
recording never blocks, logs stay few, /health shows it, and nothing is lost that could be kept."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from conftest import Rotel, wait_until

import otelsvc


def _start(rotel: Rotel, **extra: object) -> otelsvc.ProviderGuard:
    return otelsvc.start(service_name="faults", prometheus="127.0.0.1:0", otlp_endpoint=rotel.grpc_endpoint,
                         export_interval=0.2, set_global=False, runtime_metrics=False, **extra)


def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


def test_no_collector_at_start_then_it_appears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    _fast_failures(monkeypatch)
    rotel = Rotel(tmp_path)
    guard = _start(rotel)
    handle = guard.bridge.instrument("faults.orders", "counter").bind()
    try:
        with caplog.at_level(logging.INFO):
            t0 = time.perf_counter()
            for _ in range(100_000):
                handle.add(1)
            assert time.perf_counter() - t0 < 5, "recording blocked on the dead collector"
            wait_until(lambda: guard.exporters["metrics"].consecutive_failures >= 3, timeout=30)
            detail = guard.health_detail()["exporters"]["metrics"]
            assert detail["last_error"] and detail["last_success"] is None
            assert guard.state == "ok"
            rotel.start()
            wait_until(lambda: guard.exporters["metrics"].consecutive_failures == 0, timeout=30)
            pushed = rotel.wait_metric("faults.orders")
            assert pushed.points[0].value == 100_000
        failures = guard.exporters["metrics"].total_failures
        lines = [r for r in caplog.records if r.name in ("otelsvc", "otelsvc.sdk")]
        assert failures >= 3 and len(lines) < failures + 6, [r.getMessage() for r in lines]
        assert any("recovered" in r.getMessage() for r in lines)
    finally:
        guard.shutdown(timeout=3)
        rotel.stop()


def test_collector_killed_and_restarted_loses_nothing(rotel: Rotel, monkeypatch: pytest.MonkeyPatch) -> None:
    _fast_failures(monkeypatch)
    guard = _start(rotel)
    handle = guard.bridge.instrument("faults.total", "counter").bind()
    tracer = guard.tracer("faults")
    try:
        handle.add(10)
        rotel.wait_metric("faults.total", lambda m: m.points[0].value == 10)
        rotel.stop()
        handle.add(5)
        for i in range(20):
            with tracer.start_as_current_span(f"during-outage-{i}"):
                pass
        wait_until(lambda: guard.exporters["metrics"].consecutive_failures >= 2, timeout=30)
        wait_until(lambda: guard._span_proxy is not None and guard._span_proxy.pending() == 20, timeout=30)
        rotel.start()
        rotel.wait_metric("faults.total", lambda m: m.points[0].value == 15, timeout=30)
        wait_until(lambda: sum(1 for s in rotel.spans() if str(s.get("name", "")).startswith("during-outage"))
                   == 20, timeout=30)
        assert guard.exporters["spans"].dropped == 0
    finally:
        guard.shutdown(timeout=3)


def test_span_buffer_bound_counts_drops_as_metric_and_on_health(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _fast_failures(monkeypatch)
    rotel = Rotel(tmp_path)
    guard = _start(rotel, span_buffer_size=10)
    try:
        tracer = guard.tracer("faults")
        for i in range(50):
            with tracer.start_as_current_span(f"s{i}"):
                pass
        wait_until(lambda: guard.exporters["spans"].dropped == 40, timeout=30)
        assert guard.health_detail()["exporters"]["spans"]["dropped_spans"] == 40
        text = guard.render_metrics().decode()
        assert "otelsvc_spans_dropped_total{" in text
        line = next(x for x in text.splitlines() if x.startswith("otelsvc_spans_dropped_total{"))
        assert float(line.rsplit(" ", 1)[1]) == 40
    finally:
        guard.shutdown(timeout=2)
