"""The logs push pipeline: the SDK's batch log processor exporting to OTLP through a retry buffer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otelsvc._config import Settings
from otelsvc._exporters import build_log_exporter, log_push_proxy
from otelsvc._health import ExporterHealth
from otelsvc._pipeline import Signal
from otelsvc._version import __version__

__all__ = ["LogsPush"]


class LogsPush:
    """Log records pushed over OTLP in batches, kept in a bounded buffer while the collector is away."""

    signal: Signal = "logs"

    def __init__(self, settings: Settings) -> None:
        sig = settings.otlp_logs
        assert sig is not None
        self._sig = sig
        self._settings = settings
        self.component = f"log export (OTLP {sig.protocol})"
        self.health = ExporterHealth(self.signal, sig.endpoint)
        self.proxy = log_push_proxy(lambda: build_log_exporter(sig), self.component, self.health,
                                    settings.log_buffer_size, retry_delay=settings.blrp_schedule_delay)

    def metric_readers(self) -> Sequence[MetricReader]:
        return ()

    def attach(self, meter_provider: MeterProvider, tracer_provider: TracerProvider, logger_provider: Any) -> None:
        if logger_provider is None:
            return
        from otelsvc._sdk_internals import logs_sdk

        s = self._settings
        logger_provider.add_log_record_processor(
            logs_sdk().BatchLogRecordProcessor(
                self.proxy,
                max_queue_size=s.blrp_max_queue_size,
                schedule_delay_millis=s.blrp_schedule_delay * 1000,
                max_export_batch_size=s.blrp_max_export_batch_size,
                export_timeout_millis=s.blrp_export_timeout * 1000,
            )
        )

        def observe(options: CallbackOptions) -> list[Observation]:
            return [Observation(self.health.dropped)]

        meter_provider.get_meter("otelsvc", __version__).create_observable_counter(
            "otelsvc.logs.dropped", [observe], unit="{record}",
            description="Log records dropped because the collector was away longer than the retry buffer holds",
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
