"""The Prometheus reader: a pull MetricReader whose scrape renders text straight from the SDK's
collection and the bridge's handles (see ``_exposition``)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)

from otelsvc._bridge import Bridge, merge_metrics_data
from otelsvc._exposition import RENAMED_LE, Skipped, render_text
from otelsvc._sanitize import sanitize_data
from otelsvc._sdk_internals import instrument_classes, openmetrics_collector, reader_limits

__all__ = ["PrometheusReader"]


class PrometheusReader(MetricReader):
    """Cumulative pull reader; ``render()`` collects and returns the exposition bytes."""

    def __init__(self, bridge: Bridge, cardinality_limit: int) -> None:
        super().__init__(
            preferred_temporality=dict.fromkeys(instrument_classes(), AggregationTemporality.CUMULATIVE),
            **reader_limits(cardinality_limit),
        )
        self._bridge = bridge
        bridge.direct_readers.add(self)
        self._data: MetricsData | None = None
        self._render_lock = threading.Lock()

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._data = metrics_data

    def render(self, openmetrics: bool = False) -> bytes:
        """Collect now and render Prometheus text 0.0.4 (or OpenMetrics 1.0)."""
        with self._render_lock:
            self._data = None
            self.collect()
            data, self._data = self._bridge.sdk_data(self._data), None
            data = self._bridge.produced(self, data)
            if openmetrics:
                return self._render_openmetrics(data)
            return render_text(data, self._bridge, self._bridge.resource)

    def _render_openmetrics(self, data: MetricsData | None) -> bytes:
        if openmetrics_collector() is None:  # the exporter's collector failed its check: /metrics serves text 0.0.4
            return render_text(data, self._bridge, self._bridge.resource)
        assert self._bridge.resource is not None
        data = merge_metrics_data(data, self._bridge.scope_metrics(self), self._bridge.resource)
        data, dropped = sanitize_data(_openmetrics_ready(data))
        skipped = Skipped(self._bridge)
        skipped.n = dropped
        try:
            out = _openmetrics([data] if data is not None else [])
        except Exception:
            # One bad metric: render each on its own and leave out those that fail.
            assert data is not None
            bare = replace(data, resource_metrics=[replace(rm, scope_metrics=[]) for rm in data.resource_metrics])
            parts = [_openmetrics([bare]).removesuffix(b"# EOF\n")]
            for single in _split(data):
                try:
                    parts.append(_openmetrics([single], target_info=False).removesuffix(b"# EOF\n"))
                except Exception as exc:
                    skipped(single.resource_metrics[0].scope_metrics[0].metrics[0].name, exc)
            out = b"".join(parts) + b"# EOF\n"
        skipped.count("openmetrics")
        return out

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._data = None


def _openmetrics(data: list[MetricsData], target_info: bool = True) -> bytes:
    """OpenMetrics text of ``data`` through the upstream exporter's collector."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest

    collector = openmetrics_collector(disable_target_info=not target_info)
    for item in data:
        collector.add_metrics_data(item)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    out: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return out


def _split(data: MetricsData | None) -> list[MetricsData]:
    """One MetricsData per metric, resource and scope kept."""
    if data is None:
        return []
    return [
        MetricsData([ResourceMetrics(rm.resource, [ScopeMetrics(sm.scope, [metric], sm.schema_url)], rm.schema_url)])
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    ]


class _CanonicalBound(float):
    """A bucket bound the upstream collector formats (``f"{bound}"``) as an OpenMetrics canonical number."""

    def __format__(self, spec: str) -> str:
        from prometheus_client.utils import floatToGoString

        return str(floatToGoString(self)) if not spec else super().__format__(spec)  # type: ignore[no-untyped-call]


def _openmetrics_ready(data: MetricsData | None) -> MetricsData | None:
    """Histogram points as OpenMetrics needs them, where upstream does not: an attribute ``le`` renamed
    ``_le`` (upstream drops it from the buckets only) and bounds written as canonical numbers (``le="1.0"``
    for an integer bound, ``le="1e+10"`` for 1e10; upstream writes ``1`` and ``10000000000.0``)."""

    from prometheus_client.utils import floatToGoString

    def fix(point: Any) -> Any:
        attrs = point.attributes or {}
        bounds = point.explicit_bounds
        if "le" not in attrs and all(f"{b}" == floatToGoString(b) for b in bounds):  # type: ignore[no-untyped-call]
            return point
        return replace(point, attributes={(RENAMED_LE if k == "le" else k): v for k, v in attrs.items()},
                       explicit_bounds=[_CanonicalBound(b) for b in bounds])

    if data is None:
        return None
    out = []
    changed = False
    for rm in data.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for m in sm.metrics:
                if isinstance(m.data, Histogram):
                    points = [fix(p) for p in m.data.data_points]
                    if any(a is not b for a, b in zip(points, m.data.data_points, strict=True)):
                        changed = True
                        m = replace(m, data=replace(m.data, data_points=points))
                metrics.append(m)
            scopes.append(replace(sm, metrics=metrics))
        out.append(replace(rm, scope_metrics=scopes))
    return replace(data, resource_metrics=out) if changed else data
