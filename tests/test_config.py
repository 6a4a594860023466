"""Settings precedence, the standard OTEL_* forms and the spec's policy for them, and ConfigError contents."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import pytest

import otelsvc
from otelsvc import ConfigError
from otelsvc._config import load_settings, resolve
from otelsvc._config_parsers import NO_LIMIT_SECONDS
from otelsvc._resource import build_resource

OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}


def _warned(env: dict[str, str]) -> tuple[Any, list[str]]:
    resolution = resolve({}, env=env)
    assert resolution.errors == ()
    return resolution.settings, [str(w) for w in resolution.warnings]


def test_defaults() -> None:
    s = load_settings({}, env={})
    assert s.service_name == "unknown_service"
    assert s.prometheus == ("127.0.0.1", 9464)
    assert s.otlp_metrics is None and s.otlp_traces is None and s.otlp_logs is None
    assert s.export_interval == 10.0
    assert s.shutdown_timeout == 5.0
    assert s.cardinality_limit == 2000
    assert s.metrics_token is None
    assert s.set_global is True
    assert s.exemplar_filter == "trace_based"
    assert s.metrics_exporters == s.traces_exporters == s.logs_exporters == ("otlp",)


def test_precedence_keyword_over_otelsvc_over_otel() -> None:
    env = {"OTELSVC_SERVICE_NAME": "from-otelsvc", "OTEL_SERVICE_NAME": "from-otel"}
    assert load_settings({}, env={"OTEL_SERVICE_NAME": "from-otel"}).service_name == "from-otel"
    assert load_settings({}, env=env).service_name == "from-otelsvc"
    assert load_settings({"service_name": "kw"}, env=env).service_name == "kw"
    resolution = resolve({"service_name": "kw"}, env=env)
    assert resolution.sources["service_name"] == "keyword"
    assert resolve({}, env=env).sources["service_name"] == "OTELSVC_SERVICE_NAME"


def test_prometheus_sources() -> None:
    assert load_settings({}, env={"OTELSVC_PROMETHEUS": "off"}).prometheus is None
    assert load_settings({}, env={"OTELSVC_PROMETHEUS": "[::1]:0"}).prometheus == ("::1", 0)
    env = {"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0", "OTEL_EXPORTER_PROMETHEUS_PORT": "9999"}
    assert load_settings({}, env=env).prometheus == ("0.0.0.0", 9999)
    assert load_settings({"prometheus": None}, env={"OTELSVC_PROMETHEUS": "1.2.3.4:5"}).prometheus is None


def test_otlp_endpoints_per_signal_and_http_paths() -> None:
    s = load_settings({"otlp_endpoint": "http://c:4318", "otlp_protocol": "http/protobuf"}, env={})
    assert s.otlp_metrics is not None and s.otlp_traces is not None and s.otlp_logs is not None
    assert s.otlp_metrics.endpoint == "http://c:4318/v1/metrics"
    assert s.otlp_traces.endpoint == "http://c:4318/v1/traces"
    assert s.otlp_logs.endpoint == "http://c:4318/v1/logs"
    s = load_settings({"otlp_endpoint": "https://c/otlp/?api_key=k", "otlp_protocol": "http/protobuf"}, env={})
    assert s.otlp_metrics is not None and s.otlp_metrics.endpoint == "https://c/otlp/v1/metrics?api_key=k"
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
    s = load_settings({}, env={**OTLP, "OTEL_TRACES_EXPORTER": "none"})
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
    s = load_settings({}, env={**OTLP, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr%3Dt"})
    assert s.otlp_metrics is not None and dict(s.otlp_metrics.headers) == {"api-key": "s3cr=t"}
    assert "s3cr" not in repr(s)


def test_strict_sources_are_all_listed_with_name_and_value() -> None:
    env = {"OTELSVC_CARDINALITY_LIMIT": "lots", "OTELSVC_READ_TIMEOUT": "-5"}
    with pytest.raises(ConfigError) as info:
        load_settings({"shutdown_timeout": "soon", "prometheus": "localhost"}, env=env)
    message = str(info.value)
    for needle in (
        "OTELSVC_CARDINALITY_LIMIT='lots'",
        "OTELSVC_READ_TIMEOUT='-5'",
        "shutdown_timeout='soon'",
        "prometheus='localhost'",
    ):
        assert needle in message
    assert isinstance(info.value, ValueError)
    assert len(info.value.problems) == 4


def test_secrets_are_redacted_in_errors_and_warnings() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"metrics_token": "", "otlp_headers": "broken-no-equals-SECRETVALUE"}, env={})
    message = str(info.value)
    assert "metrics_token=<redacted>" in message and "otlp_headers=<redacted>" in message
    assert "SECRETVALUE" not in message
    _, warnings = _warned({**OTLP, "OTEL_EXPORTER_OTLP_HEADERS": "broken-no-equals-SECRETVALUE"})
    assert warnings == [w for w in warnings if "SECRETVALUE" not in w]
    assert any(w.startswith("OTEL_EXPORTER_OTLP_HEADERS=<redacted>") for w in warnings)


def test_unknown_keyword_is_an_error() -> None:
    with pytest.raises(ConfigError, match="servce_name"):
        load_settings({"servce_name": "typo"}, env={})


def test_settings_validated_even_when_sdk_disabled() -> None:
    with pytest.raises(ConfigError, match="OTELSVC_SHUTDOWN_TIMEOUT"):
        load_settings({}, env={"OTEL_SDK_DISABLED": "true", "OTELSVC_SHUTDOWN_TIMEOUT": "x"})


# -- the environment defects of issue 11, one by one ------------------------------------------------


def test_otlp_timeout_is_milliseconds_and_reaches_every_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    from otelsvc._exporters import build_metric_exporter, build_span_exporter

    env = {**OTLP, "OTEL_EXPORTER_OTLP_TIMEOUT": "10000", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500"}
    s = load_settings({}, env=env)
    assert s.otlp_metrics is not None and s.otlp_traces is not None
    assert s.otlp_metrics.timeout == 10.0 and s.otlp_traces.timeout == 2.5
    # The SDK's exporters read these variables themselves, in seconds, unless given a timeout.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "not-a-number")  # crashed the gRPC exporter
    assert build_metric_exporter(s.otlp_metrics, "cumulative")._timeout == 10.0  # type: ignore[attr-defined]
    assert build_span_exporter(s.otlp_traces)._timeout == 2.5  # type: ignore[attr-defined]
    http = resolve({"otlp_protocol": "http/protobuf"}, env=env).settings
    assert http.otlp_metrics is not None and http.otlp_traces is not None
    assert build_metric_exporter(http.otlp_metrics, "cumulative")._client._timeout == 10.0  # type: ignore[attr-defined]
    assert build_span_exporter(http.otlp_traces)._client._timeout == 2.5  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["1", "yes", "on", "enabled"])
def test_spec_booleans_are_true_only_for_true(value: str) -> None:
    s, warnings = _warned({**OTLP, "OTEL_SDK_DISABLED": value, "OTEL_EXPORTER_OTLP_INSECURE": value})
    assert s.sdk_disabled is False
    assert s.otlp_metrics is not None and s.otlp_metrics.insecure is None
    assert sorted(w.split("=")[0] for w in warnings) == ["OTEL_EXPORTER_OTLP_INSECURE", "OTEL_SDK_DISABLED"]
    assert all(f"'{value}'" in w for w in warnings)


def test_spec_booleans_true_and_false_any_case_without_warning() -> None:
    s, warnings = _warned({**OTLP, "OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_INSECURE": "True"})
    assert s.sdk_disabled is True and s.otlp_metrics is not None and s.otlp_metrics.insecure is True
    s, warnings2 = _warned({"OTEL_SDK_DISABLED": "False"})
    assert s.sdk_disabled is False and warnings == warnings2 == []


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("OTEL_PROPAGATORS", "tracecontext,nosuchthing", "propagators"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote", "sampler"),
        ("OTEL_TRACES_SAMPLER_ARG", "half", "sampler_arg"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5", "sampler_arg"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "otlp_metrics"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "otlp_metrics"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "traces_exporters"),
        ("OTEL_METRICS_EXPORTER", "otlp,none", "metrics_exporters"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sideways", "temporality"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,novalue", "resource_attributes"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=%FF", "resource_attributes"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes", "exemplar_filter"),
        ("OTEL_LOGS_EXPORTER", "syslog", "logs_exporters"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "0", "blrp_schedule_delay"),
    ],
)
def test_unsupported_values_warn_once_and_fall_back(variable: str, value: str, field: str) -> None:
    baseline = load_settings({}, env=OTLP)
    s, warnings = _warned({**OTLP, variable: value})
    assert len(warnings) == 1 and warnings[0].startswith(f"{variable}={value!r}:"), warnings
    assert getattr(s, field) == getattr(baseline, field)


@pytest.mark.parametrize(
    "variable",
    ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BLRP_EXPORT_TIMEOUT"],
)
def test_zero_timeout_means_no_limit_and_large_values_are_allowed(variable: str) -> None:
    s, warnings = _warned({**OTLP, variable: "0"})
    timeouts = [
        s.otlp_metrics.timeout if s.otlp_metrics else 0,
        s.export_timeout,
        s.bsp_export_timeout,
        s.blrp_export_timeout,
    ]
    assert warnings == [] and NO_LIMIT_SECONDS in timeouts
    s, warnings = _warned({**OTLP, variable: "86400000"})
    assert warnings == [] and 86400.0 in [
        s.otlp_metrics.timeout if s.otlp_metrics else 0,
        s.export_timeout,
        s.bsp_export_timeout,
        s.blrp_export_timeout,
    ]


def test_percent_encoded_resource_key_gives_exactly_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k%3Dx=1")
    attributes = dict(build_resource(load_settings({})).attributes)
    assert attributes["k=x"] == "1"
    assert [key for key in attributes if key.startswith("k")] == ["k=x"]


def test_a_bad_shared_variable_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    env = {**OTLP, "OTEL_EXPORTER_OTLP_TIMEOUT": "soon", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        s = load_settings({}, env=env)
    lines = [r.getMessage() for r in caplog.records if r.name == "otelsvc"]
    assert len([line for line in lines if "OTEL_EXPORTER_OTLP_TIMEOUT='soon'" in line]) == 1, lines
    assert len([line for line in lines if "OTEL_EXPORTER_OTLP_COMPRESSION='zstd'" in line]) == 1, lines
    assert s.otlp_metrics is not None and s.otlp_metrics.timeout == 10.0


def test_a_bad_per_signal_variable_falls_back_to_the_shared_one() -> None:
    s, warnings = _warned({**OTLP, "OTEL_EXPORTER_OTLP_TIMEOUT": "2000", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"})
    assert s.otlp_traces is not None and s.otlp_traces.timeout == 2.0
    assert len(warnings) == 1 and warnings[0].startswith("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT='-1'")


def test_every_bad_otel_variable_at_once_still_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Platform-set OTEL_* values never stop a service: a real guard starts and shuts down."""
    bad = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "ten",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "x",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "x",
        "OTEL_EXPORTER_OTLP_HEADERS": "SECRETVALUE",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_TRACES_SAMPLER": "xray",
        "OTEL_PROPAGATORS": "nope",
        "OTEL_METRICS_EXEMPLAR_FILTER": "sometimes",
        "OTEL_SDK_DISABLED": "no",
        "OTEL_RESOURCE_ATTRIBUTES": "broken",
        "OTEL_BSP_MAX_QUEUE_SIZE": "-1",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sideways",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "-1",  # raised from the SDK's TracerProvider
        "OTEL_ATTRIBUTE_COUNT_LIMIT": "lots",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        guard = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False, shutdown_timeout=0.5)
        guard.shutdown()
    warned = [r.getMessage() for r in caplog.records if r.name == "otelsvc" and "ignoring" in r.getMessage()]
    assert len(warned) == len(bad) - 1, warned  # the endpoint is valid
    assert "SECRETVALUE" not in caplog.text


