"""The push reader of the direct path: SDK instruments' collection plus handle series encoded to bytes.

The reader is one of the bridge's direct readers (no SDK data objects are made for handle series):
each collection's SDK part is passed on as the SDK made it, with the handle series encoded by a
``HandleSeriesEncoder`` beside it in a ``PushBatch``; ``DirectMetricExporter`` at the end of the
exporter chain sends both. The chain in between (quiet child, delta carry-over, health proxy) is
the SDK path's. Nothing here depends on an SDK internal (the collect hook is not needed).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData, PeriodicExportingMetricReader

from otelsvc._bridge import Bridge
from otelsvc._export.handle_encoder import HandleSeriesEncoder, PushBatch
from otelsvc._sanitize import sanitize_data
from otelsvc._values import count_skipped

__all__ = ["DirectPushReader"]

_live: weakref.WeakSet[DirectPushReader] = weakref.WeakSet()


class DirectPushReader(PeriodicExportingMetricReader):
    """The SDK's periodic exporting reader, exporting ``PushBatch`` es (see the module docstring)."""

    def __init__(self, exporter: MetricExporter, bridge: Bridge, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self._bridge = bridge
        bridge.direct_readers.add(self)
        self._encoder = HandleSeriesEncoder(bridge, self)
        # One collection at a time: each reads the delta state the previous one committed.
        self._batch_lock = threading.Lock()
        self._received = threading.local()
        _live.add(self)

    # MetricReader.collect is marked final; overriding it is the one way to learn that the SDK had nothing.
    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]
        self._received.flag = False
        super().collect(timeout_millis=timeout_millis)
        if not self._received.flag and self._collect is not None:
            self._receive_metrics(MetricsData(resource_metrics=[]), timeout_millis=timeout_millis)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._received.flag = True
        bridge = self._bridge
        with self._batch_lock:
            data = bridge.sdk_data(metrics_data) or MetricsData(resource_metrics=[])
            clean, dropped = sanitize_data(data)
            if dropped:
                count_skipped(bridge, "otlp", dropped)
            assert clean is not None
            handles = self._encoder.collect(time.time_ns())
            if not clean.resource_metrics and not handles.metrics:
                return  # nothing at all (the SDK path makes no export then either)
            batch = PushBatch(resource_metrics=clean.resource_metrics, handles=handles, resource=bridge.resource)
            try:
                super()._receive_metrics(batch, timeout_millis=timeout_millis, **kwargs)
            finally:
                handles.release()  # a no-op when the exporter committed (delivered)


def _after_fork_in_child() -> None:
    """A collection running in another thread at fork time leaves its lock held in the child."""
    for reader in list(_live):
        reader._batch_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
