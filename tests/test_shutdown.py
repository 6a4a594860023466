"""Shutdown against an unreachable collector: bounded, logged, never raising, exiting promptly.

Each case runs in a fresh interpreter so that the exit itself is measured too: no thread the guard
or the SDK started may keep the process alive after shutdown.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port

SCRIPT = """
import logging, sys, time
import otelsvc
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(name)s|%(message)s")
guard = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], otlp_protocol=sys.argv[2],
                      shutdown_timeout=2, export_interval=60, set_global=False)
guard.meter("m").create_counter("c").add(1)
with guard.tracer("t").start_as_current_span("s"):
    pass
t0 = time.monotonic()
ok = guard.shutdown()
first = time.monotonic() - t0
t1 = time.monotonic()
again = guard.shutdown()
second = time.monotonic() - t1
print("RESULT", ok, round(first, 3), again, round(second, 4), time.time(), flush=True)
"""


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def _run(endpoint: str, protocol: str) -> tuple[bool, float, bool, float, float, str]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, endpoint, protocol], capture_output=True, text=True,
                          timeout=60)
    exited_at = time.time()
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    _, ok, first, again, second, printed_at = line.split()
    return ok == "True", float(first), again == "True", float(second), exited_at - float(printed_at), proc.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("fault", ["closed_port", "silent_listener"])
def test_shutdown_is_bounded_against_unreachable_collector(
    protocol: str, fault: str, request: pytest.FixtureRequest
) -> None:
    port = free_port() if fault == "closed_port" else request.getfixturevalue("silent_listener")
    ok, first, again, second, exit_delay, stderr = _run(f"http://127.0.0.1:{port}", protocol)
    assert ok is False, "nothing could be flushed, so shutdown must report False"
    assert first < 2.0 + 1.0, f"shutdown took {first}s with shutdown_timeout=2"
    assert again is False and second < 0.05
    assert exit_delay < 2.0, f"interpreter took {exit_delay}s to exit after shutdown"
    teardown_lines = [line for line in stderr.splitlines() if line.startswith("LOG otelsvc|otelsvc: shutdown of ")]
    # Neither provider delivered anything: each is named in exactly one line, whatever the timing.
    assert len(teardown_lines) == 2, stderr
    assert sum("shutdown of meter provider (metrics push" in line for line in teardown_lines) == 1, stderr
    assert sum("shutdown of tracer provider (span export" in line for line in teardown_lines) == 1, stderr
    assert "Traceback" not in stderr
    sdk_lines = [line for line in stderr.splitlines() if line.startswith("LOG opentelemetry")]
    assert sdk_lines == [], "SDK log lines must be routed through otelsvc.sdk"


def test_shutdown_with_live_collector_reports_true(rotel: object) -> None:
    ok, _first, again, _second, exit_delay, stderr = _run(rotel.grpc_endpoint, "grpc")  # type: ignore[attr-defined]
    assert ok is True and again is True, stderr
    assert exit_delay < 2.0
    assert "shutdown of" not in stderr, "a successful shutdown logs no failure"


def test_health_says_shutting_down_from_the_first_moment(silent_listener: int) -> None:
    import json
    import urllib.error
    import urllib.request

    import otelsvc

    guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint=f"http://127.0.0.1:{silent_listener}",
                          export_interval=60, shutdown_timeout=2, set_global=False)
    guard.meter("m").create_counter("c").add(1)
    url = guard.prometheus_url.replace("/metrics", "/health")  # type: ignore[union-attr]
    done = threading.Event()
    thread = threading.Thread(target=lambda: (guard.shutdown(), done.set()))
    thread.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=5)
        assert info.value.code == 503
        assert json.loads(info.value.read())["status"] == "shutting_down"
    finally:
        thread.join(10)
    assert done.is_set() and guard.state == "shut_down"


def test_force_flush_is_bounded_against_a_silent_collector(silent_listener: int) -> None:
    import otelsvc

    guard = otelsvc.start(prometheus=None, otlp_endpoint=f"http://127.0.0.1:{silent_listener}",
                          export_interval=60, shutdown_timeout=1, set_global=False)
    try:
        guard.meter("m").create_counter("c").add(1)
        t0 = time.monotonic()
        assert guard.force_flush(timeout=1.0) is False
        assert time.monotonic() - t0 < 2.0
    finally:
        guard.shutdown()


class _FakeMetricExporter:
    """Stands in for the OTLP metric exporter: every export answers ``result``, at once."""

    def __new__(cls, result: str) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

        class Fake(MetricExporter):
            def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
                return MetricExportResult[result]

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                pass

        return Fake()


@pytest.mark.parametrize("result", ["SUCCESS", "FAILURE"])
def test_a_final_export_that_fails_in_time_is_logged_once_even_deep_in_a_failure_streak(
    result: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: shutdown() returned False with nothing logged once the exporter's own reminder was quiet."""
    import logging

    import otelsvc
    from otelsvc import _metrics_push

    monkeypatch.setattr(_metrics_push, "build_metric_exporter", lambda *args: _FakeMetricExporter(result))
    guard = otelsvc.start(prometheus=None, otlp_endpoint="http://127.0.0.1:9", export_interval=60,
                          shutdown_timeout=5, set_global=False, runtime_metrics=False)
    guard.meter("m").create_counter("c").add(1)
    for _ in range(3):
        guard.force_flush(timeout=5)
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="otelsvc")
    ok = guard.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("otelsvc: shutdown of meter")]
    teardown = [r.getMessage() for r in caplog.records if r.getMessage().startswith("otelsvc: shutdown of")]
    if result == "SUCCESS":
        assert ok is True and teardown == [], teardown
    else:
        assert guard.exporters["metrics"].consecutive_failures > 3
        assert ok is False
        assert teardown == lines and len(lines) == 1 and "failed: the export failed" in lines[0], teardown
