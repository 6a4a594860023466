"""The direct push path (handle series encoded straight to bytes) against the SDK path (handle series
as SDK data, encoded by the SDK's encoder): the same requests, decoded, for the same recordings."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from otelsvc._config import load_settings
from otelsvc._export import metrics_push as _metrics_push
from otelsvc._export.exporters import histogram_aggregation, temporalities
from otelsvc._export.metrics_push import MetricsPush
from otelsvc._export.otlp_metric_exporter import DirectMetricExporter
from otelsvc._guard import ProviderGuard
from otelsvc._version import __version__

SPAN = trace.NonRecordingSpan(
    trace.SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, trace.TraceFlags(1))
)


class Capture:
    """A transport keeping each request; fails while ``failing``."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.failing = False

    def send(self, body: bytes, timeout: float) -> None:
        if self.failing:
            raise OSError("collector down")
        self.bodies.append(body)

    def close(self) -> None:
        pass


class SdkEncoding(MetricExporter):
    """The SDK path's end: what the SDK's OTLP exporter would send, kept."""

    def __init__(self, temporality: str, histogram: str) -> None:
        super().__init__(
            preferred_temporality=temporalities(temporality), preferred_aggregation=histogram_aggregation(histogram)
        )
        self.bodies: list[bytes] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.bodies.append(encode_metrics(metrics_data).SerializeToString())
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _guard(temporality: str, histogram: str = "explicit", exemplars: str = "always_on") -> ProviderGuard:
    settings = load_settings(
        {
            "prometheus": None,
            "otlp_endpoint": "http://127.0.0.1:9",
            "export_interval": 3600,
            "runtime_metrics": False,
            "set_global": False,
            "service_name": "eq",
            "resource_attributes": {"service.instance.id": "fixed"},
            "otlp_histogram_aggregation": histogram,
        },
        env={
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
            "OTEL_METRICS_EXEMPLAR_FILTER": exemplars,
        },
    )
    return ProviderGuard(settings)


def _push(guard: ProviderGuard) -> MetricsPush:
    (push,) = [p for p in guard.pipelines if isinstance(p, MetricsPush)]
    return push


def _direct(temporality: str, histogram: str = "explicit") -> tuple[ProviderGuard, Capture]:
    guard = _guard(temporality, histogram)
    push = _push(guard)
    assert push.direct and isinstance(push.proxy.inner, DirectMetricExporter)
    capture = Capture()
    push.proxy.inner._transport = capture  # type: ignore[assignment]
    return guard, capture


def _sdk_path(
    monkeypatch: pytest.MonkeyPatch, temporality: str, histogram: str = "explicit"
) -> tuple[ProviderGuard, SdkEncoding]:
    exporter = SdkEncoding(temporality, histogram)
    with monkeypatch.context() as patch:
        patch.setattr(_metrics_push, "build_metric_exporter", lambda *a, **k: exporter)
        guard = _guard(temporality, histogram)
    assert not _push(guard).direct
    return guard, exporter


def _normalized(bodies: list[bytes]) -> list[str]:
    """The requests, times replaced by whether they were set, as protobuf text (readable diffs).

    otelsvc's self-metrics are left out: their label-fold series depend on the interners alive in the
    process (other tests', until garbage-collected), not on the path."""
    out = []
    for body in bodies:
        request = ExportMetricsServiceRequest.FromString(body)
        for rm in request.resource_metrics:
            for index in reversed(range(len(rm.scope_metrics))):
                if rm.scope_metrics[index].scope.name == "otelsvc.self":
                    del rm.scope_metrics[index]
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    data = getattr(metric, metric.WhichOneof("data"))
                    for point in data.data_points:
                        for name in ("start_time_unix_nano", "time_unix_nano"):
                            setattr(point, name, 1 if getattr(point, name) else 0)
                        for ex in point.exemplars:
                            ex.time_unix_nano = 1 if ex.time_unix_nano else 0
        out.append(str(request))
    return out


