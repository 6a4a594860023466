"""Every otelsvc setting, declared once: keyword, variables, parser, default, secret flag and docs line.

The settings object (``otelsvc._config``), the environment reading, docs/configuration.md
(``otelsvc._config_docs``), ``otelsvc check`` and the config tests all read this table. Adding a
setting means adding a row here and a field on ``Settings`` (plus a parameter of ``start()`` when
it is a keyword); tests fail until those agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otelsvc import _config_parsers as p

__all__ = ["ROWS", "SECTIONS", "SIGNALS", "Row", "keywords", "row"]

SIGNALS = ("metrics", "traces", "logs")

SECTIONS = {
    "service": "Service and resource",
    "prometheus": "Prometheus endpoint and built-in server",
    "otlp": "OTLP push (per signal)",
    "metrics": "Metrics",
    "traces": "Traces",
    "logs": "Logs",
    "instrumentation": "Auto-instrumentation",
}


@dataclass(frozen=True)
class Row:
    """One setting.

    ``variables`` are read in order after the keyword; ``{SIGNAL}`` in a name stands for METRICS,
    TRACES or LOGS (``per_signal`` rows resolve once per signal, the shared variable parsed once).
    ``parse`` reads keywords and ``OTELSVC_*`` values (strict); ``env_parse`` reads standard
    ``OTEL_*`` values when their form differs (milliseconds, spec booleans).
    """

    name: str
    section: str
    parse: p.Parser
    default: Any
    doc: str
    keyword: bool = False
    variables: tuple[str, ...] = ()
    env_parse: p.Parser | None = None
    secret: bool = False
    per_signal: bool = False
    field: bool = True
    default_text: str | None = None
    blank_is_set: bool = False

    def variables_for(self, signal: str | None) -> tuple[str, ...]:
        """The variable names for one signal (per-signal rows) or as declared."""
        if signal is None:
            return self.variables
        return tuple(v.replace("{SIGNAL}", signal.upper()) for v in self.variables)

    def parser_for(self, variable: str) -> p.Parser:
        """The parser for a value of ``variable`` (``OTELSVC_*`` values are read like keywords)."""
        if variable.startswith("OTEL_") and self.env_parse is not None:
            return self.env_parse
        return self.parse


def _otlp(name: str, parse: p.Parser, default: Any, doc: str, **kw: Any) -> Row:
    variable = name.upper()
    return Row(
        f"otlp_{name}",
        "otlp",
        parse,
        default,
        doc,
        per_signal=True,
        field=False,
        variables=(f"OTEL_EXPORTER_OTLP_{{SIGNAL}}_{variable}", f"OTEL_EXPORTER_OTLP_{variable}"),
        **kw,
    )


_ms_timeout = p.millis(zero_is_no_limit=True)
_ms_delay = p.millis(zero_is_no_limit=False)

ROWS: tuple[Row, ...] = (
    # -- service and resource
    Row(
        "service_name",
        "service",
        p.any_text,
        "unknown_service",
        "`service.name`; unset, the `service.name` of the resource attributes, else `unknown_service`",
        keyword=True,
        variables=("OTELSVC_SERVICE_NAME", "OTEL_SERVICE_NAME"),
    ),
    Row(
        "service_version",
        "service",
        p.optional_text,
        None,
        "`service.version`",
        keyword=True,
        variables=("OTELSVC_SERVICE_VERSION",),
        default_text="none",
    ),
    Row(
        "resource_attributes",
        "service",
        p.attributes,
        {},
        "resource attributes; the keyword and the variable are merged, the keyword winning per key",
        keyword=True,
        variables=("OTEL_RESOURCE_ATTRIBUTES",),
        default_text="`{}`",
    ),
    Row(
        "sdk_disabled",
        "service",
        p.otel_bool,
        False,
        "no threads, no sockets, no-op telemetry (settings are still validated)",
        variables=("OTEL_SDK_DISABLED",),
    ),
    Row(
        "set_global",
        "service",
        p.strict_bool,
        True,
        "become the global meter and tracer provider (a second guard logs that it cannot and still works)",
        keyword=True,
    ),
    Row(
        "shutdown_timeout",
        "service",
        p.seconds,
        5.0,
        "bound of `shutdown()` and `force_flush()`, whatever the export timeouts",
        keyword=True,
        variables=("OTELSVC_SHUTDOWN_TIMEOUT",),
        default_text="5 s",
    ),
    # -- Prometheus endpoint and built-in server
    Row(
        "prometheus",
        "prometheus",
        p.address,
        ("127.0.0.1", 9464),
        "scrape endpoint address; unset, `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT` apply",
        keyword=True,
        variables=("OTELSVC_PROMETHEUS",),
        default_text='`"127.0.0.1:9464"`',
    ),
    Row(
        "prometheus_host",
        "prometheus",
        p.any_text,
        "127.0.0.1",
        "scrape endpoint host",
        variables=("OTEL_EXPORTER_PROMETHEUS_HOST",),
        field=False,
    ),
    Row(
        "prometheus_port",
        "prometheus",
        p.port,
        9464,
        "scrape endpoint port",
        variables=("OTEL_EXPORTER_PROMETHEUS_PORT",),
        field=False,
    ),
    Row(
        "metrics_token",
        "prometheus",
        p.token,
        None,
        "bearer token required on `/metrics`; set but empty is an error",
        keyword=True,
        variables=("OTELSVC_METRICS_TOKEN",),
        secret=True,
        blank_is_set=True,
        default_text="none (no auth)",
    ),
    Row(
        "builtin_server",
        "prometheus",
        p.strict_bool,
        True,
        "serve the endpoint from otelsvc's own server (off: mount the ASGI/WSGI app yourself)",
        keyword=True,
        variables=("OTELSVC_BUILTIN_SERVER",),
    ),
    Row(
        "tls_certfile",
        "prometheus",
        p.existing_file,
        None,
        "serve HTTPS with this certificate (with `tls_keyfile`)",
        keyword=True,
        variables=("OTELSVC_TLS_CERTFILE",),
        default_text="none (plain HTTP)",
    ),
    Row(
        "tls_keyfile",
        "prometheus",
        p.existing_file,
        None,
        "the private key of `tls_certfile`",
        keyword=True,
        variables=("OTELSVC_TLS_KEYFILE",),
        default_text="none",
    ),
    Row(
        "max_connections",
        "prometheus",
        p.positive_int,
        64,
        "connections served at once",
        keyword=True,
        variables=("OTELSVC_MAX_CONNECTIONS",),
    ),
    Row(
        "max_header_bytes",
        "prometheus",
        p.positive_int,
        16384,
        "largest request head accepted",
        keyword=True,
        variables=("OTELSVC_MAX_HEADER_BYTES",),
    ),
    Row(
        "prometheus_scope_info",
        "prometheus",
        p.strict_bool,
        True,
        "`otel_scope_*` labels on every series (the upstream exporter's `scope_info_enabled`); off, series of "
        "one name from several scopes share the family and, of equal label sets, the first is kept",
        keyword=True,
        variables=("OTELSVC_PROMETHEUS_SCOPE_INFO",),
    ),
    Row(
        "read_timeout",
        "prometheus",
        p.seconds,
        10.0,
        "time a client has to send its request",
        keyword=True,
        variables=("OTELSVC_READ_TIMEOUT",),
        default_text="10 s",
    ),
    # -- OTLP push, resolved per signal: per-signal variable, then the shared one, then the default
    _otlp(
        "endpoint",
        p.endpoint,
        None,
        "collector URL; from the shared variable or the keyword, http/protobuf gets `/v1/<signal>` appended",
        keyword=True,
        default_text="none (no push)",
    ),
    _otlp("protocol", p.choice(("grpc", "http/protobuf")), "grpc", "OTLP transport", keyword=True),
    _otlp("headers", p.headers, {}, "headers sent with every export", keyword=True, secret=True, default_text="`{}`"),
    _otlp("timeout", _ms_timeout, 10.0, "time one export may take (passed to every exporter)", default_text="10000 ms"),
    _otlp(
        "compression",
        p.choice(("gzip", "deflate", "none")),
        "none",
        "payload compression (`deflate` only over http/protobuf)",
    ),
    _otlp(
        "insecure", p.otel_bool, None, "gRPC without TLS; unset, decided by the URL scheme", default_text="by scheme"
    ),
    _otlp("certificate", p.existing_file, None, "CA bundle trusted for the collector", default_text="none"),
    _otlp("client_key", p.existing_file, None, "client key for mutual TLS", default_text="none"),
    _otlp("client_certificate", p.existing_file, None, "client certificate for mutual TLS", default_text="none"),
    # -- metrics
    Row(
        "metrics_exporters",
        "metrics",
        p.choices(("otlp", "prometheus", "console", "none")),
        ("otlp",),
        "`otlp` pushes when an endpoint is set; `console` prints to stdout; `none` turns the push off "
        "(the scrape endpoint follows `prometheus`)",
        variables=("OTEL_METRICS_EXPORTER",),
        default_text="`otlp`",
    ),
    Row(
        "export_interval",
        "metrics",
        p.seconds,
        10.0,
        "time between OTLP (and console) pushes",
        keyword=True,
        variables=("OTEL_METRIC_EXPORT_INTERVAL",),
        env_parse=_ms_delay,
        default_text="10 s (variable in ms)",
    ),
    Row(
        "export_timeout",
        "metrics",
        _ms_timeout,
        30.0,
        "time one metrics collection and push may take",
        variables=("OTEL_METRIC_EXPORT_TIMEOUT",),
        default_text="30000 ms",
    ),
    Row(
        "temporality",
        "metrics",
        p.choice(("cumulative", "delta", "lowmemory")),
        "cumulative",
        "OTLP temporality preference",
        variables=("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",),
    ),
    Row(
        "otlp_histogram_aggregation",
        "metrics",
        p.choice(
            ("explicit", "exponential"),
            {"explicit_bucket_histogram": "explicit", "base2_exponential_bucket_histogram": "exponential"},
        ),
        "explicit",
        "histogram aggregation of the OTLP push (the scrape keeps explicit buckets)",
        keyword=True,
        variables=("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",),
    ),
    Row(
        "exemplar_filter",
        "metrics",
        p.choice(("trace_based", "always_on", "always_off")),
        "trace_based",
        "which measurements become exemplars (SDK instruments and handle counters and histograms; shown in "
        "OpenMetrics scrapes and pushed in OTLP)",
        variables=("OTEL_METRICS_EXEMPLAR_FILTER",),
    ),
    Row(
        "cardinality_limit",
        "metrics",
        p.positive_int,
        2000,
        "series per metric stream",
        keyword=True,
        variables=("OTELSVC_CARDINALITY_LIMIT",),
    ),
    Row(
        "api_fast_path",
        "metrics",
        p.strict_bool,
        True,
        "synchronous instruments of the OTel API (guard meters, the global provider) record into handles, with "
        "the SDK's output; off, every instrument records through the SDK (docs/performance.md)",
        variables=("OTELSVC_API_FAST_PATH",),
    ),
    Row(
        "namespace",
        "metrics",
        p.namespace,
        None,
        "prefix of the domain families",
        keyword=True,
        variables=("OTELSVC_NAMESPACE",),
        default_text="none",
    ),
    Row(
        "runtime_metrics",
        "metrics",
        p.strict_bool,
        True,
        "process CPU, memory, fds, threads, GC and Python version",
        keyword=True,
        variables=("OTELSVC_RUNTIME_METRICS",),
    ),
    # -- traces
    Row(
        "traces_exporters",
        "traces",
        p.choices(("otlp", "console", "none")),
        ("otlp",),
        "`otlp` pushes when an endpoint is set; `console` prints to stdout; `none` turns spans off",
        variables=("OTEL_TRACES_EXPORTER",),
        default_text="`otlp`",
    ),
    Row(
        "sampler",
        "traces",
        p.choice(
            (
                "always_on",
                "always_off",
                "traceidratio",
                "parentbased_always_on",
                "parentbased_always_off",
                "parentbased_traceidratio",
            )
        ),
        "parentbased_always_on",
        "sampler",
        variables=("OTEL_TRACES_SAMPLER",),
    ),
    Row(
        "sampler_arg",
        "traces",
        p.ratio,
        None,
        "ratio of the `traceidratio` samplers",
        variables=("OTEL_TRACES_SAMPLER_ARG",),
        default_text="1.0",
    ),
    Row(
        "propagators",
        "traces",
        p.propagators,
        None,
        "context propagators, checked against those installed; otelsvc sets none itself: the OTel API applies "
        "this variable when `opentelemetry.propagate` is imported (and raises there on an unknown name)",
        variables=("OTEL_PROPAGATORS",),
        default_text="the SDK's (`tracecontext,baggage`)",
    ),
    Row(
        "bsp_schedule_delay",
        "traces",
        _ms_delay,
        5.0,
        "time between span exports",
        variables=("OTEL_BSP_SCHEDULE_DELAY",),
        default_text="5000 ms",
    ),
    Row(
        "bsp_export_timeout",
        "traces",
        _ms_timeout,
        30.0,
        "time one span export may take",
        variables=("OTEL_BSP_EXPORT_TIMEOUT",),
        default_text="30000 ms",
    ),
    Row(
        "bsp_max_queue_size",
        "traces",
        p.positive_int,
        2048,
        "spans queued for export",
        variables=("OTEL_BSP_MAX_QUEUE_SIZE",),
    ),
    Row(
        "bsp_max_export_batch_size",
        "traces",
        p.positive_int,
        512,
        "spans per export (at most the queue size)",
        variables=("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",),
    ),
    Row(
        "span_buffer_size",
        "traces",
        p.positive_int,
        2048,
        "spans kept for retry while the collector is away",
        keyword=True,
        variables=("OTELSVC_SPAN_BUFFER_SIZE",),
    ),
    # -- span limits: passed to the SDK explicitly (it raises on a value it cannot parse)
    Row(
        "attribute_count_limit",
        "traces",
        p.count,
        128,
        "attributes per span, event and link unless a specific limit is set",
        variables=("OTEL_ATTRIBUTE_COUNT_LIMIT",),
    ),
    Row(
        "attribute_value_length_limit",
        "traces",
        p.count,
        None,
        "longest attribute value (longer ones are cut)",
        variables=("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",),
        default_text="no limit",
    ),
    Row(
        "span_attribute_count_limit",
        "traces",
        p.count,
        None,
        "attributes per span",
        variables=("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_COUNT_LIMIT`",
    ),
    Row(
        "span_attribute_value_length_limit",
        "traces",
        p.count,
        None,
        "longest span attribute value",
        variables=("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`",
    ),
    Row(
        "span_event_count_limit",
        "traces",
        p.count,
        128,
        "events per span",
        variables=("OTEL_SPAN_EVENT_COUNT_LIMIT",),
    ),
    Row(
        "span_link_count_limit",
        "traces",
        p.count,
        128,
        "links per span",
        variables=("OTEL_SPAN_LINK_COUNT_LIMIT",),
    ),
    Row(
        "event_attribute_count_limit",
        "traces",
        p.count,
        None,
        "attributes per span event",
        variables=("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_COUNT_LIMIT`",
    ),
    Row(
        "link_attribute_count_limit",
        "traces",
        p.count,
        None,
        "attributes per span link",
        variables=("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_COUNT_LIMIT`",
    ),
    # -- logs
    Row(
        "log_bridge",
        "logs",
        p.strict_bool,
        True,
        "send stdlib `logging` records (level, logger, exception, trace and span ids) to the logs push; "
        "otelsvc's and the SDK's own lines never",
        keyword=True,
        variables=("OTELSVC_LOG_BRIDGE",),
    ),
    Row(
        "log_buffer_size",
        "logs",
        p.positive_int,
        2048,
        "log records kept for retry while the collector is away",
        keyword=True,
        variables=("OTELSVC_LOG_BUFFER_SIZE",),
    ),
    Row(
        "logs_exporters",
        "logs",
        p.choices(("otlp", "console", "none")),
        ("otlp",),
        "log record exporters",
        variables=("OTEL_LOGS_EXPORTER",),
        default_text="`otlp`",
    ),
    Row(
        "logrecord_attribute_count_limit",
        "logs",
        p.count,
        None,
        "attributes per log record",
        variables=("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_COUNT_LIMIT`",
    ),
    Row(
        "logrecord_attribute_value_length_limit",
        "logs",
        p.count,
        None,
        "longest log record attribute value",
        variables=("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",),
        default_text="`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`",
    ),
    Row(
        "blrp_schedule_delay",
        "logs",
        _ms_delay,
        1.0,
        "time between log exports",
        variables=("OTEL_BLRP_SCHEDULE_DELAY",),
        default_text="1000 ms",
    ),
    Row(
        "blrp_export_timeout",
        "logs",
        _ms_timeout,
        30.0,
        "time one log export may take",
        variables=("OTEL_BLRP_EXPORT_TIMEOUT",),
        default_text="30000 ms",
    ),
    Row(
        "blrp_max_queue_size",
        "logs",
        p.positive_int,
        2048,
        "log records queued for export",
        variables=("OTEL_BLRP_MAX_QUEUE_SIZE",),
    ),
    Row(
        "blrp_max_export_batch_size",
        "logs",
        p.positive_int,
        512,
        "log records per export (at most the queue size)",
        variables=("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",),
    ),
    # -- auto-instrumentation
    Row(
        "instrument",
        "instrumentation",
        p.instrumentors,
        (),
        "installed OTel instrumentors to activate against the guard's providers (`all`: every installed one "
        "but server frameworks, which the middleware covers); undone at shutdown",
        keyword=True,
        variables=("OTELSVC_INSTRUMENT",),
        default_text="none",
    ),
)

_BY_NAME = {r.name: r for r in ROWS}


def row(name: str) -> Row:
    """The row of setting ``name``."""
    return _BY_NAME[name]


def keywords() -> tuple[str, ...]:
    """Every keyword ``start()`` accepts, in table order."""
    return tuple(r.name for r in ROWS if r.keyword)
