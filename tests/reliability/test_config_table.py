"""Every setting otelsvc reads, given a bad value, raises ConfigError naming it (secrets redacted)."""

from __future__ import annotations

import pytest

from otelsvc import ConfigError
from otelsvc._config import load_settings

# (keyword or None, variable or None, bad value, secret)
CASES: list[tuple[str | None, str | None, object, bool]] = [
    # blank variables count as unset (the OTel convention), so only the keywords can be blank
    ("service_name", None, "   ", False),
    ("service_version", None, " ", False),
    ("resource_attributes", "OTEL_RESOURCE_ATTRIBUTES", "novalue", False),
    ("prometheus", "OTELSVC_PROMETHEUS", "localhost:99999", False),
    (None, "OTEL_EXPORTER_PROMETHEUS_PORT", "http", False),
    ("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://x", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "nohost", False),
    ("otlp_protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "udp", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "udp", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp", False),
    ("otlp_headers", "OTEL_EXPORTER_OTLP_HEADERS", "SECRETKEY", True),
    (None, "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "SECRETKEY", True),
    (None, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "SECRETKEY", True),
    ("export_interval", "OTEL_METRIC_EXPORT_INTERVAL", "-1", False),
    (None, "OTEL_METRIC_EXPORT_TIMEOUT", "soon", False),
    ("metrics_token", "OTELSVC_METRICS_TOKEN", "", True),
    ("shutdown_timeout", "OTELSVC_SHUTDOWN_TIMEOUT", "0", False),
    ("cardinality_limit", "OTELSVC_CARDINALITY_LIMIT", "1.5", False),
    ("namespace", "OTELSVC_NAMESPACE", "9lives", False),
    ("set_global", None, "maybe", False),
    ("runtime_metrics", "OTELSVC_RUNTIME_METRICS", "perhaps", False),
    ("builtin_server", "OTELSVC_BUILTIN_SERVER", "perhaps", False),
    ("tls_certfile", "OTELSVC_TLS_CERTFILE", "/no/such/cert.pem", False),
    ("tls_keyfile", "OTELSVC_TLS_KEYFILE", "/no/such/key.pem", False),
    ("max_connections", "OTELSVC_MAX_CONNECTIONS", "0", False),
    ("max_header_bytes", "OTELSVC_MAX_HEADER_BYTES", "-5", False),
    ("read_timeout", "OTELSVC_READ_TIMEOUT", "nan", False),
    ("span_buffer_size", "OTELSVC_SPAN_BUFFER_SIZE", "lots", False),
    ("otlp_histogram_aggregation", "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "sketchy", False),
    (None, "OTEL_SDK_DISABLED", "kinda", False),
    (None, "OTEL_METRICS_EXPORTER", "zipkin", False),
    (None, "OTEL_TRACES_EXPORTER", "carrier", False),
    (None, "OTEL_TRACES_SAMPLER", "sometimes", False),
    (None, "OTEL_TRACES_SAMPLER_ARG", "2", False),
    (None, "OTEL_PROPAGATORS", "tracecontext,nosuchthing", False),
    (None, "OTEL_EXPORTER_OTLP_TIMEOUT", "-3", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "x", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "x", False),
    (None, "OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli", False),
    (None, "OTEL_EXPORTER_OTLP_INSECURE", "sorta", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "sorta", False),
    (None, "OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem", False),
    (None, "OTEL_EXPORTER_OTLP_CLIENT_KEY", "/no/such/key.pem", False),
    (None, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/no/such/cert.pem", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sideways", False),
    (None, "OTEL_BSP_SCHEDULE_DELAY", "x", False),
    (None, "OTEL_BSP_EXPORT_TIMEOUT", "-1", False),
    (None, "OTEL_BSP_MAX_QUEUE_SIZE", "0", False),
    (None, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "x", False),
]


def _check(source: str, value: object, secret: bool, kwargs: dict[str, object], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(kwargs, env=env)
    message = str(info.value)
    assert f"{source}=" in message, message
    names = [p.source for p in info.value.problems]
    assert source in names
    if secret:
        assert f"{source}=<redacted>" in message
        assert "SECRETKEY" not in message
    else:
        assert repr(str(value)) in message


@pytest.mark.parametrize(("keyword", "variable", "value", "secret"),
                         [c for c in CASES if c[1] is not None], ids=lambda v: str(v))
def test_bad_variable_is_named(keyword: str | None, variable: str, value: object, secret: bool) -> None:
    env = {variable: str(value)}
    if variable.startswith("OTEL_EXPORTER_OTLP_") and "ENDPOINT" not in variable:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4317"
    _check(variable, value, secret, {}, env)


@pytest.mark.parametrize(("keyword", "variable", "value", "secret"),
                         [c for c in CASES if c[0] is not None], ids=lambda v: str(v))
def test_bad_keyword_is_named(keyword: str, variable: str | None, value: object, secret: bool) -> None:
    kwargs: dict[str, object] = {keyword: value}
    if keyword == "otlp_headers":
        kwargs[keyword] = "SECRETKEY"
    _check(keyword, value, secret, kwargs, {})


def test_all_bad_at_once_are_all_listed() -> None:
    env = {variable: str(value) for _, variable, value, _ in CASES
           if variable is not None}
    with pytest.raises(ConfigError) as info:
        load_settings({}, env=env)
    listed = {p.source for p in info.value.problems}
    assert len(listed) >= 35, sorted(listed)
    assert "SECRETKEY" not in str(info.value)
