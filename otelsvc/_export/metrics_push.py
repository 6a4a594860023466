"""The metrics push pipeline: a periodic reader exporting to OTLP through ``MetricPushProxy``.

Direct path (otelsvc's exporter): ``DirectPushReader``, handle series encoded straight to bytes.
Otherwise (an exporter from elsewhere): ``PushReader``, handle series as SDK data from the bridge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otelsvc._bridge import Bridge, BridgedReader
from otelsvc._config import Settings
from otelsvc._export.direct_push import DirectPushReader
from otelsvc._export.exporters import MetricPushProxy, build_metric_exporter, histogram_aggregation, temporalities
from otelsvc._export.otlp_metric_exporter import DirectMetricExporter
from otelsvc._export.pipeline import Signal
from otelsvc._kinds import DELTA_KINDS, KINDS
from otelsvc._sdk_internals import reader_limits
from otelsvc._serving.health import ExporterHealth

__all__ = ["MetricsPush", "PushReader", "kind_temporalities"]


class PushReader(BridgedReader, PeriodicExportingMetricReader):
    """The SDK's periodic exporting reader, able to add handle series itself (see ``BridgedReader``)."""


def kind_temporalities(preference: str) -> dict[str, AggregationTemporality]:
    """The temporality each handle kind is pushed with, for an OTLP temporality preference."""
    delta = preference in ("delta", "lowmemory")
    return {
        kind: AggregationTemporality.DELTA if delta and kind in DELTA_KINDS else AggregationTemporality.CUMULATIVE
        for kind in KINDS
    }


class MetricsPush:
    """Metrics pushed over OTLP every ``export_interval`` seconds."""

    signal: Signal = "metrics"

    def __init__(self, settings: Settings, bridge: Bridge) -> None:
        sig = settings.otlp_metrics
        assert sig is not None
        self._sig = sig
        self.component = f"metrics push (OTLP {sig.protocol})"
        self.health = ExporterHealth(self.signal, sig.endpoint)
        self.proxy = MetricPushProxy(
            lambda: build_metric_exporter(sig, settings.temporality, settings.otlp_histogram_aggregation, True),
            self.component,
            self.health,
            temporalities(settings.temporality),
            histogram_aggregation(settings.otlp_histogram_aggregation),
        )
        from otelsvc._export.delta_carry import carry_failed_deltas
        from otelsvc._process_hooks import QuietChildExporter

        # Failed deltas carried to the next push; an idle forked child sends nothing (see both modules).
        exporter = QuietChildExporter(carry_failed_deltas(self.proxy, settings.temporality))
        options: dict[str, Any] = {
            "export_interval_millis": settings.export_interval * 1000,
            "export_timeout_millis": settings.export_timeout * 1000,
            **reader_limits(settings.cardinality_limit),
        }
        # otelsvc's exporter takes handle series encoded straight to bytes (direct_push); any other
        # exporter gets them as SDK data through the bridge.
        self.direct = isinstance(self.proxy.inner, DirectMetricExporter)
        self.reader: PeriodicExportingMetricReader = (
            DirectPushReader(exporter, bridge, **options) if self.direct else PushReader(exporter, **options)
        )
        bridge.declare_temporality(self.reader, kind_temporalities(settings.temporality))

    def metric_readers(self) -> Sequence[MetricReader]:
        return (self.reader,)

    def attach(self, meter_provider: MeterProvider, tracer_provider: TracerProvider, logger_provider: Any) -> None:
        pass

    def metadata(self) -> dict[str, Any]:
        return {"endpoint": self.health.endpoint, "protocol": self._sig.protocol}  # the endpoint redacted

    def pending(self) -> int:
        return 0

    def abort(self) -> None:
        self.proxy.abort()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.proxy.wait_idle(timeout)

    def after_fork(self, resource: Resource | None) -> None:
        self.health = ExporterHealth(self.signal, self._sig.endpoint)
        self.proxy.renew(self.health)
