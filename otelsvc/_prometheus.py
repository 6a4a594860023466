"""The Prometheus reader: a pull MetricReader whose scrape renders text straight from the SDK's
collection and the bridge's handles (see ``_exposition``)."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics import _Gauge as SyncGauge
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData

from otelsvc._bridge import Bridge, merge_scope
from otelsvc._exposition import render_text

__all__ = ["PrometheusReader"]
_CLASSES = (Counter, UpDownCounter, Histogram, SyncGauge, ObservableCounter, ObservableUpDownCounter,
            ObservableGauge)


class PrometheusReader(MetricReader):
    """Cumulative pull reader; ``render()`` collects and returns the exposition bytes."""

    def __init__(self, bridge: Bridge, cardinality_limit: int) -> None:
        super().__init__(
            preferred_temporality={cls: AggregationTemporality.CUMULATIVE for cls in _CLASSES},
            cardinality_limits={cls: cardinality_limit for cls in _CLASSES},
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
            data, self._data = self._data, None
            if openmetrics:
                return self._render_openmetrics(data)
            return render_text(data, self._bridge, self._bridge.resource)

    def _render_openmetrics(self, data: MetricsData | None) -> bytes:
        from opentelemetry.exporter.prometheus import _CustomCollector
        from prometheus_client import CollectorRegistry
        from prometheus_client.openmetrics.exposition import generate_latest

        scope = self._bridge.scope_metrics(self)
        if scope is not None:
            from opentelemetry.sdk.metrics.export import ResourceMetrics

            if data is None or not data.resource_metrics:
                assert self._bridge.resource is not None
                data = MetricsData([ResourceMetrics(self._bridge.resource, [scope], "")])
            else:
                first = data.resource_metrics[0]
                data = MetricsData(
                    [ResourceMetrics(first.resource, merge_scope(first.scope_metrics, scope), first.schema_url),
                     *data.resource_metrics[1:]]
                )
        collector = _CustomCollector()
        if data is not None:
            collector.add_metrics_data(data)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        out: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
        return out

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._data = None
