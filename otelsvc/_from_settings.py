"""SDK pieces built straight from settings: the console exporters and the exemplar filter.

Kept apart from the guard's pipelines so the guard only asks for them. Each is built from the
already-parsed settings, so the SDK never reads (and re-reports) the OTEL_* variables itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import ExemplarFilter
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanLimits, SpanProcessor

    from otelsvc._config import Settings

__all__ = ["console_log_processor", "console_metric_reader", "console_span_processor", "exemplar_filter",
           "span_limits"]


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


def console_log_processor(settings: Settings) -> Any:
    """``OTEL_LOGS_EXPORTER=console``: a batch processor printing log records to stdout."""
    if "console" not in settings.logs_exporters:
        return None
    from otelsvc._sdk_internals import logs_sdk

    sdk = logs_sdk()
    return sdk.BatchLogRecordProcessor(
        sdk.ConsoleLogRecordExporter(),
        max_queue_size=settings.blrp_max_queue_size,
        schedule_delay_millis=settings.blrp_schedule_delay * 1000,
        max_export_batch_size=settings.blrp_max_export_batch_size,
        export_timeout_millis=settings.blrp_export_timeout * 1000,
    )


def exemplar_filter(settings: Settings) -> ExemplarFilter:
    """``OTEL_METRICS_EXEMPLAR_FILTER`` as parsed (the SDK would raise on a value it does not know)."""
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, AlwaysOnExemplarFilter, TraceBasedExemplarFilter

    filters = {"always_on": AlwaysOnExemplarFilter, "always_off": AlwaysOffExemplarFilter}
    return filters.get(settings.exemplar_filter, TraceBasedExemplarFilter)()


def span_limits(settings: Settings) -> SpanLimits:
    """The ``OTEL_*_LIMIT`` variables as parsed, every limit given (an unset one makes the SDK read, and
    raise on, the variable itself); a specific limit falls back to the general attribute one."""
    from opentelemetry.sdk.trace import SpanLimits

    count = settings.attribute_count_limit
    length = settings.attribute_value_length_limit
    span_length = settings.span_attribute_value_length_limit
    return SpanLimits(
        max_attributes=count,
        max_events=settings.span_event_count_limit,
        max_links=settings.span_link_count_limit,
        max_span_attributes=count
        if settings.span_attribute_count_limit is None
        else settings.span_attribute_count_limit,
        max_event_attributes=count
        if settings.event_attribute_count_limit is None
        else settings.event_attribute_count_limit,
        max_link_attributes=count
        if settings.link_attribute_count_limit is None
        else settings.link_attribute_count_limit,
        max_attribute_length=SpanLimits.UNSET if length is None else length,
        max_span_attribute_length=(
            span_length if span_length is not None else SpanLimits.UNSET if length is None else length
        ),
    )