CONSOLE = """
import otelsvc
guard = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False)
guard.meter("m").create_counter("console.check.counter").add(3)
with guard.tracer("t").start_as_current_span("console-check-span"):
    pass
print("SHUTDOWN", guard.shutdown(), flush=True)
"""


def test_console_exporters_print_metrics_and_spans_to_stdout() -> None:
    env = {"OTEL_METRICS_EXPORTER": "console", "OTEL_TRACES_EXPORTER": "console", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", CONSOLE], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "console.check.counter" in proc.stdout and "console-check-span" in proc.stdout
    assert "SHUTDOWN True" in proc.stdout
    assert "otelsvc: ignoring" not in proc.stderr


NO_LIMIT = """
import sys, time
import otelsvc
guard = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], otlp_protocol=sys.argv[2], shutdown_timeout=1,
                      export_interval=60, set_global=False, runtime_metrics=False)
assert guard.settings.otlp_metrics.timeout > 86400 and guard.settings.bsp_export_timeout > 86400
guard.meter("m").create_counter("c").add(1)
with guard.tracer("t").start_as_current_span("s"):
    pass
t0 = time.monotonic()
print("RESULT", guard.shutdown(), round(time.monotonic() - t0, 2), flush=True)
"""


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_no_limit_timeouts_never_unbound_shutdown(protocol: str) -> None:
    """OTLP, metric and span export timeouts of 0 (no limit) against a collector that never answers."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        env = {
            "PATH": "/usr/bin:/bin",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "0",
            "OTEL_METRIC_EXPORT_TIMEOUT": "0",
            "OTEL_BSP_EXPORT_TIMEOUT": "0",
        }
        proc = subprocess.run(
            [sys.executable, "-c", NO_LIMIT, f"http://127.0.0.1:{silent.getsockname()[1]}", protocol],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    assert proc.returncode == 0, proc.stderr
    _, ok, took = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT")).split()
    assert ok == "False" and float(took) < 1 + 5, proc.stdout


def test_exporter_modules_see_the_environment_again_after_a_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import opentelemetry.exporter.otlp.proto.grpc.exporter as grpc_module
    import opentelemetry.exporter.otlp.proto.http._common as http_module

    from otelsvc._sdk_env import otlp_variables_hidden

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "k=v")
    with otlp_variables_hidden():
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in vars(grpc_module)["environ"]
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in vars(http_module)["os"].environ
        assert "PATH" in vars(grpc_module)["environ"]
    assert vars(grpc_module)["environ"] is os.environ and vars(http_module)["os"] is os


def test_start_signature_is_typed_for_mypy() -> None:
    """Each keyword of start() has a type: mypy rejects wrong types, unknown keywords and positionals."""
    from pathlib import Path

    fixture = Path(__file__).parent / "typing" / "start_misuse.py"
    marked = {i for i, line in enumerate(fixture.read_text().splitlines(), start=1) if line.endswith("# error")}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(fixture)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    flagged = {int(line.split(":")[1]) for line in proc.stdout.splitlines() if ": error:" in line}
    assert flagged == marked, proc.stdout


def test_span_limits_reach_the_tracer_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "1")
    guard = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False)
    try:
        with guard.tracer("t").start_as_current_span("s") as span:
            span.set_attributes({"b": 2, "c": 3, "a": "long value"})  # the oldest ("b") is dropped
            span.add_event("first", {"x": 1, "y": 2, "z": 3, "w": 4})
            span.add_event("second")
        ended: Any = span
        assert dict(ended.attributes) == {"c": 3, "a": "long"}
        assert [e.name for e in ended.events] == ["second"] and len(ended.events[0].attributes) == 0
    finally:
        guard.shutdown()
