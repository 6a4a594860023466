"""Every setting otelsvc reads, given a bad value, raises ConfigError naming it (secrets redacted).

The table is checked against what ``load_settings`` actually reads: every environment variable it
looks up and every keyword it accepts must have a row (or be listed as taking any non-blank text),
so a new setting without a row fails here."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import otelsvc
from otelsvc import ConfigError
from otelsvc._config import Settings, load_settings

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
    ("metrics_token", None, 12345, True),
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
    (None, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli", False),
    (None, "OTEL_EXPORTER_OTLP_INSECURE", "sorta", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_INSECURE", "sorta", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "sorta", False),
    (None, "OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem", False),
    (None, "OTEL_EXPORTER_OTLP_CLIENT_KEY", "/no/such/key.pem", False),
    (None, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/no/such/cert.pem", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/no/such/ca.pem", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "/no/such/key.pem", False),
    (None, "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "/no/such/cert.pem", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/no/such/ca.pem", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/no/such/key.pem", False),
    (None, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/no/such/cert.pem", False),
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
    # a per-signal variable shadows the generic one, OTELSVC_PROMETHEUS the host/port pair
    assert len(listed) >= 45 and listed <= {variable for _, variable, _, _ in CASES if variable}, sorted(listed)
    assert "SECRETKEY" not in str(info.value)


# Read, but any non-blank text is a valid value (blank counts as unset): no bad value exists.
ANY_TEXT = {"OTELSVC_SERVICE_NAME", "OTEL_SERVICE_NAME", "OTELSVC_SERVICE_VERSION", "OTEL_EXPORTER_PROMETHEUS_HOST"}


class _RecordingEnv(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self._values

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_table_covers_every_variable_read() -> None:
    env = _RecordingEnv({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    load_settings({}, env=env)
    tabled = {variable for _, variable, _, _ in CASES if variable is not None}
    assert env.read - tabled - ANY_TEXT == set(), "variables read with no bad-value row"
    assert len(env.read) >= 60


def test_table_covers_every_keyword_accepted() -> None:
    accepted = set()
    for name in [*Settings.__dataclass_fields__, "otlp_endpoint", "otlp_protocol", "otlp_headers"]:
        try:
            load_settings({name: object()}, env={})
        except ConfigError as exc:
            if "is not an otelsvc setting" in str(exc):
                continue
        accepted.add(name)
    tabled = {keyword for keyword, _, _, _ in CASES if keyword is not None}
    assert accepted - tabled == set(), "keywords accepted with no bad-value row"


@pytest.mark.parametrize("variable", sorted(ANY_TEXT))
def test_blank_text_variables_count_as_unset(variable: str) -> None:
    settings = load_settings({}, env={variable: "  "})
    assert settings == load_settings({}, env={})


@pytest.mark.parametrize(("kwargs", "env", "source"), [
    ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4317", "OTEL_EXPORTER_OTLP_COMPRESSION": "deflate"},
     "OTEL_EXPORTER_OTLP_COMPRESSION"),
    ({}, {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"}, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
    ({"tls_certfile": __file__}, {}, "tls_certfile"),
    ({"export_timeout": 5}, {}, "export_timeout"),  # environment-only settings are not keywords
    ({"sampler": "always_on"}, {}, "sampler"),
    ({"metrics_tokn": "SECRETKEY"}, {}, "metrics_tokn"),  # a misspelt secret is named, never shown
], ids=["deflate-over-grpc", "batch-over-queue", "cert-without-key", "env-only-keyword", "env-only-sampler",
        "unknown-keyword"])
def test_combinations_and_unknown_keywords(kwargs: dict[str, object], env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(kwargs, env=env)
    assert source in [p.source for p in info.value.problems]
    assert "SECRETKEY" not in str(info.value)


def test_validated_even_when_sdk_disabled_and_before_any_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTELSVC_CARDINALITY_LIMIT", "-1")
    threads = threading.active_count()
    with pytest.raises(ConfigError, match="OTELSVC_CARDINALITY_LIMIT"):
        otelsvc.start(metrics_token="", prometheus="127.0.0.1:0")
    assert threading.active_count() == threads


def test_bad_prometheus_host_variable_fails_start_naming_the_address(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """OTEL_EXPORTER_PROMETHEUS_HOST takes any text; a host that cannot be bound fails start()."""
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "256.0.0.1")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    with pytest.raises(ConfigError) as info:
        otelsvc.start(set_global=False)
    assert "256.0.0.1" in str(info.value) and "prometheus" in [p.source for p in info.value.problems]
