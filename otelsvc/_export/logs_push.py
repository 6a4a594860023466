"""The logs push pipeline: the SDK's batch log processor exporting to OTLP through a retry buffer."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from otelsvc._config import Settings
from otelsvc._export.buffered_push import BufferedPush
from otelsvc._export.exporters import build_log_exporter, log_push_proxy
from otelsvc._export.pipeline import Signal
from otelsvc._serving.health import ExporterHealth

__all__ = ["LogsPush"]


class LogsPush(BufferedPush):
    """Log records pushed over OTLP in batches, kept in a bounded buffer while the collector is away."""

    signal: Signal = "logs"

    def __init__(self, settings: Settings) -> None:
        sig = settings.otlp_logs
        assert sig is not None
        component = f"log export (OTLP {sig.protocol})"
        proxy = log_push_proxy(
            lambda: build_log_exporter(sig),
            component,
            ExporterHealth(self.signal, sig.endpoint),
            settings.log_buffer_size,
            retry_delay=settings.blrp_schedule_delay,
        )
        super().__init__(settings, sig, component, proxy)

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
        self.count_drops(
            meter_provider,
            "otelsvc.logs.dropped",
            "{record}",
            "Log records dropped because the collector was away longer than the retry buffer holds",
        )
