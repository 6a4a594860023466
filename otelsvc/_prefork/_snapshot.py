"""A worker's metrics as plain data: everything its Prometheus reader would render, cumulative.

``{(scope name, scope version, metric name): (kind, unit, description, bounds, {attributes: value})}``
with kind one of counter, updowncounter, gauge, histogram; a histogram's value is (bucket counts, sum).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)

from otelsvc._bridge import Bridge, merge_scope

__all__ = ["MetricKey", "Series", "Snapshot", "collect", "from_data"]

MetricKey = tuple[str, str, str]
Attrs = tuple[tuple[str, Any], ...]
Series = tuple[str, str, str, tuple[float, ...], dict[Attrs, Any]]
Snapshot = dict[MetricKey, Series]


def _kind(metric: Metric) -> str | None:
    data = metric.data
    if isinstance(data, Sum):
        return "counter" if data.is_monotonic else "updowncounter"
    if isinstance(data, Gauge):
        return "gauge"
    if isinstance(data, Histogram):
        return "histogram"
    return None


def from_data(data: MetricsData | None) -> Snapshot:
    """The snapshot of one collection (exponential histograms, which Prometheus does not take, are left out)."""
    out: Snapshot = {}
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = _kind(metric)
                if kind is None:
                    continue
                key = (sm.scope.name or "", sm.scope.version or "", metric.name)
                points: dict[Attrs, Any] = {}
                bounds: tuple[float, ...] = ()
                point: Any
                for point in metric.data.data_points:
                    attrs = tuple(sorted((point.attributes or {}).items()))
                    if kind == "histogram":
                        bounds = tuple(point.explicit_bounds)
                        points[attrs] = (tuple(point.bucket_counts), point.sum)
                    else:
                        points[attrs] = point.value
                out[key] = (kind, metric.unit or "", metric.description or "", bounds, points)
    return out


def collect(reader: Any, bridge: Bridge) -> Snapshot:
    """Collect ``reader`` (a PrometheusReader, which leaves the bridge out) and the bridge, as one snapshot."""
    with reader._render_lock:
        reader._data = None
        reader.collect()
        data: MetricsData | None = reader._data
        reader._data = None
        scope = bridge.scope_metrics(reader)
    if scope is not None:
        if data is None or not data.resource_metrics:
            assert bridge.resource is not None
            data = MetricsData([ResourceMetrics(bridge.resource, [scope], "")])
        else:
            first = data.resource_metrics[0]
            merged: list[ScopeMetrics] = merge_scope(first.scope_metrics, scope)
            data = MetricsData([ResourceMetrics(first.resource, merged, first.schema_url), *data.resource_metrics[1:]])
    return from_data(data)
