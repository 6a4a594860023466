"""The delta carry-over: points of a failed push go out with the next successful one, merged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)

from otelsvc._delta_carry import DeltaCarryOver, carry_failed_deltas

_D = AggregationTemporality.DELTA


class _Flaky(MetricExporter):
    """Fails while ``failing`` is set; keeps what it was given on success."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality={Counter: _D, Histogram: _D})
        self.failing = True
        self.received: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self.failing:
            return MetricExportResult.FAILURE
        self.received.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _points(data: Sequence[MetricsData], name: str) -> list[Any]:
    return [p for d in data for rm in d.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


def test_failed_intervals_are_carried_into_the_next_push() -> None:
    inner = _Flaky()
    carry = DeltaCarryOver(inner)
    reader = PeriodicExportingMetricReader(carry, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("t")
    counter, histogram = meter.create_counter("c"), meter.create_histogram("h")
    try:
        counter.add(5, {"k": "a"})
        histogram.record(1.0)
        assert reader.force_flush()  # the export failed; the reader does not say so
        start = carry._pending[next(iter(carry._pending))][1]
        first_start = next(iter(start.values())).start_time_unix_nano
        counter.add(3, {"k": "a"})
        counter.add(7, {"k": "b"})  # a series first seen in a failed interval
        reader.force_flush()
        assert carry.pending_points() == 3
        inner.failing = False
        counter.add(2, {"k": "a"})
        histogram.record(3.0)
        reader.force_flush()
        by_key = {p.attributes["k"]: p for p in _points(inner.received, "c")}
        assert by_key["a"].value == 10 and by_key["b"].value == 7
        assert by_key["a"].start_time_unix_nano == first_start
        (h,) = _points(inner.received, "h")
        assert (h.count, h.sum, h.min, h.max) == (2, 4.0, 1.0, 3.0)
        assert carry.pending_points() == 0
        counter.add(1, {"k": "a"})
        reader.force_flush()
        assert [p.value for p in _points(inner.received[1:], "c")] == [1]  # nothing sent twice
    finally:
        provider.shutdown()


def test_points_kept_are_bounded() -> None:
    inner = _Flaky()
    carry = DeltaCarryOver(inner, max_points=10)
    reader = PeriodicExportingMetricReader(carry, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("t").create_counter("c")
    try:
        for i in range(25):
            counter.add(1, {"i": str(i)})
        reader.force_flush()
        assert carry.pending_points() == 10 and carry.dropped_points == 15
    finally:
        provider.shutdown()


def test_only_delta_preferences_are_wrapped() -> None:
    inner = _Flaky()
    assert carry_failed_deltas(inner, "cumulative") is inner
    assert isinstance(carry_failed_deltas(inner, "delta"), DeltaCarryOver)
    assert isinstance(carry_failed_deltas(inner, "lowmemory"), DeltaCarryOver)