def _record(guard: ProviderGuard, round_: int) -> None:
    """Every kind, through handles (families and bare bridge instruments) and SDK instruments, in
    several scopes (one equal to the handles' own), with exemplars inside a sampled span."""
    bridge = guard.bridge
    jobs = guard.counter("jobs.done", unit="{job}", labels=("queue",), description="Jobs done")
    latency = guard.histogram("jobs.latency", buckets=(0.1, 1.0), unit="s", labels=("queue",))
    depth = guard.gauge("jobs.depth", labels=("queue",))
    alive = bridge.instrument("jobs.alive", "updowncounter", "{job}", "", ("queue", "host"))
    app = guard.meter("app", "1.0")
    own_scope = guard.meter("otelsvc", __version__)  # the handles' scope: their metrics join it
    orders = app.create_counter(f"orders.r{round_}", unit="{order}")
    stock = app.create_up_down_counter("stock")
    temperature = app.create_gauge("temperature", unit="Cel")
    sizes = own_scope.create_histogram("upload.size", unit="By")
    with trace.use_span(SPAN):
        for i in range(3):
            jobs.bind(f"q{i}").add(i + round_ + 1)
            jobs.bind("float").add(0.5)
            latency.bind(f"q{i}").record(0.05 * (i + 1) + round_)
            depth.bind(f"q{i}").set(10 - i - round_)
            alive.bind(f"q{i}", "" if i else "h").add(1 - i)
            orders.add(i + 1, {"region": f"r{i}"})  # one measurement a series: the SDK reservoir keeps it
            stock.add(-i, {"k": f"v{i}"})
            temperature.set(20.5 + i, {"room": str(i)})
            sizes.record(1000.0 * (i + round_), {"kind": "a"})
    jobs.bind("untouched")  # bound, never recorded: no point


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
@pytest.mark.parametrize("histogram", ["explicit", "exponential"])
def test_requests_equal_the_sdk_paths(monkeypatch: pytest.MonkeyPatch, temporality: str, histogram: str) -> None:
    direct, capture = _direct(temporality, histogram)
    sdk, exporter = _sdk_path(monkeypatch, temporality, histogram)
    try:
        for round_ in range(3):
            for guard in (direct, sdk):
                if round_ < 2:  # the third round records nothing: delta points of unchanged series go
                    _record(guard, round_)
                assert guard.force_flush(timeout=10)
            ours, theirs = _normalized(capture.bodies), _normalized(exporter.bodies)
            assert ours == theirs
            assert len(ours) == round_ + 1
        (first,) = ExportMetricsServiceRequest.FromString(capture.bodies[0]).resource_metrics
        metrics = {m.name: m for sm in first.scope_metrics for m in sm.metrics}
        assert {"jobs.done", "jobs.latency", "jobs.depth", "jobs.alive", "orders.r0", "upload.size"} <= set(metrics)
        exemplars = [ex for p in metrics["jobs.done"].sum.data_points for ex in p.exemplars]
        exemplars += [ex for p in metrics["jobs.latency"].histogram.data_points for ex in p.exemplars]
        assert exemplars and all(ex.trace_id for ex in exemplars)
    finally:
        direct.shutdown(timeout=5)
        sdk.shutdown(timeout=5)


def test_handle_series_alone_go_under_the_guards_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, capture = _direct("cumulative")
    sdk, exporter = _sdk_path(monkeypatch, "cumulative")
    try:
        for guard in (direct, sdk):
            guard.counter("only.handles", labels=("k",)).bind("v").add(3)
            assert guard.force_flush(timeout=10)
        assert _normalized(capture.bodies) == _normalized(exporter.bodies)
        (request,) = capture.bodies
        (rm,) = ExportMetricsServiceRequest.FromString(request).resource_metrics
        attributes = {a.key for a in rm.resource.attributes}
        assert {"service.name", "service.instance.id"} <= attributes
    finally:
        direct.shutdown(timeout=5)
        sdk.shutdown(timeout=5)


def _values(bodies: list[bytes], name: str) -> list[tuple[Any, ...]]:
    out = []
    for body in bodies:
        for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name != name:
                        continue
                    data = getattr(m, m.WhichOneof("data"))
                    for p in data.data_points:
                        value = (
                            (p.count, p.sum, list(p.bucket_counts), p.min, p.max)
                            if m.HasField("histogram")
                            else (p.as_int or p.as_double)
                        )
                        out.append((p.attributes[0].value.string_value, p.start_time_unix_nano, value))
    return out


