"""A guard for tests: records in memory and reads values back by metric name and labels.

    from otelsvc.testing import start_testing

    guard = start_testing(service_name="t")
    ... code under test records through guard.meter(...) or handles ...
    assert guard.value("orders.placed", {"region": "eu"}) == 3

    with guard.tracer("t").start_as_current_span("work"):
        logging.getLogger("app").warning("inside")
    assert [s.name for s in guard.spans()] == ["work"]
    assert guard.logs()[0].trace_id == guard.spans()[0].context.trace_id

No server, no push, not global, no runtime metrics, unless the keywords say otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan

from otelsvc._bridge import BridgedReader
from otelsvc._config import load_settings
from otelsvc._guard import ProviderGuard
from otelsvc._sdk_internals import instrument_classes, reader_limits

__all__ = ["HistogramValue", "TestingGuard", "start_testing"]


@dataclass(frozen=True)
class HistogramValue:
    """One histogram series as collected: count, sum, bucket counts, bounds, min, max."""

    count: int
    sum: float
    bucket_counts: tuple[int, ...]
    bounds: tuple[float, ...]
    min: float
    max: float


class _TestingReader(BridgedReader, InMemoryMetricReader):
    """The SDK's in-memory reader, able to add handle series itself (see ``BridgedReader``)."""


class TestingGuard(ProviderGuard):
    """A ProviderGuard with an in-memory reader; every read collects afresh."""

    __test__ = False

    def __init__(self, settings: Any, reader: InMemoryMetricReader) -> None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.reader = reader
        super().__init__(settings, extra_readers=[reader])
        self.bridge.declare_temporality(reader, {})  # cumulative, as the reader is made below
        self._span_exporter = InMemorySpanExporter()
        add_processor = getattr(self.tracer_provider, "add_span_processor", None)
        if add_processor is not None:
            add_processor(SimpleSpanProcessor(self._span_exporter))
        self._log_exporter: Any = None
        if self.logger_provider is not None:
            from otelsvc._sdk_internals import logs_sdk

            sdk = logs_sdk()
            self._log_exporter = sdk.InMemoryLogRecordExporter()
            self.logger_provider.add_log_record_processor(sdk.SimpleLogRecordProcessor(self._log_exporter))
            if settings.log_bridge:
                self.bridge_logging()

    @property
    def traces_exported(self) -> bool:
        return True

    def logs(self, scope: str | None = None) -> list[Any]:
        """Every log record emitted so far (or those of logger/scope ``scope``), oldest first.

        Records from stdlib ``logging`` arrive through the bridge (``log_bridge``, on by default here);
        each has ``body``, ``severity_text``, ``severity_number``, ``attributes``, ``trace_id``, ``span_id``.
        """
        if self._log_exporter is None:
            return []
        return [getattr(item, "log_record", item) for item in self._log_exporter.get_finished_logs()
                if scope is None or item.instrumentation_scope.name == scope]

    def clear_logs(self) -> None:
        """Forget the log records emitted so far."""
        if self._log_exporter is not None:
            self._log_exporter.clear()

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Every span ended so far (or those named ``name``), oldest first."""
        finished = self._span_exporter.get_finished_spans()
        return [s for s in finished if name is None or s.name == name]

    def clear_spans(self) -> None:
        """Forget the spans ended so far."""
        self._span_exporter.clear()

    def collect(self) -> MetricsData:
        """Collect now (what a push would send)."""
        data = self.reader.get_metrics_data()
        return data if data is not None else MetricsData(resource_metrics=[])

    def metrics(self) -> dict[str, Metric]:
        """Every metric of one fresh collection, by name."""
        out: dict[str, Metric] = {}
        for rm in self.collect().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = metric
        return out

    def series(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) for each series of ``name``; histograms give HistogramValue."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [(dict(p.attributes or {}), _value(p)) for p in metric.data.data_points]

    def value(self, name: str, labels: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """The value of the series of ``name`` whose attributes are exactly ``labels``, or None."""
        wanted = {**(labels or {}), **kw}
        for attrs, value in self.series(name):
            if attrs == wanted:
                return value
        return None

    def exemplars(self, name: str, labels: Mapping[str, Any] | None = None, **kw: Any) -> list[Any]:
        """The exemplars of the series of ``name`` with exactly ``labels`` taken since the previous read
        (each has ``value``, ``trace_id``, ``span_id``, ``time_unix_nano``); [] when there are none."""
        wanted = {**(labels or {}), **kw}
        metric = self.metrics().get(name)
        if metric is None:
            return []
        for point in metric.data.data_points:
            if dict(point.attributes or {}) == wanted:
                return list(point.exemplars or [])
        return []

    def histogram_value(
        self, name: str, labels: Mapping[str, Any] | None = None, **kw: Any
    ) -> HistogramValue | None:
        """The histogram series of ``name`` with exactly ``labels``, or None."""
        value = self.value(name, labels, **kw)
        assert value is None or isinstance(value, HistogramValue), f"{name} is not a histogram"
        return value


def _value(point: Any) -> Any:
    if isinstance(point, HistogramDataPoint):
        return HistogramValue(point.count, point.sum, tuple(point.bucket_counts), tuple(point.explicit_bounds),
                              point.min, point.max)
    if isinstance(point, NumberDataPoint):
        return point.value
    return point


def start_testing(**settings: Any) -> TestingGuard:
    """A TestingGuard; keywords as for ``otelsvc.start`` (environment variables are ignored)."""
    defaults: dict[str, Any] = {"prometheus": None, "otlp_endpoint": None, "set_global": False,
                                "runtime_metrics": False, "service_name": "test"}
    resolved = load_settings({**defaults, **settings}, env={})
    reader = _TestingReader(
        preferred_temporality=dict.fromkeys(instrument_classes(), AggregationTemporality.CUMULATIVE),
        **reader_limits(resolved.cardinality_limit),
    )
    return TestingGuard(resolved, reader)
