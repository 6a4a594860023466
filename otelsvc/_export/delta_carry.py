"""Delta temporality without loss: the points of a failed push are added into the next push.

With a delta preference each collection hands the exporter only what changed since the previous
one, and the SDK forgets it whatever the export's outcome, so an interval whose push failed was
lost. ``DeltaCarryOver`` wraps the push exporter: when an export fails, its delta sums and
explicit-bucket histograms are kept (one point per series, merged, so memory stays bounded by the
number of series) and added into the next export, point by point, from the earliest start time.
Delivery becomes at-least-once: a push that failed after the collector had taken it (a timeout on
the answer) is counted again. Gauges, cumulative points (re-sent in full anyway) and exponential
histograms (not merged) are not carried.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._logging import logger

__all__ = ["DeltaCarryOver", "carry_failed_deltas"]

_DELTA = AggregationTemporality.DELTA
# (resource, scope, metric name) -> the metric's shape and its points by attribute set
_MetricKey = tuple[Resource, InstrumentationScope, str]
_live: weakref.WeakSet[DeltaCarryOver] = weakref.WeakSet()


def _attributes_key(attributes: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (attributes or {}).items()))


def _merge_points(old: Any, new: Any) -> Any:
    """``old`` and ``new`` (the same series, old first) as one point covering both intervals."""
    if isinstance(new, NumberDataPoint):
        return NumberDataPoint(
            attributes=new.attributes,
            start_time_unix_nano=old.start_time_unix_nano,
            time_unix_nano=new.time_unix_nano,
            value=old.value + new.value,
            exemplars=new.exemplars,
        )
    if tuple(old.explicit_bounds) != tuple(new.explicit_bounds):
        return new  # the buckets changed (a new View): the older interval cannot be added in
    return HistogramDataPoint(
        attributes=new.attributes,
        start_time_unix_nano=old.start_time_unix_nano,
        time_unix_nano=new.time_unix_nano,
        count=old.count + new.count,
        sum=old.sum + new.sum,
        bucket_counts=[a + b for a, b in zip(old.bucket_counts, new.bucket_counts, strict=False)],
        explicit_bounds=new.explicit_bounds,
        min=min(old.min, new.min),
        max=max(old.max, new.max),
        exemplars=new.exemplars,
    )


def _with_points(metric: Metric, points: list[Any]) -> Metric:
    data: Any = metric.data
    if isinstance(data, Sum):
        data = Sum(
            data_points=points, aggregation_temporality=data.aggregation_temporality, is_monotonic=data.is_monotonic
        )
    else:
        data = Histogram(data_points=points, aggregation_temporality=data.aggregation_temporality)
    return Metric(name=metric.name, description=metric.description, unit=metric.unit, data=data)


def _carried(metric: Metric) -> bool:
    data = metric.data
    return isinstance(data, (Sum, Histogram)) and data.aggregation_temporality == _DELTA


class DeltaCarryOver(MetricExporter):
    """The push exporter, keeping the delta points of a failed export for the next one."""

    def __init__(self, inner: MetricExporter, max_points: int = 200_000) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality, preferred_aggregation=inner._preferred_aggregation
        )
        self.inner = inner
        self.max_points = max_points
        self.dropped_points = 0
        self._pending: dict[_MetricKey, tuple[Metric, dict[Any, Any]]] = {}
        self._lock = threading.Lock()
        _live.add(self)

    def pending_points(self) -> int:
        """Points waiting for the next successful push."""
        return sum(len(points) for _, points in self._pending.values())

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        with self._lock:
            pending, self._pending = self._pending, {}
        data = self._merge(metrics_data, pending) if pending else metrics_data
        try:
            result = self.inner.export(data, timeout_millis=timeout_millis)
        except Exception:
            result = MetricExportResult.FAILURE
        if result != MetricExportResult.SUCCESS:
            self._keep(data)
        return result

    def _merge(self, data: MetricsData, pending: dict[_MetricKey, tuple[Metric, dict[Any, Any]]]) -> MetricsData:
        resources: list[ResourceMetrics] = []
        for rm in data.resource_metrics:
            scopes: list[ScopeMetrics] = []
            for sm in rm.scope_metrics:
                metrics: list[Metric] = []
                for metric in sm.metrics:
                    kept = pending.pop((rm.resource, sm.scope, metric.name), None) if _carried(metric) else None
                    if kept is None:
                        metrics.append(metric)
                        continue
                    points = dict(kept[1])
                    for point in metric.data.data_points:
                        key = _attributes_key(point.attributes)
                        old = points.get(key)
                        points[key] = point if old is None else _merge_points(old, point)
                    metrics.append(_with_points(metric, list(points.values())))
                metrics.extend(self._take(pending, rm.resource, sm.scope))
                scopes.append(ScopeMetrics(scope=sm.scope, metrics=metrics, schema_url=sm.schema_url))
            for scope in {key[1] for key in pending if key[0] == rm.resource}:
                scopes.append(ScopeMetrics(scope=scope, metrics=self._take(pending, rm.resource, scope), schema_url=""))
            resources.append(ResourceMetrics(resource=rm.resource, scope_metrics=scopes, schema_url=rm.schema_url))
        for resource in {key[0] for key in pending}:
            scopes = [
                ScopeMetrics(scope=scope, metrics=self._take(pending, resource, scope), schema_url="")
                for scope in {key[1] for key in pending if key[0] == resource}
            ]
            resources.append(ResourceMetrics(resource=resource, scope_metrics=scopes, schema_url=""))
        return replace(data, resource_metrics=resources)  # keeps what a PushBatch carries beside them

    @staticmethod
    def _take(
        pending: dict[_MetricKey, tuple[Metric, dict[Any, Any]]], resource: Resource, scope: InstrumentationScope
    ) -> list[Metric]:
        """The kept metrics of one resource and scope that the new collection did not have."""
        keys = [key for key in pending if key[0] == resource and key[1] == scope]
        out = []
        for key in keys:
            metric, points = pending.pop(key)
            out.append(_with_points(metric, list(points.values())))
        return out

    def _keep(self, data: MetricsData) -> None:
        kept: dict[_MetricKey, tuple[Metric, dict[Any, Any]]] = {}
        count = 0
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if not _carried(metric):
                        continue
                    points = {_attributes_key(p.attributes): p for p in metric.data.data_points}
                    count += len(points)
                    kept[(rm.resource, sm.scope, metric.name)] = (metric, points)
        with self._lock:
            # An export that ran meanwhile (force_flush beside the periodic push) kept its own.
            for key, (metric, points) in self._pending.items():
                if key in kept:
                    merged = kept[key][1]
                    for attrs, point in points.items():
                        merged[attrs] = point if attrs not in merged else _merge_points(merged[attrs], point)
                else:
                    kept[key] = (metric, points)
            self._pending = kept
            over = self.pending_points() - self.max_points
            if over > 0:
                self._drop(over)

    def _drop(self, over: int) -> None:
        """Past ``max_points`` the newest series wait no longer (counted, logged once)."""
        if not self.dropped_points:
            logger.warning(
                "otelsvc: more than %d delta points waiting for the collector; dropping the rest", self.max_points
            )
        for key in reversed(list(self._pending)):
            _metric, points = self._pending[key]
            while points and over > 0:
                points.pop(next(reversed(points)))
                over -= 1
                self.dropped_points += 1
            if not points:
                del self._pending[key]
            if over <= 0:
                return

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis)

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pending = {}


def carry_failed_deltas(exporter: MetricExporter, preference: str) -> MetricExporter:
    """``exporter`` wrapped in ``DeltaCarryOver`` when the temporality preference makes deltas."""
    return DeltaCarryOver(exporter) if preference in ("delta", "lowmemory") else exporter


def _after_fork_in_child() -> None:
    """A child keeps none of the parent's waiting points (they are the parent's to send)."""
    for exporter in list(_live):
        exporter._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
