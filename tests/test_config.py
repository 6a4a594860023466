"""Settings precedence, parsing of the standard OTEL_* forms, and ConfigError contents."""

from __future__ import annotations

import pytest

from otelsvc import ConfigError
from otelsvc._config import load_settings


def test_defaults() -> None:
    s = load_settings({}, env={})
    assert s.service_name == "unknown_service"
    assert s.prometheus == ("127.0.0.1", 9464)
    assert s.otlp_metrics is None and s.otlp_traces is None
    assert s.export_interval == 10.0
    assert s.shutdown_timeout == 5.0
    assert s.cardinality_limit == 2000
    assert s.metrics_token is None
    assert s.set_global is True


def test_precedence_keyword_over_otelsvc_over_otel() -> None:
    env = {"OTELSVC_SERVICE_NAME": "from-otelsvc", "OTEL_SERVICE_NAME": "from-otel"}
    assert load_settings({}, env={"OTEL_SERVICE_NAME": "from-otel"}).service_name == "from-otel"
    assert load_settings({}, env=env).service_name == "from-otelsvc"
    assert load_settings({"service_name": "kw"}, env=env).service_name == "kw"


def test_prometheus_sources() -> None:
    assert load_settings({}, env={"OTELSVC_PROMETHEUS": "off"}).prometheus is None
    assert load_settings({}, env={"OTELSVC_PROMETHEUS": "[::1]:0"}).prometheus == ("::1", 0)
    env = {"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0", "OTEL_EXPORTER_PROMETHEUS_PORT": "9999"}
    assert load_settings({}, env=env).prometheus == ("0.0.0.0", 9999)
    assert load_settings({"prometheus": None}, env={"OTELSVC_PROMETHEUS": "1.2.3.4:5"}).prometheus is None


def test_otlp_endpoints_per_signal_and_http_paths() -> None:
    s = load_settings({"otlp_endpoint": "http://c:4318", "otlp_protocol": "http/protobuf"}, env={})
    assert s.otlp_metrics is not None and s.otlp_traces is not None
    assert s.otlp_metrics.endpoint == "http://c:4318/v1/metrics"
    assert s.otlp_traces.endpoint == "http://c:4318/v1/traces"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1234/custom",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    s = load_settings({}, env=env)
    assert s.otlp_metrics is not None and s.otlp_metrics.endpoint == "http://c:4317"
    assert s.otlp_metrics.protocol == "grpc"
    assert s.otlp_traces is not None and s.otlp_traces.endpoint == "http://t:1234/custom"
    assert s.otlp_traces.protocol == "http/protobuf"


def test_exporter_none_turns_a_signal_off() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_TRACES_EXPORTER": "none"}
    s = load_settings({}, env=env)
    assert s.otlp_metrics is not None and s.otlp_traces is None


def test_export_interval_env_is_milliseconds_keyword_is_seconds() -> None:
    assert load_settings({}, env={"OTEL_METRIC_EXPORT_INTERVAL": "2500"}).export_interval == 2.5
    assert load_settings({"export_interval": 3}, env={"OTEL_METRIC_EXPORT_INTERVAL": "2500"}).export_interval == 3


def test_resource_attributes_merge_with_keyword_winning() -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "a=1,b=x%2Cy,service.name=envname"}
    s = load_settings({"resource_attributes": {"a": "kw"}}, env=env)
    assert s.resource_attributes == {"a": "kw", "b": "x,y", "service.name": "envname"}
    assert s.service_name == "envname"


def test_headers_parsed_and_kept_secret() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr%3Dt"}
    s = load_settings({}, env=env)
    assert s.otlp_metrics is not None and dict(s.otlp_metrics.headers) == {"api-key": "s3cr=t"}
    assert "s3cr" not in repr(s)


def test_every_bad_setting_is_listed_with_name_and_value() -> None:
    env = {
        "OTELSVC_CARDINALITY_LIMIT": "lots",
        "OTEL_METRIC_EXPORT_INTERVAL": "-5",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
        "OTEL_TRACES_SAMPLER": "sometimes",
    }
    with pytest.raises(ConfigError) as info:
        load_settings({"shutdown_timeout": "soon", "prometheus": "localhost"}, env=env)
    message = str(info.value)
    for needle in (
        "OTELSVC_CARDINALITY_LIMIT='lots'",
        "OTEL_METRIC_EXPORT_INTERVAL='-5'",
        "OTEL_EXPORTER_OTLP_PROTOCOL='carrier-pigeon'",
        "OTEL_TRACES_SAMPLER='sometimes'",
        "shutdown_timeout='soon'",
        "prometheus='localhost'",
    ):
        assert needle in message
    assert isinstance(info.value, ValueError)
    assert len(info.value.problems) >= 6


def test_secrets_are_redacted() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"metrics_token": ""}, env={"OTEL_EXPORTER_OTLP_HEADERS": "broken-no-equals-SECRETVALUE"})
    message = str(info.value)
    assert "metrics_token=<redacted>" in message
    assert "SECRETVALUE" not in message
    assert "OTEL_EXPORTER_OTLP_HEADERS=<redacted>" in message


def test_unknown_keyword_is_an_error() -> None:
    with pytest.raises(ConfigError, match="servce_name"):
        load_settings({"servce_name": "typo"}, env={})


def test_settings_validated_even_when_sdk_disabled() -> None:
    with pytest.raises(ConfigError, match="OTELSVC_SHUTDOWN_TIMEOUT"):
        load_settings({}, env={"OTEL_SDK_DISABLED": "true", "OTELSVC_SHUTDOWN_TIMEOUT": "x"})
