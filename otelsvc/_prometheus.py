"""The Prometheus reader: a pull MetricReader whose scrape renders text straight from the SDK's
collection and the bridge's handles (see ``_exposition``)."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData

from otelsvc._bridge import Bridge, merge_metrics_data
from otelsvc._exposition import render_text
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
            if openmetrics:
                return self._render_openmetrics(data)
            return render_text(data, self._bridge, self._bridge.resource)

    def _render_openmetrics(self, data: MetricsData | None) -> bytes:
        from prometheus_client import CollectorRegistry
        from prometheus_client.openmetrics.exposition import generate_latest

        collector = openmetrics_collector()
        if collector is None:  # the exporter's collector failed its check: /metrics serves text 0.0.4
            return render_text(data, self._bridge, self._bridge.resource)
        assert self._bridge.resource is not None
        data = merge_metrics_data(data, self._bridge.scope_metrics(self), self._bridge.resource)
        if data is not None:
            collector.add_metrics_data(data)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        out: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
        return out

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._data = None
