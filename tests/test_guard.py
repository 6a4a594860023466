"""The provider guard: start, serve, two guards, restart, disabled mode, taken port, globals."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

import otelsvc
from otelsvc import ConfigError


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_start_serves_metrics_and_shuts_down() -> None:
    guard = otelsvc.start(service_name="svc", prometheus="127.0.0.1:0", set_global=False)
    try:
        assert guard.state == "ok"
        host, port = guard.prometheus_address  # type: ignore[misc]
        assert host == "127.0.0.1" and port > 0
        guard.meter("app").create_counter("orders.placed").add(3, {"region": "eu"})
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        text = body.decode()
        assert (
            'orders_placed_total{otel_scope_name="app",otel_scope_schema_url="",otel_scope_version="",region="eu"} 3.0'
        ) in text
        assert "process_cpu_time_seconds_total" in text
        assert 'service_name="svc"' in text
        status, body = _get(f"http://127.0.0.1:{port}/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        assert guard.shutdown() is True
    assert guard.state == "shut_down"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_shutdown_is_idempotent_and_thread_safe() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(guard.shutdown())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert guard.shutdown() is True


def test_context_manager_shuts_down() -> None:
    with otelsvc.start(prometheus="127.0.0.1:0", set_global=False) as guard:
        assert guard.state == "ok"
    assert guard.state == "shut_down"


def test_two_guards_side_by_side_do_not_collide() -> None:
    a = otelsvc.start(service_name="a", prometheus="127.0.0.1:0", set_global=False)
    b = otelsvc.start(service_name="b", prometheus="127.0.0.1:0", set_global=False)
    try:
        a.meter("m").create_counter("same.name").add(1)
        b.meter("m").create_counter("same.name").add(2)
        text_a = a.render_metrics().decode()
        text_b = b.render_metrics().decode()
        assert "same_name_total{" in text_a and "} 1.0" in text_a.split("same_name_total{")[1].split("\n")[0]
        assert "} 2.0" in text_b.split("same_name_total{")[1].split("\n")[0]
        assert 'service_name="a"' in text_a and 'service_name="b"' in text_b
    finally:
        assert a.shutdown() and b.shutdown()


def test_start_after_shutdown_works() -> None:
    first = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    assert first.shutdown()
    second = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        second.meter("m").create_counter("again").add(1)
        assert b"again_total" in second.render_metrics()
    finally:
        assert second.shutdown()


def test_taken_port_is_a_config_error_and_leaves_nothing_running() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    before = set(threading.enumerate())
    try:
        with pytest.raises(ConfigError, match=f"prometheus='127.0.0.1:{port}'"):
            otelsvc.start(prometheus=f"127.0.0.1:{port}", set_global=False)
        assert set(threading.enumerate()) - before == set()  # (another test's thread may end meanwhile)
    finally:
        holder.close()


def test_sdk_disabled_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    before = {t.name for t in threading.enumerate()}
    guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint="http://127.0.0.1:1")
    assert guard.prometheus_address is None
    assert {t.name for t in threading.enumerate()} == before
    guard.meter("m").create_counter("c").add(1)
    with guard.tracer("t").start_as_current_span("s"):
        pass
    handle = guard.bridge.instrument("x", "counter").bind()
    handle.add(1)
    assert guard.force_flush() is True
    assert guard.shutdown() is True


def test_bad_setting_raises_before_any_thread_or_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELSVC_CARDINALITY_LIMIT", "-3")
    before = threading.active_count()
    with pytest.raises(ConfigError, match="OTELSVC_CARDINALITY_LIMIT='-3'"):
        otelsvc.start(prometheus="127.0.0.1:0")
    assert threading.active_count() == before


def test_set_global_second_guard_logs_and_still_works(tmp_path: object) -> None:
    code = """
import logging, otelsvc
from opentelemetry import metrics
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
a = otelsvc.start(prometheus="127.0.0.1:0")
assert metrics.get_meter_provider() is a.meter_provider
b = otelsvc.start(prometheus="127.0.0.1:0")
assert metrics.get_meter_provider() is a.meter_provider
b.meter("m").create_counter("works").add(1)
assert b"works_total" in b.render_metrics()
print("OK", a.shutdown(), b.shutdown())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "OK True True" in proc.stdout
    assert "already set" in proc.stderr


def test_import_loads_no_grpc() -> None:
    code = "import sys, otelsvc, otelsvc.testing; print('grpc' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_testing_guard_reads_values_back() -> None:
    from otelsvc.testing import start_testing

    guard = start_testing()
    try:
        guard.meter("m").create_counter("jobs.done").add(2, {"queue": "a"})
        hist = guard.meter("m").create_histogram("jobs.duration", unit="s")
        hist.record(0.2, {"queue": "a"})
        assert guard.value("jobs.done", {"queue": "a"}) == 2
        assert guard.value("jobs.done", {"queue": "b"}) is None
        h = guard.histogram_value("jobs.duration", queue="a")
        assert h is not None and h.count == 1 and h.sum == pytest.approx(0.2)
    finally:
        guard.shutdown()


def test_public_handle_instruments_reach_both_readers() -> None:
    from otelsvc.testing import start_testing

    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)
    try:
        orders = guard.counter("orders.placed", unit="{order}", description="Orders", labels=("region",))
        orders.bind("eu").add(2)
        assert orders.bind("eu") is orders.bind("eu")
        guard.histogram("checkout.duration", unit="s", buckets=(0.1, 1.0), labels=("region",)).bind("eu").record(0.5)
        guard.gauge("queue.depth").bind().set(3)
        guard.up_down_counter("sessions").bind().add(-1)
        assert guard.value("orders.placed", region="eu") == 2
        assert guard.histogram_value("checkout.duration", region="eu").bucket_counts == (0, 1, 0)  # type: ignore[union-attr]
        assert guard.value("queue.depth") == 3 and guard.value("sessions") == -1
        text = guard.render_metrics().decode()
        assert "orders_placed_total{" in text and "checkout_duration_seconds_bucket{" in text
    finally:
        guard.shutdown()