def test_a_failed_delta_push_is_covered_by_the_next(caplog: pytest.LogCaptureFixture) -> None:
    guard, capture = _direct("delta")
    try:
        jobs = guard.counter("jobs.done", labels=("queue",))
        latency = guard.histogram("jobs.latency", buckets=(1.0,), labels=("queue",))
        jobs.bind("a").add(5)
        latency.bind("a").record(0.5)
        assert guard.force_flush(timeout=10)
        ((_, first_start, _),) = _values(capture.bodies, "jobs.done")
        capture.bodies.clear()
        capture.failing = True
        jobs.bind("a").add(3)
        jobs.bind("b").add(7)  # a series first seen in a failed interval
        latency.bind("a").record(3.0)
        guard.force_flush(timeout=10)
        jobs.bind("a").add(1)
        guard.force_flush(timeout=10)  # two intervals in a row fail
        assert capture.bodies == [] and guard.exporters["metrics"].consecutive_failures == 2
        capture.failing = False
        jobs.bind("a").add(2)
        latency.bind("a").record(0.25)
        assert guard.force_flush(timeout=10)
        by_queue = {q: (start, v) for q, start, v in _values(capture.bodies, "jobs.done")}
        assert by_queue["a"][1] == 6 and by_queue["b"][1] == 7
        assert by_queue["a"][0] > first_start  # from the last delivered reading on
        ((_, _, hist),) = _values(capture.bodies, "jobs.latency")
        assert hist == (2, 3.25, [1, 1], 0.25, 3.0)  # both intervals, the failed one's max kept
        capture.bodies.clear()
        jobs.bind("a").add(1)
        assert guard.force_flush(timeout=10)
        assert [v for q, _, v in _values(capture.bodies, "jobs.done")] == [1]  # nothing sent twice
    finally:
        guard.shutdown(timeout=5)


def test_a_cumulative_push_after_a_failure_sends_the_totals() -> None:
    guard, capture = _direct("cumulative")
    try:
        jobs = guard.counter("jobs.done", labels=("queue",))
        capture.failing = True
        jobs.bind("a").add(5)
        guard.force_flush(timeout=10)
        capture.failing = False
        jobs.bind("a").add(1)
        assert guard.force_flush(timeout=10)
        assert [v for _, _, v in _values(capture.bodies, "jobs.done")] == [6]
    finally:
        guard.shutdown(timeout=5)


def test_other_exporters_get_handle_series_as_sdk_data(monkeypatch: pytest.MonkeyPatch) -> None:
    guard, exporter = _sdk_path(monkeypatch, "cumulative")
    try:
        guard.counter("jobs.done", labels=("queue",)).bind("a").add(2)
        assert guard.force_flush(timeout=10)
        assert [v for _, _, v in _values(exporter.bodies, "jobs.done")] == [2]
    finally:
        guard.shutdown(timeout=5)


def test_strings_an_encoder_cannot_take_are_escaped_as_on_the_sdk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, capture = _direct("cumulative")
    sdk, exporter = _sdk_path(monkeypatch, "cumulative")
    try:
        for guard in (direct, sdk):
            guard.counter("files.seen", labels=("path",)).bind("/tmp/\udcff-name\\ud800").add(1)
            guard.meter("app").create_counter("sdk.files").add(1, {"path": "/x/\udcfe"})
            assert guard.force_flush(timeout=10)
        assert _normalized(capture.bodies) == _normalized(exporter.bodies)
        assert b"\\udcff" in capture.bodies[0]
    finally:
        direct.shutdown(timeout=5)
        sdk.shutdown(timeout=5)


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_without_the_collect_hook_the_direct_push_sends_the_same(
    monkeypatch: pytest.MonkeyPatch, temporality: str
) -> None:
    """The direct reader needs no SDK internal: with the collect hook gone, the requests are unchanged."""
    from otelsvc import _sdk_internals

    def run() -> list[str]:
        guard, capture = _direct(temporality)
        try:
            for round_ in range(2):
                _record(guard, round_)
                assert guard.force_flush(timeout=10)
        finally:
            guard.shutdown(timeout=5)
        return _normalized(capture.bodies)

    with_hook = run()

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'MetricReader' object has no attribute '_collect'")

    _sdk_internals.check.cache_clear()
    monkeypatch.setattr(_sdk_internals, "wrap_reader_collect", missing)
    monkeypatch.setattr(_sdk_internals, "reader_temporalities", missing)
    try:
        assert not _sdk_internals.check().has("reader_collect_hook")
        assert run() == with_hook
    finally:
        _sdk_internals.check.cache_clear()
