"""The spans push pipeline: the SDK's batch processor exporting to OTLP through ``SpanPushProxy``."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otelsvc._config import Settings
from otelsvc._export.buffered_push import BufferedPush
from otelsvc._export.exporters import SpanPushProxy, build_span_exporter
from otelsvc._export.pipeline import Signal
from otelsvc._serving.health import ExporterHealth

__all__ = ["SpansPush"]


class SpansPush(BufferedPush):
    """Spans pushed over OTLP in batches, with a bounded retry buffer."""

    signal: Signal = "spans"

    def __init__(self, settings: Settings) -> None:
        sig = settings.otlp_traces
        assert sig is not None
        component = f"span export (OTLP {sig.protocol})"
        self.span_proxy = SpanPushProxy(
            lambda: build_span_exporter(sig),
            component,
            ExporterHealth(self.signal, sig.endpoint),
            settings.span_buffer_size,
            retry_delay=settings.bsp_schedule_delay,
        )
        super().__init__(settings, sig, component, self.span_proxy)

    def attach(self, meter_provider: MeterProvider, tracer_provider: TracerProvider, logger_provider: Any) -> None:
        s = self._settings
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                self.span_proxy,
                max_queue_size=s.bsp_max_queue_size,
                schedule_delay_millis=s.bsp_schedule_delay * 1000,
                max_export_batch_size=s.bsp_max_export_batch_size,
                export_timeout_millis=s.bsp_export_timeout * 1000,
            )
        )
        self.count_drops(
            meter_provider,
            "otelsvc.spans.dropped",
            "{span}",
            "Spans dropped because the collector was away longer than the retry buffer holds",
        )

    def after_fork(self, resource: Resource | None) -> None:
        super().after_fork(resource)
        self.span_proxy.resource = resource
