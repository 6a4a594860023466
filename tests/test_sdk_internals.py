"""The SDK internals otelsvc uses: each passes its check on the installed SDK, and with one taken away
(as a future SDK might) otelsvc logs it once and its public-API fallback exports the same numbers."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

import otelsvc
from otelsvc import _metrics_push, _sdk_internals
from otelsvc._config import load_settings
from otelsvc._guard import ProviderGuard
from otelsvc.testing import start_testing


@pytest.fixture(autouse=True)
def fresh_check() -> Iterator[None]:
    """Each test sees its own self-check result (the check is cached per process)."""
    _sdk_internals.check.cache_clear()
    yield
    _sdk_internals.check.cache_clear()


class Captured(MetricExporter):
    """An OTLP stand-in that keeps every collection it is handed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.batches: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _points(batches: list[MetricsData]) -> list[tuple[Any, ...]]:
    """Every pushed point without its timestamps, in a stable order."""
    out = []
    for data in batches:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    temporality = getattr(metric.data, "aggregation_temporality", None)
                    for p in metric.data.data_points:
                        value: Any = ((p.count, p.sum, tuple(p.bucket_counts), p.min, p.max)
                                      if isinstance(p, HistogramDataPoint) else p.value)
                        out.append((sm.scope.name, metric.name, temporality, sorted(p.attributes.items()), value))
    return sorted(out, key=repr)


def _run(monkeypatch: pytest.MonkeyPatch, temporality: str) -> tuple[str, list[tuple[Any, ...]]]:
    """Record the same measurements through handles and SDK instruments; the scrape and the pushed points."""
    captured = Captured()
    monkeypatch.setattr(_metrics_push, "build_metric_exporter", lambda *a, **k: captured)
    settings = load_settings(
        {"prometheus": "127.0.0.1:0", "builtin_server": False, "otlp_endpoint": "http://127.0.0.1:9",
         "export_interval": 3600, "runtime_metrics": False, "set_global": False, "service_name": "fb",
         "resource_attributes": {"service.instance.id": "fixed"}},
        env={"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality},
    )
    guard = ProviderGuard(settings)
    try:
        counter = guard.counter("jobs.done", unit="{job}", labels=("queue",))
        hist = guard.histogram("jobs.latency", buckets=(0.1, 1.0), unit="s", labels=("queue",))
        gauge = guard.gauge("jobs.depth", labels=("queue",))
        sdk_counter = guard.meter("app").create_counter("orders", unit="{order}")
        for round_ in range(3):
            counter.bind("fast").add(2)
            counter.bind("slow").add(round_)
            hist.bind("fast").record(0.05 * (round_ + 1))
            gauge.bind("fast").set(10 - round_)
            sdk_counter.add(5, {"region": "eu"})
            assert guard.force_flush(timeout=10)
        scrape = guard.render_metrics().decode()
    finally:
        guard.shutdown(timeout=5)
    return scrape, _points(captured.batches)


def _break(monkeypatch: pytest.MonkeyPatch, *functions: str) -> None:
    """Make ``_sdk_internals`` functions fail the way a renamed SDK attribute would."""

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'MetricReader' object has no attribute '_collect'")

    for name in functions:
        monkeypatch.setattr(_sdk_internals, name, missing)


def test_every_internal_passes_its_check_on_the_installed_sdk() -> None:
    support = _sdk_internals.check()
    assert support.failed == {}
    assert set(_sdk_internals.INTERNALS) == set(_sdk_internals.FALLBACKS)


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_without_the_collect_hook_scrape_and_push_equal_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, temporality: str
) -> None:
    fast = _run(monkeypatch, temporality)
    assert any(p[1] == "orders" for p in fast[1]) and any(p[1] == "jobs.latency" for p in fast[1])
    _sdk_internals.check.cache_clear()
    _break(monkeypatch, "wrap_reader_collect", "reader_temporalities")
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        slow = _run(monkeypatch, temporality)
    assert slow == fast
    warned = [r.getMessage() for r in caplog.records if "slower public-API path" in r.getMessage()]
    assert len(warned) == 2
    assert any("reader_collect_hook" in m for m in warned) and any("reader_temporality" in m for m in warned)


def test_without_the_resource_and_naming_internals_output_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run(monkeypatch, "cumulative")
    _sdk_internals.check.cache_clear()
    for internal in ("prometheus_mapping", "global_provider_flags"):
        monkeypatch.setitem(_sdk_internals._CHECKS, internal, _raise)
    slow = _run(monkeypatch, "cumulative")
    assert slow == fast


def _raise() -> None:
    raise _sdk_internals.SdkInternalChanged("simulated")


