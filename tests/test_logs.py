"""The logs signal: a LoggerProvider beside the other two, the stdlib bridge, OTLP push to a real collector."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import otelsvc
from otelsvc import ConfigError
from tests.conftest import Rotel, wait_until


def _received_logs(text: str) -> list[dict[str, str]]:
    """Each log record rotel printed: body, severity, scope, trace and span ids, attributes as text."""
    records: list[dict[str, str]] = []
    scope = ""
    current: dict[str, str] | None = None
    for raw in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines():
        line = raw.strip()
        if line.startswith("InstrumentationScope "):
            scope = line.split(" ", 1)[1].strip()
            current = None
        elif re.match(r"(Resource|Scope|Span #|Metric #|\d{4}-\d\d-\d\dT)", line):
            current = None  # the record ended: another block (or rotel's own log line) begins
        elif line.startswith("LogRecord #"):
            current = {"scope": scope, "text": ""}
            records.append(current)
        elif current is not None:
            current["text"] += line + "\n"
            for key, field in (
                ("Body:", "body"),
                ("SeverityText:", "severity"),
                ("Trace ID", "trace_id"),
                ("Span ID", "span_id"),
            ):
                if line.startswith(key):
                    current[field] = line.split(":", 1)[1].strip()
    for record in records:
        body = record.get("body", "")
        if body.startswith("Str(") and body.endswith(")"):
            record["body"] = body[4:-1]
    return records


@pytest.fixture
def app_log() -> Iterator[logging.Logger]:
    log = logging.getLogger("app.checkout")
    log.setLevel(logging.INFO)
    yield log
    log.setLevel(logging.NOTSET)


@pytest.mark.rotel
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_logs_reach_the_collector_with_the_span_ids(rotel: Rotel, protocol: str, app_log: logging.Logger) -> None:
    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint=rotel.endpoint(protocol),
        otlp_protocol=protocol,  # type: ignore[arg-type]
        set_global=False,
        runtime_metrics=False,
        service_name="logs-test",
    )
    try:
        with guard.tracer("t").start_as_current_span("place-order") as span:
            try:
                raise KeyError("sku-9")
            except KeyError:
                app_log.exception("order %d failed", 7)
        app_log.info("outside any span")
        logging.getLogger("otelsvc").warning("otelsvc's own line: never exported")
        assert guard.force_flush(timeout=10)
    finally:
        assert guard.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")

    def arrived() -> list[dict[str, str]]:
        got = [r for r in _received_logs(rotel.text()) if r["scope"].startswith("app.checkout")]
        return got if len(got) >= 2 else []

    failed, outside = wait_until(arrived, timeout=20)
    assert failed["body"] == "order 7 failed" and failed["severity"] == "ERROR"
    assert failed["trace_id"] == trace_id and failed["span_id"] == span_id
    assert "exception.type: Str(KeyError)" in failed["text"] and 'raise KeyError("sku-9")' in failed["text"]
    assert outside["body"] == "outside any span" and not outside.get("trace_id", "").strip("0")
    assert "never exported" not in rotel.text()
    # The spans arrived too, and the record's trace id is the span's.
    wait_until(lambda: any(s.get("trace_id") == trace_id for s in rotel.spans()), timeout=20)


def test_own_lines_do_not_feed_the_pipeline_while_the_collector_is_down(app_log: logging.Logger) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint=f"http://127.0.0.1:{port}",
        otlp_protocol="http/protobuf",
        set_global=False,
        runtime_metrics=False,
        shutdown_timeout=2,
    )
    try:
        (logs,) = [p for p in guard.pipelines if p.signal == "logs"]
        app_log.warning("one record of the app")
        for _ in range(3):
            guard.force_flush(timeout=2)
        # Every failed export logged warnings on "otelsvc" and the SDK's loggers; none entered the buffer.
        assert logs.pending() == 1
    finally:
        guard.shutdown()


def test_bridge_off_keeps_the_provider(app_log: logging.Logger) -> None:
    from otelsvc.testing import start_testing

    guard = start_testing(log_bridge=False)
    try:
        app_log.warning("not bridged")
        assert guard.logs() == []
        guard.logger_provider.get_logger("direct").emit(body="through the OTel logs API")
        assert [r.body for r in guard.logs()] == ["through the OTel logs API"]
    finally:
        guard.shutdown()


def test_testing_guard_reads_back_log_records(app_log: logging.Logger) -> None:
    from otelsvc.testing import start_testing

    guard = start_testing()
    try:
        with guard.tracer("t").start_as_current_span("s") as span:
            app_log.error("inside")
        (record,) = guard.logs()
        assert record.body == "inside" and record.severity_text == "ERROR"
        assert record.trace_id == span.get_span_context().trace_id
        assert guard.logs(scope="app.checkout") == [record] and guard.logs(scope="other") == []
        guard.clear_logs()
        assert guard.logs() == []
    finally:
        guard.shutdown()
    assert logging.getLogger().handlers == [h for h in logging.getLogger().handlers if "OTelLogHandler" not in repr(h)]


def test_set_global_sets_the_global_logger_provider() -> None:
    code = textwrap.dedent("""
        import otelsvc
        from opentelemetry._logs import get_logger_provider
        guard = otelsvc.start(prometheus=None, runtime_metrics=False)
        print(get_logger_provider() is guard.logger_provider)
        guard.shutdown()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_console_logs_exporter_prints_records() -> None:
    code = textwrap.dedent("""
        import logging
        import otelsvc
        guard = otelsvc.start(prometheus=None, runtime_metrics=False)
        logging.getLogger("app").warning("to the console")
        guard.shutdown()
    """)
    env = {"OTEL_LOGS_EXPORTER": "console", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert '"body": "to the console"' in out.stdout, out.stdout + out.stderr


def test_unknown_instrumentor_names_its_package() -> None:
    with pytest.raises(ConfigError, match="pip install opentelemetry-instrumentation-nosuchlib"):
        otelsvc.start(prometheus=None, instrument=["nosuchlib"], set_global=False)


def _unused(*_: Any) -> None:
    """Keeps Any imported for the typing of helpers above."""


def test_log_record_limits_take_the_logrecord_variables_first(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otelsvc import _sdk_internals

    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "6")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "2")
    guard = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False, log_bridge=False)
    try:
        sdk = _sdk_internals.logs_sdk()
        exporter = sdk.InMemoryLogRecordExporter()
        guard.logger_provider.add_log_record_processor(sdk.SimpleLogRecordProcessor(exporter))
        attributes = {"a": "long value", "b": "x", "c": "y"}
        with pytest.warns(Warning, match="dropped due to limits"):  # the SDK's own warning
            guard.logger_provider.get_logger("direct").emit(body="limited", attributes=attributes)
        (item,) = exporter.get_finished_logs()
        kept = dict(item.log_record.attributes)
        assert len(kept) == 2  # the log record limit, not the general 3
        assert all(len(v) <= 6 for v in kept.values())  # no log record length limit: the general one applies
    finally:
        guard.shutdown()
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots")
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False, log_bridge=False).shutdown()
    assert "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT" in caplog.text and "ignoring" in caplog.text
