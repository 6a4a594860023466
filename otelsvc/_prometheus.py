"""The Prometheus reader: a pull MetricReader whose scrape renders text straight from the SDK's
collection and the bridge's handles (see ``_exposition``)."""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData

from otelsvc._bridge import Bridge
from otelsvc._exposition import render_text
from otelsvc._sdk_internals import instrument_classes, reader_limits

__all__ = ["PrometheusReader"]


class PrometheusReader(MetricReader):
    """Cumulative pull reader; ``render()`` collects and returns the exposition bytes."""

    def __init__(self, bridge: Bridge, cardinality_limit: int, scope_info: bool = True) -> None:
        super().__init__(
            preferred_temporality=dict.fromkeys(instrument_classes(), AggregationTemporality.CUMULATIVE),
            **reader_limits(cardinality_limit),
        )
        self._bridge = bridge
        bridge.direct_readers.add(self)
        self._data: MetricsData | None = None
        self._render_lock = threading.Lock()
        self.scope_info = scope_info
        self._exemplar_since = 0

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._data = metrics_data

    def render(self, openmetrics: bool = False) -> bytes:
        """Collect now and render Prometheus text 0.0.4 (or OpenMetrics 1.0, with exemplars)."""
        with self._render_lock:
            self._data = None
            self.collect()
            data, self._data = self._bridge.sdk_data(self._data), None
            if openmetrics:
                return self._render_openmetrics(data)
            self._exemplars_taken()  # a collection takes the exemplars, as the SDK's reservoirs do
            return render_text(data, self._bridge, self._bridge.resource, scope_info=self.scope_info)

    def _exemplars_taken(self) -> int:
        """The previous collection's time (ns), and this one's noted: handle exemplars after it are new."""
        since, self._exemplar_since = self._exemplar_since, time.time_ns()
        return since

    def _render_openmetrics(self, data: MetricsData | None) -> bytes:
        return render_text(
            data,
            self._bridge,
            self._bridge.resource,
            openmetrics=True,
            scope_info=self.scope_info,
            since=self._exemplars_taken(),
        )

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._data = None