def test_testing_guard_reads_handles_without_the_collect_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    _break(monkeypatch, "wrap_reader_collect")
    guard = start_testing()
    try:
        guard.counter("jobs", labels=("q",)).bind("a").add(3)
        assert guard.value("jobs", {"q": "a"}) == 3
        guard.meter("app").create_counter("orders").add(1)
        assert guard.value("orders") == 1
        assert guard.value("jobs", {"q": "a"}) == 3
    finally:
        guard.shutdown()


def _child_scrape(guard: ProviderGuard) -> str:
    return guard.render_metrics().decode()


@pytest.mark.parametrize("broken", [(), ("fork_reset",), ("meter_resource", "tracer_resource")])
def test_forked_child_never_repeats_the_parents_counts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, broken: tuple[str, ...]
) -> None:
    """In-process stand-in for the child (the real fork runs in tests/reliability/test_fork.py)."""
    for internal in broken:
        monkeypatch.setitem(_sdk_internals._CHECKS, internal, _raise)
    guard = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "builtin_server": False, "set_global": False,
                                         "runtime_metrics": False}, env={}))
    try:
        handle = guard.counter("jobs", labels=("q",)).bind("a")
        sdk_counter = guard.meter("app").create_counter("orders")
        handle.add(5)
        sdk_counter.add(5)
        assert "orders_total{" in _child_scrape(guard)
        parent_id = guard.resource.attributes["service.instance.id"]
        with caplog.at_level(logging.ERROR, logger="otelsvc"):
            guard._after_fork_in_child()
        handle.add(1)
        sdk_counter.add(2)
        text = _child_scrape(guard)
        assert re.search(r'^jobs_total\{.*q="a"\} 1\.0$', text, re.M), text
        if "fork_reset" in broken:
            assert "orders_total" not in text
            assert any("cannot empty the SDK's aggregations" in r.getMessage() for r in caplog.records)
        else:
            assert re.search(r"^orders_total\{.*\} 2\.0$", text, re.M), text
        assert parent_id not in text and guard.resource.attributes["service.instance.id"] in text
    finally:
        guard.shutdown()


def test_renew_lock_refuses_a_missing_lock() -> None:
    class Owner:
        _lock = threading.Lock()

    _sdk_internals._renew_lock(Owner, "_gone", "_lock")
    with pytest.raises(_sdk_internals.SdkInternalChanged, match="_gone"):
        _sdk_internals._renew_lock(Owner, "_gone")


def test_a_cardinality_limit_the_sdk_cannot_enforce_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sdk_internals, "reader_cardinality_limits_supported", lambda: False)
    with pytest.raises(otelsvc.ConfigError, match="cardinality_limit"):
        otelsvc.start(prometheus=None, otlp_endpoint=None, set_global=False, cardinality_limit=100)
    guard = otelsvc.start(prometheus=None, otlp_endpoint=None, set_global=False, runtime_metrics=False)
    guard.shutdown()


def test_a_child_whose_reset_fails_exports_nothing(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    guard = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "builtin_server": False, "set_global": False,
                                         "runtime_metrics": False}, env={}))
    try:
        guard.counter("jobs").bind().add(5)

        def broken() -> None:
            raise RuntimeError("simulated")

        monkeypatch.setattr(guard.bridge, "reset_after_fork", broken)
        with caplog.at_level(logging.ERROR, logger="otelsvc"):
            guard._after_fork_in_child()
        assert any("exports no telemetry" in r.getMessage() for r in caplog.records)
        with pytest.raises(RuntimeError, match="telemetry is off in this forked child"):
            guard.render_metrics()
    finally:
        guard.shutdown()


def test_without_the_tracer_resource_internal_child_spans_carry_the_childs_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otelsvc import _spans_push

    exported = InMemorySpanExporter()
    monkeypatch.setattr(_spans_push, "build_span_exporter", lambda sig: exported)
    monkeypatch.setattr(_metrics_push, "build_metric_exporter", lambda *a, **k: Captured())
    monkeypatch.setitem(_sdk_internals._CHECKS, "tracer_resource", _raise)
    guard = ProviderGuard(load_settings({"prometheus": None, "otlp_endpoint": "http://127.0.0.1:9",
                                         "set_global": False, "runtime_metrics": False}, env={}))
    try:
        tracer = guard.tracer("app")  # made before the fork: the SDK keeps the parent's resource in it
        guard._after_fork_in_child()
        child_id = guard.resource.attributes["service.instance.id"]
        with tracer.start_as_current_span("in-child"):
            pass
        assert guard.force_flush(timeout=10)
        spans = exported.get_finished_spans()
        assert [s.name for s in spans] == ["in-child"]
        assert spans[0].resource.attributes["service.instance.id"] == child_id
        assert guard.exporters["spans"].total_failures == 0
    finally:
        guard.shutdown()
