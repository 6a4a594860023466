"""Credentials in endpoint URLs never shown: /metadata, /health, log lines, ConfigError, reprs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request

import pytest
from conftest import free_port, wait_until

import otelsvc
from otelsvc._redact import redact_text, redact_url

SECRETS = ("pw-s3cr3t", "key-s3cr3t", "tok-s3cr3t", "plain-s3cr3t")
ENDPOINT = "http://alice:pw-s3cr3t@127.0.0.1:{port}/?api_key=key-s3cr3t&token=tok-s3cr3t&region=plain-s3cr3t"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@h:4318/x?api_key=k&b=2", "http://<redacted>@h:4318/x?api_key=<redacted>&b=<redacted>"),
        ("https://token@h/", "https://<redacted>@h/"),
        ("https://h/?bare", "https://h/?<redacted>"),
        ("http://127.0.0.1:4317", "http://127.0.0.1:4317"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown
    assert redact_text(f"failed to reach {url} (refused)") == f"failed to reach {shown} (refused)"


def test_redact_text_finds_a_query_without_its_url() -> None:
    assert redact_text("Max retries exceeded with url: /v1/metrics?api_key=k1 (x)") == (
        "Max retries exceeded with url: /v1/metrics?api_key=<redacted> (x)"
    )


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_endpoint_credentials_never_shown(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")  # ms: each failed push ends (and is recorded) quickly
    caplog.set_level(logging.DEBUG)
    endpoint = ENDPOINT.format(port=free_port())  # nothing listens there
    guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint=endpoint, otlp_protocol="http/protobuf",
                          set_global=False, shutdown_timeout=1, export_interval=60)
    try:
        guard.counter("c").bind().add(1)
        assert guard.force_flush(1.0) is False  # nothing listens: the push fails and is logged
        base = guard.prometheus_url.rsplit("/", 1)[0]  # type: ignore[union-attr]
        metadata = urllib.request.urlopen(base + "/metadata", timeout=5).read().decode()
        assert "127.0.0.1" in json.loads(metadata)["exporters"]["metrics"]["endpoint"]

        def health_with_error() -> str | None:
            text: str = urllib.request.urlopen(base + "/health", timeout=5).read().decode()
            return text if json.loads(text)["exporters"]["metrics"]["last_error"] else None

        health = wait_until(health_with_error)
        for text in (metadata, health, repr(guard.settings)):
            _assert_clean(text)
    finally:
        guard.shutdown(1.0)
    # otelsvc's lines and the SDK's, routed or not (urllib3's own DEBUG lines are its business)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("otelsvc", "opentelemetry"))]
    assert any("failed" in line for line in lines), lines
    _assert_clean("\n".join(lines))


def test_exporter_log_lines_are_redacted_without_routing(caplog: pytest.LogCaptureFixture) -> None:
    """An SDK exporter line logged while otelsvc does not route the SDK's logging (no guard, or an
    abandoned export after shutdown) is redacted where it is made."""
    from otelsvc._redact import redact_exporter_logs

    redact_exporter_logs()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("opentelemetry.exporter.otlp.proto.http.metric_exporter").warning(
        "Transient error %s encountered", "Max retries exceeded with url: /v1/metrics?api_key=key-s3cr3t"
    )
    assert "api_key=<redacted>" in caplog.text
    _assert_clean(caplog.text)


def test_config_error_redacts_endpoint_credentials() -> None:
    with pytest.raises(otelsvc.ConfigError) as info:
        otelsvc.start(otlp_endpoint="ftp://alice:pw-s3cr3t@h/?api_key=key-s3cr3t", prometheus=None)
    _assert_clean(str(info.value))
    _assert_clean(repr(info.value.problems))
    assert "otlp_endpoint" in str(info.value)


def test_otelsvc_check_redacts_endpoint_credentials() -> None:
    """``python -m otelsvc check`` as users run it, the endpoint from the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSVC_"))}
    env = {**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT.format(port=free_port()), "OTELSVC_PROMETHEUS": "off",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    proc = subprocess.run([sys.executable, "-m", "otelsvc", "check", "--timeout", "1"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert "otlp metrics: http://<redacted>@127.0.0.1:" in proc.stdout, proc.stdout
    _assert_clean(proc.stdout + proc.stderr)
