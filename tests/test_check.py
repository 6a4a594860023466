"""``otelsvc check``: effective settings with sources, warnings, the Prometheus bind and an OTLP test export.

Run as the command users run (``python -m otelsvc check``) against a real rotel collector and a
closed port, over gRPC and HTTP/protobuf.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from conftest import free_port


def _check(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSVC_"))}
    env = {"OTELSVC_PROMETHEUS": "127.0.0.1:0", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "otelsvc", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )
    return proc.returncode, proc.stdout, proc.stderr


def _line(out: str, start: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(start))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_all_well_against_a_real_collector(rotel: Any, protocol: str) -> None:
    code, out, err = _check(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint(protocol),
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": "checked",
        }
    )
    assert code == 0, out + err
    assert "answered an empty export" in _line(out, "otlp metrics:")
    assert "answered an empty export" in _line(out, "otlp traces:")
    assert _line(out, "service_name").split()[1:] == ["checked", "OTEL_SERVICE_NAME"]
    assert _line(out, "otlp_metrics.protocol").split()[1:] == [protocol, "OTEL_EXPORTER_OTLP_PROTOCOL"]
    assert _line(out, "cardinality_limit").split()[1:] == ["2000", "default"]
    assert _line(out, "prometheus:").endswith("can be bound")
    assert out.rstrip().endswith("result: ok")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_closed_port_is_an_error_within_the_timeout(protocol: str) -> None:
    code, out, err = _check(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol},
        "--timeout",
        "1",
    )
    assert code == 1, out + err
    for signal in ("metrics", "traces"):  # refused at once, or (on a loaded machine) cut at the bound
        assert any(word in _line(out, f"otlp {signal}:") for word in ("failed after", "no answer within")), out
    assert "result: 2 error(s)" in out


def test_warnings_only_exit_zero_and_are_listed_once() -> None:
    code, out, err = _check(
        {
            "OTEL_SDK_DISABLED": "yes",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "5000",
            "OTEL_TRACES_EXPORTER": "console",
        }
    )
    assert code == 0, out + err
    assert "warnings: 2" in out
    assert out.count("OTEL_EXPORTER_OTLP_TIMEOUT='soon'") == 1 and "OTEL_SDK_DISABLED='yes'" in out
    assert _line(out, "otlp_metrics.timeout").split()[1:] == ["5", "s", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"]
    assert _line(out, "otlp_traces.timeout").split()[1:] == ["10", "s", "default"]
    assert "console traces: printed to stdout" in out and "otlp traces: off (OTEL_TRACES_EXPORTER=console)" in out
    assert "result: ok (2 warning(s))" in out


def test_strict_errors_and_secrets() -> None:
    code, out, err = _check(
        {
            "OTELSVC_CARDINALITY_LIMIT": "lots",
            "OTELSVC_METRICS_TOKEN": "TOPSECRET",
            "OTEL_EXPORTER_OTLP_HEADERS": "broken-SECRETHEADER",
        }
    )
    assert code == 1, out + err
    assert "OTELSVC_CARDINALITY_LIMIT='lots'" in out and "OTEL_EXPORTER_OTLP_HEADERS=<redacted>" in out
    assert _line(out, "metrics_token").split()[1:] == ["<redacted>", "OTELSVC_METRICS_TOKEN"]
    assert "TOPSECRET" not in out + err and "SECRETHEADER" not in out + err


def test_taken_prometheus_address_is_an_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = _check({"OTELSVC_PROMETHEUS": f"127.0.0.1:{port}"})
    assert code == 1, out + err
    assert f"prometheus: 127.0.0.1:{port} cannot be bound" in out


@pytest.mark.parametrize("args", [["--timeout", "-1"], ["--timeout", "soon"], ["--nope"]])
def test_usage_errors_exit_two(args: list[str]) -> None:
    code, _out, err = _check({}, *args)
    assert code == 2 and "usage:" in err
