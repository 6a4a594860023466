"""The spans push pipeline: the SDK's batch processor exporting to OTLP through ``SpanPushProxy``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otelsvc._config import Settings
from otelsvc._exporters import SpanPushProxy, build_span_exporter
from otelsvc._health import ExporterHealth
from otelsvc._pipeline import Signal
from otelsvc._version import __version__

__all__ = ["SpansPush"]


class SpansPush:
    """Spans pushed over OTLP in batches, with a bounded retry buffer."""

    signal: Signal = "spans"

    def __init__(self, settings: Settings) -> None:
        sig = settings.otlp_traces
        assert sig is not None
        self._sig = sig
        self._settings = settings
        self.component = f"span export (OTLP {sig.protocol})"
        self.health = ExporterHealth(self.signal, sig.endpoint)
        self.proxy = SpanPushProxy(lambda: build_span_exporter(sig), self.component, self.health,
                                   settings.span_buffer_size, retry_delay=settings.bsp_schedule_delay)

    def metric_readers(self) -> Sequence[MetricReader]:
        return ()

    def attach(self, meter_provider: MeterProvider, tracer_provider: TracerProvider, logger_provider: Any) -> None:
        s = self._settings
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                self.proxy,
                max_queue_size=s.bsp_max_queue_size,
                schedule_delay_millis=s.bsp_schedule_delay * 1000,
                max_export_batch_size=s.bsp_max_export_batch_size,
                export_timeout_millis=s.bsp_export_timeout * 1000,
            )
        )

        def observe(options: CallbackOptions) -> list[Observation]:
            return [Observation(self.health.dropped)]

        meter_provider.get_meter("otelsvc", __version__).create_observable_counter(
            "otelsvc.spans.dropped", [observe], unit="{span}",
            description="Spans dropped because the collector was away longer than the retry buffer holds",
        )

    def metadata(self) -> dict[str, Any]:
        return {"endpoint": self.health.endpoint, "protocol": self._sig.protocol}  # the endpoint redacted

    def pending(self) -> int:
        return self.proxy.pending()

    def abort(self) -> None:
        self.proxy.abort()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.proxy.wait_idle(timeout)

    def after_fork(self, resource: Resource | None) -> None:
        self.health = ExporterHealth(self.signal, self._sig.endpoint)
        self.proxy.renew(self.health)
        self.proxy.resource = resource
