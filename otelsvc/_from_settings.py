"""SDK pieces built straight from settings: the console exporters and the exemplar filter.

Kept apart from the guard's pipelines so the guard only asks for them. Each is built from the
already-parsed settings, so the SDK never reads (and re-reports) the OTEL_* variables itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import ExemplarFilter
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor

    from otelsvc._config import Settings

__all__ = ["console_metric_reader", "console_span_processor", "exemplar_filter"]


def console_metric_reader(settings: Settings) -> MetricReader | None:
    """``OTEL_METRICS_EXPORTER=console``: a periodic reader printing to stdout at the export interval."""
    if "console" not in settings.metrics_exporters:
        return None
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    return PeriodicExportingMetricReader(
        ConsoleMetricExporter(),
        export_interval_millis=settings.export_interval * 1000,
        export_timeout_millis=settings.export_timeout * 1000,
    )


def console_span_processor(settings: Settings) -> SpanProcessor | None:
    """``OTEL_TRACES_EXPORTER=console``: a batch processor printing spans to stdout."""
    if "console" not in settings.traces_exporters:
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    return BatchSpanProcessor(
        ConsoleSpanExporter(),
        max_queue_size=settings.bsp_max_queue_size,
        schedule_delay_millis=settings.bsp_schedule_delay * 1000,
        max_export_batch_size=settings.bsp_max_export_batch_size,
        export_timeout_millis=settings.bsp_export_timeout * 1000,
    )


def exemplar_filter(settings: Settings) -> ExemplarFilter:
    """``OTEL_METRICS_EXEMPLAR_FILTER`` as parsed (the SDK would raise on a value it does not know)."""
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, AlwaysOnExemplarFilter, TraceBasedExemplarFilter

    filters = {"always_on": AlwaysOnExemplarFilter, "always_off": AlwaysOffExemplarFilter}
    return filters.get(settings.exemplar_filter, TraceBasedExemplarFilter)()
